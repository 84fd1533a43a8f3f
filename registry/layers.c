/* registry/layers.c: a pull's layers, downloaded in parallel.
 *
 * The driving thread runs curl multi (opts.parallel transfers at once, the
 * largest layers first so the last to start is a small one); each body
 * streams into the store's blob writer, which hashes it.  A finished body is
 * handed to a worker thread that commits it (the digest must be the
 * manifest's; rename: the pull's write batch syncs them all at its end) and
 * records where it came from, so the downloads never wait for the disk.
 * When the caller wants the snapshots now, the worker also unpacks each layer
 * as soon as it and the layers below it are stored; otherwise
 * store_snapshot_ensure unpacks a layer when something first needs it.
 */
#include "registry/internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store_image, store_image_free)

enum { WAITING, DOWNLOADED, COMMITTING, STORED, FAILED };

#define MAX_WORKERS 4 /* commit threads */

struct layer_dl {
    struct layers_ctx *lc;
    struct store_layer layer;
    struct blob_writer *w; /* the driving thread's until DOWNLOADED, then the worker's */
    struct xfer *x;
    struct ib_err *err;
    int state;
};

struct layers_ctx {
    const struct reg_repo *r;
    struct store *st;
    struct layer_dl *dl;
    size_t n;
    bool unpack;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ib_err *unpack_err;
};

static void record_source(const struct reg_repo *r, struct store *st, const struct digest *d);

static int
sink(void *arg, const void *p, size_t n, struct ib_err **err)
{
    struct layer_dl *d = arg;
    if (d->layer.size && d->x->received + n > d->layer.size)
        return ib_fail(err, IB_E_REGISTRY,
                       "%s: layer '%s' is larger than the manifest says (%llu bytes)",
                       d->lc->r->refstr, d->layer.digest.s, (unsigned long long)d->layer.size);
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
    if (store_blob_commit(w, &d->layer.digest, NULL, NULL, &d->err) < 0) {
        ib_err_prefix(&d->err, "%s: layer '%s'", lc->r->refstr, d->layer.digest.s);
        set_state(d, FAILED);
        return;
    }
    record_source(lc->r, lc->st, &d->layer.digest);
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
 * unpacked, or unpacking failed). */
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
        struct layer_dl *todo = NULL;
        size_t settled = 0;
        for (size_t i = 0; i < lc->n; i++) {
            if (lc->dl[i].state == DOWNLOADED && !todo)
                todo = &lc->dl[i];
            settled += lc->dl[i].state == STORED || lc->dl[i].state == FAILED;
        }
        if (todo) {
            todo->state = COMMITTING;
            pthread_mutex_unlock(&lc->mu);
            commit(lc, todo);
            pthread_mutex_lock(&lc->mu);
            continue;
        }
        if (unpacking && next_unpack < lc->n && lc->dl[next_unpack].state == FAILED)
            unpacking = false;
        if (unpacking && next_unpack < lc->n && lc->dl[next_unpack].state == STORED) {
            struct layer_dl *d = &lc->dl[next_unpack];
            pthread_mutex_unlock(&lc->mu);
            int rc = store_snapshot_ensure(lc->st, parent, &d->layer, &lc->unpack_err);
            if (rc < 0)
                ib_err_prefix(&lc->unpack_err, "%s", lc->r->refstr);
            parent = &d->layer.chain_id;
            pthread_mutex_lock(&lc->mu);
            next_unpack++;
            unpacking = rc == 0;
            continue;
        }
        if (settled == lc->n && (!unpacking || next_unpack == lc->n))
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
    return da->layer.size < db->layer.size ? 1 : da->layer.size > db->layer.size ? -1 : 0;
}

static int
pass_err(struct ib_err **err, struct ib_err **mine)
{
    if (err)
        *err = ib_steal(mine);
    return -1;
}

int
reg_pull_layers(const struct reg_repo *r, struct store *st, const struct digest *manifest,
                bool unpack, struct ib_err **err)
{
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_load(st, manifest, &img, err) < 0)
        return ib_err_prefix(err, "%s", r->refstr);
    struct layers_ctx lc = {.r = r, .st = st, .n = store_image_nlayers(img), .unpack = unpack};
    lc.dl = ib_xcalloc(lc.n ? lc.n : 1, sizeof(*lc.dl));
    pthread_mutex_init(&lc.mu, NULL);
    pthread_cond_init(&lc.cv, NULL);
    AUTO_FREE struct xfer **xs = ib_xcalloc(lc.n ? lc.n : 1, sizeof(*xs));
    size_t nx = 0;
    for (size_t i = 0; i < lc.n; i++) {
        struct layer_dl *d = &lc.dl[i];
        d->lc = &lc;
        d->layer = *store_image_layer(img, i);
        if (store_blob_exists(st, &d->layer.digest)) {
            d->state = STORED;
            continue;
        }
        struct xfer *x = reg_repo_xfer(r, "GET", "blobs/", d->layer.digest.s);
        x->sink = sink;
        x->sink_reset = sink_reset;
        x->sink_arg = d;
        x->on_done = on_done;
        x->what = d->layer.digest.s;
        d->x = x;
        xs[nx++] = x;
    }
    /* the largest first: the transfers that start last, when a slot frees, are short */
    qsort(xs, nx, sizeof(*xs), by_size_desc);
    size_t nw = nx < MAX_WORKERS ? nx : MAX_WORKERS;
    if (nw == 0)
        nw = 1;
    struct worker wks[MAX_WORKERS] = {0};
    int trc = 0;
    for (size_t i = 0; i < nw && trc == 0; i++) {
        wks[i].lc = &lc;
        wks[i].unpacker = unpack && i == 0;
        trc = pthread_create(&wks[i].th, NULL, worker, &wks[i]);
        wks[i].started = trc == 0;
    }
    if (trc != 0)
        ib_fail_sys(err, trc, "start a layer commit thread");
    int rc = trc == 0 ? 0 : -1;
    if (nx && rc == 0) {
        AUTO_ERR struct ib_err *ignored = NULL; /* each layer keeps its own error */
        http_run(r->c, xs, nx, r->c->opts.parallel, &ignored);
    }
    for (size_t i = 0; i < lc.n; i++) {
        struct layer_dl *d = &lc.dl[i];
        if (d->state == WAITING) /* never started (thread failure) */
            set_state(d, FAILED);
    }
    for (size_t i = 0; i < nw; i++)
        if (wks[i].started)
            pthread_join(wks[i].th, NULL);
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
    pthread_mutex_destroy(&lc.mu);
    pthread_cond_destroy(&lc.cv);
    free(lc.dl);
    return rc;
}
