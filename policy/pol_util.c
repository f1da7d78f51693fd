/*
 * Small pieces shared by the policy files: the names of stages, facts and
 * verdicts; compile errors; the ruleset's arena; number, size, duration
 * and comparison parsing for rule values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

#define POL_ARENA_BLOCK 65536u

struct pol_arena_block {
    struct pol_arena_block *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

static void pol_error_source(char *dst, size_t cap, const char *src);
static int pol_parse_unit(const char *p, size_t len, uint64_t *out,
                          const char **why, bool duration);

/* ---- names -------------------------------------------------------------- */

const struct pol_fact_def pol_fact_defs[POL_FACT_COUNT] = {
#define POL_FACT_DEF(id, name, t, a, b, d)                                     \
    {name, POL_FT_##t, POL_STAGE_##a, POL_STAGE_##b, POL_FD_##d},
    POL_FACTS(POL_FACT_DEF)
#undef POL_FACT_DEF
};

static const char *const pol_stage_names[POL_STAGE_COUNT] = {
#define POL_STAGE_NAME(id, name) name,
    POL_STAGES(POL_STAGE_NAME)
#undef POL_STAGE_NAME
};

const char *
pol_stage_name(enum pol_stage s)
{
    if ((unsigned)s >= POL_STAGE_COUNT) {
        return "?";
    }
    return pol_stage_names[s];
}

enum pol_stage
pol_stage_from_name(const char *p, size_t len)
{
    unsigned i;

    for (i = 0; i < POL_STAGE_COUNT; i++) {
        if (pol_ieq(p, len, pol_stage_names[i])) {
            return (enum pol_stage)i;
        }
    }
    return POL_STAGE_COUNT;
}

const char *
pol_verdict_action_name(enum pol_verdict_action a)
{
    switch (a) {
    case POL_VERDICT_CONTINUE:
        return "continue";
    case POL_VERDICT_ACCEPT:
        return "accept";
    case POL_VERDICT_REJECT:
        return "reject";
    case POL_VERDICT_TEMPFAIL:
        return "tempfail";
    case POL_VERDICT_DISCONNECT:
        return "disconnect";
    case POL_VERDICT_ERROR:
        return "error";
    }
    return "?";
}

const char *
pol_tls_policy_name(enum pol_tls_policy p)
{
    switch (p) {
    case POL_TLS_NONE:
        return "none";
    case POL_TLS_MAY:
        return "may";
    case POL_TLS_ENCRYPT:
        return "encrypt";
    case POL_TLS_VERIFY:
        return "verify";
    }
    return "?";
}

enum pol_fact
pol_fact_from_name(const char *p, size_t len)
{
    unsigned i;

    for (i = 0; i < POL_FACT_COUNT; i++) {
        if (strlen(pol_fact_defs[i].name) == len &&
            memcmp(pol_fact_defs[i].name, p, len) == 0) {
            return (enum pol_fact)i;
        }
    }
    return POL_FACT_COUNT;
}

bool
pol_fact_at_stage(enum pol_fact f, enum pol_stage s)
{
    return s >= pol_fact_defs[f].first && s <= pol_fact_defs[f].last;
}

bool
pol_ieq(const void *p, size_t len, const char *word)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < len; i++) {
        if (word[i] == '\0' || pol_lower(b[i]) != pol_lower((uint8_t)word[i])) {
            return false;
        }
    }
    return word[len] == '\0';
}

bool
pol_cmp_holds(enum pol_cmp op, uint64_t a, uint64_t b)
{
    switch (op) {
    case POL_CMP_LT:
        return a < b;
    case POL_CMP_LE:
        return a <= b;
    case POL_CMP_EQ:
        return a == b;
    case POL_CMP_NE:
        return a != b;
    case POL_CMP_GE:
        return a >= b;
    case POL_CMP_GT:
        return a > b;
    }
    return false;
}

/* ---- errors ------------------------------------------------------------- */

