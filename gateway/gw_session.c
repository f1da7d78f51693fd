#include "gateway/gw_session.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_auth.h"
#include "gateway/gw_caps.h"
#include "gateway/gw_clients.h"
#include "gateway/gw_clock.h"
#include "gateway/gw_error.h"
#include "gateway/gw_log.h"
#include "gateway/gw_proxy.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_metrics.h"
#include "gateway/gw_policy.h"
#include "gateway/gw_received.h"
#include "gateway/gw_shm.h"
#include "gateway/gw_reply.h"
#include "gateway/gw_str.h"
#include "gateway/gw_upstream.h"
#include "gateway/gw_worker.h"

static void gw_session_on_read(struct gw_conn *c);
static void gw_session_on_drain(struct gw_conn *c);
static void gw_session_on_error(struct gw_conn *c, int err);
static void gw_session_on_connect(struct gw_conn *c, int status);
static void gw_session_on_closed(struct gw_conn *c);
static void gw_session_on_tls_ready(struct gw_conn *c);
static void gw_session_greet(struct gw_session *s);
static void gw_session_greet_reply(struct gw_session *s);
static bool gw_session_starttls_policy(struct gw_session *s);
static bool gw_session_connect_policy(struct gw_session *s);
static void gw_session_up_ready(struct gw_upstream *u, void *owner);
static void gw_session_begin(struct gw_session *s);
static bool gw_session_connect_policy(struct gw_session *s);
static void gw_session_greet(struct gw_session *s);
static void gw_session_proxy_wait(struct gw_session *s);
static void gw_session_proxy_read(struct gw_session *s);
static size_t gw_session_sa_len(const struct sockaddr *sa);
static void gw_session_up_reply(struct gw_upstream *u, void *owner,
                                enum gw_verb verb, bool eom,
                                const struct gw_reply *r);
static void gw_session_up_fail(struct gw_upstream *u, void *owner,
                               enum gw_up_fail why, const char *detail);
static void gw_session_up_drain(struct gw_upstream *u, void *owner);

static const struct gw_conn_ops gw_session_conn_ops = {
    .on_read = gw_session_on_read,
    .on_drain = gw_session_on_drain,
    .on_error = gw_session_on_error,
    .on_connect = gw_session_on_connect,
    .on_closed = gw_session_on_closed,
    .on_tls_ready = gw_session_on_tls_ready,
};

static const struct gw_up_ops gw_session_up_ops = {
    .on_ready = gw_session_up_ready,
    .on_reply = gw_session_up_reply,
    .on_fail = gw_session_up_fail,
    .on_drain = gw_session_up_drain,
};

uint64_t
gw_now_ms(void)
{
    return gw_clock_ms();
}

void
gw_session_client_text(const struct gw_session *s, char *dst, size_t cap)
{
    gw_sockaddr_text(&s->client_sa.sa, dst, cap);
}

/* The longest line read: a command (limits.command_line), or an AUTH
 * line, which RFC 4954 4 lets reach 12288 octets (bearer tokens do),
 * within what the input buffer holds. Commands other than AUTH are held
 * to limits.command_line by the inbound machine. */
size_t
gw_session_line_max(const struct gw_config *cfg, size_t listener)
{
    size_t max = cfg->limits.command_line;
    size_t room = cfg->limits.buffer_size - 2;

    if (cfg->listeners[listener].auth.enabled && max < GW_SASL_LINE_MAX) {
        max = GW_SASL_LINE_MAX < room ? GW_SASL_LINE_MAX : room;
    }
    return max > cfg->limits.command_line ? max : cfg->limits.command_line;
}

void
gw_session_accept(struct gw_worker *w, size_t listener, uv_stream_t *server)
{
    struct gw_config *cfg = w->cfg;
    struct gw_session *s;

    s = gw_calloc(1, sizeof(*s));
    if (s == NULL) {
        /* Without memory we cannot even accept; the kernel queue holds the
         * connection and a later accept may succeed. */
        gw_log(GW_LOG_ERROR, NULL, "event=accept_failed error=nomem");
        return;
    }
    s->w = w;
    s->cfg = cfg;
    gw_config_ref(cfg);
    s->listener = listener;
    s->upstream_block = cfg->listeners[listener].upstream;
    s->default_upstream = s->upstream_block;
    s->require_tls = cfg->listeners[listener].require_tls;
    s->started_ms = gw_now_ms();
    snprintf(s->sid, sizeof(s->sid), "%u-%08llx", w->id,
             (unsigned long long)++w->next_session);
    gw_line_reader_init(&s->lines, gw_session_line_max(cfg, listener));
    gw_conn_init(&s->client, &w->loop, &gw_session_conn_ops, s,
                 cfg->limits.buffer_size);
    gw_worker_session_added(w, s);
    if (gw_conn_accept(&s->client, server) != 0) {
        gw_session_close(s, "accept failed", false);
        return;
    }
    {
        struct sockaddr_storage ss;
        char addr[80];

        if (w->sim_client.ss_family != 0) {
            ss = w->sim_client; /* postern --simulate --client ADDR */
        } else if (!gw_conn_peer(&s->client, &ss)) {
            ss.ss_family = AF_UNSPEC;
        }
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            memcpy(&s->client_sa, &ss, ss.ss_family == AF_INET
                                           ? sizeof(s->client_sa.in)
                                           : sizeof(s->client_sa.in6));
        }
        gw_session_client_text(s, addr, sizeof(addr));
        gw_log(GW_LOG_INFO, s->sid, "event=connect client=%s listener=%s",
               addr, cfg->listeners[listener].name);
        /* decided on the TCP peer, before any header or XCLIENT */
        s->xclient_ok = gw_nets_contain(&cfg->listeners[listener]
                                             .xclient_trusted,
                                        &s->client_sa.sa);
    }

    gw_metric_inc(GW_M_connections_total);
    if (cfg->listeners[listener].proxy_protocol) {
        gw_session_proxy_wait(s);
        return;
    }
    gw_session_begin(s);
}

