/* store/layout.c: copy one image of a local OCI image layout directory into the store
 * (`build --build-context NAME=oci-layout://PATH[:TAG][@DIGEST]`).
 *
 * The layout is read, never trusted: index.json and blobs are opened with openat under
 * the layout's directory and its blobs/sha256 without following symlinks, every JSON blob
 * is hashed before it is parsed, and every blob goes into the store through the verifying
 * blob writer with its expected digest (a blob the store already holds is hashed in the
 * layout all the same), its size checked against its descriptor.  All of it is one write
 * batch; nothing is tagged.
 */
#include "store/image.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define ANN_REF "org.opencontainers.image.ref.name"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MAX_NESTING 4

struct layout {
    struct store *st;
    int blobsfd; /* <layout>/blobs/sha256 */
    char *buf;   /* STORE_IO_CHUNK */
};

static int
open_blob(struct layout *l, const struct digest *d, int *fd, uint64_t *size, struct ib_err **err)
{
    int f = openat(l->blobsfd, digest_hex(d), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (f < 0) {
        if (errno == ENOENT)
            return store_fail_missing(err, "blob '%s' is not in the layout", d->s);
        if (errno == ELOOP)
            return ib_fail(err, IB_E_STORE, "blob '%s' is a symlink", d->s);
        return ib_fail_errno(err, "open blob '%s'", d->s);
    }
    AUTO_FD int guard = f;
    struct stat sb;
    if (fstat(f, &sb) < 0)
        return ib_fail_errno(err, "stat blob '%s'", d->s);
    if (!S_ISREG(sb.st_mode))
        return ib_fail(err, IB_E_STORE, "blob '%s' is not a regular file", d->s);
    *size = (uint64_t)sb.st_size;
    *fd = ib_steal_fd(&guard);
    return 0;
}

/* The descriptor's digest, and its size (-1 when it gives none). */
static int
desc_digest(const json_t *desc, struct digest *d, json_int_t *size, struct ib_err **err)
{
    json_t *js = json_object_get(desc, "size");
    *size = json_is_integer(js) ? json_integer_value(js) : -1;
    return digest_parse(image_jstr(desc, "digest"), d, err);
}

static int
check_size(const struct digest *d, uint64_t have, json_int_t want, struct ib_err **err)
{
    if (want >= 0 && have != (uint64_t)want)
        return ib_fail(err, IB_E_STORE, "blob '%s' has %llu bytes, its descriptor says %lld", d->s,
                       (unsigned long long)have, (long long)want);
    return 0;
}

/* Hash fd to its end and compare with d (a blob the store already has). */
static int
verify_fd(struct layout *l, int fd, const struct digest *d, struct ib_err **err)
{
    struct digest_ctx *c = NULL;
    if (digest_ctx_new(&c, err) < 0)
        return -1;
    for (;;) {
        ssize_t n = read(fd, l->buf, STORE_IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            digest_ctx_free(c);
            return ib_fail_errno(err, "read blob '%s'", d->s);
        }
        if (n == 0)
            break;
        digest_ctx_update(c, l->buf, (size_t)n);
    }
    struct digest got;
    digest_ctx_final(c, &got);
    digest_ctx_free(c);
    if (!digest_eq(&got, d))
        return ib_fail(err, IB_E_STORE, "digest mismatch: expected '%s', got '%s'", d->s, got.s);
    return 0;
}

/* Copy the blob desc names into the store, verified. */
static int
copy_blob(struct layout *l, const json_t *desc, const char *what, struct ib_err **err)
{
    struct digest d;
    json_int_t want;
    AUTO_FD int fd = -1;
    uint64_t size = 0;
    if (desc_digest(desc, &d, &want, err) < 0 || open_blob(l, &d, &fd, &size, err) < 0 ||
        check_size(&d, size, want, err) < 0)
        return ib_err_prefix(err, "%s", what);
    int rc = store_blob_exists(l->st, &d) ? verify_fd(l, fd, &d, err)
                                          : store_blob_put_fd(l->st, fd, &d, NULL, NULL, err);
    return rc < 0 ? ib_err_prefix(err, "%s blob '%s'", what, d.s) : 0;
}

/* A JSON blob (manifest or index) of the layout, hashed before it is parsed; its bytes
 * stay in raw.  *out: json_decref. */
static int
read_json_blob(struct layout *l, const struct digest *d, json_int_t want, struct ib_buf *raw,
               json_t **out, struct ib_err **err)
{
    AUTO_FD int fd = -1;
    uint64_t size = 0;
    if (open_blob(l, d, &fd, &size, err) < 0 || check_size(d, size, want, err) < 0)
        return -1;
    ib_buf_reset(raw);
    ib_buf_set_limit(raw, STORE_JSON_LIMIT);
    if (ib_read_fd(fd, raw, d->s, err) < 0)
        return -1;
    struct digest got;
    digest_buf(raw->s, raw->len, &got);
    if (!digest_eq(&got, d))
        return ib_fail(err, IB_E_STORE, "blob '%s': digest mismatch: got '%s'", d->s, got.s);
    if (image_json_parse(raw->s, raw->len, d->s, out, err) < 0)
        return -1;
    if (!json_is_object(*out)) {
        json_decref(*out);
        return ib_fail(err, IB_E_STORE, "blob '%s' is not a JSON object", d->s);
    }
    return 0;
}

static bool
is_index(const json_t *desc, const json_t *blob)
{
    const char *mt = image_jstr(blob, "mediaType");
    if (!*mt)
        mt = image_jstr(desc, "mediaType");
    return strcmp(mt, MEDIA_OCI_INDEX) == 0 || strcmp(mt, MEDIA_DOCKER_LIST) == 0 ||
           (!*mt && json_is_array(json_object_get(blob, "manifests")));
}

/* From desc (a manifest, or an index to choose from by platform) to the image's
 * manifest: *d and its bytes in raw, parsed in *out (json_decref). */
static int
resolve(struct layout *l, const json_t *desc, const struct store_platform *want,
        const char *platform, struct digest *d, struct ib_buf *raw, json_t **out,
        struct ib_err **err)
{
    json_t *held = NULL; /* the index whose entry desc is */
    for (int depth = 0;; depth++) {
        json_int_t size;
        json_t *blob = NULL;
        int rc = desc_digest(desc, d, &size, err);
        if (rc == 0)
            rc = read_json_blob(l, d, size, raw, &blob, err);
        if (rc == 0 && !is_index(desc, blob)) {
            json_decref(held);
            *out = blob;
            return 0;
        }
        json_decref(held);
        if (rc < 0)
            return -1;
        held = blob;
        json_t *arr = json_object_get(blob, "manifests");
        long i = store_platform_select(arr, want);
        if (i < 0 || depth >= MAX_NESTING) {
            AUTO_BUF struct ib_buf have = IB_BUF_INIT;
            store_platform_list(arr, &have);
            json_decref(held);
            if (depth >= MAX_NESTING)
                return ib_fail(err, IB_E_STORE, "image index '%s' nests too deep", d->s);
            return ib_fail(err, IB_E_STORE,
                           "image index '%s' has no image for platform '%s' (it has: %s)", d->s,
                           platform, have.s);
        }
        desc = json_array_get(arr, (size_t)i);
    }
}

/* ---- choosing in index.json ---- */

static void
list_tags(const json_t *arr, struct ib_buf *out)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *t = image_entry_ref(json_array_get(arr, i));
        if (t)
            ib_buf_addf(out, "%s'%s'", out->len ? ", " : "", t);
    }
    if (!out->len)
        ib_buf_adds(out, "none");
}

