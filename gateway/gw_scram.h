/*
 * The server side of SASL SCRAM-SHA-256 (RFC 5802, RFC 7677) inside SMTP
 * AUTH. Pure: no I/O, no allocation of its own, no clock and no
 * randomness (the caller passes the server nonce bytes). Messages in and
 * out are the DECODED SASL messages; the caller does the base64 of the
 * SMTP lines (gw_base64_decode/encode in gw_sasl.h).
 *
 * An exchange, for the caller:
 *   1. gw_scram_client_first(x, msg)        -> x->user for the lookup
 *   2. keys = the user's, or gw_scram_keys_fake() for an unknown user
 *   3. gw_scram_server_first(x, keys, 18 random bytes) -> "334 " + base64
 *   4. gw_scram_client_final(x, keys, msg)  -> GW_SCRAM_OK: the
 *      server-final message to send (as "334 " + base64, the client
 *      answers with an empty line; then 235)
 *   5. gw_scram_wipe(x) after any outcome.
 * Any result other than GW_SCRAM_OK ends the exchange: later calls on the
 * same struct fail with GW_SCRAM_E_INTERNAL until client_first restarts it.
 *
 * Not offered: channel binding (the -PLUS variant; "y" is accepted since
 * we do not advertise it, RFC 5802 6), authorization as another identity,
 * mandatory extensions ("m="). SASLprep (RFC 4013) is NOT applied to user
 * names or passwords: the octets are used as given. ASCII passwords are
 * unaffected; a non-ASCII password matches only when the client sends the
 * same octets that `postern passwd` was given (SASLprep maps non-ASCII
 * spaces, drops soft hyphens and the like and applies NFKC, so an NFC
 * password without such characters comes out of it unchanged).
 */
#ifndef GW_SCRAM_H
#define GW_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_SCRAM_KEY_LEN 32 /* SHA-256 */
#define GW_SCRAM_SALT_MAX 64
/* The salt length of fake keys; `postern passwd` should use it too, or
 * the salt length tells known users from unknown ones. */
#define GW_SCRAM_SALT_LEN 16
#define GW_SCRAM_MIN_ITER 4096 /* RFC 7677 5 */
/* The iteration count costs the client at every login and `postern
 * passwd` once, never the server's side of the exchange. */
#define GW_SCRAM_MAX_ITER 10000000

#define GW_SCRAM_USER_MAX 255   /* octets of a user name after decoding */
#define GW_SCRAM_CNONCE_MAX 128 /* printable characters of the c-nonce */
#define GW_SCRAM_SNONCE_MAX 48  /* raw server nonce octets (18 is plenty) */
/* printable characters of the s-nonce: base64 of GW_SCRAM_SNONCE_MAX */
#define GW_SCRAM_SNONCE_TEXT_MAX 64
#define GW_SCRAM_NONCE_MAX (GW_SCRAM_CNONCE_MAX + GW_SCRAM_SNONCE_TEXT_MAX)
/* "y,a=" + a saslname of 255 octets, each escaped as "=2C" at worst, "," */
#define GW_SCRAM_GS2_MAX (4 + 3 * GW_SCRAM_USER_MAX + 1)
/* client-first-message-bare: "n=" escaped user ",r=" c-nonce, and what is
 * left for extensions */
#define GW_SCRAM_BARE_MAX 1024
/* "r=" nonce ",s=" base64 salt ",i=" 8 digits */
#define GW_SCRAM_SERVER_FIRST_MAX                                              \
    (2 + GW_SCRAM_NONCE_MAX + 3 + (GW_SCRAM_SALT_MAX + 2) / 3 * 4 + 3 + 8)
/* "v=" base64 of 32 octets */
#define GW_SCRAM_SERVER_FINAL_LEN (2 + 44)

