FROM a
RUN <<EOF
abc
