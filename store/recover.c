/* store/recover.c: what store_open does with the journals of write batches whose
 * process died (see batch.c for the batches themselves).
 *
 * A journal whose flock can be taken belongs to a dead process.  If it was written in
 * this boot, the kernel still has every write of the batch in its page cache: one sync
 * makes them durable and the journal goes.  If it was written in another boot, the
 * machine went down mid-batch and anything written since the batch started may be
 * empty or torn on disk (or missing, which is harmless: nothing durable names it, since
 * tags are written only after a batch's sync).  So, with nobody else using the store:
 *   - every blob changed since the start (minus slack) is hashed again and removed when
 *     its content does not match its name;
 *   - snapshots (dir or .chain file) changed since then are removed: a snapshot is made
 *     again from its layer blob when something needs it;
 *   - cache entries (cache/<kind>/<file>) changed since then are removed: a lost entry is
 *     a cache miss.
 * Then the store is synced and the journals are removed.  "Changed" is the inode's
 * ctime, which creation, writes and renames all set; the slack covers clock steps and
 * the coarse clock of file timestamps.
 *
 * A volatile record (batches/volatile-*, a batch that ended but never synced its
 * snapshots) of another boot means the same for snapshots only: its blobs were synced,
 * and its cache entries name blobs (a torn one reads as a miss).  One of this boot stays until it
 * is settle_ns old (since its batch ended); then the kernel has written its data back, and one sync
 * makes sure of it.
 */
#include "store/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
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

static int64_t
ctime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_ctim.tv_sec * 1000000000LL + sb->st_ctim.tv_nsec;
}

/* the names in dirfd (not "." and ".."), unsorted */
static int
names_in(int dirfd, const char *what, struct ib_strv *out, struct ib_err **err)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return ib_fail_errno(err, "open '%s'", what);
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            ib_strv_push(out, de->d_name);
    closedir(d);
    return 0;
}

static bool
changed_since(int dirfd, const char *name, int64_t since)
{
    struct stat sb;
    return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && ctime_ns(&sb) >= since;
}

