/* builder/tests/test_cgroup.c: the cgroup back-ends on this machine's real hierarchies.
 *
 * v1 is what a hybrid host (this one) uses.  v2 runs twice: on the real cgroup2 mount
 * (no controllers can be enabled there when memory, cpu and pids are bound to v1, so only
 * create / add / cpu.stat / cgroup.kill / remove are real) and over a cgroup2-shaped
 * directory, which checks every limit file and stats parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "builder/sandbox.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "common/banned.h"

static char *
slurp_trim(const char *dir, const char *file)
{
    AUTO_FREE char *p = ib_path_join(dir, file);
    char *s = ib_test_slurp(p, NULL);
    s[strcspn(s, "\n")] = '\0';
    return s;
}

static void
put(const char *dir, const char *file, const char *content)
{
    AUTO_FREE char *p = ib_path_join(dir, file);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

/* A child that, once released through *go, touches 4 MiB and burns 30 ms of CPU, then
 * sleeps until killed (10 s at most, so a failed test leaves nothing behind). */
static char *volatile keep; /* so the compiler keeps the allocation */

static pid_t
spawn_busy(int *go)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        close(fds[1]);
        char c;
        if (read(fds[0], &c, 1) != 1)
            _exit(1);
        keep = malloc(4 << 20);
        if (keep)
            memset(keep, 1, 4 << 20);
        struct timespec t0, t;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        do
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 30000000L);
        for (;;)
            pause();
    }
    close(fds[0]);
    *go = fds[1];
    return pid;
}

static void
release(int go)
{
    if (write(go, "g", 1) != 1)
        ib_test_note("could not release the child");
    close(go);
}

