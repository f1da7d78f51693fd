/*
 * The configuration: a YAML file (or quick-mode arguments) turned into a
 * validated, immutable, reference-counted object. Sessions hold a reference
 * to the generation they started with, so a reload can never change the
 * rules under a live session. A config that fails validation is never
 * returned: the caller gets every error, each as "FILE:LINE:COL: message".
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "gateway/gw_limits.h"
#include "policy/pol_facts.h"

#define GW_NAME_MAX 64
#define GW_PATH_MAX 256

struct pol_ruleset;

struct gw_sockaddr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[80]; /* "127.0.0.1:25" or "[::1]:25", for logs */
};

enum gw_up_connect {
    GW_UP_CONNECT_ON_MAIL = 0, /* default: open the upstream at MAIL */
    GW_UP_CONNECT_ON_CONNECT,  /* open it before greeting the client */
};

enum gw_bare_newlines {
    GW_BARE_NL_NORMALIZE = 0, /* default: bare CR / bare LF become CRLF */
    GW_BARE_NL_REJECT,        /* 550 5.6.0 at end of data */
};

enum gw_log_format {
    GW_LOG_FORMAT_TEXT = 0, /* key=value */
    GW_LOG_FORMAT_JSON,     /* one JSON object per line */
};

enum gw_log_sink {
    GW_LOG_SINK_STDERR = 0, /* for journald or a terminal */
    GW_LOG_SINK_SYSLOG,
};

enum gw_log_level {
    GW_LOG_ERROR = 0,
    GW_LOG_WARN,
    GW_LOG_INFO,
    GW_LOG_DEBUG,
    GW_LOG_TRACE,
};

struct tls_ctx;

enum gw_tls_mode {
    GW_TLS_NONE = 0,   /* plaintext only */
    GW_TLS_STARTTLS,   /* STARTTLS offered (RFC 3207) */
    GW_TLS_IMPLICIT,   /* TLS from the first byte (RFC 8314, port 465) */
};

enum gw_up_tls {
    GW_UP_TLS_NONE = 0, /* never STARTTLS */
    GW_UP_TLS_MAY,      /* STARTTLS when offered, plaintext otherwise */
    GW_UP_TLS_ENCRYPT,  /* TLS required, certificate not checked */
    GW_UP_TLS_VERIFY,   /* TLS required, chain and name verified */
};

struct gw_users;
struct gw_tokens;

#define GW_MAX_PROXY_TRUSTED 16

/* A network: address and prefix length (policy's address form). */
struct gw_net {
    struct pol_addr addr;
    unsigned bits;
    char text[64];      /* as written, for -n */
};

/* A list of networks (proxy_trusted, xclient_trusted). */
struct gw_nets {
    struct gw_net net[GW_MAX_PROXY_TRUSTED];
    size_t n;
};

/* Is sa's address in one of the networks? */
bool gw_nets_contain(const struct gw_nets *nets, const struct sockaddr *sa);

/* A listener's AUTH (RFC 4954): key auth, a map; absent = no AUTH. */
struct gw_auth_cfg {
    bool enabled;                 /* the listener has an auth block */
    bool relay;                   /* auth.mode: relay: the exchange goes to
                                     the upstream (its users), step by
                                     step; local (default): users file */
    unsigned mechanisms;          /* auth.mechanisms: GW_SASL_MECH_BIT set */
    char users_file[GW_PATH_MAX]; /* auth.users: "user:crypt-hash" lines */
    bool required;                /* auth.required: MAIL needs AUTH first */
    bool allow_plaintext;         /* auth.allow_plaintext: offer it without
                                     TLS (passwords in the clear) */
    size_t max_failures;          /* auth.max_failures: per session */
    uint64_t failure_delay_ms;    /* auth.failure_delay: before a 535,
                                     doubled per recent failure of the
                                     client address */
    size_t block_after;           /* auth.block_after: failures of an
                                     address before AUTH is refused */
    uint64_t block_time_ms;       /* auth.block_time: how long */
    struct gw_users *users;       /* loaded from users_file */
    char tokens_file[GW_PATH_MAX];   /* auth.tokens: user:sha256 lines */
    char token_command[GW_PATH_MAX]; /* auth.token_command: a checker */
    uint64_t token_timeout_ms;       /* auth.token_timeout */
    struct gw_tokens *tokens;        /* for OAUTHBEARER and XOAUTH2 */
};

