/* builder/context.c: walking and opening the build context through filters.
 *
 * The walk reproduces BuildKit's context transfer filter (tonistiigi/fsutil),
 * as described in conformance README §5.4: matching uses the parents' per-pattern
 * results (df_ignore_match_parents), excluded directories are pruned only when
 * no exception could match below them, and excluded or not-included directories
 * are remembered on a stack so they can be visited late, just before their
 * first surviving descendant.
 */
#include "builder/context.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "parser/parser.h"
#include "common/banned.h"

/* A directory that the walk is inside of, as one layer saw it. */
struct frame {
    char *path;
    size_t len;
    bool *inc_hits, *exc_hits; /* per-pattern results for the children */
    struct stat st;
    bool called;  /* passed on to the next layer already */
    bool skip_fn; /* the next layer asked to skip it */
};

struct layer {
    const struct context_filter *f;
    struct frame *stack;
    size_t n, cap;
};

struct walk {
    struct layer *layers;
    size_t nlayers;
    context_visit_fn visit;
    void *ctx;
    bool left_out; /* the first layer's verdict on the entry last pushed: not passed on */
    struct ib_buf path;
};

static void
frame_release(struct frame *fr)
{
    free(fr->path);
    free(fr->inc_hits);
    free(fr->exc_hits);
}

/* Match path against one pattern list of a layer.  *hits gets the per-pattern
 * flags (caller frees); *prune: a directory that no pattern of the needed kind
 * can reach below. */
static int
layer_match(const struct df_ignore *ig, const char *path, const bool *parent_hits, bool isdir,
            bool want_match, bool **hits, bool *drop, bool *prune, struct ib_err **err)
{
    bool m;
    *hits = ib_xcalloc(df_ignore_count(ig) + 1, sizeof(bool));
    if (df_ignore_match_parents(ig, path, parent_hits, *hits, &m, err) < 0)
        return ib_err_prefix(err, "%s patterns", want_match ? "include" : "exclude");
    *drop = m != want_match;
    /* for include patterns the ordinary ones must reach below; for exclude
     * patterns the exceptions */
    *prune = *drop && isdir && !df_ignore_may_hit_below(ig, path, !want_match);
    return 0;
}

/* Offer one entry to layer k (k == nlayers: the caller's visit callback).
 * Returns 0, CONTEXT_SKIP (do not go into it / skip the rest) or -1. */
static int
layer_push(struct walk *w, size_t k, const char *path, const struct stat *st, struct ib_err **err)
{
    if (k == w->nlayers)
        return w->visit(w->ctx, path, st, err);
    struct layer *L = &w->layers[k];
    size_t len = strlen(path);
    while (L->n) {
        struct frame *top = &L->stack[L->n - 1];
        if (len > top->len && memcmp(path, top->path, top->len) == 0 && path[top->len] == '/')
            break;
        frame_release(top);
        L->n--;
    }
    const struct frame *parent = L->n ? &L->stack[L->n - 1] : NULL;
    bool isdir = S_ISDIR(st->st_mode), skip = false, drop, prune;
    AUTO_FREE bool *inc = NULL;
    AUTO_FREE bool *exc = NULL;
    if (L->f->include) {
        if (layer_match(L->f->include, path, parent ? parent->inc_hits : NULL, isdir, true, &inc,
                        &drop, &prune, err) < 0)
            return -1;
        if (prune)
            return CONTEXT_SKIP;
        skip = drop;
    }
    if (L->f->exclude) {
        if (layer_match(L->f->exclude, path, parent ? parent->exc_hits : NULL, isdir, false, &exc,
                        &drop, &prune, err) < 0)
            return -1;
        if (prune)
            return CONTEXT_SKIP;
        skip = skip || drop;
    }
    if (k == 0)
        w->left_out = skip;
    size_t self = SIZE_MAX;
    if (isdir) {
        IB_GROW(L->stack, L->n + 1, L->cap);
        self = L->n++;
        L->stack[self] = (struct frame){.path = ib_xstrdup(path), .len = len, .st = *st};
        L->stack[self].inc_hits = ib_steal(&inc);
        L->stack[self].exc_hits = ib_steal(&exc);
    }
    if (skip)
        return 0;
    /* visit the ancestors that were left out so far, outermost first */
    size_t nparents = isdir ? L->n - 1 : L->n;
    for (size_t i = 0; i < nparents; i++) {
        if (L->stack[i].skip_fn)
            return CONTEXT_SKIP;
        if (L->stack[i].called)
            continue;
        L->stack[i].called = true;
        int rc = layer_push(w, k + 1, L->stack[i].path, &L->stack[i].st, err);
        if (rc < 0)
            return -1;
        if (rc == CONTEXT_SKIP) {
            L->stack[i].skip_fn = true;
            return CONTEXT_SKIP;
        }
    }
    if (self != SIZE_MAX)
        L->stack[self].called = true;
    return layer_push(w, k + 1, path, st, err);
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a failure to read the directory just pushed may be ignored. */
static bool
read_error_ok(const struct walk *w, int e)
{
    if (e == ENOENT || e == ENOTDIR) /* gone meanwhile */
        return true;
    return (e == EACCES || e == EPERM) && w->left_out;
}

/* Walk the directory open as fd (taken over), whose path is in w->path. */
static int
walk_dir(struct walk *w, int fd, struct ib_err **err)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        if (read_error_ok(w, e))
            return 0;
        return ib_fail_sys(err, e, "read directory '%s'", w->path.len ? w->path.s : ".");
    }
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            ib_strv_push(&names, de->d_name);
        errno = 0;
    }
    if (errno) {
        int e = errno;
        closedir(d);
        if (read_error_ok(w, e))
            return 0;
        return ib_fail_sys(err, e, "read directory '%s'", w->path.len ? w->path.s : ".");
    }
    if (names.n)
        qsort(names.v, names.n, sizeof(*names.v), cmp_names);
    size_t base = w->path.len;
    int rc = 0;
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        ib_buf_truncate(&w->path, base);
        if (base)
            ib_buf_addc(&w->path, '/');
        ib_buf_adds(&w->path, names.v[i]);
        struct stat st;
        if (fstatat(dirfd(d), names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            rc = ib_fail_errno(err, "stat '%s'", w->path.s);
            break;
        }
        w->left_out = false;
        int vr = layer_push(w, 0, w->path.s, &st, err);
        if (vr < 0) {
            rc = -1;
        } else if (vr == CONTEXT_SKIP) {
            if (!S_ISDIR(st.st_mode))
                break; /* as fs.SkipDir from a file: the rest of this directory */
        } else if (S_ISDIR(st.st_mode)) {
            int cfd = openat(dirfd(d), names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0) {
                if (!read_error_ok(w, errno))
                    rc = ib_fail_errno(err, "open directory '%s'", w->path.s);
            } else {
                rc = walk_dir(w, cfd, err);
            }
        }
    }
    ib_buf_truncate(&w->path, base);
    closedir(d);
    return rc;
}

