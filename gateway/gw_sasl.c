#include "gateway/gw_sasl.h"

#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>

#include "gateway/gw_str.h"

/* The longest decoded message: a bearer token and its framing. */
#define GW_SASL_DECODED_MAX (GW_SASL_TOKEN_MAX + 2 * GW_SASL_USER_MAX + 64)

/* LOGIN's challenges, "Username:" and "Password:" in base64. */
#define GW_SASL_LOGIN_USER "VXNlcm5hbWU6"
#define GW_SASL_LOGIN_PASS "UGFzc3dvcmQ6"

static bool gw_sasl_take(char *dst, size_t max, size_t *dst_len,
                         const uint8_t *p, size_t len);

static bool
gw_base64_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Does encoding (p, n) give back exactly (b64, len)? */
static bool
gw_base64_canonical(const uint8_t *b64, size_t len, const uint8_t *p, size_t n)
{
    char chunk[5];
    size_t i;

    for (i = 0; i < n; i += 3) {
        size_t take = n - i < 3 ? n - i : 3;

        if (!gw_base64_encode(chunk, sizeof(chunk), p + i, take) ||
            memcmp(chunk, b64 + (i / 3) * 4, 4) != 0) {
            return false;
        }
    }
    return (n + 2) / 3 * 4 == len;
}

bool
gw_base64_decode(uint8_t *dst, size_t cap, size_t *out_len,
                 const uint8_t *src, size_t len)
{
    size_t i;
    size_t pad = 0;

    *out_len = 0;
    if (len % 4 != 0) {
        return false;
    }
    if (len > 0 && src[len - 1] == '=') {
        pad = (len > 1 && src[len - 2] == '=') ? 2 : 1;
    }
    for (i = 0; i < len - pad; i++) {
        if (!gw_base64_char(src[i])) {
            return false; /* no whitespace, no '=' in the middle */
        }
    }
    if (len == 0) {
        return true;
    }
    if (mbedtls_base64_decode(dst, cap, out_len, src, len) != 0) {
        return false;
    }
    /* mbedTLS ignores the padding bits ("QR==" reads as "QQ=="): only
     * the canonical encoding of the result is accepted */
    return gw_base64_canonical(src, len, dst, *out_len);
}

bool
gw_base64_encode(char *dst, size_t cap, const uint8_t *src, size_t len)
{
    size_t olen = 0;

    if (cap == 0) {
        return false;
    }
    dst[0] = '\0';
    if (len == 0) {
        return true;
    }
    /* mbedTLS writes the NUL and counts it in cap, not in olen */
    return mbedtls_base64_encode((unsigned char *)dst, cap, &olen, src, len) ==
           0;
}

enum gw_sasl_mech
gw_sasl_mech_parse(const uint8_t *name, size_t len)
{
    if (gw_str_ieq(name, len, "PLAIN")) {
        return GW_SASL_PLAIN;
    }
    if (gw_str_ieq(name, len, "LOGIN")) {
        return GW_SASL_LOGIN;
    }
    if (gw_str_ieq(name, len, "OAUTHBEARER")) {
        return GW_SASL_OAUTHBEARER;
    }
    if (gw_str_ieq(name, len, "XOAUTH2")) {
        return GW_SASL_XOAUTH2;
    }
    if (gw_str_ieq(name, len, "SCRAM-SHA-256")) {
        return GW_SASL_SCRAM_SHA256;
    }
    return GW_SASL_NONE;
}

const char *
gw_sasl_mech_name(enum gw_sasl_mech m)
{
    switch (m) {
    case GW_SASL_PLAIN:
        return "PLAIN";
    case GW_SASL_LOGIN:
        return "LOGIN";
    case GW_SASL_OAUTHBEARER:
        return "OAUTHBEARER";
    case GW_SASL_XOAUTH2:
        return "XOAUTH2";
    case GW_SASL_SCRAM_SHA256:
        return "SCRAM-SHA-256";
    default:
        return "NONE";
    }
}

void
gw_sasl_wipe(struct gw_sasl *x)
{
    mbedtls_platform_zeroize(x, sizeof(*x));
}

void
gw_sasl_wipe_pass(struct gw_sasl *x)
{
    mbedtls_platform_zeroize(x->pass, sizeof(x->pass));
    x->pass_len = 0;
    mbedtls_platform_zeroize(x->token, sizeof(x->token));
    x->token_len = 0;
}

