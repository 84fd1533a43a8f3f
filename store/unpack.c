/* store/unpack.c: secure unpack of a layer into a snapshot dir in overlay form.
 *
 * The stream goes blob -> layer_reader (hashes stored and uncompressed bytes,
 * decompresses) -> libarchive (tar only) -> files created with *at() calls.
 * Containment: names are cleaned ('..' and absolute names refused, length
 * capped), parents are opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
 * so no write ever goes through a symlink, final components are never
 * followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), and hard link targets are
 * resolved the same way.  OCI whiteouts become overlay whiteouts: ".wh.NAME"
 * a 0:0 char device, ".wh..wh..opq" the trusted.overlay.opaque=y xattr.
 *
 * Directory times: creating a child changes its directory's mtime, so a
 * directory's times are set once its entries are written.  Directories wait
 * on a stack that is always a chain of ancestors (one path buffer plus a
 * length and times per level, so memory is bounded by the depth, not by the
 * number of directories); an entry that is not below the top pops (and
 * finishes) the levels it leaves.  In an archive that is not depth-first, an
 * entry may land in a directory that was already finished: that directory's
 * times are saved before and put back after the change.
 */
#include "store/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* A directory whose times wait until its entries are written. */
struct dir_level {
    size_t len; /* length of its path in unpack.dirpath */
    struct timespec ts[2];
};

struct unpack {
    struct layer_reader *r;
    struct ib_err *rerr; /* error from the read callback */
    struct archive *a;
    int rootfd;
    char *buf;
    char *cur_parent; /* cached parent dir (relative path, "" = root) */
    int cur_fd;
    struct ib_buf dirpath;    /* path of the innermost pending directory */
    struct dir_level *levels; /* pending directories, outermost first */
    size_t nlevels, caplevels;
};

static la_ssize_t
read_cb(struct archive *a, void *data, const void **buf)
{
    (void)a;
    struct unpack *u = data;
    size_t got = 0;
    if (layer_reader_read(u->r, u->buf, STORE_IO_CHUNK, &got, &u->rerr) < 0)
        return -1;
    *buf = u->buf;
    return (la_ssize_t)got;
}

static void
drop_parent_cache(struct unpack *u)
{
    if (u->cur_fd >= 0 && u->cur_fd != u->rootfd)
        close(u->cur_fd);
    u->cur_fd = -1;
    free(u->cur_parent);
    u->cur_parent = NULL;
}

/* Clean an entry name into "a/b/c" (no ".", no empty parts); refuse "..",
 * absolute names and over-long names.  "" is the root itself. */
static int
clean_name(const char *name, char **out, struct ib_err **err)
{
    if (name[0] == '/')
        return ib_fail(err, IB_E_STORE, "absolute path refused");
    if (strlen(name) >= PATH_MAX)
        return ib_fail(err, IB_E_STORE, "path longer than %d bytes refused", PATH_MAX);
    struct ib_buf b = IB_BUF_INIT;
    const char *p = name;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            ib_buf_release(&b);
            return ib_fail(err, IB_E_STORE, "'..' in path refused");
        }
        if (n > NAME_MAX) {
            ib_buf_release(&b);
            return ib_fail(err, IB_E_STORE, "path component longer than %d bytes", NAME_MAX);
        }
        if (n && !(n == 1 && p[0] == '.')) {
            if (b.len)
                ib_buf_addc(&b, '/');
            ib_buf_add(&b, p, n);
        }
        p += n;
        while (*p == '/')
            p++;
    }
    *out = ib_buf_detach(&b, NULL);
    return 0;
}

static int
open_beneath(int rootfd, const char *path, int *out)
{
    struct open_how how = {0};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    if (fd < 0)
        return -1;
    *out = (int)fd;
    return 0;
}

