/* builder/sandbox.h: internals of the RUN sandbox (cgroups, overlay, seccomp, users).
 *
 * Code marked "child-safe" runs between clone() and execve() and must not
 * allocate: the parent may have other threads, and a lock held by one of
 * them at clone time would never be released in the child.
 */
#ifndef IMGBUILD_BUILDER_SANDBOX_H
#define IMGBUILD_BUILDER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "builder/builder.h"
#include "common/err.h"

/* ---- cgroup.c ---------------------------------------------------------- */

enum cgroup_mode {
    CGROUP_UNIFIED, /* cgroup2 at /sys/fs/cgroup */
    CGROUP_HYBRID,  /* v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified: use v1 */
    CGROUP_LEGACY,  /* v1 only */
};

struct cgroup_stats {
    uint64_t cpu_usec;  /* user + system */
    uint64_t mem_peak;  /* bytes; 0 = unknown */
    uint64_t oom_kills; /* processes the OOM killer killed in this cgroup */
};

struct cgroup;

/* Detect the mode from the filesystem types under fsroot ("/sys/fs/cgroup"), as crun does. */
int cgroup_detect_mode(const char *fsroot, enum cgroup_mode *out, struct ib_err **err);
/* Create the step's cgroup <parent>/<name> with limits (mode detected; see builder.h for
 * parent).  Caller removes it with cgroup_remove and frees it with cgroup_free. */
int cgroup_create(const char *parent, const char *name, const struct sandbox_limits *lim,
                  struct cgroup **out, struct ib_err **err);
/* The v2 back-end on an explicit cgroup2 directory (tests, and unified hosts): creates
 * <base>/<parent>/<name>; parent is relative to base.  Caller frees. */
int cgroup_create_v2_at(const char *base, const char *parent, const char *name,
                        const struct sandbox_limits *lim, struct cgroup **out, struct ib_err **err);
int cgroup_add_pid(struct cgroup *cg, pid_t pid, struct ib_err **err);
int cgroup_read_stats(struct cgroup *cg, struct cgroup_stats *out, struct ib_err **err);
/* Kill what is left (cgroup.kill, or SIGKILL by pid on v1), then rmdir. */
int cgroup_remove(struct cgroup *cg, struct ib_err **err);
void cgroup_free(struct cgroup *cg);
/* The step's directory in the first (v1: memory) hierarchy, for messages and tests. */
const char *cgroup_path(const struct cgroup *cg);
/* v1 shares -> v2 weight (crun's conversion). */
uint64_t cgroup_shares_to_weight(uint64_t shares);

/* ---- overlay.c --------------------------------------------------------- */

/* What the parent prepares so the child can mount without allocating. */
struct overlay_plan {
    const char *const *lowers;
    size_t nlowers;
    const char *upper, *work;
    char *legacy_opts; /* the mount(2) data string (lowers as /proc/self/fd/N when long) */
    int *lower_fds;    /* O_PATH fds of the lowers when legacy_opts uses them, else NULL */
    bool legacy_only;
};

int overlay_plan_init(struct overlay_plan *p, const char *const *lowers, size_t nlowers,
                      const char *upper, const char *work, bool legacy, struct ib_err **err);
void overlay_plan_release(struct overlay_plan *p);
/* Child-safe: mount the overlay on target; on failure returns -1 with errno set and a
 * message (the kernel's fs-context log when there is one) in msg. */
int overlay_mount_child(const struct overlay_plan *p, const char *target, char *msg, size_t msgsz);

/* ---- seccomp.c --------------------------------------------------------- */

struct sock_fprog;
/* The default filter as BPF, built once per process (libseccomp) and kept. */
int sandbox_seccomp_prog(const struct sock_fprog **out, struct ib_err **err);
/* The default of sandbox_cfg.insecure for the configs sandbox_cfg_init makes on the calling
 * thread.  The build engine turns it on around a RUN --security=insecure step (dispatch.c),
 * whose sandbox_cfg run.c makes without looking at the flag. */
void sandbox_thread_insecure_set(bool on);
bool sandbox_thread_insecure(void);

/* ---- user.c: USER resolution from the image's own files (child-safe) ---- */

#define SANDBOX_MAX_GROUPS 64

struct sandbox_user {
    uid_t uid;
    gid_t gid;
    gid_t groups[SANDBOX_MAX_GROUPS]; /* supplementary groups, primary first */
    size_t ngroups;
    char home[256];
};

/* Resolve spec ("name", "uid", "uid:gid", "name:group", ...) against the contents of
 * /etc/passwd and /etc/group (either may be NULL: missing).  On failure returns -1 with a
 * message in msg. */
int sandbox_user_resolve(const char *spec, const char *passwd, size_t passwd_len, const char *group,
                         size_t group_len, struct sandbox_user *out, char *msg, size_t msgsz);

/* ---- sandbox.c --------------------------------------------------------- */

/* One record the child sends over its CLOEXEC pipe before it execs. */
enum child_msg_type {
    CHILD_MSG_ERROR = 1, /* setup failed: err, msg */
    CHILD_MSG_STUB,      /* a mount point created in the rootfs: path, is_dir */
    CHILD_MSG_PARENT,    /* a dir that got stubs: path, its times before and after */
};

struct child_msg {
    uint32_t type;
    int32_t err;
    uint32_t is_dir;
    uint32_t in_upper_before; /* PARENT: the dir already existed in the upper dir */
    uint32_t mode, uid, gid;  /* PARENT: metadata before the stubs */
    int64_t mtime_before[2], atime_before[2], mtime_after[2];
    char text[512]; /* message or path relative to the root */
};

/* Read the child's records until EOF (it exec'd or died).  Stub records are appended to
 * stubs (may be NULL).  Returns -1 with the child's error as an IB_E_SANDBOX error. */
int sandbox_read_child_err(int fd, struct child_msg **stubs, size_t *nstubs, struct ib_err **err);

#endif
