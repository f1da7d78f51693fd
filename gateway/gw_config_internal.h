/*
 * Declarations shared by the files of the configuration module, and by
 * nothing else (the API is gw_config.h):
 *
 *   gw_config_yaml.c   errors with positions, the node tree, libyaml -> tree
 *                      with its bounds, -o overrides applied to the tree
 *   gw_config.c        the public API, the schema tables, the schema walk
 *                      (tree -> struct gw_config), reference counting
 *   gw_config_value.c  typed values: table-driven keys (bool, word, integer,
 *                      size, duration), names, domains, addresses
 *   gw_config_ehlo.c   the ehlo section: keyword lists, drop patterns
 *   gw_config_policy.c the policy section -> policy/'s rule specs
 *   gw_config_tls.c    the TLS keys of listeners and upstreams: files,
 *                      checks, pins, the contexts of certs/
 *   gw_config_auth.c   the auth block of a listener, its users file
 *   gw_config_proxy.c  a listener's PROXY protocol keys
 *   gw_config_print.c  the effective configuration as YAML
 */
#ifndef GW_CONFIG_INTERNAL_H
#define GW_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gateway/gw_config.h"
#include "gateway/gw_log.h"

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
#define GW_CFG_CWD_MAX 4096 /* the current directory, for relative paths */

#define GW_CFG_NKEYS(t) (sizeof(t) / sizeof((t)[0]))
#define GW_CFG_OFF(member) offsetof(struct gw_config, member)
#define GW_CFG_UP_OFF(member) offsetof(struct gw_upstream_cfg, member)
#define GW_CFG_L_OFF(member) offsetof(struct gw_listener_cfg, member)

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

/* One load or quick-mode call: where errors go, and the node budget. */
struct gw_cfg_ctx {
    const char *source;
    struct gw_config_errors *errs; /* NULL: count only */
    size_t nerrors;                /* including those not stored */
    size_t nnodes;
    struct gw_cfg_pos epos[GW_CONFIG_MAX_ERRORS]; /* of each stored error */
};

/* How a value is written in YAML, and how it is stored in the struct. */
enum gw_cfg_vtype {
    GW_CFG_V_BOOL,
    GW_CFG_V_WORD,
    GW_CFG_V_INT,
    GW_CFG_V_SIZE,
    GW_CFG_V_DURATION,
    GW_CFG_V_STRING, /* a path or a name: printable, no spaces */
};

enum gw_cfg_ctype {
    GW_CFG_C_BOOL,
    GW_CFG_C_SIZE,
    GW_CFG_C_U64,
    GW_CFG_C_BARE_NL,
    GW_CFG_C_LOG_LEVEL,
    GW_CFG_C_UP_CONNECT,
    GW_CFG_C_EIGHTBIT,
    GW_CFG_C_STRING,   /* char[max]; the default is words[0] */
    GW_CFG_C_LOG_FORMAT,
    GW_CFG_C_LOG_SINK,
    GW_CFG_C_TLS_MODE, /* enum gw_tls_mode */
    GW_CFG_C_UP_TLS,   /* enum gw_up_tls */
    GW_CFG_C_UP_PROXY, /* enum gw_up_proxy */
};

struct gw_cfg_key {
    const char *name;
    enum gw_cfg_vtype vtype;
    enum gw_cfg_ctype ctype;
    size_t off; /* from the base struct the table describes */
    uint64_t def;
    uint64_t min;
    uint64_t max;
    const char *const *words; /* GW_CFG_V_WORD: the value is the index;
                                 GW_CFG_V_STRING: {default} */
};

struct gw_cfg_section {
    const char *name;
    const struct gw_cfg_key *keys;
    size_t nkeys;
};

/* ---- gw_config.c: the schema ---------------------------------------- */

/* The sections made only of table keys (smtp, body, log, limits,
 * timeouts), in print order, and the table keys of an upstream block. */
extern const struct gw_cfg_section gw_cfg_sections[];
extern const size_t gw_cfg_nsections;
extern const struct gw_cfg_key gw_cfg_upstream_keys[];
extern const size_t gw_cfg_nupstream_keys;
/* The table keys of a listener block (tls, require_tls). */
extern const struct gw_cfg_key gw_cfg_listener_keys[];
extern const size_t gw_cfg_nlistener_keys;

/* Reports "unknown key 'K' <where>" at the key's position. */
void gw_cfg_unknown_key(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *m,
                        const char *where);
/* A section: true for a map; false (reported unless it is null, which
 * means "all defaults") for anything else. */
bool gw_cfg_check_map(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                      const char *path);

/* ---- gw_config_yaml.c: errors, text, the tree, parsing, overrides ---- */

/* Records one error at pos (see gw_config_errors). */
void gw_cfg_error(struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
                  const char *fmt, ...) GW_PRINTF(3, 4);
