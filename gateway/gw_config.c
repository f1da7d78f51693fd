/*
 * Configuration: YAML text -> a small node tree that remembers where every
 * key and value came from -> the -o overrides applied to that tree -> one
 * schema walk into struct gw_config. Quick mode synthesizes the tree, so
 * files, overrides and quick mode share one validator. Every error is
 * collected as "FILE:LINE:COL: message"; nothing stops at the first one.
 */
#include "gateway/gw_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_log.h"
#include "gateway/gw_str.h"

/* Bounds on the document itself, checked before any schema work. */
#define GW_CFG_MAX_FILE (1024 * 1024)
#define GW_CFG_MAX_DEPTH 16
#define GW_CFG_MAX_NODES 10000

/* RFC 5321 4.5.3.1.7: a server must accept message content of 64K octets. */
#define GW_CFG_MIN_MESSAGE_SIZE (64ULL * 1024)

#define GW_CFG_CMDLINE "<command line>"
#define GW_CFG_PORT_SMTP 25
#define GW_CFG_PATH_MAX 160 /* a dotted key path quoted in a message */
#define GW_CFG_QUOTE_MAX 72 /* an escaped user value quoted in a message */

enum gw_cfg_kind {
    GW_CFG_SCALAR,
    GW_CFG_MAP,
    GW_CFG_SEQ,
};

/* Where a key or value came from: a file position (line > 0), an -o
 * override (override != NULL), or neither (quick-mode arguments). */
struct gw_cfg_pos {
    size_t line;
    size_t col;
    const char *override;
};

struct gw_cfg_node {
    enum gw_cfg_kind kind;
    bool is_null;              /* a plain "", "~" or "null" */
    char *text;                /* scalars: the value */
    char *key;                 /* members of a map: the key */
    struct gw_cfg_pos pos;     /* of the value */
    struct gw_cfg_pos kpos;    /* of the key */
    struct gw_cfg_node *child; /* map members or list elements, in order */
    struct gw_cfg_node *last;
    struct gw_cfg_node *next;
    size_t nchild;
};

struct gw_cfg_ctx {
    const char *source;
    struct gw_config_errors *errs; /* NULL: count only */
    size_t nerrors;                /* including those not stored */
    size_t nnodes;
    struct gw_cfg_pos epos[GW_CONFIG_MAX_ERRORS]; /* of each stored error */
};

struct gw_cfg_frame {
    struct gw_cfg_node *node;
    char *key; /* a map's key still waiting for its value */
    struct gw_cfg_pos kpos;
};

struct gw_cfg_parser {
    struct gw_cfg_frame stack[GW_CFG_MAX_DEPTH];
    size_t depth;
    size_t ndocs;
    struct gw_cfg_node *root;
};

/* How a value is written in YAML, and how it is stored in the struct. */
enum gw_cfg_vtype {
    GW_CFG_V_BOOL,
    GW_CFG_V_WORD,
    GW_CFG_V_INT,
    GW_CFG_V_SIZE,
    GW_CFG_V_DURATION,
};

enum gw_cfg_ctype {
    GW_CFG_C_BOOL,
    GW_CFG_C_SIZE,
    GW_CFG_C_U64,
    GW_CFG_C_BARE_NL,
    GW_CFG_C_LOG_LEVEL,
    GW_CFG_C_UP_CONNECT,
};

struct gw_cfg_key {
    const char *name;
    enum gw_cfg_vtype vtype;
    enum gw_cfg_ctype ctype;
    size_t off; /* from the base struct the table describes */
    uint64_t def;
    uint64_t min;
    uint64_t max;
    const char *const *words; /* GW_CFG_V_WORD: the value is the index */
};

struct gw_cfg_section {
    const char *name;
    const struct gw_cfg_key *keys;
    size_t nkeys;
};

/* Static prototypes, in the order of their definitions. */
static void gw_cfg_error(struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
                         const char *fmt, ...) GW_PRINTF(3, 4);
static void gw_cfg_errors_finish(struct gw_cfg_ctx *ctx);
static bool gw_cfg_pos_before(const struct gw_cfg_pos *a,
                              const struct gw_cfg_pos *b);
static bool gw_cfg_fmt(char *dst, size_t cap, const char *fmt, ...)
    GW_PRINTF(3, 4);
static void gw_cfg_quote(char *dst, size_t cap, const char *s);
static const char *gw_cfg_kind_name(const struct gw_cfg_node *n);

static struct gw_cfg_node *gw_cfg_node_new(struct gw_cfg_ctx *ctx,
                                           enum gw_cfg_kind kind,
                                           const struct gw_cfg_pos *pos);
static void gw_cfg_node_clear(struct gw_cfg_node *n);
static void gw_cfg_node_free(struct gw_cfg_node *n);
static void gw_cfg_node_append(struct gw_cfg_node *parent,
                               struct gw_cfg_node *n);
static struct gw_cfg_node *gw_cfg_find(const struct gw_cfg_node *map,
                                       const char *key);
static struct gw_cfg_node *gw_cfg_nth(const struct gw_cfg_node *seq, size_t i);
static struct gw_cfg_node *gw_cfg_add(struct gw_cfg_ctx *ctx,
                                      struct gw_cfg_node *parent,
                                      const char *key, enum gw_cfg_kind kind,
                                      const char *text,
                                      const struct gw_cfg_pos *pos);

static char *gw_cfg_read_file(struct gw_cfg_ctx *ctx, const char *path,
                              size_t *len);
static bool gw_cfg_parse(struct gw_cfg_ctx *ctx, const char *buf, size_t len,
                         struct gw_cfg_node **root);
static int gw_cfg_on_event(struct gw_cfg_ctx *ctx, struct gw_cfg_parser *p,
                           const yaml_event_t *ev);
static int gw_cfg_on_scalar(struct gw_cfg_ctx *ctx, struct gw_cfg_parser *p,
                            const yaml_event_t *ev);
static int gw_cfg_on_open(struct gw_cfg_ctx *ctx, struct gw_cfg_parser *p,
                          const yaml_event_t *ev, enum gw_cfg_kind kind);
static int gw_cfg_attach(struct gw_cfg_ctx *ctx, struct gw_cfg_parser *p,
                         struct gw_cfg_node *n);
static void gw_cfg_yaml_error(struct gw_cfg_ctx *ctx,
                              const yaml_parser_t *parser);

static void gw_cfg_override(struct gw_cfg_ctx *ctx, struct gw_cfg_node **root,
                            const char *ov);
static bool gw_cfg_override_path_ok(struct gw_cfg_ctx *ctx, const char *ov,
                                    const char *eq);
static struct gw_cfg_node *gw_cfg_override_step(struct gw_cfg_ctx *ctx,
                                                struct gw_cfg_node *n,
                                                const char *comp,
                                                const char *ov, size_t done,
                                                const char *next);
static bool gw_cfg_is_index(const char *s, size_t len, size_t *out);

static struct gw_config *gw_cfg_build(struct gw_cfg_ctx *ctx,
                                      struct gw_cfg_node *root,
                                      const char *const *overrides,
                                      size_t noverrides);
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
static void gw_cfg_unknown_key(struct gw_cfg_ctx *ctx,
                               const struct gw_cfg_node *m, const char *where);