/* Open the parent dir of rel (creating missing dirs, mode 0755, as tar does). */
static int
open_parent(struct unpack *u, const char *parent, int *out, struct ib_err **err)
{
    if (!*parent) {
        *out = u->rootfd;
        return 0;
    }
    if (u->cur_parent && strcmp(u->cur_parent, parent) == 0) {
        *out = u->cur_fd;
        return 0;
    }
    drop_parent_cache(u);
    int fd = -1;
    if (open_beneath(u->rootfd, parent, &fd) < 0) {
        if (errno != ENOENT) {
            if (errno == ELOOP || errno == EXDEV || errno == ENOTDIR)
                return ib_fail(err, IB_E_STORE, "path goes through a symlink or non-directory");
            return ib_fail_errno(err, "open parent '%s'", parent);
        }
        /* create the missing parents one by one, never following anything;
         * the deepest existing one keeps its times (it may be finished) */
        AUTO_FREE char *p = ib_xstrdup(parent);
        AUTO_FD int last = -1; /* deepest existing dir below the root */
        for (char *s = p;; s++) {
            if (*s != '/' && *s != '\0')
                continue;
            char saved = *s;
            *s = '\0';
            int dfd = -1;
            if (open_beneath(u->rootfd, p, &dfd) == 0) {
                if (last >= 0)
                    close(last);
                last = dfd;
            } else if (errno != ENOENT) {
                return ib_fail(err, IB_E_STORE, "path goes through a symlink or non-directory");
            } else {
                struct stat sb;
                bool keep = last >= 0 && fstat(last, &sb) == 0;
                if (mkdirat(u->rootfd, p, 0755) < 0 && errno != EEXIST)
                    return ib_fail_errno(err, "create directory '%s'", p);
                if (keep) {
                    struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
                    (void)futimens(last, ts);
                    close(last);
                    last = -1;
                }
            }
            *s = saved;
            if (!saved)
                break;
        }
        if (open_beneath(u->rootfd, parent, &fd) < 0)
            return ib_fail(err, IB_E_STORE, "path goes through a symlink or non-directory");
    }
    u->cur_parent = ib_xstrdup(parent);
    u->cur_fd = fd;
    *out = fd;
    return 0;
}

static void
split(char *rel, const char **parent, const char **base)
{
    char *slash = strrchr(rel, '/');
    if (slash) {
        *slash = '\0';
        *parent = rel;
        *base = slash + 1;
    } else {
        *parent = "";
        *base = rel;
    }
}

/* Make room for a new entry: remove what is there (dirs only if !keep_dir). */
static int
clear_slot(struct unpack *u, int pfd, const char *base, bool keep_dir, bool *is_dir,
           struct ib_err **err)
{
    struct stat sb;
    *is_dir = false;
    if (fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return ib_fail_errno(err, "stat");
    }
    if (S_ISDIR(sb.st_mode) && keep_dir) {
        *is_dir = true;
        return 0;
    }
    /* a cached dir other than pfd may be inside what goes away (pfd itself,
     * the parent of base, is not) */
    if (u->cur_fd != pfd)
        drop_parent_cache(u);
    return ib_rm_rf_at(pfd, base, err);
}

static int
set_xattrs(struct archive_entry *e, int pfd, const char *base, bool is_link, struct ib_err **err)
{
    const char *name;
    const void *val;
    size_t len;
    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    char proc[64 + NAME_MAX];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", pfd, base);
    while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK) {
        if (strncmp(name, "trusted.overlay.", 16) == 0)
            continue; /* never let a layer steer overlayfs */
        if (is_link && strncmp(name, "user.", 5) == 0)
            continue;
        if (lsetxattr(proc, name, val, len, 0) < 0 && errno != ENOTSUP)
            return ib_fail_errno(err, "set xattr '%s'", name);
    }
    return 0;
}

static void
entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : 0;
    if (ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
        ts[1].tv_nsec = 0;
    ts[0] = ts[1];
}

/* Is path a proper descendant of the first len bytes of dir ("" is the root)? */
static bool
is_below(const char *path, const char *dir, size_t len)
{
    return len == 0 || (strncmp(path, dir, len) == 0 && path[len] == '/');
}

static void
finish_dir(struct unpack *u)
{
    struct dir_level *l = &u->levels[--u->nlevels];
    u->dirpath.s[l->len] = '\0';
    int fd = -1;
    /* gone or replaced by a later entry of the archive: nothing to set */
    if (open_beneath(u->rootfd, u->dirpath.s, &fd) == 0) {
        (void)futimens(fd, l->ts);
        close(fd);
    }
    u->dirpath.len = u->nlevels ? u->levels[u->nlevels - 1].len : 0;
    u->dirpath.s[u->dirpath.len] = '\0';
}

/* Finish the pending directories that rel is not inside of. */
static void
leave_dirs(struct unpack *u, const char *rel)
{
    while (u->nlevels && !is_below(rel, u->dirpath.s, u->dirpath.len))
        finish_dir(u);
}

static void
push_dir(struct unpack *u, const char *rel, const struct timespec ts[2])
{
    if (u->nlevels == u->caplevels) {
        u->caplevels = u->caplevels ? 2 * u->caplevels : 16;
        u->levels = ib_xreallocarray(u->levels, u->caplevels, sizeof(*u->levels));
    }
    ib_buf_reset(&u->dirpath);
    ib_buf_adds(&u->dirpath, rel);
    u->levels[u->nlevels].len = u->dirpath.len;
    u->levels[u->nlevels].ts[0] = ts[0];
    u->levels[u->nlevels].ts[1] = ts[1];
    u->nlevels++;
}