/* "SCRAM-SHA-256$" 8 digits ":" salt "$" key ":" key */
#define GW_SCRAM_KEYS_STR_MAX                                                  \
    (14 + 8 + 1 + (GW_SCRAM_SALT_MAX + 2) / 3 * 4 + 1 + 44 + 1 + 44)

struct gw_scram_keys {
    uint8_t salt[GW_SCRAM_SALT_MAX];
    size_t salt_len; /* 1..GW_SCRAM_SALT_MAX */
    uint32_t iterations;
    uint8_t stored_key[GW_SCRAM_KEY_LEN]; /* SHA256(ClientKey) */
    uint8_t server_key[GW_SCRAM_KEY_LEN];
};

/*
 * The users-file form, PostgreSQL's (pg_authid.rolpassword):
 *   "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"
 * the last three in base64. Dovecot stores the same four values as
 * "iter,salt,stored,server" and is not read here. Strict: canonical base64, the
 * keys exactly 32 octets, the salt 1..GW_SCRAM_SALT_MAX octets, the
 * iterations 1..8 decimal digits within GW_SCRAM_MIN_ITER..GW_SCRAM_MAX_ITER.
 * (s, len) need not be NUL-terminated. On false *k is zeroed.
 */
bool gw_scram_keys_parse(const char *s, size_t len, struct gw_scram_keys *k);
/* Writes that form NUL-terminated; returns its length, or 0 when it does
 * not fit cap (GW_SCRAM_KEYS_STR_MAX + 1 always does) or *k is out of
 * range. */
size_t gw_scram_keys_format(char *dst, size_t cap,
                            const struct gw_scram_keys *k);

/*
 * For `postern passwd`: SaltedPassword = PBKDF2-HMAC-SHA-256(pass, salt, i);
 * ClientKey = HMAC(SaltedPassword, "Client Key"); StoredKey =
 * SHA256(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key").
 * The password is used as given (no SASLprep, see above). false when the
 * salt or the iterations are out of range or mbedTLS fails (*k zeroed).
 * Slow on purpose: `iterations` HMACs.
 */
bool gw_scram_keys_derive(const char *pass, size_t pass_len,
                          const uint8_t *salt, size_t salt_len,
                          uint32_t iterations, struct gw_scram_keys *k);

/*
 * Keys for an unknown user, so that the exchange looks the same as for a
 * known one and fails only at the proof (no user enumeration): the salt
 * (GW_SCRAM_SALT_LEN octets) is an HMAC of the user name under `secret`,
 * stable across connections and restarts as long as the secret is; the
 * iterations are the caller's (the default for new users; clamped into
 * range). StoredKey is an HMAC output too, not the hash of any known
 * ClientKey, so no proof can pass without a SHA-256 preimage; callers
 * must still refuse an unknown user whatever the result.
 */
void gw_scram_keys_fake(const uint8_t secret[32], const char *user,
                        size_t user_len, uint32_t iterations,
                        struct gw_scram_keys *k);

enum gw_scram_rc {
    GW_SCRAM_OK = 0,
    /* malformed; also c= that is not the gs2-header of the first message
     * (RFC 5802's channel-bindings-dont-match) */
    GW_SCRAM_E_SYNTAX = -1,
    /* channel binding requested ("p="), or a mandatory extension ("m=") */
    GW_SCRAM_E_UNSUPPORTED = -2,
    GW_SCRAM_E_AUTHZID = -3, /* a= other than the user */
    GW_SCRAM_E_PROOF = -4,   /* wrong password (or an unknown user) */
    GW_SCRAM_E_NONCE = -5,   /* r= is not the nonce we sent */
    /* the caller's fault, not the client's: a call out of order, keys out
     * of range, an output buffer too small; or mbedTLS failing */
    GW_SCRAM_E_INTERNAL = -6,
};

