/* builder/copy_cmd.c: the COPY/ADD instruction (flags, sources, cache key, commit),
 * WORKDIR's mkdir and the rootfs export. */
#include "builder/copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/gitsrc.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store_image, store_image_free)

/* $VAR and ${VAR} in a heredoc body (unquoted delimiter), other text as is. */
static void
expand_heredoc(struct bstage *s, const char *text, struct ib_buf *out)
{
    AUTO_STRV struct ib_strv env = IB_STRV_INIT;
    store_image_config_strv(s->img, "Env", &env);
    for (const char *p = text; *p; p++) {
        if (*p == '\\' && p[1] == '$') {
            ib_buf_addc(out, '$');
            p++;
            continue;
        }
        if (*p != '$') {
            ib_buf_addc(out, *p);
            continue;
        }
        bool brace = p[1] == '{';
        const char *n = p + 1 + brace;
        size_t len = 0;
        while (n[len] == '_' || (n[len] >= 'a' && n[len] <= 'z') ||
               (n[len] >= 'A' && n[len] <= 'Z') || (len && n[len] >= '0' && n[len] <= '9'))
            len++;
        if (!len || (brace && n[len] != '}')) {
            ib_buf_addc(out, *p);
            continue;
        }
        AUTO_FREE char *name = ib_xstrndup(n, len);
        const char *v = NULL;
        for (size_t i = 0; i < env.n && !v; i++)
            if (strncmp(env.v[i], name, len) == 0 && env.v[i][len] == '=')
                v = env.v[i] + len + 1;
        if (!v)
            v = plan_vars_get(&s->args, name);
        ib_buf_adds(out, v ? v : "");
        p = n + len + brace - 1;
    }
}

static const struct df_heredoc *
heredoc_named(const struct df_instr *in, const char *word)
{
    if (strncmp(word, "<<", 2) != 0)
        return NULL;
    const char *n = word + 2 + (word[2] == '-');
    for (size_t i = 0; i < in->nheredocs; i++) {
        const char *h = in->heredocs[i].name;
        size_t hl = strlen(h);
        if (strcmp(n, h) == 0 ||
            (strlen(n) == hl + 2 && (n[0] == '"' || n[0] == '\'') && strncmp(n + 1, h, hl) == 0))
            return &in->heredocs[i];
    }
    return NULL;
}

/* --from=X: a stage, an image, or the image a docker-image:// or oci-layout:// named
 * context nc stands for. */
static int
open_from(struct copyjob *j, const char *from, const struct bnamed *nc, struct ib_buf *inputs,
          struct ib_err **err)
{
    struct bctx *b = j->b;
    long si = nc ? -1 : plan_stage_lookup(b->plan, from, j->s->ps->index);
    const struct store_image *img = NULL;
    IB_AUTO(store_image_free) struct store_image *ext = NULL;
    if (si >= 0) {
        img = b->stages[si].img;
    } else {
        AUTO_FREE char *target = plan_platform_string(&b->plan->target_platform);
        const char *pf = j->s->ps->platform ? j->s->ps->platform : target;
        int rc = nc ? named_image_ready(b, nc, pf, &ext, err)
                    : build_image_ready(b, from, pf, &ext, err);
        if (rc < 0) {
            AUTO_ERR struct ib_err *e = ib_steal(err);
            return build_fail_at(b, j->in, e->kind, err, "COPY --from: %s", e->msg);
        }
        img = ext;
    }
    size_t n = store_image_nlayers(img);
    ib_buf_addf(inputs, "from %s\n", n ? store_image_layer(img, n - 1)->chain_id.s : "empty");
    j->keep_owner = true;
    return rootfs_open(b->st, img, &j->srcfd, err);
}

