/* parser/expand.c: word expansion ($VAR, ${VAR:-x}, quotes, escapes) as BuildKit's
 * shell lexer (frontend/dockerfile/shell) does it.  A pure function of its input and
 * the lookup callback; see parser.h section 2 and conformance/README.md section 4.
 *
 * The scanner reads characters (UTF-8, invalid bytes one at a time) and follows the
 * reference closely, including its odd corners:
 *   - text inside ${v:-...} is scanned like a word of its own (quotes removed,
 *     escapes applied), and in multi-word mode its result is split at whitespace like
 *     any other unquoted expansion;
 *   - the text of a ${v#p} ${v%p} ${v/p/r} pattern keeps its escape tokens ("raw");
 *     the pattern's own escape character is always backslash (shpattern.c);
 *   - a ${...} operand is scanned, and its variables looked up, before the variable
 *     itself, so the matched/unmatched sets include names from unused defaults;
 *   - with skip_unset, an unset variable is written back as $name, ${name} or
 *     ${name<modifier><scanned operand>} (${v//p/r} comes back as ${v/p/r}).
 * Deliberate differences from the reference:
 *   - invalid UTF-8 passes through unchanged (Go would write U+FFFD);
 *   - "${name" at the end of the input reports "missing '}'";
 *   - ${...} nests at most DF_EXPAND_MAX_DEPTH levels, a result is at most
 *     DF_EXPAND_MAX_LEN bytes, and one ${v//p/r} may add at most DF_EXPAND_MAX_GROWTH;
 *   - multi-word mode keeps one pending word per nesting level, as BuildKit did before
 *     it shared that buffer between levels (which drops the text before a ${v:-w} in
 *     ProcessWords: "a${v:-b}c" gives "bc" there, "abc" here).
 */
#include "parser/parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "parser/shpattern.h"
#include "parser/unicode.h"
#include "common/banned.h"

#define DF_EXPAND_MAX_DEPTH 64
/* Longest result of one word (or of one nested operand), and how much longer than the
 * value one ${v//p/r} may make it: ${v//p/r} nested in r grows a word exponentially. */
#define DF_EXPAND_MAX_LEN ((size_t)16 << 20)
#define DF_EXPAND_MAX_GROWTH ((size_t)1 << 20)

struct exp {
    const struct df_expander *x;
    const char *s; /* the word */
    size_t pos, len;
    char esc;       /* escape token */
    bool raw;       /* keep escape tokens (inside a pattern operand) */
    unsigned depth; /* ${ nesting */
};

/* Word splitting state (BuildKit's wordsStruct). */
struct words {
    struct ib_strv *out;
    struct ib_buf cur;
    bool in_word;
};

static bool
at_end(const struct exp *e)
{
    return e->pos >= e->len;
}

/* ---- word splitting ---- */

static void
words_add_raw(struct words *w, const char *p, size_t n)
{
    ib_buf_add(&w->cur, p, n);
    w->in_word = true;
}

/* One unquoted character: whitespace ends a word. */
static void
words_add_char(struct words *w, const char *p, size_t n, uint32_t cp)
{
    if (!uni_is_space(cp)) {
        words_add_raw(w, p, n);
    } else if (w->in_word && w->cur.len) {
        ib_strv_pushn(w->out, w->cur.s, w->cur.len);
        ib_buf_reset(&w->cur);
        w->in_word = false;
    }
}

/* The result of an unquoted expansion: split like unquoted text. */
static void
words_add_string(struct words *w, const char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t cl = uni_decode(p + i, n - i, &cp);
        words_add_char(w, p + i, cl, cp);
        i += cl;
    }
}

static void
words_finish(struct words *w)
{
    if (w->cur.len)
        ib_strv_pushn(w->out, w->cur.s, w->cur.len);
    ib_buf_reset(&w->cur);
    w->in_word = false;
}

/* ---- variables ---- */

static void
note_name(struct ib_strv *set, const char *name)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i], name) == 0)
            return;
    ib_strv_push(set, name);
}

/* The value of name, or NULL when it is unset; records the name in matched/unmatched. */
static const char *
get_env(const struct exp *e, const char *name)
{
    const char *v = e->x->lookup ? e->x->lookup(e->x->ctx, name) : NULL;
    note_name(v ? e->x->matched : e->x->unmatched, name);
    return v;
}

static bool
is_special_param(uint32_t c)
{
    return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' ||
           c == '0';
}

