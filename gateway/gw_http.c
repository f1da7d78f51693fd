#include "gateway/gw_http.h"

#include <stdio.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_error.h"
#include "gateway/gw_line.h"
#include "gateway/gw_log.h"
#include "gateway/gw_metrics.h"
#include "gateway/gw_shm.h"
#include "gateway/gw_str.h"
#include "gateway/gw_worker.h"

#define GW_HTTP_MAX_REQUEST (8 * 1024)
#define GW_HTTP_TIMEOUT_MS 5000
#define GW_HTTP_MAX_CONNS 16
/* The core metrics (about 6 KiB); the policy rules' series come on top,
 * sized by gw_metrics_rules_bound. */
#define GW_HTTP_BODY_BASE (16 * 1024)

struct gw_http_conn;

struct gw_http {
    uv_tcp_t tcp;
    struct gw_worker *w;
    char addr[80];
    size_t nconns;
    struct gw_http_conn *conns;
    bool closing;
};

struct gw_http_conn {
    struct gw_conn conn;
    struct gw_http *http;
    struct gw_http_conn *prev;
    struct gw_http_conn *next;
};

static void gw_http_on_connection(uv_stream_t *server, int status);
static void gw_http_on_read(struct gw_conn *c);
static void gw_http_on_drain(struct gw_conn *c);
static void gw_http_on_error(struct gw_conn *c, int err);
static void gw_http_on_connect(struct gw_conn *c, int status);
static void gw_http_on_closed(struct gw_conn *c);
static void gw_http_server_closed(uv_handle_t *h);

static const struct gw_conn_ops gw_http_conn_ops = {
    .on_read = gw_http_on_read,
    .on_drain = gw_http_on_drain,
    .on_error = gw_http_on_error,
    .on_connect = gw_http_on_connect,
    .on_closed = gw_http_on_closed,
};

int
gw_http_parse_request(const uint8_t *p, size_t len, bool *is_get,
                      bool *is_metrics)
{
    const uint8_t *end;
    const uint8_t *sp1;
    const uint8_t *sp2;
    size_t llen;
    size_t i;

    *is_get = false;
    *is_metrics = false;
    end = memmem(p, len, "\r\n\r\n", 4);
    if (end == NULL) {
        end = memmem(p, len, "\n\n", 2);
    }
    if (end == NULL) {
        return GW_PARSE_AGAIN;
    }
    /* request-line = method SP request-target SP HTTP-version */
    for (llen = 0; llen < len && p[llen] != '\r' && p[llen] != '\n';
         llen++) {
    }
    for (i = 0; i < llen; i++) {
        if (p[i] < 32 || p[i] > 126) {
            return GW_PARSE_INVALID;
        }
    }
    sp1 = memchr(p, ' ', llen);
    if (sp1 == NULL) {
        return GW_PARSE_INVALID;
    }
    sp2 = memchr(sp1 + 1, ' ', llen - (size_t)(sp1 + 1 - p));
    if (sp2 == NULL || !gw_str_iprefix(sp2 + 1, llen - (size_t)(sp2 + 1 - p),
                                       "HTTP/1.")) {
        return GW_PARSE_INVALID;
    }
    *is_get = (sp1 - p == 3 && memcmp(p, "GET", 3) == 0);
    *is_metrics = (sp2 - sp1 - 1 == 8 && memcmp(sp1 + 1, "/metrics", 8) == 0);
    return GW_PARSE_OK;
}

void
gw_http_metrics_apply(struct gw_worker *w, const struct gw_config *cfg)
{
    struct gw_http *h;
    int rc;

    if (w->metrics != NULL &&
        strcmp(w->metrics->addr, cfg->metrics.addr.text) == 0 &&
        cfg->metrics.listen[0] != '\0') {
        return; /* unchanged */
    }
    gw_http_close(w);
    if (cfg->metrics.listen[0] == '\0') {
        return;
    }
    h = gw_calloc(1, sizeof(*h));
    if (h == NULL) {
        return;
    }
    h->w = w;
    gw_strlcpy(h->addr, cfg->metrics.addr.text, sizeof(h->addr));
    uv_tcp_init(&w->loop, &h->tcp);
    h->tcp.data = h;
    rc = uv_tcp_bind(&h->tcp, (const struct sockaddr *)&cfg->metrics.addr.ss,
                     0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&h->tcp, 64, gw_http_on_connection);
    }
    if (rc != 0) {
        gw_log(GW_LOG_ERROR, NULL, "event=metrics_listen_failed address=%s "
               "error=\"%s\"", h->addr, uv_strerror(rc));
        h->closing = true;
        uv_close((uv_handle_t *)&h->tcp, gw_http_server_closed);
        return;
    }
    gw_log(GW_LOG_INFO, NULL, "event=metrics_listening address=%s", h->addr);
    w->metrics = h;
}

void
gw_http_close(struct gw_worker *w)
{
    struct gw_http *h = w->metrics;
    struct gw_http_conn *hc;

    if (h == NULL) {
        return;
    }
    w->metrics = NULL;
    h->closing = true;
    for (hc = h->conns; hc != NULL; hc = hc->next) {
        gw_conn_close(&hc->conn);
    }
    uv_close((uv_handle_t *)&h->tcp, gw_http_server_closed);
}