struct gw_scram {
    unsigned step; /* private: where the exchange is */
    /* the authentication identity, decoded ("=2C" -> ','), valid UTF-8
     * without NUL, NUL-terminated: for the caller's lookup and logs. Set
     * as soon as n= decoded, so also after a later error (E_AUTHZID, a
     * bad nonce...); user_len is 0 when there is none. */
    char user[GW_SCRAM_USER_MAX + 1];
    size_t user_len;
    /* the rest is private: what the AuthMessage and the checks need */
    char gs2[GW_SCRAM_GS2_MAX + 1]; /* gs2-header as sent, e.g. "n,," */
    size_t gs2_len;
    char bare[GW_SCRAM_BARE_MAX + 1]; /* client-first-message-bare */
    size_t bare_len;
    char server_first[GW_SCRAM_SERVER_FIRST_MAX + 1];
    size_t server_first_len;
    char nonce[GW_SCRAM_NONCE_MAX + 1]; /* c-nonce, then s-nonce text */
    size_t cnonce_len;
    size_t nonce_len;
};

/*
 * client-first-message: gs2-header then client-first-message-bare:
 *   ("n" / "y") "," ["a=" saslname] "," "n=" saslname "," "r=" c-nonce
 *   ["," extensions]
 * "p=..." (channel binding) and "m=..." (leading, or as an extension)
 * are GW_SCRAM_E_UNSUPPORTED; other extensions are ignored. An authzid is
 * allowed only when it decodes to the user name (else
 * GW_SCRAM_E_AUTHZID). saslname escapes are exactly "=2C" and "=3D". The
 * user is 1..255 octets after decoding, UTF-8 without NUL; the c-nonce
 * 1..128 printable characters (0x21-0x7e but ','). Starts a new exchange
 * (x need not be initialized).
 */
enum gw_scram_rc gw_scram_client_first(struct gw_scram *x, const uint8_t *msg,
                                       size_t len);

/*
 * server-first-message "r=<c-nonce><s-nonce>,s=<base64 salt>,i=<iter>"
 * into out (NUL-terminated; cap > GW_SCRAM_SERVER_FIRST_MAX always
 * suffices), its length in *out_len. `snonce` is 1..GW_SCRAM_SNONCE_MAX
 * random octets from the caller (18 is the usual), sent as base64.
 */
enum gw_scram_rc gw_scram_server_first(struct gw_scram *x,
                                       const struct gw_scram_keys *k,
                                       const uint8_t *snonce, size_t snonce_len,
                                       char *out, size_t cap, size_t *out_len);
/*
 * The same with the s-nonce given as text (1..GW_SCRAM_SNONCE_TEXT_MAX
 * printable characters but ','): for test vectors such as RFC 7677's,
 * whose s-nonce is not base64. Production code uses the one above.
 */
enum gw_scram_rc gw_scram_server_first_text(struct gw_scram *x,
                                            const struct gw_scram_keys *k,
                                            const char *snonce,
                                            size_t snonce_len, char *out,
                                            size_t cap, size_t *out_len);

/*
 * client-final-message "c=<base64 gs2-header>,r=<nonce>[,extensions],
 * p=<base64 proof>": c= must be exactly the base64 of the gs2-header of
 * the first message (else GW_SCRAM_E_SYNTAX), r= the nonce sent (else
 * GW_SCRAM_E_NONCE), p= 32 octets; extensions as in client-first
 * (they count in the AuthMessage). The proof is checked against
 * k->stored_key in constant time. On GW_SCRAM_OK out holds the
 * server-final-message "v=<base64 ServerSignature>" (NUL-terminated;
 * cap > GW_SCRAM_SERVER_FINAL_LEN), else it is empty. `k` must be the
 * keys given to server_first.
 */
enum gw_scram_rc gw_scram_client_final(struct gw_scram *x,
                                       const struct gw_scram_keys *k,
                                       const uint8_t *msg, size_t len,
                                       char *out, size_t cap, size_t *out_len);

/* Zeroes the whole state (user name included). */
void gw_scram_wipe(struct gw_scram *x);

#endif
