/*
 * The inbound SMTP server state machine (RFC 5321 server role).
 *
 * Commands are read ahead (the client may pipeline, RFC 2920) and answered
 * strictly in order: a command that Postern answers itself runs only when
 * no upstream reply is pending, and only RCPT may be relayed while earlier
 * commands still wait for their upstream replies (and only when the
 * upstream pipelines). Anything else waits in the input buffer, which is
 * the backpressure: a full input buffer stops reading from the client.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_caps.h"
#include "gateway/gw_error.h"
#include "gateway/gw_log.h"
#include "gateway/gw_reply.h"
#include "gateway/gw_session.h"
#include "gateway/gw_str.h"
#include "gateway/gw_upstream.h"
#include "gateway/gw_worker.h"

/* Output room a command needs before it runs (its reply is at most this). */
#define GW_IN_REPLY_RESERVE 2048

/* States in which command lines are read. */
#define GW_IN_CMD_STATES                                                       \
    (GW_IN_BIT(GW_IN_GREETED) | GW_IN_BIT(GW_IN_READY) |                       \
     GW_IN_BIT(GW_IN_MAIL) | GW_IN_BIT(GW_IN_RCPT))
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
static void gw_in_not_offered(struct gw_session *s, const struct gw_cmd *cmd);
static void gw_in_unknown(struct gw_session *s, const struct gw_cmd *cmd);
static bool gw_in_body(struct gw_session *s);
static void gw_in_body_done(struct gw_session *s);
static bool gw_in_rcpt_check(struct gw_session *s, const struct gw_cmd *cmd,
                             struct gw_mail_args *args,
                             struct gw_in_verdict *v);
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
    [GW_VERB_BDAT] = {GW_VERB_BDAT, GW_IN_ALL, gw_in_not_offered},
    [GW_VERB_RSET] = {GW_VERB_RSET, GW_IN_ALL, gw_in_rset},
    [GW_VERB_NOOP] = {GW_VERB_NOOP, GW_IN_ALL, gw_in_noop},
    [GW_VERB_QUIT] = {GW_VERB_QUIT, GW_IN_ALL, gw_in_quit},
    [GW_VERB_VRFY] = {GW_VERB_VRFY, GW_IN_ALL, gw_in_vrfy},
    [GW_VERB_EXPN] = {GW_VERB_EXPN, GW_IN_ALL, gw_in_not_offered},
    [GW_VERB_HELP] = {GW_VERB_HELP, GW_IN_ALL, gw_in_help},
    [GW_VERB_STARTTLS] = {GW_VERB_STARTTLS, GW_IN_ALL, gw_in_not_offered},
    [GW_VERB_AUTH] = {GW_VERB_AUTH, GW_IN_ALL, gw_in_not_offered},
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

/* A local error reply that counts against the session's error budget. */
static void
gw_in_error(struct gw_session *s, int code, const char *enh, const char *text)
{
    gw_session_reply(s, code, enh, text);
    if (!s->closing) {
        gw_session_count_error(s);
    }
}

