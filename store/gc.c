/* store/gc.c: the build cache entries, prune (mark and sweep) and fsck.
 *
 * cache/entries/<sha256 of key>.json = {"key":..., "roots":[digests], "value":...}
 * cache/compressed/<diffID hex>.<codec> = "<blob digest> <size>" (compress.c)
 *
 * Roots: every manifest in index.json (its config, layers, and the snapshots
 * of its layer chains) and every cache entry's roots.  A compressed variant
 * lives as long as its diffID is live.
 */
#include "store/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

/* ---- build cache ------------------------------------------------------------ */

static char *
entry_name(const char *key)
{
    struct digest d;
    digest_buf(key, strlen(key), &d);
    return ib_xasprintf("entries/%s.json", digest_hex(&d));
}

int
store_cache_put(struct store *st, const char *key, const char *value_json, const char *const *roots,
                size_t nroots, struct ib_err **err)
{
    json_t *value = NULL;
    if (image_json_parse(value_json, strlen(value_json), "cache value", &value, err) < 0)
        return -1;
    json_t *r = json_array();
    for (size_t i = 0; i < nroots; i++)
        json_array_append_new(r, json_string(roots[i]));
    json_t *o = json_pack("{s:s,s:o,s:o}", "key", key, "roots", r, "value", value);
    if (!o)
        ib_oom();
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    image_json_dump(o, &b);
    json_decref(o);
    AUTO_FREE char *name = entry_name(key);
    if (ib_mkdir_p(st->cachefd, "entries", 0755, err) < 0)
        return -1;
    /* No fsync: what an entry names (blobs, snapshots) is durable before the entry is
     * written (in a write batch: both become durable at its end, and a crash recovery
     * removes entries written since the batch began), and a lost or torn entry is only
     * a cache miss (store_cache_get). */
    int batch = store_batch_want(st, err);
    if (batch < 0 || ib_write_replace(st->cachefd, name, b.s, b.len, 0644, err) < 0)
        return -1;
    if (batch)
        store_batch_note(st);
    return 0;
}

