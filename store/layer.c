/* store/layer.c: commit an overlayfs upper dir as an uncompressed OCI layer.
 *
 * One pass: the dir is walked in sorted order; libarchive writes a PAX tar to
 * a callback that feeds both the SHA-256 (the diffID, which is also the blob
 * digest since local layers are not compressed) and the blob file.  Overlay
 * whiteouts (0:0 char devices) become ".wh.NAME", opaque dirs get
 * ".wh..wh..opq".  Reproducible: sorted entries, no uname/gname, no atime or
 * ctime, whole-second mtimes clamped to SOURCE_DATE_EPOCH when it is set.
 */
#include "store/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define OVL_OPAQUE "trusted.overlay.opaque"
#define MAX_DEPTH 512

struct inode_key {
    dev_t dev;
    ino_t ino;
    char *path;
};

struct commit {
    struct archive *a;
    struct archive_entry *e;
    struct blob_writer *w;
    struct ib_err *werr; /* error from the write callback */
    void *links;         /* tsearch tree of struct inode_key */
    char *buf;
    bool clamp;
    time_t epoch;
    bool scrub; /* remove overlay bookkeeping xattrs (the dir becomes a snapshot) */
};

int
store_archive_fail(void *a, const char *what, struct ib_err **err)
{
    const char *msg = archive_error_string(a);
    int e = archive_errno(a);
    return ib_fail(err, e > 0 && e < 200 && !msg ? IB_E_SYS : IB_E_STORE, "%s: %s", what,
                   msg ? msg : "archive error");
}

static la_ssize_t
tar_write_cb(struct archive *a, void *data, const void *buf, size_t n)
{
    (void)a;
    struct commit *c = data;
    if (blob_writer_write(c->w, buf, n, &c->werr) < 0)
        return -1;
    return (la_ssize_t)n;
}

static int
inode_cmp(const void *x, const void *y)
{
    const struct inode_key *a = x, *b = y;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino)
        return a->ino < b->ino ? -1 : 1;
    return 0;
}

static void
inode_free(void *p)
{
    struct inode_key *k = p;
    free(k->path);
    free(k);
}

static int
write_fail(struct commit *c, const char *path, struct ib_err **err)
{
    if (c->werr) {
        *err = c->werr;
        c->werr = NULL;
        return ib_err_prefix(err, "layer entry '%s'", path);
    }
    return store_archive_fail(c->a, path, err);
}

static int
cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* the names in dirfd, sorted (bytewise) */
static int
list_dir(int dirfd, const char *path, struct ib_strv *names, struct ib_err **err)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return ib_fail_errno(err, "dup");
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return ib_fail_errno(err, "open directory '%s'", path);
    }
    rewinddir(d);
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            ib_strv_push(names, de->d_name);
        errno = 0;
    }
    int e = errno;
    closedir(d);
    if (e)
        return ib_fail_sys(err, e, "read directory '%s'", path);
    if (names->n)
        qsort(names->v, names->n, sizeof(char *), cmp_names);
    return 0;
}

/* xattrs of dirfd/name (sorted), skipping overlay bookkeeping; with scrub,
 * also remove trusted.overlay.* except the opaque flag. */
static int
add_xattrs(struct commit *c, int dirfd, const char *name, const char *path, bool *opaque,
           struct ib_err **err)
{
    char proc[64 + NAME_MAX];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
    char list[65536];
    ssize_t n = llistxattr(proc, list, sizeof(list));
    if (n < 0) {
        if (errno == ENOTSUP)
            return 0;
        return ib_fail_errno(err, "list xattrs of '%s'", path);
    }
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
        ib_strv_push(&names, list + i);
    if (names.n)
        qsort(names.v, names.n, sizeof(char *), cmp_names);
    for (size_t i = 0; i < names.n; i++) {
        const char *x = names.v[i];
        if (strncmp(x, "trusted.overlay.", 16) == 0) {
            if (strcmp(x, OVL_OPAQUE) == 0) {
                char v[4];
                ssize_t vn = lgetxattr(proc, x, v, sizeof(v));
                *opaque = vn == 1 && v[0] == 'y';
            } else if (c->scrub) {
                lremovexattr(proc, x);
            }
            continue;
        }
        if (strcmp(x, "security.selinux") == 0)
            continue;
        char val[65536];
        ssize_t vn = lgetxattr(proc, x, val, sizeof(val));
        if (vn < 0)
            return ib_fail_errno(err, "read xattr '%s' of '%s'", x, path);
        archive_entry_xattr_add_entry(c->e, x, val, (size_t)vn);
    }
    return 0;
}