static bool gw_cfg_check_map(struct gw_cfg_ctx *ctx,
                             const struct gw_cfg_node *n, const char *path);
static const char *gw_cfg_scalar(struct gw_cfg_ctx *ctx,
                                 const struct gw_cfg_node *n, const char *path,
                                 const char *expect);
static void gw_cfg_get_name(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                            const char *path, char *dst);
static void gw_cfg_get_helo(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                            const char *path, char *dst, size_t cap);
static void gw_cfg_get_addr(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                            const char *path, struct gw_sockaddr *addr);
static void gw_cfg_set_key(struct gw_cfg_ctx *ctx, void *base,
                           const struct gw_cfg_key *k,
                           const struct gw_cfg_node *n, const char *path);
static const struct gw_cfg_key *gw_cfg_find_key(const struct gw_cfg_key *keys,
                                                size_t nkeys, const char *name);
static void gw_cfg_expect(const struct gw_cfg_key *k, char *dst, size_t cap);
static bool gw_cfg_parse_value(const struct gw_cfg_key *k, const char *s,
                               uint64_t *v);
static void gw_cfg_format_value(const struct gw_cfg_key *k, uint64_t v,
                                char *dst, size_t cap);
static void gw_cfg_defaults(void *base, const struct gw_cfg_key *keys,
                            size_t nkeys);
static void gw_cfg_store(void *base, const struct gw_cfg_key *k, uint64_t v);
static uint64_t gw_cfg_fetch(const void *base, const struct gw_cfg_key *k);
static bool gw_cfg_is_domain(const char *s);
static bool gw_cfg_is_addr_literal(const char *s);
static void gw_cfg_default_hostname(char *dst, size_t cap);
static void gw_cfg_set_source(struct gw_config *cfg, const char *source);

static bool gw_cfg_split_addr(const char *text, char *host, size_t hcap,
                              unsigned *port, bool *numeric, char *why,
                              size_t why_cap);
static void gw_cfg_print_keys(FILE *fp, const char *indent, const void *base,
                              const struct gw_cfg_key *keys, size_t nkeys);
static void gw_cfg_free(struct gw_config *cfg);

/* The schema. Each table drives parsing, defaults and printing alike. */

#define GW_CFG_OFF(member) offsetof(struct gw_config, member)
#define GW_CFG_UP_OFF(member) offsetof(struct gw_upstream_cfg, member)

static const char *const gw_cfg_bare_nl_words[] = {"normalize", "reject", NULL};
static const char *const gw_cfg_log_words[] = {"error", "warn",  "info",
                                               "debug", "trace", NULL};
static const char *const gw_cfg_connect_words[] = {"on_mail", "on_connect",
                                                   NULL};

static const struct gw_cfg_key gw_cfg_smtp_keys[] = {
    {"disable_vrfy", GW_CFG_V_BOOL, GW_CFG_C_BOOL, GW_CFG_OFF(disable_vrfy), 0, 0, 1,
     NULL},
};

static const struct gw_cfg_key gw_cfg_body_keys[] = {
    {"bare_newlines", GW_CFG_V_WORD, GW_CFG_C_BARE_NL,
     GW_CFG_OFF(bare_newlines), GW_BARE_NL_NORMALIZE, GW_BARE_NL_NORMALIZE,
     GW_BARE_NL_REJECT, gw_cfg_bare_nl_words},
};

static const struct gw_cfg_key gw_cfg_log_keys[] = {
    {"level", GW_CFG_V_WORD, GW_CFG_C_LOG_LEVEL, GW_CFG_OFF(log_level),
     GW_LOG_INFO, GW_LOG_ERROR, GW_LOG_TRACE, gw_cfg_log_words},
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
static const struct gw_cfg_key gw_cfg_upstream_keys[] = {
    {"connect", GW_CFG_V_WORD, GW_CFG_C_UP_CONNECT, GW_CFG_UP_OFF(connect),
     GW_UP_CONNECT_ON_MAIL, GW_UP_CONNECT_ON_MAIL, GW_UP_CONNECT_ON_CONNECT,
     gw_cfg_connect_words},
    {"connect_timeout", GW_CFG_V_DURATION, GW_CFG_C_U64,
     GW_CFG_UP_OFF(connect_timeout_ms), GW_DEF_TIMEOUT_UP_CONNECT, 1,
     GW_MAX_TIMEOUT, NULL},
    {"probe_interval", GW_CFG_V_DURATION, GW_CFG_C_U64,
     GW_CFG_UP_OFF(probe_interval_ms), GW_DEF_PROBE_INTERVAL, 0, GW_MAX_TIMEOUT,
     NULL},
};

#define GW_CFG_NKEYS(t) (sizeof(t) / sizeof((t)[0]))

static const struct gw_cfg_section gw_cfg_sections[] = {
    {"smtp", gw_cfg_smtp_keys, GW_CFG_NKEYS(gw_cfg_smtp_keys)},
    {"body", gw_cfg_body_keys, GW_CFG_NKEYS(gw_cfg_body_keys)},
    {"log", gw_cfg_log_keys, GW_CFG_NKEYS(gw_cfg_log_keys)},
    {"limits", gw_cfg_limits_keys, GW_CFG_NKEYS(gw_cfg_limits_keys)},
    {"timeouts", gw_cfg_timeouts_keys, GW_CFG_NKEYS(gw_cfg_timeouts_keys)},
};

#define GW_CFG_NSECTIONS GW_CFG_NKEYS(gw_cfg_sections)

/* ---- public API ------------------------------------------------------ */

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
    struct gw_cfg_ctx ctx = {GW_CFG_CMDLINE, errs, 0, 0, {{0, 0, NULL}}};
    struct gw_cfg_pos nopos = {0, 0, NULL};
    struct gw_cfg_node *root;
    struct gw_cfg_node *n;
    struct gw_config *cfg;

    if (errs != NULL) {
        errs->count = 0;
    }
    if (listen == NULL || upstream == NULL) {
        gw_cfg_error(&ctx, &nopos,
                     "quick mode needs a listen address and "
                     "an upstream address");
        return NULL;
    }
    /* listeners: [{address: LISTEN}], upstreams: [{addresses: [UP]}] */
    root = gw_cfg_node_new(&ctx, GW_CFG_MAP, &nopos);
    n = gw_cfg_add(&ctx, root, "listeners", GW_CFG_SEQ, NULL, &nopos);
    n = gw_cfg_add(&ctx, n, NULL, GW_CFG_MAP, NULL, &nopos);
    n = gw_cfg_add(&ctx, n, "address", GW_CFG_SCALAR, listen, &nopos);
    if (n != NULL) {
        n = gw_cfg_add(&ctx, root, "upstreams", GW_CFG_SEQ, NULL, &nopos);
        n = gw_cfg_add(&ctx, n, NULL, GW_CFG_MAP, NULL, &nopos);
        n = gw_cfg_add(&ctx, n, "addresses", GW_CFG_SEQ, NULL, &nopos);
        n = gw_cfg_add(&ctx, n, NULL, GW_CFG_SCALAR, upstream, &nopos);
    }
    if (n == NULL) {
        gw_cfg_node_free(root);
        gw_cfg_errors_finish(&ctx);
        return NULL;
    }
    cfg = gw_cfg_build(&ctx, root, overrides, noverrides);
    if (cfg != NULL) {
        gw_strlcpy(cfg->source, GW_CFG_CMDLINE, sizeof(cfg->source));
    }
    return cfg;
}

