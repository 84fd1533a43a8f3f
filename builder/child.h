/* builder/child.h: what sandbox.c hands to the cloned child (internal to builder/). */
#ifndef IMGBUILD_BUILDER_CHILD_H
#define IMGBUILD_BUILDER_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "builder/sandbox.h"

struct sock_fprog;

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
    char *stack; /* for the command's process until it execs */
    size_t stacksz;
};

/* The child's entry point after clone(); never returns. */
_Noreturn void sandbox_child_main(struct child_plan *plan);

#endif
