/* parser/tests/test_parse_unit.c: unit tests of the parser, and the golden
 * files in testdata/parser (<case>.Dockerfile with <case>.out or <case>.err). */
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
#include "parser/unicode.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct df_file, df_file_free)
IB_DEFINE_AUTO(json_t, json_decref)

static int
parse_n(const char *src, size_t n, struct df_file **f, struct ib_err **err)
{
    return df_parse_buf("Dockerfile", src, n, f, err);
}

static int
parse(const char *src, struct df_file **f, struct ib_err **err)
{
    return parse_n(src, strlen(src), f, err);
}

static char *
dump(const struct df_file *f)
{
    struct ib_buf b = IB_BUF_INIT;
    df_file_dump(f, &b);
    return ib_buf_detach(&b, NULL);
}

TEST(crlf_and_bom)
{
    static const char src[] = "\xef\xbb\xbf# syntax=docker/dockerfile:1\r\n"
                              "FROM busybox\r\n"
                              "RUN echo a \\\r\n"
                              "  b\r\n";
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    struct ib_err *err = NULL;
    CHECK_OK(parse(src, &f, &err));
    AUTO_FREE char *d = dump(f);
    CHECK_STR(d, "(from \"busybox\")\n(run \"echo a   b\")\n");
    CHECK_STR(f->syntax, "docker/dockerfile:1");
    CHECK_INT(f->instrs[1].start_line, 3);
    CHECK_INT(f->instrs[1].end_line, 4);
}

TEST(backtick_escape)
{
    static const char src[] = "# escape=`\n"
                              "FROM x\n"
                              "RUN dir `\n"
                              "  c:\\ \n"
                              "COPY a\\ b\n"
                              "ARG x=`\"y z`\"\n";
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    struct ib_err *err = NULL;
    CHECK_OK(parse(src, &f, &err));
    CHECK_INT(f->escape, '`');
    AUTO_FREE char *d = dump(f);
    CHECK_STR(d, "(from \"x\")\n(run \"dir   c:\\\\\")\n(copy \"a\\\\\" \"b\")\n"
                 "(arg \"x=`\\\"y\" \"z`\\\"\")\n");
}

TEST(error_format_and_suggestion)
{
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    AUTO_ERR struct ib_err *err = NULL;
    CHECK(parse("FROM a\n\n  FRM busybox\n", &f, &err) < 0);
    CHECK(f == NULL);
    CHECK_INT(err->kind, IB_E_PARSE);
    CHECK_STR(err->msg, "Dockerfile:3:3: unknown instruction: FRM (did you mean FROM?)\n"
                        "    3 |   FRM busybox\n"
                        "      |   ^");
    CHECK_STR(df_kind_suggest("frm"), "FROM");
    CHECK_STR(df_kind_suggest("ENTRYPIONT"), "ENTRYPOINT");
    CHECK_STR(df_kind_suggest("cpy"), "COPY");
    CHECK(df_kind_suggest("XYZZY") == NULL);
    CHECK(df_kind_suggest("") == NULL);
    CHECK(df_kind_suggest("R") == NULL);
    CHECK_INT(df_kind_lookup("healthCheck"), DF_HEALTHCHECK);
    CHECK_INT(df_kind_lookup("FRM"), DF_UNKNOWN);
    CHECK_STR(df_kind_name(DF_STOPSIGNAL), "STOPSIGNAL");
    CHECK_STR(df_kind_name(DF_UNKNOWN), "");
}

TEST(positions)
{
    static const char src[] = "# comment\n"
                              "\n"
                              "FROM a\n"
                              "  RUN x \\\n"
                              "# inside\n"
                              "\n"
                              "   y\n"
                              "COPY <<EOF /dst\n"
                              "body\n"
                              "EOF\n"
                              "\n";
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    struct ib_err *err = NULL;
    CHECK_OK(parse(src, &f, &err));
    CHECK_INT(f->ninstrs, 3);
    CHECK_INT(f->instrs[0].start_line, 3);
    CHECK_INT(f->instrs[0].col, 1);
    CHECK_INT(f->instrs[1].start_line, 4);
    CHECK_INT(f->instrs[1].end_line, 7);
    CHECK_INT(f->instrs[1].col, 3);
    CHECK_INT(f->instrs[2].start_line, 8);
    CHECK_INT(f->instrs[2].end_line, 10);
    CHECK_INT(f->start_line, 3);
    CHECK_INT(f->end_line, 10);
    CHECK_INT(f->nwarnings, 1);
    CHECK_INT(f->warnings[0].line, 4);
    CHECK_STR(f->warnings[0].msg, "Empty continuation line found in: RUN x    y");
    CHECK_STR(f->instrs[2].heredocs[0].content, "body\n");
}

