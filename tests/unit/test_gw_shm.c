/*
 * Unit tests for gateway/gw_shm.c, gw_clients.c and gw_policy_store.c: the
 * policy's token buckets are shared by worker processes (a forked child
 * takes from the bucket the parent sees), connections() counts a client in
 * every worker's table (and an IPv4-mapped address as the IPv4 one), rule
 * metrics slots are found again by (stage, name), and the shared lock
 * survives a process that dies holding it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "gateway/gw_clients.h"
#include "gateway/gw_policy_store.h"
#include "gateway/gw_shm.h"

static int
take(struct pol_counters *c, const char *value, uint32_t burst, uint64_t now)
{
    struct pol_counter_key key = {"rate:r:0", 8, (const uint8_t *)value,
                                  strlen(value)};
    struct pol_bucket b = {1, burst, 60000};

    return c->ops->take(c->impl, &key, &b, now);
}

static uint32_t
conns(struct pol_counters *c, const char *addr)
{
    struct pol_counter_key key = {"conn", 4, (const uint8_t *)addr,
                                  strlen(addr)};
    uint32_t n = 99;

    assert_int_equal(c->ops->conn_get(c->impl, &key, &n), 0);
    return n;
}

/* Runs fn in a child process and returns its exit status. */
static int
in_child(int (*fn)(struct gw_shm *), struct gw_shm *shm)
{
    pid_t pid = fork();
    int status = -1;

    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(fn(shm));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int
child_takes_two(struct gw_shm *shm)
{
    struct pol_counters *c = gw_policy_store_new(shm);
    int ok = c != NULL && take(c, "192.0.2.7", 3, 1) == 1 &&
             take(c, "192.0.2.7", 3, 2) == 1;

    pol_counters_free(c);
    return ok ? 0 : 1;
}

static void
test_buckets_shared_across_processes(void **state)
{
    struct gw_shm *shm = gw_shm_create(2, 16, 1000);
    struct pol_counters *c;

    (void)state;
    assert_non_null(shm);
    c = gw_policy_store_new(shm);
    assert_non_null(c);
    /* burst 3: the child takes two, the parent gets one, then none */
    assert_int_equal(in_child(child_takes_two, shm), 0);
    assert_int_equal(take(c, "192.0.2.7", 3, 3), 1);
    assert_int_equal(take(c, "192.0.2.7", 3, 4), 0);
    /* another key has its own bucket */
    assert_int_equal(take(c, "192.0.2.8", 3, 4), 1);
    pol_counters_free(c);
    gw_shm_destroy(shm);
}

static void
test_connections_from_every_worker(void **state)
{
    struct gw_shm *shm = gw_shm_create(2, 16, 64);
    struct pol_counters *c;
    struct gw_clients w0;
    struct gw_clients w1;
    struct sockaddr_in v4;
    struct sockaddr_in6 mapped;

    (void)state;
    assert_non_null(shm);
    c = gw_policy_store_new(shm);
    assert_non_null(c);
    gw_clients_attach(&w0, gw_shm_slots(shm, 0), shm->table_cap);
    gw_clients_attach(&w1, gw_shm_slots(shm, 1), shm->table_cap);
    memset(&v4, 0, sizeof(v4));
    v4.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &v4.sin_addr), 1);
    memset(&mapped, 0, sizeof(mapped));
    mapped.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &mapped.sin6_addr),
                     1);
    assert_int_equal(conns(c, "192.0.2.1"), 0);
    assert_int_equal(gw_clients_add(&w0, (struct sockaddr *)&v4), 1);
    /* the same client through a dual-stack listener of another worker */
    assert_int_equal(gw_clients_add(&w1, (struct sockaddr *)&mapped), 1);
    assert_int_equal(conns(c, "192.0.2.1"), 2);
    assert_int_equal(conns(c, "2001:db8::1"), 0);
    /* a worker that died: its connections are gone */
    gw_shm_reset_worker(shm, 1);
    assert_int_equal(conns(c, "192.0.2.1"), 1);
    gw_clients_remove(&w0, (struct sockaddr *)&v4);
    assert_int_equal(conns(c, "192.0.2.1"), 0);
    pol_counters_free(c);
    gw_shm_destroy(shm);
}

/* Rule slots by (stage, name): the same pair finds its slot again (a
 * reload), another stage or name gets its own, and two long default names
 * ("file:line" under a long path) that share a prefix never share one. */
static void
test_rule_slots(void **state)
{
    struct gw_shm *shm = gw_shm_create(1, 16, 64);
    char a[300];
    char b[300];
    uint16_t sa;
    uint16_t sb;

    (void)state;
    assert_non_null(shm);
    assert_int_equal(gw_shm_rule_slot(shm, 1, "no-localhost"), 0);
    assert_int_equal(gw_shm_rule_slot(shm, 3, "no-localhost"), 1);
    assert_int_equal(gw_shm_rule_slot(shm, 1, "no-localhost"), 0);
    memset(a, 'p', sizeof(a));
    memcpy(a + 280, ":12", 4);
    memcpy(b, a, sizeof(b));
    memcpy(b + 280, ":13", 4);
    sa = gw_shm_rule_slot(shm, 4, a);
    sb = gw_shm_rule_slot(shm, 4, b);
    assert_int_not_equal(sa, sb);
    assert_int_equal(gw_shm_rule_slot(shm, 4, a), sa);
    assert_true(strlen(shm->rules[sa].name) < GW_RULE_NAME_MAX);
    assert_non_null(strchr(shm->rules[sa].name, '~'));
    gw_shm_destroy(shm);
}

static int
child_dies_holding_lock(struct gw_shm *shm)
{
    gw_shm_lock(shm);
    return 0; /* exits without unlocking */
}

static void
test_lock_survives_dead_holder(void **state)
{
    struct gw_shm *shm = gw_shm_create(1, 16, 64);
    struct pol_counters *c;

    (void)state;
    assert_non_null(shm);
    assert_int_equal(in_child(child_dies_holding_lock, shm), 0);
    c = gw_policy_store_new(shm);
    assert_non_null(c);
    /* would block forever without the robust mutex */
    assert_int_equal(take(c, "192.0.2.9", 1, 1), 1);
    assert_int_equal(take(c, "192.0.2.9", 1, 2), 0);
    pol_counters_free(c);
    gw_shm_destroy(shm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_shared_across_processes),
        cmocka_unit_test(test_connections_from_every_worker),
        cmocka_unit_test(test_rule_slots),
        cmocka_unit_test(test_lock_survives_dead_holder),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
