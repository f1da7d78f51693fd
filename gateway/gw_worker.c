#include "gateway/gw_worker.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_policy_store.h"
#include "gateway/gw_error.h"
#include "gateway/gw_http.h"
#include "gateway/gw_log.h"
#include "gateway/gw_session.h"
#include "gateway/gw_str.h"
#include "gateway/gw_upstream.h"
#include "policy/policy.h"

/* listen(2) backlog; the kernel caps it at net.core.somaxconn. */
#define GW_LISTEN_BACKLOG 1024

static void gw_worker_on_connection(uv_stream_t *server, int status);
static void gw_worker_on_signal(uv_signal_t *h, int signum);
static void gw_worker_on_grace(uv_timer_t *t);
static int gw_worker_apply(struct gw_worker *w, struct gw_config *cfg);
static void gw_listener_closed(uv_handle_t *h);
static void gw_probe_start(struct gw_worker *w, size_t index);
static void gw_probe_stop(struct gw_probe *p);
static void gw_worker_on_probe_timer(uv_timer_t *t);
static void gw_probe_closed(uv_handle_t *h);
static void gw_probe_ready(struct gw_upstream *u, void *owner);
static void gw_probe_reply(struct gw_upstream *u, void *owner,
                           enum gw_verb verb, bool eom,
                           const struct gw_reply *r);
static void gw_probe_fail(struct gw_upstream *u, void *owner,
                          enum gw_up_fail why, const char *detail);
static void gw_probe_drain(struct gw_upstream *u, void *owner);
static void gw_worker_close_walk(uv_handle_t *h, void *arg);
static void gw_pool_ready(struct gw_upstream *u, void *owner);
static void gw_pool_reply(struct gw_upstream *u, void *owner,
                          enum gw_verb verb, bool eom,
                          const struct gw_reply *r);
static void gw_pool_fail(struct gw_upstream *u, void *owner,
                         enum gw_up_fail why, const char *detail);
static void gw_pool_drain(struct gw_upstream *u, void *owner);
static void gw_pool_flush(struct gw_worker *w);

static const struct gw_up_ops gw_pool_ops = {
    .on_ready = gw_pool_ready,
    .on_reply = gw_pool_reply,
    .on_fail = gw_pool_fail,
    .on_drain = gw_pool_drain,
};

static const struct gw_up_ops gw_probe_ops = {
    .on_ready = gw_probe_ready,
    .on_reply = gw_probe_reply,
    .on_fail = gw_probe_fail,
    .on_drain = gw_probe_drain,
};

/* --- listeners --- */

/*
 * Binds one listener with SO_REUSEPORT, so each worker has its own accept
 * queue on the same address (libuv 1.44 has no flag for it: the socket is
 * made first, the option set, then bound).
 */
static struct gw_listener *
gw_listener_open(struct gw_worker *w, const struct gw_config *cfg, size_t i)
{
    const struct gw_listener_cfg *lc = &cfg->listeners[i];
    struct gw_listener *l;
    uv_os_fd_t fd;
    int one = 1;
    int rc;

    l = gw_calloc(1, sizeof(*l));
    if (l == NULL) {
        return NULL;
    }
    l->w = w;
    l->index = i;
    gw_strlcpy(l->addr, lc->addr.text, sizeof(l->addr));
    rc = uv_tcp_init_ex(&w->loop, &l->tcp, lc->addr.ss.ss_family);
    if (rc != 0) {
        gw_free(l);
        gw_log(GW_LOG_ERROR, NULL, "event=listen_failed listener=%s "
               "address=%s error=\"%s\"", lc->name, lc->addr.text,
               uv_strerror(rc));
        return NULL;
    }
    l->tcp.data = l;
    rc = uv_fileno((uv_handle_t *)&l->tcp, &fd);
    if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
                              sizeof(one)) != 0) {
        rc = uv_translate_sys_error(errno);
    }
    if (rc == 0) {
        rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&lc->addr.ss, 0);
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&l->tcp, GW_LISTEN_BACKLOG,
                       gw_worker_on_connection);
    }
    if (rc != 0) {
        gw_log(GW_LOG_ERROR, NULL,
               "event=listen_failed listener=%s address=%s error=\"%s\"",
               lc->name, lc->addr.text, uv_strerror(rc));
        uv_close((uv_handle_t *)&l->tcp, gw_listener_closed);
        return NULL;
    }
    gw_log(GW_LOG_INFO, NULL, "event=listening listener=%s address=%s",
           lc->name, lc->addr.text);
    return l;
}

