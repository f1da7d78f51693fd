/*
 * Unit tests for policy/pol_cidr.c: /0, /32, /128, IPv4-mapped IPv6 on
 * both sides (client and pattern), overlapping prefixes (the longest
 * wins), address parsing and printing, and a randomised comparison of the
 * trie against a linear longest-prefix search over thousands of entries.
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "policy/policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static char test_dir[64];

/* A ruleset: client_address cidr VALUES (NULL-terminated) => reject. */
static struct pol_ruleset *
cidr_rule(const char *const *values)
{
    struct pol_value_spec vals[8];
    struct pol_value_spec act = {"reject", {"p.yaml", 4, 13}};
    struct pol_cond_spec cond;
    struct pol_rule_spec rule;
    struct pol_spec spec;
    struct pol_errors errs;
    struct pol_ruleset *rs;
    size_t n = 0;

    memset(&cond, 0, sizeof(cond));
    memset(&rule, 0, sizeof(rule));
    memset(&spec, 0, sizeof(spec));
    while (values[n] != NULL) {
        assert_true(n < NELEM(vals));
        vals[n].text = values[n];
        vals[n].loc = (struct pol_loc){"p.yaml", 3, 20};
        n++;
    }
    cond.loc = (struct pol_loc){"p.yaml", 3, 9};
    cond.fact = "client_address";
    cond.match = "cidr";
    cond.values = vals;
    cond.nvalues = n;
    rule.loc = (struct pol_loc){"p.yaml", 1, 5};
    rule.stage = "connect";
    rule.conds = &cond;
    rule.nconds = 1;
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
    return rs;
}

static bool
cidr_holds(struct pol_ruleset *rs, const char *addr)
{
    struct pol_facts f;
    struct pol_verdict v;
    struct pol_env env;

    memset(&f, 0, sizeof(f));
    memset(&env, 0, sizeof(env));
    assert_int_equal(pol_addr_parse(&f.client_address, addr, strlen(addr)),
                     POL_OK);
    pol_verdict_init(&v, NULL, 0);
    return pol_eval(rs, POL_STAGE_CONNECT, &f, &env, &v) == POL_VERDICT_REJECT;
}

struct edge_case {
    const char *label;
    const char *values[4];
    const char *addr;
    bool holds;
};

/* clang-format off: one case per line or two */
static const struct edge_case edge_cases[] = {
    {"v4 /0 any", {"0.0.0.0/0"}, "255.255.255.255", true},
    {"v4 /0 mapped", {"0.0.0.0/0"}, "::ffff:1.2.3.4", true},
    {"v4 /0 not v6", {"0.0.0.0/0"}, "2001:db8::1", false},
    {"v6 /0 any", {"::/0"}, "ffff::1", true},
    {"v6 /0 not v4", {"::/0"}, "1.2.3.4", false},
    {"v6 /0 not mapped", {"::/0"}, "::ffff:1.2.3.4", false},
    {"/32 exact", {"192.0.2.1/32"}, "192.0.2.1", true},
    {"/32 next", {"192.0.2.1/32"}, "192.0.2.2", false},
    {"/32 implied", {"192.0.2.1"}, "192.0.2.1", true},
    {"/32 zero", {"0.0.0.0/32"}, "0.0.0.0", true},
    {"/32 all ones", {"255.255.255.255"}, "255.255.255.255", true},
    {"/32 all ones next", {"255.255.255.255"}, "255.255.255.254", false},
    {"/31 low", {"192.0.2.2/31"}, "192.0.2.2", true},
    {"/31 high", {"192.0.2.2/31"}, "192.0.2.3", true},
    {"/31 out", {"192.0.2.2/31"}, "192.0.2.4", false},
    {"/1 high half", {"128.0.0.0/1"}, "200.1.1.1", true},
    {"/1 low half", {"128.0.0.0/1"}, "127.255.255.255", false},
    {"/128 exact", {"2001:db8::1/128"}, "2001:db8::1", true},
    {"/128 next", {"2001:db8::1/128"}, "2001:db8::2", false},
    {"/128 implied", {"2001:db8::1"}, "2001:db8:0:0:0:0:0:1", true},
    {"/128 ::", {"::/128"}, "::", true},
    {"/128 ::1", {"::1"}, "::1", true},
    {"/128 last",
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
     true},
    {"/127 pair", {"2001:db8::/127"}, "2001:db8::1", true},
    {"/64", {"2001:db8:1:2::/64"}, "2001:db8:1:2:ffff::9", true},
    {"/64 out", {"2001:db8:1:2::/64"}, "2001:db8:1:3::9", false},
    {"brackets", {"[2001:db8::]/32"}, "2001:db8:ab::1", true},
    {"mapped client", {"192.0.2.0/24"}, "::ffff:192.0.2.200", true},
    {"mapped pattern /120", {"::ffff:192.0.2.0/120"}, "192.0.2.9", true},
    {"mapped pattern /128", {"::ffff:192.0.2.9"}, "192.0.2.9", true},
    {"mapped pattern /96 is v4 /0", {"::ffff:0:0/96"}, "8.8.8.8", true},
    {"mapped pattern /96 not v6", {"::ffff:0:0/96"}, "2001:db8::1", false},
    {"v6 /95 covering mapped is v6", {"::fffe:0:0/95"}, "8.8.8.8", false},
    {"compat ::1.2.3.4 is v6", {"::1.2.3.4"}, "1.2.3.4", false},
    {"any of several",
     {"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"},
     "192.0.2.7",
     true},
    {"any of several v6",
     {"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"},
     "2001:db8::7",
     true},
    {"any of several none",
     {"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"},
     "192.0.2.8",
     false},
    {"overlap in a set", {"10.0.0.0/8", "10.1.0.0/16"}, "10.1.2.3", true},
};
/* clang-format on */

