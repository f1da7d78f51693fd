/*
 * Unit tests for policy/pol_compile.c and the action grammar: every error
 * an administrator can make in a rule, with its exact SOURCE:LINE:COLUMN
 * and message; whole-policy checks (rules that can never run, duplicate
 * names, limits); table references (unreadable files with strerror, bad
 * types, actions in the wrong place); the error list's bound.
 *
 * Positions: rule i (from 0) is at line 10(i+1) column 5 of policy.yaml,
 * its stage at line +1 column 14, condition k at line +2+k column 9 with
 * values at columns 20, 30...; action k at line +9+k column 13.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#include "tests/unit/pol_spec_builder.h"

/* Compiles b, which must fail, and returns the first error formatted. */
static void
tb_fail(struct tb *b, char *out, size_t cap, size_t *count)
{
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    struct pol_ruleset *rs;

    assert_non_null(errs);
    rs = pol_compile(&b->spec, errs);
    if (rs != NULL) {
        pol_ruleset_unref(rs);
        free(errs);
        snprintf(out, cap, "(compiled without error)");
        return;
    }
    assert_true(errs->count > 0);
    pol_error_format(&errs->e[0], out, cap);
    if (count != NULL) {
        *count = errs->count;
    }
    free(errs);
}

static void
tb_ok(struct tb *b)
{
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    struct pol_ruleset *rs;
    char line[600];

    assert_non_null(errs);
    rs = pol_compile(&b->spec, errs);
    if (rs == NULL) {
        pol_error_format(&errs->e[0], line, sizeof(line));
        fail_msg("unexpected error: %s", line);
    }
    assert_int_equal(errs->count, 0);
    pol_ruleset_unref(rs);
    free(errs);
}

/* ---- one rule, one condition, up to two actions ------------------------- */

struct err_case {
    const char *label;
    const char *stage;
    const char *fact; /* NULL: no condition */
    const char *match;
    const char *flags;
    const char *value; /* NULL: no value */
    const char *action1;
    const char *action2;
    const char *want; /* the formatted first error */
};

