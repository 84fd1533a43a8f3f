#!/bin/sh
# End-to-end tests of the RUN sandbox through `imgbuild run-step`: isolation, limits,
# process lifetime, signals and exit codes, overlay layers and the upper dir afterwards.
# Real kernel features: needs root, overlayfs, cgroups (v1 or v2) and busybox-static.
. testdata/e2e/lib.sh
# LSan cannot follow processes into new PID namespaces (bubblewrap does the same)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

PROBE=$(pwd)/${BUILD:-build}/testdata/tools/probe
if [ "$(id -u)" -ne 0 ] || [ ! -x "$PROBE" ]; then
    echo "not ok 1 - the sandbox tests need root and $PROBE (make test-bins)"
    exit 1
fi
testdata/make-busybox-rootfs.sh "$T/base" >/dev/null
cp "$PROBE" "$T/base/probe"
# this run's own cgroup parent and scratch space, so that the leftover checks at the end
# are not confused by another test run on the same machine
CGP="imgbuild-e2e-$$"
mkdir -p "$T/tmp"
export TMPDIR="$T/tmp"
cgroup_dirs() { find /sys/fs/cgroup -maxdepth 6 -type d -name "$CGP" 2>/dev/null; }

n=0
# fresh upper/work dirs: step NAME -> $T/NAME.up, $T/NAME.wk
fresh() { rm -rf "$T/$1.up" "$T/$1.wk"; mkdir -p "$T/$1.up" "$T/$1.wk"; }
# rs NAME [OPTIONS] -- CMD...: run-step over the busybox base; output in $T/NAME.out/.err
rs() {
    name=$1
    shift
    fresh "$name"
    "$IMGBUILD" run-step --cgroup-parent "$CGP" --lower "$T/base" --upper "$T/$name.up" --work "$T/$name.wk" "$@" \
        >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
}
has() { grep -qx -- "$2" "$T/$1.out"; }
upper_list() { (cd "$T/$1.up" && find . -mindepth 1 | sort | tr '\n' ' '); }

# ---- isolation --------------------------------------------------------------
rs iso -- /probe
t "run-step runs the probe (exit 0)" test "$(rc iso)" -eq 0
t "result line on stderr" grep -q '^run-step: exit status 0, cpu .* ms, peak memory .* MiB' "$T/iso.err"
t "the command runs under an init (pid 2, parent 1)" has iso "pid=2"
t "host processes are invisible" has iso "procs.count=2"
t "default hostname" has iso "hostname=imgbuild"
t "only the sandbox's mounts are visible" sh -c "! grep -q '^mount=/work' '$T/iso.out' && ! grep -q '^mount=/sys/fs/cgroup' '$T/iso.out'"
t "host devices are invisible (/dev is the minimal set)" sh -c "grep '^dev=' '$T/iso.out' | sort | tr '\n' ' ' | grep -qx 'dev=fd dev=full dev=mqueue dev=null dev=ptmx dev=pts dev=random dev=shm dev=stderr dev=stdin dev=stdout dev=tty dev=urandom dev=zero '"
t "default capability set (effective)" has iso "status.CapEff=00000000a80425fb"
t "default capability set (bounding)" has iso "status.CapBnd=00000000a80425fb"
t "default capability set (inheritable, permitted)" sh -c "grep -qx 'status.CapInh=00000000a80425fb' '$T/iso.out' && grep -qx 'status.CapPrm=00000000a80425fb' '$T/iso.out'"
t "no_new_privs is set" has iso "status.NoNewPrivs=1"
t "seccomp filter is on" has iso "status.Seccomp=2"
t "blocked syscall keyctl fails with EPERM" has iso "syscall.keyctl=EPERM"
t "blocked syscall perf_event_open fails with EPERM" has iso "syscall.perf_event_open=EPERM"
t "mount inside the step fails with EPERM" has iso "syscall.mount=EPERM"
t "cgroup namespace: the step's cgroup is the root" has iso "cgroup=0::/"
t "HOME and PATH defaults" sh -c "grep -qx 'env=HOME=/root' '$T/iso.out' && grep -qx 'env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' '$T/iso.out'"
t "host network by default" sh -c "grep -c '^netdev=' '$T/iso.out' | grep -qv '^1$'"