bool
gw_config_parse_addr(const char *text, struct gw_sockaddr *addr, char *why,
                     size_t why_cap)
{
    char host[GW_MAX_DOMAIN + 1];
    char port[8];
    char ip[INET6_ADDRSTRLEN + 32];
    char q[GW_CFG_QUOTE_MAX];
    char dummy[8];
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    unsigned portnum = 0;
    bool numeric = false;
    int family;
    int rc;

    if (why == NULL || why_cap == 0) {
        why = dummy;
        why_cap = sizeof(dummy);
    }
    why[0] = '\0';
    if (text == NULL || !gw_cfg_split_addr(text, host, sizeof(host), &portnum,
                                           &numeric, why, why_cap)) {
        if (text == NULL) {
            gw_cfg_fmt(why, why_cap, "no address");
        }
        return false;
    }
    (void)gw_cfg_fmt(port, sizeof(port), "%u", portnum);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        gw_cfg_quote(q, sizeof(q), host);
        gw_cfg_fmt(why, why_cap, "cannot resolve %s: %s", q,
                   rc != 0 ? gai_strerror(rc) : "no address");
        return false;
    }
    memset(addr, 0, sizeof(*addr));
    if (res->ai_addrlen > sizeof(addr->ss) ||
        getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), NULL, 0,
                    NI_NUMERICHOST) != 0) {
        freeaddrinfo(res);
        gw_cfg_quote(q, sizeof(q), host);
        gw_cfg_fmt(why, why_cap, "cannot use the address of %s", q);
        return false;
    }
    memcpy(&addr->ss, res->ai_addr, res->ai_addrlen);
    addr->len = (socklen_t)res->ai_addrlen;
    family = res->ai_family;
    freeaddrinfo(res);
    if (!gw_cfg_fmt(addr->text, sizeof(addr->text),
                    family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, portnum)) {
        gw_cfg_fmt(why, why_cap, "address '%s' is too long", ip);
        return false;
    }
    return true;
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

void
gw_config_print(const struct gw_config *cfg, FILE *fp)
{
    char src[sizeof(cfg->source) * 4];
    size_t i;
    size_t j;

    if (cfg == NULL || fp == NULL) {
        return;
    }
    gw_str_escape(src, sizeof(src), (const uint8_t *)cfg->source,
                  strlen(cfg->source));
    fprintf(fp, "# Effective configuration of %s (defaults filled in)\n", src);
    /* Names, domains and addresses hold no '"' or '\\' (validated), so a
     * double-quoted scalar needs no escaping and never reads as a bool. */
    fprintf(fp, "hostname: \"%s\"\n", cfg->hostname);
    fprintf(fp, "listeners:\n");
    for (i = 0; i < cfg->nlisteners; i++) {
        fprintf(fp, "  - name: \"%s\"\n", cfg->listeners[i].name);
        fprintf(fp, "    address: \"%s\"\n", cfg->listeners[i].addr.text);
        fprintf(fp, "    upstream: \"%s\"\n",
                cfg->upstreams[cfg->listeners[i].upstream].name);
    }
    fprintf(fp, "upstreams:\n");
    for (i = 0; i < cfg->nupstreams; i++) {
        fprintf(fp, "  - name: \"%s\"\n", cfg->upstreams[i].name);
        fprintf(fp, "    addresses:\n");
        for (j = 0; j < cfg->upstreams[i].naddrs; j++) {
            fprintf(fp, "      - \"%s\"\n", cfg->upstreams[i].addrs[j].text);
        }
        fprintf(fp, "    helo_name: \"%s\"\n", cfg->upstreams[i].helo_name);
        gw_cfg_print_keys(fp, "    ", &cfg->upstreams[i], gw_cfg_upstream_keys,
                          GW_CFG_NKEYS(gw_cfg_upstream_keys));
    }
    for (i = 0; i < GW_CFG_NSECTIONS; i++) {
        fprintf(fp, "%s:\n", gw_cfg_sections[i].name);
        gw_cfg_print_keys(fp, "  ", cfg, gw_cfg_sections[i].keys,
                          gw_cfg_sections[i].nkeys);
    }
}

/* ---- errors and small text helpers ----------------------------------- */

static void
gw_cfg_error(struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
             const char *fmt, ...)
{
    char msg[sizeof(ctx->errs->msg[0])];
    char *slot;
    size_t cap = sizeof(ctx->errs->msg[0]);
    va_list ap;
    int n;

    ctx->nerrors++;
    if (ctx->errs == NULL || ctx->errs->count >= GW_CONFIG_MAX_ERRORS) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        msg[0] = '\0';
    }
    ctx->epos[ctx->errs->count] = *pos;
    slot = ctx->errs->msg[ctx->errs->count++];
    if (pos->override != NULL) {
        n = snprintf(slot, cap, "-o %s: %s", pos->override, msg);
    } else if (pos->line > 0) {
        n = snprintf(slot, cap, "%s:%zu:%zu: %s", ctx->source, pos->line,
                     pos->col, msg);
    } else {
        n = snprintf(slot, cap, "%s: %s", ctx->source, msg);
    }
    if (n < 0 || (size_t)n >= cap) {
        memcpy(slot + cap - 4, "...", 4);
    }
}

/* Puts the errors in file order, like a compiler's (stable: errors without
 * a file position keep their order, after the others), and makes the last
 * slot say how many errors did not fit. */
static void
gw_cfg_errors_finish(struct gw_cfg_ctx *ctx)
{
    char tmp[sizeof(ctx->errs->msg[0])];
    struct gw_cfg_pos tpos;
    size_t i;
    size_t j;

    if (ctx->errs == NULL) {
        return;
    }
    for (i = 1; i < ctx->errs->count; i++) {
        for (j = i;
             j > 0 && gw_cfg_pos_before(&ctx->epos[j], &ctx->epos[j - 1]);
             j--) {
            memcpy(tmp, ctx->errs->msg[j], sizeof(tmp));
            memcpy(ctx->errs->msg[j], ctx->errs->msg[j - 1], sizeof(tmp));
            memcpy(ctx->errs->msg[j - 1], tmp, sizeof(tmp));
            tpos = ctx->epos[j];
            ctx->epos[j] = ctx->epos[j - 1];
            ctx->epos[j - 1] = tpos;
        }
    }
    if (ctx->nerrors <= GW_CONFIG_MAX_ERRORS) {
        return;
    }
    (void)gw_cfg_fmt(ctx->errs->msg[GW_CONFIG_MAX_ERRORS - 1],
                     sizeof(ctx->errs->msg[0]),
                     "%s: too many errors; %zu more not shown", ctx->source,
                     ctx->nerrors - (GW_CONFIG_MAX_ERRORS - 1));
}