int
copy_source_inputs(struct copyjob *j, bool contents, struct ib_buf *inputs, struct ib_err **err)
{
    for (size_t i = 0; i < j->n; i++) {
        const struct copy_ent *e = &j->ents[i];
        const struct stat *st = &e->st;
        if (e->kind == COPY_ENT_URL) {
            ib_buf_addf(inputs, "url %s -> /%s %s mtime %lld\n", e->data, e->dst, e->src,
                        (long long)st->st_mtim.tv_sec);
            continue;
        }
        if (e->kind == COPY_ENT_GIT) {
            copy_git_inputs(e, inputs);
            continue;
        }
        if (e->kind == COPY_ENT_HEREDOC) {
            struct digest d;
            digest_buf(e->data, strlen(e->data), &d);
            ib_buf_addf(inputs, "heredoc /%s %s\n", e->dst, d.s);
            continue;
        }
        if (!contents) {
            if (e->kind != COPY_ENT_CHILD)
                ib_buf_addf(inputs, "source %s -> /%s\n", e->src, e->dst);
            continue;
        }
        ib_buf_addf(inputs, "file /%s %s%o", e->dst, e->kind == COPY_ENT_ARCHIVE ? "unpack " : "",
                    (unsigned)st->st_mode);
        if (S_ISREG(st->st_mode)) {
            struct digest d;
            if (mdcache_digest(j->b, j->srcfd, e->src, st, &d, err) < 0)
                return -1;
            ib_buf_addf(inputs, " %s", d.s);
        } else if (S_ISLNK(st->st_mode)) {
            char t[4096];
            ssize_t n = readlinkat(j->srcfd, e->src, t, sizeof(t) - 1);
            ib_buf_addf(inputs, " -> %.*s", (int)(n > 0 ? n : 0), t);
        }
        ib_buf_addc(inputs, '\n');
    }
    return 0;
}

/* --checksum: a commit id (or a prefix) for git sources, else sha256:<hex> */
static int
check_checksum(struct copyjob *j, struct ib_err **err)
{
    bool git = false;
    for (size_t i = 0; i < j->srcs.n; i++)
        git = git || gitsrc_is_git(j->srcs.v[i]);
    const char *c = j->checksum;
    size_t n = strspn(c, "0123456789abcdefABCDEF");
    struct digest d;
    AUTO_ERR struct ib_err *e = NULL;
    if (git && (!n || c[n] || n > 64))
        return build_fail_at(j->b, j->in, IB_E_PARSE, err,
                             "invalid --checksum '%s' for a git source (expected a commit id or "
                             "a prefix of one)",
                             c);
    if (!git && digest_parse(c, &d, &e) < 0)
        return build_fail_at(j->b, j->in, IB_E_PARSE, err,
                             "invalid --checksum '%s' (expected sha256:<64 hex digits>)", c);
    return 0;
}