/* clang-format off: one case per line or two */
static const struct err_case err_cases[] = {
    {"stage unknown", "hello", "helo", NULL, NULL, "x", "accept", NULL,
     "policy.yaml:11:14: unknown stage 'hello' (connect, helo, starttls, "
     "auth, mail, rcpt, header, eom)"},
    {"stage missing", NULL, "helo", NULL, NULL, "x", "accept", NULL,
     "policy.yaml:11:14: rule r has no stage"},
    {"fact unknown", "helo", "hlo", NULL, NULL, "x", "accept", NULL,
     "policy.yaml:12:9: unknown fact 'hlo'"},
    {"fact too early", "mail", "rcpt", NULL, NULL, "x", "accept", NULL,
     "policy.yaml:12:9: fact 'rcpt' is not known at stage mail (only from "
     "rcpt to rcpt)"},
    {"fact too late", "eom", "header_value", "regex", NULL, "x", "accept", NULL,
     "policy.yaml:12:9: fact 'header_value' is not known at stage eom (only "
     "from header to header)"},
    {"helo at connect", "connect", "helo", NULL, NULL, "x", "accept", NULL,
     "policy.yaml:12:9: fact 'helo' is not known at stage connect (only "
     "from helo to eom)"},
    {"match unknown", "helo", "helo", "regexp", NULL, "x", "accept", NULL,
     "policy.yaml:12:9: unknown match 'regexp' (regex, eq, ieq, domain, "
     "cidr, table, cmp, is, present, rate, connections)"},
    {"cidr on a string", "helo", "helo", "cidr", NULL, "10.0.0.0/8", "accept",
     NULL, "policy.yaml:12:9: 'cidr' cannot match fact 'helo'"},
    {"domain on listener", "connect", "listener", "domain", NULL, "x", "accept",
     NULL, "policy.yaml:12:9: 'domain' cannot match fact 'listener'"},
    {"cmp on a string", "helo", "helo", "cmp", NULL, "> 1", "accept", NULL,
     "policy.yaml:12:9: 'cmp' cannot match fact 'helo'"},
    {"is on a number", "mail", "size", "is", NULL, "true", "accept", NULL,
     "policy.yaml:12:9: 'is' cannot match fact 'size'"},
    {"connections on sender", "mail", "sender", "connections", NULL, "> 1",
     "accept", NULL,
     "policy.yaml:12:9: 'connections' cannot match fact 'sender'"},
    {"regex open paren", "helo", "helo", "regex", NULL, "a(b", "accept", NULL,
     "policy.yaml:12:23: bad regex at offset 3: missing closing parenthesis"},
    {"regex close paren", "helo", "helo", "regex", NULL, "ab)", "accept", NULL,
     "policy.yaml:12:22: bad regex at offset 2: unmatched closing "
     "parenthesis"},
    {"regex (*UTF) refused", "helo", "helo", "regex", NULL, "(*UTF)a", "accept",
     NULL,
     "policy.yaml:12:26: bad regex at offset 6: using UTF is disabled by the "
     "application"},
    {"regex flag", "helo", "helo", "regex", "iq", "a", "accept", NULL,
     "policy.yaml:12:9: unknown regex flag 'q' (i m s x U u)"},
    {"flags not regex", "helo", "helo", "ieq", "i", "a", "accept", NULL,
     "policy.yaml:12:9: flags are for regex matches only"},
    {"cidr bad address", "connect", "client_address", "cidr", NULL,
     "10.0.0.300/8", "accept", NULL,
     "policy.yaml:12:20: bad CIDR '10.0.0.300/8': not an IPv4 or IPv6 "
     "address"},
    {"cidr host bits", "connect", "client_address", "cidr", NULL, "10.1.0.0/8",
     "accept", NULL,
     "policy.yaml:12:20: bad CIDR '10.1.0.0/8': the address has bits set "
     "after the prefix length (write the network address)"},
    {"cidr /33", "connect", "client_address", "cidr", NULL, "10.0.0.0/33",
     "accept", NULL,
     "policy.yaml:12:20: bad CIDR '10.0.0.0/33': the prefix length must be "
     "a number from 0 to 32"},
    {"cidr /129", "connect", "client_address", "cidr", NULL, "::/129", "accept",
     NULL,
     "policy.yaml:12:20: bad CIDR '::/129': the prefix length must be a "
     "number from 0 to 128"},
    {"cidr empty prefix", "connect", "client_address", "cidr", NULL,
     "10.0.0.0/", "accept", NULL,
     "policy.yaml:12:20: bad CIDR '10.0.0.0/': the prefix length must be a "
     "number from 0 to 32"},
    {"cmp operator", "mail", "size", "cmp", NULL, "~ 5", "accept", NULL,
     "policy.yaml:12:20: expected a comparison: < <= == != >= > and a "
     "number"},
    {"cmp unit", "mail", "size", "cmp", NULL, "> 5X", "accept", NULL,
     "policy.yaml:12:22: unknown size unit (use K, M, G or T)"},
    {"cmp overflow", "mail", "size", "cmp", NULL, "> 99999999999999999999",
     "accept", NULL, "policy.yaml:12:22: number too large"},
    {"is value", "mail", "tls", "is", NULL, "maybe", "accept", NULL,
     "policy.yaml:12:20: expected true or false"},
    {"rate unit", "mail", "sender", "rate", NULL, "10/1y", "accept", NULL,
     "policy.yaml:12:23: bad rate: unknown duration unit (use ms, s, m, h "
     "or d) (like 100/1h or 30/1m burst 60)"},
    {"rate zero", "mail", "sender", "rate", NULL, "0/1m", "accept", NULL,
     "policy.yaml:12:20: bad rate: the count must be from 1 to 1000000000 "
     "(like 100/1h or 30/1m burst 60)"},
    {"rate burst", "mail", "sender", "rate", NULL, "10/1m burst", "accept",
     NULL,
     "policy.yaml:12:31: bad rate: the burst must be from 1 to 1000000000 "
     "(like 100/1h or 30/1m burst 60)"},
    {"present value", "connect", "reverse_name", "present", NULL, "x", "accept",
     NULL, "policy.yaml:12:9: 'present' takes no value"},
    {"no value", "helo", "helo", "ieq", NULL, NULL, "accept", NULL,
     "policy.yaml:12:9: 'ieq' needs a value"},
    {"domain value", "helo", "helo", "domain", NULL, "exa mple.com", "accept",
     NULL,
     "policy.yaml:12:20: not a domain name: use letters, digits, '-' and "
     "dots, like example.com or .example.com"},
    /* actions */
    {"action unknown", "helo", NULL, NULL, NULL, NULL, "rejekt 550", NULL,
     "policy.yaml:19:13: unknown action 'rejekt' (accept, continue, reject, "
     "tempfail, disconnect, require_tls, upstream, tls_policy, add_header, "
     "set_limit)"},
    {"action empty", "helo", NULL, NULL, NULL, NULL, "  ", NULL,
     "policy.yaml:19:15: missing action"},
    {"reject 4xx", "helo", NULL, NULL, NULL, NULL, "reject 450 no", NULL,
     "policy.yaml:19:20: reject needs a 5xx code (500-559)"},
    {"tempfail 5xx", "helo", NULL, NULL, NULL, NULL, "tempfail 550", NULL,
     "policy.yaml:19:22: tempfail needs a 4xx code (400-459)"},
    {"tempfail 421", "helo", NULL, NULL, NULL, NULL, "tempfail 421", NULL,
     "policy.yaml:19:22: 421 closes the connection: use disconnect"},
    {"disconnect 554", "helo", NULL, NULL, NULL, NULL, "disconnect 554", NULL,
     "policy.yaml:19:24: disconnect needs the code 421"},
    {"bare code 3xx", "helo", NULL, NULL, NULL, NULL, "354 go on", NULL,
     "policy.yaml:19:13: a reply code action must be 4xx or 5xx"},
    {"class mismatch", "helo", NULL, NULL, NULL, NULL, "reject 550 4.7.1 x",
     NULL,
     "policy.yaml:19:20: the enhanced status code's class differs from the "
     "reply code's"},
    {"bare code class mismatch", "helo", NULL, NULL, NULL, NULL, "451 5.7.1 x",
     NULL,
     "policy.yaml:19:13: the enhanced status code's class differs from the "
     "reply code's"},
    {"enhanced short", "helo", NULL, NULL, NULL, NULL, "reject 550 5.7 x", NULL,
     "policy.yaml:19:24: bad enhanced status code (RFC 3463: "
     "class.subject.detail, like 5.7.1)"},
    {"enhanced long", "helo", NULL, NULL, NULL, NULL, "reject 550 5.7.1234 x",
     NULL,
     "policy.yaml:19:24: bad enhanced status code (RFC 3463: "
     "class.subject.detail, like 5.7.1)"},
    {"enhanced garbage", "helo", NULL, NULL, NULL, NULL, "tempfail 451 4.x.1 x",
     NULL,
     "policy.yaml:19:26: bad enhanced status code (RFC 3463: "
     "class.subject.detail, like 5.7.1)"},
    {"unterminated quote", "helo", NULL, NULL, NULL, NULL,
     "reject 550 5.7.1 \"abc", NULL,
     "policy.yaml:19:30: unterminated quoted text"},
    {"after quote", "helo", NULL, NULL, NULL, NULL,
     "reject 550 5.7.1 \"abc\" d", NULL,
     "policy.yaml:19:35: unexpected text after the quoted text"},
    {"control in text", "helo", NULL, NULL, NULL, NULL,
     "reject 550 5.7.1 a\001b", NULL,
     "policy.yaml:19:31: text holds a control or non-ASCII byte (0x01)"},
    {"CR in quoted text", "helo", NULL, NULL, NULL, NULL, "reject \"a\rb\"",
     NULL, "policy.yaml:19:22: text holds a control or non-ASCII byte (0x0d)"},
    {"8-bit in text", "helo", NULL, NULL, NULL, NULL, "reject caf\xc3\xa9",
     NULL, "policy.yaml:19:23: text holds a control or non-ASCII byte (0xc3)"},
    {"dollar", "helo", NULL, NULL, NULL, NULL, "reject 550 5.7.1 costs $5",
     NULL, "policy.yaml:19:36: '$' starts ${variable}; write $$ for a '$'"},
    {"unknown variable", "helo", NULL, NULL, NULL, NULL,
     "reject 550 5.7.1 ${helo_name}", NULL,
     "policy.yaml:19:32: unknown variable ${helo_name}"},
    {"unterminated variable", "helo", NULL, NULL, NULL, NULL,
     "reject 550 5.7.1 ${helo", NULL,
     "policy.yaml:19:30: unterminated ${variable}"},
    {"variable too early", "helo", NULL, NULL, NULL, NULL,
     "reject 550 5.7.1 ${sender}", NULL,
     "policy.yaml:19:13: ${sender} is not known at stage helo (only from "
     "mail to eom)"},
    {"text too long", "helo", NULL, NULL, NULL, NULL,
     "reject 550 5.7.1 "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
     NULL, "policy.yaml:19:30: reply text longer than 400 characters"},
    {"add_header at eom", "eom", NULL, NULL, NULL, NULL, "add_header X: y",
     NULL,
     "policy.yaml:19:13: 'add_header X: y' cannot be used at stage eom (only "
     "from connect to header)"},
    {"upstream at header", "header", NULL, NULL, NULL, NULL, "upstream u", NULL,
     "policy.yaml:19:13: 'upstream u' cannot be used at stage header (only "
     "from connect to rcpt)"},
    {"require_tls at rcpt", "rcpt", NULL, NULL, NULL, NULL, "require_tls", NULL,
     "policy.yaml:19:13: 'require_tls' cannot be used at stage rcpt (only "
     "from connect to mail)"},
    {"header name space", "helo", NULL, NULL, NULL, NULL, "add_header X Y: z",
     NULL,
     "policy.yaml:19:25: a header name is printable ASCII without spaces"},
    {"header no colon", "helo", NULL, NULL, NULL, NULL, "add_header X-Y z",
     NULL, "policy.yaml:19:24: add_header needs \"Name: value\""},
    {"upstream name", "mail", NULL, NULL, NULL, NULL, "upstream a/b", NULL,
     "policy.yaml:19:22: upstream needs a name (1-63 of A-Z a-z 0-9 . _ -)"},
    {"upstream extra", "mail", NULL, NULL, NULL, NULL, "upstream a b", NULL,
     "policy.yaml:19:24: unexpected text after the action"},
    {"tls_policy word", "mail", NULL, NULL, NULL, NULL, "tls_policy dane", NULL,
     "policy.yaml:19:24: tls_policy must be may, encrypt or verify"},
    {"set_limit what", "mail", NULL, NULL, NULL, NULL, "set_limit size 1M",
     NULL, "policy.yaml:19:23: set_limit needs message_size or recipients"},
    {"set_limit zero", "mail", NULL, NULL, NULL, NULL, "set_limit recipients 0",
     NULL, "policy.yaml:19:34: set_limit: the value is out of range"},
    {"two terminal", "mail", NULL, NULL, NULL, NULL, "accept",
     "reject 550 5.7.1 x",
     "policy.yaml:20:13: a rule has at most one terminal action"},
    {"two upstreams", "mail", NULL, NULL, NULL, NULL, "upstream a",
     "upstream b",
     "policy.yaml:20:13: this action is already given in this "
     "rule"},
    {"no action", "mail", "sender", NULL, NULL, "x", NULL, NULL,
     "policy.yaml:10:5: rule r has no action: give one, or use a table whose "
     "lines carry actions"},
};
/* clang-format on */

