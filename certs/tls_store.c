/*
 * The store: refcounted generations, PEM loading with errors that name
 * the file, key/certificate checks, validity dates, certificate names,
 * and the configuration every context shares (versions, suites, groups).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>

#include "certs/tls_internal.h"

static int tls_file_check(const char *path, const char *what,
                          struct tls_err *err);
static int tls_chain_load(mbedtls_x509_crt *chain, const char *path,
                          struct tls_err *err);
static int tls_key_load(mbedtls_pk_context *key, const char *path,
                        struct tls_rng *rng, struct tls_err *err);
static int tls_entry_names(struct tls_cert_entry *ce, const char *path,
                           struct tls_err *err);
static int tls_names_add(struct tls_cert_entry *ce, const uint8_t *p,
                         size_t len, bool wild);
static time_t tls_time_of(const mbedtls_x509_time *t);
static int tls_chain_dates(const mbedtls_x509_crt *chain, const char *path,
                           time_t now, struct tls_err *err);
static int *tls_suites_build(const char *const *names, size_t n,
                             struct tls_err *err);

/*
 * Mozilla "intermediate" order: ECDHE (forward secrecy) with AEAD only,
 * AES-128-GCM first (as strong in practice, faster), ChaCha20-Poly1305 for
 * CPUs without AES instructions.
 */
static const char *const tls_default_suites[] = {
    "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
    "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
    "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384",
    "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
    "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256",
    "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256",
    NULL,
};

static const char *const tls_mode_names[] = {
    [TLS_CLIENT_NONE] = "none",
    [TLS_CLIENT_MAY] = "may",
    [TLS_CLIENT_ENCRYPT] = "encrypt",
    [TLS_CLIENT_VERIFY] = "verify",
};

const char *const *
tls_default_ciphersuites(void)
{
    return tls_default_suites;
}

const char *
tls_client_mode_name(enum tls_client_mode mode)
{
    if ((unsigned)mode >= sizeof(tls_mode_names) / sizeof(tls_mode_names[0])) {
        return "unknown";
    }
    return tls_mode_names[mode];
}

int
tls_client_mode_parse(const char *s, enum tls_client_mode *mode)
{
    size_t i;

    for (i = 0; i < sizeof(tls_mode_names) / sizeof(tls_mode_names[0]); i++) {
        if (strcmp(s, tls_mode_names[i]) == 0) {
            *mode = (enum tls_client_mode)i;
            return 0;
        }
    }
    return TLS_E_INVAL;
}

