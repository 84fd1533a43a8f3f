/* cli/cmd_run_step.c: `imgbuild run-step`, a developer tool that runs one command in the RUN
 * sandbox over given layer dirs, so the sandbox can be tested without the build engine. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/builder.h"
#include "cli/cli.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/mem.h"
#include "common/strv.h"
#include "common/fs.h"
#include "store/store.h"
#include "common/banned.h"

static const char run_step_usage[] =
    "Usage: imgbuild run-step [OPTIONS] (--image IMAGE | --lower DIR...) [--upper DIR --work DIR]\n"
    "                         -- CMD [ARG...]\n"
    "\n"
    "Developer tool: run CMD (exec form, looked up in PATH) in the RUN sandbox, as one\n"
    "build step would run, over an overlay of the given dirs.  Prints a result line\n"
    "(exit status or signal, out-of-memory kill, CPU time, peak memory) to stderr and\n"
    "exits with the command's status (128+N when killed by signal N).  Needs root.\n"
    "\n"
    "Root filesystem:\n"
    "  --image IMAGE        an image in the store: its layer snapshots are the lower dirs\n"
    "                       (unpacked if missing); the store stays locked (shared) meanwhile\n"
    "  --lower DIR          a read-only layer; repeat it, topmost first, lowest last\n"
    "                       (the order of overlayfs lowerdir=)\n"
    "  --upper DIR          the empty dir that receives the step's change; with --image\n"
    "                       and no --upper/--work, temporary dirs in the store are used\n"
    "                       and removed afterwards (the change is discarded)\n"
    "  --work DIR           overlayfs' work dir (empty, on the upper dir's filesystem)\n"
    "  --legacy-mount       use mount(2) options instead of the new mount API\n"
    "Process:\n"
    "  --env K=V            set an environment variable (repeatable)\n"
    "  --user USER          name, uid, uid:gid or name:group from the image's files\n"
    "  --workdir DIR        working dir, created if missing (default /)\n"
    "  --hostname NAME      hostname (default imgbuild)\n"
    "  --network host|none  the host's network (default) or only loopback\n"
    "Limits:\n"
    "  --memory SIZE        memory limit (e.g. 64m, 1g); no swap unless --memory-swap\n"
    "  --memory-swap SIZE   memory plus swap limit (-1: unlimited swap)\n"
    "  --cpus N             CPUs (e.g. 0.5): sets the CFS quota for --cpu-period\n"
    "  --cpu-quota USEC     CFS quota per period\n"
    "  --cpu-period USEC    CFS period (default 100000)\n"
    "  --cpu-shares N       relative CPU weight\n"
    "  --pids-limit N       maximum number of processes\n"
    "  --ulimit NAME=S[:H]  a resource limit, e.g. nofile=1024:2048 (repeatable)\n"
    "  --cgroup-parent P    parent cgroup (relative to imgbuild's own; default imgbuild)\n"
    "  -h, --help           show this help\n";

enum {
    OPT_IMAGE = 255,
    OPT_LOWER = 256,
    OPT_UPPER,
    OPT_WORK,
    OPT_LEGACY,
    OPT_ENV,
    OPT_USER,
    OPT_WORKDIR,
    OPT_HOSTNAME,
    OPT_NETWORK,
    OPT_MEMORY,
    OPT_MEMSWAP,
    OPT_CPUS,
    OPT_CPU_QUOTA,
    OPT_CPU_PERIOD,
    OPT_CPU_SHARES,
    OPT_PIDS,
    OPT_ULIMIT,
    OPT_CGROUP_PARENT,
};

static int
parse_num(const char *opt, const char *s, int64_t min, int64_t *out, struct ib_err **err)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min)
        return cli_usage(err, "run-step", "invalid value '%s' for %s", s, opt);
    *out = v;
    return 0;
}

static void
describe(const struct sandbox_result *res, struct ib_buf *b)
{
    ib_buf_adds(b, "run-step: ");
    sandbox_result_describe(res, b);
    ib_buf_addf(b, ", cpu %.1f ms", (double)res->cpu_usec / 1000.0);
    if (res->mem_peak)
        ib_buf_addf(b, ", peak memory %.1f MiB", (double)res->mem_peak / (1024.0 * 1024.0));
    ib_buf_addf(b, ", wall %.1f ms", (double)res->wall_usec / 1000.0);
}

IB_DEFINE_AUTO(struct store, store_close)
IB_DEFINE_AUTO(struct store_image, store_image_free)

/* The snapshot dirs of an image's layers, topmost first (unpacked when missing). */
static int
image_lowers(struct store *st, const char *name, struct ib_strv *lowers, struct ib_err **err)
{
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_get(st, name, &img, err) < 0)
        return -1;
    size_t n = store_image_nlayers(img);
    if (n == 0)
        return ib_fail(err, IB_E_USAGE, "image '%s' has no layers to run over", name);
    struct digest parent = {{0}};
    AUTO_STRV struct ib_strv bottom_up = IB_STRV_INIT;
    for (size_t i = 0; i < n; i++) {
        struct store_layer layer = *store_image_layer(img, i);
        if (store_snapshot_ensure(st, i ? &parent : NULL, &layer, err) < 0)
            return ib_err_prefix(err, "image '%s' layer %zu", name, i);
        char *path = NULL;
        if (store_snapshot_path(st, &layer.chain_id, &path, err) < 0)
            return -1;
        ib_strv_push_owned(&bottom_up, path);
        parent = layer.chain_id;
    }
    for (size_t i = n; i-- > 0;)
        ib_strv_push(lowers, bottom_up.v[i]);
    return 0;
}

