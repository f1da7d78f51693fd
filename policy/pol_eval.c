/*
 * pol_eval: the rules of one stage against one set of facts.
 *
 * Rules run in order. A rule holds when every condition holds (checked
 * left to right, stopping at the first that does not). The actions of a
 * rule that holds are applied in order: accumulating ones (add_header,
 * require_tls, upstream, tls_policy, set_limit) are recorded and
 * evaluation goes on; a terminal one (accept, reject, tempfail,
 * disconnect) decides the stage and evaluation stops. For single-valued
 * settings (upstream, tls_policy, each limit) the first rule that sets one
 * wins. A condition that fails to evaluate (a PCRE2 match limit, a counter
 * store failure) stops everything with POL_VERDICT_ERROR: fail closed.
 *
 * Nothing here allocates (PCRE2's interpreter may, within heap_limit) and
 * nothing does I/O except through the caller's counter store.
 */
#include <string.h>

#include "policy/pol_internal.h"

static const char pol_error_reply[] = "Temporary policy error, try again later";

struct pol_run {
    struct pol_evalctx ec;
    const struct pol_env *env;
    struct pol_verdict *v;
    size_t text_cap; /* the reply text's share of v->buf */
    int error;       /* the PCRE2 code, or 0 for a store failure */
    const char *error_text;
};

static void pol_val_text(struct pol_evalctx *ec, struct pol_val *v);
static int pol_cond_eval(struct pol_run *run, const struct pol_cond *c,
                         const struct pol_entry **hit);
static int pol_cond_counters(struct pol_run *run, const struct pol_cond *c,
                             struct pol_val *v);
static bool pol_apply(struct pol_run *run, const struct pol_action *a);
static void pol_apply_reply(struct pol_run *run, const struct pol_action *a,
                            enum pol_verdict_action act);
static void pol_apply_header(struct pol_run *run, const struct pol_action *a);
static void pol_eval_error(struct pol_run *run, const struct pol_rule *r,
                           size_t cond);
static void pol_trace(struct pol_run *run, const struct pol_rule *r,
                      enum pol_trace_result res, size_t cond,
                      const char *action, const char *table, bool ignored);

/* ---- facts -------------------------------------------------------------- */

static void
pol_str_val(struct pol_val *out, const struct pol_str *s)
{
    out->present = s->p != NULL;
    out->p = s->p;
    out->len = s->p != NULL ? s->len : 0;
}

/* The part after the last '@' of a present, non-empty mailbox. */
static void
pol_domain_of(struct pol_val *out, const struct pol_str *s)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    if (s->p == NULL) {
        return;
    }
    for (i = s->len; i > 0; i--) {
        if (s->p[i - 1] == '@') {
            if (i < s->len) {
                out->present = true;
                out->p = s->p + i;
                out->len = s->len - i;
            }
            return;
        }
    }
}

/* Does the sender's domain equal the authenticated user's (ASCII case
 * ignored)? Absent without AUTH, without a sender domain, or for a user
 * name that is not a mailbox. */
static void
pol_sender_owned(struct pol_val *out, const struct pol_facts *f)
{
    struct pol_val s;
    struct pol_val u;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (!f->authenticated) {
        return;
    }
    pol_domain_of(&s, &f->sender);
    pol_domain_of(&u, &f->auth_user);
    if (!s.present || !u.present) {
        return;
    }
    out->present = true;
    out->num = s.len == u.len;
    for (i = 0; out->num && i < s.len; i++) {
        uint8_t a = s.p[i];
        uint8_t b = u.p[i];

        a = (a >= 'A' && a <= 'Z') ? (uint8_t)(a + 32) : a;
        b = (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32) : b;
        out->num = a == b;
    }
}