/* Keeps the end of a long path, which is the part that says most. */
static void
pol_error_source(char *dst, size_t cap, const char *src)
{
    size_t len;

    if (src == NULL || src[0] == '\0') {
        src = "<policy>";
    }
    len = strlen(src);
    if (len < cap) {
        memcpy(dst, src, len + 1);
        return;
    }
    memcpy(dst, "...", 3);
    memcpy(dst + 3, src + len - (cap - 4), cap - 4);
    dst[cap - 1] = '\0';
}

void
pol_cc_verror(struct pol_cc *cc, const char *source, unsigned line,
              unsigned column, const char *fmt, va_list ap)
{
    struct pol_error *e;

    cc->nerrors++;
    if (cc->errs == NULL) {
        return;
    }
    if (cc->errs->count >= POL_MAX_ERRORS) {
        cc->errs->dropped++;
        return;
    }
    e = &cc->errs->e[cc->errs->count++];
    pol_error_source(e->source, sizeof(e->source), source);
    e->line = line;
    e->column = line > 0 ? column : 0;
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
}

void
pol_cc_error(struct pol_cc *cc, const char *source, unsigned line,
             unsigned column, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pol_cc_verror(cc, source, line, column, fmt, ap);
    va_end(ap);
}

size_t
pol_error_format(const struct pol_error *e, char *buf, size_t cap)
{
    int n;

    if (e->line > 0 && e->column > 0) {
        n = snprintf(buf, cap, "%s:%u:%u: %s", e->source, e->line, e->column,
                     e->message);
    } else if (e->line > 0) {
        n = snprintf(buf, cap, "%s:%u: %s", e->source, e->line, e->message);
    } else {
        n = snprintf(buf, cap, "%s: %s", e->source, e->message);
    }
    return n < 0 ? 0 : (size_t)n;
}

/* ---- arena -------------------------------------------------------------- */

