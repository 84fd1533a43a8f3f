/* store/tests/test_batch.c: write batches (store_batch_begin/end) and the recovery of
 * batches whose process died: in the same boot (a sync, data kept) and in another boot
 * (the machine went down: what the batch wrote is checked or removed).  Dead processes
 * are real: forked children that open the store, write in a batch and die. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "store/internal.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)

static int
count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.' && strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* A layer commit of a fresh dir holding one file "f" with text, as a build step
 * does it (the dir made in the store and moved into place as the snapshot). */
static int
commit_layer(struct store *st, const struct digest *parent, const char *text,
             struct store_layer *out, struct ib_err **err)
{
    AUTO_FREE char *dir = NULL;
    if (store_tmp_mkdir(st, "test", &dir, err) < 0)
        return -1;
    AUTO_FREE char *f = ib_path_join(dir, "f");
    AUTO_FD int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ib_write_all(fd, text, strlen(text), f, err) < 0)
        return fd < 0 ? ib_fail_errno(err, "create '%s'", f) : -1;
    return store_layer_commit(st, parent, dir, STORE_COMMIT_MOVE, out, err);
}

static int
tag_layers(struct store *st, const struct store_layer *l, size_t n, const char *ref,
           struct ib_err **err)
{
    struct store_image *img = NULL;
    if (store_image_new(NULL, &img, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        store_image_add_layer(img, &l[i], "test");
    int rc = store_image_commit(st, img, NULL, err);
    if (rc == 0)
        rc = store_tag(st, img, ref, err);
    store_image_free(img);
    return rc;
}

static bool
fsck_clean(struct store *st)
{
    struct ib_err *err = NULL;
    AUTO_BUF struct ib_buf report = IB_BUF_INIT;
    int rc = store_fsck(st, &report, &err);
    if (rc < 0)
        ib_test_note("fsck: %s\n%s", err->msg, report.s);
    ib_err_free(err);
    return rc == 0;
}

static char *
snap_path(const char *root, const struct digest *chain)
{
    AUTO_FREE char *name = store_snapshot_name(chain);
    return ib_xasprintf("%s.snapshots/%s", root, name);
}

static bool
exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

TEST(batch_commits_then_end_fsck_clean)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_path_join(ib_test_tmpdir(), "s1");
    AUTO_FREE char *batches = ib_path_join(root, "batches");
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    CHECK_OK(store_batch_begin(st, &err));
    CHECK_INT(count_entries(batches, "batch-"), 0); /* made by the first write */
    struct store_layer l[2];
    CHECK_OK(commit_layer(st, NULL, "one", &l[0], &err));
    CHECK_INT(count_entries(batches, "batch-"), 1);
    CHECK_OK(commit_layer(st, &l[0].chain_id, "two", &l[1], &err));
    struct digest d;
    CHECK_OK(store_blob_put_buf(st, "loose", 5, &d, &err));
    /* the same content again: the stored file stays */
    CHECK_OK(store_blob_put_buf(st, "loose", 5, &d, &err));
    CHECK_OK(store_cache_put(st, "step:x", "\"v\"", NULL, 0, &err));
    /* a big blob (fsynced at commit even in a batch) */
    size_t big = 5u << 20;
    AUTO_FREE char *bigbuf = ib_xmalloc(big);
    for (size_t i = 0; i < big; i++)
        bigbuf[i] = (char)(i * 7 + i / 4096);
    struct digest bd;
    CHECK_OK(store_blob_put_buf(st, bigbuf, big, &bd, &err));
    /* nested: an inner end syncs but the journal stays for the outer one */
    CHECK_OK(store_batch_begin(st, &err));
    CHECK_OK(store_batch_end(st, &err));
    CHECK_INT(count_entries(batches, "batch-"), 1);
    CHECK_OK(store_batch_end(st, &err));
    CHECK_INT(count_entries(batches, "batch-"), 0);
    CHECK(store_batch_end(st, &err) < 0 && err->kind == IB_E_BUG);
    ib_err_free(err);
    err = NULL;
    CHECK_OK(tag_layers(st, l, 2, "batch/one:1", &err));
    CHECK(fsck_clean(st));
    CHECK(store_blob_exists(st, &bd));
    AUTO_FREE char *sp = snap_path(root, &l[1].chain_id);
    AUTO_FREE char *marker = ib_path_join(sp, "f");
    CHECK(exists(marker));
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    CHECK_OK(store_cache_get(st, "step:x", &v, &err));
    CHECK_STR(v.s, "\"v\"");
}

TEST(store_close_ends_an_open_batch)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_path_join(ib_test_tmpdir(), "s2");
    AUTO_FREE char *batches = ib_path_join(root, "batches");
    struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    CHECK_OK(store_batch_begin(st, &err));
    CHECK_OK(store_batch_begin(st, &err));
    CHECK_OK(store_cache_put(st, "step:y", "\"y\"", NULL, 0, &err));
    CHECK_INT(count_entries(batches, "batch-"), 1);
    store_close(st);
    CHECK_INT(count_entries(batches, "batch-"), 0);
}

