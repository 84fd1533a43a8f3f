/* registry/layers.c: a pull's config and layers, downloaded in parallel.
 *
 * The driving thread runs curl multi (opts.parallel transfers at once: the
 * config first, then the largest layers, so the last to start is a small
 * one); each layer's body streams into the store's blob writer, which hashes
 * it.  A finished body is handed to a worker thread that commits it (the
 * digest must be the manifest's; rename: the pull's write batch syncs them
 * all at its end) and records where it came from, so the downloads never
 * wait for the disk.
 *
 * The config does not hold the layers back (a round trip less): it is
 * checked when it arrives, on the driving thread, and stored by a worker
 * (with the manifests: the pull's first write, which makes the write
 * batch's journal, never blocks the transfers).  No layer is committed
 * before that.  A config that fails, or is for another platform, cancels
 * the layer downloads (their sinks fail), the layers that came are dropped,
 * and it is the pull's error.
 *
 * When the caller wants the snapshots now, a worker also unpacks each layer
 * as soon as the config is there and the layer and those below it are
 * stored; otherwise store_snapshot_ensure unpacks a layer when something
 * first needs it.
 */
#include "registry/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store_image, store_image_free)

enum { WAITING, DOWNLOADED, COMMITTING, STORED, FAILED };

/* The config: COMING (its transfer runs), ARRIVED (checked; a worker is to store it),
 * STORING, READY (stored with the manifests; layers known) or FAILED (config_err). */
enum { CFG_COMING, CFG_ARRIVED, CFG_STORING, CFG_READY, CFG_FAILED };

#define MAX_WORKERS 4 /* commit threads */

struct layer_dl {
    struct layers_ctx *lc;
    struct digest digest; /* from the manifest */
    uint64_t size;
    struct blob_writer *w; /* the driving thread's until DOWNLOADED, then the worker's */
    struct xfer *x;
    struct ib_err *err;
    int state;
};

struct layers_ctx {
    const struct reg_repo *r;
    struct store *st;
    const struct reg_manifest *m, *index; /* stored with the config (config_ready) */
    const struct store_platform *want;
    struct layer_dl *dl;
    size_t n;
    bool unpack;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu: */
    int cfg;                    /* CFG_* */
    struct ib_buf cfg_body;     /* ARRIVED: the config, for a worker to store */
    struct store_layer *layers; /* READY: the image's layers (chain ids) */
    struct ib_err *config_err;  /* FAILED: the pull's error */
    struct ib_err *unpack_err;
    struct digest cfg_digest;
    bool cancel; /* the layer downloads stop (read without mu by the sinks) */
};

static void record_source(const struct reg_repo *r, struct store *st, const struct digest *d);

static int
sink(void *arg, const void *p, size_t n, struct ib_err **err)
{
    struct layer_dl *d = arg;
    if (__atomic_load_n(&d->lc->cancel, __ATOMIC_RELAXED))
        return ib_fail(err, IB_E_REGISTRY, "cancelled");
    if (d->size && d->x->received + n > d->size)
        return ib_fail(err, IB_E_REGISTRY,
                       "%s: layer '%s' is larger than the manifest says (%llu bytes)",
                       d->lc->r->refstr, d->digest.s, (unsigned long long)d->size);
    if (!d->w && store_blob_begin(d->lc->st, &d->w, err) < 0)
        return -1;
    return blob_writer_write(d->w, p, n, err);
}

static int
sink_reset(void *arg, struct ib_err **err)
{
    (void)err;
    struct layer_dl *d = arg;
    if (d->w)
        store_blob_abort(d->w);
    d->w = NULL;
    return 0;
}

static void
set_state(struct layer_dl *d, int state)
{
    pthread_mutex_lock(&d->lc->mu);
    d->state = state;
    pthread_cond_broadcast(&d->lc->cv);
    pthread_mutex_unlock(&d->lc->mu);
}

