/* store/load.c: load an OCI archive or a docker-save archive (manifest.json).
 *
 * One streaming pass over the tar: blobs/sha256/<hex> go straight into the
 * store with their digest verified; other files (legacy docker layout) are
 * stored under their computed digest and remembered by name; only the small
 * JSON files stay in memory.  Then the images are put together, every layer
 * is unpacked into its snapshot (which checks diffIDs and refuses hostile
 * layers) and the references are tagged.
 */
#include "store/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define ANN_REF "org.opencontainers.image.ref.name"

struct loader {
    struct store *st;
    struct archive *a;
    struct ib_buf index, manifest; /* index.json, manifest.json */
    struct ib_strv names;          /* name, digest, name, digest ... */
    char *buf;
};

static int
load_fail(struct loader *l, const char *what, struct ib_err **err)
{
    return store_archive_fail(l->a, what, err);
}

static char *
clean(const char *name)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    while (*name == '/')
        name++;
    return ib_xstrdup(name);
}

static int
entry_to_blob(struct loader *l, const struct digest *expected, struct digest *out,
              struct ib_err **err)
{
    struct blob_writer *w = NULL;
    if (store_blob_begin(l->st, &w, err) < 0)
        return -1;
    for (;;) {
        la_ssize_t n = archive_read_data(l->a, l->buf, STORE_IO_CHUNK);
        if (n < 0) {
            store_blob_abort(w);
            return load_fail(l, "read archive", err);
        }
        if (n == 0)
            break;
        if (blob_writer_write(w, l->buf, (size_t)n, err) < 0) {
            store_blob_abort(w);
            return -1;
        }
    }
    return store_blob_commit(w, expected, out, NULL, err);
}

static int
entry_to_buf(struct loader *l, struct ib_buf *b, const char *name, struct ib_err **err)
{
    ib_buf_reset(b);
    for (;;) {
        la_ssize_t n = archive_read_data(l->a, l->buf, STORE_IO_CHUNK);
        if (n < 0)
            return load_fail(l, name, err);
        if (n == 0)
            return 0;
        if (b->len + (size_t)n > STORE_JSON_LIMIT)
            return ib_fail(err, IB_E_STORE, "'%s' in the archive is too large", name);
        ib_buf_add(b, l->buf, (size_t)n);
    }
}

static int
read_entries(struct loader *l, struct ib_err **err)
{
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(l->a, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return load_fail(l, "read archive", err);
        AUTO_FREE char *name = clean(archive_entry_pathname(e) ?: "");
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFLNK) { /* legacy docker: duplicate layers as symlinks */
            const char *t = archive_entry_symlink(e);
            const char *slash = strrchr(name, '/');
            AUTO_FREE char *dir = slash ? ib_xstrndup(name, (size_t)(slash - name)) : NULL;
            AUTO_FREE char *target = NULL;
            if (t && strncmp(t, "../", 3) == 0 && dir && strchr(dir, '/') == NULL)
                target = clean(t + 3);
            else if (t)
                target = dir ? ib_xasprintf("%s/%s", dir, t) : ib_xstrdup(t);
            for (size_t i = 0; target && i + 1 < l->names.n; i += 2) {
                if (strcmp(l->names.v[i], target) == 0) {
                    ib_strv_push(&l->names, name);
                    ib_strv_push(&l->names, l->names.v[i + 1]);
                    break;
                }
            }
            continue;
        }
        if (type != AE_IFREG)
            continue;
        struct digest d;
        if (strcmp(name, "index.json") == 0) {
            if (entry_to_buf(l, &l->index, name, err) < 0)
                return -1;
        } else if (strcmp(name, "manifest.json") == 0) {
            if (entry_to_buf(l, &l->manifest, name, err) < 0)
                return -1;
        } else if (strcmp(name, "oci-layout") == 0 || strcmp(name, "repositories") == 0) {
            archive_read_data_skip(l->a);
        } else if (strncmp(name, "blobs/sha256/", 13) == 0) {
            AUTO_FREE char *ds = ib_xasprintf("sha256:%s", name + 13);
            if (digest_parse(ds, &d, err) < 0)
                return ib_err_prefix(err, "archive entry '%s'", name);
            if (store_blob_exists(l->st, &d))
                archive_read_data_skip(l->a);
            else if (entry_to_blob(l, &d, &d, err) < 0)
                return ib_err_prefix(err, "archive entry '%s'", name);
        } else {
            if (entry_to_blob(l, NULL, &d, err) < 0)
                return ib_err_prefix(err, "archive entry '%s'", name);
            ib_strv_push(&l->names, name);
            ib_strv_push(&l->names, d.s);
        }
    }
}

