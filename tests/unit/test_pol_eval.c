/*
 * Unit tests for policy/pol_eval.c (through the public API): every match
 * kind on every kind of fact, negation and absent facts, rule order and
 * first-decisive-wins, accumulation of non-terminal actions (first wins
 * for single settings), actions taken from table lines, the trace, rate()
 * and connections() with the in-process store, and the verdict buffer.
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
#define PS(s) ((struct pol_str){(const uint8_t *)(s), sizeof(s) - 1})

#include "tests/unit/pol_spec_builder.h"

static struct pol_ruleset *
tb_compile(struct tb *b)
{
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    struct pol_ruleset *rs;
    char line[600];
    size_t i;

    assert_non_null(errs);
    rs = pol_compile(&b->spec, errs);
    for (i = 0; rs == NULL && i < errs->count; i++) {
        pol_error_format(&errs->e[i], line, sizeof(line));
        print_message("compile error: %s\n", line);
    }
    free(errs);
    assert_non_null(rs);
    return rs;
}

/* ---- files -------------------------------------------------------------- */

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

static int
setup_dir(void **state)
{
    (void)state;
    snprintf(test_dir, sizeof(test_dir), "/tmp/test_pol_eval.XXXXXX");
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

/* ---- facts -------------------------------------------------------------- */

/* Realistic facts for every stage; tests change one at a time. */
static void
facts_base(struct pol_facts *f)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(pol_addr_parse(&f->client_address, "198.51.100.7", 12),
                     POL_OK);
    f->client_port = 40123;
    f->listener = PS("mx");
    f->reverse_name = PS("mail.client.example");
    f->helo = PS("mail.client.example");
    f->messages = 1;
    f->sender = PS("alice@client.example");
    f->rcpt = PS("bob@example.org");
    f->rcpt_count = 1;
    f->header_name = PS("Subject");
    f->header_value = PS("hello");
    f->message_size = 2048;
    f->header_count = 12;
}

static struct pol_str
str_of(const char *s)
{
    struct pol_str r = {(const uint8_t *)s, s != NULL ? strlen(s) : 0};

    return r;
}

/* Sets one fact by name from text; NULL makes it absent. */
static void
facts_set(struct pol_facts *f, const char *fact, const char *value)
{
    struct {
        const char *name;
        struct pol_str *s;
    } strs[] = {
        {"listener", &f->listener},
        {"reverse_name", &f->reverse_name},
        {"tls_version", &f->tls_version},
        {"tls_cipher", &f->tls_cipher},
        {"sni", &f->sni},
        {"tls_client_subject", &f->tls_client_subject},
        {"helo", &f->helo},
        {"auth_user", &f->auth_user},
        {"auth_mech", &f->auth_mech},
        {"sender", &f->sender},
        {"body", &f->body},
        {"envid", &f->envid},
        {"rcpt", &f->rcpt},
        {"header_name", &f->header_name},
        {"header_value", &f->header_value},
    };
    size_t i;

    /* the derived facts are set through their mailbox */
    if (strcmp(fact, "sender_domain") == 0) {
        fact = "sender";
    } else if (strcmp(fact, "rcpt_domain") == 0) {
        fact = "rcpt";
    }
    for (i = 0; i < NELEM(strs); i++) {
        if (strcmp(fact, strs[i].name) == 0) {
            *strs[i].s = str_of(value);
            return;
        }
    }
    if (strcmp(fact, "client_address") == 0) {
        memset(&f->client_address, 0, sizeof(f->client_address));
        if (value != NULL) {
            assert_int_equal(
                pol_addr_parse(&f->client_address, value, strlen(value)),
                POL_OK);
        }
    } else if (strcmp(fact, "size") == 0) {
        f->has_size = value != NULL;
        f->size = value != NULL ? strtoull(value, NULL, 10) : 0;
    } else if (strcmp(fact, "rcpt_count") == 0) {
        f->rcpt_count = (uint32_t)strtoul(value, NULL, 10);
    } else if (strcmp(fact, "message_size") == 0) {
        f->message_size = strtoull(value, NULL, 10);
    } else if (strcmp(fact, "client_port") == 0) {
        f->client_port = (uint16_t)(value != NULL ? atoi(value) : 0);
    } else if (strcmp(fact, "tls") == 0) {
        f->tls = strcmp(value, "true") == 0;
    } else if (strcmp(fact, "authenticated") == 0) {
        f->authenticated = strcmp(value, "true") == 0;
    } else if (strcmp(fact, "saw_8bit") == 0) {
        f->saw_8bit = strcmp(value, "true") == 0;
    } else {
        fail_msg("facts_set: unknown fact %s", fact);
    }
}

