/*
 * Tables: the sets a condition matches against, whether written inline in
 * a rule (values) or in a Postfix-style file (TYPE:PATH). Files are read
 * and compiled only here, inside pol_compile; evaluation only looks up.
 *
 *   cidr:FILE    ADDRESS[/PREFIX] [ACTION]     longest prefix wins
 *   pcre:FILE    [!]/REGEX/FLAGS [ACTION]      first match in file order
 *   list:FILE    KEY [ACTION]                  case-insensitive
 *   exact:FILE   KEY [ACTION]                  byte for byte
 *   domain:FILE  DOMAIN [ACTION]               most specific suffix wins
 *
 * Lines starting with '#' (after optional blanks) and blank lines are
 * ignored; a CR before the LF is ignored; every bad line is reported as
 * FILE:LINE:COLUMN and the whole file is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/pol_internal.h"

static int pol_table_entry(struct pol_cc *cc, struct pol_table *t,
                           const struct pol_action *action, unsigned line);
static int pol_table_line(struct pol_cc *cc, struct pol_table *t, const char *p,
                          size_t len, unsigned line);
static long pol_regex_end(const char *p, size_t len, char delim);
static char *pol_table_read(struct pol_cc *cc, const char *path,
                            const struct pol_loc *loc, size_t *len);
static char *pol_table_path(const char *base, const char *path, size_t len);

struct pol_table *
pol_table_new(enum pol_table_kind kind, const char *source)
{
    struct pol_table *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return NULL;
    }
    t->kind = kind;
    if (source != NULL) {
        t->source = pol_arena_strndup(&t->arena, source, strlen(source));
        if (t->source == NULL) {
            free(t);
            return NULL;
        }
    }
    return t;
}

void
pol_table_free(struct pol_table *t)
{
    size_t i;

    if (t == NULL) {
        return;
    }
    for (i = 0; i < t->nrx; i++) {
        pcre2_code_free(t->rx[i].code);
    }
    free(t->rx);
    free(t->v4.n);
    free(t->v6.n);
    free(t->slots);
    free(t->entries);
    pol_arena_free(&t->arena);
    free(t);
}

/* Appends an entry; its index is t->nentries - 1. */
static int
pol_table_entry(struct pol_cc *cc, struct pol_table *t,
                const struct pol_action *action, unsigned line)
{
    struct pol_entry *e;

    if (t->nentries == t->capentries) {
        size_t ncap = t->capentries == 0 ? 16 : t->capentries * 2;
        struct pol_entry *n;

        if (ncap > UINT32_MAX / 2 ||
            (n = realloc(t->entries, ncap * sizeof(*n))) == NULL) {
            pol_cc_error(cc, t->source, line, 0, "out of memory");
            return -1;
        }
        t->entries = n;
        t->capentries = ncap;
    }
    e = &t->entries[t->nentries];
    e->action = action;
    e->line = line;
    e->location = "";
    if (line > 0) {
        e->location = pol_arena_printf(
            &t->arena, "%s:%u", t->source != NULL ? t->source : "", line);
        if (e->location == NULL) {
            pol_cc_error(cc, t->source, line, 0, "out of memory");
            return -1;
        }
    }
    if (action != NULL) {
        if (t->with_action++ == 0) {
            t->first_action_line = line;
        }
    } else if (t->nentries - t->with_action == 0) {
        t->first_plain_line = line;
    }
    t->nentries++;
    return 0;
}

