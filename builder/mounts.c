/* builder/mounts.c: the extra mounts of a RUN step (RUN --mount), both sides.
 *
 * The parent checks the mounts, sorts them by target (a parent dir before what
 * is mounted below it) and prepares what the child cannot allocate: scratch
 * dirs <scratch>/mN/{mnt,upper,work} and overlay option strings.
 *
 * The child, in its own mount namespace and before pivot_root, turns every
 * mount into a detached tree: open_tree(OPEN_TREE_CLONE) of a host path, of a
 * path inside an overlay it mounted on mN/mnt (a read-only view of a stage,
 * writes going to mN/upper), or of a file written on a private tmpfs; fsmount
 * of a new tmpfs.  Read-only trees get MOUNT_ATTR_RDONLY recursively.  After
 * pivot_root (and /dev, /proc, /sys, /etc) each tree is moved onto its target,
 * which is resolved with openat2(RESOLVE_IN_ROOT) so no symlink leads out of
 * the root.  Missing components are created and reported as stubs, with the
 * dirs that got them, so the parent can leave the upper dir as the step made it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "builder/child.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

/* ---- parent ------------------------------------------------------------------ */

static int
cmp_target(const void *a, const void *b)
{
    const struct child_mount *x = a, *y = b;
    return strcmp(x->m->target, y->m->target);
}

static bool
clean_abs(const char *p)
{
    if (p[0] != '/' || strlen(p) > 400)
        return false;
    for (const char *s = p; *s; s++)
        if (s[0] == '/' && (s[1] == '/' || (s[1] == '.' && (s[2] == '/' || !s[2])) ||
                            (s[1] == '.' && s[2] == '.' && (s[3] == '/' || !s[3]))))
            return false;
    return true;
}

int
sandbox_mounts_plan(const struct sandbox_cfg *cfg, const char *scratch, struct child_plan *p,
                    struct ib_err **err)
{
    if (cfg->nmounts == 0)
        return 0;
    p->mounts = ib_xcalloc(cfg->nmounts, sizeof(*p->mounts));
    p->nmounts = cfg->nmounts;
    for (size_t i = 0; i < cfg->nmounts; i++) {
        p->mounts[i].m = &cfg->mounts[i];
        p->mounts[i].tree = -1;
    }
    for (size_t i = 0; i < cfg->nmounts; i++) {
        const struct sandbox_mount *m = &cfg->mounts[i];
        if (!m->target || !clean_abs(m->target) || strcmp(m->target, "/") == 0)
            return ib_fail(err, IB_E_SANDBOX, "mount target '%s' is not a clean absolute path",
                           m->target ? m->target : "");
        switch (m->type) {
        case SANDBOX_MOUNT_BIND:
            if (!m->source || (!m->nlowers && m->source[0] != '/'))
                return ib_fail(err, IB_E_SANDBOX, "bind mount on '%s' needs a source", m->target);
            break;
        case SANDBOX_MOUNT_TMPFS:
            break;
        case SANDBOX_MOUNT_FILE:
            if (m->len > (64u << 20))
                return ib_fail(err, IB_E_SANDBOX, "file for '%s' is too large", m->target);
            break;
        default:
            return ib_fail(err, IB_E_SANDBOX, "unknown mount type %d", (int)m->type);
        }
    }
    qsort(p->mounts, p->nmounts, sizeof(*p->mounts), cmp_target);
    for (size_t i = 0; i + 1 < p->nmounts; i++)
        if (strcmp(p->mounts[i].m->target, p->mounts[i + 1].m->target) == 0)
            return ib_fail(err, IB_E_SANDBOX, "two mounts on '%s'", p->mounts[i].m->target);
    for (size_t i = 0; i < p->nmounts; i++) {
        struct child_mount *c = &p->mounts[i];
        const struct sandbox_mount *m = c->m;
        bool view = m->type == SANDBOX_MOUNT_BIND && m->nlowers;
        if (!view && m->type != SANDBOX_MOUNT_FILE)
            continue;
        c->dir = ib_xasprintf("%s/m%zu", scratch, i);
        c->mnt = ib_path_join(c->dir, "mnt");
        if (mkdir(c->dir, 0700) < 0 || mkdir(c->mnt, 0755) < 0)
            return ib_fail_errno(err, "create '%s'", c->mnt);
        if (m->type == SANDBOX_MOUNT_FILE) {
            c->file = ib_path_join(c->mnt, "data");
            continue;
        }
        AUTO_FREE char *up = ib_path_join(c->dir, "upper");
        AUTO_FREE char *work = ib_path_join(c->dir, "work");
        if (mkdir(up, 0755) < 0 || mkdir(work, 0755) < 0)
            return ib_fail_errno(err, "create '%s'", up);
        if (overlay_plan_init(&c->ov, m->lowers, m->nlowers, up, work, cfg->legacy_mount, err) < 0)
            return -1;
        /* the plan keeps pointers to up and work: keep them alive in the plan's strings */
        c->ov.upper = ib_xstrdup(up);
        c->ov.work = ib_xstrdup(work);
    }
    return 0;
}