int
store_cache_get(struct store *st, const char *key, struct ib_buf *out, struct ib_err **err)
{
    AUTO_FREE char *name = entry_name(key);
    AUTO_FD int fd = openat(st->cachefd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return store_fail_missing(err, "no cache entry");
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    ib_buf_set_limit(&b, STORE_JSON_LIMIT);
    json_t *o = NULL;
    if (ib_read_fd(fd, &b, name, err) < 0)
        return -1;
    AUTO_ERR struct ib_err *perr = NULL;
    if (image_json_parse(b.s, b.len, name, &o, &perr) < 0) /* e.g. torn by a crash */
        return store_fail_missing(err, "no cache entry");
    if (strcmp(image_jstr(o, "key"), key) != 0) {
        json_decref(o);
        return store_fail_missing(err, "no cache entry");
    }
    image_json_dump(json_object_get(o, "value"), out);
    json_decref(o);
    return 0;
}

/* ---- marking ------------------------------------------------------------------ */

struct marks {
    struct ib_strv blobs; /* hex */
    struct ib_strv snaps; /* snapshot names */
    struct ib_strv diffs; /* live diffID hex (for compressed variants) */
};

static void
marks_release(struct marks *m)
{
    ib_strv_release(&m->blobs);
    ib_strv_release(&m->snaps);
    ib_strv_release(&m->diffs);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
sort_strv(struct ib_strv *v)
{
    if (v->n)
        qsort(v->v, v->n, sizeof(char *), cmp_str);
}

static bool
has(const struct ib_strv *v, const char *s)
{
    return v->n && bsearch(&s, v->v, v->n, sizeof(char *), cmp_str) != NULL;
}

static void
mark_image(struct store *st, const struct digest *md, struct marks *m)
{
    ib_strv_push(&m->blobs, digest_hex(md));
    json_t *j = NULL;
    if (image_read_json(st, md, &j, NULL) < 0)
        return;
    if (strcmp(image_jstr(j, "mediaType"), MEDIA_OCI_INDEX) == 0) {
        json_t *arr = json_object_get(j, "manifests");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            struct digest d;
            if (digest_parse(image_jstr(json_array_get(arr, i), "digest"), &d, NULL) == 0)
                mark_image(st, &d, m);
        }
        json_decref(j);
        return;
    }
    json_decref(j);
    struct store_image *img = NULL;
    if (image_load(st, md, &img, NULL) < 0) {
        /* keep what can be named even when the image is damaged */
        return;
    }
    ib_strv_push(&m->blobs, digest_hex(&img->id));
    for (size_t i = 0; i < img->nlayers; i++) {
        const struct store_layer *l = &img->layers[i];
        ib_strv_push(&m->blobs, digest_hex(&l->digest));
        ib_strv_push(&m->diffs, digest_hex(&l->diff_id));
        ib_strv_push_owned(&m->snaps, store_snapshot_name(&l->chain_id));
    }
    store_image_free(img);
}

static int
mark(struct store *st, bool drop_cache, struct marks *m, struct store_gc_stats *stats,
     struct ib_err **err)
{
    json_t *index = NULL;
    if (image_index_read(st, &index, err) < 0)
        return -1;
    json_t *arr = json_object_get(index, "manifests");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct digest d;
        if (digest_parse(image_jstr(json_array_get(arr, i), "digest"), &d, NULL) == 0)
            mark_image(st, &d, m);
    }
    json_decref(index);
    AUTO_FD int efd = openat(st->cachefd, "entries", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = efd >= 0 ? fdopendir(efd) : NULL;
    if (d)
        efd = -1;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (drop_cache) {
            unlinkat(dirfd(d), de->d_name, 0);
            stats->cache_entries++;
            continue;
        }
        AUTO_BUF struct ib_buf b = IB_BUF_INIT;
        AUTO_FD int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
        json_t *o = NULL;
        if (fd < 0 || ib_read_fd(fd, &b, de->d_name, NULL) < 0 ||
            image_json_parse(b.s, b.len, de->d_name, &o, NULL) < 0)
            continue;
        json_t *roots = json_object_get(o, "roots");
        for (size_t i = 0; i < json_array_size(roots); i++) {
            struct digest rd;
            if (digest_parse(json_string_value(json_array_get(roots, i)) ?: "", &rd, NULL) < 0)
                continue;
            ib_strv_push(&m->blobs, digest_hex(&rd));
            ib_strv_push(&m->diffs, digest_hex(&rd));
            ib_strv_push_owned(&m->snaps, store_snapshot_name(&rd));
        }
        json_decref(o);
    }
    if (d)
        closedir(d);
    return 0;
}

/* keep compressed variants (and their blobs) of live diffIDs */
static void
mark_compressed(struct store *st, struct marks *m, struct store_gc_stats *stats)
{
    int fd = openat(st->cachefd, "compressed", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        AUTO_FREE char *hex = ib_xstrndup(de->d_name, strcspn(de->d_name, "."));
        if (!has(&m->diffs, hex)) {
            unlinkat(dirfd(d), de->d_name, 0);
            stats->cache_entries++;
            continue;
        }
        AUTO_FD int f = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
        char buf[DIGEST_STR_LEN + 1];
        if (f >= 0 && read(f, buf, DIGEST_STR_LEN) == DIGEST_STR_LEN) {
            buf[DIGEST_STR_LEN] = '\0';
            struct digest bd;
            if (digest_parse(buf, &bd, NULL) == 0)
                ib_strv_push(&m->blobs, digest_hex(&bd));
        }
    }
    closedir(d);
}

static int
sweep_dir(int dfd, const struct ib_strv *live, bool snapshots, struct store_gc_stats *stats,
          struct ib_err **err)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return ib_fail_errno(err, "open store directory");
    }
    rewinddir(d);
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL && rc == 0) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        AUTO_FREE char *key = ib_xstrndup(de->d_name, strcspn(de->d_name, "."));
        if (has(live, key))
            continue;
        struct stat sb;
        if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
            stats->bytes += (uint64_t)sb.st_size;
        if (snapshots)
            stats->snapshots += strchr(de->d_name, '.') ? 0 : 1;
        else
            stats->blobs++;
        rc = ib_rm_rf_at(dfd, de->d_name, err);
    }
    closedir(d);
    return rc;
}

