/* parser/tests/test_ignore.c: .dockerignore reading and matching against the
 * conformance vectors (dockerignore/vectors.tsv, clean.tsv, compile.tsv, readall/). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/test.h"
#include "parser/parser.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct df_ignore, df_ignore_free)

/* A TSV file split into rows of fields (TAB only; empty fields kept). */
struct tsv {
    char *data;
    char ***rows; /* rows[i]: NULL-terminated field array */
    size_t *nfields;
    size_t n;
};

static void
tsv_load(const char *rel, struct tsv *t)
{
    AUTO_FREE char *path = ib_test_conformance_path(rel);
    memset(t, 0, sizeof(*t));
    t->data = ib_test_slurp(path, NULL);
    size_t cap = 0, ncap = 0;
    char *line = t->data;
    bool header = true;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (!header && *line) {
            struct ib_strv f = IB_STRV_INIT;
            char *p = line;
            for (;;) {
                char *tab = strchr(p, '\t');
                if (tab)
                    *tab = '\0';
                ib_strv_push(&f, p);
                if (!tab)
                    break;
                p = tab + 1;
            }
            IB_GROW(t->rows, t->n + 1, cap);
            IB_GROW(t->nfields, t->n + 1, ncap);
            t->rows[t->n] = ib_strv_detach(&f, &t->nfields[t->n]);
            t->n++;
        }
        header = false;
        if (!nl)
            break;
        line = nl + 1;
    }
}

static void
tsv_release(struct tsv *t)
{
    for (size_t i = 0; i < t->n; i++)
        ib_strv_free_array(t->rows[i]);
    free(t->rows);
    free(t->nfields);
    free(t->data);
}

/* "true", "false" or "error" for one vector, as upstream answers it. */
static const char *
run_vector(const char *api, const char *path, char *const *pats, size_t npats, char **msg)
{
    struct ib_err *err = NULL;
    IB_AUTO(df_ignore_free) struct df_ignore *ig = NULL;
    if (df_ignore_new(pats, npats, &ig, &err) < 0) {
        *msg = ib_xstrdup(err->msg);
        ib_err_free(err);
        return "error";
    }
    AUTO_FREE char *clean = NULL;
    if (strcmp(api, "legacy") == 0) {
        clean = df_path_clean(path);
        if (strcmp(clean, ".") == 0)
            return "false";
        path = clean;
    }
    bool excluded;
    if (df_ignore_match(ig, path, &excluded, &err) < 0) {
        *msg = ib_xstrdup(err->msg);
        ib_err_free(err);
        return "error";
    }
    return excluded ? "true" : "false";
}

/* The same through df_ignore_match_parents, walking the ancestors top-down as a
 * context walk does (upstream checks its TestMatches rows this way too). */
static const char *
run_incremental(const char *path, char *const *pats, size_t npats)
{
    IB_AUTO(df_ignore_free) struct df_ignore *ig = NULL;
    if (df_ignore_new(pats, npats, &ig, NULL) < 0)
        return "error";
    size_t n = df_ignore_count(ig);
    AUTO_FREE bool *parent = NULL;
    AUTO_FREE bool *hits = ib_xcalloc(n + 1, sizeof(bool));
    bool excluded;
    const char *slash = strrchr(path, '/');
    AUTO_FREE char *head = ib_xstrndup(path, slash ? (size_t)(slash - path) + 1 : 0);
    AUTO_FREE char *dir = df_path_clean(head);
    if (strcmp(dir, ".") != 0) {
        for (size_t k = 0;; k++) {
            if (dir[k] != '/' && dir[k])
                continue;
            AUTO_FREE char *anc = ib_xstrndup(dir, k);
            if (df_ignore_match_parents(ig, anc, parent, hits, &excluded, NULL) < 0)
                return "error";
            if (!parent)
                parent = ib_xcalloc(n + 1, sizeof(bool));
            memcpy(parent, hits, n * sizeof(bool));
            if (!dir[k])
                break;
        }
    }
    if (df_ignore_match_parents(ig, path, parent, hits, &excluded, NULL) < 0)
        return "error";
    return excluded ? "true" : "false";
}