struct tls_ctx *
tls_ctx_alloc(enum tls_role role, struct tls_err *err)
{
    struct tls_ctx *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL) {
        tls_err_set(err, TLS_E_NOMEM, "out of memory (TLS context)");
        return NULL;
    }
    ctx->refs = 1;
    ctx->role = role;
    mbedtls_ssl_config_init(&ctx->conf);
    mbedtls_ssl_ticket_init(&ctx->ticket);
    mbedtls_x509_crt_init(&ctx->client_ca);
    mbedtls_x509_crt_init(&ctx->ca);
    mbedtls_x509_crt_init(&ctx->own.chain);
    mbedtls_pk_init(&ctx->own.key);
    ctx->rng = tls_rng_new(err);
    if (ctx->rng == NULL) {
        tls_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Frees everything; private keys are wiped by mbedtls_pk_free, ticket
 * keys by mbedtls_ssl_ticket_free, and the rest by us. */
void
tls_ctx_free(struct tls_ctx *ctx)
{
    size_t i;

    if (ctx == NULL) {
        return;
    }
    mbedtls_ssl_config_free(&ctx->conf);
    mbedtls_ssl_ticket_free(&ctx->ticket);
    for (i = 0; i < ctx->ncerts; i++) {
        tls_entry_free(&ctx->certs[i]);
    }
    free(ctx->certs);
    tls_entry_free(&ctx->own);
    mbedtls_x509_crt_free(&ctx->client_ca);
    mbedtls_x509_crt_free(&ctx->ca);
    if (ctx->pins != NULL) {
        mbedtls_platform_zeroize(ctx->pins, ctx->npins * TLS_PIN_LEN);
        free(ctx->pins);
    }
    free(ctx->server_name);
    free(ctx->suites);
    tls_rng_free(ctx->rng);
    mbedtls_platform_zeroize(ctx, sizeof(*ctx));
    free(ctx);
}

struct tls_ctx *
tls_ctx_ref(struct tls_ctx *ctx)
{
    ctx->refs++;
    return ctx;
}

void
tls_ctx_unref(struct tls_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    if (--ctx->refs == 0) {
        tls_ctx_free(ctx);
    }
}

enum tls_role
tls_ctx_role(const struct tls_ctx *ctx)
{
    return ctx->role;
}

enum tls_client_mode
tls_ctx_client_mode(const struct tls_ctx *ctx)
{
    return ctx->role == TLS_ROLE_CLIENT ? ctx->mode : TLS_CLIENT_NONE;
}

/*
 * What every context sets: endpoint, RNG, protocol versions (the minimum
 * always explicit: 2.28 compiles in TLS 1.0 and 1.1), cipher suites,
 * ECDHE groups, signature hashes, and no renegotiation.
 */
int
tls_conf_common(struct tls_ctx *ctx, const char *const *suites, size_t nsuites,
                enum tls_version min, struct tls_err *err)
{
    int endpoint = ctx->role == TLS_ROLE_SERVER ? MBEDTLS_SSL_IS_SERVER
                                                : MBEDTLS_SSL_IS_CLIENT;
    char why[200];
    int ret;

    if (min == TLS_VERSION_DEFAULT) {
        min = TLS_VERSION_1_2;
    }
    if (min < TLS_VERSION_1_0 || (int)min > TLS_COMPAT_MAX_VERSION) {
        tls_err_set(err, TLS_E_INVAL,
                    "minimum TLS version %d is not supported by this build",
                    (int)min);
        return TLS_E_INVAL;
    }
    ctx->suites = tls_suites_build(suites, nsuites, err);
    if (ctx->suites == NULL) {
        return err != NULL ? err->code : TLS_E_INVAL;
    }
    ret = mbedtls_ssl_config_defaults(&ctx->conf, endpoint,
                                      MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_CRYPTO, "TLS configuration: %s", why);
        return TLS_E_CRYPTO;
    }
    ctx->conf_ready = true;
    mbedtls_ssl_conf_rng(&ctx->conf, tls_rng_random, ctx->rng);
    tls_compat_conf_versions(&ctx->conf, (int)min, TLS_COMPAT_MAX_VERSION);
    mbedtls_ssl_conf_ciphersuites(&ctx->conf, ctx->suites);
    tls_compat_conf_groups(&ctx->conf);
    tls_compat_conf_sig_hashes(&ctx->conf);
    mbedtls_ssl_conf_renegotiation(&ctx->conf,
                                   MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    return 0;
}

/* Names → IDs, 0-terminated, after the 3.x TLS 1.3 suites if any. An
 * unknown name (or one this build lacks) is an error naming it. */
static int *
tls_suites_build(const char *const *names, size_t n, struct tls_err *err)
{
#if TLS_COMPAT_TLS13_NSUITES > 0
    static const char *const tls13[] = {TLS_COMPAT_TLS13_SUITES};
#endif
    const size_t extra = TLS_COMPAT_TLS13_NSUITES;
    int *ids;
    size_t i;
    size_t k = 0;

    if (names == NULL) {
        names = tls_default_suites;
        for (n = 0; names[n] != NULL; n++) {
        }
    }
    if (n == 0 || n > TLS_MAX_SUITES) {
        tls_err_set(err, TLS_E_INVAL,
                    "ciphersuites: between 1 and %d names, not %zu",
                    TLS_MAX_SUITES, n);
        return NULL;
    }
    ids = calloc(n + extra + 1, sizeof(*ids));
    if (ids == NULL) {
        tls_err_set(err, TLS_E_NOMEM, "out of memory (cipher suites)");
        return NULL;
    }
#if TLS_COMPAT_TLS13_NSUITES > 0
    for (i = 0; i < extra; i++) {
        ids[k++] = mbedtls_ssl_get_ciphersuite_id(tls13[i]);
    }
#endif
    for (i = 0; i < n; i++) {
        ids[k] =
            names[i] != NULL ? mbedtls_ssl_get_ciphersuite_id(names[i]) : 0;
        if (ids[k] == 0) {
            tls_err_set(err, TLS_E_INVAL,
                        "ciphersuites: unknown or unavailable suite \"%s\"",
                        names[i] != NULL ? names[i] : "(null)");
            free(ids);
            return NULL;
        }
        k++;
    }
    ids[k] = 0;
    return ids;
}

/* Opens the file ourselves first, so "cannot open" carries errno's words
 * rather than mbedTLS's generic "Read/write of file failed". */
static int
tls_file_check(const char *path, const char *what, struct tls_err *err)
{
    int fd;

    if (path == NULL || path[0] == '\0') {
        tls_err_set(err, TLS_E_INVAL, "no %s file given", what);
        return TLS_E_INVAL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tls_err_set(err, TLS_E_FILE, "%s: cannot open %s file: %s", path, what,
                    strerror(errno));
        return TLS_E_FILE;
    }
    close(fd);
    return 0;
}

static int
tls_chain_load(mbedtls_x509_crt *chain, const char *path, struct tls_err *err)
{
    char why[200];
    int ret = tls_file_check(path, "certificate", err);

    if (ret != 0) {
        return ret;
    }
    ret = mbedtls_x509_crt_parse_file(chain, path);
    if (ret < 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_FILE, "%s: not a certificate file: %s", path,
                    why);
        return TLS_E_FILE;
    }
    if (ret > 0) {
        tls_err_set(err, TLS_E_FILE,
                    "%s: %d certificate(s) in the chain could not be parsed",
                    path, ret);
        return TLS_E_FILE;
    }
    return 0;
}

