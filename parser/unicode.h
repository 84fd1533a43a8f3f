/* parser/unicode.h: the little Unicode the shell-word code needs (internal to parser/).
 *
 * Go's text/scanner and unicode package decide what a BuildKit variable name is and
 * where words split; these helpers give the same answers for UTF-8 text.
 */
#ifndef IMGBUILD_PARSER_UNICODE_H
#define IMGBUILD_PARSER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Code points from UNI_BAD up stand for one byte of invalid UTF-8 (UNI_BAD + byte),
 * so that such bytes compare equal only to themselves and pass through unchanged. */
#define UNI_BAD 0x110000u

/* Decode the character at s (n > 0 bytes available): returns its length in bytes
 * (1..4) and stores the code point; an invalid sequence is one byte long. */
size_t uni_decode(const char *s, size_t n, uint32_t *cp);

bool uni_is_letter(uint32_t cp); /* Go unicode.IsLetter: general category L */
bool uni_is_digit(uint32_t cp);  /* Go unicode.IsDigit: general category Nd */
bool uni_is_space(uint32_t cp);  /* Go unicode.IsSpace */
/* Go unicode.IsPrint: general categories L, M, N, P, S and U+0020 (no other space) */
bool uni_is_print(uint32_t cp);

#endif
