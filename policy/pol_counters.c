/*
 * Counters for rate() and connections(): the interface's in-process store.
 *
 * A fixed array of slots, each keyed by a 64-bit SipHash-2-4 of
 * (ns, NUL, value) under the caller's secret seed; a slot holds one token
 * bucket and one connection count. Memory is fixed at creation: when the
 * 8 slots a key may live in are all taken, the least recently used one is
 * recycled (preferring slots with no open connection), and its key starts
 * again with a full bucket. Time comes from the caller.
 *
 * The slots may live in caller memory (a mapping shared by processes); the
 * caller's lock, when given, is held around each operation.
 *
 * Token bucket arithmetic is exact in integers: one token is `per_ms`
 * units, the bucket refills `count` units per millisecond and holds at
 * most burst * per_ms units (at most 1e9 * 30d in ms < 2^62).
 */
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

#define POL_MEM_WINDOW 8u
#define POL_MEM_MIN 64u

struct pol_mem_slot {
    uint64_t hash; /* 0: empty */
    uint64_t last_ms;
    uint64_t units;
    uint32_t conns;
    uint32_t used; /* the bucket has been initialised */
};

struct pol_mem {
    struct pol_mem_slot *slots;
    size_t mask;
    bool owns_slots;
    struct pol_counters_lock lock;
    uint8_t seed[16];
};

static uint64_t pol_key_hash(const struct pol_mem *m,
                             const struct pol_counter_key *key);
static struct pol_mem_slot *pol_mem_slot(struct pol_mem *m, uint64_t h,
                                         uint64_t now_ms, bool create);
static int pol_mem_take(void *impl, const struct pol_counter_key *key,
                        const struct pol_bucket *b, uint64_t now_ms);
static int pol_mem_conn_get(void *impl, const struct pol_counter_key *key,
                            uint32_t *count);
static int pol_mem_conn_add(void *impl, const struct pol_counter_key *key,
                            int delta, uint64_t now_ms);
static void pol_mem_destroy(void *impl);

static const struct pol_counters_ops pol_mem_ops = {
    pol_mem_take,
    pol_mem_conn_get,
    pol_mem_conn_add,
    pol_mem_destroy,
};

/* ---- SipHash-2-4 -------------------------------------------------------- */

