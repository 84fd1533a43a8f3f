/* common/tests/test_buf.c: the byte buffer's base64 encoder (RFC 4648 section 10 vectors). */
#include <string.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/test.h"
#include "common/banned.h"

TEST(base64_rfc4648)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
        {"x-access-token:s3cr3t", "eC1hY2Nlc3MtdG9rZW46czNjcjN0"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        AUTO_BUF struct ib_buf b = IB_BUF_INIT;
        ib_buf_add_base64(&b, v[i].in, strlen(v[i].in));
        ib_test_case(strcmp(b.s, v[i].out) == 0 && b.len == strlen(v[i].out), "base64 '%s' -> '%s'",
                     v[i].in, b.s);
    }
}

TEST(base64_binary_and_append)
{
    AUTO_BUF struct ib_buf b = IB_BUF_INIT;
    ib_buf_adds(&b, "Basic ");
    static const unsigned char bin[] = {0xff, 0xfe, 0x00, 0x80};
    ib_buf_add_base64(&b, bin, sizeof(bin));
    CHECK_STR(b.s, "Basic //4AgA==");
}