/* After accept (and the PROXY header): limits, TLS, the connect policy,
 * then the greeting. */
static void
gw_session_begin(struct gw_session *s)
{
    struct gw_worker *w = s->w;
    struct gw_config *cfg = s->cfg;
    size_t listener = s->listener;
    size_t per_client;

    /* Limits count every worker's connections (shared memory). */
    if (gw_shm_sessions(w->shm) > cfg->limits.connections) {
        gw_metric_inc(GW_M_connections_refused_total);
        gw_session_reply_close(s, 421, "4.3.2",
                               "Too many connections, try again later",
                               "connection limit");
        return;
    }
    s->counted = gw_clients_add(&w->clients, &s->client_sa.sa) > 0;
    per_client = s->counted ? gw_shm_client_count(w->shm, &s->client_sa.sa)
                            : 0;
    if (!s->counted || per_client > cfg->limits.connections_per_client) {
        gw_metric_inc(GW_M_connections_refused_total);
        gw_session_reply_close(s, 421, "4.7.0",
                               "Too many connections from your address",
                               "per-client connection limit");
        return;
    }
    if (cfg->listeners[listener].tls == GW_TLS_IMPLICIT) {
        /* RFC 8314: TLS from the first byte; the greeting (and the
         * connect policy, which then sees the TLS facts) follow the
         * handshake */
        gw_in_enter(s, GW_IN_TLS);
        gw_conn_timeout(&s->client, cfg->timeouts.command);
        gw_conn_want_read(&s->client, true); /* the ClientHello */
        if (gw_conn_start_tls_buffered(&s->client,
                                       cfg->listeners[listener].tls_ctx) !=
            0) {
            gw_session_close(s, "TLS could not start", false);
        }
        return;
    }
    if (!gw_session_connect_policy(s)) {
        return; /* refused, and closing */
    }
    if (cfg->upstreams[s->upstream_block].connect == GW_UP_CONNECT_ON_CONNECT) {
        gw_in_enter(s, GW_IN_CONNECT);
        if (!gw_session_upstream_open(s)) {
            gw_session_reply_close(s, 421, "4.3.2", "Service not available",
                                   "upstream session allocation failed");
        }
        return; /* the greeting follows the upstream's readiness */
    }
    gw_session_greet(s);
}

void
gw_session_restart(struct gw_session *s)
{
    memset(&s->offered, 0, sizeof(s->offered));
    gw_in_enter(s, GW_IN_GREETED);
    if (!gw_session_connect_policy(s)) {
        return; /* refused, and closing */
    }
    /* no pump: this runs inside the inbound machine, which goes on */
    gw_session_greet_reply(s);
}

/* The connect stage: a refusal replaces the greeting and closes. */
static bool
gw_session_connect_policy(struct gw_session *s)
{
    struct pol_facts f;
    struct pol_verdict v;
    char buf[POL_VERDICT_BUF_SIZE];

    gw_policy_facts(s, &f);
    gw_policy_eval(s, POL_STAGE_CONNECT, &f, &v, buf, sizeof(buf));
    if (gw_policy_refuse(s, &v)) {
        gw_session_close(s, "refused by policy at connect", true);
        return false;
    }
    if ((v.flags & POL_VF_UPSTREAM) != 0) {
        s->upstream_block = gw_session_block(s, v.upstream, s->upstream_block);
        s->default_upstream = s->upstream_block;
    }
    return true;
}

uint32_t
gw_session_block(const struct gw_session *s, const char *name,
                 uint32_t fallback)
{
    size_t i;

    for (i = 0; i < s->cfg->nupstreams; i++) {
        if (strcmp(s->cfg->upstreams[i].name, name) == 0) {
            return (uint32_t)i;
        }
    }
    return fallback; /* -t checks the names a policy uses */
}

static void
gw_session_greet_reply(struct gw_session *s)
{
    char text[GW_MAX_DOMAIN + 32];

    snprintf(text, sizeof(text), "%s ESMTP Postern", s->cfg->hostname);
    gw_session_reply(s, 220, "", text); /* RFC 2034: no code here */
    gw_in_enter(s, GW_IN_GREETED);
}

