/*
 * Unit tests for gateway/gw_line.c: line limits (the limit counts the
 * terminator), bare CR / bare LF / NUL flags, the over-long line path
 * (TOOLONG once, skip to the next LF, recover), and independence from how
 * the input is split across reads.
 *
 * Every call gets an exact-size heap copy of its input, so valgrind and
 * ASan see any read past p + len.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_line.h"

/* A string literal as (pointer, length), so cases may hold NUL octets. */
#define T(s) s, sizeof(s) - 1

struct test_line_case {
    const char *label;
    size_t max;
    const char *in;
    size_t in_len;
    int rc;
    const char *line; /* expected line (OK only) */
    size_t line_len;
    size_t consumed;
    unsigned flags;
};

static const struct test_line_case test_line_cases[] = {
    {"crlf", 512, T("HELO x\r\n"), GW_PARSE_OK, T("HELO x"), 8, 0},
    {"bare lf", 512, T("HELO x\n"), GW_PARSE_OK, T("HELO x"), 7,
     GW_LINE_BARE_LF},
    {"bare cr inside", 512, T("HE\rLO\r\n"), GW_PARSE_OK, T("HE\rLO"), 7,
     GW_LINE_BARE_CR},
    {"cr cr lf", 512, T("ab\r\r\n"), GW_PARSE_OK, T("ab\r"), 5,
     GW_LINE_BARE_CR},
    {"bare cr and bare lf", 512, T("a\rb\n"), GW_PARSE_OK, T("a\rb"), 4,
     GW_LINE_BARE_CR | GW_LINE_BARE_LF},
    {"nul", 512, T("a\0b\r\n"), GW_PARSE_OK, T("a\0b"), 5, GW_LINE_NUL},
    {"nul and bare lf", 512, T("\0\n"), GW_PARSE_OK, T("\0"), 2,
     GW_LINE_NUL | GW_LINE_BARE_LF},
    {"empty line", 512, T("\r\n"), GW_PARSE_OK, T(""), 2, 0},
    {"lone lf", 512, T("\n"), GW_PARSE_OK, T(""), 1, GW_LINE_BARE_LF},
    {"first of two", 512, T("A\r\nB\r\n"), GW_PARSE_OK, T("A"), 3, 0},
    {"8-bit kept", 512, T("\xc3\xa9\r\n"), GW_PARSE_OK, T("\xc3\xa9"), 4, 0},
    {"empty input", 512, T(""), GW_PARSE_AGAIN, NULL, 0, 0, 0},
    {"no terminator", 512, T("HELO"), GW_PARSE_AGAIN, NULL, 0, 0, 0},
    {"cr waits for lf", 512, T("HELO\r"), GW_PARSE_AGAIN, NULL, 0, 0, 0},
    {"at limit crlf", 8, T("123456\r\n"), GW_PARSE_OK, T("123456"), 8, 0},
    {"at limit bare lf", 8, T("1234567\n"), GW_PARSE_OK, T("1234567"), 8,
     GW_LINE_BARE_LF},
    {"one over", 8, T("1234567\r\n"), GW_PARSE_TOOLONG, NULL, 0, 8, 0},
    {"max bytes no lf", 8, T("12345678"), GW_PARSE_TOOLONG, NULL, 0, 8, 0},
    {"under max no lf", 8, T("1234567"), GW_PARSE_AGAIN, NULL, 0, 0, 0},
    {"lf beyond window", 4, T("abcdef\n"), GW_PARSE_TOOLONG, NULL, 0, 4, 0},
};

/* Calls gw_line_next on an exact-size heap copy of (in, len). */
static int
test_line_call(struct gw_line_reader *r, const void *in, size_t len,
               struct gw_line *out, uint8_t **copy)
{
    *copy = malloc(len > 0 ? len : 1);
    assert_non_null(*copy);
    if (len > 0) {
        memcpy(*copy, in, len);
    }
    return gw_line_next(r, *copy, len, out);
}

