/* parser/parse.c: Dockerfile bytes -> struct df_file (recursive descent over
 * the lines and words that lexer.re produces). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "parser/lexer.h"
#include "parser/parser.h"
#include "common/banned.h"

struct parser {
    const char *name;
    unsigned flags;
    struct lex lx;
    struct df_file *f;
    size_t instr_cap, warn_cap;
    bool directives_done, seen_syntax, seen_escape, seen_check;
    struct ib_err **err;
};

/* The instruction being built, with what error messages need. */
struct pctx {
    struct parser *p;
    struct df_instr *in;
    const char *line_start; /* first physical line of the instruction */
    unsigned line, col;     /* of the keyword */
    int depth;              /* 0, or 1 inside ONBUILD */
    unsigned args_off;      /* bytes from the keyword to the argument text */
};

typedef int (*parse_fn)(struct pctx *c, const char *rest);

/* ---- errors ------------------------------------------------------------------ */

/* "NAME:LINE:COL: message", then the line and a caret under COL. */
static int IB_PRINTF(6, 7) fail_at(struct parser *p, const char *line_start, unsigned line,
                                   unsigned col, bool show, const char *fmt, ...)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    va_list ap;
    ib_buf_addf(&b, "%s:%u:%u: ", p->name, line, col);
    va_start(ap, fmt);
    ib_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    if (show && line_start && line_start < p->lx.lim) {
        const char *e = line_start;
        while (e < p->lx.lim && *e != '\n' && *e != '\r' && e - line_start < 240)
            e++;
        char num[16];
        int pre = snprintf(num, sizeof(num), "%u", line);
        ib_buf_addf(&b, "\n    %u | ", line);
        for (const char *q = line_start; q < e; q++) {
            unsigned char ch = (unsigned char)*q;
            ib_buf_addc(&b, ch == '\t' || ch >= 0x20 ? (char)ch : '?');
        }
        if (e < p->lx.lim && *e != '\n' && *e != '\r')
            ib_buf_adds(&b, "...");
        ib_buf_addf(&b, "\n    %*s | ", pre, "");
        for (unsigned i = 1; i < col && line_start + i - 1 < e; i++)
            ib_buf_addc(&b, line_start[i - 1] == '\t' ? '\t' : ' ');
        ib_buf_addc(&b, '^');
    }
    return ib_fail(p->err, IB_E_PARSE, "%s", b.s);
}

#define FAIL(c, ...) fail_at((c)->p, (c)->line_start, (c)->line, (c)->col, true, __VA_ARGS__)

/* ---- argument shapes ------------------------------------------------------------ */

static void
add_arg(struct df_instr *in, const char *p, size_t n)
{
    in->args = ib_xreallocarray(in->args, in->nargs + 2, sizeof(char *));
    in->arg_lens = ib_xreallocarray(in->arg_lens, in->nargs + 1, sizeof(size_t));
    char *a = ib_xmalloc(n + 1); /* not strndup: JSON arguments may hold NUL bytes */
    memcpy(a, p, n);
    a[n] = '\0';
    in->args[in->nargs] = a;
    in->arg_lens[in->nargs++] = n;
    in->args[in->nargs] = NULL;
}

static void
set_args(struct df_instr *in, struct lex_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        add_arg(in, s->v[i], s->len[i]);
    lex_strs_release(s);
}

static int
parse_ws_list(struct pctx *c, const char *rest)
{
    struct lex_strs s = {0};
    if (!*rest)
        return 0;
    lex_split_ws(rest, &s);
    set_args(c->in, &s);
    return 0;
}

static int
parse_string(struct pctx *c, const char *rest)
{
    if (*rest)
        add_arg(c->in, rest, strlen(rest));
    return 0;
}

/* JSON form when it applies: 1 = it did, 0 = not JSON, -1 = error */
static int
try_json(struct pctx *c, const char *rest)
{
    struct lex_strs s = {0};
    switch (lex_json_array(rest, &s)) {
    case LEX_JSON_STRINGS:
        set_args(c->in, &s);
        c->in->json = true;
        return 1;
    case LEX_JSON_NOT_STRINGS:
        return FAIL(c, "when using JSON array syntax, arrays must be comprised of strings only");
    case LEX_JSON_NONE:
        break;
    }
    return 0;
}

