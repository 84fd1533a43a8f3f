#!/bin/sh
# End-to-end tests of RUN --mount (bind, cache, tmpfs, secret), RUN --network and
# RUN --security: what the command sees, what the layers keep (umoci unpack), the cache
# keys, and the errors (type=ssh and --security=insecure: 37-ssh-insecure.sh).  Needs root,
# overlayfs, busybox-static, umoci and jq.
. testdata/e2e/lib.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and umoci jq
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }

ib() { "$IMGBUILD" "$@"; }
# layer_files REF: every path of every layer of REF (tar listings)
layer_files() {
    jq -r '.layers[].digest' "$IMGBUILD_ROOT/blobs/sha256/$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"$1\") | .digest" "$IMGBUILD_ROOT/index.json" | cut -d: -f2)" |
        while read -r l; do tar -tf "$IMGBUILD_ROOT/blobs/sha256/${l#sha256:}"; done
}

# ---- bind from the context ---------------------------------------------------------------
C="$T/ctx"
mkdir -p "$C/sub"
echo hello >"$C/a.txt"
echo s >"$C/sub/s.txt"
echo nope >"$C/ign.txt"
echo ign.txt >"$C/.dockerignore"
cat >"$C/Dockerfile" <<'D'
FROM busybox
RUN --mount=target=/ctx cat /ctx/a.txt && ls /ctx >/ls.txt && ! touch /ctx/x 2>/dev/null
RUN --mount=target=/ctx,rw touch /ctx/x && echo rw-ok
RUN --mount=type=bind,source=sub,target=/s,readonly cat /s/s.txt >/s.txt
D
build b1 -t bind:1 "$C"
t "bind from the context builds" test "$(rc b1)" -eq 0
t "the command reads the context" grep -q '^#[0-9]* hello$' "$T/b1.log"
t "a read-only bind refuses writes (the RUN checks it)" eval "unpack docker.io/library/bind:1 b1 && [ -f $T/u-b1/rootfs/ls.txt ]"
t ".dockerignore applies to the mounted context" eval "! grep -q ign.txt $T/u-b1/rootfs/ls.txt && grep -q a.txt $T/u-b1/rootfs/ls.txt"
t "rw: writes work in the step" grep -q 'rw-ok' "$T/b1.log"
t "rw: writes do not reach the context" test ! -e "$C/x"
t "source= picks a subdir" eval "[ \"\$(cat $T/u-b1/rootfs/s.txt)\" = s ]"
t "no mount point is left in the image (/ctx, /s)" eval "! layer_files docker.io/library/bind:1 | grep -Eq '^(\\./)?(ctx|s)/?\$'"
build b2 -t bind:1 "$C"
t "an unchanged context: all cached" eval "[ \$(cached b2) -eq 3 ]"
echo hello2 >"$C/a.txt"
build b3 -t bind:1 "$C"
t "changed context content misses the cache of the binds" eval "[ \$(cached b3) -eq 0 ] && grep -q '^#[0-9]* hello2$' $T/b3.log"
echo changed >"$C/ign.txt"
build b4 -t bind:1 "$C"
t "an ignored file does not change the key" eval "[ \$(cached b4) -eq 3 ]"

# ---- bind from another stage ----------------------------------------------------------
S="$T/stage"
mkdir -p "$S"
cat >"$S/Dockerfile" <<'D'
FROM busybox AS tools
RUN mkdir -p /opt/tool && echo from-stage >/opt/tool/data
FROM busybox
RUN --mount=from=tools,source=/opt/tool,target=/t cat /t/data >/got && ! touch /t/w 2>/dev/null
D
build s1 -t stage:1 "$S"
t "bind from another stage" eval "[ \$(rc s1) -eq 0 ] && unpack docker.io/library/stage:1 s1 && [ \"\$(cat $T/u-s1/rootfs/got)\" = from-stage ]"
t "the stage's files are not in the final image" test ! -e "$T/u-s1/rootfs/opt/tool"

# ---- cache mounts ----------------------------------------------------------------------
K="$T/cache"
mkdir -p "$K"
cat >"$K/Dockerfile" <<'D'
FROM busybox
ARG N=1
RUN --mount=type=cache,target=/root/.cache echo "run $N" >>/root/.cache/log && cat /root/.cache/log >/seen
RUN --mount=type=cache,id=shared,target=/var/cache/x,sharing=locked,mode=0700,uid=1000 stat -c '%a %u' /var/cache/x >/mode
D
build k1 -t cache:1 "$K"
build k2 -t cache:2 --build-arg N=2 "$K"
t "a cache mount persists across builds" eval "unpack docker.io/library/cache:2 k2 && [ \"\$(cat $T/u-k2/rootfs/seen)\" = \"\$(printf 'run 1\\nrun 2')\" ]"
t "cache mount mode and uid" eval "[ \"\$(cat $T/u-k2/rootfs/mode)\" = '700 1000' ]"
t "the cache mount is not in the layer" eval "[ ! -e $T/u-k2/rootfs/root/.cache ] && ! layer_files docker.io/library/cache:2 | grep -q 'cache'"
t "the cache dir lives in the store" eval "ls $IMGBUILD_ROOT/cache/mounts/*/data/log"
build k3 -t cache:1 "$K"
t "cache mounts do not change the key" eval "[ \$(cached k3) -eq 2 ]"
ib prune >/dev/null 2>&1
t "prune keeps cache mounts" eval "ls $IMGBUILD_ROOT/cache/mounts/*/data/log"

