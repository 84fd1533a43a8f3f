#!/bin/sh
# testdata/e2e/20-store.sh: the local store end to end, checked with real tools
# (oci-image-tool, umoci, runc, skopeo, jq).  TAP output.  Needs root.
set -u
IMGBUILD=${IMGBUILD:-$(pwd)/imgbuild}
here=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/ib-e2e-store.XXXXXX)
trap 'umount "$T"/mnt 2>/dev/null; rm -rf "$T"' EXIT
export IMGBUILD_ROOT="$T/store"
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check DESC CMD...
    d=$1; shift
    if "$@" >"$T/out" 2>&1; then ok "$d"; else notok "$d"; sed 's/^/#   /' "$T/out" | tail -15; fi
}
ib() { "$IMGBUILD" "$@"; }

for tool in skopeo umoci oci-image-tool runc jq busybox; do
    command -v $tool >/dev/null || { echo "not ok 1 - $tool missing (tests/deps.sh test)"; echo 1..1; exit 1; }
done

"$here"/testdata/make-busybox-rootfs.sh "$T/rootfs" "$T/bb.tar" >/dev/null
check "import busybox rootfs" ib import "$T/bb.tar" busybox:1
check "import from stdin (gzip)" sh -c "gzip -c '$T/bb.tar' | '$IMGBUILD' import - localhost:5000/bb/gz:v1"
check "images lists both" sh -c "'$IMGBUILD' images | grep -q '^busybox  *1 ' && '$IMGBUILD' images | grep -q '^localhost:5000/bb/gz  *v1'"
check "images --format json" sh -c "'$IMGBUILD' images --format json | jq -e 'length == 2'"
id=$(ib inspect busybox:1 | jq -r '.[0].Id')
id2=$(ib inspect localhost:5000/bb/gz:v1 | jq -r '.[0].RootFS.Layers[0]')
id1l=$(ib inspect busybox:1 | jq -r '.[0].RootFS.Layers[0]')
check "gzip and plain imports give the same diffID" test "$id1l" = "$id2"
check "inspect: Id is the config digest" sh -c "test \"\$(sha256sum '$IMGBUILD_ROOT'/blobs/sha256/${id#sha256:} | cut -c1-64)\" = '${id#sha256:}'"
check "inspect by short id" sh -c "'$IMGBUILD' inspect $(echo ${id#sha256:} | cut -c1-12) | jq -e '.[0].RepoTags | any(. == \"busybox:1\")'"
check "tag" ib tag busybox:1 my/app:latest
check "store dir is an OCI layout for oci-image-tool" oci-image-tool validate --type image "$IMGBUILD_ROOT"
check "store dir read by skopeo" skopeo inspect "oci:$IMGBUILD_ROOT:docker.io/my/app:latest"

# save -> validate, umoci unpack, runc run
check "save (OCI, gzip)" ib save -o "$T/oci.tar" my/app
mkdir -p "$T/oci" && tar -C "$T/oci" -xf "$T/oci.tar"
check "saved layout validates" oci-image-tool validate --type image "$T/oci"
# `oci-image-tool validate` on the tar itself cannot pass with Debian's 1.0.0-rc1: its
# findManifest callback returns the walk-stop sentinel errEOW, which pathWalker.find passes
# through (directories validate) but tarWalker.find wraps as "find failed: unable to walk",
# so the caller's `case errEOW` never matches for any tar (skopeo's oci-archive fails the
# same way).  The tar gets through the checks before that point (layout files, index.json
# schema, the manifest descriptor's size and digest), so that is asserted: it validates, or
# its one error is that one.
check "saved tar: oci-image-tool validates it up to its own errEOW bug" sh -c "
    oci-image-tool validate --type image '$T/oci.tar' >'$T/oit' 2>&1 || {
    grep -q '1 errors detected: .n[^ ]*/oci.tar: find failed: unable to walk: end of walk\"\$' '$T/oit'; }"
check "a damaged tar gets another error from oci-image-tool (the check above can fail)" sh -c "
    mkdir '$T/oitd' && tar -C '$T/oitd' -xf '$T/oci.tar' && rm '$T/oitd/oci-layout' &&
    tar -C '$T/oitd' -cf '$T/oitd.tar' . &&
    ! oci-image-tool validate --type image '$T/oitd.tar' >'$T/oit' 2>&1 &&
    grep -q 'must contain oci-layout' '$T/oit' && ! grep -q 'end of walk' '$T/oit'"
