/* registry/tests/test_download.c: registry_download against a loopback HTTP
 * server (Debian's python3 -m http.server, started and stopped by pid here). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "registry/registry.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct registry_client, registry_client_free)

static pid_t server = -1;
static int port;

static void
stop_server(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        server = -1;
    }
}

static int
free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &n) < 0)
        return -1;
    close(s);
    return ntohs(a.sin_port);
}

static bool
listening(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(s);
    return ok;
}

/* Serve dir; false when python3 is missing (then the test fails loudly). */
static bool
start_server(const char *dir)
{
    if (server > 0)
        return true;
    port = free_port();
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    server = fork();
    if (server == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl("/usr/bin/python3", "python3", "-m", "http.server", "--bind", "127.0.0.1",
              "--directory", dir, portstr, (char *)NULL);
        _exit(127);
    }
    atexit(stop_server);
    for (int i = 0; i < 100 && !listening(); i++)
        usleep(50000);
    return listening();
}

static const char *
site(void)
{
    static char *dir;
    if (!dir) {
        dir = ib_path_join(ib_test_tmpdir(), "site");
        mkdir(dir, 0755);
        AUTO_FREE char *f = ib_path_join(dir, "hello.txt");
        FILE *fp = fopen(f, "w");
        if (fp) {
            fputs("hello, world\n", fp);
            fclose(fp);
        }
        struct timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};
        utimensat(AT_FDCWD, f, ts, 0);
    }
    return dir;
}

#define HELLO_SHA "sha256:853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020"

TEST(download_with_checksum_and_mtime)
{
    CHECK(start_server(site()));
    struct ib_err *err = NULL;
    IB_AUTO(registry_client_free) struct registry_client *c = NULL;
    CHECK_OK(registry_client_new(NULL, &c, &err));
    AUTO_FREE char *url = ib_xasprintf("http://127.0.0.1:%d/hello.txt?x=1", port);
    AUTO_FREE char *dest = ib_path_join(ib_test_tmpdir(), "out1");
    struct registry_download_info info;
    CHECK_OK(registry_download(c, url, dest, HELLO_SHA, &info, &err));
    AUTO_FREE char *got = ib_test_slurp(dest, NULL);
    CHECK_STR(got, "hello, world\n");
    CHECK_STR(info.filename, "hello.txt");
    CHECK_STR(info.digest, HELLO_SHA);
    CHECK_INT(info.size, 13);
    CHECK_INT(info.mtime, 1700000000);
    free(info.filename);
    struct stat sb;
    CHECK(stat(dest, &sb) == 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    CHECK_INT(sb.st_mtime, 1700000000);
}

TEST(download_checksum_mismatch_leaves_nothing)
{
    CHECK(start_server(site()));
    struct ib_err *err = NULL;
    IB_AUTO(registry_client_free) struct registry_client *c = NULL;
    CHECK_OK(registry_client_new(NULL, &c, &err));
    AUTO_FREE char *url = ib_xasprintf("http://127.0.0.1:%d/hello.txt", port);
    AUTO_FREE char *dest = ib_path_join(ib_test_tmpdir(), "out2");
    const char *wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    CHECK(registry_download(c, url, dest, wrong, NULL, &err) < 0);
    CHECK(err && strstr(err->msg, "digest mismatch"));
    ib_err_free(err);
    err = NULL;
    CHECK(access(dest, F_OK) != 0);
    AUTO_FREE char *missing = ib_xasprintf("http://127.0.0.1:%d/nope", port);
    CHECK(registry_download(c, missing, dest, NULL, NULL, &err) < 0);
    CHECK(err && strstr(err->msg, "HTTP 404"));
    ib_err_free(err);
    err = NULL;
    CHECK(registry_download(c, "ftp://x/y", dest, NULL, NULL, &err) < 0);
    ib_err_free(err);
}
