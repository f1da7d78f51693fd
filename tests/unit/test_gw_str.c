/*
 * Unit tests for gateway/gw_str.c: case-insensitive compares over
 * (p, len), gw_strlcpy truncation, log escaping with "..." truncation, and
 * the size / duration parsers the config uses, overflow included.
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

#include "gateway/gw_str.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_str_ieq_iprefix(void **state)
{
    static const struct {
        const char *p;
        const char *word;
        bool eq;
        bool prefix;
    } cases[] = {
        {"MAIL", "mail", true, true},   {"mail", "MAIL", true, true},
        {"MaIl", "mAiL", true, true},   {"MAILX", "MAIL", false, true},
        {"MAI", "MAIL", false, false},  {"", "", true, true},
        {"abc", "", false, true},       {"", "a", false, false},
        {"[", "{", false, false},       {"@", "`", false, false},
        {"\xe9", "\xc9", false, false}, {"FROM:<", "from:", false, true},
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        size_t len = strlen(cases[i].p);
        uint8_t *c = malloc(len > 0 ? len : 1);

        assert_non_null(c);
        memcpy(c, cases[i].p, len);
        if (gw_str_ieq(c, len, cases[i].word) != cases[i].eq ||
            gw_str_iprefix(c, len, cases[i].word) != cases[i].prefix) {
            fail_msg("\"%s\" vs \"%s\"", cases[i].p, cases[i].word);
        }
        free(c);
    }
    /* only len bytes are compared: no NUL needed, none read beyond */
    assert_true(gw_str_ieq((const uint8_t *)"QUITX", 4, "quit"));
    assert_false(gw_str_iprefix((const uint8_t *)"QUITX", 3, "quit"));
}

static void
test_str_ascii_helpers(void **state)
{
    int c;

    (void)state;
    for (c = 0; c < 256; c++) {
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

        assert_int_equal(gw_is_alpha((uint8_t)c), alpha);
        assert_int_equal(gw_is_digit((uint8_t)c), c >= '0' && c <= '9');
        assert_int_equal(gw_is_graph((uint8_t)c), c >= 33 && c <= 126);
        assert_int_equal(gw_to_upper((uint8_t)c),
                         (c >= 'a' && c <= 'z') ? c - 32 : c);
    }
}

static void
test_strlcpy_truncation(void **state)
{
    char dst[16];

    (void)state;
    memset(dst, 'z', sizeof(dst));
    assert_int_equal(gw_strlcpy(dst, "hello", 10), 5);
    assert_string_equal(dst, "hello");
    assert_int_equal(gw_strlcpy(dst, "hello", 6), 5);
    assert_string_equal(dst, "hello");
    assert_int_equal(gw_strlcpy(dst, "hello", 5), 5); /* >= size: cut */
    assert_string_equal(dst, "hell");
    assert_int_equal(gw_strlcpy(dst, "hello", 1), 5);
    assert_string_equal(dst, "");
    memset(dst, 'z', sizeof(dst));
    assert_int_equal(gw_strlcpy(dst, "hello", 0), 5);
    assert_int_equal(dst[0], 'z'); /* size 0: nothing written */
    assert_int_equal(gw_strlcpy(dst, "", 4), 0);
    assert_string_equal(dst, "");
    memset(dst, 'z', sizeof(dst));
    gw_strlcpy(dst, "0123456789abcdefXYZ", 8);
    assert_string_equal(dst, "0123456");
    assert_int_equal(dst[8], 'z'); /* nothing past size */
}

struct test_esc_case {
    const char *label;
    const char *in;
    size_t in_len;
    size_t cap;
    const char *want;
};

#define T(s) s, sizeof(s) - 1

static const struct test_esc_case test_esc_cases[] = {
    {"plain", T("abc"), 16, "abc"},
    {"space tilde", T(" ~"), 16, " ~"},
    {"crlf", T("a\r\n"), 16, "a\\x0d\\x0a"},
    {"backslash", T("\\"), 16, "\\x5c"},
    {"quote", T("\""), 16, "\\x22"},
    {"nul", T("\0"), 16, "\\x00"},
    {"del", T("\x7f"), 16, "\\x7f"},
    {"8-bit", T("\xc3\xa9"), 16, "\\xc3\\xa9"},
    {"empty", T(""), 16, ""},
    {"cap 1", T("abc"), 1, ""},
    {"truncated", T("abcdefghij"), 8, "abcd..."},
    {"truncated escape", T("\x01\x02\x03"), 8, "\\x01..."},
    {"escape not split", T("abcd\x01"), 8, "abcd..."},
};

