/* builder/child.h: what sandbox.c hands to the cloned child (internal to builder/). */
#ifndef IMGBUILD_BUILDER_CHILD_H
#define IMGBUILD_BUILDER_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "builder/sandbox.h"

struct sock_fprog;

/* One RUN --mount as the child sees it (mounts.c). */
struct child_mount {
    const struct sandbox_mount *m;
    struct overlay_plan ov; /* BIND with lowers: the view, mounted on mnt */
    char *dir;              /* <scratch>/mN: mnt, upper, work (NULL when not needed) */
    char *mnt;
    char *file; /* FILE: <mnt>/data */
    int tree;   /* child: the detached mount, until it is attached */
};

/* Everything the child needs, prepared by the parent: the child allocates nothing. */
struct child_plan {
    const struct sandbox_cfg *cfg;
    struct overlay_plan ov;
    const char *root;   /* empty dir outside the upper dir: the overlay's mount point */
    char *etc_paths[3]; /* the per-step hosts, resolv.conf, hostname files */
    int upper_fd;       /* O_PATH fd of the upper dir (was a stub's parent there before?) */
    int sync_rd;        /* the parent writes one byte once the child is in its cgroup */
    int msg_wr;         /* child -> parent records (struct child_msg); CLOEXEC */
    int status_wr;      /* init -> parent: the command's wait status; CLOEXEC */
    int close_fds[3];   /* the parent's ends of the pipes */
    const struct sock_fprog *seccomp;
    char **argv;
    char **env;       /* NULL-terminated, with one spare slot for HOME */
    size_t envn;      /* entries in env */
    bool need_home;   /* env has no HOME: the child adds the user's */
    const char *path; /* PATH value used to look up argv[0] */
    const char *hostname;
    uint64_t caps; /* capability bits to keep (bounding, and P/E/I for root) */
    int last_cap;
    char *passwd, *group; /* buffers for the image's files */
    size_t bufsz;
    char home_env[300];
    struct child_mount *mounts; /* sorted by target: parents first */
    size_t nmounts;
    char *stack; /* for the command's process until it execs */
    size_t stacksz;
};

/* ---- mounts.c ---- */
/* Parent: validate cfg->mounts and prepare plan->mounts (dirs under scratch). */
int sandbox_mounts_plan(const struct sandbox_cfg *cfg, const char *scratch, struct child_plan *p,
                        struct ib_err **err);
/* Parent: free plan->mounts and remove their dirs. */
void sandbox_mounts_release(struct child_plan *p);
/* Child-safe, before pivot_root: make every mount as a detached tree. */
int child_mounts_prepare(struct child_plan *p, char *msg, size_t msgsz);
/* Child-safe, after pivot_root and /dev, /proc, /etc: attach them at their targets
 * (resolved inside the root, missing ones created and reported as stubs). */
int child_mounts_attach(struct child_plan *p, char *msg, size_t msgsz);

/* child.c: send one record to the parent. */
void child_send(const struct child_msg *m);
/* mtime (and atime, if not NULL) of st as {seconds, nanoseconds}, for the parent's report. */
void child_stat_times(const struct stat *st, int64_t mtime[2], int64_t atime[2]);

/* The child's entry point after clone(); never returns. */
_Noreturn void sandbox_child_main(struct child_plan *plan);

#endif
