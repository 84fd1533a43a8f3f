/* common/buf.h: a growable byte buffer, always NUL-terminated, s never NULL.
 *
 * A limit (ib_buf_set_limit) caps buffers filled from untrusted sources such
 * as the network; ib_buf_add_checked reports going past it instead of growing.
 */
#ifndef IMGBUILD_COMMON_BUF_H
#define IMGBUILD_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "common/err.h"

struct ib_buf {
    char *s;
    size_t len, cap;
    size_t limit; /* 0 = unlimited */
};

extern char ib_buf_empty[];
#define IB_BUF_INIT           \
    {                         \
        ib_buf_empty, 0, 0, 0 \
    }

void ib_buf_init(struct ib_buf *b);
void ib_buf_grow(struct ib_buf *b, size_t extra);
void ib_buf_add(struct ib_buf *b, const void *p, size_t n);
void ib_buf_adds(struct ib_buf *b, const char *s);
void ib_buf_addc(struct ib_buf *b, char c);
void ib_buf_addf(struct ib_buf *b, const char *fmt, ...) IB_PRINTF(2, 3);
void ib_buf_vaddf(struct ib_buf *b, const char *fmt, va_list ap) IB_PRINTF(2, 0);
void ib_buf_reset(struct ib_buf *b);
void ib_buf_truncate(struct ib_buf *b, size_t len);
/* Append n bytes at p as base64 (standard alphabet, padded; RFC 4648). */
void ib_buf_add_base64(struct ib_buf *b, const void *p, size_t n);
/* Hand over the bytes (caller frees); b is left empty. */
char *ib_buf_detach(struct ib_buf *b, size_t *len);
void ib_buf_release(struct ib_buf *b);
void ib_buf_set_limit(struct ib_buf *b, size_t max);
/* Append unless that would pass the limit; then fail with "what too large". */
int ib_buf_add_checked(struct ib_buf *b, const void *p, size_t n, const char *what,
                       struct ib_err **err);

#endif
