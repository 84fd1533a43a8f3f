/* builder/mdcache.c: content digests of context files, remembered by (path, size, mtime,
 * ctime, inode) in the store's cache, so an unchanged file is not read again to compute
 * a COPY's cache key.  Kept per context directory (its real path).
 */
#include "builder/build.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

struct mdent {
    char *path;
    uint64_t size, mtime, ctime, ino;
    struct digest d;
};

struct mdcache {
    struct mdent *old; /* loaded, sorted by path */
    size_t nold;
    struct mdent *cur; /* seen in this build */
    size_t ncur, capcur;
    bool dirty;
    char *ctxpath; /* the directory's real path (the key of its record) */
};

static int
cmp_ent(const void *a, const void *b)
{
    return strcmp(((const struct mdent *)a)->path, ((const struct mdent *)b)->path);
}

static uint64_t
ns_of(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

static char *
key_of(const struct mdcache *m)
{
    return ib_xasprintf("ctxmeta:%s", m->ctxpath);
}

int
mdcache_load(struct bctx *b, const char *ctxpath, struct mdcache **out, struct ib_err **err)
{
    (void)err;
    struct mdcache *m = ib_xcalloc(1, sizeof(*m));
    m->ctxpath = ib_xstrdup(ctxpath);
    *out = m;
    AUTO_FREE char *key = key_of(m);
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    AUTO_ERR struct ib_err *e = NULL;
    if (store_cache_get(b->st, key, &v, &e) < 0)
        return 0;
    /* the value is a JSON string of lines; paths have '%' and '\n' escaped as %25 %0a */
    AUTO_BUF struct ib_buf t = IB_BUF_INIT;
    const char *p = v.s;
    while (*p && *p != '"')
        p++;
    if (*p == '"')
        p++;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            ib_buf_addc(&t, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
        } else {
            ib_buf_addc(&t, *p);
        }
    }
    size_t cap = 0;
    for (char *save = NULL, *l = strtok_r(t.s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char hex[65];
        unsigned long long size, mt, ct, ino;
        int off = 0;
        if (sscanf(l, "%64s %llu %llu %llu %llu %n", hex, &size, &mt, &ct, &ino, &off) != 5 || !off)
            continue;
        struct mdent ent = {.size = size, .mtime = mt, .ctime = ct, .ino = ino};
        AUTO_FREE char *ds = ib_xasprintf("sha256:%s", hex);
        if (digest_parse(ds, &ent.d, NULL) < 0)
            continue;
        AUTO_BUF struct ib_buf path = IB_BUF_INIT;
        for (const char *c = l + off; *c; c++) {
            if (c[0] == '%' && c[1] == '2' && c[2] == '5') {
                ib_buf_addc(&path, '%');
                c += 2;
            } else if (c[0] == '%' && c[1] == '0' && c[2] == 'a') {
                ib_buf_addc(&path, '\n');
                c += 2;
            } else {
                ib_buf_addc(&path, *c);
            }
        }
        ent.path = ib_buf_detach(&path, NULL);
        IB_GROW(m->old, m->nold + 1, cap);
        m->old[m->nold++] = ent;
    }
    if (m->nold)
        qsort(m->old, m->nold, sizeof(*m->old), cmp_ent);
    return 0;
}

static void
add_line(struct ib_buf *t, const struct mdent *e)
{
    ib_buf_addf(t, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " ", digest_hex(&e->d),
                e->size, e->mtime, e->ctime, e->ino);
    for (const char *c = e->path; *c; c++) {
        if (*c == '%')
            ib_buf_adds(t, "%25");
        else if (*c == '\n')
            ib_buf_adds(t, "%0a");
        else
            ib_buf_addc(t, *c);
    }
    ib_buf_addc(t, '\n');
}

int
mdcache_save(struct bctx *b, struct mdcache *m, struct ib_err **err)
{
    if (!m || !m->dirty)
        return 0;
    if (m->ncur)
        qsort(m->cur, m->ncur, sizeof(*m->cur), cmp_ent);
    AUTO_BUF struct ib_buf t = IB_BUF_INIT;
    for (size_t i = 0; i < m->ncur; i++)
        if (i == 0 || strcmp(m->cur[i].path, m->cur[i - 1].path) != 0)
            add_line(&t, &m->cur[i]);
    for (size_t i = 0; i < m->nold; i++)
        if (!m->ncur || !bsearch(&m->old[i], m->cur, m->ncur, sizeof(*m->cur), cmp_ent))
            add_line(&t, &m->old[i]);
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    json_str(&v, t.s);
    AUTO_FREE char *key = key_of(m);
    return store_cache_put(b->st, key, v.s, NULL, 0, err);
}

void
mdcache_free(struct mdcache *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nold; i++)
        free(m->old[i].path);
    for (size_t i = 0; i < m->ncur; i++)
        free(m->cur[i].path);
    free(m->old);
    free(m->cur);
    free(m->ctxpath);
    free(m);
}

static int
hash_file(int dirfd, const char *relpath, struct digest *out, struct ib_err **err)
{
    AUTO_FD int fd = openat(dirfd, relpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s'", relpath);
    struct digest_ctx *c = NULL;
    if (digest_ctx_new(&c, err) < 0)
        return -1;
    AUTO_FREE char *buf = ib_xmalloc(1 << 20);
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            digest_ctx_free(c);
            return ib_fail_errno(err, "read '%s'", relpath);
        }
        if (n == 0)
            break;
        digest_ctx_update(c, buf, (size_t)n);
    }
    digest_ctx_final(c, out);
    digest_ctx_free(c);
    return 0;
}

int
mdcache_digest(struct bctx *b, int dirfd, const char *relpath, const struct stat *st,
               struct digest *out, struct ib_err **err)
{
    const struct bnamed *nc = dirfd == b->ctxfd ? NULL : named_by_fd(b, dirfd);
    struct mdcache *m = nc ? nc->md : dirfd == b->ctxfd ? b->md : NULL;
    struct mdent want = {.path = (char *)relpath,
                         .size = (uint64_t)st->st_size,
                         .mtime = ns_of(&st->st_mtim),
                         .ctime = ns_of(&st->st_ctim),
                         .ino = (uint64_t)st->st_ino};
    if (!m)
        return hash_file(dirfd, relpath, out, err);
    pthread_mutex_lock(&b->lock);
    const struct mdent *e =
        m->nold ? bsearch(&want, m->old, m->nold, sizeof(*m->old), cmp_ent) : NULL;
    bool hit = e && e->size == want.size && e->mtime == want.mtime && e->ctime == want.ctime &&
               e->ino == want.ino;
    if (hit)
        want.d = e->d;
    pthread_mutex_unlock(&b->lock);
    if (!hit && hash_file(dirfd, relpath, &want.d, err) < 0)
        return -1;
    *out = want.d;
    pthread_mutex_lock(&b->lock);
    IB_GROW(m->cur, m->ncur + 1, m->capcur);
    want.path = ib_xstrdup(relpath);
    m->cur[m->ncur++] = want;
    m->dirty = m->dirty || !hit;
    pthread_mutex_unlock(&b->lock);
    return 0;
}