/* a file of the archive by name: blobs/sha256/<hex> or a remembered one */
static int
named_blob(struct loader *l, const char *name_in, struct digest *out, struct ib_err **err)
{
    AUTO_FREE char *name = clean(name_in);
    for (size_t i = 0; i + 1 < l->names.n; i += 2)
        if (strcmp(l->names.v[i], name) == 0)
            return digest_parse(l->names.v[i + 1], out, err);
    if (strncmp(name, "blobs/sha256/", 13) == 0) {
        AUTO_FREE char *ds = ib_xasprintf("sha256:%s", name + 13);
        if (digest_parse(ds, out, NULL) == 0 && store_blob_exists(l->st, out))
            return 0;
    }
    return ib_fail(err, IB_E_STORE, "archive lacks '%s'", name);
}

static int
finish_image(struct loader *l, struct store_image *img, const char *const *refs, size_t nrefs,
             struct ib_strv *loaded, struct ib_err **err)
{
    const struct digest *parent = NULL;
    for (size_t i = 0; i < img->nlayers; i++) {
        if (store_snapshot_ensure(l->st, parent, &img->layers[i], err) < 0)
            return -1;
        parent = &img->layers[i].chain_id;
    }
    if (nrefs == 0) {
        if (store_tag(l->st, img, NULL, err) < 0)
            return -1;
        ib_strv_push(loaded, img->id.s);
    }
    for (size_t i = 0; i < nrefs; i++) {
        if (store_tag(l->st, img, refs[i], err) < 0)
            return -1;
        struct ref r;
        if (ref_parse(refs[i], &r, NULL) == 0) {
            ib_strv_push_owned(loaded, ref_string(&r));
            ref_release(&r);
        }
    }
    return 0;
}

/* an index entry's reference, if it names one fully */
static const char *
entry_ref(const json_t *e)
{
    json_t *ann = json_object_get(e, "annotations");
    const char *r = json_string_value(json_object_get(ann, ANN_REF));
    if (r && (strchr(r, '/') || strchr(r, '@')))
        return r;
    const char *c = json_string_value(json_object_get(ann, "io.containerd.image.name"));
    return c ? c : NULL;
}

static int
load_oci(struct loader *l, struct ib_strv *loaded, struct ib_err **err)
{
    json_t *index = NULL;
    if (image_json_parse(l->index.s, l->index.len, "index.json", &index, err) < 0)
        return -1;
    json_t *arr = json_object_get(index, "manifests");
    int rc = 0;
    for (size_t i = 0; i < json_array_size(arr) && rc == 0; i++) {
        json_t *e = json_array_get(arr, i);
        struct digest md;
        if ((rc = digest_parse(image_jstr(e, "digest"), &md, err)) < 0)
            break;
        if (strcmp(image_jstr(e, "mediaType"), MEDIA_OCI_INDEX) == 0) {
            /* nested index: take its first manifest */
            json_t *sub = NULL;
            if ((rc = image_read_json(l->st, &md, &sub, err)) < 0)
                break;
            json_t *first = json_array_get(json_object_get(sub, "manifests"), 0);
            rc = digest_parse(image_jstr(first, "digest"), &md, err);
            json_decref(sub);
            if (rc < 0)
                break;
        }
        IB_AUTO(store_image_free) struct store_image *img = NULL;
        if ((rc = image_load(l->st, &md, &img, err)) < 0)
            break;
        const char *r = entry_ref(e);
        rc = finish_image(l, img, &r, r ? 1 : 0, loaded, err);
    }
    json_decref(index);
    return rc;
}

