/* parser/tests/test_parse.c: the Dockerfile parser against the conformance
 * data (../shared/conformance) and our own golden files (testdata/parser). */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/test.h"
#include "parser/lexer.h"
#include "parser/parser.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct df_file, df_file_free)
IB_DEFINE_AUTO(json_t, json_decref)

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir (no dot files) ending in suffix (or all if NULL). */
static void
list_dir(const char *dir, const char *suffix, struct ib_strv *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name), sl = suffix ? strlen(suffix) : 0;
        if (e->d_name[0] == '.')
            continue;
        if (suffix && (n < sl || strcmp(e->d_name + n - sl, suffix) != 0))
            continue;
        ib_strv_push(out, e->d_name);
    }
    closedir(d);
    if (out->n)
        qsort(out->v, out->n, sizeof(char *), cmp_str);
}

static int
parse_str(const char *src, struct df_file **f, struct ib_err **err)
{
    return df_parse_buf("Dockerfile", src, strlen(src), f, err);
}

static int
parse_file(const char *path, unsigned flags, struct df_file **f, struct ib_err **err)
{
    size_t len;
    AUTO_FREE char *src = ib_test_slurp(path, &len);
    return df_parse_buf_opts("Dockerfile", src, len, flags, f, err);
}

/* Print the first line where a and b differ. */
static void
note_first_diff(const char *a, const char *b)
{
    unsigned line = 1;
    while (*a || *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la) != 0) {
            ib_test_note("line %u: got      %.*s", line, (int)la, a);
            ib_test_note("line %u: expected %.*s", line, (int)lb, b);
            return;
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
        line++;
    }
}

static json_t *
load_json(const char *rel)
{
    AUTO_FREE char *path = ib_test_conformance_path(rel);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, &je);
    if (!j)
        ib_test_note("%s: %s", path, je.text);
    return j;
}

/* ---- parser/: reference dumps ---------------------------------------------- */

TEST(conformance_dumps)
{
    AUTO_FREE char *dir = ib_test_conformance_path("parser");
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    int pass = 0;
    list_dir(dir, NULL, &names);
    CHECK(names.n == 33);
    for (size_t i = 0; i < names.n; i++) {
        AUTO_FREE char *df = ib_xasprintf("%s/%s/Dockerfile", dir, names.v[i]);
        AUTO_FREE char *res = ib_xasprintf("%s/%s/result", dir, names.v[i]);
        AUTO_FREE char *want = ib_test_slurp(res, NULL);
        IB_AUTO(df_file_free) struct df_file *f = NULL;
        AUTO_ERR struct ib_err *err = NULL;
        AUTO_BUF struct ib_buf out = IB_BUF_INIT;
        bool ok = parse_file(df, 0, &f, &err) == 0;
        if (ok)
            df_file_dump(f, &out);
        ok = ok && strcmp(out.s, want) == 0;
        if (!ok)
            err ? ib_test_note("%s", err->msg) : note_first_diff(out.s, want);
        pass += ib_test_case(ok, "parser/%s dump", names.v[i]);
    }
    ib_test_note("parser/: %d of %zu dumps identical", pass, names.n);
}

TEST(conformance_negative)
{
    AUTO_FREE char *dir = ib_test_conformance_path("parser-negative");
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    int pass = 0;
    list_dir(dir, NULL, &names);
    CHECK(names.n == 4);
    for (size_t i = 0; i < names.n; i++) {
        AUTO_FREE char *df = ib_xasprintf("%s/%s/Dockerfile", dir, names.v[i]);
        IB_AUTO(df_file_free) struct df_file *f = NULL;
        AUTO_ERR struct ib_err *err = NULL;
        bool ok = parse_file(df, 0, &f, &err) < 0 && err && err->kind == IB_E_PARSE &&
                  strncmp(err->msg, "Dockerfile:", 11) == 0;
        if (err)
            ib_test_note("%s: %s", names.v[i], err->msg);
        pass += ib_test_case(ok, "parser-negative/%s fails", names.v[i]);
    }
    ib_test_note("parser-negative/: %d of %zu rejected", pass, names.n);
}

