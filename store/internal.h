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
    int batchesfd;    /* batches/ (journals of open write batches), or -1 */
    unsigned counter; /* atomic: tmp names may be made from several threads */
    bool exclusive;
    /* ChainIDs whose snapshot this process found complete (a tsearch tree of strings):
     * under a shared lock no one removes snapshots, so a build's every step need not
     * check all its layers again (snapshot.c) */
    void *snaps_known;
    pthread_mutex_t snaps_lock;
    /* write batches (batch.c): depth and the write counters are atomic (writers on other
     * threads read them); begin and end take batch_mu */
    pthread_mutex_t batch_mu;
    unsigned batch_depth;  /* open store_batch_begin calls */
    bool batch_ready;      /* the journal exists (made by the batch's first write) */
    int batch_fd;          /* the journal, flock()ed while the batch is open; -1 */
    char *batch_name;      /* its name in batches/ */
    uint64_t batch_writes; /* writes made without fsync in this store's batches */
    uint64_t batch_synced; /* batch_writes when the last store_sync started */
    /* Files written (or relied on) without fsync in this store's batches since the last
     * sync, but for snapshots: the batch's end fsyncs exactly these (batch_mu). */
    struct store_unsynced *unsynced;
    size_t nunsynced, unsynced_cap;
    bool batch_volatile; /* the open batch made snapshots, which are never synced */
    int sync_fds[5];     /* one fd per distinct filesystem of the store */
    size_t nsync_fds;
};

#define STORE_IO_CHUNK (1u << 20)
#define STORE_JSON_LIMIT (16u << 20) /* manifests, configs, index.json */

/* A fresh name for tmp/: "<pid>-<n>-<what>"; caller frees. */
char *store_tmp_name(struct store *st, const char *what);
/* A fresh name for temp dirs in the snapshots dir: "tmp-<pid>-<n>-<what>"; caller frees. */
char *store_snap_tmp_name(struct store *st, const char *what);

/* ---- write batches (batch.c, recover.c) ---- */

/* Called before a write that would be fsynced: 1 when a write batch is open (its
 * journal is then durable and the write skips fsync, still going through a temp name
 * and a rename, and calls store_batch_note after its rename), 0 when not (write
 * durably), -1 when the journal could not be made. */
int store_batch_want(struct store *st, struct ib_err **err);
/* Count one write made without fsync (or one existing file relied on) in a batch. */
void store_batch_note(struct store *st);
/* Count one file name in dirfd (blobsfd or cachefd) written or relied on without fsync in
 * a batch: the batch's end fsyncs it.  name NULL: a file whose data was fsynced already
 * but whose rename into dirfd was not: the batch's end fsyncs only dirfd. */
void store_batch_note_file(struct store *st, int dirfd, const char *name);
/* Count one snapshot made in a batch.  Its data is never synced (see batch.c). */
void store_batch_note_snapshot(struct store *st);
/* syncfs every filesystem of the store (root and snapshots dir: each distinct one once). */
int store_sync(struct store *st, struct ib_err **err);
/* Before a write that names blobs durably (index.json): sync if this store's batch or
 * another process's open batch may have written what it names without fsync. */
int store_batch_settle(struct store *st, struct ib_err **err);
/* Write a small file atomically: durable (ib_write_atomic), or, in a batch, without
 * fsync (ib_write_replace) and counted. */
int store_write_file(struct store *st, int dirfd, const char *name, const void *data, size_t len,
                     struct ib_err **err);
/* Fill sync_fds from the open directory fds (store_open). */
void store_sync_fds_init(struct store *st);
/* The store_close part: end a batch left open (errors dropped: the journal then stays and
 * the next store_open recovers it). */
void store_batch_close(struct store *st);

/* Recover the journals in batches/ left by dead processes (store_open).  boot_id is the
 * current boot's; a journal of the same boot only needs a sync; one of another boot (the
 * machine went down mid-batch) is handled only when alone (no other process has the store
 * open): every blob changed since its start time minus slack_ns is re-hashed (removed when
 * it does not match its name), snapshots and cache entries changed since then are
 * removed.  Volatile records (batch.c) of another boot: their snapshots are removed; of this boot:
 * kept until settle_ns old, then synced and dropped. Separate from store_open so that tests can
 * pass another boot id and times. */
int store_batch_recover(struct store *st, const char *boot_id, int64_t slack_ns, int64_t settle_ns,
                        bool alone, struct ib_err **err);
/* The current boot id (/proc/sys/kernel/random/boot_id), "" when unknown; caller frees. */
char *store_boot_id(void);
/* In a batch, a blob this big is synced where it is written all the same: its data has
 * to reach the disk anyway, and its journal commit is then off the batch end's critical
 * path (a pull commits layers on worker threads). */
#define STORE_BATCH_BIG (4u << 20)
/* batches/volatile-<pid>-<n>: a finished batch that made snapshots (batch.c) */
#define STORE_VOLATILE_PREFIX "volatile-"
/* A volatile record this old (since the batch ended) gets the store synced and goes: the
 * kernel writes dirty data back after 30 s by default (vm.dirty_expire_centisecs). */
#define STORE_VOLATILE_SETTLE_NS (60LL * 1000000000LL)
/* Slack under a journal's start time: clock steps and coarse file timestamps. */
#define STORE_BATCH_SLACK_NS (10LL * 1000000000LL)
/* ---- */

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
