/*
 * Unit tests for policy/pol_action.c's verdict side: pol_verdict_validate
 * (code class per action, enhanced code class, clean text and headers),
 * and the expansion of ${variables} with hostile values: CR, LF, NUL and
 * other controls are removed, 8-bit bytes become '?', long values are cut
 * at the limits, and a header can never be split into two.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- pol_verdict_validate ----------------------------------------------- */

struct validate_case {
    const char *label;
    enum pol_verdict_action action;
    unsigned code;
    const char *enhanced;
    const char *text;
    size_t text_len;    /* SIZE_MAX: strlen */
    const char *header; /* NULL: none */
    size_t name_len;
    bool ok;
};

#define L SIZE_MAX

/* clang-format off: one case per line or two */
static const struct validate_case validate_cases[] = {
    {"continue", POL_VERDICT_CONTINUE, 0, "", "", L, NULL, 0, true},
    {"accept", POL_VERDICT_ACCEPT, 0, "", "", L, NULL, 0, true},
    {"accept with a code", POL_VERDICT_ACCEPT, 250, "2.0.0", "", L, NULL, 0,
     false},
    {"reject", POL_VERDICT_REJECT, 550, "5.7.1", "No", L, NULL, 0, true},
    {"reject 554 5.7.26", POL_VERDICT_REJECT, 554, "5.7.26", "x", L, NULL, 0,
     true},
    {"reject 5.123.456", POL_VERDICT_REJECT, 550, "5.123.456", "x", L, NULL, 0,
     true},
    {"reject 4xx", POL_VERDICT_REJECT, 450, "4.7.1", "x", L, NULL, 0, false},
    {"reject 560", POL_VERDICT_REJECT, 560, "5.7.1", "x", L, NULL, 0, false},
    {"reject class", POL_VERDICT_REJECT, 550, "4.7.1", "x", L, NULL, 0, false},
    {"reject no enhanced", POL_VERDICT_REJECT, 550, "", "x", L, NULL, 0, false},
    {"reject enhanced 5.7", POL_VERDICT_REJECT, 550, "5.7", "x", L, NULL, 0,
     false},
    {"reject enhanced 5..1", POL_VERDICT_REJECT, 550, "5..1", "x", L, NULL, 0,
     false},
    {"reject enhanced 5.1234.1", POL_VERDICT_REJECT, 550, "5.1234.1", "x", L,
     NULL, 0, false},
    {"reject enhanced 3.0.0", POL_VERDICT_REJECT, 550, "3.0.0", "x", L, NULL, 0,
     false},
    {"tempfail", POL_VERDICT_TEMPFAIL, 451, "4.3.0", "x", L, NULL, 0, true},
    {"tempfail 421", POL_VERDICT_TEMPFAIL, 421, "4.7.0", "x", L, NULL, 0,
     false},
    {"tempfail 5xx", POL_VERDICT_TEMPFAIL, 550, "5.7.1", "x", L, NULL, 0,
     false},
    {"disconnect", POL_VERDICT_DISCONNECT, 421, "4.7.0", "x", L, NULL, 0, true},
    {"disconnect 450", POL_VERDICT_DISCONNECT, 450, "4.7.0", "x", L, NULL, 0,
     false},
    {"error", POL_VERDICT_ERROR, 451, "4.3.0", "x", L, NULL, 0, true},
    {"error 5xx", POL_VERDICT_ERROR, 554, "5.3.0", "x", L, NULL, 0, false},
    {"unknown action", (enum pol_verdict_action)42, 550, "5.7.1", "x", L, NULL,
     0, false},
    {"text CR", POL_VERDICT_REJECT, 550, "5.7.1", "a\rb", L, NULL, 0, false},
    {"text LF", POL_VERDICT_REJECT, 550, "5.7.1", "a\nb", L, NULL, 0, false},
    {"text NUL inside", POL_VERDICT_REJECT, 550, "5.7.1", "a\0b", 3, NULL, 0,
     false},
    {"text tab", POL_VERDICT_REJECT, 550, "5.7.1", "a\tb", L, NULL, 0, false},
    {"text DEL", POL_VERDICT_REJECT, 550, "5.7.1", "a\x7f", L, NULL, 0, false},
    {"text 8-bit", POL_VERDICT_REJECT, 550, "5.7.1", "caf\xc3\xa9", L, NULL, 0,
     false},
    {"text NULL", POL_VERDICT_REJECT, 550, "5.7.1", NULL, 0, NULL, 0, false},
    {"header", POL_VERDICT_ACCEPT, 0, "", "", L, "X-A: b", 3, true},
    {"header empty value", POL_VERDICT_ACCEPT, 0, "", "", L, "X-A:", 3, true},
    {"header name space", POL_VERDICT_ACCEPT, 0, "", "", L, "X A: b", 3, false},
    {"header no name", POL_VERDICT_ACCEPT, 0, "", "", L, ": b", 0, false},
    {"header no colon", POL_VERDICT_ACCEPT, 0, "", "", L, "X-A b", 3, false},
    {"header CRLF", POL_VERDICT_ACCEPT, 0, "", "", L, "X-A: b\r\nBcc: c", 3,
     false},
};
/* clang-format on */

