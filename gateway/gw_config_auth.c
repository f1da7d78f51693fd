/*
 * The auth block of a listener (RFC 4954 AUTH): its keys, the checks that
 * tie it to the listener's TLS, the users file (loaded here, so a broken
 * file fails `postern -t` and a reload keeps the old one), and its part
 * of `postern -n`.
 */
#include <string.h>

#include "gateway/gw_config_internal.h"
#include "gateway/gw_sasl.h"
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
};

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
                         "PLAIN, LOGIN)", epath, q);
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
        } else {
            gw_cfg_unknown_key(ctx, m, where);
        }
    }
    return true;
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
    if (users == NULL) {
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
    if (!has_users || ctx->nerrors != nerrors_before) {
        return; /* one message per problem */
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
    fprintf(fp, "    auth:\n      users: \"%s\"\n      mechanisms: [",
            a->users_file);
    for (m = GW_SASL_PLAIN; m < GW_SASL_MECH_COUNT; m++) {
        if ((a->mechanisms & GW_SASL_MECH_BIT(m)) != 0) {
            fprintf(fp, "%s%s", sep, gw_sasl_mech_name((enum gw_sasl_mech)m));
            sep = ", ";
        }
    }
    fprintf(fp, "]\n");
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
    }
}
