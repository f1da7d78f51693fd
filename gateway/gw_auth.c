#include "gateway/gw_auth.h"

#include <string.h>
#include <sys/random.h>

#include <mbedtls/platform_util.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_authfail.h"
#include "gateway/gw_log.h"
#include "gateway/gw_metrics.h"
#include "gateway/gw_policy.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_session.h"
#include "gateway/gw_str.h"
#include "gateway/gw_tokens.h"
#include "gateway/gw_upstream.h"
#include "gateway/gw_users.h"
#include "gateway/gw_worker.h"

/* One exchange: from AUTH to its final reply. It holds its own reference
 * to the config (the users table the thread reads) and survives the
 * session while the check runs in the thread pool (s becomes NULL). */
struct gw_auth_job {
    struct gw_session *s;
    struct gw_config *cfg;
    const struct gw_users *users;
    const struct gw_tokens *tokens;
    struct gw_sasl sasl;
    uv_work_t work;
    uv_timer_t delay;
    bool delay_open;
    bool in_thread;
    bool ok;
    bool tempfail; /* the token backend could not answer */
    bool relay;  /* auth.mode: relay: the upstream answers */
    char *line;  /* relay: the AUTH line waiting for the upstream */
};

static void gw_auth_succeeded(struct gw_session *s, struct gw_auth_job *job);
static void gw_auth_failed(struct gw_session *s, struct gw_auth_job *job);
static void gw_auth_abort(struct gw_session *s, int code, const char *enh,
                          const char *text);
static void gw_auth_progress(struct gw_session *s, struct gw_auth_job *job,
                             enum gw_sasl_status st, const char *chal);

static const struct gw_auth_cfg *
gw_auth_cfg(const struct gw_session *s)
{
    return &s->cfg->listeners[s->listener].auth;
}

unsigned
gw_auth_offer(const struct gw_session *s, const struct gw_caps *up)
{
    const struct gw_auth_cfg *a = gw_auth_cfg(s);

    /* still offered once authenticated (a second AUTH gets 503), so
     * that MAIL's AUTH= parameter stays valid after a new EHLO */
    if (!a->enabled ||
        (!a->allow_plaintext && !gw_conn_tls_active(&s->client))) {
        return 0;
    }
    if (!a->relay) {
        return a->mechanisms;
    }
    /* relay: only what the upstream takes, once its EHLO is known */
    return up->known ? a->mechanisms & up->auth_mechs : a->mechanisms;
}

static void
gw_auth_job_free(struct gw_auth_job *job)
{
    if (job->line != NULL) {
        mbedtls_platform_zeroize(job->line, strlen(job->line));
        gw_free(job->line);
    }
    gw_sasl_wipe(&job->sasl);
    gw_config_unref(job->cfg);
    gw_free(job);
}

static void
gw_auth_on_delay_closed(uv_handle_t *h)
{
    gw_auth_job_free(h->data);
}

/* Ends the exchange: the session forgets the job, which is freed now, or
 * once its thread or its timer is done with it. */
static void
gw_auth_job_end(struct gw_auth_job *job)
{
    if (job->s != NULL) {
        job->s->auth_job = NULL;
        job->s = NULL;
    }
    if (job->in_thread) {
        return; /* the thread still reads it: gw_auth_after_check frees
                   (and wipes) it */
    }
    gw_sasl_wipe(&job->sasl);
    if (job->delay_open) {
        job->delay_open = false;
        uv_close((uv_handle_t *)&job->delay, gw_auth_on_delay_closed);
        return;
    }
    gw_auth_job_free(job);
}

void
gw_auth_reset(struct gw_session *s)
{
    if (s->auth_job != NULL) {
        gw_auth_job_end(s->auth_job);
    }
    if (s->auth_user != NULL && gw_auth_cfg(s)->relay && s->up != NULL) {
        gw_up_close(s->up, true); /* logged in as the forgotten user */
        s->up = NULL;
    }
    if (s->auth_user != NULL) {
        mbedtls_platform_zeroize(s->auth_user, strlen(s->auth_user));
        gw_free(s->auth_user);
        s->auth_user = NULL;
    }
    s->auth_mech = GW_SASL_NONE;
}

