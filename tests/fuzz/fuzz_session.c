/*
 * libFuzzer target for the session machine as a whole. The fuzzer's bytes
 * are what an SMTP client sends over TCP; they run through the real session
 * code (gw_session.c, gw_inbound.c, gw_upstream.c, the body pipeline, BDAT
 * passed through and bridged to DATA) in a real worker on its libuv loop,
 * against a mock upstream SMTP server on the same loop. The parsers are
 * fuzzed on their own (fuzz_line, fuzz_body, ...); this target is about the
 * state machines that juggle their buffers.
 *
 * The input: byte 0 picks the set-up, then 2 bytes per cut, then the stream.
 *   bit 0     the upstream: 0 offers PIPELINING CHUNKING BINARYMIME 8BITMIME
 *             SIZE SMTPUTF8 DSN ENHANCEDSTATUSCODES; 1 is a legacy server
 *             with SIZE only (BDAT bridged to DATA, one command at a time,
 *             8BITMIME downgraded, enhanced codes synthesised)
 *   bit 1     strict: body.bare_newlines reject and ehlo.eightbit reject
 *   bit 2     the client closes both ways after its last byte, instead of
 *             shutting down its sending side and reading every reply
 *   bits 3-5  cuts: the stream goes in up to 8 writes, one per loop turn,
 *             so the gateway reads each on its own (16-bit little-endian
 *             offsets, modulo the stream's length + 1)
 *   bit 6     buffers of 4K, the smallest allowed, so that a few KB fill
 *             them (backpressure), instead of 16K. At 4K the gateway never
 *             pipelines to the upstream: a command runs ahead of pending
 *             replies only with 2K of client output room per reply that may
 *             come back, plus two (GW_IN_REPLY_RESERVE); at 16K the window
 *             of 4 (limits.pipeline_depth) is used.
 *   bit 7     policy and routing: the config is a file with three upstream
 *             blocks, "one" (the session's route; modern, or legacy with
 *             bit 0), "two" (the other flavour) and "three" (as "one"),
 *             each its own mock, and the rules of fz_policy_yaml: a sender
 *             domain routed to two, recipient domains routed to one, two
 *             and three (routing by recipient: re-routes, 452 4.5.3, at
 *             most 3 routes), a recipient refused, a recipient that needs
 *             TLS (451 4.7.5: the mocks have none), limits and headers
 *             added, header rules (Subject regex, a tempfail), eom rules
 *             (saw_8bit, message_size)
 * Each set-up is one worker (its config, loop, shared memory and mock
 * upstreams), made at its first input and kept for the run. The mock offers
 * SIZE 2048, so a few KB of input exceed it.
 *
 * Checked, besides ASan, UBSan and leaks:
 *   - the session ends: within FZ_DEADLINE_MS (else abort, with each live
 *     session's state), and once nothing is left to run on the loop no
 *     session and no upstream connection remains (a session without a
 *     running handle would be stuck for ever in production). Timeouts
 *     stay at their defaults (minutes): with a client that has said all it
 *     will say and an upstream that answers at once, no session may need
 *     a timer to end;
 *   - the client leg: every reply line is "ddd", "ddd text" or "ddd-text"
 *     with CRLF and no control octet, a multi-line reply keeps its code,
 *     and nothing follows a 221;
 *   - the upstream leg, by the mock: command lines end in CRLF with no
 *     other CR, LF or NUL; only the verbs the gateway relays (EHLO, HELO,
 *     MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT); MAIL and RCPT carry only
 *     parameters the upstream offered; no MAIL inside an open transaction;
 *     no BDAT to an upstream without CHUNKING; DATA content has no bare CR
 *     or LF, and a '.' at a line start is either stuffed or the
 *     terminator; BDAT content (unless BINARYMIME) has no bare CR or LF;
 *     every message starts with Postern's Received header (content that
 *     does not was let through from the client some other way);
 *   - with the policy (bit 7), no message with an octet above 127 ends
 *     at an upstream: the eom rule on saw_8bit refuses every one.
 * The mock answers as a real server would, and the client's words steer
 * it: a sender with "reject" in its line gets 550; with "nodata", its DATA
 * and every BDAT chunk get 554; with "sloppy", DATA gets 354 even with no
 * recipient (the gateway must not send a message to nobody). A RCPT with
 * "reject" or "defer" gets 550 or 451 (503 without a MAIL); "shutdown"
 * gets 421 and the connection closes; "drop" closes it with no reply.
 * DATA without a valid recipient gets 554. A message whose content holds
 * REJECT or DEFER gets 554 or 451 at its end; DROP in the content closes
 * the connection there. "multi" in a MAIL or RCPT gets a multi-line 250.
 * "refuseN" in a MAIL (N from 1 to 3) gets 550 at upstream block N only,
 * so that a new route can refuse a sender its old one took.
 *
 * POSTERN_FUZZ_LOG=debug (or any log.level) shows the gateway's log;
 * with trace, the octets each leg carries as well, to reproduce a find
 * ("client>" what the client sends, "client<" what it gets back,
 * "upstream>" what the gateway sends the mock, "upstream<" the replies).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "gateway/gw_caps.h"
#include "gateway/gw_config.h"
#include "gateway/gw_metrics.h"
#include "gateway/gw_session.h"
#include "gateway/gw_shm.h"
#include "gateway/gw_str.h"
#include "gateway/gw_upstream.h"
#include "gateway/gw_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An input is a few KB: even under ASan, seconds mean a hang. Well under
 * the suite's -timeout=10, so the report names the session that hung. */
#define FZ_DEADLINE_MS 3000

#define FZ_VAR_LEGACY 1u
#define FZ_VAR_STRICT 2u
#define FZ_VAR_SMALL 4u
#define FZ_VAR_POLICY 8u
#define FZ_VARIANTS 16
#define FZ_FLAG_SMALL 0x40u
#define FZ_FLAG_POLICY 0x80u
#define FZ_FLAG_ABRUPT 4u
#define FZ_MAX_CUTS 7
#define FZ_MAX_PIECES (FZ_MAX_CUTS + 1)

#define FZ_MOCK_SIZE "2048"
/* Postern starts every message with its own trace header */
#define FZ_RECEIVED "Received: from "
#define FZ_RECEIVED_LEN (sizeof(FZ_RECEIVED) - 1)
#define FZ_LINE_MAX 4096 /* longer than any line either side may send */
#define FZ_OUT_MAX 4096
#define FZ_READ_MAX 65536
#define FZ_MAX_OVERRIDES 24
#define FZ_MAX_BLOCKS 3 /* upstream blocks, each with its own mock */

/* ---- the mock upstream ------------------------------------------------ */

enum fz_mock_state {
    FZ_M_CMD = 0, /* reading command lines */
    FZ_M_DATA,    /* DATA content, up to <CRLF>.<CRLF> */
    FZ_M_BDAT,    /* the octets of a BDAT chunk */
    FZ_M_QUIT,    /* 221 or 421 sent, or dropped: the rest is ignored */
};

/* Words in the content that decide the message's fate at the mock. None
 * has a prefix that is also its suffix, so matching needs no table. */