static enum pol_verdict_action
eval(struct pol_ruleset *rs, enum pol_stage st, const struct pol_facts *f,
     const struct pol_env *env, struct pol_verdict *v, char *buf, size_t cap)
{
    struct pol_env none;
    char why[128];

    memset(&none, 0, sizeof(none));
    pol_verdict_init(v, buf, cap);
    pol_eval(rs, st, f, env != NULL ? env : &none, v);
    /* whatever came out must be a well-formed answer */
    if (pol_verdict_validate(v, why, sizeof(why)) != POL_OK) {
        fail_msg("invalid verdict: %s", why);
    }
    return v->action;
}

/* ---- match kinds -------------------------------------------------------- */

struct match_case {
    const char *label;
    const char *stage;
    const char *fact;
    const char *match;
    const char *flags;
    bool negate;
    const char *values[3];
    const char *input; /* NULL: the fact is absent */
    bool holds;
};

/* clang-format off: one case per line or two */
static const struct match_case match_cases[] = {
    /* strings */
    {"ieq same",
     "helo",
     "helo",
     "ieq",
     NULL,
     false,
     {"mx.example"},
     "MX.Example",
     true},
    {"ieq default kind",
     "helo",
     "helo",
     NULL,
     NULL,
     false,
     {"mx.example"},
     "MX.EXAMPLE",
     true},
    {"ieq any of",
     "helo",
     "helo",
     "ieq",
     NULL,
     false,
     {"a", "b", "c"},
     "C",
     true},
    {"ieq other",
     "helo",
     "helo",
     "ieq",
     NULL,
     false,
     {"mx.example"},
     "mx.example.org",
     false},
    {"eq exact",
     "helo",
     "helo",
     "eq",
     NULL,
     false,
     {"mx.example"},
     "mx.example",
     true},
    {"eq case",
     "helo",
     "helo",
     "eq",
     NULL,
     false,
     {"mx.example"},
     "MX.example",
     false},
    {"eq empty sender", "mail", "sender", "eq", NULL, false, {"x"}, "", false},
    {"regex",
     "helo",
     "helo",
     "regex",
     NULL,
     false,
     {"^\\[?[0-9.]+\\]?$"},
     "[192.0.2.1]",
     true},
    {"regex no",
     "helo",
     "helo",
     "regex",
     NULL,
     false,
     {"^\\[?[0-9.]+\\]?$"},
     "mx.example",
     false},
    {"regex i",
     "header",
     "header_value",
     "regex",
     "i",
     false,
     {"viagra"},
     "Cheap VIAGRA now",
     true},
    {"regex case",
     "header",
     "header_value",
     "regex",
     NULL,
     false,
     {"viagra"},
     "Cheap VIAGRA now",
     false},
    {"regex 8-bit bytes",
     "header",
     "header_value",
     "regex",
     NULL,
     false,
     {"\\xff"},
     "a\xff"
     "b",
     true},
    {"regex empty value",
     "mail",
     "sender",
     "regex",
     NULL,
     false,
     {"^$"},
     "",
     true},
    {"regex addr text",
     "connect",
     "client_address",
     "regex",
     NULL,
     false,
     {"^198\\.51\\."},
     "198.51.100.7",
     true},
    {"regex mapped text",
     "connect",
     "client_address",
     "regex",
     NULL,
     false,
     {"^198\\.51\\.100\\.7$"},
     "::ffff:198.51.100.7",
     true},
    {"eq addr text v6",
     "connect",
     "client_address",
     "eq",
     NULL,
     false,
     {"2001:db8::1"},
     "2001:0db8:0:0::1",
     true},
    /* domains */
    {"domain apex",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {"example.com"},
     "a@example.com",
     true},
    {"domain sub",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {"example.com"},
     "a@mx.EXAMPLE.com",
     true},
    {"domain not a suffix",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {"example.com"},
     "a@badexample.com",
     false},
    {"domain local part",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {"example.com"},
     "example.com@other.org",
     false},
    {"domain last @",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {"example.com"},
     "\"a@other.org\"@example.com",
     true},
    {"domain dot: subs only",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {".example.com"},
     "a@example.com",
     false},
    {"domain dot: sub",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {".example.com"},
     "a@x.example.com",
     true},
    {"domain trailing dot",
     "helo",
     "helo",
     "domain",
     NULL,
     false,
     {"example.com"},
     "mx.example.com.",
     true},
    {"domain no @",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {"example.com"},
     "example.com",
     false},
    {"domain null sender",
     "mail",
     "sender",
     "domain",
     NULL,
     false,
     {"example.com"},
     "",
     false},
    {"sender_domain ieq",
     "mail",
     "sender_domain",
     "ieq",
     NULL,
     false,
     {"example.com"},
     "a@Example.COM",
     true},
    {"sender_domain sub no",
     "mail",
     "sender_domain",
     "ieq",
     NULL,
     false,
     {"example.com"},
     "a@x.example.com",
     false},
    {"rcpt domain",
     "rcpt",
     "rcpt",
     "domain",
     NULL,
     false,
     {"legacy.example"},
     "u@legacy.example",
     true},
    {"helo domain",
     "helo",
     "helo",
     "domain",
     NULL,
     false,
     {"example.net"},
     "a.b.c.example.net",
     true},
    /* addresses */
    {"cidr v4",
     "connect",
     "client_address",
     "cidr",
     NULL,
     false,
     {"198.51.100.0/24"},
     "198.51.100.7",
     true},
    {"cidr default kind",
     "connect",
     "client_address",
     NULL,
     NULL,
     false,
     {"198.51.100.0/24"},
     "198.51.100.7",
     true},
    {"cidr v4 out",
     "connect",
     "client_address",
     "cidr",
     NULL,
     false,
     {"198.51.100.0/24"},
     "198.51.101.7",
     false},
    {"cidr mapped client",
     "connect",
     "client_address",
     "cidr",
     NULL,
     false,
     {"198.51.100.0/24"},
     "::ffff:198.51.100.7",
     true},
    {"cidr v6",
     "connect",
     "client_address",
     "cidr",
     NULL,
     false,
     {"2001:db8::/32"},
     "2001:db8:1::1",
     true},
    {"cidr v6 vs v4",
     "connect",
     "client_address",
     "cidr",
     NULL,
     false,
     {"::/0"},
     "198.51.100.7",
     false},
    {"cidr /0 v4",
     "connect",
     "client_address",
     "cidr",
     NULL,
     false,
     {"0.0.0.0/0"},
     "203.0.113.1",
     true},
    {"cidr absent",
     "connect",
     "client_address",
     "cidr",
     NULL,
     false,
     {"0.0.0.0/0"},
     NULL,
     false},
    /* numbers */
    {"size >", "mail", "size", "cmp", NULL, false, {"> 10M"}, "10485761", true},
    {"size > eq",
     "mail",
     "size",
     "cmp",
     NULL,
     false,
     {"> 10M"},
     "10485760",
     false},
    {"size >= default kind",
     "mail",
     "size",
     NULL,
     NULL,
     false,
     {">=10M"},
     "10485760",
     true},
    {"size absent", "mail", "size", "cmp", NULL, false, {"> 0"}, NULL, false},
    {"size <", "mail", "size", "cmp", NULL, false, {"< 1K"}, "1023", true},
    {"size !=", "mail", "size", "cmp", NULL, false, {"!= 5"}, "5", false},
    {"rcpt_count ==",
     "rcpt",
     "rcpt_count",
     "cmp",
     NULL,
     false,
     {"== 3"},
     "3",
     true},
    {"rcpt_count <=",
     "rcpt",
     "rcpt_count",
     "cmp",
     NULL,
     false,
     {"<= 3"},
     "4",
     false},
    {"message_size",
     "eom",
     "message_size",
     "cmp",
     NULL,
     false,
     {"> 1M"},
     "2000000",
     true},
    {"port",
     "connect",
     "client_port",
     "cmp",
     NULL,
     false,
     {"< 1024"},
     "25",
     true},
    {"port absent",
     "connect",
     "client_port",
     "present",
     NULL,
     false,
     {NULL},
     NULL,
     false},
    /* booleans */
    {"tls true", "mail", "tls", "is", NULL, false, {"true"}, "true", true},
    {"tls default kind",
     "mail",
     "tls",
     NULL,
     NULL,
     false,
     {"yes"},
     "false",
     false},
    {"tls false", "mail", "tls", "is", NULL, false, {"false"}, "false", true},
    {"auth", "mail", "authenticated", "is", NULL, false, {"on"}, "true", true},
    {"8bit", "eom", "saw_8bit", "is", NULL, false, {"true"}, "true", true},
    /* presence and negation */
    {"present",
     "connect",
     "reverse_name",
     "present",
     NULL,
     false,
     {NULL},
     "x.example",
     true},
    {"present absent",
     "connect",
     "reverse_name",
     "present",
     NULL,
     false,
     {NULL},
     NULL,
     false},
    {"present empty",
     "mail",
     "sender",
     "present",
     NULL,
     false,
     {NULL},
     "",
     true},
    {"not present",
     "connect",
     "reverse_name",
     "present",
     NULL,
     true,
     {NULL},
     NULL,
     true},
    {"not ieq", "helo", "helo", "ieq", NULL, true, {"localhost"}, "mx", true},
    {"not ieq hit",
     "helo",
     "helo",
     "ieq",
     NULL,
     true,
     {"localhost"},
     "LOCALHOST",
     false},
    {"not on absent",
     "starttls",
     "sni",
     "ieq",
     NULL,
     true,
     {"mx.example"},
     NULL,
     true},
    {"not cidr",
     "connect",
     "client_address",
     "cidr",
     NULL,
     true,
     {"10.0.0.0/8"},
     "192.0.2.1",
     true},
    {"sni",
     "starttls",
     "sni",
     "domain",
     NULL,
     false,
     {"example.org"},
     "mx.example.org",
     true},
    {"listener",
     "connect",
     "listener",
     "eq",
     NULL,
     false,
     {"submission"},
     "submission",
     true},
    {"auth user domain",
     "auth",
     "auth_user",
     "domain",
     NULL,
     false,
     {"example.org"},
     "joe@example.org",
     true},
};
/* clang-format on */