static bool
gw_cfg_pos_before(const struct gw_cfg_pos *a, const struct gw_cfg_pos *b)
{
    bool a_in_file = a->override == NULL && a->line > 0;
    bool b_in_file = b->override == NULL && b->line > 0;

    if (a_in_file != b_in_file) {
        return a_in_file;
    }
    if (!a_in_file) {
        return false;
    }
    return a->line < b->line || (a->line == b->line && a->col < b->col);
}

/* snprintf that marks truncation with "..." and says whether it fit. */
static bool
gw_cfg_fmt(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (cap == 0) {
        return false;
    }
    va_start(ap, fmt);
    n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    if (n < 0) {
        dst[0] = '\0';
        return false;
    }
    if ((size_t)n >= cap) {
        if (cap >= 4) {
            memcpy(dst + cap - 4, "...", 4);
        }
        return false;
    }
    return true;
}

/* A user's value as 'text', escaped and bounded, for a message. */
static void
gw_cfg_quote(char *dst, size_t cap, const char *s)
{
    char esc[GW_CFG_QUOTE_MAX];

    gw_str_escape(esc, sizeof(esc), (const uint8_t *)s, strlen(s));
    (void)gw_cfg_fmt(dst, cap, "'%s'", esc);
}

static const char *
gw_cfg_kind_name(const struct gw_cfg_node *n)
{
    if (n->kind == GW_CFG_MAP) {
        return "a map";
    }
    if (n->kind == GW_CFG_SEQ) {
        return "a list";
    }
    return n->is_null ? "no value" : "a single value";
}

/* ---- the node tree --------------------------------------------------- */

static struct gw_cfg_node *
gw_cfg_node_new(struct gw_cfg_ctx *ctx, enum gw_cfg_kind kind,
                const struct gw_cfg_pos *pos)
{
    struct gw_cfg_node *n;

    if (ctx->nnodes >= GW_CFG_MAX_NODES) {
        gw_cfg_error(ctx, pos,
                     "more than %d YAML nodes: too large for a configuration",
                     GW_CFG_MAX_NODES);
        return NULL;
    }
    n = gw_calloc(1, sizeof(*n));
    if (n == NULL) {
        gw_cfg_error(ctx, pos, "out of memory");
        return NULL;
    }
    ctx->nnodes++;
    n->kind = kind;
    n->pos = *pos;
    n->kpos = *pos;
    return n;
}

/* Drops a node's value and children, keeping its key and place. */
static void
gw_cfg_node_clear(struct gw_cfg_node *n)
{
    struct gw_cfg_node *c;
    struct gw_cfg_node *next;

    for (c = n->child; c != NULL; c = next) {
        next = c->next;
        gw_cfg_node_free(c);
    }
    n->child = NULL;
    n->last = NULL;
    n->nchild = 0;
    gw_free(n->text);
    n->text = NULL;
    n->is_null = false;
}

/* Recursion is bounded: the parser and the overrides cap the depth. */
static void
gw_cfg_node_free(struct gw_cfg_node *n)
{
    if (n == NULL) {
        return;
    }
    gw_cfg_node_clear(n);
    gw_free(n->key);
    gw_free(n);
}

static void
gw_cfg_node_append(struct gw_cfg_node *parent, struct gw_cfg_node *n)
{
    if (parent->last == NULL) {
        parent->child = n;
    } else {
        parent->last->next = n;
    }
    parent->last = n;
    parent->nchild++;
}

static struct gw_cfg_node *
gw_cfg_find(const struct gw_cfg_node *map, const char *key)
{
    struct gw_cfg_node *c;

    for (c = map->child; c != NULL; c = c->next) {
        if (c->key != NULL && strcmp(c->key, key) == 0) {
            return c;
        }
    }
    return NULL;
}

static struct gw_cfg_node *
gw_cfg_nth(const struct gw_cfg_node *seq, size_t i)
{
    struct gw_cfg_node *c = seq->child;

    while (c != NULL && i > 0) {
        c = c->next;
        i--;
    }
    return c;
}

/* Adds a new child (a member when key != NULL) to parent; NULL parent
 * passes a previous failure through, so calls can be chained. */
static struct gw_cfg_node *
gw_cfg_add(struct gw_cfg_ctx *ctx, struct gw_cfg_node *parent, const char *key,
           enum gw_cfg_kind kind, const char *text,
           const struct gw_cfg_pos *pos)
{
    struct gw_cfg_node *n;

    if (parent == NULL) {
        return NULL;
    }
    n = gw_cfg_node_new(ctx, kind, pos);
    if (n == NULL) {
        return NULL;
    }
    if (key != NULL) {
        n->key = gw_strndup(key, strlen(key));
    }
    if (text != NULL) {
        n->text = gw_strndup(text, strlen(text));
    }
    if ((key != NULL && n->key == NULL) || (text != NULL && n->text == NULL)) {
        gw_cfg_node_free(n);
        gw_cfg_error(ctx, pos, "out of memory");
        return NULL;
    }
    gw_cfg_node_append(parent, n);
    return n;
}

/* ---- reading and parsing the file ------------------------------------ */

static char *
gw_cfg_read_file(struct gw_cfg_ctx *ctx, const char *path, size_t *len)
{
    struct gw_cfg_pos nopos = {0, 0, NULL};
    FILE *fp;
    char *buf;
    size_t n;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        gw_cfg_error(ctx, &nopos, "cannot open: %s", strerror(errno));
        return NULL;
    }
    buf = gw_alloc(GW_CFG_MAX_FILE + 1);
    if (buf == NULL) {
        fclose(fp);
        gw_cfg_error(ctx, &nopos, "out of memory");
        return NULL;
    }
    n = fread(buf, 1, GW_CFG_MAX_FILE + 1, fp);
    if (ferror(fp) != 0) {
        gw_cfg_error(ctx, &nopos, "cannot read: %s", strerror(errno));
    } else if (n > GW_CFG_MAX_FILE) {
        gw_cfg_error(ctx, &nopos,
                     "file is larger than 1 MiB (%d bytes), the limit for "
                     "a configuration",
                     GW_CFG_MAX_FILE);
    }
    fclose(fp);
    if (ctx->nerrors > 0) {
        gw_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Builds the tree from libyaml's events. False on a fatal error (syntax,
 * bounds, memory): the tree is then freed and *root stays NULL. Errors that
 * do not break the structure (duplicate keys) are reported and parsing goes
 * on, so the schema walk can report more. */
static bool
gw_cfg_parse(struct gw_cfg_ctx *ctx, const char *buf, size_t len,
             struct gw_cfg_node **root)
{
    struct gw_cfg_pos nopos = {0, 0, NULL};
    struct gw_cfg_parser p;
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0;
    size_t i;

