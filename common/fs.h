/* common/fs.h: file helpers shared by every module. */
#ifndef IMGBUILD_COMMON_FS_H
#define IMGBUILD_COMMON_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"

/* "a" + "b" -> "a/b" (no doubled slash); caller frees. */
char *ib_path_join(const char *a, const char *b);
/* Append the whole of fd to b (up to b's limit, if set). */
int ib_read_fd(int fd, struct ib_buf *b, const char *what, struct ib_err **err);
/* Read a whole file ("-" is stdin) into b. */
int ib_read_file(const char *path, struct ib_buf *b, struct ib_err **err);
/* write(2) all of it, retrying on EINTR and short writes. */
int ib_write_all(int fd, const void *p, size_t n, const char *what, struct ib_err **err);
/* Write name in dirfd atomically: temp file in the same dir, fsync, rename, fsync dir. */
int ib_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                    struct ib_err **err);
/* Like ib_write_atomic but without fsync: the rename is atomic, yet after a crash the file
 * may be missing or empty.  Only for data whose loss is harmless (caches, diagnostics);
 * readers must treat a damaged file as absent. */
int ib_write_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                     struct ib_err **err);
/* fsync a directory. */
int ib_fsync_dir(int dirfd, const char *what, struct ib_err **err);
/* mkdir -p relative to dirfd (AT_FDCWD for cwd). */
int ib_mkdir_p(int dirfd, const char *path, mode_t mode, struct ib_err **err);
/* rm -rf name under dirfd, never following symlinks; a missing name is fine. */
int ib_rm_rf_at(int dirfd, const char *name, struct ib_err **err);
/* Ask the filesystem to place each new subdirectory of dirfd (a new, independent tree) in
 * a block group of its own, as for home directories (ext4's "top of directory hierarchy"
 * flag, FS_TOPDIR_FL; chattr +T).  Best effort: false where the filesystem has no such
 * flag.  Why: ext4 otherwise allocates a new tree's inodes next to its parent's, and when
 * many inodes were freed there in the last ~30 s each allocation scans past them. */
bool ib_fs_spread_subdirs(int dirfd);

#endif
