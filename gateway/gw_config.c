/*
 * Configuration: YAML text -> a small node tree that remembers where every
 * key and value came from -> the -o overrides applied to that tree -> one
 * schema walk into struct gw_config. Quick mode synthesizes the tree, so
 * files, overrides and quick mode share one validator. Every error is
 * collected as "FILE:LINE:COL: message"; nothing stops at the first one.
 *
 * This file holds the public API, the schema tables and the walk; the
 * other gw_config_*.c files are listed in gw_config_internal.h.
 */
#include "gateway/gw_config_internal.h"

#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_str.h"

/* Static prototypes, in the order of their definitions. */
static struct gw_config *gw_cfg_quick(const struct gw_config_source *src,
                                      struct gw_config_errors *errs);
static struct gw_cfg_node *
gw_cfg_quick_tree(struct gw_cfg_ctx *ctx, const struct gw_config_source *src);
static struct gw_config *gw_cfg_build(struct gw_cfg_ctx *ctx,
                                      struct gw_cfg_node *root,
                                      const char *const *overrides,
                                      size_t noverrides);
static void gw_cfg_check_metrics(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                                 const struct gw_cfg_node *root);
static void gw_cfg_walk_root(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                             const struct gw_cfg_node *root);
static const struct gw_cfg_section *gw_cfg_find_section(const char *name);
static void gw_cfg_walk_section(struct gw_cfg_ctx *ctx, void *base,
                                const struct gw_cfg_section *sec,
                                const struct gw_cfg_node *n);
static void gw_cfg_walk_hostname(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                                 const struct gw_cfg_node *n);
static void *gw_cfg_walk_list(struct gw_cfg_ctx *ctx,
                              const struct gw_cfg_node *n, const char *key,
                              size_t elem_size, size_t *count);
static void gw_cfg_walk_upstream(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                                 size_t i, const struct gw_cfg_node *el);
static bool gw_cfg_is_field_name(const char *s);
static void gw_cfg_walk_addrs(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                              const struct gw_cfg_node *n, const char *path);
static void gw_cfg_walk_listener(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                                 size_t i, const struct gw_cfg_node *el);
static void gw_cfg_get_upstream(struct gw_cfg_ctx *ctx,
                                const struct gw_config *cfg,
                                const struct gw_cfg_node *n, const char *path,
                                size_t *index);
static void gw_cfg_check_unique(struct gw_cfg_ctx *ctx,
                                const struct gw_cfg_node *list,
                                const char *what, const char *names,
                                size_t stride, size_t count);
static void gw_cfg_set_source(struct gw_config *cfg, const char *source);
static void gw_cfg_free(struct gw_config *cfg);

/* The schema. Each table drives parsing, defaults and printing alike. */

static const char *const gw_cfg_bare_nl_words[] = {"normalize", "reject", NULL};
static const char *const gw_cfg_log_words[] = {"error", "warn",  "info",
                                               "debug", "trace", NULL};
static const char *const gw_cfg_connect_words[] = {"on_mail", "on_connect",
                                                   NULL};
/* In enum order: the value is the index (enum gw_tls_mode, gw_up_tls). */
static const char *const gw_cfg_tls_words[] = {"none", "starttls", "implicit",
                                               NULL};
static const char *const gw_cfg_up_proxy_words[] = {"none", "v1", "v2",
                                                    NULL};
static const char *const gw_cfg_empty_default[] = {"", NULL};
static const char *const gw_cfg_up_tls_words[] = {"none", "may", "encrypt",
                                                  "verify", NULL};

static const struct gw_cfg_key gw_cfg_smtp_keys[] = {
    {"disable_vrfy", GW_CFG_V_BOOL, GW_CFG_C_BOOL, GW_CFG_OFF(disable_vrfy), 0,
     0, 1, NULL},
    {"received_header", GW_CFG_V_BOOL, GW_CFG_C_BOOL,
     GW_CFG_OFF(received_header), 1, 0, 1, NULL},
};

static const struct gw_cfg_key gw_cfg_body_keys[] = {
    {"bare_newlines", GW_CFG_V_WORD, GW_CFG_C_BARE_NL,
     GW_CFG_OFF(bare_newlines), GW_BARE_NL_NORMALIZE, GW_BARE_NL_NORMALIZE,
     GW_BARE_NL_REJECT, gw_cfg_bare_nl_words},
};

static const char *const gw_cfg_log_format_words[] = {"text", "json", NULL};
static const char *const gw_cfg_log_sink_words[] = {"stderr", "syslog", NULL};
static const char *const gw_cfg_no_default[] = {""};

static const struct gw_cfg_key gw_cfg_log_keys[] = {
    {"level", GW_CFG_V_WORD, GW_CFG_C_LOG_LEVEL, GW_CFG_OFF(log_level),
     GW_LOG_INFO, GW_LOG_ERROR, GW_LOG_TRACE, gw_cfg_log_words},
    {"format", GW_CFG_V_WORD, GW_CFG_C_LOG_FORMAT, GW_CFG_OFF(log_format),
     GW_LOG_FORMAT_TEXT, GW_LOG_FORMAT_TEXT, GW_LOG_FORMAT_JSON,
     gw_cfg_log_format_words},
    {"sink", GW_CFG_V_WORD, GW_CFG_C_LOG_SINK, GW_CFG_OFF(log_sink),
     GW_LOG_SINK_STDERR, GW_LOG_SINK_STDERR, GW_LOG_SINK_SYSLOG,
     gw_cfg_log_sink_words},
};

