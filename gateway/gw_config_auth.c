/*
 * The auth block of a listener (RFC 4954 AUTH): its keys, the checks that
 * tie it to the listener's TLS, the users file (loaded here, so a broken
 * file fails `postern -t` and a reload keeps the old one), and its part
 * of `postern -n`. And an upstream's auth block: the credentials Postern
 * logs in with (the password is read from a file, never printed).
 */
#include <errno.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "gateway/gw_config_internal.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_tokens.h"
#include "gateway/gw_users.h"

#define GW_CFG_A_OFF(member) offsetof(struct gw_auth_cfg, member)

static const struct gw_cfg_key gw_cfg_auth_keys[] = {
    {"required", GW_CFG_V_BOOL, GW_CFG_C_BOOL, GW_CFG_A_OFF(required), 0, 0, 1,
     NULL},
    {"allow_plaintext", GW_CFG_V_BOOL, GW_CFG_C_BOOL,
     GW_CFG_A_OFF(allow_plaintext), 0, 0, 1, NULL},
    {"max_failures", GW_CFG_V_INT, GW_CFG_C_SIZE, GW_CFG_A_OFF(max_failures),
     GW_DEF_AUTH_MAX_FAILURES, 1, GW_MAX_AUTH_MAX_FAILURES, NULL},
    {"failure_delay", GW_CFG_V_DURATION, GW_CFG_C_U64,
     GW_CFG_A_OFF(failure_delay_ms), GW_DEF_AUTH_FAILURE_DELAY, 0,
     GW_MAX_AUTH_FAILURE_DELAY, NULL},
    {"block_after", GW_CFG_V_INT, GW_CFG_C_SIZE, GW_CFG_A_OFF(block_after),
     GW_DEF_AUTH_BLOCK_AFTER, 0, GW_MAX_AUTH_BLOCK_AFTER, NULL},
    {"block_time", GW_CFG_V_DURATION, GW_CFG_C_U64,
     GW_CFG_A_OFF(block_time_ms), GW_DEF_AUTH_BLOCK_TIME, 1, GW_MAX_TIMEOUT,
     NULL},
    {"token_timeout", GW_CFG_V_DURATION, GW_CFG_C_U64,
     GW_CFG_A_OFF(token_timeout_ms), GW_DEF_AUTH_TOKEN_TIMEOUT, 1,
     GW_MAX_AUTH_TOKEN_TIMEOUT, NULL},
};

#define GW_CFG_PASSWORD_MECHS                                                  \
    (GW_SASL_MECH_BIT(GW_SASL_PLAIN) | GW_SASL_MECH_BIT(GW_SASL_LOGIN) |       \
     GW_SASL_MECH_BIT(GW_SASL_SCRAM_SHA256))
#define GW_CFG_TOKEN_MECHS                                                     \
    (GW_SASL_MECH_BIT(GW_SASL_OAUTHBEARER) | GW_SASL_MECH_BIT(GW_SASL_XOAUTH2))

static void
gw_cfg_auth_mechanisms(struct gw_cfg_ctx *ctx, struct gw_auth_cfg *a,
                       const struct gw_cfg_node *n, const char *path)
{
    const struct gw_cfg_node *el;
    char q[GW_CFG_QUOTE_MAX];
    size_t i = 0;

    if (n->kind != GW_CFG_SEQ || n->nchild == 0) {
        gw_cfg_error(ctx, &n->pos, "%s: expected a list of mechanisms "
                     "(PLAIN, LOGIN), got %s", path, gw_cfg_kind_name(n));
        return;
    }
    a->mechanisms = 0;
    for (el = n->child; el != NULL; el = el->next, i++) {
        char epath[GW_CFG_PATH_MAX];
        const char *s;
        enum gw_sasl_mech m;

        (void)gw_cfg_fmt(epath, sizeof(epath), "%s.%zu", path, i);
        s = gw_cfg_scalar(ctx, el, epath, "a mechanism name");
        if (s == NULL) {
            continue;
        }
        m = gw_sasl_mech_parse((const uint8_t *)s, strlen(s));
        if (m == GW_SASL_NONE) {
            gw_cfg_quote(q, sizeof(q), s);
            gw_cfg_error(ctx, &el->pos, "%s: unknown mechanism %s (known: "
                         "PLAIN, LOGIN, SCRAM-SHA-256, OAUTHBEARER, XOAUTH2)",
                         epath, q);
            continue;
        }
        a->mechanisms |= GW_SASL_MECH_BIT(m);
    }
}

