#!/bin/sh
# bench/sandbox.sh [RUNS]: per-step overhead of the RUN sandbox.
#
# Compares, interleaved in one run (these machines are noisy: only the ratios mean
# something), the median time of
#   A  imgbuild run-step ... -- /bin/true    (cgroup, clone into 5 namespaces, overlay
#                                             mount, /dev /proc /sys, caps, seccomp, exec,
#                                             teardown, stub cleanup, cgroup removal)
#   B  unshare --pid --fork --mount --uts --ipc --net true    (the floor the issue names)
#   C  imgbuild version                      (imgbuild's own process start-up, for reference)
# and prints the ratio A/B (target <= 2) and the sandbox's own wall time from the
# run-step result line (clone to teardown, without process start-up and the cgroup).
# Needs root, busybox-static and a built ./imgbuild (or $IMGBUILD).
set -eu
runs=${1:-50}
IMGBUILD=${IMGBUILD:-$(pwd)/imgbuild}
T=$(mktemp -d "${TMPDIR:-/tmp}/ibbench.XXXXXX")
trap 'rm -rf "$T"' EXIT
testdata/make-busybox-rootfs.sh "$T/base" >/dev/null
mkdir -p "$T/up" "$T/wk"

now_us() { echo $(($(date +%s%N) / 1000)); }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: >"$T/a"; : >"$T/b"; : >"$T/c"; : >"$T/w"
i=0
while [ "$i" -lt "$runs" ]; do
    t0=$(now_us)
    "$IMGBUILD" run-step --lower "$T/base" --upper "$T/up" --work "$T/wk" -- /bin/true 2>"$T/err"
    t1=$(now_us)
    unshare --pid --fork --mount --uts --ipc --net true
    t2=$(now_us)
    "$IMGBUILD" version >/dev/null
    t3=$(now_us)
    echo $((t1 - t0)) >>"$T/a"
    echo $((t2 - t1)) >>"$T/b"
    echo $((t3 - t2)) >>"$T/c"
    sed -n 's/.*wall \([0-9.]*\) ms.*/\1/p' "$T/err" >>"$T/w"
    i=$((i + 1))
done
a=$(median <"$T/a")
b=$(median <"$T/b")
c=$(median <"$T/c")
w=$(median <"$T/w")
test -z "$(find "$T/up" -mindepth 1)" || { echo "bench: the upper dir is not empty" >&2; exit 1; }
echo "runs: $runs (medians, one interleaved run)"
echo "A imgbuild run-step -- /bin/true:                 $a us"
echo "B unshare --pid --fork --mount --uts --ipc --net: $b us"
echo "C imgbuild version (process start-up):           $c us"
echo "sandbox wall (clone..teardown, from run-step):    $w ms"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
    printf "ratio A/B: %.2fx (target <= 2x)\n", a / b
    printf "ratio (A-C)/B, without imgbuild start-up: %.2fx\n", (a - c) / b }'