enum fz_needle {
    FZ_N_REJECT = 0, /* 554 at the end */
    FZ_N_DEFER,      /* 451 at the end */
    FZ_N_DROP,       /* the connection drops there and then */
    FZ_NEEDLES,
};

static const char *const fz_needles[FZ_NEEDLES] = {"REJECT", "DEFER", "DROP"};

/* Where DATA content is relative to <CRLF>.<CRLF>. */
enum fz_dot_state {
    FZ_D_BOL = 0,
    FZ_D_TEXT,
    FZ_D_CR,
    FZ_D_DOT,
    FZ_D_DOT_CR,
};

struct fz_env;

/* One mock upstream: a listener for one upstream block. */
struct fz_mock {
    uv_tcp_t tcp;
    struct fz_env *e;
    unsigned block;   /* 1, 2, 3: its block's place in the config */
    bool legacy;      /* SIZE only, no enhanced codes */
    int fd;           /* bound before the config is made */
    char addr[64];    /* "127.0.0.1:port" */
};

struct fz_mock_conn {
    uv_tcp_t tcp;
    uv_shutdown_t shut;
    struct fz_env *e;
    unsigned block;
    bool legacy;
    enum fz_mock_state state;
    uint8_t line[FZ_LINE_MAX + 1];
    size_t line_len;
    /* the transaction, kept as a real server keeps it */
    bool mail;
    bool binary;      /* BODY=BINARYMIME: BDAT content is not lines */
    bool refuse_data; /* "nodata" sender: DATA and BDAT get 554 */
    bool sloppy;      /* "sloppy" sender: 354 even with no recipient */
    size_t rcpts;     /* accepted */
    uint64_t chunk_left;
    bool chunk_last;
    enum fz_dot_state dot;
    bool content_cr;            /* BDAT: the last content octet was a CR */
    char head[FZ_RECEIVED_LEN]; /* the message's first octets */
    size_t head_len;
    size_t needle_at[FZ_NEEDLES]; /* how much of each the content matched */
    bool saw[FZ_NEEDLES];
    bool eightbit; /* an octet above 127 in the content */
    bool drop;            /* close without a word once this read is done */
    char out[FZ_OUT_MAX]; /* replies to one read, written at once */
    size_t out_len;
};

struct fz_mock_write {
    uv_write_t req;
    char data[];
};

/* ---- one set-up: a worker, its mock upstream, the client ------------- */

struct fz_env {
    struct gw_worker w;
    struct gw_config_source src;
    struct gw_shm *shm;
    unsigned variant;
    const char *overrides[FZ_MAX_OVERRIDES];
    size_t noverrides;
    char name_override[64];
    char log_override[64];
    char config_path[64]; /* the policy set-up's config file */
    struct sockaddr_storage listen_ss;
    struct fz_mock mock[FZ_MAX_BLOCKS]; /* the mocks' listeners */
    size_t nmocks;
    size_t mock_conns; /* their live connections */
    char mock_rbuf[FZ_READ_MAX];
    uv_timer_t deadline;
    uv_idle_t feeder; /* writes the client's pieces, one per turn */
    /* the client of the current input */
    uv_tcp_t client;
    uv_connect_t creq;
    uv_shutdown_t sreq;
    uv_write_t wreq[FZ_MAX_PIECES];
    uv_buf_t piece[FZ_MAX_PIECES];
    size_t npieces;
    size_t next_piece;
    bool abrupt;
    bool client_closed;
    char client_rbuf[FZ_READ_MAX];
    uint8_t rline[FZ_LINE_MAX];
    size_t rlen;
    int rcode; /* the code a multi-line reply goes on with, or 0 */
    bool after_221;
};

struct fz_input {
    unsigned variant;
    bool abrupt;
    const uint8_t *p;
    size_t len;
    size_t cut[FZ_MAX_CUTS];
    size_t ncuts;
};

static struct fz_env *fz_envs[FZ_VARIANTS];
static bool fz_trace; /* POSTERN_FUZZ_LOG=trace */

static _Noreturn void
fz_die(const char *why)
{
    fprintf(stderr, "fuzz_session: %s\n", why);
    abort();
}

/* A broken rule: why, and the bytes that broke it (escaped). */
static _Noreturn void
fz_fail(const char *why, const uint8_t *p, size_t n)
{
    char esc[4 * 256 + 1];

    gw_str_escape(esc, sizeof(esc), p, n < 256 ? n : 256);
    fprintf(stderr, "fuzz_session: %s: \"%s\"\n", why, esc);
    abort();
}

/* Why nothing moves: the state of every live session, then abort. */
static _Noreturn void
fz_stuck(const struct fz_env *e, const char *why)
{
    const struct gw_session *s;

    fprintf(stderr,
            "fuzz_session: %s: sessions=%zu upstream_conns=%zu client=%s\n",
            why, e->w.nsessions, e->mock_conns,
            e->client_closed ? "closed" : "open");
    for (s = e->w.sessions; s != NULL; s = s->next) {
        fprintf(
            stderr,
            "fuzz_session:   sid=%s state=%s tx=%s upstream=%s "
            "pending=%zu client_eof=%s buffered_in=%zu closing=%s\n",
            s->sid, gw_in_state_name(s->state), s->tx != NULL ? "open" : "none",
            s->up != NULL ? "open" : "none",
            s->up != NULL ? gw_up_pending(s->up) : 0,
            s->client.read_eof ? "yes" : "no",
            gw_buf_is_attached(&s->client.in) ? gw_buf_len(&s->client.in) : 0,
            s->closing ? "yes" : "no");
    }
    abort();
}

/* With POSTERN_FUZZ_LOG=trace: what a leg carried, escaped. */
static void
fz_trace_bytes(const char *who, const void *p, size_t n)
{
    static char esc[4 * FZ_READ_MAX + 1];

    if (fz_trace) {
        gw_str_escape(esc, sizeof(esc), p, n);
        fprintf(stderr, "fuzz_session: %s \"%s\"\n", who, esc);
    }
}

static bool
fz_legacy(const struct fz_mock_conn *m)
{
    return m->legacy;
}

static void
fz_mock_on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a closed connection */
    free(req->data);
}

/* Writes the replies gathered so far in one write, as a server that
 * answers a pipelined group does. */
static void
fz_mock_flush(struct fz_mock_conn *m)
{
    struct fz_mock_write *wr;
    uv_buf_t b;

    if (m->out_len == 0 || uv_is_closing((uv_handle_t *)&m->tcp)) {
        m->out_len = 0;
        return;
    }
    wr = malloc(sizeof(*wr) + m->out_len);
    if (wr == NULL) {
        fz_die("out of memory");
    }
    memcpy(wr->data, m->out, m->out_len);
    wr->req.data = wr;
    fz_trace_bytes("upstream<", wr->data, m->out_len);
    b = uv_buf_init(wr->data, (unsigned int)m->out_len);
    m->out_len = 0;
    if (uv_write(&wr->req, (uv_stream_t *)&m->tcp, &b, 1, fz_mock_on_written) !=
        0) {
        free(wr);
    }
}

