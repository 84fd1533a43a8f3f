/* store/codec.c: reading layer streams (gzip, zstd or plain), hashing both the
 * bytes as stored (the blob digest) and the uncompressed tar (the diffID).
 * We drive zlib and zstd ourselves because libarchive's filters hide the
 * uncompressed bytes. */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/mem.h"
#include "common/banned.h"

struct layer_reader {
    int fd;
    enum store_compression comp;
    struct digest_ctx *raw_hash, *out_hash;
    unsigned char *in;
    size_t in_len, in_pos;
    bool in_eof;     /* fd exhausted */
    bool stream_end; /* decoder finished (and no further member follows) */
    uint64_t raw_bytes, out_bytes;
    z_stream z;
    bool z_init;
    ZSTD_DStream *zs;
    size_t zs_last; /* last ZSTD_decompressStream result (0: frame complete) */
};

static int
fill(struct layer_reader *r, struct ib_err **err)
{
    if (r->in_pos < r->in_len || r->in_eof)
        return 0;
    for (;;) {
        ssize_t n = read(r->fd, r->in, STORE_IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ib_fail_errno(err, "read layer");
        r->in_len = (size_t)n;
        r->in_pos = 0;
        r->in_eof = n == 0;
        digest_ctx_update(r->raw_hash, r->in, (size_t)n);
        r->raw_bytes += (uint64_t)n;
        return 0;
    }
}

int
layer_reader_new(int fd, struct layer_reader **out, struct ib_err **err)
{
    struct layer_reader *r = ib_xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->in = ib_xmalloc(STORE_IO_CHUNK);
    if (digest_ctx_new(&r->raw_hash, err) < 0 || digest_ctx_new(&r->out_hash, err) < 0 ||
        fill(r, err) < 0) {
        layer_reader_free(r);
        return -1;
    }
    r->comp = store_sniff_compression(r->in, r->in_len);
    if (r->comp == STORE_COMPRESS_GZIP) {
        if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK)
            ib_oom();
        r->z_init = true;
    } else if (r->comp == STORE_COMPRESS_ZSTD) {
        r->zs = ZSTD_createDStream();
        if (!r->zs)
            ib_oom();
        ZSTD_initDStream(r->zs);
    }
    *out = r;
    return 0;
}

void
layer_reader_free(struct layer_reader *r)
{
    if (!r)
        return;
    if (r->z_init)
        inflateEnd(&r->z);
    ZSTD_freeDStream(r->zs);
    digest_ctx_free(r->raw_hash);
    digest_ctx_free(r->out_hash);
    free(r->in);
    free(r);
}

enum store_compression
layer_reader_compression(const struct layer_reader *r)
{
    return r->comp;
}

static int
read_gzip(struct layer_reader *r, unsigned char *buf, size_t cap, size_t *got, struct ib_err **err)
{
    while (*got == 0 && !r->stream_end) {
        if (fill(r, err) < 0)
            return -1;
        if (r->in_pos == r->in_len && r->in_eof)
            return ib_fail(err, IB_E_STORE, "truncated gzip stream");
        r->z.next_in = r->in + r->in_pos;
        r->z.avail_in = (uInt)(r->in_len - r->in_pos);
        r->z.next_out = buf;
        r->z.avail_out = (uInt)cap;
        int zr = inflate(&r->z, Z_NO_FLUSH);
        r->in_pos = r->in_len - r->z.avail_in;
        *got = cap - r->z.avail_out;
        if (zr == Z_STREAM_END) {
            /* another gzip member may follow (RFC 1952 allows several) */
            if (fill(r, err) < 0)
                return -1;
            if (r->in_pos == r->in_len && r->in_eof) {
                r->stream_end = true;
            } else if (r->in[r->in_pos] == 0x1f) {
                inflateReset(&r->z);
            } else {
                return ib_fail(err, IB_E_STORE, "garbage after the end of the gzip stream");
            }
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            return ib_fail(err, IB_E_STORE, "corrupt gzip stream: %s",
                           r->z.msg ? r->z.msg : "inflate error");
        }
    }
    return 0;
}

static int
read_zstd(struct layer_reader *r, unsigned char *buf, size_t cap, size_t *got, struct ib_err **err)
{
    while (*got == 0 && !r->stream_end) {
        if (fill(r, err) < 0)
            return -1;
        if (r->in_pos == r->in_len && r->in_eof) {
            if (r->zs_last != 0)
                return ib_fail(err, IB_E_STORE, "truncated zstd stream");
            r->stream_end = true;
            break;
        }
        ZSTD_inBuffer in = {r->in, r->in_len, r->in_pos};
        ZSTD_outBuffer out = {buf, cap, 0};
        size_t zr = ZSTD_decompressStream(r->zs, &out, &in);
        if (ZSTD_isError(zr))
            return ib_fail(err, IB_E_STORE, "corrupt zstd stream: %s", ZSTD_getErrorName(zr));
        r->zs_last = zr;
        r->in_pos = in.pos;
        *got = out.pos;
    }
    return 0;
}

int
layer_reader_read(struct layer_reader *r, void *buf, size_t cap, size_t *got, struct ib_err **err)
{
    *got = 0;
    if (r->comp == STORE_COMPRESS_NONE) {
        if (fill(r, err) < 0)
            return -1;
        size_t n = r->in_len - r->in_pos;
        if (n > cap)
            n = cap;
        memcpy(buf, r->in + r->in_pos, n);
        r->in_pos += n;
        *got = n;
    } else if (r->comp == STORE_COMPRESS_GZIP) {
        if (read_gzip(r, buf, cap, got, err) < 0)
            return -1;
    } else if (read_zstd(r, buf, cap, got, err) < 0) {
        return -1;
    }
    if (r->comp != STORE_COMPRESS_NONE) /* plain: the tar is the blob, hashed once */
        digest_ctx_update(r->out_hash, buf, *got);
    r->out_bytes += *got;
    return 0;
}

int
layer_reader_read_full(struct layer_reader *r, void *buf, size_t cap, size_t *got,
                       struct ib_err **err)
{
    unsigned char *p = buf;
    *got = 0;
    while (*got < cap) {
        size_t n = 0;
        if (layer_reader_read(r, p + *got, cap - *got, &n, err) < 0)
            return -1;
        if (n == 0)
            break;
        *got += n;
    }
    return 0;
}

int
layer_reader_finish(struct layer_reader *r, struct digest *raw, struct digest *uncompressed,
                    uint64_t *raw_size, struct ib_err **err)
{
    unsigned char *buf = ib_xmalloc(STORE_IO_CHUNK);
    size_t got;
    int rc = 0;
    do {
        rc = layer_reader_read(r, buf, STORE_IO_CHUNK, &got, err);
    } while (rc == 0 && got > 0);
    free(buf);
    if (rc < 0)
        return -1;
    /* plain tar: bytes past what was read are still part of the blob */
    while (!r->in_eof) {
        r->in_pos = r->in_len;
        if (fill(r, err) < 0)
            return -1;
    }
    if (r->comp != STORE_COMPRESS_NONE && r->in_pos < r->in_len)
        return ib_fail(err, IB_E_STORE, "garbage after the end of the compressed stream");
    struct digest rd;
    digest_ctx_final(r->raw_hash, &rd);
    if (raw)
        *raw = rd;
    if (uncompressed) {
        if (r->comp == STORE_COMPRESS_NONE)
            *uncompressed = rd;
        else
            digest_ctx_final(r->out_hash, uncompressed);
    }
    if (raw_size)
        *raw_size = r->raw_bytes;
    return 0;
}
