#include "gateway/gw_upstream.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_error.h"
#include "gateway/gw_log.h"
#include "gateway/gw_metrics.h"
#include "gateway/gw_proxy.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_str.h"
#include "gateway/gw_xclient.h"
#include "policy/policy.h"

#define GW_UP_STATES(X)                                                        \
    X(CONNECTING)                                                              \
    X(BANNER)                                                                  \
    X(EHLO)                                                                    \
    X(HELO)                                                                    \
    X(STARTTLS)                                                                \
    X(TLS)                                                                     \
    X(AUTH)                                                                    \
    X(XCLIENT)                                                                 \
    X(READY)                                                                   \
    X(QUIT)

#define GW_UP_STATE_ENUM(name) GW_UP_##name,
enum gw_up_state { GW_UP_STATES(GW_UP_STATE_ENUM) };
#undef GW_UP_STATE_ENUM

#define GW_UP_STATE_STR(name) #name,
static const char *const gw_up_state_names[] = {GW_UP_STATES(GW_UP_STATE_STR)};
#undef GW_UP_STATE_STR

struct gw_up_expect {
    enum gw_verb verb;
    bool eom;      /* the end-of-data reply (verb is DATA) */
    bool internal; /* our own command: not handed to the owner */
};

struct gw_upstream {
    struct gw_conn conn;
    uv_connect_t connect_req;
    uv_loop_t *loop;
    struct gw_config *cfg;
    const struct gw_upstream_cfg *ucfg;
    const struct gw_up_ops *ops;
    void *owner;            /* NULL once detached by gw_up_close */
    char sid[32];
    enum gw_up_state state;
    size_t addr_index;      /* address being tried or in use */
    bool retry_next;        /* on close: try the next address */
    bool in_body;           /* between DATA's 354 and the terminator */
    bool in_tx;             /* a MAIL was sent and not yet finished */
    bool corked;            /* commands wait in the buffer for uncork */
    bool tls_failed;        /* an address failed the TLS requirement */
    bool identified;        /* XCLIENT was sent: this session belongs to
                               one client (never pooled) */
    uint64_t ident_hash;    /* of the XCLIENT lines last sent */
    struct gw_ident_lines *xclient; /* being sent, else NULL */
    char xclient_helo[GW_MAX_DOMAIN + 1]; /* the client's HELO: the EHLO
                               after XCLIENT says it again, or the upstream
                               would take ours in its place */
    uint8_t proxy_hdr[GW_PROXY_OUT_MAX]; /* the client's PROXY header */
    size_t proxy_len;       /* 0: none set (a LOCAL one if the block
                               sends PROXY headers) */
    size_t xclient_next;    /* the next line to send */
    bool authed;            /* AUTH succeeded on this connection */
    bool xclient_done;      /* the upstream took XCLIENT: it speaks for
                               the client now, no AUTH of our own */
    bool xclient_refused;   /* and it said no: not asked again */
    unsigned auth_step;     /* LOGIN: 0 user sent next, 1 password next */
    char fail_detail[160];  /* why the last address failed, for the log */
    uint64_t started_ms;    /* for the connect latency histogram */
    struct gw_caps caps;
    struct gw_line_reader lines;
    struct gw_reply_parser replies;
    size_t fifo_head;
    size_t fifo_count;
    size_t fifo_cap;
    struct gw_up_expect fifo[]; /* fifo_cap entries */
};

static void gw_up_on_read(struct gw_conn *c);
static void gw_up_on_drain(struct gw_conn *c);
static void gw_up_on_error(struct gw_conn *c, int err);
static void gw_up_on_connect(struct gw_conn *c, int status);
static void gw_up_on_closed(struct gw_conn *c);
static void gw_up_on_tls_ready(struct gw_conn *c);
static void gw_up_tls_failed(struct gw_upstream *u, enum gw_metric why,
                             const char *detail);
static enum gw_metric gw_up_tls_reason(const char *reason);
static void gw_up_connect_next(struct gw_upstream *u);
static void gw_up_enter(struct gw_upstream *u, enum gw_up_state st);
static bool gw_up_has_unsolicited(const struct gw_upstream *u);
static bool gw_up_wants_starttls(const struct gw_upstream *u);
static void gw_up_on_reply(struct gw_upstream *u, const struct gw_reply *r);
static void gw_up_on_tx_reply(struct gw_upstream *u,
                              const struct gw_reply *r);
static void gw_up_setup_failed(struct gw_upstream *u, const char *detail);
static void gw_up_fail(struct gw_upstream *u, enum gw_up_fail why,
                       const char *detail);
static void gw_up_arm_timer(struct gw_upstream *u);
static void gw_up_on_xclient_reply(struct gw_upstream *u,
                                   const struct gw_reply *r);
static void gw_up_ready(struct gw_upstream *u);
static int gw_up_write(struct gw_upstream *u, const char *line, size_t len,
                       bool secret);
static bool gw_up_send_proxy(struct gw_upstream *u);
static void gw_up_login(struct gw_upstream *u);
static void gw_up_on_auth_reply(struct gw_upstream *u,
                                const struct gw_reply *r);
static int gw_up_write_line(struct gw_upstream *u, const char *line,
                            size_t len);

static const struct gw_conn_ops gw_up_conn_ops = {
    .on_read = gw_up_on_read,
    .on_drain = gw_up_on_drain,
    .on_error = gw_up_on_error,
    .on_connect = gw_up_on_connect,
    .on_closed = gw_up_on_closed,
    .on_tls_ready = gw_up_on_tls_ready,
};