static void
fz_mock_raw(struct fz_mock_conn *m, const char *text)
{
    size_t n = strlen(text);

    if (m->out_len + n > sizeof(m->out)) {
        fz_mock_flush(m);
    }
    memcpy(m->out + m->out_len, text, n);
    m->out_len += n;
}

/* One reply line; the legacy server knows no enhanced status codes. */
static void
fz_mock_reply(struct fz_mock_conn *m, int code, const char *enh,
              const char *text)
{
    char line[256];

    if (fz_legacy(m) || enh == NULL) {
        snprintf(line, sizeof(line), "%d %s\r\n", code, text);
    } else {
        snprintf(line, sizeof(line), "%d %s %s\r\n", code, enh, text);
    }
    fz_mock_raw(m, line);
}

/* A 250 in three lines, for the gateway's multi-line relaying. */
static void
fz_mock_reply_multi(struct fz_mock_conn *m, const char *enh)
{
    char line[256];

    if (fz_legacy(m)) {
        fz_mock_raw(m, "250-first\r\n250-second\r\n250 Ok\r\n");
        return;
    }
    snprintf(line, sizeof(line),
             "250-%s first\r\n250-%s second\r\n"
             "250 %s Ok\r\n",
             enh, enh, enh);
    fz_mock_raw(m, line);
}

static void
fz_mock_on_closed(uv_handle_t *h)
{
    struct fz_mock_conn *m = h->data;

    m->e->mock_conns--;
    free(m);
}

static void
fz_mock_close(struct fz_mock_conn *m)
{
    if (!uv_is_closing((uv_handle_t *)&m->tcp)) {
        uv_close((uv_handle_t *)&m->tcp, fz_mock_on_closed);
    }
}

static void
fz_mock_on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    fz_mock_close(req->data);
}

static void
fz_mock_tx_reset(struct fz_mock_conn *m)
{
    m->mail = false;
    m->binary = false;
    m->rcpts = 0;
    m->dot = FZ_D_BOL;
    m->content_cr = false;
    m->refuse_data = false;
    m->sloppy = false;
    m->head_len = 0;
    memset(m->needle_at, 0, sizeof(m->needle_at));
    memset(m->saw, 0, sizeof(m->saw));
    m->eightbit = false;
}

/* Does the verb (4 letters) start line l? */
static bool
fz_verb(const char *l, const char *verb)
{
    return strncasecmp(l, verb, 4) == 0 && (l[4] == '\0' || l[4] == ' ');
}

/* After the '<' at p: the octet after the path's closing '>', or NULL.
 * A quoted local part may hold '>'. */
static const char *
fz_path_end(const char *p)
{
    bool quoted = false;

    for (p++; *p != '\0'; p++) {
        if (quoted && *p == '\\' && p[1] != '\0') {
            p++;
        } else if (*p == '"') {
            quoted = !quoted;
        } else if (*p == '>' && !quoted) {
            return p + 1;
        }
    }
    return NULL;
}

/* Each " KEY[=value]" after the path must name an offered extension's
 * parameter: the gateway relays nothing the upstream did not offer. */
static void
fz_mock_params(const char *line, const char *p, const char *const *allowed)
{
    size_t klen;
    size_t i;

    while (*p != '\0') {
        if (*p != ' ' || p[1] == ' ' || p[1] == '\0') {
            fz_fail("parameters not separated by single spaces",
                    (const uint8_t *)line, strlen(line));
        }
        p++;
        klen = strcspn(p, "= ");
        for (i = 0; allowed[i] != NULL; i++) {
            if (strlen(allowed[i]) == klen &&
                strncasecmp(p, allowed[i], klen) == 0) {
                break;
            }
        }
        if (allowed[i] == NULL) {
            fz_fail("a parameter the upstream did not offer",
                    (const uint8_t *)line, strlen(line));
        }
        p += strcspn(p, " ");
    }
}

/* "MAIL FROM:<path> params" or "RCPT TO:<path> params" as the gateway
 * builds them; checks the parameters, returns where they start. */
static const char *
fz_mock_path(struct fz_mock_conn *m, const char *l, const char *prefix,
             const char *const *modern, const char *const *legacy)
{
    size_t n = strlen(prefix);
    const char *end;

    if (strncmp(l, prefix, n) != 0 || (end = fz_path_end(l + n - 1)) == NULL) {
        fz_fail("a MAIL or RCPT line the gateway should not build",
                (const uint8_t *)l, strlen(l));
    }
    fz_mock_params(l, end, fz_legacy(m) ? legacy : modern);
    return end;
}

static void
fz_mock_mail(struct fz_mock_conn *m, const char *l)
{
    static const char *const modern[] = {"SIZE", "BODY",  "SMTPUTF8",
                                         "RET",  "ENVID", NULL};
    static const char *const legacy[] = {"SIZE", NULL};
    const char *params = fz_mock_path(m, l, "MAIL FROM:<", modern, legacy);
    char refuse[8];

    if (m->mail) {
        /* the gateway ended a transaction here without ending it there:
         * a real server refuses this MAIL (503) */
        fz_fail("MAIL inside an open upstream transaction", (const uint8_t *)l,
                strlen(l));
    }
    snprintf(refuse, sizeof(refuse), "refuse%u", m->block);
    if (strcasestr(l, "reject") != NULL || strcasestr(l, refuse) != NULL) {
        fz_mock_reply(m, 550, "5.1.0", "Sender rejected");
        return;
    }
    fz_mock_tx_reset(m);
    m->mail = true;
    m->binary = strcasestr(params, "BODY=BINARYMIME") != NULL;
    m->refuse_data = strcasestr(l, "nodata") != NULL;
    m->sloppy = strcasestr(l, "sloppy") != NULL;
    if (strcasestr(l, "multi") != NULL) {
        fz_mock_reply_multi(m, "2.1.0");
        return;
    }
    fz_mock_reply(m, 250, "2.1.0", "Ok");
}

static void
fz_mock_rcpt(struct fz_mock_conn *m, const char *l)
{
    static const char *const modern[] = {"NOTIFY", "ORCPT", NULL};
    static const char *const legacy[] = {NULL};

    fz_mock_path(m, l, "RCPT TO:<", modern, legacy);
    if (strcasestr(l, "drop") != NULL) {
        m->drop = true; /* a crash: no reply */
        m->state = FZ_M_QUIT;
    } else if (strcasestr(l, "shutdown") != NULL) {
        fz_mock_reply(m, 421, "4.3.2", "Shutting down");
        m->state = FZ_M_QUIT;
    } else if (!m->mail) {
        fz_mock_reply(m, 503, "5.5.1", "Need MAIL command");
    } else if (strcasestr(l, "reject") != NULL) {
        fz_mock_reply(m, 550, "5.1.1", "Recipient rejected");
    } else if (strcasestr(l, "defer") != NULL) {
        fz_mock_reply(m, 451, "4.2.1", "Recipient deferred");
    } else {
        m->rcpts++;
        if (strcasestr(l, "multi") != NULL) {
            fz_mock_reply_multi(m, "2.1.5");
        } else {
            fz_mock_reply(m, 250, "2.1.5", "Ok");
        }
    }
}

