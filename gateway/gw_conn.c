#include "gateway/gw_conn.h"
#include "gateway/gw_conn_internal.h"

#include <stdio.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_error.h"

static void gw_conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void gw_conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void gw_conn_on_write(uv_write_t *req, int status);
static void gw_conn_on_connect(uv_connect_t *req, int status);
static void gw_conn_on_timer(uv_timer_t *t);


/* The worker's buffer pool, if the loop has one (loop->data). */
static struct gw_bufpool *
gw_conn_pool(const struct gw_conn *c)
{
    return c->tcp.loop != NULL ? c->tcp.loop->data : NULL;
}

int
gw_conn_init(struct gw_conn *c, uv_loop_t *loop,
             const struct gw_conn_ops *ops, void *owner, size_t buf_size)
{
    memset(c, 0, sizeof(*c));
    c->ops = ops;
    c->owner = owner;
    c->buf_size = buf_size;
    /* Neither call can fail in libuv 1.x on Unix (no socket is created for
     * AF_UNSPEC); an error here is a broken invariant, not a peer's doing. */
    GW_ASSERT(uv_tcp_init(loop, &c->tcp) == 0);
    GW_ASSERT(uv_timer_init(loop, &c->timer) == 0);
    c->tcp.data = c;
    c->timer.data = c;
    return 0;
}

int
gw_conn_accept(struct gw_conn *c, uv_stream_t *server)
{
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        return GW_E_IO;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    return 0;
}

int
gw_conn_connect(struct gw_conn *c, uv_connect_t *req,
                const struct sockaddr *sa)
{
    req->data = c;
    if (uv_tcp_connect(req, &c->tcp, sa, gw_conn_on_connect) != 0) {
        return GW_E_IO;
    }
    return 0;
}

static void
gw_conn_on_connect(uv_connect_t *req, int status)
{
    struct gw_conn *c = req->data;

    if (c->closing) {
        return;
    }
    if (status == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
    } else {
        c->last_uv_error = status;
    }
    c->ops->on_connect(c, status == 0 ? 0 : GW_E_IO);
}

bool
gw_conn_peer(const struct gw_conn *c, struct sockaddr_storage *ss)
{
    int len = (int)sizeof(*ss);

    memset(ss, 0, sizeof(*ss));
    return uv_tcp_getpeername(&c->tcp, (struct sockaddr *)ss, &len) == 0;
}

void
gw_sockaddr_text(const struct sockaddr *sa, char *dst, size_t cap)
{
    char ip[64];

    snprintf(dst, cap, "unknown");
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        uv_ip4_name(in, ip, sizeof(ip));
        snprintf(dst, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        uv_ip6_name(in6, ip, sizeof(ip));
        snprintf(dst, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    }
}

void
gw_conn_want_read(struct gw_conn *c, bool on)
{
    c->want_read = on;
    gw_conn_update_read(c);
}

/* Reading is on iff wanted, not closing, and the input buffer has room
 * (a detached buffer has room: it is attached in the alloc callback). */
void
gw_conn_update_read(struct gw_conn *c)
{
    bool room;
    bool on;

    if (c->tls != NULL) {
        room = gw_conn_tls_can_read(c);
    } else {
        room = !gw_buf_is_attached(&c->in) || gw_buf_space(&c->in) > 0 ||
               c->in.pos != c->in.start;
    }
    on = c->want_read && !c->closing && !c->error && !c->read_eof && room;
    if (on && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, gw_conn_on_alloc,
                          gw_conn_on_read) == 0) {
            c->reading = true;
        }
    } else if (!on && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void
gw_conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct gw_conn *c = h->data;

    (void)hint;
    buf->base = NULL;
    buf->len = 0;
    if (c->tls != NULL) {
        gw_conn_tls_alloc(c, buf); /* ciphertext lands in the engine */
        return;
    }
    if (!gw_buf_is_attached(&c->in) &&
        gw_buf_alloc_pooled(&c->in, c->buf_size, gw_conn_pool(c)) != 0) {
        return; /* UV_ENOBUFS: treated as an error in on_read */
    }
    if (gw_buf_space(&c->in) == 0) {
        gw_buf_compact(&c->in);
    }
    buf->base = (char *)c->in.last;
    buf->len = gw_buf_space(&c->in);
}

