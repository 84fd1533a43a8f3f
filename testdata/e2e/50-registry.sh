#!/bin/sh
# testdata/e2e/50-registry.sh: the registry client against real registries
# (Debian's docker-registry, distribution 2.8) started here on free loopback
# ports: plain HTTP, TLS with a self-signed CA, TLS + htpasswd, TLS + a
# Docker-Hub-style token server, and a fault-injecting server.  skopeo is the
# independent client.  TAP output.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/testdata/e2e/lib.sh"
. "$here/testdata/registry/helpers.sh" # PY, pids, free_port, wait_port, start_registry
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

for tool in docker-registry skopeo htpasswd openssl jq curl busybox; do
    command -v $tool >/dev/null || { echo "not ok 1 - $tool missing (tests/deps.sh test)"; echo 1..1; exit 1; }
done
$PY -c 'import jwt, cryptography' 2>/dev/null ||
    { echo "not ok 1 - python3-jwt / python3-cryptography missing (tests/deps.sh test)"; echo 1..1; exit 1; }

ib() { "$IMGBUILD" "$@"; }
# keep CMD...: run it, keeping its output in $K for later checks (t overwrites $_out)
K=$T/kept
keep() { "$@" >"$K" 2>&1; }
digest_of() { sed -n 's/^.*: \(sha256:[0-9a-f]*\)$/\1/p' "$K"; }

# ---- fixtures -------------------------------------------------------------------
"$here"/testdata/make-busybox-rootfs.sh "$T/rootfs" "$T/bb.tar" >/dev/null
export IMGBUILD_ROOT="$T/store"
export DOCKER_CONFIG="$T/docker-config"
ib import "$T/bb.tar" bb:1 >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.crt" -days 2 \
    -subj /CN=imgbuild-test-ca >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$T/san.ext"
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" \
    -subj /CN=127.0.0.1 >/dev/null 2>&1
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
    -out "$T/srv.crt" -days 2 -extfile "$T/san.ext" >/dev/null 2>&1
mkdir -p "$T/certs" && cp "$T/ca.crt" "$T/certs/ca.crt"
TLS="  tls:
    certificate: $T/srv.crt
    key: $T/srv.key"

# ---- plain HTTP on 127.0.0.1 ---------------------------------------------------------
P1=$(free_port)
start_registry plain "$P1" "" ""
R=127.0.0.1:$P1
keep ib push bb:1 $R/e2e/bb:1
t "push an imported image over plain HTTP" grep -q "^$R/e2e/bb:1: sha256:" "$K"
pushed=$(digest_of)
t "skopeo inspect sees the pushed digest" sh -c "skopeo inspect --tls-verify=false docker://$R/e2e/bb:1 | jq -e '.Digest == \"$pushed\"'"
t "skopeo copy reads it back" skopeo copy --src-tls-verify=false docker://$R/e2e/bb:1 oci:$T/skcopy:bb
t "pushed layer is gzip (OCI media type)" sh -c "skopeo inspect --raw --tls-verify=false docker://$R/e2e/bb:1 | jq -e '.layers[0].mediaType == \"application/vnd.oci.image.layer.v1.tar+gzip\"'"
IMGBUILD_ROOT=$T/s2 keep ib pull $R/e2e/bb:1
t "pull into a fresh store gives the same digest" test "$(digest_of)" = "$pushed"
t "pulled image is listed" sh -c "IMGBUILD_ROOT=$T/s2 '$IMGBUILD' images | grep -q '^$R/e2e/bb  *1 '"
t "a pull only downloads: no snapshot yet" sh -c "! ls $T/s2.snapshots/*/bin/busybox 2>/dev/null"
t "fsck is clean without the snapshots" sh -c "IMGBUILD_ROOT=$T/s2 '$IMGBUILD' fsck"
mkdir -p "$T/from-pulled"
printf 'FROM %s/e2e/bb:1\nRUN test -x /bin/busybox && echo from-pulled-ok\n' "$R" >"$T/from-pulled/Dockerfile"
t "a build FROM the pulled image unpacks it on demand" sh -c "IMGBUILD_ROOT=$T/s2 '$IMGBUILD' build --progress plain '$T/from-pulled' 2>&1 | grep -q from-pulled-ok && ls $T/s2.snapshots/*/bin/busybox"
IMGBUILD_ROOT=$T/s2u keep ib pull --unpack $R/e2e/bb:1
t "pull --unpack unpacks the layer into a snapshot" sh -c "ls $T/s2u.snapshots/*/bin/busybox"
t "pulled image has the imported image's id" sh -c "test \"\$(IMGBUILD_ROOT=$T/s2 '$IMGBUILD' inspect $R/e2e/bb:1 | jq -r '.[0].Id')\" = \"\$('$IMGBUILD' inspect bb:1 | jq -r '.[0].Id')\""
ib save -o "$T/bb-oci.tar" bb:1
for f in v2s2 oci; do
    skopeo copy --dest-tls-verify=false --format $f oci-archive:"$T/bb-oci.tar" docker://$R/sk/$f:1 >/dev/null 2>&1
    want=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' docker://$R/sk/$f:1)
    IMGBUILD_ROOT=$T/s3 keep ib pull $R/sk/$f:1
    t "pull an image skopeo pushed as $f: same digest" test "$(digest_of)" = "$want"