static void
test_escape_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(test_esc_cases); i++) {
        const struct test_esc_case *t = &test_esc_cases[i];
        char out[64];
        uint8_t *c = malloc(t->in_len > 0 ? t->in_len : 1);

        assert_non_null(c);
        memcpy(c, t->in, t->in_len);
        memset(out, 'z', sizeof(out));
        gw_str_escape(out, t->cap, c, t->in_len);
        free(c);
        if (strcmp(out, t->want) != 0) {
            fail_msg("%s: \"%s\", expected \"%s\"", t->label, out, t->want);
        }
        if (out[t->cap] != 'z') {
            fail_msg("%s: wrote past cap", t->label);
        }
    }
}

/*
 * gw_str.h: "stops at cap-1 bytes of output and ends with "..." when
 * truncated": output that fits in cap-1 bytes is not truncated.
 */
static void
test_escape_uses_whole_capacity(void **state)
{
    static const struct test_esc_case cases[] = {
        {"fits exactly", T("abc"), 4, "abc"},
        {"fits in 7", T("abcdef"), 8, "abcdef"},
        {"escape fits", T("a\x01"), 6, "a\\x01"},
        {"escape fits in 7", T("ab\x01"), 8, "ab\\x01"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        char out[64];

        gw_str_escape(out, cases[i].cap, (const uint8_t *)cases[i].in,
                      cases[i].in_len);
        if (strcmp(out, cases[i].want) != 0) {
            fail_msg("%s: \"%s\", expected \"%s\"", cases[i].label, out,
                     cases[i].want);
        }
    }
}

/* Random bytes: always NUL-terminated inside cap, only printable output,
 * and a prefix of the untruncated escape. */
static void
test_escape_random(void **state)
{
    uint8_t in[64];
    char full[64 * 4 + 8];
    char out[300];
    uint32_t x = 99;
    int iter;

    (void)state;
    for (iter = 0; iter < 5000; iter++) {
        size_t len;
        size_t cap;
        size_t i;
        size_t olen;

        x = x * 1103515245u + 12345u;
        len = (x >> 16) % sizeof(in);
        for (i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            in[i] = (uint8_t)(x >> 16);
        }
        x = x * 1103515245u + 12345u;
        cap = 1 + (x >> 16) % 280;
        gw_str_escape(full, sizeof(full), in, len);
        memset(out, 'z', sizeof(out));
        gw_str_escape(out, cap, in, len);
        olen = strnlen(out, sizeof(out));
        assert_true(olen < cap);
        assert_int_equal(out[cap], 'z');
        for (i = 0; i < olen; i++) {
            assert_true(out[i] >= 32 && out[i] < 127 && out[i] != '"');
        }
        if (strcmp(out, full) == 0) {
            continue;
        }
        /* truncated: a prefix of the full escape, then "..." (or nothing
         * at all when cap leaves no room for "...") */
        assert_true(strlen(full) > 0);
        if (olen == 0) {
            assert_true(cap < 4);
        } else {
            assert_true(olen >= 3);
            assert_string_equal(out + olen - 3, "...");
            assert_memory_equal(out, full, olen - 3);
        }
    }
}

static void
test_str_to_u64(void **state)
{
    static const struct {
        const char *in;
        bool ok;
        uint64_t v;
    } cases[] = {
        {"0", true, 0},
        {"42", true, 42},
        {"007", true, 7},
        {"18446744073709551615", true, UINT64_MAX},
        {"18446744073709551616", false, 0},
        {"99999999999999999999", false, 0},
        {"", false, 0},
        {"1a", false, 0},
        {"-1", false, 0},
        {" 1", false, 0},
        {"1 ", false, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        uint64_t v = 12345;
        bool ok = gw_str_to_u64((const uint8_t *)cases[i].in,
                                strlen(cases[i].in), &v);

        if (ok != cases[i].ok || (ok && v != cases[i].v)) {
            fail_msg("\"%s\": ok %d v %llu", cases[i].in, ok,
                     (unsigned long long)v);
        }
        if (!ok && v != 12345) {
            fail_msg("\"%s\": output written on failure", cases[i].in);
        }
    }
}

struct test_unit_case {
    const char *in;
    bool ok;
    uint64_t v;
};

static const struct test_unit_case test_size_cases[] = {
    {"1000", true, 1000},
    {"0", true, 0},
    {"10B", true, 10},
    {"10b", true, 10},
    {"512k", true, 512ULL << 10},
    {"512K", true, 512ULL << 10},
    {"512KB", true, 512ULL << 10},
    {"512kb", true, 512ULL << 10},
    {"50M", true, 50ULL << 20},
    {"50mb", true, 50ULL << 20},
    {"1G", true, 1ULL << 30},
    {"1T", true, 1ULL << 40},
    {"16777215T", true, 16777215ULL << 40},
    {"16777216T", false, 0},
    {"17179869183G", true, 17179869183ULL << 30},
    {"17179869184G", false, 0},
    {"17592186044416M", false, 0},
    {"18014398509481984K", false, 0},
    {"18446744073709551615", true, UINT64_MAX},
    {"18446744073709551615B", true, UINT64_MAX},
    {"18446744073709551616", false, 0},
    {"", false, 0},
    {"M", false, 0},
    {"B", false, 0},
    {"1X", false, 0},
    {"1MM", false, 0},
    {"1BB", false, 0},
    {"1MBB", false, 0},
    {"-1", false, 0},
    {" 1", false, 0},
    {"1 ", false, 0},
    {"1 M", false, 0},
    {"1.5M", false, 0},
};

static const struct test_unit_case test_duration_cases[] = {
    {"500ms", true, 500},
    {"30s", true, 30000},
    {"5m", true, 300000},
    {"2h", true, 7200000},
    {"1d", true, 86400000},
    {"10", true, 10000},
    {"0", true, 0},
    {"0ms", true, 0},
    {"18446744073709551615ms", true, UINT64_MAX},
    {"18446744073709551s", true, 18446744073709551000ULL},
    {"18446744073709552s", false, 0},
    {"18446744073709552", false, 0},
    {"307445734561825m", true, 307445734561825ULL * 60000},
    {"307445734561826m", false, 0},
    {"5124095576031h", false, 0},
    {"213503982334d", true, 213503982334ULL * 86400000},
    {"213503982335d", false, 0},
    {"", false, 0},
    {"s", false, 0},
    {"ms", false, 0},
    {"5M", false, 0},
    {"5S", false, 0},
    {"5mss", false, 0},
    {"5sec", false, 0},
    {"1.5s", false, 0},
    {"5 m", false, 0},
    {"-5s", false, 0},
    {"5w", false, 0},
};

static void
test_unit_run(const char *what, const struct test_unit_case *cases, size_t n,
              bool (*parse)(const char *, uint64_t *))
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t v = 777;
        bool ok = parse(cases[i].in, &v);

        if (ok != cases[i].ok || (ok && v != cases[i].v)) {
            fail_msg("%s \"%s\": ok %d v %llu, expected %d %llu", what,
                     cases[i].in, ok, (unsigned long long)v, cases[i].ok,
                     (unsigned long long)cases[i].v);
        }
    }
}

