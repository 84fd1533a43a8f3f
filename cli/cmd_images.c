/* cli/cmd_images.c: `imgbuild images`, `inspect`, `tag`, `rmi`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)
IB_DEFINE_AUTO(struct store_image, store_image_free)

int
cli_store_open(unsigned flags, struct store **out, struct ib_err **err)
{
    return store_open(NULL, flags, out, err);
}

/* Parse options that are only --help (and those in extra); returns 1 when help was shown. */
int
cli_simple_opts(int argc, char **argv, const char *cmd, const char *usage, struct ib_err **err)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        return cli_usage(err, cmd, "unknown option '%s'", argv[optind - 1]);
    }
    return 0;
}

static const char images_usage[] =
    "Usage: imgbuild images [--format table|json] [-q]\n"
    "\n"
    "List the tagged images in the store.\n"
    "\n"
    "Options:\n"
    "  --format table|json  a table (REPOSITORY TAG IMAGE ID CREATED SIZE, default) or JSON\n"
    "  -q, --quiet          print image ids only\n"
    "  -h, --help           show this help\n";

static void
human_size(uint64_t n, char *buf, size_t len)
{
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, len, u ? "%.3g%s" : "%.0f%s", v, units[u]);
}

static void
human_age(int64_t t, char *buf, size_t len)
{
    if (t < 0) {
        snprintf(buf, len, "N/A");
        return;
    }
    int64_t d = (int64_t)time(NULL) - t;
    if (d < 60)
        snprintf(buf, len, "Less than a minute ago");
    else if (d < 3600)
        snprintf(buf, len, "%" PRId64 " minutes ago", d / 60);
    else if (d < 86400 * 2)
        snprintf(buf, len, "%" PRId64 " hours ago", d / 3600);
    else if (d < 86400 * 14)
        snprintf(buf, len, "%" PRId64 " days ago", d / 86400);
    else if (d < 86400 * 60)
        snprintf(buf, len, "%" PRId64 " weeks ago", d / (86400 * 7));
    else if (d < 86400 * 730)
        snprintf(buf, len, "%" PRId64 " months ago", d / (86400 * 30));
    else
        snprintf(buf, len, "%" PRId64 " years ago", d / (86400 * 365));
}

static void
json_str(struct ib_buf *b, const char *s)
{
    ib_buf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            ib_buf_addf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            ib_buf_addf(b, "\\u%04x", (unsigned)*s);
        else
            ib_buf_addc(b, *s);
    }
    ib_buf_addc(b, '"');
}

int
cmd_images(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, quiet = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "json") == 0)
                json = true;
            else if (strcmp(optarg, "table") != 0)
                return cli_usage(err, "images", "--format must be 'table' or 'json'");
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(images_usage, stdout);
            return 0;
        default:
            return cli_usage(err, "images", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage(err, "images", "'images' takes no arguments");
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    struct store_image_info *v = NULL;
    size_t n = 0;
    if (store_images_list(st, &v, &n, err) < 0)
        return -1;
    AUTO_BUF struct ib_buf out = IB_BUF_INIT;
    if (json)
        ib_buf_adds(&out, "[");
    else if (!quiet)
        ib_buf_addf(&out, "%-40s %-16s %-14s %-24s %s\n", "REPOSITORY", "TAG", "IMAGE ID",
                    "CREATED", "SIZE");
    for (size_t i = 0; i < n; i++) {
        AUTO_FREE char *repo = NULL;
        const char *tag = "<none>";
        struct ref r = {0};
        bool parsed = v[i].ref && ref_parse(v[i].ref, &r, NULL) == 0;
        repo = parsed ? ref_familiar_name(&r) : ib_xstrdup("<none>");
        if (parsed && r.tag)
            tag = r.tag;
        char size[32], age[64];
        human_size(v[i].size, size, sizeof(size));
        human_age(v[i].created, age, sizeof(age));
        if (json) {
            ib_buf_adds(&out, i ? ",\n {" : "\n {");
            ib_buf_adds(&out, "\"Repository\":");
            json_str(&out, repo);
            ib_buf_adds(&out, ",\"Tag\":");
            json_str(&out, tag);
            ib_buf_adds(&out, ",\"Reference\":");
            json_str(&out, v[i].ref ? v[i].ref : "");
            ib_buf_addf(&out,
                        ",\"ID\":\"%s\",\"Digest\":\"%s\",\"Created\":%" PRId64 ",\"Size\":%" PRIu64
                        "}",
                        v[i].id.s, v[i].digest.s, v[i].created, v[i].size);
        } else if (quiet) {
            ib_buf_addf(&out, "%.12s\n", digest_hex(&v[i].id));
        } else {
            ib_buf_addf(&out, "%-40s %-16s %-14.12s %-24s %s\n", repo, tag, digest_hex(&v[i].id),
                        age, size);
        }
        if (parsed)
            ref_release(&r);
    }
    if (json)
        ib_buf_adds(&out, n ? "\n]\n" : "]\n");
    store_image_info_free(v, n);
    fwrite(out.s, 1, out.len, stdout);
    return 0;
}

