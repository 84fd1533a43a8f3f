/* parser/ignore.c: .dockerignore reading and path matching (parser.h section 3).
 *
 * The pattern language and its combination rules follow moby/patternmatcher as
 * described in conformance README §5.1.  Each pattern is classified as exact,
 * prefix (a literal then a final "**"), suffix ("**" + literal text) or glob; a
 * glob is compiled to a token list that a small NFA simulation matches in
 * O(len(path) * tokens), so no input can make matching exponential.
 *
 * Deliberate differences from upstream, which turns a glob into a Go regexp
 * text: "\c" is always the literal c (Go would read "\d" as a digit class), '*'
 * and '?' inside "[...]" are literal, and '^' outside a class is literal.
 */
#include "parser/parser.h"
#include "parser/unicode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

#define RUNE_ERROR 0xFFFDu

enum pat_kind { PAT_EXACT, PAT_PREFIX, PAT_SUFFIX, PAT_GLOB };

enum tok_kind {
    TOK_LIT,   /* one rune */
    TOK_ANY,   /* "?": one rune but '/' */
    TOK_STAR,  /* "*": any runes but '/' */
    TOK_DIRS,  /* "**" before more pattern: zero or more whole directories */
    TOK_REST,  /* "**" at the end: anything */
    TOK_CLASS, /* "[...]" */
};

struct range {
    uint32_t lo, hi;
};

struct tok {
    enum tok_kind kind;
    bool neg;      /* TOK_CLASS: "[^...]" */
    uint32_t c;    /* TOK_LIT */
    size_t r0, nr; /* TOK_CLASS: ranges[r0 .. r0+nr) */
};

struct pat {
    char *text; /* cleaned, without the '!' */
    size_t len;
    bool exception;
    enum pat_kind kind;
    char *bad; /* set: using this pattern fails with this message (upstream fails lazily) */
    struct tok *toks;
    size_t ntoks;
    struct range *ranges;
    size_t nranges, capranges;
    char *walk_prefix; /* text less a final slash-"**" or slash-"*", plus "/" */
    bool globby;       /* walk_prefix has glob characters */
};

struct df_ignore {
    struct pat *pats;
    size_t n;
    bool exceptions;
    bool globby[2]; /* [exception?]: some pattern of that kind is globby */
};

/* ---- small helpers --------------------------------------------------------- */

/* Decode one UTF-8 rune from s (n > 0 bytes left).  Invalid input yields
 * U+FFFD with width 1, as Go does. */
static uint32_t
utf8_next(const char *str, size_t n, size_t *w)
{
    uint32_t cp;
    *w = uni_decode(str, n, &cp);
    return cp >= UNI_BAD ? RUNE_ERROR : cp;
}

/* Go's strings.TrimSpace on s[*b, *e). */
static void
trim_space(const char *s, size_t *b, size_t *e)
{
    while (*b < *e) {
        size_t w;
        uint32_t r = utf8_next(s + *b, *e - *b, &w);
        if ((r == RUNE_ERROR && w == 1) || !uni_is_space(r))
            break;
        *b += w;
    }
    while (*e > *b) {
        /* Unicode spaces are 1 to 3 bytes long; try each width ending at *e. */
        bool trimmed = false;
        for (size_t w = 1; w <= 3 && w <= *e - *b; w++) {
            size_t got;
            uint32_t r = utf8_next(s + *e - w, w, &got);
            if (got == w && r != RUNE_ERROR && uni_is_space(r)) {
                *e -= w;
                trimmed = true;
                break;
            }
        }
        if (!trimmed)
            break;
    }
}

