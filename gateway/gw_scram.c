#include "gateway/gw_scram.h"

#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>

#include "gateway/gw_sasl.h"
#include "gateway/gw_str.h"

/* Where an exchange is. Every failure moves to DONE, so a caller that
 * ignores an error cannot carry on with half-checked state. */
enum {
    GW_SCRAM_STEP_NONE = 0,
    GW_SCRAM_STEP_CLIENT_FIRST, /* client-first parsed, user known */
    GW_SCRAM_STEP_SERVER_FIRST, /* server-first sent, nonce fixed */
    GW_SCRAM_STEP_DONE,
};

#define GW_SCRAM_PREFIX "SCRAM-SHA-256$"
#define GW_SCRAM_PREFIX_LEN (sizeof(GW_SCRAM_PREFIX) - 1)
#define GW_SCRAM_ITER_DIGITS 8 /* GW_SCRAM_MAX_ITER has 8 */
#define GW_SCRAM_B64(n) (((n) + 2) / 3 * 4)

/* A bounded string being built: ok turns false for good when it would
 * not fit (the terminating NUL included). */
struct gw_scram_out {
    char *p;
    size_t cap;
    size_t len;
    bool ok;
};

static void
gw_scram_out_init(struct gw_scram_out *o, char *p, size_t cap)
{
    o->p = p;
    o->cap = cap;
    o->len = 0;
    o->ok = cap > 0;
    if (o->ok) {
        p[0] = '\0';
    }
}

static void
gw_scram_put(struct gw_scram_out *o, const void *s, size_t n)
{
    if (!o->ok || n >= o->cap - o->len) {
        o->ok = false;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void
gw_scram_puts(struct gw_scram_out *o, const char *s)
{
    gw_scram_put(o, s, strlen(s));
}

static void
gw_scram_put_u32(struct gw_scram_out *o, uint32_t v)
{
    char digits[10];
    size_t n = 0;

    do {
        digits[sizeof(digits) - 1 - n] = (char)('0' + v % 10);
        v /= 10;
        n++;
    } while (v != 0);
    gw_scram_put(o, digits + sizeof(digits) - n, n);
}

/* Base64 of (src, n) appended. */
static void
gw_scram_put_b64(struct gw_scram_out *o, const uint8_t *src, size_t n)
{
    if (!o->ok || !gw_base64_encode(o->p + o->len, o->cap - o->len, src, n)) {
        o->ok = false;
        return;
    }
    o->len += strlen(o->p + o->len);
}

static const mbedtls_md_info_t *
gw_scram_md(void)
{
    return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
}

/* RFC 5802 5.1 printable: %x21-2B / %x2D-7E (no space, no ','). */
static bool
gw_scram_printable(const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!gw_is_graph(p[i]) || p[i] == ',') {
            return false;
        }
    }
    return true;
}

static bool
gw_scram_keys_valid(const struct gw_scram_keys *k)
{
    return k->salt_len >= 1 && k->salt_len <= GW_SCRAM_SALT_MAX &&
           k->iterations >= GW_SCRAM_MIN_ITER &&
           k->iterations <= GW_SCRAM_MAX_ITER;
}

/* The end of the field that starts at pos: the next ',' or len. */
static size_t
gw_scram_field_end(const uint8_t *p, size_t len, size_t pos)
{
    const uint8_t *c = memchr(p + pos, ',', len - pos);

    return c != NULL ? (size_t)(c - p) : len;
}

static bool
gw_scram_is_attr(const uint8_t *f, size_t flen, char name)
{
    return flen >= 2 && f[0] == (uint8_t)name && f[1] == '=';
}

/*
 * A saslname (RFC 5802 5.1) decoded into dst (room for max + 1): "=2C" is
 * ',' and "=3D" is '='; any other '=', a bare ',' or a NUL is an error,
 * as is an empty name, more than max octets, or invalid UTF-8. Upper-case
 * hex only, as the RFC spells it: there is one encoding of each name, so
 * the authzid check can compare the decoded forms.
 */
