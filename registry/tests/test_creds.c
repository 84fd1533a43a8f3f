/* registry/tests/test_creds.c: credentials from config.json, helpers, login storage. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "registry/internal.h"
#include "common/banned.h"

static char *
write_tmp(const char *name, const char *text, mode_t mode)
{
    char *path = ib_path_join(ib_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (!f)
        return path;
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

/* "alice:pw1" in base64 is YWxpY2U6cHcx; "bob:p:w" is Ym9iOnA6dw== */
static const char config[] = "{\"auths\":{"
                             "\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6cHcx\"},"
                             "\"http://localhost:5000/v2/\":{\"auth\":\"Ym9iOnA6dw==\"},"
                             "\"plain.example\":{\"username\":\"carol\",\"password\":\"pw3\"},"
                             "\"tok.example\":{\"identitytoken\":\"refresh-123\"},"
                             "\"broken.example\":{\"auth\":\"bm9jb2xvbg==\"}},"
                             "\"credHelpers\":{\"helped.example\":\"fake\"}}";

static const char helper[] =
    "#!/bin/sh\n"
    "read -r server\n"
    "case \"$1/$server\" in\n"
    "get/helped.example) echo "
    "'{\"ServerURL\":\"helped.example\",\"Username\":\"dave\",\"Secret\":\"pw4\"}' ;;\n"
    "get/*) echo 'credentials not found in native keychain'; exit 1 ;;\n"
    "*) echo \"$1 $server\" >> \"$(dirname \"$0\")/helper.log\" ;;\n"
    "esac\n";

static int
lookup(const char *path, const char *registry, struct reg_creds *c)
{
    return reg_creds_lookup(path, registry, c, NULL);
}

TEST(auths_entries)
{
    AUTO_FREE char *path = write_tmp("config.json", config, 0600);
    struct reg_creds c;
    CHECK(lookup(path, "docker.io", &c) == 0);
    CHECK_STR(c.user, "alice");
    CHECK_STR(c.secret, "pw1");
    reg_creds_release(&c);
    CHECK(lookup(path, "localhost:5000", &c) == 0); /* key with scheme and path */
    CHECK_STR(c.user, "bob");
    CHECK_STR(c.secret, "p:w"); /* only the first colon splits */
    reg_creds_release(&c);
    CHECK(lookup(path, "plain.example", &c) == 0);
    CHECK_STR(c.user, "carol");
    CHECK_STR(c.secret, "pw3");
    reg_creds_release(&c);
    CHECK(lookup(path, "tok.example", &c) == 0);
    CHECK_STR(c.identity_token, "refresh-123");
    reg_creds_release(&c);
    CHECK(lookup(path, "other.example", &c) == 0);
    CHECK(c.user == NULL && c.secret == NULL);
    reg_creds_release(&c);
    CHECK(lookup(path, "localhost:5001", &c) == 0); /* another port is another registry */
    CHECK(c.user == NULL);
    struct ib_err *err = NULL;
    CHECK(reg_creds_lookup(path, "broken.example", &c, &err) < 0);
    CHECK(err && strstr(err->msg, "bad \"auth\""));
    CHECK(!strstr(err->msg, "nocolon")); /* never echo a secret */
    ib_err_free(err);
}

TEST(missing_and_bad_files)
{
    struct reg_creds c;
    AUTO_FREE char *none = ib_path_join(ib_test_tmpdir(), "nope.json");
    CHECK(lookup(none, "docker.io", &c) == 0);
    CHECK(c.user == NULL);
    AUTO_FREE char *bad = write_tmp("bad.json", "{\"auths\": [", 0600);
    struct ib_err *err = NULL;
    CHECK(reg_creds_lookup(bad, "docker.io", &c, &err) < 0);
    CHECK(err && strstr(err->msg, "bad JSON"));
    ib_err_free(err);
}

static void
helper_on_path(void)
{
    AUTO_FREE char *bin = ib_path_join(ib_test_tmpdir(), "bin");
    mkdir(bin, 0755);
    AUTO_FREE char *h = write_tmp("bin/docker-credential-fake", helper, 0755);
    AUTO_FREE char *p =
        ib_xasprintf("%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", p, 1);
}

