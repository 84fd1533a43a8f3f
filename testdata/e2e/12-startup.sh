#!/bin/sh
# testdata/e2e/12-startup.sh: libcurl is loaded on first registry use only
# (registry/curl_load.c).  Local commands and builds never load it (LD_DEBUG=files
# of every process they start); pull and push do, against Debian's docker-registry
# on a free loopback port; and with a broken libcurl.so.4 first on the library
# path, registry commands fail with one clear line while local builds still work.
# Likewise libarchive (store/archive_load.c): loaded only by what reads or writes
# a tar (a build that makes a layer, pull --unpack), not by images, pull or a
# cached build; a broken libarchive.so.13 stops such a command with one clear
# line, and the store is whole afterwards.
# Needs root (RUN), busybox-static, docker-registry, readelf.  TAP output.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/testdata/e2e/lib.sh"
. "$here/testdata/registry/helpers.sh" # PY, pids, free_port, start_registry
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and busybox docker-registry readelf
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }

# traced NAME CMD...: run CMD with the dynamic loader's file log of every process it
# starts in $T/ld-NAME.PID; its output in $T/NAME.out, its status in $T/NAME.rc
traced() {
    _name=$1
    shift
    LD_DEBUG=files LD_DEBUG_OUTPUT="$T/ld-$_name" "$@" >"$T/$_name.out" 2>&1
    echo $? >"$T/$_name.rc"
}
ok() { [ "$(cat "$T/$1.rc")" -eq 0 ] || { cat "$T/$1.out"; return 1; }; }
loaded_curl() { grep -h 'file=libcurl\.so\.4 ' "$T"/ld-"$1".* 2>/dev/null | grep -q .; }
loaded_archive() { grep -h 'file=libarchive\.so\.13 ' "$T"/ld-"$1".* 2>/dev/null | grep -q .; }
traced_at_all() { ls "$T"/ld-"$1".* >/dev/null 2>&1; } # the log exists: the check can fail

# ---- the executable ------------------------------------------------------------------
t "imgbuild is not linked with libcurl" eval "! readelf -d '$IMGBUILD' | grep -q 'libcurl'"
# defined dynamic symbols (not UND) named curl_*
exported_curl() { readelf -W --dyn-syms "$IMGBUILD" | awk '$7 != "UND" && $8 ~ /^curl_/' | grep .; }
t_fail "it exports no curl_ symbols (they would interpose libcurl's own calls)" exported_curl
t "imgbuild is not linked with libarchive" eval "! readelf -d '$IMGBUILD' | grep -q 'libarchive'"
exported_archive() { readelf -W --dyn-syms "$IMGBUILD" | awk '$7 != "UND" && $8 ~ /^archive_/' | grep .; }
t_fail "it exports no archive_ symbols" exported_archive

# ---- local commands and builds ---------------------------------------------------------
traced images "$IMGBUILD" images
t "images works" ok images
t "the loader's file log was written (LD_DEBUG_OUTPUT)" traced_at_all images
t_fail "images does not load libcurl" loaded_curl images
t_fail "images does not load libarchive" loaded_archive images

mkdir -p "$T/scratch"
echo hello >"$T/scratch/hello.txt"
printf 'FROM scratch\nCOPY hello.txt /\nENV A=1\nLABEL x=y\n' >"$T/scratch/Dockerfile"
traced scratch "$IMGBUILD" build -q -t scratch:1 "$T/scratch"
t "a FROM scratch build works" ok scratch
t_fail "a FROM scratch build does not load libcurl" loaded_curl scratch
t "it loads libarchive (COPY makes a layer)" loaded_archive scratch

mkdir -p "$T/bb"
printf 'FROM busybox:latest\nRUN echo one >/one\nRUN cat /one >/two\n' >"$T/bb/Dockerfile"
traced bb "$IMGBUILD" build -q -t bb:1 "$T/bb"
t "a build with RUN steps over a local base image works" ok bb
t_fail "it does not load libcurl" loaded_curl bb
traced bb2 "$IMGBUILD" build -q -t bb:1 "$T/bb"
t "the same build again (all cached) works" ok bb2
t_fail "it does not load libcurl" loaded_curl bb2
t_fail "it does not load libarchive" loaded_archive bb2

