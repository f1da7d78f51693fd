#include "gateway/gw_simulate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_log.h"
#include "gateway/gw_reply_parse.h"
#include "gateway/gw_shm.h"
#include "gateway/gw_str.h"
#include "gateway/gw_worker.h"

#define GW_SIM_MAX_INPUT (1024 * 1024)
#define GW_SIM_LINE_MAX 2048

/* ---- the upstream that accepts everything ---------------------------- */

struct gw_mock_conn {
    uv_tcp_t tcp;
    char line[GW_SIM_LINE_MAX];
    size_t len;
    bool in_data;
    char buf[4096];
};

struct gw_sim {
    uv_loop_t *loop;
    struct gw_worker *w;
    FILE *out;
    uv_tcp_t mock;          /* the mock upstream's listener */
    uv_tcp_t client;        /* the simulated client */
    uv_connect_t creq;
    char *input;            /* the dialogue */
    size_t input_len;
    size_t pos;             /* next unread byte of the dialogue */
    struct gw_reply_parser rp;
    char rbuf[8192];
    size_t rlen;
    bool done;
};

static void gw_mock_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void gw_mock_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void gw_sim_free_handle(uv_handle_t *h);

struct gw_sim_write_req {
    uv_write_t req;
    char data[]; /* a copy of the bytes, freed when the write completes */
};

static void
gw_sim_on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a closed connection */
    gw_free(req->data);
}

/* Queues a copy of text: libuv keeps the order and writes as the peer
 * reads, so a whole message can be queued at once. */
static void
gw_sim_write(uv_stream_t *s, const char *text)
{
    size_t n = strlen(text);
    struct gw_sim_write_req *w = gw_alloc(sizeof(*w) + n);
    uv_buf_t b;

    if (w == NULL) {
        return;
    }
    memcpy(w->data, text, n);
    w->req.data = w;
    b = uv_buf_init(w->data, (unsigned int)n);
    if (uv_write(&w->req, s, &b, 1, gw_sim_on_written) != 0) {
        gw_free(w);
    }
}

/* A listening loopback socket on an ephemeral port, opened before the
 * worker starts so that every upstream can point at it from the start. */
/* 127.0.0.1, port 0: the kernel picks a free one at bind. */
static void
gw_sim_loopback_any(struct gw_sockaddr *addr)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&addr->ss;

    memset(addr, 0, sizeof(*addr));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr->len = sizeof(*sin);
    gw_strlcpy(addr->text, "127.0.0.1:0", sizeof(addr->text));
}

static int
gw_mock_listen(struct gw_sockaddr *addr)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&addr->ss;
    int fd;

    gw_sim_loopback_any(addr);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (bind(fd, (struct sockaddr *)sin, addr->len) != 0 ||
        listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr->ss, &addr->len) != 0) {
        close(fd);
        return -1;
    }
    snprintf(addr->text, sizeof(addr->text), "127.0.0.1:%u",
             (unsigned int)ntohs(sin->sin_port));
    return fd;
}

static void
gw_mock_on_connection(uv_stream_t *server, int status)
{
    struct gw_mock_conn *m;

    if (status != 0 || (m = gw_calloc(1, sizeof(*m))) == NULL) {
        return;
    }
    uv_tcp_init(server->loop, &m->tcp);
    m->tcp.data = m;
    if (uv_accept(server, (uv_stream_t *)&m->tcp) != 0) {
        uv_close((uv_handle_t *)&m->tcp, gw_sim_free_handle);
        return;
    }
    gw_sim_write((uv_stream_t *)&m->tcp, "220 mock.invalid ESMTP accepts "
                                         "everything\r\n");
    uv_read_start((uv_stream_t *)&m->tcp, gw_mock_on_alloc, gw_mock_on_read);
}

static void
gw_mock_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct gw_mock_conn *m = h->data;

    (void)hint;
    buf->base = m->buf;
    buf->len = sizeof(m->buf);
}

static void
gw_mock_command(struct gw_mock_conn *m, uv_stream_t *s)
{
    const char *l = m->line;

    if (m->in_data) {
        if (strcmp(l, ".") == 0) {
            m->in_data = false;
            gw_sim_write(s, "250 2.0.0 Ok: queued as MOCK\r\n");
        }
        return;
    }
    if (gw_str_iprefix((const uint8_t *)l, strlen(l), "EHLO")) {
        gw_sim_write(s, "250-mock.invalid\r\n250-PIPELINING\r\n"
                        "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
                        "250-DSN\r\n250 SMTPUTF8\r\n");
    } else if (gw_str_iprefix((const uint8_t *)l, strlen(l), "DATA")) {
        m->in_data = true;
        gw_sim_write(s, "354 Go ahead\r\n");
    } else if (gw_str_iprefix((const uint8_t *)l, strlen(l), "QUIT")) {
        gw_sim_write(s, "221 2.0.0 Bye\r\n");
    } else {
        gw_sim_write(s, "250 2.0.0 Ok\r\n");
    }
}