static void
test_compile_rule_errors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(err_cases); i++) {
        const struct err_case *c = &err_cases[i];
        struct tb *b = tb_new();
        char got[600];

        tb_rule(b, "r", c->stage);
        if (c->fact != NULL) {
            tb_cond(b, c->fact, c->match, false, c->flags, c->value, NULL);
        }
        if (c->action1 != NULL) {
            tb_act(b, c->action1);
        }
        if (c->action2 != NULL) {
            tb_act(b, c->action2);
        }
        tb_fail(b, got, sizeof(got), NULL);
        if (strcmp(got, c->want) != 0) {
            fail_msg("case '%s':\n   got %s\n  want %s", c->label, got,
                     c->want);
        }
        free(b);
    }
}

/* The same grammar accepts all of these. */
static void
test_compile_actions_ok(void **state)
{
    static const char *const ok[] = {
        "accept",
        "OK",
        "continue",
        "DUNNO",
        "reject",
        "REJECT go away",
        "reject 554",
        "reject 554 5.7.1",
        "reject 554 5.7.1 \"quoted \\\"text\\\" and \\\\\"",
        "reject 550 5.7.1 ${client_address} ${helo} ${rule} $$5",
        "tempfail",
        "defer 451 4.3.2 later",
        "disconnect",
        "disconnect 421 4.7.0 bye",
        "550 5.7.1 Postfix style",
        "reject 550 192.0.2.1 is listed",
        "reject 550 5 stars",
        "450 later",
        "421 bye",
        "require_tls",
        "tls_policy VERIFY",
        "upstream mx-2.internal",
        "add_header X-Policy: helo=${helo}",
        "prepend \"X-Quoted: a b\"",
        "add_header X-Empty:",
        "set_limit message_size 10M",
        "set_limit recipients 50",
        "  reject  \t 550   5.7.1   spaced out  ",
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(ok); i++) {
        struct tb *b = tb_new();
        struct pol_errors *errs = calloc(1, sizeof(*errs));
        struct pol_ruleset *rs;

        assert_non_null(errs);
        tb_rule(b, "r", "helo");
        tb_act(b, ok[i]);
        rs = pol_compile(&b->spec, errs);
        if (rs == NULL) {
            char line[600];

            pol_error_format(&errs->e[0], line, sizeof(line));
            fail_msg("'%s': %s", ok[i], line);
        }
        pol_ruleset_unref(rs);
        free(errs);
        free(b);
    }
}