static void
test_eval_match_kinds(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(match_cases); i++) {
        const struct match_case *c = &match_cases[i];
        struct tb *b = tb_new();
        struct pol_ruleset *rs;
        struct pol_facts f;
        struct pol_verdict v;
        char buf[512];
        enum pol_stage st;
        enum pol_verdict_action got;

        tb_rule(b, "r", c->stage);
        tb_cond(b, c->fact, c->match, c->negate, c->flags, c->values[0],
                c->values[0] != NULL ? c->values[1] : NULL,
                c->values[1] != NULL ? c->values[2] : NULL, NULL);
        tb_act(b, "reject 550 5.7.1 \"hit\"");
        rs = tb_compile(b);
        facts_base(&f);
        facts_set(&f, c->fact, c->input);
        st = pol_stage_from_name(c->stage, strlen(c->stage));
        got = eval(rs, st, &f, NULL, &v, buf, sizeof(buf));
        if (got != (c->holds ? POL_VERDICT_REJECT : POL_VERDICT_CONTINUE)) {
            fail_msg("case '%s': got %s", c->label,
                     pol_verdict_action_name(got));
        }
        pol_ruleset_unref(rs);
        free(b);
    }
}

/* ---- order, terminal and accumulating actions --------------------------- */

static void
test_eval_first_decisive_wins(void **state)
{
    struct tb *b = tb_new();
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    char buf[512];

    (void)state;
    tb_rule(b, "tag", "helo");
    tb_act(b, "add_header X-Seen: yes");
    tb_rule(b, "allow-mx", "helo");
    tb_cond(b, "helo", "ieq", false, NULL, "mx.partner.example", NULL);
    tb_act(b, "accept");
    tb_rule(b, "no-localhost", "helo");
    tb_cond(b, "helo", "ieq", false, NULL, "localhost", "mx.partner.example",
            NULL);
    tb_act(b, "reject 550 5.7.1 \"HELO ${helo} refused\"");
    tb_rule(b, "later", "helo");
    tb_act(b, "tempfail");
    rs = tb_compile(b);
    facts_base(&f);

    /* accept comes first for the partner, even though no-localhost holds */
    f.helo = PS("MX.partner.example");
    assert_int_equal(eval(rs, POL_STAGE_HELO, &f, NULL, &v, buf, sizeof(buf)),
                     POL_VERDICT_ACCEPT);
    assert_string_equal(v.rule, "allow-mx");
    assert_string_equal(v.rule_location, "policy.yaml:20");
    assert_int_equal(v.nheaders, 1);
    assert_string_equal(v.headers[0].line, "X-Seen: yes");
    assert_int_equal(v.code, 0);

    f.helo = PS("localhost");
    assert_int_equal(eval(rs, POL_STAGE_HELO, &f, NULL, &v, buf, sizeof(buf)),
                     POL_VERDICT_REJECT);
    assert_string_equal(v.rule, "no-localhost");
    assert_int_equal(v.code, 550);
    assert_string_equal(v.enhanced, "5.7.1");
    assert_string_equal(v.text, "HELO localhost refused");
    assert_int_equal(v.text_len, strlen("HELO localhost refused"));

    /* nothing specific: the last rule decides with its defaults */
    f.helo = PS("other.example");
    assert_int_equal(eval(rs, POL_STAGE_HELO, &f, NULL, &v, buf, sizeof(buf)),
                     POL_VERDICT_TEMPFAIL);
    assert_int_equal(v.code, 450);
    assert_string_equal(v.enhanced, "4.7.1");
    assert_string_equal(v.rule, "later");

    /* other stages have no rules */
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, NULL, &v, buf, sizeof(buf)),
                     POL_VERDICT_CONTINUE);
    assert_string_equal(v.rule, "");
    assert_int_equal(pol_ruleset_rules_at(rs, POL_STAGE_HELO), 4);
    assert_int_equal(pol_ruleset_rules_at(rs, POL_STAGE_MAIL), 0);
    assert_false(pol_ruleset_uses_counters(rs));
    pol_ruleset_unref(rs);
    free(b);
}

