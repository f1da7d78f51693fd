/*
 * Configuration, TLS: the keys of a listener (certificates; tls and
 * require_tls are table keys) and of an upstream (ca_file, server_name,
 * pin_sha256; tls is a table key), the rules between them, the checks
 * postern -t reports, and the contexts of certs/ the runtime uses.
 *
 * certs/ reads the files and says what is wrong with them; this file puts
 * its message at the position of the key that named them. An expired or
 * not yet valid certificate is a warning, not an error: certs/ serves it
 * anyway (refusing to start or to reload would turn a lapsed certificate
 * into a mail outage, and most sending MTAs do not verify), so the
 * configuration is valid and the administrator is told (docs/tls.md).
 */
#include "gateway/gw_config_internal.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "certs/tls_ctx.h"
#include "gateway/gw_str.h"

/* "sha256//" (curl's form) then the base64 of 32 octets: 43 + "=". */
#define GW_CFG_PIN_PREFIX "sha256//"
#define GW_CFG_PIN_B64_LEN 44

/* Static prototypes, in the order of their definitions. */
static void gw_cfg_walk_certs(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                              size_t i, const struct gw_cfg_node *n);
static void gw_cfg_walk_cert_pair(struct gw_cfg_ctx *ctx,
                                  struct gw_listener_cfg *l, size_t i, size_t j,
                                  const struct gw_cfg_node *el);
static void gw_cfg_check_pairs(struct gw_cfg_ctx *ctx,
                               const struct gw_listener_cfg *l, size_t i,
                               const struct gw_cfg_node *certs);
static void gw_cfg_server_ctx(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                              size_t i, const struct gw_cfg_node *certs);
static void gw_cfg_get_server_name(struct gw_cfg_ctx *ctx,
                                   struct gw_upstream_cfg *u,
                                   const struct gw_cfg_node *n,
                                   const char *path);
static void gw_cfg_walk_pins(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                             const struct gw_cfg_node *n, const char *path);
static void gw_cfg_get_pin(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                           const struct gw_cfg_node *n, const char *path);
static bool gw_cfg_is_pin(const char *s);
static void gw_cfg_default_server_name(struct gw_upstream_cfg *u,
                                       const struct gw_cfg_node *el);
static bool gw_cfg_is_host_name(const char *s);
static void gw_cfg_check_default_ca(struct gw_cfg_ctx *ctx,
                                    const struct gw_upstream_cfg *u, size_t i,
                                    const struct gw_cfg_pos *pos);
static void gw_cfg_client_ctx(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                              size_t i, const struct gw_cfg_node *el);
static enum tls_client_mode gw_cfg_client_mode(enum gw_up_tls tls);

static bool gw_cfg_tls_was_bad(const struct gw_cfg_node *tls, bool is_none);

static const char *const gw_cfg_listener_tls_keys[] = {"certificates", NULL};
static const char *const gw_cfg_upstream_tls_keys[] = {"ca_file", "server_name",
                                                       "pin_sha256", NULL};

bool
gw_cfg_tls_is_key(const char *key, bool upstream)
{
    const char *const *k =
        upstream ? gw_cfg_upstream_tls_keys : gw_cfg_listener_tls_keys;

    for (; *k != NULL; k++) {
        if (strcmp(*k, key) == 0) {
            return true;
        }
    }
    return false;
}

/* A tls key that is present but left its default none was not a valid
 * word (already reported): the rules that depend on it would only add
 * errors about a value nobody wrote. */
static bool
gw_cfg_tls_was_bad(const struct gw_cfg_node *tls, bool is_none)
{
    return is_none && tls != NULL &&
           (tls->kind != GW_CFG_SCALAR || tls->text == NULL ||
            !gw_str_ieq((const uint8_t *)tls->text, strlen(tls->text), "none"));
}

/* ---- listeners ------------------------------------------------------- */

