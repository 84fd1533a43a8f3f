/* builder/seccomp.c: the default seccomp filter of a RUN step.
 *
 * An allow-by-default filter that makes what container runtimes block by
 * default fail with EPERM: kernel keyrings, module loading, kexec, reboot,
 * swap, clock setting, accounting, quotas, BPF, perf events, userfaultfd,
 * file handles, cross-process memory access, the mount API, pivot_root,
 * unshare/setns and clone with namespace flags (clone3 gets ENOSYS, as in
 * Docker, so libc falls back to clone, whose flags the filter can see).
 *
 * libseccomp builds it once per process for the native architecture and
 * its compat ones (x86 and x32 on x86_64); it is exported as plain BPF so the
 * child only needs one seccomp(2) call and no allocation.
 * (RUN --security=insecure gets no filter at all, see child.c.)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/filter.h>

#include "builder/sandbox.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

static const char *const blocked[] = {
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "clock_settime64",
    "create_module",
    "delete_module",
    "finit_module",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "migrate_pages",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "_sysctl",
    "sysfs",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    "syslog",
};

static const unsigned long ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */,
};

static void
ctx_release(scmp_filter_ctx *c)
{
    if (*c)
        seccomp_release(*c);
}

static int
build(struct sock_fprog *out, struct ib_err **err)
{
    __attribute__((cleanup(ctx_release))) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return ib_fail(err, IB_E_SANDBOX, "seccomp_init failed");
    int rc = 0;
    /* add the compat ABIs so a 32-bit binary cannot sidestep the list */
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        if ((rc = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0 && rc != -EEXIST)
            return ib_fail_sys(err, -rc, "seccomp: add x86");
        if ((rc = seccomp_arch_add(ctx, SCMP_ARCH_X32)) < 0 && rc != -EEXIST)
            return ib_fail_sys(err, -rc, "seccomp: add x32");
    }
    for (size_t i = 0; i < sizeof(blocked) / sizeof(*blocked); i++) {
        int nr = seccomp_syscall_resolve_name(blocked[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        if (rc < 0 && rc != -EEXIST)
            return ib_fail_sys(err, -rc, "seccomp: rule for '%s'", blocked[i]);
    }
    for (size_t i = 0; i < sizeof(ns_flags) / sizeof(*ns_flags); i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
        if (rc < 0)
            return ib_fail_sys(err, -rc, "seccomp: rule for clone");
    }
    int clone3 = seccomp_syscall_resolve_name("clone3");
    if (clone3 != __NR_SCMP_ERROR) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
        if (rc < 0)
            return ib_fail_sys(err, -rc, "seccomp: rule for clone3");
    }
    /* export the BPF through a memfd and keep it */
    AUTO_FD int fd = memfd_create("imgbuild-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "memfd_create");
    if ((rc = seccomp_export_bpf(ctx, fd)) < 0)
        return ib_fail_sys(err, -rc, "seccomp: export BPF");
    if (lseek(fd, 0, SEEK_SET) < 0)
        return ib_fail_errno(err, "seccomp: rewind");
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    if (ib_read_fd(fd, &b, "seccomp BPF", err) < 0)
        return -1;
    if (b.len == 0 || b.len % sizeof(struct sock_filter) != 0 ||
        b.len / sizeof(struct sock_filter) > 0xffff)
        return ib_fail(err, IB_E_SANDBOX, "seccomp: bad BPF program size %zu", b.len);
    out->len = (unsigned short)(b.len / sizeof(struct sock_filter));
    out->filter = (struct sock_filter *)(void *)ib_buf_detach(&b, NULL);
    return 0;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sock_fprog prog;

__attribute__((destructor)) static void
free_prog(void)
{
    free(prog.filter);
    prog.filter = NULL;
}

int
sandbox_seccomp_prog(const struct sock_fprog **out, struct ib_err **err)
{
    pthread_mutex_lock(&lock);
    int rc = prog.filter ? 0 : build(&prog, err);
    pthread_mutex_unlock(&lock);
    if (rc == 0)
        *out = &prog;
    return rc;
}