static void
test_cidr_edges(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(edge_cases); i++) {
        const struct edge_case *c = &edge_cases[i];
        const char *vals[5] = {c->values[0], c->values[1], c->values[2],
                               c->values[3], NULL};
        struct pol_ruleset *rs = cidr_rule(vals);

        if (cidr_holds(rs, c->addr) != c->holds) {
            fail_msg("case '%s': %s", c->label, c->addr);
        }
        pol_ruleset_unref(rs);
    }
}

/* ---- overlapping prefixes with actions: the longest wins ---------------- */

static struct pol_ruleset *
cidr_table(const char *content, size_t *nerr, char *first, size_t cap)
{
    struct pol_value_spec val;
    struct pol_cond_spec cond;
    struct pol_rule_spec rule;
    struct pol_spec spec;
    struct pol_errors *errs = calloc(1, sizeof(*errs));
    struct pol_ruleset *rs;
    char path[128];
    char ref[160];
    FILE *fp;

    assert_non_null(errs);
    snprintf(path, sizeof(path), "%s/t.cidr", test_dir);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
    snprintf(ref, sizeof(ref), "cidr:%s", path);
    memset(&cond, 0, sizeof(cond));
    memset(&rule, 0, sizeof(rule));
    memset(&spec, 0, sizeof(spec));
    val.text = ref;
    val.loc = (struct pol_loc){"p.yaml", 3, 20};
    cond.loc = (struct pol_loc){"p.yaml", 3, 9};
    cond.fact = "client_address";
    cond.match = "table";
    cond.values = &val;
    cond.nvalues = 1;
    rule.loc = (struct pol_loc){"p.yaml", 1, 5};
    rule.stage = "connect";
    rule.conds = &cond;
    rule.nconds = 1;
    spec.rules = &rule;
    spec.nrules = 1;
    rs = pol_compile(&spec, errs);
    *nerr = errs->count;
    if (errs->count > 0 && first != NULL) {
        pol_error_format(&errs->e[0], first, cap);
    }
    free(errs);
    return rs;
}

/* The reply text for addr, or "-" when nothing decided. */
static const char *
cidr_text(struct pol_ruleset *rs, const char *addr, char *buf, size_t cap)
{
    struct pol_facts f;
    struct pol_verdict v;
    struct pol_env env;

    memset(&f, 0, sizeof(f));
    memset(&env, 0, sizeof(env));
    assert_int_equal(pol_addr_parse(&f.client_address, addr, strlen(addr)),
                     POL_OK);
    pol_verdict_init(&v, buf, cap);
    if (pol_eval(rs, POL_STAGE_CONNECT, &f, &env, &v) != POL_VERDICT_REJECT) {
        return "-";
    }
    return v.text;
}

