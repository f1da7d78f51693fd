/*
 * libFuzzer target for gateway/gw_scram.c, the server side of SASL
 * SCRAM-SHA-256, and its users-file key strings.
 *
 * Input: byte 0 picks the run, the rest is the client-first-message up to
 * the first LF and the client-final-message after it (both decoded SASL
 * messages, as the module sees them).
 *   bit 0  0: the client-final is fed as it is;
 *          1: it is the client-final-message-without-proof, and the
 *             target appends ",p=" and the true proof for it (then the
 *             same with one bit of the proof flipped)
 *   bit 1  0: the keys of "pencil" (RFC 7677); 1: gw_scram_keys_fake()
 *             for the user name, against which nothing may succeed
 *   bit 2  server-first gets an output buffer one octet short
 * The server nonce is a fixed 18 octets.
 *
 * Every call sees exact-size heap copies of its message and exact-size,
 * poisoned output buffers, so ASan catches a read or write past either.
 * Checked: outputs are NUL-terminated within cap with *out_len their
 * length, and empty on failure; client-first's user name is the decoded
 * n= (and the a=, when there is one), 1..255 octets of UTF-8 without NUL;
 * server-first is exactly "r=" c-nonce s-nonce ",s=" salt ",i=" iter;
 * GW_SCRAM_OK from client-final only when p= is the true proof for the
 * AuthMessage of these very messages (recomputed here with mbedTLS
 * directly) and c=/r= are the gs2-header and nonce, with v= the true
 * ServerSignature; with the true proof appended the result is never
 * E_PROOF, and flipping a proof bit turns OK into E_PROOF and changes no
 * other result; an ended exchange refuses further steps; the wipe zeroes
 * every byte.
 *
 * Also: the whole input after byte 0 as a users-file key string; when it
 * parses, formatting gives it back canonically and that parses to the
 * same keys. Any violation calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "gateway/gw_sasl.h"
#include "gateway/gw_scram.h"
#include "gateway/gw_str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_KEYS                                                                \
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"                             \
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"                            \
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
/* ClientKey of "pencil" with that salt (Python's hashlib and hmac) */
static const uint8_t fz_client_key[GW_SCRAM_KEY_LEN] = {
    0xa6, 0x0f, 0xc9, 0x23, 0xd6, 0x7e, 0x86, 0x44, 0xa9, 0x2d, 0x16,
    0xb9, 0x6e, 0xda, 0x5e, 0xf4, 0x65, 0x6b, 0x0c, 0x72, 0x5c, 0x48,
    0x43, 0x74, 0xbe, 0x25, 0x53, 0x55, 0x76, 0x99, 0x6e, 0x8b,
};
static const uint8_t fz_snonce[18] = {0, 1,  2,  3,  4,  5,  6,  7,  8,
                                      9, 10, 11, 12, 13, 14, 15, 16, 17};
#define FZ_SNONCE_TEXT "AAECAwQFBgcICQoLDA0ODxAR"
static const uint8_t fz_secret[32] = {0x5e, 0xc2, 0xe7};

#define FZ_SFIRST_CAP (GW_SCRAM_SERVER_FIRST_MAX + 1)
#define FZ_SFINAL_CAP (GW_SCRAM_SERVER_FINAL_LEN + 1)

static struct gw_scram_keys fz_keys;

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_scram: %s\n", why);
    abort();
}

static void *
fz_dup(const void *p, size_t len)
{
    void *q = malloc(len > 0 ? len : 1);

    if (q == NULL) {
        fz_fail("out of memory");
    }
    if (len > 0) {
        memcpy(q, p, len);
    }
    return q;
}

static char *
fz_out(size_t cap)
{
    char *p = malloc(cap > 0 ? cap : 1);

    if (p == NULL) {
        fz_fail("out of memory");
    }
    memset(p, 0xAA, cap > 0 ? cap : 1);
    return p;
}

static const mbedtls_md_info_t *
fz_md(void)
{
    return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
}

/* The keys once: parsed from the string, and derived again from the
 * password, which must agree; SHA256(ClientKey) must be StoredKey. */
