/*
 * Unit tests for gateway/gw_buf.c: the fixed-capacity buffer never grows,
 * append stops at the capacity, consume and compact keep the data intact,
 * and an allocation failure is reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_buf.h"
#include "gateway/gw_error.h"

static void
test_buf_alloc_and_release(void **state)
{
    struct gw_buf b;

    (void)state;
    assert_int_equal(gw_buf_alloc(&b, 16), 0);
    assert_true(gw_buf_is_attached(&b));
    assert_int_equal(gw_buf_cap(&b), 16);
    assert_int_equal(gw_buf_len(&b), 0);
    assert_int_equal(gw_buf_space(&b), 16);
    assert_ptr_equal(b.pos, b.start);
    gw_buf_release(&b);
    assert_false(gw_buf_is_attached(&b));
    assert_null(b.pos);
    assert_null(b.last);
    assert_null(b.end);
}

static void
test_buf_alloc_failure(void **state)
{
    struct gw_buf b;

    (void)state;
    memset(&b, 0, sizeof(b));
    gw_alloc_fail_after(0);
    assert_int_equal(gw_buf_alloc(&b, 16), GW_E_NOMEM);
    gw_alloc_fail_after(-1);
    assert_false(gw_buf_is_attached(&b));
    assert_int_equal(gw_buf_alloc(&b, 16), 0);
    gw_buf_release(&b);
}

/* append returns how many bytes fit and never writes past the end. */
static void
test_buf_append_bounds(void **state)
{
    static const char data[] = "0123456789abcdefghij";
    struct gw_buf b;
    uint8_t *guard;

    (void)state;
    assert_int_equal(gw_buf_alloc(&b, 16), 0);
    assert_int_equal(gw_buf_append(&b, data, 10), 10);
    assert_int_equal(gw_buf_len(&b), 10);
    assert_int_equal(gw_buf_space(&b), 6);
    assert_int_equal(gw_buf_append(&b, data + 10, 10), 6);
    assert_int_equal(gw_buf_len(&b), 16);
    assert_int_equal(gw_buf_space(&b), 0);
    assert_memory_equal(b.pos, data, 16);
    assert_int_equal(gw_buf_append(&b, "x", 1), 0);
    assert_int_equal(gw_buf_append(&b, NULL, 0), 0);
    assert_int_equal(gw_buf_cap(&b), 16);
    guard = b.end;
    assert_ptr_equal(b.last, guard);
    gw_buf_release(&b);
}

static void
test_buf_consume(void **state)
{
    struct gw_buf b;

    (void)state;
    assert_int_equal(gw_buf_alloc(&b, 16), 0);
    gw_buf_append(&b, "abcdefgh", 8);

    gw_buf_consume(&b, 0);
    assert_int_equal(gw_buf_len(&b), 8);
    assert_ptr_equal(b.pos, b.start);

    gw_buf_consume(&b, 3);
    assert_int_equal(gw_buf_len(&b), 5);
    assert_memory_equal(b.pos, "defgh", 5);
    assert_ptr_equal(b.pos, b.start + 3);
    assert_int_equal(gw_buf_space(&b), 8); /* no implicit compaction */

    /* consuming exactly the rest resets to empty at the start */
    gw_buf_consume(&b, 5);
    assert_int_equal(gw_buf_len(&b), 0);
    assert_ptr_equal(b.pos, b.start);
    assert_ptr_equal(b.last, b.start);
    assert_int_equal(gw_buf_space(&b), 16);

    /* consuming more than there is does the same */
    gw_buf_append(&b, "xyz", 3);
    gw_buf_consume(&b, 1);
    gw_buf_consume(&b, 100);
    assert_int_equal(gw_buf_len(&b), 0);
    assert_ptr_equal(b.pos, b.start);
    assert_int_equal(gw_buf_space(&b), 16);
    gw_buf_release(&b);
}

static void
test_buf_compact(void **state)
{
    struct gw_buf b;

    (void)state;
    assert_int_equal(gw_buf_alloc(&b, 16), 0);
    gw_buf_append(&b, "0123456789abcdef", 16);
    gw_buf_consume(&b, 10);
    assert_int_equal(gw_buf_space(&b), 0);
    gw_buf_compact(&b);
    assert_ptr_equal(b.pos, b.start);
    assert_int_equal(gw_buf_len(&b), 6);
    assert_memory_equal(b.pos, "abcdef", 6);
    assert_int_equal(gw_buf_space(&b), 10);

    /* already at the front: nothing moves */
    gw_buf_compact(&b);
    assert_ptr_equal(b.pos, b.start);
    assert_int_equal(gw_buf_len(&b), 6);
    assert_memory_equal(b.pos, "abcdef", 6);

    /* after compaction the freed tail is usable */
    assert_int_equal(gw_buf_append(&b, "ghijklmnopqr", 12), 10);
    assert_memory_equal(b.pos, "abcdefghijklmnop", 16);

    /* an empty buffer left at an offset compacts to the start */
    b.pos = b.start + 7;
    b.last = b.start + 7;
    gw_buf_compact(&b);
    assert_ptr_equal(b.pos, b.start);
    assert_ptr_equal(b.last, b.start);
    gw_buf_release(&b);
}

/* A long random sequence of operations against a simple model. */
static void
test_buf_model(void **state)
{
    uint8_t model[64];
    size_t mlen = 0;
    struct gw_buf b;
    uint32_t x = 12345;
    int i;

    (void)state;
    assert_int_equal(gw_buf_alloc(&b, sizeof(model)), 0);
    for (i = 0; i < 20000; i++) {
        uint8_t chunk[80];
        size_t n;
        size_t got;
        size_t space;
        size_t j;

        x = x * 1103515245u + 12345u;
        n = (x >> 16) % 80;
        switch ((x >> 8) % 3) {
        case 0:
            for (j = 0; j < n; j++) {
                chunk[j] = (uint8_t)(i + j);
            }
            space = gw_buf_space(&b);
            got = gw_buf_append(&b, chunk, n);
            assert_int_equal(got, n < space ? n : space);
            memcpy(model + mlen, chunk, got);
            mlen += got;
            break;
        case 1:
            gw_buf_consume(&b, n);
            if (n >= mlen) {
                mlen = 0;
            } else {
                memmove(model, model + n, mlen - n);
                mlen -= n;
            }
            break;
        default:
            gw_buf_compact(&b);
            assert_ptr_equal(b.pos, b.start);
            break;
        }
        assert_int_equal(gw_buf_len(&b), mlen);
        assert_true(b.start <= b.pos && b.pos <= b.last && b.last <= b.end);
        assert_int_equal(gw_buf_cap(&b), sizeof(model));
        if (mlen > 0) {
            assert_memory_equal(b.pos, model, mlen);
        }
    }
    gw_buf_release(&b);
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_alloc_and_release),
        cmocka_unit_test(test_buf_alloc_failure),
        cmocka_unit_test(test_buf_append_bounds),
        cmocka_unit_test(test_buf_consume),
        cmocka_unit_test(test_buf_compact),
        cmocka_unit_test(test_buf_model),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