#define GW_CFG_STRING(sec, key, def)                                           \
    {                                                                          \
#key, GW_CFG_V_STRING, GW_CFG_C_STRING, GW_CFG_OFF(sec.key), 0, 0,     \
            sizeof(((struct gw_config *)0)->sec.key), def                      \
    }

static const struct gw_cfg_key gw_cfg_process_keys[] = {
    {"workers", GW_CFG_V_INT, GW_CFG_C_SIZE, GW_CFG_OFF(process.workers), 0,
     0, GW_MAX_WORKERS, NULL},
    {"master", GW_CFG_V_BOOL, GW_CFG_C_BOOL, GW_CFG_OFF(process.master), 1, 0,
     1, NULL},
    GW_CFG_STRING(process, pid_file, gw_cfg_no_default),
    {"shutdown_grace", GW_CFG_V_DURATION, GW_CFG_C_U64,
     GW_CFG_OFF(process.shutdown_grace_ms), GW_DEF_SHUTDOWN_GRACE, 0,
     GW_MAX_TIMEOUT, NULL},
    GW_CFG_STRING(process, user, gw_cfg_no_default),
    GW_CFG_STRING(process, group, gw_cfg_no_default),
    GW_CFG_STRING(process, chroot, gw_cfg_no_default),
    {"run_as_root", GW_CFG_V_BOOL, GW_CFG_C_BOOL,
     GW_CFG_OFF(process.run_as_root), 0, 0, 1, NULL},
};

static const struct gw_cfg_key gw_cfg_metrics_keys[] = {
    GW_CFG_STRING(metrics, listen, gw_cfg_no_default),
};

#define GW_CFG_LIMIT(key, vt, ct, def, min, max)                               \
    {                                                                          \
#key, vt, ct, GW_CFG_OFF(limits.key), def, min, max, NULL              \
    }

static const struct gw_cfg_key gw_cfg_limits_keys[] = {
    GW_CFG_LIMIT(command_line, GW_CFG_V_INT, GW_CFG_C_SIZE, GW_DEF_COMMAND_LINE,
                 GW_MIN_COMMAND_LINE, GW_MAX_COMMAND_LINE),
    GW_CFG_LIMIT(reply_line, GW_CFG_V_INT, GW_CFG_C_SIZE, GW_DEF_REPLY_LINE,
                 GW_MIN_REPLY_LINE, GW_MAX_REPLY_LINE),
    GW_CFG_LIMIT(reply_lines, GW_CFG_V_INT, GW_CFG_C_SIZE, GW_DEF_REPLY_LINES,
                 1, GW_MAX_REPLY_LINES),
    GW_CFG_LIMIT(recipients, GW_CFG_V_INT, GW_CFG_C_SIZE, GW_DEF_RECIPIENTS,
                 GW_MIN_RECIPIENTS, GW_MAX_RECIPIENTS),
    GW_CFG_LIMIT(messages_per_session, GW_CFG_V_INT, GW_CFG_C_SIZE,
                 GW_DEF_MESSAGES_PER_SESSION, 1, GW_MAX_MESSAGES_PER_SESSION),
    GW_CFG_LIMIT(errors_per_session, GW_CFG_V_INT, GW_CFG_C_SIZE,
                 GW_DEF_ERRORS_PER_SESSION, 1, GW_MAX_ERRORS_PER_SESSION),
    GW_CFG_LIMIT(connections, GW_CFG_V_INT, GW_CFG_C_SIZE, GW_DEF_CONNECTIONS,
                 1, GW_MAX_CONNECTIONS),
    GW_CFG_LIMIT(connections_per_client, GW_CFG_V_INT, GW_CFG_C_SIZE,
                 GW_DEF_CONNECTIONS_PER_CLIENT, 1,
                 GW_MAX_CONNECTIONS_PER_CLIENT),
    GW_CFG_LIMIT(pipeline_depth, GW_CFG_V_INT, GW_CFG_C_SIZE,
                 GW_DEF_PIPELINE_DEPTH, 1, GW_MAX_PIPELINE_DEPTH),
    GW_CFG_LIMIT(buffer_size, GW_CFG_V_SIZE, GW_CFG_C_SIZE, GW_DEF_BUFFER_SIZE,
                 GW_MIN_BUFFER_SIZE, GW_MAX_BUFFER_SIZE),
    GW_CFG_LIMIT(message_size, GW_CFG_V_SIZE, GW_CFG_C_U64, GW_DEF_MESSAGE_SIZE,
                 GW_CFG_MIN_MESSAGE_SIZE, GW_MAX_MESSAGE_SIZE),
};

#define GW_CFG_TIMEOUT(key, def)                                               \
    {                                                                          \
#key, GW_CFG_V_DURATION, GW_CFG_C_U64, GW_CFG_OFF(timeouts.key), def,  \
            1, GW_MAX_TIMEOUT, NULL                                            \
    }

