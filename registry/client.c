/* registry/client.c: the client, its endpoints (one per registry host) and TLS setup. */
#include "registry/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define CERTS_D "/etc/docker/certs.d"

static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST] = {[0 ... CURL_LOCK_DATA_LAST - 1] =
                                                               PTHREAD_MUTEX_INITIALIZER};

static void
share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *arg)
{
    (void)h, (void)a, (void)arg;
    pthread_mutex_lock(&share_locks[d]);
}

static void
share_unlock(CURL *h, curl_lock_data d, void *arg)
{
    (void)h, (void)arg;
    pthread_mutex_unlock(&share_locks[d]);
}

/* No libcurl here: every build makes a client, most never use it (reg_client_http). */
int
registry_client_new(const struct registry_opts *opts, struct registry_client **out,
                    struct ib_err **err)
{
    (void)err;
    struct registry_client *c = ib_xcalloc(1, sizeof(*c));
    if (opts)
        c->opts = *opts;
    if (!c->opts.parallel)
        c->opts.parallel = 4;
    if (!c->opts.timeout_s)
        c->opts.timeout_s = 30;
    if (!c->opts.retries)
        c->opts.retries = 4;
    c->config_path = reg_config_path(c->opts.config_path);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->multi_lock, NULL);
    *out = c;
    return 0;
}

int
reg_client_http(struct registry_client *c, struct ib_err **err)
{
    if (reg_curl_load(err) < 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    if (!c->share) {
        CURLSH *sh = curl_share_init();
        if (!sh)
            ib_oom();
        curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        c->share = sh;
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void
endpoint_free(struct reg_endpoint *ep)
{
    free(ep->domain);
    free(ep->api_host);
    ib_buf_release(&ep->ca_blob);
    free(ep->client_cert);
    free(ep->client_key);
    free(ep->realm);
    free(ep->service);
    reg_creds_release(&ep->creds);
    for (size_t i = 0; i < ep->ntokens; i++) {
        memset(ep->tokens[i].token, 0, strlen(ep->tokens[i].token));
        free(ep->tokens[i].token);
        free(ep->tokens[i].scope);
    }
    free(ep->tokens);
    free(ep);
}

void
registry_client_free(struct registry_client *c)
{
    if (!c)
        return;
    while (c->endpoints) {
        struct reg_endpoint *n = c->endpoints->next;
        endpoint_free(c->endpoints);
        c->endpoints = n;
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->share)
        curl_share_cleanup(c->share);
    pthread_mutex_destroy(&c->multi_lock);
    pthread_mutex_destroy(&c->lock);
    free(c->config_path);
    free(c);
}

/* localhost, 127.0.0.0/8, ::1 (with or without a port) */
static bool
is_loopback(const char *domain)
{
    AUTO_FREE char *host = NULL;
    if (domain[0] == '[') {
        const char *e = strchr(domain, ']');
        host = ib_xstrndup(domain + 1, e ? (size_t)(e - domain - 1) : strlen(domain + 1));
    } else {
        host = ib_xstrndup(domain, strcspn(domain, ":"));
    }
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

/* CA certificates (*.crt) and a client pair (client.cert / client.key, or
 * any NAME.cert with NAME.key) from dir, as docker reads certs.d. */
static int
load_cert_dir(struct reg_endpoint *ep, const char *dir, bool explicit_dir, struct ib_err **err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (explicit_dir)
            return ib_fail_errno(err, "cert dir '%s'", dir);
        return 0;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        AUTO_FREE char *path = ib_path_join(dir, de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".crt") == 0) {
            if (ib_read_file(path, &ep->ca_blob, err) < 0) {
                closedir(d);
                return -1;
            }
            ib_buf_addc(&ep->ca_blob, '\n');
        } else if (n > 5 && strcmp(de->d_name + n - 5, ".cert") == 0 && !ep->client_cert) {
            AUTO_FREE char *key = ib_xasprintf("%.*s.key", (int)(strlen(path) - 5), path);
            if (access(key, R_OK) != 0) {
                closedir(d);
                return ib_fail(err, IB_E_USAGE, "cert dir '%s': '%s' has no matching .key", dir,
                               de->d_name);
            }
            ep->client_cert = ib_steal(&path);
            ep->client_key = ib_steal(&key);
        }
    }
    closedir(d);
    return 0;
}

int
reg_endpoint_get(struct registry_client *c, const char *domain, struct reg_endpoint **out,
                 struct ib_err **err)
{
    pthread_mutex_lock(&c->lock);
    for (struct reg_endpoint *ep = c->endpoints; ep; ep = ep->next) {
        if (strcmp(ep->domain, domain) == 0) {
            pthread_mutex_unlock(&c->lock);
            *out = ep;
            return 0;
        }
    }
    pthread_mutex_unlock(&c->lock);
    struct reg_endpoint *ep = ib_xcalloc(1, sizeof(*ep));
    ep->domain = ib_xstrdup(domain);
    ep->api_host =
        ib_xstrdup(strcmp(domain, "docker.io") == 0 || strcmp(domain, "index.docker.io") == 0
                       ? "registry-1.docker.io"
                       : domain);
    ib_buf_init(&ep->ca_blob);
    ep->https = true;
    ep->no_verify = c->opts.tls_no_verify;
    ep->loopback = is_loopback(domain);
    ep->may_plain = c->opts.tls_no_verify || ep->loopback;
    int rc;
    if (c->opts.cert_dir) {
        rc = load_cert_dir(ep, c->opts.cert_dir, true, err);
    } else {
        AUTO_FREE char *dir = ib_xasprintf("%s/%s", CERTS_D, domain);
        rc = load_cert_dir(ep, dir, false, err);
    }
    if (rc < 0) {
        endpoint_free(ep);
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    ep->next = c->endpoints;
    c->endpoints = ep;
    pthread_mutex_unlock(&c->lock);
    *out = ep;
    return 0;
}

char *
reg_endpoint_url(const struct reg_endpoint *ep, const char *rest)
{
    return ib_xasprintf("%s://%s/v2/%s", ep->https ? "https" : "http", ep->api_host, rest);
}

int
reg_endpoint_creds(struct registry_client *c, struct reg_endpoint *ep, struct ib_err **err)
{
    pthread_mutex_lock(&c->lock);
    bool loaded = ep->creds_loaded;
    pthread_mutex_unlock(&c->lock);
    if (loaded)
        return 0;
    struct reg_creds cr = {0};
    if (c->opts.username) {
        cr.user = ib_xstrdup(c->opts.username);
        cr.secret = ib_xstrdup(c->opts.password ? c->opts.password : "");
    } else if (reg_creds_lookup(c->config_path, ep->domain, &cr, err) < 0) {
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    if (!ep->creds_loaded) {
        ep->creds = cr;
        ep->creds_loaded = true;
    } else {
        reg_creds_release(&cr);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}
