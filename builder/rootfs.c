/* builder/rootfs.c: read-only views of an image's root filesystem, for COPY --from, the
 * destination side of COPY (existing dirs, symlinks, /etc/passwd) and rootfs exports.
 *
 * The merged view is a detached overlay mount (fsopen/fsmount, never attached to
 * any path), so nothing is left mounted when the process dies and no mount
 * namespace is needed: closing the last fd drops it.
 */
#include "builder/build.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

/* Make the missing snapshots of img's layers from their blobs, bottom-up. */
static int
ensure_snapshots(struct store *st, const struct store_image *img, struct ib_err **err)
{
    for (size_t i = 0; i < store_image_nlayers(img); i++) {
        struct store_layer l = *store_image_layer(img, i);
        const struct digest *parent = i ? &store_image_layer(img, i - 1)->chain_id : NULL;
        if (store_snapshot_ensure(st, parent, &l, err) < 0)
            return -1;
    }
    return 0;
}

int
rootfs_lowers(struct store *st, const struct store_image *img, struct ib_strv *out,
              struct ib_err **err)
{
    size_t n = store_image_nlayers(img);
    for (size_t i = n; i-- > 0;) {
        char *p = NULL;
        const struct digest *chain = &store_image_layer(img, i)->chain_id;
        AUTO_ERR struct ib_err *e = NULL;
        if (store_snapshot_path(st, chain, &p, &e) < 0) {
            /* a cached layer whose snapshot is gone (the store's crash recovery removes
             * snapshots a torn write batch may have left): made again from the blobs */
            if (e->kind != IB_E_STORE || e->sys != ENOENT) {
                *err = ib_steal(&e);
                return -1;
            }
            if (ensure_snapshots(st, img, err) < 0 || store_snapshot_path(st, chain, &p, err) < 0)
                return -1;
        }
        ib_strv_push_owned(out, p);
    }
    return 0;
}

static int
overlay_fd(const struct ib_strv *lowers, int *out, struct ib_err **err)
{
    AUTO_FD int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return ib_fail_errno(err, "fsopen overlay");
    for (size_t i = 0; i < lowers->n; i++) {
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", lowers->v[i], 0) < 0) {
            if (i || errno != EINVAL)
                return ib_fail_errno(err, "overlay lower '%s'", lowers->v[i]);
            /* no lowerdir+ on this kernel: one option string */
            AUTO_BUF struct ib_buf o = IB_BUF_INIT;
            for (size_t j = 0; j < lowers->n; j++)
                ib_buf_addf(&o, "%s%s", j ? ":" : "", lowers->v[j]);
            if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", o.s, 0) < 0)
                return ib_fail_errno(err, "overlay lowerdir");
            break;
        }
    }
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return ib_fail_errno(err, "create read-only overlay of %zu layers", lowers->n);
    AUTO_FD int mfd = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV);
    if (mfd < 0)
        return ib_fail_errno(err, "fsmount overlay");
    int fd = openat(mfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open overlay root");
    *out = fd;
    return 0;
}

int
rootfs_open(struct store *st, const struct store_image *img, int *fd, struct ib_err **err)
{
    AUTO_STRV struct ib_strv lowers = IB_STRV_INIT;
    if (rootfs_lowers(st, img, &lowers, err) < 0)
        return -1;
    if (lowers.n == 0) {
        AUTO_FREE char *tmp = NULL;
        if (store_tmp_mkdir(st, "emptyroot", &tmp, err) < 0)
            return -1;
        *fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rmdir(tmp);
        return *fd < 0 ? ib_fail_errno(err, "open '%s'", tmp) : 0;
    }
    if (lowers.n == 1) {
        *fd = open(lowers.v[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return *fd < 0 ? ib_fail_errno(err, "open snapshot '%s'", lowers.v[0]) : 0;
    }
    return overlay_fd(&lowers, fd, err);
}

/* Append component c (len n) to the clean relative path r. */
static void
push_comp(struct ib_buf *r, const char *c, size_t n)
{
    if (n == 1 && c[0] == '.')
        return;
    if (n == 2 && c[0] == '.' && c[1] == '.') {
        char *slash = strrchr(r->s, '/');
        ib_buf_truncate(r, slash ? (size_t)(slash - r->s) : 0);
        return;
    }
    if (r->len)
        ib_buf_addc(r, '/');
    ib_buf_add(r, c, n);
}

char *
rootfs_resolve(int rootfd, const char *path, bool follow_last)
{
    AUTO_BUF struct ib_buf r = IB_BUF_INIT;
    AUTO_FREE char *rest = ib_xstrdup(path);
    int links = 0;
    bool missing = false;
    char *p = rest;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, "/");
        bool last = p[n] == '\0' || p[n + strspn(p + n, "/")] == '\0';
        size_t before = r.len;
        push_comp(&r, p, n);
        p += n;
        if (missing || r.len <= before || (last && !follow_last))
            continue;
        struct stat st;
        if (fstatat(rootfd, r.s, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            missing = true;
            continue;
        }
        if (!S_ISLNK(st.st_mode) || ++links > 40)
            continue;
        char target[PATH_MAX];
        ssize_t tl = readlinkat(rootfd, r.s, target, sizeof(target) - 1);
        if (tl <= 0)
            continue;
        target[tl] = '\0';
        ib_buf_truncate(&r, before);
        if (target[0] == '/')
            ib_buf_truncate(&r, 0);
        char *nrest = ib_xasprintf("%s/%s", target, p);
        free(rest);
        rest = nrest;
        p = rest;
    }
    return ib_buf_detach(&r, NULL);
}

int
rootfs_read(int rootfd, const char *relpath, struct ib_buf *out)
{
    AUTO_FREE char *r = rootfs_resolve(rootfd, relpath, true);
    AUTO_FD int fd = openat(rootfd, r, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    out->limit = 4 << 20;
    AUTO_ERR struct ib_err *e = NULL;
    return ib_read_fd(fd, out, relpath, &e);
}
