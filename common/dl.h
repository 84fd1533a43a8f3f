/* common/dl.h: a shared library loaded at run time, its functions looked up into a table.
 * (libcurl and libarchive are loaded on first use: registry/curl_load.c,
 * store/archive_load.c.) */
#ifndef IMGBUILD_COMMON_DL_H
#define IMGBUILD_COMMON_DL_H

#include <stddef.h>

/* One function to look up: its name and where its pointer goes in the table. */
struct ib_dlsym {
    const char *name;
    size_t off;
};

/* dlopen soname (RTLD_NOW, RTLD_LOCAL) and store each of the n symbols' addresses at
 * table + off.  NULL when the library cannot be loaded or lacks a symbol (the library is
 * then closed again); why (size whylen) says which.  The handle otherwise. */
void *ib_dl_load(const char *soname, const struct ib_dlsym *syms, size_t n, void *table, char *why,
                 size_t whylen);

#endif
