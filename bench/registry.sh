#!/bin/sh
# bench/registry.sh: pull and push of a multi-layer image (a Debian 12 minbase
# made with debootstrap, ~120 MB of files in 5 layers, ~40 MB gzip) against a
# loopback docker-registry: imgbuild vs `skopeo copy` for the same transfer.
#   pull: imgbuild pull (fetch + verify; layers are unpacked when a build needs
#         them) vs skopeo copy docker://... oci:DIR (fetch + verify), and
#         imgbuild pull --unpack (fetch + verify + unpack into snapshots) vs
#         that skopeo copy plus `umoci raw unpack` (the same work)
#   push, mount: imgbuild push of the pulled image to a new repository (its
#         layers are mounted from the repository they came from) vs skopeo copy
#         oci:LAYOUT docker://... to a new repository (skopeo mounts them too,
#         from its blob-info cache)
#   push, upload: to a registry started empty for each run, every blob
#         uploaded: imgbuild push of the image loaded from the layout vs skopeo
# Prints the median of RUNS (default 3) interleaved runs and the ratios.
set -eu
IMGBUILD=${IMGBUILD:-$(pwd)/imgbuild}
RUNS=${RUNS:-3}
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/ib-bench-reg.XXXXXX)
pid="" pid2=""
trap 'kill $pid $pid2 2>/dev/null; wait 2>/dev/null; rm -rf "$T" "$T".snapshots' EXIT

# start_registry NAME: a docker-registry on a free loopback port with an empty
# data dir $T/NAME; sets $port and $rpid, returns when it answers
start_registry() {
    port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    rm -rf "${T:?}/$1"
    mkdir -p "$T/$1"
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
        "$T/$1/data" "$port" >"$T/$1/reg.yml"
    docker-registry serve "$T/$1/reg.yml" >"$T/$1/reg.log" 2>&1 &
    rpid=$!
    n=0
    until curl -fs "http://127.0.0.1:$port/v2/" >/dev/null; do
        n=$((n + 1))
        [ $n -lt 200 ] || { echo "registry did not start" >&2; exit 1; }
        sleep 0.05
    done
}
start_registry reg
pid=$rpid
R=127.0.0.1:$port

# ---- the image: a Debian 12 minbase (debootstrap) in 5 layers, an OCI layout made with tar,
# gzip and jq.  The rootfs tar cached by testdata/e2e/35-debian.sh is reused when present.
L=$T/lay
mkdir -p "$L/blobs/sha256" "$T/rootfs"
key=$(sha256sum "$here"/testdata/make-debian-rootfs.sh | cut -c1-16)
cached=$here/build/debian-rootfs/bookworm-minbase-$key.tar
if [ -s "$cached" ]; then
    tar -C "$T/rootfs" -xf "$cached"
else
    "$here"/testdata/make-debian-rootfs.sh "$T/rootfs"
fi
put() { # FILE -> digest (moved into the layout)
    d=$(sha256sum "$1" | cut -c1-64)
    mv "$1" "$L/blobs/sha256/$d"
    echo "sha256:$d"
}
layers="" diffs=""
n=0
X=--exclude
for spec in "$X=./usr/lib $X=./usr/share ." "./usr/lib/x86_64-linux-gnu" \
    "$X=./usr/lib/x86_64-linux-gnu ./usr/lib" "./usr/share/locale ./usr/share/zoneinfo" \
    "$X=./usr/share/locale $X=./usr/share/zoneinfo ./usr/share"; do
    n=$((n + 1))
    # shellcheck disable=SC2086 # $spec is a list of tar arguments
    tar -C "$T/rootfs" --sort=name --mtime=2024-01-01 --numeric-owner -cf "$T/l$n.tar" $spec
    diffs="$diffs \"sha256:$(sha256sum "$T/l$n.tar" | cut -c1-64)\""
    gzip -n -6 "$T/l$n.tar"
    size=$(stat -c %s "$T/l$n.tar.gz")
    d=$(put "$T/l$n.tar.gz")
    layers="$layers {\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$d\",\"size\":$size}"
