#!/bin/sh
# Run test programs that speak TAP (C unit tests and testdata/e2e/*.sh scripts),
# show their output, and end with the line "N passed, N failed[, N skipped]".
# A program that exits non-zero without a failing TAP line counts as one failure.
passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
    echo "== $t"
    start=$(date +%s)
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -E '^ok [0-9]+' "$log" | grep -vc '# SKIP')
    s=$(grep -Ec '^ok [0-9]+.*# SKIP' "$log")
    f=$(grep -Ec '^not ok [0-9]+' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $t exited with status $rc"
        f=1
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    echo "-- $t: $p passed, $f failed, $s skipped ($(( $(date +%s) - start )) s)"
done
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
