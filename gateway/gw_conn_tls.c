/*
 * The conn's TLS layer: drives a certs/ engine from the socket, following
 * the pump of certs/tls_engine.h (STYLE.md section 8): handshake first and
 * no plaintext either way before it completes; plaintext out into the
 * engine; plaintext in from the engine into the conn's input buffer;
 * ciphertext out with one write in flight; read interest from the engine's
 * free input space. Ciphertext read from the socket lands directly in the
 * engine's buffer (no copy). When the owner's input buffer filled while
 * the engine still holds plaintext, an idle handle brings the pump back,
 * since no socket event will come for bytes already read.
 */
#include <string.h>

#include "certs/tls_ctx.h"
#include "certs/tls_engine.h"
#include "gateway/gw_alloc.h"
#include "gateway/gw_conn_internal.h"
#include "gateway/gw_error.h"
#include "gateway/gw_str.h"

struct gw_conn_tls {
    struct tls_engine *engine; /* NULL until the clear output is out */
    struct tls_ctx *ctx;       /* for the deferred start */
    char server_name[256];
    uv_idle_t kick;            /* re-pumps plaintext held in the engine */
    bool kick_on;
    bool ready;                /* handshake completed */
    bool in_pump;              /* guards against re-entering the pump */
    char reason[192];
};

static void gw_conn_tls_pump(struct gw_conn *c);
static void gw_conn_tls_on_kick(uv_idle_t *h);
static void gw_conn_tls_fail(struct gw_conn *c, const char *what);

/* Ciphertext that may follow a PROXY header in the same read. */
#define GW_CONN_TLS_CARRY_MAX 4096

static bool
gw_conn_tls_begin(struct gw_conn *c)
{
    struct gw_conn_tls *t = c->tls;
    struct tls_engine_opts opts;
    struct tls_err err;

    memset(&opts, 0, sizeof(opts));
    opts.server_name = t->server_name[0] != '\0' ? t->server_name : NULL;
    t->engine = tls_engine_new(t->ctx, &opts, &err);
    tls_ctx_unref(t->ctx);
    t->ctx = NULL;
    if (t->engine == NULL) {
        gw_strlcpy(t->reason, err.msg, sizeof(t->reason));
        return false;
    }
    return true;
}

int
gw_conn_start_tls(struct gw_conn *c, struct tls_ctx *ctx,
                  const char *server_name)
{
    struct gw_conn_tls *t;

    if (c->closing || c->tls != NULL) {
        return GW_E_INVAL;
    }
    t = gw_calloc(1, sizeof(*t));
    if (t == NULL) {
        return GW_E_NOMEM;
    }
    c->tls = t;
    t->ctx = tls_ctx_ref(ctx);
    if (server_name != NULL) {
        gw_strlcpy(t->server_name, server_name, sizeof(t->server_name));
    }
    uv_idle_init(c->tcp.loop, &t->kick);
    t->kick.data = c;
    /* Input buffered so far is the owner's to discard; never TLS. */
    if (gw_buf_is_attached(&c->in)) {
        gw_buf_consume(&c->in, gw_buf_len(&c->in));
    }
    /* The clear output (the 220) goes first; the engine starts once it
     * is out (gw_conn_tls_on_written). */
    if (gw_buf_is_attached(&c->out) && gw_buf_len(&c->out) > 0) {
        gw_conn_update_read(c);
        return 0;
    }
    if (!gw_conn_tls_begin(c)) {
        return GW_E_IO;
    }
    gw_conn_tls_pump(c);
    return 0;
}

int
gw_conn_start_tls_buffered(struct gw_conn *c, struct tls_ctx *ctx)
{
    uint8_t carry[GW_CONN_TLS_CARRY_MAX];
    size_t n = 0;
    uint8_t *p = NULL;
    size_t room = 0;
    int rc;

    if (gw_buf_is_attached(&c->in)) {
        n = gw_buf_len(&c->in);
        if (n > sizeof(carry)) {
            return GW_E_LIMIT; /* more than a first flight: not TLS */
        }
        memcpy(carry, c->in.pos, n);
    }
    if (gw_buf_is_attached(&c->out) && gw_buf_len(&c->out) > 0) {
        return GW_E_INVAL;
    }
    rc = gw_conn_start_tls(c, ctx, NULL); /* drops c->in, starts the engine */
    if (rc != 0 || n == 0) {
        return rc;
    }
    tls_engine_in_reserve(c->tls->engine, &p, &room);
    if (room < n) {
        return GW_E_LIMIT;
    }
    memcpy(p, carry, n);
    c->bytes_in -= n; /* counted when they were read */
    gw_conn_tls_on_cipher(c, n);
    return 0;
}

bool
gw_conn_tls_started(const struct gw_conn *c)
{
    return c->tls != NULL && c->tls->engine != NULL;
}

bool
gw_conn_tls_active(const struct gw_conn *c)
{
    return c->tls != NULL && c->tls->ready;
}

const char *
gw_conn_tls_version(const struct gw_conn *c)
{
    return gw_conn_tls_active(c) ? tls_engine_version(c->tls->engine) : "";
}

