/* parser/tests/fuzz_expand.c: libFuzzer target for word expansion (not built by default).
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *     -o fuzz_expand parser/tests/fuzz_expand.c parser/expand.c parser/shpattern.c \
 *     parser/unicode.c common/buf.c common/err.c common/mem.c common/strv.c
 *
 * The first input byte picks the mode (bit 0: backtick escape, bit 1: skip_unset); the
 * rest is the word, expanded both as one word and as many.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "parser/parser.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
lookup(void *ctx, const char *name)
{
    static const char *const env[][2] = {
        {"A", "a*b?c\\d/e}f"},
        {"E", ""},
        {"L", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\naaaa"},
        {"K", "한국어 x\xff"},
    };
    (void)ctx;
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
        if (strcmp(env[i][0], name) == 0)
            return env[i][1];
    return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *word = ib_xstrndup((const char *)data + 1, size - 1);
    struct ib_strv matched = IB_STRV_INIT, unmatched = IB_STRV_INIT, words = IB_STRV_INIT;
    struct df_expander x = {
        .lookup = lookup,
        .escape = (data[0] & 1) ? '`' : '\\',
        .skip_unset = (data[0] & 2) != 0,
        .matched = &matched,
        .unmatched = &unmatched,
    };
    struct ib_err *err = NULL;
    char *out = NULL;
    if (df_expand_word(&x, word, &out, &err) == 0)
        free(out);
    ib_err_free(err);
    err = NULL;
    if (df_expand_words(&x, word, &words, &err) < 0)
        ib_err_free(err);
    ib_strv_release(&matched);
    ib_strv_release(&unmatched);
    ib_strv_release(&words);
    free(word);
    return 0;
}
