/* The header parser: fields, unfolding, the end of the headers, bounds,
 * and the same fields whatever the split of the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_body_header.h"

struct seen {
    char text[4096]; /* "name=value|" for each field */
    size_t len;
    unsigned stop_at; /* refuse the n-th field (0: never) */
    unsigned n;
};

static bool
record(void *arg, const uint8_t *name, size_t nlen, const uint8_t *value,
       size_t vlen)
{
    struct seen *s = arg;
    int k;

    s->n++;
    k = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%.*s=%.*s|",
                 (int)nlen, (const char *)name, (int)vlen,
                 (const char *)value);
    if (k > 0) {
        s->len += (size_t)k < sizeof(s->text) - s->len
                      ? (size_t)k
                      : sizeof(s->text) - s->len - 1;
    }
    return s->stop_at == 0 || s->n < s->stop_at;
}

static void
run(const char *in, size_t step, struct seen *s)
{
    struct gw_hdr_parser *h = gw_hdr_new(record, s);
    size_t len = strlen(in);
    size_t i;

    assert_non_null(h);
    for (i = 0; i < len; i += step) {
        size_t n = len - i < step ? len - i : step;

        if (!gw_hdr_feed(h, (const uint8_t *)in + i, n)) {
            break;
        }
    }
    gw_hdr_finish(h);
    gw_hdr_free(h);
}

static void
test_header_table(void **state)
{
    static const struct {
        const char *label;
        const char *in;
        const char *want;
    } rows[] = {
        {"two fields", "From: a@b\r\nSubject: hi\r\n\r\nbody: no\r\n",
         "From=a@b|Subject=hi|"},
        {"folded", "Subject: one\r\n two\r\n\tthree\r\n\r\n",
         "Subject=one two\tthree|"},
        {"no body", "X: 1\r\n\r\n", "X=1|"},
        {"ends inside headers", "X: 1\r\nY: 2", "X=1|Y=2|"},
        {"no colon", "junk line\r\n\r\n", "junk line=|"},
        {"name spaces trimmed", "X-A  : v\r\n\r\n", "X-A=v|"},
        {"empty value", "X:\r\n\r\n", "X=|"},
        {"body lines ignored", "A: 1\r\n\r\nB: 2\r\n\r\nC: 3\r\n", "A=1|"},
        {"leading fold ignored", " x\r\nA: 1\r\n\r\n", " x=|A=1|"},
    };
    size_t i;
    size_t step;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (step = 1; step <= 8; step++) {
            struct seen s;

            memset(&s, 0, sizeof(s));
            run(rows[i].in, step, &s);
            if (strcmp(s.text, rows[i].want) != 0) {
                fail_msg("%s (step %zu): \"%s\", expected \"%s\"",
                         rows[i].label, step, s.text, rows[i].want);
            }
        }
    }
}

static void
test_header_stop_and_bounds(void **state)
{
    struct seen s;
    static char big[GW_HEADER_FIELD_MAX * 2 + 64];
    struct gw_hdr_parser *h;
    size_t n;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.stop_at = 1;
    h = gw_hdr_new(record, &s);
    assert_non_null(h);
    assert_false(gw_hdr_feed(h, (const uint8_t *)"A: 1\r\nB: 2\r\n\r\n", 15));
    assert_int_equal(s.n, 1); /* nothing after the refusal */
    assert_int_equal(gw_hdr_count(h), 1);
    gw_hdr_free(h);

    /* a field over the bound is cut, not grown */
    n = (size_t)snprintf(big, sizeof(big), "Long: ");
    memset(big + n, 'x', sizeof(big) - n - 8);
    memcpy(big + sizeof(big) - 8, "\r\n\r\n", 5);
    memset(&s, 0, sizeof(s));
    run(big, 4096, &s);
    assert_int_equal(s.n, 1);
    assert_true(s.len > 100);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_table),
        cmocka_unit_test(test_header_stop_and_bounds),
    };

    return cmocka_run_group_tests_name("gw_body_header", tests, NULL, NULL);
}
