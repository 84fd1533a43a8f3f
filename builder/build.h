/* builder/build.h: internals of the build engine (build.c, dispatch.c, run.c, copy.c,
 * cache.c, rootfs.c).
 *
 * One struct bctx per build; one struct bstage per stage of the plan.  A stage
 * holds the image being made (store_image: config + layers), its ARGs in scope
 * and its cache key chain.  Steps that change files (RUN, COPY, ADD, WORKDIR
 * when it creates the dir) extend the key chain; metadata steps only change
 * the config, so a LABEL does not invalidate the steps after it.
 */
#ifndef IMGBUILD_BUILDER_BUILD_H
#define IMGBUILD_BUILDER_BUILD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "builder/builder.h"
#include "builder/plan.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/strv.h"
#include "parser/parser.h"
#include "store/store.h"

struct mdcache;
struct ssh_agents;

struct bstage {
    struct plan_stage *ps;
    struct store_image *img;
    struct plan_vars args;    /* ARGs in scope (value NULL: declared without a value) */
    struct digest key;        /* cache key of the last filesystem state */
    char *label;              /* "build", "stage-1", or "" for a single-stage build */
    size_t nsteps, cur;       /* progress: [label cur/nsteps] */
    bool cmd_set;             /* CMD given in this stage (ENTRYPOINT keeps it) */
    struct df_file **onbuild; /* parsed triggers of the base image (kept for the AST) */
    size_t nonbuild;
    int state;     /* 0 waiting, 1 building, 2 done, -1 failed */
    bool insecure; /* the RUN being dispatched has --security=insecure (dispatch.c) */
};

/* A named build context (namedctx.c). */
struct bnamed {
    struct build_context c;
    int fd;                   /* c.dir: the directory; else -1 */
    char *path;               /* c.dir: its real path */
    struct df_ignore *ignore; /* c.dir: its own .dockerignore, or NULL */
    struct mdcache *md;       /* c.dir: its metadata cache */
};

struct bctx {
    struct store *st;
    const struct build_opts *o;
    struct df_file *df;
    struct plan *plan;
    struct bstage *stages;
    int ctxfd;                /* the context dir, or -1 */
    char *ctxpath;            /* its real path, or NULL */
    struct df_ignore *ignore; /* .dockerignore, or NULL */
    struct mdcache *md;
    struct ib_strv used_args; /* --build-arg names some ARG consumed */
    unsigned stepno;
    unsigned ncached;
    pthread_mutex_t lock;        /* progress, stepno, used_args, md (parallel stages) */
    pthread_mutex_t pull_lock;   /* one pull or download at a time; reg, own_reg, pulled */
    struct registry_client *reg; /* o->registry or own_reg, made on first use */
    struct registry_client *own_reg;
    struct ib_strv pulled;  /* "PLATFORM NAME" pulled (or re-checked) during this build */
    struct ssh_agents *ssh; /* build --ssh (sshagent.c), or NULL */
    char *extra_hosts;      /* build --add-host as /etc/hosts lines, or NULL */
    struct bnamed *named;   /* --build-context, in the order given (plan_context_lookup) */
    size_t nnamed;
    struct ib_strv layouts; /* "NAME PLATFORM MANIFEST" copied from oci-layout contexts
                               during this build (pull_lock) */
};

/* One executing step, for messages and progress. */
struct bstep {
    struct bctx *b;
    struct bstage *s;
    const struct df_instr *in;
    unsigned no; /* #N, 0 when the step is not shown */
    double t0;
};

/* ---- build.c ------------------------------------------------------------ */
void build_emit(struct bctx *b, enum build_event_kind k, unsigned step, const char *text,
                double secs, const struct sandbox_result *run);
void build_warn(struct bctx *b, const char *fmt, ...) IB_PRINTF(2, 3);
double build_now(void);
/* "FILE:LINE: msg" as IB_E_BUILD (or kind) */
int build_fail_at(struct bctx *b, const struct df_instr *in, enum ib_errkind kind,
                  struct ib_err **err, const char *fmt, ...) IB_PRINTF(5, 6);