static void
test_eval_accumulate(void **state)
{
    struct tb *b = tb_new();
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    char buf[POL_VERDICT_BUF_SIZE];

    (void)state;
    b->spec.upstreams = (const char *const[]){"main", "legacy", "quarantine"};
    b->spec.nupstreams = 3;
    tb_rule(b, "legacy-domain", "rcpt");
    tb_cond(b, "rcpt", "domain", false, NULL, "legacy.example", NULL);
    tb_act(b, "upstream legacy");
    tb_act(b, "tls_policy encrypt");
    tb_rule(b, "everyone", "rcpt");
    tb_act(b, "upstream quarantine"); /* ignored when legacy set first */
    tb_act(b, "add_header X-Policy: rcpt=${rcpt} from ${client_address}");
    tb_rule(b, "small", "rcpt");
    tb_cond(b, "sender_domain", "ieq", false, NULL, "small.example", NULL);
    tb_act(b, "set_limit message_size 1M");
    tb_act(b, "set_limit recipients 10");
    tb_rule(b, "small-again", "rcpt");
    tb_act(b, "set_limit message_size 5M"); /* first wins */
    tb_act(b, "add_header X-Small: ${sender_domain}");
    rs = tb_compile(b);

    facts_base(&f);
    f.rcpt = PS("u@legacy.example");
    f.sender = PS("a@small.example");
    assert_int_equal(eval(rs, POL_STAGE_RCPT, &f, NULL, &v, buf, sizeof(buf)),
                     POL_VERDICT_CONTINUE);
    assert_int_equal(v.flags, POL_VF_UPSTREAM | POL_VF_TLS_POLICY |
                                  POL_VF_LIMIT_SIZE | POL_VF_LIMIT_RCPTS);
    assert_string_equal(v.upstream, "legacy");
    assert_int_equal(v.tls_policy, POL_TLS_ENCRYPT);
    assert_int_equal(v.limit_message_size, 1024 * 1024);
    assert_int_equal(v.limit_recipients, 10);
    assert_int_equal(v.nheaders, 2);
    assert_string_equal(v.headers[0].line,
                        "X-Policy: rcpt=u@legacy.example from 198.51.100.7");
    assert_int_equal(v.headers[0].name_len, 8);
    assert_string_equal(v.headers[1].line, "X-Small: small.example");
    assert_string_equal(v.rule, ""); /* nothing decided */

    f.rcpt = PS("u@other.example");
    f.sender = PS("a@big.example");
    assert_int_equal(eval(rs, POL_STAGE_RCPT, &f, NULL, &v, buf, sizeof(buf)),
                     POL_VERDICT_CONTINUE);
    assert_string_equal(v.upstream, "quarantine");
    assert_int_equal(v.flags & POL_VF_TLS_POLICY, 0);
    assert_int_equal(v.limit_message_size, 5 * 1024 * 1024);
    pol_ruleset_unref(rs);
    free(b);
}

