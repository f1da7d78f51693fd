/*
 * Unit tests for policy/pol_table.c and pol_list.c: the table file formats
 * (cidr:, pcre:, list:, exact:, domain:) with comments, blank lines, CRLF,
 * a byte order mark, and every kind of bad line reported as
 * FILE:LINE:COLUMN; lookups in each kind of table; domain tables' most
 * specific match; several errors in one file.
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

static char test_dir[64];

static const char *
write_file(const char *name, const char *content, size_t len)
{
    static char path[4][128];
    static unsigned next;
    char *p = path[next++ % 4];
    FILE *fp;

    snprintf(p, 128, "%s/%s", test_dir, name);
    fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(content, 1, len, fp), len);
    fclose(fp);
    return p;
}

/* One rule at stage `stage`: FACT table TYPE:FILE, with the action from
 * the table (action NULL) or its own. */
static struct pol_ruleset *
table_rule(const char *stage, const char *fact, const char *ref,
           const char *action, struct pol_errors *errs)
{
    struct pol_value_spec val = {ref, {"p.yaml", 3, 20}};
    struct pol_value_spec act = {action, {"p.yaml", 4, 13}};
    struct pol_cond_spec cond;
    struct pol_rule_spec rule;
    struct pol_spec spec;

    memset(&cond, 0, sizeof(cond));
    memset(&rule, 0, sizeof(rule));
    memset(&spec, 0, sizeof(spec));
    cond.loc = (struct pol_loc){"p.yaml", 3, 9};
    cond.fact = fact;
    cond.match = "table";
    cond.values = &val;
    cond.nvalues = 1;
    rule.loc = (struct pol_loc){"p.yaml", 1, 5};
    rule.name = "t";
    rule.stage = stage;
    rule.conds = &cond;
    rule.nconds = 1;
    rule.actions = &act;
    rule.nactions = action != NULL ? 1 : 0;
    spec.rules = &rule;
    spec.nrules = 1;
    return pol_compile(&spec, errs);
}

/* The verdict for one value of the fact: "action code text". */
static void
table_eval(struct pol_ruleset *rs, const char *stage, const char *fact,
           const char *value, char *out, size_t cap)
{
    struct pol_facts f;
    struct pol_verdict v;
    struct pol_env env;
    struct pol_str s = {(const uint8_t *)value, strlen(value)};
    char buf[512];
    enum pol_stage st = pol_stage_from_name(stage, strlen(stage));

    memset(&f, 0, sizeof(f));
    memset(&env, 0, sizeof(env));
    if (strcmp(fact, "client_address") == 0) {
        assert_int_equal(
            pol_addr_parse(&f.client_address, value, strlen(value)), POL_OK);
    } else if (strcmp(fact, "helo") == 0) {
        f.helo = s;
    } else if (strcmp(fact, "sender") == 0) {
        f.sender = s;
    } else if (strcmp(fact, "header_value") == 0) {
        f.header_value = s;
    } else {
        fail_msg("table_eval: fact %s", fact);
    }
    pol_verdict_init(&v, buf, sizeof(buf));
    pol_eval(rs, st, &f, &env, &v);
    snprintf(out, cap, "%s %u %s", pol_verdict_action_name(v.action), v.code,
             v.text);
}

/* ---- well-formed files -------------------------------------------------- */

struct lookup {
    const char *value;
    const char *want;
};

struct table_case {
    const char *label;
    const char *type;
    const char *stage;
    const char *fact;
    const char *content;
    size_t len; /* 0: strlen */
    struct lookup lookups[8];
};

