/*
 * The credentials file of a listener's AUTH: one "user:hash[:scram]" line
 * per user, the hash in a crypt(3) format of the system's libcrypt
 * (yescrypt, sha512-crypt, bcrypt...), and optionally the user's
 * SCRAM-SHA-256 keys (gw_scram.h's form) for that mechanism. `postern
 * passwd USER` prints such a line, with both.
 * Loaded whole at start and on reload (an immutable, sorted table); the
 * check runs crypt(3), which is slow on purpose, so callers run it off the
 * event loop (gw_auth.c uses the libuv thread pool).
 */
#ifndef GW_USERS_H
#define GW_USERS_H

#include <stdbool.h>
#include <stddef.h>

#define GW_USERS_MAX_ENTRIES 1000000u
#define GW_USERS_MAX_BYTES (64u << 20)
#define GW_USERS_LINE_MAX 1024u

struct gw_users;

/*
 * Loads `path`. On failure returns NULL and writes "LINE: message" (or a
 * message about the file) to why. Refused: unreadable file, a line without
 * ':', an empty or over-long user name, a name with a space or control
 * character, a duplicate user, a hash libcrypt does not accept or calls
 * legacy (DES, MD5) or too cheap (crypt_checksalt).
 */
struct gw_users *gw_users_load(const char *path, char *why, size_t why_cap);
void gw_users_free(struct gw_users *u);
size_t gw_users_count(const struct gw_users *u);

/* The stored hash of `user` (exact match), or NULL. */
const char *gw_users_hash(const struct gw_users *u, const char *user,
                          size_t user_len);
/* A hash with the default method's cost, to check an unknown user against
 * so the answer takes as long as for a known one. */
const char *gw_users_dummy_hash(const struct gw_users *u);

struct gw_scram_keys;
/* The user's SCRAM-SHA-256 keys: true when the line has them; else fake
 * keys (stable per user for this table, from a random secret) so the
 * exchange goes on and fails at the proof, like a wrong password. */
bool gw_users_scram_keys(const struct gw_users *u, const char *user,
                         size_t user_len, struct gw_scram_keys *k);

/* The iteration count `postern passwd` and fake keys use. */
#define GW_USERS_SCRAM_ITER 4096

/*
 * Blocking: true when crypt(3) of `pass` with the salt of `hash` gives
 * `hash` (compared in constant time). Thread-safe (crypt_rn).
 */
bool gw_users_check(const char *hash, const char *pass);

/*
 * A new hash of `pass` with libcrypt's default method and fresh salt, for
 * `postern passwd`. Returns false when libcrypt fails.
 */
bool gw_users_hash_new(const char *pass, char *dst, size_t cap);

#endif