static void
test_cidr_overlap(void **state)
{
    static const struct {
        const char *addr;
        const char *want;
    } cases[] = {
        {"10.1.2.3", "host"},      {"10.1.2.4", "net16"},
        {"10.1.255.255", "net16"}, {"10.2.0.0", "net8"},
        {"11.0.0.0", "all"},       {"::ffff:10.1.2.3", "host"},
        {"2001:db8::1", "-"},
    };
    struct pol_ruleset *rs;
    char buf[128];
    size_t nerr;
    size_t i;

    (void)state;
    /* exceptions first, as Postfix needs too: both readings agree */
    rs = cidr_table("10.1.2.3 REJECT host\n"
                    "10.1.0.0/16 REJECT net16\n"
                    "10.0.0.0/8 REJECT net8\n"
                    "0.0.0.0/0 REJECT all\n",
                    &nerr, NULL, 0);
    assert_non_null(rs);
    for (i = 0; i < NELEM(cases); i++) {
        const char *got = cidr_text(rs, cases[i].addr, buf, sizeof(buf));

        if (strcmp(got, cases[i].want) != 0) {
            fail_msg("%s: got %s, want %s", cases[i].addr, got, cases[i].want);
        }
    }
    pol_ruleset_unref(rs);

    /* the same entries in the other order are refused: Postfix would never
     * use the later, more specific lines */
    rs = cidr_table("0.0.0.0/0 REJECT all\n"
                    "10.0.0.0/8 REJECT net8\n"
                    "10.1.0.0/16 REJECT net16\n",
                    &nerr, NULL, 0);
    assert_null(rs);
    assert_int_equal(nerr, 2);

    /* ...unless they have the same action: order cannot matter then */
    rs = cidr_table("10.0.0.0/8 REJECT same\n"
                    "10.1.0.0/16 REJECT same\n"
                    "10.0.0.0/8 REJECT same\n",
                    &nerr, NULL, 0);
    assert_non_null(rs);
    assert_string_equal(cidr_text(rs, "10.1.0.1", buf, sizeof(buf)), "same");
    pol_ruleset_unref(rs);
}

/* ---- random tables against a linear longest-prefix search --------------- */