static int
load_docker_item(struct loader *l, json_t *item, struct ib_strv *loaded, struct ib_err **err)
{
    struct digest cd;
    if (named_blob(l, image_jstr(item, "Config"), &cd, err) < 0)
        return -1;
    IB_AUTO(store_image_free) struct store_image *img = ib_xcalloc(1, sizeof(*img));
    if (image_read_json(l->st, &cd, &img->config, err) < 0)
        return -1;
    json_t *diff_ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
    json_t *layers = json_object_get(item, "Layers");
    if (json_array_size(layers) != json_array_size(diff_ids))
        return ib_fail(err, IB_E_STORE, "manifest.json: %zu layers but %zu diff_ids",
                       json_array_size(layers), json_array_size(diff_ids));
    for (size_t i = 0; i < json_array_size(layers); i++) {
        struct store_layer sl = {0};
        if (named_blob(l, json_string_value(json_array_get(layers, i)) ?: "", &sl.digest, err) <
                0 ||
            digest_parse(json_string_value(json_array_get(diff_ids, i)) ?: "", &sl.diff_id, err) <
                0)
            return -1;
        AUTO_FD int fd = -1;
        if (store_blob_open(l->st, &sl.digest, &fd, &sl.size, err) < 0)
            return -1;
        unsigned char magic[4] = {0};
        ssize_t n = read(fd, magic, sizeof(magic));
        sl.compression = store_sniff_compression(magic, n > 0 ? (size_t)n : 0);
        IB_GROW(img->layers, img->nlayers + 1, img->cap);
        digest_chain(i ? &img->layers[i - 1].chain_id : NULL, &sl.diff_id, &sl.chain_id);
        img->layers[img->nlayers++] = sl;
    }
    if (image_write(l->st, img, err) < 0)
        return -1;
    json_t *tags = json_object_get(item, "RepoTags");
    AUTO_STRV struct ib_strv refs = IB_STRV_INIT;
    for (size_t i = 0; i < json_array_size(tags); i++)
        if (json_string_value(json_array_get(tags, i)))
            ib_strv_push(&refs, json_string_value(json_array_get(tags, i)));
    return finish_image(l, img, (const char *const *)refs.v, refs.n, loaded, err);
}

static int
load_docker(struct loader *l, struct ib_strv *loaded, struct ib_err **err)
{
    json_t *m = NULL;
    if (image_json_parse(l->manifest.s, l->manifest.len, "manifest.json", &m, err) < 0)
        return -1;
    int rc = json_is_array(m) ? 0 : ib_fail(err, IB_E_STORE, "manifest.json is not an array");
    for (size_t i = 0; rc == 0 && i < json_array_size(m); i++)
        rc = load_docker_item(l, json_array_get(m, i), loaded, err);
    json_decref(m);
    return rc;
}

int
store_load(struct store *st, int fd, struct ib_strv *loaded, struct ib_err **err)
{
    struct loader l = {0};
    l.st = st;
    ib_buf_init(&l.index);
    ib_buf_init(&l.manifest);
    l.buf = ib_xmalloc(STORE_IO_CHUNK);
    l.a = archive_read_new();
    if (!l.a)
        ib_oom();
    archive_read_support_format_tar(l.a);
    archive_read_support_filter_gzip(l.a);
    archive_read_support_filter_zstd(l.a);
    int rc = -1;
    if (archive_read_open_fd(l.a, fd, 65536) != ARCHIVE_OK)
        load_fail(&l, "read archive", err);
    else if (read_entries(&l, err) == 0) {
        if (l.index.len)
            rc = load_oci(&l, loaded, err);
        else if (l.manifest.len)
            rc = load_docker(&l, loaded, err);
        else
            ib_fail(err, IB_E_STORE, "archive has neither index.json nor manifest.json");
    }
    archive_read_free(l.a);
    ib_buf_release(&l.index);
    ib_buf_release(&l.manifest);
    ib_strv_release(&l.names);
    free(l.buf);
    return rc < 0 ? ib_err_prefix(err, "load") : 0;
}
