/*
 * Unit tests for gateway/gw_caps.c: EHLO keyword lines into the model
 * (case-insensitive, unknown keywords ignored), the effective SIZE limit,
 * the offered set, and the exact bytes of the EHLO reply, which parses
 * back into the same model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_caps.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_config.h"
#include "gateway/gw_reply_parse.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct test_caps_case {
    const char *line;
    uint32_t flags;
    uint64_t size_max;
};

static const struct test_caps_case test_caps_cases[] = {
    {"PIPELINING", GW_CAP_PIPELINING, 0},
    {"pipelining", GW_CAP_PIPELINING, 0},
    {"Size 1000", GW_CAP_SIZE, 1000},
    {"SIZE", GW_CAP_SIZE, 0},
    {"SIZE 0", GW_CAP_SIZE, 0},
    {"SIZE 52428800", GW_CAP_SIZE, 52428800},
    {"SIZE abc", GW_CAP_SIZE, 0},
    {"SIZE 10x", GW_CAP_SIZE, 0},
    {"SIZE 18446744073709551615", GW_CAP_SIZE, UINT64_MAX},
    {"SIZE 18446744073709551616", GW_CAP_SIZE, 0},
    {"8bitmime", GW_CAP_8BITMIME, 0},
    {"EnhancedStatusCodes", GW_CAP_ENHANCEDSTATUSCODES, 0},
    {"CHUNKING", GW_CAP_CHUNKING, 0},
    {"BINARYMIME", GW_CAP_BINARYMIME, 0},
    {"SMTPUTF8", GW_CAP_SMTPUTF8, 0},
    {"DSN", GW_CAP_DSN, 0},
    {"STARTTLS", GW_CAP_STARTTLS, 0},
    {"AUTH PLAIN LOGIN", GW_CAP_AUTH, 0},
    {"AUTH=LOGIN", GW_CAP_AUTH, 0},
    {"XCLIENT NAME ADDR PROTO", GW_CAP_XCLIENT, 0},
    {"XFORWARD NAME ADDR", GW_CAP_XFORWARD, 0},
    {"REQUIRETLS", GW_CAP_REQUIRETLS, 0},
    {"X-FOO", 0, 0},
    {"X-FOO 1000", 0, 0},
    {"PIPELININGX", 0, 0},
    {"PIPE", 0, 0},
    {"SIZEX 1000", 0, 0},
    {"", 0, 0},
    {" PIPELINING", 0, 0},
};

static void
test_caps_parse_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(test_caps_cases); i++) {
        const struct test_caps_case *t = &test_caps_cases[i];
        size_t len = strlen(t->line);
        uint8_t *c = malloc(len > 0 ? len : 1);
        struct gw_caps caps;

        assert_non_null(c);
        memcpy(c, t->line, len);
        memset(&caps, 0, sizeof(caps));
        gw_caps_parse_line(&caps, c, len);
        free(c);
        if (caps.flags != t->flags || caps.size_max != t->size_max) {
            fail_msg("\"%s\": flags %#x size %llu, expected %#x %llu", t->line,
                     (unsigned)caps.flags, (unsigned long long)caps.size_max,
                     (unsigned)t->flags, (unsigned long long)t->size_max);
        }
    }
}

/* A whole EHLO reply through the reply parser's line_text. */
static void
test_caps_from_ehlo_reply(void **state)
{
    static const char *const lines[] = {
        "250-mx.example.org Hello [192.0.2.1]",
        "250-PIPELINING",
        "250-SIZE 10240000",
        "250-X-FOO bar",
        "250-ETRN",
        "250-starttls",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250 CHUNKING",
    };
    struct gw_reply_parser rp;
    struct gw_caps caps;
    size_t i;

    (void)state;
    memset(&caps, 0, sizeof(caps));
    gw_reply_parser_init(&rp, 100);
    for (i = 0; i < NELEM(lines); i++) {
        int rc = gw_reply_parser_feed(&rp, (const uint8_t *)lines[i],
                                      strlen(lines[i]));

        assert_int_equal(rc,
                         i + 1 < NELEM(lines) ? GW_PARSE_AGAIN : GW_PARSE_OK);
        if (i > 0) {
            gw_caps_parse_line(&caps, rp.line_text, rp.line_text_len);
        }
    }
    assert_int_equal(caps.flags, GW_CAP_PIPELINING | GW_CAP_SIZE |
                                     GW_CAP_STARTTLS |
                                     GW_CAP_ENHANCEDSTATUSCODES |
                                     GW_CAP_8BITMIME | GW_CAP_CHUNKING);
    assert_int_equal(caps.size_max, 10240000);
    assert_true(gw_caps_has(&caps, GW_CAP_CHUNKING));
    assert_false(gw_caps_has(&caps, GW_CAP_AUTH));
}

