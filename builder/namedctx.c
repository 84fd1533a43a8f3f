/* builder/namedctx.c: named build contexts (`build --build-context NAME=VALUE`).
 *
 * A named context is a local directory, read as the main context is (no symlink followed
 * out of it, its own .dockerignore, file digests through the metadata cache), or
 * docker-image://REF, which stands for REF wherever NAME is written, or
 * oci-layout://PATH[:TAG][@DIGEST], an image of a local OCI image layout, copied into the
 * store (store_layout_import) once per build and platform and then used as an image of the
 * store is (keyed by its manifest digest).  The plan resolves
 * FROM NAME, COPY --from=NAME and RUN --mount=from=NAME to it before any stage or image.
 */
#include "builder/build.h"

#include <ctype.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/context.h"
#include "builder/gitsrc.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store_image, store_image_free)

/* The length of a URL scheme followed by "://" at the start of s, or 0. */
static size_t
scheme_len(const char *s)
{
    size_t n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.')
        n++;
    return n && strncmp(s + n, "://", 3) == 0 ? n : 0;
}

/* oci-layout://PATH[:TAG][@sha256:DIGEST]; rest is what follows "oci-layout://". */
static int
parse_layout(const char *name, const char *v, const char *rest, struct build_context *out,
             struct ib_err **err)
{
    AUTO_FREE char *path = ib_xstrdup(rest);
    char *at = strrchr(path, '@');
    if (at && strchr(at, '/'))
        at = NULL; /* an '@' in a directory name */
    if (at) {
        struct digest d;
        if (digest_parse(at + 1, &d, NULL) < 0)
            return ib_fail(err, IB_E_USAGE,
                           "--build-context %s=%s: invalid digest '%s' (sha256:<64 hex>)", name, v,
                           at + 1);
        out->layout_digest = ib_xstrdup(d.s);
        *at = '\0';
    }
    char *slash = strrchr(path, '/');
    char *colon = strrchr(slash ? slash : path, ':');
    if (colon) {
        const char *t = colon + 1;
        bool ok = *t && strlen(t) <= 128 && (isalnum((unsigned char)*t) || *t == '_');
        for (; ok && *t; t++)
            ok = isalnum((unsigned char)*t) || *t == '_' || *t == '.' || *t == '-';
        if (!ok)
            return ib_fail(err, IB_E_USAGE, "--build-context %s=%s: invalid tag '%s'", name, v,
                           colon + 1);
        out->layout_tag = ib_xstrdup(colon + 1);
        *colon = '\0';
    }
    if (!*path)
        return ib_fail(err, IB_E_USAGE, "--build-context %s=%s: no layout path", name, v);
    out->layout = ib_steal(&path);
    return 0;
}

int
builder_context_parse(const char *spec, struct build_context *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    const char *eq = strchr(spec, '=');
    if (!eq)
        return ib_fail(err, IB_E_USAGE, "--build-context needs NAME=VALUE, got '%s'", spec);
    if (eq == spec || !eq[1])
        return ib_fail(err, IB_E_USAGE, "--build-context '%s': empty %s", spec,
                       eq == spec ? "name" : "value");
    AUTO_FREE char *name = ib_xstrndup(spec, (size_t)(eq - spec));
    if (!plan_valid_stage_name(name))
        return ib_fail(err, IB_E_USAGE,
                       "--build-context '%s': invalid name '%s' (lowercase letters, digits, "
                       "'-', '_' and '.', starting with a letter)",
                       spec, name);
    const char *v = eq + 1;
    size_t sl = scheme_len(v);
    if (sl == 12 && strncmp(v, "docker-image", 12) == 0) {
        const char *ref = v + 15;
        struct ref r;
        AUTO_ERR struct ib_err *e = NULL;
        if (!*ref || ref_parse(ref, &r, &e) < 0)
            return ib_fail(err, IB_E_USAGE, "--build-context %s: invalid image reference '%s'%s%s",
                           name, ref, e ? ": " : "", e ? e->msg : "");
        ref_release(&r);
        out->image = ib_xstrdup(ref);
    } else if (sl == 10 && strncmp(v, "oci-layout", 10) == 0) {
        if (parse_layout(name, v, v + 13, out, err) < 0) {
            builder_context_release(out);
            return -1;
        }
    } else if (sl || strncmp(v, "target:", 7) == 0 || gitsrc_is_git(v)) {
        AUTO_FREE char *form =
            sl ? ib_xasprintf("'%.*s'", (int)(sl + 3), v)
               : ib_xstrdup(strncmp(v, "target:", 7) == 0 ? "'target:'" : "git repository");
        return ib_fail(err, IB_E_USAGE,
                       "--build-context %s=%s: %s contexts are not supported (only a local "
                       "directory, docker-image://REF or oci-layout://PATH)",
                       name, v, form);
    } else {
        out->dir = ib_xstrdup(v);
    }
    out->name = ib_steal(&name);
    return 0;
}

void
builder_context_release(struct build_context *c)
{
    free(c->name);
    free(c->image);
    free(c->dir);
    free(c->layout);
    free(c->layout_tag);
    free(c->layout_digest);
    memset(c, 0, sizeof(*c));
}

