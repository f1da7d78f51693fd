/*
 * libFuzzer target for the policy compiler (policy/pol_compile.c,
 * pol_table.c, pol_action.c, pol_cidr.c, pol_list.c, pol_regex.c).
 *
 * The first byte chooses what the rest is:
 *   0-4  the text of a table file (cidr, pcre, list, exact, domain), parsed
 *        as pol_compile parses a file; then looked up with values cut from
 *        the input
 *   5    one action string (a rule's action or a table line's tail)
 *   6+   a whole one-rule spec, fields separated by '\n': stage, fact,
 *        match, flags, values (split at '|'), actions (split at '|'); then
 *        evaluated at every stage
 * What aborts it: a crash or sanitizer report; a compile that fails
 * without an error or succeeds with one; an error without a message, or
 * whose line is past the end of the text; a verdict that
 * pol_verdict_validate refuses.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pol_ruleset *fz_scratch; /* for regex lookups */

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_pol_compile: %s\n", why);
    abort();
}

static void
fz_check_errors(const struct pol_errors *errs, size_t nerrors, size_t lines)
{
    size_t i;

    if (errs->count + errs->dropped != nerrors) {
        fz_fail("error count differs from the errors reported");
    }
    for (i = 0; i < errs->count; i++) {
        const struct pol_error *e = &errs->e[i];

        if (memchr(e->message, '\0', sizeof(e->message)) == NULL ||
            memchr(e->source, '\0', sizeof(e->source)) == NULL ||
            e->message[0] == '\0') {
            fz_fail("an error without a message");
        }
        if (lines > 0 && e->line > lines) {
            fz_fail("an error past the last line");
        }
    }
}

static void
fz_check_verdict(const struct pol_verdict *v)
{
    char why[128];

    if (pol_verdict_validate(v, why, sizeof(why)) != POL_OK) {
        fprintf(stderr, "verdict: %s\n", why);
        fz_fail("invalid verdict");
    }
    if (v->text_len > POL_MAX_TEXT) {
        fz_fail("text over the limit");
    }
}

/* 0-4: a table's text. */
static void
fz_table(enum pol_table_kind kind, const uint8_t *p, size_t n)
{
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    struct pol_table *t = pol_table_new(kind, "fuzz.table");
    struct pol_cc cc;
    size_t lines = 1;
    size_t i;
    size_t nerr;

    if (errs == NULL || t == NULL) {
        fz_fail("out of memory");
    }
    memset(&cc, 0, sizeof(cc));
    cc.errs = errs;
    for (i = 0; i < n; i++) {
        lines += p[i] == '\n';
    }
    nerr = pol_table_parse(&cc, t, (const char *)p, n);
    fz_check_errors(errs, cc.nerrors, lines);
    if (nerr == 0 && fz_scratch != NULL) {
        struct pol_evalctx ec;
        size_t start = 0;

        memset(&ec, 0, sizeof(ec));
        ec.rs = fz_scratch;
        /* look up every line of the input itself */
        for (i = 0; i <= n; i++) {
            if (i == n || p[i] == '\n') {
                struct pol_val v;
                const struct pol_entry *hit = NULL;
                struct pol_addr a;

                memset(&v, 0, sizeof(v));
                v.present = true;
                v.p = p + start;
                v.len = i - start;
                if (kind == POL_TK_CIDR) {
                    if (pol_addr_parse(&a, (const char *)v.p, v.len) != 0) {
                        start = i + 1;
                        continue;
                    }
                    v.addr = &a;
                }
                if (pol_table_lookup(t, &ec, &v, POL_FD_HOST, &hit) == 1 &&
                    (hit == NULL || hit < t->entries ||
                     hit >= t->entries + t->nentries)) {
                    fz_fail("a hit outside the table");
                }
                start = i + 1;
            }
        }
    }
    pol_table_free(t);
    free(errs);
}

/* 5: one action. */
static void
fz_action(const uint8_t *p, size_t n)
{
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    struct pol_arena ar = {NULL};
    struct pol_action a;
    struct pol_cc cc;
    int rc;

    if (errs == NULL) {
        fz_fail("out of memory");
    }
    memset(&cc, 0, sizeof(cc));
    cc.errs = errs;
    rc = pol_action_parse(&cc, &ar, (const char *)p, n, "fuzz", 1, 1, &a);
    if ((rc == 0) != (cc.nerrors == 0)) {
        fz_fail("action result and errors disagree");
    }
    fz_check_errors(errs, cc.nerrors, 1);
    if (rc == 0 && (a.kind == POL_ACT_REJECT || a.kind == POL_ACT_TEMPFAIL ||
                    a.kind == POL_ACT_DISCONNECT)) {
        if (a.enh[0] != (char)('0' + a.code / 100)) {
            fz_fail("enhanced code class differs from the code's");
        }
    }
    pol_arena_free(&ar);
    free(errs);
}

