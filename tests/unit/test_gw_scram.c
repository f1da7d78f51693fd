/* SCRAM-SHA-256: the RFC 7677 exchange, the keys (derive, format, parse,
 * fake), every way a client message can be refused, and the wipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/md.h>

#include "gateway/gw_sasl.h"
#include "gateway/gw_scram.h"

#define B(s) (const uint8_t *)(s), strlen(s)
#define S(s) (s), strlen(s)

/* RFC 7677 3 */
#define RFC_SALT_B64 "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_NONCE RFC_CNONCE RFC_SNONCE
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_NONCE ",s=" RFC_SALT_B64 ",i=4096"
#define RFC_FINAL_WP "c=biws,r=" RFC_NONCE
#define RFC_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_CLIENT_FINAL RFC_FINAL_WP ",p=" RFC_PROOF
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* The keys for "pencil" in PostgreSQL's form, and ClientKey: computed
 * with Python's hashlib.pbkdf2_hmac/hmac, independently of mbedTLS. */
#define RFC_KEYS                                                               \
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"                             \
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"                            \
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
static const uint8_t rfc_client_key[GW_SCRAM_KEY_LEN] = {
    0xa6, 0x0f, 0xc9, 0x23, 0xd6, 0x7e, 0x86, 0x44, 0xa9, 0x2d, 0x16,
    0xb9, 0x6e, 0xda, 0x5e, 0xf4, 0x65, 0x6b, 0x0c, 0x72, 0x5c, 0x48,
    0x43, 0x74, 0xbe, 0x25, 0x53, 0x55, 0x76, 0x99, 0x6e, 0x8b,
};

static void
rfc_keys(struct gw_scram_keys *k)
{
    uint8_t salt[32];
    size_t n;

    assert_true(gw_base64_decode(salt, sizeof(salt), &n, B(RFC_SALT_B64)));
    assert_true(gw_scram_keys_derive("pencil", 6, salt, n, 4096, k));
}

/* The client side, for exchanges the RFC has no vector for: the proof
 * over bare "," server_first "," without_proof, appended as ",p=". */
static void
client_final(char *dst, size_t cap, const uint8_t client_key[32],
             const uint8_t stored_key[32], const char *bare,
             const char *server_first, const char *without_proof)
{
    char am[4096];
    uint8_t sig[32];
    uint8_t proof[32];
    char b64[64];
    size_t i;

    assert_true((size_t)snprintf(am, sizeof(am), "%s,%s,%s", bare, server_first,
                                 without_proof) < sizeof(am));
    assert_int_equal(
        mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                        stored_key, 32, (const uint8_t *)am, strlen(am), sig),
        0);
    for (i = 0; i < 32; i++) {
        proof[i] = client_key[i] ^ sig[i];
    }
    assert_true(gw_base64_encode(b64, sizeof(b64), proof, sizeof(proof)));
    assert_true((size_t)snprintf(dst, cap, "%s,p=%s", without_proof, b64) <
                cap);
}

