/* builder/cache.c: step cache keys and entries, --explain-cache records, and the
 * per-context metadata cache (path, size, mtime, ctime, inode -> content digest).
 *
 * Store cache entries (store_cache_put/get) hold JSON; the builder keeps jansson
 * out, so each value here is one JSON string holding a small line format:
 *   step:<key hex>         "L <diffID> <blob digest> <size> <chainID>" or "E" (empty RUN)
 *   explain:<identity>     the step's inputs, one "name value" line each
 *   ctxmeta:<context path> "<digest hex> <size> <mtime ns> <ctime ns> <ino> <path>" lines
 */
#include "builder/build.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

/* ---- keys ------------------------------------------------------------------------- */

void
keyb_init(struct keyb *k, const struct digest *parent, const char *kind)
{
    if (digest_ctx_new(&k->c, NULL) < 0)
        ib_oom();
    keyb_add(k, "v", "imgbuild-cache-1");
    keyb_add(k, "parent", parent && digest_is_set(parent) ? parent->s : "");
    keyb_add(k, "kind", kind);
}

void
keyb_add(struct keyb *k, const char *name, const char *value)
{
    uint64_t n = strlen(value);
    digest_ctx_update(k->c, name, strlen(name) + 1);
    digest_ctx_update(k->c, &n, sizeof(n));
    digest_ctx_update(k->c, value, n);
}

void
keyb_final(struct keyb *k, struct digest *out)
{
    digest_ctx_final(k->c, out);
    digest_ctx_free(k->c);
    k->c = NULL;
}

/* ---- JSON strings ------------------------------------------------------------------ */

