#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/banned.h"

char ib_buf_empty[1];

void
ib_buf_init(struct ib_buf *b)
{
    b->s = ib_buf_empty;
    b->len = b->cap = b->limit = 0;
}

void
ib_buf_grow(struct ib_buf *b, size_t extra)
{
    if (extra >= (size_t)-1 / 2 - b->len)
        ib_oom();
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (b->cap == 0) {
        b->s = ib_xmalloc(cap);
        b->s[0] = '\0';
    } else {
        b->s = ib_xrealloc(b->s, cap);
    }
    b->cap = cap;
}

void
ib_buf_add(struct ib_buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    ib_buf_grow(b, n);
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void
ib_buf_adds(struct ib_buf *b, const char *s)
{
    ib_buf_add(b, s, strlen(s));
}

void
ib_buf_addc(struct ib_buf *b, char c)
{
    ib_buf_grow(b, 1);
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
}

void
ib_buf_vaddf(struct ib_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        ib_oom();
    ib_buf_grow(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void
ib_buf_addf(struct ib_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ib_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void
ib_buf_reset(struct ib_buf *b)
{
    ib_buf_truncate(b, 0);
}

void
ib_buf_truncate(struct ib_buf *b, size_t len)
{
    if (len > b->len)
        return;
    b->len = len;
    if (b->cap)
        b->s[len] = '\0';
}

char *
ib_buf_detach(struct ib_buf *b, size_t *len)
{
    char *s = b->cap ? b->s : ib_xstrdup("");
    if (len)
        *len = b->len;
    size_t limit = b->limit;
    ib_buf_init(b);
    b->limit = limit;
    return s;
}

void
ib_buf_release(struct ib_buf *b)
{
    if (b->cap)
        free(b->s);
    ib_buf_init(b);
}

void
ib_buf_set_limit(struct ib_buf *b, size_t max)
{
    b->limit = max;
}

int
ib_buf_add_checked(struct ib_buf *b, const void *p, size_t n, const char *what, struct ib_err **err)
{
    if (b->limit && (n > b->limit || b->len > b->limit - n))
        return ib_fail(err, IB_E_SYS, "%s too large (limit %zu bytes)", what, b->limit);
    ib_buf_add(b, p, n);
    return 0;
}

void
ib_buf_add_base64(struct ib_buf *b, const void *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    ib_buf_grow(b, (n + 2) / 3 * 4);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = {abc[v >> 18], abc[(v >> 12) & 63], i + 1 < n ? abc[(v >> 6) & 63] : '=',
                     i + 2 < n ? abc[v & 63] : '='};
        ib_buf_add(b, q, 4);
    }
}