static int
set_meta(struct unpack *u, struct archive_entry *e, int pfd, const char *base, const char *rel,
         bool is_link, bool is_dir, struct ib_err **err)
{
    if (fchownat(pfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return ib_fail_errno(err, "chown");
    if (!is_link && fchmodat(pfd, base, archive_entry_perm(e), 0) < 0)
        return ib_fail_errno(err, "chmod");
    if (set_xattrs(e, pfd, base, is_link, err) < 0)
        return -1;
    struct timespec ts[2];
    entry_times(e, ts);
    if (is_dir) {
        push_dir(u, rel, ts); /* set when its entries are written */
        return 0;
    }
    if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return ib_fail_errno(err, "set times");
    return 0;
}

static int
write_file(struct unpack *u, struct archive_entry *e, int pfd, const char *base,
           struct ib_err **err)
{
    AUTO_FD int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ib_fail_errno(err, "create");
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(u->a, &buf, &len, &off)) == ARCHIVE_OK) {
        const char *p = buf;
        while (len) {
            ssize_t w = pwrite(fd, p, len, off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return ib_fail_errno(err, "write");
            p += w;
            off += w;
            len -= (size_t)w;
        }
    }
    if (r != ARCHIVE_EOF) {
        if (u->rerr) {
            *err = u->rerr;
            u->rerr = NULL;
            return -1;
        }
        return store_archive_fail(u->a, "read data", err);
    }
    if (ftruncate(fd, archive_entry_size(e)) < 0)
        return ib_fail_errno(err, "truncate");
    return 0;
}

static int
hard_link(struct unpack *u, const char *target, int pfd, const char *base, struct ib_err **err)
{
    AUTO_FREE char *t = NULL;
    if (clean_name(target, &t, err) < 0)
        return ib_err_prefix(err, "hard link target '%s'", target);
    if (!*t)
        return ib_fail(err, IB_E_STORE, "hard link to the root refused");
    const char *tparent, *tbase;
    split(t, &tparent, &tbase);
    AUTO_FD int tfd = -1;
    if (*tparent && open_beneath(u->rootfd, tparent, &tfd) < 0)
        return ib_fail(err, IB_E_STORE, "hard link target '%s' is not inside the layer", target);
    struct stat sb;
    int tdir = *tparent ? tfd : u->rootfd;
    if (fstatat(tdir, tbase, &sb, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(sb.st_mode))
        return ib_fail(err, IB_E_STORE, "hard link target '%s' is not an earlier file of the layer",
                       target);
    if (linkat(tdir, tbase, pfd, base, 0) < 0)
        return ib_fail_errno(err, "hard link to '%s'", target);
    return 0;
}

static int
whiteout(struct unpack *u, int pfd, const char *base, struct ib_err **err)
{
    (void)u;
    if (strcmp(base, WH_OPAQUE) == 0) {
        if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return ib_fail_errno(err, "mark directory opaque");
        return 0;
    }
    const char *name = base + strlen(WH_PREFIX);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return ib_fail(err, IB_E_STORE, "bad whiteout name");
    struct stat sb;
    if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return 0; /* a whiteout only hides lower layers, never this one's files */
    if (mknodat(pfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0 && errno != EEXIST)
        return ib_fail_errno(err, "create whiteout");
    return 0;
}

static int make_entry(struct unpack *u, struct archive_entry *e, int pfd, const char *base,
                      const char *rel, struct ib_err **err);

static int
one_entry(struct unpack *u, struct archive_entry *e, const char *rel_in, struct ib_err **err)
{
    leave_dirs(u, rel_in);
    AUTO_FREE char *rel = ib_xstrdup(rel_in);
    const char *parent, *base;
    split(rel, &parent, &base);
    int pfd = -1;
    if (open_parent(u, parent, &pfd, err) < 0)
        return -1;
    /* the parent is pending (its times come later) unless the archive is not
     * depth-first; then keep the times it has now */
    bool pending = u->nlevels && strcmp(u->dirpath.s, parent) == 0;
    struct stat psb;
    bool restore = *parent && !pending && fstat(pfd, &psb) == 0;
    if (make_entry(u, e, pfd, base, rel_in, err) < 0)
        return -1;
    if (restore) {
        struct timespec ts[2] = {psb.st_atim, psb.st_mtim};
        if (futimens(pfd, ts) < 0)
            return ib_fail_errno(err, "set times of '%s'", parent);
    }
    return 0;
}

static int
make_entry(struct unpack *u, struct archive_entry *e, int pfd, const char *base, const char *rel,
           struct ib_err **err)
{
    if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0)
        return whiteout(u, pfd, base, err);
    mode_t type = archive_entry_filetype(e);
    const char *hl = archive_entry_hardlink(e);
    bool is_dir = false;
    if (clear_slot(u, pfd, base, type == AE_IFDIR && !hl, &is_dir, err) < 0)
        return -1;
    if (hl) {
        return hard_link(u, hl, pfd, base, err);
    }
    switch (type) {
    case AE_IFDIR:
        if (!is_dir && mkdirat(pfd, base, 0700) < 0)
            return ib_fail_errno(err, "create directory");
        break;
    case AE_IFREG:
        if (write_file(u, e, pfd, base, err) < 0)
            return -1;
        break;
    case AE_IFLNK:
        if (symlinkat(archive_entry_symlink(e) ? archive_entry_symlink(e) : "", pfd, base) < 0)
            return ib_fail_errno(err, "create symlink");
        break;
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
        mode_t m = (type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO) | 0600;
        dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (mknodat(pfd, base, m, dev) < 0)
            return ib_fail_errno(err, "create device node");
        break;
    }
    default:
        return 0; /* sockets and unknown types are skipped */
    }
    return set_meta(u, e, pfd, base, rel, type == AE_IFLNK, type == AE_IFDIR, err);
}

static int
unpack_loop(struct unpack *u, struct ib_err **err)
{
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(u->a, &e);
        if (r == ARCHIVE_EOF) {
            while (u->nlevels)
                finish_dir(u);
            return 0;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            if (u->rerr) {
                *err = u->rerr;
                u->rerr = NULL;
                return -1;
            }
            return store_archive_fail(u->a, "read tar", err);
        }
        const char *name = archive_entry_pathname(e);
        if (!name)
            return ib_fail(err, IB_E_STORE, "entry without a name");
        AUTO_FREE char *rel = NULL;
        if (clean_name(name, &rel, err) < 0)
            return ib_err_prefix(err, "entry '%.256s%s'", name, strlen(name) > 256 ? "..." : "");
        if (!*rel)
            continue;                      /* the root itself ("./") */
        if (one_entry(u, e, rel, err) < 0) /* names may be 1 MiB long: cut */
            return ib_err_prefix(err, "entry '%.256s%s'", name, strlen(name) > 256 ? "..." : "");
    }
}

