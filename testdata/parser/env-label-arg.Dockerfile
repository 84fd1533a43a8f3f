FROM a
ENV A b c "d"
ENV A=1 B="2 3" C=\ 4
LABEL "x y"=z
ARG a=1 b c="d e"
