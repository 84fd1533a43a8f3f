/* builder/copy_write.c: the COPY/ADD instruction (flags, cache key) and writing its
 * entries into the upper dir; WORKDIR's mkdir; rootfs exports.
 */
#include "builder/copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "builder/context.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

struct dirtime {
    char *path;
    struct timespec t;
};

struct writer {
    struct copyjob *j;
    int srcfd;
    struct dirtime *dt;
    size_t ndt, cap;
    const char *top_dst; /* dst and resolved path of the last top entry */
    char *top_real;
};

static void
note_time(struct writer *w, const char *path, struct timespec t)
{
    IB_GROW(w->dt, w->ndt + 1, w->cap);
    w->dt[w->ndt].path = ib_xstrdup(path);
    w->dt[w->ndt].t = t;
    w->ndt++;
}

static int
remove_existing(int upfd, const char *path, bool keep_dir, struct ib_err **err)
{
    struct stat st;
    if (fstatat(upfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir)
            return 1;
        return ib_rm_rf_at(upfd, path, err);
    }
    if (unlinkat(upfd, path, 0) < 0)
        return ib_fail_errno(err, "remove '%s'", path);
    return 0;
}

static void
owner_of(const struct copyjob *j, const struct stat *st, bool keep, uid_t *u, gid_t *g)
{
    *u = j->chown ? j->uid : keep ? st->st_uid : 0;
    *g = j->chown ? j->gid : keep ? st->st_gid : 0;
}

/* Create every missing parent of path in the upper dir, copying the metadata of the dirs
 * that exist in the stage's filesystem; new ones are 0755 and owned by --chown's user. */
static int
ensure_parents(struct writer *w, const char *path, struct ib_err **err)
{
    struct copyjob *j = w->j;
    AUTO_FREE char *p = ib_xstrdup(path);
    for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        struct stat st;
        if (fstatat(j->upfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
            *s = '/';
            continue;
        }
        if (remove_existing(j->upfd, p, false, err) < 0)
            return -1;
        if (j->rootfd >= 0 && fstatat(j->rootfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode)) {
            if (mkdirat(j->upfd, p, st.st_mode & 07777) < 0 ||
                fchownat(j->upfd, p, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                fchmodat(j->upfd, p, st.st_mode & 07777, 0) < 0)
                return ib_fail_errno(err, "create '/%s'", p);
            note_time(w, p, st.st_mtim);
        } else {
            if (mkdirat(j->upfd, p, 0755) < 0 ||
                fchownat(j->upfd, p, j->chown ? j->uid : 0, j->chown ? j->gid : 0,
                         AT_SYMLINK_NOFOLLOW) < 0)
                return ib_fail_errno(err, "create '/%s'", p);
        }
        *s = '/';
    }
    return 0;
}

static int
copy_data(int in, int out, const char *what, struct ib_err **err)
{
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return ib_fail_errno(err, "copy '%s'", what);
        break;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ib_fail_errno(err, "read '%s'", what);
        if (n == 0)
            return 0;
        if (ib_write_all(out, buf, (size_t)n, what, err) < 0)
            return -1;
    }
}

static int
put_meta_fd(struct writer *w, int fd, const char *path, const struct stat *st, bool keep,
            bool isdir, struct ib_err **err)
{
    uid_t u;
    gid_t g;
    owner_of(w->j, st, keep, &u, &g);
    mode_t mode = st->st_mode & 07777;
    if (w->j->chmod && copy_chmod(w->j->chmod, mode, isdir, &mode) < 0)
        return ib_fail(err, IB_E_PARSE, "invalid --chmod '%s'", w->j->chmod);
    if (fchown(fd, u, g) < 0 || fchmod(fd, mode & 07777) < 0)
        return ib_fail_errno(err, "set owner and mode of '/%s'", path);
    struct timespec t[2] = {st->st_mtim, st->st_mtim};
    if (!isdir && futimens(fd, t) < 0)
        return ib_fail_errno(err, "set times of '/%s'", path);
    return 0;
}

