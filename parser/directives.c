/* parser/directives.c: parser directives read on their own, without parsing the file.
 *
 * BuildKit reads the directives at the top of a Dockerfile twice: once while parsing
 * (parse.c does that part), and once before, to choose the frontend ("# syntax=") or the
 * checks ("# check=").  This file is the second reader: the plain "#" directive scan,
 * and the frontend detection that also accepts "//" comments and a file that is one
 * JSON object, after a UTF-8 BOM and one "#!" line.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/strv.h"
#include "parser/lexer.h"
#include "parser/parser.h"
#include "common/banned.h"

/* One directive line: name lower-cased, value a span of the text. */
struct dir {
    char name[8];
    const char *value;
    size_t value_len;
    unsigned line;
};

/* Return false to stop the scan. */
typedef bool dir_fn(void *ctx, const struct dir *d);

/* Index of a directive name BuildKit knows (case-insensitive), lower-cased into
 * lower; -1 for others. */
static int
known_name(const char *name, size_t n, char lower[8])
{
    static const char *const known[] = {"syntax", "escape", "check"};
    if (n >= 8)
        return -1;
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    lower[n] = '\0';
    for (int i = 0; i < (int)(sizeof(known) / sizeof(known[0])); i++)
        if (strcmp(lower, known[i]) == 0)
            return i;
    return -1;
}

/* BuildKit's DirectiveParser.ParseAll: directive lines from the top of text (len bytes,
 * text[len] == '\0'), each starting with comment in its first column.  The scan ends at
 * the first other line (an unknown directive name included) and at a repeated name,
 * which the reference reports as an error after the directives before it.  line_base
 * is added to the line numbers (1 when a "#!" line was cut off before text). */
static void
scan(const char *text, size_t len, const char *comment, unsigned line_base, dir_fn *fn, void *ctx)
{
    struct lex lx;
    struct lex_line ln;
    unsigned seen = 0;
    lex_init(&lx, text, len);
    while (lex_line_next(&lx, &ln) > 0) {
        struct dir d = {.line = ln.line + line_base};
        const char *name;
        size_t nl;
        if (!lex_directive(ln.start, ln.end, comment, &name, &nl, &d.value, &d.value_len))
            return;
        int k = known_name(name, nl, d.name);
        if (k < 0 || (seen & (1u << k)))
            return;
        seen |= 1u << k;
        if (!fn(ctx, &d))
            return;
    }
}

static bool
collect(void *ctx, const struct dir *d)
{
    struct ib_strv *out = ctx;
    ib_strv_push(out, d->name);
    ib_strv_pushn(out, d->value, d->value_len);
    return true;
}

static size_t
bom_len(const char *src, size_t len)
{
    return len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

void
df_directives_parse_all(const char *src, size_t len, struct ib_strv *out)
{
    AUTO_BUF struct ib_buf copy = IB_BUF_INIT;
    size_t skip = bom_len(src, len);
    ib_buf_add(&copy, src + skip, len - skip);
    scan(copy.s, copy.len, "#", 0, collect, out);
}

struct find {
    const char *key;
    struct df_directive *out;
};

static bool
find_key(void *ctx, const struct dir *d)
{
    struct find *f = ctx;
    if (strcmp(d->name, f->key) != 0)
        return true;
    f->out->found = true;
    f->out->cmdline = ib_xstrndup(d->value, d->value_len);
    f->out->value = ib_xstrndup(d->value, strcspn(f->out->cmdline, " "));
    f->out->line = d->line;
    return false;
}

bool
df_directive_detect(const char *src, size_t len, const char *key, bool frontend_forms,
                    struct df_directive *out)
{
    AUTO_BUF struct ib_buf copy = IB_BUF_INIT;
    struct find f = {.key = key, .out = out};
    memset(out, 0, sizeof(*out));

    size_t skip = bom_len(src, len);
    ib_buf_add(&copy, src + skip, len - skip);
    const char *text = copy.s;
    size_t n = copy.len;
    unsigned base = 0;
    if (n >= 2 && text[0] == '#' && text[1] == '!') {
        const char *nl = memchr(text, '\n', n);
        size_t cut = nl ? (size_t)(nl - text) + 1 : n;
        text += cut;
        n -= cut;
        base = 1;
    }

    scan(text, n, "#", base, find_key, &f);
    if (out->found || !frontend_forms)
        return out->found;
    scan(text, n, "//", base, find_key, &f);
    if (out->found)
        return true;

    AUTO_BUF struct ib_buf value = IB_BUF_INIT;
    if (lex_json_object_string(text, n, key, &value)) {
        out->found = true;
        out->value = ib_xstrdup(value.s);
        out->cmdline = ib_xstrdup(value.s);
        out->line = base + 1;
    }
    return out->found;
}

void
df_directive_release(struct df_directive *d)
{
    free(d->value);
    free(d->cmdline);
    memset(d, 0, sizeof(*d));
}