/* The driving thread: the transfer has its final answer. */
static void
on_done(struct xfer *x)
{
    struct layer_dl *d = x->sink_arg;
    const struct reg_repo *r = d->lc->r;
    int rc = 0;
    if (x->err) {
        rc = -1;
        d->err = x->err;
        x->err = NULL;
        ib_err_prefix(&d->err, "%s", r->refstr);
    } else if (x->status != 200 && x->status != 206) {
        rc = reg_status_fail(x, r->refstr, &d->err);
    }
    if (rc == 0 && !d->w)
        rc = store_blob_begin(d->lc->st, &d->w, &d->err);
    if (rc < 0 && d->w) {
        store_blob_abort(d->w);
        d->w = NULL;
    }
    set_state(d, rc == 0 ? DOWNLOADED : FAILED);
}

/* The worker: verify and store a downloaded blob. */
static void
commit(struct layers_ctx *lc, struct layer_dl *d)
{
    struct blob_writer *w = ib_steal(&d->w);
    if (store_blob_commit(w, &d->digest, NULL, NULL, &d->err) < 0) {
        ib_err_prefix(&d->err, "%s: layer '%s'", lc->r->refstr, d->digest.s);
        set_state(d, FAILED);
        return;
    }
    record_source(lc->r, lc->st, &d->digest);
    set_state(d, STORED);
}

struct worker {
    struct layers_ctx *lc;
    bool unpacker;
    pthread_t th;
    bool started;
};

/* A worker: commit blobs as they finish downloading (several workers, so
 * the fsyncs of layers that finish together overlap) and, for the one
 * unpacker, make the snapshots bottom-up as soon as each layer and those
 * below are stored.  Ends when every layer is stored or failed (and
 * unpacked, or unpacking failed).  Nothing is committed before the config is
 * there and checked: after a bad config, the downloaded layers are dropped. */
static void store_config(struct layers_ctx *lc);

static void *
worker(void *arg)
{
    struct worker *wk = arg;
    struct layers_ctx *lc = wk->lc;
    size_t next_unpack = 0; /* layers below it have their snapshots */
    bool unpacking = wk->unpacker;
    const struct digest *parent = NULL;
    pthread_mutex_lock(&lc->mu);
    for (;;) {
        if (lc->cfg == CFG_ARRIVED) { /* first: the layers' commits wait for it */
            lc->cfg = CFG_STORING;
            pthread_mutex_unlock(&lc->mu);
            store_config(lc);
            pthread_mutex_lock(&lc->mu);
            continue;
        }
        bool cfg_settled = lc->cfg == CFG_READY || lc->cfg == CFG_FAILED;
        struct layer_dl *todo = NULL;
        size_t settled = 0;
        for (size_t i = 0; i < lc->n; i++) {
            if (lc->dl[i].state == DOWNLOADED && !todo && cfg_settled)
                todo = &lc->dl[i];
            settled += lc->dl[i].state == STORED || lc->dl[i].state == FAILED;
        }
        if (todo) {
            todo->state = COMMITTING;
            bool drop = lc->cfg == CFG_FAILED;
            pthread_mutex_unlock(&lc->mu);
            if (drop) {
                store_blob_abort(ib_steal(&todo->w));
                set_state(todo, FAILED); /* no error of its own: the config's is the pull's */
            } else {
                commit(lc, todo);
            }
            pthread_mutex_lock(&lc->mu);
            continue;
        }
        if (unpacking &&
            (lc->cfg == CFG_FAILED || (next_unpack < lc->n && lc->dl[next_unpack].state == FAILED)))
            unpacking = false;
        if (unpacking && lc->cfg == CFG_READY && next_unpack < lc->n &&
            lc->dl[next_unpack].state == STORED) {
            struct store_layer *l = &lc->layers[next_unpack];
            pthread_mutex_unlock(&lc->mu);
            struct ib_err *e = NULL;
            int rc = store_snapshot_ensure(lc->st, parent, l, &e);
            if (rc < 0)
                ib_err_prefix(&e, "%s", lc->r->refstr);
            parent = &l->chain_id;
            pthread_mutex_lock(&lc->mu);
            if (e)
                lc->unpack_err = e;
            next_unpack++;
            unpacking = rc == 0;
            continue;
        }
        /* (http_run ends every transfer: the config is READY or FAILED in the end) */
        if (cfg_settled && settled == lc->n && (!unpacking || next_unpack == lc->n))
            break;
        pthread_cond_wait(&lc->cv, &lc->mu);
    }
    pthread_mutex_unlock(&lc->mu);
    return NULL;
}