static int
parse_maybe_json(struct pctx *c, const char *rest)
{
    if (!*rest)
        return 0;
    int r = try_json(c, rest);
    if (r != 0)
        return r < 0 ? -1 : 0;
    return parse_string(c, rest);
}

static int
parse_maybe_json_list(struct pctx *c, const char *rest)
{
    int r = try_json(c, rest);
    if (r != 0)
        return r < 0 ? -1 : 0;
    return parse_ws_list(c, rest);
}

static int
parse_words(struct pctx *c, const char *rest)
{
    struct lex_strs s = {0};
    lex_words(rest, c->p->lx.escape, &s);
    if (s.n)
        set_args(c->in, &s);
    else
        lex_strs_release(&s);
    return 0;
}

static bool
is_go_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f' || ch == '\r';
}

/* ENV and LABEL: "key value" or key=value pairs, as (key, value, sep) triples */
static int
parse_name_val(struct pctx *c, const char *rest)
{
    struct lex_strs words = {0};
    const char *kw = df_kind_name(c->in->kind);
    lex_words(rest, c->p->lx.escape, &words);
    if (words.n == 0)
        return 0;
    if (!strchr(words.v[0], '=')) {
        lex_strs_release(&words);
        size_t k = strcspn(rest, " \t\v\f\r");
        if (!rest[k])
            return FAIL(c, "%s must have two arguments", kw);
        const char *v = rest + k;
        while (is_go_ws(*v))
            v++;
        add_arg(c->in, rest, k);
        add_arg(c->in, v, strlen(v));
        add_arg(c->in, "", 0);
        return 0;
    }
    for (size_t i = 0; i < words.n; i++) {
        const char *eq = strchr(words.v[i], '=');
        if (!eq) {
            AUTO_BUF struct ib_buf q = IB_BUF_INIT;
            df_quote(&q, words.v[i], words.len[i]);
            lex_strs_release(&words);
            return FAIL(c, "Syntax error - can't find = in %s. Must be of the form: name=value",
                        q.s);
        }
        add_arg(c->in, words.v[i], (size_t)(eq - words.v[i]));
        add_arg(c->in, eq + 1, strlen(eq + 1));
        add_arg(c->in, "=", 1);
    }
    lex_strs_release(&words);
    return 0;
}

/* unicode.IsSpace(rune(b)) of a single byte, as the reference tests it here */
static bool
byte_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || ch == 0x85 || ch == 0xa0;
}

static int
parse_healthcheck(struct pctx *c, const char *rest)
{
    size_t sep = 0, next;
    while (rest[sep] && !byte_space((unsigned char)rest[sep]))
        sep++;
    next = sep;
    while (rest[next] && byte_space((unsigned char)rest[next]))
        next++;
    if (sep == 0)
        return 0;
    add_arg(c->in, rest, sep);
    return parse_maybe_json(c, rest + next);
}

static int parse_instr(struct parser *p, struct pctx *c, const char *line);

static int
parse_onbuild(struct pctx *c, const char *rest)
{
    if (!*rest)
        return 0;
    if (c->depth > 0)
        return FAIL(c, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    struct df_instr *sub = ib_xcalloc(1, sizeof(*sub));
    c->in->sub = sub;
    struct pctx sc = *c;
    sc.in = sub;
    sc.depth = c->depth + 1;
    sc.col = c->col + c->args_off;
    if (parse_instr(c->p, &sc, rest) < 0)
        return -1;
    if (sub->kind == DF_ONBUILD)
        return FAIL(c, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (sub->kind == DF_FROM || sub->kind == DF_MAINTAINER)
        return FAIL(c, "%s isn't allowed as an ONBUILD trigger", df_kind_name(sub->kind));
    return 0;
}

static const struct {
    const char *name;
    enum df_kind kind;
    parse_fn fn;
} keywords[] = {
    {"ADD", DF_ADD, parse_maybe_json_list},
    {"ARG", DF_ARG, parse_words},
    {"CMD", DF_CMD, parse_maybe_json},
    {"COPY", DF_COPY, parse_maybe_json_list},
    {"ENTRYPOINT", DF_ENTRYPOINT, parse_maybe_json},
    {"ENV", DF_ENV, parse_name_val},
    {"EXPOSE", DF_EXPOSE, parse_ws_list},
    {"FROM", DF_FROM, parse_ws_list},
    {"HEALTHCHECK", DF_HEALTHCHECK, parse_healthcheck},
    {"LABEL", DF_LABEL, parse_name_val},
    {"MAINTAINER", DF_MAINTAINER, parse_string},
    {"ONBUILD", DF_ONBUILD, parse_onbuild},
    {"RUN", DF_RUN, parse_maybe_json},
    {"SHELL", DF_SHELL, parse_maybe_json},
    {"STOPSIGNAL", DF_STOPSIGNAL, parse_string},
    {"USER", DF_USER, parse_string},
    {"VOLUME", DF_VOLUME, parse_maybe_json_list},
    {"WORKDIR", DF_WORKDIR, parse_string},
};

const char *
df_kind_name(enum df_kind k)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (keywords[i].kind == k)
            return keywords[i].name;
    return "";
}

enum df_kind
df_kind_lookup(const char *keyword)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strcasecmp(keywords[i].name, keyword) == 0)
            return keywords[i].kind;
    return DF_UNKNOWN;
}