static void
fz_mock_data(struct fz_mock_conn *m, const char *l)
{
    if (strcasecmp(l, "DATA") != 0) {
        fz_fail("DATA with arguments", (const uint8_t *)l, strlen(l));
    }
    if (m->refuse_data) {
        fz_mock_reply(m, 554, "5.7.0", "Content refused");
        return;
    }
    if (!m->sloppy && (!m->mail || m->rcpts == 0)) {
        fz_mock_reply(m, 554, "5.5.1", "No valid recipients");
        return;
    }
    m->dot = FZ_D_BOL;
    m->state = FZ_M_DATA;
    fz_mock_reply(m, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* The final reply to a message, by what its content held. */
static void
fz_mock_message_end(struct fz_mock_conn *m)
{
    if (m->head_len < FZ_RECEIVED_LEN) {
        fz_fail("a message shorter than Postern's Received header",
                (const uint8_t *)m->head, m->head_len);
    }
    if (m->eightbit && (m->e->variant & FZ_VAR_POLICY) != 0) {
        /* the eom rule on saw_8bit refuses every such message: this one
         * went past the policy */
        fz_fail("8-bit content delivered past the eom rule",
                (const uint8_t *)m->head, m->head_len);
    }
    if (!m->mail || m->rcpts == 0) {
        fz_mock_reply(m, 554, "5.5.1", "No valid recipients");
    } else if (m->refuse_data) {
        fz_mock_reply(m, 554, "5.7.0", "Content refused");
    } else if (m->saw[FZ_N_REJECT]) {
        fz_mock_reply(m, 554, "5.7.1", "Rejected by content");
    } else if (m->saw[FZ_N_DEFER]) {
        fz_mock_reply(m, 451, "4.3.0", "Deferred by content");
    } else {
        fz_mock_reply(m, 250, "2.0.0", "Ok: queued as MOCK");
    }
    fz_mock_tx_reset(m);
    m->state = FZ_M_CMD;
}

static void
fz_mock_chunk_done(struct fz_mock_conn *m)
{
    if (!m->chunk_last) {
        m->state = FZ_M_CMD;
        if (!m->mail || m->rcpts == 0) {
            fz_mock_reply(m, 554, "5.5.1", "No valid recipients");
        } else if (m->refuse_data) {
            fz_mock_reply(m, 554, "5.7.0", "Content refused");
        } else {
            fz_mock_reply(m, 250, "2.0.0", "Chunk received");
        }
        return;
    }
    if (!m->binary && m->content_cr) {
        fz_die("BDAT content ends in a bare CR");
    }
    fz_mock_message_end(m);
}

/* "BDAT n" or "BDAT n LAST", as the gateway frames its pieces. */
static void
fz_mock_bdat(struct fz_mock_conn *m, const char *l)
{
    const char *p = l + 5;
    size_t digits = strspn(p, "0123456789");

    if (fz_legacy(m)) {
        fz_fail("BDAT to an upstream without CHUNKING", (const uint8_t *)l,
                strlen(l));
    }
    if (strncmp(l, "BDAT ", 5) != 0 || digits == 0 || digits > 19 ||
        (p[digits] != '\0' && strcmp(p + digits, " LAST") != 0)) {
        fz_fail("a BDAT line the gateway should not frame", (const uint8_t *)l,
                strlen(l));
    }
    m->chunk_left = strtoull(p, NULL, 10);
    m->chunk_last = p[digits] != '\0';
    m->state = FZ_M_BDAT;
    if (m->chunk_left == 0) {
        fz_mock_chunk_done(m);
    }
}

static void
fz_mock_command(struct fz_mock_conn *m, const char *l)
{
    if (fz_verb(l, "EHLO")) {
        fz_mock_tx_reset(m);
        fz_mock_raw(m, fz_legacy(m)
                           ? "250-mock.invalid\r\n250 SIZE " FZ_MOCK_SIZE "\r\n"
                           : "250-mock.invalid\r\n250-PIPELINING\r\n"
                             "250-CHUNKING\r\n250-BINARYMIME\r\n"
                             "250-8BITMIME\r\n250-SIZE " FZ_MOCK_SIZE "\r\n"
                             "250-SMTPUTF8\r\n250-DSN\r\n"
                             "250 ENHANCEDSTATUSCODES\r\n");
    } else if (fz_verb(l, "HELO")) {
        fz_mock_tx_reset(m);
        fz_mock_raw(m, "250 mock.invalid\r\n");
    } else if (fz_verb(l, "MAIL")) {
        fz_mock_mail(m, l);
    } else if (fz_verb(l, "RCPT")) {
        fz_mock_rcpt(m, l);
    } else if (fz_verb(l, "DATA")) {
        fz_mock_data(m, l);
    } else if (fz_verb(l, "BDAT")) {
        fz_mock_bdat(m, l);
    } else if (fz_verb(l, "RSET")) {
        fz_mock_tx_reset(m);
        fz_mock_reply(m, 250, "2.0.0", "Ok");
    } else if (fz_verb(l, "NOOP")) {
        fz_mock_reply(m, 250, "2.0.0", "Ok");
    } else if (fz_verb(l, "QUIT")) {
        fz_mock_reply(m, 221, "2.0.0", "Bye");
        m->state = FZ_M_QUIT;
    } else {
        /* client commands are never copied through */
        fz_fail("a command the gateway never relays", (const uint8_t *)l,
                strlen(l));
    }
}

/* Command bytes up to and including the next LF; returns those used. */
static size_t
fz_mock_line(struct fz_mock_conn *m, const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t take = lf != NULL ? (size_t)(lf - p) + 1 : n;
    size_t len;
    size_t i;

    if (m->line_len + take > FZ_LINE_MAX) {
        fz_fail("a command line over 4096 octets to the upstream", m->line,
                m->line_len);
    }
    memcpy(m->line + m->line_len, p, take);
    m->line_len += take;
    if (lf == NULL) {
        return take;
    }
    len = m->line_len;
    m->line_len = 0;
    if (len < 2 || m->line[len - 2] != '\r') {
        fz_fail("a command to the upstream ends in a bare LF", m->line, len);
    }
    for (i = 0; i + 2 < len; i++) {
        if (m->line[i] == '\r' || m->line[i] == '\0') {
            fz_fail("a CR or NUL inside a command to the upstream", m->line,
                    len);
        }
    }
    m->line[len - 2] = '\0';
    fz_mock_command(m, (const char *)m->line);
    return take;
}

/* A mismatch restarts at the octet itself (see fz_needles). */
static size_t
fz_match(size_t at, const char *needle, uint8_t c)
{
    if ((uint8_t)needle[at] == c) {
        return at + 1;
    }
    return (uint8_t)needle[0] == c ? 1 : 0;
}

/* One octet of a message's content (DATA or BDAT): its start must be
 * Postern's Received header (content that does not start so came from
 * elsewhere: a client's bytes let through as commands, say); the needles
 * decide its fate. Returns true when the connection drops here. */
static bool
fz_mock_content_octet(struct fz_mock_conn *m, uint8_t c)
{
    size_t i;

    if (m->head_len < FZ_RECEIVED_LEN) {
        m->head[m->head_len++] = (char)c;
        if (m->head_len == FZ_RECEIVED_LEN &&
            memcmp(m->head, FZ_RECEIVED, FZ_RECEIVED_LEN) != 0) {
            fz_fail("a message that does not start with Postern's Received "
                    "header",
                    (const uint8_t *)m->head, m->head_len);
        }
    }
    m->eightbit = m->eightbit || c > 0x7f;
    for (i = 0; i < FZ_NEEDLES; i++) {
        m->needle_at[i] = fz_match(m->needle_at[i], fz_needles[i], c);
        if (m->needle_at[i] == strlen(fz_needles[i])) {
            m->saw[i] = true;
            m->needle_at[i] = 0;
        }
    }
    if (m->saw[FZ_N_DROP]) {
        m->drop = true;
        m->state = FZ_M_QUIT;
    }
    return m->drop;
}

/* DATA content up to and including <CRLF>.<CRLF>: only CRLF line ends,
 * and every '.' at a line start stuffed, or the terminator. */
static size_t
fz_mock_content(struct fz_mock_conn *m, const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint8_t c = p[i];

        if (fz_mock_content_octet(m, c)) {
            return i + 1;
        }
        switch (m->dot) {
        case FZ_D_BOL:
        case FZ_D_TEXT:
            if (c == '\n') {
                fz_fail("bare LF in DATA content", p, i + 1);
            }
            m->dot = c == '\r'                          ? FZ_D_CR
                     : (c == '.' && m->dot == FZ_D_BOL) ? FZ_D_DOT
                                                        : FZ_D_TEXT;
            break;
        case FZ_D_CR:
            if (c != '\n') {
                fz_fail("bare CR in DATA content", p, i + 1);
            }
            m->dot = FZ_D_BOL;
            break;
        case FZ_D_DOT:
            if (c != '.' && c != '\r') {
                fz_fail("an unstuffed '.' at a line start in DATA content", p,
                        i + 1);
            }
            m->dot = c == '.' ? FZ_D_TEXT : FZ_D_DOT_CR;
            break;
        case FZ_D_DOT_CR:
            if (c != '\n') {
                fz_fail("bare CR after a '.' in DATA content", p, i + 1);
            }
            fz_mock_message_end(m);
            return i + 1;
        }
    }
    return n;
}

/* The octets of a BDAT chunk. */
static size_t
fz_mock_chunk(struct fz_mock_conn *m, const uint8_t *p, size_t n)
{
    size_t take = (uint64_t)n < m->chunk_left ? n : (size_t)m->chunk_left;
    size_t i;

    for (i = 0; i < take; i++) {
        if (fz_mock_content_octet(m, p[i])) {
            return i + 1;
        }
        if (m->binary) {
            continue;
        }
        if (m->content_cr != (p[i] == '\n')) {
            fz_fail(m->content_cr ? "bare CR in BDAT content"
                                  : "bare LF in BDAT content",
                    p, i + 1);
        }
        m->content_cr = p[i] == '\r';
    }
    m->chunk_left -= take;
    if (m->chunk_left == 0) {
        fz_mock_chunk_done(m);
    }
    return take;
}

/* Everything one read brought, in order: a pipelining client's group is
 * answered whole. */
static void
fz_mock_feed(struct fz_mock_conn *m, const uint8_t *p, size_t n)
{
    size_t used;

    while (n > 0 && m->state != FZ_M_QUIT) {
        switch (m->state) {
        case FZ_M_DATA:
            used = fz_mock_content(m, p, n);
            break;
        case FZ_M_BDAT:
            used = fz_mock_chunk(m, p, n);
            break;
        default:
            used = fz_mock_line(m, p, n);
            break;
        }
        p += used;
        n -= used;
    }
}

static void
fz_mock_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct fz_mock_conn *m = h->data;

    (void)hint; /* one read at a time on the loop: one buffer will do */
    buf->base = m->e->mock_rbuf;
    buf->len = sizeof(m->e->mock_rbuf);
}

