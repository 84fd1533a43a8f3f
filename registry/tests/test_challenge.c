/* registry/tests/test_challenge.c: WWW-Authenticate parsing and base64. */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/test.h"
#include "registry/internal.h"
#include "common/banned.h"

TEST(bearer_docker_hub)
{
    struct ib_err *err = NULL;
    struct reg_challenge ch;
    CHECK_OK(reg_challenge_parse(
        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
        "scope=\"repository:library/busybox:pull\"",
        &ch, &err));
    CHECK_INT(ch.kind, REG_AUTH_BEARER);
    CHECK_STR(ch.realm, "https://auth.docker.io/token");
    CHECK_STR(ch.service, "registry.docker.io");
    CHECK_STR(ch.scope, "repository:library/busybox:pull");
    reg_challenge_release(&ch);
}

TEST(bearer_spacing_case_escapes_and_extra_params)
{
    struct ib_err *err = NULL;
    struct reg_challenge ch;
    CHECK_OK(
        reg_challenge_parse("  bEaReR  realm = \"http://h/t\\\"x\" , error=\"insufficient_scope\", "
                            "Service=tok,scope=\"repository:a/b:pull,push\"",
                            &ch, &err));
    CHECK_INT(ch.kind, REG_AUTH_BEARER);
    CHECK_STR(ch.realm, "http://h/t\"x");
    CHECK_STR(ch.service, "tok");
    CHECK_STR(ch.scope, "repository:a/b:pull,push");
    reg_challenge_release(&ch);
}

TEST(basic_and_unknown)
{
    struct ib_err *err = NULL;
    struct reg_challenge ch;
    CHECK_OK(reg_challenge_parse("Basic realm=\"Registry Realm\"", &ch, &err));
    CHECK_INT(ch.kind, REG_AUTH_BASIC);
    CHECK_STR(ch.realm, "Registry Realm");
    reg_challenge_release(&ch);
    CHECK_OK(reg_challenge_parse("Negotiate abc", &ch, &err));
    CHECK_INT(ch.kind, REG_AUTH_NONE);
    reg_challenge_release(&ch);
}

TEST(bad_challenges)
{
    struct ib_err *err = NULL;
    struct reg_challenge ch;
    CHECK(reg_challenge_parse("Bearer service=\"x\"", &ch, &err) < 0); /* no realm */
    CHECK(err && strstr(err->msg, "realm"));
    ib_err_free(err);
    err = NULL;
    CHECK(reg_challenge_parse("Bearer realm=\"unterminated", &ch, &err) < 0);
    CHECK(err && strstr(err->msg, "quote"));
    ib_err_free(err);
    err = NULL;
    CHECK(reg_challenge_parse("Bearer realm", &ch, &err) < 0);
    ib_err_free(err);
}

TEST(base64_round_trip)
{
    static const char *v[] = {"", "a", "ab", "abc", "alice:s3cret", "user:pa:ss\xff"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        AUTO_FREE char *e = reg_base64_encode(v[i], strlen(v[i]));
        AUTO_BUF struct ib_buf d = IB_BUF_INIT;
        CHECK(reg_base64_decode(e, &d) == 0);
        CHECK_STR(d.s, v[i]);
    }
    AUTO_FREE char *e = reg_base64_encode("alice:s3cret", 12);
    CHECK_STR(e, "YWxpY2U6czNjcmV0");
    AUTO_BUF struct ib_buf d = IB_BUF_INIT;
    CHECK(reg_base64_decode("not base64!", &d) < 0);
}

TEST(redirect_origins)
{
    AUTO_FREE char *a =
        http_resolve("https://r.io:5000/v2/x/blobs/uploads/", "/v2/x/blobs/uploads/u1?s=1");
    CHECK_STR(a, "https://r.io:5000/v2/x/blobs/uploads/u1?s=1");
    AUTO_FREE char *b = http_resolve("https://r.io/v2/x", "https://cdn.example/blob?sig=1");
    CHECK_STR(b, "https://cdn.example/blob?sig=1");
    CHECK(http_same_origin("https://r.io/v2/a", "https://r.io:443/v2/b"));
    CHECK(!http_same_origin("https://r.io/v2/a", "https://cdn.example/v2/a"));
    CHECK(!http_same_origin("http://127.0.0.1:5000/a", "http://127.0.0.1:5001/a"));
}
