#include "gateway/gw_metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gw_log.h"
#include "policy/policy.h"

struct gw_counters *gw_metrics_self;

const uint64_t gw_latency_bounds_ms[GW_LATENCY_BUCKETS] = {
    1, 5, 10, 25, 50, 100, 250, 1000, 5000};

#define GW_METRIC_NAME(name, help) #name,
static const char *const gw_metric_names[] = {GW_METRICS(GW_METRIC_NAME)};
#undef GW_METRIC_NAME
#define GW_METRIC_HELP(name, help) help,
static const char *const gw_metric_helps[] = {GW_METRICS(GW_METRIC_HELP)};
#undef GW_METRIC_HELP
#define GW_LABELED_FAMILY(id, family, labels) family,
static const char *const gw_labeled_families[] = {
    GW_LABELED_METRICS(GW_LABELED_FAMILY)};
#undef GW_LABELED_FAMILY
#define GW_LABELED_LABELS(id, family, labels) labels,
static const char *const gw_labeled_labels[] = {
    GW_LABELED_METRICS(GW_LABELED_LABELS)};
#undef GW_LABELED_LABELS

struct gw_metric_family {
    const char *name;
    const char *help;
};

#define GW_FAMILY(name, help) {name, help},
static const struct gw_metric_family gw_metric_families[] = {
    GW_METRIC_FAMILIES(GW_FAMILY)};
#undef GW_FAMILY

static const char *
gw_metric_family_help(const char *family)
{
    size_t i;

    for (i = 0; i < sizeof(gw_metric_families) / sizeof(gw_metric_families[0]);
         i++) {
        if (strcmp(gw_metric_families[i].name, family) == 0) {
            return gw_metric_families[i].help;
        }
    }
    return family;
}

void
gw_metric_reply(enum gw_metric first, int code)
{
    int cls = code / 100;

    if (cls >= 2 && cls <= 5) {
        gw_metric_inc((enum gw_metric)(first + (cls - 2)));
    }
}

void
gw_metric_latency(uint64_t ms)
{
    size_t i;

    if (gw_metrics_self == NULL) {
        return;
    }
    for (i = 0; i < GW_LATENCY_BUCKETS && ms > gw_latency_bounds_ms[i]; i++) {
    }
    gw_metrics_self->latency_bucket[i]++;
    gw_metrics_self->latency_sum_ms += ms;
    gw_metrics_self->latency_count++;
}

void
gw_counters_add(struct gw_counters *sum, const struct gw_counters *b)
{
    size_t i;

    for (i = 0; i < GW_M_COUNT; i++) {
        sum->c[i] += b->c[i];
    }
    sum->sessions += b->sessions;
    for (i = 0; i <= GW_LATENCY_BUCKETS; i++) {
        sum->latency_bucket[i] += b->latency_bucket[i];
    }
    sum->latency_sum_ms += b->latency_sum_ms;
    sum->latency_count += b->latency_count;
}

/* Appends to dst at *o; false once it no longer fits. */
static bool gw_metrics_put(char *dst, size_t cap, size_t *o, const char *fmt,
                           ...) GW_PRINTF(4, 5);

static bool
gw_metrics_put(char *dst, size_t cap, size_t *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*o >= cap) {
        return false;
    }
    va_start(ap, fmt);
    n = vsnprintf(dst + *o, cap - *o, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *o) {
        *o = cap;
        return false;
    }
    *o += (size_t)n;
    return true;
}

size_t
gw_metrics_render(const struct gw_counters *sum, size_t workers, char *dst,
                  size_t cap)
{
    size_t o = 0;
    size_t i;
    uint64_t cum = 0;

    for (i = 0; i < GW_M_PLAIN_COUNT; i++) {
        gw_metrics_put(dst, cap, &o,
                       "# HELP postern_%s %s\n# TYPE postern_%s counter\n"
                       "postern_%s %llu\n",
                       gw_metric_names[i], gw_metric_helps[i],
                       gw_metric_names[i], gw_metric_names[i],
                       (unsigned long long)sum->c[i]);
    }
    for (i = GW_M_PLAIN_COUNT; i < GW_M_COUNT; i++) {
        const char *family = gw_labeled_families[i - GW_M_PLAIN_COUNT];

        if (i == GW_M_PLAIN_COUNT ||
            strcmp(family, gw_labeled_families[i - GW_M_PLAIN_COUNT - 1]) !=
                0) {
            gw_metrics_put(dst, cap, &o,
                           "# HELP postern_%s %s\n# TYPE postern_%s counter\n",
                           family, gw_metric_family_help(family), family);
        }
        gw_metrics_put(dst, cap, &o, "postern_%s{%s} %llu\n", family,
                       gw_labeled_labels[i - GW_M_PLAIN_COUNT],
                       (unsigned long long)sum->c[i]);
    }
    gw_metrics_put(dst, cap, &o,
                   "# HELP postern_sessions sessions open now\n"
                   "# TYPE postern_sessions gauge\npostern_sessions %llu\n"
                   "# HELP postern_workers worker processes\n"
                   "# TYPE postern_workers gauge\npostern_workers %zu\n",
                   (unsigned long long)sum->sessions, workers);
    gw_metrics_put(dst, cap, &o,
                   "# HELP postern_upstream_connect_seconds time to a usable "
                   "upstream session\n"
                   "# TYPE postern_upstream_connect_seconds histogram\n");
    for (i = 0; i <= GW_LATENCY_BUCKETS; i++) {
        cum += sum->latency_bucket[i];
        if (i < GW_LATENCY_BUCKETS) {
            gw_metrics_put(dst, cap, &o,
                           "postern_upstream_connect_seconds_bucket"
                           "{le=\"%.3f\"} %llu\n",
                           (double)gw_latency_bounds_ms[i] / 1000.0,
                           (unsigned long long)cum);
        } else {
            gw_metrics_put(dst, cap, &o,
                           "postern_upstream_connect_seconds_bucket"
                           "{le=\"+Inf\"} %llu\n",
                           (unsigned long long)cum);
        }
    }
    gw_metrics_put(dst, cap, &o,
                   "postern_upstream_connect_seconds_sum %.3f\n"
                   "postern_upstream_connect_seconds_count %llu\n",
                   (double)sum->latency_sum_ms / 1000.0,
                   (unsigned long long)sum->latency_count);
    return o < cap ? o : 0;
}

