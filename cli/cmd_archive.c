/* cli/cmd_archive.c: `imgbuild import`, `save`, `load`. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)
IB_DEFINE_AUTO(struct store_image, store_image_free)

static const char import_usage[] =
    "Usage: imgbuild import TARBALL|- [REFERENCE]\n"
    "\n"
    "Make a one-layer image from a root filesystem tarball (plain, gzip or zstd;\n"
    "'-' reads stdin), like 'docker import'.  Prints the image id.\n";

int
cmd_import(int argc, char **argv, struct ib_err **err)
{
    int h = cli_simple_opts(argc, argv, "import", import_usage, err);
    if (h)
        return h < 0 ? -1 : 0;
    int n = argc - optind;
    if (n < 1 || n > 2)
        return cli_usage(err, "import", "'import' needs TARBALL and an optional REFERENCE");
    const char *path = argv[optind];
    const char *ref = n == 2 ? argv[optind + 1] : NULL;
    AUTO_FD int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s'", path);
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_import(st, fd, ref, &img, err) < 0)
        return -1;
    printf("%s\n", store_image_id(img)->s);
    return 0;
}

static const char save_usage[] =
    "Usage: imgbuild save [-o FILE] [--format oci|docker] [--compression gzip|zstd|none]\n"
    "                     IMAGE...\n"
    "\n"
    "Write images to a tar archive (stdout unless -o is given).\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   write to FILE (atomically) instead of stdout\n"
    "  --format oci        an OCI image layout in a tar (default)\n"
    "  --format docker     what 'docker load' reads: manifest.json + repositories +\n"
    "                      configs + layers (plus the OCI layout files)\n"
    "  --compression C     layer compression: gzip (default for oci), zstd, or none\n"
    "                      (default for docker)\n"
    "  -h, --help          show this help\n";

int
cmd_save(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"compression", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    enum store_archive_format fmt = STORE_ARCHIVE_OCI;
    int comp = -1;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "oci") == 0)
                fmt = STORE_ARCHIVE_OCI;
            else if (strcmp(optarg, "docker") == 0)
                fmt = STORE_ARCHIVE_DOCKER;
            else
                return cli_usage(err, "save", "--format must be 'oci' or 'docker'");
            break;
        case 'c':
            if (strcmp(optarg, "gzip") == 0)
                comp = STORE_COMPRESS_GZIP;
            else if (strcmp(optarg, "zstd") == 0)
                comp = STORE_COMPRESS_ZSTD;
            else if (strcmp(optarg, "none") == 0)
                comp = STORE_COMPRESS_NONE;
            else
                return cli_usage(err, "save", "--compression must be gzip, zstd or none");
            break;
        case 'h':
            fputs(save_usage, stdout);
            return 0;
        default:
            return cli_usage(err, "save", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage(err, "save", "'save' needs at least one IMAGE");
    if (comp < 0)
        comp = fmt == STORE_ARCHIVE_DOCKER ? STORE_COMPRESS_NONE : STORE_COMPRESS_GZIP;
    if (!out && isatty(1))
        return cli_usage(err, "save", "refusing to write an archive to a terminal; use -o FILE");
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    AUTO_FREE char *tmp = out ? ib_xasprintf("%s.tmp-%ld", out, (long)getpid()) : NULL;
    AUTO_FD int fd = out ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : dup(1);
    if (fd < 0)
        return ib_fail_errno(err, "create '%s'", out ? tmp : "<stdout>");
    if (store_save(st, (const char *const *)argv + optind, (size_t)(argc - optind), fmt,
                   (enum store_compression)comp, fd, err) < 0) {
        if (tmp)
            unlink(tmp);
        return -1;
    }
    if (out && (fsync(fd) < 0 || rename(tmp, out) < 0)) {
        ib_fail_errno(err, "write '%s'", out);
        unlink(tmp);
        return -1;
    }
    return 0;
}

static const char load_usage[] = "Usage: imgbuild load [-i FILE|-] [-q]\n"
                                 "\n"
                                 "Read images from an OCI archive or a 'docker save' archive\n"
                                 "(plain or compressed; stdin by default).\n"
                                 "\n"
                                 "Options:\n"
                                 "  -i, --input FILE  read FILE ('-' is stdin)\n"
                                 "  -q, --quiet       print nothing\n"
                                 "  -h, --help        show this help\n";

int
cmd_load(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *in = "-";
    bool quiet = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+i:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            in = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(load_usage, stdout);
            return 0;
        default:
            return cli_usage(err, "load", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage(err, "load", "'load' takes no arguments (use -i FILE)");
    AUTO_FD int fd = strcmp(in, "-") == 0 ? dup(0) : open(in, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s'", in);
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    AUTO_STRV struct ib_strv loaded = IB_STRV_INIT;
    if (store_load(st, fd, &loaded, err) < 0)
        return -1;
    for (size_t i = 0; !quiet && i < loaded.n; i++)
        printf("Loaded image: %s\n", loaded.v[i]);
    return 0;
}
