/* registry/pull.c: pull an image into the store.
 *
 *   HEAD manifest (free on Docker Hub's quota; sent only when an earlier
 *   pull of the tag is recorded) -> digest known from the last pull? done :
 *   GET manifest (Accept: OCI index, Docker list, OCI manifest, Docker
 *   schema2) -> index? choose the platform, GET that manifest -> config
 *   and layers in parallel (curl multi; the config, verified and checked
 *   against the platform, first, then the largest layers), each layer
 *   streamed through the store's verifying blob writer and committed on
 *   worker threads; with REGISTRY_PULL_UNPACK, each layer's snapshot is made
 *   as soon as the layers below it are there ->
 *   tag, only at the end.  All of it but the tag is one store write batch
 *   (no fsync per blob; one sync before the tag).
 */
#include "registry/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "store/store.h"
#include "common/banned.h"

#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define ACCEPT_MANIFESTS                                                      \
    "Accept: " MEDIA_OCI_INDEX ", " MEDIA_DOCKER_LIST ", " MEDIA_OCI_MANIFEST \
    ", " MEDIA_DOCKER_MANIFEST

IB_DEFINE_AUTO(struct store_image, store_image_free)

void
reg_repo_release(struct reg_repo *r)
{
    free(r->refstr);
    free(r->scope);
    memset(r, 0, sizeof(*r));
}

int
reg_repo_init(struct registry_client *c, const struct ref *ref, bool push, struct reg_repo *out,
              struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    out->c = c;
    out->ref = ref;
    if (reg_endpoint_get(c, ref->domain, &out->ep, err) < 0)
        return -1;
    out->refstr = ref_string(ref);
    out->scope = ib_xasprintf("repository:%s:%s", ref->path, push ? "pull,push" : "pull");
    return 0;
}

struct xfer *
reg_repo_xfer(const struct reg_repo *r, const char *method, const char *fmt, const char *arg)
{
    struct xfer *x = ib_xcalloc(1, sizeof(*x));
    AUTO_FREE char *rest = ib_xasprintf("%s/%s%s", r->ref->path, fmt, arg ? arg : "");
    xfer_init(x, r->ep, method, reg_endpoint_url(r->ep, rest));
    x->scope = ib_xstrdup(r->scope);
    return x;
}

void
reg_xfer_free(struct xfer *x)
{
    if (!x)
        return;
    xfer_release(x);
    free(x);
}
IB_DEFINE_AUTO(struct xfer, reg_xfer_free)

/* The media type of a manifest: Content-Type without parameters, else "mediaType". */
static char *
manifest_media(const struct xfer *x, json_t *j)
{
    const char *ct = x->content_type;
    if (ct && *ct && strncmp(ct, "text/plain", 10) != 0 && strncmp(ct, "application/json", 16) != 0)
        return ib_xstrndup(ct, strcspn(ct, "; "));
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    if (mt)
        return ib_xstrdup(mt);
    if (json_object_get(j, "manifests"))
        return ib_xstrdup(MEDIA_OCI_INDEX);
    return ib_xstrdup(MEDIA_OCI_MANIFEST);
}

int
reg_get_manifest(const struct reg_repo *r, const char *reference, const struct digest *expect,
                 struct reg_manifest *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    IB_AUTO(reg_xfer_free) struct xfer *x = reg_repo_xfer(r, "GET", "manifests/", reference);
    ib_strv_push(&x->headers, ACCEPT_MANIFESTS);
    x->what = "manifest";
    if (http_one(r->c, x, err) < 0)
        return ib_err_prefix(err, "%s", r->refstr);
    if (x->status != 200)
        return reg_status_fail(x, r->refstr, err);
    digest_buf(x->body.s, x->body.len, &out->digest);
    if (expect && digest_is_set(expect) && !digest_eq(expect, &out->digest))
        return ib_fail(err, IB_E_REGISTRY, "%s: digest mismatch: manifest is '%s', expected '%s'",
                       r->refstr, out->digest.s, expect->s);
    if (x->docker_digest && strncmp(x->docker_digest, "sha256:", 7) == 0 &&
        strcmp(x->docker_digest, out->digest.s) != 0)
        return ib_fail(err, IB_E_REGISTRY,
                       "%s: digest mismatch: manifest is '%s', registry says '%s'", r->refstr,
                       out->digest.s, x->docker_digest);
    json_error_t je;
    out->json = json_loadb(x->body.s, x->body.len, 0, &je);
    if (!out->json || !json_is_object(out->json)) {
        json_decref(out->json);
        out->json = NULL;
        return ib_fail(err, IB_E_REGISTRY, "%s: bad manifest JSON: %s", r->refstr, je.text);
    }
    out->media = manifest_media(x, out->json);
    out->raw = x->body;
    ib_buf_init(&x->body);
    return 0;
}

