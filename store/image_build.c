/* store/image_build.c: making images (new, layers, config changes, commit),
 * listing, inspecting and importing rootfs tarballs. */
#include "store/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

int64_t
image_now(void)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (s && *s) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!errno && !*end && v >= 0)
            return v;
    }
    return (int64_t)time(NULL);
}

char *
image_time_string(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[64];
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return ib_xstrdup(buf);
}

static int64_t
parse_time(const char *s)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return -1;
    return (int64_t)timegm(&tm);
}

static const char *
host_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#elif defined(__arm__)
    return "arm";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__powerpc64__)
    return "ppc64le";
#elif defined(__riscv)
    return "riscv64";
#else
    return "unknown";
#endif
}

static void
jset(json_t *o, const char *k, json_t *v)
{
    if (!v || json_object_set_new(o, k, v) < 0)
        ib_oom();
}

int
store_image_new(const struct store_image *base, struct store_image **out, struct ib_err **err)
{
    (void)err;
    struct store_image *img = ib_xcalloc(1, sizeof(*img));
    if (base) {
        img->config = json_deep_copy(base->config);
        img->layers = ib_xcalloc(base->nlayers ? base->nlayers : 1, sizeof(*img->layers));
        img->cap = base->nlayers;
        img->nlayers = base->nlayers;
        if (base->nlayers)
            memcpy(img->layers, base->layers, base->nlayers * sizeof(*img->layers));
    } else {
        img->config = json_object();
        jset(img->config, "architecture", json_string(host_arch()));
        jset(img->config, "config", json_object());
        jset(img->config, "created", json_string("1970-01-01T00:00:00Z"));
        jset(img->config, "history", json_array());
        jset(img->config, "os", json_string("linux"));
        jset(img->config, "rootfs", json_pack("{s:s,s:[]}", "type", "layers", "diff_ids"));
    }
    if (!img->config)
        ib_oom();
    if (!json_is_object(json_object_get(img->config, "config")))
        jset(img->config, "config", json_object());
    if (!json_is_array(json_object_get(img->config, "history")))
        jset(img->config, "history", json_array());
    *out = img;
    return 0;
}

static void
add_history(struct store_image *img, const char *created_by, bool empty)
{
    AUTO_FREE char *now = image_time_string(image_now());
    json_t *h = json_pack("{s:s,s:s}", "created", now, "created_by", created_by ? created_by : "");
    if (!h)
        ib_oom();
    if (empty)
        jset(h, "empty_layer", json_true());
    json_array_append_new(json_object_get(img->config, "history"), h);
}

void
store_image_add_layer(struct store_image *img, const struct store_layer *layer,
                      const char *created_by)
{
    IB_GROW(img->layers, img->nlayers + 1, img->cap);
    struct store_layer *l = &img->layers[img->nlayers];
    *l = *layer;
    digest_chain(img->nlayers ? &img->layers[img->nlayers - 1].chain_id : NULL, &l->diff_id,
                 &l->chain_id);
    img->nlayers++;
    json_t *rootfs = json_object_get(img->config, "rootfs");
    if (!json_is_object(rootfs)) {
        rootfs = json_pack("{s:s,s:[]}", "type", "layers", "diff_ids");
        jset(img->config, "rootfs", rootfs);
    }
    json_array_append_new(json_object_get(rootfs, "diff_ids"), json_string(layer->diff_id.s));
    add_history(img, created_by, false);
}

void
store_image_add_history(struct store_image *img, const char *created_by)
{
    add_history(img, created_by, true);
}

static int
set_json(json_t *obj, const char *key, const char *json, struct ib_err **err)
{
    json_t *v = NULL;
    if (image_json_parse(json, strlen(json), key, &v, err) < 0)
        return ib_fail(err, IB_E_BUG, "config value for '%s' is not JSON: %s", key, json);
    if (json_is_null(v)) {
        json_object_del(obj, key);
        json_decref(v);
        return 0;
    }
    jset(obj, key, v);
    return 0;
}

int
store_image_config_set(struct store_image *img, const char *key, const char *json,
                       struct ib_err **err)
{
    return set_json(json_object_get(img->config, "config"), key, json, err);
}

int
store_image_config_set_top(struct store_image *img, const char *key, const char *json,
                           struct ib_err **err)
{
    return set_json(img->config, key, json, err);
}

