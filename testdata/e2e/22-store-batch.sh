#!/bin/sh
# testdata/e2e/22-store-batch.sh: builds write the store in one write batch (no fsync per
# layer, one sync at the end; store/batch.c).  Counts the syncs of a 50-step build with
# strace; kills builds with SIGKILL at spread-out points, and after each kill the next
# build must succeed and fsck must be clean.  Some of the journals the kills leave are
# made to look as if the machine went down (another boot id), so the next open runs the
# crash recovery for real (blobs re-hashed, recent snapshots and cache entries dropped).
# Needs root, overlayfs, busybox-static, strace and jq.
. testdata/e2e/lib.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and strace jq
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }

ib() { "$IMGBUILD" "$@"; }
journals() { ls "$IMGBUILD_ROOT/batches" 2>/dev/null | grep -c '^batch-'; }

mkdir -p "$T/s50" "$T/many"
{
    echo "FROM busybox:latest"
    i=1
    while [ $i -le 50 ]; do
        echo "RUN echo $i > /f$i"
        i=$((i + 1))
    done
} >"$T/s50/Dockerfile"
# the kill target: RUN steps of a few MiB each (so layer commits take a moment), a COPY
{
    echo "FROM busybox:latest"
    echo "COPY data /data"
    i=1
    while [ $i -le 12 ]; do
        echo "RUN dd if=/dev/urandom of=/r$i bs=64k count=$((i % 4 * 16 + 1)) 2>/dev/null && echo $i > /n$i"
        i=$((i + 1))
    done
} >"$T/many/Dockerfile"
mkdir -p "$T/many/data"
seq 1 20000 >"$T/many/data/numbers"

# ---- one build: syncs only at its end, no journal left --------------------------------
strace -f -e trace=fsync,fdatasync,syncfs,execve -o "$T/strace" \
    "$IMGBUILD" build -q --no-cache -t s50:1 "$T/s50" >"$T/s50.out" 2>&1
t "50-step build succeeds under strace" test $? -eq 0
syncs=$(grep -cE '^[0-9]+ +(fsync|fdatasync|syncfs)\(' "$T/strace")
last_run=$(grep -nE '^[0-9]+ +execve\("/bin/sh"' "$T/strace" | tail -1 | cut -d: -f1)
during=$(head -n "${last_run:-0}" "$T/strace" | grep -cE '^[0-9]+ +(fsync|fdatasync|syncfs)\(')
note "fsync + fdatasync + syncfs calls of a cold 50-step build: $syncs, $during of them before its last step ran"
# the journal (file + dir) when the first step commits; each blob and the dirs at the end
# (their writeback started together, so one journal commit covers most); before batches:
# 306, all between the steps
t "a 50-step build syncs nothing between its steps but its journal" test "$during" -le 3
t "a 50-step build syncs each file it wrote at most once" test "$syncs" -le 60
strace -f -c -e trace=fsync,fdatasync,syncfs -o "$T/strace2" \
    "$IMGBUILD" build -q -t s50:2 "$T/s50" >"$T/s50.out" 2>&1
warm=$(awk '$NF ~ /^(fsync|fdatasync|syncfs)$/ { n += $4 } END { print n + 0 }' "$T/strace2")
note "the same, warm (every step cached): $warm"
# journal (2), the config and manifest it relies on (+ their dir), index.json (file + dir)
t "a warm rebuild syncs at most 8 times" test "$warm" -le 8
t "no journal left after the build" test "$(journals)" -eq 0
t "fsck clean after the build" ib fsck
t "the image has its 51 layers" test "$(ib inspect s50:1 | jq '.[0].RootFS.Layers | length')" -eq 51

# ---- SIGKILL at spread-out points -------------------------------------------------------
runs=${KILL_RUNS:-20}
t "the kill target builds" ib build -q -t many:base "$T/many"
ms() { echo $(($(date +%s%N) / 1000000)); }
a=$(ms)
"$IMGBUILD" build -q --no-cache -t many:timed "$T/many" >/dev/null 2>&1
took=$(($(ms) - a))
note "a cold build of the kill target takes $took ms: the kills land at 3..97% of that"
i=0 bad_build=0 bad_fsck=0 left=0 crashed=0
while [ $i -lt "$runs" ]; do
    i=$((i + 1))
    "$IMGBUILD" build -q --no-cache -t many:k$i "$T/many" >/dev/null 2>&1 &
    pid=$!
    sleep "$(awk -v i="$i" -v t="$took" 'BEGIN { printf "%.3f", t * (3 + (i * 53) % 95) / 100000 }')"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    n=$(journals)
    left=$((left + n))
    if [ $((i % 2)) -eq 0 ] && [ "$n" -gt 0 ]; then
        # as if the machine had gone down: the journal (and the volatile records of the
        # builds that finished before) are from another boot
        for j in "$IMGBUILD_ROOT"/batches/batch-* "$IMGBUILD_ROOT"/batches/volatile-*; do
            [ -f "$j" ] && sed -i 's/^boot .*/boot 00000000-dead-boot-0000-000000000000/' "$j"
        done
        crashed=$((crashed + 1))
    fi
    if ! "$IMGBUILD" build -q -t many:after$i "$T/many" >"$T/after.out" 2>&1; then
        bad_build=$((bad_build + 1))
        note "build after kill $i failed:"
        sed 's/^/#   /' "$T/after.out" | tail -5
    fi
    if ! "$IMGBUILD" fsck >"$T/fsck" 2>&1; then
        bad_fsck=$((bad_fsck + 1))
        sed 's/^/#   /' "$T/fsck" | head -5
    fi
    [ "$(journals)" -eq 0 ] || { bad_fsck=$((bad_fsck + 1)); note "journal left after kill $i"; }
