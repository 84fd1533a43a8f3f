/* builder/child.c: the sandbox child, from clone() to execve().
 *
 * The sequence follows crun and bubblewrap: make every mount private, mount
 * the overlay on an empty dir outside the upper dir, pivot_root into it and
 * detach the old root, then build /dev, /proc (masked and read-only paths) and
 * a read-only /sys, bind the per-step /etc files, resolve the user in the
 * image's own files and create the workdir -- meanwhile the parent puts us in
 * the step's cgroup; we wait for its word only then, unshare the cgroup
 * namespace (so the cgroup is our root) and fork: the command (caps cut,
 * no_new_privs, seccomp) and this process as PID 1, reaping zombies and
 * forwarding signals until the command exits; then it kills and reaps what is
 * left and reports the command's status, so the parent knows the upper dir is
 * complete before this process's exit has unmounted everything.
 * An insecure step (RUN --security=insecure) keeps every capability, gets no
 * seccomp filter or no_new_privs, a writable /sys, an unmasked /proc and
 * BuildKit's extra devices, and stays in its namespaces and cgroup.
 *
 * Nothing here allocates (see sandbox.h); errors go to the parent as one
 * struct child_msg and the process exits 127.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "builder/child.h"
#include "common/banned.h"

/* Per sandbox: the child runs on the TLS of the thread that cloned it (CLONE_VM), which
 * sleeps until the child is gone, so parallel sandboxes do not share these. */
static __thread struct child_plan *plan;

void
child_send(const struct child_msg *m)
{
    ssize_t r;
    do
        r = write(plan->msg_wr, m, sizeof(*m));
    while (r < 0 && errno == EINTR);
}

__attribute__((format(printf, 1, 2))) _Noreturn static void
die(const char *fmt, ...)
{
    struct child_msg m;
    memset(&m, 0, sizeof(m));
    m.type = CHILD_MSG_ERROR;
    m.err = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m.text, sizeof(m.text), fmt, ap);
    va_end(ap);
    child_send(&m);
    _exit(127);
}

/* ---- mount points: create what is missing and tell the parent ----------- */

static void
send_stub(const char *path, bool is_dir)
{
    struct child_msg m;
    memset(&m, 0, sizeof(m));
    m.type = CHILD_MSG_STUB;
    m.is_dir = is_dir;
    snprintf(m.text, sizeof(m.text), "%s", path + 1); /* relative to the root */
    child_send(&m);
}

/* 1: path is there (of the right kind), 0: created as a stub, -1: unusable (skip it). */
static int
ensure(const char *path, bool is_dir)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (is_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode))
            return 1;
        if (is_dir)
            die("'%s' in the image is not a directory", path);
        return -1; /* a symlink or other file: leave the image's /etc file alone */
    }
    if (errno != ENOENT)
        die("stat '%s'", path);
    if (is_dir ? mkdir(path, 0755) : mknod(path, S_IFREG | 0644, 0))
        die("create mount point '%s'", path);
    send_stub(path, is_dir);
    return 0;
}

/* Detached bind mounts of the per-step /etc files, taken before the old root goes away. */
static __thread int etc_trees[3];