static int
tls_key_load(mbedtls_pk_context *key, const char *path, struct tls_rng *rng,
             struct tls_err *err)
{
    char why[200];
    int ret = tls_file_check(path, "key", err);

    if (ret != 0) {
        return ret;
    }
    ret = tls_compat_pk_parse_keyfile(key, path, tls_rng_random, rng);
    if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
        tls_err_set(err, TLS_E_FILE,
                    "%s: the key is encrypted; give an unencrypted key "
                    "readable by root only",
                    path);
        return TLS_E_FILE;
    }
    if (ret != 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_FILE, "%s: not a private key file: %s", path,
                    why);
        return TLS_E_FILE;
    }
    return 0;
}

int
tls_ca_load(mbedtls_x509_crt *ca, const char *path, struct tls_err *err)
{
    char why[200];
    int ret = tls_file_check(path, "CA", err);

    if (ret != 0) {
        return ret;
    }
    /* A system bundle may hold a few certificates mbedTLS cannot parse
     * (ret > 0 counts them): fine, as long as some did. */
    ret = mbedtls_x509_crt_parse_file(ca, path);
    if (ret < 0 || ca->version == 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_FILE, "%s: no usable CA certificate: %s", path,
                    ret < 0 ? why : "none parsed");
        return TLS_E_FILE;
    }
    return 0;
}

/* Loads a chain and its key, checks that they belong together, and
 * collects the names. The entry must be freshly initialised. */
