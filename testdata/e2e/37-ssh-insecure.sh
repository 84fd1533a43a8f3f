#!/bin/sh
# End-to-end tests of RUN --mount=type=ssh with build --ssh, and of RUN --security=insecure
# with build --allow security.insecure.  A real ssh-agent holds a key made by ssh-keygen;
# inside the steps the static probe (testdata/tools/probe.c, copied into the image from the
# context) asks $SSH_AUTH_SOCK for its identities.  Checks what the steps see, what the
# layers keep (umoci unpack, tar listings), the cache keys and the errors.  Needs root,
# overlayfs, busybox-static, umoci, jq and openssh-client (ssh-agent, ssh-add, ssh-keygen).
. testdata/e2e/lib.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and umoci jq ssh-agent ssh-add ssh-keygen
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }
PROBE=$(pwd)/${BUILD:-build}/testdata/tools/probe
[ -x "$PROBE" ] || { echo "not ok 1 - $PROBE missing (make test-bins)"; exit 1; }

agents=""
cleanup() {
    for p in $agents; do kill "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
# start_agent SOCKET: an ssh-agent listening there; its pid in $AGENT_PID
start_agent() {
    eval "$(ssh-agent -s -a "$1")" >/dev/null || return 1
    AGENT_PID=$SSH_AGENT_PID
    agents="$agents $AGENT_PID"
}
layer_files() { # REF: every path of every layer of REF
    jq -r '.layers[].digest' "$IMGBUILD_ROOT/blobs/sha256/$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"$1\") | .digest" "$IMGBUILD_ROOT/index.json" | cut -d: -f2)" |
        while read -r l; do tar -tf "$IMGBUILD_ROOT/blobs/sha256/${l#sha256:}"; done
}

# ---- RUN --mount=type=ssh ------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C e2e-key-agent -f "$T/k1"
ssh-keygen -q -t ed25519 -N '' -C e2e-key-file -f "$T/k2"
ssh-keygen -q -t ed25519 -N 'secret phrase' -C e2e-key-locked -f "$T/k3"
start_agent "$T/agent1.sock" && SSH_AUTH_SOCK="$T/agent1.sock" ssh-add -q "$T/k1"
t "a real ssh-agent holds the generated key" sh -c "SSH_AUTH_SOCK='$T/agent1.sock' ssh-add -l | grep -q e2e-key-agent"
t "the probe reads the agent's identities on the host" sh -c "SSH_AUTH_SOCK='$T/agent1.sock' '$PROBE' agent | grep -qx 'agent.keys=1'"

S="$T/ssh"
mkdir -p "$S" "$T/tmpd"
cp "$PROBE" "$S/probe"
cat >"$S/Dockerfile" <<'D'
FROM busybox
COPY probe /probe
RUN --mount=type=ssh /probe agent >/agent.out && echo "$SSH_AUTH_SOCK" >/sock.env && test -S /run/buildkit/ssh_agent.0 && stat -c '%a %u %g' /run/buildkit/ssh_agent.0 >/sock.mode
RUN --network=none --mount=type=ssh,id=deploy,target=/tmp/deploy.sock,mode=0660,uid=1000,gid=1001,required=true --mount=type=ssh \
    /probe agent >/deploy.out && stat -c '%a %u %g' /tmp/deploy.sock >/deploy.mode && echo "$SSH_AUTH_SOCK" >/deploy.env && SSH_AUTH_SOCK=/run/buildkit/ssh_agent.1 /probe agent >/second.out
