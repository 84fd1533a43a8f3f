/* builder/plan.c: stages, global ARGs, FROM references and --target. */
#include "builder/plan.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

/* ---- variables ----------------------------------------------------------- */

long
plan_vars_find(const struct plan_vars *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->names[i], name) == 0)
            return (long)i;
    return -1;
}

const char *
plan_vars_get(const struct plan_vars *v, const char *name)
{
    long i = plan_vars_find(v, name);
    return i < 0 ? NULL : v->values[i];
}

void
plan_vars_set(struct plan_vars *v, const char *name, const char *value)
{
    long i = plan_vars_find(v, name);
    if (i >= 0) {
        free(v->values[i]);
        v->values[i] = value ? ib_xstrdup(value) : NULL;
        return;
    }
    size_t cap = v->cap;
    IB_GROW(v->names, v->n + 1, cap);
    IB_GROW(v->values, v->n + 1, v->cap);
    v->names[v->n] = ib_xstrdup(name);
    v->values[v->n] = value ? ib_xstrdup(value) : NULL;
    v->n++;
}

void
plan_vars_release(struct plan_vars *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->names[i]);
        free(v->values[i]);
    }
    free(v->names);
    free(v->values);
    memset(v, 0, sizeof(*v));
}

/* ---- platforms ------------------------------------------------------------ */

void
plan_platform_release(struct plan_platform *p)
{
    free(p->os);
    free(p->arch);
    free(p->variant);
    memset(p, 0, sizeof(*p));
}

static char *
lower_dup(const char *s, size_t n)
{
    char *d = ib_xstrndup(s, n);
    for (char *c = d; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return d;
}

/* Normalize the architecture names that uname and users write (as containerd does). */
static void
normalize_arch(struct plan_platform *p)
{
    static const struct {
        const char *from, *arch, *variant;
    } map[] = {
        {"x86_64", "amd64", NULL}, {"x86-64", "amd64", NULL},  {"i386", "386", NULL},
        {"i686", "386", NULL},     {"aarch64", "arm64", NULL}, {"armhf", "arm", "v7"},
        {"armel", "arm", "v6"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(p->arch, map[i].from) == 0) {
            free(p->arch);
            p->arch = ib_xstrdup(map[i].arch);
            if (map[i].variant && !p->variant)
                p->variant = ib_xstrdup(map[i].variant);
        }
    }
    if (strcmp(p->arch, "arm64") == 0 && p->variant && strcmp(p->variant, "v8") == 0) {
        free(p->variant); /* arm64 implies v8; keep the canonical short form */
        p->variant = NULL;
    }
}

int
plan_platform_parse(const char *s, struct plan_platform *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    const char *a = strchr(s, '/');
    if (!a || a == s || !a[1])
        return ib_fail(err, IB_E_USAGE,
                       "invalid platform '%s': expected os/arch[/variant], e.g. linux/amd64", s);
    const char *v = strchr(a + 1, '/');
    if (v && (!v[1] || strchr(v + 1, '/') || v == a + 1))
        return ib_fail(err, IB_E_USAGE,
                       "invalid platform '%s': expected os/arch[/variant], e.g. linux/amd64", s);
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '/' && *c != '_' && *c != '-' && *c != '.')
            return ib_fail(err, IB_E_USAGE, "invalid platform '%s': bad character '%c'", s, *c);
    out->os = lower_dup(s, (size_t)(a - s));
    out->arch = lower_dup(a + 1, v ? (size_t)(v - a - 1) : strlen(a + 1));
    out->variant = v ? lower_dup(v + 1, strlen(v + 1)) : NULL;
    normalize_arch(out);
    return 0;
}

char *
plan_platform_string(const struct plan_platform *p)
{
    if (p->variant)
        return ib_xasprintf("%s/%s/%s", p->os, p->arch, p->variant);
    return ib_xasprintf("%s/%s", p->os, p->arch);
}

void
plan_platform_host(struct plan_platform *out)
{
    struct utsname u;
    memset(out, 0, sizeof(*out));
    out->os = ib_xstrdup("linux");
    out->arch = ib_xstrdup(uname(&u) == 0 ? u.machine : "amd64");
    normalize_arch(out);
}

/* ---- errors at an instruction ------------------------------------------- */

static int fail_at(const struct plan *p, const struct df_instr *in, struct ib_err **err,
                   const char *fmt, ...) IB_PRINTF(4, 5);

