/*
 * The TLS engine: one mbedTLS connection over two bounded memory buffers,
 * with no sockets, no event loop and no logging. The gateway's conn feeds
 * it the ciphertext it reads from the socket and writes out the
 * ciphertext it produces; plaintext goes in and out through read/write.
 *
 *   socket ──▶ tls_engine_feed ──▶ [cipher_in] ──▶ mbedTLS ──▶ tls_engine_read
 *   socket ◀── pending_out/consume_out ◀── [cipher_out] ◀── tls_engine_write
 *
 * Both buffers have a fixed capacity (TLS_ENGINE_CIPHER_CAP by default:
 * one maximum record plus overhead). A full cipher_out makes mbedTLS
 * report WANT_WRITE and a full cipher_in makes feed accept less, so TLS is
 * subject to the same backpressure as everything else.
 *
 * THE PUMP (what the caller runs after every socket read, write
 * completion or upper-layer write, in this order; docs/tls.md):
 *  1. Until tls_engine_is_handshake_done(): tls_engine_handshake(). On
 *     TLS_OK the handshake has just completed (log version and cipher).
 *     read and write refuse to run before that: no plaintext moves in
 *     either direction before the handshake completes.
 *  2. Plaintext out: if the caller has plaintext (or
 *     tls_engine_write_blocked()), tls_engine_write() from the head of its
 *     unsent bytes.
 *  3. Plaintext in: tls_engine_read() while it returns TLS_OK and the
 *     caller has room. If the caller ran out of room while
 *     tls_engine_has_pending_plaintext(), it must pump again when it frees
 *     room: no socket event will come for bytes already fed.
 *  4. Ciphertext out: tls_engine_pending_out(); write that to the socket;
 *     tls_engine_consume_out() what was written.
 *  5. Read interest: read the socket iff tls_engine_in_space() > 0 (and,
 *     after the handshake, the caller has room for plaintext).
 *
 * STARTTLS injection: an engine starts with empty buffers and only ever
 * consumes bytes given to tls_engine_feed after tls_engine_new. The caller
 * must discard whatever plaintext it had buffered when it decided to
 * start TLS (CVE-2011-0411) and feed only bytes read from then on.
 *
 * Lifetime: the engine holds a reference to its context (so a reload
 * never pulls a configuration out from under it); tls_engine_free drops
 * it. An engine is used from one thread.
 */
#ifndef TLS_ENGINE_H
#define TLS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certs/tls_ctx.h"

/* 16 KiB of plaintext + record header + AEAD/MAC/padding expansion. */
#define TLS_ENGINE_CIPHER_CAP (17 * 1024 + 512)
#define TLS_ENGINE_CIPHER_CAP_MAX (256 * 1024)

struct tls_engine;
struct tls_session;

struct tls_engine_opts {
    /* Client: SNI and the name verified, overriding the context's
     * server_name (the upstream's host name). Ignored by servers. */
    const char *server_name;
    /* Capacity of each cipher buffer, 1..TLS_ENGINE_CIPHER_CAP_MAX;
     * 0: TLS_ENGINE_CIPHER_CAP. Small values only cost round trips
     * through the pump (tests use 1 to force every WANT_* path). */
    size_t cipher_cap;
    /* Client: a session saved from an engine of the same context, to
     * resume (abbreviated handshake by session ticket). */
    const struct tls_session *session;
};

/* Trust in the peer's certificate after the handshake. */
enum tls_peer_trust {
    TLS_PEER_NONE,      /* no certificate (a client that sent none) */
    TLS_PEER_UNTRUSTED, /* chain did not verify (unknown CA, expired...) */
    TLS_PEER_TRUSTED,   /* chain verified, name not (or none to check) */
    TLS_PEER_VERIFIED,  /* chain and name verified */
};

/* Creates an engine for ctx (the role is the context's). opts may be
 * NULL. Takes a reference to ctx. Returns NULL with *err filled on
 * allocation failure or bad options (err may be NULL). */
struct tls_engine *tls_engine_new(struct tls_ctx *ctx,
                                  const struct tls_engine_opts *opts,
                                  struct tls_err *err);

/* Frees the engine, wiping its buffers and keys, and drops its context
 * reference. Accepts NULL. Sends nothing: see tls_engine_close_notify. */
void tls_engine_free(struct tls_engine *e);

/* Copies up to len ciphertext bytes into cipher_in; returns how many were
 * taken (0 when full, or after TLS_ERR/TLS_EOF). The caller keeps the
 * rest and feeds it after the engine has consumed some (a read or a
 * handshake step). Never interprets the bytes itself. */
size_t tls_engine_feed(struct tls_engine *e, const uint8_t *p, size_t len);

/* Free space in cipher_in: how much feed would take now. */
size_t tls_engine_in_space(const struct tls_engine *e);

/*
 * Zero-copy alternative to feed, for a libuv alloc_cb/read_cb pair:
 * in_reserve gives the largest contiguous free run of cipher_in (*n may
 * be less than in_space when the ring wraps; 0 when full or after the
 * engine ended), the socket reads into it, and in_commit(n) adds the n
 * bytes read. No other engine call may come between the two except
 * further in_space/in_reserve queries; a reservation never committed
 * costs nothing.
 */
void tls_engine_in_reserve(struct tls_engine *e, uint8_t **p, size_t *n);
void tls_engine_in_commit(struct tls_engine *e, size_t n);

