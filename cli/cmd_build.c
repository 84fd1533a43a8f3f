/* cli/cmd_build.c: `imgbuild build` (also the default verb). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/builder.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/strv.h"
#include "registry/registry.h"
#include "store/store.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct store, store_close)
IB_DEFINE_AUTO(struct store_image, store_image_free)
IB_DEFINE_AUTO(struct registry_client, registry_client_free)

static const char build_usage[] =
    "Usage: imgbuild [build] [OPTIONS] CONTEXT|-\n"
    "\n"
    "Build an image from a Dockerfile.  CONTEXT is a directory; '-' reads the Dockerfile\n"
    "from stdin and uses no context.\n"
    "\n"
    "  -f, --file FILE          the Dockerfile (default CONTEXT/Dockerfile; '-' = stdin)\n"
    "  -t, --tag REF            name the image (repeatable)\n"
    "      --build-arg K[=V]    set a build argument (K alone: from the environment)\n"
    "      --target STAGE       build up to this stage\n"
    "      --build-context NAME=DIR|docker-image://REF|oci-layout://PATH[:TAG][@DIGEST]\n"
    "                           a named context for FROM NAME, COPY --from=NAME and\n"
    "                           RUN --mount=from=NAME (repeatable; replaces a stage or an\n"
    "                           image of that name); oci-layout: an image of a local OCI\n"
    "                           layout directory, by digest, tag, or its only image\n"
    "      --no-cache           run every step (the results are still cached)\n"
    "      --no-cache-filter STAGE[,STAGE...]  --no-cache for these stages only\n"
    "      --pull               check the registry for newer base images (default: use\n"
    "                           the store's copy, pull only what is missing)\n"
    "      --platform P         target platform, e.g. linux/amd64\n"
    "      --label K=V          add a label to the image (repeatable)\n"
    "      --secret id=ID[,src=FILE|,env=VAR]  a secret for RUN --mount=type=secret;\n"
    "                           ID GIT_AUTH_TOKEN[.HOST] or GIT_AUTH_HEADER[.HOST]: HTTP\n"
    "                           auth for ADD of http(s) git repos\n"
    "      --ssh ID[=SOCKET|KEY[,KEY...]]  an SSH agent for RUN --mount=type=ssh (ID alone:\n"
    "                           $SSH_AUTH_SOCK; key files: an ssh-agent for the build);\n"
    "                           ID default also serves ADD of ssh:// and user@host: repos\n"
    "      --allow security.insecure  let RUN --security=insecure run (all capabilities,\n"
    "                           no seccomp filter, writable /sys and /proc)\n"
    "      --network host|none  RUN's network (default host)\n"
    "      --add-host NAME:IP   add NAME to every RUN's /etc/hosts (repeatable)\n"
    "      --ulimit NAME=SOFT[:HARD]  a resource limit of every RUN (repeatable), e.g.\n"
    "                           nofile=1024:2048\n"
    "      --shm-size SIZE      size of every RUN's /dev/shm (default 64m)\n"
    "      --memory SIZE        memory limit of each RUN (e.g. 256m)\n"
    "      --cpus N             CPU limit of each RUN (e.g. 1.5)\n"
    "      --pids-limit N       process limit of each RUN\n"
    "  -o, --output type=T,dest=D  also write the image: oci or docker (archive file),\n"
    "                           local (the root filesystem in a dir), tar (rootfs tar;\n"
    "                           dest=- is stdout); type=registry[,name=REF]\n"
    "                           [,oci-mediatypes=false] pushes (as --push;\n"
    "                           oci-mediatypes=false: as --format docker); a bare PATH\n"
    "                           is type=local,dest=PATH, and - a tar on stdout\n"
    "      --push               push every -t name after the build\n"
    "      --format oci|docker  --push: OCI (default) or Docker schema2 manifest and\n"
    "                           media types\n"
    "      --chunk-size SIZE    --push: upload blobs in PATCH requests of at most SIZE\n"
    "      --tls-verify=false   registries: do not verify TLS (and allow plain HTTP)\n"
    "      --cert-dir DIR       registries: CA (*.crt) and client.cert/.key for TLS\n"
    "      --iidfile F          write the image id to F\n"
    "      --metadata-file F    write the build's result as JSON to F (buildx's keys:\n"
    "                           containerimage.config.digest, containerimage.digest,\n"
    "                           image.name)\n"
    "  -q, --quiet              print only the image id\n"
    "      --progress MODE      auto, tty, plain or json (default auto)\n"
    "      --explain-cache      say, for every cache miss, which input changed\n"
    "  -h, --help               show this help\n";

enum {
    OPT_BUILD_ARG = 256,
    OPT_TARGET,
    OPT_NO_CACHE,
    OPT_PULL,
    OPT_PLATFORM,
    OPT_LABEL,
    OPT_SECRET,
    OPT_NETWORK,
    OPT_MEMORY,
    OPT_CPUS,
    OPT_PIDS,
    OPT_OUTPUT,
    OPT_IIDFILE,
    OPT_METADATA,
    OPT_PROGRESS,
    OPT_EXPLAIN,
    OPT_PUSH,
    OPT_TLS,
    OPT_CERT,
    OPT_FORMAT,
    OPT_CHUNK,
    OPT_NO_CACHE_FILTER,
    OPT_ULIMIT,
    OPT_SHM,
    OPT_SSH,
    OPT_ALLOW,
    OPT_ADD_HOST,
    OPT_BUILD_CONTEXT,
};

struct output {
    char *type, *dest;
    char *name; /* type=registry/image: names (comma-separated in BuildKit; one here) */
    bool push;
    int oci_mediatypes; /* oci-mediatypes=: -1 unset, 0 false (docker), 1 true */
};