void
pol_fact_value(struct pol_evalctx *ec, enum pol_fact fact, struct pol_val *out)
{
    const struct pol_facts *f = ec->f;

    memset(out, 0, sizeof(*out));
    switch (fact) {
    case POL_FACT_CLIENT_ADDRESS:
        out->present = ec->client.family != 0;
        out->addr = out->present ? &ec->client : NULL;
        break; /* the text on demand: pol_val_text */
    case POL_FACT_CLIENT_PORT:
        out->present = f->client_port != 0;
        out->num = f->client_port;
        break;
    case POL_FACT_LISTENER:
        pol_str_val(out, &f->listener);
        break;
    case POL_FACT_REVERSE_NAME:
        pol_str_val(out, &f->reverse_name);
        break;
    case POL_FACT_TLS:
        out->present = true;
        out->num = f->tls;
        break;
    case POL_FACT_TLS_VERSION:
        pol_str_val(out, &f->tls_version);
        break;
    case POL_FACT_TLS_CIPHER:
        pol_str_val(out, &f->tls_cipher);
        break;
    case POL_FACT_SNI:
        pol_str_val(out, &f->sni);
        break;
    case POL_FACT_TLS_CLIENT_SUBJECT:
        pol_str_val(out, &f->tls_client_subject);
        break;
    case POL_FACT_TLS_CLIENT_FINGERPRINT:
        pol_str_val(out, &f->tls_client_fingerprint);
        break;
    case POL_FACT_HELO:
        pol_str_val(out, &f->helo);
        break;
    case POL_FACT_AUTHENTICATED:
        out->present = true;
        out->num = f->authenticated;
        break;
    case POL_FACT_AUTH_USER:
        pol_str_val(out, &f->auth_user);
        break;
    case POL_FACT_AUTH_MECH:
        pol_str_val(out, &f->auth_mech);
        break;
    case POL_FACT_MESSAGES:
        out->present = true;
        out->num = f->messages;
        break;
    case POL_FACT_SENDER:
        pol_str_val(out, &f->sender);
        break;
    case POL_FACT_SENDER_DOMAIN:
        pol_domain_of(out, &f->sender);
        break;
    case POL_FACT_SENDER_OWNED:
        pol_sender_owned(out, f);
        break;
    case POL_FACT_SIZE:
        out->present = f->has_size;
        out->num = f->size;
        break;
    case POL_FACT_BODY:
        pol_str_val(out, &f->body);
        break;
    case POL_FACT_SMTPUTF8:
        out->present = true;
        out->num = f->smtputf8;
        break;
    case POL_FACT_REQUIRETLS:
        out->present = true;
        out->num = f->requiretls;
        break;
    case POL_FACT_ENVID:
        pol_str_val(out, &f->envid);
        break;
    case POL_FACT_RCPT:
        pol_str_val(out, &f->rcpt);
        break;
    case POL_FACT_RCPT_DOMAIN:
        pol_domain_of(out, &f->rcpt);
        break;
    case POL_FACT_RCPT_COUNT:
        out->present = true;
        out->num = f->rcpt_count;
        break;
    case POL_FACT_AUTH_FAILURES:
        out->present = true;
        out->num = f->auth_failures;
        break;
    case POL_FACT_HEADER_NAME:
        pol_str_val(out, &f->header_name);
        break;
    case POL_FACT_HEADER_VALUE:
        pol_str_val(out, &f->header_value);
        break;
    case POL_FACT_MESSAGE_SIZE:
        out->present = true;
        out->num = f->message_size;
        break;
    case POL_FACT_HEADER_COUNT:
        out->present = true;
        out->num = f->header_count;
        break;
    case POL_FACT_SAW_8BIT:
        out->present = true;
        out->num = f->saw_8bit;
        break;
    case POL_FACT_COUNT:
        break;
    }
    if (out->present && out->addr != NULL) {
        pol_val_text(ec, out);
    }
}

/* The client address's text, formatted once per evaluation. */
static void
pol_val_text(struct pol_evalctx *ec, struct pol_val *v)
{
    if (!ec->client_text_done) {
        ec->client_text_len = pol_addr_format(&ec->client, ec->client_text,
                                              sizeof(ec->client_text));
        ec->client_text_done = true;
    }
    v->p = (const uint8_t *)ec->client_text;
    v->len = ec->client_text_len;
}

bool
pol_val_domain(const struct pol_val *v, enum pol_fdom dom, const uint8_t **p,
               size_t *len)
{
    struct pol_str s;
    struct pol_val d;

    if (!v->present || v->len == 0) {
        return false;
    }
    if (dom == POL_FD_HOST) {
        *p = v->p;
        *len = v->len;
        return true;
    }
    if (dom != POL_FD_MAILBOX) {
        return false;
    }
    s.p = v->p;
    s.len = v->len;
    pol_domain_of(&d, &s);
    *p = d.p;
    *len = d.len;
    return d.present;
}