/* Is the session waiting for the upstream (so the client is not idle)? */
static bool
gw_in_waits_for_upstream(const struct gw_session *s)
{
    if (s->tx != NULL && !s->tx->mail_sent) {
        return true; /* MAIL held until the upstream is ready */
    }
    if (s->up != NULL && gw_up_pending(s->up) > 0) {
        return true;
    }
    return s->state == GW_IN_EOM || s->state == GW_IN_CONNECT;
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
    struct gw_mail_args args;
    struct gw_in_verdict v;
    size_t pending;

    if (s->tx == NULL || !s->tx->mail_sent || s->tx->mail_failed ||
        s->up == NULL || line->flags != 0) {
        return false;
    }
    if (gw_cmd_parse(line->p, line->len, &cmd) != GW_PARSE_OK ||
        cmd.verb != GW_VERB_RCPT ||
        (gw_in_cmds[GW_VERB_RCPT].legal & GW_IN_BIT(s->state)) == 0) {
        return false;
    }
    pending = gw_up_pending(s->up);
    if (pending >= gw_up_window(s->up) ||
        gw_conn_out_space(&s->client) < GW_IN_REPLY_RESERVE * (pending + 2)) {
        return false;
    }
    return gw_in_rcpt_check(s, &cmd, &args, &v);
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
    if (gw_log_enabled(GW_LOG_TRACE)) {
        char esc[128];

        gw_str_escape(esc, sizeof(esc), line->p, line->len);
        gw_log(GW_LOG_TRACE, s->sid, "event=command line=\"%s\"", esc);
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

void
gw_in_pump(struct gw_session *s)
{
    struct gw_conn *c = &s->client;
    struct gw_line_reader peek;
    struct gw_line line;
    int rc;

    while (!s->closing) {
        if (s->tx != NULL && !s->tx->mail_sent && s->up != NULL &&
            gw_up_is_ready(s->up)) {
            gw_in_send_mail(s);
            continue;
        }
        if (s->state == GW_IN_DATA) {
            if (!gw_in_body(s)) {
                break;
            }
            continue;
        }
        if ((GW_IN_BIT(s->state) & GW_IN_CMD_STATES) == 0 ||
            gw_conn_out_space(&s->client) < GW_IN_REPLY_RESERVE ||
            !gw_buf_is_attached(&c->in) || gw_buf_len(&c->in) == 0) {
            break;
        }
        peek = s->lines;
        rc = gw_line_next(&peek, c->in.pos, gw_buf_len(&c->in), &line);
        if (rc == GW_PARSE_AGAIN) {
            if (line.consumed == 0) {
                break;
            }
            s->lines = peek;
            gw_conn_consume(c, line.consumed);
            continue;
        }
        if (gw_in_waits_for_upstream(s) &&
            (rc != GW_PARSE_OK || !gw_in_can_pipeline(s, &line))) {
            break; /* answered in order once the upstream has replied */
        }
        s->lines = peek;
        if (rc == GW_PARSE_TOOLONG) {
            gw_conn_consume(c, line.consumed);
            gw_in_error(s, 500, "5.5.2", "Line too long");
            continue;
        }
        gw_in_dispatch(s, &line);
        gw_conn_consume(c, line.consumed);
    }
    if (s->closing) {
        return;
    }
    gw_conn_flush(c);
    gw_conn_want_read(c, true);
    if (gw_in_waits_for_upstream(s)) {
        gw_conn_timeout(c, 0); /* the upstream's timers run instead */
    } else {
        gw_conn_timeout(c, s->state == GW_IN_DATA
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
    struct gw_caps offered;
    uint8_t buf[1024];
    size_t n;
    int rc = gw_helo_parse(cmd->args, cmd->args_len);

    if (rc != GW_PARSE_OK) {
        gw_in_error(s, 501, "5.5.4",
                    cmd->verb == GW_VERB_EHLO ? "Syntax: EHLO hostname"
                                              : "Syntax: HELO hostname");
        return;
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
    if (!s->esmtp) {
        gw_session_reply(s, 250, "", s->cfg->hostname);
        return;
    }
    gw_caps_offer(&offered, &s->w->up_caps[s->upstream_block],
                  s->cfg->limits.message_size);
    n = gw_caps_format_ehlo(&offered, s->cfg->hostname, buf, sizeof(buf));
    GW_ASSERT(n > 0);
    if (gw_conn_write(&s->client, buf, n) != 0) {
        gw_session_close(s, "client output full", false);
    }
}

/* Non-ASCII addresses need SMTPUTF8, which is not offered yet. */
static bool
gw_in_path_ok(struct gw_session *s, const struct gw_path *p)
{
    (void)s;
    return !p->has_8bit;
}

static void
gw_in_mail(struct gw_session *s, const struct gw_cmd *cmd)
{
    struct gw_mail_args args;
    struct gw_parse_error err;
    uint64_t limit = gw_caps_size_limit(&s->w->up_caps[s->upstream_block],
                                        s->cfg->limits.message_size);
    uint64_t size = 0;
    bool body_8bit = false;
    size_t i;
    int rc;

    if (s->messages >= s->cfg->limits.messages_per_session) {
        gw_session_reply_close(s, 421, "4.7.0",
                               "Too many messages in this session",
                               "message limit");
        return;
    }
    rc = gw_mail_parse(cmd->args, cmd->args_len, &args, &err);
    if (rc != GW_PARSE_OK) {
        gw_in_error(s, 501, err.in_path ? "5.1.7" : "5.5.4", err.why);
        return;
    }
    if (!gw_in_path_ok(s, &args.path)) {
        gw_in_error(s, 553, "5.6.7",
                    "Non-ASCII address not accepted without SMTPUTF8");
        return;
    }
    for (i = 0; i < args.nparams; i++) {
        const struct gw_param *p = &args.params[i];

        if (!s->esmtp) {
            gw_in_error(s, 555, "5.5.4", "Parameters need EHLO");
            return;
        }
        if (gw_str_ieq(p->key, p->key_len, "SIZE")) {
            if (p->value == NULL ||
                !gw_str_to_u64(p->value, p->value_len, &size)) {
                gw_in_error(s, 501, "5.5.4", "Bad SIZE value");
                return;
            }
        } else if (gw_str_ieq(p->key, p->key_len, "BODY") &&
                   p->value != NULL &&
                   (gw_str_ieq(p->value, p->value_len, "7BIT") ||
                    gw_str_ieq(p->value, p->value_len, "8BITMIME"))) {
            body_8bit = gw_str_ieq(p->value, p->value_len, "8BITMIME");
        } else if (gw_str_ieq(p->key, p->key_len, "BODY")) {
            gw_in_error(s, 501, "5.5.4", "Bad BODY value");
            return;
        } else {
            gw_in_error(s, 555, "5.5.4", "Unsupported MAIL parameter");
            return;
        }
    }
    if (size > limit) {
        gw_in_error(s, 552, "5.3.4",
                    "Message size exceeds fixed maximum message size");
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
    s->tx->size_declared = size;
    s->tx->body_8bit = body_8bit;
    s->tx->started_ms = gw_now_ms();
    gw_in_enter(s, GW_IN_MAIL);
    /* The MAIL goes out from the pump as soon as the upstream is ready. */
}

/* Rebuilt from the parsed path: client bytes are never copied through. */
static void
gw_in_send_mail(struct gw_session *s)
{
    struct gw_tx *tx = s->tx;
    const struct gw_caps *caps = gw_up_caps(s->up);
    char line[GW_MAX_PATH + 96];
    int n;

    n = snprintf(line, sizeof(line), "MAIL FROM:<%s>", tx->mail.addr);
    if (tx->size_declared > 0 && gw_caps_has(caps, GW_CAP_SIZE)) {
        n += snprintf(line + n, sizeof(line) - (size_t)n, " SIZE=%llu",
                      (unsigned long long)tx->size_declared);
    }
    if (tx->body_8bit) {
        if (gw_caps_has(caps, GW_CAP_8BITMIME)) {
            n += snprintf(line + n, sizeof(line) - (size_t)n,
                          " BODY=8BITMIME");
        } else {
            /* Most legacy MTAs are 8-bit clean; see docs/architecture.md. */
            gw_log(GW_LOG_INFO, s->sid,
                   "event=8bitmime_downgrade upstream=%s action=pass",
                   gw_up_addr(s->up));
        }
    }
    GW_ASSERT(n > 0 && (size_t)n < sizeof(line));
    if (gw_up_send(s->up, GW_VERB_MAIL, false, line, (size_t)n) != 0) {
        gw_session_reply(s, 451, "4.3.0", "Local error, try again later");
        gw_session_tx_end(s, "local-error", NULL, 451);
        return;
    }
    tx->mail_sent = true;
}

static bool
gw_in_rcpt_check(struct gw_session *s, const struct gw_cmd *cmd,
                 struct gw_mail_args *args, struct gw_in_verdict *v)
{
    struct gw_parse_error err;
    int rc = gw_rcpt_parse(cmd->args, cmd->args_len, args, &err);

    memset(v, 0, sizeof(*v));
    if (rc != GW_PARSE_OK) {
        v->code = 501;
        v->enh = err.in_path ? "5.1.3" : "5.5.4";
        v->text = err.why;
    } else if (!gw_in_path_ok(s, &args->path)) {
        v->code = 553;
        v->enh = "5.6.7";
        v->text = "Non-ASCII address not accepted without SMTPUTF8";
    } else if (args->nparams > 0) {
        v->code = 555;
        v->enh = "5.5.4";
        v->text = "Unsupported RCPT parameter";
    } else if (s->tx->rcpt_sent >= s->cfg->limits.recipients) {
        v->code = 452;
        v->enh = "4.5.3";
        v->text = "Too many recipients";
    }
    return v->code == 0;
}

static void
gw_in_rcpt(struct gw_session *s, const struct gw_cmd *cmd)
{
    struct gw_mail_args args;
    struct gw_in_verdict v;
    char line[GW_MAX_PATH + 16];
    int n;

    if (!gw_in_rcpt_check(s, cmd, &args, &v)) {
        if (v.code == 452) {
            gw_session_reply(s, v.code, v.enh, v.text); /* not an error */
        } else {
            gw_in_error(s, v.code, v.enh, v.text);
        }
        return;
    }
    if (s->tx->mail_failed) {
        gw_in_error(s, 503, "5.5.1", "Need MAIL before RCPT");
        return;
    }
    if (s->up == NULL) {
        /* the upstream went away between commands of this transaction */
        gw_session_reply(s, 451, "4.4.2",
                         "Upstream connection lost, try again later");
        gw_session_tx_end(s, "upstream-failed", NULL, 451);
        return;
    }
    n = snprintf(line, sizeof(line), "RCPT TO:<%s>", args.path.addr);
    GW_ASSERT(n > 0 && (size_t)n < sizeof(line));
    if (gw_up_send(s->up, GW_VERB_RCPT, false, line, (size_t)n) != 0) {
        gw_session_reply(s, 451, "4.3.0", "Local error, try again later");
        return;
    }
    s->tx->rcpt_sent++;
    gw_in_enter(s, GW_IN_RCPT);
}

static void
gw_in_data(struct gw_session *s, const struct gw_cmd *cmd)
{
    if (cmd->args_len > 0) {
        gw_in_error(s, 501, "5.5.4", "Syntax: DATA");
        return;
    }
    if (s->tx->rcpt_ok == 0) {
        /* RFC 2920 3.1: no 354 when every RCPT was refused */
        gw_in_error(s, 554, "5.5.1", "No valid recipients");
        return;
    }
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
               b->error == GW_BODY_E_TOO_BIG   ? "size"
               : b->error == GW_BODY_E_BARE_NL ? "bare_newline"
                                               : "discard");
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

static void
gw_in_body_done(struct gw_session *s)
{
    switch (s->tx->body.error) {
    case GW_BODY_OK:
        if (s->up != NULL && gw_up_expect_eom(s->up) == 0) {
            gw_in_enter(s, GW_IN_EOM);
            return;
        }
        break;
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
    case GW_BODY_E_DISCARD:
        break;
    }
    gw_session_reply(s, 451, "4.4.2",
                     "Upstream connection lost, try again later");
    gw_session_tx_end(s, "upstream-failed", NULL, 451);
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