static void
test_caps_size_limit_table(void **state)
{
    static const struct {
        const char *label;
        bool known;
        uint32_t flags;
        uint64_t up_size;
        uint64_t config;
        uint64_t want;
    } cases[] = {
        {"upstream smaller", true, GW_CAP_SIZE, 1000, 2000, 1000},
        {"config smaller", true, GW_CAP_SIZE, 3000, 2000, 2000},
        {"equal", true, GW_CAP_SIZE, 2000, 2000, 2000},
        {"upstream no limit", true, GW_CAP_SIZE, 0, 2000, 2000},
        {"upstream unknown", false, GW_CAP_SIZE, 1000, 2000, 2000},
        {"no SIZE keyword", true, GW_CAP_PIPELINING, 1000, 2000, 2000},
    };
    size_t i;
    struct gw_caps up;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        uint64_t got;

        memset(&up, 0, sizeof(up));
        up.known = cases[i].known;
        up.flags = cases[i].flags;
        up.size_max = cases[i].up_size;
        got = gw_caps_size_limit(&up, cases[i].config);
        if (got != cases[i].want) {
            fail_msg("%s: %llu, expected %llu", cases[i].label,
                     (unsigned long long)got,
                     (unsigned long long)cases[i].want);
        }
    }
    assert_int_equal(gw_caps_size_limit(NULL, 4096), 4096);
}

/* The default ehlo section: everything advertisable and passable. */
static struct gw_ehlo_cfg
default_ehlo(void)
{
    struct gw_ehlo_cfg e;

    memset(&e, 0, sizeof(e));
    e.advertise = GW_CAPS_ADVERTISABLE;
    e.pass = GW_CAPS_PASSABLE;
    return e;
}

static void
offer(struct gw_caps *off, const struct gw_ehlo_cfg *e,
      const struct gw_caps *up, uint64_t size)
{
    struct gw_offer_input in;

    memset(&in, 0, sizeof(in));
    in.ehlo = e;
    in.upstream = up;
    in.message_size = size;
    in.rcptmax = 100;
    in.mailmax = 10;
    gw_caps_offer(off, &in);
}

#define OWN                                                                    \
    (GW_CAP_PIPELINING | GW_CAP_SIZE | GW_CAP_8BITMIME |                       \
     GW_CAP_ENHANCEDSTATUSCODES | GW_CAP_CHUNKING | GW_CAP_LIMITS)

/*
 * The offered list as a table over config x upstream: Postern's own
 * keywords always; DSN/SMTPUTF8/BINARYMIME only when the upstream has them
 * (BINARYMIME also needs CHUNKING on both sides); drop patterns last;
 * upstream-only keywords (STARTTLS, AUTH, XCLIENT...) never.
 */
