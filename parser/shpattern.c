/* parser/shpattern.c: wildcard patterns for ${v#p} ${v%p} ${v/p/r}; see shpattern.h.
 *
 * A pattern compiles to a list of tokens (literal character, '?', '*').  The matcher is
 * a Pike VM: one pass over the value with a priority-ordered list of threads, at most
 * one per token, so it follows the leftmost-first rule of Go's regexp package (which
 * BuildKit uses) in linear time per match attempt.
 */
#include "parser/shpattern.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mem.h"
#include "parser/unicode.h"
#include "common/banned.h"

enum tok_kind { TOK_LIT, TOK_ANY, TOK_STAR };

struct tok {
    enum tok_kind kind;
    uint32_t cp; /* TOK_LIT */
};

struct thread {
    size_t pc;    /* token index; == ntoks means "matched" */
    size_t start; /* byte offset where this attempt began */
};

struct vm {
    struct tok *toks;
    size_t ntoks;
    bool greedy;
    struct thread *cur, *next; /* ntoks + 1 each */
    size_t ncur, nnext;
    size_t *mark; /* per pc: generation that holds it */
    size_t gen;
};

static void
vm_release(struct vm *vm)
{
    free(vm->toks);
    free(vm->cur);
    free(vm->next);
    free(vm->mark);
}

static void
append_char_quoted(struct ib_buf *b, const char *p, size_t n)
{
    if (n == 0) {
        ib_buf_adds(b, "at end of pattern");
    } else {
        ib_buf_adds(b, "'\\");
        ib_buf_add(b, p, n);
        ib_buf_addc(b, '\'');
    }
}

/* Compile pattern text into vm->toks. */
static int
compile(struct vm *vm, const char *pat, size_t len, const char *shown, size_t shownlen,
        struct ib_err **err)
{
    vm->toks = ib_xreallocarray(NULL, len + 1, sizeof(*vm->toks));
    vm->ntoks = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = uni_decode(pat + i, len - i, &cp);
        struct tok t = {TOK_LIT, cp};
        i += n;
        if (cp == '*') {
            t.kind = TOK_STAR;
        } else if (cp == '?') {
            t.kind = TOK_ANY;
        } else if (cp == '\\') {
            /* "\}" and "\/" only protect the delimiter: drop the backslash */
            if (i < len && (pat[i] == '}' || pat[i] == '/'))
                continue;
            n = i < len ? uni_decode(pat + i, len - i, &cp) : 0;
            if (n == 0 || (cp != '*' && cp != '?' && cp != '\\')) {
                AUTO_BUF struct ib_buf what = IB_BUF_INIT;
                append_char_quoted(&what, pat + i, n);
                return ib_fail(err, IB_E_PARSE,
                               "invalid pattern (%.*s) in substitution: "
                               "invalid escape %s",
                               (int)shownlen, shown, what.s);
            }
            i += n;
            t.cp = cp;
        }
        vm->toks[vm->ntoks++] = t;
    }
    size_t m = vm->ntoks + 1;
    vm->cur = ib_xreallocarray(NULL, m, sizeof(*vm->cur));
    vm->next = ib_xreallocarray(NULL, m, sizeof(*vm->next));
    vm->mark = ib_xcalloc(m, sizeof(*vm->mark));
    vm->gen = 0;
    return 0;
}

static bool
is_star(const struct vm *vm, size_t pc)
{
    return pc < vm->ntoks && vm->toks[pc].kind == TOK_STAR;
}

static void
push(struct thread *list, size_t *n, size_t pc, size_t start)
{
    list[*n].pc = pc;
    list[*n].start = start;
    (*n)++;
}

/* Add the threads reachable from pc without reading (through a run of stars) to list,
 * in priority order.  A TOK_STAR thread stands for "the star reads one more char". */
