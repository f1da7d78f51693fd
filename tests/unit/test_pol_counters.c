/*
 * Unit tests for policy/pol_counters.c: SipHash-2-4 against the reference
 * vectors, token bucket arithmetic (burst, exact refill, clock steps back,
 * huge gaps), connection counts that never go below zero, fixed memory
 * under a flood of distinct keys, a table over caller memory (as two
 * processes share it) with the caller's lock, and a caller's own store (as
 * a Redis client would be) whose failure makes the verdict an error.
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

#include "policy/pol_internal.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t test_seed[16] = {0, 1, 2,  3,  4,  5,  6,  7,
                                      8, 9, 10, 11, 12, 13, 14, 15};

static void
test_siphash_vectors(void **state)
{
    uint8_t msg[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)i;
    }
    /* Aumasson & Bernstein, SipHash reference vectors (key 00..0f) */
    assert_true(pol_siphash(test_seed, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(pol_siphash(test_seed, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(pol_siphash(test_seed, msg, 8) == 0x93f5f5799a932462ULL);
    assert_true(pol_siphash(test_seed, msg, 63) == 0x958a324ceb064572ULL);
}

static int
take(struct pol_counters *c, const char *value, uint32_t count, uint64_t per_ms,
     uint32_t burst, uint64_t now)
{
    struct pol_counter_key key = {"rate:r:0", 8, (const uint8_t *)value,
                                  strlen(value)};
    struct pol_bucket b = {count, burst, per_ms};

    return c->ops->take(c->impl, &key, &b, now);
}

static void
test_bucket(void **state)
{
    struct pol_counters *c = pol_counters_mem_new(100, test_seed);
    int i;

    (void)state;
    assert_non_null(c);
    /* 10 per second, burst 5: five at once, then one per 100 ms */
    for (i = 0; i < 5; i++) {
        assert_int_equal(take(c, "a", 10, 1000, 5, 1000), 1);
    }
    assert_int_equal(take(c, "a", 10, 1000, 5, 1000), 0);
    assert_int_equal(take(c, "a", 10, 1000, 5, 1099), 0);
    assert_int_equal(take(c, "a", 10, 1000, 5, 1100), 1);
    assert_int_equal(take(c, "a", 10, 1000, 5, 1100), 0);
    /* the clock stepping back adds nothing and breaks nothing */
    assert_int_equal(take(c, "a", 10, 1000, 5, 50), 0);
    assert_int_equal(take(c, "a", 10, 1000, 5, 1200), 1);
    /* a long gap refills to the burst, no more */
    for (i = 0; i < 5; i++) {
        assert_int_equal(take(c, "a", 10, 1000, 5, UINT64_MAX / 2), 1);
    }
    assert_int_equal(take(c, "a", 10, 1000, 5, UINT64_MAX / 2), 0);
    /* extremes do not overflow */
    assert_int_equal(take(c, "b", 1000000000, 30ull * 86400000, 1000000000, 0),
                     1);
    assert_int_equal(take(c, "c", 1, 1, 1, UINT64_MAX), 1);
    assert_int_equal(take(c, "c", 1, 1, 1, UINT64_MAX), 0);
    /* nonsense buckets are refused */
    assert_true(take(c, "d", 0, 1000, 1, 0) < 0);
    assert_true(take(c, "d", 1, 0, 1, 0) < 0);
    pol_counters_free(c);
    pol_counters_free(NULL);
}

/* Slow rates accrue exactly: 3 per hour is one per 20 minutes. */
static void
test_bucket_exact(void **state)
{
    struct pol_counters *c = pol_counters_mem_new(100, test_seed);
    uint64_t t = 0;
    int i;
    int taken = 0;

    (void)state;
    assert_non_null(c);
    for (i = 0; i < 3; i++) {
        assert_int_equal(take(c, "x", 3, 3600000, 3, t), 1);
    }
    /* a try every second for 10 hours: exactly 30 more */
    for (t = 1000; t <= 36000000; t += 1000) {
        taken += take(c, "x", 3, 3600000, 3, t);
    }
    assert_int_equal(taken, 30);
    pol_counters_free(c);
}

static void
test_connections(void **state)
{
    struct pol_counters *c = pol_counters_mem_new(0, test_seed);
    struct pol_counter_key key = {"conn", 4, (const uint8_t *)"192.0.2.1", 9};
    struct pol_addr a;
    uint32_t n = 99;

    (void)state;
    assert_non_null(c);
    assert_int_equal(pol_addr_parse(&a, "192.0.2.1", 9), POL_OK);
    assert_int_equal(c->ops->conn_get(c->impl, &key, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pol_counters_conn_open(c, &a, 1), 0);
    assert_int_equal(pol_counters_conn_open(c, &a, 2), 0);
    assert_int_equal(c->ops->conn_get(c->impl, &key, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pol_counters_conn_close(c, &a, 3), 0);
    assert_int_equal(pol_counters_conn_close(c, &a, 4), 0);
    assert_int_equal(pol_counters_conn_close(c, &a, 5), 0);
    assert_int_equal(c->ops->conn_get(c->impl, &key, &n), 0);
    assert_int_equal(n, 0);
    /* an absent address is refused */
    memset(&a, 0, sizeof(a));
    assert_int_equal(pol_counters_conn_open(c, &a, 6), POL_E_INVAL);
    assert_int_equal(pol_counters_conn_open(NULL, &a, 6), POL_E_INVAL);
    pol_counters_free(c);
}

/* 100,000 distinct senders into 64 slots: memory stays what it was, and
 * the most recent keys are still counted. */
static void
test_flood(void **state)
{
    struct pol_counters *c = pol_counters_mem_new(64, test_seed);
    struct pol_counter_key key = {"conn", 4, (const uint8_t *)"10.0.0.1", 8};
    struct pol_addr a;
    char v[32];
    uint32_t n;
    int i;

    (void)state;
    assert_non_null(c);
    /* an open connection is kept over idle buckets */
    assert_int_equal(pol_addr_parse(&a, "10.0.0.1", 8), POL_OK);
    assert_int_equal(pol_counters_conn_open(c, &a, 0), 0);
    for (i = 0; i < 100000; i++) {
        snprintf(v, sizeof(v), "s%d@example.com", i);
        assert_int_equal(take(c, v, 1, 60000, 1, (uint64_t)i + 1), 1);
    }
    snprintf(v, sizeof(v), "s%d@example.com", 99999);
    assert_int_equal(take(c, v, 1, 60000, 1, 100001), 0);
    assert_int_equal(c->ops->conn_get(c->impl, &key, &n), 0);
    assert_int_equal(n, 1);
    pol_counters_free(c);
}

/* ---- a table over caller memory ------------------------------------------ */

struct fake_lock {
    int held;
    int locks;
};

static void
fake_lock(void *arg)
{
    struct fake_lock *l = arg;

    assert_int_equal(l->held, 0);
    l->held = 1;
    l->locks++;
}

static void
fake_unlock(void *arg)
{
    struct fake_lock *l = arg;

    assert_int_equal(l->held, 1);
    l->held = 0;
}

/* Two stores over one table (two workers over one mapping) draw from the
 * same bucket, every operation runs under the lock, and freeing a store
 * leaves the caller's memory alone. */
static void
test_shared_table(void **state)
{
    struct fake_lock fl = {0, 0};
    struct pol_counters_lock lock = {fake_lock, fake_unlock, &fl};
    size_t bytes = pol_counters_table_bytes(100);
    void *mem;
    struct pol_counters *a;
    struct pol_counters *b;
    struct pol_counter_key key = {"conn", 4, (const uint8_t *)"10.0.0.9", 8};
    struct pol_addr addr;
    uint32_t n = 0;

    (void)state;
    assert_int_equal(bytes, 128 * 32); /* rounded up to a power of two */
    assert_int_equal(pol_counters_table_bytes(0), 64 * 32); /* the minimum */
    mem = calloc(1, bytes);
    assert_non_null(mem);
    assert_null(pol_counters_table_new(NULL, 100, test_seed, &lock));
    a = pol_counters_table_new(mem, 100, test_seed, &lock);
    b = pol_counters_table_new(mem, 100, test_seed, &lock);
    assert_non_null(a);
    assert_non_null(b);
    /* a burst of 3, taken 2 by a and 1 by b: the 4th is refused to both */
    assert_int_equal(take(a, "x@example.com", 1, 60000, 3, 1), 1);
    assert_int_equal(take(b, "x@example.com", 1, 60000, 3, 2), 1);
    assert_int_equal(take(a, "x@example.com", 1, 60000, 3, 3), 1);
    assert_int_equal(take(b, "x@example.com", 1, 60000, 3, 4), 0);
    assert_int_equal(take(a, "x@example.com", 1, 60000, 3, 5), 0);
    assert_int_equal(pol_addr_parse(&addr, "10.0.0.9", 8), POL_OK);
    assert_int_equal(pol_counters_conn_open(a, &addr, 6), 0);
    assert_int_equal(b->ops->conn_get(b->impl, &key, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(fl.locks, 7);
    assert_int_equal(fl.held, 0);
    pol_counters_free(a);
    /* b still works over the memory a left behind */
    assert_int_equal(take(b, "x@example.com", 1, 60000, 3, 60005), 1);
    pol_counters_free(b);
    free(mem);
}

/* ---- a caller's store --------------------------------------------------- */

struct fake_store {
    int calls;
    int rc;
    char last[64];
};

static int
fake_take(void *impl, const struct pol_counter_key *key,
          const struct pol_bucket *b, uint64_t now_ms)
{
    struct fake_store *s = impl;

    (void)b;
    (void)now_ms;
    s->calls++;
    snprintf(s->last, sizeof(s->last), "%.*s|%.*s", (int)key->ns_len, key->ns,
             (int)key->value_len, (const char *)key->value);
    return s->rc;
}

static int
fake_conn_get(void *impl, const struct pol_counter_key *key, uint32_t *count)
{
    (void)impl;
    (void)key;
    *count = 0;
    return POL_E_STORE;
}

static int
fake_conn_add(void *impl, const struct pol_counter_key *key, int delta,
              uint64_t now_ms)
{
    (void)impl;
    (void)key;
    (void)delta;
    (void)now_ms;
    return 0;
}

static void
test_custom_store(void **state)
{
    static const struct pol_counters_ops ops = {fake_take, fake_conn_get,
                                                fake_conn_add, NULL};
    struct fake_store fs = {0, 1, ""};
    struct pol_counters c = {&ops, &fs};
    struct pol_value_spec val = {"100/1h", {"p.yaml", 3, 20}};
    struct pol_value_spec act = {"tempfail", {"p.yaml", 4, 13}};
    struct pol_cond_spec cond;
    struct pol_rule_spec rule;
    struct pol_spec spec;
    struct pol_errors errs;
    struct pol_ruleset *rs;
    struct pol_facts f;
    struct pol_verdict v;
    struct pol_env env;

    (void)state;
    memset(&cond, 0, sizeof(cond));
    memset(&rule, 0, sizeof(rule));
    memset(&spec, 0, sizeof(spec));
    cond.loc = (struct pol_loc){"p.yaml", 3, 9};
    cond.fact = "client_address";
    cond.match = "rate";
    cond.values = &val;
    cond.nvalues = 1;
    rule.loc = (struct pol_loc){"p.yaml", 1, 5};
    rule.name = "per-client";
    rule.stage = "mail";
    rule.conds = &cond;
    rule.nconds = 1;
    rule.actions = &act;
    rule.nactions = 1;
    spec.rules = &rule;
    spec.nrules = 1;
    rs = pol_compile(&spec, &errs);
    assert_non_null(rs);
    memset(&f, 0, sizeof(f));
    assert_int_equal(pol_addr_parse(&f.client_address, "2001:db8::1", 11),
                     POL_OK);
    memset(&env, 0, sizeof(env));
    env.counters = &c;
    pol_verdict_init(&v, NULL, 0);
    assert_int_equal(pol_eval(rs, POL_STAGE_MAIL, &f, &env, &v),
                     POL_VERDICT_CONTINUE);
    assert_string_equal(fs.last, "rate:per-client:0|2001:db8::1");
    fs.rc = 0; /* over the rate */
    assert_int_equal(pol_eval(rs, POL_STAGE_MAIL, &f, &env, &v),
                     POL_VERDICT_TEMPFAIL);
    fs.rc = POL_E_STORE; /* the store is down: fail closed */
    assert_int_equal(pol_eval(rs, POL_STAGE_MAIL, &f, &env, &v),
                     POL_VERDICT_ERROR);
    assert_string_equal(v.error_text, "counter store failed");
    assert_int_equal(v.code, 451);
    /* no client address: nothing to count, the store is not asked */
    memset(&f.client_address, 0, sizeof(f.client_address));
    fs.calls = 0;
    assert_int_equal(pol_eval(rs, POL_STAGE_MAIL, &f, &env, &v),
                     POL_VERDICT_CONTINUE);
    assert_int_equal(fs.calls, 0);
    pol_ruleset_unref(rs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_bucket_exact),
        cmocka_unit_test(test_connections),
        cmocka_unit_test(test_flood),
        cmocka_unit_test(test_shared_table),
        cmocka_unit_test(test_custom_store),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
