/* registry/creds.c: credentials from Docker's config.json and credential helpers.
 *
 * Lookup order, as docker does it: credHelpers[registry] (docker-credential-NAME),
 * then credsStore, then auths[registry] ("auth": base64 "user:password",
 * or "username"/"password", or "identitytoken").  Docker Hub's key is
 * "https://index.docker.io/v1/"; other keys may carry a scheme or a path, so
 * keys are compared by host[:port].  Written back atomically with mode 0600.
 */
#include "registry/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define DOCKER_HUB_KEY "https://index.docker.io/v1/"
#define HELPER_LIMIT (1u << 20)

extern char **environ;

void
reg_creds_release(struct reg_creds *c)
{
    if (c->secret)
        memset(c->secret, 0, strlen(c->secret));
    if (c->identity_token)
        memset(c->identity_token, 0, strlen(c->identity_token));
    free(c->user);
    free(c->secret);
    free(c->identity_token);
    memset(c, 0, sizeof(*c));
}

static bool
is_docker_hub(const char *r)
{
    return strcmp(r, "docker.io") == 0 || strcmp(r, "index.docker.io") == 0 ||
           strcmp(r, "registry-1.docker.io") == 0;
}

const char *
reg_config_key(const char *registry)
{
    return is_docker_hub(registry) ? DOCKER_HUB_KEY : registry;
}

char *
reg_config_path(const char *explicit_path)
{
    if (explicit_path)
        return ib_xstrdup(explicit_path);
    const char *d = getenv("DOCKER_CONFIG");
    if (d && *d)
        return ib_path_join(d, "config.json");
    const char *home = getenv("HOME");
    return ib_xasprintf("%s/.docker/config.json", home && *home ? home : "/root");
}

/* "https://host:port/v1/" -> "host:port" */
static char *
key_host(const char *k)
{
    const char *p = strstr(k, "://");
    p = p ? p + 3 : k;
    size_t n = strcspn(p, "/");
    char *h = ib_xstrndup(p, n);
    return h;
}

static bool
key_matches(const char *key, const char *registry)
{
    AUTO_FREE char *h = key_host(key);
    if (is_docker_hub(registry))
        return is_docker_hub(h);
    return strcmp(h, registry) == 0;
}

static int
read_config(const char *path, json_t **out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    ib_buf_set_limit(&b, REG_JSON_LIMIT);
    AUTO_FD int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *out = json_object();
            return 0;
        }
        return ib_fail_errno(err, "open '%s'", path);
    }
    if (ib_read_fd(fd, &b, path, err) < 0)
        return -1;
    json_error_t je;
    *out = json_loadb(b.s, b.len, 0, &je);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        return ib_fail(err, IB_E_USAGE, "'%s': bad JSON at line %d: %s", path, je.line, je.text);
    }
    return 0;
}

/* Run docker-credential-NAME VERB with input on stdin; its stdout goes to out.
 * *status gets the exit status. */
