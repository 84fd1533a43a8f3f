/* store/archive.c: save (OCI archive, or docker's manifest.json form) and load.
 *
 * Saved archives hold an OCI layout (oci-layout, index.json, blobs/sha256/);
 * the docker form adds manifest.json and repositories, as `docker save` (25+)
 * does, so both `docker load` and OCI tools read it.  Tar entries have mtime
 * 0 and owner 0, so the same images give the same bytes.  Load streams each
 * blob into the store, verifying blobs/sha256/<hex> names as digests, and
 * keeps only the small JSON files in memory.
 */
#include "store/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define ANN_REF "org.opencontainers.image.ref.name"

struct saver {
    struct store *st;
    struct archive *a;
    struct ib_strv written; /* digests already in the archive */
    int fd;
    struct ib_err *werr;
};

static la_ssize_t
save_write_cb(struct archive *a, void *data, const void *buf, size_t n)
{
    (void)a;
    struct saver *s = data;
    if (ib_write_all(s->fd, buf, n, "archive", &s->werr) < 0)
        return -1;
    return (la_ssize_t)n;
}

static int
save_fail(struct saver *s, const char *what, struct ib_err **err)
{
    if (s->werr) {
        *err = s->werr;
        s->werr = NULL;
        return -1;
    }
    return store_archive_fail(s->a, what, err);
}

static int
save_header(struct saver *s, const char *name, int64_t size, bool dir, struct ib_err **err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_size(e, dir ? 0 : size);
    archive_entry_set_mtime(e, 0, 0);
    int r = archive_write_header(s->a, e);
    archive_entry_free(e);
    return r == ARCHIVE_OK ? 0 : save_fail(s, name, err);
}

static int
save_bytes(struct saver *s, const char *name, const void *p, size_t n, struct ib_err **err)
{
    if (save_header(s, name, (int64_t)n, false, err) < 0)
        return -1;
    if (n && archive_write_data(s->a, p, n) != (la_ssize_t)n)
        return save_fail(s, name, err);
    return 0;
}