TEST(credential_helper)
{
    helper_on_path();
    AUTO_FREE char *path = write_tmp("config.json", config, 0600);
    struct reg_creds c;
    CHECK(lookup(path, "helped.example", &c) == 0);
    CHECK_STR(c.user, "dave");
    CHECK_STR(c.secret, "pw4");
    reg_creds_release(&c);
    /* a credsStore that knows nothing: falls back to auths */
    AUTO_FREE char *p2 = write_tmp(
        "store.json",
        "{\"credsStore\":\"fake\",\"auths\":{\"x.example\":{\"auth\":\"YWxpY2U6cHcx\"}}}", 0600);
    CHECK(lookup(p2, "x.example", &c) == 0);
    CHECK_STR(c.user, "alice");
    reg_creds_release(&c);
    /* login through the helper: nothing secret lands in the file */
    struct ib_err *err = NULL;
    CHECK_OK(reg_creds_store(p2, "y.example", "eve", "pw5", &err));
    AUTO_FREE char *log = ib_path_join(ib_test_tmpdir(), "bin/helper.log");
    AUTO_FREE char *got = ib_test_slurp(log, NULL);
    CHECK(strstr(got, "store {\"ServerURL\":\"y.example\""));
    AUTO_FREE char *cfg = ib_test_slurp(p2, NULL);
    CHECK(!strstr(cfg, "pw5"));
}

TEST(store_and_erase)
{
    AUTO_FREE char *dir = ib_path_join(ib_test_tmpdir(), "newdir/sub");
    AUTO_FREE char *path = ib_path_join(dir, "config.json");
    struct ib_err *err = NULL;
    CHECK_OK(reg_creds_store(path, "docker.io", "alice", "pw1", &err));
    CHECK_OK(reg_creds_store(path, "127.0.0.1:5000", "bob", "pw2", &err));
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK_INT(sb.st_mode & 07777, 0600);
    AUTO_FREE char *text = ib_test_slurp(path, NULL);
    CHECK(strstr(text, "\"https://index.docker.io/v1/\""));
    CHECK(strstr(text, "YWxpY2U6cHcx"));
    struct reg_creds c;
    CHECK(lookup(path, "127.0.0.1:5000", &c) == 0);
    CHECK_STR(c.user, "bob");
    CHECK_STR(c.secret, "pw2");
    reg_creds_release(&c);
    CHECK_OK(reg_creds_store(path, "127.0.0.1:5000", "bob", "pw3", &err)); /* replaces */
    CHECK(lookup(path, "127.0.0.1:5000", &c) == 0);
    CHECK_STR(c.secret, "pw3");
    reg_creds_release(&c);
    CHECK_OK(reg_creds_erase(path, "127.0.0.1:5000", &err));
    CHECK(lookup(path, "127.0.0.1:5000", &c) == 0);
    CHECK(c.user == NULL);
    CHECK(lookup(path, "docker.io", &c) == 0);
    CHECK_STR(c.user, "alice");
    reg_creds_release(&c);
    CHECK(reg_creds_erase(path, "127.0.0.1:5000", &err) < 0);
    CHECK(err && strstr(err->msg, "not logged in"));
    ib_err_free(err);
}

TEST(config_path)
{
    setenv("DOCKER_CONFIG", "/x/dc", 1);
    AUTO_FREE char *a = reg_config_path(NULL);
    CHECK_STR(a, "/x/dc/config.json");
    unsetenv("DOCKER_CONFIG");
    setenv("HOME", "/home/u", 1);
    AUTO_FREE char *b = reg_config_path(NULL);
    CHECK_STR(b, "/home/u/.docker/config.json");
    AUTO_FREE char *c = reg_config_path("/given.json");
    CHECK_STR(c, "/given.json");
    CHECK_STR(reg_config_key("docker.io"), "https://index.docker.io/v1/");
    CHECK_STR(reg_config_key("quay.io"), "quay.io");
}
