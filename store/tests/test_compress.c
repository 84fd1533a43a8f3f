/* store/tests/test_compress.c: export compression (one valid gzip stream, the
 * same bytes for any thread count), and the blob writer and prune basics. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/test.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)

#define CHUNK (256u * 1024u) /* store/pgzip.c's block size: cases straddle it */

static uint64_t rng = 88172645463325252ull;

static unsigned char
next_byte(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned char)rng;
}

/* kind: 0 zeros, 1 random, 2 text-like, 3 mixed runs of all three */
static unsigned char *
make_data(int kind, size_t n)
{
    unsigned char *p = ib_xmalloc(n ? n : 1);
    static const char words[] = "layer tar gzip deflate block stream overlay whiteout ";
    for (size_t i = 0; i < n; i++) {
        int k = kind == 3 ? (int)((i / 50000) % 3) : kind;
        p[i] = k == 0 ? 0 : k == 1 ? next_byte() : (unsigned char)words[(i * 7 + i / 97) % 53];
    }
    return p;
}

/* Inflate a gzip blob: ok only if it is exactly one member with nothing after. */
static bool
gunzip_one(const unsigned char *gz, size_t n, unsigned char **out, size_t *out_len)
{
    z_stream z = {0};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return false;
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = ib_xmalloc(cap);
    z.next_in = (unsigned char *)gz;
    z.avail_in = (uInt)n;
    int r;
    do {
        if (len == cap) {
            cap *= 2;
            buf = ib_xrealloc(buf, cap);
        }
        z.next_out = buf + len;
        z.avail_out = (uInt)(cap - len);
        r = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
    } while (r == Z_OK);
    bool ok = r == Z_STREAM_END && z.avail_in == 0;
    inflateEnd(&z);
    *out = buf;
    *out_len = len;
    return ok;
}

/* Put data as a plain layer blob and export it as gzip; the gzip digest. */
static int
export_gzip(struct store *st, const unsigned char *data, size_t n, struct store_layer *gz,
            struct ib_err **err)
{
    struct store_layer l = {0};
    if (store_blob_put_buf(st, data, n, &l.digest, err) < 0)
        return -1;
    l.diff_id = l.digest;
    l.size = n;
    l.compression = STORE_COMPRESS_NONE;
    return store_layer_compressed(st, &l, STORE_COMPRESS_GZIP, gz, err);
}

TEST(gzip_export_single_valid_stream)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_xasprintf("%s/store-gz", ib_test_tmpdir());
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    static const struct {
        int kind;
        size_t n;
    } cases[] = {
        {0, 0},         {2, 1},
        {1, 100},       {2, CHUNK - 1},
        {2, CHUNK},     {1, CHUNK + 1},
        {0, 3 * CHUNK}, {2, 3 * CHUNK + 17},
        {1, 2 * CHUNK}, {3, 5 * CHUNK + 4321},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        AUTO_FREE unsigned char *data = make_data(cases[i].kind, cases[i].n);
        struct store_layer gz;
        bool ok = export_gzip(st, data, cases[i].n, &gz, &err) == 0;
        AUTO_BUF struct ib_buf blob = IB_BUF_INIT;
        if (ok)
            ok = store_blob_read(st, &gz.digest, 64u << 20, &blob, &err) == 0;
        AUTO_FREE unsigned char *plain = NULL;
        size_t plen = 0;
        if (ok) {
            const unsigned char *b = (const unsigned char *)blob.s;
            /* header: deflate, no flags, mtime 0, unknown OS */
            ok = blob.len >= 18 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8 && b[3] == 0 &&
                 !b[4] && !b[5] && !b[6] && !b[7] && gz.size == blob.len &&
                 gz.compression == STORE_COMPRESS_GZIP;
            ok = ok && gunzip_one(b, blob.len, &plain, &plen) && plen == cases[i].n &&
                 (plen == 0 || memcmp(plain, data, plen) == 0);
        }
        ib_test_case(ok, "gzip kind %d, %zu bytes -> %zu (%s)", cases[i].kind, cases[i].n, blob.len,
                     err ? err->msg : "one member, same bytes");
        ib_err_free(err);
        err = NULL;
    }
}

TEST(gzip_export_same_bytes_for_any_thread_count)
{
    struct ib_err *err = NULL;
    AUTO_FREE unsigned char *data = make_data(3, 7 * CHUNK + 999);
    struct digest first = {""};
    static const char *threads[] = {"1", "2", "3", "8"};
    for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
        AUTO_FREE char *root = ib_xasprintf("%s/store-gz-t%s", ib_test_tmpdir(), threads[i]);
        IB_AUTO(store_close) struct store *st = NULL;
        CHECK_OK(store_open(root, 0, &st, &err));
        setenv("IMGBUILD_THREADS", threads[i], 1);
        struct store_layer gz;
        int rc = export_gzip(st, data, 7 * CHUNK + 999, &gz, &err);
        unsetenv("IMGBUILD_THREADS");
        CHECK_OK(rc);
        ib_test_note("%s threads: %s", threads[i], gz.digest.s);
        if (i == 0)
            first = gz.digest;
        CHECK(digest_eq(&first, &gz.digest));
        /* asked again: from the cache, the same blob */
        struct store_layer again;
        CHECK_OK(export_gzip(st, data, 7 * CHUNK + 999, &again, &err));
        CHECK(digest_eq(&again.digest, &gz.digest));
    }
}