TEST(vectors)
{
    struct tsv t;
    tsv_load("dockerignore/vectors.tsv", &t);
    int pass = 0, total = 0, inc_pass = 0, inc_total = 0;
    for (size_t i = 0; i < t.n; i++) {
        char **f = t.rows[i];
        CHECK(t.nfields[i] >= 6);
        size_t np = (size_t)atoi(f[5]);
        CHECK_INT(t.nfields[i], 6 + np);
        AUTO_FREE char *msg = NULL;
        const char *got = run_vector(f[1], f[3], f + 6, np, &msg);
        bool ok = strcmp(got, f[2]) == 0;
        const char *inc = NULL;
        if (strcmp(f[1], "parents") == 0 && strncmp(f[4], "TestMatches", 11) == 0) {
            inc = run_incremental(f[3], f + 6, np);
            inc_total++;
            if (strcmp(inc, f[2]) == 0)
                inc_pass++;
            else
                ok = false;
        }
        total++;
        pass += ok;
        ib_test_case(ok, "dockerignore/vectors.tsv %s (%s %s): %s%s%s%s%s", f[0], f[1], f[4], got,
                     inc ? ", incremental " : "", inc ? inc : "", msg ? ": " : "", msg ? msg : "");
    }
    ib_test_note("dockerignore/vectors.tsv: %d of %d pass (%d of %d also through the "
                 "incremental top-down match)",
                 pass, total, inc_pass, inc_total);
    CHECK_INT(total, 138);
    tsv_release(&t);
}

TEST(clean)
{
    struct tsv t;
    tsv_load("dockerignore/clean.tsv", &t);
    int pass = 0, total = 0;
    for (size_t i = 0; i < t.n; i++) {
        char **f = t.rows[i];
        CHECK(t.nfields[i] >= 6);
        size_t np = (size_t)atoi(f[5]);
        CHECK_INT(t.nfields[i], 6 + np);
        struct ib_err *err = NULL;
        IB_AUTO(df_ignore_free) struct df_ignore *ig = NULL;
        bool failed = df_ignore_new(f + 6, np, &ig, &err) < 0;
        bool ok = failed == (strcmp(f[3], "yes") == 0);
        if (!failed && strcmp(f[1], "-") != 0)
            ok = ok && df_ignore_count(ig) == (size_t)atoi(f[1]);
        if (!failed && strcmp(f[2], "-") != 0)
            ok = ok && df_ignore_has_exceptions(ig) == (strcmp(f[2], "true") == 0);
        total++;
        pass += ok;
        ib_test_case(ok, "dockerignore/clean.tsv %s (%s): count %zu%s%s", f[0], f[4],
                     df_ignore_count(ig), err ? ", error: " : "", err ? err->msg : "");
        ib_err_free(err);
    }
    ib_test_note("dockerignore/clean.tsv: %d of %d pass", pass, total);
    CHECK_INT(total, 6);
    tsv_release(&t);
}

/* compile.tsv is informative: it gives upstream's classification and regexp.  We
 * check that our matcher agrees with that regexp (POSIX ERE reads these few
 * the same way) or with the exact/prefix/suffix rule on a set of sample paths. */
static const char *const sample_parts[] = {
    "a",       "b",     "file", "file.txt", "dir",     "dir2",        "foo",
    "bar",     "x.txt", "ace",  "aze",      ".foo",    "abc.def",     "abcdef",
    "abcZdef", "a(b)c", "def",  "xfile",    "filetxt", "a.|)$(}+{bc", "abc",
};

static bool
upstream_answer(const char *type, const char *re, regex_t *rx, const char *pat, const char *path)
{
    size_t pl = strlen(pat), n = strlen(path);
    (void)re;
    if (strcmp(type, "exact") == 0)
        return strcmp(pat, path) == 0;
    if (strcmp(type, "prefix") == 0)
        return strncmp(path, pat, pl - 2) == 0;
    if (strcmp(type, "suffix") == 0) {
        const char *suf = pat + 2;
        size_t sl = pl - 2;
        return (n >= sl && strcmp(path + n - sl, suf) == 0) ||
               (sl > 0 && suf[0] == '/' && strcmp(path, suf + 1) == 0);
    }
    return regexec(rx, path, 0, NULL, 0) == 0;
}

