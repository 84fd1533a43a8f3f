/* builder/context.h: the build context, seen through .dockerignore-style filters
 * (internal to builder/).
 *
 * A walk visits the entries under a context directory in byte order of their
 * names, a directory before its contents, never following symlinks.  Each
 * filter layer tests paths with the parent-aware rules of parser.h section 3:
 *   - exclude: an excluded entry is not visited for itself, but the walk still
 *     goes into an excluded directory when an exception could re-include
 *     something below it; the directory is then visited just before its first
 *     surviving descendant (and not at all when none survives);
 *   - include: only matching entries survive; the ancestors of a matching entry
 *     are visited just before it.
 * Layers stack: each one filters what the previous one let through, so an
 * exception in one layer cannot bring back what another removed.
 * Errors reading a directory that the first layer leaves out (permission
 * denied) are ignored; anywhere else they are fatal.
 */
#ifndef IMGBUILD_BUILDER_CONTEXT_H
#define IMGBUILD_BUILDER_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "common/err.h"
#include "common/strv.h"

struct df_ignore;

/* One filter layer; either pattern list may be NULL (no filtering of that kind). */
struct context_filter {
    const struct df_ignore *exclude; /* e.g. the .dockerignore patterns */
    const struct df_ignore *include; /* e.g. the sources a COPY needs */
};

/* A visit callback returns 0 to go on, CONTEXT_SKIP to skip the contents of the
 * directory just visited (for a file: the rest of its directory), or -1 with
 * *err set to stop the walk. */
#define CONTEXT_SKIP 1
typedef int (*context_visit_fn)(void *ctx, const char *relpath, const struct stat *st,
                                struct ib_err **err);

/* Walk the directory rootfd (not itself visited) through nlayers filter layers
 * (0 = everything).  relpath is slash-separated and relative; st is from lstat. */
int context_walk(int rootfd, const struct context_filter *layers, size_t nlayers,
                 context_visit_fn visit, void *ctx, struct ib_err **err);

/* Open relpath under rootfd as the filtered view shows it: a path that the
 * layers filter out fails with sys ENOENT, as does one outside the context.
 * No symlink is followed, at any component.  *fd: caller closes. */
int context_open(int rootfd, const struct context_filter *layers, size_t nlayers,
                 const char *relpath, int flags, int *fd, struct ib_err **err);

/* Find and read the ignore file of a build: "<dockerfile>.dockerignore" next to
 * the Dockerfile first (unless dockerfile is NULL or "-"), else
 * "<context_dir>/.dockerignore".  No file means no patterns.  Patterns are
 * appended to *patterns; *source (if not NULL) gets the file used, or NULL;
 * caller frees. */
int context_read_ignore(const char *context_dir, const char *dockerfile, struct ib_strv *patterns,
                        char **source, struct ib_err **err);

#endif