/* A name: a run of digits, one special parameter, or letters/digits/underscores. */
static void
scan_name(struct exp *e, struct ib_buf *name)
{
    uint32_t cp;
    size_t n;
    if (at_end(e))
        return;
    n = uni_decode(e->s + e->pos, e->len - e->pos, &cp);
    if (uni_is_digit(cp)) {
        while (!at_end(e)) {
            n = uni_decode(e->s + e->pos, e->len - e->pos, &cp);
            if (!uni_is_digit(cp))
                break;
            ib_buf_add(name, e->s + e->pos, n);
            e->pos += n;
        }
        return;
    }
    if (is_special_param(cp)) {
        ib_buf_add(name, e->s + e->pos, n);
        e->pos += n;
        return;
    }
    while (!at_end(e)) {
        n = uni_decode(e->s + e->pos, e->len - e->pos, &cp);
        if (!uni_is_letter(cp) && !uni_is_digit(cp) && cp != '_')
            break;
        ib_buf_add(name, e->s + e->pos, n);
        e->pos += n;
    }
}

/* ---- the scanner ---- */

static int scan_until(struct exp *e, int stop, bool raw, struct ib_buf *out, struct words *w,
                      struct ib_err **err);
static int dollar(struct exp *e, struct ib_buf *out, struct ib_err **err);

static int
check_len(const struct ib_buf *out, struct ib_err **err)
{
    if (out->len <= DF_EXPAND_MAX_LEN)
        return 0;
    return ib_fail(err, IB_E_PARSE, "expansion result longer than %zu bytes", DF_EXPAND_MAX_LEN);
}

static int
fail_missing_brace(struct ib_err **err)
{
    return ib_fail(err, IB_E_PARSE, "syntax error: missing '}'");
}

static int
fail_modifier(const struct ib_buf *chs, struct ib_err **err)
{
    return ib_fail(err, IB_E_PARSE, "unsupported modifier (%s) in substitution", chs->s);
}

/* '...': everything literal up to the next quote. */
static int
single_quote(struct exp *e, struct ib_buf *out, struct ib_err **err)
{
    e->pos++;
    const char *q = memchr(e->s + e->pos, '\'', e->len - e->pos);
    if (!q) {
        e->pos = e->len;
        return ib_fail(err, IB_E_PARSE,
                       "unexpected end of statement while looking for matching single-quote");
    }
    ib_buf_add(out, e->s + e->pos, (size_t)(q - (e->s + e->pos)));
    e->pos = (size_t)(q - e->s) + 1;
    return 0;
}

/* "...": $ expands; the escape token escapes only '"', '$' and itself. */
static int
double_quote(struct exp *e, struct ib_buf *out, struct ib_err **err)
{
    e->pos++;
    for (;;) {
        if (at_end(e))
            return ib_fail(err, IB_E_PARSE,
                           "unexpected end of statement while looking for "
                           "matching double-quote");
        char c = e->s[e->pos];
        if (c == '"') {
            e->pos++;
            return 0;
        }
        if (c == '$') {
            if (dollar(e, out, err) < 0 || check_len(out, err) < 0)
                return -1;
            continue;
        }
        e->pos++;
        if (c == e->esc) {
            if (e->raw)
                ib_buf_addc(out, c);
            if (at_end(e))
                continue; /* fails above */
            char nc = e->s[e->pos];
            if (nc == '"' || nc == '$' || nc == e->esc) {
                e->pos++;
                c = nc;
            }
        }
        ib_buf_addc(out, c);
    }
}

/* ${name/pattern/replacement} and ${name//pattern/replacement}; after the first '/'. */
static int
substitute(struct exp *e, const char *name, struct ib_buf *out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf pat = IB_BUF_INIT;
    AUTO_BUF struct ib_buf rep = IB_BUF_INIT;
    bool all = !at_end(e) && e->s[e->pos] == '/';
    if (all)
        e->pos++;
    if (scan_until(e, '/', true, &pat, NULL, err) < 0) {
        if (at_end(e))
            return ib_fail(err, IB_E_PARSE, "syntax error: missing '/' in ${}");
        return -1;
    }
    if (scan_until(e, '}', true, &rep, NULL, err) < 0)
        return at_end(e) ? fail_missing_brace(err) : -1;
    const char *v = get_env(e, name);
    if (!v && e->x->skip_unset) {
        ib_buf_addf(out, "${%s/%s/%s}", name, pat.s, rep.s);
        return 0;
    }
    return shpat_replace(pat.s, pat.len, v ? v : "", rep.s, all, DF_EXPAND_MAX_GROWTH, out, err);
}