static void
add_thread(struct vm *vm, struct thread *list, size_t *n, size_t pc, size_t start)
{
    size_t q = pc;
    if (vm->greedy) {
        /* each star first tries to read more, then lets the rest of the pattern go */
        for (; is_star(vm, q); q++) {
            if (vm->mark[q] == vm->gen)
                return;
            vm->mark[q] = vm->gen;
            push(list, n, q, start);
        }
        if (vm->mark[q] != vm->gen) {
            vm->mark[q] = vm->gen;
            push(list, n, q, start);
        }
        return;
    }
    /* lazy: the rest of the pattern first, then each star reading more, innermost first */
    for (; is_star(vm, q) && vm->mark[q] != vm->gen; q++)
        vm->mark[q] = vm->gen;
    if (!is_star(vm, q) && vm->mark[q] != vm->gen) {
        vm->mark[q] = vm->gen;
        push(list, n, q, start);
    }
    while (q > pc)
        push(list, n, --q, start);
}

/* Find the leftmost-first match in s[from..len) (anchored: starting at from only). */
static bool
vm_search(struct vm *vm, const char *s, size_t len, size_t from, bool anchored, size_t *mstart,
          size_t *mend)
{
    bool found = false;
    vm->ncur = 0;
    vm->gen++;
    for (size_t pos = from;;) {
        if (!found && (!anchored || pos == from))
            add_thread(vm, vm->cur, &vm->ncur, 0, pos); /* lowest priority */
        if (vm->ncur == 0)
            break;
        uint32_t cp = 0;
        size_t clen = pos < len ? uni_decode(s + pos, len - pos, &cp) : 0;
        bool can_any = clen > 0 && cp != '\n';
        vm->nnext = 0;
        vm->gen++;
        for (size_t i = 0; i < vm->ncur; i++) {
            struct thread th = vm->cur[i];
            if (th.pc == vm->ntoks) {
                /* a match; threads of lower priority are cut off */
                found = true;
                *mstart = th.start;
                *mend = pos;
                break;
            }
            const struct tok *t = &vm->toks[th.pc];
            bool ok;
            switch (t->kind) {
            case TOK_LIT:
                ok = clen > 0 && cp == t->cp;
                break;
            case TOK_ANY:
            case TOK_STAR:
                ok = can_any;
                break;
            default:
                ok = false;
                break;
            }
            if (ok)
                add_thread(vm, vm->next, &vm->nnext, t->kind == TOK_STAR ? th.pc : th.pc + 1,
                           th.start);
        }
        struct thread *tmp = vm->cur;
        vm->cur = vm->next;
        vm->next = tmp;
        vm->ncur = vm->nnext;
        if (clen == 0)
            break;
        pos += clen;
    }
    return found;
}

/* shown/shownlen: the pattern as the user wrote it, for messages */
static int
trim_prefix(const char *pat, size_t patlen, const char *shown, size_t shownlen, const char *value,
            bool greedy, struct ib_buf *out, struct ib_err **err)
{
    __attribute__((cleanup(vm_release))) struct vm vm = {.greedy = greedy};
    if (compile(&vm, pat, patlen, shown, shownlen, err) < 0)
        return -1;
    size_t len = strlen(value), ms, me;
    if (vm_search(&vm, value, len, 0, true, &ms, &me))
        value += me;
    ib_buf_adds(out, value);
    return 0;
}

int
shpat_trim_prefix(const char *pat, size_t patlen, const char *value, bool greedy,
                  struct ib_buf *out, struct ib_err **err)
{
    return trim_prefix(pat, patlen, pat, patlen, value, greedy, out, err);
}

/* Append s reversed character by character (invalid bytes stay single units); with
 * keep_escapes, a backslash stays in front of the character it escapes. */
