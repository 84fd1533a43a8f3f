/* store/tests/test_unpack.c: store_unpack_fd on tars made here: directory
 * times restored after their entries, and hostile archives refused with
 * nothing written outside the target (the e2e script does the same through
 * the CLI). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)

enum kind { F, D, L, H, WH };

struct ent {
    const char *name;
    enum kind kind;
    const char *data; /* file content, symlink or hard link target */
    long long mtime;
    long nsec;
};

/* Write ents as a PAX tar to path. */
static void
make_tar(const char *path, const struct ent *ents, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK)
        ib_test_note("open %s: %s", path, archive_error_string(a));
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].name);
        archive_entry_set_mtime(e, ents[i].mtime, ents[i].nsec);
        archive_entry_set_perm(e, ents[i].kind == D ? 0755 : 0644);
        switch (ents[i].kind) {
        case F:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)strlen(ents[i].data));
            break;
        case WH:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, 0);
            break;
        case D:
            archive_entry_set_filetype(e, AE_IFDIR);
            break;
        case L:
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, ents[i].data);
            break;
        case H:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, ents[i].data);
            break;
        }
        archive_write_header(a, e);
        if (ents[i].kind == F)
            archive_write_data(a, ents[i].data, strlen(ents[i].data));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

/* A fresh empty dir under the test tmpdir; caller frees. */
static char *
fresh_dir(const char *what)
{
    static int n;
    char *p = ib_xasprintf("%s/%s-%d", ib_test_tmpdir(), what, n++);
    if (mkdir(p, 0755) < 0)
        ib_test_note("mkdir %s: %s", p, strerror(errno));
    return p;
}

/* Unpack the tar at path into dir; returns the result, error message in *msg. */
static int
unpack_path(const char *path, const char *dir, const struct digest *expected, char **msg)
{
    struct ib_err *err = NULL;
    AUTO_FD int fd = open(path, O_RDONLY | O_CLOEXEC);
    AUTO_FD int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = store_unpack_fd(fd, dfd, expected, NULL, &err);
    *msg = ib_xstrdup(err ? err->msg : "");
    ib_err_free(err);
    return rc;
}

static long long
mtime_of(const char *dir, const char *rel, long *nsec)
{
    AUTO_FREE char *p = ib_xasprintf("%s/%s", dir, rel);
    struct stat sb;
    if (lstat(p, &sb) < 0)
        return -1;
    if (nsec)
        *nsec = sb.st_mtim.tv_nsec;
    return (long long)sb.st_mtime;
}

TEST(unpack_dir_mtimes_depth_first)
{
    static const struct ent ents[] = {
        {"d/", D, NULL, 1000, 0},
        {"d/sub/", D, NULL, 2000, 0},
        {"d/sub/f", F, "f", 3000, 0},
        {"d/sub/deeper/", D, NULL, 3500, 0},
        {"d/sub/deeper/x", F, "x", 3600, 0},
        {"d/g", F, "g", 4000, 0},
        {"d/link", L, "sub/f", 4100, 0},
        {"d/hard", H, "d/g", 4200, 0},
        {"e/", D, NULL, 5000, 0},
        {"e/.wh.gone", WH, NULL, 5100, 0},
        {"e/.wh..wh..opq", WH, NULL, 5200, 0},
        {"n/", D, NULL, 6000, 123456789},
        {"n/child", F, "c", 6100, 0},
        {"z", F, "z", 7000, 0},
    };
    AUTO_FREE char *dir = fresh_dir("mt");
    AUTO_FREE char *tar = ib_xasprintf("%s.tar", dir);
    make_tar(tar, ents, sizeof(ents) / sizeof(ents[0]));
    AUTO_FREE char *msg = NULL;
    CHECK(unpack_path(tar, dir, NULL, &msg) == 0);
    CHECK_STR(msg, "");
    CHECK_INT(mtime_of(dir, "d", NULL), 1000);
    CHECK_INT(mtime_of(dir, "d/sub", NULL), 2000);
    CHECK_INT(mtime_of(dir, "d/sub/deeper", NULL), 3500);
    CHECK_INT(mtime_of(dir, "d/sub/f", NULL), 3000);
    CHECK_INT(mtime_of(dir, "d/link", NULL), 4100);
    CHECK_INT(mtime_of(dir, "e", NULL), 5000);
    long ns = 0;
    CHECK_INT(mtime_of(dir, "n", &ns), 6000);
    CHECK_INT(ns, 123456789);
    CHECK_INT(mtime_of(dir, "z", NULL), 7000);
    struct stat sb;
    AUTO_FREE char *wh = ib_xasprintf("%s/e/gone", dir);
    CHECK(lstat(wh, &sb) == 0 && S_ISCHR(sb.st_mode) && sb.st_rdev == 0);
}

