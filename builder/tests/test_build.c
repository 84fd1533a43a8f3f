/* builder/tests/test_build.c: pure helpers of the build engine: --chmod, path resolution
 * inside a root, JSON/Go quoting, archive sniffing. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/copy.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/test.h"
#include "common/banned.h"

static mode_t
chm(const char *spec, mode_t m, bool dir)
{
    mode_t out = 0;
    if (copy_chmod(spec, m, dir, &out) < 0)
        return (mode_t)-1;
    return out & 07777;
}

TEST(chmod_octal_and_symbolic)
{
    CHECK_INT(chm("755", 0644, false), 0755);
    CHECK_INT(chm("0640", 0777, false), 0640);
    CHECK_INT(chm("u=rw,g=r,o=", 0777, false), 0640);
    CHECK_INT(chm("+x", 0644, false), 0755);
    CHECK_INT(chm("go-w", 0777, false), 0755);
    CHECK_INT(chm("a+X", 0644, true), 0755);
    CHECK_INT(chm("a+X", 0644, false), 0644);
    CHECK_INT(chm("u+s", 0755, false), 04755);
    CHECK_INT(chm("88", 0644, false), (mode_t)-1);
    CHECK_INT(chm("u*x", 0644, false), (mode_t)-1);
}

TEST(resolve_inside_root)
{
    const char *d = ib_test_tmpdir();
    AUTO_FREE char *root = ib_xasprintf("%s/root", d);
    mkdir(root, 0755);
    AUTO_FD int fd = open(root, O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    CHECK(mkdirat(fd, "usr", 0755) == 0);
    CHECK(mkdirat(fd, "usr/bin", 0755) == 0);
    CHECK(symlinkat("usr/bin", fd, "bin") == 0);
    CHECK(symlinkat("/usr", fd, "abs") == 0);
    CHECK(symlinkat("../../../../etc", fd, "escape") == 0);
    AUTO_FREE char *a = rootfs_resolve(fd, "/bin/sh", false);
    CHECK_STR(a, "usr/bin/sh");
    AUTO_FREE char *b = rootfs_resolve(fd, "/abs/bin", true);
    CHECK_STR(b, "usr/bin");
    AUTO_FREE char *c = rootfs_resolve(fd, "/escape/passwd", false);
    CHECK_STR(c, "etc/passwd"); /* clamped to the root */
    AUTO_FREE char *e = rootfs_resolve(fd, "/bin", false);
    CHECK_STR(e, "bin");
    AUTO_FREE char *f = rootfs_resolve(fd, "/missing/x/../y", false);
    CHECK_STR(f, "missing/y");
}

TEST(json_and_go_quoting)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    json_str(&b, "a\"b\\c\nd\x01");
    CHECK_STR(b.s, "\"a\\\"b\\\\c\\nd\\u0001\"");
    ib_buf_reset(&b);
    char *v[] = {(char *)"/bin/sh", (char *)"-c", (char *)"echo hi", NULL};
    go_quote_strv(&b, v, 3);
    CHECK_STR(b.s, "[\"/bin/sh\" \"-c\" \"echo hi\"]");
    ib_buf_reset(&b);
    json_strv(&b, v, 3);
    CHECK_STR(b.s, "[\"/bin/sh\",\"-c\",\"echo hi\"]");
}

TEST(archive_sniffing)
{
    const char *d = ib_test_tmpdir();
    AUTO_FD int fd = open(d, O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    AUTO_FD int g = openat(fd, "x.gz", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(write(g, "\x1f\x8b\x08\x00rest", 8) == 8);
    AUTO_FD int t = openat(fd, "x.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(write(t, "plain text file", 15) == 15);
    CHECK(copy_is_archive(fd, "x.gz"));
    CHECK(!copy_is_archive(fd, "x.txt"));
    CHECK(!copy_is_archive(fd, "missing"));
}

TEST(add_host_entries)
{
    struct ib_err *err = NULL;
    char g0[] = "reg.local:10.1.2.3", g1[] = "v6=fd00::1", g2[] = "b6:[::1]",
         g3[] = "x_y-z:192.168.0.1";
    char *good[] = {g0, g1, g2, g3};
    AUTO_FREE char *lines = NULL;
    CHECK_OK(build_add_hosts(good, 4, &lines, &err));
    CHECK_STR(lines, "10.1.2.3\treg.local\nfd00::1\tv6\n::1\tb6\n192.168.0.1\tx_y-z\n");
    static const char *const bad[] = {"nocolon",        ":1.2.3.4", "a b:1.2.3.4", "x:1.2.3",
                                      "x:host-gateway", "x:",       "x:[1.2.3.4",  "x\\n:1.2.3.4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *one = (char *)bad[i];
        char *out = NULL;
        int rc = build_add_hosts(&one, 1, &out, &err);
        ib_test_case(rc < 0 && err && err->kind == IB_E_USAGE && out == NULL,
                     "--add-host '%s' refused", bad[i]);
        ib_err_free(err);
        err = NULL;
    }
}