static void
gw_conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct gw_conn *c = s->data;

    (void)buf;
    if (c->closing) {
        return;
    }
    if (n == 0) {
        gw_conn_release_idle(c);
        return;
    }
    if (n < 0) {
        if (c->reading) {
            uv_read_stop(s);
            c->reading = false;
        }
        if (n != UV_EOF) {
            c->error = true;
            c->last_uv_error = (int)n;
        } else {
            c->read_eof = true;
        }
        c->ops->on_error(c, n == UV_EOF ? GW_E_EOF : GW_E_IO);
        return;
    }
    if (c->tls != NULL) {
        gw_conn_tls_on_cipher(c, (size_t)n);
        return;
    }
    c->in.last += n;
    c->bytes_in += (uint64_t)n;
    c->ops->on_read(c);
    if (!c->closing) {
        gw_conn_release_idle(c);
        gw_conn_update_read(c);
    }
}

void
gw_conn_consume(struct gw_conn *c, size_t n)
{
    gw_buf_consume(&c->in, n);
    gw_conn_release_idle(c);
    gw_conn_update_read(c);
    if (c->tls != NULL) {
        gw_conn_tls_rearm(c);
    }
}

/* Idle connections hold no buffers: release the empty ones. */
void
gw_conn_release_idle(struct gw_conn *c)
{
    if (gw_buf_is_attached(&c->in) && gw_buf_len(&c->in) == 0) {
        gw_buf_release_pooled(&c->in, gw_conn_pool(c));
    }
    if (gw_buf_is_attached(&c->out) && gw_buf_len(&c->out) == 0 &&
        c->in_flight == 0) {
        gw_buf_release_pooled(&c->out, gw_conn_pool(c));
    }
    if (c->tls != NULL) {
        gw_conn_tls_trim(c);
    }
}

struct gw_buf *
gw_conn_out(struct gw_conn *c)
{
    if (!gw_buf_is_attached(&c->out) &&
        gw_buf_alloc_pooled(&c->out, c->buf_size, gw_conn_pool(c)) != 0) {
        return NULL;
    }
    /* Bytes handed to uv_write must not move; compact only when idle. */
    if (c->in_flight == 0 && c->out.pos != c->out.start) {
        gw_buf_compact(&c->out);
    }
    return &c->out;
}

size_t
gw_conn_out_space(struct gw_conn *c)
{
    struct gw_buf *b = gw_conn_out(c);

    return b != NULL ? gw_buf_space(b) : 0;
}

int
gw_conn_write(struct gw_conn *c, const void *p, size_t len)
{
    struct gw_buf *b = gw_conn_out(c);

    if (b == NULL) {
        return GW_E_NOMEM;
    }
    if (gw_buf_space(b) < len) {
        return GW_E_LIMIT;
    }
    gw_buf_append(b, p, len);
    return 0;
}

size_t
gw_conn_pending_out(const struct gw_conn *c)
{
    size_t n = gw_buf_is_attached(&c->out) ? gw_buf_len(&c->out) : 0;

    return c->tls != NULL ? n + gw_conn_tls_pending_out(c) : n;
}

/*
 * A write failed where the caller cannot take an error callback (deep in
 * a flush that the owner started): reading stops (c->error), and the
 * owner hears of it on the next loop turn, through the timer, instead of
 * when some timeout would have passed minutes later.
 */
static void
gw_conn_write_failed(struct gw_conn *c, int uv_err)
{
    c->error = true;
    c->last_uv_error = uv_err;
    if (!c->closing) {
        uv_timer_start(&c->timer, gw_conn_on_timer, 0, 0);
    }
}

ssize_t
gw_conn_send(struct gw_conn *c, const uint8_t *p, size_t len)
{
    uv_write_t *req;
    uv_buf_t b;
    int n;

    /* Most writes (replies, and body bytes while the socket keeps up)
     * complete at once: then no buffer outlives this call, so a thousand
     * idle sessions answered in one loop turn hold no output memory. */
    b = uv_buf_init((char *)p, (unsigned int)len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN) {
        n = 0;
    } else if (n < 0) {
        gw_conn_write_failed(c, n);
        return -1;
    }
    if ((size_t)n == len) {
        return n;
    }
    /* The rest waits for the socket. Its request is allocated only now
     * (192 bytes that an idle connection does not carry); libuv calls
     * gw_conn_on_write for it even when the handle closes first. */
    b = uv_buf_init((char *)p + n, (unsigned int)(len - (size_t)n));
    req = gw_alloc(sizeof(*req));
    if (req == NULL) {
        gw_conn_write_failed(c, UV_ENOMEM);
        return -1;
    }
    req->data = c;
    n = uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, gw_conn_on_write);
    if (n != 0) {
        gw_free(req);
        gw_conn_write_failed(c, n);
        return -1;
    }
    c->in_flight = len - (size_t)n;
    return n;
}

