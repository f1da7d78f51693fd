/*
 * A worker: one libuv loop, the listeners, the live sessions, the
 * capability probes, and the signal handlers. It owns the current config
 * generation; each session holds its own reference to the generation it
 * started with.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gateway/gw_caps.h"
#include "gateway/gw_clients.h"
#include "gateway/gw_config.h"

struct gw_session;
struct gw_worker;
struct gw_upstream;

struct gw_listener {
    uv_tcp_t tcp;
    struct gw_worker *w;
    size_t index; /* into cfg->listeners */
    bool open;
};

/* The periodic capability probe of one upstream block. */
struct gw_probe {
    uv_timer_t timer;
    struct gw_worker *w;
    size_t index; /* into cfg->upstreams */
    struct gw_upstream *up; /* the probe session in progress, or NULL */
};

struct gw_worker {
    uv_loop_t loop;
    unsigned id;
    struct gw_config *cfg;
    struct gw_listener *listeners;
    size_t nlisteners;
    struct gw_probe *probes;
    /* Last known EHLO capabilities per upstream block (from the probe or a
     * real session), so the offered list is right before any client. */
    struct gw_caps *up_caps;
    struct gw_clients clients;
    struct gw_session *sessions; /* intrusive list of live sessions */
    size_t nsessions;
    uint64_t next_session;
    uv_signal_t sig_int;
    uv_signal_t sig_term;
    uv_signal_t sig_hup;
    bool stopping;
};

/* Binds the listeners and starts the probes. Returns 0 or a negative
 * error after logging what failed. */
int gw_worker_start(struct gw_worker *w, struct gw_config *cfg);

/* Runs the loop until stopped; then closes every handle and returns 0 when
 * the loop closed cleanly. */
int gw_worker_run(struct gw_worker *w);

/* Stops accepting and ends every session (used by SIGINT/SIGTERM). */
void gw_worker_stop(struct gw_worker *w);

/* Called by sessions. */
void gw_worker_session_added(struct gw_worker *w, struct gw_session *s);
void gw_worker_session_removed(struct gw_worker *w, struct gw_session *s);

#endif
