/* builder/runmount.c: RUN --mount (BuildKit's bind, cache, tmpfs, secret and ssh mounts).
 *
 * runmount_parse reads the flags (values expanded like the instruction's
 * words), checks them with BuildKit's defaults, and adds each mount's
 * definition to the step's cache key: for a bind from the context, the digest
 * of the mounted content (the COPY source hashing, .dockerignore applied); for
 * a bind from a stage or image, its top ChainID; for a secret or an ssh agent,
 * its definition and whether it is present, never its value or the agent's
 * socket path; cache mounts add nothing.
 * runmount_prepare runs on a cache miss: it copies the context source into a
 * temporary dir (so only what .dockerignore lets through is visible), opens
 * and locks the cache dirs, reads the secrets, starts a proxy socket for each
 * ssh agent (sshagent.c), and fills sandbox mounts.
 *
 * Cache mounts live in <store>/cache/mounts/<sha256(id)>/data, with a lock
 * file beside it (flock: shared for sharing=shared, exclusive for locked and
 * private; a busy private mount uses the next instance, -1, -2, ...).  They
 * never enter a layer (the sandbox drops their mount points) and prune leaves
 * them alone: remove <store>/cache/mounts to drop them.
 */
#include "builder/copy.h"
#include "builder/runmount.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store_image, store_image_free)

enum rm_type { RM_BIND, RM_CACHE, RM_TMPFS, RM_SECRET, RM_SSH };

struct rmount {
    enum rm_type type;
    char *target, *source, *from, *id, *env;
    int ro; /* -1 unset, 0 rw, 1 ro */
    bool required, present;
    int sharing; /* 0 shared, 1 private, 2 locked */
    int mode;
    int64_t uid, gid, size;
    struct copyjob job; /* bind from the context: the collected source */
    bool have_job;
    struct ib_strv lowers;
    char *dir;       /* a copy of the context source, or an empty dir; removed at the end */
    char *cachepath; /* cache: the data dir */
    int lockfd;
    struct ib_buf secret;
    const char *agent;       /* ssh: the agent's socket (owned by bctx.ssh), or NULL */
    struct ssh_proxy *proxy; /* ssh: the step's socket, relaying to agent */
};

static void
rmount_release(struct rmount *m)
{
    free(m->target);
    free(m->source);
    free(m->from);
    free(m->id);
    free(m->env);
    if (m->have_job)
        copyjob_release(&m->job);
    ib_strv_release(&m->lowers);
    ssh_proxy_stop(m->proxy);
    if (m->dir)
        ib_rm_rf_at(AT_FDCWD, m->dir, NULL);
    free(m->dir);
    free(m->cachepath);
    if (m->lockfd >= 0)
        close(m->lockfd);
    if (m->secret.len)
        explicit_bzero(m->secret.s, m->secret.len);
    ib_buf_release(&m->secret);
}

void
runmount_release(struct runmounts *r)
{
    for (size_t i = 0; i < r->n; i++)
        rmount_release(&r->m[i]);
    free(r->m);
    free(r->sm);
    memset(r, 0, sizeof(*r));
}

static bool
parse_bool(const char *v, bool *out)
{
    if (!v || !strcmp(v, "true") || !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "false") || !strcmp(v, "0")) {
        *out = false;
        return true;
    }
    return false;
}

static bool
parse_int(const char *v, int base, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, base) : -1;
    if (!v || errno || end == v || *end || x < 0 || x > max)
        return false;
    *out = x;
    return true;
}