/* Does the blob file hold what its name says? */
static bool
blob_intact(struct store *st, const char *name, struct digest_ctx *c, char *buf)
{
    AUTO_FREE char *ds = ib_xasprintf("sha256:%s", name);
    struct digest want, got;
    if (digest_parse(ds, &want, NULL) < 0)
        return false;
    AUTO_FD int fd = openat(st->blobsfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    digest_ctx_reset(c);
    ssize_t n;
    while ((n = read(fd, buf, STORE_IO_CHUNK)) > 0)
        digest_ctx_update(c, buf, (size_t)n);
    digest_ctx_final(c, &got);
    return n == 0 && digest_eq(&want, &got);
}

static int
recover_blobs(struct store *st, int64_t since, struct ib_err **err)
{
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    if (names_in(st->blobsfd, "blobs/sha256", &names, err) < 0)
        return -1;
    struct digest_ctx *c = NULL;
    if (digest_ctx_new(&c, err) < 0)
        return -1;
    AUTO_FREE char *buf = ib_xmalloc(STORE_IO_CHUNK);
    int rc = 0;
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        struct stat sb;
        if (fstatat(st->blobsfd, names.v[i], &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(sb.st_mode) || ctime_ns(&sb) < since)
            continue;
        if (!blob_intact(st, names.v[i], c, buf) && unlinkat(st->blobsfd, names.v[i], 0) < 0 &&
            errno != ENOENT)
            rc = ib_fail_errno(err, "remove damaged blob '%s'", names.v[i]);
    }
    digest_ctx_free(c);
    return rc;
}

static int
recover_snapshots(struct store *st, int64_t since, struct ib_err **err)
{
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    if (names_in(st->snapfd, st->snaproot, &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.n; i++) {
        const char *n = names.v[i];
        if (strncmp(n, "tmp-", 4) == 0 || n[0] == '.' || !changed_since(st->snapfd, n, since))
            continue;
        /* "<id>" or "<id>.chain": both go */
        AUTO_FREE char *id = ib_xstrndup(n, strcspn(n, "."));
        AUTO_FREE char *mark = ib_xasprintf("%s.chain", id);
        if (ib_rm_rf_at(st->snapfd, mark, err) < 0 || ib_rm_rf_at(st->snapfd, id, err) < 0)
            return ib_err_prefix(err, "remove snapshot '%s'", id);
    }
    return 0;
}

static int
recover_cache(struct store *st, int64_t since, struct ib_err **err)
{
    AUTO_STRV struct ib_strv kinds = IB_STRV_INIT;
    if (names_in(st->cachefd, "cache", &kinds, err) < 0)
        return -1;
    for (size_t k = 0; k < kinds.n; k++) {
        AUTO_FD int fd =
            openat(st->cachefd, kinds.v[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            if (changed_since(st->cachefd, kinds.v[k], since) &&
                ib_rm_rf_at(st->cachefd, kinds.v[k], err) < 0)
                return -1;
            continue;
        }
        AUTO_STRV struct ib_strv names = IB_STRV_INIT;
        if (names_in(fd, kinds.v[k], &names, err) < 0)
            return -1;
        for (size_t i = 0; i < names.n; i++)
            if (changed_since(fd, names.v[i], since) && ib_rm_rf_at(fd, names.v[i], err) < 0)
                return ib_err_prefix(err, "remove cache entry");
    }
    return 0;
}

/* "imgbuild-batch 1\nboot <id>\nstart <sec>.<nsec>\n"; false when torn */
static bool
parse_journal(const char *s, char *boot, size_t bootsz, int64_t *start)
{
    const char *b = strstr(s, "\nboot ");
    const char *t = strstr(s, "\nstart ");
    if (strncmp(s, "imgbuild-batch 1\n", 17) != 0 || !b || !t)
        return false;
    b += 6;
    size_t bn = strcspn(b, "\n");
    long long sec = 0, nsec = 0;
    if (bn == 0 || bn >= bootsz || sscanf(t + 7, "%lld.%lld", &sec, &nsec) != 2 || sec <= 0)
        return false;
    memcpy(boot, b, bn);
    boot[bn] = '\0';
    *start = (int64_t)sec * 1000000000LL + nsec;
    return true;
}

struct dead_batch {
    int fd; /* holds the journal's flock until it is removed */
    char *name;
};

/* Open and lock the journal name if its owner is gone: *fd, its boot id and start time.
 * Returns false for a live batch (or one removed meanwhile). */
static bool
take_journal(struct store *st, const char *name, int *fd, char *boot, size_t bootsz, int64_t *start)
{
    AUTO_FD int f = openat(st->batchesfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0 || flock(f, LOCK_EX | LOCK_NB) < 0)
        return false;
    struct stat a, b;
    if (fstat(f, &a) < 0 || fstatat(st->batchesfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
        a.st_ino != b.st_ino || a.st_dev != b.st_dev)
        return false; /* recovered and removed by someone else meanwhile */
    AUTO_BUF struct ib_buf text = IB_BUF_INIT;
    ib_buf_set_limit(&text, 4096);
    AUTO_ERR struct ib_err *e = NULL;
    if (ib_read_fd(f, &text, name, &e) < 0 || !parse_journal(text.s, boot, bootsz, start)) {
        /* torn (it is fsynced before it gets its name, so this takes a damaged disk):
         * suspect everything since the journal appeared */
        boot[0] = '\0';
        *start = ctime_ns(&a);
    }
    *fd = ib_steal_fd(&f);
    return true;
}

int
store_batch_recover(struct store *st, const char *boot_id, int64_t slack_ns, int64_t settle_ns,
                    bool alone, struct ib_err **err)
{
    if (st->batchesfd < 0)
        return 0;
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    if (names_in(st->batchesfd, "batches", &names, err) < 0)
        return -1;
    struct dead_batch *dead = ib_xcalloc(names.n + 1, sizeof(*dead));
    size_t ndead = 0, nsettle = 0; /* nsettle: old volatile records of this boot */
    bool crashed = false, snaps_lost = false;
    int64_t since = INT64_MAX, snaps_since = INT64_MAX;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    for (size_t i = 0; i < names.n; i++) {
        bool vol = strncmp(names.v[i], STORE_VOLATILE_PREFIX, strlen(STORE_VOLATILE_PREFIX)) == 0;
        if (!vol && strncmp(names.v[i], "batch-", 6) != 0)
            continue;
        char boot[128];
        int64_t start = 0;
        int fd = -1;
        if (!take_journal(st, names.v[i], &fd, boot, sizeof(boot), &start))
            continue;
        bool same_boot = *boot_id && strcmp(boot, boot_id) == 0;
        struct stat sb;
        /* a volatile record's ctime is when its batch ended (the rename) */
        if (vol && same_boot && fstat(fd, &sb) == 0 && now_ns - ctime_ns(&sb) < settle_ns) {
            close(fd); /* its snapshots' data may not be on disk yet, and that is fine */
            continue;
        }
        if (!same_boot && !alone) {
            close(fd); /* left to an open that has the store to itself */
            continue;
        }
        if (same_boot && vol) {
            nsettle++;
        } else if (!same_boot && vol) {
            snaps_lost = true;
            snaps_since = start < snaps_since ? start : snaps_since;
        } else if (!same_boot) {
            crashed = true;
            since = start < since ? start : since;
        }
        dead[ndead].fd = fd;
        dead[ndead++].name = ib_xstrdup(names.v[i]);
    }
    int rc = 0;
    if (crashed) {
        since -= slack_ns;
        if (recover_blobs(st, since, err) < 0 || recover_snapshots(st, since, err) < 0 ||
            recover_cache(st, since, err) < 0)
            rc = ib_err_prefix(err, "recover store '%s' after a crash", st->root);
    }
    /* a finished batch's blobs are durable: only its snapshots may be empty or torn (its
     * cache entries name blobs; one that is torn reads as a miss) */
    if (rc == 0 && snaps_lost && recover_snapshots(st, snaps_since - slack_ns, err) < 0)
        rc = ib_err_prefix(err, "recover store '%s' after a crash", st->root);
    if (rc == 0 && ndead)
        rc = store_sync(st, err);
    for (size_t i = 0; i < ndead; i++) {
        if (rc == 0 && unlinkat(st->batchesfd, dead[i].name, 0) < 0 && errno != ENOENT)
            rc = ib_fail_errno(err, "remove '%s/batches/%s'", st->root, dead[i].name);
        close(dead[i].fd);
        free(dead[i].name);
    }
    free(dead);
    if (rc == 0 && ndead)
        rc = ib_fsync_dir(st->batchesfd, "batches", err);
    if (rc < 0 && ndead == nsettle) {
        /* only housekeeping failed (a read-only store, say): the records stay, and the
         * store is as good as before */
        if (err) {
            ib_err_free(*err);
            *err = NULL;
        }
        rc = 0;
    }
    return rc;
}
