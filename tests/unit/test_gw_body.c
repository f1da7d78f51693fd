/*
 * Unit tests for gateway/gw_body.c, the DATA pipeline and the SMTP
 * smuggling defence. Each case feeds client DATA bytes and checks the exact
 * bytes that would go to the upstream, where the end of data was found, and
 * that nothing after it was consumed. Every case is also fed split at every
 * offset, with every read size and through small output buffers, and must
 * give the same result; the output bound (2 * consumed + GW_BODY_SLACK) and
 * the input bound ((space - GW_BODY_SLACK) / 2, until an error) are checked
 * on every call.
 *
 * "Upstream view": the upstream has just read "DATA\r\n" (and sent 354), so
 * it sees "\r\n" + output; <CRLF>.<CRLF> must occur there exactly once, at
 * the very end, and only when the message ended without an error.
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

#include "gateway/gw_body.h"
#include "gateway/gw_buf.h"

#define T(s) s, sizeof(s) - 1
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define NORM GW_BARE_NL_NORMALIZE
#define REJ GW_BARE_NL_REJECT

struct test_body_result {
    uint8_t *out; /* every byte written for the upstream */
    size_t out_len;
    size_t out_cap;
    size_t consumed;
    bool done;
    enum gw_body_error error;
    bool saw_bare_nl;
};

/* How the simulated caller drains the output buffer. */
enum test_drain {
    TEST_DRAIN_EACH, /* after every feed */
    TEST_DRAIN_LAZY, /* only when the body can make no progress */
};

static void
test_result_init(struct test_body_result *r)
{
    memset(r, 0, sizeof(*r));
    r->out_cap = 1024;
    r->out = malloc(r->out_cap);
    assert_non_null(r->out);
}

static void
test_result_free(struct test_body_result *r)
{
    free(r->out);
    r->out = NULL;
}

static void
test_result_put(struct test_body_result *r, const uint8_t *p, size_t n)
{
    while (r->out_len + n > r->out_cap) {
        r->out_cap *= 2;
        r->out = realloc(r->out, r->out_cap);
        assert_non_null(r->out);
    }
    if (n > 0) {
        memcpy(r->out + r->out_len, p, n);
    }
    r->out_len += n;
}

static void
test_drain(struct gw_buf *ob, struct test_body_result *r)
{
    test_result_put(r, ob->pos, gw_buf_len(ob));
    gw_buf_consume(ob, gw_buf_len(ob));
}

/*
 * Feeds in[0..len) as reads ending at ends[0..nends) through an output
 * buffer of out_cap bytes. Checks the per-call bounds; each call sees an
 * exact-size heap copy of the bytes available.
 */
static void
test_body_run(enum gw_bare_newlines mode, uint64_t limit, const uint8_t *in,
              size_t len, const size_t *ends, size_t nends, size_t out_cap,
              enum test_drain drain, struct test_body_result *r)
{
    struct gw_body b;
    struct gw_buf ob;
    size_t pos = 0;
    size_t e;

    test_result_init(r);
    gw_body_init(&b, mode, limit);
    assert_int_equal(gw_buf_alloc(&ob, out_cap), 0);
    for (e = 0; e < nends && !b.done; e++) {
        size_t avail = ends[e];

        assert_true(avail <= len);
        while (!b.done && pos < avail) {
            size_t space = gw_buf_space(&ob);
            size_t before = gw_buf_len(&ob);
            size_t max_in =
                space > GW_BODY_SLACK ? (space - GW_BODY_SLACK) / 2 : 0;
            bool clean = (b.error == GW_BODY_OK);
            uint8_t *copy = malloc(avail - pos);
            size_t n;
            size_t written;

            assert_non_null(copy);
            memcpy(copy, in + pos, avail - pos);
            n = gw_body_feed(&b, copy, avail - pos, &ob);
            free(copy);
            written = gw_buf_len(&ob) - before;
            /* after an error the rest of the data is consumed freely */
            if (clean && n > max_in) {
                fail_msg("consumed %zu with %zu space (max %zu)", n, space,
                         max_in);
            }
            if (!clean && written != 0) {
                fail_msg("wrote %zu after an error", written);
            }
            if (written > 2 * n + GW_BODY_SLACK) {
                fail_msg("wrote %zu for %zu consumed", written, n);
            }
            pos += n;
            if (drain == TEST_DRAIN_EACH || n == 0 ||
                gw_buf_space(&ob) <= GW_BODY_SLACK + 1) {
                if (n == 0 && gw_buf_len(&ob) == 0) {
                    fail_msg("no progress with an empty buffer of %zu",
                             out_cap);
                }
                test_drain(&ob, r);
            }
        }
    }
    test_drain(&ob, r);
    if (b.done && pos < len) {
        /* bytes after the end of data are never consumed */
        assert_int_equal(gw_body_feed(&b, in + pos, len - pos, &ob), 0);
        assert_int_equal(gw_buf_len(&ob), 0);
    }
    r->consumed = pos;
    r->done = b.done;
    r->error = b.error;
    r->saw_bare_nl = b.saw_bare_nl;
    gw_buf_release(&ob);
}

