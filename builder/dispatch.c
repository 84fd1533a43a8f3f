/* builder/dispatch.c: one instruction at a time, with BuildKit's meaning.
 *
 * Metadata instructions (ENV, LABEL, CMD, ...) change the image config and add
 * an empty_layer history entry written as BuildKit writes it; RUN (run.c),
 * COPY/ADD (copy.c) and WORKDIR (a mkdir) change files.
 */
#include "builder/build.h"
#include "builder/sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

/* ---- JSON and Go formatting ----------------------------------------------------- */

void
json_str(struct ib_buf *b, const char *s)
{
    ib_buf_addc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            ib_buf_addf(b, "\\%c", *p);
        else if (*p == '\n')
            ib_buf_adds(b, "\\n");
        else if (*p == '\t')
            ib_buf_adds(b, "\\t");
        else if (*p == '\r')
            ib_buf_adds(b, "\\r");
        else if (*p < 0x20)
            ib_buf_addf(b, "\\u%04x", *p);
        else
            ib_buf_addc(b, (char)*p);
    }
    ib_buf_addc(b, '"');
}

void
json_strv(struct ib_buf *b, char *const *v, size_t n)
{
    ib_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            ib_buf_addc(b, ',');
        json_str(b, v[i]);
    }
    ib_buf_addc(b, ']');
}

void
go_quote_strv(struct ib_buf *b, char *const *v, size_t n)
{
    ib_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            ib_buf_addc(b, ' ');
        json_str(b, v[i]); /* strconv.Quote agrees for the common characters */
    }
    ib_buf_addc(b, ']');
}

/* ---- stage state ------------------------------------------------------------------ */

static void
env_load(struct bstage *s, struct ib_strv *env)
{
    store_image_config_strv(s->img, "Env", env);
}

static const char *
env_get(char *const *env, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return env[i] + len + 1;
    return NULL;
}

struct lookup_ctx {
    struct bstage *s;
    struct ib_strv env;
};

const char *
stage_lookup(void *ctx, const char *name)
{
    struct lookup_ctx *l = ctx;
    const char *v = env_get(l->env.v, l->env.n, name);
    return v ? v : plan_vars_get(&l->s->args, name);
}

int
stage_expand(struct bctx *b, struct bstage *s, const struct df_instr *in, const char *word,
             char **out, struct ib_err **err)
{
    struct lookup_ctx l = {.s = s};
    env_load(s, &l.env);
    struct df_expander x = {.lookup = stage_lookup, .ctx = &l, .escape = b->df->escape};
    AUTO_ERR struct ib_err *e = NULL;
    int rc = df_expand_word(&x, word, out, &e);
    ib_strv_release(&l.env);
    if (rc < 0)
        return build_fail_at(b, in, IB_E_PARSE, err, "%s", e->msg);
    return 0;
}

static int
expand_words(struct bctx *b, struct bstage *s, const struct df_instr *in, const char *text,
             struct ib_strv *out, struct ib_err **err)
{
    struct lookup_ctx l = {.s = s};
    env_load(s, &l.env);
    struct df_expander x = {.lookup = stage_lookup, .ctx = &l, .escape = b->df->escape};
    AUTO_ERR struct ib_err *e = NULL;
    int rc = df_expand_words(&x, text, out, &e);
    ib_strv_release(&l.env);
    if (rc < 0)
        return build_fail_at(b, in, IB_E_PARSE, err, "%s", e->msg);
    return 0;
}

