#include "gateway/gw_worker.h"

#include <signal.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_error.h"
#include "gateway/gw_log.h"
#include "gateway/gw_session.h"
#include "gateway/gw_upstream.h"

/* listen(2) backlog; the kernel caps it at net.core.somaxconn. */
#define GW_LISTEN_BACKLOG 1024

static void gw_worker_on_connection(uv_stream_t *server, int status);
static void gw_worker_on_signal(uv_signal_t *h, int signum);
static void gw_worker_on_probe_timer(uv_timer_t *t);
static void gw_probe_ready(struct gw_upstream *u, void *owner);
static void gw_probe_reply(struct gw_upstream *u, void *owner,
                           enum gw_verb verb, bool eom,
                           const struct gw_reply *r);
static void gw_probe_fail(struct gw_upstream *u, void *owner,
                          enum gw_up_fail why, const char *detail);
static void gw_probe_drain(struct gw_upstream *u, void *owner);
static void gw_worker_close_walk(uv_handle_t *h, void *arg);

static const struct gw_up_ops gw_probe_ops = {
    .on_ready = gw_probe_ready,
    .on_reply = gw_probe_reply,
    .on_fail = gw_probe_fail,
    .on_drain = gw_probe_drain,
};

static int
gw_worker_listen(struct gw_worker *w, size_t i)
{
    struct gw_listener *l = &w->listeners[i];
    const struct gw_listener_cfg *lc = &w->cfg->listeners[i];
    int rc;

    l->w = w;
    l->index = i;
    uv_tcp_init(&w->loop, &l->tcp);
    l->tcp.data = l;
    l->open = true;
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&lc->addr.ss, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&l->tcp, GW_LISTEN_BACKLOG,
                       gw_worker_on_connection);
    }
    if (rc != 0) {
        gw_log(GW_LOG_ERROR, NULL,
               "event=listen_failed listener=%s address=%s error=\"%s\"",
               lc->name, lc->addr.text, uv_strerror(rc));
        return GW_E_IO;
    }
    gw_log(GW_LOG_INFO, NULL, "event=listening listener=%s address=%s",
           lc->name, lc->addr.text);
    return 0;
}

int
gw_worker_start(struct gw_worker *w, struct gw_config *cfg)
{
    size_t i;

    if (uv_loop_init(&w->loop) != 0) {
        return GW_E_IO;
    }
    w->cfg = cfg;
    gw_config_ref(cfg);
    w->listeners = gw_calloc(cfg->nlisteners, sizeof(w->listeners[0]));
    w->probes = gw_calloc(cfg->nupstreams, sizeof(w->probes[0]));
    w->up_caps = gw_calloc(cfg->nupstreams, sizeof(w->up_caps[0]));
    if (w->listeners == NULL || w->probes == NULL || w->up_caps == NULL ||
        gw_clients_init(&w->clients, cfg->limits.connections + 1) != 0) {
        return GW_E_NOMEM;
    }
    w->nlisteners = cfg->nlisteners;
    for (i = 0; i < cfg->nlisteners; i++) {
        if (gw_worker_listen(w, i) != 0) {
            return GW_E_IO;
        }
    }
    for (i = 0; i < cfg->nupstreams; i++) {
        struct gw_probe *p = &w->probes[i];

        p->w = w;
        p->index = i;
        uv_timer_init(&w->loop, &p->timer);
        p->timer.data = p;
        if (cfg->upstreams[i].probe_interval_ms > 0) {
            uv_timer_start(&p->timer, gw_worker_on_probe_timer, 0,
                           cfg->upstreams[i].probe_interval_ms);
        }
    }
    uv_signal_init(&w->loop, &w->sig_int);
    uv_signal_init(&w->loop, &w->sig_term);
    uv_signal_init(&w->loop, &w->sig_hup);
    w->sig_int.data = w;
    w->sig_term.data = w;
    w->sig_hup.data = w;
    uv_signal_start(&w->sig_int, gw_worker_on_signal, SIGINT);
    uv_signal_start(&w->sig_term, gw_worker_on_signal, SIGTERM);
    uv_signal_start(&w->sig_hup, gw_worker_on_signal, SIGHUP);
    return 0;
}

static void
gw_worker_on_connection(uv_stream_t *server, int status)
{
    struct gw_listener *l = server->data;

    if (status != 0) {
        gw_log(GW_LOG_WARN, NULL, "event=accept_error error=\"%s\"",
               uv_strerror(status));
        return;
    }
    if (l->w->stopping) {
        return;
    }
    gw_session_accept(l->w, l->index, server);
}

