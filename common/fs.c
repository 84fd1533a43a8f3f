#include "common/fs.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

char *
ib_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (!*b)
        return ib_xstrndup(a, la);
    if (la == 1 && a[0] == '/')
        return ib_xasprintf("/%s", b);
    return ib_xasprintf("%.*s/%s", (int)la, a, b);
}

int
ib_read_fd(int fd, struct ib_buf *b, const char *what, struct ib_err **err)
{
    for (;;) {
        ib_buf_grow(b, 65536);
        size_t room = b->cap - b->len - 1;
        ssize_t n = read(fd, b->s + b->len, room);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ib_fail_errno(err, "read '%s'", what);
        }
        if (n == 0)
            return 0;
        if (b->limit && b->len + (size_t)n > b->limit)
            return ib_fail(err, IB_E_SYS, "'%s' is too large (limit %zu bytes)", what, b->limit);
        b->len += (size_t)n;
        b->s[b->len] = '\0';
    }
}

int
ib_read_file(const char *path, struct ib_buf *b, struct ib_err **err)
{
    if (strcmp(path, "-") == 0)
        return ib_read_fd(0, b, "<stdin>", err);
    AUTO_FD int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        return ib_fail_sys(err, EISDIR, "read '%s'", path);
    return ib_read_fd(fd, b, path, err);
}

int
ib_write_all(int fd, const void *p, size_t n, const char *what, struct ib_err **err)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return ib_fail_errno(err, "write '%s'", what);
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int
ib_fsync_dir(int dirfd, const char *what, struct ib_err **err)
{
    if (fsync(dirfd) < 0 && errno != EINVAL && errno != EROFS)
        return ib_fail_errno(err, "fsync directory '%s'", what);
    return 0;
}

static int
write_renamed(int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool durable,
              struct ib_err **err)
{
    const char *slash = strrchr(name, '/');
    AUTO_FREE char *dir = slash ? ib_xstrndup(name, (size_t)(slash - name) + 1) : ib_xstrdup("");
    AUTO_FREE char *tmp = NULL;
    AUTO_FD int fd = -1;
    for (int tries = 0; fd < 0; tries++) {
        free(tmp);
        tmp =
            ib_xasprintf("%s.tmp-%ld-%d-%s", dir, (long)getpid(), tries, slash ? slash + 1 : name);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0 && (errno != EEXIST || tries > 100))
            return ib_fail_errno(err, "create '%s'", tmp);
    }
    if (ib_write_all(fd, data, len, tmp, err) < 0 || (durable && fsync(fd) < 0)) {
        if (!err || !*err)
            ib_fail_errno(err, "fsync '%s'", tmp);
        unlinkat(dirfd, tmp, 0);
        return -1;
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        ib_fail_errno(err, "rename '%s' to '%s'", tmp, name);
        unlinkat(dirfd, tmp, 0);
        return -1;
    }
    if (!durable)
        return 0;
    AUTO_FD int dfd = openat(dirfd, *dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ib_fail_errno(err, "open directory of '%s'", name);
    return ib_fsync_dir(dfd, *dir ? dir : ".", err);
}

int
ib_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                struct ib_err **err)
{
    return write_renamed(dirfd, name, data, len, mode, true, err);
}

int
ib_write_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                 struct ib_err **err)
{
    return write_renamed(dirfd, name, data, len, mode, false, err);
}

int
ib_mkdir_p(int dirfd, const char *path, mode_t mode, struct ib_err **err)
{
    AUTO_FREE char *p = ib_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
            return ib_fail_errno(err, "mkdir '%s'", p);
        *s = '/';
    }
    if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
        return ib_fail_errno(err, "mkdir '%s'", p);
    return 0;
}

static int
rm_rf_children(int fd, const char *what, struct ib_err **err)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return ib_fail_errno(err, "open directory '%s'", what);
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (ib_rm_rf_at(dirfd(d), de->d_name, err) < 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

int
ib_rm_rf_at(int dirfd, const char *name, struct ib_err **err)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return ib_fail_errno(err, "remove '%s'", name);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return ib_fail_errno(err, "open '%s'", name);
    }
    if (rm_rf_children(fd, name, err) < 0)
        return -1;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return ib_fail_errno(err, "remove directory '%s'", name);
    return 0;
}

bool
ib_fs_spread_subdirs(int dirfd)
{
    /* the ioctl is declared with long but the kernel reads and writes an int */
    int flags = 0;
    if (ioctl(dirfd, FS_IOC_GETFLAGS, &flags) < 0)
        return false;
    if (flags & FS_TOPDIR_FL)
        return true;
    flags |= FS_TOPDIR_FL;
    return ioctl(dirfd, FS_IOC_SETFLAGS, &flags) == 0;
}