/* An exchange that ends with a reply and no delay or count. */
static void
gw_auth_abort_quiet(struct gw_session *s, int code, const char *enh,
                    const char *text)
{
    if (s->auth_job != NULL) {
        gw_auth_job_end(s->auth_job);
    }
    gw_in_enter(s, GW_IN_READY);
    gw_session_reply(s, code, enh, text);
}

/* An exchange that ends with an error reply, counted as a command
 * error. */
static void
gw_auth_abort(struct gw_session *s, int code, const char *enh,
              const char *text)
{
    gw_auth_abort_quiet(s, code, enh, text);
    if (!s->closing) {
        gw_session_count_error(s);
    }
}

static struct gw_authfail *
gw_auth_failures(struct gw_worker *w)
{
    if (w->authfail == NULL) {
        uint64_t seed = 0;

        w->authfail = gw_alloc(sizeof(*w->authfail));
        if (w->authfail == NULL) {
            return NULL;
        }
        if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
            seed = (uint64_t)(uintptr_t)w ^ gw_now_ms();
        }
        gw_authfail_init(w->authfail, seed);
    }
    return w->authfail;
}

static void
gw_auth_log(const struct gw_session *s, const struct gw_auth_job *job,
            const char *result)
{
    char user[GW_SASL_USER_MAX * 4 + 1];

    gw_str_escape(user, sizeof(user), (const uint8_t *)job->sasl.user,
                  job->sasl.user_len);
    gw_log(GW_LOG_INFO, s->sid, "event=auth result=%s mech=%s user=\"%s\"",
           result, gw_sasl_mech_name(job->sasl.mech), user);
}

/* ---- the answer after the check ------------------------------------- */

static void
gw_auth_on_delay(uv_timer_t *t)
{
    struct gw_auth_job *job = t->data;
    struct gw_session *s = job->s;

    if (s == NULL) {
        return; /* the close callback frees the job */
    }
    if (s->closing) {
        gw_auth_job_end(job); /* it was told 421 meanwhile: nothing more */
        return;
    }
    if (GW_SASL_IS_TOKEN(job->sasl.mech) && !job->sasl.error_sent &&
        s->auth_failures < gw_auth_cfg(s)->max_failures) {
        char chal[128];

        /* RFC 7628 3.2.2: the error challenge (the failure is counted
         * and delayed already), then 535 to whatever the client answers.
         * The timer stays open, idle, until the job ends. */
        gw_sasl_token_error(&job->sasl, chal, sizeof(chal));
        gw_in_enter(s, GW_IN_AUTH);
        gw_session_reply(s, 334, "", chal);
        gw_in_pump(s);
        return;
    }
    gw_auth_job_end(job);
    gw_in_enter(s, GW_IN_READY);
    if (s->auth_failures >= gw_auth_cfg(s)->max_failures) {
        gw_session_reply_close(s, 421, "4.7.0",
                               "Too many failed authentication attempts",
                               "auth failures");
        return;
    }
    gw_session_reply(s, 535, "5.7.8", "Authentication credentials invalid");
    gw_in_pump(s);
}

/* Wrong credentials (or a policy refusal that says so): count, wait,
 * then answer. */
static void
gw_auth_failed(struct gw_session *s, struct gw_auth_job *job)
{
    const struct gw_auth_cfg *a = gw_auth_cfg(s);
    struct gw_authfail *t = gw_auth_failures(s->w);
    uint32_t recent = 1;

    gw_auth_log(s, job, "fail");
    gw_metric_inc(GW_M_auth_failures_total);
    if (s->auth_failures < UINT8_MAX) {
        s->auth_failures++;
    }
    if (t != NULL) {
        recent = gw_authfail_note(t, &s->client_sa.sa, gw_now_ms(),
                                  a->block_time_ms);
    }
    /* secrets now; the mechanism stays (a token's error challenge comes
     * after the delay) */
    gw_sasl_wipe_pass(&job->sasl);
    gw_in_enter(s, GW_IN_AUTHWAIT);
    if (uv_timer_init(&s->w->loop, &job->delay) != 0) {
        gw_auth_job_end(job);
        gw_session_reply_close(s, 454, "4.7.0",
                               "Temporary authentication failure",
                               "out of timers");
        return;
    }
    job->delay.data = job;
    job->delay_open = true;
    (void)uv_timer_start(&job->delay, gw_auth_on_delay,
                         gw_authfail_delay(a->failure_delay_ms, recent), 0);
}