static void
fz_mock_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct fz_mock_conn *m = st->data;
    bool quit = m->state == FZ_M_QUIT;

    if (n < 0) {
        fz_mock_close(m);
        return;
    }
    fz_trace_bytes("upstream>", buf->base, (size_t)n);
    fz_mock_feed(m, (const uint8_t *)buf->base, (size_t)n);
    fz_mock_flush(m);
    if (m->drop) {
        fz_mock_close(m);
    } else if (!quit && m->state == FZ_M_QUIT &&
               uv_shutdown(&m->shut, st, fz_mock_on_shutdown) != 0) {
        fz_mock_close(m);
    }
}

static void
fz_mock_on_connection(uv_stream_t *server, int status)
{
    struct fz_mock *mock = server->data;
    struct fz_env *e = mock->e;
    struct fz_mock_conn *m;

    if (status != 0) {
        return;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        fz_die("out of memory");
    }
    m->e = e;
    m->block = mock->block;
    m->legacy = mock->legacy;
    m->shut.data = m;
    uv_tcp_init(server->loop, &m->tcp);
    m->tcp.data = m;
    e->mock_conns++;
    if (uv_accept(server, (uv_stream_t *)&m->tcp) != 0) {
        fz_mock_close(m);
        return;
    }
    fz_mock_raw(m, "220 mock.invalid ESMTP\r\n");
    fz_mock_flush(m);
    uv_read_start((uv_stream_t *)&m->tcp, fz_mock_on_alloc, fz_mock_on_read);
}

/* A loopback socket on an ephemeral port, bound before the config is made
 * so that the upstream can point at it. */
static int
fz_mock_listen(char *text, size_t cap)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        fz_die("cannot open the mock upstream");
    }
    snprintf(text, cap, "127.0.0.1:%u", (unsigned int)ntohs(sin.sin_port));
    return fd;
}

/* ---- the client -------------------------------------------------------- */

static void
fz_client_on_closed(uv_handle_t *h)
{
    struct fz_env *e = h->data;

    e->client_closed = true;
}

static void
fz_client_close(struct fz_env *e)
{
    uv_idle_stop(&e->feeder);
    if (!uv_is_closing((uv_handle_t *)&e->client)) {
        uv_close((uv_handle_t *)&e->client, fz_client_on_closed);
    }
}

static bool
fz_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* One reply line from the gateway, CRLF included. */
static void
fz_client_line(struct fz_env *e, const uint8_t *l, size_t n)
{
    size_t i;
    int code;
    bool more;

    if (n < 5 || l[n - 2] != '\r' || l[0] < '2' || l[0] > '5' ||
        !fz_digit(l[1]) || !fz_digit(l[2]) ||
        (n > 5 && l[3] != ' ' && l[3] != '-')) {
        fz_fail("a malformed reply line to the client", l, n);
    }
    for (i = 4; i + 2 < n; i++) {
        if (l[i] < 0x20 || l[i] == 0x7f) {
            fz_fail("a control octet in a reply to the client", l, n);
        }
    }
    code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    if (e->rcode != 0 && code != e->rcode) {
        fz_fail("a multi-line reply changed its code", l, n);
    }
    more = n > 5 && l[3] == '-';
    e->rcode = more ? code : 0;
    e->after_221 = !more && code == 221;
}