/* Splits p[0..n) at sep into at most max NUL-terminated copies. */
static size_t
fz_split(const char *p, size_t n, char sep, char **out, size_t max)
{
    size_t k = 0;
    size_t start = 0;
    size_t i;

    for (i = 0; i <= n && k < max; i++) {
        if (i == n || p[i] == sep) {
            out[k] = malloc(i - start + 1);
            if (out[k] == NULL) {
                fz_fail("out of memory");
            }
            memcpy(out[k], p + start, i - start);
            out[k][i - start] = '\0';
            k++;
            start = i + 1;
        }
    }
    return k;
}

/* 6+: a one-rule spec. */
static void
fz_spec(const uint8_t *p, size_t n)
{
    char *f[6] = {NULL};
    char *vals[8] = {NULL};
    char *acts[4] = {NULL};
    struct pol_value_spec vs[8];
    struct pol_value_spec as[4];
    struct pol_cond_spec cond;
    struct pol_rule_spec rule;
    struct pol_spec spec;
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    struct pol_ruleset *rs;
    size_t nf;
    size_t nv = 0;
    size_t na = 0;
    size_t i;

    if (errs == NULL) {
        fz_fail("out of memory");
    }
    nf = fz_split((const char *)p, n, '\n', f, 6);
    memset(&cond, 0, sizeof(cond));
    memset(&rule, 0, sizeof(rule));
    memset(&spec, 0, sizeof(spec));
    if (nf > 4) {
        nv = fz_split(f[4], strlen(f[4]), '|', vals, 8);
    }
    if (nf > 5) {
        na = fz_split(f[5], strlen(f[5]), '|', acts, 4);
    }
    for (i = 0; i < nv; i++) {
        vs[i].text = vals[i];
        vs[i].loc = (struct pol_loc){"fuzz.yaml", 5, 1};
    }
    for (i = 0; i < na; i++) {
        as[i].text = acts[i];
        as[i].loc = (struct pol_loc){"fuzz.yaml", 6, 1};
    }
    cond.loc = (struct pol_loc){"fuzz.yaml", 2, 1};
    cond.fact = nf > 1 ? f[1] : "helo";
    cond.match = nf > 2 ? f[2] : NULL;
    cond.flags = nf > 3 && f[3][0] != '\0' ? f[3] : NULL;
    cond.values = vs;
    cond.nvalues = nv;
    rule.loc = (struct pol_loc){"fuzz.yaml", 1, 1};
    rule.stage = nf > 0 ? f[0] : NULL;
    rule.conds = &cond;
    rule.nconds = nf > 1 ? 1 : 0;
    rule.actions = as;
    rule.nactions = na;
    spec.rules = &rule;
    spec.nrules = 1;
    rs = pol_compile(&spec, errs);
    if ((rs == NULL) != (errs->count > 0)) {
        fz_fail("pol_compile's result and its errors disagree");
    }
    fz_check_errors(errs, errs->count + errs->dropped, 0);
    if (rs != NULL) {
        static const uint8_t seed[16] = {1};
        struct pol_counters *ct = pol_counters_mem_new(64, seed);
        struct pol_facts facts;
        struct pol_env env;
        struct pol_verdict v;
        char buf[600];
        unsigned s;

        memset(&facts, 0, sizeof(facts));
        memset(&env, 0, sizeof(env));
        env.counters = ct;
        facts.helo.p = p;
        facts.helo.len = n;
        facts.sender = facts.helo;
        facts.rcpt = facts.helo;
        facts.header_value = facts.helo;
        facts.has_size = true;
        facts.size = n;
        (void)pol_addr_parse(&facts.client_address, (const char *)p,
                             n < 40 ? n : 40);
        for (s = 0; s < POL_STAGE_COUNT; s++) {
            pol_verdict_init(&v, buf, n % sizeof(buf));
            (void)pol_eval(rs, (enum pol_stage)s, &facts, &env, &v);
            fz_check_verdict(&v);
        }
        pol_counters_free(ct);
        pol_ruleset_unref(rs);
    }
    for (i = 0; i < nf; i++) {
        free(f[i]);
    }
    for (i = 0; i < nv; i++) {
        free(vals[i]);
    }
    for (i = 0; i < na; i++) {
        free(acts[i]);
    }
    free(errs);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct pol_spec empty;

    (void)argc;
    (void)argv;
    memset(&empty, 0, sizeof(empty));
    fz_scratch = pol_compile(&empty, NULL); /* kept for the whole run */
    return fz_scratch != NULL ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    if (size == 0) {
        return 0;
    }
    /* an exact-size copy, so that ASan sees any read past the end */
    copy = malloc(size - 1 > 0 ? size - 1 : 1);
    if (copy == NULL) {
        fz_fail("out of memory");
    }
    memcpy(copy, data + 1, size - 1);
    if (data[0] % 8 < 5) {
        static const enum pol_table_kind kinds[] = {
            POL_TK_CIDR, POL_TK_REGEX, POL_TK_IEQ, POL_TK_EQ, POL_TK_DOMAIN,
        };

        fz_table(kinds[data[0] % 8], copy, size - 1);
    } else if (data[0] % 8 == 5) {
        fz_action(copy, size - 1);
    } else {
        fz_spec(copy, size - 1);
    }
    free(copy);
    return 0;
}
