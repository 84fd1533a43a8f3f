/* builder/gitsrc.c: git URLs (BuildKit's rules), ref resolution with `git ls-remote`, and a
 * shallow fetch + checkout of one commit, all through the host's git binary (see gitsrc.h). */
#include "builder/gitsrc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define OUT_LIMIT (16u << 20) /* ls-remote of a few refs, a commit time */
#define ERR_LIMIT (64u << 10)

/* ---- URLs ------------------------------------------------------------------------------ */

/* Length of "scheme" in "scheme://...", or 0. */
static size_t
scheme_len(const char *s)
{
    size_t n = 0;
    while (isalnum((unsigned char)s[n]))
        n++;
    return n && strncmp(s + n, "://", 3) == 0 ? n : 0;
}

static bool
scheme_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* user@host:path, as BuildKit's implicit ssh transport: [A-Za-z0-9_-]+@[A-Za-z0-9.-]+: */
static bool
scp_like(const char *s)
{
    size_t u = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    if (!u || s[u] != '@')
        return false;
    const char *h = s + u + 1;
    size_t n = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
    return n && h[n] == ':';
}

bool
gitsrc_is_ssh(const char *remote)
{
    size_t n = scheme_len(remote);
    return n ? scheme_is(remote, n, "ssh") : scp_like(remote);
}

bool
gitsrc_is_git(const char *src)
{
    size_t n = scheme_len(src);
    if (!n)
        return scp_like(src);
    if (scheme_is(src, n, "git") || scheme_is(src, n, "ssh"))
        return true;
    if (!scheme_is(src, n, "http") && !scheme_is(src, n, "https"))
        return false;
    /* an HTTP(S) URL is a repository only when its path ends in ".git" */
    const char *host = src + n + 3;
    const char *path = host + strcspn(host, "/?#");
    size_t plen = strcspn(path, "?#");
    return plen >= 4 && strncmp(path + plen - 4, ".git", 4) == 0;
}

/* git's check-ref-format, roughly, plus no leading '-' (never an option). */
static bool
ref_ok(const char *r)
{
    size_t n = strlen(r);
    if (!n || r[0] == '-' || r[0] == '/' || r[n - 1] == '/' || r[n - 1] == '.' || strstr(r, "..") ||
        strstr(r, "//") || strstr(r, "@{") || strcmp(r, "@") == 0 ||
        (n >= 5 && strcmp(r + n - 5, ".lock") == 0))
        return false;
    for (const unsigned char *p = (const unsigned char *)r; *p; p++)
        if (*p < 0x21 || *p == 0x7f || strchr("~^:?*[\\", *p))
            return false;
    return true;
}

static bool
hex(const char *s, size_t min, size_t max)
{
    size_t n = strspn(s, "0123456789abcdefABCDEF");
    return !s[n] && n >= min && n <= max;
}

bool
gitsrc_is_commit_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return !s[n] && (n == 40 || n == 64);
}

/* "a/./b/" -> "a/b"; "" for the root; -1 for a path that leaves the tree. */
static int
clean_subdir(const char *s, char **out)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    while (*s) {
        size_t n = strcspn(s, "/");
        if (n == 2 && strncmp(s, "..", 2) == 0)
            return -1;
        if (n && !(n == 1 && *s == '.')) {
            if (b.len)
                ib_buf_addc(&b, '/');
            ib_buf_add(&b, s, n);
        }
        s += n + (s[n] == '/');
    }
    *out = ib_buf_detach(&b, NULL);
    return 0;
}

/* "##ref=R,subdir=S,commit=C" (BuildKit's CSV form; no quoting) */
static int
parse_csv(struct gitsrc_url *u, const char *f, struct ib_err **err)
{
    while (*f) {
        size_t n = strcspn(f, ",");
        AUTO_FREE char *field = ib_xstrndup(f, n);
        f += n + (f[n] == ',');
        char *eq = strchr(field, '=');
        if (!eq)
            return ib_fail(err, IB_E_PARSE, "invalid fragment field '%s' (expected key=value)",
                           field);
        *eq = '\0';
        char **slot = strcasecmp(field, "ref") == 0      ? &u->ref
                      : strcasecmp(field, "subdir") == 0 ? &u->subdir
                      : strcasecmp(field, "commit") == 0 ? &u->commit
                                                         : NULL;
        if (!slot)
            return ib_fail(err, IB_E_PARSE,
                           "unexpected key '%s' in the fragment (supported: ref, commit, subdir)",
                           field);
        free(*slot);
        *slot = ib_xstrdup(eq + 1);
    }
    return 0;
}

