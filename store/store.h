/* store/store.h: the local image store (public header of store/).
 *
 * The store is an OCI image layout (oci-layout, index.json, blobs/sha256/) plus
 * snapshots/ (unpacked layers in overlayfs form, keyed by ChainID; a symlink
 * to the sibling dir "<root>.snapshots", see store/snapshot.c), cache/
 * (build cache entries), tmp/ (in-progress writes), batches/ (one journal
 * "batch-<pid>-<n>" per open write batch, flock()ed by its owner; see
 * store_batch_begin and store/batch.c) and a lock file.  See design.md
 * "Store layout" and "Layers".
 *
 * Parts: references (ref_*), digests (digest_*), the store and its blobs
 * (store_*), layers and snapshots (store_layer_*, store_snapshot_*), images
 * (store_image_*), archives (store_save/store_load/store_import) and
 * maintenance (store_prune, store_fsck).
 *
 * Every function returning int returns 0 or -1 with *err set.  Ownership of
 * each *out is stated next to its function.
 */
#ifndef IMGBUILD_STORE_H
#define IMGBUILD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/strv.h"

/* ---- references ---------------------------------------------------------- */

/* A normalized image reference, as docker normalizes it:
 *   busybox                   -> docker.io/library/busybox:latest
 *   localhost:5000/a/b@sha256:... (tag left NULL)
 *   quay.io/x/y:1.0@sha256:... (tag and digest both kept)
 * Plain data; every string is owned by the struct (ref_release frees them). */
struct ref {
    char *domain; /* "docker.io", "localhost:5000", "[::1]:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* "latest" when neither tag nor digest was given; NULL if digest only */
    char *digest; /* "sha256:<64 hex>" or NULL */
};

/* Parse and normalize s.  Fails with IB_E_USAGE and a message naming the bad
 * part ("invalid reference format: repository name must be lowercase").
 * *out: release with ref_release. */
int ref_parse(const char *s, struct ref *out, struct ib_err **err);
void ref_release(struct ref *r);
/* "domain/path[:tag][@digest]"; caller frees. */
char *ref_string(const struct ref *r);
/* "domain/path" ("docker.io/library/busybox"); caller frees. */
char *ref_name(const struct ref *r);
/* The short form docker prints: "busybox", "user/app", "localhost:5000/a"; caller frees. */
char *ref_familiar_name(const struct ref *r);
/* Does s look like a (possibly short) hex image id rather than a name? */
bool ref_looks_like_id(const char *s);

/* ---- digests (SHA-256 only) ---------------------------------------------- */

#define DIGEST_HEX_LEN 64
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN) /* "sha256:" + hex */

struct digest {
    char s[DIGEST_STR_LEN + 1]; /* "sha256:<hex>", NUL-terminated; "" when unset */
};

/* Streaming SHA-256.  *out of digest_ctx_new: free with digest_ctx_free. */
struct digest_ctx;
int digest_ctx_new(struct digest_ctx **out, struct ib_err **err);
void digest_ctx_update(struct digest_ctx *c, const void *p, size_t n);
/* Finish into out; the context may then be reset and reused. */
void digest_ctx_final(struct digest_ctx *c, struct digest *out);
void digest_ctx_reset(struct digest_ctx *c);
void digest_ctx_free(struct digest_ctx *c);

/* One-shot SHA-256 of a buffer. */
void digest_buf(const void *p, size_t n, struct digest *out);
/* Validate "sha256:<64 lowercase hex>" (IB_E_USAGE on failure). */
int digest_parse(const char *s, struct digest *out, struct ib_err **err);
/* The hex part of a set digest. */
const char *digest_hex(const struct digest *d);
bool digest_is_set(const struct digest *d);
bool digest_eq(const struct digest *a, const struct digest *b);
/* ChainID: parent NULL or unset -> diff_id; else SHA256(parent + " " + diff_id). */
void digest_chain(const struct digest *parent, const struct digest *diff_id, struct digest *out);

/* ---- the store ------------------------------------------------------------ */

struct store;

enum store_open_flags {
    STORE_EXCLUSIVE = 1 << 0, /* take the lock exclusively (GC); default is shared */
    STORE_READONLY = 1 << 1,  /* do not create a missing store */
};