static int
parse_output(const char *s, struct output *o, struct ib_err **err)
{
    /* as docker build: a bare PATH is type=local,dest=PATH, and "-" a rootfs tar on stdout */
    if (*s && !strchr(s, '=')) {
        free(o->type);
        free(o->dest);
        o->type = ib_xstrdup(strcmp(s, "-") == 0 ? "tar" : "local");
        o->dest = ib_xstrdup(s);
        return 0;
    }
    AUTO_FREE char *copy = ib_xstrdup(s);
    for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        if (strncmp(kv, "type=", 5) == 0) {
            free(o->type);
            o->type = ib_xstrdup(kv + 5);
        } else if (strncmp(kv, "name=", 5) == 0) {
            free(o->name);
            o->name = ib_xstrdup(kv + 5);
        } else if (strncmp(kv, "push=", 5) == 0) {
            o->push = strcmp(kv + 5, "true") == 0;
        } else if (strncmp(kv, "oci-mediatypes=", 15) == 0) {
            if (strcmp(kv + 15, "true") && strcmp(kv + 15, "false"))
                return cli_usage(err, "build", "--output oci-mediatypes takes true or false");
            o->oci_mediatypes = strcmp(kv + 15, "true") == 0;
        } else if (strncmp(kv, "dest=", 5) == 0) {
            free(o->dest);
            o->dest = ib_xstrdup(kv + 5);
        } else {
            return cli_usage(err, "build", "unknown --output field '%s'", kv);
        }
    }
    if (o->type && (strcmp(o->type, "registry") == 0 || strcmp(o->type, "image") == 0)) {
        /* BuildKit: type=registry is type=image,push=true; name= names the image */
        if (strcmp(o->type, "registry") == 0)
            o->push = true;
        free(o->type);
        o->type = NULL;
        return 0;
    }
    if (!o->type || !o->dest)
        return cli_usage(err, "build", "--output needs type=...,dest=...");
    if (strcmp(o->type, "oci") && strcmp(o->type, "docker") && strcmp(o->type, "local") &&
        strcmp(o->type, "tar"))
        return cli_usage(err, "build",
                         "--output type is oci, docker, local, tar or registry, not '%s'", o->type);
    return 0;
}

