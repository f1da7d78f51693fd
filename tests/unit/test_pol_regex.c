/*
 * Unit tests for policy/pol_regex.c: catastrophic patterns end with
 * POL_VERDICT_ERROR (451 4.3.0, the rule named) within the match limit,
 * with the JIT and with the interpreter, negated or not; the limits come
 * from the spec; an error leaves the ruleset usable; subjects are bytes
 * (NUL, 8-bit, invalid UTF-8), and the u flag gives UTF semantics without
 * ever failing on invalid input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "policy/policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* header stage: header_value regex PATTERN (flags) => reject */
static struct pol_ruleset *
regex_rule(const char *pattern, const char *flags, bool negate,
           uint32_t match_limit)
{
    struct pol_value_spec val = {pattern, {"p.yaml", 3, 20}};
    struct pol_value_spec act = {"reject 550 5.7.1 hit", {"p.yaml", 4, 13}};
    struct pol_cond_spec cond;
    struct pol_rule_spec rule;
    struct pol_spec spec;
    struct pol_errors errs;
    struct pol_ruleset *rs;

    memset(&cond, 0, sizeof(cond));
    memset(&rule, 0, sizeof(rule));
    memset(&spec, 0, sizeof(spec));
    cond.loc = (struct pol_loc){"p.yaml", 3, 9};
    cond.fact = "header_value";
    cond.match = "regex";
    cond.flags = flags;
    cond.negate = negate;
    cond.values = &val;
    cond.nvalues = 1;
    rule.loc = (struct pol_loc){"p.yaml", 1, 5};
    rule.name = "body-check";
    rule.stage = "header";
    rule.conds = &cond;
    rule.nconds = 1;
    rule.actions = &act;
    rule.nactions = 1;
    spec.rules = &rule;
    spec.nrules = 1;
    spec.match_limit = match_limit;
    rs = pol_compile(&spec, &errs);
    if (rs == NULL) {
        char line[600];

        pol_error_format(&errs.e[0], line, sizeof(line));
        fail_msg("%s", line);
    }
    return rs;
}

struct trace_seen {
    int errors;
    size_t cond;
};

static void
trace_errors(void *arg, const struct pol_trace_event *ev)
{
    struct trace_seen *t = arg;

    if (ev->result == POL_TRACE_ERROR) {
        t->errors++;
        t->cond = ev->cond;
    }
}

static enum pol_verdict_action
regex_eval(struct pol_ruleset *rs, const uint8_t *p, size_t len,
           struct pol_verdict *v, struct trace_seen *seen)
{
    static char buf[512];
    struct pol_facts f;
    struct pol_env env;