/* One key=value of a mount spec; -1 with a message in *why. */
static int
set_key(struct rmount *m, const char *k, const char *v, const char **why)
{
    int64_t x;
    bool bv;
    char **slot = NULL;
    if (!strcmp(k, "target") || !strcmp(k, "dst") || !strcmp(k, "destination"))
        slot = &m->target;
    else if (!strcmp(k, "source") || !strcmp(k, "src"))
        slot = &m->source;
    else if (!strcmp(k, "from"))
        slot = &m->from;
    else if (!strcmp(k, "id"))
        slot = &m->id;
    else if (!strcmp(k, "env"))
        slot = &m->env;
    if (slot) {
        if (!v || !*v)
            return *why = "needs a value", -1;
        free(*slot);
        *slot = ib_xstrdup(v);
        return 0;
    }
    if (!strcmp(k, "readonly") || !strcmp(k, "ro") || !strcmp(k, "readwrite") || !strcmp(k, "rw") ||
        !strcmp(k, "required")) {
        if (!parse_bool(v, &bv))
            return *why = "is not a boolean", -1;
        if (k[0] == 'r' && k[1] == 'e' && k[2] == 'q')
            m->required = bv;
        else
            m->ro = (!strcmp(k, "rw") || !strcmp(k, "readwrite")) ? !bv : bv;
        return 0;
    }
    if (!strcmp(k, "sharing")) {
        if (!v || (strcmp(v, "shared") && strcmp(v, "private") && strcmp(v, "locked")))
            return *why = "is not shared, private or locked", -1;
        m->sharing = !strcmp(v, "shared") ? 0 : !strcmp(v, "private") ? 1 : 2;
        return 0;
    }
    if (!strcmp(k, "mode")) {
        if (!parse_int(v, 8, 07777, &x))
            return *why = "is not an octal mode", -1;
        m->mode = (int)x;
        return 0;
    }
    if (!strcmp(k, "uid") || !strcmp(k, "gid")) {
        if (!parse_int(v, 10, 0x7fffffff, &x))
            return *why = "is not a number", -1;
        *(k[0] == 'u' ? &m->uid : &m->gid) = x;
        return 0;
    }
    if (!strcmp(k, "size")) {
        AUTO_ERR struct ib_err *e = NULL;
        if (!v || sandbox_parse_bytes(v, &m->size, &e) < 0)
            return *why = "is not a size", -1;
        return 0;
    }
    return *why = "is not a known key", -1;
}

/* "FILE:LINE:COL: msg" and the line under it, as the planner reports errors. */
static int fail_col(struct bctx *b, const struct df_instr *in, enum ib_errkind kind,
                    struct ib_err **err, const char *fmt, ...) IB_PRINTF(5, 6);

static int
fail_col(struct bctx *b, const struct df_instr *in, enum ib_errkind kind, struct ib_err **err,
         const char *fmt, ...)
{
    AUTO_BUF struct ib_buf m = IB_BUF_INIT;
    ib_buf_addf(&m, "%s:%u:%u: ", b->df->name, in->start_line, in->col ? in->col : 1);
    va_list ap;
    va_start(ap, fmt);
    ib_buf_vaddf(&m, fmt, ap);
    va_end(ap);
    if (in->original)
        ib_buf_addf(&m, "\n %5u | %s", in->start_line, in->original);
    return ib_fail(err, kind, "%s", m.s);
}

/* nssh: ssh mounts before this one in the step (the default target's number). */
static int
parse_spec(struct bctx *b, const struct df_instr *in, const char *spec, const char *workdir,
           size_t nssh, struct rmount *m, struct ib_err **err)
{
    memset(m, 0, sizeof(*m));
    m->mode = -1;
    m->ro = -1;
    m->uid = m->gid = -1;
    m->lockfd = -1;
    m->secret = (struct ib_buf)IB_BUF_INIT;
    AUTO_FREE char *copy = ib_xstrdup(spec);
    const char *type = "bind";
    for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        if (!strcmp(kv, "type")) {
            type = eq ? eq : "";
            continue;
        }
        const char *why = NULL;
        if (set_key(m, kv, eq, &why) < 0)
            return build_fail_at(b, in, IB_E_PARSE, err, "RUN --mount=%s: '%s' %s", spec, kv, why);
    }
    if (!strcmp(type, "bind"))
        m->type = RM_BIND;
    else if (!strcmp(type, "cache"))
        m->type = RM_CACHE;
    else if (!strcmp(type, "tmpfs"))
        m->type = RM_TMPFS;
    else if (!strcmp(type, "secret"))
        m->type = RM_SECRET;
    else if (!strcmp(type, "ssh"))
        m->type = RM_SSH;
    else
        return build_fail_at(b, in, IB_E_PARSE, err, "RUN --mount: unknown mount type '%s'", type);
    if (m->type == RM_SECRET) {
        if (!m->id && m->target) {
            const char *sl = strrchr(m->target, '/');
            m->id = ib_xstrdup(sl ? sl + 1 : m->target);
        }
        if (!m->id || !*m->id)
            return build_fail_at(b, in, IB_E_PARSE, err, "RUN --mount=%s: secret ID missing", spec);
        if (!m->target && !m->env)
            m->target = ib_xasprintf("/run/secrets/%s", m->id);
    } else if (m->type == RM_SSH) {
        if (!m->id)
            m->id = ib_xstrdup("default");
        if (!m->target)
            m->target = ib_xasprintf("/run/buildkit/ssh_agent.%zu", nssh);
    } else if (!m->target) {
        return build_fail_at(b, in, IB_E_PARSE, err, "RUN --mount=%s: 'target' is required", spec);
    }
    if (m->target) {
        AUTO_FREE char *abs =
            m->target[0] == '/' ? ib_xstrdup(m->target) : ib_xasprintf("%s/%s", workdir, m->target);
        free(m->target);
        m->target = df_path_clean(abs);
        if (!strcmp(m->target, "/"))
            return build_fail_at(b, in, IB_E_PARSE, err, "RUN --mount=%s: cannot mount on '/'",
                                 spec);
    }
    if (m->type == RM_CACHE && !m->id)
        m->id = ib_xstrdup(m->target);
    return 0;
}