static int
write_output(struct store *st, const struct output *o, const char *id, const char *ref,
             struct ib_err **err)
{
    if (strcmp(o->type, "local") == 0)
        return builder_export_rootfs(st, id, o->dest, -1, err);
    AUTO_FD int fd = strcmp(o->dest, "-") == 0
                         ? dup(1)
                         : open(o->dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ib_fail_errno(err, "open '%s'", o->dest);
    if (strcmp(o->type, "tar") == 0)
        return builder_export_rootfs(st, id, NULL, fd, err);
    const char *refs[] = {ref ? ref : id};
    bool oci = strcmp(o->type, "oci") == 0;
    return store_save(st, refs, 1, oci ? STORE_ARCHIVE_OCI : STORE_ARCHIVE_DOCKER,
                      STORE_COMPRESS_GZIP, fd, err);
}

static int
parse_int(const char *opt, const char *s, int64_t *out, struct ib_err **err)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 1)
        return cli_usage(err, "build", "invalid value '%s' for %s", s, opt);
    *out = v;
    return 0;
}

static int
read_dockerfile(const char *ctx, const char *file, struct ib_buf *data, char **path,
                struct ib_err **err)
{
    if (file && strcmp(file, "-") == 0) {
        *path = ib_xstrdup("-");
        return ib_read_file("-", data, err);
    }
    *path = file ? ib_xstrdup(file) : ib_path_join(ctx, "Dockerfile");
    if (ib_read_file(*path, data, err) < 0)
        return ib_err_prefix(err, "read Dockerfile");
    return 0;
}

struct build_cli {
    struct build_opts o;
    struct ib_strv tags, args, labels, secrets, ssh, add_hosts, contexts, no_cache_filter;
    struct sandbox_rlimit *ulimits;
    size_t nulimits, ulimits_cap;
    struct output out;
    const char *iidfile, *metadata_file, *file, *progress;
    bool quiet, push;
    struct registry_opts reg;
    struct registry_push_opts push_opts;
    const char *format; /* --format as given, for messages */
};

/* --build-context NAME=VALUE: well formed, a supported form, a name not given before. */
static int
check_context(const struct ib_strv *seen, const char *spec, struct ib_err **err)
{
    struct build_context bc;
    AUTO_ERR struct ib_err *e = NULL;
    if (builder_context_parse(spec, &bc, &e) < 0)
        return cli_usage(err, "build", "%s", e->msg);
    size_t n = strlen(bc.name);
    bool dup = false;
    for (size_t i = 0; i < seen->n && !dup; i++)
        dup = strncmp(seen->v[i], bc.name, n) == 0 && seen->v[i][n] == '=';
    int rc = dup ? cli_usage(err, "build", "--build-context %s given more than once", bc.name) : 0;
    builder_context_release(&bc);
    return rc;
}