/* An upstream's AUTH (key auth): Postern logs in with fixed credentials. */
struct gw_up_auth_cfg {
    bool enabled;                    /* the block has an auth map */
    char user[256];                  /* auth.user */
    char password_file[GW_PATH_MAX]; /* auth.password_file: its first line */
    char password[256];              /* read from password_file at load */
    unsigned mechanism;              /* auth.mechanism: enum gw_sasl_mech
                                        (PLAIN or LOGIN) */
    bool allow_plaintext;            /* auth.allow_plaintext: without TLS */
};

enum gw_up_proxy {
    GW_UP_PROXY_NONE = 0, /* no PROXY header to the upstream */
    GW_UP_PROXY_V1,       /* the text form */
    GW_UP_PROXY_V2,       /* the binary form */
};

#define GW_MAX_CERTS 8
#define GW_MAX_PINS 4

struct gw_listener_cfg {
    char name[GW_NAME_MAX];        /* key name; default "listener<N>" */
    struct gw_sockaddr addr;       /* key address: "host:port" */
    size_t upstream;               /* key upstream: a name -> index */
    enum gw_tls_mode tls;          /* key tls: none|starttls|implicit */
    bool require_tls;              /* key require_tls: 530 until TLS */
    /* key certificates: list of {cert: PEM chain, key: PEM key}; the
     * first is the default, the others are chosen by SNI */
    char cert_file[GW_MAX_CERTS][GW_PATH_MAX];
    char key_file[GW_MAX_CERTS][GW_PATH_MAX];
    size_t ncerts;
    struct tls_ctx *tls_ctx;       /* built at load when tls != none */
    struct gw_auth_cfg auth;       /* key auth */
    bool proxy_protocol;           /* key proxy_protocol: a PROXY v1/v2
                                      header comes first (HAProxy) */
    /* key proxy_trusted: the networks it may come from (required with
     * proxy_protocol); others are closed without a greeting */
    struct gw_nets proxy_trusted;
    /* key xclient_trusted: clients that may send XCLIENT (offered to
     * them only); empty: XCLIENT is refused */
    struct gw_nets xclient_trusted;
};

struct gw_upstream_cfg {
    char name[GW_NAME_MAX];        /* key name; default "upstream<N>" */
    struct gw_sockaddr addrs[GW_MAX_UPSTREAM_ADDRS]; /* key addresses */
    size_t naddrs;                 /* >= 1; tried in order (failover) */
    char helo_name[GW_MAX_DOMAIN + 1]; /* key helo_name; default hostname */
    enum gw_up_connect connect;    /* key connect: on_mail | on_connect */
    uint64_t connect_timeout_ms;   /* key connect_timeout */
    uint64_t probe_interval_ms;    /* key probe_interval; 0 = no probe */
    size_t keep_idle;              /* key keep_idle: idle sessions kept per
                                      worker for the next client; 0 = off */
    enum gw_up_tls tls;            /* key tls: none|may|encrypt|verify */
    char ca_file[GW_PATH_MAX];     /* key ca_file ("" = system bundle) */
    char server_name[GW_MAX_DOMAIN + 1]; /* key server_name: SNI and the
                                     name verified ("" = none) */
    char pins[GW_MAX_PINS][64];    /* key pin_sha256: base64 SPKI hashes */
    size_t npins;
    struct tls_ctx *tls_ctx;       /* built at load when tls != none */
    bool xclient;                  /* key xclient: send XCLIENT when offered */
    bool xforward;                 /* key xforward: send XFORWARD when
                                      offered (and XCLIENT is not used) */
    enum gw_up_proxy proxy_protocol; /* key proxy_protocol: none|v1|v2 */
    struct gw_up_auth_cfg auth;    /* key auth */
    char trace_header[GW_NAME_MAX]; /* key trace_header: a header field
                                      naming the client, at the top of
                                      each message ("" = none) */
};

struct gw_limits_cfg {
    size_t command_line;           /* limits.command_line */
    size_t reply_line;             /* limits.reply_line */
    size_t reply_lines;            /* limits.reply_lines */
    size_t recipients;             /* limits.recipients */
    size_t messages_per_session;   /* limits.messages_per_session */
    size_t errors_per_session;     /* limits.errors_per_session */
    size_t connections;            /* limits.connections */
    size_t connections_per_client; /* limits.connections_per_client */
    size_t pipeline_depth;         /* limits.pipeline_depth */
    size_t buffer_size;            /* limits.buffer_size (a size: "64K") */
    uint64_t message_size;         /* limits.message_size (a size: "50M") */
};

