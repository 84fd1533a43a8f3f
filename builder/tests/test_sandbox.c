/* builder/tests/test_sandbox.c: the sandbox's pure parts, and sandbox_run in-process. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/builder.h"
#include "builder/sandbox.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "common/banned.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "# a comment\n"
                             "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                             "broken line\n"
                             "app:x:1000:1000:app user:/home/app:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false";
static const char group[] = "root:x:0:\n"
                            "wheel:x:10:app,root\n"
                            "staff:x:50:app\n"
                            "app:x:1000:\n"
                            "nogroup:x:65534:\n";

struct user_case {
    const char *spec;
    int ok;
    unsigned uid, gid;
    const char *groups; /* space-separated */
    const char *home;
};

TEST(user_resolution)
{
    static const struct user_case cases[] = {
        {"app", 1, 1000, 1000, "1000 10 50", "/home/app"},
        {"1000", 1, 1000, 1000, "1000 10 50", "/home/app"},
        {"app:staff", 1, 1000, 50, "50 10", "/home/app"},
        {"app:0", 1, 1000, 0, "0 10 50", "/home/app"},
        {"root", 1, 0, 0, "0 10", "/root"},
        {NULL, 1, 0, 0, "0 10", "/root"},
        {"4242", 1, 4242, 0, "0", "/"},
        {"4242:4343", 1, 4242, 4343, "4343", "/"},
        {"nobody:nogroup", 1, 65534, 65534, "65534", "/nonexistent"},
        {"nosuch", 0, 0, 0, "", ""},
        {"app:nosuch", 0, 0, 0, "", ""},
        {":10", 0, 0, 0, "", ""},
        {"app:", 0, 0, 0, "", ""},
        {"99999999999", 0, 0, 0, "", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const struct user_case *c = &cases[i];
        struct sandbox_user u;
        char msg[256] = "";
        int rc = sandbox_user_resolve(c->spec, passwd, strlen(passwd), group, strlen(group), &u,
                                      msg, sizeof(msg));
        bool ok = (rc == 0) == (c->ok == 1);
        if (ok && rc == 0) {
            struct ib_buf g = IB_BUF_INIT;
            for (size_t j = 0; j < u.ngroups; j++)
                ib_buf_addf(&g, "%s%u", j ? " " : "", (unsigned)u.groups[j]);
            ok = u.uid == c->uid && u.gid == c->gid && strcmp(g.s, c->groups) == 0 &&
                 strcmp(u.home, c->home) == 0;
            if (!ok)
                ib_test_note("%s: got %u:%u groups '%s' home '%s'", c->spec ? c->spec : "(none)",
                             (unsigned)u.uid, (unsigned)u.gid, g.s, u.home);
            ib_buf_release(&g);
        }
        ib_test_case(ok, "user '%s'%s%s", c->spec ? c->spec : "(none)", rc ? ": " : "", msg);
    }
    struct sandbox_user u;
    char msg[256];
    CHECK(sandbox_user_resolve("app", NULL, 0, NULL, 0, &u, msg, sizeof(msg)) < 0);
    CHECK(strstr(msg, "no matching entries in passwd file") != NULL);
    CHECK(sandbox_user_resolve("0", NULL, 0, NULL, 0, &u, msg, sizeof(msg)) == 0);
}

TEST(parse_bytes)
{
    static const struct {
        const char *in;
        int64_t want; /* -1: invalid */
    } cases[] = {
        {"64m", 64 << 20},   {"64M", 64 << 20},    {"1g", 1 << 30},
        {"512k", 512 << 10}, {"1048576", 1 << 20}, {"1.5g", 3 << 29},
        {"10mb", 10 << 20},  {"100b", 100},        {"", -1},
        {"m", -1},           {"-5m", -1},          {"12x", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct ib_err *err = NULL;
        int64_t v = 0;
        int rc = sandbox_parse_bytes(cases[i].in, &v, &err);
        ib_test_case(cases[i].want < 0 ? rc < 0 : rc == 0 && v == cases[i].want, "'%s'",
                     cases[i].in);
        ib_err_free(err);
    }
}

TEST(parse_ulimit)
{
    struct ib_err *err = NULL;
    struct sandbox_rlimit r;
    CHECK_OK(sandbox_parse_ulimit("nofile=1024:2048", &r, &err));
    CHECK(r.resource == RLIMIT_NOFILE && r.soft == 1024 && r.hard == 2048);
    CHECK_OK(sandbox_parse_ulimit("nproc=512", &r, &err));
    CHECK(r.resource == RLIMIT_NPROC && r.soft == 512 && r.hard == 512);
    CHECK_OK(sandbox_parse_ulimit("core=0:unlimited", &r, &err));
    CHECK(r.soft == 0 && r.hard == RLIM_INFINITY);
    const char *bad[] = {"nofile", "bogus=1", "nofile=2:1", "nofile=x", "nofile=1:2:3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        CHECK(sandbox_parse_ulimit(bad[i], &r, &err) < 0);
        ib_err_free(err);
        err = NULL;
    }
}

TEST(result_describe)
{
    struct sandbox_result r = {0};
    struct ib_buf b = IB_BUF_INIT;
    sandbox_result_describe(&r, &b);
    CHECK_STR(b.s, "exit status 0");
    CHECK(sandbox_result_ok(&r));
    r.exit_code = 3;
    ib_buf_reset(&b);
    sandbox_result_describe(&r, &b);
    CHECK_STR(b.s, "exit status 3");
    r.signal = 9;
    ib_buf_reset(&b);
    sandbox_result_describe(&r, &b);
    CHECK_STR(b.s, "killed by signal 9 (Killed)");
    r.oom_killed = true;
    r.memory_limit = 256 << 20;
    ib_buf_reset(&b);
    sandbox_result_describe(&r, &b);
    CHECK_STR(b.s, "killed: out of memory, limit 256 MiB");
    r.memory_limit = 1536 << 20;
    ib_buf_reset(&b);
    sandbox_result_describe(&r, &b);
    CHECK_STR(b.s, "killed: out of memory, limit 1.5 GiB");
    CHECK(!sandbox_result_ok(&r));
    ib_buf_release(&b);
}

TEST(overlay_plan_options)
{
    struct ib_err *err = NULL;
    struct overlay_plan p;
    const char *lowers[] = {"/a", "/b"};
    CHECK_OK(overlay_plan_init(&p, lowers, 2, "/u", "/w", false, &err));
    CHECK_STR(p.legacy_opts,
              "lowerdir=/a:/b,upperdir=/u,workdir=/w,index=off,redirect_dir=off,metacopy=off");
    CHECK(p.lower_fds == NULL);
    overlay_plan_release(&p);
    /* long or special paths go through /proc/self/fd/N */
    const char *dir = ib_test_tmpdir();
    AUTO_FREE char *odd = ib_path_join(dir, "a:b");
    CHECK(mkdir(odd, 0755) == 0);
    const char *l2[] = {odd};
    CHECK_OK(overlay_plan_init(&p, l2, 1, "/u", "/w", true, &err));
    CHECK(p.lower_fds != NULL);
    AUTO_FREE char *want = ib_xasprintf("lowerdir=/proc/self/fd/%d,", p.lower_fds[0]);
    CHECK(strncmp(p.legacy_opts, want, strlen(want)) == 0);
    overlay_plan_release(&p);
    CHECK(overlay_plan_init(&p, l2, 0, "/u", "/w", false, &err) < 0);
    ib_err_free(err);
    err = NULL;
    CHECK(overlay_plan_init(&p, lowers, 2, "/u:x", "/w", false, &err) < 0);
    ib_err_free(err);
}

TEST(child_error_protocol)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    struct child_msg m;
    memset(&m, 0, sizeof(m));
    m.type = CHILD_MSG_STUB;
    m.is_dir = 1;
    snprintf(m.text, sizeof(m.text), "proc");
    CHECK(write(fds[1], &m, sizeof(m)) == (ssize_t)sizeof(m));
    memset(&m, 0, sizeof(m));
    m.type = CHILD_MSG_ERROR;
    m.err = ENOENT;
    snprintf(m.text, sizeof(m.text), "open '/x'");
    CHECK(write(fds[1], &m, sizeof(m)) == (ssize_t)sizeof(m));
    close(fds[1]);
    struct child_msg *stubs = NULL;
    size_t n = 0;
    struct ib_err *err = NULL;
    CHECK(sandbox_read_child_err(fds[0], &stubs, &n, &err) < 0);
    close(fds[0]);
    CHECK_INT(n, 1);
    CHECK_STR(stubs[0].text, "proc");
    free(stubs);
    CHECK_INT(err->kind, IB_E_SANDBOX);
    CHECK_STR(err->msg, "sandbox: open '/x': No such file or directory");
    ib_err_free(err);
    /* EOF without records: the child exec'd */
    CHECK(pipe(fds) == 0);
    close(fds[1]);
    err = NULL;
    CHECK_OK(sandbox_read_child_err(fds[0], NULL, NULL, &err));
    close(fds[0]);
}

/* ---- sandbox_run in this process (the e2e tests drive it through run-step) ---- */

static const char *
rootfs(void)
{
    static char *dir;
    if (!dir) {
        dir = ib_path_join(ib_test_tmpdir(), "rootfs");
        AUTO_FREE char *cmd = ib_xasprintf("testdata/make-busybox-rootfs.sh '%s' >/dev/null", dir);
        if (system(cmd) != 0) {
            printf("not ok - testdata/make-busybox-rootfs.sh failed (busybox-static missing?)\n");
            exit(1);
        }
    }
    return dir;
}

static int
run_in(const char *tag, const char *const *argv, struct sandbox_cfg *cfg,
       struct sandbox_result *res, struct ib_err **err)
{
    AUTO_FREE char *up = ib_xasprintf("%s/%s.up", ib_test_tmpdir(), tag);
    AUTO_FREE char *wk = ib_xasprintf("%s/%s.wk", ib_test_tmpdir(), tag);
    if (mkdir(up, 0755) < 0 || mkdir(wk, 0755) < 0)
        return ib_fail_errno(err, "mkdir");
    const char *lowers[] = {rootfs()};
    cfg->lowers = lowers;
    cfg->nlowers = 1;
    cfg->upper = up;
    cfg->work = wk;
    cfg->argv = argv;
    return sandbox_run(cfg, res, err);
}

TEST(run_exit_status_and_output)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *out = ib_path_join(ib_test_tmpdir(), "out.txt");
    AUTO_FD int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    cfg.stdio[0] = -1;
    cfg.stdio[1] = fd;
    cfg.stdio[2] = fd;
    const char *env[] = {"GREETING=hello", NULL};
    cfg.env = env;
    cfg.hostname = "unit";
    const char *argv[] = {"sh", "-c", "echo $GREETING $(hostname) $HOME; exit 7", NULL};
    struct sandbox_result res;
    CHECK_OK(run_in("a", argv, &cfg, &res, &err));
    CHECK_INT(res.exit_code, 7);
    CHECK_INT(res.signal, 0);
    CHECK(!res.oom_killed);
    CHECK(res.wall_usec > 0);
    AUTO_FREE char *got = ib_test_slurp(out, NULL);
    CHECK_STR(got, "hello unit /root\n");
}

