/* store/tests/test_ref.c: reference normalization and digests. */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/test.h"
#include "store/store.h"
#include "common/banned.h"

#define D64 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct {
    const char *in, *out, *familiar;
} good[] = {
    {"busybox", "docker.io/library/busybox:latest", "busybox"},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox"},
    {"library/busybox", "docker.io/library/busybox:latest", "busybox"},
    {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox"},
    {"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox"},
    {"user/app:v1", "docker.io/user/app:v1", "user/app"},
    {"localhost/app", "localhost/app:latest", "localhost/app"},
    {"localhost:5000/a/b@" D64, "localhost:5000/a/b@" D64, "localhost:5000/a/b"},
    {"quay.io/x/y:1.0@" D64, "quay.io/x/y:1.0@" D64, "quay.io/x/y"},
    {"Example.COM/app", "Example.COM/app:latest", "Example.COM/app"},
    {"[::1]:5000/app:t", "[::1]:5000/app:t", "[::1]:5000/app"},
    {"a/b__c/d-e---f.g_h:T_1.0-x", "docker.io/a/b__c/d-e---f.g_h:T_1.0-x", "a/b__c/d-e---f.g_h"},
    {"registry:5000/app", "registry:5000/app:latest", "registry:5000/app"},
};

static const char *bad[] = {
    "",
    "Busybox",
    "busybox:",
    "busybox@sha256:abc",
    ":tag",
    "a//b",
    "a/",
    "/a",
    "a-/b",
    "a..b",
    "a___b",
    "busybox:-x",
    "busybox@md5:"
    "00",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "ho$t.io/a",
    "host.io:/a",
    "a:b:c",
    "UPPER/Case",
};

TEST(ref_normalize)
{
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct ref r;
        struct ib_err *err = NULL;
        if (!ib_test_case(ref_parse(good[i].in, &r, &err) == 0, "parse '%s'", good[i].in)) {
            ib_test_note("%s", err->msg);
            ib_err_free(err);
            continue;
        }
        AUTO_FREE char *s = ref_string(&r);
        AUTO_FREE char *f = ref_familiar_name(&r);
        ib_test_case(strcmp(s, good[i].out) == 0 && strcmp(f, good[i].familiar) == 0,
                     "'%s' -> '%s' / '%s'", good[i].in, s, f);
        ref_release(&r);
    }
}

TEST(ref_reject)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ref r;
        struct ib_err *err = NULL;
        int rc = ref_parse(bad[i], &r, &err);
        ib_test_case(rc < 0 && err && err->kind == IB_E_USAGE &&
                         strstr(err->msg, "invalid reference format"),
                     "reject '%s': %s", bad[i], err ? err->msg : "(accepted)");
        if (rc == 0)
            ref_release(&r);
        ib_err_free(err);
    }
}

TEST(ref_long_name)
{
    char name[300];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    struct ref r;
    struct ib_err *err = NULL;
    CHECK(ref_parse(name, &r, &err) < 0);
    CHECK(strstr(err->msg, "255"));
    ib_err_free(err);
}

TEST(ref_ids)
{
    CHECK(ref_looks_like_id("e3b0c442"));
    CHECK(ref_looks_like_id(D64));
    CHECK(!ref_looks_like_id("busybox"));
    CHECK(!ref_looks_like_id("abc"));
}

TEST(digest_known)
{
    struct digest d;
    digest_buf("", 0, &d);
    CHECK_STR(d.s, D64);
    struct ib_err *err = NULL;
    struct digest_ctx *c = NULL;
    CHECK_OK(digest_ctx_new(&c, &err));
    digest_ctx_update(c, "ab", 2);
    digest_ctx_update(c, "c", 1);
    digest_ctx_final(c, &d);
    CHECK_STR(d.s, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* reusable after final */
    digest_ctx_final(c, &d);
    CHECK_STR(d.s, D64);
    digest_ctx_free(c);
    struct digest p;
    CHECK_OK(digest_parse(D64, &p, &err));
    CHECK(digest_eq(&p, &d));
    CHECK_STR(digest_hex(&p), D64 + 7);
    CHECK(digest_parse("sha256:E3B0", &p, &err) < 0);
    ib_err_free(err);
    err = NULL;
    CHECK(digest_parse("md5:00", &p, &err) < 0);
    ib_err_free(err);
}

TEST(digest_chain_id)
{
    /* ChainID(L0, L1) = sha256("<chain0> <diff1>") */
    struct digest a, b, c, want;
    digest_buf("a", 1, &a);
    digest_buf("b", 1, &b);
    digest_chain(NULL, &a, &c);
    CHECK(digest_eq(&c, &a));
    digest_chain(&a, &b, &c);
    char buf[200];
    int n = snprintf(buf, sizeof(buf), "%s %s", a.s, b.s);
    digest_buf(buf, (size_t)n, &want);
    CHECK(digest_eq(&c, &want));
}