static void
gw_session_greet(struct gw_session *s)
{
    gw_session_greet_reply(s);
    gw_in_pump(s);
}

void
gw_session_reply(struct gw_session *s, int code, const char *enh,
                 const char *text)
{
    uint8_t line[GW_MAX_REPLY_TEXT + 64];
    size_t n;

    if (enh == NULL) {
        enh = gw_enhanced_for(GW_VERB_UNKNOWN, false, code);
    }
    gw_metric_reply(GW_M_replies_2xx_total, code);
    n = gw_reply_format(line, sizeof(line), code, enh, text, strlen(text));
    if (n == 0 || gw_conn_write(&s->client, line, n) != 0) {
        /* The client does not read its replies: give up on it. */
        gw_session_close(s, "client output full", false);
    }
}

void
gw_session_reply_close(struct gw_session *s, int code, const char *enh,
                       const char *text, const char *reason)
{
    gw_session_reply(s, code, enh, text);
    gw_session_close(s, reason, true);
}

bool
gw_session_count_error(struct gw_session *s)
{
    if (++s->errors < s->cfg->limits.errors_per_session) {
        return false;
    }
    gw_session_reply_close(s, 421, "4.7.0",
                           "Too many errors, closing connection",
                           "too many errors");
    return true;
}

bool
gw_session_upstream_open(struct gw_session *s)
{
    const struct gw_upstream_cfg *ucfg = &s->cfg->upstreams[s->upstream_block];
    struct sockaddr_storage local;

    if (s->up != NULL) {
        return true;
    }
    /* a session that carries a client's PROXY header is that client's */
    s->up = ucfg->proxy_protocol == GW_UP_PROXY_NONE
                ? gw_worker_pool_take(s->w, s->cfg, ucfg)
                : NULL;
    if (s->up != NULL) {
        gw_up_set_owner(s->up, &gw_session_up_ops, s, s->sid);
        gw_log(GW_LOG_DEBUG, s->sid, "event=upstream_reused addr=%s",
               gw_up_addr(s->up));
        return true;
    }
    s->up = gw_up_new(&s->w->loop, s->cfg, ucfg, &gw_session_up_ops, s,
                      s->sid);
    if (s->up != NULL && ucfg->proxy_protocol != GW_UP_PROXY_NONE) {
        gw_up_set_client(s->up, &s->client_sa.sa,
                         gw_session_local_addr(s, &local));
    }
    return s->up != NULL;
}

/* The length of an AF_INET or AF_INET6 address; 0 for anything else. */
static size_t
gw_session_sa_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET    ? sizeof(struct sockaddr_in)
           : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : 0;
}

void
gw_session_set_client(struct gw_session *s, const struct sockaddr *sa)
{
    size_t n = gw_session_sa_len(sa);

    if (n == 0) {
        return;
    }
    /* the per-client count moves with the address */
    if (s->counted) {
        gw_clients_remove(&s->w->clients, &s->client_sa.sa);
    }
    memcpy(&s->client_sa, sa, n);
    if (s->counted) {
        s->counted = gw_clients_add(&s->w->clients, &s->client_sa.sa) > 0;
    }
}

void
gw_session_set_local(struct gw_session *s, const struct sockaddr *sa)
{
    size_t n = gw_session_sa_len(sa);

    if (n == 0) {
        return;
    }
    if (s->local_sa == NULL) {
        s->local_sa = gw_calloc(1, sizeof(*s->local_sa));
        if (s->local_sa == NULL) {
            return;
        }
    }
    memset(s->local_sa, 0, sizeof(*s->local_sa));
    memcpy(s->local_sa, sa, n);
}

const struct sockaddr *
gw_session_local_addr(const struct gw_session *s,
                      struct sockaddr_storage *buf)
{
    int len = (int)sizeof(*buf);

    if (s->local_sa != NULL) {
        return (const struct sockaddr *)s->local_sa;
    }
    if (uv_tcp_getsockname(&s->client.tcp, (struct sockaddr *)buf, &len) ==
        0) {
        return (const struct sockaddr *)buf;
    }
    return NULL;
}

/* --- client conn callbacks --- */

static void
gw_session_on_read(struct gw_conn *c)
{
    struct gw_session *s = c->owner;

    if (s->state == GW_IN_PROXY) {
        gw_session_proxy_read(s);
        return;
    }
    gw_in_pump(s);
}

/* ---- the PROXY protocol header (listeners[].proxy_protocol) ---------- */

/* Only trusted proxies may name the client; the header must come first
 * and soon. Anything else is closed without a greeting: whoever talks
 * SMTP here bypassed the proxy. */
static void
gw_session_proxy_wait(struct gw_session *s)
{
    if (!gw_nets_contain(&s->cfg->listeners[s->listener].proxy_trusted,
                         &s->client_sa.sa)) {
        gw_log(GW_LOG_WARN, s->sid, "event=proxy_refused reason=untrusted");
        gw_session_close(s, "PROXY listener, untrusted peer", false);
        return;
    }
    gw_in_enter(s, GW_IN_PROXY);
    gw_conn_timeout(&s->client, GW_PROXY_TIMEOUT);
    gw_conn_want_read(&s->client, true);
}

