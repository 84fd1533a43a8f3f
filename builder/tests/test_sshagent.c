/* builder/tests/test_sshagent.c: build --ssh specs and the per-step agent proxy
 * (builder/sshagent.c), with a stand-in agent (an echo server) on a real unix socket, and the
 * proxy's socket bound into a real sandbox step.  Key files (ssh-agent, ssh-add) are tested
 * end to end in testdata/e2e/37-ssh-insecure.sh. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "builder/runmount.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "common/banned.h"

/* ---- a stand-in agent: echoes every byte back, many clients at once ---- */

struct echo {
    char *path;
    int lfd;
    int wake[2];
    pthread_t th;
    int accepted;
};

static void *
echo_thread(void *arg)
{
    struct echo *e = arg;
    struct pollfd p[18];
    int n = 0;
    char buf[4096];
    for (;;) {
        p[0] = (struct pollfd){.fd = e->wake[0], .events = POLLIN};
        p[1] = (struct pollfd){.fd = e->lfd, .events = POLLIN};
        if (poll(p, (nfds_t)(2 + n), -1) < 0)
            continue;
        if (p[0].revents)
            break;
        for (int i = n; i-- > 0;) {
            if (!p[2 + i].revents)
                continue;
            ssize_t r = read(p[2 + i].fd, buf, sizeof(buf));
            if (r <= 0 || write(p[2 + i].fd, buf, (size_t)r) != r) {
                close(p[2 + i].fd);
                p[2 + i] = p[2 + --n];
            }
        }
        if ((p[1].revents & POLLIN) && n < 16) {
            int c = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                p[2 + n++] = (struct pollfd){.fd = c, .events = POLLIN};
                e->accepted++;
            }
        }
    }
    for (int i = 0; i < n; i++)
        close(p[2 + i].fd);
    return NULL;
}