void
reg_manifest_release(struct reg_manifest *m)
{
    json_decref(m->json);
    free(m->media);
    ib_buf_release(&m->raw);
    memset(m, 0, sizeof(*m));
}

static bool
is_index(const char *media)
{
    return strcmp(media, MEDIA_OCI_INDEX) == 0 || strcmp(media, MEDIA_DOCKER_LIST) == 0;
}

static int
choose_platform(const struct reg_repo *r, struct reg_manifest *idx,
                const struct store_platform *want, struct digest *out, struct ib_err **err)
{
    json_t *arr = json_object_get(idx->json, "manifests");
    int i = store_platform_select(arr, want);
    if (i < 0) {
        AUTO_BUF struct ib_buf have = IB_BUF_INIT;
        store_platform_list(arr, &have);
        char w[96];
        store_platform_string(want, w, sizeof(w));
        return ib_fail(err, IB_E_REGISTRY, "%s: no manifest for platform %s (available: %s)",
                       r->refstr, w, have.s);
    }
    const char *d = json_string_value(json_object_get(json_array_get(arr, (size_t)i), "digest"));
    if (digest_parse(d ? d : "", out, err) < 0)
        return ib_err_prefix(err, "%s: index entry", r->refstr);
    return 0;
}

static char *
cache_key(const char *refstr, const struct store_platform *pl)
{
    char w[96];
    store_platform_string(pl, w, sizeof(w));
    return ib_xasprintf("registry-pull %s %s", refstr, w);
}

/* The tag -> digest record of an earlier pull: top (index or manifest) and manifest. */
static bool
cache_lookup(struct store *st, const char *key, struct digest *top, struct digest *manifest)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (store_cache_get(st, key, &b, NULL) < 0)
        return false;
    json_t *j = json_loadb(b.s, b.len, 0, NULL);
    bool ok =
        j && digest_parse(json_string_value(json_object_get(j, "top")) ?: "", top, NULL) == 0 &&
        digest_parse(json_string_value(json_object_get(j, "manifest")) ?: "", manifest, NULL) ==
            0 &&
        store_blob_exists(st, manifest);
    json_decref(j);
    return ok;
}

/* The stored image, with a snapshot for every layer when unpack is asked for. */
static int
prepare(const struct reg_repo *r, struct store *st, const struct digest *manifest, bool unpack,
        struct store_image **out, struct ib_err **err)
{
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_load(st, manifest, &img, err) < 0)
        return -1;
    const struct digest *parent = NULL;
    for (size_t i = 0; i < store_image_nlayers(img); i++) {
        struct store_layer l = *store_image_layer(img, i);
        /* without unpack, a stored blob is enough: its snapshot is made when needed */
        if ((unpack || !store_blob_exists(st, &l.digest)) &&
            store_snapshot_ensure(st, parent, &l, err) < 0)
            return ib_err_prefix(err, "%s", r->refstr);
        parent = &store_image_layer(img, i)->chain_id;
    }
    *out = ib_steal(&img);
    return 0;
}

/* Tag and record the pull: the image becomes visible here (after the write batch's sync). */
static int
publish(const struct reg_repo *r, struct store *st, const struct store_image *img,
        const struct digest *top, const char *key, struct ib_err **err)
{
    if (store_tag(st, img, r->refstr, err) < 0)
        return -1;
    AUTO_FREE char *val =
        ib_xasprintf("{\"top\":\"%s\",\"manifest\":\"%s\"}", top->s, store_image_digest(img)->s);
    const char *roots[] = {store_image_digest(img)->s};
    return store_cache_put(st, key, val, roots, 1, err);
}

/* Everything but the tag: manifest(s), config and layers into the store; *top gets the
 * digest the reference named (index or manifest). */