int
tls_entry_load(struct tls_cert_entry *ce, const char *cert_file,
               const char *key_file, struct tls_rng *rng, struct tls_err *err)
{
    char why[200];
    int ret;

    ret = tls_chain_load(&ce->chain, cert_file, err);
    if (ret != 0) {
        return ret;
    }
    ret = tls_key_load(&ce->key, key_file, rng, err);
    if (ret != 0) {
        return ret;
    }
    ret =
        tls_compat_pk_check_pair(&ce->chain.pk, &ce->key, tls_rng_random, rng);
    if (ret != 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_MISMATCH,
                    "%s: the key does not belong to the certificate in %s: "
                    "%s",
                    key_file, cert_file, why);
        return TLS_E_MISMATCH;
    }
    return tls_entry_names(ce, cert_file, err);
}

void
tls_entry_free(struct tls_cert_entry *ce)
{
    size_t i;

    mbedtls_x509_crt_free(&ce->chain);
    mbedtls_pk_free(&ce->key);
    for (i = 0; i < ce->nnames; i++) {
        free(ce->names[i]);
    }
    free(ce->names);
    ce->names = NULL;
    ce->nnames = 0;
}

/* The leaf's subjectAltName DNS entries; the subject CN only when there
 * are none (RFC 6125 6.4.4). Entries that are not DNS names are skipped. */
static int
tls_entry_names(struct tls_cert_entry *ce, const char *path,
                struct tls_err *err)
{
    const mbedtls_x509_sequence *san;
    const mbedtls_x509_name *dn;
    int ret;

    for (san = &ce->chain.subject_alt_names; san != NULL; san = san->next) {
        if (san->buf.p == NULL ||
            san->buf.tag !=
                (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME)) {
            continue;
        }
        ret = tls_names_add(ce, san->buf.p, san->buf.len, true);
        if (ret != 0) {
            goto nomem;
        }
    }
    if (ce->nnames > 0) {
        return 0;
    }
    for (dn = &ce->chain.subject; dn != NULL; dn = dn->next) {
        if (dn->oid.p != NULL &&
            MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &dn->oid) == 0) {
            ret = tls_names_add(ce, dn->val.p, dn->val.len, true);
            if (ret != 0) {
                goto nomem;
            }
        }
    }
    return 0;
nomem:
    tls_err_set(err, TLS_E_NOMEM, "%s: out of memory (names)", path);
    return TLS_E_NOMEM;
}

/* Adds a name if it is a valid DNS name; returns TLS_E_NOMEM only. */
static int
tls_names_add(struct tls_cert_entry *ce, const uint8_t *p, size_t len,
              bool wild)
{
    char name[TLS_NAME_MAX + 1];
    char **names;

    if (ce->nnames >= TLS_NAMES_MAX ||
        !tls_name_normalize(p, len, wild, name)) {
        return 0;
    }
    names = realloc(ce->names, (ce->nnames + 1) * sizeof(*names));
    if (names == NULL) {
        return TLS_E_NOMEM;
    }
    ce->names = names;
    ce->names[ce->nnames] = strdup(name);
    if (ce->names[ce->nnames] == NULL) {
        return TLS_E_NOMEM;
    }
    ce->nnames++;
    return 0;
}

bool
tls_name_normalize(const uint8_t *p, size_t len, bool wild, char *dst)
{
    size_t i;
    size_t start = 0;

    if (len > 0 && p[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len > TLS_NAME_MAX) {
        return false;
    }
    if (wild && len > 2 && p[0] == '*' && p[1] == '.') {
        dst[0] = '*';
        dst[1] = '.';
        start = 2;
    }
    for (i = start; i < len; i++) {
        uint8_t c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c = (uint8_t)(c - 'A' + 'a');
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.')) {
            return false;
        }
        if (c == '.' && (i == start || p[i - 1] == '.')) {
            return false; /* empty label */
        }
        dst[i] = (char)c;
    }
    dst[len] = '\0';
    return true;
}

/* RFC 6125 6.4.3, strictly: "*." then the rest; the wildcard stands for
 * exactly one whole, non-empty left-most label. Both sides lower case. */