/* Remember where a blob came from, so a push to the same registry can mount it. */
static void
record_source(const struct reg_repo *r, struct store *st, const struct digest *d)
{
    AUTO_FREE char *key = ib_xasprintf("registry-blob %s %s", r->ep->domain, d->s);
    AUTO_FREE char *val = ib_xasprintf("{\"repo\":\"%s\"}", r->ref->path);
    const char *roots[] = {d->s};
    store_cache_put(st, key, val, roots, 1, NULL);
}

int
reg_blob_source(struct store *st, const char *domain, const struct digest *d, char **repo)
{
    AUTO_FREE char *key = ib_xasprintf("registry-blob %s %s", domain, d->s);
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (store_cache_get(st, key, &b, NULL) < 0)
        return -1;
    const char *p = strstr(b.s, "\"repo\":\"");
    if (!p)
        return -1;
    p += 8;
    *repo = ib_xstrndup(p, strcspn(p, "\""));
    return 0;
}

static int
by_size_desc(const void *a, const void *b)
{
    const struct layer_dl *da = (*(struct xfer *const *)a)->sink_arg;
    const struct layer_dl *db = (*(struct xfer *const *)b)->sink_arg;
    return da->size < db->size ? 1 : da->size > db->size ? -1 : 0;
}

/* Is the config (cfg, len bytes) for the platform wanted? */
static int
check_platform(const struct layers_ctx *lc, const char *cfg, size_t len, struct ib_err **err)
{
    json_t *j = json_loadb(cfg, len, 0, NULL);
    const char *os = json_string_value(json_object_get(j, "os"));
    const char *arch = json_string_value(json_object_get(j, "architecture"));
    const char *v = json_string_value(json_object_get(j, "variant"));
    int rc = 0;
    if (os && arch && *os && *arch) {
        json_t *arr = json_pack("[{s:{s:s,s:s,s:s}}]", "platform", "os", os, "architecture", arch,
                                "variant", v ? v : "");
        if (store_platform_select(arr, lc->want) < 0) {
            char w[96];
            store_platform_string(lc->want, w, sizeof(w));
            rc = ib_fail(err, IB_E_REGISTRY, "%s: image is for platform %s/%s%s%s only, not %s",
                         lc->r->refstr, os, arch, v && *v ? "/" : "", v ? v : "", w);
        }
        json_decref(arr);
    }
    json_decref(j);
    return rc;
}

/* The config is checked and stored: store the manifests, and give the workers the
 * image's layers.  (The manifests wait for this: their write, the store's first in
 * this pull, makes the write batch's journal, while the layers are already coming.) */
static int
config_ready(struct layers_ctx *lc, struct ib_err **err)
{
    struct digest d = lc->m->digest;
    if (store_blob_put_buf(lc->st, lc->m->raw.s, lc->m->raw.len, &d, err) < 0)
        return -1;
    d = lc->index ? lc->index->digest : d;
    if (lc->index && store_blob_put_buf(lc->st, lc->index->raw.s, lc->index->raw.len, &d, err) < 0)
        return -1;
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_load(lc->st, &lc->m->digest, &img, err) < 0)
        return ib_err_prefix(err, "%s", lc->r->refstr);
    if (store_image_nlayers(img) != lc->n)
        return ib_fail(err, IB_E_REGISTRY, "%s: manifest and config disagree on the layers",
                       lc->r->refstr);
    struct store_layer *layers = ib_xcalloc(lc->n ? lc->n : 1, sizeof(*layers));
    for (size_t i = 0; i < lc->n; i++)
        layers[i] = *store_image_layer(img, i);
    pthread_mutex_lock(&lc->mu);
    lc->layers = layers;
    lc->cfg = CFG_READY;
    pthread_cond_broadcast(&lc->cv);
    pthread_mutex_unlock(&lc->mu);
    return 0;
}

