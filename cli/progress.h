/* cli/progress.h: rendering build events (internal to cli/). */
#ifndef IMGBUILD_CLI_PROGRESS_H
#define IMGBUILD_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "builder/builder.h"

enum progress_mode { PROGRESS_PLAIN, PROGRESS_TTY, PROGRESS_JSON, PROGRESS_QUIET };

struct progress {
    enum progress_mode mode;
    FILE *out;
    char *cur;     /* tty: the running step */
    char *tail[6]; /* tty: its last output lines */
    size_t ntail;
    int drawn; /* tty: lines drawn below the finished ones */
    int cols;
};

/* mode: auto, tty, plain, json (NULL = auto); -1 for an unknown mode. */
int progress_init(struct progress *p, const char *mode, bool quiet, bool explain);
void progress_event(void *ctx, const struct build_event *ev);
void progress_release(struct progress *p);

#endif
