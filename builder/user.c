/* builder/user.c: resolve a USER spec against the image's /etc/passwd and /etc/group.
 *
 * Child-safe: works on buffers the caller read, allocates nothing.  The rules are
 * Docker's: a name must exist in passwd; a numeric uid need not (then gid 0 and
 * home "/"); "user:group" takes the group by name or number; the supplementary
 * groups are those of /etc/group that list the user's name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "builder/sandbox.h"
#include "common/banned.h"

struct field {
    const char *p;
    size_t n;
};

/* Split one line [p, end) at ':' into at most max fields; returns how many. */
static size_t
split(const char *p, const char *end, struct field *f, size_t max)
{
    size_t n = 0;
    while (n < max) {
        const char *c = memchr(p, ':', (size_t)(end - p));
        f[n].p = p;
        f[n].n = (size_t)((c ? c : end) - p);
        n++;
        if (!c)
            break;
        p = c + 1;
    }
    return n;
}

static bool
field_eq(struct field f, const char *s, size_t n)
{
    return f.n == n && memcmp(f.p, s, n) == 0;
}

/* A decimal id below 2^32 - 1; false for anything else. */
static bool
parse_id(const char *s, size_t n, unsigned long *out)
{
    if (n == 0 || n > 10)
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v >= 0xffffffffUL)
        return false;
    *out = v;
    return true;
}

/* Iterate the lines of a file buffer: call with *pos = 0; returns false at the end. */
static bool
next_line(const char *buf, size_t len, size_t *pos, const char **line, const char **end)
{
    while (*pos < len) {
        const char *l = buf + *pos;
        const char *nl = memchr(l, '\n', len - *pos);
        const char *e = nl ? nl : buf + len;
        *pos = (size_t)(e - buf) + (nl ? 1 : 0);
        if (e > l && e[-1] == '\r')
            e--;
        if (e == l || l[0] == '#')
            continue;
        *line = l;
        *end = e;
        return true;
    }
    return false;
}

static bool
member_of(struct field members, const char *name, size_t nlen)
{
    const char *p = members.p, *end = members.p + members.n;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c ? c : end;
        if ((size_t)(e - p) == nlen && memcmp(p, name, nlen) == 0)
            return true;
        p = e + 1;
    }
    return false;
}

static void
add_group(struct sandbox_user *u, gid_t g)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (u->groups[i] == g)
            return;
    if (u->ngroups < SANDBOX_MAX_GROUPS)
        u->groups[u->ngroups++] = g;
}

int
sandbox_user_resolve(const char *spec, const char *passwd, size_t passwd_len, const char *group,
                     size_t group_len, struct sandbox_user *out, char *msg, size_t msgsz)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->home, sizeof(out->home), "/");
    if (!spec || !*spec)
        spec = "0";
    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *gspec = colon ? colon + 1 : NULL;
    if (ulen == 0 || (gspec && !*gspec)) {
        snprintf(msg, msgsz, "invalid user '%s'", spec);
        errno = EINVAL;
        return -1;
    }
    unsigned long id = 0;
    bool numeric = parse_id(spec, ulen, &id);
    const char *name = NULL;
    size_t nlen = 0;
    bool found = false;
    size_t pos = 0;
    const char *l, *e;
    while (passwd && next_line(passwd, passwd_len, &pos, &l, &e)) {
        struct field f[7];
        if (split(l, e, f, 7) < 7)
            continue;
        unsigned long uid, gid;
        if (!parse_id(f[2].p, f[2].n, &uid) || !parse_id(f[3].p, f[3].n, &gid))
            continue;
        if (numeric ? uid != id : !field_eq(f[0], spec, ulen))
            continue;
        found = true;
        name = f[0].p;
        nlen = f[0].n;
        out->uid = (uid_t)uid;
        out->gid = (gid_t)gid;
        if (f[5].n > 0 && f[5].n < sizeof(out->home))
            snprintf(out->home, sizeof(out->home), "%.*s", (int)f[5].n, f[5].p);
        break;
    }
    if (!found) {
        if (!numeric) {
            snprintf(msg, msgsz, "unable to find user '%.*s': no matching entries in passwd file",
                     (int)ulen, spec);
            errno = ENOENT;
            return -1;
        }
        out->uid = (uid_t)id;
        out->gid = 0;
    }
    if (gspec) {
        unsigned long gid;
        if (parse_id(gspec, strlen(gspec), &gid)) {
            out->gid = (gid_t)gid;
        } else {
            bool gfound = false;
            pos = 0;
            while (group && next_line(group, group_len, &pos, &l, &e)) {
                struct field f[4];
                if (split(l, e, f, 4) < 3 || !field_eq(f[0], gspec, strlen(gspec)) ||
                    !parse_id(f[2].p, f[2].n, &gid))
                    continue;
                out->gid = (gid_t)gid;
                gfound = true;
                break;
            }
            if (!gfound) {
                snprintf(msg, msgsz, "unable to find group '%s': no matching entries in group file",
                         gspec);
                errno = ENOENT;
                return -1;
            }
        }
    }
    add_group(out, out->gid);
    pos = 0;
    while (name && group && next_line(group, group_len, &pos, &l, &e)) {
        struct field f[4];
        unsigned long gid;
        if (split(l, e, f, 4) < 4 || !parse_id(f[2].p, f[2].n, &gid))
            continue;
        if (member_of(f[3], name, nlen))
            add_group(out, (gid_t)gid);
    }
    return 0;
}
