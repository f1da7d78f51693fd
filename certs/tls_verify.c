/*
 * Verification and reasons: the certificate verify callback (pins), the
 * trust summary after a handshake, and every string certs/ hands back
 * (mbedtls_strerror is called here and nowhere else).
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "certs/tls_internal.h"

static bool tls_pin_listed(const struct tls_ctx *ctx,
                           const uint8_t pin[TLS_PIN_LEN]);
static void tls_verify_flags_text(uint32_t flags, char *dst, size_t cap);
static const char *tls_alert_name(int alert);

void
tls_err_set(struct tls_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return;
    }
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

void
tls_strerror(int ret, char *dst, size_t cap)
{
    char text[200];
    unsigned code = ret < 0 ? (unsigned)-ret : (unsigned)ret;

    mbedtls_strerror(ret, text, sizeof(text));
    snprintf(dst, cap, "%s (-0x%04x)", text, code);
}

/* Accepts the bare base64 of HPKP ("pin-sha256") and DANE tools, and
 * curl's "sha256//" prefix. The decoded value must be 32 bytes. */
int
tls_pin_parse(const char *text, uint8_t out[TLS_PIN_LEN])
{
    unsigned char buf[TLS_PIN_LEN + 3];
    size_t len = 0;

    if (strncmp(text, "sha256//", 8) == 0) {
        text += 8;
    }
    if (mbedtls_base64_decode(buf, sizeof(buf), &len,
                              (const unsigned char *)text, strlen(text)) != 0 ||
        len != TLS_PIN_LEN) {
        return TLS_E_INVAL;
    }
    memcpy(out, buf, TLS_PIN_LEN);
    return 0;
}

int
tls_pin_of_crt(const mbedtls_x509_crt *crt, uint8_t out[TLS_PIN_LEN])
{
    const unsigned char *spki;
    size_t len;

    tls_compat_crt_spki(crt, &spki, &len);
    if (spki == NULL || len == 0) {
        return TLS_E_INVAL;
    }
    if (mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), spki, len,
                   out) != 0) {
        return TLS_E_CRYPTO;
    }
    return 0;
}

