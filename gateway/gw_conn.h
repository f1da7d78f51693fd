/*
 * conn: a byte stream over one uv_tcp_t. Both legs use it. It owns the input
 * and output buffers (fixed capacity, attached lazily and released when
 * empty so an idle connection holds no buffer), one write in flight at a
 * time, one timer, and the close protocol. It knows nothing about SMTP.
 *
 * Lifetime: the owner embeds the conn, calls gw_conn_close(), and may free
 * the memory only from ops->on_closed. Every callback into the owner may
 * lead the owner to call gw_conn_close(); the conn never touches itself
 * after a callback except through checks of c->closing.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gateway/gw_buf.h"

struct gw_conn;

struct gw_conn_ops {
    /* New bytes are in c->in. The owner consumes with gw_conn_consume. */
    void (*on_read)(struct gw_conn *c);
    /* A write finished; c->out has more space (backpressure release). */
    void (*on_drain)(struct gw_conn *c);
    /* EOF (GW_E_EOF), timeout (GW_E_TIMEOUT) or I/O error (GW_E_IO). */
    void (*on_error)(struct gw_conn *c, int err);
    /* Outgoing connection result: 0 or GW_E_IO. */
    void (*on_connect)(struct gw_conn *c, int status);
    /* All handles are closed; the owner may now free the memory. */
    void (*on_closed)(struct gw_conn *c);
    /* The TLS handshake completed (gw_conn_start_tls); NULL if unused. */
    void (*on_tls_ready)(struct gw_conn *c);
};

struct gw_conn_tls;

struct gw_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct gw_buf in;
    struct gw_buf out;
    size_t buf_size;
    size_t in_flight;      /* bytes of out handed to uv_write */
    uint64_t bytes_in;
    uint64_t bytes_out;
    const struct gw_conn_ops *ops;
    void *owner;
    unsigned pending_closes;
    bool want_read;        /* the owner wants input */
    bool reading;          /* uv_read_start is in effect */
    bool close_when_flushed;
    bool closing;
    bool error;            /* a read or write error happened */
    bool read_eof;         /* the peer sent its last byte (EOF, or TLS
                              close_notify); writing may go on */
    int last_uv_error;     /* for logs: the libuv error, 0 if none */
    struct gw_conn_tls *tls; /* the TLS layer, NULL while plaintext */
};

/* Initialises the handles on `loop`. Always returns 0; from here on the
 * conn must be closed with gw_conn_close and freed from ops->on_closed. */
int gw_conn_init(struct gw_conn *c, uv_loop_t *loop,
                 const struct gw_conn_ops *ops, void *owner, size_t buf_size);

/* Accepts a pending connection from `server`; sets TCP_NODELAY. */
int gw_conn_accept(struct gw_conn *c, uv_stream_t *server);

/* Starts an outgoing connection; the result comes via ops->on_connect.
 * `req` belongs to the caller (only outgoing legs need one) and must stay
 * alive until the connect callback. */
int gw_conn_connect(struct gw_conn *c, uv_connect_t *req,
                    const struct sockaddr *sa);

/* The peer's address; false when unknown. */
bool gw_conn_peer(const struct gw_conn *c, struct sockaddr_storage *ss);

/* "ip:port" or "[ip6]:port" text of an address ("unknown" otherwise). */
void gw_sockaddr_text(const struct sockaddr *sa, char *dst, size_t cap);

/* Input interest. Reading is actually on only while the input buffer has
 * room, so the owner never has to watch for a full buffer itself. */
void gw_conn_want_read(struct gw_conn *c, bool on);

/* Drops n consumed input bytes and re-evaluates read interest. */
void gw_conn_consume(struct gw_conn *c, size_t n);

/* The output buffer, attached and compacted, for direct appends (the body
 * pipeline writes here). NULL on allocation failure. */
struct gw_buf *gw_conn_out(struct gw_conn *c);

/* Free output space (after compaction); 0 when full. */
size_t gw_conn_out_space(struct gw_conn *c);

/* Appends to the output buffer. Returns 0, GW_E_LIMIT when it does not fit
 * (nothing is appended then) or GW_E_NOMEM. */
int gw_conn_write(struct gw_conn *c, const void *p, size_t len);

/* Starts a write of everything buffered if none is in flight. */
void gw_conn_flush(struct gw_conn *c);

/* Bytes accepted for writing but not yet written to the socket. */
size_t gw_conn_pending_out(const struct gw_conn *c);

/*
 * Starts TLS on the connection (the role is ctx's: server for STARTTLS or
 * implicit TLS, client towards an upstream; server_name is the client's
 * SNI, NULL otherwise). From here on everything read is ciphertext and
 * plaintext moves only after the handshake; ops->on_tls_ready says when.
 * Input buffered before this call is the caller's to discard: it is never
 * read as TLS (STARTTLS injection, CVE-2011-0411). Plaintext still
 * waiting to be written (the 220 to STARTTLS) goes out first, in the
 * clear. Returns 0 or GW_E_NOMEM / GW_E_IO (reason in gw_conn_tls_reason).
 */
struct tls_ctx;
int gw_conn_start_tls(struct gw_conn *c, struct tls_ctx *ctx,
                      const char *server_name);
/* Implicit TLS behind a PROXY protocol header: the same as a server, but
 * the input already buffered (what followed the header: the start of the
 * ClientHello) is the first ciphertext, not discarded. Nothing may be
 * waiting to be written. */
int gw_conn_start_tls_buffered(struct gw_conn *c, struct tls_ctx *ctx);

/* TLS is up (the handshake completed). */
bool gw_conn_tls_active(const struct gw_conn *c);
/* "TLSv1.2" / the cipher suite / the SNI name / why TLS failed ("" if
 * none apply). */
const char *gw_conn_tls_version(const struct gw_conn *c);
const char *gw_conn_tls_cipher(const struct gw_conn *c);
const char *gw_conn_tls_sni(const struct gw_conn *c);
const char *gw_conn_tls_reason(const struct gw_conn *c);

/* (Re)arms the timer; 0 stops it. On expiry: ops->on_error(GW_E_TIMEOUT). */
void gw_conn_timeout(struct gw_conn *c, uint64_t ms);

/* Flushes what is buffered, then closes. */
void gw_conn_close_after_flush(struct gw_conn *c);

/* Closes at once (idempotent). ops->on_closed follows from the loop. */
void gw_conn_close(struct gw_conn *c);

#endif