/* ---- whole-policy checks ------------------------------------------------ */

static void
test_compile_unreachable(void **state)
{
    struct tb *b = tb_new();
    char got[600];

    (void)state;
    tb_rule(b, "first", "helo");
    tb_cond(b, "helo", NULL, false, NULL, "x", NULL);
    tb_act(b, "reject");
    tb_rule(b, "catch-all", "helo");
    tb_act(b, "add_header X-A: b"); /* not terminal: fine */
    tb_rule(b, "stop", "helo");
    tb_act(b, "accept");
    tb_rule(b, "other-stage", "mail"); /* another stage: fine */
    tb_act(b, "reject");
    tb_rule(b, "dead", "helo");
    tb_cond(b, "helo", NULL, false, NULL, "y", NULL);
    tb_act(b, "reject");
    tb_fail(b, got, sizeof(got), NULL);
    assert_string_equal(got, "policy.yaml:50:5: rule dead can never run: rule "
                             "stop (policy.yaml:30) before it at stage helo "
                             "has no condition and always decides");
    free(b);

    /* without the dead rule, it compiles */
    b = tb_new();
    tb_rule(b, "stop", "helo");
    tb_act(b, "accept");
    tb_rule(b, "other-stage", "mail");
    tb_act(b, "reject");
    tb_ok(b);
    free(b);
}

