/* registry/auth.c: the 401 challenge, Bearer tokens and Basic credentials.
 *
 * A request first goes out without Authorization (or with what the endpoint
 * already learned).  A 401 tells the scheme: Basic sends the configured
 * credentials; Bearer fetches a token from the realm for service and the
 * request's scopes (several scopes in one token request, e.g. a push that
 * mounts a blob from another repository), with Basic credentials when known
 * or a refresh token (identitytoken) by POST, then caches it until it
 * expires.  Secrets never enter error messages.
 */
#include "registry/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

/* ---- challenge parsing ---------------------------------------------------------- */

static const char *
skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool
is_token_char(char ch)
{
    return ch && !strchr(" \t,=\"", ch);
}

int
reg_challenge_parse(const char *s, struct reg_challenge *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    const char *p = skip_ws(s);
    const char *scheme = p;
    while (is_token_char(*p))
        p++;
    size_t sn = (size_t)(p - scheme);
    if (sn == 6 && strncasecmp(scheme, "bearer", 6) == 0)
        out->kind = REG_AUTH_BEARER;
    else if (sn == 5 && strncasecmp(scheme, "basic", 5) == 0)
        out->kind = REG_AUTH_BASIC;
    else
        return 0;
    for (;;) {
        p = skip_ws(p);
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        const char *k = p;
        while (is_token_char(*p))
            p++;
        size_t kn = (size_t)(p - k);
        p = skip_ws(p);
        if (kn == 0 || *p != '=') {
            reg_challenge_release(out);
            return ib_fail(err, IB_E_REGISTRY, "bad WWW-Authenticate header near '%.20s'", k);
        }
        p = skip_ws(p + 1);
        AUTO_BUF struct ib_buf v = IB_BUF_INIT;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                ib_buf_addc(&v, *p++);
            }
            if (*p != '"') {
                reg_challenge_release(out);
                return ib_fail(err, IB_E_REGISTRY,
                               "bad WWW-Authenticate header: unterminated quote");
            }
            p++;
        } else {
            while (is_token_char(*p))
                ib_buf_addc(&v, *p++);
        }
        char **slot = NULL;
        if (kn == 5 && strncasecmp(k, "realm", 5) == 0)
            slot = &out->realm;
        else if (kn == 7 && strncasecmp(k, "service", 7) == 0)
            slot = &out->service;
        else if (kn == 5 && strncasecmp(k, "scope", 5) == 0)
            slot = &out->scope;
        if (slot) {
            free(*slot);
            *slot = ib_buf_detach(&v, NULL);
        }
    }
    if (out->kind == REG_AUTH_BEARER && (!out->realm || !*out->realm)) {
        reg_challenge_release(out);
        return ib_fail(err, IB_E_REGISTRY, "Bearer challenge without a realm");
    }
    return 0;
}

void
reg_challenge_release(struct reg_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    memset(c, 0, sizeof(*c));
}

/* ---- tokens --------------------------------------------------------------------- */

static const char *
scope_key(const struct xfer *x)
{
    return x->scope ? x->scope : "";
}

static char *
cached_token(struct reg_endpoint *ep, const char *scope)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < ep->ntokens; i++)
        if (strcmp(ep->tokens[i].scope, scope) == 0 && ep->tokens[i].expires > now + 5)
            return ib_xstrdup(ep->tokens[i].token);
    return NULL;
}

static void
token_drop(struct reg_endpoint *ep, size_t i)
{
    free(ep->tokens[i].scope);
    memset(ep->tokens[i].token, 0, strlen(ep->tokens[i].token));
    free(ep->tokens[i].token);
    ep->tokens[i] = ep->tokens[--ep->ntokens];
}

void
auth_forget(struct registry_client *c, struct reg_endpoint *ep, const char *scope)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = ep->ntokens; i-- > 0;)
        if (strcmp(ep->tokens[i].scope, scope ? scope : "") == 0)
            token_drop(ep, i);
    pthread_mutex_unlock(&c->lock);
}

static char *
basic_value(const struct reg_creds *cr)
{
    AUTO_FREE char *up = ib_xasprintf("%s:%s", cr->user, cr->secret ? cr->secret : "");
    char *b = reg_base64_encode(up, strlen(up));
    char *v = ib_xasprintf("Basic %s", b);
    memset(up, 0, strlen(up));
    free(b);
    return v;
}

