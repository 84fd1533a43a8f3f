#!/bin/sh
# testdata/e2e/55-build-registry.sh: the build engine with the registry client.  A real
# docker-registry on loopback: FROM pulls into a fresh store, a second build uses the store
# (the registry is stopped to prove it), --pull re-checks with a HEAD, missing images fail
# naming registry and reference, build --push (checked with skopeo).  A python3 http.server
# for ADD <url>: mode 0600, mtime from Last-Modified, --checksum good and bad, downloads
# cached.  ADD of local .tar.bz2 and .tar.xz.  Needs root (RUN), docker-registry, skopeo,
# jq, busybox-static.  TAP output.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/testdata/e2e/lib.sh"
. "$here/testdata/registry/helpers.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
for tool in docker-registry skopeo jq busybox; do
    command -v $tool >/dev/null || { echo "not ok 1 - $tool missing (tests/deps.sh test)"; echo 1..1; exit 1; }
done
if [ "$(id -u)" -ne 0 ]; then
    echo "not ok 1 - the build tests need root"
    echo 1..1
    exit 1
fi
ib() { "$IMGBUILD" "$@"; }
K=$T/kept
keep() { "$@" >"$K" 2>&1; }
# mark LOG: remember its length, so that later checks see only the requests after it
mark() { wc -l <"$1" >"$1.mark"; }

# ---- a registry holding busybox -----------------------------------------------------
"$here"/testdata/make-busybox-rootfs.sh "$T/rootfs" "$T/bb.tar" >/dev/null
export DOCKER_CONFIG="$T/docker-config"
IMGBUILD_ROOT=$T/seed ib import "$T/bb.tar" bb:1 >/dev/null
P=$(free_port)
R=127.0.0.1:$P
start_registry reg "$P"
IMGBUILD_ROOT=$T/seed keep ib push bb:1 $R/busybox:1
t "busybox pushed to the loopback registry" grep -q "^$R/busybox:1: sha256:" "$K"
bbdigest=$(sed -n 's/^.*: \(sha256:[0-9a-f]*\)$/\1/p' "$K")

# ---- FROM pulls ---------------------------------------------------------------------
export IMGBUILD_ROOT="$T/store"
mkdir -p "$T/ctx"
printf 'FROM %s/busybox:1\nRUN echo built >/built\n' "$R" >"$T/ctx/Dockerfile"
mark "$T/reg.log"
t "build FROM $R/busybox:1 in a fresh store" ib build --progress plain -t app:1 "$T/ctx"
t "... pulled the manifest and the layer" sh -c "grep -q 'GET /v2/busybox/manifests/' '$T/reg.log' && grep -q 'GET /v2/busybox/blobs/sha256:' '$T/reg.log'"
t "... the base image is in the store with the registry's digest" sh -c "'$IMGBUILD' inspect $R/busybox:1 | jq -e '.[0].Digest == \"$bbdigest\"'"
stop_pid "$REG_PID"
t "second build with the registry stopped (no network)" ib build --progress plain -t app:1 "$T/ctx"
t "... every step cached" grep -q '#2 CACHED' "$LAST_OUT"
ib rmi $R/busybox:1 >/dev/null 2>&1
t "untagged base: the pull record re-tags it without network" ib build -q -t app:1 "$T/ctx"
printf 'FROM scratch\nCOPY --from=%s/busybox:1 /bin/busybox /bb\n' "$R" >"$T/ctx/Dockerfile.from"
t "COPY --from=<image> resolves through the store as well" ib build -q -f "$T/ctx/Dockerfile.from" "$T/ctx"
t_fail "--pull with the registry down fails" ib build --pull -q "$T/ctx"
t "... naming registry and reference" grep -q "$R/busybox:1" "$LAST_OUT"
start_registry reg "$P"
mark "$T/reg.log"
t "--pull re-checks the registry" ib build --pull --progress plain -t app:1 "$T/ctx"
t "... with a HEAD of the manifest" sh -c "tail -n +\$((\$(cat '$T/reg.log.mark') + 1)) '$T/reg.log' | grep -q 'HEAD /v2/busybox/manifests/1 '"
t "... and no layer fetched again" sh -c "! tail -n +\$((\$(cat '$T/reg.log.mark') + 1)) '$T/reg.log' | grep -q 'GET /v2/busybox/blobs/'"
printf 'FROM %s/busybox:nope\n' "$R" >"$T/ctx/Dockerfile.notag"
t_fail "a missing tag fails" ib build -q -f "$T/ctx/Dockerfile.notag" "$T/ctx"
t "... with one line naming registry and reference" sh -c "test \$(grep -c . '$LAST_OUT') = 1 && grep -q \"Dockerfile.notag:1: image '$R/busybox:nope' not found in the store: pull: $R/busybox:nope: manifest unknown\" '$LAST_OUT'"
printf 'FROM %s/nothere:1\n' "$R" >"$T/ctx/Dockerfile.norepo"
t_fail "a missing repository fails" ib build -q -f "$T/ctx/Dockerfile.norepo" "$T/ctx"
t "... naming it" grep -q "$R/nothere:1" "$LAST_OUT"
P2=$(free_port)
printf 'FROM 127.0.0.1:%s/busybox:1\n' "$P2" >"$T/ctx/Dockerfile.noreg"
t_fail "a registry nobody serves fails" ib build -q -f "$T/ctx/Dockerfile.noreg" "$T/ctx"
t "... naming it" grep -q "127.0.0.1:$P2/busybox:1" "$LAST_OUT"