/* fork a child that opens root, begins a batch, runs fn and then dies without ending
 * it: by _exit (dies=0) or by SIGKILL from the parent after it said it is done
 * (dies=1; the parent then may act while the batch is still live).  Returns the pid,
 * with *done readable once fn has run. */
typedef int (*child_fn)(struct store *st, void *arg);

static pid_t
batch_child(const char *root, child_fn fn, void *arg, bool stay, int *done)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0) {
        close(p[1]);
        *done = p[0];
        return pid;
    }
    close(p[0]);
    struct store *st = NULL;
    struct ib_err *err = NULL;
    int rc =
        store_open(root, 0, &st, &err) == 0 && store_batch_begin(st, &err) == 0 && fn(st, arg) == 0
            ? 0
            : 1;
    if (rc)
        fprintf(stderr, "child: %s\n", err ? err->msg : "failed");
    char c = rc ? 'F' : 'K';
    if (write(p[1], &c, 1) != 1)
        _exit(2);
    while (stay)
        pause();
    _exit(rc);
}

static bool
child_ok(int done)
{
    char c = 0;
    bool ok = read(done, &c, 1) == 1 && c == 'K';
    close(done);
    return ok;
}

struct same_boot_arg {
    struct digest blob;
    struct store_layer layer;
};

static int
write_some(struct store *st, void *arg)
{
    struct same_boot_arg *a = arg;
    struct ib_err *err = NULL;
    if (store_blob_put_buf(st, "from the dead", 13, &a->blob, &err) < 0 ||
        commit_layer(st, NULL, "dead", &a->layer, &err) < 0 ||
        store_cache_put(st, "step:dead", "\"d\"", NULL, 0, &err) < 0) {
        fprintf(stderr, "child: %s\n", err->msg);
        return -1;
    }
    return 0;
}

TEST(dead_process_same_boot_keeps_data)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_path_join(ib_test_tmpdir(), "s3");
    AUTO_FREE char *batches = ib_path_join(root, "batches");
    struct same_boot_arg a;
    int done = -1;
    {
        IB_AUTO(store_close) struct store *st = NULL;
        CHECK_OK(store_open(root, 0, &st, &err)); /* make the store first */
    }
    struct digest want;
    digest_buf("from the dead", 13, &want);
    pid_t pid = batch_child(root, write_some, &a, false, &done);
    CHECK(pid > 0);
    CHECK(child_ok(done));
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(count_entries(batches, "batch-"), 1); /* it died with its batch open */
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    CHECK_INT(count_entries(batches, "batch-"), 0);
    CHECK(store_blob_exists(st, &want));
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    CHECK_OK(store_cache_get(st, "step:dead", &v, &err));
    CHECK(fsck_clean(st));
}

struct crash_arg {
    const char *root;
    struct store_layer layer; /* what the child committed (shared memory) */
};

