/* registry/http.c: the HTTP driver over curl multi.
 *
 * Every request is a struct xfer that http_run drives to its final answer:
 * redirects are followed here (not by curl) so that Authorization goes only
 * to the registry's own origin; a 401 is answered once through auth.c;
 * 429/5xx and connection errors are retried with backoff (Retry-After is
 * honoured); a sink that already got bytes is resumed with a Range request
 * and told to start over when the server ignores the Range.
 */
#include "registry/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

#define MAX_REDIRECTS 10
#define ERRBODY_LIMIT (64u << 10)

static double
mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
xfer_init(struct xfer *x, struct reg_endpoint *ep, const char *method, char *url)
{
    memset(x, 0, sizeof(*x));
    x->ep = ep;
    x->method = method;
    x->url = url;
    x->up_fd = -1;
    ib_buf_init(&x->body);
    ib_buf_set_limit(&x->body, REG_JSON_LIMIT);
    ib_buf_init(&x->errbody);
    ib_buf_set_limit(&x->errbody, ERRBODY_LIMIT);
}

static void
clear_response(struct xfer *x)
{
    free(x->location);
    free(x->content_type);
    free(x->docker_digest);
    free(x->upload_uuid);
    free(x->last_modified);
    free(x->etag);
    free(x->www_auth);
    free(x->retry_after);
    x->location = x->content_type = x->docker_digest = x->upload_uuid = NULL;
    x->last_modified = x->etag = x->www_auth = x->retry_after = NULL;
    x->status = 0;
}

void
xfer_release(struct xfer *x)
{
    clear_response(x);
    free(x->url);
    free(x->scope);
    free(x->cur_url);
    free(x->error_code);
    ib_strv_release(&x->headers);
    ib_buf_release(&x->body);
    ib_buf_release(&x->errbody);
    ib_err_free(x->err);
    if (x->slist)
        curl_slist_free_all(x->slist);
    if (x->easy)
        curl_easy_cleanup(x->easy);
    memset(x, 0, sizeof(*x));
    x->up_fd = -1;
}

/* ---- callbacks ------------------------------------------------------------ */

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        clear_response(x); /* a new response (after 100 Continue) */
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - p);
    const char *v = colon + 1;
    const char *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    static const struct {
        const char *name;
        size_t off;
    } keep[] = {
        {"location", offsetof(struct xfer, location)},
        {"content-type", offsetof(struct xfer, content_type)},
        {"docker-content-digest", offsetof(struct xfer, docker_digest)},
        {"docker-upload-uuid", offsetof(struct xfer, upload_uuid)},
        {"last-modified", offsetof(struct xfer, last_modified)},
        {"etag", offsetof(struct xfer, etag)},
        {"www-authenticate", offsetof(struct xfer, www_auth)},
        {"retry-after", offsetof(struct xfer, retry_after)},
    };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        if (strlen(keep[i].name) == klen && strncasecmp(p, keep[i].name, klen) == 0) {
            char **slot = (char **)((char *)x + keep[i].off);
            if (*slot && keep[i].off == offsetof(struct xfer, www_auth)) {
                /* several challenges: keep the Bearer one, else the first */
                if (strncasecmp(v, "bearer", 6) != 0)
                    return n;
            }
            free(*slot);
            *slot = ib_xstrndup(v, (size_t)(end - v));
        }
    }
    return n;
}

/* Decide, on the first body bytes of a response, where they go. */
static int
body_start(struct xfer *x, struct ib_err **err)
{
    long st = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
    x->status = st;
    if (st < 200 || st >= 300) {
        x->discard = true;
        return 0;
    }
    x->sink_started = true;
    if (!x->sink)
        return 0;
    if (x->received > 0 && !(x->range_sent && st == 206)) {
        /* the server sends everything again: the sink starts over */
        x->received = 0;
        if (x->sink_reset && x->sink_reset(x->sink_arg, err) < 0)
            return -1;
    }
    return 0;
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    if (!x->sink_started && !x->discard && body_start(x, &x->err) < 0)
        return 0;
    if (x->discard) {
        if (x->errbody.len + n <= ERRBODY_LIMIT)
            ib_buf_add(&x->errbody, p, n);
        return n;
    }
    if (x->sink) {
        if (x->sink(x->sink_arg, p, n, &x->err) < 0)
            return 0;
    } else if (ib_buf_add_checked(&x->body, p, n, x->what ? x->what : "response", &x->err) < 0) {
        return 0;
    }
    x->received += n;
    return n;
}