struct ref_entry {
    uint8_t family;
    uint8_t bytes[16];
    unsigned bits;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static bool
ref_holds(const struct ref_entry *e, const uint8_t *a, uint8_t family)
{
    unsigned i;

    if (e->family != family) {
        return false;
    }
    for (i = 0; i < e->bits; i++) {
        unsigned b = 7 - i % 8;

        if (((e->bytes[i / 8] >> b) & 1) != ((a[i / 8] >> b) & 1)) {
            return false;
        }
    }
    return true;
}

static int
ref_cmp_bits(const void *x, const void *y)
{
    const struct ref_entry *a = x;
    const struct ref_entry *b = y;

    return a->bits < b->bits ? 1 : a->bits > b->bits ? -1 : 0;
}

static void
test_cidr_random_vs_linear(void **state)
{
    enum { N = 3000, Q = 20000 };
    struct ref_entry *e = calloc(N, sizeof(*e));
    char *text = malloc((size_t)N * 80);
    size_t tlen = 0;
    size_t n = 0;
    struct pol_ruleset *rs;
    char buf[128];
    char first[600];
    size_t nerr;
    size_t i;
    size_t j;
    unsigned q;

    (void)state;
    assert_non_null(e);
    assert_non_null(text);
    while (n < N) {
        struct ref_entry c;
        unsigned k;

        memset(&c, 0, sizeof(c));
        c.family = rng() % 3 == 0 ? 6 : 4;
        /* short prefixes are few, so that they overlap a lot */
        c.bits = c.family == 4 ? 8 + rng() % 25 : 16 + rng() % 113;
        for (k = 0; k < (c.family == 4 ? 4u : 16u); k++) {
            c.bytes[k] = (uint8_t)rng();
        }
        if (c.family == 4) {
            c.bytes[0] = (uint8_t)(10 + rng() % 4); /* a few /8s */
        } else {
            c.bytes[0] = 0x20;
            c.bytes[1] = 0x01;
        }
        for (k = c.bits; k < (c.family == 4 ? 32u : 128u); k++) {
            c.bytes[k / 8] &= (uint8_t) ~(1u << (7 - k % 8));
        }
        for (j = 0; j < n; j++) {
            if (e[j].family == c.family && e[j].bits == c.bits &&
                memcmp(e[j].bytes, c.bytes, 16) == 0) {
                break;
            }
        }
        if (j == n) {
            e[n++] = c;
        }
    }
    /* most specific first: then file order and longest match agree */
    qsort(e, N, sizeof(*e), ref_cmp_bits);
    for (i = 0; i < N; i++) {
        char a[INET6_ADDRSTRLEN];

        inet_ntop(e[i].family == 4 ? AF_INET : AF_INET6, e[i].bytes, a,
                  sizeof(a));
        tlen += (size_t)snprintf(text + tlen, 80, "%s/%u REJECT e%zu\n", a,
                                 e[i].bits, i);
    }
    text[tlen] = '\0';
    rs = cidr_table(text, &nerr, first, sizeof(first));
    if (rs == NULL) {
        fail_msg("%s", first);
    }
    for (q = 0; q < Q; q++) {
        const struct ref_entry *base = &e[rng() % N];
        uint8_t a[16];
        char as[INET6_ADDRSTRLEN + 8];
        char want[16] = "-";
        unsigned k;
        unsigned keep = rng() % (base->bits + 1);

        /* an address near an entry: its first `keep` bits, random after */
        memcpy(a, base->bytes, 16);
        for (k = keep; k < (base->family == 4 ? 32u : 128u); k++) {
            if ((rng() & 1) != 0) {
                a[k / 8] ^= (uint8_t)(1u << (7 - k % 8));
            }
        }
        for (i = 0; i < N; i++) {
            if (ref_holds(&e[i], a, base->family)) {
                snprintf(want, sizeof(want), "e%zu", i);
                break; /* sorted longest first */
            }
        }
        if (base->family == 4 && (q & 1) != 0) {
            snprintf(as, sizeof(as), "::ffff:%u.%u.%u.%u", a[0], a[1], a[2],
                     a[3]);
        } else {
            inet_ntop(base->family == 4 ? AF_INET : AF_INET6, a, as,
                      sizeof(as));
        }
        if (strcmp(cidr_text(rs, as, buf, sizeof(buf)), want) != 0) {
            fail_msg("%s: trie says %s, linear search says %s", as, buf, want);
        }
    }
    pol_ruleset_unref(rs);
    free(text);
    free(e);
}

/* ---- addresses ---------------------------------------------------------- */

static void
test_addr_parse_format(void **state)
{
    static const struct {
        const char *in;
        int rc;
        uint8_t family;
        const char *text;
    } cases[] = {
        {"192.0.2.1", POL_OK, POL_AF_INET, "192.0.2.1"},
        {"0.0.0.0", POL_OK, POL_AF_INET, "0.0.0.0"},
        {"2001:DB8:0:0:0:0:0:1", POL_OK, POL_AF_INET6, "2001:db8::1"},
        {"[2001:db8::1]", POL_OK, POL_AF_INET6, "2001:db8::1"},
        {"::ffff:192.0.2.1", POL_OK, POL_AF_INET, "192.0.2.1"},
        {"::", POL_OK, POL_AF_INET6, "::"},
        {"[192.0.2.1]", POL_E_INVAL, 0, NULL},
        {"192.0.2", POL_E_INVAL, 0, NULL},
        {"192.0.2.1.5", POL_E_INVAL, 0, NULL},
        {"192.0.2.256", POL_E_INVAL, 0, NULL},
        {"192.0.2.01", POL_E_INVAL, 0, NULL},
        {" 192.0.2.1", POL_E_INVAL, 0, NULL},
        {"", POL_E_INVAL, 0, NULL},
        {"[]", POL_E_INVAL, 0, NULL},
        {"2001:db8::1::2", POL_E_INVAL, 0, NULL},
        {"localhost", POL_E_INVAL, 0, NULL},
    };
    struct pol_addr a;
    char buf[64];
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        int rc = pol_addr_parse(&a, cases[i].in, strlen(cases[i].in));

        if (rc != cases[i].rc || a.family != cases[i].family) {
            fail_msg("'%s': rc %d family %u", cases[i].in, rc, a.family);
        }
        if (cases[i].text != NULL) {
            assert_int_equal(pol_addr_format(&a, buf, sizeof(buf)),
                             strlen(cases[i].text));
            assert_string_equal(buf, cases[i].text);
        }
    }
    /* only len bytes are read; a NUL inside is not an address */
    assert_int_equal(pol_addr_parse(&a, "10.0.0.1junk", 8), POL_OK);
    assert_int_equal(pol_addr_format(&a, buf, sizeof(buf)), 8);
    assert_int_equal(pol_addr_parse(&a, "10.0\0.0.1", 9), POL_E_INVAL);
    assert_int_equal(pol_addr_parse(&a, NULL, 0), POL_E_INVAL);
    /* absent, or no room */
    memset(&a, 0, sizeof(a));
    assert_int_equal(pol_addr_format(&a, buf, sizeof(buf)), 0);
    assert_int_equal(pol_addr_parse(&a, "192.0.2.1", 9), POL_OK);
    assert_int_equal(pol_addr_format(&a, buf, 9), 0);
    assert_int_equal(pol_addr_format(&a, buf, 10), 9);
}