static int
parse_copy(struct copyjob *j, struct ib_buf *inputs, struct ib_buf *msg, struct ib_err **err)
{
    struct bctx *b = j->b;
    struct bstage *s = j->s;
    const struct df_instr *in = j->in;
    const char *name = j->add ? "ADD" : "COPY";
    for (size_t i = 0; i < in->nflags; i++) {
        const char *f = in->flags[i] + 2;
        size_t n = strcspn(f, "=");
        static const char *const ok[] = {"from",    "chown",    "chmod",        "link", "parents",
                                         "exclude", "checksum", "keep-git-dir", NULL};
        bool known = false;
        for (size_t k = 0; ok[k] && !known; k++)
            known = strlen(ok[k]) == n && strncmp(ok[k], f, n) == 0;
        if (!known ||
            (!j->add && (strncmp(f, "checksum", n) == 0 || strncmp(f, "keep-git-dir", n) == 0)))
            return build_fail_at(b, in, IB_E_PARSE, err, "unknown flag for %s: --%.*s", name,
                                 (int)n, f);
        if (strncmp(f, "exclude=", 8) == 0) {
            char *x = NULL;
            if (stage_expand(b, s, in, f + 8, &x, err) < 0)
                return -1;
            ib_strv_push_owned(&j->excludes, x);
            ib_buf_addf(inputs, "exclude %s\n", x);
        }
    }
    if (in->nargs < 2)
        return build_fail_at(b, in, IB_E_PARSE, err, "%s requires at least two arguments", name);
    const char *v;
    j->parents = (v = instr_flag(in, "parents")) && strcmp(v, "false") != 0;
    j->link = (v = instr_flag(in, "link")) && strcmp(v, "false") != 0;
    if ((v = instr_flag(in, "chmod"))) {
        mode_t m;
        if (copy_chmod(v, 0644, false, &m) < 0)
            return build_fail_at(b, in, IB_E_PARSE, err, "invalid --chmod '%s'", v);
        j->chmod = ib_xstrdup(v);
    }
    if ((v = instr_flag(in, "checksum"))) {
        if (stage_expand(b, s, in, v, &j->checksum, err) < 0)
            return -1;
        ib_buf_addf(inputs, "checksum %s\n", j->checksum);
    }
    ib_buf_addf(inputs, "flags parents=%d link=%d chmod=%s\n", j->parents, j->link,
                j->chmod ? j->chmod : "");
    ib_buf_adds(msg, name);
    for (size_t i = 0; i < in->nargs; i++) {
        char *x = NULL;
        if (heredoc_named(in, in->args[i]) && i + 1 < in->nargs)
            x = ib_xstrdup(in->args[i]);
        else if (stage_expand(b, s, in, in->args[i], &x, err) < 0)
            return -1;
        ib_buf_addf(msg, " %s", x);
        if (i + 1 < in->nargs)
            ib_strv_push_owned(&j->srcs, x);
        else
            j->dest = x;
    }
    ib_buf_adds(msg, " # buildkit");
    if (j->checksum && check_checksum(j, err) < 0)
        return -1;
    const char *d = j->dest;
    size_t dl = strlen(d);
    j->dest_dir = (dl && d[dl - 1] == '/') || strcmp(d, ".") == 0 ||
                  (dl >= 2 && strcmp(d + dl - 2, "/.") == 0);
    AUTO_FREE char *abs = d[0] == '/' ? ib_xstrdup(d) : ib_xasprintf("%s/%s", stage_workdir(s), d);
    char *clean = df_path_clean(abs);
    free(j->dest);
    j->dest = clean;
    ib_buf_addf(inputs, "dest %s%s\n", j->dest, j->dest_dir ? "/" : "");
    return 0;
}

