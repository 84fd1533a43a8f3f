/* registry/curl_load.c: libcurl, loaded on first use.
 *
 * imgbuild is not linked with libcurl: libcurl and the ~25 libraries it pulls in
 * (nghttp2, idn2, rtmp, gnutls, ssh2, psl, krb5, ldap, ...) would cost every
 * command ~20 ms of start-up (mostly page faults), although local builds never
 * touch the network.  This file defines the libcurl functions the registry
 * code calls as thin wrappers; the first one that needs libcurl dlopen()s
 * libcurl.so.4 (the Debian package libcurl4), looks the real functions up
 * and runs curl_global_init, once for the process (pthread_once), so
 * curl_global_init always runs before any other libcurl call.
 *
 * The registry code calls reg_curl_load (through http_run) before its
 * first transfer, which turns a missing libcurl into an ib_err.  A wrapper
 * called while libcurl could not be loaded returns libcurl's own failure
 * value (NULL, CURLE_FAILED_INIT, ...); the cleanup functions then do nothing,
 * since no libcurl object can exist, and never load libcurl themselves.
 *
 * A libcurl function used elsewhere in registry/ must be added here (the
 * link fails until it is).  The wrappers are hidden: the executable must
 * not export them, or they would interpose libcurl's calls to itself.
 */
#define CURL_DISABLE_TYPECHECK /* the variadic wrappers are functions here, not macros */
#include "registry/internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/dl.h"
#include "common/banned.h"

#define CURL_SONAME "libcurl.so.4"

typedef void (*any_fn)(void);

/* The real functions, filled by load(): one X(name) per libcurl function used. */
/* clang-format off */
#define CURL_FUNCS(X)                                                                      \
    X(curl_global_init) X(curl_easy_cleanup) X(curl_easy_escape) X(curl_easy_getinfo)      \
    X(curl_easy_init) X(curl_easy_perform) X(curl_easy_reset) X(curl_easy_setopt)          \
    X(curl_easy_strerror) X(curl_easy_unescape) X(curl_free) X(curl_multi_add_handle)      \
    X(curl_multi_cleanup) X(curl_multi_info_read) X(curl_multi_init) X(curl_multi_perform) \
    X(curl_multi_poll) X(curl_multi_remove_handle) X(curl_multi_setopt)                    \
    X(curl_share_cleanup) X(curl_share_init) X(curl_share_setopt) X(curl_slist_append)     \
    X(curl_slist_free_all) X(curl_url) X(curl_url_cleanup) X(curl_url_get) X(curl_url_set)

/* the wrappers are hidden (curl_global_init has none: load() calls the real one) */
#define HIDE(name) extern __typeof__(name) name __attribute__((visibility("hidden")));
CURL_FUNCS(HIDE)

#define FIELD(name) __typeof__(name) *name;
static struct curl_fns { CURL_FUNCS(FIELD) } fn;

#define SYM(name) {#name, offsetof(struct curl_fns, name)},
static const struct ib_dlsym syms[] = {CURL_FUNCS(SYM)};
/* clang-format on */

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;          /* set (release) once fn is complete and libcurl initialized */
static char load_error[512]; /* why not, when the load failed */

static void
load(void)
{
    if (!ib_dl_load(CURL_SONAME, syms, sizeof(syms) / sizeof(syms[0]), &fn, load_error,
                    sizeof(load_error)))
        return;
    CURLcode rc = fn.curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(load_error, sizeof(load_error), "curl_global_init: %s", fn.curl_easy_strerror(rc));
        return; /* the library stays loaded: libcurl may have started initializing */
    }
    __atomic_store_n(&loaded, true, __ATOMIC_RELEASE);
}

/* Load libcurl if not yet tried; is it usable? */
static bool
need(void)
{
    pthread_once(&load_once, load);
    return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
}

/* Is libcurl loaded (without loading it)?  For the cleanup functions. */
static bool
have(void)
{
    return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
}

int
reg_curl_load(struct ib_err **err)
{
    if (need())
        return 0;
    return ib_fail(err, IB_E_REGISTRY,
                   "registry access needs libcurl (Debian package libcurl4): %s", load_error);
}

static void *
preload_main(void *arg)
{
    (void)arg;
    need();
    return NULL;
}

void
registry_preload(void)
{
    pthread_attr_t a;
    pthread_t th;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    (void)pthread_create(&th, &a, preload_main, NULL); /* else the first transfer loads it */
    pthread_attr_destroy(&a);
}

/* ---- the variadic ones: one argument, its type given by the option's range ---- */

enum arg { ARG_LONG, ARG_PTR, ARG_FN, ARG_OFF_T };

/* CURLOPT_* and CURLMOPT_* share the type bases (curl.h, multi.h); BLOB
 * options take a struct curl_blob pointer. */
static enum arg
opt_arg(int opt)
{
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        return ARG_LONG;
    if (opt < CURLOPTTYPE_FUNCTIONPOINT)
        return ARG_PTR;
    if (opt < CURLOPTTYPE_OFF_T)
        return ARG_FN;
    if (opt < CURLOPTTYPE_BLOB)
        return ARG_OFF_T;
    return ARG_PTR;
}

CURLcode
curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    if (!need())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc = CURLE_OK;
    switch (opt_arg((int)opt)) {
    case ARG_LONG:
        rc = fn.curl_easy_setopt(h, opt, va_arg(ap, long));
        break;
    case ARG_PTR:
        rc = fn.curl_easy_setopt(h, opt, va_arg(ap, void *));
        break;
    case ARG_FN:
        rc = fn.curl_easy_setopt(h, opt, va_arg(ap, any_fn));
        break;
    case ARG_OFF_T:
        rc = fn.curl_easy_setopt(h, opt, va_arg(ap, curl_off_t));
        break;
    }
    va_end(ap);
    return rc;
}