TEST(errors)
{
    static const struct {
        const char *src;
        const char *msg;
    } cases[] = {
        {"", "Dockerfile:1:1: file with no instructions"},
        {"# escape=\\\n# escape=`\nFROM a\n", "only one escape parser directive can be used"},
        {"# escape=x\nFROM a\n", "invalid escape token 'x' does not match ` or \\"},
        {"FROM a\nRUN <<EOF\nx\n", "unterminated heredoc EOF"},
        {"FROM a\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD`"},
        {"FROM a\nONBUILD MAINTAINER x\n", "MAINTAINER isn't allowed as an ONBUILD trigger"},
        {"FROM a\nLABEL x\n", "LABEL must have two arguments"},
        {"FROM a\nENV a=b c\n", "can't find = in \"c\""},
        {"FROM a\nCMD [\"a\", 1]\n", "arrays must be comprised of strings only"},
        {"FROM a\n\\\n", "empty instruction"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        IB_AUTO(df_file_free) struct df_file *f = NULL;
        AUTO_ERR struct ib_err *err = NULL;
        bool ok = parse(cases[i].src, &f, &err) < 0 && err && strstr(err->msg, cases[i].msg);
        if (!ok)
            ib_test_note("case %zu: %s", i, err ? err->msg : "(parsed)");
        CHECK(ok);
    }
}

TEST(nul_and_long_lines)
{
    static const char nul[] = "FROM a\nRUN a\0b\n";
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    AUTO_ERR struct ib_err *err = NULL;
    CHECK(parse_n(nul, sizeof(nul) - 1, &f, &err) < 0);
    CHECK(strstr(err->msg, "Dockerfile:2:6: unexpected NUL byte"));

    /* a line of exactly 65535 bytes is fine, one more byte is not */
    for (size_t extra = 0; extra < 2; extra++) {
        AUTO_BUF struct ib_buf b = IB_BUF_INIT;
        IB_AUTO(df_file_free) struct df_file *g = NULL;
        AUTO_ERR struct ib_err *e2 = NULL;
        ib_buf_adds(&b, "FROM ");
        while (b.len < LEX_MAX_LINE + extra)
            ib_buf_addc(&b, 'a');
        ib_buf_addc(&b, '\n');
        int r = parse_n(b.s, b.len, &g, &e2);
        CHECK_INT(r, extra ? -1 : 0);
        if (extra)
            CHECK(strstr(e2->msg, "dockerfile line greater than max allowed size of 65535"));
    }
}

TEST(onbuild_nested)
{
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    struct ib_err *err = NULL;
    CHECK_OK(parse("FROM a\nONBUILD RUN <<EOF\nhi\nEOF\nonbuild copy . /\n", &f, &err));
    AUTO_FREE char *d = dump(f);
    CHECK_STR(d, "(from \"a\")\n(onbuild (run \"<<EOF\"))\n(onbuild (copy \".\" \"/\"))\n");
    CHECK(f->instrs[1].sub && f->instrs[1].sub->kind == DF_RUN);
    CHECK_INT(f->instrs[1].nheredocs, 1);
    CHECK_STR(f->instrs[1].heredocs[0].content, "hi\n");
    CHECK_INT(f->instrs[1].sub->col, 9);
    CHECK_INT(f->instrs[1].end_line, 4);
}

TEST(json_output_valid)
{
    static const char src[] = "# syntax=x\n"
                              "FROM a\n"
                              "RUN --mount=type=cache,target=/x echo \"\xff\" \x01 \\\n"
                              "\n"
                              "  end\n"
                              "CMD [\"a\\u0000b\", \"\xe2\x99\xa5\"]\n"
                              "ONBUILD RUN <<-'EOF' sh\n"
                              "\techo \"$x\"\n"
                              "EOF\n";
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    struct ib_err *err = NULL;
    CHECK_OK(parse(src, &f, &err));
    AUTO_BUF struct ib_buf out = IB_BUF_INIT;
    df_file_json(f, &out);
    json_error_t je;
    IB_AUTO(json_decref) json_t *j = json_loadb(out.s, out.len, JSON_ALLOW_NUL, &je);
    if (!j)
        ib_test_note("%s at %d: %s", je.text, je.position, out.s);
    CHECK(j);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "directives"), "syntax")), "x");
    json_t *ins = json_object_get(j, "instructions");
    CHECK_INT(json_array_size(ins), 4);
    json_t *run = json_array_get(ins, 1);
    CHECK_STR(json_string_value(json_object_get(run, "instruction")), "RUN");
    CHECK_INT(json_integer_value(json_object_get(run, "end_line")), 5);
    CHECK_STR(json_string_value(json_array_get(json_object_get(run, "flags"), 0)),
              "--mount=type=cache,target=/x");
    CHECK_STR(json_string_value(json_array_get(json_object_get(run, "args"), 0)),
              "echo \"\xef\xbf\xbd\" \x01   end");
    json_t *cmd = json_array_get(ins, 2);
    CHECK(json_is_true(json_object_get(cmd, "json")));
    json_t *a0 = json_array_get(json_object_get(cmd, "args"), 0);
    CHECK_INT(json_string_length(a0), 3);
    CHECK(memcmp(json_string_value(a0), "a\0b", 3) == 0);
    json_t *ob = json_array_get(ins, 3);
    CHECK_STR(json_string_value(json_object_get(json_object_get(ob, "onbuild"), "instruction")),
              "RUN");
    json_t *hd = json_array_get(json_object_get(ob, "heredocs"), 0);
    CHECK_STR(json_string_value(json_object_get(hd, "content")), "\techo \"$x\"\n");
    CHECK(json_is_false(json_object_get(hd, "expand")));
    CHECK(json_is_true(json_object_get(hd, "chomp")));
    CHECK_INT(json_array_size(json_object_get(j, "warnings")), 1);
}

