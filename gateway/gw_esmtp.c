#include "gateway/gw_esmtp.h"

#include <stdio.h>
#include <string.h>

#include "gateway/gw_str.h"

static bool gw_esmtp_fail(struct gw_esmtp_error *err, int code,
                          const char *enh, const char *text);
static bool gw_esmtp_path_ok(const struct gw_path *path, bool smtputf8,
                             struct gw_esmtp_error *err);
static bool gw_esmtp_mail_param(const struct gw_param *prm,
                                const struct gw_caps *offered,
                                struct gw_mail_params *out,
                                struct gw_esmtp_error *err);
static bool gw_esmtp_notify(const uint8_t *p, size_t len, unsigned *out);
static bool gw_esmtp_orcpt(const uint8_t *p, size_t len);

static bool
gw_esmtp_fail(struct gw_esmtp_error *err, int code, const char *enh,
              const char *text)
{
    err->code = code;
    err->enh = enh;
    err->text = text;
    return false;
}

static bool
gw_esmtp_is(const struct gw_param *prm, const char *key)
{
    return gw_str_ieq(prm->key, prm->key_len, key);
}

static bool
gw_esmtp_same_key(const struct gw_param *a, const struct gw_param *b)
{
    size_t i;

    if (a->key_len != b->key_len) {
        return false;
    }
    for (i = 0; i < a->key_len; i++) {
        if (gw_to_upper(a->key[i]) != gw_to_upper(b->key[i])) {
            return false;
        }
    }
    return true;
}

static bool
gw_esmtp_value_is(const struct gw_param *prm, const char *word)
{
    return prm->value != NULL && gw_str_ieq(prm->value, prm->value_len, word);
}

/* A non-ASCII path needs SMTPUTF8 on MAIL and must be valid UTF-8. */
static bool
gw_esmtp_path_ok(const struct gw_path *path, bool smtputf8,
                 struct gw_esmtp_error *err)
{
    if (!path->has_8bit) {
        return true;
    }
    if (!smtputf8) {
        return gw_esmtp_fail(err, 553, "5.6.7",
                             "Non-ASCII address needs SMTPUTF8");
    }
    if (!gw_utf8_valid((const uint8_t *)path->addr, path->len)) {
        return gw_esmtp_fail(err, 553, "5.6.7", "Address is not valid UTF-8");
    }
    return true;
}

bool
gw_esmtp_mail_check(const struct gw_mail_args *a,
                    const struct gw_caps *offered, uint64_t size_limit,
                    struct gw_mail_params *out, struct gw_esmtp_error *err)
{
    size_t i;
    size_t k;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    for (i = 0; i < a->nparams; i++) {
        for (k = 0; k < i; k++) {
            if (gw_esmtp_same_key(&a->params[k], &a->params[i])) {
                /* each keyword once (RFC 1869 6) */
                return gw_esmtp_fail(err, 501, "5.5.4",
                                     "Duplicate MAIL parameter");
            }
        }
        if (!gw_esmtp_mail_param(&a->params[i], offered, out, err)) {
            return false;
        }
    }
    if (!gw_esmtp_path_ok(&a->path, out->smtputf8, err)) {
        return false;
    }
    if (size_limit > 0 && out->size > size_limit) {
        return gw_esmtp_fail(err, 552, "5.3.4",
                             "Message size exceeds fixed maximum message "
                             "size");
    }
    return true;
}

static bool
gw_esmtp_mail_param(const struct gw_param *prm, const struct gw_caps *offered,
                    struct gw_mail_params *out, struct gw_esmtp_error *err)
{
    static const char not_offered[] = "Unsupported MAIL parameter";

