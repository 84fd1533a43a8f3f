#!/bin/sh
# testdata/e2e/38-add-git-ssh.sh: ADD <git ref> over ssh against a real ssh server on loopback:
# dropbear (Debian's dropbear-bin: binaries only, no service) in a mount namespace of its own
# where /root is a temp dir holding the test's authorized_keys, so the host's ~/.ssh is never
# touched.  The build authenticates with the agent of `--ssh default=KEYFILE` (an ssh-agent
# imgbuild starts) or `--ssh default` (the environment's agent), and checks the server's key
# against IMGBUILD_GIT_KNOWN_HOSTS.  Checks the tree with umoci, the server's log (which key
# logged in), the cache, and the errors: a key the server refuses, no key, an unknown host key.
# Needs root, git, umoci, jq, dropbear-bin, openssh-client and util-linux's unshare.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/testdata/e2e/lib.sh"
. "$here/testdata/registry/helpers.sh" # PY, pids, free_port, wait_port
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    [ -n "${SSH_AGENT_PID:-}" ] && kill "$SSH_AGENT_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and git umoci jq dropbear dropbearkey ssh ssh-keygen ssh-agent ssh-add unshare "$PY"
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }
unset SSH_AUTH_SOCK SSH_AGENT_PID

# ---- a repository, keys, the server ------------------------------------------------------
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home" GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com \
    GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
mkdir -p "$HOME" "$T/srv" "$T/fakeroot/.ssh"
W="$T/work"
git init -q -b main "$W"
echo "over ssh" >"$W/a.txt"
mkdir -p "$W/docs" && echo readme >"$W/docs/readme"
git -C "$W" add -A
GIT_AUTHOR_DATE="@1700000000 +0000" GIT_COMMITTER_DATE="@1700000000 +0000" git -C "$W" commit -qm c1
git clone -q --bare "$W" "$T/srv/repo.git"

dropbearkey -t ed25519 -f "$T/hostkey" >/dev/null 2>&1
dropbearkey -t ed25519 -f "$T/otherhost" >/dev/null 2>&1
ssh-keygen -q -t ed25519 -N '' -C good -f "$T/id"
ssh-keygen -q -t ed25519 -N '' -C refused -f "$T/id2"
cp "$T/id.pub" "$T/fakeroot/.ssh/authorized_keys"
chmod 700 "$T/fakeroot/.ssh" && chmod 600 "$T/fakeroot/.ssh/authorized_keys"
GOODFP=$(ssh-keygen -l -f "$T/id.pub" | cut -d' ' -f2)
SP=$(free_port)
hostline() { dropbearkey -y -f "$1" | grep '^ssh-' | cut -d' ' -f1-2; }
echo "[127.0.0.1]:$SP $(hostline "$T/hostkey")" >"$T/known_hosts"
echo "[127.0.0.1]:$SP $(hostline "$T/otherhost")" >"$T/wrong_hosts"
# /root (the home dropbear reads authorized_keys from) is the temp dir, in this namespace only
unshare -m sh -c "mount --bind '$T/fakeroot' /root && exec dropbear -F -E -s -p 127.0.0.1:$SP -r '$T/hostkey' -P '$T/dropbear.pid'" \
    2>"$T/dropbear.log" &
pids="$pids $!"
t "dropbear listens on loopback" wait_port "$SP"
t "the host's /root/.ssh is not the server's" test ! -e /root/.ssh/authorized_keys -o "$(cat /root/.ssh/authorized_keys 2>/dev/null)" != "$(cat "$T/id.pub")"
logins() { grep -c "Pubkey auth succeeded for 'root' with ssh-ed25519 key $GOODFP" "$T/dropbear.log"; }

U="ssh://root@127.0.0.1:$SP$T/srv/repo.git"
C="$T/ctx"
mkdir -p "$C"
printf 'FROM busybox\nADD %s#main /src\nADD %s#main:docs /docs\n' "$U" "$U" >"$C/Dockerfile"
export IMGBUILD_GIT_KNOWN_HOSTS="$T/known_hosts"

