/* builder/runmount.h: RUN --mount (internal to builder/: run.c and runmount.c). */
#ifndef IMGBUILD_BUILDER_RUNMOUNT_H
#define IMGBUILD_BUILDER_RUNMOUNT_H

#include "builder/build.h"

struct rmount;

struct runmounts {
    struct rmount *m; /* as written */
    size_t n, cap;
    struct sandbox_mount *sm; /* for the sandbox (runmount_prepare) */
    size_t nsm;
};

/* Parse the step's --mount flags into r and add their definitions to the key (and to the
 * --explain-cache inputs).  Errors name FILE:LINE. */
int runmount_parse(struct bctx *b, struct bstage *s, const struct df_instr *in, struct runmounts *r,
                   struct keyb *k, struct ib_buf *inputs, struct ib_err **err);
/* On a cache miss: copy context sources, open and lock cache dirs, fill r->sm; secrets
 * with env= are appended to env. */
int runmount_prepare(struct bctx *b, struct bstage *s, const struct df_instr *in,
                     struct runmounts *r, struct ib_strv *env, struct ib_err **err);
/* Unlock, remove the temporary copies, wipe the secrets. */
void runmount_release(struct runmounts *r);

#endif