struct gw_timeouts_cfg {           /* all durations, in milliseconds */
    uint64_t command;              /* timeouts.command */
    uint64_t data_block;           /* timeouts.data_block */
    uint64_t upstream_greeting;    /* timeouts.upstream_greeting */
    uint64_t upstream_mail;        /* timeouts.upstream_mail */
    uint64_t upstream_rcpt;        /* timeouts.upstream_rcpt */
    uint64_t upstream_data;        /* timeouts.upstream_data */
    uint64_t upstream_data_block;  /* timeouts.upstream_data_block */
    uint64_t upstream_data_end;    /* timeouts.upstream_data_end */
    uint64_t upstream_idle;        /* timeouts.upstream_idle */
};

enum gw_eightbit {
    GW_EIGHTBIT_PASS = 0, /* default: 8-bit content goes to a 7-bit
                             upstream as it is (logged) */
    GW_EIGHTBIT_REJECT,   /* 554 5.6.3 */
};

#define GW_EHLO_MAX_DROP 16

struct gw_ehlo_cfg {
    /* ehlo.advertise: keywords Postern implements or bridges itself and
     * offers whatever the upstream does; GW_CAP_* flags (gw_caps.h) from
     * PIPELINING SIZE 8BITMIME ENHANCEDSTATUSCODES CHUNKING LIMITS. */
    uint32_t advertise;
    /* ehlo.pass: keywords offered when, and only when, the upstream offers
     * them (their parameters are validated and relayed): DSN SMTPUTF8
     * BINARYMIME. */
    uint32_t pass;
    /* ehlo.drop: glob patterns (case-insensitive) never offered. */
    char drop[GW_EHLO_MAX_DROP][GW_NAME_MAX];
    size_t ndrop;
    enum gw_eightbit eightbit; /* ehlo.eightbit: pass | reject */
};

/* process: how Postern runs (docs/operations.md). */
struct gw_process_cfg {
    size_t workers;           /* process.workers: 0 = one per CPU */
    bool master;              /* process.master: supervise workers */
    char pid_file[GW_PATH_MAX]; /* process.pid_file ("" = none) */
    uint64_t shutdown_grace_ms; /* process.shutdown_grace */
    char user[GW_NAME_MAX];   /* process.user: drop to it ("" = stay) */
    char group[GW_NAME_MAX];  /* process.group ("" = the user's) */
    char chroot[GW_PATH_MAX]; /* process.chroot ("" = none) */
    bool run_as_root;         /* process.run_as_root: allow no user */
};

struct gw_metrics_cfg {
    char listen[GW_NAME_MAX]; /* metrics.listen ("" = off) */
    struct gw_sockaddr addr;  /* parsed from listen */
};

struct gw_config {
    unsigned refs;
    char source[256];              /* file path, or "<command line>" */
    char hostname[GW_MAX_DOMAIN + 1]; /* key hostname; default gethostname() */
    bool disable_vrfy;             /* smtp.disable_vrfy: VRFY gets 502 */
    bool received_header;          /* smtp.received_header: add one */
    enum gw_bare_newlines bare_newlines; /* body.bare_newlines */
    enum gw_log_level log_level;   /* log.level */
    enum gw_log_format log_format; /* log.format */
    enum gw_log_sink log_sink;     /* log.sink */
    struct gw_process_cfg process; /* key process */
    struct gw_metrics_cfg metrics; /* key metrics */
    struct gw_listener_cfg *listeners; /* key listeners (list, >= 1) */
    size_t nlisteners;
    struct gw_upstream_cfg *upstreams; /* key upstreams (list, >= 1) */
    size_t nupstreams;
    struct gw_limits_cfg limits;
    struct gw_timeouts_cfg timeouts;
    struct gw_ehlo_cfg ehlo;       /* key ehlo */
    struct pol_ruleset *policy;    /* key policy: compiled rules, or NULL */
    size_t policy_counters;        /* policy.counters.capacity (0: default) */
    /* Each policy rule's slot in the shared metrics table, by rule index;
     * filled by the worker that runs this config (gw_worker_apply). */
    uint16_t *policy_rule_slots;
    /* The policy section as -n prints it (malloc'd; NULL: none). */
    char *policy_text;
};

