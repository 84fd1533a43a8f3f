/* builder/run.c: RUN steps: the command line (shell/exec form, heredocs), its environment,
 * the cache key, the sandbox over the stage's snapshots, and the commit of the upper dir.
 */
#include "builder/build.h"
#include "builder/runmount.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define TAIL_LINES 15
#define TAIL_KEEP 16384

/* ---- output capture ------------------------------------------------------------ */

struct capture {
    struct bctx *b;
    unsigned step;
    int fd;
    struct ib_buf tail; /* the last bytes of output */
    struct ib_buf line;
};

static void
emit_line(struct capture *c)
{
    build_emit(c->b, BUILD_EV_STEP_OUTPUT, c->step, c->line.s, 0, NULL);
    ib_buf_reset(&c->line);
}

static void *
capture_thread(void *arg)
{
    struct capture *c = arg;
    char buf[8192];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ib_buf_add(&c->tail, buf, (size_t)n);
        if (c->tail.len > 2 * TAIL_KEEP) {
            size_t drop = c->tail.len - TAIL_KEEP;
            memmove(c->tail.s, c->tail.s + drop, c->tail.len - drop);
            ib_buf_truncate(&c->tail, c->tail.len - drop);
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n')
                emit_line(c);
            else if (buf[i] != '\r' && c->line.len < 4096)
                ib_buf_addc(&c->line, buf[i]);
        }
    }
    if (c->line.len)
        emit_line(c);
    return NULL;
}

/* The last TAIL_LINES lines of the output, indented. */
static void
tail_lines(const struct ib_buf *t, struct ib_buf *out)
{
    size_t end = t->len;
    while (end && t->s[end - 1] == '\n')
        end--;
    size_t start = end;
    int lines = 0;
    while (start > 0 && lines < TAIL_LINES) {
        start--;
        if (t->s[start] == '\n')
            lines++;
    }
    if (start && t->s[start] == '\n')
        start++;
    const char *p = t->s + start, *e = t->s + end;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl)
            nl = e;
        ib_buf_addf(out, "\n  > %.*s", (int)(nl - p), p);
        p = nl + 1;
    }
}

/* ---- the command ------------------------------------------------------------------- */

static void
chomp_tabs(const char *s, struct ib_buf *out)
{
    bool bol = true;
    for (; *s; s++) {
        if (bol && *s == '\t')
            continue;
        bol = *s == '\n';
        ib_buf_addc(out, *s);
    }
}

/* Whether the shell-form text is exactly one heredoc redirection ("<<EOF", "<<-'EOF'"). */
static bool
only_heredoc(const char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    if (strncmp(text, "<<", 2) != 0)
        return false;
    return strcspn(text, " \t") == strlen(text);
}

static void
run_argv(struct bstage *s, const struct df_instr *in, struct ib_strv *argv)
{
    if (in->json) {
        for (size_t i = 0; i < in->nargs; i++)
            ib_strv_pushn(argv, in->args[i], in->arg_lens[i]);
        return;
    }
    const char *text = in->nargs ? in->args[0] : "";
    AUTO_BUF struct ib_buf script = IB_BUF_INIT;
    if (in->nheredocs && only_heredoc(text)) {
        const struct df_heredoc *h = &in->heredocs[0];
        if (h->chomp)
            chomp_tabs(h->content, &script);
        else
            ib_buf_adds(&script, h->content);
        if (strncmp(script.s, "#!", 2) == 0) {
            /* a script with its own interpreter: feed it to that interpreter */
            size_t nl = strcspn(script.s, "\n");
            AUTO_FREE char *interp = ib_xstrndup(script.s + 2, nl);
            AUTO_BUF struct ib_buf w = IB_BUF_INIT;
            ib_buf_addf(&w, "%s /dev/stdin <<'IMGBUILD_HEREDOC_EOF'\n%s%sIMGBUILD_HEREDOC_EOF",
                        interp, script.s,
                        script.len && script.s[script.len - 1] == '\n' ? "" : "\n");
            ib_buf_reset(&script);
            ib_buf_add(&script, w.s, w.len);
        }
    } else if (in->nheredocs) {
        ib_buf_adds(&script, text);
        for (size_t i = 0; i < in->nheredocs; i++)
            ib_buf_addf(&script, "\n%s%s", in->heredocs[i].content, in->heredocs[i].name);
    } else {
        ib_buf_adds(&script, text);
    }
    stage_shell(s, argv);
    ib_strv_push(argv, script.s);
}

