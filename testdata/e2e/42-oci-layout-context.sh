#!/bin/sh
# End-to-end tests of `build --build-context NAME=oci-layout://PATH[:TAG][@sha256:DIGEST]`:
# FROM NAME, COPY --from=NAME and RUN --mount=from=NAME on an image of a local OCI image
# layout (made offline: an image built here, saved, copied into a layout by skopeo), chosen
# by tag, by digest or as the layout's only image, or for the platform from an image index;
# the cache (keyed by the manifest digest); and the errors (nothing tagged, fsck clean after
# a damaged blob).  Needs root, overlayfs, busybox-static, skopeo, umoci, jq.
. testdata/e2e/lib.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and skopeo umoci jq
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }
SRC=$IMGBUILD_ROOT

ib() { "$IMGBUILD" "$@"; }
R() { echo "$T/u-$1/rootfs"; }
# mklayout IMAGE VALUE LAYOUT TAG: build IMAGE from busybox with /v.txt = VALUE in the source
# store and copy it into the OCI layout directory LAYOUT as TAG
mklayout() {
    mkdir -p "$T/src-$2"
    printf 'FROM busybox\nRUN echo %s >/v.txt\n' "$2" >"$T/src-$2/Dockerfile"
    IMGBUILD_ROOT=$SRC "$IMGBUILD" build -q -t "$1" "$T/src-$2" >/dev/null 2>&1 &&
        IMGBUILD_ROOT=$SRC "$IMGBUILD" save -o "$T/$2.tar" "$1" &&
        skopeo copy -q "oci-archive:$T/$2.tar" "oci:$3:$4" >/dev/null
}
mdigest() { # LAYOUT TAG: the manifest digest of TAG in LAYOUT
    jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json"
}
t "a layout with one image (tag v1) is made" mklayout src:1 one "$T/lay" v1
t "a second image (tag v2) goes into the same layout" mklayout src:2 two "$T/lay" v2
m1=$(mdigest "$T/lay" v1)
m2=$(mdigest "$T/lay" v2)
t "the two tags are two manifests" eval "[ -n '$m1' ] && [ -n '$m2' ] && [ '$m1' != '$m2' ]"

# every build below uses a store that has never seen these images: they come from the layout
export IMGBUILD_ROOT="$T/s2"
M="$T/main"
mkdir -p "$M"
cat >"$M/Dockerfile" <<'EOF'
FROM base
RUN cat /v.txt >/got.txt
COPY --from=base /v.txt /copied.txt
RUN --mount=from=base,target=/m cat /m/v.txt >/mnt.txt
EOF
build l1 -t lay:1 --build-context base=oci-layout://"$T/lay:v1" "$M"
t "FROM an oci-layout context by tag builds" test "$(rc l1)" -eq 0
unpack docker.io/library/lay:1 l1
t "FROM NAME: the stage is built on the tagged image" eval "[ \"\$(cat $(R l1)/got.txt)\" = one ]"
t "COPY --from=NAME reads the image's rootfs" eval "[ \"\$(cat $(R l1)/copied.txt)\" = one ]"
t "RUN --mount=from=NAME mounts the image's rootfs" eval "[ \"\$(cat $(R l1)/mnt.txt)\" = one ]"
t "the image's layers are the base layers" eval "[ \"\$(ib inspect lay:1 | jq -c '.[0].RootFS.Layers[0:2]')\" = \"\$(IMGBUILD_ROOT=$SRC '$IMGBUILD' inspect src:1 | jq -c '.[0].RootFS.Layers')\" ]"
t "the FROM step names the layout" grep -q "FROM base (build context $T/lay)" "$T/l1.log"
t "nothing but the built image is tagged" eval "[ \"\$(ib images -q | wc -l)\" -eq 1 ]"
t "the store is sound after the copy" ib fsck