/* clang-format off: one case per line or two */
static const struct table_case table_cases[] = {
    {"cidr with comments, blanks, CRLF and a BOM",
     "cidr",
     "connect",
     "client_address",
     "\xef\xbb\xbf# clients\r\n"
     "\r\n"
     "   # indented comment\n"
     "192.0.2.1\tOK\r\n"
     "\t192.0.2.0/24   REJECT   listed  \r\n"
     "2001:db8:1::/48 reject 550 5.7.1 \"more specific\"\n"
     "[2001:db8::]/32 DEFER v6 later\n"
     "::ffff:203.0.113.0/120 421 mapped pattern",
     0,
     {{"192.0.2.1", "accept 0 "},
      {"192.0.2.2", "reject 550 listed"},
      {"::ffff:192.0.2.3", "reject 550 listed"},
      {"192.0.3.1", "continue 0 "},
      {"2001:db8::1", "tempfail 450 v6 later"},
      {"2001:db8:1::1", "reject 550 more specific"},
      {"203.0.113.9", "disconnect 421 mapped pattern"},
      {NULL, NULL}}},
    {"cidr without trailing newline, /0 both families",
     "cidr",
     "connect",
     "client_address",
     "0.0.0.0/0 REJECT v4\n::/0 REJECT v6",
     0,
     {{"1.2.3.4", "reject 550 v4"},
      {"::1", "reject 550 v6"},
      {"::ffff:1.2.3.4", "reject 550 v4"},
      {NULL, NULL}}},
    {"pcre: delimiters, flags, negation, escapes",
     "pcre",
     "header",
     "header_value",
     "/^a\\/b$/ REJECT slash\n"
     "|^x{2,}$|i REJECT xs\n"
     "/(?-i)^Case$/i REJECT case\n"
     "!/^[[:print:]]*$/ REJECT unprintable\n"
     "/^$/ OK\n",
     0,
     {{"a/b", "reject 550 slash"},
      {"XXX", "reject 550 xs"},
      {"case", "continue 0 "},
      {"Case", "reject 550 case"},
      {"tab\there", "reject 550 unprintable"},
      {"", "accept 0 "},
      {"plain", "continue 0 "},
      {NULL, NULL}}},
    {"pcre: the first match in file order wins",
     "pcre",
     "header",
     "header_value",
     "/a/ REJECT first\n/ab/ REJECT second\n",
     0,
     {{"ab", "reject 550 first"}, {"b", "continue 0 "}, {NULL, NULL}}},
    {"list: case-insensitive keys",
     "list",
     "helo",
     "helo",
     "localhost REJECT no localhost\nLocalHost.LocalDomain REJECT no\n"
     "dup REJECT same\ndup REJECT same\n",
     0,
     {{"LOCALHOST", "reject 550 no localhost"},
      {"localhost.localdomain", "reject 550 no"},
      {"localhost.", "continue 0 "},
      {"dup", "reject 550 same"},
      {NULL, NULL}}},
    {"exact: byte for byte",
     "exact",
     "helo",
     "helo",
     "Mx REJECT exact\n",
     0,
     {{"Mx", "reject 550 exact"}, {"mx", "continue 0 "}, {NULL, NULL}}},
    {"domain: most specific wins, in any order",
     "domain",
     "mail",
     "sender",
     "example.com REJECT parent\n"
     "good.example.com OK\n"
     ".sub.example.org REJECT subs only\n"
     "EXAMPLE.NET. REJECT trailing dot\n",
     0,
     {{"a@example.com", "reject 550 parent"},
      {"a@x.example.com", "reject 550 parent"},
      {"a@good.example.com", "accept 0 "},
      {"a@x.good.example.com", "accept 0 "},
      {"a@sub.example.org", "continue 0 "},
      {"a@x.sub.example.org", "reject 550 subs only"},
      {"a@mx.example.net", "reject 550 trailing dot"},
      {"a@notexample.com", "continue 0 "}}},
};
/* clang-format on */