static int
fail_at(const struct plan *p, const struct df_instr *in, struct ib_err **err, const char *fmt, ...)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    va_list ap;
    ib_buf_addf(&b, "%s:%u:%u: ", p->file->name ? p->file->name : "Dockerfile", in->start_line,
                in->col ? in->col : 1);
    va_start(ap, fmt);
    ib_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    if (in->original)
        ib_buf_addf(&b, "\n %5u | %s", in->start_line, in->original);
    return ib_fail(err, IB_E_PARSE, "%s", b.s);
}

/* ---- planning ------------------------------------------------------------- */

static const char *
lookup_vars(void *ctx, const char *name)
{
    return plan_vars_get(ctx, name);
}

static int
expand(const struct plan *p, const struct df_instr *in, const struct plan_vars *vars,
       const char *word, char **out, struct ib_err **err)
{
    struct df_expander x = {.lookup = lookup_vars, .ctx = (void *)vars, .escape = p->file->escape};
    AUTO_ERR struct ib_err *e = NULL;
    if (df_expand_word(&x, word, out, &e) < 0)
        return fail_at(p, in, err, "%s", e->msg);
    return 0;
}

/* Apply one ARG instruction's words to vars: NAME or NAME=default (default expanded
 * with vars), overridden by a --build-arg of the same name. */
static int
apply_arg(const struct plan *p, const struct df_instr *in, struct plan_vars *vars,
          struct ib_err **err)
{
    if (in->nargs == 0)
        return fail_at(p, in, err, "ARG requires at least one argument");
    for (size_t i = 0; i < in->nargs; i++) {
        const char *w = in->args[i];
        const char *eq = strchr(w, '=');
        AUTO_FREE char *name = ib_xstrndup(w, eq ? (size_t)(eq - w) : strlen(w));
        if (!*name)
            return fail_at(p, in, err, "ARG names can not be blank");
        AUTO_FREE char *value = NULL;
        if (eq && expand(p, in, vars, eq + 1, &value, err) < 0)
            return -1;
        long bi = plan_vars_find(&p->build_args, name);
        if (bi >= 0 && p->build_args.values[bi])
            plan_vars_set(vars, name, p->build_args.values[bi]);
        else
            plan_vars_set(vars, name, value);
    }
    return 0;
}

bool
plan_valid_stage_name(const char *s)
{
    if (!islower((unsigned char)s[0]))
        return false;
    for (const char *c = s + 1; *c; c++)
        if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '-' && *c != '_' &&
            *c != '.')
            return false;
    return true;
}

long
plan_stage_lookup(const struct plan *p, const char *name, size_t before)
{
    if (!*name)
        return -1;
    bool digits = true;
    for (const char *c = name; *c; c++)
        digits = digits && isdigit((unsigned char)*c);
    if (digits) {
        unsigned long i = strtoul(name, NULL, 10);
        return i < before && strlen(name) < 10 ? (long)i : -1;
    }
    for (size_t i = 0; i < before && i < p->nstages; i++)
        if (p->stages[i].name && strcasecmp(p->stages[i].name, name) == 0)
            return (long)i;
    return -1;
}

long
plan_context_lookup(const struct plan *p, const char *name)
{
    for (size_t i = 0; i < p->contexts.n; i++)
        if (strcmp(p->contexts.v[i], name) == 0)
            return (long)i;
    return -1;
}

static void
add_dep(struct plan_stage *st, size_t dep)
{
    for (size_t i = 0; i < st->ndeps; i++)
        if (st->deps[i] == dep)
            return;
    st->deps = ib_xreallocarray(st->deps, st->ndeps + 1, sizeof(*st->deps));
    st->deps[st->ndeps++] = dep;
}

/* The value of flag --NAME=value in an instruction, or NULL. */
static const char *
flag_value(const struct df_instr *in, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < in->nflags; i++) {
        const char *f = in->flags[i];
        if (strncmp(f, "--", 2) == 0 && strncmp(f + 2, name, n) == 0 && f[2 + n] == '=')
            return f + 3 + n;
    }
    return NULL;
}

/* A stage reference from COPY --from=X or RUN --mount=...,from=X, ... */
static int
note_from_ref(struct plan *p, struct plan_stage *st, const struct df_instr *in,
              const struct plan_vars *vars, const char *ref, struct ib_err **err)
{
    AUTO_FREE char *x = NULL;
    if (expand(p, in, vars, ref, &x, err) < 0)
        return -1;
    if (plan_context_lookup(p, x) >= 0)
        return 0; /* a named context: no stage of that name is read */
    long dep = plan_stage_lookup(p, x, st->index);
    if (dep >= 0) {
        add_dep(st, (size_t)dep);
        return 0;
    }
    if (strcasecmp(x, st->name ? st->name : "") == 0)
        return fail_at(p, in, err, "stage '%s' cannot copy from itself", x);
    return 0; /* an image reference; the build engine resolves it */
}