static void
test_line_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(test_line_cases) / sizeof(test_line_cases[0]); i++) {
        const struct test_line_case *t = &test_line_cases[i];
        struct gw_line_reader r;
        struct gw_line l;
        uint8_t *copy;
        int rc;

        gw_line_reader_init(&r, t->max);
        rc = test_line_call(&r, t->in, t->in_len, &l, &copy);
        if (rc != t->rc) {
            fail_msg("%s: rc %d, expected %d", t->label, rc, t->rc);
        }
        if (l.consumed != t->consumed) {
            fail_msg("%s: consumed %zu, expected %zu", t->label, l.consumed,
                     t->consumed);
        }
        if (rc == GW_PARSE_OK) {
            if (l.p != copy || l.len != t->line_len ||
                memcmp(l.p, t->line, t->line_len) != 0) {
                fail_msg("%s: wrong line (len %zu)", t->label, l.len);
            }
            if (l.flags != t->flags) {
                fail_msg("%s: flags %#x, expected %#x", t->label, l.flags,
                         t->flags);
            }
        }
        if (r.skipping != (rc == GW_PARSE_TOOLONG)) {
            fail_msg("%s: skipping %d after rc %d", t->label, r.skipping, rc);
        }
        free(copy);
    }
}

/* RFC 5321 4.5.3.1.4: 512 octets including CRLF. */
static void
test_line_rfc_limit_counts_crlf(void **state)
{
    uint8_t in[600];
    struct gw_line_reader r;
    struct gw_line l;
    uint8_t *copy;

    (void)state;
    memset(in, 'x', sizeof(in));

    gw_line_reader_init(&r, 512);
    memcpy(in + 510, "\r\n", 2);
    assert_int_equal(test_line_call(&r, in, 512, &l, &copy), GW_PARSE_OK);
    assert_int_equal(l.len, 510);
    assert_int_equal(l.consumed, 512);
    assert_int_equal(l.flags, 0);
    free(copy);

    gw_line_reader_init(&r, 512);
    memcpy(in + 510, "x\r\n", 3);
    assert_int_equal(test_line_call(&r, in, 513, &l, &copy), GW_PARSE_TOOLONG);
    assert_int_equal(l.consumed, 512);
    free(copy);

    gw_line_reader_init(&r, 512);
    memset(in, 'x', sizeof(in));
    in[511] = '\n';
    assert_int_equal(test_line_call(&r, in, 512, &l, &copy), GW_PARSE_OK);
    assert_int_equal(l.len, 511);
    assert_int_equal(l.flags, GW_LINE_BARE_LF);
    free(copy);
}

/* One over-long line: TOOLONG once, the tail is skipped through the LF,
 * and the next line comes out intact, all from one buffer. */
static void
test_line_toolong_then_recovers(void **state)
{
    static const char in[] = "AAAAAAAAAAAAAAAA\r\nQUIT\r\n";
    struct gw_line_reader r;
    struct gw_line l;
    uint8_t *copy;
    size_t off = 0;

    (void)state;
    gw_line_reader_init(&r, 8);
    assert_int_equal(test_line_call(&r, in, 24, &l, &copy), GW_PARSE_TOOLONG);
    assert_int_equal(l.consumed, 8);
    assert_true(r.skipping);
    free(copy);
    off += 8;

    assert_int_equal(test_line_call(&r, in + off, 24 - off, &l, &copy),
                     GW_PARSE_AGAIN);
    assert_int_equal(l.consumed, 10); /* "AAAAAAAA\r\n" */
    assert_false(r.skipping);
    free(copy);
    off += 10;

    assert_int_equal(test_line_call(&r, in + off, 24 - off, &l, &copy),
                     GW_PARSE_OK);
    assert_int_equal(l.len, 4);
    assert_memory_equal(l.p, "QUIT", 4);
    assert_int_equal(l.consumed, 6);
    free(copy);
}

/* The tail of an over-long line arrives over many reads: still only one
 * TOOLONG, every tail byte is dropped, and the line after it is found. */