    if (gw_esmtp_is(prm, "SIZE") && gw_caps_has(offered, GW_CAP_SIZE)) {
        if (prm->value == NULL ||
            !gw_str_to_u64(prm->value, prm->value_len, &out->size)) {
            return gw_esmtp_fail(err, 501, "5.5.4", "Bad SIZE value");
        }
        return true;
    }
    if (gw_esmtp_is(prm, "BODY") && gw_caps_has(offered, GW_CAP_8BITMIME)) {
        if (gw_esmtp_value_is(prm, "7BIT")) {
            out->body = GW_BODY_TYPE_7BIT;
        } else if (gw_esmtp_value_is(prm, "8BITMIME")) {
            out->body = GW_BODY_TYPE_8BITMIME;
        } else if (gw_esmtp_value_is(prm, "BINARYMIME") &&
                   gw_caps_has(offered, GW_CAP_BINARYMIME)) {
            out->body = GW_BODY_TYPE_BINARYMIME;
        } else {
            return gw_esmtp_fail(err, 501, "5.5.4", "Bad BODY value");
        }
        return true;
    }
    if (gw_esmtp_is(prm, "SMTPUTF8") && gw_caps_has(offered, GW_CAP_SMTPUTF8)) {
        if (prm->value != NULL) {
            return gw_esmtp_fail(err, 501, "5.5.4", "SMTPUTF8 takes no value");
        }
        out->smtputf8 = true;
        return true;
    }
    if (gw_esmtp_is(prm, "RET") && gw_caps_has(offered, GW_CAP_DSN)) {
        if (gw_esmtp_value_is(prm, "FULL")) {
            out->ret = GW_RET_FULL;
        } else if (gw_esmtp_value_is(prm, "HDRS")) {
            out->ret = GW_RET_HDRS;
        } else {
            return gw_esmtp_fail(err, 501, "5.5.4", "Bad RET value");
        }
        return true;
    }
    if (gw_esmtp_is(prm, "ENVID") && gw_caps_has(offered, GW_CAP_DSN)) {
        if (prm->value == NULL || prm->value_len > GW_ENVID_MAX ||
            !gw_xtext_valid(prm->value, prm->value_len)) {
            return gw_esmtp_fail(err, 501, "5.5.4", "Bad ENVID value");
        }
        memcpy(out->envid, prm->value, prm->value_len);
        out->envid[prm->value_len] = '\0';
        return true;
    }
    if (gw_esmtp_is(prm, "REQUIRETLS") &&
        gw_caps_has(offered, GW_CAP_REQUIRETLS)) {
        if (prm->value != NULL) {
            return gw_esmtp_fail(err, 501, "5.5.4",
                                 "REQUIRETLS takes no value");
        }
        out->requiretls = true;
        return true;
    }
    if (gw_esmtp_is(prm, "AUTH") && gw_caps_has(offered, GW_CAP_AUTH)) {
        /* RFC 4954 5: accepted and checked, never relayed (Postern does
         * not vouch for a submitter the upstream cannot check). */
        if (prm->value == NULL || prm->value_len > GW_AUTH_PARAM_MAX ||
            !gw_xtext_valid(prm->value, prm->value_len)) {
            return gw_esmtp_fail(err, 501, "5.5.4", "Bad AUTH value");
        }
        return true;
    }
    return gw_esmtp_fail(err, 555, "5.5.4", not_offered);
}

bool
gw_esmtp_rcpt_check(const struct gw_mail_args *a,
                    const struct gw_caps *offered, bool smtputf8,
                    struct gw_rcpt_params *out, struct gw_esmtp_error *err)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    for (i = 0; i < a->nparams; i++) {
        const struct gw_param *prm = &a->params[i];

        if (!gw_caps_has(offered, GW_CAP_DSN)) {
            return gw_esmtp_fail(err, 555, "5.5.4",
                                 "Unsupported RCPT parameter");
        }
        if (gw_esmtp_is(prm, "NOTIFY") && out->notify == 0) {
            if (prm->value == NULL ||
                !gw_esmtp_notify(prm->value, prm->value_len, &out->notify)) {
                return gw_esmtp_fail(err, 501, "5.5.4", "Bad NOTIFY value");
            }
        } else if (gw_esmtp_is(prm, "ORCPT") && out->orcpt[0] == '\0') {
            if (prm->value == NULL || prm->value_len > GW_ORCPT_MAX ||
                !gw_esmtp_orcpt(prm->value, prm->value_len)) {
                return gw_esmtp_fail(err, 501, "5.5.4", "Bad ORCPT value");
            }
            memcpy(out->orcpt, prm->value, prm->value_len);
            out->orcpt[prm->value_len] = '\0';
        } else {
            return gw_esmtp_fail(err, 555, "5.5.4",
                                 "Unsupported or repeated RCPT parameter");
        }
    }
    return gw_esmtp_path_ok(&a->path, smtputf8, err);
}

/* NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) */
static bool
gw_esmtp_notify(const uint8_t *p, size_t len, unsigned *out)
{
    size_t start = 0;
    size_t i;
    unsigned bits = 0;

    if (gw_str_ieq(p, len, "NEVER")) {
        *out = GW_NOTIFY_NEVER;
        return true;
    }
    for (i = 0; i <= len; i++) {
        unsigned bit;

        if (i < len && p[i] != ',') {
            continue;
        }
        if (gw_str_ieq(p + start, i - start, "SUCCESS")) {
            bit = GW_NOTIFY_SUCCESS;
        } else if (gw_str_ieq(p + start, i - start, "FAILURE")) {
            bit = GW_NOTIFY_FAILURE;
        } else if (gw_str_ieq(p + start, i - start, "DELAY")) {
            bit = GW_NOTIFY_DELAY;
        } else {
            return false;
        }
        if ((bits & bit) != 0) {
            return false;
        }
        bits |= bit;
        start = i + 1;
    }
    *out = bits;
    return true;
}