TEST(quote)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    df_quote(&b, "a\"\\\t\x07\x7f\xc2\xa0\xe2\x99\xa5\xff\0'", 14);
    CHECK_STR(b.s, "\"a\\\"\\\\\\t\\a\\x7f\\u00a0\xe2\x99\xa5\\xff\\x00'\"");
    /* Go's unicode.IsPrint: unassigned (U+0378), format (U+00AD, U+200B), private use
     * (U+E000) and separators (U+2028, U+3000) are escaped; marks and symbols are not */
    ib_buf_reset(&b);
    df_quote(&b, "\xcd\xb8\xc2\xad\xe2\x80\x8b\xee\x80\x80\xe2\x80\xa8\xe3\x80\x80", 16);
    CHECK_STR(b.s, "\"\\u0378\\u00ad\\u200b\\ue000\\u2028\\u3000\"");
    ib_buf_reset(&b);
    df_quote(&b, "e\xcc\x81\xf0\x9f\x98\x80\xe2\x82\xac \xf0\x90\x80\x80", 15);
    CHECK_STR(b.s, "\"e\xcc\x81\xf0\x9f\x98\x80\xe2\x82\xac \xf0\x90\x80\x80\"");
}

TEST(unicode_print)
{
    static const uint32_t yes[] = {' ',   '~',    'a',     0xA1,    0xE9,    0x301,
                                   0x5BE, 0x20AC, 0x1F600, 0x10000, 0x20000, 0x1D7CE};
    static const uint32_t no[] = {0,      '\t',   0x7F,   0x85,    0xA0,     0xAD,   0x378,
                                  0x600,  0x1680, 0x200B, 0x2028,  0x2029,   0x3000, 0xD800,
                                  0xE000, 0xFEFF, 0xFFFE, 0xE0001, 0x10FFFF, UNI_BAD};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        CHECK(uni_is_print(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        CHECK(!uni_is_print(no[i]));
}

/* df_directive_detect beyond the conformance vectors; want is the expected value
 * ("" = not found), then the expected line when found. */
static bool
detect_is(const char *src, bool frontend_forms, const char *want, const char *cmdline,
          unsigned line)
{
    struct df_directive d;
    bool found = df_directive_detect(src, strlen(src), "syntax", frontend_forms, &d);
    bool ok = found == (*want != '\0') &&
              (!found ||
               (strcmp(d.value, want) == 0 && strcmp(d.cmdline, cmdline) == 0 && d.line == line));
    if (!ok)
        ib_test_note("detect %s: found=%d value=%s line=%u", src, found, d.value ? d.value : "",
                     d.line);
    df_directive_release(&d);
    return ok;
}

TEST(directive_detect)
{
    /* the JSON form keeps the whole string in value too, as BuildKit returns it */
    CHECK(detect_is("{\"syntax\": \"a b\"}", true, "a b", "a b", 1));
    CHECK(detect_is("#!/bin/sh\n {\"syntax\": \"x\"}\n", true, "x", "x", 2));
    CHECK(detect_is("{\"syntax\": \"x\"}", false, "", "", 0));
    CHECK(detect_is("{\"syntax\": \"\\u0061\\/b\"}", true, "a/b", "a/b", 1));
    /* a repeated member replaces the first one; it must be a string */
    CHECK(detect_is("{\"syntax\": \"a\", \"syntax\": \"b\"}", true, "b", "b", 1));
    CHECK(detect_is("{\"syntax\": \"a\", \"syntax\": 1}", true, "", "", 0));
    CHECK(detect_is("{\"syntax\": [\"a\"]}", true, "", "", 0));
    CHECK(detect_is("{\"Syntax\": \"a\"}", true, "", "", 0));
    CHECK(detect_is("{\"x\": {\"syntax\": \"a\"}}", true, "", "", 0));
    CHECK(detect_is("[\"syntax\", \"a\"]", true, "", "", 0));
    /* numbers beyond float64 fail the whole object in Go; underflow does not */
    CHECK(detect_is("{\"syntax\": \"a\", \"n\": [1e400]}", true, "", "", 0));
    CHECK(detect_is("{\"syntax\": \"a\", \"n\": -1e-400}", true, "a", "a", 1));
    CHECK(detect_is("{\"syntax\": \"a\"} x", true, "", "", 0));
    /* the # scan: first column only, stops at a repeated or unknown name */
    CHECK(detect_is("# syntax=a\n# syntax=b\n", false, "a", "a", 1));
    CHECK(detect_is("# check=a\n# check=b\n# syntax=c\n", true, "", "", 0));
    CHECK(detect_is("# foo=a\n# syntax=c\n", true, "", "", 0));
    CHECK(detect_is("# escape=`\n# SYNTAX = img:1 --opt \r\n", false, "img:1", "img:1 --opt", 2));
    CHECK(detect_is("  # syntax=a\n", true, "", "", 0));
    CHECK(detect_is("// syntax=a\n# syntax=b\n", false, "", "", 0));
    CHECK(detect_is("# escape=`\n//syntax=x\n", true, "", "", 0));
    CHECK(detect_is("#!/bin/sh", true, "", "", 0));
    CHECK(detect_is("\xef\xbb\xbf#!sh\n//syntax=x y\n", true, "x", "x y", 2));
}

TEST(json_number_range)
{
    /* Go's json.Unmarshal fails on 1e400, so BuildKit takes the shell form */
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    AUTO_ERR struct ib_err *err = NULL;
    CHECK_OK(parse("FROM a\nCMD [1e400]\n", &f, &err));
    AUTO_FREE char *d = dump(f);
    CHECK_STR(d, "(from \"a\")\n(cmd \"[1e400]\")\n");
    IB_AUTO(df_file_free) struct df_file *g = NULL;
    CHECK(parse("FROM a\nCMD [1e300]\n", &g, &err) < 0);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(golden_files)
{
    const char *dir = "testdata/parser";
    AUTO_STRV struct ib_strv names = IB_STRV_INIT;
    DIR *d = opendir(dir);
    CHECK(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 11 && strcmp(e->d_name + n - 11, ".Dockerfile") == 0)
            ib_strv_pushn(&names, e->d_name, n - 11);
    }
    closedir(d);
    CHECK(names.n > 0);
    qsort(names.v, names.n, sizeof(char *), cmp_str);
    int pass = 0;
    for (size_t i = 0; i < names.n; i++) {
        AUTO_FREE char *df = ib_xasprintf("%s/%s.Dockerfile", dir, names.v[i]);
        AUTO_FREE char *outp = ib_xasprintf("%s/%s.out", dir, names.v[i]);
        AUTO_FREE char *errp = ib_xasprintf("%s/%s.err", dir, names.v[i]);
        bool want_err = access(errp, F_OK) == 0;
        size_t len;
        AUTO_FREE char *src = ib_test_slurp(df, &len);
        AUTO_FREE char *want = ib_test_slurp(want_err ? errp : outp, NULL);
        IB_AUTO(df_file_free) struct df_file *f = NULL;
        AUTO_ERR struct ib_err *err = NULL;
        AUTO_BUF struct ib_buf got = IB_BUF_INIT;
        if (df_parse_buf("Dockerfile", src, len, &f, &err) < 0)
            ib_buf_addf(&got, "%s\n", err->msg);
        else
            df_file_dump(f, &got);
        bool ok = (err != NULL) == want_err && strcmp(got.s, want) == 0;
        if (!ok)
            ib_test_note("got:\n%s", got.s);
        pass += ib_test_case(ok, "testdata/parser/%s", names.v[i]);
    }
    ib_test_note("testdata/parser: %d of %zu golden files match", pass, names.n);
}
