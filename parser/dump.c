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
#include "parser/unicode.h"
#include "common/banned.h"

void
df_quote(struct ib_buf *out, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    ib_buf_addc(out, '"');
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t len = uni_decode(p + i, n - i, &r);
        if (r >= UNI_BAD) {
            unsigned char b = (unsigned char)p[i++];
            ib_buf_addf(out, "\\x%c%c", hex[b >> 4], hex[b & 15]);
            continue;
        }
        if (r == '"' || r == '\\') {
            ib_buf_addc(out, '\\');
            ib_buf_addc(out, (char)r);
        } else if (uni_is_print(r)) {
            ib_buf_add(out, p + i, len);
        } else {
            switch (r) {
            case '\a':
                ib_buf_adds(out, "\\a");
                break;
            case '\b':
                ib_buf_adds(out, "\\b");
                break;
            case '\f':
                ib_buf_adds(out, "\\f");
                break;
            case '\n':
                ib_buf_adds(out, "\\n");
                break;
            case '\r':
                ib_buf_adds(out, "\\r");
                break;
            case '\t':
                ib_buf_adds(out, "\\t");
                break;
            case '\v':
                ib_buf_adds(out, "\\v");
                break;
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
