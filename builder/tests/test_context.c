/* builder/tests/test_context.c: the build-context walk against the conformance
 * vectors (dockerignore/walk.json) plus symlink, open and ignore-file checks. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/context.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "parser/parser.h"
#include "common/banned.h"

IB_DEFINE_AUTO(json_t, json_decref)
IB_DEFINE_AUTO(struct df_ignore, df_ignore_free)

#define MAX_LAYERS 8

/* Collects "TYPE PATH" lines. */
struct seen {
    struct ib_buf out;
    const char *skip_dir; /* visit returns CONTEXT_SKIP for this one */
};

static int
collect(void *ctx, const char *relpath, const struct stat *st, struct ib_err **err)
{
    struct seen *s = ctx;
    (void)err;
    const char *type = S_ISDIR(st->st_mode)   ? "dir"
                       : S_ISREG(st->st_mode) ? "file"
                       : S_ISLNK(st->st_mode) ? "symlink"
                                              : "other";
    ib_buf_addf(&s->out, "%s %s\n", type, relpath);
    return s->skip_dir && strcmp(relpath, s->skip_dir) == 0 ? CONTEXT_SKIP : 0;
}

static void
strings_of(json_t *arr, struct ib_strv *out)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) ib_strv_push(out, json_string_value(v));
}

static int
make_tree(const char *root, json_t *tree, struct ib_err **err)
{
    size_t i;
    json_t *e;
    json_array_foreach(tree, i, e)
    {
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *type = json_string_value(json_object_get(e, "type"));
        AUTO_FREE char *full = ib_path_join(root, path);
        if (strcmp(type, "dir") == 0) {
            if (ib_mkdir_p(AT_FDCWD, full, 0755, err) < 0)
                return -1;
            continue;
        }
        char *slash = strrchr(full, '/');
        *slash = '\0';
        if (ib_mkdir_p(AT_FDCWD, full, 0755, err) < 0)
            return -1;
        *slash = '/';
        int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return ib_fail_errno(err, "create '%s'", full);
        close(fd);
    }
    return 0;
}

/* Compile one layer's "exclude"/"include" lists (empty list = no filter, as upstream). */
static int
compile_layer(json_t *obj, struct df_ignore **exc, struct df_ignore **inc, struct ib_err **err)
{
    const char *keys[2] = {"exclude", "include"};
    struct df_ignore **outs[2] = {exc, inc};
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_object_get(obj, keys[k]);
        *outs[k] = NULL;
        if (!arr || json_array_size(arr) == 0)
            continue;
        AUTO_STRV struct ib_strv pats = IB_STRV_INIT;
        strings_of(arr, &pats);
        if (df_ignore_new(pats.v, pats.n, outs[k], err) < 0)
            return ib_err_prefix(err, "invalid %spatterns", keys[k]);
    }
    return 0;
}

