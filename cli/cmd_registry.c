/* cli/cmd_registry.c: `imgbuild pull`, `push`, `login`, `logout`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/builder.h"
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "registry/registry.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)
IB_DEFINE_AUTO(struct store_image, store_image_free)
IB_DEFINE_AUTO(struct registry_client, registry_client_free)

#define COMMON_HELP                                                                    \
    "  --tls-verify=false  do not verify TLS certificates (and allow plain HTTP)\n"    \
    "  --cert-dir DIR      CA (*.crt) and client certificate (client.cert/.key) for\n" \
    "                      TLS (default: /etc/docker/certs.d/HOST[:PORT]/)\n"          \
    "  --creds USER[:PASS] credentials to use instead of the stored ones\n"            \
    "  --timeout SECONDS   a transfer without progress for this long fails (30)\n"     \
    "  -h, --help          show this help\n"

enum {
    OPT_TLS = 1000,
    OPT_CERT,
    OPT_CREDS,
    OPT_TIMEOUT,
    OPT_PLATFORM,
    OPT_UNPACK,
    OPT_FORMAT,
    OPT_COMP,
    OPT_CHUNK,
    OPT_PWSTDIN
};

#define COMMON_OPTS                                        \
    {"tls-verify", required_argument, NULL, OPT_TLS},      \
        {"cert-dir", required_argument, NULL, OPT_CERT},   \
        {"creds", required_argument, NULL, OPT_CREDS},     \
        {"timeout", required_argument, NULL, OPT_TIMEOUT}, \
    {                                                      \
        "help", no_argument, NULL, 'h'                     \
    }

struct common {
    struct registry_opts o;
    char *user; /* owned, from --creds */
};

static void
common_release(struct common *c)
{
    free(c->user);
}

/* 1: handled; 0: not a common option; -1: error */
static int
common_opt(struct common *c, int opt, const char *cmd, struct ib_err **err)
{
    switch (opt) {
    case OPT_TLS:
        if (strcmp(optarg, "false") == 0)
            c->o.tls_no_verify = true;
        else if (strcmp(optarg, "true") == 0)
            c->o.tls_no_verify = false;
        else
            return cli_usage(err, cmd, "--tls-verify takes true or false");
        return 1;
    case OPT_CERT:
        c->o.cert_dir = optarg;
        return 1;
    case OPT_CREDS: {
        free(c->user);
        c->user = ib_xstrdup(optarg);
        char *colon = strchr(c->user, ':');
        if (colon) {
            *colon = '\0';
            c->o.password = colon + 1;
        } else {
            c->o.password = "";
        }
        c->o.username = c->user;
        return 1;
    }
    case OPT_TIMEOUT: {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end || v <= 0 || v > 3600)
            return cli_usage(err, cmd, "--timeout takes seconds (1-3600)");
        c->o.timeout_s = (unsigned)v;
        return 1;
    }
    default:
        return 0;
    }
}

static const char pull_usage[] =
    "Usage: imgbuild pull [OPTIONS] REFERENCE\n"
    "\n"
    "Download an image from a registry into the store (layers in parallel, each\n"
    "verified) and tag it.  Prints the manifest digest.  Layers are unpacked when a\n"
    "build first needs them, or right away with --unpack.\n"
    "\n"
    "Options:\n"
    "  --platform OS/ARCH[/VARIANT]  the platform to take from a multi-platform image\n"
    "                      (default: this machine's)\n"
    "  --unpack            unpack each layer as it arrives\n" COMMON_HELP;

