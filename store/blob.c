/* store/blob.c: content-addressed blobs under blobs/sha256/, written through tmp/. */
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

struct blob_writer {
    struct store *st;
    struct digest_ctx *hash;
    char *tmpname;
    int fd;
    uint64_t size;    /* bytes given to the writer */
    uint64_t written; /* bytes in the file (the rest waits in buf) */
    uint64_t flushed; /* bytes whose writeback was started */
    uint64_t durable; /* bytes handed to the flusher (flush_behind) */
    char *buf;
    size_t blen;
};

/* Producers hand over small pieces (curl's 16 KiB, a tar's blocks): they are gathered into
 * one write(2) per BLOB_BUF bytes, which costs far fewer system calls on this kind of VM. */
#define BLOB_BUF (256u << 10)

/* Writeback of a blob is started every WRITEBACK_STEP bytes while it is
 * written, so the disk writes overlap the producer (a pull's downloads, a
 * layer's tar) and the fsync at commit finds little left to do. */
#define WRITEBACK_STEP (2u << 20)

/* Durability behind the writer.  A disk with a volatile write cache (this
 * kind of VM's, most SSDs') makes an fsync pay for a cache flush that grows
 * with what was written since the last one: ~9 ms for 12 MB here, even when
 * the writeback finished long before.  So every FLUSH_STEP bytes of a blob a
 * background thread fdatasyncs it, and the fsync at commit finds little left
 * to flush.  A hint only: the commit's fsync stays the durability point. */
#define FLUSH_STEP (8u << 20)

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;       /* the newest request (a dup of the blob's fd), or -1 */
    bool started; /* the thread runs (in this process: a forked child has none) */
    pid_t pid;    /* the process it runs in */
} flusher = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, -1, false, 0};

static void *
flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&flusher.mu);
    for (;;) {
        while (flusher.fd < 0)
            pthread_cond_wait(&flusher.cv, &flusher.mu);
        int fd = flusher.fd;
        flusher.fd = -1;
        pthread_mutex_unlock(&flusher.mu);
        (void)fdatasync(fd); /* an error shows again at the commit's fsync */
        close(fd);
        pthread_mutex_lock(&flusher.mu);
    }
    return NULL;
}

/* Ask the flusher to fdatasync fd.  A newer request replaces a waiting one:
 * one cache flush covers everything written back before it. */
static void
flush_behind(int fd)
{
    /* trylock: never wait here (and never deadlock in a child forked while the lock
     * was held); a dropped hint costs only time at the commit */
    if (pthread_mutex_trylock(&flusher.mu) != 0)
        return;
    pid_t me = getpid();
    if (flusher.started && flusher.pid != me) { /* a forked child: the thread is not here */
        pthread_mutex_unlock(&flusher.mu);
        return;
    }
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup >= 0 && !flusher.started) {
        pthread_attr_t a;
        pthread_t th;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        flusher.started = pthread_create(&th, &a, flusher_main, NULL) == 0;
        flusher.pid = me;
        pthread_attr_destroy(&a);
        if (!flusher.started) {
            close(dup);
            dup = -1;
        }
    }
    int old = -1;
    if (dup >= 0) {
        old = flusher.fd;
        flusher.fd = dup;
        pthread_cond_signal(&flusher.cv);
    }
    pthread_mutex_unlock(&flusher.mu);
    if (old >= 0)
        close(old);
}

int
store_blob_begin(struct store *st, struct blob_writer **out, struct ib_err **err)
{
    struct blob_writer *w = ib_xcalloc(1, sizeof(*w));
    w->st = st;
    w->tmpname = store_tmp_name(st, "blob");
    w->fd = openat(st->tmpfd, w->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0 || digest_ctx_new(&w->hash, err) < 0) {
        if (w->fd < 0)
            ib_fail_errno(err, "create '%s/tmp/%s'", st->root, w->tmpname);
        store_blob_abort(w);
        return -1;
    }
    *out = w;
    return 0;
}

static int
write_out(struct blob_writer *w, const void *p, size_t n, struct ib_err **err)
{
    if (ib_write_all(w->fd, p, n, "blob", err) < 0)
        return -1;
    w->written += n;
    if (w->written - w->flushed >= WRITEBACK_STEP) {
        /* a hint only: a write error shows at the fsync */
        (void)sync_file_range(w->fd, (off64_t)w->flushed, (off64_t)(w->written - w->flushed),
                              SYNC_FILE_RANGE_WRITE);
        w->flushed = w->written;
        if (w->written - w->durable >= FLUSH_STEP) {
            flush_behind(w->fd);
            w->durable = w->written;
        }
    }
    return 0;
}

static int
drain(struct blob_writer *w, struct ib_err **err)
{
    if (w->blen == 0)
        return 0;
    size_t n = w->blen;
    w->blen = 0;
    return write_out(w, w->buf, n, err);
}

int
blob_writer_write(struct blob_writer *w, const void *p, size_t n, struct ib_err **err)
{
    digest_ctx_update(w->hash, p, n);
    w->size += n;
    if (w->blen + n > BLOB_BUF && drain(w, err) < 0)
        return -1;
    if (n >= BLOB_BUF)
        return write_out(w, p, n, err);
    if (!w->buf)
        w->buf = ib_xmalloc(BLOB_BUF);
    memcpy(w->buf + w->blen, p, n);
    w->blen += n;
    return 0;
}

