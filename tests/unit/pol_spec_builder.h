/*
 * A policy spec builder for the unit tests of policy/ (test_pol_compile.c,
 * test_pol_eval.c): positions are predictable, so tests can assert exact
 * SOURCE:LINE:COLUMN in errors and verdicts. Rule i (from 0) sits at line
 * 10(i+1) column 5 of policy.yaml, its stage at line +1 column 14,
 * condition k at line +2+k column 9 with values at columns 20, 30, ...,
 * action k at line +9+k column 13.
 *
 * Function definitions in a header: each test is one executable that
 * includes it once, after <cmocka.h>.
 */
#ifndef POL_SPEC_BUILDER_H
#define POL_SPEC_BUILDER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

#include "policy/policy.h"

#define TB_RULES 64
#define TB_CONDS 8
#define TB_VALS 8
#define TB_ACTS 4

struct tb {
    struct pol_spec spec;
    struct pol_rule_spec rules[TB_RULES];
    struct pol_cond_spec conds[TB_RULES][TB_CONDS];
    struct pol_value_spec vals[TB_RULES][TB_CONDS][TB_VALS];
    struct pol_value_spec acts[TB_RULES][TB_ACTS];
};

static struct tb *
tb_new(void)
{
    struct tb *b = calloc(1, sizeof(*b));

    assert_non_null(b);
    b->spec.rules = b->rules;
    return b;
}

static void
tb_rule(struct tb *b, const char *name, const char *stage)
{
    size_t i = b->spec.nrules++;
    struct pol_rule_spec *r = &b->rules[i];
    unsigned line = 10 * (unsigned)(i + 1);

    assert_true(i < TB_RULES);
    r->loc = (struct pol_loc){"policy.yaml", line, 5};
    r->name = name;
    r->stage = stage;
    r->stage_loc = (struct pol_loc){"policy.yaml", line + 1, 14};
    r->conds = b->conds[i];
    r->actions = b->acts[i];
}

/* A condition of the last rule; values (NULL-terminated) at columns 20,
 * 30, ... of its line. */
static void
tb_cond(struct tb *b, const char *fact, const char *match, bool negate,
        const char *flags, ...)
{
    size_t i = b->spec.nrules - 1;
    struct pol_rule_spec *r = &b->rules[i];
    size_t k = r->nconds++;
    struct pol_cond_spec *c = &b->conds[i][k];
    unsigned line = 10 * (unsigned)(i + 1) + 2 + (unsigned)k;
    const char *v;
    va_list ap;

    assert_true(k < TB_CONDS);
    c->loc = (struct pol_loc){"policy.yaml", line, 9};
    c->fact = fact;
    c->match = match;
    c->negate = negate;
    c->flags = flags;
    c->values = b->vals[i][k];
    va_start(ap, flags);
    while ((v = va_arg(ap, const char *)) != NULL) {
        struct pol_value_spec *vs = &b->vals[i][k][c->nvalues];

        assert_true(c->nvalues < TB_VALS);
        vs->text = v;
        vs->loc = (struct pol_loc){"policy.yaml", line,
                                   20 + 10 * (unsigned)c->nvalues};
        c->nvalues++;
    }
    va_end(ap);
}

/* An action of the last rule, at line 10 * (i + 1) + 9 + k, column 13. */
static void
tb_act(struct tb *b, const char *text)
{
    size_t i = b->spec.nrules - 1;
    struct pol_rule_spec *r = &b->rules[i];
    size_t k = r->nactions++;

    assert_true(k < TB_ACTS);
    b->acts[i][k].text = text;
    b->acts[i][k].loc = (struct pol_loc){
        "policy.yaml", 10 * (unsigned)(i + 1) + 9 + (unsigned)k, 13};
}

#endif
