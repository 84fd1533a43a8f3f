/* builder/copy.h: COPY/ADD internals shared by copy.c (sources, chmod, owners, archives)
 * and copy_write.c (the instruction, writing the upper dir). */
#ifndef IMGBUILD_BUILDER_COPY_H
#define IMGBUILD_BUILDER_COPY_H

#include <stdbool.h>
#include <sys/stat.h>

#include "builder/build.h"

enum copy_ent_kind {
    COPY_ENT_TOP = 1, /* a source as named (or matched by a wildcard) */
    COPY_ENT_CHILD,   /* something below a source directory */
    COPY_ENT_ARCHIVE, /* ADD: a local archive, unpacked into dst */
    COPY_ENT_HEREDOC, /* COPY <<EOF: data */
    COPY_ENT_URL,     /* ADD <url>: src is the digest of the downloaded blob */
    COPY_ENT_GIT,     /* ADD <git ref>: src is the URL (redacted), git the resolved source */
};

struct copy_git;

struct copy_ent {
    char *src; /* relative to the source root ("" = the root) */
    char *dst; /* relative to the image root, clean ("" = /) */
    struct stat st;
    int kind;
    char *data;           /* heredoc contents */
    struct copy_git *git; /* COPY_ENT_GIT */
};

struct copyjob {
    struct bctx *b;
    struct bstage *s;
    const struct df_instr *in;
    bool add;
    int srcfd;                  /* the source root: the context, or another stage's rootfs */
    const struct bnamed *named; /* srcfd is this named directory context (not closed) */
    int rootfd;                 /* the stage's own rootfs (destination side), -1 with --link */
    int upfd;                   /* the upper dir being filled */
    char *dest;                 /* absolute */
    bool dest_dir;
    bool chown;
    uid_t uid;
    gid_t gid;
    char *chmod;
    char *checksum;                 /* ADD --checksum, expanded */
    bool parents, link, keep_owner; /* keep_owner: --from (owners come with the files) */
    struct ib_strv excludes;
    struct ib_strv srcs;
    struct copy_ent *ents;
    size_t n, cap;
};

int copy_collect(struct copyjob *j, const char *src, struct ib_err **err);
void copyjob_release(struct copyjob *j);
int copy_chmod(const char *spec, mode_t mode, bool isdir, mode_t *out);
int copy_resolve_chown(struct copyjob *j, const char *spec, struct ib_err **err);
bool copy_is_archive(int dirfd, const char *rel);
/* ADD <url>: download (or find in the store's cache) and add one COPY_ENT_URL entry. */
int copy_add_url(struct copyjob *j, const char *url, const char *checksum, struct ib_err **err);
/* ADD <git ref> (addgit.c): resolve the ref to a commit (ls-remote) and add one COPY_ENT_GIT
 * entry; its key line; on a miss, fetch and check out the commit into *tmp (a temporary dir
 * of the store, which the caller removes) and fill sub->ents with the tree to write from
 * *treefd (the top first, then its contents). */
int copy_add_git(struct copyjob *j, const char *src, struct ib_err **err);
void copy_git_inputs(const struct copy_ent *e, struct ib_buf *inputs);
int copy_git_checkout(struct copyjob *j, const struct copy_ent *e, struct copyjob *sub, int *treefd,
                      char **tmp, struct ib_err **err);
void copy_git_free(struct copy_git *cg);
bool numeric_prefix(const char *s, unsigned long *out);
/* The source lines of the cache key (and of --explain-cache): paths, modes and, with
 * contents, file digests (through the metadata cache) and link targets. */
int copy_source_inputs(struct copyjob *j, bool contents, struct ib_buf *inputs,
                       struct ib_err **err);
/* Write every entry into j->upfd. */
int copy_write(struct copyjob *j, struct ib_err **err);

#endif