static void
test_caps_offer_table(void **state)
{
    static const struct {
        const char *label;
        uint32_t advertise;
        uint32_t pass;
        const char *drop;
        bool known;
        uint32_t up;
        uint32_t want;
    } rows[] = {
        {"legacy upstream", GW_CAPS_ADVERTISABLE, GW_CAPS_PASSABLE, NULL,
         true, 0, OWN},
        {"unknown upstream", GW_CAPS_ADVERTISABLE, GW_CAPS_PASSABLE, NULL,
         false, 0xffffffffu, OWN},
        {"modern upstream", GW_CAPS_ADVERTISABLE, GW_CAPS_PASSABLE, NULL,
         true, 0xffffffffu,
         OWN | GW_CAP_DSN | GW_CAP_SMTPUTF8 | GW_CAP_BINARYMIME},
        {"binarymime without upstream chunking", GW_CAPS_ADVERTISABLE,
         GW_CAPS_PASSABLE, NULL, true, GW_CAP_BINARYMIME | GW_CAP_DSN,
         OWN | GW_CAP_DSN},
        {"binarymime with chunking dropped", GW_CAPS_ADVERTISABLE,
         GW_CAPS_PASSABLE, "chunk*", true, 0xffffffffu,
         (OWN & ~GW_CAP_CHUNKING) | GW_CAP_DSN | GW_CAP_SMTPUTF8},
        {"pass nothing", GW_CAPS_ADVERTISABLE, 0, NULL, true, 0xffffffffu,
         OWN},
        {"advertise nothing", 0, GW_CAPS_PASSABLE, NULL, true, GW_CAP_DSN,
         GW_CAP_DSN},
        {"drop glob", GW_CAPS_ADVERTISABLE, GW_CAPS_PASSABLE, "*MIME", true,
         0xffffffffu,
         (OWN & ~GW_CAP_8BITMIME) | GW_CAP_DSN | GW_CAP_SMTPUTF8},
        {"drop exact, any case", GW_CAPS_ADVERTISABLE, GW_CAPS_PASSABLE,
         "pipelining", true, 0, OWN & ~GW_CAP_PIPELINING},
        {"advertise filtered to what Postern can honour", 0xffffffffu, 0,
         NULL, true, 0xffffffffu, OWN},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct gw_ehlo_cfg e = default_ehlo();
        struct gw_caps up;
        struct gw_caps off;

        e.advertise = rows[i].advertise;
        e.pass = rows[i].pass;
        if (rows[i].drop != NULL) {
            snprintf(e.drop[0], sizeof(e.drop[0]), "%s", rows[i].drop);
            e.ndrop = 1;
        }
        memset(&up, 0, sizeof(up));
        up.known = rows[i].known;
        up.flags = rows[i].up;
        offer(&off, &e, &up, 1000);
        if (off.flags != rows[i].want) {
            fail_msg("%s: offered %#x, expected %#x", rows[i].label,
                     off.flags, rows[i].want);
        }
    }
}

/* The bridges follow from (offered, upstream) alone. */
static void
test_caps_bridge_table(void **state)
{
    static const struct {
        const char *label;
        uint32_t up;
        bool bdat_to_data, serial, enh, eightbit;
    } rows[] = {
        {"legacy", 0, true, true, true, true},
        {"modern", 0xffffffffu, false, false, false, false},
        {"chunking only", GW_CAP_CHUNKING, false, true, true, true},
        {"pipelining + 8bit", GW_CAP_PIPELINING | GW_CAP_8BITMIME, true,
         false, true, false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct gw_ehlo_cfg e = default_ehlo();
        struct gw_caps up;
        struct gw_caps off;
        struct gw_bridge b;

        memset(&up, 0, sizeof(up));
        up.known = true;
        up.flags = rows[i].up;
        offer(&off, &e, &up, 1000);
        gw_caps_bridge(&b, &off, &up);
        if (b.bdat_to_data != rows[i].bdat_to_data ||
            b.serial != rows[i].serial || b.enhanced_synth != rows[i].enh ||
            b.eightbit_downgrade != rows[i].eightbit) {
            fail_msg("%s: bridge %d%d%d%d", rows[i].label, b.bdat_to_data,
                     b.serial, b.enhanced_synth, b.eightbit_downgrade);
        }
    }
}

static void
test_caps_offer_size(void **state)
{
    struct gw_ehlo_cfg e = default_ehlo();
    struct gw_caps up;
    struct gw_caps off;

    (void)state;
    memset(&up, 0, sizeof(up));
    up.known = true;
    up.flags = GW_CAP_SIZE;
    up.size_max = 1000;
    offer(&off, &e, &up, 1u << 20);
    assert_int_equal(off.size_max, 1000);
    assert_true(off.known);
    up.flags = 0;
    offer(&off, &e, &up, 1u << 20);
    assert_int_equal(off.size_max, 1u << 20);
    offer(&off, &e, NULL, 5000);
    assert_int_equal(off.size_max, 5000);
}

/* STARTTLS is the listener's to offer (before TLS is up), never the
 * upstream's. */
static void
test_caps_offer_starttls(void **state)
{
    struct gw_ehlo_cfg e = default_ehlo();
    struct gw_offer_input in;
    struct gw_caps up;
    struct gw_caps off;

    (void)state;
    memset(&up, 0, sizeof(up));
    up.known = true;
    up.flags = GW_CAP_STARTTLS;
    memset(&in, 0, sizeof(in));
    in.ehlo = &e;
    in.upstream = &up;
    in.message_size = 1000;
    gw_caps_offer(&off, &in);
    assert_false(gw_caps_has(&off, GW_CAP_STARTTLS));
    in.starttls = true;
    gw_caps_offer(&off, &in);
    assert_true(gw_caps_has(&off, GW_CAP_STARTTLS));
}

/* AUTH is offered with the mechanisms the session may use now (none: not
 * offered), never because the upstream has it; ehlo.drop can remove it. */
static void
test_caps_offer_auth(void **state)
{
    struct gw_ehlo_cfg e = default_ehlo();
    struct gw_offer_input in;
    struct gw_caps up;
    struct gw_caps off;
    uint8_t out[512];
    size_t n;

    (void)state;
    memset(&up, 0, sizeof(up));
    up.known = true;
    up.flags = GW_CAP_AUTH;
    memset(&in, 0, sizeof(in));
    in.ehlo = &e;
    in.upstream = &up;
    in.message_size = 1000;
    gw_caps_offer(&off, &in);
    assert_false(gw_caps_has(&off, GW_CAP_AUTH));
    in.auth_mechs = GW_SASL_MECHS_DEFAULT;
    gw_caps_offer(&off, &in);
    assert_true(gw_caps_has(&off, GW_CAP_AUTH));
    n = gw_caps_format_ehlo(&off, "h", out, sizeof(out));
    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr((char *)out, "250-AUTH PLAIN LOGIN\r\n"));
    in.auth_mechs = GW_SASL_MECH_BIT(GW_SASL_LOGIN);
    gw_caps_offer(&off, &in);
    n = gw_caps_format_ehlo(&off, "h", out, sizeof(out));
    out[n] = '\0';
    assert_non_null(strstr((char *)out, "250-AUTH LOGIN\r\n"));
    strcpy(e.drop[e.ndrop++], "auth");
    gw_caps_offer(&off, &in);
    assert_false(gw_caps_has(&off, GW_CAP_AUTH));
}