void
store_blob_abort(struct blob_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        unlinkat(w->st->tmpfd, w->tmpname, 0);
    }
    digest_ctx_free(w->hash);
    free(w->tmpname);
    free(w->buf);
    free(w);
}

int
store_blob_commit(struct blob_writer *w, const struct digest *expected, struct digest *out,
                  uint64_t *size, struct ib_err **err)
{
    return blob_commit_ex(w, expected, out, size, NULL, err);
}

int
blob_commit_ex(struct blob_writer *w, const struct digest *expected, struct digest *out,
               uint64_t *size, bool *existed, struct ib_err **err)
{
    struct digest d;
    digest_ctx_final(w->hash, &d);
    if (drain(w, err) < 0) {
        store_blob_abort(w);
        return -1;
    }
    if (expected && digest_is_set(expected) && !digest_eq(expected, &d)) {
        ib_fail(err, IB_E_STORE, "digest mismatch: expected '%s', got '%s'", expected->s, d.s);
        store_blob_abort(w);
        return -1;
    }
    struct store *st = w->st;
    int batch = store_batch_want(st, err);
    if (batch < 0) {
        store_blob_abort(w);
        return -1;
    }
    bool had = store_blob_exists(st, &d);
    if (existed)
        *existed = had;
    /* Outside a batch every blob is fsynced; in a batch only a big one (STORE_BATCH_BIG) */
    bool synced = !batch || (!had && w->size >= STORE_BATCH_BIG);
    if (synced && fsync(w->fd) < 0) {
        ib_fail_errno(err, "fsync blob");
        store_blob_abort(w);
        return -1;
    }
    int rc = 0;
    if (batch && had) {
        /* keep the stored file: it may be durable, this copy is not (and it may be
         * another batch's, not yet synced: this batch's sync covers it too) */
        store_batch_note_file(st, st->blobsfd, digest_hex(&d));
    } else if (renameat(st->tmpfd, w->tmpname, st->blobsfd, digest_hex(&d)) < 0) {
        ib_fail_errno(err, "store blob '%s'", d.s);
        store_blob_abort(w);
        return -1;
    } else {
        close(w->fd);
        w->fd = -1;
        if (batch) /* a synced one needs only its directory synced */
            store_batch_note_file(st, st->blobsfd, synced ? NULL : digest_hex(&d));
        else
            rc = ib_fsync_dir(st->blobsfd, "blobs/sha256", err);
    }
    if (out)
        *out = d;
    if (size)
        *size = w->size;
    store_blob_abort(w);
    return rc;
}

int
store_blob_put_fd(struct store *st, int fd, const struct digest *expected, struct digest *out,
                  uint64_t *size, struct ib_err **err)
{
    struct blob_writer *w = NULL;
    if (store_blob_begin(st, &w, err) < 0)
        return -1;
    AUTO_FREE char *buf = ib_xmalloc(STORE_IO_CHUNK);
    for (;;) {
        ssize_t n = read(fd, buf, STORE_IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ib_fail_errno(err, "read");
            store_blob_abort(w);
            return -1;
        }
        if (n == 0)
            break;
        if (blob_writer_write(w, buf, (size_t)n, err) < 0) {
            store_blob_abort(w);
            return -1;
        }
    }
    return store_blob_commit(w, expected, out, size, err);
}

int
store_blob_put_buf(struct store *st, const void *p, size_t n, struct digest *out,
                   struct ib_err **err)
{
    struct digest d;
    digest_buf(p, n, &d);
    if (store_blob_exists(st, &d)) {
        *out = d;
        return 0;
    }
    struct blob_writer *w = NULL;
    if (store_blob_begin(st, &w, err) < 0)
        return -1;
    if (blob_writer_write(w, p, n, err) < 0) {
        store_blob_abort(w);
        return -1;
    }
    return store_blob_commit(w, &d, out, NULL, err);
}

int
store_put_json(struct store *st, const struct ib_buf *b, struct digest *out, struct ib_err **err)
{
    return store_blob_put_buf(st, b->s, b->len, out, err);
}

bool
store_blob_exists(struct store *st, const struct digest *d)
{
    struct stat sb;
    return digest_is_set(d) && fstatat(st->blobsfd, digest_hex(d), &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(sb.st_mode);
}

int
store_blob_open(struct store *st, const struct digest *d, int *fd, uint64_t *size,
                struct ib_err **err)
{
    int f = openat(st->blobsfd, digest_hex(d), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0) {
        int e = errno;
        if (e == ENOENT)
            return store_fail_missing(err, "blob '%s' is not in the store", d->s);
        return ib_fail_sys(err, e, "open blob '%s'", d->s);
    }
    if (size) {
        struct stat sb;
        if (fstat(f, &sb) < 0) {
            close(f);
            return ib_fail_errno(err, "stat blob '%s'", d->s);
        }
        *size = (uint64_t)sb.st_size;
    }
    *fd = f;
    return 0;
}

int
store_blob_read(struct store *st, const struct digest *d, size_t limit, struct ib_buf *b,
                struct ib_err **err)
{
    AUTO_FD int fd = -1;
    if (store_blob_open(st, d, &fd, NULL, err) < 0)
        return -1;
    size_t old = b->limit;
    ib_buf_set_limit(b, limit);
    int rc = ib_read_fd(fd, b, d->s, err);
    ib_buf_set_limit(b, old);
    return rc;
}

char *
store_blob_path(struct store *st, const struct digest *d)
{
    return ib_xasprintf("%s/blobs/sha256/%s", st->root, digest_hex(d));
}
