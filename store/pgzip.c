/* store/pgzip.c: parallel gzip for export: one valid gzip stream (a single
 * member), deterministic, libdeflate-class speed.
 *
 * The tar is cut into fixed GZ_CHUNK blocks.  Each is deflated on its own
 * (libdeflate level 1, no dictionary) into a complete raw deflate stream, which
 * ends with a final block; zlib's inflate with Z_BLOCK then finds where that
 * last block's header starts and where the data ends, the BFINAL bit is
 * cleared and an empty stored block (a sync marker) byte-aligns the end, so the
 * pieces concatenate into one deflate stream.  An empty final fixed block
 * ("03 00") closes it; the CRCs are combined.  The output depends only on the
 * input (and the libdeflate version), never on the number of threads.
 *
 * Pipeline: the calling thread reads (and hashes) input into a ring of slots
 * and writes (and hashes) finished slots in order; workers compress slots as
 * they fill; when the caller has nothing to read or write it compresses too.
 */
#include "store/internal.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/mem.h"
#include "common/banned.h"

#define GZ_CHUNK (256u * 1024u)
#define GZ_LEVEL 1
#define SLOTS_PER_THREAD 4
#define SYNC_MAX 5 /* room for the sync marker */

enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_DONE };

struct slot {
    unsigned char *in, *out;
    size_t in_len, out_len;
    uint32_t crc;
    enum slot_state state;
    const char *fail; /* what went wrong, or NULL */
};

/* What one compressing thread owns. */
struct engine {
    struct libdeflate_compressor *c;
    z_stream z;
    unsigned char *scratch; /* inflate output while walking blocks */
};

struct pgz {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a slot was filled, or quit */
    pthread_cond_t done; /* a slot was compressed */
    struct slot *slots;
    size_t nslots, out_cap;
    uint64_t next_fill, next_claim, next_write; /* sequence numbers; slot = seq % nslots */
    bool quit;
};

static bool
engine_init(struct engine *e)
{
    memset(e, 0, sizeof(*e));
    e->c = libdeflate_alloc_compressor(GZ_LEVEL);
    if (!e->c || inflateInit2(&e->z, -15) != Z_OK) {
        libdeflate_free_compressor(e->c);
        return false;
    }
    e->scratch = ib_xmalloc(GZ_CHUNK);
    return true;
}

static void
engine_release(struct engine *e)
{
    libdeflate_free_compressor(e->c);
    inflateEnd(&e->z);
    free(e->scratch);
}

/* Walk the deflate stream p[0..n) block by block: the bit offset of the last
 * block's header and of the end of the data.  NULL or what failed. */
static const char *
walk_blocks(struct engine *e, const unsigned char *p, size_t n, uint64_t *last, uint64_t *end)
{
    z_stream *z = &e->z;
    if (inflateReset(z) != Z_OK)
        return "inflate reset";
    z->next_in = (unsigned char *)p;
    z->avail_in = (uInt)n;
    *last = 0;
    bool ended = false;
    for (;;) {
        z->next_out = e->scratch;
        z->avail_out = GZ_CHUNK;
        int r = inflate(z, Z_BLOCK);
        if (r == Z_STREAM_END)
            break;
        if (r != Z_OK)
            return "walking deflate blocks";
        if (!(z->data_type & 128))
            continue; /* output buffer full inside a block */
        /* at a block boundary, data_type & 7 = unused bits in the last byte
         * read; 64: the block that just ended was the last one */
        uint64_t pos = (uint64_t)z->total_in * 8 - (unsigned)(z->data_type & 7);
        if (z->data_type & 64) {
            *end = pos;
            ended = true;
        } else {
            *last = pos; /* the next block's header starts here */
        }
    }
    if (!ended || z->total_in != n || *end + 8 <= (uint64_t)n * 8)
        return "deflate stream does not end where its buffer does";
    return NULL;
}

/* Deflate s->in into s->out as a non-final, byte-aligned piece. */
static void
compress_slot(struct engine *e, struct slot *s, size_t out_cap)
{
    s->fail = NULL;
    s->crc = (uint32_t)libdeflate_crc32(0, s->in, s->in_len);
    size_t n = libdeflate_deflate_compress(e->c, s->in, s->in_len, s->out, out_cap - SYNC_MAX);
    if (n == 0) {
        s->fail = "deflate output larger than its bound";
        return;
    }
    uint64_t last = 0, end = 0;
    if ((s->fail = walk_blocks(e, s->out, n, &last, &end)) != NULL)
        return;
    if (!(s->out[last / 8] & (1u << (last % 8)))) {
        s->fail = "last deflate block without BFINAL";
        return;
    }
    s->out[last / 8] &= (unsigned char)~(1u << (last % 8));
    /* empty stored block: 3 zero header bits (they fit in the zero padding
     * when 3 or more bits are left), pad, LEN 0000, NLEN ffff */
    unsigned unused = (unsigned)(n * 8 - end);
    static const unsigned char sync[SYNC_MAX] = {0, 0, 0, 0xff, 0xff};
    const unsigned char *m = unused >= 3 ? sync + 1 : sync;
    size_t mlen = unused >= 3 ? 4 : 5;
    memcpy(s->out + n, m, mlen);
    s->out_len = n + mlen;
}

/* Claim the next filled slot (mu held); false when none is waiting. */
static bool
claim(struct pgz *g, struct slot **s)
{
    if (g->next_claim == g->next_fill)
        return false;
    *s = &g->slots[g->next_claim++ % g->nslots];
    return true;
}

