/*
 * The inbound SMTP server state machine (RFC 5321 server role).
 *
 * Commands are read ahead (the client may pipeline, RFC 2920) and answered
 * strictly in order: a command that Postern answers itself runs only when
 * no upstream reply is pending, and only RCPT (and DATA behind relayed
 * RCPTs) may be relayed while earlier commands still wait for their
 * upstream replies (and only when the upstream pipelines). Anything else
 * waits in the input buffer, which is the backpressure: a full input
 * buffer stops reading from the client.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_auth.h"
#include "gateway/gw_caps.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_error.h"
#include "gateway/gw_log.h"
#include "gateway/gw_metrics.h"
#include "gateway/gw_policy.h"
#include "gateway/gw_reply.h"
#include "gateway/gw_session.h"
#include "gateway/gw_shm.h"
#include "gateway/gw_str.h"
#include "gateway/gw_upstream.h"
#include "gateway/gw_worker.h"
#include "gateway/gw_xclient_in.h"

/* Output room a command needs before it runs (its reply is at most this). */
#define GW_IN_REPLY_RESERVE 2048

/* States in which command lines are read. */
#define GW_IN_CMD_STATES                                                       \
    (GW_IN_BIT(GW_IN_GREETED) | GW_IN_BIT(GW_IN_READY) |                       \
     GW_IN_BIT(GW_IN_MAIL) | GW_IN_BIT(GW_IN_RCPT) | GW_IN_BIT(GW_IN_CHUNK))

/* "BDAT nnn\r\n" framing room reserved ahead of a re-chunked piece. */
#define GW_IN_BDAT_HEADER 24
#define GW_IN_TX_STATES (GW_IN_BIT(GW_IN_MAIL) | GW_IN_BIT(GW_IN_RCPT))

struct gw_in_cmd {
    enum gw_verb verb;
    uint32_t legal; /* GW_IN_BIT mask of states accepting the verb */
    void (*run)(struct gw_session *s, const struct gw_cmd *cmd);
};

/* A reply decided by a check function, sent only if the command runs. */
struct gw_in_verdict {
    int code; /* 0: the command is acceptable */
    const char *enh;
    const char *text;
};

