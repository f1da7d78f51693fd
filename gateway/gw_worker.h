/*
 * A worker: one libuv loop, its listeners (SO_REUSEPORT, so every worker
 * accepts on its own queue), its sessions, the capability probes, the
 * metrics endpoint (worker 0 only), and its signals:
 *
 *   HUP    reload: read the config again, validate it fully, and on success
 *          let new sessions use it while live ones finish on the old one;
 *          on failure nothing changes and the errors are logged.
 *   TERM   graceful stop: stop accepting, idle sessions get 421 4.3.2,
 *          transactions in flight finish (up to process.shutdown_grace).
 *   QUIT   fast stop (also a second TERM, and INT).
 *
 * It owns the current config generation; each session holds its own
 * reference to the generation it started with.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gateway/gw_buf.h"
#include "gateway/gw_caps.h"
#include "gateway/gw_clients.h"
#include "gateway/gw_config.h"
#include "gateway/gw_shm.h"
#include "policy/policy.h"

struct gw_session;
struct gw_worker;
struct gw_upstream;
struct gw_http;
struct pol_counters;
struct pol_trace_event;
struct gw_authfail;

#define GW_UPPOOL_MAX GW_MAX_KEEP_IDLE

struct gw_listener {
    uv_tcp_t tcp;
    struct gw_worker *w;
    size_t index;        /* into w->cfg->listeners */
    char addr[80];       /* what it is bound to */
    struct gw_listener *next;
};

/* The periodic capability probe of one upstream block. */
struct gw_probe {
    uv_timer_t timer;
    struct gw_worker *w;
    size_t index;            /* into w->cfg->upstreams */
    struct gw_upstream *up;  /* the probe session in progress, or NULL */
    struct gw_probe *next;
};

struct gw_worker {
    uv_loop_t loop;                  /* loop.data: &pool */
    struct gw_bufpool pool;          /* conn buffers of limits.buffer_size */
    unsigned id;                     /* 0..workers-1 */
    const struct gw_config_source *src;
    struct gw_config *cfg;           /* the current generation */
    struct gw_shm *shm;              /* shared with the other workers */
    struct gw_listener *listeners;
    struct gw_probe *probes;
    struct gw_clients clients;       /* this worker's table, in shm */
    struct gw_session *sessions;     /* intrusive list of live sessions */
    size_t nsessions;
    uint64_t next_session;
    struct gw_http *metrics;         /* worker 0 with metrics.listen */
    struct pol_counters *counters;   /* policy rate()/connections() store */
    struct gw_authfail *authfail;    /* recent AUTH failures by address
                                        (allocated at the first AUTH) */
    /* Idle upstream sessions kept for the next client (saves a connect,
     * a banner and an EHLO per message); they leave on their own when the
     * upstream closes them or timeouts.upstream_idle passes. */
    struct gw_upstream *uppool[GW_UPPOOL_MAX];
    size_t nuppool;
    /* postern --simulate: the client address sessions pretend to come
     * from, and a callback told of every policy decision. */
    struct sockaddr_storage sim_client;
    void (*policy_note)(void *arg, enum pol_stage stage,
                        const struct pol_verdict *v);
    /* --simulate: every rule the policy looked at (pol_trace_event) */
    void (*policy_trace)(void *arg, const struct pol_trace_event *ev);
    void *policy_note_arg;
    uv_timer_t grace_timer;
    uv_signal_t sig_int;
    uv_signal_t sig_term;
    uv_signal_t sig_hup;
    uv_signal_t sig_quit;
    bool stopping;                   /* graceful stop in progress */
};

/* Binds the listeners and starts probes and signals. Returns 0, or a
 * negative error after logging what failed (the worker must then exit). */
int gw_worker_start(struct gw_worker *w, unsigned id,
                    const struct gw_config_source *src,
                    struct gw_config *cfg, struct gw_shm *shm);

/* Runs the loop until stopped, closes every handle and returns 0 when the
 * loop closed cleanly. */
int gw_worker_run(struct gw_worker *w);

/* Re-reads the config (SIGHUP). */
void gw_worker_reload(struct gw_worker *w);

/* Loads src for a reload, in the master or a worker: errors are logged as
 * event=reload_failed and give NULL, warnings as event=config_warning. */
struct gw_config *gw_reload_config(const struct gw_config_source *src);

/* Logs each warning (an expired certificate) as event=config_warning. */
void gw_log_config_warnings(const struct gw_config_errors *errs);

/* Graceful (fast == false) or fast stop. */
void gw_worker_stop(struct gw_worker *w, bool fast);

/* The pool of idle upstream sessions: put gives one back (it is closed
 * politely when it does not fit), take finds one for (cfg, block), or
 * NULL. */
void gw_worker_pool_put(struct gw_worker *w, struct gw_upstream *u);
struct gw_upstream *gw_worker_pool_take(struct gw_worker *w,
                                        const struct gw_config *cfg,
                                        const struct gw_upstream_cfg *ucfg);

/* Called by sessions. */
void gw_worker_session_added(struct gw_worker *w, struct gw_session *s);
void gw_worker_session_removed(struct gw_worker *w, struct gw_session *s);

#endif
