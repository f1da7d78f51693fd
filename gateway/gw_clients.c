#include "gateway/gw_clients.h"

#include <netinet/in.h>
#include <string.h>

#include "gateway/gw_error.h"
#include "gateway/gw_str.h"

void
gw_clients_key(const struct sockaddr *sa, uint8_t key[17])
{
    memset(key, 0, 17);
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 =
            &((const struct sockaddr_in6 *)sa)->sin6_addr;

        /* ::ffff:a.b.c.d on a dual-stack listener is the IPv4 client */
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            key[0] = 4;
            memcpy(key + 1, a6->s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a6, 16);
        }
    } else {
        key[0] = 1; /* any other family shares one slot */
    }
}

static size_t
gw_clients_hash(const uint8_t key[17])
{
    return (size_t)gw_fnv1a(GW_FNV1A_INIT, key, 17);
}

size_t
gw_clients_capacity(size_t max_entries)
{
    size_t cap = 16;

    while (cap < max_entries * 2) {
        cap <<= 1;
    }
    return cap;
}

void
gw_clients_attach(struct gw_clients *t, struct gw_client_slot *slots,
                  size_t cap)
{
    size_t i;

    t->slots = slots;
    t->mask = cap - 1;
    t->used = 0;
    for (i = 0; i < cap; i++) {
        if (slots[i].key[0] != 0) {
            t->used++;
        }
    }
}

uint32_t
gw_clients_count(const struct gw_clients *t, const struct sockaddr *sa)
{
    uint8_t key[17];
    size_t i;
    size_t probes;

    gw_clients_key(sa, key);
    i = gw_clients_hash(key) & t->mask;
    for (probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
        const struct gw_client_slot *s = &t->slots[i];

        if (s->key[0] == 0) {
            return 0;
        }
        if (memcmp(s->key, key, sizeof(key)) == 0) {
            return s->count;
        }
    }
    return 0;
}

uint32_t
gw_clients_add(struct gw_clients *t, const struct sockaddr *sa)
{
    uint8_t key[17];
    size_t i;

    gw_clients_key(sa, key);
    for (i = gw_clients_hash(key) & t->mask;; i = (i + 1) & t->mask) {
        struct gw_client_slot *s = &t->slots[i];

        if (s->key[0] == 0) {
            if (t->used + 1 > (t->mask + 1) / 2) {
                return 0;
            }
            memcpy(s->key, key, sizeof(key));
            s->count = 1;
            t->used++;
            return 1;
        }
        if (memcmp(s->key, key, sizeof(key)) == 0) {
            return ++s->count;
        }
    }
}

void
gw_clients_remove(struct gw_clients *t, const struct sockaddr *sa)
{
    uint8_t key[17];
    size_t i;
    size_t j;
    size_t home;

    gw_clients_key(sa, key);
    for (i = gw_clients_hash(key) & t->mask;; i = (i + 1) & t->mask) {
        if (t->slots[i].key[0] == 0) {
            return; /* not present: nothing to do */
        }
        if (memcmp(t->slots[i].key, key, sizeof(key)) == 0) {
            break;
        }
    }
    if (--t->slots[i].count > 0) {
        return;
    }
    /* Backward-shift deletion keeps every probe chain unbroken. */
    t->used--;
    j = i;
    for (;;) {
        memset(&t->slots[i], 0, sizeof(t->slots[i]));
        for (;;) {
            j = (j + 1) & t->mask;
            if (t->slots[j].key[0] == 0) {
                return;
            }
            home = gw_clients_hash(t->slots[j].key) & t->mask;
            /* move j back to i unless its home lies cyclically in (i, j] */
            if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) {
                continue;
            }
            break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}