TEST(run_setup_error_is_reported)
{
    struct ib_err *err = NULL;
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    cfg.stdio[0] = cfg.stdio[1] = cfg.stdio[2] = -1;
    cfg.user = "nosuchuser";
    const char *argv[] = {"true", NULL};
    struct sandbox_result res;
    CHECK(run_in("b", argv, &cfg, &res, &err) < 0);
    CHECK_INT(err->kind, IB_E_SANDBOX);
    CHECK(strstr(err->msg, "unable to find user 'nosuchuser'") != NULL);
    ib_err_free(err);
    err = NULL;
    const char *none[] = {NULL};
    cfg.user = NULL;
    CHECK(run_in("c", none, &cfg, &res, &err) < 0);
    ib_err_free(err);
}

TEST(run_async_teardown)
{
    struct ib_err *err = NULL;
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    cfg.stdio[0] = cfg.stdio[1] = cfg.stdio[2] = -1;
    cfg.async_teardown = true;
    /* a daemon that keeps writing: it must be gone when sandbox_run returns */
    const char *argv[] = {"sh", "-c",
                          "echo done > /result; (while :; do echo x >> /late; sleep 0.01; done) "
                          "</dev/null >/dev/null 2>&1 & sleep 0.05; exit 3",
                          NULL};
    struct sandbox_result res;
    CHECK_OK(run_in("async", argv, &cfg, &res, &err));
    CHECK_INT(res.exit_code, 3);
    AUTO_FREE char *up = ib_xasprintf("%s/async.up", ib_test_tmpdir());
    AUTO_FREE char *wk = ib_xasprintf("%s/async.wk", ib_test_tmpdir());
    AUTO_FREE char *result = ib_path_join(up, "result");
    AUTO_FREE char *got = ib_test_slurp(result, NULL);
    CHECK_STR(got, "done\n");
    AUTO_FREE char *late = ib_path_join(up, "late");
    struct stat a, b;
    CHECK(stat(late, &a) == 0);
    usleep(100 * 1000);
    CHECK(stat(late, &b) == 0);
    CHECK_INT((long)a.st_size, (long)b.st_size); /* nobody writes any more */
    sandbox_settle();
    CHECK(access(wk, F_OK) < 0 && errno == ENOENT); /* the sandbox removed the work dir */
    /* a setup error with async_teardown: reported, and the work dir is still removed */
    cfg.user = "nosuchuser";
    CHECK(run_in("async2", argv, &cfg, &res, &err) < 0);
    ib_err_free(err);
    sandbox_settle();
    AUTO_FREE char *wk2 = ib_xasprintf("%s/async2.wk", ib_test_tmpdir());
    CHECK(access(wk2, F_OK) < 0 && errno == ENOENT);
}