/* The credentials are right: the auth policy stage decides. */
static void
gw_auth_succeeded(struct gw_session *s, struct gw_auth_job *job)
{
    struct pol_facts f;
    struct pol_verdict v;
    char pbuf[POL_VERDICT_BUF_SIZE];

    gw_policy_facts(s, &f);
    f.authenticated = true;
    f.auth_user.p = (const uint8_t *)job->sasl.user;
    f.auth_user.len = job->sasl.user_len;
    f.auth_mech.p = (const uint8_t *)gw_sasl_mech_name(job->sasl.mech);
    f.auth_mech.len = strlen(gw_sasl_mech_name(job->sasl.mech));
    gw_policy_eval(s, POL_STAGE_AUTH, &f, &v, pbuf, sizeof(pbuf));
    gw_in_enter(s, GW_IN_READY);
    if (gw_policy_refuse(s, &v)) {
        gw_auth_log(s, job, "refused");
        if (job->relay && s->up != NULL) {
            gw_up_close(s->up, true); /* it holds the login we refused */
            s->up = NULL;
        }
        gw_auth_job_end(job);
        return;
    }
    s->auth_user = job->sasl.user_len > 0
                       ? gw_strndup(job->sasl.user, job->sasl.user_len)
                       : gw_strndup("unknown", 7);
    if (s->auth_user == NULL) {
        gw_auth_job_end(job);
        gw_session_reply_close(s, 454, "4.7.0",
                               "Temporary authentication failure",
                               "out of memory");
        return;
    }
    s->auth_mech = (uint8_t)job->sasl.mech;
    gw_auth_log(s, job, "ok");
    gw_metric_inc(GW_M_auth_success_total);
    /* the address's failures stay counted: a guesser with one account of
     * its own must not wipe its record by logging in between guesses */
    gw_auth_job_end(job);
    gw_session_reply(s, 235, "2.7.0", "Authentication successful");
}

/* ---- the check, in the thread pool ------------------------------------ */

/* A bearer token: the backend names its user, who must be the one the
 * client claimed (if it claimed one). */
static void
gw_auth_check_token(struct gw_auth_job *job)
{
    char user[GW_SASL_USER_MAX + 1];
    enum gw_token_result r;

    r = gw_tokens_check(job->tokens, job->sasl.token, job->sasl.token_len,
                        user, sizeof(user));
    job->tempfail = r == GW_TOKEN_TEMPFAIL;
    job->ok = r == GW_TOKEN_OK &&
              (job->sasl.user_len == 0 || strcmp(user, job->sasl.user) == 0);
    if (job->ok) {
        job->sasl.user_len = strlen(user);
        memcpy(job->sasl.user, user, job->sasl.user_len + 1);
    }
}

static void
gw_auth_check(uv_work_t *req)
{
    struct gw_auth_job *job = req->data;
    const char *hash;

    if (GW_SASL_IS_TOKEN(job->sasl.mech)) {
        gw_auth_check_token(job);
        return;
    }
    hash = gw_users_hash(job->users, job->sasl.user, job->sasl.user_len);

    /* An unknown user costs the same crypt(3) as a known one. */
    job->ok = gw_users_check(hash != NULL ? hash
                                          : gw_users_dummy_hash(job->users),
                             job->sasl.pass) &&
              hash != NULL;
}

static void
gw_auth_after_check(uv_work_t *req, int status)
{
    struct gw_auth_job *job = req->data;
    struct gw_session *s = job->s;

    job->in_thread = false;
    gw_sasl_wipe_pass(&job->sasl);
    if (s == NULL) {
        gw_auth_job_free(job); /* the client left meanwhile */
        return;
    }
    if (s->closing) {
        gw_auth_job_end(job); /* told 421 meanwhile: no 235/535 after it */
        return;
    }
    if (status != 0 || job->tempfail) {
        gw_auth_job_end(job);
        gw_in_enter(s, GW_IN_READY);
        gw_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
    } else if (job->ok) {
        gw_auth_succeeded(s, job);
    } else {
        gw_auth_failed(s, job); /* tokens: the error challenge after it */
    }
    if (!s->closing) {
        gw_in_pump(s);
    }
}

