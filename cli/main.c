/* cli/main.c: argv dispatch, and the only place that prints errors and exits.
 *
 * Exit status: 0 success, 1 failure (bad Dockerfile, failed build, store or
 * registry error), 2 usage error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/banned.h"

#ifndef IMGBUILD_VERSION
#define IMGBUILD_VERSION "0.1.0-dev"
#endif

const struct cmd cli_commands[] = {
    {"build", cmd_build, "build an image from a Dockerfile (the default command)"},
    {"parse", cmd_parse, "parse a Dockerfile and print its syntax tree"},
    {"images", cmd_images, "list images in the store"},
    {"inspect", cmd_inspect, "show an image's details as JSON"},
    {"tag", cmd_tag, "give an image another name"},
    {"rmi", cmd_rmi, "remove image names"},
    {"import", cmd_import, "make a one-layer image from a rootfs tarball"},
    {"save", cmd_save, "write images to an OCI or docker archive"},
    {"load", cmd_load, "read images from an OCI or docker archive"},
    {"prune", cmd_prune, "remove unused blobs, snapshots and cache entries"},
    {"fsck", cmd_fsck, "verify the store"},
    {"pull", cmd_pull, "download an image from a registry"},
    {"push", cmd_push, "upload an image to a registry"},
    {"login", cmd_login, "store credentials for a registry"},
    {"logout", cmd_logout, "forget the credentials for a registry"},
    {"layer-commit", cmd_layer_commit, "developer tool: commit an overlay upper dir as a layer"},
    {"run-step", cmd_run_step, "developer tool: run one command in the RUN sandbox"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show help for imgbuild or a command"},
    {NULL, NULL, NULL},
};

int
cli_usage(struct ib_err **err, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    struct ib_buf b = IB_BUF_INIT;
    va_start(ap, fmt);
    ib_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    ib_fail(err, IB_E_USAGE, "%s\nRun 'imgbuild %s%s--help' for usage.", b.s, cmd ? cmd : "",
            cmd ? " " : "");
    ib_buf_release(&b);
    return -1;
}

static void
print_main_help(FILE *out)
{
    fputs("Usage: imgbuild [--root DIR] COMMAND [OPTIONS]\n\n"
          "Build OCI container images from Dockerfiles.\n\nCommands:\n",
          out);
    for (const struct cmd *c = cli_commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fputs("\nGlobal options:\n  --root DIR  the store (default: $IMGBUILD_ROOT, /var/lib/imgbuild "
          "as root,\n"
          "              else ${XDG_DATA_HOME:-~/.local/share}/imgbuild)\n"
          "\nRun 'imgbuild COMMAND --help' for more on a command.\n",
          out);
}

int
cmd_help(int argc, char **argv, struct ib_err **err)
{
    if (argc > 1) {
        for (const struct cmd *c = cli_commands; c->name; c++) {
            if (strcmp(c->name, argv[1]) == 0) {
                char *hargv[] = {argv[1], (char *)"--help", NULL};
                return c->fn(2, hargv, err);
            }
        }
        return cli_usage(err, NULL, "unknown command '%s'", argv[1]);
    }
    print_main_help(stdout);
    return 0;
}

int
cmd_version(int argc, char **argv, struct ib_err **err)
{
    (void)argv;
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        puts("Usage: imgbuild version\n\nPrint the version of imgbuild.");
        return 0;
    }
    if (argc > 1)
        return cli_usage(err, "version", "'version' takes no arguments");
    printf("imgbuild %s\n", IMGBUILD_VERSION);
    return 0;
}

int
main(int argc, char **argv)
{
    /* global options before the command: --root DIR (sets IMGBUILD_ROOT) */
    while (argc >= 2 && strncmp(argv[1], "--root", 6) == 0 &&
           (argv[1][6] == '\0' || argv[1][6] == '=')) {
        const char *dir = argv[1][6] == '=' ? argv[1] + 7 : argc >= 3 ? argv[2] : NULL;
        if (!dir || !*dir) {
            fputs("imgbuild: --root needs a directory\n", stderr);
            return 2;
        }
        setenv("IMGBUILD_ROOT", dir, 1);
        int used = argv[1][6] == '=' ? 1 : 2;
        argv += used;
        argc -= used;
    }
    if (argc < 2) {
        print_main_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_main_help(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0)
        name = "version";
    const struct cmd *cmd = NULL;
    for (const struct cmd *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            cmd = c;
    struct ib_err *err = NULL;
    int rc;
    struct stat sb;
    if (!cmd && name[0] != '-' && stat(name, &sb) < 0) {
        rc = cli_usage(&err, NULL, "unknown command '%s'", name);
    } else if (!cmd) {
        /* build is the default verb: `imgbuild -f Dockerfile .`, `imgbuild .` */
        argv[0] = (char *)"build";
        rc = cmd_build(argc, argv, &err);
    } else {
        rc = cmd->fn(argc - 1, argv + 1, &err);
    }
    fflush(stdout);
    if (rc >= 0) /* 0, or a status passed through (run-step) */
        return rc;
    if (err) {
        /* parse errors start with FILE:LINE:COL so editors can jump to them */
        if (err->kind == IB_E_PARSE)
            fprintf(stderr, "%s\n", err->msg);
        else
            fprintf(stderr, "imgbuild: %s\n", err->msg);
    }
    int status = err && err->kind == IB_E_USAGE ? 2 : 1;
    ib_err_free(err);
    return status;
}