/* What a batch wrote before the machine went down: a good blob, a blob whose content
 * never reached the disk (torn: it no longer matches its name), a layer with its
 * snapshot, a cache entry. */
static int
write_then_tear(struct store *st, void *arg)
{
    struct crash_arg *a = arg;
    struct ib_err *err = NULL;
    struct digest good, torn;
    /* the first write makes the journal (its start time); file times come from a coarse
     * clock, so the others stay clear of it */
    if (store_blob_put_buf(st, "new and intact", 14, &good, &err) < 0)
        return -1;
    sleep_ms(60);
    if (store_blob_put_buf(st, "new and torn..", 14, &torn, &err) < 0 ||
        commit_layer(st, NULL, "new", &a->layer, &err) < 0 ||
        store_cache_put(st, "step:new", "\"n\"", NULL, 0, &err) < 0) {
        fprintf(stderr, "child: %s\n", err->msg);
        return -1;
    }
    AUTO_FREE char *p = ib_xasprintf("%s/blobs/sha256/%s", a->root, digest_hex(&torn));
    AUTO_FD int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || pwrite(fd, "\0\0\0\0", 4, 0) != 4)
        return -1;
    return 0;
}

TEST(crash_of_the_machine_mid_batch)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_path_join(ib_test_tmpdir(), "s4");
    AUTO_FREE char *batches = ib_path_join(root, "batches");
    /* before the batch: durable data, tagged */
    struct store_layer old;
    struct digest old_blob;
    {
        IB_AUTO(store_close) struct store *st = NULL;
        CHECK_OK(store_open(root, 0, &st, &err));
        CHECK_OK(commit_layer(st, NULL, "old", &old, &err));
        CHECK_OK(tag_layers(st, &old, 1, "batch/old:1", &err));
        CHECK_OK(store_blob_put_buf(st, "old loose", 9, &old_blob, &err));
        CHECK_OK(store_cache_put(st, "step:old", "\"o\"", NULL, 0, &err));
    }
    sleep_ms(60);
    struct crash_arg *a =
        mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(a != MAP_FAILED);
    memset(a, 0, sizeof(*a));
    a->root = root;
    int done = -1;
    pid_t pid = batch_child(root, write_then_tear, a, true, &done);
    CHECK(pid > 0);
    bool ok = child_ok(done);
    /* the store opened while the batch lives: its journal is not touched */
    IB_AUTO(store_close) struct store *st = NULL;
    int orc = store_open(root, 0, &st, &err);
    int batches_live = count_entries(batches, "batch-");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(ok);
    CHECK_OK(orc);
    CHECK_INT(batches_live, 1);
    struct digest good, torn;
    digest_buf("new and intact", 14, &good);
    digest_buf("new and torn..", 14, &torn);
    struct store_layer l = a->layer;
    munmap(a, sizeof(*a));
    CHECK(store_blob_exists(st, &torn));
    /* as the first open after a reboot would see it: another boot id (no slack here:
     * the test's "before" and "after" are only 60 ms apart) */
    CHECK_OK(store_batch_recover(st, "another-boot", 0, STORE_VOLATILE_SETTLE_NS, true, &err));
    CHECK_INT(count_entries(batches, "batch-"), 0);
    CHECK(store_blob_exists(st, &good));
    CHECK(!store_blob_exists(st, &torn));
    CHECK(store_blob_exists(st, &old_blob));
    CHECK(store_blob_exists(st, &old.digest));
    AUTO_FREE char *old_snap = snap_path(root, &old.chain_id);
    CHECK(exists(old_snap));
    CHECK_INT(count_entries(old_snap, "f"), 1);
    /* the new snapshot (and its .chain) went; the old one is the only one left */
    AUTO_FREE char *snaps = ib_xasprintf("%s.snapshots", root);
    CHECK_INT(count_entries(snaps, ""), 2); /* <id> and <id>.chain */
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    CHECK(store_cache_get(st, "step:new", &v, &err) < 0 && err->sys == ENOENT);
    ib_err_free(err);
    err = NULL;
    CHECK_OK(store_cache_get(st, "step:old", &v, &err));
    CHECK(fsck_clean(st));
    /* the new layer's blob survived: its snapshot is made again from it on demand */
    AUTO_FREE char *new_snap = snap_path(root, &l.chain_id);
    CHECK(!exists(new_snap));
    CHECK(store_blob_exists(st, &l.digest));
    struct store_layer again = {.diff_id = l.diff_id, .digest = l.digest};
    CHECK_OK(store_snapshot_ensure(st, NULL, &again, &err));
    CHECK(exists(new_snap));
    CHECK(fsck_clean(st));
}

