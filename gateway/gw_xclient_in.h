/*
 * XCLIENT from a trusted client (listeners[].xclient_trusted): a proxy or
 * content filter in front of Postern names the real client (Postfix's
 * XCLIENT_README, the server side). Offered in EHLO to trusted clients
 * only; anyone else gets 550 5.7.0. The new identity is the client's for
 * logs, policy (the connect stage runs again), limits, the Received
 * header and XCLIENT towards the upstream; the session starts over with a
 * new 220 greeting.
 */
#ifndef GW_XCLIENT_IN_H
#define GW_XCLIENT_IN_H

#include <stdbool.h>

#include "gateway/gw_smtp_parse.h"

struct gw_session;

/* May this session send XCLIENT (decided from the connection's peer)? */
bool gw_xclient_in_allowed(const struct gw_session *s);

/* The XCLIENT command (legal outside a transaction). */
void gw_xclient_in_command(struct gw_session *s, const struct gw_cmd *cmd);

#endif