int
pol_table_add(struct pol_cc *cc, struct pol_table *t, const char *key,
              size_t klen, uint32_t rxflags, bool negate,
              const struct pol_action *action, unsigned line, unsigned column)
{
    struct pol_addr a;
    unsigned bits;
    const char *why;
    pcre2_code *code;

    switch (t->kind) {
    case POL_TK_CIDR:
        if (pol_cidr_parse(key, klen, &a, &bits, &why) != 0) {
            pol_cc_error(cc, t->source, line, column, "bad CIDR '%.*s': %s",
                         (int)(klen > 60 ? 60 : klen), key, why);
            return -1;
        }
        if (pol_table_entry(cc, t, action, line) != 0) {
            return -1;
        }
        return pol_cidr_insert(cc, t, &a, bits, (uint32_t)(t->nentries - 1),
                               line, column);
    case POL_TK_REGEX:
        if (t->nrx == t->caprx) {
            size_t ncap = t->caprx == 0 ? 8 : t->caprx * 2;
            struct pol_rx *n = realloc(t->rx, ncap * sizeof(*n));

            if (n == NULL) {
                pol_cc_error(cc, t->source, line, column, "out of memory");
                return -1;
            }
            t->rx = n;
            t->caprx = ncap;
        }
        code =
            pol_regex_compile(cc, key, klen, rxflags, t->source, line, column);
        if (code == NULL) {
            return -1;
        }
        if (pol_table_entry(cc, t, action, line) != 0) {
            pcre2_code_free(code);
            return -1;
        }
        t->rx[t->nrx].code = code;
        t->rx[t->nrx].negate = negate;
        t->rx[t->nrx].jit = pol_regex_is_jit(code);
        t->nrx++;
        return 0;
    default:
        if (pol_table_entry(cc, t, action, line) != 0) {
            return -1;
        }
        return pol_list_insert(cc, t, key, klen, (uint32_t)(t->nentries - 1),
                               line, column);
    }
}

/* The offset of the closing delimiter in p[0..len) (p just after the
 * opening one), skipping backslash escapes; -1 when there is none. */
static long
pol_regex_end(const char *p, size_t len, char delim)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] == '\\') {
            i++;
        } else if (p[i] == delim) {
            return (long)i;
        }
    }
    return -1;
}

/* One line without its LF (and CR). */
static int
pol_table_line(struct pol_cc *cc, struct pol_table *t, const char *p,
               size_t len, unsigned line)
{
    struct pol_action *act = NULL;
    const char *key;
    size_t klen;
    size_t i = 0;
    size_t kcol;
    uint32_t flags = 0;
    bool negate = false;

    while (i < len && pol_is_space((uint8_t)p[i])) {
        i++;
    }
    if (i == len || p[i] == '#') {
        return 0;
    }
    if (memchr(p, '\0', len) != NULL) {
        pol_cc_error(cc, t->source, line,
                     (unsigned)((const char *)memchr(p, '\0', len) - p) + 1,
                     "NUL byte in a table line");
        return -1;
    }
    kcol = i;
    if (t->kind == POL_TK_REGEX) {
        long end;
        size_t f;
        size_t bad;
        char delim;

        if (p[i] == '!') {
            negate = true;
            i++;
        }
        delim = i < len ? p[i] : '\0';
        if (i == len || pol_is_alnum((uint8_t)delim) || delim == '\\' ||
            pol_is_space((uint8_t)delim)) {
            pol_cc_error(cc, t->source, line, (unsigned)i + 1,
                         "expected /regex/flags");
            return -1;
        }
        end = pol_regex_end(p + i + 1, len - i - 1, delim);
        if (end < 0) {
            pol_cc_error(cc, t->source, line, (unsigned)i + 1,
                         "missing the closing '%c' of the regex", delim);
            return -1;
        }
        key = p + i + 1;
        klen = (size_t)end;
        kcol = i + 1;
        i = i + 1 + (size_t)end + 1;
        f = i;
        while (i < len && !pol_is_space((uint8_t)p[i])) {
            i++;
        }
        if (pol_regex_flags(p + f, i - f, &flags, &bad) != 0) {
            pol_cc_error(cc, t->source, line, (unsigned)(f + bad) + 1,
                         "unknown regex flag '%c' (i m s x U u)", p[f + bad]);
            return -1;
        }
    } else {
        key = p + i;
        while (i < len && !pol_is_space((uint8_t)p[i])) {
            i++;
        }
        klen = (size_t)(p + i - key);
    }
    while (i < len && pol_is_space((uint8_t)p[i])) {
        i++;
    }
    if (i < len) {
        act = pol_arena_alloc(&t->arena, sizeof(*act));
        if (act == NULL) {
            pol_cc_error(cc, t->source, line, 0, "out of memory");
            return -1;
        }
        if (pol_action_parse(cc, &t->arena, p + i, len - i, t->source, line,
                             (unsigned)i + 1, act) != 0) {
            return -1;
        }
    }
    return pol_table_add(cc, t, key, klen, flags, negate, act, line,
                         (unsigned)kcol + 1);
}