/* REQUIRETLS: only when the session can honour it AND the upstream
 * offers it (RFC 8689: the next hop must enforce it too). */
static void
test_caps_offer_requiretls(void **state)
{
    struct gw_ehlo_cfg e = default_ehlo();
    struct gw_offer_input in;
    struct gw_caps up;
    struct gw_caps off;

    (void)state;
    memset(&up, 0, sizeof(up));
    up.known = true;
    memset(&in, 0, sizeof(in));
    in.ehlo = &e;
    in.upstream = &up;
    in.message_size = 1000;
    in.requiretls = true;
    gw_caps_offer(&off, &in);
    assert_false(gw_caps_has(&off, GW_CAP_REQUIRETLS)); /* upstream lacks */
    up.flags = GW_CAP_REQUIRETLS;
    gw_caps_offer(&off, &in);
    assert_true(gw_caps_has(&off, GW_CAP_REQUIRETLS));
    in.requiretls = false; /* no TLS, or the block is not verify */
    gw_caps_offer(&off, &in);
    assert_false(gw_caps_has(&off, GW_CAP_REQUIRETLS));
}

static void
test_caps_keyword_flag(void **state)
{
    (void)state;
    assert_string_equal(gw_caps_keyword(GW_CAP_CHUNKING), "CHUNKING");
    assert_int_equal(gw_caps_flag("chunking"), GW_CAP_CHUNKING);
    assert_int_equal(gw_caps_flag("LiMiTs"), GW_CAP_LIMITS);
    assert_int_equal(gw_caps_flag("X-NOPE"), 0);
    assert_null(gw_caps_keyword(0x80000000u));
}

static void
test_caps_format_ehlo_exact(void **state)
{
    static const char want[] = "250-mx.example.org\r\n"
                               "250-PIPELINING\r\n"
                               "250-SIZE 1048576\r\n"
                               "250-8BITMIME\r\n"
                               "250-ENHANCEDSTATUSCODES\r\n"
                               "250-CHUNKING\r\n"
                               "250 LIMITS RCPTMAX=100 MAILMAX=10\r\n";
    struct gw_ehlo_cfg e = default_ehlo();
    struct gw_caps off;
    uint8_t out[256];
    size_t n;

    (void)state;
    offer(&off, &e, NULL, 1048576);
    n = gw_caps_format_ehlo(&off, "mx.example.org", out, sizeof(out));
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);

    memset(&off, 0, sizeof(off));
    n = gw_caps_format_ehlo(&off, "h", out, sizeof(out));
    assert_int_equal(n, 7);
    assert_memory_equal(out, "250 h\r\n", 7);

    off.flags = GW_CAP_SIZE;
    n = gw_caps_format_ehlo(&off, "h", out, sizeof(out));
    assert_int_equal(n, 19);
    assert_memory_equal(out, "250-h\r\n250 SIZE 0\r\n", 19);

    off.flags = GW_CAP_DSN | GW_CAP_PIPELINING;
    n = gw_caps_format_ehlo(&off, "h", out, sizeof(out));
    assert_int_equal(n, 32);
    assert_memory_equal(out, "250-h\r\n250-PIPELINING\r\n250 DSN\r\n", 32);
}

