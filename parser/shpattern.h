/* parser/shpattern.h: the wildcard patterns of ${v#p} ${v%p} ${v/p/r} (internal to parser/).
 *
 * A pattern is the raw text that the word scanner kept for the modifier: '*' is any
 * run of characters, '?' one character, a backslash escapes '*', '?' or itself and is
 * dropped before '}' or '/'; anything else is literal.  As in BuildKit (which turns the
 * pattern into a Go regexp), wildcards never match a newline, and when several matches
 * start at the same place the one a backtracking matcher would try first wins: shortest
 * for '#'/'%', longest for '##'/'%%' and '/'.  Matching runs in O(len(value) *
 * len(pattern)) time (a Pike VM), whatever the pattern.
 */
#ifndef IMGBUILD_PARSER_SHPATTERN_H
#define IMGBUILD_PARSER_SHPATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/* ${v#p} (greedy: ${v##p}): append value minus its matching prefix to out. */
int shpat_trim_prefix(const char *pat, size_t patlen, const char *value, bool greedy,
                      struct ib_buf *out, struct ib_err **err);
/* ${v%p} (greedy: ${v%%p}): append value minus its matching suffix to out. */
int shpat_trim_suffix(const char *pat, size_t patlen, const char *value, bool greedy,
                      struct ib_buf *out, struct ib_err **err);
/* ${v/p/r} (all: ${v//p/r}): append value with the first (every) match replaced to out.
 * With all, "$0"/"${0}" in repl insert the match, other "$name"s vanish and "$$" is
 * "$" (Go's Regexp.ReplaceAllString); the single replacement inserts repl as is.
 * Fails once the result is more than limit bytes longer than value. */
int shpat_replace(const char *pat, size_t patlen, const char *value, const char *repl, bool all,
                  size_t limit, struct ib_buf *out, struct ib_err **err);

#endif
