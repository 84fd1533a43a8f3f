#!/bin/sh
# End-to-end tests of named build contexts (`build --build-context NAME=VALUE`): COPY --from,
# RUN --mount from= and FROM of a named directory (its own .dockerignore, no symlink followed
# out of it), a named context replacing a stage or an image of the same name, docker-image://
# of an image in the store, the cache (a rebuild all CACHED, a change missing exactly the
# steps that read it) and the usage errors.  Needs root, overlayfs, busybox-static, umoci, jq.
. testdata/e2e/lib.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and umoci jq
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }

ib() { "$IMGBUILD" "$@"; }
R() { echo "$T/u-$1/rootfs"; }

# ---- a named directory: COPY --from, RUN --mount from=, its .dockerignore -----------------
M="$T/main"
N="$T/nd"
mkdir -p "$M" "$N/sub"
echo a1 >"$N/a.txt"
echo b1 >"$N/sub/b.txt"
echo s1 >"$N/secret.txt"
ln -s /etc/hostname "$N/link"
printf 'secret.txt\n' >"$N/.dockerignore"
(cd "$N" && tar cf arch.tar sub)
echo main >"$M/main.txt"
cat >"$M/Dockerfile" <<'EOF'
FROM busybox
RUN echo first >/first
COPY --from=extra sub/b.txt /b.txt
COPY --from=extra / /extra/
COPY main.txt /main.txt
RUN --mount=from=extra,target=/mnt cat /mnt/a.txt >/fromrun.txt && ls -A /mnt >/mntls.txt
RUN --mount=from=extra,source=sub,target=/s cat /s/b.txt >/fromsub.txt
EOF
# a relative directory, from the current directory
(cd "$T" && build d1 -t bctx:1 --build-context extra=nd main)
t "COPY --from a named directory (relative path) builds" test "$(rc d1)" -eq 0
unpack docker.io/library/bctx:1 d1
t "COPY --from=NAME copies the directory's files" eval "[ \"\$(cat $(R d1)/extra/a.txt)\" = a1 ] && [ \"\$(cat $(R d1)/b.txt)\" = b1 ]"
t "the named directory's own .dockerignore applies" test ! -e "$(R d1)/extra/secret.txt"
t "the main context is still the main context" eval "[ \"\$(cat $(R d1)/main.txt)\" = main ]"
t "a symlink in it is copied as a symlink, not followed" eval "[ -L $(R d1)/extra/link ] && [ \"\$(readlink $(R d1)/extra/link)\" = /etc/hostname ]"
t "files copied from it are owned by root, as from the main context" eval "[ \"\$(stat -c %u:%g $(R d1)/extra/a.txt)\" = 0:0 ]"
t "RUN --mount from=NAME sees the directory" eval "[ \"\$(cat $(R d1)/fromrun.txt)\" = a1 ]"
t "RUN --mount from=NAME: .dockerignore applies to the mount" eval "! grep -q secret $(R d1)/mntls.txt && grep -qx a.txt $(R d1)/mntls.txt"
t "RUN --mount from=NAME,source=sub" eval "[ \"\$(cat $(R d1)/fromsub.txt)\" = b1 ]"

# ---- the cache --------------------------------------------------------------------------
build d2 -t bctx:1 --build-context extra="$N" "$M"
t "a rebuild is fully CACHED (the absolute path of the same dir keys the same)" eval "[ $(rc d2) -eq 0 ] && [ \$(cached d2) -eq 6 ]"
echo s2 >"$N/secret.txt"
build d3 -t bctx:1 --build-context extra="$N" "$M"
t "a change to an ignored file misses nothing" eval "[ $(rc d3) -eq 0 ] && [ \$(cached d3) -eq 6 ]"
echo a2 >"$N/a.txt"
build d4 -t bctx:1 --build-context extra="$N" "$M"
t "a changed file: the steps that read it and later ones miss" eval "[ $(rc d4) -eq 0 ] && [ \$(cached d4) -eq 2 ] && grep -q '^#2 CACHED' $T/d4.log && grep -q '^#3 CACHED' $T/d4.log && ! grep -q '^#4 CACHED' $T/d4.log"
unpack docker.io/library/bctx:1 d4
t "the new content is in the image" eval "[ \"\$(cat $(R d4)/extra/a.txt)\" = a2 ] && [ \"\$(cat $(R d4)/fromrun.txt)\" = a2 ]"
cp -a "$N" "$T/nd-copy"
build d5 -t bctx:1 --build-context extra="$T/nd-copy" "$M"
t "the same content in another directory keys the same" eval "[ $(rc d5) -eq 0 ] && [ \$(cached d5) -eq 6 ]"