static void
test_verdict_validate(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(validate_cases); i++) {
        const struct validate_case *c = &validate_cases[i];
        struct pol_verdict v;
        char why[128];
        int rc;

        pol_verdict_init(&v, NULL, 0);
        v.action = c->action;
        v.code = c->code;
        snprintf(v.enhanced, sizeof(v.enhanced), "%s", c->enhanced);
        v.text = c->text;
        v.text_len = c->text_len == L ? strlen(c->text) : c->text_len;
        if (c->header != NULL) {
            v.headers[0].line = c->header;
            v.headers[0].len = strlen(c->header);
            v.headers[0].name_len = c->name_len;
            v.nheaders = 1;
        }
        why[0] = '\0';
        rc = pol_verdict_validate(&v, why, sizeof(why));
        if ((rc == POL_OK) != c->ok) {
            fail_msg("case '%s': rc %d (%s)", c->label, rc, why);
        }
        if (!c->ok && why[0] == '\0') {
            fail_msg("case '%s': no reason given", c->label);
        }
    }
}

static void
test_verdict_validate_upstream(void **state)
{
    struct pol_verdict v;

    (void)state;
    pol_verdict_init(&v, NULL, 0);
    v.flags = POL_VF_UPSTREAM;
    v.upstream = "legacy-1";
    assert_int_equal(pol_verdict_validate(&v, NULL, 0), POL_OK);
    v.upstream = "";
    assert_int_equal(pol_verdict_validate(&v, NULL, 0), POL_E_INVAL);
    v.upstream = "a b";
    assert_int_equal(pol_verdict_validate(&v, NULL, 0), POL_E_INVAL);
    assert_string_equal(pol_verdict_action_name(POL_VERDICT_DISCONNECT),
                        "disconnect");
    assert_string_equal(pol_tls_policy_name(POL_TLS_VERIFY), "verify");
    assert_string_equal(pol_stage_name(POL_STAGE_STARTTLS), "starttls");
    assert_string_equal(pol_stage_name(POL_STAGE_COUNT), "?");
    assert_int_equal(pol_stage_from_name("EOM", 3), POL_STAGE_EOM);
    assert_int_equal(pol_stage_from_name("eo", 2), POL_STAGE_COUNT);
    assert_int_equal(pol_stage_from_name("eomx", 3), POL_STAGE_EOM);
}

/* ---- expansion ---------------------------------------------------------- */

/* One rule at `stage` with `action`; evaluates it with f into v. */
static void
expand(const char *stage, const char *action, const struct pol_facts *f,
       struct pol_verdict *v, char *buf, size_t cap)
{
    struct pol_value_spec act = {action, {"p.yaml", 4, 13}};
    struct pol_rule_spec rule;
    struct pol_spec spec;
    struct pol_errors errs;
    struct pol_ruleset *rs;
    struct pol_env env;
    char why[128];

    memset(&rule, 0, sizeof(rule));
    memset(&spec, 0, sizeof(spec));
    memset(&env, 0, sizeof(env));
    rule.loc = (struct pol_loc){"p.yaml", 1, 5};
    rule.name = "r-1";
    rule.stage = stage;
    rule.actions = &act;
    rule.nactions = 1;
    spec.rules = &rule;
    spec.nrules = 1;
    rs = pol_compile(&spec, &errs);
    if (rs == NULL) {
        char line[600];

        pol_error_format(&errs.e[0], line, sizeof(line));
        fail_msg("%s", line);
    }
    pol_verdict_init(v, buf, cap);
    pol_eval(rs, pol_stage_from_name(stage, strlen(stage)), f, &env, v);
    if (pol_verdict_validate(v, why, sizeof(why)) != POL_OK) {
        fail_msg("'%s': invalid verdict: %s", action, why);
    }
    pol_ruleset_unref(rs);
}

#define S(s) ((struct pol_str){(const uint8_t *)(s), sizeof(s) - 1})

struct expand_case {
    const char *label;
    const char *stage;
    const char *action;
    const char *helo;
    size_t helo_len;
    const char *want_text;   /* reply text, or */
    const char *want_header; /* the header line */
};