static void
fz_init(void)
{
    static bool done;
    struct gw_scram_keys d;
    uint8_t h[32];

    if (done) {
        return;
    }
    if (!gw_scram_keys_parse(FZ_KEYS, strlen(FZ_KEYS), &fz_keys) ||
        !gw_scram_keys_derive("pencil", 6, fz_keys.salt, fz_keys.salt_len,
                              fz_keys.iterations, &d) ||
        memcmp(&d, &fz_keys, sizeof(d)) != 0) {
        fz_fail("the fixed keys do not parse or derive");
    }
    if (mbedtls_md(fz_md(), fz_client_key, 32, h) != 0 ||
        memcmp(h, fz_keys.stored_key, 32) != 0) {
        fz_fail("the fixed ClientKey is not the StoredKey's");
    }
    done = true;
}

/* out is NUL-terminated within cap, of length out_len; empty unless ok. */
static void
fz_check_out(const char *out, size_t cap, size_t out_len, bool ok)
{
    const char *nul = memchr(out, '\0', cap);

    if (nul == NULL) {
        fz_fail("output not NUL-terminated within cap");
    }
    if ((size_t)(nul - out) != out_len) {
        fz_fail("*out_len is not the output's length");
    }
    if (!ok && out_len != 0) {
        fz_fail("output not empty on failure");
    }
}

static bool
fz_rc_valid(enum gw_scram_rc rc)
{
    return rc == GW_SCRAM_OK || rc == GW_SCRAM_E_SYNTAX ||
           rc == GW_SCRAM_E_UNSUPPORTED || rc == GW_SCRAM_E_AUTHZID ||
           rc == GW_SCRAM_E_PROOF || rc == GW_SCRAM_E_NONCE ||
           rc == GW_SCRAM_E_INTERNAL;
}

/* A saslname decoded the simple way; false if it is not one. */
static bool
fz_saslname(const uint8_t *p, size_t len, uint8_t *dst, size_t *n)
{
    size_t i;

    *n = 0;
    for (i = 0; i < len; i++) {
        if (p[i] == '=') {
            if (i + 2 < len && p[i + 1] == '2' && p[i + 2] == 'C') {
                dst[(*n)++] = ',';
            } else if (i + 2 < len && p[i + 1] == '3' && p[i + 2] == 'D') {
                dst[(*n)++] = '=';
            } else {
                return false;
            }
            i += 2;
        } else {
            dst[(*n)++] = p[i];
        }
    }
    return true;
}

/* After client_first said OK: the struct against the message. */
static void
fz_check_first(const struct gw_scram *x, const uint8_t *msg, size_t len)
{
    uint8_t dec[1024];
    size_t n;
    const uint8_t *b;
    const uint8_t *comma;
    size_t blen;

    if (x->user_len < 1 || x->user_len > GW_SCRAM_USER_MAX ||
        strlen(x->user) != x->user_len ||
        !gw_utf8_valid((const uint8_t *)x->user, x->user_len)) {
        fz_fail("user name out of bounds, with a NUL, or not UTF-8");
    }
    if (x->gs2_len + x->bare_len != len ||
        memcmp(x->gs2, msg, x->gs2_len) != 0 ||
        memcmp(x->bare, msg + x->gs2_len, x->bare_len) != 0) {
        fz_fail("gs2-header and bare are not the message");
    }
    if (x->gs2_len < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',' ||
        msg[x->gs2_len - 1] != ',') {
        fz_fail("accepted a gs2-header that is not n or y");
    }
    if (x->gs2_len > 3 && (msg[2] != 'a' || msg[3] != '=' ||
                           !fz_saslname(msg + 4, x->gs2_len - 5, dec, &n) ||
                           n != x->user_len || memcmp(dec, x->user, n) != 0)) {
        fz_fail("accepted an authzid other than the user");
    }
    b = msg + x->gs2_len;
    blen = x->bare_len;
    comma = memchr(b, ',', blen);
    if (blen < 2 || b[0] != 'n' || b[1] != '=' || comma == NULL ||
        (size_t)(comma - b) - 2 > 3 * GW_SCRAM_USER_MAX ||
        !fz_saslname(b + 2, (size_t)(comma - b) - 2, dec, &n) ||
        n != x->user_len || memcmp(dec, x->user, n) != 0) {
        fz_fail("user is not the decoded n=");
    }
}

