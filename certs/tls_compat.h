/*
 * Every difference between mbedTLS 2.28 LTS (Debian 12) and 3.x, in one
 * place. The rest of certs/ is written against the macros and inline
 * functions below and never tests MBEDTLS_VERSION_NUMBER itself.
 *
 * Only the 2.28 branch is compiled and tested today. The 3.x branch
 * follows the 3.6 LTS headers and is the checklist for a 3.x build
 * (docs/tls.md, "mbedTLS 2.28 and 3.x"): build it, run test_tls_engine,
 * and fix what the compiler finds here, not elsewhere.
 */
#ifndef TLS_COMPAT_H
#define TLS_COMPAT_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER < 0x03000000
#include <mbedtls/config.h>
#endif

#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#if MBEDTLS_VERSION_NUMBER < 0x02100000
#error "certs/ needs mbedTLS 2.16 or later (2.28 LTS is the target)"
#endif

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define TLS_COMPAT_3X 1
#include <psa/crypto.h>
#else
#define TLS_COMPAT_3X 0
/* 2.28 installs the handshake structure; used only to learn whether a
 * handshake resumed a session (no public accessor in 2.28). */
#include <mbedtls/ssl_internal.h>
#endif

#if !defined(MBEDTLS_SSL_SERVER_NAME_INDICATION) ||                            \
    !defined(MBEDTLS_SSL_SESSION_TICKETS) || !defined(MBEDTLS_SSL_TICKET_C) || \
    !defined(MBEDTLS_X509_CRT_PARSE_C) || !defined(MBEDTLS_GCM_C) ||           \
    !defined(MBEDTLS_ERROR_C) || !defined(MBEDTLS_BASE64_C) ||                 \
    !defined(MBEDTLS_SHA256_C) || !defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
#error "certs/ needs SNI, session tickets, X.509, GCM, error strings, "     \
       "base64, SHA-256 and MBEDTLS_SSL_KEEP_PEER_CERTIFICATE"
#endif

/* Private struct fields: plain in 2.28, wrapped in 3.x. */
#ifndef MBEDTLS_PRIVATE
#define MBEDTLS_PRIVATE(member) member
#endif

/*
 * The RNG callback type (mbedtls_f_rng_t only exists in 3.x headers).
 */
typedef int tls_compat_rng_fn(void *p_rng, unsigned char *out, size_t len);

/* psa_crypto_init(): required by 3.x TLS (1.3 key schedule, PSA-backed
 * ciphers). 2.28 does not use PSA for TLS. Returns 0 on success. */
static inline int
tls_compat_psa_init(void)
{
#if TLS_COMPAT_3X
    return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
#else
    return 0;
#endif
}

/* mbedtls_pk_parse_keyfile / mbedtls_pk_check_pair gained RNG arguments
 * in 3.0 (blinding for RSA private operations). */
static inline int
tls_compat_pk_parse_keyfile(mbedtls_pk_context *pk, const char *path,
                            tls_compat_rng_fn *f_rng, void *p_rng)
{
#if TLS_COMPAT_3X
    return mbedtls_pk_parse_keyfile(pk, path, NULL, f_rng, p_rng);
#else
    (void)f_rng;
    (void)p_rng;
    return mbedtls_pk_parse_keyfile(pk, path, NULL);
#endif
}

static inline int
tls_compat_pk_check_pair(const mbedtls_pk_context *pub,
                         const mbedtls_pk_context *prv,
                         tls_compat_rng_fn *f_rng, void *p_rng)
{
#if TLS_COMPAT_3X
    return mbedtls_pk_check_pair(pub, prv, f_rng, p_rng);
#else
    (void)f_rng;
    (void)p_rng;
    return mbedtls_pk_check_pair(pub, prv);
#endif
}

/*
 * Protocol versions. Our own numbering is TLS_VERSION_* minor numbers:
 * 1 = TLS 1.0, 2 = 1.1, 3 = 1.2, 4 = 1.3. 2.28 speaks up to 1.2 and still
 * compiles in 1.0 and 1.1, so the minimum must always be set explicitly.
 */
static inline void
tls_compat_conf_versions(mbedtls_ssl_config *conf, int min, int max)
{
#if TLS_COMPAT_3X
    /* 3.x knows only 1.2 and 1.3. */
    mbedtls_ssl_conf_min_tls_version(conf, min <= 3
                                               ? MBEDTLS_SSL_VERSION_TLS1_2
                                               : MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_max_tls_version(conf, max >= 4
                                               ? MBEDTLS_SSL_VERSION_TLS1_3
                                               : MBEDTLS_SSL_VERSION_TLS1_2);
#else
    if (max > 3) {
        max = 3;
    }
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, min);
    mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, max);
#endif
}

/* The newest protocol this build can speak (TLS_VERSION_* numbering). */
#if TLS_COMPAT_3X && defined(MBEDTLS_SSL_PROTO_TLS1_3)
#define TLS_COMPAT_MAX_VERSION 4
#else
#define TLS_COMPAT_MAX_VERSION 3
#endif

/*
 * ECDHE groups, preferred first: X25519, then the NIST curves that every
 * MTA speaks. 2.28 takes mbedtls_ecp_group_id values (mbedtls_ssl_conf_curves),
 * 3.x takes IANA group numbers (mbedtls_ssl_conf_groups).
 */