void
gw_cfg_walk_listener_tls(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                         size_t i, const struct gw_cfg_node *el,
                         size_t nerrors_before)
{
    const struct gw_cfg_node *tls = gw_cfg_find(el, "tls");
    const struct gw_cfg_node *req = gw_cfg_find(el, "require_tls");
    const struct gw_cfg_node *certs = gw_cfg_find(el, "certificates");

    if (certs != NULL) {
        gw_cfg_walk_certs(ctx, l, i, certs);
    }
    if (gw_cfg_tls_was_bad(tls, l->tls == GW_TLS_NONE)) {
        return; /* reported; no guesses about what was meant */
    }
    if (l->tls == GW_TLS_NONE) {
        if (l->require_tls) {
            gw_cfg_error(ctx, req != NULL ? &req->pos : &el->pos,
                         "listeners.%zu.require_tls: require_tls needs tls: "
                         "starttls or implicit",
                         i);
        }
        if (certs != NULL) {
            gw_cfg_error(ctx, &certs->kpos,
                         "listeners.%zu.certificates: certificates without "
                         "tls (set tls: starttls or implicit)",
                         i);
        }
        return;
    }
    if (certs == NULL) {
        gw_cfg_error(ctx, tls != NULL ? &tls->pos : &el->pos,
                     "listeners.%zu: tls: %s needs certificates: a list of "
                     "{cert: FILE, key: FILE}",
                     i, l->tls == GW_TLS_STARTTLS ? "starttls" : "implicit");
        return;
    }
    gw_cfg_check_pairs(ctx, l, i, certs);
    /* one message per problem: no context from files already reported */
    if (ctx->nerrors == nerrors_before) {
        gw_cfg_server_ctx(ctx, l, i, certs);
    }
}

/* certificates: a list of 1..GW_MAX_CERTS maps {cert: FILE, key: FILE}. */
static void
gw_cfg_walk_certs(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l, size_t i,
                  const struct gw_cfg_node *n)
{
    const struct gw_cfg_node *el;
    size_t j = 0;

    if (n->kind != GW_CFG_SEQ || n->nchild == 0 || n->nchild > GW_MAX_CERTS) {
        char got[32];

        if (n->kind == GW_CFG_SEQ) {
            (void)gw_cfg_fmt(got, sizeof(got), "%zu", n->nchild);
        } else {
            gw_strlcpy(got, gw_cfg_kind_name(n), sizeof(got));
        }
        gw_cfg_error(ctx, &n->pos,
                     "listeners.%zu.certificates: expected a list of 1 to %d "
                     "maps {cert: FILE, key: FILE}, got %s",
                     i, GW_MAX_CERTS, got);
        return;
    }
    for (el = n->child; el != NULL; el = el->next, j++) {
        gw_cfg_walk_cert_pair(ctx, l, i, j, el);
    }
    l->ncerts = j;
}

static void
gw_cfg_walk_cert_pair(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                      size_t i, size_t j, const struct gw_cfg_node *el)
{
    const struct gw_cfg_node *m;
    char where[GW_CFG_PATH_MAX];
    char path[GW_CFG_PATH_MAX];
    bool have_cert = false;
    bool have_key = false;

    if (el->kind != GW_CFG_MAP) {
        gw_cfg_error(ctx, &el->pos,
                     "listeners.%zu.certificates.%zu: expected a map "
                     "{cert: FILE, key: FILE}, got %s",
                     i, j, gw_cfg_kind_name(el));
        return;
    }
    (void)gw_cfg_fmt(where, sizeof(where), "in listeners.%zu.certificates.%zu",
                     i, j);
    for (m = el->child; m != NULL; m = m->next) {
        (void)gw_cfg_fmt(path, sizeof(path),
                         "listeners.%zu.certificates.%zu.%s", i, j, m->key);
        if (strcmp(m->key, "cert") == 0) {
            have_cert = true;
            (void)gw_cfg_get_path(ctx, m, path, false, l->cert_file[j],
                                  sizeof(l->cert_file[j]));
        } else if (strcmp(m->key, "key") == 0) {
            have_key = true;
            (void)gw_cfg_get_path(ctx, m, path, false, l->key_file[j],
                                  sizeof(l->key_file[j]));
        } else {
            gw_cfg_unknown_key(ctx, m, where);
        }
    }
    if (!have_cert || !have_key) {
        gw_cfg_error(ctx, &el->pos,
                     "listeners.%zu.certificates.%zu: missing required key "
                     "'%s'",
                     i, j, have_cert ? "key" : "cert");
    }
}

/* postern -t's checks, on every pair whose paths are valid: readable,
 * parsable, the key belongs to the certificate (errors), and the dates of
 * the whole chain (warnings). */
