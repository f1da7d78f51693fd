#include "gateway/gw_shm.h"

#include "gateway/gw_str.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "policy/policy.h"

static bool
gw_shm_lock_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    bool ok;

    if (pthread_mutexattr_init(&a) != 0) {
        return false;
    }
    ok = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
         pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
         pthread_mutex_init(m, &a) == 0;
    pthread_mutexattr_destroy(&a);
    return ok;
}

struct gw_shm *
gw_shm_create(size_t nworkers, size_t max_connections, size_t policy_capacity)
{
    size_t cap = gw_clients_capacity(max_connections);
    size_t policy_bytes = pol_counters_table_bytes(policy_capacity);
    size_t offset;
    size_t bytes;
    struct gw_shm *shm;

    if (nworkers == 0 || nworkers > GW_MAX_WORKERS || policy_bytes == 0) {
        errno = EINVAL;
        return NULL;
    }
    offset = sizeof(*shm) + nworkers * cap * sizeof(struct gw_client_slot);
    offset = (offset + 63) & ~(size_t)63;
    bytes = offset + policy_bytes;
    shm = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (shm == MAP_FAILED) {
        return NULL;
    }
    memset(shm, 0, sizeof(*shm)); /* the tables are zero pages already */
    shm->nworkers = nworkers;
    shm->table_cap = cap;
    shm->bytes = bytes;
    shm->policy_capacity = policy_capacity;
    shm->policy_offset = offset;
    if (!gw_shm_lock_init(&shm->lock) ||
        getrandom(shm->policy_seed, sizeof(shm->policy_seed), 0) !=
            (ssize_t)sizeof(shm->policy_seed)) {
        munmap(shm, bytes);
        errno = EAGAIN;
        return NULL;
    }
    return shm;
}

void *
gw_shm_policy_table(struct gw_shm *shm)
{
    return (char *)shm + shm->policy_offset;
}

void
gw_shm_lock(struct gw_shm *shm)
{
    if (pthread_mutex_lock(&shm->lock) == EOWNERDEAD) {
        /* the holder died mid-update: a bucket may be off by a token */
        pthread_mutex_consistent(&shm->lock);
    }
}

void
gw_shm_unlock(struct gw_shm *shm)
{
    pthread_mutex_unlock(&shm->lock);
}

void
gw_shm_destroy(struct gw_shm *shm)
{
    if (shm != NULL) {
        pthread_mutex_destroy(&shm->lock);
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

/* Publishes a name to readers that take no lock: every byte but the first,
 * then the first with release order (readers load it with acquire and
 * skip a slot whose first byte is still NUL). */
static void
gw_shm_publish_name(char *dst, size_t cap, const char *name)
{
    gw_strlcpy(dst + 1, name[0] != '\0' ? name + 1 : "", cap - 1);
    __atomic_store_n(&dst[0], name[0], __ATOMIC_RELEASE);
}

/* Under the lock, as the writer: a reader never copies a list half old,
 * half new (one uncontended lock per EHLO). */
void
gw_shm_caps_get(struct gw_shm *shm, const char *name, struct gw_caps *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    gw_shm_lock(shm);
    for (i = 0; i < GW_SHM_MAX_UPSTREAMS; i++) {
        if (shm->caps[i].name[0] != '\0' &&
            strcmp(shm->caps[i].name, name) == 0) {
            *out = shm->caps[i].caps;
            break;
        }
    }
    gw_shm_unlock(shm);
}

void
gw_shm_caps_set(struct gw_shm *shm, const char *name,
                const struct gw_caps *caps)
{
    size_t i;
    size_t free_slot = GW_SHM_MAX_UPSTREAMS;

    /* workers learn capabilities at the same time: one claims a slot */
    gw_shm_lock(shm);
    for (i = 0; i < GW_SHM_MAX_UPSTREAMS; i++) {
        if (strcmp(shm->caps[i].name, name) == 0) {
            shm->caps[i].caps = *caps;
            gw_shm_unlock(shm);
            return;
        }
        if (shm->caps[i].name[0] == '\0' && free_slot == GW_SHM_MAX_UPSTREAMS) {
            free_slot = i;
        }
    }
    if (free_slot < GW_SHM_MAX_UPSTREAMS) {
        shm->caps[free_slot].caps = *caps;
        gw_strlcpy(shm->caps[free_slot].name, name,
                   sizeof(shm->caps[free_slot].name));
    }
    gw_shm_unlock(shm);
}

/* A rule's key: its name, or for a name too long for the slot (a default
 * "file:line" name under a long path) a prefix and a hash of the whole,
 * so that two rules never share a slot. */
static void
gw_shm_rule_key(char key[GW_RULE_NAME_MAX], const char *name)
{
    size_t len = strlen(name);
    size_t keep = GW_RULE_NAME_MAX - 1 - 17;

    if (len < GW_RULE_NAME_MAX) {
        memcpy(key, name, len + 1);
        return;
    }
    memcpy(key, name, keep);
    snprintf(key + keep, GW_RULE_NAME_MAX - keep, "~%016llx",
             (unsigned long long)gw_fnv1a(GW_FNV1A_INIT, name, len));
}

uint16_t
gw_shm_rule_slot(struct gw_shm *shm, unsigned stage, const char *name)
{
    char key[GW_RULE_NAME_MAX];
    uint16_t found = GW_SHM_NO_RULE;
    size_t i;

    gw_shm_rule_key(key, name);
    gw_shm_lock(shm);
    for (i = 0; i < GW_SHM_MAX_RULES; i++) {
        struct gw_rule_counters *r = &shm->rules[i];

        if (r->name[0] == '\0') {
            /* the stage first, the name last: readers skip free slots */
            r->stage = stage;
            gw_shm_publish_name(r->name, sizeof(r->name), key);
            found = (uint16_t)i;
            break;
        }
        if (r->stage == stage && strcmp(r->name, key) == 0) {
            found = (uint16_t)i;
            break;
        }
    }
    gw_shm_unlock(shm);
    return found;
}