#define POL_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t
pol_le64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void
pol_sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = POL_ROTL(v[1], 13);
    v[1] ^= v[0];
    v[0] = POL_ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = POL_ROTL(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = POL_ROTL(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = POL_ROTL(v[1], 17);
    v[1] ^= v[2];
    v[2] = POL_ROTL(v[2], 32);
}

uint64_t
pol_siphash(const uint8_t key[16], const uint8_t *p, size_t len)
{
    uint64_t k0 = pol_le64(key);
    uint64_t k1 = pol_le64(key + 8);
    uint64_t v[4];
    uint64_t m;
    uint8_t tail[8];
    size_t i;
    size_t rest = len % 8;

    v[0] = k0 ^ 0x736f6d6570736575ULL;
    v[1] = k1 ^ 0x646f72616e646f6dULL;
    v[2] = k0 ^ 0x6c7967656e657261ULL;
    v[3] = k1 ^ 0x7465646279746573ULL;
    for (i = 0; i + 8 <= len; i += 8) {
        m = pol_le64(p + i);
        v[3] ^= m;
        pol_sipround(v);
        pol_sipround(v);
        v[0] ^= m;
    }
    memset(tail, 0, sizeof(tail));
    if (rest > 0) {
        memcpy(tail, p + i, rest);
    }
    tail[7] = (uint8_t)len;
    m = pol_le64(tail);
    v[3] ^= m;
    pol_sipround(v);
    pol_sipround(v);
    v[0] ^= m;
    v[2] ^= 0xff;
    pol_sipround(v);
    pol_sipround(v);
    pol_sipround(v);
    pol_sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- the store ---------------------------------------------------------- */

static size_t
pol_counters_table_slots(size_t capacity)
{
    size_t n = POL_MEM_MIN;

    while (n < capacity && n < ((size_t)1 << 40)) {
        n *= 2;
    }
    return n;
}

size_t
pol_counters_table_bytes(size_t capacity)
{
    size_t n = pol_counters_table_slots(capacity);

    return n > SIZE_MAX / sizeof(struct pol_mem_slot)
               ? 0
               : n * sizeof(struct pol_mem_slot);
}

static struct pol_counters *
pol_counters_make(void *mem, bool owns, size_t capacity,
                  const uint8_t seed[16], const struct pol_counters_lock *lock)
{
    struct pol_counters *c = calloc(1, sizeof(*c));
    struct pol_mem *m = calloc(1, sizeof(*m));

    if (c == NULL || m == NULL) {
        free(c);
        free(m);
        return NULL;
    }
    m->slots = mem;
    m->owns_slots = owns;
    m->mask = pol_counters_table_slots(capacity) - 1;
    if (lock != NULL) {
        m->lock = *lock;
    }
    if (seed != NULL) {
        memcpy(m->seed, seed, sizeof(m->seed));
    }
    c->ops = &pol_mem_ops;
    c->impl = m;
    return c;
}

struct pol_counters *
pol_counters_mem_new(size_t capacity, const uint8_t seed[16])
{
    size_t bytes = pol_counters_table_bytes(capacity);
    struct pol_counters *c;
    void *slots;

    if (bytes == 0 || (slots = calloc(1, bytes)) == NULL) {
        return NULL;
    }
    c = pol_counters_make(slots, true, capacity, seed, NULL);
    if (c == NULL) {
        free(slots);
    }
    return c;
}

struct pol_counters *
pol_counters_table_new(void *mem, size_t capacity, const uint8_t seed[16],
                       const struct pol_counters_lock *lock)
{
    if (mem == NULL || pol_counters_table_bytes(capacity) == 0) {
        return NULL;
    }
    return pol_counters_make(mem, false, capacity, seed, lock);
}

void
pol_counters_free(struct pol_counters *c)
{
    if (c == NULL) {
        return;
    }
    if (c->ops != NULL && c->ops->destroy != NULL) {
        c->ops->destroy(c->impl);
    }
    free(c);
}

static void
pol_mem_destroy(void *impl)
{
    struct pol_mem *m = impl;

    if (m != NULL) {
        if (m->owns_slots) {
            free(m->slots);
        }
        free(m);
    }
}

static void
pol_mem_lock(struct pol_mem *m)
{
    if (m->lock.lock != NULL) {
        m->lock.lock(m->lock.arg);
    }
}

static void
pol_mem_unlock(struct pol_mem *m)
{
    if (m->lock.unlock != NULL) {
        m->lock.unlock(m->lock.arg);
    }
}

/* SipHash over ns, a NUL, and value, without copying. */
static uint64_t
pol_key_hash(const struct pol_mem *m, const struct pol_counter_key *key)
{
    uint8_t buf[512];
    size_t n = key->ns_len + 1 + key->value_len;
    uint64_t h;

    if (n <= sizeof(buf)) {
        memcpy(buf, key->ns, key->ns_len);
        buf[key->ns_len] = '\0';
        if (key->value_len > 0) {
            memcpy(buf + key->ns_len + 1, key->value, key->value_len);
        }
        h = pol_siphash(m->seed, buf, n);
    } else {
        /* a long key: chain the two hashes */
        uint8_t k2[16];
        uint64_t a =
            pol_siphash(m->seed, (const uint8_t *)key->ns, key->ns_len);

        memcpy(k2, m->seed, sizeof(k2));
        for (n = 0; n < 8; n++) {
            k2[n] ^= (uint8_t)(a >> (8 * n));
        }
        h = pol_siphash(k2, key->value, key->value_len);
    }
    return h != 0 ? h : 1;
}

static struct pol_mem_slot *
pol_mem_slot(struct pol_mem *m, uint64_t h, uint64_t now_ms, bool create)
{
    struct pol_mem_slot *victim = NULL;
    struct pol_mem_slot *empty = NULL;
    size_t i;

    for (i = 0; i < POL_MEM_WINDOW; i++) {
        struct pol_mem_slot *s = &m->slots[(h + i) & m->mask];

        if (s->hash == h) {
            return s;
        }
        if (s->hash == 0) {
            if (empty == NULL) {
                empty = s;
            }
            continue;
        }
        if (victim == NULL || (victim->conns > 0 && s->conns == 0) ||
            ((victim->conns > 0) == (s->conns > 0) &&
             s->last_ms < victim->last_ms)) {
            victim = s;
        }
    }
    if (!create) {
        return NULL;
    }
    if (empty == NULL) {
        empty = victim;
    }
    memset(empty, 0, sizeof(*empty));
    empty->hash = h;
    empty->last_ms = now_ms;
    return empty;
}

/* Takes one token from s's bucket (cap units): 1, or 0 when empty. */
static int
pol_bucket_take(struct pol_mem_slot *s, const struct pol_bucket *b,
                uint64_t cap, uint64_t now_ms)
{
    uint64_t dt;

    if (s->used == 0) {
        s->used = 1;
        s->units = cap;
        s->last_ms = now_ms;
    } else if (now_ms > s->last_ms) {
        dt = now_ms - s->last_ms;
        if (dt >= cap / b->count + 1) {
            s->units = cap;
        } else {
            s->units += dt * b->count;
        }
        s->last_ms = now_ms;
    }
    if (s->units > cap) {
        s->units = cap; /* the rule was changed to a smaller bucket */
    }
    if (s->units < b->per_ms) {
        return 0;
    }
    s->units -= b->per_ms;
    return 1;
}

static int
pol_mem_take(void *impl, const struct pol_counter_key *key,
             const struct pol_bucket *b, uint64_t now_ms)
{
    struct pol_mem *m = impl;
    uint64_t h;
    int rc;

    if (b->count == 0 || b->per_ms == 0 || b->burst == 0 ||
        b->per_ms > UINT64_MAX / b->burst) {
        return POL_E_INVAL;
    }
    h = pol_key_hash(m, key);
    pol_mem_lock(m);
    rc = pol_bucket_take(pol_mem_slot(m, h, now_ms, true), b,
                         (uint64_t)b->burst * b->per_ms, now_ms);
    pol_mem_unlock(m);
    return rc;
}

static int
pol_mem_conn_get(void *impl, const struct pol_counter_key *key, uint32_t *count)
{
    struct pol_mem *m = impl;
    uint64_t h = pol_key_hash(m, key);
    struct pol_mem_slot *s;

    pol_mem_lock(m);
    s = pol_mem_slot(m, h, 0, false);
    *count = s != NULL ? s->conns : 0;
    pol_mem_unlock(m);
    return 0;
}

static void
pol_slot_conn_add(struct pol_mem_slot *s, int delta, uint64_t now_ms)
{
    if (delta > 0) {
        s->conns = s->conns < UINT32_MAX - (uint32_t)delta
                       ? s->conns + (uint32_t)delta
                       : UINT32_MAX;
    } else {
        s->conns =
            s->conns > (uint32_t)-delta ? s->conns - (uint32_t)-delta : 0;
    }
    if (now_ms > s->last_ms) {
        s->last_ms = now_ms;
    }
}

static int
pol_mem_conn_add(void *impl, const struct pol_counter_key *key, int delta,
                 uint64_t now_ms)
{
    struct pol_mem *m = impl;
    uint64_t h = pol_key_hash(m, key);
    struct pol_mem_slot *s;

    pol_mem_lock(m);
    /* closing a connection the store no longer knows is a no-op */
    s = pol_mem_slot(m, h, now_ms, delta > 0);
    if (s != NULL) {
        pol_slot_conn_add(s, delta, now_ms);
    }
    pol_mem_unlock(m);
    return 0;
}

/* ---- the gateway's side ------------------------------------------------- */

static int
pol_counters_conn(struct pol_counters *c, const struct pol_addr *a, int delta,
                  uint64_t now_ms)
{
    struct pol_counter_key key;
    char text[48];
    size_t len;

    if (c == NULL || c->ops == NULL || c->ops->conn_add == NULL) {
        return POL_E_INVAL;
    }
    len = pol_addr_format(a, text, sizeof(text));
    if (len == 0) {
        return POL_E_INVAL;
    }
    key.ns = "conn";
    key.ns_len = 4;
    key.value = (const uint8_t *)text;
    key.value_len = len;
    return c->ops->conn_add(c->impl, &key, delta, now_ms);
}

int
pol_counters_conn_open(struct pol_counters *c, const struct pol_addr *a,
                       uint64_t now_ms)
{
    return pol_counters_conn(c, a, 1, now_ms);
}

int
pol_counters_conn_close(struct pol_counters *c, const struct pol_addr *a,
                        uint64_t now_ms)
{
    return pol_counters_conn(c, a, -1, now_ms);
}
