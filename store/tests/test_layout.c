/* store_layout_import: choosing the image of an OCI image layout (only entry, tag, digest,
 * platform of an index) and refusing damaged, missing and symlinked blobs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "store/store.h"

struct lay {
    char *dir, *blobs;
    struct digest layer, config, manifest;
    size_t layer_size;
};

static void
write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(s, f) < 0 || fclose(f) != 0)
        ib_test_fail(__FILE__, __LINE__, "write '%s'", path);
}

/* Store s as a blob of the layout; its digest in d. */
static void
put(struct lay *l, const char *s, struct digest *d)
{
    digest_buf(s, strlen(s), d);
    AUTO_FREE char *p = ib_path_join(l->blobs, digest_hex(d));
    write_file(p, s);
}

static char *
blob_path(struct lay *l, const struct digest *d)
{
    return ib_path_join(l->blobs, digest_hex(d));
}

/* A manifest for architecture arch (one layer, its own config); its JSON is the return. */
static char *
make_manifest(struct lay *l, const char *arch, struct digest *out)
{
    AUTO_FREE char *cfg = ib_xasprintf("{\"architecture\":\"%s\",\"os\":\"linux\",\"rootfs\":"
                                       "{\"type\":\"layers\",\"diff_ids\":[\"%s\"]},"
                                       "\"config\":{}}",
                                       arch, l->layer.s);
    struct digest cd;
    put(l, cfg, &cd);
    l->config = cd;
    char *m = ib_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                           "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
                           "\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
                           MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG, cd.s, strlen(cfg), MEDIA_LAYER_TAR,
                           l->layer.s, l->layer_size);
    put(l, m, out);
    return m;
}

static void
lay_init(struct lay *l, const char *name)
{
    memset(l, 0, sizeof(*l));
    l->dir = ib_path_join(ib_test_tmpdir(), name);
    l->blobs = ib_path_join(l->dir, "blobs/sha256");
    AUTO_FREE char *b = ib_path_join(l->dir, "blobs");
    if (mkdir(l->dir, 0755) < 0 || mkdir(b, 0755) < 0 || mkdir(l->blobs, 0755) < 0)
        ib_test_fail(__FILE__, __LINE__, "mkdir '%s'", l->dir);
    const char *layer = "not really a tar, but blobs are only copied";
    l->layer_size = strlen(layer);
    put(l, layer, &l->layer);
}

static void
lay_index(struct lay *l, const char *json)
{
    AUTO_FREE char *p = ib_path_join(l->dir, "index.json");
    write_file(p, json);
}

static void
lay_release(struct lay *l)
{
    free(l->dir);
    free(l->blobs);
}

static struct store *
fresh_store(const char *name)
{
    AUTO_FREE char *root = ib_path_join(ib_test_tmpdir(), name);
    struct store *st = NULL;
    struct ib_err *err = NULL;
    if (store_open(root, 0, &st, &err) < 0)
        ib_test_fail(__FILE__, __LINE__, "store_open: %s", err->msg);
    return st;
}

/* Import expecting failure with a message containing want. */
static int
import_fails(struct store *st, struct lay *l, const char *tag, const struct digest *d,
             const char *pf, const char *want)
{
    struct ib_err *err = NULL;
    struct digest m;
    int ok = store_layout_import(st, l->dir, tag, d, pf, &m, &err) < 0 && strstr(err->msg, want);
    if (!ok)
        ib_test_note("want '%s', got '%s'", want, err ? err->msg : "success");
    ib_err_free(err);
    return ok;
}

TEST(layout_only_image_tag_and_digest)
{
    struct lay l;
    lay_init(&l, "l1");
    struct digest ma, mb;
    AUTO_FREE char *ja = make_manifest(&l, "amd64", &ma);
    struct digest cfg_a = l.config;
    AUTO_FREE char *jb = make_manifest(&l, "arm64", &mb);
    AUTO_FREE char *one = ib_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
                                       "\"digest\":\"%s\",\"size\":%zu}]}",
                                       MEDIA_OCI_MANIFEST, ma.s, strlen(ja));
    lay_index(&l, one);
    struct store *st = fresh_store("s1");
    struct ib_err *err = NULL;
    struct digest got;
    CHECK_OK(store_layout_import(st, l.dir, NULL, NULL, "linux/amd64", &got, &err));
    CHECK_STR(got.s, ma.s);
    CHECK(store_blob_exists(st, &ma) && store_blob_exists(st, &cfg_a) &&
          store_blob_exists(st, &l.layer));
    struct store_image *img = NULL;
    CHECK_OK(store_image_load(st, &got, &img, &err));
    CHECK(store_image_nlayers(img) == 1);
    CHECK_STR(store_image_top_str(img, "architecture"), "amd64");
    store_image_free(img);
    struct store_image_info *info = NULL;
    size_t n = 9;
    CHECK_OK(store_images_list(st, &info, &n, &err));
    CHECK(n == 0); /* nothing tagged */
    store_image_info_free(info, n);

    AUTO_FREE char *two = ib_xasprintf(
        "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\",\"size\":%zu,\"annotations\":{"
        "\"org.opencontainers.image.ref.name\":\"a\"}},{\"digest\":\"%s\",\"size\":%zu,"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"b\"}}]}",
        ma.s, strlen(ja), mb.s, strlen(jb));
    lay_index(&l, two);
    CHECK_OK(store_layout_import(st, l.dir, "b", NULL, "linux/amd64", &got, &err));
    CHECK_STR(got.s, mb.s); /* by tag, whatever the platform of a plain manifest */
    CHECK(
        import_fails(st, &l, NULL, NULL, "linux/amd64", "give a tag or a digest (tags: 'a', 'b')"));
    CHECK(import_fails(st, &l, "c", NULL, "linux/amd64", "tag 'c' not found (tags: 'a', 'b')"));
    CHECK_OK(store_layout_import(st, l.dir, "b", &ma, "linux/amd64", &got, &err));
    CHECK_STR(got.s, ma.s); /* the digest wins */
    struct digest zero;
    digest_buf("", 0, &zero);
    CHECK(import_fails(st, &l, NULL, &zero, "linux/amd64", "not found"));
    store_close(st);
    lay_release(&l);
}

