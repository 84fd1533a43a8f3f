/* builder/build.c: builder_build: parse, plan, stages in dependency order, the final image.
 *
 * Stages run on up to o->max_parallel threads (2 by default): a stage starts
 * when every stage it reads (FROM <stage>, COPY --from) is done.  Store calls
 * that name temporary files and the progress callback are serialized by
 * bctx.lock; RUN steps and file copies run concurrently.
 */
#include "builder/build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/context.h"
#include "builder/runmount.h"
#include "common/cleanup.h"
#include "registry/registry.h"
#include "common/mem.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store_image, store_image_free)

/* ---- progress --------------------------------------------------------------- */

double
build_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
build_emit(struct bctx *b, enum build_event_kind k, unsigned step, const char *text, double secs,
           const struct sandbox_result *run)
{
    if (!b->o->progress)
        return;
    struct build_event ev = {.kind = k,
                             .step = step,
                             .text = text ? text : "",
                             .len = text ? strlen(text) : 0,
                             .seconds = secs,
                             .run = run};
    pthread_mutex_lock(&b->lock);
    b->o->progress(b->o->progress_ctx, &ev);
    pthread_mutex_unlock(&b->lock);
}

void
build_warn(struct bctx *b, const char *fmt, ...)
{
    AUTO_BUF struct ib_buf m = IB_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ib_buf_vaddf(&m, fmt, ap);
    va_end(ap);
    build_emit(b, BUILD_EV_WARNING, 0, m.s, 0, NULL);
}

int
build_fail_at(struct bctx *b, const struct df_instr *in, enum ib_errkind kind, struct ib_err **err,
              const char *fmt, ...)
{
    AUTO_BUF struct ib_buf m = IB_BUF_INIT;
    va_list ap;
    ib_buf_addf(&m, "%s:%u: ", b->df->name, in->start_line);
    va_start(ap, fmt);
    ib_buf_vaddf(&m, fmt, ap);
    va_end(ap);
    return ib_fail(err, kind, "%s", m.s);
}

void
build_step_start(struct bstep *sp, const char *text)
{
    struct bctx *b = sp->b;
    struct bstage *s = sp->s;
    pthread_mutex_lock(&b->lock);
    sp->no = ++b->stepno;
    pthread_mutex_unlock(&b->lock);
    s->cur++;
    sp->t0 = build_now();
    AUTO_BUF struct ib_buf t = IB_BUF_INIT;
    if (*s->label)
        ib_buf_addf(&t, "[%s %zu/%zu] %s", s->label, s->cur, s->nsteps, text);
    else
        ib_buf_addf(&t, "[%zu/%zu] %s", s->cur, s->nsteps, text);
    build_emit(b, BUILD_EV_STEP_START, sp->no, t.s, 0, NULL);
}

void
build_step_done(struct bstep *sp, bool cached, const struct sandbox_result *run)
{
    if (cached) {
        pthread_mutex_lock(&sp->b->lock);
        sp->b->ncached++;
        pthread_mutex_unlock(&sp->b->lock);
    }
    build_emit(sp->b, cached ? BUILD_EV_STEP_CACHED : BUILD_EV_STEP_DONE, sp->no, NULL,
               build_now() - sp->t0, run);
}

/* ---- base images -------------------------------------------------------------- */

int
build_registry(struct bctx *b, struct registry_client **out, struct ib_err **err)
{
    if (!b->reg && b->o->registry)
        b->reg = b->o->registry;
    if (!b->reg) {
        if (registry_client_new(NULL, &b->own_reg, err) < 0)
            return -1;
        b->reg = b->own_reg;
    }
    *out = b->reg;
    return 0;
}

/* Does a stored image fit platform?  Fields the config lacks fit anything. */
static bool
platform_fits(const struct store_image *img, const char *platform)
{
    struct plan_platform want;
    AUTO_ERR struct ib_err *e = NULL;
    if (!platform || plan_platform_parse(platform, &want, &e) < 0)
        return true;
    const char *os = store_image_top_str(img, "os");
    const char *arch = store_image_top_str(img, "architecture");
    const char *var = store_image_top_str(img, "variant");
    bool ok = (!os || strcmp(os, want.os) == 0) && (!arch || strcmp(arch, want.arch) == 0) &&
              (!var || !want.variant || strcmp(var, want.variant) == 0);
    plan_platform_release(&want);
    return ok;
}