TEST(recovery_leaves_a_live_batch_alone)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_path_join(ib_test_tmpdir(), "s5");
    AUTO_FREE char *batches = ib_path_join(root, "batches");
    IB_AUTO(store_close) struct store *a = NULL;
    IB_AUTO(store_close) struct store *b = NULL;
    CHECK_OK(store_open(root, 0, &a, &err));
    CHECK_OK(store_batch_begin(a, &err));
    struct digest d;
    CHECK_OK(store_blob_put_buf(a, "live", 4, &d, &err));
    /* flock conflicts between two opens of the journal, even in one process */
    CHECK_OK(store_open(root, 0, &b, &err));
    CHECK_OK(store_batch_begin(b, &err));
    struct digest d2;
    CHECK_OK(store_blob_put_buf(b, "live too", 8, &d2, &err));
    CHECK_INT(count_entries(batches, "batch-"), 2);
    CHECK_OK(store_batch_recover(b, "another-boot", 0, STORE_VOLATILE_SETTLE_NS, true, &err));
    CHECK_INT(count_entries(batches, "batch-"), 2);
    CHECK(store_blob_exists(b, &d));
    CHECK_OK(store_batch_end(a, &err));
    CHECK_INT(count_entries(batches, "batch-"), 1);
    /* a tag while another batch is open still works (it syncs first) */
    struct store_layer l;
    CHECK_OK(commit_layer(a, NULL, "tagged", &l, &err));
    CHECK_OK(tag_layers(a, &l, 1, "batch/live:1", &err));
    CHECK_OK(store_batch_end(b, &err));
    CHECK_INT(count_entries(batches, "batch-"), 0);
    CHECK(fsck_clean(a));
}

/* A batch that made snapshots ends with a volatile record instead of syncing them: kept in
 * this boot until it is old enough (then the store is synced and it goes); after a reboot
 * its snapshots go, its blobs (synced at the batch's end) and cache entries stay. */