void
gw_conn_flush(struct gw_conn *c)
{
    ssize_t n;

    if (c->closing || c->error || c->in_flight > 0) {
        return;
    }
    if (c->tls != NULL && gw_conn_tls_started(c)) {
        gw_conn_tls_flush(c);
        return;
    }
    /* plaintext, including the clear 220 before a TLS engine starts */
    if (!gw_buf_is_attached(&c->out) || gw_buf_len(&c->out) == 0) {
        return;
    }
    n = gw_conn_send(c, c->out.pos, gw_buf_len(&c->out));
    if (n < 0) {
        return;
    }
    c->bytes_out += (uint64_t)n;
    gw_buf_consume(&c->out, (size_t)n);
    if (c->in_flight > 0) {
        return;
    }
    if (c->tls != NULL) {
        gw_conn_tls_on_written(c, 0); /* the clear part is out: start TLS */
        return;
    }
    gw_conn_release_idle(c);
    if (c->close_when_flushed) {
        gw_conn_close(c);
    }
}

static void
gw_conn_on_write(uv_write_t *req, int status)
{
    struct gw_conn *c = req->data;
    size_t done = c->in_flight;

    gw_free(req);
    c->in_flight = 0;
    if (c->closing) {
        return; /* UV_ECANCELED after a close: only release the slot */
    }
    if (status != 0) {
        c->error = true;
        c->last_uv_error = status;
        c->ops->on_error(c, GW_E_IO);
        return;
    }
    if (c->tls != NULL) {
        gw_conn_tls_on_written(c, done);
        if (c->closing) {
            return;
        }
        if (c->close_when_flushed && gw_conn_pending_out(c) == 0) {
            gw_conn_close(c);
            return;
        }
        c->ops->on_drain(c);
        return;
    }
    c->bytes_out += done;
    gw_buf_consume(&c->out, done);
    if (c->close_when_flushed && gw_buf_len(&c->out) == 0) {
        gw_conn_close(c);
        return;
    }
    gw_conn_flush(c);
    gw_conn_release_idle(c);
    c->ops->on_drain(c);
}

void
gw_conn_timeout(struct gw_conn *c, uint64_t ms)
{
    if (c->closing || c->error) {
        return; /* a failed conn's timer reports the error (write_failed) */
    }
    if (ms == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, gw_conn_on_timer, ms, 0);
}

static void
gw_conn_on_timer(uv_timer_t *t)
{
    struct gw_conn *c = t->data;

    if (c->closing) {
        return;
    }
    c->ops->on_error(c, c->error ? GW_E_IO : GW_E_TIMEOUT);
}

void
gw_conn_close_after_flush(struct gw_conn *c)
{
    if (c->closing) {
        return;
    }
    gw_conn_want_read(c, false);
    gw_conn_tls_shutdown(c); /* close_notify, when TLS is up */
    if (gw_conn_pending_out(c) == 0 || c->error) {
        gw_conn_close(c);
        return;
    }
    c->close_when_flushed = true;
    gw_conn_flush(c);
}

void
gw_conn_close(struct gw_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    uv_timer_stop(&c->timer);
    c->pending_closes = 2 + gw_conn_tls_close(c);
    uv_close((uv_handle_t *)&c->tcp, gw_conn_on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, gw_conn_on_handle_closed);
}

void
gw_conn_on_handle_closed(uv_handle_t *h)
{
    struct gw_conn *c = h->data;

    if (--c->pending_closes > 0) {
        return;
    }
    if (gw_buf_is_attached(&c->in)) {
        gw_buf_release_pooled(&c->in, gw_conn_pool(c));
    }
    if (gw_buf_is_attached(&c->out)) {
        gw_buf_release_pooled(&c->out, gw_conn_pool(c));
    }
    gw_conn_tls_free(c);
    c->ops->on_closed(c); /* may free c */
}