TEST(unpack_dir_mtimes_out_of_order)
{
    /* not depth-first: entries return to directories already finished */
    static const struct ent ents[] = {
        {"a/", D, NULL, 100, 0},         {"a/b/", D, NULL, 150, 0},
        {"c/", D, NULL, 200, 0},         {"a/late", F, "l", 300, 0},
        {"a/b/later", F, "l", 310, 0},   {"c/x/y/implicit", F, "i", 400, 0},
        {"a/.wh.old", WH, NULL, 500, 0},
    };
    AUTO_FREE char *dir = fresh_dir("ooo");
    AUTO_FREE char *tar = ib_xasprintf("%s.tar", dir);
    make_tar(tar, ents, sizeof(ents) / sizeof(ents[0]));
    AUTO_FREE char *msg = NULL;
    CHECK(unpack_path(tar, dir, NULL, &msg) == 0);
    CHECK_STR(msg, "");
    CHECK_INT(mtime_of(dir, "a", NULL), 100);
    CHECK_INT(mtime_of(dir, "a/b", NULL), 150);
    CHECK_INT(mtime_of(dir, "c", NULL), 200);
    CHECK_INT(mtime_of(dir, "a/late", NULL), 300);
    CHECK_INT(mtime_of(dir, "c/x/y/implicit", NULL), 400);
}