static void
test_body_run_whole(enum gw_bare_newlines mode, uint64_t limit,
                    const uint8_t *in, size_t len, struct test_body_result *r)
{
    test_body_run(mode, limit, in, len, &len, 1, 2 * len + 64, TEST_DRAIN_EACH,
                  r);
}

/*
 * Results must be identical, except that under GW_BODY_E_TOO_BIG only a
 * common prefix is required: the size filter sets the error per span, so
 * how much is written before it depends on the split; that output is never
 * terminated, hence never delivered (test_body_size_limit_output_bounded).
 */
static bool
test_body_out_equal(const struct test_body_result *got,
                    const struct test_body_result *want)
{
    size_t n = got->out_len < want->out_len ? got->out_len : want->out_len;

    if (got->error == GW_BODY_E_TOO_BIG && want->error == GW_BODY_E_TOO_BIG) {
        return memcmp(got->out, want->out, n) == 0;
    }
    return got->out_len == want->out_len && memcmp(got->out, want->out, n) == 0;
}

static void
test_body_same(const char *label, const char *how, size_t arg,
               const struct test_body_result *got,
               const struct test_body_result *want)
{
    if (!test_body_out_equal(got, want) || got->consumed != want->consumed ||
        got->done != want->done || got->error != want->error ||
        got->saw_bare_nl != want->saw_bare_nl) {
        fail_msg("%s: %s %zu differs from the whole feed: out %zu/%zu "
                 "consumed %zu/%zu done %d/%d error %d/%d",
                 label, how, arg, got->out_len, want->out_len, got->consumed,
                 want->consumed, got->done, want->done, got->error,
                 want->error);
    }
}

/* Split at every offset, every read size, several output capacities and
 * both drain styles: all equal to `want`. */
static void
test_body_split_all(const char *label, enum gw_bare_newlines mode,
                    uint64_t limit, const uint8_t *in, size_t len,
                    const struct test_body_result *want)
{
    static const size_t caps[] = {
        GW_BODY_SLACK + 2, GW_BODY_SLACK + 3, 13, 16, 33, 4096};
    size_t *ends = malloc((len + 2) * sizeof(*ends));
    struct test_body_result got;
    size_t c;
    size_t s;
    size_t k;
    size_t n;

    assert_non_null(ends);
    for (c = 0; c < NELEM(caps); c++) {
        enum test_drain drain = c % 2 ? TEST_DRAIN_LAZY : TEST_DRAIN_EACH;

        for (s = 0; s <= len; s++) {
            ends[0] = s;
            ends[1] = len;
            test_body_run(mode, limit, in, len, ends, 2, caps[c], drain, &got);
            test_body_same(label, "split at", s, &got, want);
            test_result_free(&got);
        }
        for (k = 1; k <= len; k++) {
            n = 0;
            for (s = k; s < len; s += k) {
                ends[n++] = s;
            }
            ends[n++] = len;
            test_body_run(mode, limit, in, len, ends, n, caps[c],
                          c % 2 ? TEST_DRAIN_EACH : TEST_DRAIN_LAZY, &got);
            test_body_same(label, "read size", k, &got, want);
            test_result_free(&got);
        }
    }
    free(ends);
}

/* Occurrences of <CRLF>.<CRLF> in "\r\n" + out. */
static size_t
test_count_eod(const uint8_t *out, size_t len, size_t *last_at)
{
    uint8_t *view = malloc(len + 2);
    size_t count = 0;
    size_t i;

    assert_non_null(view);
    memcpy(view, "\r\n", 2);
    if (len > 0) {
        memcpy(view + 2, out, len);
    }
    for (i = 0; i + 5 <= len + 2; i++) {
        if (memcmp(view + i, "\r\n.\r\n", 5) == 0) {
            count++;
            *last_at = i;
        }
    }
    free(view);
    return count;
}

