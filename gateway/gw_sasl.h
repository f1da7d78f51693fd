/*
 * The server side of a SASL exchange (RFC 4422) inside SMTP AUTH
 * (RFC 4954): PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login),
 * OAUTHBEARER (RFC 7628), XOAUTH2 (Google's) and SCRAM-SHA-256 (RFC 7677,
 * the messages in gw_scram.h). Pure: base64 lines in, a
 * challenge or the decoded credentials out. The caller checks them
 * (gw_users.h, gw_tokens.h) and answers 235 or 535.
 *
 * Secrets: the password lives only in struct gw_sasl; gw_sasl_wipe()
 * zeroes it, and every path that ends an exchange must call it.
 */
#ifndef GW_SASL_H
#define GW_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gw_scram.h"

#define GW_SASL_USER_MAX 255   /* octets of an authentication identity */
#define GW_SASL_PASS_MAX 255   /* octets of a password */
#define GW_SASL_TOKEN_MAX 4096 /* octets of a bearer token */
/* RFC 4954 4: an AUTH line (command or response) may be this long. */
#define GW_SASL_LINE_MAX 12288
/* A challenge (base64, NUL included): SCRAM's server-first is the
 * longest. */
#define GW_SASL_CHAL_MAX 768

enum gw_sasl_mech {
    GW_SASL_NONE = 0,
    GW_SASL_PLAIN,
    GW_SASL_LOGIN,
    GW_SASL_OAUTHBEARER,
    GW_SASL_XOAUTH2,
    GW_SASL_SCRAM_SHA256,
    GW_SASL_MECH_COUNT,
};

#define GW_SASL_MECH_BIT(m) (1u << (m))
#define GW_SASL_MECHS_DEFAULT                                                  \
    (GW_SASL_MECH_BIT(GW_SASL_PLAIN) | GW_SASL_MECH_BIT(GW_SASL_LOGIN))

enum gw_sasl_status {
    GW_SASL_CHALLENGE = 0, /* send "334 <challenge>", read one more line */
    GW_SASL_DONE,          /* user and pass are set: check them */
    GW_SASL_E_BASE64,      /* 501 5.5.2: not valid base64 */
    GW_SASL_E_SYNTAX,      /* 501 5.5.2: decoded, but malformed */
    GW_SASL_E_CANCEL,      /* 501 5.0.0: the client sent "*" */
    GW_SASL_E_AUTHZID,     /* 535 5.7.8: asked to act as someone else */
    GW_SASL_ERROR_ACK,     /* OAUTHBEARER/XOAUTH2: the client's answer to
                              our error challenge: now 535 */
    GW_SASL_NEED_KEYS,     /* SCRAM: user is known; give its keys with
                              gw_sasl_scram_keys() */
    GW_SASL_E_PROOF,       /* SCRAM: wrong password: 535 */
    GW_SASL_VERIFIED,      /* SCRAM: proven and acknowledged: 235 */
};

/* Is m a bearer-token mechanism (checked with gw_tokens.h)? */
#define GW_SASL_IS_TOKEN(m) ((m) == GW_SASL_OAUTHBEARER || (m) == GW_SASL_XOAUTH2)

struct gw_sasl {
    enum gw_sasl_mech mech;
    unsigned step;
    char user[GW_SASL_USER_MAX + 1];
    char pass[GW_SASL_PASS_MAX + 1];
    size_t user_len;   /* OAUTHBEARER: 0 when no authzid was given */
    size_t pass_len;
    char token[GW_SASL_TOKEN_MAX + 1]; /* OAUTHBEARER, XOAUTH2 */
    size_t token_len;
    bool error_sent;   /* the token was refused: next line is the ack */
    struct gw_scram scram;     /* SCRAM-SHA-256's messages */
    struct gw_scram_keys keys; /* SCRAM: the user's (or fake) keys */
};

/* The mechanism named `name` (case-insensitive), or GW_SASL_NONE. */
enum gw_sasl_mech gw_sasl_mech_parse(const uint8_t *name, size_t len);
/* "PLAIN", "LOGIN" */
const char *gw_sasl_mech_name(enum gw_sasl_mech m);

/*
 * Starts an exchange for `mech`. `initial` is the AUTH command's initial
 * response (base64, or "=" for an empty one), NULL when there was none.
 * The challenge for GW_SASL_CHALLENGE is written to chal (base64, possibly
 * empty), NUL-terminated; cap >= 32.
 */
enum gw_sasl_status gw_sasl_start(struct gw_sasl *x, enum gw_sasl_mech mech,
                                  const uint8_t *initial, size_t initial_len,
                                  char *chal, size_t cap);

/* The client's answer to the last challenge: one line without CRLF. */
enum gw_sasl_status gw_sasl_step(struct gw_sasl *x, const uint8_t *line,
                                 size_t len, char *chal, size_t cap);

/* Zeroes the credentials (and the rest of the state). */
void gw_sasl_wipe(struct gw_sasl *x);
/* Zeroes the password and the token only (the user name is kept for the
 * log line). */
void gw_sasl_wipe_pass(struct gw_sasl *x);

/*
 * SCRAM, after GW_SASL_NEED_KEYS: the user's keys (gw_users_scram_keys)
 * and 1..48 random octets for the server nonce; the server-first-message
 * goes to chal (cap >= GW_SASL_CHAL_MAX) and the status is
 * GW_SASL_CHALLENGE.
 */
enum gw_sasl_status gw_sasl_scram_keys(struct gw_sasl *x,
                                       const struct gw_scram_keys *k,
                                       const uint8_t *snonce, size_t n,
                                       char *chal, size_t cap);

/* After a refused token: the 334 error challenge RFC 7628 3.2.2 wants
 * (base64 of a JSON status) into chal; the client's next line is then
 * GW_SASL_ERROR_ACK. */
void gw_sasl_token_error(struct gw_sasl *x, char *chal, size_t cap);

/*
 * Strict base64 (RFC 4648 4, padding required, no whitespace): decodes
 * src into dst. Returns false when src is not canonical base64 or the
 * result does not fit cap.
 */
bool gw_base64_decode(uint8_t *dst, size_t cap, size_t *out_len,
                      const uint8_t *src, size_t len);
/* Encodes src into dst (NUL-terminated). false when it does not fit. */
bool gw_base64_encode(char *dst, size_t cap, const uint8_t *src, size_t len);

#endif