static void
fz_client_bytes(struct fz_env *e, const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (e->after_221) {
            fz_fail("the gateway wrote after its 221", p + i, n - i);
        }
        if (e->rlen == sizeof(e->rline)) {
            fz_fail("a reply line over 4096 octets", e->rline, e->rlen);
        }
        e->rline[e->rlen++] = p[i];
        if (p[i] == '\n') {
            fz_client_line(e, e->rline, e->rlen);
            e->rlen = 0;
        }
    }
}

static void
fz_client_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct fz_env *e = h->data;

    (void)hint;
    buf->base = e->client_rbuf;
    buf->len = sizeof(e->client_rbuf);
}

static void
fz_client_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct fz_env *e = st->data;

    if (n < 0) {
        fz_client_close(e); /* EOF, or reset after an abrupt close */
        return;
    }
    fz_trace_bytes("client<", buf->base, (size_t)n);
    fz_client_bytes(e, (const uint8_t *)buf->base, (size_t)n);
}

static void
fz_client_on_written(uv_write_t *req, int status)
{
    (void)req;
    (void)status; /* the gateway may close first (421, too many errors) */
}

static void
fz_client_on_shutdown(uv_shutdown_t *req, int status)
{
    struct fz_env *e = req->data;

    (void)status;
    if (e->abrupt) {
        fz_client_close(e);
    }
}

/* One piece per loop turn: written before the turn's poll, it is read by
 * the gateway in that poll, before the next piece arrives. Then the
 * client's end of input. */
static void
fz_client_feed(uv_idle_t *h)
{
    struct fz_env *e = h->data;
    uv_stream_t *c = (uv_stream_t *)&e->client;

    if (uv_is_closing((uv_handle_t *)c)) {
        uv_idle_stop(h);
        return;
    }
    if (e->next_piece < e->npieces) {
        fz_trace_bytes("client>", e->piece[e->next_piece].base,
                       e->piece[e->next_piece].len);
        uv_write(&e->wreq[e->next_piece], c, &e->piece[e->next_piece], 1,
                 fz_client_on_written);
        e->next_piece++;
        return;
    }
    uv_idle_stop(h);
    if (uv_shutdown(&e->sreq, c, fz_client_on_shutdown) != 0) {
        fz_client_close(e);
    }
}

static void
fz_client_on_connect(uv_connect_t *req, int status)
{
    struct fz_env *e = req->data;

    if (status != 0) {
        fprintf(stderr, "fuzz_session: cannot connect: %s\n",
                uv_strerror(status));
        abort();
    }
    uv_read_start((uv_stream_t *)&e->client, fz_client_on_alloc,
                  fz_client_on_read);
    uv_idle_start(&e->feeder, fz_client_feed);
}

static void
fz_on_deadline(uv_timer_t *t)
{
    fz_stuck(t->data, "the session did not end in time");
}

/* One client session: connect, send the pieces, end the input, and run
 * the loop until nothing of the session is left. */
static void
fz_run(struct fz_env *e, const struct fz_input *in)
{
    uv_loop_t *loop = &e->w.loop;
    size_t at = 0;
    size_t i;

    e->npieces = 0;
    for (i = 0; i <= in->ncuts; i++) {
        size_t end = i < in->ncuts ? in->cut[i] : in->len;

        if (end > at) {
            /* libuv only reads from it; the input outlives the run */
            e->piece[e->npieces++] = uv_buf_init(
                (char *)(uintptr_t)(in->p + at), (unsigned int)(end - at));
            at = end;
        }
    }
    e->next_piece = 0;
    e->abrupt = in->abrupt;
    e->client_closed = false;
    e->rlen = 0;
    e->rcode = 0;
    e->after_221 = false;
    uv_tcp_init(loop, &e->client);
    e->client.data = e;
    e->creq.data = e;
    e->sreq.data = e;
    if (uv_tcp_connect(&e->creq, &e->client,
                       (const struct sockaddr *)&e->listen_ss,
                       fz_client_on_connect) != 0) {
        fz_die("cannot start connecting");
    }
    uv_update_time(loop);
    uv_timer_start(&e->deadline, fz_on_deadline, FZ_DEADLINE_MS, 0);
    /* the worker's own handles are unreferenced: this returns once the
     * session, its upstream leg and the client are all gone */
    uv_run(loop, UV_RUN_DEFAULT);
    uv_timer_stop(&e->deadline);
    if (!e->client_closed || e->w.nsessions != 0 || e->mock_conns != 0) {
        fz_stuck(e, "nothing is left to run, yet the session is not over");
    }
}

/* ---- set-up ------------------------------------------------------------ */

static void
fz_env_overrides(struct fz_env *e)
{
    static const char *const common[] = {
        "upstreams.0.probe_interval=0",  /* the warm-up session learns */
        "upstreams.0.keep_idle=0",       /* no state from input to input */
        "process.master=false",          /* one worker, in-process */
        "process.run_as_root=true",      /* whoever runs the fuzzer */
        "limits.pipeline_depth=4",       /* a window a few KB can fill */
        "limits.errors_per_session=10",  /* limits within reach */
        "limits.messages_per_session=3", /* ... */
        "limits.recipients=100",         /* (the least allowed) */
        "limits.connections=16",         /* a small shared table */
    };
    const char *level = getenv("POSTERN_FUZZ_LOG");
    size_t i;

    for (i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
        e->overrides[e->noverrides++] = common[i];
    }
    if ((e->variant & FZ_VAR_POLICY) == 0) {
        /* the policy's file names its blocks itself */
        snprintf(e->name_override, sizeof(e->name_override),
                 "upstreams.0.name=%s",
                 (e->variant & FZ_VAR_LEGACY) != 0 ? "legacy" : "modern");
        e->overrides[e->noverrides++] = e->name_override;
    }
    snprintf(e->log_override, sizeof(e->log_override), "log.level=%s",
             level != NULL ? level : "error");
    fz_trace = level != NULL && strcmp(level, "trace") == 0;
    e->overrides[e->noverrides++] = e->log_override;
    e->overrides[e->noverrides++] = (e->variant & FZ_VAR_SMALL) != 0
                                        ? "limits.buffer_size=4K"
                                        : "limits.buffer_size=16K";
    if ((e->variant & FZ_VAR_STRICT) != 0) {
        e->overrides[e->noverrides++] = "body.bare_newlines=reject";
        e->overrides[e->noverrides++] = "ehlo.eightbit=reject";
    }
}

/* The policy set-up's rules (see the header comment). Blocks: "one" is
 * the listener's (the session's route), "two" and "three" are reached by
 * rules only. Rules are written as an operator would; each reaches a part
 * of the session machine the other set-ups do not. */