static const struct gw_cfg_key gw_cfg_timeouts_keys[] = {
    GW_CFG_TIMEOUT(command, GW_DEF_TIMEOUT_COMMAND),
    GW_CFG_TIMEOUT(data_block, GW_DEF_TIMEOUT_DATA_BLOCK),
    GW_CFG_TIMEOUT(upstream_greeting, GW_DEF_TIMEOUT_UP_GREETING),
    GW_CFG_TIMEOUT(upstream_mail, GW_DEF_TIMEOUT_UP_MAIL),
    GW_CFG_TIMEOUT(upstream_rcpt, GW_DEF_TIMEOUT_UP_RCPT),
    GW_CFG_TIMEOUT(upstream_data, GW_DEF_TIMEOUT_UP_DATA),
    GW_CFG_TIMEOUT(upstream_data_block, GW_DEF_TIMEOUT_UP_DATA_BLOCK),
    GW_CFG_TIMEOUT(upstream_data_end, GW_DEF_TIMEOUT_UP_DATA_END),
    GW_CFG_TIMEOUT(upstream_idle, GW_DEF_TIMEOUT_UP_IDLE),
};

/* Keys of one upstream block besides name, addresses and helo_name. */
const struct gw_cfg_key gw_cfg_upstream_keys[] = {
    {"connect", GW_CFG_V_WORD, GW_CFG_C_UP_CONNECT, GW_CFG_UP_OFF(connect),
     GW_UP_CONNECT_ON_MAIL, GW_UP_CONNECT_ON_MAIL, GW_UP_CONNECT_ON_CONNECT,
     gw_cfg_connect_words},
    {"connect_timeout", GW_CFG_V_DURATION, GW_CFG_C_U64,
     GW_CFG_UP_OFF(connect_timeout_ms), GW_DEF_TIMEOUT_UP_CONNECT, 1,
     GW_MAX_TIMEOUT, NULL},
    {"probe_interval", GW_CFG_V_DURATION, GW_CFG_C_U64,
     GW_CFG_UP_OFF(probe_interval_ms), GW_DEF_PROBE_INTERVAL, 0, GW_MAX_TIMEOUT,
     NULL},
    {"keep_idle", GW_CFG_V_INT, GW_CFG_C_SIZE, GW_CFG_UP_OFF(keep_idle), 0, 0,
     GW_MAX_KEEP_IDLE, NULL},
    {"xclient", GW_CFG_V_BOOL, GW_CFG_C_BOOL, GW_CFG_UP_OFF(xclient), 0, 0, 1,
     NULL},
    {"xforward", GW_CFG_V_BOOL, GW_CFG_C_BOOL, GW_CFG_UP_OFF(xforward), 0, 0,
     1, NULL},
    {"proxy_protocol", GW_CFG_V_WORD, GW_CFG_C_UP_PROXY,
     GW_CFG_UP_OFF(proxy_protocol), GW_UP_PROXY_NONE, GW_UP_PROXY_NONE,
     GW_UP_PROXY_V2, gw_cfg_up_proxy_words},
    {"trace_header", GW_CFG_V_STRING, GW_CFG_C_STRING,
     GW_CFG_UP_OFF(trace_header), 0, 0, GW_NAME_MAX, gw_cfg_empty_default},
    /* last: the TLS keys that are not table keys print right after it */
    {"tls", GW_CFG_V_WORD, GW_CFG_C_UP_TLS, GW_CFG_UP_OFF(tls), GW_UP_TLS_NONE,
     GW_UP_TLS_NONE, GW_UP_TLS_VERIFY, gw_cfg_up_tls_words},
};

const size_t gw_cfg_nupstream_keys = GW_CFG_NKEYS(gw_cfg_upstream_keys);

/* Keys of one listener block besides name, address, upstream and
 * certificates. */
const struct gw_cfg_key gw_cfg_listener_keys[] = {
    {"tls", GW_CFG_V_WORD, GW_CFG_C_TLS_MODE, GW_CFG_L_OFF(tls), GW_TLS_NONE,
     GW_TLS_NONE, GW_TLS_IMPLICIT, gw_cfg_tls_words},
    {"require_tls", GW_CFG_V_BOOL, GW_CFG_C_BOOL, GW_CFG_L_OFF(require_tls), 0,
     0, 1, NULL},
    {"proxy_protocol", GW_CFG_V_BOOL, GW_CFG_C_BOOL,
     GW_CFG_L_OFF(proxy_protocol), 0, 0, 1, NULL},
};

const size_t gw_cfg_nlistener_keys = GW_CFG_NKEYS(gw_cfg_listener_keys);

const struct gw_cfg_section gw_cfg_sections[] = {
    {"smtp", gw_cfg_smtp_keys, GW_CFG_NKEYS(gw_cfg_smtp_keys)},
    {"body", gw_cfg_body_keys, GW_CFG_NKEYS(gw_cfg_body_keys)},
    {"log", gw_cfg_log_keys, GW_CFG_NKEYS(gw_cfg_log_keys)},
    {"limits", gw_cfg_limits_keys, GW_CFG_NKEYS(gw_cfg_limits_keys)},
    {"timeouts", gw_cfg_timeouts_keys, GW_CFG_NKEYS(gw_cfg_timeouts_keys)},
    {"process", gw_cfg_process_keys, GW_CFG_NKEYS(gw_cfg_process_keys)},
    {"metrics", gw_cfg_metrics_keys, GW_CFG_NKEYS(gw_cfg_metrics_keys)},
};

const size_t gw_cfg_nsections = GW_CFG_NKEYS(gw_cfg_sections);

/* ---- public API ------------------------------------------------------ */

struct gw_config *
gw_config_from(const struct gw_config_source *src,
               struct gw_config_errors *errs)
{
    if (src->path != NULL) {
        return gw_config_load(src->path, src->overrides, src->noverrides,
                              errs);
    }
    return gw_cfg_quick(src, errs);
}