TEST(volatile_snapshots_of_a_finished_batch)
{
    struct ib_err *err = NULL;
    AUTO_FREE char *root = ib_path_join(ib_test_tmpdir(), "s7");
    AUTO_FREE char *batches = ib_path_join(root, "batches");
    AUTO_FREE char *snaps = ib_xasprintf("%s.snapshots", root);
    AUTO_FREE char *boot = store_boot_id();
    IB_AUTO(store_close) struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    /* blobs only: no record */
    CHECK_OK(store_batch_begin(st, &err));
    struct digest loose;
    CHECK_OK(store_blob_put_buf(st, "only a blob", 11, &loose, &err));
    CHECK_OK(store_batch_end(st, &err));
    CHECK_INT(count_entries(batches, ""), 0);
    /* a durable snapshot from before (no batch) */
    struct store_layer old;
    CHECK_OK(commit_layer(st, NULL, "durable", &old, &err));
    sleep_ms(250);
    /* snapshots in a batch: a record of this boot */
    CHECK_OK(store_batch_begin(st, &err));
    struct store_layer l[2];
    CHECK_OK(commit_layer(st, NULL, "v1", &l[0], &err));
    CHECK_OK(commit_layer(st, &l[0].chain_id, "v2", &l[1], &err));
    CHECK_OK(store_cache_put(st, "step:v", "\"v\"", NULL, 0, &err));
    CHECK_OK(store_batch_end(st, &err));
    CHECK_INT(count_entries(batches, "batch-"), 0);
    CHECK_INT(count_entries(batches, STORE_VOLATILE_PREFIX), 1);
    CHECK_OK(tag_layers(st, l, 2, "batch/vol:1", &err));
    CHECK(fsck_clean(st));
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    /* this boot, young: kept, nothing removed */
    CHECK_OK(store_batch_recover(st, boot, 0, STORE_VOLATILE_SETTLE_NS, true, &err));
    CHECK_INT(count_entries(batches, STORE_VOLATILE_PREFIX), 1);
    CHECK_INT(count_entries(snaps, ""), 6); /* three snapshots and their .chain marks */
    /* another boot but not alone: left for an open that has the store to itself */
    CHECK_OK(store_batch_recover(st, "another-boot", 0, STORE_VOLATILE_SETTLE_NS, false, &err));
    CHECK_INT(count_entries(batches, STORE_VOLATILE_PREFIX), 1);
    /* another boot: the batch's snapshots go, its blobs, cache entries and tag stay.  A
     * slack of 100 ms, as store_open has 10 s: file times come from the kernel's coarse
     * clock, which may read a few ms behind the batch's start time */
    CHECK_OK(
        store_batch_recover(st, "another-boot", 100000000LL, STORE_VOLATILE_SETTLE_NS, true, &err));
    CHECK_INT(count_entries(batches, ""), 0);
    CHECK_INT(count_entries(snaps, ""), 2);
    AUTO_FREE char *old_snap = snap_path(root, &old.chain_id);
    CHECK(exists(old_snap));
    CHECK_OK(store_cache_get(st, "step:v", &v, &err));
    CHECK(store_blob_exists(st, &l[0].digest) && store_blob_exists(st, &l[1].digest));
    CHECK(store_blob_exists(st, &loose));
    CHECK(fsck_clean(st));
    /* made again from the blobs on demand */
    struct store_layer again[2] = {{.diff_id = l[0].diff_id, .digest = l[0].digest},
                                   {.diff_id = l[1].diff_id, .digest = l[1].digest}};
    CHECK_OK(store_snapshot_ensure(st, NULL, &again[0], &err));
    CHECK_OK(store_snapshot_ensure(st, &again[0].chain_id, &again[1], &err));
    AUTO_FREE char *sp = snap_path(root, &l[1].chain_id);
    CHECK(exists(sp));
    /* this boot, old enough (settle 0): synced and dropped, snapshots kept */
    CHECK_OK(store_batch_begin(st, &err));
    struct store_layer l3;
    CHECK_OK(commit_layer(st, NULL, "v3", &l3, &err));
    CHECK_OK(store_batch_end(st, &err));
    CHECK_INT(count_entries(batches, STORE_VOLATILE_PREFIX), 1);
    /* settling is housekeeping: when the record cannot go (an immutable batches/ here, a
     * read-only store elsewhere), the open still succeeds and the record stays */
    AUTO_FD int bfd = open(batches, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fl = 0;
    CHECK(bfd >= 0 && ioctl(bfd, FS_IOC_GETFLAGS, &fl) == 0);
    int immutable = fl | FS_IMMUTABLE_FL;
    bool frozen = ioctl(bfd, FS_IOC_SETFLAGS, &immutable) == 0;
    if (frozen) {
        CHECK_OK(store_batch_recover(st, boot, 0, 0, true, &err));
        CHECK_INT(count_entries(batches, STORE_VOLATILE_PREFIX), 1);
        CHECK(ioctl(bfd, FS_IOC_SETFLAGS, &fl) == 0);
    } else {
        ib_test_note("no immutable flag on this filesystem: the read-only case is not checked");
    }
    CHECK_OK(store_batch_recover(st, boot, 0, 0, true, &err));
    CHECK_INT(count_entries(batches, ""), 0);
    AUTO_FREE char *sp3 = snap_path(root, &l3.chain_id);
    CHECK(exists(sp3));
    CHECK(fsck_clean(st));
}
