#!/bin/sh
# testdata/e2e/21-layers.sh: layer diffs made on real overlay mounts, committed
# with `imgbuild layer-commit`, saved, unpacked with umoci and compared with the
# merged overlay view (file list, types, modes, owners, contents, link targets,
# devices, xattrs, mtimes of non-directories, hard-link identity).  TAP output.
# Needs root and overlayfs.
#
# Layers (each made through a mount with index=off,redirect_dir=off,metacopy=off):
#   1  a plain directory (the base)
#   2  file delete, dir delete then recreate (opaque), file rename, dir rename
#      (a copy without redirect_dir), new hard links, symlinks, xattrs (user.*,
#      security.capability), chmod-only, chown-only, fifo, char device
#   3  deleted then recreated file, dir deleted (whiteout of a dir from layer 2),
#      xattr removed, a hard link to a lower file (copy-up), a symlink retargeted,
#      mtime-only change
set -u
IMGBUILD=${IMGBUILD:-$(pwd)/imgbuild}
T=$(mktemp -d /tmp/ib-e2e-layers.XXXXXX)
export IMGBUILD_ROOT="$T/store"
cleanup() {
    umount "$T/mnt" 2>/dev/null
    rm -rf "$T" "$T.snapshots" "$IMGBUILD_ROOT.snapshots"
}
trap cleanup EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check DESC CMD...
    d=$1; shift
    if "$@" >"$T/out" 2>&1; then ok "$d"; else notok "$d"; sed 's/^/#   /' "$T/out" | tail -25; fi
}

for tool in umoci python3; do
    command -v $tool >/dev/null || { echo "not ok 1 - $tool missing (tests/deps.sh test)"; echo 1..1; exit 1; }
done
if [ "$(id -u)" -ne 0 ]; then
    echo "not ok 1 - needs root (overlay mounts, chown, security.capability)"; echo 1..1; exit 1
fi

