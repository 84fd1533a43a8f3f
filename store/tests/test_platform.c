/* store/tests/test_platform.c: platform strings and choosing from an index. */
#include <jansson.h>
#include <string.h>

#include "common/test.h"
#include "store/store.h"
#include "common/banned.h"

static int
pick(const char *want, const char *index_json)
{
    struct store_platform p;
    if (store_platform_parse(want, &p, NULL) < 0)
        return -2;
    json_t *j = json_loads(index_json, 0, NULL);
    int i = store_platform_select(j, &p);
    json_decref(j);
    return i;
}

#define E(os, arch, var)                                                                         \
    "{\"digest\":\"sha256:x\",\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"" var \
    "}}"
#define V(v) ",\"variant\":\"" v "\""

static const char idx[] =
    "[" E("linux", "amd64", "") "," E("linux", "arm", V("v6")) "," E("linux", "arm", V("v7")) "," E(
        "linux", "arm64", V("v8")) "," E("windows", "amd64", "") "," E("unknown", "unknown",
                                                                       "") "," E("linux", "386",
                                                                                 "") "]";

TEST(parse_and_normalize)
{
    struct ib_err *err = NULL;
    struct store_platform p;
    char s[96];
    CHECK_OK(store_platform_parse("linux/x86_64", &p, &err));
    store_platform_string(&p, s, sizeof(s));
    CHECK_STR(s, "linux/amd64");
    CHECK_OK(store_platform_parse("Linux/AArch64/v8", &p, &err));
    store_platform_string(&p, s, sizeof(s));
    CHECK_STR(s, "linux/arm64");
    CHECK_OK(store_platform_parse("linux/armhf", &p, &err));
    store_platform_string(&p, s, sizeof(s));
    CHECK_STR(s, "linux/arm/v7");
    static const char *bad[] = {"linux", "/amd64", "linux/", "linux/arm/", "a/b/c/d", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(store_platform_parse(bad[i], &p, &err) < 0);
        CHECK(err && strstr(err->msg, "bad platform"));
        ib_err_free(err);
        err = NULL;
    }
}

TEST(host_platform)
{
    struct store_platform p;
    store_platform_host(&p);
    CHECK_STR(p.os, "linux");
    CHECK(p.arch[0] != '\0');
#if defined(__x86_64__)
    CHECK_STR(p.arch, "amd64");
#endif
}

TEST(select_rules)
{
    CHECK_INT(pick("linux/amd64", idx), 0);
    CHECK_INT(pick("linux/arm64", idx), 3); /* "" == v8 */
    CHECK_INT(pick("linux/arm64/v8", idx), 3);
    CHECK_INT(pick("linux/arm/v7", idx), 2);
    CHECK_INT(pick("linux/arm/v6", idx), 1);
    CHECK_INT(pick("linux/arm/v8", idx), 2);  /* highest compatible lower variant */
    CHECK_INT(pick("linux/arm/v5", idx), -1); /* nothing that old */
    CHECK_INT(pick("windows/amd64", idx), 4);
    CHECK_INT(pick("linux/i686", idx), 6);
    CHECK_INT(pick("linux/s390x", idx), -1);
    CHECK_INT(pick("linux/amd64", "[]"), -1);
    /* no platform object: never chosen */
    CHECK_INT(pick("linux/amd64", "[{\"digest\":\"sha256:x\"}]"), -1);
    /* amd64 v1 spelled out matches an entry without variant, and the other way round */
    CHECK_INT(pick("linux/amd64/v1", idx), 0);
    CHECK_INT(pick("linux/amd64", "[" E("linux", "amd64", V("v1")) "]"), 0);
    /* exact variant beats no variant */
    CHECK_INT(pick("linux/arm/v7", "[" E("linux", "arm", "") "," E("linux", "arm", V("v7")) "]"),
              1);
}
