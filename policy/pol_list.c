/*
 * Key lists: exact (bytes), case-insensitive (ASCII) and domain-suffix
 * sets in one open-addressing hash table, built at compile time and only
 * read afterwards (so a hostile lookup cannot degrade it).
 *
 * Domain lists: "example.com" holds example.com and every name under it;
 * ".example.com" holds only the names under it. The most specific entry
 * wins (a.b.example.com: first a.b.example.com itself, then b.example.com,
 * then example.com), as Postfix reads its hash tables with
 * parent_domain_matches_subdomains, so the order of lines does not matter.
 *
 * The hash runs from the end of the key to its start, so one pass over a
 * looked-up name yields the hash of each of its suffixes: a lookup is
 * linear in the name's length, not quadratic, however many labels it has.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

#define POL_FNV_BASIS 0xcbf29ce484222325ULL
#define POL_FNV_PRIME 0x100000001b3ULL

static uint64_t pol_hash_step(uint64_t h, uint8_t c);
static uint64_t pol_list_hash(const uint8_t *p, size_t len, bool fold);
static bool pol_key_eq(const struct pol_slot *s, const uint8_t *p, size_t len,
                       bool fold);
static struct pol_slot *pol_list_find(const struct pol_table *t, uint64_t h,
                                      const uint8_t *p, size_t len, bool fold);
static int pol_list_grow(struct pol_table *t);
static bool pol_domain_valid(const char *p, size_t len);

static uint64_t
pol_hash_step(uint64_t h, uint8_t c)
{
    return (h ^ c) * POL_FNV_PRIME;
}

static uint64_t
pol_list_hash(const uint8_t *p, size_t len, bool fold)
{
    uint64_t h = POL_FNV_BASIS;
    size_t i = len;

    while (i > 0) {
        i--;
        h = pol_hash_step(h, fold ? pol_lower(p[i]) : p[i]);
    }
    return h;
}

static bool
pol_key_eq(const struct pol_slot *s, const uint8_t *p, size_t len, bool fold)
{
    size_t i;

    if (s->klen != len) {
        return false;
    }
    if (!fold) {
        return memcmp(s->key, p, len) == 0;
    }
    /* stored keys are already lower case */
    for (i = 0; i < len; i++) {
        if ((uint8_t)s->key[i] != pol_lower(p[i])) {
            return false;
        }
    }
    return true;
}

static struct pol_slot *
pol_list_find(const struct pol_table *t, uint64_t h, const uint8_t *p,
              size_t len, bool fold)
{
    size_t i;

    if (t->slots == NULL) {
        return NULL;
    }
    for (i = h & t->mask;; i = (i + 1) & t->mask) {
        struct pol_slot *s = &t->slots[i];

        if (s->key == NULL) {
            return s;
        }
        if (s->hash == h && pol_key_eq(s, p, len, fold)) {
            return s;
        }
    }
}

static int
pol_list_grow(struct pol_table *t)
{
    size_t ncap = t->slots == NULL ? 64 : (t->mask + 1) * 2;
    struct pol_slot *old = t->slots;
    size_t oldcap = old == NULL ? 0 : t->mask + 1;
    size_t i;

    if (ncap > SIZE_MAX / sizeof(*old)) {
        return -1;
    }
    t->slots = calloc(ncap, sizeof(*old));
    if (t->slots == NULL) {
        t->slots = old;
        return -1;
    }
    t->mask = ncap - 1;
    for (i = 0; i < oldcap; i++) {
        if (old[i].key != NULL) {
            size_t j = old[i].hash & t->mask;

            while (t->slots[j].key != NULL) {
                j = (j + 1) & t->mask;
            }
            t->slots[j] = old[i];
        }
    }
    free(old);
    return 0;
}