/* ---- pass-through (auth.mode: relay) ----------------------------------- */

/* Sends the waiting AUTH line once the upstream is ready: only over TLS
 * (the client's password crosses this leg too) and only a mechanism the
 * upstream offers. */
static void
gw_auth_relay_send(struct gw_session *s, struct gw_auth_job *job)
{
    const struct gw_caps *caps = gw_up_caps(s->up);
    char *line = job->line;

    job->line = NULL;
    if (!gw_up_tls_active(s->up)) {
        gw_log(GW_LOG_WARN, s->sid, "event=auth result=refused "
               "reason=upstream_plaintext upstream=%s", gw_up_addr(s->up));
        gw_auth_abort(s, 454, "4.7.0", "Temporary authentication failure");
    } else if (!gw_caps_has(caps, GW_CAP_AUTH) ||
               (caps->auth_mechs & GW_SASL_MECH_BIT(job->sasl.mech)) == 0) {
        gw_auth_abort(s, 504, "5.5.4", "Unrecognized authentication type");
    } else {
        gw_up_claim_for_auth(s->up);
        if (gw_up_send(s->up, GW_VERB_AUTH, false, line, strlen(line)) != 0) {
            gw_auth_abort(s, 454, "4.7.0", "Temporary authentication failure");
        }
    }
    mbedtls_platform_zeroize(line, strlen(line));
    gw_free(line);
}

static void
gw_auth_relay_start(struct gw_session *s, struct gw_auth_job *job,
                    const struct gw_cmd *cmd)
{
    size_t n = cmd->args_len + 6;

    job->relay = true;
    job->line = gw_alloc(n);
    if (job->line == NULL || !gw_session_upstream_open(s)) {
        gw_auth_abort(s, 454, "4.7.0", "Temporary authentication failure");
        return;
    }
    memcpy(job->line, "AUTH ", 5);
    memcpy(job->line + 5, cmd->args, cmd->args_len);
    job->line[n - 1] = '\0';
    gw_in_enter(s, GW_IN_AUTHWAIT);
    if (gw_up_is_ready(s->up)) {
        gw_auth_relay_send(s, job);
    } /* else gw_auth_upstream_ready sends it */
}

/* A client line of the exchange, on to the upstream as it is. */
static void
gw_auth_relay_line(struct gw_session *s, const char *line, size_t len)
{
    if (s->up == NULL ||
        gw_up_send(s->up, GW_VERB_AUTH, false, line, len) != 0) {
        gw_auth_abort(s, 454, "4.7.0", "Temporary authentication failure");
        return;
    }
    gw_in_enter(s, GW_IN_AUTHWAIT);
}

bool
gw_auth_upstream_ready(struct gw_session *s)
{
    struct gw_auth_job *job = s->auth_job;

    if (job == NULL || !job->relay || job->line == NULL) {
        return false;
    }
    gw_auth_relay_send(s, job);
    gw_in_pump(s);
    return true;
}

void
gw_auth_upstream_reply(struct gw_session *s, const struct gw_reply *r)
{
    struct gw_auth_job *job = s->auth_job;
    char text[GW_MAX_REPLY_TEXT + 1];
    size_t n = r->text_len < GW_MAX_REPLY_TEXT ? r->text_len
                                               : GW_MAX_REPLY_TEXT;

    if (job == NULL || !job->relay) {
        return; /* the exchange was dropped meanwhile */
    }
    memcpy(text, r->text, n);
    text[n] = '\0';
    if (r->code == 334) {
        gw_in_enter(s, GW_IN_AUTH);
        gw_session_reply(s, 334, "", text);
    } else if (r->code == 235) {
        gw_auth_succeeded(s, job);
    } else if (r->code == 535) {
        gw_auth_failed(s, job);
    } else {
        /* 454, 501 after a cancel, 504...: the upstream's own answer */
        gw_auth_job_end(job);
        gw_in_enter(s, GW_IN_READY);
        gw_session_reply(s, r->code, r->enhanced[0] != '\0' ? r->enhanced
                                                             : NULL,
                         text);
    }
    if (!s->closing) {
        gw_in_pump(s);
    }
}

