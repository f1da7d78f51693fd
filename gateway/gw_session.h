/*
 * A client session: the inbound SMTP server state machine (gw_inbound.c)
 * and the glue that ties it to one upstream session for each transaction
 * (gw_session.c). It owns the client conn, the upstream session while one
 * exists, the transaction, and a reference to its config generation.
 */
#ifndef GW_SESSION_H
#define GW_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "gateway/gw_body.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_caps.h"
#include "gateway/gw_config.h"
#include "gateway/gw_esmtp.h"
#include "gateway/gw_reply_parse.h"
#include "gateway/gw_smtp_parse.h"

struct gw_worker;
struct gw_upstream;
struct gw_auth_job;

#define GW_IN_STATES(X)                                                        \
    X(CONNECT)  /* greeting not sent yet (upstream connecting first) */       \
    X(PROXY)    /* waiting for the PROXY protocol header */                   \
    X(GREETED)  /* waiting for EHLO/HELO */                                   \
    X(READY)    /* no transaction */                                          \
    X(MAIL)     /* MAIL given, no RCPT yet */                                 \
    X(RCPT)     /* at least one RCPT given */                                 \
    X(DATA)     /* message bytes flow into the body pipeline */               \
    X(BDAT)     /* the bytes of a BDAT chunk flow into the pipeline */        \
    X(CHUNK)    /* between BDAT chunks: BDAT, RSET, NOOP, QUIT */             \
    X(SKIP)     /* discarding the bytes of a refused BDAT chunk */            \
    X(EOM)      /* end of data sent; waiting for the upstream's reply */      \
    X(TLS)      /* the TLS handshake runs; no command is read */              \
    X(AUTH)     /* AUTH exchange: a line is a SASL response (gw_auth.c) */    \
    X(AUTHWAIT) /* AUTH: the check or the failure delay runs */               \
    X(QUIT)     /* final reply queued; closing */

#define GW_IN_STATE_ENUM(name) GW_IN_##name,
enum gw_in_state { GW_IN_STATES(GW_IN_STATE_ENUM) GW_IN_STATE_COUNT };
#undef GW_IN_STATE_ENUM

#define GW_IN_BIT(st) (1u << (st))

enum gw_tx_body {
    GW_TX_BODY_NONE = 0,
    GW_TX_BODY_DATA,  /* the client sent DATA */
    GW_TX_BODY_BDAT,  /* the client sent BDAT (RFC 3030) */
};

/* One mail transaction (RFC 5321 3.3), from MAIL to the final reply. */
struct gw_tx {
    struct gw_path mail;
    struct gw_mail_params params; /* MAIL's checked ESMTP parameters */
    enum gw_tx_body body_kind;
    /* BDAT: the current chunk, and how it reaches the upstream */
    bool bdat_passthrough;  /* upstream has CHUNKING: re-chunked BDAT */
    bool bdat_await_354;    /* bridging to DATA: waiting for the 354 */
    bool chunk_last;
    bool last_piece_held;   /* the LAST chunk's final piece waits in
                               last_piece for "BDAT n LAST" */
    struct gw_buf last_piece; /* a view into the upstream's free output */
    uint64_t chunk_size;
    uint64_t chunk_left;
    uint64_t size_limit;    /* policy's set_limit message_size, 0: none */
    struct gw_hdr_parser *hdr; /* header-stage policy, or NULL */
    int refuse_code;        /* a header rule's reply, given at the end */
    char refuse_enh[12];
    char refuse_text[256];
    size_t rcpt_limit;      /* policy's set_limit recipients, 0: none */
    uint8_t tls_min;        /* policy's tls_policy for the upstream leg
                               (enum pol_tls_policy; 0: none) */
    uint8_t mail_tls_min;   /* tls_min as MAIL set it: a re-route's base */
    bool identified;        /* XCLIENT/XFORWARD decided for this MAIL */
    /* Routing by recipient: the first RCPT may move the transaction to
     * another upstream block; its MAIL is sent again there and that
     * reply is not the client's. Non-NULL exactly while that MAIL is
     * out (or waits for the new upstream): the RCPT waits here. */
    struct gw_held_rcpt *held_rcpt;
    uint32_t mail_block;    /* the route MAIL chose: a RCPT's default */
    bool unrouted;          /* a re-route failed: no upstream MAIL open */
    uint8_t reroutes;       /* routes tried for the first recipient */
    bool mail_sent;         /* MAIL was relayed to the upstream */
    bool mail_failed;       /* the upstream refused MAIL */
    size_t rcpt_sent;       /* RCPTs relayed */
    size_t rcpt_ok;         /* RCPTs the upstream accepted */
    uint64_t started_ms;
    struct gw_body body;
};