static int
write_one(struct writer *w, const struct copy_ent *e, const char *real, bool keep,
          struct ib_err **err)
{
    struct copyjob *j = w->j;
    const struct stat *st = &e->st;
    if (!*real)
        return 0; /* the root itself */
    if (ensure_parents(w, real, err) < 0)
        return -1;
    if (S_ISDIR(st->st_mode)) {
        int r = remove_existing(j->upfd, real, true, err);
        if (r < 0)
            return -1;
        struct stat old;
        bool exists = r == 1 || (j->rootfd >= 0 && e->kind == COPY_ENT_TOP &&
                                 fstatat(j->rootfd, real, &old, 0) == 0 && S_ISDIR(old.st_mode));
        if (r == 0 && mkdirat(j->upfd, real, 0755) < 0)
            return ib_fail_errno(err, "create '/%s'", real);
        AUTO_FD int fd = openat(j->upfd, real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return ib_fail_errno(err, "open '/%s'", real);
        if (exists && e->kind == COPY_ENT_TOP) {
            if (r == 0 &&
                (fchown(fd, old.st_uid, old.st_gid) < 0 || fchmod(fd, old.st_mode & 07777) < 0))
                return ib_fail_errno(err, "set owner of '/%s'", real);
            if (r == 0)
                note_time(w, real, old.st_mtim);
            return 0;
        }
        if (put_meta_fd(w, fd, real, st, keep, true, err) < 0)
            return -1;
        note_time(w, real, st->st_mtim);
        return 0;
    }
    if (remove_existing(j->upfd, real, false, err) < 0)
        return -1;
    if (S_ISREG(st->st_mode)) {
        AUTO_FD int in = -1;
        if (e->kind == COPY_ENT_URL) {
            struct digest d;
            uint64_t size;
            if (digest_parse(e->src, &d, err) < 0 ||
                store_blob_open(j->b->st, &d, &in, &size, err) < 0)
                return -1;
        } else if (e->kind != COPY_ENT_HEREDOC) {
            in = openat(w->srcfd, e->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (in < 0)
                return ib_fail_errno(err, "open source '%s'", e->src);
        }
        AUTO_FD int out =
            openat(j->upfd, real, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
            return ib_fail_errno(err, "create '/%s'", real);
        if (e->kind == COPY_ENT_HEREDOC) {
            if (ib_write_all(out, e->data, strlen(e->data), real, err) < 0)
                return -1;
        } else if (copy_data(in, out, e->src, err) < 0) {
            return -1;
        }
        return put_meta_fd(w, out, real, st, keep, false, err);
    }
    uid_t u;
    gid_t g;
    owner_of(j, st, keep, &u, &g);
    if (S_ISLNK(st->st_mode)) {
        char target[4096];
        ssize_t n = readlinkat(w->srcfd, e->src, target, sizeof(target) - 1);
        if (n < 0)
            return ib_fail_errno(err, "read link '%s'", e->src);
        target[n] = '\0';
        if (symlinkat(target, j->upfd, real) < 0)
            return ib_fail_errno(err, "create link '/%s'", real);
    } else if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)) {
        return 0; /* a whiteout from an unpacked archive: nothing to copy */
    } else if (mknodat(j->upfd, real, st->st_mode, st->st_rdev) < 0) {
        return ib_fail_errno(err, "create '/%s'", real);
    }
    struct timespec t[2] = {st->st_mtim, st->st_mtim};
    if (fchownat(j->upfd, real, u, g, AT_SYMLINK_NOFOLLOW) < 0 ||
        utimensat(j->upfd, real, t, AT_SYMLINK_NOFOLLOW) < 0)
        return ib_fail_errno(err, "set owner of '/%s'", real);
    return 0;
}

/* Where an entry lands: top entries are resolved through the stage's symlinks; children
 * follow their top. */
static char *
real_path(struct writer *w, const struct copy_ent *e)
{
    struct copyjob *j = w->j;
    if (e->kind == COPY_ENT_CHILD && w->top_real) {
        size_t n = strlen(w->top_dst);
        const char *rest = e->dst + n;
        if (n == 0)
            return *w->top_real ? ib_xasprintf("%s/%s", w->top_real, rest) : ib_xstrdup(rest);
        return ib_xasprintf("%s%s", w->top_real, rest);
    }
    char *r = NULL;
    if (j->rootfd >= 0) {
        AUTO_FREE char *abs = ib_xasprintf("/%s", e->dst);
        r = rootfs_resolve(j->rootfd, abs, S_ISDIR(e->st.st_mode));
    } else {
        r = ib_xstrdup(e->dst);
    }
    free(w->top_real);
    w->top_real = ib_xstrdup(r);
    w->top_dst = e->dst;
    return r;
}

static int write_archive(struct writer *w, const struct copy_ent *e, struct ib_err **err);
static int write_git(struct writer *w, const struct copy_ent *e, struct ib_err **err);

static int
write_all(struct writer *w, struct ib_err **err)
{
    struct copyjob *j = w->j;
    for (size_t i = 0; i < j->n; i++) {
        const struct copy_ent *e = &j->ents[i];
        if (e->kind == COPY_ENT_ARCHIVE || e->kind == COPY_ENT_GIT) {
            if ((e->kind == COPY_ENT_GIT ? write_git(w, e, err) : write_archive(w, e, err)) < 0)
                return -1;
            continue;
        }
        AUTO_FREE char *real = real_path(w, e);
        if (write_one(w, e, real, j->keep_owner, err) < 0)
            return -1;
    }
    return 0;
}

struct tree_collect {
    struct copyjob *j;
    const char *dst;
};

static int
tree_visit(void *ctx, const char *rel, const struct stat *st, struct ib_err **err)
{
    struct tree_collect *c = ctx;
    (void)err;
    struct copyjob *j = c->j;
    IB_GROW(j->ents, j->n + 1, j->cap);
    struct copy_ent *e = &j->ents[j->n++];
    memset(e, 0, sizeof(*e));
    e->src = ib_xstrdup(rel);
    e->dst = *c->dst ? ib_xasprintf("%s/%s", c->dst, rel) : ib_xstrdup(rel);
    e->st = *st;
    e->kind = COPY_ENT_CHILD;
    return 0;
}

static void
free_ents(struct copyjob *sub)
{
    for (size_t i = 0; i < sub->n; i++) {
        free(sub->ents[i].src);
        free(sub->ents[i].dst);
    }
    free(sub->ents);
    sub->ents = NULL;
    sub->n = sub->cap = 0;
}

/* Write sub's entries (a tree under srcfd, its top entry first) with a writer of their own;
 * keep: the owners of the files below the top come with them.  The times of the dirs to set
 * at the end go to w. */
static int
write_tree(struct writer *w, struct copyjob *sub, int srcfd, bool keep, struct ib_err **err)
{
    struct writer sw = {.j = sub, .srcfd = srcfd};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sub->n; i++) {
        const struct copy_ent *e = &sub->ents[i];
        AUTO_FREE char *real = real_path(&sw, e);
        rc = write_one(&sw, e, real, keep && e->kind != COPY_ENT_TOP, err);
    }
    for (size_t i = 0; i < sw.ndt; i++) {
        note_time(w, sw.dt[i].path, sw.dt[i].t);
        free(sw.dt[i].path);
    }
    free(sw.dt);
    free(sw.top_real);
    return rc;
}