TEST(compile_informative)
{
    struct tsv t;
    tsv_load("dockerignore/compile.tsv", &t);
    size_t np = sizeof(sample_parts) / sizeof(sample_parts[0]);
    int pass = 0, total = 0;
    for (size_t i = 0; i < t.n; i++) {
        char **f = t.rows[i];
        CHECK(t.nfields[i] >= 3);
        regex_t rx;
        bool is_re = strcmp(f[1], "regexp") == 0;
        if (is_re)
            CHECK(regcomp(&rx, f[2], REG_EXTENDED | REG_NOSUB) == 0);
        struct ib_err *err = NULL;
        IB_AUTO(df_ignore_free) struct df_ignore *ig = NULL;
        CHECK_OK(df_ignore_new(f, 1, &ig, &err));
        bool no_parents[2] = {false, false}, ok = true;
        int checked = 0;
        AUTO_FREE char *bad = NULL;
        for (size_t a = 0; a < np && ok; a++) {
            for (size_t b = 0; b <= np && ok; b++) {
                for (size_t c = 0; c <= np && ok; c++) {
                    if (b == np && c < np)
                        continue;
                    AUTO_FREE char *path =
                        ib_xasprintf("%s%s%s%s%s", sample_parts[a], b < np ? "/" : "",
                                     b < np ? sample_parts[b] : "", c < np ? "/" : "",
                                     c < np ? sample_parts[c] : "");
                    bool got;
                    CHECK_OK(df_ignore_match_parents(ig, path, no_parents, NULL, &got, &err));
                    if (got != upstream_answer(f[1], f[2], &rx, f[0], path)) {
                        ok = false;
                        bad = ib_xstrdup(path);
                    }
                    checked++;
                }
            }
        }
        if (is_re)
            regfree(&rx);
        total++;
        pass += ok;
        ib_test_case(ok, "dockerignore/compile.tsv '%s' (%s): %d paths agree%s%s", f[0], f[1],
                     checked, bad ? "; differs on " : "", bad ? bad : "");
    }
    ib_test_note("dockerignore/compile.tsv (informative): %d of %d patterns agree with "
                 "upstream's classification and regexp on sample paths",
                 pass, total);
    CHECK_INT(total, 21);
    tsv_release(&t);
}

TEST(readall)
{
    AUTO_FREE char *in_path = ib_test_conformance_path("dockerignore/readall/basic.dockerignore");
    AUTO_FREE char *exp_path = ib_test_conformance_path("dockerignore/readall/basic.expected");
    size_t len;
    AUTO_FREE char *in = ib_test_slurp(in_path, &len);
    AUTO_FREE char *expect = ib_test_slurp(exp_path, NULL);
    AUTO_STRV struct ib_strv pats = IB_STRV_INIT;
    struct ib_err *err = NULL;
    CHECK_OK(df_ignore_read(in, len, &pats, &err));
    AUTO_BUF struct ib_buf got = IB_BUF_INIT;
    for (size_t i = 0; i < pats.n; i++)
        ib_buf_addf(&got, "%s\n", pats.v[i]);
    bool ok = strcmp(got.s, expect) == 0;
    if (!ok)
        ib_test_note("got:\n%s", got.s);
    ib_test_case(ok, "dockerignore/readall/basic");
    ib_test_note("dockerignore/readall: %d of 1 pass", ok);
}

TEST(read_details)
{
    static const char data[] = "\xEF\xBB\xBF# c\r\nfoo\r\n  #bar \n\t!\t/x/../y/ \n"
                               "\xC2\xA0z\xE3\x80\x80\n\n/\n!\n";
    AUTO_STRV struct ib_strv pats = IB_STRV_INIT;
    struct ib_err *err = NULL;
    CHECK_OK(df_ignore_read(data, sizeof(data) - 1, &pats, &err));
    CHECK_INT(pats.n, 6);
    CHECK_STR(pats.v[0], "foo");
    CHECK_STR(pats.v[1], "#bar");
    CHECK_STR(pats.v[2], "!y");
    CHECK_STR(pats.v[3], "z");
    CHECK_STR(pats.v[4], "/");
    CHECK_STR(pats.v[5], "!");
    ib_strv_release(&pats);
    CHECK(df_ignore_read("a\0b", 3, &pats, &err) < 0);
    CHECK(err && err->kind == IB_E_PARSE && strstr(err->msg, "line 1"));
    ib_err_free(err);
    CHECK_OK(df_ignore_read("", 0, &pats, &err));
    CHECK_INT(pats.n, 0);
}

