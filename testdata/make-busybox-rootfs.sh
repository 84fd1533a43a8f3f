#!/bin/sh
# Make a tiny busybox root filesystem offline, from Debian's busybox-static.
#   testdata/make-busybox-rootfs.sh DIR          the tree
#   testdata/make-busybox-rootfs.sh DIR TARBALL  the tree, plus a reproducible tar of it
# Every file gets mtime 2024-01-01 and uid/gid 0, so the tarball's bytes are stable.
set -eu
dir=$1
tarball=${2:-}
bb=$(command -v busybox || true)
if [ -z "$bb" ] || ! [ -x /bin/busybox ]; then
    echo "make-busybox-rootfs: busybox-static is not installed (tests/deps.sh test)" >&2
    exit 1
fi
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev var/tmp home
chmod 1777 tmp var/tmp
chmod 700 root
cp /bin/busybox bin/busybox
/bin/busybox --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    rel=$(dirname "$applet" | sed -e 's|[^/][^/]*|..|g')
    ln -sf "$rel/bin/busybox" "$applet"
done
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app user:/home/app:/bin/sh
P
cat > etc/group <<'G'
root:x:0:
daemon:x:1:
wheel:x:10:app
staff:x:50:app
nogroup:x:65534:
app:x:1000:
G
echo 'root:*:19000:0:99999:7:::' > etc/shadow
chmod 640 etc/shadow
mkdir -p home/app && chown 1000:1000 home/app
printf '127.0.0.1\tlocalhost\n' > etc/hosts
find . -exec touch -h -d '2024-01-01 00:00:00 UTC' {} +
if [ -n "$tarball" ]; then
    case $tarball in /*) ;; *) tarball=$OLDPWD/$tarball ;; esac
    tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00:00 UTC' \
        --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -cf "$tarball" .
fi
