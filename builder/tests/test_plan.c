/* Tests of builder/plan.c: stages, global ARGs, --target and stage dependencies. */
#include <stdlib.h>

#include "builder/plan.h"
#include "common/test.h"
#include "parser/parser.h"

static struct df_file *
parse(const char *src)
{
    struct df_file *f = NULL;
    struct ib_err *err = NULL;
    if (df_parse_buf("Dockerfile", src, strlen(src), &f, &err) < 0) {
        ib_test_note("parse failed: %s", err->msg);
        ib_err_free(err);
        return NULL;
    }
    return f;
}

static int
plan_src(const char *src, const struct plan_opts *o, struct plan **p, struct df_file **f,
         struct ib_err **err)
{
    *f = parse(src);
    if (!*f)
        return -1;
    return plan_new(*f, o, p, err);
}

TEST(global_args_expand_in_from)
{
    struct ib_err *err = NULL;
    struct plan *p = NULL;
    struct df_file *f = NULL;
    char ba0[] = "TAG=1.36", *ba[] = {ba0};
    struct plan_opts o = {.build_args = ba, .nbuild_args = 1};
    CHECK_OK(plan_src("ARG REPO=busybox\nARG TAG=latest\nFROM ${REPO}:${TAG} AS base\n"
                      "RUN true\nFROM base\nARG TAG\nRUN echo $TAG\n",
                      &o, &p, &f, &err));
    CHECK_INT(p->nstages, 2);
    CHECK_STR(p->stages[0].base, "busybox:1.36");
    CHECK_STR(p->stages[0].name, "base");
    CHECK_INT(p->stages[1].base_stage, 0);
    CHECK_INT(p->target, 1);
    CHECK(p->stages[0].needed && p->stages[1].needed);
    CHECK_INT(p->stages[1].ninstrs, 2);
    plan_free(p);
    df_file_free(f);
}

TEST(target_skips_unneeded_stages)
{
    struct ib_err *err = NULL;
    struct plan *p = NULL;
    struct df_file *f = NULL;
    struct plan_opts o = {.target = "Test"};
    CHECK_OK(plan_src("FROM busybox AS deps\nFROM busybox AS unused\n"
                      "FROM busybox AS build\nCOPY --from=deps /a /a\n"
                      "FROM scratch AS test\nCOPY --from=2 /b /b\nRUN "
                      "--mount=type=cache,from=deps,target=/c true\n"
                      "FROM busybox\n",
                      &o, &p, &f, &err));
    CHECK_INT(p->nstages, 5);
    CHECK_INT(p->target, 3);
    CHECK(p->stages[0].needed);
    CHECK(!p->stages[1].needed);
    CHECK(p->stages[2].needed);
    CHECK(p->stages[3].needed);
    CHECK(!p->stages[4].needed);
    CHECK_INT(p->stages[3].ndeps, 2);
    plan_free(p);
    df_file_free(f);
}

TEST(platform_args_are_predefined)
{
    struct ib_err *err = NULL;
    struct plan *p = NULL;
    struct df_file *f = NULL;
    struct plan_opts o = {.platform = "linux/arm64/v8"};
    CHECK_OK(plan_src("FROM --platform=$BUILDPLATFORM busybox AS b\nFROM img-$TARGETARCH\n", &o, &p,
                      &f, &err));
    CHECK_STR(p->stages[1].base, "img-arm64");
    CHECK_STR(plan_vars_get(&p->global_args, "TARGETPLATFORM"), "linux/arm64");
    CHECK(p->stages[0].platform != NULL);
    plan_free(p);
    df_file_free(f);
}

static void
expect_error(const char *src, const struct plan_opts *o, const char *needle)
{
    struct ib_err *err = NULL;
    struct plan *p = NULL;
    struct df_file *f = NULL;
    int rc = plan_src(src, o, &p, &f, &err);
    bool ok = rc < 0 && err && strstr(err->msg, needle);
    ib_test_case(ok, "error containing '%s' (got: %s)", needle, err ? err->msg : "no error");
    ib_err_free(err);
    plan_free(p);
    df_file_free(f);
}

TEST(plan_errors)
{
    struct plan_opts none = {0};
    struct plan_opts bad_target = {.target = "nope"};
    struct plan_opts bad_platform = {.platform = "linux"};
    expect_error("RUN true\n", &none, "Dockerfile:1:1: no build stage");
    expect_error("ARG X\n", &none, "no FROM instruction");
    expect_error("FROM a AS x\nFROM b AS X\n", &none, "duplicate stage name 'x'");
    expect_error("FROM a AS 1x\n", &none, "invalid name for build stage");
    expect_error("FROM a b\n", &none, "FROM requires either one or three arguments");
    expect_error("FROM a\n", &bad_target, "target stage 'nope' could not be found");
    expect_error("FROM a\n", &bad_platform, "invalid platform 'linux'");
    expect_error("ARG B\nFROM $B\n", &none, "should not be blank");
    expect_error("FROM ${X:?need X}\n", &none, "need X");
}

TEST(named_context_replaces_stage_and_image)
{
    struct ib_err *err = NULL;
    struct plan *p = NULL;
    struct df_file *f = NULL;
    const char *ctx[] = {"src", "alpine"};
    struct plan_opts o = {.contexts = ctx, .ncontexts = 2};
    CHECK_OK(plan_src("FROM scratch AS src\nCOPY x /x\nFROM busybox AS other\n"
                      "FROM alpine AS final\nCOPY --from=src a /a\n"
                      "RUN --mount=from=src,target=/m true\nFROM src\n",
                      &o, &p, &f, &err));
    CHECK_INT(p->nstages, 4);
    CHECK_INT(plan_context_lookup(p, "src"), 0);
    CHECK_INT(plan_context_lookup(p, "alpine"), 1);
    CHECK_INT(plan_context_lookup(p, "other"), -1);
    CHECK_INT(p->stages[2].base_context, 1); /* FROM alpine: the context */
    CHECK_INT(p->stages[2].ndeps, 0);        /* --from=src: not the stage */
    CHECK_INT(p->stages[3].base_context, 0); /* FROM src: the context, not stage 0 */
    CHECK_INT(p->stages[3].base_stage, -1);
    CHECK(!p->stages[0].needed); /* the replaced stage is not built */
    CHECK_INT(p->stages[1].base_context, -1);
    plan_free(p);
    df_file_free(f);
}