/* The keys of the block; false when it is not a map. */
static bool
gw_cfg_auth_keys_walk(struct gw_cfg_ctx *ctx, struct gw_auth_cfg *a,
                      size_t i, const struct gw_cfg_node *n, bool *has_users)
{
    const struct gw_cfg_node *m;
    char path[GW_CFG_PATH_MAX];
    char where[GW_CFG_PATH_MAX];

    (void)gw_cfg_fmt(path, sizeof(path), "listeners.%zu.auth", i);
    if (n->kind != GW_CFG_MAP) {
        gw_cfg_error(ctx, &n->pos, "%s: expected a map (users, mechanisms, "
                     "required...), got %s", path, gw_cfg_kind_name(n));
        return false;
    }
    (void)gw_cfg_fmt(where, sizeof(where), "in %s", path);
    for (m = n->child; m != NULL; m = m->next) {
        const struct gw_cfg_key *k = gw_cfg_find_key(
            gw_cfg_auth_keys, GW_CFG_NKEYS(gw_cfg_auth_keys), m->key);

        (void)gw_cfg_fmt(path, sizeof(path), "listeners.%zu.auth.%s", i,
                         m->key);
        if (k != NULL) {
            gw_cfg_set_key(ctx, a, k, m, path);
        } else if (strcmp(m->key, "mechanisms") == 0) {
            gw_cfg_auth_mechanisms(ctx, a, m, path);
        } else if (strcmp(m->key, "users") == 0) {
            *has_users = gw_cfg_get_path(ctx, m, path, false, a->users_file,
                                         sizeof(a->users_file));
        } else if (strcmp(m->key, "tokens") == 0) {
            (void)gw_cfg_get_path(ctx, m, path, false, a->tokens_file,
                                  sizeof(a->tokens_file));
        } else if (strcmp(m->key, "token_command") == 0) {
            (void)gw_cfg_get_path(ctx, m, path, false, a->token_command,
                                  sizeof(a->token_command));
        } else if (strcmp(m->key, "mode") == 0) {
            const char *s = gw_cfg_scalar(ctx, m, path, "local or relay");

            if (s != NULL && strcmp(s, "relay") == 0) {
                a->relay = true;
            } else if (s != NULL && strcmp(s, "local") != 0) {
                gw_cfg_error(ctx, &m->pos, "%s: expected local or relay", path);
            }
        } else {
            gw_cfg_unknown_key(ctx, m, where);
        }
    }
    return true;
}

/* mode: relay has no users file (the upstream checks the passwords; that
 * the upstream leg is encrypted is checked per exchange, where the
 * upstream is known). */
static void
gw_cfg_check_relay(struct gw_cfg_ctx *ctx, size_t i,
                   const struct gw_cfg_node *users)
{
    if (users != NULL) {
        gw_cfg_error(ctx, &users->kpos, "listeners.%zu.auth.users: not with "
                     "mode: relay (the upstream checks the passwords)", i);
    }
}

/* Token mechanisms need exactly one backend; a backend needs them. */
static bool
gw_cfg_check_tokens(struct gw_cfg_ctx *ctx, struct gw_auth_cfg *a, size_t i,
                    const struct gw_cfg_node *n)
{
    bool backend = a->tokens_file[0] != '\0' || a->token_command[0] != '\0';

    if (a->tokens_file[0] != '\0' && a->token_command[0] != '\0') {
        gw_cfg_error(ctx, &n->pos, "listeners.%zu.auth: tokens or "
                     "token_command, not both", i);
        return false;
    }
    if ((a->mechanisms & GW_CFG_TOKEN_MECHS) != 0 && !backend) {
        gw_cfg_error(ctx, &n->pos, "listeners.%zu.auth: OAUTHBEARER and "
                     "XOAUTH2 need tokens (a file) or token_command", i);
        return false;
    }
    if (backend && (a->mechanisms & GW_CFG_TOKEN_MECHS) == 0) {
        gw_cfg_error(ctx, &n->pos, "listeners.%zu.auth: tokens without "
                     "OAUTHBEARER or XOAUTH2 in mechanisms", i);
        return false;
    }
    return true;
}