int
cmd_run_step(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"image", required_argument, NULL, OPT_IMAGE},
        {"lower", required_argument, NULL, OPT_LOWER},
        {"upper", required_argument, NULL, OPT_UPPER},
        {"work", required_argument, NULL, OPT_WORK},
        {"legacy-mount", no_argument, NULL, OPT_LEGACY},
        {"env", required_argument, NULL, OPT_ENV},
        {"user", required_argument, NULL, OPT_USER},
        {"workdir", required_argument, NULL, OPT_WORKDIR},
        {"hostname", required_argument, NULL, OPT_HOSTNAME},
        {"network", required_argument, NULL, OPT_NETWORK},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"memory-swap", required_argument, NULL, OPT_MEMSWAP},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"cpu-quota", required_argument, NULL, OPT_CPU_QUOTA},
        {"cpu-period", required_argument, NULL, OPT_CPU_PERIOD},
        {"cpu-shares", required_argument, NULL, OPT_CPU_SHARES},
        {"pids-limit", required_argument, NULL, OPT_PIDS},
        {"ulimit", required_argument, NULL, OPT_ULIMIT},
        {"cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sandbox_cfg cfg;
    sandbox_cfg_init(&cfg);
    AUTO_STRV struct ib_strv lowers = IB_STRV_INIT;
    AUTO_STRV struct ib_strv env = IB_STRV_INIT;
    AUTO_FREE struct sandbox_rlimit *rl = NULL;
    size_t nrl = 0, caprl = 0;
    double cpus = 0;
    const char *image = NULL;
    int64_t v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_IMAGE:
            image = optarg;
            break;
        case OPT_LOWER:
            ib_strv_push(&lowers, optarg);
            break;
        case OPT_UPPER:
            cfg.upper = optarg;
            break;
        case OPT_WORK:
            cfg.work = optarg;
            break;
        case OPT_LEGACY:
            cfg.legacy_mount = true;
            break;
        case OPT_ENV:
            if (!strchr(optarg, '='))
                return cli_usage(err, "run-step", "--env needs K=V, got '%s'", optarg);
            ib_strv_push(&env, optarg);
            break;
        case OPT_USER:
            cfg.user = optarg;
            break;
        case OPT_WORKDIR:
            cfg.workdir = optarg;
            break;
        case OPT_HOSTNAME:
            cfg.hostname = optarg;
            break;
        case OPT_NETWORK:
            if (strcmp(optarg, "host") == 0)
                cfg.net = SANDBOX_NET_HOST;
            else if (strcmp(optarg, "none") == 0)
                cfg.net = SANDBOX_NET_NONE;
            else
                return cli_usage(err, "run-step", "--network is 'host' or 'none', not '%s'",
                                 optarg);
            break;
        case OPT_MEMORY:
            if (sandbox_parse_bytes(optarg, &cfg.limits.memory, err) < 0)
                return -1;
            break;
        case OPT_MEMSWAP:
            if (strcmp(optarg, "-1") == 0)
                cfg.limits.memory_swap = -1;
            else if (sandbox_parse_bytes(optarg, &cfg.limits.memory_swap, err) < 0)
                return -1;
            break;
        case OPT_CPUS: {
            char *end;
            cpus = strtod(optarg, &end);
            if (end == optarg || *end || cpus <= 0 || cpus > 1024)
                return cli_usage(err, "run-step", "invalid value '%s' for --cpus", optarg);
            break;
        }
        case OPT_CPU_QUOTA:
            if (parse_num("--cpu-quota", optarg, 1000, &cfg.limits.cpu_quota, err) < 0)
                return -1;
            break;
        case OPT_CPU_PERIOD:
            if (parse_num("--cpu-period", optarg, 1000, &v, err) < 0)
                return -1;
            cfg.limits.cpu_period = (uint64_t)v;
            break;
        case OPT_CPU_SHARES:
            if (parse_num("--cpu-shares", optarg, 2, &v, err) < 0)
                return -1;
            cfg.limits.cpu_shares = (uint64_t)v;
            break;
        case OPT_PIDS:
            if (parse_num("--pids-limit", optarg, 1, &cfg.limits.pids, err) < 0)
                return -1;
            break;
        case OPT_ULIMIT:
            IB_GROW(rl, nrl + 1, caprl);
            if (sandbox_parse_ulimit(optarg, &rl[nrl], err) < 0)
                return -1;
            nrl++;
            break;
        case OPT_CGROUP_PARENT:
            cfg.cgroup_parent = optarg;
            break;
        case 'h':
            fputs(run_step_usage, stdout);
            return 0;
        default:
            return cli_usage(err, "run-step", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage(err, "run-step", "no command given (put it after --)");
    if (image && lowers.n)
        return cli_usage(err, "run-step", "give either --image or --lower, not both");
    if (!image && (lowers.n == 0 || !cfg.upper || !cfg.work))
        return cli_usage(err, "run-step", "--lower (or --image), --upper and --work are required");
    if (!cfg.upper != !cfg.work)
        return cli_usage(err, "run-step", "give --upper and --work together");
    IB_AUTO(store_close) struct store *st = NULL;
    AUTO_FREE char *tmp_upper = NULL;
    AUTO_FREE char *tmp_work = NULL;
    if (image) {
        if (cli_store_open(0, &st, err) < 0 || image_lowers(st, image, &lowers, err) < 0)
            return -1;
        if (!cfg.upper) {
            if (store_tmp_mkdir(st, "run-step-upper", &tmp_upper, err) < 0 ||
                store_tmp_mkdir(st, "run-step-work", &tmp_work, err) < 0)
                return -1;
            cfg.upper = tmp_upper;
            cfg.work = tmp_work;
        }
    }
    if (cpus > 0) {
        uint64_t period = cfg.limits.cpu_period ? cfg.limits.cpu_period : 100000;
        cfg.limits.cpu_quota = (int64_t)(cpus * (double)period);
    }
    cfg.lowers = (const char *const *)lowers.v;
    cfg.nlowers = lowers.n;
    cfg.env = env.n ? (const char *const *)env.v : NULL;
    cfg.argv = (const char *const *)(argv + optind);
    cfg.rlimits = rl;
    cfg.nrlimits = nrl;
    fflush(stdout);
    struct sandbox_result res;
    int rc = sandbox_run(&cfg, &res, err);
    if (tmp_upper) {
        ib_rm_rf_at(AT_FDCWD, tmp_upper, NULL);
        ib_rm_rf_at(AT_FDCWD, tmp_work, NULL);
    }
    if (rc < 0)
        return -1;
    AUTO_BUF struct ib_buf line = IB_BUF_INIT;
    describe(&res, &line);
    fprintf(stderr, "%s\n", line.s);
    if (res.oom_killed && res.signal == 0 && res.exit_code == 0)
        return 137;
    return res.signal ? 128 + res.signal : res.exit_code;
}
