/* store/store.c: opening the store, its lock, tmp/ and the layout files. */
#include "store/internal.h"

#include <dirent.h>
#include <errno.h>
#include <search.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
static const char empty_index[] = "{\"schemaVersion\":2,\"mediaType\":"
                                  "\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}";

char *
store_default_root(void)
{
    const char *env = getenv("IMGBUILD_ROOT");
    if (env && *env)
        return ib_xstrdup(env);
    if (geteuid() == 0)
        return ib_xstrdup("/var/lib/imgbuild");
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg)
        return ib_xasprintf("%s/imgbuild", xdg);
    const char *home = getenv("HOME");
    return ib_xasprintf("%s/.local/share/imgbuild", home && *home ? home : ".");
}

static int
open_dir(int at, const char *name, bool create, int *out, struct ib_err **err)
{
    if (create && mkdirat(at, name, 0755) < 0 && errno != EEXIST)
        return ib_fail_errno(err, "create store directory '%s'", name);
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ib_fail_errno(err, "open store directory '%s'", name);
    *out = fd;
    return 0;
}

/* <root>.snapshots, and the <root>/snapshots symlink to it (see snapshot.c) */
static int
open_snapshots(struct store *st, bool create, struct ib_err **err)
{
    if (open_dir(AT_FDCWD, st->snaproot, create, &st->snapfd, err) < 0)
        return -1;
    /* Every entry is an independent tree (a snapshot, a step's upper dir): spread them
     * over the disk.  A COPY of 2000 small files into an upper dir took 0.5-0.9 s of
     * ext4 inode allocation next to recently emptied directories here, 0.1-0.15 s spread. */
    if (create)
        (void)ib_fs_spread_subdirs(st->snapfd);
    const char *base = strrchr(st->snaproot, '/');
    AUTO_FREE char *target = ib_xasprintf("../%s", base ? base + 1 : st->snaproot);
    if (create && symlinkat(target, st->rootfd, "snapshots") < 0 && errno != EEXIST)
        return ib_fail_errno(err, "create '%s/snapshots'", st->root);
    return 0;
}