/* ${...}, after the "${". */
static int
brace(struct exp *e, struct ib_buf *out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf name = IB_BUF_INIT;
    AUTO_BUF struct ib_buf chs = IB_BUF_INIT; /* the modifier as written */
    AUTO_BUF struct ib_buf word = IB_BUF_INIT;
    uint32_t ch;
    size_t n;

    if (at_end(e))
        return fail_missing_brace(err);
    char c = e->s[e->pos];
    if (c == '{' || c == '}' || c == ':')
        return ib_fail(err, IB_E_PARSE, "syntax error: bad substitution");
    scan_name(e, &name);
    if (at_end(e))
        return fail_missing_brace(err);
    n = uni_decode(e->s + e->pos, e->len - e->pos, &ch);
    ib_buf_add(&chs, e->s + e->pos, n);
    e->pos += n;

    if (ch == '}') {
        const char *v = get_env(e, name.s);
        if (!v && e->x->skip_unset)
            ib_buf_addf(out, "${%s}", name.s);
        else if (v)
            ib_buf_adds(out, v);
        return 0;
    }
    if (ch == '/')
        return substitute(e, name.s, out, err);

    bool null_is_unset = ch == ':';
    if (null_is_unset) {
        if (at_end(e))
            return fail_missing_brace(err);
        n = uni_decode(e->s + e->pos, e->len - e->pos, &ch);
        ib_buf_add(&chs, e->s + e->pos, n);
        e->pos += n;
    } else if (ch != '+' && ch != '-' && ch != '?' && ch != '#' && ch != '%') {
        return fail_modifier(&chs, err);
    }
    bool pattern = ch == '#' || ch == '%';
    if (null_is_unset && pattern)
        return fail_modifier(&chs, err);
    if (scan_until(e, '}', pattern, &word, NULL, err) < 0)
        return at_end(e) ? fail_missing_brace(err) : -1;

    const char *v = get_env(e, name.s);
    if (!v && e->x->skip_unset) {
        ib_buf_addf(out, "${%s%s%s}", name.s, chs.s, word.s);
        return 0;
    }
    bool unset = !v || (null_is_unset && !*v);
    switch (ch) {
    case '-':
        ib_buf_adds(out, unset ? word.s : v);
        return 0;
    case '+':
        if (!unset)
            ib_buf_adds(out, word.s);
        return 0;
    case '?':
        if (unset)
            return ib_fail(err, IB_E_PARSE, "%s: %s", name.s,
                           word.len ? word.s
                           : v      ? "is not allowed to be empty"
                                    : "is not allowed to be unset");
        ib_buf_adds(out, v);
        return 0;
    case '#':
    case '%': {
        /* '#'/'%' match the shortest text, '##'/'%%' the longest */
        bool greedy = word.len > 0 && (unsigned char)word.s[0] == ch;
        const char *p = word.s + greedy;
        size_t plen = word.len - greedy;
        if (ch == '#')
            return shpat_trim_prefix(p, plen, v ? v : "", greedy, out, err);
        return shpat_trim_suffix(p, plen, v ? v : "", greedy, out, err);
    }
    default:
        return fail_modifier(&chs, err);
    }
}

/* $name or ${...}; e->pos is at the '$'. */
static int
dollar(struct exp *e, struct ib_buf *out, struct ib_err **err)
{
    e->pos++;
    if (at_end(e) || e->s[e->pos] != '{') {
        AUTO_BUF struct ib_buf name = IB_BUF_INIT;
        scan_name(e, &name);
        if (!name.len) {
            ib_buf_addc(out, '$');
            return 0;
        }
        const char *v = get_env(e, name.s);
        if (!v && e->x->skip_unset)
            ib_buf_addf(out, "$%s", name.s);
        else if (v)
            ib_buf_adds(out, v);
        return 0;
    }
    e->pos++;
    if (e->depth >= DF_EXPAND_MAX_DEPTH)
        return ib_fail(err, IB_E_PARSE, "syntax error: ${...} nested more than %d levels deep",
                       DF_EXPAND_MAX_DEPTH);
    e->depth++;
    int r = brace(e, out, err);
    e->depth--;
    return r;
}

/* Scan up to stop (consumed; -1 = the end of the word), appending the result to out
 * and, when w is given, the words to w (BuildKit's processStopOn). */
static int
scan_loop(struct exp *e, int stop, struct ib_buf *out, struct words *w, struct ib_err **err)
{
    while (!at_end(e)) {
        char c = e->s[e->pos];
        if (stop >= 0 && c == stop) {
            e->pos++;
            return 0;
        }
        if (c == '$' || c == '\'' || c == '"') {
            size_t start = out->len;
            int r = c == '$'   ? dollar(e, out, err)
                    : c == '"' ? double_quote(e, out, err)
                               : single_quote(e, out, err);
            if (r < 0 || check_len(out, err) < 0)
                return -1;
            if (w && c == '$')
                words_add_string(w, out->s + start, out->len - start);
            else if (w)
                words_add_raw(w, out->s + start, out->len - start);
            continue;
        }
        uint32_t cp;
        size_t n;
        if (c == e->esc) {
            e->pos++;
            if (e->raw) {
                ib_buf_addc(out, c);
                if (w)
                    words_add_raw(w, &c, 1);
            }
            if (at_end(e))
                break; /* a lone escape at the end is dropped */
            n = uni_decode(e->s + e->pos, e->len - e->pos, &cp);
            ib_buf_add(out, e->s + e->pos, n);
            if (w)
                words_add_raw(w, e->s + e->pos, n);
        } else {
            n = uni_decode(e->s + e->pos, e->len - e->pos, &cp);
            ib_buf_add(out, e->s + e->pos, n);
            if (w)
                words_add_char(w, e->s + e->pos, n, cp);
        }
        e->pos += n;
    }
    if (stop >= 0)
        return ib_fail(err, IB_E_PARSE, "unexpected end of statement while looking for matching %c",
                       stop);
    return 0;
}