struct gw_config *
gw_config_load(const char *path, const char *const *overrides,
               size_t noverrides, struct gw_config_errors *errs)
{
    struct gw_cfg_ctx ctx = {
        path != NULL ? path : "(null)", errs, 0, 0, {{0, 0, NULL}}};
    struct gw_cfg_pos nopos = {0, 0, NULL};
    struct gw_cfg_node *root = NULL;
    struct gw_config *cfg;
    char *buf;
    size_t len = 0;

    if (errs != NULL) {
        errs->count = 0;
        errs->nwarnings = 0;
    }
    if (path == NULL) {
        gw_cfg_error(&ctx, &nopos, "no configuration file given");
        return NULL;
    }
    buf = gw_cfg_read_file(&ctx, path, &len);
    if (buf == NULL) {
        return NULL;
    }
    if (!gw_cfg_parse(&ctx, buf, len, &root)) {
        gw_free(buf);
        gw_cfg_errors_finish(&ctx);
        return NULL;
    }
    gw_free(buf);
    cfg = gw_cfg_build(&ctx, root, overrides, noverrides);
    if (cfg != NULL) {
        gw_cfg_set_source(cfg, path);
    }
    return cfg;
}

struct gw_config *
gw_config_quick(const char *listen, const char *upstream,
                const char *const *overrides, size_t noverrides,
                struct gw_config_errors *errs)
{
    struct gw_config_source src;

    memset(&src, 0, sizeof(src));
    src.listen = listen;
    src.upstream = upstream;
    src.overrides = overrides;
    src.noverrides = noverrides;
    return gw_cfg_quick(&src, errs);
}

/* Quick mode synthesizes the tree a file would give, so the arguments get
 * exactly the checks of a file (their errors have no position). */
static struct gw_config *
gw_cfg_quick(const struct gw_config_source *src, struct gw_config_errors *errs)
{
    struct gw_cfg_ctx ctx = {GW_CFG_CMDLINE, errs, 0, 0, {{0, 0, NULL}}};
    struct gw_cfg_pos nopos = {0, 0, NULL};
    struct gw_cfg_node *root;
    struct gw_config *cfg;

    if (errs != NULL) {
        errs->count = 0;
        errs->nwarnings = 0;
    }
    if (src->listen == NULL || src->upstream == NULL) {
        gw_cfg_error(&ctx, &nopos,
                     "quick mode needs a listen address and "
                     "an upstream address");
        return NULL;
    }
    if ((src->tls_cert == NULL) != (src->tls_key == NULL)) {
        gw_cfg_error(&ctx, &nopos, "--tls-cert and --tls-key go together");
        return NULL;
    }
    root = gw_cfg_quick_tree(&ctx, src);
    if (root == NULL) {
        gw_cfg_errors_finish(&ctx);
        return NULL;
    }
    cfg = gw_cfg_build(&ctx, root, src->overrides, src->noverrides);
    if (cfg != NULL) {
        gw_strlcpy(cfg->source, GW_CFG_CMDLINE, sizeof(cfg->source));
    }
    return cfg;
}

/* listeners: [{address: LISTEN, tls: starttls,
 *              certificates: [{cert: CERT, key: KEY}]}],
 * upstreams: [{addresses: [UPSTREAM], tls: MODE}]; NULL on failure. */
static struct gw_cfg_node *
gw_cfg_quick_tree(struct gw_cfg_ctx *ctx, const struct gw_config_source *src)
{
    struct gw_cfg_pos nopos = {0, 0, NULL};
    struct gw_cfg_node *root;
    struct gw_cfg_node *l;
    struct gw_cfg_node *u;
    struct gw_cfg_node *c;
    struct gw_cfg_node *n;

    root = gw_cfg_node_new(ctx, GW_CFG_MAP, &nopos);
    n = gw_cfg_add(ctx, root, "listeners", GW_CFG_SEQ, NULL, &nopos);
    l = gw_cfg_add(ctx, n, NULL, GW_CFG_MAP, NULL, &nopos);
    n = gw_cfg_add(ctx, l, "address", GW_CFG_SCALAR, src->listen, &nopos);
    if (n != NULL && src->tls_cert != NULL) {
        n = gw_cfg_add(ctx, l, "tls", GW_CFG_SCALAR, "starttls", &nopos);
        c = n == NULL ? NULL
                      : gw_cfg_add(ctx, l, "certificates", GW_CFG_SEQ, NULL,
                                   &nopos);
        c = gw_cfg_add(ctx, c, NULL, GW_CFG_MAP, NULL, &nopos);
        n = gw_cfg_add(ctx, c, "cert", GW_CFG_SCALAR, src->tls_cert, &nopos);
        n = n == NULL ? NULL
                      : gw_cfg_add(ctx, c, "key", GW_CFG_SCALAR, src->tls_key,
                                   &nopos);
    }
    if (n != NULL) {
        n = gw_cfg_add(ctx, root, "upstreams", GW_CFG_SEQ, NULL, &nopos);
        u = gw_cfg_add(ctx, n, NULL, GW_CFG_MAP, NULL, &nopos);
        n = gw_cfg_add(ctx, u, "addresses", GW_CFG_SEQ, NULL, &nopos);
        n = gw_cfg_add(ctx, n, NULL, GW_CFG_SCALAR, src->upstream, &nopos);
        if (n != NULL && src->upstream_tls != NULL) {
            n = gw_cfg_add(ctx, u, "tls", GW_CFG_SCALAR, src->upstream_tls,
                           &nopos);
        }
    }
    if (n == NULL) {
        gw_cfg_node_free(root);
        return NULL;
    }
    return root;
}