static void
test_compile_names(void **state)
{
    struct tb *b = tb_new();
    char got[600];

    (void)state;
    tb_rule(b, "same", "helo");
    tb_act(b, "add_header X-A: b");
    tb_rule(b, "other", "mail");
    tb_act(b, "add_header X-A: b");
    tb_rule(b, "same", "mail");
    tb_act(b, "add_header X-A: b");
    tb_fail(b, got, sizeof(got), NULL);
    assert_string_equal(got, "policy.yaml:30:5: another rule is named same "
                             "(policy.yaml:10): names must be unique");
    free(b);

    b = tb_new();
    tb_rule(b, "bad name", "helo");
    tb_act(b, "accept");
    tb_fail(b, got, sizeof(got), NULL);
    assert_string_equal(got, "policy.yaml:10:5: a rule name is 1 to 128 "
                             "printable characters without blanks, quotes or "
                             "backslashes");
    free(b);

    /* default names are SOURCE:LINE and unique by construction */
    b = tb_new();
    tb_rule(b, NULL, "helo");
    tb_act(b, "add_header X-A: b");
    tb_rule(b, "", "helo");
    tb_act(b, "add_header X-A: b");
    tb_ok(b);
    free(b);
}

static void
test_compile_upstreams(void **state)
{
    static const char *const ups[] = {"main", "legacy"};
    struct tb *b = tb_new();
    char got[600];

    (void)state;
    b->spec.upstreams = ups;
    b->spec.nupstreams = 2;
    tb_rule(b, "r", "rcpt");
    tb_act(b, "upstream legacy");
    tb_rule(b, "s", "rcpt");
    tb_act(b, "upstream nope");
    tb_fail(b, got, sizeof(got), NULL);
    assert_string_equal(got, "policy.yaml:29:13: unknown upstream 'nope'");
    free(b);
}

