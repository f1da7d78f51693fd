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
    size_t used; /* entries in use (meaningful for the writer only) */
};

/* The table key of a client address, port left out: a family byte (4, 6;
 * 1 for any other family) and the address; an IPv4-mapped IPv6 address
 * is its IPv4 form. Never all zero (the empty slot). */
void gw_clients_key(const struct sockaddr *sa, uint8_t key[17]);

/* Slots needed for `max_entries` distinct addresses, at most half full
 * (a power of two). */
size_t gw_clients_capacity(size_t max_entries);

/* A table over caller-owned, zeroed slots (e.g. in shared memory). */
void gw_clients_attach(struct gw_clients *t, struct gw_client_slot *slots,
                       size_t cap);

/* How many connections the address has in this table. Read-only and
 * bounded, so it is safe on a table another process is writing. */
uint32_t gw_clients_count(const struct gw_clients *t,
                          const struct sockaddr *sa);

/* Increments the address's count and returns the new count, or 0 when the
 * table is full (the caller refuses the connection). */
uint32_t gw_clients_add(struct gw_clients *t, const struct sockaddr *sa);
/* Decrements; removes the entry at zero. */
void gw_clients_remove(struct gw_clients *t, const struct sockaddr *sa);

#endif
