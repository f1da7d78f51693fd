/*
 * ESMTP parameters of MAIL and RCPT: checked against what this session was
 * offered (a parameter of an extension not offered is 555 5.5.4, RFC 5321
 * 4.1.1.11), and the command line rebuilt for the upstream with only the
 * parameters it offers. Pure functions: unit-tested as tables.
 *
 * Parameters: SIZE (RFC 1870), BODY=7BIT|8BITMIME (RFC 6152) and
 * BINARYMIME (RFC 3030), SMTPUTF8 (RFC 6531), RET/ENVID and NOTIFY/ORCPT
 * (DSN, RFC 3461), AUTH= (RFC 4954 5: checked, not relayed), REQUIRETLS
 * (RFC 8689).
 */
#ifndef GW_ESMTP_H
#define GW_ESMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gw_caps.h"
#include "gateway/gw_smtp_parse.h"

#define GW_ENVID_MAX 100 /* RFC 3461 4.4 */
#define GW_ORCPT_MAX 500 /* RFC 3461 4.2 */
#define GW_AUTH_PARAM_MAX 500 /* MAIL AUTH=<mailbox> as xtext (RFC 4954 5) */

enum gw_body_type {
    GW_BODY_TYPE_NONE = 0, /* no BODY= (7-bit by default) */
    GW_BODY_TYPE_7BIT,
    GW_BODY_TYPE_8BITMIME,
    GW_BODY_TYPE_BINARYMIME,
};

enum gw_dsn_ret { GW_RET_NONE = 0, GW_RET_FULL, GW_RET_HDRS };

#define GW_NOTIFY_NEVER 0x1u
#define GW_NOTIFY_SUCCESS 0x2u
#define GW_NOTIFY_FAILURE 0x4u
#define GW_NOTIFY_DELAY 0x8u

struct gw_mail_params {
    uint64_t size;          /* SIZE=, 0 when absent */
    enum gw_body_type body;
    bool smtputf8;
    bool requiretls;        /* REQUIRETLS (RFC 8689) */
    enum gw_dsn_ret ret;
    char envid[GW_ENVID_MAX + 1]; /* xtext as received, "" when absent */
};

struct gw_rcpt_params {
    unsigned notify;        /* GW_NOTIFY_* bits, 0 when absent */
    char orcpt[GW_ORCPT_MAX + 1]; /* "addr-type;xtext", "" when absent */
};

/* A refusal: the reply the client gets. */
struct gw_esmtp_error {
    int code;
    const char *enh;
    const char *text;
};

/*
 * Checks MAIL's path and parameters. `offered` is what this session's EHLO
 * offered (HELO sessions: no flags, so every parameter is 555). Returns
 * true with `out` filled, or false with `err` set (501 syntax, 555 not
 * offered, 553 5.6.7 non-ASCII without SMTPUTF8, 552 5.3.4 over
 * size_limit).
 */
bool gw_esmtp_mail_check(const struct gw_mail_args *a,
                         const struct gw_caps *offered, uint64_t size_limit,
                         struct gw_mail_params *out,
                         struct gw_esmtp_error *err);

/* Same for RCPT; `smtputf8` says whether MAIL carried SMTPUTF8. */
bool gw_esmtp_rcpt_check(const struct gw_mail_args *a,
                         const struct gw_caps *offered, bool smtputf8,
                         struct gw_rcpt_params *out,
                         struct gw_esmtp_error *err);

/*
 * The lines for the upstream: "MAIL FROM:<path>" / "RCPT TO:<path>" and the
 * parameters the upstream offers (a parameter it lacks is dropped only
 * where that is harmless: SIZE, and BODY=8BITMIME under ehlo.eightbit
 * pass; the rest were never offered to the client without it). Returns
 * the length, 0 when it does not fit.
 */
size_t gw_esmtp_mail_line(char *dst, size_t cap, const struct gw_path *path,
                          const struct gw_mail_params *p,
                          const struct gw_caps *upstream);
size_t gw_esmtp_rcpt_line(char *dst, size_t cap, const struct gw_path *path,
                          const struct gw_rcpt_params *p,
                          const struct gw_caps *upstream);

#endif