char *
df_path_clean(const char *path)
{
    size_t n = strlen(path);
    if (n == 0)
        return ib_xstrdup(".");
    char *out = ib_xmalloc(n + 1);
    bool rooted = path[0] == '/';
    size_t r = 0, w = 0, dotdot = 0;
    if (rooted) {
        out[w++] = '/';
        r = dotdot = 1;
    }
    while (r < n) {
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            for (; r < n && path[r] != '/'; r++)
                out[w++] = path[r];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return out;
}

/* ---- reading an ignore file ------------------------------------------------ */

int
df_ignore_read(const char *data, size_t len, struct ib_strv *patterns, struct ib_err **err)
{
    size_t pos = 0;
    unsigned lineno = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t b = pos, e = nl ? (size_t)(nl - data) : len;
        pos = nl ? e + 1 : len;
        lineno++;
        if (e > b && data[e - 1] == '\r')
            e--;
        if (memchr(data + b, '\0', e - b))
            return ib_fail(err, IB_E_PARSE, "line %u: NUL byte in ignore pattern", lineno);
        if (e > b && data[b] == '#')
            continue;
        trim_space(data, &b, &e);
        if (b == e)
            continue;
        bool invert = data[b] == '!';
        if (invert) {
            b++;
            trim_space(data, &b, &e);
        }
        AUTO_FREE char *pat = NULL;
        if (b < e) {
            AUTO_FREE char *raw = ib_xstrndup(data + b, e - b);
            pat = df_path_clean(raw);
            if (strlen(pat) > 1 && pat[0] == '/')
                memmove(pat, pat + 1, strlen(pat));
        }
        ib_strv_pushf(patterns, "%s%s", invert ? "!" : "", pat ? pat : "");
    }
    return 0;
}

/* ---- compiling --------------------------------------------------------------- */

/* One class member as Go's filepath.Match reads it ("getEsc"); NULL reason = ok. */
static const char *
class_char(const char **pp, uint32_t *r)
{
    const char *p = *pp;
    if (!*p)
        return "unterminated character class";
    if (*p == '-' || *p == ']')
        return "'-' or ']' at the wrong place in a character class (escape it with '\\')";
    if (*p == '\\') {
        p++;
        if (!*p)
            return "unterminated character class";
    }
    size_t w;
    *r = utf8_next(p, strlen(p), &w);
    if (*r == RUNE_ERROR && w == 1)
        return "invalid UTF-8 in a character class";
    p += w;
    if (!*p)
        return "unterminated character class";
    *pp = p;
    return NULL;
}

/* Parse "[...]" at *pp (pointing at '['); append its ranges to p when p is not NULL.
 * NULL reason = ok. */
static const char *
parse_class(const char **pp, struct pat *p, struct tok *t)
{
    const char *s = *pp + 1;
    bool neg = false;
    if (*s == '^') {
        neg = true;
        s++;
    }
    size_t nrange = 0;
    for (;;) {
        if (*s == ']' && nrange > 0) {
            s++;
            break;
        }
        uint32_t lo, hi;
        const char *why = class_char(&s, &lo);
        if (why)
            return why;
        hi = lo;
        if (*s == '-') {
            s++;
            if ((why = class_char(&s, &hi)) != NULL)
                return why;
        }
        if (p) {
            if (lo > hi && !p->bad)
                p->bad = ib_xasprintf("invalid pattern '%s': reversed range in character class",
                                      p->text);
            IB_GROW(p->ranges, p->nranges + 1, p->capranges);
            p->ranges[p->nranges++] = (struct range){lo, hi};
        }
        nrange++;
    }
    if (t) {
        t->kind = TOK_CLASS;
        t->neg = neg;
        t->r0 = p->nranges - nrange;
        t->nr = nrange;
    }
    *pp = s;
    return NULL;
}

/* The syntax check upstream gets from filepath.Match; NULL = ok. */
static const char *
check_syntax(const char *s)
{
    while (*s) {
        if (*s == '\\') {
            if (!s[1])
                return "trailing '\\' escapes nothing";
            s += 2;
        } else if (*s == '[') {
            const char *why = parse_class(&s, NULL, NULL);
            if (why)
                return why;
        } else {
            s++;
        }
    }
    return NULL;
}