struct gw_upstream *
gw_up_new(uv_loop_t *loop, struct gw_config *cfg,
          const struct gw_upstream_cfg *ucfg, const struct gw_up_ops *ops,
          void *owner, const char *sid)
{
    struct gw_upstream *u;
    size_t cap = cfg->limits.pipeline_depth;

    u = gw_calloc(1, sizeof(*u) + cap * sizeof(u->fifo[0]));
    if (u == NULL) {
        return NULL;
    }
    u->loop = loop;
    u->cfg = cfg;
    gw_config_ref(cfg);
    u->ucfg = ucfg;
    u->ops = ops;
    u->owner = owner;
    u->fifo_cap = cap;
    gw_strlcpy(u->sid, sid, sizeof(u->sid));
    u->addr_index = 0;
    u->started_ms = uv_hrtime() / 1000000u;
    gw_up_connect_next(u);
    return u;
}

bool
gw_up_is_ready(const struct gw_upstream *u)
{
    return u->state == GW_UP_READY;
}

bool
gw_up_is_idle(const struct gw_upstream *u)
{
    return u->state == GW_UP_READY && u->fifo_count == 0 && !u->in_tx &&
           !u->in_body && !u->conn.error && !u->conn.closing &&
           !u->identified;
}

bool
gw_up_serves(const struct gw_upstream *u, const struct gw_config *cfg,
             const struct gw_upstream_cfg *ucfg)
{
    return u->cfg == cfg && u->ucfg == ucfg;
}

const struct gw_upstream_cfg *
gw_up_block(const struct gw_upstream *u)
{
    return u->ucfg;
}

void
gw_up_set_owner(struct gw_upstream *u, const struct gw_up_ops *ops,
                void *owner, const char *sid)
{
    gw_up_uncork(u); /* a new owner never inherits a cork */
    u->ops = ops;
    u->owner = owner;
    gw_strlcpy(u->sid, sid, sizeof(u->sid));
}

void
gw_up_cork(struct gw_upstream *u)
{
    u->corked = true;
}

void
gw_up_uncork(struct gw_upstream *u)
{
    if (u->corked) {
        u->corked = false;
        gw_conn_flush(&u->conn);
    }
}

const struct gw_caps *
gw_up_caps(const struct gw_upstream *u)
{
    return &u->caps;
}

const char *
gw_up_addr(const struct gw_upstream *u)
{
    return u->ucfg->addrs[u->addr_index].text;
}

size_t
gw_up_pending(const struct gw_upstream *u)
{
    return u->fifo_count;
}

size_t
gw_up_pending_replies(const struct gw_upstream *u)
{
    size_t i;
    size_t n = 0;

    for (i = 0; i < u->fifo_count; i++) {
        if (!u->fifo[(u->fifo_head + i) % u->fifo_cap].internal) {
            n++;
        }
    }
    return n;
}

size_t
gw_up_window(const struct gw_upstream *u)
{
    return gw_caps_has(&u->caps, GW_CAP_PIPELINING) ? u->fifo_cap : 1;
}

/* Starts a connection to ucfg->addrs[addr_index] with a fresh conn. */
static void
gw_up_connect_next(struct gw_upstream *u)
{
    const struct gw_sockaddr *a = &u->ucfg->addrs[u->addr_index];

    gw_conn_init(&u->conn, u->loop, &gw_up_conn_ops, u,
                 u->cfg->limits.buffer_size);
    gw_line_reader_init(&u->lines, u->cfg->limits.reply_line);
    gw_reply_parser_init(&u->replies, u->cfg->limits.reply_lines);
    memset(&u->caps, 0, sizeof(u->caps));
    u->retry_next = false;
    gw_up_enter(u, GW_UP_CONNECTING);
    if (gw_conn_connect(&u->conn, &u->connect_req,
                        (const struct sockaddr *)&a->ss) != 0) {
        gw_up_setup_failed(u, "connect() failed");
        return;
    }
    gw_conn_timeout(&u->conn, u->ucfg->connect_timeout_ms);
}

static void
gw_up_enter(struct gw_upstream *u, enum gw_up_state st)
{
    if (gw_log_enabled(GW_LOG_TRACE)) {
        gw_log(GW_LOG_TRACE, u->sid, "event=upstream_state from=%s to=%s",
               gw_up_state_names[u->state], gw_up_state_names[st]);
    }
    u->state = st;
}

static void
gw_up_on_connect(struct gw_conn *c, int status)
{
    struct gw_upstream *u = c->owner;

    if (status != 0) {
        char detail[96];

        snprintf(detail, sizeof(detail), "connect: %s",
                 uv_strerror(c->last_uv_error));
        gw_up_setup_failed(u, detail);
        return;
    }
    if (u->ucfg->proxy_protocol != GW_UP_PROXY_NONE && !gw_up_send_proxy(u)) {
        gw_up_setup_failed(u, "cannot write the PROXY header");
        return;
    }
    gw_up_enter(u, GW_UP_BANNER);
    gw_conn_timeout(c, u->cfg->timeouts.upstream_greeting);
    gw_conn_want_read(c, true);
}

/* The PROXY header goes before any SMTP byte: the client's, or LOCAL /
 * UNKNOWN for a connection of Postern's own (a capability probe). */