/* Run one walk.json case; returns whether it passed and describes it in *why. */
static bool
run_case(size_t idx, json_t *c, struct ib_buf *why)
{
    AUTO_FREE char *root = ib_xasprintf("%s/walk%zu", ib_test_tmpdir(), idx);
    struct ib_err *err = NULL;
    if (ib_mkdir_p(AT_FDCWD, root, 0755, &err) < 0 ||
        make_tree(root, json_object_get(c, "tree"), &err) < 0) {
        ib_buf_addf(why, "setup: %s", err->msg);
        ib_err_free(err);
        return false;
    }
    json_t *unreadable = json_object_get(c, "unreadable");
    size_t i;
    json_t *v;
    json_array_foreach(unreadable, i, v)
    {
        AUTO_FREE char *p = ib_path_join(root, json_string_value(v));
        chmod(p, 0);
    }

    struct df_ignore *igs[2 * MAX_LAYERS] = {NULL};
    struct context_filter layers[MAX_LAYERS];
    size_t nlayers = 0;
    json_t *jl = json_object_get(c, "layers");
    int rc = 0;
    if (jl) {
        json_array_foreach(jl, i, v)
        {
            if (nlayers == MAX_LAYERS || rc < 0)
                break;
            rc = compile_layer(v, &igs[2 * nlayers], &igs[2 * nlayers + 1], &err);
            nlayers++;
        }
    } else {
        rc = compile_layer(c, &igs[0], &igs[1], &err);
        nlayers = 1;
    }
    for (size_t l = 0; l < nlayers; l++)
        layers[l] = (struct context_filter){igs[2 * l], igs[2 * l + 1]};

    struct seen seen = {.out = IB_BUF_INIT};
    if (rc == 0) {
        AUTO_FD int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = context_walk(fd, layers, nlayers, collect, &seen, &err);
        /* open_ok / open_enoent through the filtered view */
        const char *keys[2] = {"open_ok", "open_enoent"};
        for (int k = 0; k < 2 && rc == 0; k++) {
            json_array_foreach(json_object_get(c, keys[k]), i, v)
            {
                int ofd = -1;
                struct ib_err *oerr = NULL;
                int orc =
                    context_open(fd, layers, nlayers, json_string_value(v), O_RDONLY, &ofd, &oerr);
                bool good = k == 0 ? orc == 0 : (orc < 0 && oerr->sys == ENOENT);
                if (!good)
                    ib_buf_addf(why, "%s '%s' wrong (%s); ", keys[k], json_string_value(v),
                                oerr ? oerr->msg : "opened");
                if (ofd >= 0)
                    close(ofd);
                ib_err_free(oerr);
                if (!good)
                    rc = 1;
            }
        }
    }
    for (size_t l = 0; l < 2 * MAX_LAYERS; l++)
        df_ignore_free(igs[l]);
    json_array_foreach(unreadable, i, v)
    {
        AUTO_FREE char *p = ib_path_join(root, json_string_value(v));
        chmod(p, 0755); /* so that the temporary directory can be removed */
    }

    bool ok;
    json_t *expect = json_object_get(c, "expect");
    json_t *eerr = json_object_get(c, "expect_error");
    json_t *econt = json_object_get(c, "expect_error_contains");
    if (rc > 0) {
        ok = false;
    } else if (eerr || econt) {
        /* upstream's message is Go's lowercase "permission denied" */
        ok = rc < 0 && (!econt || strcasestr(err->msg, json_string_value(econt)));
        ib_buf_addf(why, "%s", rc < 0 ? err->msg : "no error");
    } else {
        ok = rc == 0;
        if (rc < 0)
            ib_buf_addf(why, "error: %s", err->msg);
    }
    if (ok && expect) {
        AUTO_BUF struct ib_buf want = IB_BUF_INIT;
        json_array_foreach(expect, i, v) ib_buf_addf(&want, "%s\n", json_string_value(v));
        ok = strcmp(want.s, seen.out.s) == 0;
        if (!ok)
            ib_buf_addf(why, "got [%s] want [%s]", seen.out.s, want.s);
    }
    ib_err_free(err);
    ib_buf_release(&seen.out);
    return ok;
}

TEST(walk_json)
{
    AUTO_FREE char *path = ib_test_conformance_path("dockerignore/walk.json");
    json_error_t jerr;
    IB_AUTO(json_decref) json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        ib_test_note("%s:%d: %s", path, jerr.line, jerr.text);
    CHECK(doc != NULL);
    json_t *cases = json_object_get(doc, "cases");
    CHECK(json_is_array(cases));
    bool root = geteuid() == 0;
    int pass = 0, total = 0, na = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (json_object_get(c, "unreadable") && root) {
            ib_test_note("walk.json %s: not applicable when running as root (mode 0000 "
                         "directories stay readable); not counted",
                         name);
            na++;
            continue;
        }
        AUTO_BUF struct ib_buf why = IB_BUF_INIT;
        bool ok = run_case(i, c, &why);
        total++;
        pass += ok;
        ib_test_case(ok, "dockerignore/walk.json %s%s%s", name, why.len ? ": " : "", why.s);
    }
    ib_test_note("dockerignore/walk.json: %d of %d pass (%d 'unreadable' cases not applicable "
                 "as root)",
                 pass, total, na);
    CHECK_INT(total + na, 33);
}

static int
walk_dir_path(const char *root, const struct context_filter *layers, size_t n, struct seen *s,
              struct ib_err **err)
{
    AUTO_FD int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s'", root);
    return context_walk(fd, layers, n, collect, s, err);
}