/* The host part of "scheme://[user@]host..." or "user@host:path". */
static const char *
host_of(const char *s)
{
    size_t n = scheme_len(s);
    const char *a = n ? s + n + 3 : s;
    size_t alen = strcspn(a, n ? "/?#" : ":");
    const char *at = memrchr(a, '@', alen);
    return at ? at + 1 : a;
}

int
gitsrc_url_parse(const char *src, struct gitsrc_url *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    out->keep_git_dir = -1;
    out->submodules = true;
    if (src[0] == '-' || host_of(src)[0] == '-')
        return ib_fail(err, IB_E_PARSE, "'%s': a git URL or host can't start with '-'", src);
    const char *hash = strchr(src, '#');
    size_t base = hash ? (size_t)(hash - src) : strlen(src);
    const char *qm = memchr(src, '?', base);
    out->remote = ib_xstrndup(src, qm ? (size_t)(qm - src) : base);
    const char *f = hash ? hash + 1 : "";
    int rc = 0;
    if (*f == '#') {
        rc = parse_csv(out, f + 1, err);
    } else if (*f) {
        size_t n = strcspn(f, ":");
        out->ref = n ? ib_xstrndup(f, n) : NULL;
        out->subdir = f[n] ? ib_xstrdup(f + n + 1) : NULL;
    }
    if (rc == 0 && out->ref && !*out->ref) {
        free(out->ref);
        out->ref = NULL;
    }
    if (rc == 0 && out->commit)
        out->commit_key = "##commit=";
    if (rc == 0 && qm)
        rc = gitsrc_query_apply(src, qm + 1, base - (size_t)(qm + 1 - src), out, err);
    if (rc == 0 && out->commit && !out->ref) /* the commit is the ref when none is named */
        out->ref = ib_xstrdup(out->commit);
    if (rc == 0 && out->ref && !ref_ok(out->ref))
        rc = ib_fail(err, IB_E_PARSE, "'%s': invalid git ref '%s'", src, out->ref);
    if (rc == 0 && out->commit && !hex(out->commit, 1, 64))
        rc = ib_fail(err, IB_E_PARSE, "'%s': invalid commit '%s' (expected hex digits)", src,
                     out->commit);
    AUTO_FREE char *sub = out->subdir;
    out->subdir = NULL;
    if (rc == 0 && clean_subdir(sub ? sub : "", &out->subdir) < 0)
        rc = ib_fail(err, IB_E_PARSE, "'%s': subdir '%s' leaves the repository", src, sub);
    if (rc < 0)
        gitsrc_url_release(out);
    return rc;
}

void
gitsrc_url_release(struct gitsrc_url *u)
{
    free(u->remote);
    free(u->ref);
    free(u->subdir);
    free(u->commit);
    memset(u, 0, sizeof(*u));
}

char *
gitsrc_redact(const char *remote)
{
    size_t n = scheme_len(remote);
    if (!n)
        return ib_xstrdup(remote);
    const char *a = remote + n + 3;
    size_t alen = strcspn(a, "/?#");
    const char *at = memrchr(a, '@', alen);
    const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
    if (!colon)
        return ib_xstrdup(remote);
    return ib_xasprintf("%.*sxxxxx%s", (int)(colon + 1 - remote), remote, at);
}

/* ---- HTTP authentication --------------------------------------------------------------- */