bool
gw_auth_upstream_failed(struct gw_session *s)
{
    if (s->auth_job == NULL || !s->auth_job->relay) {
        return false;
    }
    gw_auth_abort(s, 454, "4.7.0", "Temporary authentication failure");
    if (!s->closing) {
        gw_in_pump(s);
    }
    return true;
}

/* ---- the exchange ---------------------------------------------------- */

/* SCRAM: the keys of the user the client named (fake ones for a user
 * without them, so the exchange fails at the proof like a wrong
 * password), a fresh server nonce, and the server-first challenge. The
 * proof is a few HMACs: no thread needed. */
static void
gw_auth_scram_keys(struct gw_session *s, struct gw_auth_job *job)
{
    struct gw_scram_keys keys;
    uint8_t snonce[18];
    char chal[GW_SASL_CHAL_MAX];
    enum gw_sasl_status st;

    if (job->users == NULL ||
        getrandom(snonce, sizeof(snonce), 0) != (ssize_t)sizeof(snonce)) {
        gw_auth_abort(s, 454, "4.7.0", "Temporary authentication failure");
        return;
    }
    (void)gw_users_scram_keys(job->users, job->sasl.user, job->sasl.user_len,
                              &keys);
    st = gw_sasl_scram_keys(&job->sasl, &keys, snonce, sizeof(snonce), chal,
                            sizeof(chal));
    mbedtls_platform_zeroize(&keys, sizeof(keys));
    gw_auth_progress(s, job, st, chal);
}

/* Acts on what gw_sasl said after the AUTH line or a response line. */
static void
gw_auth_progress(struct gw_session *s, struct gw_auth_job *job,
                 enum gw_sasl_status st, const char *chal)
{
    switch (st) {
    case GW_SASL_NEED_KEYS:
        gw_auth_scram_keys(s, job);
        return;
    case GW_SASL_CHALLENGE:
        gw_in_enter(s, GW_IN_AUTH);
        gw_session_reply(s, 334, "", chal);
        return;
    case GW_SASL_VERIFIED:
        gw_auth_succeeded(s, job); /* SCRAM: proven without a thread */
        return;
    case GW_SASL_E_PROOF:
        gw_auth_failed(s, job);
        return;
    case GW_SASL_DONE:
        break;
    case GW_SASL_E_CANCEL:
        gw_auth_abort(s, 501, "5.0.0", "Authentication cancelled");
        return;
    case GW_SASL_E_AUTHZID:
        gw_auth_failed(s, job);
        return;
    case GW_SASL_ERROR_ACK:
        /* the answer to a token's error challenge: counted already */
        gw_auth_abort_quiet(s, 535, "5.7.8",
                            "Authentication credentials invalid");
        return;
    default:
        gw_auth_abort(s, 501, "5.5.2",
                      "Cannot decode the authentication response");
        return;
    }
    gw_in_enter(s, GW_IN_AUTHWAIT);
    job->work.data = job;
    job->in_thread = true;
    if (uv_queue_work(&s->w->loop, &job->work, gw_auth_check,
                      gw_auth_after_check) != 0) {
        job->in_thread = false;
        gw_auth_abort(s, 454, "4.7.0", "Temporary authentication failure");
    }
}

