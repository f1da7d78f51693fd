/*
 * IP addresses and CIDR sets. A set is two binary tries, one for IPv4 (32
 * bits) and one for IPv6 (128 bits), stored in flat arrays of nodes: a
 * lookup walks at most 32 or 128 nodes whatever the number of entries,
 * and the most specific (longest) prefix that holds the address wins.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are IPv4 everywhere: a
 * client that arrives as ::ffff:192.0.2.1 matches 192.0.2.0/24, and a
 * pattern written ::ffff:192.0.2.0/120 is stored as 192.0.2.0/24. IPv6
 * patterns (::/0 included) never match IPv4 clients.
 *
 * Files written for Postfix are read first-match-in-file-order there. The
 * two readings differ only when a more specific entry with a different
 * action comes after an entry that covers it: Postfix never uses such a
 * line. Postern refuses the file in that case (pol_cidr_insert), so a file
 * it accepts means the same under both readings.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/pol_internal.h"

/* 16M nodes (192 MiB) per trie: beyond that a table is refused. */
#define POL_TRIE_MAX_NODES (1u << 24)

static const uint8_t pol_v4mapped[12] = {0, 0, 0, 0, 0,    0,
                                         0, 0, 0, 0, 0xff, 0xff};

static int pol_addr_text_parse(const char *p, size_t len, struct pol_addr *a);
static long pol_trie_node(struct pol_trie *t);
static unsigned pol_bit(const uint8_t *b, unsigned i);

/* ---- addresses ---------------------------------------------------------- */

void
pol_addr_normalise(struct pol_addr *a)
{
    if (a->family == POL_AF_INET6 &&
        memcmp(a->bytes, pol_v4mapped, sizeof(pol_v4mapped)) == 0) {
        memmove(a->bytes, a->bytes + 12, 4);
        memset(a->bytes + 4, 0, 12);
        a->family = POL_AF_INET;
    }
}

int
pol_addr_from_sockaddr(struct pol_addr *a, const struct sockaddr *sa)
{
    memset(a, 0, sizeof(*a));
    if (sa == NULL) {
        return POL_E_INVAL;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        a->family = POL_AF_INET;
        memcpy(a->bytes, &in->sin_addr, 4);
        return POL_OK;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        a->family = POL_AF_INET6;
        memcpy(a->bytes, &in6->sin6_addr, 16);
        pol_addr_normalise(a);
        return POL_OK;
    }
    return POL_E_INVAL;
}

/* inet_pton on a bounded NUL-terminated copy; IPv6 may be in brackets. */
static int
pol_addr_text_parse(const char *p, size_t len, struct pol_addr *a)
{
    char tmp[64];

    memset(a, 0, sizeof(*a));
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;
        if (len == 0 || len >= sizeof(tmp) || memchr(p, ':', len) == NULL) {
            return -1;
        }
    }
    if (len == 0 || len >= sizeof(tmp) || memchr(p, '\0', len) != NULL) {
        return -1;
    }
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    if (memchr(p, ':', len) == NULL) {
        if (inet_pton(AF_INET, tmp, a->bytes) != 1) {
            return -1;
        }
        a->family = POL_AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, a->bytes) != 1) {
        return -1;
    }
    a->family = POL_AF_INET6;
    return 0;
}

int
pol_addr_parse(struct pol_addr *a, const char *p, size_t len)
{
    if (p == NULL || pol_addr_text_parse(p, len, a) != 0) {
        memset(a, 0, sizeof(*a));
        return POL_E_INVAL;
    }
    pol_addr_normalise(a);
    return POL_OK;
}

size_t
pol_addr_format(const struct pol_addr *a, char *buf, size_t cap)
{
    struct pol_addr n = *a;
    char tmp[INET6_ADDRSTRLEN];
    size_t len;

    pol_addr_normalise(&n);
    if (n.family == POL_AF_INET) {
        if (inet_ntop(AF_INET, n.bytes, tmp, sizeof(tmp)) == NULL) {
            return 0;
        }
    } else if (n.family == POL_AF_INET6) {
        if (inet_ntop(AF_INET6, n.bytes, tmp, sizeof(tmp)) == NULL) {
            return 0;
        }
    } else {
        return 0;
    }
    len = strlen(tmp);
    if (len >= cap) {
        return 0;
    }
    memcpy(buf, tmp, len + 1);
    return len;
}

/* "192.0.2.0/24", "2001:db8::/32", "[2001:db8::]/32", "192.0.2.1" (/32).
 * Bits beyond the prefix must be zero. */