/* Records an error already formatted by someone else (policy's
 * "FILE:LINE:COL: message"); pos only orders it among the others. */
void gw_cfg_error_raw(struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
                      const char *text);
/* Records one warning at pos: "FILE:LINE:COL: warning: message". A
 * warning does not stop the configuration from loading. */
void gw_cfg_warn(struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
                 const char *fmt, ...) GW_PRINTF(3, 4);
/* Sorts the errors into file order and notes how many did not fit. */
void gw_cfg_errors_finish(struct gw_cfg_ctx *ctx);
/* snprintf that marks truncation with "..." and says whether it fit. */
bool gw_cfg_fmt(char *dst, size_t cap, const char *fmt, ...) GW_PRINTF(3, 4);
/* A user's value as 'text', escaped and bounded, for a message. */
void gw_cfg_quote(char *dst, size_t cap, const char *s);
/* The same for len bytes at p (a word inside a longer value). */
void gw_cfg_quote_mem(char *dst, size_t cap, const char *p, size_t len);
/* "a map", "a list", "a single value" or "no value", for a message. */
const char *gw_cfg_kind_name(const struct gw_cfg_node *n);

struct gw_cfg_node *gw_cfg_node_new(struct gw_cfg_ctx *ctx,
                                    enum gw_cfg_kind kind,
                                    const struct gw_cfg_pos *pos);
/* Frees n and everything under it, its key included. NULL is allowed. */
void gw_cfg_node_free(struct gw_cfg_node *n);
/* The member of map named key, or NULL. */
struct gw_cfg_node *gw_cfg_find(const struct gw_cfg_node *map, const char *key);
/* Element i of seq, or NULL. */
struct gw_cfg_node *gw_cfg_nth(const struct gw_cfg_node *seq, size_t i);
/* Adds a new child (a member when key != NULL) to parent; NULL parent
 * passes a previous failure through, so calls can be chained. */
struct gw_cfg_node *gw_cfg_add(struct gw_cfg_ctx *ctx,
                               struct gw_cfg_node *parent, const char *key,
                               enum gw_cfg_kind kind, const char *text,
                               const struct gw_cfg_pos *pos);

/* Reads the file whole (at most GW_CFG_MAX_FILE bytes); the caller frees
 * the buffer with gw_free. NULL after reporting the error. */
char *gw_cfg_read_file(struct gw_cfg_ctx *ctx, const char *path, size_t *len);
/* Builds the tree from YAML text; false (and no tree) on a fatal error. */
bool gw_cfg_parse(struct gw_cfg_ctx *ctx, const char *buf, size_t len,
                  struct gw_cfg_node **root);
/* Applies one "a.b.0.c=value" override to the tree (creating the root map
 * when *root is NULL). Errors are reported in the override's name. */
void gw_cfg_override(struct gw_cfg_ctx *ctx, struct gw_cfg_node **root,
                     const char *ov);

/* ---- gw_config_policy.c: the policy section -> policy/ ----------------- */

/* Builds the rule specs from the `policy` node, compiles them (reading
 * table files) into cfg->policy, and reports policy's errors. */
void gw_cfg_walk_policy(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                        const struct gw_cfg_node *n);

/* ---- gw_config_value.c: typed values -------------------------------- */

/* The text of a scalar, or NULL after reporting "PATH: expected EXPECT,
 * got ..." for a map, a list or no value. */
const char *gw_cfg_scalar(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                          const char *path, const char *expect);
/* A name: 1..GW_NAME_MAX-1 of A-Z a-z 0-9 . _ - into dst[GW_NAME_MAX]. */
void gw_cfg_get_name(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                     const char *path, char *dst);
/* A domain or an address literal (RFC 5321 4.1.3). */
void gw_cfg_get_helo(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                     const char *path, char *dst, size_t cap);
/* "host:port", resolved once. */
void gw_cfg_get_addr(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                     const char *path, struct gw_sockaddr *addr);
/* A file path: printable ASCII without '"' or '\\'. A relative path is
 * taken from the directory of the configuration file when it was written
 * in the file, from the current directory when it came from -o or quick
 * mode, and stored absolute in dst[cap], so that it means the same after
 * a chdir and in the output of postern -n. allow_empty: "" is a value
 * (stored as ""). False after reporting an error. */
bool gw_cfg_get_path(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                     const char *path, bool allow_empty, char *dst,
                     size_t cap);

/* Parses, range-checks and stores the value of one table key. */
void gw_cfg_set_key(struct gw_cfg_ctx *ctx, void *base,
                    const struct gw_cfg_key *k, const struct gw_cfg_node *n,
                    const char *path);
