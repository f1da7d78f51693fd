/*
 * Unit tests for gateway/gw_reply.c: reply formatting (single and
 * multi-line, with and without an enhanced code, buffers too small), the
 * enhanced-code synthesis table (verb x code -> RFC 3463 code), and mapping
 * an upstream reply, which keeps the upstream's own enhanced code. Format
 * and parse are checked in both directions through gw_reply_parse.
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

#include "gateway/gw_reply.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct test_format_case {
    const char *label;
    int code;
    const char *enh;
    const char *text;
    const char *want;
};

static const struct test_format_case test_format_cases[] = {
    {"plain", 250, NULL, "OK", "250 OK\r\n"},
    {"empty enh", 250, "", "OK", "250 OK\r\n"},
    {"enhanced", 250, "2.0.0", "OK", "250 2.0.0 OK\r\n"},
    {"multi", 550, NULL, "a\nb", "550-a\r\n550 b\r\n"},
    {"multi enhanced", 250, "2.0.0", "a\nb\nc",
     "250-2.0.0 a\r\n250-2.0.0 b\r\n250 2.0.0 c\r\n"},
    {"empty middle line", 451, "4.3.0", "a\n\nc",
     "451-4.3.0 a\r\n451-4.3.0 \r\n451 4.3.0 c\r\n"},
    {"3xx", 354, "", "End data with <CR><LF>.<CR><LF>",
     "354 End data with <CR><LF>.<CR><LF>\r\n"},
};

static void
test_format_table(void **state)
{
    uint8_t out[256];
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(test_format_cases); i++) {
        const struct test_format_case *t = &test_format_cases[i];
        size_t n = gw_reply_format(out, sizeof(out), t->code, t->enh, t->text,
                                   strlen(t->text));

        if (n != strlen(t->want) || memcmp(out, t->want, n) != 0) {
            fail_msg("%s: got \"%.*s\" (%zu), expected \"%s\"", t->label,
                     (int)n, (const char *)out, n, t->want);
        }
    }
}

/* Only text_len octets of text are used; the text need not end in NUL. */
static void
test_format_uses_text_len(void **state)
{
    static const char text[] = {'a', 'b', 'c', '\n', 'd'};
    uint8_t out[64];
    size_t n;

    (void)state;
    n = gw_reply_format(out, sizeof(out), 250, NULL, text, 3);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "250 abc\r\n", 9);
    n = gw_reply_format(out, sizeof(out), 250, NULL, text, sizeof(text));
    assert_int_equal(n, 16);
    assert_memory_equal(out, "250-abc\r\n250 d\r\n", 16);
}

/* Every capacity below the reply's length returns 0 and writes nothing
 * past the capacity; room for the reply (plus snprintf's NUL) succeeds. */
static void
test_format_buffer_too_small(void **state)
{
    static const char text[] = "first line\nsecond line\nthird";
    static const char want[] = "250-2.1.5 first line\r\n250-2.1.5 second "
                               "line\r\n250 2.1.5 third\r\n";
    uint8_t out[128];
    size_t cap;
    size_t n;

    (void)state;
    for (cap = 0; cap < sizeof(want) - 1; cap++) {
        memset(out, 0xee, sizeof(out));
        n = gw_reply_format(out, cap, 250, "2.1.5", text, sizeof(text) - 1);
        if (n != 0) {
            fail_msg("cap %zu: returned %zu", cap, n);
        }
        if (out[cap] != 0xee) {
            fail_msg("cap %zu: wrote past the capacity", cap);
        }
    }
    n = gw_reply_format(out, sizeof(want), 250, "2.1.5", text,
                        sizeof(text) - 1);
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
}

/* ---- enhanced code synthesis ------------------------------------------- */

struct test_enh_case {
    enum gw_verb verb;
    bool eom;
    int code;
    const char *want;
};