/* Pull name for platform.  Without --pull, and for a second use within one build, the
 * store's record of an earlier pull (tag -> digest per platform) answers without any
 * network traffic (Docker Hub's pull quota); --pull re-checks the registry once per
 * build (a HEAD request; layers are fetched only when the digest changed). */
static int
pull_image(struct bctx *b, const char *name, const char *platform, struct store_image **out,
           struct ib_err **err)
{
    struct ref r;
    if (ref_parse(name, &r, err) < 0)
        return -1;
    AUTO_FREE char *refstr = ref_string(&r);
    AUTO_FREE char *memo = ib_xasprintf("%s %s", platform ? platform : "", refstr);
    pthread_mutex_lock(&b->pull_lock);
    bool seen = false;
    for (size_t i = 0; i < b->pulled.n && !seen; i++)
        seen = strcmp(b->pulled.v[i], memo) == 0;
    unsigned flags = !b->o->pull || seen ? REGISTRY_PULL_CACHED : 0;
    struct registry_client *c = NULL;
    AUTO_FREE char *msg =
        ib_xasprintf("resolving %s (%s)%s", refstr, platform ? platform : "host platform",
                     flags ? "" : ": --pull, checking the registry");
    build_emit(b, BUILD_EV_INFO, 0, msg, 0, NULL);
    int rc = build_registry(b, &c, err);
    if (rc == 0)
        rc = registry_pull(c, b->st, &r, platform, flags, out, err);
    if (rc == 0 && !seen)
        ib_strv_push(&b->pulled, memo);
    pthread_mutex_unlock(&b->pull_lock);
    ref_release(&r);
    if (rc < 0)
        return ib_err_prefix(err, "pull");
    return 0;
}

/* The one place where a base image comes from: the store first; a pull when it is
 * missing there (or is there for another platform only), or with --pull. */
static int
resolve_base_image(struct bctx *b, const char *ref, const char *platform, struct store_image **out,
                   struct ib_err **err)
{
    AUTO_ERR struct ib_err *e = NULL;
    IB_AUTO(store_image_free) struct store_image *local = NULL;
    if (store_image_get(b->st, ref, &local, &e) < 0) {
        if (e->kind != IB_E_STORE || e->sys != ENOENT) {
            *err = ib_steal(&e);
            return -1;
        }
    }
    bool fits = local && platform_fits(local, platform);
    if (local && (ref_looks_like_id(ref) || (fits && !b->o->pull))) {
        *out = ib_steal(&local);
        return 0;
    }
    if (!local && ref_looks_like_id(ref))
        return ib_fail(err, IB_E_BUILD, "image '%s' not found in the store", ref);
    if (pull_image(b, ref, platform, out, err) < 0)
        return local ? -1 : ib_err_prefix(err, "image '%s' not found in the store", ref);
    return 0;
}

int
build_image_ready(struct bctx *b, const char *ref, const char *platform, struct store_image **out,
                  struct ib_err **err)
{
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (resolve_base_image(b, ref, platform, &img, err) < 0 ||
        build_image_snapshots(b, img, ref, err) < 0)
        return -1;
    *out = ib_steal(&img);
    return 0;
}

int
build_image_snapshots(struct bctx *b, const struct store_image *img, const char *what,
                      struct ib_err **err)
{
    /* every layer's snapshot must be there to serve as an overlay lower */
    struct digest chain = {0};
    for (size_t i = 0; i < store_image_nlayers(img); i++) {
        struct store_layer l = *store_image_layer(img, i);
        pthread_mutex_lock(&b->lock);
        int rc = store_snapshot_ensure(b->st, i ? &chain : NULL, &l, err);
        pthread_mutex_unlock(&b->lock);
        if (rc < 0)
            return ib_err_prefix(err, "image '%s'", what);
        chain = l.chain_id;
    }
    return 0;
}