static void
gw_mock_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct gw_mock_conn *m = s->data;
    ssize_t i;

    if (n < 0) {
        uv_close((uv_handle_t *)s, gw_sim_free_handle);
        return;
    }
    for (i = 0; i < n; i++) {
        char c = buf->base[i];

        if (c == '\n') {
            if (m->len > 0 && m->line[m->len - 1] == '\r') {
                m->len--;
            }
            m->line[m->len] = '\0';
            gw_mock_command(m, s);
            m->len = 0;
        } else if (m->len + 1 < sizeof(m->line)) {
            m->line[m->len++] = c;
        }
    }
}

static void
gw_sim_free_handle(uv_handle_t *h)
{
    gw_free(h->data);
}

/* ---- the simulated client -------------------------------------------- */

static void gw_sim_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void gw_sim_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void
gw_sim_finish(struct gw_sim *sim)
{
    if (sim->done) {
        return;
    }
    sim->done = true;
    uv_close((uv_handle_t *)&sim->client, NULL);
    uv_close((uv_handle_t *)&sim->mock, NULL);
    gw_worker_stop(sim->w, true);
}

/* The next line of the dialogue (without its end), or NULL at the end. */
static const char *
gw_sim_next_line(struct gw_sim *sim, size_t *len)
{
    const char *p = sim->input + sim->pos;
    const char *nl;
    size_t n;

    if (sim->pos >= sim->input_len) {
        return NULL;
    }
    nl = memchr(p, '\n', sim->input_len - sim->pos);
    n = nl != NULL ? (size_t)(nl - p) : sim->input_len - sim->pos;
    sim->pos += n + (nl != NULL ? 1 : 0);
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    *len = n;
    return p;
}

/* Sends the next command (and after DATA's 354, the message). */
static void
gw_sim_send_next(struct gw_sim *sim, bool after_354)
{
    char wire[GW_SIM_LINE_MAX + 2];
    const char *l;
    size_t n;
    size_t lines = 0;

    for (;;) {
        l = gw_sim_next_line(sim, &n);
        if (l == NULL) {
            gw_sim_finish(sim);
            return;
        }
        if (n >= GW_SIM_LINE_MAX) {
            n = GW_SIM_LINE_MAX - 1;
        }
        memcpy(wire, l, n);
        memcpy(wire + n, "\r\n", 2);
        wire[n + 2] = '\0';
        gw_sim_write((uv_stream_t *)&sim->client, wire);
        if (!after_354) {
            if (n > 0) {
                fprintf(sim->out, "C: %.*s\n", (int)n, l);
                return;
            }
            continue; /* blank lines between commands */
        }
        lines++;
        if (n == 1 && l[0] == '.') {
            fprintf(sim->out, "C: (%zu message lines and the final dot)\n",
                    lines - 1);
            return;
        }
    }
}

static void
gw_sim_on_connect(uv_connect_t *req, int status)
{
    struct gw_sim *sim = req->data;

    if (status != 0) {
        fprintf(sim->out, "postern --simulate: cannot connect: %s\n",
                uv_strerror(status));
        gw_sim_finish(sim);
        return;
    }
    uv_read_start((uv_stream_t *)&sim->client, gw_sim_on_alloc,
                  gw_sim_on_read);
}

static void
gw_sim_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct gw_sim *sim = h->data;

    (void)hint;
    buf->base = sim->rbuf + sim->rlen;
    buf->len = sizeof(sim->rbuf) - sim->rlen;
}

static void
gw_sim_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct gw_sim *sim = s->data;
    char *nl;
    size_t used;
    size_t len;
    int rc;

    (void)buf;
    if (n < 0) {
        fprintf(sim->out, "S: (connection closed)\n");
        gw_sim_finish(sim);
        return;
    }
    sim->rlen += (size_t)n;
    while ((nl = memchr(sim->rbuf, '\n', sim->rlen)) != NULL) {
        used = (size_t)(nl - sim->rbuf) + 1;
        len = used - 1; /* without the LF, and without the CR before it */
        if (len > 0 && sim->rbuf[len - 1] == '\r') {
            len--;
        }
        fprintf(sim->out, "S: %.*s\n", (int)len, sim->rbuf);
        rc = gw_reply_parser_feed(&sim->rp, (const uint8_t *)sim->rbuf, len);
        memmove(sim->rbuf, sim->rbuf + used, sim->rlen - used);
        sim->rlen -= used;
        if (rc == GW_PARSE_AGAIN) {
            continue;
        }
        if (rc != GW_PARSE_OK) {
            gw_sim_finish(sim);
            return;
        }
        gw_sim_send_next(sim, sim->rp.reply.code == 354);
        if (sim->done) {
            return;
        }
    }
    if (sim->rlen == sizeof(sim->rbuf)) {
        sim->rlen = 0; /* a reply line longer than the buffer: drop it */
    }
}

