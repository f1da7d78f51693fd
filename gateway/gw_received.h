/*
 * The Received: header Postern adds at the top of each message (RFC 5321
 * 4.4; the "with" keyword per RFC 3848: SMTP, ESMTP, ESMTPS, ESMTPSA).
 * Pure: every value is sanitised here, so nothing a client sent can break
 * the header's syntax or add a line to it.
 */
#ifndef GW_RECEIVED_H
#define GW_RECEIVED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct gw_received {
    const char *helo;        /* as the client sent it (NULL: none) */
    const char *client_ip;   /* "192.0.2.1" or "2001:db8::1" */
    const char *hostname;    /* ours */
    const char *with;        /* "ESMTPS" */
    const char *id;          /* the session id */
    const char *tls_version; /* NULL or "" without TLS */
    const char *tls_cipher;
    const char *for_rcpt;    /* the only recipient, or NULL */
    time_t when;
};

/*
 * The trace header for upstreams that take no XCLIENT (upstreams[].
 * trace_header): "NAME: addr=IP; port=N; helo=H; tls=V; cipher=C;
 * auth=U", folded, values sanitised like the Received header's ("none"
 * for no TLS or no AUTH). Returns its length, or 0 when it does not fit.
 */
size_t gw_trace_format(char *dst, size_t cap, const char *name,
                       const struct gw_received *r, unsigned port,
                       const char *auth_user);

/* The "with" protocol name (RFC 3848): SMTP or ESMTP, then S for TLS and
 * A for AUTH (ESMTPSA); HELO sessions cannot AUTH. */
const char *gw_received_with(bool esmtp, bool tls, bool auth);

/* Writes the header, folded, ending in CRLF. Returns its length, or 0 when
 * it does not fit cap. */
size_t gw_received_format(char *dst, size_t cap, const struct gw_received *r);

#endif