static void
gw_cfg_load_tokens(struct gw_cfg_ctx *ctx, struct gw_auth_cfg *a, size_t i,
                   const struct gw_cfg_node *n)
{
    const char *key = a->tokens_file[0] != '\0' ? "tokens" : "token_command";
    const struct gw_cfg_node *k = gw_cfg_find(n, key);
    char why[256];

    if (a->tokens_file[0] != '\0') {
        a->tokens = gw_tokens_file_load(a->tokens_file, why, sizeof(why));
    } else if (a->token_command[0] != '\0') {
        a->tokens = gw_tokens_command_new(a->token_command,
                                          a->token_timeout_ms, why,
                                          sizeof(why));
    } else {
        return;
    }
    if (a->tokens == NULL) {
        gw_cfg_error(ctx, k != NULL ? &k->pos : &n->pos,
                     "listeners.%zu.auth.%s: %s: %s", i, key,
                     a->tokens_file[0] != '\0' ? a->tokens_file
                                               : a->token_command,
                     why);
    }
}

void
gw_cfg_walk_listener_auth(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                          size_t i, const struct gw_cfg_node *n,
                          size_t nerrors_before)
{
    struct gw_auth_cfg *a = &l->auth;
    const struct gw_cfg_node *users;
    bool has_users = false;
    char why[256];

    memset(a, 0, sizeof(*a));
    gw_cfg_defaults(a, gw_cfg_auth_keys, GW_CFG_NKEYS(gw_cfg_auth_keys));
    a->mechanisms = GW_SASL_MECHS_DEFAULT;
    if (n == NULL || !gw_cfg_auth_keys_walk(ctx, a, i, n, &has_users)) {
        return;
    }
    a->enabled = true;
    users = gw_cfg_find(n, "users");
    if (a->relay) {
        gw_cfg_check_relay(ctx, i, users);
    } else if (!gw_cfg_check_tokens(ctx, a, i, n)) {
        return;
    } else if (users == NULL && (a->mechanisms & GW_CFG_PASSWORD_MECHS) != 0) {
        gw_cfg_error(ctx, &n->pos, "listeners.%zu.auth: missing required "
                     "key 'users' (a file of user:hash lines, see postern "
                     "passwd)", i);
    }
    if (l->tls == GW_TLS_NONE && !a->allow_plaintext) {
        gw_cfg_error(ctx, &n->kpos, "listeners.%zu.auth: AUTH needs tls: "
                     "starttls or implicit (or auth.allow_plaintext: true, "
                     "which sends passwords in the clear)", i);
    } else if (a->allow_plaintext) {
        gw_cfg_warn(ctx, &n->kpos, "listeners.%zu.auth.allow_plaintext: AUTH "
                    "is offered before TLS: passwords may cross the network "
                    "in the clear", i);
    }
    if (a->relay || ctx->nerrors != nerrors_before) {
        return; /* one message per problem */
    }
    gw_cfg_load_tokens(ctx, a, i, n);
    if (!has_users) {
        return;
    }
    a->users = gw_users_load(a->users_file, why, sizeof(why));
    if (a->users == NULL) {
        gw_cfg_error(ctx, &users->pos, "listeners.%zu.auth.users: %s: %s", i,
                     a->users_file, why);
    }
}