TEST(conformance_lines)
{
    AUTO_FREE char *df = ib_test_conformance_path("parser-lines/testfile-line/Dockerfile");
    AUTO_FREE char *tsv_path = ib_test_conformance_path("parser-lines/testfile-line/expected.tsv");
    AUTO_FREE char *tsv = ib_test_slurp(tsv_path, NULL);
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    struct ib_err *err = NULL;
    CHECK_OK(parse_file(df, 0, &f, &err));
    int pass = 0, total = 0;
    char node[64];
    unsigned a, b;
    const char *p = strchr(tsv, '\n');
    while (p && sscanf(p + 1, "%63s %u %u", node, &a, &b) == 3) {
        unsigned ga = 0, gb = 0;
        if (strcmp(node, "root") == 0) {
            ga = f->start_line, gb = f->end_line;
        } else {
            size_t k = strtoul(node + 5, NULL, 10);
            if (k < f->ninstrs)
                ga = f->instrs[k].start_line, gb = f->instrs[k].end_line;
        }
        total++;
        pass += ib_test_case(ga == a && gb == b, "parser-lines %s %u-%u (got %u-%u)", node, a, b,
                             ga, gb);
        p = strchr(p + 1, '\n');
    }
    CHECK(total == 4);
    ib_test_note("parser-lines/: %d of %d ranges", pass, total);
}

TEST(conformance_warnings)
{
    AUTO_FREE char *df = ib_test_conformance_path("parser-warnings/empty-continuation/Dockerfile");
    IB_AUTO(json_decref) json_t *j = load_json("parser-warnings/empty-continuation/expected.json");
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    struct ib_err *err = NULL;
    CHECK(j);
    CHECK_OK(parse_file(df, 0, &f, &err));
    json_t *ws = json_object_get(j, "warnings");
    CHECK_INT(f->nwarnings, json_integer_value(json_object_get(j, "warning_count")));
    int pass = 0;
    for (size_t i = 0; i < json_array_size(ws) && i < f->nwarnings; i++) {
        json_t *sc = json_object_get(json_array_get(ws, i), "short_contains");
        bool ok = true;
        for (size_t k = 0; k < json_array_size(sc); k++)
            ok = ok && strstr(f->warnings[i].msg, json_string_value(json_array_get(sc, k)));
        pass += ib_test_case(ok, "parser-warnings %zu: %s", i, f->warnings[i].msg);
    }
    ib_test_note("parser-warnings/: %d of %zu warnings", pass, json_array_size(ws));
}

/* ---- heredocs ------------------------------------------------------------------ */

static int
heredoc_file(const char *dir)
{
    AUTO_FREE char *rel_df = ib_xasprintf("parser-heredoc/%s/Dockerfile", dir);
    AUTO_FREE char *rel_ex = ib_xasprintf("parser-heredoc/%s/expected.json", dir);
    AUTO_FREE char *df = ib_test_conformance_path(rel_df);
    IB_AUTO(json_decref) json_t *j = load_json(rel_ex);
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    AUTO_ERR struct ib_err *err = NULL;
    int pass = 0;
    /* the file has "USER <<INVALID" then "INVALID": an unknown keyword that
     * BuildKit's parser keeps; we reject those by default */
    if (!j || parse_file(df, DF_PARSE_ALLOW_UNKNOWN, &f, &err) < 0) {
        ib_test_case(false, "parser-heredoc/%s parses: %s", dir, err ? err->msg : "bad json");
        return 0;
    }
    ib_test_case((size_t)json_integer_value(json_object_get(j, "total_instructions")) == f->ninstrs,
                 "parser-heredoc/%s: %zu instructions", dir, f->ninstrs);
    json_t *exp = json_object_get(j, "expected"), *e;
    size_t i;
    json_array_foreach(exp, i, e)
    {
        size_t k = (size_t)json_integer_value(json_object_get(e, "child_index"));
        json_t *hd = json_object_get(e, "heredocs");
        bool ok = k < f->ninstrs;
        const struct df_instr *in = ok ? &f->instrs[k] : NULL;
        ok = ok && in->nheredocs == json_array_size(hd);
        for (size_t h = 0; ok && h < in->nheredocs; h++) {
            json_t *x = json_array_get(hd, h);
            const struct df_heredoc *d = &in->heredocs[h];
            ok = strcmp(d->name, json_string_value(json_object_get(x, "name"))) == 0 &&
                 strcmp(d->content, json_string_value(json_object_get(x, "content"))) == 0 &&
                 d->expand == json_is_true(json_object_get(x, "expand")) &&
                 d->chomp == json_is_true(json_object_get(x, "chomp")) &&
                 d->fd == json_integer_value(json_object_get(x, "fd"));
        }
        pass += ib_test_case(ok, "parser-heredoc/%s child %zu: %s", dir, k,
                             json_string_value(json_object_get(e, "instruction")));
    }
    return pass;
}

TEST(conformance_heredoc_files)
{
    int pass = heredoc_file("extracts");
    pass += heredoc_file("json-form");
    ib_test_note("parser-heredoc/: %d of 30 checked instructions", pass);
}