/* ---- conditions --------------------------------------------------------- */

/* 1 holds, 0 does not, -1 error (run->error, run->error_text set). */
static int
pol_cond_eval(struct pol_run *run, const struct pol_cond *c,
              const struct pol_entry **hit)
{
    const struct pol_fact_def *fd = &pol_fact_defs[c->fact];
    struct pol_val v;
    bool m = false;
    size_t i;
    int rc;

    *hit = NULL;
    /* the address text only when something reads it */
    if (c->fact == POL_FACT_CLIENT_ADDRESS) {
        memset(&v, 0, sizeof(v));
        v.present = run->ec.client.family != 0;
        v.addr = v.present ? &run->ec.client : NULL;
        if (v.present && c->match != POL_M_CIDR &&
            !(c->match == POL_M_TABLE && c->tables[0]->kind == POL_TK_CIDR)) {
            pol_val_text(&run->ec, &v);
        }
    } else {
        pol_fact_value(&run->ec, c->fact, &v);
    }
    switch (c->match) {
    case POL_M_PRESENT:
        m = v.present;
        break;
    case POL_M_IS:
        /* an absent fact matches nothing (sender_owned without AUTH) */
        m = v.present && (v.num != 0) == c->truth;
        break;
    case POL_M_CMP:
        m = v.present && pol_cmp_holds(c->cmp, v.num, c->num);
        break;
    case POL_M_RATE:
    case POL_M_CONNECTIONS:
        if (!v.present) {
            break;
        }
        if (v.p == NULL) {
            pol_val_text(&run->ec, &v);
        }
        rc = pol_cond_counters(run, c, &v);
        if (rc < 0) {
            return -1;
        }
        m = rc == 1;
        break;
    default:
        if (!v.present) {
            break;
        }
        for (i = 0; i < c->ntables && !m; i++) {
            if (v.addr != NULL && v.p == NULL &&
                c->tables[i]->kind != POL_TK_CIDR) {
                pol_val_text(&run->ec, &v);
            }
            rc = pol_table_lookup(c->tables[i], &run->ec, &v, fd->dom, hit);
            if (rc < 0) {
                run->error = rc;
                run->error_text = NULL;
                return -1;
            }
            m = rc == 1;
        }
        break;
    }
    if (c->negate) {
        *hit = NULL;
        return m ? 0 : 1;
    }
    return m ? 1 : 0;
}

/* rate(): 1 when over the rate (no token left); connections: 1 when the
 * comparison holds. -1 on a store failure. */
static int
pol_cond_counters(struct pol_run *run, const struct pol_cond *c,
                  struct pol_val *v)
{
    struct pol_counters *ct = run->env != NULL ? run->env->counters : NULL;
    struct pol_counter_key key;
    uint32_t n = 0;
    int rc;

    run->error = 0;
    if (ct == NULL || ct->ops == NULL) {
        run->error_text = "no counter store";
        return -1;
    }
    key.ns = c->ns;
    key.ns_len = c->ns_len;
    key.value = v->p;
    key.value_len = v->len;
    if (c->match == POL_M_RATE) {
        rc = ct->ops->take(ct->impl, &key, &c->bucket, run->env->now_ms);
        if (rc < 0) {
            run->error_text = "counter store failed";
            return -1;
        }
        return rc == 0 ? 1 : 0;
    }
    rc = ct->ops->conn_get(ct->impl, &key, &n);
    if (rc < 0) {
        run->error_text = "counter store failed";
        return -1;
    }
    return pol_cmp_holds(c->cmp, n, c->num) ? 1 : 0;
}

/* ---- actions ------------------------------------------------------------ */

