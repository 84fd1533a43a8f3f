FROM a
ONBUILD RUN <<EOF
echo hi
EOF
onbuild add ["x", "y"]
onbuild copy . /