static const struct test_enh_case test_enh_cases[] = {
    {GW_VERB_MAIL, false, 250, "2.1.0"},
    {GW_VERB_MAIL, false, 550, "5.1.0"},
    {GW_VERB_MAIL, false, 552, "5.3.4"},
    {GW_VERB_MAIL, false, 553, "5.1.7"},
    {GW_VERB_MAIL, false, 450, "4.1.0"},
    {GW_VERB_RCPT, false, 250, "2.1.5"},
    {GW_VERB_RCPT, false, 251, "2.1.5"},
    {GW_VERB_RCPT, false, 252, "2.1.5"},
    {GW_VERB_RCPT, false, 450, "4.2.0"},
    {GW_VERB_RCPT, false, 451, "4.3.0"},
    {GW_VERB_RCPT, false, 452, "4.5.3"},
    {GW_VERB_RCPT, false, 550, "5.1.1"},
    {GW_VERB_RCPT, false, 551, "5.1.6"},
    {GW_VERB_RCPT, false, 552, "5.2.2"},
    {GW_VERB_RCPT, false, 553, "5.1.3"},
    {GW_VERB_DATA, false, 354, ""},
    {GW_VERB_DATA, false, 554, "5.5.1"},
    {GW_VERB_DATA, false, 451, "4.3.0"},
    {GW_VERB_DATA, true, 250, "2.0.0"},
    {GW_VERB_DATA, true, 451, "4.3.0"},
    {GW_VERB_DATA, true, 452, "4.3.1"},
    {GW_VERB_DATA, true, 552, "5.3.4"},
    {GW_VERB_DATA, true, 554, "5.6.0"},
    {GW_VERB_DATA, true, 550, "5.0.0"},
    {GW_VERB_EHLO, false, 250, "2.0.0"},
    {GW_VERB_EHLO, false, 421, "4.3.0"},
    {GW_VERB_EHLO, false, 451, "4.3.0"},
    {GW_VERB_EHLO, false, 452, "4.3.1"},
    {GW_VERB_EHLO, false, 454, "4.0.0"},
    {GW_VERB_EHLO, false, 500, "5.5.2"},
    {GW_VERB_EHLO, false, 501, "5.5.4"},
    {GW_VERB_EHLO, false, 502, "5.5.1"},
    {GW_VERB_HELO, false, 503, "5.5.1"},
    {GW_VERB_NOOP, false, 504, "5.5.4"},
    {GW_VERB_STARTTLS, false, 530, "5.7.0"},
    {GW_VERB_QUIT, false, 221, "2.0.0"},
    {GW_VERB_RSET, false, 552, "5.3.4"},
    {GW_VERB_VRFY, false, 554, "5.0.0"},
    {GW_VERB_VRFY, false, 555, "5.0.0"},
    {GW_VERB_UNKNOWN, false, 220, "2.0.0"},
    {GW_VERB_UNKNOWN, false, 451, "4.3.0"},
    {GW_VERB_UNKNOWN, false, 499, "4.0.0"},
    {GW_VERB_AUTH, false, 334, ""},
    {GW_VERB_EHLO, false, 199, ""},
    {GW_VERB_EHLO, false, 600, ""},
};

static void
test_enh_run(const struct test_enh_case *cases, size_t n)
{
    size_t i;
    size_t bad = 0;

    for (i = 0; i < n; i++) {
        const struct test_enh_case *t = &cases[i];
        const char *got = gw_enhanced_for(t->verb, t->eom, t->code);

        if (got == NULL || strcmp(got, t->want) != 0) {
            print_error("%s%s %d: \"%s\", expected \"%s\"\n",
                        gw_verb_name(t->verb), t->eom ? " (eom)" : "", t->code,
                        got != NULL ? got : "(null)", t->want);
            bad++;
        }
    }
    if (bad > 0) {
        fail_msg("%zu of %zu enhanced codes wrong", bad, n);
    }
}

static void
test_enh_table(void **state)
{
    (void)state;
    test_enh_run(test_enh_cases, NELEM(test_enh_cases));
}

/*
 * A generic code-specific row (451 -> 4.3.0, 452 -> 4.3.1, 421 -> 4.3.0,
 * 50x -> 5.5.x, 530 -> 5.7.0) is more precise than a verb's class default
 * (MAIL 4xx -> 4.1.0 "other address status"); "any 451 -> 4.3.0".
 */
static void
test_enh_code_beats_verb_class(void **state)
{
    static const struct test_enh_case cases[] = {
        {GW_VERB_MAIL, false, 421, "4.3.0"},
        {GW_VERB_MAIL, false, 451, "4.3.0"},
        {GW_VERB_MAIL, false, 452, "4.3.1"},
        {GW_VERB_MAIL, false, 501, "5.5.4"},
        {GW_VERB_MAIL, false, 503, "5.5.1"},
        {GW_VERB_MAIL, false, 530, "5.7.0"},
        {GW_VERB_RCPT, false, 421, "4.3.0"},
        {GW_VERB_RCPT, false, 501, "5.5.4"},
        {GW_VERB_RCPT, false, 503, "5.5.1"},
        {GW_VERB_RCPT, false, 530, "5.7.0"},
    };

    (void)state;
    test_enh_run(cases, NELEM(cases));
}

/* Every 2xx/4xx/5xx code gets a code of its own class; 3xx gets none. */
static void
test_enh_class_always_matches(void **state)
{
    int v;
    int code;
    int eom;

    (void)state;
    for (v = 0; v < GW_VERB_COUNT; v++) {
        for (eom = 0; eom <= 1; eom++) {
            for (code = 200; code <= 599; code++) {
                const char *e = gw_enhanced_for((enum gw_verb)v, eom, code);

                assert_non_null(e);
                if (code / 100 == 3) {
                    assert_string_equal(e, "");
                    continue;
                }
                if (e[0] != '0' + code / 100 ||
                    gw_enhanced_scan((const uint8_t *)e, strlen(e),
                                     code / 100) != strlen(e)) {
                    fail_msg("%s %d: \"%s\"", gw_verb_name((enum gw_verb)v),
                             code, e);
                }
            }
        }
    }
}