void
gw_config_ref(struct gw_config *cfg)
{
    if (cfg != NULL) {
        cfg->refs++;
    }
}

void
gw_config_unref(struct gw_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    if (cfg->refs > 1) {
        cfg->refs--;
        return;
    }
    gw_cfg_free(cfg);
}

/* ---- the schema walk ------------------------------------------------- */

/* Applies the overrides, validates, frees the tree. Takes root. */
static struct gw_config *
gw_cfg_build(struct gw_cfg_ctx *ctx, struct gw_cfg_node *root,
             const char *const *overrides, size_t noverrides)
{
    struct gw_cfg_pos nopos = {0, 0, NULL};
    struct gw_config *cfg;
    size_t i;

    for (i = 0; i < noverrides; i++) {
        if (overrides[i] == NULL) {
            gw_cfg_error(ctx, &nopos, "override %zu is NULL", i);
        } else {
            gw_cfg_override(ctx, &root, overrides[i]);
        }
    }
    cfg = gw_calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        gw_cfg_error(ctx, &nopos, "out of memory");
    } else {
        cfg->refs = 1;
        for (i = 0; i < gw_cfg_nsections; i++) {
            gw_cfg_defaults(cfg, gw_cfg_sections[i].keys,
                            gw_cfg_sections[i].nkeys);
        }
        gw_cfg_ehlo_defaults(&cfg->ehlo);
        gw_cfg_walk_root(ctx, cfg, root);
        gw_cfg_check_metrics(ctx, cfg, root);
    }
    gw_cfg_node_free(root);
    if (ctx->nerrors > 0 && cfg != NULL) {
        gw_cfg_free(cfg);
        cfg = NULL;
    }
    gw_cfg_errors_finish(ctx);
    return cfg;
}

/* metrics.listen, when set, must be an address to bind. */
static void
gw_cfg_check_metrics(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                     const struct gw_cfg_node *root)
{
    const struct gw_cfg_node *m;
    const struct gw_cfg_node *k;
    struct gw_cfg_pos nopos = {0, 0, NULL};
    const struct gw_cfg_pos *pos = &nopos;
    char why[128];

    if (cfg->metrics.listen[0] == '\0') {
        return;
    }
    if (gw_config_parse_addr(cfg->metrics.listen, &cfg->metrics.addr, why,
                             sizeof(why))) {
        return;
    }
    for (m = root != NULL ? root->child : NULL; m != NULL; m = m->next) {
        if (m->key != NULL && strcmp(m->key, "metrics") == 0) {
            for (k = m->child; k != NULL; k = k->next) {
                if (k->key != NULL && strcmp(k->key, "listen") == 0) {
                    pos = &k->pos;
                }
            }
        }
    }
    gw_cfg_error(ctx, pos, "metrics.listen: bad address: %s", why);
}

static void
gw_cfg_walk_root(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                 const struct gw_cfg_node *root)
{
    const struct gw_cfg_node *host = NULL;
    const struct gw_cfg_node *lst = NULL;
    const struct gw_cfg_node *ups = NULL;
    const struct gw_cfg_node *pol = NULL;
    const struct gw_cfg_node *m;
    const struct gw_cfg_section *sec;
    size_t i;

    if (root != NULL && !(root->kind == GW_CFG_SCALAR && root->is_null)) {
        if (root->kind != GW_CFG_MAP) {
            gw_cfg_error(ctx, &root->pos,
                         "the top level must be a map of settings, got %s",
                         gw_cfg_kind_name(root));
            return;
        }
        for (m = root->child; m != NULL; m = m->next) {
            sec = gw_cfg_find_section(m->key);
            if (sec != NULL) {
                gw_cfg_walk_section(ctx, cfg, sec, m);
            } else if (strcmp(m->key, "ehlo") == 0) {
                gw_cfg_walk_ehlo(ctx, &cfg->ehlo, m);
            } else if (strcmp(m->key, "hostname") == 0) {
                host = m;
            } else if (strcmp(m->key, "listeners") == 0) {
                lst = m;
            } else if (strcmp(m->key, "upstreams") == 0) {
                ups = m;
            } else if (strcmp(m->key, "policy") == 0) {
                pol = m;
            } else {
                gw_cfg_unknown_key(ctx, m, "at the top level");
            }
        }
    }
    /* In dependency order: helo_name defaults to hostname, and listeners
     * name their upstream. */
    gw_cfg_walk_hostname(ctx, cfg, host);
    cfg->upstreams = gw_cfg_walk_list(
        ctx, ups, "upstreams", sizeof(*cfg->upstreams), &cfg->nupstreams);
    for (i = 0; i < cfg->nupstreams; i++) {
        gw_cfg_walk_upstream(ctx, cfg, i, gw_cfg_nth(ups, i));
    }
    if (cfg->upstreams != NULL) {
        gw_cfg_check_unique(ctx, ups, "upstream", cfg->upstreams[0].name,
                            sizeof(*cfg->upstreams), cfg->nupstreams);
    }
    cfg->listeners = gw_cfg_walk_list(
        ctx, lst, "listeners", sizeof(*cfg->listeners), &cfg->nlisteners);
    for (i = 0; i < cfg->nlisteners; i++) {
        gw_cfg_walk_listener(ctx, cfg, i, gw_cfg_nth(lst, i));
    }
    if (cfg->listeners != NULL) {
        gw_cfg_check_unique(ctx, lst, "listener", cfg->listeners[0].name,
                            sizeof(*cfg->listeners), cfg->nlisteners);
    }
    /* last: rules name upstreams, and only a valid config is compiled */
    if (pol != NULL && ctx->nerrors == 0) {
        gw_cfg_walk_policy(ctx, cfg, pol);
    }
}