static int
fetch(struct registry_client *c, struct store *st, const struct reg_repo *rp,
      const struct store_platform *want, unsigned flags, const char *key, struct digest *top,
      struct store_image **out, struct ib_err **err)
{
    const struct ref *ref = rp->ref;
    bool unpack = (flags & REGISTRY_PULL_UNPACK) != 0;
    struct digest manifest = {""};
    bool cached = cache_lookup(st, key, top, &manifest);
    int rc = 0;
    if (cached && (flags & REGISTRY_PULL_CACHED)) {
        struct ib_err *e2 = NULL;
        if (prepare(rp, st, &manifest, unpack, out, &e2) == 0)
            return 0;
        ib_err_free(e2);
    }
    const char *reference = ref->digest ? ref->digest : ref->tag;
    struct digest want_top = {""};
    if (ref->digest) {
        digest_parse(ref->digest, &want_top, NULL);
    } else if (cached) {
        /* HEAD first: Docker Hub does not count it against the pull quota, and
         * the digest may be the one pulled last time (without a record of an
         * earlier pull the GET below is needed anyway) */
        IB_AUTO(reg_xfer_free) struct xfer *h = reg_repo_xfer(rp, "HEAD", "manifests/", reference);
        ib_strv_push(&h->headers, ACCEPT_MANIFESTS);
        h->what = "manifest";
        if (http_one(c, h, err) < 0)
            return ib_err_prefix(err, "%s", rp->refstr);
        if (h->status == 200 && h->docker_digest)
            digest_parse(h->docker_digest, &want_top, NULL);
        /* anything else: the GET below says what is wrong (a HEAD has no error body) */
    }
    if (cached && digest_is_set(&want_top) && digest_eq(&want_top, top)) {
        struct ib_err *e2 = NULL;
        if (prepare(rp, st, &manifest, unpack, out, &e2) == 0)
            return 0;
        ib_err_free(e2);
    }
    struct reg_manifest m = {0}, sub = {0};
    rc = reg_get_manifest(rp, digest_is_set(&want_top) ? want_top.s : reference,
                          digest_is_set(&want_top) ? &want_top : NULL, &m, err);
    struct reg_manifest *mm = &m;
    if (rc == 0)
        *top = m.digest; /* stored with the config (reg_pull_layers) */
    if (rc == 0 && is_index(m.media)) {
        struct digest d;
        rc = choose_platform(rp, &m, want, &d, err);
        if (rc == 0)
            rc = reg_get_manifest(rp, d.s, &d, &sub, err);
        mm = &sub;
    }
    if (rc == 0 && strcmp(mm->media, MEDIA_OCI_MANIFEST) != 0 &&
        strcmp(mm->media, MEDIA_DOCKER_MANIFEST) != 0)
        rc = ib_fail(err, IB_E_REGISTRY, "%s: unsupported manifest type '%s'", rp->refstr,
                     mm->media);
    if (rc == 0) {
        manifest = mm->digest;
        rc = reg_pull_layers(rp, st, mm, mm == &m ? NULL : &m, want, unpack, err);
    }
    if (rc == 0)
        rc = prepare(rp, st, &manifest, unpack, out, err);
    reg_manifest_release(&m);
    reg_manifest_release(&sub);
    return rc;
}

int
registry_pull(struct registry_client *c, struct store *st, const struct ref *ref,
              const char *platform, unsigned flags, struct store_image **out, struct ib_err **err)
{
    struct store_platform want;
    if (platform ? store_platform_parse(platform, &want, err) < 0 : (store_platform_host(&want), 0))
        return -1;
    struct reg_repo r;
    if (reg_repo_init(c, ref, false, &r, err) < 0)
        return -1;
    AUTO_FREE char *key = cache_key(r.refstr, &want);
    /* one write batch for the blobs (and snapshots): one sync at its end, before the tag */
    if (store_batch_begin(st, err) < 0) {
        reg_repo_release(&r);
        return -1;
    }
    struct digest top = {""};
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    int rc = fetch(c, st, &r, &want, flags, key, &top, &img, err);
    AUTO_ERR struct ib_err *e = NULL;
    if (store_batch_end(st, rc == 0 ? err : &e) < 0)
        rc = -1;
    if (rc == 0)
        rc = publish(&r, st, img, &top, key, err);
    if (rc == 0 && out)
        *out = ib_steal(&img);
    reg_repo_release(&r);
    return rc;
}