/* The upstream sees no early end of data and no bare CR or LF. */
static void
test_body_check_upstream_view(const char *label,
                              const struct test_body_result *r)
{
    size_t at = 0;
    size_t n = test_count_eod(r->out, r->out_len, &at);
    size_t i;

    if (r->done && r->error == GW_BODY_OK) {
        if (n != 1 || at + 5 != r->out_len + 2) {
            fail_msg("%s: <CRLF>.<CRLF> %zu times, last at %zu of %zu", label,
                     n, at, r->out_len + 2);
        }
    } else if (n != 0) {
        fail_msg("%s: <CRLF>.<CRLF> in output without a clean end", label);
    }
    for (i = 0; i < r->out_len; i++) {
        if (r->out[i] == '\r' &&
            (i + 1 == r->out_len || r->out[i + 1] != '\n')) {
            fail_msg("%s: bare CR in output at %zu", label, i);
        }
        if (r->out[i] == '\n' && (i == 0 || r->out[i - 1] != '\r')) {
            fail_msg("%s: bare LF in output at %zu", label, i);
        }
    }
}

#include "tests/body_model.h"

static void
test_body_check_reference(const char *label, enum gw_bare_newlines mode,
                          uint64_t limit, const uint8_t *in, size_t len,
                          const struct test_body_result *w)
{
    struct body_model_seen seen = {w->out,  w->out_len, w->consumed,
                                   w->done, w->error,   w->saw_bare_nl};
    const char *differs = body_model_check(mode, limit, in, len, &seen);

    if (differs != NULL) {
        fail_msg("%s: %s", label, differs);
    }
}

/* ---- the table --------------------------------------------------------- */

struct test_body_case {
    const char *label;
    enum gw_bare_newlines mode;
    uint64_t limit;
    const char *in;
    size_t in_len;
    const char *out;
    size_t out_len;
    size_t tail; /* bytes left unconsumed after the end of data */
    bool done;
    enum gw_body_error error;
};

