/* store/snapshot.c: unpacked layers under snapshots/, keyed by ChainID.
 *
 * snapshots/<12 hex>/        the tree, in overlay form (read-only lower)
 * snapshots/<12 hex>.chain   the full ChainID ("sha256:...\n")
 * snapshots/tmp-<pid>-...    snapshots being made, and upper dirs of builds
 *
 * snapshots/ is a symlink to the sibling directory "<root>.snapshots": OCI
 * tools (oci-image-tool) open every file below a layout directory, which
 * fails or hangs on a rootfs (dangling symlinks, fifos, whiteout devices),
 * so the trees stay outside the layout proper.
 *
 * The short name keeps overlay's lowerdir= option short (100 lowers fit in a
 * page as relative names).  A snapshot exists when its dir and a matching
 * .chain file exist; the .chain file is written before the dir is renamed into
 * place, so a crash never leaves a half-filled snapshot dir.  In a write batch
 * (batch.c) neither is synced until the batch ends; after a crash of the
 * machine mid-batch, recover.c removes the snapshots the batch may have made.
 */
#include "store/internal.h"

#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

#define SNAP_ID_LEN 12

char *
store_snapshot_name(const struct digest *chain_id)
{
    return ib_xstrndup(digest_hex(chain_id), SNAP_ID_LEN);
}

char *
store_snapshots_dir(struct store *st)
{
    return ib_xstrdup(st->snaproot);
}

static bool snapshot_complete(struct store *st, const struct digest *chain_id);

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool
known(struct store *st, const struct digest *chain_id)
{
    pthread_mutex_lock(&st->snaps_lock);
    bool k = !st->exclusive && tfind(chain_id->s, &st->snaps_known, str_cmp) != NULL;
    pthread_mutex_unlock(&st->snaps_lock);
    return k;
}

static void
remember(struct store *st, const struct digest *chain_id)
{
    if (st->exclusive)
        return; /* GC may remove snapshots: no memory of them then */
    char *k = ib_xstrdup(chain_id->s);
    pthread_mutex_lock(&st->snaps_lock);
    char **slot = tsearch(k, &st->snaps_known, str_cmp);
    pthread_mutex_unlock(&st->snaps_lock);
    if (!slot)
        ib_oom();
    if (*slot != k)
        free(k);
}

bool
store_snapshot_exists(struct store *st, const struct digest *chain_id)
{
    if (known(st, chain_id))
        return true;
    bool ok = snapshot_complete(st, chain_id);
    if (ok)
        remember(st, chain_id);
    return ok;
}

static bool
snapshot_complete(struct store *st, const struct digest *chain_id)
{
    AUTO_FREE char *name = store_snapshot_name(chain_id);
    AUTO_FREE char *mark = ib_xasprintf("%s.chain", name);
    struct stat sb;
    if (fstatat(st->snapfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
        return false;
    AUTO_FD int fd = openat(st->snapfd, mark, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    char buf[DIGEST_STR_LEN + 2];
    ssize_t n = read(fd, buf, sizeof(buf));
    return n == DIGEST_STR_LEN + 1 && memcmp(buf, chain_id->s, DIGEST_STR_LEN) == 0;
}

int
store_snapshot_mark(struct store *st, const struct digest *chain_id, struct ib_err **err)
{
    AUTO_FREE char *name = store_snapshot_name(chain_id);
    AUTO_FREE char *mark = ib_xasprintf("%s.chain", name);
    char buf[DIGEST_STR_LEN + 2];
    memcpy(buf, chain_id->s, DIGEST_STR_LEN);
    buf[DIGEST_STR_LEN] = '\n';
    /* another ChainID with the same 48-bit prefix owning the name: refuse */
    AUTO_BUF struct ib_buf old = IB_BUF_INIT;
    AUTO_FD int fd = openat(st->snapfd, mark, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    if (fd >= 0 && ib_read_fd(fd, &old, mark, NULL) == 0 && old.len == DIGEST_STR_LEN + 1 &&
        memcmp(old.s, buf, old.len) != 0 && fstatat(st->snapfd, name, &sb, 0) == 0)
        return ib_fail(err, IB_E_STORE, "snapshot id collision for '%s' and '%.*s'", chain_id->s,
                       DIGEST_STR_LEN, old.s);
    return store_write_file(st, st->snapfd, mark, buf, DIGEST_STR_LEN + 1, err);
}

int
store_snapshot_path(struct store *st, const struct digest *chain_id, char **path,
                    struct ib_err **err)
{
    if (!store_snapshot_exists(st, chain_id))
        return store_fail_missing(err, "no snapshot for chain '%s'", chain_id->s);
    AUTO_FREE char *name = store_snapshot_name(chain_id);
    *path = ib_xasprintf("%s/%s", st->snaproot, name);
    return 0;
}

int
store_snapshot_create(struct store *st, const struct digest *chain_id,
                      const struct store_layer *layer, struct ib_err **err)
{
    int batch = store_batch_want(st, err); /* then volatile: see batch.c */
    if (batch < 0)
        return -1;
    AUTO_FREE char *tmp = store_snap_tmp_name(st, "unpack");
    if (mkdirat(st->snapfd, tmp, 0755) < 0)
        return ib_fail_errno(err, "create '%s/%s'", st->snaproot, tmp);
    AUTO_FD int dirfd = openat(st->snapfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    AUTO_FD int blob = -1;
    uint64_t size = 0;
    struct digest diff_id;
    int rc = -1;
    if (dirfd < 0) {
        ib_fail_errno(err, "open '%s/%s'", st->snaproot, tmp);
    } else if (store_blob_open(st, &layer->digest, &blob, &size, err) == 0) {
        if (store_unpack_fd(blob, dirfd, &layer->digest, &diff_id, err) < 0)
            ib_err_prefix(err, "layer '%s'", layer->digest.s);
        else if (digest_is_set(&layer->diff_id) && !digest_eq(&diff_id, &layer->diff_id))
            ib_fail(err, IB_E_STORE, "layer '%s': diffID is '%s', expected '%s'", layer->digest.s,
                    diff_id.s, layer->diff_id.s);
        else if (!batch && syncfs(dirfd) < 0)
            ib_fail_errno(err, "sync snapshot");
        else
            rc = 0;
    }
    if (rc == 0)
        rc = store_snapshot_mark(st, chain_id, err);
    if (rc == 0) {
        AUTO_FREE char *name = store_snapshot_name(chain_id);
        if (renameat(st->snapfd, tmp, st->snapfd, name) < 0 && errno != EEXIST &&
            errno != ENOTEMPTY)
            rc = ib_fail_errno(err, "move snapshot into place");
        else if (batch)
            store_batch_note_snapshot(st);
        else
            rc = ib_fsync_dir(st->snapfd, "snapshots", err);
    }
    ib_rm_rf_at(st->snapfd, tmp, NULL); /* gone after a successful rename */
    return rc;
}

int
store_snapshot_ensure(struct store *st, const struct digest *parent_chain,
                      struct store_layer *layer, struct ib_err **err)
{
    digest_chain(parent_chain, &layer->diff_id, &layer->chain_id);
    if (store_snapshot_exists(st, &layer->chain_id))
        return 0;
    return store_snapshot_create(st, &layer->chain_id, layer, err);
}