static void
test_addr_from_sockaddr(void **state)
{
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
    struct pol_addr a;
    char buf[64];

    (void)state;
    memset(&in4, 0, sizeof(in4));
    in4.sin_family = AF_INET;
    inet_pton(AF_INET, "203.0.113.5", &in4.sin_addr);
    assert_int_equal(pol_addr_from_sockaddr(&a, (struct sockaddr *)&in4),
                     POL_OK);
    assert_int_equal(a.family, POL_AF_INET);
    pol_addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "203.0.113.5");

    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:203.0.113.6", &in6.sin6_addr);
    assert_int_equal(pol_addr_from_sockaddr(&a, (struct sockaddr *)&in6),
                     POL_OK);
    assert_int_equal(a.family, POL_AF_INET);
    pol_addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "203.0.113.6");

    inet_pton(AF_INET6, "2001:db8::6", &in6.sin6_addr);
    assert_int_equal(pol_addr_from_sockaddr(&a, (struct sockaddr *)&in6),
                     POL_OK);
    assert_int_equal(a.family, POL_AF_INET6);

    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    assert_int_equal(pol_addr_from_sockaddr(&a, (struct sockaddr *)&un),
                     POL_E_INVAL);
    assert_int_equal(a.family, 0);
    assert_int_equal(pol_addr_from_sockaddr(&a, NULL), POL_E_INVAL);

    /* a mapped address filled in by hand is IPv4 too */
    memset(&a, 0, sizeof(a));
    a.family = POL_AF_INET6;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    a.bytes[12] = 192;
    a.bytes[15] = 1;
    pol_addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "192.0.0.1");
}

static int
setup_dir(void **state)
{
    (void)state;
    snprintf(test_dir, sizeof(test_dir), "/tmp/test_pol_cidr.XXXXXX");
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

/* The public prefix test the gateway uses for proxy_trusted. */
static void
test_addr_in_net(void **state)
{
    struct pol_addr net;
    struct pol_addr a;
    unsigned bits;
    const char *why = NULL;

    (void)state;
    assert_int_equal(pol_cidr_parse("10.1.0.0/16", 11, &net, &bits, &why), 0);
    assert_int_equal(bits, 16);
    assert_int_equal(pol_addr_parse(&a, "10.1.255.3", 10), 0);
    assert_true(pol_addr_in_net(&a, &net, bits));
    assert_int_equal(pol_addr_parse(&a, "10.2.0.1", 8), 0);
    assert_false(pol_addr_in_net(&a, &net, bits));
    assert_int_equal(pol_addr_parse(&a, "::ffff:10.1.0.9", 15), 0);
    assert_true(pol_addr_in_net(&a, &net, bits)); /* mapped: IPv4 */
    assert_int_equal(pol_addr_parse(&a, "2001:db8::1", 11), 0);
    assert_false(pol_addr_in_net(&a, &net, bits)); /* other family */
    assert_int_equal(pol_cidr_parse("2001:db8::/32", 13, &net, &bits, &why),
                     0);
    assert_true(pol_addr_in_net(&a, &net, bits));
    assert_int_equal(pol_cidr_parse("0.0.0.0/0", 9, &net, &bits, &why), 0);
    assert_int_equal(pol_addr_parse(&a, "192.0.2.1", 9), 0);
    assert_true(pol_addr_in_net(&a, &net, bits));
    memset(&a, 0, sizeof(a));
    assert_false(pol_addr_in_net(&a, &net, bits)); /* absent */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_edges),
        cmocka_unit_test(test_cidr_overlap),
        cmocka_unit_test(test_cidr_random_vs_linear),
        cmocka_unit_test(test_addr_parse_format),
        cmocka_unit_test(test_addr_from_sockaddr),
        cmocka_unit_test(test_addr_in_net),
    };

    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