/* A Prometheus label value: backslash, quote and newline escaped, other
 * control bytes dropped. */
static void
gw_metrics_label(char *dst, size_t cap, const char *src)
{
    size_t o = 0;

    for (; *src != '\0' && o + 3 < cap; src++) {
        unsigned char ch = (unsigned char)*src;

        if (ch == '\\' || ch == '"') {
            dst[o++] = '\\';
            dst[o++] = (char)ch;
        } else if (ch == '\n') {
            dst[o++] = '\\';
            dst[o++] = 'n';
        } else if (ch >= 0x20 && ch != 0x7f) {
            dst[o++] = (char)ch;
        }
    }
    dst[o] = '\0';
}

_Static_assert(GW_RULE_VERDICTS == POL_VERDICT_ERROR + 1,
               "one counter per verdict");

size_t
gw_metrics_render_rules(const struct gw_rule_counters *rules, size_t n,
                        char *dst, size_t cap)
{
    char name[GW_RULE_NAME_MAX * 2 + 1];
    size_t o = 0;
    size_t last;
    size_t i;
    size_t k;

    if (!gw_metrics_put(dst, cap, &o,
                        "# HELP postern_policy_rule_matches_total times "
                        "every condition of the rule held\n"
                        "# TYPE postern_policy_rule_matches_total counter\n")) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (__atomic_load_n(&rules[i].name[0], __ATOMIC_ACQUIRE) == '\0') {
            continue; /* free, or being published (gw_shm_rule_slot) */
        }
        gw_metrics_label(name, sizeof(name), rules[i].name);
        last = o;
        if (!gw_metrics_put(dst, cap, &o,
                            "postern_policy_rule_matches_total{stage=\"%s\","
                            "rule=\"%s\"} %llu\n",
                            pol_stage_name((enum pol_stage)rules[i].stage),
                            name,
                            (unsigned long long)__atomic_load_n(
                                &rules[i].matches, __ATOMIC_RELAXED))) {
            return last;
        }
    }
    last = o;
    if (!gw_metrics_put(dst, cap, &o,
                        "# HELP postern_policy_decisions_total evaluations "
                        "of a stage that a rule decided, by verdict\n"
                        "# TYPE postern_policy_decisions_total counter\n")) {
        return last;
    }
    for (i = 0; i < n; i++) {
        if (__atomic_load_n(&rules[i].name[0], __ATOMIC_ACQUIRE) == '\0') {
            continue; /* free, or being published (gw_shm_rule_slot) */
        }
        gw_metrics_label(name, sizeof(name), rules[i].name);
        for (k = 0; k < GW_RULE_VERDICTS; k++) {
            uint64_t v = __atomic_load_n(&rules[i].verdicts[k],
                                         __ATOMIC_RELAXED);

            last = o;
            if (v != 0 &&
                !gw_metrics_put(dst, cap, &o,
                                "postern_policy_decisions_total{stage=\"%s\","
                                "rule=\"%s\",verdict=\"%s\"} %llu\n",
                                pol_stage_name((enum pol_stage)rules[i].stage),
                                name,
                                pol_verdict_action_name(
                                    (enum pol_verdict_action)k),
                                (unsigned long long)v)) {
                return last;
            }
        }
    }
    return o;
}

size_t
gw_metrics_rules_bound(const struct gw_rule_counters *rules, size_t n)
{
    /* per series: the fixed text, a stage, 20 digits, the name escaped */
    size_t bound = 512;
    size_t i;

    for (i = 0; i < n; i++) {
        if (__atomic_load_n(&rules[i].name[0], __ATOMIC_ACQUIRE) != '\0') {
            bound += (1 + GW_RULE_VERDICTS) *
                     (128 + 2 * strnlen(rules[i].name, GW_RULE_NAME_MAX));
        }
    }
    return bound;
}