static int
open_dir(struct bctx *b, struct bnamed *nc, struct ib_err **err)
{
    nc->fd = open(nc->c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (nc->fd < 0)
        return ib_fail_errno(err, "--build-context %s: open directory '%s'", nc->c.name, nc->c.dir);
    nc->path = realpath(nc->c.dir, NULL);
    if (!nc->path)
        return ib_fail_errno(err, "--build-context %s: resolve '%s'", nc->c.name, nc->c.dir);
    AUTO_STRV struct ib_strv pats = IB_STRV_INIT;
    if (context_read_ignore(nc->c.dir, NULL, &pats, NULL, err) < 0)
        return ib_err_prefix(err, "--build-context %s", nc->c.name);
    if (pats.n && df_ignore_new(pats.v, pats.n, &nc->ignore, err) < 0)
        return ib_err_prefix(err, "--build-context %s: .dockerignore", nc->c.name);
    return mdcache_load(b, nc->path, &nc->md, err);
}

int
named_open(struct bctx *b, struct ib_strv *names, struct ib_err **err)
{
    const struct build_opts *o = b->o;
    if (!o->ncontexts)
        return 0;
    b->named = ib_xcalloc(o->ncontexts, sizeof(*b->named));
    for (size_t i = 0; i < o->ncontexts; i++) {
        struct bnamed *nc = &b->named[i];
        nc->fd = -1;
        if (builder_context_parse(o->contexts[i], &nc->c, err) < 0)
            return -1;
        b->nnamed++;
        for (size_t j = 0; j < i; j++)
            if (strcmp(b->named[j].c.name, nc->c.name) == 0)
                return ib_fail(err, IB_E_USAGE, "--build-context %s given more than once",
                               nc->c.name);
        if (nc->c.dir && open_dir(b, nc, err) < 0)
            return -1;
        ib_strv_push(names, nc->c.name);
    }
    return 0;
}

/* The image of an oci-layout:// context for platform: copied into the store once per
 * build and platform (b->layouts), loaded, its snapshots made. */
static int
layout_image(struct bctx *b, const struct bnamed *nc, const char *platform,
             struct store_image **out, struct ib_err **err)
{
    AUTO_FREE char *key = ib_xasprintf("%s %s ", nc->c.name, platform);
    struct digest md = {0};
    pthread_mutex_lock(&b->pull_lock);
    for (size_t i = 0; i < b->layouts.n && !digest_is_set(&md); i++)
        if (strncmp(b->layouts.v[i], key, strlen(key)) == 0)
            digest_parse(b->layouts.v[i] + strlen(key), &md, NULL);
    int rc = 0;
    if (!digest_is_set(&md)) {
        struct digest want;
        if (nc->c.layout_digest)
            digest_parse(nc->c.layout_digest, &want, NULL);
        rc = store_layout_import(b->st, nc->c.layout, nc->c.layout_tag,
                                 nc->c.layout_digest ? &want : NULL, platform, &md, err);
        if (rc == 0)
            ib_strv_pushf(&b->layouts, "%s%s", key, md.s);
    }
    pthread_mutex_unlock(&b->pull_lock);
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (rc < 0 || store_image_load(b->st, &md, &img, err) < 0 ||
        build_image_snapshots(b, img, nc->c.layout, err) < 0)
        return ib_err_prefix(err, "build context %s: oci-layout '%s'", nc->c.name, nc->c.layout);
    *out = ib_steal(&img);
    return 0;
}

int
named_image_ready(struct bctx *b, const struct bnamed *nc, const char *platform,
                  struct store_image **out, struct ib_err **err)
{
    if (nc->c.layout)
        return layout_image(b, nc, platform, out, err);
    return build_image_ready(b, nc->c.image, platform, out, err);
}

const char *
named_describe(const struct bnamed *nc)
{
    return nc->c.image ? nc->c.image : nc->c.layout ? nc->c.layout : nc->c.dir;
}

const struct bnamed *
named_lookup(const struct bctx *b, const char *name)
{
    long i = b->plan ? plan_context_lookup(b->plan, name) : -1;
    return i >= 0 && (size_t)i < b->nnamed ? &b->named[i] : NULL;
}

const struct bnamed *
named_by_fd(const struct bctx *b, int fd)
{
    for (size_t i = 0; fd >= 0 && i < b->nnamed; i++)
        if (b->named[i].fd == fd)
            return &b->named[i];
    return NULL;
}

int
named_save(struct bctx *b, struct ib_err **err)
{
    for (size_t i = 0; i < b->nnamed; i++)
        if (b->named[i].md && mdcache_save(b, b->named[i].md, err) < 0)
            return -1;
    return 0;
}

void
named_release(struct bctx *b)
{
    for (size_t i = 0; i < b->nnamed; i++) {
        struct bnamed *nc = &b->named[i];
        builder_context_release(&nc->c);
        if (nc->fd >= 0)
            close(nc->fd);
        free(nc->path);
        df_ignore_free(nc->ignore);
        mdcache_free(nc->md);
    }
    free(b->named);
    b->named = NULL;
    b->nnamed = 0;
}
