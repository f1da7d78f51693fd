/*
 * Unit tests for gateway/gw_metrics.c's policy rule series: free slots are
 * skipped, verdicts that never happened are left out, label values are
 * escaped (backslash, quote, newline; other control bytes dropped), and a
 * buffer too small for every rule ends at a whole line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_metrics.h"
#include "policy/policy.h"

static void
rule(struct gw_rule_counters *r, const char *name, enum pol_stage stage,
     uint64_t matches)
{
    memset(r, 0, sizeof(*r));
    strcpy(r->name, name);
    r->stage = (uint32_t)stage;
    r->matches = matches;
}

static void
test_rules_rendered(void **state)
{
    struct gw_rule_counters rules[3];
    char out[2048];
    size_t n;

    (void)state;
    rule(&rules[0], "no-localhost", POL_STAGE_HELO, 3);
    rules[0].verdicts[POL_VERDICT_REJECT] = 3;
    memset(&rules[1], 0, sizeof(rules[1])); /* a free slot */
    rule(&rules[2], "a\"b\\c\nd\x01", POL_STAGE_MAIL, 1);
    n = gw_metrics_render_rules(rules, 3, out, sizeof(out));
    assert_true(n > 0 && n < sizeof(out));
    out[n] = '\0';
    assert_non_null(strstr(out, "# TYPE postern_policy_rule_matches_total "
                                "counter\n"));
    assert_non_null(strstr(out, "postern_policy_rule_matches_total{stage="
                                "\"helo\",rule=\"no-localhost\"} 3\n"));
    assert_non_null(strstr(out, "postern_policy_decisions_total{stage=\"helo\""
                                ",rule=\"no-localhost\",verdict=\"reject\"} "
                                "3\n"));
    assert_non_null(strstr(out, "{stage=\"mail\",rule=\"a\\\"b\\\\c\\nd\"} "
                                "1\n"));
    /* no decision series for verdicts that did not happen */
    assert_null(strstr(out, "verdict=\"accept\""));
    assert_null(strstr(out, "rule=\"a\\\"b\\\\c\\nd\",verdict"));
}

static void
test_rules_cut_at_a_line(void **state)
{
    struct gw_rule_counters rules[40];
    char out[1024];
    char name[32];
    size_t n;
    size_t i;

    (void)state;
    for (i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "rule-%zu", i);
        rule(&rules[i], name, POL_STAGE_RCPT, i);
    }
    n = gw_metrics_render_rules(rules, 40, out, sizeof(out));
    assert_true(n > 100 && n <= sizeof(out));
    assert_int_equal(out[n - 1], '\n');
    assert_null(memchr(out, '\0', n));
    assert_int_equal(gw_metrics_render_rules(rules, 40, out, 10), 0);
}

/* The bound holds every series of full-length names with every verdict. */
static void
test_rules_bound_is_enough(void **state)
{
    static struct gw_rule_counters rules[8];
    static char out[64 * 1024];
    size_t bound;
    size_t n;
    size_t i;
    size_t k;

    (void)state;
    for (i = 0; i < 8; i++) {
        memset(&rules[i], 0, sizeof(rules[i]));
        memset(rules[i].name, 'r', GW_RULE_NAME_MAX - 1);
        rules[i].name[0] = (char)('a' + i);
        rules[i].stage = POL_STAGE_HEADER;
        rules[i].matches = UINT64_MAX;
        for (k = 0; k < GW_RULE_VERDICTS; k++) {
            rules[i].verdicts[k] = UINT64_MAX;
        }
    }
    bound = gw_metrics_rules_bound(rules, 8);
    assert_true(bound < sizeof(out));
    n = gw_metrics_render_rules(rules, 8, out, bound);
    assert_true(n > 0 && n < bound);
    /* 8 match lines and 8 x 6 decision lines, none cut */
    for (i = 0, k = 0; i < n; i++) {
        k += out[i] == '\n';
    }
    assert_int_equal(k, 4 + 8 + 8 * GW_RULE_VERDICTS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_rendered),
        cmocka_unit_test(test_rules_cut_at_a_line),
        cmocka_unit_test(test_rules_bound_is_enough),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