static size_t
on_read(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t room = size * nmemb;
    if (x->up_fd >= 0) {
        if (x->up_pos >= x->up_size)
            return 0;
        size_t want = room;
        if (want > x->up_size - x->up_pos)
            want = (size_t)(x->up_size - x->up_pos);
        ssize_t got = pread(x->up_fd, p, want, (off_t)(x->up_off + x->up_pos));
        if (got < 0)
            return CURL_READFUNC_ABORT;
        x->up_pos += (uint64_t)got;
        return (size_t)got;
    }
    size_t left = x->up_len - (size_t)x->up_pos;
    if (room > left)
        room = left;
    memcpy(p, x->up_buf + x->up_pos, room);
    x->up_pos += room;
    return room;
}

/* ---- the scheme of a loopback registry ------------------------------------------ */

static size_t
discard_body(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

/* A loopback registry with no certificates configured for it is most often
 * plain HTTP (a local or test registry).  Instead of a TLS handshake that
 * fails (~50 ms or more: curl loads the CA bundle for it), ask `GET /v2/`
 * over http:// once: only a real HTTP answer that /v2/ gives (200 or 401)
 * settles on plain HTTP.  A TLS server answers 400 or drops the connection,
 * so https stays, and so does the TLS-first fallback logic in finish(). */
static void
probe_loopback(struct registry_client *c, struct reg_endpoint *ep)
{
    pthread_mutex_lock(&c->lock);
    bool go = ep->loopback && !ep->probed && !ep->scheme_known && ep->https && !ep->ca_blob.len &&
              !ep->client_cert;
    ep->probed = true;
    pthread_mutex_unlock(&c->lock);
    if (!go)
        return;
    CURL *e = curl_easy_init();
    if (!e)
        ib_oom();
    AUTO_FREE char *url = ib_xasprintf("http://%s/v2/", ep->api_host);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "imgbuild/0.1");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    /* short: on loopback an HTTP server answers at once; a server that says
     * nothing gets the TLS attempt (and its fallback) as before */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_SHARE, c->share); /* the connection is kept for what follows */
    long st = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(e);
    if (st != 200 && st != 401)
        return;
    pthread_mutex_lock(&c->lock);
    if (!ep->scheme_known) {
        ep->https = false;
        ep->scheme_known = true;
    }
    pthread_mutex_unlock(&c->lock);
}

/* x's URL on ep's origin, after the probe chose http: rewrite https:// to http://. */
static void
follow_scheme(struct registry_client *c, struct xfer *x)
{
    pthread_mutex_lock(&c->lock);
    bool plain = x->ep->scheme_known && !x->ep->https;
    pthread_mutex_unlock(&c->lock);
    if (!plain || strncmp(x->url, "https://", 8) != 0 || strncmp(x->cur_url, "https://", 8) != 0)
        return;
    AUTO_FREE char *origin = ib_xasprintf("https://%s/", x->ep->api_host);
    if (strncmp(x->url, origin, strlen(origin)) != 0 ||
        strncmp(x->cur_url, origin, strlen(origin)) != 0)
        return;
    char *u = ib_xasprintf("http://%s", x->url + 8);
    free(x->url);
    x->url = u;
    u = ib_xasprintf("http://%s", x->cur_url + 8);
    free(x->cur_url);
    x->cur_url = u;
}

/* ---- starting an attempt ---------------------------------------------------- */