/* client-first and server-first of the RFC exchange, into *x. */
static void
rfc_start(struct gw_scram *x, const struct gw_scram_keys *k)
{
    char out[GW_SCRAM_SERVER_FIRST_MAX + 1];
    size_t n = 99;

    assert_int_equal(gw_scram_client_first(x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(
        gw_scram_server_first_text(x, k, S(RFC_SNONCE), out, sizeof(out), &n),
        GW_SCRAM_OK);
    assert_string_equal(out, RFC_SERVER_FIRST);
    assert_int_equal(n, strlen(RFC_SERVER_FIRST));
}

/* A client-final message after rfc_start: its result and output. */
static enum gw_scram_rc
rfc_final(const char *final, char *out, size_t cap, size_t *n)
{
    struct gw_scram x;
    struct gw_scram_keys k;
    enum gw_scram_rc rc;

    rfc_keys(&k);
    rfc_start(&x, &k);
    rc = gw_scram_client_final(&x, &k, B(final), out, cap, n);
    if (rc != GW_SCRAM_OK) {
        assert_string_equal(out, "");
        assert_int_equal(*n, 0);
    }
    gw_scram_wipe(&x);
    return rc;
}

static void
test_rfc7677_vector(void **state)
{
    struct gw_scram x;
    struct gw_scram_keys k;
    char out[64];
    char keys[GW_SCRAM_KEYS_STR_MAX + 1];
    size_t n = 99;

    (void)state;
    rfc_keys(&k);
    assert_int_equal(gw_scram_keys_format(keys, sizeof(keys), &k),
                     strlen(RFC_KEYS));
    assert_string_equal(keys, RFC_KEYS);
    rfc_start(&x, &k);
    assert_string_equal(x.user, "user");
    assert_int_equal(x.user_len, 4);
    assert_int_equal(gw_scram_client_final(&x, &k, B(RFC_CLIENT_FINAL), out,
                                           sizeof(out), &n),
                     GW_SCRAM_OK);
    assert_string_equal(out, RFC_SERVER_FINAL);
    assert_int_equal(n, strlen(RFC_SERVER_FINAL));
    /* the exchange is over: the same message again is refused */
    assert_int_equal(gw_scram_client_final(&x, &k, B(RFC_CLIENT_FINAL), out,
                                           sizeof(out), &n),
                     GW_SCRAM_E_INTERNAL);
    assert_string_equal(out, "");
    gw_scram_wipe(&x);
}

/* Same helper as the RFC, other inputs: a non-ASCII (UTF-8) password, a
 * 20-octet salt, 4097 iterations. Expected values from Python:
 *   sp = hashlib.pbkdf2_hmac('sha256', pw, salt, 4097)
 *   hashlib.sha256(hmac.new(sp, b'Client Key', 'sha256').digest())
 *   hmac.new(sp, b'Server Key', 'sha256') */
static void
test_keys_python_cross_check(void **state)
{
    static const char pass[] = "Tr0ub4dor&3 \xc3\xa9t\xc3\xa9";
    static const uint8_t stored[32] = {
        0x61, 0x04, 0xde, 0xce, 0xa6, 0x6f, 0x5d, 0xaa, 0xa5, 0x46, 0x1e,
        0x6e, 0x2e, 0xe5, 0xd9, 0x82, 0x58, 0xe9, 0x04, 0xfc, 0xde, 0x18,
        0xfc, 0xbb, 0xce, 0x0b, 0x61, 0x5f, 0x88, 0x6c, 0xc8, 0x1f,
    };
    static const uint8_t server[32] = {
        0x49, 0xe1, 0x91, 0xf0, 0xf0, 0x73, 0x74, 0xa2, 0x93, 0xe9, 0x4d,
        0x84, 0xcd, 0x26, 0x77, 0xee, 0xfe, 0x8c, 0x6a, 0x3a, 0x43, 0x49,
        0xc7, 0x63, 0x0b, 0xb3, 0xb4, 0xfe, 0x53, 0xdd, 0xd9, 0x20,
    };
    uint8_t salt[20];
    struct gw_scram_keys k;
    char s[GW_SCRAM_KEYS_STR_MAX + 1];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(salt); i++) {
        salt[i] = (uint8_t)(i + 1);
    }
    assert_true(
        gw_scram_keys_derive(pass, strlen(pass), salt, sizeof(salt), 4097, &k));
    assert_memory_equal(k.stored_key, stored, 32);
    assert_memory_equal(k.server_key, server, 32);
    assert_int_equal(k.salt_len, 20);
    assert_memory_equal(k.salt, salt, 20);
    assert_int_equal(k.iterations, 4097);
    assert_true(gw_scram_keys_format(s, sizeof(s), &k) > 0);
    assert_string_equal(s, "SCRAM-SHA-256$4097:AQIDBAUGBwgJCgsMDQ4PEBESExQ=$"
                           "YQTezqZvXaqlRh5uLuXZgljpBPzeGPy7zgthX4hsyB8=:"
                           "SeGR8PBzdKKT6U2EzSZ37v6MajpDScdjC7O0/lPd2SA=");
}

static void
test_keys_round_trip(void **state)
{
    struct gw_scram_keys k;
    struct gw_scram_keys p;
    uint8_t salt[GW_SCRAM_SALT_MAX];
    char s[GW_SCRAM_KEYS_STR_MAX + 1];
    size_t len;

    (void)state;
    memset(salt, 0xa5, sizeof(salt));
    /* the longest form: 64-octet salt, 8-digit iteration count (the
     * derivation itself is not run at 10^7: the fields are set by hand) */
    assert_true(gw_scram_keys_derive("pw", 2, salt, sizeof(salt), 4096, &k));
    k.iterations = GW_SCRAM_MAX_ITER;
    len = gw_scram_keys_format(s, sizeof(s), &k);
    assert_int_equal(len, GW_SCRAM_KEYS_STR_MAX);
    assert_int_equal(strlen(s), len);
    assert_true(gw_scram_keys_parse(s, len, &p));
    assert_int_equal(p.iterations, k.iterations);
    assert_int_equal(p.salt_len, k.salt_len);
    assert_memory_equal(p.salt, k.salt, k.salt_len);
    assert_memory_equal(p.stored_key, k.stored_key, 32);
    assert_memory_equal(p.server_key, k.server_key, 32);
    /* exactly enough room, and one octet short (nothing left behind) */
    assert_int_equal(gw_scram_keys_format(s, len + 1, &k), len);
    assert_int_equal(gw_scram_keys_format(s, len, &k), 0);
    assert_string_equal(s, "");
    assert_int_equal(gw_scram_keys_format(s, 0, &k), 0);
    /* out-of-range keys are not written */
    k.salt_len = 0;
    assert_int_equal(gw_scram_keys_format(s, sizeof(s), &k), 0);
    /* the RFC's, and a string that is not NUL-terminated where it ends */
    assert_true(gw_scram_keys_parse(RFC_KEYS, strlen(RFC_KEYS), &p));
    assert_int_equal(p.iterations, 4096);
    assert_int_equal(p.salt_len, 16);
    memcpy(s, RFC_KEYS "trailing", strlen(RFC_KEYS) + 8);
    assert_true(gw_scram_keys_parse(s, strlen(RFC_KEYS), &p));
    assert_false(gw_scram_keys_parse(s, strlen(RFC_KEYS) + 8, &p));
}

static void
test_keys_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "SCRAM-SHA-256$",
        "scram-sha-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        /* too few iterations, too many, too many digits, not a number */
        "SCRAM-SHA-256$4095:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$10000001:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7Bke"
        "ZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$000004096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7Bk"
        "eZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$+4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcX"
        "kuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        /* empty salt, unpadded salt, salt with non-zero padding bits */
        "SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE"
        "6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzp"
        "cXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gR==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        /* a 31-octet StoredKey, a 33-octet ServerKey */
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4g==:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dVV",
        /* a missing separator, a space, a newline */
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4qY=wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4qY=: wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkB"
        "FzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n",
        /* Dovecot's layout of the same values */
        "4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4"
        "qY=,wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
    };
    uint8_t zero[sizeof(struct gw_scram_keys)];
    struct gw_scram_keys k;
    char salt65[256];
    uint8_t raw[65];
    size_t i;

    (void)state;
    memset(zero, 0, sizeof(zero));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&k, 0xee, sizeof(k));
        if (gw_scram_keys_parse(bad[i], strlen(bad[i]), &k)) {
            fail_msg("accepted bad[%zu]: %s", i, bad[i]);
        }
        assert_memory_equal(&k, zero, sizeof(k));
    }
    /* a 65-octet salt */
    memset(raw, 1, sizeof(raw));
    assert_true(gw_base64_encode(salt65, sizeof(salt65), raw, sizeof(raw)));
    {
        char s[512];

        snprintf(s, sizeof(s),
                 "SCRAM-SHA-256$4096:%s$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtb"
                 "sT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
                 salt65);
        assert_false(gw_scram_keys_parse(s, strlen(s), &k));
    }
}

