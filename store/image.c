/* store/image.c: image configs and manifests (OCI, read Docker schema2 too),
 * index.json (tags) and lookup by reference or id. */
#include "store/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define ANN_REF "org.opencontainers.image.ref.name"

void
store_image_free(struct store_image *img)
{
    if (!img)
        return;
    json_decref(img->manifest);
    json_decref(img->config);
    free(img->layers);
    free(img);
}

const struct digest *
store_image_id(const struct store_image *img)
{
    return &img->id;
}

const struct digest *
store_image_digest(const struct store_image *img)
{
    return &img->digest;
}

size_t
store_image_nlayers(const struct store_image *img)
{
    return img->nlayers;
}

const struct store_layer *
store_image_layer(const struct store_image *img, size_t i)
{
    return i < img->nlayers ? &img->layers[i] : NULL;
}

void
store_image_config_json(const struct store_image *img, struct ib_buf *out)
{
    image_json_dump(img->config, out);
}

void
image_json_dump(const json_t *j, struct ib_buf *out)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        ib_oom();
    ib_buf_adds(out, s);
    free(s);
}

int
image_json_parse(const char *s, size_t n, const char *what, json_t **out, struct ib_err **err)
{
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY, &je);
    if (!j)
        return ib_fail(err, IB_E_STORE, "%s: bad JSON at line %d: %s", what, je.line, je.text);
    *out = j;
    return 0;
}

int
image_read_json(struct store *st, const struct digest *d, json_t **out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (store_blob_read(st, d, STORE_JSON_LIMIT, &b, err) < 0)
        return -1;
    return image_json_parse(b.s, b.len, d->s, out, err);
}

const char *
image_jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

enum store_compression
image_media_compression(const char *mt)
{
    size_t n = strlen(mt);
    if ((n > 5 && strcmp(mt + n - 5, "+gzip") == 0) || (n > 5 && strcmp(mt + n - 5, ".gzip") == 0))
        return STORE_COMPRESS_GZIP;
    if (n > 5 && strcmp(mt + n - 5, "+zstd") == 0)
        return STORE_COMPRESS_ZSTD;
    return STORE_COMPRESS_NONE;
}

const char *
image_layer_media(enum store_compression c)
{
    switch (c) {
    case STORE_COMPRESS_GZIP:
        return MEDIA_LAYER_GZIP;
    case STORE_COMPRESS_ZSTD:
        return MEDIA_LAYER_ZSTD;
    case STORE_COMPRESS_NONE:
        break;
    }
    return MEDIA_LAYER_TAR;
}

/* Fill img->layers from manifest + config. */
static int
load_layers(struct store_image *img, struct ib_err **err)
{
    json_t *layers = json_object_get(img->manifest, "layers");
    json_t *diff_ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
    size_t n = json_array_size(layers);
    if (!json_is_array(layers) || json_array_size(diff_ids) != n)
        return ib_fail(err, IB_E_STORE, "image '%s': manifest has %zu layers, config %zu diff_ids",
                       img->digest.s, n, json_array_size(diff_ids));
    img->layers = ib_xcalloc(n ? n : 1, sizeof(*img->layers));
    img->cap = n;
    const struct digest *parent = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(layers, i);
        struct store_layer *sl = &img->layers[i];
        if (digest_parse(image_jstr(l, "digest"), &sl->digest, err) < 0 ||
            digest_parse(json_string_value(json_array_get(diff_ids, i)) ?: "", &sl->diff_id, err) <
                0)
            return ib_err_prefix(err, "image '%s' layer %zu", img->digest.s, i);
        sl->size = (uint64_t)json_integer_value(json_object_get(l, "size"));
        sl->compression = image_media_compression(image_jstr(l, "mediaType"));
        digest_chain(parent, &sl->diff_id, &sl->chain_id);
        parent = &sl->chain_id;
        img->nlayers++;
    }
    return 0;
}

