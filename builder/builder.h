/* builder/builder.h: the public interface of builder/.
 *
 * Sections: the RUN sandbox; the build engine (builder_build).
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

/* Extra mounts of a step (RUN --mount).  The target is resolved inside the rootfs (symlinks
 * in it never lead out), missing components are created as mount points that the upper dir
 * does not keep, and mounts are attached after /dev, /proc, /sys and /etc, parents first. */
enum sandbox_mount_type {
    SANDBOX_MOUNT_BIND = 1, /* source bound at target (a dir or a file) */
    SANDBOX_MOUNT_TMPFS,    /* a new tmpfs: size, mode, uid, gid */
    SANDBOX_MOUNT_FILE,     /* one file holding data on a private tmpfs (secrets) */
};

struct sandbox_mount {
    enum sandbox_mount_type type;
    const char *target; /* absolute path inside the rootfs */
    /* BIND: a host path, or with nlowers > 0 a path inside an overlay of lowers (topmost
     * first), resolved inside that view; writes to such a view go to a throwaway upper
     * dir (discarded when the step ends). */
    const char *source;
    const char *const *lowers;
    size_t nlowers;
    bool readonly;    /* read-only, recursively (FILE: always) */
    int64_t size;     /* TMPFS: bytes; 0 = the kernel's default */
    int mode;         /* TMPFS root (default 01777), FILE (default 0400); -1 = default */
    int64_t uid, gid; /* TMPFS root, FILE: owner; -1 = 0 */
    const void *data; /* FILE: contents */
    size_t len;
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
    /* More /etc/hosts lines ("IP\tNAME\n"...; build --add-host), or NULL */
    const char *extra_hosts;
    enum sandbox_net net;
    struct sandbox_limits limits;
    const struct sandbox_rlimit *rlimits; /* ulimits */
    size_t nrlimits;
    int64_t shm_size; /* bytes of /dev/shm; 0 = 64 MiB (Docker's default) */
    /* Parent of the step's cgroup: relative to imgbuild's own cgroup, or absolute from the
     * hierarchy's root when it starts with '/'.  NULL: "imgbuild". */
    const char *cgroup_parent;
    /* Where the per-step /etc/hosts, /etc/resolv.conf and /etc/hostname and the mount point
     * live (outside the upper dir).  NULL: a temporary dir made and removed by sandbox_run. */
    const char *scratch_dir;
    const struct sandbox_mount *mounts; /* RUN --mount */
    size_t nmounts;
    int stdio[3];      /* the command's stdin, stdout, stderr; -1 = /dev/null */
    bool legacy_mount; /* mount the overlay with mount(2) options instead of fsconfig */
    /* Return as soon as the command and everything it started are gone (the init reaps
     * them all and reports): the upper dir is then complete.  The rest of the teardown (the
     * init's exit, which unmounts the step's mounts, and removing the cgroup, the scratch
     * dir and cfg->work, which the sandbox then owns) runs on a background thread; see
     * sandbox_settle.  Only without RUN mounts (nmounts == 0). */
    bool async_teardown;
    /* RUN --security=insecure (BuildKit's entitlement security.insecure): every capability,
     * no seccomp filter and no no_new_privs, /sys writable, no masked or read-only /proc
     * paths, the devices BuildKit adds (fuse, kvm, tun, loop, ...); still in the step's
     * namespaces and cgroup. */
    bool insecure;
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
/* Wait until every teardown left by async_teardown steps has finished and remove the spare
 * cgroup made ahead for the next step; a program calls it before it exits.  (sandbox_run
 * itself waits only for earlier steps' inits to exit before it mounts: an upper dir still
 * held by a dying overlay must not become a lower.) */
void sandbox_settle(void);
/* True when the step succeeded (exit status 0, no signal, no OOM kill). */
bool sandbox_result_ok(const struct sandbox_result *res);
/* "exit status 3", "killed by signal 9 (Killed)", "killed: out of memory, limit 64 MiB". */
void sandbox_result_describe(const struct sandbox_result *res, struct ib_buf *out);
/* "64m", "1g", "512k", "1048576", "1.5g" (binary units, as docker) -> bytes. */
int sandbox_parse_bytes(const char *s, int64_t *out, struct ib_err **err);
/* "nofile=1024:2048", "nproc=512" (soft[:hard], "unlimited" or -1 allowed). */
int sandbox_parse_ulimit(const char *s, struct sandbox_rlimit *out, struct ib_err **err);

/* ================================= build =================================
 *
 * builder_build() builds a Dockerfile into an image in an open store: stages
 * in dependency order, every instruction with BuildKit's meaning, RUN in the
 * sandbox, COPY/ADD from the context (with .dockerignore) or other stages,
 * and a layer cache in the store.  It never prints: progress goes to the
 * caller's callback as events.  Tags and exports are the caller's business
 * (store_tag, store_save, builder_export_rootfs).
 */

struct store;
struct registry_client;

enum build_event_kind {
    BUILD_EV_STEP_START = 1, /* a step begins: text = "[stage i/n] INSTRUCTION" */
    BUILD_EV_STEP_CACHED,    /* the step's result came from the cache */
    BUILD_EV_STEP_OUTPUT,    /* one line of RUN output (text, len; no newline) */
    BUILD_EV_STEP_DONE,      /* the step ended well (seconds; run for RUN steps) */
    BUILD_EV_STEP_ERROR,     /* the step failed (text = short reason) */
    BUILD_EV_EXPLAIN,        /* why a step missed the cache (text) */
    BUILD_EV_WARNING,        /* text */
    BUILD_EV_INFO,           /* text (e.g. "writing image sha256:...") */
};

struct build_event {
    enum build_event_kind kind;
    unsigned step; /* #N, 1-based; 0 for build-wide events */
    const char *text;
    size_t len;
    double seconds;                   /* STEP_DONE / STEP_CACHED: wall time of the step */
    const struct sandbox_result *run; /* STEP_DONE of a RUN step, else NULL */
};

typedef void (*build_progress_fn)(void *ctx, const struct build_event *ev);

struct build_opts {
    const char *context_dir;     /* NULL: no context (Dockerfile from stdin with context "-") */
    const char *dockerfile;      /* path (for messages and <Dockerfile>.dockerignore) or "-" */
    const char *dockerfile_data; /* its bytes */
    size_t dockerfile_len;
    char *const *tags; /* names for the image (none: it is listed untagged) */
    size_t ntags;
    char *const *build_args; /* "K=V" or "K" (value from the environment) */
    size_t nbuild_args;
    /* RUN --mount=type=secret sources: "id=ID,src=PATH", "id=ID,env=VAR" or "id=ID" (the
     * environment variable ID); never stored in the image or the cache. */
    char *const *secrets;
    size_t nsecrets;
    /* RUN --mount=type=ssh agents: "ID[=SOCKET|KEY[,KEY...]]" (BuildKit's --ssh; no path:
     * $SSH_AUTH_SOCK).  Key files are served by an ssh-agent started for the build. */
    char *const *ssh;
    size_t nssh;
    bool allow_insecure; /* the entitlement security.insecure: RUN --security=insecure */
    /* build --add-host: "NAME:IP" or "NAME=IP" (IPv6 may be in brackets), added to every
     * RUN's /etc/hosts; checked by build_add_hosts */
    char *const *add_hosts;
    size_t nadd_hosts;
    /* build --ulimit NAME=SOFT[:HARD] and --shm-size, for every RUN (in RUN's key) */
    const struct sandbox_rlimit *ulimits;
    size_t nulimits;
    int64_t shm_size; /* bytes; 0 = the default (64 MiB) */
    /* --build-context NAME=VALUE (see builder_context_parse); a name at most once. */
    char *const *contexts;
    size_t ncontexts;
    char *const *labels; /* "K=V", added to the final image */
    size_t nlabels;
    const char *target;   /* stage name or NULL */
    const char *platform; /* "os/arch[/variant]" or NULL */
    bool no_cache;        /* run every step (entries are still recorded) */
    /* --no-cache-filter: names of stages whose steps run (as no_cache) */
    char *const *no_cache_filter;
    size_t nno_cache_filter;
    bool pull;            /* always resolve base images through the registry */
    bool explain_cache;   /* report which input changed for every miss */
    enum sandbox_net net; /* RUN's network (RUN --network=... overrides) */
    struct sandbox_limits limits;
    int max_parallel; /* stages built at once; 0 = 2 */
    /* Pulls of base images (FROM, COPY --from=<image>) missing from the store or with
     * pull, and ADD <url> downloads.  Borrowed; NULL: a client with default options is
     * made when one is needed. */
    struct registry_client *registry;
    build_progress_fn progress;
    void *progress_ctx;
};

/* build --add-host entries ("NAME:IP", "NAME=IP"; an IPv6 address may be in brackets) as
 * /etc/hosts lines "IP\tNAME\n"; *out: caller frees.  A bad entry is a usage error. */
int build_add_hosts(char *const *v, size_t n, char **out, struct ib_err **err);

struct build_result {
    char id[80];     /* "sha256:..." image id (config digest) */
    char digest[80]; /* "sha256:..." manifest digest */
    unsigned steps, cached;
};

/* A named build context (`--build-context NAME=VALUE`, as BuildKit's): FROM NAME,
 * COPY --from=NAME and RUN --mount=from=NAME use it instead of a stage or an image of
 * that name. */
struct build_context {
    char *name;          /* lowercase letters, digits, '-', '_', '.'; a letter first */
    char *image;         /* docker-image://REF: REF; else NULL */
    char *dir;           /* a local directory (as given); else NULL */
    char *layout;        /* oci-layout://PATH[:TAG][@sha256:DIGEST]: PATH; else NULL */
    char *layout_tag;    /* its TAG, or NULL */
    char *layout_digest; /* its "sha256:<hex>", or NULL */
};

/* Parse "NAME=VALUE" (pure: the directory is not looked at).  VALUE is docker-image://REF,
 * oci-layout://PATH[:TAG][@sha256:DIGEST] (TAG: after the last ':' past the last '/') or a
 * directory; other forms (git and http(s) URLs, target:) are IB_E_USAGE errors, as are a
 * bad name, a bad digest or a missing value.  *out: builder_context_release. */
int builder_context_parse(const char *spec, struct build_context *out, struct ib_err **err);
void builder_context_release(struct build_context *c);

/* Build.  The image is committed to the store and tagged with o->tags (untagged, listed by
 * its id, when there are none); tags change only when the build succeeded.
 * Build failures are IB_E_BUILD (a failing RUN names FILE:LINE, the command,
 * its status and the output tail); a bad Dockerfile is IB_E_PARSE. */
int builder_build(struct store *st, const struct build_opts *o, struct build_result *res,
                  struct ib_err **err);

/* Write the image's root filesystem (layers applied) into the directory dir
 * (created if missing), or as a tar stream to fd when dir is NULL. */
int builder_export_rootfs(struct store *st, const char *image, const char *dir, int fd,
                          struct ib_err **err);

#endif