static bool
gw_up_send_proxy(struct gw_upstream *u)
{
    int version = u->ucfg->proxy_protocol == GW_UP_PROXY_V1 ? 1 : 2;
    struct gw_buf *b = gw_conn_out(&u->conn);
    uint8_t local[GW_PROXY_OUT_MAX];
    const uint8_t *p = u->proxy_hdr;
    size_t n = u->proxy_len;

    if (n == 0) {
        /* v2 has LOCAL; v1's "PROXY UNKNOWN" is refused by Postfix 3.7,
         * so v1 names this connection's own two ends (what HAProxy's
         * health checks send) */
        struct sockaddr_storage self;
        struct sockaddr_storage peer;
        int sl = (int)sizeof(self);
        int pl = (int)sizeof(peer);
        bool ends = version == 1 &&
                    uv_tcp_getsockname(&u->conn.tcp, (struct sockaddr *)&self,
                                       &sl) == 0 &&
                    uv_tcp_getpeername(&u->conn.tcp, (struct sockaddr *)&peer,
                                       &pl) == 0;

        p = local;
        n = gw_proxy_format(local, sizeof(local), version,
                            ends ? (struct sockaddr *)&self : NULL,
                            ends ? (struct sockaddr *)&peer : NULL);
    }
    if (b == NULL || n == 0 || gw_buf_space(b) < n) {
        return false;
    }
    gw_buf_append(b, p, n);
    gw_conn_flush(&u->conn);
    return true;
}

void
gw_up_set_client(struct gw_upstream *u, const struct sockaddr *src,
                 const struct sockaddr *dst)
{
    int version = u->ucfg->proxy_protocol == GW_UP_PROXY_V1 ? 1 : 2;

    u->proxy_len = gw_proxy_format(u->proxy_hdr, sizeof(u->proxy_hdr),
                                   version, src, dst);
    u->identified = true; /* never pooled for another client */
}

/*
 * A failure before READY: try the next address once this conn is closed,
 * or report GW_UP_FAIL_CONNECT when none is left.
 */
static void
gw_up_setup_failed(struct gw_upstream *u, const char *detail)
{
    gw_log(GW_LOG_WARN, u->sid,
           "event=upstream_unusable upstream=%s addr=%s state=%s error=\"%s\"",
           u->ucfg->name, gw_up_addr(u), gw_up_state_names[u->state], detail);
    gw_strlcpy(u->fail_detail, detail, sizeof(u->fail_detail));
    gw_metric_inc(GW_M_upstream_connect_failures_total);
    /* Once XCLIENT went out, the session was the client's: another
     * address would get the transaction without it (the owner has moved
     * past identifying). Fail it; the client retries. */
    if (u->xclient != NULL || u->xclient_done) {
        gw_up_fail(u, GW_UP_FAIL_LOST, detail);
        return;
    }
    if (u->owner != NULL && u->addr_index + 1 < u->ucfg->naddrs) {
        u->retry_next = true;
        gw_conn_close(&u->conn);
        return;
    }
    gw_up_fail(u, u->tls_failed ? GW_UP_FAIL_TLS : GW_UP_FAIL_CONNECT, detail);
}

/* Tells the owner (once), detaches it, and closes. */
static void
gw_up_fail(struct gw_upstream *u, enum gw_up_fail why, const char *detail)
{
    const struct gw_up_ops *ops = u->ops;
    void *owner = u->owner;

    u->owner = NULL;
    u->retry_next = false;
    if (why == GW_UP_FAIL_PROTOCOL) {
        gw_metric_inc(GW_M_upstream_protocol_errors_total);
    }
    gw_conn_close(&u->conn);
    if (owner != NULL) {
        ops->on_fail(u, owner, why, detail);
    }
}

static void
gw_up_on_closed(struct gw_conn *c)
{
    struct gw_upstream *u = c->owner;

    if (u->retry_next && u->owner != NULL) {
        u->addr_index++;
        gw_up_connect_next(u);
        return;
    }
    gw_free(u->xclient);
    gw_config_unref(u->cfg);
    gw_free(u);
}

static void
gw_up_on_error(struct gw_conn *c, int err)
{
    struct gw_upstream *u = c->owner;
    char detail[96];

    if (err == GW_E_TIMEOUT) {
        snprintf(detail, sizeof(detail), "timeout in state %s",
                 gw_up_state_names[u->state]);
    } else if (err == GW_E_EOF) {
        snprintf(detail, sizeof(detail), "connection closed in state %s",
                 gw_up_state_names[u->state]);
    } else {
        /* uv_strerror allocates for codes it does not know (0 here:
         * a TLS failure, not a socket one) */
        snprintf(detail, sizeof(detail), "%s in state %s",
                 c->last_uv_error < 0 ? uv_strerror(c->last_uv_error)
                                      : "I/O or TLS error",
                 gw_up_state_names[u->state]);
    }
    if (u->state == GW_UP_TLS || u->state == GW_UP_STARTTLS) {
        const char *why = gw_conn_tls_reason(c)[0] != '\0'
                              ? gw_conn_tls_reason(c)
                              : detail;

        gw_up_tls_failed(u, gw_up_tls_reason(why), why);
        return;
    }
    if (u->state < GW_UP_READY) {
        gw_up_setup_failed(u, detail);
        return;
    }
    if (u->state == GW_UP_QUIT) {
        gw_conn_close(c);
        return;
    }
    if (u->fifo_count == 0 && !u->in_body) {
        /* nothing was pending: the upstream went idle or timed out idle */
        gw_up_fail(u, GW_UP_FAIL_IDLE, detail);
        return;
    }
    gw_up_fail(u, err == GW_E_TIMEOUT ? GW_UP_FAIL_TIMEOUT : GW_UP_FAIL_LOST,
               detail);
}