    memset(&p, 0, sizeof(p));
    if (yaml_parser_initialize(&parser) == 0) {
        gw_cfg_error(ctx, &nopos, "out of memory");
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    while (rc == 0) {
        if (yaml_parser_parse(&parser, &ev) == 0) {
            gw_cfg_yaml_error(ctx, &parser);
            rc = -1;
            break;
        }
        rc = gw_cfg_on_event(ctx, &p, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    for (i = 0; i < p.depth; i++) {
        gw_free(p.stack[i].key);
    }
    if (rc < 0) {
        gw_cfg_node_free(p.root);
        return false;
    }
    *root = p.root;
    return true;
}

/* Returns 0 to go on, 1 at the end of the stream, -1 on a fatal error. */
static int
gw_cfg_on_event(struct gw_cfg_ctx *ctx, struct gw_cfg_parser *p,
                const yaml_event_t *ev)
{
    struct gw_cfg_pos pos = {ev->start_mark.line + 1, ev->start_mark.column + 1,
                             NULL};

    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (p->ndocs > 0) {
            gw_cfg_error(ctx, &pos, "only one YAML document is allowed");
            return -1;
        }
        p->ndocs++;
        return 0;
    case YAML_ALIAS_EVENT:
        gw_cfg_error(ctx, &pos, "YAML aliases (*name) are not supported");
        return -1;
    case YAML_SCALAR_EVENT:
        return gw_cfg_on_scalar(ctx, p, ev);
    case YAML_SEQUENCE_START_EVENT:
        return gw_cfg_on_open(ctx, p, ev, GW_CFG_SEQ);
    case YAML_MAPPING_START_EVENT:
        return gw_cfg_on_open(ctx, p, ev, GW_CFG_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (p->depth > 0) {
            p->depth--;
            gw_free(p->stack[p->depth].key);
            p->stack[p->depth].key = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

static int
gw_cfg_on_scalar(struct gw_cfg_ctx *ctx, struct gw_cfg_parser *p,
                 const yaml_event_t *ev)
{
    struct gw_cfg_pos pos = {ev->start_mark.line + 1, ev->start_mark.column + 1,
                             NULL};
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    struct gw_cfg_node *n;

    if (len > 0 && memchr(v, '\0', len) != NULL) {
        gw_cfg_error(ctx, &pos, "a value contains a NUL byte");
        return -1;
    }
    n = gw_cfg_node_new(ctx, GW_CFG_SCALAR, &pos);
    if (n == NULL) {
        return -1;
    }
    n->text = gw_strndup(v, len);
    if (n->text == NULL) {
        gw_cfg_node_free(n);
        gw_cfg_error(ctx, &pos, "out of memory");
        return -1;
    }
    n->is_null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                 (len == 0 || strcmp(n->text, "~") == 0 ||
                  strcmp(n->text, "null") == 0 ||
                  strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
    return gw_cfg_attach(ctx, p, n);
}

static int
gw_cfg_on_open(struct gw_cfg_ctx *ctx, struct gw_cfg_parser *p,
               const yaml_event_t *ev, enum gw_cfg_kind kind)
{
    struct gw_cfg_pos pos = {ev->start_mark.line + 1, ev->start_mark.column + 1,
                             NULL};
    struct gw_cfg_node *n;

    if (p->depth >= GW_CFG_MAX_DEPTH) {
        gw_cfg_error(ctx, &pos, "nesting deeper than %d levels",
                     GW_CFG_MAX_DEPTH);
        return -1;
    }
    n = gw_cfg_node_new(ctx, kind, &pos);
    if (n == NULL || gw_cfg_attach(ctx, p, n) != 0) {
        return -1;
    }
    p->stack[p->depth].node = n;
    p->stack[p->depth].key = NULL;
    p->depth++;
    return 0;
}

/* Hangs n under the open container (or makes it the root). Inside a map a
 * scalar alternates between key and value. Frees n on failure. */
static int
gw_cfg_attach(struct gw_cfg_ctx *ctx, struct gw_cfg_parser *p,
              struct gw_cfg_node *n)
{
    struct gw_cfg_frame *top;
    struct gw_cfg_node *first;

    if (p->depth == 0) {
        p->root = n;
        return 0;
    }
    top = &p->stack[p->depth - 1];
    if (top->node->kind == GW_CFG_SEQ) {
        gw_cfg_node_append(top->node, n);
        return 0;
    }
    if (top->key == NULL) {
        if (n->kind != GW_CFG_SCALAR) {
            gw_cfg_error(ctx, &n->pos, "a map key must be a plain name");
            gw_cfg_node_free(n);
            return -1;
        }
        top->key = n->text;
        top->kpos = n->pos;
        n->text = NULL;
        gw_cfg_node_free(n);
        return 0;
    }
    n->key = top->key;
    n->kpos = top->kpos;
    top->key = NULL;
    first = gw_cfg_find(top->node, n->key);
    if (first != NULL) {
        char q[GW_CFG_QUOTE_MAX];

        gw_cfg_quote(q, sizeof(q), n->key);
        gw_cfg_error(ctx, &n->kpos, "duplicate key %s (first at %zu:%zu)", q,
                     first->kpos.line, first->kpos.col);
    }
    gw_cfg_node_append(top->node, n);
    return 0;
}

static void
gw_cfg_yaml_error(struct gw_cfg_ctx *ctx, const yaml_parser_t *parser)
{
    struct gw_cfg_pos pos = {parser->problem_mark.line + 1,
                             parser->problem_mark.column + 1, NULL};
    const char *problem =
        parser->problem != NULL ? parser->problem : "unknown problem";

    if (parser->error == YAML_MEMORY_ERROR) {
        pos.line = 0;
        gw_cfg_error(ctx, &pos, "out of memory while parsing YAML");
    } else if (parser->error == YAML_READER_ERROR) {
        pos.line = 0;
        gw_cfg_error(ctx, &pos, "invalid input at byte %zu: %s",
                     parser->problem_offset, problem);
    } else if (parser->context != NULL) {
        gw_cfg_error(ctx, &pos, "YAML syntax error: %s (%s at %zu:%zu)",
                     problem, parser->context, parser->context_mark.line + 1,
                     parser->context_mark.column + 1);
    } else {
        gw_cfg_error(ctx, &pos, "YAML syntax error: %s", problem);
    }
}

/* ---- -o overrides ---------------------------------------------------- */

/* "a.b.0.c=value": walks the tree along the path, creating missing maps,
 * list elements (index == length appends) and the final scalar, which
 * replaces whatever was there. Unknown keys are left for the schema walk,
 * which reports them in the override's name. */
static void
gw_cfg_override(struct gw_cfg_ctx *ctx, struct gw_cfg_node **root,
                const char *ov)
{
    struct gw_cfg_pos pos = {0, 0, ov};
    const char *eq = strchr(ov, '=');
    const char *p;
    const char *dot;
    char comp[GW_NAME_MAX];
    struct gw_cfg_node *n;

    if (eq == NULL || eq == ov) {
        gw_cfg_error(ctx, &pos, "expected key.path=value");
        return;
    }
    if (!gw_cfg_override_path_ok(ctx, ov, eq)) {
        return;
    }
    if (*root == NULL) {
        *root = gw_cfg_node_new(ctx, GW_CFG_MAP, &pos);
    }
    n = *root;
    for (p = ov; n != NULL; p = dot + 1) {
        dot = memchr(p, '.', (size_t)(eq - p));
        if (dot == NULL) {
            dot = eq;
        }
        memcpy(comp, p, (size_t)(dot - p));
        comp[dot - p] = '\0';
        n = gw_cfg_override_step(ctx, n, comp, ov, (size_t)(p - ov),
                                 dot == eq ? NULL : dot + 1);
        if (dot == eq) {
            break;
        }
    }
}

/* Checked before the tree changes, so a bad path changes nothing. */
static bool
gw_cfg_override_path_ok(struct gw_cfg_ctx *ctx, const char *ov, const char *eq)
{
    struct gw_cfg_pos pos = {0, 0, ov};
    const char *p = ov;
    const char *dot;
    size_t depth = 0;

    for (;;) {
        dot = memchr(p, '.', (size_t)(eq - p));
        if (dot == NULL) {
            dot = eq;
        }
        if (dot == p || (size_t)(dot - p) >= GW_NAME_MAX) {
            gw_cfg_error(ctx, &pos, "empty or over-long key in the path");
            return false;
        }
        if (++depth > GW_CFG_MAX_DEPTH) {
            gw_cfg_error(ctx, &pos, "the key path is deeper than %d levels",
                         GW_CFG_MAX_DEPTH);
            return false;
        }
        if (dot == eq) {
            return true;
        }
        p = dot + 1;
    }
}

/* One path component under n. done: length of the path before comp;
 * next: the rest of the path, NULL when comp is the last component. */
static struct gw_cfg_node *
gw_cfg_override_step(struct gw_cfg_ctx *ctx, struct gw_cfg_node *n,
                     const char *comp, const char *ov, size_t done,
                     const char *next)
{
    struct gw_cfg_pos pos = {0, 0, ov};
    const char *eq = strchr(ov, '=');
    char where[GW_CFG_PATH_MAX];
    struct gw_cfg_node *c = NULL;
    enum gw_cfg_kind kind = GW_CFG_MAP;
    size_t idx = 0;

    if (done == 0) {
        gw_strlcpy(where, "the top level", sizeof(where));
    } else {
        (void)gw_cfg_fmt(where, sizeof(where), "'%.*s'", (int)(done - 1), ov);
    }

    if (n->kind == GW_CFG_SCALAR && n->is_null) {
        gw_cfg_node_clear(n); /* "limits:" with no value: an empty map */
        n->kind = GW_CFG_MAP;
    } else if (n->kind == GW_CFG_SCALAR &&
               gw_cfg_is_index(comp, strlen(comp), &idx)) {
        /* "addresses: host" is short for "addresses: [host]" */
        c = gw_cfg_add(ctx, n, NULL, GW_CFG_SCALAR, n->text, &n->pos);
        if (c == NULL) {
            return NULL;
        }
        gw_free(n->text);
        n->text = NULL;
        n->kind = GW_CFG_SEQ;
        c = NULL;
    }
    if (n->kind == GW_CFG_SCALAR) {
        gw_cfg_error(ctx, &pos, "%s is a single value, not a map or list",
                     where);
        return NULL;
    }
    if (n->kind == GW_CFG_SEQ) {
        if (!gw_cfg_is_index(comp, strlen(comp), &idx) || idx > n->nchild) {
            gw_cfg_error(ctx, &pos,
                         "%s is a list of %zu: use an index from 0 to %zu "
                         "(%zu appends)",
                         where, n->nchild, n->nchild, n->nchild);
            return NULL;
        }
        c = gw_cfg_nth(n, idx);
    } else {
        c = gw_cfg_find(n, comp);
    }
    if (next == NULL) {
        kind = GW_CFG_SCALAR;
    } else if (gw_cfg_is_index(next, strcspn(next, ".="), &idx)) {
        kind = GW_CFG_SEQ;
    }
    if (c == NULL) {
        c = gw_cfg_add(ctx, n, n->kind == GW_CFG_MAP ? comp : NULL, kind, NULL,
                       &pos);
    }
    if (c != NULL && next == NULL) {
        gw_cfg_node_clear(c);
        c->kind = GW_CFG_SCALAR;
        c->pos = pos;
        c->text = gw_strndup(eq + 1, strlen(eq + 1));
        if (c->text == NULL) {
            gw_cfg_error(ctx, &pos, "out of memory");
            return NULL;
        }
    }
    return c;
}

static bool
gw_cfg_is_index(const char *s, size_t len, size_t *out)
{
    uint64_t v;

    if (len == 0 || len > 6 || !gw_str_to_u64((const uint8_t *)s, len, &v)) {
        return false;
    }
    *out = (size_t)v;
    return true;
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
        for (i = 0; i < GW_CFG_NSECTIONS; i++) {
            gw_cfg_defaults(cfg, gw_cfg_sections[i].keys,
                            gw_cfg_sections[i].nkeys);
        }
        gw_cfg_walk_root(ctx, cfg, root);
    }
    gw_cfg_node_free(root);
    if (ctx->nerrors > 0 && cfg != NULL) {
        gw_cfg_free(cfg);
        cfg = NULL;
    }
    gw_cfg_errors_finish(ctx);
    return cfg;
}

static void
gw_cfg_walk_root(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                 const struct gw_cfg_node *root)
{
    const struct gw_cfg_node *host = NULL;
    const struct gw_cfg_node *lst = NULL;
    const struct gw_cfg_node *ups = NULL;
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
            } else if (strcmp(m->key, "hostname") == 0) {
                host = m;
            } else if (strcmp(m->key, "listeners") == 0) {
                lst = m;
            } else if (strcmp(m->key, "upstreams") == 0) {
                ups = m;
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
}

static const struct gw_cfg_section *
gw_cfg_find_section(const char *name)
{
    size_t i;

    for (i = 0; i < GW_CFG_NSECTIONS; i++) {
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
        } else {
            gw_cfg_unknown_key(ctx, m, where);
        }
    }
    if (addrs == NULL) {
        gw_cfg_error(ctx, &el->pos,
                     "upstreams.%zu: missing required key "
                     "'addresses'",
                     i);
        return;
    }
    (void)gw_cfg_fmt(path, sizeof(path), "upstreams.%zu.addresses", i);
    gw_cfg_walk_addrs(ctx, u, addrs, path);
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
    char where[GW_CFG_PATH_MAX];
    char path[GW_CFG_PATH_MAX];
    bool have_addr = false;

    (void)gw_cfg_fmt(l->name, sizeof(l->name), "listener%zu", i);
    l->upstream = 0; /* the first upstream */
    if (el->kind != GW_CFG_MAP) {
        return; /* reported by gw_cfg_walk_list */
    }
    (void)gw_cfg_fmt(where, sizeof(where), "in listeners.%zu", i);
    for (m = el->child; m != NULL; m = m->next) {
        (void)gw_cfg_fmt(path, sizeof(path), "listeners.%zu.%s", i, m->key);
        if (strcmp(m->key, "name") == 0) {
            gw_cfg_get_name(ctx, m, path, l->name);
        } else if (strcmp(m->key, "address") == 0) {
            gw_cfg_get_addr(ctx, m, path, &l->addr);
            have_addr = true;
        } else if (strcmp(m->key, "upstream") == 0) {
            gw_cfg_get_upstream(ctx, cfg, m, path, &l->upstream);
        } else {
            gw_cfg_unknown_key(ctx, m, where);
        }
    }
    if (!have_addr) {
        gw_cfg_error(ctx, &el->pos,
                     "listeners.%zu: missing required key "
                     "'address'",
                     i);
    }
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

static void
gw_cfg_unknown_key(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *m,
                   const char *where)
{
    char q[GW_CFG_QUOTE_MAX];

    gw_cfg_quote(q, sizeof(q), m->key);
    gw_cfg_error(ctx, &m->kpos, "unknown key %s %s", q, where);
}

/* A section: a map, or nothing at all ("smtp:" alone) for all defaults. */
static bool
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

static const char *
gw_cfg_scalar(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
              const char *path, const char *expect)
{
    if (n->kind != GW_CFG_SCALAR || n->is_null) {
        gw_cfg_error(ctx, &n->pos, "%s: expected %s, got %s", path, expect,
                     gw_cfg_kind_name(n));
        return NULL;
    }
    return n->text;
}

/* Names appear in logs and in listeners' upstream keys: keep them short
 * and free of anything that needs quoting. */
static void
gw_cfg_get_name(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                const char *path, char *dst)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "a name");
    char q[GW_CFG_QUOTE_MAX];
    size_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; s[i] != '\0'; i++) {
        uint8_t c = (uint8_t)s[i];

        if (!gw_is_alpha(c) && !gw_is_digit(c) && c != '-' && c != '_' &&
            c != '.') {
            break;
        }
    }
    if (i == 0 || s[i] != '\0' || i >= GW_NAME_MAX) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos,
                     "%s: a name is 1 to %d characters of "
                     "A-Z a-z 0-9 . _ -, got %s",
                     path, GW_NAME_MAX - 1, q);
        return;
    }
    gw_strlcpy(dst, s, GW_NAME_MAX);
}

static void
gw_cfg_get_helo(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                const char *path, char *dst, size_t cap)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "a domain name");
    char q[GW_CFG_QUOTE_MAX];

    if (s == NULL) {
        return;
    }
    if (!gw_cfg_is_domain(s) && !gw_cfg_is_addr_literal(s)) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos,
                     "%s: expected a domain name or an "
                     "address literal such as [192.0.2.1] (RFC 5321 4.1.3), "
                     "got %s",
                     path, q);
        return;
    }
    gw_strlcpy(dst, s, cap);
}