static int
run_helper(const char *name, const char *verb, const char *input, struct ib_buf *out, int *status,
           struct ib_err **err)
{
    AUTO_FREE char *prog = ib_xasprintf("docker-credential-%s", name);
    int in[2], op[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return ib_fail_errno(err, "pipe");
    if (pipe2(op, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return ib_fail_errno(err, "pipe");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    char *argv[] = {prog, (char *)verb, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(op[1]);
    if (rc != 0) {
        close(in[1]);
        close(op[0]);
        return ib_fail_sys(err, rc, "credential helper '%s'", prog);
    }
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    ib_write_all(in[1], input, strlen(input), prog, NULL);
    close(in[1]);
    ib_buf_set_limit(out, HELPER_LIMIT);
    int r = ib_read_fd(op[0], out, prog, err);
    close(op[0]);
    signal(SIGPIPE, old);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128;
    return r;
}

static int
helper_get(const char *helper, const char *key, struct reg_creds *out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    int status = 0;
    if (run_helper(helper, "get", key, &b, &status, err) < 0)
        return -1;
    if (status != 0) /* "credentials not found in native keychain" */
        return 0;
    json_t *j = json_loadb(b.s, b.len, 0, NULL);
    memset(b.s, 0, b.len);
    const char *u = json_string_value(json_object_get(j, "Username"));
    const char *s = json_string_value(json_object_get(j, "Secret"));
    int rc = 0;
    if (!j || !s) {
        rc = ib_fail(err, IB_E_REGISTRY, "credential helper '%s' gave no Secret", helper);
    } else if (u && strcmp(u, "<token>") == 0) {
        out->identity_token = ib_xstrdup(s);
        out->user = ib_xstrdup(u);
    } else if (u && *u) {
        out->user = ib_xstrdup(u);
        out->secret = ib_xstrdup(s);
    }
    json_decref(j);
    return rc;
}

static const char *
helper_for(json_t *cfg, const char *registry)
{
    json_t *helpers = json_object_get(cfg, "credHelpers");
    const char *k;
    json_t *v;
    json_object_foreach(helpers, k, v)
    {
        if (key_matches(k, registry) && json_string_value(v))
            return json_string_value(v);
    }
    const char *store = json_string_value(json_object_get(cfg, "credsStore"));
    return store && *store ? store : NULL;
}

static json_t *
auths_entry(json_t *cfg, const char *registry, const char **key)
{
    json_t *auths = json_object_get(cfg, "auths");
    const char *k;
    json_t *v;
    json_object_foreach(auths, k, v)
    {
        if (key_matches(k, registry)) {
            if (key)
                *key = k;
            return v;
        }
    }
    return NULL;
}

int
reg_creds_lookup(const char *path, const char *registry, struct reg_creds *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    json_t *cfg = NULL;
    if (read_config(path, &cfg, err) < 0)
        return -1;
    int rc = 0;
    const char *helper = helper_for(cfg, registry);
    if (helper)
        rc = helper_get(helper, reg_config_key(registry), out, err);
    json_t *e = rc == 0 && !out->user ? auths_entry(cfg, registry, NULL) : NULL;
    if (e) {
        const char *auth = json_string_value(json_object_get(e, "auth"));
        const char *u = json_string_value(json_object_get(e, "username"));
        const char *p = json_string_value(json_object_get(e, "password"));
        const char *it = json_string_value(json_object_get(e, "identitytoken"));
        AUTO_BUF struct ib_buf dec = IB_BUF_INIT;
        if (auth && *auth) {
            char *colon;
            if (reg_base64_decode(auth, &dec) < 0 || !(colon = memchr(dec.s, ':', dec.len))) {
                rc = ib_fail(err, IB_E_USAGE, "'%s': bad \"auth\" entry for '%s'", path, registry);
            } else {
                out->user = ib_xstrndup(dec.s, (size_t)(colon - dec.s));
                out->secret = ib_xstrdup(colon + 1);
            }
            memset(dec.s, 0, dec.len);
        } else if (u && p) {
            out->user = ib_xstrdup(u);
            out->secret = ib_xstrdup(p);
        }
        if (rc == 0 && it && *it) {
            free(out->identity_token);
            out->identity_token = ib_xstrdup(it);
            if (!out->user)
                out->user = ib_xstrdup("<token>");
        }
    }
    json_decref(cfg);
    if (rc < 0)
        reg_creds_release(out);
    return rc;
}

static int
write_config(const char *path, json_t *cfg, struct ib_err **err)
{
    AUTO_FREE char *dir = ib_xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *name = path;
    if (slash) {
        *slash = '\0';
        name = path + (slash - dir) + 1;
        if (ib_mkdir_p(AT_FDCWD, *dir ? dir : "/", 0700, err) < 0)
            return -1;
    }
    AUTO_FD int dfd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ib_fail_errno(err, "open '%s'", dir);
    char *s = json_dumps(cfg, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!s)
        ib_oom();
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    ib_buf_adds(&b, s);
    ib_buf_addc(&b, '\n');
    memset(s, 0, strlen(s));
    free(s);
    int rc = ib_write_atomic(dfd, name, b.s, b.len, 0600, err);
    memset(b.s, 0, b.len);
    return rc;
}

int
reg_creds_store(const char *path, const char *registry, const char *user, const char *password,
                struct ib_err **err)
{
    json_t *cfg = NULL;
    if (read_config(path, &cfg, err) < 0)
        return -1;
    const char *key = reg_config_key(registry);
    const char *helper = helper_for(cfg, registry);
    int rc;
    if (helper) {
        json_t *in =
            json_pack("{s:s,s:s,s:s}", "ServerURL", key, "Username", user, "Secret", password);
        char *s = json_dumps(in, JSON_COMPACT);
        json_decref(in);
        AUTO_BUF struct ib_buf o = IB_BUF_INIT;
        int status = 0;
        rc = run_helper(helper, "store", s, &o, &status, err);
        memset(s, 0, strlen(s));
        free(s);
        if (rc == 0 && status != 0)
            rc = ib_fail(err, IB_E_REGISTRY, "credential helper '%s' could not store: %.200s",
                         helper, o.s);
    } else {
        json_t *auths = json_object_get(cfg, "auths");
        if (!json_is_object(auths)) {
            auths = json_object();
            json_object_set_new(cfg, "auths", auths);
        }
        const char *old = NULL;
        if (auths_entry(cfg, registry, &old))
            json_object_del(auths, old);
        AUTO_FREE char *up = ib_xasprintf("%s:%s", user, password);
        char *b = reg_base64_encode(up, strlen(up));
        memset(up, 0, strlen(up));
        json_object_set_new(auths, key, json_pack("{s:s}", "auth", b));
        memset(b, 0, strlen(b));
        free(b);
        rc = write_config(path, cfg, err);
    }
    json_decref(cfg);
    return rc;
}

int
reg_creds_erase(const char *path, const char *registry, struct ib_err **err)
{
    json_t *cfg = NULL;
    if (read_config(path, &cfg, err) < 0)
        return -1;
    const char *helper = helper_for(cfg, registry);
    bool found = false;
    int rc = 0;
    if (helper) {
        AUTO_BUF struct ib_buf o = IB_BUF_INIT;
        int status = 0;
        rc = run_helper(helper, "erase", reg_config_key(registry), &o, &status, err);
        found = rc == 0 && status == 0;
    }
    const char *old = NULL;
    if (rc == 0 && auths_entry(cfg, registry, &old)) {
        json_object_del(json_object_get(cfg, "auths"), old);
        found = true;
        rc = write_config(path, cfg, err);
    }
    json_decref(cfg);
    if (rc == 0 && !found)
        return ib_fail(err, IB_E_USAGE, "not logged in to '%s'", registry);
    return rc;
}

/* ---- base64 ---------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
reg_base64_encode(const void *p, size_t n)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    ib_buf_add_base64(&b, p, n);
    return ib_xstrdup(b.s);
}

int
reg_base64_decode(const char *s, struct ib_buf *out)
{
    unsigned v = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        const char *c = strchr(b64, *s);
        if (*s == '-')
            c = b64 + 62; /* URL-safe alphabet too */
        else if (*s == '_')
            c = b64 + 63;
        if (!c || !*s)
            return -1;
        v = (v << 6) | (unsigned)(c - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            ib_buf_addc(out, (char)((v >> bits) & 0xff));
        }
    }
    return 0;
}
