/* Tests of builder/namedctx.c: parsing `--build-context NAME=VALUE`. */
#include <stdlib.h>
#include <string.h>

#include "builder/builder.h"
#include "common/test.h"

/* Parse spec; expect a usage error whose message contains want. */
static int
bad(const char *spec, const char *want)
{
    struct build_context c;
    struct ib_err *err = NULL;
    int ok = builder_context_parse(spec, &c, &err) < 0 && err->kind == IB_E_USAGE &&
             strstr(err->msg, "--build-context") && strstr(err->msg, want);
    if (!ok)
        ib_test_note("'%s': %s", spec, err ? err->msg : "accepted");
    ib_err_free(err);
    return ok;
}

TEST(context_directory)
{
    struct build_context c;
    struct ib_err *err = NULL;
    CHECK_OK(builder_context_parse("src=../dir", &c, &err));
    CHECK_STR(c.name, "src");
    CHECK_STR(c.dir, "../dir");
    CHECK(c.image == NULL);
    builder_context_release(&c);
    CHECK_OK(builder_context_parse("my-ctx_2.x=/abs/path=with=eq", &c, &err));
    CHECK_STR(c.name, "my-ctx_2.x");
    CHECK_STR(c.dir, "/abs/path=with=eq");
    builder_context_release(&c);
}

TEST(context_docker_image)
{
    struct build_context c;
    struct ib_err *err = NULL;
    CHECK_OK(builder_context_parse("alpine=docker-image://busybox:latest", &c, &err));
    CHECK_STR(c.name, "alpine");
    CHECK_STR(c.image, "busybox:latest");
    CHECK(c.dir == NULL);
    builder_context_release(&c);
    CHECK_OK(
        builder_context_parse("base=docker-image://example.com:5000/a/b@sha256:"
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                              &c, &err));
    CHECK(strncmp(c.image, "example.com:5000/a/b@sha256:", 28) == 0);
    builder_context_release(&c);
}

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Parse spec as an oci-layout:// context; compare path, tag and digest (NULL: none). */
static int
layout(const char *spec, const char *path, const char *tag, const char *digest)
{
    struct build_context c;
    struct ib_err *err = NULL;
    if (builder_context_parse(spec, &c, &err) < 0) {
        ib_test_note("'%s': %s", spec, err->msg);
        ib_err_free(err);
        return 0;
    }
    int ok = c.layout && !c.image && !c.dir && strcmp(c.layout, path) == 0 &&
             (tag ? c.layout_tag && strcmp(c.layout_tag, tag) == 0 : !c.layout_tag) &&
             (digest ? c.layout_digest && strcmp(c.layout_digest, digest) == 0 : !c.layout_digest);
    if (!ok)
        ib_test_note("'%s': path '%s' tag '%s' digest '%s'", spec, c.layout ? c.layout : "-",
                     c.layout_tag ? c.layout_tag : "-", c.layout_digest ? c.layout_digest : "-");
    builder_context_release(&c);
    return ok;
}

TEST(context_oci_layout)
{
    CHECK(layout("b=oci-layout:///abs/lay", "/abs/lay", NULL, NULL));
    CHECK(layout("b=oci-layout://rel/lay:v1.0-x_y", "rel/lay", "v1.0-x_y", NULL));
    CHECK(layout("b=oci-layout://lay@sha256:" D64, "lay", NULL, "sha256:" D64));
    CHECK(layout("b=oci-layout://./a:b/lay:t@sha256:" D64, "./a:b/lay", "t", "sha256:" D64));
    CHECK(layout("b=oci-layout://a:b/lay", "a:b/lay", NULL, NULL)); /* ':' before the last '/' */
    CHECK(layout("b=oci-layout://a@b/lay", "a@b/lay", NULL, NULL)); /* '@' before a '/' */
}

TEST(context_usage_errors)
{
    CHECK(bad("src", "NAME=VALUE"));
    CHECK(bad("=dir", "empty name"));
    CHECK(bad("src=", "empty value"));
    CHECK(bad("Src=dir", "invalid name"));
    CHECK(bad("1src=dir", "invalid name"));
    CHECK(bad("a/b=dir", "invalid name"));
    CHECK(bad("a:b=dir", "invalid name"));
    CHECK(bad("src=docker-image://", "invalid image reference"));
    CHECK(bad("src=docker-image://UPPER:case", "invalid image reference"));
    CHECK(bad("src=s3://bucket/ctx", "'s3://' contexts are not supported"));
    CHECK(bad("src=oci-layout://", "no layout path"));
    CHECK(bad("src=oci-layout://:v1", "no layout path"));
    CHECK(bad("src=oci-layout:///l:", "invalid tag ''"));
    CHECK(bad("src=oci-layout:///l:-x", "invalid tag '-x'"));
    CHECK(bad("src=oci-layout:///l:a/b:c!", "invalid tag 'c!'"));
    CHECK(bad("src=oci-layout:///l@sha256:12", "invalid digest 'sha256:12'"));
    CHECK(bad("src=oci-layout:///l@md5:0123456789abcdef0123456789abcdef", "invalid digest"));
    CHECK(bad("src=oci-layout:///l:v1@", "invalid digest ''"));
    CHECK(bad("src=https://example.com/ctx.tar", "'https://' contexts are not supported"));
    CHECK(bad("src=http://example.com/ctx.tar", "not supported"));
    CHECK(bad("src=git://example.com/repo.git", "not supported"));
    CHECK(bad("src=git@example.com:org/repo.git", "git repository contexts are not supported"));
    CHECK(bad("src=target:base", "'target:' contexts are not supported"));
}