static void
gw_listener_closed(uv_handle_t *h)
{
    gw_free(h->data);
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

/*
 * Makes the listeners match cfg: an address already bound is kept (so a
 * reload never drops connections waiting in its queue), new ones are
 * bound, removed ones closed. Returns 0 or GW_E_IO when a new address
 * could not be bound (the others stay as they were).
 */
static int
gw_worker_listen(struct gw_worker *w, struct gw_config *cfg)
{
    struct gw_listener *keep = NULL;
    struct gw_listener *l;
    struct gw_listener *next;
    struct gw_listener **pp;
    size_t i;
    int rc = 0;

    for (i = 0; i < cfg->nlisteners; i++) {
        for (pp = &w->listeners; *pp != NULL; pp = &(*pp)->next) {
            if (strcmp((*pp)->addr, cfg->listeners[i].addr.text) == 0) {
                break;
            }
        }
        if (*pp != NULL) {
            l = *pp;
            *pp = l->next; /* move it to the kept list */
        } else {
            l = gw_listener_open(w, cfg, i);
            if (l == NULL) {
                rc = GW_E_IO;
                continue;
            }
        }
        l->index = i;
        l->next = keep;
        keep = l;
    }
    for (l = w->listeners; l != NULL; l = next) {
        next = l->next;
        gw_log(GW_LOG_INFO, NULL, "event=listener_closed address=%s", l->addr);
        uv_close((uv_handle_t *)&l->tcp, gw_listener_closed);
    }
    w->listeners = keep;
    return rc;
}

static void
gw_worker_close_listeners(struct gw_worker *w)
{
    struct gw_listener *l;
    struct gw_listener *next;

    for (l = w->listeners; l != NULL; l = next) {
        next = l->next;
        uv_close((uv_handle_t *)&l->tcp, gw_listener_closed);
    }
    w->listeners = NULL;
}

/* --- start, config generations --- */

int
gw_worker_start(struct gw_worker *w, unsigned id,
                const struct gw_config_source *src, struct gw_config *cfg,
                struct gw_shm *shm)
{
    if (uv_loop_init(&w->loop) != 0) {
        return GW_E_IO;
    }
    w->id = id;
    w->src = src;
    w->shm = shm;
    /* buffers keep the size they were made with; a reload that changes
     * limits.buffer_size simply bypasses the pool */
    gw_bufpool_init(&w->pool, cfg->limits.buffer_size, GW_BUFPOOL_MAX);
    w->loop.data = &w->pool;
    shm->w[id].pid = getpid();
    gw_metrics_self = &shm->w[id].counters;
    gw_clients_attach(&w->clients, gw_shm_slots(shm, id), shm->table_cap);
    uv_timer_init(&w->loop, &w->grace_timer);
    w->grace_timer.data = w;
    uv_signal_init(&w->loop, &w->sig_int);
    uv_signal_init(&w->loop, &w->sig_term);
    uv_signal_init(&w->loop, &w->sig_hup);
    uv_signal_init(&w->loop, &w->sig_quit);
    w->sig_int.data = w;
    w->sig_term.data = w;
    w->sig_hup.data = w;
    w->sig_quit.data = w;
    uv_signal_start(&w->sig_int, gw_worker_on_signal, SIGINT);
    uv_signal_start(&w->sig_term, gw_worker_on_signal, SIGTERM);
    uv_signal_start(&w->sig_hup, gw_worker_on_signal, SIGHUP);
    uv_signal_start(&w->sig_quit, gw_worker_on_signal, SIGQUIT);
    gw_config_ref(cfg);
    return gw_worker_apply(w, cfg);
}

/* Finds (or makes) each rule's metrics slot once per config, so that
 * counting a hit is an array index and an atomic add. */
static void
gw_worker_rule_slots(struct gw_worker *w, struct gw_config *cfg)
{
    size_t n;
    size_t i;
    bool full = false;

    if (cfg->policy == NULL || cfg->policy_rule_slots != NULL) {
        return;
    }
    n = pol_ruleset_nrules(cfg->policy);
    cfg->policy_rule_slots = gw_calloc(n > 0 ? n : 1, sizeof(uint16_t));
    if (cfg->policy_rule_slots == NULL) {
        return; /* rules are not counted; nothing else changes */
    }
    for (i = 0; i < n; i++) {
        enum pol_stage stage = POL_STAGE_CONNECT;
        const char *name = pol_ruleset_rule(cfg->policy, i, &stage);

        cfg->policy_rule_slots[i] =
            gw_shm_rule_slot(w->shm, (unsigned)stage, name);
        full = full || cfg->policy_rule_slots[i] == GW_SHM_NO_RULE;
    }
    if (full && w->id == 0) {
        gw_log(GW_LOG_WARN, NULL, "event=config_warning warning=\"more "
               "than %d rule names since start: the rest are not counted "
               "in metrics\"", GW_SHM_MAX_RULES);
    }
}

/*
 * Makes cfg the current generation: listeners, probes, the capability
 * records (kept by upstream name across a reload), the metrics endpoint,
 * the log level. Takes over the caller's reference to cfg.
 */
static int
gw_worker_apply(struct gw_worker *w, struct gw_config *cfg)
{
    struct gw_probe *p;
    struct gw_probe *next;
    size_t i;
    int rc;

    rc = gw_worker_listen(w, cfg);
    for (p = w->probes; p != NULL; p = next) {
        next = p->next;
        gw_probe_stop(p);
    }
    w->probes = NULL;
    gw_config_unref(w->cfg);
    w->cfg = cfg;
    gw_log_set_level(cfg->log_level);
    gw_log_set_format(cfg->log_format, cfg->log_sink);
    if (w->counters == NULL && cfg->policy != NULL &&
        pol_ruleset_uses_counters(cfg->policy)) {
        w->counters = gw_policy_store_new(w->shm);
    }
    gw_worker_rule_slots(w, cfg);
    if (w->id == 0 &&
        gw_config_policy_capacity(cfg) != w->shm->policy_capacity) {
        gw_log(GW_LOG_WARN, NULL, "event=config_warning warning=\"policy."
               "counters.capacity changes at the next start, not at a "
               "reload\"");
    }
    for (i = 0; i < cfg->nupstreams; i++) {
        gw_probe_start(w, i);
    }
    if (w->id == 0) {
        gw_http_metrics_apply(w, cfg);
    }
    return rc;
}

void
gw_log_config_warnings(const struct gw_config_errors *errs)
{
    char esc[sizeof(errs->warning[0]) * 2];
    size_t i;

    for (i = 0; i < errs->nwarnings; i++) {
        gw_str_escape(esc, sizeof(esc), (const uint8_t *)errs->warning[i],
                      strlen(errs->warning[i]));
        gw_log(GW_LOG_WARN, NULL, "event=config_warning warning=\"%s\"", esc);
    }
}

struct gw_config *
gw_reload_config(const struct gw_config_source *src)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    size_t i;

    memset(&errs, 0, sizeof(errs));
    cfg = gw_config_from(src, &errs);
    if (cfg == NULL) {
        for (i = 0; i < errs.count; i++) {
            gw_log(GW_LOG_ERROR, NULL, "event=reload_failed error=\"%s\"",
                   errs.msg[i]);
        }
        gw_log(GW_LOG_ERROR, NULL, "event=reload_failed action=kept_old "
               "errors=%zu", errs.count);
        return NULL;
    }
    gw_log_config_warnings(&errs);
    return cfg;
}

