/* common/test.c: main() and reporting for common/test.h. */
#include "common/test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

struct test {
    const char *name;
    ib_test_fn fn;
};

static struct test *tests;
static size_t ntests, captests;
static unsigned tap_n; /* TAP lines printed */
static bool cur_failed, cur_skipped;
static bool any_case_failed;
static const char *cur_name;
static char *tmpdir;

void
ib_test_register(const char *name, ib_test_fn fn)
{
    IB_GROW(tests, ntests + 1, captests);
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void
ib_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "#   %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    cur_failed = true;
}

bool
ib_test_case(bool ok, const char *fmt, ...)
{
    va_list ap;
    printf("%s %u - %s: ", ok ? "ok" : "not ok", ++tap_n, cur_name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    if (!ok)
        any_case_failed = true;
    return ok;
}

void
ib_test_skip(const char *fmt, ...)
{
    va_list ap;
    printf("# %s skipped: ", cur_name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    cur_skipped = true;
}

void
ib_test_note(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

const char *
ib_test_conformance(void)
{
    static const char *dir;
    if (dir)
        return dir;
    const char *d = getenv("IB_CONFORMANCE");
    if (!d || !*d)
        d = "../shared/conformance";
    struct stat st;
    AUTO_FREE char *readme = ib_path_join(d, "README.md");
    if (stat(readme, &st) < 0) {
        printf("not ok %u - conformance data missing: '%s' (set IB_CONFORMANCE or check out "
               "../shared/conformance next to this repository)\n",
               ++tap_n, readme);
        fflush(stdout);
        exit(1);
    }
    dir = d;
    return dir;
}

char *
ib_test_conformance_path(const char *rel)
{
    return ib_path_join(ib_test_conformance(), rel);
}

static void
remove_tmpdir(void)
{
    if (tmpdir)
        ib_rm_rf_at(AT_FDCWD, tmpdir, NULL);
}

const char *
ib_test_tmpdir(void)
{
    if (!tmpdir) {
        const char *base = getenv("TMPDIR");
        tmpdir = ib_xasprintf("%s/ibtest.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

char *
ib_test_slurp(const char *path, size_t *len)
{
    struct ib_buf b = IB_BUF_INIT;
    struct ib_err *err = NULL;
    if (ib_read_file(path, &b, &err) < 0) {
        printf("not ok %u - %s\n", ++tap_n, err->msg);
        exit(1);
    }
    return ib_buf_detach(&b, len);
}

int
main(int argc, char **argv)
{
    /* optional argument: run only the tests whose names contain it */
    const char *only = argc > 1 ? argv[1] : NULL;
    unsigned failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < ntests; i++) {
        if (only && !strstr(tests[i].name, only))
            continue;
        cur_name = tests[i].name;
        cur_failed = cur_skipped = false;
        tests[i].fn();
        if (cur_skipped && !cur_failed)
            printf("ok %u - %s # SKIP\n", ++tap_n, cur_name);
        else
            printf("%s %u - %s\n", cur_failed ? "not ok" : "ok", ++tap_n, cur_name);
        if (cur_failed)
            failed++;
    }
    printf("1..%u\n", tap_n);
    free(tests);
    return failed || any_case_failed ? 1 : 0;
}