    memset(&f, 0, sizeof(f));
    memset(&env, 0, sizeof(env));
    if (seen != NULL) {
        env.trace = trace_errors;
        env.trace_arg = seen;
    }
    f.header_name.p = (const uint8_t *)"Subject";
    f.header_name.len = 7;
    f.header_value.p = p;
    f.header_value.len = len;
    pol_verdict_init(v, buf, sizeof(buf));
    return pol_eval(rs, POL_STAGE_HEADER, &f, &env, v);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* (a+)+$ against "aaa...a!" backtracks exponentially without a limit. */
static void
test_regex_catastrophic(void **state)
{
    static const struct {
        const char *label;
        const char *pattern;
        bool negate;
    } cases[] = {
        {"jit", "(a+)+$", false},
        {"jit negated", "(a+)+$", true},
        {"interpreter", "(*NO_JIT)(a+)+$", false},
        {"interpreter negated", "(*NO_JIT)(a+)+$", true},
        {"nested quantifiers", "^(\\w+\\s?)*$", false},
        {"alternation", "(*NO_JIT)^(a|a)*$", false},
    };
    size_t n = 10000;
    uint8_t *subject = malloc(n);
    size_t i;

    (void)state;
    assert_non_null(subject);
    memset(subject, 'a', n - 1);
    subject[n - 1] = '!';
    for (i = 0; i < NELEM(cases); i++) {
        struct pol_ruleset *rs =
            regex_rule(cases[i].pattern, NULL, cases[i].negate, 0);
        struct pol_verdict v;
        struct trace_seen seen = {0, 99};
        double t0 = now_s();
        double dt;

        if (regex_eval(rs, subject, n, &v, &seen) != POL_VERDICT_ERROR) {
            fail_msg("%s: got %s", cases[i].label,
                     pol_verdict_action_name(v.action));
        }
        dt = now_s() - t0;
        /* not a benchmark: a runaway match would take years */
        if (dt > 2.0) {
            fail_msg("%s: %.3f s", cases[i].label, dt);
        }
        print_message("  %-20s error after %.2f ms: %s\n", cases[i].label,
                      dt * 1e3, v.error_text);
        assert_int_equal(v.code, 451);
        assert_string_equal(v.enhanced, "4.3.0");
        assert_string_equal(v.rule, "body-check");
        assert_string_equal(v.rule_location, "p.yaml:1");
        assert_true(v.error < 0);
        assert_true(v.text_len > 0);
        assert_int_equal(seen.errors, 1);
        assert_int_equal(seen.cond, 0);
        assert_int_equal(pol_verdict_validate(&v, NULL, 0), POL_OK);

        /* the ruleset still works afterwards */
        assert_int_equal(regex_eval(rs, (const uint8_t *)"aaa", 3, &v, NULL),
                         cases[i].negate ? POL_VERDICT_CONTINUE
                                         : POL_VERDICT_REJECT);
        pol_ruleset_unref(rs);
    }
    free(subject);
}

static void
test_regex_limit_from_spec(void **state)
{
    struct pol_ruleset *rs;
    struct pol_verdict v;
    uint8_t subject[200];

    (void)state;
    memset(subject, 'a', sizeof(subject));
    /* ordinary backtracking (no shortcut finds the missing b quickly):
     * fine with the default limit... */
    rs = regex_rule("(*NO_JIT)(*NO_START_OPT)(*NO_AUTO_POSSESS)a*a*b", NULL,
                    false, 0);
    assert_int_equal(regex_eval(rs, subject, 40, &v, NULL),
                     POL_VERDICT_CONTINUE);
    pol_ruleset_unref(rs);
    /* ... and an error with a tiny one */
    rs = regex_rule("(*NO_JIT)(*NO_START_OPT)(*NO_AUTO_POSSESS)a*a*b", NULL,
                    false, 50);
    assert_int_equal(regex_eval(rs, subject, 40, &v, NULL), POL_VERDICT_ERROR);
    assert_string_equal(v.error_text, "match limit exceeded");
    pol_ruleset_unref(rs);
    /* a pattern may lower the limit, never raise it */
    rs = regex_rule("(*LIMIT_MATCH=100000000)(a+)+$", NULL, false, 1000);
    memset(subject, 'a', sizeof(subject) - 1);
    subject[sizeof(subject) - 1] = '!';
    assert_int_equal(regex_eval(rs, subject, sizeof(subject), &v, NULL),
                     POL_VERDICT_ERROR);
    pol_ruleset_unref(rs);
}

struct bytes_case {
    const char *label;
    const char *pattern;
    const char *flags;
    const char *subject;
    size_t len;
    bool holds;
};

#define B(s) s, sizeof(s) - 1

/* clang-format off: one case per line or two */
static const struct bytes_case bytes_cases[] = {
    {"NUL in subject", "a\\x00b", NULL, B("a\0b"), true},
    {"dot over NUL", "^a.b$", NULL, B("a\0b"), true},
    {"8-bit bytes", "\\xc3\\xa9$", NULL, B("caf\xc3\xa9"), true},
    {"two bytes without u", "^caf..$", NULL, B("caf\xc3\xa9"), true},
    {"one char with u", "^caf.$", "u", B("caf\xc3\xa9"), true},
    {"invalid UTF-8 with u: no error", "^caf.$", "u", B("caf\xff"), false},
    {"invalid UTF-8 with u: around", "caf", "u",
     B("\xff\xfe"
       "caf\xc0"),
     true},
    {"caseless ASCII only without u", "CAF\xc3\x89", "i", B("caf\xc3\xa9"),
     false},
    {"caseless UTF with u", "CAF\xc3\x89", "iu", B("caf\xc3\xa9"), true},
    {"multiline", "^b$", "m", B("a\nb\nc"), true},
    {"no multiline", "^b$", NULL, B("a\nb\nc"), false},
    {"dotall", "a.c", "s", B("a\nc"), true},
    {"extended", "a b c # comment", "x", B("abc"), true},
    {"ungreedy", "^a+?$", "U", B("aaa"), true},
    {"empty subject", "^$", NULL, B(""), true},
};
/* clang-format on */

static void
test_regex_bytes(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(bytes_cases); i++) {
        const struct bytes_case *c = &bytes_cases[i];
        struct pol_ruleset *rs = regex_rule(c->pattern, c->flags, false, 0);
        struct pol_verdict v;
        uint8_t *copy = malloc(c->len > 0 ? c->len : 1);
        enum pol_verdict_action got;

        assert_non_null(copy);
        memcpy(copy, c->subject, c->len); /* exact size: ASan sees over-reads */
        got = regex_eval(rs, copy, c->len, &v, NULL);
        if (got != (c->holds ? POL_VERDICT_REJECT : POL_VERDICT_CONTINUE)) {
            fail_msg("case '%s': got %s %s", c->label,
                     pol_verdict_action_name(got), v.error_text);
        }
        free(copy);
        pol_ruleset_unref(rs);
    }
}

/* A 100 KB header (the gateway's cap) is matched without an error. */
static void
test_regex_long_subject(void **state)
{
    size_t n = 100 * 1024;
    uint8_t *subject = malloc(n);
    struct pol_ruleset *rs;
    struct pol_verdict v;
    size_t i;

    (void)state;
    assert_non_null(subject);
    for (i = 0; i < n; i++) {
        subject[i] = (uint8_t)("abcdefgh "[i % 9]);
    }
    memcpy(subject + n - 6, "viagra", 6);
    rs = regex_rule("v[i1]agra", "i", false, 0);
    assert_int_equal(regex_eval(rs, subject, n, &v, NULL), POL_VERDICT_REJECT);
    pol_ruleset_unref(rs);
    rs = regex_rule("(*NO_JIT)^(.*)viagra$", "s", false, 0);
    assert_int_equal(regex_eval(rs, subject, n, &v, NULL), POL_VERDICT_REJECT);
    pol_ruleset_unref(rs);
    free(subject);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex_catastrophic),
        cmocka_unit_test(test_regex_limit_from_spec),
        cmocka_unit_test(test_regex_bytes),
        cmocka_unit_test(test_regex_long_subject),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