static inline void
tls_compat_conf_groups(mbedtls_ssl_config *conf)
{
#if TLS_COMPAT_3X
    static const uint16_t groups[] = {
        MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
        MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
        MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
        MBEDTLS_SSL_IANA_TLS_GROUP_SECP521R1,
        MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
    };

    mbedtls_ssl_conf_groups(conf, groups);
#else
    static const mbedtls_ecp_group_id curves[] = {
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
        MBEDTLS_ECP_DP_CURVE25519,
#endif
        MBEDTLS_ECP_DP_SECP256R1,
        MBEDTLS_ECP_DP_SECP384R1,
        MBEDTLS_ECP_DP_SECP521R1,
        MBEDTLS_ECP_DP_NONE,
    };

    mbedtls_ssl_conf_curves(conf, curves);
#endif
}

/*
 * Signature hashes in the handshake: SHA-2 only. 2.28's default already
 * excludes SHA-1 unless MBEDTLS_TLS_DEFAULT_ALLOW_SHA1_IN_KEY_EXCHANGE is
 * set; we say so explicitly so a distribution's config cannot widen it.
 * 3.x: mbedtls_ssl_conf_sig_algs with TLS 1.3 scheme numbers; its default
 * list has no SHA-1, so nothing is set there.
 */
static inline void
tls_compat_conf_sig_hashes(mbedtls_ssl_config *conf)
{
#if TLS_COMPAT_3X
    (void)conf;
#else
    static const int hashes[] = {
        MBEDTLS_MD_SHA512,
        MBEDTLS_MD_SHA384,
        MBEDTLS_MD_SHA256,
        MBEDTLS_MD_NONE,
    };

    mbedtls_ssl_conf_sig_hashes(conf, hashes);
#endif
}

/*
 * Cipher suites that 3.x needs on top of the configured TLS 1.2 list for
 * TLS 1.3 to be negotiated at all (its suites are separate IDs); they go
 * first. Empty in 2.28. A configured list replaces the 1.2 suites only.
 */
#if TLS_COMPAT_3X && defined(MBEDTLS_SSL_PROTO_TLS1_3)
#define TLS_COMPAT_TLS13_SUITES                                                \
    "TLS1-3-AES-128-GCM-SHA256", "TLS1-3-AES-256-GCM-SHA384",                  \
        "TLS1-3-CHACHA20-POLY1305-SHA256"
#define TLS_COMPAT_TLS13_NSUITES 3
#else
#define TLS_COMPAT_TLS13_NSUITES 0
#endif

/*
 * "Try again" results beyond WANT_READ/WANT_WRITE. 3.x with TLS 1.3 may
 * return MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET from read/handshake
 * on a client (curl and OpenVPN treat it as "again"; the call may simply
 * be repeated). Crypto/async "in progress" codes cannot happen: we enable
 * neither restartable ECC nor async private keys.
 */
static inline bool
tls_compat_is_retry(int ret)
{
#if TLS_COMPAT_3X && defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
    if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        return true;
    }
#endif
    (void)ret;
    return false;
}

/*
 * Runs the handshake as far as it goes, like mbedtls_ssl_handshake, and
 * notes whether it resumes a session. 2.28 has no accessor for that: we
 * step the handshake ourselves (mbedtls_ssl_handshake is exactly this
 * loop in 2.28) and read the handshake structure's `resume` flag
 * (ssl_internal.h) after each step, while it exists. 3.x keeps the
 * structure private and offers no accessor, so there *resumed is never
 * set (documented in docs/tls.md).
 */
static inline int
tls_compat_handshake(mbedtls_ssl_context *ssl, bool *resumed)
{
#if TLS_COMPAT_3X
    (void)resumed;
    return mbedtls_ssl_handshake(ssl);
#else
    int ret = 0;

    while (ssl->state != MBEDTLS_SSL_HANDSHAKE_OVER) {
        ret = mbedtls_ssl_handshake_step(ssl);
        /* The last value seen before wrap-up frees the structure is the
         * answer: a client sets it when offering a session, and clears
         * it again when the server's ServerHello declines. */
        if (ssl->handshake != NULL) {
            *resumed = ssl->handshake->resume != 0;
        }
        if (ret != 0) {
            break;
        }
    }
    return ret;
#endif
}

/*
 * The raw SubjectPublicKeyInfo of a certificate, as encoded in it (what
 * HPKP-style pins hash). pk_raw is public in 2.28, private in 3.x.
 */
static inline void
tls_compat_crt_spki(const mbedtls_x509_crt *crt, const unsigned char **p,
                    size_t *len)
{
    *p = crt->MBEDTLS_PRIVATE(pk_raw).p;
    *len = crt->MBEDTLS_PRIVATE(pk_raw).len;
}

/*
 * After MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: the alert description the
 * peer sent (RFC 5246 7.2), or -1. The record is still in in_msg.
 */
static inline int
tls_compat_last_alert(const mbedtls_ssl_context *ssl)
{
    if (ssl->MBEDTLS_PRIVATE(in_msg) == NULL ||
        ssl->MBEDTLS_PRIVATE(in_msgtype) != MBEDTLS_SSL_MSG_ALERT ||
        ssl->MBEDTLS_PRIVATE(in_msglen) < 2) {
        return -1;
    }
    return ssl->MBEDTLS_PRIVATE(in_msg)[1];
}

#endif