static int
start(struct registry_client *c, struct xfer *x, struct ib_err **err)
{
    struct reg_endpoint *ep = x->ep;
    if (!x->easy && !(x->easy = curl_easy_init()))
        ib_oom();
    CURL *e = x->easy;
    curl_easy_reset(e);
    if (ep) {
        probe_loopback(c, ep);
        follow_scheme(c, x);
    }
    if (x->slist) {
        curl_slist_free_all(x->slist);
        x->slist = NULL;
    }
    clear_response(x);
    ib_buf_reset(&x->errbody);
    x->sink_started = x->discard = x->range_sent = x->sent_auth = false;
    x->errbuf[0] = '\0';
    if (!x->sink && !x->sink_started)
        ib_buf_reset(&x->body);
    x->up_pos = 0;

    struct curl_slist *h = NULL;
    for (size_t i = 0; i < x->headers.n; i++)
        h = curl_slist_append(h, x->headers.v[i]);
    h = curl_slist_append(h, "Expect:");
    if (x->auth_ok && !x->no_auth) {
        AUTO_FREE char *authz = NULL;
        if (auth_header(c, x, &authz, err) < 0) {
            curl_slist_free_all(h);
            return -1;
        }
        x->sent_auth = authz != NULL;
        if (authz) {
            AUTO_FREE char *line = ib_xasprintf("Authorization: %s", authz);
            h = curl_slist_append(h, line);
            memset(authz, 0, strlen(authz));
        }
    }
    if (x->sink && x->received > 0) {
        AUTO_FREE char *range = ib_xasprintf("Range: bytes=%llu-", (unsigned long long)x->received);
        h = curl_slist_append(h, range);
        x->range_sent = true;
    }
    x->slist = h;

    curl_easy_setopt(e, CURLOPT_URL, x->cur_url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "imgbuild/0.1");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->opts.timeout_s);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1000L); /* B/s, over curl's 5 s window */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)c->opts.timeout_s);
    curl_easy_setopt(e, CURLOPT_SHARE, c->share);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (ep) {
        if (ep->no_verify) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (ep->ca_blob.len) {
            struct curl_blob blob = {ep->ca_blob.s, ep->ca_blob.len, CURL_BLOB_COPY};
            curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
        }
        if (ep->client_cert && ep->client_key) {
            curl_easy_setopt(e, CURLOPT_SSLCERT, ep->client_cert);
            curl_easy_setopt(e, CURLOPT_SSLKEY, ep->client_key);
        }
    }
    if (strcmp(x->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (x->has_body) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(x->up_fd >= 0 ? x->up_size : x->up_len));
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
    } else if (strcmp(x->method, "GET") != 0) {
        if (strcmp(x->method, "POST") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        }
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
    }
    return 0;
}

/* ---- finishing an attempt ----------------------------------------------------- */

enum outcome { DONE, AGAIN };

static bool
tls_error(CURLcode rc)
{
    switch ((int)rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
        return true;
    default:
        return false;
    }
}