/* ---- RUN --mount in the sandbox ------------------------------------------------ */

static void
list_tree(const char *dir, const char *rel, struct ib_buf *out)
{
    AUTO_FREE char *path = *rel ? ib_path_join(dir, rel) : ib_xstrdup(dir);
    AUTO_FREE char *cmd = ib_xasprintf("cd '%s' && find . -mindepth 1 | sort", path);
    FILE *f = popen(cmd, "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        ib_buf_adds(out, line);
    if (f)
        pclose(f);
}

static void
write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(data, f);
        fclose(f);
    }
}

TEST(run_mounts_leave_nothing_in_upper)
{
    struct ib_err *err = NULL;
    const char *tmp = ib_test_tmpdir();
    AUTO_FREE char *host = ib_path_join(tmp, "m-host");
    AUTO_FREE char *cache = ib_path_join(tmp, "m-cache");
    AUTO_FREE char *extra = ib_path_join(tmp, "m-extra");
    AUTO_FREE char *escdir = ib_path_join(tmp, "m-escape");
    CHECK(mkdir(host, 0755) == 0 && mkdir(cache, 0755) == 0 && mkdir(extra, 0755) == 0 &&
          mkdir(escdir, 0755) == 0);
    AUTO_FREE char *hf = ib_path_join(host, "f");
    write_file(hf, "hostdata\n");
    /* a symlink in the image that points out of the root, to a host dir */
    AUTO_FREE char *esc = ib_path_join(extra, "esc");
    CHECK(symlink("/../../../../../../..", esc) == 0);
    /* inside the root /esc/<name> is /<name>; on the host it would be in / */
    AUTO_FREE char *escname = ib_xasprintf("/esc%s", escdir);
    const char *view_lowers[] = {host};
    struct sandbox_mount m[] = {
        {.type = SANDBOX_MOUNT_BIND,
         .target = "/usr/share/deep/ro",
         .source = host,
         .readonly = true,
         .mode = -1},
        {.type = SANDBOX_MOUNT_BIND, .target = "/root/.cache", .source = cache, .mode = -1},
        {.type = SANDBOX_MOUNT_BIND,
         .target = "/view",
         .source = "/",
         .lowers = view_lowers,
         .nlowers = 1,
         .mode = -1},
        {.type = SANDBOX_MOUNT_TMPFS,
         .target = "/tmp/t",
         .size = 1 << 20,
         .mode = 0700,
         .uid = 1000,
         .gid = 1000},
        {.type = SANDBOX_MOUNT_FILE,
         .target = "/run/secrets/s",
         .data = "topsecret",
         .len = 9,
         .mode = -1},
        {.type = SANDBOX_MOUNT_BIND,
         .target = escname,
         .source = host,
         .readonly = true,
         .mode = -1},
    };
    AUTO_FREE char *out = ib_path_join(tmp, "m-out.txt");
    AUTO_FD int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    cfg.stdio[0] = -1;
    cfg.stdio[1] = cfg.stdio[2] = fd;
    cfg.mounts = m;
    cfg.nmounts = sizeof(m) / sizeof(*m);
    AUTO_FREE char *escenv = ib_xasprintf("ESC=%s", escdir);
    const char *env[] = {escenv, NULL};
    cfg.env = env;
    const char *argv[] = {
        "sh", "-c",
        "cat /usr/share/deep/ro/f; touch /usr/share/deep/ro/g 2>/dev/null && echo ro-writable;"
        "echo c >/root/.cache/new; touch /view/v && cat /view/f;"
        "echo t >/tmp/t/x && stat -c '%a %u' /tmp/t; cat /run/secrets/s; echo;"
        "stat -c '%a %u' /run/secrets/s; (echo >/run/secrets/s) 2>/dev/null && echo "
        "secret-writable;"
        "cat /esc/$ESC/f; echo real >/made",
        NULL};
    const char *lowers[] = {extra, rootfs()};
    AUTO_FREE char *up = ib_path_join(tmp, "m.up");
    AUTO_FREE char *wk = ib_path_join(tmp, "m.wk");
    CHECK(mkdir(up, 0755) == 0 && mkdir(wk, 0755) == 0);
    cfg.lowers = lowers;
    cfg.nlowers = 2;
    cfg.upper = up;
    cfg.work = wk;
    cfg.argv = argv;
    struct sandbox_result res;
    CHECK_OK(sandbox_run(&cfg, &res, &err));
    AUTO_FREE char *got = ib_test_slurp(out, NULL);
    CHECK_STR(got, "hostdata\nhostdata\n700 1000\ntopsecret\n400 0\nhostdata\n");
    CHECK_INT(res.exit_code, 0);
    AUTO_BUF struct ib_buf l = IB_BUF_INIT;
    list_tree(up, "", &l);
    CHECK_STR(l.s, "./made\n");
    ib_buf_reset(&l);
    list_tree(host, "", &l);
    CHECK_STR(l.s, "./f\n"); /* neither g (read-only) nor v (writes discarded) */
    ib_buf_reset(&l);
    list_tree(cache, "", &l);
    CHECK_STR(l.s, "./new\n");
    ib_buf_reset(&l);
    list_tree(escdir, "", &l);
    CHECK_STR(l.s, ""); /* the target was resolved inside the root, not on the host */
    /* a symlink to a missing path in the target: a clear error */
    struct sandbox_mount bad = {
        .type = SANDBOX_MOUNT_TMPFS, .target = "/esc/nonexistent/x", .mode = -1};
    AUTO_FREE char *dangling = ib_path_join(extra, "dangling");
    CHECK(symlink("/nonexistent/dir", dangling) == 0);
    bad.target = "/dangling/x";
    cfg.mounts = &bad;
    cfg.nmounts = 1;
    ib_rm_rf_at(AT_FDCWD, up, NULL);
    ib_rm_rf_at(AT_FDCWD, wk, NULL);
    CHECK(mkdir(up, 0755) == 0 && mkdir(wk, 0755) == 0);
    CHECK(sandbox_run(&cfg, &res, &err) < 0);
    CHECK(strstr(err->msg, "a symlink in the path leads to a missing path") != NULL);
    ib_err_free(err);
}