static void
test_parse_size_table(void **state)
{
    (void)state;
    test_unit_run("size", test_size_cases, NELEM(test_size_cases),
                  gw_parse_size);
}

static void
test_parse_duration_table(void **state)
{
    (void)state;
    test_unit_run("duration", test_duration_cases, NELEM(test_duration_cases),
                  gw_parse_duration);
}

/* An optional argument runs only the matching cases ('*' and '?'). */
static void
test_hex_value_and_ct_equal(void **state)
{
    (void)state;
    assert_int_equal(gw_hex_value('0'), 0);
    assert_int_equal(gw_hex_value('9'), 9);
    assert_int_equal(gw_hex_value('a'), 10);
    assert_int_equal(gw_hex_value('F'), 15);
    assert_int_equal(gw_hex_value('g'), -1);
    assert_int_equal(gw_hex_value('/'), -1);
    assert_int_equal(gw_hex_value(0xff), -1);
    assert_true(gw_ct_equal("abc", "abc", 3));
    assert_false(gw_ct_equal("abc", "abd", 3));
    assert_false(gw_ct_equal("xbc", "abc", 3));
    assert_true(gw_ct_equal("abc", "abd", 2));
    assert_true(gw_ct_equal("", "", 0));
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_ieq_iprefix),
        cmocka_unit_test(test_str_ascii_helpers),
        cmocka_unit_test(test_strlcpy_truncation),
        cmocka_unit_test(test_escape_table),
        cmocka_unit_test(test_escape_uses_whole_capacity),
        cmocka_unit_test(test_escape_random),
        cmocka_unit_test(test_str_to_u64),
        cmocka_unit_test(test_parse_size_table),
        cmocka_unit_test(test_parse_duration_table),
        cmocka_unit_test(test_hex_value_and_ct_equal),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