# ---- tmpfs -------------------------------------------------------------------------------
M="$T/tmpfs"
mkdir -p "$M"
cat >"$M/Dockerfile" <<'D'
FROM busybox
RUN --mount=type=tmpfs,target=/scratch,size=1m df /scratch | tail -1 >/df && echo x >/scratch/file
D
build m1 -t tmpfs:1 "$M"
t "tmpfs mount with its size" eval "[ \$(rc m1) -eq 0 ] && unpack docker.io/library/tmpfs:1 m1 && grep -q ' 1024 ' $T/u-m1/rootfs/df"
t "tmpfs contents are not in the image" test ! -e "$T/u-m1/rootfs/scratch"

# ---- secrets -----------------------------------------------------------------------------
X="$T/secret"
mkdir -p "$X"
printf 'fileSECRETvalue1' >"$T/secret.txt"
cat >"$X/Dockerfile" <<'D'
FROM busybox
RUN --mount=type=secret,id=tok cat /run/secrets/tok >/dev/null && stat -c '%a' /run/secrets/tok >/mode && test "$(wc -c </run/secrets/tok)" -eq 16 && echo secret-ok
RUN --mount=type=secret,id=api,env=API_KEY test "${#API_KEY}" -eq 15 && echo env-ok
RUN --mount=type=secret,id=absent,target=/s/absent test ! -e /s/absent && echo optional-ok
D
API=envSECRETvalue2 build x1 -t secret:1 --secret id=tok,src="$T/secret.txt" --secret id=api,env=API "$X"
t "secret from a file (mode 0400)" eval "[ \$(rc x1) -eq 0 ] && grep -q secret-ok $T/x1.log && unpack docker.io/library/secret:1 x1 && [ \"\$(cat $T/u-x1/rootfs/mode)\" = 400 ]"
t "secret from an env var, as env=" grep -q env-ok "$T/x1.log"
t "an optional secret that is missing is not mounted" grep -q optional-ok "$T/x1.log"
ib save secret:1 >"$T/secret.tar"
t "secrets are not in the saved image" eval "! grep -aq -e fileSECRETvalue1 -e envSECRETvalue2 $T/secret.tar"
t "secrets are not in the history" eval "! ib inspect secret:1 | grep -q -e fileSECRET -e envSECRET"
t "secrets are not in the store" eval "! grep -raq -e fileSECRETvalue1 -e envSECRETvalue2 $IMGBUILD_ROOT"
t "no /run/secrets left in the image" test ! -e "$T/u-x1/rootfs/run"
cat >"$X/Dockerfile.req" <<'D'
FROM busybox
RUN --mount=type=secret,id=needed,required true
D
build x2 -f "$X/Dockerfile.req" "$X"
t "a required secret that is missing: clear error with FILE:LINE" eval "[ \$(rc x2) -ne 0 ] && grep -q 'Dockerfile.req:2: .*secret .needed. is required' $T/x2.log"

# ---- network, security, ssh, bad specs --------------------------------------------------
N="$T/net"
mkdir -p "$N"
cat >"$N/Dockerfile" <<'D'
FROM busybox
RUN --network=none ip -o link | grep -v ' lo:' | wc -l >/ifs-none
RUN --network=host ip -o link | wc -l >/ifs-host
RUN --security=sandbox true
D
build n1 -t net:1 "$N"
t "RUN --network=none has only loopback" eval "[ \$(rc n1) -eq 0 ] && unpack docker.io/library/net:1 n1 && [ \$(cat $T/u-n1/rootfs/ifs-none) -eq 0 ]"
t "RUN --network=host sees the host's interfaces" eval "[ \$(cat $T/u-n1/rootfs/ifs-host) -eq \$(ip -o link | wc -l) ]"
bad() { # NAME LINE: a one-RUN Dockerfile that must fail, log in $T/NAME.log
    mkdir -p "$T/bad-$1"
    printf 'FROM busybox\n%s\n' "$2" >"$T/bad-$1/Dockerfile"
    build "$1" "$T/bad-$1"
    [ "$(rc "$1")" -ne 0 ]
}
t "RUN --security=insecure needs an entitlement" eval "bad ins 'RUN --security=insecure true' && grep -q 'Dockerfile:2: .*security.insecure' $T/ins.log"
t "a required type=ssh without --ssh is refused clearly" eval "bad ssh 'RUN --mount=type=ssh,required=true true' && grep -q 'Dockerfile:2:1: RUN --mount=type=ssh: no SSH agent' $T/ssh.log"
t "an unknown mount key is refused" eval "bad key 'RUN --mount=type=cache,target=/x,bogus=1 true' && grep -q \"'bogus' is not a known key\" $T/key.log"
t "target is required" eval "bad tgt 'RUN --mount=type=tmpfs true' && grep -q \"'target' is required\" $T/tgt.log"

# ---- corpus-style Dockerfiles ------------------------------------------------------------
P="$T/corpus"
mkdir -p "$P"
echo 'print("hi")' >"$P/app.py"
cat >"$P/Dockerfile" <<'D'
FROM busybox AS build
WORKDIR /src
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=app.py,target=app.py \
    mkdir -p /root/.cache/pip/wheels && cp app.py /src/built.py
FROM busybox
COPY --from=build /src/built.py /app/
RUN --mount=type=cache,target=/var/cache/apk,sharing=locked --mount=type=tmpfs,target=/tmp \
    echo pkg >/var/cache/apk/index && ls /app
D
build p1 -t corpus:1 "$P"
t "corpus-style cache + bind (relative target under WORKDIR)" eval "[ \$(rc p1) -eq 0 ] && unpack docker.io/library/corpus:1 p1 && grep -q hi $T/u-p1/rootfs/app/built.py"
t "no cache or bind mount point in the final image" eval "[ ! -e $T/u-p1/rootfs/var/cache/apk ] && [ ! -e $T/u-p1/rootfs/root/.cache ]"
t "the bound file is not in the layers" eval "! layer_files docker.io/library/corpus:1 | grep -q 'src/app.py'"

done_testing
