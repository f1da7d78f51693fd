/*
 * Counters and histograms. Each worker process increments its own block
 * (one writer, no locks); the process that serves /metrics sums the blocks
 * of all workers and renders them in the Prometheus text format. The
 * counters are incremented where the log summary lines are written, so the
 * two never disagree.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define GW_METRICS(X)                                                          \
    X(connections_total, "connections accepted")                             \
    X(connections_refused_total, "connections refused by a limit")           \
    X(transactions_accepted_total, "transactions the upstream accepted")     \
    X(transactions_rejected_total, "transactions refused (5xx)")             \
    X(transactions_tempfail_total, "transactions deferred (4xx)")            \
    X(transactions_aborted_total, "transactions abandoned by the client")    \
    X(replies_2xx_total, "replies sent to clients, 2xx")                     \
    X(replies_3xx_total, "replies sent to clients, 3xx")                     \
    X(replies_4xx_total, "replies sent to clients, 4xx")                     \
    X(replies_5xx_total, "replies sent to clients, 5xx")                     \
    X(upstream_replies_2xx_total, "replies from the upstream, 2xx")          \
    X(upstream_replies_3xx_total, "replies from the upstream, 3xx")          \
    X(upstream_replies_4xx_total, "replies from the upstream, 4xx")          \
    X(upstream_replies_5xx_total, "replies from the upstream, 5xx")          \
    X(client_bytes_in_total, "bytes read from clients")                      \
    X(client_bytes_out_total, "bytes written to clients")                    \
    X(upstream_sessions_total, "upstream sessions opened")                   \
    X(upstream_connect_failures_total, "upstream addresses that failed")     \
    X(upstream_protocol_errors_total, "upstream protocol faults")            \
    X(bridge_bdat_to_data_total, "BDAT transactions bridged to DATA")        \
    X(bridge_bdat_rechunked_total, "BDAT transactions re-chunked")           \
    X(bridge_serial_total, "transactions to a non-pipelining upstream")      \
    X(bridge_enhanced_codes_total, "enhanced codes synthesised")             \
    X(bridge_8bit_downgrade_total, "8-bit bodies to a 7-bit upstream")       \
    X(smuggling_normalized_total, "messages with bare CR/LF normalised")    \
    X(auth_success_total, "client AUTH exchanges that succeeded")            \
    X(auth_failures_total, "client AUTH exchanges with wrong credentials")

/* Counters with labels: id, family (after postern_), labels. The members
 * of a family are adjacent; GW_METRIC_FAMILIES gives each family's help. */
#define GW_LABELED_METRICS(Y)                                                  \
    Y(tls_ok_client_12, "tls_handshakes_total",                                \
      "leg=\"client\",version=\"TLSv1.2\"")                                    \
    Y(tls_ok_client_13, "tls_handshakes_total",                                \
      "leg=\"client\",version=\"TLSv1.3\"")                                    \
    Y(tls_ok_upstream_12, "tls_handshakes_total",                              \
      "leg=\"upstream\",version=\"TLSv1.2\"")                                  \
    Y(tls_ok_upstream_13, "tls_handshakes_total",                              \
      "leg=\"upstream\",version=\"TLSv1.3\"")                                  \
    Y(tls_fail_client_handshake, "tls_failures_total",                         \
      "leg=\"client\",reason=\"handshake\"")                                   \
    Y(tls_fail_client_timeout, "tls_failures_total",                           \
      "leg=\"client\",reason=\"timeout\"")                                     \
    Y(tls_fail_client_closed, "tls_failures_total",                            \
      "leg=\"client\",reason=\"closed\"")                                      \
    Y(tls_fail_upstream_handshake, "tls_failures_total",                       \
      "leg=\"upstream\",reason=\"handshake\"")                                 \
    Y(tls_fail_upstream_verify, "tls_failures_total",                          \
      "leg=\"upstream\",reason=\"verify\"")                                    \
    Y(tls_fail_upstream_not_offered, "tls_failures_total",                     \
      "leg=\"upstream\",reason=\"not_offered\"")                               \
    Y(tls_fail_upstream_refused, "tls_failures_total",                         \
      "leg=\"upstream\",reason=\"refused\"")

#define GW_METRIC_FAMILIES(Z)                                                  \
    Z("tls_handshakes_total", "TLS handshakes completed, by leg and version")  \
    Z("tls_failures_total", "TLS handshakes that failed, and upstreams "       \
                            "refused for lacking TLS, by leg and reason")

#define GW_METRIC_ENUM(name, help) GW_M_##name,
#define GW_LABELED_ENUM(id, family, labels) GW_M_##id,
enum gw_metric {
    GW_METRICS(GW_METRIC_ENUM) GW_LABELED_METRICS(GW_LABELED_ENUM) GW_M_COUNT
};
#undef GW_METRIC_ENUM
#undef GW_LABELED_ENUM
#define GW_M_PLAIN_COUNT GW_M_tls_ok_client_12

/* Upstream connect latency buckets, in milliseconds (upper bounds). */
#define GW_LATENCY_BUCKETS 9
extern const uint64_t gw_latency_bounds_ms[GW_LATENCY_BUCKETS];

struct gw_counters {
    uint64_t c[GW_M_COUNT];
    uint64_t sessions;      /* gauge: sessions open now */
    uint64_t latency_bucket[GW_LATENCY_BUCKETS + 1]; /* last: +Inf */
    uint64_t latency_sum_ms;
    uint64_t latency_count;
};

/* Counters of one policy rule, shared by every worker (gw_shm), updated
 * with atomic adds. name "" is a free slot; it is written last. */
#define GW_RULE_NAME_MAX 132 /* policy names are at most 128 bytes */
#define GW_RULE_VERDICTS 6 /* enum pol_verdict_action */
struct gw_rule_counters {
    char name[GW_RULE_NAME_MAX];
    uint32_t stage;              /* enum pol_stage */
    uint64_t matches;            /* times every condition held */
    uint64_t verdicts[GW_RULE_VERDICTS]; /* evaluations it decided */
};

/* The counters of this process (set by the worker at start). */
extern struct gw_counters *gw_metrics_self;

static inline void
gw_metric_inc(enum gw_metric m)
{
    if (gw_metrics_self != NULL) {
        gw_metrics_self->c[m]++;
    }
}

static inline void
gw_metric_add(enum gw_metric m, uint64_t n)
{
    if (gw_metrics_self != NULL) {
        gw_metrics_self->c[m] += n;
    }
}

/* Counts a reply code into the 2xx..5xx family starting at `first`. */
void gw_metric_reply(enum gw_metric first, int code);
void gw_metric_latency(uint64_t ms);

/* Adds `b` into `sum`. */
void gw_counters_add(struct gw_counters *sum, const struct gw_counters *b);

/* Renders `sum` (and the worker count) as Prometheus text into dst;
 * returns the length, 0 if it does not fit. */
size_t gw_metrics_render(const struct gw_counters *sum, size_t workers,
                         char *dst, size_t cap);

/* Renders the policy rules' counters (n slots, free ones skipped):
 * postern_policy_rule_matches_total{stage,rule} and
 * postern_policy_decisions_total{stage,rule,verdict}. Stops before the
 * first series that does not fit; returns the length written. */
size_t gw_metrics_render_rules(const struct gw_rule_counters *rules, size_t n,
                               char *dst, size_t cap);
/* Room that always holds gw_metrics_render_rules's output. */
size_t gw_metrics_rules_bound(const struct gw_rule_counters *rules, size_t n);

#endif