/* BuildKit's history text: "RUN |N K=V ... <argv joined> # buildkit". */
static void
run_history(struct bstage *s, char *const *argv, size_t argc, struct ib_buf *msg)
{
    ib_buf_adds(msg, "RUN ");
    size_t n = 0;
    for (size_t i = 0; i < s->args.n; i++)
        n++;
    if (n) {
        ib_buf_addf(msg, "|%zu", n);
        for (size_t i = 0; i < s->args.n; i++)
            ib_buf_addf(msg, " %s=%s", s->args.names[i],
                        s->args.values[i] ? s->args.values[i] : "");
        ib_buf_addc(msg, ' ');
    }
    for (size_t i = 0; i < argc; i++)
        ib_buf_addf(msg, "%s%s", i ? " " : "", argv[i]);
    ib_buf_adds(msg, " # buildkit");
}

/* ---- committing ---------------------------------------------------------------------- */

static bool
dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    bool empty = true;
    struct dirent *de;
    while (empty && (de = readdir(d)))
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int
stage_commit_upper(struct bctx *b, struct bstage *s, const char *upper, const char *msg,
                   struct store_layer *out, bool *empty, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    *empty = dir_empty(upper);
    if (*empty) {
        /* BuildKit drops empty layers and marks the history entry empty */
        rmdir(upper);
        store_image_add_history(s->img, msg);
        return 0;
    }
    size_t n = store_image_nlayers(s->img);
    const struct digest *parent = n ? &store_image_layer(s->img, n - 1)->chain_id : NULL;
    pthread_mutex_lock(&b->lock);
    int rc = store_layer_commit(b->st, parent, upper, STORE_COMMIT_MOVE, out, err);
    pthread_mutex_unlock(&b->lock);
    if (access(upper, F_OK) == 0)
        ib_rm_rf_at(AT_FDCWD, upper, NULL);
    if (rc < 0)
        return -1;
    store_image_add_layer(s->img, out, msg);
    return 0;
}

/* ---- RUN ------------------------------------------------------------------------------ */

static int
run_sandbox(struct bstep *sp, struct sandbox_cfg *cfg, struct capture *cap,
            struct sandbox_result *res, struct ib_err **err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return ib_fail_errno(err, "pipe");
    cap->fd = pfd[0];
    pthread_t th;
    if (pthread_create(&th, NULL, capture_thread, cap) != 0) {
        close(pfd[0]);
        close(pfd[1]);
        return ib_fail(err, IB_E_SYS, "cannot start the output reader");
    }
    cfg->stdio[0] = -1;
    cfg->stdio[1] = pfd[1];
    cfg->stdio[2] = pfd[1];
    int rc = sandbox_run(cfg, res, err);
    close(pfd[1]);
    pthread_join(th, NULL);
    close(pfd[0]);
    (void)sp;
    return rc;
}

static int
parse_net(struct bctx *b, const struct df_instr *in, enum sandbox_net *net, struct ib_err **err)
{
    *net = b->o->net;
    const char *v = instr_flag(in, "network");
    if (!v || strcmp(v, "default") == 0)
        return 0;
    if (strcmp(v, "none") == 0)
        *net = SANDBOX_NET_NONE;
    else if (strcmp(v, "host") == 0)
        *net = SANDBOX_NET_HOST;
    else
        return build_fail_at(b, in, IB_E_PARSE, err,
                             "invalid RUN --network '%s' (default, none or host)", v);
    return 0;
}