static int
parse_opts(int argc, char **argv, struct build_cli *c, struct ib_err **err)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"tag", required_argument, NULL, 't'},
        {"build-arg", required_argument, NULL, OPT_BUILD_ARG},
        {"target", required_argument, NULL, OPT_TARGET},
        {"no-cache", no_argument, NULL, OPT_NO_CACHE},
        {"pull", no_argument, NULL, OPT_PULL},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"label", required_argument, NULL, OPT_LABEL},
        {"secret", required_argument, NULL, OPT_SECRET},
        {"network", required_argument, NULL, OPT_NETWORK},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"pids-limit", required_argument, NULL, OPT_PIDS},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"iidfile", required_argument, NULL, OPT_IIDFILE},
        {"metadata-file", required_argument, NULL, OPT_METADATA},
        {"quiet", no_argument, NULL, 'q'},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"explain-cache", no_argument, NULL, OPT_EXPLAIN},
        {"push", no_argument, NULL, OPT_PUSH},
        {"tls-verify", required_argument, NULL, OPT_TLS},
        {"cert-dir", required_argument, NULL, OPT_CERT},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"chunk-size", required_argument, NULL, OPT_CHUNK},
        {"no-cache-filter", required_argument, NULL, OPT_NO_CACHE_FILTER},
        {"ulimit", required_argument, NULL, OPT_ULIMIT},
        {"shm-size", required_argument, NULL, OPT_SHM},
        {"ssh", required_argument, NULL, OPT_SSH},
        {"add-host", required_argument, NULL, OPT_ADD_HOST},
        {"allow", required_argument, NULL, OPT_ALLOW},
        {"build-context", required_argument, NULL, OPT_BUILD_CONTEXT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "f:t:o:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            c->file = optarg;
            break;
        case 't': {
            struct ref r;
            if (ref_parse(optarg, &r, err) < 0)
                return ib_err_prefix(err, "-t '%s'", optarg);
            ref_release(&r);
            ib_strv_push(&c->tags, optarg);
            break;
        }
        case OPT_BUILD_ARG:
            ib_strv_push(&c->args, optarg);
            break;
        case OPT_TARGET:
            c->o.target = optarg;
            break;
        case OPT_NO_CACHE:
            c->o.no_cache = true;
            break;
        case OPT_PULL:
            c->o.pull = true;
            break;
        case OPT_PLATFORM:
            c->o.platform = optarg;
            break;
        case OPT_SECRET:
            if (strncmp(optarg, "id=", 3) != 0 && !strstr(optarg, ",id="))
                return cli_usage(err, "build", "--secret needs id=ID, got '%s'", optarg);
            ib_strv_push(&c->secrets, optarg);
            break;
        case OPT_SSH:
            if (!*optarg || optarg[0] == '=')
                return cli_usage(err, "build", "--ssh needs ID[=SOCKET|KEY[,KEY...]], got '%s'",
                                 optarg);
            ib_strv_push(&c->ssh, optarg);
            break;
        case OPT_ADD_HOST: {
            AUTO_FREE char *line = NULL;
            AUTO_ERR struct ib_err *e = NULL;
            if (build_add_hosts(&optarg, 1, &line, &e) < 0)
                return cli_usage(err, "build", "%s", e->msg);
            ib_strv_push(&c->add_hosts, optarg);
            break;
        }
        case OPT_ALLOW:
            /* BuildKit's entitlements; the host network needs none here (it is the default) */
            if (strcmp(optarg, "security.insecure") == 0)
                c->o.allow_insecure = true;
            else if (strcmp(optarg, "network.host") != 0)
                return cli_usage(err, "build",
                                 "--allow takes security.insecure or network.host, not '%s'",
                                 optarg);
            break;
        case OPT_BUILD_CONTEXT:
            if (check_context(&c->contexts, optarg, err) < 0)
                return -1;
            ib_strv_push(&c->contexts, optarg);
            break;
        case OPT_LABEL:
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return cli_usage(err, "build", "--label needs K=V, got '%s'", optarg);
            ib_strv_push(&c->labels, optarg);
            break;
        case OPT_NETWORK:
            if (strcmp(optarg, "none") == 0)
                c->o.net = SANDBOX_NET_NONE;
            else if (strcmp(optarg, "host") == 0 || strcmp(optarg, "default") == 0)
                c->o.net = SANDBOX_NET_HOST;
            else
                return cli_usage(err, "build", "--network is host or none, not '%s'", optarg);
            break;
        case OPT_MEMORY:
            if (sandbox_parse_bytes(optarg, &c->o.limits.memory, err) < 0)
                return (*err)->kind = IB_E_USAGE, -1;
            break;
        case OPT_CPUS: {
            char *end;
            double cpus = strtod(optarg, &end);
            if (end == optarg || *end || cpus <= 0 || cpus > 1024)
                return cli_usage(err, "build", "invalid value '%s' for --cpus", optarg);
            c->o.limits.cpu_quota = (int64_t)(cpus * 100000.0);
            c->o.limits.cpu_period = 100000;
            break;
        }
        case OPT_PIDS:
            if (parse_int("--pids-limit", optarg, &c->o.limits.pids, err) < 0)
                return -1;
            break;
        case 'o':
        case OPT_OUTPUT:
            if (parse_output(optarg, &c->out, err) < 0)
                return -1;
            break;
        case OPT_METADATA:
            c->metadata_file = optarg;
            break;
        case OPT_IIDFILE:
            c->iidfile = optarg;
            break;
        case 'q':
            c->quiet = true;
            break;
        case OPT_PROGRESS:
            c->progress = optarg;
            break;
        case OPT_EXPLAIN:
            c->o.explain_cache = true;
            break;
        case OPT_PUSH:
            c->push = true;
            break;
        case OPT_TLS:
            if (strcmp(optarg, "false") != 0 && strcmp(optarg, "true") != 0)
                return cli_usage(err, "build", "--tls-verify takes true or false");
            c->reg.tls_no_verify = strcmp(optarg, "false") == 0;
            break;
        case OPT_CERT:
            c->reg.cert_dir = optarg;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "oci") == 0)
                c->push_opts.format = REGISTRY_FORMAT_OCI;
            else if (strcmp(optarg, "docker") == 0 || strcmp(optarg, "v2s2") == 0)
                c->push_opts.format = REGISTRY_FORMAT_DOCKER;
            else
                return cli_usage(err, "build", "--format takes oci or docker, not '%s'", optarg);
            c->format = optarg;
            break;
        case OPT_NO_CACHE_FILTER: {
            AUTO_FREE char *copy = ib_xstrdup(optarg);
            for (char *save = NULL, *n = strtok_r(copy, ",", &save); n;
                 n = strtok_r(NULL, ",", &save))
                ib_strv_push(&c->no_cache_filter, n);
            if (!*optarg)
                return cli_usage(err, "build", "--no-cache-filter needs stage names");
            break;
        }
        case OPT_ULIMIT: {
            struct sandbox_rlimit r;
            AUTO_ERR struct ib_err *e = NULL;
            if (sandbox_parse_ulimit(optarg, &r, &e) < 0)
                return cli_usage(err, "build", "--ulimit: %s", e->msg);
            IB_GROW(c->ulimits, c->nulimits + 1, c->ulimits_cap);
            c->ulimits[c->nulimits++] = r;
            break;
        }
        case OPT_SHM: {
            AUTO_ERR struct ib_err *e = NULL;
            if (sandbox_parse_bytes(optarg, &c->o.shm_size, &e) < 0 || c->o.shm_size < 4096)
                return cli_usage(err, "build", "--shm-size takes a size of 4k or more, not '%s'",
                                 optarg);
            break;
        }
        case OPT_CHUNK: {
            int64_t v = 0;
            AUTO_ERR struct ib_err *e = NULL;
            if (sandbox_parse_bytes(optarg, &v, &e) < 0 || v < 4096)
                return cli_usage(err, "build", "--chunk-size takes a size of 4k or more, not '%s'",
                                 optarg);
            c->push_opts.chunk_size = (uint64_t)v;
            break;
        }
        case 'h':
            fputs(build_usage, stdout);
            return 1;
        default:
            return cli_usage(err, "build", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (c->out.name) {
        struct ref r;
        if (ref_parse(c->out.name, &r, err) < 0)
            return ib_err_prefix(err, "--output name='%s'", c->out.name);
        ref_release(&r);
        ib_strv_push(&c->tags, c->out.name);
    }
    c->push = c->push || c->out.push;
    if (c->push && c->tags.n == 0)
        return cli_usage(err, "build", "--push needs an image name (-t REF)");
    if (c->out.oci_mediatypes >= 0) {
        enum registry_format f =
            c->out.oci_mediatypes ? REGISTRY_FORMAT_OCI : REGISTRY_FORMAT_DOCKER;
        if (c->format && c->push_opts.format != f)
            return cli_usage(err, "build", "--format %s contradicts --output oci-mediatypes=%s",
                             c->format, c->out.oci_mediatypes ? "true" : "false");
        c->push_opts.format = f;
    }
    if (c->format && !c->push)
        return cli_usage(err, "build", "--format applies to --push (or --output type=registry)");
    if (optind + 1 != argc)
        return cli_usage(err, "build",
                         optind >= argc ? "no build context given (e.g. '.')"
                                        : "one build context only");
    return 0;
}