int
image_load(struct store *st, const struct digest *manifest, struct store_image **out,
           struct ib_err **err)
{
    struct store_image *img = ib_xcalloc(1, sizeof(*img));
    img->digest = *manifest;
    json_t *cfg = NULL;
    AUTO_BUF struct ib_buf mb = IB_BUF_INIT;
    if (store_blob_read(st, manifest, STORE_JSON_LIMIT, &mb, err) < 0 ||
        image_json_parse(mb.s, mb.len, manifest->s, &img->manifest, err) < 0 ||
        digest_parse(image_jstr(json_object_get(img->manifest, "config"), "digest"), &img->id,
                     err) < 0 ||
        image_read_json(st, &img->id, &cfg, err) < 0) {
        store_image_free(img);
        return ib_err_prefix(err, "image '%s'", manifest->s);
    }
    img->config = cfg;
    img->manifest_size = mb.len;
    if (!json_is_object(img->config) || !json_is_object(img->manifest) ||
        load_layers(img, err) < 0) {
        if (!err || !*err)
            ib_fail(err, IB_E_STORE, "image '%s': bad manifest or config", manifest->s);
        store_image_free(img);
        return -1;
    }
    *out = img;
    return 0;
}

int
store_image_load(struct store *st, const struct digest *manifest, struct store_image **out,
                 struct ib_err **err)
{
    return image_load(st, manifest, out, err);
}

/* ---- index.json ---------------------------------------------------------- */

int
image_index_read_fd(int fd, const char *where, json_t **out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    ib_buf_set_limit(&b, STORE_JSON_LIMIT);
    if (ib_read_fd(fd, &b, where, err) < 0 || image_json_parse(b.s, b.len, where, out, err) < 0)
        return -1;
    if (!json_is_array(json_object_get(*out, "manifests"))) {
        json_decref(*out);
        return ib_fail(err, IB_E_STORE, "'%s' has no manifests array", where);
    }
    return 0;
}

int
image_index_read(struct store *st, json_t **out, struct ib_err **err)
{
    AUTO_FD int fd = openat(st->rootfd, "index.json", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s/index.json'", st->root);
    AUTO_FREE char *where = ib_xasprintf("%s/index.json", st->root);
    return image_index_read_fd(fd, where, out, err);
}

int
image_index_write(struct store *st, json_t *index, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    image_json_dump(index, &b);
    return ib_write_atomic(st->rootfd, "index.json", b.s, b.len, 0644, err);
}

const char *
image_entry_ref(const json_t *entry)
{
    return json_string_value(json_object_get(json_object_get(entry, "annotations"), ANN_REF));
}

static json_t *
index_entry(const struct store_image *img, const char *full)
{
    const char *mt = image_jstr(img->manifest, "mediaType");
    json_t *e = json_pack("{s:s,s:s,s:I}", "mediaType", *mt ? mt : MEDIA_OCI_MANIFEST, "digest",
                          img->digest.s, "size", (json_int_t)img->manifest_size);
    if (!e)
        ib_oom();
    if (full)
        json_object_set_new(e, "annotations", json_pack("{s:s}", ANN_REF, full));
    return e;
}

int
store_tag(struct store *st, const struct store_image *img, const char *refstr, struct ib_err **err)
{
    AUTO_FREE char *full = NULL;
    if (refstr) {
        struct ref r;
        if (ref_parse(refstr, &r, err) < 0)
            return -1;
        full = ref_string(&r);
        ref_release(&r);
    }
    /* what the tag names must be durable first (write batches: batch.c) */
    if (store_batch_settle(st, err) < 0)
        return -1;
    AUTO_FD int lfd = -1;
    if (store_index_lock(st, &lfd, err) < 0)
        return -1;
    json_t *index = NULL;
    if (image_index_read(st, &index, err) < 0)
        return -1;
    json_t *arr = json_object_get(index, "manifests");
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *e = json_array_get(arr, i);
        const char *er = image_entry_ref(e);
        if (full && er && strcmp(er, full) == 0 &&
            strcmp(image_jstr(e, "digest"), img->digest.s) == 0) {
            json_decref(index);
            return 0; /* already names this image (a warm build): no write */
        }
        if (full && er && strcmp(er, full) == 0)
            json_array_remove(arr, i);
        else if (!full && strcmp(image_jstr(e, "digest"), img->digest.s) == 0) {
            json_decref(index);
            return 0; /* already listed (tagged or not) */
        }
    }
    json_array_append_new(arr, index_entry(img, full));
    int rc = image_index_write(st, index, err);
    json_decref(index);
    return rc;
}

