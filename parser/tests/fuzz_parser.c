/* parser/tests/fuzz_parser.c: libFuzzer target for the whole Dockerfile front end.
 *
 * One input exercises the parser (and its dump and JSON writers), word expansion
 * of every argument, flag and heredoc, and the .dockerignore reader and matcher.
 * Built and run by `make fuzz FUZZ_TIME=seconds`; seeds come from the conformance
 * data (tests/fuzz-seed.sh) and crashers found so far live in testdata/fuzz/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/strv.h"
#include "parser/lexer.h"
#include "parser/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
lookup(void *ctx, const char *name)
{
    (void)ctx;
    static const char *const env[][2] = {
        {"PWD", "/home"},
        {"SHELL", "bash"},
        {"EMPTY", ""},
        {"A", "a b  c"},
        {"P", "/usr/local/bin:/usr/bin"},
        {"X", "$X"},
    };
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
        if (strcmp(env[i][0], name) == 0)
            return env[i][1];
    return NULL;
}

static void
expand_all(const struct df_expander *x, const char *s)
{
    struct ib_err *err = NULL;
    char *out = NULL;
    if (df_expand_word(x, s, &out, &err) == 0)
        free(out);
    ib_err_free(err);
    err = NULL;
    struct ib_strv words = IB_STRV_INIT;
    df_expand_words(x, s, &words, &err);
    ib_strv_release(&words);
    ib_err_free(err);
}

static void
expand_instr(const struct df_file *f, const struct df_instr *in)
{
    struct ib_strv matched = IB_STRV_INIT, unmatched = IB_STRV_INIT;
    struct df_expander x = {
        .lookup = lookup, .escape = f->escape, .matched = &matched, .unmatched = &unmatched};
    for (size_t i = 0; i < in->nargs; i++)
        expand_all(&x, in->args[i]);
    for (size_t i = 0; i < in->nflags; i++)
        expand_all(&x, in->flags[i]);
    for (size_t i = 0; i < in->nheredocs; i++)
        expand_all(&x, in->heredocs[i].content);
    x.skip_unset = true;
    if (in->nargs)
        expand_all(&x, in->args[0]);
    ib_strv_release(&matched);
    ib_strv_release(&unmatched);
    if (in->sub)
        expand_instr(f, in->sub);
}

static void
fuzz_ignore(const char *data, size_t size)
{
    struct ib_err *err = NULL;
    struct ib_strv pats = IB_STRV_INIT;
    if (df_ignore_read(data, size, &pats, &err) == 0) {
        struct df_ignore *ig = NULL;
        if (df_ignore_new(pats.v, pats.n, &ig, &err) == 0) {
            static const char *const paths[] = {
                "a", "a/b/c", "docs/README.md", ".git/x", "node_modules/p/q.js", "dir/", "x.tmp"};
            for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                bool ex = false;
                if (df_ignore_match(ig, paths[i], &ex, &err) < 0) {
                    ib_err_free(err);
                    err = NULL;
                }
            }
            for (size_t i = 0; i < pats.n && i < 8; i++) {
                bool ex = false;
                if (df_ignore_match(ig, pats.v[i], &ex, &err) < 0) {
                    ib_err_free(err);
                    err = NULL;
                }
            }
            df_ignore_free(ig);
        }
    }
    ib_err_free(err);
    ib_strv_release(&pats);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    struct df_file *f = NULL;
    struct ib_err *err = NULL;
    int rc = df_parse_buf("fuzz", src, size, &f, &err);
    if (rc < 0) {
        /* the lenient mode walks the same code with unknown keywords kept */
        ib_err_free(err);
        err = NULL;
        rc = df_parse_buf_opts("fuzz", src, size, DF_PARSE_ALLOW_UNKNOWN, &f, &err);
    }
    if (rc == 0) {
        struct ib_buf out = IB_BUF_INIT;
        df_file_dump(f, &out);
        ib_buf_reset(&out);
        df_file_json(f, &out);
        ib_buf_release(&out);
        for (size_t i = 0; i < f->ninstrs; i++)
            expand_instr(f, &f->instrs[i]);
        df_file_free(f);
    }
    ib_err_free(err);
    fuzz_ignore(src, size);
    /* the frontend directive reader, including its JSON object form */
    struct df_directive d;
    df_directive_detect(src, size, "syntax", true, &d);
    df_directive_release(&d);
    return 0;
}