TEST(run_mount_errors)
{
    struct ib_err *err = NULL;
    struct sandbox_mount m[] = {{.type = SANDBOX_MOUNT_TMPFS, .target = "/a/../b", .mode = -1}};
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    cfg.stdio[0] = cfg.stdio[1] = cfg.stdio[2] = -1;
    cfg.mounts = m;
    cfg.nmounts = 1;
    const char *argv[] = {"true", NULL};
    struct sandbox_result res;
    CHECK(run_in("me1", argv, &cfg, &res, &err) < 0);
    CHECK(strstr(err->msg, "not a clean absolute path") != NULL);
    ib_err_free(err);
    err = NULL;
    /* a file in the image where a dir mount goes */
    m[0].target = "/etc/passwd";
    CHECK(run_in("me2", argv, &cfg, &res, &err) < 0);
    CHECK(strstr(err->msg, "RUN --mount on '/etc/passwd'") != NULL);
    ib_err_free(err);
}

/* ---- RUN --security=insecure ------------------------------------------------------------ */

static uint64_t
own_caps(void)
{
    AUTO_FREE char *st = ib_test_slurp("/proc/self/status", NULL);
    const char *p = strstr(st, "CapPrm:");
    return p ? strtoull(p + 7, NULL, 16) : 0;
}