/* Find the manifest for name: a reference, name@digest, or an id prefix. */
static int
resolve(struct store *st, const char *name, struct digest *manifest, struct ib_err **err)
{
    json_t *index = NULL;
    if (image_index_read(st, &index, err) < 0)
        return -1;
    json_t *arr = json_object_get(index, "manifests");
    struct ref r;
    AUTO_ERR struct ib_err *rerr = NULL;
    int found = 0;
    if (ref_parse(name, &r, &rerr) == 0) {
        AUTO_FREE char *full = ref_string(&r);
        for (size_t i = 0; i < json_array_size(arr) && !found; i++) {
            json_t *e = json_array_get(arr, i);
            const char *er = image_entry_ref(e);
            if ((er && strcmp(er, full) == 0) ||
                (r.digest && strcmp(image_jstr(e, "digest"), r.digest) == 0))
                found = digest_parse(image_jstr(e, "digest"), manifest, NULL) == 0;
        }
        if (!found && r.digest) {
            struct digest d;
            if (digest_parse(r.digest, &d, NULL) == 0 && store_blob_exists(st, &d)) {
                *manifest = d;
                found = 1;
            }
        }
        ref_release(&r);
    }
    if (!found && ref_looks_like_id(name)) {
        const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
        size_t hn = strlen(hex);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            struct digest md;
            if (digest_parse(image_jstr(json_array_get(arr, i), "digest"), &md, NULL) < 0)
                continue;
            json_t *m = NULL;
            if (image_read_json(st, &md, &m, NULL) < 0)
                continue;
            const char *cd = image_jstr(json_object_get(m, "config"), "digest");
            bool match = (strlen(cd) > 7 && strncmp(cd + 7, hex, hn) == 0) ||
                         (hn == DIGEST_HEX_LEN && strcmp(digest_hex(&md), hex) == 0);
            json_decref(m);
            if (!match)
                continue;
            if (found && !digest_eq(manifest, &md)) {
                json_decref(index);
                return ib_fail(err, IB_E_USAGE, "image id prefix '%s' is ambiguous", name);
            }
            *manifest = md;
            found = 1;
        }
    }
    json_decref(index);
    if (!found)
        return store_fail_missing(err, "image '%s' not found", name);
    return 0;
}

int
store_image_get(struct store *st, const char *name, struct store_image **out, struct ib_err **err)
{
    struct digest md;
    if (resolve(st, name, &md, err) < 0)
        return -1;
    return image_load(st, &md, out, err);
}

int
store_untag(struct store *st, const char *name, struct ib_strv *untagged, struct ib_err **err)
{
    struct digest md;
    if (resolve(st, name, &md, err) < 0)
        return -1;
    struct ref r;
    AUTO_ERR struct ib_err *rerr = NULL;
    AUTO_FREE char *full = NULL;
    if (ref_parse(name, &r, &rerr) == 0) {
        full = ref_string(&r);
        ref_release(&r);
    }
    AUTO_FD int lfd = -1;
    if (store_index_lock(st, &lfd, err) < 0)
        return -1;
    json_t *index = NULL;
    if (image_index_read(st, &index, err) < 0)
        return -1;
    json_t *arr = json_object_get(index, "manifests");
    bool by_name = false;
    for (size_t i = 0; full && i < json_array_size(arr); i++) {
        const char *er = image_entry_ref(json_array_get(arr, i));
        by_name |= er && strcmp(er, full) == 0;
    }
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *e = json_array_get(arr, i);
        const char *er = image_entry_ref(e);
        bool hit =
            by_name ? (er && strcmp(er, full) == 0) : strcmp(image_jstr(e, "digest"), md.s) == 0;
        if (!hit)
            continue;
        if (untagged)
            ib_strv_push(untagged, er ? er : md.s);
        json_array_remove(arr, i);
    }
    int rc = image_index_write(st, index, err);
    json_decref(index);
    return rc;
}
