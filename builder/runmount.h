/* builder/runmount.h: RUN --mount (internal to builder/: run.c, runmount.c, sshagent.c). */
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
 * --explain-cache inputs), with the security mode of an insecure step (s->insecure).
 * Errors name FILE:LINE (a required ssh agent that is missing: FILE:LINE:COL). */
int runmount_parse(struct bctx *b, struct bstage *s, const struct df_instr *in, struct runmounts *r,
                   struct keyb *k, struct ib_buf *inputs, struct ib_err **err);
/* On a cache miss: copy context sources, open and lock cache dirs, start the ssh proxies,
 * fill r->sm; secrets with env= and SSH_AUTH_SOCK (first ssh mount) are appended to env. */
int runmount_prepare(struct bctx *b, struct bstage *s, const struct df_instr *in,
                     struct runmounts *r, struct ib_strv *env, struct ib_err **err);
/* Unlock, remove the temporary copies, stop the ssh proxies, wipe the secrets. */
void runmount_release(struct runmounts *r);
/* The value of build secret id (`build --secret id=ID[,src=FILE|,env=VAR]`) appended to out;
 * *found false when no --secret gives it (or its variable is unset). */
int runmount_secret(struct bctx *b, const char *id, struct ib_buf *out, bool *found,
                    struct ib_err **err);

/* ---- sshagent.c: the agents of RUN --mount=type=ssh ---- */

struct ssh_agents;
struct ssh_proxy;

/* The agents of `build --ssh` specs ("ID[=SOCKET|KEY[,KEY...]]"; no path: $SSH_AUTH_SOCK).
 * Key files are loaded into an ssh-agent started here.  *out: ssh_agents_free (which stops
 * those agents). */
int ssh_agents_open(char *const *specs, size_t n, struct ssh_agents **out, struct ib_err **err);
/* The agent socket for id, or NULL when no --ssh named it (a may be NULL). */
const char *ssh_agents_socket(const struct ssh_agents *a, const char *id);
void ssh_agents_free(struct ssh_agents *a);

/* Listen on <dir>/agent (mode, owner uid:gid; -1 = 0) and relay each connection to the
 * agent socket upstream, on a thread of its own.  *out: ssh_proxy_stop. */
int ssh_proxy_start(const char *upstream, const char *dir, int mode, int64_t uid, int64_t gid,
                    struct ssh_proxy **out, struct ib_err **err);
/* The absolute path of the proxy's socket. */
const char *ssh_proxy_path(const struct ssh_proxy *p);
/* Stop the thread, close every connection, remove the socket. */
void ssh_proxy_stop(struct ssh_proxy *p);

#endif