void
store_image_config_get(const struct store_image *img, const char *key, struct ib_buf *out)
{
    json_t *v = json_object_get(json_object_get(img->config, "config"), key);
    if (!v)
        ib_buf_adds(out, "null");
    else
        image_json_dump(v, out);
}

bool
store_image_config_strv(const struct store_image *img, const char *key, struct ib_strv *out)
{
    json_t *v = json_object_get(json_object_get(img->config, "config"), key);
    if (json_is_string(v)) {
        ib_strv_push(out, json_string_value(v));
        return true;
    }
    if (!json_is_array(v))
        return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (json_is_string(e))
            ib_strv_push(out, json_string_value(e));
    }
    return true;
}

const char *
store_image_config_str(const struct store_image *img, const char *key)
{
    json_t *v = json_object_get(json_object_get(img->config, "config"), key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *
store_image_top_str(const struct store_image *img, const char *key)
{
    json_t *v = json_object_get(img->config, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int
store_image_config_set_entry(struct store_image *img, const char *key, const char *name,
                             const char *json, struct ib_err **err)
{
    json_t *cfg = json_object_get(img->config, "config");
    json_t *obj = json_object_get(cfg, key);
    if (!json_is_object(obj)) {
        obj = json_object();
        jset(cfg, key, obj);
    }
    return set_json(obj, name, json, err);
}

int
image_write(struct store *st, struct store_image *img, struct ib_err **err)
{
    AUTO_BUF struct ib_buf cfg = IB_BUF_INIT;
    image_json_dump(img->config, &cfg);
    struct digest cd;
    if (store_put_json(st, &cfg, &cd, err) < 0)
        return -1;
    json_t *layers = json_array();
    for (size_t i = 0; i < img->nlayers; i++) {
        const struct store_layer *l = &img->layers[i];
        json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType",
                                                image_layer_media(l->compression), "digest",
                                                l->digest.s, "size", (json_int_t)l->size));
    }
    json_t *m = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType",
                          MEDIA_OCI_MANIFEST, "config", "mediaType", MEDIA_OCI_CONFIG, "digest",
                          cd.s, "size", (json_int_t)cfg.len, "layers", layers);
    if (!m)
        ib_oom();
    AUTO_BUF struct ib_buf mb = IB_BUF_INIT;
    image_json_dump(m, &mb);
    struct digest md;
    if (store_put_json(st, &mb, &md, err) < 0) {
        json_decref(m);
        return -1;
    }
    json_decref(img->manifest);
    img->manifest = m;
    img->id = cd;
    img->digest = md;
    img->manifest_size = mb.len;
    return 0;
}

int
store_image_commit(struct store *st, struct store_image *img, const char *ref, struct ib_err **err)
{
    AUTO_FREE char *now = image_time_string(image_now());
    jset(img->config, "created", json_string(now));
    if (image_write(st, img, err) < 0)
        return -1;
    return ref ? store_tag(st, img, ref, err) : 0;
}

/* ---- listing and inspecting ---------------------------------------------- */

void
store_image_info_free(struct store_image_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].ref);
    free(v);
}

static uint64_t
image_size(const struct store_image *img)
{
    uint64_t s = 0;
    for (size_t i = 0; i < img->nlayers; i++)
        s += img->layers[i].size;
    return s;
}

int
store_images_list(struct store *st, struct store_image_info **out, size_t *n, struct ib_err **err)
{
    json_t *index = NULL;
    if (image_index_read(st, &index, err) < 0)
        return -1;
    json_t *arr = json_object_get(index, "manifests");
    size_t cnt = json_array_size(arr);
    struct store_image_info *v = ib_xcalloc(cnt ? cnt : 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(arr, i);
        struct digest md;
        struct store_image *img = NULL;
        if (digest_parse(image_jstr(e, "digest"), &md, NULL) < 0 ||
            image_load(st, &md, &img, NULL) < 0)
            continue; /* fsck reports it */
        const char *r = image_entry_ref(e);
        v[k].ref = r ? ib_xstrdup(r) : NULL;
        v[k].id = img->id;
        v[k].digest = md;
        const char *c = image_jstr(img->config, "created");
        v[k].created = *c ? parse_time(c) : -1;
        v[k].size = image_size(img);
        store_image_free(img);
        k++;
    }
    json_decref(index);
    *out = v;
    *n = k;
    return 0;
}

