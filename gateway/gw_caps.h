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
#define GW_CAP_LIMITS 0x2000u

/* What ehlo.advertise may hold, and its default (all of it). */
#define GW_CAPS_ADVERTISABLE                                                   \
    (GW_CAP_PIPELINING | GW_CAP_SIZE | GW_CAP_8BITMIME |                       \
     GW_CAP_ENHANCEDSTATUSCODES | GW_CAP_CHUNKING | GW_CAP_LIMITS)
/* What ehlo.pass may hold, and its default (all of it). */
#define GW_CAPS_PASSABLE (GW_CAP_DSN | GW_CAP_SMTPUTF8 | GW_CAP_BINARYMIME)

/* The keyword for one GW_CAP_* flag ("CHUNKING"), or NULL. */
const char *gw_caps_keyword(uint32_t flag);
/* The GW_CAP_* flag for a keyword (case-insensitive), or 0. */
uint32_t gw_caps_flag(const char *keyword);

struct gw_caps {
    uint32_t flags;
    uint64_t size_max; /* SIZE parameter; 0 = none given (no limit) */
    size_t rcptmax;    /* LIMITS RCPTMAX= (offered list only) */
    size_t mailmax;    /* LIMITS MAILMAX= (offered list only) */
    unsigned auth_mechs; /* AUTH: GW_SASL_MECH_BIT set (offered to the
                            client; for an upstream, what it lists) */
    unsigned xclient_attrs;  /* XCLIENT's attribute names (GW_XATTR_*) */
    unsigned xforward_attrs; /* XFORWARD's */
    bool known;        /* filled from a real EHLO reply */
};

struct gw_ehlo_cfg;

/* Everything the offered list depends on: it is a pure function of this. */
struct gw_offer_input {
    const struct gw_ehlo_cfg *ehlo; /* the config's ehlo section */
    const struct gw_caps *upstream; /* last known upstream list */
    uint64_t message_size;          /* limits.message_size */
    size_t rcptmax;                 /* limits.recipients */
    size_t mailmax;                 /* limits.messages_per_session */
    bool starttls;                  /* the listener offers STARTTLS now */
    unsigned auth_mechs;            /* AUTH mechanisms to offer now (0:
                                       AUTH is not offered) */
    bool xclient;                   /* XCLIENT: the client is trusted */
    bool requiretls;                /* REQUIRETLS can be honoured now:
                                       client leg and upstream block TLS
                                       (verify) */
};

/* What must be bridged for a transaction, from (offered, upstream). */
struct gw_bridge {
    bool bdat_to_data;       /* client BDAT, upstream without CHUNKING */
    bool serial;             /* upstream without PIPELINING */
    bool enhanced_synth;     /* upstream without ENHANCEDSTATUSCODES */
    bool eightbit_downgrade; /* upstream without 8BITMIME */
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
 * What a client is offered, a pure function of `in`:
 *  - ehlo.advertise (keywords Postern implements or bridges itself);
 *  - ehlo.pass keywords that the upstream offers too (BINARYMIME also
 *    needs CHUNKING on both sides: binary content cannot become DATA);
 *  - minus ehlo.drop patterns;
 *  - SIZE with the smaller of message_size and the upstream's SIZE;
 *  - LIMITS with RCPTMAX and MAILMAX (RFC 9422);
 *  - STARTTLS when the listener offers it and TLS is not up yet;
 *  - AUTH with auth_mechs when there are any (and AUTH is not dropped);
 *  - REQUIRETLS (RFC 8689) when `requiretls` and the upstream offers it
 *    too (the requirement must hold on the next hop as well).
 * An upstream list not known yet counts as empty.
 */
void gw_caps_offer(struct gw_caps *offered, const struct gw_offer_input *in);

/* What a transaction must bridge, given what was offered. */
void gw_caps_bridge(struct gw_bridge *b, const struct gw_caps *offered,
                    const struct gw_caps *upstream);

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