/* The "host[:port]" of an http(s) remote, lowercase and without user or password, or NULL. */
static char *
http_hostport(const char *remote, size_t *schemelen)
{
    size_t n = scheme_len(remote);
    if (!n || (!scheme_is(remote, n, "http") && !scheme_is(remote, n, "https")))
        return NULL;
    const char *a = remote + n + 3;
    size_t alen = strcspn(a, "/?#");
    const char *at = memrchr(a, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    if (!alen)
        return NULL;
    char *hp = ib_xstrndup(a, alen);
    for (char *c = hp; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    *schemelen = n;
    return hp;
}

char *
gitsrc_http_origin(const char *remote)
{
    size_t n = 0;
    AUTO_FREE char *hp = http_hostport(remote, &n);
    if (!hp)
        return NULL;
    char *o = ib_xasprintf("%.*s://%s/", (int)n, remote, hp);
    for (char *c = o; *c != ':'; c++)
        *c = (char)tolower((unsigned char)*c);
    return o;
}

void
gitsrc_auth_ids(const char *remote, struct ib_strv *ids)
{
    size_t n = 0;
    AUTO_FREE char *hp = http_hostport(remote, &n);
    if (!hp)
        return;
    /* the host alone: "[::1]:80" -> "::1", "example.com:8080" -> "example.com" */
    AUTO_FREE char *host = NULL;
    if (hp[0] == '[') {
        size_t k = strcspn(hp, "]");
        host = ib_xstrndup(hp + 1, k ? k - 1 : 0);
    } else {
        host = ib_xstrndup(hp, strcspn(hp, ":"));
    }
    bool port = hp[0] == '[' ? strstr(hp, "]:") != NULL : strchr(hp, ':') != NULL;
    if (port) {
        ib_strv_pushf(ids, "GIT_AUTH_HEADER.%s", hp);
        ib_strv_pushf(ids, "GIT_AUTH_TOKEN.%s", hp);
    }
    if (*host) {
        ib_strv_pushf(ids, "GIT_AUTH_HEADER.%s", host);
        ib_strv_pushf(ids, "GIT_AUTH_TOKEN.%s", host);
    }
    ib_strv_push(ids, "GIT_AUTH_HEADER");
    ib_strv_push(ids, "GIT_AUTH_TOKEN");
}

int
gitsrc_auth_header(const char *id, const char *secret, size_t len, struct ib_buf *out,
                   struct ib_err **err)
{
    while (len && secret[len - 1] && strchr(" \t\r\n", secret[len - 1]))
        len--;
    bool token = strncmp(id, "GIT_AUTH_TOKEN", 14) == 0;
    if (!len)
        return ib_fail(err, IB_E_BUILD, "secret '%s' is empty", id);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)secret[i] < 0x20 || secret[i] == 0x7f)
            return ib_fail(err, IB_E_BUILD,
                           "secret '%s' has a control character (it must be one line)", id);
    static const char user[] = "x-access-token:";
    ib_buf_grow(out, 32 + (token ? (sizeof(user) + len + 2) / 3 * 4 : len));
    if (!token) {
        ib_buf_adds(out, "Authorization: ");
        ib_buf_add(out, secret, len);
        return 0;
    }
    /* base64 of "x-access-token:" + secret, built in a buffer sized once and then wiped */
    struct ib_buf up = IB_BUF_INIT;
    ib_buf_grow(&up, sizeof(user) + len);
    ib_buf_adds(&up, user);
    ib_buf_add(&up, secret, len);
    ib_buf_adds(out, "Authorization: Basic ");
    ib_buf_add_base64(out, up.s, up.len);
    explicit_bzero(up.s, up.len);
    ib_buf_release(&up);
    return 0;
}

/* ---- ls-remote output ------------------------------------------------------------------- */

/* The id on the line "<id>\t<name>", or NULL. */
static const char *
line_for(const char *ls, const char *name, size_t *idlen)
{
    size_t nl = strlen(name);
    for (const char *l = ls; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] == '\n')) {
        const char *tab = strchr(l, '\t');
        const char *end = l + strcspn(l, "\n");
        if (!tab || tab > end || (size_t)(end - tab - 1) != nl || strncmp(tab + 1, name, nl) != 0)
            continue;
        if (strncmp(l, "ref: ", 5) == 0)
            continue;
        *idlen = (size_t)(tab - l);
        return l;
    }
    return NULL;
}

static void
set_id(char dst[65], const char *id, size_t n)
{
    if (n > 64)
        n = 64;
    memcpy(dst, id, n);
    dst[n] = '\0';
}