static void
gw_session_proxy_read(struct gw_session *s)
{
    struct gw_conn *c = &s->client;
    struct gw_proxy_header h;
    char via[80];
    char addr[80];
    enum gw_proxy_rc rc;

    if (!gw_buf_is_attached(&c->in)) {
        return;
    }
    rc = gw_proxy_parse(c->in.pos, gw_buf_len(&c->in), &h);
    if (rc == GW_PROXY_AGAIN) {
        return; /* bounded by the parser: at most 528 bytes are read */
    }
    if (rc != GW_PROXY_OK) {
        gw_log(GW_LOG_WARN, s->sid, "event=proxy_refused reason=%s",
               rc == GW_PROXY_E_TOOLONG ? "too_long" : "malformed");
        gw_session_close(s, "bad PROXY header", false);
        return;
    }
    gw_conn_consume(c, h.consumed);
    gw_session_client_text(s, via, sizeof(via));
    if (!h.local) {
        gw_session_set_client(s, (const struct sockaddr *)&h.src);
        gw_session_set_local(s, (const struct sockaddr *)&h.dst);
        /* the SMTP client is the one behind the proxy: XCLIENT trust is
         * its, not the proxy's */
        s->xclient_ok = gw_nets_contain(&s->cfg->listeners[s->listener]
                                             .xclient_trusted,
                                        &s->client_sa.sa);
    }
    gw_session_client_text(s, addr, sizeof(addr));
    gw_log(GW_LOG_INFO, s->sid, "event=proxy version=%d client=%s via=%s%s",
           h.version, addr, via, h.local ? " local=yes" : "");
    gw_conn_timeout(c, 0);
    gw_session_begin(s);
}

static void
gw_session_on_drain(struct gw_conn *c)
{
    /* Room in the client's output: replies held back can go now. */
    gw_in_pump(c->owner);
}

static void
gw_session_on_error(struct gw_conn *c, int err)
{
    struct gw_session *s = c->owner;

    if (s->closing) {
        gw_conn_close(c); /* the final flush failed or timed out */
        return;
    }
    if (s->state == GW_IN_PROXY) {
        /* no greeting before the header: close, say nothing */
        /* a plain TCP health check just connects and closes: info */
        gw_log(err == GW_E_TIMEOUT ? GW_LOG_WARN : GW_LOG_INFO, s->sid,
               "event=proxy_refused reason=%s",
               err == GW_E_TIMEOUT ? "timeout" : "closed");
        gw_session_close(s, "no PROXY header", false);
        return;
    }
    if (err == GW_E_TIMEOUT) {
        if (s->state == GW_IN_TLS) {
            gw_metric_inc(GW_M_tls_fail_client_timeout);
        }
        gw_session_reply_close(s, 421, "4.4.2",
                               "Timeout, closing connection", "timeout");
        return;
    }
    if (s->state == GW_IN_TLS || gw_conn_tls_reason(c)[0] != '\0') {
        gw_metric_inc(gw_conn_tls_reason(c)[0] != '\0'
                          ? GW_M_tls_fail_client_handshake
                          : GW_M_tls_fail_client_closed);
        gw_log(GW_LOG_INFO, s->sid, "event=tls_failed reason=\"%s\"",
               gw_conn_tls_reason(c)[0] != '\0' ? gw_conn_tls_reason(c)
                                                : "peer closed");
    }
    if (err == GW_E_EOF && s->state != GW_IN_CONNECT) {
        /* Maybe only a half-close: Exim shuts its sending side down right
         * after a pipelined QUIT and still reads. What the client sent is
         * carried out and answered; gw_in_pump closes once nothing of it
         * can be used any more (gw_in_client_gone). */
        gw_in_pump(s);
        return;
    }
    gw_session_close(s, err == GW_E_EOF ? "client closed" : "client I/O error",
                     false);
}

static void
gw_session_on_tls_ready(struct gw_conn *c)
{
    struct gw_session *s = c->owner;
    /* STARTTLS is refused on implicit-TLS listeners, so this is the
     * first handshake exactly when the listener is implicit */
    bool implicit = s->cfg->listeners[s->listener].tls == GW_TLS_IMPLICIT;

    gw_log(GW_LOG_INFO, s->sid, "event=tls_ready version=%s cipher=%s "
           "sni=%s mode=%s", gw_conn_tls_version(c), gw_conn_tls_cipher(c),
           gw_conn_tls_sni(c)[0] != '\0' ? gw_conn_tls_sni(c) : "-",
           implicit ? "implicit" : "starttls");
    s->tls_minor = strcmp(gw_conn_tls_version(c), "TLSv1.3") == 0 ? 3 : 2;
    gw_metric_inc(s->tls_minor == 3 ? GW_M_tls_ok_client_13
                                    : GW_M_tls_ok_client_12);
    /* RFC 3207 4.2: forget everything learnt before TLS; the client
     * must EHLO again */
    gw_free(s->helo);
    s->helo = NULL;
    s->esmtp = false;
    memset(&s->offered, 0, sizeof(s->offered));
    gw_auth_reset(s);
    if (implicit) {
        gw_in_enter(s, GW_IN_CONNECT);
        if (!gw_session_connect_policy(s)) {
            return;
        }
        if (s->cfg->upstreams[s->upstream_block].connect ==
            GW_UP_CONNECT_ON_CONNECT) {
            if (!gw_session_upstream_open(s)) {
                gw_session_reply_close(s, 421, "4.3.2",
                                       "Service not available",
                                       "upstream session allocation failed");
            }
            return;
        }
        gw_session_greet(s);
        return;
    }
    gw_in_enter(s, GW_IN_GREETED);
    if (!gw_session_starttls_policy(s)) {
        return; /* refused, and closing */
    }
    gw_in_pump(s);
}