/* The default root: $IMGBUILD_ROOT, else /var/lib/imgbuild as root, else
 * ${XDG_DATA_HOME:-~/.local/share}/imgbuild.  Caller frees. */
char *store_default_root(void);
/* Open (creating it when missing) the store at root (NULL: the default).  The
 * lock is held (shared, or exclusive with STORE_EXCLUSIVE) until store_close,
 * so prune never removes what an open store may be using.  Stale files in
 * tmp/ (left by dead processes) are removed.  *out: close with store_close. */
int store_open(const char *root, unsigned flags, struct store **out, struct ib_err **err);
void store_close(struct store *st);
const char *store_root(const struct store *st);

/* Write batches.  Between store_batch_begin and store_batch_end, blob commits,
 * layer commits (STORE_COMMIT_MOVE included), snapshots and cache entries skip
 * fsync and syncfs (each still goes to a temp name and is renamed into place);
 * store_batch_end makes them all durable with one syncfs per filesystem of the
 * store and removes the batch's journal.  A journal (batches/batch-<pid>-<n>:
 * boot id and start time, fsynced before the batch's first write) is the one
 * durable write a batch costs; a batch that writes nothing costs nothing.
 * store_open recovers journals left by dead processes: same boot, a sync;
 * another boot (the machine went down), blobs written since the start are
 * hashed again and removed when damaged, snapshots and cache entries written
 * since then are removed.  Write tags (store_tag, store_image_commit with a
 * ref) only after store_batch_end: a tag must name only durable data (store_tag
 * syncs again if something is still pending).  Batches nest (an inner end
 * syncs, the outermost also removes the journal); store_close ends a batch left
 * open.  End the batch on failure paths too. */
int store_batch_begin(struct store *st, struct ib_err **err);
int store_batch_end(struct store *st, struct ib_err **err);

/* A new empty directory in the snapshots dir (so an overlay upper dir made
 * here can be moved into place by store_layer_commit without a copy).
 * Removed at the next store_open once this process is gone.  Caller frees *path. */
int store_tmp_mkdir(struct store *st, const char *what, char **path, struct ib_err **err);

/* ---- blobs ---------------------------------------------------------------- */

/* Streaming blob writer: bytes go to a temp file in tmp/ and through SHA-256;
 * commit fsyncs it (in a write batch only when it is 4 MiB or more) and
 * renames it to blobs/sha256/<digest>.
 * The blob's name is always its verified digest.  *out: finish with store_blob_commit or
 * store_blob_abort (either frees it). */
struct blob_writer;
int store_blob_begin(struct store *st, struct blob_writer **out, struct ib_err **err);
int blob_writer_write(struct blob_writer *w, const void *p, size_t n, struct ib_err **err);
/* expected may be NULL; when given, a mismatch fails with IB_E_STORE and
 * nothing is stored.  Frees w in every case. */
int store_blob_commit(struct blob_writer *w, const struct digest *expected, struct digest *out,
                      uint64_t *size, struct ib_err **err);
void store_blob_abort(struct blob_writer *w);

/* Copy all of fd into a blob (see store_blob_commit for expected). */
int store_blob_put_fd(struct store *st, int fd, const struct digest *expected, struct digest *out,
                      uint64_t *size, struct ib_err **err);
int store_blob_put_buf(struct store *st, const void *p, size_t n, struct digest *out,
                       struct ib_err **err);
bool store_blob_exists(struct store *st, const struct digest *d);
/* Open a blob read-only; caller closes *fd.  Missing: IB_E_STORE, sys ENOENT. */
int store_blob_open(struct store *st, const struct digest *d, int *fd, uint64_t *size,
                    struct ib_err **err);
/* Read a (small) blob into b, up to limit bytes. */
int store_blob_read(struct store *st, const struct digest *d, size_t limit, struct ib_buf *b,
                    struct ib_err **err);
/* Path of a blob file (may not exist); caller frees. */
char *store_blob_path(struct store *st, const struct digest *d);

/* ---- layers and snapshots ------------------------------------------------- */

#define MEDIA_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

enum store_compression {
    STORE_COMPRESS_NONE = 0,
    STORE_COMPRESS_GZIP,
    STORE_COMPRESS_ZSTD,
};