static void
test_table_files(void **state)
{
    size_t i;
    size_t j;

    (void)state;
    for (i = 0; i < NELEM(table_cases); i++) {
        const struct table_case *c = &table_cases[i];
        struct pol_errors *errs = calloc(1, sizeof(*errs));
        size_t len = c->len != 0 ? c->len : strlen(c->content);
        struct pol_ruleset *rs;
        char ref[200];
        char got[600];

        assert_non_null(errs);
        snprintf(ref, sizeof(ref), "%s:%s", c->type,
                 write_file("t", c->content, len));
        rs = table_rule(c->stage, c->fact, ref, NULL, errs);
        if (rs == NULL) {
            pol_error_format(&errs->e[0], got, sizeof(got));
            fail_msg("case '%s': %s", c->label, got);
        }
        for (j = 0; j < NELEM(c->lookups) && c->lookups[j].value != NULL; j++) {
            table_eval(rs, c->stage, c->fact, c->lookups[j].value, got,
                       sizeof(got));
            if (strcmp(got, c->lookups[j].want) != 0) {
                fail_msg("case '%s', '%s': got '%s', want '%s'", c->label,
                         c->lookups[j].value, got, c->lookups[j].want);
            }
        }
        pol_ruleset_unref(rs);
        free(errs);
    }
}

/* A table without actions is a set; the rule gives the action. */
static void
test_table_as_set(void **state)
{
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    struct pol_ruleset *rs;
    char ref[200];
    char got[200];

    (void)state;
    assert_non_null(errs);
    snprintf(ref, sizeof(ref), "domain:%s",
             write_file("t", "# freemail\ngmail.com\nyahoo.com\n", 30));
    rs = table_rule("mail", "sender", ref, "add_header X-Free: yes", errs);
    assert_non_null(rs);
    table_eval(rs, "mail", "sender", "a@gmail.com", got, sizeof(got));
    assert_string_equal(got, "continue 0 ");
    pol_ruleset_unref(rs);
    free(errs);
}

/* ---- bad files ---------------------------------------------------------- */

struct bad_case {
    const char *label;
    const char *type;
    const char *stage;
    const char *fact;
    const char *content;
    size_t len;
    const char *want; /* "%s" is the file; the first error */
    size_t count;     /* how many errors in all */
};

/* clang-format off: one case per line or two */
static const struct bad_case bad_cases[] = {
    {"cidr bad address", "cidr", "connect", "client_address",
     "# ok\n192.0.2.0/24 OK\n  192.0.2.300 REJECT\n", 0,
     "%s:3:3: bad CIDR '192.0.2.300': not an IPv4 or IPv6 address", 1},
    {"cidr every bad line", "cidr", "connect", "client_address",
     "1.2.3.4/33 OK\nok\n1.2.3.4 OK\n1.2.3.5 bogus\n::1/200 OK\n", 0,
     "%s:1:1: bad CIDR '1.2.3.4/33': the prefix length must be a number "
     "from 0 to 32",
     4},
    {"cidr bad action", "cidr", "connect", "client_address",
     "1.2.3.4   rejekt now\n", 0,
     "%s:1:11: unknown action 'rejekt' (accept, continue, reject, tempfail, "
     "disconnect, require_tls, upstream, tls_policy, add_header, set_limit)",
     1},
    {"cidr bad code", "cidr", "connect", "client_address",
     "1.2.3.4 REJECT 450 4.7.1 no\n", 0,
     "%s:1:16: reject needs a 5xx code (500-559)", 1},
    {"cidr specific after general", "cidr", "connect", "client_address",
     "10.0.0.0/8 REJECT\n10.1.0.0/16 OK\n", 0,
     "%s:2:1: inside the network of line 1, which comes first with a "
     "different action, so a first-match reader (Postfix) would never use "
     "this line: move it above line 1",
     1},
    {"cidr same network", "cidr", "connect", "client_address",
     "10.0.0.0/8 REJECT\n10.0.0.0/8 OK\n", 0,
     "%s:2:1: same network as line 1, with a different action", 1},
    {"cidr mapped vs v4 same network", "cidr", "connect", "client_address",
     "10.0.0.0/8 REJECT\n::ffff:10.0.0.0/104 OK\n", 0,
     "%s:2:1: same network as line 1, with a different action", 1},
    {"cidr NUL byte", "cidr", "connect", "client_address",
     "1.2.3.4 OK\n1.2.\0003.5 OK\n", 23, "%s:2:5: NUL byte in a table line", 1},
    {"pcre bad regex", "pcre", "header", "header_value",
     "/ok/ OK\n  /a(b/ REJECT\n", 0,
     "%s:2:7: bad regex at offset 3: missing closing parenthesis", 1},
    {"pcre no closing delimiter", "pcre", "header", "header_value",
     "/abc REJECT\n", 0, "%s:1:1: missing the closing '/' of the regex", 1},
    {"pcre no delimiter", "pcre", "header", "header_value", "abc REJECT\n", 0,
     "%s:1:1: expected /regex/flags", 1},
    {"pcre bad flag", "pcre", "header", "header_value", "/abc/iz REJECT\n", 0,
     "%s:1:7: unknown regex flag 'z' (i m s x U u)", 1},
    {"pcre (*UTF) without u", "pcre", "header", "header_value",
     "/(*UTF)x/ REJECT\n", 0,
     "%s:1:8: bad regex at offset 6: using UTF is disabled by the "
     "application",
     1},
    {"list different actions", "list", "helo", "helo", "a REJECT\nA OK\n", 0,
     "%s:2:1: same key as line 1, with a different "
     "action",
     1},
    {"domain bad name", "domain", "mail", "sender", "exa_mple.com OK\n..x OK\n",
     0,
     "%s:2:1: not a domain name: use letters, digits, '-' and dots, like "
     "example.com or .example.com",
     1},
    {"domain subs vs self", "domain", "mail", "sender",
     ".example.com REJECT\nexample.com OK\n", 0,
     "%s:2:1: same key as line 1, with a different action", 1},
};
/* clang-format on */