# ---- build --push ---------------------------------------------------------------------
keep ib build --push -t $R/app:1 -t $R/app:2 "$T/ctx"
t "--push pushes every -t name" sh -c "grep -q '^$R/app:1: sha256:' '$K' && grep -q '^$R/app:2: sha256:' '$K'"
pushed=$(sed -n "s|^$R/app:1: \(sha256:[0-9a-f]*\)$|\1|p" "$K")
t "skopeo inspect sees the pushed digest" sh -c "skopeo inspect --tls-verify=false docker://$R/app:1 | jq -e '.Digest == \"$pushed\"'"
t "... and the built file in the top layer" sh -c "skopeo inspect --tls-verify=false docker://$R/app:1 | jq -e '.Layers | length == 2'"
t "--output type=registry,name=REF pushes too" ib build -q --output type=registry,name=$R/app:3 "$T/ctx"
t "... skopeo sees it" skopeo inspect --tls-verify=false docker://$R/app:3
t_fail "--push without -t is a usage error" ib build --push "$T/ctx"
raw() { skopeo inspect --raw --tls-verify=false "docker://$1"; }
t "build --push: an OCI manifest by default" sh -c "skopeo inspect --raw --tls-verify=false docker://$R/app:1 | jq -e '.mediaType == \"application/vnd.oci.image.manifest.v1+json\"'"
keep ib build --push --format docker -t $R/app:docker "$T/ctx"
t "build --push --format docker pushes" grep -q "^$R/app:docker: sha256:" "$K"
raw $R/app:docker >"$T/docker.json"
t "... a Docker schema2 manifest (skopeo inspect --raw)" jq -e '.schemaVersion == 2 and .mediaType == "application/vnd.docker.distribution.manifest.v2+json"' "$T/docker.json"
t "... with the docker config and gzip layer media types" jq -e '.config.mediaType == "application/vnd.docker.container.image.v1+json" and ([.layers[].mediaType] | unique == ["application/vnd.docker.image.rootfs.diff.tar.gzip"])' "$T/docker.json"
t "... the registry serves it as schema2" sh -c "grep -q 'PUT /v2/app/manifests/docker' '$T/reg.log' && curl -sf -o /dev/null -w '%{content_type}' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' http://$R/v2/app/manifests/docker | grep -qx 'application/vnd.docker.distribution.manifest.v2+json'"
t "... and it pulls back with the same digest" sh -c "IMGBUILD_ROOT='$T/store3' '$IMGBUILD' pull $R/app:docker | grep -q \"\$(sed -n 's|^.*: \(sha256:[0-9a-f]*\)$|\1|p' '$K')\""
t "--output type=registry,oci-mediatypes=false is --format docker" ib build -q --output type=registry,name=$R/app:docker2,oci-mediatypes=false "$T/ctx"
t "... schema2 as well" sh -c "skopeo inspect --raw --tls-verify=false docker://$R/app:docker2 | jq -e '.mediaType == \"application/vnd.docker.distribution.manifest.v2+json\"'"
t "--format oci gives an OCI manifest" sh -c "'$IMGBUILD' build -q --push --format oci -t $R/app:oci '$T/ctx' >/dev/null && skopeo inspect --raw --tls-verify=false docker://$R/app:oci | jq -e '.mediaType == \"application/vnd.oci.image.manifest.v1+json\"'"
before=$(grep -c 'http.request.method=PATCH' "$T/reg.log")
keep ib build --push --chunk-size 16k -t $R/chunky:1 "$T/ctx"
t "build --push --chunk-size 16k pushes in PATCH requests" eval "grep -q '^$R/chunky:1: sha256:' '$K' && [ \$(grep -c 'http.request.method=PATCH' '$T/reg.log') -gt \$((before + 1)) ]"
t "... skopeo reads it" skopeo inspect --tls-verify=false docker://$R/chunky:1
t_fail "--format without --push is a usage error" ib build --format docker -t x:1 "$T/ctx"
t_fail "--format bogus is a usage error" ib build --push --format bogus -t $R/app:x "$T/ctx"
IMGBUILD_ROOT=$T/store2 keep ib pull $R/app:1
t "the pushed image pulls into another store with the same digest" grep -q "$pushed" "$K"

