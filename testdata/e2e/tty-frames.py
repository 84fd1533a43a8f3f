#!/usr/bin/env python3
"""testdata/e2e/tty-frames.py: replay what `imgbuild build --progress tty` wrote and check it.

The stream is a sequence of frames: "ESC[nA ESC[J" moves the cursor up over the n live lines
and erases them; what follows is printed again (finished lines first, then the live area).
The model keeps the screen as a list of lines and a frame as the screen after each write
burst (up to the next erase).

  tty-frames.py both FILE A B            some frame shows live lines for A and for B
  tty-frames.py both-after FILE A B SECS ... both with an elapsed time >= SECS
  tty-frames.py tail FILE STEP TEXT      some frame shows TEXT right under STEP's live line
  tty-frames.py width FILE COLS          every live line fits in COLS-1 columns
  tty-frames.py final FILE RE...         the final screen has a line matching each regex
                                         and no live line

Exit status 0 when the check holds, 1 (with the frames looked at) when not.
"""
import re
import sys

ERASE = re.compile(r"\x1b\[(\d+)A\x1b\[J")
SGR = re.compile(r"\x1b\[[0-9;]*m")
LIVE = "=> "
ELAPSED = re.compile(r" (\d+\.\d)s$")


def frames(data):
    """Yield the screen (list of lines, SGR removed) after each burst of output."""
    screen = []
    pos = 0
    for m in ERASE.finditer(data):
        screen += split(data[pos:m.start()])
        yield list(screen)
        n = int(m.group(1))
        if n > len(screen):
            raise SystemExit("erase of %d lines with only %d on the screen" % (n, len(screen)))
        del screen[len(screen) - n:]
        pos = m.end()
    screen += split(data[pos:])
    yield list(screen)


def split(chunk):
    lines = chunk.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [SGR.sub("", l) for l in lines]


def live(screen):
    return [l for l in screen if l.startswith(LIVE)]


def line_for(screen, step):
    for i, l in enumerate(screen):
        if l.startswith(LIVE) and step in l:
            return i
    return -1


def main(argv):
    what, path = argv[1], argv[2]
    data = open(path, encoding="utf-8", errors="replace").read()
    all_frames = list(frames(data))
    if what in ("both", "both-after"):
        a, b = argv[3], argv[4]
        secs = float(argv[5]) if what == "both-after" else 0.0
        for f in all_frames:
            ia, ib = line_for(f, a), line_for(f, b)
            if ia < 0 or ib < 0:
                continue
            ta, tb = ELAPSED.search(f[ia]), ELAPSED.search(f[ib])
            if ta and tb and float(ta.group(1)) >= secs and float(tb.group(1)) >= secs:
                print("frame: %r" % live(f))
                return 0
        print("no frame with both %r and %r running (elapsed >= %s)" % (a, b, secs))
    elif what == "tail":
        step, text = argv[3], argv[4]
        for f in all_frames:
            i = line_for(f, step)
            if i >= 0 and i + 1 < len(f) and f[i + 1].strip() == text:
                return 0
        print("no frame with %r under %r" % (text, step))
    elif what == "width":
        cols = int(argv[3])
        for f in all_frames:
            for l in live(f):
                if len(l) > cols - 1:
                    print("too wide (%d): %r" % (len(l), l))
                    return 1
        return 0
    elif what == "final":
        screen = all_frames[-1]
        left = live(screen)
        missing = [r for r in argv[3:] if not any(re.search(r, l) for l in screen)]
        if not left and not missing:
            return 0
        print("live lines left: %r; missing: %r" % (left, missing))
    else:
        print("unknown check %r" % what)
        return 2
    for f in all_frames[-8:]:
        print("frame: %r" % f[-6:])
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