static int
unpack_fd(int fd, int dirfd, const struct digest *expected, struct digest *diff_id, bool any_filter,
          struct ib_err **err)
{
    struct unpack u = {0};
    u.rootfd = dirfd;
    u.cur_fd = -1;
    ib_buf_init(&u.dirpath);
    if (layer_reader_new(fd, &u.r, err) < 0)
        return -1;
    u.buf = ib_xmalloc(STORE_IO_CHUNK);
    u.a = archive_read_new();
    if (!u.a)
        ib_oom();
    int rc = -1;
    archive_read_support_format_tar(u.a);
    archive_read_support_format_empty(u.a);
    if (any_filter) {
        /* ADD of a local archive: bzip2 and xz too (gzip and zstd the layer reader
         * already undid); libarchive uses libbz2/liblzma when it was built with them */
        archive_read_support_filter_bzip2(u.a);
        archive_read_support_filter_xz(u.a);
        archive_read_support_filter_lzma(u.a);
    }
    if (archive_read_open2(u.a, &u, NULL, read_cb, NULL, NULL) != ARCHIVE_OK) {
        if (u.rerr) {
            *err = u.rerr;
            u.rerr = NULL;
        } else {
            store_archive_fail(u.a, "read tar", err);
        }
    } else if (unpack_loop(&u, err) == 0) {
        struct digest raw, un;
        if (layer_reader_finish(u.r, &raw, &un, NULL, err) == 0) {
            if (expected && digest_is_set(expected) && !digest_eq(expected, &raw))
                ib_fail(err, IB_E_STORE, "digest mismatch: got '%s'", raw.s);
            else
                rc = 0;
            if (diff_id)
                *diff_id = un;
        }
    }
    drop_parent_cache(&u);
    ib_buf_release(&u.dirpath);
    free(u.levels);
    archive_read_free(u.a);
    layer_reader_free(u.r);
    ib_err_free(u.rerr);
    free(u.buf);
    return rc;
}

int
store_unpack_fd(int fd, int dirfd, const struct digest *expected, struct digest *diff_id,
                struct ib_err **err)
{
    return unpack_fd(fd, dirfd, expected, diff_id, false, err);
}

int
store_unpack_archive_fd(int fd, int dirfd, struct ib_err **err)
{
    return unpack_fd(fd, dirfd, NULL, NULL, true, err);
}