static void
nap(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

TEST(shares_to_weight)
{
    CHECK_INT(cgroup_shares_to_weight(0), 0);
    CHECK_INT(cgroup_shares_to_weight(2), 1);
    CHECK_INT(cgroup_shares_to_weight(1024), 39);
    CHECK_INT(cgroup_shares_to_weight(262144), 10000);
    CHECK_INT(cgroup_shares_to_weight(1 << 30), 10000);
}

TEST(detect_mode_matches_the_mounts)
{
    struct ib_err *err = NULL;
    enum cgroup_mode mode;
    CHECK_OK(cgroup_detect_mode("/sys/fs/cgroup", &mode, &err));
    struct statfs st, su;
    CHECK(statfs("/sys/fs/cgroup", &st) == 0);
    bool unified_sub =
        statfs("/sys/fs/cgroup/unified", &su) == 0 && su.f_type == CGROUP2_SUPER_MAGIC;
    enum cgroup_mode want = st.f_type == CGROUP2_SUPER_MAGIC ? CGROUP_UNIFIED
                            : unified_sub                    ? CGROUP_HYBRID
                                                             : CGROUP_LEGACY;
    CHECK_INT(mode, want);
    ib_test_note("cgroup mode here: %s", mode == CGROUP_UNIFIED  ? "unified (v2)"
                                         : mode == CGROUP_HYBRID ? "hybrid (v1 used)"
                                                                 : "legacy (v1)");
    CHECK(cgroup_detect_mode("/nonexistent", &mode, &err) < 0);
    ib_err_free(err);
}

TEST(host_backend_limits_stats_remove)
{
    struct ib_err *err = NULL;
    struct sandbox_limits lim = {
        .memory = 32 << 20, .cpu_quota = 50000, .pids = 10, .cpu_shares = 512};
    struct cgroup *cg = NULL;
    char name[64];
    snprintf(name, sizeof(name), "unit-%ld", (long)getpid());
    CHECK_OK(cgroup_create("imgbuild", name, &lim, &cg, &err)); /* the sandbox's parent */
    AUTO_FREE char *dir = ib_xstrdup(cgroup_path(cg));
    enum cgroup_mode mode;
    CHECK_OK(cgroup_detect_mode("/sys/fs/cgroup", &mode, &err));
    if (mode == CGROUP_UNIFIED) {
        AUTO_FREE char *m = slurp_trim(dir, "memory.max");
        CHECK_STR(m, "33554432");
    } else {
        AUTO_FREE char *m = slurp_trim(dir, "memory.limit_in_bytes");
        CHECK_STR(m, "33554432");
    }
    int go = -1;
    pid_t pid = spawn_busy(&go);
    CHECK(pid > 0);
    CHECK_OK(cgroup_add_pid(cg, pid, &err));
    release(go);
    nap(150);
    struct cgroup_stats st;
    int rc = cgroup_read_stats(cg, &st, &err);
    CHECK_OK(cgroup_remove(cg, &err)); /* kills the sleeping child (also when checks fail) */
    CHECK_OK(rc);
    ib_test_note("busy child: cpu %llu us, peak %llu bytes", (unsigned long long)st.cpu_usec,
                 (unsigned long long)st.mem_peak);
    CHECK(st.cpu_usec >= 10000);
    if (mode != CGROUP_UNIFIED || st.mem_peak > 0) /* memory.peak: Linux >= 5.19 */
        CHECK(st.mem_peak >= 4 << 20);
    CHECK_INT(st.oom_kills, 0);
    int ws = 0;
    CHECK(waitpid(pid, &ws, 0) == pid);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    CHECK(access(dir, F_OK) < 0 && errno == ENOENT);
    cgroup_free(cg);
}

/* The real cgroup2 mount of this machine (unified root, or the hybrid's unified/). */
static const char *
real_cgroup2(void)
{
    struct statfs st;
    if (statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
        return "/sys/fs/cgroup";
    if (statfs("/sys/fs/cgroup/unified", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
        return "/sys/fs/cgroup/unified";
    return NULL;
}

TEST(v2_on_the_real_cgroup2_mount)
{
    struct ib_err *err = NULL;
    const char *base = real_cgroup2();
    CHECK(base != NULL); /* this machine has one; a host without cgroup2 fails loudly */
    AUTO_FREE char *self = NULL;
    {
        /* our own v2 cgroup: the parent dir must be relative to the mount */
        AUTO_FREE char *cg = ib_test_slurp("/proc/self/cgroup", NULL);
        char *l = strstr(cg, "0::");
        CHECK(l != NULL);
        l += 3;
        l[strcspn(l, "\n")] = '\0';
        self = ib_xasprintf("%s/imgbuild-test", strcmp(l, "/") == 0 ? "" : l);
    }
    struct sandbox_limits none = {0};
    struct cgroup *cg = NULL;
    char name[64];
    snprintf(name, sizeof(name), "unit2-%ld", (long)getpid());
    CHECK_OK(cgroup_create_v2_at(base, self, name, &none, &cg, &err));
    AUTO_FREE char *dir = ib_xstrdup(cgroup_path(cg));
    int go = -1;
    pid_t pid = spawn_busy(&go);
    CHECK(pid > 0);
    CHECK_OK(cgroup_add_pid(cg, pid, &err));
    release(go);
    AUTO_FREE char *procs = slurp_trim(dir, "cgroup.procs");
    CHECK_INT(atol(procs), pid);
    nap(150);
    struct cgroup_stats st;
    int rc = cgroup_read_stats(cg, &st, &err);
    CHECK_OK(cgroup_remove(cg, &err)); /* cgroup.kill */
    CHECK_OK(rc);
    ib_test_note("real cgroup2: cpu.stat usage_usec %llu", (unsigned long long)st.cpu_usec);
    CHECK(st.cpu_usec >= 10000);
    int ws = 0;
    CHECK(waitpid(pid, &ws, 0) == pid);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    CHECK(access(dir, F_OK) < 0 && errno == ENOENT);
    cgroup_free(cg);

    /* a memory limit needs the memory controller in v2 */
    AUTO_FREE char *avail = slurp_trim(base, "cgroup.controllers");
    struct sandbox_limits mem = {.memory = 64 << 20};
    snprintf(name, sizeof(name), "unit2m-%ld", (long)getpid());
    cg = NULL;
    rc = cgroup_create_v2_at(base, self, name, &mem, &cg, &err);
    if (strstr(avail, "memory")) {
        CHECK_INT(rc, 0);
        AUTO_FREE char *m = slurp_trim(cgroup_path(cg), "memory.max");
        CHECK_STR(m, "67108864");
        CHECK_OK(cgroup_remove(cg, &err));
        cgroup_free(cg);
    } else {
        ib_test_note("memory is bound to v1 here: v2 limits are checked on a cgroup2-shaped dir");
        CHECK_INT(rc, -1);
        CHECK(strstr(err->msg, "controller 'memory' is not available") != NULL);
        ib_err_free(err);
        err = NULL;
    }
    AUTO_FREE char *parent = ib_path_join(base, self);
    rmdir(parent);
}

TEST(v2_limits_and_stats_on_a_cgroup2_shaped_dir)
{
    struct ib_err *err = NULL;
    const char *base = ib_test_tmpdir();
    put(base, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(base, "cgroup.subtree_control", "");
    AUTO_FREE char *p = ib_path_join(base, "p");
    AUTO_FREE char *s = ib_path_join(p, "s1");
    CHECK_OK(ib_mkdir_p(AT_FDCWD, s, 0755, &err));
    put(p, "cgroup.subtree_control", "");
    static const char *const files[] = {"memory.max", "memory.swap.max", "cpu.max",
                                        "cpu.weight", "pids.max",        "cgroup.procs"};
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++)
        put(s, files[i], "");
    struct sandbox_limits lim = {.memory = 64 << 20,
                                 .cpu_quota = 50000,
                                 .cpu_period = 100000,
                                 .cpu_shares = 512,
                                 .pids = 50};
    struct cgroup *cg = NULL;
    CHECK_OK(cgroup_create_v2_at(base, "p", "s1", &lim, &cg, &err));
    struct {
        const char *dir, *file, *want;
    } expect[] = {
        {s, "memory.max", "67108864"},
        {s, "memory.swap.max", "0"},
        {s, "cpu.max", "50000 100000"},
        {s, "cpu.weight", "20"},
        {s, "pids.max", "50"},
        {base, "cgroup.subtree_control", "+memory +cpu +pids"},
        {p, "cgroup.subtree_control", "+memory +cpu +pids"},
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(*expect); i++) {
        AUTO_FREE char *got = slurp_trim(expect[i].dir, expect[i].file);
        ib_test_case(strcmp(got, expect[i].want) == 0, "%s = '%s' (want '%s')", expect[i].file, got,
                     expect[i].want);
    }
    CHECK_OK(cgroup_add_pid(cg, 4242, &err));
    AUTO_FREE char *procs = slurp_trim(s, "cgroup.procs");
    CHECK_STR(procs, "4242");
    put(s, "cpu.stat", "usage_usec 12345\nuser_usec 10000\nsystem_usec 2345\n");
    put(s, "memory.peak", "7777\n");
    put(s, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    struct cgroup_stats st;
    CHECK_OK(cgroup_read_stats(cg, &st, &err));
    CHECK_INT(st.cpu_usec, 12345);
    CHECK_INT(st.mem_peak, 7777);
    CHECK_INT(st.oom_kills, 1);
    cgroup_free(cg);

    /* unlimited swap, and a controller that is not there */
    struct sandbox_limits sw = {.memory = 1 << 20, .memory_swap = -1};
    CHECK_OK(cgroup_create_v2_at(base, "p", "s1", &sw, &cg, &err));
    AUTO_FREE char *swap = slurp_trim(s, "memory.swap.max");
    CHECK_STR(swap, "max");
    cgroup_free(cg);
    put(base, "cgroup.controllers", "cpu io\n");
    struct sandbox_limits pl = {.pids = 5};
    cg = NULL;
    CHECK(cgroup_create_v2_at(base, "p", "s1", &pl, &cg, &err) < 0);
    CHECK(strstr(err->msg, "controller 'pids' is not available") != NULL);
    ib_err_free(err);
}