check "saved layer is gzip" sh -c "jq -r '.manifests[0].digest' '$T/oci/index.json' | cut -d: -f2 | xargs -I{} jq -e '.layers[0].mediaType == \"application/vnd.oci.image.layer.v1.tar+gzip\"' '$T/oci/blobs/sha256/{}'"
check "umoci unpack of the store" umoci unpack --image "$IMGBUILD_ROOT:docker.io/my/app:latest" "$T/bundle"
if [ -f "$T/bundle/config.json" ]; then
    jq '.process.terminal = false | .process.args = ["/bin/sh", "-c", "echo hello from busybox; cat /etc/hosts"]' \
        "$T/bundle/config.json" > "$T/bundle/c.json" && mv "$T/bundle/c.json" "$T/bundle/config.json"
    check "runc run prints the command's output" sh -c "cd '$T/bundle' && runc run ib-e2e-$$ </dev/null | grep -q 'hello from busybox'"
else
    notok "runc run (no bundle)"
fi
check "skopeo reads the OCI archive" skopeo inspect "oci-archive:$T/oci.tar"
check "save twice gives identical bytes" sh -c "'$IMGBUILD' save -o '$T/oci2.tar' my/app && cmp '$T/oci.tar' '$T/oci2.tar'"

# docker format + skopeo
check "save --format docker" ib save --format docker -o "$T/docker.tar" my/app busybox:1
check "skopeo inspect docker-archive" skopeo inspect "docker-archive:$T/docker.tar:docker.io/my/app:latest"
check "skopeo copy docker-archive -> oci" skopeo copy "docker-archive:$T/docker.tar:docker.io/my/app:latest" "oci:$T/sk-oci:copied"
check "skopeo copy docker-archive -> docker-archive" skopeo copy "docker-archive:$T/docker.tar:docker.io/my/app:latest" "docker-archive:$T/sk-docker.tar:sk/copied:1"

# load round trips
export IMGBUILD_ROOT="$T/store2"
check "load OCI archive" ib load -i "$T/oci.tar"
check "OCI load keeps manifest digest" sh -c "test \"\$('$IMGBUILD' inspect my/app | jq -r '.[0].Digest')\" = \"\$(jq -r '.manifests[0].digest' '$T/oci/index.json')\""
check "load docker archive from stdin" sh -c "'$IMGBUILD' load < '$T/docker.tar'"
check "docker load keeps image id" sh -c "test \"\$('$IMGBUILD' inspect busybox:1 | jq -r '.[0].Id')\" = '$id'"
export IMGBUILD_ROOT="$T/store3"
check "load skopeo-written docker archive" ib load -i "$T/sk-docker.tar"
check "skopeo docker archive: same image id" sh -c "test \"\$('$IMGBUILD' inspect sk/copied:1 | jq -r '.[0].Id')\" = '$id'"
(cd "$T/sk-oci" && tar -cf "$T/sk-oci.tar" .)
check "load skopeo-written OCI layout (tarred)" ib load -i "$T/sk-oci.tar"
check "round trip: save again gives same manifest digest" sh -c "'$IMGBUILD' save --format docker -o '$T/rt.tar' sk/copied:1 && '$IMGBUILD' --root '$T/store4' load -i '$T/rt.tar' && test \"\$('$IMGBUILD' --root '$T/store4' inspect sk/copied:1 | jq -r '.[0].Digest')\" = \"\$('$IMGBUILD' inspect sk/copied:1 | jq -r '.[0].Digest')\""
check "fsck clean" ib fsck

# rmi + prune
export IMGBUILD_ROOT="$T/store"
check "rmi" ib rmi my/app localhost:5000/bb/gz:v1
check "prune" ib prune
check "busybox:1 survives prune" sh -c "'$IMGBUILD' inspect busybox:1 >/dev/null && '$IMGBUILD' fsck"
check "rmi by id then prune empties the store" sh -c "'$IMGBUILD' rmi busybox:1 && '$IMGBUILD' prune && test -z \"\$(ls '$IMGBUILD_ROOT/blobs/sha256')\" && test -z \"\$(ls '$IMGBUILD_ROOT.snapshots')\""

# hostile archives
mkdir -p "$T/h"
python3 - "$T/h" <<'PY'
import io, sys, tarfile, gzip
d = sys.argv[1]
def mk(name, entries, gz=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e[0])
            kind = e[1]
            if kind == "file":
                data = e[2].encode(); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE; t.addfile(ti)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE; ti.linkname = e[2]; t.addfile(ti)
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE; ti.linkname = e[2]; t.addfile(ti)
    data = buf.getvalue()
    if gz:
        data = gzip.compress(data)
    open(f"{d}/{name}", "wb").write(data)