void
gw_auth_command(struct gw_session *s, const struct gw_cmd *cmd)
{
    const struct gw_auth_cfg *a = gw_auth_cfg(s);
    const uint8_t *p = cmd->args;
    const uint8_t *end = cmd->args + cmd->args_len;
    const uint8_t *sp;
    struct gw_auth_job *job;
    enum gw_sasl_mech mech;
    char chal[GW_SASL_CHAL_MAX];
    enum gw_sasl_status st;

    if (!a->enabled) {
        gw_session_reply(s, 502, "5.5.1", "Command not implemented");
        gw_session_count_error(s);
        return;
    }
    if (!s->esmtp || s->auth_user != NULL) {
        gw_session_reply(s, 503, "5.5.1",
                         s->esmtp ? "Already authenticated"
                                  : "Send EHLO first: AUTH is an extension");
        gw_session_count_error(s);
        return;
    }
    if (!a->allow_plaintext && !gw_conn_tls_active(&s->client)) {
        gw_session_reply(s, 538, "5.7.11", "Encryption required for "
                         "requested authentication mechanism");
        gw_session_count_error(s);
        return;
    }
    if (a->block_after > 0 && s->w->authfail != NULL &&
        gw_authfail_count(s->w->authfail, &s->client_sa.sa, gw_now_ms(),
                          a->block_time_ms) >= a->block_after) {
        gw_log(GW_LOG_WARN, s->sid, "event=auth result=blocked");
        gw_session_reply_close(s, 421, "4.7.0", "Too many failed "
                               "authentication attempts, try again later",
                               "auth blocked");
        return;
    }
    sp = memchr(p, ' ', cmd->args_len);
    mech = gw_sasl_mech_parse(p, sp != NULL ? (size_t)(sp - p)
                                            : cmd->args_len);
    if (cmd->args_len == 0) {
        gw_session_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism "
                         "[initial-response]");
        gw_session_count_error(s);
        return;
    }
    if (mech == GW_SASL_NONE || (a->mechanisms & GW_SASL_MECH_BIT(mech)) == 0) {
        gw_session_reply(s, 504, "5.5.4", "Unrecognized authentication type");
        gw_session_count_error(s);
        return;
    }
    job = gw_calloc(1, sizeof(*job));
    if (job == NULL) {
        gw_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
        return;
    }
    job->s = s;
    job->cfg = s->cfg;
    gw_config_ref(job->cfg);
    job->users = a->users;
    job->tokens = a->tokens;
    s->auth_job = job;
    if (sp != NULL) {
        sp++;
        st = gw_sasl_start(&job->sasl, mech, sp, (size_t)(end - sp), chal,
                           sizeof(chal));
    } else {
        st = gw_sasl_start(&job->sasl, mech, NULL, 0, chal, sizeof(chal));
    }
    if (a->relay) {
        /* our parser only follows along, to learn the user name */
        gw_auth_relay_start(s, job, cmd);
        return;
    }
    gw_auth_progress(s, job, st, chal);
}

void
gw_auth_response(struct gw_session *s, const struct gw_line *line,
                 bool too_long)
{
    struct gw_auth_job *job = s->auth_job;
    char chal[GW_SASL_CHAL_MAX];
    enum gw_sasl_status st;

    if (job == NULL) { /* cannot happen: GW_IN_AUTH has a job */
        gw_in_enter(s, GW_IN_READY);
        return;
    }
    if (too_long ||
        (line->flags & (GW_LINE_NUL | GW_LINE_BARE_CR | GW_LINE_BARE_LF)) !=
            0) {
        if (job->relay && s->up != NULL) {
            gw_up_close(s->up, true); /* its exchange is left half-way */
            s->up = NULL;
        }
        if (too_long) {
            gw_auth_abort(s, 500, "5.5.6",
                          "Authentication Exchange line is too long");
        } else {
            gw_auth_abort(s, 501, "5.5.2",
                          "Cannot decode the authentication response");
        }
        return;
    }
    st = gw_sasl_step(&job->sasl, line->p, line->len, chal, sizeof(chal));
    if (job->relay) {
        gw_auth_relay_line(s, (const char *)line->p, line->len);
        return;
    }
    gw_auth_progress(s, job, st, chal);
}

bool
gw_auth_holds_upstream(const struct gw_session *s)
{
    return s->auth_user != NULL && gw_auth_cfg(s)->relay;
}

void
gw_auth_upstream_lost(struct gw_session *s)
{
    if (!gw_auth_holds_upstream(s)) {
        return;
    }
    /* the login was the upstream session's: without it the client is
     * not authenticated any more (auth.required answers 530 again) */
    gw_log(GW_LOG_WARN, s->sid, "event=auth result=lost "
           "reason=\"upstream session gone\"");
    mbedtls_platform_zeroize(s->auth_user, strlen(s->auth_user));
    gw_free(s->auth_user);
    s->auth_user = NULL;
    s->auth_mech = GW_SASL_NONE;
}