static int
execute(struct bstep *sp, char *const *argv, char *const *env, enum sandbox_net net,
        const struct runmounts *rm, const char *msg, struct ib_err **err)
{
    struct bctx *b = sp->b;
    struct bstage *s = sp->s;
    AUTO_STRV struct ib_strv lowers = IB_STRV_INIT;
    AUTO_FREE char *empty_lower = NULL;
    AUTO_FREE char *upper = NULL;
    AUTO_FREE char *work = NULL;
    if (rootfs_lowers(b->st, s->img, &lowers, err) < 0)
        return -1;
    pthread_mutex_lock(&b->lock);
    int rc = store_tmp_mkdir(b->st, "upper", &upper, err);
    if (rc == 0)
        rc = store_tmp_mkdir(b->st, "work", &work, err);
    if (rc == 0 && lowers.n == 0 && (rc = store_tmp_mkdir(b->st, "empty", &empty_lower, err)) == 0)
        ib_strv_push(&lowers, empty_lower);
    pthread_mutex_unlock(&b->lock);
    if (rc < 0)
        return -1;
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    cfg.lowers = (const char *const *)lowers.v;
    cfg.nlowers = lowers.n;
    cfg.upper = upper;
    cfg.work = work;
    cfg.argv = (const char *const *)argv;
    cfg.env = (const char *const *)env;
    cfg.workdir = stage_workdir(s);
    cfg.user = store_image_config_str(s->img, "User");
    if (cfg.user && !*cfg.user)
        cfg.user = NULL;
    cfg.net = net;
    cfg.limits = b->o->limits;
    cfg.mounts = rm->sm;
    cfg.nmounts = rm->nsm;
    cfg.async_teardown = rm->nsm == 0; /* the sandbox then removes work */
    cfg.insecure = s->insecure;
    cfg.extra_hosts = b->extra_hosts;
    cfg.rlimits = b->o->ulimits;
    cfg.nrlimits = b->o->nulimits;
    cfg.shm_size = b->o->shm_size;
    AUTO_FREE char *scratch = NULL;
    if (rm->nsm) {
        /* on the store's filesystem: the mounts' overlays need a real upper dir */
        pthread_mutex_lock(&b->lock);
        rc = store_tmp_mkdir(b->st, "step", &scratch, err);
        pthread_mutex_unlock(&b->lock);
        if (rc < 0) {
            ib_rm_rf_at(AT_FDCWD, upper, NULL);
            ib_rm_rf_at(AT_FDCWD, work, NULL);
            return -1;
        }
        cfg.scratch_dir = scratch;
    }
    struct capture cap = {
        .b = b, .step = sp->no, .fd = -1, .tail = IB_BUF_INIT, .line = IB_BUF_INIT};
    struct sandbox_result res;
    rc = run_sandbox(sp, &cfg, &cap, &res, err);
    if (!cfg.async_teardown)
        ib_rm_rf_at(AT_FDCWD, work, NULL);
    if (scratch)
        ib_rm_rf_at(AT_FDCWD, scratch, NULL);
    if (empty_lower)
        rmdir(empty_lower);
    if (rc == 0 && !sandbox_result_ok(&res)) {
        AUTO_BUF struct ib_buf m = IB_BUF_INIT;
        AUTO_BUF struct ib_buf why = IB_BUF_INIT;
        sandbox_result_describe(&res, &why);
        ib_buf_addf(&m, "RUN failed: '");
        for (char *const *a = argv; *a; a++)
            ib_buf_addf(&m, "%s%s", a == argv ? "" : " ", *a);
        ib_buf_addf(&m, "': %s", why.s);
        if (cap.tail.len) {
            ib_buf_adds(&m, "\noutput (last lines):");
            tail_lines(&cap.tail, &m);
        }
        build_emit(b, BUILD_EV_STEP_ERROR, sp->no, why.s, build_now() - sp->t0, &res);
        rc = build_fail_at(b, sp->in, IB_E_BUILD, err, "%s", m.s);
    } else if (rc < 0) {
        AUTO_ERR struct ib_err *e = ib_steal(err);
        build_emit(b, BUILD_EV_STEP_ERROR, sp->no, e->msg, build_now() - sp->t0, NULL);
        rc = build_fail_at(b, sp->in, e->kind, err, "RUN: %s", e->msg);
    }
    ib_buf_release(&cap.tail);
    ib_buf_release(&cap.line);
    if (rc < 0) {
        ib_rm_rf_at(AT_FDCWD, upper, NULL);
        return -1;
    }
    struct store_layer l;
    bool empty;
    if (stage_commit_upper(b, s, upper, msg, &l, &empty, err) < 0)
        return build_fail_at(b, sp->in, IB_E_BUILD, err, "commit RUN layer: %s", (*err)->msg);
    if (cache_record(b, &s->key, &l, empty, err) < 0)
        return -1;
    build_step_done(sp, false, &res);
    return 0;
}

