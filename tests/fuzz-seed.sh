#!/bin/sh
# Collect fuzzer seeds from the conformance data and our own golden files.
set -eu
out=$1
conf=${IB_CONFORMANCE:-../shared/conformance}
if [ ! -d "$conf" ]; then
    echo "fuzz-seed: conformance data missing at $conf" >&2
    exit 1
fi
mkdir -p "$out"
n=0
for f in "$conf"/parser/*/Dockerfile "$conf"/parser-*/*/Dockerfile "$conf"/corpus/*.Dockerfile \
         "$conf"/dockerignore/readall/*.dockerignore testdata/parser/*.Dockerfile; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    cp "$f" "$out/seed-$n"
done
echo "fuzz-seed: $n seeds in $out"