/* One layer of an image. */
struct store_layer {
    struct digest diff_id;  /* SHA-256 of the uncompressed tar */
    struct digest digest;   /* the blob (== diff_id for local uncompressed layers) */
    struct digest chain_id; /* of the image's layers up to and including this one */
    uint64_t size;          /* blob size in bytes */
    enum store_compression compression;
};

enum store_commit_flags {
    /* Move upperdir into snapshots/ as the layer's snapshot (no copy; the
     * upper dir must be on the store's filesystem, e.g. from store_tmp_mkdir,
     * and unmounted).  Without it the snapshot is unpacked from the new blob
     * and upperdir is left as it was. */
    STORE_COMMIT_MOVE = 1 << 0,
};

/* Commit an overlayfs upper dir (0:0 char devices = whiteouts,
 * trusted.overlay.opaque=y = opaque dirs) as a new uncompressed layer on top of
 * the chain parent_chain (NULL or unset for a base layer): one pass writes the
 * sorted PAX tar with OCI whiteouts into the blob while hashing the diffID;
 * then the snapshot for the new ChainID is created.  Honors SOURCE_DATE_EPOCH
 * (mtimes clamped).  Fills *out. */
int store_layer_commit(struct store *st, const struct digest *parent_chain, const char *upperdir,
                       unsigned flags, struct store_layer *out, struct ib_err **err);

/* The snapshot directory of a ChainID: an absolute path; caller frees *path.
 * Missing: IB_E_STORE with sys ENOENT. */
int store_snapshot_path(struct store *st, const struct digest *chain_id, char **path,
                        struct ib_err **err);
/* The short name of a snapshot under store_snapshots_dir() ("<12 hex>"): with
 * the snapshots dir as cwd (or a dirfd), overlay lowerdir= stays short even
 * with 100 lowers.  Caller frees. */
char *store_snapshot_name(const struct digest *chain_id);
/* Absolute path of snapshots/; caller frees. */
char *store_snapshots_dir(struct store *st);
/* Make sure the snapshot of (parent_chain + layer) exists, unpacking the layer
 * blob if needed; fills layer->chain_id. */
int store_snapshot_ensure(struct store *st, const struct digest *parent_chain,
                          struct store_layer *layer, struct ib_err **err);

/* Securely unpack a layer blob stream (gzip, zstd or plain tar, detected) into
 * the empty directory dirfd in overlay form.  The compressed bytes are hashed
 * while streaming and must equal expected (if given); the uncompressed bytes
 * are hashed into *diff_id (if not NULL).  Entries that would land outside
 * dirfd are refused, naming the entry.  On failure the caller discards the
 * directory. */
int store_unpack_fd(int fd, int dirfd, const struct digest *expected, struct digest *diff_id,
                    struct ib_err **err);
/* The same for a user's archive (Dockerfile ADD): gzip, zstd, bzip2, xz or plain tar. */
int store_unpack_archive_fd(int fd, int dirfd, struct ib_err **err);

/* ---- images --------------------------------------------------------------- */

#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* A platform "os/arch[/variant]", aliases normalized (x86_64, aarch64, armhf, ...; the
 * default variants arm64/v8 and amd64/v1 spelled as none). */
struct store_platform {
    char os[32], arch[32], variant[16];
};
int store_platform_parse(const char *s, struct store_platform *out, struct ib_err **err);
/* This machine's (linux/<uname machine>). */
void store_platform_host(struct store_platform *out);
void store_platform_string(const struct store_platform *p, char *buf, size_t n);
/* Index of the best entry of an image index's "manifests" array (a json_t *) for want, or
 * -1 when none matches (containerd's default matcher's rules: store/platform.c). */
int store_platform_select(const void *manifests_json, const struct store_platform *want);
/* The platforms of an index's "manifests" array for a message: "linux/amd64, linux/arm/v7"
 * (attestation entries left out), or "none"; appended to out. */
void store_platform_list(const void *manifests_json, struct ib_buf *out);

/* An image: its manifest, config and layers.  Obtained from the store
 * (store_image_get) or made new (store_image_new) and then changed and written
 * (store_image_commit).  Free with store_image_free. */
