/* Shared by gw_conn.c and gw_conn_tls.c only. */
#ifndef GW_CONN_INTERNAL_H
#define GW_CONN_INTERNAL_H

#include "gateway/gw_conn.h"

/* Writes len bytes at p to the socket: what can go at once goes, the rest
 * is handed to one uv_write (c->in_flight). Returns the bytes written at
 * once, or -1 after an error (c->error set). */
ssize_t gw_conn_send(struct gw_conn *c, const uint8_t *p, size_t len);
void gw_conn_update_read(struct gw_conn *c);
void gw_conn_release_idle(struct gw_conn *c);
void gw_conn_on_handle_closed(uv_handle_t *h);

/* The TLS layer's hooks (gw_conn_tls.c). */
bool gw_conn_tls_started(const struct gw_conn *c); /* the engine runs */
void gw_conn_tls_alloc(struct gw_conn *c, uv_buf_t *buf);
void gw_conn_tls_on_cipher(struct gw_conn *c, size_t n);
void gw_conn_tls_flush(struct gw_conn *c);
void gw_conn_tls_on_written(struct gw_conn *c, size_t n);
bool gw_conn_tls_can_read(const struct gw_conn *c);
size_t gw_conn_tls_pending_out(const struct gw_conn *c);
/* The owner made room: if the engine still holds plaintext read earlier,
 * come back for it (no socket event will bring it). */
void gw_conn_tls_rearm(struct gw_conn *c);
/* Lets the engine free its empty cipher buffers (an idle TLS session). */
void gw_conn_tls_trim(struct gw_conn *c);
/* Closes the TLS layer's handle; returns how many closes were started. */
unsigned gw_conn_tls_close(struct gw_conn *c);
void gw_conn_tls_free(struct gw_conn *c);
/* Queues close_notify before a graceful close (nothing if not up). */
void gw_conn_tls_shutdown(struct gw_conn *c);

#endif