static time_t
clamp_time(const struct commit *c, time_t t)
{
    return c->clamp && t > c->epoch ? c->epoch : t;
}

static int
write_header(struct commit *c, const char *path, struct ib_err **err)
{
    if (archive_write_header(c->a, c->e) != ARCHIVE_OK)
        return write_fail(c, path, err);
    return 0;
}

/* the ".wh.NAME" or ".wh..wh..opq" entry */
static int
write_marker(struct commit *c, const char *dir, const char *name, time_t mtime, struct ib_err **err)
{
    AUTO_FREE char *p = ib_xasprintf("%s%s", dir, name);
    archive_entry_clear(c->e);
    archive_entry_set_pathname(c->e, p);
    archive_entry_set_filetype(c->e, AE_IFREG);
    archive_entry_set_perm(c->e, 0);
    archive_entry_set_size(c->e, 0);
    archive_entry_set_mtime(c->e, clamp_time(c, mtime), 0);
    return write_header(c, p, err);
}

static int
copy_data(struct commit *c, int dirfd, const char *name, const char *path, off_t size,
          struct ib_err **err)
{
    AUTO_FD int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s'", path);
    off_t left = size;
    while (left > 0) {
        size_t want = left < (off_t)STORE_IO_CHUNK ? (size_t)left : STORE_IO_CHUNK;
        ssize_t n = read(fd, c->buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ib_fail_errno(err, "read '%s'", path);
        if (n == 0)
            return ib_fail(err, IB_E_STORE, "'%s' shrank while being committed", path);
        if (archive_write_data(c->a, c->buf, (size_t)n) != n)
            return write_fail(c, path, err);
        left -= n;
    }
    return 0;
}

static int walk(struct commit *c, int dirfd, const char *prefix, int depth, struct ib_err **err);

static int
one_entry(struct commit *c, int dirfd, const char *prefix, const char *name, int depth,
          struct ib_err **err)
{
    struct stat sb;
    AUTO_FREE char *path = ib_xasprintf("%s%s", prefix, name);
    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return ib_fail_errno(err, "stat '%s'", path);
    if (S_ISCHR(sb.st_mode) && sb.st_rdev == makedev(0, 0)) {
        AUTO_FREE char *wh = ib_xasprintf(".wh.%s", name);
        return write_marker(c, prefix, wh, sb.st_mtime, err);
    }
    if (S_ISSOCK(sb.st_mode))
        return 0; /* sockets are not part of images (as in docker) */
    archive_entry_clear(c->e);
    bool opaque = false;
    if (add_xattrs(c, dirfd, name, path, &opaque, err) < 0)
        return -1;
    archive_entry_set_mode(c->e, sb.st_mode);
    archive_entry_set_uid(c->e, sb.st_uid);
    archive_entry_set_gid(c->e, sb.st_gid);
    archive_entry_set_mtime(c->e, clamp_time(c, sb.st_mtime), 0);
    if (S_ISDIR(sb.st_mode)) {
        AUTO_FREE char *dpath = ib_xasprintf("%s/", path);
        archive_entry_set_pathname(c->e, dpath);
        if (write_header(c, dpath, err) < 0)
            return -1;
        if (opaque && write_marker(c, dpath, ".wh..wh..opq", sb.st_mtime, err) < 0)
            return -1;
        if (depth >= MAX_DEPTH)
            return ib_fail(err, IB_E_STORE, "'%s': directories nested too deeply", path);
        AUTO_FD int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return ib_fail_errno(err, "open directory '%s'", path);
        return walk(c, sub, dpath, depth + 1, err);
    }
    archive_entry_set_pathname(c->e, path);
    if (S_ISREG(sb.st_mode) && sb.st_nlink > 1) {
        struct inode_key key = {sb.st_dev, sb.st_ino, NULL};
        struct inode_key **found = tfind(&key, &c->links, inode_cmp);
        if (found) {
            archive_entry_set_hardlink(c->e, (*found)->path);
            archive_entry_set_size(c->e, 0);
            return write_header(c, path, err);
        }
        struct inode_key *k = ib_xmalloc(sizeof(*k));
        *k = key;
        k->path = ib_xstrdup(path);
        if (!tsearch(k, &c->links, inode_cmp))
            ib_oom();
    }
    if (S_ISLNK(sb.st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(dirfd, name, target, PATH_MAX);
        if (n < 0)
            return ib_fail_errno(err, "read link '%s'", path);
        target[n] = '\0';
        archive_entry_set_symlink(c->e, target);
    } else if (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode)) {
        archive_entry_set_rdevmajor(c->e, major(sb.st_rdev));
        archive_entry_set_rdevminor(c->e, minor(sb.st_rdev));
    }
    if (S_ISREG(sb.st_mode))
        archive_entry_set_size(c->e, sb.st_size);
    if (write_header(c, path, err) < 0)
        return -1;
    if (S_ISREG(sb.st_mode) && sb.st_size > 0)
        return copy_data(c, dirfd, name, path, sb.st_size, err);
    return 0;
}

static int
walk(struct commit *c, int dirfd, const char *prefix, int depth, struct ib_err **err)
{
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    if (list_dir(dirfd, *prefix ? prefix : ".", &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.n; i++)
        if (one_entry(c, dirfd, prefix, names.v[i], depth, err) < 0)
            return -1;
    return 0;
}

static void
commit_release(struct commit *c)
{
    if (c->a)
        archive_write_free(c->a);
    if (c->e)
        archive_entry_free(c->e);
    if (c->links)
        tdestroy(c->links, inode_free);
    ib_err_free(c->werr);
    free(c->buf);
}

static int
source_date_epoch(time_t *out)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (!s || !*s)
        return 0;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return 0;
    *out = (time_t)v;
    return 1;
}

/* Write the tar of the tree at dirfd into w. */
static int
write_layer_tar(int dirfd, struct blob_writer *w, bool scrub, struct ib_err **err)
{
    struct commit c = {0};
    c.w = w;
    c.scrub = scrub;
    c.clamp = source_date_epoch(&c.epoch);
    c.buf = ib_xmalloc(STORE_IO_CHUNK);
    c.a = archive_write_new();
    c.e = archive_entry_new();
    if (!c.a || !c.e)
        ib_oom();
    int rc = -1;
    if (archive_write_set_format_pax_restricted(c.a) != ARCHIVE_OK ||
        archive_write_set_format_option(c.a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(c.a, 65536) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(c.a, 1) != ARCHIVE_OK) {
        store_archive_fail(c.a, "layer tar", err);
    } else if (archive_write_open2(c.a, &c, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK) {
        write_fail(&c, "layer tar", err);
    } else if (walk(&c, dirfd, "", 0, err) == 0) {
        if (archive_write_close(c.a) != ARCHIVE_OK)
            write_fail(&c, "layer tar", err);
        else
            rc = 0;
    }
    commit_release(&c);
    return rc;
}

int
store_layer_commit(struct store *st, const struct digest *parent_chain, const char *upperdir,
                   unsigned flags, struct store_layer *out, struct ib_err **err)
{
    AUTO_FD int dirfd = open(upperdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return ib_fail_errno(err, "open upper dir '%s'", upperdir);
    struct blob_writer *w = NULL;
    if (store_blob_begin(st, &w, err) < 0)
        return -1;
    bool move = (flags & STORE_COMMIT_MOVE) != 0;
    if (write_layer_tar(dirfd, w, move, err) < 0) {
        store_blob_abort(w);
        return ib_err_prefix(err, "commit '%s'", upperdir);
    }
    struct store_layer l = {0};
    if (store_blob_commit(w, NULL, &l.digest, &l.size, err) < 0)
        return -1;
    l.diff_id = l.digest;
    l.compression = STORE_COMPRESS_NONE;
    digest_chain(parent_chain, &l.diff_id, &l.chain_id);
    if (store_snapshot_exists(st, &l.chain_id)) {
        if (move && ib_rm_rf_at(AT_FDCWD, upperdir, err) < 0)
            return -1;
    } else if (move) {
        /* in a write batch the moved tree is volatile (see batch.c) */
        int batch = store_batch_want(st, err);
        AUTO_FREE char *name = store_snapshot_name(&l.chain_id);
        if (batch < 0)
            return -1;
        if (!batch && syncfs(dirfd) < 0)
            return ib_fail_errno(err, "sync '%s'", upperdir);
        if (store_snapshot_mark(st, &l.chain_id, err) < 0)
            return -1;
        if (renameat(AT_FDCWD, upperdir, st->snapfd, name) < 0) {
            if (errno != EEXIST && errno != ENOTEMPTY)
                return ib_fail_errno(err, "move '%s' into snapshots/", upperdir);
            if (ib_rm_rf_at(AT_FDCWD, upperdir, err) < 0)
                return -1;
        }
        if (batch)
            store_batch_note_snapshot(st);
        else if (ib_fsync_dir(st->snapfd, "snapshots", err) < 0)
            return -1;
    } else if (store_snapshot_create(st, &l.chain_id, &l, err) < 0) {
        return -1;
    }
    *out = l;
    return 0;
}
