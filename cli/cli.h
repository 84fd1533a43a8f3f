/* cli/cli.h: the command table's entry points (internal to cli/). */
#ifndef IMGBUILD_CLI_H
#define IMGBUILD_CLI_H

#include "common/err.h"

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv, struct ib_err **err);
    const char *summary;
};

extern const struct cmd cli_commands[];

/* Usage error: message plus a hint to --help; exit status 2. */
int cli_usage(struct ib_err **err, const char *cmd, const char *fmt, ...) IB_PRINTF(3, 4);

struct store;
/* Open the store ($IMGBUILD_ROOT / --root or the default); *out: store_close. */
int cli_store_open(unsigned flags, struct store **out, struct ib_err **err);
/* Options parsing for verbs that only know --help: 1 = help shown, -1 = error, 0 = go on
 * (operands start at optind). */
int cli_simple_opts(int argc, char **argv, const char *cmd, const char *usage, struct ib_err **err);

int cmd_build(int argc, char **argv, struct ib_err **err);
int cmd_parse(int argc, char **argv, struct ib_err **err);
/* store commands: cmd_images.c, cmd_archive.c, cmd_store.c */
int cmd_images(int argc, char **argv, struct ib_err **err);
int cmd_inspect(int argc, char **argv, struct ib_err **err);
int cmd_tag(int argc, char **argv, struct ib_err **err);
int cmd_rmi(int argc, char **argv, struct ib_err **err);
int cmd_import(int argc, char **argv, struct ib_err **err);
int cmd_save(int argc, char **argv, struct ib_err **err);
int cmd_load(int argc, char **argv, struct ib_err **err);
int cmd_prune(int argc, char **argv, struct ib_err **err);
int cmd_fsck(int argc, char **argv, struct ib_err **err);
int cmd_layer_commit(int argc, char **argv, struct ib_err **err);
/* registry commands: cmd_registry.c, cmd_login.c */
int cmd_pull(int argc, char **argv, struct ib_err **err);
int cmd_push(int argc, char **argv, struct ib_err **err);
int cmd_login(int argc, char **argv, struct ib_err **err);
int cmd_logout(int argc, char **argv, struct ib_err **err);
/* Returns the command's exit status (> 0) when it ran and failed. */
int cmd_run_step(int argc, char **argv, struct ib_err **err);
int cmd_version(int argc, char **argv, struct ib_err **err);
int cmd_help(int argc, char **argv, struct ib_err **err);

#endif