RUN --mount=type=ssh,id=absent test ! -e /run/buildkit/ssh_agent.0 && echo "$SSH_AUTH_SOCK" >/absent.env
USER 1000
RUN --mount=type=ssh,uid=1000 /probe agent >/tmp/user.out
D
SSH_AUTH_SOCK="$T/agent1.sock" TMPDIR="$T/tmpd" build s1 -t ssh:1 --ssh default --ssh deploy="$T/k2" "$S"
t "build with --ssh default and --ssh deploy=KEYFILE" test "$(rc s1)" -eq 0
unpack docker.io/library/ssh:1 s1
R=$T/u-s1/rootfs
t "the agent is reachable in the step: one key, the generated one" eval "grep -qx 'agent.keys=1' $R/agent.out && grep -qx 'agent.comment=e2e-key-agent' $R/agent.out"
t "the default target is /run/buildkit/ssh_agent.0 and SSH_AUTH_SOCK names it" grep -qx /run/buildkit/ssh_agent.0 "$R/sock.env"
t "the socket is mode 0600, owned by 0:0 (BuildKit's defaults)" grep -qx '600 0 0' "$R/sock.mode"
t "key files: served by an ssh-agent of the build (its key, not the agent's)" eval "grep -qx 'agent.keys=1' $R/deploy.out && grep -qx 'agent.comment=e2e-key-file' $R/deploy.out"
t "target, mode, uid and gid of the mount" grep -qx '660 1000 1001' "$R/deploy.mode"
t "SSH_AUTH_SOCK names the first ssh mount" grep -qx /tmp/deploy.sock "$R/deploy.env"
t "a second mount gets /run/buildkit/ssh_agent.1 (and works with --network=none)" grep -qx 'agent.comment=e2e-key-agent' "$R/second.out"
t "an optional mount whose id --ssh did not give is skipped (SSH_AUTH_SOCK still set)" grep -qx /run/buildkit/ssh_agent.0 "$R/absent.env"
t "a non-root USER reaches a socket given its uid" grep -qx 'agent.keys=1' "$R/tmp/user.out"
t "no socket and no mount point is left in the image" eval "[ ! -e $R/run ] && [ ! -e $R/tmp/deploy.sock ]"
t "... nor in any layer" eval "! layer_files docker.io/library/ssh:1 | grep -Eq '^(\\./)?(run|run/buildkit|run/buildkit/ssh_agent\\.[0-9]|tmp/deploy\\.sock)/?\$'"
t "the build's own ssh-agent is gone and its dir removed" eval "[ -z \"\$(ls -A $T/tmpd)\" ] && ! pgrep -f '$T/tmpd' >/dev/null"
t "the agent's socket path is in nothing the store keeps" eval "! grep -rqa 'agent1.sock' $IMGBUILD_ROOT"

start_agent "$T/agent2.sock" && SSH_AUTH_SOCK="$T/agent2.sock" ssh-add -q "$T/k1"
SSH_AUTH_SOCK="$T/agent2.sock" build s2 -t ssh:2 --ssh default --ssh deploy="$T/k2" "$S"
t "another agent socket path: every step cached (the path is not in the key)" eval "[ \$(rc s2) -eq 0 ] && [ \$(cached s2) -eq 5 ]"
SSH_AUTH_SOCK="$T/agent2.sock" build s3 -t ssh:3 --ssh default "$S"
t "a required mount without its --ssh fails" test "$(rc s3)" -ne 0
t "... with FILE:LINE:COL, the id and the flag to give" grep -q "Dockerfile:4:1: RUN --mount=type=ssh: no SSH agent or key for id 'deploy', which is required (imgbuild build --ssh deploy" "$T/s3.log"
cat >"$S/Dockerfile.opt" <<'D'
FROM busybox
COPY probe /probe
RUN --mount=type=ssh /probe agent >/agent.out || echo no-agent >/agent.out
D
SSH_AUTH_SOCK="$T/agent2.sock" build o1 -t opt:1 --ssh default -f "$S/Dockerfile.opt" "$S"
env -u SSH_AUTH_SOCK "$IMGBUILD" build --progress plain -t opt:2 -f "$S/Dockerfile.opt" "$S" >/dev/null 2>"$T/o2.log"
t "an agent that is given and one that is not are different keys" eval "[ \$(rc o1) -eq 0 ] && ! grep -q '^#3 CACHED' $T/o2.log && unpack docker.io/library/opt:2 o2 && grep -qx no-agent $T/u-o2/rootfs/agent.out"
t_fail "--ssh default without SSH_AUTH_SOCK is an error" env -u SSH_AUTH_SOCK "$IMGBUILD" build -q --ssh default -f "$S/Dockerfile.opt" "$S"
t "... saying so" grep -q 'SSH_AUTH_SOCK is not set' "$LAST_OUT"
t_fail "a passphrase-protected key file is refused" "$IMGBUILD" build -q --ssh default="$T/k3" -f "$S/Dockerfile.opt" "$S"
t "... with a clear message" grep -q "key '$T/k3' is passphrase-protected" "$LAST_OUT"
t_fail "a missing key file is an error" "$IMGBUILD" build -q --ssh default="$T/nokey" -f "$S/Dockerfile.opt" "$S"
t_fail "the same --ssh id twice is an error" "$IMGBUILD" build -q --ssh a="$T/k1" --ssh a="$T/k2" -f "$S/Dockerfile.opt" "$S"

