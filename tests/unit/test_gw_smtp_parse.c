/*
 * Unit tests for gateway/gw_smtp_parse.c: command lines, MAIL/RCPT paths
 * and ESMTP parameters, and the EHLO/HELO argument. Tables of
 * {label, input, expected}; every input is parsed from an exact-size heap
 * copy so a read past the end shows under valgrind and ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_smtp_parse.h"

#define T(s) s, sizeof(s) - 1
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint8_t *
test_copy(const void *p, size_t len)
{
    uint8_t *c = malloc(len > 0 ? len : 1);

    assert_non_null(c);
    if (len > 0) {
        memcpy(c, p, len);
    }
    return c;
}

/* ---- commands ---------------------------------------------------------- */

struct test_cmd_case {
    const char *label;
    const char *in;
    size_t in_len;
    int rc;
    enum gw_verb verb;
    const char *args; /* expected arguments (OK only) */
};

static const struct test_cmd_case test_cmd_cases[] = {
    {"helo", T("HELO example.com"), GW_PARSE_OK, GW_VERB_HELO, "example.com"},
    {"ehlo mixed case", T("eHlO x"), GW_PARSE_OK, GW_VERB_EHLO, "x"},
    {"mail", T("MAIL FROM:<a@b>"), GW_PARSE_OK, GW_VERB_MAIL, "FROM:<a@b>"},
    {"mail lower", T("mail from:<a@b>"), GW_PARSE_OK, GW_VERB_MAIL,
     "from:<a@b>"},
    {"rcpt", T("RCPT TO:<a@b>"), GW_PARSE_OK, GW_VERB_RCPT, "TO:<a@b>"},
    {"data", T("DATA"), GW_PARSE_OK, GW_VERB_DATA, ""},
    {"bdat", T("BDAT 100 LAST"), GW_PARSE_OK, GW_VERB_BDAT, "100 LAST"},
    {"quit trailing spaces", T("QUIT   "), GW_PARSE_OK, GW_VERB_QUIT, ""},
    {"noop space ht", T("NOOP \t"), GW_PARSE_OK, GW_VERB_NOOP, ""},
    {"args trimmed", T("NOOP   hello  "), GW_PARSE_OK, GW_VERB_NOOP, "hello"},
    {"args trailing ht", T("VRFY bob \t "), GW_PARSE_OK, GW_VERB_VRFY, "bob"},
    {"ht inside args", T("NOOP a\tb"), GW_PARSE_OK, GW_VERB_NOOP, "a\tb"},
    {"8-bit args", T("NOOP \xc3\xa9"), GW_PARSE_OK, GW_VERB_NOOP, "\xc3\xa9"},
    {"starttls", T("starttls"), GW_PARSE_OK, GW_VERB_STARTTLS, ""},
    {"auth", T("AUTH PLAIN AGFAYg=="), GW_PARSE_OK, GW_VERB_AUTH,
     "PLAIN AGFAYg=="},
    {"mailx", T("MAILX FROM:<a@b>"), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"mail colon", T("MAIL:<a@b>"), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"quit dot", T("QUIT."), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"mail ht", T("MAIL\tFROM:<a@b>"), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"noop ht", T("NOOP\t"), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"verb prefix", T("MAI FROM:<a@b>"), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"unknown verb", T("XYZZY"), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"empty", T(""), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"leading space", T(" QUIT"), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"digits", T("250 OK"), GW_PARSE_OK, GW_VERB_UNKNOWN, NULL},
    {"nul", T("MAIL\0FROM:<a@b>"), GW_PARSE_INVALID, GW_VERB_UNKNOWN, NULL},
    {"nul in args", T("NOOP a\0"), GW_PARSE_INVALID, GW_VERB_UNKNOWN, NULL},
    {"cr", T("QUIT\r"), GW_PARSE_INVALID, GW_VERB_UNKNOWN, NULL},
    {"lf", T("QUIT\n"), GW_PARSE_INVALID, GW_VERB_UNKNOWN, NULL},
    {"ctrl-a", T("NOOP \x01"), GW_PARSE_INVALID, GW_VERB_UNKNOWN, NULL},
    {"esc in unknown", T("XYZ \x1b[0m"), GW_PARSE_INVALID, GW_VERB_UNKNOWN,
     NULL},
    {"del", T("NOOP \x7f"), GW_PARSE_INVALID, GW_VERB_UNKNOWN, NULL},
};