void
gw_worker_reload(struct gw_worker *w)
{
    struct gw_config *cfg = gw_reload_config(w->src);

    if (cfg == NULL) {
        return;
    }
    if (gw_worker_apply(w, cfg) != 0) {
        gw_log(GW_LOG_WARN, NULL, "event=reload partial=listeners");
        return;
    }
    gw_pool_flush(w); /* pooled sessions belong to the old generation */
    gw_log(GW_LOG_INFO, NULL, "event=reload result=ok sessions_on_old=%zu",
           w->nsessions);
}

/* --- sessions --- */

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
    w->shm->w[w->id].counters.sessions = w->nsessions;
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
    w->shm->w[w->id].counters.sessions = w->nsessions;
    if (w->stopping && w->nsessions == 0) {
        /* the last session of a graceful stop: let the loop end */
        uv_timer_stop(&w->grace_timer);
        uv_signal_stop(&w->sig_int);
        uv_signal_stop(&w->sig_term);
        uv_signal_stop(&w->sig_quit);
    }
}

/* --- the pool of idle upstream sessions --- */

void
gw_worker_pool_put(struct gw_worker *w, struct gw_upstream *u)
{
    size_t kept = 0;
    size_t i;

    for (i = 0; i < w->nuppool; i++) {
        kept += gw_up_serves(w->uppool[i], w->cfg, gw_up_block(u)) ? 1 : 0;
    }
    if (w->stopping || w->nuppool >= GW_UPPOOL_MAX || !gw_up_is_idle(u) ||
        !gw_up_serves(u, w->cfg, gw_up_block(u)) ||
        kept >= gw_up_block(u)->keep_idle) {
        gw_up_close(u, true);
        return;
    }
    gw_up_set_owner(u, &gw_pool_ops, w, "pool");
    w->uppool[w->nuppool++] = u;
}