int
gitsrc_pick(const char *ls, const char *ref, struct gitsrc_rev *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = 0;
    const char *id = NULL;
    AUTO_FREE char *name = NULL;
    if (!ref) {
        if (!(id = line_for(ls, "HEAD", &n)))
            return -1;
        for (const char *l = strstr(ls, "ref: "); l; l = strstr(l + 1, "ref: ")) {
            size_t k = strcspn(l + 5, "\t\n");
            if ((l == ls || l[-1] == '\n') && strncmp(l + 5 + k, "\tHEAD", 5) == 0) {
                name = ib_xstrndup(l + 5, k);
                break;
            }
        }
    } else {
        const char *r = strncmp(ref, "refs/", 5) == 0 ? ref + 5 : ref;
        const char *h = strncmp(ref, "refs/heads/", 11) == 0 ? ref + 11 : ref;
        const char *t = strncmp(ref, "refs/tags/", 10) == 0 ? ref + 10 : ref;
        /* the ref as named, else a branch (git checkout prefers branches), else a tag */
        char *cands[] = {ib_xasprintf("refs/%s", r), ib_xasprintf("refs/heads/%s", h),
                         ib_xasprintf("refs/tags/%s", t)};
        for (size_t i = 0; i < 3; i++) {
            if (!id && (id = line_for(ls, cands[i], &n)))
                name = ib_steal(&cands[i]);
            free(cands[i]);
        }
        if (!id)
            return -1;
    }
    set_id(out->commit, id, n);
    if (name) {
        AUTO_FREE char *peeled = ib_xasprintf("%s^{}", name);
        size_t pn = 0;
        const char *pid = line_for(ls, peeled, &pn);
        if (pid) { /* an annotated tag: the commit it points to */
            memcpy(out->object, out->commit, sizeof(out->object));
            set_id(out->commit, pid, pn);
        }
    }
    if (!gitsrc_is_commit_id(out->commit) || (*out->object && !gitsrc_is_commit_id(out->object)))
        return -1;
    out->refname = ib_steal(&name);
    return 0;
}

void
gitsrc_rev_release(struct gitsrc_rev *r)
{
    free(r->refname);
    r->refname = NULL;
}

/* ---- running git ------------------------------------------------------------------------ */

int
gitsrc_find_git(char **path, struct ib_err **err)
{
    const char *p = getenv("PATH");
    if (!p || !*p)
        p = "/usr/local/bin:/usr/bin:/bin";
    while (*p) {
        size_t n = strcspn(p, ":");
        if (n) {
            AUTO_FREE char *dir = ib_xstrndup(p, n);
            char *cand = ib_path_join(dir, "git");
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
                *path = cand;
                return 0;
            }
            free(cand);
        }
        p += n + (p[n] == ':');
    }
    return ib_fail(err, IB_E_BUILD,
                   "git is not installed (no 'git' in PATH; Debian: apt-get "
                   "install git)");
}

int
gitsrc_timeout(void)
{
    const char *v = getenv("IMGBUILD_GIT_TIMEOUT");
    char *end;
    long t = v ? strtol(v, &end, 10) : 0;
    return v && *v && !*end && t > 0 && t < 86400 ? (int)t : 600;
}

