/* parser/unicode.c: UTF-8 decoding and the character classes of Go's unicode package.
 *
 * The range tables (parser/unicode_tab.h) list the non-ASCII code points of general
 * category L (letters), Nd (decimal digits) and L/M/N/P/S (printable); they are generated
 * by parser/gen-unicode.py from Python's unicodedata, Unicode 14.0.0.  Go (1.21+) ships
 * Unicode 15.0.0; the characters that version added count as unassigned here.
 */
#include "parser/unicode.h"

#include "common/banned.h"

struct uni_range {
    uint32_t lo, hi;
};

#include "parser/unicode_tab.h"

static bool
in_table(const struct uni_range *t, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < t[mid].lo)
            hi = mid;
        else if (cp > t[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool
uni_is_letter(uint32_t cp)
{
    if (cp < 0x80)
        return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return in_table(letters, sizeof(letters) / sizeof(letters[0]), cp);
}

bool
uni_is_digit(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= '0' && cp <= '9';
    return in_table(digits, sizeof(digits) / sizeof(digits[0]), cp);
}

bool
uni_is_print(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 0x20 && cp < 0x7F;
    return in_table(print, sizeof(print) / sizeof(print[0]), cp);
}

bool
uni_is_space(uint32_t cp)
{
    switch (cp) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

size_t
uni_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    size_t len;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        *cp = UNI_BAD + c;
        return 1;
    }
    if (n < len) {
        *cp = UNI_BAD + c;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *cp = UNI_BAD + c;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = UNI_BAD + c;
        return 1;
    }
    *cp = v;
    return len;
}