static int
collect_all(struct copyjob *j, struct ib_buf *inputs, struct ib_err **err)
{
    struct bctx *b = j->b;
    const struct df_instr *in = j->in;
    bool multi = j->srcs.n > 1;
    for (size_t i = 0; i < j->srcs.n; i++) /* a wildcard; a URL's '?' starts its query */
        multi = multi || (strpbrk(j->srcs.v[i], "*?[") && !gitsrc_is_git(j->srcs.v[i]) &&
                          !strstr(j->srcs.v[i], "://"));
    if (multi && !j->dest_dir)
        return build_fail_at(b, in, IB_E_BUILD, err,
                             "when using %s with more than one source file, the destination "
                             "must be a directory and end with a /",
                             j->add ? "ADD" : "COPY");
    for (size_t i = 0; i < j->srcs.n; i++) {
        const char *src = j->srcs.v[i];
        const struct df_heredoc *h = heredoc_named(in, src);
        if (h) {
            struct copy_ent e = {.kind = COPY_ENT_HEREDOC};
            AUTO_BUF struct ib_buf data = IB_BUF_INIT;
            if (h->expand)
                expand_heredoc(j->s, h->content, &data);
            else
                ib_buf_adds(&data, h->content);
            e.data = ib_buf_detach(&data, NULL);
            e.dst =
                j->dest_dir ? ib_xasprintf("%s/%s", j->dest + 1, h->name) : ib_xstrdup(j->dest + 1);
            e.st.st_mode = S_IFREG | 0644;
            clock_gettime(CLOCK_REALTIME, &e.st.st_mtim);
            IB_GROW(j->ents, j->n + 1, j->cap);
            j->ents[j->n++] = e;
            continue;
        }
        bool git = gitsrc_is_git(src);
        if (git || strstr(src, "://")) {
            if (!j->add)
                return build_fail_at(b, in, IB_E_BUILD, err,
                                     "COPY: source can't be a URL ('%s'): use ADD", src);
            if ((git ? copy_add_git(j, src, err) : copy_add_url(j, src, j->checksum, err)) < 0) {
                AUTO_ERR struct ib_err *e = ib_steal(err);
                return build_fail_at(b, in, e->kind, err, "ADD failed: %s", e->msg);
            }
            continue;
        }
        if (j->checksum)
            return build_fail_at(b, in, IB_E_BUILD, err,
                                 "ADD --checksum: checksum can't be specified for non-HTTP(S) "
                                 "sources ('%s')",
                                 src);
        if (j->srcfd < 0)
            return build_fail_at(b, in, IB_E_BUILD, err, "%s '%s': there is no build context",
                                 j->add ? "ADD" : "COPY", src);
        AUTO_FREE char *tmp = ib_xasprintf("/%s", src);
        AUTO_FREE char *cl = df_path_clean(src);
        if (strcmp(cl, "..") == 0 || strncmp(cl, "../", 3) == 0)
            return build_fail_at(b, in, IB_E_BUILD, err, "source '%s' is outside the build context",
                                 src);
        if (copy_collect(j, src, err) < 0) {
            AUTO_ERR struct ib_err *e = ib_steal(err);
            return build_fail_at(b, in, e->kind, err, "%s failed: %s", j->add ? "ADD" : "COPY",
                                 e->msg);
        }
    }
    return copy_source_inputs(j, !instr_flag(in, "from") || j->named, inputs, err);
}

static int
run_copy(struct copyjob *j, const char *msg, const struct digest *key, struct ib_err **err)
{
    struct bctx *b = j->b;
    struct bstage *s = j->s;
    AUTO_FREE char *upper = NULL;
    pthread_mutex_lock(&b->lock);
    int rc = store_tmp_mkdir(b->st, "copy", &upper, err);
    pthread_mutex_unlock(&b->lock);
    if (rc < 0)
        return -1;
    j->upfd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->upfd < 0)
        rc = ib_fail_errno(err, "open '%s'", upper);
    if (rc == 0 && !j->link)
        rc = rootfs_open(b->st, s->img, &j->rootfd, err);
    if (rc == 0)
        rc = copy_write(j, err);
    if (j->upfd >= 0)
        close(j->upfd);
    j->upfd = -1;
    if (rc < 0) {
        ib_rm_rf_at(AT_FDCWD, upper, NULL);
        AUTO_ERR struct ib_err *e = ib_steal(err);
        return build_fail_at(b, j->in, e->kind, err, "%s failed: %s", j->add ? "ADD" : "COPY",
                             e->msg);
    }
    struct store_layer l;
    bool empty;
    if (stage_commit_upper(b, s, upper, msg, &l, &empty, err) < 0)
        return -1;
    return cache_record(b, key, &l, empty, err);
}

