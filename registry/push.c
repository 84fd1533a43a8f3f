/* registry/push.c: push an image from the store.
 *
 * Blobs (config + layers, each once) go in three parallel rounds: HEAD (the
 * registry has it?), POST to open an upload (or to mount the blob from the
 * repository it was pulled from on the same registry), then one streaming
 * PUT of the whole blob per upload; or, with a chunk size, PATCH rounds (the
 * next chunk of every unfinished blob, with its Content-Range, each answer
 * giving the next location) and a closing PUT without a body.  Blobs to be mounted, and small ones
 * (the config), skip the HEAD: the mount answers 201 whether the blob was
 * there already or not, and sending a small blob again costs what the HEAD
 * would.  Then the manifest is PUT with its media
 * type.  Local layers are uncompressed in the store: they are pushed gzip
 * (default) or zstd through store_layer_compressed, which caches the result.
 */
#include "registry/internal.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

#define MEDIA_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define HEAD_MIN_SIZE (64u << 10) /* smaller blobs are sent without asking first */

IB_DEFINE_AUTO(struct store_image, store_image_free)

struct up {
    struct digest d;
    uint64_t size;
    char *mount_from; /* repository to mount from, or NULL */
    char *location;   /* upload URL */
    int fd;
    uint64_t sent; /* chunked: bytes the registry has */
    bool present;
};

struct push {
    struct reg_repo r;
    struct store *st;
    struct up *ups;
    size_t n, cap;
};

static void
add_blob(struct push *p, const struct digest *d, uint64_t size)
{
    for (size_t i = 0; i < p->n; i++)
        if (digest_eq(&p->ups[i].d, d))
            return;
    IB_GROW(p->ups, p->n + 1, p->cap);
    struct up *u = &p->ups[p->n++];
    memset(u, 0, sizeof(*u));
    u->d = *d;
    u->size = size;
    u->fd = -1;
}

static void
push_release(struct push *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->ups[i].mount_from);
        free(p->ups[i].location);
        if (p->ups[i].fd >= 0)
            close(p->ups[i].fd);
    }
    free(p->ups);
    reg_repo_release(&p->r);
}

static void
free_xfers(struct xfer **xs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        reg_xfer_free(xs[i]);
}

/* Build the manifest to push into out; *media gets its type. */
static int
make_manifest(struct push *p, const struct store_image *img, const struct registry_push_opts *o,
              struct ib_buf *out, const char **media, struct ib_err **err)
{
    size_t nl = store_image_nlayers(img);
    bool compressed = true;
    for (size_t i = 0; i < nl; i++)
        compressed &= store_image_layer(img, i)->compression != STORE_COMPRESS_NONE;
    enum store_compression want =
        o->compression ? (enum store_compression)o->compression : STORE_COMPRESS_GZIP;
    bool docker = o->format == REGISTRY_FORMAT_DOCKER;
    if (docker && want == STORE_COMPRESS_ZSTD)
        return ib_fail(err, IB_E_USAGE, "Docker schema2 has no zstd layers: use --format oci");
    AUTO_FD int cfd = -1;
    uint64_t csize = 0;
    if (store_blob_open(p->st, store_image_id(img), &cfd, &csize, err) < 0)
        return -1;
    add_blob(p, store_image_id(img), csize);
    if (o->format == REGISTRY_FORMAT_AUTO && compressed && !o->compression &&
        digest_is_set(store_image_digest(img))) {
        /* as stored: the digest stays what it is */
        if (store_blob_read(p->st, store_image_digest(img), REG_JSON_LIMIT, out, err) < 0)
            return -1;
        json_t *j = json_loadb(out->s, out->len, 0, NULL);
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        *media = mt && strcmp(mt, MEDIA_DOCKER_MANIFEST) == 0 ? MEDIA_DOCKER_MANIFEST
                                                              : MEDIA_OCI_MANIFEST;
        json_decref(j);
        for (size_t i = 0; i < nl; i++)
            add_blob(p, &store_image_layer(img, i)->digest, store_image_layer(img, i)->size);
        return 0;
    }
    json_t *layers = json_array();
    for (size_t i = 0; i < nl; i++) {
        struct store_layer l;
        if (store_layer_compressed(p->st, store_image_layer(img, i), want, &l, err) < 0) {
            json_decref(layers);
            return -1;
        }
        add_blob(p, &l.digest, l.size);
        const char *lm = docker ? (l.compression == STORE_COMPRESS_ZSTD ? MEDIA_DOCKER_LAYER_ZSTD
                                                                        : MEDIA_DOCKER_LAYER_GZIP)
                         : l.compression == STORE_COMPRESS_ZSTD ? MEDIA_LAYER_ZSTD
                         : l.compression == STORE_COMPRESS_GZIP ? MEDIA_LAYER_GZIP
                                                                : MEDIA_LAYER_TAR;
        json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType", lm, "digest",
                                                l.digest.s, "size", (json_int_t)l.size));
    }
    *media = docker ? MEDIA_DOCKER_MANIFEST : MEDIA_OCI_MANIFEST;
    json_t *m =
        json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType", *media,
                  "config", "mediaType", docker ? MEDIA_DOCKER_CONFIG : MEDIA_OCI_CONFIG, "digest",
                  store_image_id(img)->s, "size", (json_int_t)csize, "layers", layers);
    if (!m)
        ib_oom();
    char *s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (!s)
        ib_oom();
    ib_buf_adds(out, s);
    free(s);
    return 0;
}

