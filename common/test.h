/* common/test.h: a tiny TAP test harness; link common/test.c, which has main().
 *
 *   TEST(name) { CHECK(x == 1); CHECK_STR(a, "b"); CHECK_OK(call(..., &err)); }
 *
 * Each TEST prints one TAP line.  A test may also report many cases of its own
 * (one per conformance vector) with ib_test_case(); each becomes a TAP line.
 * A failed CHECK returns from the test.  tests/run-tests.sh adds the TAP lines
 * of every test program into the closing "N passed, N failed" line.
 */
#ifndef IMGBUILD_COMMON_TEST_H
#define IMGBUILD_COMMON_TEST_H

#include <stdbool.h>
#include <string.h>

#include "common/err.h"

typedef void (*ib_test_fn)(void);
void ib_test_register(const char *name, ib_test_fn fn);
void ib_test_fail(const char *file, int line, const char *fmt, ...) IB_PRINTF(3, 4);
/* Report one case of the current test as its own TAP line; returns ok. */
bool ib_test_case(bool ok, const char *fmt, ...) IB_PRINTF(2, 3);
/* Mark the current test skipped (prints the reason). */
void ib_test_skip(const char *fmt, ...) IB_PRINTF(1, 2);
/* Print a "# ..." diagnostic line. */
void ib_test_note(const char *fmt, ...) IB_PRINTF(1, 2);
/* The conformance data directory ($IB_CONFORMANCE or ../shared/conformance);
 * exits the test program with a loud failure when it is missing. */
const char *ib_test_conformance(void);
/* Path under the conformance dir; caller frees. */
char *ib_test_conformance_path(const char *rel);
/* A fresh empty temporary directory, removed at exit; caller must not free. */
const char *ib_test_tmpdir(void);
/* Read a whole file into a malloc'd NUL-terminated string (exits on failure). */
char *ib_test_slurp(const char *path, size_t *len);

#define TEST(name)                                                      \
    static void test_##name(void);                                      \
    __attribute__((constructor)) static void test_register_##name(void) \
    {                                                                   \
        ib_test_register(#name, test_##name);                           \
    }                                                                   \
    static void test_##name(void)

#define CHECK(cond)                                               \
    do {                                                          \
        if (!(cond)) {                                            \
            ib_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
            return;                                               \
        }                                                         \
    } while (0)

#define CHECK_INT(a, b)                                                                       \
    do {                                                                                      \
        long long ib_a_ = (long long)(a), ib_b_ = (long long)(b);                             \
        if (ib_a_ != ib_b_) {                                                                 \
            ib_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, ib_a_, ib_b_); \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_STR(a, b)                                                            \
    do {                                                                           \
        const char *ib_a_ = (a), *ib_b_ = (b);                                     \
        if (!ib_a_ || !ib_b_ || strcmp(ib_a_, ib_b_) != 0) {                       \
            ib_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
                         ib_a_ ? ib_a_ : "(null)", ib_b_ ? ib_b_ : "(null)");      \
            return;                                                                \
        }                                                                          \
    } while (0)

/* CHECK_OK(call): call must return >= 0; the test declares `struct ib_err *err = NULL;`
 * and passes &err to the call, whose message is printed on failure. */
#define CHECK_OK(call)                                               \
    do {                                                             \
        if ((call) < 0) {                                            \
            ib_test_fail(__FILE__, __LINE__, "%s failed: %s", #call, \
                         err ? err->msg : "(no error set)");         \
            ib_err_free(err);                                        \
            err = NULL;                                              \
            return;                                                  \
        }                                                            \
    } while (0)

#define SKIP(...)                  \
    do {                           \
        ib_test_skip(__VA_ARGS__); \
        return;                    \
    } while (0)

#endif
