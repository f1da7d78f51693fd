#include "gateway/gw_shm.h"

#include "gateway/gw_str.h"

#include <string.h>
#include <sys/mman.h>

struct gw_shm *
gw_shm_create(size_t nworkers, size_t max_connections)
{
    size_t cap = gw_clients_capacity(max_connections);
    size_t bytes;
    struct gw_shm *shm;

    if (nworkers == 0 || nworkers > GW_MAX_WORKERS) {
        return NULL;
    }
    bytes = sizeof(*shm) + nworkers * cap * sizeof(struct gw_client_slot);
    shm = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (shm == MAP_FAILED) {
        return NULL;
    }
    memset(shm, 0, sizeof(*shm)); /* the tables are zero pages already */
    shm->nworkers = nworkers;
    shm->table_cap = cap;
    shm->bytes = bytes;
    return shm;
}

void
gw_shm_destroy(struct gw_shm *shm)
{
    if (shm != NULL) {
        munmap(shm, shm->bytes);
    }
}

struct gw_client_slot *
gw_shm_slots(struct gw_shm *shm, size_t i)
{
    struct gw_client_slot *base = (struct gw_client_slot *)(shm + 1);

    return base + i * shm->table_cap;
}

void
gw_shm_reset_worker(struct gw_shm *shm, size_t i)
{
    memset(gw_shm_slots(shm, i), 0,
           shm->table_cap * sizeof(struct gw_client_slot));
    shm->w[i].counters.sessions = 0;
    shm->w[i].pid = 0;
}

void
gw_shm_sum(const struct gw_shm *shm, struct gw_counters *sum)
{
    size_t i;

    memset(sum, 0, sizeof(*sum));
    for (i = 0; i < shm->nworkers; i++) {
        gw_counters_add(sum, &shm->w[i].counters);
    }
}

size_t
gw_shm_sessions(const struct gw_shm *shm)
{
    size_t i;
    size_t n = 0;

    for (i = 0; i < shm->nworkers; i++) {
        n += (size_t)shm->w[i].counters.sessions;
    }
    return n;
}

size_t
gw_shm_client_count(struct gw_shm *shm, const struct sockaddr *sa)
{
    struct gw_clients t;
    size_t i;
    size_t n = 0;

    for (i = 0; i < shm->nworkers; i++) {
        gw_clients_attach(&t, gw_shm_slots(shm, i), shm->table_cap);
        n += gw_clients_count(&t, sa);
    }
    return n;
}

void
gw_shm_caps_get(const struct gw_shm *shm, const char *name,
                struct gw_caps *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < GW_SHM_MAX_UPSTREAMS; i++) {
        if (strcmp(shm->caps[i].name, name) == 0) {
            *out = shm->caps[i].caps;
            return;
        }
    }
}

void
gw_shm_caps_set(struct gw_shm *shm, const char *name,
                const struct gw_caps *caps)
{
    size_t i;
    size_t free_slot = GW_SHM_MAX_UPSTREAMS;

    for (i = 0; i < GW_SHM_MAX_UPSTREAMS; i++) {
        if (strcmp(shm->caps[i].name, name) == 0) {
            shm->caps[i].caps = *caps;
            return;
        }
        if (shm->caps[i].name[0] == '\0' && free_slot == GW_SHM_MAX_UPSTREAMS) {
            free_slot = i;
        }
    }
    if (free_slot < GW_SHM_MAX_UPSTREAMS) {
        /* the caps first, the name last: a reader that finds the name
         * finds the caps written */
        shm->caps[free_slot].caps = *caps;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        gw_strlcpy(shm->caps[free_slot].name, name,
                   sizeof(shm->caps[free_slot].name));
    }
}