static bool
tls_pin_listed(const struct tls_ctx *ctx, const uint8_t pin[TLS_PIN_LEN])
{
    size_t i;

    for (i = 0; i < ctx->npins; i++) {
        if (memcmp(ctx->pins[i], pin, TLS_PIN_LEN) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * The per-engine verify callback (mbedtls_ssl_set_verify). mbedTLS calls
 * it for each certificate of the chain it built, from the top down to the
 * leaf (depth 0), whether or not the chain verified. The leaf's key counts
 * in every mode: the peer proved it holds that key. A CA's key counts only
 * under `verify`, where a chain that does not verify fails anyway, so an
 * unverified chain can never satisfy a pin by naming a CA. An error
 * return fails the handshake even where verification is optional.
 */
int
tls_verify_on_cert(void *p_vrfy, mbedtls_x509_crt *crt, int depth,
                   uint32_t *flags)
{
    struct tls_engine *e = p_vrfy;
    const struct tls_ctx *ctx = e->ctx;
    uint8_t pin[TLS_PIN_LEN];
    size_t olen;

    (void)flags;
    if (ctx->npins == 0) {
        return 0;
    }
    if (depth != 0 && ctx->mode != TLS_CLIENT_VERIFY) {
        return 0;
    }
    if (tls_pin_of_crt(crt, pin) != 0) {
        return MBEDTLS_ERR_X509_FATAL_ERROR;
    }
    if (tls_pin_listed(ctx, pin)) {
        e->pin_matched = true;
    }
    if (depth == 0) {
        if (mbedtls_base64_encode((unsigned char *)e->peer_pin,
                                  sizeof(e->peer_pin), &olen, pin,
                                  sizeof(pin)) != 0) {
            e->peer_pin[0] = '\0';
        }
        if (!e->pin_matched) {
            e->pin_failed = true;
            return MBEDTLS_ERR_X509_FATAL_ERROR;
        }
    }
    return 0;
}

/* mbedtls_x509_crt_verify_info's lines, joined with "; ". */
static void
tls_verify_flags_text(uint32_t flags, char *dst, size_t cap)
{
    char text[512];
    const char *line = text;
    const char *nl;
    size_t used = 0;
    size_t len;
    int n;

    dst[0] = '\0';
    if (mbedtls_x509_crt_verify_info(text, sizeof(text), "", flags) < 0) {
        snprintf(dst, cap, "verification failed (flags 0x%08x)",
                 (unsigned)flags);
        return;
    }
    while (*line != '\0') {
        nl = strchr(line, '\n');
        len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        n = snprintf(dst + used, cap - used, "%s%.*s", used > 0 ? "; " : "",
                     (int)len, line);
        if (n < 0 || (size_t)n >= cap - used) {
            return; /* truncated: keep what fitted */
        }
        used += (size_t)n;
        line += len + (nl != NULL ? 1 : 0);
    }
}

void
tls_verify_done(struct tls_engine *e)
{
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&e->ssl);
    uint32_t flags = mbedtls_ssl_get_verify_result(&e->ssl);
    int n;

    e->verify_info[0] = '\0';
    e->subject[0] = '\0';
    if (peer == NULL) {
        e->trust = TLS_PEER_NONE;
        return;
    }
    n = mbedtls_x509_dn_gets(e->subject, sizeof(e->subject), &peer->subject);
    if (n < 0) {
        e->subject[0] = '\0';
    }
    if (flags == 0) {
        /* A server has no name to check in a client certificate. */
        e->trust = e->ctx->role == TLS_ROLE_SERVER || e->name_checked
                       ? TLS_PEER_VERIFIED
                       : TLS_PEER_TRUSTED;
        return;
    }
    if (flags == (uint32_t)-1) {
        e->trust = TLS_PEER_UNTRUSTED;
        snprintf(e->verify_info, sizeof(e->verify_info), "not verified");
        return;
    }
    e->trust = flags == MBEDTLS_X509_BADCERT_CN_MISMATCH ? TLS_PEER_TRUSTED
                                                         : TLS_PEER_UNTRUSTED;
    tls_verify_flags_text(flags, e->verify_info, sizeof(e->verify_info));
}

int
tls_engine_fail(struct tls_engine *e, const char *op, int ret)
{
    char why[256];
    char info[256];
    int alert;

    e->failed = true;
    if (e->pin_failed) {
        snprintf(e->reason, sizeof(e->reason),
                 "%s: certificate public key matches no pin_sha256 "
                 "(its pin is %s)",
                 op, e->peer_pin[0] != '\0' ? e->peer_pin : "unknown");
        return TLS_ERR;
    }
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        tls_verify_flags_text(mbedtls_ssl_get_verify_result(&e->ssl), info,
                              sizeof(info));
        snprintf(e->reason, sizeof(e->reason),
                 "%s: certificate verify failed: %s", op, info);
        return TLS_ERR;
    }
    tls_strerror(ret, why, sizeof(why));
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        alert = tls_compat_last_alert(&e->ssl);
        snprintf(e->reason, sizeof(e->reason),
                 "%s: peer sent fatal alert %d (%s)", op, alert,
                 tls_alert_name(alert));
        return TLS_ERR;
    }
    snprintf(e->reason, sizeof(e->reason), "%s: %s", op, why);
    return TLS_ERR;
}

/* RFC 5246 7.2 and RFC 8446 6 alert descriptions, for reasons. */
static const char *
tls_alert_name(int alert)
{
    switch (alert) {
    case 0:
        return "close_notify";
    case 10:
        return "unexpected_message";
    case 20:
        return "bad_record_mac";
    case 22:
        return "record_overflow";
    case 40:
        return "handshake_failure";
    case 42:
        return "bad_certificate";
    case 43:
        return "unsupported_certificate";
    case 44:
        return "certificate_revoked";
    case 45:
        return "certificate_expired";
    case 46:
        return "certificate_unknown";
    case 47:
        return "illegal_parameter";
    case 48:
        return "unknown_ca";
    case 49:
        return "access_denied";
    case 50:
        return "decode_error";
    case 51:
        return "decrypt_error";
    case 70:
        return "protocol_version";
    case 71:
        return "insufficient_security";
    case 80:
        return "internal_error";
    case 86:
        return "inappropriate_fallback";
    case 90:
        return "user_canceled";
    case 100:
        return "no_renegotiation";
    case 109:
        return "missing_extension";
    case 110:
        return "unsupported_extension";
    case 112:
        return "unrecognized_name";
    case 116:
        return "certificate_required";
    case 120:
        return "no_application_protocol";
    default:
        return "unknown alert";
    }
}
