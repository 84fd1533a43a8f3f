/* builder/gitsrc.h: git repositories as ADD sources (internal to builder/): BuildKit's git
 * URLs, resolving a ref to a commit with `git ls-remote`, and a shallow fetch + checkout of
 * one commit with the host's git binary.
 *
 * A source is a git URL as BuildKit reads one: http:// or https:// whose path ends in ".git",
 * git://, ssh://, or scp-like user@host:path; then an optional query of options (BuildKit
 * 0.24's "?ref=R&tag=T&branch=B&subdir=S&checksum=ID&keep-git-dir=BOOL&submodules=BOOL",
 * values percent-decoded, "commit" an alias of "checksum", stripped from the remote given to
 * git) and an optional fragment "#REF[:SUBDIR]" or "##ref=REF,subdir=SUBDIR,commit=ID" (a
 * ref or subdir in both must agree).  git always runs with a clean environment (HOME an
 * empty dir, no system or global config, no terminal prompt, only the http, https, ssh and
 * git protocols), a timeout, and the URL after "--".
 */
#ifndef IMGBUILD_BUILDER_GITSRC_H
#define IMGBUILD_BUILDER_GITSRC_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/strv.h"

struct gitsrc_url {
    char *remote; /* the repository, as given to git (no query, no fragment) */
    char *ref;    /* branch, tag, full commit id or other ref; NULL: the remote's HEAD */
    char *subdir; /* clean and relative; "" for the whole tree */
    char *commit; /* "##commit=ID", "?checksum=ID": an expected commit (prefix), or NULL */
    const char *commit_key; /* where commit came from: "##commit=", "?checksum=", "?commit=" */
    int keep_git_dir;       /* "?keep-git-dir=BOOL": 1 or 0; -1 when not in the URL */
    bool submodules;        /* check out submodules (true unless "?submodules=false") */
};

struct gitsrc_rev {
    char commit[65]; /* the commit to check out (hex) */
    char object[65]; /* the object the ref names when that is an annotated tag, else "" */
    char *refname;   /* the ref it came from ("refs/heads/main"), or NULL (a commit id) */
};

/* How git runs: the binary, an empty dir for HOME, a time limit per command, and for ssh
 * transports the agent to authenticate with and the known hosts to check the server's key
 * against. */
struct gitsrc_run {
    const char *git;
    const char *home;
    int timeout;               /* seconds */
    const char *ssh_auth_sock; /* the agent's socket, or NULL: the environment's SSH_AUTH_SOCK */
    const char *known_hosts;   /* a known_hosts file, or NULL: ssh's own (~/.ssh/known_hosts) */
    /* HTTP auth for an http(s) remote: git gets auth_key = auth_value through its environment
     * (GIT_CONFIG_COUNT/KEY/VALUE: never a command line, never a file); NULL: none */
    const char *auth_key;    /* "http.<scheme>://<host>[:<port>]/.extraHeader" */
    const char *auth_value;  /* "Authorization: ..." (a secret) */
    const char *auth_secret; /* the ID of the secret it came from (for messages) */
};

/* Whether src names a git repository (as BuildKit decides for ADD). */
bool gitsrc_is_git(const char *src);
/* Whether a repository URL (no fragment) goes over ssh: ssh:// or scp-like user@host:path. */
bool gitsrc_is_ssh(const char *remote);
/* Split a git source into its parts; fails on a bad query, fragment, ref or subdir, or a
 * query that contradicts the fragment.  Release with gitsrc_url_release. */
int gitsrc_url_parse(const char *src, struct gitsrc_url *out, struct ib_err **err);
void gitsrc_url_release(struct gitsrc_url *u);
/* The query q (len bytes, after the '?') of src into u, which holds what src's fragment gave
 * (gitquery.c); fails, naming src, on an unknown or repeated key, an empty value or a bad
 * boolean, tag with branch, or a ref, subdir or commit that differs from the fragment's. */
int gitsrc_query_apply(const char *src, const char *q, size_t len, struct gitsrc_url *u,
                       struct ib_err **err);
/* The URL with a password replaced by "xxxxx" (for messages, keys, .git/config); caller
 * frees. */
char *gitsrc_redact(const char *remote);
/* "scheme://host[:port]/" of an http:// or https:// remote (lowercase, no user or password),
 * or NULL for other transports; caller frees. */
char *gitsrc_http_origin(const char *remote);
/* The build secrets that may authenticate to an http(s) remote, the first one given wins
 * (BuildKit's order: a header before a token, a host-scoped secret before the others):
 * GIT_AUTH_HEADER.<host:port> and GIT_AUTH_TOKEN.<host:port> when the URL has a port, then
 * GIT_AUTH_HEADER.<host>, GIT_AUTH_TOKEN.<host>, GIT_AUTH_HEADER, GIT_AUTH_TOKEN.  Nothing for
 * other transports. */
void gitsrc_auth_ids(const char *remote, struct ib_strv *ids);
/* The Authorization header for secret id's value (trailing newlines and blanks dropped): a
 * GIT_AUTH_TOKEN* is HTTP Basic auth as user "x-access-token", a GIT_AUTH_HEADER* the whole
 * value.  Appends "Authorization: ..." to out (grown once: no stray copies); fails, naming only
 * the ID, on an empty value or a control character. */
int gitsrc_auth_header(const char *id, const char *secret, size_t len, struct ib_buf *out,
                       struct ib_err **err);
/* A boolean as Go's strconv.ParseBool reads one (1 t T TRUE true True, 0 f F FALSE false
 * False); -1 for anything else. */
int gitsrc_parse_bool(const char *v, bool *out);
/* 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. */
bool gitsrc_is_commit_id(const char *s);
/* Pick ref from `git ls-remote` output as BuildKit does: "refs/REF" itself, else the branch
 * refs/heads/REF, else the tag refs/tags/REF (an annotated tag's commit from its "^{}" line).
 * ref NULL: the HEAD line (and its "ref:" symref line from --symref).  0 found, -1 not. */
int gitsrc_pick(const char *lsremote, const char *ref, struct gitsrc_rev *out);
void gitsrc_rev_release(struct gitsrc_rev *r);

/* The git binary in $PATH; *path: caller frees. */
int gitsrc_find_git(char **path, struct ib_err **err);
/* The time limit for one git command: $IMGBUILD_GIT_TIMEOUT seconds, default 600. */
int gitsrc_timeout(void);
/* $IMGBUILD_GIT_KNOWN_HOSTS, the known_hosts file ssh transports check host keys against
 * (NULL when unset: ssh's own files); fails when it is not a readable file. */
int gitsrc_known_hosts(const char **path, struct ib_err **err);
/* Resolve u's ref to a commit: without network for a full commit id, else `git ls-remote`. */
int gitsrc_resolve(const struct gitsrc_run *g, const struct gitsrc_url *u, struct gitsrc_rev *out,
                   struct ib_err **err);
/* Fetch r's commit of u (shallow) into dir (an empty dir) and check it out there, submodules
 * included unless u->submodules is false; keep_git_dir leaves a usable .git (origin's URL redacted,
 * the branch checked out when the ref is one).  *ctime: the commit's committer time. */
int gitsrc_checkout(const struct gitsrc_run *g, const struct gitsrc_url *u,
                    const struct gitsrc_rev *r, const char *dir, bool keep_git_dir,
                    long long *ctime, struct ib_err **err);

#endif
