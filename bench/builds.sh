#!/bin/sh
# bench/builds.sh: imgbuild vs BuildKit (dockerd 20.10) vs Buildah 1.28 on the same
# Dockerfiles, in one run, FROM the same local busybox image made offline.
#
#   steps50  50 trivial RUN steps (RUN echo N > /fN)
#   copy     COPY of a 215 MB context (2000 small files + one 200 MiB random file), one RUN
#   stages3  a 3-stage build with COPY --from
#
# Each scenario is built cold (no cache, no context cache; only the base image is local)
# and then warm (everything cached), RUNS times (default 3), interleaving the tools (their
# order rotates every round).  Prints the median times, the ratios imgbuild/BuildKit and
# imgbuild/Buildah against the targets of issue 5, and imgbuild's peak RSS (GNU time, which
# includes the RUN processes imgbuild waits for).
#
# The peers, as they run on this machine (see ../shared/peers.md):
#   BuildKit: dockerd from Debian's docker.io, started here on a temp data/exec root and a
#             private socket (--bridge=none --iptables=false --ip6tables=false, overlay2),
#             driven by `DOCKER_BUILDKIT=1 /usr/bin/docker build --network host` (the Debian
#             client by full path: another `docker` earlier on PATH may lack BuildKit)
#   Buildah:  buildah --root/--runroot in temp dirs, overlay, bud --isolation chroot --layers
# Needs root, a built ./imgbuild (or $IMGBUILD) and bench/deps.sh.  These machines are
# noisy: only the ratios measured within one run mean something.
# SCENARIOS and TOOLS (space-separated) narrow a run down, e.g. for a quick check:
#   SCENARIOS=steps50 TOOLS="imgbuild buildkit" bench/builds.sh
set -eu
RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-steps50 copy stages3}
TOOLS=${TOOLS:-imgbuild buildkit buildah}
IMGBUILD=${IMGBUILD:-$(pwd)/imgbuild}
DOCKER=${DOCKER:-/usr/bin/docker}
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
here=$(cd "$(dirname "$0")/.." && pwd)

die() {
    echo "bench/builds.sh: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$IMGBUILD" ] || die "no $IMGBUILD: run make first"
for tool in "$DOCKERD" "$DOCKER" buildah /usr/bin/time python3 busybox; do
    command -v "$tool" >/dev/null || die "$tool is missing: run bench/deps.sh"
done
dpkg -L docker.io 2>/dev/null | grep -qx "$DOCKER" ||
    echo "bench/builds.sh: warning: $DOCKER is not docker.io's client" >&2