static void
test_compile_all_errors_reported(void **state)
{
    struct tb *b = tb_new();
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    size_t i;

    (void)state;
    assert_non_null(errs);
    for (i = 0; i < 40; i++) {
        tb_rule(b, NULL, "bogus");
        tb_act(b, "accept");
    }
    assert_null(pol_compile(&b->spec, errs));
    assert_int_equal(errs->count, POL_MAX_ERRORS);
    assert_int_equal(errs->dropped, 40 - POL_MAX_ERRORS);
    assert_int_equal(errs->e[5].line, 61);
    /* errs may be NULL */
    assert_null(pol_compile(&b->spec, NULL));
    assert_null(pol_compile(NULL, errs));
    assert_int_equal(errs->count, 1);
    assert_string_equal(errs->e[0].message, "no policy given");
    free(errs);
    free(b);

    /* an empty policy is valid and decides nothing */
    b = tb_new();
    tb_ok(b);
    free(b);
}

static void
test_compile_error_format(void **state)
{
    struct pol_error e;
    char buf[64];
    char path[400];

    (void)state;
    memset(&e, 0, sizeof(e));
    strcpy(e.source, "a.yaml");
    strcpy(e.message, "boom");
    e.line = 3;
    e.column = 7;
    assert_int_equal(pol_error_format(&e, buf, sizeof(buf)), 16);
    assert_string_equal(buf, "a.yaml:3:7: boom");
    e.column = 0;
    pol_error_format(&e, buf, sizeof(buf));
    assert_string_equal(buf, "a.yaml:3: boom");
    e.line = 0;
    pol_error_format(&e, buf, sizeof(buf));
    assert_string_equal(buf, "a.yaml: boom");
    assert_int_equal(pol_error_format(&e, buf, 4), 12);
    assert_string_equal(buf, "a.y");

    /* a very long source keeps its end */
    {
        struct tb *b = tb_new();
        struct pol_errors *errs = calloc(1, sizeof(*errs));

        assert_non_null(errs);
        memset(path, 'd', sizeof(path));
        memcpy(path + sizeof(path) - 12, "/policy.yml", 12);
        tb_rule(b, "r", "nope");
        b->rules[0].stage_loc.source = path;
        assert_null(pol_compile(&b->spec, errs));
        assert_int_equal(strlen(errs->e[0].source), POL_ERR_SOURCE_MAX - 1);
        assert_memory_equal(errs->e[0].source, "...", 3);
        assert_string_equal(errs->e[0].source + POL_ERR_SOURCE_MAX - 12,
                            "/policy.yml");
        free(errs);
        free(b);
    }
}

/* ---- table references --------------------------------------------------- */

static char test_dir[64];

static const char *
write_file(const char *name, const char *content)
{
    static char path[8][128];
    static unsigned next;
    char *p = path[next++ % 8];
    FILE *fp;

    snprintf(p, 128, "%s/%s", test_dir, name);
    fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(content, 1, strlen(content), fp), strlen(content));
    fclose(fp);
    return p;
}