static int
stage_from(struct bctx *b, struct bstage *s, struct ib_err **err)
{
    struct plan_stage *ps = s->ps;
    struct bstep sp = {.b = b, .s = s, .in = ps->from};
    struct keyb k;
    AUTO_BUF struct ib_buf txt = IB_BUF_INIT;
    const char *pf = ps->platform;
    AUTO_FREE char *target_pf = plan_platform_string(&b->plan->target_platform);
    if (!pf)
        pf = target_pf;
    if (ps->base_stage >= 0) {
        struct bstage *bs = &b->stages[ps->base_stage];
        if (store_image_new(bs->img, &s->img, err) < 0)
            return -1;
        s->key = bs->key;
        ib_buf_addf(&txt, "FROM %s", bs->label[0] ? bs->label : ps->base);
        build_step_start(&sp, txt.s);
        build_step_done(&sp, false, NULL);
        return 0;
    }
    const struct bnamed *nc = ps->base_context >= 0 ? &b->named[ps->base_context] : NULL;
    const char *base = nc && !nc->c.dir ? named_describe(nc) : ps->base;
    ib_buf_addf(&txt, "FROM %s", ps->base);
    if (nc)
        ib_buf_addf(&txt, " (build context %s)", named_describe(nc));
    build_step_start(&sp, txt.s);
    if ((strcmp(base, "scratch") == 0 && !(nc && nc->c.layout)) || (nc && nc->c.dir)) {
        if (store_image_new(NULL, &s->img, err) < 0)
            return -1;
        AUTO_BUF struct ib_buf j = IB_BUF_INIT;
        json_str(&j, b->plan->target_platform.arch);
        if (store_image_config_set_top(s->img, "architecture", j.s, err) < 0 ||
            store_image_config_set(s->img, "Env",
                                   "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                   "/sbin:/bin\"]",
                                   err) < 0)
            return -1;
        if (b->plan->target_platform.variant) {
            ib_buf_reset(&j);
            json_str(&j, b->plan->target_platform.variant);
            if (store_image_config_set_top(s->img, "variant", j.s, err) < 0)
                return -1;
        }
        keyb_init(&k, NULL, "scratch");
        keyb_add(&k, "platform", pf);
        keyb_final(&k, &s->key);
        if (nc && nc->c.dir)
            return copy_from_context_dir(b, s, nc, &sp, err);
    } else {
        IB_AUTO(store_image_free) struct store_image *bimg = NULL;
        int rc = nc ? named_image_ready(b, nc, pf, &bimg, err)
                    : build_image_ready(b, base, pf, &bimg, err);
        if (rc < 0) {
            AUTO_ERR struct ib_err *e = ib_steal(err);
            return build_fail_at(b, ps->from, e->kind, err, "%s", e->msg);
        }
        if (store_image_new(bimg, &s->img, err) < 0)
            return -1;
        keyb_init(&k, NULL, "image");
        keyb_add(&k, "manifest", store_image_digest(bimg)->s);
        keyb_final(&k, &s->key);
    }
    build_step_done(&sp, false, NULL);
    return 0;
}

/* ONBUILD triggers of the base image run first, then they are cleared. */
static int
run_onbuild(struct bctx *b, struct bstage *s, struct ib_err **err)
{
    AUTO_STRV struct ib_strv trig = IB_STRV_INIT;
    if (!store_image_config_strv(s->img, "OnBuild", &trig) || trig.n == 0)
        return 0;
    if (store_image_config_set(s->img, "OnBuild", "null", err) < 0)
        return -1;
    s->onbuild = ib_xcalloc(trig.n, sizeof(*s->onbuild));
    for (size_t i = 0; i < trig.n; i++) {
        AUTO_FREE char *name = ib_xasprintf("%s (ONBUILD trigger %zu)", b->df->name, i + 1);
        struct df_file *f = NULL;
        if (df_parse_buf(name, trig.v[i], strlen(trig.v[i]), &f, err) < 0)
            return -1;
        s->onbuild[s->nonbuild++] = f;
        for (size_t j = 0; j < f->ninstrs; j++) {
            enum df_kind k = f->instrs[j].kind;
            if (k == DF_ONBUILD || k == DF_FROM || k == DF_MAINTAINER)
                return ib_fail(err, IB_E_BUILD, "%s isn't allowed as an ONBUILD trigger",
                               df_kind_name(k));
            if (dispatch_instr(b, s, &f->instrs[j], err) < 0)
                return -1;
        }
    }
    return 0;
}

