/* builder/tests/test_gitsrc.c: git sources of ADD: which sources are git URLs (BuildKit's
 * rules), their queries (?ref=..&subdir=..) and fragments (#ref:subdir and ##key=value), how
 * the two combine, ref and subdir checks, Go's booleans, password
 * redaction, and picking a ref from `git ls-remote` output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/gitsrc.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/test.h"
#include "common/banned.h"

TEST(is_git_url)
{
    static const struct {
        const char *src;
        bool git;
    } v[] = {
        {"https://github.com/moby/buildkit.git", true},
        {"https://github.com/moby/buildkit.git#v0.10.1", true},
        {"https://github.com/moby/buildkit.git#v0.10.1:docs", true},
        {"HTTPS://example.com/r.git", true},
        {"http://127.0.0.1:8080/repo.git?x=1#main", true},
        {"https://h/repo.git?ref=main&subdir=docs", true},
        {"git@h:o/r.git?tag=v1", true},
        {"https://example.com/repo", false},      /* HTTP without .git: a download */
        {"https://example.com/repo.git/", false}, /* the path must end in .git */
        {"https://example.com/file.tar.gz", false},
        {"https://example.com/a?file=b.git", false}, /* .git in the query only */
        {"git://127.0.0.1/repo", true},
        {"ssh://git@example.com/org/repo", true},
        {"git@github.com:moby/buildkit.git", true},
        {"user_1-x@host.example:path/repo#dev", true},
        {"github.com/moby/buildkit", false}, /* a local path to ADD */
        {"ftp://example.com/r.git", false},
        {"./repo.git", false},
        {"file.txt", false},
        {"a@b", false},
        {"@host:path", false},
        {"<<EOF", false},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ib_test_case(gitsrc_is_git(v[i].src) == v[i].git, "is_git %s -> %d", v[i].src, v[i].git);
}

