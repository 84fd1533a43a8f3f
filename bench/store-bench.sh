#!/bin/sh
# bench/store-bench.sh: layer commit and export speed, and peak RSS.
#   make && bench/store-bench.sh [WORKDIR]
# Commit of a 200 MiB random file + 2000 small files vs `tar -c | sha256sum`
# (the floor) and `tar -c | gzip -1 | sha256sum`; export to gzip vs `gzip -1`.
# Commit mode: without STORE_COMMIT_MOVE (the snapshot is unpacked from the
# blob, as for a COPY-made dir), and the upper-dir case is the same tar pass.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$(mktemp -d /tmp/ib-bench.XXXXXX)}
pkgs="libarchive openssl jansson libcurl zlib libzstd libdeflate"
cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$root" -o "$W/layer_bench" "$root/bench/layer_bench.c" \
    "$root/build/libimgbuild.a" $(pkg-config --libs $pkgs) -lpthread
rm -rf "$W/tree" "$W/store" "$W/store.snapshots"
mkdir -p "$W/tree/small"
head -c $((200 * 1024 * 1024)) /dev/urandom > "$W/tree/big"
i=0
while [ $i -lt 2000 ]; do head -c $((i % 4096 + 1)) /dev/urandom > "$W/tree/small/f$i"; i=$((i + 1)); done
sync
cat "$W/tree/big" > /dev/null
t() { /usr/bin/time -f "%e %M" -o "$W/time" "$@"; cat "$W/time"; }
floor=$(t sh -c "tar -C '$W/tree' -cf - . | sha256sum >/dev/null")
gz=$(t sh -c "tar -C '$W/tree' -cf - . | gzip -1 | sha256sum >/dev/null")
ib=$(t "$W/layer_bench" "$W/store" "$W/tree" >"$W/o1"; cat "$W/time")
rm -rf "$W/store" "$W/store.snapshots"
mv=$(BENCH_MOVE=1 t "$W/layer_bench" "$W/store" "$W/tree" >"$W/o2"; cat "$W/time")
blob=$(ls -S "$W/store/blobs/sha256" | head -1)
gzip1=$(t sh -c "gzip -1 -c '$W/store/blobs/sha256/$blob' >/dev/null")
rm -rf "$W/store" "$W/store.snapshots"
exp=$(t "$W/layer_bench" "$W/store" "$W/tree" gzip >"$W/o3"; cat "$W/time")
gzt=$(grep '^gzip' "$W/o3" | awk '{print $2}')
echo "(seconds, peak RSS KiB)"
echo "commit, snapshot unpacked from the blob:  $ib"
echo "commit, upper dir moved as snapshot:      $mv"
echo "tar -c | sha256sum (floor):               $floor"
echo "tar -c | gzip -1 | sha256sum:             $gz"
awk -v a="${ib%% *}" -v m="${mv%% *}" -v f="${floor%% *}" -v g="${gz%% *}" 'BEGIN {
    printf "ratio vs floor: %.2fx (unpacked), %.2fx (moved); vs gzip pipeline %.2fx / %.2fx\n",
           a / f, m / f, a / g, m / g }'
echo "export to gzip ($(nproc) threads): $gzt s, peak RSS ${exp#* } KiB; gzip -1 of the same tar: $gzip1"
awk -v a="$gzt" -v g="${gzip1%% *}" 'BEGIN { printf "export speedup vs gzip -1: %.2fx\n", g / a }'
rm -rf "$W"