void
stage_run_env(struct bctx *b, struct bstage *s, struct ib_strv *env)
{
    static const char *const proxies[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                          "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                          "ALL_PROXY",  "all_proxy",  NULL};
    env_load(s, env);
    size_t nenv = env->n;
    for (size_t i = 0; i < s->args.n; i++)
        if (s->args.values[i] && !env_get(env->v, nenv, s->args.names[i]))
            ib_strv_pushf(env, "%s=%s", s->args.names[i], s->args.values[i]);
    for (size_t i = 0; proxies[i]; i++) {
        const char *v = plan_vars_get(&b->plan->build_args, proxies[i]);
        if (v && !env_get(env->v, env->n, proxies[i]))
            ib_strv_pushf(env, "%s=%s", proxies[i], v);
    }
}

const char *
stage_workdir(struct bstage *s)
{
    const char *w = store_image_config_str(s->img, "WorkingDir");
    return w && *w ? w : "/";
}

void
stage_shell(struct bstage *s, struct ib_strv *out)
{
    if (store_image_config_strv(s->img, "Shell", out) && out->n)
        return;
    ib_strv_release(out);
    ib_strv_push(out, "/bin/sh");
    ib_strv_push(out, "-c");
}

const char *
instr_flag(const struct df_instr *in, const char *name)
{
    size_t n = strlen(name);
    const char *v = NULL;
    for (size_t i = 0; i < in->nflags; i++) {
        const char *f = in->flags[i];
        if (strncmp(f, "--", 2) == 0 && strncmp(f + 2, name, n) == 0 &&
            (f[2 + n] == '=' || f[2 + n] == '\0'))
            v = f[2 + n] == '=' ? f + 3 + n : "true";
    }
    return v;
}

static int
check_flags(struct bctx *b, const struct df_instr *in, const char *const *allowed,
            struct ib_err **err)
{
    for (size_t i = 0; i < in->nflags; i++) {
        const char *f = in->flags[i] + 2;
        size_t n = strcspn(f, "=");
        bool ok = false;
        for (size_t j = 0; allowed && allowed[j] && !ok; j++)
            ok = strlen(allowed[j]) == n && strncmp(allowed[j], f, n) == 0;
        if (!ok)
            return build_fail_at(b, in, IB_E_PARSE, err, "unknown flag: --%.*s", (int)n, f);
    }
    return 0;
}

static int
history(struct bctx *b, struct bstage *s, const char *msg)
{
    (void)b;
    store_image_add_history(s->img, msg);
    return 0;
}

/* ---- ENV, ARG, LABEL ------------------------------------------------------------ */

static int
do_env(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    if (in->nargs == 0 || in->nargs % 3)
        return build_fail_at(b, in, IB_E_PARSE, err, "ENV requires at least one argument");
    AUTO_STRV struct ib_strv env = IB_STRV_INIT;
    env_load(s, &env);
    AUTO_STRV struct ib_strv vals = IB_STRV_INIT;
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    ib_buf_adds(&msg, "ENV");
    for (size_t i = 0; i < in->nargs; i += 3) {
        char *v = NULL;
        if (stage_expand(b, s, in, in->args[i + 1], &v, err) < 0)
            return -1;
        ib_strv_push_owned(&vals, v);
    }
    for (size_t i = 0; i < in->nargs; i += 3) {
        const char *k = in->args[i], *v = vals.v[i / 3];
        ib_buf_addf(&msg, " %s=%s", k, v);
        size_t kl = strlen(k);
        bool done = false;
        for (size_t j = 0; j < env.n && !done; j++) {
            if (strncmp(env.v[j], k, kl) == 0 && env.v[j][kl] == '=') {
                free(env.v[j]);
                env.v[j] = ib_xasprintf("%s=%s", k, v);
                done = true;
            }
        }
        if (!done)
            ib_strv_pushf(&env, "%s=%s", k, v);
    }
    AUTO_BUF struct ib_buf j = IB_BUF_INIT;
    json_strv(&j, env.v, env.n);
    if (store_image_config_set(s->img, "Env", j.s, err) < 0)
        return -1;
    return history(b, s, msg.s);
}

static int
do_arg(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    if (in->nargs == 0)
        return build_fail_at(b, in, IB_E_PARSE, err, "ARG requires at least one argument");
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    ib_buf_adds(&msg, "ARG");
    for (size_t i = 0; i < in->nargs; i++) {
        const char *w = in->args[i];
        const char *eq = strchr(w, '=');
        AUTO_FREE char *name = ib_xstrndup(w, eq ? (size_t)(eq - w) : strlen(w));
        if (!*name)
            return build_fail_at(b, in, IB_E_PARSE, err, "ARG names can not be blank");
        AUTO_FREE char *value = NULL;
        if (eq && stage_expand(b, s, in, eq + 1, &value, err) < 0)
            return -1;
        long gi = plan_vars_find(&b->plan->global_args, name);
        if (!eq && gi >= 0 && b->plan->global_args.values[gi])
            value = ib_xstrdup(b->plan->global_args.values[gi]);
        const char *given = plan_vars_get(&b->plan->build_args, name);
        if (plan_vars_find(&b->plan->build_args, name) >= 0) {
            pthread_mutex_lock(&b->lock);
            ib_strv_push(&b->used_args, name);
            pthread_mutex_unlock(&b->lock);
        }
        if (given) {
            free(value);
            value = ib_xstrdup(given);
        }
        plan_vars_set(&s->args, name, value);
        ib_buf_addf(&msg, " %s%s%s", name, value ? "=" : "", value ? value : "");
    }
    return history(b, s, msg.s);
}

static int
do_label(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    if (in->nargs == 0 || in->nargs % 3)
        return build_fail_at(b, in, IB_E_PARSE, err, "LABEL requires at least one argument");
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    ib_buf_adds(&msg, "LABEL");
    for (size_t i = 0; i < in->nargs; i += 3) {
        AUTO_FREE char *k = NULL;
        AUTO_FREE char *v = NULL;
        if (stage_expand(b, s, in, in->args[i], &k, err) < 0 ||
            stage_expand(b, s, in, in->args[i + 1], &v, err) < 0)
            return -1;
        AUTO_BUF struct ib_buf j = IB_BUF_INIT;
        json_str(&j, v);
        if (store_image_config_set_entry(s->img, "Labels", k, j.s, err) < 0)
            return -1;
        ib_buf_addf(&msg, " %s=%s", k, v);
    }
    return history(b, s, msg.s);
}

/* ---- CMD, ENTRYPOINT, SHELL, HEALTHCHECK -------------------------------------------- */

/* The command of CMD/ENTRYPOINT/HEALTHCHECK: exec form as is, shell form through SHELL. */
static void
command_of(struct bstage *s, const struct df_instr *in, size_t from, struct ib_strv *out)
{
    if (in->json) {
        for (size_t i = from; i < in->nargs; i++)
            ib_strv_pushn(out, in->args[i], in->arg_lens[i]);
        return;
    }
    stage_shell(s, out);
    if (from < in->nargs)
        ib_strv_push(out, in->args[from]);
}

static int
do_cmd(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    AUTO_STRV struct ib_strv cmd = IB_STRV_INIT;
    command_of(s, in, 0, &cmd);
    AUTO_BUF struct ib_buf j = IB_BUF_INIT;
    json_strv(&j, cmd.v, cmd.n);
    bool entry = in->kind == DF_ENTRYPOINT;
    if (store_image_config_set(s->img, entry ? "Entrypoint" : "Cmd", j.s, err) < 0)
        return -1;
    if (entry && !s->cmd_set && store_image_config_set(s->img, "Cmd", "null", err) < 0)
        return -1;
    if (!entry)
        s->cmd_set = true;
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    ib_buf_adds(&msg, entry ? "ENTRYPOINT " : "CMD ");
    go_quote_strv(&msg, cmd.v, cmd.n);
    return history(b, s, msg.s);
}

static int
do_shell(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    if (!in->json || in->nargs == 0)
        return build_fail_at(b, in, IB_E_PARSE, err,
                             "SHELL requires the arguments to be in JSON form");
    AUTO_BUF struct ib_buf j = IB_BUF_INIT;
    json_strv(&j, in->args, in->nargs);
    if (store_image_config_set(s->img, "Shell", j.s, err) < 0)
        return -1;
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    ib_buf_adds(&msg, "SHELL [");
    for (size_t i = 0; i < in->nargs; i++)
        ib_buf_addf(&msg, "%s%s", i ? " " : "", in->args[i]);
    ib_buf_addc(&msg, ']');
    return history(b, s, msg.s);
}

/* Go's time.ParseDuration for the units Docker accepts. */
static int
parse_duration(const char *s, int64_t *ns)
{
    static const struct {
        const char *u;
        double mul;
    } units[] = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},  {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    double total = 0;
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (!*s)
        return -1;
    while (*s) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || v < 0)
            return -1;
        s = end;
        size_t best = 0, bi = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].u);
            if (strncmp(s, units[i].u, n) == 0 && n > best) {
                best = n;
                bi = i;
            }
        }
        if (!best)
            return -1;
        total += v * units[bi].mul;
        s += best;
    }
    *ns = (int64_t)total;
    return 0;
}