int
store_prune(struct store *st, unsigned flags, struct store_gc_stats *stats, struct ib_err **err)
{
    memset(stats, 0, sizeof(*stats));
    if (!st->exclusive)
        return ib_fail(err, IB_E_BUG, "prune needs the store opened with STORE_EXCLUSIVE");
    struct marks m = {IB_STRV_INIT, IB_STRV_INIT, IB_STRV_INIT};
    int rc = mark(st, (flags & STORE_PRUNE_CACHE) != 0, &m, stats, err);
    if (rc == 0) {
        sort_strv(&m.diffs);
        mark_compressed(st, &m, stats);
        sort_strv(&m.blobs);
        sort_strv(&m.snaps);
        rc = sweep_dir(st->blobsfd, &m.blobs, false, stats, err);
    }
    if (rc == 0)
        rc = sweep_dir(st->snapfd, &m.snaps, true, stats, err);
    if (rc == 0)
        rc = ib_fsync_dir(st->blobsfd, "blobs/sha256", err);
    marks_release(&m);
    return rc;
}

/* ---- fsck ---------------------------------------------------------------------- */

static int
verify_blobs(struct store *st, struct ib_buf *report, size_t *bad, struct ib_err **err)
{
    int fd = dup(st->blobsfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return ib_fail_errno(err, "open blobs/sha256");
    }
    rewinddir(d);
    struct digest_ctx *c = NULL;
    if (digest_ctx_new(&c, err) < 0) {
        closedir(d);
        return -1;
    }
    AUTO_FREE char *buf = ib_xmalloc(STORE_IO_CHUNK);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        AUTO_FREE char *ds = ib_xasprintf("sha256:%s", de->d_name);
        struct digest want, got;
        if (digest_parse(ds, &want, NULL) < 0) {
            ib_buf_addf(report, "blobs/sha256/%s: not a digest name\n", de->d_name);
            (*bad)++;
            continue;
        }
        AUTO_FD int bfd = openat(st->blobsfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (bfd < 0) {
            ib_buf_addf(report, "blob %s: cannot open: %s\n", ds, strerror(errno));
            (*bad)++;
            continue;
        }
        ssize_t n;
        while ((n = read(bfd, buf, STORE_IO_CHUNK)) > 0)
            digest_ctx_update(c, buf, (size_t)n);
        digest_ctx_final(c, &got);
        if (n < 0 || !digest_eq(&want, &got)) {
            ib_buf_addf(report, "blob %s: content has digest %s\n", ds, got.s);
            (*bad)++;
        }
    }
    digest_ctx_free(c);
    closedir(d);
    return 0;
}

int
store_fsck(struct store *st, struct ib_buf *report, struct ib_err **err)
{
    size_t bad = 0;
    if (verify_blobs(st, report, &bad, err) < 0)
        return -1;
    json_t *index = NULL;
    if (image_index_read(st, &index, err) < 0)
        return -1;
    json_t *arr = json_object_get(index, "manifests");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        const char *name = image_entry_ref(e) ?: image_jstr(e, "digest");
        struct digest md;
        AUTO_ERR struct ib_err *ierr = NULL;
        IB_AUTO(store_image_free) struct store_image *img = NULL;
        if (digest_parse(image_jstr(e, "digest"), &md, &ierr) < 0 ||
            image_load(st, &md, &img, &ierr) < 0) {
            ib_buf_addf(report, "image %s: %s\n", name, ierr ? ierr->msg : "unreadable");
            bad++;
            continue;
        }
        for (size_t k = 0; k < img->nlayers; k++) {
            const struct store_layer *l = &img->layers[k];
            bool blob = store_blob_exists(st, &l->digest);
            if (!blob) {
                ib_buf_addf(report, "image %s: layer blob %s missing\n", name, l->digest.s);
                bad++;
            }
            /* a snapshot is made from its blob when first needed (a pull only downloads) */
            if (!blob && !store_snapshot_exists(st, &l->chain_id)) {
                ib_buf_addf(report, "image %s: snapshot of layer %zu (chain %s) missing\n", name, k,
                            l->chain_id.s);
                bad++;
            }
        }
    }
    json_decref(index);
    if (bad)
        return ib_fail(err, IB_E_STORE, "store '%s' is damaged: %zu problem%s", st->root, bad,
                       bad == 1 ? "" : "s");
    return 0;
}