static void
test_keys_derive_bounds(void **state)
{
    struct gw_scram_keys k;
    uint8_t salt[GW_SCRAM_SALT_MAX + 1];

    (void)state;
    memset(salt, 7, sizeof(salt));
    assert_false(gw_scram_keys_derive("pw", 2, salt, 0, 4096, &k));
    assert_false(gw_scram_keys_derive("pw", 2, salt, sizeof(salt), 4096, &k));
    assert_false(gw_scram_keys_derive("pw", 2, salt, 16, 4095, &k));
    assert_false(
        gw_scram_keys_derive("pw", 2, salt, 16, GW_SCRAM_MAX_ITER + 1, &k));
    assert_int_equal(k.salt_len, 0);
    assert_int_equal(k.iterations, 0);
    /* an empty password is the caller's business, not an error here */
    assert_true(gw_scram_keys_derive(NULL, 0, salt, 1, 4096, &k));
    assert_true(gw_scram_keys_derive("", 0, salt, GW_SCRAM_SALT_MAX, 4096, &k));
}

/* The production path: raw s-nonce octets, sent as base64. */
static void
test_server_first_raw_nonce(void **state)
{
    struct gw_scram x;
    struct gw_scram_keys k;
    uint8_t snonce[GW_SCRAM_SNONCE_MAX + 1];
    char out[GW_SCRAM_SERVER_FIRST_MAX + 1];
    char sfirst[GW_SCRAM_SERVER_FIRST_MAX + 1];
    char final[512];
    size_t n = 0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(snonce); i++) {
        snonce[i] = (uint8_t)i;
    }
    rfc_keys(&k);
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(
        gw_scram_server_first(&x, &k, snonce, 18, out, sizeof(out), &n),
        GW_SCRAM_OK);
    assert_string_equal(out,
                        "r=" RFC_CNONCE
                        "AAECAwQFBgcICQoLDA0ODxAR,s=" RFC_SALT_B64 ",i=4096");
    assert_int_equal(n, strlen(out));
    strcpy(sfirst, out);
    client_final(final, sizeof(final), rfc_client_key, k.stored_key,
                 "n=user,r=" RFC_CNONCE, sfirst,
                 "c=biws,r=" RFC_CNONCE "AAECAwQFBgcICQoLDA0ODxAR");
    assert_int_equal(
        gw_scram_client_final(&x, &k, B(final), out, sizeof(out), &n),
        GW_SCRAM_OK);
    assert_int_equal(n, GW_SCRAM_SERVER_FINAL_LEN);
    assert_true(strncmp(out, "v=", 2) == 0);

    /* padding '=' is a printable nonce character: 1 octet, "AA==" */
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(
        gw_scram_server_first(&x, &k, snonce, 1, out, sizeof(out), &n),
        GW_SCRAM_OK);
    assert_string_equal(out, "r=" RFC_CNONCE "AA==,s=" RFC_SALT_B64 ",i=4096");
    /* the longest: 48 octets, 64 characters */
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(gw_scram_server_first(&x, &k, snonce, GW_SCRAM_SNONCE_MAX,
                                           out, sizeof(out), &n),
                     GW_SCRAM_OK);
    assert_int_equal(n, 2 + 20 + 64 + 3 + 24 + 7);
    /* no s-nonce, too long an s-nonce: the caller's error */
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(
        gw_scram_server_first(&x, &k, snonce, 0, out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(gw_scram_server_first(&x, &k, snonce,
                                           GW_SCRAM_SNONCE_MAX + 1, out,
                                           sizeof(out), &n),
                     GW_SCRAM_E_INTERNAL);
    assert_string_equal(out, "");
    assert_int_equal(n, 0);
    gw_scram_wipe(&x);
}

static void
test_server_first_bounds(void **state)
{
    struct gw_scram x;
    struct gw_scram_keys k;
    char out[GW_SCRAM_SERVER_FIRST_MAX + 1];
    size_t n = 0;
    size_t need = strlen(RFC_SERVER_FIRST);

    (void)state;
    rfc_keys(&k);
    /* out exactly big enough, then one short */
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S(RFC_SNONCE), out, need + 1, &n),
        GW_SCRAM_OK);
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S(RFC_SNONCE), out, need, &n),
        GW_SCRAM_E_INTERNAL);
    assert_string_equal(out, "");
    /* a text s-nonce with ',' or a space */
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S("ab,c"), out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S("ab c"), out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    /* keys out of range */
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    k.iterations = 1;
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S(RFC_SNONCE), out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    gw_scram_wipe(&x);
}