void
gw_sasl_token_error(struct gw_sasl *x, char *chal, size_t cap)
{
    static const char json[] = "{\"status\":\"invalid_token\","
                               "\"schemes\":\"bearer\"}";

    x->error_sent = true;
    if (!gw_base64_encode(chal, cap, (const uint8_t *)json,
                          sizeof(json) - 1)) {
        chal[0] = '\0';
    }
}

/* "Bearer <token>" (the scheme is case-insensitive, RFC 6750 2.1). */
static bool
gw_sasl_bearer(struct gw_sasl *x, const uint8_t *v, size_t len)
{
    size_t i;

    if (len < 8 || !gw_str_iprefix(v, len, "Bearer ") ||
        len - 7 > GW_SASL_TOKEN_MAX) {
        return false;
    }
    for (i = 7; i < len; i++) { /* RFC 6750 2.1 b64token */
        uint8_t c = v[i];

        if (!gw_base64_char(c) && c != '-' && c != '.' && c != '_' &&
            c != '~' && c != '=') {
            return false; /* nothing a token command could misread */
        }
    }
    memcpy(x->token, v + 7, len - 7);
    x->token[len - 7] = '\0';
    x->token_len = len - 7;
    return x->token_len > 0;
}

/* The kvpairs after the GS2 header: key=value^A ... ^A. Takes "auth"
 * (XOAUTH2 also "user"); other keys (host, port) are ignored. */
static enum gw_sasl_status
gw_sasl_kvpairs(struct gw_sasl *x, const uint8_t *p, size_t len, bool xoauth2)
{
    bool have_auth = false;
    size_t i = 0;

    while (i < len && p[i] != 0x01) {
        const uint8_t *end = memchr(p + i, 0x01, len - i);
        const uint8_t *eq;
        size_t n;

        if (end == NULL) {
            return GW_SASL_E_SYNTAX;
        }
        n = (size_t)(end - (p + i));
        eq = memchr(p + i, '=', n);
        if (eq == NULL) {
            return GW_SASL_E_SYNTAX;
        }
        if (gw_str_ieq(p + i, (size_t)(eq - (p + i)), "auth")) {
            if (!gw_sasl_bearer(x, eq + 1, (size_t)(end - eq - 1))) {
                return GW_SASL_E_SYNTAX;
            }
            have_auth = true;
        } else if (xoauth2 &&
                   gw_str_ieq(p + i, (size_t)(eq - (p + i)), "user")) {
            if (!gw_sasl_take(x->user, GW_SASL_USER_MAX, &x->user_len, eq + 1,
                              (size_t)(end - eq - 1))) {
                return GW_SASL_E_SYNTAX;
            }
        }
        i += n + 1;
    }
    /* the final ^A ends the message: nothing may follow it */
    if (!have_auth || i + 1 != len) {
        return GW_SASL_E_SYNTAX;
    }
    return GW_SASL_DONE;
}

/* RFC 7628 3.1: "n,a=user," (or "n,,") ^A kvpairs ^A; the authzid names
 * the user, "=2C" and "=3D" decoded (RFC 5801 4). */
static enum gw_sasl_status
gw_sasl_oauthbearer(struct gw_sasl *x, const uint8_t *msg, size_t len)
{
    const uint8_t *comma;
    size_t o = 0;

    if (len < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
        return GW_SASL_E_SYNTAX; /* "p=": channel binding is not offered */
    }
    comma = memchr(msg + 2, ',', len - 2);
    if (comma == NULL || (size_t)(comma - msg) + 1 >= len ||
        comma[1] != 0x01) {
        return GW_SASL_E_SYNTAX;
    }
    if (comma > msg + 2) {
        const uint8_t *p = msg + 4;

        if (comma - msg < 5 || msg[2] != 'a' || msg[3] != '=') {
            return GW_SASL_E_SYNTAX;
        }
        while (p < comma) {
            uint8_t c = *p++;

            if (c == '=') {
                if (comma - p < 2) {
                    return GW_SASL_E_SYNTAX;
                }
                if (p[0] == '2' && p[1] == 'C') {
                    c = ',';
                } else if (p[0] == '3' && p[1] == 'D') {
                    c = '=';
                } else {
                    return GW_SASL_E_SYNTAX;
                }
                p += 2;
            }
            if (o == GW_SASL_USER_MAX || c == 0) {
                return GW_SASL_E_SYNTAX;
            }
            x->user[o++] = (char)c;
        }
        x->user[o] = '\0';
        x->user_len = o;
    }
    return gw_sasl_kvpairs(x, comma + 2, len - (size_t)(comma + 2 - msg),
                           false);
}