size_t
pol_table_parse(struct pol_cc *cc, struct pol_table *t, const char *text,
                size_t len)
{
    size_t before = cc->nerrors;
    size_t pos = 0;
    unsigned line = 0;

    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        pos = 3; /* a UTF-8 byte order mark */
    }
    while (pos < len) {
        const char *lf = memchr(text + pos, '\n', len - pos);
        size_t end = lf != NULL ? (size_t)(lf - text) : len;
        size_t llen = end - pos;

        line++;
        if (llen > 0 && text[end - 1] == '\r') {
            llen--;
        }
        if (llen > POL_MAX_TABLE_LINE) {
            pol_cc_error(cc, t->source, line, POL_MAX_TABLE_LINE + 1,
                         "line longer than %u bytes", POL_MAX_TABLE_LINE);
        } else {
            (void)pol_table_line(cc, t, text + pos, llen, line);
        }
        if (cc->errs != NULL && cc->errs->count >= POL_MAX_ERRORS) {
            break; /* enough to fix first */
        }
        pos = end + 1;
    }
    return cc->nerrors - before;
}

/* base "/" path, or path alone when absolute or base is NULL. malloc'd. */
static char *
pol_table_path(const char *base, const char *path, size_t len)
{
    size_t blen = base != NULL && path[0] != '/' ? strlen(base) : 0;
    char *s = malloc(blen + 1 + len + 1);

    if (s == NULL) {
        return NULL;
    }
    if (blen > 0) {
        memcpy(s, base, blen);
        s[blen] = '/';
        blen++;
    }
    memcpy(s + blen, path, len);
    s[blen + len] = '\0';
    return s;
}