struct store_image;

/* Look up an image by reference ("busybox", "x:1"), by image id (config
 * digest, "sha256:..." or a unique hex prefix of at least 4 chars) or by
 * manifest digest (name@sha256:...).  Not found: IB_E_STORE, sys ENOENT.
 * *out: free with store_image_free. */
int store_image_get(struct store *st, const char *name, struct store_image **out,
                    struct ib_err **err);
void store_image_free(struct store_image *img);
/* Load the image whose manifest blob (OCI or Docker schema2) is manifest; its
 * config blob must be stored too.  Not tagged by this.  *out: store_image_free. */
int store_image_load(struct store *st, const struct digest *manifest, struct store_image **out,
                     struct ib_err **err);
/* Image id (config digest) and manifest digest ("" for an uncommitted image). */
const struct digest *store_image_id(const struct store_image *img);
const struct digest *store_image_digest(const struct store_image *img);
size_t store_image_nlayers(const struct store_image *img);
/* Layer i (0 = base); chain_id filled in. */
const struct store_layer *store_image_layer(const struct store_image *img, size_t i);
/* The config JSON as stored (compact), appended to out. */
void store_image_config_json(const struct store_image *img, struct ib_buf *out);

/* A new image on top of base (NULL: FROM scratch): a copy of base's config
 * (history, rootfs, config) to be changed.  *out: free with store_image_free. */
int store_image_new(const struct store_image *base, struct store_image **out, struct ib_err **err);
/* Append a layer (diff_id, digest, size, compression) plus a history entry. */
void store_image_add_layer(struct store_image *img, const struct store_layer *layer,
                           const char *created_by);
/* Append an empty_layer history entry (ENV, LABEL, ...). */
void store_image_add_history(struct store_image *img, const char *created_by);
/* Set config.config[key] (e.g. "Env", "Cmd", "WorkingDir", "Labels") to the
 * JSON text value ("null" removes it).  Fails on bad JSON. */
int store_image_config_set(struct store_image *img, const char *key, const char *json,
                           struct ib_err **err);
/* config.config[key] as JSON text appended to out ("null" when unset). */
void store_image_config_get(const struct store_image *img, const char *key, struct ib_buf *out);
/* config.config[key] as strings: an array of strings (non-strings skipped) or one
 * string, appended to out; false when key is missing or of another type. */
bool store_image_config_strv(const struct store_image *img, const char *key, struct ib_strv *out);
/* config.config[key] when it is a string, else NULL (valid until the next change). */
const char *store_image_config_str(const struct store_image *img, const char *key);
/* A top-level config string ("architecture", "os", "variant"), else NULL. */
const char *store_image_top_str(const struct store_image *img, const char *key);
/* Set config.config[key][name] (an object, made if missing) to JSON text ("null" removes). */
int store_image_config_set_entry(struct store_image *img, const char *key, const char *name,
                                 const char *json, struct ib_err **err);
/* Set a top-level config field ("architecture", "os", "author"...) to JSON text. */
int store_image_config_set_top(struct store_image *img, const char *key, const char *json,
                               struct ib_err **err);

/* Write config + manifest blobs (created = SOURCE_DATE_EPOCH when set, else
 * now) and, if ref is not NULL, tag the result as ref.  Ids become available
 * through store_image_id/store_image_digest. */
int store_image_commit(struct store *st, struct store_image *img, const char *ref,
                       struct ib_err **err);

/* Point ref at the image (replacing an existing tag); ref NULL lists the
 * image in index.json untagged (if it is not listed yet). */
int store_tag(struct store *st, const struct store_image *img, const char *ref,
              struct ib_err **err);
/* Remove a tag; when name is an id, every tag of that image.  Blobs stay until
 * prune.  untagged (if not NULL) receives the removed references. */
int store_untag(struct store *st, const char *name, struct ib_strv *untagged, struct ib_err **err);

/* One row of `images`. */
struct store_image_info {
    char *ref;            /* full reference, or NULL for an untagged image */
    struct digest id;     /* config digest */
    struct digest digest; /* manifest digest */
    int64_t created;      /* seconds since the epoch, or -1 */
    uint64_t size;        /* sum of layer blob sizes */
};
/* Every tagged image; *out: free with store_image_info_free. */
int store_images_list(struct store *st, struct store_image_info **out, size_t *n,
                      struct ib_err **err);
