#!/bin/sh
# Make a Debian 12 (bookworm) minbase root filesystem with debootstrap.
#   testdata/make-debian-rootfs.sh DIR          the tree
#   testdata/make-debian-rootfs.sh DIR TARBALL  the tree, plus a tar of it for `imgbuild import`
# The mirror is the machine's own: the first `deb` source for bookworm in
# /etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources}, read at run time
# ($IB_DEBIAN_MIRROR overrides it).  debootstrap's download cache, apt's lists, logs, device
# nodes and *-old backups are removed, as in Docker's own Debian images.  The tar is written
# like make-busybox-rootfs.sh writes its own: sorted names, uid/gid 0 owners kept numeric, every
# mtime 2024-01-01, no atime/ctime, so two tars of the same tree are byte-identical.
# Needs root and debootstrap (tests/deps.sh test).
set -eu
dir=$1
tarball=${2:-}
suite=bookworm
if ! command -v debootstrap >/dev/null; then
    echo "make-debian-rootfs: debootstrap is not installed (tests/deps.sh test)" >&2
    exit 1
fi

# The first deb URI for $suite in the machine's apt sources (one-line and deb822 forms).
apt_mirror() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v s="$suite" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == s) { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v s="$suite" '
            function flush() {
                if (!found && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") &&
                    uri != "" && enabled != "no") { print uri; found = 1; exit }
                types = suites = uri = enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:" { $1 = ""; types = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { flush() }' "$f"
    done
}
mirror=${IB_DEBIAN_MIRROR:-$(apt_mirror | head -n1)}
if [ -z "$mirror" ]; then
    echo "make-debian-rootfs: no 'deb' source for $suite in /etc/apt/sources.list{,.d/}" >&2
    exit 1
fi

rm -rf "$dir"
mkdir -p "$dir"
if ! debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1; then
    tail -n 20 "$dir.debootstrap.log" >&2
    echo "make-debian-rootfs: debootstrap failed (log: $dir.debootstrap.log)" >&2
    exit 1
fi
rm -f "$dir.debootstrap.log"
cd "$dir"
rm -rf dev/* var/cache/apt/archives/*.deb var/cache/apt/*.bin var/cache/ldconfig/aux-cache \
    var/lib/dpkg/*-old var/cache/debconf/*-old var/log/apt/* var/log/*.log
find var/lib/apt/lists -mindepth 1 -maxdepth 1 ! -name partial ! -name lock -exec rm -rf {} +
for f in var/log/btmp var/log/wtmp var/log/lastlog var/log/faillog; do
    [ -e "$f" ] && : >"$f"
done
find . -exec touch -h -d '2024-01-01 00:00:00 UTC' {} +
if [ -n "$tarball" ]; then
    case $tarball in /*) ;; *) tarball=$OLDPWD/$tarball ;; esac
    tar --sort=name --numeric-owner --mtime='2024-01-01 00:00:00 UTC' \
        --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -cf "$tarball" .
fi
