/* cli/cmd_parse.c: `imgbuild parse [--dump|--json] FILE|-` */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "parser/parser.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct df_file, df_file_free)

static const char parse_usage[] =
    "Usage: imgbuild parse [--dump|--json] FILE|-\n"
    "\n"
    "Parse a Dockerfile and print its syntax tree (FILE '-' reads stdin).\n"
    "\n"
    "Options:\n"
    "  --dump   the reference (BuildKit) dump format, one line per instruction (default)\n"
    "  --json   a JSON document: directives, instructions with flags, arguments,\n"
    "           heredocs and line/column positions, and warnings\n"
    "  -h, --help  show this help\n";

int
cmd_parse(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"dump", no_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            json = false;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(parse_usage, stdout);
            return 0;
        default:
            return cli_usage(err, "parse", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage(err, "parse", "'parse' needs exactly one FILE (or '-' for stdin)");
    const char *path = argv[optind];
    AUTO_BUF struct ib_buf src = IB_BUF_INIT;
    if (ib_read_file(path, &src, err) < 0)
        return -1;
    IB_AUTO(df_file_free) struct df_file *f = NULL;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    if (df_parse_buf(name, src.s, src.len, &f, err) < 0)
        return -1;
    for (size_t i = 0; i < f->nwarnings; i++)
        fprintf(stderr, "%s:%u: warning: %s\n", name, f->warnings[i].line, f->warnings[i].msg);
    if (f->nwarnings)
        fprintf(stderr,
                "%s: warning: empty continuation lines will become errors in a future "
                "release\n",
                name);
    AUTO_BUF struct ib_buf out = IB_BUF_INIT;
    if (json)
        df_file_json(f, &out);
    else
        df_file_dump(f, &out);
    if (fwrite(out.s, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
        return ib_fail_errno(err, "write to stdout");
    return 0;
}