static void
clone_etc_files(void)
{
    for (int i = 0; i < 3; i++) {
        etc_trees[i] = open_tree(AT_FDCWD, plan->etc_paths[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (etc_trees[i] < 0)
            die("open_tree '%s'", plan->etc_paths[i]);
    }
}

void
child_stat_times(const struct stat *st, int64_t mtime[2], int64_t atime[2])
{
    mtime[0] = st->st_mtim.tv_sec;
    mtime[1] = st->st_mtim.tv_nsec;
    if (atime) {
        atime[0] = st->st_atim.tv_sec;
        atime[1] = st->st_atim.tv_nsec;
    }
}

/* Bind the per-step /etc files; stubs for missing ones; report /etc's times around them. */
static void
bind_etc_files(void)
{
    static const char *const names[3] = {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"};
    struct child_msg parent;
    memset(&parent, 0, sizeof(parent));
    struct stat st;
    if (lstat("/etc", &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return; /* /etc is a symlink: leave it alone */
        parent.type = CHILD_MSG_PARENT;
        parent.mode = st.st_mode;
        parent.uid = st.st_uid;
        parent.gid = st.st_gid;
        child_stat_times(&st, parent.mtime_before, parent.atime_before);
        struct stat ust;
        parent.in_upper_before = fstatat(plan->upper_fd, "etc", &ust, AT_SYMLINK_NOFOLLOW) == 0;
        snprintf(parent.text, sizeof(parent.text), "etc");
    } else {
        ensure("/etc", true);
    }
    bool created = false;
    for (int i = 0; i < 3; i++) {
        int r = ensure(names[i], false);
        if (r < 0)
            continue;
        created |= r == 0;
        if (move_mount(etc_trees[i], "", AT_FDCWD, names[i], MOVE_MOUNT_F_EMPTY_PATH) < 0)
            die("bind-mount '%s'", names[i]);
        close(etc_trees[i]);
    }
    if (created && parent.type && lstat("/etc", &st) == 0) {
        child_stat_times(&st, parent.mtime_after, NULL);
        child_send(&parent);
    }
}

/* ---- /dev, /proc, /sys ---------------------------------------------------- */

static void
mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags,
             const char *data)
{
    if (mount(src, dst, type, flags, data) < 0)
        die("mount %s on '%s'", type ? type : src ? src : "(remount)", dst);
}

static void
setup_dev(void)
{
    static const struct {
        const char *name;
        unsigned maj, min;
    } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    static const char *const links[][2] = {{"/proc/self/fd", "/dev/fd"},
                                           {"/proc/self/fd/0", "/dev/stdin"},
                                           {"/proc/self/fd/1", "/dev/stdout"},
                                           {"/proc/self/fd/2", "/dev/stderr"},
                                           {"pts/ptmx", "/dev/ptmx"}};
    ensure("/dev", true);
    mount_or_die("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    char path[64];
    for (size_t i = 0; i < sizeof(nodes) / sizeof(*nodes); i++) {
        snprintf(path, sizeof(path), "/dev/%s", nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0)
            die("mknod '%s'", path);
    }
    for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++)
        if (symlink(links[i][0], links[i][1]) < 0)
            die("symlink '%s'", links[i][1]);
    if (mkdir("/dev/pts", 0755) < 0 || mkdir("/dev/shm", 01777) < 0 || mkdir("/dev/mqueue", 0755))
        die("mkdir in /dev");
    mount_or_die("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620");
    char shm_opts[64];
    snprintf(shm_opts, sizeof(shm_opts), "mode=1777,size=%lldk",
             plan->cfg->shm_size > 0 ? (long long)((plan->cfg->shm_size + 1023) / 1024) : 65536LL);
    mount_or_die("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, shm_opts);
    mount_or_die("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* The first free loop device of the host (read before pivot_root), as BuildKit asks it. */
static int free_loop = -1;

static void
find_free_loop(void)
{
    int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    free_loop = ioctl(fd, LOOP_CTL_GET_FREE);
    close(fd);
}

/* Insecure steps: the devices BuildKit adds (best effort: a node whose driver is missing
 * just fails to open). */
static void
insecure_devices(void)
{
    static const struct {
        const char *path;
        unsigned maj, min;
    } nodes[] = {{"/dev/kmsg", 1, 11},  {"/dev/cuse", 10, 203},    {"/dev/fuse", 10, 229},
                 {"/dev/kvm", 10, 232}, {"/dev/net/tun", 10, 200}, {"/dev/loop-control", 10, 237}};
    mkdir("/dev/net", 0755);
    for (size_t i = 0; i < sizeof(nodes) / sizeof(*nodes); i++)
        mknod(nodes[i].path, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min));
    int last = (free_loop > 0 ? free_loop : 0) + 7;
    for (int i = 0; i <= last && i < 256; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/dev/loop%d", i);
        mknod(path, S_IFBLK | 0660, makedev(7, (unsigned)i));
    }
}

static void
mask_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return; /* not on this kernel */
    if (S_ISDIR(st.st_mode))
        mount_or_die("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     "size=0");
    else
        mount_or_die("/dev/null", path, NULL, MS_BIND, NULL);
}

static void
readonly_path(const char *path)
{
    if (access(path, F_OK) < 0)
        return;
    mount_or_die(path, path, NULL, MS_BIND | MS_REC, NULL);
    mount_or_die(NULL, path, NULL,
                 MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void
setup_proc_sys(void)
{
    static const char *const masked[] = {"/proc/acpi",        "/proc/kcore",
                                         "/proc/keys",        "/proc/latency_stats",
                                         "/proc/timer_list",  "/proc/timer_stats",
                                         "/proc/sched_debug", "/proc/scsi",
                                         "/sys/firmware",     "/sys/devices/virtual/powercap"};
    static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                           "/proc/sysrq-trigger"};
    bool insecure = plan->cfg->insecure;
    ensure("/proc", true);
    mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    ensure("/sys", true);
    mount_or_die("sysfs", "/sys", "sysfs",
                 (insecure ? 0 : MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    if (insecure)
        return;
    for (size_t i = 0; i < sizeof(masked) / sizeof(*masked); i++)
        mask_path(masked[i]);
    for (size_t i = 0; i < sizeof(readonly) / sizeof(*readonly); i++)
        readonly_path(readonly[i]);
}

/* ---- namespaces and root ------------------------------------------------- */

static void
loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket for loopback");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        die("get flags of 'lo'");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        die("bring 'lo' up");
    close(s);
}

static void
enter_root(void)
{
    char msg[400];
    if (overlay_mount_child(&plan->ov, plan->root, msg, sizeof(msg)) < 0)
        die("%s", msg);
    clone_etc_files();
    if (child_mounts_prepare(plan, msg, sizeof(msg)) < 0)
        die("%s", msg);
    if (plan->cfg->insecure)
        find_free_loop();
    if (chdir(plan->root) < 0)
        die("chdir '%s'", plan->root);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die("pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        die("detach the old root");
    if (chdir("/") < 0)
        die("chdir /");
}

/* ---- user and workdir ---------------------------------------------------- */

static size_t
slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        die("open '%s'", path);
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read '%s'", path);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            errno = EFBIG;
            die("'%s' in the image is too large", path);
        }
    }
    close(fd);
    return n;
}

static void
resolve_user(struct sandbox_user *u)
{
    size_t np = slurp("/etc/passwd", plan->passwd, plan->bufsz);
    size_t ng = slurp("/etc/group", plan->group, plan->bufsz);
    char msg[300];
    if (sandbox_user_resolve(plan->cfg->user, np ? plan->passwd : NULL, np, ng ? plan->group : NULL,
                             ng, u, msg, sizeof(msg)) < 0)
        die("%s", msg);
}

/* mkdir -p; new components belong to the user.  Then chdir. */
static void
make_workdir(const char *dir, const struct sandbox_user *u)
{
    char p[4096];
    if (snprintf(p, sizeof(p), "%s%s", dir[0] == '/' ? "" : "/", dir) >= (int)sizeof(p)) {
        errno = ENAMETOOLONG;
        die("workdir '%s'", dir);
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s)
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) == 0) {
            if (chown(p, u->uid, u->gid) < 0)
                die("chown workdir '%s'", p);
        } else if (errno != EEXIST) {
            die("create workdir '%s'", p);
        }
        *s = c;
        if (!c)
            break;
    }
    if (chdir(p) < 0)
        die("chdir to workdir '%s'", p);
}

/* ---- the command --------------------------------------------------------- */

static void
setup_stdio(void)
{
    int tmp[3];
    for (int i = 0; i < 3; i++) {
        int src = plan->cfg->stdio[i];
        if (src < 0) {
            tmp[i] = open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
            if (tmp[i] < 0)
                die("open /dev/null");
        } else if ((tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, 10)) < 0) {
            die("stdio fd %d", src);
        }
    }
    for (int i = 0; i < 3; i++)
        if (dup2(tmp[i], i) < 0)
            die("dup2 stdio");
    for (int i = 0; i < 3; i++)
        close(tmp[i]);
}

static void
drop_privileges(const struct sandbox_user *u)
{
    for (size_t i = 0; i < plan->cfg->nrlimits; i++) {
        const struct sandbox_rlimit *r = &plan->cfg->rlimits[i];
        struct rlimit rl = {(rlim_t)r->soft, (rlim_t)r->hard};
        if (setrlimit(r->resource, &rl) < 0)
            die("set ulimit %d to %llu:%llu", r->resource, (unsigned long long)r->soft,
                (unsigned long long)r->hard);
    }
    bool insecure = plan->cfg->insecure;
    uint64_t caps = plan->caps;
    if (insecure) { /* every capability imgbuild has (all the kernel knows, as plain root) */
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) < 0)
            die("capget");
        caps = (uint64_t)d[1].permitted << 32 | d[0].permitted;
    }
    for (int c = 0; c <= plan->last_cap; c++)
        if (!(caps & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            die("drop capability %d from the bounding set", c);
    /* raw system calls: glibc's wrappers broadcast the change to every thread it knows
     * of, and in a child of a multi-threaded parent those threads do not exist (the
     * wrapper would wait for them forever) */
    if (syscall(SYS_setgroups, u->ngroups, u->groups) < 0)
        die("setgroups");
    if (syscall(SYS_setresgid, u->gid, u->gid, u->gid) < 0)
        die("setgid %u", (unsigned)u->gid);
    if (syscall(SYS_setresuid, u->uid, u->uid, u->uid) < 0)
        die("setuid %u", (unsigned)u->uid);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (u->uid == 0) {
        for (int i = 0; i < 2; i++) {
            uint32_t bits = (uint32_t)(caps >> (32 * i));
            data[i].effective = data[i].permitted = data[i].inheritable = bits;
        }
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        die("capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        die("clear ambient capabilities");
    if (insecure)
        return;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die("set no_new_privs");
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, plan->seccomp) < 0)
        die("install the seccomp filter");
}

_Noreturn static void
exec_command(void)
{
    const char *cmd = plan->argv[0];
    if (strchr(cmd, '/')) {
        execve(cmd, plan->argv, plan->env);
        die("exec '%s'", cmd);
    }
    int saved = ENOENT;
    for (const char *p = plan->path; p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char full[4096];
        if (snprintf(full, sizeof(full), "%.*s%s%s", (int)n, n ? p : ".", "/", cmd) <
            (int)sizeof(full)) {
            execve(full, plan->argv, plan->env);
            if (errno == EACCES)
                saved = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR)
                die("exec '%s'", full);
        }
        p = colon ? colon + 1 : NULL;
    }
    errno = saved;
    die("exec '%s': executable file not found in $PATH", cmd);
}