done
t "push --format docker" ib push --format docker bb:1 $R/e2e/bbdocker:1
t "... is Docker schema2" sh -c "skopeo inspect --raw --tls-verify=false docker://$R/e2e/bbdocker:1 | jq -e '.mediaType == \"application/vnd.docker.distribution.manifest.v2+json\" and (.layers[0].mediaType | endswith(\"diff.tar.gzip\"))'"
t "push --compression zstd" ib push --compression zstd bb:1 $R/e2e/bbzstd:1
t "... pulls back" sh -c "IMGBUILD_ROOT=$T/s4 '$IMGBUILD' pull $R/e2e/bbzstd:1"
patches() { grep -c 'http.request.method=PATCH' "$T/plain.log"; }
before=$(patches)
keep ib push --chunk-size 64k bb:1 $R/chunked/bb:1
t "push --chunk-size 64k: same manifest digest as a monolithic push" grep -q "^$R/chunked/bb:1: $pushed$" "$K"
layer=$(skopeo inspect --raw --tls-verify=false docker://$R/chunked/bb:1 | jq -r '.layers[0].size')
note "the busybox layer is $layer bytes: $(( (layer + 65535) / 65536 )) chunks of 64 KiB"
t "... in PATCH requests of 64 KiB (the registry's access log counts them)" test "$(($(patches) - before))" -ge $(( (layer + 65535) / 65536 ))
t "... and skopeo copies it back" skopeo copy --src-tls-verify=false docker://$R/chunked/bb:1 oci:$T/skchunk:bb
IMGBUILD_ROOT=$T/s5 keep ib pull $R/chunked/bb:1
t "... and a pull gives the same digest" test "$(digest_of)" = "$pushed"
t_fail "push --chunk-size below 4k is a usage error" ib push --chunk-size 100 bb:1 $R/chunked/bb:2
t "push of a pulled image keeps its digest" sh -c "IMGBUILD_ROOT=$T/s3 '$IMGBUILD' push $R/sk/v2s2:1 $R/copy/v2s2:1 | grep -q '$(skopeo inspect --tls-verify=false --format '{{.Digest}}' docker://$R/sk/v2s2:1)'"
t_fail "unknown repository fails" ib pull $R/e2e/nothere:1
t "... with one line naming the reference" sh -c "'$IMGBUILD' pull $R/e2e/nothere:1 2>&1 | grep -c . | grep -qx 1 && '$IMGBUILD' pull $R/e2e/nothere:1 2>&1 | grep -q '$R/e2e/nothere:1: manifest unknown'"
t_fail "unknown tag fails" ib pull $R/e2e/bb:nope

# a two-platform index, made by hand from the imported image, copied up by skopeo
mkdir -p "$T/lay" && tar -C "$T/lay" -xf "$T/bb-oci.tar"
m1=$(jq -r '.manifests[0].digest' "$T/lay/index.json")
set -- $(two_platform_index "$T/lay" "$m1")
idx=$1 idxsize=$2 m2=$3
jq -nc --arg d "$idx" --argjson s "$idxsize" '{schemaVersion: 2, manifests: [
    {mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
     annotations: {"org.opencontainers.image.ref.name": "multi"}}]}' >"$T/lay/index.json"
