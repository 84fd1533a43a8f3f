/* parser/json.c: the JSON form of a parsed Dockerfile (`imgbuild parse --json`).
 *
 * One JSON object, written on one line and ended by a newline:
 *
 *   {
 *     "file": "Dockerfile",            name given to df_parse_buf
 *     "directives": {
 *       "syntax": "docker/dockerfile:1" | null,
 *       "escape": "\\" | "`",          the active escape character
 *       "check": "skip=all" | null
 *     },
 *     "start_line": 1, "end_line": 9,  span of all instructions
 *     "instructions": [ INSTRUCTION, ... ],
 *     "warnings": [ { "line": 4, "message": "Empty continuation line found in: RUN a b" } ]
 *   }
 *
 * INSTRUCTION:
 *   {
 *     "instruction": "RUN",            canonical upper-case name
 *     "keyword": "run",                as written in the file
 *     "line": 3, "end_line": 5,        1-based physical lines (end: continuation lines,
 *                                      skipped comments/blank lines and heredoc bodies)
 *     "column": 1,                     1-based byte column of the keyword
 *     "original": "run --x=1 a b",     the logical line, continuations joined
 *     "flags": ["--mount=type=cache,target=/x"],   quotes and escapes processed
 *     "json": false,                   exec (JSON array) form
 *     "args": ["a b"],                 argument nodes exactly as in the reference dump
 *     "heredocs": [ { "name": "EOF", "content": "echo hi\n", "expand": true,
 *                     "chomp": false, "fd": 0 } ],
 *     "onbuild": INSTRUCTION | null    only present for ONBUILD (the wrapped instruction;
 *                                      heredocs of an ONBUILD RUN sit on the ONBUILD)
 *   }
 *
 * Strings are the exact bytes of the source: valid UTF-8 is copied, control
 * characters use \n, \t, ... or \u00XX, U+2028/U+2029 are escaped, and each
 * byte that is not valid UTF-8 becomes \ufffd, so the output is always valid
 * JSON (RFC 8259).
 */
#include <string.h>

#include "common/buf.h"
#include "parser/lexer.h"
#include "parser/parser.h"
#include "parser/unicode.h"
#include "common/banned.h"

static void
json_str(struct ib_buf *out, const char *p, size_t n)
{
    ib_buf_addc(out, '"');
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t len = uni_decode(p + i, n - i, &r);
        if (r >= UNI_BAD) {
            ib_buf_adds(out, "\\ufffd");
            i++;
            continue;
        }
        switch (r) {
        case '"':
            ib_buf_adds(out, "\\\"");
            break;
        case '\\':
            ib_buf_adds(out, "\\\\");
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
        default:
            if (r < 0x20 || r == 0x2028 || r == 0x2029)
                ib_buf_addf(out, "\\u%04x", r);
            else
                ib_buf_add(out, p + i, len);
        }
        i += len;
    }
    ib_buf_addc(out, '"');
}

static void
json_cstr(struct ib_buf *out, const char *s)
{
    if (s)
        json_str(out, s, strlen(s));
    else
        ib_buf_adds(out, "null");
}

static void
json_instr(const struct df_instr *in, struct ib_buf *out)
{
    ib_buf_adds(out, "{\"instruction\":");
    json_cstr(out, in->kind == DF_UNKNOWN ? in->keyword : df_kind_name(in->kind));
    ib_buf_adds(out, ",\"keyword\":");
    json_cstr(out, in->keyword);
    ib_buf_addf(out, ",\"line\":%u,\"end_line\":%u,\"column\":%u,\"original\":", in->start_line,
                in->end_line, in->col);
    json_cstr(out, in->original);
    ib_buf_adds(out, ",\"flags\":[");
    for (size_t i = 0; i < in->nflags; i++) {
        if (i)
            ib_buf_addc(out, ',');
        json_cstr(out, in->flags[i]);
    }
    ib_buf_addf(out, "],\"json\":%s,\"args\":[", in->json ? "true" : "false");
    for (size_t i = 0; i < in->nargs; i++) {
        if (i)
            ib_buf_addc(out, ',');
        json_str(out, in->args[i], in->arg_lens[i]);
    }
    ib_buf_adds(out, "],\"heredocs\":[");
    for (size_t i = 0; i < in->nheredocs; i++) {
        const struct df_heredoc *h = &in->heredocs[i];
        if (i)
            ib_buf_addc(out, ',');
        ib_buf_adds(out, "{\"name\":");
        json_cstr(out, h->name);
        ib_buf_adds(out, ",\"content\":");
        json_cstr(out, h->content ? h->content : "");
        ib_buf_addf(out, ",\"expand\":%s,\"chomp\":%s,\"fd\":%d}", h->expand ? "true" : "false",
                    h->chomp ? "true" : "false", h->fd);
    }
    ib_buf_addc(out, ']');
    if (in->kind == DF_ONBUILD) {
        ib_buf_adds(out, ",\"onbuild\":");
        if (in->sub)
            json_instr(in->sub, out);
        else
            ib_buf_adds(out, "null");
    }
    ib_buf_addc(out, '}');
}

void
df_file_json(const struct df_file *f, struct ib_buf *out)
{
    char esc[2] = {f->escape ? f->escape : '\\', '\0'};
    ib_buf_adds(out, "{\"file\":");
    json_cstr(out, f->name);
    ib_buf_adds(out, ",\"directives\":{\"syntax\":");
    json_cstr(out, f->syntax);
    ib_buf_adds(out, ",\"escape\":");
    json_cstr(out, esc);
    ib_buf_adds(out, ",\"check\":");
    json_cstr(out, f->check);
    ib_buf_addf(out, "},\"start_line\":%u,\"end_line\":%u,\"instructions\":[", f->start_line,
                f->end_line);
    for (size_t i = 0; i < f->ninstrs; i++) {
        if (i)
            ib_buf_addc(out, ',');
        json_instr(&f->instrs[i], out);
    }
    ib_buf_adds(out, "],\"warnings\":[");
    for (size_t i = 0; i < f->nwarnings; i++) {
        if (i)
            ib_buf_addc(out, ',');
        ib_buf_addf(out, "{\"line\":%u,\"message\":", f->warnings[i].line);
        json_cstr(out, f->warnings[i].msg);
        ib_buf_addc(out, '}');
    }
    ib_buf_adds(out, "]}\n");
}