static __thread volatile pid_t main_pid;

static void
forward(int sig)
{
    if (main_pid > 0)
        kill(main_pid, sig);
}

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

struct command_arg {
    const struct sandbox_user *u;
    sigset_t mask;
};

/* The command's process: it shares the init's memory until execve (CLONE_VM|CLONE_VFORK, so
 * no page tables are copied) and only changes per-task state: signals, fds, credentials. */
static int
command_main(void *arg)
{
    const struct command_arg *a = arg;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigprocmask(SIG_SETMASK, &a->mask, NULL);
    setsid();
    setup_stdio();
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        die("close_range");
    umask(022);
    drop_privileges(a->u);
    exec_command();
}

_Noreturn static void
run_command(const struct sandbox_user *u)
{
    sigset_t all;
    struct command_arg a = {u, {{0}}};
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &a.mask);
#if defined(__SANITIZE_ADDRESS__)
    /* ASan cannot follow the switch to our own stack: copy the memory instead */
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        _exit(command_main(&a));
#else
    pid_t pid =
        clone(command_main, plan->stack + plan->stacksz, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
#endif
    if (pid < 0)
        die("start the command");
    sigset_t old = a.mask;
    /* PID 1: forward signals, reap everything, report the command's status.  It keeps
     * no other fd: the parent's end of the output pipe sees EOF when the command's
     * processes are gone, not when this process's exit has finished the teardown. */
    main_pid = pid;
    int keep = plan->status_wr;
    if (keep > 0)
        close_range(0, (unsigned)keep - 1, 0);
    close_range((unsigned)keep + 1, ~0U, 0);
    struct sigaction fw;
    memset(&fw, 0, sizeof(fw));
    fw.sa_handler = forward;
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++)
        sigaction(forwarded[i], &fw, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    int status = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        if (w == pid) {
            status = st;
            break;
        }
    }
    /* what the command left behind goes now, as it would with our exit, but before the
     * report: once the parent has it, nothing can write to the upper dir any more */
    main_pid = 0;
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
        ;
    ssize_t r = write(plan->status_wr, &status, sizeof(status));
    (void)r;
    _exit(0);
}