struct first_case {
    const char *msg;
    size_t len; /* 0: strlen */
    enum gw_scram_rc rc;
    const char *user; /* on OK and E_AUTHZID */
};

static void
test_client_first(void **state)
{
    static const struct first_case cases[] = {
        {"n,,n=user,r=abc", 0, GW_SCRAM_OK, "user"},
        {"y,,n=user,r=abc", 0, GW_SCRAM_OK, "user"},
        {"n,,n=us=2Cer,r=abc", 0, GW_SCRAM_OK, "us,er"},
        {"n,,n==3D=2C=3D,r=abc", 0, GW_SCRAM_OK, "=,="},
        {"n,,n=\xc3\xa9l\xc3\xa8ve,r=abc", 0, GW_SCRAM_OK,
         "\xc3\xa9l\xc3\xa8ve"},
        {"n,,n=user,r=!\"#$%&'()*+-./~", 0, GW_SCRAM_OK, "user"},
        {"n,,n=user,r=abc,x=ext,y=\xc3\xa9", 0, GW_SCRAM_OK, "user"},
        {"n,a=user,n=user,r=abc", 0, GW_SCRAM_OK, "user"},
        {"n,a=us=2Cer,n=us=2Cer,r=abc", 0, GW_SCRAM_OK, "us,er"},
        /* authzid: someone else, or the same name spelled otherwise */
        {"n,a=admin,n=user,r=abc", 0, GW_SCRAM_E_AUTHZID, "user"},
        {"n,a=User,n=user,r=abc", 0, GW_SCRAM_E_AUTHZID, "user"},
        {"n,a=,n=user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,a=a=2,n=user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,b=user,n=user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        /* channel binding, mandatory extensions */
        {"p=tls-unique,,n=user,r=abc", 0, GW_SCRAM_E_UNSUPPORTED, NULL},
        {"p=tls-server-end-point,a=user,n=user,r=abc", 0,
         GW_SCRAM_E_UNSUPPORTED, NULL},
        {"n,,m=ext,n=user,r=abc", 0, GW_SCRAM_E_UNSUPPORTED, NULL},
        {"n,,n=user,r=abc,m=ext", 0, GW_SCRAM_E_UNSUPPORTED, "user"},
        /* the gs2-header */
        {"", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,n=user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"x,,n=user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"N,,n=user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n=,,n=user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"p,,n=user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,", 0, GW_SCRAM_E_SYNTAX, NULL},
        /* missing n=, missing r=, order */
        {"n,,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,r=abc,n=user", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=user", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,x=abc", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,user,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        /* saslname escapes */
        {"n,,n=us=2cer,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=us=3der,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=us=41er,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=us=er,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=user=,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=user=2,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=u\0er,r=abc", 15, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=\xff\xfe,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        {"n,,n=\xc3,r=abc", 0, GW_SCRAM_E_SYNTAX, NULL},
        /* the nonce */
        {"n,,n=user,r=", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,r=a b", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,r=a\x7f", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,r=\xc3\xa9", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,r=ab\0", 15, GW_SCRAM_E_SYNTAX, "user"},
        /* extensions */
        {"n,,n=user,r=abc,x=", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,r=abc,x", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,r=abc,1=x", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,r=abc,,x=y", 0, GW_SCRAM_E_SYNTAX, "user"},
        {"n,,n=user,r=abc,x=\xff", 0, GW_SCRAM_E_SYNTAX, "user"},
    };
    struct gw_scram x;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct first_case *c = &cases[i];
        size_t len = c->len != 0 ? c->len : strlen(c->msg);
        enum gw_scram_rc rc;

        memset(&x, 0x5a, sizeof(x)); /* must not rely on a clean struct */
        rc = gw_scram_client_first(&x, (const uint8_t *)c->msg, len);
        if (rc != c->rc) {
            fail_msg("case %zu \"%s\": %d, expected %d", i, c->msg, rc, c->rc);
        }
        if (c->user != NULL) {
            assert_string_equal(x.user, c->user);
            assert_int_equal(x.user_len, strlen(c->user));
        } else if (rc != GW_SCRAM_OK) {
            assert_int_equal(x.user_len, 0);
            assert_string_equal(x.user, "");
        }
    }
    gw_scram_wipe(&x);
}

/* Bounds: user 1..255 octets after decoding, c-nonce 1..128, and the
 * longest escaped name still fits client-first-message-bare. */
static void
test_client_first_bounds(void **state)
{
    struct gw_scram x;
    char msg[2048];
    char name[1024];
    char nonce[129];
    size_t i;

    (void)state;
    memset(name, 'u', 255);
    name[255] = '\0';
    snprintf(msg, sizeof(msg), "n,,n=%s,r=abc", name);
    assert_int_equal(gw_scram_client_first(&x, B(msg)), GW_SCRAM_OK);
    assert_int_equal(x.user_len, 255);
    name[255] = 'u';
    name[256] = '\0';
    snprintf(msg, sizeof(msg), "n,,n=%s,r=abc", name);
    assert_int_equal(gw_scram_client_first(&x, B(msg)), GW_SCRAM_E_SYNTAX);

    /* 255 commas: 765 octets escaped, as user and as authzid */
    for (i = 0; i < 255; i++) {
        memcpy(name + 3 * i, "=2C", 3);
    }
    name[765] = '\0';
    memset(nonce, 'r', 128);
    nonce[128] = '\0';
    {
        char m2[4096];

        snprintf(m2, sizeof(m2), "n,a=%s,n=%s,r=%s", name, name, nonce);
        assert_int_equal(gw_scram_client_first(&x, B(m2)), GW_SCRAM_OK);
        assert_int_equal(x.user_len, 255);
        assert_int_equal(x.user[254], ',');
        /* one more escaped comma: 256 octets */
        snprintf(m2, sizeof(m2), "n,,n==2C%s,r=abc", name);
        assert_int_equal(gw_scram_client_first(&x, B(m2)), GW_SCRAM_E_SYNTAX);
        snprintf(m2, sizeof(m2), "n,a==2C%s,n=user,r=abc", name);
        assert_int_equal(gw_scram_client_first(&x, B(m2)), GW_SCRAM_E_SYNTAX);
        /* a 129-character nonce */
        snprintf(m2, sizeof(m2), "n,,n=user,r=%sr", nonce);
        assert_int_equal(gw_scram_client_first(&x, B(m2)), GW_SCRAM_E_SYNTAX);
        /* extensions past GW_SCRAM_BARE_MAX */
        /* "n=user,r=abc,x=" is 15 octets: 1009 more make 1024 */
        memset(name, 'e', 1010);
        name[1010] = '\0';
        snprintf(m2, sizeof(m2), "n,,n=user,r=abc,x=%s", name);
        assert_int_equal(gw_scram_client_first(&x, B(m2)), GW_SCRAM_E_SYNTAX);
        name[1009] = '\0';
        snprintf(m2, sizeof(m2), "n,,n=user,r=abc,x=%s", name);
        assert_int_equal(gw_scram_client_first(&x, B(m2)), GW_SCRAM_OK);
    }
    gw_scram_wipe(&x);
}

static void
test_client_final_errors(void **state)
{
    char out[64];
    size_t n = 99;
    /* the RFC's proof with its last octet changed */
    static const char wrong_proof[] =
        "c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=";

    (void)state;
    /* wrong password */
    assert_int_equal(rfc_final(wrong_proof, out, sizeof(out), &n),
                     GW_SCRAM_E_PROOF);
    /* wrong nonce: the client's alone, one more character, one less */
    assert_int_equal(
        rfc_final("c=biws,r=" RFC_CNONCE ",p=" RFC_PROOF, out, sizeof(out), &n),
        GW_SCRAM_E_NONCE);
    assert_int_equal(
        rfc_final("c=biws,r=" RFC_NONCE "x,p=" RFC_PROOF, out, sizeof(out), &n),
        GW_SCRAM_E_NONCE);
    assert_int_equal(rfc_final("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfu"
                               "xFIlj)hNlF$k,p=" RFC_PROOF,
                               out, sizeof(out), &n),
                     GW_SCRAM_E_NONCE);
    assert_int_equal(rfc_final("c=biws,r=,p=" RFC_PROOF, out, sizeof(out), &n),
                     GW_SCRAM_E_NONCE);
    /* wrong c=: "y,,", "n,,n" , not canonical, empty */
    assert_int_equal(
        rfc_final("c=eSws,r=" RFC_NONCE ",p=" RFC_PROOF, out, sizeof(out), &n),
        GW_SCRAM_E_SYNTAX);
    assert_int_equal(rfc_final("c=biwsbg==,r=" RFC_NONCE ",p=" RFC_PROOF, out,
                               sizeof(out), &n),
                     GW_SCRAM_E_SYNTAX);
    assert_int_equal(
        rfc_final("c=biws=,r=" RFC_NONCE ",p=" RFC_PROOF, out, sizeof(out), &n),
        GW_SCRAM_E_SYNTAX);
    assert_int_equal(
        rfc_final("c=,r=" RFC_NONCE ",p=" RFC_PROOF, out, sizeof(out), &n),
        GW_SCRAM_E_SYNTAX);
    /* short proof (31 octets), long proof (33), not base64, empty */
    assert_int_equal(rfc_final("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9yt"
                               "ag9zjfMHgsqmmiz7AndQ==",
                               out, sizeof(out), &n),
                     GW_SCRAM_E_SYNTAX);
    assert_int_equal(rfc_final("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9yt"
                               "ag9zjfMHgsqmmiz7AndVQA",
                               out, sizeof(out), &n),
                     GW_SCRAM_E_SYNTAX);
    assert_int_equal(rfc_final("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9yt"
                               "ag9zjfMHgsqmmiz7AndVQ",
                               out, sizeof(out), &n),
                     GW_SCRAM_E_SYNTAX);
    assert_int_equal(
        rfc_final("c=biws,r=" RFC_NONCE ",p=", out, sizeof(out), &n),
        GW_SCRAM_E_SYNTAX);
    /* structure: no proof, proof not last, no c=, no r=, order, junk */
    assert_int_equal(rfc_final(RFC_FINAL_WP, out, sizeof(out), &n),
                     GW_SCRAM_E_SYNTAX);
    assert_int_equal(
        rfc_final("c=biws,p=" RFC_PROOF ",r=" RFC_NONCE, out, sizeof(out), &n),
        GW_SCRAM_E_SYNTAX);
    assert_int_equal(
        rfc_final("r=" RFC_NONCE ",p=" RFC_PROOF, out, sizeof(out), &n),
        GW_SCRAM_E_SYNTAX);
    assert_int_equal(rfc_final("c=biws,p=" RFC_PROOF, out, sizeof(out), &n),
                     GW_SCRAM_E_SYNTAX);
    assert_int_equal(
        rfc_final("r=" RFC_NONCE ",c=biws,p=" RFC_PROOF, out, sizeof(out), &n),
        GW_SCRAM_E_SYNTAX);
    assert_int_equal(
        rfc_final("c=biws,r=" RFC_NONCE ",,p=" RFC_PROOF, out, sizeof(out), &n),
        GW_SCRAM_E_SYNTAX);
    assert_int_equal(rfc_final("c=biws,r=" RFC_NONCE ",x,p=" RFC_PROOF, out,
                               sizeof(out), &n),
                     GW_SCRAM_E_SYNTAX);
    assert_int_equal(rfc_final("", out, sizeof(out), &n), GW_SCRAM_E_SYNTAX);
    assert_int_equal(rfc_final(",", out, sizeof(out), &n), GW_SCRAM_E_SYNTAX);
    assert_int_equal(rfc_final(RFC_CLIENT_FINAL ",", out, sizeof(out), &n),
                     GW_SCRAM_E_SYNTAX);
    /* a mandatory extension */
    assert_int_equal(rfc_final("c=biws,r=" RFC_NONCE ",m=x,p=" RFC_PROOF, out,
                               sizeof(out), &n),
                     GW_SCRAM_E_UNSUPPORTED);
    /* an optional extension is ignored, but it is part of the
     * AuthMessage: the RFC's proof no longer matches */
    assert_int_equal(rfc_final("c=biws,r=" RFC_NONCE ",x=y,p=" RFC_PROOF, out,
                               sizeof(out), &n),
                     GW_SCRAM_E_PROOF);
    /* no room for the server-final message */
    assert_int_equal(
        rfc_final(RFC_CLIENT_FINAL, out, GW_SCRAM_SERVER_FINAL_LEN, &n),
        GW_SCRAM_E_INTERNAL);
    assert_int_equal(
        rfc_final(RFC_CLIENT_FINAL, out, GW_SCRAM_SERVER_FINAL_LEN + 1, &n),
        GW_SCRAM_OK);
    assert_string_equal(out, RFC_SERVER_FINAL);
}

/* Exchanges the RFC has no vector for: "y", an authzid, escapes and
 * extensions, each end to end with a proof computed here. */
static void
test_exchange_variants(void **state)
{
    static const struct {
        const char *first;
        size_t gs2_len;
        const char *c64;
        const char *ext; /* after r= in the final message */
    } v[] = {
        {"y,,n=user,r=abc", 3, "eSws", ""},
        {"n,a=user,n=user,r=abc", 9, "bixhPXVzZXIs", ""},
        {"y,a=us=2Cer,n=us=2Cer,r=abc,x=1", 12, "eSxhPXVzPTJDZXIs", ",x=2"},
    };
    struct gw_scram_keys k;
    size_t i;

    (void)state;
    rfc_keys(&k);
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct gw_scram x;
        char sfirst[GW_SCRAM_SERVER_FIRST_MAX + 1];
        char wp[512];
        char final[600];
        char out[64];
        size_t n;
        enum gw_scram_rc rc;

        assert_int_equal(gw_scram_client_first(&x, B(v[i].first)), GW_SCRAM_OK);
        assert_int_equal(gw_scram_server_first_text(&x, &k, S("SNONCE"), sfirst,
                                                    sizeof(sfirst), &n),
                         GW_SCRAM_OK);
        snprintf(wp, sizeof(wp), "c=%s,r=abcSNONCE%s", v[i].c64, v[i].ext);
        client_final(final, sizeof(final), rfc_client_key, k.stored_key,
                     v[i].first + v[i].gs2_len, sfirst, wp);
        rc = gw_scram_client_final(&x, &k, B(final), out, sizeof(out), &n);
        if (rc != GW_SCRAM_OK) {
            fail_msg("variant %zu: %d", i, rc);
        }
        /* and c=biws, the gs2-header of "n,,", is refused for each */
        assert_int_equal(gw_scram_client_first(&x, B(v[i].first)), GW_SCRAM_OK);
        assert_int_equal(gw_scram_server_first_text(&x, &k, S("SNONCE"), sfirst,
                                                    sizeof(sfirst), &n),
                         GW_SCRAM_OK);
        snprintf(wp, sizeof(wp), "c=biws,r=abcSNONCE%s", v[i].ext);
        client_final(final, sizeof(final), rfc_client_key, k.stored_key,
                     v[i].first + v[i].gs2_len, sfirst, wp);
        assert_int_equal(
            gw_scram_client_final(&x, &k, B(final), out, sizeof(out), &n),
            GW_SCRAM_E_SYNTAX);
        gw_scram_wipe(&x);
    }
}

static void
test_state_machine(void **state)
{
    struct gw_scram x;
    struct gw_scram_keys k;
    char out[GW_SCRAM_SERVER_FIRST_MAX + 1];
    size_t n = 99;

    (void)state;
    rfc_keys(&k);
    /* client-final before server-first */
    assert_int_equal(gw_scram_client_first(&x, B(RFC_CLIENT_FIRST)),
                     GW_SCRAM_OK);
    assert_int_equal(gw_scram_client_final(&x, &k, B(RFC_CLIENT_FINAL), out,
                                           sizeof(out), &n),
                     GW_SCRAM_E_INTERNAL);
    /* ... and that ended the exchange */
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S(RFC_SNONCE), out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    /* server-first twice */
    rfc_start(&x, &k);
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S(RFC_SNONCE), out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    /* after a refused client-first nothing goes on */
    assert_int_equal(gw_scram_client_first(&x, B("n,,n=user")),
                     GW_SCRAM_E_SYNTAX);
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S(RFC_SNONCE), out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    assert_int_equal(gw_scram_client_first(&x, B("n,a=bob,n=user,r=abc")),
                     GW_SCRAM_E_AUTHZID);
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S(RFC_SNONCE), out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    /* after a wrong proof the right one is too late */
    rfc_start(&x, &k);
    assert_int_equal(
        gw_scram_client_final(&x, &k,
                              B("c=biws,r=" RFC_NONCE ",p=AAAAAAAAAAAAAAAAAAAA"
                                "AAAAAAAAAAAAAAAAAAAAAAA="),
                              out, sizeof(out), &n),
        GW_SCRAM_E_PROOF);
    assert_int_equal(gw_scram_client_final(&x, &k, B(RFC_CLIENT_FINAL), out,
                                           sizeof(out), &n),
                     GW_SCRAM_E_INTERNAL);
    /* a wiped struct is not in any exchange */
    gw_scram_wipe(&x);
    assert_int_equal(
        gw_scram_server_first_text(&x, &k, S(RFC_SNONCE), out, sizeof(out), &n),
        GW_SCRAM_E_INTERNAL);
    assert_int_equal(gw_scram_client_final(&x, &k, B(RFC_CLIENT_FINAL), out,
                                           sizeof(out), &n),
                     GW_SCRAM_E_INTERNAL);
}

static void
test_fake_keys(void **state)
{
    uint8_t secret[32];
    struct gw_scram_keys a;
    struct gw_scram_keys b;
    struct gw_scram_keys c;
    struct gw_scram x;
    char out[GW_SCRAM_SERVER_FIRST_MAX + 1];
    uint8_t snonce[18] = {1, 2, 3};
    size_t n;

    (void)state;
    memset(secret, 0x42, sizeof(secret));
    gw_scram_keys_fake(secret, S("mallory"), 8192, &a);
    gw_scram_keys_fake(secret, S("mallory"), 8192, &b);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(a.salt_len, GW_SCRAM_SALT_LEN);
    assert_int_equal(a.iterations, 8192);
    /* another user, another secret: other salt and keys */
    gw_scram_keys_fake(secret, S("mallorz"), 8192, &c);
    assert_memory_not_equal(a.salt, c.salt, GW_SCRAM_SALT_LEN);
    assert_memory_not_equal(a.stored_key, c.stored_key, 32);
    assert_memory_not_equal(a.server_key, c.server_key, 32);
    secret[31] ^= 1;
    gw_scram_keys_fake(secret, S("mallory"), 8192, &c);
    assert_memory_not_equal(a.salt, c.salt, GW_SCRAM_SALT_LEN);
    assert_memory_not_equal(a.stored_key, c.stored_key, 32);
    /* the iterations are clamped into range */
    gw_scram_keys_fake(secret, S("mallory"), 1, &c);
    assert_int_equal(c.iterations, GW_SCRAM_MIN_ITER);
    gw_scram_keys_fake(secret, S("mallory"), 0xffffffffu, &c);
    assert_int_equal(c.iterations, GW_SCRAM_MAX_ITER);
    gw_scram_keys_fake(secret, NULL, 0, 4096, &c);
    assert_int_equal(c.salt_len, GW_SCRAM_SALT_LEN);
    /* an unknown user gets through server-first and fails at the proof */
    assert_int_equal(gw_scram_client_first(&x, B("n,,n=mallory,r=abc")),
                     GW_SCRAM_OK);
    assert_int_equal(gw_scram_server_first(&x, &a, snonce, sizeof(snonce), out,
                                           sizeof(out), &n),
                     GW_SCRAM_OK);
    assert_int_equal(gw_scram_client_final(&x, &a,
                                           B("c=biws,r=abcAQIDAAAAAAAAAAAAAA"
                                             "AAAAAA,p=" RFC_PROOF),
                                           out, sizeof(out), &n),
                     GW_SCRAM_E_PROOF);
    gw_scram_wipe(&x);
}

static void
test_wipe(void **state)
{
    struct gw_scram x;
    struct gw_scram_keys k;
    uint8_t zero[sizeof(x)];

    (void)state;
    rfc_keys(&k);
    rfc_start(&x, &k);
    gw_scram_wipe(&x);
    memset(zero, 0, sizeof(zero));
    assert_memory_equal(&x, zero, sizeof(x));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7677_vector),
        cmocka_unit_test(test_keys_python_cross_check),
        cmocka_unit_test(test_keys_round_trip),
        cmocka_unit_test(test_keys_parse_rejects),
        cmocka_unit_test(test_keys_derive_bounds),
        cmocka_unit_test(test_server_first_raw_nonce),
        cmocka_unit_test(test_server_first_bounds),
        cmocka_unit_test(test_client_first),
        cmocka_unit_test(test_client_first_bounds),
        cmocka_unit_test(test_client_final_errors),
        cmocka_unit_test(test_exchange_variants),
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_fake_keys),
        cmocka_unit_test(test_wipe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