/* ---- tables that give the action ---------------------------------------- */

static void
test_eval_table_actions(void **state)
{
    struct tb *b = tb_new();
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    char buf[512];
    char ref[200];
    char loc[200];
    const char *path;

    (void)state;
    path = write_file("clients.cidr",
                      "# exceptions first\n"
                      "192.0.2.10        OK\n"
                      "192.0.2.11/32     DUNNO\n"
                      "\n"
                      "192.0.2.0/24      REJECT 554 5.7.1 \"${client_address} "
                      "is listed\"\n"
                      "2001:db8::/32     421 4.7.0 go away\n"
                      "10.0.0.0/8        add_header X-Internal: yes\n");
    snprintf(ref, sizeof(ref), "cidr:%s", path);
    tb_rule(b, "clients", "connect");
    tb_cond(b, "client_address", "table", false, NULL, ref, NULL);
    tb_rule(b, "fallback", "connect");
    tb_act(b, "reject 550 5.7.1 fallback");
    rs = tb_compile(b);
    facts_base(&f);

    assert_int_equal(pol_addr_parse(&f.client_address, "192.0.2.10", 10), 0);
    assert_int_equal(
        eval(rs, POL_STAGE_CONNECT, &f, NULL, &v, buf, sizeof(buf)),
        POL_VERDICT_ACCEPT);
    assert_string_equal(v.rule, "clients");
    snprintf(loc, sizeof(loc), "%s:2", path);
    assert_string_equal(v.table_location, loc);

    /* DUNNO: the table line holds, and decides nothing */
    assert_int_equal(pol_addr_parse(&f.client_address, "192.0.2.11", 10), 0);
    assert_int_equal(
        eval(rs, POL_STAGE_CONNECT, &f, NULL, &v, buf, sizeof(buf)),
        POL_VERDICT_REJECT);
    assert_string_equal(v.rule, "fallback");
    assert_string_equal(v.table_location, "");

    assert_int_equal(pol_addr_parse(&f.client_address, "192.0.2.99", 10), 0);
    assert_int_equal(
        eval(rs, POL_STAGE_CONNECT, &f, NULL, &v, buf, sizeof(buf)),
        POL_VERDICT_REJECT);
    assert_int_equal(v.code, 554);
    assert_string_equal(v.text, "192.0.2.99 is listed");
    snprintf(loc, sizeof(loc), "%s:5", path);
    assert_string_equal(v.table_location, loc);

    assert_int_equal(pol_addr_parse(&f.client_address, "2001:db8::5", 11), 0);
    assert_int_equal(
        eval(rs, POL_STAGE_CONNECT, &f, NULL, &v, buf, sizeof(buf)),
        POL_VERDICT_DISCONNECT);
    assert_int_equal(v.code, 421);
    assert_string_equal(v.enhanced, "4.7.0");
    assert_string_equal(v.text, "go away");

    assert_int_equal(pol_addr_parse(&f.client_address, "10.1.2.3", 8), 0);
    assert_int_equal(
        eval(rs, POL_STAGE_CONNECT, &f, NULL, &v, buf, sizeof(buf)),
        POL_VERDICT_REJECT);
    assert_int_equal(v.nheaders, 1);
    assert_string_equal(v.headers[0].line, "X-Internal: yes");
    assert_string_equal(v.rule, "fallback");
    pol_ruleset_unref(rs);
    free(b);
}