/* The descriptor in index.json (or made up for a digest only in blobs/) to start from;
 * *tmp holds what is made up (json_decref). */
static int
pick(struct layout *l, const json_t *arr, const char *tag, const struct digest *digest,
     const struct store_platform *want, json_t **tmp, const json_t **desc, struct ib_err **err)
{
    if (digest) {
        for (size_t i = 0; i < json_array_size(arr); i++) {
            json_t *e = json_array_get(arr, i);
            if (strcmp(image_jstr(e, "digest"), digest->s) == 0) {
                *desc = e;
                return 0;
            }
        }
        AUTO_FD int fd = -1;
        uint64_t size = 0;
        if (open_blob(l, digest, &fd, &size, err) < 0)
            return ib_err_prefix(err, "digest '%s' not found", digest->s);
        *tmp = json_pack("{s:s}", "digest", digest->s);
        *desc = *tmp;
        return 0;
    }
    AUTO_BUF struct ib_buf tags = IB_BUF_INIT;
    list_tags(arr, &tags);
    if (!tag) {
        if (json_array_size(arr) == 1) {
            *desc = json_array_get(arr, 0);
            return 0;
        }
        if (json_array_size(arr) == 0)
            return ib_fail(err, IB_E_STORE, "index.json lists no image");
        return ib_fail(err, IB_E_STORE,
                       "index.json lists %zu images: give a tag or a digest (tags: %s)",
                       json_array_size(arr), tags.s);
    }
    json_t *m = json_array();
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *t = image_entry_ref(json_array_get(arr, i));
        if (t && strcmp(t, tag) == 0)
            json_array_append(m, json_array_get(arr, i));
    }
    size_t n = json_array_size(m);
    long i = n == 1 ? 0 : store_platform_select(m, want);
    if (n == 0 || i < 0) {
        json_decref(m);
        if (n)
            return ib_fail(err, IB_E_STORE, "tag '%s': no image for the platform", tag);
        return ib_fail(err, IB_E_STORE, "tag '%s' not found (tags: %s)", tag, tags.s);
    }
    *tmp = m; /* keeps the entry alive */
    *desc = json_array_get(m, (size_t)i);
    return 0;
}