/* Levenshtein distance, ASCII case-insensitive; both strings are short here. */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t n = strlen(b), row[32];
    if (n >= sizeof(row) / sizeof(row[0]))
        return (size_t)-1;
    for (size_t j = 0; j <= n; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= n; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[n];
}

const char *
df_kind_suggest(const char *keyword)
{
    size_t len = strlen(keyword);
    if (len == 0 || len > 24)
        return NULL;
    size_t allowed = len < 4 ? 1 : 2, best = (size_t)-1;
    const char *match = NULL;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        size_t d = edit_distance(keyword, keywords[i].name);
        if (d < best) {
            best = d;
            match = keywords[i].name;
        }
    }
    return best <= allowed && best < len ? match : NULL;
}

/* ---- one instruction ------------------------------------------------------------ */

/* keyword, flags, then the keyword's own argument parser */
static int
parse_instr(struct parser *p, struct pctx *c, const char *line)
{
    struct df_instr *in = c->in;
    size_t tn, kn;
    const char *t = lex_trim_space(line, &tn);
    AUTO_FREE char *trimmed = ib_xstrndup(t, tn);
    AUTO_STRV struct ib_strv flags = IB_STRV_INIT;
    const char *rest = "";

    in->original = ib_xstrdup(line);
    in->start_line = c->line;
    in->col = c->col;
    kn = lex_keyword_len(trimmed);
    in->keyword = ib_xstrndup(trimmed, kn);
    in->kind = df_kind_lookup(in->keyword);
    AUTO_FREE char *args = NULL;
    if (trimmed[kn]) {
        const char *r = trimmed + kn;
        while (is_go_ws(*r))
            r++;
        r = lex_flags(r, &flags);
        size_t an;
        r = lex_trim_space(r, &an);
        args = ib_xstrndup(r, an);
        c->args_off = (unsigned)(r - trimmed);
        rest = args;
    }
    in->flags = ib_strv_detach(&flags, &in->nflags);

    if (in->kind == DF_UNKNOWN) {
        if (p->flags & DF_PARSE_ALLOW_UNKNOWN) {
            add_arg(in, "", 0);
            return 0;
        }
        if (!*in->keyword)
            return FAIL(c, "empty instruction (only a line continuation)");
        const char *s = df_kind_suggest(in->keyword);
        if (s)
            return FAIL(c, "unknown instruction: %s (did you mean %s?)", in->keyword, s);
        return FAIL(c, "unknown instruction: %s", in->keyword);
    }
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (keywords[i].kind == in->kind)
            return keywords[i].fn(c, rest);
    return 0;
}

/* ---- lines, directives, heredocs --------------------------------------------------- */

static int
lex_fail(struct parser *p)
{
    const char *ls = p->lx.cur; /* the failing line starts at the cursor */
    return fail_at(p, ls, p->lx.err_line, p->lx.err_col, true, "%s", p->lx.err_msg);
}