/* The next contiguous run of ciphertext to send: *p and *n (0 when none,
 * and then *p is NULL: the buffers may be trimmed).
 * The bytes stay valid and in place until consumed, whatever else is
 * called meanwhile, so a socket write may be in flight on them. cipher_out
 * is a ring: after consuming, call again for the part that wrapped. */
void tls_engine_pending_out(const struct tls_engine *e, const uint8_t **p,
                            size_t *n);

/* Frees both cipher buffers while they are empty; the next byte in or out
 * allocates them again (one malloc). An idle session then holds only
 * mbedTLS's own buffers. Call it when the connection goes idle, never
 * between tls_engine_in_reserve and tls_engine_in_commit. */
void tls_engine_trim(struct tls_engine *e);

/* All ciphertext waiting to be sent (both runs of the ring). */
size_t tls_engine_out_len(const struct tls_engine *e);

/* Marks n bytes of pending_out as sent (n <= what pending_out gave). */
void tls_engine_consume_out(struct tls_engine *e, size_t n);

/* Runs the handshake as far as the buffers allow. TLS_OK: complete (also
 * on every later call); TLS_AGAIN: send pending_out and/or feed more, then
 * call again; TLS_ERR: failed, see tls_engine_reason (pending_out may
 * hold an alert worth flushing before closing). */
int tls_engine_handshake(struct tls_engine *e);

bool tls_engine_is_handshake_done(const struct tls_engine *e);

/*
 * Reads plaintext into buf (up to cap). TLS_OK with *n > 0: data;
 * TLS_AGAIN (*n == 0): feed more ciphertext (and send pending_out: the
 * engine may have queued a reply such as an alert); TLS_EOF: the peer
 * sent close_notify; TLS_ERR: fatal (corrupt record, bad MAC, plaintext
 * where a record was due). EOF and ERR are sticky. TLS_ERR before the
 * handshake completed (the pump order was broken).
 */
int tls_engine_read(struct tls_engine *e, uint8_t *buf, size_t cap, size_t *n);

/*
 * Encrypts plaintext from buf into cipher_out, as many records as fit.
 * TLS_OK: *n bytes were taken (> 0 unless len was 0); the caller drops
 * them from its buffer. TLS_AGAIN (*n == 0): cipher_out is full; send
 * pending_out and call again. TLS_ERR: fatal.
 *
 * The same-arguments rule (mbedTLS: after WANT_WRITE, call again with the
 * same data): when a record could not be fully queued the engine
 * remembers its length (tls_engine_write_blocked) and has already taken a
 * copy of those bytes, but reports them only when the record is out.
 * So the caller must: never drop bytes it was not told were taken, call
 * again with its unsent bytes starting at the same point (it may append
 * more after them, and may move them in memory: only the length and order
 * matter), and never pass fewer bytes than before: that is TLS_ERR.
 * A byte-stream caller that consumes exactly *n satisfies all three.
 */
int tls_engine_write(struct tls_engine *e, const uint8_t *buf, size_t len,
                     size_t *n);

/* A record is half-queued: the next write must repeat its bytes. */
bool tls_engine_write_blocked(const struct tls_engine *e);

/*
 * Whether plaintext may be available without new ciphertext: mbedTLS
 * holds decrypted bytes or a further record (mbedtls_ssl_check_pending),
 * or cipher_in holds bytes not yet processed. After filling its buffer
 * the caller must come back to read when it has room, not wait for the
 * socket. May be true for an incomplete record (read then says AGAIN).
 */
bool tls_engine_has_pending_plaintext(const struct tls_engine *e);

/* Queues a close_notify alert. TLS_OK: queued (send pending_out, then
 * close the socket; waiting for the peer's alert is not needed);
 * TLS_AGAIN: cipher_out is full, send and call again; TLS_ERR. */
int tls_engine_close_notify(struct tls_engine *e);

/* Why the engine failed, for the log: "handshake: <mbedTLS reason>
 * (-0x7780)", with verification details where they apply. "" if not. */
const char *tls_engine_reason(const struct tls_engine *e);

/* After the handshake: "TLSv1.2", and the IANA-style suite name mbedTLS
 * uses ("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"); "" before. */
const char *tls_engine_version(const struct tls_engine *e);
const char *tls_engine_cipher(const struct tls_engine *e);

/* The session was resumed (always false on mbedTLS 3.x: see tls.md). */
bool tls_engine_is_resumed(const struct tls_engine *e);

/* Server: the SNI name the client sent (lower case), or NULL. */
const char *tls_engine_sni(const struct tls_engine *e);

/* After the handshake: trust in the peer certificate. For a client, see
 * the verify modes in tls_ctx.h; for a server, client certificates (only
 * requested with client_ca_file). */
enum tls_peer_trust tls_engine_peer_verify_result(const struct tls_engine *e);

/* "none", "untrusted", "trusted", "verified". */
const char *tls_peer_trust_name(enum tls_peer_trust t);

/* Why the peer certificate did not verify ("unknown CA; name mismatch"),
 * "" when it did. For logs. */
const char *tls_engine_peer_verify_info(const struct tls_engine *e);

/* The peer certificate's subject ("CN=..., O=..."), "" without one. */
const char *tls_engine_peer_subject(const struct tls_engine *e);

/* Client, after the handshake: a copy of the session (ticket or session
 * id) for resumption: opts.session of a later engine of the same context.
 * NULL on a server, before the handshake, or on allocation failure.
 * Free with tls_session_free. */
struct tls_session *tls_engine_session_save(const struct tls_engine *e);

/* Frees a saved session, wiping its master secret. Accepts NULL. */
void tls_session_free(struct tls_session *s);

#endif
