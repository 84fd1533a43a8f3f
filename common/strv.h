/* common/strv.h: a NULL-terminated, growable vector of owned strings (fits execve). */
#ifndef IMGBUILD_COMMON_STRV_H
#define IMGBUILD_COMMON_STRV_H

#include <stddef.h>

#include "common/err.h"

struct ib_strv {
    char **v; /* NULL-terminated once anything was pushed; NULL when empty */
    size_t n, cap;
};

#define IB_STRV_INIT \
    {                \
        NULL, 0, 0   \
    }

void ib_strv_push(struct ib_strv *sv, const char *s);
void ib_strv_pushn(struct ib_strv *sv, const char *s, size_t n);
void ib_strv_push_owned(struct ib_strv *sv, char *s);
void ib_strv_pushf(struct ib_strv *sv, const char *fmt, ...) IB_PRINTF(2, 3);
/* Hand over the array (NULL-terminated, never NULL); sv is left empty. */
char **ib_strv_detach(struct ib_strv *sv, size_t *n);
void ib_strv_release(struct ib_strv *sv);
/* Free a NULL-terminated array of strings as made by ib_strv_detach. */
void ib_strv_free_array(char **v);

#endif
