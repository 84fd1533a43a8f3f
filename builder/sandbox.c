/* builder/sandbox.c: run one RUN step in a sandbox (the parent's side).
 *
 * sandbox_run: prepare everything the child needs (so it never allocates),
 * take the step's cgroup (made ahead, or now), clone the child into new
 * namespaces (see "the spawner" below), put it in the cgroup while the child
 * sets up its mounts, let it go, collect its setup records or error, wait for
 * the init's report (or its exit), read the cgroup's stats, remove the cgroup
 * and make the upper dir hold exactly the step's change (no mount-point stubs
 * left).  With async_teardown the init's exit and the removals are left to the
 * spawner thread (the "teardown").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include "builder/builder.h"
#include "builder/child.h"
#include "builder/sandbox.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define USER_FILE_MAX (1 << 20)

/* Docker's default capability set. */
static const int default_caps[] = {
    CAP_CHOWN,      CAP_DAC_OVERRIDE, CAP_FOWNER,      CAP_FSETID,           CAP_KILL,
    CAP_SETGID,     CAP_SETUID,       CAP_SETPCAP,     CAP_NET_BIND_SERVICE, CAP_NET_RAW,
    CAP_SYS_CHROOT, CAP_MKNOD,        CAP_AUDIT_WRITE, CAP_SETFCAP,
};

void
sandbox_cfg_init(struct sandbox_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < 3; i++)
        cfg->stdio[i] = i;
}

bool
sandbox_result_ok(const struct sandbox_result *res)
{
    return res->exit_code == 0 && res->signal == 0 && !res->oom_killed;
}

static void
describe_bytes(struct ib_buf *b, int64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    double d = (double)v;
    while (d >= 1024 && u < 4) {
        d /= 1024;
        u++;
    }
    if (d == (double)(int64_t)d)
        ib_buf_addf(b, "%" PRId64 " %s", (int64_t)d, units[u]);
    else
        ib_buf_addf(b, "%.1f %s", d, units[u]);
}

void
sandbox_result_describe(const struct sandbox_result *res, struct ib_buf *out)
{
    if (res->oom_killed) {
        ib_buf_adds(out, "killed: out of memory");
        if (res->memory_limit > 0) {
            ib_buf_adds(out, ", limit ");
            describe_bytes(out, res->memory_limit);
        }
    } else if (res->signal) {
        ib_buf_addf(out, "killed by signal %d (%s)", res->signal, strsignal(res->signal));
    } else {
        ib_buf_addf(out, "exit status %d", res->exit_code);
    }
}

int
sandbox_parse_bytes(const char *s, int64_t *out, struct ib_err **err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return ib_fail(err, IB_E_USAGE, "invalid size '%s'", s);
    double mul = 1;
    switch (*end | 0x20) {
    case 'k':
        mul = 1024.0;
        end++;
        break;
    case 'm':
        mul = 1024.0 * 1024;
        end++;
        break;
    case 'g':
        mul = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 't':
        mul = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    case 'b':
        end++;
        break;
    default:
        break;
    }
    if ((*end | 0x20) == 'b' && mul > 1)
        end++;
    if (*end || v * mul > 9.2e18)
        return ib_fail(err, IB_E_USAGE, "invalid size '%s'", s);
    *out = (int64_t)(v * mul);
    return 0;
}