/* The stage or image named by from=, as an image (stage images are borrowed). */
static int
from_image(struct bctx *b, struct bstage *s, const struct df_instr *in, const char *from,
           const struct store_image **img, struct store_image **own, struct ib_err **err)
{
    const struct bnamed *nc = named_lookup(b, from);
    if (nc && nc->c.dir)
        return build_fail_at(b, in, IB_E_BUILD, err,
                             "RUN --mount from '%s': a directory build context can only be "
                             "bound (type=bind)",
                             from);
    long si = nc ? -1 : plan_stage_lookup(b->plan, from, s->ps->index);
    if (si >= 0) {
        *img = b->stages[si].img;
        return 0;
    }
    AUTO_FREE char *target = plan_platform_string(&b->plan->target_platform);
    const char *pf = s->ps->platform ? s->ps->platform : target;
    if (nc)
        from = named_describe(nc); /* docker-image://REF: as if REF were written */
    if ((nc ? named_image_ready(b, nc, pf, own, err) : build_image_ready(b, from, pf, own, err)) <
        0) {
        AUTO_ERR struct ib_err *e = ib_steal(err);
        return build_fail_at(b, in, e->kind, err, "RUN --mount from '%s': %s", from, e->msg);
    }
    *img = *own;
    return 0;
}

int
runmount_secret(struct bctx *b, const char *id, struct ib_buf *out, bool *found,
                struct ib_err **err)
{
    *found = false;
    for (size_t i = 0; i < b->o->nsecrets; i++) {
        AUTO_FREE char *spec = ib_xstrdup(b->o->secrets[i]);
        const char *sid = NULL, *src = NULL, *env = NULL;
        for (char *save = NULL, *kv = strtok_r(spec, ",", &save); kv;
             kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq)
                return ib_fail(err, IB_E_USAGE, "invalid --secret '%s'", b->o->secrets[i]);
            *eq++ = '\0';
            if (!strcmp(kv, "id"))
                sid = eq;
            else if (!strcmp(kv, "src") || !strcmp(kv, "source"))
                src = eq;
            else if (!strcmp(kv, "env"))
                env = eq;
            else if (strcmp(kv, "type"))
                return ib_fail(err, IB_E_USAGE, "invalid --secret '%s': unknown key '%s'",
                               b->o->secrets[i], kv);
        }
        if (!sid || strcmp(sid, id))
            continue;
        if (src) {
            ib_buf_set_limit(out, 1 << 20);
            if (ib_read_file(src, out, err) < 0)
                return ib_err_prefix(err, "secret '%s'", id);
            *found = true;
            return 0;
        }
        const char *v = getenv(env ? env : id);
        if (v) {
            ib_buf_adds(out, v);
            *found = true;
        }
        return 0;
    }
    return 0;
}

static void
keyline(struct keyb *k, struct ib_buf *inputs, const char *line)
{
    keyb_add(k, "mount", line);
    ib_buf_addf(inputs, "mount %s\n", line);
}