/* Letters, digits, '-', '_' and dots between non-empty labels. */
static bool
pol_domain_valid(const char *p, size_t len)
{
    size_t label = 0;
    size_t i;

    if (len == 0 || len > 255) {
        return false;
    }
    for (i = 0; i < len; i++) {
        uint8_t c = (uint8_t)p[i];

        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if (pol_is_alnum(c) || c == '-' || c == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return label > 0;
}

int
pol_list_insert(struct pol_cc *cc, struct pol_table *t, const char *key,
                size_t klen, uint32_t entry, unsigned line, unsigned column)
{
    bool fold = t->kind != POL_TK_EQ;
    bool self = true;
    bool sub = t->kind == POL_TK_DOMAIN;
    const struct pol_action *act = t->entries[entry].action;
    struct pol_slot *s;
    uint64_t h;
    char *copy;
    size_t i;

    if (t->kind == POL_TK_DOMAIN) {
        if (klen > 0 && key[0] == '.') {
            self = false;
            key++;
            klen--;
        }
        if (klen > 1 && key[klen - 1] == '.') {
            klen--;
        }
        if (!pol_domain_valid(key, klen)) {
            pol_cc_error(cc, t->source, line, column,
                         "not a domain name: use letters, digits, '-' and "
                         "dots, like example.com or .example.com");
            return -1;
        }
    } else if (klen == 0) {
        pol_cc_error(cc, t->source, line, column, "empty key");
        return -1;
    }
    if ((t->used + 1) * 2 > (t->slots == NULL ? 0 : t->mask + 1) &&
        pol_list_grow(t) != 0) {
        pol_cc_error(cc, t->source, line, column, "out of memory");
        return -1;
    }
    h = pol_list_hash((const uint8_t *)key, klen, fold);
    s = pol_list_find(t, h, (const uint8_t *)key, klen, fold);
    if (s->key == NULL) {
        copy = pol_arena_strndup(&t->arena, key, klen);
        if (copy == NULL) {
            pol_cc_error(cc, t->source, line, column, "out of memory");
            return -1;
        }
        for (i = 0; fold && i < klen; i++) {
            copy[i] = (char)pol_lower((uint8_t)copy[i]);
        }
        s->key = copy;
        s->klen = (uint32_t)klen;
        s->hash = h;
        t->used++;
    }
    if ((self && s->self != 0 &&
         !pol_action_equal(t->entries[s->self - 1].action, act)) ||
        (sub && s->sub != 0 &&
         !pol_action_equal(t->entries[s->sub - 1].action, act))) {
        pol_cc_error(
            cc, t->source, line, column,
            "same key as line %u, with a different action",
            t->entries[(self && s->self != 0 ? s->self : s->sub) - 1].line);
        return -1;
    }
    if (self && s->self == 0) {
        s->self = entry + 1;
    }
    if (sub && s->sub == 0) {
        s->sub = entry + 1;
    }
    return 0;
}

/* The entry (index + 1) for p[0..len), or 0. Domain tables: the most
 * specific of the name itself and its parents. */
uint32_t
pol_list_lookup(const struct pol_table *t, const uint8_t *p, size_t len)
{
    bool fold = t->kind != POL_TK_EQ;
    uint64_t h = POL_FNV_BASIS;
    uint32_t best = 0;
    size_t i;

    if (t->used == 0) {
        return 0;
    }
    if (t->kind != POL_TK_DOMAIN) {
        const struct pol_slot *s =
            pol_list_find(t, pol_list_hash(p, len, fold), p, len, fold);

        return s->key != NULL ? s->self : 0;
    }
    if (len > 1 && p[len - 1] == '.') {
        len--;
    }
    for (i = len; i > 0; i--) {
        h = pol_hash_step(h, pol_lower(p[i - 1]));
        if (i - 1 == 0 || p[i - 2] == '.') {
            const struct pol_slot *s =
                pol_list_find(t, h, p + i - 1, len - (i - 1), true);

            if (s->key == NULL) {
                continue;
            }
            if (i - 1 == 0 && s->self != 0) {
                best = s->self;
            } else if (i - 1 > 0 && s->sub != 0) {
                best = s->sub;
            }
        }
    }
    return best;
}
