#include "gateway/gw_policy_store.h"

#include <stdlib.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_config.h"

struct gw_policy_store {
    struct gw_shm *shm;
    struct pol_counters *buckets; /* the shared table */
};

static void
gw_policy_store_lock(void *arg)
{
    gw_shm_lock(arg);
}

static void
gw_policy_store_unlock(void *arg)
{
    gw_shm_unlock(arg);
}

static int
gw_policy_store_take(void *impl, const struct pol_counter_key *key,
                     const struct pol_bucket *b, uint64_t now_ms)
{
    struct gw_policy_store *st = impl;

    return st->buckets->ops->take(st->buckets->impl, key, b, now_ms);
}

/* The key's value is the client address as text (pol_addr_format). */
static int
gw_policy_store_conn_get(void *impl, const struct pol_counter_key *key,
                         uint32_t *count)
{
    struct gw_policy_store *st = impl;
    struct sockaddr_storage ss;
    char text[64];
    size_t n;

    if (key->value_len >= sizeof(text)) {
        return POL_E_INVAL;
    }
    memcpy(text, key->value, key->value_len);
    text[key->value_len] = '\0';
    if (!gw_config_parse_ip(text, &ss)) {
        return POL_E_INVAL;
    }
    n = gw_shm_client_count(st->shm, (const struct sockaddr *)&ss);
    *count = n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
    return 0;
}

/* The gateway counts connections in its client tables already. */
static int
gw_policy_store_conn_add(void *impl, const struct pol_counter_key *key,
                         int delta, uint64_t now_ms)
{
    (void)impl;
    (void)key;
    (void)delta;
    (void)now_ms;
    return 0;
}

static void
gw_policy_store_destroy(void *impl)
{
    struct gw_policy_store *st = impl;

    pol_counters_free(st->buckets);
    gw_free(st);
}

static const struct pol_counters_ops gw_policy_store_ops = {
    gw_policy_store_take,
    gw_policy_store_conn_get,
    gw_policy_store_conn_add,
    gw_policy_store_destroy,
};

struct pol_counters *
gw_policy_store_new(struct gw_shm *shm)
{
    struct pol_counters_lock lock = {gw_policy_store_lock,
                                     gw_policy_store_unlock, shm};
    struct gw_policy_store *st = gw_calloc(1, sizeof(*st));
    struct pol_counters *c = calloc(1, sizeof(*c)); /* pol_counters_free */

    if (st == NULL || c == NULL) {
        gw_free(st);
        free(c);
        return NULL;
    }
    st->shm = shm;
    st->buckets = pol_counters_table_new(gw_shm_policy_table(shm),
                                         shm->policy_capacity,
                                         shm->policy_seed, &lock);
    if (st->buckets == NULL) {
        gw_free(st);
        free(c);
        return NULL;
    }
    c->ops = &gw_policy_store_ops;
    c->impl = st;
    return c;
}