/* The server struct is freed once its handle and its connections are. */
static void
gw_http_maybe_free(struct gw_http *h)
{
    if (h->closing && h->nconns == 0 && h->tcp.data == NULL) {
        gw_free(h);
    }
}

static void
gw_http_server_closed(uv_handle_t *handle)
{
    struct gw_http *h = handle->data;

    h->tcp.data = NULL;
    gw_http_maybe_free(h);
}

static void
gw_http_on_connection(uv_stream_t *server, int status)
{
    struct gw_http *h = server->data;
    struct gw_http_conn *hc;

    if (status != 0 || h->closing) {
        return;
    }
    hc = gw_calloc(1, sizeof(*hc));
    if (hc == NULL) {
        return;
    }
    hc->http = h;
    /* the request's buffer; the response's is sized when it is known */
    gw_conn_init(&hc->conn, &h->w->loop, &gw_http_conn_ops, hc,
                 GW_HTTP_MAX_REQUEST);
    hc->next = h->conns;
    if (h->conns != NULL) {
        h->conns->prev = hc;
    }
    h->conns = hc;
    h->nconns++;
    if (gw_conn_accept(&hc->conn, server) != 0 ||
        h->nconns > GW_HTTP_MAX_CONNS) {
        gw_conn_close(&hc->conn);
        return;
    }
    gw_conn_timeout(&hc->conn, GW_HTTP_TIMEOUT_MS);
    gw_conn_want_read(&hc->conn, true);
}

static void
gw_http_respond(struct gw_http_conn *hc, const char *status, const char *body,
                size_t body_len)
{
    char head[256];
    int n;

    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; "
                 "charset=utf-8\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 status, body_len);
    /* the output buffer is attached at the first write, at this size */
    hc->conn.buf_size = sizeof(head) + body_len;
    if (n < 0 || (size_t)n >= sizeof(head) ||
        gw_conn_write(&hc->conn, head, (size_t)n) != 0 ||
        gw_conn_write(&hc->conn, body, body_len) != 0) {
        gw_conn_close(&hc->conn);
        return;
    }
    gw_conn_close_after_flush(&hc->conn);
}

static void
gw_http_on_read(struct gw_conn *c)
{
    struct gw_http_conn *hc = c->owner;
    struct gw_shm *shm = hc->http->w->shm;
    struct gw_counters sum;
    size_t cap;
    char *body;
    size_t n;
    bool is_get;
    bool is_metrics;
    int rc;

    rc = gw_http_parse_request(c->in.pos, gw_buf_len(&c->in), &is_get,
                               &is_metrics);
    if (rc == GW_PARSE_AGAIN) {
        if (gw_buf_len(&c->in) >= GW_HTTP_MAX_REQUEST) {
            gw_http_respond(hc, "431 Request Header Fields Too Large",
                            "too large\n", 10);
        }
        return;
    }
    gw_conn_want_read(c, false);
    if (rc != GW_PARSE_OK) {
        gw_http_respond(hc, "400 Bad Request", "bad request\n", 12);
        return;
    }
    if (!is_metrics) {
        gw_http_respond(hc, "404 Not Found", "try /metrics\n", 13);
        return;
    }
    if (!is_get) {
        gw_http_respond(hc, "405 Method Not Allowed", "GET only\n", 9);
        return;
    }
    cap = GW_HTTP_BODY_BASE + gw_metrics_rules_bound(shm->rules,
                                                     GW_SHM_MAX_RULES);
    body = gw_alloc(cap);
    if (body == NULL) {
        gw_http_respond(hc, "503 Service Unavailable", "no memory\n", 10);
        return;
    }
    gw_shm_sum(shm, &sum);
    n = gw_metrics_render(&sum, shm->nworkers, body, cap);
    if (n == 0) {
        gw_http_respond(hc, "500 Internal Server Error", "too big\n", 8);
    } else {
        /* the bound makes room for all; a rule published since would be
         * left out whole, never cut */
        n += gw_metrics_render_rules(shm->rules, GW_SHM_MAX_RULES, body + n,
                                     cap - n);
        gw_http_respond(hc, "200 OK", body, n);
    }
    gw_free(body);
}

static void
gw_http_on_drain(struct gw_conn *c)
{
    (void)c;
}

static void
gw_http_on_error(struct gw_conn *c, int err)
{
    (void)err; /* timeout, EOF, reset: just close */
    gw_conn_close(c);
}

static void
gw_http_on_connect(struct gw_conn *c, int status)
{
    (void)c;
    (void)status;
}

static void
gw_http_on_closed(struct gw_conn *c)
{
    struct gw_http_conn *hc = c->owner;
    struct gw_http *h = hc->http;

    if (hc->prev != NULL) {
        hc->prev->next = hc->next;
    } else {
        h->conns = hc->next;
    }
    if (hc->next != NULL) {
        hc->next->prev = hc->prev;
    }
    h->nconns--;
    gw_free(hc);
    gw_http_maybe_free(h);
}