void *
pol_arena_alloc(struct pol_arena *a, size_t size)
{
    struct pol_arena_block *b = a->head;
    size_t al = sizeof(max_align_t);
    size_t need;
    size_t cap;

    if (size == 0) {
        size = 1;
    }
    if (size > SIZE_MAX / 2) {
        return NULL;
    }
    need = (size + al - 1) / al * al;
    if (b == NULL || b->cap - b->used < need) {
        cap = need > POL_ARENA_BLOCK ? need : POL_ARENA_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL) {
            return NULL;
        }
        b->used = 0;
        b->cap = cap;
        if (a->head != NULL && need > POL_ARENA_BLOCK) {
            /* a big one: keep the current block in front for small ones */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    b->used += need;
    memset((char *)b->data + b->used - need, 0, need);
    return (char *)b->data + b->used - need;
}

char *
pol_arena_strndup(struct pol_arena *a, const char *p, size_t len)
{
    char *s;

    if (len == SIZE_MAX) {
        return NULL;
    }
    s = pol_arena_alloc(a, len + 1);
    if (s == NULL) {
        return NULL;
    }
    if (len > 0) {
        memcpy(s, p, len);
    }
    s[len] = '\0';
    return s;
}

char *
pol_arena_printf(struct pol_arena *a, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    s = pol_arena_alloc(a, (size_t)n + 1);
    if (s == NULL) {
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void
pol_arena_free(struct pol_arena *a)
{
    struct pol_arena_block *b = a->head;

    while (b != NULL) {
        struct pol_arena_block *next = b->next;

        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ---- numbers ------------------------------------------------------------ */

int
pol_parse_u64(const char *p, size_t len, uint64_t *out, const char **why)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0) {
        *why = "a number is missing";
        return -1;
    }
    for (i = 0; i < len; i++) {
        uint64_t d;

        if (!pol_is_digit((uint8_t)p[i])) {
            *why = "not a number";
            return -1;
        }
        d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            *why = "number too large";
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int
pol_parse_unit(const char *p, size_t len, uint64_t *out, const char **why,
               bool duration)
{
    size_t n = 0;
    uint64_t v;
    uint64_t mul = duration ? 1000 : 1;
    const char *u;
    size_t ulen;

    while (n < len && pol_is_digit((uint8_t)p[n])) {
        n++;
    }
    if (n == 0) {
        *why = duration ? "a duration is digits and a unit (ms s m h d)"
                        : "a size is digits and a unit (K M G T)";
        return -1;
    }
    if (pol_parse_u64(p, n, &v, why) != 0) {
        return -1;
    }
    u = p + n;
    ulen = len - n;
    if (duration) {
        if (ulen == 0 || pol_ieq(u, ulen, "s")) {
            mul = 1000;
        } else if (pol_ieq(u, ulen, "ms")) {
            mul = 1;
        } else if (pol_ieq(u, ulen, "m")) {
            mul = 60000;
        } else if (pol_ieq(u, ulen, "h")) {
            mul = 3600000;
        } else if (pol_ieq(u, ulen, "d")) {
            mul = 86400000;
        } else {
            *why = "unknown duration unit (use ms, s, m, h or d)";
            return -1;
        }
    } else {
        if (ulen > 0 && (u[ulen - 1] == 'B' || u[ulen - 1] == 'b')) {
            ulen--;
        }
        if (ulen == 0) {
            mul = 1;
        } else if (pol_ieq(u, ulen, "k")) {
            mul = 1024;
        } else if (pol_ieq(u, ulen, "m")) {
            mul = 1024 * 1024;
        } else if (pol_ieq(u, ulen, "g")) {
            mul = 1024ull * 1024 * 1024;
        } else if (pol_ieq(u, ulen, "t")) {
            mul = 1024ull * 1024 * 1024 * 1024;
        } else {
            *why = "unknown size unit (use K, M, G or T)";
            return -1;
        }
    }
    if (v > UINT64_MAX / mul) {
        *why = "number too large";
        return -1;
    }
    *out = v * mul;
    return 0;
}

int
pol_parse_size(const char *p, size_t len, uint64_t *out, const char **why)
{
    return pol_parse_unit(p, len, out, why, false);
}

int
pol_parse_duration(const char *p, size_t len, uint64_t *out_ms,
                   const char **why)
{
    return pol_parse_unit(p, len, out_ms, why, true);
}

long
pol_parse_cmp(const char *p, size_t len, enum pol_cmp *op, uint64_t *num,
              const char **why)
{
    size_t i = 0;
    size_t start;
    size_t end;

    while (i < len && pol_is_space((uint8_t)p[i])) {
        i++;
    }
    if (i + 1 < len && p[i] == '<' && p[i + 1] == '=') {
        *op = POL_CMP_LE;
        i += 2;
    } else if (i + 1 < len && p[i] == '>' && p[i + 1] == '=') {
        *op = POL_CMP_GE;
        i += 2;
    } else if (i + 1 < len && p[i] == '=' && p[i + 1] == '=') {
        *op = POL_CMP_EQ;
        i += 2;
    } else if (i + 1 < len && p[i] == '!' && p[i + 1] == '=') {
        *op = POL_CMP_NE;
        i += 2;
    } else if (i < len && p[i] == '<') {
        *op = POL_CMP_LT;
        i++;
    } else if (i < len && p[i] == '>') {
        *op = POL_CMP_GT;
        i++;
    } else if (i < len && p[i] == '=') {
        *op = POL_CMP_EQ;
        i++;
    } else {
        *why = "expected a comparison: < <= == != >= > and a number";
        return (long)i;
    }
    while (i < len && pol_is_space((uint8_t)p[i])) {
        i++;
    }
    start = i;
    end = len;
    while (end > start && pol_is_space((uint8_t)p[end - 1])) {
        end--;
    }
    if (pol_parse_size(p + start, end - start, num, why) != 0) {
        return (long)start;
    }
    return -1;
}