struct gw_upstream *
gw_worker_pool_take(struct gw_worker *w, const struct gw_config *cfg,
                    const struct gw_upstream_cfg *ucfg)
{
    struct gw_upstream *u;
    size_t i;

    for (i = w->nuppool; i > 0; i--) {
        u = w->uppool[i - 1];
        if (gw_up_serves(u, cfg, ucfg) && gw_up_is_idle(u)) {
            w->uppool[i - 1] = w->uppool[--w->nuppool];
            return u;
        }
    }
    return NULL;
}

static void
gw_pool_remove(struct gw_worker *w, struct gw_upstream *u)
{
    size_t i;

    for (i = 0; i < w->nuppool; i++) {
        if (w->uppool[i] == u) {
            w->uppool[i] = w->uppool[--w->nuppool];
            return;
        }
    }
}

static void
gw_pool_flush(struct gw_worker *w)
{
    while (w->nuppool > 0) {
        gw_up_close(w->uppool[--w->nuppool], true);
    }
}

static void
gw_pool_ready(struct gw_upstream *u, void *owner)
{
    (void)u;
    (void)owner; /* pooled sessions are ready already */
}

static void
gw_pool_reply(struct gw_upstream *u, void *owner, enum gw_verb verb,
              bool eom, const struct gw_reply *r)
{
    (void)u;
    (void)owner;
    (void)verb;
    (void)eom;
    (void)r; /* nothing is sent while pooled */
}

static void
gw_pool_fail(struct gw_upstream *u, void *owner, enum gw_up_fail why,
             const char *detail)
{
    (void)why;
    (void)detail; /* closed by the upstream or idle: it leaves the pool */
    gw_pool_remove(owner, u);
}

static void
gw_pool_drain(struct gw_upstream *u, void *owner)
{
    (void)u;
    (void)owner;
}

/* --- capability probes --- */