static void
test_eval_pcre_table(void **state)
{
    struct tb *b = tb_new();
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    char buf[512];
    char ref[200];
    static const struct {
        const char *subject;
        enum pol_verdict_action want;
        const char *text;
    } cases[] = {
        {"Buy VIAGRA", POL_VERDICT_REJECT, "spam"},
        {"Invoice 12", POL_VERDICT_TEMPFAIL, "later"},
        {"hello", POL_VERDICT_CONTINUE, ""},
        {"", POL_VERDICT_ACCEPT, ""},
    };
    size_t i;

    (void)state;
    snprintf(ref, sizeof(ref), "pcre:%s",
             write_file("subjects.pcre",
                        "/viagra/i    REJECT spam\n"
                        "# a comment\r\n"
                        "%^invoice [0-9]+$%is    DEFER later\r\n"
                        "!/./         OK\n"));
    tb_rule(b, "subjects", "header");
    tb_cond(b, "header_name", "ieq", false, NULL, "subject", NULL);
    tb_cond(b, "header_value", "table", false, NULL, ref, NULL);
    rs = tb_compile(b);
    facts_base(&f);
    for (i = 0; i < NELEM(cases); i++) {
        f.header_value = str_of(cases[i].subject);
        if (eval(rs, POL_STAGE_HEADER, &f, NULL, &v, buf, sizeof(buf)) !=
                cases[i].want ||
            strcmp(v.text, cases[i].text) != 0) {
            fail_msg("subject '%s': got %s '%s'", cases[i].subject,
                     pol_verdict_action_name(v.action), v.text);
        }
    }
    /* another header: the first condition stops the rule */
    f.header_name = PS("From");
    f.header_value = PS("viagra");
    assert_int_equal(eval(rs, POL_STAGE_HEADER, &f, NULL, &v, buf, sizeof(buf)),
                     POL_VERDICT_CONTINUE);
    pol_ruleset_unref(rs);
    free(b);
}

/* ---- trace -------------------------------------------------------------- */

struct trace_log {
    char lines[16][160];
    size_t index[16];
    size_t n;
};

static void
trace_record(void *arg, const struct pol_trace_event *ev)
{
    struct trace_log *log = arg;
    static const char *const res[] = {"no", "match", "error"};

    if (log->n < NELEM(log->lines)) {
        log->index[log->n] = ev->rule_index;
        snprintf(log->lines[log->n++], sizeof(log->lines[0]),
                 "%s %s %s cond=%zu action=%s%s", pol_stage_name(ev->stage),
                 ev->rule, res[ev->result], ev->cond, ev->action,
                 ev->ignored ? " ignored" : "");
    }
}