/* Show a step: number it and emit START with "[label i/n] TEXT". */
void build_step_start(struct bstep *sp, const char *text);
void build_step_done(struct bstep *sp, bool cached, const struct sandbox_result *run);
/* A base or --from image for platform ("os/arch[/variant]"): from the store when it is
 * there for that platform (and no --pull), else pulled; with the snapshots of all its
 * layers present.  *out: store_image_free. */
int build_image_ready(struct bctx *b, const char *ref, const char *platform,
                      struct store_image **out, struct ib_err **err);
/* Make sure the snapshots of all img's layers are there (overlay lowers); what names the
 * image in errors. */
int build_image_snapshots(struct bctx *b, const struct store_image *img, const char *what,
                          struct ib_err **err);
/* The registry client of the build (made on first use).  Call with pull_lock held. */
int build_registry(struct bctx *b, struct registry_client **out, struct ib_err **err);

/* ---- dispatch.c: one instruction --------------------------------------- */
int dispatch_instr(struct bctx *b, struct bstage *s, const struct df_instr *in,
                   struct ib_err **err);
/* Variable lookup for expansion: ENV of the image first, then ARGs with a value. */
const char *stage_lookup(void *ctx, const char *name);
int stage_expand(struct bctx *b, struct bstage *s, const struct df_instr *in, const char *word,
                 char **out, struct ib_err **err);
/* "K=V" environment of RUN: image Env, then ARGs in scope not in Env, then proxy args. */
void stage_run_env(struct bctx *b, struct bstage *s, struct ib_strv *env);
/* Current working dir of the stage ("/" when unset). */
const char *stage_workdir(struct bstage *s);
/* The value of --NAME=value in an instruction, or NULL; *n_seen counts matches. */
const char *instr_flag(const struct df_instr *in, const char *name);
/* The SHELL in effect (from the config, else /bin/sh -c). */
void stage_shell(struct bstage *s, struct ib_strv *out);
void json_str(struct ib_buf *b, const char *s);
void json_strv(struct ib_buf *b, char *const *v, size_t n);
/* Go's %q of a []string: ["a" "b"] */
void go_quote_strv(struct ib_buf *b, char *const *v, size_t n);

/* ---- run.c: RUN --------------------------------------------------------- */
int dispatch_run(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err);
/* Commit upper (moved into the store) as a layer on top of s->img with history msg, or
 * add an empty_layer history entry when upper is empty; removes upper either way. */
int stage_commit_upper(struct bctx *b, struct bstage *s, const char *upper, const char *msg,
                       struct store_layer *out, bool *empty, struct ib_err **err);

/* ---- copy.c: COPY, ADD, WORKDIR's mkdir --------------------------------- */
int dispatch_copy(struct bctx *b, struct bstage *s, const struct df_instr *in, struct ib_err **err);
/* WORKDIR: create dir in a layer if missing. */
int stage_mkdir_workdir(struct bctx *b, struct bstage *s, const struct df_instr *in,
                        const char *dir, struct ib_err **err);
/* Copy the tree under srcfd (everything) into dir (created): type=local export. */
int copy_tree_to_dir(int srcfd, const char *dir, struct ib_err **err);

/* FROM NAME of a named directory context: the stage's root filesystem is the directory
 * (FROM scratch + COPY . /), cached like a COPY. */
int copy_from_context_dir(struct bctx *b, struct bstage *s, const struct bnamed *nc,
                          struct bstep *sp, struct ib_err **err);

/* ---- namedctx.c: --build-context ----------------------------------------- */
/* Parse o->contexts, open the directories (with .dockerignore and metadata cache); the
 * names are appended to names (for the plan).  Usage errors are IB_E_USAGE. */
