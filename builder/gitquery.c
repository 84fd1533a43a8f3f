/* builder/gitquery.c: BuildKit 0.24's query form of git URLs, "REPO?ref=R&subdir=S#FRAGMENT":
 * the options after the path, percent-decoded, checked (known keys, each once, a value unless
 * boolean) and merged with what the fragment gave (see gitsrc.h). */
#include "builder/gitsrc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

int
gitsrc_parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True", NULL};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False", NULL};
    for (size_t i = 0; yes[i]; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* A query's key or value: %XX escapes and '+' for a space, as a URL query; NULL for a bad
 * escape or a control character (never in a ref or path; it would break the messages). */
static char *
unescape(const char *s, size_t n)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            ib_buf_addc(&b, ' ');
        } else if (s[i] != '%') {
            ib_buf_addc(&b, s[i]);
        } else if (i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char x[3] = {s[i + 1], s[i + 2], '\0'};
            char c = (char)strtol(x, NULL, 16);
            if ((unsigned char)c < 0x20 || c == 0x7f)
                return NULL;
            ib_buf_addc(&b, c);
            i += 2;
        } else {
            return NULL;
        }
    }
    return ib_buf_detach(&b, NULL);
}

/* The query's options, before they are merged with the fragment's. */
enum { Q_REF, Q_TAG, Q_BRANCH, Q_SUBDIR, Q_CHECKSUM, Q_KEEP, Q_SUBMODULES, Q_N };

struct query {
    char *v[Q_N];    /* each value, percent-decoded; NULL: not given */
    const char *sum; /* "?checksum=" or "?commit=": the key of v[Q_CHECKSUM] */
};

static void
query_release(struct query *q)
{
    for (size_t i = 0; i < Q_N; i++)
        free(q->v[i]);
}

/* "?k=v&k2=v2" (without the '?') into q: known keys only, each once; a value for every key
 * but the booleans. */
static int
parse_query(const char *src, const char *s, size_t len, struct query *q, struct ib_err **err)
{
    static const struct {
        const char *key;
        int slot;
    } keys[] = {{"ref", Q_REF},           {"tag", Q_TAG},
                {"branch", Q_BRANCH},     {"subdir", Q_SUBDIR},
                {"checksum", Q_CHECKSUM}, {"commit", Q_CHECKSUM},
                {"keep-git-dir", Q_KEEP}, {"submodules", Q_SUBMODULES}};
    const char *end = s + len;
    while (s < end) {
        size_t n = (size_t)(end - s);
        const char *amp = memchr(s, '&', n);
        if (amp)
            n = (size_t)(amp - s);
        const char *eq = memchr(s, '=', n);
        size_t kn = eq ? (size_t)(eq - s) : n;
        AUTO_FREE char *key = unescape(s, kn);
        AUTO_FREE char *val = eq ? unescape(eq + 1, n - kn - 1) : ib_xstrdup("");
        const char *field = s;
        s += n + (amp != NULL);
        if (!n)
            continue;
        if (!key || !val)
            return ib_fail(err, IB_E_PARSE, "'%s': invalid escape in query '%.*s'", src, (int)n,
                           field);
        int slot = -1;
        for (size_t i = 0; slot < 0 && i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(key, keys[i].key) == 0)
                slot = keys[i].slot;
        if (slot < 0)
            return ib_fail(err, IB_E_PARSE,
                           "'%s': unexpected query '%s' (supported: ref, tag, branch, subdir, "
                           "checksum, commit, keep-git-dir, submodules)",
                           src, key);
        if (q->v[slot])
            return ib_fail(err, IB_E_PARSE, "'%s': query '%s' has multiple values", src, key);
        bool b;
        if (slot == Q_KEEP || slot == Q_SUBMODULES) {
            if (*val && gitsrc_parse_bool(val, &b) < 0)
                return ib_fail(err, IB_E_PARSE,
                               "'%s': query '%s' has an invalid value '%s' (expected true or "
                               "false)",
                               src, key, val);
        } else if (!*val) {
            return ib_fail(err, IB_E_PARSE, "'%s': query '%s' has no value", src, key);
        }
        if (slot == Q_CHECKSUM)
            q->sum = strcmp(key, "commit") == 0 ? "?commit=" : "?checksum=";
        q->v[slot] = ib_steal(&val);
    }
    return 0;
}

/* "X" as refs/<kind>/X unless it already is one. */
static char *
full_ref(const char *kind, const char *name)
{
    size_t k = strlen(kind);
    if (strncmp(name, "refs/", 5) == 0 && strncmp(name + 5, kind, k) == 0 && name[5 + k] == '/')
        return ib_xstrdup(name);
    return ib_xasprintf("refs/%s/%s", kind, name);
}

/* *slot (the fragment's) and val (the query's) must agree when both are given. */
static int
merge(const char *src, const char *what, char **slot, const char *val, struct ib_err **err)
{
    if (!val)
        return 0;
    if (*slot && **slot && strcmp(*slot, val) != 0)
        return ib_fail(err, IB_E_PARSE, "'%s': %s conflicts: '%s' vs '%s'", src, what, *slot, val);
    free(*slot);
    *slot = ib_xstrdup(val);
    return 0;
}

int
gitsrc_query_apply(const char *src, const char *s, size_t len, struct gitsrc_url *u,
                   struct ib_err **err)
{
    __attribute__((cleanup(query_release))) struct query q = {0};
    if (parse_query(src, s, len, &q, err) < 0)
        return -1;
    if (q.v[Q_TAG] && q.v[Q_BRANCH])
        return ib_fail(err, IB_E_PARSE, "'%s': branch conflicts with tag", src);
    AUTO_FREE char *ref = q.v[Q_REF] ? ib_xstrdup(q.v[Q_REF]) : NULL;
    AUTO_FREE char *named = q.v[Q_TAG]      ? full_ref("tags", q.v[Q_TAG])
                            : q.v[Q_BRANCH] ? full_ref("heads", q.v[Q_BRANCH])
                                            : NULL;
    if (merge(src, "ref", &ref, named, err) < 0 || merge(src, "ref", &u->ref, ref, err) < 0 ||
        merge(src, "subdir", &u->subdir, q.v[Q_SUBDIR], err) < 0 ||
        merge(src, "commit", &u->commit, q.v[Q_CHECKSUM], err) < 0)
        return -1;
    if (q.v[Q_CHECKSUM])
        u->commit_key = q.sum;
    bool b = true; /* a bare key or an empty value: true */
    if (q.v[Q_KEEP] && (!*q.v[Q_KEEP] || gitsrc_parse_bool(q.v[Q_KEEP], &b) == 0))
        u->keep_git_dir = b;
    b = true;
    if (q.v[Q_SUBMODULES] && (!*q.v[Q_SUBMODULES] || gitsrc_parse_bool(q.v[Q_SUBMODULES], &b) == 0))
        u->submodules = b;
    return 0;
}
