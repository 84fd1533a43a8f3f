/* store/batch.c: write batches, so that a build or a pull pays one sync at its end
 * instead of several fsyncs per blob, snapshot and layer.
 *
 * Between store_batch_begin and store_batch_end, blob commits (but those of big blobs,
 * see blob.c), snapshot creation and marks, layer commits and cache entries skip fsync:
 * their data still goes to a temp name and is renamed into place, so a crash of the
 * process alone loses nothing (the kernel keeps the page cache), but a crash of the
 * machine may leave empty or torn files under their final names.  The batch's journal
 * says so:
 *
 *   batches/batch-<pid>-<n>   "imgbuild-batch 1\nboot <boot id>\nstart <sec>.<nsec>\n"
 *
 * The journal is written in tmp/, fsynced, flock()ed and renamed into batches/ (then
 * batches/ is fsynced) before the batch's first write becomes visible (store_batch_want):
 * the one durable write a batch costs up front.  A batch that writes nothing (a warm
 * build) costs no journal and no sync.  The owner holds the flock until the batch
 * ends, so a journal whose flock can be taken belongs to a dead process; store_open
 * recovers those (recover.c).  A batch is per struct store and may be nested: an inner
 * store_batch_end syncs what was written (so that its caller may then write a tag) but
 * leaves the journal to the outermost one.
 *
 * What the end syncs: each blob and cache file the batch wrote or relied on, one by one
 * (writeback of all of them is started first, so that one journal commit covers most),
 * then their directories.  Not the snapshots: they are unpacked copies of layer blobs,
 * or a step's upper dir whose layer blob was just made from it, and a COPY of 200 MB
 * would otherwise write 400 MB to disk before the build may return.  So a batch that
 * made snapshots ends by renaming its journal to volatile-<pid>-<n>: its snapshots are
 * good while this boot lasts.  store_open removes the snapshots (and cache entries) such
 * a record covers after a reboot (they are made again from their blobs when needed),
 * and, in the same boot, syncs the store once the record is older than the kernel's
 * writeback delay and drops it (recover.c).  syncfs would also have waited for every
 * other writer on the filesystem.
 *
 * Tags (index.json) stay fully durable and must name only durable data: callers end
 * their batch first, and store_batch_settle (called by store_tag) syncs again when this
 * store or another process's open batch wrote since the last sync.
 */
#include "store/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

char *
store_boot_id(void)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    AUTO_ERR struct ib_err *e = NULL;
    ib_buf_set_limit(&b, 128);
    if (ib_read_file("/proc/sys/kernel/random/boot_id", &b, &e) < 0)
        return ib_xstrdup("");
    return ib_xstrndup(b.s, strcspn(b.s, " \t\r\n"));
}

static int journal_create(struct store *st, struct ib_err **err);

int
store_batch_want(struct store *st, struct ib_err **err)
{
    if (__atomic_load_n(&st->batch_depth, __ATOMIC_ACQUIRE) == 0)
        return 0;
    if (__atomic_load_n(&st->batch_ready, __ATOMIC_ACQUIRE))
        return 1;
    pthread_mutex_lock(&st->batch_mu);
    int rc = 1;
    if (st->batch_depth == 0)
        rc = 0; /* ended meanwhile (a caller's bug): write durably */
    else if (st->batch_fd < 0 && journal_create(st, err) < 0)
        rc = -1;
    else
        __atomic_store_n(&st->batch_ready, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&st->batch_mu);
    return rc;
}

void
store_batch_note(struct store *st)
{
    __atomic_fetch_add(&st->batch_writes, 1, __ATOMIC_RELEASE);
}

struct store_unsynced {
    int dirfd; /* one of the store's own directory fds */
    char *name;
};

void
store_batch_note_file(struct store *st, int dirfd, const char *name)
{
    pthread_mutex_lock(&st->batch_mu);
    if (st->nunsynced == st->unsynced_cap) {
        st->unsynced_cap = st->unsynced_cap ? 2 * st->unsynced_cap : 32;
        st->unsynced = ib_xreallocarray(st->unsynced, st->unsynced_cap, sizeof(*st->unsynced));
    }
    st->unsynced[st->nunsynced].dirfd = dirfd;
    st->unsynced[st->nunsynced++].name = name ? ib_xstrdup(name) : NULL;
    pthread_mutex_unlock(&st->batch_mu);
    store_batch_note(st);
}

void
store_batch_note_snapshot(struct store *st)
{
    __atomic_store_n(&st->batch_volatile, true, __ATOMIC_RELEASE);
    store_batch_note(st);
}

void
store_sync_fds_init(struct store *st)
{
    int fds[] = {st->rootfd, st->blobsfd, st->tmpfd, st->snapfd, st->cachefd};
    dev_t devs[sizeof(fds) / sizeof(fds[0])];
    st->nsync_fds = 0;
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        struct stat sb;
        if (fds[i] < 0 || fstat(fds[i], &sb) < 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < st->nsync_fds && !seen; k++)
            seen = devs[k] == sb.st_dev;
        if (!seen) {
            devs[st->nsync_fds] = sb.st_dev;
            st->sync_fds[st->nsync_fds++] = fds[i];
        }
    }
}

