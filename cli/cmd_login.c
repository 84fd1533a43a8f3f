/* cli/cmd_login.c: `imgbuild login`, `logout`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "registry/registry.h"
#include "common/banned.h"

IB_DEFINE_AUTO(struct registry_client, registry_client_free)

static const char login_usage[] =
    "Usage: imgbuild login [-u USER] [-p PASSWORD | --password-stdin] [OPTIONS] REGISTRY\n"
    "\n"
    "Check the credentials against REGISTRY (\"docker.io\", \"localhost:5000\") and store\n"
    "them: through the credential helper configured in the Docker config file, else\n"
    "in its \"auths\" ($DOCKER_CONFIG/config.json or ~/.docker/config.json, mode 0600).\n"
    "\n"
    "Options:\n"
    "  -u, --username USER     user name (asked for when missing and stdin is a tty)\n"
    "  -p, --password PASS     password (visible to other users: prefer --password-stdin)\n"
    "  --password-stdin        read the password from stdin\n"
    "  --tls-verify=false      do not verify TLS certificates (and allow plain HTTP)\n"
    "  --cert-dir DIR          CA and client certificate directory\n"
    "  -h, --help              show this help\n";

enum { OPT_STDIN = 1000, OPT_TLS, OPT_CERT };

/* Strip one trailing newline (and CR). */
static void
chomp(struct ib_buf *b)
{
    while (b->len && (b->s[b->len - 1] == '\n' || b->s[b->len - 1] == '\r'))
        ib_buf_truncate(b, b->len - 1);
}

static int
read_line(const char *prompt, bool echo, struct ib_buf *out, struct ib_err **err)
{
    if (!isatty(0))
        return ib_fail(err, IB_E_USAGE, "%s needed (stdin is not a terminal)", prompt);
    fprintf(stderr, "%s: ", prompt);
    fflush(stderr);
    if (!echo) {
        char *pw = getpass("");
        if (!pw)
            return ib_fail_errno(err, "read %s", prompt);
        ib_buf_adds(out, pw);
        memset(pw, 0, strlen(pw));
        return 0;
    }
    char line[512];
    if (!fgets(line, sizeof(line), stdin))
        return ib_fail(err, IB_E_USAGE, "no %s given", prompt);
    ib_buf_adds(out, line);
    chomp(out);
    return 0;
}

int
cmd_login(int argc, char **argv, struct ib_err **err)
{
    static const struct option opts[] = {
        {"username", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"password-stdin", no_argument, NULL, OPT_STDIN},
        {"tls-verify", required_argument, NULL, OPT_TLS},
        {"cert-dir", required_argument, NULL, OPT_CERT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct registry_opts ro = {0};
    AUTO_BUF struct ib_buf user = IB_BUF_INIT;
    AUTO_BUF struct ib_buf pass = IB_BUF_INIT;
    bool have_user = false, have_pass = false, from_stdin = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+u:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            ib_buf_reset(&user);
            ib_buf_adds(&user, optarg);
            have_user = true;
            break;
        case 'p':
            ib_buf_reset(&pass);
            ib_buf_adds(&pass, optarg);
            have_pass = true;
            break;
        case OPT_STDIN:
            from_stdin = true;
            break;
        case OPT_TLS:
            if (strcmp(optarg, "false") != 0 && strcmp(optarg, "true") != 0)
                return cli_usage(err, "login", "--tls-verify takes true or false");
            ro.tls_no_verify = strcmp(optarg, "false") == 0;
            break;
        case OPT_CERT:
            ro.cert_dir = optarg;
            break;
        case 'h':
            fputs(login_usage, stdout);
            return 0;
        default:
            return cli_usage(err, "login", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage(err, "login", "'login' needs one REGISTRY");
    if (have_pass && from_stdin)
        return cli_usage(err, "login", "--password and --password-stdin are exclusive");
    if (from_stdin && !have_user)
        return cli_usage(err, "login", "--password-stdin needs --username");
    if (!have_user && read_line("Username", true, &user, err) < 0)
        return -1;
    if (from_stdin) {
        ib_buf_set_limit(&pass, 64 << 10);
        if (ib_read_fd(0, &pass, "password", err) < 0)
            return -1;
        chomp(&pass);
    } else if (!have_pass && read_line("Password", false, &pass, err) < 0) {
        return -1;
    }
    if (!user.len)
        return cli_usage(err, "login", "the user name is empty");
    IB_AUTO(registry_client_free) struct registry_client *rc = NULL;
    int ret = registry_client_new(&ro, &rc, err);
    if (ret == 0)
        ret = registry_login(rc, argv[optind], user.s, pass.s, err);
    memset(pass.s, 0, pass.len);
    if (ret == 0)
        puts("Login Succeeded");
    return ret;
}

static const char logout_usage[] = "Usage: imgbuild logout REGISTRY\n"
                                   "\n"
                                   "Remove the stored credentials for REGISTRY.\n";

int
cmd_logout(int argc, char **argv, struct ib_err **err)
{
    int h = cli_simple_opts(argc, argv, "logout", logout_usage, err);
    if (h)
        return h < 0 ? -1 : 0;
    if (argc - optind != 1)
        return cli_usage(err, "logout", "'logout' needs one REGISTRY");
    IB_AUTO(registry_client_free) struct registry_client *rc = NULL;
    if (registry_client_new(NULL, &rc, err) < 0 || registry_logout(rc, argv[optind], err) < 0)
        return -1;
    printf("Removed login credentials for %s\n", argv[optind]);
    return 0;
}