static void
test_eval_trace(void **state)
{
    struct tb *b = tb_new();
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    struct trace_log log;
    struct pol_env env;
    char buf[512];

    (void)state;
    tb_rule(b, "a", "mail");
    tb_cond(b, "tls", "is", false, NULL, "true", NULL);
    tb_act(b, "accept");
    tb_rule(b, "b", "mail");
    tb_cond(b, "sender", "domain", false, NULL, "client.example", NULL);
    tb_cond(b, "size", "cmp", false, NULL, "> 1K", NULL);
    tb_act(b, "reject");
    tb_rule(b, NULL, "mail");
    tb_act(b, "upstream u1");
    tb_rule(b, "d", "mail");
    tb_act(b, "upstream u2");
    tb_act(b, "accept");
    rs = tb_compile(b);
    facts_base(&f);
    memset(&log, 0, sizeof(log));
    memset(&env, 0, sizeof(env));
    env.trace = trace_record;
    env.trace_arg = &log;
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
                     POL_VERDICT_ACCEPT);
    assert_int_equal(log.n, 5);
    assert_string_equal(log.lines[0], "mail a no cond=0 action=");
    assert_string_equal(log.lines[1], "mail b no cond=1 action=");
    assert_string_equal(log.lines[2],
                        "mail policy.yaml:30 match cond=0 action=upstream u1");
    assert_string_equal(log.lines[3],
                        "mail d match cond=0 action=upstream u2 ignored");
    assert_string_equal(log.lines[4], "mail d match cond=0 action=accept");
    assert_string_equal(v.upstream, "u1");
    assert_string_equal(v.rule, "d");
    /* indexes name the same rules as pol_ruleset_rule */
    assert_int_equal(pol_ruleset_nrules(rs), 4);
    assert_int_equal(v.rule_index, 3);
    assert_string_equal(pol_ruleset_rule(rs, v.rule_index, NULL), "d");
    assert_string_equal(pol_ruleset_rule(rs, 2, NULL), "policy.yaml:30");
    assert_null(pol_ruleset_rule(rs, 4, NULL));
    /* hits only: the rules that did not match are not reported */
    memset(&log, 0, sizeof(log));
    env.trace_hits_only = true;
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
                     POL_VERDICT_ACCEPT);
    assert_int_equal(log.n, 3);
    assert_string_equal(log.lines[0],
                        "mail policy.yaml:30 match cond=0 action=upstream u1");
    assert_int_equal(log.index[0], 2);
    assert_int_equal(log.index[2], 3);
    pol_ruleset_unref(rs);
    free(b);
}

/* ---- counters ----------------------------------------------------------- */

static void
test_eval_rate(void **state)
{
    static const uint8_t seed[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                     9, 10, 11, 12, 13, 14, 15, 16};
    struct tb *b = tb_new();
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    struct pol_env env;
    char buf[512];
    int i;

    (void)state;
    tb_rule(b, "senders", "mail");
    tb_cond(b, "sender_domain", "ieq", false, NULL, "client.example", NULL);
    tb_cond(b, "sender", "rate", false, NULL, "3/1m", NULL);
    tb_act(b, "tempfail 451 4.7.1 \"Too many messages from ${sender}\"");
    rs = tb_compile(b);
    assert_true(pol_ruleset_uses_counters(rs));
    facts_base(&f);
    memset(&env, 0, sizeof(env));

    /* no store: fail closed */
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
                     POL_VERDICT_ERROR);
    assert_string_equal(v.error_text, "no counter store");
    assert_string_equal(v.rule, "senders");

    env.counters = pol_counters_mem_new(1000, seed);
    assert_non_null(env.counters);
    env.now_ms = 1000000;
    for (i = 0; i < 3; i++) {
        assert_int_equal(
            eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
            POL_VERDICT_CONTINUE);
    }
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
                     POL_VERDICT_TEMPFAIL);
    assert_string_equal(v.text, "Too many messages from alice@client.example");
    /* another sender has its own bucket */
    f.sender = PS("carol@client.example");
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
                     POL_VERDICT_CONTINUE);
    /* senders the first condition excludes are not counted */
    f.sender = PS("alice@elsewhere.example");
    for (i = 0; i < 10; i++) {
        assert_int_equal(
            eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
            POL_VERDICT_CONTINUE);
    }
    /* 20 s later alice has one token again (3 per 60 s) */
    f.sender = PS("alice@client.example");
    env.now_ms += 20000;
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
                     POL_VERDICT_CONTINUE);
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, &env, &v, buf, sizeof(buf)),
                     POL_VERDICT_TEMPFAIL);
    pol_counters_free(env.counters);
    pol_ruleset_unref(rs);
    free(b);
}

static void
test_eval_connections(void **state)
{
    static const uint8_t seed[16] = {9};
    struct tb *b = tb_new();
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    struct pol_env env;
    struct pol_addr mapped;
    char buf[512];
    int i;

    (void)state;
    tb_rule(b, "too-many", "connect");
    tb_cond(b, "client_address", "connections", false, NULL, "> 2", NULL);
    tb_act(b, "disconnect 421 4.7.0 \"Too many connections from "
              "${client_address}\"");
    rs = tb_compile(b);
    facts_base(&f);
    memset(&env, 0, sizeof(env));
    env.counters = pol_counters_mem_new(0, seed);
    assert_non_null(env.counters);
    assert_int_equal(pol_addr_parse(&mapped, "::ffff:198.51.100.7", 19), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(
            eval(rs, POL_STAGE_CONNECT, &f, &env, &v, buf, sizeof(buf)),
            POL_VERDICT_CONTINUE);
        /* the same client, seen as IPv4 or as IPv4-mapped IPv6 */
        assert_int_equal(
            pol_counters_conn_open(env.counters,
                                   i == 1 ? &mapped : &f.client_address, 1),
            0);
    }
    assert_int_equal(
        eval(rs, POL_STAGE_CONNECT, &f, &env, &v, buf, sizeof(buf)),
        POL_VERDICT_DISCONNECT);
    assert_string_equal(v.text, "Too many connections from 198.51.100.7");
    assert_int_equal(
        pol_counters_conn_close(env.counters, &f.client_address, 2), 0);
    assert_int_equal(
        eval(rs, POL_STAGE_CONNECT, &f, &env, &v, buf, sizeof(buf)),
        POL_VERDICT_CONTINUE);
    pol_counters_free(env.counters);
    pol_ruleset_unref(rs);
    free(b);
}

