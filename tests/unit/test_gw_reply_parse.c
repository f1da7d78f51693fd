/*
 * Unit tests for gateway/gw_reply_parse.c: upstream replies fed line by
 * line. Consistent codes, the bound on lines, enhanced status codes
 * (extracted once, stripped from every line, dropped when inconsistent),
 * sanitised and capped text, and the raw per-line text used for EHLO.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_reply_parse.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define TEST_MAX_LINES 8

struct test_reply_case {
    const char *label;
    const char *lines[TEST_MAX_LINES]; /* NULL-terminated */
    size_t max_lines;
    int rc;          /* result of the last line fed */
    size_t fed;      /* lines fed when the parser stopped */
    int code;        /* OK only */
    const char *enh; /* OK only */
    const char *text;
    size_t nlines;
};

static const struct test_reply_case test_reply_cases[] = {
    {"single", {"250 OK"}, 100, GW_PARSE_OK, 1, 250, "", "OK", 1},
    {"no text", {"250"}, 100, GW_PARSE_OK, 1, 250, "", "", 1},
    {"space no text", {"250 "}, 100, GW_PARSE_OK, 1, 250, "", "", 1},
    {"multi",
     {"250-a", "250-b", "250 c"},
     100,
     GW_PARSE_OK,
     3,
     250,
     "",
     "a\nb\nc",
     3},
    {"multi empty lines",
     {"250-", "250"},
     100,
     GW_PARSE_OK,
     2,
     250,
     "",
     "\n",
     2},
    {"lowest code", {"200 x"}, 100, GW_PARSE_OK, 1, 200, "", "x", 1},
    {"highest code", {"599 x"}, 100, GW_PARSE_OK, 1, 599, "", "x", 1},
    {"3xx", {"354 go"}, 100, GW_PARSE_OK, 1, 354, "", "go", 1},
    {"code below 200", {"199 x"}, 100, GW_PARSE_INVALID, 1, 0, NULL, NULL, 0},
    {"code above 599", {"600 x"}, 100, GW_PARSE_INVALID, 1, 0, NULL, NULL, 0},
    {"code 0", {"000 x"}, 100, GW_PARSE_INVALID, 1, 0, NULL, NULL, 0},
    {"inconsistent codes",
     {"250-a", "251 b"},
     100,
     GW_PARSE_INVALID,
     2,
     0,
     NULL,
     NULL,
     0},
    {"inconsistent class",
     {"250-a", "550 b"},
     100,
     GW_PARSE_INVALID,
     2,
     0,
     NULL,
     NULL,
     0},
    {"two digits", {"25 x"}, 100, GW_PARSE_INVALID, 1, 0, NULL, NULL, 0},
    {"four digits", {"2500 x"}, 100, GW_PARSE_INVALID, 1, 0, NULL, NULL, 0},
    {"no separator", {"250x"}, 100, GW_PARSE_INVALID, 1, 0, NULL, NULL, 0},
    {"junk", {"hello"}, 100, GW_PARSE_INVALID, 1, 0, NULL, NULL, 0},
    {"empty", {""}, 100, GW_PARSE_INVALID, 1, 0, NULL, NULL, 0},
    {"junk after continuation",
     {"250-a", "junk"},
     100,
     GW_PARSE_INVALID,
     2,
     0,
     NULL,
     NULL,
     0},
    {"max lines",
     {"250-a", "250-b", "250 c"},
     3,
     GW_PARSE_OK,
     3,
     250,
     "",
     "a\nb\nc",
     3},
    {"too many lines",
     {"250-a", "250-b", "250-c", "250 d"},
     3,
     GW_PARSE_TOOLONG,
     4,
     0,
     NULL,
     NULL,
     0},
    {"enhanced",
     {"550 5.1.1 No such user"},
     100,
     GW_PARSE_OK,
     1,
     550,
     "5.1.1",
     "No such user",
     1},
    {"enhanced only", {"250 2.0.0"}, 100, GW_PARSE_OK, 1, 250, "2.0.0", "", 1},
    {"enhanced extra spaces",
     {"250 2.0.0   ok"},
     100,
     GW_PARSE_OK,
     1,
     250,
     "2.0.0",
     "ok",
     1},
    {"enhanced long",
     {"450 4.100.999 busy"},
     100,
     GW_PARSE_OK,
     1,
     450,
     "4.100.999",
     "busy",
     1},
    {"enhanced every line",
     {"550-5.1.1 a", "550-5.1.1 b", "550 5.1.1 c"},
     100,
     GW_PARSE_OK,
     3,
     550,
     "5.1.1",
     "a\nb\nc",
     3},
    {"enhanced inconsistent",
     {"550-5.1.1 a", "550 5.1.2 b"},
     100,
     GW_PARSE_OK,
     2,
     550,
     "",
     "a\nb",
     2},
    {"enhanced missing later",
     {"550-5.1.1 a", "550 b"},
     100,
     GW_PARSE_OK,
     2,
     550,
     "",
     "a\nb",
     2},
    {"enhanced missing first",
     {"550-a", "550 5.1.1 b"},
     100,
     GW_PARSE_OK,
     2,
     550,
     "",
     "a\nb",
     2},
    {"enhanced wrong class",
     {"550 4.1.1 x"},
     100,
     GW_PARSE_OK,
     1,
     550,
     "",
     "4.1.1 x",
     1},
    {"enhanced glued",
     {"250 2.0.0x"},
     100,
     GW_PARSE_OK,
     1,
     250,
     "",
     "2.0.0x",
     1},
    {"enhanced too many digits",
     {"250 2.1000.0 x"},
     100,
     GW_PARSE_OK,
     1,
     250,
     "",
     "2.1000.0 x",
     1},
    {"enhanced short", {"250 2.0 x"}, 100, GW_PARSE_OK, 1, 250, "", "2.0 x", 1},
    {"sanitised",
     {"250 a\tb\x01"
      "c\x7f\xc3\xa9"},
     100,
     GW_PARSE_OK,
     1,
     250,
     "",
     "a?b?c???",
     1},
    {"sanitised continuation",
     {"250-\x1b[1m", "250 ok"},
     100,
     GW_PARSE_OK,
     2,
     250,
     "",
     "?[1m\nok",
     2},
};