static char *
pol_table_read(struct pol_cc *cc, const char *path, const struct pol_loc *loc,
               size_t *len)
{
    struct stat st;
    FILE *fp = fopen(path, "rb");
    char *buf;
    size_t n;

    if (fp == NULL) {
        pol_cc_error(cc, loc->source, loc->line, loc->column,
                     "cannot open table %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        pol_cc_error(cc, loc->source, loc->line, loc->column,
                     "table %s is not a regular file", path);
        fclose(fp);
        return NULL;
    }
    if ((uint64_t)st.st_size > POL_MAX_TABLE_BYTES) {
        pol_cc_error(cc, loc->source, loc->line, loc->column,
                     "table %s is larger than %u bytes", path,
                     POL_MAX_TABLE_BYTES);
        fclose(fp);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        pol_cc_error(cc, loc->source, loc->line, loc->column,
                     "out of memory reading table %s", path);
        fclose(fp);
        return NULL;
    }
    n = fread(buf, 1, (size_t)st.st_size, fp);
    if (ferror(fp) != 0 || n != (size_t)st.st_size) {
        pol_cc_error(cc, loc->source, loc->line, loc->column,
                     "cannot read table %s: %s", path,
                     ferror(fp) != 0 ? strerror(errno) : "short read");
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct pol_table *
pol_table_load(struct pol_cc *cc, const char *ref, const struct pol_loc *loc)
{
    static const struct {
        const char *prefix;
        enum pol_table_kind kind;
    } types[] = {
        {"cidr:", POL_TK_CIDR},     {"pcre:", POL_TK_REGEX},
        {"list:", POL_TK_IEQ},      {"exact:", POL_TK_EQ},
        {"domain:", POL_TK_DOMAIN},
    };
    struct pol_table_ref *r;
    struct pol_table *t;
    const char *path = NULL;
    char *full;
    char *text;
    size_t tlen;
    size_t i;
    int kind = -1;

    for (i = 0; i < POL_NELEM(types); i++) {
        size_t pl = strlen(types[i].prefix);

        if (strncmp(ref, types[i].prefix, pl) == 0) {
            kind = (int)types[i].kind;
            path = ref + pl;
            break;
        }
    }
    if (kind < 0 || path[0] == '\0') {
        pol_cc_error(cc, loc->source, loc->line, loc->column,
                     "a table is TYPE:PATH with TYPE cidr, pcre, list, "
                     "exact or domain");
        return NULL;
    }
    full = pol_table_path(cc->spec != NULL ? cc->spec->base_dir : NULL, path,
                          strlen(path));
    if (full == NULL) {
        pol_cc_error(cc, loc->source, loc->line, loc->column, "out of memory");
        return NULL;
    }
    for (i = 0; i < cc->nrefs; i++) {
        if (cc->refs[i].kind == kind && strcmp(cc->refs[i].path, full) == 0) {
            free(full);
            return cc->refs[i].table; /* NULL: failed, already reported */
        }
    }
    if (cc->nrefs == cc->caprefs) {
        size_t ncap = cc->caprefs == 0 ? 8 : cc->caprefs * 2;

        r = realloc(cc->refs, ncap * sizeof(*r));
        if (r == NULL) {
            free(full);
            pol_cc_error(cc, loc->source, loc->line, loc->column,
                         "out of memory");
            return NULL;
        }
        cc->refs = r;
        cc->caprefs = ncap;
    }
    r = &cc->refs[cc->nrefs++];
    r->kind = kind;
    r->path = full;
    r->table = NULL;
    text = pol_table_read(cc, full, loc, &tlen);
    if (text == NULL) {
        return NULL;
    }
    t = pol_table_new((enum pol_table_kind)kind, full);
    if (t == NULL || pol_ruleset_own_table(cc->rs, t) != 0) {
        pol_table_free(t);
        free(text);
        pol_cc_error(cc, loc->source, loc->line, loc->column, "out of memory");
        return NULL;
    }
    t->from_file = true;
    if (pol_table_parse(cc, t, text, tlen) > 0) {
        free(text);
        return NULL; /* the ruleset owns t and frees it */
    }
    free(text);
    r->table = t;
    return t;
}

int
pol_table_lookup(const struct pol_table *t, struct pol_evalctx *ec,
                 const struct pol_val *v, enum pol_fdom dom,
                 const struct pol_entry **hit)
{
    const uint8_t *p = v->p;
    size_t len = v->len;
    uint32_t e = 0;
    size_t i;
    int m;

    switch (t->kind) {
    case POL_TK_CIDR:
        if (v->addr == NULL) {
            return 0;
        }
        e = pol_cidr_lookup(t, v->addr);
        break;
    case POL_TK_REGEX:
        for (i = 0; i < t->nrx; i++) {
            m = pol_regex_match(&t->rx[i], ec, p, len);
            if (m < 0) {
                return m;
            }
            if ((m == 1) != t->rx[i].negate) {
                *hit = &t->entries[i];
                return 1;
            }
        }
        return 0;
    case POL_TK_DOMAIN:
        if (!pol_val_domain(v, dom, &p, &len)) {
            return 0;
        }
        e = pol_list_lookup(t, p, len);
        break;
    default:
        e = pol_list_lookup(t, p, len);
        break;
    }
    if (e == 0) {
        return 0;
    }
    *hit = &t->entries[e - 1];
    return 1;
}