/* The repository each blob came from on this registry, if another one. */
static void
find_mount_sources(struct push *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct up *u = &p->ups[i];
        AUTO_FREE char *from = NULL;
        if (reg_blob_source(p->st, p->r.ep->domain, &u->d, &from) == 0 &&
            strcmp(from, p->r.ref->path) != 0)
            u->mount_from = ib_steal(&from);
    }
}

/* Round 1: which (large, not mountable) blobs does the registry have? */
static int
round_head(struct push *p, struct ib_err **err)
{
    AUTO_FREE struct xfer **xs = ib_xcalloc(p->n, sizeof(*xs));
    AUTO_FREE size_t *idx = ib_xcalloc(p->n, sizeof(*idx));
    size_t nx = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->ups[i].mount_from || p->ups[i].size < HEAD_MIN_SIZE)
            continue;
        xs[nx] = reg_repo_xfer(&p->r, "HEAD", "blobs/", p->ups[i].d.s);
        xs[nx]->what = p->ups[i].d.s;
        idx[nx++] = i;
    }
    int rc = http_run(p->r.c, xs, nx, p->r.c->opts.parallel, err);
    if (rc < 0)
        ib_err_prefix(err, "%s", p->r.refstr);
    for (size_t k = 0; rc == 0 && k < nx; k++) {
        if (xs[k]->status == 200)
            p->ups[idx[k]].present = true;
        else if (xs[k]->status != 404)
            rc = reg_status_fail(xs[k], p->r.refstr, err);
    }
    free_xfers(xs, nx);
    return rc;
}