int
dispatch_copy(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    struct copyjob j = {.b = b,
                        .s = s,
                        .in = in,
                        .add = in->kind == DF_ADD,
                        .srcfd = b->ctxfd,
                        .rootfd = -1,
                        .upfd = -1};
    AUTO_BUF struct ib_buf inputs = IB_BUF_INIT;
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    ib_buf_addf(&inputs, "parent %s\n", s->key.s);
    int rc = parse_copy(&j, &inputs, &msg, err);
    const char *from = rc == 0 ? instr_flag(in, "from") : NULL;
    AUTO_FREE char *fromx = NULL;
    if (from && (rc = stage_expand(b, s, in, from, &fromx, err)) == 0) {
        const struct bnamed *nc = named_lookup(b, fromx);
        if (nc && nc->c.dir) {
            j.srcfd = nc->fd; /* read as the main context is */
            j.named = nc;
        } else {
            rc = open_from(&j, fromx, nc, &inputs, err);
        }
    }
    const char *chown = rc == 0 ? instr_flag(in, "chown") : NULL;
    AUTO_FREE char *chownx = NULL;
    if (chown && (rc = stage_expand(b, s, in, chown, &chownx, err)) == 0) {
        ib_buf_addf(&inputs, "chown %s\n", chownx);
        if ((rc = copy_resolve_chown(&j, chownx, err)) < 0) {
            AUTO_ERR struct ib_err *e = ib_steal(err);
            rc = build_fail_at(b, in, IB_E_BUILD, err, "%s", e->msg);
        }
    }
    struct bstep sp = {.b = b, .s = s, .in = in};
    if (rc == 0) {
        build_step_start(&sp, in->original);
        rc = collect_all(&j, &inputs, err);
    }
    if (rc < 0) {
        copyjob_release(&j);
        return -1;
    }
    struct keyb k;
    keyb_init(&k, &s->key, j.add ? "ADD" : "COPY");
    keyb_add(&k, "inputs", inputs.s);
    struct digest key;
    keyb_final(&k, &key);
    if (cache_use(&sp, &key, inputs.s, msg.s)) {
        build_step_done(&sp, true, NULL);
    } else {
        rc = run_copy(&j, msg.s, &key, err);
        if (rc == 0)
            build_step_done(&sp, false, NULL);
    }
    copyjob_release(&j);
    return rc;
}

int
copy_from_context_dir(struct bctx *b, struct bstage *s, const struct bnamed *nc, struct bstep *sp,
                      struct ib_err **err)
{
    struct copyjob j = {.b = b,
                        .s = s,
                        .in = s->ps->from,
                        .srcfd = nc->fd,
                        .named = nc,
                        .rootfd = -1,
                        .upfd = -1,
                        .dest = ib_xstrdup("/"),
                        .dest_dir = true};
    AUTO_BUF struct ib_buf inputs = IB_BUF_INIT;
    ib_buf_addf(&inputs, "parent %s\ncontext dir\n", s->key.s);
    AUTO_FREE char *msg = ib_xasprintf("COPY --from=%s . / # buildkit", nc->c.name);
    int rc = copy_collect(&j, ".", err);
    if (rc == 0)
        rc = copy_source_inputs(&j, true, &inputs, err);
    if (rc < 0) {
        copyjob_release(&j);
        AUTO_ERR struct ib_err *e = ib_steal(err);
        return build_fail_at(b, j.in, e->kind, err, "build context %s: %s", nc->c.name, e->msg);
    }
    struct keyb k;
    keyb_init(&k, &s->key, "COPY");
    keyb_add(&k, "inputs", inputs.s);
    struct digest key;
    keyb_final(&k, &key);
    bool hit = cache_use(sp, &key, inputs.s, msg);
    if (!hit)
        rc = run_copy(&j, msg, &key, err);
    copyjob_release(&j);
    if (rc == 0)
        build_step_done(sp, hit, NULL);
    return rc;
}

/* ---- WORKDIR -------------------------------------------------------------------------- */

