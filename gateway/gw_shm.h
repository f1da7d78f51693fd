/*
 * State shared by the master and its workers: one anonymous shared mapping
 * made before the first fork. Each worker owns one slot (its counters and
 * its per-client connection table) and is its only writer; readers (the
 * other workers checking a limit, the metrics endpoint) only read, so no
 * lock is needed. A reader may see a slightly stale count while a writer is
 * mid-update; limits are not exact to the connection, and never unsafe.
 *
 * The policy's token buckets are the exception: every worker draws from
 * the same bucket, so that table (gw_shm_policy_table) is written by all
 * under one process-shared robust mutex (a worker that dies holding it
 * does not block the others).
 */
#ifndef GW_SHM_H
#define GW_SHM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gateway/gw_caps.h"
#include "gateway/gw_clients.h"
#include "gateway/gw_limits.h"
#include "gateway/gw_metrics.h"

struct gw_shm_worker {
    volatile pid_t pid; /* 0 when the slot's worker is not running */
    struct gw_counters counters;
};

/* The last known EHLO list of one upstream block, by name: learnt by any
 * worker (a probe or a real session), used by all. */
#define GW_SHM_MAX_UPSTREAMS 32
struct gw_shm_caps {
    char name[64];
    struct gw_caps caps;
};

/* Policy rules with counters, by (stage, name): kept across reloads, so a
 * rule keeps its counts while its name stays. Rules past the table's end
 * are not counted (logged once). */
#define GW_SHM_MAX_RULES 256
#define GW_SHM_NO_RULE UINT16_MAX

struct gw_shm {
    struct gw_shm_caps caps[GW_SHM_MAX_UPSTREAMS];
    struct gw_rule_counters rules[GW_SHM_MAX_RULES];
    size_t nworkers;
    size_t table_cap; /* slots in each worker's client table */
    size_t bytes;     /* size of the mapping */
    size_t policy_capacity; /* slots asked for the policy's table */
    size_t policy_offset;   /* where that table starts in the mapping */
    uint8_t policy_seed[16];
    pthread_mutex_t lock;   /* robust, process-shared */
    struct gw_shm_worker w[GW_MAX_WORKERS];
    /* followed by nworkers tables of table_cap struct gw_client_slot */
};

/* Maps the shared block for `nworkers` workers, each with room for
 * `max_connections` distinct client addresses, and a policy counter table
 * of `policy_capacity` slots. NULL on failure (errno set). */
struct gw_shm *gw_shm_create(size_t nworkers, size_t max_connections,
                             size_t policy_capacity);
void gw_shm_destroy(struct gw_shm *shm);

/* The policy counter table (pol_counters_table_new's memory). */
void *gw_shm_policy_table(struct gw_shm *shm);

/* The shared lock; a holder that died is recovered from. */
void gw_shm_lock(struct gw_shm *shm);
void gw_shm_unlock(struct gw_shm *shm);

/* The slot of the rule (stage, name), made when new; GW_SHM_NO_RULE when
 * the table is full. Takes the lock. */
uint16_t gw_shm_rule_slot(struct gw_shm *shm, unsigned stage,
                          const char *name);

/* Worker i's client table. */
struct gw_client_slot *gw_shm_slots(struct gw_shm *shm, size_t i);

/* After worker i died: its connections are gone (the counters stay). */
void gw_shm_reset_worker(struct gw_shm *shm, size_t i);

/* Sum of every worker's counters. */
void gw_shm_sum(const struct gw_shm *shm, struct gw_counters *sum);

/* The upstream block's last known capabilities (zero: not known);
 * reader and writer take the lock. */
void gw_shm_caps_get(struct gw_shm *shm, const char *name,
                     struct gw_caps *out);
void gw_shm_caps_set(struct gw_shm *shm, const char *name,
                     const struct gw_caps *caps);

/* Connections open across all workers, and from one client address. */
size_t gw_shm_sessions(const struct gw_shm *shm);
size_t gw_shm_client_count(struct gw_shm *shm, const struct sockaddr *sa);

#endif
