/* builder/addgit.c: ADD <git ref> <dest>: a repository (or one directory of it) at one
 * commit, copied like a directory source of COPY.  The URL's options (a fragment, or
 * BuildKit's query form "?ref=..&subdir=..&keep-git-dir=..&submodules=..") are gitsrc.c's.
 *
 * While the step's cache key is computed, the ref is resolved to a commit with `git
 * ls-remote` (not at all for a full commit id), so an unchanged remote hits the cache without
 * any fetch.  The key holds the commit, the subdir, --keep-git-dir and the destination (and
 * the other flags, as for every COPY/ADD; "submodules=false" only when they are off).  Only on a
 * miss (or with --no-cache) is that commit fetched, shallow, into a temporary dir of the store,
 * checked out there (submodules too) and copied from it.
 *
 * What lands in the image is what BuildKit documents: files 0644, or 0755 when executable in
 * git; dirs 0755; symlinks as links; owner 0:0 unless --chown; no .git unless
 * --keep-git-dir=true or ?keep-git-dir (which keep it only for the whole tree, as BuildKit
 * does; the two must agree when both are given).  Every mtime is the commit's committer time:
 * BuildKit's "git mtime=commit" mode (what it uses with SOURCE_DATE_EPOCH; its default is the
 * checkout time), so a commit always gives the same layer.  --checksum is the expected commit id or
 * a prefix of it (or of an annotated tag's object id).
 */
#include "builder/copy.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/context.h"
#include "builder/gitsrc.h"
#include "builder/runmount.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct df_ignore, df_ignore_free)

struct copy_git {
    struct gitsrc_url url;
    struct gitsrc_rev rev;
    bool keep;   /* --keep-git-dir (or the URL's ?keep-git-dir=), and the whole tree */
    char *shown; /* "URL" or "URL" (ref 'REF') for messages, password redacted */
};

void
copy_git_free(struct copy_git *cg)
{
    if (!cg)
        return;
    gitsrc_url_release(&cg->url);
    gitsrc_rev_release(&cg->rev);
    free(cg->shown);
    free(cg);
}

IB_DEFINE_AUTO(struct copy_git, copy_git_free)

/* HTTP credentials for an http(s) remote, from the build's secrets. */
struct git_auth {
    char *id;            /* the secret's ID */
    char *key;           /* "http.<origin>.extraHeader" */
    struct ib_buf value; /* "Authorization: ..." */
};

static void
git_auth_free(struct git_auth *a)
{
    if (!a)
        return;
    explicit_bzero(a->value.s, a->value.len);
    ib_buf_release(&a->value);
    free(a->id);
    free(a->key);
    free(a);
}

IB_DEFINE_AUTO(struct git_auth, git_auth_free)

/* The first build secret of gitsrc_auth_ids(remote) that is given, as git's extraHeader for
 * the remote's origin only (*out NULL: none, or not http(s)). */
static int
find_auth(struct bctx *b, const char *remote, struct git_auth **out, struct ib_err **err)
{
    *out = NULL;
    AUTO_STRV struct ib_strv ids = IB_STRV_INIT;
    gitsrc_auth_ids(remote, &ids);
    for (size_t i = 0; i < ids.n; i++) {
        AUTO_BUF struct ib_buf raw = IB_BUF_INIT;
        bool found = false;
        int rc = runmount_secret(b, ids.v[i], &raw, &found, err);
        if (rc == 0 && found) {
            IB_AUTO(git_auth_free) struct git_auth *a = ib_xcalloc(1, sizeof(*a));
            a->value = (struct ib_buf)IB_BUF_INIT;
            rc = gitsrc_auth_header(ids.v[i], raw.s, raw.len, &a->value, err);
            AUTO_FREE char *origin = gitsrc_http_origin(remote);
            a->key = ib_xasprintf("http.%s.extraHeader", origin);
            a->id = ib_xstrdup(ids.v[i]);
            if (rc == 0)
                *out = ib_steal(&a);
        }
        explicit_bzero(raw.s, raw.len);
        if (rc < 0 || found)
            return rc;
    }
    return 0;
}

/* How git runs for u: over ssh with the agent of `--ssh default` when the build has one (as
 * BuildKit does for ADD), else the environment's SSH_AUTH_SOCK; IMGBUILD_GIT_KNOWN_HOSTS.  Over
 * http(s), with the credentials of a GIT_AUTH_HEADER or GIT_AUTH_TOKEN secret (*auth, which g
 * points into: free it after the last git command). */
