#!/bin/sh
# End-to-end test of the tty progress view (cli/progress.c) with two stages running at once:
# `build --progress tty` writes the live view to a file, and a small terminal model
# (testdata/e2e/tty-frames.py) replays it frame by frame: every running step has its own
# line with its elapsed time, the times move while nothing else happens (the ticker), each
# step collapses to one line when done, and nothing of the live area is left at the end; and
# a short step beside a long one ends when it ends.
# Needs root (RUN), overlayfs, busybox-static and python3.
. testdata/e2e/lib.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
need_root_and "$PY"
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }
frames() { $PY testdata/e2e/tty-frames.py "$@"; }

P="$T/par"
mkdir -p "$P"
cat >"$P/Dockerfile" <<'D'
FROM busybox AS left
RUN echo left-start; sleep 2; echo left-end >/l
FROM busybox AS right
RUN echo right-start; sleep 2; echo right-end >/r
FROM busybox
COPY --from=left /l /l
COPY --from=right /r /r
D
COLUMNS=100 "$IMGBUILD" build --no-cache --progress tty -t par:1 "$P" 2>"$T/tty.out"
t "a two-stage build with --progress tty on a file" test $? -eq 0
t "the live area is redrawn in place (cursor up, clear to the end)" grep -q "$(printf '\033')\[[0-9]*A$(printf '\033')\[J" "$T/tty.out"
t "both RUN steps are shown running in the same frame" frames both "$T/tty.out" '[left 2/2] RUN' '[right 2/2] RUN'
t "... each with its elapsed time, which moves while the steps run (>= 1.0s)" frames both-after "$T/tty.out" '[left 2/2] RUN' '[right 2/2] RUN' 1.0
t "... with each step's own output line under it" frames tail "$T/tty.out" '[left 2/2] RUN' left-start
t "running lines fit in COLUMNS (no wrapping breaks the redraw)" frames width "$T/tty.out" 100
t "each step collapses to one line when done, and no live line is left" frames final "$T/tty.out" '✓ #[0-9]* \[left 2/2\] RUN .* [0-9.]*s \(cpu' '✓ #[0-9]* \[right 2/2\] RUN .* [0-9.]*s \(cpu' '✓ #[0-9]* \[stage-2 3/3\] COPY'
COLUMNS=100 "$IMGBUILD" build --progress tty -t par:1 "$P" 2>"$T/tty2.out"
t "a cached rebuild: every step collapses as CACHED" frames final "$T/tty2.out" '✓ #[0-9]* \[left 2/2\] RUN .* CACHED' '✓ #[0-9]* \[right 2/2\] RUN .* CACHED'
printf 'FROM busybox\nRUN echo some output; exit 3\n' >"$P/Dockerfile.fail"
COLUMNS=100 "$IMGBUILD" build --progress tty -f "$P/Dockerfile.fail" "$P" 2>"$T/tty3.out"
t "a failing step collapses to a ✗ line with its reason" frames final "$T/tty3.out" '✗.* #2 \[2/2\] RUN echo some output; exit 3 .*exit status 3'
"$IMGBUILD" build --no-cache --progress plain "$P" >/dev/null 2>"$T/plain.out"
t "plain progress is unchanged: no escape sequences" eval "! grep -q \"$(printf '\033')\" $T/plain.out && grep -q '^#[0-9]* \\[left 2/2\\] RUN' $T/plain.out"
# a step's init must not keep the pipes of a step running beside it open (their end, and so
# the step's DONE, would wait for the other step)
cat >"$P/Dockerfile.overlap" <<'D'
FROM busybox AS short
RUN sleep 1
FROM busybox AS long
RUN sleep 5
FROM busybox
COPY --from=short /bin/sh /s
COPY --from=long /bin/sh /l
D
"$IMGBUILD" build --no-cache --progress plain -f "$P/Dockerfile.overlap" "$P" >/dev/null 2>"$T/overlap.out"
short=$(sed -n 's/^#\([0-9]*\) \[short 2\/2\] RUN.*/\1/p' "$T/overlap.out")
note "$(grep -E ' DONE ' "$T/overlap.out" | tr '\n' ' ')"
t "a short step beside a long one ends on time (DONE < 3.5s, not with the 5s step)" \
    awk -v n="#$short" '$1 == n && $2 == "DONE" { sub("s", "", $3); ok = ($3 < 3.5) } END { exit !ok }' "$T/overlap.out"
done_testing