/* clang-format off: one case per line or two */
static const struct expand_case expand_cases[] = {
    {"plain", "helo", "reject 550 5.7.1 \"HELO ${helo} refused\"", "mx.example",
     10, "HELO mx.example refused", NULL},
    {"CRLF injection", "helo", "reject 550 5.7.1 \"HELO ${helo}\"",
     "x\r\n250 OK\r\n", 12, "HELO x250 OK", NULL},
    {"bare LF and CR", "helo", "reject ${helo}", "a\nb\rc", 5, "abc", NULL},
    {"NUL", "helo", "reject <${helo}>", "a\0b", 3, "<ab>", NULL},
    {"all controls", "helo", "reject [${helo}]", "\x01\x02\x1b[31m\x7f\x1f", 9,
     "[[31m]", NULL},
    {"8-bit", "helo", "reject ${helo}", "caf\xc3\xa9", 5, "caf??", NULL},
    {"dollars", "helo", "reject 550 5.7.1 $$${helo}$$", "x", 1, "$x$", NULL},
    {"empty value", "helo", "reject <${helo}>", "", 0, "<>", NULL},
    {"absent value", "helo", "reject <${helo}>", NULL, 0, "<>", NULL},
    {"rule name", "helo", "reject by ${rule}", "x", 1, "by r-1", NULL},
    {"numbers and booleans", "eom",
     "reject ${message_size} ${header_count} ${saw_8bit} ${tls} ${size}", "x",
     1, "123456 7 true false ", NULL},
    {"client address", "connect", "reject ${client_address}:${client_port}",
     NULL, 0, "192.0.2.1:2525", NULL},
    {"header CRLF injection", "helo", "add_header X-Helo: ${helo}",
     "x\r\nBcc: victim@example.com", 26, NULL,
     "X-Helo: xBcc: victim@example.com"},
    {"header folding attempt", "helo", "add_header X-Helo: ${helo}", "a\r\n\tb",
     5, NULL, "X-Helo: ab"},
};
/* clang-format on */

static void
test_expand_hostile(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(expand_cases); i++) {
        const struct expand_case *c = &expand_cases[i];
        struct pol_facts f;
        struct pol_verdict v;
        char buf[POL_VERDICT_BUF_SIZE];
        char *helo = NULL;

        memset(&f, 0, sizeof(f));
        assert_int_equal(pol_addr_parse(&f.client_address, "192.0.2.1", 9),
                         POL_OK);
        f.client_port = 2525;
        f.message_size = 123456;
        f.header_count = 7;
        f.saw_8bit = true;
        if (c->helo != NULL) {
            helo = malloc(c->helo_len > 0 ? c->helo_len : 1);
            assert_non_null(helo);
            memcpy(helo, c->helo, c->helo_len);
            f.helo.p = (const uint8_t *)helo;
            f.helo.len = c->helo_len;
        }
        expand(c->stage, c->action, &f, &v, buf, sizeof(buf));
        if (c->want_text != NULL && strcmp(v.text, c->want_text) != 0) {
            fail_msg("case '%s': text '%s'", c->label, v.text);
        }
        if (c->want_header != NULL &&
            (v.nheaders != 1 ||
             strcmp(v.headers[0].line, c->want_header) != 0)) {
            fail_msg("case '%s': header '%s'", c->label,
                     v.nheaders > 0 ? v.headers[0].line : "(none)");
        }
        free(helo);
    }
}

/* A value of 1 MB made only of CR LF pairs and controls expands to nothing
 * at all; one of printable bytes is cut at the limits. */
static void
test_expand_long(void **state)
{
    size_t n = 1024 * 1024;
    uint8_t *big = malloc(n);
    struct pol_facts f;
    struct pol_verdict v;
    char buf[POL_VERDICT_BUF_SIZE];
    size_t i;

    (void)state;
    assert_non_null(big);
    for (i = 0; i < n; i++) {
        big[i] = (uint8_t)(i % 2 == 0 ? '\r' : (i % 7 == 0 ? '\0' : '\n'));
    }
    memset(&f, 0, sizeof(f));
    f.helo.p = big;
    f.helo.len = n;
    expand("helo", "reject 550 5.7.1 \"[${helo}]\"", &f, &v, buf, sizeof(buf));
    assert_string_equal(v.text, "[]");
    assert_int_equal(v.flags & POL_VF_TRUNCATED, 0);

    memset(big, 'x', n);
    expand("helo", "reject 550 5.7.1 \"[${helo}]\"", &f, &v, buf, sizeof(buf));
    assert_int_equal(v.text_len, POL_MAX_TEXT);
    assert_int_equal(v.text[0], '[');
    assert_int_equal(v.text[POL_MAX_TEXT - 1], 'x'); /* the ']' was cut */
    assert_true((v.flags & POL_VF_TRUNCATED) != 0);

    expand("helo", "add_header X-Helo: ${helo}", &f, &v, buf, sizeof(buf));
    assert_int_equal(v.nheaders, 1);
    assert_int_equal(v.headers[0].len, POL_MAX_HEADER_LINE);
    assert_int_equal(strlen(v.headers[0].line), POL_MAX_HEADER_LINE);
    assert_true((v.flags & POL_VF_TRUNCATED) != 0);

    /* a buffer smaller than the text: cut, and still NUL-terminated */
    expand("helo", "reject 550 5.7.1 \"[${helo}]\"", &f, &v, buf, 8);
    assert_string_equal(v.text, "[xxxxxx");
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict_validate),
        cmocka_unit_test(test_verdict_validate_upstream),
        cmocka_unit_test(test_expand_hostile),
        cmocka_unit_test(test_expand_long),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
