/*
 * SMTP command parsing (RFC 5321 4.1): a command line into a verb and its
 * arguments, MAIL/RCPT paths (4.1.2) and ESMTP parameters (RFC 1869). Pure
 * functions over (p, len); nothing here allocates or touches a socket.
 */
#ifndef GW_SMTP_PARSE_H
#define GW_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gw_limits.h"
#include "gateway/gw_line.h"

#define GW_VERBS(X)                                                            \
    X(UNKNOWN)                                                                 \
    X(HELO)                                                                    \
    X(EHLO)                                                                    \
    X(MAIL)                                                                    \
    X(RCPT)                                                                    \
    X(DATA)                                                                    \
    X(BDAT)                                                                    \
    X(RSET)                                                                    \
    X(NOOP)                                                                    \
    X(QUIT)                                                                    \
    X(VRFY)                                                                    \
    X(EXPN)                                                                    \
    X(HELP)                                                                    \
    X(STARTTLS)                                                                \
    X(AUTH)                                                                    \
    X(XCLIENT)

#define GW_VERB_ENUM(name) GW_VERB_##name,
enum gw_verb { GW_VERBS(GW_VERB_ENUM) GW_VERB_COUNT };
#undef GW_VERB_ENUM

/* "MAIL", "RCPT", ... for logs. */
const char *gw_verb_name(enum gw_verb verb);

struct gw_cmd {
    enum gw_verb verb;
    const uint8_t *args; /* after the verb and its spaces; trailing spaces
                            removed; points into the line */
    size_t args_len;
};

/*
 * Splits a command line (without CRLF) into verb and arguments. Verbs are
 * case-insensitive. Returns GW_PARSE_OK (verb may be GW_VERB_UNKNOWN: a
 * known verb directly followed by anything but a space, as in "MAILX" or
 * "MAIL:", is not that verb) or GW_PARSE_INVALID when the line holds a
 * NUL, a CR or other control octet (HT is allowed).
 */
int gw_cmd_parse(const uint8_t *line, size_t len, struct gw_cmd *cmd);

/* A reverse- or forward-path with the angle brackets and any source route
 * removed (source routes are accepted and ignored, 4.1.2 / appendix C). */
struct gw_path {
    char addr[GW_MAX_PATH + 1]; /* "local@domain", NUL-terminated */
    size_t len;
    bool is_null;               /* "<>" */
    bool is_postmaster;         /* "<Postmaster>" without a domain */
    bool has_8bit;              /* UTF-8 octets present (SMTPUTF8) */
};

struct gw_param {
    const uint8_t *key; /* esmtp-keyword; points into the arguments */
    size_t key_len;
    const uint8_t *value; /* NULL when the keyword has no "=value" */
    size_t value_len;
};

struct gw_mail_args {
    struct gw_path path;
    struct gw_param params[GW_MAX_PARAMS];
    size_t nparams;
};

/* Why a path or parameter list was refused; text for the 501 reply. */
struct gw_parse_error {
    const char *why; /* static text */
    bool in_path;    /* the path itself was bad (5.1.7 / 5.1.3) */
};

/*
 * Parses the arguments of MAIL ("FROM:<path> params") or RCPT
 * ("TO:<path> params"). Whitespace after the colon is tolerated (widely
 * sent, though 4.1.1.2 has none). MAIL accepts "<>"; RCPT accepts
 * "<Postmaster>" (4.5.1). Returns GW_PARSE_OK or GW_PARSE_INVALID with
 * err->why set; a path over GW_MAX_PATH octets is GW_PARSE_TOOLONG.
 * More than GW_MAX_PARAMS parameters is GW_PARSE_INVALID.
 */
int gw_mail_parse(const uint8_t *args, size_t len, struct gw_mail_args *out,
                  struct gw_parse_error *err);
int gw_rcpt_parse(const uint8_t *args, size_t len, struct gw_mail_args *out,
                  struct gw_parse_error *err);

/*
 * EHLO/HELO argument: one token of printable ASCII (a domain or an address
 * literal, 4.1.1.1), at most GW_MAX_DOMAIN octets. Returns GW_PARSE_OK,
 * GW_PARSE_INVALID (missing, spaces, controls) or GW_PARSE_TOOLONG.
 */
int gw_helo_parse(const uint8_t *args, size_t len);

/* Is (p, len) xtext (RFC 3461 4): printable ASCII except '+' and '=',
 * with "+HH" (upper-case hex) escapes? Empty is not. */
bool gw_xtext_valid(const uint8_t *p, size_t len);

/* Finds a parameter by keyword (case-insensitive); NULL when absent. */
const struct gw_param *gw_param_find(const struct gw_mail_args *a,
                                     const char *key);

#endif
