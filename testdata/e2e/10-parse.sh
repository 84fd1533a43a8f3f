#!/bin/sh
# End-to-end tests of `imgbuild parse`: exit statuses, error format, stdin, JSON.
. testdata/e2e/lib.sh

ib() { "$IMGBUILD" "$@"; }

t "parse the bundled example" ib parse Dockerfiles/hello/Dockerfile
t "parse --json is valid JSON" sh -c "'$IMGBUILD' parse --json Dockerfiles/hello/Dockerfile | jq -e '.instructions | length > 5'"
t "parse reads stdin with -" sh -c "printf 'FROM busybox\nRUN true\n' | '$IMGBUILD' parse - | grep -qx '(run \"true\")'"
t "parse --help exits 0" ib parse --help
t "help parse exits 0" ib help parse

status() { "$@" >"$T/o" 2>"$T/e"; echo $?; }
t "usage error exits 2 (no file)" test "$(status ib parse)" -eq 2
t "usage error exits 2 (bad option)" test "$(status ib parse --bogus x)" -eq 2
t "unknown command exits 2" test "$(status ib frobnicate)" -eq 2
t "missing file exits 1" test "$(status ib parse "$T/nope")" -eq 1
t "missing file names the file" grep -q "$T/nope" "$T/e"

printf 'FROM busybox\n\nFRM busybox\n' > "$T/Dockerfile"
t "bad Dockerfile exits 1" test "$(status ib parse "$T/Dockerfile")" -eq 1
t "error starts with FILE:LINE:COL" grep -q "^$T/Dockerfile:3:1: " "$T/e"
t "unknown instruction suggests FROM" grep -qi "did you mean FROM" "$T/e"
t "error shows the offending line" grep -q "FRM busybox" "$T/e"
t "error text is exact" grep -qx "$T/Dockerfile:3:1: unknown instruction: FRM (did you mean FROM?)" "$T/e"
t "error has a caret line" grep -q '^ *| *\^' "$T/e"

printf 'FROM busybox\nRUN <<EOF\necho never ends\n' > "$T/heredoc"
t_fail "unterminated heredoc fails" sh -c "'$IMGBUILD' parse '$T/heredoc' 2>'$T/herr'"
t "unterminated heredoc is explained" grep -q "heredoc:2:1: unterminated heredoc EOF" "$T/herr"

printf 'FROM busybox\nRUN a \\\n\n  b\n' > "$T/warn"
t "empty continuation parses" ib parse "$T/warn"
t "empty continuation warning names the instruction" sh -c "'$IMGBUILD' parse '$T/warn' 2>&1 >/dev/null | grep -q 'Empty continuation line found in: RUN a   b'"
t "empty continuation warns with a line number" sh -c "'$IMGBUILD' parse '$T/warn' 2>&1 >/dev/null | grep -q 'warning: Empty continuation line'"

n=0 bad=0
for f in "$IB_CONFORMANCE"/corpus/*.Dockerfile; do
    n=$((n + 1))
    "$IMGBUILD" parse "$f" >/dev/null 2>&1 || { bad=$((bad + 1)); note "failed: $f"; }
done
note "corpus via the CLI: $((n - bad)) of $n parse"
t "every corpus Dockerfile parses through the CLI ($n files)" test "$bad" -eq 0 -a "$n" -eq 132

n=0 bad=0
for d in "$IB_CONFORMANCE"/parser/*/; do
    n=$((n + 1))
    "$IMGBUILD" parse --dump "$d/Dockerfile" 2>/dev/null | cmp -s - "$d/result" || { bad=$((bad + 1)); note "differs: $d"; }
done
t "parser/ dumps through the CLI are byte-identical ($n cases)" test "$bad" -eq 0 -a "$n" -eq 33

done_testing
