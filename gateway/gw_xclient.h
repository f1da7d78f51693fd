/*
 * The client's identity for the upstream: Postfix's XCLIENT (the upstream
 * then treats the session as if the client had connected to it) and
 * XFORWARD (the upstream logs the client with the next transaction).
 * Pure: the command lines are built here from an identity and the
 * attribute names the upstream listed in its EHLO reply; values are
 * xtext-encoded (RFC 3461 4), unknown ones sent as [UNAVAILABLE].
 */
#ifndef GW_XCLIENT_H
#define GW_XCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Attribute flags, for both commands (each uses its own subset). */
#define GW_XATTR_NAME 0x001u
#define GW_XATTR_ADDR 0x002u
#define GW_XATTR_PORT 0x004u
#define GW_XATTR_PROTO 0x008u
#define GW_XATTR_HELO 0x010u
#define GW_XATTR_LOGIN 0x020u    /* XCLIENT only */
#define GW_XATTR_DESTADDR 0x040u /* XCLIENT only */
#define GW_XATTR_DESTPORT 0x080u /* XCLIENT only */
#define GW_XATTR_SOURCE 0x100u   /* XFORWARD only: LOCAL or REMOTE */

/* Postfix limits a command line to 512 octets; longer identities are
 * split over several commands. */
#define GW_XCLIENT_LINE_MAX 512
#define GW_XCLIENT_MAX_LINES 4

enum gw_ident_cmd {
    GW_IDENT_XCLIENT = 0,
    GW_IDENT_XFORWARD,
};

struct gw_client_identity {
    const struct sockaddr *client; /* ADDR, PORT */
    const struct sockaddr *local;  /* DESTADDR, DESTPORT (NULL: unknown) */
    const char *helo;              /* NULL: none yet */
    bool esmtp;                    /* PROTO=ESMTP (else SMTP) */
    const char *login;             /* NULL: not authenticated */
};

/* The flags of the attribute names in an EHLO keyword's parameters
 * ("XCLIENT NAME ADDR PORT ..."), unknown names ignored. */
unsigned gw_xattr_parse(const uint8_t *params, size_t len);

struct gw_ident_lines {
    size_t n;
    char line[GW_XCLIENT_MAX_LINES][GW_XCLIENT_LINE_MAX + 1];
};

/*
 * Builds the XCLIENT or XFORWARD lines (without CRLF) for the attributes
 * in `offered` that the command knows. Returns false when there is
 * nothing to send.
 */
bool gw_ident_build(enum gw_ident_cmd cmd, unsigned offered,
                    const struct gw_client_identity *id,
                    struct gw_ident_lines *out);

/* Decodes xtext (RFC 3461 4: "+HH" for an octet) into dst, NUL-terminated;
 * false on bad xtext, a NUL octet, or no room. */
bool gw_xtext_decode(char *dst, size_t cap, const uint8_t *p, size_t len);

/* xtext-encodes (RFC 3461 4) p into dst (NUL-terminated); false when it
 * does not fit. */
bool gw_xtext_encode(char *dst, size_t cap, const uint8_t *p, size_t len);

#endif
