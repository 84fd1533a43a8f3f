/* parser/parser.h: the Dockerfile front end (public header of parser/).
 *
 * Three pure parts; none of them opens a file:
 *   1. the Dockerfile parser: bytes -> struct df_file (an AST with positions),
 *      plus its reference dump and JSON forms;
 *   2. word expansion ($VAR, ${VAR:-x}, ...) as BuildKit's shell lexer does it;
 *   3. .dockerignore: reading an ignore file and matching paths against it.
 */
#ifndef IMGBUILD_PARSER_H
#define IMGBUILD_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/strv.h"

/* ---- 1. Dockerfile parser ------------------------------------------------ */

enum df_kind {
    DF_UNKNOWN = 0, /* not a Dockerfile keyword (parse fails, with a suggestion) */
    DF_ADD,
    DF_ARG,
    DF_CMD,
    DF_COPY,
    DF_ENTRYPOINT,
    DF_ENV,
    DF_EXPOSE,
    DF_FROM,
    DF_HEALTHCHECK,
    DF_LABEL,
    DF_MAINTAINER,
    DF_ONBUILD,
    DF_RUN,
    DF_SHELL,
    DF_STOPSIGNAL,
    DF_USER,
    DF_VOLUME,
    DF_WORKDIR,
};

struct df_heredoc {
    char *name;    /* delimiter, quotes removed */
    char *content; /* body lines verbatim with their newlines (tabs kept even with <<-) */
    bool expand;   /* false when any part of the delimiter was quoted */
    bool chomp;    /* <<- : strip leading tabs when the content is used */
    int fd;        /* 0 unless written as N<<EOF */
};

struct df_instr {
    enum df_kind kind;
    char *keyword;  /* as written, e.g. "from" or "FROM" */
    char *original; /* the joined logical line, continuations removed */
    char **flags;   /* "--name=value" with quotes/escapes processed, as in the dump */
    size_t nflags;
    char **args;      /* argument nodes, as in the reference dump (NULL-terminated) */
    size_t *arg_lens; /* byte length of each argument (a JSON "\u0000" can put a NUL in one) */
    size_t nargs;
    bool json; /* exec (JSON array) form */
    struct df_heredoc *heredocs;
    size_t nheredocs;
    struct df_instr *sub; /* ONBUILD: the wrapped instruction, else NULL */
    unsigned start_line;  /* 1-based physical line of the keyword */
    unsigned end_line;    /* last physical line used (continuations, heredoc bodies) */
    unsigned col;         /* 1-based column of the keyword */
};

struct df_warning {
    unsigned line;
    char *msg; /* e.g. "Empty continuation line found in: RUN ..." */
};

struct df_file {
    char *name; /* file name used in messages */
    struct df_instr *instrs;
    size_t ninstrs;
    struct df_warning *warnings;
    size_t nwarnings;
    char escape;                   /* '\\' or '`' */
    char *syntax;                  /* "# syntax=" value or NULL */
    char *check;                   /* "# check=" value or NULL */
    unsigned start_line, end_line; /* span of all instructions (0 when none) */
};

/* Parse src (len bytes; NUL bytes are errors, not the end).  name is used in
 * messages: "NAME:LINE:COL: message\n  <line>\n  ^".  *out: free with df_file_free. */
int df_parse_buf(const char *name, const char *src, size_t len, struct df_file **out,
                 struct ib_err **err);
void df_file_free(struct df_file *f);

/* The reference AST dump (conformance/README.md §1.1), appended to out. */
void df_file_dump(const struct df_file *f, struct ib_buf *out);
/* The documented JSON form (README.md "imgbuild parse --json"), appended to out. */
void df_file_json(const struct df_file *f, struct ib_buf *out);

const char *df_kind_name(enum df_kind k);         /* "FROM", ...; "" for DF_UNKNOWN */
enum df_kind df_kind_lookup(const char *keyword); /* case-insensitive */
/* Closest keyword to an unknown one ("FRM" -> "FROM"), or NULL if none is close. */
const char *df_kind_suggest(const char *keyword);