static void
test_caps_format_ehlo_too_small(void **state)
{
    struct gw_ehlo_cfg e = default_ehlo();
    struct gw_caps off;
    uint8_t out[256];
    size_t full;
    size_t cap;

    (void)state;
    offer(&off, &e, NULL, 1048576);
    full = gw_caps_format_ehlo(&off, "mx.example.org", out, sizeof(out));
    assert_true(full > 0);
    for (cap = 0; cap < full; cap++) {
        memset(out, 0xee, sizeof(out));
        if (gw_caps_format_ehlo(&off, "mx.example.org", out, cap) != 0) {
            fail_msg("cap %zu: not 0", cap);
        }
        if (out[cap] != 0xee) {
            fail_msg("cap %zu: wrote past the capacity", cap);
        }
    }
    assert_int_equal(gw_caps_format_ehlo(&off, "mx.example.org", out, full + 1),
                     full);
}

/* format_ehlo -> reply parser -> parse_line gives back the offered model. */
static void
test_caps_format_parse_round_trip(void **state)
{
    static const uint32_t sets[] = {
        0,
        GW_CAP_PIPELINING | GW_CAP_SIZE | GW_CAP_8BITMIME |
            GW_CAP_ENHANCEDSTATUSCODES,
        0x1fffu,
        GW_CAP_SIZE,
        GW_CAP_AUTH | GW_CAP_REQUIRETLS,
    };
    uint8_t out[512];
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(sets); i++) {
        struct gw_caps off;
        struct gw_caps back;
        struct gw_reply_parser rp;
        size_t n;
        size_t pos = 0;
        size_t line = 0;
        int rc = GW_PARSE_AGAIN;

        memset(&off, 0, sizeof(off));
        off.flags = sets[i];
        off.size_max = 123456789;
        memset(&back, 0, sizeof(back));
        n = gw_caps_format_ehlo(&off, "mx.example.org", out, sizeof(out));
        assert_true(n > 0);
        gw_reply_parser_init(&rp, 100);
        while (pos < n && rc == GW_PARSE_AGAIN) {
            const uint8_t *cr = memchr(out + pos, '\r', n - pos);

            assert_non_null(cr);
            assert_int_equal(cr[1], '\n');
            rc = gw_reply_parser_feed(&rp, out + pos, (size_t)(cr - out - pos));
            if (line++ > 0) {
                gw_caps_parse_line(&back, rp.line_text, rp.line_text_len);
            }
            pos = (size_t)(cr - out) + 2;
        }
        assert_int_equal(rc, GW_PARSE_OK);
        assert_int_equal(pos, n);
        assert_int_equal(rp.reply.code, 250);
        assert_int_equal(back.flags, off.flags);
        assert_int_equal(back.size_max,
                         (off.flags & GW_CAP_SIZE) ? off.size_max : 0);
    }
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_parse_table),
        cmocka_unit_test(test_caps_from_ehlo_reply),
        cmocka_unit_test(test_caps_size_limit_table),
        cmocka_unit_test(test_caps_offer_table),
        cmocka_unit_test(test_caps_bridge_table),
        cmocka_unit_test(test_caps_offer_size),
        cmocka_unit_test(test_caps_keyword_flag),
        cmocka_unit_test(test_caps_offer_starttls),
        cmocka_unit_test(test_caps_offer_auth),
        cmocka_unit_test(test_caps_offer_requiretls),
        cmocka_unit_test(test_caps_format_ehlo_exact),
        cmocka_unit_test(test_caps_format_ehlo_too_small),
        cmocka_unit_test(test_caps_format_parse_round_trip),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