int
dispatch_run(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err)
{
    for (size_t i = 0; i < in->nflags; i++) {
        const char *f = in->flags[i];
        size_t n = strcspn(f, "=");
        if ((n == 9 && strncmp(f, "--network", 9) == 0) || (n == 7 && !strncmp(f, "--mount", 7)))
            continue;
        if (n == 10 && strncmp(f, "--security", 10) == 0) {
            const char *v = f[n] ? f + n + 1 : "";
            if (strcmp(v, "sandbox") == 0)
                continue;
            if (strcmp(v, "insecure") == 0)
                return build_fail_at(b, in, IB_E_BUILD, err,
                                     "RUN --security=insecure needs the entitlement "
                                     "'security.insecure', which imgbuild does not grant");
            return build_fail_at(b, in, IB_E_PARSE, err,
                                 "invalid RUN --security '%s' (sandbox or insecure)", v);
        }
        return build_fail_at(b, in, IB_E_PARSE, err, "unknown flag: %.*s", (int)n, f);
    }
    enum sandbox_net net;
    if (parse_net(b, in, &net, err) < 0)
        return -1;
    AUTO_STRV struct ib_strv argv = IB_STRV_INIT;
    AUTO_STRV struct ib_strv env = IB_STRV_INIT;
    run_argv(s, in, &argv);
    if (argv.n == 0)
        return build_fail_at(b, in, IB_E_PARSE, err, "RUN needs a command");
    stage_run_env(b, s, &env);
    AUTO_BUF struct ib_buf msg = IB_BUF_INIT;
    run_history(s, argv.v, argv.n, &msg);

    struct keyb k;
    AUTO_BUF struct ib_buf inputs = IB_BUF_INIT;
    keyb_init(&k, &s->key, "RUN");
    ib_buf_addf(&inputs, "parent %s\n", s->key.s);
    for (size_t i = 0; i < argv.n; i++) {
        keyb_add(&k, "arg", argv.v[i]);
        ib_buf_adds(&inputs, "command ");
        json_str(&inputs, argv.v[i]);
        ib_buf_addc(&inputs, '\n');
    }
    for (size_t i = 0; i < env.n; i++) {
        keyb_add(&k, "env", env.v[i]);
        ib_buf_adds(&inputs, "env ");
        json_str(&inputs, env.v[i]);
        ib_buf_addc(&inputs, '\n');
    }
    const char *user = store_image_config_str(s->img, "User");
    keyb_add(&k, "user", user ? user : "");
    keyb_add(&k, "workdir", stage_workdir(s));
    keyb_add(&k, "network", net == SANDBOX_NET_NONE ? "none" : "host");
    /* as BuildKit's ulimits and shm size: part of what the step runs with */
    for (size_t i = 0; i < b->o->nulimits; i++) {
        const struct sandbox_rlimit *r = &b->o->ulimits[i];
        AUTO_FREE char *v = ib_xasprintf("%d=%llu:%llu", r->resource, (unsigned long long)r->soft,
                                         (unsigned long long)r->hard);
        keyb_add(&k, "ulimit", v);
        ib_buf_addf(&inputs, "ulimit %s\n", v);
    }
    if (b->o->shm_size > 0) {
        AUTO_FREE char *v = ib_xasprintf("%lld", (long long)b->o->shm_size);
        keyb_add(&k, "shm-size", v);
        ib_buf_addf(&inputs, "shm-size %s\n", v);
    }
    if (b->extra_hosts) { /* as BuildKit's extra hosts: part of what the step runs with */
        keyb_add(&k, "hosts", b->extra_hosts);
        ib_buf_adds(&inputs, "hosts ");
        json_str(&inputs, b->extra_hosts);
        ib_buf_addc(&inputs, '\n');
    }
    ib_buf_addf(&inputs, "user %s\nworkdir %s\nnetwork %s\n", user ? user : "", stage_workdir(s),
                net == SANDBOX_NET_NONE ? "none" : "host");
    struct runmounts rm = {0};
    if (runmount_parse(b, s, in, &rm, &k, &inputs, err) < 0) {
        struct digest ignore;
        keyb_final(&k, &ignore);
        runmount_release(&rm);
        return -1;
    }
    struct digest key;
    keyb_final(&k, &key);

    struct bstep sp = {.b = b, .s = s, .in = in};
    build_step_start(&sp, in->original);
    if (cache_use(&sp, &key, inputs.s, msg.s)) {
        runmount_release(&rm);
        build_step_done(&sp, true, NULL);
        return 0;
    }
    int rc = runmount_prepare(b, s, in, &rm, &env, err);
    if (rc == 0)
        rc = execute(&sp, argv.v, env.v, net, &rm, msg.s, err);
    runmount_release(&rm);
    return rc;
}

int
build_add_hosts(char *const *v, size_t n, char **out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf lines = IB_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        /* NAME:IP as docker build takes it (the first ':' ends the name, so an IPv6 address
         * needs no brackets), or NAME=IP as newer Dockers also do */
        const char *e = v[i];
        size_t nl = strcspn(e, ":=");
        AUTO_FREE char *name = ib_xstrndup(e, nl);
        AUTO_FREE char *ip = ib_xstrdup(e[nl] ? e + nl + 1 : "");
        size_t il = strlen(ip);
        if (il >= 2 && ip[0] == '[' && ip[il - 1] == ']') {
            memmove(ip, ip + 1, il - 2);
            ip[il - 2] = '\0';
        }
        unsigned char addr[16];
        bool name_ok = *name && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "0123456789.-_") == strlen(name);
        if (!e[nl] || !name_ok)
            return ib_fail(err, IB_E_USAGE,
                           "--add-host '%s': expected NAME:IP (a host name of letters, digits, "
                           "'.', '-' and '_')",
                           e);
        if (strcmp(ip, "host-gateway") == 0)
            return ib_fail(err, IB_E_USAGE,
                           "--add-host '%s': host-gateway is not supported (RUN uses the host's "
                           "network: give the address)",
                           e);
        if (inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
            return ib_fail(err, IB_E_USAGE, "--add-host '%s': '%s' is not an IPv4 or IPv6 address",
                           e, ip);
        ib_buf_addf(&lines, "%s\t%s\n", ip, name);
    }
    *out = lines.len ? ib_xstrdup(lines.s) : NULL;
    return 0;
}