TEST(run_insecure)
{
    struct ib_err *err = NULL;
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    CHECK(!cfg.insecure); /* the default */
    cfg.insecure = true;  /* as run.c sets it for RUN --security=insecure */
    AUTO_FREE char *out = ib_path_join(ib_test_tmpdir(), "insecure.txt");
    AUTO_FD int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    cfg.stdio[0] = -1;
    cfg.stdio[1] = cfg.stdio[2] = fd;
    const char *argv[] = {
        "sh", "-c",
        "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t';"
        "mkdir /mnt && mount -t tmpfs none /mnt && echo mount-ok;"
        "grep -c ' /proc/' /proc/self/mountinfo; grep -q ' /sys rw,' /proc/self/mountinfo && "
        "echo sys-rw; test -c /dev/fuse && test -b /dev/loop0 && echo devices",
        NULL};
    struct sandbox_result res;
    CHECK_OK(run_in("insecure", argv, &cfg, &res, &err));
    CHECK_INT(res.exit_code, 0);
    AUTO_FREE char *got = ib_test_slurp(out, NULL);
    AUTO_FREE char *want =
        ib_xasprintf("CapEff:%016llx\nNoNewPrivs:0\nSeccomp:0\nmount-ok\n0\nsys-rw\ndevices\n",
                     (unsigned long long)own_caps());
    CHECK_STR(got, want);
    /* the same command without it: the default capabilities, the filter, no mount */
    sandbox_cfg_init(&cfg);
    AUTO_FD int fd2 = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd2 >= 0);
    cfg.stdio[0] = -1;
    cfg.stdio[1] = cfg.stdio[2] = fd2;
    CHECK_OK(run_in("secure", argv, &cfg, &res, &err));
    AUTO_FREE char *got2 = ib_test_slurp(out, NULL);
    CHECK(strstr(got2, "CapEff:00000000a80425fb\nNoNewPrivs:1\nSeccomp:2\n") == got2);
    CHECK(!strstr(got2, "mount-ok") && !strstr(got2, "sys-rw") && !strstr(got2, "devices"));
}
