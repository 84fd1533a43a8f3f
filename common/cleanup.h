/* common/cleanup.h: scope-bound cleanup via the GCC/Clang cleanup attribute.
 *
 * Initialize every AUTO_* variable where it is declared.  Hand ownership out
 * of the scope with ib_steal() / ib_steal_fd().
 */
#ifndef IMGBUILD_COMMON_CLEANUP_H
#define IMGBUILD_COMMON_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/strv.h"

static inline void
ib_cleanup_free(void *p)
{
    free(*(void **)p);
}
static inline void
ib_cleanup_fd(const int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
static inline void
ib_cleanup_file(FILE **f)
{
    if (*f)
        fclose(*f);
}
static inline void
ib_cleanup_buf(struct ib_buf *b)
{
    ib_buf_release(b);
}
static inline void
ib_cleanup_strv(struct ib_strv *sv)
{
    ib_strv_release(sv);
}
static inline void
ib_cleanup_err(struct ib_err **e)
{
    ib_err_free(*e);
}

#define AUTO_FREE __attribute__((cleanup(ib_cleanup_free)))
#define AUTO_FD __attribute__((cleanup(ib_cleanup_fd)))
#define AUTO_FILE __attribute__((cleanup(ib_cleanup_file)))
#define AUTO_BUF __attribute__((cleanup(ib_cleanup_buf)))
#define AUTO_STRV __attribute__((cleanup(ib_cleanup_strv)))
#define AUTO_ERR __attribute__((cleanup(ib_cleanup_err)))

/* IB_DEFINE_AUTO(struct store, store_close) then IB_AUTO(store_close) struct store *s = NULL; */
#define IB_DEFINE_AUTO(type, freefn)              \
    static inline void ib_auto_##freefn(type **p) \
    {                                             \
        if (*p)                                   \
            freefn(*p);                           \
    }
#define IB_AUTO(freefn) __attribute__((cleanup(ib_auto_##freefn)))

static inline void *
ib_steal_ptr(void *pp)
{
    void **p = pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define ib_steal(pp) ib_steal_ptr(pp)

static inline int
ib_steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

#endif