static void
finish(struct pgz *g, struct slot *s)
{
    pthread_mutex_lock(&g->mu);
    s->state = SLOT_DONE;
    pthread_cond_signal(&g->done);
    pthread_mutex_unlock(&g->mu);
}

struct worker_arg {
    struct pgz *g;
    struct engine e;
};

static void *
worker(void *arg)
{
    struct worker_arg *wa = arg;
    struct pgz *g = wa->g;
    for (;;) {
        struct slot *s = NULL;
        pthread_mutex_lock(&g->mu);
        while (!g->quit && !claim(g, &s))
            pthread_cond_wait(&g->work, &g->mu);
        pthread_mutex_unlock(&g->mu);
        if (!s)
            return NULL;
        compress_slot(&wa->e, s, g->out_cap);
        finish(g, s);
    }
}

static void
put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* The main loop: fill free slots, write finished ones in order, else help. */
static int
pump(struct pgz *g, struct engine *mine, struct layer_reader *r, struct blob_writer *w,
     uint32_t *crc, uint64_t *total, struct ib_err **err)
{
    bool eof = false;
    for (;;) {
        while (!eof && g->next_fill - g->next_write < g->nslots) {
            struct slot *s = &g->slots[g->next_fill % g->nslots];
            if (layer_reader_read_full(r, s->in, GZ_CHUNK, &s->in_len, err) < 0)
                return -1;
            eof = s->in_len < GZ_CHUNK;
            if (s->in_len == 0)
                break;
            pthread_mutex_lock(&g->mu);
            s->state = SLOT_FILLED;
            g->next_fill++;
            pthread_cond_signal(&g->work);
            pthread_mutex_unlock(&g->mu);
        }
        pthread_mutex_lock(&g->mu);
        struct slot *s = NULL;
        if (g->next_write < g->next_fill &&
            g->slots[g->next_write % g->nslots].state == SLOT_DONE) {
            s = &g->slots[g->next_write % g->nslots];
            pthread_mutex_unlock(&g->mu);
            if (s->fail)
                return ib_fail(err, IB_E_BUG, "gzip: %s", s->fail);
            if (blob_writer_write(w, s->out, s->out_len, err) < 0)
                return -1;
            *crc = (uint32_t)crc32_combine(*crc, s->crc, (z_off_t)s->in_len);
            *total += s->in_len;
            pthread_mutex_lock(&g->mu);
            s->state = SLOT_FREE;
            g->next_write++;
            pthread_mutex_unlock(&g->mu);
            continue;
        }
        if (eof && g->next_write == g->next_fill) {
            pthread_mutex_unlock(&g->mu);
            return 0;
        }
        if (claim(g, &s)) { /* nothing to read or write: compress */
            pthread_mutex_unlock(&g->mu);
            compress_slot(mine, s, g->out_cap);
            finish(g, s);
            continue;
        }
        if (eof || g->next_fill - g->next_write >= g->nslots)
            pthread_cond_wait(&g->done, &g->mu);
        pthread_mutex_unlock(&g->mu);
    }
}

int
store_gzip_stream(struct layer_reader *r, struct blob_writer *w, unsigned nthreads,
                  struct ib_err **err)
{
    static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    static const unsigned char final_block[2] = {0x03, 0x00};
    if (blob_writer_write(w, hdr, sizeof(hdr), err) < 0)
        return -1;
    if (nthreads < 1)
        nthreads = 1;
    struct pgz g = {0};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.work, NULL);
    pthread_cond_init(&g.done, NULL);
    struct engine mine;
    if (!engine_init(&mine))
        ib_oom();
    g.out_cap = libdeflate_deflate_compress_bound(mine.c, GZ_CHUNK) + SYNC_MAX;
    g.nslots = (size_t)nthreads * SLOTS_PER_THREAD;
    g.slots = ib_xcalloc(g.nslots, sizeof(*g.slots));
    for (size_t i = 0; i < g.nslots; i++) {
        g.slots[i].in = ib_xmalloc(GZ_CHUNK);
        g.slots[i].out = ib_xmalloc(g.out_cap);
    }
    struct worker_arg *wa = ib_xcalloc(nthreads, sizeof(*wa));
    pthread_t *tids = ib_xcalloc(nthreads, sizeof(*tids));
    unsigned started = 0;
    for (unsigned t = 1; t < nthreads; t++) {
        wa[t].g = &g;
        if (!engine_init(&wa[t].e))
            ib_oom();
        if (pthread_create(&tids[t], NULL, worker, &wa[t]) != 0) {
            engine_release(&wa[t].e);
            break;
        }
        started = t;
    }
    uint32_t crc = 0;
    uint64_t total = 0;
    int rc = pump(&g, &mine, r, w, &crc, &total, err);
    pthread_mutex_lock(&g.mu);
    g.quit = true;
    pthread_cond_broadcast(&g.work);
    pthread_mutex_unlock(&g.mu);
    for (unsigned t = 1; t <= started; t++) {
        pthread_join(tids[t], NULL);
        engine_release(&wa[t].e);
    }
    if (rc == 0) {
        unsigned char trailer[2 + 8];
        memcpy(trailer, final_block, 2);
        put_le32(trailer + 2, crc);
        put_le32(trailer + 6, (uint32_t)total);
        rc = blob_writer_write(w, trailer, sizeof(trailer), err);
    }
    engine_release(&mine);
    for (size_t i = 0; i < g.nslots; i++) {
        free(g.slots[i].in);
        free(g.slots[i].out);
    }
    free(g.slots);
    free(wa);
    free(tids);
    pthread_cond_destroy(&g.work);
    pthread_cond_destroy(&g.done);
    pthread_mutex_destroy(&g.mu);
    return rc;
}