static void
add_query(struct ib_buf *q, const char *k, const char *v)
{
    char *e = curl_easy_escape(NULL, v, 0);
    if (!e)
        ib_oom();
    ib_buf_addf(q, "%s%s=%s", q->len ? "&" : "", k, e);
    curl_free(e);
}

/* GET (or POST with a refresh token) the realm for the scopes of x. */
static int
fetch_token(struct registry_client *c, struct reg_endpoint *ep, const char *scope, char **out,
            struct ib_err **err)
{
    AUTO_BUF struct ib_buf q = IB_BUF_INIT;
    if (ep->service)
        add_query(&q, "service", ep->service);
    AUTO_FREE char *scopes = ib_xstrdup(scope);
    for (char *save = NULL, *s = strtok_r(scopes, " ", &save); s; s = strtok_r(NULL, " ", &save))
        add_query(&q, "scope", s);
    if (reg_endpoint_creds(c, ep, err) < 0)
        return -1;
    const struct reg_creds *cr = &ep->creds;
    struct xfer x;
    bool refresh = cr->identity_token != NULL;
    if (refresh) {
        add_query(&q, "grant_type", "refresh_token");
        add_query(&q, "refresh_token", cr->identity_token);
        add_query(&q, "client_id", "imgbuild");
        xfer_init(&x, NULL, "POST", ib_xstrdup(ep->realm));
        x.up_buf = q.s;
        x.up_len = q.len;
        x.has_body = true;
        ib_strv_push(&x.headers, "Content-Type: application/x-www-form-urlencoded");
    } else {
        const char *sep = strchr(ep->realm, '?') ? "&" : "?";
        xfer_init(&x, NULL, "GET", ib_xasprintf("%s%s%s", ep->realm, q.len ? sep : "", q.s));
        if (cr->user) {
            AUTO_FREE char *b = basic_value(cr);
            ib_strv_pushf(&x.headers, "Authorization: %s", b);
            memset(b, 0, strlen(b));
        }
    }
    x.no_auth = true;
    x.what = "token";
    int rc = http_one(c, &x, err);
    if (rc == 0 && (x.status == 401 || x.status == 403))
        rc = ib_fail(err, IB_E_REGISTRY, "%s: unauthorized: %s", ep->domain,
                     cr->user || refresh ? "incorrect username or password"
                                         : "the token service refused anonymous access");
    else if (rc == 0 && x.status != 200)
        rc = ib_fail(err, IB_E_REGISTRY, "%s: token service answered HTTP %ld", ep->domain,
                     x.status);
    json_t *j = NULL;
    if (rc == 0 && !(j = json_loadb(x.body.s, x.body.len, 0, NULL)))
        rc = ib_fail(err, IB_E_REGISTRY, "%s: token service sent bad JSON", ep->domain);
    if (rc == 0) {
        const char *tok = json_string_value(json_object_get(j, "token"));
        if (!tok || !*tok)
            tok = json_string_value(json_object_get(j, "access_token"));
        json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
        if (!tok || !*tok) {
            rc = ib_fail(err, IB_E_REGISTRY, "%s: token service sent no token", ep->domain);
        } else {
            *out = ib_xstrdup(tok);
            pthread_mutex_lock(&c->lock);
            IB_GROW(ep->tokens, ep->ntokens + 1, ep->tokcap);
            struct reg_token *t = &ep->tokens[ep->ntokens++];
            t->scope = ib_xstrdup(scope);
            t->token = ib_xstrdup(tok);
            t->expires = time(NULL) + (exp >= 60 ? exp : 60);
            pthread_mutex_unlock(&c->lock);
        }
    }
    json_decref(j);
    if (refresh || x.headers.n)
        memset(q.s, 0, q.len);
    xfer_release(&x);
    return rc;
}

int
auth_header(struct registry_client *c, struct xfer *x, char **out, struct ib_err **err)
{
    struct reg_endpoint *ep = x->ep;
    *out = NULL;
    if (!ep)
        return 0;
    pthread_mutex_lock(&c->lock);
    enum reg_auth_kind kind = ep->auth;
    char *tok = kind == REG_AUTH_BEARER ? cached_token(ep, scope_key(x)) : NULL;
    pthread_mutex_unlock(&c->lock);
    switch (kind) {
    case REG_AUTH_NONE:
        return 0;
    case REG_AUTH_BASIC:
        if (reg_endpoint_creds(c, ep, err) < 0)
            return -1;
        if (ep->creds.user)
            *out = basic_value(&ep->creds);
        return 0;
    case REG_AUTH_BEARER:
        if (!tok && fetch_token(c, ep, scope_key(x), &tok, err) < 0)
            return -1;
        *out = ib_xasprintf("Bearer %s", tok);
        memset(tok, 0, strlen(tok));
        free(tok);
        return 0;
    }
    return 0;
}

