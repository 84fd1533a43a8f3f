/* parser/tests/fuzz_parser.c: libFuzzer entry point for the Dockerfile front
 * end (make fuzz).  Every input must parse or fail cleanly; a parsed file is
 * also dumped and written as JSON. */
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "parser/lexer.h"
#include "parser/parser.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct df_file *f = NULL;
    struct ib_err *err = NULL;
    if (df_parse_buf("Dockerfile", (const char *)data, size, &f, &err) < 0) {
        ib_err_free(err);
        err = NULL;
        /* the lenient mode walks the same code with unknown keywords kept */
        if (df_parse_buf_opts("Dockerfile", (const char *)data, size, DF_PARSE_ALLOW_UNKNOWN,
                              &f, &err) < 0) {
            ib_err_free(err);
            return 0;
        }
    }
    struct ib_buf b = IB_BUF_INIT;
    df_file_dump(f, &b);
    df_file_json(f, &b);
    ib_buf_release(&b);
    df_file_free(f);
    return 0;
}
