/* builder/cgroup.c: one cgroup per RUN step, v1 and v2 behind one small interface.
 *
 * The mode is detected from filesystem magic numbers, as crun does: cgroup2 on
 * /sys/fs/cgroup is unified (v2); tmpfs there with a cgroup2 at
 * /sys/fs/cgroup/unified is hybrid, which uses the v1 controllers, since
 * memory, cpu and pids are bound to v1 there; otherwise legacy (v1).
 *
 * v1: a directory per controller hierarchy (memory, cpu, cpuacct, pids; co-mounted
 * hierarchies share one), found in /proc/self/mountinfo.  v2: one directory, with
 * the needed controllers enabled in the parents' cgroup.subtree_control.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "builder/sandbox.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

enum { V1_MEMORY, V1_CPU, V1_CPUACCT, V1_PIDS, V1_N };
static const char *const v1_names[V1_N] = {"memory", "cpu", "cpuacct", "pids"};

struct cgroup {
    int version;
    char *dir[V1_N];  /* v1: the step's dir per controller (co-mounted ones repeat); v2: [0] */
    char *uniq[V1_N]; /* distinct dirs, owned */
    size_t nuniq;
};

uint64_t
cgroup_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

int
cgroup_detect_mode(const char *fsroot, enum cgroup_mode *out, struct ib_err **err)
{
    struct statfs st;
    if (statfs(fsroot, &st) < 0)
        return ib_fail_errno(err, "statfs '%s'", fsroot);
    if (st.f_type == CGROUP2_SUPER_MAGIC) {
        *out = CGROUP_UNIFIED;
        return 0;
    }
    if (st.f_type != TMPFS_MAGIC)
        return ib_fail(err, IB_E_SANDBOX, "'%s' is neither cgroup2 nor a tmpfs of v1 hierarchies",
                       fsroot);
    AUTO_FREE char *unified = ib_path_join(fsroot, "unified");
    if (statfs(unified, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
        *out = CGROUP_HYBRID;
    else
        *out = CGROUP_LEGACY;
    return 0;
}

/* ---- small file helpers ------------------------------------------------ */

static int
write_at(const char *dir, const char *file, const char *val, struct ib_err **err)
{
    AUTO_FREE char *p = ib_path_join(dir, file);
    AUTO_FD int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s'", p);
    size_t n = strlen(val);
    ssize_t w = write(fd, val, n);
    if (w < 0)
        return ib_fail_errno(err, "write '%s' to '%s'", val, p);
    if ((size_t)w != n)
        return ib_fail(err, IB_E_SANDBOX, "short write to '%s'", p);
    return 0;
}

static int
read_at(const char *dir, const char *file, struct ib_buf *b, struct ib_err **err)
{
    AUTO_FREE char *p = ib_path_join(dir, file);
    return ib_read_file(p, b, err);
}

static int
read_u64_at(const char *dir, const char *file, uint64_t *out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (read_at(dir, file, &b, err) < 0)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(b.s, &end, 10);
    if (errno || end == b.s)
        return ib_fail(err, IB_E_SANDBOX, "'%s/%s': not a number: '%.20s'", dir, file, b.s);
    *out = v;
    return 0;
}

/* "key value" lines (cpu.stat, memory.events, memory.oom_control); missing key -> 0. */
static int
read_key_at(const char *dir, const char *file, const char *key, uint64_t *out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (read_at(dir, file, &b, err) < 0)
        return -1;
    size_t kl = strlen(key);
    *out = 0;
    for (const char *l = b.s; *l;) {
        if (strncmp(l, key, kl) == 0 && l[kl] == ' ') {
            *out = strtoull(l + kl + 1, NULL, 10);
            return 0;
        }
        const char *nl = strchr(l, '\n');
        if (!nl)
            break;
        l = nl + 1;
    }
    return 0;
}

static bool
file_exists(const char *dir, const char *file)
{
    AUTO_FREE char *p = ib_path_join(dir, file);
    return access(p, F_OK) == 0;
}

/* ---- locating v1 hierarchies ------------------------------------------- */

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape_mountinfo(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static bool
has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

/* For controller ctl (v1) or NULL (v2): mount point, the mount's root within the hierarchy.
 * Caller frees both. */
static int
find_mount(const char *ctl, char **mnt, char **root, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (ib_read_file("/proc/self/mountinfo", &b, err) < 0)
        return -1;
    char *save = NULL;
    for (char *line = strtok_r(b.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[32] = {0};
        size_t nf = 0, sep = 0;
        char *s2 = NULL;
        for (char *w = strtok_r(line, " ", &s2); w && nf < 32; w = strtok_r(NULL, " ", &s2)) {
            if (!sep && strcmp(w, "-") == 0)
                sep = nf;
            f[nf++] = w;
        }
        /* 0 id, 1 parent, 2 dev, 3 root, 4 mountpoint, 5 opts, [optional...], "-",
         * fstype, source, super options */
        if (sep < 6 || nf < sep + 4)
            continue;
        const char *fstype = f[sep + 1], *super = f[sep + 3];
        bool match = ctl ? strcmp(fstype, "cgroup") == 0 && has_word(super, ctl)
                         : strcmp(fstype, "cgroup2") == 0;
        if (!match)
            continue;
        unescape_mountinfo(f[3]);
        unescape_mountinfo(f[4]);
        *mnt = ib_xstrdup(f[4]);
        *root = ib_xstrdup(f[3]);
        return 0;
    }
    return ib_fail(err, IB_E_SANDBOX, "no mounted cgroup%s hierarchy%s%s%s found", ctl ? "" : "2",
                   ctl ? " for controller '" : "", ctl ? ctl : "", ctl ? "'" : "");
}

/* This process's cgroup in the hierarchy of controller ctl (v1) or the v2 one (NULL). */
static int
self_cgroup(const char *ctl, char **out, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (ib_read_file("/proc/self/cgroup", &b, err) < 0)
        return -1;
    char *save = NULL;
    for (char *line = strtok_r(b.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        bool match =
            ctl ? has_word(c1 + 1, ctl) : (c1 == line + 1 && line[0] == '0' && c1[1] == '\0');
        if (match) {
            *out = ib_xstrdup(c2 + 1);
            return 0;
        }
    }
    return ib_fail(err, IB_E_SANDBOX, "this process is in no cgroup%s%s%s", ctl ? " of '" : "2",
                   ctl ? ctl : "", ctl ? "'" : "");
}

/* The absolute directory of <parent>/<name> in one hierarchy. */
static int
step_dir(const char *ctl, const char *parent, const char *name, char **out, struct ib_err **err)
{
    AUTO_FREE char *mnt = NULL;
    AUTO_FREE char *root = NULL;
    AUTO_FREE char *self = NULL;
    if (find_mount(ctl, &mnt, &root, err) < 0)
        return -1;
    const char *base = "/";
    if (parent[0] != '/') {
        if (self_cgroup(ctl, &self, err) < 0)
            return -1;
        base = self;
        /* a mount of a sub-tree (inside a container) shows paths below its root */
        size_t rl = strlen(root);
        if (strcmp(root, "/") != 0 && strncmp(self, root, rl) == 0 &&
            (self[rl] == '/' || self[rl] == '\0'))
            base = self + rl;
    }
    AUTO_FREE char *a = ib_path_join(mnt, base);
    AUTO_FREE char *b = ib_path_join(a, parent);
    *out = ib_path_join(b, name);
    return 0;
}

/* ---- create ------------------------------------------------------------ */

static char *
fmt_i64(int64_t v)
{
    return ib_xasprintf("%" PRId64, v);
}

static int
v1_limits(struct cgroup *cg, const struct sandbox_limits *lim, struct ib_err **err)
{
    if (lim->memory > 0) {
        AUTO_FREE char *v = fmt_i64(lim->memory);
        if (write_at(cg->dir[V1_MEMORY], "memory.limit_in_bytes", v, err) < 0)
            return -1;
        int64_t sw = lim->memory_swap == 0 ? lim->memory : lim->memory_swap;
        if (sw > 0) {
            AUTO_FREE char *s = fmt_i64(sw);
            bool have = file_exists(cg->dir[V1_MEMORY], "memory.memsw.limit_in_bytes");
            if (!have && lim->memory_swap > 0)
                return ib_fail(err, IB_E_SANDBOX,
                               "a swap limit needs swap accounting (memory.memsw.*)");
            if (have && write_at(cg->dir[V1_MEMORY], "memory.memsw.limit_in_bytes", s, err) < 0)
                return -1;
        }
    }
    if (lim->cpu_quota > 0) {
        AUTO_FREE char *p = ib_xasprintf("%" PRIu64, lim->cpu_period ? lim->cpu_period : 100000);
        AUTO_FREE char *q = fmt_i64(lim->cpu_quota);
        if (write_at(cg->dir[V1_CPU], "cpu.cfs_period_us", p, err) < 0 ||
            write_at(cg->dir[V1_CPU], "cpu.cfs_quota_us", q, err) < 0)
            return -1;
    }
    if (lim->cpu_shares > 0) {
        AUTO_FREE char *s = ib_xasprintf("%" PRIu64, lim->cpu_shares);
        if (write_at(cg->dir[V1_CPU], "cpu.shares", s, err) < 0)
            return -1;
    }
    if (lim->pids > 0) {
        AUTO_FREE char *s = fmt_i64(lim->pids);
        if (write_at(cg->dir[V1_PIDS], "pids.max", s, err) < 0)
            return -1;
    }
    return 0;
}

static int
v2_limits(struct cgroup *cg, const struct sandbox_limits *lim, struct ib_err **err)
{
    const char *d = cg->dir[0];
    if (lim->memory > 0) {
        AUTO_FREE char *v = fmt_i64(lim->memory);
        if (write_at(d, "memory.max", v, err) < 0)
            return -1;
        AUTO_FREE char *sw =
            lim->memory_swap < 0 ? ib_xstrdup("max")
            : lim->memory_swap == 0
                ? ib_xstrdup("0")
                : fmt_i64(lim->memory_swap > lim->memory ? lim->memory_swap - lim->memory : 0);
        if (file_exists(d, "memory.swap.max") && write_at(d, "memory.swap.max", sw, err) < 0)
            return -1;
    }
    if (lim->cpu_quota > 0) {
        AUTO_FREE char *v = ib_xasprintf("%" PRId64 " %" PRIu64, lim->cpu_quota,
                                         lim->cpu_period ? lim->cpu_period : 100000);
        if (write_at(d, "cpu.max", v, err) < 0)
            return -1;
    }
    if (lim->cpu_shares > 0) {
        AUTO_FREE char *v = ib_xasprintf("%" PRIu64, cgroup_shares_to_weight(lim->cpu_shares));
        if (write_at(d, "cpu.weight", v, err) < 0)
            return -1;
    }
    if (lim->pids > 0) {
        AUTO_FREE char *v = fmt_i64(lim->pids);
        if (write_at(d, "pids.max", v, err) < 0)
            return -1;
    }
    return 0;
}

/* Enable the controllers in every cgroup.subtree_control from base down to dir's parent. */
static int
v2_enable(const char *base, const char *dir, const struct sandbox_limits *lim, struct ib_err **err)
{
    AUTO_BUF struct ib_buf avail = IB_BUF_INIT;
    if (read_at(base, "cgroup.controllers", &avail, err) < 0)
        return -1;
    const char *want[3];
    size_t nwant = 0;
    bool need_mem = lim->memory > 0, need_cpu = lim->cpu_quota > 0 || lim->cpu_shares > 0,
         need_pids = lim->pids > 0;
    struct {
        const char *name;
        bool needed;
    } ctls[] = {{"memory", need_mem}, {"cpu", need_cpu}, {"pids", need_pids}};
    for (size_t i = 0; i < 3; i++) {
        bool have = false;
        for (const char *p = avail.s; (p = strstr(p, ctls[i].name)) != NULL; p++) {
            size_t l = strlen(ctls[i].name);
            if ((p == avail.s || p[-1] == ' ') && (p[l] == ' ' || p[l] == '\n' || !p[l]))
                have = true;
        }
        if (have)
            want[nwant++] = ctls[i].name; /* memory is always useful: peak and OOM events */
        else if (ctls[i].needed)
            return ib_fail(err, IB_E_SANDBOX,
                           "cgroup v2 controller '%s' is not available in '%s' (it may be bound "
                           "to a v1 hierarchy)",
                           ctls[i].name, base);
    }
    if (!nwant)
        return 0;
    AUTO_BUF struct ib_buf val = IB_BUF_INIT;
    for (size_t i = 0; i < nwant; i++)
        ib_buf_addf(&val, "%s+%s", i ? " " : "", want[i]);
    /* walk base, base/a, base/a/b ... up to (not including) dir */
    AUTO_FREE char *cur = ib_xstrdup(base);
    const char *rest = dir + strlen(base);
    for (;;) {
        while (*rest == '/')
            rest++;
        const char *slash = strchr(rest, '/');
        if (!slash)
            break;
        if (write_at(cur, "cgroup.subtree_control", val.s, err) < 0)
            return ib_err_prefix(err, "enable controllers (a cgroup with processes cannot "
                                      "delegate them: use an absolute --cgroup-parent)");
        AUTO_FREE char *comp = ib_xstrndup(rest, (size_t)(slash - rest));
        char *next = ib_path_join(cur, comp);
        free(cur);
        cur = next;
        rest = slash;
    }
    return write_at(cur, "cgroup.subtree_control", val.s, err) < 0
               ? ib_err_prefix(err, "enable controllers (a cgroup with processes cannot "
                                    "delegate them: use an absolute --cgroup-parent)")
               : 0;
}

static int
make_dir(const char *dir, struct ib_err **err)
{
    AUTO_FREE char *parent = ib_xstrdup(dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (ib_mkdir_p(AT_FDCWD, parent, 0755, err) < 0)
            return -1;
    }
    /* an existing dir is taken over (names are unique per process and step) */
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return ib_fail_errno(err, "create cgroup '%s'", dir);
    return 0;
}

IB_DEFINE_AUTO(struct cgroup, cgroup_free)

int
cgroup_create_v2_at(const char *base, const char *parent, const char *name,
                    const struct sandbox_limits *lim, struct cgroup **out, struct ib_err **err)
{
    IB_AUTO(cgroup_free) struct cgroup *cg = ib_xcalloc(1, sizeof(*cg));
    cg->version = 2;
    AUTO_FREE char *a = ib_path_join(base, parent);
    char *dir = ib_path_join(a, name);
    cg->uniq[cg->nuniq++] = dir;
    for (size_t i = 0; i < V1_N; i++)
        cg->dir[i] = dir;
    if (make_dir(dir, err) < 0)
        return -1;
    if (v2_enable(base, dir, lim, err) < 0 || v2_limits(cg, lim, err) < 0) {
        rmdir(dir);
        return -1;
    }
    *out = ib_steal(&cg);
    return 0;
}

static int
create_v1(const char *parent, const char *name, const struct sandbox_limits *lim,
          struct cgroup **out, struct ib_err **err)
{
    IB_AUTO(cgroup_free) struct cgroup *cg = ib_xcalloc(1, sizeof(*cg));
    cg->version = 1;
    for (size_t i = 0; i < V1_N; i++) {
        AUTO_FREE char *d = NULL;
        if (step_dir(v1_names[i], parent, name, &d, err) < 0)
            return -1;
        size_t j;
        for (j = 0; j < cg->nuniq && strcmp(cg->uniq[j], d) != 0; j++)
            ;
        if (j == cg->nuniq) {
            if (make_dir(d, err) < 0)
                return -1;
            cg->uniq[cg->nuniq++] = ib_steal(&d);
        }
        cg->dir[i] = cg->uniq[j];
    }
    if (v1_limits(cg, lim, err) < 0) {
        AUTO_ERR struct ib_err *ignore = NULL;
        cgroup_remove(cg, &ignore);
        return -1;
    }
    *out = ib_steal(&cg);
    return 0;
}

int
cgroup_create(const char *parent, const char *name, const struct sandbox_limits *lim,
              struct cgroup **out, struct ib_err **err)
{
    enum cgroup_mode mode;
    if (cgroup_detect_mode("/sys/fs/cgroup", &mode, err) < 0)
        return -1;
    switch (mode) {
    case CGROUP_UNIFIED: {
        AUTO_FREE char *mnt = NULL;
        AUTO_FREE char *root = NULL;
        AUTO_FREE char *self = NULL;
        if (find_mount(NULL, &mnt, &root, err) < 0)
            return -1;
        AUTO_FREE char *rel = NULL;
        if (parent[0] == '/') {
            rel = ib_xstrdup(parent);
        } else {
            if (self_cgroup(NULL, &self, err) < 0)
                return -1;
            size_t rl = strlen(root);
            const char *s = self;
            if (strcmp(root, "/") != 0 && strncmp(self, root, rl) == 0)
                s = self + rl;
            rel = ib_path_join(s, parent);
        }
        return cgroup_create_v2_at(mnt, rel, name, lim, out, err);
    }
    case CGROUP_HYBRID:
    case CGROUP_LEGACY:
        return create_v1(parent, name, lim, out, err);
    }
    return ib_fail(err, IB_E_BUG, "bad cgroup mode");
}

/* ---- use and removal --------------------------------------------------- */

int
cgroup_add_pid(struct cgroup *cg, pid_t pid, struct ib_err **err)
{
    char v[32];
    snprintf(v, sizeof(v), "%ld", (long)pid);
    for (size_t i = 0; i < cg->nuniq; i++)
        if (write_at(cg->uniq[i], "cgroup.procs", v, err) < 0)
            return -1;
    return 0;
}

int
cgroup_read_stats(struct cgroup *cg, struct cgroup_stats *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    if (cg->version == 2) {
        const char *d = cg->dir[0];
        if (read_key_at(d, "cpu.stat", "usage_usec", &out->cpu_usec, err) < 0)
            return -1;
        if (file_exists(d, "memory.peak") && read_u64_at(d, "memory.peak", &out->mem_peak, err) < 0)
            return -1;
        if (file_exists(d, "memory.events") &&
            read_key_at(d, "memory.events", "oom_kill", &out->oom_kills, err) < 0)
            return -1;
        return 0;
    }
    uint64_t ns = 0;
    if (read_u64_at(cg->dir[V1_CPUACCT], "cpuacct.usage", &ns, err) < 0 ||
        read_u64_at(cg->dir[V1_MEMORY], "memory.max_usage_in_bytes", &out->mem_peak, err) < 0 ||
        read_key_at(cg->dir[V1_MEMORY], "memory.oom_control", "oom_kill", &out->oom_kills, err) < 0)
        return -1;
    out->cpu_usec = ns / 1000;
    return 0;
}

/* SIGKILL every pid listed in dir/cgroup.procs; *left is how many there were. */
static int
kill_listed(const char *dir, size_t *left, struct ib_err **err)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    *left = 0;
    if (read_at(dir, "cgroup.procs", &b, err) < 0)
        return -1;
    for (char *p = b.s; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
            (*left)++;
        p = end;
        while (*p == '\n')
            p++;
    }
    return 0;
}

static void
nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int
cgroup_remove(struct cgroup *cg, struct ib_err **err)
{
    if (cg->version == 2 && file_exists(cg->dir[0], "cgroup.kill")) {
        AUTO_ERR struct ib_err *e = NULL;
        write_at(cg->dir[0], "cgroup.kill", "1", &e);
    }
    for (size_t i = 0; i < cg->nuniq; i++) {
        for (int tries = 0;; tries++) {
            size_t left = 0;
            if (kill_listed(cg->uniq[i], &left, err) < 0) {
                if (*err && (*err)->sys == ENOENT) { /* already gone */
                    ib_err_free(*err);
                    *err = NULL;
                    break;
                }
                return -1;
            }
            if (rmdir(cg->uniq[i]) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY || tries > 2000)
                return ib_fail_errno(err, "remove cgroup '%s'", cg->uniq[i]);
            nap_ms(1);
        }
    }
    return 0;
}

void
cgroup_free(struct cgroup *cg)
{
    if (!cg)
        return;
    for (size_t i = 0; i < cg->nuniq; i++)
        free(cg->uniq[i]);
    free(cg);
}

const char *
cgroup_path(const struct cgroup *cg)
{
    return cg->dir[0];
}