/* Round 2: open uploads (or mount). */
static int
round_post(struct push *p, struct ib_err **err)
{
    AUTO_FREE struct xfer **xs = ib_xcalloc(p->n, sizeof(*xs));
    AUTO_FREE size_t *idx = ib_xcalloc(p->n, sizeof(*idx));
    size_t nx = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct up *u = &p->ups[i];
        if (u->present)
            continue;
        struct xfer *x;
        if (u->mount_from) {
            char *e = curl_easy_escape(NULL, u->mount_from, 0);
            AUTO_FREE char *q = ib_xasprintf("?mount=%s&from=%s", u->d.s, e);
            curl_free(e);
            x = reg_repo_xfer(&p->r, "POST", "blobs/uploads/", q);
            char *scope = ib_xasprintf("%s repository:%s:pull", x->scope, u->mount_from);
            free(x->scope);
            x->scope = scope;
        } else {
            x = reg_repo_xfer(&p->r, "POST", "blobs/uploads/", NULL);
        }
        x->what = u->d.s;
        idx[nx] = i;
        xs[nx++] = x;
    }
    int rc = http_run(p->r.c, xs, nx, p->r.c->opts.parallel, err);
    if (rc < 0)
        ib_err_prefix(err, "%s", p->r.refstr);
    for (size_t k = 0; rc == 0 && k < nx; k++) {
        struct up *u = &p->ups[idx[k]];
        struct xfer *x = xs[k];
        if (x->status == 201 && u->mount_from) {
            u->present = true;
        } else if (x->status == 202 && x->location) {
            u->location = http_resolve(x->cur_url, x->location);
            if (!u->location)
                rc = ib_fail(err, IB_E_REGISTRY, "%s: bad upload location", p->r.refstr);
        } else {
            rc = reg_status_fail(x, p->r.refstr, err);
        }
    }
    free_xfers(xs, nx);
    return rc;
}

static int
open_blob(struct push *p, struct up *u, struct ib_err **err)
{
    return u->fd >= 0 ? 0 : store_blob_open(p->st, &u->d, &u->fd, &u->size, err);
}

/* Round 3, chunked: PATCH the next chunk of every blob not yet sent, until all are. */
static int
round_patch(struct push *p, uint64_t chunk, struct ib_err **err)
{
    AUTO_FREE struct xfer **xs = ib_xcalloc(p->n, sizeof(*xs));
    AUTO_FREE size_t *idx = ib_xcalloc(p->n, sizeof(*idx));
    for (;;) {
        size_t nx = 0;
        int rc = 0;
        for (size_t i = 0; i < p->n && rc == 0; i++) {
            struct up *u = &p->ups[i];
            if (u->present || open_blob(p, u, err) < 0) {
                rc = u->present ? 0 : -1;
                continue;
            }
            if (u->sent >= u->size)
                continue;
            uint64_t len = u->size - u->sent < chunk ? u->size - u->sent : chunk;
            struct xfer *x = ib_xcalloc(1, sizeof(*x));
            xfer_init(x, p->r.ep, "PATCH", ib_xstrdup(u->location));
            x->scope = ib_xstrdup(p->r.scope);
            ib_strv_push(&x->headers, "Content-Type: application/octet-stream");
            ib_strv_pushf(&x->headers, "Content-Range: %llu-%llu", (unsigned long long)u->sent,
                          (unsigned long long)(u->sent + len - 1));
            x->has_body = true;
            x->up_fd = u->fd;
            x->up_off = u->sent;
            x->up_size = len;
            x->what = u->d.s;
            idx[nx] = i;
            xs[nx++] = x;
        }
        if (rc < 0 || nx == 0) {
            free_xfers(xs, nx);
            return rc;
        }
        if (http_run(p->r.c, xs, nx, p->r.c->opts.parallel, err) < 0)
            rc = ib_err_prefix(err, "%s", p->r.refstr);
        for (size_t k = 0; rc == 0 && k < nx; k++) {
            struct up *u = &p->ups[idx[k]];
            struct xfer *x = xs[k];
            if (x->status != 202 || !x->location) {
                rc = reg_status_fail(x, p->r.refstr, err);
                break;
            }
            char *next = http_resolve(x->cur_url, x->location);
            if (!next) {
                rc = ib_fail(err, IB_E_REGISTRY, "%s: bad upload location", p->r.refstr);
                break;
            }
            free(u->location);
            u->location = next;
            u->sent += x->up_size;
        }
        free_xfers(xs, nx);
        if (rc < 0)
            return rc;
    }
}