/* Add the challenge's scope to x's scopes when it is not there yet. */
static void
merge_scope(struct xfer *x, const char *scope)
{
    if (!scope || !*scope)
        return;
    if (x->scope) {
        AUTO_FREE char *all = ib_xasprintf(" %s ", x->scope);
        AUTO_FREE char *one = ib_xasprintf(" %s ", scope);
        if (strstr(all, one))
            return;
        char *n = ib_xasprintf("%s %s", x->scope, scope);
        free(x->scope);
        x->scope = n;
    } else {
        x->scope = ib_xstrdup(scope);
    }
}

int
auth_on_401(struct registry_client *c, struct xfer *x, bool *retry, struct ib_err **err)
{
    struct reg_endpoint *ep = x->ep;
    struct reg_challenge ch;
    *retry = false;
    if (reg_challenge_parse(x->www_auth, &ch, err) < 0)
        return ib_err_prefix(err, "%s", ep->domain);
    if (ch.kind == REG_AUTH_NONE) {
        reg_challenge_release(&ch);
        return 0;
    }
    pthread_mutex_lock(&c->lock);
    ep->auth = ch.kind;
    if (ch.kind == REG_AUTH_BEARER) {
        free(ep->realm);
        free(ep->service);
        ep->realm = ib_steal(&ch.realm);
        ep->service = ib_steal(&ch.service);
    }
    pthread_mutex_unlock(&c->lock);
    if (ch.kind == REG_AUTH_BEARER) {
        /* the token we sent (if any) was not good enough for this request */
        auth_forget(c, ep, scope_key(x));
        merge_scope(x, ch.scope);
        *retry = true;
    } else {
        if (reg_endpoint_creds(c, ep, err) < 0) {
            reg_challenge_release(&ch);
            return -1;
        }
        /* credentials we sent were refused: no point sending them again */
        *retry = ep->creds.user != NULL && !x->sent_auth;
    }
    reg_challenge_release(&ch);
    return 0;
}

/* ---- errors --------------------------------------------------------------------- */

int
reg_status_fail(const struct xfer *x, const char *refstr, struct ib_err **err)
{
    const char *host = x->ep ? x->ep->domain : "";
    AUTO_FREE char *code = NULL;
    AUTO_FREE char *msg = NULL;
    json_t *j = json_loadb(x->errbody.s, x->errbody.len, 0, NULL);
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    if (json_string_value(json_object_get(e0, "code")))
        code = ib_xstrdup(json_string_value(json_object_get(e0, "code")));
    if (json_string_value(json_object_get(e0, "message")))
        msg = ib_xstrdup(json_string_value(json_object_get(e0, "message")));
    json_decref(j);
    const char *what;
    bool insufficient = x->www_auth && strstr(x->www_auth, "insufficient_scope");
    if (x->status == 403 || (code && strcmp(code, "DENIED") == 0) ||
        (x->status == 401 && insufficient))
        what = "denied: requested access to the resource is denied";
    else if (x->status == 401)
        what = x->ep && x->ep->creds.user
                   ? "unauthorized: incorrect username or password"
                   : "unauthorized: authentication required (imgbuild login)";
    else if (code && strcmp(code, "MANIFEST_UNKNOWN") == 0)
        what = "manifest unknown (no such tag or digest)";
    else if (code && strcmp(code, "NAME_UNKNOWN") == 0)
        what = "repository name not known to registry";
    else if (code && strcmp(code, "BLOB_UNKNOWN") == 0)
        what = "blob unknown to registry";
    else if (x->status == 404)
        what = "not found";
    else
        what = NULL;
    /* a reference names its registry; other subjects ("login") get the host */
    const char *h1 = strncmp(refstr, host, strlen(host)) == 0 ? "" : host;
    const char *h2 = *h1 ? ": " : "";
    if (what)
        return ib_fail(err, IB_E_REGISTRY, "%s%s%s: %s", h1, h2, refstr, what);
    return ib_fail(err, IB_E_REGISTRY, "%s%s%s: HTTP %ld%s%s%s%s", h1, h2, refstr, x->status,
                   code ? " " : "", code ? code : "", msg ? ": " : "", msg ? msg : "");
}