static const struct gw_cfg_section *
gw_cfg_find_section(const char *name)
{
    size_t i;

    for (i = 0; i < gw_cfg_nsections; i++) {
        if (strcmp(gw_cfg_sections[i].name, name) == 0) {
            return &gw_cfg_sections[i];
        }
    }
    return NULL;
}

static void
gw_cfg_walk_section(struct gw_cfg_ctx *ctx, void *base,
                    const struct gw_cfg_section *sec,
                    const struct gw_cfg_node *n)
{
    char where[GW_CFG_PATH_MAX];
    char path[GW_CFG_PATH_MAX];
    const struct gw_cfg_key *k;
    const struct gw_cfg_node *m;

    if (!gw_cfg_check_map(ctx, n, sec->name)) {
        return;
    }
    (void)gw_cfg_fmt(where, sizeof(where), "in %s", sec->name);
    for (m = n->child; m != NULL; m = m->next) {
        k = gw_cfg_find_key(sec->keys, sec->nkeys, m->key);
        if (k == NULL) {
            gw_cfg_unknown_key(ctx, m, where);
            continue;
        }
        (void)gw_cfg_fmt(path, sizeof(path), "%s.%s", sec->name, k->name);
        gw_cfg_set_key(ctx, base, k, m, path);
    }
}

static void
gw_cfg_walk_hostname(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                     const struct gw_cfg_node *n)
{
    const char *s;
    char q[GW_CFG_QUOTE_MAX];

    if (n == NULL) {
        gw_cfg_default_hostname(cfg->hostname, sizeof(cfg->hostname));
        return;
    }
    s = gw_cfg_scalar(ctx, n, "hostname", "a domain name");
    if (s == NULL) {
        return;
    }
    if (!gw_cfg_is_domain(s)) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos,
                     "hostname: expected a domain name (letters, digits, "
                     "'-' and '.', at most %d characters), got %s",
                     GW_MAX_DOMAIN, q);
        return;
    }
    gw_strlcpy(cfg->hostname, s, sizeof(cfg->hostname));
}

/* Checks that a required list is present, non-empty and made of maps, and
 * allocates its elements (zeroed). NULL with *count 0 when the list itself
 * is missing or empty; elements that are not maps are reported here and
 * skipped by the element walkers, so the others are still checked. */
static void *
gw_cfg_walk_list(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                 const char *key, size_t elem_size, size_t *count)
{
    struct gw_cfg_pos nopos = {0, 0, NULL};
    const struct gw_cfg_node *el;
    size_t i = 0;
    void *arr;

    *count = 0;
    if (n == NULL) {
        gw_cfg_error(ctx, &nopos, "missing required key '%s'", key);
        return NULL;
    }
    if (n->kind != GW_CFG_SEQ || n->nchild == 0) {
        gw_cfg_error(
            ctx, &n->pos,
            "%s: expected a list of at least one "
            "map, got %s",
            key, n->kind == GW_CFG_SEQ ? "an empty list" : gw_cfg_kind_name(n));
        return NULL;
    }
    for (el = n->child; el != NULL; el = el->next, i++) {
        if (el->kind != GW_CFG_MAP) {
            gw_cfg_error(ctx, &el->pos, "%s.%zu: expected a map, got %s", key,
                         i, gw_cfg_kind_name(el));
        }
    }
    arr = gw_calloc(n->nchild, elem_size);
    if (arr == NULL) {
        gw_cfg_error(ctx, &n->pos, "out of memory");
        return NULL;
    }
    *count = n->nchild;
    return arr;
}

