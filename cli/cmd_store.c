/* cli/cmd_store.c: `imgbuild prune`, `fsck`, and the developer tool `layer-commit`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)
IB_DEFINE_AUTO(struct store_image, store_image_free)

static const char prune_usage[] =
    "Usage: imgbuild prune [--all]\n"
    "\n"
    "Remove blobs, snapshots and cache entries that no image in index.json and no\n"
    "build cache entry needs.  Waits until no other imgbuild uses the store.\n"
    "\n"
    "Options:\n"
    "  -a, --all   drop the build cache too\n"
    "  -h, --help  show this help\n";

int
cmd_prune(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned flags = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+ah", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            flags |= STORE_PRUNE_CACHE;
            break;
        case 'h':
            fputs(prune_usage, stdout);
            return 0;
        default:
            return cli_usage(err, "prune", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage(err, "prune", "'prune' takes no arguments");
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(STORE_EXCLUSIVE, &st, err) < 0)
        return -1;
    struct store_gc_stats s;
    if (store_prune(st, flags, &s, err) < 0)
        return -1;
    printf("Deleted %zu blobs, %zu snapshots, %zu cache entries; reclaimed %" PRIu64 " bytes\n",
           s.blobs, s.snapshots, s.cache_entries, s.bytes);
    return 0;
}

static const char fsck_usage[] =
    "Usage: imgbuild fsck\n"
    "\n"
    "Verify every blob's digest, every image's blobs and every layer snapshot.\n"
    "Exit status 1 and one line per problem when the store is damaged.\n";

int
cmd_fsck(int argc, char **argv, struct ib_err **err)
{
    int h = cli_simple_opts(argc, argv, "fsck", fsck_usage, err);
    if (h)
        return h < 0 ? -1 : 0;
    if (optind != argc)
        return cli_usage(err, "fsck", "'fsck' takes no arguments");
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    AUTO_BUF struct ib_buf report = IB_BUF_INIT;
    int rc = store_fsck(st, &report, err);
    fwrite(report.s, 1, report.len, stdout);
    if (rc == 0)
        printf("store %s: ok\n", store_root(st));
    return rc;
}

static const char layer_commit_usage[] =
    "Usage: imgbuild layer-commit [--from IMAGE] [-m TEXT] UPPERDIR REFERENCE\n"
    "\n"
    "Developer tool: commit UPPERDIR, a directory in overlayfs upper-dir form\n"
    "(0:0 char devices are whiteouts, trusted.overlay.opaque=y marks opaque dirs),\n"
    "as a new layer on top of IMAGE (or on nothing) and tag the result REFERENCE.\n"
    "UPPERDIR is left as it was.  Prints the new image id.\n"
    "\n"
    "Options:\n"
    "  --from IMAGE        the base image (default: none, FROM scratch)\n"
    "  -m, --message TEXT  the history entry's created_by\n"
    "  -h, --help          show this help\n";

int
cmd_layer_commit(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"message", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *msg = "imgbuild layer-commit";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            from = optarg;
            break;
        case 'm':
            msg = optarg;
            break;
        case 'h':
            fputs(layer_commit_usage, stdout);
            return 0;
        default:
            return cli_usage(err, "layer-commit", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return cli_usage(err, "layer-commit", "'layer-commit' needs UPPERDIR and REFERENCE");
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    IB_AUTO(store_image_free) struct store_image *base = NULL;
    if (from && store_image_get(st, from, &base, err) < 0)
        return -1;
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_new(base, &img, err) < 0)
        return -1;
    size_t n = base ? store_image_nlayers(base) : 0;
    const struct digest *parent = n ? &store_image_layer(base, n - 1)->chain_id : NULL;
    struct store_layer layer;
    if (store_layer_commit(st, parent, argv[optind], 0, &layer, err) < 0)
        return ib_err_prefix(err, "commit '%s'", argv[optind]);
    store_image_add_layer(img, &layer, msg);
    if (store_image_commit(st, img, argv[optind + 1], err) < 0)
        return -1;
    printf("%s\n", store_image_id(img)->s);
    return 0;
}