int
context_walk(int rootfd, const struct context_filter *layers, size_t nlayers,
             context_visit_fn visit, void *ctx, struct ib_err **err)
{
    int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open build context");
    struct walk w = {.nlayers = nlayers, .visit = visit, .ctx = ctx, .path = IB_BUF_INIT};
    w.layers = ib_xcalloc(nlayers + 1, sizeof(*w.layers));
    for (size_t i = 0; i < nlayers; i++)
        w.layers[i].f = &layers[i];
    int rc = walk_dir(&w, fd, err);
    for (size_t i = 0; i < nlayers; i++) {
        for (size_t j = 0; j < w.layers[i].n; j++)
            frame_release(&w.layers[i].stack[j]);
        free(w.layers[i].stack);
    }
    free(w.layers);
    ib_buf_release(&w.path);
    return rc;
}

int
context_open(int rootfd, const struct context_filter *layers, size_t nlayers, const char *relpath,
             int flags, int *fd, struct ib_err **err)
{
    AUTO_FREE char *path = df_path_clean(relpath);
    const char *p = path;
    while (*p == '/')
        p++;
    if (!*p)
        p = ".";
    if (strcmp(p, "..") == 0 || strncmp(p, "../", 3) == 0)
        return ib_fail_sys(err, ENOENT, "open '%s': outside the build context", relpath);
    for (size_t i = 0; i < nlayers; i++) {
        bool m;
        if (layers[i].include) {
            if (df_ignore_match(layers[i].include, p, &m, err) < 0)
                return ib_err_prefix(err, "include patterns");
            if (!m)
                return ib_fail_sys(err, ENOENT, "open '%s'", p);
        }
        if (layers[i].exclude) {
            if (df_ignore_match(layers[i].exclude, p, &m, err) < 0)
                return ib_err_prefix(err, "exclude patterns");
            if (m)
                return ib_fail_sys(err, ENOENT, "open '%s'", p);
        }
    }
    /* one component at a time, so that no symlink is followed anywhere */
    AUTO_FD int dir = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return ib_fail_errno(err, "open build context");
    AUTO_FREE char *copy = ib_xstrdup(p);
    char *comp = copy;
    for (;;) {
        char *slash = strchr(comp, '/');
        if (!slash)
            break;
        *slash = '\0';
        int next = openat(dir, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return ib_fail_errno(err, "open '%s'", p);
        close(dir);
        dir = next;
        comp = slash + 1;
    }
    int f = openat(dir, comp, flags | O_NOFOLLOW | O_CLOEXEC);
    if (f < 0)
        return ib_fail_errno(err, "open '%s'", p);
    *fd = f;
    return 0;
}

/* Read path into b; *found = false (and no error) when it does not exist. */
static int
read_optional(const char *path, struct ib_buf *b, bool *found, struct ib_err **err)
{
    AUTO_ERR struct ib_err *e = NULL;
    *found = false;
    if (ib_read_file(path, b, &e) == 0) {
        *found = true;
        return 0;
    }
    if (e->sys == ENOENT || e->sys == ENOTDIR)
        return 0;
    if (err)
        *err = ib_steal(&e);
    return -1;
}

int
context_read_ignore(const char *context_dir, const char *dockerfile, struct ib_strv *patterns,
                    char **source, struct ib_err **err)
{
    AUTO_FREE char *path = NULL;
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    bool found = false;
    if (source)
        *source = NULL;
    if (dockerfile && strcmp(dockerfile, "-") != 0) {
        path = ib_xasprintf("%s.dockerignore", dockerfile);
        if (read_optional(path, &b, &found, err) < 0)
            return -1;
    }
    if (!found) {
        free(path);
        path = ib_path_join(context_dir, ".dockerignore");
        if (read_optional(path, &b, &found, err) < 0)
            return -1;
    }
    if (!found)
        return 0;
    if (df_ignore_read(b.s, b.len, patterns, err) < 0)
        return ib_err_prefix(err, "%s", path);
    if (source)
        *source = ib_steal(&path);
    return 0;
}
