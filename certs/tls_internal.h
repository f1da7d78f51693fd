/*
 * Declarations shared between the files of certs/. Nothing outside certs/
 * includes this, except unit tests that need to look inside.
 */
#ifndef TLS_INTERNAL_H
#define TLS_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certs/tls_compat.h"

#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "certs/tls_ctx.h"
#include "certs/tls_engine.h"

#if defined(__GNUC__) || defined(__clang__)
#define TLS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TLS_PRINTF(f, a)
#endif

#define TLS_PIN_LEN 32    /* SHA-256 */
#define TLS_NAME_MAX 253  /* a DNS name, without the trailing dot */
#define TLS_NAMES_MAX 256 /* names kept per certificate */
#define TLS_REASON_MAX 512

/* tls_rng.c: the only place that touches entropy and the DRBG. */
struct tls_rng;

/* A DRBG seeded from the system's entropy, reseeded after fork. */
struct tls_rng *tls_rng_new(struct tls_err *err);
void tls_rng_free(struct tls_rng *r);
/* The f_rng callback for mbedTLS; p_rng is a struct tls_rng. */
int tls_rng_random(void *p_rng, unsigned char *out, size_t len);

/* A certificate chain with its key, and the names it answers for. */
struct tls_cert_entry {
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    char **names; /* lower case; "*.example.com" kept as is */
    size_t nnames;
    bool in_default; /* part of the no-SNI / no-match set */
};

struct tls_ctx {
    unsigned refs;
    enum tls_role role;
    enum tls_client_mode mode;
    mbedtls_ssl_config conf;
    bool conf_ready;
    struct tls_rng *rng;
    int *suites; /* 0-terminated; conf points here */

    /* server */
    struct tls_cert_entry *certs;
    size_t ncerts;
    mbedtls_ssl_ticket_context ticket;
    bool has_ticket;
    mbedtls_x509_crt client_ca;
    bool has_client_ca;

    /* client */
    mbedtls_x509_crt ca;
    bool has_ca;
    struct tls_cert_entry own; /* client certificate, if any */
    bool has_own;
    char *server_name;
    uint8_t (*pins)[TLS_PIN_LEN];
    size_t npins;
};

/* cipher_in and cipher_out: fixed-capacity rings. */
struct tls_ring {
    uint8_t *buf;
    size_t cap;
    size_t head; /* first byte */
    size_t len;  /* bytes held */
};

struct tls_engine {
    mbedtls_ssl_context ssl;
    struct tls_ctx *ctx;
    struct tls_ring in;
    struct tls_ring out;
    size_t blocked_len; /* length of a write that got WANT_*; 0: none */
    bool hs_done;
    bool resumed;
    bool failed;
    bool eof;
    bool closed;       /* close_notify queued: no more writes */
    bool name_checked; /* client: a name was given to verify */
    bool pin_matched;
    bool pin_failed;
    bool has_sni;
    enum tls_peer_trust trust;
    char sni[TLS_NAME_MAX + 1];
    char reason[TLS_REASON_MAX];
    char verify_info[256];
    char subject[256];
    char peer_pin[48]; /* base64 SHA-256 of the leaf SPKI, for reasons */
};

struct tls_session {
    mbedtls_ssl_session session;
    struct tls_ctx *ctx; /* reference: only resumable with this ctx */
};

/* The engine around an mbedTLS context (callbacks get only `ssl`). */
static inline struct tls_engine *
tls_engine_of(mbedtls_ssl_context *ssl)
{
    return (struct tls_engine *)(void *)((char *)ssl -
                                         offsetof(struct tls_engine, ssl));
}

/* tls_store.c: generations, files, names, shared configuration. */
struct tls_ctx *tls_ctx_alloc(enum tls_role role, struct tls_err *err);
void tls_ctx_free(struct tls_ctx *ctx);
int tls_conf_common(struct tls_ctx *ctx, const char *const *suites,
                    size_t nsuites, enum tls_version min, struct tls_err *err);
int tls_entry_load(struct tls_cert_entry *ce, const char *cert_file,
                   const char *key_file, struct tls_rng *rng,
                   struct tls_err *err);
void tls_entry_free(struct tls_cert_entry *ce);
int tls_ca_load(mbedtls_x509_crt *ca, const char *path, struct tls_err *err);
/* 2: exact match, 1: wildcard match, 0: none. pattern is lower case. */
int tls_name_match(const char *pattern, const char *name);
/* Copies a DNS name into dst (TLS_NAME_MAX + 1) in lower case, without a
 * trailing dot. false if it is empty, too long or has other bytes than
 * letters, digits, '-', '_', '.' (and a leading "*." when wild is set). */
bool tls_name_normalize(const uint8_t *p, size_t len, bool wild, char *dst);

/* tls_verify.c: verification, pins, reasons. */
void tls_err_set(struct tls_err *err, int code, const char *fmt, ...)
    TLS_PRINTF(3, 4);
/* "<mbedTLS text> (-0x2700)" */
void tls_strerror(int ret, char *dst, size_t cap);
int tls_pin_parse(const char *text, uint8_t out[TLS_PIN_LEN]);
int tls_pin_of_crt(const mbedtls_x509_crt *crt, uint8_t out[TLS_PIN_LEN]);
int tls_verify_on_cert(void *p_vrfy, mbedtls_x509_crt *crt, int depth,
                       uint32_t *flags);
/* Fills e->trust, verify_info and subject once the handshake is done. */
void tls_verify_done(struct tls_engine *e);
/* Records a fatal result: e->failed and e->reason ("op: why"). */
int tls_engine_fail(struct tls_engine *e, const char *op, int ret);

/* tls_server.c */
int tls_server_on_sni(void *p_sni, mbedtls_ssl_context *ssl,
                      const unsigned char *name, size_t len);

#endif