build l2 -t lay:1 --build-context base=oci-layout://"$T/lay:v1" "$M"
t "a rebuild with the same layout is fully CACHED" eval "[ $(rc l2) -eq 0 ] && [ \$(cached l2) -eq 3 ]"
build l3 -t lay:3 --build-context base=oci-layout://"$T/lay@$m2" "$M"
t "by digest: the manifest of that digest (a cache miss: another image)" eval "[ $(rc l3) -eq 0 ] && [ \$(cached l3) -eq 0 ] && unpack docker.io/library/lay:3 l3 && [ \"\$(cat $(R l3)/got.txt)\" = two ]"
build l4 -t lay:4 --build-context base=oci-layout://"$T/lay:v1@$m2" "$M"
t "tag and digest: the digest wins" eval "[ $(rc l4) -eq 0 ] && [ \$(cached l4) -eq 3 ]"
(cd "$T" && build l5 -t lay:5 --build-context base=oci-layout://lay:v2 main)
t "a relative layout path (to the current directory), cached as the same image" eval "[ $(rc l5) -eq 0 ] && [ \$(cached l5) -eq 3 ]"

# the only image of a layout, neither tag nor digest
t "a layout with a single image is made" skopeo copy -q oci:"$T/lay":v2 oci:"$T/single":only
build s1 -t lay:s --build-context base=oci-layout://"$T/single" "$M"
t "no tag or digest: the layout's only image (cached: the same manifest as v2)" eval "[ $(rc s1) -eq 0 ] && [ \$(cached s1) -eq 3 ]"
cp -a "$T/single" "$T/scratch"
(cd "$T" && build s3 -t lay:s --build-context base=oci-layout://scratch main)
t "a layout directory called scratch is a layout, not FROM scratch" eval "[ $(rc s3) -eq 0 ] && [ \$(cached s3) -eq 3 ]"
build s2 -t lay:s --build-context base=oci-layout://"$T/lay" "$M"
t "no tag or digest with two images: an error asking for one, listing the tags" eval "[ $(rc s2) -eq 1 ] && grep -q 'give a tag or a digest' $T/s2.log && grep -q \"'v1'\" $T/s2.log && grep -q \"'v2'\" $T/s2.log"

# a changed layout: the tag now names another image
t "the tag v1 is moved to a new image" mklayout src:3 three "$T/lay" v1
build c1 -t lay:1 --build-context base=oci-layout://"$T/lay:v1" "$M"
unpack docker.io/library/lay:1 c1
t "a changed layout misses the cache and gives the new content" eval "[ $(rc c1) -eq 0 ] && [ \$(cached c1) -eq 0 ] && [ \"\$(cat $(R c1)/got.txt)\" = three ]"

# ---- a two-platform image index, made by hand from the v2 image -------------------------
P="$T/multi"
cp -a "$T/lay" "$P"
set -- $(two_platform_index "$P" "$m2")
idx=$1 idxsize=$2
jq -c --arg d "$idx" --argjson s "$idxsize" '.manifests += [
    {mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
     annotations: {"org.opencontainers.image.ref.name": "multi"}}]' "$T/lay/index.json" >"$P/index.json"
mkdir -p "$T/pf"
printf 'FROM base\nCOPY --from=base /v.txt /pf.txt\n' >"$T/pf/Dockerfile"
build p1 -t lay:arm --platform linux/arm64 --build-context base=oci-layout://"$P:multi" "$T/pf"
t "an image index: --platform linux/arm64 takes the arm64 image" eval "[ $(rc p1) -eq 0 ] && [ \$(cached p1) -eq 0 ] && [ \"\$(ib inspect lay:arm | jq -r '.[0].Architecture')\" = arm64 ]"
build p2 -t lay:amd --platform linux/amd64 --build-context base=oci-layout://"$P:multi" "$T/pf"
t "... and --platform linux/amd64 the amd64 one" eval "[ $(rc p2) -eq 0 ] && [ \$(cached p2) -eq 0 ] && [ \"\$(ib inspect lay:amd | jq -r '.[0].Architecture')\" = amd64 ] && [ \"\$(ib inspect lay:amd | jq -c '.[0].RootFS.Layers')\" = \"\$(ib inspect lay:arm | jq -c '.[0].RootFS.Layers')\" ]"
build p3 -t lay:idx --platform linux/arm64 --build-context base=oci-layout://"$P@$idx" "$T/pf"
t "the index by digest (not an entry of index.json): the platform's image, cached" eval "[ $(rc p3) -eq 0 ] && [ \$(cached p3) -eq 1 ] && [ \"\$(ib inspect lay:idx | jq -r '.[0].Architecture')\" = arm64 ]"
build p4 -t lay:s390 --platform linux/s390x --build-context base=oci-layout://"$P:multi" "$T/pf"
t "no image for the platform: an error naming it and the platforms there" eval "[ $(rc p4) -eq 1 ] && grep -q \"platform 'linux/s390x'\" $T/p4.log && grep -q 'linux/arm64/v8' $T/p4.log && ! ib inspect lay:s390 >/dev/null 2>&1"

# ---- errors: one line naming the context and the layout ---------------------------------
err() { # LOG TEXT: the build failed with status 1 and one error line naming base, the layout, TEXT
    [ "$(rc "$1")" -eq 1 ] && [ "$(grep -c '^imgbuild: ' "$T/$1.log")" -eq 1 ] &&
        grep '^imgbuild: ' "$T/$1.log" | grep -q "build context base: oci-layout '[^']*'.*$2"
}
build e1 -t bad:1 --build-context base=oci-layout://"$T/no-such-layout" "$M"
t "a missing layout directory" eval "err e1 'open layout directory: No such file' && grep -q \"oci-layout '$T/no-such-layout'\" $T/e1.log"
mkdir -p "$T/noidx/blobs/sha256"
build e2 -t bad:1 --build-context base=oci-layout://"$T/noidx" "$M"
t "no index.json" err e2 "no index.json"
cp -a "$T/lay" "$T/badjson" && echo '{"manifests": [' >"$T/badjson/index.json"
build e3 -t bad:1 --build-context base=oci-layout://"$T/badjson:v1" "$M"
t "index.json is not JSON" err e3 "index.json"
build e4 -t bad:1 --build-context base=oci-layout://"$T/lay:nope" "$M"
t "a tag not in the layout: named, the tags there listed" eval "err e4 \"tag 'nope' not found\" && grep -q \"tags: .*'v1'\" $T/e4.log && grep -q \"tags: .*'v2'\" $T/e4.log"
zero=sha256:0000000000000000000000000000000000000000000000000000000000000000
build e5 -t bad:1 --build-context base=oci-layout://"$T/lay@$zero" "$M"
t "a digest not in the layout" err e5 "digest '$zero' not found"
t "no image was tagged by the failed builds" eval "! ib inspect bad:1 >/dev/null 2>&1"

# a damaged layer blob (same size, one byte changed) in a store that lacks it
mklayout src:4 four "$T/dmg" v1 || echo "could not make the damaged layout"
md=$(mdigest "$T/dmg" v1)
ld=$(jq -r '.layers[-1].digest' "$T/dmg/blobs/sha256/${md#sha256:}")
lf="$T/dmg/blobs/sha256/${ld#sha256:}"
cp "$lf" "$T/layer.orig"
printf 'X' | dd of="$lf" bs=1 seek=100 conv=notrunc 2>/dev/null
export IMGBUILD_ROOT="$T/s3"
build e6 -t bad:1 --build-context base=oci-layout://"$T/dmg:v1" "$M"
t "a damaged layer blob is refused, naming the blob" eval "err e6 \"blob '$ld'.*digest mismatch\""
t "... nothing tagged" eval "[ \"\$(ib images -q | wc -l)\" -eq 0 ]"
t "... and the store is sound (fsck)" ib fsck
t "... and the damaged blob is not in the store" test ! -e "$T/s3/blobs/sha256/${ld#sha256:}"
printf 'X' >>"$lf"
build e7 -t bad:1 --build-context base=oci-layout://"$T/dmg:v1" "$M"
t "a layer blob of another size than its descriptor's is refused" err e7 "blob '$ld' has [0-9]* bytes, its descriptor says"
rm "$lf" && ln -s "$T/layer.orig" "$lf"
build e8 -t bad:1 --build-context base=oci-layout://"$T/dmg:v1" "$M"
t "a blob that is a symlink is not followed" err e8 "blob '$ld' is a symlink"
rm "$lf"
build e9 -t bad:1 --build-context base=oci-layout://"$T/dmg:v1" "$M"
t "a missing blob" err e9 "blob '$ld' is not in the layout"
mv "$T/dmg/blobs" "$T/dmg-blobs" && ln -s "$T/dmg-blobs" "$T/dmg/blobs"
build e10 -t bad:1 --build-context base=oci-layout://"$T/dmg:v1" "$M"
t "a blobs directory that is a symlink is not followed" err e10 "blobs/sha256"
t "the store is sound after all these (fsck)" ib fsck
cp "$T/layer.orig" "$T/dmg-blobs/sha256/${ld#sha256:}" && rm "$T/dmg/blobs" && mv "$T/dmg-blobs" "$T/dmg/blobs"
build e11 -t good:1 --build-context base=oci-layout://"$T/dmg:v1" "$M"
t "the repaired layout builds in that store" eval "[ $(rc e11) -eq 0 ] && unpack docker.io/library/good:1 e11 && [ \"\$(cat $(R e11)/got.txt)\" = four ]"

# ---- usage errors (exit 2, naming the flag's value) --------------------------------------
usage() { # LOG VALUE
    build "$1" --build-context "$2" "$M"
    [ "$(rc "$1")" -eq 2 ] && grep -q -- "--build-context base=" "$T/$1.log"
}
t "usage error: no path" usage u1 base=oci-layout://
t "usage error: an empty tag" usage u2 base=oci-layout://"$T/lay:"
t "usage error: a bad tag" usage u3 base=oci-layout://"$T/lay:a/b:c!"
t "usage error: a bad digest" eval "usage u4 base=oci-layout://$T/lay@sha256:1234 && grep -q 'invalid digest' $T/u4.log"
t "usage error: not sha256" usage u5 base=oci-layout://"$T/lay@md5:0123456789abcdef0123456789abcdef"
t "usage error: only a tag" usage u6 base=oci-layout://:v1

done_testing