static void
touch(const char *root, const char *rel)
{
    AUTO_FREE char *p = ib_path_join(root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
}

TEST(symlinks_not_followed)
{
    AUTO_FREE char *root = ib_xasprintf("%s/links", ib_test_tmpdir());
    AUTO_FREE char *sub = ib_path_join(root, "real");
    struct ib_err *err = NULL;
    CHECK_OK(ib_mkdir_p(AT_FDCWD, sub, 0755, &err));
    touch(root, "real/f");
    AUTO_FREE char *l1 = ib_path_join(root, "link");
    AUTO_FREE char *l2 = ib_path_join(root, "out");
    CHECK(symlink("real", l1) == 0);
    CHECK(symlink("/etc", l2) == 0);
    struct seen s = {.out = IB_BUF_INIT};
    CHECK_OK(walk_dir_path(root, NULL, 0, &s, &err));
    CHECK_STR(s.out.s, "symlink link\nsymlink out\ndir real\nfile real/f\n");
    ib_buf_release(&s.out);

    AUTO_FD int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ofd = -1;
    CHECK(context_open(fd, NULL, 0, "link/f", O_RDONLY, &ofd, &err) < 0);
    CHECK(err->sys == ENOTDIR || err->sys == ELOOP);
    ib_err_free(err);
    err = NULL;
    CHECK(context_open(fd, NULL, 0, "../x", O_RDONLY, &ofd, &err) < 0);
    CHECK_INT(err->sys, ENOENT);
    ib_err_free(err);
    err = NULL;
    CHECK_OK(context_open(fd, NULL, 0, "./real//f", O_RDONLY, &ofd, &err));
    close(ofd);
}

TEST(visit_skip_and_layers)
{
    AUTO_FREE char *root = ib_xasprintf("%s/skip", ib_test_tmpdir());
    AUTO_FREE char *d = ib_path_join(root, "a/b");
    struct ib_err *err = NULL;
    CHECK_OK(ib_mkdir_p(AT_FDCWD, d, 0755, &err));
    touch(root, "a/b/c");
    touch(root, "a/x");
    touch(root, "z");
    struct seen s = {.out = IB_BUF_INIT, .skip_dir = "a/b"};
    CHECK_OK(walk_dir_path(root, NULL, 0, &s, &err));
    CHECK_STR(s.out.s, "dir a\ndir a/b\nfile a/x\nfile z\n");
    ib_buf_release(&s.out);

    /* the second layer skips "a" when the first passes it on late */
    char *p1[] = {(char *)"a", (char *)"!a/x"};
    IB_AUTO(df_ignore_free) struct df_ignore *ig1 = NULL;
    CHECK_OK(df_ignore_new(p1, 2, &ig1, &err));
    struct context_filter layers[1] = {{ig1, NULL}};
    struct seen s2 = {.out = IB_BUF_INIT, .skip_dir = "a"};
    CHECK_OK(walk_dir_path(root, layers, 1, &s2, &err));
    CHECK_STR(s2.out.s, "dir a\nfile z\n");
    ib_buf_release(&s2.out);

    /* a reversed class range fails while walking, naming the pattern */
    char *p2[] = {(char *)"[z-a]"};
    IB_AUTO(df_ignore_free) struct df_ignore *ig2 = NULL;
    CHECK_OK(df_ignore_new(p2, 1, &ig2, &err));
    struct context_filter bad[1] = {{ig2, NULL}};
    struct seen s3 = {.out = IB_BUF_INIT};
    CHECK(walk_dir_path(root, bad, 1, &s3, &err) < 0);
    CHECK(strstr(err->msg, "'[z-a]'") != NULL);
    ib_err_free(err);
    ib_buf_release(&s3.out);
}

static int
write_str(const char *path, const char *s)
{
    struct ib_err *err = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = ib_write_all(fd, s, strlen(s), path, &err);
    ib_err_free(err);
    close(fd);
    return rc;
}

TEST(read_ignore_file)
{
    AUTO_FREE char *root = ib_xasprintf("%s/ignorefile", ib_test_tmpdir());
    AUTO_FREE char *df = ib_path_join(root, "build/app.Dockerfile");
    AUTO_FREE char *bdir = ib_path_join(root, "build");
    struct ib_err *err = NULL;
    CHECK_OK(ib_mkdir_p(AT_FDCWD, bdir, 0755, &err));
    AUTO_STRV struct ib_strv pats = IB_STRV_INIT;
    AUTO_FREE char *src = NULL;
    /* none: no patterns */
    CHECK_OK(context_read_ignore(root, df, &pats, &src, &err));
    CHECK_INT(pats.n, 0);
    CHECK(src == NULL);
    /* the context root's file */
    AUTO_FREE char *ctxfile = ib_path_join(root, ".dockerignore");
    CHECK(write_str(ctxfile, "# c\n/root-one\n") == 0);
    CHECK_OK(context_read_ignore(root, df, &pats, &src, &err));
    CHECK_INT(pats.n, 1);
    CHECK_STR(pats.v[0], "root-one");
    CHECK_STR(src, ctxfile);
    free(src);
    src = NULL;
    ib_strv_release(&pats);
    /* the Dockerfile's own file wins */
    AUTO_FREE char *dffile = ib_xasprintf("%s.dockerignore", df);
    CHECK(write_str(dffile, "own\n!keep\n") == 0);
    CHECK_OK(context_read_ignore(root, df, &pats, &src, &err));
    CHECK_INT(pats.n, 2);
    CHECK_STR(pats.v[0], "own");
    CHECK_STR(pats.v[1], "!keep");
    CHECK_STR(src, dffile);
    ib_strv_release(&pats);
    /* a Dockerfile from stdin: only the context's */
    CHECK_OK(context_read_ignore(root, "-", &pats, NULL, &err));
    CHECK_INT(pats.n, 1);
    CHECK_STR(pats.v[0], "root-one");
}