static const char inspect_usage[] = "Usage: imgbuild inspect IMAGE...\n"
                                    "\n"
                                    "Print details of images as a JSON array: Id (the config\n"
                                    "digest), Digest (the manifest digest), RepoTags, Config...\n";

int
cmd_inspect(int argc, char **argv, struct ib_err **err)
{
    int h = cli_simple_opts(argc, argv, "inspect", inspect_usage, err);
    if (h)
        return h < 0 ? -1 : 0;
    if (optind >= argc)
        return cli_usage(err, "inspect", "'inspect' needs at least one IMAGE");
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    AUTO_BUF struct ib_buf out = IB_BUF_INIT;
    ib_buf_adds(&out, "[\n");
    for (int i = optind; i < argc; i++) {
        IB_AUTO(store_image_free) struct store_image *img = NULL;
        if (store_image_get(st, argv[i], &img, err) < 0)
            return -1;
        if (i > optind)
            ib_buf_adds(&out, ",\n");
        if (store_image_inspect(st, img, &out, err) < 0)
            return -1;
    }
    ib_buf_adds(&out, "\n]\n");
    fwrite(out.s, 1, out.len, stdout);
    return 0;
}

static const char tag_usage[] = "Usage: imgbuild tag SOURCE TARGET\n"
                                "\n"
                                "Give the image SOURCE (a name or id) the name TARGET.\n";

int
cmd_tag(int argc, char **argv, struct ib_err **err)
{
    int h = cli_simple_opts(argc, argv, "tag", tag_usage, err);
    if (h)
        return h < 0 ? -1 : 0;
    if (argc - optind != 2)
        return cli_usage(err, "tag", "'tag' needs exactly SOURCE and TARGET");
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_get(st, argv[optind], &img, err) < 0)
        return -1;
    return store_tag(st, img, argv[optind + 1], err);
}

static const char rmi_usage[] = "Usage: imgbuild rmi IMAGE...\n"
                                "\n"
                                "Remove image names (an id removes every name of that image).\n"
                                "The data goes at the next 'imgbuild prune'.\n";

int
cmd_rmi(int argc, char **argv, struct ib_err **err)
{
    int h = cli_simple_opts(argc, argv, "rmi", rmi_usage, err);
    if (h)
        return h < 0 ? -1 : 0;
    if (optind >= argc)
        return cli_usage(err, "rmi", "'rmi' needs at least one IMAGE");
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    for (int i = optind; i < argc; i++) {
        AUTO_STRV struct ib_strv gone = IB_STRV_INIT;
        if (store_untag(st, argv[i], &gone, err) < 0)
            return -1;
        for (size_t k = 0; k < gone.n; k++)
            printf("Untagged: %s\n", gone.v[k]);
    }
    return 0;
}
