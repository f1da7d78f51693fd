#include "gateway/gw_authfail.h"

#include <string.h>

#include "gateway/gw_clients.h"
#include "gateway/gw_str.h"

/* FNV-1a over the seed (little-endian) and the key. */
static size_t
gw_authfail_index(const struct gw_authfail *t, const uint8_t key[17])
{
    uint8_t seed[8];
    uint64_t h;
    size_t i;

    for (i = 0; i < 8; i++) {
        seed[i] = (uint8_t)(t->seed >> (8 * i));
    }
    h = gw_fnv1a(gw_fnv1a(GW_FNV1A_INIT, seed, sizeof(seed)), key, 17);
    return (size_t)(h ^ (h >> 32)) & (GW_AUTH_FAILURE_SLOTS - 1);
}

void
gw_authfail_init(struct gw_authfail *t, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    t->seed = seed;
}

uint32_t
gw_authfail_count(const struct gw_authfail *t, const struct sockaddr *sa,
                  uint64_t now_ms, uint64_t window_ms)
{
    uint8_t key[17];
    const struct gw_authfail_slot *slot;

    gw_clients_key(sa, key);
    slot = &t->slots[gw_authfail_index(t, key)];
    if (slot->count == 0 || memcmp(slot->key, key, sizeof(key)) != 0 ||
        now_ms - slot->last_ms > window_ms) {
        return 0;
    }
    return slot->count;
}

uint32_t
gw_authfail_note(struct gw_authfail *t, const struct sockaddr *sa,
                 uint64_t now_ms, uint64_t window_ms)
{
    uint8_t key[17];
    struct gw_authfail_slot *slot;

    gw_clients_key(sa, key);
    slot = &t->slots[gw_authfail_index(t, key)];
    if (memcmp(slot->key, key, sizeof(key)) != 0 ||
        now_ms - slot->last_ms > window_ms) {
        memcpy(slot->key, key, sizeof(key));
        slot->count = 0;
    }
    if (slot->count < UINT32_MAX) {
        slot->count++;
    }
    slot->last_ms = now_ms;
    return slot->count;
}

uint64_t
gw_authfail_delay(uint64_t base_ms, uint32_t count)
{
    uint64_t d = base_ms;
    uint32_t i;

    for (i = 1; i < count && d < GW_AUTH_DELAY_CAP; i++) {
        d *= 2;
    }
    return d < GW_AUTH_DELAY_CAP ? d : GW_AUTH_DELAY_CAP;
}