static void
test_cmd_check(const struct test_cmd_case *t)
{
    struct gw_cmd cmd;
    uint8_t *in = test_copy(t->in, t->in_len);
    int rc = gw_cmd_parse(in, t->in_len, &cmd);

    if (rc != t->rc) {
        fail_msg("%s: rc %d, expected %d", t->label, rc, t->rc);
    }
    if (rc == GW_PARSE_OK && cmd.verb != t->verb) {
        fail_msg("%s: verb %s, expected %s", t->label, gw_verb_name(cmd.verb),
                 gw_verb_name(t->verb));
    }
    if (t->args != NULL) {
        if (cmd.args_len != strlen(t->args) ||
            memcmp(cmd.args, t->args, cmd.args_len) != 0) {
            fail_msg("%s: args \"%.*s\", expected \"%s\"", t->label,
                     (int)cmd.args_len, (const char *)cmd.args, t->args);
        }
        /* the arguments point into the line */
        if (cmd.args < in || cmd.args + cmd.args_len > in + t->in_len) {
            fail_msg("%s: args outside the line", t->label);
        }
    }
    free(in);
}

static void
test_cmd_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(test_cmd_cases); i++) {
        test_cmd_check(&test_cmd_cases[i]);
    }
}

/* Every verb, in upper, lower and alternating case, bare and with an
 * argument; and the verb name table agrees with the parser. */
static void
test_cmd_every_verb_any_case(void **state)
{
    int v;
    int form;
    size_t i;

    (void)state;
    for (v = 1; v < GW_VERB_COUNT; v++) {
        const char *name = gw_verb_name((enum gw_verb)v);
        size_t n = strlen(name);

        for (form = 0; form < 6; form++) {
            char line[64];
            struct test_cmd_case t;

            for (i = 0; i < n; i++) {
                char c = name[i];

                if (form % 3 == 1 || (form % 3 == 2 && i % 2 == 0)) {
                    c = (char)(c - 'A' + 'a');
                }
                line[i] = c;
            }
            if (form >= 3) {
                memcpy(line + n, " arg ", 5);
                n += 5;
            }
            t.label = name;
            t.in = line;
            t.in_len = n;
            t.rc = GW_PARSE_OK;
            t.verb = (enum gw_verb)v;
            t.args = form >= 3 ? "arg" : "";
            test_cmd_check(&t);
            n = strlen(name);
        }
    }
    assert_string_equal(gw_verb_name(GW_VERB_UNKNOWN), "UNKNOWN");
    assert_string_equal(gw_verb_name(GW_VERB_COUNT), "UNKNOWN");
    assert_string_equal(gw_verb_name(GW_VERB_STARTTLS), "STARTTLS");
}

/* ---- MAIL / RCPT ------------------------------------------------------- */

enum test_who { TEST_MAIL, TEST_RCPT };

#define F_NULL 0x1
#define F_PM 0x2
#define F_8BIT 0x4

struct test_path_case {
    const char *label;
    enum test_who who;
    const char *in;
    size_t in_len;
    int rc;
    const char *addr; /* OK: expected address */
    unsigned flags;   /* F_* */
    size_t nparams;
    bool in_path; /* failure: err->in_path */
};