/* ---- the verdict buffer ------------------------------------------------- */

static void
test_eval_buffer(void **state)
{
    struct tb *b = tb_new();
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    char buf[POL_VERDICT_BUF_SIZE];
    size_t i;

    (void)state;
    tb_rule(b, "h1", "mail");
    tb_act(b, "add_header X-One: ${sender}");
    tb_act(b, "add_header X-Two: two");
    tb_rule(b, "no", "mail");
    tb_act(b, "reject 550 5.7.1 \"sender ${sender} refused\"");
    rs = tb_compile(b);
    facts_base(&f);

    /* no buffer at all: the answer is still valid, with an empty text */
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, NULL, &v, NULL, 0),
                     POL_VERDICT_REJECT);
    assert_string_equal(v.text, "");
    assert_int_equal(v.nheaders, 0);
    assert_true((v.flags & POL_VF_TRUNCATED) != 0);
    assert_true((v.flags & POL_VF_HEADER_DROPPED) != 0);

    /* a small buffer: the text region comes first and is cut */
    assert_int_equal(eval(rs, POL_STAGE_MAIL, &f, NULL, &v, buf, 10),
                     POL_VERDICT_REJECT);
    assert_string_equal(v.text, "sender al");
    assert_true((v.flags & POL_VF_TRUNCATED) != 0);
    assert_int_equal(v.nheaders, 0);

    /* room for the text and one header and a half */
    assert_int_equal(
        eval(rs, POL_STAGE_MAIL, &f, NULL, &v, buf, POL_MAX_TEXT + 1 + 30 + 8),
        POL_VERDICT_REJECT);
    assert_string_equal(v.text, "sender alice@client.example refused");
    assert_int_equal(v.nheaders, 2);
    assert_string_equal(v.headers[0].line, "X-One: alice@client.example");
    assert_string_equal(v.headers[1].line, "X-Two: tw");

    /* a value longer than any buffer is cut at POL_MAX_TEXT */
    {
        char *longs = malloc(5000);

        assert_non_null(longs);
        for (i = 0; i < 5000; i++) {
            longs[i] = (char)('a' + i % 26);
        }
        f.sender.p = (const uint8_t *)longs;
        f.sender.len = 5000;
        assert_int_equal(
            eval(rs, POL_STAGE_MAIL, &f, NULL, &v, buf, sizeof(buf)),
            POL_VERDICT_REJECT);
        assert_int_equal(v.text_len, POL_MAX_TEXT);
        assert_int_equal(strlen(v.text), POL_MAX_TEXT);
        assert_true((v.flags & POL_VF_TRUNCATED) != 0);
        assert_true(v.nheaders >= 1);
        assert_true(v.headers[0].len <= POL_MAX_HEADER_LINE);
        free(longs);
    }
    pol_ruleset_unref(rs);
    free(b);
}

/* ---- references --------------------------------------------------------- */

static void
test_eval_refcount(void **state)
{
    struct tb *b = tb_new();
    struct pol_ruleset *old;
    struct pol_ruleset *live;
    struct pol_facts f;
    struct pol_verdict v;
    char buf[256];

    (void)state;
    tb_rule(b, "r", "helo");
    tb_act(b, "reject 550 5.7.1 old");
    old = tb_compile(b);
    /* a session takes a reference; a reload drops the server's */
    live = pol_ruleset_ref(old);
    pol_ruleset_unref(old);
    facts_base(&f);
    assert_int_equal(eval(live, POL_STAGE_HELO, &f, NULL, &v, buf, sizeof(buf)),
                     POL_VERDICT_REJECT);
    assert_string_equal(v.text, "old");
    assert_string_equal(v.rule, "r"); /* still valid: the session's ref */
    pol_ruleset_unref(live);          /* freed here (valgrind checks) */
    pol_ruleset_unref(NULL);
    free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_match_kinds),
        cmocka_unit_test(test_eval_first_decisive_wins),
        cmocka_unit_test(test_eval_accumulate),
        cmocka_unit_test(test_eval_table_actions),
        cmocka_unit_test(test_eval_pcre_table),
        cmocka_unit_test(test_eval_trace),
        cmocka_unit_test(test_eval_rate),
        cmocka_unit_test(test_eval_connections),
        cmocka_unit_test(test_eval_buffer),
        cmocka_unit_test(test_eval_refcount),
    };

    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
