/* store/tests/test_layer.c: layer commit from real overlay upper dirs, and
 * unpack of the result, compared with what the overlay mount showed. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line per entry: path, type, mode, owner, size, content digest or link
 * target, user/security xattrs.  Sorted, so two trees compare as strings. */
static void
list_tree(const char *root, const char *rel, struct ib_strv *out)
{
    AUTO_FREE char *dir = *rel ? ib_xasprintf("%s/%s", root, rel) : ib_xstrdup(root);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        AUTO_FREE char *r = *rel ? ib_xasprintf("%s/%s", rel, de->d_name) : ib_xstrdup(de->d_name);
        AUTO_FREE char *p = ib_xasprintf("%s/%s", root, r);
        struct stat sb;
        if (lstat(p, &sb) < 0)
            continue;
        AUTO_BUF struct ib_buf line = IB_BUF_INIT;
        ib_buf_addf(&line, "%s %o %u:%u", r, (unsigned)sb.st_mode, (unsigned)sb.st_uid,
                    (unsigned)sb.st_gid);
        if (S_ISREG(sb.st_mode)) {
            size_t n = 0;
            AUTO_FREE char *data = ib_test_slurp(p, &n);
            struct digest dg;
            digest_buf(data, n, &dg);
            ib_buf_addf(&line, " %zu %.19s nlink=%u", n, dg.s, (unsigned)sb.st_nlink);
        } else if (S_ISLNK(sb.st_mode)) {
            char t[PATH_MAX];
            ssize_t n = readlink(p, t, sizeof(t) - 1);
            ib_buf_addf(&line, " -> %.*s", (int)(n < 0 ? 0 : n), t);
        } else if (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode)) {
            ib_buf_addf(&line, " dev %u,%u", major(sb.st_rdev), minor(sb.st_rdev));
        }
        char names[4096];
        ssize_t n = llistxattr(p, names, sizeof(names));
        AUTO_STRV struct ib_strv xs = IB_STRV_INIT;
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
            if (strncmp(names + i, "trusted.overlay.", 16) != 0)
                ib_strv_push(&xs, names + i);
        if (xs.n)
            qsort(xs.v, xs.n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < xs.n; i++) {
            char v[256];
            ssize_t vn = lgetxattr(p, xs.v[i], v, sizeof(v));
            ib_buf_addf(&line, " %s=%zd", xs.v[i], vn);
        }
        ib_strv_push(out, line.s);
        if (S_ISDIR(sb.st_mode))
            list_tree(root, r, out);
    }
    closedir(d);
}

static char *
tree_string(const char *root)
{
    AUTO_STRV struct ib_strv v = IB_STRV_INIT;
    list_tree(root, "", &v);
    if (v.n)
        qsort(v.v, v.n, sizeof(char *), cmp_str);
    struct ib_buf b = IB_BUF_INIT;
    for (size_t i = 0; i < v.n; i++)
        ib_buf_addf(&b, "%s\n", v.v[i]);
    return ib_buf_detach(&b, NULL);
}

static void
put(const char *root, const char *rel, const char *data)
{
    AUTO_FREE char *p = ib_xasprintf("%s/%s", root, rel);
    AUTO_FD int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, strlen(data)) < 0)
        ib_test_note("write %s: %s", p, strerror(errno));
}

static void
mk(const char *root, const char *rel)
{
    AUTO_FREE char *p = ib_xasprintf("%s/%s", root, rel);
    ib_mkdir_p(AT_FDCWD, p, 0755, NULL);
}

/* the tar entries of a blob, "name type" lines */
static char *
tar_listing(struct store *st, const struct digest *d)
{
    AUTO_FREE char *path = store_blob_path(st, d);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    struct ib_buf b = IB_BUF_INIT;
    if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK) {
        struct archive_entry *e;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
            const char *hl = archive_entry_hardlink(e);
            ib_buf_addf(&b, "%s %o%s%s [%s]\n", archive_entry_pathname(e),
                        (unsigned)archive_entry_mode(e), hl ? " link=" : "", hl ? hl : "",
                        archive_entry_uname(e) ? archive_entry_uname(e) : "");
        }
    }
    archive_read_free(a);
    return ib_buf_detach(&b, NULL);
}

