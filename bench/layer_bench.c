/* bench/layer_bench.c: commit DIR as a layer into STORE, then (optionally)
 * compress it as for export.  Built and run by bench/store-bench.sh.
 *   layer_bench STORE DIR [gzip|zstd] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    struct ib_err *err = NULL;
    struct store *st = NULL;
    if (argc < 3 || store_open(argv[1], 0, &st, &err) < 0) {
        fprintf(stderr, "usage: layer_bench STORE DIR [gzip|zstd] (%s)\n", err ? err->msg : "");
        return 2;
    }
    struct store_layer l, c;
    double t0 = now();
    const char *mode = getenv("BENCH_MOVE");
    unsigned flags = mode && *mode ? STORE_COMMIT_MOVE : 0;
    if (store_layer_commit(st, NULL, argv[2], flags, &l, &err) < 0) {
        fprintf(stderr, "commit: %s\n", err->msg);
        return 1;
    }
    if (flags) { /* hand the tree back for the next run */
        char *snap = NULL;
        if (store_snapshot_path(st, &l.chain_id, &snap, &err) == 0 && rename(snap, argv[2]) < 0)
            perror("rename back");
        free(snap);
    }
    double t1 = now();
    printf("commit %.3f s  %s  %llu bytes\n", t1 - t0, l.diff_id.s, (unsigned long long)l.size);
    if (argc > 3) {
        enum store_compression comp =
            strcmp(argv[3], "zstd") == 0 ? STORE_COMPRESS_ZSTD : STORE_COMPRESS_GZIP;
        if (store_layer_compressed(st, &l, comp, &c, &err) < 0) {
            fprintf(stderr, "compress: %s\n", err->msg);
            return 1;
        }
        printf("%s %.3f s  %s  %llu bytes\n", argv[3], now() - t1, c.digest.s,
               (unsigned long long)c.size);
    }
    store_close(st);
    return 0;
}
