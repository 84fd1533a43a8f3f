#!/bin/sh
# End-to-end test of the Dockerfiles/debian-c example: a Debian 12 minbase image made with
# debootstrap (testdata/make-debian-rootfs.sh, the machine's apt mirror), imported, then a
# multi-stage build that installs gcc with apt-get, compiles a C program and copies the static
# binary into a scratch image; runc runs it; a rebuild is fully cached.
# The rootfs tar is cached in build/debian-rootfs/ under the hash of the script that makes it,
# so repeated local runs skip debootstrap; a clean checkout (CI) makes it.
# Needs root, network access to the Debian mirror, debootstrap, umoci, runc and jq.
. testdata/e2e/lib.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
for tool in debootstrap umoci runc jq; do
    if ! command -v $tool >/dev/null; then
        echo "not ok 1 - 35-debian needs $tool (tests/deps.sh test)"
        exit 1
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    echo "not ok 1 - the debian test needs root"
    exit 1
fi
export IMGBUILD_ROOT="$T/store"

# ---- the base image: debootstrap, cached by the script's hash ---------------------------
cache=build/debian-rootfs
key=$(sha256sum testdata/make-debian-rootfs.sh | cut -c1-16)
tar=$cache/bookworm-minbase-$key.tar
if [ -s "$tar" ]; then
    note "using the cached rootfs $tar"
    t "the Debian rootfs tar is there (cached)" test -s "$tar"
else
    mkdir -p "$cache"
    find "$cache" -maxdepth 1 -name 'bookworm-minbase-*.tar' -delete
    t "debootstrap --variant=minbase bookworm makes a rootfs tar" \
        sh -c "testdata/make-debian-rootfs.sh '$T/rootfs' '$T/deb.tar' && mv '$T/deb.tar' '$tar'"
    rm -rf "$T/rootfs"
fi
t "the tar has no absolute or device entries, and is Debian (apt-get, os-release)" \
    sh -c "tar -tvf '$tar' >'$T/list' && ! grep -q '^[cb]' '$T/list' &&
           ! awk '{print \$6}' '$T/list' | grep -q '^/' &&
           grep -q ' ./usr/bin/apt-get$' '$T/list' && grep -q ' ./usr/lib/os-release$' '$T/list'"
t "the tar keeps Debian's owners (shadow group on /etc/shadow)" \
    sh -c "grep ' ./etc/shadow$' '$T/list' | grep -q '^-rw-r----- 0/42 '"
t "import it as debian:bookworm-minbase" "$IMGBUILD" import "$tar" debian:bookworm-minbase

# ---- the example ------------------------------------------------------------------------
# build LOG ARGS...: a plain-progress build, its log in $T/LOG.log, status in $T/LOG.rc
build c1 -t debian-c:1 Dockerfiles/debian-c
t "debian-c builds (apt-get install gcc, compile, copy into scratch)" \
    sh -c "[ \$(cat '$T/c1.rc') -eq 0 ] || { tail -n 30 '$T/c1.log'; exit 1; }"
t "the build stage ran the program (RUN output in the log)" grep -q '^#5 fib(10) = 55$' "$T/c1.log"
layers() { "$IMGBUILD" inspect debian-c:1 | jq -c '.[0].RootFS.Layers'; }
layers >"$T/layers1"
t "the final image is one small layer" \
    sh -c "[ \"\$('$IMGBUILD' inspect debian-c:1 | jq -r '.[0].RootFS.Layers | length')\" = 1 ]"

rm -rf "$T/u"
t "umoci unpacks the image" umoci unpack --image "$IMGBUILD_ROOT:docker.io/library/debian-c:1" "$T/u"
t "the rootfs holds only the binary" \
    sh -c "[ \"\$(cd '$T/u/rootfs' && find . -type f)\" = ./usr/local/bin/hello ] &&
           [ \$(stat -c %s '$T/u/rootfs/usr/local/bin/hello') -lt 2000000 ]"
run_c() {
    jq '.process.terminal = false' "$T/u/config.json" >"$T/u/c.json" &&
        mv "$T/u/c.json" "$T/u/config.json" || return 1
    runc run --bundle "$T/u" "ibt-$$-debc" >"$T/c.run" 2>&1 </dev/null
    r=$?
    runc delete -f "ibt-$$-debc" >/dev/null 2>&1
    return $r
}
t "runc runs its CMD" run_c
t "it prints the program's output" \
    sh -c "grep -q '^Hello from C, compiled by gcc 12\\.' '$T/c.run' &&
           grep -qx 'fib(50) = 12586269025' '$T/c.run'"

build c2 -t debian-c:1 Dockerfiles/debian-c
t "a rebuild succeeds" test "$(cat "$T/c2.rc")" -eq 0
t "a rebuild is fully cached (every RUN/WORKDIR/COPY step)" \
    sh -c "[ \$(grep -c ' CACHED\$' '$T/c2.log') -eq 5 ] && ! grep -q '^#[0-9]* DONE .*(cpu' '$T/c2.log'"
t "a rebuild gives the same layer" sh -c "[ \"\$(cat '$T/layers1')\" = '$(layers)' ]"
done_testing