static const char fz_policy_yaml[] =
    "listeners:\n"
    "  - name: mx\n"
    "    address: \"127.0.0.1:25\"\n" /* a placeholder: see below */
    "upstreams:\n"
    "  - name: one\n"
    "    addresses: [\"%s\"]\n"
    "    probe_interval: 0\n"
    "    keep_idle: 0\n"
    "  - name: two\n"
    "    addresses: [\"%s\"]\n"
    "    probe_interval: 0\n"
    "    keep_idle: 0\n"
    "  - name: three\n"
    "    addresses: [\"%s\"]\n"
    "    probe_interval: 0\n"
    "    keep_idle: 0\n"
    "policy:\n"
    "  rules:\n"
    "    - name: mail-two\n"
    "      stage: mail\n"
    "      if:\n"
    "        - sender: {domain: two.test}\n"
    "      then: upstream two\n"
    "    - name: mail-tls\n"
    "      stage: mail\n"
    "      if:\n"
    "        - sender: {domain: tls.test}\n"
    "      then: tls_policy encrypt\n"
    "    - name: mail-cap\n"
    "      stage: mail\n"
    "      if:\n"
    "        - sender: {domain: cap.test}\n"
    "      then: [set_limit recipients 2, set_limit message_size 1K,\n"
    "             'add_header X-Cap: ${sender}']\n"
    "    - name: rcpt-trap\n"
    "      stage: rcpt\n"
    "      if:\n"
    "        - rcpt: [trap@one.test, trap@two.test]\n"
    "      then: 'reject 550 5.1.1 \"No such user\"'\n"
    "    - name: rcpt-one\n"
    "      stage: rcpt\n"
    "      if:\n"
    "        - rcpt: {domain: one.test}\n"
    "      then: upstream one\n"
    "    - name: rcpt-two\n"
    "      stage: rcpt\n"
    "      if:\n"
    "        - rcpt: {domain: two.test}\n"
    "      then: upstream two\n"
    "    - name: rcpt-three\n"
    "      stage: rcpt\n"
    "      if:\n"
    "        - rcpt: {domain: three.test}\n"
    "      then: [upstream three, 'add_header X-Routed: ${rcpt}']\n"
    "    - name: rcpt-secret\n"
    "      stage: rcpt\n"
    "      if:\n"
    "        - rcpt: {domain: secret.test}\n"
    "      then: [upstream three, tls_policy encrypt]\n"
    "    - name: rcpt-tls-here\n"
    "      stage: rcpt\n"
    "      if:\n"
    "        - rcpt: {domain: tls.test}\n"
    "      then: tls_policy encrypt\n"
    "    - name: header-subject\n"
    "      stage: header\n"
    "      if:\n"
    "        - header_name: subject\n"
    "        - header_value: {regex: 'v[i1]agra', flags: i}\n"
    "      then: 'reject 550 5.7.1 \"Message content rejected\"'\n"
    "    - name: header-hold\n"
    "      stage: header\n"
    "      if:\n"
    "        - header_name: x-hold\n"
    "      then: tempfail 451 4.7.1 Held\n"
    "    - name: header-tag\n"
    "      stage: header\n"
    "      if:\n"
    "        - header_name: x-tag\n"
    "      then: 'add_header X-Tagged: ${header_value}'\n"
    "    - name: eom-8bit\n"
    "      stage: eom\n"
    "      if:\n"
    "        - saw_8bit: true\n"
    "      then: 'reject 554 5.6.0 \"8-bit content refused by policy\"'\n"
    "    - name: eom-size\n"
    "      stage: eom\n"
    "      if:\n"
    "        - message_size: '> 1000'\n"
    "      then: tempfail 452 4.3.1 Too big for now\n";

/* The policy set-up's config, as a file (policy comes only from one);
 * it is read at once, then removed. */
static void
fz_policy_file(struct fz_env *e)
{
    char dir[] = "/tmp/fuzz_session.XXXXXX";
    FILE *fp;

    if (mkdtemp(dir) == NULL) {
        fz_die("cannot make a directory for the config");
    }
    snprintf(e->config_path, sizeof(e->config_path), "%s/postern.yaml", dir);
    fp = fopen(e->config_path, "w");
    if (fp == NULL || fprintf(fp, fz_policy_yaml, e->mock[0].addr,
                              e->mock[1].addr, e->mock[2].addr) < 0 ||
        fclose(fp) != 0) {
        fz_die("cannot write the config");
    }
    e->src.path = e->config_path;
}

static void
fz_policy_file_remove(struct fz_env *e)
{
    char dir[sizeof(e->config_path)];

    /* nothing reads it again: reloads come by signals, which are off */
    unlink(e->config_path);
    snprintf(dir, sizeof(dir), "%s", e->config_path);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
}

static struct gw_config *
fz_env_config(struct fz_env *e)
{
    static struct gw_config_errors errs;
    struct gw_config *cfg;
    struct sockaddr_in *sin;
    size_t i;

    fz_env_overrides(e);
    /* a placeholder (the config wants a real port); set to 0 below */
    e->src.listen = "127.0.0.1:25";
    e->src.upstream = e->mock[0].addr;
    e->src.overrides = e->overrides;
    e->src.noverrides = e->noverrides;
    if ((e->variant & FZ_VAR_POLICY) != 0) {
        fz_policy_file(e);
    }
    cfg = gw_config_from(&e->src, &errs);
    if ((e->variant & FZ_VAR_POLICY) != 0) {
        fz_policy_file_remove(e);
    }
    if (cfg == NULL) {
        for (i = 0; i < errs.count; i++) {
            fprintf(stderr, "fuzz_session: %s\n", errs.msg[i]);
        }
        fz_die("the config does not load");
    }
    /* an ephemeral port, which the config refuses (it wants 1-65535) */
    memset(&cfg->listeners[0].addr, 0, sizeof(cfg->listeners[0].addr));
    sin = (struct sockaddr_in *)&cfg->listeners[0].addr.ss;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cfg->listeners[0].addr.len = sizeof(*sin);
    snprintf(cfg->listeners[0].addr.text, sizeof(cfg->listeners[0].addr.text),
             "127.0.0.1:0");
    return cfg;
}

/* Starts the worker. Its signal handlers are libFuzzer's business (Ctrl-C,
 * -timeout): they are stopped, and libFuzzer's put back. */
static void
fz_env_start(struct fz_env *e, struct gw_config *cfg)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction old[sizeof(sigs) / sizeof(sigs[0])];
    struct gw_listener *l;
    size_t i;

    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], NULL, &old[i]);
    }
    if (gw_worker_start(&e->w, 0, &e->src, cfg, e->shm) != 0) {
        fz_die("the worker does not start");
    }
    uv_signal_stop(&e->w.sig_int);
    uv_signal_stop(&e->w.sig_term);
    uv_signal_stop(&e->w.sig_hup);
    uv_signal_stop(&e->w.sig_quit);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &old[i], NULL);
    }
    /* the loop's own handles must not keep uv_run going between inputs */
    for (l = e->w.listeners; l != NULL; l = l->next) {
        uv_unref((uv_handle_t *)&l->tcp);
    }
}

/* A first session that opens the upstream, so that the capabilities are
 * in shared memory before the first input's EHLO: every input then sees
 * the same offer. With the policy, a dialogue that opens each block (a
 * route's session learns that block's capabilities). */