/* Round 3: one streaming PUT per blob (chunked: the closing PUT, without a body). */
static int
round_put(struct push *p, bool chunked, struct ib_err **err)
{
    AUTO_FREE struct xfer **xs = ib_xcalloc(p->n, sizeof(*xs));
    AUTO_FREE size_t *idx = ib_xcalloc(p->n, sizeof(*idx));
    size_t nx = 0;
    int rc = 0;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        struct up *u = &p->ups[i];
        if (u->present)
            continue;
        if (open_blob(p, u, err) < 0) {
            rc = -1;
            break;
        }
        char *url = ib_xasprintf("%s%sdigest=%s", u->location, strchr(u->location, '?') ? "&" : "?",
                                 u->d.s);
        struct xfer *x = ib_xcalloc(1, sizeof(*x));
        xfer_init(x, p->r.ep, "PUT", url);
        x->scope = ib_xstrdup(p->r.scope);
        ib_strv_push(&x->headers, "Content-Type: application/octet-stream");
        x->has_body = true; /* chunked: an empty one (Content-Length: 0) */
        x->up_buf = "";     /* chunked: no body */
        x->up_fd = chunked ? -1 : u->fd;
        x->up_size = chunked ? 0 : u->size;
        x->what = u->d.s;
        idx[nx] = i;
        xs[nx++] = x;
    }
    if (rc == 0 && http_run(p->r.c, xs, nx, p->r.c->opts.parallel, err) < 0)
        rc = ib_err_prefix(err, "%s", p->r.refstr);
    for (size_t k = 0; rc == 0 && k < nx; k++) {
        if (xs[k]->status != 201 && xs[k]->status != 204)
            rc = reg_status_fail(xs[k], p->r.refstr, err);
        else
            p->ups[idx[k]].present = true;
    }
    free_xfers(xs, nx);
    return rc;
}

int
registry_push(struct registry_client *c, struct store *st, const char *src, const struct ref *dest,
              const struct registry_push_opts *opts, struct digest *pushed, struct ib_err **err)
{
    static const struct registry_push_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_get(st, src, &img, err) < 0)
        return -1;
    struct push p = {.st = st};
    if (reg_repo_init(c, dest, true, &p.r, err) < 0)
        return -1;
    AUTO_BUF struct ib_buf man = IB_BUF_INIT;
    const char *media = NULL;
    int rc = make_manifest(&p, img, opts, &man, &media, err);
    if (rc == 0) {
        find_mount_sources(&p);
        rc = round_head(&p, err);
    }
    if (rc == 0)
        rc = round_post(&p, err);
    if (rc == 0 && opts->chunk_size)
        rc = round_patch(&p, opts->chunk_size, err);
    if (rc == 0)
        rc = round_put(&p, opts->chunk_size > 0, err);
    struct digest md;
    digest_buf(man.s, man.len, &md);
    if (rc == 0) {
        const char *reference = dest->tag ? dest->tag : dest->digest;
        struct xfer *x = reg_repo_xfer(&p.r, "PUT", "manifests/", reference);
        ib_strv_pushf(&x->headers, "Content-Type: %s", media);
        x->up_buf = man.s;
        x->up_len = man.len;
        x->has_body = true;
        x->what = "manifest";
        rc = http_one(c, x, err);
        if (rc < 0)
            ib_err_prefix(err, "%s", p.r.refstr);
        if (rc == 0 && x->status != 201 && x->status != 200)
            rc = reg_status_fail(x, p.r.refstr, err);
        if (rc == 0 && x->docker_digest && strcmp(x->docker_digest, md.s) != 0)
            rc = ib_fail(err, IB_E_REGISTRY, "%s: digest mismatch: registry says '%s' for '%s'",
                         p.r.refstr, x->docker_digest, md.s);
        reg_xfer_free(x);
    }
    if (rc == 0 && dest->tag && dest->digest && strcmp(dest->digest, md.s) != 0)
        rc = ib_fail(err, IB_E_REGISTRY, "%s: pushed manifest is '%s'", p.r.refstr, md.s);
    if (rc == 0 && pushed)
        *pushed = md;
    push_release(&p);
    return rc;
}
