/* parser/tests/test_expand.c: word expansion against the BuildKit shell vectors
 * (conformance/shell/: envVarTest, wordsTest, process_word.json) plus our own cases. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/test.h"
#include "parser/parser.h"
#include "common/banned.h"

/* ---- a small environment: later definitions win ---- */

struct env {
    struct ib_strv names, values;
};

static const char *
env_lookup(void *ctx, const char *name)
{
    const struct env *env = ctx;
    for (size_t i = env->names.n; i-- > 0;)
        if (strcmp(env->names.v[i], name) == 0)
            return env->values.v[i];
    return NULL;
}

static void
env_set(struct env *env, const char *name, const char *value)
{
    ib_strv_push(&env->names, name);
    ib_strv_push(&env->values, value);
}

static void
env_release(struct env *env)
{
    ib_strv_release(&env->names);
    ib_strv_release(&env->values);
}

/* Expand one word with the given env; returns the result (caller frees) or NULL on
 * failure, with the message in *msg (caller frees) when msg is given. */
static char *
expand1(struct env *env, char escape, bool skip_unset, const char *word, char **msg)
{
    struct df_expander x = {
        .lookup = env_lookup,
        .ctx = env,
        .escape = escape,
        .skip_unset = skip_unset,
    };
    struct ib_err *err = NULL;
    char *out = NULL;
    if (df_expand_word(&x, word, &out, &err) < 0) {
        if (msg)
            *msg = ib_xstrdup(err->msg);
        ib_err_free(err);
        return NULL;
    }
    return out;
}

static char *
trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* ---- shell/envVarTest ---- */

