/*
 * Server contexts: certificate chains and keys, the SNI map, optional
 * client certificates, and session tickets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ssl_ticket.h>

#include "certs/tls_internal.h"

static int tls_server_load_certs(struct tls_ctx *ctx,
                                 const struct tls_server_opts *o,
                                 struct tls_err *err);
static int tls_server_default_set(struct tls_ctx *ctx, struct tls_err *err);
static int tls_server_tickets(struct tls_ctx *ctx,
                              const struct tls_server_opts *o,
                              struct tls_err *err);
static int tls_server_entry_match(const struct tls_cert_entry *ce,
                                  const char *name);

struct tls_ctx *
tls_server_ctx_new(const struct tls_server_opts *o, struct tls_err *err)
{
    struct tls_ctx *ctx;

    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
    if (o == NULL || o->certs == NULL || o->ncerts == 0 ||
        o->ncerts > TLS_MAX_CERTS) {
        tls_err_set(err, TLS_E_INVAL,
                    "a TLS listener needs 1 to %d certificates", TLS_MAX_CERTS);
        return NULL;
    }
    if (o->ticket_lifetime > TLS_MAX_TICKET_LIFETIME) {
        tls_err_set(err, TLS_E_INVAL,
                    "ticket lifetime %u s is over the limit of %d s",
                    (unsigned)o->ticket_lifetime, TLS_MAX_TICKET_LIFETIME);
        return NULL;
    }
    ctx = tls_ctx_alloc(TLS_ROLE_SERVER, err);
    if (ctx == NULL) {
        return NULL;
    }
    if (tls_conf_common(ctx, o->ciphersuites, o->nciphersuites, TLS_VERSION_1_2,
                        err) != 0 ||
        tls_server_load_certs(ctx, o, err) != 0 ||
        tls_server_default_set(ctx, err) != 0 ||
        tls_server_tickets(ctx, o, err) != 0) {
        tls_ctx_free(ctx);
        return NULL;
    }
    mbedtls_ssl_conf_sni(&ctx->conf, tls_server_on_sni, ctx);
    if (o->client_ca_file != NULL) {
        if (tls_ca_load(&ctx->client_ca, o->client_ca_file, err) != 0) {
            tls_ctx_free(ctx);
            return NULL;
        }
        ctx->has_client_ca = true;
        mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->client_ca, NULL);
        /* Asked for, verified, recorded; never required (SMTP clients
         * authenticate, if at all, with AUTH). */
        mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
    } else {
        mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    return ctx;
}

static int
tls_server_load_certs(struct tls_ctx *ctx, const struct tls_server_opts *o,
                      struct tls_err *err)
{
    size_t i;
    int ret;

    ctx->certs = calloc(o->ncerts, sizeof(*ctx->certs));
    if (ctx->certs == NULL) {
        tls_err_set(err, TLS_E_NOMEM, "out of memory (certificates)");
        return TLS_E_NOMEM;
    }
    for (i = 0; i < o->ncerts; i++) {
        struct tls_cert_entry *ce = &ctx->certs[i];

        mbedtls_x509_crt_init(&ce->chain);
        mbedtls_pk_init(&ce->key);
        ctx->ncerts++;
        ret = tls_entry_load(ce, o->certs[i].cert_file, o->certs[i].key_file,
                             ctx->rng, err);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

/*
 * The default set: certs[0], plus any later certificate that covers
 * certs[0]'s first name (so an RSA + ECDSA pair for the same host both
 * serve clients without SNI, and mbedTLS picks by the suite's key type).
 */
static int
tls_server_default_set(struct tls_ctx *ctx, struct tls_err *err)
{
    const struct tls_cert_entry *first = &ctx->certs[0];
    char why[200];
    size_t i;
    int ret;

    for (i = 0; i < ctx->ncerts; i++) {
        struct tls_cert_entry *ce = &ctx->certs[i];

        if (i > 0 && (first->nnames == 0 ||
                      tls_server_entry_match(ce, first->names[0]) == 0)) {
            continue;
        }
        ret = mbedtls_ssl_conf_own_cert(&ctx->conf, &ce->chain, &ce->key);
        if (ret != 0) {
            tls_strerror(ret, why, sizeof(why));
            tls_err_set(err, TLS_E_CRYPTO, "default certificate: %s", why);
            return TLS_E_CRYPTO;
        }
        ce->in_default = true;
    }
    return 0;
}

/* Ticket keys are per generation (AES-256-GCM, rotated every lifetime by
 * mbedTLS): tickets from an older generation fall back to a full
 * handshake, which is harmless. */
static int
tls_server_tickets(struct tls_ctx *ctx, const struct tls_server_opts *o,
                   struct tls_err *err)
{
    uint32_t lifetime =
        o->ticket_lifetime != 0 ? o->ticket_lifetime : TLS_DEF_TICKET_LIFETIME;
    char why[200];
    int ret;

    if (o->disable_tickets) {
        return 0;
    }
    ret = mbedtls_ssl_ticket_setup(&ctx->ticket, tls_rng_random, ctx->rng,
                                   MBEDTLS_CIPHER_AES_256_GCM, lifetime);
    if (ret != 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_CRYPTO, "session ticket keys: %s", why);
        return TLS_E_CRYPTO;
    }
    ctx->has_ticket = true;
    mbedtls_ssl_conf_session_tickets_cb(&ctx->conf, mbedtls_ssl_ticket_write,
                                        mbedtls_ssl_ticket_parse, &ctx->ticket);
    return 0;
}

/* The best match of a name among an entry's names (2 exact, 1 wildcard). */
static int
tls_server_entry_match(const struct tls_cert_entry *ce, const char *name)
{
    int best = 0;
    int m;
    size_t i;

    for (i = 0; i < ce->nnames && best < 2; i++) {
        m = tls_name_match(ce->names[i], name);
        if (m > best) {
            best = m;
        }
    }
    return best;
}

/*
 * The SNI callback: offers every certificate whose names match the
 * client's name at the best level found (exact beats wildcard), in list
 * order; mbedTLS picks among them by key type. No match keeps the
 * default set. A name that is not a valid DNS name matches nothing and is
 * not recorded. Never fails the handshake over a name: an MTA client
 * often sends no SNI, or an address.
 */
int
tls_server_on_sni(void *p_sni, mbedtls_ssl_context *ssl,
                  const unsigned char *name, size_t len)
{
    struct tls_ctx *ctx = p_sni;
    struct tls_engine *e = tls_engine_of(ssl);
    int best = 0;
    int ret;
    size_t i;

    if (!tls_name_normalize(name, len, false, e->sni)) {
        e->sni[0] = '\0';
        return 0;
    }
    e->has_sni = true;
    for (i = 0; i < ctx->ncerts; i++) {
        int m = tls_server_entry_match(&ctx->certs[i], e->sni);

        if (m > best) {
            best = m;
        }
    }
    if (best == 0) {
        return 0;
    }
    for (i = 0; i < ctx->ncerts; i++) {
        if (tls_server_entry_match(&ctx->certs[i], e->sni) != best) {
            continue;
        }
        ret = mbedtls_ssl_set_hs_own_cert(ssl, &ctx->certs[i].chain,
                                          &ctx->certs[i].key);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}
