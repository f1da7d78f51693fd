/*
 * The EHLO model: a keyword list as flags with parameters. The upstream's
 * list is parsed into it; what the client is offered is computed from the
 * config and the upstream's last known list, never copied through (unknown
 * keywords are not offered: we could not honour them end to end).
 */
#ifndef GW_CAPS_H
#define GW_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_CAP_PIPELINING 0x0001u
#define GW_CAP_SIZE 0x0002u
#define GW_CAP_8BITMIME 0x0004u
#define GW_CAP_ENHANCEDSTATUSCODES 0x0008u
#define GW_CAP_CHUNKING 0x0010u
#define GW_CAP_BINARYMIME 0x0020u
#define GW_CAP_SMTPUTF8 0x0040u
#define GW_CAP_DSN 0x0080u
#define GW_CAP_STARTTLS 0x0100u
#define GW_CAP_AUTH 0x0200u
#define GW_CAP_XCLIENT 0x0400u
#define GW_CAP_XFORWARD 0x0800u
#define GW_CAP_REQUIRETLS 0x1000u

struct gw_caps {
    uint32_t flags;
    uint64_t size_max; /* SIZE parameter; 0 = none given (no limit) */
    bool known;        /* filled from a real EHLO reply */
};

static inline bool
gw_caps_has(const struct gw_caps *c, uint32_t flag)
{
    return (c->flags & flag) != 0;
}

/* Parses one EHLO keyword line (the text after "250-" / "250 ", not the
 * first line, which is the greeting). Keywords are case-insensitive;
 * unknown ones are ignored. */
void gw_caps_parse_line(struct gw_caps *c, const uint8_t *p, size_t len);

/*
 * What a client is offered: PIPELINING, ENHANCEDSTATUSCODES and 8BITMIME
 * (Postern implements them on the client leg whatever the upstream does),
 * SIZE with the smaller of `message_size` and the upstream's SIZE when
 * known.
 */
void gw_caps_offer(struct gw_caps *offered, const struct gw_caps *upstream,
                   uint64_t message_size);

/* The effective maximum message size for a transaction (same rule). */
uint64_t gw_caps_size_limit(const struct gw_caps *upstream,
                            uint64_t message_size);

/*
 * Writes the EHLO reply: "250-<hostname>" then one line per offered
 * keyword, upper case. Returns the length, or 0 when it does not fit.
 */
size_t gw_caps_format_ehlo(const struct gw_caps *offered,
                           const char *hostname, uint8_t *dst, size_t cap);

#endif