/* ---- mapping upstream replies ------------------------------------------ */

static void
test_reply_parse_lines(struct gw_reply_parser *rp, const char *const *lines,
                       size_t n)
{
    size_t i;

    gw_reply_parser_init(rp, 100);
    for (i = 0; i < n; i++) {
        int rc = gw_reply_parser_feed(rp, (const uint8_t *)lines[i],
                                      strlen(lines[i]));

        assert_int_equal(rc, i + 1 < n ? GW_PARSE_AGAIN : GW_PARSE_OK);
    }
}

struct test_map_case {
    const char *label;
    const char *lines[4];
    size_t nlines;
    enum gw_verb verb;
    bool eom;
    const char *want;
};

static const struct test_map_case test_map_cases[] = {
    {"rcpt synthesised",
     {"550 no such user"},
     1,
     GW_VERB_RCPT,
     false,
     "550 5.1.1 no such user\r\n"},
    {"upstream code kept",
     {"550 5.7.1 relay denied"},
     1,
     GW_VERB_RCPT,
     false,
     "550 5.7.1 relay denied\r\n"},
    {"multi kept",
     {"452-4.5.3 too many", "452 4.5.3 later"},
     2,
     GW_VERB_RCPT,
     false,
     "452-4.5.3 too many\r\n452 4.5.3 later\r\n"},
    {"inconsistent then synthesised",
     {"550-5.1.1 a", "550 5.2.1 b"},
     2,
     GW_VERB_RCPT,
     false,
     "550-5.1.1 a\r\n550 5.1.1 b\r\n"},
    {"eom",
     {"250 queued as ABC"},
     1,
     GW_VERB_DATA,
     true,
     "250 2.0.0 queued as ABC\r\n"},
    {"354 none", {"354 go ahead"}, 1, GW_VERB_DATA, false, "354 go ahead\r\n"},
    {"sanitised text",
     {"250 ok\x01"},
     1,
     GW_VERB_MAIL,
     false,
     "250 2.1.0 ok?\r\n"},
    {"no text", {"250"}, 1, GW_VERB_MAIL, false, "250 2.1.0 \r\n"},
};

static void
test_map_table(void **state)
{
    struct gw_reply_parser rp;
    uint8_t out[512];
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(test_map_cases); i++) {
        const struct test_map_case *t = &test_map_cases[i];
        size_t n;

        test_reply_parse_lines(&rp, t->lines, t->nlines);
        n = gw_reply_map(out, sizeof(out), &rp.reply, t->verb, t->eom);
        if (n != strlen(t->want) || memcmp(out, t->want, n) != 0) {
            fail_msg("%s: got \"%.*s\", expected \"%s\"", t->label, (int)n,
                     (const char *)out, t->want);
        }
    }
}

/* format -> parse gives back code, enhanced code and text. */
static void
test_format_parse_round_trip(void **state)
{
    static const struct {
        int code;
        const char *enh;
        const char *text;
    } cases[] = {
        {250, "2.0.0", "OK"},
        {250, "", "mx.example.org\nPIPELINING\nSIZE 100"},
        {550, "5.1.1", "a\nb\nc"},
        {421, "4.3.2", "shutting down"},
        {552, "5.3.4", ""},
        {354, "", "go"},
    };
    struct gw_reply_parser rp;
    uint8_t out[512];
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        size_t n =
            gw_reply_format(out, sizeof(out), cases[i].code, cases[i].enh,
                            cases[i].text, strlen(cases[i].text));
        size_t pos = 0;
        int rc = GW_PARSE_AGAIN;

        assert_true(n > 0);
        gw_reply_parser_init(&rp, 100);
        while (pos < n && rc == GW_PARSE_AGAIN) {
            const uint8_t *crlf = memchr(out + pos, '\r', n - pos);

            assert_non_null(crlf);
            assert_true(crlf + 1 < out + n && crlf[1] == '\n');
            rc = gw_reply_parser_feed(&rp, out + pos,
                                      (size_t)(crlf - out - pos));
            pos = (size_t)(crlf - out) + 2;
        }
        assert_int_equal(rc, GW_PARSE_OK);
        assert_int_equal(pos, n);
        assert_int_equal(rp.reply.code, cases[i].code);
        assert_string_equal(rp.reply.enhanced, cases[i].enh);
        assert_string_equal(rp.reply.text, cases[i].text);
    }
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_table),
        cmocka_unit_test(test_format_uses_text_len),
        cmocka_unit_test(test_format_buffer_too_small),
        cmocka_unit_test(test_enh_table),
        cmocka_unit_test(test_enh_code_beats_verb_class),
        cmocka_unit_test(test_enh_class_always_matches),
        cmocka_unit_test(test_map_table),
        cmocka_unit_test(test_format_parse_round_trip),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