static void
gw_up_on_drain(struct gw_conn *c)
{
    struct gw_upstream *u = c->owner;

    if (u->in_body) {
        gw_up_arm_timer(u);
    }
    if (u->owner != NULL) {
        u->ops->on_drain(u, u->owner);
    }
}

static void
gw_up_on_read(struct gw_conn *c)
{
    struct gw_upstream *u = c->owner;
    struct gw_line line;
    int rc;

    while (!c->closing && gw_buf_is_attached(&c->in)) {
        rc = gw_line_next(&u->lines, c->in.pos, gw_buf_len(&c->in), &line);
        if (rc == GW_PARSE_AGAIN) {
            if (line.consumed == 0) {
                return;
            }
            gw_conn_consume(c, line.consumed);
            continue;
        }
        if (rc == GW_PARSE_TOOLONG) {
            gw_up_fail(u, GW_UP_FAIL_PROTOCOL, "reply line too long");
            return;
        }
        rc = gw_reply_parser_feed(&u->replies, line.p, line.len);
        if (u->state == GW_UP_EHLO && rc != GW_PARSE_INVALID &&
            u->replies.reply.nlines >= 2 && u->replies.reply.code == 250) {
            gw_caps_parse_line(&u->caps, u->replies.line_text,
                               u->replies.line_text_len);
        }
        gw_conn_consume(c, line.consumed);
        if (rc == GW_PARSE_AGAIN) {
            continue;
        }
        if (rc != GW_PARSE_OK) {
            gw_up_fail(u, GW_UP_FAIL_PROTOCOL,
                       rc == GW_PARSE_TOOLONG ? "too many reply lines"
                                              : "malformed reply");
            return;
        }
        gw_up_on_reply(u, &u->replies.reply); /* may close u */
    }
}

/*
 * During setup we send one command and wait: bytes that follow a complete
 * reply in the same read were never asked for (an injected reply would
 * otherwise be taken as the answer to our next command).
 */
static bool
gw_up_has_unsolicited(const struct gw_upstream *u)
{
    return gw_buf_is_attached(&u->conn.in) && gw_buf_len(&u->conn.in) > 0;
}

/* TLS is configured for this upstream and not up yet. */
static bool
gw_up_wants_starttls(const struct gw_upstream *u)
{
    return u->ucfg->tls != GW_UP_TLS_NONE && u->ucfg->tls_ctx != NULL &&
           !gw_conn_tls_active(&u->conn);
}

static void
gw_up_tls_failed(struct gw_upstream *u, enum gw_metric why,
                 const char *detail)
{
    u->tls_failed = true;
    gw_metric_inc(why);
    gw_up_setup_failed(u, detail);
}

/* A failed handshake: the certificate (chain, name, pin), or the rest. */
static enum gw_metric
gw_up_tls_reason(const char *reason)
{
    return strstr(reason, "verify failed") != NULL ||
                   strstr(reason, "pin_sha256") != NULL
               ? GW_M_tls_fail_upstream_verify
               : GW_M_tls_fail_upstream_handshake;
}

static void
gw_up_on_tls_ready(struct gw_conn *c)
{
    struct gw_upstream *u = c->owner;
    char line[GW_MAX_DOMAIN + 8];
    int n;

    gw_log(GW_LOG_DEBUG, u->sid, "event=upstream_tls addr=%s version=%s "
           "cipher=%s", gw_up_addr(u), gw_conn_tls_version(c),
           gw_conn_tls_cipher(c));
    gw_metric_inc(strcmp(gw_conn_tls_version(c), "TLSv1.3") == 0
                      ? GW_M_tls_ok_upstream_13
                      : GW_M_tls_ok_upstream_12);
    /* RFC 3207 4.2: forget the old list, ask again over TLS */
    memset(&u->caps, 0, sizeof(u->caps));
    gw_reply_parser_init(&u->replies, u->cfg->limits.reply_lines);
    n = snprintf(line, sizeof(line), "EHLO %s", u->ucfg->helo_name);
    gw_up_write_line(u, line, (size_t)n);
    gw_up_enter(u, GW_UP_EHLO);
    gw_conn_timeout(c, u->cfg->timeouts.upstream_mail);
}

