#!/bin/sh
# testdata/e2e/10-parse.sh: `imgbuild parse` end to end (TAP).
IMGBUILD=${IMGBUILD:-./imgbuild}
C=${IB_CONFORMANCE:-../shared/conformance}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check "dump of parser/json matches result" \
    '"$IMGBUILD" parse "$C/parser/json/Dockerfile" >"$tmp/out" && cmp -s "$tmp/out" "$C/parser/json/result"'
check "stdin works" \
    'printf "FROM a\nRUN b\n" | "$IMGBUILD" parse - >"$tmp/out" && [ "$(cat "$tmp/out")" = "$(printf "(from \"a\")\n(run \"b\")")" ]'
check "--json output is valid JSON" \
    '"$IMGBUILD" parse --json "$C/parser/json/Dockerfile" >"$tmp/j" && python3 -m json.tool "$tmp/j" >/dev/null'
printf 'FROM a\nFRM busybox\n' >"$tmp/Dockerfile"
check "unknown instruction fails with a located message" \
    '! "$IMGBUILD" parse "$tmp/Dockerfile" 2>"$tmp/err" >/dev/null && grep -q "^$tmp/Dockerfile:2:1: unknown instruction: FRM (did you mean FROM?)$" "$tmp/err" && grep -q "^      | ^$" "$tmp/err"'
printf 'FROM a\nRUN a \\\n\n b\n' >"$tmp/warn"
check "empty continuation warning on stderr" \
    '"$IMGBUILD" parse "$tmp/warn" 2>"$tmp/err" >/dev/null && grep -q "Empty continuation line found in: RUN a  b" "$tmp/err"'
fails=0
for f in "$C"/corpus/*.Dockerfile; do
    "$IMGBUILD" parse "$f" >/dev/null 2>&1 || { fails=$((fails + 1)); echo "# fails: $f"; }
done
check "every corpus file parses" '[ "$fails" -eq 0 ]'
echo "1..$n"