static void
test_line_toolong_reported_once(void **state)
{
    uint8_t tail[100];
    struct gw_line_reader r;
    struct gw_line l;
    uint8_t *copy;
    int i;

    (void)state;
    memset(tail, 'A', sizeof(tail));
    gw_line_reader_init(&r, 8);
    assert_int_equal(test_line_call(&r, tail, 8, &l, &copy), GW_PARSE_TOOLONG);
    assert_int_equal(l.consumed, 8);
    free(copy);
    for (i = 0; i < 50; i++) {
        assert_int_equal(test_line_call(&r, tail, sizeof(tail), &l, &copy),
                         GW_PARSE_AGAIN);
        assert_int_equal(l.consumed, sizeof(tail));
        assert_true(r.skipping);
        free(copy);
    }
    /* a bare LF ends the skip too */
    assert_int_equal(test_line_call(&r, "AA\nNOOP\r\n", 9, &l, &copy),
                     GW_PARSE_AGAIN);
    assert_int_equal(l.consumed, 3);
    assert_false(r.skipping);
    free(copy);
    assert_int_equal(test_line_call(&r, "NOOP\r\n", 6, &l, &copy), GW_PARSE_OK);
    assert_int_equal(l.len, 4);
    assert_memory_equal(l.p, "NOOP", 4);
    free(copy);
}

/* Transcript of a caller that appends each read to its buffer and takes
 * lines while progress is made. */
struct test_tx {
    uint8_t s[16384];
    size_t len;
};

static void
test_tx_put(struct test_tx *tx, const void *p, size_t n)
{
    assert_true(tx->len + n <= sizeof(tx->s));
    memcpy(tx->s + tx->len, p, n);
    tx->len += n;
}

static void
test_tx_event(struct test_tx *tx, int rc, const struct gw_line *l)
{
    char head[64];
    int n;

    n = snprintf(head, sizeof(head), "rc=%d flags=%u len=%zu [", rc,
                 rc == GW_PARSE_OK ? l->flags : 0u,
                 rc == GW_PARSE_OK ? l->len : 0u);
    assert_true(n > 0 && (size_t)n < sizeof(head));
    test_tx_put(tx, head, (size_t)n);
    if (rc == GW_PARSE_OK) {
        test_tx_put(tx, l->p, l->len);
    }
    test_tx_put(tx, "]\n", 2);
}

/* Feeds `in` in reads ending at ends[0], ends[1], ... (the last is len). */
static void
test_line_feed(size_t max, const uint8_t *in, const size_t *ends, size_t nends,
               struct test_tx *tx)
{
    static uint8_t buf[8192];
    struct gw_line_reader r;
    struct gw_line l;
    uint8_t *copy;
    size_t blen = 0;
    size_t pos = 0;
    size_t e;
    int rc;
    char rest[64];
    int n;

    tx->len = 0;
    gw_line_reader_init(&r, max);
    for (e = 0; e < nends; e++) {
        assert_true(blen + (ends[e] - pos) <= sizeof(buf));
        memcpy(buf + blen, in + pos, ends[e] - pos);
        blen += ends[e] - pos;
        pos = ends[e];
        for (;;) {
            rc = test_line_call(&r, buf, blen, &l, &copy);
            assert_true(l.consumed <= blen);
            if (rc == GW_PARSE_OK) {
                /* point the event at our copy: same bytes */
                assert_true(l.consumed <= max);
                assert_null(memchr(l.p, '\n', l.len));
            }
            if (rc != GW_PARSE_AGAIN) {
                test_tx_event(tx, rc, &l);
            }
            free(copy);
            memmove(buf, buf + l.consumed, blen - l.consumed);
            blen -= l.consumed;
            if (rc == GW_PARSE_AGAIN && l.consumed == 0) {
                break;
            }
        }
    }
    n = snprintf(rest, sizeof(rest), "rest=%zu skipping=%d\n", blen,
                 r.skipping);
    assert_true(n > 0 && (size_t)n < sizeof(rest));
    test_tx_put(tx, rest, (size_t)n);
    test_tx_put(tx, buf, blen);
}

static void
test_line_feed_whole(size_t max, const uint8_t *in, size_t len,
                     struct test_tx *tx)
{
    test_line_feed(max, in, &len, 1, tx);
}

struct test_split_case {
    const char *label;
    size_t max;
    const char *in;
    size_t in_len;
    const char *expect; /* transcript of the whole feed */
    size_t expect_len;
};