int
cmd_pull(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"unpack", no_argument, NULL, OPT_UNPACK},
        COMMON_OPTS,
        {NULL, 0, NULL, 0},
    };
    __attribute__((cleanup(common_release))) struct common co = {0};
    const char *platform = NULL;
    unsigned flags = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        int h = common_opt(&co, c, "pull", err);
        if (h < 0)
            return -1;
        if (h)
            continue;
        if (c == 'h') {
            fputs(pull_usage, stdout);
            return 0;
        }
        if (c == OPT_PLATFORM) {
            platform = optarg;
            continue;
        }
        if (c == OPT_UNPACK) {
            flags |= REGISTRY_PULL_UNPACK;
            continue;
        }
        return cli_usage(err, "pull", "unknown option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 1)
        return cli_usage(err, "pull", "'pull' needs one REFERENCE");
    struct ref r;
    if (ref_parse(argv[optind], &r, err) < 0)
        return -1;
    registry_preload();
    IB_AUTO(registry_client_free) struct registry_client *rc = NULL;
    IB_AUTO(store_close) struct store *st = NULL;
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    int ret = registry_client_new(&co.o, &rc, err);
    if (ret == 0)
        ret = cli_store_open(0, &st, err);
    if (ret == 0)
        ret = registry_pull(rc, st, &r, platform, flags, &img, err);
    if (ret == 0) {
        AUTO_FREE char *s = ref_string(&r);
        printf("%s: %s\n", s, store_image_digest(img)->s);
    }
    ref_release(&r);
    return ret;
}

static const char push_usage[] =
    "Usage: imgbuild push [OPTIONS] IMAGE [DESTINATION]\n"
    "\n"
    "Upload an image from the store to a registry (to DESTINATION, a reference,\n"
    "when given; else to IMAGE's own name).  Prints the pushed manifest digest.\n"
    "\n"
    "Options:\n"
    "  --format oci|docker        manifest format (default: as stored when the layers\n"
    "                             are compressed already, else OCI)\n"
    "  --compression gzip|zstd    compression of uncompressed local layers (gzip)\n"
    "  --chunk-size SIZE          upload each blob in PATCH requests of at most SIZE\n"
    "                             (e.g. 64m; for registries or proxies that cap a\n"
    "                             request's size; default: one PUT per blob)\n" COMMON_HELP;

int
cmd_push(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"compression", required_argument, NULL, OPT_COMP},
        {"chunk-size", required_argument, NULL, OPT_CHUNK},
        COMMON_OPTS,
        {NULL, 0, NULL, 0},
    };
    __attribute__((cleanup(common_release))) struct common co = {0};
    struct registry_push_opts po = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        int h = common_opt(&co, c, "push", err);
        if (h < 0)
            return -1;
        if (h)
            continue;
        switch (c) {
        case 'h':
            fputs(push_usage, stdout);
            return 0;
        case OPT_FORMAT:
            if (strcmp(optarg, "oci") == 0)
                po.format = REGISTRY_FORMAT_OCI;
            else if (strcmp(optarg, "docker") == 0 || strcmp(optarg, "v2s2") == 0)
                po.format = REGISTRY_FORMAT_DOCKER;
            else
                return cli_usage(err, "push", "--format takes oci or docker");
            break;
        case OPT_COMP:
            if (strcmp(optarg, "gzip") == 0)
                po.compression = STORE_COMPRESS_GZIP;
            else if (strcmp(optarg, "zstd") == 0)
                po.compression = STORE_COMPRESS_ZSTD;
            else
                return cli_usage(err, "push", "--compression takes gzip or zstd");
            break;
        case OPT_CHUNK: {
            int64_t v = 0;
            AUTO_ERR struct ib_err *e = NULL;
            if (sandbox_parse_bytes(optarg, &v, &e) < 0 || v < 4096)
                return cli_usage(err, "push", "--chunk-size takes a size of 4k or more, not '%s'",
                                 optarg);
            po.chunk_size = (uint64_t)v;
            break;
        }
        default:
            return cli_usage(err, "push", "unknown option '%s'", argv[optind - 1]);
        }
    }
    int n = argc - optind;
    if (n < 1 || n > 2)
        return cli_usage(err, "push", "'push' needs IMAGE and an optional DESTINATION");
    const char *src = argv[optind];
    struct ref dest;
    if (ref_parse(n == 2 ? argv[optind + 1] : src, &dest, err) < 0)
        return -1;
    registry_preload();
    IB_AUTO(registry_client_free) struct registry_client *rc = NULL;
    IB_AUTO(store_close) struct store *st = NULL;
    struct digest d;
    int ret = registry_client_new(&co.o, &rc, err);
    if (ret == 0)
        ret = cli_store_open(0, &st, err);
    if (ret == 0)
        ret = registry_push(rc, st, src, &dest, &po, &d, err);
    if (ret == 0) {
        AUTO_FREE char *s = ref_string(&dest);
        printf("%s: %s\n", s, d.s);
    }
    ref_release(&dest);
    return ret;
}