int
store_sync(struct store *st, struct ib_err **err)
{
    uint64_t writes = __atomic_load_n(&st->batch_writes, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < st->nsync_fds; i++)
        if (syncfs(st->sync_fds[i]) < 0)
            return ib_fail_errno(err, "sync store '%s'", st->root);
    __atomic_store_n(&st->batch_synced, writes, __ATOMIC_RELEASE);
    return 0;
}

/* How many files sync_unsynced keeps open at once. */
#define SYNC_GROUP 64

/* fsync what the batch noted (store_batch_note_file), then the directories they are in.
 * Caller holds batch_mu. */
static int
sync_unsynced(struct store *st, struct ib_err **err)
{
    uint64_t writes = __atomic_load_n(&st->batch_writes, __ATOMIC_ACQUIRE);
    struct store_unsynced *files = st->unsynced;
    size_t n = st->nunsynced;
    st->unsynced = NULL;
    st->nunsynced = st->unsynced_cap = 0;
    int dirs[2] = {-1, -1};
    int rc = 0;
    for (size_t g = 0; g < n && rc == 0; g += SYNC_GROUP) {
        int fds[SYNC_GROUP];
        size_t m = n - g < SYNC_GROUP ? n - g : SYNC_GROUP;
        /* start every file's writeback first: then the first fsync's journal commit
         * covers the block allocations of all of them */
        for (size_t i = 0; i < m; i++) {
            const char *name = files[g + i].name; /* NULL: its directory only */
            fds[i] =
                name ? openat(files[g + i].dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
            if (fds[i] >= 0)
                (void)sync_file_range(fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
            else if (name && errno != ENOENT) /* gone: replaced by a durable copy, or collected */
                rc = ib_fail_errno(err, "open '%s' to sync it", files[g + i].name);
        }
        for (size_t i = 0; i < m; i++) {
            if (fds[i] < 0)
                continue;
            if (rc == 0 && fsync(fds[i]) < 0)
                rc = ib_fail_errno(err, "sync '%s'", files[g + i].name);
            close(fds[i]);
        }
        for (size_t i = 0; i < m; i++) {
            int d = files[g + i].dirfd;
            if (dirs[0] != d && dirs[1] != d)
                dirs[dirs[0] < 0 ? 0 : 1] = d;
        }
    }
    for (size_t i = 0; i < 2 && rc == 0; i++)
        if (dirs[i] >= 0)
            rc = ib_fsync_dir(dirs[i], "store", err);
    for (size_t i = 0; i < n; i++)
        free(files[i].name);
    free(files);
    if (rc == 0)
        __atomic_store_n(&st->batch_synced, writes, __ATOMIC_RELEASE);
    return rc;
}

int
store_write_file(struct store *st, int dirfd, const char *name, const void *data, size_t len,
                 struct ib_err **err)
{
    int batch = store_batch_want(st, err);
    if (batch < 0)
        return -1;
    if (!batch)
        return ib_write_atomic(dirfd, name, data, len, 0644, err);
    if (ib_write_replace(dirfd, name, data, len, 0644, err) < 0)
        return -1;
    if (dirfd == st->snapfd) /* a snapshot's mark: as volatile as the snapshot */
        store_batch_note_snapshot(st);
    else
        store_batch_note_file(st, dirfd, name);
    return 0;
}

/* Is there a journal in batches/ other than this store's own? */
static bool
other_batches(struct store *st)
{
    if (st->batchesfd < 0)
        return false;
    int fd = dup(st->batchesfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return true; /* cannot tell: assume there are */
    }
    rewinddir(d);
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL)
        found = strncmp(de->d_name, "batch-", 6) == 0 &&
                !(st->batch_name && strcmp(de->d_name, st->batch_name) == 0);
    closedir(d);
    return found;
}

/* Has this store written (or relied on) anything without fsync since the last sync? */
static bool
dirty(struct store *st)
{
    return __atomic_load_n(&st->batch_writes, __ATOMIC_ACQUIRE) !=
           __atomic_load_n(&st->batch_synced, __ATOMIC_ACQUIRE);
}

int
store_batch_settle(struct store *st, struct ib_err **err)
{
    if (dirty(st)) {
        pthread_mutex_lock(&st->batch_mu);
        int rc = sync_unsynced(st, err);
        pthread_mutex_unlock(&st->batch_mu);
        return rc;
    }
    pthread_mutex_lock(&st->batch_mu); /* batchesfd and batch_name */
    bool others = other_batches(st);
    pthread_mutex_unlock(&st->batch_mu);
    return others ? store_sync(st, err) : 0;
}

/* Write, fsync and lock the journal in tmp/, then rename it into batches/. */
static int
journal_create(struct store *st, struct ib_err **err)
{
    if (st->batchesfd < 0) {
        if (mkdirat(st->rootfd, "batches", 0755) < 0 && errno != EEXIST)
            return ib_fail_errno(err, "create '%s/batches'", st->root);
        st->batchesfd =
            openat(st->rootfd, "batches", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (st->batchesfd < 0)
            return ib_fail_errno(err, "open '%s/batches'", st->root);
    }
    AUTO_FREE char *boot = store_boot_id();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    AUTO_FREE char *text = ib_xasprintf("imgbuild-batch 1\nboot %s\nstart %lld.%09ld\n", boot,
                                        (long long)now.tv_sec, now.tv_nsec);
    /* unique in the process even with several struct store open on one root */
    static unsigned journals;
    unsigned n = __atomic_fetch_add(&journals, 1, __ATOMIC_RELAXED);
    AUTO_FREE char *tmp = ib_xasprintf("%ld-batch%u", (long)getpid(), n);
    AUTO_FREE char *name = ib_xasprintf("batch-%ld-%u", (long)getpid(), n);
    AUTO_FD int fd = openat(st->tmpfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return ib_fail_errno(err, "create '%s/tmp/%s'", st->root, tmp);
    int rc = 0;
    if (flock(fd, LOCK_EX) < 0)
        rc = ib_fail_errno(err, "lock batch journal");
    else if (ib_write_all(fd, text, strlen(text), "batch journal", err) < 0)
        rc = -1;
    else if (fsync(fd) < 0)
        rc = ib_fail_errno(err, "fsync batch journal");
    else if (renameat(st->tmpfd, tmp, st->batchesfd, name) < 0)
        rc = ib_fail_errno(err, "create '%s/batches/%s'", st->root, name);
    if (rc < 0) {
        unlinkat(st->tmpfd, tmp, 0);
        return -1;
    }
    if (ib_fsync_dir(st->batchesfd, "batches", err) < 0) {
        unlinkat(st->batchesfd, name, 0);
        return -1;
    }
    st->batch_fd = ib_steal_fd(&fd);
    st->batch_name = ib_steal(&name);
    return 0;
}

int
store_batch_begin(struct store *st, struct ib_err **err)
{
    (void)err; /* the journal is made by the first write (store_batch_want) */
    pthread_mutex_lock(&st->batch_mu);
    __atomic_add_fetch(&st->batch_depth, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&st->batch_mu);
    return 0;
}

int
store_batch_end(struct store *st, struct ib_err **err)
{
    pthread_mutex_lock(&st->batch_mu);
    if (st->batch_depth == 0) {
        pthread_mutex_unlock(&st->batch_mu);
        return ib_fail(err, IB_E_BUG, "store_batch_end without store_batch_begin");
    }
    /* nothing written since the last sync (a warm build, a pull of stored blobs): no sync */
    int rc = dirty(st) ? sync_unsynced(st, err) : 0;
    if (__atomic_sub_fetch(&st->batch_depth, 1, __ATOMIC_RELEASE) == 0 && st->batch_fd >= 0) {
        /* after a failed sync the journal stays: the next store_open recovers it.  The
         * unlink or rename itself need not be durable: a journal that comes back after a
         * crash only makes that recovery redo work. */
        if (rc == 0 && __atomic_load_n(&st->batch_volatile, __ATOMIC_ACQUIRE)) {
            AUTO_FREE char *vname =
                ib_xasprintf("%s%s", STORE_VOLATILE_PREFIX, st->batch_name + strlen("batch-"));
            if (renameat(st->batchesfd, st->batch_name, st->batchesfd, vname) < 0)
                rc = ib_fail_errno(err, "rename '%s/batches/%s'", st->root, st->batch_name);
        } else if (rc == 0 && unlinkat(st->batchesfd, st->batch_name, 0) < 0) {
            rc = ib_fail_errno(err, "remove '%s/batches/%s'", st->root, st->batch_name);
        }
        __atomic_store_n(&st->batch_volatile, false, __ATOMIC_RELEASE);
        __atomic_store_n(&st->batch_ready, false, __ATOMIC_RELEASE);
        close(st->batch_fd);
        st->batch_fd = -1;
        free(st->batch_name);
        st->batch_name = NULL;
    }
    pthread_mutex_unlock(&st->batch_mu);
    return rc;
}

void
store_batch_close(struct store *st)
{
    while (st->batch_depth > 0) { /* each call ends one level, even when it fails */
        AUTO_ERR struct ib_err *e = NULL;
        store_batch_end(st, &e);
    }
    for (size_t i = 0; i < st->nunsynced; i++) /* left by a failed sync */
        free(st->unsynced[i].name);
    free(st->unsynced);
    st->unsynced = NULL;
    st->nunsynced = st->unsynced_cap = 0;
}