static bool
shows_step(enum df_kind k)
{
    return k == DF_RUN || k == DF_COPY || k == DF_ADD || k == DF_WORKDIR;
}

static int
build_stage(struct bctx *b, struct bstage *s, struct ib_err **err)
{
    if (stage_from(b, s, err) < 0 || run_onbuild(b, s, err) < 0)
        return -1;
    for (size_t i = 0; i < s->ps->ninstrs; i++)
        if (dispatch_instr(b, s, s->ps->instrs[i], err) < 0)
            return -1;
    return 0;
}

/* ---- scheduling ------------------------------------------------------------------ */

struct sched {
    struct bctx *b;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ib_err *err;
    bool failed;
};

static long
next_ready(struct sched *sc)
{
    struct bctx *b = sc->b;
    bool waiting = false;
    for (size_t i = 0; i < b->plan->nstages; i++) {
        struct bstage *s = &b->stages[i];
        if (!s->ps->needed || s->state != 0)
            continue;
        waiting = true;
        bool ready = true;
        for (size_t d = 0; d < s->ps->ndeps; d++)
            ready = ready && b->stages[s->ps->deps[d]].state == 2;
        if (ready)
            return (long)i;
    }
    return waiting ? -1 : -2;
}

static void *
worker(void *arg)
{
    struct sched *sc = arg;
    pthread_mutex_lock(&sc->mu);
    for (;;) {
        long i;
        while (!sc->failed && (i = next_ready(sc)) == -1)
            pthread_cond_wait(&sc->cv, &sc->mu);
        if (sc->failed || i == -2)
            break;
        struct bstage *s = &sc->b->stages[i];
        s->state = 1;
        pthread_mutex_unlock(&sc->mu);
        struct ib_err *e = NULL;
        int rc = build_stage(sc->b, s, &e);
        pthread_mutex_lock(&sc->mu);
        s->state = rc < 0 ? -1 : 2;
        if (rc < 0) {
            if (!sc->failed)
                sc->err = e;
            else
                ib_err_free(e);
            sc->failed = true;
        }
        pthread_cond_broadcast(&sc->cv);
    }
    pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

static int
build_stages(struct bctx *b, struct ib_err **err)
{
    struct sched sc = {.b = b};
    pthread_mutex_init(&sc.mu, NULL);
    pthread_cond_init(&sc.cv, NULL);
    size_t nneeded = 0;
    for (size_t i = 0; i < b->plan->nstages; i++)
        nneeded += b->stages[i].ps->needed;
    int par = b->o->max_parallel > 0 ? b->o->max_parallel : 2;
    if ((size_t)par > nneeded)
        par = (int)nneeded;
    pthread_t th[8];
    int started = 0;
    for (int i = 1; i < par && i < 8; i++)
        if (pthread_create(&th[started], NULL, worker, &sc) == 0)
            started++;
    worker(&sc);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_cond_destroy(&sc.cv);
    pthread_mutex_destroy(&sc.mu);
    if (sc.failed) {
        *err = sc.err;
        return -1;
    }
    return 0;
}

/* ---- the build ------------------------------------------------------------------- */

static int
open_context(struct bctx *b, struct ib_err **err)
{
    const struct build_opts *o = b->o;
    if (!o->context_dir)
        return 0;
    b->ctxfd = open(o->context_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->ctxfd < 0)
        return ib_fail_errno(err, "open build context '%s'", o->context_dir);
    b->ctxpath = realpath(o->context_dir, NULL);
    if (!b->ctxpath)
        return ib_fail_errno(err, "resolve build context '%s'", o->context_dir);
    AUTO_STRV struct ib_strv pats = IB_STRV_INIT;
    const char *df = o->dockerfile && strcmp(o->dockerfile, "-") != 0 ? o->dockerfile : NULL;
    if (context_read_ignore(o->context_dir, df, &pats, NULL, err) < 0)
        return -1;
    if (pats.n && df_ignore_new(pats.v, pats.n, &b->ignore, err) < 0)
        return ib_err_prefix(err, ".dockerignore");
    return mdcache_load(b, b->ctxpath, &b->md, err);
}

static void
stage_labels(struct bctx *b)
{
    size_t nneeded = 0;
    for (size_t i = 0; i < b->plan->nstages; i++)
        nneeded += b->plan->stages[i].needed;
    for (size_t i = 0; i < b->plan->nstages; i++) {
        struct bstage *s = &b->stages[i];
        s->ps = &b->plan->stages[i];
        s->state = 0;
        if (nneeded <= 1 && b->plan->nstages == 1)
            s->label = ib_xstrdup("");
        else if (s->ps->name)
            s->label = ib_xstrdup(s->ps->name);
        else
            s->label = ib_xasprintf("stage-%zu", i);
        s->nsteps = 1;
        for (size_t j = 0; j < s->ps->ninstrs; j++)
            s->nsteps += shows_step(s->ps->instrs[j]->kind);
    }
}

/* The final image's config and manifest blobs (inside the build's write batch). */
static int
commit_image(struct bctx *b, struct ib_err **err)
{
    struct bstage *s = &b->stages[b->plan->target];
    for (size_t i = 0; i < b->o->nlabels; i++) {
        const char *kv = b->o->labels[i];
        const char *eq = strchr(kv, '=');
        AUTO_FREE char *k = ib_xstrndup(kv, eq ? (size_t)(eq - kv) : strlen(kv));
        AUTO_BUF struct ib_buf v = IB_BUF_INIT;
        json_str(&v, eq ? eq + 1 : "");
        if (store_image_config_set_entry(s->img, "Labels", k, v.s, err) < 0)
            return -1;
    }
    pthread_mutex_lock(&b->lock);
    int rc = store_image_commit(b->st, s->img, NULL, err);
    pthread_mutex_unlock(&b->lock);
    if (rc < 0)
        return ib_err_prefix(err, "write image");
    return 0;
}

/* Tag the final image (after the write batch ended: a tag names only durable data). */
static int
finish_image(struct bctx *b, struct build_result *res, struct ib_err **err)
{
    struct bstage *s = &b->stages[b->plan->target];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->o->ntags; i++)
        rc = store_tag(b->st, s->img, b->o->tags[i], err);
    if (rc == 0 && b->o->ntags == 0)
        rc = store_tag(b->st, s->img, NULL, err);
    if (rc < 0)
        return ib_err_prefix(err, "write image");
    snprintf(res->id, sizeof(res->id), "%s", store_image_id(s->img)->s);
    snprintf(res->digest, sizeof(res->digest), "%s", store_image_digest(s->img)->s);
    res->steps = b->stepno;
    res->cached = b->ncached;
    return 0;
}