TEST(conformance_heredoc_words)
{
    AUTO_FREE char *path = ib_test_conformance_path("parser-heredoc/heredoc_words.tsv");
    AUTO_FREE char *tsv = ib_test_slurp(path, NULL);
    int pass = 0, total = 0;
    char *save = NULL;
    for (char *ln = strtok_r(tsv, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        char *t1 = strchr(ln, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2 || strncmp(ln, "kind", 4) == 0)
            continue;
        *t1 = *t2 = '\0';
        const char *kind = ln, *input = t1 + 1, *want = t2 + 1;
        AUTO_BUF struct ib_buf got = IB_BUF_INIT;
        const char *msg = NULL;
        if (strcmp(kind, "word") == 0) {
            struct lex_heredoc h;
            int r = lex_heredoc_word(input, &h, &msg);
            if (r < 0)
                ib_buf_adds(&got, "!error");
            else if (r == 0)
                ib_buf_adds(&got, "!none");
            else
                ib_buf_adds(&got, h.name);
            if (r > 0)
                free(h.name);
        } else {
            struct lex_heredoc *docs;
            size_t n;
            if (lex_heredoc_line(input, &docs, &n, &msg) < 0)
                ib_buf_adds(&got, "!error");
            for (size_t i = 0; i < n; i++)
                ib_buf_addf(&got, "%s%s", i ? "," : "", docs[i].name);
            lex_heredocs_free(docs, n);
        }
        total++;
        pass += ib_test_case(strcmp(got.s, want) == 0, "heredoc %s '%s' -> '%s' (got '%s')", kind,
                             input, want, got.s);
    }
    CHECK(total == 30);
    ib_test_note("parser-heredoc/heredoc_words.tsv: %d of %d vectors pass", pass, total);
}

/* ---- JSON, words, directives ----------------------------------------------------- */

TEST(conformance_json)
{
    IB_AUTO(json_decref) json_t *j = load_json("parser-json/vectors.json");
    CHECK(j);
    int pass = 0, total = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "valid"), i, v)
    {
        struct lex_strs out = {0};
        json_t *exp = json_object_get(v, "expect");
        bool ok = lex_json_array(json_string_value(json_object_get(v, "input")), &out) ==
                      LEX_JSON_STRINGS &&
                  out.n == json_array_size(exp);
        for (size_t k = 0; ok && k < out.n; k++) {
            json_t *s = json_array_get(exp, k);
            ok = out.len[k] == json_string_length(s) &&
                 memcmp(out.v[k], json_string_value(s), out.len[k]) == 0;
        }
        lex_strs_release(&out);
        total++;
        pass += ib_test_case(ok, "parser-json valid %zu", i);
    }
    json_array_foreach(json_object_get(j, "not_string_array"), i, v)
    {
        struct lex_strs out = {0};
        const char *in = json_string_value(v);
        bool ok = lex_json_array(in, &out) == LEX_JSON_NOT_STRINGS;
        lex_strs_release(&out);
        /* and the whole parser rejects it */
        AUTO_FREE char *src = ib_xasprintf("CMD %s\n", in);
        IB_AUTO(df_file_free) struct df_file *f = NULL;
        AUTO_ERR struct ib_err *err = NULL;
        ok = ok && parse_str(src, &f, &err) < 0;
        total++;
        pass += ib_test_case(ok, "parser-json rejects %s", in);
    }
    ib_test_note("parser-json/: %d of %d vectors pass", pass, total);
}

TEST(conformance_words)
{
    IB_AUTO(json_decref) json_t *j = load_json("parser-words/vectors.json");
    CHECK(j);
    int pass = 0, total = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "cases"), i, v)
    {
        struct lex_strs out = {0};
        json_t *exp = json_object_get(v, "expect");
        lex_words(json_string_value(json_object_get(v, "input")), '\\', &out);
        bool ok = out.n == json_array_size(exp);
        for (size_t k = 0; ok && k < out.n; k++)
            ok = strcmp(out.v[k], json_string_value(json_array_get(exp, k))) == 0;
        lex_strs_release(&out);
        total++;
        pass += ib_test_case(ok, "parser-words case %zu", i);
    }
    json_array_foreach(json_object_get(j, "name_value"), i, v)
    {
        AUTO_FREE char *src =
            ib_xasprintf("%s %s\n", json_string_value(json_object_get(v, "instruction")),
                         json_string_value(json_object_get(v, "args")));
        IB_AUTO(df_file_free) struct df_file *f = NULL;
        AUTO_ERR struct ib_err *err = NULL;
        json_t *exp = json_object_get(v, "expect_nodes");
        bool ok;
        if (json_is_true(json_object_get(v, "expect_error"))) {
            ok = parse_str(src, &f, &err) < 0;
        } else {
            ok = parse_str(src, &f, &err) == 0 && f->instrs[0].nargs == json_array_size(exp);
            for (size_t k = 0; ok && k < f->instrs[0].nargs; k++)
                ok = strcmp(f->instrs[0].args[k], json_string_value(json_array_get(exp, k))) == 0;
        }
        total++;
        pass += ib_test_case(ok, "parser-words name_value %zu", i);
    }
    ib_test_note("parser-words/: %d of %d vectors pass", pass, total);
}

