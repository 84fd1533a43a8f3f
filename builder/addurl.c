/* builder/addurl.c: ADD <url>: downloads through the registry client, kept as store blobs.
 *
 * A download becomes a blob, and the store's cache maps
 *   "addurl:URL sha256:..."                          (ADD --checksum=sha256:...)
 *   "addurl:URL etag=... last-modified=..."          (no checksum: the HEAD answer)
 * to "sha256:<blob> <mtime> <file name>" (the blob is a root, so prune keeps it).
 *
 * With --checksum the content is pinned: a cached download with that checksum is
 * used without any network traffic.  Without it the URL is checked on every build,
 * as BuildKit does: a HEAD request, and when its ETag / Last-Modified equal those of
 * a cached download that one is used; otherwise (or when the server sends neither)
 * the file is downloaded again.  The step's cache key holds the content digest, the
 * mtime and the name, so a download that did not change still hits the layer cache.
 *
 * The file gets mode 0600 (before --chmod), the server's Last-Modified as mtime (the
 * download time when there is none) and, when dest ends with '/', the last segment of
 * the URL as its name.  Remote archives are not unpacked (as in Docker).
 */
#include "builder/copy.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "registry/registry.h"
#include "common/banned.h"

struct download {
    struct digest d;
    long long mtime;
    char *name;
};

static void
download_release(struct download *dl)
{
    free(dl->name);
    dl->name = NULL;
}

/* 1: key names a download whose blob is still in the store; 0: none. */
static int
lookup(struct bctx *b, const char *key, struct download *dl)
{
    AUTO_BUF struct ib_buf t = IB_BUF_INIT;
    if (cache_get_text(b->st, key, &t) < 0)
        return 0;
    char *sp = strchr(t.s, ' ');
    char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
    if (!sp2)
        return 0;
    *sp = *sp2 = '\0';
    if (digest_parse(t.s, &dl->d, NULL) < 0 || !store_blob_exists(b->st, &dl->d))
        return 0;
    dl->mtime = strtoll(sp + 1, NULL, 10);
    dl->name = ib_xstrdup(sp2 + 1);
    return 1;
}

static int
fetch(struct bctx *b, struct registry_client *c, const char *url, const char *checksum,
      struct download *dl, struct ib_err **err)
{
    AUTO_FREE char *dir = NULL;
    pthread_mutex_lock(&b->lock);
    int rc = store_tmp_mkdir(b->st, "url", &dir, err);
    pthread_mutex_unlock(&b->lock);
    if (rc < 0)
        return -1;
    AUTO_FREE char *path = ib_path_join(dir, "data");
    struct registry_download_info info = {0};
    rc = registry_download(c, url, path, checksum, &info, err);
    if (rc == 0) {
        AUTO_FD int fd = open(path, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? ib_fail_errno(err, "open '%s'", path)
                    : store_blob_put_fd(b->st, fd, NULL, &dl->d, NULL, err);
        dl->mtime = info.mtime > 0 ? (long long)info.mtime : (long long)time(NULL);
        dl->name = info.filename;
    }
    ib_rm_rf_at(AT_FDCWD, dir, NULL);
    return rc;
}

static int
resolve(struct bctx *b, const char *url, const char *checksum, struct download *dl,
        struct ib_err **err)
{
    struct registry_client *c = NULL;
    AUTO_FREE char *validator = NULL;
    if (build_registry(b, &c, err) < 0)
        return -1;
    if (!checksum && registry_url_validator(c, url, &validator, err) < 0)
        return -1;
    AUTO_FREE char *key = checksum || validator
                              ? ib_xasprintf("addurl:%s %s", url, checksum ? checksum : validator)
                              : NULL;
    if (key && lookup(b, key, dl))
        return 0;
    if (fetch(b, c, url, checksum, dl, err) < 0)
        return -1;
    if (!key)
        return 0;
    AUTO_FREE char *val = ib_xasprintf("%s %lld %s", dl->d.s, dl->mtime, dl->name);
    const char *roots[] = {dl->d.s};
    return cache_put_text(b, key, val, roots, 1, err);
}

int
copy_add_url(struct copyjob *j, const char *url, const char *checksum, struct ib_err **err)
{
    struct bctx *b = j->b;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return ib_fail(err, IB_E_BUILD, "'%s': only http and https URLs are supported", url);
    struct download dl = {0};
    pthread_mutex_lock(&b->pull_lock);
    int rc = resolve(b, url, checksum, &dl, err);
    pthread_mutex_unlock(&b->pull_lock);
    if (rc < 0) {
        download_release(&dl);
        return -1;
    }
    IB_GROW(j->ents, j->n + 1, j->cap);
    struct copy_ent *e = &j->ents[j->n++];
    memset(e, 0, sizeof(*e));
    e->kind = COPY_ENT_URL;
    e->src = ib_xstrdup(dl.d.s);
    e->data = ib_xstrdup(url);
    AUTO_FREE char *dst = j->dest_dir ? ib_xasprintf("%s/%s", j->dest, dl.name) : NULL;
    e->dst = df_path_clean(dst ? dst : j->dest);
    if (e->dst[0] == '/')
        memmove(e->dst, e->dst + 1, strlen(e->dst));
    e->st.st_mode = S_IFREG | 0600;
    e->st.st_mtim.tv_sec = (time_t)dl.mtime;
    download_release(&dl);
    return 0;
}