static void
gw_up_on_reply(struct gw_upstream *u, const struct gw_reply *r)
{
    char line[GW_MAX_DOMAIN + 8];
    int n;

    switch (u->state) {
    case GW_UP_BANNER:
        if (r->code != 220) {
            gw_up_setup_failed(u, "banner was not 220");
            return;
        }
        if (gw_up_has_unsolicited(u)) {
            gw_up_setup_failed(u, "data after the banner before EHLO");
            return;
        }
        n = snprintf(line, sizeof(line), "EHLO %s", u->ucfg->helo_name);
        gw_up_write_line(u, line, (size_t)n);
        gw_up_enter(u, GW_UP_EHLO);
        gw_conn_timeout(&u->conn, u->cfg->timeouts.upstream_mail);
        return;
    case GW_UP_EHLO:
    case GW_UP_HELO:
        if (gw_up_has_unsolicited(u)) {
            gw_up_setup_failed(u, "data after the EHLO reply");
            return;
        }
        if (r->code == 250 && gw_up_wants_starttls(u)) {
            if (!gw_caps_has(&u->caps, GW_CAP_STARTTLS)) {
                if (u->ucfg->tls == GW_UP_TLS_MAY) {
                    gw_log(GW_LOG_INFO, u->sid, "event=upstream_plaintext "
                           "addr=%s reason=\"no STARTTLS offered\" tls=may",
                           gw_up_addr(u));
                } else {
                    /* never plaintext when TLS is required: this is what
                     * defeats STARTTLS stripping */
                    gw_up_tls_failed(u, GW_M_tls_fail_upstream_not_offered,
                                     "STARTTLS not offered");
                    return;
                }
            } else {
                gw_up_write_line(u, "STARTTLS", 8);
                gw_up_enter(u, GW_UP_STARTTLS);
                return;
            }
        }
        if (r->code == 250) {
            u->caps.known = true;
            if (!u->identified) { /* not the EHLO after XCLIENT */
                gw_metric_inc(GW_M_upstream_sessions_total);
                gw_metric_latency(uv_hrtime() / 1000000u - u->started_ms);
            }
            gw_up_login(u);
            return;
        }
        if (u->state == GW_UP_EHLO && r->code / 100 == 5) {
            memset(&u->caps, 0, sizeof(u->caps));
            n = snprintf(line, sizeof(line), "HELO %s", u->ucfg->helo_name);
            gw_up_write_line(u, line, (size_t)n);
            gw_up_enter(u, GW_UP_HELO);
            return;
        }
        gw_up_setup_failed(u, "EHLO/HELO refused");
        return;
    case GW_UP_STARTTLS:
        if (r->code != 220) {
            if (u->ucfg->tls == GW_UP_TLS_MAY) {
                /* RFC 3207 4: the session goes on in the clear */
                gw_log(GW_LOG_INFO, u->sid, "event=upstream_plaintext "
                       "addr=%s reason=\"STARTTLS refused (%d)\" tls=may",
                       gw_up_addr(u), r->code);
                u->caps.known = true;
                gw_up_login(u);
                return;
            }
            gw_up_tls_failed(u, GW_M_tls_fail_upstream_refused,
                             "STARTTLS refused");
            return;
        }
        if (gw_up_has_unsolicited(u)) {
            /* replies queued behind the 220 would be read as if they came
             * over TLS (response injection): drop them */
            gw_log(GW_LOG_WARN, u->sid, "event=upstream_starttls_injection "
                   "bytes=%zu action=discarded", gw_buf_len(&u->conn.in));
            gw_conn_consume(&u->conn, gw_buf_len(&u->conn.in));
        }
        gw_up_enter(u, GW_UP_TLS);
        if (gw_conn_start_tls(&u->conn, u->ucfg->tls_ctx,
                              u->ucfg->server_name[0] != '\0'
                                  ? u->ucfg->server_name
                                  : NULL) != 0) {
            gw_up_tls_failed(u, GW_M_tls_fail_upstream_handshake,
                             gw_conn_tls_reason(&u->conn));
        }
        return;
    case GW_UP_TLS:
        break;
    case GW_UP_XCLIENT:
        gw_up_on_xclient_reply(u, r);
        return;
    case GW_UP_AUTH:
        gw_up_on_auth_reply(u, r);
        return;
    case GW_UP_READY:
        gw_up_on_tx_reply(u, r);
        return;
    case GW_UP_QUIT:
        gw_conn_close(&u->conn);
        return;
    case GW_UP_CONNECTING:
        break;
    }
    gw_up_fail(u, GW_UP_FAIL_PROTOCOL, "reply in an unexpected state");
}

/* Does `code` make sense as the reply to this command? */
static bool
gw_up_class_ok(const struct gw_up_expect *e, int code)
{
    int cls = code / 100;

    if (cls == 4 || cls == 5) {
        return true;
    }
    if (e->verb == GW_VERB_DATA && !e->eom) {
        return code == 354;
    }
    if (e->verb == GW_VERB_AUTH) {
        return cls == 2 || code == 334; /* a relayed SASL exchange */
    }
    return cls == 2;
}

static void
gw_up_on_tx_reply(struct gw_upstream *u, const struct gw_reply *r)
{
    struct gw_up_expect e;
    char detail[96];

    if (u->fifo_count == 0) {
        gw_up_fail(u, r->code == 421 ? GW_UP_FAIL_LOST : GW_UP_FAIL_PROTOCOL,
                   r->code == 421 ? "upstream sent 421"
                                  : "reply without a command");
        return;
    }
    e = u->fifo[u->fifo_head];
    if (!gw_up_class_ok(&e, r->code)) {
        /* the command stays pending, so its owner answers it with 4xx */
        snprintf(detail, sizeof(detail), "unexpected %d to %s%s", r->code,
                 gw_verb_name(e.verb), e.eom ? " end of data" : "");
        gw_up_fail(u, GW_UP_FAIL_PROTOCOL, detail);
        return;
    }
    if (r->code == 421) {
        /* The upstream is closing: everything pending fails as lost. */
        gw_up_fail(u, GW_UP_FAIL_LOST, "upstream sent 421");
        return;
    }
    u->fifo_head = (u->fifo_head + 1) % u->fifo_cap;
    u->fifo_count--;
    if (e.verb == GW_VERB_DATA && !e.eom) {
        u->in_body = (r->code == 354);
    }
    if ((e.verb == GW_VERB_MAIL && r->code / 100 != 2) || e.eom ||
        e.verb == GW_VERB_RSET) {
        u->in_tx = false;
    }
    gw_up_arm_timer(u);
    if (e.internal && e.verb == GW_VERB_BDAT && r->code / 100 != 2 &&
        u->owner != NULL) {
        /* a piece of a re-chunked BDAT: RFC 3030 2 makes the transaction
         * failed, so the owner must stop sending (it is told as a reply) */
        u->ops->on_reply(u, u->owner, e.verb, false, r); /* may close u */
        return;
    }
    if (e.internal) {
        if (r->code / 100 != 2 && e.verb == GW_VERB_RSET) {
            gw_up_fail(u, GW_UP_FAIL_PROTOCOL, "RSET refused");
            return;
        }
        if (r->code / 100 != 2) { /* XFORWARD: go on without it */
            gw_log(GW_LOG_WARN, u->sid, "event=upstream_xforward_refused "
                   "addr=%s code=%d", gw_up_addr(u), r->code);
        }
        /* the owner may have waited for this reply before going on */
        if (u->owner != NULL) {
            u->ops->on_drain(u, u->owner); /* may close u */
        }
        return;
    }
    if (u->owner != NULL) {
        u->ops->on_reply(u, u->owner, e.verb, e.eom, r); /* may close u */
    }
}