static void
gw_cfg_check_pairs(struct gw_cfg_ctx *ctx, const struct gw_listener_cfg *l,
                   size_t i, const struct gw_cfg_node *certs)
{
    const struct gw_cfg_node *el;
    struct tls_err err;
    time_t now = time(NULL);
    size_t j;
    int rc;

    for (j = 0; j < l->ncerts; j++) {
        if (l->cert_file[j][0] == '\0' || l->key_file[j][0] == '\0') {
            continue; /* reported by the walk */
        }
        el = gw_cfg_nth(certs, j);
        rc = tls_check_cert_key(l->cert_file[j], l->key_file[j], now, NULL,
                                &err);
        if (rc == TLS_E_EXPIRED || rc == TLS_E_NOTYET) {
            gw_cfg_warn(ctx, &el->pos,
                        "listeners.%zu.certificates.%zu: %s; it is offered "
                        "anyway, and clients that verify will refuse it",
                        i, j, err.msg);
        } else if (rc != 0) {
            gw_cfg_error(ctx, &el->pos, "listeners.%zu.certificates.%zu: %s", i,
                         j, err.msg);
        }
    }
}

/* certs[0] is the default certificate, the others are chosen by SNI;
 * cipher suites and session tickets keep certs/'s defaults. */
static void
gw_cfg_server_ctx(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l, size_t i,
                  const struct gw_cfg_node *certs)
{
    struct tls_cert_spec specs[GW_MAX_CERTS];
    struct tls_server_opts o;
    struct tls_err err;
    size_t j;

    memset(&o, 0, sizeof(o));
    for (j = 0; j < l->ncerts; j++) {
        specs[j].cert_file = l->cert_file[j];
        specs[j].key_file = l->key_file[j];
    }
    o.certs = specs;
    o.ncerts = l->ncerts;
    l->tls_ctx = tls_server_ctx_new(&o, &err);
    if (l->tls_ctx == NULL) {
        gw_cfg_error(ctx, &certs->kpos, "listeners.%zu.certificates: %s", i,
                     err.msg);
    }
}

void
gw_cfg_print_listener_tls(FILE *fp, const struct gw_listener_cfg *l)
{
    size_t j;

    if (l->tls == GW_TLS_NONE || l->ncerts == 0) {
        return;
    }
    /* paths hold no '"' or '\\' (validated) */
    fprintf(fp, "    certificates:\n");
    for (j = 0; j < l->ncerts; j++) {
        fprintf(fp, "      - cert: \"%s\"\n", l->cert_file[j]);
        fprintf(fp, "        key: \"%s\"\n", l->key_file[j]);
    }
}

/* ---- upstreams ------------------------------------------------------- */

void
gw_cfg_walk_upstream_tls(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                         size_t i, const struct gw_cfg_node *el,
                         size_t nerrors_before)
{
    const struct gw_cfg_node *tls = gw_cfg_find(el, "tls");
    const struct gw_cfg_node *keys[3];
    const struct gw_cfg_pos *tpos = tls != NULL ? &tls->pos : &el->pos;
    char path[GW_CFG_PATH_MAX];
    size_t k;

    keys[0] = gw_cfg_find(el, "ca_file");
    keys[1] = gw_cfg_find(el, "server_name");
    keys[2] = gw_cfg_find(el, "pin_sha256");
    if (keys[0] != NULL) {
        (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.ca_file", i);
        (void)gw_cfg_get_path(ctx, keys[0], path, true, u->ca_file,
                              sizeof(u->ca_file));
    }
    if (keys[1] != NULL) {
        (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.server_name", i);
        gw_cfg_get_server_name(ctx, u, keys[1], path);
    }
    if (keys[2] != NULL) {
        (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.pin_sha256", i);
        gw_cfg_walk_pins(ctx, u, keys[2], path);
    }
    if (gw_cfg_tls_was_bad(tls, u->tls == GW_UP_TLS_NONE)) {
        return; /* reported; no guesses about what was meant */
    }
    if (u->tls == GW_UP_TLS_NONE) {
        for (k = 0; k < GW_CFG_NKEYS(keys); k++) {
            if (keys[k] != NULL) {
                gw_cfg_error(ctx, &keys[k]->kpos,
                             "upstreams.%zu.%s: %s without tls (set tls: "
                             "may, encrypt or verify)",
                             i, keys[k]->key, keys[k]->key);
            }
        }
        return;
    }
    if (keys[1] == NULL) {
        gw_cfg_default_server_name(u, el);
    }
    if (u->tls == GW_UP_TLS_VERIFY && u->server_name[0] == '\0' &&
        keys[1] == NULL) {
        gw_cfg_error(ctx, tpos,
                     "upstreams.%zu: tls: verify needs server_name, the name "
                     "the upstream's certificate must carry (or give the "
                     "first address as a host name)",
                     i);
        return;
    }
    if (ctx->nerrors == nerrors_before) {
        gw_cfg_check_default_ca(ctx, u, i, tpos);
        gw_cfg_client_ctx(ctx, u, i, el);
    }
}

/* The name sent as SNI and checked in the certificate: a domain. */
static void
gw_cfg_get_server_name(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                       const struct gw_cfg_node *n, const char *path)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "a domain name");
    char q[GW_CFG_QUOTE_MAX];

    if (s == NULL) {
        return;
    }
    if (!gw_cfg_is_domain(s)) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos,
                     "%s: expected a domain name (letters, digits, '-' and "
                     "'.', at most %d characters), got %s",
                     path, GW_MAX_DOMAIN, q);
        return;
    }
    gw_strlcpy(u->server_name, s, sizeof(u->server_name));
}