static int
directive(struct parser *p, const struct lex_line *ln)
{
    const char *name, *value;
    size_t nl, vl;
    if (p->directives_done)
        return 0;
    if (!lex_directive(ln->text, ln->end, "#", &name, &nl, &value, &vl)) {
        p->directives_done = true;
        return 0;
    }
    bool *seen;
    char **slot = NULL;
    if (nl == 6 && strncasecmp(name, "syntax", 6) == 0) {
        seen = &p->seen_syntax;
        slot = &p->f->syntax;
    } else if (nl == 6 && strncasecmp(name, "escape", 6) == 0) {
        seen = &p->seen_escape;
    } else if (nl == 5 && strncasecmp(name, "check", 5) == 0) {
        seen = &p->seen_check;
        slot = &p->f->check;
    } else {
        p->directives_done = true;
        return 0;
    }
    unsigned col = (unsigned)(name - ln->start) + 1;
    if (*seen) {
        char lower[8] = {0};
        for (size_t i = 0; i < nl; i++)
            lower[i] = (char)tolower((unsigned char)name[i]);
        return fail_at(p, ln->start, ln->line, col, true,
                       "only one %s parser directive can be used", lower);
    }
    *seen = true;
    if (slot) {
        *slot = ib_xstrndup(value, vl);
        return 0;
    }
    if (vl != 1 || (*value != '\\' && *value != '`'))
        return fail_at(p, ln->start, ln->line, (unsigned)(value - ln->start) + 1, true,
                       "invalid escape token '%.*s' does not match ` or \\", (int)vl, value);
    p->f->escape = *value;
    p->lx.escape = *value;
    return 0;
}

static bool
heredoc_kind(enum df_kind k)
{
    return k == DF_RUN || k == DF_COPY || k == DF_ADD;
}

static int
read_heredocs(struct parser *p, struct pctx *c, unsigned *last_line)
{
    struct df_instr *in = c->in;
    const struct df_instr *target = in->kind == DF_ONBUILD && in->sub ? in->sub : in;
    if (!heredoc_kind(target->kind) || target->json)
        return 0;
    struct lex_heredoc *docs;
    size_t n;
    const char *msg = NULL;
    if (lex_heredoc_line(in->original, &docs, &n, &msg) < 0)
        return FAIL(c, "%s", msg);
    if (n == 0)
        return 0;
    in->heredocs = ib_xcalloc(n, sizeof(*in->heredocs));
    for (size_t i = 0; i < n; i++) {
        struct df_heredoc *h = &in->heredocs[i];
        h->name = ib_steal(&docs[i].name);
        h->expand = docs[i].expand;
        h->chomp = docs[i].chomp;
        h->fd = docs[i].fd;
        in->nheredocs++;
    }
    lex_heredocs_free(docs, n);

    for (size_t i = 0; i < in->nheredocs; i++) {
        struct df_heredoc *h = &in->heredocs[i];
        AUTO_BUF struct ib_buf body = IB_BUF_INIT;
        bool done = false;
        struct lex_line ln;
        int r;
        size_t nlen = strlen(h->name);
        while ((r = lex_line_next(&p->lx, &ln)) > 0) {
            *last_line = ln.line;
            const char *t = ln.start;
            if (h->chomp)
                while (t < ln.end && *t == '\t')
                    t++;
            if ((size_t)(ln.end - t) == nlen && memcmp(t, h->name, nlen) == 0) {
                done = true;
                break;
            }
            ib_buf_add(&body, ln.start, (size_t)(ln.next - ln.start));
        }
        if (r < 0)
            return lex_fail(p);
        if (!done)
            return FAIL(c, "unterminated heredoc %s", h->name);
        h->content = ib_buf_detach(&body, NULL);
    }
    return 0;
}

static struct df_instr *
new_instr(struct parser *p)
{
    struct df_file *f = p->f;
    IB_GROW(f->instrs, f->ninstrs + 1, p->instr_cap);
    struct df_instr *in = &f->instrs[f->ninstrs++];
    memset(in, 0, sizeof(*in));
    return in;
}

static void
add_warning(struct parser *p, unsigned line, const char *text)
{
    struct df_file *f = p->f;
    IB_GROW(f->warnings, f->nwarnings + 1, p->warn_cap);
    f->warnings[f->nwarnings].line = line;
    f->warnings[f->nwarnings++].msg = ib_xasprintf("Empty continuation line found in: %s", text);
}

