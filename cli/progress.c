/* cli/progress.c: showing build events: plain (CI logs), tty (a live view), json (one
 * event per line) and quiet. */
#include "cli/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

#define TTY_TAIL 6

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

/* tty: the running step's line and the last few output lines are redrawn in place; a
 * finished step collapses to one line. */
static void
tty_clear(struct progress *p)
{
    for (int i = 0; i < p->drawn; i++)
        fputs("\033[1A\033[2K", p->out);
    p->drawn = 0;
}

static void
tty_draw(struct progress *p)
{
    if (!p->cur)
        return;
    fprintf(p->out, "\033[1m=> %s\033[0m\n", p->cur);
    p->drawn = 1;
    for (size_t i = 0; i < p->ntail; i++) {
        fprintf(p->out, "\033[2m   %.*s\033[0m\n", p->cols > 8 ? p->cols - 4 : 76, p->tail[i]);
        p->drawn++;
    }
}

static void
tty(struct progress *p, const struct build_event *ev)
{
    FILE *f = p->out;
    tty_clear(p);
    switch (ev->kind) {
    case BUILD_EV_STEP_START:
        free(p->cur);
        p->cur = ib_xasprintf("#%u %s", ev->step, ev->text);
        for (size_t i = 0; i < p->ntail; i++)
            free(p->tail[i]);
        p->ntail = 0;
        break;
    case BUILD_EV_STEP_OUTPUT:
        if (p->ntail == TTY_TAIL) {
            free(p->tail[0]);
            memmove(p->tail, p->tail + 1, (TTY_TAIL - 1) * sizeof(char *));
            p->ntail--;
        }
        p->tail[p->ntail++] = ib_xstrndup(ev->text, ev->len);
        break;
    case BUILD_EV_STEP_CACHED:
    case BUILD_EV_STEP_DONE:
    case BUILD_EV_STEP_ERROR:
        fprintf(f, "%s %s %.1fs", ev->kind == BUILD_EV_STEP_ERROR ? "\033[31m✗\033[0m" : "✓",
                p->cur ? p->cur : "", ev->seconds);
        if (ev->kind == BUILD_EV_STEP_CACHED)
            fputs(" CACHED", f);
        if (ev->run && ev->kind == BUILD_EV_STEP_DONE) {
            fputs(" (", f);
            run_stats(f, ev->run);
            fputc(')', f);
        }
        fputc('\n', f);
        free(p->cur);
        p->cur = NULL;
        for (size_t i = 0; i < p->ntail; i++)
            free(p->tail[i]);
        p->ntail = 0;
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
        tty(p, ev);
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
    return 0;
}

void
progress_release(struct progress *p)
{
    if (p->mode == PROGRESS_TTY)
        tty_clear(p);
    free(p->cur);
    for (size_t i = 0; i < p->ntail; i++)
        free(p->tail[i]);
}