static void
gw_cfg_walk_upstream(struct gw_cfg_ctx *ctx, struct gw_config *cfg, size_t i,
                     const struct gw_cfg_node *el)
{
    struct gw_upstream_cfg *u = &cfg->upstreams[i];
    const struct gw_cfg_node *addrs = NULL;
    const struct gw_cfg_node *m;
    const struct gw_cfg_key *k;
    char where[GW_CFG_PATH_MAX];
    char path[GW_CFG_PATH_MAX];
    size_t nerrors = ctx->nerrors;

    (void)gw_cfg_fmt(u->name, sizeof(u->name), "upstream%zu", i);
    gw_strlcpy(u->helo_name, cfg->hostname, sizeof(u->helo_name));
    gw_cfg_defaults(u, gw_cfg_upstream_keys,
                    GW_CFG_NKEYS(gw_cfg_upstream_keys));
    if (el->kind != GW_CFG_MAP) {
        return; /* reported by gw_cfg_walk_list */
    }
    (void)gw_cfg_fmt(where, sizeof(where), "in upstreams.%zu", i);
    for (m = el->child; m != NULL; m = m->next) {
        (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.%s", i, m->key);
        k = gw_cfg_find_key(gw_cfg_upstream_keys,
                            GW_CFG_NKEYS(gw_cfg_upstream_keys), m->key);
        if (k != NULL) {
            gw_cfg_set_key(ctx, u, k, m, path);
        } else if (strcmp(m->key, "name") == 0) {
            gw_cfg_get_name(ctx, m, path, u->name);
        } else if (strcmp(m->key, "addresses") == 0) {
            addrs = m;
        } else if (strcmp(m->key, "helo_name") == 0) {
            gw_cfg_get_helo(ctx, m, path, u->helo_name, sizeof(u->helo_name));
        } else if (strcmp(m->key, "auth") == 0) {
            gw_cfg_walk_upstream_auth(ctx, u, i, m);
        } else if (!gw_cfg_tls_is_key(m->key, true)) {
            gw_cfg_unknown_key(ctx, m, where);
        }
    }
    if (addrs == NULL) {
        gw_cfg_error(ctx, &el->pos,
                     "upstreams.%zu: missing required key "
                     "'addresses'",
                     i);
    } else {
        (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.addresses", i);
        gw_cfg_walk_addrs(ctx, u, addrs, path);
    }
    gw_cfg_walk_upstream_tls(ctx, u, i, el, nerrors);
    gw_cfg_check_upstream_auth(ctx, u, i, gw_cfg_find(el, "auth"));
    if (!gw_cfg_is_field_name(u->trace_header)) {
        gw_cfg_error(ctx, &gw_cfg_find(el, "trace_header")->pos,
                     "upstreams.%zu.trace_header: a header field name: "
                     "letters, digits and '-' (X-Postern-Client)", i);
    }
}

/* RFC 5322 3.6.8 allows more, but a trace field of ours needs no more. */
static bool
gw_cfg_is_field_name(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-')) {
            return false;
        }
    }
    return true;
}

/* One "host:port" string, or a list of 1..GW_MAX_UPSTREAM_ADDRS of them. */
static void
gw_cfg_walk_addrs(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                  const struct gw_cfg_node *n, const char *path)
{
    char epath[GW_CFG_PATH_MAX];
    const struct gw_cfg_node *a;

    if (n->kind == GW_CFG_SCALAR) {
        gw_cfg_get_addr(ctx, n, path, &u->addrs[0]);
        u->naddrs = 1;
        return;
    }
    if (n->kind != GW_CFG_SEQ) {
        gw_cfg_error(ctx, &n->pos,
                     "%s: expected an address or a list of "
                     "addresses, got %s",
                     path, gw_cfg_kind_name(n));
        return;
    }
    if (n->nchild == 0 || n->nchild > GW_MAX_UPSTREAM_ADDRS) {
        gw_cfg_error(ctx, &n->pos, "%s: expected 1 to %d addresses, got %zu",
                     path, GW_MAX_UPSTREAM_ADDRS, n->nchild);
        return;
    }
    for (a = n->child; a != NULL; a = a->next) {
        (void)gw_cfg_fmt(epath, sizeof(epath), "%s.%zu", path, u->naddrs);
        gw_cfg_get_addr(ctx, a, epath, &u->addrs[u->naddrs]);
        u->naddrs++;
    }
}

static void
gw_cfg_walk_listener(struct gw_cfg_ctx *ctx, struct gw_config *cfg, size_t i,
                     const struct gw_cfg_node *el)
{
    struct gw_listener_cfg *l = &cfg->listeners[i];
    const struct gw_cfg_node *m;
    const struct gw_cfg_key *k;
    char where[GW_CFG_PATH_MAX];
    char path[GW_CFG_PATH_MAX];
    size_t nerrors = ctx->nerrors;
    bool have_addr = false;

    (void)gw_cfg_fmt(l->name, sizeof(l->name), "listener%zu", i);
    l->upstream = 0; /* the first upstream */
    gw_cfg_defaults(l, gw_cfg_listener_keys,
                    GW_CFG_NKEYS(gw_cfg_listener_keys));
    if (el->kind != GW_CFG_MAP) {
        return; /* reported by gw_cfg_walk_list */
    }
    (void)gw_cfg_fmt(where, sizeof(where), "in listeners.%zu", i);
    for (m = el->child; m != NULL; m = m->next) {
        (void)gw_cfg_fmt(path, sizeof(path), "listeners.%zu.%s", i, m->key);
        k = gw_cfg_find_key(gw_cfg_listener_keys,
                            GW_CFG_NKEYS(gw_cfg_listener_keys), m->key);
        if (k != NULL) {
            gw_cfg_set_key(ctx, l, k, m, path);
        } else if (strcmp(m->key, "name") == 0) {
            gw_cfg_get_name(ctx, m, path, l->name);
        } else if (strcmp(m->key, "address") == 0) {
            gw_cfg_get_addr(ctx, m, path, &l->addr);
            have_addr = true;
        } else if (strcmp(m->key, "upstream") == 0) {
            gw_cfg_get_upstream(ctx, cfg, m, path, &l->upstream);
        } else if (strcmp(m->key, "auth") != 0 &&
                   strcmp(m->key, "proxy_trusted") != 0 &&
                   strcmp(m->key, "xclient_trusted") != 0 &&
                   !gw_cfg_tls_is_key(m->key, false)) {
            gw_cfg_unknown_key(ctx, m, where);
        }
    }
    if (!have_addr) {
        gw_cfg_error(ctx, &el->pos,
                     "listeners.%zu: missing required key "
                     "'address'",
                     i);
    }
    gw_cfg_walk_listener_proxy(ctx, l, i, el);
    gw_cfg_walk_listener_tls(ctx, l, i, el, nerrors);
    gw_cfg_walk_listener_auth(ctx, l, i, gw_cfg_find(el, "auth"), nerrors);
}