void
gw_cfg_print_listener_auth(FILE *fp, const struct gw_listener_cfg *l)
{
    const struct gw_auth_cfg *a = &l->auth;
    const char *sep = "";
    unsigned m;

    if (!a->enabled) {
        return;
    }
    if (a->relay) {
        fprintf(fp, "    auth:\n      mode: relay\n      mechanisms: [");
    } else {
        fprintf(fp, "    auth:\n      mode: local\n      users: \"%s\"\n"
                "      mechanisms: [", a->users_file);
    }
    for (m = GW_SASL_PLAIN; m < GW_SASL_MECH_COUNT; m++) {
        if ((a->mechanisms & GW_SASL_MECH_BIT(m)) != 0) {
            fprintf(fp, "%s%s", sep, gw_sasl_mech_name((enum gw_sasl_mech)m));
            sep = ", ";
        }
    }
    fprintf(fp, "]\n");
    if (a->tokens_file[0] != '\0') {
        fprintf(fp, "      tokens: \"%s\"\n", a->tokens_file);
    } else if (a->token_command[0] != '\0') {
        fprintf(fp, "      token_command: \"%s\"\n", a->token_command);
    }
    gw_cfg_print_keys(fp, "      ", a, gw_cfg_auth_keys,
                      GW_CFG_NKEYS(gw_cfg_auth_keys));
}

void
gw_cfg_free_auth(struct gw_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->nlisteners; i++) {
        gw_users_free(cfg->listeners[i].auth.users);
        cfg->listeners[i].auth.users = NULL;
        gw_tokens_free(cfg->listeners[i].auth.tokens);
        cfg->listeners[i].auth.tokens = NULL;
    }
    for (i = 0; i < cfg->nupstreams; i++) {
        mbedtls_platform_zeroize(cfg->upstreams[i].auth.password,
                                 sizeof(cfg->upstreams[i].auth.password));
    }
}

/* ---- an upstream's credentials ---------------------------------------- */

/* The first line of the file, without its newline: 1..255 octets, no
 * control characters. */
static void
gw_cfg_read_password(struct gw_cfg_ctx *ctx, struct gw_up_auth_cfg *a,
                     const struct gw_cfg_node *n, const char *path)
{
    char buf[sizeof(a->password) + 2];
    FILE *fp = fopen(a->password_file, "r");
    size_t len;
    size_t k;

    if (fp == NULL) {
        gw_cfg_error(ctx, &n->pos, "%s: %s: cannot open: %s", path,
                     a->password_file, strerror(errno));
        return;
    }
    if (fgets(buf, sizeof(buf), fp) == NULL) {
        buf[0] = '\0';
    }
    fclose(fp);
    len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    for (k = 0; k < len && (unsigned char)buf[k] >= 0x20; k++) {
    }
    if (len == 0 || len >= sizeof(a->password) || k != len) {
        gw_cfg_error(ctx, &n->pos, "%s: %s: the first line must be the "
                     "password, 1 to %zu octets without control characters",
                     path, a->password_file, sizeof(a->password) - 1);
    } else {
        memcpy(a->password, buf, len + 1);
    }
    mbedtls_platform_zeroize(buf, sizeof(buf));
}