TEST(layout_index_by_platform)
{
    struct lay l;
    lay_init(&l, "l2");
    struct digest ma, mb, ix;
    AUTO_FREE char *ja = make_manifest(&l, "amd64", &ma);
    AUTO_FREE char *jb = make_manifest(&l, "arm64", &mb);
    AUTO_FREE char *idx = ib_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{\"mediaType\":\"%s\","
        "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":"
        "\"amd64\"}},{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":"
        "\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}",
        MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, ma.s, strlen(ja), MEDIA_OCI_MANIFEST, mb.s,
        strlen(jb));
    put(&l, idx, &ix);
    AUTO_FREE char *top = ib_xasprintf(
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":"
        "%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"multi\"}}]}",
        MEDIA_OCI_INDEX, ix.s, strlen(idx));
    lay_index(&l, top);
    struct store *st = fresh_store("s2");
    struct ib_err *err = NULL;
    struct digest got;
    CHECK_OK(store_layout_import(st, l.dir, "multi", NULL, "linux/arm64", &got, &err));
    CHECK_STR(got.s, mb.s);
    CHECK_OK(store_layout_import(st, l.dir, NULL, NULL, "linux/amd64", &got, &err));
    CHECK_STR(got.s, ma.s);
    CHECK_OK(store_layout_import(st, l.dir, NULL, &ix, "linux/arm64/v8", &got, &err));
    CHECK_STR(got.s, mb.s);
    CHECK(
        import_fails(st, &l, "multi", NULL, "linux/s390x",
                     "no image for platform 'linux/s390x' (it has: linux/amd64, linux/arm64/v8)"));
    store_close(st);
    lay_release(&l);
}

TEST(layout_bad_blobs)
{
    struct lay l;
    lay_init(&l, "l3");
    struct digest m;
    AUTO_FREE char *jm = make_manifest(&l, "amd64", &m);
    AUTO_FREE char *one = ib_xasprintf(
        "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\",\"size\":%zu}]}", m.s, strlen(jm));
    lay_index(&l, one);
    struct store *st = fresh_store("s3");
    AUTO_FREE char *lp = blob_path(&l, &l.layer);
    AUTO_FREE char *good = ib_path_join(ib_test_tmpdir(), "good-layer");
    CHECK(rename(lp, good) == 0);

    write_file(lp, "NOT really a tar, but blobs are only copied"); /* same size */
    CHECK(import_fails(st, &l, NULL, NULL, "linux/amd64", "digest mismatch"));
    CHECK(!store_blob_exists(st, &l.layer) && !store_blob_exists(st, &m));
    write_file(lp, "short");
    CHECK(import_fails(st, &l, NULL, NULL, "linux/amd64", "has 5 bytes, its descriptor says"));
    CHECK(unlink(lp) == 0 && symlink(good, lp) == 0);
    CHECK(import_fails(st, &l, NULL, NULL, "linux/amd64", "is a symlink"));
    CHECK(unlink(lp) == 0);
    CHECK(import_fails(st, &l, NULL, NULL, "linux/amd64", "is not in the layout"));
    CHECK(!store_blob_exists(st, &l.layer) && !store_blob_exists(st, &m));

    AUTO_FREE char *mp = blob_path(&l, &m);
    CHECK(rename(good, lp) == 0);
    AUTO_FREE char *saved = ib_test_slurp(mp, NULL);
    AUTO_FREE char *bad = ib_xstrdup(saved);
    char *v = strstr(bad, "\"schemaVersion\":2");
    CHECK(v != NULL);
    v[16] = '3'; /* same size, another digest */
    write_file(mp, bad);
    CHECK(import_fails(st, &l, NULL, NULL, "linux/amd64", "digest mismatch"));
    write_file(mp, saved);
    lay_index(&l, "{\"manifests\": [");
    CHECK(import_fails(st, &l, NULL, NULL, "linux/amd64", "index.json"));
    AUTO_FREE char *ip = ib_path_join(l.dir, "index.json");
    CHECK(unlink(ip) == 0);
    CHECK(import_fails(st, &l, NULL, NULL, "linux/amd64", "no index.json"));
    lay_index(&l, one);
    struct ib_err *err = NULL;
    struct digest got;
    CHECK_OK(store_layout_import(st, l.dir, NULL, NULL, "linux/amd64", &got, &err));
    CHECK_STR(got.s, m.s);
    AUTO_BUF struct ib_buf report = IB_BUF_INIT;
    CHECK_OK(store_fsck(st, &report, &err));
    store_close(st);
    lay_release(&l);
}