/* The timer follows what we wait for: the head command's reply, the body's
 * writes, or nothing (idle). */
static void
gw_up_arm_timer(struct gw_upstream *u)
{
    const struct gw_timeouts_cfg *t = &u->cfg->timeouts;
    const struct gw_up_expect *e;

    if (u->fifo_count > 0) {
        e = &u->fifo[u->fifo_head];
        switch (e->verb) {
        case GW_VERB_RCPT:
            gw_conn_timeout(&u->conn, t->upstream_rcpt);
            return;
        case GW_VERB_BDAT:
            gw_conn_timeout(&u->conn, e->eom ? t->upstream_data_end
                                             : t->upstream_data_block);
            return;
        case GW_VERB_DATA:
            gw_conn_timeout(&u->conn, e->eom ? t->upstream_data_end
                                             : t->upstream_data);
            return;
        default:
            gw_conn_timeout(&u->conn, t->upstream_mail);
            return;
        }
    }
    if (u->in_body) {
        /* waiting on the client is not the upstream's fault */
        gw_conn_timeout(&u->conn, gw_conn_pending_out(&u->conn) > 0
                                      ? t->upstream_data_block
                                      : 0);
        return;
    }
    /* Inside a transaction the client may think for as long as its own
     * command timeout allows; the upstream waits with the same patience. */
    gw_conn_timeout(&u->conn, u->in_tx ? t->upstream_mail : t->upstream_idle);
}

/* Queues one command line (CRLF added) and flushes unless corked. A
 * `secret` line (a SASL exchange: credentials) is never written to the
 * trace log. */
static int
gw_up_write(struct gw_upstream *u, const char *line, size_t len, bool secret)
{
    struct gw_buf *b = gw_conn_out(&u->conn);

    if (b == NULL) {
        return GW_E_NOMEM;
    }
    if (gw_buf_space(b) < len + 2) {
        return GW_E_LIMIT;
    }
    gw_buf_append(b, line, len);
    gw_buf_append(b, "\r\n", 2);
    if (gw_log_enabled(GW_LOG_TRACE)) {
        char esc[128];

        if (secret) {
            gw_log(GW_LOG_TRACE, u->sid, "event=upstream_send line=\"(AUTH "
                   "credentials, not logged)\"");
        } else {
            gw_str_escape(esc, sizeof(esc), (const uint8_t *)line, len);
            gw_log(GW_LOG_TRACE, u->sid, "event=upstream_send line=\"%s\"",
                   esc);
        }
    }
    if (!u->corked) {
        gw_conn_flush(&u->conn);
    }
    return 0;
}

static int
gw_up_write_line(struct gw_upstream *u, const char *line, size_t len)
{
    return gw_up_write(u, line, len, false);
}

static int
gw_up_push(struct gw_upstream *u, enum gw_verb verb, bool eom, bool internal)
{
    size_t tail;

    if (u->fifo_count >= u->fifo_cap) {
        return GW_E_LIMIT;
    }
    tail = (u->fifo_head + u->fifo_count) % u->fifo_cap;
    u->fifo[tail].verb = verb;
    u->fifo[tail].eom = eom;
    u->fifo[tail].internal = internal;
    u->fifo_count++;
    if (u->fifo_count == 1) {
        gw_up_arm_timer(u);
    }
    return 0;
}

int
gw_up_send(struct gw_upstream *u, enum gw_verb verb, bool internal,
           const char *line, size_t len)
{
    int rc;

    /* inside an open DATA stream a command line would be message content
     * (a RSET between bridged BDAT chunks, say): the caller must close */
    if (u->state != GW_UP_READY || u->in_body ||
        u->fifo_count >= gw_up_window(u)) {
        return GW_E_LIMIT;
    }
    /* a relayed SASL exchange carries the client's credentials */
    rc = gw_up_write(u, line, len, verb == GW_VERB_AUTH);
    if (rc != 0) {
        return rc;
    }
    if (verb == GW_VERB_MAIL) {
        u->in_tx = true;
    }
    return gw_up_push(u, verb, false, internal);
}

struct gw_buf *
gw_up_body_out(struct gw_upstream *u)
{
    return gw_conn_out(&u->conn);
}

void
gw_up_flush(struct gw_upstream *u)
{
    gw_conn_flush(&u->conn);
    if (u->in_body) {
        gw_up_arm_timer(u);
    }
}