static void
gw_probe_start(struct gw_worker *w, size_t index)
{
    struct gw_probe *p = gw_calloc(1, sizeof(*p));
    uint64_t every = w->cfg->upstreams[index].probe_interval_ms;

    if (p == NULL) {
        return; /* no probe: the first real session learns the list */
    }
    p->w = w;
    p->index = index;
    uv_timer_init(&w->loop, &p->timer);
    p->timer.data = p;
    p->next = w->probes;
    w->probes = p;
    if (every > 0) {
        /* spread the workers' probes a little */
        uv_timer_start(&p->timer, gw_worker_on_probe_timer, w->id * 50,
                       every);
    }
}

static void
gw_probe_stop(struct gw_probe *p)
{
    if (p->up != NULL) {
        gw_up_close(p->up, false);
        p->up = NULL;
    }
    uv_close((uv_handle_t *)&p->timer, gw_probe_closed);
}

static void
gw_probe_closed(uv_handle_t *h)
{
    gw_free(h->data);
}

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

    gw_shm_caps_set(p->w->shm, p->w->cfg->upstreams[p->index].name, c);
    gw_log(p->w->id == 0 ? GW_LOG_INFO : GW_LOG_DEBUG, NULL,
           "event=upstream_probe upstream=%s addr=%s pipelining=%s "
           "size=%llu 8bitmime=%s chunking=%s starttls=%s",
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

    switch (signum) {
    case SIGHUP:
        gw_worker_reload(w);
        return;
    case SIGTERM:
    case SIGINT:
        /* a second TERM (or Ctrl-C) means hurry */
        gw_worker_stop(w, w->stopping);
        return;
    default:
        gw_worker_stop(w, true);
        return;
    }
}

static void
gw_worker_on_grace(uv_timer_t *t)
{
    struct gw_worker *w = t->data;

    gw_log(GW_LOG_WARN, NULL, "event=stop grace=expired sessions=%zu",
           w->nsessions);
    gw_worker_stop(w, true);
}

void
gw_worker_stop(struct gw_worker *w, bool fast)
{
    struct gw_session *s;
    struct gw_session *next;
    struct gw_probe *p;
    struct gw_probe *pnext;

    if (!w->stopping) {
        w->stopping = true;
        gw_log(GW_LOG_INFO, NULL, "event=stop mode=%s sessions=%zu",
               fast ? "fast" : "graceful", w->nsessions);
        gw_worker_close_listeners(w);
        for (p = w->probes; p != NULL; p = pnext) {
            pnext = p->next;
            gw_probe_stop(p);
        }
        w->probes = NULL;
        gw_http_close(w);
        gw_pool_flush(w);
        uv_signal_stop(&w->sig_hup);
        if (!fast && w->cfg->process.shutdown_grace_ms > 0) {
            uv_timer_start(&w->grace_timer, gw_worker_on_grace,
                           w->cfg->process.shutdown_grace_ms, 0);
            uv_unref((uv_handle_t *)&w->grace_timer);
        }
    } else if (fast) {
        gw_log(GW_LOG_INFO, NULL, "event=stop mode=fast sessions=%zu",
               w->nsessions);
    }
    for (s = w->sessions; s != NULL; s = next) {
        next = s->next;
        if (fast) {
            gw_session_abort(s, "shutdown");
        } else {
            gw_session_shutdown(s);
        }
    }
    if (w->nsessions == 0 || fast) {
        uv_timer_stop(&w->grace_timer);
        uv_signal_stop(&w->sig_int);
        uv_signal_stop(&w->sig_term);
        uv_signal_stop(&w->sig_quit);
    }
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
    /* Sessions close through their callbacks; the rest (timers, signals)
     * closes here so the loop can be closed cleanly. */
    uv_walk(&w->loop, gw_worker_close_walk, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&w->loop);
    gw_bufpool_drain(&w->pool);
    pol_counters_free(w->counters);
    w->counters = NULL;
    gw_free(w->authfail);
    w->authfail = NULL;
    gw_config_unref(w->cfg);
    w->cfg = NULL;
    w->shm->w[w->id].counters.sessions = 0;
    return rc == 0 ? 0 : GW_E_IO;
}