rs none --network none --hostname box1 -- /probe
t "--network none shows only lo" sh -c "test \"\$(grep '^netdev=' '$T/none.out')\" = netdev=lo"
t "--network none: lo is up" has none "lo.flags=0x9"
t "--hostname sets the hostname" has none "hostname=box1"

rs etc -- /bin/sh -c 'echo 10.0.0.1 extra >> /etc/hosts && echo other > /etc/hostname && echo nameserver 9.9.9.9 > /etc/resolv.conf && grep -q extra /etc/hosts && grep -q "localhost imgbuild" /etc/hosts'
t "/etc/hosts, hostname, resolv.conf are writable per step" test "$(rc etc)" -eq 0
t "writes to /etc/hosts etc. do not reach the upper dir" test -z "$(upper_list etc)"

rs user --user app --env FOO=bar --workdir /w/x -- /probe
t "--user app: uid and gid from the image's passwd" sh -c "grep -qx uid=1000 '$T/user.out' && grep -qx gid=1000 '$T/user.out'"
t "--user app: supplementary groups from the image's group file" sh -c "grep -qx group=10 '$T/user.out' && grep -qx group=50 '$T/user.out'"
t "--user app: no effective capabilities, default bounding set" sh -c "grep -qx status.CapEff=0000000000000000 '$T/user.out' && grep -qx status.CapBnd=00000000a80425fb '$T/user.out'"
t "--user app: HOME from passwd" has user "env=HOME=/home/app"
t "--env passes variables" has user "env=FOO=bar"
t "--workdir is created and entered" has user "cwd=/w/x"
t "--workdir is owned by the user" test "$(stat -c %u:%g "$T/user.up/w/x")" = 1000:1000
rs ug --user app:staff -- /probe
t "--user name:group" sh -c "grep -qx uid=1000 '$T/ug.out' && grep -qx gid=50 '$T/ug.out'"
rs uid --user 4242:4343 -- /probe
t "--user uid:gid not in passwd" sh -c "grep -qx uid=4242 '$T/uid.out' && grep -qx gid=4343 '$T/uid.out'"
rs nouser --user nosuchuser -- /probe
t "unknown user fails with status 1" test "$(rc nouser)" -eq 1
t "unknown user is explained" grep -q "unable to find user 'nosuchuser'" "$T/nouser.err"
rs noexec -- /no/such/program
t "missing program fails with a clear error" sh -c "test \"\$(cat '$T/noexec.rc')\" -eq 1 && grep -q \"exec '/no/such/program'\" '$T/noexec.err'"
rs nopath -- nosuchprogram
t "program not in PATH is explained" grep -q 'executable file not found in \$PATH' "$T/nopath.err"

# ---- exit codes, signals, leftovers --------------------------------------------
rs exit42 -- /bin/sh -c 'exit 42'
t "exit codes pass through" test "$(rc exit42)" -eq 42
t "exit status in the result line" grep -q '^run-step: exit status 42' "$T/exit42.err"
rs sig -- /bin/sh -c 'kill -TERM $$'
t "a step killed by a signal reports it" grep -q '^run-step: killed by signal 15' "$T/sig.err"
t "killed by signal N exits 128+N" test "$(rc sig)" -eq 143
rs daemon -- /bin/sh -c '/probe daemon 4711 && setsid sleep 4712 & sleep 4713 >/dev/null 2>&1 & exit 0'
t "a step leaving daemons behind ends" test "$(rc daemon)" -eq 0
t "nothing of the step is left running" sh -c "! pgrep -f 'sleep 471[23]' >/dev/null && ! pgrep -f 'probe daemon 471[1]' >/dev/null"