mk("dotdot.tar", [("../../escape-dotdot", "file", "x")])
mk("abs.tar", [("/tmp/escape-abs", "file", "x")])
mk("symfile.tar", [("link", "sym", "/tmp"), ("link/escape-sym", "file", "x")])
mk("symdir.tar", [("d", "sym", "../../.."), ("d/escape-symdir", "file", "x")])
mk("hardout.tar", [("h", "hard", "/etc/passwd")])
mk("hardup.tar", [("h", "hard", "../../../etc/passwd")])
mk("deep.tar", [("/".join(["a"] * 10000) + "/f", "file", "x")])
ok = io.BytesIO()
mk("good.tar.gz", [("f", "file", "y" * 100000)], gz=True)
g = open(f"{d}/good.tar.gz", "rb").read()
open(f"{d}/truncated.tar.gz", "wb").write(g[: len(g) // 2])
PY
for h in dotdot abs symfile symdir hardout hardup deep; do
    check "hostile $h.tar refused" sh -c "! '$IMGBUILD' import '$T/h/$h.tar' hostile/$h 2>'$T/err' && grep -q entry '$T/err'"
done
check "truncated gzip refused" sh -c "! '$IMGBUILD' import '$T/h/truncated.tar.gz' hostile/trunc 2>'$T/err' && grep -qi 'truncated\\|corrupt\\|unexpected' '$T/err'"
check "nothing escaped" sh -c "! ls /tmp/escape-* /escape-* '$T'/escape-* 2>/dev/null | grep -q ."
check "no hostile image tagged" sh -c "! '$IMGBUILD' images | grep -q hostile"
check "fsck clean after hostile imports" ib fsck

# wrong digest on load: corrupt a blob in a saved layout
mkdir -p "$T/bad" && tar -C "$T/bad" -xf "$T/oci.tar"
big=$(ls -S "$T/bad/blobs/sha256" | head -1)
printf 'X' | dd of="$T/bad/blobs/sha256/$big" bs=1 seek=100 conv=notrunc 2>/dev/null
(cd "$T/bad" && tar -cf "$T/bad.tar" .)
check "load with a wrong blob digest refused" sh -c "! '$IMGBUILD' --root '$T/store5' load -i '$T/bad.tar' 2>'$T/err' && grep -q 'digest mismatch' '$T/err'"
check "fsck clean after refused load" ib --root "$T/store5" fsck

# kill -9 at random points, then fsck + import
export IMGBUILD_ROOT="$T/store6"
dd if=/dev/urandom of="$T/rootfs/big" bs=1M count=8 2>/dev/null
tar -C "$T/rootfs" -cf "$T/big.tar" .
runs=${KILL_RUNS:-50}
bad=0
i=0
while [ $i -lt $runs ]; do
    i=$((i + 1))
    "$IMGBUILD" import "$T/big.tar" kill/test:$i >/dev/null 2>&1 &
    pid=$!
    sleep "0.0$(( (i * 37) % 100 ))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    if ! "$IMGBUILD" fsck >"$T/fsck" 2>&1; then bad=$((bad + 1)); sed 's/^/#   /' "$T/fsck" | head -5; fi
done
check "kill -9 during import x$runs: fsck always clean" test $bad -eq 0
check "import after the kills succeeds" ib import "$T/big.tar" kill/final
check "no stale temp files left after next open" sh -c "'$IMGBUILD' fsck && test -z \"\$(ls -A '$IMGBUILD_ROOT/tmp')\" && ! ls '$IMGBUILD_ROOT.snapshots' | grep -q '^tmp-'"

# 8 concurrent imports / saves / prunes on one store
export IMGBUILD_ROOT="$T/store7"
ib import "$T/bb.tar" base/bb >/dev/null
pids=""
for k in 1 2 3 4 5 6 7 8; do
    case $((k % 3)) in
    0) ( "$IMGBUILD" prune >/dev/null ) & ;;
    1) ( "$IMGBUILD" import "$T/bb.tar" conc/imp:$k >/dev/null ) & ;;
    2) ( "$IMGBUILD" save -o "$T/conc$k.tar" base/bb ) & ;;
    esac
    pids="$pids $!"
done
cfail=0
for p in $pids; do wait $p || cfail=$((cfail + 1)); done
check "8 concurrent imports/saves/prunes all succeed" test $cfail -eq 0
check "fsck clean after concurrency" ib fsck
check "all concurrent imports present" sh -c "test \$('$IMGBUILD' images | grep -c conc/imp) -eq 3"

# usage errors
check "unknown option is a usage error (exit 2)" sh -c "'$IMGBUILD' images --bogus; test \$? -eq 2"
check "bad reference is a usage error" sh -c "'$IMGBUILD' tag base/bb 'Bad:Name'; test \$? -eq 2"
for v in images inspect tag rmi import save load prune fsck; do
    check "$v --help" sh -c "'$IMGBUILD' $v --help | grep -q '^Usage: imgbuild $v'"
done
echo "1..$n"
[ $fails -eq 0 ]
