# testdata/e2e/lib.sh: a tiny TAP helper for the end-to-end shell tests.
#   . testdata/e2e/lib.sh
#   t "description" command args...      passes when the command exits 0
#   t_fail "description" command args... passes when it exits non-zero
#   done_testing                          prints the plan; exit status 1 on any failure
# $LAST_OUT holds the output of the previous t/t_fail (t itself overwrites $_out).
# $IMGBUILD is the binary under test (the Makefile passes it); $T is a temp dir removed at exit.
: "${IMGBUILD:=$(pwd)/imgbuild}"
: "${IB_CONFORMANCE:=../shared/conformance}"
if [ ! -d "$IB_CONFORMANCE" ]; then
    echo "not ok 1 - conformance data missing at $IB_CONFORMANCE"
    exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/ibe2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
_n=0
_failed=0
_out="$T/.out"
LAST_OUT="$T/.last" # output of the previous t/t_fail, for checks on it

_report() { # status desc
    _n=$((_n + 1))
    cp "$_out" "$LAST_OUT"
    if [ "$1" -eq 0 ]; then
        echo "ok $_n - $2"
    else
        echo "not ok $_n - $2"
        _failed=$((_failed + 1))
        sed -e 's/^/#   /' "$_out" | head -20
    fi
}
t() {
    _d=$1
    shift
    "$@" >"$_out" 2>&1
    _report $? "$_d"
}
t_fail() {
    _d=$1
    shift
    if "$@" >"$_out" 2>&1; then _report 1 "$_d"; else _report 0 "$_d"; fi
}
note() { echo "# $*"; }
# need_root_and TOOL...: fail loudly (never skip) unless root and every TOOL is installed
need_root_and() {
    for _tool in "$@"; do
        if ! command -v "$_tool" >/dev/null; then
            echo "not ok 1 - $(basename "$0") needs $_tool (tests/deps.sh test)"
            exit 1
        fi
    done
    if [ "$(id -u)" -ne 0 ]; then
        echo "not ok 1 - $(basename "$0") needs root"
        exit 1
    fi
}
# busybox_store: a fresh store in $T/store (exported as IMGBUILD_ROOT) holding busybox:latest,
# made offline from busybox-static
busybox_store() {
    export IMGBUILD_ROOT="$T/store"
    testdata/make-busybox-rootfs.sh "$T/bb" "$T/bb.tar" >/dev/null &&
        "$IMGBUILD" import "$T/bb.tar" busybox:latest >/dev/null
}
# build LOG ARGS...: a plain-progress build; output in $T/LOG.out, log in $T/LOG.log,
# exit status in $T/LOG.rc (read it with rc LOG)
build() {
    log=$1
    shift
    "$IMGBUILD" build --progress plain "$@" >"$T/$log.out" 2>"$T/$log.log"
    echo $? >"$T/$log.rc"
}
rc() { cat "$T/$1.rc"; }
# cached LOG: how many steps of that build were CACHED
cached() { grep -c ' CACHED$' "$T/$1.log"; }
# unpack REF NAME: umoci unpack of REF from the store into $T/u-NAME
unpack() { rm -rf "$T/u-$2" && umoci unpack --image "$IMGBUILD_ROOT:$1" "$T/u-$2" >/dev/null 2>&1; }

done_testing() {
    echo "1..$_n"
    [ "$_failed" -eq 0 ]
}

# two_platform_index LAYOUT MANIFEST: in the OCI layout dir LAYOUT, next to the (amd64) image
# MANIFEST, an arm64/v8 twin (its config changed, the same layers) and an image index of the
# two (linux/amd64, linux/arm64/v8), as blobs; prints the index's digest and size and the
# arm64 manifest's digest.
two_platform_index() {
    _lay=$1 _m1=$2
    _blob() { echo "$_lay/blobs/sha256/${1#sha256:}"; }
    _put() { # FILE -> its digest, after storing it as a blob
        _d=sha256:$(sha256sum "$1" | cut -c1-64)
        cp "$1" "$(_blob "$_d")"
        echo "$_d"
    }
    _c1=$(jq -r '.config.digest' "$(_blob "$_m1")")
    jq -c '.architecture = "arm64" | .variant = "v8"' "$(_blob "$_c1")" >"$_lay/.c2.json"
    _c2=$(_put "$_lay/.c2.json")
    jq -c --arg d "$_c2" --argjson s "$(stat -c %s "$_lay/.c2.json")" \
        '.config.digest = $d | .config.size = $s' "$(_blob "$_m1")" >"$_lay/.m2.json"
    _m2=$(_put "$_lay/.m2.json")
    jq -nc --arg m1 "$_m1" --arg m2 "$_m2" --argjson s1 "$(stat -c %s "$(_blob "$_m1")")" \
        --argjson s2 "$(stat -c %s "$_lay/.m2.json")" '{schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json", manifests: [
        {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m1, size: $s1,
         platform: {os: "linux", architecture: "amd64"}},
        {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m2, size: $s2,
         platform: {os: "linux", architecture: "arm64", variant: "v8"}}]}' >"$_lay/.idx.json"
    _idx=$(_put "$_lay/.idx.json")
    echo "$_idx $(stat -c %s "$_lay/.idx.json") $_m2"
    rm -f "$_lay/.c2.json" "$_lay/.m2.json" "$_lay/.idx.json"
}