static void
test_reply_check(const struct test_reply_case *t)
{
    struct gw_reply_parser rp;
    size_t i;
    int rc = GW_PARSE_AGAIN;

    gw_reply_parser_init(&rp, t->max_lines);
    for (i = 0; t->lines[i] != NULL && rc == GW_PARSE_AGAIN; i++) {
        size_t len = strlen(t->lines[i]);
        uint8_t *c = malloc(len > 0 ? len : 1);

        assert_non_null(c);
        memcpy(c, t->lines[i], len);
        rc = gw_reply_parser_feed(&rp, c, len);
        free(c);
    }
    if (rc != t->rc || i != t->fed) {
        fail_msg("%s: rc %d after %zu lines, expected %d after %zu", t->label,
                 rc, i, t->rc, t->fed);
    }
    if (rc != GW_PARSE_OK) {
        return;
    }
    if (rp.reply.code != t->code) {
        fail_msg("%s: code %d, expected %d", t->label, rp.reply.code, t->code);
    }
    if (strcmp(rp.reply.enhanced, t->enh) != 0) {
        fail_msg("%s: enhanced \"%s\", expected \"%s\"", t->label,
                 rp.reply.enhanced, t->enh);
    }
    if (strcmp(rp.reply.text, t->text) != 0 ||
        rp.reply.text_len != strlen(t->text)) {
        fail_msg("%s: text \"%s\" (%zu), expected \"%s\"", t->label,
                 rp.reply.text, rp.reply.text_len, t->text);
    }
    if (rp.reply.nlines != t->nlines) {
        fail_msg("%s: %zu lines, expected %zu", t->label, rp.reply.nlines,
                 t->nlines);
    }
    if (rp.reply.truncated) {
        fail_msg("%s: truncated", t->label);
    }
    if (rp.in_progress) {
        fail_msg("%s: still in progress after OK", t->label);
    }
}

static void
test_reply_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(test_reply_cases); i++) {
        test_reply_check(&test_reply_cases[i]);
    }
}

/* A NUL anywhere in the line is INVALID (needs explicit lengths). */
static void
test_reply_nul_is_invalid(void **state)
{
    static const uint8_t line1[] = {'2', '5', '0', ' ', 'a', 0, 'b'};
    static const uint8_t line2[] = {'2', '5', '0', 0};
    struct gw_reply_parser rp;

    (void)state;
    gw_reply_parser_init(&rp, 100);
    assert_int_equal(gw_reply_parser_feed(&rp, line1, sizeof(line1)),
                     GW_PARSE_INVALID);
    gw_reply_parser_init(&rp, 100);
    assert_int_equal(gw_reply_parser_feed(&rp, line2, sizeof(line2)),
                     GW_PARSE_INVALID);
}

/* After OK the next line starts a fresh reply. */
static void
test_reply_parser_reused(void **state)
{
    struct gw_reply_parser rp;

    (void)state;
    gw_reply_parser_init(&rp, 100);
    assert_int_equal(
        gw_reply_parser_feed(&rp, (const uint8_t *)"550-5.1.1 a", 11),
        GW_PARSE_AGAIN);
    assert_int_equal(
        gw_reply_parser_feed(&rp, (const uint8_t *)"550 5.1.1 b", 11),
        GW_PARSE_OK);
    assert_int_equal(gw_reply_parser_feed(&rp, (const uint8_t *)"251 c", 5),
                     GW_PARSE_OK);
    assert_int_equal(rp.reply.code, 251);
    assert_string_equal(rp.reply.enhanced, "");
    assert_string_equal(rp.reply.text, "c");
    assert_int_equal(rp.reply.nlines, 1);
}

/* Text is capped at GW_MAX_REPLY_TEXT - 1 octets, NUL-terminated, and
 * marked truncated; a reply that just fits is not. */