/* Calls fn for every file the config reads when it is loaded (so a
 * reload reads it again): the config itself, certificates and keys, CA
 * bundles, users, token and password files, policy tables; `what` names
 * the key. Executables (auth.token_command) come with exec = true. */
void gw_config_each_file(const struct gw_config *cfg,
                         void (*fn)(void *arg, const char *what,
                                    const char *path, bool exec),
                         void *arg);

/* policy.counters.capacity with its default filled in. */
static inline size_t
gw_config_policy_capacity(const struct gw_config *cfg)
{
    return cfg->policy_counters != 0 ? cfg->policy_counters
                                     : GW_DEF_POLICY_COUNTERS;
}

/* Collected configuration errors, each already formatted as
 * "FILE:LINE:COL: message" (or "FILE: message" when there is no position),
 * and warnings: problems that do not stop the configuration from loading
 * (an expired certificate), formatted "FILE:LINE:COL: warning: message".
 * A loaded configuration may come with warnings; the caller prints them
 * (postern -t) or logs them (start, reload). */
#define GW_CONFIG_MAX_ERRORS 64
#define GW_CONFIG_MAX_WARNINGS 16
#define GW_CONFIG_MSG_MAX 320 /* bytes of one message, with its NUL */
struct gw_config_errors {
    size_t count;
    char msg[GW_CONFIG_MAX_ERRORS][GW_CONFIG_MSG_MAX];
    size_t nwarnings;
    char warning[GW_CONFIG_MAX_WARNINGS][GW_CONFIG_MSG_MAX];
};

/*
 * Loads and validates `path`, then applies the -o overrides ("a.b=value",
 * list elements addressed by index: "listeners.0.address=..."). Unknown keys
 * are errors. Returns a config with one reference, or NULL with every error
 * found in `errs` (never a partial config). Warnings go to `errs` either
 * way. Blocking: reads certificate files and builds the TLS contexts
 * (struct gw_listener_cfg / gw_upstream_cfg tls_ctx), so call it at start
 * or reload, never on the data path.
 */
struct gw_config *gw_config_load(const char *path,
                                 const char *const *overrides,
                                 size_t noverrides,
                                 struct gw_config_errors *errs);

/*
 * Quick mode: one listener on `listen`, one upstream at `upstream`, every
 * other key at its default, then the overrides. Same contract as load.
 */
struct gw_config *gw_config_quick(const char *listen, const char *upstream,
                                  const char *const *overrides,
                                  size_t noverrides,
                                  struct gw_config_errors *errs);

/* Parses a bare IP address ("192.0.2.1", "2001:db8::1"; no port, no
 * name) into ss, port 0. No resolver: safe on the loop. */
bool gw_config_parse_ip(const char *text, struct sockaddr_storage *ss);

/* Parses "host:port", "[v6]:port" or "host" (port 25) into addr,
 * resolving names with getaddrinfo (start-up only, never on the loop).
 * Returns false and fills why (a short message) on failure. */
bool gw_config_parse_addr(const char *text, struct gw_sockaddr *addr,
                          char *why, size_t why_cap);

/* Where a config comes from, so it can be read again on reload: a file
 * (path) or quick-mode arguments, plus the -o overrides. */
struct gw_config_source {
    const char *path;     /* NULL in quick mode */
    const char *listen;   /* quick mode */
    const char *upstream; /* quick mode */
    const char *tls_cert; /* quick mode --tls-cert, with tls_key: listener 0
                             gets tls: starttls and this pair (or NULL) */
    const char *tls_key;  /* quick mode --tls-key */
    const char *upstream_tls; /* quick mode --upstream-tls: upstream 0's
                                 tls (none|may|encrypt|verify) or NULL */
    const char *const *overrides;
    size_t noverrides;
};

/* gw_config_load or quick mode (with the TLS arguments), as the source
 * says. */
struct gw_config *gw_config_from(const struct gw_config_source *src,
                                 struct gw_config_errors *errs);

void gw_config_ref(struct gw_config *cfg);
/* Drops a reference; frees the config at zero. NULL is allowed. */
void gw_config_unref(struct gw_config *cfg);

/* Writes the effective config (defaults filled in) as YAML to fp. */

void gw_config_print(const struct gw_config *cfg, FILE *fp);

#endif
