/* registry/internal.h: what the files of registry/ share (not for other modules). */
#ifndef IMGBUILD_REGISTRY_INTERNAL_H
#define IMGBUILD_REGISTRY_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/strv.h"
#include "registry/registry.h"
#include "store/store.h"

#define REG_JSON_LIMIT (4u << 20)    /* manifests, indexes, token and error bodies */
#define REG_CONFIG_LIMIT (32u << 20) /* image configs */

/* ---- credentials (creds.c) ------------------------------------------------ */

struct reg_creds {
    char *user;           /* NULL: anonymous */
    char *secret;         /* password */
    char *identity_token; /* OAuth2 refresh token (from `docker login` to some registries) */
};
void reg_creds_release(struct reg_creds *c);
/* The config.json key of a registry: "https://index.docker.io/v1/" for docker.io. */
const char *reg_config_key(const char *registry);
/* The config file path (opts path, $DOCKER_CONFIG/config.json, ~/.docker/config.json). */
char *reg_config_path(const char *explicit_path);
/* Credentials for registry from the config file (path) or its helpers; none
 * found leaves *out empty and succeeds. */
int reg_creds_lookup(const char *path, const char *registry, struct reg_creds *out,
                     struct ib_err **err);
/* Store or erase credentials (helper if configured, else auths in config.json). */
int reg_creds_store(const char *path, const char *registry, const char *user, const char *password,
                    struct ib_err **err);
int reg_creds_erase(const char *path, const char *registry, struct ib_err **err);
/* base64 (standard alphabet, padded). */
char *reg_base64_encode(const void *p, size_t n);
int reg_base64_decode(const char *s, struct ib_buf *out);

/* ---- challenges (auth.c) ---------------------------------------------------- */

enum reg_auth_kind { REG_AUTH_NONE = 0, REG_AUTH_BASIC, REG_AUTH_BEARER };

struct reg_challenge {
    enum reg_auth_kind kind;
    char *realm, *service, *scope;
};
/* Parse one WWW-Authenticate value; unknown schemes give REG_AUTH_NONE. */
int reg_challenge_parse(const char *s, struct reg_challenge *out, struct ib_err **err);
void reg_challenge_release(struct reg_challenge *c);

/* ---- libcurl, loaded on first use (curl_load.c) ---------------------------- */

/* Load libcurl (once per process) and run curl_global_init; fails with an
 * IB_E_REGISTRY error naming the Debian package when it cannot be loaded. */
int reg_curl_load(struct ib_err **err);

/* ---- the client, endpoints, HTTP (client.c, http.c) ------------------------ */

struct reg_token {
    char *scope; /* space-separated scopes it was issued for */
    char *token;
    time_t expires;
};

/* One registry host, with its connection and auth state. */
struct reg_endpoint {
    char *domain;   /* as in references: "docker.io", "localhost:5000" */
    char *api_host; /* "registry-1.docker.io", "localhost:5000" */
    bool https;     /* scheme currently used */
    bool may_plain; /* loopback or --tls-verify=false: fall back to http when TLS is absent */
    bool loopback;  /* localhost, 127.0.0.0/8, ::1 */
    bool probed;    /* asked over plain HTTP once (http.c) */
    bool scheme_known;
    bool no_verify;
    struct ib_buf ca_blob; /* extra CA certificates (PEM) from the cert dir */
    char *client_cert, *client_key;
    enum reg_auth_kind auth;
    char *realm, *service;
    struct reg_creds creds;
    bool creds_loaded;
    struct reg_token *tokens;
    size_t ntokens, tokcap;
    struct reg_endpoint *next;
};

struct registry_client {
    struct registry_opts opts;
    char *config_path;
    struct reg_endpoint *endpoints;
    pthread_mutex_t lock;
    CURLSH *share; /* DNS, TLS sessions, connections; NULL until the first transfer */
    CURLM *multi;  /* kept between requests: connections and the loaded CA store */
    pthread_mutex_t multi_lock;
};

/* Ready c for transfers: load libcurl, make the share handle.  A client that
 * never transfers (a local build) never loads libcurl.  http_run calls it. */
int reg_client_http(struct registry_client *c, struct ib_err **err);

/* The endpoint of domain (created on first use).  Never fails for a valid domain. */
int reg_endpoint_get(struct registry_client *c, const char *domain, struct reg_endpoint **out,
                     struct ib_err **err);
/* "https://host/v2/<rest>" (or http); caller frees. */
char *reg_endpoint_url(const struct reg_endpoint *ep, const char *rest);
/* Load credentials for ep once (explicit opts, then config). */
int reg_endpoint_creds(struct registry_client *c, struct reg_endpoint *ep, struct ib_err **err);

/* One HTTP exchange, driven by http_run (alone or with others in parallel):
 * auth (401 -> challenge -> token -> again), redirects (Authorization only to
 * the registry itself), retries with backoff (5xx, 429 with Retry-After,
 * connection errors) and Range resume for sinks. */