/* Applies a; returns true when it decides the stage. */
static bool
pol_apply(struct pol_run *run, const struct pol_action *a)
{
    struct pol_verdict *v = run->v;

    switch (a->kind) {
    case POL_ACT_CONTINUE:
        return false;
    case POL_ACT_ACCEPT:
        v->action = POL_VERDICT_ACCEPT;
        return true;
    case POL_ACT_REJECT:
        pol_apply_reply(run, a, POL_VERDICT_REJECT);
        return true;
    case POL_ACT_TEMPFAIL:
        pol_apply_reply(run, a, POL_VERDICT_TEMPFAIL);
        return true;
    case POL_ACT_DISCONNECT:
        pol_apply_reply(run, a, POL_VERDICT_DISCONNECT);
        return true;
    case POL_ACT_REQUIRE_TLS:
        v->flags |= POL_VF_REQUIRE_TLS;
        return false;
    case POL_ACT_UPSTREAM:
        if ((v->flags & POL_VF_UPSTREAM) == 0) {
            v->flags |= POL_VF_UPSTREAM;
            v->upstream = a->upstream;
        }
        return false;
    case POL_ACT_TLS_POLICY:
        if ((v->flags & POL_VF_TLS_POLICY) == 0) {
            v->flags |= POL_VF_TLS_POLICY;
            v->tls_policy = a->tls;
        }
        return false;
    case POL_ACT_SET_LIMIT:
        if (a->limit == POL_LIMIT_SIZE && (v->flags & POL_VF_LIMIT_SIZE) == 0) {
            v->flags |= POL_VF_LIMIT_SIZE;
            v->limit_message_size = a->limit_value;
        } else if (a->limit == POL_LIMIT_RCPTS &&
                   (v->flags & POL_VF_LIMIT_RCPTS) == 0) {
            v->flags |= POL_VF_LIMIT_RCPTS;
            v->limit_recipients = (uint32_t)a->limit_value;
        }
        return false;
    case POL_ACT_ADD_HEADER:
        pol_apply_header(run, a);
        return false;
    }
    return false;
}

/* Whether applying a now would be ignored (the setting is already made). */
static bool
pol_ignored(const struct pol_verdict *v, const struct pol_action *a)
{
    switch (a->kind) {
    case POL_ACT_UPSTREAM:
        return (v->flags & POL_VF_UPSTREAM) != 0;
    case POL_ACT_TLS_POLICY:
        return (v->flags & POL_VF_TLS_POLICY) != 0;
    case POL_ACT_SET_LIMIT:
        return (v->flags & (a->limit == POL_LIMIT_SIZE ? POL_VF_LIMIT_SIZE
                                                       : POL_VF_LIMIT_RCPTS)) !=
               0;
    default:
        return false;
    }
}

static void
pol_apply_reply(struct pol_run *run, const struct pol_action *a,
                enum pol_verdict_action act)
{
    struct pol_verdict *v = run->v;
    bool cut = false;

    v->action = act;
    v->code = a->code;
    memcpy(v->enhanced, a->enh, sizeof(v->enhanced));
    if (run->text_cap == 0) {
        v->text = "";
        v->text_len = 0;
        v->flags |= POL_VF_TRUNCATED;
        return;
    }
    v->text_len = pol_tmpl_expand(&a->text, &run->ec, v->buf, run->text_cap,
                                  POL_MAX_TEXT, &cut);
    v->text = v->buf;
    if (cut) {
        v->flags |= POL_VF_TRUNCATED;
    }
}

/* "Name: value" at v->buf + used; dropped (with a flag) when even the name
 * does not fit. */
static void
pol_apply_header(struct pol_run *run, const struct pol_action *a)
{
    struct pol_verdict *v = run->v;
    struct pol_header *h;
    size_t room = v->cap > v->used ? v->cap - v->used : 0;
    size_t head = a->hname_len + 2;
    bool cut = false;
    char *dst;
    size_t n;

    if (v->nheaders == POL_MAX_HEADERS || room < head + 1) {
        v->flags |= POL_VF_HEADER_DROPPED;
        return;
    }
    dst = v->buf + v->used;
    memcpy(dst, a->hname, a->hname_len);
    memcpy(dst + a->hname_len, ": ", 2);
    n = pol_tmpl_expand(&a->text, &run->ec, dst + head, room - head,
                        POL_MAX_HEADER_LINE - head, &cut);
    if (cut) {
        v->flags |= POL_VF_TRUNCATED;
    }
    h = &v->headers[v->nheaders++];
    h->line = dst;
    h->len = head + n;
    h->name_len = a->hname_len;
    v->used += head + n + 1;
}

/* ---- the stage ---------------------------------------------------------- */