const char *
gw_conn_tls_cipher(const struct gw_conn *c)
{
    return gw_conn_tls_active(c) ? tls_engine_cipher(c->tls->engine) : "";
}

const char *
gw_conn_tls_sni(const struct gw_conn *c)
{
    const char *s;

    if (!gw_conn_tls_active(c)) {
        return "";
    }
    s = tls_engine_sni(c->tls->engine);
    return s != NULL ? s : "";
}

const char *
gw_conn_tls_reason(const struct gw_conn *c)
{
    return c->tls != NULL ? c->tls->reason : "";
}

void
gw_conn_tls_alloc(struct gw_conn *c, uv_buf_t *buf)
{
    uint8_t *p = NULL;
    size_t n = 0;

    if (c->tls->engine != NULL) {
        tls_engine_in_reserve(c->tls->engine, &p, &n);
    }
    buf->base = (char *)p;
    buf->len = n;
}

bool
gw_conn_tls_can_read(const struct gw_conn *c)
{
    const struct gw_conn_tls *t = c->tls;

    if (t->engine == NULL || tls_engine_in_space(t->engine) == 0) {
        return false;
    }
    if (!t->ready) {
        return true; /* the handshake needs the peer's flight */
    }
    return !gw_buf_is_attached(&c->in) || gw_buf_space(&c->in) > 0 ||
           c->in.pos != c->in.start;
}

size_t
gw_conn_tls_pending_out(const struct gw_conn *c)
{
    return c->tls->engine != NULL ? tls_engine_out_len(c->tls->engine) : 0;
}

void
gw_conn_tls_rearm(struct gw_conn *c)
{
    struct gw_conn_tls *t = c->tls;

    if (t->engine != NULL && t->ready && !t->in_pump && !t->kick_on &&
        !c->closing && tls_engine_has_pending_plaintext(t->engine) &&
        gw_conn_tls_can_read(c)) {
        uv_idle_start(&t->kick, gw_conn_tls_on_kick);
        t->kick_on = true;
    }
}

void
gw_conn_tls_trim(struct gw_conn *c)
{
    if (c->tls->engine != NULL) {
        tls_engine_trim(c->tls->engine);
    }
}

void
gw_conn_tls_on_cipher(struct gw_conn *c, size_t n)
{
    if (c->tls->engine == NULL) {
        return; /* read before the engine started: impossible (no room) */
    }
    tls_engine_in_commit(c->tls->engine, n);
    c->bytes_in += n;
    gw_conn_tls_pump(c);
}

static void
gw_conn_tls_fail(struct gw_conn *c, const char *what)
{
    struct gw_conn_tls *t = c->tls;

    if (t->reason[0] == '\0') {
        gw_strlcpy(t->reason,
                   t->engine != NULL ? tls_engine_reason(t->engine) : what,
                   sizeof(t->reason));
    }
    c->error = true;
    c->ops->on_error(c, GW_E_IO);
}

/* Ciphertext out: one run of the ring at a time, one write in flight. */
static void
gw_conn_tls_send(struct gw_conn *c)
{
    struct tls_engine *e = c->tls->engine;
    const uint8_t *p;
    size_t n;
    ssize_t done;

    while (!c->closing && !c->error && c->in_flight == 0) {
        tls_engine_pending_out(e, &p, &n);
        if (n == 0) {
            return;
        }
        done = gw_conn_send(c, p, n);
        if (done < 0) {
            return;
        }
        c->bytes_out += (uint64_t)done; /* the rest: gw_conn_tls_on_written */
        tls_engine_consume_out(e, (size_t)done);
    }
}

/* Plaintext out: from the conn's output buffer into the engine. */
static bool
gw_conn_tls_out(struct gw_conn *c)
{
    struct tls_engine *e = c->tls->engine;
    size_t n;
    int rc;

    while (gw_buf_is_attached(&c->out) &&
           (gw_buf_len(&c->out) > 0 || tls_engine_write_blocked(e))) {
        rc = tls_engine_write(e, c->out.pos, gw_buf_len(&c->out), &n);
        if (rc == TLS_AGAIN) {
            gw_conn_tls_send(c);
            if (c->in_flight > 0 || tls_engine_out_len(e) > 0) {
                break; /* the socket must take some first */
            }
            continue;
        }
        if (rc != TLS_OK) {
            gw_conn_tls_fail(c, "write");
            return false;
        }
        gw_buf_consume(&c->out, n);
    }
    gw_conn_tls_send(c);
    return !c->error;
}

/* Plaintext in: from the engine into the conn's input buffer, then the
 * owner's on_read. Returns false when the conn failed or is closing. */