TEST(unpack_dir_replaced_later)
{
    /* a directory replaced by a file, and a file by a directory, mid-archive */
    static const struct ent ents[] = {
        {"d/", D, NULL, 100, 0},  {"d/x", F, "x", 110, 0}, {"d", F, "now a file", 120, 0},
        {"f", F, "file", 130, 0}, {"f/", D, NULL, 140, 0}, {"f/y", F, "y", 150, 0},
    };
    AUTO_FREE char *dir = fresh_dir("repl");
    AUTO_FREE char *tar = ib_xasprintf("%s.tar", dir);
    make_tar(tar, ents, sizeof(ents) / sizeof(ents[0]));
    AUTO_FREE char *msg = NULL;
    CHECK(unpack_path(tar, dir, NULL, &msg) == 0);
    CHECK_STR(msg, "");
    struct stat sb;
    AUTO_FREE char *d = ib_xasprintf("%s/d", dir);
    CHECK(lstat(d, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_mtime == 120);
    AUTO_FREE char *f = ib_xasprintf("%s/f", dir);
    CHECK(lstat(f, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_mtime == 140);
}

/* ---- hostile archives ---------------------------------------------------- */

struct hostile {
    const char *name;
    struct ent ents[3];
    size_t n;
    const char *want; /* part of the error message */
};

TEST(unpack_hostile_refused)
{
    const char *tmp = ib_test_tmpdir();
    /* everything an escape could reach: the parent of the target holds a
     * canary dir; absolute names aim at it too */
    AUTO_FREE char *outside = ib_xasprintf("%s/outside", tmp);
    CHECK(mkdir(outside, 0755) == 0);
    AUTO_FREE char *secret = ib_xasprintf("%s/secret", outside);
    AUTO_FD int sfd = open(secret, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(sfd >= 0 && write(sfd, "s", 1) == 1);
    AUTO_FREE char *abs_name = ib_xasprintf("%s/escape-abs", outside);
    AUTO_FREE char *deep = NULL;
    {
        struct ib_buf b = IB_BUF_INIT;
        for (int i = 0; i < 10000; i++)
            ib_buf_adds(&b, "a/");
        ib_buf_adds(&b, "f");
        deep = ib_buf_detach(&b, NULL);
    }
    const struct hostile cases[] = {
        {"dotdot", {{"../escape", F, "x", 0, 0}}, 1, "'..' in path refused"},
        {"dotdot-inner", {{"a/../../escape", F, "x", 0, 0}}, 1, "'..' in path refused"},
        {"absolute", {{abs_name, F, "x", 0, 0}}, 1, "absolute path refused"},
        {"symlink-then-file",
         {{"link", L, outside, 0, 0}, {"link/escape-sym", F, "x", 0, 0}},
         2,
         "symlink"},
        {"relative-symlink-dir",
         {{"d", L, "..", 0, 0}, {"d/outside/escape-rel", F, "x", 0, 0}},
         2,
         "symlink"},
        {"symlink-replaced-by-dir",
         {{"d/", D, NULL, 0, 0}, {"d", L, "..", 0, 0}, {"d/outside/escape", F, "x", 0, 0}},
         3,
         "symlink"},
        {"hardlink-absolute", {{"h", H, secret, 0, 0}}, 1, "absolute path refused"},
        {"hardlink-dotdot", {{"h", H, "../outside/secret", 0, 0}}, 1, "'..'"},
        {"hardlink-through-symlink",
         {{"l", L, outside, 0, 0}, {"h", H, "l/secret", 0, 0}},
         2,
         "not inside the layer"},
        {"hardlink-to-symlink-to-outside",
         {{"l", L, secret, 0, 0}, {"h", H, "l", 0, 0}},
         2,
         NULL /* links the symlink itself: allowed, harmless */},
        {"deep", {{deep, F, "x", 0, 0}}, 1, "longer than"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hostile *c = &cases[i];
        AUTO_FREE char *dir = fresh_dir(c->name);
        AUTO_FREE char *tar = ib_xasprintf("%s.tar", dir);
        make_tar(tar, c->ents, c->n);
        AUTO_FREE char *msg = NULL;
        int rc = unpack_path(tar, dir, NULL, &msg);
        bool ok = c->want ? rc < 0 && strstr(msg, "entry '") && strstr(msg, c->want) : rc == 0;
        /* nothing new outside: the canary dir still holds only the secret */
        AUTO_FREE char *ls = ib_xasprintf("%s/escape-sym", outside);
        AUTO_FREE char *lr = ib_xasprintf("%s/escape-rel", outside);
        AUTO_FREE char *le = ib_xasprintf("%s/escape", outside);
        AUTO_FREE char *lt = ib_xasprintf("%s/escape", tmp);
        struct stat sb;
        bool clean = lstat(abs_name, &sb) < 0 && lstat(ls, &sb) < 0 && lstat(lr, &sb) < 0 &&
                     lstat(le, &sb) < 0 && lstat(lt, &sb) < 0 && lstat(secret, &sb) == 0 &&
                     sb.st_nlink == 1 && sb.st_size == 1;
        ib_test_case(ok && clean, "hostile %s (%.300s)", c->name, msg);
    }
}

/* Gzip data as one member (zlib, not our writer). */
static void
gzip_file(const char *in, const char *out, size_t keep)
{
    size_t n = 0;
    AUTO_FREE char *data = ib_test_slurp(in, &n);
    gzFile g = gzopen(out, "wb");
    gzwrite(g, data, (unsigned)n);
    gzclose(g);
    if (keep) {
        if (truncate(out, (off_t)keep) < 0)
            ib_test_note("truncate: %s", strerror(errno));
    }
}

TEST(unpack_truncated_and_wrong_digest)
{
    static const struct ent ents[] = {
        {"f", F, "some content that compresses: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0},
        {"g", F, "more", 0, 0},
    };
    AUTO_FREE char *dir = fresh_dir("trunc");
    AUTO_FREE char *tar = ib_xasprintf("%s.tar", dir);
    AUTO_FREE char *gz = ib_xasprintf("%s.tar.gz", dir);
    make_tar(tar, ents, 2);
    gzip_file(tar, gz, 0);
    struct stat sb;
    CHECK(stat(gz, &sb) == 0);
    AUTO_FREE char *msg = NULL;
    /* the whole gzip unpacks; its digest is checked when given */
    CHECK(unpack_path(gz, dir, NULL, &msg) == 0);
    AUTO_FREE char *dir2 = fresh_dir("digest");
    struct digest wrong;
    digest_buf("not the blob", 12, &wrong);
    AUTO_FREE char *msg2 = NULL;
    CHECK(unpack_path(gz, dir2, &wrong, &msg2) < 0);
    CHECK(strstr(msg2, "digest mismatch"));
    /* cut in half: refused */
    AUTO_FREE char *cut = ib_xasprintf("%s-cut.tar.gz", dir);
    gzip_file(tar, cut, (size_t)sb.st_size / 2);
    AUTO_FREE char *dir3 = fresh_dir("cut");
    AUTO_FREE char *msg3 = NULL;
    CHECK(unpack_path(cut, dir3, NULL, &msg3) < 0);
    ib_test_note("truncated gzip: %s", msg3);
    CHECK(*msg3);
}

TEST(import_hostile_leaves_store_clean)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_xasprintf("%s/store-hostile", ib_test_tmpdir());
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    static const struct ent ents[] = {
        {"ok", F, "fine", 0, 0},
        {"link", L, "/", 0, 0},
        {"link/escape-import", F, "x", 0, 0},
    };
    AUTO_FREE char *tar = ib_xasprintf("%s/hostile-import.tar", ib_test_tmpdir());
    make_tar(tar, ents, 3);
    AUTO_FD int fd = open(tar, O_RDONLY | O_CLOEXEC);
    CHECK(store_import(st, fd, "hostile/one:1", NULL, &err) < 0);
    ib_test_note("import refused: %s", err->msg);
    CHECK(strstr(err->msg, "link/escape-import"));
    ib_err_free(err);
    err = NULL;
    struct stat sb;
    CHECK(lstat("/escape-import", &sb) < 0);
    struct store_image_info *v = NULL;
    size_t n = 0;
    CHECK_OK(store_images_list(st, &v, &n, &err));
    store_image_info_free(v, n);
    CHECK_INT(n, 0);
    AUTO_BUF struct ib_buf report = IB_BUF_INIT;
    CHECK_OK(store_fsck(st, &report, &err));
    /* no snapshot or temp dir left behind */
    AUTO_FREE char *snaps = store_snapshots_dir(st);
    AUTO_STRV struct ib_strv left = IB_STRV_INIT;
    DIR *d = opendir(snaps);
    CHECK(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            ib_strv_push(&left, de->d_name);
    closedir(d);
    for (size_t i = 0; i < left.n; i++)
        ib_test_note("left in snapshots/: %s", left.v[i]);
    CHECK_INT(left.n, 0);
}
