#!/bin/sh
# Install what imgbuild needs on Debian 12, through apt-get only.
#   tests/deps.sh build   compiler, re2c, the -dev libraries, busybox-static (the offline
#                         base image of `make demo`) and git (run by ADD <git ref>)
#   tests/deps.sh test    the above plus every tool the tests use
set -eu
what=${1:-build}
# libcurl4: dlopen()ed on first registry use (not linked), so named here on its own
build_pkgs="make gcc pkg-config re2c libarchive-dev libssl-dev libjansson-dev libcurl4-openssl-dev
            libcurl4 zlib1g-dev libzstd-dev libdeflate-dev libseccomp-dev busybox-static git"
# clang + libclang-rt-14-dev: the libFuzzer target; the rest are the real peers the
# tests check imgbuild's output with (see README "Tests"); dropbear-bin is the ssh server
# of ADD over ssh (binaries only: unlike openssh-server it starts no service on install)
test_pkgs="clang libclang-rt-14-dev jq skopeo umoci oci-image-tool runc
           docker-registry apache2-utils openssl curl python3 python3-jwt python3-cryptography
           attr iproute2 util-linux debootstrap openssh-client dropbear-bin strace"
case $what in
build) pkgs=$build_pkgs ;;
test) pkgs="$build_pkgs $test_pkgs" ;;
*) echo "usage: tests/deps.sh build|test" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/deps.sh: run as root (it calls apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $pkgs >/dev/null
echo "tests/deps.sh: $what dependencies installed"