static int
scan_until(struct exp *e, int stop, bool raw, struct ib_buf *out, struct words *w,
           struct ib_err **err)
{
    bool saved = e->raw;
    e->raw = raw;
    int r = scan_loop(e, stop, out, w, err);
    e->raw = saved;
    return r;
}

/* Quote s for a message, roughly as Go's %q. */
static void
quote(struct ib_buf *b, const char *s)
{
    ib_buf_addc(b, '"');
    for (size_t len = strlen(s), i = 0; i < len;) {
        uint32_t cp;
        size_t n = uni_decode(s + i, len - i, &cp);
        unsigned char c = (unsigned char)s[i];
        if (cp == '"' || cp == '\\')
            ib_buf_addf(b, "\\%c", c);
        else if (cp == '\n')
            ib_buf_adds(b, "\\n");
        else if (cp == '\t')
            ib_buf_adds(b, "\\t");
        else if (cp == '\r')
            ib_buf_adds(b, "\\r");
        else if (cp < 0x20 || cp == 0x7f || cp >= UNI_BAD)
            ib_buf_addf(b, "\\x%02x", c);
        else
            ib_buf_add(b, s + i, n);
        i += n;
    }
    ib_buf_addc(b, '"');
}

static int
expand(const struct df_expander *x, const char *word, struct ib_buf *out, struct words *w,
       struct ib_err **err)
{
    static const struct df_expander none = {0};
    if (!x)
        x = &none;
    if (x->escape != 0 && x->escape != '\\' && x->escape != '`')
        return ib_fail(err, IB_E_BUG, "expansion: escape token must be '\\' or '`', not 0x%02x",
                       (unsigned char)x->escape);
    struct exp e = {
        .x = x,
        .s = word,
        .len = strlen(word),
        .esc = x->escape ? x->escape : '\\',
    };
    if (scan_until(&e, -1, false, out, w, err) < 0) {
        AUTO_BUF struct ib_buf q = IB_BUF_INIT;
        quote(&q, word);
        return ib_err_prefix(err, "failed to process %s", q.s);
    }
    return 0;
}

int
df_expand_word(const struct df_expander *x, const char *word, char **out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (expand(x, word, &b, NULL, err) < 0)
        return -1;
    *out = ib_buf_detach(&b, NULL);
    return 0;
}

int
df_expand_words(const struct df_expander *x, const char *text, struct ib_strv *out,
                struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    AUTO_STRV struct ib_strv got = IB_STRV_INIT;
    struct words w = {.out = &got, .cur = IB_BUF_INIT};
    int r = expand(x, text, &b, &w, err);
    if (r == 0)
        words_finish(&w);
    ib_buf_release(&w.cur);
    if (r < 0)
        return -1;
    for (size_t i = 0; i < got.n; i++) {
        ib_strv_push_owned(out, got.v[i]);
        got.v[i] = NULL;
    }
    return 0;
}

/* The instructions whose arguments BuildKit expands before it uses them (the Dockerfile
 * reference, "Environment replacement": ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER
 * VOLUME WORKDIR, plus ARG, whose name and default BuildKit's ArgCommand.Expand
 * expands).  RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK pass their text to the shell
 * or the image config unexpanded (RUN's --mount and similar flags are expanded by the
 * builder, but they are flags, not arguments).  ONBUILD stores its instruction
 * verbatim; when the trigger runs in a later build, the wrapped instruction is
 * expanded according to its own kind.  MAINTAINER is kept as written. */
bool
df_kind_expands(enum df_kind k)
{
    switch (k) {
    case DF_ADD:
    case DF_ARG:
    case DF_COPY:
    case DF_ENV:
    case DF_EXPOSE:
    case DF_FROM:
    case DF_LABEL:
    case DF_STOPSIGNAL:
    case DF_USER:
    case DF_VOLUME:
    case DF_WORKDIR:
        return true;
    case DF_UNKNOWN:
    case DF_CMD:
    case DF_ENTRYPOINT:
    case DF_HEALTHCHECK:
    case DF_MAINTAINER:
    case DF_ONBUILD:
    case DF_RUN:
    case DF_SHELL:
        return false;
    }
    return false;
}
