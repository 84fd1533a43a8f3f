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

int cmd_parse(int argc, char **argv, struct ib_err **err);
/* Returns the command's exit status (> 0) when it ran and failed. */
int cmd_run_step(int argc, char **argv, struct ib_err **err);
int cmd_version(int argc, char **argv, struct ib_err **err);
int cmd_help(int argc, char **argv, struct ib_err **err);

#endif
