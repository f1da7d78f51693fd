/*
 * Recent AUTH failures per client address, for the growing delay before a
 * 535 and the temporary block (listeners[].auth). A fixed, direct-mapped
 * table per worker: no allocation per client, and an address that lands
 * on a busy slot takes it over (the older record is forgotten: at worst a
 * delay starts low again). The slot index is keyed with a random seed so
 * that a client cannot choose addresses that evict one another.
 */
#ifndef GW_AUTHFAIL_H
#define GW_AUTHFAIL_H

#include <stdint.h>
#include <sys/socket.h>

#include "gateway/gw_limits.h"

struct gw_authfail_slot {
    uint8_t key[17]; /* family byte + 16 address bytes */
    uint32_t count;
    uint64_t last_ms;
};

struct gw_authfail {
    uint64_t seed;
    struct gw_authfail_slot slots[GW_AUTH_FAILURE_SLOTS];
};

void gw_authfail_init(struct gw_authfail *t, uint64_t seed);
/* Failures of sa's address whose last one is at most window_ms old. */
uint32_t gw_authfail_count(const struct gw_authfail *t,
                           const struct sockaddr *sa, uint64_t now_ms,
                           uint64_t window_ms);
/* Records one failure and returns the address's count with it. */
uint32_t gw_authfail_note(struct gw_authfail *t, const struct sockaddr *sa,
                          uint64_t now_ms, uint64_t window_ms);

/* The delay before the 535 of the count-th failure: base doubled per
 * earlier failure, at most GW_AUTH_DELAY_CAP (0 when base is 0). */
uint64_t gw_authfail_delay(uint64_t base_ms, uint32_t count);

#endif