static int
scan_mount_froms(struct plan *p, struct plan_stage *st, const struct df_instr *in,
                 const struct plan_vars *vars, struct ib_err **err)
{
    for (size_t i = 0; i < in->nflags; i++) {
        const char *f = in->flags[i];
        if (strncmp(f, "--mount=", 8) != 0)
            continue;
        AUTO_FREE char *spec = ib_xstrdup(f + 8);
        for (char *save = NULL, *kv = strtok_r(spec, ",", &save); kv;
             kv = strtok_r(NULL, ",", &save)) {
            if (strncmp(kv, "from=", 5) == 0 && note_from_ref(p, st, in, vars, kv + 5, err) < 0)
                return -1;
        }
    }
    return 0;
}

static void
mark_needed(struct plan *p, size_t i)
{
    struct plan_stage *st = &p->stages[i];
    if (st->needed)
        return;
    st->needed = true;
    for (size_t d = 0; d < st->ndeps; d++)
        mark_needed(p, st->deps[d]);
}

static int
parse_build_args(struct plan *p, const struct plan_opts *o, struct ib_err **err)
{
    for (size_t i = 0; i < o->nbuild_args; i++) {
        const char *a = o->build_args[i];
        const char *eq = strchr(a, '=');
        AUTO_FREE char *name = ib_xstrndup(a, eq ? (size_t)(eq - a) : strlen(a));
        if (!*name)
            return ib_fail(err, IB_E_USAGE, "invalid --build-arg '%s': empty name", a);
        /* "--build-arg NAME" takes the value from the environment, as docker does */
        const char *value = eq ? eq + 1 : getenv(name);
        if (!eq && !value)
            continue;
        plan_vars_set(&p->build_args, name, value);
    }
    return 0;
}

static void
set_platform_args(struct plan_vars *v, const char *prefix, const struct plan_platform *pf)
{
    AUTO_FREE char *s = plan_platform_string(pf);
    AUTO_FREE char *k1 = ib_xasprintf("%sPLATFORM", prefix);
    AUTO_FREE char *k2 = ib_xasprintf("%sOS", prefix);
    AUTO_FREE char *k3 = ib_xasprintf("%sARCH", prefix);
    AUTO_FREE char *k4 = ib_xasprintf("%sVARIANT", prefix);
    plan_vars_set(v, k1, s);
    plan_vars_set(v, k2, pf->os);
    plan_vars_set(v, k3, pf->arch);
    plan_vars_set(v, k4, pf->variant ? pf->variant : "");
}

static int
start_stage(struct plan *p, const struct df_instr *in, struct ib_err **err)
{
    if (in->nargs != 1 && !(in->nargs == 3 && strcasecmp(in->args[1], "AS") == 0))
        return fail_at(p, in, err,
                       "FROM requires either one or three arguments "
                       "(FROM image [AS name])");
    p->stages = ib_xreallocarray(p->stages, p->nstages + 1, sizeof(*p->stages));
    struct plan_stage *st = &p->stages[p->nstages];
    memset(st, 0, sizeof(*st));
    st->index = p->nstages++;
    st->from = in;
    st->base_stage = -1;
    st->base_context = -1;
    if (in->nargs == 3) {
        st->name = lower_dup(in->args[2], strlen(in->args[2]));
        if (!plan_valid_stage_name(st->name))
            return fail_at(p, in, err,
                           "invalid name for build stage: '%s', name can't start with a "
                           "number or contain symbols",
                           in->args[2]);
        for (size_t i = 0; i + 1 < p->nstages; i++)
            if (p->stages[i].name && strcmp(p->stages[i].name, st->name) == 0)
                return fail_at(p, in, err, "duplicate stage name '%s' (first at line %u)", st->name,
                               p->stages[i].from->start_line);
    }
    if (expand(p, in, &p->global_args, in->args[0], &st->base, err) < 0)
        return -1;
    if (!*st->base)
        return fail_at(p, in, err, "base name (%s) should not be blank", in->args[0]);
    const char *pf = flag_value(in, "platform");
    if (pf && expand(p, in, &p->global_args, pf, &st->platform, err) < 0)
        return -1;
    for (size_t i = 0; i < in->nflags; i++)
        if (strncmp(in->flags[i], "--platform=", 11) != 0)
            return fail_at(p, in, err, "unknown flag for FROM: %s", in->flags[i]);
    st->base_context = plan_context_lookup(p, st->base);
    long base = st->base_context >= 0 ? -1 : plan_stage_lookup(p, st->base, st->index);
    if (base >= 0 && !isdigit((unsigned char)st->base[0])) {
        st->base_stage = base;
        add_dep(st, (size_t)base);
    }
    return 0;
}

