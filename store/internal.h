/* store/internal.h: what the files of store/ share (not for other modules). */
#ifndef IMGBUILD_STORE_INTERNAL_H
#define IMGBUILD_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "store/store.h"

struct store {
    char *root;
    char *snaproot; /* "<root>.snapshots", the target of <root>/snapshots */
    int rootfd;
    int lockfd;  /* "lock": shared for users, exclusive for GC */
    int blobsfd; /* blobs/sha256 */
    int tmpfd;
    int snapfd;
    int cachefd;
    unsigned counter; /* atomic: tmp names may be made from several threads */
    bool exclusive;
    /* ChainIDs whose snapshot this process found complete (a tsearch tree of strings):
     * under a shared lock no one removes snapshots, so a build's every step need not
     * check all its layers again (snapshot.c) */
    void *snaps_known;
    pthread_mutex_t snaps_lock;
};

#define STORE_IO_CHUNK (1u << 20)
#define STORE_JSON_LIMIT (16u << 20) /* manifests, configs, index.json */

/* A fresh name for tmp/: "<pid>-<n>-<what>"; caller frees. */
char *store_tmp_name(struct store *st, const char *what);
/* A fresh name for temp dirs in the snapshots dir: "tmp-<pid>-<n>-<what>"; caller frees. */
char *store_snap_tmp_name(struct store *st, const char *what);
/* Take / drop the index lock ("index.lock", exclusive) around index.json updates. */
int store_index_lock(struct store *st, int *fd, struct ib_err **err);
/* Error adapter for libarchive; a is a struct archive *. */
int store_archive_fail(void *a, const char *what, struct ib_err **err);
/* Unpack layer blob into a new snapshot for chain_id (tmp/ then rename). */
int store_snapshot_create(struct store *st, const struct digest *chain_id,
                          const struct store_layer *layer, struct ib_err **err);
/* Record chain_id for the snapshot dir named name (the "<name>.chain" file). */
int store_snapshot_mark(struct store *st, const struct digest *chain_id, struct ib_err **err);
/* Has the snapshot of chain_id been completed? */
bool store_snapshot_exists(struct store *st, const struct digest *chain_id);
/* Fail with IB_E_STORE and sys ENOENT ("not found" errors callers may recover from). */
int store_fail_missing(struct ib_err **err, const char *fmt, ...) IB_PRINTF(2, 3);
/* Detect compression from the first bytes of a stream. */
enum store_compression store_sniff_compression(const unsigned char *p, size_t n);
/* store_blob_commit that also says whether the blob was already stored. */
int blob_commit_ex(struct blob_writer *w, const struct digest *expected, struct digest *out,
                   uint64_t *size, bool *existed, struct ib_err **err);
/* Write the (canonical, compact) JSON in b as a blob. */
int store_put_json(struct store *st, const struct ib_buf *b, struct digest *out,
                   struct ib_err **err);

/* Reading a layer stream (gzip, zstd or plain, detected from its first bytes)
 * as uncompressed tar bytes, hashing the stored bytes and the tar (codec.c). */
struct layer_reader;
int layer_reader_new(int fd, struct layer_reader **out, struct ib_err **err);
/* *got == 0 means the end of the stream. */
int layer_reader_read(struct layer_reader *r, void *buf, size_t cap, size_t *got,
                      struct ib_err **err);
/* Read until buf is full or the layer ends (*got < cap only at the end). */
int layer_reader_read_full(struct layer_reader *r, void *buf, size_t cap, size_t *got,
                           struct ib_err **err);
enum store_compression layer_reader_compression(const struct layer_reader *r);
/* Read to the very end and give both digests (either may be NULL). */
int layer_reader_finish(struct layer_reader *r, struct digest *raw, struct digest *uncompressed,
                        uint64_t *raw_size, struct ib_err **err);
void layer_reader_free(struct layer_reader *r);

/* Write all of r as one gzip stream (header, deflate, trailer) to w, with
 * nthreads threads (the caller's included); the bytes do not depend on
 * nthreads (pgzip.c). */
int store_gzip_stream(struct layer_reader *r, struct blob_writer *w, unsigned nthreads,
                      struct ib_err **err);

#endif