/* --metadata-file: the keys buildx writes that describe the image (CI tools read them). */
static int
write_metadata(const struct build_cli *c, const struct build_result *res, struct ib_err **err)
{
    AUTO_BUF struct ib_buf names = IB_BUF_INIT;
    for (size_t i = 0; i < c->tags.n; i++) {
        struct ref r;
        if (ref_parse(c->tags.v[i], &r, err) < 0)
            return -1;
        AUTO_FREE char *name = ref_string(&r);
        ref_release(&r);
        ib_buf_addf(&names, "%s%s", i ? "," : "", name);
    }
    /* digests and normalized references: nothing in them needs a JSON escape */
    AUTO_BUF struct ib_buf j = IB_BUF_INIT;
    ib_buf_addf(&j,
                "{\n  \"containerimage.config.digest\": \"%s\",\n"
                "  \"containerimage.digest\": \"%s\"",
                res->id, res->digest);
    if (names.len)
        ib_buf_addf(&j, ",\n  \"image.name\": \"%s\"", names.s);
    ib_buf_adds(&j, "\n}\n");
    int rc = ib_write_atomic(AT_FDCWD, c->metadata_file, j.s, j.len, 0644, err);
    return rc < 0 ? ib_err_prefix(err, "--metadata-file") : 0;
}