/* "r=" c-nonce s-nonce ",s=" salt ",i=" iterations, built here. */
static void
fz_expect_sfirst(const struct gw_scram *x, const struct gw_scram_keys *k,
                 char *dst, size_t cap)
{
    const char *b = x->bare;
    const char *r = strchr(b, ',');
    size_t rlen;
    char salt64[128];

    if (r == NULL || r[1] != 'r' || r[2] != '=') {
        fz_fail("no r= after n=");
    }
    r += 3;
    rlen = strcspn(r, ",");
    if (!gw_base64_encode(salt64, sizeof(salt64), k->salt, k->salt_len) ||
        snprintf(dst, cap, "r=%.*s%s,s=%s,i=%u", (int)rlen, r, FZ_SNONCE_TEXT,
                 salt64, (unsigned)k->iterations) >= (int)cap) {
        fz_fail("expected server-first does not fit");
    }
}

/* HMAC(key, bare "," sfirst "," wp) */
static void
fz_auth_hmac(const uint8_t key[32], const struct gw_scram *x, const uint8_t *wp,
             size_t wp_len, uint8_t mac[32])
{
    mbedtls_md_context_t ctx;
    int rc;

    mbedtls_md_init(&ctx);
    rc = mbedtls_md_setup(&ctx, fz_md(), 1);
    rc = rc != 0 ? rc : mbedtls_md_hmac_starts(&ctx, key, 32);
    rc = rc != 0 ? rc
                 : mbedtls_md_hmac_update(&ctx, (const uint8_t *)x->bare,
                                          x->bare_len);
    rc = rc != 0 ? rc : mbedtls_md_hmac_update(&ctx, (const uint8_t *)",", 1);
    rc = rc != 0
             ? rc
             : mbedtls_md_hmac_update(&ctx, (const uint8_t *)x->server_first,
                                      x->server_first_len);
    rc = rc != 0 ? rc : mbedtls_md_hmac_update(&ctx, (const uint8_t *)",", 1);
    rc = rc != 0 ? rc : mbedtls_md_hmac_update(&ctx, wp, wp_len);
    rc = rc != 0 ? rc : mbedtls_md_hmac_finish(&ctx, mac);
    mbedtls_md_free(&ctx);
    if (rc != 0) {
        fz_fail("mbedTLS HMAC failed");
    }
}

/* The true ClientProof for the message without proof wp. */
static void
fz_true_proof(const struct gw_scram *x, const uint8_t *wp, size_t wp_len,
              uint8_t proof[32])
{
    uint8_t sig[32];
    size_t i;

    fz_auth_hmac(fz_keys.stored_key, x, wp, wp_len, sig);
    for (i = 0; i < 32; i++) {
        proof[i] = fz_client_key[i] ^ sig[i];
    }
}

/*
 * After client_final said OK (x as it was before the call): the keys are
 * the real ones, c= and r= are right, p= is the true proof, and out is
 * v= the true ServerSignature.
 */
static void
fz_check_success(const struct gw_scram *x, const struct gw_scram_keys *k,
                 const uint8_t *msg, size_t len, const char *out)
{
    size_t last = len;
    uint8_t proof[32];
    uint8_t want[32];
    uint8_t ssig[32];
    char c64[1100];
    char v[64];
    size_t n = 0;
    size_t clen;

    if (k != &fz_keys) {
        fz_fail("a proof passed against fake keys");
    }
    while (last > 0 && msg[last - 1] != ',') {
        last--;
    }
    if (last == 0 || len - last < 2 || msg[last] != 'p' ||
        msg[last + 1] != '=' ||
        !gw_base64_decode(proof, sizeof(proof), &n, msg + last + 2,
                          len - last - 2) ||
        n != 32) {
        fz_fail("OK without a 32-octet p= last");
    }
    fz_true_proof(x, msg, last - 1, want);
    if (memcmp(proof, want, 32) != 0) {
        fz_fail("OK for a proof that is not the true one");
    }
    if (!gw_base64_encode(c64, sizeof(c64), (const uint8_t *)x->gs2,
                          x->gs2_len)) {
        fz_fail("gs2 base64 does not fit");
    }
    clen = strlen(c64);
    if (last - 1 < 2 + clen + 3 + x->nonce_len || memcmp(msg, "c=", 2) != 0 ||
        memcmp(msg + 2, c64, clen) != 0 ||
        memcmp(msg + 2 + clen, ",r=", 3) != 0 ||
        memcmp(msg + 5 + clen, x->nonce, x->nonce_len) != 0 ||
        (last - 1 > 5 + clen + x->nonce_len &&
         msg[5 + clen + x->nonce_len] != ',')) {
        fz_fail("OK with a wrong c= or r=");
    }
    fz_auth_hmac(fz_keys.server_key, x, msg, last - 1, ssig);
    memcpy(v, "v=", 2);
    if (!gw_base64_encode(v + 2, sizeof(v) - 2, ssig, 32) ||
        strcmp(out, v) != 0) {
        fz_fail("v= is not the true ServerSignature");
    }
}

