/* builder/plan.h: from a parsed Dockerfile to the stages a build needs (internal).
 *
 * Global ARGs (before the first FROM) are evaluated with --build-arg values and
 * the predefined platform args, FROM references are expanded with them, stages
 * get their names and dependencies (FROM <stage>, COPY --from, RUN
 * --mount=from=), and the stages the target does not need are marked skipped.
 */
#ifndef IMGBUILD_BUILDER_PLAN_H
#define IMGBUILD_BUILDER_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/strv.h"
#include "parser/parser.h"

/* An ordered set of variables; value NULL means declared without a value. */
struct plan_vars {
    char **names;
    char **values;
    size_t n, cap;
};

void plan_vars_set(struct plan_vars *v, const char *name, const char *value);
/* Returns the slot, or -1; *value is NULL for declared-but-unset. */
long plan_vars_find(const struct plan_vars *v, const char *name);
const char *plan_vars_get(const struct plan_vars *v, const char *name); /* NULL: unset */
void plan_vars_release(struct plan_vars *v);

struct plan_platform {
    char *os, *arch, *variant; /* variant may be NULL */
};

struct plan_opts {
    char *const *build_args; /* "K=V" or "K" (value from the environment) */
    size_t nbuild_args;
    const char *target;   /* stage name, or NULL for the last stage */
    const char *platform; /* target platform "os/arch[/variant]", NULL = host */
    /* Names of the named build contexts: they win over stages and images of that name. */
    const char *const *contexts;
    size_t ncontexts;
};

struct plan_stage {
    size_t index;
    char *name;        /* lower-cased "AS" name, or NULL */
    char *base;        /* expanded FROM argument: an image reference, "scratch" or a stage */
    long base_stage;   /* index of the stage it builds on, or -1 for an image */
    long base_context; /* index of the named context it builds on (FROM NAME), or -1 */
    char *platform;    /* expanded --platform of FROM, or NULL */
    const struct df_instr *from;    /* the FROM instruction */
    const struct df_instr **instrs; /* the instructions after FROM */
    size_t ninstrs;
    size_t *deps; /* stage indexes this stage reads (FROM, --from) */
    size_t ndeps;
    bool needed; /* the target needs it */
};

struct plan {
    const struct df_file *file;
    struct plan_stage *stages;
    size_t nstages;
    size_t target;                /* index of the target stage */
    struct plan_vars global_args; /* global ARGs after --build-arg, plus platform args */
    struct plan_vars build_args;  /* the --build-arg values as given */
    struct ib_strv contexts;      /* names of the named build contexts */
    struct plan_platform target_platform, build_platform;
};

/* *out: plan_free.  f must outlive the plan. */
int plan_new(const struct df_file *f, const struct plan_opts *opts, struct plan **out,
             struct ib_err **err);
void plan_free(struct plan *p);
/* Parse "os/arch[/variant]" (os and arch lower-cased, "amd64" etc. normalized). */
int plan_platform_parse(const char *s, struct plan_platform *out, struct ib_err **err);
void plan_platform_release(struct plan_platform *p);
/* "os/arch[/variant]"; caller frees. */
char *plan_platform_string(const struct plan_platform *p);
/* The host platform (linux/amd64, linux/arm64/v8, ...). */
void plan_platform_host(struct plan_platform *out);
/* Index of the stage named name (case-insensitive) or given as a number among the
 * first `before` stages; -1 if none. */
long plan_stage_lookup(const struct plan *p, const char *name, size_t before);
/* Index of the named build context called name (exactly), or -1.  Look it up before a
 * stage: a named context replaces a stage or an image of the same name. */
long plan_context_lookup(const struct plan *p, const char *name);

/* A stage name (FROM ... AS NAME; also --build-context names): a lowercase letter, then
 * lowercase letters, digits, '-', '_' and '.'. */
bool plan_valid_stage_name(const char *s);

#endif