/* The starttls stage (after a STARTTLS handshake; implicit TLS has the
 * connect stage with the TLS facts): a refusal is answered at once and
 * the connection closes, as at connect. */
static bool
gw_session_starttls_policy(struct gw_session *s)
{
    struct pol_facts f;
    struct pol_verdict v;
    char buf[POL_VERDICT_BUF_SIZE];

    gw_policy_facts(s, &f);
    gw_policy_eval(s, POL_STAGE_STARTTLS, &f, &v, buf, sizeof(buf));
    if (gw_policy_refuse(s, &v)) {
        gw_session_close(s, "refused by policy after STARTTLS", true);
        return false;
    }
    return true;
}

static void
gw_session_on_connect(struct gw_conn *c, int status)
{
    (void)c;
    (void)status; /* client legs are accepted, never connected */
}

/* --- upstream callbacks --- */

static void
gw_session_up_ready(struct gw_upstream *u, void *owner)
{
    struct gw_session *s = owner;

    /* Remember what the upstream offers for the next EHLO we answer. */
    gw_shm_caps_set(s->w->shm, s->cfg->upstreams[s->upstream_block].name,
                    gw_up_caps(u));
    gw_log(GW_LOG_DEBUG, s->sid, "event=upstream_ready addr=%s",
           gw_up_addr(u));
    if (gw_auth_upstream_ready(s)) {
        return;
    }
    if (s->state == GW_IN_CONNECT) {
        gw_session_greet(s);
        return;
    }
    gw_in_pump(s);
}

bool
gw_session_identify(struct gw_session *s)
{
    struct gw_client_identity id;
    struct sockaddr_storage local;

    memset(&id, 0, sizeof(id));
    id.client = &s->client_sa.sa;
    id.local = gw_session_local_addr(s, &local);
    id.helo = s->helo;
    id.esmtp = s->esmtp;
    id.login = s->auth_user;
    return gw_up_identify(s->up, &id);
}

static void
gw_session_up_drain(struct gw_upstream *u, void *owner)
{
    (void)u;
    gw_in_pump(owner);
}

/*
 * The Received: header at the top of the message (smtp.received_header),
 * written into the upstream's output before any content; with bdat_frame
 * as its own BDAT piece (the upstream gets it before the client's first
 * chunk). Skipped, never truncated, when it does not fit.
 */
void
gw_session_add_received(struct gw_session *s, bool bdat_frame)
{
    struct gw_received r;
    struct gw_buf *out;
    char hdr[2048];
    char frame[32];
    char ip[64] = "unknown";
    size_t n = 0;
    size_t t = 0;
    unsigned port = 0;
    int f = 0;
    bool tls = gw_conn_tls_active(&s->client);
    const char *trace = s->cfg->upstreams[s->upstream_block].trace_header;

    if ((!s->cfg->received_header && trace[0] == '\0') || s->up == NULL) {
        return;
    }
    if (s->client_sa.sa.sa_family == AF_INET) {
        uv_ip4_name(&s->client_sa.in, ip, sizeof(ip));
        port = ntohs(s->client_sa.in.sin_port);
    } else if (s->client_sa.sa.sa_family == AF_INET6) {
        uv_ip6_name(&s->client_sa.in6, ip, sizeof(ip));
        port = ntohs(s->client_sa.in6.sin6_port);
    }
    memset(&r, 0, sizeof(r));
    r.helo = s->helo;
    r.client_ip = ip;
    r.hostname = s->cfg->hostname;
    r.with = gw_received_with(s->esmtp, tls, s->auth_user != NULL);
    r.id = s->sid;
    r.tls_version = tls ? gw_conn_tls_version(&s->client) : NULL;
    r.tls_cipher = tls ? gw_conn_tls_cipher(&s->client) : NULL;
    r.when = time(NULL);
    if (s->cfg->received_header) {
        n = gw_received_format(hdr, sizeof(hdr), &r);
    }
    if (trace[0] != '\0') {
        t = gw_trace_format(hdr + n, sizeof(hdr) - n, trace, &r, port,
                            s->auth_user);
        n = t > 0 ? n + t : n;
    }
    out = gw_up_body_out(s->up);
    if (bdat_frame) {
        f = snprintf(frame, sizeof(frame), "BDAT %zu\r\n", n);
    }
    if (n == 0 || out == NULL || f < 0 || gw_buf_space(out) < n + (size_t)f) {
        return;
    }
    gw_buf_append(out, frame, (size_t)f);
    gw_buf_append(out, hdr, n);
    if (bdat_frame) {
        gw_up_expect(s->up, GW_VERB_BDAT, false, true);
    }
}

