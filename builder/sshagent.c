/* builder/sshagent.c: SSH agents for RUN --mount=type=ssh (BuildKit's --ssh).
 *
 * `build --ssh ID[=SOCKET|KEY[,KEY...]]` names an agent per ID: a socket (none given: the
 * environment's SSH_AUTH_SOCK), or private key files, for which an `ssh-agent -D` of our own
 * is started for the build with the keys loaded by `ssh-add` (openssh-client), and stopped
 * at the end.  Passphrase-protected keys are refused (ssh-add runs without a terminal):
 * load them into an agent and give its socket.
 *
 * A step never sees the agent's own socket: each ssh mount gets a proxy, a socket of its
 * own (with the mount's mode, uid and gid) served by a thread that relays every connection
 * to the agent, byte for byte, until the step ends.  The proxy's socket is what the sandbox
 * binds at the mount's target; its host path appears in nothing that is kept.
 */
#include "builder/runmount.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/banned.h"

extern char **environ;

struct ssh_source {
    char *id;
    char *socket;
    pid_t agent; /* an ssh-agent of ours, or 0 */
    char *dir;   /* its dir, removed at the end */
};

struct ssh_agents {
    struct ssh_source *v;
    size_t n, cap;
};

/* ---- unix socket addresses -------------------------------------------------------- */

/* path as a sockaddr_un; a path too long for sun_path goes through /proc/self/fd of its
 * dir (kept open in *dirfd). */
static int
unix_addr(const char *path, struct sockaddr_un *a, int *dirfd, struct ib_err **err)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    *dirfd = -1;
    if (strlen(path) < sizeof(a->sun_path)) {
        memcpy(a->sun_path, path, strlen(path) + 1);
        return 0;
    }
    const char *slash = strrchr(path, '/');
    AUTO_FREE char *dir = slash ? ib_xstrndup(path, (size_t)(slash - path)) : ib_xstrdup(".");
    const char *base = slash ? slash + 1 : path;
    *dirfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0)
        return ib_fail_errno(err, "open '%s'", dir);
    if ((size_t)snprintf(a->sun_path, sizeof(a->sun_path), "/proc/self/fd/%d/%s", *dirfd, base) >=
        sizeof(a->sun_path)) {
        close(*dirfd);
        *dirfd = -1;
        return ib_fail(err, IB_E_USAGE, "socket name '%s' is too long", base);
    }
    return 0;
}

static int
unix_connect(const char *path, int *out, struct ib_err **err)
{
    struct sockaddr_un a;
    AUTO_FD int dirfd = -1;
    if (unix_addr(path, &a, &dirfd, err) < 0)
        return -1;
    AUTO_FD int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ib_fail_errno(err, "socket");
    int rc;
    do
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return ib_fail_errno(err, "connect to '%s'", path);
    *out = ib_steal_fd(&fd);
    return 0;
}

/* ---- --ssh ------------------------------------------------------------------------- */

/* The first executable name in PATH; caller frees. */
static char *
find_program(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char *full = ib_xasprintf("%.*s/%s", (int)n, n ? p : ".", name);
        if (access(full, X_OK) == 0)
            return full;
        free(full);
        p = colon ? colon + 1 : NULL;
    }
    return NULL;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ssh-agent -D -a SOCK, dying with this thread (PR_SET_PDEATHSIG), in its own session. */
