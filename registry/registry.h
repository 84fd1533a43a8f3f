/* registry/registry.h: the registry client (public header of registry/).
 *
 * Moves manifests and blobs between a registry (OCI distribution API v2) and
 * the local store: pull, push, login/logout, and a plain URL download for
 * `ADD <url>`.  HTTPS with the system CA by default; loopback registries
 * (localhost, 127.0.0.0/8, ::1) fall back to plain HTTP when they do not speak
 * TLS; --tls-verify=false skips verification (and allows plain HTTP) for any
 * host; a cert dir (ca.crt / *.crt, client.cert, client.key) comes from the
 * options or /etc/docker/certs.d/HOST[:PORT]/.
 *
 * Auth follows Docker: the 401 challenge (Bearer token service or Basic),
 * credentials from $DOCKER_CONFIG/config.json or ~/.docker/config.json
 * (auths, identitytoken, credsStore, credHelpers).  Secrets are never put into
 * error messages, and Authorization is never sent to another host that a
 * redirect leads to.
 *
 * Errors are IB_E_REGISTRY with one line naming the registry and reference.
 */
#ifndef IMGBUILD_REGISTRY_H
#define IMGBUILD_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

struct ref;
struct store;
struct store_image;
struct digest;

struct registry_client;

struct registry_opts {
    const char *cert_dir;    /* NULL: /etc/docker/certs.d/HOST[:PORT]/ if present */
    bool tls_no_verify;      /* --tls-verify=false */
    const char *config_path; /* NULL: $DOCKER_CONFIG/config.json or ~/.docker/config.json */
    const char *username;    /* explicit credentials (--creds); NULL: from the config */
    const char *password;
    unsigned parallel;  /* blobs at once; 0: 4 */
    unsigned timeout_s; /* no progress for this long fails a transfer; 0: 30 */
    unsigned retries;   /* attempts per request; 0: 4 */
};

/* Start loading the HTTP library (libcurl and its ~25 libraries: ~10 ms) on a
 * thread of its own, so that it overlaps the caller's other start-up work
 * (opening the store); the first transfer waits for it.  For commands that
 * will go to the network. */
void registry_preload(void);

/* opts may be NULL (defaults).  *out: free with registry_client_free. */
int registry_client_new(const struct registry_opts *opts, struct registry_client **out,
                        struct ib_err **err);
void registry_client_free(struct registry_client *c);

enum registry_pull_flags {
    /* Use the store's tag->digest record of an earlier pull of this reference
     * and platform (no network at all) when the image is still there. */
    REGISTRY_PULL_CACHED = 1 << 0,
    /* Unpack each layer into its snapshot as soon as it (and the layers below
     * it) is stored, overlapping the downloads: for a build that needs the
     * snapshots right away.  Without it a pull only downloads and verifies,
     * and store_snapshot_ensure unpacks a layer when something first needs it. */
    REGISTRY_PULL_UNPACK = 1 << 1,
};

/* Pull ref for platform ("os/arch[/variant]"; NULL: the host's) into st: the
 * manifest (chosen from an index), config and layers (verified; unpacked into
 * snapshots with REGISTRY_PULL_UNPACK), tagged as ref at the very end.  When
 * an earlier pull of ref is recorded, a HEAD request first: when the
 * registry's digest is the one recorded, nothing else is fetched.
 * *out (may be NULL): free with store_image_free. */
int registry_pull(struct registry_client *c, struct store *st, const struct ref *ref,
                  const char *platform, unsigned flags, struct store_image **out,
                  struct ib_err **err);

enum registry_format {
    REGISTRY_FORMAT_AUTO =
        0, /* the stored manifest as is when its layers are compressed, else OCI */
    REGISTRY_FORMAT_OCI,
    REGISTRY_FORMAT_DOCKER, /* Docker schema2 (gzip layers only) */
};

struct registry_push_opts {
    enum registry_format format;
    int compression;     /* enum store_compression; 0 (none) means the default, gzip */
    uint64_t chunk_size; /* > 0: upload blobs in PATCH requests of this many bytes at most
                          * (for registries or proxies that limit a request's size); 0: one
                          * PUT per blob */
};

/* Push the store image named src ("app:1", an id, ...) to dest.  The pushed
 * manifest digest goes to *pushed (may be NULL).  opts may be NULL. */
int registry_push(struct registry_client *c, struct store *st, const char *src,
                  const struct ref *dest, const struct registry_push_opts *opts,
                  struct digest *pushed, struct ib_err **err);

/* Check user/password against registry ("docker.io", "localhost:5000") and,
 * when they work, store them (credential helper, else config.json auths,
 * written atomically with mode 0600). */
int registry_login(struct registry_client *c, const char *registry, const char *user,
                   const char *password, struct ib_err **err);
/* Forget the stored credentials of registry.  Not logged in: IB_E_USAGE. */
int registry_logout(struct registry_client *c, const char *registry, struct ib_err **err);

/* What registry_download learned. */
struct registry_download_info {
    time_t mtime;    /* Last-Modified, or 0 when the server sent none */
    char *filename;  /* last path segment of the final URL ("index" if empty); caller frees */
    char digest[72]; /* "sha256:<hex>" of the bytes */
    uint64_t size;
};

/* Stream url (http or https; no registry auth) into the file dest (written as
 * a temp file next to it, then renamed; mode 0600, mtime = Last-Modified).
 * checksum ("sha256:<hex>" or NULL) must match, else nothing is written.
 * info may be NULL; when given, release info->filename with free. */
int registry_download(struct registry_client *c, const char *url, const char *dest,
                      const char *checksum, struct registry_download_info *info,
                      struct ib_err **err);

/* HEAD url (no registry auth): a string that changes when the resource does
 * (from ETag and Last-Modified), or *out NULL when the server sends neither or
 * the HEAD is not answered with 200.  Caller frees *out. */
int registry_url_validator(struct registry_client *c, const char *url, char **out,
                           struct ib_err **err);

#endif
