/* store/compress.c: layer compression for export, done once and cached.
 *
 * gzip is block-parallel deflate (store/pgzip.c): one gzip stream whose
 * bytes depend only on the input, never on the number of threads; the header
 * has no name and mtime 0.  zstd is single-threaded (it is fast enough).
 *
 * cache/compressed/<diffID hex>.<gzip|zstd> records "<blob digest> <size>".
 */
#include "store/image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

static unsigned
thread_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("IMGBUILD_THREADS");
    if (env && atoi(env) > 0)
        n = atoi(env);
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static int
zstd_stream(struct layer_reader *r, struct blob_writer *w, struct ib_err **err)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    if (!cc)
        ib_oom();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    size_t ocap = ZSTD_CStreamOutSize();
    unsigned char *in = ib_xmalloc(STORE_IO_CHUNK), *out = ib_xmalloc(ocap);
    int rc = 0;
    for (bool last = false; rc == 0 && !last;) {
        size_t got = 0;
        if ((rc = layer_reader_read_full(r, in, STORE_IO_CHUNK, &got, err)) < 0)
            break;
        last = got < STORE_IO_CHUNK;
        ZSTD_inBuffer ib = {in, got, 0};
        bool finished = false;
        while (rc == 0 && !finished) {
            ZSTD_outBuffer ob = {out, ocap, 0};
            size_t left = ZSTD_compressStream2(cc, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left)) {
                rc = ib_fail(err, IB_E_BUG, "zstd: %s", ZSTD_getErrorName(left));
                break;
            }
            rc = blob_writer_write(w, out, ob.pos, err);
            finished = last ? left == 0 : ib.pos == ib.size;
        }
    }
    free(in);
    free(out);
    ZSTD_freeCCtx(cc);
    return rc;
}

static const char *
comp_name(enum store_compression c)
{
    return c == STORE_COMPRESS_GZIP ? "gzip" : c == STORE_COMPRESS_ZSTD ? "zstd" : "none";
}

static char *
cache_name(const struct digest *diff_id, enum store_compression c)
{
    return ib_xasprintf("compressed/%s.%s", digest_hex(diff_id), comp_name(c));
}

static bool
cache_lookup(struct store *st, const struct store_layer *layer, enum store_compression c,
             struct store_layer *out)
{
    AUTO_FREE char *name = cache_name(&layer->diff_id, c);
    AUTO_FD int fd = openat(st->cachefd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[200];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char dg[DIGEST_STR_LEN + 1];
    uint64_t size = 0;
    if (sscanf(buf, "%71s %" SCNu64, dg, &size) != 2)
        return false;
    struct store_layer l = *layer;
    if (digest_parse(dg, &l.digest, NULL) < 0 || !store_blob_exists(st, &l.digest))
        return false;
    l.size = size;
    l.compression = c;
    *out = l;
    return true;
}

int
store_layer_compressed(struct store *st, const struct store_layer *layer,
                       enum store_compression comp, struct store_layer *out, struct ib_err **err)
{
    if (layer->compression == comp) {
        *out = *layer;
        return 0;
    }
    if (cache_lookup(st, layer, comp, out))
        return 0;
    AUTO_FD int fd = -1;
    if (store_blob_open(st, &layer->digest, &fd, NULL, err) < 0)
        return -1;
    struct layer_reader *r = NULL;
    struct blob_writer *w = NULL;
    if (layer_reader_new(fd, &r, err) < 0)
        return -1;
    if (store_blob_begin(st, &w, err) < 0) {
        layer_reader_free(r);
        return -1;
    }
    int rc = 0;
    if (comp == STORE_COMPRESS_GZIP) {
        rc = store_gzip_stream(r, w, thread_count(), err);
    } else if (comp == STORE_COMPRESS_ZSTD) {
        rc = zstd_stream(r, w, err);
    } else { /* decompress: a plain copy of the tar */
        AUTO_FREE unsigned char *buf = ib_xmalloc(STORE_IO_CHUNK);
        size_t got = 0;
        while ((rc = layer_reader_read(r, buf, STORE_IO_CHUNK, &got, err)) == 0 && got)
            if ((rc = blob_writer_write(w, buf, got, err)) < 0)
                break;
    }
    struct digest raw, un;
    if (rc == 0)
        rc = layer_reader_finish(r, &raw, &un, NULL, err);
    layer_reader_free(r);
    if (rc == 0 && !digest_eq(&raw, &layer->digest))
        rc = ib_fail(err, IB_E_STORE, "blob '%s' is damaged (digest '%s')", layer->digest.s, raw.s);
    if (rc == 0 && digest_is_set(&layer->diff_id) && !digest_eq(&un, &layer->diff_id))
        rc = ib_fail(err, IB_E_STORE, "layer '%s' has diffID '%s', expected '%s'", layer->digest.s,
                     un.s, layer->diff_id.s);
    if (rc < 0) {
        store_blob_abort(w);
        return -1;
    }
    struct store_layer l = *layer;
    l.compression = comp;
    if (store_blob_commit(w, NULL, &l.digest, &l.size, err) < 0)
        return -1;
    AUTO_FREE char *name = cache_name(&layer->diff_id, comp);
    AUTO_FREE char *line = ib_xasprintf("%s %" PRIu64 "\n", l.digest.s, l.size);
    if (ib_mkdir_p(st->cachefd, "compressed", 0755, err) < 0 ||
        store_write_file(st, st->cachefd, name, line, strlen(line), err) < 0)
        return -1;
    *out = l;
    return 0;
}