static void
gw_sim_note(void *arg, enum pol_stage stage, const struct pol_verdict *v)
{
    struct gw_sim *sim = arg;

    fprintf(sim->out, "   policy: stage=%s rule=\"%s\"", pol_stage_name(stage),
            v->rule[0] != '\0' ? v->rule : "(none)");
    if (v->rule_location[0] != '\0') {
        fprintf(sim->out, " at=%s", v->rule_location);
    }
    fprintf(sim->out, " verdict=%s", pol_verdict_action_name(v->action));
    /* the modifiers a rule can set without deciding */
    if ((v->flags & POL_VF_REQUIRE_TLS) != 0) {
        fprintf(sim->out, " require_tls");
    }
    if ((v->flags & POL_VF_UPSTREAM) != 0) {
        fprintf(sim->out, " upstream=%s", v->upstream);
    }
    if ((v->flags & POL_VF_TLS_POLICY) != 0) {
        fprintf(sim->out, " tls_policy=%s", pol_tls_policy_name(v->tls_policy));
    }
    if ((v->flags & POL_VF_LIMIT_SIZE) != 0) {
        fprintf(sim->out, " message_size=%llu",
                (unsigned long long)v->limit_message_size);
    }
    if ((v->flags & POL_VF_LIMIT_RCPTS) != 0) {
        fprintf(sim->out, " recipients=%u", (unsigned)v->limit_recipients);
    }
    if (v->nheaders > 0) {
        fprintf(sim->out, " add_header=%zu", v->nheaders);
    }
    fputc('\n', sim->out);
}

static void
gw_sim_trace(void *arg, const struct pol_trace_event *ev)
{
    struct gw_sim *sim = arg;
    const char *p;

    fprintf(sim->out, "   rule: %s", ev->rule);
    if (strcmp(ev->rule, ev->rule_location) != 0) {
        fprintf(sim->out, " at=%s", ev->rule_location);
    }
    switch (ev->result) {
    case POL_TRACE_NO_MATCH:
        fprintf(sim->out, " no-match condition=%zu\n", ev->cond + 1);
        return;
    case POL_TRACE_ERROR:
        fprintf(sim->out, " error condition=%zu\n", ev->cond + 1);
        return;
    case POL_TRACE_MATCH:
        break;
    }
    /* the action as written in the config (checked: no control bytes) */
    fputs(" match: ", sim->out);
    for (p = ev->action; *p != '\0'; p++) {
        fputc((unsigned char)*p < 0x20 ? '?' : *p, sim->out);
    }
    if (ev->table_location[0] != '\0') {
        fprintf(sim->out, " (table %s)", ev->table_location);
    }
    fputs(ev->ignored ? " (ignored: an earlier rule set it)\n" : "\n",
          sim->out);
}

/* ---- the run ---------------------------------------------------------- */