static int
listen_at(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static bool
echo_start(struct echo *e, const char *name)
{
    memset(e, 0, sizeof(*e));
    e->path = ib_path_join(ib_test_tmpdir(), name);
    e->lfd = listen_at(e->path);
    return e->lfd >= 0 && pipe2(e->wake, O_CLOEXEC) == 0 &&
           pthread_create(&e->th, NULL, echo_thread, e) == 0;
}

static void
echo_stop(struct echo *e)
{
    if (write(e->wake[1], "x", 1) != 1)
        return;
    pthread_join(e->th, NULL);
    close(e->wake[0]);
    close(e->wake[1]);
    close(e->lfd);
    unlink(e->path);
    free(e->path);
}

static int
connect_to(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* send s on fd and read the same number of bytes back */
static bool
round_trip(int fd, const char *s)
{
    size_t n = strlen(s);
    if (write(fd, s, n) != (ssize_t)n)
        return false;
    char buf[256];
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return memcmp(buf, s, n) == 0;
}

/* ---- --ssh specs ---- */

TEST(ssh_specs)
{
    struct ib_err *err = NULL;
    struct echo e;
    CHECK(echo_start(&e, "agent.sock"));
    AUTO_FREE char *key = ib_path_join(ib_test_tmpdir(), "not-a-key");
    FILE *f = fopen(key, "w");
    CHECK(f);
    fputs("x\n", f);
    fclose(f);
    struct ssh_agents *a = NULL;
    AUTO_FREE char *s1 = ib_xasprintf("default=%s", e.path);
    AUTO_FREE char *s2 = ib_xasprintf("other=%s", e.path);
    char *specs[] = {s1, s2};
    CHECK_OK(ssh_agents_open(specs, 2, &a, &err));
    CHECK_STR(ssh_agents_socket(a, "default"), e.path);
    CHECK_STR(ssh_agents_socket(a, "other"), e.path);
    CHECK(ssh_agents_socket(a, "nope") == NULL);
    CHECK(ssh_agents_socket(NULL, "default") == NULL);
    ssh_agents_free(a);
    setenv("SSH_AUTH_SOCK", e.path, 1);
    char *dflt[] = {(char *)"default"};
    CHECK_OK(ssh_agents_open(dflt, 1, &a, &err));
    CHECK_STR(ssh_agents_socket(a, "default"), e.path); /* no path: $SSH_AUTH_SOCK */
    ssh_agents_free(a);
    unsetenv("SSH_AUTH_SOCK");
    AUTO_FREE char *mixed = ib_xasprintf("default=%s,%s", e.path, key);
    AUTO_FREE char *missing = ib_xasprintf("default=%s/none", ib_test_tmpdir());
    AUTO_FREE char *dirspec = ib_xasprintf("default=%s", ib_test_tmpdir());
    static const struct {
        const char *why;
        int n;
    } bad[] = {{"SSH_AUTH_SOCK is not set", 1},        {"the ID is empty", 1},
               {"a socket must be the only path", 1},  {"No such file", 1},
               {"neither a socket nor a key file", 1}, {"is given twice", 2}};
    char *cases[][2] = {{(char *)"default", NULL}, {(char *)"=x", NULL}, {mixed, NULL},
                        {missing, NULL},           {dirspec, NULL},      {s1, s1}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        a = NULL;
        int rc = ssh_agents_open(cases[i], (size_t)bad[i].n, &a, &err);
        bool ok = rc < 0 && a == NULL && err && strstr(err->msg, bad[i].why);
        ib_test_case(ok, "--ssh error: %s (%s)", bad[i].why, err ? err->msg : "no error");
        ib_err_free(err);
        err = NULL;
    }
    echo_stop(&e);
}

/* ---- the proxy ---- */

TEST(proxy_relays_and_sets_mode)
{
    struct ib_err *err = NULL;
    struct echo e;
    CHECK(echo_start(&e, "up.sock"));
    AUTO_FREE char *dir = ib_path_join(ib_test_tmpdir(), "proxy");
    CHECK(mkdir(dir, 0700) == 0);
    struct ssh_proxy *p = NULL;
    CHECK_OK(ssh_proxy_start(e.path, dir, 0660, 1000, 1001, &p, &err));
    AUTO_FREE char *want = ib_path_join(dir, "agent");
    CHECK_STR(ssh_proxy_path(p), want);
    struct stat st;
    CHECK(stat(want, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK_INT(st.st_mode & 07777, 0660);
    CHECK_INT(st.st_uid, 1000);
    CHECK_INT(st.st_gid, 1001);
    /* three clients at once, each with its own connection to the agent */
    int c[3];
    for (int i = 0; i < 3; i++)
        CHECK((c[i] = connect_to(want)) >= 0);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 3; i++) {
            char msg[64];
            snprintf(msg, sizeof(msg), "client %d round %d", i, round);
            CHECK(round_trip(c[i], msg));
        }
    close(c[1]);
    CHECK(round_trip(c[0], "still there after another client left"));
    close(c[0]);
    close(c[2]);
    ssh_proxy_stop(p);
    CHECK(access(want, F_OK) < 0 && errno == ENOENT); /* the socket is gone */
    CHECK(connect_to(want) < 0);
    CHECK_INT(e.accepted, 3);
    echo_stop(&e);
}

TEST(proxy_long_paths)
{
    /* sun_path holds 108 bytes: longer dirs go through /proc/self/fd */
    struct ib_err *err = NULL;
    struct echo e;
    CHECK(echo_start(&e, "u.sock"));
    AUTO_BUF struct ib_buf d = IB_BUF_INIT;
    ib_buf_adds(&d, ib_test_tmpdir());
    while (d.len < 160)
        ib_buf_adds(&d, "/a-rather-long-directory-name");
    struct ib_err *mk = NULL;
    CHECK(ib_mkdir_p(AT_FDCWD, d.s, 0700, &mk) == 0);
    struct ssh_proxy *p = NULL;
    CHECK_OK(ssh_proxy_start(e.path, d.s, 0600, -1, -1, &p, &err));
    AUTO_FREE char *dirfd_path = NULL;
    AUTO_FD int dfd = open(d.s, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    dirfd_path = ib_xasprintf("/proc/self/fd/%d/agent", dfd);
    int c = connect_to(dirfd_path);
    CHECK(c >= 0);
    CHECK(round_trip(c, "long"));
    close(c);
    ssh_proxy_stop(p);
    echo_stop(&e);
}

TEST(proxy_without_agent_drops_clients)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *dir = ib_path_join(ib_test_tmpdir(), "proxy2");
    CHECK(mkdir(dir, 0700) == 0);
    AUTO_FREE char *gone = ib_path_join(ib_test_tmpdir(), "no-agent.sock");
    struct ssh_proxy *p = NULL;
    CHECK_OK(ssh_proxy_start(gone, dir, 0600, -1, -1, &p, &err));
    int c = connect_to(ssh_proxy_path(p));
    CHECK(c >= 0);
    char b;
    CHECK(read(c, &b, 1) == 0); /* closed at once: there is nothing to relay to */
    close(c);
    ssh_proxy_stop(p);
}

/* ---- the proxy's socket in a sandbox step ---- */

TEST(proxy_socket_in_sandbox)
{
    struct ib_err *err = NULL;
    const char *tmp = ib_test_tmpdir();
    AUTO_FREE char *root = ib_path_join(tmp, "rootfs");
    AUTO_FREE char *cmd = ib_xasprintf("testdata/make-busybox-rootfs.sh '%s' >/dev/null", root);
    CHECK(system(cmd) == 0);
    struct echo e;
    CHECK(echo_start(&e, "sb.sock"));
    AUTO_FREE char *dir = ib_path_join(tmp, "proxy3");
    CHECK(mkdir(dir, 0700) == 0);
    struct ssh_proxy *p = NULL;
    CHECK_OK(ssh_proxy_start(e.path, dir, 0600, -1, -1, &p, &err));
    struct sandbox_mount m = {.type = SANDBOX_MOUNT_BIND,
                              .target = "/run/buildkit/ssh_agent.0",
                              .source = ssh_proxy_path(p),
                              .readonly = true,
                              .mode = -1};
    AUTO_FREE char *out = ib_path_join(tmp, "sb-out.txt");
    AUTO_FD int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    AUTO_FREE char *up = ib_path_join(tmp, "sb.up");
    AUTO_FREE char *wk = ib_path_join(tmp, "sb.wk");
    CHECK(mkdir(up, 0755) == 0 && mkdir(wk, 0755) == 0);
    const char *lowers[] = {root};
    const char *argv[] = {"sh", "-c",
                          "test -S /run/buildkit/ssh_agent.0 && stat -c '%a %u' "
                          "/run/buildkit/ssh_agent.0; echo kept >/kept",
                          NULL};
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    cfg.lowers = lowers;
    cfg.nlowers = 1;
    cfg.upper = up;
    cfg.work = wk;
    cfg.argv = argv;
    cfg.stdio[0] = -1;
    cfg.stdio[1] = cfg.stdio[2] = fd;
    cfg.mounts = &m;
    cfg.nmounts = 1;
    cfg.net = SANDBOX_NET_NONE;
    struct sandbox_result res;
    CHECK_OK(sandbox_run(&cfg, &res, &err));
    CHECK_INT(res.exit_code, 0);
    AUTO_FREE char *got = ib_test_slurp(out, NULL);
    CHECK_STR(got, "600 0\n");
    AUTO_FREE char *run = ib_path_join(up, "run");
    CHECK(access(run, F_OK) < 0); /* the mount point and its dirs left the upper dir */
    AUTO_FREE char *kept = ib_path_join(up, "kept");
    CHECK(access(kept, F_OK) == 0);
    ssh_proxy_stop(p);
    echo_stop(&e);
}
