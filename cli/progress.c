/* cli/progress.c: showing build events: plain (CI logs), tty (a live view), json (one
 * event per line) and quiet. */
#include "cli/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

static void
json_s(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static const char *
kind_name(enum build_event_kind k)
{
    switch (k) {
    case BUILD_EV_STEP_START:
        return "start";
    case BUILD_EV_STEP_CACHED:
        return "cached";
    case BUILD_EV_STEP_OUTPUT:
        return "output";
    case BUILD_EV_STEP_DONE:
        return "done";
    case BUILD_EV_STEP_ERROR:
        return "error";
    case BUILD_EV_EXPLAIN:
        return "explain";
    case BUILD_EV_WARNING:
        return "warning";
    case BUILD_EV_INFO:
        return "info";
    }
    return "?";
}

static void
run_stats(FILE *f, const struct sandbox_result *r)
{
    fprintf(f, "cpu %.2fs", (double)r->cpu_usec / 1e6);
    if (r->mem_peak)
        fprintf(f, ", peak memory %.1f MiB", (double)r->mem_peak / (1024.0 * 1024.0));
}

static void
plain(struct progress *p, const struct build_event *ev)
{
    FILE *f = p->out;
    switch (ev->kind) {
    case BUILD_EV_STEP_START:
        fprintf(f, "#%u %s\n", ev->step, ev->text);
        break;
    case BUILD_EV_STEP_CACHED:
        fprintf(f, "#%u CACHED\n", ev->step);
        break;
    case BUILD_EV_STEP_OUTPUT:
        fprintf(f, "#%u %.*s\n", ev->step, (int)ev->len, ev->text);
        break;
    case BUILD_EV_STEP_DONE:
        fprintf(f, "#%u DONE %.2fs", ev->step, ev->seconds);
        if (ev->run) {
            fputs(" (", f);
            run_stats(f, ev->run);
            fputc(')', f);
        }
        fputc('\n', f);
        break;
    case BUILD_EV_STEP_ERROR:
        fprintf(f, "#%u ERROR %s\n", ev->step, ev->text);
        break;
    case BUILD_EV_EXPLAIN:
        fprintf(f, "#%u %s\n", ev->step, ev->text);
        break;
    case BUILD_EV_WARNING:
        fprintf(f, "WARNING: %s\n", ev->text);
        break;
    case BUILD_EV_INFO:
        fprintf(f, "%s\n", ev->text);
        break;
    }
    fflush(f);
}

static void
json_event(struct progress *p, const struct build_event *ev)
{
    FILE *f = p->out;
    fprintf(f, "{\"event\":\"%s\"", kind_name(ev->kind));
    if (ev->step)
        fprintf(f, ",\"step\":%u", ev->step);
    if (ev->len) {
        fputs(",\"text\":", f);
        json_s(f, ev->text, ev->len);
    }
    if (ev->kind == BUILD_EV_STEP_DONE || ev->kind == BUILD_EV_STEP_CACHED)
        fprintf(f, ",\"seconds\":%.3f", ev->seconds);
    if (ev->run)
        fprintf(f,
                ",\"exit_code\":%d,\"signal\":%d,\"oom_killed\":%s,\"cpu_usec\":%llu,"
                "\"mem_peak\":%llu",
                ev->run->exit_code, ev->run->signal, ev->run->oom_killed ? "true" : "false",
                (unsigned long long)ev->run->cpu_usec, (unsigned long long)ev->run->mem_peak);
    fputs("}\n", f);
    fflush(f);
}

/* ---- tty ----------------------------------------------------------------------------
 *
 * Below the lines of finished steps (and warnings, infos), a live area: one line per
 * running step, "=> #N [stage i/n] INSTRUCTION" with its elapsed time at the right edge,
 * and under it the step's last output lines (6 while one step runs, 3 each when several
 * do).  The area is erased (cursor up, clear to the end of the screen) and drawn again on
 * every event and by the ticker 10 times a second, so the times move; when a step ends it
 * leaves the area and its one-line summary is printed above it.
 */

static double
mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes of s that fit in width columns, one column per UTF-8 character, never cutting
 * one in two. */
static int
fit(const char *s, int width)
{
    int cols = 0;
    size_t i = 0;
    while (s[i]) {
        size_t n = 1;
        while (((unsigned char)s[i + n] & 0xc0) == 0x80)
            n++;
        if (cols + 1 > width)
            break;
        cols++;
        i += n;
    }
    return (int)i;
}

static int
columns(const char *s, int nbytes)
{
    int cols = 0;
    for (int i = 0; i < nbytes; i++)
        cols += ((unsigned char)s[i] & 0xc0) != 0x80;
    return cols;
}

static void
step_release(struct progress_step *st)
{
    free(st->text);
    for (size_t i = 0; i < st->ntail; i++)
        free(st->tail[i]);
}

static struct progress_step *
step_find(struct progress *p, unsigned no)
{
    for (size_t i = 0; i < p->nrun; i++)
        if (p->run[i].no == no)
            return &p->run[i];
    return NULL;
}

static void
tty_clear(struct progress *p)
{
    if (p->drawn > 0)
        fprintf(p->out, "\033[%dA\033[J", p->drawn);
    p->drawn = 0;
}

static void
tty_draw(struct progress *p)
{
    if (p->nrun == 0)
        return;
    int budget = p->rows > 4 ? p->rows - 2 : 20; /* lines the live area may use */
    size_t per = p->nrun == 1 ? PROGRESS_TAIL : PROGRESS_TAIL / 2;
    double now = mono_now();
    for (size_t i = 0; i < p->nrun && p->drawn < budget; i++) {
        struct progress_step *st = &p->run[i];
        char t[32];
        snprintf(t, sizeof(t), " %.1fs", now - st->t0);
        int room = p->cols - 4 - (int)strlen(t);
        int n = fit(st->text, room > 10 ? room : 10);
        int pad = room - columns(st->text, n);
        fprintf(p->out, "\033[1m=> %.*s%*s%s\033[0m\n", n, st->text, pad > 0 ? pad : 0, "", t);
        p->drawn++;
        size_t first = st->ntail > per ? st->ntail - per : 0;
        for (size_t j = first; j < st->ntail && p->drawn < budget; j++) {
            fprintf(p->out, "\033[2m   %.*s\033[0m\n", fit(st->tail[j], p->cols - 4), st->tail[j]);
            p->drawn++;
        }
    }
}

static void
tty(struct progress *p, const struct build_event *ev)
{
    FILE *f = p->out;
    struct progress_step *st = ev->step ? step_find(p, ev->step) : NULL;
    tty_clear(p);
    switch (ev->kind) {
    case BUILD_EV_STEP_START:
        if (!st) {
            IB_GROW(p->run, p->nrun + 1, p->caprun);
            st = &p->run[p->nrun++];
            memset(st, 0, sizeof(*st));
            st->no = ev->step;
        }
        free(st->text);
        st->text = ib_xasprintf("#%u %s", ev->step, ev->text);
        st->t0 = mono_now();
        break;
    case BUILD_EV_STEP_OUTPUT:
        if (!st)
            break;
        if (st->ntail == PROGRESS_TAIL) {
            free(st->tail[0]);
            memmove(st->tail, st->tail + 1, (PROGRESS_TAIL - 1) * sizeof(char *));
            st->ntail--;
        }
        st->tail[st->ntail++] = ib_xstrndup(ev->text, ev->len);
        break;
    case BUILD_EV_STEP_CACHED:
    case BUILD_EV_STEP_DONE:
    case BUILD_EV_STEP_ERROR:
        fprintf(f, "%s ", ev->kind == BUILD_EV_STEP_ERROR ? "\033[31m✗\033[0m" : "✓");
        if (st)
            fputs(st->text, f);
        else
            fprintf(f, "#%u", ev->step);
        fprintf(f, " %.1fs", ev->seconds);
        if (ev->kind == BUILD_EV_STEP_CACHED)
            fputs(" CACHED", f);
        if (ev->kind == BUILD_EV_STEP_ERROR)
            fprintf(f, " %s", ev->text);
        if (ev->run && ev->kind == BUILD_EV_STEP_DONE) {
            fputs(" (", f);
            run_stats(f, ev->run);
            fputc(')', f);
        }
        fputc('\n', f);
        if (st) {
            step_release(st);
            size_t i = (size_t)(st - p->run);
            memmove(st, st + 1, (p->nrun - i - 1) * sizeof(*st));
            p->nrun--;
        }
        break;
    case BUILD_EV_EXPLAIN:
        fprintf(f, "   %s\n", ev->text);
        break;
    case BUILD_EV_WARNING:
        fprintf(f, "\033[33mWARNING:\033[0m %s\n", ev->text);
        break;
    case BUILD_EV_INFO:
        fprintf(f, "%s\n", ev->text);
        break;
    }
    tty_draw(p);
    fflush(f);
}

/* Redraw the live area 10 times a second while steps run, so their times move. */
static void *
ticker(void *arg)
{
    struct progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (p->stop || p->nrun == 0)
            continue;
        tty_clear(p);
        tty_draw(p);
        fflush(p->out);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void
tty_start(struct progress *p)
{
    struct winsize ws;
    if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) {
        p->cols = ws.ws_col;
        p->rows = ws.ws_row;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->ticking = pthread_create(&p->ticker, NULL, ticker, p) == 0;
}

static void
tty_stop(struct progress *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->ticking)
        pthread_join(p->ticker, NULL);
    tty_clear(p);
    fflush(p->out);
    for (size_t i = 0; i < p->nrun; i++)
        step_release(&p->run[i]);
    free(p->run);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

void
progress_event(void *ctx, const struct build_event *ev)
{
    struct progress *p = ctx;
    switch (p->mode) {
    case PROGRESS_PLAIN:
        plain(p, ev);
        break;
    case PROGRESS_JSON:
        json_event(p, ev);
        break;
    case PROGRESS_TTY:
        pthread_mutex_lock(&p->mu);
        tty(p, ev);
        pthread_mutex_unlock(&p->mu);
        break;
    case PROGRESS_QUIET:
        if (ev->kind == BUILD_EV_WARNING)
            fprintf(p->out, "WARNING: %s\n", ev->text);
        break;
    }
}

int
progress_init(struct progress *p, const char *mode, bool quiet, bool explain)
{
    memset(p, 0, sizeof(*p));
    p->out = stderr;
    p->cols = 80;
    if (quiet)
        p->mode = PROGRESS_QUIET;
    else if (!mode || strcmp(mode, "auto") == 0)
        p->mode = isatty(2) && getenv("TERM") && strcmp(getenv("TERM"), "dumb") ? PROGRESS_TTY
                                                                                : PROGRESS_PLAIN;
    else if (strcmp(mode, "plain") == 0)
        p->mode = PROGRESS_PLAIN;
    else if (strcmp(mode, "tty") == 0)
        p->mode = PROGRESS_TTY;
    else if (strcmp(mode, "json") == 0)
        p->mode = PROGRESS_JSON;
    else
        return -1;
    (void)explain;
    const char *c = getenv("COLUMNS");
    if (c && atoi(c) > 20)
        p->cols = atoi(c);
    const char *l = getenv("LINES");
    if (l && atoi(l) > 4)
        p->rows = atoi(l);
    if (p->mode == PROGRESS_TTY)
        tty_start(p);
    return 0;
}

void
progress_release(struct progress *p)
{
    if (p->mode == PROGRESS_TTY)
        tty_stop(p);
}