void
gw_cfg_walk_upstream_auth(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                          size_t i, const struct gw_cfg_node *n)
{
    struct gw_up_auth_cfg *a = &u->auth;
    const struct gw_cfg_node *m;
    const struct gw_cfg_node *pw = NULL;
    char path[GW_CFG_PATH_MAX];
    char where[GW_CFG_PATH_MAX];
    char q[GW_CFG_QUOTE_MAX];
    const char *s;

    memset(a, 0, sizeof(*a));
    a->mechanism = GW_SASL_PLAIN;
    (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.auth", i);
    if (n->kind != GW_CFG_MAP) {
        gw_cfg_error(ctx, &n->pos, "%s: expected a map (user, password_file, "
                     "mechanism), got %s", path, gw_cfg_kind_name(n));
        return;
    }
    (void)gw_cfg_fmt(where, sizeof(where), "in %s", path);
    for (m = n->child; m != NULL; m = m->next) {
        (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.auth.%s", i,
                         m->key);
        if (strcmp(m->key, "user") == 0) {
            s = gw_cfg_scalar(ctx, m, path, "a user name");
            if (s != NULL && (strlen(s) == 0 || strlen(s) >= sizeof(a->user) ||
                              strpbrk(s, "\r\n") != NULL)) {
                gw_cfg_error(ctx, &m->pos, "%s: 1 to %zu octets", path,
                             sizeof(a->user) - 1);
            } else if (s != NULL) {
                memcpy(a->user, s, strlen(s) + 1);
            }
        } else if (strcmp(m->key, "password_file") == 0) {
            if (gw_cfg_get_path(ctx, m, path, false, a->password_file,
                                sizeof(a->password_file))) {
                pw = m;
            }
        } else if (strcmp(m->key, "mechanism") == 0) {
            s = gw_cfg_scalar(ctx, m, path, "PLAIN or LOGIN");
            a->mechanism = s != NULL ? (unsigned)gw_sasl_mech_parse(
                                           (const uint8_t *)s, strlen(s))
                                     : GW_SASL_PLAIN;
            if (s != NULL && a->mechanism != GW_SASL_PLAIN &&
                a->mechanism != GW_SASL_LOGIN) {
                gw_cfg_quote(q, sizeof(q), s);
                gw_cfg_error(ctx, &m->pos, "%s: %s: expected PLAIN or LOGIN",
                             path, q);
                a->mechanism = GW_SASL_PLAIN;
            }
        } else if (strcmp(m->key, "allow_plaintext") == 0) {
            static const struct gw_cfg_key k = {
                "allow_plaintext", GW_CFG_V_BOOL, GW_CFG_C_BOOL,
                offsetof(struct gw_up_auth_cfg, allow_plaintext), 0, 0, 1,
                NULL};

            gw_cfg_set_key(ctx, a, &k, m, path);
        } else {
            gw_cfg_unknown_key(ctx, m, where);
        }
    }
    if (a->user[0] == '\0' || pw == NULL) {
        gw_cfg_error(ctx, &n->pos, "upstreams.%zu.auth: needs user and "
                     "password_file", i);
        return;
    }
    (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.auth.password_file",
                     i);
    gw_cfg_read_password(ctx, a, pw, path);
    a->enabled = true;
}

void
gw_cfg_check_upstream_auth(struct gw_cfg_ctx *ctx,
                           const struct gw_upstream_cfg *u, size_t i,
                           const struct gw_cfg_node *n)
{
    if (!u->auth.enabled || n == NULL) {
        return;
    }
    if ((u->tls == GW_UP_TLS_NONE || u->tls == GW_UP_TLS_MAY) &&
        !u->auth.allow_plaintext) {
        gw_cfg_error(ctx, &n->kpos, "upstreams.%zu.auth: needs tls: encrypt "
                     "or verify (or auth.allow_plaintext: true, which sends "
                     "the password in the clear)", i);
    } else if (u->auth.allow_plaintext && u->tls != GW_UP_TLS_ENCRYPT &&
               u->tls != GW_UP_TLS_VERIFY) {
        gw_cfg_warn(ctx, &n->kpos, "upstreams.%zu.auth.allow_plaintext: the "
                    "password may cross the network in the clear", i);
    }
    if (u->xclient) {
        /* the login comes first, after EHLO; XCLIENT would reset it, so
         * gw_up_identify leaves it out on a logged-in session */
        gw_cfg_warn(ctx, &n->kpos, "upstreams.%zu.xclient: not sent on "
                    "sessions that log in with auth (it would reset the "
                    "login)", i);
    }
}

void
gw_cfg_print_upstream_auth(FILE *fp, const struct gw_upstream_cfg *u)
{
    const struct gw_up_auth_cfg *a = &u->auth;

    if (!a->enabled) {
        return;
    }
    /* user names and paths were checked: no '"' or control characters in
     * paths; a user name is escaped the YAML way for '"' and '\\' */
    fprintf(fp, "    auth:\n      user: \"");
    for (const char *p = a->user; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', fp);
        }
        fputc(*p, fp);
    }
    fprintf(fp, "\"\n      password_file: \"%s\"\n      mechanism: %s\n"
            "      allow_plaintext: %s\n", a->password_file,
            gw_sasl_mech_name((enum gw_sasl_mech)a->mechanism),
            a->allow_plaintext ? "true" : "false");
}