static void
fz_env_warm_up(struct fz_env *e)
{
    static const char dialogue[] = "EHLO warm.invalid\r\n"
                                   "MAIL FROM:<warm@example.org>\r\n"
                                   "QUIT\r\n";
    static const char routes[] = "EHLO warm.invalid\r\n"
                                 "MAIL FROM:<warm@example.org>\r\n"
                                 "RCPT TO:<w@one.test>\r\n"
                                 "RSET\r\n"
                                 "MAIL FROM:<warm@two.test>\r\n"
                                 "RSET\r\n"
                                 "MAIL FROM:<warm@example.org>\r\n"
                                 "RCPT TO:<w@three.test>\r\n"
                                 "QUIT\r\n";
    static const char *const names[FZ_MAX_BLOCKS] = {"one", "two", "three"};
    struct fz_input in;
    struct gw_caps caps;
    bool policy = (e->variant & FZ_VAR_POLICY) != 0;
    size_t i;

    memset(&in, 0, sizeof(in));
    in.p = (const uint8_t *)(policy ? routes : dialogue);
    in.len = policy ? sizeof(routes) - 1 : sizeof(dialogue) - 1;
    fz_run(e, &in);
    for (i = 0; i < e->nmocks; i++) {
        gw_shm_caps_get(e->shm,
                        policy ? names[i]
                        : e->mock[i].legacy ? "legacy"
                                            : "modern",
                        &caps);
        if (!caps.known ||
            gw_caps_has(&caps, GW_CAP_PIPELINING) == e->mock[i].legacy) {
            fz_die("the warm-up did not learn the upstreams' capabilities");
        }
    }
}

/* The mocks: one, or one per block of the policy set-up; "two" has the
 * other flavour than "one" and "three", so a route changes bridging. */
static void
fz_env_mocks(struct fz_env *e)
{
    bool legacy = (e->variant & FZ_VAR_LEGACY) != 0;
    size_t i;

    e->nmocks = (e->variant & FZ_VAR_POLICY) != 0 ? FZ_MAX_BLOCKS : 1;
    for (i = 0; i < e->nmocks; i++) {
        e->mock[i].e = e;
        e->mock[i].block = (unsigned)i + 1;
        e->mock[i].legacy = i == 1 ? !legacy : legacy;
        e->mock[i].fd = fz_mock_listen(e->mock[i].addr, sizeof(e->mock[i].addr));
    }
}

static struct fz_env *
fz_env_new(unsigned variant)
{
    struct fz_env *e = calloc(1, sizeof(*e));
    struct gw_config *cfg;
    int len = (int)sizeof(struct sockaddr_storage);
    size_t i;

    if (e == NULL) {
        fz_die("out of memory");
    }
    e->variant = variant;
    fz_env_mocks(e);
    cfg = fz_env_config(e);
    e->shm = gw_shm_create(1, cfg->limits.connections + 1,
                           gw_config_policy_capacity(cfg));
    if (e->shm == NULL) {
        fz_die("no shared memory");
    }
    fz_env_start(e, cfg);
    gw_config_unref(cfg); /* the worker holds its own reference */
    for (i = 0; i < e->nmocks; i++) {
        uv_tcp_init(&e->w.loop, &e->mock[i].tcp);
        e->mock[i].tcp.data = &e->mock[i];
        if (uv_tcp_open(&e->mock[i].tcp, e->mock[i].fd) != 0 ||
            uv_listen((uv_stream_t *)&e->mock[i].tcp, 64,
                      fz_mock_on_connection) != 0) {
            fz_die("cannot listen");
        }
        uv_unref((uv_handle_t *)&e->mock[i].tcp);
    }
    if (uv_tcp_getsockname(&e->w.listeners->tcp,
                           (struct sockaddr *)&e->listen_ss, &len) != 0) {
        fz_die("cannot listen");
    }
    uv_timer_init(&e->w.loop, &e->deadline);
    e->deadline.data = e;
    uv_unref((uv_handle_t *)&e->deadline); /* it only watches the others */
    uv_idle_init(&e->w.loop, &e->feeder);
    e->feeder.data = e;
    fz_env_warm_up(e);
    return e;
}

/* At a clean exit: every worker stops as postern's would, and everything
 * is freed, so the leak check at exit sees nothing of ours. */
static void
fz_teardown(void)
{
    size_t i;

    for (i = 0; i < FZ_VARIANTS; i++) {
        if (fz_envs[i] != NULL) {
            gw_worker_stop(&fz_envs[i]->w, true);
            if (gw_worker_run(&fz_envs[i]->w) != 0) {
                fz_die("a worker's loop did not close cleanly");
            }
        }
    }
    gw_metrics_self = NULL; /* it points into a worker's shared memory */
    for (i = 0; i < FZ_VARIANTS; i++) {
        if (fz_envs[i] != NULL) {
            gw_shm_destroy(fz_envs[i]->shm);
            free(fz_envs[i]);
            fz_envs[i] = NULL;
        }
    }
}

static struct fz_env *
fz_env_get(unsigned variant)
{
    static bool once;

    if (!once) {
        once = true;
        signal(SIGPIPE, SIG_IGN); /* as postern: a closed peer is EPIPE */
        atexit(fz_teardown);
    }
    if (fz_envs[variant] == NULL) {
        fz_envs[variant] = fz_env_new(variant);
    }
    return fz_envs[variant];
}

/* ---- the input --------------------------------------------------------- */

static void
fz_input_parse(const uint8_t *data, size_t size, struct fz_input *in)
{
    unsigned flags = size > 0 ? data[0] : 0;
    size_t ncuts = (flags >> 3) & FZ_MAX_CUTS;
    size_t hdr;
    size_t i;
    size_t k;

    memset(in, 0, sizeof(*in));
    in->variant = (flags & (FZ_VAR_LEGACY | FZ_VAR_STRICT)) |
                  ((flags & FZ_FLAG_SMALL) != 0 ? FZ_VAR_SMALL : 0) |
                  ((flags & FZ_FLAG_POLICY) != 0 ? FZ_VAR_POLICY : 0);
    in->abrupt = (flags & FZ_FLAG_ABRUPT) != 0;
    if (size < 1 + 2 * ncuts) {
        ncuts = size > 0 ? (size - 1) / 2 : 0;
    }
    hdr = size > 0 ? 1 + 2 * ncuts : 0;
    in->p = data + hdr;
    in->len = size - hdr;
    for (i = 0; i < ncuts; i++) {
        size_t v = (size_t)data[1 + 2 * i] | (size_t)data[2 + 2 * i] << 8;
        size_t cut = v % (in->len + 1);

        /* kept sorted: pieces are the spans between cuts */
        for (k = in->ncuts; k > 0 && in->cut[k - 1] > cut; k--) {
            in->cut[k] = in->cut[k - 1];
        }
        in->cut[k] = cut;
        in->ncuts++;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_input in;

    fz_input_parse(data, size, &in);
    fz_run(fz_env_get(in.variant), &in);
    return 0;
}