TEST(gzip_export_refuses_damaged_blob)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_xasprintf("%s/store-gz-bad", ib_test_tmpdir());
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    AUTO_FREE unsigned char *data = make_data(2, 2 * CHUNK);
    struct store_layer l = {0};
    CHECK_OK(store_blob_put_buf(st, data, 2 * CHUNK, &l.digest, &err));
    l.diff_id = l.digest;
    AUTO_FREE char *path = store_blob_path(st, &l.digest);
    AUTO_FD int fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "X", 1, 1000) == 1);
    struct store_layer gz;
    CHECK(store_layer_compressed(st, &l, STORE_COMPRESS_GZIP, &gz, &err) < 0);
    ib_test_note("%s", err->msg);
    CHECK(strstr(err->msg, "damaged"));
    ib_err_free(err);
}

static size_t
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return (size_t)-1;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

TEST(blob_writer_basics)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_xasprintf("%s/store-blob", ib_test_tmpdir());
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    AUTO_FREE char *tmp = ib_xasprintf("%s/tmp", root);
    AUTO_FREE char *blobs = ib_xasprintf("%s/blobs/sha256", root);

    /* streamed in pieces: named by its digest, readable, the size counted */
    struct blob_writer *w = NULL;
    CHECK_OK(store_blob_begin(st, &w, &err));
    CHECK_INT(count_entries(tmp), 1);
    CHECK_OK(blob_writer_write(w, "hello ", 6, &err));
    CHECK_OK(blob_writer_write(w, "world", 5, &err));
    struct digest d, want;
    uint64_t size = 0;
    CHECK_OK(store_blob_commit(w, NULL, &d, &size, &err));
    digest_buf("hello world", 11, &want);
    CHECK(digest_eq(&d, &want));
    CHECK_INT(size, 11);
    CHECK(store_blob_exists(st, &d));
    CHECK_INT(count_entries(tmp), 0);
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    CHECK_OK(store_blob_read(st, &d, 100, &b, &err));
    CHECK_STR(b.s, "hello world");
    /* the read limit holds */
    AUTO_BUF struct ib_buf small = IB_BUF_INIT;
    CHECK(store_blob_read(st, &d, 5, &small, &err) < 0);
    ib_err_free(err);
    err = NULL;

    /* an expected digest that does not match: refused, nothing stored */
    CHECK_OK(store_blob_begin(st, &w, &err));
    CHECK_OK(blob_writer_write(w, "other", 5, &err));
    CHECK(store_blob_commit(w, &want, &d, NULL, &err) < 0);
    CHECK(err && err->kind == IB_E_STORE);
    ib_err_free(err);
    err = NULL;
    digest_buf("other", 5, &d);
    CHECK(!store_blob_exists(st, &d));
    CHECK_INT(count_entries(tmp), 0);
    CHECK_INT(count_entries(blobs), 1);

    /* abort leaves nothing; the same content twice is one blob */
    CHECK_OK(store_blob_begin(st, &w, &err));
    CHECK_OK(blob_writer_write(w, "x", 1, &err));
    store_blob_abort(w);
    CHECK_INT(count_entries(tmp), 0);
    CHECK_OK(store_blob_put_buf(st, "hello world", 11, &d, &err));
    CHECK_INT(count_entries(blobs), 1);

    /* a missing blob: IB_E_STORE with ENOENT */
    int fd = -1;
    digest_buf("missing", 7, &d);
    CHECK(store_blob_open(st, &d, &fd, NULL, &err) < 0);
    CHECK(err->kind == IB_E_STORE && err->sys == ENOENT);
    ib_err_free(err);
}

TEST(prune_keeps_what_images_use)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_xasprintf("%s/store-gc", ib_test_tmpdir());
    AUTO_FREE char *dir = ib_xasprintf("%s/gc-layer", ib_test_tmpdir());
    CHECK(mkdir(dir, 0755) == 0);
    AUTO_FREE char *f = ib_xasprintf("%s/file", dir);
    AUTO_FD int ffd = open(f, O_WRONLY | O_CREAT, 0644);
    CHECK(ffd >= 0 && write(ffd, "data", 4) == 4);
    struct digest junk, layer_digest;
    {
        IB_AUTO(store_close) struct store *st = NULL;
        CHECK_OK(store_open(root, 0, &st, &err));
        CHECK_OK(store_blob_put_buf(st, "unreferenced", 12, &junk, &err));
        struct store_layer l;
        CHECK_OK(store_layer_commit(st, NULL, dir, 0, &l, &err));
        layer_digest = l.digest;
        struct store_image *img = NULL;
        CHECK_OK(store_image_new(NULL, &img, &err));
        store_image_add_layer(img, &l, "test");
        int rc = store_image_commit(st, img, "gc/keep:1", &err);
        store_image_free(img);
        CHECK_OK(rc);
        /* an exclusive prune needs no other user: this shared one is closed first */
    }
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, STORE_EXCLUSIVE, &st, &err));
    struct store_gc_stats s;
    CHECK_OK(store_prune(st, 0, &s, &err));
    CHECK_INT(s.blobs, 1);
    CHECK(!store_blob_exists(st, &junk));
    CHECK(store_blob_exists(st, &layer_digest));
    struct store_image *img = NULL;
    CHECK_OK(store_image_get(st, "gc/keep:1", &img, &err));
    CHECK(store_blob_exists(st, store_image_digest(img)));
    CHECK(store_blob_exists(st, store_image_id(img)));
    store_image_free(img);
    AUTO_BUF struct ib_buf report = IB_BUF_INIT;
    CHECK_OK(store_fsck(st, &report, &err));
    /* untagged: everything goes */
    CHECK_OK(store_untag(st, "gc/keep:1", NULL, &err));
    CHECK_OK(store_prune(st, 0, &s, &err));
    CHECK(!store_blob_exists(st, &layer_digest));
    AUTO_FREE char *blobs = ib_xasprintf("%s/blobs/sha256", root);
    CHECK_INT(count_entries(blobs), 0);
    CHECK_INT(s.snapshots, 1);
}