static void
gw_cfg_get_addr(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                const char *path, struct gw_sockaddr *addr)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "an address (host:port)");
    char why[128];
    char q[GW_CFG_QUOTE_MAX];

    if (s == NULL) {
        return;
    }
    if (!gw_config_parse_addr(s, addr, why, sizeof(why))) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos, "%s: bad address %s: %s", path, q, why);
    }
}

static void
gw_cfg_set_key(struct gw_cfg_ctx *ctx, void *base, const struct gw_cfg_key *k,
               const struct gw_cfg_node *n, const char *path)
{
    char expect[96];
    char q[GW_CFG_QUOTE_MAX];
    char lo[32];
    char hi[32];
    const char *s;
    uint64_t v;

    gw_cfg_expect(k, expect, sizeof(expect));
    s = gw_cfg_scalar(ctx, n, path, expect);
    if (s == NULL) {
        return;
    }
    gw_cfg_quote(q, sizeof(q), s);
    if (!gw_cfg_parse_value(k, s, &v)) {
        gw_cfg_error(ctx, &n->pos, "%s: expected %s, got %s", path, expect, q);
        return;
    }
    if (v < k->min || v > k->max) {
        gw_cfg_format_value(k, k->min, lo, sizeof(lo));
        gw_cfg_format_value(k, k->max, hi, sizeof(hi));
        gw_cfg_error(ctx, &n->pos, "%s: %s is out of range (allowed %s to %s)",
                     path, q, lo, hi);
        return;
    }
    gw_cfg_store(base, k, v);
}