int named_open(struct bctx *b, struct ib_strv *names, struct ib_err **err);
/* The named context called name, or NULL. */
const struct bnamed *named_lookup(const struct bctx *b, const char *name);
/* The named directory context open as fd, or NULL. */
const struct bnamed *named_by_fd(const struct bctx *b, int fd);
/* The image a docker-image:// or oci-layout:// context stands for, for platform, ready
 * as build_image_ready makes it.  *out: store_image_free. */
int named_image_ready(struct bctx *b, const struct bnamed *nc, const char *platform,
                      struct store_image **out, struct ib_err **err);
/* What the context is, for messages: the image reference, layout path or directory. */
const char *named_describe(const struct bnamed *nc);
int named_save(struct bctx *b, struct ib_err **err);
void named_release(struct bctx *b);

/* ---- rootfs.c: read-only views of an image's filesystem ------------------ */
/* A dirfd on the merged (read-only) root of img's layers: a detached overlay mount
 * (closing the fd drops it), the single snapshot, or an empty dir for no layers. */
int rootfs_open(struct store *st, const struct store_image *img, int *fd, struct ib_err **err);
/* Snapshot paths of img's layers, topmost first (overlay lowerdir order). */
int rootfs_lowers(struct store *st, const struct store_image *img, struct ib_strv *out,
                  struct ib_err **err);
/* Resolve path (absolute, inside the root) following symlinks inside rootfd, all
 * components but the last (and the last too when follow_last); the result is a
 * clean relative path ("" = root); caller frees. */
char *rootfs_resolve(int rootfd, const char *path, bool follow_last);
/* Read a small file of the root (e.g. etc/passwd), not following symlinks out of it. */
int rootfs_read(int rootfd, const char *relpath, struct ib_buf *out);

/* ---- cache.c ------------------------------------------------------------- */
/* key = H(parts...) */
struct keyb {
    struct digest_ctx *c;
};
void keyb_init(struct keyb *k, const struct digest *parent, const char *kind);
void keyb_add(struct keyb *k, const char *name, const char *value);
void keyb_final(struct keyb *k, struct digest *out);
/* Whether s's steps skip the cache: --no-cache, or s named in --no-cache-filter. */
bool stage_no_cache(const struct bctx *b, const struct bstage *s);
/* A layer step's cached result: unless s skips the cache (stage_no_cache), look key up;
 * on a hit put the layer (or, for an empty step, only the history entry msg) on the
 * stage's image.  The stage's key becomes key either way.  inputs (the step's "name
 * value" lines, or NULL) go to --explain-cache.  True on a hit. */
bool cache_use(struct bstep *sp, const struct digest *key, const char *inputs, const char *msg);
int cache_record(struct bctx *b, const struct digest *key, const struct store_layer *layer,
                 bool empty, struct ib_err **err);
/* A text value in the store's cache (JSON string); -1 when missing. */
int cache_get_text(struct store *st, const char *key, struct ib_buf *out);
/* Record key -> text; roots: digests prune must keep while the entry exists. */
int cache_put_text(struct bctx *b, const char *key, const char *text, const char *const *roots,
                   size_t nroots, struct ib_err **err);
/* --explain-cache: record of the step's inputs ("name value" lines); on a miss,
 * compare with the previous record of the same step identity and emit why. */
void cache_explain(struct bstep *sp, const char *inputs, bool hit);

/* Context file digests through the metadata cache (path, size, mtime, ctime, inode), one
 * per local context directory (its real path ctxpath).  *out: mdcache_free. */
int mdcache_load(struct bctx *b, const char *ctxpath, struct mdcache **out, struct ib_err **err);
int mdcache_save(struct bctx *b, struct mdcache *m, struct ib_err **err);
void mdcache_free(struct mdcache *m);
/* dirfd: the main context or a named one (its cache is used), or any other dir (hashed). */
int mdcache_digest(struct bctx *b, int dirfd, const char *relpath, const struct stat *st,
                   struct digest *out, struct ib_err **err);

#endif