t "skopeo copies a two-platform index up" skopeo copy --all --dest-tls-verify=false oci:"$T/lay":multi docker://$R/e2e/multi:1
IMGBUILD_ROOT=$T/s5 keep ib pull --platform linux/arm64 $R/e2e/multi:1
t "--platform linux/arm64 picks the arm64 manifest" test "$(digest_of)" = "$m2"
IMGBUILD_ROOT=$T/s5 keep ib pull --platform linux/amd64 $R/e2e/multi:1
t "--platform linux/amd64 picks the amd64 manifest" test "$(digest_of)" = "$m1"
IMGBUILD_ROOT=$T/s5 keep ib pull --platform linux/aarch64/v8 $R/e2e/multi:1
t "arch aliases (aarch64) are normalized" test "$(digest_of)" = "$m2"
t_fail "missing platform fails" sh -c "IMGBUILD_ROOT=$T/s5 '$IMGBUILD' pull --platform linux/s390x $R/e2e/multi:1"
t "... naming the platform and what is there" sh -c "IMGBUILD_ROOT=$T/s5 '$IMGBUILD' pull --platform linux/s390x $R/e2e/multi:1 2>&1 | grep -q 'no manifest for platform linux/s390x (available: linux/amd64, linux/arm64/v8)'"
t "single-platform image for another platform fails clearly" sh -c "IMGBUILD_ROOT=$T/s5 '$IMGBUILD' pull --platform linux/ppc64le $R/e2e/bb:1 2>&1 | grep -q 'image is for platform linux/amd64 only, not linux/ppc64le'"
# the config comes with the layers (one transfer batch): a config for another platform
# cancels them, and what did come is dropped: nothing of the image is stored
t_fail "into a new store, the same pull fails" sh -c "IMGBUILD_ROOT=$T/s6 '$IMGBUILD' pull --platform linux/ppc64le $R/e2e/bb:1 2>/dev/null"
t "... and leaves no blob there (no layer, config or manifest)" sh -c "test -d '$T/s6/blobs/sha256' && test -z \"\$(ls -A '$T/s6/blobs/sha256')\""

# ---- TLS with a self-signed CA ---------------------------------------------------------
P2=$(free_port)
start_registry tls "$P2" "$TLS" ""
R2=127.0.0.1:$P2
keep ib push bb:1 $R2/e2e/bb:1
t_fail "TLS without the CA is refused" ib push bb:1 $R2/e2e/bb:1
t "... with a clear TLS error" sh -c "'$IMGBUILD' push bb:1 $R2/e2e/bb:1 2>&1 | grep -q '$R2/e2e/bb:1: tls: .*certificate'"
t "push with --cert-dir" ib push --cert-dir "$T/certs" bb:1 $R2/e2e/bb:1
t "pull with --cert-dir" sh -c "IMGBUILD_ROOT=$T/s6 '$IMGBUILD' pull --cert-dir '$T/certs' $R2/e2e/bb:1"
t "pull with --tls-verify=false" sh -c "IMGBUILD_ROOT=$T/s7 '$IMGBUILD' pull --tls-verify=false $R2/e2e/bb:1"
t "skopeo reads what imgbuild pushed over TLS" skopeo inspect --cert-dir "$T/certs" docker://$R2/e2e/bb:1

# ---- TLS + htpasswd ---------------------------------------------------------------------
P3=$(free_port)
htpasswd -Bbn alice s3cret >"$T/htpasswd"
start_registry basic "$P3" "$TLS" "auth:
  htpasswd:
    realm: imgbuild-test
    path: $T/htpasswd"