/* A listener's upstream: the name of an upstream block -> its index. */
static void
gw_cfg_get_upstream(struct gw_cfg_ctx *ctx, const struct gw_config *cfg,
                    const struct gw_cfg_node *n, const char *path,
                    size_t *index)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "an upstream name");
    char q[GW_CFG_QUOTE_MAX];
    size_t i;

    if (s == NULL || cfg->nupstreams == 0) {
        return; /* no upstreams: already reported */
    }
    for (i = 0; i < cfg->nupstreams; i++) {
        if (strcmp(cfg->upstreams[i].name, s) == 0) {
            *index = i;
            return;
        }
    }
    gw_cfg_quote(q, sizeof(q), s);
    gw_cfg_error(ctx, &n->pos, "%s: no upstream is named %s", path, q);
}

/* Reports each name equal to an earlier one, at the later element's name
 * (or at the element, when the clash is with a default name). */
static void
gw_cfg_check_unique(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *list,
                    const char *what, const char *names, size_t stride,
                    size_t count)
{
    const struct gw_cfg_node *el;
    const struct gw_cfg_node *m;
    size_t i;
    size_t j;

    for (j = 1; j < count; j++) {
        for (i = 0; i < j; i++) {
            if (strcmp(names + i * stride, names + j * stride) == 0) {
                break;
            }
        }
        if (i == j) {
            continue;
        }
        el = gw_cfg_nth(list, j);
        m = gw_cfg_find(el, "name");
        gw_cfg_error(ctx, m != NULL ? &m->pos : &el->pos,
                     "%ss.%zu: duplicate %s name '%s' (also used by %ss.%zu)",
                     what, j, what, names + j * stride, what, i);
    }
}

void
gw_cfg_unknown_key(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *m,
                   const char *where)
{
    char q[GW_CFG_QUOTE_MAX];

    gw_cfg_quote(q, sizeof(q), m->key);
    gw_cfg_error(ctx, &m->kpos, "unknown key %s %s", q, where);
}

/* A section: a map, or nothing at all ("smtp:" alone) for all defaults. */
bool
gw_cfg_check_map(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                 const char *path)
{
    if (n->kind == GW_CFG_MAP) {
        return true;
    }
    if (n->kind != GW_CFG_SCALAR || !n->is_null) {
        gw_cfg_error(ctx, &n->pos, "%s: expected a map of settings, got %s",
                     path, gw_cfg_kind_name(n));
    }
    return false;
}

/* ---- the source name, freeing ---------------------------------------- */

/* Keeps the end of an over-long path: that is the part that identifies it. */
static void
gw_cfg_set_source(struct gw_config *cfg, const char *source)
{
    size_t len = strlen(source);
    size_t cap = sizeof(cfg->source);

    if (len >= cap) {
        memcpy(cfg->source, "...", 3);
        source += len - (cap - 4);
        len = cap - 4;
        memcpy(cfg->source + 3, source, len + 1);
        return;
    }
    memcpy(cfg->source, source, len + 1);
}

static void
gw_cfg_free(struct gw_config *cfg)
{
    gw_cfg_free_tls(cfg);
    gw_cfg_free_auth(cfg);
    pol_ruleset_unref(cfg->policy);
    gw_free(cfg->policy_rule_slots);
    free(cfg->policy_text); /* open_memstream's */
    gw_free(cfg->listeners);
    gw_free(cfg->upstreams);
    gw_free(cfg);
}

void
gw_config_each_file(const struct gw_config *cfg,
                    void (*fn)(void *arg, const char *what, const char *path,
                               bool exec),
                    void *arg)
{
    size_t i;
    size_t k;

    /* (a path too long for source was shortened with "...": skipped) */
    if (strcmp(cfg->source, GW_CFG_CMDLINE) != 0 &&
        strncmp(cfg->source, "...", 3) != 0) {
        fn(arg, "the configuration", cfg->source, false);
    }
    for (i = 0; i < cfg->nlisteners; i++) {
        const struct gw_listener_cfg *l = &cfg->listeners[i];
        const struct gw_auth_cfg *a = &l->auth;

        for (k = 0; k < l->ncerts; k++) {
            fn(arg, "listeners[].certificates cert", l->cert_file[k], false);
            fn(arg, "listeners[].certificates key", l->key_file[k], false);
        }
        if (a->users_file[0] != '\0') {
            fn(arg, "listeners[].auth.users", a->users_file, false);
        }
        if (a->tokens_file[0] != '\0') {
            fn(arg, "listeners[].auth.tokens", a->tokens_file, false);
        }
        if (a->token_command[0] != '\0') {
            fn(arg, "listeners[].auth.token_command", a->token_command, true);
        }
    }
    for (i = 0; i < cfg->nupstreams; i++) {
        const struct gw_upstream_cfg *u = &cfg->upstreams[i];

        if (u->ca_file[0] != '\0') {
            fn(arg, "upstreams[].ca_file", u->ca_file, false);
        }
        if (u->auth.password_file[0] != '\0') {
            fn(arg, "upstreams[].auth.password_file", u->auth.password_file,
               false);
        }
    }
    for (i = 0; cfg->policy != NULL && i < pol_ruleset_ntables(cfg->policy);
         i++) {
        const char *path = pol_ruleset_table_source(cfg->policy, i);

        if (path != NULL) { /* NULL: an inline list, in the config */
            fn(arg, "a policy table", path, false);
        }
    }
}