int
gw_up_expect(struct gw_upstream *u, enum gw_verb verb, bool eom,
             bool internal)
{
    int rc;

    if (u->state != GW_UP_READY) {
        return GW_E_LIMIT;
    }
    if (eom) {
        u->in_body = false;
    }
    rc = gw_up_push(u, verb, eom, internal);
    gw_conn_flush(&u->conn);
    return rc;
}

void
gw_up_close(struct gw_upstream *u, bool polite)
{
    u->owner = NULL;
    u->retry_next = false;
    u->corked = false; /* the QUIT below, or nothing, flushes the rest */
    if (u->conn.closing) {
        return;
    }
    /* Never a QUIT inside the body: it would become message content. */
    if (polite && u->state == GW_UP_READY && !u->in_body && !u->conn.error &&
        gw_up_write_line(u, "QUIT", 4) == 0) {
        gw_up_enter(u, GW_UP_QUIT);
        gw_conn_timeout(&u->conn, 10 * 1000);
        gw_conn_close_after_flush(&u->conn);
        return;
    }
    gw_conn_close(&u->conn);
}

/* ---- the client's identity (XCLIENT, XFORWARD) ---------------------- */

static void
gw_up_ready(struct gw_upstream *u)
{
    gw_up_enter(u, GW_UP_READY);
    gw_up_arm_timer(u);
    if (u->owner != NULL) {
        u->ops->on_ready(u, u->owner);
    }
}

/* FNV-1a over the lines: has this identity been sent already? */
static uint64_t
gw_up_ident_hash(const struct gw_ident_lines *x)
{
    uint64_t h = GW_FNV1A_INIT;
    size_t i;

    for (i = 0; i < x->n; i++) {
        h = gw_fnv1a(h, x->line[i], strlen(x->line[i]));
        h = gw_fnv1a(h, "\n", 1);
    }
    return h;
}

static void
gw_up_xclient_done(struct gw_upstream *u)
{
    gw_free(u->xclient);
    u->xclient = NULL;
    u->xclient_next = 0;
}

/* Each XCLIENT line is answered with a new 220 greeting (Postfix's
 * XCLIENT_README); after the last, the session starts over with EHLO. */
static void
gw_up_on_xclient_reply(struct gw_upstream *u, const struct gw_reply *r)
{
    char line[GW_MAX_DOMAIN + 8];
    const char *next;
    int n;

    if (gw_up_has_unsolicited(u)) {
        gw_up_xclient_done(u);
        gw_up_fail(u, GW_UP_FAIL_PROTOCOL, "data after the XCLIENT reply");
        return;
    }
    if (r->code != 220) {
        /* not authorised (550), or a syntax the upstream dislikes: the
         * session goes on as Postern's own, which is what it was */
        gw_log(GW_LOG_WARN, u->sid, "event=upstream_xclient_refused addr=%s "
               "code=%d", gw_up_addr(u), r->code);
        u->xclient_refused = true;
        gw_up_xclient_done(u);
        gw_up_ready(u);
        return;
    }
    u->identified = true;
    u->xclient_done = true;
    if (u->xclient_next < u->xclient->n) {
        next = u->xclient->line[u->xclient_next++];
        gw_up_write_line(u, next, strlen(next));
        return;
    }
    gw_up_xclient_done(u);
    memset(&u->caps, 0, sizeof(u->caps));
    n = snprintf(line, sizeof(line), "EHLO %s",
                 u->xclient_helo[0] != '\0' ? u->xclient_helo
                                            : u->ucfg->helo_name);
    gw_up_write_line(u, line, (size_t)n);
    gw_up_enter(u, GW_UP_EHLO);
    gw_conn_timeout(&u->conn, u->cfg->timeouts.upstream_mail);
}

/* The client's HELO for the EHLO after XCLIENT: printable ASCII only (it
 * goes on a command line of ours); else ours. */
static void
gw_up_xclient_helo(struct gw_upstream *u, const char *helo)
{
    size_t i;

    u->xclient_helo[0] = '\0';
    if (helo == NULL || strlen(helo) > GW_MAX_DOMAIN) {
        return;
    }
    for (i = 0; helo[i] != '\0'; i++) {
        if (helo[i] <= ' ' || helo[i] > '~') {
            return;
        }
    }
    memcpy(u->xclient_helo, helo, i + 1);
}

bool
gw_up_identify(struct gw_upstream *u, const struct gw_client_identity *id)
{
    struct gw_ident_lines *x;
    size_t i;
    uint64_t h;

    if (u->state != GW_UP_READY || u->fifo_count > 0 || u->in_tx) {
        return false;
    }
    x = gw_calloc(1, sizeof(*x));
    if (x == NULL) {
        return false; /* the transaction goes on without the identity */
    }
    if (u->ucfg->xclient && !u->authed && !u->xclient_refused &&
        gw_caps_has(&u->caps, GW_CAP_XCLIENT) &&
        gw_ident_build(GW_IDENT_XCLIENT, u->caps.xclient_attrs, id, x)) {
        h = gw_up_ident_hash(x);
        if (u->identified && h == u->ident_hash) {
            gw_free(x);
            return false; /* this upstream session knows the client */
        }
        u->ident_hash = h;
        gw_up_xclient_helo(u, id->helo);
        u->xclient = x;
        u->xclient_next = 1;
        gw_up_write_line(u, x->line[0], strlen(x->line[0]));
        gw_up_enter(u, GW_UP_XCLIENT);
        gw_conn_timeout(&u->conn, u->cfg->timeouts.upstream_mail);
        return true;
    }
    if (u->ucfg->xforward && gw_caps_has(&u->caps, GW_CAP_XFORWARD) &&
        gw_ident_build(GW_IDENT_XFORWARD, u->caps.xforward_attrs, id, x)) {
        /* answered 250 and kept for the next transaction: our own
         * commands, in the same FIFO as MAIL (pipelined when allowed) */
        for (i = 0; i < x->n; i++) {
            if (u->fifo_count >= u->fifo_cap ||
                gw_up_write_line(u, x->line[i], strlen(x->line[i])) != 0 ||
                gw_up_push(u, GW_VERB_UNKNOWN, false, true) != 0) {
                break;
            }
        }
    }
    gw_free(x);
    return false;
}