void store_image_info_free(struct store_image_info *v, size_t n);

/* docker-inspect style JSON for an image (Id, Digest, RepoTags, RepoDigests,
 * Created, Size, Architecture, Os, Config, RootFS, History) appended to out. */
int store_image_inspect(struct store *st, const struct store_image *img, struct ib_buf *out,
                        struct ib_err **err);

/* ---- import, save, load ----------------------------------------------------- */

/* A rootfs tar (plain, gzip or zstd) read from fd becomes a one-layer image
 * tagged ref (may be NULL), like `docker import`.  *out (may be NULL): free
 * with store_image_free. */
int store_import(struct store *st, int fd, const char *ref, struct store_image **out,
                 struct ib_err **err);

enum store_archive_format {
    STORE_ARCHIVE_OCI = 0, /* OCI image layout in a tar */
    STORE_ARCHIVE_DOCKER,  /* manifest.json + repositories + configs + layers (`docker load`) */
};

/* Write the images named by refs as an archive to fd.  Layers are compressed
 * as asked (GZIP: default for OCI; the compressed blob and its digest are
 * cached in the store so that it is produced once). */
int store_save(struct store *st, const char *const *refs, size_t nrefs,
               enum store_archive_format fmt, enum store_compression comp, int fd,
               struct ib_err **err);
/* Read an OCI or docker archive from fd; loaded references go to loaded. */
int store_load(struct store *st, int fd, struct ib_strv *loaded, struct ib_err **err);

/* Copy one image of the OCI image layout directory dir (index.json, blobs/sha256/) into
 * the store: its manifest, config and layer blobs, each verified against its digest and
 * size (symlinks in the layout are not followed).  The image is the one of digest (a
 * manifest or index blob of the layout, listed in index.json or not) if not NULL, else the
 * index.json entry whose org.opencontainers.image.ref.name is tag if not NULL, else the
 * only entry of index.json.  From an image index the image for platform
 * ("os/arch[/variant]") is taken.  Nothing is tagged; *manifest gets the manifest's
 * digest (store_image_load it).  Errors are IB_E_STORE (sys ENOENT for a missing blob). */
int store_layout_import(struct store *st, const char *dir, const char *tag,
                        const struct digest *digest, const char *platform, struct digest *manifest,
                        struct ib_err **err);

/* The layer blob compressed as asked: from the cache, or made now (parallel
 * deflate / zstd, deterministic) and stored as a blob.  *out gets digest,
 * size, compression; diff_id is kept. */
int store_layer_compressed(struct store *st, const struct store_layer *layer,
                           enum store_compression comp, struct store_layer *out,
                           struct ib_err **err);

/* ---- build cache ---------------------------------------------------------- */

/* Record key (any string; hashed) -> value (JSON text).  roots lists the
 * digests the entry needs (blobs, or ChainIDs of snapshots): prune keeps them
 * while the entry exists. */
int store_cache_put(struct store *st, const char *key, const char *value_json,
                    const char *const *roots, size_t nroots, struct ib_err **err);
/* Look up key: value JSON appended to out.  Missing: IB_E_STORE, sys ENOENT. */
int store_cache_get(struct store *st, const char *key, struct ib_buf *out, struct ib_err **err);

/* ---- maintenance ---------------------------------------------------------- */

struct store_gc_stats {
    size_t blobs, snapshots, cache_entries, tmp_entries;
    uint64_t bytes;
};
enum store_prune_flags {
    STORE_PRUNE_CACHE = 1 << 0, /* drop build cache entries too */
};
/* Remove blobs, snapshots and cache entries not reachable from index.json or
 * the build cache.  Needs a store opened with STORE_EXCLUSIVE. */
int store_prune(struct store *st, unsigned flags, struct store_gc_stats *stats,
                struct ib_err **err);

/* Verify every blob's digest, every manifest's blobs and every needed
 * snapshot.  Problems are appended to report (one line each); returns -1 with
 * IB_E_STORE when anything is damaged. */
int store_fsck(struct store *st, struct ib_buf *report, struct ib_err **err);

#endif