# a short temp dir: dockerd's and containerd's unix socket paths live under it
T=$(mktemp -d /tmp/ibb.XXXXXX)
dpid=""
cleanup() {
    set +e
    if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
        kill -TERM "$dpid"
        n=0
        while kill -0 "$dpid" 2>/dev/null && [ $n -lt 150 ]; do
            sleep 0.2
            n=$((n + 1))
        done
        kill -0 "$dpid" 2>/dev/null && kill -KILL "$dpid"
        wait "$dpid" 2>/dev/null
    fi
    # dockerd stops the containerd it started; make sure of it (by its pid file only)
    cpid=$(cat "$T/dexec/containerd/containerd.pid" 2>/dev/null)
    [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null && kill -TERM "$cpid" && sleep 1
    buildah --root "$T/bh" --runroot "$T/bhrun" --storage-driver overlay umount -a \
        >/dev/null 2>&1
    # whatever the daemons and buildah's storage left mounted under $T, deepest first
    awk -v t="$T" 'index($2, t "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
        while read -r m; do umount -l "$m"; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- the base image and the contexts ---------------------------------------------------
echo "preparing the base image and the contexts in $T ..." >&2
"$here"/testdata/make-busybox-rootfs.sh "$T/bbroot" "$T/busybox.tar" >/dev/null
export IMGBUILD_ROOT="$T/ib"
"$IMGBUILD" import "$T/busybox.tar" busybox:bench >/dev/null
"$IMGBUILD" save --format docker -o "$T/busybox-docker.tar" busybox:bench

C=$T/ctx
mkdir -p "$C/steps50" "$C/copy" "$C/stages3"
{
    echo "FROM busybox:bench"
    i=1
    while [ $i -le 50 ]; do
        echo "RUN echo $i > /f$i"
        i=$((i + 1))
    done
} >"$C/steps50/Dockerfile"

cat >"$C/copy/Dockerfile" <<'EOF'
FROM busybox:bench
COPY . /data/
RUN test -f /data/big.bin && ls /data/files/* | wc -l > /count
EOF
python3 - "$C/copy" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(5)
for i in range(2000):
    d = os.path.join(root, "files", "d%02d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%04d" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(1, 5000)))
with open(os.path.join(root, "big.bin"), "wb") as f:
    for _ in range(200):
        f.write(os.urandom(1 << 20))
EOF

cat >"$C/stages3/Dockerfile" <<'EOF'
FROM busybox:bench AS gen
RUN mkdir -p /out/gen && seq 1 20000 > /out/gen/numbers && echo gen > /out/gen/name
FROM busybox:bench AS conf
WORKDIR /out/conf
RUN echo "port=8080" > app.conf && echo conf > name
FROM busybox:bench
COPY --from=gen /out/gen/ /opt/gen/
COPY --from=conf /out/conf/ /opt/conf/
RUN wc -l /opt/gen/numbers > /opt/summary && cat /opt/gen/name /opt/conf/name >> /opt/summary
EOF
ctxsize=$(du -sb "$C/copy" | cut -f1)

# ---- the peers ---------------------------------------------------------------------------
echo "starting dockerd ..." >&2
"$DOCKERD" --data-root "$T/docker" --exec-root "$T/dexec" --pidfile "$T/dockerd.pid" \
    -H "unix://$T/d.sock" --iptables=false --ip6tables=false --bridge=none \
    --storage-driver overlay2 >"$T/dockerd.log" 2>&1 &
dpid=$!
export DOCKER_HOST="unix://$T/d.sock" DOCKER_BUILDKIT=1
n=0
until "$DOCKER" version >/dev/null 2>&1; do
    n=$((n + 1))
    [ $n -lt 150 ] && kill -0 $dpid 2>/dev/null || {
        tail -20 "$T/dockerd.log" >&2
        die "dockerd did not start"
    }
    sleep 0.2
done
"$DOCKER" load -i "$T/busybox-docker.tar" >/dev/null
bh() { buildah --root "$T/bh" --runroot "$T/bhrun" --storage-driver overlay "$@"; }
bh pull -q "docker-archive:$T/busybox-docker.tar" >/dev/null

# ---- one build ---------------------------------------------------------------------------
# reset TOOL SCENARIO: drop everything a build of SCENARIO left (not the base image)
reset() {
    case $1 in
    imgbuild)
        rm -rf "$T/ib" "$T/ib.snapshots"
        "$IMGBUILD" import "$T/busybox.tar" busybox:bench >/dev/null
        ;;
    buildkit)
        "$DOCKER" rmi -f "$2:bench" >/dev/null 2>&1 || true
        "$DOCKER" builder prune -af >/dev/null
        ;;
    buildah)
        bh rmi -f "$2:bench" >/dev/null 2>&1 || true
        bh rmi --prune >/dev/null 2>&1 || true
        ;;
    esac
}
# build TOOL SCENARIO: one timed build; appends the milliseconds to $T/res/TOOL.SCENARIO.$KIND
# and imgbuild's peak RSS (KiB) to $T/res/rss.SCENARIO
build() {
    tool=$1 sc=$2
    case $tool in
    imgbuild) set -- "$IMGBUILD" build -q -t "$sc:bench" "$C/$sc" ;;
    buildkit) set -- "$DOCKER" build --network host -q -t "$sc:bench" "$C/$sc" ;;
    buildah)
        set -- buildah --root "$T/bh" --runroot "$T/bhrun" --storage-driver overlay bud \
            --isolation chroot --layers --pull-never -q -t "$sc:bench" -f "$C/$sc/Dockerfile" \
            "$C/$sc"
        ;;
    esac
    sync
    t0=$(now_ms)
    if ! /usr/bin/time -f %M -o "$T/rss" "$@" >"$T/out" 2>"$T/err"; then
        tail -20 "$T/err" >&2
        die "$tool $KIND build of $sc failed"
    fi
    t1=$(now_ms)
    echo $((t1 - t0)) >>"$T/res/$tool.$sc.$KIND"
    [ "$tool" = imgbuild ] && cat "$T/rss" >>"$T/res/rss.$sc"
    return 0
}

mkdir -p "$T/res"
tools=$TOOLS
round=1
while [ $round -le "$RUNS" ]; do
    echo "round $round of $RUNS ..." >&2
    for sc in $SCENARIOS; do
        for tool in $tools; do
            reset $tool $sc
            KIND=cold build $tool $sc
            KIND=warm build $tool $sc
        done
    done
    tools="${tools#* } ${tools%% *}" # rotate the order
    round=$((round + 1))
done

# ---- the table ---------------------------------------------------------------------------
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
runs() { tr '\n' ' ' <"$1" | sed 's/ $//; s/ /, /g'; }
echo
echo "imgbuild vs BuildKit (dockerd $("$DOCKER" version --format '{{.Server.Version}}')) vs" \
    "$(buildah --version | cut -d' ' -f1-3), median of $RUNS, $(date -u +%Y-%m-%d),"
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); copy context" \
    "$((ctxsize / 1000000)) MB"
printf '%-14s %10s %10s %10s %8s %9s %8s  %s\n' scenario "imgbuild" "BuildKit" "Buildah" \
    "ib/BK" "target" "ib/Bah" "ok"
fails=0
for tool in imgbuild buildkit buildah; do
    for sc in $SCENARIOS; do
        for kind in cold warm; do
            [ -s "$T/res/$tool.$sc.$kind" ] || echo 0 >"$T/res/$tool.$sc.$kind"
        done
    done
done
for sc in $SCENARIOS; do
    for kind in cold warm; do
        ib=$(median "$T/res/imgbuild.$sc.$kind")
        bk=$(median "$T/res/buildkit.$sc.$kind")
        ba=$(median "$T/res/buildah.$sc.$kind")
        case $sc.$kind in
        steps50.cold) target=0.125 ;;
        copy.cold) target=0.4 ;;
        stages3.cold) target=0.35 ;;
        *) target=0.3 ;;
        esac
        line=$(awk -v ib="$ib" -v bk="$bk" -v ba="$ba" -v tg="$target" -v n="$sc $kind" 'BEGIN {
            r = bk ? ib / bk : 0
            printf "%-14s %9.2fs %9.2fs %9.2fs %8.3f %9s %8.3f  %s", n, ib / 1000, bk / 1000,
                ba / 1000, r, "<= " tg, (ba ? ib / ba : 0), (bk == 0 ? "-" : r <= tg ? "yes" : "NO")
        }')
        echo "$line"
        case $line in *NO) fails=$((fails + 1)) ;; esac
    done
done
cat "$T"/res/rss.* >"$T/res/rss.all"
rss=$(sort -n "$T/res/rss.all" | tail -1)
awk -v k="$rss" 'BEGIN { printf "imgbuild peak RSS (max of every build): %.1f MiB (target <= 32 MiB): %s\n",
    k / 1024, (k <= 32768 ? "yes" : "NO") }'
[ "$rss" -le 32768 ] || fails=$((fails + 1))
echo
echo "every run (ms; rounds in order; 0 = not run):"
for sc in $SCENARIOS; do
    for kind in cold warm; do
        printf '  %-14s imgbuild %s; BuildKit %s; Buildah %s\n' "$sc $kind" \
            "$(runs "$T/res/imgbuild.$sc.$kind")" "$(runs "$T/res/buildkit.$sc.$kind")" \
            "$(runs "$T/res/buildah.$sc.$kind")"
    done
    printf '  %-14s imgbuild peak RSS KiB: %s\n' "$sc" "$(runs "$T/res/rss.$sc")"
done
echo "$fails target(s) missed"