static const struct gw_cfg_key *
gw_cfg_find_key(const struct gw_cfg_key *keys, size_t nkeys, const char *name)
{
    size_t i;

    for (i = 0; i < nkeys; i++) {
        if (strcmp(keys[i].name, name) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

static void
gw_cfg_expect(const struct gw_cfg_key *k, char *dst, size_t cap)
{
    size_t i;
    size_t o;

    switch (k->vtype) {
    case GW_CFG_V_BOOL:
        gw_strlcpy(dst, "true or false (or yes/no, on/off)", cap);
        return;
    case GW_CFG_V_INT:
        gw_strlcpy(dst, "a plain decimal integer", cap);
        return;
    case GW_CFG_V_SIZE:
        gw_strlcpy(dst, "a size such as 65536, 64K or 50M", cap);
        return;
    case GW_CFG_V_DURATION:
        gw_strlcpy(dst, "a duration such as 500ms, 30s, 5m, 2h or 1d", cap);
        return;
    case GW_CFG_V_WORD:
        break;
    }
    o = gw_strlcpy(dst, "one of", cap);
    for (i = 0; k->words[i] != NULL && o < cap; i++) {
        o += gw_strlcpy(dst + o, i == 0 ? " " : ", ", cap - o);
        if (o < cap) {
            o += gw_strlcpy(dst + o, k->words[i], cap - o);
        }
    }
}

static bool
gw_cfg_parse_value(const struct gw_cfg_key *k, const char *s, uint64_t *v)
{
    static const char *const bools[] = {"false", "true", "no",
                                        "yes",   "off",  "on"};
    size_t len = strlen(s);
    size_t i;

    switch (k->vtype) {
    case GW_CFG_V_BOOL:
        for (i = 0; i < GW_CFG_NKEYS(bools); i++) {
            if (gw_str_ieq((const uint8_t *)s, len, bools[i])) {
                *v = i % 2;
                return true;
            }
        }
        return false;
    case GW_CFG_V_WORD:
        for (i = 0; k->words[i] != NULL; i++) {
            if (gw_str_ieq((const uint8_t *)s, len, k->words[i])) {
                *v = i;
                return true;
            }
        }
        return false;
    case GW_CFG_V_INT:
        return gw_str_to_u64((const uint8_t *)s, len, v);
    case GW_CFG_V_SIZE:
        return gw_parse_size(s, v);
    case GW_CFG_V_DURATION:
        return gw_parse_duration(s, v);
    }
    return false;
}

/* The shortest exact form: sizes in K/M/G/T, durations in d/h/m/s/ms. */
static void
gw_cfg_format_value(const struct gw_cfg_key *k, uint64_t v, char *dst,
                    size_t cap)
{
    static const char size_units[] = "TGMK";
    static const uint64_t ms_mult[] = {86400000, 3600000, 60000, 1000, 1};
    static const char *const ms_units[] = {"d", "h", "m", "s", "ms"};
    uint64_t mult;
    size_t i;

    switch (k->vtype) {
    case GW_CFG_V_BOOL:
        gw_strlcpy(dst, v != 0 ? "true" : "false", cap);
        return;
    case GW_CFG_V_WORD:
        gw_strlcpy(dst, k->words[v], cap);
        return;
    case GW_CFG_V_INT:
        break;
    case GW_CFG_V_SIZE:
        for (i = 0; i < 4 && v != 0; i++) {
            mult = 1ULL << (10 * (4 - i));
            if (v % mult == 0) {
                (void)gw_cfg_fmt(dst, cap, "%" PRIu64 "%c", v / mult,
                                 size_units[i]);
                return;
            }
        }
        break;
    case GW_CFG_V_DURATION:
        for (i = 0; i < GW_CFG_NKEYS(ms_mult) && v != 0; i++) {
            if (v % ms_mult[i] == 0) {
                (void)gw_cfg_fmt(dst, cap, "%" PRIu64 "%s", v / ms_mult[i],
                                 ms_units[i]);
                return;
            }
        }
        break;
    }
    (void)gw_cfg_fmt(dst, cap, "%" PRIu64, v);
}

static void
gw_cfg_defaults(void *base, const struct gw_cfg_key *keys, size_t nkeys)
{
    size_t i;

    for (i = 0; i < nkeys; i++) {
        gw_cfg_store(base, &keys[i], keys[i].def);
    }
}

static void
gw_cfg_store(void *base, const struct gw_cfg_key *k, uint64_t v)
{
    void *p = (char *)base + k->off;

    switch (k->ctype) {
    case GW_CFG_C_BOOL:
        *(bool *)p = v != 0;
        break;
    case GW_CFG_C_SIZE:
        *(size_t *)p = (size_t)v;
        break;
    case GW_CFG_C_U64:
        *(uint64_t *)p = v;
        break;
    case GW_CFG_C_BARE_NL:
        *(enum gw_bare_newlines *)p = (enum gw_bare_newlines)v;
        break;
    case GW_CFG_C_LOG_LEVEL:
        *(enum gw_log_level *)p = (enum gw_log_level)v;
        break;
    case GW_CFG_C_UP_CONNECT:
        *(enum gw_up_connect *)p = (enum gw_up_connect)v;
        break;
    }
}

static uint64_t
gw_cfg_fetch(const void *base, const struct gw_cfg_key *k)
{
    const void *p = (const char *)base + k->off;

    switch (k->ctype) {
    case GW_CFG_C_BOOL:
        return *(const bool *)p ? 1 : 0;
    case GW_CFG_C_SIZE:
        return *(const size_t *)p;
    case GW_CFG_C_U64:
        return *(const uint64_t *)p;
    case GW_CFG_C_BARE_NL:
        return (uint64_t) * (const enum gw_bare_newlines *)p;
    case GW_CFG_C_LOG_LEVEL:
        return (uint64_t) * (const enum gw_log_level *)p;
    case GW_CFG_C_UP_CONNECT:
        return (uint64_t) * (const enum gw_up_connect *)p;
    }
    return 0;
}

/* RFC 1035 preferred name syntax (letters, digits, hyphens; labels of 1..63
 * octets, no leading or trailing hyphen), at most 255 octets. */
static bool
gw_cfg_is_domain(const char *s)
{
    size_t label = 0;
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        uint8_t c = (uint8_t)s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') {
                return false;
            }
            label = 0;
        } else if (gw_is_alpha(c) || gw_is_digit(c) ||
                   (c == '-' && label > 0)) {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return i > 0 && i <= GW_MAX_DOMAIN && label > 0 && s[i - 1] != '-';
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3). */
static bool
gw_cfg_is_addr_literal(const char *s)
{
    char inner[INET6_ADDRSTRLEN + 8];
    unsigned char bin[sizeof(struct in6_addr)];
    size_t len = strlen(s);

    if (len < 3 || s[0] != '[' || s[len - 1] != ']' ||
        len - 2 >= sizeof(inner)) {
        return false;
    }
    memcpy(inner, s + 1, len - 2);
    inner[len - 2] = '\0';
    if (gw_str_iprefix((const uint8_t *)inner, len - 2, "IPv6:")) {
        return inet_pton(AF_INET6, inner + 5, bin) == 1;
    }
    return inet_pton(AF_INET, inner, bin) == 1;
}

static void
gw_cfg_default_hostname(char *dst, size_t cap)
{
    char buf[GW_MAX_DOMAIN + 2];

    if (gethostname(buf, sizeof(buf)) != 0) {
        buf[0] = '\0';
    }
    buf[sizeof(buf) - 1] = '\0';
    gw_strlcpy(dst, gw_cfg_is_domain(buf) ? buf : "localhost", cap);
}

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

/* ---- addresses ------------------------------------------------------- */

/* "host:port", "[v6]:port", "host" or "[v6]" (port 25). */
static bool
gw_cfg_split_addr(const char *text, char *host, size_t hcap, unsigned *port,
                  bool *numeric, char *why, size_t why_cap)
{
    const char *h = text;
    const char *end;
    const char *p = NULL;
    size_t hlen;
    uint64_t v = GW_CFG_PORT_SMTP;

    if (text[0] == '[') {
        h = text + 1;
        end = strchr(h, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            gw_cfg_fmt(why, why_cap, "expected [address] or [address]:port");
            return false;
        }
        p = end[1] == ':' ? end + 2 : NULL;
        *numeric = true;
    } else {
        end = strchr(text, ':');
        if (end != NULL && strchr(end + 1, ':') != NULL) {
            gw_cfg_fmt(why, why_cap,
                       "an IPv6 address needs brackets, as in [::1]:25");
            return false;
        }
        if (end == NULL) {
            end = text + strlen(text);
        } else {
            p = end + 1;
        }
    }
    hlen = (size_t)(end - h);
    if (hlen == 0 || hlen >= hcap) {
        gw_cfg_fmt(why, why_cap,
                   hlen == 0 ? "missing host" : "host name is too long");
        return false;
    }
    if (p != NULL && (!gw_str_to_u64((const uint8_t *)p, strlen(p), &v) ||
                      v == 0 || v > 65535)) {
        gw_cfg_fmt(why, why_cap, "the port must be a number from 1 to 65535");
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)v;
    return true;
}

/* ---- printing and freeing -------------------------------------------- */

static void
gw_cfg_print_keys(FILE *fp, const char *indent, const void *base,
                  const struct gw_cfg_key *keys, size_t nkeys)
{
    char val[32];
    size_t i;

    for (i = 0; i < nkeys; i++) {
        gw_cfg_format_value(&keys[i], gw_cfg_fetch(base, &keys[i]), val,
                            sizeof(val));
        fprintf(fp, "%s%s: %s\n", indent, keys[i].name, val);
    }
}

static void
gw_cfg_free(struct gw_config *cfg)
{
    gw_free(cfg->listeners);
    gw_free(cfg->upstreams);
    gw_free(cfg);
}