/* A parser directive read without parsing the file (df_directive_detect). */
struct df_directive {
    bool found;
    char *value;   /* the value up to its first space (the frontend reference of "syntax") */
    char *cmdline; /* the whole value */
    unsigned line; /* 1-based line of the directive */
};

/* Find the directive key (lower case: "syntax", "check", "escape") at the top of src as
 * BuildKit does before parsing (DetectSyntax, ParseDirective): after a UTF-8 BOM and one
 * leading "#!" line, "#" directive lines; with frontend_forms also "//" ones and then a
 * whole file that is one JSON object with key as a string member (value and cmdline are
 * then both the whole string, line is where the object starts; a NUL byte escaped in the
 * string ends it).  Returns out->found; free out with df_directive_release. */
bool df_directive_detect(const char *src, size_t len, const char *key, bool frontend_forms,
                         struct df_directive *out);
void df_directive_release(struct df_directive *d);

/* ---- 2. Word expansion --------------------------------------------------- */

/* Variable lookup: return the value, or NULL when name is unset. */
typedef const char *(*df_lookup_fn)(void *ctx, const char *name);

struct df_expander {
    df_lookup_fn lookup;
    void *ctx;
    char escape;               /* '\\' (default when 0) or '`' */
    bool skip_unset;           /* leave $x / ${x...} as written when x is unset */
    struct ib_strv *matched;   /* optional: names looked up and found (each once) */
    struct ib_strv *unmatched; /* optional: names looked up and not found (each once) */
};

/* One word: quotes removed, escapes applied, variables expanded (ProcessWord).
 * *out: caller frees. */
int df_expand_word(const struct df_expander *x, const char *word, char **out, struct ib_err **err);
/* Many words: like df_expand_word, then split at unquoted whitespace, including
 * whitespace that an unquoted expansion produced (ProcessWords). */
int df_expand_words(const struct df_expander *x, const char *text, struct ib_strv *out,
                    struct ib_err **err);
/* Whether the builder expands variables in this instruction's arguments. */
bool df_kind_expands(enum df_kind k);

/* ---- 3. .dockerignore ---------------------------------------------------- */

struct df_ignore; /* a compiled pattern list */

/* Read the bytes of a .dockerignore file into a pattern list (BOM, comments,
 * trimming, cleaning, leading '/' and '!' handled as the reference does). */
int df_ignore_read(const char *data, size_t len, struct ib_strv *patterns, struct ib_err **err);
/* Compile patterns (cleaned; "!" = exception); bad glob syntax fails. *out: df_ignore_free. */
int df_ignore_new(char *const *patterns, size_t n, struct df_ignore **out, struct ib_err **err);
void df_ignore_free(struct df_ignore *ig);
/* Whether path (slash-separated, relative to the context) is excluded: a pattern
 * hits when it matches the path or any ancestor; the last applicable one wins. */
int df_ignore_match(const struct df_ignore *ig, const char *path, bool *excluded,
                    struct ib_err **err);
bool df_ignore_has_exceptions(const struct df_ignore *ig);
/* Lexical path cleaning as Go's filepath.Clean; caller frees. */
char *df_path_clean(const char *path);

/* Number of active patterns (after trimming, dropping empty ones and '!' handling). */
size_t df_ignore_count(const struct df_ignore *ig);
/* Incremental form of df_ignore_match for a top-down walk (upstream's
 * MatchesUsingParentResults).  parent_hits: the hits array returned for the
 * parent directory, or NULL for a top-level path (ancestors are then checked as
 * df_ignore_match does).  hits (may be NULL): receives one flag per pattern
 * (df_ignore_count entries) for use by the children of path. */
int df_ignore_match_parents(const struct df_ignore *ig, const char *path, const bool *parent_hits,
                            bool *hits, bool *excluded, struct ib_err **err);
/* Whether a pattern of one kind (exceptions = the '!' ones, or the ordinary ones)
 * could match something below directory dir; false means a walk may skip dir.
 * Conservative: true whenever such a pattern has glob characters. */
bool df_ignore_may_hit_below(const struct df_ignore *ig, const char *dir, bool exceptions);

#endif
