/* builder/copy.c: COPY and ADD (and WORKDIR's mkdir).
 *
 * The sources (context through .dockerignore, another stage, an image, heredocs)
 * are collected first: their digest is part of the cache key.  On a miss the
 * files are written straight into a fresh upper dir (which is the layer's diff:
 * no overlay mount is needed), with the parents they need copied from the
 * stage's current filesystem so their metadata is kept, then committed.
 */
#include "builder/build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/context.h"
#include "builder/copy.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct df_ignore, df_ignore_free)

/* ---- collecting sources ------------------------------------------------------------ */

static void
add_ent(struct copyjob *j, const char *src, const char *dst, const struct stat *st, int kind)
{
    IB_GROW(j->ents, j->n + 1, j->cap);
    struct copy_ent *e = &j->ents[j->n++];
    memset(e, 0, sizeof(*e));
    e->src = src ? ib_xstrdup(src) : NULL;
    e->dst = df_path_clean(dst);
    if (strcmp(e->dst, ".") == 0 || strcmp(e->dst, "/") == 0) {
        free(e->dst);
        e->dst = ib_xstrdup("");
    } else if (e->dst[0] == '/') {
        memmove(e->dst, e->dst + 1, strlen(e->dst));
    }
    if (st)
        e->st = *st;
    e->kind = kind;
}

struct collect {
    struct copyjob *j;
    struct df_ignore *inc; /* the source pattern; NULL: the whole root */
    char *top;             /* the source being copied (a match), or NULL */
    size_t toplen;
    char *topdst; /* where the top's contents (dir) or itself (file) go */
    size_t matches;
};

static int
visit(void *ctx, const char *rel, const struct stat *st, struct ib_err **err)
{
    struct collect *c = ctx;
    struct copyjob *j = c->j;
    if (c->top && (!*c->top || (strncmp(rel, c->top, c->toplen) == 0 && rel[c->toplen] == '/'))) {
        AUTO_FREE char *d = ib_xasprintf("%s/%s", c->topdst, *c->top ? rel + c->toplen + 1 : rel);
        add_ent(j, rel, d, st, COPY_ENT_CHILD);
        return 0;
    }
    bool hit = false;
    if (df_ignore_match(c->inc, rel, &hit, err) < 0)
        return -1;
    if (!hit)
        return 0; /* an ancestor of a match */
    c->matches++;
    free(c->top);
    free(c->topdst);
    c->top = ib_xstrdup(rel);
    c->toplen = strlen(rel);
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    if (S_ISDIR(st->st_mode))
        c->topdst = j->parents ? ib_xasprintf("%s/%s", j->dest, rel) : ib_xstrdup(j->dest);
    else if (j->dest_dir)
        c->topdst = ib_xasprintf("%s/%s", j->dest, j->parents ? rel : base);
    else
        c->topdst = ib_xstrdup(j->dest);
    bool archive = j->add && (j->srcfd == j->b->ctxfd || j->named) && S_ISREG(st->st_mode) &&
                   copy_is_archive(j->srcfd, rel);
    add_ent(j, rel, archive ? j->dest : c->topdst, st, archive ? COPY_ENT_ARCHIVE : COPY_ENT_TOP);
    return 0;
}

static bool
has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

int
copy_collect(struct copyjob *j, const char *src, struct ib_err **err)
{
    AUTO_FREE char *tmp = ib_xasprintf("/%s", src);
    AUTO_FREE char *clean = df_path_clean(tmp);
    struct collect c = {.j = j};
    struct context_filter layers[3];
    size_t nl = 0;
    const struct df_ignore *ign = j->named                  ? j->named->ignore
                                  : j->srcfd == j->b->ctxfd ? j->b->ignore
                                                            : NULL;
    if (ign)
        layers[nl++] = (struct context_filter){.exclude = ign};
    IB_AUTO(df_ignore_free) struct df_ignore *exc = NULL;
    if (j->excludes.n) {
        /* --exclude patterns are relative to the source being copied */
        AUTO_STRV struct ib_strv pats = IB_STRV_INIT;
        bool rel = strcmp(clean, "/") != 0 && !has_glob(clean);
        for (size_t i = 0; i < j->excludes.n; i++) {
            if (rel)
                ib_strv_pushf(&pats, "%s/%s", clean + 1, j->excludes.v[i]);
            else
                ib_strv_push(&pats, j->excludes.v[i]);
        }
        if (df_ignore_new(pats.v, pats.n, &exc, err) < 0)
            return -1;
        layers[nl++] = (struct context_filter){.exclude = exc};
    }
    IB_AUTO(df_ignore_free) struct df_ignore *inc = NULL;
    if (strcmp(clean, "/") == 0) {
        /* the whole root: its contents go into dest */
        c.top = ib_xstrdup("");
        c.topdst = ib_xstrdup(j->dest);
        c.matches = 1;
        struct stat st;
        if (fstat(j->srcfd, &st) == 0)
            add_ent(j, "", j->dest, &st, COPY_ENT_TOP);
    } else {
        const char *pat = clean + 1;
        if (df_ignore_new((char *const *)&pat, 1, &inc, err) < 0)
            return ib_err_prefix(err, "source '%s'", src);
        c.inc = inc;
        layers[nl++] = (struct context_filter){.include = inc};
    }
    size_t before = j->n;
    int rc = context_walk(j->srcfd, layers, nl, visit, &c, err);
    free(c.top);
    free(c.topdst);
    if (rc < 0)
        return -1;
    if (c.matches == 0 || (j->n == before && strcmp(clean, "/") != 0)) {
        if (has_glob(src))
            return ib_fail(err, IB_E_BUILD,
                           "no source files were specified: '%s' matches "
                           "nothing",
                           src);
        if (j->named)
            return ib_fail(err, IB_E_BUILD,
                           "'%s' not found in build context '%s' or excluded by its "
                           ".dockerignore",
                           src, j->named->c.name);
        return ib_fail(err, IB_E_BUILD, "'%s' not found%s", src,
                       j->srcfd == j->b->ctxfd ? " in the build context or excluded by "
                                                 ".dockerignore"
                                               : "");
    }
    return 0;
}