static int
spawn_agent(struct ssh_source *s, struct ib_err **err)
{
    AUTO_FREE char *prog = find_program("ssh-agent");
    if (!prog)
        return ib_fail(err, IB_E_USAGE,
                       "--ssh %s: key files need ssh-agent, which is not installed "
                       "(apt-get install openssh-client)",
                       s->id);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 60)
        tmp = "/tmp";
    s->dir = ib_xasprintf("%s/imgbuild-ssh-XXXXXX", tmp);
    if (!mkdtemp(s->dir)) {
        int e = errno;
        free(s->dir);
        s->dir = NULL;
        return ib_fail_sys(err, e, "--ssh %s: create a dir for ssh-agent", s->id);
    }
    s->socket = ib_path_join(s->dir, "agent.sock");
    char *argv[] = {prog, (char *)"-D", (char *)"-a", s->socket, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return ib_fail_errno(err, "--ssh %s: fork", s->id);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
        if (getppid() != parent)
            _exit(127);
        int nul = open("/dev/null", O_RDWR);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
            _exit(127);
        setsid();
        execve(prog, argv, environ);
        _exit(127);
    }
    s->agent = pid;
    for (int i = 0; i < 500; i++) { /* up to 5 s for the socket */
        struct stat st;
        if (stat(s->socket, &st) == 0 && S_ISSOCK(st.st_mode))
            return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->agent = 0;
            return ib_fail(err, IB_E_BUILD, "--ssh %s: ssh-agent exited at once (status %d)", s->id,
                           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
        sleep_ms(10);
    }
    return ib_fail(err, IB_E_BUILD, "--ssh %s: ssh-agent did not create its socket", s->id);
}

/* `ssh-add -` with key on stdin (as BuildKit reads a key itself: no check of the file's
 * permissions), without a terminal (no passphrase prompt). */
static int
add_key(struct ssh_source *s, const char *prog, const char *key, struct ib_err **err)
{
    char *argv[] = {(char *)prog, (char *)"-q", (char *)"-", NULL};
    AUTO_STRV struct ib_strv env = IB_STRV_INIT;
    const char *path = getenv("PATH");
    ib_strv_pushf(&env, "PATH=%s", path ? path : "/usr/bin:/bin");
    ib_strv_pushf(&env, "SSH_AUTH_SOCK=%s", s->socket);
    ib_strv_push(&env, "SSH_ASKPASS_REQUIRE=never");
    AUTO_FD int in = open(key, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return ib_fail_errno(err, "--ssh %s: open '%s'", s->id, key);
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0)
        return ib_fail_errno(err, "pipe");
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID); /* no terminal to prompt on */
    pid_t pid;
    int rc = posix_spawn(&pid, prog, &fa, &at, argv, env.v);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(ep[1]);
    if (rc != 0) {
        close(ep[0]);
        return ib_fail_sys(err, rc, "--ssh %s: run ssh-add", s->id);
    }
    AUTO_BUF struct ib_buf out = IB_BUF_INIT;
    ib_buf_set_limit(&out, 4096);
    AUTO_ERR struct ib_err *ignore = NULL;
    ib_read_fd(ep[0], &out, "ssh-add", &ignore);
    close(ep[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (strstr(out.s, "passphrase"))
        return ib_fail(err, IB_E_BUILD,
                       "--ssh %s: key '%s' is passphrase-protected, and imgbuild does not "
                       "prompt: load it into an ssh-agent and give its socket (--ssh %s=SOCKET)",
                       s->id, key, s->id);
    while (out.len && (out.s[out.len - 1] == '\n' || out.s[out.len - 1] == '\r'))
        out.s[--out.len] = '\0';
    for (char *p = out.s; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return ib_fail(err, IB_E_BUILD, "--ssh %s: ssh-add could not load '%s'%s%s", s->id, key,
                   out.len ? ": " : "", out.s);
}

static int
add_keys(struct ssh_source *s, char *const *keys, size_t nkeys, struct ib_err **err)
{
    AUTO_FREE char *prog = find_program("ssh-add");
    if (!prog)
        return ib_fail(err, IB_E_USAGE, "--ssh %s: ssh-add is not installed (openssh-client)",
                       s->id);
    for (size_t i = 0; i < nkeys; i++)
        if (add_key(s, prog, keys[i], err) < 0)
            return -1;
    return 0;
}

static int
add_source(struct ssh_agents *a, const char *spec, struct ib_err **err)
{
    const char *eq = strchr(spec, '=');
    AUTO_FREE char *id = ib_xstrndup(spec, eq ? (size_t)(eq - spec) : strlen(spec));
    if (!*id)
        return ib_fail(err, IB_E_USAGE, "--ssh '%s': the ID is empty", spec);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].id, id) == 0)
            return ib_fail(err, IB_E_USAGE, "--ssh: ID '%s' is given twice", id);
    AUTO_STRV struct ib_strv paths = IB_STRV_INIT;
    if (eq && eq[1]) {
        AUTO_FREE char *list = ib_xstrdup(eq + 1);
        for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
            ib_strv_push(&paths, p);
    }
    if (paths.n == 0) {
        const char *sock = getenv("SSH_AUTH_SOCK");
        if (!sock || !*sock)
            return ib_fail(err, IB_E_USAGE,
                           "--ssh %s: SSH_AUTH_SOCK is not set (start ssh-agent, or give "
                           "--ssh %s=SOCKET or --ssh %s=KEYFILE)",
                           id, id, id);
        ib_strv_push(&paths, sock);
    }
    bool socket = false;
    for (size_t i = 0; i < paths.n; i++) {
        struct stat st;
        if (stat(paths.v[i], &st) < 0)
            return ib_fail_errno(err, "--ssh %s: '%s'", id, paths.v[i]);
        if (S_ISSOCK(st.st_mode))
            socket = true;
        else if (!S_ISREG(st.st_mode))
            return ib_fail(err, IB_E_USAGE, "--ssh %s: '%s' is neither a socket nor a key file", id,
                           paths.v[i]);
    }
    if (socket && paths.n > 1)
        return ib_fail(err, IB_E_USAGE, "--ssh %s: a socket must be the only path", id);
    IB_GROW(a->v, a->n + 1, a->cap);
    struct ssh_source *s = &a->v[a->n++];
    memset(s, 0, sizeof(*s));
    s->id = ib_steal(&id);
    if (socket) {
        s->socket = ib_xstrdup(paths.v[0]);
        return 0;
    }
    if (spawn_agent(s, err) < 0 || add_keys(s, paths.v, paths.n, err) < 0)
        return -1;
    return 0;
}

