/* parser/dump.c: the reference AST dump (conformance/README.md §1.1).
 *
 * One line per instruction: "(" keyword-in-lower-case [flags] args... ")",
 * every string quoted as Go's strconv.Quote does.
 */
#include <ctype.h>
#include <string.h>

#include "common/buf.h"
#include "parser/lexer.h"
#include "parser/parser.h"
#include "common/banned.h"

size_t
df_utf8_decode(const char *s, size_t n, unsigned *rune)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0], r, min;
    size_t len;
    if (c < 0x80) {
        *rune = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, r = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, r = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, r = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        r = (r << 6) | (p[i] & 0x3f);
    }
    if (r < min || r > 0x10ffff || (r >= 0xd800 && r < 0xe000))
        return 0;
    *rune = r;
    return len;
}

/* Go's unicode.IsPrint (letters, marks, numbers, punctuation, symbols and the
 * ASCII space), approximated without the Unicode tables: the control, format,
 * separator, private-use and non-character ranges are not printable; every
 * other code point is taken as printable (unassigned ones included). */
bool
df_rune_printable(unsigned r)
{
    static const unsigned nonprint[][2] = {
        { 0x0000, 0x001f }, { 0x007f, 0x00a0 }, { 0x00ad, 0x00ad }, { 0x0600, 0x0605 },
        { 0x061c, 0x061c }, { 0x06dd, 0x06dd }, { 0x070f, 0x070f }, { 0x0890, 0x0891 },
        { 0x08e2, 0x08e2 }, { 0x1680, 0x1680 }, { 0x180e, 0x180e }, { 0x2000, 0x200f },
        { 0x2028, 0x202f }, { 0x205f, 0x206f }, { 0x3000, 0x3000 }, { 0xd800, 0xf8ff },
        { 0xfdd0, 0xfdef }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb }, { 0xfffe, 0xffff },
        { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x13430, 0x1343f },
        { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0000, 0xe0fff },
        { 0xf0000, 0x10ffff },
    };
    if (r >= 0x20 && r < 0x7f)
        return true;
    if ((r & 0xfffe) == 0xfffe)
        return false;
    for (size_t i = 0; i < sizeof(nonprint) / sizeof(nonprint[0]); i++)
        if (r >= nonprint[i][0] && r <= nonprint[i][1])
            return false;
    return true;
}

void
df_quote(struct ib_buf *out, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    ib_buf_addc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned r;
        size_t len = df_utf8_decode(p + i, n - i, &r);
        if (len == 0) {
            unsigned char b = (unsigned char)p[i++];
            ib_buf_addf(out, "\\x%c%c", hex[b >> 4], hex[b & 15]);
            continue;
        }
        if (r == '"' || r == '\\') {
            ib_buf_addc(out, '\\');
            ib_buf_addc(out, (char)r);
        } else if (df_rune_printable(r)) {
            ib_buf_add(out, p + i, len);
        } else {
            switch (r) {
            case '\a': ib_buf_adds(out, "\\a"); break;
            case '\b': ib_buf_adds(out, "\\b"); break;
            case '\f': ib_buf_adds(out, "\\f"); break;
            case '\n': ib_buf_adds(out, "\\n"); break;
            case '\r': ib_buf_adds(out, "\\r"); break;
            case '\t': ib_buf_adds(out, "\\t"); break;
            case '\v': ib_buf_adds(out, "\\v"); break;
            default:
                if (r < 0x20 || r == 0x7f)
                    ib_buf_addf(out, "\\x%c%c", hex[r >> 4], hex[r & 15]);
                else if (r < 0x10000)
                    ib_buf_addf(out, "\\u%04x", r);
                else
                    ib_buf_addf(out, "\\U%08x", r);
            }
        }
        i += len;
    }
    ib_buf_addc(out, '"');
}

static void
dump_instr(const struct df_instr *in, struct ib_buf *out)
{
    for (const char *k = in->keyword; *k; k++)
        ib_buf_addc(out, (char)tolower((unsigned char)*k));
    if (in->nflags) {
        ib_buf_adds(out, " [");
        for (size_t i = 0; i < in->nflags; i++) {
            if (i)
                ib_buf_addc(out, ' ');
            df_quote(out, in->flags[i], strlen(in->flags[i]));
        }
        ib_buf_addc(out, ']');
    }
    if (in->sub) {
        ib_buf_adds(out, " (");
        dump_instr(in->sub, out);
        ib_buf_addc(out, ')');
    }
    for (size_t i = 0; i < in->nargs; i++) {
        ib_buf_addc(out, ' ');
        df_quote(out, in->args[i], in->arg_lens[i]);
    }
}

void
df_file_dump(const struct df_file *f, struct ib_buf *out)
{
    for (size_t i = 0; i < f->ninstrs; i++) {
        ib_buf_addc(out, '(');
        dump_instr(&f->instrs[i], out);
        ib_buf_adds(out, ")\n");
    }
}