void
copyjob_release(struct copyjob *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->ents[i].src);
        free(j->ents[i].dst);
        free(j->ents[i].data);
        copy_git_free(j->ents[i].git);
    }
    free(j->ents);
    ib_strv_release(&j->excludes);
    ib_strv_release(&j->srcs);
    free(j->dest);
    free(j->chmod);
    free(j->checksum);
    if (j->srcfd >= 0 && j->srcfd != j->b->ctxfd && !j->named)
        close(j->srcfd);
    if (j->rootfd >= 0)
        close(j->rootfd);
}

/* ---- chmod ---------------------------------------------------------------------------- */

int
copy_chmod(const char *spec, mode_t mode, bool isdir, mode_t *out)
{
    char *end;
    unsigned long v = strtoul(spec, &end, 8);
    if (*spec && !*end && end != spec) {
        if (v > 07777)
            return -1;
        *out = (mode & ~(mode_t)07777) | (mode_t)v;
        return 0;
    }
    mode_t m = mode & 07777;
    const char *p = spec;
    while (*p) {
        mode_t who = 0;
        for (; strchr("ugoa", *p) && *p; p++)
            who |= *p == 'u' ? 04700 : *p == 'g' ? 02070 : *p == 'o' ? 01007 : 07777;
        if (!who)
            who = 07777;
        if (!*p || !strchr("+-=", *p))
            return -1;
        while (*p && strchr("+-=", *p)) {
            char op = *p++;
            mode_t bits = 0;
            for (; *p && strchr("rwxXst", *p); p++) {
                switch (*p) {
                case 'r':
                    bits |= 0444;
                    break;
                case 'w':
                    bits |= 0222;
                    break;
                case 'x':
                    bits |= 0111;
                    break;
                case 'X':
                    if (isdir || (mode & 0111))
                        bits |= 0111;
                    break;
                case 's':
                    bits |= 06000;
                    break;
                case 't':
                    bits |= 01000;
                    break;
                }
            }
            bits &= who;
            if (op == '+')
                m |= bits;
            else if (op == '-')
                m &= ~bits;
            else
                m = (m & ~(who & 0777)) | bits;
        }
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    *out = (mode & ~(mode_t)07777) | m;
    return 0;
}

/* ---- owners ----------------------------------------------------------------------------- */

static bool
numeric(const char *s, unsigned long *out)
{
    char *end;
    if (!*s)
        return false;
    *out = strtoul(s, &end, 10);
    return !*end;
}

/* Look name up in an /etc/passwd or /etc/group text (field 3 is the id). */
static bool
lookup_id(const char *text, const char *name, unsigned long *out)
{
    size_t n = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, n) != 0 || l[n] != ':')
            continue;
        const char *f = strchr(l + n + 1, ':');
        if (f && numeric_prefix(f + 1, out))
            return true;
    }
    return false;
}

bool
numeric_prefix(const char *s, unsigned long *out)
{
    char *end;
    *out = strtoul(s, &end, 10);
    return end != s && (*end == ':' || *end == '\n' || *end == '\0');
}

int
copy_resolve_chown(struct copyjob *j, const char *spec, struct ib_err **err)
{
    const char *colon = strchr(spec, ':');
    AUTO_FREE char *u = ib_xstrndup(spec, colon ? (size_t)(colon - spec) : strlen(spec));
    const char *g = colon ? colon + 1 : NULL;
    unsigned long uid = 0, gid = 0;
    AUTO_BUF struct ib_buf passwd = IB_BUF_INIT;
    AUTO_BUF struct ib_buf group = IB_BUF_INIT;
    bool need_files = !numeric(u, &uid) || (g && !numeric(g, &gid));
    if (need_files) {
        AUTO_FD int fd = -1;
        if (rootfs_open(j->b->st, j->s->img, &fd, err) < 0)
            return -1;
        rootfs_read(fd, "etc/passwd", &passwd);
        rootfs_read(fd, "etc/group", &group);
    }
    if (!numeric(u, &uid) && !lookup_id(passwd.s, u, &uid))
        return ib_fail(err, IB_E_BUILD, "unable to find user '%s' in the image's /etc/passwd", u);
    if (!g)
        gid = uid; /* docker: a user without a group uses the same number as gid */
    else if (!numeric(g, &gid) && !lookup_id(group.s, g, &gid))
        return ib_fail(err, IB_E_BUILD, "unable to find group '%s' in the image's /etc/group", g);
    j->chown = true;
    j->uid = (uid_t)uid;
    j->gid = (gid_t)gid;
    return 0;
}

/* ---- archives --------------------------------------------------------------------------- */

bool
copy_is_archive(int dirfd, const char *rel)
{
    AUTO_FD int fd = openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    unsigned char m[512];
    ssize_t n = fd < 0 ? -1 : pread(fd, m, sizeof(m), 0);
    if (n < 4)
        return false;
    if ((m[0] == 0x1f && m[1] == 0x8b) || (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f) ||
        (m[0] == 'B' && m[1] == 'Z' && m[2] == 'h') ||
        (n >= 6 && memcmp(m,
                          "\xfd"
                          "7zXZ\0",
                          6) == 0))
        return true;
    return n >= 262 && memcmp(m + 257, "ustar", 5) == 0;
}