/* One client_final call on a copy of *before; checks the output. */
static enum gw_scram_rc
fz_final(const struct gw_scram *before, const struct gw_scram_keys *k,
         const uint8_t *msg, size_t len)
{
    struct gw_scram *x = fz_dup(before, sizeof(*before));
    uint8_t *m = fz_dup(msg, len);
    char *out = fz_out(FZ_SFINAL_CAP);
    size_t out_len = 12345;
    enum gw_scram_rc rc;

    rc = gw_scram_client_final(x, k, m, len, out, FZ_SFINAL_CAP, &out_len);
    if (!fz_rc_valid(rc) || rc == GW_SCRAM_E_AUTHZID ||
        rc == GW_SCRAM_E_INTERNAL) {
        fz_fail("client_final: unexpected result");
    }
    fz_check_out(out, FZ_SFINAL_CAP, out_len, rc == GW_SCRAM_OK);
    if (rc == GW_SCRAM_OK) {
        if (out_len != GW_SCRAM_SERVER_FINAL_LEN) {
            fz_fail("server-final of the wrong length");
        }
        fz_check_success(before, k, msg, len, out);
    }
    /* whatever happened, the exchange is over */
    memset(out, 0xAA, FZ_SFINAL_CAP);
    if (gw_scram_client_final(x, k, m, len, out, FZ_SFINAL_CAP, &out_len) !=
        GW_SCRAM_E_INTERNAL) {
        fz_fail("a second client_final was not refused");
    }
    fz_check_out(out, FZ_SFINAL_CAP, out_len, false);
    gw_scram_wipe(x);
    free(out);
    free(m);
    free(x);
    return rc;
}

/* Mode 1: wp with the true proof, then with one bit of it flipped. */
static void
fz_final_true_proof(const struct gw_scram *before,
                    const struct gw_scram_keys *k, const uint8_t *wp,
                    size_t wp_len, uint8_t flip)
{
    uint8_t proof[32];
    char p64[48];
    size_t len = wp_len + 3 + 44;
    uint8_t *msg = malloc(len);
    enum gw_scram_rc rc1;
    enum gw_scram_rc rc2;

    if (msg == NULL) {
        fz_fail("out of memory");
    }
    fz_true_proof(before, wp, wp_len, proof);
    if (!gw_base64_encode(p64, sizeof(p64), proof, 32)) {
        fz_fail("proof base64");
    }
    memcpy(msg, wp, wp_len);
    memcpy(msg + wp_len, ",p=", 3);
    memcpy(msg + wp_len + 3, p64, 44);
    rc1 = fz_final(before, k, msg, len);
    if (k == &fz_keys && rc1 == GW_SCRAM_E_PROOF) {
        fz_fail("the true proof was refused");
    }
    proof[flip % 32] ^= (uint8_t)(1u << (flip / 32 % 8));
    if (!gw_base64_encode(p64, sizeof(p64), proof, 32)) {
        fz_fail("proof base64");
    }
    memcpy(msg + wp_len + 3, p64, 44);
    rc2 = fz_final(before, k, msg, len);
    if (rc2 != (rc1 == GW_SCRAM_OK ? GW_SCRAM_E_PROOF : rc1)) {
        fz_fail("a flipped proof bit changed more than OK into E_PROOF");
    }
    free(msg);
}

static void
fz_check_zero(const struct gw_scram *x)
{
    static const struct gw_scram zero;

    if (memcmp(x, &zero, sizeof(*x)) != 0) {
        fz_fail("wipe left a non-zero byte");
    }
}