# tree-dump ROOT: one sorted line per entry, then the hard-link groups
cat > "$T/tree.py" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
lines, inodes = [], {}
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        f = [rel, "%o" % st.st_mode, "%d:%d" % (st.st_uid, st.st_gid)]
        if stat.S_ISREG(st.st_mode):
            with open(p, "rb") as fh:
                f.append("size=%d sha256=%s" % (st.st_size, hashlib.sha256(fh.read()).hexdigest()[:16]))
            inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
        elif stat.S_ISLNK(st.st_mode):
            f.append("-> " + os.readlink(p))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            f.append("dev=%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if not stat.S_ISDIR(st.st_mode):
            f.append("mtime=%d" % int(st.st_mtime))
        try:
            xs = sorted(x for x in os.listxattr(p, follow_symlinks=False)
                        if not x.startswith("trusted.overlay."))
        except OSError:
            xs = []
        for x in xs:
            f.append("%s=%s" % (x, os.getxattr(p, x, follow_symlinks=False).hex()))
        lines.append(" ".join(f))
for g in sorted(sorted(v) for v in inodes.values() if len(v) > 1):
    lines.append("hardlinks " + " ".join(g))
print("\n".join(lines))
PY
dump() { python3 "$T/tree.py" "$1"; }

mnt="$T/mnt"
mkdir -p "$mnt" "$T/w1" "$T/w2" "$T/u1" "$T/u2"
ovl() { # ovl LOWERS [UPPER WORK]
    if [ $# -eq 1 ]; then
        mount -t overlay overlay -o "ro,lowerdir=$1" "$mnt"
    else
        mount -t overlay overlay \
            -o "lowerdir=$1,upperdir=$2,workdir=$3,index=off,redirect_dir=off,metacopy=off" "$mnt"
    fi
}

# layer 1: a plain directory
B="$T/base"
mkdir -p "$B/etc" "$B/d1/sub" "$B/gone/deep" "$B/dir-rename/inner" "$B/chg"
echo 'root:x:0:0::/root:/bin/sh' > "$B/etc/passwd"
echo a > "$B/d1/a"; echo b > "$B/d1/sub/b"; echo c > "$B/gone/deep/c"
echo keep > "$B/keep"; chown 12:34 "$B/keep"
echo m > "$B/chmod-me"; echo o > "$B/chown-me"; echo r > "$B/rename-me"
echo x > "$B/dir-rename/inner/x"
echo hl > "$B/hl-a"; ln "$B/hl-a" "$B/hl-b"
ln -s etc/passwd "$B/sym"; ln -s nowhere "$B/chg/retarget"
echo t > "$B/touch-me"; touch -d @1000000000 "$B/touch-me"
setfattr -n user.base -v 1 "$B/keep" 2>/dev/null || python3 -c "import os; os.setxattr('$B/keep', 'user.base', b'1')"
chmod 0750 "$B/d1/sub"

check "layer-commit --help" sh -c "'$IMGBUILD' layer-commit --help | grep -q '^Usage: imgbuild layer-commit'"
check "commit layer 1 (plain dir)" "$IMGBUILD" layer-commit -m base "$B" test/layers:1

# layer 2 on a real overlay mount
if ! ovl "$B" "$T/u1" "$T/w1" 2>"$T/out"; then
    notok "overlay mount (layer 2)"; sed 's/^/#   /' "$T/out"; echo "1..$n"; exit 1
fi
rm "$mnt/d1/a"                                   # file delete
rm -rf "$mnt/gone"; mkdir "$mnt/gone"; echo new > "$mnt/gone/new"   # opaque dir
mv "$mnt/rename-me" "$mnt/renamed"               # rename
mv "$mnt/dir-rename" "$mnt/dir-renamed"          # dir rename: copy + delete (no redirect_dir)
echo hard > "$mnt/h1"; ln "$mnt/h1" "$mnt/h2"    # hard links
ln -s ../etc/passwd "$mnt/d1/link"; ln -s /abs/target "$mnt/abs"
echo xattr > "$mnt/x"
python3 - "$mnt/x" <<'PY'
import os, sys
os.setxattr(sys.argv[1], "user.test", b"v")
os.setxattr(sys.argv[1], "user.gone", b"soon")
# VFS_CAP_REVISION_2, cap_net_bind_service permitted
os.setxattr(sys.argv[1], "security.capability", bytes.fromhex("0000000200040000000000000000000000000000"))
PY
chmod 0600 "$mnt/chmod-me"                       # chmod only
chown 7:8 "$mnt/chown-me"                        # chown only
mkfifo -m 0644 "$mnt/fifo"
mknod -m 0640 "$mnt/null2" c 1 3
umount "$mnt"
check "commit layer 2 (overlay upper dir)" "$IMGBUILD" layer-commit --from test/layers:1 -m changes "$T/u1" test/layers:2

# layer 3 on top of layers 1 and 2
ovl "$T/u1:$B" "$T/u2" "$T/w2"
rm "$mnt/renamed"
echo again > "$mnt/d1/a"                         # whiteout in layer 2, file again in 3
rm -rf "$mnt/gone"                               # a dir from layer 2 deleted
python3 -c "import os; os.removexattr('$mnt/x', 'user.gone')"
ln "$mnt/hl-a" "$mnt/hl-c"                       # link to a lower file: copy-up
ln -sfn elsewhere "$mnt/chg/retarget"
touch -d @1200000000 "$mnt/touch-me"             # mtime only
umount "$mnt"
check "commit layer 3 (overlay upper dir)" "$IMGBUILD" layer-commit --from test/layers:2 -m more "$T/u2" test/layers:3

# each image, saved and unpacked by umoci, equals the merged overlay view
for spec in "2:$T/u1:$B" "3:$T/u2:$T/u1:$B"; do
    tag=${spec%%:*}
    lowers=${spec#*:}
    ovl "$lowers"
    dump "$mnt" > "$T/want$tag"
    umount "$mnt"
    check "save layers:$tag (OCI, gzip)" "$IMGBUILD" save -o "$T/l$tag.tar" test/layers:$tag
    rm -rf "$T/oci$tag" && mkdir "$T/oci$tag" && tar -C "$T/oci$tag" -xf "$T/l$tag.tar"
    check "umoci unpack layers:$tag" umoci unpack --image "$T/oci$tag:docker.io/test/layers:$tag" "$T/bundle$tag"
    dump "$T/bundle$tag/rootfs" > "$T/got$tag"
    check "layers:$tag: umoci's rootfs equals the merged overlay view" diff -u "$T/want$tag" "$T/got$tag"
done

# the dump saw what the layers were meant to make (so the comparison is not vacuous)
check "merged view: opaque dir, rename, links, xattrs, modes" sh -c "
    grep -q '^gone/new ' '$T/want2' && ! grep -q '^gone/deep' '$T/want2' &&
    grep -q '^renamed ' '$T/want2' && ! grep -q '^rename-me ' '$T/want2' &&
    grep -q '^dir-renamed/inner/x ' '$T/want2' && ! grep -q '^dir-rename/' '$T/want2' &&
    grep -q '^hardlinks h1 h2\$' '$T/want2' && grep -q '^hardlinks hl-a hl-b\$' '$T/want2' &&
    grep -q '^d1/link 120777 0:0 -> ../etc/passwd' '$T/want2' &&
    grep -q '^x .*security.capability=0000000200040000' '$T/want2' &&
    grep -q '^x .*user.gone=' '$T/want2' && grep -q '^chmod-me 100600 ' '$T/want2' &&
    grep -q '^chown-me 100644 7:8 ' '$T/want2' && grep -q '^null2 20640 0:0 dev=1,3' '$T/want2' &&
    grep -q '^fifo 10644 ' '$T/want2' && grep -q '^keep 100644 12:34 .*user.base=31' '$T/want2' &&
    grep -q '^d1/a 100644 .*size=6 ' '$T/want3' && ! grep -q '^gone' '$T/want3' &&
    ! grep -q '^x .*user.gone=' '$T/want3' && grep -q '^hardlinks hl-a hl-c\$' '$T/want3' &&
    grep -q '^chg/retarget .*-> elsewhere' '$T/want3' && grep -q '^touch-me .*mtime=1200000000' '$T/want3'"
check "layer 2 tar has the OCI whiteouts" sh -c "
    d=\$('$IMGBUILD' inspect test/layers:2 | jq -r '.[0].RootFS.Layers[1]' | cut -d: -f2) &&
    tar -tvf '$IMGBUILD_ROOT/blobs/sha256/'\$d > '$T/l2.lst' &&
    grep -q ' d1/.wh.a\$' '$T/l2.lst' && grep -q ' gone/.wh..wh..opq\$' '$T/l2.lst' &&
    grep -q ' .wh.rename-me\$' '$T/l2.lst' && grep -q ' .wh.dir-rename\$' '$T/l2.lst' &&
    grep -q ' h2 link to h1\$' '$T/l2.lst'"
check "fsck clean" "$IMGBUILD" fsck
echo "1..$n"
[ $fails -eq 0 ]