static int
save_blob(struct saver *s, const struct digest *d, struct ib_err **err)
{
    for (size_t i = 0; i < s->written.n; i++)
        if (strcmp(s->written.v[i], d->s) == 0)
            return 0;
    AUTO_FD int fd = -1;
    uint64_t size = 0;
    if (store_blob_open(s->st, d, &fd, &size, err) < 0)
        return -1;
    AUTO_FREE char *name = ib_xasprintf("blobs/sha256/%s", digest_hex(d));
    if (save_header(s, name, (int64_t)size, false, err) < 0)
        return -1;
    AUTO_FREE char *buf = ib_xmalloc(STORE_IO_CHUNK);
    uint64_t left = size;
    while (left) {
        ssize_t n = read(fd, buf, STORE_IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return ib_fail(err, IB_E_STORE, "blob '%s' shrank while saving", d->s);
        if (archive_write_data(s->a, buf, (size_t)n) != n)
            return save_fail(s, name, err);
        left -= (uint64_t)n > left ? left : (uint64_t)n;
    }
    ib_strv_push(&s->written, d->s);
    return 0;
}

/* The manifest for img with layers compressed as comp; writes its blobs. */
static int
save_image(struct saver *s, struct store_image *img, enum store_compression comp,
           json_t *index_entries, json_t *docker, const char *refstr, struct ib_err **err)
{
    json_t *layers = json_array();
    json_t *dlayers = json_array();
    for (size_t i = 0; i < img->nlayers; i++) {
        struct store_layer l;
        if (store_layer_compressed(s->st, &img->layers[i], comp, &l, err) < 0 ||
            save_blob(s, &l.digest, err) < 0) {
            json_decref(layers);
            json_decref(dlayers);
            return -1;
        }
        json_array_append_new(layers,
                              json_pack("{s:s,s:s,s:I}", "mediaType", image_layer_media(comp),
                                        "digest", l.digest.s, "size", (json_int_t)l.size));
        json_array_append_new(dlayers, json_sprintf("blobs/sha256/%s", digest_hex(&l.digest)));
    }
    json_t *m = json_deep_copy(img->manifest);
    json_object_set_new(m, "mediaType", json_string(MEDIA_OCI_MANIFEST));
    json_object_set_new(m, "layers", layers);
    json_t *cfgdesc = json_object_get(m, "config");
    if (json_is_object(cfgdesc))
        json_object_set_new(cfgdesc, "mediaType", json_string(MEDIA_OCI_CONFIG));
    AUTO_BUF struct ib_buf mb = IB_BUF_INIT;
    image_json_dump(m, &mb);
    json_decref(m);
    struct digest md;
    if (save_blob(s, &img->id, err) < 0 || store_put_json(s->st, &mb, &md, err) < 0 ||
        save_blob(s, &md, err) < 0) {
        json_decref(dlayers);
        return -1;
    }
    json_t *e = json_pack("{s:s,s:s,s:I}", "mediaType", MEDIA_OCI_MANIFEST, "digest", md.s, "size",
                          (json_int_t)mb.len);
    json_t *tags = json_array();
    if (refstr) {
        struct ref r;
        if (ref_parse(refstr, &r, NULL) == 0) {
            AUTO_FREE char *full = ref_string(&r);
            AUTO_FREE char *fam = ref_familiar_name(&r);
            if (r.tag && !r.digest) {
                json_object_set_new(
                    e, "annotations",
                    json_pack("{s:s,s:s}", ANN_REF, full, "io.containerd.image.name", full));
                json_array_append_new(tags, json_sprintf("%s:%s", fam, r.tag));
            }
            ref_release(&r);
        }
    }
    json_array_append_new(index_entries, e);
    json_array_append_new(docker,
                          json_pack("{s:s+,s:o,s:o}", "Config", "blobs/sha256/",
                                    digest_hex(&img->id), "RepoTags", tags, "Layers", dlayers));
    return 0;
}

static json_t *
repositories(json_t *docker)
{
    json_t *repos = json_object();
    size_t i;
    json_t *item;
    json_array_foreach(docker, i, item)
    {
        json_t *tags = json_object_get(item, "RepoTags");
        json_t *layers = json_object_get(item, "Layers");
        size_t nl = json_array_size(layers);
        const char *top = nl ? json_string_value(json_array_get(layers, nl - 1)) : NULL;
        size_t k;
        json_t *t;
        json_array_foreach(tags, k, t)
        {
            const char *s = json_string_value(t);
            const char *colon = strrchr(s, ':');
            if (!colon || !top)
                continue;
            AUTO_FREE char *repo = ib_xstrndup(s, (size_t)(colon - s));
            json_t *r = json_object_get(repos, repo);
            if (!r) {
                r = json_object();
                json_object_set_new(repos, repo, r);
            }
            const char *slash = strrchr(top, '/');
            json_object_set_new(r, colon + 1, json_string(slash ? slash + 1 : top));
        }
    }
    return repos;
}

static int
save_all(struct saver *s, const char *const *refs, size_t nrefs, enum store_archive_format fmt,
         enum store_compression comp, json_t *entries, json_t *docker, struct ib_err **err)
{
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    if (archive_write_set_format_pax_restricted(s->a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(s->a, 1) != ARCHIVE_OK ||
        archive_write_open2(s->a, s, NULL, save_write_cb, NULL, NULL) != ARCHIVE_OK)
        return save_fail(s, "archive", err);
    if (save_header(s, "blobs/", 0, true, err) < 0 ||
        save_header(s, "blobs/sha256/", 0, true, err) < 0 ||
        save_bytes(s, "oci-layout", layout, strlen(layout), err) < 0)
        return -1;
    for (size_t i = 0; i < nrefs; i++) {
        IB_AUTO(store_image_free) struct store_image *img = NULL;
        if (store_image_get(s->st, refs[i], &img, err) < 0)
            return -1;
        const char *tag = ref_looks_like_id(refs[i]) ? NULL : refs[i];
        if (save_image(s, img, comp, entries, docker, tag, err) < 0)
            return ib_err_prefix(err, "save '%s'", refs[i]);
    }
    json_t *index = json_pack("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType", MEDIA_OCI_INDEX,
                              "manifests", entries);
    AUTO_BUF struct ib_buf ib = IB_BUF_INIT;
    image_json_dump(index, &ib);
    json_decref(index);
    if (save_bytes(s, "index.json", ib.s, ib.len, err) < 0)
        return -1;
    if (fmt == STORE_ARCHIVE_DOCKER) {
        AUTO_BUF struct ib_buf mj = IB_BUF_INIT;
        AUTO_BUF struct ib_buf rj = IB_BUF_INIT;
        image_json_dump(docker, &mj);
        json_t *repos = repositories(docker);
        image_json_dump(repos, &rj);
        json_decref(repos);
        if (save_bytes(s, "manifest.json", mj.s, mj.len, err) < 0 ||
            save_bytes(s, "repositories", rj.s, rj.len, err) < 0)
            return -1;
    }
    if (archive_write_close(s->a) != ARCHIVE_OK)
        return save_fail(s, "archive", err);
    return 0;
}

int
store_save(struct store *st, const char *const *refs, size_t nrefs, enum store_archive_format fmt,
           enum store_compression comp, int fd, struct ib_err **err)
{
    struct saver s = {0};
    s.st = st;
    s.fd = fd;
    s.a = archive_write_new();
    if (!s.a)
        ib_oom();
    json_t *entries = json_array(), *docker = json_array();
    int rc = save_all(&s, refs, nrefs, fmt, comp, entries, docker, err);
    archive_write_free(s.a);
    json_decref(entries);
    json_decref(docker);
    ib_strv_release(&s.written);
    ib_err_free(s.werr);
    return rc;
}
