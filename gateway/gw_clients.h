/*
 * Per-client-address connection counts, for limits.connections_per_client.
 * A fixed-size open-addressing table (linear probing, backward-shift delete)
 * sized at start from limits.connections: no allocation per connection.
 */
#ifndef GW_CLIENTS_H
#define GW_CLIENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct gw_client_slot {
    uint8_t key[17]; /* family byte + 16 address bytes; all zero = empty */
    uint32_t count;
};

struct gw_clients {
    struct gw_client_slot *slots;
    size_t mask; /* capacity - 1 (a power of two) */
    size_t used;
};

/* Room for `max_entries` distinct addresses at most half full. */
int gw_clients_init(struct gw_clients *t, size_t max_entries);
void gw_clients_free(struct gw_clients *t);

/* Increments the address's count and returns the new count, or 0 when the
 * table is full (the caller refuses the connection). */
uint32_t gw_clients_add(struct gw_clients *t, const struct sockaddr *sa);
/* Decrements; removes the entry at zero. */
void gw_clients_remove(struct gw_clients *t, const struct sockaddr *sa);

#endif