static void
add_tok(struct pat *p, enum tok_kind kind, uint32_t c)
{
    p->toks[p->ntoks++] = (struct tok){.kind = kind, .c = c};
}

/* Classify the pattern and build its tokens, as upstream's compile() does. */
static void
compile(struct pat *p)
{
    const char *s = p->text;
    size_t n = p->len;
    enum pat_kind kind = PAT_EXACT;
    p->toks = ib_xcalloc(n + 1, sizeof(*p->toks));
    for (size_t i = 0; *s; i++) {
        size_t w;
        uint32_t c = utf8_next(s, n - (size_t)(s - p->text), &w);
        if (c == '*' && s[1] == '*') {
            s += 2;
            if (*s == '/')
                s++;
            if (!*s) {
                if (kind == PAT_EXACT) {
                    kind = PAT_PREFIX;
                } else {
                    add_tok(p, TOK_REST, 0);
                    kind = PAT_GLOB;
                }
            } else {
                add_tok(p, TOK_DIRS, 0);
                kind = PAT_GLOB;
            }
            if (i == 0)
                kind = PAT_SUFFIX;
            continue;
        }
        if (c == '*' || c == '?') {
            add_tok(p, c == '*' ? TOK_STAR : TOK_ANY, 0);
            kind = PAT_GLOB;
            s++;
        } else if (c == '\\') {
            s++;
            if (*s) {
                c = utf8_next(s, n - (size_t)(s - p->text), &w);
                s += w;
                kind = PAT_GLOB;
            }
            add_tok(p, TOK_LIT, c);
        } else if (c == '[') {
            /* check_syntax passed, so this cannot fail */
            parse_class(&s, p, &p->toks[p->ntoks++]);
            kind = PAT_GLOB;
        } else {
            /* everything else is literal, the regexp metacharacters ".+()|{}$" too */
            if (c == ']')
                kind = PAT_GLOB;
            add_tok(p, TOK_LIT, c);
            s += w;
        }
    }
    p->kind = kind;
}

static void
set_walk_prefix(struct pat *p)
{
    size_t n = p->len;
    if (n >= 3 && memcmp(p->text + n - 3, "/**", 3) == 0)
        n -= 3;
    if (n >= 2 && memcmp(p->text + n - 2, "/*", 2) == 0)
        n -= 2;
    p->walk_prefix = ib_xasprintf("%.*s/", (int)n, p->text);
    p->globby = strcspn(p->walk_prefix, "*[]?^\\") < n;
}

static void
pat_release(struct pat *p)
{
    free(p->text);
    free(p->bad);
    free(p->toks);
    free(p->ranges);
    free(p->walk_prefix);
}

void
df_ignore_free(struct df_ignore *ig)
{
    if (!ig)
        return;
    for (size_t i = 0; i < ig->n; i++)
        pat_release(&ig->pats[i]);
    free(ig->pats);
    free(ig);
}

int
df_ignore_new(char *const *patterns, size_t n, struct df_ignore **out, struct ib_err **err)
{
    struct df_ignore *ig = ib_xcalloc(1, sizeof(*ig));
    ig->pats = ib_xcalloc(n ? n : 1, sizeof(*ig->pats));
    for (size_t i = 0; i < n; i++) {
        size_t b = 0, e = strlen(patterns[i]);
        trim_space(patterns[i], &b, &e);
        if (b == e)
            continue;
        AUTO_FREE char *raw = ib_xstrndup(patterns[i] + b, e - b);
        char *clean = df_path_clean(raw);
        struct pat *p = &ig->pats[ig->n++];
        p->text = clean;
        if (clean[0] == '!') {
            if (!clean[1]) {
                df_ignore_free(ig);
                return ib_fail(err, IB_E_PARSE,
                               "invalid pattern '!': an exception needs a pattern after '!'");
            }
            p->exception = ig->exceptions = true;
            memmove(clean, clean + 1, strlen(clean));
        }
        p->len = strlen(p->text);
        const char *why = check_syntax(p->text);
        if (why) {
            int rc = ib_fail(err, IB_E_PARSE, "invalid pattern '%s%s': %s", p->exception ? "!" : "",
                             p->text, why);
            df_ignore_free(ig);
            return rc;
        }
        compile(p);
        set_walk_prefix(p);
        if (p->globby)
            ig->globby[p->exception] = true;
    }
    *out = ig;
    return 0;
}