static void
warn_unused_args(struct bctx *b)
{
    static const char *const proxies[] = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY",
                                          "NO_PROXY",   "ALL_PROXY",   NULL};
    AUTO_BUF struct ib_buf m = IB_BUF_INIT;
    for (size_t i = 0; i < b->plan->build_args.n; i++) {
        const char *n = b->plan->build_args.names[i];
        bool used = plan_vars_find(&b->plan->global_args, n) >= 0;
        for (size_t j = 0; !used && j < b->used_args.n; j++)
            used = strcmp(b->used_args.v[j], n) == 0;
        for (size_t j = 0; !used && proxies[j]; j++)
            used = strcasecmp(proxies[j], n) == 0;
        if (!used)
            ib_buf_addf(&m, "%s%s", m.len ? " " : "", n);
    }
    if (m.len)
        build_warn(b, "one or more build-args [%s] were not consumed", m.s);
}

static void
bctx_release(struct bctx *b)
{
    if (b->stages) {
        for (size_t i = 0; i < b->plan->nstages; i++) {
            struct bstage *s = &b->stages[i];
            store_image_free(s->img);
            plan_vars_release(&s->args);
            free(s->label);
            for (size_t j = 0; j < s->nonbuild; j++)
                df_file_free(s->onbuild[j]);
            free(s->onbuild);
        }
        free(b->stages);
    }
    plan_free(b->plan);
    df_file_free(b->df);
    if (b->ctxfd >= 0)
        close(b->ctxfd);
    free(b->ctxpath);
    df_ignore_free(b->ignore);
    mdcache_free(b->md);
    ib_strv_release(&b->used_args);
    ib_strv_release(&b->pulled);
    ib_strv_release(&b->layouts);
    registry_client_free(b->own_reg);
    ssh_agents_free(b->ssh);
    free(b->extra_hosts);
    named_release(b);
    pthread_mutex_destroy(&b->pull_lock);
    pthread_mutex_destroy(&b->lock);
}