static const struct test_body_case test_body_cases[] = {
    {"plain", NORM, 0, T("Subject: x\r\n\r\nhello\r\n.\r\n"),
     T("Subject: x\r\n\r\nhello\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"empty message", NORM, 0, T(".\r\n"), T(".\r\n"), 0, true, GW_BODY_OK},
    {"one empty line", NORM, 0, T("\r\n.\r\n"), T("\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"dot-stuffed", NORM, 0, T("..foo\r\n.\r\n"), T("..foo\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"line of two dots", NORM, 0, T("a\r\n..\r\n.\r\n"), T("a\r\n..\r\n.\r\n"),
     0, true, GW_BODY_OK},
    {"line of three dots", NORM, 0, T("...\r\n.\r\n"), T("...\r\n.\r\n"), 0,
     true, GW_BODY_OK},
    {"unstuffed leading dot", NORM, 0, T(".a\r\n.\r\n"), T("a\r\n.\r\n"), 0,
     true, GW_BODY_OK},
    {"dot inside line", NORM, 0, T("a.b\r\n.x\r\n.\r\n"),
     T("a.b\r\nx\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"dot before text end", NORM, 0, T("a\r\n.\r\n"), T("a\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"bytes after end", NORM, 0, T("a\r\n.\r\nMAIL FROM:<>\r\n"),
     T("a\r\n.\r\n"), 14, true, GW_BODY_OK},
    {"pipelined after empty", NORM, 0, T(".\r\nQUIT\r\n"), T(".\r\n"), 6, true,
     GW_BODY_OK},
    {"no end yet", NORM, 0, T("abc\r\ndef"), T("abc\r\ndef"), 0, false,
     GW_BODY_OK},
    {"ends with dot cr", NORM, 0, T("abc\r\n.\r"), T("abc\r\n"), 0, false,
     GW_BODY_OK},
    {"8-bit and nul", NORM, 0, T("\xc3\xa9\0\xff\r\n.\r\n"),
     T("\xc3\xa9\0\xff\r\n.\r\n"), 0, true, GW_BODY_OK},

    /* bare LF / bare CR: normalised */
    {"bare lf", NORM, 0, T("a\nb\r\n.\r\n"), T("a\r\nb\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"bare cr", NORM, 0, T("a\rb\r\n.\r\n"), T("a\r\nb\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"cr cr lf", NORM, 0, T("a\r\r\n.\r\n"), T("a\r\n\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"lf cr", NORM, 0, T("a\n\rb\r\n.\r\n"), T("a\r\n\r\nb\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"bare lf first", NORM, 0, T("\nb\r\n.\r\n"), T("\r\nb\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"dot bare cr", NORM, 0, T(".\rb\r\n.\r\n"), T("\r\nb\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"dot cr cr lf", NORM, 0, T("a\r\n.\r\r\n.\r\n"), T("a\r\n\r\n\r\n.\r\n"),
     0, true, GW_BODY_OK},

    /* bare LF / bare CR: rejected, nothing after the error */
    {"reject bare lf", REJ, 0, T("a\nb\r\n.\r\n"), T("a"), 0, true,
     GW_BODY_E_BARE_NL},
    {"reject bare cr", REJ, 0, T("ab\rc\r\n.\r\n"), T("ab"), 0, true,
     GW_BODY_E_BARE_NL},
    {"reject cr cr lf", REJ, 0, T("x\r\ny\r\r\nz\r\n.\r\nQUIT\r\n"),
     T("x\r\ny"), 6, true, GW_BODY_E_BARE_NL},
    {"reject clean", REJ, 0, T("a\r\n..b\r\n.\r\n"), T("a\r\n..b\r\n.\r\n"), 0,
     true, GW_BODY_OK},

    /* smuggling: none of these ends the message early */
    {"smuggle lf dot lf", NORM, 0, T("a\n.\nb\r\n.\r\n"),
     T("a\r\n..\r\nb\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"smuggle cr dot cr", NORM, 0, T("a\r.\rb\r\n.\r\n"),
     T("a\r\n..\r\nb\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"smuggle lf dot crlf", NORM, 0, T("a\n.\r\nb\r\n.\r\n"),
     T("a\r\n..\r\nb\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"smuggle crlf dot lf", NORM, 0, T("a\r\n.\nb\r\n.\r\n"),
     T("a\r\n\r\nb\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"smuggle crlf dot cr", NORM, 0, T("a\r\n.\rb\r\n.\r\n"),
     T("a\r\n\r\nb\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"smuggle cr dot crlf", NORM, 0, T("a\r.\r\nb\r\n.\r\n"),
     T("a\r\n..\r\nb\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"smuggle reject", REJ, 0, T("a\n.\nMAIL FROM:<x@y>\r\n.\r\nQUIT\r\n"),
     T("a"), 6, true, GW_BODY_E_BARE_NL},

    /* size limit on canonical bytes */
    {"size at limit", NORM, 5, T("abc\r\n.\r\n"), T("abc\r\n.\r\n"), 0, true,
     GW_BODY_OK},
    {"size over", NORM, 4, T("abc\r\n.\r\nQUIT\r\n"), T("abc"), 6, true,
     GW_BODY_E_TOO_BIG},
    {"size stuffing not counted", NORM, 4, T("..b\r\n.\r\n"), T("..b\r\n.\r\n"),
     0, true, GW_BODY_OK},
    {"size normalised lf counted", NORM, 5, T("ab\n\r\n.\r\n"), T("ab\r\n"), 0,
     true, GW_BODY_E_TOO_BIG},
    {"size normalised lf fits", NORM, 6, T("ab\n\r\n.\r\n"),
     T("ab\r\n\r\n.\r\n"), 0, true, GW_BODY_OK},
    {"size error sticks", REJ, 3, T("abcd\nx\r\n.\r\n"), T(""), 0, true,
     GW_BODY_E_TOO_BIG},
};

static void
test_body_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(test_body_cases); i++) {
        const struct test_body_case *t = &test_body_cases[i];
        const uint8_t *in = (const uint8_t *)t->in;
        struct test_body_result r;

        test_body_run_whole(t->mode, t->limit, in, t->in_len, &r);
        /* past the size limit only a prefix of the allowed bytes may have
         * been written (never delivered: no terminator follows) */
        if (t->error == GW_BODY_E_TOO_BIG && r.out_len <= t->out_len &&
            memcmp(r.out, t->out, r.out_len) == 0) {
            /* fine */
        } else if (r.out_len != t->out_len ||
                   memcmp(r.out, t->out, r.out_len) != 0) {
            fail_msg("%s: output \"%.*s\" (%zu), expected (%zu)", t->label,
                     (int)r.out_len, (const char *)r.out, r.out_len,
                     t->out_len);
        }
        if (r.consumed != t->in_len - t->tail) {
            fail_msg("%s: consumed %zu, expected %zu", t->label, r.consumed,
                     t->in_len - t->tail);
        }
        if (r.done != t->done || r.error != t->error) {
            fail_msg("%s: done %d error %d, expected %d %d", t->label, r.done,
                     r.error, t->done, t->error);
        }
        test_body_check_upstream_view(t->label, &r);
        test_body_check_reference(t->label, t->mode, t->limit, in, t->in_len,
                                  &r);
        test_body_split_all(t->label, t->mode, t->limit, in, t->in_len, &r);
        test_result_free(&r);
    }
}

/* Every smuggling variant, mid-message and at the very start, in both
 * modes: the message ends only at the real <CRLF>.<CRLF>. */
static void
test_body_smuggling_variants(void **state)
{
    static const char *const variants[] = {
        "\n.\n",       "\r.\r",       "\n.\r\n",      "\r\n.\n",   "\r\n.\r",
        "\r.\r\n",     "\n..\n",      "\r\n.\r.",     "\r\n.\r\r", "\n.\r",
        "\r.\n",       "\r\r.\r",     "\n\r.\r\n",    "\r\n.\n\r", "\r\n.\n\n",
        "\r\n.\n\r\n", "\r\n.\r\r\n", "\r\n.\r.\r\n",
    };
    static const char evil[] =
        "MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\n"
        "Subject: smuggled\r\n";
    static const char end[] = "\r\n.\r\n";
    static const char after[] = "QUIT\r\n";
    uint8_t msg[512];
    size_t v;
    int at_start;
    int mode;

    (void)state;
    for (v = 0; v < NELEM(variants); v++) {
        for (at_start = 0; at_start <= 1; at_start++) {
            size_t o = 0;
            size_t vlen = strlen(variants[v]);

            if (!at_start) {
                memcpy(msg, "Subject: hi\r\n\r\nhello", 20);
                o = 20;
            }
            memcpy(msg + o, variants[v], vlen);
            o += vlen;
            memcpy(msg + o, evil, sizeof(evil) - 1);
            o += sizeof(evil) - 1;
            memcpy(msg + o, end, sizeof(end) - 1);
            o += sizeof(end) - 1;
            memcpy(msg + o, after, sizeof(after) - 1);
            o += sizeof(after) - 1;
            for (mode = 0; mode <= 1; mode++) {
                struct test_body_result r;
                char label[64];

                snprintf(label, sizeof(label), "variant %zu%s %s", v,
                         at_start ? " at start" : "",
                         mode ? "reject" : "normalize");
                test_body_run_whole(mode ? REJ : NORM, 0, msg, o, &r);
                if (!r.done || r.consumed != o - (sizeof(after) - 1)) {
                    fail_msg("%s: done %d consumed %zu of %zu", label, r.done,
                             r.consumed, o);
                }
                if (r.error != (mode ? GW_BODY_E_BARE_NL : GW_BODY_OK)) {
                    fail_msg("%s: error %d", label, r.error);
                }
                if (!r.saw_bare_nl) {
                    fail_msg("%s: bare newline not noticed", label);
                }
                test_body_check_upstream_view(label, &r);
                test_body_check_reference(label, mode ? REJ : NORM, 0, msg, o,
                                          &r);
                test_body_split_all(label, mode ? REJ : NORM, 0, msg, o, &r);
                test_result_free(&r);
            }
        }
    }
}

/* An abort stops the output at once; the end of data is still found so
 * the caller can answer once, and no terminator goes out. */
static void
test_body_discard(void **state)
{
    static const uint8_t part1[] = "abc\r\n";
    static const uint8_t part2[] = "def\r\n.\r\nQUIT\r\n";
    struct gw_body b;
    struct gw_buf ob;
    size_t n;

    (void)state;
    assert_int_equal(gw_buf_alloc(&ob, 256), 0);
    gw_body_init(&b, NORM, 0);
    n = gw_body_feed(&b, part1, sizeof(part1) - 1, &ob);
    assert_int_equal(n, 5);
    gw_body_discard(&b);
    n = gw_body_feed(&b, part2, sizeof(part2) - 1, &ob);
    assert_int_equal(n, 8);
    assert_true(b.done);
    assert_int_equal(b.error, GW_BODY_E_DISCARD);
    assert_int_equal(gw_buf_len(&ob), 5);
    assert_memory_equal(ob.pos, "abc\r\n", 5);
    /* an earlier error is not overwritten */
    gw_body_init(&b, REJ, 0);
    gw_buf_consume(&ob, gw_buf_len(&ob));
    assert_int_equal(gw_body_feed(&b, (const uint8_t *)"a\nb", 3, &ob), 3);
    gw_body_discard(&b);
    assert_int_equal(b.error, GW_BODY_E_BARE_NL);
    gw_buf_release(&ob);
}

/* After an error the rest of the data, up to and including the end of
 * data, is consumed in one call whatever the output space, and nothing is
 * written; the bytes after the end are still left alone. */
static void
test_body_after_error_consumes_to_end(void **state)
{
    static const char head[] = "a\nb";
    static const char tail[] = "\r\n.\r\nQUIT\r\n";
    uint8_t in[1100];
    struct gw_body b;
    struct gw_buf ob;
    size_t len = 0;
    size_t n;

    (void)state;
    memcpy(in, head, sizeof(head) - 1);
    len = sizeof(head) - 1;
    memset(in + len, 'x', 1000);
    len += 1000;
    memcpy(in + len, tail, sizeof(tail) - 1);
    len += sizeof(tail) - 1;

    assert_int_equal(gw_buf_alloc(&ob, GW_BODY_SLACK + 2), 0);
    gw_body_init(&b, REJ, 0);
    assert_int_equal(gw_body_feed(&b, in, len, &ob), 1); /* "a" */
    gw_buf_consume(&ob, gw_buf_len(&ob));
    assert_int_equal(gw_body_feed(&b, in + 1, len - 1, &ob), 1); /* "\n" */
    assert_int_equal(b.error, GW_BODY_E_BARE_NL);
    assert_int_equal(gw_buf_len(&ob), 0);
    n = gw_body_feed(&b, in + 2, len - 2, &ob);
    assert_int_equal(n, len - 2 - 6);
    assert_true(b.done);
    assert_int_equal(gw_buf_len(&ob), 0);
    assert_int_equal(gw_body_feed(&b, in + 2 + n, 6, &ob), 0);
    gw_buf_release(&ob);
}

/* out == NULL discards: the sticky GW_BODY_E_DISCARD, input consumed up
 * to the end of data, nothing after it. */
static void
test_body_null_out_discards(void **state)
{
    static const uint8_t in[] = "abc\r\n..x\r\n.\r\nRSET\r\n";
    struct gw_body b;

    (void)state;
    gw_body_init(&b, NORM, 0);
    assert_int_equal(gw_body_feed(&b, in, 4, NULL), 4);
    assert_int_equal(b.error, GW_BODY_E_DISCARD);
    assert_false(b.done);
    assert_int_equal(gw_body_feed(&b, in + 4, sizeof(in) - 1 - 4, NULL),
                     sizeof(in) - 1 - 4 - 6);
    assert_true(b.done);
    assert_int_equal(b.error, GW_BODY_E_DISCARD);
}

/* Too little output space: nothing is consumed and nothing written. */
static void
test_body_needs_output_space(void **state)
{
    static const uint8_t in[] = "hello\r\n.\r\n";
    struct gw_body b;
    struct gw_buf ob;
    size_t cap;

    (void)state;
    for (cap = 0; cap <= GW_BODY_SLACK + 1; cap++) {
        assert_int_equal(gw_buf_alloc(&ob, cap > 0 ? cap : 1), 0);
        ob.end = ob.start + cap;
        gw_body_init(&b, NORM, 0);
        assert_int_equal(gw_body_feed(&b, in, sizeof(in) - 1, &ob), 0);
        assert_int_equal(gw_buf_len(&ob), 0);
        assert_false(b.done);
        gw_buf_release(&ob);
    }
    assert_int_equal(gw_buf_alloc(&ob, GW_BODY_SLACK + 2), 0);
    gw_body_init(&b, NORM, 0);
    assert_int_equal(gw_body_feed(&b, in, sizeof(in) - 1, &ob), 1);
    assert_int_equal(gw_buf_len(&ob), 1);
    gw_buf_release(&ob);
}

/* A large message: no limit (0) means none, and the size is counted. */
static void
test_body_large_no_limit(void **state)
{
    size_t len = 200000;
    uint8_t *in = malloc(len + 5);
    struct test_body_result r;
    size_t i;
    size_t ends[1];

    (void)state;
    assert_non_null(in);
    for (i = 0; i < len; i++) {
        in[i] = (i % 100 == 98) ? '\r' : (i % 100 == 99) ? '\n' : 'x';
    }
    memcpy(in + len, ".\r\n", 3);
    ends[0] = len + 3;
    test_body_run(NORM, 0, in, len + 3, ends, 1, 4096, TEST_DRAIN_EACH, &r);
    assert_true(r.done);
    assert_int_equal(r.error, GW_BODY_OK);
    assert_int_equal(r.out_len, len + 3);
    assert_memory_equal(r.out, in, len + 3);
    test_result_free(&r);

    /* the same with a limit one byte short */
    test_body_run(NORM, len - 1, in, len + 3, ends, 1, 4096, TEST_DRAIN_EACH,
                  &r);
    assert_true(r.done);
    assert_int_equal(r.error, GW_BODY_E_TOO_BIG);
    assert_true(r.out_len < len);
    test_body_check_upstream_view("large too big", &r);
    test_result_free(&r);
    free(in);
}

/*
 * Past the size limit the message is refused and never terminated, so the
 * bytes written before the error are never delivered. What matters, for
 * every split of the input: the error is reported, nothing beyond the
 * limit is written, no terminator, no lone CR, and the outputs of two
 * splits agree on their common prefix. (A span that crosses the limit is
 * not written at all, which is why the amount written may differ.)
 */
static void
test_body_size_limit_output_bounded(void **state)
{
    static const struct {
        enum gw_bare_newlines mode;
        uint64_t limit;
        const char *in;
    } cases[] = {
        {NORM, 3, "abcd\r\n.\r\n"},
        {REJ, 3, "abcd\nx\r\n.\r\n"},
        {NORM, 6, "abc\r\n..def\r\n.\r\n"},
        {NORM, 4, "abc\r\ndef\r\n.\r\n"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        const uint8_t *in = (const uint8_t *)cases[i].in;
        size_t len = strlen(cases[i].in);
        size_t ends[64];
        size_t k;
        size_t n;
        struct test_body_result whole;
        struct test_body_result bytes;

        assert_true(len <= NELEM(ends));
        for (k = 0; k < len; k++) {
            ends[k] = k + 1;
        }
        test_body_run_whole(cases[i].mode, cases[i].limit, in, len, &whole);
        test_body_run(cases[i].mode, cases[i].limit, in, len, ends, len, 4096,
                      TEST_DRAIN_EACH, &bytes);
        assert_int_equal(whole.error, GW_BODY_E_TOO_BIG);
        assert_int_equal(bytes.error, GW_BODY_E_TOO_BIG);
        assert_true(whole.out_len <= cases[i].limit + 2);
        assert_true(bytes.out_len <= cases[i].limit + 2);
        n = whole.out_len < bytes.out_len ? whole.out_len : bytes.out_len;
        assert_memory_equal(whole.out, bytes.out, n);
        for (k = 0; k < bytes.out_len; k++) {
            if (bytes.out[k] == '\r') {
                assert_true(k + 1 < bytes.out_len && bytes.out[k + 1] == '\n');
            }
        }
        assert_null(memmem(bytes.out, bytes.out_len, "\r\n.\r\n", 5));
        test_result_free(&whole);
        test_result_free(&bytes);
    }
}

/* ---- random inputs ----------------------------------------------------- */

static uint64_t test_rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
test_rng(void)
{
    uint64_t x = test_rng_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    test_rng_state = x;
    return (uint32_t)(x >> 32);
}

/* Random bytes rich in '\r', '\n' and '.', random reads and buffers: the
 * result matches the reference model (end of data exactly where
 * <CRLF>.<CRLF> first occurs, the same bytes out), the bounds hold on
 * every call and the result never depends on the split. */
static void
test_body_random_bounds_and_splits(void **state)
{
    static const uint8_t alphabet[] = {'\r', '\n', '.', '.', 'a',
                                       '\r', '\n', '.', 0,   0xff};
    uint8_t in[400];
    size_t ends[400];
    int iter;

    (void)state;
    for (iter = 0; iter < 3000; iter++) {
        size_t len = test_rng() % sizeof(in);
        size_t n = 0;
        size_t pos = 0;
        size_t cap = GW_BODY_SLACK + 2 + test_rng() % 40;
        enum gw_bare_newlines mode = (test_rng() & 1) ? REJ : NORM;
        uint64_t limit = (test_rng() % 4 == 0) ? test_rng() % 300 : 0;
        struct test_body_result whole;
        struct test_body_result got;
        size_t i;

        for (i = 0; i < len; i++) {
            in[i] = alphabet[test_rng() % sizeof(alphabet)];
        }
        while (pos < len) {
            pos += 1 + test_rng() % 17;
            ends[n++] = pos < len ? pos : len;
        }
        test_body_run_whole(mode, limit, in, len, &whole);
        test_body_check_upstream_view("random", &whole);
        test_body_check_reference("random", mode, limit, in, len, &whole);
        test_body_run(mode, limit, in, len, ends, n, cap,
                      (iter & 1) ? TEST_DRAIN_LAZY : TEST_DRAIN_EACH, &got);
        test_body_same("random", "iteration", (size_t)iter, &got, &whole);
        test_result_free(&got);
        test_result_free(&whole);
    }
}

/*
 * Round trip: random CRLF lines (any octet but CR and LF, many starting
 * with '.'), dot-stuffed as a client would, fed through the body, then
 * dot-unstuffed as the upstream would: identical to the original. The
 * output is also byte-identical to the client's stuffed input.
 */
static void
test_body_round_trip(void **state)
{
    uint8_t orig[2048];
    uint8_t stuffed[2200];
    uint8_t back[2048];
    size_t ends[64];
    int iter;

    (void)state;
    for (iter = 0; iter < 500; iter++) {
        size_t olen = 0;
        size_t slen = 0;
        size_t blen = 0;
        size_t nlines = test_rng() % 20;
        size_t l;
        size_t i;
        size_t n = 0;
        struct test_body_result r;

        for (l = 0; l < nlines; l++) {
            size_t ll = test_rng() % 60;
            bool dot = test_rng() % 3 == 0;
            size_t start = olen;

            for (i = 0; i < ll; i++) {
                uint8_t c;

                do {
                    c = (uint8_t)test_rng();
                } while (c == '\r' || c == '\n');
                orig[olen++] = (dot && i == 0) ? '.' : c;
            }
            orig[olen++] = '\r';
            orig[olen++] = '\n';
            if (orig[start] == '.') {
                stuffed[slen++] = '.';
            }
            memcpy(stuffed + slen, orig + start, olen - start);
            slen += olen - start;
        }
        memcpy(stuffed + slen, ".\r\n", 3);
        slen += 3;

        for (i = 0; i < 8; i++) {
            ends[n++] = test_rng() % (slen + 1);
        }
        ends[n++] = slen;
        for (i = 1; i < n; i++) { /* reads must not go backwards */
            if (ends[i] < ends[i - 1]) {
                ends[i] = ends[i - 1];
            }
        }
        test_body_run(NORM, 0, stuffed, slen, ends, n,
                      GW_BODY_SLACK + 2 + test_rng() % 64, TEST_DRAIN_EACH, &r);
        assert_true(r.done);
        assert_int_equal(r.error, GW_BODY_OK);
        assert_false(r.saw_bare_nl);
        assert_int_equal(r.consumed, slen);
        assert_int_equal(r.out_len, slen);
        assert_memory_equal(r.out, stuffed, slen);

        /* the upstream: lines up to "."; a leading dot is removed */
        i = 0;
        for (;;) {
            size_t e = i;

            while (!(r.out[e] == '\r' && r.out[e + 1] == '\n')) {
                e++;
            }
            if (e - i == 1 && r.out[i] == '.') {
                assert_int_equal(e + 2, r.out_len);
                break;
            }
            if (r.out[i] == '.') {
                i++;
            }
            memcpy(back + blen, r.out + i, e + 2 - i);
            blen += e + 2 - i;
            i = e + 2;
        }
        assert_int_equal(blen, olen);
        assert_memory_equal(back, orig, olen);
        test_result_free(&r);
    }
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_table),
        cmocka_unit_test(test_body_smuggling_variants),
        cmocka_unit_test(test_body_discard),
        cmocka_unit_test(test_body_after_error_consumes_to_end),
        cmocka_unit_test(test_body_null_out_discards),
        cmocka_unit_test(test_body_needs_output_space),
        cmocka_unit_test(test_body_large_no_limit),
        cmocka_unit_test(test_body_size_limit_output_bounded),
        cmocka_unit_test(test_body_random_bounds_and_splits),
        cmocka_unit_test(test_body_round_trip),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