TEST(path_clean)
{
    static const char *const cases[][2] = {
        {"", "."},
        {".", "."},
        {"/", "/"},
        {"//a//b/", "/a/b"},
        {"a/./b", "a/b"},
        {"a/../b", "b"},
        {"../a", "../a"},
        {"/../a", "/a"},
        {"a/b/../../..", ".."},
        {"a/..", "."},
        {"./", "."},
        {"!docs/", "!docs"},
        {"..a/b..", "..a/b.."},
        {"a/../../b/../c", "../c"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        AUTO_FREE char *got = df_path_clean(cases[i][0]);
        CHECK_STR(got, cases[i][1]);
    }
}

static bool
match1(const char *pattern, const char *path)
{
    char *pats[] = {(char *)pattern};
    IB_AUTO(df_ignore_free) struct df_ignore *ig = NULL;
    bool ex = false;
    if (df_ignore_new(pats, 1, &ig, NULL) < 0 || df_ignore_match(ig, path, &ex, NULL) < 0)
        return false;
    return ex;
}

TEST(errors_name_the_pattern)
{
    static const char *const bad[] = {"[",       "a[",   "[]a]", "[-]", "[x-]",
                                      "[a-b-c]", "x/\\", "[^",   "!",   "![z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *pats[] = {(char *)"ok", (char *)bad[i]};
        struct ib_err *err = NULL;
        IB_AUTO(df_ignore_free) struct df_ignore *ig = NULL;
        CHECK(df_ignore_new(pats, 2, &ig, &err) < 0);
        CHECK(ig == NULL);
        CHECK(err->kind == IB_E_PARSE);
        AUTO_FREE char *quoted = ib_xasprintf("'%s'", bad[i]);
        if (!strstr(err->msg, quoted))
            ib_test_note("message: %s", err->msg);
        CHECK(strstr(err->msg, quoted) != NULL);
        ib_err_free(err);
    }
    /* a reversed range is accepted when built and fails when used */
    char *pats[] = {(char *)"[z-a]"};
    struct ib_err *err = NULL;
    IB_AUTO(df_ignore_free) struct df_ignore *ig = NULL;
    CHECK_OK(df_ignore_new(pats, 1, &ig, &err));
    bool ex;
    CHECK(df_ignore_match(ig, "q", &ex, &err) < 0);
    CHECK(strstr(err->msg, "'[z-a]'") != NULL);
    ib_err_free(err);
}

TEST(glob_semantics)
{
    CHECK(match1("a\\?b", "a?b"));
    CHECK(!match1("a\\?b", "axb"));
    CHECK(match1("[\\*]x", "*x"));
    CHECK(match1("**/*.c", "a/b/c.c"));
    CHECK(match1("a**b", "ab"));
    CHECK(match1("a**b", "ax/b"));
    CHECK(!match1("a**b", "axb"));
    CHECK(match1("**file", "xfile"));
    CHECK(match1("a/**/b", "a/b"));
    CHECK(match1("a/**/b", "a/x/y/b"));
    CHECK(!match1("a/**/b", "a/xb"));
    CHECK(match1("[α-ω]?", "βγ"));
    CHECK(match1("?", "\xff"));           /* an invalid byte is one rune */
    CHECK(!match1("a/**/b*", "a/x\n/b")); /* Go's ".": no newline */
    CHECK(match1("a*", "a\nb"));
    CHECK(match1("a^b", "a^b"));
    CHECK(match1("docs", "docs/x/y"));
    CHECK(!match1("docs", "docsx"));
}

TEST(may_hit_below)
{
    char *pats[] = {(char *)"foo", (char *)"!foo/bar/x", (char *)"b*"};
    struct ib_err *err = NULL;
    IB_AUTO(df_ignore_free) struct df_ignore *ig = NULL;
    CHECK_OK(df_ignore_new(pats, 3, &ig, &err));
    CHECK(df_ignore_may_hit_below(ig, "foo", true));
    CHECK(df_ignore_may_hit_below(ig, "foo/bar", true));
    CHECK(!df_ignore_may_hit_below(ig, "foo/baz", true));
    CHECK(!df_ignore_may_hit_below(ig, "fo", true));
    CHECK(df_ignore_may_hit_below(ig, "anything", false)); /* "b*" has a glob */
    char *pats2[] = {(char *)"a/b/**", (char *)"!c/*"};
    IB_AUTO(df_ignore_free) struct df_ignore *ig2 = NULL;
    CHECK_OK(df_ignore_new(pats2, 2, &ig2, &err));
    CHECK(df_ignore_may_hit_below(ig2, "a", false));
    CHECK(df_ignore_may_hit_below(ig2, "a/b", false));
    CHECK(!df_ignore_may_hit_below(ig2, "a/b/c", false));
    CHECK(df_ignore_may_hit_below(ig2, "c", true));
    CHECK(!df_ignore_may_hit_below(ig2, "d", true));
    CHECK(!df_ignore_may_hit_below(NULL, "d", true));
}

/* Patterns and paths that would make a backtracking matcher explode. */
TEST(no_blowup)
{
    AUTO_BUF struct ib_buf pat = IB_BUF_INIT, path = IB_BUF_INIT;
    for (int i = 0; i < 200; i++)
        ib_buf_adds(&pat, "*a**/");
    ib_buf_adds(&pat, "b");
    for (int i = 0; i < 2000; i++)
        ib_buf_adds(&path, "a/");
    ib_buf_adds(&path, "c");
    clock_t t0 = clock();
    CHECK(!match1(pat.s, path.s));
    ib_buf_reset(&pat);
    for (int i = 0; i < 30; i++)
        ib_buf_adds(&pat, "a*");
    ib_buf_adds(&pat, "b");
    ib_buf_reset(&path);
    for (int i = 0; i < 5000; i++)
        ib_buf_addc(&path, 'a');
    CHECK(!match1(pat.s, path.s));
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ib_test_note("pathological matches took %.3f s", secs);
    CHECK(secs < 5.0);
}