int
tls_name_match(const char *pattern, const char *name)
{
    const char *dot;

    if (strcmp(pattern, name) == 0) {
        return 2;
    }
    if (pattern[0] != '*' || pattern[1] != '.') {
        return 0;
    }
    dot = strchr(name, '.');
    if (dot == NULL || dot == name) {
        return 0;
    }
    return strcmp(dot + 1, pattern + 2) == 0 ? 1 : 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant). */
static time_t
tls_time_of(const mbedtls_x509_time *t)
{
    long long y = t->year - (t->mon <= 2 ? 1 : 0);
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long mp = (t->mon + 9) % 12;
    long long doy = (153 * mp + 2) / 5 + t->day - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097 + doe - 719468;

    return (time_t)(days * 86400 + t->hour * 3600 + t->min * 60 + t->sec);
}

static int
tls_chain_dates(const mbedtls_x509_crt *chain, const char *path, time_t now,
                struct tls_err *err)
{
    const mbedtls_x509_crt *c;
    char subject[256];
    int i = 0;

    for (c = chain; c != NULL && c->version != 0; c = c->next, i++) {
        bool expired = tls_time_of(&c->valid_to) < now;
        bool notyet = tls_time_of(&c->valid_from) > now;

        if (!expired && !notyet) {
            continue;
        }
        if (mbedtls_x509_dn_gets(subject, sizeof(subject), &c->subject) < 0) {
            snprintf(subject, sizeof(subject), "?");
        }
        tls_err_set(err, expired ? TLS_E_EXPIRED : TLS_E_NOTYET,
                    "%s: certificate %d (%s) %s %04d-%02d-%02d %02d:%02d:%02d "
                    "UTC",
                    path, i, subject,
                    expired ? "expired on" : "is not valid before",
                    expired ? c->valid_to.year : c->valid_from.year,
                    expired ? c->valid_to.mon : c->valid_from.mon,
                    expired ? c->valid_to.day : c->valid_from.day,
                    expired ? c->valid_to.hour : c->valid_from.hour,
                    expired ? c->valid_to.min : c->valid_from.min,
                    expired ? c->valid_to.sec : c->valid_from.sec);
        return expired ? TLS_E_EXPIRED : TLS_E_NOTYET;
    }
    return 0;
}

int
tls_check_cert_key(const char *cert_file, const char *key_file, time_t now,
                   struct tls_cert_info *info, struct tls_err *err)
{
    struct tls_cert_entry ce;
    struct tls_rng *rng;
    int ret;

    if (info != NULL) {
        memset(info, 0, sizeof(*info));
    }
    if (now == 0) {
        now = time(NULL);
    }
    rng = tls_rng_new(err);
    if (rng == NULL) {
        return err != NULL ? err->code : TLS_E_CRYPTO;
    }
    memset(&ce, 0, sizeof(ce));
    mbedtls_x509_crt_init(&ce.chain);
    mbedtls_pk_init(&ce.key);
    ret = tls_entry_load(&ce, cert_file, key_file, rng, err);
    if (info != NULL && ce.chain.version != 0) {
        info->not_before = tls_time_of(&ce.chain.valid_from);
        info->not_after = tls_time_of(&ce.chain.valid_to);
        if (mbedtls_x509_dn_gets(info->subject, sizeof(info->subject),
                                 &ce.chain.subject) < 0) {
            info->subject[0] = '\0';
        }
        if (ce.nnames > 0) {
            snprintf(info->first_name, sizeof(info->first_name), "%s",
                     ce.names[0]);
        }
    }
    if (ret == 0) {
        ret = tls_chain_dates(&ce.chain, cert_file, now, err);
    }
    tls_entry_free(&ce);
    tls_rng_free(rng);
    if (ret == 0 && err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
    return ret;
}

int
tls_check_ca_file(const char *ca_file, struct tls_err *err)
{
    mbedtls_x509_crt ca;
    int ret;

    mbedtls_x509_crt_init(&ca);
    ret = tls_ca_load(&ca, ca_file, err);
    mbedtls_x509_crt_free(&ca);
    return ret;
}