int
ssh_agents_open(char *const *specs, size_t n, struct ssh_agents **out, struct ib_err **err)
{
    struct ssh_agents *a = ib_xcalloc(1, sizeof(*a));
    for (size_t i = 0; i < n; i++) {
        if (add_source(a, specs[i], err) < 0) {
            ssh_agents_free(a);
            return -1;
        }
    }
    *out = a;
    return 0;
}

const char *
ssh_agents_socket(const struct ssh_agents *a, const char *id)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (strcmp(a->v[i].id, id) == 0)
            return a->v[i].socket;
    return NULL;
}

void
ssh_agents_free(struct ssh_agents *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        struct ssh_source *s = &a->v[i];
        if (s->agent > 0) {
            kill(s->agent, SIGTERM);
            while (waitpid(s->agent, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        if (s->dir)
            ib_rm_rf_at(AT_FDCWD, s->dir, NULL);
        free(s->dir);
        free(s->socket);
        free(s->id);
    }
    free(a->v);
    free(a);
}

/* ---- proxies ------------------------------------------------------------------------ */

#define PROXY_MAX_CONNS 64

struct ssh_proxy {
    char *path;     /* the socket the step sees */
    char *upstream; /* the agent's socket */
    int lfd;
    int wake[2];
    pthread_t th;
    bool running;
};

struct conn {
    int fd[2]; /* client, agent */
};

static bool
send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void
conn_close(struct conn *c)
{
    close(c->fd[0]);
    close(c->fd[1]);
}

static void *
proxy_thread(void *arg)
{
    struct ssh_proxy *p = arg;
    struct conn conns[PROXY_MAX_CONNS];
    size_t n = 0;
    struct pollfd pfd[2 + 2 * PROXY_MAX_CONNS];
    char buf[16384];
    for (;;) {
        pfd[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        for (size_t i = 0; i < n; i++)
            for (int j = 0; j < 2; j++)
                pfd[2 + 2 * i + (size_t)j] =
                    (struct pollfd){.fd = conns[i].fd[j], .events = POLLIN};
        if (poll(pfd, 2 + 2 * n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[0].revents)
            break;
        /* relay first: pfd indexes refer to conns as they were when polled */
        for (size_t i = n; i-- > 0;) {
            bool drop = false;
            for (int j = 0; j < 2 && !drop; j++) {
                if (!pfd[2 + 2 * i + (size_t)j].revents)
                    continue;
                ssize_t r = read(conns[i].fd[j], buf, sizeof(buf));
                if (r < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                drop = r <= 0 || !send_all(conns[i].fd[1 - j], buf, (size_t)r);
            }
            if (drop) {
                conn_close(&conns[i]);
                conns[i] = conns[--n];
            }
        }
        if (pfd[1].revents & POLLIN) {
            int c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            AUTO_ERR struct ib_err *e = NULL;
            int up = -1;
            if (n == PROXY_MAX_CONNS || unix_connect(p->upstream, &up, &e) < 0) {
                close(c);
                continue;
            }
            conns[n++] = (struct conn){{c, up}};
        }
    }
    for (size_t i = 0; i < n; i++)
        conn_close(&conns[i]);
    return NULL;
}

int
ssh_proxy_start(const char *upstream, const char *dir, int mode, int64_t uid, int64_t gid,
                struct ssh_proxy **out, struct ib_err **err)
{
    struct ssh_proxy *p = ib_xcalloc(1, sizeof(*p));
    p->lfd = p->wake[0] = p->wake[1] = -1;
    p->upstream = ib_xstrdup(upstream);
    char *real = realpath(dir, NULL);
    if (!real) {
        ssh_proxy_stop(p);
        return ib_fail_errno(err, "resolve '%s'", dir);
    }
    p->path = ib_path_join(real, "agent");
    free(real);
    struct sockaddr_un a;
    AUTO_FD int dirfd = -1;
    int rc = unix_addr(p->path, &a, &dirfd, err);
    if (rc == 0 && (p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        rc = ib_fail_errno(err, "socket");
    if (rc == 0 && bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) < 0)
        rc = ib_fail_errno(err, "bind '%s'", p->path);
    if (rc == 0 && (chmod(p->path, (mode_t)mode) < 0 ||
                    chown(p->path, (uid_t)(uid > 0 ? uid : 0), (gid_t)(gid > 0 ? gid : 0)) < 0))
        rc = ib_fail_errno(err, "set up '%s'", p->path);
    if (rc == 0 && listen(p->lfd, 16) < 0)
        rc = ib_fail_errno(err, "listen on '%s'", p->path);
    if (rc == 0 && pipe2(p->wake, O_CLOEXEC) < 0)
        rc = ib_fail_errno(err, "pipe");
    if (rc == 0 && pthread_create(&p->th, NULL, proxy_thread, p) != 0)
        rc = ib_fail(err, IB_E_SYS, "cannot start the ssh agent proxy");
    if (rc < 0) {
        ssh_proxy_stop(p);
        return -1;
    }
    p->running = true;
    *out = p;
    return 0;
}

const char *
ssh_proxy_path(const struct ssh_proxy *p)
{
    return p->path;
}

void
ssh_proxy_stop(struct ssh_proxy *p)
{
    if (!p)
        return;
    if (p->running) {
        ssize_t w;
        do
            w = write(p->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(p->th, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (p->wake[i] >= 0)
            close(p->wake[i]);
    if (p->lfd >= 0) {
        close(p->lfd);
        unlink(p->path);
    }
    free(p->path);
    free(p->upstream);
    free(p);
}
