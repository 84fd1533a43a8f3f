/* registry/tests/test_curl_load.c: libcurl loaded on first use (curl_load.c).
 *
 * The first test must run first (tests run in file order): it checks that
 * nothing loaded libcurl before a client made a transfer.  The others check
 * that the variadic wrappers pass each kind of argument through, over file://
 * transfers and a share handle's lock callbacks.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "registry/internal.h"
#include "common/banned.h"

static bool
curl_in_process(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD);
    if (h)
        dlclose(h);
    return h != NULL;
}

TEST(loaded_on_first_transfer_only)
{
    struct ib_err *err = NULL;
    CHECK(!curl_in_process()); /* not linked */
    struct registry_client *c = NULL;
    CHECK_OK(registry_client_new(NULL, &c, &err));
    struct reg_endpoint *ep = NULL;
    CHECK_OK(reg_endpoint_get(c, "localhost:5000", &ep, &err));
    registry_client_free(c);
    CHECK(!curl_in_process()); /* a client that made no transfer */
    CHECK_OK(reg_curl_load(&err));
    CHECK(curl_in_process());
    CHECK_OK(reg_curl_load(&err)); /* once */
}

struct sink {
    struct ib_buf got;
};

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    ib_buf_add(&s->got, p, size * nmemb);
    return size * nmemb;
}

/* file://<tmp>/data holding "0123456789"; caller frees */
static char *
data_url(void)
{
    AUTO_FREE char *path = ib_path_join(ib_test_tmpdir(), "data");
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs("0123456789", f);
    fclose(f);
    return ib_xasprintf("file://%s", path);
}

TEST(easy_setopt_and_getinfo_pass_each_argument_type)
{
    AUTO_FREE char *url = data_url();
    CHECK(url != NULL);
    CURL *e = curl_easy_init();
    CHECK(e != NULL);
    struct sink s = {IB_BUF_INIT};
    char errbuf[CURL_ERROR_SIZE] = "";
    CHECK_INT(curl_easy_setopt(e, CURLOPT_URL, url), CURLE_OK);                  /* string */
    CHECK_INT(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write), CURLE_OK);   /* function */
    CHECK_INT(curl_easy_setopt(e, CURLOPT_WRITEDATA, &s), CURLE_OK);             /* object */
    CHECK_INT(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf), CURLE_OK);       /* object */
    CHECK_INT(curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)4), 0); /* off_t */
    CHECK_INT(curl_easy_perform(e), CURLE_OK);
    CHECK_STR(s.got.s, "456789");
    curl_off_t size = -1;
    CHECK_INT(curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &size), CURLE_OK);
    CHECK_INT(size, 6);
    char *eff = NULL;
    CHECK_INT(curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff), CURLE_OK);
    CHECK_STR(eff, url);

    /* longs: no body, and the file's time asked for and read back */
    curl_easy_reset(e);
    ib_buf_reset(&s.got);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
    CHECK_INT(curl_easy_setopt(e, CURLOPT_NOBODY, 1L), CURLE_OK);
    CHECK_INT(curl_easy_setopt(e, CURLOPT_FILETIME, 1L), CURLE_OK);
    CHECK_INT(curl_easy_perform(e), CURLE_OK);
    CHECK(strstr(s.got.s, "0123456789") == NULL);
    long ft = -1;
    CHECK_INT(curl_easy_getinfo(e, CURLINFO_FILETIME, &ft), CURLE_OK);
    struct stat st;
    CHECK(stat(url + strlen("file://"), &st) == 0);
    CHECK_INT(ft, st.st_mtime);
    ib_buf_reset(&s.got);
    CHECK_INT(curl_easy_setopt(e, CURLOPT_NOBODY, 0L), CURLE_OK);
    CHECK_INT(curl_easy_perform(e), CURLE_OK);
    CHECK_STR(s.got.s, "0123456789");

    /* a blob (copied by libcurl) */
    static char pem[] = "not a certificate";
    struct curl_blob blob = {pem, sizeof(pem) - 1, CURL_BLOB_COPY};
    CHECK_INT(curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob), CURLE_OK);
    CHECK(strcmp(curl_easy_strerror(CURLE_OK), "No error") == 0);
    curl_easy_cleanup(e);
    ib_buf_release(&s.got);
}

struct locks {
    int locked, unlocked;
};

static void
on_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *arg)
{
    (void)h, (void)d, (void)a;
    ((struct locks *)arg)->locked++;
}

static void
on_unlock(CURL *h, curl_lock_data d, void *arg)
{
    (void)h, (void)d;
    ((struct locks *)arg)->unlocked++;
}

static int
on_socket(CURL *h, curl_socket_t fd, int what, void *arg, void *sockarg)
{
    (void)h, (void)fd, (void)what, (void)arg, (void)sockarg;
    return 0;
}

TEST(share_and_multi_setopt)
{
    struct locks lk = {0};
    CURLSH *sh = curl_share_init();
    CHECK(sh != NULL);
    CHECK_INT(curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, on_lock), CURLSHE_OK);
    CHECK_INT(curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, on_unlock), CURLSHE_OK);
    CHECK_INT(curl_share_setopt(sh, CURLSHOPT_USERDATA, &lk), CURLSHE_OK);
    CHECK_INT(curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS), CURLSHE_OK);
    CHECK_INT(curl_share_setopt(sh, CURLSHOPT_UNSHARE, CURL_LOCK_DATA_DNS), CURLSHE_OK);
    CHECK_INT(curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT), CURLSHE_OK);
    CHECK_INT(curl_share_setopt(sh, CURLSHOPT_NONE, 0), CURLSHE_BAD_OPTION);
    CURL *e = curl_easy_init();
    CHECK(e != NULL);
    CHECK_INT(curl_easy_setopt(e, CURLOPT_SHARE, sh), CURLE_OK); /* takes the share's lock */
    CHECK(lk.locked > 0 && lk.locked == lk.unlocked);
    curl_easy_cleanup(e);
    CHECK_INT(curl_share_cleanup(sh), CURLSHE_OK);

    CURLM *m = curl_multi_init();
    CHECK(m != NULL);
    CHECK_INT(curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 3L), CURLM_OK);
    CHECK_INT(curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket), CURLM_OK);
    CHECK_INT(curl_multi_setopt(m, CURLMOPT_SOCKETDATA, &lk), CURLM_OK);
    CHECK_INT(curl_multi_setopt(m, CURLMOPT_LASTENTRY, 0L), CURLM_UNKNOWN_OPTION);
    CHECK_INT(curl_multi_cleanup(m), CURLM_OK);
}