static int
git_run(struct bctx *b, const struct gitsrc_url *u, const char *git, const char *home,
        struct gitsrc_run *g, struct git_auth **auth, struct ib_err **err)
{
    *g = (struct gitsrc_run){.git = git, .home = home, .timeout = gitsrc_timeout()};
    if (!gitsrc_is_ssh(u->remote)) {
        if (find_auth(b, u->remote, auth, err) < 0)
            return -1;
        if (*auth) {
            g->auth_key = (*auth)->key;
            g->auth_value = (*auth)->value.s;
            g->auth_secret = (*auth)->id;
        }
        return 0;
    }
    g->ssh_auth_sock = ssh_agents_socket(b->ssh, "default");
    return gitsrc_known_hosts(&g->known_hosts, err);
}

/* A temporary dir of the store with an empty "home" in it (git's HOME). */
static int
tmp_home(struct bctx *b, char **tmp, char **home, struct ib_err **err)
{
    pthread_mutex_lock(&b->lock);
    int rc = store_tmp_mkdir(b->st, "git", tmp, err);
    pthread_mutex_unlock(&b->lock);
    if (rc < 0)
        return -1;
    *home = ib_path_join(*tmp, "home");
    if (mkdir(*home, 0700) < 0) {
        rc = ib_fail_errno(err, "create '%s'", *home);
        ib_rm_rf_at(AT_FDCWD, *tmp, NULL);
        return rc;
    }
    return 0;
}

static bool
prefix_of(const char *want, const char *id)
{
    size_t n = strlen(want);
    if (!*id || n > strlen(id))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((want[i] | 0x20) != id[i])
            return false;
    return true;
}

/* --checksum (and a "##commit=" or "?checksum=" in the URL) must be a prefix of the commit id, or
 * of the annotated tag's own id. */
static int
check_commit(const struct copy_git *cg, const char *want, const char *what, struct ib_err **err)
{
    if (!want || prefix_of(want, cg->rev.commit) || prefix_of(want, cg->rev.object))
        return 0;
    if (*cg->rev.object)
        return ib_fail(err, IB_E_BUILD,
                       "git repository %s: %s%s matches neither commit %s nor tag object %s",
                       cg->shown, what, want, cg->rev.commit, cg->rev.object);
    return ib_fail(err, IB_E_BUILD, "git repository %s: %s%s does not match commit %s", cg->shown,
                   what, want, cg->rev.commit);
}

int
copy_add_git(struct copyjob *j, const char *src, struct ib_err **err)
{
    IB_AUTO(copy_git_free) struct copy_git *cg = ib_xcalloc(1, sizeof(*cg));
    if (gitsrc_url_parse(src, &cg->url, err) < 0)
        return -1;
    AUTO_FREE char *red = gitsrc_redact(cg->url.remote);
    const char *v = instr_flag(j->in, "keep-git-dir");
    bool flag = false;
    if (v && gitsrc_parse_bool(v, &flag) < 0)
        return ib_fail(err, IB_E_PARSE, "invalid --keep-git-dir '%s' (expected true or false)", v);
    if (v && cg->url.keep_git_dir >= 0 && flag != (cg->url.keep_git_dir == 1))
        return ib_fail(err, IB_E_PARSE,
                       "'%s': --keep-git-dir=%s conflicts with keep-git-dir=%s in the URL", red, v,
                       cg->url.keep_git_dir ? "true" : "false");
    cg->keep = (cg->url.keep_git_dir >= 0 ? cg->url.keep_git_dir == 1 : flag) && !*cg->url.subdir;
    cg->shown = cg->url.ref ? ib_xasprintf("'%s' (ref '%s')", red, cg->url.ref)
                            : ib_xasprintf("'%s' (ref HEAD)", red);
    AUTO_FREE char *git = NULL;
    AUTO_FREE char *tmp = NULL;
    AUTO_FREE char *home = NULL;
    bool local = cg->url.ref && gitsrc_is_commit_id(cg->url.ref); /* no git needed to resolve */
    if (!local && (gitsrc_find_git(&git, err) < 0 || tmp_home(j->b, &tmp, &home, err) < 0))
        return ib_err_prefix(err, "git repository %s", cg->shown);
    struct gitsrc_run g;
    IB_AUTO(git_auth_free) struct git_auth *auth = NULL;
    int rc = git_run(j->b, &cg->url, git, home, &g, &auth, err);
    if (rc == 0)
        rc = gitsrc_resolve(&g, &cg->url, &cg->rev, err);
    if (tmp)
        ib_rm_rf_at(AT_FDCWD, tmp, NULL);
    if (rc < 0)
        return ib_err_prefix(err, "git repository %s", cg->shown);
    if (check_commit(cg, j->checksum, "--checksum=", err) < 0 ||
        check_commit(cg, cg->url.commit, cg->url.commit_key, err) < 0)
        return -1;
    IB_GROW(j->ents, j->n + 1, j->cap);
    struct copy_ent *e = &j->ents[j->n++];
    memset(e, 0, sizeof(*e));
    e->kind = COPY_ENT_GIT;
    e->src = ib_xstrdup(red);
    e->dst = ib_xstrdup(j->dest + 1); /* the tree's contents go into dest, a directory */
    e->st.st_mode = S_IFDIR | 0755;
    e->git = ib_steal(&cg);
    return 0;
}

