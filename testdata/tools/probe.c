/* testdata/tools/probe.c: a static program the sandbox tests run inside a step.
 *
 *   probe [report]       key=value lines: ids, caps, mounts, hostname, pids, cgroups, net
 *                        devices, /dev entries, cwd, env, and blocked syscalls
 *   probe alloc MIB      allocate and touch MIB MiB, then print "allocated=MIB"
 *   probe forks N        start N children that sleep; print how many forks succeeded
 *   probe spin N         N units of busy work; print "spin_ms=..." (wall time)
 *   probe write PATH S   write S to PATH
 *   probe daemon S       leave a detached process behind that sleeps S seconds, and exit
 *   probe agent          ask the SSH agent at $SSH_AUTH_SOCK for its identities
 *                        (SSH_AGENTC_REQUEST_IDENTITIES); print "agent.keys=N" and one
 *                        "agent.comment=..." per key; exit 1 when it cannot
 *
 * Built statically (no libc of the image needed) by the Makefile into build/testdata/tools/.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void
print_file_lines(const char *path, const char *prefix, const char *only)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s.error=%s\n", prefix, strerror(errno));
        return;
    }
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        if (only && strncmp(line, only, strlen(only)) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        printf("%s=%s\n", prefix, line);
    }
    fclose(f);
}

static void
report_caps(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Cap", 3) != 0 && strncmp(line, "NoNewPrivs", 10) != 0 &&
            strncmp(line, "Seccomp:", 8) != 0)
            continue;
        char *colon = strchr(line, ':');
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\n")] = '\0';
        printf("status.%s=%s\n", line, v);
    }
    if (f)
        fclose(f);
}

static void
report_mounts(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof(line), f)) {
        char mp[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1)
            printf("mount=%s\n", mp);
        n++;
    }
    if (f)
        fclose(f);
    printf("mounts=%d\n", n);
}

static void
report_dir(const char *dir, const char *key, int digits_only)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (digits_only && (de->d_name[0] < '0' || de->d_name[0] > '9'))
            continue;
        if (!digits_only)
            printf("%s=%s\n", key, de->d_name);
        n++;
    }
    if (d)
        closedir(d);
    printf("%s.count=%d\n", key, n);
}

static void
report_net(void)
{
    FILE *f = fopen("/proc/net/dev", "r");
    char line[512];
    int skip = 2;
    while (f && fgets(line, sizeof(line), f)) {
        if (skip-- > 0)
            continue;
        char name[64];
        if (sscanf(line, " %63[^:]:", name) == 1)
            printf("netdev=%s\n", name);
    }
    if (f)
        fclose(f);
    print_file_lines("/sys/class/net/lo/flags", "lo.flags", NULL);
}

static const char *
errname(int e)
{
    switch (e) {
    case 0:
        return "OK";
    case EPERM:
        return "EPERM";
    case ENOSYS:
        return "ENOSYS";
    case EINVAL:
        return "EINVAL";
    case EACCES:
        return "EACCES";
    default:
        return strerror(e);
    }
}

static void
report_syscalls(void)
{
    /* keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0): root may do it unless the
     * seccomp filter blocks it */
    long r = syscall(SYS_keyctl, 0, -3, 0);
    printf("syscall.keyctl=%s\n", errname(r < 0 ? errno : 0));
    r = syscall(SYS_unshare, CLONE_NEWUTS);
    printf("syscall.unshare=%s\n", errname(r < 0 ? errno : 0));
    r = mount("none", "/tmp", "tmpfs", 0, NULL);
    printf("syscall.mount=%s\n", errname(r < 0 ? errno : 0));
    r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
    printf("syscall.perf_event_open=%s\n", errname(r < 0 ? errno : 0));
    /* mknod of a device is allowed (CAP_MKNOD is in the default set) */
}

static int
report(void)
{
    printf("uid=%d\ngid=%d\neuid=%d\n", (int)getuid(), (int)getgid(), (int)geteuid());
    gid_t groups[256];
    int ng = getgroups(256, groups);
    for (int i = 0; i < ng; i++)
        printf("group=%d\n", (int)groups[i]);
    char host[256] = "";
    gethostname(host, sizeof(host));
    printf("hostname=%s\n", host);
    printf("pid=%d\nppid=%d\n", (int)getpid(), (int)getppid());
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)))
        printf("cwd=%s\n", cwd);
    report_caps();
    report_mounts();
    report_dir("/proc", "procs", 1);
    report_dir("/dev", "dev", 0);
    report_net();
    print_file_lines("/proc/self/cgroup", "cgroup", NULL);
    for (char **e = environ; *e; e++)
        printf("env=%s\n", *e);
    report_syscalls();
    fflush(stdout);
    return 0;
}