/* The mount's definition and content digest in the key. */
static int
key_mount(struct bctx *b, struct bstage *s, const struct df_instr *in, struct rmount *m,
          struct keyb *k, struct ib_buf *inputs, struct ib_err **err)
{
    AUTO_BUF struct ib_buf d = IB_BUF_INIT;
    switch (m->type) {
    case RM_CACHE:
        return 0; /* as in BuildKit: a cache mount does not change the key */
    case RM_TMPFS:
        ib_buf_addf(&d, "tmpfs %s size=%lld", m->target, (long long)m->size);
        break;
    case RM_SSH:
        /* the agent's socket path is not part of the key, only whether there is one */
        ib_buf_addf(&d, "ssh %s target=%s mode=%o uid=%lld gid=%lld required=%d present=%d", m->id,
                    m->target, (unsigned)(m->mode >= 0 ? m->mode : 0600), (long long)m->uid,
                    (long long)m->gid, m->required, m->agent != NULL);
        break;
    case RM_SECRET:
        ib_buf_addf(&d, "secret %s target=%s env=%s mode=%o uid=%lld gid=%lld present=%d", m->id,
                    m->target ? m->target : "", m->env ? m->env : "",
                    (unsigned)(m->mode >= 0 ? m->mode : 0400), (long long)m->uid, (long long)m->gid,
                    m->present);
        break;
    case RM_BIND:
        ib_buf_addf(&d, "bind %s source=%s rw=%d", m->target, m->source ? m->source : "/",
                    m->ro == 0);
        const struct bnamed *nc = m->from ? named_lookup(b, m->from) : NULL;
        if (m->from && !(nc && nc->c.dir)) {
            const struct store_image *img = NULL;
            IB_AUTO(store_image_free) struct store_image *own = NULL;
            if (from_image(b, s, in, m->from, &img, &own, err) < 0)
                return -1;
            size_t n = store_image_nlayers(img);
            ib_buf_addf(&d, " from=%s", n ? store_image_layer(img, n - 1)->chain_id.s : "empty");
            if (rootfs_lowers(b->st, img, &m->lowers, err) < 0)
                return -1;
            break;
        }
        if (nc)
            ib_buf_adds(&d, " from=context"); /* the content is in mount-source */
        else if (b->ctxfd < 0)
            return build_fail_at(b, in, IB_E_BUILD, err,
                                 "RUN --mount=type=bind: there is no build context");
        AUTO_FREE char *cl = df_path_clean(m->source ? m->source : ".");
        if (!strcmp(cl, "..") || !strncmp(cl, "../", 3))
            return build_fail_at(b, in, IB_E_BUILD, err,
                                 "RUN --mount source '%s' is outside the build context", m->source);
        m->job = (struct copyjob){.b = b,
                                  .s = s,
                                  .in = in,
                                  .srcfd = nc ? nc->fd : b->ctxfd,
                                  .named = nc,
                                  .rootfd = -1,
                                  .upfd = -1};
        m->have_job = true;
        m->job.dest = ib_xstrdup("/");
        m->job.dest_dir = true;
        AUTO_BUF struct ib_buf src = IB_BUF_INIT;
        if (copy_collect(&m->job, m->source ? m->source : ".", err) < 0 ||
            copy_source_inputs(&m->job, true, &src, err) < 0) {
            AUTO_ERR struct ib_err *e = ib_steal(err);
            return build_fail_at(b, in, e->kind, err, "RUN --mount: %s", e->msg);
        }
        keyline(k, inputs, d.s);
        keyb_add(k, "mount-source", src.s);
        ib_buf_add(inputs, src.s, src.len);
        return 0;
    }
    keyline(k, inputs, d.s);
    return 0;
}

