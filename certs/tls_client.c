/*
 * Client contexts (the upstream leg): CA certificates, verify mode, the
 * name to check, SPKI pins, an optional client certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs/tls_internal.h"

static int tls_client_check_opts(const struct tls_client_opts *o,
                                 struct tls_err *err);
static int tls_client_ca(struct tls_ctx *ctx, const struct tls_client_opts *o,
                         struct tls_err *err);
static int tls_client_pins(struct tls_ctx *ctx, const struct tls_client_opts *o,
                           struct tls_err *err);
static int tls_client_own_cert(struct tls_ctx *ctx,
                               const struct tls_client_opts *o,
                               struct tls_err *err);

struct tls_ctx *
tls_client_ctx_new(const struct tls_client_opts *o, struct tls_err *err)
{
    struct tls_ctx *ctx;

    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
    if (tls_client_check_opts(o, err) != 0) {
        return NULL;
    }
    ctx = tls_ctx_alloc(TLS_ROLE_CLIENT, err);
    if (ctx == NULL) {
        return NULL;
    }
    ctx->mode = o->mode;
    if (o->server_name != NULL) {
        ctx->server_name = strdup(o->server_name);
        if (ctx->server_name == NULL) {
            tls_err_set(err, TLS_E_NOMEM, "out of memory (server_name)");
            tls_ctx_free(ctx);
            return NULL;
        }
    }
    if (tls_conf_common(ctx, o->ciphersuites, o->nciphersuites, o->min_version,
                        err) != 0 ||
        tls_client_ca(ctx, o, err) != 0 || tls_client_pins(ctx, o, err) != 0 ||
        tls_client_own_cert(ctx, o, err) != 0) {
        tls_ctx_free(ctx);
        return NULL;
    }
    mbedtls_ssl_conf_authmode(&ctx->conf, o->mode == TLS_CLIENT_VERIFY
                                              ? MBEDTLS_SSL_VERIFY_REQUIRED
                                              : MBEDTLS_SSL_VERIFY_OPTIONAL);
    mbedtls_ssl_conf_session_tickets(&ctx->conf,
                                     MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    return ctx;
}

static int
tls_client_check_opts(const struct tls_client_opts *o, struct tls_err *err)
{
    char name[TLS_NAME_MAX + 1];

    if (o == NULL) {
        tls_err_set(err, TLS_E_INVAL, "no client TLS options");
        return TLS_E_INVAL;
    }
    switch (o->mode) {
    case TLS_CLIENT_MAY:
    case TLS_CLIENT_ENCRYPT:
    case TLS_CLIENT_VERIFY:
        break;
    case TLS_CLIENT_NONE:
        tls_err_set(err, TLS_E_INVAL, "tls mode none needs no TLS context");
        return TLS_E_INVAL;
    default:
        tls_err_set(err, TLS_E_INVAL, "unknown tls mode %d", (int)o->mode);
        return TLS_E_INVAL;
    }
    if (o->server_name != NULL &&
        !tls_name_normalize((const uint8_t *)o->server_name,
                            strlen(o->server_name), false, name)) {
        tls_err_set(err, TLS_E_INVAL,
                    "server_name \"%.100s\" is not a DNS name", o->server_name);
        return TLS_E_INVAL;
    }
    if ((o->cert_file == NULL) != (o->key_file == NULL)) {
        tls_err_set(err, TLS_E_INVAL,
                    "a client certificate needs both cert and key files");
        return TLS_E_INVAL;
    }
    if (o->npins > TLS_MAX_PINS || (o->npins > 0 && o->pins == NULL)) {
        tls_err_set(err, TLS_E_INVAL, "pin_sha256: at most %d pins",
                    TLS_MAX_PINS);
        return TLS_E_INVAL;
    }
    return 0;
}

/*
 * The CA file. `verify` needs one. Under may/encrypt the result is only
 * recorded, so a missing *default* bundle is tolerated (every peer is
 * then "untrusted"); a ca_file the operator named must load.
 */
static int
tls_client_ca(struct tls_ctx *ctx, const struct tls_client_opts *o,
              struct tls_err *err)
{
    const char *path = o->ca_file != NULL ? o->ca_file : TLS_DEF_CA_FILE;
    int ret;

    ret = tls_ca_load(&ctx->ca, path, err);
    if (ret != 0) {
        if (o->ca_file == NULL && o->mode != TLS_CLIENT_VERIFY) {
            mbedtls_x509_crt_free(&ctx->ca);
            mbedtls_x509_crt_init(&ctx->ca);
            if (err != NULL) {
                err->code = 0;
                err->msg[0] = '\0';
            }
            return 0;
        }
        return ret;
    }
    ctx->has_ca = true;
    mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->ca, NULL);
    return 0;
}

static int
tls_client_pins(struct tls_ctx *ctx, const struct tls_client_opts *o,
                struct tls_err *err)
{
    size_t i;

    if (o->npins == 0) {
        return 0;
    }
    ctx->pins = calloc(o->npins, sizeof(*ctx->pins));
    if (ctx->pins == NULL) {
        tls_err_set(err, TLS_E_NOMEM, "out of memory (pins)");
        return TLS_E_NOMEM;
    }
    ctx->npins = o->npins;
    for (i = 0; i < o->npins; i++) {
        if (o->pins[i] == NULL ||
            tls_pin_parse(o->pins[i], ctx->pins[i]) != 0) {
            tls_err_set(err, TLS_E_INVAL,
                        "pin_sha256 \"%.80s\": not the base64 of a SHA-256 "
                        "digest",
                        o->pins[i] != NULL ? o->pins[i] : "(null)");
            return TLS_E_INVAL;
        }
    }
    return 0;
}

static int
tls_client_own_cert(struct tls_ctx *ctx, const struct tls_client_opts *o,
                    struct tls_err *err)
{
    char why[200];
    int ret;

    if (o->cert_file == NULL) {
        return 0;
    }
    ret = tls_entry_load(&ctx->own, o->cert_file, o->key_file, ctx->rng, err);
    if (ret != 0) {
        return ret;
    }
    ctx->has_own = true;
    ret = mbedtls_ssl_conf_own_cert(&ctx->conf, &ctx->own.chain, &ctx->own.key);
    if (ret != 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_CRYPTO, "client certificate: %s", why);
        return TLS_E_CRYPTO;
    }
    return 0;
}