int
store_image_inspect(struct store *st, const struct store_image *img, struct ib_buf *out,
                    struct ib_err **err)
{
    json_t *index = NULL;
    if (image_index_read(st, &index, err) < 0)
        return -1;
    json_t *tags = json_array(), *digests = json_array();
    json_t *arr = json_object_get(index, "manifests");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        const char *r = image_entry_ref(e);
        if (!r || strcmp(image_jstr(e, "digest"), img->digest.s) != 0)
            continue;
        struct ref pr;
        if (ref_parse(r, &pr, NULL) < 0)
            continue;
        AUTO_FREE char *fam = ref_familiar_name(&pr);
        json_array_append_new(tags, json_sprintf("%s:%s", fam, pr.tag ? pr.tag : ""));
        json_array_append_new(digests, json_sprintf("%s@%s", fam, img->digest.s));
        ref_release(&pr);
    }
    json_decref(index);
    json_t *cfg = img->config;
    json_t *o = json_object();
    jset(o, "Id", json_string(img->id.s));
    jset(o, "Digest", json_string(img->digest.s));
    jset(o, "RepoTags", tags);
    jset(o, "RepoDigests", digests);
    jset(o, "Created", json_string(image_jstr(cfg, "created")));
    jset(o, "Author", json_string(image_jstr(cfg, "author")));
    jset(o, "Architecture", json_string(image_jstr(cfg, "architecture")));
    jset(o, "Os", json_string(image_jstr(cfg, "os")));
    jset(o, "Size", json_integer((json_int_t)image_size(img)));
    jset(o, "Config", json_incref(json_object_get(cfg, "config") ?: json_object()));
    json_t *rootfs = json_object_get(cfg, "rootfs");
    jset(o, "RootFS",
         json_pack("{s:s,s:O}", "Type", "layers", "Layers",
                   json_object_get(rootfs, "diff_ids") ?: json_array()));
    json_t *layers = json_array();
    for (size_t i = 0; i < img->nlayers; i++)
        json_array_append_new(layers, json_string(img->layers[i].digest.s));
    jset(o, "Layers", layers);
    jset(o, "History", json_incref(json_object_get(cfg, "history") ?: json_array()));
    char *s = json_dumps(o, JSON_INDENT(4));
    json_decref(o);
    if (!s)
        ib_oom();
    ib_buf_adds(out, s);
    free(s);
    return 0;
}

/* ---- import ---------------------------------------------------------------- */

int
store_import(struct store *st, int fd, const char *ref, struct store_image **out,
             struct ib_err **err)
{
    struct ref parsed;
    if (ref && ref_parse(ref, &parsed, err) < 0)
        return -1;
    if (ref)
        ref_release(&parsed);
    struct layer_reader *r = NULL;
    struct blob_writer *w = NULL;
    if (layer_reader_new(fd, &r, err) < 0)
        return -1;
    if (store_blob_begin(st, &w, err) < 0) {
        layer_reader_free(r);
        return -1;
    }
    AUTO_FREE char *buf = ib_xmalloc(STORE_IO_CHUNK);
    int rc = 0;
    for (;;) {
        size_t got = 0;
        rc = layer_reader_read(r, buf, STORE_IO_CHUNK, &got, err);
        if (rc < 0 || got == 0)
            break;
        if ((rc = blob_writer_write(w, buf, got, err)) < 0)
            break;
    }
    if (rc == 0)
        rc = layer_reader_finish(r, NULL, NULL, NULL, err);
    layer_reader_free(r);
    if (rc < 0) {
        store_blob_abort(w);
        return ib_err_prefix(err, "import");
    }
    struct store_layer l = {0};
    /* the blob's digest is the diffID; a blob that was not there before goes
     * again if the layer is refused */
    bool existed = false;
    if (blob_commit_ex(w, NULL, &l.digest, &l.size, &existed, err) < 0)
        return -1;
    l.diff_id = l.digest;
    l.compression = STORE_COMPRESS_NONE;
    if (store_snapshot_ensure(st, NULL, &l, err) < 0) {
        if (!existed)
            unlinkat(st->blobsfd, digest_hex(&l.digest), 0);
        return ib_err_prefix(err, "import");
    }
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_new(NULL, &img, err) < 0)
        return -1;
    store_image_add_layer(img, &l, "imgbuild import");
    if (store_image_commit(st, img, ref, err) < 0)
        return -1;
    if (out)
        *out = ib_steal(&img);
    return 0;
}