static void
put_utf8(struct ib_buf *b, unsigned long c)
{
    if (c < 0x80) {
        ib_buf_addc(b, (char)c);
    } else if (c < 0x800) {
        ib_buf_addc(b, (char)(0xc0 | (c >> 6)));
        ib_buf_addc(b, (char)(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
        ib_buf_addc(b, (char)(0xe0 | (c >> 12)));
        ib_buf_addc(b, (char)(0x80 | ((c >> 6) & 0x3f)));
        ib_buf_addc(b, (char)(0x80 | (c & 0x3f)));
    } else {
        ib_buf_addc(b, (char)(0xf0 | (c >> 18)));
        ib_buf_addc(b, (char)(0x80 | ((c >> 12) & 0x3f)));
        ib_buf_addc(b, (char)(0x80 | ((c >> 6) & 0x3f)));
        ib_buf_addc(b, (char)(0x80 | (c & 0x3f)));
    }
}

/* Decode the JSON string literal at s into out; -1 when it is not one. */
static int
json_unquote(const char *s, struct ib_buf *out)
{
    while (*s == ' ' || *s == '\n')
        s++;
    if (*s++ != '"')
        return -1;
    for (; *s && *s != '"'; s++) {
        if (*s != '\\') {
            ib_buf_addc(out, *s);
            continue;
        }
        s++;
        switch (*s) {
        case 'n':
            ib_buf_addc(out, '\n');
            break;
        case 't':
            ib_buf_addc(out, '\t');
            break;
        case 'r':
            ib_buf_addc(out, '\r');
            break;
        case 'b':
            ib_buf_addc(out, '\b');
            break;
        case 'f':
            ib_buf_addc(out, '\f');
            break;
        case 'u': {
            char h[5] = {0};
            memcpy(h, s + 1, 4);
            if (strlen(h) != 4)
                return -1;
            unsigned long c = strtoul(h, NULL, 16);
            s += 4;
            if (c >= 0xd800 && c < 0xdc00 && s[1] == '\\' && s[2] == 'u') {
                memcpy(h, s + 3, 4);
                unsigned long lo = strtoul(h, NULL, 16);
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            }
            put_utf8(out, c);
            break;
        }
        case '\0':
            return -1;
        default:
            ib_buf_addc(out, *s);
            break;
        }
    }
    return *s == '"' ? 0 : -1;
}

int
cache_get_text(struct store *st, const char *key, struct ib_buf *out)
{
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    AUTO_ERR struct ib_err *e = NULL;
    if (store_cache_get(st, key, &v, &e) < 0)
        return -1;
    return json_unquote(v.s, out);
}

int
cache_put_text(struct bctx *b, const char *key, const char *text, const char *const *roots,
               size_t nroots, struct ib_err **err)
{
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    json_str(&v, text);
    pthread_mutex_lock(&b->lock);
    int rc = store_cache_put(b->st, key, v.s, roots, nroots, err);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* ---- step entries --------------------------------------------------------------------- */

/* Look up a layer step: true on a hit (layer filled; empty for a step that made none). */
static bool
cache_lookup(struct bctx *b, const struct digest *key, struct store_layer *layer, bool *empty)
{
    AUTO_FREE char *name = ib_xasprintf("step:%s", digest_hex(key));
    AUTO_BUF struct ib_buf t = IB_BUF_INIT;
    if (cache_get_text(b->st, name, &t) < 0)
        return false;
    memset(layer, 0, sizeof(*layer));
    *empty = strcmp(t.s, "E") == 0;
    if (*empty)
        return true;
    char d1[80], d2[80], d3[80];
    unsigned long long size;
    if (sscanf(t.s, "L %79s %79s %llu %79s", d1, d2, &size, d3) != 4 ||
        digest_parse(d1, &layer->diff_id, NULL) < 0 || digest_parse(d2, &layer->digest, NULL) < 0 ||
        digest_parse(d3, &layer->chain_id, NULL) < 0)
        return false;
    layer->size = size;
    layer->compression = STORE_COMPRESS_NONE;
    if (!store_blob_exists(b->st, &layer->digest))
        return false;
    return true;
}

bool
cache_use(struct bstep *sp, const struct digest *key, const char *inputs, const char *msg)
{
    struct bstage *s = sp->s;
    struct store_layer l;
    bool empty = false;
    bool hit = !stage_no_cache(sp->b, s) && cache_lookup(sp->b, key, &l, &empty);
    if (inputs)
        cache_explain(sp, inputs, hit);
    s->key = *key;
    if (hit && empty)
        store_image_add_history(s->img, msg);
    else if (hit)
        store_image_add_layer(s->img, &l, msg);
    return hit;
}

int
cache_record(struct bctx *b, const struct digest *key, const struct store_layer *layer, bool empty,
             struct ib_err **err)
{
    AUTO_FREE char *name = ib_xasprintf("step:%s", digest_hex(key));
    if (empty)
        return cache_put_text(b, name, "E", NULL, 0, err);
    AUTO_FREE char *t = ib_xasprintf("L %s %s %llu %s", layer->diff_id.s, layer->digest.s,
                                     (unsigned long long)layer->size, layer->chain_id.s);
    const char *roots[] = {layer->digest.s, layer->chain_id.s};
    return cache_put_text(b, name, t, roots, 2, err);
}

/* ---- --explain-cache ------------------------------------------------------------------ */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
split_lines(char *s, struct ib_strv *out)
{
    for (char *save = NULL, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        ib_strv_push(out, l);
    if (out->n)
        qsort(out->v, out->n, sizeof(char *), cmp_str);
}

static bool
has_line(const struct ib_strv *v, const char *l)
{
    return v->n && bsearch(&l, v->v, v->n, sizeof(char *), cmp_str);
}

/* "- line" / "+ line" for lines only in one of the records (at most 8). */
static void
diff_lines(const struct ib_strv *old, const struct ib_strv *cur, struct ib_buf *out)
{
    int shown = 0, more = 0;
    for (size_t i = 0; i < old->n; i++)
        if (strncmp(old->v[i], "parent ", 7) != 0 && !has_line(cur, old->v[i]))
            shown < 8 ? (void)ib_buf_addf(out, "\n    - %s", old->v[i]), shown++ : more++;
    for (size_t i = 0; i < cur->n; i++)
        if (strncmp(cur->v[i], "parent ", 7) != 0 && !has_line(old, cur->v[i]))
            shown < 8 ? (void)ib_buf_addf(out, "\n    + %s", cur->v[i]), shown++ : more++;
    if (more)
        ib_buf_addf(out, "\n    ... and %d more", more);
}

bool
stage_no_cache(const struct bctx *b, const struct bstage *s)
{
    if (b->o->no_cache)
        return true;
    for (size_t i = 0; s->ps->name && i < b->o->nno_cache_filter; i++)
        if (strcasecmp(b->o->no_cache_filter[i], s->ps->name) == 0)
            return true;
    return false;
}

void
cache_explain(struct bstep *sp, const char *inputs, bool hit)
{
    struct bctx *b = sp->b;
    /* step identity: Dockerfile, stage, line and instruction kind */
    struct keyb k;
    keyb_init(&k, NULL, "explain");
    keyb_add(&k, "context", b->ctxpath ? b->ctxpath : "-");
    keyb_add(&k, "dockerfile", b->df->name);
    AUTO_FREE char *pos =
        ib_xasprintf("%zu:%u:%d", sp->s->ps->index, sp->in->start_line, (int)sp->in->kind);
    keyb_add(&k, "pos", pos);
    struct digest id;
    keyb_final(&k, &id);
    AUTO_FREE char *name = ib_xasprintf("explain:%s", digest_hex(&id));
    if (b->o->explain_cache && !hit) {
        AUTO_BUF struct ib_buf why = IB_BUF_INIT;
        AUTO_BUF struct ib_buf old = IB_BUF_INIT;
        if (stage_no_cache(b, sp->s)) {
            ib_buf_adds(&why, b->o->no_cache ? "cache miss: --no-cache"
                                             : "cache miss: --no-cache-filter names this stage");
        } else if (cache_get_text(b->st, name, &old) < 0) {
            ib_buf_adds(&why, "cache miss: no earlier build of this step is recorded");
        } else {
            AUTO_FREE char *cur_copy = ib_xstrdup(inputs);
            AUTO_STRV struct ib_strv ov = IB_STRV_INIT;
            AUTO_STRV struct ib_strv cv = IB_STRV_INIT;
            split_lines(old.s, &ov);
            split_lines(cur_copy, &cv);
            bool parent_changed = false;
            for (size_t i = 0; i < cv.n; i++)
                if (strncmp(cv.v[i], "parent ", 7) == 0 && !has_line(&ov, cv.v[i]))
                    parent_changed = true;
            ib_buf_adds(&why, "cache miss: ");
            AUTO_BUF struct ib_buf d = IB_BUF_INIT;
            diff_lines(&ov, &cv, &d);
            if (parent_changed)
                ib_buf_adds(&why, "the step before it changed (new parent state)");
            if (d.len)
                ib_buf_addf(&why, "%sinputs changed:%s", parent_changed ? "; " : "", d.s);
            else if (!parent_changed)
                ib_buf_adds(&why, "same inputs as recorded, but no cache entry (pruned, or "
                                  "other inputs were built in between)");
        }
        build_emit(b, BUILD_EV_EXPLAIN, sp->no, why.s, 0, NULL);
    }
    /* Rewrite the record only when it changed: a warm build would otherwise pay a durable
     * write (two fsyncs and a rename) per cached step. */
    AUTO_BUF struct ib_buf cur = IB_BUF_INIT;
    if (cache_get_text(b->st, name, &cur) == 0 && strcmp(cur.s, inputs) == 0)
        return;
    AUTO_ERR struct ib_err *e = NULL;
    cache_put_text(b, name, inputs, NULL, 0, &e);
}