void
sandbox_mounts_release(struct child_plan *p)
{
    for (size_t i = 0; i < p->nmounts; i++) {
        struct child_mount *c = &p->mounts[i];
        free((void *)c->ov.upper);
        free((void *)c->ov.work);
        c->ov.upper = c->ov.work = NULL;
        overlay_plan_release(&c->ov);
        if (c->dir)
            ib_rm_rf_at(AT_FDCWD, c->dir, NULL);
        free(c->dir);
        free(c->mnt);
        free(c->file);
    }
    free(p->mounts);
    p->mounts = NULL;
    p->nmounts = 0;
}

/* ---- child: detached trees ------------------------------------------------------ */

static int
fail(char *msg, size_t msgsz, const char *what, const char *target)
{
    snprintf(msg, msgsz, "RUN --mount on '%s': %s", target, what);
    return -1;
}

static long
openat2_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

static int
tmpfs_tree(const struct sandbox_mount *m, int64_t size, int mode)
{
    int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0)
        return -1;
    char v[32];
    int rc = 0;
    if (size > 0) {
        snprintf(v, sizeof(v), "%lld", (long long)size);
        rc |= fsconfig(fs, FSCONFIG_SET_STRING, "size", v, 0);
    }
    snprintf(v, sizeof(v), "%o", (unsigned)mode);
    rc |= fsconfig(fs, FSCONFIG_SET_STRING, "mode", v, 0);
    snprintf(v, sizeof(v), "%lld", (long long)(m->uid > 0 ? m->uid : 0));
    rc |= fsconfig(fs, FSCONFIG_SET_STRING, "uid", v, 0);
    snprintf(v, sizeof(v), "%lld", (long long)(m->gid > 0 ? m->gid : 0));
    rc |= fsconfig(fs, FSCONFIG_SET_STRING, "gid", v, 0);
    if (rc < 0 || fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        int e = errno;
        close(fs);
        errno = e;
        return -1;
    }
    int t = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    int e = errno;
    close(fs);
    errno = e;
    return t;
}