/* ORCPT = addr-type ";" xtext; addr-type is an atom ("rfc822", "utf-8"). */
static bool
gw_esmtp_orcpt(const uint8_t *p, size_t len)
{
    const uint8_t *semi = memchr(p, ';', len);
    size_t tlen;
    size_t i;

    if (semi == NULL || semi == p) {
        return false;
    }
    tlen = (size_t)(semi - p);
    for (i = 0; i < tlen; i++) {
        if (!gw_is_alpha(p[i]) && !gw_is_digit(p[i]) && p[i] != '-') {
            return false;
        }
    }
    return gw_xtext_valid(semi + 1, len - tlen - 1);
}

size_t
gw_esmtp_mail_line(char *dst, size_t cap, const struct gw_path *path,
                   const struct gw_mail_params *p,
                   const struct gw_caps *upstream)
{
    int n;
    size_t o;

    n = snprintf(dst, cap, "MAIL FROM:<%s>", path->addr);
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    o = (size_t)n;
#define GW_ESMTP_ADD(...)                                                      \
    do {                                                                       \
        n = snprintf(dst + o, cap - o, __VA_ARGS__);                           \
        if (n < 0 || (size_t)n >= cap - o) {                                   \
            return 0;                                                          \
        }                                                                      \
        o += (size_t)n;                                                        \
    } while (0)
    if (p->size > 0 && gw_caps_has(upstream, GW_CAP_SIZE)) {
        GW_ESMTP_ADD(" SIZE=%llu", (unsigned long long)p->size);
    }
    if (p->body == GW_BODY_TYPE_8BITMIME &&
        gw_caps_has(upstream, GW_CAP_8BITMIME)) {
        GW_ESMTP_ADD(" BODY=8BITMIME");
    } else if (p->body == GW_BODY_TYPE_7BIT &&
               gw_caps_has(upstream, GW_CAP_8BITMIME)) {
        GW_ESMTP_ADD(" BODY=7BIT");
    } else if (p->body == GW_BODY_TYPE_BINARYMIME) {
        GW_ESMTP_ADD(" BODY=BINARYMIME");
    }
    if (p->smtputf8) {
        GW_ESMTP_ADD(" SMTPUTF8");
    }
    if (p->requiretls) {
        GW_ESMTP_ADD(" REQUIRETLS"); /* offered only when the upstream has it */
    }
    /* DSN's only where the upstream has DSN: a rule may have routed the
     * transaction to one that lacks it (the session's route had it) */
    if (p->ret != GW_RET_NONE && gw_caps_has(upstream, GW_CAP_DSN)) {
        GW_ESMTP_ADD(" RET=%s", p->ret == GW_RET_FULL ? "FULL" : "HDRS");
    }
    if (p->envid[0] != '\0' && gw_caps_has(upstream, GW_CAP_DSN)) {
        GW_ESMTP_ADD(" ENVID=%s", p->envid);
    }
    return o;
}

size_t
gw_esmtp_rcpt_line(char *dst, size_t cap, const struct gw_path *path,
                   const struct gw_rcpt_params *p,
                   const struct gw_caps *upstream)
{
    int n;
    size_t o;

    n = snprintf(dst, cap, "RCPT TO:<%s>", path->addr);
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    o = (size_t)n;
    if (!gw_caps_has(upstream, GW_CAP_DSN)) {
        return o; /* routed to an upstream without DSN, as for MAIL */
    }
    if (p->notify == GW_NOTIFY_NEVER) {
        GW_ESMTP_ADD(" NOTIFY=NEVER");
    } else if (p->notify != 0) {
        const char *sep = "";

        GW_ESMTP_ADD(" NOTIFY=");
        if ((p->notify & GW_NOTIFY_SUCCESS) != 0) {
            GW_ESMTP_ADD("%sSUCCESS", sep);
            sep = ",";
        }
        if ((p->notify & GW_NOTIFY_FAILURE) != 0) {
            GW_ESMTP_ADD("%sFAILURE", sep);
            sep = ",";
        }
        if ((p->notify & GW_NOTIFY_DELAY) != 0) {
            GW_ESMTP_ADD("%sDELAY", sep);
        }
    }
    if (p->orcpt[0] != '\0') {
        GW_ESMTP_ADD(" ORCPT=%s", p->orcpt);
    }
    return o;
#undef GW_ESMTP_ADD
}