/* ADD of a local archive: unpacked into a temporary dir, then copied with its owners.
 * A file that does not unpack (a compressed non-tar) is copied as it is. */
static int
write_archive(struct writer *w, const struct copy_ent *e, struct ib_err **err)
{
    struct copyjob *j = w->j;
    AUTO_FREE char *tmp = NULL;
    pthread_mutex_lock(&j->b->lock);
    int rc = store_tmp_mkdir(j->b->st, "add", &tmp, err);
    pthread_mutex_unlock(&j->b->lock);
    if (rc < 0)
        return -1;
    AUTO_FD int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    AUTO_FD int afd = openat(w->srcfd, e->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    AUTO_ERR struct ib_err *ue = NULL;
    if (tfd < 0 || afd < 0) {
        rc = ib_fail_errno(err, "open '%s'", e->src);
    } else if (store_unpack_archive_fd(afd, tfd, &ue) < 0) {
        /* not an archive after all: an ordinary file in dest */
        const char *base = strrchr(e->src, '/');
        struct copy_ent f = *e;
        f.kind = COPY_ENT_TOP;
        f.dst = j->dest_dir ? ib_xasprintf("%s/%s", e->dst, base ? base + 1 : e->src)
                            : ib_xstrdup(e->dst);
        AUTO_FREE char *real = real_path(w, &f);
        rc = write_one(w, &f, real, false, err);
        free(f.dst);
    } else {
        struct copyjob sub = *j;
        sub.ents = NULL;
        sub.n = sub.cap = 0;
        IB_GROW(sub.ents, 1, sub.cap);
        sub.ents[sub.n++] = (struct copy_ent){.src = ib_xstrdup(""),
                                              .dst = ib_xstrdup(e->dst),
                                              .st.st_mode = S_IFDIR | 0755,
                                              .kind = COPY_ENT_TOP};
        struct tree_collect c = {.j = &sub, .dst = e->dst};
        rc = context_walk(tfd, NULL, 0, tree_visit, &c, err);
        if (rc == 0)
            rc = write_tree(w, &sub, tfd, true, err);
        free_ents(&sub);
    }
    ib_rm_rf_at(AT_FDCWD, tmp, NULL);
    return rc;
}

/* ADD <git ref>: checked out into a temporary dir (addgit.c), copied from there like a
 * directory of the context (owners 0 or --chown). */
static int
write_git(struct writer *w, const struct copy_ent *e, struct ib_err **err)
{
    struct copyjob sub = *w->j;
    sub.ents = NULL;
    sub.n = sub.cap = 0;
    AUTO_FREE char *tmp = NULL;
    AUTO_FD int tfd = -1;
    int rc = copy_git_checkout(w->j, e, &sub, &tfd, &tmp, err);
    if (rc == 0)
        rc = write_tree(w, &sub, tfd, false, err);
    free_ents(&sub);
    if (tmp)
        ib_rm_rf_at(AT_FDCWD, tmp, NULL);
    return rc;
}

int
copy_write(struct copyjob *j, struct ib_err **err)
{
    struct writer w = {.j = j, .srcfd = j->srcfd};
    int rc = write_all(&w, err);
    for (size_t i = w.ndt; i-- > 0;) {
        struct timespec t[2] = {w.dt[i].t, w.dt[i].t};
        if (rc == 0)
            utimensat(j->upfd, w.dt[i].path, t, AT_SYMLINK_NOFOLLOW);
        free(w.dt[i].path);
    }
    free(w.dt);
    free(w.top_real);
    return rc;
}

/* ---- exports ----------------------------------------------------------------------- */

int
copy_tree_to_dir(int srcfd, const char *dir, struct ib_err **err)
{
    if (ib_mkdir_p(AT_FDCWD, dir, 0755, err) < 0)
        return -1;
    AUTO_FD int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ib_fail_errno(err, "open '%s'", dir);
    struct bctx b = {.ctxfd = -1};
    struct copyjob j = {.b = &b, .srcfd = -1, .rootfd = -1, .upfd = dfd, .keep_owner = true};
    struct tree_collect c = {.j = &j, .dst = ""};
    int rc = context_walk(srcfd, NULL, 0, tree_visit, &c, err);
    if (rc == 0) {
        struct writer w = {.j = &j, .srcfd = srcfd};
        for (size_t i = 0; rc == 0 && i < j.n; i++)
            rc = write_one(&w, &j.ents[i], j.ents[i].dst, true, err);
        for (size_t i = w.ndt; i-- > 0;) {
            struct timespec t[2] = {w.dt[i].t, w.dt[i].t};
            if (rc == 0)
                utimensat(dfd, w.dt[i].path, t, AT_SYMLINK_NOFOLLOW);
            free(w.dt[i].path);
        }
        free(w.dt);
        free(w.top_real);
    }
    copyjob_release(&j);
    return rc;
}
