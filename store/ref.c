/* store/ref.c: image references, normalized the way docker does it.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] component ( "/" component )*
 *   domain    := host [ ":" port ]      (first part with '.' or ':', "localhost", or uppercase)
 *   component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *
 * No domain means docker.io, and a one-component docker.io name gets "library/".
 */
#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

#define NAME_MAX_TOTAL 255

static int
bad(struct ib_err **err, const char *s, const char *why)
{
    return ib_fail(err, IB_E_USAGE, "invalid reference format '%s': %s", s, why);
}

static bool
is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* one path component: [a-z0-9]+ ((.|_|__|-+)[a-z0-9]+)* */
static bool
valid_component(const char *p, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_lower_alnum(p[0]))
        return false;
    while (i < n) {
        while (i < n && is_lower_alnum(p[i]))
            i++;
        if (i == n)
            return true;
        size_t sep = i;
        if (p[i] == '.') {
            i++;
        } else if (p[i] == '_') {
            i++;
            if (i < n && p[i] == '_')
                i++;
        } else if (p[i] == '-') {
            while (i < n && p[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == n || !is_lower_alnum(p[i]) || i == sep)
            return false;
    }
    return true;
}

static bool
valid_host_label(const char *p, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)p[0]) || !isalnum((unsigned char)p[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)p[i]) && p[i] != '-')
            return false;
    return true;
}

static bool
valid_domain(const char *d)
{
    const char *end = d + strlen(d);
    const char *port = NULL;
    if (*d == '[') {
        const char *close = strchr(d, ']');
        if (!close || close == d + 1)
            return false;
        for (const char *p = d + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':')
                return false;
        if (close[1] == '\0')
            return true;
        if (close[1] != ':')
            return false;
        port = close + 2;
    } else {
        const char *colon = strchr(d, ':');
        const char *hend = colon ? colon : end;
        const char *p = d;
        while (p < hend) {
            const char *dot = memchr(p, '.', (size_t)(hend - p));
            const char *lend = dot ? dot : hend;
            if (!valid_host_label(p, (size_t)(lend - p)))
                return false;
            p = dot ? dot + 1 : hend;
            if (dot && p == hend)
                return false;
        }
        if (!colon)
            return true;
        port = colon + 1;
    }
    if (!*port)
        return false;
    for (const char *p = port; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

static bool
valid_tag(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128)
        return false;
    if (!isalnum((unsigned char)t[0]) && t[0] != '_')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
            return false;
    return true;
}

bool
ref_looks_like_id(const char *s)
{
    if (strncmp(s, "sha256:", 7) == 0)
        s += 7;
    size_t n = strlen(s);
    if (n < 4 || n > DIGEST_HEX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

static int
parse_path(const char *s, const char *path, struct ib_err **err)
{
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        for (size_t i = 0; i < n; i++)
            if (isupper((unsigned char)p[i]))
                return bad(err, s, "repository name must be lowercase");
        if (!valid_component(p, n))
            return bad(err, s,
                       n == 0 ? "empty path component"
                              : "path components may use only [a-z0-9] separated by '.', "
                                "'_', '__' or '-'");
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

int
ref_parse(const char *s, struct ref *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    if (!*s)
        return bad(err, s, "empty reference");
    AUTO_FREE char *work = ib_xstrdup(s);
    AUTO_FREE char *digest = NULL;
    AUTO_FREE char *tag = NULL;
    char *at = strchr(work, '@');
    if (at) {
        *at = '\0';
        struct digest d;
        if (digest_parse(at + 1, &d, NULL) < 0)
            return bad(err, s, "digest must be sha256:<64 lowercase hex digits>");
        digest = ib_xstrdup(d.s);
    }
    char *last_slash = strrchr(work, '/');
    char *colon = strrchr(last_slash ? last_slash : work, ':');
    if (colon) {
        *colon = '\0';
        if (!valid_tag(colon + 1))
            return bad(err, s, "tag must be [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
        tag = ib_xstrdup(colon + 1);
    }
    if (!*work)
        return bad(err, s, "empty name");
    if (strlen(work) > NAME_MAX_TOTAL)
        return bad(err, s, "name longer than 255 characters");
    AUTO_FREE char *domain = NULL;
    const char *path = work;
    char *first = strchr(work, '/');
    if (first) {
        size_t n = (size_t)(first - work);
        bool upper = false;
        for (size_t i = 0; i < n; i++)
            upper |= isupper((unsigned char)work[i]) != 0;
        if (memchr(work, '.', n) || memchr(work, ':', n) || upper ||
            (n == 9 && memcmp(work, "localhost", 9) == 0)) {
            domain = ib_xstrndup(work, n);
            path = first + 1;
            if (!valid_domain(domain))
                return bad(err, s, "invalid registry host");
        }
    }
    if (!domain && strlen(work) == DIGEST_HEX_LEN && ref_looks_like_id(work))
        return bad(err, s, "a 64-character hex string is an image id, not a repository name");
    if (parse_path(s, path, err) < 0)
        return -1;
    if (!domain || strcmp(domain, "index.docker.io") == 0) {
        free(domain);
        domain = ib_xstrdup("docker.io");
    }
    if (strcmp(domain, "docker.io") == 0 && !strchr(path, '/'))
        out->path = ib_xasprintf("library/%s", path);
    else
        out->path = ib_xstrdup(path);
    out->domain = ib_steal(&domain);
    if (!tag && !digest)
        tag = ib_xstrdup("latest");
    out->tag = ib_steal(&tag);
    out->digest = ib_steal(&digest);
    return 0;
}

void
ref_release(struct ref *r)
{
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

char *
ref_name(const struct ref *r)
{
    return ib_xasprintf("%s/%s", r->domain, r->path);
}

char *
ref_string(const struct ref *r)
{
    return ib_xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
                        r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *
ref_familiar_name(const struct ref *r)
{
    if (strcmp(r->domain, "docker.io") != 0)
        return ref_name(r);
    if (strncmp(r->path, "library/", 8) == 0 && !strchr(r->path + 8, '/'))
        return ib_xstrdup(r->path + 8);
    return ib_xstrdup(r->path);
}