static bool
file_exists(int at, const char *name)
{
    struct stat st;
    return fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Remove tmp/ entries whose owner (the pid in the name) is gone, or all of them
 * when everyone_gone (we hold the lock exclusively). */
static int
clean_tmp(struct store *st, int tmpfd, const char *prefix, bool everyone_gone, struct ib_err **err)
{
    int fd = dup(tmpfd);
    if (fd < 0)
        return ib_fail_errno(err, "dup");
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return ib_fail_errno(err, "open temp dir of '%s'", st->root);
    }
    rewinddir(d);
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t pl = strlen(prefix);
        if (strncmp(de->d_name, prefix, pl) != 0)
            continue;
        char *end = NULL;
        long pid = strtol(de->d_name + pl, &end, 10);
        bool stale = everyone_gone || !end || *end != '-' || pid <= 0 ||
                     (kill((pid_t)pid, 0) < 0 && errno == ESRCH);
        if (!stale || pid == (long)getpid())
            continue;
        if (ib_rm_rf_at(tmpfd, de->d_name, err) < 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

void
store_close(struct store *st)
{
    if (!st)
        return;
    store_batch_close(st);
    int fds[] = {st->rootfd, st->lockfd,  st->blobsfd,  st->tmpfd,
                 st->snapfd, st->cachefd, st->batchesfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]); /* closing lockfd drops the flock */
    tdestroy(st->snaps_known, free);
    pthread_mutex_destroy(&st->snaps_lock);
    pthread_mutex_destroy(&st->batch_mu);
    free(st->root);
    free(st->snaproot);
    free(st);
}

IB_DEFINE_AUTO(struct store, store_close)

static int
init_layout(struct store *st, struct ib_err **err)
{
    if (!file_exists(st->rootfd, "oci-layout") &&
        ib_write_atomic(st->rootfd, "oci-layout", oci_layout, strlen(oci_layout), 0644, err) < 0)
        return -1;
    if (!file_exists(st->rootfd, "index.json")) {
        AUTO_FD int lfd = -1;
        if (store_index_lock(st, &lfd, err) < 0)
            return -1;
        if (!file_exists(st->rootfd, "index.json") &&
            ib_write_atomic(st->rootfd, "index.json", empty_index, strlen(empty_index), 0644, err) <
                0)
            return -1;
    }
    return 0;
}

int
store_open(const char *root, unsigned flags, struct store **out, struct ib_err **err)
{
    IB_AUTO(store_close) struct store *st = ib_xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->snaps_lock, NULL);
    st->rootfd = st->lockfd = st->blobsfd = st->tmpfd = st->snapfd = st->cachefd = -1;
    st->batchesfd = st->batch_fd = -1;
    pthread_mutex_init(&st->batch_mu, NULL);
    st->root = root && *root ? ib_xstrdup(root) : store_default_root();
    for (size_t n = strlen(st->root); n > 1 && st->root[n - 1] == '/'; n--)
        st->root[n - 1] = '\0';
    st->snaproot = ib_xasprintf("%s.snapshots", st->root);
    bool create = !(flags & STORE_READONLY);
    if (create && ib_mkdir_p(AT_FDCWD, st->root, 0755, err) < 0)
        return ib_err_prefix(err, "store '%s'", st->root);
    if (open_dir(AT_FDCWD, st->root, false, &st->rootfd, err) < 0)
        return -1;
    st->lockfd = openat(st->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (st->lockfd < 0)
        return ib_fail_errno(err, "open '%s/lock'", st->root);
    bool alone = flock(st->lockfd, LOCK_EX | LOCK_NB) == 0;
    if (!alone) {
        int op = (flags & STORE_EXCLUSIVE) ? LOCK_EX : LOCK_SH;
        while (flock(st->lockfd, op) < 0)
            if (errno != EINTR)
                return ib_fail_errno(err, "lock '%s/lock'", st->root);
    }
    st->exclusive = (flags & STORE_EXCLUSIVE) != 0;
    int blobs = -1;
    if (open_dir(st->rootfd, "blobs", create, &blobs, err) < 0)
        return -1;
    int rc = open_dir(blobs, "sha256", create, &st->blobsfd, err);
    close(blobs);
    if (rc < 0 || open_dir(st->rootfd, "tmp", create, &st->tmpfd, err) < 0 ||
        open_snapshots(st, create, err) < 0 ||
        open_dir(st->rootfd, "cache", create, &st->cachefd, err) < 0)
        return -1;
    store_sync_fds_init(st);
    if (create && init_layout(st, err) < 0)
        return -1;
    /* journals of batches whose process died (batches/ is made by the first batch) */
    st->batchesfd = openat(st->rootfd, "batches", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    AUTO_FREE char *boot = store_boot_id();
    if (store_batch_recover(st, boot, STORE_BATCH_SLACK_NS, STORE_VOLATILE_SETTLE_NS,
                            alone || st->exclusive, err) < 0)
        return -1;
    /* alone (or exclusive): nobody else can own anything in tmp/ */
    if (clean_tmp(st, st->tmpfd, "", alone || st->exclusive, err) < 0 ||
        clean_tmp(st, st->snapfd, "tmp-", alone || st->exclusive, err) < 0 ||
        clean_tmp(st, st->snapfd, ".tmp-", alone || st->exclusive, err) < 0 ||
        clean_tmp(st, st->rootfd, ".tmp-", alone || st->exclusive, err) < 0)
        return -1;
    if (alone && !st->exclusive) {
        while (flock(st->lockfd, LOCK_SH) < 0)
            if (errno != EINTR)
                return ib_fail_errno(err, "lock '%s/lock'", st->root);
    }
    *out = ib_steal(&st);
    return 0;
}

const char *
store_root(const struct store *st)
{
    return st->root;
}

char *
store_tmp_name(struct store *st, const char *what)
{
    return ib_xasprintf("%ld-%u-%s", (long)getpid(),
                        __atomic_fetch_add(&st->counter, 1, __ATOMIC_RELAXED), what);
}

char *
store_snap_tmp_name(struct store *st, const char *what)
{
    return ib_xasprintf("tmp-%ld-%u-%s", (long)getpid(),
                        __atomic_fetch_add(&st->counter, 1, __ATOMIC_RELAXED), what);
}

int
store_tmp_mkdir(struct store *st, const char *what, char **path, struct ib_err **err)
{
    AUTO_FREE char *name = store_snap_tmp_name(st, what);
    if (mkdirat(st->snapfd, name, 0755) < 0)
        return ib_fail_errno(err, "create '%s/%s'", st->snaproot, name);
    *path = ib_xasprintf("%s/%s", st->snaproot, name);
    return 0;
}

int
store_index_lock(struct store *st, int *fd, struct ib_err **err)
{
    int lfd = openat(st->rootfd, "index.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (lfd < 0)
        return ib_fail_errno(err, "open '%s/index.lock'", st->root);
    while (flock(lfd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            ib_fail_errno(err, "lock '%s/index.lock'", st->root);
            close(lfd);
            return -1;
        }
    }
    *fd = lfd;
    return 0;
}

enum store_compression
store_sniff_compression(const unsigned char *p, size_t n)
{
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return STORE_COMPRESS_GZIP;
    if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
        return STORE_COMPRESS_ZSTD;
    return STORE_COMPRESS_NONE;
}

int
store_fail_missing(struct ib_err **err, const char *fmt, ...)
{
    va_list ap;
    struct ib_buf b = IB_BUF_INIT;
    va_start(ap, fmt);
    ib_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    ib_fail(err, IB_E_STORE, "%s", b.s);
    if (err && *err)
        (*err)->sys = ENOENT;
    ib_buf_release(&b);
    return -1;
}