# ---- limits -------------------------------------------------------------------
rs oom --memory 64m -- /probe alloc 300
t "300 MiB under --memory 64m is killed" test "$(rc oom)" -eq 137
t "... and reported as out of memory with the limit" grep -q '^run-step: killed: out of memory, limit 64 MiB' "$T/oom.err"
rs mem_ok --memory 64m -- /probe alloc 16
t "16 MiB under --memory 64m succeeds" test "$(rc mem_ok)" -eq 0
t "peak memory is reported" sh -c "grep -Eq 'peak memory (1[6-9]|[2-6][0-9])\.[0-9] MiB' '$T/mem_ok.err'"
rs pids --pids-limit 50 -- /probe forks 200
t "--pids-limit 50: 200 forks run into the limit" sh -c "test \$(sed -n 's/^forked=//p' '$T/pids.out') -lt 50 && test \$(sed -n 's/^fork_failed=//p' '$T/pids.out') -gt 150"
t "--pids-limit: fork fails with EAGAIN" grep -qx 'fork_errno=Resource temporarily unavailable' "$T/pids.out"
t "the host can still fork afterwards" sh -c 'for i in 1 2 3 4 5; do /bin/true || exit 1; done'
t "no children of the step are left" sh -c "! pgrep -f '/probe fork[s]' >/dev/null"
rs sh200 --pids-limit 50 -- /bin/sh -c 'i=0; while [ $i -lt 200 ]; do sleep 6061 & i=$((i+1)); done 2>/dev/null; exit 0'
t "200 background sleeps under --pids-limit 50 (shell) end and leave nothing" sh -c "test \"\$(cat '$T/sh200.rc')\" -ne 255 && ! pgrep -fx 'sleep 6061' >/dev/null"
rs cpufree -- /probe spin 150
rs cpuslow --cpus 0.1 -- /probe spin 150
free_ms=$(sed -n 's/^spin_ms=//p' "$T/cpufree.out")
slow_ms=$(sed -n 's/^spin_ms=//p' "$T/cpuslow.out")
note "busy loop: ${free_ms} ms unlimited, ${slow_ms} ms with --cpus 0.1"
t "--cpus 0.1 slows a busy loop at least 3x (ratio in one run)" awk -v a="$free_ms" -v b="$slow_ms" 'BEGIN { exit !(a > 0 && b / a >= 3) }'
rs ulimit --ulimit nofile=64:128 -- /bin/sh -c 'test "$(ulimit -n)" = 64'
t "--ulimit nofile=64:128" test "$(rc ulimit)" -eq 0

# ---- overlay --------------------------------------------------------------------
rs change -- /bin/sh -c 'echo hi > /newfile'
t "the upper dir holds exactly the change (one new file)" test "$(upper_list change)" = "./newfile "
rs change2 -- /bin/sh -c 'rm /etc/shadow && mkdir /newdir && echo x > /newdir/f'
t "deletion is a whiteout in the upper dir" test "$(stat -c %F:%t:%T "$T/change2.up/etc/shadow")" = "character special file:0:0"
t "no mount-point stubs in the upper dir" test "$(upper_list change2)" = "./etc ./etc/shadow ./newdir ./newdir/f "

# a scratch-like image: only the static probe; /proc /dev /sys /etc are stubs
mkdir -p "$T/scratch"
cp "$PROBE" "$T/scratch/probe"
fresh sc
"$IMGBUILD" run-step --cgroup-parent "$CGP" --lower "$T/scratch" --upper "$T/sc.up" --work "$T/sc.wk" -- /probe write /made-here yes >"$T/sc.out" 2>&1
t "an image without /proc /dev /sys /etc runs" test $? -eq 0
t "... and its upper dir holds only the change" test "$(upper_list sc)" = "./made-here "