/*
 * THE RULE THAT PROTECTS MAIL: the client gets 2xx for its end of data only
 * after the upstream gave 2xx for it. This is the only function that sends
 * the client a reply to end of data carrying the upstream's code; every
 * other path (upstream lost, size exceeded, bare newline rejected) answers
 * 4xx or 5xx locally.
 */
static void
gw_session_reply_eom(struct gw_session *s, const struct gw_reply *r)
{
    uint8_t buf[GW_MAX_REPLY_TEXT * 2 + 64];
    size_t n = gw_reply_map(buf, sizeof(buf), r, GW_VERB_DATA, true);

    if (n == 0 || gw_conn_write(&s->client, buf, n) != 0) {
        gw_session_close(s, "client output full", false);
        return;
    }
    gw_session_tx_end(s, r->code / 100 == 2   ? "accepted"
                         : r->code / 100 == 4 ? "tempfail"
                                              : "rejected",
                      r, 0);
}

static void
gw_session_up_reply(struct gw_upstream *u, void *owner, enum gw_verb verb,
                    bool eom, const struct gw_reply *r)
{
    struct gw_session *s = owner;
    uint8_t buf[GW_MAX_REPLY_TEXT * 2 + 64];
    size_t n;
    struct gw_tx *tx = s->tx;

    gw_metric_reply(GW_M_upstream_replies_2xx_total, r->code);
    if (verb == GW_VERB_MAIL && tx != NULL && tx->held_rcpt != NULL &&
        r->code / 100 == 2) {
        /* a re-route's MAIL: the client had its reply; the RCPT goes */
        gw_in_rerouted_mail(s, r);
        gw_in_pump(s);
        return;
    }
    if (verb == GW_VERB_DATA && r->code == 354 &&
        (tx == NULL ||
         (!tx->bdat_await_354 && (tx->rcpt_ok == 0 || tx->mail_failed)))) {
        /* a pipelined DATA that the upstream took with no recipient, or
         * after refusing the MAIL (the transaction has ended): against
         * RFC 2920 3.1; no message goes to nobody, and what the client
         * sends next is not read as commands while the upstream reads
         * it as content */
        gw_log(GW_LOG_WARN, s->sid, "event=upstream_protocol "
               "detail=\"354 with no valid recipient\" upstream=%s",
               gw_up_addr(u));
        gw_up_close(u, false);
        s->up = NULL;
        gw_session_reply(s, 554, "5.5.1", "No valid recipients");
        if (s->tx != NULL) {
            gw_session_tx_end(s, "rejected", NULL, 554);
        }
        gw_in_pump(s);
        return;
    }
    if (r->enhanced[0] == '\0') {
        gw_metric_inc(GW_M_bridge_enhanced_codes_total);
    }
    if (!(verb == GW_VERB_DATA && tx != NULL && tx->bdat_await_354)) {
        gw_metric_reply(GW_M_replies_2xx_total, r->code);
    }
    if (eom) {
        gw_session_reply_eom(s, r);
        gw_in_pump(s);
        return;
    }
    if (verb == GW_VERB_BDAT) {
        /* only a refused piece of a re-chunked BDAT comes here */
        gw_in_piece_refused(s, r);
        return;
    }
    if (verb == GW_VERB_AUTH) {
        gw_auth_upstream_reply(s, r);
        return;
    }
    if (verb == GW_VERB_DATA && tx != NULL && tx->bdat_await_354) {
        /* BDAT bridged to DATA: the 354 is ours, not the client's */
        tx->bdat_await_354 = false;
        if (r->code == 354) {
            gw_session_add_received(s, false);
            gw_in_pump(s);
            return;
        }
        gw_in_bdat_refused(s, r);
        return;
    }
    n = gw_reply_map(buf, sizeof(buf), r, verb, false);
    if (n == 0 || gw_conn_write(&s->client, buf, n) != 0) {
        gw_session_close(s, "client output full", false);
        return;
    }
    switch (verb) {
    case GW_VERB_MAIL:
        if (tx != NULL && tx->held_rcpt != NULL) {
            /* the new route refused the sender: that was the RCPT's
             * reply; the transaction goes on */
            gw_in_rerouted_mail(s, r);
        } else if (tx != NULL && r->code / 100 != 2) {
            tx->mail_failed = true;
            gw_session_tx_end(s, "mail-refused", r, 0);
        }
        break;
    case GW_VERB_RCPT:
        if (tx != NULL && !tx->mail_failed && r->code / 100 == 2) {
            tx->rcpt_ok++;
        }
        break;
    case GW_VERB_DATA:
        if (tx != NULL && r->code == 354) {
            gw_body_init(&tx->body, s->cfg->bare_newlines,
                         gw_in_body_limit(s, gw_up_caps(u)));
            tx->body.reject_8bit = gw_in_reject_8bit(s);
            tx->body.defer_end = gw_in_has_eom_policy(s);
            gw_in_header_policy_start(s);
            gw_session_add_received(s, false);
            gw_in_enter(s, GW_IN_DATA);
        } else if (tx != NULL) {
            /* a refused DATA started no body: a BDAT after it is the
             * first chunk, set up as such (else its bytes would go to the
             * upstream as commands) */
            tx->body_kind = GW_TX_BODY_NONE;
        }
        break;
    default:
        break;
    }
    gw_in_pump(s);
}