static bool
transient(CURLcode rc)
{
    switch ((int)rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* Registry transfers get the reference prefixed by their caller; others name the URL. */
static const char *
host_of(const struct xfer *x)
{
    return x->ep ? "" : x->url;
}

static const char *
host_sep(const struct xfer *x)
{
    return x->ep ? "" : ": ";
}

static enum outcome
backoff(struct registry_client *c, struct xfer *x, double delay, const char *why)
{
    x->attempts++;
    if (x->attempts >= c->opts.retries) {
        if (!x->err)
            ib_fail(&x->err, IB_E_REGISTRY, "%s%s%s: %s (gave up after %u attempts)", host_of(x),
                    host_sep(x), x->what ? x->what : x->cur_url, why, x->attempts);
        return DONE;
    }
    if (delay < 0) {
        delay = 0.25;
        for (unsigned i = 1; i < x->attempts; i++)
            delay *= 2;
        if (delay > 8)
            delay = 8;
    }
    x->not_before = mono() + delay;
    return AGAIN;
}

static enum outcome
tls_fail(struct xfer *x, CURLcode rc)
{
    ib_fail(&x->err, IB_E_REGISTRY, "%s%stls: %s%s", host_of(x), host_sep(x),
            *x->errbuf ? x->errbuf : curl_easy_strerror(rc),
            rc == CURLE_PEER_FAILED_VERIFICATION
                ? " (give the CA with --cert-dir, or use --tls-verify=false)"
                : "");
    return DONE;
}

static enum outcome
finish(struct registry_client *c, struct xfer *x, CURLcode rc)
{
    struct reg_endpoint *ep = x->ep;
    if (x->err)
        return DONE;
    if (rc != CURLE_OK) {
        if (rc == CURLE_SSL_CONNECT_ERROR && ep && ep->may_plain &&
            strncmp(x->cur_url, "https://", 8) == 0 && http_same_origin(x->cur_url, x->url)) {
            /* no TLS there: a loopback or --tls-verify=false registry on plain HTTP */
            pthread_mutex_lock(&c->lock);
            bool fall_back = !ep->scheme_known || !ep->https;
            ep->https = false;
            ep->scheme_known = true;
            pthread_mutex_unlock(&c->lock);
            if (!fall_back)
                return tls_fail(x, rc);
            char *u = ib_xasprintf("http://%s", x->cur_url + 8);
            free(x->cur_url);
            x->cur_url = u;
            return AGAIN;
        }
        if (tls_error(rc))
            return tls_fail(x, rc);
        if (transient(rc))
            return backoff(c, x, -1, *x->errbuf ? x->errbuf : curl_easy_strerror(rc));
        ib_fail(&x->err, IB_E_REGISTRY, "%s%s%s: %s", host_of(x), host_sep(x),
                x->what ? x->what : x->cur_url, *x->errbuf ? x->errbuf : curl_easy_strerror(rc));
        return DONE;
    }
    if (ep && !ep->scheme_known) {
        pthread_mutex_lock(&c->lock);
        ep->scheme_known = true;
        pthread_mutex_unlock(&c->lock);
    }
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    long ft = -1;
    curl_easy_getinfo(x->easy, CURLINFO_FILETIME, &ft);
    x->filetime = ft > 0 ? (time_t)ft : 0;
    long st = x->status;
    if ((st == 301 || st == 302 || st == 303 || st == 307 || st == 308) && x->location) {
        if (++x->redirects > MAX_REDIRECTS) {
            ib_fail(&x->err, IB_E_REGISTRY, "%s%s%s: too many redirects", host_of(x), host_sep(x),
                    x->what ? x->what : x->url);
            return DONE;
        }
        char *next = http_resolve(x->cur_url, x->location);
        if (!next) {
            ib_fail(&x->err, IB_E_REGISTRY, "%s%sbad redirect location", host_of(x), host_sep(x));
            return DONE;
        }
        if (!http_same_origin(next, x->url))
            x->auth_ok = false; /* never carry credentials to another host */
        free(x->cur_url);
        x->cur_url = next;
        if (st == 303)
            x->method = "GET";
        return AGAIN;
    }
    if (st == 401 && x->auth_ok && !x->no_auth && !x->auth_tried && x->www_auth) {
        bool retry = false;
        x->auth_tried = true;
        if (auth_on_401(c, x, &retry, &x->err) < 0)
            return DONE;
        return retry ? AGAIN : DONE;
    }
    if (st == 429 || st == 500 || st == 502 || st == 503 || st == 504) {
        double delay = -1;
        if (x->retry_after) {
            char *end;
            long s = strtol(x->retry_after, &end, 10);
            if (end != x->retry_after && s >= 0)
                delay = s > 60 ? 60 : (double)s;
        }
        AUTO_FREE char *why = ib_xasprintf("HTTP %ld", st);
        enum outcome o = backoff(c, x, delay, why);
        if (o == DONE && x->err) {
            ib_err_free(x->err); /* the caller reports the status */
            x->err = NULL;
        }
        return o;
    }
    return DONE;
}

/* ---- the loop ------------------------------------------------------------------ */

int
http_run(struct registry_client *c, struct xfer **xs, size_t n, unsigned parallel,
         struct ib_err **err)
{
    if (n == 0)
        return 0;
    AUTO_ERR struct ib_err *nolib = NULL;
    if (reg_client_http(c, &nolib) < 0) { /* no libcurl: every transfer fails with that */
        for (size_t i = 0; i < n; i++) {
            if (!xs[i]->err)
                ib_fail(&xs[i]->err, nolib->kind, "%s", nolib->msg);
            if (xs[i]->on_done)
                xs[i]->on_done(xs[i]);
        }
        return ib_fail(err, nolib->kind, "%s", nolib->msg);
    }
    /* the client's multi handle keeps connections and the parsed CA bundle
     * (~50 ms to load) from one call to the next; a second thread using the
     * same client meanwhile gets a multi handle of its own */
    bool own = pthread_mutex_trylock(&c->multi_lock) != 0;
    CURLM *m = own ? NULL : c->multi;
    if (!m && !(m = curl_multi_init()))
        ib_oom();
    if (!own)
        c->multi = m;
    if (parallel == 0)
        parallel = 1;
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)parallel);
    enum { PENDING, ACTIVE, FINISHED };
    AUTO_FREE unsigned char *state = ib_xcalloc(n ? n : 1, 1);
    size_t active = 0, finished = 0;
    for (size_t i = 0; i < n; i++) {
        struct xfer *x = xs[i];
        free(x->cur_url);
        x->cur_url = ib_xstrdup(x->url);
        x->auth_ok = true;
        x->not_before = 0;
    }
    int rc = 0;
    while (finished < n) {
        double now = mono(), wake = -1;
        for (size_t i = 0; i < n && active < parallel; i++) {
            struct xfer *x = xs[i];
            if (state[i] != PENDING)
                continue;
            if (x->not_before > now) {
                if (wake < 0 || x->not_before < wake)
                    wake = x->not_before;
                continue;
            }
            if (start(c, x, &x->err) < 0) {
                state[i] = FINISHED;
                finished++;
                if (x->on_done)
                    x->on_done(x);
                continue;
            }
            curl_multi_add_handle(m, x->easy);
            state[i] = ACTIVE;
            active++;
        }
        int running = 0;
        bool ready_now = false; /* a transfer to start again at once (redirect, auth) */
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            size_t i = 0;
            while (i < n && xs[i]->easy != msg->easy_handle)
                i++;
            if (i == n)
                continue;
            CURLcode res = msg->data.result;
            curl_multi_remove_handle(m, xs[i]->easy);
            active--;
            if (finish(c, xs[i], res) == AGAIN) {
                state[i] = PENDING;
                ready_now |= xs[i]->not_before <= mono();
            } else {
                state[i] = FINISHED;
                finished++;
                if (xs[i]->on_done)
                    xs[i]->on_done(xs[i]);
                ready_now = true; /* a free slot: start the next pending transfer now */
            }
        }
        if (finished == n)
            break;
        int timeout = 200;
        if (active == 0 && wake > 0) {
            double d = wake - mono();
            timeout = d <= 0 ? 0 : (int)(d * 1000) + 1;
        }
        if (ready_now)
            continue;
        if (active > 0 || timeout > 0)
            curl_multi_poll(m, NULL, 0, timeout, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        if (xs[i]->err && rc == 0) {
            rc = -1;
            ib_fail(err, xs[i]->err->kind, "%s", xs[i]->err->msg);
        }
    }
    if (own)
        curl_multi_cleanup(m);
    else
        pthread_mutex_unlock(&c->multi_lock);
    return rc;
}

int
http_one(struct registry_client *c, struct xfer *x, struct ib_err **err)
{
    return http_run(c, &x, 1, 1, err);
}

/* ---- URLs ------------------------------------------------------------------------- */

char *
http_resolve(const char *base, const char *loc)
{
    CURLU *u = curl_url();
    if (!u)
        ib_oom();
    char *out = NULL, *res = NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
        res = ib_xstrdup(out);
        curl_free(out);
    }
    curl_url_cleanup(u);
    return res;
}

static char *
origin(const char *url)
{
    CURLU *u = curl_url();
    if (!u)
        ib_oom();
    char *scheme = NULL, *host = NULL, *port = NULL, *res = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        res = ib_xasprintf("%s://%s:%s", scheme, host, port);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return res;
}

bool
http_same_origin(const char *a, const char *b)
{
    AUTO_FREE char *oa = origin(a);
    AUTO_FREE char *ob = origin(b);
    if (!oa || !ob)
        return false;
    /* http -> https on the same host (a loopback registry's scheme probe) is fine */
    const char *pa = strstr(oa, "://"), *pb = strstr(ob, "://");
    return strcasecmp(pa, pb) == 0;
}