/* detect_syntax / parse_directive_check vectors: fields left out were not asserted. */
static int
check_detect(json_t *cases, const char *key, bool frontend_forms, const char *value_field)
{
    int pass = 0;
    size_t i;
    json_t *v;
    json_array_foreach(cases, i, v)
    {
        AUTO_BUF struct ib_buf in = IB_BUF_INIT;
        const char *hex = json_string_value(json_object_get(v, "input_hex_prefix"));
        for (size_t k = 0; hex && hex[k] && hex[k + 1]; k += 2) {
            char byte[3] = {hex[k], hex[k + 1], '\0'};
            ib_buf_addc(&in, (char)strtoul(byte, NULL, 16));
        }
        ib_buf_adds(&in, json_string_value(json_object_get(v, "input")));
        struct df_directive d;
        bool found = df_directive_detect(in.s, in.len, key, frontend_forms, &d);
        json_t *e;
        bool ok = found == d.found && found == json_is_true(json_object_get(v, "found"));
        if ((e = json_object_get(v, value_field)))
            ok = ok && strcmp(d.value ? d.value : "", json_string_value(e)) == 0;
        if ((e = json_object_get(v, "cmdline")))
            ok = ok && strcmp(d.cmdline ? d.cmdline : "", json_string_value(e)) == 0;
        if ((e = json_object_get(v, "line")))
            ok = ok && d.line == (unsigned)json_integer_value(e);
        AUTO_BUF struct ib_buf name = IB_BUF_INIT;
        df_quote(&name, in.s, in.len);
        pass += ib_test_case(ok, "parser-directives %s %zu %s", key, i, name.s);
        df_directive_release(&d);
    }
    return pass;
}

TEST(conformance_directives)
{
    IB_AUTO(json_decref) json_t *j = load_json("parser-directives/vectors.json");
    CHECK(j);
    int pass = 0, total = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "parse_all"), i, v)
    {
        AUTO_STRV struct ib_strv got = IB_STRV_INIT;
        const char *in = json_string_value(json_object_get(v, "input"));
        df_directives_parse_all(in, strlen(in), &got);
        json_t *exp = json_object_get(v, "expect"), *e;
        size_t k;
        bool ok = got.n == 2 * json_array_size(exp);
        json_array_foreach(exp, k, e)
        {
            ok = ok && strcmp(got.v[2 * k], json_string_value(json_object_get(e, "name"))) == 0 &&
                 strcmp(got.v[2 * k + 1], json_string_value(json_object_get(e, "value"))) == 0;
        }
        total++;
        pass += ib_test_case(ok, "parser-directives parse_all %zu", i);
    }
    int pass_all = pass, total_all = total;
    int pass_syntax = check_detect(json_object_get(j, "detect_syntax"), "syntax", true, "ref");
    int total_syntax = (int)json_array_size(json_object_get(j, "detect_syntax"));
    int pass_check =
        check_detect(json_object_get(j, "parse_directive_check"), "check", false, "value");
    int total_check = (int)json_array_size(json_object_get(j, "parse_directive_check"));
    CHECK_INT(total_syntax, 10);
    CHECK_INT(total_check, 5);
    ib_test_note("parser-directives/: parse_all %d of %d, detect_syntax %d of %d, "
                 "parse_directive_check %d of %d vectors pass",
                 pass_all, total_all, pass_syntax, total_syntax, pass_check, total_check);
}

TEST(corpus)
{
    AUTO_FREE char *dir = ib_test_conformance_path("corpus");
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    int pass = 0;
    list_dir(dir, ".Dockerfile", &names);
    CHECK(names.n == 132);
    for (size_t i = 0; i < names.n; i++) {
        AUTO_FREE char *path = ib_xasprintf("%s/%s", dir, names.v[i]);
        IB_AUTO(df_file_free) struct df_file *f = NULL;
        AUTO_ERR struct ib_err *err = NULL;
        bool ok = parse_file(path, 0, &f, &err) == 0;
        if (!ok)
            ib_test_note("%s", err->msg);
        pass += ib_test_case(ok, "corpus/%s parses", names.v[i]);
    }
    ib_test_note("corpus/: %d of %zu files parse", pass, names.n);
}