int
stage_mkdir_workdir(struct bctx *b, struct bstage *s, const struct df_instr *in, const char *dir,
                    struct ib_err **err)
{
    AUTO_FREE char *msg = ib_xasprintf("WORKDIR %s", dir);
    struct bstep sp = {.b = b, .s = s, .in = in};
    build_step_start(&sp, in->original);
    const char *user = store_image_config_str(s->img, "User");
    struct keyb k;
    keyb_init(&k, &s->key, "WORKDIR");
    keyb_add(&k, "dir", dir);
    keyb_add(&k, "user", user ? user : "");
    struct digest key;
    keyb_final(&k, &key);
    if (cache_use(&sp, &key, NULL, msg)) {
        build_step_done(&sp, true, NULL);
        return 0;
    }
    struct copyjob j = {.b = b, .s = s, .in = in, .srcfd = -1, .rootfd = -1, .upfd = -1};
    int rc = rootfs_open(b->st, s->img, &j.rootfd, err);
    AUTO_FREE char *real = rc == 0 ? rootfs_resolve(j.rootfd, dir, true) : NULL;
    struct stat st;
    if (rc == 0 && *real && !(fstatat(j.rootfd, real, &st, 0) == 0 && S_ISDIR(st.st_mode))) {
        if (user && *user && copy_resolve_chown(&j, user, err) < 0) {
            AUTO_ERR struct ib_err *e = ib_steal(err);
            j.chown = false; /* USER is checked when something runs */
        }
        AUTO_FREE char *upper = NULL;
        pthread_mutex_lock(&b->lock);
        rc = store_tmp_mkdir(b->st, "workdir", &upper, err);
        pthread_mutex_unlock(&b->lock);
        if (rc == 0) {
            j.upfd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            struct copy_ent e = {.dst = real, .kind = COPY_ENT_CHILD};
            e.st.st_mode = S_IFDIR | 0755;
            e.st.st_uid = j.chown ? j.uid : 0;
            e.st.st_gid = j.chown ? j.gid : 0;
            clock_gettime(CLOCK_REALTIME, &e.st.st_mtim);
            j.ents = &e;
            j.n = 1;
            rc = j.upfd < 0 ? ib_fail_errno(err, "open '%s'", upper) : copy_write(&j, err);
            j.ents = NULL;
            j.n = 0;
            struct store_layer l;
            bool empty = false;
            if (rc == 0)
                rc = stage_commit_upper(b, s, upper, msg, &l, &empty, err);
            else
                ib_rm_rf_at(AT_FDCWD, upper, NULL);
            if (rc == 0)
                rc = cache_record(b, &key, &l, empty, err);
        }
    } else if (rc == 0) {
        store_image_add_history(s->img, msg);
        rc = cache_record(b, &key, NULL, true, err);
    }
    if (j.upfd >= 0)
        close(j.upfd);
    j.upfd = -1;
    copyjob_release(&j);
    if (rc == 0)
        build_step_done(&sp, false, NULL);
    return rc;
}

/* ---- rootfs export --------------------------------------------------------------------- */

int
builder_export_rootfs(struct store *st, const char *image, const char *dir, int fd,
                      struct ib_err **err)
{
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_get(st, image, &img, err) < 0)
        return -1;
    AUTO_FD int root = -1;
    if (rootfs_open(st, img, &root, err) < 0)
        return -1;
    if (dir)
        return copy_tree_to_dir(root, dir, err);
    /* a tar: the flattened tree committed as one layer, whose blob is the tar */
    AUTO_FREE char *tmp = NULL;
    if (store_tmp_mkdir(st, "export", &tmp, err) < 0)
        return -1;
    int rc = copy_tree_to_dir(root, tmp, err);
    struct store_layer l;
    if (rc == 0)
        rc = store_layer_commit(st, NULL, tmp, STORE_COMMIT_MOVE, &l, err);
    ib_rm_rf_at(AT_FDCWD, tmp, NULL);
    if (rc < 0)
        return -1;
    AUTO_FD int bfd = -1;
    uint64_t size;
    if (store_blob_open(st, &l.digest, &bfd, &size, err) < 0)
        return -1;
    char buf[65536];
    for (;;) {
        ssize_t n = read(bfd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ib_fail_errno(err, "read layer");
        if (n == 0)
            return 0;
        if (ib_write_all(fd, buf, (size_t)n, "tar output", err) < 0)
            return -1;
    }
}
