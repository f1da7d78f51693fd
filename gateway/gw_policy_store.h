/*
 * The policy's counter store in a running gateway: one for all workers.
 * rate() draws from token buckets in the shared mapping, so N workers give
 * a client the configured rate, not N times it; connections() reads the
 * workers' client tables, the same counts limits.connections_per_client
 * uses, which a dead worker's connections leave at once.
 */
#ifndef GW_POLICY_STORE_H
#define GW_POLICY_STORE_H

#include "gateway/gw_shm.h"
#include "policy/policy.h"

/* A store over shm; free it with pol_counters_free. NULL on failure. */
struct pol_counters *gw_policy_store_new(struct gw_shm *shm);

#endif
