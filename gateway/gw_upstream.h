/*
 * The upstream session: Postern as an SMTP client (RFC 5321 client role).
 *
 *   CONNECTING -> BANNER -> EHLO -(5xx)-> HELO
 *                            \-> READY -> [relayed commands] -> ... -> QUIT
 *
 * Addresses of the upstream block are tried in order (failover) until one
 * gives a 220 banner and a 250 to EHLO/HELO. Then commands are relayed: each
 * one sent is queued in a bounded FIFO, and each reply is checked (syntax,
 * bounded size, the reply class that makes sense for the command) and
 * handed to the owner in order. The upstream is hostile too: a malformed
 * reply, a reply to nothing, or a 2xx/3xx where it makes no sense ends the
 * session as a fault.
 *
 * Ownership: the owner (a client session, or the capability probe) creates
 * it and ends it with gw_up_close(); after that call no callback reaches the
 * owner, and the upstream frees itself when its handles are closed.
 */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "gateway/gw_caps.h"
#include "gateway/gw_config.h"
#include "gateway/gw_reply_parse.h"
#include "gateway/gw_smtp_parse.h"
#include "gateway/gw_xclient.h"

struct gw_upstream;

enum gw_up_fail {
    GW_UP_FAIL_CONNECT = 1, /* no address gave a usable session: 4.4.1 */
    GW_UP_FAIL_LOST,        /* EOF, I/O error or 421 mid-session: 4.4.2 */
    GW_UP_FAIL_TIMEOUT,     /* a reply did not come in time: 4.4.2 */
    GW_UP_FAIL_PROTOCOL,    /* malformed or unexpected reply: 4.4.0 */
    GW_UP_FAIL_IDLE,        /* closed while idle; nothing was pending */
    GW_UP_FAIL_TLS,         /* TLS required and not obtained: 4.7.5 */
};

struct gw_up_ops {
    /* Banner and EHLO/HELO done; u's caps are known. */
    void (*on_ready)(struct gw_upstream *u, void *owner);
    /* The reply to a command sent with gw_up_send (in order). */
    void (*on_reply)(struct gw_upstream *u, void *owner, enum gw_verb verb,
                     bool eom, const struct gw_reply *r);
    /* The upstream failed; it is closing and no other callback follows. */
    void (*on_fail)(struct gw_upstream *u, void *owner, enum gw_up_fail why,
                    const char *detail);
    /* Output space was freed (a write finished) or a reply the owner does
     * not see (an internal RSET) arrived: the owner may go on. */
    void (*on_drain)(struct gw_upstream *u, void *owner);
};

/* Creates an upstream session for block `ucfg` (cfg is referenced) and
 * starts connecting. NULL on allocation failure. sid is copied for logs. */
struct gw_upstream *gw_up_new(uv_loop_t *loop, struct gw_config *cfg,
                              const struct gw_upstream_cfg *ucfg,
                              const struct gw_up_ops *ops, void *owner,
                              const char *sid);

bool gw_up_is_ready(const struct gw_upstream *u);
/* Ready, nothing pending, no transaction open: fit for another owner. */
bool gw_up_is_idle(const struct gw_upstream *u);
/* Made for this config generation and upstream block? */
bool gw_up_serves(const struct gw_upstream *u, const struct gw_config *cfg,
                  const struct gw_upstream_cfg *ucfg);
/* The upstream block it belongs to. */
const struct gw_upstream_cfg *gw_up_block(const struct gw_upstream *u);
/* Hands an idle session to another owner (the worker's pool, or the
 * session that takes it from there); sid names it in the logs. */
void gw_up_set_owner(struct gw_upstream *u, const struct gw_up_ops *ops,
                     void *owner, const char *sid);
const struct gw_caps *gw_up_caps(const struct gw_upstream *u);
/* TLS is up on the upstream leg. */
bool gw_up_tls_active(const struct gw_upstream *u);
/* What the leg achieved, as enum pol_tls_policy values: POL_TLS_NONE in
 * the clear, POL_TLS_ENCRYPT with TLS, POL_TLS_VERIFY with TLS under
 * tls: verify (chain and name checked). */
unsigned gw_up_tls_level(const struct gw_upstream *u);
/* "ip:port" of the address in use. */
const char *gw_up_addr(const struct gw_upstream *u);

/* Commands awaiting replies, and how many may be in flight now (1 unless
 * the upstream offers PIPELINING). */
size_t gw_up_pending(const struct gw_upstream *u);
/* Of those, the ones whose replies go to the owner (not internal). */
size_t gw_up_pending_replies(const struct gw_upstream *u);
size_t gw_up_window(const struct gw_upstream *u);

/*
 * Sends one command line (CRLF is added) and queues the expectation of its
 * reply. `internal` replies (an RSET of our own) are checked but not handed
 * to the owner. Returns 0, or GW_E_LIMIT when the FIFO or the output buffer
 * is full (nothing is sent then).
 */
int gw_up_send(struct gw_upstream *u, enum gw_verb verb, bool internal,
               const char *line, size_t len);

/*
 * Corked, gw_up_send only buffers: the commands of one pipelined client
 * group then leave in one write (one segment, one TLS record), as RFC 2920
 * intends. gw_up_uncork flushes; a new owner and gw_up_close uncork.
 */
void gw_up_cork(struct gw_upstream *u);
void gw_up_uncork(struct gw_upstream *u);

/*
 * For a block with proxy_protocol: the client whose PROXY header opens the
 * connection (call right after gw_up_new, before it connects). Without
 * it such a block gets a LOCAL (v2) or UNKNOWN (v1) header. The session
 * then belongs to this client: it is never pooled.
 */
void gw_up_set_client(struct gw_upstream *u, const struct sockaddr *src,
                      const struct sockaddr *dst);

/* AUTH pass-through: the client's SASL exchange goes over this session
 * (commands sent as GW_VERB_AUTH, 334 replies allowed); from now on it
 * belongs to that client (never pooled, no XCLIENT, no login of ours). */
void gw_up_claim_for_auth(struct gw_upstream *u);

/*
 * Before a transaction's MAIL: tells the upstream who the client is.
 * XCLIENT when the block sets xclient and the upstream offers it (only
 * when this identity was not sent in this upstream session yet): the
 * upstream greets again and is asked EHLO again, so this returns true and
 * the owner waits for on_ready. Else XFORWARD when the block sets
 * xforward and the upstream offers it: queued as our own commands ahead
 * of MAIL (returns false). A refusal is logged and the session goes on
 * without the identity. An upstream session that sent XCLIENT is never
 * pooled for another client.
 */
bool gw_up_identify(struct gw_upstream *u,
                    const struct gw_client_identity *id);

/* The output buffer for message bytes (DATA body), and its flush. */
struct gw_buf *gw_up_body_out(struct gw_upstream *u);
void gw_up_flush(struct gw_upstream *u);

/*
 * Queues the expectation of a reply to bytes the caller wrote itself into
 * gw_up_body_out (the DATA terminator, with eom; a BDAT chunk it framed).
 * eom ends the body (no more message bytes). Returns 0 or GW_E_LIMIT.
 */
int gw_up_expect(struct gw_upstream *u, enum gw_verb verb, bool eom,
                 bool internal);

/*
 * Ends the session. With `polite`, a QUIT is sent first unless message
 * bytes are being streamed (a transaction still open is aborted by the
 * QUIT). No callback reaches the owner after this call.
 */
void gw_up_close(struct gw_upstream *u, bool polite);

#endif