/* One pin, or a list of 1..GW_MAX_PINS of them. */
static void
gw_cfg_walk_pins(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                 const struct gw_cfg_node *n, const char *path)
{
    const struct gw_cfg_node *p;
    char epath[GW_CFG_PATH_MAX];
    char got[32];

    if (n->kind == GW_CFG_SCALAR) {
        gw_cfg_get_pin(ctx, u, n, path);
        return;
    }
    if (n->kind != GW_CFG_SEQ || n->nchild == 0 || n->nchild > GW_MAX_PINS) {
        if (n->kind == GW_CFG_SEQ) {
            (void)gw_cfg_fmt(got, sizeof(got), "%zu", n->nchild);
        } else {
            gw_strlcpy(got, gw_cfg_kind_name(n), sizeof(got));
        }
        gw_cfg_error(ctx, &n->pos,
                     "%s: expected a pin or a list of 1 to %d pins, got %s",
                     path, GW_MAX_PINS, got);
        return;
    }
    for (p = n->child; p != NULL; p = p->next) {
        (void)gw_cfg_fmt(epath, sizeof(epath), "%s.%zu", path, u->npins);
        gw_cfg_get_pin(ctx, u, p, epath);
    }
}

/* Stores the pin as written; a bad one still takes its index, so that
 * the positions of the next ones stay right. */
static void
gw_cfg_get_pin(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
               const struct gw_cfg_node *n, const char *path)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "a pin (base64 SHA-256)");
    char q[GW_CFG_QUOTE_MAX];

    if (s != NULL && !gw_cfg_is_pin(s)) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos,
                     "%s: expected the base64 SHA-256 of a public key "
                     "(44 characters ending in '='), got %s",
                     path, q);
        s = NULL;
    }
    gw_strlcpy(u->pins[u->npins++], s != NULL ? s : "", sizeof(u->pins[0]));
}

/* certs/ decodes it; this only makes sure the error has a position. */
static bool
gw_cfg_is_pin(const char *s)
{
    size_t i;

    if (strncmp(s, GW_CFG_PIN_PREFIX, sizeof(GW_CFG_PIN_PREFIX) - 1) == 0) {
        s += sizeof(GW_CFG_PIN_PREFIX) - 1;
    }
    if (strlen(s) != GW_CFG_PIN_B64_LEN || s[GW_CFG_PIN_B64_LEN - 1] != '=') {
        return false;
    }
    for (i = 0; i < GW_CFG_PIN_B64_LEN - 1; i++) {
        uint8_t c = (uint8_t)s[i];

        if (!gw_is_alpha(c) && !gw_is_digit(c) && c != '+' && c != '/') {
            return false;
        }
    }
    return true;
}

/* server_name defaults to the host of the first address when that was
 * written as a name: it is the name the upstream's certificate should
 * carry. An IP address gives no default. */
static void
gw_cfg_default_server_name(struct gw_upstream_cfg *u,
                           const struct gw_cfg_node *el)
{
    const struct gw_cfg_node *a = gw_cfg_find(el, "addresses");
    char host[GW_MAX_DOMAIN + 1];
    const char *colon;
    size_t len;

    if (a != NULL && a->kind == GW_CFG_SEQ) {
        a = a->child;
    }
    if (a == NULL || a->kind != GW_CFG_SCALAR || a->text == NULL) {
        return;
    }
    colon = strchr(a->text, ':');
    len = colon != NULL ? (size_t)(colon - a->text) : strlen(a->text);
    if (len == 0 || len >= sizeof(host)) {
        return;
    }
    memcpy(host, a->text, len);
    host[len] = '\0';
    if (gw_cfg_is_host_name(host)) {
        gw_strlcpy(u->server_name, host, sizeof(u->server_name));
    }
}

/* A domain that is not an IPv4 address in any spelling getaddrinfo
 * accepts: its last label is not all digits (no top-level domain is). */