static int
read_index(int dirfd, json_t **out, struct ib_err **err)
{
    AUTO_FD int fd = openat(dirfd, "index.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? ib_fail(err, IB_E_STORE, "no index.json")
                               : ib_fail_errno(err, "open index.json");
    return image_index_read_fd(fd, "index.json", out, err);
}

/* The manifest (raw, parsed in m) and every blob it names. */
static int
copy_image(struct layout *l, const struct digest *d, const struct ib_buf *raw, const json_t *m,
           struct ib_err **err)
{
    json_t *cfg = json_object_get(m, "config");
    json_t *layers = json_object_get(m, "layers");
    if (!json_is_object(cfg) || !json_is_array(layers))
        return ib_fail(err, IB_E_STORE, "manifest '%s' has no config or layers", d->s);
    if (copy_blob(l, cfg, "config", err) < 0)
        return -1;
    for (size_t i = 0; i < json_array_size(layers); i++) {
        AUTO_FREE char *what = ib_xasprintf("layer %zu", i + 1);
        if (copy_blob(l, json_array_get(layers, i), what, err) < 0)
            return -1;
    }
    struct blob_writer *w = NULL;
    if (store_blob_begin(l->st, &w, err) < 0)
        return -1;
    if (blob_writer_write(w, raw->s, raw->len, err) < 0) {
        store_blob_abort(w);
        return -1;
    }
    return store_blob_commit(w, d, NULL, NULL, err);
}

static int
import(struct layout *l, int dirfd, const char *tag, const struct digest *digest,
       const char *platform, struct digest *out, struct ib_err **err)
{
    AUTO_FD int bfd = openat(dirfd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (bfd >= 0)
        l->blobsfd = openat(bfd, "sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (l->blobsfd < 0)
        return ib_fail_errno(err, "open blobs/sha256 (not followed if a symlink)");
    struct store_platform want;
    if (store_platform_parse(platform, &want, err) < 0)
        return -1;
    json_t *index = NULL;
    if (read_index(dirfd, &index, err) < 0)
        return -1;
    json_t *tmp = NULL, *m = NULL;
    const json_t *desc = NULL;
    AUTO_BUF struct ib_buf raw = IB_BUF_INIT;
    int rc = pick(l, json_object_get(index, "manifests"), tag, digest, &want, &tmp, &desc, err);
    if (rc == 0)
        rc = resolve(l, desc, &want, platform, out, &raw, &m, err);
    json_decref(tmp);
    json_decref(index);
    if (rc == 0)
        rc = copy_image(l, out, &raw, m, err);
    json_decref(m);
    return rc;
}

int
store_layout_import(struct store *st, const char *dir, const char *tag, const struct digest *digest,
                    const char *platform, struct digest *manifest, struct ib_err **err)
{
    AUTO_FD int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return ib_fail_errno(err, "open layout directory");
    struct layout l = {.st = st, .blobsfd = -1, .buf = ib_xmalloc(STORE_IO_CHUNK)};
    int rc = store_batch_begin(st, err);
    if (rc == 0) {
        rc = import(&l, dirfd, tag, digest, platform, manifest, err);
        AUTO_ERR struct ib_err *e = NULL;
        if (store_batch_end(st, rc < 0 ? &e : err) < 0 && rc == 0)
            rc = -1;
    }
    if (l.blobsfd >= 0)
        close(l.blobsfd);
    free(l.buf);
    return rc;
}