static const struct test_split_case test_split_cases[] = {
    {"commands", 512,
     T("EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\nDATA\r\npartial"),
     T("rc=0 flags=0 len=6 [EHLO a]\n"
       "rc=0 flags=0 len=15 [MAIL FROM:<a@b>]\n"
       "rc=0 flags=1 len=13 [RCPT TO:<c@d>]\n"
       "rc=0 flags=0 len=4 [DATA]\n"
       "rest=7 skipping=0\npartial")},
    {"toolong and recover", 16,
     T("0123456789abcdefXYZ\r\nQUIT\r\n0123456789abcd\r\n"),
     T("rc=3 flags=0 len=0 []\n"
       "rc=0 flags=0 len=4 [QUIT]\n"
       "rc=0 flags=0 len=14 [0123456789abcd]\n"
       "rest=0 skipping=0\n")},
    {"two over-long lines", 8,
     T("aaaaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbb\r\nok\r\n"),
     T("rc=3 flags=0 len=0 []\n"
       "rc=3 flags=0 len=0 []\n"
       "rc=0 flags=0 len=2 [ok]\n"
       "rest=0 skipping=0\n")},
    {"flags", 512, T("a\rb\r\n\0\r\nc\r\r\n\n\r\n"),
     T("rc=0 flags=2 len=3 [a\rb]\n"
       "rc=0 flags=4 len=1 [\0]\n"
       "rc=0 flags=2 len=2 [c\r]\n"
       "rc=0 flags=1 len=0 []\n"
       "rc=0 flags=0 len=0 []\n"
       "rest=0 skipping=0\n")},
    {"limit edges", 8, T("123456\r\n1234567\r\n1234567\n12345678\nx\r\n"),
     T("rc=0 flags=0 len=6 [123456]\n"
       "rc=3 flags=0 len=0 []\n"
       "rc=0 flags=1 len=7 [1234567]\n"
       "rc=3 flags=0 len=0 []\n"
       "rc=0 flags=0 len=1 [x]\n"
       "rest=0 skipping=0\n")},
    {"ends while skipping", 8, T("ok\r\n0123456789"),
     T("rc=0 flags=0 len=2 [ok]\n"
       "rc=3 flags=0 len=0 []\n"
       "rest=0 skipping=1\n")},
};

static void
test_line_tx_equal(const char *label, const char *how, size_t at,
                   const struct test_tx *got, const struct test_tx *want)
{
    if (got->len != want->len || memcmp(got->s, want->s, got->len) != 0) {
        fail_msg("%s: %s at %zu: transcript differs:\n%.*s\n--- want:\n%.*s",
                 label, how, at, (int)got->len, (const char *)got->s,
                 (int)want->len, (const char *)want->s);
    }
}

/* The whole feed matches the expected transcript; a split at every offset,
 * every fixed read size and byte-by-byte all give the same transcript. */
static void
test_line_split_at_every_offset(void **state)
{
    static struct test_tx want;
    static struct test_tx got;
    size_t ends[2048];
    size_t i;
    size_t s;
    size_t k;
    size_t n;

    (void)state;
    for (i = 0; i < sizeof(test_split_cases) / sizeof(test_split_cases[0]);
         i++) {
        const struct test_split_case *t = &test_split_cases[i];
        const uint8_t *in = (const uint8_t *)t->in;

        test_line_feed_whole(t->max, in, t->in_len, &want);
        if (want.len != t->expect_len ||
            memcmp(want.s, t->expect, want.len) != 0) {
            fail_msg("%s: whole feed:\n%.*s\n--- expected:\n%s", t->label,
                     (int)want.len, (const char *)want.s, t->expect);
        }
        for (s = 0; s <= t->in_len; s++) {
            ends[0] = s;
            ends[1] = t->in_len;
            test_line_feed(t->max, in, ends, 2, &got);
            test_line_tx_equal(t->label, "split", s, &got, &want);
        }
        for (k = 1; k <= t->in_len; k++) {
            n = 0;
            for (s = k; s < t->in_len; s += k) {
                ends[n++] = s;
            }
            ends[n++] = t->in_len;
            test_line_feed(t->max, in, ends, n, &got);
            test_line_tx_equal(t->label, "read size", k, &got, &want);
        }
    }
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_table),
        cmocka_unit_test(test_line_rfc_limit_counts_crlf),
        cmocka_unit_test(test_line_toolong_then_recovers),
        cmocka_unit_test(test_line_toolong_reported_once),
        cmocka_unit_test(test_line_split_at_every_offset),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