# ---- registry commands -------------------------------------------------------------------
P=$(free_port)
start_registry plain "$P" || { echo "not ok - docker-registry did not start"; done_testing; exit 1; }
traced push "$IMGBUILD" push bb:1 "127.0.0.1:$P/e2e/bb:1"
t "push to a loopback registry works" ok push
t "push loads libcurl" loaded_curl push
"$IMGBUILD" rmi "127.0.0.1:$P/e2e/bb:1" >/dev/null 2>&1
traced pull "$IMGBUILD" pull "127.0.0.1:$P/e2e/bb:1"
t "pull works" ok pull
t "pull loads libcurl" loaded_curl pull
t_fail "pull does not load libarchive (layers are unpacked when needed)" loaded_archive pull
traced pullu env IMGBUILD_ROOT="$T/ustore" "$IMGBUILD" pull --unpack "127.0.0.1:$P/e2e/bb:1"
t "pull --unpack works" ok pullu
t "pull --unpack loads libarchive" loaded_archive pullu

# ---- libcurl missing -----------------------------------------------------------------------
# an empty libcurl.so.4 first on the library path: dlopen fails ("file too short")
mkdir -p "$T/nolib"
: >"$T/nolib/libcurl.so.4"
nolib() { LD_LIBRARY_PATH="$T/nolib" "$IMGBUILD" "$@"; }
# fails_clearly NAME: status 1 (no crash), and stderr is the one line naming libcurl4
fails_clearly() {
    [ "$(cat "$T/$1.rc")" -eq 1 ] && [ "$(wc -l <"$T/$1.err")" -eq 1 ] &&
        grep -qE '^imgbuild: .*registry access needs libcurl \(Debian package libcurl4\): .*libcurl\.so\.4' "$T/$1.err" ||
        { echo "status $(cat "$T/$1.rc"), stderr:"; cat "$T/$1.err"; return 1; }
}
run_nolib() { # NAME ARGS...
    _name=$1
    shift
    nolib "$@" >"$T/$_name.out" 2>"$T/$_name.err" </dev/null
    echo $? >"$T/$_name.rc"
}
run_nolib np pull "127.0.0.1:$P/e2e/bb:1"
t "without libcurl, pull fails with one clear line and status 1" fails_clearly np
note "$(cat "$T/np.err")"
run_nolib nq push bb:1 "127.0.0.1:$P/e2e/other:1"
t "without libcurl, push fails the same way" fails_clearly nq
printf 'FROM 127.0.0.1:%s/e2e/notpulled:1\nRUN true\n' "$P" >"$T/remote.Dockerfile"
run_nolib nb build -q -f "$T/remote.Dockerfile" "$T/bb"
t "without libcurl, a build whose base image must be pulled fails the same way" fails_clearly nb
run_nolib nl login -u u -p p "127.0.0.1:$P"
t "without libcurl, login fails the same way" fails_clearly nl
printf 'FROM busybox:latest\nRUN echo three >/three\n' >"$T/bb/Dockerfile.local"
run_nolib nok build -q -t bb:2 -f "$T/bb/Dockerfile.local" "$T/bb"
t "without libcurl, a local build still works" eval "[ \"\$(cat $T/nok.rc)\" -eq 0 ] || { cat $T/nok.err; false; }"
t "the fake library was in the way (the check can fail)" eval "LD_LIBRARY_PATH=$T/nolib LD_DEBUG=libs $IMGBUILD pull 127.0.0.1:$P/e2e/bb:1 2>&1 | grep -q 'trying file=$T/nolib/libcurl.so.4'"

# ---- libarchive missing ----------------------------------------------------------------------
mkdir -p "$T/noarch"
: >"$T/noarch/libarchive.so.13"
noarch() { LD_LIBRARY_PATH="$T/noarch" "$IMGBUILD" "$@"; }
printf 'FROM busybox:latest\nRUN echo four >/four\n' >"$T/bb/Dockerfile.arch"
noarch build -q -t bb:3 -f "$T/bb/Dockerfile.arch" "$T/bb" >"$T/na.out" 2>"$T/na.err" </dev/null
echo $? >"$T/na.rc"
t "without libarchive, a build that makes a layer stops with status 127 and one clear line" eval \
    "[ \"\$(cat $T/na.rc)\" -eq 127 ] && [ \"\$(wc -l <$T/na.err)\" -eq 1 ] &&
     grep -qE '^imgbuild: cannot load libarchive \(Debian package libarchive13\): .*libarchive\.so\.13' $T/na.err ||
     { echo status \$(cat $T/na.rc); cat $T/na.err; false; }"
note "$(cat "$T/na.err")"
t "without libarchive, images still works" eval "noarch images >/dev/null"
t_fail "the failed build tagged nothing" eval "'$IMGBUILD' images | grep -qE '^bb +3 '"
t "with libarchive back, the same build works" eval "'$IMGBUILD' build -q -t bb:3 -f '$T/bb/Dockerfile.arch' '$T/bb' >/dev/null"
t "and the store checks out whole (fsck)" eval "'$IMGBUILD' fsck >/dev/null"

done_testing