# ---- FROM a named directory, then RUN on it ---------------------------------------------
mkdir -p "$T/fr"
printf 'FROM rootfs\nRUN echo ran >/ran.txt && ls /bin/busybox\n' >"$T/fr/Dockerfile"
build f1 -t bctx:from --build-context rootfs="$T/bb" "$T/fr"
t "FROM a named directory builds and RUN runs on it" test "$(rc f1)" -eq 0
unpack docker.io/library/bctx:from f1
t "FROM NAME: the directory is the root filesystem" eval "[ -x $(R f1)/bin/busybox ] && [ \"\$(cat $(R f1)/ran.txt)\" = ran ]"
t "FROM NAME: one layer for the directory, one for the RUN" eval "[ \"\$(ib inspect bctx:from | jq '.[0].RootFS.Layers | length')\" -eq 2 ]"
build f2 -t bctx:from --build-context rootfs="$T/bb" "$T/fr"
t "FROM NAME: a rebuild is fully CACHED" eval "[ $(rc f2) -eq 0 ] && [ \$(cached f2) -eq 2 ]"

# ---- precedence: a named context replaces a stage or an image of that name --------------
mkdir -p "$T/ov"
cat >"$T/ov/Dockerfile" <<'EOF'
FROM scratch AS src
COPY not-in-the-context /x
FROM busybox
COPY --from=src a.txt /a.txt
ADD --from=src arch.tar /arch/
EOF
build o1 -t bctx:ov --build-context src="$N" "$T/ov"
t "a named context replaces a stage of the same name (the stage is not built)" eval "[ $(rc o1) -eq 0 ] && unpack docker.io/library/bctx:ov o1 && [ \"\$(cat $(R o1)/a.txt)\" = a2 ]"
t "ADD --from=NAME unpacks a local tar, as from the main context" eval "[ \"\$(cat $(R o1)/arch/sub/b.txt)\" = b1 ]"

mkdir -p "$T/img"
cat >"$T/img/Dockerfile" <<'EOF'
FROM alpine
RUN echo ok >/ok
COPY --from=alpine /bin/busybox /bb2
EOF
build i1 -t bctx:img --build-context alpine=docker-image://busybox:latest "$T/img"
t "FROM NAME with docker-image://REF uses REF from the store (no pull)" eval "[ $(rc i1) -eq 0 ] && ! grep -q 'resolving' $T/i1.log"
unpack docker.io/library/bctx:img i1
t "docker-image://: the stage is built on that image, COPY --from=NAME reads it too" eval "[ \"\$(cat $(R i1)/ok)\" = ok ] && cmp -s $(R i1)/bb2 $T/bb/bin/busybox"
t "docker-image://: same base layers as FROM busybox" eval "[ \"\$(ib inspect bctx:img | jq -r '.[0].RootFS.Layers[0]')\" = \"\$(ib inspect busybox:latest | jq -r '.[0].RootFS.Layers[0]')\" ]"
build i2 -t bctx:img --build-context alpine=docker-image://busybox:latest "$T/img"
t "docker-image://: a rebuild is fully CACHED" eval "[ $(rc i2) -eq 0 ] && [ \$(cached i2) -eq 2 ]"
build i3 -t bctx:img "$T/img"
t "without the context the image name means the image (not in the store: an error)" eval "[ $(rc i3) -ne 0 ] && grep -q alpine $T/i3.log"

# ---- errors -----------------------------------------------------------------------------
usage() { # LOG VALUE...: each --build-context given, exit 2 naming the flag
    log=$1
    shift
    args=
    for v in "$@"; do args="$args --build-context $v"; done
    # shellcheck disable=SC2086
    build "$log" $args "$M"
    [ "$(rc "$log")" -eq 2 ] && grep -q -- '--build-context' "$T/$log.log"
}
t "usage error: no '='" usage e1 extra
t "usage error: empty name" usage e2 =/tmp
t "usage error: empty value" usage e3 extra=
t "usage error: a name with upper case" usage e4 Extra=/tmp
t "usage error: a name with '/'" usage e5 a/b=/tmp
t "usage error: a name given twice" usage e6 extra=/tmp extra=/tmp
t "usage error: another scheme is not supported" eval "usage e7 extra=s3://bucket/x && grep -q \"'s3://' contexts are not supported\" $T/e7.log"
t "usage error: an https URL is not supported" eval "usage e8 extra=https://example.com/x.tar && grep -q 'not supported' $T/e8.log"
t "usage error: a git repository is not supported" eval "usage e9 extra=git@example.com:a/b.git && grep -q 'not supported' $T/e9.log"
t "usage error: target: is not supported" eval "usage e10 extra=target:base && grep -q 'not supported' $T/e10.log"
t "usage error: docker-image:// without a reference" usage e11 extra=docker-image://
build e12 --build-context extra="$T/no-such-dir" "$M"
t "a missing directory is an error naming it" eval "[ $(rc e12) -ne 0 ] && grep -q 'no-such-dir' $T/e12.log"
mkdir -p "$T/ms"
printf 'FROM busybox\nCOPY --from=extra nothere /x\n' >"$T/ms/Dockerfile"
build e13 --build-context extra="$N" "$T/ms"
t "a missing source names the build context" eval "[ $(rc e13) -eq 1 ] && grep -q \"'nothere' not found in build context 'extra'\" $T/e13.log"

done_testing
