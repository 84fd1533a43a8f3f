/* common/err.h: the one error type every module passes up.
 *
 * A fallible call returns int (0 on success, -1 on failure) and takes
 * `struct ib_err **err` last; it sets *err only when it fails.  Only
 * cli/main.c prints an error or turns it into an exit status.
 */
#ifndef IMGBUILD_COMMON_ERR_H
#define IMGBUILD_COMMON_ERR_H

#define IB_PRINTF(f, a) __attribute__((format(printf, f, a)))

enum ib_errkind {
    IB_E_SYS = 1,  /* a system call failed; sys holds errno */
    IB_E_USAGE,    /* bad command line */
    IB_E_PARSE,    /* bad Dockerfile or other user-written input */
    IB_E_STORE,    /* store damaged or entry missing */
    IB_E_REGISTRY, /* registry or network */
    IB_E_SANDBOX,  /* RUN sandbox */
    IB_E_BUILD,    /* a build step failed */
    IB_E_BUG,      /* an internal invariant broke */
};

struct ib_err {
    enum ib_errkind kind;
    int sys;   /* saved errno, or 0 */
    char *msg; /* never NULL */
};

/* Set *err (if err is not NULL) and return -1. */
int ib_fail(struct ib_err **err, enum ib_errkind kind, const char *fmt, ...) IB_PRINTF(3, 4);
/* Like ib_fail with IB_E_SYS, appending ": strerror(errno)". */
int ib_fail_errno(struct ib_err **err, const char *fmt, ...) IB_PRINTF(2, 3);
/* Same, with an explicit errno value. */
int ib_fail_sys(struct ib_err **err, int sys, const char *fmt, ...) IB_PRINTF(3, 4);
/* Prefix the message of an existing error with "<prefix>: "; returns -1. */
int ib_err_prefix(struct ib_err **err, const char *fmt, ...) IB_PRINTF(2, 3);
void ib_err_free(struct ib_err *err);

#endif