int
pol_cidr_parse(const char *p, size_t len, struct pol_addr *a, unsigned *bits,
               const char **why)
{
    const char *slash = memchr(p, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - p) : len;
    unsigned max;
    unsigned i;
    uint64_t v;

    if (pol_addr_text_parse(p, alen, a) != 0) {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    max = a->family == POL_AF_INET ? 32 : 128;
    *bits = max;
    if (slash != NULL) {
        const char *w;

        if (pol_parse_u64(slash + 1, len - alen - 1, &v, &w) != 0 || v > max) {
            *why = a->family == POL_AF_INET
                       ? "the prefix length must be a number from 0 to 32"
                       : "the prefix length must be a number from 0 to 128";
            return -1;
        }
        *bits = (unsigned)v;
    }
    for (i = *bits; i < max; i++) {
        if (pol_bit(a->bytes, i) != 0) {
            *why = "the address has bits set after the prefix length "
                   "(write the network address)";
            return -1;
        }
    }
    if (a->family == POL_AF_INET6 && *bits >= 96 &&
        memcmp(a->bytes, pol_v4mapped, sizeof(pol_v4mapped)) == 0) {
        pol_addr_normalise(a);
        *bits -= 96;
    }
    return 0;
}

bool
pol_addr_in_net(const struct pol_addr *a, const struct pol_addr *net,
                unsigned bits)
{
    unsigned i;

    if (a->family == 0 || a->family != net->family) {
        return false;
    }
    for (i = 0; i < bits; i++) {
        if (pol_bit(a->bytes, i) != pol_bit(net->bytes, i)) {
            return false;
        }
    }
    return true;
}

/* ---- tries -------------------------------------------------------------- */

static unsigned
pol_bit(const uint8_t *b, unsigned i)
{
    return (b[i / 8] >> (7 - i % 8)) & 1u;
}

static long
pol_trie_node(struct pol_trie *t)
{
    if (t->len == t->cap) {
        size_t ncap = t->cap == 0 ? 64 : t->cap * 2;
        struct pol_cidr_node *n;

        if (ncap > POL_TRIE_MAX_NODES) {
            ncap = POL_TRIE_MAX_NODES;
        }
        if (t->len >= ncap) {
            return -1;
        }
        n = realloc(t->n, ncap * sizeof(*n));
        if (n == NULL) {
            return -1;
        }
        t->n = n;
        t->cap = ncap;
    }
    memset(&t->n[t->len], 0, sizeof(t->n[0]));
    return (long)t->len++;
}

/*
 * Adds entry (index) for a/bits. Refuses a more specific entry whose action
 * differs from that of an earlier entry covering it (see the top of the
 * file), and an equal prefix with a different action; an equal prefix with
 * the same action is a harmless duplicate and the first one is kept.
 */
int
pol_cidr_insert(struct pol_cc *cc, struct pol_table *t,
                const struct pol_addr *a, unsigned bits, uint32_t entry,
                unsigned line, unsigned column)
{
    struct pol_trie *tr = a->family == POL_AF_INET ? &t->v4 : &t->v6;
    const struct pol_action *act = t->entries[entry].action;
    uint32_t node = 0;
    unsigned i;

    if (tr->len == 0 && pol_trie_node(tr) < 0) {
        pol_cc_error(cc, t->source, line, column,
                     "out of memory (or more than %u trie nodes)",
                     POL_TRIE_MAX_NODES);
        return -1;
    }
    for (i = 0;; i++) {
        uint32_t e = tr->n[node].entry;

        if (e != 0 && !pol_action_equal(t->entries[e - 1].action, act)) {
            const struct pol_entry *old = &t->entries[e - 1];

            if (i == bits) {
                pol_cc_error(cc, t->source, line, column,
                             "same network as line %u, with a different "
                             "action",
                             old->line);
            } else {
                pol_cc_error(cc, t->source, line, column,
                             "inside the network of line %u, which comes "
                             "first with a different action, so a "
                             "first-match reader (Postfix) would never use "
                             "this line: move it above line %u",
                             old->line, old->line);
            }
            return -1;
        }
        if (i == bits) {
            break;
        }
        {
            unsigned b = pol_bit(a->bytes, i);
            uint32_t next = tr->n[node].child[b];

            if (next == 0) {
                long n = pol_trie_node(tr);

                if (n < 0) {
                    pol_cc_error(cc, t->source, line, column,
                                 "out of memory (or more than %u trie "
                                 "nodes)",
                                 POL_TRIE_MAX_NODES);
                    return -1;
                }
                next = (uint32_t)n;
                tr->n[node].child[b] = next;
            }
            node = next;
        }
    }
    if (tr->n[node].entry == 0) {
        tr->n[node].entry = entry + 1;
    }
    return 0;
}

/* The entry (index + 1) of the longest prefix holding a, or 0. */
uint32_t
pol_cidr_lookup(const struct pol_table *t, const struct pol_addr *a)
{
    const struct pol_trie *tr;
    unsigned max;
    uint32_t node = 0;
    uint32_t best;
    unsigned i;

    if (a->family == POL_AF_INET) {
        tr = &t->v4;
        max = 32;
    } else if (a->family == POL_AF_INET6) {
        tr = &t->v6;
        max = 128;
    } else {
        return 0;
    }
    if (tr->len == 0) {
        return 0;
    }
    best = tr->n[0].entry;
    for (i = 0; i < max; i++) {
        node = tr->n[node].child[pol_bit(a->bytes, i)];
        if (node == 0) {
            break;
        }
        if (tr->n[node].entry != 0) {
            best = tr->n[node].entry;
        }
    }
    return best;
}