size_t
df_ignore_count(const struct df_ignore *ig)
{
    return ig ? ig->n : 0;
}

bool
df_ignore_has_exceptions(const struct df_ignore *ig)
{
    return ig && ig->exceptions;
}

/* ---- matching --------------------------------------------------------------- */

static bool
class_has(const struct pat *p, const struct tok *t, uint32_t c)
{
    bool in = false;
    for (size_t i = 0; i < t->nr && !in; i++)
        in = c >= p->ranges[t->r0 + i].lo && c <= p->ranges[t->r0 + i].hi;
    return in != t->neg;
}

/* Follow the empty transitions; they only go forward, so one pass is enough.
 * on[i]: at token i; dirs[i]: inside the "anything/" loop of TOK_DIRS token i. */
static void
closure(const struct pat *p, bool *on, bool *dirs)
{
    for (size_t i = 0; i < p->ntoks; i++) {
        if (!on[i])
            continue;
        switch (p->toks[i].kind) {
        case TOK_DIRS:
            dirs[i] = true;
            on[i + 1] = true;
            break;
        case TOK_STAR:
        case TOK_REST:
            on[i + 1] = true;
            break;
        case TOK_LIT:
        case TOK_ANY:
        case TOK_CLASS:
            break;
        }
    }
}

/* Whether p matches s[0..n); with any_dir, whether it matches s[0..k) for some k
 * where s[k] is '/' or k == n (all the ancestors in one pass). */
static bool
glob_match(const struct pat *p, const char *s, size_t n, bool any_dir)
{
    size_t m = p->ntoks + 1;
    bool small[4 * 64];
    AUTO_FREE bool *big = NULL;
    bool *buf = small;
    if (4 * m > sizeof(small) / sizeof(small[0]))
        buf = big = ib_xmalloc(4 * m * sizeof(bool));
    bool *on = buf, *dirs = buf + m, *non = buf + 2 * m, *ndirs = buf + 3 * m;
    memset(buf, 0, 2 * m * sizeof(bool));
    on[0] = true;
    closure(p, on, dirs);
    for (size_t pos = 0; pos < n;) {
        if (any_dir && s[pos] == '/' && on[p->ntoks])
            return true;
        size_t w;
        uint32_t c = utf8_next(s + pos, n - pos, &w);
        pos += w;
        memset(non, 0, 2 * m * sizeof(bool));
        bool alive = false;
        for (size_t i = 0; i < p->ntoks; i++) {
            const struct tok *t = &p->toks[i];
            if (dirs[i]) {
                if (c != '\n') /* Go's "." does not match a newline */
                    ndirs[i] = alive = true;
                if (c == '/')
                    non[i + 1] = alive = true;
            }
            if (!on[i])
                continue;
            bool adv = false, stay = false;
            switch (t->kind) {
            case TOK_LIT:
                adv = c == t->c;
                break;
            case TOK_ANY:
                adv = c != '/';
                break;
            case TOK_CLASS:
                adv = class_has(p, t, c);
                break;
            case TOK_STAR:
                stay = c != '/';
                break;
            case TOK_REST:
                stay = c != '\n';
                break;
            case TOK_DIRS:
                break;
            }
            if (adv)
                non[i + 1] = alive = true;
            if (stay)
                non[i] = alive = true;
        }
        if (!alive)
            return false;
        closure(p, non, ndirs);
        bool *tmp = on;
        on = non, non = tmp;
        tmp = dirs;
        dirs = ndirs, ndirs = tmp;
    }
    return on[p->ntoks];
}