int
gitsrc_known_hosts(const char **path, struct ib_err **err)
{
    const char *v = getenv("IMGBUILD_GIT_KNOWN_HOSTS");
    *path = NULL;
    if (!v || !*v)
        return 0;
    /* it goes into GIT_SSH_COMMAND, which git hands to a shell: quoted, so no quote in it */
    if (strchr(v, '\'') || strchr(v, '\n'))
        return ib_fail(err, IB_E_USAGE,
                       "IMGBUILD_GIT_KNOWN_HOSTS '%s': quotes and newlines are "
                       "not allowed in the path",
                       v);
    struct stat st;
    if (stat(v, &st) < 0 || !S_ISREG(st.st_mode) || access(v, R_OK) < 0)
        return ib_fail(err, IB_E_USAGE, "IMGBUILD_GIT_KNOWN_HOSTS '%s': not a readable file", v);
    *path = v;
    return 0;
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
env_add(struct ib_strv *env, const char *name)
{
    const char *v = getenv(name);
    if (v)
        ib_strv_pushf(env, "%s=%s", name, v);
}

static void
make_env(const struct gitsrc_run *g, struct ib_strv *env)
{
    static const char *const pass[] = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                       "no_proxy",   "NO_PROXY",    "all_proxy",  "ALL_PROXY"};
    const char *path = getenv("PATH");
    ib_strv_pushf(env, "PATH=%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    ib_strv_pushf(env, "HOME=%s", g->home);
    AUTO_FREE char *parent = ib_xstrdup(g->home);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent)
        *slash = '\0';
    ib_strv_pushf(env, "GIT_CEILING_DIRECTORIES=%s", parent); /* never a repo above ours */
    ib_strv_push(env, "GIT_CONFIG_NOSYSTEM=1");
    ib_strv_push(env, "GIT_CONFIG_GLOBAL=/dev/null");
    ib_strv_push(env, "GIT_TERMINAL_PROMPT=0");
    ib_strv_push(env, "GIT_ALLOW_PROTOCOL=http:https:ssh:git");
    /* ssh reads the invoking user's ~/.ssh (from the passwd entry, not HOME): its config,
     * keys and known hosts, unless a known_hosts file is given; never a prompt */
    if (g->known_hosts)
        ib_strv_pushf(
            env,
            "GIT_SSH_COMMAND=ssh -o BatchMode=yes -o ControlMaster=no -o ControlPath=none "
            "-o StrictHostKeyChecking=yes -o UserKnownHostsFile='%s'",
            g->known_hosts);
    else
        ib_strv_push(
            env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes -o ControlMaster=no -o ControlPath=none");
    if (g->ssh_auth_sock)
        ib_strv_pushf(env, "SSH_AUTH_SOCK=%s", g->ssh_auth_sock);
    else
        env_add(env, "SSH_AUTH_SOCK");
    if (g->auth_key && g->auth_value) { /* in git's environment only: not in ps, not on disk */
        ib_strv_push(env, "GIT_CONFIG_COUNT=1");
        ib_strv_pushf(env, "GIT_CONFIG_KEY_0=%s", g->auth_key);
        ib_strv_pushf(env, "GIT_CONFIG_VALUE_0=%s", g->auth_value);
    }
    ib_strv_push(env, "GIT_NO_REPLACE_OBJECTS=1");
    ib_strv_push(env, "GIT_LFS_SKIP_SMUDGE=1");
    ib_strv_push(env, "GIT_HTTP_LOW_SPEED_LIMIT=1");
    ib_strv_pushf(env, "GIT_HTTP_LOW_SPEED_TIME=%d", g->timeout < 60 ? g->timeout : 60);
    ib_strv_push(env, "LC_ALL=C");
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
        env_add(env, pass[i]);
}

/* The last non-empty line of git's stderr, without "fatal: " / "error: ". */
static char *
last_line(const struct ib_buf *e)
{
    size_t end = e->len;
    while (end && (e->s[end - 1] == '\n' || e->s[end - 1] == '\r' || e->s[end - 1] == ' '))
        end--;
    size_t start = end;
    while (start && e->s[start - 1] != '\n')
        start--;
    const char *l = e->s + start;
    size_t n = end - start;
    if (n >= 7 && (strncmp(l, "fatal: ", 7) == 0 || strncmp(l, "error: ", 7) == 0)) {
        l += 7;
        n -= 7;
    }
    char *s = ib_xstrndup(l, n);
    for (char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    return *s ? s : (free(s), ib_xstrdup("(no message)"));
}

/* The last non-empty line of git's stderr before its line at "at": ssh's own last word
 * (before git's "fatal: Could not read from remote repository."). */
static char *
line_before(const struct ib_buf *e, const char *at)
{
    struct ib_buf head = {.s = e->s, .len = (size_t)(at - e->s)};
    while (head.len && head.s[head.len - 1] != '\n')
        head.len--; /* back to the start of git's line */
    return last_line(&head);
}

/* Run `git -c ... -C DIR ARGS...` (DIR: g->home when NULL) with the clean environment;
 * 0 with *status its exit status, or -1 when it could not run, ran out of time or wrote too
 * much (then it is killed with everything it started). */
static int
run_status(const struct gitsrc_run *g, const char *dir, const char *const *args, struct ib_buf *out,
           struct ib_buf *errb, int *status, struct ib_err **err)
{
    static const char *const cfg[] = {"core.hooksPath=/dev/null",  "protocol.file.allow=never",
                                      "init.defaultBranch=master", "advice.detachedHead=false",
                                      "core.fsmonitor=false",      "submodule.recurse=false"};
    AUTO_STRV struct ib_strv argv = IB_STRV_INIT;
    ib_strv_push(&argv, g->git);
    for (size_t i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
        ib_strv_push(&argv, "-c");
        ib_strv_push(&argv, cfg[i]);
    }
    ib_strv_push(&argv, "-C");
    ib_strv_push(&argv, dir ? dir : g->home);
    for (size_t i = 0; args[i]; i++)
        ib_strv_push(&argv, args[i]);
    AUTO_STRV struct ib_strv env = IB_STRV_INIT;
    make_env(g, &env);
    int op[2], ep[2];
    if (pipe2(op, O_CLOEXEC) < 0)
        return ib_fail_errno(err, "pipe");
    if (pipe2(ep, O_CLOEXEC) < 0) {
        close(op[0]);
        close(op[1]);
        return ib_fail_errno(err, "pipe");
    }
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = nullfd < 0 ? -1 : fork();
    if (pid == 0) { /* only async-signal-safe calls until execve */
        setpgid(0, 0);
        umask(022);
        if (dup2(nullfd, 0) < 0 || dup2(op[1], 1) < 0 || dup2(ep[1], 2) < 0)
            _exit(127);
        execve(g->git, argv.v, env.v);
        _exit(127);
    }
    int saved = errno;
    for (size_t i = 0; i < env.n; i++) /* the auth header's copy */
        explicit_bzero(env.v[i], strlen(env.v[i]));
    close(op[1]);
    close(ep[1]);
    if (nullfd >= 0)
        close(nullfd);
    if (pid < 0) {
        close(op[0]);
        close(ep[0]);
        return ib_fail_sys(err, saved, "run git");
    }
    setpgid(pid, pid);
    double deadline = now() + g->timeout;
    bool late = false, big = false;
    struct pollfd pf[2] = {{.fd = op[0], .events = POLLIN}, {.fd = ep[0], .events = POLLIN}};
    while ((pf[0].fd >= 0 || pf[1].fd >= 0) && !late && !big) {
        double left = deadline - now();
        if (left <= 0) {
            late = true;
            break;
        }
        int r = poll(pf, 2, (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR)
            break;
        for (int i = 0; r > 0 && i < 2; i++) {
            if (pf[i].fd < 0 || !pf[i].revents)
                continue;
            char buf[16384];
            ssize_t n = read(pf[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
            } else if (i == 0) {
                big = out->len + (size_t)n > OUT_LIMIT;
                if (!big)
                    ib_buf_add(out, buf, (size_t)n);
            } else if (errb->len < ERR_LIMIT) {
                ib_buf_add(errb, buf, (size_t)n);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    while (!late && !big) { /* wait for the exit, but leave the zombie (its pid, its group) */
        siginfo_t si = {0};
        int w = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if ((w == 0 && si.si_pid == pid) || (w < 0 && errno != EINTR))
            break;
        if (now() > deadline)
            late = true;
        else
            usleep(10000);
    }
    kill(-pid, SIGKILL); /* whatever git left running in its group, or git itself */
    if (late || big)
        kill(pid, SIGKILL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (late || big) {
        return late
                   ? ib_fail(err, IB_E_BUILD, "git %s: timed out after %d s (IMGBUILD_GIT_TIMEOUT)",
                             args[0], g->timeout)
                   : ib_fail(err, IB_E_BUILD, "git %s: output too large", args[0]);
    }
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    if (*status == 127 && !errb->len)
        return ib_fail(err, IB_E_BUILD, "could not run '%s'", g->git);
    return 0;
}

/* What git says when an HTTP server wants credentials it did not get or refused (401, 403);
 * with GIT_TERMINAL_PROMPT=0 git can't ask for a user name. */
static bool
http_auth_failed(const char *e)
{
    return strstr(e, "could not read Username") || strstr(e, "could not read Password") ||
           strstr(e, "Authentication failed for") || strstr(e, "returned error: 401") ||
           strstr(e, "returned error: 403");
}

/* run_status, and a non-zero exit is an error with git's last message line. */
static int
run(const struct gitsrc_run *g, const char *dir, const char *const *args, struct ib_buf *out,
    struct ib_err **err)
{
    AUTO_BUF struct ib_buf o = IB_BUF_INIT;
    AUTO_BUF struct ib_buf e = IB_BUF_INIT;
    int status = 0;
    if (run_status(g, dir, args, out ? out : &o, &e, &status, err) < 0)
        return -1;
    if (status != 0) {
        /* over ssh, git's last lines are only "Please make sure you have the correct access
         * rights and the repository exists": ssh said why first */
        const char *at = e.s ? strstr(e.s, "Could not read from remote repository") : NULL;
        AUTO_FREE char *l = at ? line_before(&e, at) : last_line(&e);
        /* ssh's own reasons come before git's last line: say what to do about them */
        const char *hint = "";
        if (strstr(e.s ? e.s : "", "Host key verification failed"))
            hint = g->known_hosts ? " (ssh: the server's host key is not in "
                                    "IMGBUILD_GIT_KNOWN_HOSTS)"
                                  : " (ssh: the server's host key is not known: add it to "
                                    "~/.ssh/known_hosts, or set IMGBUILD_GIT_KNOWN_HOSTS to a "
                                    "known_hosts file)";
        else if (strstr(e.s ? e.s : "", "Permission denied (publickey"))
            hint = g->ssh_auth_sock ? " (ssh: the server refused every key of the --ssh "
                                      "default agent)"
                                    : " (ssh: no key was accepted: give one with --ssh "
                                      "default=KEYFILE or --ssh default=AGENT_SOCKET)";
        AUTO_FREE char *refused = NULL;
        if (!*hint && http_auth_failed(e.s ? e.s : "")) {
            if (g->auth_secret)
                hint = refused = ib_xasprintf(
                    " (HTTP: the server refused the credentials of secret '%s')", g->auth_secret);
            else
                hint = " (HTTP: the repository needs credentials: give a token with --secret "
                       "id=GIT_AUTH_TOKEN,src=FILE or env=VAR, or a whole Authorization header "
                       "with --secret id=GIT_AUTH_HEADER)";
        }
        return ib_fail(err, IB_E_BUILD, "git %s: %s%s", args[0], l, hint);
    }
    return 0;
}

int
gitsrc_resolve(const struct gitsrc_run *g, const struct gitsrc_url *u, struct gitsrc_rev *out,
               struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    if (u->ref && gitsrc_is_commit_id(u->ref)) {
        set_id(out->commit, u->ref, strlen(u->ref));
        return 0;
    }
    AUTO_FREE char *peel = u->ref ? ib_xasprintf("%s^{}", u->ref) : NULL;
    const char *byref[] = {"ls-remote", "--", u->remote, u->ref, peel, NULL};
    const char *head[] = {"ls-remote", "--symref", "--", u->remote, "HEAD", NULL};
    AUTO_BUF struct ib_buf o = IB_BUF_INIT;
    if (run(g, NULL, u->ref ? byref : head, &o, err) < 0)
        return -1;
    if (gitsrc_pick(o.s, u->ref, out) == 0)
        return 0;
    if (u->ref)
        return ib_fail(err, IB_E_BUILD, "no branch, tag or ref '%s' in the repository", u->ref);
    return ib_fail(err, IB_E_BUILD, "the repository has no HEAD (name a ref after '#')");
}

static bool
has_commit(const struct gitsrc_run *g, const char *dir, const char *commit)
{
    AUTO_FREE char *spec = ib_xasprintf("%s^{commit}", commit);
    const char *args[] = {"cat-file", "-e", spec, NULL};
    AUTO_BUF struct ib_buf o = IB_BUF_INIT;
    AUTO_BUF struct ib_buf e = IB_BUF_INIT;
    int status = 1;
    return run_status(g, dir, args, &o, &e, &status, NULL) == 0 && status == 0;
}

/* Get r->commit into the repository at dir: the ref by name (any server can do that), else
 * the commit by id (the ref moved, or there is no name), else every branch and tag. */
static int
fetch(const struct gitsrc_run *g, const char *dir, const struct gitsrc_rev *r, struct ib_err **err)
{
    AUTO_ERR struct ib_err *first = NULL;
    if (r->refname) {
        const char *n = r->refname;
        AUTO_FREE char *spec = strncmp(n, "refs/heads/", 11) == 0
                                   ? ib_xasprintf("+%s:refs/remotes/origin/%s", n, n + 11)
                               : strncmp(n, "refs/tags/", 10) == 0 ? ib_xasprintf("+%s:%s", n, n)
                                                                   : ib_xstrdup(n);
        const char *a[] = {"fetch", "-q", "--depth=1", "--no-tags", "--", "origin", spec, NULL};
        if (run(g, dir, a, NULL, &first) == 0 && has_commit(g, dir, r->commit))
            return 0;
    }
    const char *byid[] = {"fetch", "-q", "--depth=1", "--no-tags", "--", "origin", r->commit, NULL};
    AUTO_ERR struct ib_err *e2 = NULL;
    if (run(g, dir, byid, NULL, &e2) == 0 && has_commit(g, dir, r->commit))
        return 0;
    const char *all[] = {
        "fetch", "-q", "--tags", "--", "origin", "+refs/heads/*:refs/remotes/origin/*", NULL};
    AUTO_ERR struct ib_err *e3 = NULL;
    if (run(g, dir, all, NULL, &e3) == 0 && has_commit(g, dir, r->commit))
        return 0;
    struct ib_err *e = first ? first : e3 ? e3 : e2;
    if (e)
        return ib_fail(err, e->kind, "%s", e->msg);
    return ib_fail(err, IB_E_BUILD, "commit %s is not in the repository", r->commit);
}

int
gitsrc_checkout(const struct gitsrc_run *g, const struct gitsrc_url *u, const struct gitsrc_rev *r,
                const char *dir, bool keep_git_dir, long long *ctime, struct ib_err **err)
{
    const char *init[] = {"init", "-q", "--", dir, NULL};
    const char *origin[] = {"remote", "add", "--", "origin", u->remote, NULL};
    if (run(g, NULL, init, NULL, err) < 0 || run(g, dir, origin, NULL, err) < 0 ||
        fetch(g, dir, r, err) < 0)
        return -1;
    const char *branch = NULL;
    if (keep_git_dir && r->refname && strncmp(r->refname, "refs/heads/", 11) == 0 &&
        ref_ok(r->refname + 11))
        branch = r->refname + 11;
    const char *onbranch[] = {"checkout", "-q", "-B", branch, r->commit, NULL};
    const char *detached[] = {"checkout", "-q", "--detach", r->commit, NULL};
    if (run(g, dir, branch ? onbranch : detached, NULL, err) < 0)
        return -1;
    AUTO_FREE char *gm = ib_path_join(dir, ".gitmodules");
    struct stat st;
    const char *subs[] = {"submodule",   "--quiet",   "update", "--init",
                          "--recursive", "--depth=1", NULL};
    if (u->submodules && lstat(gm, &st) == 0 && S_ISREG(st.st_mode) &&
        run(g, dir, subs, NULL, err) < 0)
        return -1;
    AUTO_FREE char *red = gitsrc_redact(u->remote);
    const char *seturl[] = {"remote", "set-url", "--", "origin", red, NULL};
    if (keep_git_dir && strcmp(red, u->remote) != 0 && run(g, dir, seturl, NULL, err) < 0)
        return -1;
    const char *show[] = {"show", "-s", "--format=%ct", r->commit, NULL};
    AUTO_BUF struct ib_buf o = IB_BUF_INIT;
    if (run(g, dir, show, &o, err) < 0)
        return -1;
    char *end;
    errno = 0;
    *ctime = strtoll(o.s, &end, 10);
    if (errno || end == o.s)
        return ib_fail(err, IB_E_BUILD, "git show: unexpected commit time '%s'", o.s);
    return 0;
}