struct gw_session {
    /* 8-byte fields first, then the address unions, then the small ones:
     * an idle session must stay small (docs/performance.md, [e]). */
    struct gw_worker *w;
    struct gw_config *cfg; /* referenced generation */
    struct gw_session *prev;
    struct gw_session *next;
    struct gw_upstream *up;
    char *helo;            /* EHLO/HELO argument (allocated), or NULL */
    struct gw_tx *tx;
    char *auth_user;       /* authenticated identity (allocated), or NULL */
    struct gw_auth_job *auth_job; /* the AUTH exchange in progress */
    /* The address the client connected to, when a PROXY header or XCLIENT
     * named it (allocated then: rare), else NULL: ask the socket. */
    struct sockaddr_storage *local_sa;
    uint64_t skip_left;    /* GW_IN_SKIP: chunk bytes still to drop */
    uint64_t started_ms;
    const char *end_reason;
    struct gw_conn client;
    struct gw_line_reader lines;
    struct gw_caps offered; /* what the last EHLO offered (HELO: nothing) */
    char sid[24];
    /* The client's address, compact: an idle session must stay small. */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } client_sa;
    uint32_t listener;         /* index into cfg->listeners */
    uint32_t upstream_block;   /* index into cfg->upstreams: the current one */
    uint32_t default_upstream; /* the listener's, or the connect policy's */
    uint32_t errors;
    uint32_t messages;
    enum gw_in_state state;
    enum gw_in_state skip_return; /* the state after the skip */
    bool require_tls;      /* listener or policy: 530 5.7.0 until TLS */
    bool starttls_now;     /* STARTTLS answered: start TLS after the line */
    bool counted;          /* registered in the per-client table */
    bool xclient_ok;       /* the SMTP client (the TCP peer, or the one a
                              PROXY header names) is in xclient_trusted */
    bool esmtp;
    bool closing;
    uint8_t tls_min;       /* tls_policy from the connect to auth stages */
    uint8_t auth_mech;     /* enum gw_sasl_mech of auth_user */
    uint8_t auth_failures; /* wrong credentials in this session */
    uint8_t tls_minor;     /* 2 or 3: TLS 1.x was up (for the last log
                              line, written after the engine is freed) */
};

/* Accepts a connection from `server` into a new session. */
void gw_session_accept(struct gw_worker *w, size_t listener,
                       uv_stream_t *server);

/* Ends the session at once (fast stop). */
void gw_session_abort(struct gw_session *s, const char *reason);
/* Graceful stop: an idle session gets 421 4.3.2 now, one in a transaction
 * after it. */
void gw_session_shutdown(struct gw_session *s);

/* --- shared between gw_session.c and gw_inbound.c --- */

/* Runs the inbound machine over buffered input until it must wait. */
void gw_in_pump(struct gw_session *s);
void gw_in_enter(struct gw_session *s, enum gw_in_state st);
/* The upstream refused the DATA that bridges the client's BDAT: relay its
 * reply as the BDAT's, drop the chunk's bytes, end the transaction. */
void gw_in_bdat_refused(struct gw_session *s, const struct gw_reply *r);
/* The upstream refused a piece of a re-chunked BDAT: the transaction has
 * failed there (RFC 3030 2). Its reply is kept for the client's chunk. */
