/* builder/builder.h: the public interface of builder/.
 *
 * Sections: the RUN sandbox (below); the build engine is added later.
 */
#ifndef IMGBUILD_BUILDER_H
#define IMGBUILD_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct ib_buf;

/* ================================ sandbox ================================
 *
 * sandbox_run() runs one RUN step: a process tree in new mount, PID, UTS,
 * IPC and cgroup namespaces (plus a network namespace with only `lo` for
 * SANDBOX_NET_NONE), whose root is an overlay of read-only lower dirs and a
 * fresh upper dir, limited by a cgroup, with the default container
 * capabilities, no_new_privs and a seccomp filter.  When it returns every
 * process of the step is gone and the upper dir holds exactly the step's
 * change (overlay format: whiteouts are 0/0 char devices, opaque dirs carry
 * trusted.overlay.opaque).  Must run as root.
 */

enum sandbox_net {
    SANDBOX_NET_HOST = 0, /* the host's network (BuildKit's default without CNI) */
    SANDBOX_NET_NONE,     /* a new network namespace with only loopback, up */
};

struct sandbox_rlimit {
    int resource; /* RLIMIT_* */
    uint64_t soft, hard;
};

struct sandbox_limits {
    int64_t memory;      /* bytes; 0 = no limit */
    int64_t memory_swap; /* memory + swap in bytes; 0 = equal to memory (no swap), -1 = unlimited */
    int64_t cpu_quota;   /* microseconds of CPU per period; 0 = no limit */
    uint64_t cpu_period; /* microseconds; 0 = 100000 */
    uint64_t cpu_shares; /* relative weight (v1 shares, 2..262144); 0 = default */
    int64_t pids;        /* maximum number of tasks; 0 = no limit */
};

struct sandbox_cfg {
    /* The root filesystem: lowers[0] is the topmost read-only layer, lowers[nlowers-1] the
     * lowest (the order of overlayfs' lowerdir=).  upper and work are empty dirs on one fs. */
    const char *const *lowers;
    size_t nlowers;
    const char *upper;
    const char *work;
    const char *const *argv; /* exec form; argv[0] is looked up in the env's PATH */
    const char *const *env;  /* "K=V", NULL-terminated; PATH and HOME get defaults */
    const char *workdir;     /* NULL: "/"; created if missing, owned by the user */
    const char *user;        /* NULL: root; name, uid, uid:gid, name:group (image's files) */
    const char *hostname;    /* NULL: "imgbuild" */
    enum sandbox_net net;
    struct sandbox_limits limits;
    const struct sandbox_rlimit *rlimits; /* ulimits */
    size_t nrlimits;
    /* Parent of the step's cgroup: relative to imgbuild's own cgroup, or absolute from the
     * hierarchy's root when it starts with '/'.  NULL: "imgbuild". */
    const char *cgroup_parent;
    /* Where the per-step /etc/hosts, /etc/resolv.conf and /etc/hostname and the mount point
     * live (outside the upper dir).  NULL: a temporary dir made and removed by sandbox_run. */
    const char *scratch_dir;
    int stdio[3];      /* the command's stdin, stdout, stderr; -1 = /dev/null */
    bool legacy_mount; /* mount the overlay with mount(2) options instead of fsconfig */
};

struct sandbox_result {
    int exit_code;        /* the command's exit status when signal is 0 */
    int signal;           /* the signal that killed the command, or 0 */
    bool oom_killed;      /* the cgroup's OOM killer killed a process of the step */
    int64_t memory_limit; /* the limit in force (bytes; 0 = none), for messages */
    uint64_t cpu_usec;    /* CPU time of the whole step (user + system), from the cgroup */
    uint64_t mem_peak;    /* peak memory use of the step in bytes, from the cgroup (0: unknown) */
    uint64_t wall_usec;   /* from clone to the end of the step */
};

/* Defaults: stdio 0, 1, 2; everything else zero/NULL. */
void sandbox_cfg_init(struct sandbox_cfg *cfg);
/* Run one step.  Returns 0 when the command ran (whatever its exit status: see *res) and -1
 * when the sandbox could not be set up (IB_E_SANDBOX, or IB_E_SYS with errno). */
int sandbox_run(const struct sandbox_cfg *cfg, struct sandbox_result *res, struct ib_err **err);
/* True when the step succeeded (exit status 0, no signal, no OOM kill). */
bool sandbox_result_ok(const struct sandbox_result *res);
/* "exit status 3", "killed by signal 9 (Killed)", "killed: out of memory, limit 64 MiB". */
void sandbox_result_describe(const struct sandbox_result *res, struct ib_buf *out);
/* "64m", "1g", "512k", "1048576", "1.5g" (binary units, as docker) -> bytes. */
int sandbox_parse_bytes(const char *s, int64_t *out, struct ib_err **err);
/* "nofile=1024:2048", "nproc=512" (soft[:hard], "unlimited" or -1 allowed). */
int sandbox_parse_ulimit(const char *s, struct sandbox_rlimit *out, struct ib_err **err);

#endif
