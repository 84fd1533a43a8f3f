/* store/archive_load.c: libarchive, loaded on first use.
 *
 * imgbuild is not linked with libarchive: Debian's libarchive13 pulls in
 * libxml2, ICU and libstdc++, whose loading and relocation cost every
 * command ~5 ms of start-up, although pull, push, login, images, inspect and
 * a fully cached build never read or write a tar.  This file defines the
 * libarchive functions the store calls as thin wrappers; the first call
 * dlopen()s libarchive.so.13 and looks the real functions up, once for the
 * process (pthread_once).
 *
 * libarchive is a hard dependency, as it was when linked: if it cannot be
 * loaded the process stops at that first call with the loader's reason and
 * status 127, as the dynamic loader would have at start-up.
 *
 * A libarchive function used elsewhere must be added to ARCHIVE_FUNCS (the
 * link fails until it is); the compiler checks each signature against
 * archive.h.  The wrappers are hidden: the executable must not export them,
 * or they would interpose libarchive's calls to itself.
 */
#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/dl.h"
#include "common/banned.h"

#define ARCHIVE_SONAME "libarchive.so.13"

/* F(return type, name, parameters, arguments); V(name, ...) for the void ones */
/* clang-format off */
#define ARCHIVE_FUNCS(F, V) \
    F(struct archive_entry *, archive_entry_clear, (struct archive_entry *a0), (a0)) \
    F(__LA_MODE_T, archive_entry_filetype, (struct archive_entry *a0), (a0)) \
    V(archive_entry_free, (struct archive_entry *a0), (a0)) \
    F(la_int64_t, archive_entry_gid, (struct archive_entry *a0), (a0)) \
    F(const char *, archive_entry_hardlink, (struct archive_entry *a0), (a0)) \
    F(__LA_MODE_T, archive_entry_mode, (struct archive_entry *a0), (a0)) \
    F(time_t, archive_entry_mtime, (struct archive_entry *a0), (a0)) \
    F(int, archive_entry_mtime_is_set, (struct archive_entry *a0), (a0)) \
    F(long, archive_entry_mtime_nsec, (struct archive_entry *a0), (a0)) \
    F(struct archive_entry *, archive_entry_new, (void), ()) \
    F(const char *, archive_entry_pathname, (struct archive_entry *a0), (a0)) \
    F(__LA_MODE_T, archive_entry_perm, (struct archive_entry *a0), (a0)) \
    F(dev_t, archive_entry_rdevmajor, (struct archive_entry *a0), (a0)) \
    F(dev_t, archive_entry_rdevminor, (struct archive_entry *a0), (a0)) \
    V(archive_entry_set_filetype, (struct archive_entry *a0, unsigned int a1), (a0, a1)) \
    V(archive_entry_set_gid, (struct archive_entry *a0, la_int64_t a1), (a0, a1)) \
    V(archive_entry_set_hardlink, (struct archive_entry *a0, const char *a1), (a0, a1)) \
    V(archive_entry_set_mode, (struct archive_entry *a0, __LA_MODE_T a1), (a0, a1)) \
    V(archive_entry_set_mtime, (struct archive_entry *a0, time_t a1, long a2), (a0, a1, a2)) \
    V(archive_entry_set_pathname, (struct archive_entry *a0, const char *a1), (a0, a1)) \
    V(archive_entry_set_perm, (struct archive_entry *a0, __LA_MODE_T a1), (a0, a1)) \
    V(archive_entry_set_rdevmajor, (struct archive_entry *a0, dev_t a1), (a0, a1)) \
    V(archive_entry_set_rdevminor, (struct archive_entry *a0, dev_t a1), (a0, a1)) \
    V(archive_entry_set_size, (struct archive_entry *a0, la_int64_t a1), (a0, a1)) \
    V(archive_entry_set_symlink, (struct archive_entry *a0, const char *a1), (a0, a1)) \
    V(archive_entry_set_uid, (struct archive_entry *a0, la_int64_t a1), (a0, a1)) \
    F(la_int64_t, archive_entry_size, (struct archive_entry *a0), (a0)) \
    F(const char *, archive_entry_symlink, (struct archive_entry *a0), (a0)) \
    F(la_int64_t, archive_entry_uid, (struct archive_entry *a0), (a0)) \
    F(const char *, archive_entry_uname, (struct archive_entry *a0), (a0)) \
    V(archive_entry_xattr_add_entry, (struct archive_entry *a0, const char *a1, const void *a2, size_t a3), (a0, a1, a2, a3)) \
    F(int, archive_entry_xattr_next, (struct archive_entry *a0, const char **a1, const void **a2, size_t *a3), (a0, a1, a2, a3)) \
    F(int, archive_entry_xattr_reset, (struct archive_entry *a0), (a0)) \
    F(int, archive_errno, (struct archive *a0), (a0)) \
    F(const char *, archive_error_string, (struct archive *a0), (a0)) \
    F(la_ssize_t, archive_read_data, (struct archive *a0, void *a1, size_t a2), (a0, a1, a2)) \
    F(int, archive_read_data_block, (struct archive *a0, const void **a1, size_t *a2, la_int64_t *a3), (a0, a1, a2, a3)) \
    F(int, archive_read_data_skip, (struct archive *a0), (a0)) \
    F(int, archive_read_free, (struct archive *a0), (a0)) \
    F(struct archive *, archive_read_new, (void), ()) \
    F(int, archive_read_next_header, (struct archive *a0, struct archive_entry **a1), (a0, a1)) \
    F(int, archive_read_open2, (struct archive *a0, void *a1, archive_open_callback *a2, archive_read_callback *a3, archive_skip_callback *a4, archive_close_callback *a5), (a0, a1, a2, a3, a4, a5)) \
    F(int, archive_read_open_fd, (struct archive *a0, int a1, size_t a2), (a0, a1, a2)) \
    F(int, archive_read_open_filename, (struct archive *a0, const char *a1, size_t a2), (a0, a1, a2)) \
    F(int, archive_read_support_filter_all, (struct archive *a0), (a0)) \
    F(int, archive_read_support_filter_bzip2, (struct archive *a0), (a0)) \
    F(int, archive_read_support_filter_gzip, (struct archive *a0), (a0)) \
    F(int, archive_read_support_filter_lzma, (struct archive *a0), (a0)) \
    F(int, archive_read_support_filter_xz, (struct archive *a0), (a0)) \
    F(int, archive_read_support_filter_zstd, (struct archive *a0), (a0)) \
    F(int, archive_read_support_format_empty, (struct archive *a0), (a0)) \
    F(int, archive_read_support_format_tar, (struct archive *a0), (a0)) \
    F(int, archive_write_close, (struct archive *a0), (a0)) \
    F(la_ssize_t, archive_write_data, (struct archive *a0, const void *a1, size_t a2), (a0, a1, a2)) \
    F(int, archive_write_free, (struct archive *a0), (a0)) \
    F(int, archive_write_header, (struct archive *a0, struct archive_entry *a1), (a0, a1)) \
    F(struct archive *, archive_write_new, (void), ()) \
    F(int, archive_write_open2, (struct archive *a0, void *a1, archive_open_callback *a2, archive_write_callback *a3, archive_close_callback *a4, archive_free_callback *a5), (a0, a1, a2, a3, a4, a5)) \
    F(int, archive_write_open_filename, (struct archive *a0, const char *a1), (a0, a1)) \
    F(int, archive_write_set_bytes_in_last_block, (struct archive *a0, int a1), (a0, a1)) \
    F(int, archive_write_set_bytes_per_block, (struct archive *a0, int a1), (a0, a1)) \
    F(int, archive_write_set_format_option, (struct archive *a0, const char *a1, const char *a2, const char *a3), (a0, a1, a2, a3)) \
    F(int, archive_write_set_format_pax, (struct archive *a0), (a0)) \
    F(int, archive_write_set_format_pax_restricted, (struct archive *a0), (a0))