static bool
gw_conn_tls_in(struct gw_conn *c)
{
    struct gw_conn_tls *t = c->tls;
    size_t n;
    bool got = false;
    bool eof = false;
    int rc;

    if (c->read_eof) {
        return true; /* reported once; the peer may still read */
    }
    for (;;) {
        if (!gw_buf_is_attached(&c->in) &&
            gw_buf_alloc(&c->in, c->buf_size) != 0) {
            gw_conn_tls_fail(c, "out of memory");
            return false;
        }
        if (gw_buf_space(&c->in) == 0) {
            gw_buf_compact(&c->in);
        }
        if (gw_buf_space(&c->in) == 0) {
            break;
        }
        rc = tls_engine_read(t->engine, c->in.last, gw_buf_space(&c->in), &n);
        if (rc == TLS_OK) {
            c->in.last += n;
            got = true;
            continue;
        }
        if (rc == TLS_EOF) {
            eof = true;
        } else if (rc == TLS_ERR) {
            gw_conn_tls_fail(c, "read");
            return false;
        }
        break;
    }
    if (got) {
        c->ops->on_read(c); /* may close c */
        if (c->closing) {
            return false;
        }
    }
    if (eof) {
        c->read_eof = true;
        c->ops->on_error(c, GW_E_EOF);
        return false;
    }
    gw_conn_release_idle(c);
    return true;
}

static void
gw_conn_tls_pump(struct gw_conn *c)
{
    struct gw_conn_tls *t = c->tls;
    int rc;

    if (c->closing || c->error || t->engine == NULL || t->in_pump) {
        return;
    }
    t->in_pump = true;
    if (!t->ready) {
        rc = tls_engine_handshake(t->engine);
        if (rc == TLS_ERR) {
            gw_conn_tls_send(c); /* the alert, if it can go */
            t->in_pump = false;
            gw_conn_tls_fail(c, "handshake");
            return;
        }
        if (rc == TLS_OK) {
            t->ready = true;
            if (c->ops->on_tls_ready != NULL) {
                c->ops->on_tls_ready(c); /* may close c */
            }
        }
    }
    if (t->ready && !c->closing && gw_conn_tls_out(c)) {
        gw_conn_tls_in(c);
    }
    if (!c->closing && !c->error) {
        gw_conn_tls_send(c);
        /* bytes already read wait in the engine: come back for them (no
         * socket event will); the room test is gw_conn_tls_can_read's: a
         * detached buffer has room, and so has a compactable one */
        if (t->ready && tls_engine_has_pending_plaintext(t->engine) &&
            (!gw_buf_is_attached(&c->in) || gw_buf_space(&c->in) > 0 ||
             c->in.pos != c->in.start)) {
            if (!t->kick_on) {
                uv_idle_start(&t->kick, gw_conn_tls_on_kick);
                t->kick_on = true;
            }
        } else if (t->kick_on) {
            uv_idle_stop(&t->kick);
            t->kick_on = false;
        }
        gw_conn_update_read(c);
        gw_conn_release_idle(c); /* an idle TLS session keeps no buffer */
    }
    t->in_pump = false;
}

static void
gw_conn_tls_on_kick(uv_idle_t *h)
{
    struct gw_conn *c = h->data;

    if (c->closing) {
        return;
    }
    uv_idle_stop(h);
    c->tls->kick_on = false;
    gw_conn_tls_pump(c);
}

void
gw_conn_tls_flush(struct gw_conn *c)
{
    if (c->tls->engine == NULL) {
        /* still sending the clear 220: plain path */
        return;
    }
    if (c->tls->ready) {
        gw_conn_tls_out(c);
    } else {
        gw_conn_tls_send(c);
    }
}

void
gw_conn_tls_on_written(struct gw_conn *c, size_t n)
{
    struct gw_conn_tls *t = c->tls;

    if (t->engine == NULL) {
        /* the clear output before TLS: once it is out, start */
        c->bytes_out += n;
        if (gw_buf_is_attached(&c->out)) {
            gw_buf_consume(&c->out, n);
            if (gw_buf_len(&c->out) > 0) {
                gw_conn_flush(c);
                return;
            }
        }
        if (!gw_conn_tls_begin(c)) {
            gw_conn_tls_fail(c, "engine");
            return;
        }
        gw_conn_tls_pump(c);
        return;
    }
    c->bytes_out += n;
    tls_engine_consume_out(t->engine, n);
    gw_conn_tls_pump(c);
}

void
gw_conn_tls_shutdown(struct gw_conn *c)
{
    struct gw_conn_tls *t = c->tls;

    if (t != NULL && t->engine != NULL && t->ready) {
        gw_conn_tls_out(c); /* pending plaintext first */
        tls_engine_close_notify(t->engine);
        gw_conn_tls_send(c);
    }
}

unsigned
gw_conn_tls_close(struct gw_conn *c)
{
    if (c->tls == NULL) {
        return 0;
    }
    c->tls->kick.data = c;
    uv_close((uv_handle_t *)&c->tls->kick, gw_conn_on_handle_closed);
    return 1;
}

void
gw_conn_tls_free(struct gw_conn *c)
{
    if (c->tls == NULL) {
        return;
    }
    tls_engine_free(c->tls->engine);
    tls_ctx_unref(c->tls->ctx);
    gw_free(c->tls);
    c->tls = NULL;
}
