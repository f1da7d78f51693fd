/*
 * The gateway's side of the policy engine: facts from a session, a
 * verdict per stage, the reply for a refusal, and the log line naming the
 * rule that decided. Stages wired: connect, helo, starttls, auth, mail,
 * rcpt, header, eom.
 */
#ifndef GW_POLICY_H
#define GW_POLICY_H

#include <stdbool.h>

#include "policy/policy.h"

struct gw_session;

/* Fills the facts every stage shares (client, listener, helo, counts). */
void gw_policy_facts(const struct gw_session *s, struct pol_facts *f);

/*
 * Evaluates `stage` when the session's ruleset has rules there (else
 * CONTINUE without looking). Logs every decision that is not CONTINUE or
 * ACCEPT with its rule, and applies what accumulates to the whole session
 * (require_tls). v and its buffer (buf, cap) are the caller's.
 */
enum pol_verdict_action gw_policy_eval(struct gw_session *s,
                                       enum pol_stage stage,
                                       const struct pol_facts *f,
                                       struct pol_verdict *v, char *buf,
                                       size_t cap);

/*
 * For REJECT, TEMPFAIL, DISCONNECT and ERROR: sends the reply (ERROR is
 * 451 4.3.0; DISCONNECT closes after it) and returns true. For CONTINUE
 * and ACCEPT: false, nothing sent. May close s (DISCONNECT).
 */
bool gw_policy_refuse(struct gw_session *s, const struct pol_verdict *v);

#endif
