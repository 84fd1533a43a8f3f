/* Build cache entries: put/get, and a damaged entry (as a crash may leave, since entries are
 * written without fsync) reads as a miss, never as an error or garbage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/test.h"
#include "store/store.h"

/* Truncate every file under dir to n bytes. */
static int
truncate_all(const char *dir, off_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = ib_path_join(dir, de->d_name);
        if (truncate(p, n) == 0)
            count++;
        free(p);
    }
    closedir(d);
    return count;
}

TEST(cache_entry_round_trip_and_torn_entry_is_a_miss)
{
    struct ib_err *err = NULL;
    char *root = ib_path_join(ib_test_tmpdir(), "store");
    struct store *st = NULL;
    CHECK_OK(store_open(root, 0, &st, &err));
    CHECK_OK(store_cache_put(st, "step:abc", "{\"layer\":\"x\"}", NULL, 0, &err));
    AUTO_BUF struct ib_buf v = IB_BUF_INIT;
    CHECK_OK(store_cache_get(st, "step:abc", &v, &err));
    CHECK(strstr(v.s, "\"layer\"") != NULL);

    ib_buf_reset(&v);
    CHECK(store_cache_get(st, "step:missing", &v, &err) < 0);
    CHECK(err && err->sys == ENOENT);
    ib_err_free(err);
    err = NULL;

    char *entries = ib_path_join(root, "cache/entries");
    CHECK(truncate_all(entries, 3) >= 1);
    ib_buf_reset(&v);
    CHECK(store_cache_get(st, "step:abc", &v, &err) < 0);
    CHECK(err && err->sys == ENOENT);
    ib_err_free(err);
    err = NULL;
    CHECK(truncate_all(entries, 0) >= 1);
    CHECK(store_cache_get(st, "step:abc", &v, &err) < 0);
    CHECK(err && err->sys == ENOENT);
    ib_err_free(err);
    free(entries);
    store_close(st);
    free(root);
}
