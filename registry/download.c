/* registry/download.c: login/logout, and plain URL downloads for `ADD <url>`. */
#include "registry/internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

/* "https://host:port/path" or "host:port" -> "host:port" (docker.io aliases kept) */
static char *
registry_domain(const char *s)
{
    const char *p = strstr(s, "://");
    p = p ? p + 3 : s;
    char *d = ib_xstrndup(p, strcspn(p, "/"));
    if (strcmp(d, "index.docker.io") == 0 || strcmp(d, "registry-1.docker.io") == 0) {
        free(d);
        d = ib_xstrdup("docker.io");
    }
    return d;
}

int
registry_login(struct registry_client *c, const char *registry, const char *user,
               const char *password, struct ib_err **err)
{
    AUTO_FREE char *domain = registry_domain(registry);
    if (!*domain)
        return ib_fail(err, IB_E_USAGE, "login: no registry given");
    struct reg_endpoint *ep;
    if (reg_endpoint_get(c, domain, &ep, err) < 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    reg_creds_release(&ep->creds);
    ep->creds.user = ib_xstrdup(user);
    ep->creds.secret = ib_xstrdup(password);
    ep->creds_loaded = true;
    pthread_mutex_unlock(&c->lock);
    struct xfer x;
    xfer_init(&x, ep, "GET", reg_endpoint_url(ep, ""));
    x.what = "login";
    int rc = http_one(c, &x, err);
    if (rc < 0)
        ib_err_prefix(err, "%s: login", domain);
    if (rc == 0 && x.status == 401)
        rc = ib_fail(err, IB_E_REGISTRY, "%s: login: unauthorized: incorrect username or password",
                     domain);
    else if (rc == 0 && x.status != 200)
        rc = reg_status_fail(&x, "login", err);
    xfer_release(&x);
    if (rc == 0)
        rc = reg_creds_store(c->config_path, domain, user, password, err);
    return rc;
}

int
registry_logout(struct registry_client *c, const char *registry, struct ib_err **err)
{
    AUTO_FREE char *domain = registry_domain(registry);
    return reg_creds_erase(c->config_path, domain, err);
}

/* ---- downloads ---------------------------------------------------------------- */

struct dl {
    int fd;
    struct digest_ctx *hash;
    uint64_t size;
};

static int
dl_sink(void *arg, const void *p, size_t n, struct ib_err **err)
{
    struct dl *d = arg;
    if (ib_write_all(d->fd, p, n, "download", err) < 0)
        return -1;
    digest_ctx_update(d->hash, p, n);
    d->size += n;
    return 0;
}

static int
dl_reset(void *arg, struct ib_err **err)
{
    struct dl *d = arg;
    if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0)
        return ib_fail_errno(err, "restart download");
    digest_ctx_reset(d->hash);
    d->size = 0;
    return 0;
}

/* the last path segment of url, without query; "index" if empty */
static char *
url_filename(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "?#");
    const char *end = p + n;
    const char *slash = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '/')
            slash = q;
    if (!slash || slash + 1 >= end)
        return ib_xstrdup("index");
    char *raw = ib_xstrndup(slash + 1, (size_t)(end - slash - 1));
    int len = 0;
    char *dec = curl_easy_unescape(NULL, raw, 0, &len);
    free(raw);
    if (!dec)
        ib_oom();
    char *res = (len == 0 || memchr(dec, '/', (size_t)len) || strcmp(dec, ".") == 0 ||
                 strcmp(dec, "..") == 0)
                    ? ib_xstrdup("index")
                    : ib_xstrndup(dec, (size_t)len);
    curl_free(dec);
    return res;
}

int
registry_download(struct registry_client *c, const char *url, const char *dest,
                  const char *checksum, struct registry_download_info *info, struct ib_err **err)
{
    struct digest want = {""};
    if (checksum && digest_parse(checksum, &want, err) < 0)
        return ib_err_prefix(err, "--checksum");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return ib_fail(err, IB_E_USAGE, "download '%s': only http and https URLs", url);
    AUTO_FREE char *tmp = ib_xasprintf("%s.imgbuild-XXXXXX", dest);
    struct dl d = {.fd = mkostemp(tmp, O_CLOEXEC)};
    if (d.fd < 0)
        return ib_fail_errno(err, "create '%s'", tmp);
    int rc = digest_ctx_new(&d.hash, err);
    struct xfer x;
    xfer_init(&x, NULL, "GET", ib_xstrdup(url));
    x.no_auth = true;
    x.sink = dl_sink;
    x.sink_reset = dl_reset;
    x.sink_arg = &d;
    x.what = url;
    if (rc == 0)
        rc = http_one(c, &x, err);
    if (rc == 0 && x.status != 200)
        rc = ib_fail(err, IB_E_REGISTRY, "download '%s': HTTP %ld", url, x.status);
    struct digest got;
    if (rc == 0) {
        digest_ctx_final(d.hash, &got);
        if (digest_is_set(&want) && !digest_eq(&want, &got))
            rc = ib_fail(err, IB_E_REGISTRY,
                         "download '%s': digest mismatch: got '%s', expected '%s'", url, got.s,
                         want.s);
    }
    if (rc == 0 && fchmod(d.fd, 0600) < 0)
        rc = ib_fail_errno(err, "chmod '%s'", tmp);
    if (rc == 0 && x.filetime > 0) {
        struct timespec ts[2] = {{x.filetime, 0}, {x.filetime, 0}};
        if (futimens(d.fd, ts) < 0)
            rc = ib_fail_errno(err, "set mtime of '%s'", tmp);
    }
    if (rc == 0 && fsync(d.fd) < 0)
        rc = ib_fail_errno(err, "fsync '%s'", tmp);
    if (rc == 0 && rename(tmp, dest) < 0)
        rc = ib_fail_errno(err, "rename to '%s'", dest);
    if (rc == 0 && info) {
        memset(info, 0, sizeof(*info));
        info->mtime = x.filetime;
        info->filename = url_filename(x.cur_url ? x.cur_url : url);
        memcpy(info->digest, got.s, sizeof(got.s));
        info->size = d.size;
    }
    if (rc < 0)
        unlink(tmp);
    close(d.fd);
    digest_ctx_free(d.hash);
    xfer_release(&x);
    return rc;
}

int
registry_url_validator(struct registry_client *c, const char *url, char **out, struct ib_err **err)
{
    *out = NULL;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return ib_fail(err, IB_E_USAGE, "'%s': only http and https URLs", url);
    struct xfer x;
    xfer_init(&x, NULL, "HEAD", ib_xstrdup(url));
    x.no_auth = true;
    x.what = url;
    int rc = http_one(c, &x, err);
    if (rc == 0 && x.status == 200 && (x.etag || x.last_modified))
        *out = ib_xasprintf("etag=%s last-modified=%s", x.etag ? x.etag : "",
                            x.last_modified ? x.last_modified : "");
    /* other answers (405 for HEAD, 404...): no validator; the GET says what is wrong */
    xfer_release(&x);
    return rc;
}