static void
gw_session_up_fail(struct gw_upstream *u, void *owner, enum gw_up_fail why,
                   const char *detail)
{
    struct gw_session *s = owner;
    size_t pending = gw_up_pending_replies(u);
    const char *enh = why == GW_UP_FAIL_CONNECT    ? "4.4.1"
                      : why == GW_UP_FAIL_PROTOCOL ? "4.4.0"
                      : why == GW_UP_FAIL_TLS      ? "4.7.5"
                                                   : "4.4.2";
    const char *text = why == GW_UP_FAIL_CONNECT
                           ? "Upstream server unavailable, try again later"
                       : why == GW_UP_FAIL_PROTOCOL
                           ? "Upstream protocol error, try again later"
                       : why == GW_UP_FAIL_TLS
                           ? "Upstream TLS required but not available, try "
                             "again later"
                           : "Upstream connection lost, try again later";
    size_t i;

    s->up = NULL; /* u is closing itself */
    gw_auth_upstream_lost(s);
    if (why == GW_UP_FAIL_IDLE) {
        /* Nothing was pending. A transaction in progress learns of it at
         * its next command (RCPT or DATA answer 451 4.4.2). */
        gw_log(GW_LOG_DEBUG, s->sid, "event=upstream_closed detail=\"%s\"",
               detail);
        gw_in_pump(s);
        return;
    }
    {
        gw_log(GW_LOG_WARN, s->sid,
               "event=upstream_failed reason=%s detail=\"%s\" pending=%zu "
               "state=%s",
               why == GW_UP_FAIL_CONNECT    ? "connect"
               : why == GW_UP_FAIL_TLS      ? "tls"
               : why == GW_UP_FAIL_PROTOCOL ? "protocol"
               : why == GW_UP_FAIL_TIMEOUT  ? "timeout"
                                            : "lost",
               detail, pending, gw_in_state_name(s->state));
    }
    if (s->state == GW_IN_CONNECT) {
        gw_session_reply_close(s, 421, enh, "Service not available",
                               "upstream unavailable");
        return;
    }
    if (gw_auth_upstream_failed(s)) {
        return; /* a relayed AUTH was pending: 454 */
    }
    if (s->tx != NULL && s->tx->held_rcpt != NULL) {
        /* a re-routed RCPT waited for this upstream: it gets the 4xx, and
         * the transaction goes on (its MAIL had a 250 on the old route) */
        gw_session_reply(s, 451, enh, text); /* may close s */
        gw_in_route_failed(s);
        gw_in_pump(s);
        return;
    }
    /* Every command still waiting for an upstream reply gets a 4xx, in
     * order; the one that was the MAIL not yet sent counts too. */
    if (s->tx != NULL && !s->tx->mail_sent) {
        pending++;
    }
    if (s->state == GW_IN_DATA) {
        /* keep reading the client's data; answer when it ends */
        gw_body_discard(&s->tx->body);
        gw_in_pump(s);
        return;
    }
    for (i = 0; i < pending && !s->closing; i++) {
        gw_session_reply(s, 451, enh, text);
    }
    if (s->tx != NULL) {
        gw_session_tx_end(s, "upstream-failed", NULL, 451);
    }
    gw_in_pump(s);
}

/* --- transaction and session end --- */