CURLMcode
curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
    if (!need())
        return CURLM_INTERNAL_ERROR;
    va_list ap;
    va_start(ap, opt);
    CURLMcode rc = CURLM_OK;
    switch (opt_arg((int)opt)) {
    case ARG_LONG:
        rc = fn.curl_multi_setopt(m, opt, va_arg(ap, long));
        break;
    case ARG_PTR:
        rc = fn.curl_multi_setopt(m, opt, va_arg(ap, void *));
        break;
    case ARG_FN:
        rc = fn.curl_multi_setopt(m, opt, va_arg(ap, any_fn));
        break;
    case ARG_OFF_T:
        rc = fn.curl_multi_setopt(m, opt, va_arg(ap, curl_off_t));
        break;
    }
    va_end(ap);
    return rc;
}

/* every CURLINFO_* takes a pointer to where the answer goes */
CURLcode
curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    if (!need())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = fn.curl_easy_getinfo(h, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLSHcode
curl_share_setopt(CURLSH *sh, CURLSHoption opt, ...)
{
    if (!need())
        return CURLSHE_NOT_BUILT_IN;
    va_list ap;
    va_start(ap, opt);
    CURLSHcode rc;
    switch (opt) {
    case CURLSHOPT_SHARE:
    case CURLSHOPT_UNSHARE:
        rc = fn.curl_share_setopt(sh, opt, va_arg(ap, int)); /* a curl_lock_data */
        break;
    case CURLSHOPT_LOCKFUNC:
    case CURLSHOPT_UNLOCKFUNC:
        rc = fn.curl_share_setopt(sh, opt, va_arg(ap, any_fn));
        break;
    case CURLSHOPT_USERDATA:
        rc = fn.curl_share_setopt(sh, opt, va_arg(ap, void *));
        break;
    case CURLSHOPT_NONE:
    case CURLSHOPT_LAST:
    default:
        rc = CURLSHE_BAD_OPTION;
        break;
    }
    va_end(ap);
    return rc;
}

/* ---- easy ------------------------------------------------------------------------ */

CURL *
curl_easy_init(void)
{
    return need() ? fn.curl_easy_init() : NULL;
}

CURLcode
curl_easy_perform(CURL *h)
{
    return need() ? fn.curl_easy_perform(h) : CURLE_FAILED_INIT;
}

void
curl_easy_reset(CURL *h)
{
    if (have())
        fn.curl_easy_reset(h);
}

void
curl_easy_cleanup(CURL *h)
{
    if (have())
        fn.curl_easy_cleanup(h);
}

const char *
curl_easy_strerror(CURLcode rc)
{
    return need() ? fn.curl_easy_strerror(rc) : "libcurl is not loaded";
}

char *
curl_easy_escape(CURL *h, const char *s, int n)
{
    return need() ? fn.curl_easy_escape(h, s, n) : NULL;
}

char *
curl_easy_unescape(CURL *h, const char *s, int n, int *outn)
{
    return need() ? fn.curl_easy_unescape(h, s, n, outn) : NULL;
}

void
curl_free(void *p)
{
    if (have())
        fn.curl_free(p);
}

struct curl_slist *
curl_slist_append(struct curl_slist *l, const char *s)
{
    return need() ? fn.curl_slist_append(l, s) : NULL;
}

void
curl_slist_free_all(struct curl_slist *l)
{
    if (have())
        fn.curl_slist_free_all(l);
}

/* ---- multi and share --------------------------------------------------------------- */

CURLM *
curl_multi_init(void)
{
    return need() ? fn.curl_multi_init() : NULL;
}

CURLMcode
curl_multi_add_handle(CURLM *m, CURL *h)
{
    return need() ? fn.curl_multi_add_handle(m, h) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_remove_handle(CURLM *m, CURL *h)
{
    return need() ? fn.curl_multi_remove_handle(m, h) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_perform(CURLM *m, int *running)
{
    return need() ? fn.curl_multi_perform(m, running) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned n, int timeout_ms, int *numfds)
{
    return need() ? fn.curl_multi_poll(m, extra, n, timeout_ms, numfds) : CURLM_INTERNAL_ERROR;
}

CURLMsg *
curl_multi_info_read(CURLM *m, int *left)
{
    return need() ? fn.curl_multi_info_read(m, left) : NULL;
}

CURLMcode
curl_multi_cleanup(CURLM *m)
{
    return have() ? fn.curl_multi_cleanup(m) : CURLM_BAD_HANDLE;
}

CURLSH *
curl_share_init(void)
{
    return need() ? fn.curl_share_init() : NULL;
}

CURLSHcode
curl_share_cleanup(CURLSH *sh)
{
    return have() ? fn.curl_share_cleanup(sh) : CURLSHE_INVALID;
}

/* ---- URLs ------------------------------------------------------------------------- */

CURLU *
curl_url(void)
{
    return need() ? fn.curl_url() : NULL;
}

void
curl_url_cleanup(CURLU *u)
{
    if (have())
        fn.curl_url_cleanup(u);
}

CURLUcode
curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned flags)
{
    return need() ? fn.curl_url_get(u, what, part, flags) : CURLUE_BAD_HANDLE;
}

CURLUcode
curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned flags)
{
    return need() ? fn.curl_url_set(u, what, part, flags) : CURLUE_BAD_HANDLE;
}
