#include "common/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/banned.h"

void
ib_oom(void)
{
    static const char msg[] = "imgbuild: out of memory\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    abort();
}

void *
ib_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        ib_oom();
    return p;
}

void *
ib_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        ib_oom();
    return p;
}

void *
ib_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        ib_oom();
    return q;
}

void *
ib_xreallocarray(void *p, size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size)
        ib_oom();
    return ib_xrealloc(p, nmemb * size);
}

char *
ib_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        ib_oom();
    return d;
}

char *
ib_xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        ib_oom();
    return d;
}

char *
ib_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        ib_oom();
    return s;
}
