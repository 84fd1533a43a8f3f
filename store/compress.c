/* store/compress.c: layer compression for export, done once and cached.
 *
 * gzip is block-parallel deflate as pigz does it: the tar is cut into 128 KiB
 * blocks, each deflated (raw, level 1) with the previous 32 KiB as preset
 * dictionary and ended by a sync flush (the last by Z_FINISH), so the blocks
 * concatenate into one deflate stream; CRCs are combined.  The output depends
 * only on the input, never on the number of threads.  The gzip header has no
 * name and mtime 0.  zstd is single-threaded (it is fast enough).
 *
 * cache/compressed/<diffID hex>.<gzip|zstd> records "<blob digest> <size>".
 */
#include "store/image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define GZ_BLOCK (128u * 1024u)
#define GZ_DICT (32u * 1024u)
#define GZ_LEVEL 1
#define BATCH_PER_THREAD 4

struct gz_job {
    unsigned char *in;
    size_t in_len;
    unsigned char *out;
    size_t out_len, out_cap;
    const unsigned char *dict; /* last GZ_DICT bytes before this block, or NULL */
    size_t dict_len;
    bool last;
    uLong crc;
    int zerr;
};

struct gz_batch {
    struct gz_job *jobs;
    size_t njobs;
    size_t next; /* atomically claimed */
};

static void
gz_run(struct gz_job *j)
{
    z_stream z = { 0 };
    if (deflateInit2(&z, GZ_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        j->zerr = Z_MEM_ERROR;
        return;
    }
    if (j->dict)
        deflateSetDictionary(&z, j->dict, (uInt)j->dict_len);
    z.next_in = j->in;
    z.avail_in = (uInt)j->in_len;
    z.next_out = j->out;
    z.avail_out = (uInt)j->out_cap;
    int r = deflate(&z, j->last ? Z_FINISH : Z_SYNC_FLUSH);
    if ((j->last && r != Z_STREAM_END) || (!j->last && r != Z_OK) || z.avail_in)
        j->zerr = r == Z_OK ? Z_BUF_ERROR : r;
    j->out_len = j->out_cap - z.avail_out;
    j->crc = crc32(0L, j->in, (uInt)j->in_len);
    deflateEnd(&z);
}

static void *
gz_worker(void *arg)
{
    struct gz_batch *b = arg;
    for (;;) {
        size_t i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
        if (i >= b->njobs)
            return NULL;
        gz_run(&b->jobs[i]);
    }
}

static int
read_full(struct layer_reader *r, unsigned char *buf, size_t cap, size_t *got,
          struct ib_err **err)
{
    *got = 0;
    while (*got < cap) {
        size_t n = 0;
        if (layer_reader_read(r, buf + *got, cap - *got, &n, err) < 0)
            return -1;
        if (n == 0)
            break;
        *got += n;
    }
    return 0;
}

static unsigned
thread_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("IMGBUILD_THREADS");
    if (env && atoi(env) > 0)
        n = atoi(env);
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static int
gzip_stream(struct layer_reader *r, struct blob_writer *w, struct ib_err **err)
{
    static const unsigned char hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff };
    if (blob_writer_write(w, hdr, sizeof(hdr), err) < 0)
        return -1;
    unsigned nthreads = thread_count();
    size_t nb = (size_t)nthreads * BATCH_PER_THREAD;
    struct gz_job *jobs = ib_xcalloc(nb, sizeof(*jobs));
    size_t out_cap = deflateBound(NULL, GZ_BLOCK) + 64;
    for (size_t i = 0; i < nb; i++) {
        jobs[i].in = ib_xmalloc(GZ_BLOCK);
        jobs[i].out = ib_xmalloc(out_cap);
        jobs[i].out_cap = out_cap;
    }
    unsigned char *dict = ib_xmalloc(GZ_DICT);
    size_t dict_len = 0;
    unsigned char *look = ib_xmalloc(GZ_BLOCK); /* one block of lookahead */
    size_t look_len = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t total = 0;
    int rc = read_full(r, look, GZ_BLOCK, &look_len, err);
    pthread_t *tids = ib_xcalloc(nthreads, sizeof(*tids));
    bool done = false;
    while (rc == 0 && !done) {
        size_t n = 0;
        while (n < nb && !done) {
            struct gz_job *j = &jobs[n];
            unsigned char *t = j->in;
            j->in = look;
            j->in_len = look_len;
            look = t;
            if ((rc = read_full(r, look, GZ_BLOCK, &look_len, err)) < 0)
                break;
            j->last = look_len == 0;
            done = j->last;
            n++;
        }
        if (rc < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (i == 0) {
                jobs[i].dict = dict_len ? dict : NULL;
                jobs[i].dict_len = dict_len;
            } else {
                size_t pl = jobs[i - 1].in_len;
                jobs[i].dict_len = pl < GZ_DICT ? pl : GZ_DICT;
                jobs[i].dict = jobs[i - 1].in + pl - jobs[i].dict_len;
            }
            jobs[i].zerr = 0;
        }
        struct gz_batch batch = { jobs, n, 0 };
        unsigned started = 0;
        for (unsigned t = 1; t < nthreads && t < n; t++)
            if (pthread_create(&tids[t], NULL, gz_worker, &batch) == 0)
                started = t;
        gz_worker(&batch);
        for (unsigned t = 1; t <= started; t++)
            pthread_join(tids[t], NULL);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (jobs[i].zerr)
                rc = ib_fail(err, IB_E_BUG, "deflate failed (%d)", jobs[i].zerr);
            else
                rc = blob_writer_write(w, jobs[i].out, jobs[i].out_len, err);
            crc = crc32_combine(crc, jobs[i].crc, (z_off_t)jobs[i].in_len);
            total += jobs[i].in_len;
        }
        if (n) { /* keep the dictionary for the next batch's first block */
            struct gz_job *lj = &jobs[n - 1];
            size_t keep = lj->in_len < GZ_DICT ? lj->in_len : GZ_DICT;
            memcpy(dict, lj->in + lj->in_len - keep, keep);
            dict_len = keep;
        }
    }
    if (rc == 0) {
        unsigned char trailer[8];
        put_le32(trailer, (uint32_t)crc);
        put_le32(trailer + 4, (uint32_t)total);
        rc = blob_writer_write(w, trailer, sizeof(trailer), err);
    }
    for (size_t i = 0; i < nb; i++) {
        free(jobs[i].in);
        free(jobs[i].out);
    }
    free(jobs);
    free(tids);
    free(dict);
    free(look);
    return rc;
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
        if ((rc = read_full(r, in, STORE_IO_CHUNK, &got, err)) < 0)
            break;
        last = got < STORE_IO_CHUNK;
        ZSTD_inBuffer ib = { in, got, 0 };
        bool finished = false;
        while (rc == 0 && !finished) {
            ZSTD_outBuffer ob = { out, ocap, 0 };
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
                       enum store_compression comp, struct store_layer *out,
                       struct ib_err **err)
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
        rc = gzip_stream(r, w, err);
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
        rc = ib_fail(err, IB_E_STORE, "blob '%s' is damaged (digest '%s')", layer->digest.s,
                     raw.s);
    if (rc == 0 && digest_is_set(&layer->diff_id) && !digest_eq(&un, &layer->diff_id))
        rc = ib_fail(err, IB_E_STORE, "layer '%s' has diffID '%s', expected '%s'",
                     layer->digest.s, un.s, layer->diff_id.s);
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
        ib_write_atomic(st->cachefd, name, line, strlen(line), 0644, err) < 0)
        return -1;
    *out = l;
    return 0;
}