const struct gw_cfg_key *gw_cfg_find_key(const struct gw_cfg_key *keys,
                                         size_t nkeys, const char *name);
/* Stores every key's default. */
void gw_cfg_defaults(void *base, const struct gw_cfg_key *keys, size_t nkeys);
/* Writes each key as "INDENT name: value" lines, in table order. */
void gw_cfg_print_keys(FILE *fp, const char *indent, const void *base,
                       const struct gw_cfg_key *keys, size_t nkeys);

/* RFC 1035 preferred name syntax, at most GW_MAX_DOMAIN octets. */
bool gw_cfg_is_domain(const char *s);
/* gethostname() when it is a domain, else "localhost". */
void gw_cfg_default_hostname(char *dst, size_t cap);

/* ---- gw_config_tls.c: TLS keys of listeners and upstreams ------------ */

/* Is `key` one of the TLS keys the walk leaves to this file (listener:
 * certificates; upstream: ca_file, server_name, pin_sha256)? */
bool gw_cfg_tls_is_key(const char *key, bool upstream);
/* After the rest of listener i (el) is walked: the certificates, the
 * checks between tls, require_tls and certificates, tls_check_cert_key
 * on every pair (expired or not yet valid: a warning), and the server
 * context, built when the block had no error (nerrors_before: the count
 * when the block's walk began). */
void gw_cfg_walk_listener_tls(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                              size_t i, const struct gw_cfg_node *el,
                              size_t nerrors_before);
/* The same for upstream i: ca_file, server_name (default: the host name
 * of the first address), pin_sha256, and the client context. */
void gw_cfg_walk_upstream_tls(struct gw_cfg_ctx *ctx, struct gw_upstream_cfg *u,
                              size_t i, const struct gw_cfg_node *el,
                              size_t nerrors_before);
/* Writes the TLS keys that are not table keys (certificates; ca_file,
 * server_name, pin_sha256), when tls is not none, at block indentation. */
void gw_cfg_print_listener_tls(FILE *fp, const struct gw_listener_cfg *l);
void gw_cfg_print_upstream_tls(FILE *fp, const struct gw_upstream_cfg *u);
/* Drops the contexts' references (the config owns one of each). */
void gw_cfg_free_tls(struct gw_config *cfg);

/* ---- gw_config_auth.c: a listener's AUTH ----------------------------- */

/* Listener i's auth block (n, NULL when absent), after its tls keys are
 * known: the keys, the TLS rule, and the users file, loaded when the
 * block had no error. */
void gw_cfg_walk_listener_auth(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                               size_t i, const struct gw_cfg_node *n,
                               size_t nerrors_before);
/* Writes "auth:" at block indentation when the listener has one. */
void gw_cfg_print_listener_auth(FILE *fp, const struct gw_listener_cfg *l);
/* Frees the users tables and wipes the upstream passwords. */
void gw_cfg_free_auth(struct gw_config *cfg);
/* Upstream i's auth map (n): user, password_file (read here), mechanism,
 * allow_plaintext. */
void gw_cfg_walk_upstream_auth(struct gw_cfg_ctx *ctx,
                               struct gw_upstream_cfg *u, size_t i,
                               const struct gw_cfg_node *n);
/* After the upstream's tls is known: AUTH needs it unless allowed. */
void gw_cfg_check_upstream_auth(struct gw_cfg_ctx *ctx,
                                const struct gw_upstream_cfg *u, size_t i,
                                const struct gw_cfg_node *n);
/* Writes an upstream's "auth:" (never the password). */
void gw_cfg_print_upstream_auth(FILE *fp, const struct gw_upstream_cfg *u);

/* ---- gw_config_proxy.c: a listener's PROXY protocol ----------------- */

/* proxy_trusted of listener i (after the table key proxy_protocol), and
 * the rule that each needs the other. */
void gw_cfg_walk_listener_proxy(struct gw_cfg_ctx *ctx,
                                struct gw_listener_cfg *l, size_t i,
                                const struct gw_cfg_node *el);
/* Writes proxy_trusted when proxy_protocol is on. */
void gw_cfg_print_listener_proxy(FILE *fp, const struct gw_listener_cfg *l);

/* ---- gw_config_ehlo.c: the ehlo section ----------------------------- */

/* Stores the defaults of the ehlo section (used when it is absent). */
void gw_cfg_ehlo_defaults(struct gw_ehlo_cfg *e);
/* Walks the value of the top-level key "ehlo" into e. */
void gw_cfg_walk_ehlo(struct gw_cfg_ctx *ctx, struct gw_ehlo_cfg *e,
                      const struct gw_cfg_node *n);
/* Writes the "ehlo:" section, in a form gw_cfg_walk_ehlo reads back. */
void gw_cfg_ehlo_print(FILE *fp, const struct gw_ehlo_cfg *e);

#endif