_Noreturn void
sandbox_child_main(struct child_plan *p)
{
    plan = p;
    /* the cloning thread blocks every signal; the step starts with none blocked */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct child_msg started;
    memset(&started, 0, sizeof(started));
    started.type = CHILD_MSG_STARTED;
    child_send(&started);
    for (int i = 0; i < 3; i++)
        close(p->close_fds[i]);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die("make mounts private");
    if (sethostname(p->hostname, strlen(p->hostname)) < 0)
        die("sethostname");
    if (p->cfg->net == SANDBOX_NET_NONE)
        loopback_up();
    umask(0);
    enter_root();
    setup_dev();
    if (p->cfg->insecure)
        insecure_devices();
    setup_proc_sys();
    bind_etc_files();
    char msg[400];
    if (child_mounts_attach(p, msg, sizeof(msg)) < 0)
        die("%s", msg);
    umask(022);
    struct sandbox_user u;
    resolve_user(&u);
    if (p->need_home) {
        snprintf(p->home_env, sizeof(p->home_env), "HOME=%s", u.home);
        p->env[p->envn] = p->home_env;
        p->env[p->envn + 1] = NULL;
    }
    make_workdir(p->cfg->workdir ? p->cfg->workdir : "/", &u);
    char c;
    ssize_t r;
    do
        r = read(p->sync_rd, &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        _exit(127); /* the parent gave up */
    close(p->sync_rd);
    if (unshare(CLONE_NEWCGROUP) < 0)
        die("unshare the cgroup namespace");
    run_command(&u);
}