/* ---- AUTH with the block's credentials (upstreams[].auth) ------------ */

/* The base64 of `msg` as a line, prefixed; wiped after it is written. */
static int
gw_up_send_b64(struct gw_upstream *u, const char *prefix, const uint8_t *msg,
               size_t len)
{
    char line[2 * 1024];
    size_t plen = strlen(prefix);
    int rc = GW_E_LIMIT;

    memcpy(line, prefix, plen);
    if (gw_base64_encode(line + plen, sizeof(line) - plen, msg, len)) {
        rc = gw_up_write(u, line, strlen(line), true);
    }
    mbedtls_platform_zeroize(line, sizeof(line));
    return rc;
}

/* After EHLO: log in when the block has credentials (once per
 * connection; not again after XCLIENT), else ready. */
static void
gw_up_login(struct gw_upstream *u)
{
    const struct gw_up_auth_cfg *a = &u->ucfg->auth;
    uint8_t msg[2 + sizeof(a->user) + sizeof(a->password)];
    size_t ul = strlen(a->user);
    size_t pl = strlen(a->password);
    int rc;

    if (!a->enabled || u->authed || u->xclient_done) {
        gw_up_ready(u);
        return;
    }
    if (!gw_conn_tls_active(&u->conn) && !a->allow_plaintext) {
        gw_up_setup_failed(u, "AUTH needs TLS, and TLS is not up");
        return;
    }
    if (!gw_caps_has(&u->caps, GW_CAP_AUTH) ||
        (u->caps.auth_mechs & GW_SASL_MECH_BIT(a->mechanism)) == 0) {
        gw_up_setup_failed(u, a->mechanism == GW_SASL_LOGIN
                                  ? "AUTH LOGIN not offered"
                                  : "AUTH PLAIN not offered");
        return;
    }
    u->auth_step = 0;
    if (a->mechanism == GW_SASL_LOGIN) {
        rc = gw_up_write_line(u, "AUTH LOGIN", 10);
    } else {
        /* RFC 4616: NUL user NUL password, with the initial response */
        msg[0] = 0;
        memcpy(msg + 1, a->user, ul);
        msg[1 + ul] = 0;
        memcpy(msg + 2 + ul, a->password, pl);
        rc = gw_up_send_b64(u, "AUTH PLAIN ", msg, 2 + ul + pl);
        mbedtls_platform_zeroize(msg, sizeof(msg));
    }
    if (rc != 0) {
        gw_up_setup_failed(u, "cannot send AUTH");
        return;
    }
    gw_up_enter(u, GW_UP_AUTH);
    gw_conn_timeout(&u->conn, u->cfg->timeouts.upstream_mail);
}

static void
gw_up_on_auth_reply(struct gw_upstream *u, const struct gw_reply *r)
{
    const struct gw_up_auth_cfg *a = &u->ucfg->auth;
    char detail[64];

    if (gw_up_has_unsolicited(u)) {
        gw_up_setup_failed(u, "data after the AUTH reply");
        return;
    }
    if (r->code == 235) {
        u->authed = true;
        gw_log(GW_LOG_DEBUG, u->sid, "event=upstream_auth addr=%s mech=%s",
               gw_up_addr(u), gw_sasl_mech_name((enum gw_sasl_mech)a->mechanism));
        gw_up_ready(u);
        return;
    }
    if (r->code == 334 && a->mechanism == GW_SASL_LOGIN && u->auth_step < 2) {
        const char *v = u->auth_step == 0 ? a->user : a->password;

        u->auth_step++;
        if (gw_up_send_b64(u, "", (const uint8_t *)v, strlen(v)) != 0) {
            gw_up_setup_failed(u, "cannot send AUTH");
        }
        return;
    }
    /* 535 (wrong credentials), 454, 5xx: this address cannot be used */
    snprintf(detail, sizeof(detail), "AUTH refused (%d)", r->code);
    gw_up_setup_failed(u, detail);
}

void
gw_up_claim_for_auth(struct gw_upstream *u)
{
    u->identified = true; /* it will hold a client's login: never pooled */
    u->authed = true;     /* no login of our own, no XCLIENT over it */
}

bool
gw_up_tls_active(const struct gw_upstream *u)
{
    return gw_conn_tls_active(&u->conn);
}

unsigned
gw_up_tls_level(const struct gw_upstream *u)
{
    if (!gw_conn_tls_active(&u->conn)) {
        return POL_TLS_NONE;
    }
    return u->ucfg->tls == GW_UP_TLS_VERIFY ? POL_TLS_VERIFY : POL_TLS_ENCRYPT;
}