done
rm -rf "$T/rootfs"
diffs=$(echo "$diffs" | sed 's/^ //; s/ /,/g')
layers=$(echo "$layers" | sed 's/^ //; s/ {/,{/g')
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$diffs" >"$T/config.json"
csize=$(stat -c %s "$T/config.json")
cd=$(put "$T/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
    "$cd" "$csize" "$layers" >"$T/manifest.json"
msize=$(stat -c %s "$T/manifest.json")
md=$(put "$T/manifest.json")
printf '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"img"}}]}' \
    "$md" "$msize" >"$L/index.json"
total=$(du -sb "$L/blobs" | cut -f1)
skopeo copy --dest-tls-verify=false oci:"$L":img docker://$R/seed/img:1 >/dev/null
# the same image in a store of its own, with no record of where its blobs came from
tar -C "$L" -cf "$T/lay.tar" .
IMGBUILD_ROOT=$T/lstore "$IMGBUILD" load -q -i "$T/lay.tar"
lid=$(IMGBUILD_ROOT=$T/lstore "$IMGBUILD" images -q | head -n1)

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
median() { sort -n | sed -n "$(((RUNS + 1) / 2))p"; }
: >"$T/ib-pull" && : >"$T/ib-pull-unpack" && : >"$T/sk-pull" && : >"$T/sk-pull-unpack"
: >"$T/ib-push" && : >"$T/sk-push" && : >"$T/ib-up" && : >"$T/sk-up"
i=0
while [ $i -lt $RUNS ]; do
    i=$((i + 1))
    rm -rf "$T/store" "$T/store.snapshots" "$T/skout" "$T/ustore" "$T/ustore.snapshots"
    # every timed command starts with nothing dirty in the page cache: otherwise a tool that
    # syncs (imgbuild, before it tags) would also wait for the writeback of what the tool
    # before it wrote (120 MB of unpacked layers), and the order would pick the winner
    sync
    a0=$(now)
    IMGBUILD_ROOT=$T/ustore "$IMGBUILD" pull --unpack $R/seed/img:1 >/dev/null
    a=$(now)
    sync
    a1=$(now)
    IMGBUILD_ROOT=$T/store "$IMGBUILD" pull $R/seed/img:1 >/dev/null
    b=$(now)
    sync
    b1=$(now)
    skopeo copy --src-tls-verify=false docker://$R/seed/img:1 oci:"$T/skout":img >/dev/null
    b2=$(now)
    umoci raw unpack --image "$T/skout":img "$T/skroot" >/dev/null 2>&1
    c=$(now)
    rm -rf "$T/skroot"
    secs "$b1" "$c" >>"$T/sk-pull-unpack"
    sync
    c=$(now)
    IMGBUILD_ROOT=$T/store "$IMGBUILD" push $R/seed/img:1 $R/ib$i/img:1 >/dev/null
    sync
    d=$(now)
    skopeo copy --dest-tls-verify=false oci:"$L":img docker://$R/sk$i/img:1 >/dev/null
    e=$(now)
    secs "$a0" "$a" >>"$T/ib-pull-unpack"
    secs "$a1" "$b" >>"$T/ib-pull"
    secs "$b1" "$b2" >>"$T/sk-pull"
    secs "$c" "$d" >>"$T/ib-push"
    secs "$d" "$e" >>"$T/sk-push"
    start_registry fresh
    pid2=$rpid
    F=127.0.0.1:$port
    f=$(now)
    IMGBUILD_ROOT=$T/lstore "$IMGBUILD" push "$lid" $F/ib/img:1 >/dev/null
    g=$(now)
    skopeo copy --dest-tls-verify=false oci:"$L":img docker://$F/sk/img:1 >/dev/null
    h=$(now)
    kill $pid2
    wait $pid2 2>/dev/null || true
    pid2=""
    secs "$f" "$g" >>"$T/ib-up"
    secs "$g" "$h" >>"$T/sk-up"
done
ibp=$(median <"$T/ib-pull") skp=$(median <"$T/sk-pull") sku2=$(median <"$T/sk-pull-unpack")
ibpu=$(median <"$T/ib-pull-unpack")
ibu=$(median <"$T/ib-push") sku=$(median <"$T/sk-push")
ibup=$(median <"$T/ib-up") skup=$(median <"$T/sk-up")
echo "image: 5 layers, $((total / 1000000)) MB compressed; median of $RUNS runs"
printf 'pull: imgbuild %.2f s, skopeo copy %.2f s (fetch + verify): ratio %.2f\n' \
    "$ibp" "$skp" "$(echo "$ibp / $skp" | bc -l)"
printf 'pull --unpack: imgbuild %.2f s, skopeo copy + umoci raw unpack %.2f s: ratio %.2f\n' \
    "$ibpu" "$sku2" "$(echo "$ibpu / $sku2" | bc -l)"
printf 'push, layers mounted: imgbuild %.2f s, skopeo copy %.2f s: ratio %.2f\n' "$ibu" "$sku" \
    "$(echo "$ibu / $sku" | bc -l)"
printf 'push, every blob uploaded: imgbuild %.2f s, skopeo copy %.2f s: ratio %.2f\n' "$ibup" \
    "$skup" "$(echo "$ibup / $skup" | bc -l)"
