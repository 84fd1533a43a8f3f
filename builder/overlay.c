/* builder/overlay.c: the step's root filesystem, an overlay of the image's layers.
 *
 * Options index=off, redirect_dir=off and metacopy=off keep the upper dir a
 * self-contained diff (no redirects or metacopy-only files pointing into the
 * lowers).  The new mount API adds one lower per fsconfig("lowerdir+") call
 * (Linux >= 6.8), so the number of layers is not limited by the size of a
 * mount option string; otherwise mount(2) gets "lowerdir=a:b:c", with the
 * lowers named /proc/self/fd/N when their paths would not fit in a page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "builder/sandbox.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/banned.h"

#define OVERLAY_FIXED_OPTS "index=off,redirect_dir=off,metacopy=off"

static bool
needs_fd(const char *path)
{
    return strpbrk(path, ":,\\") != NULL;
}

int
overlay_plan_init(struct overlay_plan *p, const char *const *lowers, size_t nlowers,
                  const char *upper, const char *work, bool legacy, struct ib_err **err)
{
    memset(p, 0, sizeof(*p));
    if (nlowers == 0)
        return ib_fail(err, IB_E_SANDBOX, "the overlay needs at least one lower dir");
    if (needs_fd(upper) || needs_fd(work))
        return ib_fail(err, IB_E_SANDBOX,
                       "upper and work dirs may not contain ':', ',' or '\\': '%s', '%s'", upper,
                       work);
    p->lowers = lowers;
    p->nlowers = nlowers;
    p->upper = upper;
    p->work = work;
    p->legacy_only = legacy;

    AUTO_BUF struct ib_buf o = IB_BUF_INIT;
    bool use_fds = false;
    size_t total = 0;
    for (size_t i = 0; i < nlowers; i++) {
        total += strlen(lowers[i]) + 1;
        use_fds |= needs_fd(lowers[i]);
    }
    /* the kernel copies at most one page of mount(2) data */
    if (total + strlen(upper) + strlen(work) + 64 + sizeof(OVERLAY_FIXED_OPTS) > 4000)
        use_fds = true;
    if (use_fds)
        p->lower_fds = ib_xcalloc(nlowers, sizeof(int));
    ib_buf_adds(&o, "lowerdir=");
    for (size_t i = 0; i < nlowers; i++) {
        if (i)
            ib_buf_addc(&o, ':');
        if (use_fds) {
            int fd = open(lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0) {
                for (size_t j = 0; j < i; j++)
                    close(p->lower_fds[j]);
                free(p->lower_fds);
                p->lower_fds = NULL;
                return ib_fail_errno(err, "open lower dir '%s'", lowers[i]);
            }
            p->lower_fds[i] = fd;
            ib_buf_addf(&o, "/proc/self/fd/%d", fd);
        } else {
            ib_buf_adds(&o, lowers[i]);
        }
    }
    ib_buf_addf(&o, ",upperdir=%s,workdir=%s," OVERLAY_FIXED_OPTS, upper, work);
    if (o.len >= 4096) {
        overlay_plan_release(p);
        return ib_fail(err, IB_E_SANDBOX, "too many lower dirs for mount(2) (%zu)", nlowers);
    }
    p->legacy_opts = ib_buf_detach(&o, NULL);
    return 0;
}

void
overlay_plan_release(struct overlay_plan *p)
{
    if (p->lower_fds)
        for (size_t i = 0; i < p->nlowers; i++)
            close(p->lower_fds[i]);
    free(p->lower_fds);
    free(p->legacy_opts);
    memset(p, 0, sizeof(*p));
}

/* Child-safe: the fs context's log ("e overlay: ...") into msg after a prefix. */
static void
take_log(int fs, const char *what, char *msg, size_t msgsz)
{
    int saved = errno;
    size_t n = (size_t)snprintf(msg, msgsz, "%s", what);
    for (;;) {
        char line[256];
        ssize_t r = read(fs, line, sizeof(line) - 1);
        if (r <= 0)
            break;
        line[r] = '\0';
        if (n + 4 < msgsz)
            n += (size_t)snprintf(msg + n, msgsz - n, " (%s)", line);
    }
    errno = saved;
}

static int
mount_legacy(const struct overlay_plan *p, const char *target, char *msg, size_t msgsz)
{
    /* The parent's fds name mounts of its own mount namespace, which overlayfs refuses
     * ("failed to clone lowerpath"): reopen the lowers here, on the same fd numbers. */
    for (size_t i = 0; p->lower_fds && i < p->nlowers; i++) {
        int fd = open(p->lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || dup3(fd, p->lower_fds[i], O_CLOEXEC) < 0) {
            snprintf(msg, msgsz, "open lower dir '%s'", p->lowers[i]);
            return -1;
        }
        close(fd);
    }
    if (mount("overlay", target, "overlay", MS_NOSUID | MS_NODEV, p->legacy_opts) < 0) {
        snprintf(msg, msgsz, "mount overlay on '%s' with mount(2)", target);
        return -1;
    }
    return 0;
}

/* Configure the fs context; 1: no lowerdir+ on this kernel (caller falls back). */
static int
configure(int fs, const struct overlay_plan *p, char *msg, size_t msgsz)
{
    static const char *const kv[][2] = {
        {"index", "off"}, {"redirect_dir", "off"}, {"metacopy", "off"}};
    for (size_t i = 0; i < p->nlowers; i++) {
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", p->lowers[i], 0) < 0) {
            if (i == 0 && errno == EINVAL)
                return 1;
            take_log(fs, "overlay lower dir", msg, msgsz);
            return -1;
        }
    }
    if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", p->upper, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "workdir", p->work, 0) < 0) {
        take_log(fs, "overlay upper/work dir", msg, msgsz);
        return -1;
    }
    for (size_t i = 0; i < 3; i++) {
        if (fsconfig(fs, FSCONFIG_SET_STRING, kv[i][0], kv[i][1], 0) < 0) {
            take_log(fs, "overlay option", msg, msgsz);
            return -1;
        }
    }
    /* volatile: no syncs of the upper fs, at umount either; imgbuild makes a step's
     * result durable itself, once, when it commits the upper dir (Linux >= 5.10) */
    if (fsconfig(fs, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0 && errno != EINVAL) {
        take_log(fs, "overlay option", msg, msgsz);
        return -1;
    }
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        take_log(fs, "create overlay", msg, msgsz);
        return -1;
    }
    return 0;
}

/* Returns 1 when the new API is unavailable (caller falls back). */
static int
mount_fsconfig(const struct overlay_plan *p, const char *target, char *msg, size_t msgsz)
{
    AUTO_FD int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0) {
        if (errno == ENOSYS)
            return 1;
        snprintf(msg, msgsz, "fsopen overlay");
        return -1;
    }
    int rc = configure(fs, p, msg, msgsz);
    if (rc != 0)
        return rc;
    AUTO_FD int mfd = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (mfd < 0) {
        take_log(fs, "fsmount overlay", msg, msgsz);
        return -1;
    }
    if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        snprintf(msg, msgsz, "move overlay mount to '%s'", target);
        return -1;
    }
    return 0;
}

int
overlay_mount_child(const struct overlay_plan *p, const char *target, char *msg, size_t msgsz)
{
    if (!p->legacy_only) {
        int rc = mount_fsconfig(p, target, msg, msgsz);
        if (rc <= 0)
            return rc;
    }
    return mount_legacy(p, target, msg, msgsz);
}
