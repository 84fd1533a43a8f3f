#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/banned.h"

static char *vformat(const char *fmt, va_list ap) IB_PRINTF(1, 0);

static char *
vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        ib_oom();
    return s;
}

static int
set_err(struct ib_err **err, enum ib_errkind kind, int sys, char *msg)
{
    if (!err) {
        free(msg);
        return -1;
    }
    if (*err) /* keep the first failure; a second one is a bug in the caller */
        ib_err_free(*err);
    struct ib_err *e = ib_xcalloc(1, sizeof(*e));
    e->kind = kind;
    e->sys = sys;
    e->msg = msg;
    *err = e;
    return -1;
}

int
ib_fail(struct ib_err **err, enum ib_errkind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    return set_err(err, kind, 0, msg);
}

static int fail_sys_v(struct ib_err **err, int sys, const char *fmt, va_list ap) IB_PRINTF(3, 0);

static int
fail_sys_v(struct ib_err **err, int sys, const char *fmt, va_list ap)
{
    char *head = vformat(fmt, ap);
    char *msg = NULL;
    if (asprintf(&msg, "%s: %s", head, strerror(sys)) < 0)
        ib_oom();
    free(head);
    return set_err(err, IB_E_SYS, sys, msg);
}

int
ib_fail_errno(struct ib_err **err, const char *fmt, ...)
{
    int sys = errno;
    va_list ap;
    va_start(ap, fmt);
    fail_sys_v(err, sys, fmt, ap);
    va_end(ap);
    errno = sys;
    return -1;
}

int
ib_fail_sys(struct ib_err **err, int sys, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_sys_v(err, sys, fmt, ap);
    va_end(ap);
    return -1;
}

int
ib_err_prefix(struct ib_err **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *head = vformat(fmt, ap);
    va_end(ap);
    char *msg = NULL;
    if (asprintf(&msg, "%s: %s", head, (*err)->msg) < 0)
        ib_oom();
    free(head);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

void
ib_err_free(struct ib_err *err)
{
    if (!err)
        return;
    free(err->msg);
    free(err);
}