int
runmount_parse(struct bctx *b, struct bstage *s, const struct df_instr *in, struct runmounts *r,
               struct keyb *k, struct ib_buf *inputs, struct ib_err **err)
{
    if (s->insecure) {
        keyb_add(k, "security", "insecure");
        ib_buf_adds(inputs, "security insecure\n");
    }
    size_t nssh = 0;
    for (size_t i = 0; i < in->nflags; i++) {
        const char *f = in->flags[i];
        if (strncmp(f, "--mount=", 8) != 0)
            continue;
        AUTO_FREE char *spec = NULL;
        if (stage_expand(b, s, in, f + 8, &spec, err) < 0)
            return -1;
        IB_GROW(r->m, r->n + 1, r->cap);
        struct rmount *m = &r->m[r->n];
        if (parse_spec(b, in, spec, stage_workdir(s), nssh, m, err) < 0) {
            rmount_release(m);
            return -1;
        }
        r->n++;
        for (size_t j = 0; m->target && j + 1 < r->n; j++)
            if (r->m[j].target && !strcmp(r->m[j].target, m->target))
                return build_fail_at(b, in, IB_E_PARSE, err,
                                     "RUN --mount: more than one mount on '%s'", m->target);
        if (m->type == RM_SECRET) {
            if (runmount_secret(b, m->id, &m->secret, &m->present, err) < 0) {
                AUTO_ERR struct ib_err *e = ib_steal(err);
                return build_fail_at(b, in, e->kind, err, "%s", e->msg);
            }
            if (m->required && !m->present)
                return build_fail_at(b, in, IB_E_BUILD, err,
                                     "secret '%s' is required but was not given (imgbuild "
                                     "build --secret id=%s,src=FILE or env=VAR)",
                                     m->id, m->id);
        }
        if (m->type == RM_SSH) {
            nssh++;
            m->agent = ssh_agents_socket(b->ssh, m->id);
            if (m->required && !m->agent)
                return fail_col(b, in, IB_E_BUILD, err,
                                "RUN --mount=type=ssh: no SSH agent or key for id '%s', which "
                                "is required (imgbuild build --ssh %s[=SOCKET|KEYFILE])",
                                m->id, m->id);
        }
        if (key_mount(b, s, in, m, k, inputs, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- on a cache miss ------------------------------------------------------------- */

/* The data dir of a cache mount, created (seeded from from/source, mode, owner) when new,
 * and its lock taken as sharing says. */
static int
cache_dir(struct bctx *b, struct bstage *s, const struct df_instr *in, struct rmount *m,
          struct ib_err **err)
{
    struct digest d;
    digest_buf(m->id, strlen(m->id), &d);
    const char *hex = strchr(d.s, ':') + 1;
    AUTO_FREE char *base = ib_xasprintf("%s/cache/mounts", store_root(b->st));
    if (ib_mkdir_p(AT_FDCWD, base, 0700, err) < 0)
        return -1;
    AUTO_FREE char *inst = NULL;
    for (int i = 0;; i++) {
        free(inst);
        inst = i ? ib_xasprintf("%s/%.32s-%d", base, hex, i) : ib_xasprintf("%s/%.32s", base, hex);
        if (mkdir(inst, 0700) < 0 && errno != EEXIST)
            return ib_fail_errno(err, "create cache mount dir '%s'", inst);
        AUTO_FREE char *lock = ib_path_join(inst, "lock");
        m->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (m->lockfd < 0)
            return ib_fail_errno(err, "open '%s'", lock);
        int op = m->sharing == 0 ? LOCK_SH : m->sharing == 2 ? LOCK_EX : LOCK_EX | LOCK_NB;
        if (flock(m->lockfd, op) == 0)
            break;
        if (errno != EWOULDBLOCK || i >= 64)
            return ib_fail_errno(err, "lock cache mount '%s'", m->id);
        close(m->lockfd); /* private and in use: the next instance */
        m->lockfd = -1;
    }
    m->cachepath = ib_path_join(inst, "data");
    if (access(m->cachepath, F_OK) == 0)
        return 0;
    AUTO_FREE char *tmp = ib_path_join(inst, "new");
    ib_rm_rf_at(AT_FDCWD, tmp, NULL);
    if (m->from) {
        const struct store_image *img = NULL;
        IB_AUTO(store_image_free) struct store_image *own = NULL;
        AUTO_FD int root = -1;
        if (from_image(b, s, in, m->from, &img, &own, err) < 0 ||
            rootfs_open(b->st, img, &root, err) < 0)
            return -1;
        AUTO_FREE char *rel = rootfs_resolve(root, m->source ? m->source : "/", true);
        AUTO_FD int src = openat(root, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0)
            return build_fail_at(b, in, IB_E_BUILD, err,
                                 "RUN --mount=type=cache: source '%s' in '%s' is not a directory",
                                 m->source ? m->source : "/", m->from);
        if (copy_tree_to_dir(src, tmp, err) < 0)
            return -1;
    } else if (mkdir(tmp, 0755) < 0) {
        return ib_fail_errno(err, "create '%s'", tmp);
    }
    if (chmod(tmp, (mode_t)(m->mode >= 0 ? m->mode : 0755)) < 0 ||
        chown(tmp, (uid_t)(m->uid > 0 ? m->uid : 0), (gid_t)(m->gid > 0 ? m->gid : 0)) < 0 ||
        rename(tmp, m->cachepath) < 0)
        return ib_fail_errno(err, "set up cache mount dir '%s'", m->cachepath);
    return 0;
}

/* A dir for the step's proxy socket of an ssh mount, and the proxy listening in it. */
static int
ssh_proxy_dir(struct bctx *b, struct rmount *m, struct ib_err **err)
{
    pthread_mutex_lock(&b->lock);
    int rc = store_tmp_mkdir(b->st, "ssh", &m->dir, err);
    pthread_mutex_unlock(&b->lock);
    if (rc < 0)
        return -1;
    return ssh_proxy_start(m->agent, m->dir, m->mode >= 0 ? m->mode : 0600, m->uid, m->gid,
                           &m->proxy, err);
}

/* A copy of the mounted context source (what .dockerignore lets through). */
static int
context_copy(struct bctx *b, struct rmount *m, const char **src, struct ib_err **err)
{
    pthread_mutex_lock(&b->lock);
    int rc = store_tmp_mkdir(b->st, "mount", &m->dir, err);
    pthread_mutex_unlock(&b->lock);
    if (rc < 0)
        return -1;
    m->job.upfd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m->job.upfd < 0)
        return ib_fail_errno(err, "open '%s'", m->dir);
    rc = copy_write(&m->job, err);
    close(m->job.upfd);
    m->job.upfd = -1;
    if (rc < 0)
        return -1;
    *src = "/";
    for (size_t i = 0; i < m->job.n; i++)
        if (m->job.ents[i].kind == COPY_ENT_TOP && !S_ISDIR(m->job.ents[i].st.st_mode))
            *src = m->job.ents[i].dst; /* a file: its name in the copy */
    ib_strv_push(&m->lowers, m->dir);
    return 0;
}

int
runmount_prepare(struct bctx *b, struct bstage *s, const struct df_instr *in, struct runmounts *r,
                 struct ib_strv *env, struct ib_err **err)
{
    r->sm = ib_xcalloc(r->n ? r->n : 1, sizeof(*r->sm));
    r->nsm = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct rmount *m = &r->m[i];
        struct sandbox_mount sm = {
            .target = m->target, .mode = m->mode, .uid = m->uid, .gid = m->gid};
        switch (m->type) {
        case RM_BIND:
            sm.type = SANDBOX_MOUNT_BIND;
            sm.readonly = m->ro != 0;
            sm.source = m->source ? m->source : "/";
            if (m->have_job && context_copy(b, m, &sm.source, err) < 0)
                return build_fail_at(b, in, IB_E_BUILD, err, "RUN --mount: %s", (*err)->msg);
            if (m->lowers.n == 0) { /* an image without layers: an empty dir */
                pthread_mutex_lock(&b->lock);
                int rc = store_tmp_mkdir(b->st, "mount", &m->dir, err);
                pthread_mutex_unlock(&b->lock);
                if (rc < 0)
                    return -1;
                ib_strv_push(&m->lowers, m->dir);
            }
            sm.lowers = (const char *const *)m->lowers.v;
            sm.nlowers = m->lowers.n;
            break;
        case RM_CACHE:
            if (cache_dir(b, s, in, m, err) < 0)
                return -1;
            sm.type = SANDBOX_MOUNT_BIND;
            sm.source = m->cachepath;
            sm.readonly = m->ro == 1;
            break;
        case RM_TMPFS:
            sm.type = SANDBOX_MOUNT_TMPFS;
            sm.size = m->size;
            sm.mode = -1;
            sm.uid = sm.gid = -1;
            break;
        case RM_SSH:
            if (!m->agent)
                continue; /* optional and not given: nothing is mounted (as in BuildKit) */
            if (ssh_proxy_dir(b, m, err) < 0)
                return build_fail_at(b, in, IB_E_BUILD, err, "RUN --mount=type=ssh: %s",
                                     (*err)->msg);
            sm.type = SANDBOX_MOUNT_BIND;
            sm.source = ssh_proxy_path(m->proxy);
            sm.readonly = true;
            break;
        case RM_SECRET:
            if (!m->present)
                continue; /* optional and not given: nothing is mounted */
            if (m->env)
                ib_strv_pushf(env, "%s=%s", m->env, m->secret.s);
            if (!m->target)
                continue;
            sm.type = SANDBOX_MOUNT_FILE;
            sm.data = m->secret.s;
            sm.len = m->secret.len;
            break;
        }
        r->sm[r->nsm++] = sm;
    }
    /* BuildKit: SSH_AUTH_SOCK names the first ssh mount unless the env has one already */
    bool have = false;
    for (size_t i = 0; i < env->n && !have; i++)
        have = strncmp(env->v[i], "SSH_AUTH_SOCK=", 14) == 0;
    for (size_t i = 0; i < r->n && !have; i++) {
        if (r->m[i].type == RM_SSH) {
            ib_strv_pushf(env, "SSH_AUTH_SOCK=%s", r->m[i].target);
            have = true;
        }
    }
    return 0;
}