/* --push: every -t name, in order; prints "REF: DIGEST" for each. */
static int
push_tags(struct build_cli *c, struct store *st, struct registry_client *rc, struct progress *pr,
          struct ib_err **err)
{
    for (size_t i = 0; i < c->tags.n; i++) {
        struct ref r;
        if (ref_parse(c->tags.v[i], &r, err) < 0)
            return -1;
        AUTO_FREE char *name = ref_string(&r);
        AUTO_FREE char *msg = ib_xasprintf("pushing %s", name);
        struct build_event ev = {.kind = BUILD_EV_INFO, .text = msg, .len = strlen(msg)};
        progress_event(pr, &ev);
        struct digest d;
        int ret = registry_push(rc, st, c->tags.v[i], &r, &c->push_opts, &d, err);
        ref_release(&r);
        if (ret < 0)
            return ib_err_prefix(err, "--push");
        if (!c->quiet)
            printf("%s: %s\n", name, d.s);
    }
    fflush(stdout);
    return 0;
}

static int
build_main(struct build_cli *c, const char *ctxarg, struct progress *pr, struct ib_err **err)
{
    AUTO_BUF struct ib_buf df = IB_BUF_INIT;
    AUTO_FREE char *dfpath = NULL;
    bool stdin_ctx = strcmp(ctxarg, "-") == 0;
    if (stdin_ctx && c->file && strcmp(c->file, "-") != 0)
        return cli_usage(err, "build", "with context '-' the Dockerfile comes from stdin");
    if (read_dockerfile(ctxarg, stdin_ctx ? "-" : c->file, &df, &dfpath, err) < 0)
        return -1;
    c->o.context_dir = stdin_ctx ? NULL : ctxarg;
    c->o.dockerfile = dfpath;
    c->o.dockerfile_data = df.s;
    c->o.dockerfile_len = df.len;
    c->o.tags = c->tags.v;
    c->o.ntags = c->tags.n;
    c->o.build_args = c->args.v;
    c->o.nbuild_args = c->args.n;
    c->o.secrets = c->secrets.v;
    c->o.nsecrets = c->secrets.n;
    c->o.ssh = c->ssh.v;
    c->o.nssh = c->ssh.n;
    c->o.no_cache_filter = c->no_cache_filter.v;
    c->o.nno_cache_filter = c->no_cache_filter.n;
    c->o.ulimits = c->ulimits;
    c->o.nulimits = c->nulimits;
    c->o.add_hosts = c->add_hosts.v;
    c->o.nadd_hosts = c->add_hosts.n;
    c->o.contexts = c->contexts.v;
    c->o.ncontexts = c->contexts.n;
    c->o.labels = c->labels.v;
    c->o.nlabels = c->labels.n;
    c->o.progress = progress_event;
    c->o.progress_ctx = pr;
    IB_AUTO(store_close) struct store *st = NULL;
    if (cli_store_open(0, &st, err) < 0)
        return -1;
    IB_AUTO(registry_client_free) struct registry_client *rc = NULL;
    if (registry_client_new(&c->reg, &rc, err) < 0)
        return -1;
    c->o.registry = rc;
    struct build_result res;
    if (builder_build(st, &c->o, &res, err) < 0)
        return -1;
    IB_AUTO(store_image_free) struct store_image *img = NULL;
    if (store_image_get(st, res.id, &img, err) < 0)
        return -1;
    struct build_event ev = {.kind = BUILD_EV_INFO};
    AUTO_BUF struct ib_buf m = IB_BUF_INIT;
    ib_buf_addf(&m, "writing image %s done (%u steps, %u cached)", res.id, res.steps, res.cached);
    ev.text = m.s;
    ev.len = m.len;
    progress_event(pr, &ev);
    for (size_t i = 0; i < c->tags.n; i++) {
        ib_buf_reset(&m);
        ib_buf_addf(&m, "naming to %s done", c->tags.v[i]);
        ev.text = m.s;
        ev.len = m.len;
        progress_event(pr, &ev);
    }
    if (c->out.type && write_output(st, &c->out, res.id, c->tags.n ? c->tags.v[0] : NULL, err) < 0)
        return ib_err_prefix(err, "--output type=%s", c->out.type);
    if (c->push && push_tags(c, st, rc, pr, err) < 0)
        return -1;
    if (c->iidfile) {
        AUTO_FREE char *line = ib_xasprintf("%s", res.id);
        AUTO_FD int fd = open(c->iidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || ib_write_all(fd, line, strlen(line), c->iidfile, err) < 0)
            return fd < 0 ? ib_fail_errno(err, "open '%s'", c->iidfile) : -1;
    }
    if (c->metadata_file && write_metadata(c, &res, err) < 0)
        return -1;
    /* the id never goes into an archive written to stdout (--output dest=-) */
    bool stdout_taken = c->out.type && c->out.dest && strcmp(c->out.dest, "-") == 0;
    if (c->quiet)
        fprintf(stdout_taken ? stderr : stdout, "%s\n", res.id);
    return 0;
}