static void
gw_sasl_challenge(char *chal, size_t cap, const char *text)
{
    size_t n = strlen(text);

    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(chal, text, n);
    chal[n] = '\0';
}

/* Copies one credential (1..max octets, no NUL inside) into dst. */
static bool
gw_sasl_take(char *dst, size_t max, size_t *dst_len, const uint8_t *p,
             size_t len)
{
    if (len == 0 || len > max || memchr(p, 0, len) != NULL) {
        return false;
    }
    memcpy(dst, p, len);
    dst[len] = '\0';
    *dst_len = len;
    return true;
}

/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static enum gw_sasl_status
gw_sasl_plain(struct gw_sasl *x, const uint8_t *msg, size_t len)
{
    const uint8_t *nul1 = memchr(msg, 0, len);
    const uint8_t *nul2;
    const uint8_t *authcid;
    size_t zlen;

    if (nul1 == NULL) {
        return GW_SASL_E_SYNTAX;
    }
    zlen = (size_t)(nul1 - msg);
    authcid = nul1 + 1;
    nul2 = memchr(authcid, 0, len - zlen - 1);
    if (nul2 == NULL ||
        !gw_sasl_take(x->user, GW_SASL_USER_MAX, &x->user_len, authcid,
                      (size_t)(nul2 - authcid)) ||
        !gw_sasl_take(x->pass, GW_SASL_PASS_MAX, &x->pass_len, nul2 + 1,
                      len - (size_t)(nul2 + 1 - msg)) ||
        zlen > GW_SASL_USER_MAX) {
        return GW_SASL_E_SYNTAX;
    }
    /* Acting as another identity (proxy authorization) is not offered. */
    if (zlen != 0 && (zlen != x->user_len || memcmp(msg, x->user, zlen) != 0)) {
        return GW_SASL_E_AUTHZID;
    }
    return GW_SASL_DONE;
}

static enum gw_sasl_status
gw_sasl_scram_status(enum gw_scram_rc rc)
{
    switch (rc) {
    case GW_SCRAM_E_AUTHZID:
        return GW_SASL_E_AUTHZID;
    case GW_SCRAM_E_PROOF:
        return GW_SASL_E_PROOF;
    default:
        return GW_SASL_E_SYNTAX; /* malformed, channel binding, a nonce or
                                    c= that is not ours */
    }
}

/* SCRAM's steps: 0 client-first (then the caller's keys), 1 client-final
 * (our server-final goes as a challenge, RFC 4954 4), 2 the client's
 * empty answer to it. */
static enum gw_sasl_status
gw_sasl_scram(struct gw_sasl *x, const uint8_t *msg, size_t len, char *chal,
              size_t cap)
{
    char final[GW_SCRAM_SERVER_FINAL_LEN + 1];
    size_t n = 0;
    enum gw_scram_rc rc;

    if (x->step == 0) {
        rc = gw_scram_client_first(&x->scram, msg, len);
        if (rc != GW_SCRAM_OK) {
            return gw_sasl_scram_status(rc);
        }
        memcpy(x->user, x->scram.user, x->scram.user_len + 1);
        x->user_len = x->scram.user_len;
        x->step = 1;
        return GW_SASL_NEED_KEYS;
    }
    if (x->step == 2) {
        rc = gw_scram_client_final(&x->scram, &x->keys, msg, len, final,
                                   sizeof(final), &n);
        if (rc != GW_SCRAM_OK) {
            return gw_sasl_scram_status(rc);
        }
        if (!gw_base64_encode(chal, cap, (const uint8_t *)final, n)) {
            return GW_SASL_E_SYNTAX;
        }
        x->step = 3; /* only once the server-final can go out */
        return GW_SASL_CHALLENGE;
    }
    return x->step == 3 && len == 0 ? GW_SASL_VERIFIED : GW_SASL_E_SYNTAX;
}

