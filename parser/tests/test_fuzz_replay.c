/* Replay the fuzzer's regression inputs (testdata/fuzz/) and the conformance
 * Dockerfiles through the fuzz target, so `make check` and `make asan` catch a
 * crash that the fuzzer once found. */
#include <dirent.h>
#include <stdlib.h>

#include "common/fs.h"
#include "common/test.h"
#include "parser/tests/fuzz_parser.c"

static int
replay_dir(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t l = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;
        if (suffix && (l < sl || strcmp(de->d_name + l - sl, suffix) != 0))
            continue;
        char *p = ib_path_join(dir, de->d_name);
        size_t len = 0;
        char *data = ib_test_slurp(p, &len);
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        free(data);
        free(p);
        n++;
    }
    closedir(d);
    return n;
}

TEST(fuzz_regressions_replay)
{
    int n = replay_dir("testdata/fuzz", NULL);
    CHECK(n >= 0);
    ib_test_note("testdata/fuzz: %d regression inputs replayed", n);
}

TEST(conformance_corpus_through_fuzz_target)
{
    char *dir = ib_test_conformance_path("corpus");
    int n = replay_dir(dir, ".Dockerfile");
    free(dir);
    CHECK_INT(n, 132);
}
