/*
 * postern --simulate (in the spirit of exim -bh): runs an SMTP dialogue
 * read from a file (or stdin) through the real session code with the
 * given config, against a built-in upstream that accepts everything, and
 * prints each command, Postern's reply, and every policy decision with
 * the rule that made it. Nothing leaves the machine: the listener and the
 * mock upstream are on 127.0.0.1 ephemeral ports.
 *
 * The dialogue: one command per line; after a DATA line, the message
 * lines up to a line holding only "." (dot-stuffed as on the wire).
 * STARTTLS, AUTH and BDAT are not simulated.
 */
#ifndef GW_SIMULATE_H
#define GW_SIMULATE_H

#include <stdio.h>

#include "gateway/gw_config.h"

/* Takes over cfg. client: the address to pretend to be (NULL: 127.0.0.1);
 * listener: the name of the listener the session arrives on (NULL: the
 * first). Returns the exit status. */
int gw_simulate_run(struct gw_config *cfg, const char *client,
                    const char *listener, FILE *in, FILE *out);

#endif