static int
do_healthcheck(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    static const char *const allowed[] = {"interval",       "timeout", "start-period",
                                          "start-interval", "retries", NULL};
    static const char *const keys[] = {"Interval", "Timeout", "StartPeriod", "StartInterval"};
    if (check_flags(b, in, allowed, err) < 0)
        return -1;
    AUTO_BUF struct ib_buf j = IB_BUF_INIT;
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    if (in->nargs >= 1 && strcasecmp(in->args[0], "NONE") == 0) {
        if (in->nargs > 1 || in->nflags)
            return build_fail_at(b, in, IB_E_PARSE, err,
                                 "HEALTHCHECK NONE takes no arguments or flags");
        ib_buf_adds(&j, "{\"Test\":[\"NONE\"]}");
        ib_buf_adds(&msg, "HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" \"0s\" '\\x00'}");
    } else {
        if (in->nargs < 2 || strcasecmp(in->args[0], "CMD") != 0)
            return build_fail_at(b, in, IB_E_PARSE, err,
                                 "HEALTHCHECK needs CMD followed by a command, or NONE");
        AUTO_STRV struct ib_strv test = IB_STRV_INIT;
        ib_strv_push(&test, in->json ? "CMD" : "CMD-SHELL");
        for (size_t i = 1; i < in->nargs; i++)
            ib_strv_pushn(&test, in->args[i], in->arg_lens[i]);
        ib_buf_adds(&j, "{\"Test\":");
        json_strv(&j, test.v, test.n);
        ib_buf_adds(&msg, "HEALTHCHECK &{");
        go_quote_strv(&msg, test.v, test.n);
        const char *names[] = {"interval", "timeout", "start-period", "start-interval"};
        for (size_t i = 0; i < 4; i++) {
            const char *v = instr_flag(in, names[i]);
            int64_t ns = 0;
            if (v && (parse_duration(v, &ns) < 0 || (ns > 0 && ns < 1000000)))
                return build_fail_at(b, in, IB_E_PARSE, err,
                                     "invalid duration '%s' for --%s (at least 1ms, or 0)", v,
                                     names[i]);
            if (ns)
                ib_buf_addf(&j, ",\"%s\":%lld", keys[i], (long long)ns);
            ib_buf_addf(&msg, " \"%s\"", v && ns ? v : "0s");
        }
        const char *r = instr_flag(in, "retries");
        long retries = 0;
        if (r) {
            char *end;
            retries = strtol(r, &end, 10);
            if (end == r || *end || retries < 0)
                return build_fail_at(b, in, IB_E_PARSE, err, "invalid --retries '%s'", r);
            if (retries)
                ib_buf_addf(&j, ",\"Retries\":%ld", retries);
        }
        ib_buf_addf(&msg, " '\\x%02lx'}", retries & 0xff);
        ib_buf_addc(&j, '}');
    }
    if (store_image_config_set(s->img, "Healthcheck", j.s, err) < 0)
        return -1;
    return history(b, s, msg.s);
}