/* fmt with its one "%s" replaced by path */
static void
subst(char *out, size_t cap, const char *fmt, const char *path)
{
    const char *at = strstr(fmt, "%s");

    assert_non_null(at);
    snprintf(out, cap, "%.*s%s%s", (int)(at - fmt), fmt, path, at + 2);
}

static void
test_table_bad_files(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct pol_errors *errs = calloc(1, sizeof(*errs));
        size_t len = c->len != 0 ? c->len : strlen(c->content);
        const char *path = write_file("bad", c->content, len);
        struct pol_ruleset *rs;
        char ref[200];
        char got[600];
        char want[600];

        assert_non_null(errs);
        snprintf(ref, sizeof(ref), "%s:%s", c->type, path);
        rs = table_rule(c->stage, c->fact, ref, NULL, errs);
        if (rs != NULL) {
            pol_ruleset_unref(rs);
            fail_msg("case '%s': compiled", c->label);
        }
        pol_error_format(&errs->e[0], got, sizeof(got));
        subst(want, sizeof(want), c->want, path);
        if (strcmp(got, want) != 0 || errs->count != c->count) {
            fail_msg("case '%s':\n   got %s (%zu errors)\n  want %s (%zu)",
                     c->label, got, errs->count, want, c->count);
        }
        free(errs);
    }
}

static void
test_table_long_line(void **state)
{
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    size_t n = POL_MAX_TABLE_LINE + 10;
    char *text = malloc(n + 20);
    const char *path;
    char ref[200];
    char got[600];
    char want[600];

    (void)state;
    assert_non_null(errs);
    assert_non_null(text);
    memcpy(text, "x OK\n", 5);
    memset(text + 5, 'a', n);
    memcpy(text + 5 + n, "\ny OK\n", 6);
    path = write_file("long", text, n + 11);
    snprintf(ref, sizeof(ref), "list:%s", path);
    assert_null(table_rule("helo", "helo", ref, NULL, errs));
    pol_error_format(&errs->e[0], got, sizeof(got));
    snprintf(want, sizeof(want), "%s:2:%u: line longer than %u bytes", path,
             POL_MAX_TABLE_LINE + 1, POL_MAX_TABLE_LINE);
    assert_string_equal(got, want);
    assert_int_equal(errs->count, 1);
    free(text);
    free(errs);
}

static int
setup_dir(void **state)
{
    (void)state;
    snprintf(test_dir, sizeof(test_dir), "/tmp/test_pol_table.XXXXXX");
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
        cmocka_unit_test(test_table_files),
        cmocka_unit_test(test_table_as_set),
        cmocka_unit_test(test_table_bad_files),
        cmocka_unit_test(test_table_long_line),
    };

    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
