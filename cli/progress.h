/* cli/progress.h: rendering build events (internal to cli/). */
#ifndef IMGBUILD_CLI_PROGRESS_H
#define IMGBUILD_CLI_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "builder/builder.h"

enum progress_mode { PROGRESS_PLAIN, PROGRESS_TTY, PROGRESS_JSON, PROGRESS_QUIET };

#define PROGRESS_TAIL 6

/* tty: one running step */
struct progress_step {
    unsigned no;
    char *text; /* "#N [stage i/n] INSTRUCTION" */
    double t0;  /* when it started (monotonic seconds) */
    char *tail[PROGRESS_TAIL];
    size_t ntail;
};

struct progress {
    enum progress_mode mode;
    FILE *out;
    /* tty: every running step (in start order) with its elapsed time and its last output
     * lines, redrawn in place below the finished ones, on each event and by a ticker thread
     * 10 times a second; a finished step collapses to one line */
    struct progress_step *run;
    size_t nrun, caprun;
    int drawn; /* lines drawn below the finished ones */
    int cols, rows;
    pthread_mutex_t mu; /* tty: events, the ticker */
    pthread_cond_t cv;
    pthread_t ticker;
    bool ticking, stop;
};

/* mode: auto, tty, plain, json (NULL = auto); -1 for an unknown mode. */
int progress_init(struct progress *p, const char *mode, bool quiet, bool explain);
void progress_event(void *ctx, const struct build_event *ev);
void progress_release(struct progress *p);

#endif