# whiteouts and opaque dirs in lower layers hide files
mkdir -p "$T/wh/etc" "$T/wh/home"
mknod "$T/wh/etc/passwd" c 0 0
setfattr -n trusted.overlay.opaque -v y "$T/wh/home"
echo new >"$T/wh/home/newer"
fresh wh
"$IMGBUILD" run-step --cgroup-parent "$CGP" --lower "$T/wh" --lower "$T/base" --upper "$T/wh.up" --work "$T/wh.wk" -- /bin/sh -c 'test ! -e /etc/passwd && test ! -e /home/app && test -f /home/newer && test -f /etc/group' >"$T/wh.out" 2>&1
t "a whiteout in a lower layer hides the file below" test $? -eq 0

# 120 lower layers with long paths (past the one-page mount option limit)
L="$T/many-layers-with-a-deliberately-long-directory-name-to-overflow-mount-options"
lowers=""
i=0
while [ $i -lt 120 ]; do
    d=$(printf '%s/layer-%03d' "$L" $i)
    mkdir -p "$d/layers"
    echo $i >"$d/layers/f$i"
    echo $i >"$d/layers/top"
    lowers="--lower $d $lowers" # the last made is the topmost
    i=$((i + 1))
done
# shellcheck disable=SC2086
many() {
    fresh many
    "$IMGBUILD" run-step --cgroup-parent "$CGP" "$@" $lowers --lower "$T/base" --upper "$T/many.up" --work "$T/many.wk" \
        -- /bin/sh -c 'ls /layers | wc -l; cat /layers/top' >"$T/many.out" 2>"$T/many.err"
}
many
t "121 lower layers mount (fsconfig lowerdir+)" test "$(tr '\n' ' ' <"$T/many.out")" = "121 119 "
many --legacy-mount
t "121 lower layers mount (mount(2) fallback, fd paths)" test "$(tr '\n' ' ' <"$T/many.out")" = "121 119 "

# ---- run-step over an image in the store ----------------------------------------------
testdata/make-busybox-rootfs.sh "$T/img" "$T/img.tar" >/dev/null
export IMGBUILD_ROOT="$T/store"
t "import the busybox image" "$IMGBUILD" import "$T/img.tar" rs-busybox:1
t "run-step --image runs over the image's snapshots" sh -c "'$IMGBUILD' run-step --cgroup-parent '$CGP' --image rs-busybox:1 -- /bin/sh -c 'test -x /bin/busybox && echo from-image' 2>/dev/null | grep -qx from-image"
t "run-step --image with a given upper dir keeps the change" sh -c "mkdir -p '$T/ri.up' '$T/ri.wk' && '$IMGBUILD' run-step --cgroup-parent '$CGP' --image rs-busybox:1 --upper '$T/ri.up' --work '$T/ri.wk' -- /bin/sh -c 'echo x > /made' 2>/dev/null && test -f '$T/ri.up/made'"
t "run-step --image leaves no temporary dirs in the store" sh -c "test -z \"\$(ls -A '$T/store/tmp')\""
t_fail "run-step --image of a missing image fails" "$IMGBUILD" run-step --cgroup-parent "$CGP" --image nope:1 -- /bin/true
t "the missing image is named" grep -q "nope" "$LAST_OUT"
t "under a real-time policy (chrt -f) a step runs, as SCHED_OTHER" sh -c "chrt -f 10 '$IMGBUILD' run-step --cgroup-parent '$CGP' --image rs-busybox:1 -- /bin/sh -c 'grep ^policy /proc/self/sched' 2>/dev/null | grep -q ': *0\$'"
unset IMGBUILD_ROOT

# ---- nothing left behind ------------------------------------------------------------
t "no sandbox mounts are left" sh -c "! grep -q 'imgbuild-step\|$T' /proc/self/mountinfo"
cgdirs=$(cgroup_dirs)
left=""
[ -z "$cgdirs" ] || left=$(find $cgdirs -mindepth 1 -type d -name 'step-*' 2>/dev/null)
t "the steps used this run's cgroup parent" test -n "$cgdirs"
t "no step cgroups are left" test -z "$left"
t "no scratch dirs are left" sh -c "! ls -d '$T/tmp'/imgbuild-step-* 2>/dev/null | grep -q ."
for d in $(cgroup_dirs); do rmdir "$d" 2>/dev/null; done
done_testing