/* The config failed (e): it is the pull's error, and the layer downloads stop. */
static void
config_failed(struct layers_ctx *lc, struct ib_err *e)
{
    pthread_mutex_lock(&lc->mu);
    lc->config_err = e;
    lc->cfg = CFG_FAILED;
    __atomic_store_n(&lc->cancel, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&lc->cv);
    pthread_mutex_unlock(&lc->mu);
}

/* A worker: store the config that arrived (off the driving thread: the first write of
 * the pull makes the write batch's journal, two fsyncs), then config_ready. */
static void
store_config(struct layers_ctx *lc)
{
    struct ib_err *e = NULL;
    struct digest d = lc->cfg_digest;
    if (store_blob_put_buf(lc->st, lc->cfg_body.s, lc->cfg_body.len, &d, &e) < 0 ||
        config_ready(lc, &e) < 0)
        config_failed(lc, e);
}

/* The driving thread: the config's transfer has its final answer. */
static void
config_done(struct xfer *x)
{
    struct layers_ctx *lc = x->sink_arg;
    const char *refstr = lc->r->refstr;
    struct ib_err *e = NULL;
    int rc = 0;
    if (x->err) {
        e = ib_steal(&x->err);
        rc = ib_err_prefix(&e, "%s", refstr);
    } else if (x->status != 200) {
        rc = reg_status_fail(x, refstr, &e);
    }
    struct digest got;
    if (rc == 0) {
        digest_buf(x->body.s, x->body.len, &got);
        if (!digest_eq(&got, &lc->cfg_digest))
            rc = ib_fail(&e, IB_E_REGISTRY, "%s: digest mismatch: config is '%s', expected '%s'",
                         refstr, got.s, lc->cfg_digest.s);
    }
    if (rc == 0)
        rc = check_platform(lc, x->body.s, x->body.len, &e);
    if (rc < 0) {
        config_failed(lc, e);
        return;
    }
    pthread_mutex_lock(&lc->mu);
    lc->cfg_body = x->body;
    ib_buf_init(&x->body);
    lc->cfg = CFG_ARRIVED;
    pthread_cond_broadcast(&lc->cv);
    pthread_mutex_unlock(&lc->mu);
}

static int
pass_err(struct ib_err **err, struct ib_err **mine)
{
    if (err)
        *err = ib_steal(mine);
    return -1;
}