/* One instruction starting at the content line ln. */
static int
parse_logical(struct parser *p, const struct lex_line *first)
{
    AUTO_BUF struct ib_buf line = IB_BUF_INIT;
    struct lex_line ln = *first;
    unsigned last = ln.line;
    bool empty_cont = false;

    ib_buf_add(&line, ln.text, (size_t)((ln.cont ? ln.cont : ln.end) - ln.text));
    bool more = ln.cont != NULL;
    while (more) {
        int r = lex_line_next(&p->lx, &ln);
        if (r < 0)
            return lex_fail(p);
        if (r == 0)
            break;
        last = ln.line;
        if (ln.kind == LEX_LINE_COMMENT)
            continue;
        if (ln.kind == LEX_LINE_BLANK) {
            empty_cont = true;
            continue;
        }
        ib_buf_add(&line, ln.start, (size_t)((ln.cont ? ln.cont : ln.end) - ln.start));
        more = ln.cont != NULL;
    }
    if (empty_cont)
        add_warning(p, first->line, line.s);

    struct pctx c = {
        .p = p,
        .in = new_instr(p),
        .line_start = first->start,
        .line = first->line,
        .col = (unsigned)(first->text - first->start) + 1,
    };
    c.in->start_line = first->line;
    c.in->col = c.col;
    c.in->end_line = last;
    if (parse_instr(p, &c, line.s) < 0 || read_heredocs(p, &c, &last) < 0)
        return -1;
    c.in->end_line = last;
    if (c.in->sub) {
        c.in->sub->start_line = c.in->start_line;
        c.in->sub->end_line = last;
    }
    return 0;
}

static int
parse_file(struct parser *p)
{
    struct lex_line ln;
    int r;
    while ((r = lex_line_next(&p->lx, &ln)) > 0) {
        if (directive(p, &ln) < 0)
            return -1;
        if (ln.kind == LEX_LINE_CONTENT && parse_logical(p, &ln) < 0)
            return -1;
    }
    if (r < 0)
        return lex_fail(p);
    if (p->f->ninstrs == 0)
        return fail_at(p, NULL, p->lx.line > 1 ? p->lx.line - 1 : 1, 1, false,
                       "file with no instructions");
    return 0;
}

int
df_parse_buf_opts(const char *name, const char *src, size_t len, unsigned flags,
                  struct df_file **out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf copy = IB_BUF_INIT;
    struct parser p = {.name = name ? name : "Dockerfile", .flags = flags, .err = err};

    if (len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0) {
        src += 3;
        len -= 3;
    }
    ib_buf_add(&copy, src, len);
    lex_init(&p.lx, copy.s, copy.len);
    p.f = ib_xcalloc(1, sizeof(*p.f));
    p.f->name = ib_xstrdup(p.name);
    p.f->escape = '\\';

    if (parse_file(&p) < 0) {
        df_file_free(p.f);
        return -1;
    }
    p.f->start_line = p.f->instrs[0].start_line;
    p.f->end_line = p.f->instrs[p.f->ninstrs - 1].end_line;
    *out = p.f;
    return 0;
}

int
df_parse_buf(const char *name, const char *src, size_t len, struct df_file **out,
             struct ib_err **err)
{
    return df_parse_buf_opts(name, src, len, 0, out, err);
}

static void
instr_release(struct df_instr *in)
{
    free(in->keyword);
    free(in->original);
    ib_strv_free_array(in->flags);
    for (size_t i = 0; i < in->nargs; i++)
        free(in->args[i]);
    free(in->args);
    free(in->arg_lens);
    for (size_t i = 0; i < in->nheredocs; i++) {
        free(in->heredocs[i].name);
        free(in->heredocs[i].content);
    }
    free(in->heredocs);
    if (in->sub) {
        instr_release(in->sub);
        free(in->sub);
    }
}

void
df_file_free(struct df_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ninstrs; i++)
        instr_release(&f->instrs[i]);
    free(f->instrs);
    for (size_t i = 0; i < f->nwarnings; i++)
        free(f->warnings[i].msg);
    free(f->warnings);
    free(f->name);
    free(f->syntax);
    free(f->check);
    free(f);
}