void gw_in_piece_refused(struct gw_session *s, const struct gw_reply *r);
/* The re-routed MAIL's reply (tx->held_rcpt set): a 2xx sends the held
 * RCPT; anything else answers it with r. */
void gw_in_rerouted_mail(struct gw_session *s, const struct gw_reply *r);
/* A re-route failed and its RCPT has had its reply: the transaction goes
 * on with no upstream MAIL open; the next RCPT opens one. */
void gw_in_route_failed(struct gw_session *s);
/* Adds the Received: header (smtp.received_header) and the upstream's
 * trace header (upstreams[].trace_header) to the upstream's output (a BDAT
 * piece of their own with bdat_frame). */
void gw_session_add_received(struct gw_session *s, bool bdat_frame);
/* Sets up the header stage for this transaction's body (when the policy
 * has header rules). */
void gw_in_header_policy_start(struct gw_session *s);
/* Does the session's policy have end-of-data rules? */
bool gw_in_has_eom_policy(const struct gw_session *s);
/* The most the transaction's body may carry to this upstream: the smaller
 * of limits.message_size, its SIZE and a rule's set_limit message_size
 * (0: no limit). */
uint64_t gw_in_body_limit(const struct gw_session *s,
                          const struct gw_caps *upstream);
/* Must 8-bit content be refused (ehlo.eightbit reject, 7-bit upstream)? */
bool gw_in_reject_8bit(const struct gw_session *s);
const char *gw_in_state_name(enum gw_in_state st);

/* Queues a reply to the client (flushed at the end of the pump). */
void gw_session_reply(struct gw_session *s, int code, const char *enh,
                      const char *text);
/* Queues a reply and closes once it is written. */
void gw_session_reply_close(struct gw_session *s, int code, const char *enh,
                            const char *text, const char *reason);
/* Counts a client error; at the limit answers 421 and closes. Returns true
 * when the session is closing. */
bool gw_session_count_error(struct gw_session *s);
/* Opens the upstream session if there is none. false on failure. */
bool gw_session_upstream_open(struct gw_session *s);
/* The upstream block called `name` (a policy's `upstream NAME`), or
 * fallback. */
uint32_t gw_session_block(const struct gw_session *s, const char *name,
                          uint32_t fallback);
/* The address the client connected to: the PROXY header's or XCLIENT's,
 * else the socket's (buf holds it), or NULL. */
const struct sockaddr *gw_session_local_addr(const struct gw_session *s,
                                             struct sockaddr_storage *buf);
/* Before MAIL: the client's identity to the upstream (gw_up_identify).
 * true when the upstream must be waited for (XCLIENT). */
bool gw_session_identify(struct gw_session *s);
/* Ends the transaction (logs its summary line) and returns to READY. */
void gw_session_tx_end(struct gw_session *s, const char *outcome,
                       const struct gw_reply *final, int local_code);
/* Ends the session: close the client (after flushing) and the upstream. */
void gw_session_close(struct gw_session *s, const char *reason, bool flush);

/* After XCLIENT: the connect stage again with the new identity, then a
 * new 220 greeting (the client must EHLO again). */
void gw_session_restart(struct gw_session *s);

/* The line reader's limit for a listener (see gw_session.c). */
size_t gw_session_line_max(const struct gw_config *cfg, size_t listener);

/* The client's address from a PROXY header or XCLIENT (AF_INET or
 * AF_INET6; anything else is ignored); its per-client count moves with
 * it. */
void gw_session_set_client(struct gw_session *s, const struct sockaddr *sa);
/* Records the address the client connected to (from a PROXY header or
 * XCLIENT); an allocation failure keeps the socket's. */
void gw_session_set_local(struct gw_session *s, const struct sockaddr *sa);

uint64_t gw_now_ms(void);
/* "ip:port" of the client, for logs. */
void gw_session_client_text(const struct gw_session *s, char *dst,
                            size_t cap);

#endif