static void
pol_trace(struct pol_run *run, const struct pol_rule *r,
          enum pol_trace_result res, size_t cond, const char *action,
          const char *table, bool ignored)
{
    struct pol_trace_event ev;

    if (run->env == NULL || run->env->trace == NULL ||
        (res == POL_TRACE_NO_MATCH && run->env->trace_hits_only)) {
        return;
    }
    ev.stage = run->ec.stage;
    ev.rule_index = (size_t)(r - run->ec.rs->rules);
    ev.rule = r->name;
    ev.rule_location = r->location;
    ev.result = res;
    ev.cond = cond;
    ev.action = action != NULL ? action : "";
    ev.table_location = table != NULL ? table : "";
    ev.ignored = ignored;
    run->env->trace(run->env->trace_arg, &ev);
}

static void
pol_eval_error(struct pol_run *run, const struct pol_rule *r, size_t cond)
{
    struct pol_verdict *v = run->v;

    v->action = POL_VERDICT_ERROR;
    v->code = 451;
    memcpy(v->enhanced, "4.3.0", 6);
    v->text = pol_error_reply;
    v->text_len = sizeof(pol_error_reply) - 1;
    v->error = run->error;
    if (run->error_text != NULL) {
        memcpy(v->error_text, run->error_text, strlen(run->error_text) + 1);
    } else if (pcre2_get_error_message(run->error, (PCRE2_UCHAR *)v->error_text,
                                       sizeof(v->error_text)) < 0) {
        memcpy(v->error_text, "match error", 12);
    }
    if (r != NULL) {
        v->rule = r->name;
        v->rule_location = r->location;
        v->rule_index = (size_t)(r - run->ec.rs->rules);
        pol_trace(run, r, POL_TRACE_ERROR, cond, NULL, NULL, false);
    }
}

enum pol_verdict_action
pol_eval(struct pol_ruleset *rs, enum pol_stage stage,
         const struct pol_facts *f, const struct pol_env *env,
         struct pol_verdict *v)
{
    struct pol_run run;
    char *buf = v->buf;
    size_t cap = v->cap;
    size_t i;
    size_t k;

    pol_verdict_init(v, buf, cap);
    memset(&run, 0, sizeof(run));
    run.env = env;
    run.v = v;
    run.text_cap = cap < POL_MAX_TEXT + 1 ? cap : POL_MAX_TEXT + 1;
    v->used = run.text_cap;
    if (rs == NULL || f == NULL || (unsigned)stage >= POL_STAGE_COUNT) {
        run.error_text = "bad call to pol_eval";
        pol_eval_error(&run, NULL, 0);
        return v->action;
    }
    run.ec.rs = rs;
    run.ec.f = f;
    run.ec.stage = stage;
    run.ec.client = f->client_address;
    pol_addr_normalise(&run.ec.client);
    if (run.ec.client.family != POL_AF_INET &&
        run.ec.client.family != POL_AF_INET6) {
        run.ec.client.family = 0;
    }
    for (i = rs->stage_start[stage]; i < rs->stage_start[stage + 1]; i++) {
        const struct pol_rule *r = &rs->rules[i];
        const struct pol_entry *hit = NULL;
        const struct pol_action *acts = r->actions;
        size_t nacts = r->nactions;
        bool decided = false;
        size_t c;

        run.ec.rule = r;
        for (c = 0; c < r->nconds; c++) {
            const struct pol_entry *h;
            int rc = pol_cond_eval(&run, &r->conds[c], &h);

            if (rc < 0) {
                pol_eval_error(&run, r, c);
                return v->action;
            }
            if (rc == 0) {
                break;
            }
            if ((long)c == r->action_cond) {
                hit = h;
            }
        }
        if (c < r->nconds) {
            pol_trace(&run, r, POL_TRACE_NO_MATCH, c, NULL, NULL, false);
            continue;
        }
        if (r->action_cond >= 0) {
            acts = hit->action;
            nacts = 1;
        }
        for (k = 0; k < nacts && !decided; k++) {
            bool ignored = pol_ignored(v, &acts[k]);

            decided = pol_apply(&run, &acts[k]);
            pol_trace(&run, r, POL_TRACE_MATCH, 0, acts[k].written,
                      hit != NULL ? hit->location : NULL, ignored);
        }
        if (decided) {
            v->rule = r->name;
            v->rule_location = r->location;
            v->rule_index = i;
            v->table_location = hit != NULL ? hit->location : "";
            return v->action;
        }
    }
    return v->action;
}