# ---- ADD <url> --------------------------------------------------------------------------
H=$(free_port)
mkdir -p "$T/www"
echo "hello from the web" >"$T/www/f.txt"
touch -d @1620284889 "$T/www/f.txt"
start_http() {
    (cd "$T/www" && exec $PY -m http.server "$H" --bind 127.0.0.1) >>"$T/http.log" 2>&1 &
    HTTP_PID=$!
    pids="$pids $HTTP_PID"
    wait_port "$H"
}
start_http
sum=$(sha256sum "$T/www/f.txt" | cut -c1-64)
U=http://127.0.0.1:$H
mkdir -p "$T/uctx"
cat >"$T/uctx/Dockerfile" <<EOF
FROM $R/busybox:1
ADD $U/f.txt /dl/
ADD --checksum=sha256:$sum $U/f.txt /dl/pinned
ADD --chmod=644 $U/f.txt /dl/chmod.txt
EOF
mark "$T/http.log"
t "ADD <url> builds" ib build --progress plain -t url:1 --output type=local,dest="$T/u1" "$T/uctx"
t "... dest/ takes the file name from the URL" cmp "$T/www/f.txt" "$T/u1/dl/f.txt"
t "... mode 0600" test "$(stat -c %a "$T/u1/dl/f.txt")" = 600
t "... mtime from Last-Modified" test "$(stat -c %Y "$T/u1/dl/f.txt")" = 1620284889
t "... --checksum: the file as named" cmp "$T/www/f.txt" "$T/u1/dl/pinned"
t "... --chmod applies to the download" test "$(stat -c %a "$T/u1/dl/chmod.txt")" = 644
mark "$T/http.log"
t "second build" ib build --progress plain -t url:1 "$T/uctx"
t "... hits the layer cache (3 ADD steps)" test "$(grep -c ' CACHED$' "$LAST_OUT")" = 3
t "... re-checks the URL with HEAD only (no download)" sh -c "tail -n +\$((\$(cat '$T/http.log.mark') + 1)) '$T/http.log' | grep -q '\"HEAD /f.txt' && ! tail -n +\$((\$(cat '$T/http.log.mark') + 1)) '$T/http.log' | grep -q '\"GET /f.txt'"
stop_pid "$HTTP_PID"
printf 'FROM %s/busybox:1\nADD --checksum=sha256:%s %s/f.txt /pinned\n' "$R" "$sum" "$U" >"$T/uctx/Dockerfile.pin"
t "--checksum: a cached download is used with the server down (--no-cache)" ib build -q --no-cache -f "$T/uctx/Dockerfile.pin" "$T/uctx"
t_fail "without --checksum the URL is checked (server down: error)" ib build -q --no-cache "$T/uctx"
t "... naming the URL" grep -q "$U/f.txt" "$LAST_OUT"
start_http
bad=0000000000000000000000000000000000000000000000000000000000000000
printf 'FROM %s/busybox:1\nADD --checksum=sha256:%s %s/f.txt /bad\n' "$R" "$bad" "$U" >"$T/uctx/Dockerfile.bad"
t_fail "--checksum mismatch fails" ib build -q -f "$T/uctx/Dockerfile.bad" "$T/uctx"
t "... saying so" grep -q "digest mismatch" "$LAST_OUT"
echo local >"$T/uctx/local.txt"
printf 'FROM %s/busybox:1\nADD --checksum=sha256:%s local.txt /l\n' "$R" "$sum" >"$T/uctx/Dockerfile.local"
t_fail "--checksum with a local source is an error (as in BuildKit)" ib build -q -f "$T/uctx/Dockerfile.local" "$T/uctx"
t "... saying so" grep -q "non-HTTP(S) sources" "$LAST_OUT"
printf 'FROM %s/busybox:1\nCOPY %s/f.txt /c\n' "$R" "$U" >"$T/uctx/Dockerfile.copy"
t_fail "COPY <url> is an error" ib build -q -f "$T/uctx/Dockerfile.copy" "$T/uctx"
echo "changed content" >"$T/www/f.txt"
touch -d @1700000000 "$T/www/f.txt"
mark "$T/http.log"
t "a changed URL is downloaded again" ib build -q --output type=local,dest="$T/u2" "$T/uctx"
t "... new content" grep -q "changed content" "$T/u2/dl/f.txt"
t "... new mtime" test "$(stat -c %Y "$T/u2/dl/f.txt")" = 1700000000
t "... and --checksum still gets the pinned content" cmp "$T/u1/dl/pinned" "$T/u2/dl/pinned"

# ---- ADD of bzip2 and xz tars ------------------------------------------------------------
mkdir -p "$T/actx/src"
echo bz >"$T/actx/src/in-bz"
tar -C "$T/actx/src" -cjf "$T/actx/a.tar.bz2" in-bz
rm "$T/actx/src/in-bz"
echo xz >"$T/actx/src/in-xz"
tar -C "$T/actx/src" -cJf "$T/actx/a.tar.xz" in-xz
rm -r "$T/actx/src"
printf 'FROM %s/busybox:1\nADD a.tar.bz2 /bz/\nADD a.tar.xz /xz/\n' "$R" >"$T/actx/Dockerfile"
t "ADD of .tar.bz2 and .tar.xz builds" ib build -q --output type=local,dest="$T/a1" "$T/actx"
t "... the bzip2 tar is unpacked" grep -qx bz "$T/a1/bz/in-bz"
t "... the xz tar is unpacked" grep -qx xz "$T/a1/xz/in-xz"
done_testing