static char *
gw_sim_read_all(FILE *in, size_t *len)
{
    char *buf = gw_alloc(GW_SIM_MAX_INPUT + 1);
    size_t n;

    if (buf == NULL) {
        fprintf(stderr, "postern --simulate: out of memory\n");
        return NULL;
    }
    n = fread(buf, 1, GW_SIM_MAX_INPUT + 1, in);
    if (n > GW_SIM_MAX_INPUT) {
        fprintf(stderr, "postern --simulate: the dialogue is over %d bytes\n",
                GW_SIM_MAX_INPUT);
        gw_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Moves the named listener (or the first) to listeners[0], the only one
 * the simulation opens. */
static bool
gw_sim_pick_listener(struct gw_config *cfg, const char *name)
{
    size_t i = 0;

    if (name != NULL) {
        for (i = 0; i < cfg->nlisteners; i++) {
            if (strcmp(cfg->listeners[i].name, name) == 0) {
                break;
            }
        }
        if (i == cfg->nlisteners) {
            fprintf(stderr, "postern --simulate: --listener %s: no such "
                            "listener\n", name);
            return false;
        }
    }
    if (cfg->listeners[i].tls == GW_TLS_IMPLICIT) {
        fprintf(stderr, "postern --simulate: listener %s uses implicit TLS, "
                        "which the simulation does not speak\n",
                cfg->listeners[i].name);
        return false;
    }
    if (i != 0) {
        cfg->listeners[0] = cfg->listeners[i];
    }
    return true;
}

int
gw_simulate_run(struct gw_config *cfg, const char *client,
                const char *listener, FILE *in, FILE *out)
{
    struct gw_config_source src;
    struct gw_worker w;
    struct gw_sim sim;
    struct gw_sockaddr mock_addr;
    struct sockaddr_storage ss;
    struct gw_shm *shm;
    int len = (int)sizeof(ss);
    int mock_fd;
    size_t i;
    int rc;

    memset(&w, 0, sizeof(w));
    memset(&sim, 0, sizeof(sim));
    memset(&src, 0, sizeof(src));
    sim.out = out;
    sim.w = &w;
    gw_reply_parser_init(&sim.rp, 1000);
    sim.input = gw_sim_read_all(in, &sim.input_len);
    if (sim.input == NULL) {
        gw_config_unref(cfg);
        return 1;
    }
    /* everything local: the first listener on an ephemeral port, every
     * upstream at the mock, no probes, no privileges to drop */
    if (!gw_sim_pick_listener(cfg, listener)) {
        gw_free(sim.input);
        gw_config_unref(cfg);
        return 2;
    }
    cfg->nlisteners = 1;
    /* not the configured address: a running postern may hold it (the
     * config parser refuses port 0, hence no gw_config_parse_addr) */
    gw_sim_loopback_any(&cfg->listeners[0].addr);
    cfg->process.master = false;
    cfg->process.run_as_root = true;
    cfg->process.user[0] = '\0';
    cfg->metrics.listen[0] = '\0';
    if (cfg->log_level > GW_LOG_WARN) {
        cfg->log_level = GW_LOG_WARN;
    }
    gw_log_set_level(cfg->log_level);
    if (client != NULL && !gw_config_parse_ip(client, &w.sim_client)) {
        fprintf(stderr,
                "postern --simulate: --client %s: not an IPv4 or IPv6 "
                "address\n",
                client);
        gw_free(sim.input);
        gw_config_unref(cfg);
        return 2;
    }
    shm = gw_shm_create(1, cfg->limits.connections + 1,
                        gw_config_policy_capacity(cfg));
    if (shm == NULL) {
        gw_free(sim.input);
        gw_config_unref(cfg);
        return 1;
    }
    w.policy_note = gw_sim_note;
    w.policy_trace = gw_sim_trace;
    w.policy_note_arg = &sim;
    mock_fd = gw_mock_listen(&mock_addr);
    if (mock_fd < 0) {
        fprintf(stderr, "postern --simulate: cannot open the mock upstream\n");
        gw_shm_destroy(shm);
        gw_free(sim.input);
        gw_config_unref(cfg);
        return 1;
    }
    /* every upstream is the mock, set before the worker copies anything */
    for (i = 0; i < cfg->nupstreams; i++) {
        cfg->upstreams[i].addrs[0] = mock_addr;
        cfg->upstreams[i].naddrs = 1;
        cfg->upstreams[i].probe_interval_ms = 0;
        cfg->upstreams[i].tls = GW_UP_TLS_NONE;
        cfg->upstreams[i].keep_idle = 0;
    }
    rc = gw_worker_start(&w, 0, &src, cfg, shm);
    if (rc == 0) {
        sim.loop = &w.loop;
        uv_tcp_init(&w.loop, &sim.mock);
        rc = uv_tcp_open(&sim.mock, mock_fd);
        if (rc == 0) {
            rc = uv_listen((uv_stream_t *)&sim.mock, 16,
                           gw_mock_on_connection);
        }
    } else {
        close(mock_fd);
    }
    if (rc == 0) {
        len = (int)sizeof(ss);
        uv_tcp_getsockname(&w.listeners->tcp, (struct sockaddr *)&ss, &len);
        uv_tcp_init(&w.loop, &sim.client);
        sim.client.data = &sim;
        sim.creq.data = &sim;
        rc = uv_tcp_connect(&sim.creq, &sim.client,
                            (const struct sockaddr *)&ss, gw_sim_on_connect);
    }
    if (rc != 0) {
        fprintf(stderr, "postern --simulate: cannot start: %s\n",
                uv_strerror(rc));
        gw_worker_stop(&w, true);
    }
    gw_config_unref(cfg); /* the worker holds its own reference */
    /* a start that failed stays failed, however the loop then ends */
    rc = gw_worker_run(&w) != 0 || rc != 0;
    gw_shm_destroy(shm);
    gw_free(sim.input);
    fflush(out);
    return rc;
}