void
gw_session_tx_end(struct gw_session *s, const char *outcome,
                  const struct gw_reply *final, int local_code)
{
    struct gw_tx *tx = s->tx;
    char from[GW_MAX_PATH * 4 + 8];
    char reply[GW_MAX_REPLY_TEXT + 32];
    char user[GW_SASL_USER_MAX * 4 + 1];

    if (tx == NULL) {
        return;
    }
    gw_str_escape(from, sizeof(from), (const uint8_t *)tx->mail.addr,
                  tx->mail.len);
    if (final != NULL) {
        char text[GW_MAX_REPLY_TEXT];

        gw_str_escape(text, sizeof(text), (const uint8_t *)final->text,
                      final->text_len);
        snprintf(reply, sizeof(reply), "%d %s%s%s", final->code,
                 final->enhanced, final->enhanced[0] != '\0' ? " " : "",
                 text);
    } else if (local_code != 0) {
        snprintf(reply, sizeof(reply), "%d (local)", local_code);
    } else {
        snprintf(reply, sizeof(reply), "-");
    }
    if (s->auth_user != NULL) {
        gw_str_escape(user, sizeof(user), (const uint8_t *)s->auth_user,
                      strlen(s->auth_user));
    }
    gw_log(GW_LOG_INFO, s->sid,
           "event=tx from=<%s> auth=\"%s\" rcpts=%zu/%zu size=%llu "
           "upstream=%s reply=\"%s\" outcome=%s duration_ms=%llu%s",
           from, s->auth_user != NULL ? user : "-", tx->rcpt_ok, tx->rcpt_sent,
           (unsigned long long)tx->body.size,
           s->up != NULL ? gw_up_addr(s->up) : "-", reply, outcome,
           (unsigned long long)(gw_now_ms() - tx->started_ms),
           tx->body.saw_bare_nl ? " bare_newlines=normalized" : "");
    if (final != NULL && final->code / 100 == 2 &&
        strcmp(outcome, "accepted") == 0) {
        s->messages++;
        gw_metric_inc(GW_M_transactions_accepted_total);
    } else if (strcmp(outcome, "aborted") == 0 ||
               strcmp(outcome, "reset") == 0) {
        gw_metric_inc(GW_M_transactions_aborted_total);
    } else if ((final != NULL ? final->code : local_code) / 100 == 5) {
        gw_metric_inc(GW_M_transactions_rejected_total);
    } else {
        gw_metric_inc(GW_M_transactions_tempfail_total);
    }
    if (tx->body.saw_bare_nl) {
        gw_metric_inc(GW_M_smuggling_normalized_total);
    }
    if (tx->hdr != NULL) {
        gw_hdr_free(tx->hdr);
    }
    gw_free(tx->held_rcpt);
    gw_free(tx);
    s->tx = NULL;
    if (s->state != GW_IN_QUIT && s->state != GW_IN_CONNECT &&
        s->state != GW_IN_GREETED) {
        gw_in_enter(s, GW_IN_READY);
    }
}

void
gw_session_shutdown(struct gw_session *s)
{
    /* Idle sessions go now; a transaction in flight finishes first, and
     * the command after it gets the 421 (gw_in_dispatch). A connection
     * still waiting for its PROXY header has had no greeting: it just
     * closes; an AUTH exchange ends with the 421 too. */
    if (s->state == GW_IN_PROXY) {
        gw_session_close(s, "shutdown", false);
        return;
    }
    if (s->tx == NULL && (s->state == GW_IN_AUTH ||
                          s->state == GW_IN_AUTHWAIT ||
                          s->state == GW_IN_GREETED ||
                          s->state == GW_IN_READY ||
                          s->state == GW_IN_CONNECT)) {
        gw_session_reply_close(s, 421, "4.3.2", "Service shutting down",
                               "shutdown");
    }
}

void
gw_session_abort(struct gw_session *s, const char *reason)
{
    gw_session_close(s, reason, false);
}

void
gw_session_close(struct gw_session *s, const char *reason, bool flush)
{
    if (s->closing) {
        return;
    }
    s->closing = true;
    s->end_reason = reason;
    if (s->tx != NULL) {
        gw_session_tx_end(s, "aborted", NULL, 0);
    }
    if (s->up != NULL) {
        /* An idle upstream session waits in the pool for the next client;
         * otherwise QUIT, unless message bytes are in flight: then the
         * close itself aborts, and no terminator reaches the upstream. */
        if (gw_up_is_idle(s->up)) {
            gw_worker_pool_put(s->w, s->up);
        } else {
            gw_up_close(s->up, true);
        }
        s->up = NULL;
    }
    if (flush) {
        gw_conn_close_after_flush(&s->client);
        /* a client that never reads must not hold us: bound the flush */
        gw_conn_timeout(&s->client, 10 * 1000);
    } else {
        gw_conn_close(&s->client);
    }
}

static void
gw_session_on_closed(struct gw_conn *c)
{
    struct gw_session *s = c->owner;
    char addr[80];
    char helo[GW_MAX_DOMAIN * 4 + 8];

    gw_session_client_text(s, addr, sizeof(addr));
    gw_str_escape(helo, sizeof(helo), (const uint8_t *)(s->helo != NULL ? s->helo : "-"),
                  s->helo != NULL ? strlen(s->helo) : 1);
    gw_log(GW_LOG_INFO, s->sid,
           "event=disconnect client=%s helo=%s messages=%u errors=%u "
           "bytes_in=%llu bytes_out=%llu duration_ms=%llu tls=%s "
           "reason=\"%s\"",
           addr, helo, (unsigned)s->messages,
           (unsigned)s->errors, (unsigned long long)c->bytes_in,
           (unsigned long long)c->bytes_out,
           (unsigned long long)(gw_now_ms() - s->started_ms),
           s->tls_minor == 3   ? "TLSv1.3"
           : s->tls_minor == 2 ? "TLSv1.2"
                               : "none",
           s->end_reason != NULL ? s->end_reason : "-");
    gw_metric_add(GW_M_client_bytes_in_total, c->bytes_in);
    gw_metric_add(GW_M_client_bytes_out_total, c->bytes_out);
    if (s->counted) {
        gw_clients_remove(&s->w->clients, &s->client_sa.sa);
    }
    gw_auth_reset(s);
    gw_worker_session_removed(s->w, s);
    gw_config_unref(s->cfg);
    gw_free(s->helo);
    gw_free(s->local_sa);
    gw_free(s);
}
