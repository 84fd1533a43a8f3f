/* common/mem.h: allocation that never returns NULL (out of memory aborts). */
#ifndef IMGBUILD_COMMON_MEM_H
#define IMGBUILD_COMMON_MEM_H

#include <stddef.h>

_Noreturn void ib_oom(void);
void *ib_xmalloc(size_t n);
void *ib_xcalloc(size_t nmemb, size_t size);
void *ib_xrealloc(void *p, size_t n);
/* realloc for an array of nmemb elements of size bytes, overflow-checked */
void *ib_xreallocarray(void *p, size_t nmemb, size_t size);
char *ib_xstrdup(const char *s);
char *ib_xstrndup(const char *s, size_t n);
char *ib_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *v (holding *cap elements of size elem) so that it holds at least need. */
#define IB_GROW(v, need, cap)                                      \
    do {                                                           \
        if ((need) > (cap)) {                                      \
            size_t ib_grow_n_ = (cap) ? (cap)*2 : 8;               \
            while (ib_grow_n_ < (need))                            \
                ib_grow_n_ *= 2;                                   \
            (v) = ib_xreallocarray((v), ib_grow_n_, sizeof(*(v))); \
            (cap) = ib_grow_n_;                                    \
        }                                                          \
    } while (0)

#endif