/* which remotes go over ssh: then ADD uses the --ssh default agent and the known hosts */
TEST(ssh_transports)
{
    static const struct {
        const char *remote;
        bool ssh;
    } v[] = {
        {"ssh://git@example.com/org/repo", true},
        {"SSH://root@127.0.0.1:2222/srv/repo.git", true},
        {"git@github.com:moby/buildkit.git", true},
        {"https://github.com/moby/buildkit.git", false},
        {"http://127.0.0.1:8080/repo.git", false},
        {"git://127.0.0.1/repo", false},
        {"https://user@example.com/r.git", false},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ib_test_case(gitsrc_is_ssh(v[i].remote) == v[i].ssh, "is_ssh %s -> %d", v[i].remote,
                     v[i].ssh);
}

TEST(known_hosts_from_the_environment)
{
    struct ib_err *err = NULL;
    const char *p = "x";
    unsetenv("IMGBUILD_GIT_KNOWN_HOSTS");
    CHECK_OK(gitsrc_known_hosts(&p, &err));
    CHECK(p == NULL);
    AUTO_FREE char *f = ib_path_join(ib_test_tmpdir(), "known_hosts");
    FILE *fp = fopen(f, "w");
    CHECK(fp != NULL);
    fputs("[127.0.0.1]:2222 ssh-ed25519 AAAA\n", fp);
    fclose(fp);
    setenv("IMGBUILD_GIT_KNOWN_HOSTS", f, 1);
    CHECK_OK(gitsrc_known_hosts(&p, &err));
    CHECK_STR(p, f);
    setenv("IMGBUILD_GIT_KNOWN_HOSTS", "/nonexistent/known_hosts", 1);
    CHECK(gitsrc_known_hosts(&p, &err) < 0 && strstr(err->msg, "not a readable file"));
    ib_err_free(err);
    err = NULL;
    setenv("IMGBUILD_GIT_KNOWN_HOSTS", "/tmp/it's", 1);
    CHECK(gitsrc_known_hosts(&p, &err) < 0 && strstr(err->msg, "quotes"));
    ib_err_free(err);
    unsetenv("IMGBUILD_GIT_KNOWN_HOSTS");
}

struct parse_vec {
    const char *src, *remote, *ref, *subdir, *commit; /* remote NULL: parsing fails */
};

TEST(parse_fragments)
{
    static const struct parse_vec v[] = {
        {"https://h/r.git", "https://h/r.git", NULL, "", NULL},
        {"https://h/r.git#", "https://h/r.git", NULL, "", NULL},
        {"https://h/r.git#main", "https://h/r.git", "main", "", NULL},
        {"https://h/r.git#v1.2:docs", "https://h/r.git", "v1.2", "docs", NULL},
        {"https://h/r.git#:docs/sub", "https://h/r.git", NULL, "docs/sub", NULL},
        {"https://h/r.git#feature/x:/a/./b/", "https://h/r.git", "feature/x", "a/b", NULL},
        {"https://h/r.git#refs/pull/1/head", "https://h/r.git", "refs/pull/1/head", "", NULL},
        {"https://h/r.git#main:.", "https://h/r.git", "main", "", NULL},
        {"git@github.com:o/r.git#dev:src", "git@github.com:o/r.git", "dev", "src", NULL},
        {"ssh://git@h:2222/o/r#0123456789abcdef0123456789abcdef01234567", "ssh://git@h:2222/o/r",
         "0123456789abcdef0123456789abcdef01234567", "", NULL},
        {"https://h/r.git##ref=v2,subdir=lib", "https://h/r.git", "v2", "lib", NULL},
        {"https://h/r.git##commit=abc123", "https://h/r.git", "abc123", "", "abc123"},
        {"https://h/r.git##REF=main,Commit=ABC", "https://h/r.git", "main", "", "ABC"},
        /* failures */
        {"https://h/r.git##ref", NULL, NULL, NULL, NULL},
        {"https://h/r.git##branch=main", NULL, NULL, NULL, NULL},
        {"https://h/r.git##commit=xyz", NULL, NULL, NULL, NULL},
        {"https://h/r.git#-upload-pack=x", NULL, NULL, NULL, NULL},
        {"https://h/r.git#a..b", NULL, NULL, NULL, NULL},
        {"https://h/r.git#a b", NULL, NULL, NULL, NULL},
        {"https://h/r.git#x~1", NULL, NULL, NULL, NULL},
        {"https://h/r.git#x.lock", NULL, NULL, NULL, NULL},
        {"https://h/r.git#main:../etc", NULL, NULL, NULL, NULL},
        {"https://h/r.git#main:a/../../b", NULL, NULL, NULL, NULL},
        {"ssh://-oProxyCommand=x/r.git", NULL, NULL, NULL, NULL},
        {"ssh://u@-oProxyCommand=x/r.git", NULL, NULL, NULL, NULL},
        {"-x@host:r.git", NULL, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct gitsrc_url u;
        struct ib_err *err = NULL;
        int rc = gitsrc_url_parse(v[i].src, &u, &err);
        bool ok;
        if (!v[i].remote) {
            ok = rc < 0 && err && err->msg[0];
        } else {
            ok = rc == 0 && strcmp(u.remote, v[i].remote) == 0 &&
                 (v[i].ref ? u.ref && strcmp(u.ref, v[i].ref) == 0 : !u.ref) &&
                 strcmp(u.subdir, v[i].subdir) == 0 &&
                 (v[i].commit ? u.commit && strcmp(u.commit, v[i].commit) == 0 : !u.commit);
            if (rc == 0)
                gitsrc_url_release(&u);
        }
        ib_test_case(ok, "parse %s%s%s", v[i].src, rc < 0 ? ": " : "", rc < 0 ? err->msg : "");
        ib_err_free(err);
    }
}

TEST(redact_password)
{
    AUTO_FREE char *a = gitsrc_redact("https://user:s3cret@h.example/r.git");
    AUTO_FREE char *b = gitsrc_redact("https://token@h.example/r.git");
    AUTO_FREE char *c = gitsrc_redact("git@h.example:o/r.git");
    AUTO_FREE char *d = gitsrc_redact("https://h.example/a:b@c/r.git"); /* '@' in the path */
    CHECK_STR(a, "https://user:xxxxx@h.example/r.git");
    CHECK_STR(b, "https://token@h.example/r.git");
    CHECK_STR(c, "git@h.example:o/r.git");
    CHECK_STR(d, "https://h.example/a:b@c/r.git");
}

TEST(commit_ids)
{
    CHECK(gitsrc_is_commit_id("0123456789abcdef0123456789abcdef01234567"));
    CHECK(gitsrc_is_commit_id("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(!gitsrc_is_commit_id("0123456789abcdef0123456789abcdef0123456"));
    CHECK(!gitsrc_is_commit_id("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK(!gitsrc_is_commit_id("main"));
    CHECK(!gitsrc_is_commit_id(""));
}

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define C3 "3333333333333333333333333333333333333333"
#define T1 "7777777777777777777777777777777777777777"
#define C4 "4444444444444444444444444444444444444444"

TEST(pick_from_ls_remote)
{
    static const char ls[] =
        C1 "\trefs/heads/main\n" C2 "\trefs/heads/v1\n" C4 "\trefs/heads/x/main\n" T1
           "\trefs/tags/v1\n" C3 "\trefs/tags/v1^{}\n" C4 "\trefs/tags/light\n" C2
           "\trefs/pull/7/head\n";
    static const struct {
        const char *ref, *commit, *object, *refname; /* commit NULL: not found */
    } v[] = {
        {"main", C1, "", "refs/heads/main"},
        {"refs/heads/main", C1, "", "refs/heads/main"},
        {"heads/main", C1, "", "refs/heads/main"},
        {"v1", C2, "", "refs/heads/v1"}, /* a branch wins over a tag of the same name */
        {"tags/v1", C3, T1, "refs/tags/v1"},
        {"refs/tags/v1", C3, T1, "refs/tags/v1"}, /* annotated: the commit it points to */
        {"light", C4, "", "refs/tags/light"},
        {"pull/7/head", C2, "", "refs/pull/7/head"},
        {"x", NULL, NULL, NULL},
        {"ain", NULL, NULL, NULL}, /* no tail matches */
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct gitsrc_rev r;
        int rc = gitsrc_pick(ls, v[i].ref, &r);
        bool ok = v[i].commit ? rc == 0 && strcmp(r.commit, v[i].commit) == 0 &&
                                    strcmp(r.object, v[i].object) == 0 && r.refname &&
                                    strcmp(r.refname, v[i].refname) == 0
                              : rc < 0;
        ib_test_case(ok, "pick %s", v[i].ref);
        gitsrc_rev_release(&r);
    }
}

TEST(pick_head)
{
    struct gitsrc_rev r;
    CHECK(gitsrc_pick("ref: refs/heads/trunk\tHEAD\n" C2 "\tHEAD\n", NULL, &r) == 0);
    CHECK_STR(r.commit, C2);
    CHECK_STR(r.refname, "refs/heads/trunk");
    gitsrc_rev_release(&r);
    CHECK(gitsrc_pick(C1 "\tHEAD\n", NULL, &r) == 0); /* detached HEAD: no symref */
    CHECK_STR(r.commit, C1);
    CHECK(r.refname == NULL);
    CHECK(gitsrc_pick("", NULL, &r) < 0);
    CHECK(gitsrc_pick("zzzz\tHEAD\n", NULL, &r) < 0); /* not an object id */
    gitsrc_rev_release(&r);
}

TEST(find_git_follows_path)
{
    struct ib_err *err = NULL;
    char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", ib_test_tmpdir(), 1); /* an empty dir: no git */
    char *path = NULL;
    int rc = gitsrc_find_git(&path, &err);
    if (saved)
        setenv("PATH", saved, 1);
    free(saved);
    CHECK(rc < 0);
    CHECK(strstr(err->msg, "git is not installed") != NULL);
    ib_err_free(err);
    err = NULL;
    free(path);
}

/* the origin an http(s) remote's credentials are scoped to (git's http.<url>.extraHeader) */
TEST(http_origin)
{
    static const struct {
        const char *remote, *origin; /* NULL: no HTTP credentials for it */
    } v[] = {
        {"https://github.com/org/repo.git", "https://github.com/"},
        {"HTTP://User:Pw@Example.COM:8080/a/b.git", "http://example.com:8080/"},
        {"http://127.0.0.1:4711/private/repo.git?x=1", "http://127.0.0.1:4711/"},
        {"https://[::1]:8443/r.git", "https://[::1]:8443/"},
        {"https://tok@host/r.git", "https://host/"},
        {"ssh://git@example.com/org/repo", NULL},
        {"git@github.com:moby/buildkit.git", NULL},
        {"git://127.0.0.1/repo", NULL},
        {"https:///r.git", NULL},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        AUTO_FREE char *o = gitsrc_http_origin(v[i].remote);
        ib_test_case(v[i].origin ? o && strcmp(o, v[i].origin) == 0 : !o, "origin %s -> %s",
                     v[i].remote, o ? o : "(none)");
    }
}

static char *
joined(const char *remote)
{
    AUTO_STRV struct ib_strv ids = IB_STRV_INIT;
    gitsrc_auth_ids(remote, &ids);
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    for (size_t i = 0; i < ids.n; i++)
        ib_buf_addf(&b, "%s%s", i ? " " : "", ids.v[i]);
    return ib_buf_detach(&b, NULL);
}

/* which secrets are tried, in order: a header before a token, host-scoped ones first */
TEST(auth_ids_order)
{
    AUTO_FREE char *a = joined("https://GitHub.com/org/r.git");
    CHECK_STR(a, "GIT_AUTH_HEADER.github.com GIT_AUTH_TOKEN.github.com GIT_AUTH_HEADER "
                 "GIT_AUTH_TOKEN");
    AUTO_FREE char *b = joined("http://u:p@127.0.0.1:8080/private/repo.git");
    CHECK_STR(b, "GIT_AUTH_HEADER.127.0.0.1:8080 GIT_AUTH_TOKEN.127.0.0.1:8080 "
                 "GIT_AUTH_HEADER.127.0.0.1 GIT_AUTH_TOKEN.127.0.0.1 GIT_AUTH_HEADER "
                 "GIT_AUTH_TOKEN");
    AUTO_FREE char *c = joined("https://[::1]:8443/r.git");
    CHECK_STR(c, "GIT_AUTH_HEADER.[::1]:8443 GIT_AUTH_TOKEN.[::1]:8443 GIT_AUTH_HEADER.::1 "
                 "GIT_AUTH_TOKEN.::1 GIT_AUTH_HEADER GIT_AUTH_TOKEN");
    AUTO_FREE char *d = joined("ssh://git@example.com/r.git"); /* never over ssh or git:// */
    CHECK_STR(d, "");
    AUTO_FREE char *e = joined("git://example.com/r.git");
    CHECK_STR(e, "");
}

TEST(auth_header)
{
    struct ib_err *err = NULL;
    AUTO_BUF struct ib_buf a = IB_BUF_INIT;
    CHECK_OK(gitsrc_auth_header("GIT_AUTH_TOKEN", "s3cr3t\n", 7, &a, &err));
    CHECK_STR(a.s, "Authorization: Basic eC1hY2Nlc3MtdG9rZW46czNjcjN0"); /* x-access-token:s3cr3t */
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    CHECK_OK(gitsrc_auth_header("GIT_AUTH_TOKEN.example.com", "s3cr3t", 6, &b, &err));
    CHECK_STR(b.s, a.s);
    AUTO_BUF struct ib_buf c = IB_BUF_INIT;
    CHECK_OK(gitsrc_auth_header("GIT_AUTH_HEADER", "bearer abc \r\n", 13, &c, &err));
    CHECK_STR(c.s, "Authorization: bearer abc");
    AUTO_BUF struct ib_buf d = IB_BUF_INIT;
    CHECK_OK(gitsrc_auth_header("GIT_AUTH_HEADER.host", "basic dTpw", 10, &d, &err));
    CHECK_STR(d.s, "Authorization: basic dTpw");
}

TEST(auth_header_refuses)
{
    static const struct {
        const char *value, *msg;
    } v[] = {
        {"", "secret 'GIT_AUTH_TOKEN' is empty"},
        {" \n\n", "secret 'GIT_AUTH_TOKEN' is empty"},
        {"a\nb", "secret 'GIT_AUTH_TOKEN' has a control character (it must be one line)"},
        {"tok\rX-Injected: 1", "secret 'GIT_AUTH_TOKEN' has a control character (it must be "
                               "one line)"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        AUTO_BUF struct ib_buf b = IB_BUF_INIT;
        struct ib_err *e = NULL;
        int rc = gitsrc_auth_header("GIT_AUTH_TOKEN", v[i].value, strlen(v[i].value), &b, &e);
        /* the message names the secret, never its value */
        ib_test_case(rc < 0 && e && strcmp(e->msg, v[i].msg) == 0 && !b.len, "refuse case %zu: %s",
                     i, e ? e->msg : "(accepted)");
        ib_err_free(e);
    }
}

/* BuildKit 0.24's query form: options after the path, before any fragment */
TEST(parse_query)
{
    static const struct {
        const char *src, *remote, *ref, *subdir, *commit, *commit_key;
        int keep; /* -1: not in the URL */
        bool subs;
    } v[] = {
        {"https://h/r.git?ref=main", "https://h/r.git", "main", "", NULL, NULL, -1, true},
        {"https://h/r.git?tag=v1", "https://h/r.git", "refs/tags/v1", "", NULL, NULL, -1, true},
        {"https://h/r.git?tag=refs/tags/v1", "https://h/r.git", "refs/tags/v1", "", NULL, NULL, -1,
         true},
        {"https://h/r.git?branch=dev&subdir=docs", "https://h/r.git", "refs/heads/dev", "docs",
         NULL, NULL, -1, true},
        {"https://h/r.git?ref=refs%2Fheads%2Fmain&subdir=a%2F.%2Fb", "https://h/r.git",
         "refs/heads/main", "a/b", NULL, NULL, -1, true},
        {"https://h/r.git?checksum=abc123", "https://h/r.git", "abc123", "", "abc123",
         "?checksum=", -1, true},
        {"https://h/r.git?ref=v1&commit=abc", "https://h/r.git", "v1", "", "abc", "?commit=", -1,
         true},
        {"https://h/r.git?keep-git-dir", "https://h/r.git", NULL, "", NULL, NULL, 1, true},
        {"https://h/r.git?keep-git-dir=&submodules=false", "https://h/r.git", NULL, "", NULL, NULL,
         1, false},
        {"https://h/r.git?keep-git-dir=F&submodules=T", "https://h/r.git", NULL, "", NULL, NULL, 0,
         true},
        {"https://h/r.git?submodules=0&&", "https://h/r.git", NULL, "", NULL, NULL, -1, false},
        {"git@h:o/r.git?tag=v1", "git@h:o/r.git", "refs/tags/v1", "", NULL, NULL, -1, true},
        {"ssh://git@h:2222/o/r?branch=x#:sub", "ssh://git@h:2222/o/r", "refs/heads/x", "sub", NULL,
         NULL, -1, true},
        {"git://h/r.git?ref=main#main:docs", "git://h/r.git", "main", "docs", NULL, NULL, -1, true},
        {"https://h/r.git?subdir=docs##ref=v1,subdir=docs", "https://h/r.git", "v1", "docs", NULL,
         NULL, -1, true},
        {"https://h/r.git?checksum=abc##commit=abc", "https://h/r.git", "abc", "", "abc",
         "?checksum=", -1, true},
        {"https://h/r.git##commit=abc", "https://h/r.git", "abc", "", "abc", "##commit=", -1, true},
        {"https://h/r.git?ref=v+1", "https://h/r.git", NULL, NULL, NULL, NULL, -1, true}, /* ' ' */
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct gitsrc_url u;
        struct ib_err *err = NULL;
        int rc = gitsrc_url_parse(v[i].src, &u, &err);
        bool ok;
        if (!v[i].subdir) {
            ok = rc < 0;
        } else {
            ok = rc == 0 && strcmp(u.remote, v[i].remote) == 0 &&
                 (v[i].ref ? u.ref && strcmp(u.ref, v[i].ref) == 0 : !u.ref) &&
                 strcmp(u.subdir, v[i].subdir) == 0 &&
                 (v[i].commit ? u.commit && strcmp(u.commit, v[i].commit) == 0 : !u.commit) &&
                 (v[i].commit_key ? u.commit_key && strcmp(u.commit_key, v[i].commit_key) == 0
                                  : !u.commit_key) &&
                 u.keep_git_dir == v[i].keep && u.submodules == v[i].subs;
        }
        if (rc == 0)
            gitsrc_url_release(&u);
        ib_test_case(ok, "parse %s%s%s", v[i].src, rc < 0 ? ": " : "", rc < 0 ? err->msg : "");
        ib_err_free(err);
    }
}

TEST(parse_query_errors)
{
    static const struct {
        const char *src, *msg;
    } v[] = {
        {"https://h/r.git?x=1", "'https://h/r.git?x=1': unexpected query 'x'"},
        {"https://h/r.git?Ref=main", "unexpected query 'Ref'"},
        {"https://h/r.git?ref=a&ref=b", "': query 'ref' has multiple values"},
        {"https://h/r.git?checksum=a&commit=a", "query 'commit' has multiple values"},
        {"https://h/r.git?ref=", "'https://h/r.git?ref=': query 'ref' has no value"},
        {"https://h/r.git?subdir", "query 'subdir' has no value"},
        {"https://h/r.git?tag=", "query 'tag' has no value"},
        {"https://h/r.git?keep-git-dir=yes", "query 'keep-git-dir' has an invalid value 'yes'"},
        {"https://h/r.git?submodules=2", "query 'submodules' has an invalid value '2'"},
        {"https://h/r.git?tag=v1&branch=main", "': branch conflicts with tag"},
        {"https://h/r.git?ref=main#dev", "': ref conflicts: 'dev' vs 'main'"},
        {"https://h/r.git?ref=main&tag=v1", "ref conflicts: 'main' vs 'refs/tags/v1'"},
        {"https://h/r.git?branch=dev##ref=main", "ref conflicts: 'main' vs 'refs/heads/dev'"},
        {"https://h/r.git?subdir=a#main:b", "': subdir conflicts: 'b' vs 'a'"},
        {"https://h/r.git?checksum=abc##commit=abd", "commit conflicts: 'abd' vs 'abc'"},
        {"https://h/r.git?ref=%zz", "invalid escape in query 'ref=%zz'"},
        {"https://h/r.git?ref=a%00b", "invalid escape in query"},
        {"https://h/r.git?subdir=a%0Ab", "invalid escape in query"},
        {"https://h/r.git?checksum=xyz", "invalid commit 'xyz'"},
        {"https://h/r.git?ref=--upload-pack=x", "invalid git ref '--upload-pack=x'"},
        {"https://h/r.git?subdir=../etc", "subdir '../etc' leaves the repository"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct gitsrc_url u;
        struct ib_err *err = NULL;
        int rc = gitsrc_url_parse(v[i].src, &u, &err);
        bool ok = rc < 0 && err && strstr(err->msg, v[i].msg) && !strchr(err->msg, '\n');
        if (rc == 0)
            gitsrc_url_release(&u);
        ib_test_case(ok, "error %s: %s", v[i].src, err ? err->msg : "(parsed)");
        ib_err_free(err);
    }
}

TEST(parse_bool_as_go)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    static const char *const bad[] = {"", "yes", "tRUE", "2", " true", "on"};
    for (size_t i = 0; i < 6; i++) {
        bool b = false;
        CHECK(gitsrc_parse_bool(yes[i], &b) == 0 && b);
        CHECK(gitsrc_parse_bool(no[i], &b) == 0 && !b);
        CHECK(gitsrc_parse_bool(bad[i], &b) < 0);
    }
}
