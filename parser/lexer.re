/* parser/lexer.re: the Dockerfile lexer (re2c 3.0; see parser/lexer.h).
 *
 * All scanners read NUL-terminated text with re2c:eof = 0: a 0 byte is only
 * the end when the cursor has reached YYLIMIT; a NUL byte before it is an
 * ordinary byte that the line scanner reports as an error.
 */
#include "parser/lexer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/banned.h"

typedef unsigned char uc;

/*!re2c
    re2c:yyfill:enable = 0;
    re2c:define:YYCTYPE = "uc";

    // well-formed UTF-8 sequences (no overlongs, no surrogates)
    u1 = [\x01-\x7f];
    u2 = [\xc2-\xdf][\x80-\xbf];
    u3 = "\xe0"[\xa0-\xbf][\x80-\xbf] | [\xe1-\xec\xee\xef][\x80-\xbf]{2}
       | "\xed"[\x80-\x9f][\x80-\xbf];
    u4 = "\xf0"[\x90-\xbf][\x80-\xbf]{2} | [\xf1-\xf3][\x80-\xbf]{3}
       | "\xf4"[\x80-\x8f][\x80-\xbf]{2};
    rune = u2 | u3 | u4;

    // Go's unicode.IsSpace, minus "\n", as UTF-8
    uspace = [ \t\v\f\r] | "\xc2\x85" | "\xc2\xa0" | "\xe1\x9a\x80"
           | "\xe2\x80"[\x80-\x8a] | "\xe2\x80\xa8" | "\xe2\x80\xa9" | "\xe2\x80\xaf"
           | "\xe2\x81\x9f" | "\xe3\x80\x80";
*/

/* ---- physical lines ------------------------------------------------------- */

void
lex_init(struct lex *lx, const char *buf, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->buf = lx->cur = buf;
    lx->lim = buf + len;
    lx->line = 1;
    lx->escape = '\\';
}

static int
line_fail(struct lex *lx, const struct lex_line *ln, const char *at, const char *msg)
{
    lx->err_msg = msg;
    lx->err_line = ln->line;
    lx->err_col = (unsigned)(at - ln->start) + 1;
    return -1;
}

int
lex_line_next(struct lex *lx, struct lex_line *ln)
{
    const uc *YYCURSOR = (const uc *)lx->cur, *YYLIMIT = (const uc *)lx->lim;
    const uc *YYMARKER = NULL, *tok;
    const uc *cr = NULL;  /* start of a run of CRs, trailing if the line ends next */
    const uc *esc = NULL; /* last run of escape chars followed only by blanks */
    size_t esc_len = 0;
    uc e = (uc)lx->escape;

    if (YYCURSOR >= YYLIMIT)
        return 0;
    memset(ln, 0, sizeof(*ln));
    ln->line = lx->line;
    ln->start = lx->cur;
    ln->kind = LEX_LINE_CONTENT;

    /* leading whitespace, then a comment marker or the content */
    /*!re2c
        re2c:eof = 0;
        uspace* "#" { ln->text = (const char *)YYCURSOR - 1; ln->kind = LEX_LINE_COMMENT;
                      goto body; }
        uspace+     { ln->text = (const char *)YYCURSOR; goto body; }
        *           { YYCURSOR = (const uc *)ln->start; ln->text = ln->start; goto body; }
        $           { ln->text = (const char *)YYCURSOR; goto body; }
    */
body:
    tok = YYCURSOR;
    /*!re2c
        re2c:eof = 0;
        $      { ln->next = (const char *)YYCURSOR; ln->end = (const char *)(cr ? cr : YYCURSOR);
                 goto done; }
        "\n"   { ln->next = (const char *)YYCURSOR; ln->end = (const char *)(cr ? cr : tok);
                 goto done; }
        "\x00" { return line_fail(lx, ln, (const char *)tok, "unexpected NUL byte"); }
        "\r"+  { if (!cr) cr = tok; goto body; }
        [ \t]+ { if (cr) { cr = NULL; esc = NULL; } goto body; }
        "\\"+ | "`"+ {
                 cr = NULL;
                 esc = *tok == e ? tok : NULL;
                 esc_len = (size_t)(YYCURSOR - tok);
                 goto body; }
        [^\n\r\x00 \t\\`]+ { cr = NULL; esc = NULL; goto body; }
    */
done:
    {
        size_t n = (size_t)(ln->next - ln->start);
        if (n && ln->next[-1] == '\n')
            n--;
        if (n > LEX_MAX_LINE) {
            lx->err_msg = "dockerfile line greater than max allowed size of 65535";
            lx->err_line = ln->line;
            lx->err_col = 1;
            return -1;
        }
    }
    if (ln->text > ln->end)
        ln->text = ln->end;
    if (ln->kind == LEX_LINE_CONTENT && ln->text == ln->end)
        ln->kind = LEX_LINE_BLANK;
    if (esc && esc_len == 1)
        ln->cont = (const char *)esc;
    (void)YYMARKER;
    lx->cur = ln->next;
    lx->line++;
    return 1;
}