int
sandbox_parse_ulimit(const char *s, struct sandbox_rlimit *out, struct ib_err **err)
{
    static const struct {
        const char *name;
        int res;
    } names[] = {
        {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
        {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
        {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
        {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
        {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
        {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
        {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
        {"stack", RLIMIT_STACK},       {"as", RLIMIT_AS},
    };
    const char *eq = strchr(s, '=');
    if (!eq)
        return ib_fail(err, IB_E_USAGE, "invalid ulimit '%s' (want NAME=SOFT[:HARD])", s);
    size_t n = (size_t)(eq - s);
    out->resource = -1;
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
        if (strlen(names[i].name) == n && strncmp(s, names[i].name, n) == 0)
            out->resource = names[i].res;
    if (out->resource < 0)
        return ib_fail(err, IB_E_USAGE, "unknown ulimit '%.*s'", (int)n, s);
    uint64_t v[2];
    const char *p = eq + 1;
    for (int i = 0; i < 2; i++) {
        char *end;
        if (strncmp(p, "unlimited", 9) == 0 || strncmp(p, "-1", 2) == 0) {
            v[i] = RLIM_INFINITY;
            end = (char *)p + (p[0] == '-' ? 2 : 9);
        } else {
            errno = 0;
            v[i] = strtoull(p, &end, 10);
            if (errno || end == p || *p == '-')
                return ib_fail(err, IB_E_USAGE, "invalid ulimit value in '%s'", s);
        }
        if (i == 0 && *end == ':') {
            p = end + 1;
            continue;
        }
        if (*end)
            return ib_fail(err, IB_E_USAGE, "invalid ulimit value in '%s'", s);
        if (i == 0)
            v[1] = v[0];
        break;
    }
    if (v[0] > v[1])
        return ib_fail(err, IB_E_USAGE, "ulimit '%s': soft limit above hard limit", s);
    out->soft = v[0];
    out->hard = v[1];
    return 0;
}

/* ---- the child's records --------------------------------------------------- */

int
sandbox_read_child_msg(int fd, struct child_msg *m, struct ib_err **err)
{
    size_t got = 0;
    while (got < sizeof(*m)) {
        ssize_t r = read(fd, (char *)m + got, sizeof(*m) - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ib_fail_errno(err, "read from the sandbox child");
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got == 0)
        return 1;
    if (got != sizeof(*m))
        return ib_fail(err, IB_E_SANDBOX, "sandbox child: truncated message");
    m->text[sizeof(m->text) - 1] = '\0';
    return 0;
}

int
sandbox_child_msg_error(const struct child_msg *m, struct ib_err **err)
{
    if (m->type != CHILD_MSG_ERROR)
        return ib_fail(err, IB_E_SANDBOX, "sandbox child: unexpected message %u", m->type);
    if (m->err)
        return ib_fail(err, IB_E_SANDBOX, "sandbox: %s: %s", m->text, strerror(m->err));
    return ib_fail(err, IB_E_SANDBOX, "sandbox: %s", m->text);
}

int
sandbox_read_child_err(int fd, struct child_msg **stubs, size_t *nstubs, struct ib_err **err)
{
    size_t cap = 0;
    for (;;) {
        struct child_msg m;
        int rc = sandbox_read_child_msg(fd, &m, err);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        if (m.type == CHILD_MSG_ERROR)
            return sandbox_child_msg_error(&m, err);
        if (m.type == CHILD_MSG_STARTED)
            continue;
        if (stubs) {
            IB_GROW(*stubs, *nstubs + 1, cap);
            (*stubs)[(*nstubs)++] = m;
        }
    }
}

static size_t
depth(const char *p)
{
    size_t n = 0;
    for (; *p; p++)
        n += *p == '/';
    return n;
}

/* Remove the mount-point stubs the child created in the upper dir, and put the times of
 * the dirs that got them back (deepest first, each after its stubs are gone), removing
 * those that are pure copy-ups, so the upper dir holds only the step's own change. */
static void
remove_stubs(int upper_fd, const struct child_msg *m, size_t n)
{
    if (n == 0)
        return;
    AUTO_FREE bool *untouched = ib_xcalloc(n, sizeof(bool));
    AUTO_FREE size_t *order = ib_xcalloc(n, sizeof(size_t));
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (m[i].type != CHILD_MSG_PARENT)
            continue;
        if (!m[i].in_upper_before && fstatat(upper_fd, m[i].text, &st, AT_SYMLINK_NOFOLLOW) == 0)
            untouched[i] = st.st_mtim.tv_sec == m[i].mtime_after[0] &&
                           st.st_mtim.tv_nsec == m[i].mtime_after[1];
        /* insertion sort by depth, deepest first */
        size_t j = np++;
        while (j > 0 && depth(m[order[j - 1]].text) < depth(m[i].text)) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = n; i-- > 0;) {
        if (m[i].type != CHILD_MSG_STUB)
            continue;
        struct stat st;
        if (fstatat(upper_fd, m[i].text, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (m[i].is_dir && S_ISDIR(st.st_mode))
            unlinkat(upper_fd, m[i].text, AT_REMOVEDIR); /* fails if the step filled it */
        else if (!m[i].is_dir && S_ISREG(st.st_mode) && st.st_size == 0)
            unlinkat(upper_fd, m[i].text, 0);
    }
    for (size_t k = 0; k < np; k++) {
        size_t i = order[k];
        if (!untouched[i])
            continue;
        struct timespec ts[2] = {{m[i].atime_before[0], m[i].atime_before[1]},
                                 {m[i].mtime_before[0], m[i].mtime_before[1]}};
        utimensat(upper_fd, m[i].text, ts, AT_SYMLINK_NOFOLLOW);
        struct stat st;
        if (fstatat(upper_fd, m[i].text, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            st.st_mode == m[i].mode && st.st_uid == m[i].uid && st.st_gid == m[i].gid)
            unlinkat(upper_fd, m[i].text, AT_REMOVEDIR); /* only if empty: a pure copy-up */
    }
}

/* ---- preparing the child's plan ------------------------------------------- */

static int
last_cap(void)
{
    static int cached = -1;
    if (cached < 0) {
        AUTO_BUF struct ib_buf b = IB_BUF_INIT;
        AUTO_ERR struct ib_err *e = NULL;
        cached =
            ib_read_file("/proc/sys/kernel/cap_last_cap", &b, &e) == 0 ? atoi(b.s) : CAP_LAST_CAP;
        if (cached <= 0 || cached > 63)
            cached = CAP_LAST_CAP;
    }
    return cached;
}

static int
write_scratch(int dirfd, const char *name, const char *data, struct ib_err **err)
{
    AUTO_FD int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ib_fail_errno(err, "create '%s'", name);
    return ib_write_all(fd, data, strlen(data), name, err);
}

/* The per-step /etc files and the root mount point in dir. */
static int
make_scratch(const char *dir, const char *hostname, const char *extra_hosts, char *paths[3],
             struct ib_err **err)
{
    AUTO_FD int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return ib_fail_errno(err, "open scratch dir '%s'", dir);
    AUTO_FREE char *hosts = ib_xasprintf("127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost "
                                         "ip6-loopback\n%s",
                                         hostname, extra_hosts ? extra_hosts : "");
    AUTO_BUF struct ib_buf resolv = IB_BUF_INIT;
    AUTO_ERR struct ib_err *ignore = NULL;
    ib_buf_set_limit(&resolv, 65536);
    if (ib_read_file("/etc/resolv.conf", &resolv, &ignore) < 0)
        ib_buf_reset(&resolv);
    AUTO_FREE char *hn = ib_xasprintf("%s\n", hostname);
    static const char *const names[3] = {"hosts", "resolv.conf", "hostname"};
    const char *data[3] = {hosts, resolv.s, hn};
    if (mkdirat(d, "root", 0755) < 0 && errno != EEXIST)
        return ib_fail_errno(err, "create '%s/root'", dir);
    for (int i = 0; i < 3; i++) {
        if (write_scratch(d, names[i], data[i], err) < 0)
            return -1;
        paths[i] = ib_path_join(dir, names[i]);
    }
    return 0;
}

static void
clean_scratch(const char *dir, bool remove_dir)
{
    AUTO_ERR struct ib_err *ignore = NULL;
    if (remove_dir) {
        ib_rm_rf_at(AT_FDCWD, dir, &ignore);
        return;
    }
    AUTO_FD int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return;
    unlinkat(d, "hosts", 0);
    unlinkat(d, "resolv.conf", 0);
    unlinkat(d, "hostname", 0);
    unlinkat(d, "root", AT_REMOVEDIR);
}

/* argv and env as the child's arrays; env gets PATH if missing and room for HOME. */
static void
build_arrays(const struct sandbox_cfg *cfg, struct child_plan *p, struct ib_strv *argv,
             struct ib_strv *env)
{
    for (size_t i = 0; cfg->argv[i]; i++)
        ib_strv_push(argv, cfg->argv[i]);
    bool have_path = false, have_home = false;
    p->path = DEFAULT_PATH;
    for (size_t i = 0; cfg->env && cfg->env[i]; i++) {
        ib_strv_push(env, cfg->env[i]);
        if (strncmp(cfg->env[i], "PATH=", 5) == 0) {
            have_path = true;
            p->path = env->v[env->n - 1] + 5;
        }
        have_home |= strncmp(cfg->env[i], "HOME=", 5) == 0;
    }
    if (!have_path)
        ib_strv_push(env, "PATH=" DEFAULT_PATH);
    p->envn = env->n;
    p->need_home = !have_home;
    ib_strv_push(env, ""); /* grow so that a HOME entry and the NULL after it fit */
    free(env->v[--env->n]);
    env->v[env->n] = NULL;
    p->argv = argv->v;
    p->env = env->v;
}

static uint64_t
now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static pid_t
wait_child(pid_t pid, int *status)
{
    pid_t w;
    do
        w = waitpid(pid, status, __WALL);
    while (w < 0 && errno == EINTR);
    return w;
}

IB_DEFINE_AUTO(struct cgroup, cgroup_free)

/* ---- the spawner: one thread per step clones the init and outlives it ---------------
 *
 * The init is cloned with CLONE_VM|CLONE_VFORK, on a stack of its own, from a thread of
 * its own: sharing the address space, nothing is copied and neither side takes
 * copy-on-write faults afterwards (a fork of this large, multi-threaded process cost more
 * than the rest of a step's setup: ~110 page faults per step, each ~40 us on this kind of
 * VM).  CLONE_VFORK keeps that thread -- whose TLS the child uses for errno and for
 * child.c's per-sandbox state -- asleep until the init has exited.  The thread then reaps
 * the init and, when sandbox_run left it the teardown, removes the cgroup, the work and
 * scratch dirs and makes a spare cgroup for the next step.
 */

struct teardown {
    struct cgroup *cg; /* removed once the init is gone */
    char *work;        /* the overlay's work dir: removed once it is unmounted */
    char *scratch;     /* the scratch dir: removed (own) or emptied */
    bool own_scratch;
    char *cg_parent; /* then make a spare cgroup like this step's */
    struct sandbox_limits limits;
};

enum spawn_decision { SPAWN_UNDECIDED, SPAWN_RETURN, SPAWN_TEARDOWN };

struct spawn {
    struct child_plan *plan;
    unsigned long flags;
    char *stack; /* the init's (CLONE_VM) */
    size_t stacksz;
    _Atomic pid_t tid; /* CLONE_PARENT_SETTID: the init's pid, before it runs */
    /* this process's copies of the child's ends of the pipes (sync_rd, msg_wr, status_wr):
     * closed by whoever is first, sandbox_run once the child runs, or this thread once it
     * is gone -- so a child that dies early cannot leave sandbox_run reading forever */
    _Atomic int cfds[3];
    /* under td_lock: */
    bool waited; /* the init is reaped (or clone failed) */
    int wstatus;
    pid_t pid;
    bool counted; /* in td_inits */
    enum spawn_decision decision;
    struct teardown td;
};

static pthread_mutex_t td_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t td_cond = PTHREAD_COND_INITIALIZER;
static unsigned td_pending; /* teardowns left to spawner threads, not done yet */
static unsigned td_inits;   /* of those, the ones whose init has not exited yet */

/* A fresh cgroup made ahead for the next step (by a spawner, after a teardown). */
static struct {
    struct cgroup *cg;
    char *parent;
    struct sandbox_limits limits;
} spare;

static void clean_scratch(const char *dir, bool remove_dir);
static int new_cgroup(const char *parent, const struct sandbox_limits *lim, struct cgroup **out,
                      struct ib_err **err);

static void
make_spare(const char *parent, const struct sandbox_limits *lim)
{
    pthread_mutex_lock(&td_lock);
    bool have = spare.cg != NULL;
    pthread_mutex_unlock(&td_lock);
    struct cgroup *cg = NULL;
    AUTO_ERR struct ib_err *ignore = NULL;
    if (have || new_cgroup(parent, lim, &cg, &ignore) < 0)
        return;
    pthread_mutex_lock(&td_lock);
    if (!spare.cg) {
        spare.cg = cg;
        spare.parent = ib_xstrdup(parent);
        spare.limits = *lim;
        cg = NULL;
    }
    pthread_mutex_unlock(&td_lock);
    if (cg) {
        cgroup_remove(cg, &ignore);
        cgroup_free(cg);
    }
}

/* The spare when it was made for parent and lim, else NULL; the spare is gone either way
 * when all is true. */
static struct cgroup *
take_spare(const char *parent, const struct sandbox_limits *lim, bool all)
{
    struct cgroup *cg = NULL, *drop = NULL;
    pthread_mutex_lock(&td_lock);
    if (spare.cg && strcmp(spare.parent, parent) == 0 &&
        memcmp(&spare.limits, lim, sizeof(*lim)) == 0)
        cg = spare.cg;
    else if (all)
        drop = spare.cg;
    if (cg || drop) {
        spare.cg = NULL;
        free(spare.parent);
        spare.parent = NULL;
    }
    pthread_mutex_unlock(&td_lock);
    if (drop) {
        AUTO_ERR struct ib_err *ignore = NULL;
        cgroup_remove(drop, &ignore);
        cgroup_free(drop);
    }
    return cg;
}

static void
teardown_run(struct teardown *t)
{
    AUTO_ERR struct ib_err *ignore = NULL;
    cgroup_remove(t->cg, &ignore);
    cgroup_free(t->cg);
    if (t->work)
        ib_rm_rf_at(AT_FDCWD, t->work, NULL);
    if (t->scratch)
        clean_scratch(t->scratch, t->own_scratch);
    make_spare(t->cg_parent, &t->limits);
    free(t->work);
    free(t->scratch);
    free(t->cg_parent);
}

/* Close this process's copy of a child-side fd once (two threads may race to it). */
static void
close_once(_Atomic int *fd)
{
    int f = atomic_exchange(fd, -1);
    if (f >= 0)
        close(f);
}

#if !defined(__SANITIZE_ADDRESS__)
static int
init_main(void *arg)
{
    struct spawn *sp = arg;
    sandbox_child_main(sp->plan);
}
#endif

static void
send_clone_error(int fd, int e)
{
    struct child_msg m;
    memset(&m, 0, sizeof(m));
    m.type = CHILD_MSG_ERROR;
    m.err = e;
    snprintf(m.text, sizeof(m.text), "clone");
    ssize_t r = write(fd, &m, sizeof(m));
    (void)r;
}

static void *
spawner(void *arg)
{
    struct spawn *sp = arg;
    pid_t pid;
#if defined(__SANITIZE_ADDRESS__)
    /* ASan cannot follow a child onto a stack of ours: a copy-on-write child instead,
     * on (a copy of) this thread's stack */
    pid = (pid_t)syscall(SYS_clone, (sp->flags & ~(unsigned long)CLONE_VM) | SIGCHLD, NULL,
                         &sp->tid, NULL, NULL);
    if (pid == 0)
        sandbox_child_main(sp->plan);
#else
    pid = clone(init_main, sp->stack + sp->stacksz, (int)sp->flags | SIGCHLD, sp, &sp->tid);
#endif
    /* here the init has exited (CLONE_VFORK), or never ran */
    int e = errno, st = 0;
    if (pid < 0) {
        int fd = atomic_load(&sp->cfds[1]);
        if (fd >= 0)
            send_clone_error(fd, e);
    }
    for (int i = 0; i < 3; i++)
        close_once(&sp->cfds[i]);
    if (pid > 0)
        wait_child(pid, &st);
    munmap(sp->stack, sp->stacksz);
    pthread_mutex_lock(&td_lock);
    sp->waited = true;
    sp->wstatus = st;
    sp->pid = pid;
    if (sp->counted) {
        td_inits--;
        sp->counted = false;
    }
    pthread_cond_broadcast(&td_cond);
    while (sp->decision == SPAWN_UNDECIDED)
        pthread_cond_wait(&td_cond, &td_lock);
    pthread_mutex_unlock(&td_lock);
    if (sp->decision == SPAWN_TEARDOWN) {
        teardown_run(&sp->td);
        pthread_mutex_lock(&td_lock);
        td_pending--;
        pthread_cond_broadcast(&td_cond);
        pthread_mutex_unlock(&td_lock);
    }
    free(sp);
    return NULL;
}

/* Start the spawner thread for plan; it takes the fds in cfds (set to -1 then).  Returns
 * NULL (err set) when it cannot. */
static struct spawn *
spawn_start(struct child_plan *plan, unsigned long flags, int *cfds[3], struct ib_err **err)
{
    struct spawn *sp = ib_xcalloc(1, sizeof(*sp));
    sp->plan = plan;
    sp->flags = flags | CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID;
    for (int i = 0; i < 3; i++)
        atomic_store(&sp->cfds[i], *cfds[i]);
    sp->stacksz = 256 << 10;
    sp->stack = mmap(NULL, sp->stacksz, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (sp->stack == MAP_FAILED) {
        free(sp);
        ib_fail_errno(err, "mmap a stack");
        return NULL;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 << 10);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the other threads */
    pthread_t th;
    int rc = pthread_create(&th, &attr, spawner, sp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        munmap(sp->stack, sp->stacksz);
        free(sp);
        ib_fail_sys(err, rc, "sandbox: start a thread");
        return NULL;
    }
    for (int i = 0; i < 3; i++)
        *cfds[i] = -1;
    return sp;
}

/* Leave the spawner to end alone: with t, it does the teardown (sp is gone after this). */
static void
spawn_hand_off(struct spawn *sp, const struct teardown *t)
{
    pthread_mutex_lock(&td_lock);
    if (t) {
        sp->td = *t;
        td_pending++;
        if (!sp->waited) {
            td_inits++;
            sp->counted = true;
        }
        sp->decision = SPAWN_TEARDOWN;
    } else {
        sp->decision = SPAWN_RETURN;
    }
    pthread_cond_broadcast(&td_cond);
    pthread_mutex_unlock(&td_lock);
}

/* Wait until the init is reaped; its wait status (0 when clone failed).  Ends sp. */
static int
spawn_wait(struct spawn *sp)
{
    pthread_mutex_lock(&td_lock);
    while (!sp->waited)
        pthread_cond_wait(&td_cond, &td_lock);
    int st = sp->wstatus;
    pthread_mutex_unlock(&td_lock);
    spawn_hand_off(sp, NULL);
    return st;
}

/* Wait until every handed-off init has exited (its mounts are gone). */
static void
wait_inits(void)
{
    pthread_mutex_lock(&td_lock);
    while (td_inits)
        pthread_cond_wait(&td_cond, &td_lock);
    pthread_mutex_unlock(&td_lock);
}

void
sandbox_settle(void)
{
    pthread_mutex_lock(&td_lock);
    while (td_pending)
        pthread_cond_wait(&td_cond, &td_lock);
    pthread_mutex_unlock(&td_lock);
    take_spare("", &(struct sandbox_limits){0}, true);
}

struct run_state {
    struct child_plan plan;
    struct ib_strv argv, env;
    char *scratch;
    bool own_scratch;
    int pipes[3][2]; /* sync, msg, status: [0] read, [1] write */
    struct child_msg *msgs;
    size_t nmsgs;
    bool work_queued; /* cfg->work goes with the teardown */
};

static void
run_state_release(struct run_state *s)
{
    overlay_plan_release(&s->plan.ov);
    for (int i = 0; i < 3; i++) {
        free(s->plan.etc_paths[i]);
        close_fd(&s->pipes[i][0]);
        close_fd(&s->pipes[i][1]);
    }
    close_fd(&s->plan.upper_fd);
    sandbox_mounts_release(&s->plan);
    if (s->plan.stack)
        munmap(s->plan.stack, s->plan.stacksz);
    free(s->plan.passwd);
    free(s->plan.group);
    ib_strv_release(&s->argv);
    ib_strv_release(&s->env);
    if (s->scratch)
        clean_scratch(s->scratch, s->own_scratch);
    free((void *)s->plan.root);
    free(s->scratch);
    free(s->msgs);
}

static int
prepare(const struct sandbox_cfg *cfg, struct run_state *s, struct ib_err **err)
{
    struct child_plan *p = &s->plan;
    p->cfg = cfg;
    p->hostname = cfg->hostname && *cfg->hostname ? cfg->hostname : "imgbuild";
    if (strlen(p->hostname) > 64)
        return ib_fail(err, IB_E_USAGE, "hostname '%s' is too long", p->hostname);
    if (cfg->scratch_dir) {
        s->scratch = ib_xstrdup(cfg->scratch_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        s->scratch = ib_xasprintf("%s/imgbuild-step-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(s->scratch)) {
            int e = errno;
            free(s->scratch);
            s->scratch = NULL;
            return ib_fail_sys(err, e, "create a scratch dir");
        }
        s->own_scratch = true;
    }
    if (make_scratch(s->scratch, p->hostname, cfg->extra_hosts, p->etc_paths, err) < 0)
        return -1;
    p->root = ib_path_join(s->scratch, "root");
    if (sandbox_mounts_plan(cfg, s->scratch, p, err) < 0)
        return -1;
    p->upper_fd = open(cfg->upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (p->upper_fd < 0)
        return ib_fail_errno(err, "open upper dir '%s'", cfg->upper);
    if (overlay_plan_init(&p->ov, cfg->lowers, cfg->nlowers, cfg->upper, cfg->work,
                          cfg->legacy_mount, err) < 0)
        return -1;
    if (sandbox_seccomp_prog(&p->seccomp, err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(default_caps) / sizeof(*default_caps); i++)
        p->caps |= 1ULL << default_caps[i];
    p->last_cap = last_cap();
    p->stacksz = 256 << 10;
    p->stack = mmap(NULL, p->stacksz, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p->stack == MAP_FAILED) {
        p->stack = NULL;
        return ib_fail_errno(err, "mmap a stack");
    }
    p->bufsz = USER_FILE_MAX;
    p->passwd = ib_xmalloc(p->bufsz);
    p->group = ib_xmalloc(p->bufsz);
    build_arrays(cfg, p, &s->argv, &s->env);
    for (int i = 0; i < 3; i++)
        if (pipe2(s->pipes[i], O_CLOEXEC) < 0)
            return ib_fail_errno(err, "pipe");
    p->sync_rd = s->pipes[0][0];
    p->msg_wr = s->pipes[1][1];
    p->status_wr = s->pipes[2][1];
    p->close_fds[0] = s->pipes[0][1];
    p->close_fds[1] = s->pipes[1][0];
    p->close_fds[2] = s->pipes[2][0];
    return 0;
}

static atomic_uint step_counter;

static int
new_cgroup(const char *parent, const struct sandbox_limits *lim, struct cgroup **out,
           struct ib_err **err)
{
    char name[64];
    snprintf(name, sizeof(name), "step-%ld-%u", (long)getpid(), atomic_fetch_add(&step_counter, 1));
    return cgroup_create(parent, name, lim, out, err);
}

static int
run(const struct sandbox_cfg *cfg, struct run_state *s, struct sandbox_result *res,
    struct ib_err **err)
{
    const char *parent = cfg->cgroup_parent ? cfg->cgroup_parent : "imgbuild";
    IB_AUTO(cgroup_free) struct cgroup *cg = take_spare(parent, &cfg->limits, false);
    if (!cg && new_cgroup(parent, &cfg->limits, &cg, err) < 0)
        return ib_err_prefix(err, "sandbox cgroup");
    wait_inits(); /* no upper dir of a dying overlay among our lowers */
    unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    if (cfg->net == SANDBOX_NET_NONE)
        flags |= CLONE_NEWNET;
    uint64_t t0 = now_usec();
    int *cfds[3] = {&s->pipes[0][0], &s->pipes[1][1], &s->pipes[2][1]};
    struct spawn *sp = spawn_start(&s->plan, flags, cfds, err);
    if (!sp) {
        AUTO_ERR struct ib_err *ignore = NULL;
        cgroup_remove(cg, &ignore);
        return -1;
    }
    /* the child's first record says it runs (its pid is known then), or clone failed */
    struct child_msg first;
    int rc = sandbox_read_child_msg(s->pipes[1][0], &first, err);
    if (rc == 0 && first.type != CHILD_MSG_STARTED)
        rc = sandbox_child_msg_error(&first, err);
    else if (rc == 1)
        rc = ib_fail(err, IB_E_SANDBOX, "sandbox: the child ended before it started");
    pid_t pid = rc == 0 ? atomic_load(&sp->tid) : -1;
    for (int i = 0; i < 3; i++)
        close_once(&sp->cfds[i]);
    /* A step never runs real-time, even when imgbuild does (chrt -f): a v1 cpu cgroup
     * without an rt_runtime budget refuses a real-time task (EINVAL), and a runaway step
     * must not starve the machine. */
    int policy = rc == 0 ? sched_getscheduler(pid) : -1;
    if (rc == 0 && (policy == SCHED_FIFO || policy == SCHED_RR) &&
        sched_setscheduler(pid, SCHED_OTHER, &(struct sched_param){0}) < 0)
        rc = ib_fail_errno(err, "sandbox: leave the real-time scheduling policy");
    if (rc == 0)
        rc = cgroup_add_pid(cg, pid, err);
    if (rc == 0 && write(s->pipes[0][1], "g", 1) != 1)
        rc = ib_fail_errno(err, "sandbox: start the child");
    close_fd(&s->pipes[0][1]);
    if (rc < 0 && pid > 0)
        kill(pid, SIGKILL);
    else if (rc == 0)
        rc = sandbox_read_child_err(s->pipes[1][0], &s->msgs, &s->nmsgs, err);
    /* the init's report: the command's status, once nothing of the step runs any more */
    int cmd_status;
    ssize_t r;
    do
        r = read(s->pipes[2][0], &cmd_status, sizeof(cmd_status));
    while (r < 0 && errno == EINTR);
    bool reported = r == (ssize_t)sizeof(cmd_status);
    bool async = cfg->async_teardown && reported && rc == 0;
    int st = async ? 0 : spawn_wait(sp);
    res->wall_usec = now_usec() - t0;
    if (!reported)
        cmd_status = st; /* the init itself died (killed, or setup failed) */
    struct cgroup_stats stats = {0};
    AUTO_ERR struct ib_err *stat_err = NULL;
    cgroup_read_stats(cg, &stats, &stat_err);
    if (async) {
        struct teardown t = {.cg = cg,
                             .work = ib_xstrdup(cfg->work),
                             .scratch = s->scratch,
                             .own_scratch = s->own_scratch,
                             .cg_parent = ib_xstrdup(parent),
                             .limits = cfg->limits};
        cg = NULL;
        s->scratch = NULL;
        s->work_queued = true;
        spawn_hand_off(sp, &t);
    } else {
        AUTO_ERR struct ib_err *rm_err = NULL;
        if (cgroup_remove(cg, &rm_err) < 0 && rc == 0) {
            rc = ib_fail(err, rm_err->kind, "sandbox cleanup: %s", rm_err->msg);
            if (err && *err)
                (*err)->sys = rm_err->sys;
        }
    }
    remove_stubs(s->plan.upper_fd, s->msgs, s->nmsgs);
    if (rc < 0)
        return -1;
    res->cpu_usec = stats.cpu_usec;
    res->mem_peak = stats.mem_peak;
    res->oom_killed = stats.oom_kills > 0;
    res->memory_limit = cfg->limits.memory;
    if (WIFSIGNALED(cmd_status))
        res->signal = WTERMSIG(cmd_status);
    else
        res->exit_code = WEXITSTATUS(cmd_status);
    return 0;
}

int
sandbox_run(const struct sandbox_cfg *cfg, struct sandbox_result *res, struct ib_err **err)
{
    memset(res, 0, sizeof(*res));
    if (!cfg->argv || !cfg->argv[0] || !cfg->argv[0][0])
        return ib_fail(err, IB_E_SANDBOX, "sandbox: no command to run");
    if (!cfg->upper || !cfg->work || cfg->nlowers == 0)
        return ib_fail(err, IB_E_SANDBOX, "sandbox: lower, upper and work dirs are required");
    struct run_state s;
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 3; i++) {
        s.pipes[i][0] = s.pipes[i][1] = -1;
    }
    s.plan.upper_fd = -1;
    int rc = prepare(cfg, &s, err);
    if (rc == 0)
        rc = run(cfg, &s, res, err);
    run_state_release(&s);
    if (cfg->async_teardown && !s.work_queued)
        ib_rm_rf_at(AT_FDCWD, cfg->work, NULL); /* ours to remove, whatever happened */
    return rc;
}
