/*
 * The facts a policy stage sees: plain data the gateway fills before each
 * pol_eval() call. Nothing here is parsed by policy beyond what a match
 * needs; every string is network data given as (p, len).
 *
 * Presence: a string fact is absent when p == NULL. An empty but present
 * value (the null reverse-path "<>", for instance) has p != NULL and
 * len == 0. A condition on an absent fact does not match (so its negation
 * does), and ${fact} expands to nothing. Booleans are always present;
 * numbers are present at the stages listed in docs/policy.md, except
 * `size` (present only when has_size) and `client_port` (absent when 0).
 *
 * Facts accumulate through a session: at RCPT the gateway still passes the
 * HELO name, the sender and so on. Which facts a rule may use at which stage
 * is checked by pol_compile (a rule at `mail` using `rcpt` is an error).
 */
#ifndef POL_FACTS_H
#define POL_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The stages, in session order; one X-macro list gives the enum and the
 * names (pol_stage_name). */
#define POL_STAGES(X)                                                          \
    X(CONNECT, "connect")                                                      \
    X(HELO, "helo")                                                            \
    X(STARTTLS, "starttls")                                                    \
    X(AUTH, "auth")                                                            \
    X(MAIL, "mail")                                                            \
    X(RCPT, "rcpt")                                                            \
    X(HEADER, "header")                                                        \
    X(EOM, "eom")

enum pol_stage {
#define POL_STAGE_ENUM(id, name) POL_STAGE_##id,
    POL_STAGES(POL_STAGE_ENUM)
#undef POL_STAGE_ENUM
        POL_STAGE_COUNT
};

/* Network bytes: absent when p == NULL. */
struct pol_str {
    const uint8_t *p;
    size_t len;
};

/* An IP address. family 0: absent. POL_AF_INET: bytes[0..3] hold the
 * address in network order. POL_AF_INET6: all 16 bytes. An IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is treated as the IPv4 address everywhere
 * (CIDR, text, counters), however it was filled in. */
#define POL_AF_INET 4
#define POL_AF_INET6 6

struct pol_addr {
    uint8_t family;
    uint8_t bytes[16];
};

struct pol_facts {
    /* connect (and every later stage) */
    struct pol_addr client_address; /* the PROXY-protocol source if any */
    uint16_t client_port;           /* 0: unknown */
    struct pol_str listener;        /* the listener's name */
    struct pol_str reverse_name;    /* absent when not looked up */

    /* TLS: known from connect on (implicit TLS), set after STARTTLS */
    bool tls;
    struct pol_str tls_version; /* "TLSv1.3" */
    struct pol_str tls_cipher;
    struct pol_str sni;
    struct pol_str tls_client_subject;     /* client certificate, if any */
    struct pol_str tls_client_fingerprint; /* hex SHA-256, if any */

    /* helo */
    struct pol_str helo; /* the EHLO/HELO argument as sent */

    /* auth */
    bool authenticated;
    struct pol_str auth_user;
    struct pol_str auth_mech; /* "PLAIN" */
    /* recent failed AUTH attempts from the client address (the gateway's
     * table: auth.block_time), this session's included */
    uint32_t auth_failures;

    /* mail */
    uint32_t messages;     /* transactions in this session, this one included */
    struct pol_str sender; /* reverse-path without <>; "" for <> */
    bool has_size;
    uint64_t size;       /* SIZE=, when has_size */
    struct pol_str body; /* BODY= value, "8BITMIME" */
    bool smtputf8;
    bool requiretls;
    struct pol_str envid; /* ENVID= as sent (xtext not decoded) */

    /* rcpt */
    struct pol_str rcpt; /* forward-path without <> */
    uint32_t rcpt_count; /* recipients so far, this one included */

    /* header: one field, unfolded (CRLF WSP removed), name without ':' */
    struct pol_str header_name;
    struct pol_str header_value;

    /* eom */
    uint64_t message_size; /* octets received */
    uint32_t header_count;
    bool saw_8bit;
};

#endif
