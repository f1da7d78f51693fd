/*
 * SMTP AUTH on the client leg (RFC 4954): the AUTH command, the SASL
 * exchange (gw_sasl.h), the password check off the event loop (crypt(3)
 * in the libuv thread pool, gw_users.h), the auth policy stage, and the
 * answers: 235 2.7.0, or 535 5.7.8 after a delay that grows with the
 * client address's recent failures (gw_authfail.h).
 *
 * While an exchange runs the session is in GW_IN_AUTH (a line is the
 * client's answer, not a command) or GW_IN_AUTHWAIT (the check or the
 * delay runs; nothing is read). The state lives in a job that outlives
 * the session if the client goes away mid-check.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include "gateway/gw_line.h"
#include "gateway/gw_reply_parse.h"
#include "gateway/gw_smtp_parse.h"

struct gw_session;
struct gw_caps;

/* The AUTH mechanisms this session may be offered now (0: none); `up`
 * is the upstream's last known EHLO list (relay mode offers only what it
 * takes). */
unsigned gw_auth_offer(const struct gw_session *s, const struct gw_caps *up);

/* The AUTH command (the dispatcher allows it in READY only). */
void gw_auth_command(struct gw_session *s, const struct gw_cmd *cmd);

/* One line from the client in GW_IN_AUTH; `too_long`: it was cut. */
void gw_auth_response(struct gw_session *s, const struct gw_line *line,
                      bool too_long);

/* auth.mode: relay. The upstream became ready: sends the waiting AUTH
 * line; false when there was none (the caller goes on as usual). */
bool gw_auth_upstream_ready(struct gw_session *s);
/* The upstream's reply to a relayed AUTH line (334, 235, 535...). */
void gw_auth_upstream_reply(struct gw_session *s, const struct gw_reply *r);
/* The upstream failed: during a relayed exchange answers 454 4.7.0 and
 * returns true; false when no relayed exchange was pending. */
bool gw_auth_upstream_failed(struct gw_session *s);

/* auth.mode: relay and authenticated: the login lives on s->up, which
 * must not be swapped for another upstream session. */
bool gw_auth_holds_upstream(const struct gw_session *s);
/* The upstream session went away: a relayed login goes with it. */
void gw_auth_upstream_lost(struct gw_session *s);

/* The session ends or resets (STARTTLS): drops the exchange in flight
 * (a running check finishes in its thread and is then discarded) and the
 * authenticated identity. */
void gw_auth_reset(struct gw_session *s);

#endif