static void
test_reply_text_truncation(void **state)
{
    uint8_t line[600];
    struct gw_reply_parser rp;
    int i;

    (void)state;
    memcpy(line, "250 ", 4);
    memset(line + 4, 'x', sizeof(line) - 4);

    gw_reply_parser_init(&rp, 100);
    assert_int_equal(gw_reply_parser_feed(&rp, line, 4 + GW_MAX_REPLY_TEXT - 1),
                     GW_PARSE_OK);
    assert_int_equal(rp.reply.text_len, GW_MAX_REPLY_TEXT - 1);
    assert_false(rp.reply.truncated);

    gw_reply_parser_init(&rp, 100);
    assert_int_equal(gw_reply_parser_feed(&rp, line, sizeof(line)),
                     GW_PARSE_OK);
    assert_int_equal(rp.reply.text_len, GW_MAX_REPLY_TEXT - 1);
    assert_int_equal(strlen(rp.reply.text), GW_MAX_REPLY_TEXT - 1);
    assert_true(rp.reply.truncated);

    /* many lines of 100 octets */
    gw_reply_parser_init(&rp, 100);
    line[3] = '-';
    for (i = 0; i < 9; i++) {
        assert_int_equal(gw_reply_parser_feed(&rp, line, 104), GW_PARSE_AGAIN);
    }
    line[3] = ' ';
    assert_int_equal(gw_reply_parser_feed(&rp, line, 104), GW_PARSE_OK);
    assert_int_equal(rp.reply.nlines, 10);
    assert_true(rp.reply.truncated);
    assert_int_equal(rp.reply.text_len, GW_MAX_REPLY_TEXT - 1);
    assert_int_equal(strlen(rp.reply.text), GW_MAX_REPLY_TEXT - 1);
}

/* line_text is the raw text of the line just fed (after the code and any
 * enhanced code), pointing into the caller's line: EHLO keywords. */
static void
test_reply_line_text_for_ehlo(void **state)
{
    static const char *const lines[] = {
        "250-mx.example.org Hello", "250-PIPELINING", "250-SIZE 1000",
        "250-2.0.0 8BITMIME",       "250-X\x01Y",     "250 DSN",
    };
    static const char *const want[] = {
        "mx.example.org Hello",
        "PIPELINING",
        "SIZE 1000",
        "8BITMIME",
        "X\x01Y",
        "DSN",
    };
    struct gw_reply_parser rp;
    size_t i;

    (void)state;
    gw_reply_parser_init(&rp, 100);
    for (i = 0; i < NELEM(lines); i++) {
        const uint8_t *l = (const uint8_t *)lines[i];
        size_t len = strlen(lines[i]);
        int rc = gw_reply_parser_feed(&rp, l, len);

        assert_int_equal(rc,
                         i + 1 < NELEM(lines) ? GW_PARSE_AGAIN : GW_PARSE_OK);
        assert_int_equal(rp.line_text_len, strlen(want[i]));
        assert_memory_equal(rp.line_text, want[i], rp.line_text_len);
        assert_true(rp.line_text >= l && rp.line_text <= l + len);
    }
    /* the kept text is sanitised, line_text was raw */
    assert_string_equal(rp.reply.text, "mx.example.org Hello\nPIPELINING\n"
                                       "SIZE 1000\n8BITMIME\nX?Y\nDSN");
    assert_string_equal(rp.reply.enhanced, "");

    /* after INVALID there is no line text */
    assert_int_equal(gw_reply_parser_feed(&rp, (const uint8_t *)"xyz", 3),
                     GW_PARSE_INVALID);
    assert_null(rp.line_text);
    assert_int_equal(rp.line_text_len, 0);
}

static void
test_enhanced_scan_table(void **state)
{
    static const struct {
        const char *in;
        int cls;
        size_t want;
    } cases[] = {
        {"5.1.1", 5, 5},      {"5.1.1 text", 5, 5}, {"2.0.0", 2, 5},
        {"4.7.0", 4, 5},      {"5.1.1", 4, 0},      {"5.123.456", 5, 9},
        {"5.1234.5", 5, 0},   {"5.1.1234", 5, 0},   {"5.1.1x", 5, 0},
        {"5.1.", 5, 0},       {"5.1", 5, 0},        {"5..1", 5, 0},
        {".1.1", 5, 0},       {"51.1.1", 5, 0},     {"5.a.1", 5, 0},
        {"", 5, 0},           {"x", 5, 0},          {"5.1.1\t", 5, 0},
        {"2.10.20 ok", 2, 7},
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        size_t len = strlen(cases[i].in);
        uint8_t *c = malloc(len > 0 ? len : 1);
        size_t got;

        assert_non_null(c);
        memcpy(c, cases[i].in, len);
        got = gw_enhanced_scan(c, len, cases[i].cls);
        free(c);
        if (got != cases[i].want) {
            fail_msg("\"%s\" class %d: %zu, expected %zu", cases[i].in,
                     cases[i].cls, got, cases[i].want);
        }
    }
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_table),
        cmocka_unit_test(test_reply_nul_is_invalid),
        cmocka_unit_test(test_reply_parser_reused),
        cmocka_unit_test(test_reply_text_truncation),
        cmocka_unit_test(test_reply_line_text_for_ehlo),
        cmocka_unit_test(test_enhanced_scan_table),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