enum gw_sasl_status
gw_sasl_scram_keys(struct gw_sasl *x, const struct gw_scram_keys *k,
                   const uint8_t *snonce, size_t n, char *chal, size_t cap)
{
    char first[GW_SCRAM_SERVER_FIRST_MAX + 1];
    size_t len = 0;

    if (x->mech != GW_SASL_SCRAM_SHA256 || x->step != 1) {
        return GW_SASL_E_SYNTAX;
    }
    x->keys = *k;
    if (gw_scram_server_first(&x->scram, &x->keys, snonce, n, first,
                              sizeof(first), &len) != GW_SCRAM_OK ||
        !gw_base64_encode(chal, cap, (const uint8_t *)first, len)) {
        return GW_SASL_E_SYNTAX;
    }
    x->step = 2;
    return GW_SASL_CHALLENGE;
}

/* One decoded client message for the current step. */
static enum gw_sasl_status
gw_sasl_message(struct gw_sasl *x, const uint8_t *msg, size_t len, char *chal,
                size_t cap)
{
    if (x->error_sent) {
        return GW_SASL_ERROR_ACK; /* whatever it is: "^A" or empty */
    }
    if (x->mech == GW_SASL_PLAIN) {
        return gw_sasl_plain(x, msg, len);
    }
    if (x->mech == GW_SASL_OAUTHBEARER) {
        return gw_sasl_oauthbearer(x, msg, len);
    }
    if (x->mech == GW_SASL_XOAUTH2) {
        return gw_sasl_kvpairs(x, msg, len, true);
    }
    if (x->mech == GW_SASL_SCRAM_SHA256) {
        return gw_sasl_scram(x, msg, len, chal, cap);
    }
    if (x->step == 0) { /* LOGIN: the user name */
        if (!gw_sasl_take(x->user, GW_SASL_USER_MAX, &x->user_len, msg, len)) {
            return GW_SASL_E_SYNTAX;
        }
        x->step = 1;
        gw_sasl_challenge(chal, cap, GW_SASL_LOGIN_PASS);
        return GW_SASL_CHALLENGE;
    }
    if (!gw_sasl_take(x->pass, GW_SASL_PASS_MAX, &x->pass_len, msg, len)) {
        return GW_SASL_E_SYNTAX;
    }
    return GW_SASL_DONE;
}

/* Decodes a base64 line ("=" is the empty message in an initial
 * response) and runs the step; the decoded copy is wiped. */
static enum gw_sasl_status
gw_sasl_feed(struct gw_sasl *x, const uint8_t *b64, size_t len, bool initial,
             char *chal, size_t cap)
{
    uint8_t msg[GW_SASL_DECODED_MAX + 3];
    size_t n = 0;
    enum gw_sasl_status st;

    if (initial && len == 1 && b64[0] == '=') {
        len = 0;
    }
    if (!gw_base64_decode(msg, sizeof(msg), &n, b64, len)) {
        mbedtls_platform_zeroize(msg, sizeof(msg));
        return GW_SASL_E_BASE64;
    }
    st = gw_sasl_message(x, msg, n, chal, cap);
    mbedtls_platform_zeroize(msg, sizeof(msg));
    return st;
}

enum gw_sasl_status
gw_sasl_start(struct gw_sasl *x, enum gw_sasl_mech mech,
              const uint8_t *initial, size_t initial_len, char *chal,
              size_t cap)
{
    memset(x, 0, sizeof(*x));
    x->mech = mech;
    chal[0] = '\0';
    if (initial != NULL) {
        return gw_sasl_feed(x, initial, initial_len, true, chal, cap);
    }
    gw_sasl_challenge(chal, cap, mech == GW_SASL_LOGIN ? GW_SASL_LOGIN_USER
                                                       : "");
    return GW_SASL_CHALLENGE;
}

enum gw_sasl_status
gw_sasl_step(struct gw_sasl *x, const uint8_t *line, size_t len, char *chal,
             size_t cap)
{
    chal[0] = '\0';
    if (len == 1 && line[0] == '*') {
        return GW_SASL_E_CANCEL; /* RFC 4954 4 */
    }
    return gw_sasl_feed(x, line, len, false, chal, cap);
}