R3=127.0.0.1:$P3
t_fail "anonymous push to a basic-auth registry fails" ib push --cert-dir "$T/certs" bb:1 $R3/e2e/bb:1
t "... as unauthorized" sh -c "'$IMGBUILD' push --cert-dir '$T/certs' bb:1 $R3/e2e/bb:1 2>&1 | grep -q 'unauthorized'"
t_fail "login with a wrong password fails" sh -c "echo wrong | '$IMGBUILD' login --cert-dir '$T/certs' -u alice --password-stdin $R3"
t "... clearly, and nothing is stored" sh -c "echo wrong | '$IMGBUILD' login --cert-dir '$T/certs' -u alice --password-stdin $R3 2>&1 | grep -q 'incorrect username or password' && test ! -e '$DOCKER_CONFIG/config.json'"
t "login with the right password" sh -c "echo s3cret | '$IMGBUILD' login --cert-dir '$T/certs' -u alice --password-stdin $R3 | grep -q 'Login Succeeded'"
t "config.json is mode 0600 with the auths entry" sh -c "test \"\$(stat -c %a '$DOCKER_CONFIG/config.json')\" = 600 && jq -e '.auths[\"$R3\"].auth == \"$(printf alice:s3cret | base64)\"' '$DOCKER_CONFIG/config.json'"
t "push after login" ib push --cert-dir "$T/certs" bb:1 $R3/e2e/bb:1
t "pull after login" sh -c "IMGBUILD_ROOT=$T/s8 '$IMGBUILD' pull --cert-dir '$T/certs' $R3/e2e/bb:1"
t "skopeo with the same credentials reads it" skopeo inspect --cert-dir "$T/certs" --creds alice:s3cret docker://$R3/e2e/bb:1
t "the password never appears in output" sh -c "! IMGBUILD_ROOT=$T/s8 '$IMGBUILD' pull --cert-dir '$T/certs' --creds alice:wrongpw $R3/e2e/bb:1 2>&1 | grep -q wrongpw"
t "logout" ib logout $R3
t "pull after logout is unauthorized" sh -c "IMGBUILD_ROOT=$T/s9 '$IMGBUILD' pull --cert-dir '$T/certs' $R3/e2e/bb:1 2>&1 | grep -q 'unauthorized: authentication required'"

# ---- TLS + token server -------------------------------------------------------------------
PT=$(free_port)
P4=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tok.key" -out "$T/tok.crt" -days 2 \
    -subj /CN=imgbuild-token-signer >/dev/null 2>&1
$PY "$here/testdata/registry/token_server.py" "$PT" "$T/tok.key" "$T/tok.crt" test-registry \
    test-issuer alice:s3cret 2>"$T/token.log" &
pids="$pids $!"
wait_port "$PT"
start_registry token "$P4" "$TLS" "auth:
  token:
    realm: http://127.0.0.1:$PT/token
    service: test-registry
    issuer: test-issuer
    rootcertbundle: $T/tok.crt"
R4=127.0.0.1:$P4
rm -f "$DOCKER_CONFIG/config.json"
t_fail "anonymous push to the token registry is denied" ib push --cert-dir "$T/certs" bb:1 $R4/e2e/bb:1
t "... as denied" sh -c "'$IMGBUILD' push --cert-dir '$T/certs' bb:1 $R4/e2e/bb:1 2>&1 | grep -q 'denied'"
t "push with credentials (token with push)" ib push --cert-dir "$T/certs" --creds alice:s3cret bb:1 $R4/e2e/bb:1
t "anonymous pull works (token with pull)" sh -c "IMGBUILD_ROOT=$T/s10 '$IMGBUILD' pull --cert-dir '$T/certs' $R4/e2e/bb:1"
t "wrong credentials: unauthorized" sh -c "IMGBUILD_ROOT=$T/s11 '$IMGBUILD' pull --cert-dir '$T/certs' --creds alice:nope $R4/e2e/bb:1 2>&1 | grep -q 'unauthorized: incorrect username or password'"
t "cross-repository push mounts the blob" sh -c "IMGBUILD_ROOT=$T/s10 '$IMGBUILD' push --cert-dir '$T/certs' --creds alice:s3cret $R4/e2e/bb:1 $R4/other/bb:1 && grep -q 'scope=repository%3Aother%2Fbb%3Apull%2Cpush&scope=repository%3Ae2e%2Fbb%3Apull' '$T/token.log'"
t "login against the token service" sh -c "echo s3cret | '$IMGBUILD' login --cert-dir '$T/certs' -u alice --password-stdin $R4"

. "$here/testdata/registry/faults.sh"

done_testing
