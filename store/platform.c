/* store/platform.c: platforms ("os/arch[/variant]") and choosing one from an image index
 * (for a registry pull and an OCI layout alike).
 *
 * Rules, as containerd's default matcher: os and architecture must be equal
 * (after normalizing aliases: x86_64/x86-64 -> amd64, aarch64 -> arm64,
 * armhf -> arm/v7, armel -> arm/v6, i386/i686 -> 386); an empty variant
 * means the architecture's default (arm64 -> v8, amd64 -> v1); for arm a
 * wanted vN also takes a lower variant, preferring the highest; without a
 * wanted variant, any variant of the architecture fits, the default one (or
 * none) first.
 */
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/banned.h"

static void
copy(char *dst, size_t n, const char *s, size_t len)
{
    if (len >= n)
        len = n - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

static void
normalize(struct store_platform *p)
{
    static const struct {
        const char *from, *arch, *variant;
    } alias[] = {
        {"x86_64", "amd64", ""}, {"x86-64", "amd64", ""}, {"aarch64", "arm64", ""},
        {"armhf", "arm", "v7"},  {"armel", "arm", "v6"},  {"i386", "386", ""},
        {"i686", "386", ""},     {"armv7l", "arm", "v7"}, {"armv6l", "arm", "v6"},
    };
    for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++) {
        if (strcmp(p->arch, alias[i].from) == 0) {
            copy(p->arch, sizeof(p->arch), alias[i].arch, strlen(alias[i].arch));
            if (!p->variant[0])
                copy(p->variant, sizeof(p->variant), alias[i].variant, strlen(alias[i].variant));
        }
    }
    if (strcmp(p->os, "macos") == 0)
        copy(p->os, sizeof(p->os), "darwin", 6);
    if ((strcmp(p->arch, "arm64") == 0 && strcmp(p->variant, "v8") == 0) ||
        (strcmp(p->arch, "amd64") == 0 && strcmp(p->variant, "v1") == 0))
        p->variant[0] = '\0'; /* the default variant is spelled as none */
}

int
store_platform_parse(const char *s, struct store_platform *out, struct ib_err **err)
{
    memset(out, 0, sizeof(*out));
    const char *a = strchr(s, '/');
    if (!a || a == s || !a[1])
        return ib_fail(err, IB_E_USAGE, "bad platform '%s': expected os/arch[/variant]", s);
    const char *v = strchr(a + 1, '/');
    if (v && (v == a + 1 || !v[1] || strchr(v + 1, '/')))
        return ib_fail(err, IB_E_USAGE, "bad platform '%s': expected os/arch[/variant]", s);
    size_t on = (size_t)(a - s), an = v ? (size_t)(v - a - 1) : strlen(a + 1);
    if (on >= sizeof(out->os) || an >= sizeof(out->arch) ||
        (v && strlen(v + 1) >= sizeof(out->variant)))
        return ib_fail(err, IB_E_USAGE, "bad platform '%s': too long", s);
    copy(out->os, sizeof(out->os), s, on);
    copy(out->arch, sizeof(out->arch), a + 1, an);
    if (v)
        copy(out->variant, sizeof(out->variant), v + 1, strlen(v + 1));
    for (char *p = out->os; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    for (char *p = out->arch; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    normalize(out);
    return 0;
}

void
store_platform_host(struct store_platform *out)
{
    struct utsname u;
    memset(out, 0, sizeof(*out));
    copy(out->os, sizeof(out->os), "linux", 5);
    if (uname(&u) == 0)
        copy(out->arch, sizeof(out->arch), u.machine, strlen(u.machine));
    else
        copy(out->arch, sizeof(out->arch), "amd64", 5);
    normalize(out);
    if (strcmp(out->arch, "arm") == 0 && !out->variant[0])
        copy(out->variant, sizeof(out->variant), "v7", 2);
}

void
store_platform_string(const struct store_platform *p, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}

/* 0: no match; else a score, higher is better. */
static int
score(const struct store_platform *want, const struct store_platform *have)
{
    if (strcmp(want->os, have->os) != 0 || strcmp(want->arch, have->arch) != 0)
        return 0;
    if (strcmp(want->variant, have->variant) == 0)
        return 100;
    if (!want->variant[0])
        return 50 - (int)strlen(have->variant); /* any variant; fewer letters first */
    if (strcmp(want->arch, "arm") == 0 && want->variant[0] == 'v') {
        int w = 0, h = 0;
        if (sscanf(want->variant + 1, "%d", &w) != 1)
            return 0;
        if (!have->variant[0])
            return 10; /* unspecified arm variant: acceptable, last */
        if (have->variant[0] != 'v' || sscanf(have->variant + 1, "%d", &h) != 1 || h > w)
            return 0;
        return 20 + h;
    }
    return 0;
}

int
store_platform_select(const void *manifests_json, const struct store_platform *want)
{
    const json_t *arr = manifests_json;
    int best = -1, best_score = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *m = json_array_get(arr, i);
        json_t *p = json_object_get(m, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        const char *variant = json_string_value(json_object_get(p, "variant"));
        if (!os || !arch)
            continue;
        struct store_platform have;
        memset(&have, 0, sizeof(have));
        copy(have.os, sizeof(have.os), os, strlen(os));
        copy(have.arch, sizeof(have.arch), arch, strlen(arch));
        if (variant)
            copy(have.variant, sizeof(have.variant), variant, strlen(variant));
        normalize(&have);
        int s = score(want, &have);
        if (s > best_score) {
            best_score = s;
            best = (int)i;
        }
    }
    return best;
}

void
store_platform_list(const void *manifests_json, struct ib_buf *out)
{
    const json_t *arr = manifests_json;
    size_t start = out->len;
    for (size_t k = 0; k < json_array_size(arr); k++) {
        json_t *p = json_object_get(json_array_get(arr, k), "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        const char *v = json_string_value(json_object_get(p, "variant"));
        if (!os || !arch || strcmp(os, "unknown") == 0) /* attestations */
            continue;
        ib_buf_addf(out, "%s%s/%s%s%s", out->len > start ? ", " : "", os, arch, v && *v ? "/" : "",
                    v ? v : "");
    }
    if (out->len == start)
        ib_buf_adds(out, "none");
}