void
copy_git_inputs(const struct copy_ent *e, struct ib_buf *inputs)
{
    const struct copy_git *cg = e->git;
    ib_buf_addf(inputs, "git %s commit %s subdir /%s keep-git-dir=%d", e->src, cg->rev.commit,
                cg->url.subdir, cg->keep);
    if (cg->keep) /* the ref and the tag object show in .git */
        ib_buf_addf(inputs, " ref %s object %s", cg->rev.refname ? cg->rev.refname : "-",
                    *cg->rev.object ? cg->rev.object : "-");
    if (!cg->url.submodules) /* only when off: the keys of earlier builds stay valid */
        ib_buf_adds(inputs, " submodules=false");
    ib_buf_addf(inputs, " -> /%s\n", e->dst);
}

struct walk {
    struct copyjob *sub;
    const char *dst;
    bool keep;
    struct timespec t;
};

static void
push(struct walk *w, const char *rel, const struct stat *st, int kind)
{
    struct copyjob *j = w->sub;
    IB_GROW(j->ents, j->n + 1, j->cap);
    struct copy_ent *e = &j->ents[j->n++];
    memset(e, 0, sizeof(*e));
    e->src = ib_xstrdup(rel);
    e->dst = !*rel     ? ib_xstrdup(w->dst)
             : *w->dst ? ib_xasprintf("%s/%s", w->dst, rel)
                       : ib_xstrdup(rel);
    e->st = *st;
    e->st.st_mtim = w->t;
    e->kind = kind;
}

static int
visit(void *ctx, const char *rel, const struct stat *st, struct ib_err **err)
{
    struct walk *w = ctx;
    (void)err;
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    if (strcmp(base, ".git") == 0 && !w->keep) /* a repository, or a submodule's .git file */
        return S_ISDIR(st->st_mode) ? CONTEXT_SKIP : 0;
    struct stat s = *st;
    bool dotgit = strcmp(rel, ".git") == 0 || strncmp(rel, ".git/", 5) == 0;
    if (S_ISDIR(s.st_mode) && !dotgit)
        s.st_mode = S_IFDIR | 0755;
    else if (S_ISREG(s.st_mode) && !dotgit)
        s.st_mode = S_IFREG | ((s.st_mode & 0100) ? 0755 : 0644);
    push(w, rel, &s, COPY_ENT_CHILD);
    return 0;
}

/* Open the subdir of the checkout at root, never through a symlink. */
static int
open_subdir(const char *root, const char *subdir, int *fd)
{
    *fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (const char *p = subdir; *fd >= 0 && *p;) {
        size_t n = strcspn(p, "/");
        AUTO_FREE char *name = ib_xstrndup(p, n);
        int next = openat(*fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(*fd);
        *fd = next;
        p += n + (p[n] == '/');
    }
    return *fd < 0 ? -1 : 0;
}

int
copy_git_checkout(struct copyjob *j, const struct copy_ent *e, struct copyjob *sub, int *treefd,
                  char **tmp, struct ib_err **err)
{
    const struct copy_git *cg = e->git;
    AUTO_FREE char *git = NULL;
    AUTO_FREE char *home = NULL;
    if (gitsrc_find_git(&git, err) < 0 || tmp_home(j->b, tmp, &home, err) < 0)
        return ib_err_prefix(err, "git repository %s", cg->shown);
    struct gitsrc_run g;
    IB_AUTO(git_auth_free) struct git_auth *auth = NULL;
    AUTO_FREE char *tree = ib_path_join(*tmp, "tree");
    long long ctime = 0;
    if (git_run(j->b, &cg->url, git, home, &g, &auth, err) < 0 ||
        gitsrc_checkout(&g, &cg->url, &cg->rev, tree, cg->keep, &ctime, err) < 0)
        return ib_err_prefix(err, "git repository %s", cg->shown);
    if (open_subdir(tree, cg->url.subdir, treefd) < 0)
        return ib_fail(err, IB_E_BUILD,
                       "git repository %s: subdir '%s' is not a directory at commit %s", cg->shown,
                       cg->url.subdir, cg->rev.commit);
    IB_AUTO(df_ignore_free) struct df_ignore *exc = NULL;
    struct context_filter layer = {0};
    if (j->excludes.n) {
        if (df_ignore_new(j->excludes.v, j->excludes.n, &exc, err) < 0)
            return -1;
        layer.exclude = exc;
    }
    struct walk w = {.sub = sub, .dst = e->dst, .keep = cg->keep, .t = {.tv_sec = ctime}};
    struct stat top = {.st_mode = S_IFDIR | 0755};
    push(&w, "", &top, COPY_ENT_TOP);
    return context_walk(*treefd, &layer, exc ? 1 : 0, visit, &w, err);
}