#define HIDE_F(ret, name, params, args) extern __typeof__(name) name __attribute__((visibility("hidden")));
#define HIDE_V(name, params, args) HIDE_F(void, name, params, args)
ARCHIVE_FUNCS(HIDE_F, HIDE_V)

#define FIELD_F(ret, name, params, args) __typeof__(name) *name;
#define FIELD_V(name, params, args) FIELD_F(void, name, params, args)
static struct archive_fns { ARCHIVE_FUNCS(FIELD_F, FIELD_V) } fn;

#define SYM_F(ret, name, params, args) {#name, offsetof(struct archive_fns, name)},
#define SYM_V(name, params, args) SYM_F(void, name, params, args)
static const struct ib_dlsym syms[] = {ARCHIVE_FUNCS(SYM_F, SYM_V)};
/* clang-format on */

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* why not, when the load failed */

static void
load(void)
{
    (void)ib_dl_load(ARCHIVE_SONAME, syms, sizeof(syms) / sizeof(syms[0]), &fn, load_error,
                     sizeof(load_error)); /* load_error says why not */
}

static void
need(void)
{
    pthread_once(&load_once, load);
    if (load_error[0]) {
        fprintf(stderr, "imgbuild: cannot load libarchive (Debian package libarchive13): %s\n",
                load_error);
        _exit(127);
    }
}

#define WRAP_F(ret, name, params, args) \
    ret name params                     \
    {                                   \
        need();                         \
        return fn.name args;            \
    }
#define WRAP_V(name, params, args) \
    void name params               \
    {                              \
        need();                    \
        fn.name args;              \
    }
ARCHIVE_FUNCS(WRAP_F, WRAP_V)