static const struct test_path_case test_path_cases[] = {
    {"simple", TEST_MAIL, T("FROM:<a@b.example>"), GW_PARSE_OK, "a@b.example",
     0, 0, false},
    {"lower prefix", TEST_MAIL, T("from:<a@b>"), GW_PARSE_OK, "a@b", 0, 0,
     false},
    {"rcpt", TEST_RCPT, T("To:<u@d.example>"), GW_PARSE_OK, "u@d.example", 0, 0,
     false},
    {"space after colon", TEST_MAIL, T("FROM: <a@b>"), GW_PARSE_OK, "a@b", 0, 0,
     false},
    {"spaces after colon", TEST_RCPT, T("TO:   <a@b>"), GW_PARSE_OK, "a@b", 0,
     0, false},
    {"null path", TEST_MAIL, T("FROM:<>"), GW_PARSE_OK, "", F_NULL, 0, false},
    {"null path with param", TEST_MAIL, T("FROM:<> SIZE=0"), GW_PARSE_OK, "",
     F_NULL, 1, false},
    {"null rcpt", TEST_RCPT, T("TO:<>"), GW_PARSE_INVALID, NULL, 0, 0, true},
    {"postmaster", TEST_RCPT, T("TO:<Postmaster>"), GW_PARSE_OK, "Postmaster",
     F_PM, 0, false},
    {"postmaster upper", TEST_RCPT, T("TO:<POSTMASTER>"), GW_PARSE_OK,
     "POSTMASTER", F_PM, 0, false},
    {"postmaster mail", TEST_MAIL, T("FROM:<Postmaster>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"postmaster at domain", TEST_RCPT, T("TO:<postmaster@x.example>"),
     GW_PARSE_OK, "postmaster@x.example", 0, 0, false},
    {"not postmaster", TEST_RCPT, T("TO:<postmasters>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"quoted space", TEST_MAIL, T("FROM:<\"a b\"@x.org>"), GW_PARSE_OK,
     "\"a b\"@x.org", 0, 0, false},
    {"quoted escaped quote", TEST_MAIL, T("FROM:<\"a\\\"b\"@x.org>"),
     GW_PARSE_OK, "\"a\\\"b\"@x.org", 0, 0, false},
    {"quoted at", TEST_RCPT, T("TO:<\"a@b\"@x.org>"), GW_PARSE_OK,
     "\"a@b\"@x.org", 0, 0, false},
    {"quoted gt", TEST_RCPT, T("TO:<\"a>b\"@x.org>"), GW_PARSE_OK,
     "\"a>b\"@x.org", 0, 0, false},
    {"quoted unterminated", TEST_RCPT, T("TO:<\"ab@x.org>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"quoted then atom", TEST_RCPT, T("TO:<\"a\"b@x.org>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"quoted ctrl", TEST_RCPT, T("TO:<\"a\x01\"@x.org>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"source route", TEST_MAIL, T("FROM:<@a,@b:u@d>"), GW_PARSE_OK, "u@d", 0, 0,
     false},
    {"source route one", TEST_RCPT, T("TO:<@a.example:u@d>"), GW_PARSE_OK,
     "u@d", 0, 0, false},
    {"bad route no at", TEST_MAIL, T("FROM:<@a,b:u@d>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"bad route domain", TEST_MAIL, T("FROM:<@-a:u@d>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"route without colon", TEST_MAIL, T("FROM:<@a>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"missing brackets", TEST_MAIL, T("FROM:a@b"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"missing gt", TEST_MAIL, T("FROM:<a@b"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"missing lt", TEST_MAIL, T("FROM:a@b>"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"missing colon", TEST_MAIL, T("FROM<a@b>"), GW_PARSE_INVALID, NULL, 0, 0,
     false},
    {"wrong keyword", TEST_MAIL, T("TO:<a@b>"), GW_PARSE_INVALID, NULL, 0, 0,
     false},
    {"rcpt from", TEST_RCPT, T("FROM:<a@b>"), GW_PARSE_INVALID, NULL, 0, 0,
     false},
    {"empty", TEST_MAIL, T(""), GW_PARSE_INVALID, NULL, 0, 0, false},
    {"prefix only", TEST_MAIL, T("FROM:"), GW_PARSE_INVALID, NULL, 0, 0, true},
    {"no domain", TEST_MAIL, T("FROM:<a>"), GW_PARSE_INVALID, NULL, 0, 0, true},
    {"empty domain", TEST_MAIL, T("FROM:<a@>"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"empty local", TEST_MAIL, T("FROM:<@b.example>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"leading hyphen", TEST_RCPT, T("TO:<a@-b.example>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"trailing hyphen", TEST_RCPT, T("TO:<a@b-.example>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"inner hyphen", TEST_RCPT, T("TO:<a@b-c.example>"), GW_PARSE_OK,
     "a@b-c.example", 0, 0, false},
    {"empty label", TEST_RCPT, T("TO:<a@b..example>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"leading dot", TEST_RCPT, T("TO:<a@.example>"), GW_PARSE_INVALID, NULL, 0,
     0, true},
    {"trailing dot", TEST_RCPT, T("TO:<a@b.example.>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"underscore", TEST_RCPT, T("TO:<a@b_c.example>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"space in domain", TEST_RCPT, T("TO:<a@b c.example>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"ipv4 literal", TEST_RCPT, T("TO:<a@[1.2.3.4]>"), GW_PARSE_OK,
     "a@[1.2.3.4]", 0, 0, false},
    {"ipv6 literal", TEST_RCPT, T("TO:<a@[IPv6:::1]>"), GW_PARSE_OK,
     "a@[IPv6:::1]", 0, 0, false},
    {"empty literal", TEST_RCPT, T("TO:<a@[]>"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"unclosed literal", TEST_RCPT, T("TO:<a@[1.2.3.4>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"bracket in literal", TEST_RCPT, T("TO:<a@[1.2[3]>"), GW_PARSE_INVALID,
     NULL, 0, 0, true},
    {"dots in local", TEST_MAIL, T("FROM:<a.b.c@x>"), GW_PARSE_OK, "a.b.c@x", 0,
     0, false},
    {"atext specials", TEST_MAIL, T("FROM:<a+b=c!#$%&'*/?^_`{|}~-@x>"),
     GW_PARSE_OK, "a+b=c!#$%&'*/?^_`{|}~-@x", 0, 0, false},
    {"local leading dot", TEST_MAIL, T("FROM:<.a@x>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"local trailing dot", TEST_MAIL, T("FROM:<a.@x>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"local double dot", TEST_MAIL, T("FROM:<a..b@x>"), GW_PARSE_INVALID, NULL,
     0, 0, true},
    {"local paren", TEST_MAIL, T("FROM:<a(b@x>"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"local space", TEST_MAIL, T("FROM:<a b@x>"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"local nul", TEST_MAIL, T("FROM:<a\0b@x>"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"8-bit local", TEST_MAIL, T("FROM:<jos\xc3\xa9@x.org>"), GW_PARSE_OK,
     "jos\xc3\xa9@x.org", F_8BIT, 0, false},
    {"8-bit domain", TEST_RCPT, T("TO:<a@b\xc3\xa9.org>"), GW_PARSE_OK,
     "a@b\xc3\xa9.org", F_8BIT, 0, false},
    {"8-bit quoted", TEST_RCPT, T("TO:<\"\xc3\xa9\"@x>"), GW_PARSE_OK,
     "\"\xc3\xa9\"@x", F_8BIT, 0, false},
    {"garbage after", TEST_MAIL, T("FROM:<a@b>x"), GW_PARSE_INVALID, NULL, 0, 0,
     true},
    {"param", TEST_MAIL, T("FROM:<a@b> SIZE=10"), GW_PARSE_OK, "a@b", 0, 1,
     false},
    {"params no value", TEST_MAIL, T("FROM:<a@b> BODY=8BITMIME SMTPUTF8"),
     GW_PARSE_OK, "a@b", 0, 2, false},
    {"params extra spaces", TEST_MAIL, T("FROM:<a@b>   SIZE=10   RET=HDRS  "),
     GW_PARSE_OK, "a@b", 0, 2, false},
    {"param hyphen keyword", TEST_RCPT, T("TO:<a@b> X-FOO=bar"), GW_PARSE_OK,
     "a@b", 0, 1, false},
    {"param 8-bit value", TEST_MAIL, T("FROM:<a@b> ENVID=\xc3\xa9"),
     GW_PARSE_OK, "a@b", 0, 1, false},
    {"param bad keyword", TEST_MAIL, T("FROM:<a@b> SI_ZE=1"), GW_PARSE_INVALID,
     NULL, 0, 0, false},
    {"param leading hyphen", TEST_MAIL, T("FROM:<a@b> -SIZE=1"),
     GW_PARSE_INVALID, NULL, 0, 0, false},
    {"param no keyword", TEST_MAIL, T("FROM:<a@b> =10"), GW_PARSE_INVALID, NULL,
     0, 0, false},
    {"param empty value", TEST_MAIL, T("FROM:<a@b> SIZE="), GW_PARSE_INVALID,
     NULL, 0, 0, false},
    {"param equals in value", TEST_MAIL, T("FROM:<a@b> SIZE=1=2"),
     GW_PARSE_INVALID, NULL, 0, 0, false},
    {"param ctrl in value", TEST_MAIL, T("FROM:<a@b> ENVID=a\x01"),
     GW_PARSE_INVALID, NULL, 0, 0, false},
    {"param ht", TEST_MAIL, T("FROM:<a@b> SIZE=1\tX=2"), GW_PARSE_INVALID, NULL,
     0, 0, false},
};

static void
test_path_check(const struct test_path_case *t)
{
    struct gw_mail_args a;
    struct gw_parse_error err;
    uint8_t *in = test_copy(t->in, t->in_len);
    int rc;
    size_t i;

    memset(&a, 0x5a, sizeof(a));
    if (t->who == TEST_MAIL) {
        rc = gw_mail_parse(in, t->in_len, &a, &err);
    } else {
        rc = gw_rcpt_parse(in, t->in_len, &a, &err);
    }
    if (rc != t->rc) {
        fail_msg("%s: rc %d, expected %d (why: %s)", t->label, rc, t->rc,
                 err.why != NULL ? err.why : "-");
    }
    if (rc != GW_PARSE_OK) {
        if (err.why == NULL) {
            fail_msg("%s: no reason given", t->label);
        }
        if (err.in_path != t->in_path) {
            fail_msg("%s: in_path %d, expected %d", t->label, err.in_path,
                     t->in_path);
        }
        free(in);
        return;
    }
    if (strcmp(a.path.addr, t->addr) != 0 || a.path.len != strlen(t->addr)) {
        fail_msg("%s: addr \"%s\" (%zu), expected \"%s\"", t->label,
                 a.path.addr, a.path.len, t->addr);
    }
    if (a.path.is_null != ((t->flags & F_NULL) != 0) ||
        a.path.is_postmaster != ((t->flags & F_PM) != 0) ||
        a.path.has_8bit != ((t->flags & F_8BIT) != 0)) {
        fail_msg("%s: null %d postmaster %d 8bit %d, expected flags %#x",
                 t->label, a.path.is_null, a.path.is_postmaster,
                 a.path.has_8bit, t->flags);
    }
    if (a.nparams != t->nparams) {
        fail_msg("%s: %zu params, expected %zu", t->label, a.nparams,
                 t->nparams);
    }
    for (i = 0; i < a.nparams; i++) {
        const struct gw_param *p = &a.params[i];

        if (p->key < in || p->key + p->key_len > in + t->in_len ||
            (p->value != NULL && p->value + p->value_len > in + t->in_len)) {
            fail_msg("%s: param %zu outside the arguments", t->label, i);
        }
    }
    free(in);
}

static void
test_path_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(test_path_cases); i++) {
        test_path_check(&test_path_cases[i]);
    }
}

/* Builds "FROM:<" local "@" domain ">" with the given lengths (domain from
 * labels of at most 63 octets). */
static size_t
test_path_build(char *dst, size_t cap, size_t local_len, size_t domain_len)
{
    size_t o = 0;
    size_t i;

    assert_true(local_len + domain_len + 8 < cap);
    memcpy(dst, "FROM:<", 6);
    o = 6;
    for (i = 0; i < local_len; i++) {
        dst[o++] = 'l';
    }
    dst[o++] = '@';
    for (i = 0; i < domain_len; i++) {
        /* a dot every 60 octets, never first or last */
        dst[o++] = (i % 60 == 59 && i + 1 < domain_len) ? '.' : 'd';
    }
    dst[o++] = '>';
    dst[o] = '\0';
    return o;
}

/* RFC 5321 4.5.3.1: local part 64, path 256 including "<>". */
static void
test_path_length_limits(void **state)
{
    static const struct {
        size_t local;
        size_t domain;
        int rc;
    } cases[] = {
        {64, 10, GW_PARSE_OK},       {65, 10, GW_PARSE_TOOLONG},
        {64, 189, GW_PARSE_OK},      /* 254 + "<>" = 256 */
        {64, 190, GW_PARSE_TOOLONG}, /* 257 */
        {10, 243, GW_PARSE_OK},      /* 254 */
        {10, 244, GW_PARSE_TOOLONG}, {1, 300, GW_PARSE_TOOLONG},
    };
    char line[512];
    char addr[512];
    struct test_path_case t;
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        char label[64];

        snprintf(label, sizeof(label), "local %zu domain %zu", cases[i].local,
                 cases[i].domain);
        t.label = label;
        t.who = TEST_MAIL;
        t.in = line;
        t.in_len = test_path_build(line, sizeof(line), cases[i].local,
                                   cases[i].domain);
        t.rc = cases[i].rc;
        memcpy(addr, line + 6, t.in_len - 7); /* without "FROM:<" ">" */
        addr[t.in_len - 7] = '\0';
        t.addr = addr;
        t.flags = 0;
        t.nparams = 0;
        t.in_path = true;
        test_path_check(&t);
    }
}

/* A 63-octet label is fine, 64 is not (RFC 1035). */
static void
test_path_label_length(void **state)
{
    char line[160];
    struct test_path_case t;
    int rc_ok;

    (void)state;
    for (rc_ok = 1; rc_ok >= 0; rc_ok--) {
        size_t n = rc_ok ? 63 : 64;

        memcpy(line, "TO:<a@", 6);
        memset(line + 6, 'x', n);
        memcpy(line + 6 + n, ".org>", 6);
        t.label = rc_ok ? "label 63" : "label 64";
        t.who = TEST_RCPT;
        t.in = line;
        t.in_len = strlen(line);
        t.rc = rc_ok ? GW_PARSE_OK : GW_PARSE_INVALID;
        t.addr = NULL;
        t.flags = 0;
        t.nparams = 0;
        t.in_path = true;
        if (rc_ok) {
            static char addr[80];

            memcpy(addr, line + 4, t.in_len - 5);
            addr[t.in_len - 5] = '\0';
            t.addr = addr;
        }
        test_path_check(&t);
    }
}

static void
test_params_values_and_find(void **state)
{
    static const char in[] =
        "FROM:<a@b> SIZE=10 body=8BITMIME SMTPUTF8 X-Y-1=v+2B";
    struct gw_mail_args a;
    struct gw_parse_error err;
    const struct gw_param *p;
    uint8_t *c = test_copy(in, sizeof(in) - 1);

    (void)state;
    assert_int_equal(gw_mail_parse(c, sizeof(in) - 1, &a, &err), GW_PARSE_OK);
    assert_int_equal(a.nparams, 4);

    p = gw_param_find(&a, "size");
    assert_non_null(p);
    assert_int_equal(p->key_len, 4);
    assert_memory_equal(p->key, "SIZE", 4);
    assert_int_equal(p->value_len, 2);
    assert_memory_equal(p->value, "10", 2);

    p = gw_param_find(&a, "BODY");
    assert_non_null(p);
    assert_int_equal(p->value_len, 8);
    assert_memory_equal(p->value, "8BITMIME", 8);

    p = gw_param_find(&a, "SmtpUtf8");
    assert_non_null(p);
    assert_null(p->value);
    assert_int_equal(p->value_len, 0);

    p = gw_param_find(&a, "x-y-1");
    assert_non_null(p);
    assert_memory_equal(p->value, "v+2B", 4);

    assert_null(gw_param_find(&a, "SIZ"));
    assert_null(gw_param_find(&a, "SIZE1"));
    assert_null(gw_param_find(&a, "RET"));
    free(c);
}

/* GW_MAX_PARAMS parameters are accepted, one more is refused. */
static void
test_params_too_many(void **state)
{
    char line[512];
    struct gw_mail_args a;
    struct gw_parse_error err;
    size_t o;
    int i;
    uint8_t *c;

    (void)state;
    o = (size_t)snprintf(line, sizeof(line), "FROM:<a@b>");
    for (i = 0; i < GW_MAX_PARAMS; i++) {
        o += (size_t)snprintf(line + o, sizeof(line) - o, " P%d=%d", i, i);
    }
    c = test_copy(line, o);
    assert_int_equal(gw_mail_parse(c, o, &a, &err), GW_PARSE_OK);
    assert_int_equal(a.nparams, GW_MAX_PARAMS);
    assert_non_null(gw_param_find(&a, "p15"));
    free(c);

    o += (size_t)snprintf(line + o, sizeof(line) - o, " EXTRA");
    c = test_copy(line, o);
    assert_int_equal(gw_mail_parse(c, o, &a, &err), GW_PARSE_INVALID);
    assert_non_null(err.why);
    assert_false(err.in_path);
    free(c);
}

/* ---- EHLO / HELO argument ---------------------------------------------- */

static void
test_helo_table(void **state)
{
    static const struct {
        const char *label;
        const char *in;
        size_t in_len;
        int rc;
    } cases[] = {
        {"domain", T("mx.example.com"), GW_PARSE_OK},
        {"literal", T("[192.0.2.1]"), GW_PARSE_OK},
        {"8-bit", T("b\xc3\xa9.example"), GW_PARSE_OK},
        {"empty", T(""), GW_PARSE_INVALID},
        {"space", T("a b"), GW_PARSE_INVALID},
        {"ht", T("a\tb"), GW_PARSE_INVALID},
        {"ctrl", T("a\x01"), GW_PARSE_INVALID},
        {"nul", T("a\0"), GW_PARSE_INVALID},
        {"del", T("a\x7f"), GW_PARSE_INVALID},
    };
    char long_name[300];
    uint8_t *c;
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        int rc;

        c = test_copy(cases[i].in, cases[i].in_len);
        rc = gw_helo_parse(c, cases[i].in_len);
        if (rc != cases[i].rc) {
            fail_msg("%s: rc %d, expected %d", cases[i].label, rc, cases[i].rc);
        }
        free(c);
    }
    memset(long_name, 'a', sizeof(long_name));
    c = test_copy(long_name, GW_MAX_DOMAIN);
    assert_int_equal(gw_helo_parse(c, GW_MAX_DOMAIN), GW_PARSE_OK);
    free(c);
    c = test_copy(long_name, GW_MAX_DOMAIN + 1);
    assert_int_equal(gw_helo_parse(c, GW_MAX_DOMAIN + 1), GW_PARSE_TOOLONG);
    free(c);
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_table),
        cmocka_unit_test(test_cmd_every_verb_any_case),
        cmocka_unit_test(test_path_table),
        cmocka_unit_test(test_path_length_limits),
        cmocka_unit_test(test_path_label_length),
        cmocka_unit_test(test_params_values_and_find),
        cmocka_unit_test(test_params_too_many),
        cmocka_unit_test(test_helo_table),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
