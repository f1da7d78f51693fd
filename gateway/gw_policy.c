#include "gateway/gw_policy.h"

#include <string.h>

#include "gateway/gw_authfail.h"
#include "gateway/gw_log.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_shm.h"
#include "gateway/gw_session.h"
#include "gateway/gw_str.h"
#include "gateway/gw_worker.h"

static struct pol_str
gw_policy_str(const char *s)
{
    struct pol_str r;

    r.p = (const uint8_t *)(s != NULL ? s : "");
    r.len = s != NULL ? strlen(s) : 0;
    return r;
}

void
gw_policy_facts(const struct gw_session *s, struct pol_facts *f)
{
    memset(f, 0, sizeof(*f));
    pol_addr_from_sockaddr(&f->client_address, &s->client_sa.sa);
    if (s->client_sa.sa.sa_family == AF_INET) {
        f->client_port = ntohs(s->client_sa.in.sin_port);
    } else if (s->client_sa.sa.sa_family == AF_INET6) {
        f->client_port = ntohs(s->client_sa.in6.sin6_port);
    }
    f->listener = gw_policy_str(s->cfg->listeners[s->listener].name);
    if (gw_conn_tls_active(&s->client)) {
        f->tls = true;
        f->tls_version = gw_policy_str(gw_conn_tls_version(&s->client));
        f->tls_cipher = gw_policy_str(gw_conn_tls_cipher(&s->client));
        f->sni = gw_policy_str(gw_conn_tls_sni(&s->client));
    }
    if (s->helo != NULL) {
        f->helo = gw_policy_str(s->helo);
    }
    if (s->w->authfail != NULL) {
        const struct gw_auth_cfg *a = &s->cfg->listeners[s->listener].auth;

        f->auth_failures = gw_authfail_count(s->w->authfail, &s->client_sa.sa,
                                             gw_now_ms(), a->block_time_ms);
    }
    if (s->auth_user != NULL) {
        f->authenticated = true;
        f->auth_user = gw_policy_str(s->auth_user);
        f->auth_mech = gw_policy_str(gw_sasl_mech_name((enum gw_sasl_mech)s->auth_mech));
    }
    f->messages = (uint32_t)s->messages + (s->tx != NULL ? 1 : 0);
    if (s->tx != NULL) {
        f->sender.p = (const uint8_t *)s->tx->mail.addr;
        f->sender.len = s->tx->mail.len;
        f->rcpt_count = (uint32_t)s->tx->rcpt_sent;
    }
}

/* The policy trace: counts rule hits for metrics (the trace reports every
 * action of a rule that held: count the rule once per evaluation), and
 * passes every event on to --simulate when it listens. */
struct gw_policy_hits {
    const struct gw_config *cfg;
    struct gw_worker *w;
    size_t last;
};

static struct gw_rule_counters *
gw_policy_rule(const struct gw_policy_hits *h, size_t rule_index)
{
    uint16_t slot;

    if (h->cfg->policy_rule_slots == NULL) {
        return NULL;
    }
    slot = h->cfg->policy_rule_slots[rule_index];
    return slot != GW_SHM_NO_RULE ? &h->w->shm->rules[slot] : NULL;
}

static void
gw_policy_on_trace(void *arg, const struct pol_trace_event *ev)
{
    struct gw_policy_hits *h = arg;
    struct gw_rule_counters *r;

    if (h->w->policy_trace != NULL) {
        h->w->policy_trace(h->w->policy_note_arg, ev);
    }
    if (ev->result != POL_TRACE_MATCH || ev->rule_index == h->last) {
        return;
    }
    h->last = ev->rule_index;
    r = gw_policy_rule(h, ev->rule_index);
    if (r != NULL) {
        __atomic_fetch_add(&r->matches, 1, __ATOMIC_RELAXED);
    }
}