void
gw_worker_session_added(struct gw_worker *w, struct gw_session *s)
{
    s->prev = NULL;
    s->next = w->sessions;
    if (w->sessions != NULL) {
        w->sessions->prev = s;
    }
    w->sessions = s;
    w->nsessions++;
}

void
gw_worker_session_removed(struct gw_worker *w, struct gw_session *s)
{
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        w->sessions = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    w->nsessions--;
}

/* --- capability probe --- */

static void
gw_worker_on_probe_timer(uv_timer_t *t)
{
    struct gw_probe *p = t->data;
    struct gw_worker *w = p->w;
    char sid[24];

    if (p->up != NULL || w->stopping) {
        return; /* the previous probe is still running */
    }
    snprintf(sid, sizeof(sid), "%u-probe%zu", w->id, p->index);
    p->up = gw_up_new(&w->loop, w->cfg, &w->cfg->upstreams[p->index],
                      &gw_probe_ops, p, sid);
}

static void
gw_probe_ready(struct gw_upstream *u, void *owner)
{
    struct gw_probe *p = owner;
    const struct gw_caps *c = gw_up_caps(u);

    p->w->up_caps[p->index] = *c;
    gw_log(GW_LOG_INFO, NULL,
           "event=upstream_probe upstream=%s addr=%s pipelining=%s size=%llu "
           "8bitmime=%s chunking=%s starttls=%s",
           p->w->cfg->upstreams[p->index].name, gw_up_addr(u),
           gw_caps_has(c, GW_CAP_PIPELINING) ? "yes" : "no",
           (unsigned long long)c->size_max,
           gw_caps_has(c, GW_CAP_8BITMIME) ? "yes" : "no",
           gw_caps_has(c, GW_CAP_CHUNKING) ? "yes" : "no",
           gw_caps_has(c, GW_CAP_STARTTLS) ? "yes" : "no");
    p->up = NULL;
    gw_up_close(u, true);
}

static void
gw_probe_reply(struct gw_upstream *u, void *owner, enum gw_verb verb,
               bool eom, const struct gw_reply *r)
{
    (void)u;
    (void)owner;
    (void)verb;
    (void)eom;
    (void)r; /* the probe sends no relayed command */
}

static void
gw_probe_fail(struct gw_upstream *u, void *owner, enum gw_up_fail why,
              const char *detail)
{
    struct gw_probe *p = owner;

    (void)u;
    (void)why;
    gw_log(GW_LOG_WARN, NULL, "event=upstream_probe_failed upstream=%s "
           "detail=\"%s\"", p->w->cfg->upstreams[p->index].name, detail);
    p->up = NULL;
}

static void
gw_probe_drain(struct gw_upstream *u, void *owner)
{
    (void)u;
    (void)owner;
}

/* --- signals and stop --- */

static void
gw_worker_on_signal(uv_signal_t *h, int signum)
{
    struct gw_worker *w = h->data;

    if (signum == SIGHUP) {
        /* Reload lands with the operations work (issue 7); until then a
         * HUP must not kill the process. */
        gw_log(GW_LOG_WARN, NULL,
               "event=sighup action=ignored reason=\"reload not supported "
               "yet\"");
        return;
    }
    gw_log(GW_LOG_INFO, NULL, "event=stop signal=%d sessions=%zu", signum,
           w->nsessions);
    gw_worker_stop(w);
}

void
gw_worker_stop(struct gw_worker *w)
{
    struct gw_session *s;
    struct gw_session *next;
    size_t i;

    if (w->stopping) {
        return;
    }
    w->stopping = true;
    for (i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i].open) {
            uv_close((uv_handle_t *)&w->listeners[i].tcp, NULL);
            w->listeners[i].open = false;
        }
    }
    for (i = 0; i < w->cfg->nupstreams; i++) {
        uv_timer_stop(&w->probes[i].timer);
        if (w->probes[i].up != NULL) {
            gw_up_close(w->probes[i].up, false);
            w->probes[i].up = NULL;
        }
    }
    for (s = w->sessions; s != NULL; s = next) {
        next = s->next;
        gw_session_abort(s, "shutdown");
    }
    uv_signal_stop(&w->sig_int);
    uv_signal_stop(&w->sig_term);
    uv_signal_stop(&w->sig_hup);
}

static void
gw_worker_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

int
gw_worker_run(struct gw_worker *w)
{
    int rc;

    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* Sessions close through their callbacks; then the rest (timers,
     * signals) closes here so the loop can be closed cleanly. */
    uv_walk(&w->loop, gw_worker_close_walk, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&w->loop);
    gw_clients_free(&w->clients);
    gw_free(w->listeners);
    gw_free(w->probes);
    gw_free(w->up_caps);
    gw_config_unref(w->cfg);
    return rc == 0 ? 0 : GW_E_IO;
}