/* One pattern against one path (s, n bytes). */
static int
pat_match(const struct pat *p, const char *s, size_t n, bool *hit, struct ib_err **err)
{
    if (p->bad)
        return ib_fail(err, IB_E_PARSE, "%s", p->bad);
    switch (p->kind) {
    case PAT_EXACT:
        *hit = n == p->len && memcmp(s, p->text, n) == 0;
        break;
    case PAT_PREFIX:
        *hit = n >= p->len - 2 && memcmp(s, p->text, p->len - 2) == 0;
        break;
    case PAT_SUFFIX: {
        const char *suf = p->text + 2;
        size_t sl = p->len - 2;
        *hit = (n >= sl && memcmp(s + n - sl, suf, sl) == 0) ||
               (sl > 0 && suf[0] == '/' && n == sl - 1 && memcmp(s, suf + 1, n) == 0);
        break;
    }
    case PAT_GLOB:
        *hit = glob_match(p, s, n, false);
        break;
    }
    return 0;
}

/* Whether p matches an ancestor of path: the prefixes of the cleaned parent
 * directory ending at each '/', and that parent itself.  Errors are ignored here,
 * as upstream does (the path itself was matched first). */
static bool
ancestor_hit(const struct pat *p, const char *parent)
{
    if (strcmp(parent, ".") == 0 || p->bad)
        return false;
    if (p->kind == PAT_GLOB)
        return glob_match(p, parent, strlen(parent), true);
    bool hit = false;
    for (size_t k = 0;; k++) {
        if (parent[k] == '/' || !parent[k]) {
            if (pat_match(p, parent, k, &hit, NULL) == 0 && hit)
                return true;
            if (!parent[k])
                return false;
        }
    }
}

static char *
parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    AUTO_FREE char *head = ib_xstrndup(path, slash ? (size_t)(slash - path) + 1 : 0);
    return df_path_clean(head);
}

int
df_ignore_match_parents(const struct df_ignore *ig, const char *path, const bool *parent_hits,
                        bool *hits, bool *excluded, struct ib_err **err)
{
    bool matched = false;
    AUTO_FREE char *parent = NULL;
    size_t plen = strlen(path);
    for (size_t i = 0; ig && i < ig->n; i++) {
        const struct pat *p = &ig->pats[i];
        bool hit = parent_hits ? parent_hits[i] : false;
        if (hits)
            hits[i] = false;
        if (!hit) {
            if (p->exception != matched)
                continue;
            if (pat_match(p, path, plen, &hit, err) < 0)
                return -1;
            if (!hit && !parent_hits) {
                if (!parent)
                    parent = parent_dir(path);
                hit = ancestor_hit(p, parent);
            }
        }
        if (hits)
            hits[i] = hit;
        if (hit)
            matched = !p->exception;
    }
    *excluded = matched;
    return 0;
}

int
df_ignore_match(const struct df_ignore *ig, const char *path, bool *excluded, struct ib_err **err)
{
    return df_ignore_match_parents(ig, path, NULL, NULL, excluded, err);
}

bool
df_ignore_may_hit_below(const struct df_ignore *ig, const char *dir, bool exceptions)
{
    if (!ig)
        return false;
    if (ig->globby[exceptions])
        return true;
    size_t dl = strlen(dir);
    for (size_t i = 0; i < ig->n; i++) {
        const struct pat *p = &ig->pats[i];
        if (p->exception != exceptions)
            continue;
        /* upstream: HasPrefix(prefix + "/", dir + "/") */
        if (strncmp(p->walk_prefix, dir, dl) == 0 && p->walk_prefix[dl] == '/')
            return true;
    }
    return false;
}