# ---- RUN --security=insecure ---------------------------------------------------------------
I="$T/insecure"
mkdir -p "$I"
cat >"$I/Dockerfile" <<'D'
FROM busybox
RUN --security=insecure grep CapEff /proc/self/status >/capeff && grep 'Seccomp:' /proc/self/status >/seccomp && \
    mkdir -p /mnt && mount -t tmpfs none /mnt && grep -q ' /mnt ' /proc/self/mountinfo && echo mounted >/mounted && \
    grep ' /sys ' /proc/self/mountinfo >/sys.mnt && grep -c ' /proc/' /proc/self/mountinfo >/proc.mnts; \
    echo $$ >/pid && cat /proc/self/cgroup >/cgroup
RUN grep CapEff /proc/self/status >/capeff.default && (mkdir -p /mnt2 && mount -t tmpfs none /mnt2 2>/dev/null && echo mounted || echo denied) >/mount.default
D
build i0 -t insecure:0 "$I"
t "RUN --security=insecure without --allow fails" test "$(rc i0)" -ne 0
t "... naming the line and the entitlement to grant" grep -q "Dockerfile:2: RUN --security=insecure needs the entitlement 'security.insecure' (imgbuild build --allow security.insecure)" "$T/i0.log"
build i1 -t insecure:1 --allow security.insecure "$I"
t "with --allow security.insecure it builds" test "$(rc i1)" -eq 0
unpack docker.io/library/insecure:1 i1
R=$T/u-i1/rootfs
hostcaps=$(grep CapEff /proc/self/status | cut -f2)
note "host CapEff $hostcaps (cap_last_cap $(cat /proc/sys/kernel/cap_last_cap)); insecure step: $(cut -f2 "$R/capeff")"
t "the insecure step has every capability: CapEff as the root running imgbuild (all ones up to cap_last_cap, bar any the host withholds)" test "$(cut -f2 "$R/capeff")" = "$hostcaps"
t "no seccomp filter" grep -q 'Seccomp:[[:space:]]*0' "$R/seccomp"
t "mount -t tmpfs succeeds" grep -qx mounted "$R/mounted"
t "/sys is writable" grep -q ' /sys rw,' "$R/sys.mnt"
t "no masked or read-only /proc paths (only /proc itself)" grep -qx 0 "$R/proc.mnts"
t "still in a PID namespace" test "$(cat "$R/pid")" -lt 10
t "still in a cgroup namespace (its cgroup is /)" eval "! grep -qv ':/\$' $R/cgroup"
t "a default step keeps the default capabilities" test "$(cut -f2 "$R/capeff.default")" = 00000000a80425fb
t "... and mount fails there as before" grep -qx denied "$R/mount.default"
printf 'FROM busybox\nRUN --security=insecure echo same >/same\n' >"$I/Dockerfile.k"
printf 'FROM busybox\nRUN echo same >/same\n' >"$I/Dockerfile.k2"
build k1 --allow security.insecure -f "$I/Dockerfile.k" "$I"
build k2 -f "$I/Dockerfile.k2" "$I"
t "an insecure step and a sandboxed one do not share a cache key" eval "[ \$(rc k1) -eq 0 ] && [ \$(rc k2) -eq 0 ] && [ \$(cached k2) -eq 0 ]"
build k3 --allow security.insecure -f "$I/Dockerfile.k" "$I"
t "the insecure step is cached on a rebuild" eval "[ \$(cached k3) -eq 1 ]"
t_fail "--allow with an unknown entitlement is a usage error" "$IMGBUILD" build --allow bogus "$I"

done_testing