static void
reverse_chars(const char *s, size_t len, bool keep_escapes, struct ib_buf *out)
{
    AUTO_FREE char *tmp = ib_xmalloc(len + 1);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = uni_decode(s + i, len - i, &cp);
        if (keep_escapes && s[i] == '\\' && i + 1 < len)
            n += uni_decode(s + i + 1, len - i - 1, &cp);
        memcpy(tmp + len - i - n, s + i, n);
        i += n;
    }
    ib_buf_add(out, tmp, len);
}

int
shpat_trim_suffix(const char *pat, size_t patlen, const char *value, bool greedy,
                  struct ib_buf *out, struct ib_err **err)
{
    /* a shortest rightmost match is a leftmost one in the reversed value */
    AUTO_BUF struct ib_buf rpat = IB_BUF_INIT;
    AUTO_BUF struct ib_buf rval = IB_BUF_INIT;
    AUTO_BUF struct ib_buf res = IB_BUF_INIT;
    reverse_chars(pat, patlen, true, &rpat);
    reverse_chars(value, strlen(value), false, &rval);
    if (trim_prefix(rpat.s, rpat.len, pat, patlen, rval.s, greedy, &res, err) < 0)
        return -1;
    reverse_chars(res.s, res.len, false, out);
    return 0;
}

/* Go's Regexp.Expand for a regexp without groups: $0 / ${0} is the match. */
static void
expand_template(const char *t, size_t tlen, const char *match, size_t mlen, struct ib_buf *out)
{
    const char *end = t + tlen;
    while (t < end) {
        const char *dollar = memchr(t, '$', (size_t)(end - t));
        if (!dollar) {
            ib_buf_add(out, t, (size_t)(end - t));
            return;
        }
        ib_buf_add(out, t, (size_t)(dollar - t));
        t = dollar + 1;
        if (t < end && *t == '$') {
            ib_buf_addc(out, '$');
            t++;
            continue;
        }
        bool brace = t < end && *t == '{';
        const char *name = t + brace, *p = name;
        while (p < end) {
            uint32_t cp;
            size_t n = uni_decode(p, (size_t)(end - p), &cp);
            if (!uni_is_letter(cp) && !uni_is_digit(cp) && cp != '_')
                break;
            p += n;
        }
        if (p == name || (brace && (p == end || *p != '}'))) {
            ib_buf_addc(out, '$'); /* malformed: the '$' is literal */
            continue;
        }
        if (p - name == 1 && *name == '0')
            ib_buf_add(out, match, mlen);
        t = p + brace;
    }
}

int
shpat_replace(const char *pat, size_t patlen, const char *value, const char *repl, bool all,
              size_t limit, struct ib_buf *out, struct ib_err **err)
{
    __attribute__((cleanup(vm_release))) struct vm vm = {.greedy = true};
    if (compile(&vm, pat, patlen, pat, patlen, err) < 0)
        return -1;
    size_t len = strlen(value), ms, me;
    if (!all) {
        if (vm_search(&vm, value, len, 0, false, &ms, &me)) {
            ib_buf_add(out, value, ms);
            ib_buf_adds(out, repl);
            value += me;
        }
        ib_buf_adds(out, value);
        return 0;
    }
    /* as Go's replaceAll: an empty match right after a match is not replaced, and the
     * search always moves on by at least one character */
    size_t search = 0, last = 0, rlen = strlen(repl), base = out->len;
    while (search <= len && vm_search(&vm, value, len, search, false, &ms, &me)) {
        ib_buf_add(out, value + last, ms - last);
        if (me > last || ms == 0)
            expand_template(repl, rlen, value + ms, me - ms, out);
        if (out->len - base > len + limit)
            return ib_fail(err, IB_E_PARSE,
                           "substitution result more than %zu bytes longer "
                           "than the value",
                           limit);
        last = me;
        uint32_t cp;
        size_t width = search < len ? uni_decode(value + search, len - search, &cp) : 0;
        if (search + width > me)
            search += width;
        else if (search + 1 > me)
            search++;
        else
            search = me;
    }
    ib_buf_add(out, value + last, len - last);
    return 0;
}