static int
check_syntax(struct bctx *b)
{
    const char *s = b->df->syntax;
    if (s && !strstr(s, "docker/dockerfile"))
        build_warn(b,
                   "ignoring '# syntax=%s': only the built-in Dockerfile frontend is "
                   "available",
                   s);
    if (b->df->check)
        build_warn(b, "'# check=%s' is not supported and was ignored", b->df->check);
    for (size_t i = 0; i < b->df->nwarnings; i++)
        build_warn(b, "%s:%u: %s", b->df->name, b->df->warnings[i].line, b->df->warnings[i].msg);
    return 0;
}

int
builder_build(struct store *st, const struct build_opts *o, struct build_result *res,
              struct ib_err **err)
{
    struct bctx b = {.st = st, .o = o, .ctxfd = -1};
    pthread_mutex_init(&b.lock, NULL);
    pthread_mutex_init(&b.pull_lock, NULL);
    memset(res, 0, sizeof(*res));
    const char *name =
        o->dockerfile && strcmp(o->dockerfile, "-") != 0 ? o->dockerfile : "Dockerfile";
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    int rc = named_open(&b, &names, err);
    if (rc == 0)
        rc = df_parse_buf(name, o->dockerfile_data, o->dockerfile_len, &b.df, err);
    struct plan_opts po = {.build_args = o->build_args,
                           .nbuild_args = o->nbuild_args,
                           .target = o->target,
                           .platform = o->platform,
                           .contexts = (const char *const *)names.v,
                           .ncontexts = names.n};
    if (rc == 0) {
        check_syntax(&b);
        rc = plan_new(b.df, &po, &b.plan, err);
    }
    if (rc == 0)
        rc = open_context(&b, err);
    if (rc == 0 && o->nadd_hosts)
        rc = build_add_hosts(o->add_hosts, o->nadd_hosts, &b.extra_hosts, err);
    if (rc == 0 && o->nssh)
        rc = ssh_agents_open(o->ssh, o->nssh, &b.ssh, err);
    /* one write batch for the whole build: layers, snapshots, blobs and cache entries are
     * synced once at its end (also when the build fails), before the tags are written */
    bool batch = rc == 0 && store_batch_begin(st, err) == 0;
    if (rc == 0 && !batch)
        rc = -1;
    if (rc == 0) {
        b.stages = ib_xcalloc(b.plan->nstages, sizeof(*b.stages));
        stage_labels(&b);
        rc = build_stages(&b, err);
        sandbox_settle(); /* every step's mounts, cgroup and work dir gone */
    }
    if (rc == 0)
        rc = commit_image(&b, err);
    if (batch) {
        AUTO_ERR struct ib_err *e = NULL;
        if (store_batch_end(st, rc == 0 ? err : &e) < 0)
            rc = -1;
    }
    if (rc == 0)
        rc = finish_image(&b, res, err);
    if (rc == 0) {
        warn_unused_args(&b);
        AUTO_ERR struct ib_err *e = NULL;
        if ((b.md && mdcache_save(&b, b.md, &e) < 0) || named_save(&b, &e) < 0)
            build_warn(&b, "could not save the context metadata cache: %s", e->msg);
    }
    bctx_release(&b);
    return rc;
}