enum pol_verdict_action
gw_policy_eval(struct gw_session *s, enum pol_stage stage,
               const struct pol_facts *f, struct pol_verdict *v, char *buf,
               size_t cap)
{
    struct pol_ruleset *rs = s->cfg->policy;
    struct pol_env env;
    struct gw_policy_hits hits;
    char text[128];

    pol_verdict_init(v, buf, cap);
    if (rs == NULL || pol_ruleset_rules_at(rs, stage) == 0) {
        return POL_VERDICT_CONTINUE;
    }
    memset(&env, 0, sizeof(env));
    env.counters = s->w->counters;
    env.now_ms = gw_now_ms();
    hits.cfg = s->cfg;
    hits.w = s->w;
    hits.last = SIZE_MAX;
    if (s->cfg->policy_rule_slots != NULL || s->w->policy_trace != NULL) {
        env.trace = gw_policy_on_trace;
        env.trace_arg = &hits;
        env.trace_hits_only = s->w->policy_trace == NULL;
    }
    pol_eval(rs, stage, f, &env, v);
    if (v->rule[0] != '\0' &&
        (unsigned)v->action < GW_RULE_VERDICTS) {
        struct gw_rule_counters *r = gw_policy_rule(&hits, v->rule_index);

        if (r != NULL) {
            __atomic_fetch_add(&r->verdicts[v->action], 1, __ATOMIC_RELAXED);
        }
    }
    if (s->w->policy_note != NULL) {
        s->w->policy_note(s->w->policy_note_arg, stage, v);
    }
    if ((v->flags & POL_VF_REQUIRE_TLS) != 0 &&
        (v->action == POL_VERDICT_CONTINUE ||
         v->action == POL_VERDICT_ACCEPT)) {
        s->require_tls = true;
    }
    /* tls_policy before MAIL holds for the session's transactions; the
     * mail stage's for its own (gw_in_mail) */
    if ((v->flags & POL_VF_TLS_POLICY) != 0 && stage < POL_STAGE_MAIL &&
        (v->action == POL_VERDICT_CONTINUE ||
         v->action == POL_VERDICT_ACCEPT) &&
        (uint8_t)v->tls_policy > s->tls_min) {
        s->tls_min = (uint8_t)v->tls_policy;
    }
    if (v->action == POL_VERDICT_CONTINUE ||
        v->action == POL_VERDICT_ACCEPT) {
        if (v->rule[0] != '\0' && gw_log_enabled(GW_LOG_DEBUG)) {
            gw_log(GW_LOG_DEBUG, s->sid, "event=policy stage=%s rule=\"%s\" "
                   "at=%s verdict=%s", pol_stage_name(stage), v->rule,
                   v->rule_location, pol_verdict_action_name(v->action));
        }
        return v->action;
    }
    gw_str_escape(text, sizeof(text), (const uint8_t *)v->text, v->text_len);
    gw_log(GW_LOG_INFO, s->sid,
           "event=policy stage=%s rule=\"%s\" at=%s%s%s verdict=%s code=%u "
           "dsn=%s text=\"%s\"%s%s%s",
           pol_stage_name(stage), v->rule, v->rule_location,
           v->table_location[0] != '\0' ? " table=" : "", v->table_location,
           pol_verdict_action_name(v->action), v->code, v->enhanced, text,
           v->action == POL_VERDICT_ERROR ? " error=\"" : "",
           v->action == POL_VERDICT_ERROR ? v->error_text : "",
           v->action == POL_VERDICT_ERROR ? "\"" : "");
    return v->action;
}

bool
gw_policy_refuse(struct gw_session *s, const struct pol_verdict *v)
{
    char text[512];

    switch (v->action) {
    case POL_VERDICT_CONTINUE:
    case POL_VERDICT_ACCEPT:
        return false;
    case POL_VERDICT_ERROR:
        /* a match error is neither a match nor a non-match: fail closed,
         * temporarily */
        gw_session_reply(s, 451, "4.3.0", "Temporary policy error, try "
                                          "again later");
        return true;
    case POL_VERDICT_DISCONNECT:
        gw_strlcpy(text, v->text_len > 0 ? v->text : "Closing connection",
                   sizeof(text));
        gw_session_reply_close(s, 421,
                               v->enhanced[0] != '\0' ? v->enhanced : "4.7.0",
                               text, "policy disconnect");
        return true;
    case POL_VERDICT_REJECT:
    case POL_VERDICT_TEMPFAIL:
        gw_strlcpy(text, v->text_len > 0 ? v->text : "Refused by policy",
                   sizeof(text));
        gw_session_reply(s, (int)v->code,
                         v->enhanced[0] != '\0' ? v->enhanced : NULL, text);
        return true;
    }
    return false;
}