/* ---- parser directives ------------------------------------------------------ */

/* Go regexp \s: [\t\n\f\r ] */
static bool
is_go_s(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

bool
lex_directive(const char *p, const char *end, const char *comment, const char **name,
              size_t *name_len, const char **value, size_t *value_len)
{
    size_t cl = strlen(comment);
    if ((size_t)(end - p) < cl || memcmp(p, comment, cl) != 0)
        return false;
    p += cl;
    /* work on a bounded copy so that the scanner has its sentinel */
    size_t n = (size_t)(end - p);
    if (n == 0 || memchr(p, '\0', n))
        return false;
    char *copy = ib_xstrndup(p, n);
    const uc *YYCURSOR = (const uc *)copy, *YYLIMIT = YYCURSOR + n, *YYMARKER = NULL;
    const uc *n0, *n1;
    bool ok = false;
    /*!stags:re2c format = 'const uc *@@ = NULL;'; */
    /*!re2c
        re2c:eof = 0;
        re2c:tags = 1;
        gs = [\t\n\f\r ];
        gs* @n0 [a-zA-Z][a-zA-Z0-9]* @n1 gs* "=" { goto val; }
        *  { goto out; }
        $  { goto out; }
    */
val:
    {
        /* value: the non-empty rest with trailing blanks trimmed; like the
         * reference's lazy (.+?)\s*$, an all-blank rest keeps one blank */
        const char *v = (const char *)YYCURSOR, *ve = copy + n;
        while (v < ve && is_go_s(*v))
            v++;
        while (ve > v && is_go_s(ve[-1]))
            ve--;
        if (v == ve) {
            if ((const char *)YYCURSOR == copy + n)
                goto out;
            v = copy + n - 1;
            ve = copy + n;
        }
        *name = p + ((const char *)n0 - copy);
        *name_len = (size_t)(n1 - n0);
        *value = p + (v - copy);
        *value_len = (size_t)(ve - v);
        ok = true;
    }
out:
    (void)YYMARKER;
    free(copy);
    return ok;
}

/* ---- word lists ------------------------------------------------------------- */

void
lex_strs_push(struct lex_strs *s, const char *p, size_t n)
{
    size_t cap = s->cap;
    IB_GROW(s->v, s->n + 1, s->cap);
    if (s->cap != cap)
        s->len = ib_xreallocarray(s->len, s->cap, sizeof(*s->len));
    char *c = ib_xmalloc(n + 1);
    memcpy(c, p, n);
    c[n] = '\0';
    s->v[s->n] = c;
    s->len[s->n++] = n;
}

void
lex_strs_release(struct lex_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    free(s->len);
    memset(s, 0, sizeof(*s));
}

/* ---- runes ------------------------------------------------------------------ */

enum rune_class {
    R_END,
    R_SPACE, /* unicode.IsSpace, "\n" included */
    R_SQUOTE,
    R_DQUOTE,
    R_BSLASH,
    R_BTICK,
    R_CHAR,  /* a valid rune (ASCII or UTF-8 sequence) */
    R_BAD,   /* one byte that is not valid UTF-8 (Go decodes it as U+FFFD) */
};

/* Classify the rune at *pp (text ends at lim) and step over it. */
static enum rune_class
next_rune(const char **pp, const char *lim)
{
    const uc *YYCURSOR = (const uc *)*pp, *YYLIMIT = (const uc *)lim, *YYMARKER = NULL;
    enum rune_class c;
    /*!re2c
        re2c:eof = 0;
        $               { c = R_END; goto out; }
        uspace | "\n"   { c = R_SPACE; goto out; }
        "'"             { c = R_SQUOTE; goto out; }
        "\""            { c = R_DQUOTE; goto out; }
        "\\"            { c = R_BSLASH; goto out; }
        "`"             { c = R_BTICK; goto out; }
        u1 | rune       { c = R_CHAR; goto out; }
        *               { c = R_BAD; goto out; }
    */
out:
    (void)YYMARKER;
    *pp = (const char *)YYCURSOR;
    return c;
}

static bool
is_esc(enum rune_class c, char escape)
{
    return (c == R_BSLASH && escape == '\\') || (c == R_BTICK && escape == '`');
}

/* Append a rune as Go's string(rune) would: invalid bytes become U+FFFD. */
static void
add_rune(struct ib_buf *w, enum rune_class c, const char *p, const char *q)
{
    if (c == R_BAD)
        ib_buf_add(w, "\xef\xbf\xbd", 3);
    else
        ib_buf_add(w, p, (size_t)(q - p));
}

void
lex_words(const char *s, char escape, struct lex_strs *out)
{
    enum { SPACES, WORD, QUOTE } phase = SPACES;
    struct ib_buf w = IB_BUF_INIT;
    const char *lim = s + strlen(s), *p = s;
    enum rune_class quote = R_END;
    bool blank_ok = false;

    for (;;) {
        const char *start = p;
        enum rune_class c = next_rune(&p, lim);
        if (phase == SPACES) {
            if (c == R_END)
                break;
            if (c == R_SPACE)
                continue;
            phase = WORD;
        }
        if (c == R_END) {
            if (blank_ok || w.len)
                lex_strs_push(out, w.s, w.len);
            break;
        }
        if (phase == WORD) {
            if (c == R_SPACE) {
                phase = SPACES;
                if (blank_ok || w.len)
                    lex_strs_push(out, w.s, w.len);
                ib_buf_reset(&w);
                blank_ok = false;
                continue;
            }
            if (c == R_SQUOTE || c == R_DQUOTE) {
                quote = c;
                blank_ok = true;
                phase = QUOTE;
            }
            if (is_esc(c, escape)) {
                if (p == lim)
                    continue; /* a lone escape at the end is dropped */
                ib_buf_addc(&w, escape);
                start = p;
                c = next_rune(&p, lim);
            }
            add_rune(&w, c, start, p);
            continue;
        }
        /* QUOTE */
        if (c == quote)
            phase = WORD;
        if (is_esc(c, escape) && quote != R_SQUOTE) {
            if (p == lim) {
                phase = WORD;
                continue;
            }
            ib_buf_addc(&w, escape);
            start = p;
            c = next_rune(&p, lim);
        }
        add_rune(&w, c, start, p);
    }
    ib_buf_release(&w);
}

void
lex_split_ws(const char *s, struct lex_strs *out)
{
    const uc *YYCURSOR = (const uc *)s, *YYLIMIT = YYCURSOR + strlen(s), *YYMARKER = NULL;
    const uc *tok, *word = YYCURSOR;
    for (;;) {
        tok = YYCURSOR;
        /*!re2c
        re2c:eof = 0;
            [ \t\v\f\r]+ { lex_strs_push(out, (const char *)word, (size_t)(tok - word));
                           word = YYCURSOR; continue; }
            $            { lex_strs_push(out, (const char *)word, (size_t)(tok - word));
                           break; }
            [^ \t\v\f\r]  { continue; }
        */
    }
    (void)YYMARKER;
}

size_t
lex_keyword_len(const char *s)
{
    return strcspn(s, " \t\v\f\r");
}

const char *
lex_trim_space(const char *s, size_t *n)
{
    const char *lim = s + strlen(s), *p = s, *first = NULL, *last = s;
    for (;;) {
        const char *start = p;
        enum rune_class c = next_rune(&p, lim);
        if (c == R_END)
            break;
        if (c == R_SPACE)
            continue;
        if (!first)
            first = start;
        last = p;
    }
    if (!first) {
        *n = 0;
        return lim;
    }
    *n = (size_t)(last - first);
    return first;
}

/* ---- builder flags ---------------------------------------------------------- */

/* The reference scans flags byte by byte and tests each byte with
 * unicode.IsSpace(rune(b)), so 0x85 and 0xa0 count as blanks there, and it
 * writes each kept byte as the rune of that value (Latin-1 to UTF-8). */
static bool
flag_space(uc c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xa0;
}

static void
flag_addc(struct ib_buf *w, uc c)
{
    if (c < 0x80) {
        ib_buf_addc(w, (char)c);
    } else {
        ib_buf_addc(w, (char)(0xc0 | (c >> 6)));
        ib_buf_addc(w, (char)(0x80 | (c & 0x3f)));
    }
}

const char *
lex_flags(const char *s, struct ib_strv *flags)
{
    enum { SPACES, WORD, QUOTE } phase = SPACES;
    struct ib_buf w = IB_BUF_INIT;
    size_t len = strlen(s);
    bool blank_ok = false;
    uc quote = 0, ch = 0;
    const char *rest = s + len;

    for (size_t pos = 0; pos <= len; pos++) {
        if (pos != len)
            ch = (uc)s[pos];
        if (phase == SPACES) {
            if (pos == len)
                break;
            if (flag_space(ch))
                continue;
            if (ch != '-' || pos + 1 == len || s[pos + 1] != '-') {
                rest = s + pos;
                break;
            }
            phase = WORD;
        }
        if (pos == len) {
            if (strcmp(w.s, "--") != 0 && (blank_ok || w.len))
                ib_strv_pushn(flags, w.s, w.len);
            break;
        }
        if (phase == WORD) {
            if (flag_space(ch)) {
                phase = SPACES;
                if (strcmp(w.s, "--") == 0) {
                    rest = s + pos;
                    break;
                }
                if (blank_ok || w.len)
                    ib_strv_pushn(flags, w.s, w.len);
                ib_buf_reset(&w);
                blank_ok = false;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = QUOTE;
                continue;
            }
            if (ch == '\\') {
                if (pos + 1 == len)
                    continue;
                ch = (uc)s[++pos];
            }
            flag_addc(&w, ch);
            continue;
        }
        /* QUOTE */
        if (ch == quote) {
            phase = WORD;
            continue;
        }
        if (ch == '\\') {
            if (pos + 1 == len) {
                phase = WORD;
                continue;
            }
            ch = (uc)s[++pos];
        }
        flag_addc(&w, ch);
    }
    ib_buf_release(&w);
    return rest;
}

/* ---- shell words for heredoc markers ------------------------------------- */

/* Split s into shell words the way BuildKit's shell lexer does with the
 * escape char '\\' and unset variables left as written ('$' is literal here).
 * raw: keep quotes and escapes as written (the line-level split), where an
 * unquoted "<<" or "<<-" also takes the blanks after it.  *quoted: whether a
 * quoted section was seen.  Returns -1 (with *msg) for an unterminated quote. */
static int
shell_words(const char *s, bool raw, struct lex_strs *out, bool *quoted, const char **msg)
{
    struct ib_buf w = IB_BUF_INIT;
    const char *lim = s + strlen(s), *p = s;
    *quoted = false;
    for (;;) {
        const char *start = p;
        enum rune_class c = next_rune(&p, lim);
        if (c == R_END)
            break;
        if (c == R_SQUOTE || c == R_DQUOTE) {
            *quoted = true;
            if (raw)
                ib_buf_add(&w, start, 1);
            for (;;) {
                const char *q0 = p;
                enum rune_class d = next_rune(&p, lim);
                if (d == R_END) {
                    ib_buf_release(&w);
                    *msg = c == R_SQUOTE ? "unexpected end of statement while looking for "
                                           "matching single-quote"
                                         : "unexpected end of statement while looking for "
                                           "matching double-quote";
                    return -1;
                }
                if (d == c) {
                    if (raw)
                        ib_buf_add(&w, q0, 1);
                    break;
                }
                if (c == R_DQUOTE && d == R_BSLASH) {
                    if (raw)
                        ib_buf_addc(&w, '\\');
                    if (p < lim && (*p == '"' || *p == '$' || *p == '\\')) {
                        q0 = p;
                        d = next_rune(&p, lim);
                    } else {
                        if (p == lim)
                            continue;
                        if (!raw)
                            ib_buf_addc(&w, '\\');
                        continue;
                    }
                }
                add_rune(&w, d, q0, p);
            }
            continue;
        }
        if (c == R_BSLASH) {
            if (raw)
                ib_buf_addc(&w, '\\');
            start = p;
            c = next_rune(&p, lim);
            if (c == R_END)
                break;
            add_rune(&w, c, start, p);
            continue;
        }
        if (c == R_SPACE) {
            if (w.len)
                lex_strs_push(out, w.s, w.len);
            ib_buf_reset(&w);
            continue;
        }
        add_rune(&w, c, start, p);
        if (raw && *start == '<' && p < lim && *p == '<') {
            ib_buf_addc(&w, '<');
            p++;
            if (*p == '-') {
                ib_buf_addc(&w, '-');
                p++;
            }
            while (*p == ' ' || *p == '\t') {
                ib_buf_addc(&w, *p);
                p++;
            }
        }
    }
    if (w.len)
        lex_strs_push(out, w.s, w.len);
    ib_buf_release(&w);
    return 0;
}

int
lex_heredoc_word(const char *word, struct lex_heredoc *out, const char **msg)
{
    const uc *YYCURSOR = (const uc *)word, *YYLIMIT = YYCURSOR + strlen(word);
    const uc *YYMARKER = NULL, *d0, *d1, *ch;
    /*!stags:re2c format = 'const uc *@@ = NULL;'; */
    /*!re2c
        re2c:eof = 0;
        @d0 [0-9]* @d1 "<<" @ch "-"? { goto rest; }
        *  { return 0; }
        $  { return 0; }
    */
rest:
    (void)YYMARKER;
    const char *r = (const char *)YYCURSOR;
    if (*r == '\0' || strchr(r, '<'))
        return 0;
    struct lex_strs words = { 0 };
    bool quoted = false;
    if (shell_words(r, false, &words, &quoted, msg) < 0) {
        lex_strs_release(&words);
        return -1;
    }
    if (words.n != 1) {
        lex_strs_release(&words);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->name = words.v[0];
    words.v[0] = NULL;
    words.n = 0;
    lex_strs_release(&words);
    out->expand = !quoted;
    out->chomp = YYCURSOR > ch;
    long fd = 0;
    for (const uc *q = d0; q < d1; q++) {
        fd = fd * 10 + (*q - '0');
        if (fd > 1000000)
            fd = 1000000;
    }
    out->fd = (int)fd;
    return 1;
}

int
lex_heredoc_line(const char *line, struct lex_heredoc **docs, size_t *n, const char **msg)
{
    struct lex_strs words = { 0 };
    bool quoted;
    *docs = NULL;
    *n = 0;
    if (!strstr(line, "<<"))
        return 0;
    if (shell_words(line, true, &words, &quoted, msg) < 0) {
        lex_strs_release(&words);
        return 0; /* as upstream: a line that does not lex has no heredocs */
    }
    size_t cap = 0;
    for (size_t i = 0; i < words.n; i++) {
        struct lex_heredoc h;
        int r = lex_heredoc_word(words.v[i], &h, msg);
        if (r < 0) {
            lex_heredocs_free(*docs, *n);
            *docs = NULL;
            *n = 0;
            lex_strs_release(&words);
            return -1;
        }
        if (r > 0) {
            IB_GROW(*docs, *n + 1, cap);
            (*docs)[(*n)++] = h;
        }
    }
    lex_strs_release(&words);
    return 0;
}

void
lex_heredocs_free(struct lex_heredoc *docs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(docs[i].name);
    free(docs);
}

/* ---- JSON exec form ----------------------------------------------------------- */

#define JSON_MAX_DEPTH 10000

enum json_tok { J_END, J_ERR, J_LBRACK, J_RBRACK, J_LBRACE, J_RBRACE, J_COMMA, J_COLON,
                J_STRING, J_SCALAR };

static void
add_utf8(struct ib_buf *b, unsigned r)
{
    if (r < 0x80) {
        ib_buf_addc(b, (char)r);
    } else if (r < 0x800) {
        ib_buf_addc(b, (char)(0xc0 | (r >> 6)));
        ib_buf_addc(b, (char)(0x80 | (r & 0x3f)));
    } else if (r < 0x10000) {
        ib_buf_addc(b, (char)(0xe0 | (r >> 12)));
        ib_buf_addc(b, (char)(0x80 | ((r >> 6) & 0x3f)));
        ib_buf_addc(b, (char)(0x80 | (r & 0x3f)));
    } else {
        ib_buf_addc(b, (char)(0xf0 | (r >> 18)));
        ib_buf_addc(b, (char)(0x80 | ((r >> 12) & 0x3f)));
        ib_buf_addc(b, (char)(0x80 | ((r >> 6) & 0x3f)));
        ib_buf_addc(b, (char)(0x80 | (r & 0x3f)));
    }
}

static unsigned
hex4(const uc *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        uc c = p[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* The body of a JSON string after its opening quote, decoded as Go's
 * encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD). */
static bool
json_string(const uc **pp, const uc *YYLIMIT, struct ib_buf *b)
{
    const uc *YYCURSOR = *pp, *YYMARKER = NULL, *tok;
    for (;;) {
        tok = YYCURSOR;
        /*!re2c
        re2c:eof = 0;
            hex = [0-9a-fA-F];
            "\""            { *pp = YYCURSOR; return true; }
            "\\\""          { ib_buf_addc(b, '"'); continue; }
            "\\\\"          { ib_buf_addc(b, '\\'); continue; }
            "\\/"           { ib_buf_addc(b, '/'); continue; }
            "\\b"           { ib_buf_addc(b, '\b'); continue; }
            "\\f"           { ib_buf_addc(b, '\f'); continue; }
            "\\n"           { ib_buf_addc(b, '\n'); continue; }
            "\\r"           { ib_buf_addc(b, '\r'); continue; }
            "\\t"           { ib_buf_addc(b, '\t'); continue; }
            "\\u" hex{4} "\\u" hex{4} {
                unsigned hi = hex4(tok + 2), lo = hex4(tok + 8);
                if (hi >= 0xd800 && hi < 0xdc00 && lo >= 0xdc00 && lo < 0xe000) {
                    add_utf8(b, 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
                    continue;
                }
                YYCURSOR = tok + 6;
                add_utf8(b, hi >= 0xd800 && hi < 0xe000 ? 0xfffd : hi);
                continue; }
            "\\u" hex{4}    { unsigned r = hex4(tok + 2);
                              add_utf8(b, r >= 0xd800 && r < 0xe000 ? 0xfffd : r);
                              continue; }
            [\x20-\x7f] \ ["\\] | rune { ib_buf_add(b, tok, (size_t)(YYCURSOR - tok)); continue; }
            [\x80-\xff]     { ib_buf_add(b, "\xef\xbf\xbd", 3); continue; }
            *               { return false; }
            $               { return false; }
        */
    }
}

static enum json_tok
json_next(const uc **pp, const uc *YYLIMIT, struct ib_buf *str, const uc **tok)
{
    const uc *YYCURSOR = *pp, *YYMARKER = NULL;
    enum json_tok t;
    for (;;) {
        *tok = YYCURSOR;
        /*!re2c
        re2c:eof = 0;
            [ \t\n\r]+ { continue; }
            "["        { t = J_LBRACK; break; }
            "]"        { t = J_RBRACK; break; }
            "{"        { t = J_LBRACE; break; }
            "}"        { t = J_RBRACE; break; }
            ","        { t = J_COMMA; break; }
            ":"        { t = J_COLON; break; }
            "\""       { ib_buf_reset(str);
                         t = json_string(&YYCURSOR, YYLIMIT, str) ? J_STRING : J_ERR; break; }
            "-"? ("0" | [1-9][0-9]*) ("." [0-9]+)? ([eE] [+-]? [0-9]+)? { t = J_SCALAR; break; }
            "true" | "false" | "null" { t = J_SCALAR; break; }
            $          { t = J_END; break; }
            *          { t = J_ERR; break; }
        */
    }
    *pp = YYCURSOR;
    return t;
}

/* Called for each value directly inside the top-level container: key is the
 * member name (objects) or NULL (arrays), t is J_STRING (str holds it),
 * J_SCALAR, J_LBRACK or J_LBRACE (a nested container, not yet read). */
typedef void json_elem_fn(void *ctx, const struct ib_buf *key, enum json_tok t,
                          const struct ib_buf *str);

/* A JSON number that Go's encoding/json cannot hold in a float64 (ParseFloat
 * fails with ErrRange: the value rounds beyond the largest double). */
static bool
json_number_overflows(const uc *tok)
{
    if (*tok != '-' && (*tok < '0' || *tok > '9'))
        return false;
    return isinf(strtod((const char *)tok, NULL));
}

/* Whether [s, lim) (*lim == '\0') is exactly one JSON value whose top level is
 * top ('[' or '{'), as Go's json.Unmarshal into []any or map[string]any
 * accepts it: surrounding whitespace allowed, nesting up to JSON_MAX_DEPTH,
 * no number beyond the float64 range.  fn sees the top-level elements. */
static bool
json_walk(const char *s, const char *lim, char top, json_elem_fn *fn, void *ctx)
{
    struct ib_buf str = IB_BUF_INIT, key = IB_BUF_INIT;
    char *stack = ib_xmalloc(JSON_MAX_DEPTH);
    size_t depth = 0;
    bool ok = false;
    enum { ST_VALUE, ST_VALUE_OR_CLOSE, ST_COMMA_OR_CLOSE, ST_KEY, ST_KEY_OR_CLOSE, ST_COLON,
           ST_END } st = ST_VALUE;
    const uc *cur = (const uc *)s, *ulim = (const uc *)lim, *tok;

    for (;;) {
        enum json_tok t = json_next(&cur, ulim, &str, &tok);
        if (t == J_ERR)
            break;
        if (st == ST_END) {
            ok = t == J_END;
            break;
        }
        bool value_done = false;
        switch (st) {
        case ST_VALUE_OR_CLOSE:
            if (t == J_RBRACK) {
                depth--;
                value_done = true;
                break;
            }
            /* fall through */
        case ST_VALUE:
            if (depth == 1)
                fn(ctx, stack[0] == '{' ? &key : NULL, t, &str);
            if (t == J_LBRACK || t == J_LBRACE) {
                if (depth == JSON_MAX_DEPTH)
                    goto done;
                if (depth == 0 && (t == J_LBRACK ? '[' : '{') != top)
                    goto done;
                stack[depth++] = t == J_LBRACK ? '[' : '{';
                st = t == J_LBRACK ? ST_VALUE_OR_CLOSE : ST_KEY_OR_CLOSE;
            } else if (t == J_STRING || t == J_SCALAR) {
                if (depth == 0)
                    goto done; /* the top value must be a container */
                if (t == J_SCALAR && json_number_overflows(tok))
                    goto done;
                value_done = true;
            } else {
                goto done;
            }
            break;
        case ST_COMMA_OR_CLOSE:
            if (t == J_COMMA) {
                st = stack[depth - 1] == '[' ? ST_VALUE : ST_KEY;
            } else if ((t == J_RBRACK && stack[depth - 1] == '[') ||
                       (t == J_RBRACE && stack[depth - 1] == '{')) {
                depth--;
                value_done = true;
            } else {
                goto done;
            }
            break;
        case ST_KEY_OR_CLOSE:
            if (t == J_RBRACE) {
                depth--;
                value_done = true;
                break;
            }
            /* fall through */
        case ST_KEY:
            if (t != J_STRING)
                goto done;
            if (depth == 1) {
                ib_buf_reset(&key);
                ib_buf_add(&key, str.s, str.len);
            }
            st = ST_COLON;
            break;
        case ST_COLON:
            if (t != J_COLON)
                goto done;
            st = ST_VALUE;
            break;
        case ST_END:
            break;
        }
        if (value_done)
            st = depth == 0 ? ST_END : ST_COMMA_OR_CLOSE;
    }
done:
    free(stack);
    ib_buf_release(&str);
    ib_buf_release(&key);
    return ok;
}

struct array_ctx {
    struct lex_strs vals;
    bool nonstr;
};

static void
array_elem(void *ctx, const struct ib_buf *key, enum json_tok t, const struct ib_buf *str)
{
    struct array_ctx *a = ctx;
    (void)key;
    if (t == J_STRING)
        lex_strs_push(&a->vals, str->s, str->len);
    else
        a->nonstr = true;
}

enum lex_json
lex_json_array(const char *s, struct lex_strs *out)
{
    const char *lim = s + strlen(s), *p = s;
    for (;;) {
        const char *q = p;
        if (next_rune(&q, lim) != R_SPACE)
            break;
        p = q;
    }
    if (*p != '[')
        return LEX_JSON_NONE;

    struct array_ctx a = { 0 };
    enum lex_json res = LEX_JSON_NONE;
    if (json_walk(p, lim, '[', array_elem, &a)) {
        res = a.nonstr ? LEX_JSON_NOT_STRINGS : LEX_JSON_STRINGS;
        for (size_t i = 0; res == LEX_JSON_STRINGS && i < a.vals.n; i++)
            lex_strs_push(out, a.vals.v[i], a.vals.len[i]);
    }
    lex_strs_release(&a.vals);
    return res;
}

struct member_ctx {
    const char *key;
    size_t key_len;
    struct ib_buf *value;
    bool found;
};

static void
member_elem(void *ctx, const struct ib_buf *key, enum json_tok t, const struct ib_buf *str)
{
    struct member_ctx *m = ctx;
    if (key->len != m->key_len || memcmp(key->s, m->key, m->key_len) != 0)
        return;
    /* a repeated member replaces the earlier one, as in a Go map */
    m->found = t == J_STRING;
    ib_buf_reset(m->value);
    if (m->found)
        ib_buf_add(m->value, str->s, str->len);
}

bool
lex_json_object_string(const char *s, size_t len, const char *key, struct ib_buf *value)
{
    struct member_ctx m = { .key = key, .key_len = strlen(key), .value = value };
    ib_buf_reset(value);
    if (!json_walk(s, s + len, '{', member_elem, &m) || !m.found) {
        ib_buf_reset(value);
        return false;
    }
    return true;
}