done
note "kills: $runs, journals left by them: $left, of which $crashed made to look like a crash"
t "kill -9 during build x$runs: every next build succeeds" test $bad_build -eq 0
t "kill -9 during build x$runs: fsck always clean, no journal left" test $bad_fsck -eq 0
t "most kills hit an open batch" test $left -ge $((runs / 2))
t "the crash recovery ran" test $crashed -ge 1
t "no stale temp files after the kills" sh -c "test -z \"\$(ls -A '$IMGBUILD_ROOT/tmp')\" && ! ls '$IMGBUILD_ROOT.snapshots' | grep -q '^tmp-'"
t "the last image has all its layers" test "$(ib inspect many:after$runs | jq '.[0].RootFS.Layers | length')" -eq 14

# ---- two builds in parallel (a batch each) and a prune meanwhile -----------------------
mkdir -p "$T/par1" "$T/par2"
sed 's/echo \([0-9]*\) >/echo p1-\1 >/' "$T/s50/Dockerfile" | head -21 >"$T/par1/Dockerfile"
sed 's/echo \([0-9]*\) >/echo p2-\1 >/' "$T/s50/Dockerfile" | head -21 >"$T/par2/Dockerfile"
"$IMGBUILD" build -q -t par:1 "$T/par1" >"$T/par1.out" 2>&1 &
p1=$!
"$IMGBUILD" build -q -t par:2 "$T/par2" >"$T/par2.out" 2>&1 &
p2=$!
sleep 0.3
"$IMGBUILD" prune >"$T/prune.out" 2>&1 &
p3=$!
r1=0 r2=0 r3=0
wait $p1 || r1=$?
wait $p2 || r2=$?
wait $p3 || r3=$?
t "two parallel builds and a prune all succeed" test "$r1$r2$r3" = 000
t "both images are complete" sh -c "test \$('$IMGBUILD' inspect par:1 | jq '.[0].RootFS.Layers | length') -eq 21 && test \$('$IMGBUILD' inspect par:2 | jq '.[0].RootFS.Layers | length') -eq 21"
t "no journal left after them" test "$(journals)" -eq 0
t "fsck clean after them" ib fsck

# ---- a cached layer whose snapshot is gone (as the crash recovery leaves it) ----------
mkdir -p "$T/snap"
printf 'FROM busybox:latest\nRUN echo 1 > /a\nRUN echo 2 > /b\n' >"$T/snap/Dockerfile"
ib build -q -t snap:1 "$T/snap" >/dev/null 2>&1
# remove the snapshots of both RUN layers (moved upper dirs); keep the base image's (a
# one-layer image: its ChainID is its diffID)
keep=$(ib inspect busybox:latest | jq -r '.[0].RootFS.Layers[0]' | cut -c8-19)
for s in "$IMGBUILD_ROOT.snapshots"/*; do
    case ${s##*/} in "$keep" | "$keep.chain") ;; *) rm -rf "$s" ;; esac
done
printf 'RUN cat /a /b > /c\n' >>"$T/snap/Dockerfile"
"$IMGBUILD" build --progress plain -t snap:2 "$T/snap" >"$T/snap.log" 2>&1
t "a build over cached layers whose snapshots are gone succeeds" test $? -eq 0
t "...with those steps cached (the snapshots were made again from the blobs)" test "$(grep -c ' CACHED$' "$T/snap.log")" -eq 2

# ---- a reboot after a finished build: its snapshots were never synced -----------------
mkdir -p "$T/vol"
printf 'FROM busybox:latest\nRUN echo v1 > /v1\nRUN echo v2 > /v2\n' >"$T/vol/Dockerfile"
ib build -q -t vol:1 "$T/vol" >/dev/null 2>&1
volatile() { ls "$IMGBUILD_ROOT/batches" 2>/dev/null | grep -c '^volatile-'; }
snapshots() { ls "$IMGBUILD_ROOT.snapshots" | grep -vc -e '\.chain$' -e '^tmp-'; }
t "a build that made snapshots ends with a volatile record, not a journal" \
    test "$(volatile)" -ge 1 -a "$(journals)" -eq 0
before=$(snapshots)
for j in "$IMGBUILD_ROOT"/batches/volatile-*; do
    sed -i 's/^boot .*/boot 00000000-dead-boot-0000-000000000000/' "$j"
done
t "after a reboot, the next open (fsck) succeeds" ib fsck
after=$(snapshots)
note "snapshots before and after the first open after the 'reboot': $before, $after"
t "...drops the volatile records" test "$(volatile)" -eq 0
t "...and the snapshots they cover" test "$after" -lt "$before"
printf 'RUN cat /v1 /v2 > /v && grep -qx v1 /v && grep -qx v2 /v\n' >>"$T/vol/Dockerfile"
"$IMGBUILD" build --progress plain -t vol:2 "$T/vol" >"$T/vol.log" 2>&1
t "the rebuild succeeds and reads the layers' files" test $? -eq 0
t "...with the old steps cached (snapshots made again from the blobs)" \
    test "$(grep -c ' CACHED$' "$T/vol.log")" -eq 2
t "fsck clean after it" ib fsck

# ---- a failing build still ends its batch ---------------------------------------------
mkdir -p "$T/fail"
printf 'FROM busybox:latest\nRUN echo ok > /ok\nRUN exit 3\n' >"$T/fail/Dockerfile"
t_fail "a failing build fails" ib build -q "$T/fail"
t "no journal left after a failed build" test "$(journals)" -eq 0
"$IMGBUILD" build --progress plain "$T/fail" >"$T/fail.log" 2>&1
t "after it, its first RUN is cached (its batch was synced, not dropped)" grep -q '^#2 CACHED$' "$T/fail.log"
t "fsck clean at the end" ib fsck
done_testing