static bool
gw_cfg_is_host_name(const char *s)
{
    const char *last;
    size_t i;

    if (!gw_cfg_is_domain(s)) {
        return false;
    }
    last = strrchr(s, '.');
    last = last != NULL ? last + 1 : s;
    for (i = 0; last[i] != '\0'; i++) {
        if (!gw_is_digit((uint8_t)last[i])) {
            return true;
        }
    }
    return false;
}

/* may and encrypt tolerate a missing system CA bundle (every upstream is
 * then logged as untrusted); say so, since it is rarely what was meant. */
static void
gw_cfg_check_default_ca(struct gw_cfg_ctx *ctx, const struct gw_upstream_cfg *u,
                        size_t i, const struct gw_cfg_pos *pos)
{
    struct tls_err err;

    if (u->tls == GW_UP_TLS_VERIFY || u->ca_file[0] != '\0') {
        return; /* verify needs the file: the context reports it */
    }
    if (tls_check_ca_file(TLS_DEF_CA_FILE, &err) != 0) {
        gw_cfg_warn(ctx, pos,
                    "upstreams.%zu: %s; upstream certificates cannot be "
                    "checked and will be logged as untrusted (set ca_file)",
                    i, err.msg);
    }
}

static void
gw_cfg_client_ctx(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u, size_t i,
                  const struct gw_cfg_node *el)
{
    const struct gw_cfg_node *ca = gw_cfg_find(el, "ca_file");
    const struct gw_cfg_node *tls = gw_cfg_find(el, "tls");
    const char *pins[GW_MAX_PINS];
    struct tls_client_opts o;
    struct tls_err err;
    size_t j;

    memset(&o, 0, sizeof(o));
    for (j = 0; j < u->npins; j++) {
        pins[j] = u->pins[j];
    }
    o.mode = gw_cfg_client_mode(u->tls);
    o.ca_file = u->ca_file[0] != '\0' ? u->ca_file : NULL;
    o.server_name = u->server_name[0] != '\0' ? u->server_name : NULL;
    o.pins = pins;
    o.npins = u->npins;
    u->tls_ctx = tls_client_ctx_new(&o, &err);
    if (u->tls_ctx != NULL) {
        return;
    }
    if (err.code == TLS_E_FILE && ca != NULL) {
        gw_cfg_error(ctx, &ca->pos, "upstreams.%zu.ca_file: %s", i, err.msg);
    } else {
        gw_cfg_error(ctx, tls != NULL ? &tls->pos : &el->pos,
                     "upstreams.%zu.tls: %s", i, err.msg);
    }
}

static enum tls_client_mode
gw_cfg_client_mode(enum gw_up_tls tls)
{
    switch (tls) {
    case GW_UP_TLS_MAY:
        return TLS_CLIENT_MAY;
    case GW_UP_TLS_ENCRYPT:
        return TLS_CLIENT_ENCRYPT;
    case GW_UP_TLS_VERIFY:
        return TLS_CLIENT_VERIFY;
    case GW_UP_TLS_NONE:
        break;
    }
    return TLS_CLIENT_NONE;
}

void
gw_cfg_print_upstream_tls(FILE *fp, const struct gw_upstream_cfg *u)
{
    size_t j;

    if (u->tls == GW_UP_TLS_NONE) {
        return;
    }
    /* paths, domains and pins hold no '"' or '\\' (validated) */
    if (u->ca_file[0] != '\0') {
        fprintf(fp, "    ca_file: \"%s\"\n", u->ca_file);
    }
    if (u->server_name[0] != '\0') {
        fprintf(fp, "    server_name: \"%s\"\n", u->server_name);
    }
    if (u->npins > 0) {
        fprintf(fp, "    pin_sha256: [");
        for (j = 0; j < u->npins; j++) {
            fprintf(fp, "%s\"%s\"", j > 0 ? ", " : "", u->pins[j]);
        }
        fprintf(fp, "]\n");
    }
}

/* ---- freeing --------------------------------------------------------- */

void
gw_cfg_free_tls(struct gw_config *cfg)
{
    size_t i;

    for (i = 0; cfg->listeners != NULL && i < cfg->nlisteners; i++) {
        tls_ctx_unref(cfg->listeners[i].tls_ctx);
        cfg->listeners[i].tls_ctx = NULL;
    }
    for (i = 0; cfg->upstreams != NULL && i < cfg->nupstreams; i++) {
        tls_ctx_unref(cfg->upstreams[i].tls_ctx);
        cfg->upstreams[i].tls_ctx = NULL;
    }
}
