/*
 * Bearer tokens for SASL OAUTHBEARER (RFC 7628) and XOAUTH2: a backend
 * answers "whose token is this?". Two backends today: a file of SHA-256
 * hashes of tokens, and a local command (token on its standard input, the
 * user on its standard output). An HTTP introspection backend (RFC 7662)
 * fits the same interface: one more struct gw_token_ops.
 *
 * A check may block (a command, later the network): gw_auth.c runs it in
 * the libuv thread pool. Backends are immutable after creation, so checks
 * may run in several threads at once.
 */
#ifndef GW_TOKENS_H
#define GW_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#define GW_TOKEN_MAX 4096 /* octets of a token we accept */

enum gw_token_result {
    GW_TOKEN_OK = 0,        /* valid: the user is filled in */
    GW_TOKEN_INVALID = -1,  /* unknown, expired, revoked: 535 */
    GW_TOKEN_TEMPFAIL = -2, /* the backend could not answer: 454 */
};

struct gw_tokens;

struct gw_token_ops {
    const char *name; /* "file", "command" */
    enum gw_token_result (*check)(const struct gw_tokens *t,
                                  const char *token, size_t len, char *user,
                                  size_t cap);
    void (*free)(struct gw_tokens *t);
};

struct gw_tokens {
    const struct gw_token_ops *ops;
};

/*
 * The file backend: "user:hex-sha256-of-the-token" lines ('#' comments,
 * blank lines). The file holds no token, only hashes. NULL with "LINE:
 * message" in why on a bad line, a duplicate hash, or an unreadable file.
 */
struct gw_tokens *gw_tokens_file_load(const char *path, char *why,
                                      size_t why_cap);

/*
 * The command backend: `path` is run (no arguments, no shell, an empty
 * environment) for each check with the token and a newline on its standard
 * input; exit status 0 and a first output line (the user, 1..255
 * printable octets) mean valid; status 1 means invalid; anything else, or
 * no exit within timeout_ms (the command is killed), means tempfail.
 */
struct gw_tokens *gw_tokens_command_new(const char *path, uint64_t timeout_ms,
                                        char *why, size_t why_cap);

/* Blocking. user[cap] gets the user on GW_TOKEN_OK. */
enum gw_token_result gw_tokens_check(const struct gw_tokens *t,
                                     const char *token, size_t len,
                                     char *user, size_t cap);

void gw_tokens_free(struct gw_tokens *t);

/* Hex SHA-256 of (p, len) into hex[65]: what a tokens file holds. */
void gw_tokens_hash_hex(const uint8_t *p, size_t len, char hex[65]);

#endif
