FROM a
RUN <<EOF <<-"EOT" cat
line1
EOF
	line2
	EOT
COPY <<EOF /x
$HOME
EOF
RUN ["<<EOF"]