static int
scan_instrs(struct plan *p, struct plan_vars *stage_vars, struct ib_err **err)
{
    const struct df_file *f = p->file;
    for (size_t i = 0; i < f->ninstrs; i++) {
        const struct df_instr *in = &f->instrs[i];
        if (in->kind == DF_FROM) {
            if (start_stage(p, in, err) < 0)
                return -1;
            /* a stage sees the global ARGs only after re-declaring them */
            plan_vars_release(stage_vars);
            continue;
        }
        if (p->nstages == 0) {
            if (in->kind != DF_ARG)
                return fail_at(p, in, err,
                               "no build stage in current context: %s must come after FROM",
                               df_kind_name(in->kind));
            if (apply_arg(p, in, &p->global_args, err) < 0)
                return -1;
            continue;
        }
        struct plan_stage *st = &p->stages[p->nstages - 1];
        st->instrs = ib_xreallocarray(st->instrs, st->ninstrs + 1, sizeof(*st->instrs));
        st->instrs[st->ninstrs++] = in;
        if (in->kind == DF_ARG) {
            /* a re-declared global ARG takes its global value as the default */
            for (size_t a = 0; a < in->nargs; a++) {
                const char *w = in->args[a];
                const char *eq = strchr(w, '=');
                AUTO_FREE char *name = ib_xstrndup(w, eq ? (size_t)(eq - w) : strlen(w));
                long gi = plan_vars_find(&p->global_args, name);
                if (!eq && gi >= 0)
                    plan_vars_set(stage_vars, name, p->global_args.values[gi]);
            }
            if (apply_arg(p, in, stage_vars, err) < 0)
                return -1;
        }
        const char *from = flag_value(in, "from");
        if (from && (in->kind == DF_COPY || in->kind == DF_ADD) &&
            note_from_ref(p, st, in, stage_vars, from, err) < 0)
            return -1;
        if (in->kind == DF_RUN && scan_mount_froms(p, st, in, stage_vars, err) < 0)
            return -1;
    }
    return 0;
}

static int
make_plan(struct plan *p, const struct plan_opts *o, struct ib_err **err)
{
    const struct df_file *f = p->file;
    plan_platform_host(&p->build_platform);
    if (o->platform) {
        if (plan_platform_parse(o->platform, &p->target_platform, err) < 0)
            return -1;
    } else {
        plan_platform_host(&p->target_platform);
    }
    if (parse_build_args(p, o, err) < 0)
        return -1;
    for (size_t i = 0; i < o->ncontexts; i++)
        ib_strv_push(&p->contexts, o->contexts[i]);
    set_platform_args(&p->global_args, "BUILD", &p->build_platform);
    set_platform_args(&p->global_args, "TARGET", &p->target_platform);

    struct plan_vars stage_vars = {0};
    int rc = scan_instrs(p, &stage_vars, err);
    plan_vars_release(&stage_vars);
    if (rc < 0)
        return -1;
    if (p->nstages == 0)
        return ib_fail(err, IB_E_PARSE,
                       "%s: no FROM instruction: a Dockerfile needs at least one stage",
                       f->name ? f->name : "Dockerfile");
    p->target = p->nstages - 1;
    if (o->target && *o->target) {
        long t = -1;
        for (size_t i = 0; i < p->nstages; i++)
            if (p->stages[i].name && strcasecmp(p->stages[i].name, o->target) == 0)
                t = (long)i;
        if (t < 0)
            return ib_fail(err, IB_E_USAGE, "target stage '%s' could not be found in %s", o->target,
                           f->name ? f->name : "Dockerfile");
        p->target = (size_t)t;
    }
    mark_needed(p, p->target);
    return 0;
}

int
plan_new(const struct df_file *f, const struct plan_opts *o, struct plan **out, struct ib_err **err)
{
    struct plan *p = ib_xcalloc(1, sizeof(*p));
    p->file = f;
    if (make_plan(p, o, err) < 0) {
        plan_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void
plan_free(struct plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nstages; i++) {
        struct plan_stage *st = &p->stages[i];
        free(st->name);
        free(st->base);
        free(st->platform);
        free(st->instrs);
        free(st->deps);
    }
    free(p->stages);
    plan_vars_release(&p->global_args);
    plan_vars_release(&p->build_args);
    ib_strv_release(&p->contexts);
    plan_platform_release(&p->target_platform);
    plan_platform_release(&p->build_platform);
    free(p);
}