static void gw_in_helo(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_mail(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_rcpt(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_data(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_rset(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_noop(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_quit(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_vrfy(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_help(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_bdat(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_starttls(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_not_offered(struct gw_session *s, const struct gw_cmd *cmd);
static bool gw_in_chunk_body(struct gw_session *s);
static bool gw_in_skip(struct gw_session *s);
static void gw_in_chunk_done(struct gw_session *s);
static void gw_in_body_failed(struct gw_session *s);
static void gw_in_headers_finish(struct gw_session *s);
static void gw_in_unknown(struct gw_session *s, const struct gw_cmd *cmd);
static bool gw_in_body(struct gw_session *s);
static void gw_in_body_done(struct gw_session *s);
struct gw_rcpt_check {
    struct gw_mail_args args;
    struct gw_rcpt_params params;
    struct gw_in_verdict v;
};

/* A RCPT waiting for its MAIL on a new route (tx->held_rcpt). */
struct gw_held_rcpt {
    struct gw_path path;
    struct gw_rcpt_params params;
};

static bool gw_in_rcpt_check(struct gw_session *s, const struct gw_cmd *cmd,
                             struct gw_rcpt_check *rc);
static void gw_in_send_mail(struct gw_session *s);
static void gw_in_reset_tx(struct gw_session *s, const char *outcome);
static bool gw_in_waits_for_upstream(const struct gw_session *s);

#define GW_IN_ALL GW_IN_CMD_STATES
static const struct gw_in_cmd gw_in_cmds[GW_VERB_COUNT] = {
    [GW_VERB_UNKNOWN] = {GW_VERB_UNKNOWN, GW_IN_ALL, gw_in_unknown},
    [GW_VERB_HELO] = {GW_VERB_HELO, GW_IN_ALL, gw_in_helo},
    [GW_VERB_EHLO] = {GW_VERB_EHLO, GW_IN_ALL, gw_in_helo},
    [GW_VERB_MAIL] = {GW_VERB_MAIL, GW_IN_BIT(GW_IN_READY), gw_in_mail},
    [GW_VERB_RCPT] = {GW_VERB_RCPT, GW_IN_TX_STATES, gw_in_rcpt},
    [GW_VERB_DATA] = {GW_VERB_DATA, GW_IN_BIT(GW_IN_RCPT), gw_in_data},
    /* BDAT checks its own sequence: a refused chunk must still be read */
    [GW_VERB_BDAT] = {GW_VERB_BDAT, GW_IN_ALL, gw_in_bdat},
    [GW_VERB_RSET] = {GW_VERB_RSET, GW_IN_ALL, gw_in_rset},
    [GW_VERB_NOOP] = {GW_VERB_NOOP, GW_IN_ALL, gw_in_noop},
    [GW_VERB_QUIT] = {GW_VERB_QUIT, GW_IN_ALL, gw_in_quit},
    [GW_VERB_VRFY] = {GW_VERB_VRFY, GW_IN_ALL, gw_in_vrfy},
    [GW_VERB_EXPN] = {GW_VERB_EXPN, GW_IN_ALL, gw_in_not_offered},
    [GW_VERB_HELP] = {GW_VERB_HELP, GW_IN_ALL, gw_in_help},
    [GW_VERB_STARTTLS] = {GW_VERB_STARTTLS, GW_IN_ALL, gw_in_starttls},
    /* RFC 4954 4: not during a transaction */
    [GW_VERB_AUTH] = {GW_VERB_AUTH, GW_IN_BIT(GW_IN_READY), gw_auth_command},
    /* Postfix's XCLIENT_README: not in a mail transaction */
    [GW_VERB_XCLIENT] = {GW_VERB_XCLIENT,
                         GW_IN_BIT(GW_IN_GREETED) | GW_IN_BIT(GW_IN_READY),
                         gw_xclient_in_command},
};

#define GW_IN_STATE_STR(name) #name,
static const char *const gw_in_state_names[] = {GW_IN_STATES(GW_IN_STATE_STR)};
#undef GW_IN_STATE_STR

const char *
gw_in_state_name(enum gw_in_state st)
{
    return (unsigned)st < GW_IN_STATE_COUNT ? gw_in_state_names[st] : "?";
}

void
gw_in_enter(struct gw_session *s, enum gw_in_state st)
{
    if (gw_log_enabled(GW_LOG_TRACE)) {
        gw_log(GW_LOG_TRACE, s->sid, "event=state from=%s to=%s",
               gw_in_state_name(s->state), gw_in_state_name(st));
    }
    s->state = st;
}

static const char *
gw_in_body_error_name(enum gw_body_error e)
{
    switch (e) {
    case GW_BODY_E_TOO_BIG:
        return "size";
    case GW_BODY_E_BARE_NL:
        return "bare_newline";
    case GW_BODY_E_8BIT:
        return "8bit";
    case GW_BODY_E_POLICY:
        return "policy";
    case GW_BODY_E_REFUSED:
        return "upstream_refused";
    default:
        return "discard";
    }
}

/* A local error reply that counts against the session's error budget. */
static void
gw_in_error(struct gw_session *s, int code, const char *enh, const char *text)
{
    gw_session_reply(s, code, enh, text);
    if (!s->closing) {
        gw_session_count_error(s);
    }
}

/* May one more command go to the upstream now (its pipelining window)? */
static bool
gw_in_up_has_room(const struct gw_session *s)
{
    return s->up == NULL || gw_up_pending(s->up) < gw_up_window(s->up);
}

/* Is the session waiting for the upstream (so the client is not idle)? */
static bool
gw_in_waits_for_upstream(const struct gw_session *s)
{
    if (s->tx != NULL && !s->tx->mail_sent) {
        return true; /* MAIL held until the upstream is ready */
    }
    /* Only replies the client will see order its replies; our own
     * (internal RSET, re-chunked BDAT pieces) do not. */
    if (s->up != NULL && gw_up_pending_replies(s->up) > 0) {
        return true;
    }
    if (s->tx != NULL && s->tx->bdat_await_354) {
        return true;
    }
    return s->state == GW_IN_EOM || s->state == GW_IN_CONNECT;
}

/* Checks gw_in_dispatch answers itself before running a command; a line
 * that one of them would answer must never run ahead of pending replies. */
static bool
gw_in_too_long(const struct gw_session *s, const struct gw_line *line,
               const struct gw_cmd *cmd)
{
    /* the reader allows AUTH's longer lines (gw_session_line_max) */
    return line->len > s->cfg->limits.command_line &&
           cmd->verb != GW_VERB_AUTH;
}

static bool
gw_in_needs_tls(const struct gw_session *s, const struct gw_cmd *cmd)
{
    return s->require_tls && !gw_conn_tls_active(&s->client) &&
           (cmd->verb == GW_VERB_MAIL || cmd->verb == GW_VERB_RCPT ||
            cmd->verb == GW_VERB_DATA || cmd->verb == GW_VERB_AUTH);
}

/*
 * May this line run while upstream replies are pending? Only a RCPT that
 * will be relayed (no local reply), within the upstream's window, with
 * output room for every reply that may come back.
 */
static bool
gw_in_can_pipeline(struct gw_session *s, const struct gw_line *line)
{
    struct gw_cmd cmd;
    struct gw_rcpt_check rc;
    size_t pending;

    if (s->tx == NULL || !s->tx->mail_sent || s->tx->mail_failed ||
        s->up == NULL || line->flags != 0) {
        return false;
    }
    if (s->tx->body_kind != GW_TX_BODY_NONE) {
        /* after DATA (RFC 2920 3.1: last in its group) the next bytes are
         * message content once the 354 comes, never commands to relay */
        return false;
    }
    if (s->cfg->policy != NULL &&
        pol_ruleset_rules_at(s->cfg->policy, POL_STAGE_RCPT) > 0) {
        return false; /* rcpt rules decide in order (rate() counts once) */
    }
    if (gw_cmd_parse(line->p, line->len, &cmd) != GW_PARSE_OK ||
        gw_in_too_long(s, line, &cmd) || gw_in_needs_tls(s, &cmd)) {
        return false; /* answered here: in order, after the replies */
    }
    if (cmd.verb == GW_VERB_DATA) {
        /* behind relayed RCPTs, when nothing would be answered here: the
         * upstream says 354, or refuses it if no recipient passed */
        if (s->state != GW_IN_RCPT || cmd.args_len > 0 ||
            s->tx->params.body == GW_BODY_TYPE_BINARYMIME) {
            return false;
        }
    } else if (cmd.verb != GW_VERB_RCPT ||
               (gw_in_cmds[GW_VERB_RCPT].legal & GW_IN_BIT(s->state)) == 0) {
        return false;
    }
    pending = gw_up_pending(s->up);
    if (pending >= gw_up_window(s->up) ||
        gw_conn_out_space(&s->client) < GW_IN_REPLY_RESERVE * (pending + 2)) {
        return false;
    }
    return cmd.verb == GW_VERB_DATA || gw_in_rcpt_check(s, &cmd, &rc);
}

static void
gw_in_dispatch(struct gw_session *s, const struct gw_line *line)
{
    struct gw_cmd cmd;
    const struct gw_in_cmd *def;

    if ((line->flags & (GW_LINE_NUL | GW_LINE_BARE_CR | GW_LINE_BARE_LF)) !=
            0 ||
        gw_cmd_parse(line->p, line->len, &cmd) != GW_PARSE_OK) {
        gw_in_error(s, 500, "5.5.2",
                    "Syntax error: bare CR, bare LF or control character "
                    "in command");
        return;
    }
    if (gw_in_too_long(s, line, &cmd)) {
        gw_in_error(s, 500, "5.5.2", "Line too long");
        return;
    }
    if (gw_log_enabled(GW_LOG_TRACE)) {
        char esc[128];

        gw_str_escape(esc, sizeof(esc), line->p,
                      cmd.verb == GW_VERB_AUTH ? 4 : line->len);
        gw_log(GW_LOG_TRACE, s->sid, "event=command line=\"%s\"", esc);
    }
    if (s->w->stopping && s->tx == NULL && cmd.verb != GW_VERB_QUIT) {
        gw_session_reply_close(s, 421, "4.3.2", "Service shutting down",
                               "shutdown");
        return;
    }
    if (gw_in_needs_tls(s, &cmd)) {
        gw_in_error(s, 530, "5.7.0", "Must issue a STARTTLS command first");
        return;
    }
    if (cmd.verb == GW_VERB_MAIL && s->auth_user == NULL &&
        s->cfg->listeners[s->listener].auth.required &&
        s->state == GW_IN_READY) {
        gw_in_error(s, 530, "5.7.0", "Authentication required");
        return;
    }
    def = &gw_in_cmds[cmd.verb];
    if ((def->legal & GW_IN_BIT(s->state)) == 0) {
        const char *why = "Bad sequence of commands";

        if (s->state == GW_IN_GREETED) {
            why = "Send HELO/EHLO first";
        } else if (cmd.verb == GW_VERB_MAIL) {
            why = "Nested MAIL command";
        } else if (cmd.verb == GW_VERB_RCPT) {
            why = "Need MAIL before RCPT";
        } else if (cmd.verb == GW_VERB_DATA) {
            why = s->state == GW_IN_MAIL ? "Need RCPT before DATA"
                                         : "Need MAIL before DATA";
        }
        gw_in_error(s, 503, "5.5.1", why);
        return;
    }
    def->run(s, &cmd);
}

/*
 * After "220 Ready to start TLS": whatever the client sent after the
 * STARTTLS line was sent in the clear before the handshake; it is
 * dropped, never executed under TLS (CVE-2011-0411), and logged.
 */
static void
gw_in_start_tls(struct gw_session *s)
{
    struct gw_conn *c = &s->client;
    size_t extra = gw_buf_is_attached(&c->in) ? gw_buf_len(&c->in) : 0;
    struct tls_ctx *ctx = s->cfg->listeners[s->listener].tls_ctx;

    s->starttls_now = false;
    if (extra > 0) {
        gw_log(GW_LOG_WARN, s->sid, "event=starttls_injection bytes=%zu "
               "action=discarded", extra);
        gw_conn_consume(c, extra);
    }
    gw_in_enter(s, GW_IN_TLS);
    gw_conn_timeout(c, s->cfg->timeouts.command);
    if (gw_conn_start_tls(c, ctx, NULL) != 0) {
        gw_metric_inc(GW_M_tls_fail_client_handshake);
        gw_log(GW_LOG_WARN, s->sid, "event=tls_failed reason=\"%s\"",
               gw_conn_tls_reason(c));
        gw_session_close(s, "TLS could not start", false);
    }
}

/*
 * Runs the machine over buffered input until it must wait: for input, for
 * the upstream, or for output room. Returns true only in the last case.
 */
static bool
gw_in_run(struct gw_session *s)
{
    struct gw_conn *c = &s->client;
    struct gw_line_reader peek;
    struct gw_line line;
    int rc;

    while (!s->closing) {
        if (s->up != NULL) {
            /* one write for what this run relays (see gw_in_pump), also
             * on an upstream session attached during the run */
            gw_up_cork(s->up);
        }
        if (s->tx != NULL && !s->tx->mail_sent && s->up != NULL &&
            gw_up_is_ready(s->up) && gw_in_up_has_room(s)) {
            gw_in_send_mail(s);
            continue;
        }
        if (s->state == GW_IN_DATA || s->state == GW_IN_BDAT ||
            s->state == GW_IN_SKIP) {
            if (!(s->state == GW_IN_DATA   ? gw_in_body(s)
                  : s->state == GW_IN_BDAT ? gw_in_chunk_body(s)
                                           : gw_in_skip(s))) {
                return false;
            }
            continue;
        }
        if ((GW_IN_BIT(s->state) &
             (GW_IN_CMD_STATES | GW_IN_BIT(GW_IN_AUTH))) == 0 ||
            !gw_in_up_has_room(s) || !gw_buf_is_attached(&c->in) ||
            gw_buf_len(&c->in) == 0) {
            return false;
        }
        if (gw_conn_out_space(&s->client) < GW_IN_REPLY_RESERVE) {
            return true;
        }
        peek = s->lines;
        rc = gw_line_next(&peek, c->in.pos, gw_buf_len(&c->in), &line);
        if (rc == GW_PARSE_AGAIN) {
            if (line.consumed == 0) {
                return false;
            }
            s->lines = peek;
            gw_conn_consume(c, line.consumed);
            continue;
        }
        if (gw_in_waits_for_upstream(s) &&
            (rc != GW_PARSE_OK || !gw_in_can_pipeline(s, &line))) {
            return false; /* answered in order once the upstream replied */
        }
        s->lines = peek;
        if (s->state == GW_IN_AUTH) {
            gw_auth_response(s, &line, rc == GW_PARSE_TOOLONG);
            gw_conn_consume(c, line.consumed);
            continue;
        }
        if (rc == GW_PARSE_TOOLONG) {
            gw_conn_consume(c, line.consumed);
            gw_in_error(s, 500, "5.5.2", "Line too long");
            continue;
        }
        gw_in_dispatch(s, &line);
        gw_conn_consume(c, line.consumed);
        if (s->starttls_now) {
            gw_in_start_tls(s);
            return false;
        }
    }
    return false;
}

/*
 * After the client's EOF: is nothing left that it sent and we can use?
 * Body bytes cannot complete any more once the buffer is empty; commands
 * wait for the upstream replies they are owed, then for no complete line.
 */
static bool
gw_in_client_gone(const struct gw_session *s)
{
    const struct gw_buf *in = &s->client.in;
    size_t len = gw_buf_is_attached(in) ? gw_buf_len(in) : 0;

    if (!s->client.read_eof) {
        return false;
    }
    if (GW_IN_BIT(s->state) & (GW_IN_BIT(GW_IN_DATA) | GW_IN_BIT(GW_IN_BDAT) |
                               GW_IN_BIT(GW_IN_SKIP))) {
        return len == 0;
    }
    if ((GW_IN_BIT(s->state) & (GW_IN_CMD_STATES | GW_IN_BIT(GW_IN_AUTH))) ==
        0) {
        return false; /* the upstream, TLS or a timer moves it on */
    }
    return !gw_in_waits_for_upstream(s) &&
           (len == 0 || memchr(in->pos, '\n', len) == NULL);
}

void
gw_in_pump(struct gw_session *s)
{
    struct gw_conn *c = &s->client;
    bool out_full;

    do {
        /* What one read of the client's group sends upstream leaves in
         * one write: gw_in_run corks the upstream, this flushes it. An
         * upstream session left meanwhile was uncorked by gw_up_close or
         * by the pool (gw_up_set_owner). */
        out_full = gw_in_run(s);
        if (s->up != NULL) {
            gw_up_uncork(s->up);
        }
        if (s->closing) {
            return;
        }
        /* a flush that completes at once brings no drain event: go on */
        gw_conn_flush(c);
    } while (out_full && !c->error &&
             gw_conn_out_space(c) >= GW_IN_REPLY_RESERVE);
    if (!out_full && gw_in_client_gone(s)) {
        gw_session_close(s, "client closed", true);
        return;
    }
    gw_conn_want_read(c, true);
    if (gw_in_waits_for_upstream(s)) {
        gw_conn_timeout(c, 0); /* the upstream's timers run instead */
    } else {
        gw_conn_timeout(c, (s->state == GW_IN_DATA ||
                            s->state == GW_IN_BDAT || s->state == GW_IN_SKIP)
                               ? s->cfg->timeouts.data_block
                               : s->cfg->timeouts.command);
    }
}

/* --- commands --- */

static void
gw_in_reset_tx(struct gw_session *s, const char *outcome)
{
    struct gw_tx *tx = s->tx;

    if (tx == NULL) {
        return;
    }
    if (tx->mail_sent && !tx->mail_failed && s->up != NULL &&
        gw_up_send(s->up, GW_VERB_RSET, true, "RSET", 4) != 0) {
        /* cannot reset it: drop the upstream session instead */
        gw_up_close(s->up, false);
        s->up = NULL;
    }
    gw_session_tx_end(s, outcome, NULL, 0);
}

static void
gw_in_helo(struct gw_session *s, const struct gw_cmd *cmd)
{
    struct gw_offer_input in;
    struct gw_caps upcaps;
    struct pol_facts f;
    struct pol_verdict v;
    char pbuf[POL_VERDICT_BUF_SIZE];
    uint8_t buf[1024];
    size_t n;
    int rc = gw_helo_parse(cmd->args, cmd->args_len);

    if (rc != GW_PARSE_OK) {
        gw_in_error(s, 501, "5.5.4",
                    cmd->verb == GW_VERB_EHLO ? "Syntax: EHLO hostname"
                                              : "Syntax: HELO hostname");
        return;
    }
    gw_policy_facts(s, &f);
    f.helo.p = cmd->args;
    f.helo.len = cmd->args_len;
    gw_policy_eval(s, POL_STAGE_HELO, &f, &v, pbuf, sizeof(pbuf));
    if (gw_policy_refuse(s, &v)) {
        return; /* the session stays where it was */
    }
    gw_in_reset_tx(s, "reset");
    gw_free(s->helo);
    s->helo = gw_strndup((const char *)cmd->args, cmd->args_len);
    if (s->helo == NULL) {
        gw_session_reply_close(s, 421, "4.3.2", "Out of memory",
                               "out of memory");
        return;
    }
    s->esmtp = (cmd->verb == GW_VERB_EHLO);
    gw_in_enter(s, GW_IN_READY);
    memset(&s->offered, 0, sizeof(s->offered));
    if (!s->esmtp) {
        /* HELO: no extensions, so every MAIL/RCPT parameter is 555 */
        gw_session_reply(s, 250, "", s->cfg->hostname);
        return;
    }
    /* the session's own route: a transaction that a rule moved elsewhere
     * is over, and the next one starts from the default again */
    gw_shm_caps_get(s->w->shm, s->cfg->upstreams[s->default_upstream].name,
                    &upcaps);
    in.ehlo = &s->cfg->ehlo;
    in.upstream = &upcaps;
    in.message_size = s->cfg->limits.message_size;
    in.rcptmax = s->cfg->limits.recipients;
    in.mailmax = s->cfg->limits.messages_per_session;
    in.starttls = s->cfg->listeners[s->listener].tls == GW_TLS_STARTTLS &&
                  !gw_conn_tls_active(&s->client);
    in.auth_mechs = gw_auth_offer(s, &upcaps);
    in.xclient = gw_xclient_in_allowed(s);
    /* RFC 8689: only over TLS, and only when the next hop is reached
     * over verified TLS */
    in.requiretls = gw_conn_tls_active(&s->client) &&
                    s->cfg->upstreams[s->default_upstream].tls ==
                        GW_UP_TLS_VERIFY;
    gw_caps_offer(&s->offered, &in);
    n = gw_caps_format_ehlo(&s->offered, s->cfg->hostname, buf, sizeof(buf));
    GW_ASSERT(n > 0);
    if (gw_conn_write(&s->client, buf, n) != 0) {
        gw_session_close(s, "client output full", false);
    }
}

/*
 * The mail stage: refusals answer the MAIL; `upstream` picks the block
 * this transaction goes to (an open upstream session of another block is
 * closed first); limits apply to the transaction. Returns false when the
 * MAIL was answered here.
 */
static bool
gw_in_mail_policy(struct gw_session *s, const struct gw_mail_args *args,
                  const struct gw_mail_params *params, struct pol_verdict *v,
                  char *buf, size_t cap)
{
    struct pol_facts f;
    uint32_t block = s->default_upstream;

    gw_policy_facts(s, &f);
    f.messages = (uint32_t)s->messages + 1;
    f.sender.p = (const uint8_t *)args->path.addr;
    f.sender.len = args->path.len;
    f.has_size = params->size > 0;
    f.size = params->size;
    f.body.p = (const uint8_t *)(params->body == GW_BODY_TYPE_8BITMIME
                                     ? "8BITMIME"
                                 : params->body == GW_BODY_TYPE_BINARYMIME
                                     ? "BINARYMIME"
                                 : params->body == GW_BODY_TYPE_7BIT ? "7BIT"
                                                                     : "");
    f.body.len = strlen((const char *)f.body.p);
    f.smtputf8 = params->smtputf8;
    f.requiretls = params->requiretls;
    f.envid.p = (const uint8_t *)params->envid;
    f.envid.len = strlen(params->envid);
    gw_policy_eval(s, POL_STAGE_MAIL, &f, v, buf, cap);
    if (gw_policy_refuse(s, v)) {
        return false;
    }
    if (v->limit_message_size > 0 && params->size > v->limit_message_size) {
        gw_session_reply(s, 552, "5.3.4",
                         "Message size exceeds the limit for this sender");
        return false;
    }
    if ((v->flags & POL_VF_UPSTREAM) != 0) {
        block = gw_session_block(s, v->upstream, block);
    }
    if (block != s->upstream_block) {
        if (gw_auth_holds_upstream(s)) {
            /* the login lives on the current upstream session */
            gw_session_reply(s, 451, "4.3.0", "Routing conflicts with the "
                             "authenticated session, try again later");
            return false;
        }
        if (s->up != NULL) {
            gw_up_close(s->up, true);
            s->up = NULL;
        }
        s->upstream_block = block;
    }
    return true;
}

static void
gw_in_mail(struct gw_session *s, const struct gw_cmd *cmd)
{
    struct gw_mail_args args;
    struct gw_parse_error perr;
    struct gw_mail_params params;
    struct gw_esmtp_error err;
    struct pol_verdict v;
    char pbuf[POL_VERDICT_BUF_SIZE];
    int rc;

    if (s->messages >= s->cfg->limits.messages_per_session) {
        gw_session_reply_close(s, 421, "4.7.0",
                               "Too many messages in this session",
                               "message limit");
        return;
    }
    rc = gw_mail_parse(cmd->args, cmd->args_len, &args, &perr);
    if (rc != GW_PARSE_OK) {
        gw_in_error(s, 501, perr.in_path ? "5.1.7" : "5.5.4", perr.why);
        return;
    }
    if (!gw_esmtp_mail_check(&args, &s->offered, s->offered.size_max,
                             &params, &err)) {
        gw_in_error(s, err.code, err.enh, err.text);
        return;
    }
    if (!gw_in_mail_policy(s, &args, &params, &v, pbuf, sizeof(pbuf))) {
        return;
    }
    if (!gw_session_upstream_open(s)) {
        gw_session_reply(s, 451, "4.3.0", "Local error, try again later");
        return;
    }
    s->tx = gw_calloc(1, sizeof(*s->tx));
    if (s->tx == NULL) {
        gw_session_reply_close(s, 421, "4.3.2", "Out of memory",
                               "out of memory");
        return;
    }
    s->tx->mail = args.path;
    s->tx->params = params;
    s->tx->mail_block = s->upstream_block;
    s->tx->started_ms = gw_now_ms();
    s->tx->size_limit = (v.flags & POL_VF_LIMIT_SIZE) != 0
                            ? v.limit_message_size
                            : 0;
    s->tx->rcpt_limit = (v.flags & POL_VF_LIMIT_RCPTS) != 0
                            ? v.limit_recipients
                            : 0;
    s->tx->tls_min = params.requiretls ? POL_TLS_VERIFY : s->tls_min;
    if ((v.flags & POL_VF_TLS_POLICY) != 0 &&
        (uint8_t)v.tls_policy > s->tx->tls_min) {
        s->tx->tls_min = (uint8_t)v.tls_policy;
    }
    s->tx->mail_tls_min = s->tx->tls_min;
    gw_in_enter(s, GW_IN_MAIL);
    /* The MAIL goes out from the pump as soon as the upstream is ready. */
}

/*
 * The MAIL was answered here, not sent (or could not be): the client's
 * MAIL gets the reply and the transaction ends. On a re-route the client
 * has had its MAIL reply: the reply is the waiting RCPT's, and the
 * transaction goes on without an upstream MAIL.
 */
static void
gw_in_mail_answered(struct gw_session *s, int code, const char *enh,
                    const char *text, const char *outcome)
{
    s->tx->mail_sent = true; /* nothing more goes upstream for it */
    gw_session_reply(s, code, enh, text); /* may close s, freeing s->tx */
    if (s->tx == NULL) {
        return;
    }
    if (s->tx->held_rcpt != NULL) {
        gw_in_route_failed(s);
    } else {
        gw_session_tx_end(s, outcome, NULL, code);
    }
}

/*
 * Rebuilt from the parsed path and checked parameters: client bytes are
 * never copied through. Runs once the upstream's capabilities are known,
 * which is when the 8-bit decision can be made.
 */
static void
gw_in_send_mail(struct gw_session *s)
{
    struct gw_tx *tx = s->tx;
    const struct gw_caps *caps = gw_up_caps(s->up);
    struct gw_bridge bridge;
    char line[GW_MAX_PATH + 256];
    size_t n;

    if (tx->params.requiretls &&
        (gw_up_tls_level(s->up) < POL_TLS_VERIFY ||
         !gw_caps_has(caps, GW_CAP_REQUIRETLS))) {
        /* RFC 8689 4.2.1: the next hop must take it over verified TLS and
         * offer REQUIRETLS itself; otherwise the message is refused */
        gw_log(GW_LOG_WARN, s->sid, "event=upstream_tls_policy "
               "required=requiretls upstream=%s", gw_up_addr(s->up));
        gw_in_mail_answered(s, 550, "5.7.30", "REQUIRETLS support required",
                            "tls-policy");
        return;
    }
    if (tx->tls_min >= POL_TLS_ENCRYPT &&
        tx->tls_min > gw_up_tls_level(s->up)) {
        /* policy wants more TLS than this upstream session has: never
         * send the transaction over less (fail closed, like tls: encrypt) */
        gw_log(GW_LOG_WARN, s->sid, "event=upstream_tls_policy "
               "required=%s upstream=%s", pol_tls_policy_name(
                   (enum pol_tls_policy)tx->tls_min), gw_up_addr(s->up));
        gw_in_mail_answered(s, 451, "4.7.5", "Upstream TLS required by "
                            "policy but not available, try again later",
                            "tls-policy");
        return;
    }
    /* The session's route offered these; a rule may have moved the
     * transaction to an upstream that did not. Binary content cannot
     * become DATA, nor a UTF-8 envelope go to a server without SMTPUTF8. */
    if (tx->params.body == GW_BODY_TYPE_BINARYMIME &&
        !gw_caps_has(caps, GW_CAP_BINARYMIME)) {
        gw_in_mail_answered(s, 554, "5.6.1",
                            "Upstream cannot take binary content", "rejected");
        return;
    }
    if (tx->params.smtputf8 && !gw_caps_has(caps, GW_CAP_SMTPUTF8)) {
        gw_in_mail_answered(s, 553, "5.6.7",
                            "Upstream cannot take internationalized mail "
                            "(SMTPUTF8)", "rejected");
        return;
    }
    if ((tx->params.ret != GW_RET_NONE || tx->params.envid[0] != '\0') &&
        !gw_caps_has(caps, GW_CAP_DSN)) {
        gw_log(GW_LOG_INFO, s->sid, "event=dsn_dropped upstream=%s",
               gw_up_addr(s->up));
    }
    gw_caps_bridge(&bridge, &s->offered, caps);
    if (tx->params.body == GW_BODY_TYPE_8BITMIME && bridge.eightbit_downgrade) {
        if (s->cfg->ehlo.eightbit == GW_EIGHTBIT_REJECT) {
            gw_in_mail_answered(s, 554, "5.6.3",
                                "Upstream cannot accept 8-bit content",
                                "rejected");
            return;
        }
        /* Most legacy MTAs are 8-bit clean; see docs/architecture.md. */
        gw_metric_inc(GW_M_bridge_8bit_downgrade_total);
        gw_log(GW_LOG_INFO, s->sid,
               "event=8bitmime_downgrade upstream=%s action=pass",
               gw_up_addr(s->up));
    }
    if (!tx->identified) {
        tx->identified = true;
        if (gw_session_identify(s) || !gw_in_up_has_room(s)) {
            return; /* XCLIENT re-greets, or XFORWARD fills the window:
                       MAIL goes once the upstream is ready again */
        }
    }
    if (bridge.serial) {
        gw_metric_inc(GW_M_bridge_serial_total);
    }
    n = gw_esmtp_mail_line(line, sizeof(line), &tx->mail, &tx->params, caps);
    GW_ASSERT(n > 0);
    if (gw_up_send(s->up, GW_VERB_MAIL, false, line, n) != 0) {
        gw_in_mail_answered(s, 451, "4.3.0", "Local error, try again later",
                            "local-error");
        return;
    }
    tx->mail_sent = true;
}

/* Everything that decides a RCPT locally, without side effects: so a
 * pipelined RCPT can be checked before it is allowed to run early. */
static bool
gw_in_rcpt_check(struct gw_session *s, const struct gw_cmd *cmd,
                 struct gw_rcpt_check *rc)
{
    struct gw_parse_error perr;
    struct gw_esmtp_error err;

    memset(&rc->v, 0, sizeof(rc->v));
    if (gw_rcpt_parse(cmd->args, cmd->args_len, &rc->args, &perr) !=
        GW_PARSE_OK) {
        rc->v.code = 501;
        rc->v.enh = perr.in_path ? "5.1.3" : "5.5.4";
        rc->v.text = perr.why;
    } else if (!gw_esmtp_rcpt_check(&rc->args, &s->offered,
                                    s->tx->params.smtputf8, &rc->params,
                                    &err)) {
        rc->v.code = err.code;
        rc->v.enh = err.enh;
        rc->v.text = err.text;
    } else if (s->tx->rcpt_sent >= s->cfg->limits.recipients ||
               (s->tx->rcpt_limit > 0 &&
                s->tx->rcpt_sent >= s->tx->rcpt_limit)) {
        rc->v.code = 452;
        rc->v.enh = "4.5.3";
        rc->v.text = "Too many recipients";
    }
    return rc->v.code == 0;
}

/* Relays a checked RCPT on the transaction's upstream MAIL. */
static void
gw_in_rcpt_relay(struct gw_session *s, const struct gw_path *path,
                 const struct gw_rcpt_params *params)
{
    char line[GW_MAX_PATH + GW_ORCPT_MAX + 64];
    size_t n;

    n = gw_esmtp_rcpt_line(line, sizeof(line), path, params,
                           gw_up_caps(s->up));
    GW_ASSERT(n > 0);
    if (gw_up_send(s->up, GW_VERB_RCPT, false, line, n) != 0) {
        gw_session_reply(s, 451, "4.3.0", "Local error, try again later");
        return;
    }
    s->tx->rcpt_sent++;
    gw_in_enter(s, GW_IN_RCPT);
}

/*
 * Routing by recipient: before any recipient is accepted, a RCPT whose
 * rule names another upstream block moves the transaction there. The old
 * upstream session goes (its open MAIL with it); the MAIL the client has
 * had its 250 for is sent again on the new route, and the RCPT waits for
 * that reply (gw_in_rerouted_mail).
 */
static void
gw_in_reroute(struct gw_session *s, uint32_t block,
              const struct gw_rcpt_check *rc, uint8_t tls_need)
{
    struct gw_tx *tx = s->tx;
    char esc[GW_MAX_PATH * 4 + 1];

    tx->held_rcpt = gw_alloc(sizeof(*tx->held_rcpt));
    if (tx->held_rcpt == NULL) {
        gw_session_reply(s, 451, "4.3.0", "Local error, try again later");
        return;
    }
    tx->held_rcpt->path = rc->args.path;
    tx->held_rcpt->params = rc->params;
    if (s->up != NULL && block != s->upstream_block) {
        gw_up_close(s->up, true);
        s->up = NULL;
    }
    gw_str_escape(esc, sizeof(esc), (const uint8_t *)rc->args.path.addr,
                  rc->args.path.len);
    gw_log(GW_LOG_INFO, s->sid, "event=reroute rcpt=<%s> upstream=%s", esc,
           s->cfg->upstreams[block].name);
    s->upstream_block = block;
    /* a recipient's TLS demand holds for its route, not for the next */
    tx->tls_min = tls_need > tx->mail_tls_min ? tls_need : tx->mail_tls_min;
    tx->mail_sent = false;
    tx->unrouted = false;
    tx->identified = false;
    if (!gw_session_upstream_open(s)) {
        gw_in_mail_answered(s, 451, "4.3.0", "Local error, try again later",
                            "local-error");
    }
    /* the pump sends the MAIL once the new upstream is ready */
}

void
gw_in_route_failed(struct gw_session *s)
{
    struct gw_tx *tx = s->tx;

    if (tx == NULL) {
        return; /* the reply closed the session */
    }
    /* the recipient was tried: it counts against the recipient limits,
     * so failing routes cannot be tried without end */
    tx->rcpt_sent++;
    gw_free(tx->held_rcpt);
    tx->held_rcpt = NULL;
    tx->mail_sent = true;
    tx->unrouted = true;
}

void
gw_in_rerouted_mail(struct gw_session *s, const struct gw_reply *r)
{
    struct gw_tx *tx = s->tx;
    struct gw_held_rcpt *held = tx->held_rcpt;

    if (r->code / 100 != 2 || held == NULL) {
        gw_in_route_failed(s); /* the caller gave r as the RCPT's reply */
        return;
    }
    tx->held_rcpt = NULL;
    gw_in_rcpt_relay(s, &held->path, &held->params);
    gw_free(held);
}

static void
gw_in_rcpt(struct gw_session *s, const struct gw_cmd *cmd)
{
    struct gw_rcpt_check rc;
    struct pol_facts f;
    struct pol_verdict v;
    char pbuf[POL_VERDICT_BUF_SIZE];
    uint32_t block;
    uint8_t tls_need = 0;

    if (!gw_in_rcpt_check(s, cmd, &rc)) {
        if (rc.v.code == 452) {
            gw_session_reply(s, rc.v.code, rc.v.enh, rc.v.text);
        } else {
            gw_in_error(s, rc.v.code, rc.v.enh, rc.v.text);
        }
        return;
    }
    if (s->tx->mail_failed) {
        gw_in_error(s, 503, "5.5.1", "Need MAIL before RCPT");
        return;
    }
    if (s->up == NULL && !s->tx->unrouted) {
        /* the upstream went away between commands of this transaction */
        gw_session_reply(s, 451, "4.4.2",
                         "Upstream connection lost, try again later");
        gw_session_tx_end(s, "upstream-failed", NULL, 451);
        return;
    }
    gw_policy_facts(s, &f);
    f.rcpt.p = (const uint8_t *)rc.args.path.addr;
    f.rcpt.len = rc.args.path.len;
    f.rcpt_count = (uint32_t)s->tx->rcpt_sent + 1;
    gw_policy_eval(s, POL_STAGE_RCPT, &f, &v, pbuf, sizeof(pbuf));
    if (gw_policy_refuse(s, &v)) {
        return;
    }
    block = (v.flags & POL_VF_UPSTREAM) != 0
                ? gw_session_block(s, v.upstream, s->tx->mail_block)
                : s->tx->mail_block;
    if ((v.flags & POL_VF_TLS_POLICY) != 0) {
        tls_need = (uint8_t)v.tls_policy;
    }
    /* rcpt rules run one RCPT at a time (gw_in_can_pipeline): no reply is
     * pending, so rcpt_ok is final */
    if (s->tx->rcpt_ok == 0 &&
        (block != s->upstream_block || s->tx->unrouted) &&
        s->tx->reroutes < GW_MAX_REROUTES) {
        if (block != s->upstream_block && gw_auth_holds_upstream(s)) {
            gw_session_reply(s, 451, "4.3.0", "Routing conflicts with the "
                             "authenticated session, try again later");
            return;
        }
        s->tx->reroutes++;
        gw_in_reroute(s, block, &rc, tls_need);
        return;
    }
    if (s->tx->unrouted) {
        /* each new route costs an upstream session: a few per
         * transaction, then the client sends the rest again */
        gw_session_reply(s, 452, "4.5.3", "Too many routes tried in one "
                         "transaction: send the rest separately");
        return;
    }
    if (block != s->upstream_block) {
        /* one transaction, one upstream: RFC 5321 3.3 lets the client
         * send this recipient again in its own transaction */
        gw_session_reply(s, 452, "4.5.3",
                         "Recipient needs another route: send it in a "
                         "separate transaction");
        return;
    }
    if (tls_need >= POL_TLS_ENCRYPT && tls_need > gw_up_tls_level(s->up)) {
        gw_log(GW_LOG_WARN, s->sid, "event=upstream_tls_policy required=%s "
               "upstream=%s",
               pol_tls_policy_name((enum pol_tls_policy)tls_need),
               gw_up_addr(s->up));
        gw_session_reply(s, 451, "4.7.5", "Upstream TLS required by policy "
                         "but not available, try again later");
        return;
    }
    gw_in_rcpt_relay(s, &rc.args.path, &rc.params);
}

static void
gw_in_data(struct gw_session *s, const struct gw_cmd *cmd)
{
    if (cmd->args_len > 0) {
        gw_in_error(s, 501, "5.5.4", "Syntax: DATA");
        return;
    }
    if (s->tx->params.body == GW_BODY_TYPE_BINARYMIME) {
        /* RFC 3030 3: a binary body can only be sent with BDAT */
        gw_in_error(s, 503, "5.5.1", "BODY=BINARYMIME requires BDAT");
        return;
    }
    if (s->tx->rcpt_ok == 0 &&
        (s->up == NULL || gw_up_pending_replies(s->up) == 0)) {
        /* RFC 2920 3.1: no 354 when every RCPT was refused. Behind RCPT
         * replies still to come, the upstream decides (and a 354 with no
         * recipient is refused in gw_session_up_reply). */
        gw_in_error(s, 554, "5.5.1", "No valid recipients");
        return;
    }
    s->tx->body_kind = GW_TX_BODY_DATA;
    if (s->up == NULL ||
        gw_up_send(s->up, GW_VERB_DATA, false, "DATA", 4) != 0) {
        gw_session_reply(s, 451, "4.4.2",
                         "Upstream connection lost, try again later");
        gw_session_tx_end(s, "upstream-failed", NULL, 451);
        return;
    }
    /* the 354 (or the refusal) comes from the upstream's reply */
}

/*
 * Moves message bytes from the client to the upstream as far as the
 * upstream's output buffer allows. Returns true when it made progress.
 */
static bool
gw_in_body(struct gw_session *s)
{
    struct gw_conn *c = &s->client;
    struct gw_body *b = &s->tx->body;
    struct gw_buf *out = NULL;
    size_t n;

    if (b->done) {
        gw_in_body_done(s); /* the end was held for output space */
        return s->state != GW_IN_DATA;
    }
    if (!gw_buf_is_attached(&c->in) || gw_buf_len(&c->in) == 0) {
        return false;
    }
    if (s->up != NULL && b->error == GW_BODY_OK) {
        out = gw_up_body_out(s->up);
        if (out == NULL) {
            gw_body_discard(b);
        }
    }
    n = gw_body_feed(b, c->in.pos, gw_buf_len(&c->in), out);
    gw_conn_consume(c, n);
    if (s->up != NULL && b->error != GW_BODY_OK) {
        /* Abort the upstream transaction: no terminator ever follows, so
         * the partial message can never be delivered. */
        gw_log(GW_LOG_INFO, s->sid, "event=upstream_abort reason=%s",
               gw_in_body_error_name(b->error));
        gw_up_close(s->up, false);
        s->up = NULL;
    } else if (s->up != NULL) {
        gw_up_flush(s->up);
    }
    if (b->done) {
        gw_in_body_done(s);
        return true;
    }
    return n > 0;
}

/* The header stage: each field as it streams. A refusal stops the body
 * (nothing more reaches the upstream, which is aborted) and the reply is
 * kept for the end of data. */
static bool
gw_in_on_header(void *arg, const uint8_t *name, size_t name_len,
                const uint8_t *value, size_t value_len)
{
    struct gw_session *s = arg;
    struct gw_tx *tx = s->tx;
    struct pol_facts f;
    struct pol_verdict v;
    char pbuf[POL_VERDICT_BUF_SIZE];

    gw_policy_facts(s, &f);
    f.header_name.p = name;
    f.header_name.len = name_len;
    f.header_value.p = value;
    f.header_value.len = value_len;
    gw_policy_eval(s, POL_STAGE_HEADER, &f, &v, pbuf, sizeof(pbuf));
    if (v.action == POL_VERDICT_CONTINUE || v.action == POL_VERDICT_ACCEPT) {
        return true;
    }
    if (v.action == POL_VERDICT_ERROR) {
        tx->refuse_code = 451;
        gw_strlcpy(tx->refuse_enh, "4.3.0", sizeof(tx->refuse_enh));
        gw_strlcpy(tx->refuse_text, "Temporary policy error, try again later",
                   sizeof(tx->refuse_text));
    } else {
        tx->refuse_code = v.action == POL_VERDICT_DISCONNECT ? 421
                                                             : (int)v.code;
        gw_strlcpy(tx->refuse_enh, v.enhanced, sizeof(tx->refuse_enh));
        gw_strlcpy(tx->refuse_text,
                   v.text_len > 0 ? v.text : "Message refused by policy",
                   sizeof(tx->refuse_text));
    }
    return false;
}

void
gw_in_header_policy_start(struct gw_session *s)
{
    struct gw_tx *tx = s->tx;

    if (tx == NULL || tx->hdr != NULL || s->cfg->policy == NULL ||
        pol_ruleset_rules_at(s->cfg->policy, POL_STAGE_HEADER) == 0) {
        return;
    }
    tx->hdr = gw_hdr_new(gw_in_on_header, s);
    if (tx->hdr == NULL) {
        /* no memory for the header stage: refuse rather than skip it */
        tx->refuse_code = 451;
        gw_strlcpy(tx->refuse_enh, "4.3.0", sizeof(tx->refuse_enh));
        gw_strlcpy(tx->refuse_text, "Local error, try again later",
                   sizeof(tx->refuse_text));
        tx->body.error = GW_BODY_E_POLICY;
        return;
    }
    tx->body.hdr = tx->hdr;
}

/* A message may end inside its headers: the last field still goes to the
 * header rules, and a refusal aborts the upstream like any other. */
static void
gw_in_headers_finish(struct gw_session *s)
{
    struct gw_tx *tx = s->tx;

    if (tx->hdr == NULL || tx->body.error != GW_BODY_OK) {
        return;
    }
    gw_hdr_finish(tx->hdr);
    if (tx->refuse_code != 0) {
        tx->body.error = GW_BODY_E_POLICY;
        if (s->up != NULL) {
            gw_up_close(s->up, false);
            s->up = NULL;
        }
    }
}

uint64_t
gw_in_body_limit(const struct gw_session *s, const struct gw_caps *upstream)
{
    uint64_t limit = gw_caps_size_limit(upstream, s->cfg->limits.message_size);

    if (s->tx != NULL && s->tx->size_limit > 0 &&
        (limit == 0 || s->tx->size_limit < limit)) {
        limit = s->tx->size_limit; /* a mail rule's set_limit message_size */
    }
    return limit;
}

bool
gw_in_has_eom_policy(const struct gw_session *s)
{
    return s->cfg->policy != NULL &&
           pol_ruleset_rules_at(s->cfg->policy, POL_STAGE_EOM) > 0;
}

/*
 * The eom stage, before the end of data goes upstream. A refusal aborts
 * the upstream transaction (closed, no terminator: never delivered) and
 * answers the client; returns true then.
 */
static bool
gw_in_eom_policy(struct gw_session *s)
{
    struct pol_facts f;
    struct pol_verdict v;
    char pbuf[POL_VERDICT_BUF_SIZE];

    if (!gw_in_has_eom_policy(s)) {
        return false;
    }
    gw_policy_facts(s, &f);
    f.message_size = s->tx->body.size;
    f.saw_8bit = s->tx->body.saw_8bit;
    f.header_count = s->tx->hdr != NULL ? gw_hdr_count(s->tx->hdr) : 0;
    gw_policy_eval(s, POL_STAGE_EOM, &f, &v, pbuf, sizeof(pbuf));
    if (v.action == POL_VERDICT_CONTINUE || v.action == POL_VERDICT_ACCEPT) {
        return false;
    }
    if (s->up != NULL) {
        gw_up_close(s->up, false);
        s->up = NULL;
    }
    if (gw_policy_refuse(s, &v) && !s->closing) {
        gw_session_tx_end(s, v.code / 100 == 5 ? "rejected" : "tempfail",
                          NULL, v.code != 0 ? (int)v.code : 451);
    }
    return true;
}

static void
gw_in_body_done(struct gw_session *s)
{
    struct gw_buf *out;

    gw_in_headers_finish(s);
    switch (s->tx->body.error) {
    case GW_BODY_OK:
        if (s->up == NULL) {
            break;
        }
        out = gw_up_body_out(s->up);
        if (s->tx->body.defer_end &&
            (out == NULL || gw_buf_space(out) < GW_BODY_SLACK)) {
            return; /* called again when the upstream drains */
        }
        if (gw_in_eom_policy(s)) {
            return;
        }
        if (s->tx->body.defer_end) {
            gw_body_terminate(&s->tx->body, out);
        }
        if (gw_up_expect(s->up, GW_VERB_DATA, true, false) == 0) {
            gw_in_enter(s, GW_IN_EOM);
            return;
        }
        break;
    default:
        gw_in_body_failed(s);
        return;
    }
    gw_session_reply(s, 451, "4.4.2",
                     "Upstream connection lost, try again later");
    gw_session_tx_end(s, "upstream-failed", NULL, 451);
}

/* The local reply for a body that failed on its way; ends the transaction.
 * The upstream was already aborted (it never got a terminator). */
static void
gw_in_body_failed(struct gw_session *s)
{
    switch (s->tx->body.error) {
    case GW_BODY_E_TOO_BIG:
        gw_session_reply(s, 552, "5.3.4",
                         "Message size exceeds fixed maximum message size");
        gw_session_tx_end(s, "rejected", NULL, 552);
        return;
    case GW_BODY_E_BARE_NL:
        gw_session_reply(s, 550, "5.6.0",
                         "Message contains bare CR or bare LF");
        gw_session_tx_end(s, "rejected", NULL, 550);
        return;
    case GW_BODY_E_8BIT:
        gw_session_reply(s, 554, "5.6.3",
                         "Upstream cannot accept 8-bit content");
        gw_session_tx_end(s, "rejected", NULL, 554);
        return;
    case GW_BODY_E_POLICY:
    case GW_BODY_E_REFUSED: {
        int code = s->tx->refuse_code != 0 ? s->tx->refuse_code : 550;

        if (code == 421) {
            gw_session_reply_close(s, 421, s->tx->refuse_enh,
                                   s->tx->refuse_text, "policy disconnect");
            return;
        }
        gw_session_reply(s, code,
                         s->tx->refuse_enh[0] != '\0' ? s->tx->refuse_enh
                                                      : NULL,
                         s->tx->refuse_text);
        gw_session_tx_end(s, code / 100 == 5 ? "rejected" : "tempfail", NULL,
                          code);
        return;
    }
    default:
        gw_session_reply(s, 451, "4.4.2",
                         "Upstream connection lost, try again later");
        gw_session_tx_end(s, "upstream-failed", NULL, 451);
        return;
    }
}

bool
gw_in_reject_8bit(const struct gw_session *s)
{
    struct gw_bridge bridge;

    if (s->up == NULL || s->cfg->ehlo.eightbit != GW_EIGHTBIT_REJECT) {
        return false;
    }
    gw_caps_bridge(&bridge, &s->offered, gw_up_caps(s->up));
    return bridge.eightbit_downgrade;
}

/* --- BDAT (RFC 3030) --- */

/* "BDAT" SP chunk-size [SP "LAST"]; the size is below 2^63. */
static bool
gw_in_bdat_parse(const struct gw_cmd *cmd, uint64_t *size, bool *last)
{
    const uint8_t *p = cmd->args;
    size_t len = cmd->args_len;
    size_t n = 0;

    while (n < len && gw_is_digit(p[n])) {
        n++;
    }
    if (n == 0 || n > 19 || !gw_str_to_u64(p, n, size) ||
        *size >= (1ULL << 63)) {
        return false;
    }
    *last = false;
    if (n == len) {
        return true;
    }
    while (n < len && p[n] == ' ') {
        n++;
    }
    if (gw_str_ieq(p + n, len - n, "LAST")) {
        *last = true;
        return true;
    }
    return false;
}

/* Refuses a chunk: the reply now, then its bytes are read and dropped. */
static void
gw_in_bdat_refuse(struct gw_session *s, uint64_t size, int code,
                  const char *enh, const char *text)
{
    gw_in_error(s, code, enh, text);
    if (s->closing) {
        return;
    }
    s->skip_left = size;
    s->skip_return = s->state;
    gw_in_enter(s, GW_IN_SKIP);
}

static void
gw_in_bdat(struct gw_session *s, const struct gw_cmd *cmd)
{
    struct gw_tx *tx = s->tx;
    const struct gw_caps *caps;
    struct gw_bridge bridge;
    uint64_t size;
    bool last;
    bool binary;

    if (!gw_in_bdat_parse(cmd, &size, &last)) {
        /* without a size we cannot tell chunk bytes from commands */
        gw_in_error(s, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
        return;
    }
    if (s->require_tls && !gw_conn_tls_active(&s->client)) {
        gw_in_bdat_refuse(s, size, 530, "5.7.0",
                          "Must issue a STARTTLS command first");
        return;
    }
    if (!s->esmtp || tx == NULL ||
        (s->state != GW_IN_RCPT && s->state != GW_IN_CHUNK)) {
        gw_in_bdat_refuse(s, size, 503, "5.5.1",
                          tx == NULL ? "Need MAIL before BDAT"
                                     : "Need RCPT before BDAT");
        return;
    }
    if (tx->rcpt_ok == 0) {
        gw_in_bdat_refuse(s, size, 554, "5.5.1", "No valid recipients");
        return;
    }
    if (tx->body.error == GW_BODY_E_REFUSED) {
        /* the upstream refused a piece of an earlier chunk: this one is
         * read and dropped, with that refusal, and the transaction ends */
        int code = tx->refuse_code;
        char enh[sizeof(tx->refuse_enh)];
        char text[sizeof(tx->refuse_text)];

        gw_strlcpy(enh, tx->refuse_enh, sizeof(enh));
        gw_strlcpy(text, tx->refuse_text, sizeof(text));
        gw_session_tx_end(s, code / 100 == 4 ? "tempfail" : "rejected", NULL,
                          code);
        gw_in_bdat_refuse(s, size, code, enh, text);
        return;
    }
    if (s->up == NULL) {
        gw_session_tx_end(s, "upstream-failed", NULL, 451);
        gw_in_bdat_refuse(s, size, 451, "4.4.2",
                          "Upstream connection lost, try again later");
        return;
    }
    tx->chunk_size = size;
    tx->chunk_left = size;
    tx->chunk_last = last;
    if (tx->body_kind == GW_TX_BODY_NONE) {
        caps = gw_up_caps(s->up);
        gw_caps_bridge(&bridge, &s->offered, caps);
        tx->body_kind = GW_TX_BODY_BDAT;
        tx->bdat_passthrough = !bridge.bdat_to_data;
        gw_metric_inc(tx->bdat_passthrough ? GW_M_bridge_bdat_rechunked_total
                                           : GW_M_bridge_bdat_to_data_total);
        binary = (tx->params.body == GW_BODY_TYPE_BINARYMIME);
        if (binary && !tx->bdat_passthrough) {
            gw_in_reset_tx(s, "rejected");
            gw_in_bdat_refuse(s, size, 554, "5.6.1",
                              "Upstream cannot take binary content");
            return;
        }
        gw_body_init_chunked(&tx->body,
                             tx->bdat_passthrough ? GW_BODY_ENC_RAW
                                                  : GW_BODY_ENC_DATA,
                             binary, s->cfg->bare_newlines,
                             gw_in_body_limit(s, caps));
        tx->body.reject_8bit = gw_in_reject_8bit(s);
        gw_in_header_policy_start(s);
        if (tx->bdat_passthrough) {
            gw_session_add_received(s, true);
        }
        if (!tx->bdat_passthrough) {
            /* bridge to DATA: the chunk waits for the upstream's 354 */
            if (gw_up_send(s->up, GW_VERB_DATA, false, "DATA", 4) != 0) {
                gw_in_reset_tx(s, "local-error");
                gw_in_bdat_refuse(s, size, 451, "4.3.0",
                                  "Local error, try again later");
                return;
            }
            tx->bdat_await_354 = true;
        }
    }
    gw_in_enter(s, GW_IN_BDAT);
}

/*
 * Passing BDAT through to a CHUNKING upstream, each piece is framed as its
 * own "BDAT n" once its size after the filters is known: the filters may
 * change the length (bare LF -> CRLF), so the client's chunk sizes cannot
 * be reused. The piece is produced GW_IN_BDAT_HEADER bytes further on in
 * the upstream's output buffer (a view), then moved down behind its
 * header: one bounded buffer, no copy of the message. The final piece of
 * the LAST chunk waits, unflushed, until the end-of-data checks (header
 * rules on a last field, the eom stage) have passed, then goes as
 * "BDAT n LAST": no extra "BDAT 0 LAST" round.
 */
static bool
gw_in_piece_begin(struct gw_session *s, struct gw_buf *out,
                  struct gw_buf *view)
{
    if (!gw_in_up_has_room(s) ||
        gw_buf_space(out) < GW_IN_BDAT_HEADER + GW_BODY_SLACK + 64) {
        return false; /* the upstream's replies or writes must catch up */
    }
    view->start = out->last + GW_IN_BDAT_HEADER;
    view->pos = view->start;
    view->last = view->start;
    view->end = out->end;
    return true;
}

/* Frames the view's bytes in out. A non-LAST piece's 250 is our own
 * (internal); the caller expects the reply to a LAST one. */
static void
gw_in_piece_commit(struct gw_session *s, struct gw_buf *out,
                   const struct gw_buf *view, bool last)
{
    char hdr[GW_IN_BDAT_HEADER];
    size_t m = gw_buf_len(view);
    int h;

    if ((m == 0 && !last) || s->tx->body.error != GW_BODY_OK) {
        return;
    }
    h = snprintf(hdr, sizeof(hdr), last ? "BDAT %zu LAST\r\n" : "BDAT %zu\r\n",
                 m);
    GW_ASSERT(h > 0 && (size_t)h <= GW_IN_BDAT_HEADER);
    memmove(out->last + h, view->start, m);
    memcpy(out->last, hdr, (size_t)h);
    out->last += (size_t)h + m;
    if (!last && gw_up_expect(s->up, GW_VERB_BDAT, false, true) != 0) {
        gw_body_discard(&s->tx->body);
    }
}

/* Feeds chunk bytes towards the upstream; returns the bytes consumed. */
static size_t
gw_in_chunk_feed(struct gw_session *s, const uint8_t *p, size_t len)
{
    struct gw_tx *tx = s->tx;
    struct gw_buf *out = NULL;
    struct gw_buf view;
    size_t n;

    if (s->up != NULL && tx->body.error == GW_BODY_OK) {
        out = gw_up_body_out(s->up);
    }
    if (out == NULL || !tx->bdat_passthrough) {
        return gw_body_feed_chunk(&tx->body, p, len, out);
    }
    if (!gw_in_piece_begin(s, out, &view)) {
        return 0;
    }
    n = gw_body_feed_chunk(&tx->body, p, len, &view);
    if (tx->chunk_last && n == tx->chunk_left) {
        /* gw_in_chunk_done frames it, before anything is flushed */
        tx->last_piece = view;
        tx->last_piece_held = true;
        return n;
    }
    gw_in_piece_commit(s, out, &view, false);
    return n;
}

static bool
gw_in_chunk_body(struct gw_session *s)
{
    struct gw_conn *c = &s->client;
    struct gw_tx *tx = s->tx;
    size_t avail;
    size_t n = 0;

    if (tx->bdat_await_354) {
        return false;
    }
    if (tx->chunk_left > 0) {
        if (!gw_buf_is_attached(&c->in) || gw_buf_len(&c->in) == 0) {
            return false;
        }
        avail = gw_buf_len(&c->in);
        if ((uint64_t)avail > tx->chunk_left) {
            avail = (size_t)tx->chunk_left;
        }
        n = gw_in_chunk_feed(s, c->in.pos, avail);
        gw_conn_consume(c, n);
        tx->chunk_left -= n;
        if (s->up != NULL && tx->body.error != GW_BODY_OK) {
            gw_log(GW_LOG_INFO, s->sid, "event=upstream_abort reason=%s",
                   gw_in_body_error_name(tx->body.error));
            gw_up_close(s->up, false);
            s->up = NULL;
        }
        if (tx->chunk_left > 0) {
            if (s->up != NULL) {
                gw_up_flush(s->up);
            }
            return n > 0;
        }
    }
    /* before any flush: a held last piece lies in the free output */
    gw_in_chunk_done(s);
    if (s->up != NULL) {
        gw_up_flush(s->up);
    }
    return s->state != GW_IN_BDAT || n > 0;
}

/* The chunk's bytes are all in: answer it, or end the message. */
static void
gw_in_chunk_done(struct gw_session *s)
{
    struct gw_tx *tx = s->tx;
    struct gw_buf *out;
    char text[64];
    bool held = tx->last_piece_held;

    tx->last_piece_held = false; /* framed below, or the message failed */
    if (tx->chunk_last) {
        gw_in_headers_finish(s);
    }
    if (tx->body.error != GW_BODY_OK || s->up == NULL) {
        gw_in_body_failed(s); /* the transaction ends here */
        return;
    }
    if (!tx->chunk_last) {
        /* accepted into the stream (RFC 3030 2: 250 per chunk) */
        snprintf(text, sizeof(text), "%llu octets received",
                 (unsigned long long)tx->chunk_size);
        gw_session_reply(s, 250, "2.0.0", text);
        gw_in_enter(s, GW_IN_CHUNK);
        return;
    }
    out = gw_up_body_out(s->up);
    /* a held piece was placed with room for its header and the filter's
     * last bytes, when the upstream had room: it never waits here */
    if (!held &&
        (out == NULL || gw_buf_space(out) < GW_IN_BDAT_HEADER + 16 ||
         !gw_in_up_has_room(s))) {
        return; /* wait for the upstream to drain */
    }
    if (gw_in_eom_policy(s)) {
        return;
    }
    if (tx->bdat_passthrough) {
        struct gw_buf view = tx->last_piece;

        /* BDAT 0 LAST ends a message whose last chunk was empty (or
         * all of it went before), carrying a CR the filter held, if any */
        if (!held && !gw_in_piece_begin(s, out, &view)) {
            return;
        }
        gw_body_finish(&tx->body, &view);
        gw_in_piece_commit(s, out, &view, true);
    } else {
        gw_body_finish(&tx->body, out);
    }
    if (tx->body.error != GW_BODY_OK) {
        /* the finish found the held CR bare (bare_newlines: reject):
         * nothing ended the message upstream; abort it */
        gw_up_close(s->up, false);
        s->up = NULL;
        gw_in_body_failed(s);
        return;
    }
    if (gw_up_expect(s->up, GW_VERB_BDAT, true, false) != 0) {
        gw_in_body_failed(s);
        return;
    }
    gw_in_enter(s, GW_IN_EOM);
}

void
gw_in_piece_refused(struct gw_session *s, const struct gw_reply *r)
{
    struct gw_tx *tx = s->tx;
    const char *enh = r->enhanced[0] != '\0'
                          ? r->enhanced
                          : gw_enhanced_for(GW_VERB_BDAT, false, r->code);
    const char *nl = memchr(r->text, '\n', r->text_len);
    size_t len = nl != NULL ? (size_t)(nl - r->text) : r->text_len;

    if (s->state == GW_IN_EOM) {
        return; /* the LAST is out: its own reply ends the transaction */
    }
    gw_log(GW_LOG_INFO, s->sid, "event=upstream_abort reason=upstream_refused "
           "code=%d", r->code);
    if (s->up != NULL) {
        gw_up_close(s->up, false); /* no more pieces, no LAST */
        s->up = NULL;
    }
    if (tx == NULL || tx->body_kind != GW_TX_BODY_BDAT ||
        tx->body.error != GW_BODY_OK) {
        gw_in_pump(s);
        return;
    }
    /* answered at the client's current (or next) chunk */
    tx->refuse_code = r->code;
    gw_strlcpy(tx->refuse_enh, enh, sizeof(tx->refuse_enh));
    if (len >= sizeof(tx->refuse_text)) {
        len = sizeof(tx->refuse_text) - 1;
    }
    memcpy(tx->refuse_text, r->text, len);
    tx->refuse_text[len] = '\0';
    tx->body.error = GW_BODY_E_REFUSED;
    gw_in_pump(s);
}

void
gw_in_bdat_refused(struct gw_session *s, const struct gw_reply *r)
{
    uint8_t buf[GW_MAX_REPLY_TEXT * 2 + 64];
    size_t n = gw_reply_map(buf, sizeof(buf), r, GW_VERB_BDAT, false);
    uint64_t left = s->tx->chunk_left;

    if (n == 0 || gw_conn_write(&s->client, buf, n) != 0) {
        gw_session_close(s, "client output full", false);
        return;
    }
    gw_in_reset_tx(s, "rejected");
    s->skip_left = left;
    s->skip_return = s->state;
    gw_in_enter(s, GW_IN_SKIP);
    gw_in_pump(s);
}

static bool
gw_in_skip(struct gw_session *s)
{
    struct gw_conn *c = &s->client;
    size_t n;

    if (s->skip_left > 0) {
        if (!gw_buf_is_attached(&c->in) || gw_buf_len(&c->in) == 0) {
            return false;
        }
        n = gw_buf_len(&c->in);
        if ((uint64_t)n > s->skip_left) {
            n = (size_t)s->skip_left;
        }
        gw_conn_consume(c, n);
        s->skip_left -= n;
        if (s->skip_left > 0) {
            return true;
        }
    }
    gw_in_enter(s, s->skip_return);
    return true;
}

static void
gw_in_rset(struct gw_session *s, const struct gw_cmd *cmd)
{
    if (cmd->args_len > 0) {
        gw_in_error(s, 501, "5.5.4", "Syntax: RSET");
        return;
    }
    gw_in_reset_tx(s, "reset");
    gw_session_reply(s, 250, "2.0.0", "Ok");
}

static void
gw_in_noop(struct gw_session *s, const struct gw_cmd *cmd)
{
    (void)cmd;
    gw_session_reply(s, 250, "2.0.0", "Ok");
}

static void
gw_in_quit(struct gw_session *s, const struct gw_cmd *cmd)
{
    (void)cmd;
    /* no RSET upstream: the QUIT that follows aborts its transaction */
    gw_session_tx_end(s, "reset", NULL, 0);
    gw_in_enter(s, GW_IN_QUIT);
    gw_session_reply_close(s, 221, "2.0.0", "Bye", "quit");
}

static void
gw_in_vrfy(struct gw_session *s, const struct gw_cmd *cmd)
{
    if (cmd->args_len == 0) {
        gw_in_error(s, 501, "5.5.4", "Syntax: VRFY address");
        return;
    }
    if (s->cfg->disable_vrfy) {
        gw_in_error(s, 502, "5.5.1", "VRFY command is disabled");
        return;
    }
    /* RFC 5321 3.5.3: 252 when the server cannot or will not verify */
    gw_session_reply(s, 252, "2.0.0",
                     "Cannot VRFY user, but will accept message and "
                     "attempt delivery");
}

static void
gw_in_help(struct gw_session *s, const struct gw_cmd *cmd)
{
    (void)cmd;
    gw_session_reply(s, 214, "2.0.0",
                     "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
                     "VRFY HELP");
}

/* RFC 3207. */
static void
gw_in_starttls(struct gw_session *s, const struct gw_cmd *cmd)
{
    if (s->cfg->listeners[s->listener].tls != GW_TLS_STARTTLS ||
        s->cfg->listeners[s->listener].tls_ctx == NULL) {
        gw_in_error(s, 502, "5.5.1", "Command not implemented");
        return;
    }
    if (gw_conn_tls_active(&s->client)) {
        gw_in_error(s, 503, "5.5.1", "TLS already active");
        return;
    }
    if (cmd->args_len > 0) {
        gw_in_error(s, 501, "5.5.4", "Syntax: STARTTLS");
        return;
    }
    if (!s->esmtp) {
        gw_in_error(s, 503, "5.5.1", "Send EHLO first");
        return;
    }
    gw_in_reset_tx(s, "reset");
    gw_session_reply(s, 220, "2.0.0", "Ready to start TLS");
    gw_conn_flush(&s->client);
    s->starttls_now = true; /* after this line is consumed (gw_in_run) */
}

static void
gw_in_not_offered(struct gw_session *s, const struct gw_cmd *cmd)
{
    (void)cmd;
    gw_in_error(s, 502, "5.5.1", "Command not implemented");
}

static void
gw_in_unknown(struct gw_session *s, const struct gw_cmd *cmd)
{
    (void)cmd;
    gw_in_error(s, 500, "5.5.1", "Command unrecognized");
}