int
cmd_build(int argc, char **argv, struct ib_err **err)
{
    struct build_cli c = {.out = {.oci_mediatypes = -1},
                          .tags = IB_STRV_INIT,
                          .args = IB_STRV_INIT,
                          .labels = IB_STRV_INIT,
                          .secrets = IB_STRV_INIT,
                          .ssh = IB_STRV_INIT,
                          .add_hosts = IB_STRV_INIT,
                          .contexts = IB_STRV_INIT,
                          .no_cache_filter = IB_STRV_INIT};
    int rc = parse_opts(argc, argv, &c, err);
    struct progress pr;
    if (rc == 0 && progress_init(&pr, c.progress, c.quiet, c.o.explain_cache) < 0)
        rc =
            cli_usage(err, "build", "--progress is auto, tty, plain or json, not '%s'", c.progress);
    else if (rc == 0) {
        rc = build_main(&c, argv[optind], &pr, err);
        progress_release(&pr);
    }
    ib_strv_release(&c.tags);
    ib_strv_release(&c.args);
    ib_strv_release(&c.labels);
    ib_strv_release(&c.secrets);
    ib_strv_release(&c.ssh);
    ib_strv_release(&c.add_hosts);
    free(c.ulimits);
    ib_strv_release(&c.no_cache_filter);
    ib_strv_release(&c.contexts);
    free(c.out.type);
    free(c.out.dest);
    free(c.out.name);
    return rc > 0 ? 0 : rc;
}
