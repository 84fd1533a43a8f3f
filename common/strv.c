#include "common/strv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/mem.h"
#include "common/banned.h"

void
ib_strv_push_owned(struct ib_strv *sv, char *s)
{
    IB_GROW(sv->v, sv->n + 2, sv->cap);
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

void
ib_strv_push(struct ib_strv *sv, const char *s)
{
    ib_strv_push_owned(sv, ib_xstrdup(s));
}

void
ib_strv_pushn(struct ib_strv *sv, const char *s, size_t n)
{
    ib_strv_push_owned(sv, ib_xstrndup(s, n));
}

void
ib_strv_pushf(struct ib_strv *sv, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        ib_oom();
    ib_strv_push_owned(sv, s);
}

char **
ib_strv_detach(struct ib_strv *sv, size_t *n)
{
    if (!sv->v)
        sv->v = ib_xcalloc(1, sizeof(char *));
    char **v = sv->v;
    if (n)
        *n = sv->n;
    sv->v = NULL;
    sv->n = sv->cap = 0;
    return v;
}

void
ib_strv_release(struct ib_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

void
ib_strv_free_array(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}
