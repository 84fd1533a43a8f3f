#!/bin/sh
# Install what `make bench` needs on Debian 12, through apt-get only: the two peers
# (BuildKit through docker.io's dockerd and client, Buildah), the tools the bench uses
# to time and measure, and busybox-static for the offline base image.  The tests never
# need these (tests/deps.sh installs the test dependencies).
set -eu
pkgs="docker.io buildah runc busybox-static time bc python3 coreutils"
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/deps.sh: run as root (it calls apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
echo "bench/deps.sh: benchmark dependencies installed"