TEST(shell_envVarTest)
{
    AUTO_FREE char *path = ib_test_conformance_path("shell/envVarTest");
    AUTO_FREE char *data = ib_test_slurp(path, NULL);
    __attribute__((cleanup(env_release))) struct env env = {0};
    env_set(&env, "PWD", "/home");
    env_set(&env, "SHELL", "bash");
    env_set(&env, "KOREAN", "한국어");
    env_set(&env, "NULL", "");

    int total = 0, pass = 0, windows = 0, lineno = 0;
    for (char *line = data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (line[0] == '#')
            continue;
        char *t = trim(line);
        if (!*t)
            continue;
        char *bar1 = strchr(t, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (!bar1 || !bar2 || strchr(bar2 + 1, '|')) {
            total++;
            ib_test_case(false, "envVarTest:%d: malformed line '%s'", lineno, t);
            continue;
        }
        *bar1 = *bar2 = '\0';
        char *platform = trim(t), *input = trim(bar1 + 1), *expected = trim(bar2 + 1);
        if (strcmp(platform, "W") == 0) {
            windows++; /* case-insensitive names: Windows only */
            continue;
        }
        total++;
        AUTO_FREE char *msg = NULL;
        AUTO_FREE char *got = expand1(&env, 0, false, input, &msg);
        bool ok;
        if (strcmp(expected, "error") == 0)
            ok = ib_test_case(!got, "envVarTest:%d %s -> error", lineno, input);
        else
            ok = ib_test_case(got && strcmp(got, expected) == 0, "envVarTest:%d %s -> '%s'", lineno,
                              input, expected);
        if (!ok)
            ib_test_note("  got %s%s%s", got ? "'" : "error: ", got ? got : msg, got ? "'" : "");
        pass += ok;
    }
    ib_test_note("shell/envVarTest: %d of %d vectors pass (%d W lines not applicable on Linux)",
                 pass, total, windows);
    CHECK_INT(total, 230 - windows);
    CHECK_INT(windows, 2);
    CHECK_INT(pass, total);
}

/* ---- shell/wordsTest ---- */

TEST(shell_wordsTest)
{
    AUTO_FREE char *path = ib_test_conformance_path("shell/wordsTest");
    AUTO_FREE char *data = ib_test_slurp(path, NULL);
    __attribute__((cleanup(env_release))) struct env env = {0};
    struct df_expander x = {.lookup = env_lookup, .ctx = &env};

    int total = 0, pass = 0, envs = 0, lineno = 0;
    for (char *line = data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (line[0] == '#')
            continue;
        if (strncmp(line, "ENV ", 4) == 0) {
            char *def = line + 3;
            while (*def == ' ')
                def++;
            char *eq = strchr(def, '=');
            if (eq)
                *eq = '\0';
            env_set(&env, def, eq ? eq + 1 : "");
            envs++;
            continue;
        }
        total++;
        char *bar = strchr(line, '|');
        if (!bar || strchr(bar + 1, '|')) {
            ib_test_case(false, "wordsTest:%d: malformed line '%s'", lineno, line);
            continue;
        }
        *bar = '\0';
        char *input = trim(line), *expected = bar + 1;
        while (*expected == ' ')
            expected++;

        AUTO_STRV struct ib_strv got = IB_STRV_INIT;
        AUTO_ERR struct ib_err *err = NULL;
        if (df_expand_words(&x, input, &got, &err) < 0)
            ib_strv_push(&got, "error");
        /* expected words are separated by ',' */
        AUTO_STRV struct ib_strv want = IB_STRV_INIT;
        for (char *p = expected;;) {
            char *comma = strchr(p, ',');
            ib_strv_pushn(&want, p, comma ? (size_t)(comma - p) : strlen(p));
            if (!comma)
                break;
            p = comma + 1;
        }
        bool ok = got.n == want.n;
        for (size_t i = 0; ok && i < want.n; i++)
            ok = strcmp(got.v[i], want.v[i]) == 0;
        AUTO_BUF struct ib_buf shown = IB_BUF_INIT;
        for (size_t i = 0; i < got.n; i++)
            ib_buf_addf(&shown, "%s[%s]", i ? " " : "", got.v[i]);
        if (!ib_test_case(ok, "wordsTest:%d %s -> '%s'", lineno, input, expected))
            ib_test_note("  got %s", shown.s);
        pass += ok;
    }
    ib_test_note("shell/wordsTest: %d of %d vectors pass (%d ENV lines)", pass, total, envs);
    CHECK_INT(total, 24);
    CHECK_INT(envs, 4);
    CHECK_INT(pass, total);
}

/* ---- shell/process_word.json ---- */

static void
json_decref_p(json_t **j)
{
    json_decref(*j);
}

/* Whether the strv holds exactly the names of the JSON array (as sets). */
static bool
same_set(const struct ib_strv *got, const json_t *want)
{
    if (got->n != json_array_size(want))
        return false;
    size_t i;
    const json_t *v;
    json_array_foreach(want, i, v)
    {
        bool found = false;
        for (size_t k = 0; k < got->n && !found; k++)
            found = strcmp(got->v[k], json_string_value(v)) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool
run_json_case(const json_t *c, size_t idx)
{
    const char *input = json_string_value(json_object_get(c, "input"));
    const json_t *jenv = json_object_get(c, "env");
    const json_t *expect = json_object_get(c, "expect");
    const json_t *matched = json_object_get(c, "matched");
    const json_t *unmatched = json_object_get(c, "unmatched");
    const char *contains = json_string_value(json_object_get(c, "error_contains"));
    bool want_error = json_is_true(json_object_get(c, "error"));
    if (!input || !json_is_object(jenv) || (!want_error && !json_is_string(expect)))
        return ib_test_case(false, "process_word.json case %zu: malformed", idx);

    __attribute__((cleanup(env_release))) struct env env = {0};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)jenv, k, v) env_set(&env, k, json_string_value(v));
    AUTO_STRV struct ib_strv got_m = IB_STRV_INIT;
    AUTO_STRV struct ib_strv got_u = IB_STRV_INIT;
    struct df_expander x = {
        .lookup = env_lookup,
        .ctx = &env,
        .matched = &got_m,
        .unmatched = &got_u,
    };
    AUTO_ERR struct ib_err *err = NULL;
    AUTO_FREE char *out = NULL;
    int r = df_expand_word(&x, input, &out, &err);

    bool ok;
    if (want_error) {
        ok = r < 0 && err->kind == IB_E_PARSE && (!contains || strstr(err->msg, contains));
    } else {
        ok = r == 0 && strcmp(out, json_string_value(expect)) == 0;
        if (matched)
            ok = ok && same_set(&got_m, matched);
        if (unmatched)
            ok = ok && same_set(&got_u, unmatched);
    }
    if (!ib_test_case(ok, "process_word.json case %zu: %s -> %s%s", idx, input,
                      want_error ? "error" : json_string_value(expect),
                      matched || unmatched ? " (with matched/unmatched sets)" : ""))
        ib_test_note("  got %s", r < 0 ? err->msg : out);
    return ok;
}

TEST(shell_process_word_json)
{
    AUTO_FREE char *path = ib_test_conformance_path("shell/process_word.json");
    json_error_t jerr;
    __attribute__((cleanup(json_decref_p))) json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        ib_test_fail(__FILE__, __LINE__, "%s: %s", path, jerr.text);
    CHECK(root);
    CHECK_STR(json_string_value(json_object_get(root, "escape_token")), "\\");
    const json_t *cases = json_object_get(root, "cases");
    CHECK(json_is_array(cases));
    size_t i, pass = 0;
    const json_t *c;
    json_array_foreach(cases, i, c) pass += run_json_case(c, i);
    ib_test_note("shell/process_word.json: %zu of %zu vectors pass", pass, json_array_size(cases));
    CHECK_INT(json_array_size(cases), 56);
    CHECK_INT(pass, json_array_size(cases));
}

/* ---- our own cases ---- */

#define EXPECT(env, esc, skip, word, want)                                  \
    do {                                                                    \
        AUTO_FREE char *got_ = expand1((env), (esc), (skip), (word), NULL); \
        CHECK_STR(got_, (want));                                            \
    } while (0)

#define EXPECT_ERR(env, word, part)                                                    \
    do {                                                                               \
        AUTO_FREE char *msg_ = NULL;                                                   \
        AUTO_FREE char *got_ = expand1((env), 0, false, (word), &msg_);                \
        CHECK(!got_);                                                                  \
        if (!strstr(msg_, (part)))                                                     \
            ib_test_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", msg_, (part)); \
        CHECK(strstr(msg_, (part)));                                                   \
    } while (0)

TEST(expand_backtick_escape)
{
    __attribute__((cleanup(env_release))) struct env env = {0};
    env_set(&env, "PWD", "/home");
    env_set(&env, "V", "*x");
    env_set(&env, "B", "`abc");
    EXPECT(&env, '`', false, "he`$PWD", "he$PWD");
    EXPECT(&env, '`', false, "he\\$PWD", "he\\/home"); /* backslash is ordinary */
    EXPECT(&env, '`', false, "C:\\go\\bin", "C:\\go\\bin");
    EXPECT(&env, '`', false, "a` b``", "a b`");
    EXPECT(&env, '`', false, "\"a`\"b`$PWD`x\"", "a\"b$PWD`x");
    EXPECT(&env, '`', false, "\"a\\\"", "a\\"); /* \ does not escape " */
    EXPECT(&env, '`', false, "${X:-a`}b}", "a}b");
    EXPECT(&env, '`', false, "hello`", "hello");
    /* inside a pattern the escape is always backslash; the backtick stays in the text */
    EXPECT(&env, '`', false, "${V#\\*}", "x");
    EXPECT(&env, '`', false, "${V#`*}", "*x");
    EXPECT(&env, '`', false, "${B#`*}", "abc");
    EXPECT(&env, '\\', false, "${V#\\*}", "x");
}

TEST(expand_skip_unset)
{
    __attribute__((cleanup(env_release))) struct env env = {0};
    env_set(&env, "PWD", "/home");
    env_set(&env, "E", "");
    EXPECT(&env, 0, true, "$A ${B} ${C:-x y} ${D//a/b} $PWD ${E:-e}",
           "$A ${B} ${C:-x y} "
           "${D/a/b} /home e");
    EXPECT(&env, 0, true, "${C:-\"q\"}${C#\\*}$1", "${C:-q}${C#\\*}$1");
    EXPECT(&env, 0, false, "$A ${B} ${C:-x} $PWD", "  x /home");
}

static char *
nested(int depth)
{
    struct ib_buf b = IB_BUF_INIT;
    for (int i = 0; i < depth; i++)
        ib_buf_adds(&b, "${A:-");
    ib_buf_addc(&b, 'x');
    for (int i = 0; i < depth; i++)
        ib_buf_addc(&b, '}');
    return ib_buf_detach(&b, NULL);
}

TEST(expand_nesting_limit)
{
    __attribute__((cleanup(env_release))) struct env env = {0};
    AUTO_FREE char *ok64 = nested(64);
    AUTO_FREE char *bad65 = nested(65);
    AUTO_FREE char *bad = nested(100000);
    EXPECT(&env, 0, false, ok64, "x");
    EXPECT_ERR(&env, bad65, "nested more than 64 levels");
    EXPECT_ERR(&env, bad, "nested more than 64 levels");
    /* quotes inside operands count through the same ${ levels */
    EXPECT(&env, 0, false, "${A:-\"${A:-'}'}\"}", "}");
}

TEST(expand_words_splitting)
{
    __attribute__((cleanup(env_release))) struct env env = {0};
    env_set(&env, "SP", " a  b ");
    struct df_expander x = {.lookup = env_lookup, .ctx = &env};
    struct {
        const char *in, *want; /* words joined with '|' */
    } cases[] = {
        {"", ""},
        {"\"\"", ""},
        {"\"\" a", "a"},
        {"a \"\" b", "a|b"},
        {"a''b", "ab"},
        {"$SP", "a|b"},
        {"x${SP}y", "x|a|b|y"},
        {"\"$SP\"", " a  b "},
        {"${U:-\"p q\"}", "p|q"}, /* an operand's result splits, quotes and all */
        {"\"${U:-p q}\"", "p q"},
        {"a\\ b c", "a b|c"},
        {"a\xc2\xa0"
         "b\xe3\x80\x80"
         "c",
         "a|b|c"}, /* NBSP and ideographic space */
        {"\t a \n b \t", "a|b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        AUTO_STRV struct ib_strv got = IB_STRV_INIT;
        struct ib_err *err = NULL;
        CHECK_OK(df_expand_words(&x, cases[i].in, &got, &err));
        AUTO_BUF struct ib_buf joined = IB_BUF_INIT;
        for (size_t k = 0; k < got.n; k++)
            ib_buf_addf(&joined, "%s%s", k ? "|" : "", got.v[k]);
        CHECK_STR(joined.s, cases[i].want);
    }
    /* an error leaves out untouched */
    AUTO_STRV struct ib_strv out = IB_STRV_INIT;
    ib_strv_push(&out, "keep");
    AUTO_ERR struct ib_err *err = NULL;
    CHECK(df_expand_words(&x, "a b 'c", &out, &err) < 0);
    CHECK_INT(out.n, 1);
}

TEST(expand_errors)
{
    __attribute__((cleanup(env_release))) struct env env = {0};
    env_set(&env, "NULL", "");
    env_set(&env, "V", "v");
    EXPECT_ERR(&env, "${FOO?}", "failed to process \"${FOO?}\": FOO: is not allowed to be unset");
    EXPECT_ERR(&env, "${NULL:?}", "NULL: is not allowed to be empty");
    EXPECT_ERR(&env, "${FOO:?custom $V}", "FOO: custom v");
    EXPECT_ERR(&env, "${}", "bad substitution");
    EXPECT_ERR(&env, "${", "missing '}'");
    EXPECT_ERR(&env, "${V", "missing '}'");
    EXPECT_ERR(&env, "${V:-x", "missing '}'");
    EXPECT_ERR(&env, "${V/x", "missing '/' in ${}");
    EXPECT_ERR(&env, "${V=x}", "unsupported modifier (=)");
    EXPECT_ERR(&env, "${V:#x}", "unsupported modifier (:#)");
    EXPECT_ERR(&env, "${V#\\x}", "invalid escape '\\x'");
    EXPECT_ERR(&env, "'abc", "matching single-quote");
    EXPECT_ERR(&env, "\"abc", "matching double-quote");
    EXPECT_ERR(&env, "a\nb\"", "failed to process \"a\\nb\\\"\"");

    struct ib_err *err = NULL;
    char *out = NULL;
    CHECK(df_expand_word(NULL, "${x", &out, &err) < 0);
    CHECK_INT(err->kind, IB_E_PARSE);
    CHECK(out == NULL);
    ib_err_free(err);
    err = NULL;
    struct df_expander bad = {.escape = '$'};
    CHECK(df_expand_word(&bad, "x", &out, &err) < 0);
    CHECK_INT(err->kind, IB_E_BUG);
    ib_err_free(err);
    CHECK(df_expand_word(&bad, "x", &out, NULL) < 0); /* err may be NULL */
}

TEST(expand_patterns)
{
    __attribute__((cleanup(env_release))) struct env env = {0};
    env_set(&env, "K", "한국어");
    env_set(&env, "F", "foo");
    env_set(&env, "NL", "a\nb");
    env_set(&env, "P", "a/b/c.tar.gz");
    EXPECT(&env, 0, false, "${K#?}", "국어");
    EXPECT(&env, 0, false, "${K%?}", "한국");
    EXPECT(&env, 0, false, "${K/국/-}", "한-어");
    EXPECT(&env, 0, false, "${P#*/}", "b/c.tar.gz");
    EXPECT(&env, 0, false, "${P##*/}", "c.tar.gz");
    EXPECT(&env, 0, false, "${P%.*}", "a/b/c.tar");
    EXPECT(&env, 0, false, "${P%%.*}", "a/b/c");
    EXPECT(&env, 0, false, "${P/?/X}", "X/b/c.tar.gz");
    EXPECT(&env, 0, false, "${P//[a]/X}", "a/b/c.tar.gz"); /* no bracket expressions */
    /* wildcards never match a newline (Go's '.') */
    EXPECT(&env, 0, false, "${NL#*b}", "a\nb");
    EXPECT(&env, 0, false, "${NL#a?}", "a\nb");
    EXPECT(&env, 0, false, "${NL#a\n}", "b");
    /* replace-all expands $0 in the replacement (Go's ReplaceAllString); replace-one not */
    EXPECT(&env, 0, false, "${F//o/'<$0>'}", "f<o><o>");
    EXPECT(&env, 0, false, "${F//o/'$$x$1'}", "f$x$x");
    EXPECT(&env, 0, false, "${F/o/'$0'}", "f$0o");
    EXPECT(&env, 0, false, "${F//*/x}", "x");
    EXPECT(&env, 0, false, "${F//?/x}", "xxx");
}

TEST(expand_long_inputs)
{
    __attribute__((cleanup(env_release))) struct env env = {0};
    AUTO_BUF struct ib_buf val = IB_BUF_INIT;
    for (int i = 0; i < 20000; i++)
        ib_buf_addc(&val, 'a');
    env_set(&env, "A", val.s);
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    for (int i = 0; i < 20000; i++)
        ib_buf_addc(&b, 'b');
    AUTO_FREE char *all_b = ib_buf_detach(&b, NULL);
    EXPECT(&env, 0, false, "${A//a/b}", all_b);
    EXPECT(&env, 0, false, "${A#*a*a*a*b}", val.s);
    EXPECT(&env, 0, false, "${A%%a*a}", "");
    /* ${v//p/r} nested in r grows exponentially: bounded, and fails fast */
    AUTO_BUF struct ib_buf nest = IB_BUF_INIT;
    for (int i = 0; i < 40; i++)
        ib_buf_adds(&nest, "${A//?/");
    ib_buf_adds(&nest, "xy");
    for (int i = 0; i < 40; i++)
        ib_buf_addc(&nest, '}');
    EXPECT_ERR(&env, nest.s, "bytes longer than the value");
    AUTO_BUF struct ib_buf many = IB_BUF_INIT;
    for (int i = 0; i < 500; i++) /* 500 * 40000 bytes */
        ib_buf_adds(&many, "${A//a/xx}");
    EXPECT_ERR(&env, many.s, "expansion result longer than");
    /* many distinct names: each recorded once */
    AUTO_BUF struct ib_buf w = IB_BUF_INIT;
    for (int i = 0; i < 2000; i++)
        ib_buf_addf(&w, "$v%d$v%d", i % 500, i % 500);
    AUTO_STRV struct ib_strv un = IB_STRV_INIT;
    struct df_expander x = {.lookup = env_lookup, .ctx = &env, .unmatched = &un};
    struct ib_err *err = NULL;
    AUTO_FREE char *out = NULL;
    CHECK_OK(df_expand_word(&x, w.s, &out, &err));
    CHECK_STR(out, "");
    CHECK_INT(un.n, 500);
}

TEST(expand_matched_sets)
{
    __attribute__((cleanup(env_release))) struct env env = {0};
    env_set(&env, "A", "1");
    AUTO_STRV struct ib_strv m = IB_STRV_INIT;
    AUTO_STRV struct ib_strv u = IB_STRV_INIT;
    struct df_expander x = {.lookup = env_lookup, .ctx = &env, .matched = &m, .unmatched = &u};
    struct ib_err *err = NULL;
    AUTO_FREE char *out = NULL;
    CHECK_OK(df_expand_word(&x, "$A ${A} ${A:-$B} $B '$C' \\$D $1", &out, &err));
    CHECK_STR(out, "1 1 1  $C $D ");
    CHECK_INT(m.n, 1);
    CHECK_STR(m.v[0], "A");
    CHECK_INT(u.n, 2);
    CHECK_STR(u.v[0], "B");
    CHECK_STR(u.v[1], "1");
}

TEST(expand_kind_expands)
{
    const enum df_kind yes[] = {DF_ADD,   DF_ARG,        DF_COPY, DF_ENV,    DF_EXPOSE, DF_FROM,
                                DF_LABEL, DF_STOPSIGNAL, DF_USER, DF_VOLUME, DF_WORKDIR};
    const enum df_kind no[] = {DF_UNKNOWN,    DF_CMD,     DF_ENTRYPOINT, DF_HEALTHCHECK,
                               DF_MAINTAINER, DF_ONBUILD, DF_RUN,        DF_SHELL};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        CHECK(df_kind_expands(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        CHECK(!df_kind_expands(no[i]));
    CHECK_INT(sizeof(yes) / sizeof(yes[0]) + sizeof(no) / sizeof(no[0]), DF_WORKDIR + 1);
}