int
reg_pull_layers(const struct reg_repo *r, struct store *st, const struct reg_manifest *m,
                const struct reg_manifest *index, const struct store_platform *want, bool unpack,
                struct ib_err **err)
{
    json_t *jl = json_object_get(m->json, "layers");
    struct layers_ctx lc = {.r = r,
                            .st = st,
                            .m = m,
                            .index = index,
                            .want = want,
                            .n = json_array_size(jl),
                            .unpack = unpack};
    if (!json_is_array(jl))
        return ib_fail(err, IB_E_REGISTRY, "%s: manifest has no layers array", r->refstr);
    if (digest_parse(
            json_string_value(json_object_get(json_object_get(m->json, "config"), "digest")) ?: "",
            &lc.cfg_digest, err) < 0)
        return ib_err_prefix(err, "%s: manifest config", r->refstr);
    lc.dl = ib_xcalloc(lc.n ? lc.n : 1, sizeof(*lc.dl));
    for (size_t i = 0; i < lc.n; i++) {
        json_t *l = json_array_get(jl, i);
        struct layer_dl *d = &lc.dl[i];
        d->lc = &lc;
        d->size = (uint64_t)json_integer_value(json_object_get(l, "size"));
        if (digest_parse(json_string_value(json_object_get(l, "digest")) ?: "", &d->digest, err) <
            0) {
            free(lc.dl);
            return ib_err_prefix(err, "%s: manifest layer %zu", r->refstr, i);
        }
    }
    ib_buf_init(&lc.cfg_body);
    pthread_mutex_init(&lc.mu, NULL);
    pthread_cond_init(&lc.cv, NULL);
    AUTO_FREE struct xfer **xs = ib_xcalloc(lc.n + 1, sizeof(*xs));
    size_t nx = 0;
    struct xfer *cx = NULL;
    int rc = 0;
    if (store_blob_exists(st, &lc.cfg_digest)) {
        /* checked before any download */
        AUTO_BUF struct ib_buf b = IB_BUF_INIT;
        rc = store_blob_read(st, &lc.cfg_digest, REG_CONFIG_LIMIT, &b, err);
        if (rc == 0)
            rc = check_platform(&lc, b.s, b.len, err);
        if (rc == 0)
            rc = config_ready(&lc, err);
    } else {
        cx = reg_repo_xfer(r, "GET", "blobs/", lc.cfg_digest.s);
        ib_buf_set_limit(&cx->body, REG_CONFIG_LIMIT);
        cx->what = "config";
        cx->sink_arg = &lc;
        cx->on_done = config_done;
        xs[nx++] = cx;
    }
    for (size_t i = 0; i < lc.n && rc == 0; i++) {
        struct layer_dl *d = &lc.dl[i];
        if (store_blob_exists(st, &d->digest)) {
            d->state = STORED;
            continue;
        }
        struct xfer *x = reg_repo_xfer(r, "GET", "blobs/", d->digest.s);
        x->sink = sink;
        x->sink_reset = sink_reset;
        x->sink_arg = d;
        x->on_done = on_done;
        x->what = d->digest.s;
        d->x = x;
        xs[nx++] = x;
    }
    /* the config first (small, and the layers' check); then the largest layers: the
     * transfers that start last, when a slot frees, are short */
    size_t first_layer = cx ? 1 : 0;
    qsort(xs + first_layer, nx - first_layer, sizeof(*xs), by_size_desc);
    size_t nw = nx < MAX_WORKERS ? nx : MAX_WORKERS;
    if (nw == 0)
        nw = 1;
    struct worker wks[MAX_WORKERS] = {0};
    int trc = 0;
    for (size_t i = 0; i < nw && trc == 0 && rc == 0; i++) {
        wks[i].lc = &lc;
        wks[i].unpacker = unpack && i == 0;
        trc = pthread_create(&wks[i].th, NULL, worker, &wks[i]);
        wks[i].started = trc == 0;
    }
    if (trc != 0)
        rc = ib_fail_sys(err, trc, "start a layer commit thread");
    if (nx && rc == 0) {
        AUTO_ERR struct ib_err *ignored = NULL; /* each transfer keeps its own error */
        http_run(r->c, xs, nx, r->c->opts.parallel, &ignored);
    }
    pthread_mutex_lock(&lc.mu);
    bool never = lc.cfg == CFG_COMING; /* http_run did not run (an error before) */
    pthread_mutex_unlock(&lc.mu);
    if (never)
        config_failed(&lc, NULL);
    pthread_mutex_lock(&lc.mu);
    for (size_t i = 0; i < lc.n; i++)
        if (lc.dl[i].state == WAITING) /* never started (an error before) */
            lc.dl[i].state = FAILED;
    pthread_cond_broadcast(&lc.cv);
    pthread_mutex_unlock(&lc.mu);
    for (size_t i = 0; i < nw; i++)
        if (wks[i].started)
            pthread_join(wks[i].th, NULL);
    /* the config's error first: the layers it cancelled failed because of it */
    if (rc == 0 && lc.config_err)
        rc = pass_err(err, &lc.config_err);
    for (size_t i = 0; i < lc.n; i++) {
        struct layer_dl *d = &lc.dl[i];
        if (rc == 0 && d->err)
            rc = pass_err(err, &d->err);
        ib_err_free(d->err);
        if (d->w)
            store_blob_abort(d->w);
        reg_xfer_free(d->x);
    }
    if (rc == 0 && lc.unpack_err)
        rc = pass_err(err, &lc.unpack_err);
    ib_err_free(lc.unpack_err);
    ib_err_free(lc.config_err);
    ib_buf_release(&lc.cfg_body);
    reg_xfer_free(cx);
    free(lc.layers);
    pthread_mutex_destroy(&lc.mu);
    pthread_cond_destroy(&lc.cv);
    free(lc.dl);
    return rc;
}
