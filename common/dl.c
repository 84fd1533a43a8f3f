/* common/dl.c: see dl.h. */
#include "common/dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

void *
ib_dl_load(const char *soname, const struct ib_dlsym *syms, size_t n, void *table, char *why,
           size_t whylen)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        if (e)
            snprintf(why, whylen, "%s", e);
        else
            snprintf(why, whylen, "cannot load %s", soname);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        dlerror();
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            snprintf(why, whylen, "%s: no symbol '%s' (library too old?)", soname, syms[i].name);
            dlclose(h);
            return NULL;
        }
        memcpy((char *)table + syms[i].off, &p, sizeof(p));
    }
    return h;
}