struct xfer {
    /* set by the caller */
    struct reg_endpoint *ep;
    const char *method;     /* "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE" */
    char *url;              /* owned */
    char *scope;            /* owned; "repository:a/b:pull repository:c:pull" or NULL */
    struct ib_strv headers; /* extra request headers */
    const char *what;       /* for messages: "manifest 'x'", "blob sha256:..." */
    /* request body: a buffer or a file */
    const char *up_buf;
    size_t up_len;
    int up_fd;       /* -1: none */
    uint64_t up_off; /* where in up_fd the body starts (a chunk of a blob) */
    uint64_t up_size, up_pos;
    bool has_body;
    /* response body of a 2xx: a capped buffer, or a sink */
    struct ib_buf body;
    int (*sink)(void *arg, const void *p, size_t n, struct ib_err **err);
    /* called before data restarts from byte 0 (a retry the server did not resume) */
    int (*sink_reset)(void *arg, struct ib_err **err);
    void *sink_arg;
    bool no_auth; /* never send Authorization (downloads) */
    /* called (in the driving thread) when the transfer has its final answer */
    void (*on_done)(struct xfer *x);
    /* results */
    long status;
    char *location, *content_type, *docker_digest, *upload_uuid, *last_modified, *etag;
    char *www_auth, *retry_after, *error_code;
    time_t filetime;
    uint64_t received;
    struct ib_err *err; /* the transfer's own error */
    /* driver state */
    CURL *easy;
    struct curl_slist *slist;
    char errbuf[CURL_ERROR_SIZE];
    char *cur_url; /* after redirects */
    bool auth_ok;  /* may send Authorization to cur_url */
    bool auth_tried;
    bool sent_auth; /* this attempt carried Authorization */
    bool range_sent;
    bool sink_started; /* body bytes of this response are going to the sink */
    bool discard;      /* response body not for the sink (error, redirect) */
    struct ib_buf errbody;
    unsigned attempts, redirects;
    double not_before; /* monotonic time of the next attempt */
    bool done;
};

void xfer_init(struct xfer *x, struct reg_endpoint *ep, const char *method, char *url);
void xfer_release(struct xfer *x);
/* Run n transfers, at most parallel at once.  Each x->err is set on its own
 * failure (a non-2xx final status is not a failure: look at x->status).  The
 * first transfer error is also copied to *err and -1 returned. */
int http_run(struct registry_client *c, struct xfer **x, size_t n, unsigned parallel,
             struct ib_err **err);
/* One transfer; fails like http_run. */
int http_one(struct registry_client *c, struct xfer *x, struct ib_err **err);
/* Turn an unexpected final status into a clear error ("unauthorized", "not
 * found", ...) naming the registry and what; returns -1. */
int reg_status_fail(const struct xfer *x, const char *refstr, struct ib_err **err);
/* Authorization header value for x (NULL if none), getting a token if needed. */
int auth_header(struct registry_client *c, struct xfer *x, char **out, struct ib_err **err);
/* Handle a 401: learn the challenge, fetch a token.  false: no point retrying. */
int auth_on_401(struct registry_client *c, struct xfer *x, bool *retry, struct ib_err **err);
/* Forget cached tokens for scope (a token the registry refused). */
void auth_forget(struct registry_client *c, struct reg_endpoint *ep, const char *scope);
/* Resolve a Location (maybe relative) against base; caller frees. */
char *http_resolve(const char *base, const char *loc);
/* Same scheme, host and port? */
bool http_same_origin(const char *a, const char *b);

/* ---- repositories and manifests (pull.c, layers.c, push.c) ------------------ */

/* One repository on one registry, as used by a pull or push. */
struct reg_repo {
    struct registry_client *c;
    const struct ref *ref;
    struct reg_endpoint *ep;
    char *refstr; /* "domain/path:tag" for messages */
    char *scope;  /* "repository:path:pull[,push]" */
};
int reg_repo_init(struct registry_client *c, const struct ref *ref, bool push, struct reg_repo *out,
                  struct ib_err **err);
void reg_repo_release(struct reg_repo *r);
/* A new transfer for "<path>/<fmt><arg>" of r (fmt e.g. "manifests/"); reg_xfer_free. */
struct xfer *reg_repo_xfer(const struct reg_repo *r, const char *method, const char *fmt,
                           const char *arg);
void reg_xfer_free(struct xfer *x);

struct reg_manifest {
    struct ib_buf raw;    /* the exact bytes */
    struct digest digest; /* of raw */
    char *media;
    struct json_t *json;
};
/* GET manifests/<reference>; verified against expect (if set) and the
 * registry's Docker-Content-Digest. */
int reg_get_manifest(const struct reg_repo *r, const char *reference, const struct digest *expect,
                     struct reg_manifest *out, struct ib_err **err);
void reg_manifest_release(struct reg_manifest *m);
/* Fetch the config and layers of m (an image manifest) that the store lacks,
 * in parallel, verified; the config must be for want.  m, and index (the
 * index m was chosen from, or NULL), are stored with the config.  With
 * unpack, also make the layers' snapshots as they arrive. */
int reg_pull_layers(const struct reg_repo *r, struct store *st, const struct reg_manifest *m,
                    const struct reg_manifest *index, const struct store_platform *want,
                    bool unpack, struct ib_err **err);
/* The repository a blob was pulled from on domain (for a cross-repository
 * mount); -1 when unknown.  *repo: caller frees. */
int reg_blob_source(struct store *st, const char *domain, const struct digest *d, char **repo);

#endif
