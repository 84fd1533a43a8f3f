/* parser/lexer.h: the Dockerfile lexer (internal to parser/).
 *
 * lexer.re (re2c) does the byte-level work: it splits the source into
 * physical lines and classifies them, finds line continuations with the
 * active escape character, recognises parser directives, splits argument
 * text into words, finds heredoc markers and decodes JSON exec arrays.
 * parse.c drives it and builds the AST.
 *
 * Every scanner works on NUL-terminated text: the end of the text is the
 * sentinel, checked against a limit (re2c:eof), so a NUL byte inside the
 * input is an error and never a silent end.
 */
#ifndef IMGBUILD_PARSER_LEXER_H
#define IMGBUILD_PARSER_LEXER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/strv.h"
#include "parser/parser.h"

/* Longest physical line accepted (bytes, without its newline). */
#define LEX_MAX_LINE 65535

/* ---- physical lines -------------------------------------------------------- */

enum lex_line_kind {
    LEX_LINE_BLANK,   /* only whitespace (or nothing) */
    LEX_LINE_COMMENT, /* first non-whitespace byte is '#' */
    LEX_LINE_CONTENT, /* anything else */
};

struct lex_line {
    enum lex_line_kind kind;
    unsigned line;     /* 1-based number */
    const char *start; /* first byte of the line */
    const char *text;  /* after leading whitespace */
    const char *end;   /* end of the content: trailing CR/LF removed */
    const char *next;  /* first byte of the next line */
    const char *cont;  /* continuation: position of the escape char to cut at, else NULL */
};

struct lex {
    const char *buf, *cur, *lim; /* *lim == '\0' */
    unsigned line;               /* number of the next line */
    char escape;                 /* active escape char: '\\' or '`' */
    /* set when a scanner fails */
    const char *err_msg;
    unsigned err_line;
    unsigned err_col;
};

/* buf[len] must be '\0'. */
void lex_init(struct lex *lx, const char *buf, size_t len);
/* Read the next physical line: 1 = got one, 0 = end of input, -1 = error
 * (NUL byte or over-long line; lx->err_* say what and where). */
int lex_line_next(struct lex *lx, struct lex_line *ln);

/* ---- parser directives ------------------------------------------------------ */

/* Whether [p, end) has the form comment name "=" value, comment being the
 * prefix the line must start with ("#", or "//" for the frontend forms).
 * name and value are spans into the text. */
bool lex_directive(const char *p, const char *end, const char *comment, const char **name,
                   size_t *name_len, const char **value, size_t *value_len);

/* ---- words ------------------------------------------------------------------ */

/* A list of byte strings with lengths (JSON strings may hold NUL bytes). */
struct lex_strs {
    char **v; /* each NUL-terminated too */
    size_t *len;
    size_t n, cap;
};
void lex_strs_push(struct lex_strs *s, const char *p, size_t n);
void lex_strs_release(struct lex_strs *s);

/* Whitespace-delimited pieces ([ \t\v\f\r]+), no quote processing. */
void lex_split_ws(const char *s, struct lex_strs *out);
/* Words as ARG/ENV/LABEL see them: quotes and escapes kept, a lone escape
 * char at the very end dropped, never an empty word. */
void lex_words(const char *s, char escape, struct lex_strs *out);
/* Builder flags at the start of s ("--a=b --c d"); returns the rest. */
const char *lex_flags(const char *s, struct ib_strv *flags);
/* Length of the leading keyword of s (up to the first [ \t\v\f\r]). */
size_t lex_keyword_len(const char *s);
/* Trim Unicode whitespace (Go's strings.TrimSpace) from both ends of the
 * NUL-terminated s: returns the first kept byte, *n the kept length. */
const char *lex_trim_space(const char *s, size_t *n);

/* ---- JSON exec form ------------------------------------------------------ */

enum lex_json {
    LEX_JSON_NONE,        /* not a JSON array: fall back to the shell form */
    LEX_JSON_STRINGS,     /* an array of strings: elements in out */
    LEX_JSON_NOT_STRINGS, /* a valid array with a non-string element: an error */
};
enum lex_json lex_json_array(const char *s, struct lex_strs *out);
/* Whether s (len bytes, s[len] == '\0') is one JSON object, as Go's
 * json.Unmarshal into map[string]any accepts it, whose member key (the last
 * one of that name) is a string: then its decoded bytes are in value. */
bool lex_json_object_string(const char *s, size_t len, const char *key, struct ib_buf *value);

/* ---- heredocs --------------------------------------------------------------- */

struct lex_heredoc {
    char *name;
    bool expand, chomp;
    int fd;
};
/* One word as a possible heredoc marker ("<<EOF", "3<<-'X'"): 1 = heredoc
 * (out filled; free out->name), 0 = not a heredoc, -1 = invalid (unbalanced
 * quote); *msg says why. */
int lex_heredoc_word(const char *word, struct lex_heredoc *out, const char **msg);
/* All heredoc markers of an instruction line, in order.  Returns -1 with *msg
 * for an invalid marker. */
int lex_heredoc_line(const char *line, struct lex_heredoc **docs, size_t *n, const char **msg);
void lex_heredocs_free(struct lex_heredoc *docs, size_t n);

/* ---- parser internals shared with tests ------------------------------------ */

enum df_parse_flags {
    DF_PARSE_ALLOW_UNKNOWN = 1, /* keep unknown keywords (as BuildKit's parser does) */
};
/* df_parse_buf with options. */
int df_parse_buf_opts(const char *name, const char *src, size_t len, unsigned flags,
                      struct df_file **out, struct ib_err **err);

/* The "#" directive scan on its own: name (lower case), value pairs from the
 * top of src until the first line that is not a known directive. */
void df_directives_parse_all(const char *src, size_t len, struct ib_strv *out);

/* Go strconv.Quote of n bytes, appended to out. */
void df_quote(struct ib_buf *out, const char *p, size_t n);

#endif