static void
test_compile_table_refs(void **state)
{
    struct tb *b;
    char got[600];
    char want[600];
    char ref[200];
    char ref2[200];
    const char *p;

    (void)state;
    /* unreadable: the config position and strerror */
    b = tb_new();
    snprintf(ref, sizeof(ref), "cidr:%s/missing.cidr", test_dir);
    tb_rule(b, "r", "connect");
    tb_cond(b, "client_address", "table", false, NULL, ref, NULL);
    tb_act(b, "reject");
    tb_fail(b, got, sizeof(got), NULL);
    snprintf(want, sizeof(want),
             "policy.yaml:12:20: cannot open table %s/missing.cidr: No such "
             "file or directory",
             test_dir);
    assert_string_equal(got, want);
    free(b);

    /* a directory is not a table */
    b = tb_new();
    snprintf(ref, sizeof(ref), "list:%s", test_dir);
    tb_rule(b, "r", "helo");
    tb_cond(b, "helo", "table", false, NULL, ref, NULL);
    tb_act(b, "reject");
    tb_fail(b, got, sizeof(got), NULL);
    snprintf(want, sizeof(want),
             "policy.yaml:12:20: table %s is not a regular file", test_dir);
    assert_string_equal(got, want);
    free(b);

    /* unknown type */
    b = tb_new();
    tb_rule(b, "r", "helo");
    tb_cond(b, "helo", "table", false, NULL, "hash:/etc/x", NULL);
    tb_act(b, "reject");
    tb_fail(b, got, sizeof(got), NULL);
    assert_string_equal(got, "policy.yaml:12:20: a table is TYPE:PATH with "
                             "TYPE cidr, pcre, list, exact or domain");
    free(b);

    /* a cidr table on a string fact */
    p = write_file("nets.cidr", "10.0.0.0/8\n");
    snprintf(ref, sizeof(ref), "cidr:%s", p);
    b = tb_new();
    tb_rule(b, "r", "helo");
    tb_cond(b, "helo", "table", false, NULL, ref, NULL);
    tb_act(b, "reject");
    tb_fail(b, got, sizeof(got), NULL);
    assert_string_equal(got, "policy.yaml:12:20: a cidr table cannot match "
                             "fact 'helo'");
    free(b);

    /* relative paths are taken from base_dir */
    b = tb_new();
    b->spec.base_dir = test_dir;
    tb_rule(b, "r", "connect");
    tb_cond(b, "client_address", "table", false, NULL, "cidr:nets.cidr", NULL);
    tb_act(b, "reject");
    tb_ok(b);
    free(b);

    /* a table with actions, and a rule with its own action */
    p = write_file("acts.list", "# comment\nlocalhost\nexample REJECT\n");
    snprintf(ref, sizeof(ref), "list:%s", p);
    b = tb_new();
    tb_rule(b, "r", "helo");
    tb_cond(b, "helo", "table", false, NULL, ref, NULL);
    tb_act(b, "reject");
    tb_fail(b, got, sizeof(got), NULL);
    snprintf(want, sizeof(want),
             "%s:3: this table's lines carry actions, but rule r "
             "(policy.yaml:10) gives its own: remove one or the other",
             p);
    assert_string_equal(got, want);
    free(b);

    /* ... and the same table giving the action: line 2 has none */
    b = tb_new();
    tb_rule(b, "r", "helo");
    tb_cond(b, "helo", "table", false, NULL, ref, NULL);
    tb_fail(b, got, sizeof(got), NULL);
    snprintf(want, sizeof(want),
             "%s:2: no action on this line, but this table gives rule r "
             "(policy.yaml:10) its action",
             p);
    assert_string_equal(got, want);
    free(b);

    /* a table action that is wrong at the rule's stage */
    p = write_file("late.list", "x add_header X-A: b\n");
    snprintf(ref, sizeof(ref), "list:%s", p);
    b = tb_new();
    tb_rule(b, "r", "eom");
    tb_cond(b, "body", "table", false, NULL, ref, NULL);
    tb_fail(b, got, sizeof(got), NULL);
    snprintf(want, sizeof(want),
             "%s:1: 'add_header X-A: b' cannot be used at stage eom (only "
             "from connect to header)",
             p);
    assert_string_equal(got, want);
    free(b);

    /* a negated table cannot give the action */
    p = write_file("ok.list", "x OK\n");
    snprintf(ref, sizeof(ref), "list:%s", p);
    b = tb_new();
    tb_rule(b, "r", "helo");
    tb_cond(b, "helo", "table", true, NULL, ref, NULL);
    tb_fail(b, got, sizeof(got), NULL);
    snprintf(want, sizeof(want),
             "%s:1: this table's actions cannot give rule r (policy.yaml:10) "
             "its action: only one non-negated table condition may",
             p);
    assert_string_equal(got, want);
    free(b);

    /* one table file read once for two rules; two tables in one condition */
    snprintf(ref2, sizeof(ref2), "list:%s",
             write_file("more.list", "y REJECT\n"));
    b = tb_new();
    tb_rule(b, "r1", "helo");
    tb_cond(b, "helo", "table", false, NULL, ref, ref2, NULL);
    tb_rule(b, "r2", "mail");
    tb_cond(b, "sender", "table", false, NULL, ref, NULL);
    tb_ok(b);
    free(b);
}

static int
setup_dir(void **state)
{
    (void)state;
    snprintf(test_dir, sizeof(test_dir), "/tmp/test_pol_compile.XXXXXX");
    return mkdtemp(test_dir) != NULL ? 0 : -1;
}

static int
teardown_dir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_rule_errors),
        cmocka_unit_test(test_compile_actions_ok),
        cmocka_unit_test(test_compile_unreachable),
        cmocka_unit_test(test_compile_names),
        cmocka_unit_test(test_compile_upstreams),
        cmocka_unit_test(test_compile_all_errors_reported),
        cmocka_unit_test(test_compile_error_format),
        cmocka_unit_test(test_compile_table_refs),
    };

    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