/* dir/rel in one of 4 rotating static buffers (two may be used in one call) */
static const char *
in_dir(const char *dir, const char *rel)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", dir, rel);
    return b;
}

static bool
mount_overlay(const char *lower, const char *upper, const char *work, const char *target)
{
    AUTO_FREE char *opts = upper ? ib_xasprintf("lowerdir=%s,upperdir=%s,workdir=%s,index=off,"
                                                "redirect_dir=off,metacopy=off",
                                                lower, upper, work)
                                 : ib_xasprintf("lowerdir=%s", lower);
    if (mount("overlay", target, "overlay", upper ? 0 : MS_RDONLY, opts) < 0) {
        ib_test_note("mount overlay (%s): %s", opts, strerror(errno));
        return false;
    }
    return true;
}

TEST(layer_commit_overlay)
{
    struct ib_err *err = NULL;
    const char *tmp = ib_test_tmpdir();
    AUTO_FREE char *root = ib_xasprintf("%s/store-layer", tmp);
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));

    /* base layer: a plain directory committed without MOVE */
    AUTO_FREE char *base = ib_xasprintf("%s/base", tmp);
    mk(base, "etc");
    mk(base, "d1/sub");
    mk(base, "gone/deep");
    put(base, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    put(base, "d1/a", "a");
    put(base, "d1/sub/b", "b");
    put(base, "gone/deep/c", "c");
    put(base, "keep", "keep");
    put(base, "chmod-me", "m");
    put(base, "rename-me", "r");
    AUTO_FREE char *p = ib_xasprintf("%s/keep", base);
    CHECK(chown(p, 12, 34) == 0);
    struct store_layer l0;
    CHECK_OK(store_layer_commit(st, NULL, base, 0, &l0, &err));
    CHECK(digest_eq(&l0.digest, &l0.diff_id));
    CHECK(digest_eq(&l0.chain_id, &l0.diff_id));
    AUTO_FREE char *snap0 = NULL;
    CHECK_OK(store_snapshot_path(st, &l0.chain_id, &snap0, &err));
    AUTO_FREE char *want0 = tree_string(base);
    AUTO_FREE char *got0 = tree_string(snap0);
    CHECK_STR(got0, want0);

    /* second layer: changes through a real overlay mount */
    AUTO_FREE char *upper = NULL, *work = NULL, *mnt = NULL;
    CHECK_OK(store_tmp_mkdir(st, "upper", &upper, &err));
    CHECK_OK(store_tmp_mkdir(st, "work", &work, &err));
    CHECK_OK(store_tmp_mkdir(st, "mnt", &mnt, &err));
    if (!mount_overlay(snap0, upper, work, mnt))
        SKIP("overlayfs not available");
#define M(rel) in_dir(mnt, rel)
    CHECK(unlink(M("d1/a")) == 0);                      /* file delete */
    CHECK(ib_rm_rf_at(AT_FDCWD, M("gone"), &err) == 0); /* dir delete + recreate: opaque */
    mk(mnt, "gone");
    put(mnt, "gone/new", "new");
    CHECK(rename(M("rename-me"), M("renamed")) == 0); /* rename */
    put(mnt, "h1", "hard");
    AUTO_FREE char *h1 = ib_xasprintf("%s/h1", mnt);
    CHECK(link(h1, M("h2")) == 0); /* hard links */
    CHECK(symlink("../etc/passwd", M("d1/link")) == 0);
    CHECK(symlink("/abs/target", M("abs")) == 0);
    put(mnt, "x", "xattr");
    CHECK(lsetxattr(M("x"), "user.test", "v", 1, 0) == 0);
    CHECK(lsetxattr(M("x"), "security.capability",
                    "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                    "\x00",
                    20, 0) == 0);
    CHECK(chmod(M("chmod-me"), 0600) == 0); /* chmod only */
    CHECK(mknod(M("fifo"), S_IFIFO | 0644, 0) == 0);
    AUTO_FREE char *merged = tree_string(mnt);
    CHECK(umount(mnt) == 0);

    struct store_layer l1;
    CHECK_OK(store_layer_commit(st, &l0.chain_id, upper, STORE_COMMIT_MOVE, &l1, &err));
    struct stat sb;
    CHECK(stat(upper, &sb) < 0 && errno == ENOENT); /* moved */
    struct digest chain;
    digest_chain(&l0.chain_id, &l1.diff_id, &chain);
    CHECK(digest_eq(&chain, &l1.chain_id));
    AUTO_FREE char *listing = tar_listing(st, &l1.digest);
    ib_test_note("layer 2:\n%s", listing);
    CHECK(strstr(listing, "d1/.wh.a 100000 []\n"));
    CHECK(strstr(listing, "gone/ 40755 []\n"));
    CHECK(strstr(listing, "gone/.wh..wh..opq 100000"));
    CHECK(strstr(listing, ".wh.rename-me 100000"));
    CHECK(strstr(listing, "h2 644 link=h1"));
    CHECK(strstr(listing, "chmod-me 100600"));
    CHECK(!strstr(listing, "gone/deep"));
    CHECK(strstr(listing, "fifo 10644"));

    /* the snapshots as overlay lowers show exactly the merged view */
    AUTO_FREE char *snap1 = NULL;
    CHECK_OK(store_snapshot_path(st, &l1.chain_id, &snap1, &err));
    AUTO_FREE char *lowers = ib_xasprintf("%s:%s", snap1, snap0);
    CHECK(mount_overlay(lowers, NULL, NULL, mnt));
    AUTO_FREE char *again = tree_string(mnt);
    CHECK(umount(mnt) == 0);
    CHECK_STR(again, merged);

    /* unpacking the blob gives the same snapshot as the moved upper dir */
    AUTO_FREE char *un = ib_xasprintf("%s/unpacked", tmp);
    CHECK(mkdir(un, 0755) == 0);
    AUTO_FD int ufd = open(un, O_RDONLY | O_DIRECTORY);
    AUTO_FREE char *blob = store_blob_path(st, &l1.digest);
    AUTO_FD int bfd = open(blob, O_RDONLY);
    struct digest did;
    CHECK_OK(store_unpack_fd(bfd, ufd, &l1.digest, &did, &err));
    CHECK(digest_eq(&did, &l1.diff_id));
    AUTO_FREE char *t_un = tree_string(un);
    AUTO_FREE char *t_snap = tree_string(snap1);
    CHECK_STR(t_un, t_snap);
    CHECK(strstr(t_un, "d1/a 20000 0:0 dev 0,0"));
}

TEST(layer_reproducible)
{
    struct ib_err *err = NULL;
    const char *tmp = ib_test_tmpdir();
    AUTO_FREE char *root = ib_xasprintf("%s/store-repro", tmp);
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    struct digest d[2];
    for (int i = 0; i < 2; i++) {
        AUTO_FREE char *dir = ib_xasprintf("%s/repro%d", tmp, i);
        /* created in a different order each time */
        if (i == 0) {
            mk(dir, "b");
            put(dir, "a", "1");
            put(dir, "b/c", "2");
        } else {
            mk(dir, "");
            put(dir, "a", "1");
            mk(dir, "b");
            put(dir, "b/c", "2");
        }
        setenv("SOURCE_DATE_EPOCH", "1000", 1);
        struct store_layer l;
        CHECK_OK(store_layer_commit(st, NULL, dir, 0, &l, &err));
        unsetenv("SOURCE_DATE_EPOCH");
        d[i] = l.diff_id;
    }
    CHECK(digest_eq(&d[0], &d[1]));
}