static bool
gw_scram_saslname(const uint8_t *p, size_t len, char *dst, size_t max,
                  size_t *dst_len)
{
    size_t i = 0;
    size_t n = 0;

    if (len == 0) {
        return false;
    }
    while (i < len) {
        uint8_t c = p[i];

        if (c == '=') {
            if (len - i < 3) {
                return false;
            }
            if (p[i + 1] == '2' && p[i + 2] == 'C') {
                c = ',';
            } else if (p[i + 1] == '3' && p[i + 2] == 'D') {
                c = '=';
            } else {
                return false;
            }
            i += 3;
        } else if (c == ',' || c == 0) {
            return false;
        } else {
            i++;
        }
        if (n == max) {
            return false;
        }
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    if (!gw_utf8_valid((const uint8_t *)dst, n)) {
        return false;
    }
    *dst_len = n;
    return true;
}

/*
 * One extension (RFC 5802 7): attr-val = ALPHA "=" 1*value-char, a
 * value-char being any UTF-8 character but NUL and ','. Unknown ones are
 * ignored; "m" is the reserved mandatory-extension attribute, which a
 * server that knows no extensions must refuse (RFC 5802 5.1).
 */
static enum gw_scram_rc
gw_scram_extension(const uint8_t *f, size_t flen)
{
    if (flen < 3 || !gw_is_alpha(f[0]) || f[1] != '=' ||
        memchr(f + 2, 0, flen - 2) != NULL || !gw_utf8_valid(f + 2, flen - 2)) {
        return GW_SCRAM_E_SYNTAX;
    }
    return f[0] == 'm' ? GW_SCRAM_E_UNSUPPORTED : GW_SCRAM_OK;
}

/* The extensions from pos to len: "," attr-val, repeated. */
static enum gw_scram_rc
gw_scram_extensions(const uint8_t *p, size_t len, size_t pos)
{
    while (pos < len) {
        size_t end;
        enum gw_scram_rc rc;

        if (p[pos] != ',') {
            return GW_SCRAM_E_SYNTAX;
        }
        pos++;
        end = gw_scram_field_end(p, len, pos);
        rc = gw_scram_extension(p + pos, end - pos);
        if (rc != GW_SCRAM_OK) {
            return rc;
        }
        pos = end;
    }
    return GW_SCRAM_OK;
}

/* The gs2-header: ("n" / "y") "," ["a=" saslname] ",". Sets *hdr_len
 * and the decoded authzid (length 0 when there is none). */
static enum gw_scram_rc
gw_scram_gs2(const uint8_t *msg, size_t len, size_t *hdr_len, char *authzid,
             size_t *authzid_len)
{
    size_t end;

    *authzid_len = 0;
    if (len >= 2 && msg[0] == 'p' && msg[1] == '=') {
        return GW_SCRAM_E_UNSUPPORTED; /* channel binding: no -PLUS here */
    }
    /* "y": the client could bind but thinks we cannot, which is true as
     * we never advertise SCRAM-SHA-256-PLUS (RFC 5802 6) */
    if (len < 2 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
        return GW_SCRAM_E_SYNTAX;
    }
    end = gw_scram_field_end(msg, len, 2);
    if (end == len) {
        return GW_SCRAM_E_SYNTAX; /* no second ',' */
    }
    if (end > 2 && (!gw_scram_is_attr(msg + 2, end - 2, 'a') ||
                    !gw_scram_saslname(msg + 4, end - 4, authzid,
                                       GW_SCRAM_USER_MAX, authzid_len))) {
        return GW_SCRAM_E_SYNTAX;
    }
    *hdr_len = end + 1;
    return GW_SCRAM_OK;
}

/* client-first-message-bare: "n=" saslname "," "r=" c-nonce
 * ["," extensions]. Fills x->user and x->nonce. */
static enum gw_scram_rc
gw_scram_bare(struct gw_scram *x, const uint8_t *b, size_t len)
{
    size_t end;
    size_t pos;

    end = gw_scram_field_end(b, len, 0);
    if (!gw_scram_is_attr(b, end, 'n') ||
        !gw_scram_saslname(b + 2, end - 2, x->user, GW_SCRAM_USER_MAX,
                           &x->user_len)) {
        memset(x->user, 0, sizeof(x->user)); /* no half-decoded name */
        return GW_SCRAM_E_SYNTAX;
    }
    if (end == len) {
        return GW_SCRAM_E_SYNTAX; /* no r= */
    }
    pos = end + 1;
    end = gw_scram_field_end(b, len, pos);
    if (!gw_scram_is_attr(b + pos, end - pos, 'r') || end - pos - 2 < 1 ||
        end - pos - 2 > GW_SCRAM_CNONCE_MAX ||
        !gw_scram_printable(b + pos + 2, end - pos - 2)) {
        return GW_SCRAM_E_SYNTAX;
    }
    memcpy(x->nonce, b + pos + 2, end - pos - 2);
    x->cnonce_len = end - pos - 2;
    x->nonce_len = x->cnonce_len;
    x->nonce[x->nonce_len] = '\0';
    return gw_scram_extensions(b, len, end);
}

enum gw_scram_rc
gw_scram_client_first(struct gw_scram *x, const uint8_t *msg, size_t len)
{
    char authzid[GW_SCRAM_USER_MAX + 1];
    size_t authzid_len = 0;
    size_t hdr_len = 0;
    const uint8_t *bare;
    size_t bare_len;
    enum gw_scram_rc rc;

    memset(x, 0, sizeof(*x));
    x->step = GW_SCRAM_STEP_DONE; /* until everything checked out */
    if (len == 0) {
        return GW_SCRAM_E_SYNTAX;
    }
    rc = gw_scram_gs2(msg, len, &hdr_len, authzid, &authzid_len);
    /* the escaped authzid is at most 3 octets per decoded one, so the
     * header always fits; checked anyway since it is copied below */
    if (rc != GW_SCRAM_OK || hdr_len > GW_SCRAM_GS2_MAX) {
        return rc != GW_SCRAM_OK ? rc : GW_SCRAM_E_SYNTAX;
    }
    bare = msg + hdr_len;
    bare_len = len - hdr_len;
    if (gw_scram_is_attr(bare, bare_len, 'm')) {
        return GW_SCRAM_E_UNSUPPORTED; /* reserved-mext, RFC 5802 5.1 */
    }
    if (bare_len > GW_SCRAM_BARE_MAX) {
        return GW_SCRAM_E_SYNTAX;
    }
    /* x->user stays set from here on, even on failure, for the log */
    rc = gw_scram_bare(x, bare, bare_len);
    if (rc != GW_SCRAM_OK) {
        return rc;
    }
    /* acting as someone else (proxy authorization) is not offered */
    if (authzid_len != 0 && (authzid_len != x->user_len ||
                             memcmp(authzid, x->user, authzid_len) != 0)) {
        return GW_SCRAM_E_AUTHZID;
    }
    memcpy(x->gs2, msg, hdr_len);
    x->gs2[hdr_len] = '\0';
    x->gs2_len = hdr_len;
    memcpy(x->bare, bare, bare_len);
    x->bare[bare_len] = '\0';
    x->bare_len = bare_len;
    x->step = GW_SCRAM_STEP_CLIENT_FIRST;
    return GW_SCRAM_OK;
}

/* Starts a reply: empty out, *out_len 0, and the step check. Any call
 * ends the step it was allowed in, successful or not. */
static bool
gw_scram_begin(struct gw_scram *x, unsigned step, char *out, size_t cap,
               size_t *out_len)
{
    bool ok = x->step == step;

    *out_len = 0;
    if (cap > 0) {
        out[0] = '\0';
    }
    x->step = GW_SCRAM_STEP_DONE;
    return ok;
}

enum gw_scram_rc
gw_scram_server_first_text(struct gw_scram *x, const struct gw_scram_keys *k,
                           const char *snonce, size_t snonce_len, char *out,
                           size_t cap, size_t *out_len)
{
    struct gw_scram_out o;

    if (!gw_scram_begin(x, GW_SCRAM_STEP_CLIENT_FIRST, out, cap, out_len) ||
        !gw_scram_keys_valid(k) || snonce_len < 1 ||
        snonce_len > GW_SCRAM_SNONCE_TEXT_MAX ||
        !gw_scram_printable((const uint8_t *)snonce, snonce_len)) {
        return GW_SCRAM_E_INTERNAL;
    }
    memcpy(x->nonce + x->cnonce_len, snonce, snonce_len);
    x->nonce_len = x->cnonce_len + snonce_len;
    x->nonce[x->nonce_len] = '\0';

    gw_scram_out_init(&o, x->server_first, sizeof(x->server_first));
    gw_scram_puts(&o, "r=");
    gw_scram_put(&o, x->nonce, x->nonce_len);
    gw_scram_puts(&o, ",s=");
    gw_scram_put_b64(&o, k->salt, k->salt_len);
    gw_scram_puts(&o, ",i=");
    gw_scram_put_u32(&o, k->iterations);
    if (!o.ok || o.len >= cap) {
        return GW_SCRAM_E_INTERNAL;
    }
    x->server_first_len = o.len;
    memcpy(out, x->server_first, o.len + 1);
    *out_len = o.len;
    x->step = GW_SCRAM_STEP_SERVER_FIRST;
    return GW_SCRAM_OK;
}

enum gw_scram_rc
gw_scram_server_first(struct gw_scram *x, const struct gw_scram_keys *k,
                      const uint8_t *snonce, size_t snonce_len, char *out,
                      size_t cap, size_t *out_len)
{
    char text[GW_SCRAM_SNONCE_TEXT_MAX + 1];

    /* base64 is printable and has no ',' (its '=' padding is allowed in
     * a nonce), so random octets become a valid s-nonce as they are */
    if (snonce_len < 1 || snonce_len > GW_SCRAM_SNONCE_MAX ||
        !gw_base64_encode(text, sizeof(text), snonce, snonce_len)) {
        (void)gw_scram_begin(x, GW_SCRAM_STEP_DONE, out, cap, out_len);
        return GW_SCRAM_E_INTERNAL;
    }
    return gw_scram_server_first_text(x, k, text, strlen(text), out, cap,
                                      out_len);
}

/* HMAC(key, AuthMessage), AuthMessage = client-first-message-bare ","
 * server-first-message "," client-final-message-without-proof (RFC 5802
 * 3), fed in parts rather than copied together. */
static bool
gw_scram_auth_hmac(mbedtls_md_context_t *ctx, const uint8_t *key,
                   const struct gw_scram *x, const uint8_t *final_wp,
                   size_t final_wp_len, uint8_t mac[GW_SCRAM_KEY_LEN])
{
    return mbedtls_md_hmac_starts(ctx, key, GW_SCRAM_KEY_LEN) == 0 &&
           mbedtls_md_hmac_update(ctx, (const uint8_t *)x->bare, x->bare_len) ==
               0 &&
           mbedtls_md_hmac_update(ctx, (const uint8_t *)",", 1) == 0 &&
           mbedtls_md_hmac_update(ctx, (const uint8_t *)x->server_first,
                                  x->server_first_len) == 0 &&
           mbedtls_md_hmac_update(ctx, (const uint8_t *)",", 1) == 0 &&
           mbedtls_md_hmac_update(ctx, final_wp, final_wp_len) == 0 &&
           mbedtls_md_hmac_finish(ctx, mac) == 0;
}

/*
 * Splits a client-final-message: *wp_len is the length of
 * client-final-message-without-proof, proof the decoded p=. The proof is
 * the last attribute and base64 has no ',', so it starts after the last
 * ','. Then c= first, r= second, extensions after.
 */
static enum gw_scram_rc
gw_scram_final_parse(const uint8_t *msg, size_t len, size_t *wp_len,
                     uint8_t proof[GW_SCRAM_KEY_LEN], size_t *c_end,
                     size_t *r_end)
{
    size_t last = len;
    size_t n = 0;
    size_t end;

    while (last > 0 && msg[last - 1] != ',') {
        last--;
    }
    if (last == 0) {
        return GW_SCRAM_E_SYNTAX; /* no ',' at all */
    }
    *wp_len = last - 1;
    /* strict base64 of exactly 32 octets: "short proof" and junk alike */
    if (!gw_scram_is_attr(msg + last, len - last, 'p') ||
        !gw_base64_decode(proof, GW_SCRAM_KEY_LEN, &n, msg + last + 2,
                          len - last - 2) ||
        n != GW_SCRAM_KEY_LEN) {
        return GW_SCRAM_E_SYNTAX;
    }
    end = gw_scram_field_end(msg, *wp_len, 0);
    if (!gw_scram_is_attr(msg, end, 'c') || end == *wp_len) {
        return GW_SCRAM_E_SYNTAX;
    }
    *c_end = end;
    end = gw_scram_field_end(msg, *wp_len, *c_end + 1);
    if (!gw_scram_is_attr(msg + *c_end + 1, end - *c_end - 1, 'r')) {
        return GW_SCRAM_E_SYNTAX;
    }
    *r_end = end;
    return gw_scram_extensions(msg, *wp_len, end);
}

/* c= must be the base64 of the gs2-header exactly: anything else means
 * the header (the "n"/"y" flag, the authzid) changed on the way, which
 * RFC 5802 calls channel-bindings-dont-match. */
static bool
gw_scram_cbind_ok(const struct gw_scram *x, const uint8_t *c, size_t len)
{
    char want[GW_SCRAM_B64(GW_SCRAM_GS2_MAX) + 1];

    return gw_base64_encode(want, sizeof(want), (const uint8_t *)x->gs2,
                            x->gs2_len) &&
           strlen(want) == len && memcmp(want, c, len) == 0;
}

/* The proof check and ServerSignature. Returns OK, E_PROOF or
 * E_INTERNAL; every intermediate value is wiped. */
static enum gw_scram_rc
gw_scram_verify(const struct gw_scram *x, const struct gw_scram_keys *k,
                const uint8_t *msg, size_t wp_len,
                const uint8_t proof[GW_SCRAM_KEY_LEN],
                uint8_t server_sig[GW_SCRAM_KEY_LEN])
{
    mbedtls_md_context_t ctx;
    uint8_t client_sig[GW_SCRAM_KEY_LEN];
    uint8_t client_key[GW_SCRAM_KEY_LEN];
    uint8_t stored[GW_SCRAM_KEY_LEN];
    enum gw_scram_rc rc = GW_SCRAM_E_INTERNAL;
    size_t i;

    mbedtls_md_init(&ctx);
    if (mbedtls_md_setup(&ctx, gw_scram_md(), 1) != 0 ||
        !gw_scram_auth_hmac(&ctx, k->stored_key, x, msg, wp_len, client_sig)) {
        goto out;
    }
    /* ClientKey = ClientProof XOR ClientSignature; the client knew the
     * password iff SHA256(ClientKey) is StoredKey */
    for (i = 0; i < GW_SCRAM_KEY_LEN; i++) {
        client_key[i] = proof[i] ^ client_sig[i];
    }
    if (mbedtls_md(gw_scram_md(), client_key, sizeof(client_key), stored) !=
        0) {
        goto out;
    }
    /* in constant time: the check must not tell how many leading octets
     * of a forged proof were right */
    if (!gw_ct_equal(stored, k->stored_key, GW_SCRAM_KEY_LEN)) {
        rc = GW_SCRAM_E_PROOF;
        goto out;
    }
    if (gw_scram_auth_hmac(&ctx, k->server_key, x, msg, wp_len, server_sig)) {
        rc = GW_SCRAM_OK;
    }
out:
    mbedtls_md_free(&ctx); /* zeroes the HMAC pads too */
    mbedtls_platform_zeroize(client_sig, sizeof(client_sig));
    mbedtls_platform_zeroize(client_key, sizeof(client_key));
    mbedtls_platform_zeroize(stored, sizeof(stored));
    return rc;
}

enum gw_scram_rc
gw_scram_client_final(struct gw_scram *x, const struct gw_scram_keys *k,
                      const uint8_t *msg, size_t len, char *out, size_t cap,
                      size_t *out_len)
{
    uint8_t proof[GW_SCRAM_KEY_LEN];
    uint8_t server_sig[GW_SCRAM_KEY_LEN];
    size_t wp_len = 0;
    size_t c_end = 0;
    size_t r_end = 0;
    struct gw_scram_out o;
    enum gw_scram_rc rc;

    if (!gw_scram_begin(x, GW_SCRAM_STEP_SERVER_FIRST, out, cap, out_len) ||
        !gw_scram_keys_valid(k) || cap <= GW_SCRAM_SERVER_FINAL_LEN) {
        return GW_SCRAM_E_INTERNAL;
    }
    if (len == 0) {
        return GW_SCRAM_E_SYNTAX;
    }
    rc = gw_scram_final_parse(msg, len, &wp_len, proof, &c_end, &r_end);
    if (rc == GW_SCRAM_OK && !gw_scram_cbind_ok(x, msg + 2, c_end - 2)) {
        rc = GW_SCRAM_E_SYNTAX;
    }
    if (rc == GW_SCRAM_OK &&
        (r_end - c_end - 3 != x->nonce_len ||
         memcmp(msg + c_end + 3, x->nonce, x->nonce_len) != 0)) {
        rc = GW_SCRAM_E_NONCE;
    }
    if (rc == GW_SCRAM_OK) {
        rc = gw_scram_verify(x, k, msg, wp_len, proof, server_sig);
    }
    if (rc == GW_SCRAM_OK) {
        gw_scram_out_init(&o, out, cap);
        gw_scram_puts(&o, "v=");
        gw_scram_put_b64(&o, server_sig, sizeof(server_sig));
        if (o.ok) {
            *out_len = o.len;
        } else {
            out[0] = '\0';
            rc = GW_SCRAM_E_INTERNAL;
        }
    }
    mbedtls_platform_zeroize(proof, sizeof(proof));
    mbedtls_platform_zeroize(server_sig, sizeof(server_sig));
    return rc;
}

void
gw_scram_wipe(struct gw_scram *x)
{
    mbedtls_platform_zeroize(x, sizeof(*x));
}

/* HMAC-SHA-256 of the concatenated parts under key, into mac. */
static bool
gw_scram_hmac(mbedtls_md_context_t *ctx, const uint8_t *key, size_t key_len,
              const void *a, size_t a_len, const void *b, size_t b_len,
              uint8_t mac[GW_SCRAM_KEY_LEN])
{
    return mbedtls_md_hmac_starts(ctx, key, key_len) == 0 &&
           mbedtls_md_hmac_update(ctx, a, a_len) == 0 &&
           (b_len == 0 || mbedtls_md_hmac_update(ctx, b, b_len) == 0) &&
           mbedtls_md_hmac_finish(ctx, mac) == 0;
}

bool
gw_scram_keys_derive(const char *pass, size_t pass_len, const uint8_t *salt,
                     size_t salt_len, uint32_t iterations,
                     struct gw_scram_keys *k)
{
    static const char client[] = "Client Key";
    static const char server[] = "Server Key";
    mbedtls_md_context_t ctx;
    uint8_t salted[GW_SCRAM_KEY_LEN];
    uint8_t client_key[GW_SCRAM_KEY_LEN];
    bool ok = false;

    memset(k, 0, sizeof(*k));
    if (salt_len < 1 || salt_len > GW_SCRAM_SALT_MAX ||
        iterations < GW_SCRAM_MIN_ITER || iterations > GW_SCRAM_MAX_ITER ||
        (pass == NULL && pass_len != 0)) {
        return false;
    }
    mbedtls_md_init(&ctx);
    /* SaltedPassword = Hi(password, salt, i) = PBKDF2 with one block of
     * HMAC-SHA-256 output (RFC 5802 2.2) */
    ok = mbedtls_md_setup(&ctx, gw_scram_md(), 1) == 0 &&
         mbedtls_pkcs5_pbkdf2_hmac(
             &ctx, (const unsigned char *)(pass != NULL ? pass : ""), pass_len,
             salt, salt_len, iterations, GW_SCRAM_KEY_LEN, salted) == 0 &&
         gw_scram_hmac(&ctx, salted, sizeof(salted), client, sizeof(client) - 1,
                       NULL, 0, client_key) &&
         mbedtls_md(gw_scram_md(), client_key, sizeof(client_key),
                    k->stored_key) == 0 &&
         gw_scram_hmac(&ctx, salted, sizeof(salted), server, sizeof(server) - 1,
                       NULL, 0, k->server_key);
    mbedtls_md_free(&ctx);
    mbedtls_platform_zeroize(salted, sizeof(salted));
    mbedtls_platform_zeroize(client_key, sizeof(client_key));
    if (!ok) {
        mbedtls_platform_zeroize(k, sizeof(*k));
        return false;
    }
    memcpy(k->salt, salt, salt_len);
    k->salt_len = salt_len;
    k->iterations = iterations;
    return true;
}

void
gw_scram_keys_fake(const uint8_t secret[32], const char *user, size_t user_len,
                   uint32_t iterations, struct gw_scram_keys *k)
{
    /* one label per value, NUL included so that the label and the user
     * name cannot run into each other */
    static const char l_salt[] = "postern scram fake salt";
    static const char l_stored[] = "postern scram fake stored key";
    static const char l_server[] = "postern scram fake server key";
    mbedtls_md_context_t ctx;
    uint8_t mac[GW_SCRAM_KEY_LEN];

    memset(k, 0, sizeof(*k));
    if (iterations < GW_SCRAM_MIN_ITER) {
        iterations = GW_SCRAM_MIN_ITER;
    } else if (iterations > GW_SCRAM_MAX_ITER) {
        iterations = GW_SCRAM_MAX_ITER;
    }
    k->iterations = iterations;
    k->salt_len = GW_SCRAM_SALT_LEN;
    mbedtls_md_init(&ctx);
    /* Should mbedTLS fail (out of memory), the keys stay zero: a fixed
     * salt then, but still no proof can match an all-zero StoredKey. */
    if (mbedtls_md_setup(&ctx, gw_scram_md(), 1) == 0 &&
        gw_scram_hmac(&ctx, secret, 32, l_salt, sizeof(l_salt), user, user_len,
                      mac)) {
        memcpy(k->salt, mac, GW_SCRAM_SALT_LEN);
        if (!gw_scram_hmac(&ctx, secret, 32, l_stored, sizeof(l_stored), user,
                           user_len, k->stored_key) ||
            !gw_scram_hmac(&ctx, secret, 32, l_server, sizeof(l_server), user,
                           user_len, k->server_key)) {
            memset(k->stored_key, 0, sizeof(k->stored_key));
            memset(k->server_key, 0, sizeof(k->server_key));
        }
    }
    mbedtls_md_free(&ctx);
    mbedtls_platform_zeroize(mac, sizeof(mac));
}

/* One base64 field of the users-file form into dst: 1..cap octets,
 * exactly `want` when want is not 0. */
static bool
gw_scram_b64_field(const char *p, size_t len, uint8_t *dst, size_t cap,
                   size_t want, size_t *n)
{
    *n = 0;
    return len > 0 && gw_base64_decode(dst, cap, n, (const uint8_t *)p, len) &&
           *n >= 1 && (want == 0 || *n == want);
}

bool
gw_scram_keys_parse(const char *s, size_t len, struct gw_scram_keys *k)
{
    const char *end = s + len;
    const char *p;
    const char *q;
    uint64_t iter = 0;
    size_t n = 0;

    memset(k, 0, sizeof(*k));
    if (len < GW_SCRAM_PREFIX_LEN ||
        memcmp(s, GW_SCRAM_PREFIX, GW_SCRAM_PREFIX_LEN) != 0) {
        goto fail;
    }
    p = s + GW_SCRAM_PREFIX_LEN;
    /* <iterations> ":" */
    q = memchr(p, ':', (size_t)(end - p));
    if (q == NULL || q == p || q - p > GW_SCRAM_ITER_DIGITS) {
        goto fail;
    }
    for (; p < q; p++) {
        if (!gw_is_digit((uint8_t)*p)) {
            goto fail;
        }
        iter = iter * 10 + (uint64_t)(*p - '0');
    }
    if (iter < GW_SCRAM_MIN_ITER || iter > GW_SCRAM_MAX_ITER) {
        goto fail;
    }
    k->iterations = (uint32_t)iter;
    /* <salt> "$" */
    p = q + 1;
    q = memchr(p, '$', (size_t)(end - p));
    if (q == NULL || !gw_scram_b64_field(p, (size_t)(q - p), k->salt,
                                         sizeof(k->salt), 0, &n)) {
        goto fail;
    }
    k->salt_len = n;
    /* <StoredKey> ":" <ServerKey> */
    p = q + 1;
    q = memchr(p, ':', (size_t)(end - p));
    if (q == NULL ||
        !gw_scram_b64_field(p, (size_t)(q - p), k->stored_key,
                            sizeof(k->stored_key), GW_SCRAM_KEY_LEN, &n) ||
        !gw_scram_b64_field(q + 1, (size_t)(end - q - 1), k->server_key,
                            sizeof(k->server_key), GW_SCRAM_KEY_LEN, &n)) {
        goto fail;
    }
    return true;
fail:
    mbedtls_platform_zeroize(k, sizeof(*k));
    return false;
}

size_t
gw_scram_keys_format(char *dst, size_t cap, const struct gw_scram_keys *k)
{
    struct gw_scram_out o;

    gw_scram_out_init(&o, dst, cap);
    if (!gw_scram_keys_valid(k)) {
        return 0;
    }
    gw_scram_puts(&o, GW_SCRAM_PREFIX);
    gw_scram_put_u32(&o, k->iterations);
    gw_scram_puts(&o, ":");
    gw_scram_put_b64(&o, k->salt, k->salt_len);
    gw_scram_puts(&o, "$");
    gw_scram_put_b64(&o, k->stored_key, sizeof(k->stored_key));
    gw_scram_puts(&o, ":");
    gw_scram_put_b64(&o, k->server_key, sizeof(k->server_key));
    if (!o.ok) {
        /* what was written is part of the keys: leave none of it */
        mbedtls_platform_zeroize(dst, cap);
        return 0;
    }
    return o.len;
}