/* The file of a FILE mount, on a tmpfs mounted on c->mnt. */
static int
file_tree(struct child_mount *c)
{
    const struct sandbox_mount *m = c->m;
    int t = tmpfs_tree(m, (int64_t)m->len + (64 << 10), 0755);
    if (t < 0)
        return -1;
    int rc = move_mount(t, "", AT_FDCWD, c->mnt, MOVE_MOUNT_F_EMPTY_PATH);
    close(t);
    if (rc < 0)
        return -1;
    int fd = open(c->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    const char *p = m->data;
    for (size_t done = 0; done < m->len;) {
        ssize_t w = write(fd, p + done, m->len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    if (fchown(fd, (uid_t)(m->uid > 0 ? m->uid : 0), (gid_t)(m->gid > 0 ? m->gid : 0)) < 0 ||
        fchmod(fd, (mode_t)(m->mode >= 0 ? m->mode : 0400)) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return open_tree(AT_FDCWD, c->file, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
}

/* A path inside the overlay view mounted on c->mnt. */
static int
view_tree(struct child_mount *c, char *msg, size_t msgsz)
{
    if (overlay_mount_child(&c->ov, c->mnt, msg, msgsz) < 0)
        return -1;
    int root = open(c->mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return -1;
    const char *src = c->m->source;
    while (*src == '/')
        src++;
    long fd = openat2_in_root(root, *src ? src : ".", O_PATH);
    int e = errno;
    close(root);
    if (fd < 0) {
        errno = e;
        snprintf(msg, msgsz, "RUN --mount on '%s': source '%s'", c->m->target, c->m->source);
        return -1;
    }
    int t =
        open_tree((int)fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    e = errno;
    close((int)fd);
    errno = e;
    return t;
}

int
child_mounts_prepare(struct child_plan *p, char *msg, size_t msgsz)
{
    for (size_t i = 0; i < p->nmounts; i++) {
        struct child_mount *c = &p->mounts[i];
        const struct sandbox_mount *m = c->m;
        msg[0] = '\0';
        switch (m->type) {
        case SANDBOX_MOUNT_BIND:
            if (m->nlowers)
                c->tree = view_tree(c, msg, msgsz);
            else
                c->tree = open_tree(AT_FDCWD, m->source,
                                    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
            break;
        case SANDBOX_MOUNT_TMPFS:
            c->tree = tmpfs_tree(m, m->size, m->mode >= 0 ? m->mode : 01777);
            break;
        case SANDBOX_MOUNT_FILE:
            c->tree = file_tree(c);
            break;
        default:
            errno = EINVAL;
            c->tree = -1;
            break;
        }
        if (c->tree < 0)
            return msg[0] ? -1 : fail(msg, msgsz, "cannot make the mount", m->target);
        if (m->readonly || m->type == SANDBOX_MOUNT_FILE) {
            struct mount_attr a;
            memset(&a, 0, sizeof(a));
            a.attr_set = MOUNT_ATTR_RDONLY;
            if (mount_setattr(c->tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
                return fail(msg, msgsz, "cannot make it read-only", m->target);
        }
    }
    return 0;
}

/* ---- child: targets ---------------------------------------------------------------- */

/* Dirs that got stubs (and their ancestors), reported once every mount is attached. */
#define MAX_PARENTS 64
static struct child_msg parents[MAX_PARENTS];
static size_t nparents;

/* Note rel (relative to the root, "" = the root itself) and its ancestors. */
static void
note_parents(struct child_plan *p, const char *rel)
{
    char path[sizeof(parents[0].text)];
    snprintf(path, sizeof(path), "%s", rel);
    while (path[0]) {
        bool seen = false;
        for (size_t i = 0; i < nparents && !seen; i++)
            seen = strcmp(parents[i].text, path) == 0;
        struct stat st;
        if (!seen && nparents < MAX_PARENTS &&
            fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
            struct child_msg *m = &parents[nparents++];
            memset(m, 0, sizeof(*m));
            m->type = CHILD_MSG_PARENT;
            m->mode = st.st_mode;
            m->uid = st.st_uid;
            m->gid = st.st_gid;
            child_stat_times(&st, m->mtime_before, m->atime_before);
            struct stat ust;
            m->in_upper_before = fstatat(p->upper_fd, path, &ust, AT_SYMLINK_NOFOLLOW) == 0;
            snprintf(m->text, sizeof(m->text), "%s", path);
        }
        char *slash = strrchr(path, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
}

/* The path of an fd relative to the root ("" for the root), into out. */
static int
fd_relpath(int fd, char *out, size_t outsz)
{
    char link[64], buf[600];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, sizeof(buf) - 1);
    if (n <= 0 || n >= (ssize_t)sizeof(buf) - 1 || buf[0] != '/') {
        errno = ENAMETOOLONG;
        return -1;
    }
    buf[n] = '\0';
    if ((size_t)snprintf(out, outsz, "%s", buf + 1) >= outsz) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Open the target (O_PATH) inside the root, creating what is missing: dirs, and a
 * file as the last component when is_dir is false. */
static int
open_target(struct child_plan *p, int rootfd, const char *target, bool is_dir, char *msg,
            size_t msgsz)
{
    char path[512];
    snprintf(path, sizeof(path), "%s", target);
    size_t len = strlen(path);
    for (size_t end = 1; end <= len; end++) {
        if (end < len && path[end] != '/')
            continue;
        bool last = end == len;
        char saved = path[end];
        path[end] = '\0';
        long fd = openat2_in_root(rootfd, path, O_PATH);
        if (fd < 0 && errno != ENOENT) {
            path[end] = saved;
            return fail(msg, msgsz, "cannot resolve the target", target);
        }
        if (fd < 0) {
            /* create it in the dir its parent resolves to */
            char *slash = strrchr(path, '/');
            const char *name = slash + 1;
            *slash = '\0';
            long dfd = openat2_in_root(rootfd, path[0] ? path : "/", O_PATH | O_DIRECTORY);
            *slash = '/';
            char rel[sizeof(parents[0].text)];
            if (dfd < 0 || fd_relpath((int)dfd, rel, sizeof(rel) - 256) < 0) {
                if (dfd >= 0)
                    close((int)dfd);
                path[end] = saved;
                return fail(msg, msgsz, "cannot resolve the target's parent", target);
            }
            note_parents(p, rel);
            int r = last && !is_dir ? mknodat((int)dfd, name, S_IFREG | 0644, 0)
                                    : mkdirat((int)dfd, name, 0755);
            if (r < 0) {
                close((int)dfd);
                path[end] = saved;
                return fail(msg, msgsz,
                            errno == EEXIST ? "a symlink in the path leads to a missing path"
                                            : "cannot create the mount point",
                            target);
            }
            struct child_msg stub;
            memset(&stub, 0, sizeof(stub));
            stub.type = CHILD_MSG_STUB;
            stub.is_dir = !(last && !is_dir);
            if (snprintf(stub.text, sizeof(stub.text), "%s%s%s", rel, rel[0] ? "/" : "", name) >=
                (int)sizeof(stub.text))
                stub.text[0] = '\0'; /* cannot happen: rel and name are short */
            child_send(&stub);
            close((int)dfd);
            fd = openat2_in_root(rootfd, path, O_PATH);
            if (fd < 0) {
                path[end] = saved;
                return fail(msg, msgsz, "cannot open the new mount point", target);
            }
        }
        struct stat st;
        if (fstat((int)fd, &st) < 0 || (!last && !S_ISDIR(st.st_mode)) ||
            (last && is_dir != S_ISDIR(st.st_mode))) {
            close((int)fd);
            path[end] = saved;
            errno = last ? (is_dir ? ENOTDIR : EISDIR) : ENOTDIR;
            return fail(msg, msgsz, "the target in the image is of another kind", target);
        }
        path[end] = saved;
        if (last)
            return (int)fd;
        close((int)fd);
    }
    errno = EINVAL;
    return fail(msg, msgsz, "bad target", target);
}

int
child_mounts_attach(struct child_plan *p, char *msg, size_t msgsz)
{
    if (p->nmounts == 0)
        return 0;
    int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return fail(msg, msgsz, "cannot open the root", "/");
    nparents = 0;
    for (size_t i = 0; i < p->nmounts; i++) {
        struct child_mount *c = &p->mounts[i];
        struct stat st;
        if (fstat(c->tree, &st) < 0) {
            close(rootfd);
            return fail(msg, msgsz, "cannot stat the mount", c->m->target);
        }
        int t = open_target(p, rootfd, c->m->target, S_ISDIR(st.st_mode), msg, msgsz);
        if (t < 0) {
            close(rootfd);
            return -1;
        }
        int rc = move_mount(c->tree, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
        close(t);
        close(c->tree);
        c->tree = -1;
        if (rc < 0) {
            close(rootfd);
            return fail(msg, msgsz, "cannot attach the mount", c->m->target);
        }
    }
    close(rootfd);
    for (size_t i = 0; i < nparents; i++) {
        struct stat st;
        if (fstatat(AT_FDCWD, parents[i].text, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            child_stat_times(&st, parents[i].mtime_after, NULL);
            child_send(&parents[i]);
        }
    }
    return 0;
}
