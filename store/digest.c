/* store/digest.c: SHA-256 digests; the only file that includes OpenSSL headers. */
#include "store/store.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/mem.h"
#include "common/banned.h"

struct digest_ctx {
    EVP_MD_CTX *md;
};

static int
digest_ssl_fail(struct ib_err **err, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    return ib_fail(err, IB_E_SYS, "%s: %s", what, e ? buf : "unknown OpenSSL error");
}

int
digest_ctx_new(struct digest_ctx **out, struct ib_err **err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return digest_ssl_fail(err, "sha256 context");
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return digest_ssl_fail(err, "sha256 init");
    }
    struct digest_ctx *c = ib_xcalloc(1, sizeof(*c));
    c->md = md;
    *out = c;
    return 0;
}

void
digest_ctx_update(struct digest_ctx *c, const void *p, size_t n)
{
    if (n && EVP_DigestUpdate(c->md, p, n) != 1)
        ib_oom(); /* cannot fail for SHA-256 short of memory corruption */
}

static void
to_digest(const unsigned char *bin, struct digest *out)
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out->s, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out->s[7 + 2 * i] = hex[bin[i] >> 4];
        out->s[8 + 2 * i] = hex[bin[i] & 15];
    }
    out->s[DIGEST_STR_LEN] = '\0';
}

void
digest_ctx_final(struct digest_ctx *c, struct digest *out)
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(c->md, bin, &n) != 1 || n != 32)
        ib_oom();
    to_digest(bin, out);
    digest_ctx_reset(c);
}

void
digest_ctx_reset(struct digest_ctx *c)
{
    if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
        ib_oom();
}

void
digest_ctx_free(struct digest_ctx *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->md);
    free(c);
}

void
digest_buf(const void *p, size_t n, struct digest *out)
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(p, n, bin, &len, EVP_sha256(), NULL) != 1 || len != 32)
        ib_oom();
    to_digest(bin, out);
}

int
digest_parse(const char *s, struct digest *out, struct ib_err **err)
{
    if (strncmp(s, "sha256:", 7) != 0)
        return ib_fail(err, IB_E_USAGE, "unsupported digest '%s' (want sha256:<hex>)", s);
    size_t n = strlen(s + 7);
    if (n != DIGEST_HEX_LEN)
        return ib_fail(err, IB_E_USAGE, "invalid digest '%s': want 64 hex digits", s);
    for (size_t i = 0; i < n; i++) {
        char c = s[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return ib_fail(err, IB_E_USAGE, "invalid digest '%s': want lowercase hex", s);
    }
    memcpy(out->s, s, DIGEST_STR_LEN + 1);
    return 0;
}

const char *
digest_hex(const struct digest *d)
{
    return d->s[0] ? d->s + 7 : "";
}

bool
digest_is_set(const struct digest *d)
{
    return d && d->s[0] != '\0';
}

bool
digest_eq(const struct digest *a, const struct digest *b)
{
    return strcmp(a->s, b->s) == 0;
}

void
digest_chain(const struct digest *parent, const struct digest *diff_id, struct digest *out)
{
    if (!digest_is_set(parent)) {
        *out = *diff_id;
        return;
    }
    char buf[2 * DIGEST_STR_LEN + 2];
    memcpy(buf, parent->s, DIGEST_STR_LEN);
    buf[DIGEST_STR_LEN] = ' ';
    memcpy(buf + DIGEST_STR_LEN + 1, diff_id->s, DIGEST_STR_LEN);
    digest_buf(buf, 2 * DIGEST_STR_LEN + 1, out);
}
