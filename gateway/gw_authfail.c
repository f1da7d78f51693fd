#include "gateway/gw_authfail.h"

#include <netinet/in.h>
#include <string.h>

/* The address without the port: IPv4 and IPv6 (a v4-mapped v6 address is
 * the same client as its v4 form). */
static void
gw_authfail_key(const struct sockaddr *sa, uint8_t key[17])
{
    memset(key, 0, 17);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        key[0] = 4;
        memcpy(key + 1, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            key[0] = 4;
            memcpy(key + 1, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, &in6->sin6_addr, 16);
        }
    }
}

/* FNV-1a over the seed and the key. */
static size_t
gw_authfail_index(const struct gw_authfail *t, const uint8_t key[17])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < 8; i++) {
        h = (h ^ ((t->seed >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
    for (i = 0; i < 17; i++) {
        h = (h ^ key[i]) * 0x100000001b3ULL;
    }
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

    gw_authfail_key(sa, key);
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

    gw_authfail_key(sa, key);
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