static void
fz_exchange(uint8_t flags, uint8_t flip, const uint8_t *in, size_t len)
{
    const uint8_t *lf = memchr(in, '\n', len);
    size_t first_len = lf != NULL ? (size_t)(lf - in) : len;
    const uint8_t *final = lf != NULL ? lf + 1 : in + len;
    size_t final_len = len - first_len - (lf != NULL ? 1 : 0);
    uint8_t *first = fz_dup(in, first_len);
    struct gw_scram *x = malloc(sizeof(*x));
    struct gw_scram_keys fake;
    const struct gw_scram_keys *k = &fz_keys;
    char expect[FZ_SFIRST_CAP];
    size_t cap = FZ_SFIRST_CAP;
    char *out;
    size_t out_len = 12345;
    enum gw_scram_rc rc;

    if (x == NULL) {
        fz_fail("out of memory");
    }
    memset(x, 0x5A, sizeof(*x)); /* client_first must not rely on zeroes */
    rc = gw_scram_client_first(x, first, first_len);
    if (!fz_rc_valid(rc) || rc == GW_SCRAM_E_PROOF || rc == GW_SCRAM_E_NONCE ||
        rc == GW_SCRAM_E_INTERNAL) {
        fz_fail("client_first: unexpected result");
    }
    if (x->user_len > GW_SCRAM_USER_MAX || x->user[x->user_len] != '\0' ||
        (rc == GW_SCRAM_E_AUTHZID && x->user_len == 0)) {
        fz_fail("client_first: user out of bounds");
    }
    if (rc == GW_SCRAM_OK) {
        fz_check_first(x, first, first_len);
    }
    if (flags & 2) {
        gw_scram_keys_fake(fz_secret, x->user, x->user_len, 4096, &fake);
        k = &fake;
    }
    if (rc == GW_SCRAM_OK) {
        fz_expect_sfirst(x, k, expect, sizeof(expect));
        if (flags & 4) {
            cap = strlen(expect); /* one short */
        }
    }
    out = fz_out(cap);
    {
        enum gw_scram_rc src = gw_scram_server_first(
            x, k, fz_snonce, sizeof(fz_snonce), out, cap, &out_len);

        fz_check_out(out, cap, out_len, src == GW_SCRAM_OK);
        if (rc != GW_SCRAM_OK || (flags & 4)) {
            if (src != GW_SCRAM_E_INTERNAL) {
                fz_fail("server_first went on when it should not");
            }
        } else if (src != GW_SCRAM_OK || strcmp(out, expect) != 0 ||
                   x->server_first_len != out_len ||
                   strcmp(x->server_first, out) != 0) {
            fz_fail("server-first is not what was expected");
        }
        if (src == GW_SCRAM_OK) {
            if (flags & 1) {
                fz_final_true_proof(x, k, final, final_len, flip);
            } else {
                (void)fz_final(x, k, final, final_len);
            }
        }
    }
    gw_scram_wipe(x);
    fz_check_zero(x);
    free(out);
    free(x);
    free(first);
}

/* The input as a users-file string: parse, format, parse again. */
static void
fz_keys_string(const uint8_t *in, size_t len)
{
    char *s = fz_dup(in, len);
    struct gw_scram_keys a;
    struct gw_scram_keys b;
    char *out = fz_out(GW_SCRAM_KEYS_STR_MAX + 1);
    size_t n;

    if (gw_scram_keys_parse(s, len, &a)) {
        n = gw_scram_keys_format(out, GW_SCRAM_KEYS_STR_MAX + 1, &a);
        if (n == 0 || n > GW_SCRAM_KEYS_STR_MAX || strlen(out) != n ||
            !gw_scram_keys_parse(out, n, &b) ||
            memcmp(&a, &b, sizeof(a)) != 0) {
            fz_fail("keys do not survive format and parse");
        }
        /* strict base64, so only leading zeros of the count may differ */
        if (n > len) {
            fz_fail("formatted keys longer than the parsed string");
        }
    }
    free(out);
    free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    if (size < 1) {
        return 0;
    }
    fz_keys_string(data + 1, size - 1);
    fz_exchange(data[0], (uint8_t)(size > 1 ? data[size - 1] : 0), data + 1,
                size - 1);
    return 0;
}