/* ---- EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER, ONBUILD -------------------- */

static int
add_port(struct bctx *b, struct bstage *s, const struct df_instr *in, const char *spec,
         struct ib_buf *msg, struct ib_err **err)
{
    const char *slash = strchr(spec, '/');
    AUTO_FREE char *proto = ib_xstrdup(slash ? slash + 1 : "tcp");
    for (char *c = proto; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    AUTO_FREE char *ports = ib_xstrndup(spec, slash ? (size_t)(slash - spec) : strlen(spec));
    char *end;
    unsigned long lo = strtoul(ports, &end, 10), hi = lo;
    if (*end == '-')
        hi = strtoul(end + 1, &end, 10);
    if (end == ports || *end || lo == 0 || hi > 65535 || hi < lo ||
        (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")))
        return build_fail_at(b, in, IB_E_PARSE, err, "invalid port '%s' for EXPOSE", spec);
    for (unsigned long p = lo; p <= hi; p++) {
        AUTO_FREE char *k = ib_xasprintf("%lu/%s", p, proto);
        if (store_image_config_set_entry(s->img, "ExposedPorts", k, "{}", err) < 0)
            return -1;
        ib_buf_addf(msg, "%s%s:{}", msg->s[msg->len - 1] == '[' ? "" : " ", k);
    }
    return 0;
}

static int
do_expose(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    ib_buf_adds(&msg, "EXPOSE map[");
    for (size_t i = 0; i < in->nargs; i++) {
        AUTO_STRV struct ib_strv w = IB_STRV_INIT;
        if (expand_words(b, s, in, in->args[i], &w, err) < 0)
            return -1;
        for (size_t k = 0; k < w.n; k++)
            if (add_port(b, s, in, w.v[k], &msg, err) < 0)
                return -1;
    }
    ib_buf_addc(&msg, ']');
    return history(b, s, msg.s);
}

static int
do_volume(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    ib_buf_adds(&msg, "VOLUME [");
    for (size_t i = 0; i < in->nargs; i++) {
        AUTO_FREE char *v = NULL;
        if (stage_expand(b, s, in, in->args[i], &v, err) < 0)
            return -1;
        if (!*v)
            return build_fail_at(b, in, IB_E_PARSE, err,
                                 "VOLUME specified can not be an empty string");
        if (store_image_config_set_entry(s->img, "Volumes", v, "{}", err) < 0)
            return -1;
        ib_buf_addf(&msg, "%s%s", i ? " " : "", v);
    }
    ib_buf_addc(&msg, ']');
    return history(b, s, msg.s);
}

static int
set_string(struct bstage *s, const char *key, const char *v, struct ib_err **err)
{
    AUTO_BUF struct ib_buf j = IB_BUF_INIT;
    json_str(&j, v);
    return store_image_config_set(s->img, key, j.s, err);
}

static int
do_simple(struct bctx *b, struct bstage *s, const struct df_instr *in, const char *key,
          struct ib_err **err)
{
    if (in->nargs != 1)
        return build_fail_at(b, in, IB_E_PARSE, err, "%s requires exactly one argument",
                             df_kind_name(in->kind));
    AUTO_FREE char *v = NULL;
    if (stage_expand(b, s, in, in->args[0], &v, err) < 0)
        return -1;
    if (in->kind == DF_STOPSIGNAL) {
        char *end;
        long n = strtol(v, &end, 10);
        bool ok = (*end == '\0' && end != v && n > 0 && n < 65) ||
                  (strncasecmp(v, "SIG", 3) == 0 && v[3]);
        if (!ok)
            return build_fail_at(b, in, IB_E_PARSE, err, "invalid signal: %s", v);
    }
    if (set_string(s, key, v, err) < 0)
        return -1;
    AUTO_FREE char *msg = ib_xasprintf("%s %s", df_kind_name(in->kind), v);
    return history(b, s, msg);
}

static char *
clean_abs(const char *p)
{
    AUTO_FREE char *tmp = ib_xasprintf("/%s", p);
    return df_path_clean(tmp);
}

static int
do_workdir(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    if (in->nargs != 1)
        return build_fail_at(b, in, IB_E_PARSE, err, "WORKDIR requires exactly one argument");
    AUTO_FREE char *v = NULL;
    if (stage_expand(b, s, in, in->args[0], &v, err) < 0)
        return -1;
    AUTO_FREE char *joined =
        v[0] == '/' ? ib_xstrdup(v) : ib_xasprintf("%s/%s", stage_workdir(s), v);
    AUTO_FREE char *dir = clean_abs(joined);
    if (set_string(s, "WorkingDir", dir, err) < 0)
        return -1;
    return stage_mkdir_workdir(b, s, in, dir, err);
}

static int
do_onbuild(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    const struct df_instr *sub = in->sub;
    if (!sub)
        return build_fail_at(b, in, IB_E_PARSE, err, "ONBUILD requires an instruction");
    if (sub->kind == DF_ONBUILD || sub->kind == DF_FROM || sub->kind == DF_MAINTAINER)
        return build_fail_at(b, in, IB_E_PARSE, err, "%s isn't allowed as an ONBUILD trigger",
                             df_kind_name(sub->kind));
    AUTO_STRV struct ib_strv trig = IB_STRV_INIT;
    store_image_config_strv(s->img, "OnBuild", &trig);
    ib_strv_push(&trig, sub->original);
    AUTO_BUF struct ib_buf j = IB_BUF_INIT;
    json_strv(&j, trig.v, trig.n);
    if (store_image_config_set(s->img, "OnBuild", j.s, err) < 0)
        return -1;
    AUTO_FREE char *msg = ib_xasprintf("ONBUILD %s", sub->original);
    return history(b, s, msg);
}

/* RUN --security=insecure needs the entitlement (build --allow security.insecure).  With it,
 * run.c sees the step without that flag and s->insecure set (runmount_parse puts it in the
 * key, execute() in the sandbox config). */
static int
run_security(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    size_t ninsecure = 0;
    for (size_t i = 0; i < in->nflags; i++)
        ninsecure += strcmp(in->flags[i], "--security=insecure") == 0;
    if (ninsecure == 0)
        return dispatch_run(b, s, in, err);
    if (!b->o->allow_insecure)
        return build_fail_at(b, in, IB_E_BUILD, err,
                             "RUN --security=insecure needs the entitlement 'security.insecure' "
                             "(imgbuild build --allow security.insecure)");
    struct df_instr run = *in;
    run.flags = ib_xcalloc(in->nflags, sizeof(*run.flags));
    run.nflags = 0;
    for (size_t i = 0; i < in->nflags; i++)
        if (strcmp(in->flags[i], "--security=insecure") != 0)
            run.flags[run.nflags++] = in->flags[i];
    s->insecure = true;
    int rc = dispatch_run(b, s, &run, err);
    s->insecure = false;
    free(run.flags);
    return rc;
}

int
dispatch_instr(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    static const char *const no_flags[] = {NULL};
    switch (in->kind) {
    case DF_RUN:
        return run_security(b, s, in, err);
    case DF_COPY:
    case DF_ADD:
        return dispatch_copy(b, s, in, err);
    case DF_ENV:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_env(b, s, in, err);
    case DF_ARG:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_arg(b, s, in, err);
    case DF_LABEL:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_label(b, s, in, err);
    case DF_CMD:
    case DF_ENTRYPOINT:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_cmd(b, s, in, err);
    case DF_SHELL:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_shell(b, s, in, err);
    case DF_HEALTHCHECK:
        return do_healthcheck(b, s, in, err);
    case DF_EXPOSE:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_expose(b, s, in, err);
    case DF_VOLUME:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_volume(b, s, in, err);
    case DF_USER:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_simple(b, s, in, "User", err);
    case DF_STOPSIGNAL:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_simple(b, s, in, "StopSignal", err);
    case DF_WORKDIR:
        return check_flags(b, in, no_flags, err) < 0 ? -1 : do_workdir(b, s, in, err);
    case DF_MAINTAINER: {
        AUTO_BUF struct ib_buf j = IB_BUF_INIT;
        AUTO_BUF struct ib_buf v = IB_BUF_INIT;
        for (size_t i = 0; i < in->nargs; i++)
            ib_buf_addf(&v, "%s%s", i ? " " : "", in->args[i]);
        json_str(&j, v.s);
        if (store_image_config_set_top(s->img, "author", j.s, err) < 0)
            return -1;
        AUTO_FREE char *msg = ib_xasprintf("MAINTAINER %s", v.s);
        return history(b, s, msg);
    }
    case DF_ONBUILD:
        return do_onbuild(b, s, in, err);
    case DF_FROM:
    case DF_UNKNOWN:
        break;
    }
    return build_fail_at(b, in, IB_E_PARSE, err, "unexpected instruction %s", in->keyword);
}