# ---- --ssh default=KEYFILE: an agent of imgbuild's own ----------------------------------
build key -t viassh --ssh "default=$T/id" "$C"
t "ADD over ssh with --ssh default=KEYFILE succeeds" test "$(rc key)" -eq 0
[ "$(rc key)" -eq 0 ] || sed 's/^/#   /' "$T/key.log" | tail -8
unpack docker.io/library/viassh:latest key
R="$T/u-key/rootfs"
t "...the tree is the commit's" eval "[ \"\$(cat $R/src/a.txt)\" = 'over ssh' ] && [ -f $R/src/docs/readme ] && [ ! -e $R/src/.git ]"
t "...#ref:subdir over ssh" eval "[ -f $R/docs/readme ] && [ ! -e $R/docs/a.txt ]"
t "...mtimes are the commit time" test "$(stat -c %Y "$R/src/a.txt")" = 1700000000
t "...the server saw the key of --ssh (from the agent)" test "$(logins)" -ge 2
t "...the agent imgbuild started is gone" sh -c "! pgrep -f 'ssh-agent -D -a .*imgbuild-ss[h]' >/dev/null"
before=$(logins)
build again -t viassh --ssh "default=$T/id" "$C"
t "rebuild: both steps cached" eval "[ $(rc again) -eq 0 ] && [ \$(cached again) -eq 2 ]"
t "rebuild: the refs were resolved over ssh (ls-remote)" test "$(logins)" -gt "$before"

# ---- --ssh default: the environment's agent ----------------------------------------------
eval "$(ssh-agent -s)" >/dev/null
ssh-add -q "$T/id" 2>/dev/null
build envagent --no-cache -t viassh2 --ssh default "$C"
t "--ssh default (SSH_AUTH_SOCK's agent) works too" test "$(rc envagent)" -eq 0
before=$(logins)
env -u SSH_AUTH_SOCK "$IMGBUILD" build --progress plain --no-cache --ssh "default=$SSH_AUTH_SOCK" \
    -t viassh3 "$C" >/dev/null 2>"$T/sock.log"
t "--ssh default=SOCKET works, with SSH_AUTH_SOCK unset" test $? -eq 0
t "...and logged in with the agent's key" test "$(logins)" -gt "$before"
kill "$SSH_AGENT_PID" 2>/dev/null
unset SSH_AUTH_SOCK SSH_AGENT_PID

# ---- errors -----------------------------------------------------------------------------------
build refused --no-cache -t failed:1 --ssh "default=$T/id2" "$C"
t_fail "a key the server refuses: the build fails" test "$(rc refused)" -eq 0
t "...exit status 1" test "$(rc refused)" -eq 1
t "...the error names the repository and says the agent's keys were refused" eval "grep -q \"git repository 'ssh://root@127.0.0.1:$SP\" $T/refused.log && grep -q 'refused every key of the --ssh default agent' $T/refused.log"
build nokey --no-cache -t failed:1 "$C"
t "no --ssh and no SSH_AUTH_SOCK: fails, saying how to give a key" eval "[ $(rc nokey) -eq 1 ] && grep -q 'give one with --ssh default=KEYFILE' $T/nokey.log"
IMGBUILD_GIT_KNOWN_HOSTS="$T/wrong_hosts" build wronghost --no-cache -t failed:1 --ssh "default=$T/id" "$C"
t "a host key not in IMGBUILD_GIT_KNOWN_HOSTS: fails, and says so" eval "[ $(rc wronghost) -eq 1 ] && grep -q 'host key is not in IMGBUILD_GIT_KNOWN_HOSTS' $T/wronghost.log"
env -u IMGBUILD_GIT_KNOWN_HOSTS "$IMGBUILD" build --progress plain --no-cache -t failed:1 \
    --ssh "default=$T/id" "$C" >/dev/null 2>"$T/unknown.log"
urc=$?
t "without IMGBUILD_GIT_KNOWN_HOSTS an unknown host fails (BatchMode), saying what to do" eval "[ $urc -eq 1 ] && grep -q 'Host key verification failed. (ssh: the server.s host key is not known: add it to ~/.ssh/known_hosts, or set IMGBUILD_GIT_KNOWN_HOSTS' $T/unknown.log"
CP=$(free_port)
printf 'FROM busybox\nADD ssh://root@127.0.0.1:%s/repo.git /x\n' "$CP" >"$T/closed.Dockerfile"
build closed --no-cache -f "$T/closed.Dockerfile" --ssh "default=$T/id" "$C"
t "nothing listening: ssh's own reason, not git's last line" eval "[ $(rc closed) -eq 1 ] && grep -q 'git ls-remote: ssh: connect to host 127.0.0.1 port $CP: Connection refused' $T/closed.log"
IMGBUILD_GIT_KNOWN_HOSTS="$T/missing" build nofile --no-cache -t failed:1 --ssh "default=$T/id" "$C"
t "IMGBUILD_GIT_KNOWN_HOSTS naming no file: a clear error" eval "[ $(rc nofile) -ne 0 ] && grep -q \"IMGBUILD_GIT_KNOWN_HOSTS '$T/missing': not a readable file\" $T/nofile.log"
t "the failed builds left no tag and an empty tmp dir" eval "! $IMGBUILD inspect failed:1 >/dev/null 2>&1 && [ -z \"\$(ls -A $IMGBUILD_ROOT/tmp)\" ]"
t "fsck clean" "$IMGBUILD" fsck
done_testing