static int
alloc(long mib)
{
    for (long i = 0; i < mib; i++) {
        char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("alloc failed at %ld MiB: %s\n", i, strerror(errno));
            return 1;
        }
        memset(p, 1, 1 << 20);
    }
    printf("allocated=%ld\n", mib);
    return 0;
}

static int
forks(long n)
{
    long ok = 0, failed = 0;
    int first_err = 0;
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            sleep(30);
            _exit(0);
        }
        if (p < 0) {
            if (!first_err)
                first_err = errno;
            failed++;
        } else {
            ok++;
        }
    }
    printf("forked=%ld\nfork_failed=%ld\nfork_errno=%s\n", ok, failed, errname(first_err));
    fflush(stdout);
    return 0; /* the children are left behind on purpose */
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
spin(long units)
{
    double t0 = now_ms();
    volatile unsigned long x = 0;
    for (long u = 0; u < units; u++)
        for (long i = 0; i < 1000000; i++)
            x += (unsigned long)i ^ (x >> 3);
    printf("spin_ms=%.1f\n", now_ms() - t0);
    return 0;
}

static int
write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(s, f) < 0 || fclose(f) != 0) {
        printf("write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int
daemonize(long secs)
{
    pid_t p = fork();
    if (p < 0)
        return 1;
    if (p == 0) {
        setsid();
        if (fork() == 0) {
            int fd = open("/dev/null", O_RDWR);
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            sleep((unsigned)secs);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(p, NULL, 0);
    printf("daemon left behind\n");
    return 0;
}

static int
io_all(int fd, void *buf, size_t n, int writing)
{
    char *p = buf;
    while (n) {
        ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The SSH agent protocol (draft-miller-ssh-agent): a request is uint32 length + type byte;
 * the answer to REQUEST_IDENTITIES (11) is IDENTITIES_ANSWER (12): uint32 nkeys, then per
 * key a string (uint32 length + bytes) key blob and a string comment. */
static int
agent(void)
{
    const char *path = getenv("SSH_AUTH_SOCK");
    if (!path || !*path) {
        printf("agent.error=SSH_AUTH_SOCK is not set\n");
        return 1;
    }
    printf("agent.socket=%s\n", path);
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        printf("agent.error=connect: %s\n", strerror(errno));
        return 1;
    }
    unsigned char req[5] = {0, 0, 0, 1, 11};
    unsigned char hdr[4];
    if (io_all(fd, req, sizeof(req), 1) < 0 || io_all(fd, hdr, 4, 0) < 0) {
        printf("agent.error=no answer\n");
        return 1;
    }
    uint32_t len = be32(hdr);
    if (len < 5 || len > (1u << 20)) {
        printf("agent.error=bad answer length %u\n", (unsigned)len);
        return 1;
    }
    unsigned char *msg = malloc(len);
    if (!msg || io_all(fd, msg, len, 0) < 0 || msg[0] != 12) {
        printf("agent.error=not an identities answer\n");
        return 1;
    }
    close(fd);
    uint32_t nkeys = be32(msg + 1);
    printf("agent.keys=%u\n", (unsigned)nkeys);
    size_t off = 5;
    for (uint32_t i = 0; i < nkeys; i++) {
        for (int field = 0; field < 2; field++) {
            if (off + 4 > len || be32(msg + off) > len - off - 4) {
                printf("agent.error=truncated answer\n");
                return 1;
            }
            uint32_t n = be32(msg + off);
            if (field == 1)
                printf("agent.comment=%.*s\n", (int)n, (const char *)msg + off + 4);
            off += 4 + n;
        }
    }
    free(msg);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "report") == 0)
        return report();
    if (strcmp(argv[1], "alloc") == 0 && argc > 2)
        return alloc(atol(argv[2]));
    if (strcmp(argv[1], "forks") == 0 && argc > 2)
        return forks(atol(argv[2]));
    if (strcmp(argv[1], "spin") == 0 && argc > 2)
        return spin(atol(argv[2]));
    if (strcmp(argv[1], "write") == 0 && argc > 3)
        return write_file(argv[2], argv[3]);
    if (strcmp(argv[1], "daemon") == 0 && argc > 2)
        return daemonize(atol(argv[2]));
    if (strcmp(argv[1], "agent") == 0)
        return agent();
    fprintf(stderr, "probe: unknown mode '%s'\n", argv[1]);
    return 2;
}
