/*
 * Postern's policy engine: a pure library. Rule specs (pol_spec.h) are
 * compiled once into an immutable, reference-counted ruleset; at each SMTP
 * stage the gateway passes the facts it knows (pol_facts.h) and gets a
 * verdict back. There is no I/O except reading table files inside
 * pol_compile(), no clock (time is passed in), no logging, no libuv, no
 * YAML. Errors come back as data.
 *
 * Threads: a ruleset is immutable after pol_compile(), but pol_eval() uses
 * scratch space (PCRE2 match data and JIT stack) that belongs to the
 * ruleset, so at most ONE thread may run pol_eval() on a given ruleset at a
 * time. Different rulesets are independent. Reference counts are atomic, so
 * pol_ruleset_ref/unref may be called from any thread.
 *
 * docs/policy.md is the administrator's reference for all of this.
 */
#ifndef POL_POLICY_H
#define POL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/pol_facts.h"
#include "policy/pol_spec.h"

struct sockaddr;

/* Return values: 0 success, negative failure (STYLE.md 7). */
enum pol_result {
    POL_OK = 0,
    POL_E_NOMEM = -1,
    POL_E_INVAL = -2,
    POL_E_IO = -3,
    POL_E_STORE = -4, /* a counter store failed */
};

/* Limits. POL_DEF_*: defaults of pol_spec fields left 0; POL_MAX_*: hard. */
#define POL_DEF_MATCH_LIMIT 100000u      /* PCRE2 default: 10,000,000 */
#define POL_DEF_DEPTH_LIMIT 10000u       /* PCRE2 default: 10,000,000 */
#define POL_DEF_HEAP_LIMIT_KIB 8192u     /* PCRE2 default: 20,000,000 */
#define POL_MAX_RULES 100000u            /* rules in one policy */
#define POL_MAX_CONDS 64u                /* conditions in one rule */
#define POL_MAX_ACTIONS 16u              /* actions in one rule */
#define POL_MAX_HEADERS 16u              /* headers in one verdict */
#define POL_MAX_TEXT 400u                /* reply text after expansion */
#define POL_MAX_HEADER_LINE 998u         /* "Name: value" after expansion */
#define POL_MAX_TABLE_LINE 4096u         /* one line of a table file */
#define POL_MAX_TABLE_BYTES (256u << 20) /* one table file */
#define POL_MAX_NAME 128u                /* rule names, upstream names */
#define POL_VERDICT_BUF_SIZE 4096u       /* enough for a text + 3 headers */

/* ---- verdicts ----------------------------------------------------------- */

/*
 * The decisive outcome of one stage. Terminal actions end the stage:
 * ACCEPT, REJECT, TEMPFAIL, DISCONNECT (and ERROR). CONTINUE means no rule
 * decided. Accumulated (non-terminal) actions are in flags and the fields
 * below; they apply with ACCEPT and CONTINUE, and the gateway ignores them
 * with the others.
 */
enum pol_verdict_action {
    POL_VERDICT_CONTINUE = 0, /* go on as configured */
    POL_VERDICT_ACCEPT,       /* stop evaluating this stage; go on */
    POL_VERDICT_REJECT,       /* answer code (5xx) enhanced text */
    POL_VERDICT_TEMPFAIL,     /* answer code (4xx) enhanced text */
    POL_VERDICT_DISCONNECT,   /* answer 421 enhanced text, then close */
    POL_VERDICT_ERROR,        /* match error: 451 4.3.0, fail closed */
};

enum pol_tls_policy {
    POL_TLS_NONE = 0, /* not set by policy */
    POL_TLS_MAY,
    POL_TLS_ENCRYPT,
    POL_TLS_VERIFY,
};

/* Verdict flags: what accumulated, and what was cut. */
#define POL_VF_REQUIRE_TLS 0x01u    /* 530 5.7.0 until STARTTLS */
#define POL_VF_UPSTREAM 0x02u       /* upstream is set */
#define POL_VF_TLS_POLICY 0x04u     /* tls_policy is set */
#define POL_VF_LIMIT_SIZE 0x08u     /* limit_message_size is set */
#define POL_VF_LIMIT_RCPTS 0x10u    /* limit_recipients is set */
#define POL_VF_TRUNCATED 0x20u      /* an expansion was cut to fit */
#define POL_VF_HEADER_DROPPED 0x40u /* an add_header did not fit buf */

struct pol_header {
    const char *line; /* "Name: value", NUL-terminated, in the verdict buf */
    size_t len;
    size_t name_len; /* the name is line[0 .. name_len) */
};

/*
 * A verdict is data. Strings point into the caller's buffer (text,
 * headers: valid until the next pol_eval with that buffer) or into the
 * ruleset (rule, rule_source, upstream, table_source: valid while the
 * caller holds a reference to the ruleset). Every string is
 * NUL-terminated, holds only printable ASCII (0x20-0x7e), and is never
 * NULL once pol_eval returned ("" when not applicable).
 */
struct pol_verdict {
    enum pol_verdict_action action;
    unsigned code;     /* 0 for CONTINUE and ACCEPT */
    char enhanced[12]; /* "5.7.1"; "" for CONTINUE and ACCEPT */
    const char *text;  /* expanded reply text; "" for CONTINUE, ACCEPT */
    size_t text_len;
    unsigned flags;                 /* POL_VF_* */
    const char *upstream;           /* POL_VF_UPSTREAM */
    enum pol_tls_policy tls_policy; /* POL_VF_TLS_POLICY */
    uint64_t limit_message_size;    /* POL_VF_LIMIT_SIZE */
    uint32_t limit_recipients;      /* POL_VF_LIMIT_RCPTS */
    struct pol_header headers[POL_MAX_HEADERS];
    size_t nheaders;

    /* Who decided: the rule (name and "file:line"), and the table line
     * when the action came from a table. "" when nothing decided. */
    const char *rule;
    const char *rule_location;
    const char *table_location;
    size_t rule_index; /* the rule's (pol_ruleset_rule), when rule != "" */

    /* POL_VERDICT_ERROR: the PCRE2 error (or POL_E_STORE) and its text. */
    int error;
    char error_text[96];

    /* The caller's buffer for expansions (pol_verdict_init). */
    char *buf;
    size_t cap;
    size_t used;
};

/* Prepares v to receive a verdict; buf (cap bytes, POL_VERDICT_BUF_SIZE
 * recommended) receives the expanded text and headers. buf may be NULL
 * with cap 0: texts are then empty and POL_VF_TRUNCATED is set. */
void pol_verdict_init(struct pol_verdict *v, char *buf, size_t cap);

/*
 * Checks that v is a well-formed answer: REJECT has a 5xx code, TEMPFAIL a
 * 4xx code other than 421, DISCONNECT 421, ERROR 451; the enhanced code
 * (RFC 3463 class.subject.detail) has the same class as the code; text and
 * headers hold no CR, LF, NUL or other control bytes, and headers have a
 * valid field name. pol_compile runs the same checks on every action.
 * Returns 0, or POL_E_INVAL with a reason in why (may be NULL).
 */
int pol_verdict_validate(const struct pol_verdict *v, char *why, size_t cap);

const char *pol_verdict_action_name(enum pol_verdict_action a);
const char *pol_tls_policy_name(enum pol_tls_policy p);
const char *pol_stage_name(enum pol_stage s);
/* Returns POL_STAGE_COUNT for an unknown name (case-insensitive). */
enum pol_stage pol_stage_from_name(const char *p, size_t len);

/* ---- compile errors ----------------------------------------------------- */

#define POL_MAX_ERRORS 32u
#define POL_ERR_SOURCE_MAX 256u
#define POL_ERR_MESSAGE_MAX 256u

struct pol_error {
    char source[POL_ERR_SOURCE_MAX]; /* file, or "<policy>"; cut from the
                                        left with "..." when too long */
    unsigned line;                   /* 1-based; 0: not tied to a line */
    unsigned column;                 /* 1-based; 0: unknown */
    char message[POL_ERR_MESSAGE_MAX];
};

/* The caller allocates it (about 17 KB); pol_compile resets it. Errors
 * beyond POL_MAX_ERRORS are counted in dropped. */
struct pol_errors {
    size_t count;
    size_t dropped;
    struct pol_error e[POL_MAX_ERRORS];
};

/* "SOURCE:LINE:COLUMN: message" (LINE and COLUMN omitted when 0) into buf,
 * NUL-terminated and truncated to cap. Returns the full length. */
size_t pol_error_format(const struct pol_error *e, char *buf, size_t cap);

/* ---- counters (rate limits, connection counts) -------------------------- */

/* What is counted: ns names the counter (a rate condition, or "conn"),
 * value is the key's text (the client address, the sender...). A shared
 * store would use "postern:" ns ":" value as its key. */
struct pol_counter_key {
    const char *ns;
    size_t ns_len;
    const uint8_t *value;
    size_t value_len;
};

/* A token bucket: `count` tokens per `per_ms`, holding at most `burst`. */
struct pol_bucket {
    uint32_t count;
    uint32_t burst;
    uint64_t per_ms;
};

/*
 * A counter store. Policy calls take() and conn_get() during pol_eval; the
 * gateway calls conn_add() (through pol_counters_conn_open/close) when a
 * client connects and leaves. now_ms is any monotonic clock in ms, given
 * by the caller. Each function returns >= 0 on success, POL_E_STORE (or
 * another negative value) when the store fails; a failure makes the
 * condition an error (POL_VERDICT_ERROR: fail closed).
 */
struct pol_counters_ops {
    /* 1: a token was taken (under the rate); 0: the bucket is empty */
    int (*take)(void *impl, const struct pol_counter_key *key,
                const struct pol_bucket *b, uint64_t now_ms);
    /* the key's open connections into *count */
    int (*conn_get)(void *impl, const struct pol_counter_key *key,
                    uint32_t *count);
    /* adds delta (+1 or -1; never below 0) */
    int (*conn_add)(void *impl, const struct pol_counter_key *key, int delta,
                    uint64_t now_ms);
    void (*destroy)(void *impl);
};

struct pol_counters {
    const struct pol_counters_ops *ops;
    void *impl;
};

/*
 * The in-process store: a fixed table of `capacity` buckets (rounded up to
 * a power of two, at least 64; memory is 32 bytes per slot) keyed by a
 * SipHash of ns and value under `seed` (give it random bits, so that keys
 * cannot be chosen to collide). When the table is full, the least recently
 * used of 8 neighbouring slots is recycled: memory never grows, and an
 * evicted bucket starts full again. Returns NULL on allocation failure.
 * One thread at a time.
 */
struct pol_counters *pol_counters_mem_new(size_t capacity,
                                          const uint8_t seed[16]);

/* The same store over caller memory, so that processes can share it: mem
 * is zeroed, 8-byte aligned, pol_counters_table_bytes(capacity) bytes, and
 * outlives the store; every process passes the same capacity and seed.
 * lock (may be NULL: one thread at a time) is called around each
 * operation with its arg; it must not fail. */
struct pol_counters_lock {
    void (*lock)(void *arg);
    void (*unlock)(void *arg);
    void *arg;
};
size_t pol_counters_table_bytes(size_t capacity); /* 0: too large */
struct pol_counters *
pol_counters_table_new(void *mem, size_t capacity, const uint8_t seed[16],
                       const struct pol_counters_lock *lock);

/* Calls ops->destroy and frees c. NULL is ignored. */
void pol_counters_free(struct pol_counters *c);

/* The gateway's side of `connections(client_address)`: count a client in
 * and out. Return what conn_add returns. */
int pol_counters_conn_open(struct pol_counters *c, const struct pol_addr *a,
                           uint64_t now_ms);
int pol_counters_conn_close(struct pol_counters *c, const struct pol_addr *a,
                            uint64_t now_ms);

/* ---- addresses ---------------------------------------------------------- */

/* Fills a from an AF_INET or AF_INET6 sockaddr (IPv4-mapped IPv6 becomes
 * IPv4). Returns 0, or POL_E_INVAL for another family. */
int pol_addr_from_sockaddr(struct pol_addr *a, const struct sockaddr *sa);
/* Parses "192.0.2.1", "2001:db8::1" or "[2001:db8::1]". 0 or POL_E_INVAL. */
int pol_addr_parse(struct pol_addr *a, const char *p, size_t len);
/* "192.0.2.0/24", "2001:db8::/32", "192.0.2.1" (/32): bits beyond the
 * prefix must be zero; ::ffff:a.b.c.d/n becomes IPv4. 0, or -1 with a
 * short reason in *why. */
int pol_cidr_parse(const char *p, size_t len, struct pol_addr *a,
                   unsigned *bits, const char **why);
/* Is a inside net/bits (same family)? */
bool pol_addr_in_net(const struct pol_addr *a, const struct pol_addr *net,
                     unsigned bits);
/* Text form (IPv4 dotted, IPv6 RFC 5952) into buf; cap >= 46 is always
 * enough. Returns the length, or 0 when a is absent or cap is too small. */
size_t pol_addr_format(const struct pol_addr *a, char *buf, size_t cap);

/* ---- compile, reference, evaluate --------------------------------------- */

struct pol_ruleset;

/*
 * Compiles spec: parses every stage, fact, match, value and action, reads
 * and compiles each table file once (even when several rules use it),
 * compiles regexes (JIT when available) and checks everything, including
 * rules that can never run. Returns a ruleset holding one reference, or
 * NULL with the reasons in errs (which may be NULL). Never returns a
 * partial ruleset: with any error, nothing is kept. Reads table files;
 * otherwise no I/O.
 */
struct pol_ruleset *pol_compile(const struct pol_spec *spec,
                                struct pol_errors *errs);

/* Takes a reference; returns rs. */
struct pol_ruleset *pol_ruleset_ref(struct pol_ruleset *rs);
/* Drops a reference; frees everything at zero. NULL is ignored. */
void pol_ruleset_unref(struct pol_ruleset *rs);

/* Rules at a stage (0: the gateway may skip work for it, e.g. header
 * parsing). */
size_t pol_ruleset_rules_at(const struct pol_ruleset *rs, enum pol_stage s);
/* Every rule, in order: index i < pol_ruleset_nrules(rs) names the same
 * rule as a verdict's or trace event's rule_index, for the ruleset's life.
 * Returns the name (a default "file:line" when none was given). */
size_t pol_ruleset_nrules(const struct pol_ruleset *rs);
const char *pol_ruleset_rule(const struct pol_ruleset *rs, size_t i,
                             enum pol_stage *stage);
/* The table files the ruleset was compiled from, for checks such as "can
 * a reload read them": table i's path, or NULL for an inline list. Each
 * file appears once (tables are loaded once per file). */
size_t pol_ruleset_ntables(const struct pol_ruleset *rs);
const char *pol_ruleset_table_source(const struct pol_ruleset *rs, size_t i);
/* Whether any rule, or a table line, can answer require_tls (so that
 * -t can warn about listeners that offer no TLS). */
bool pol_ruleset_can_require_tls(const struct pol_ruleset *rs);
/* Whether any rule uses rate() or connections(): a counter store needed. */
bool pol_ruleset_uses_counters(const struct pol_ruleset *rs);

/* What pol_eval tells a trace callback about each rule it looked at. */
enum pol_trace_result {
    POL_TRACE_NO_MATCH, /* condition `cond` did not hold */
    POL_TRACE_MATCH,    /* every condition held; `action` was applied */
    POL_TRACE_ERROR,    /* condition `cond` failed to evaluate */
};

struct pol_trace_event {
    enum pol_stage stage;
    size_t rule_index;         /* see pol_ruleset_rule */
    const char *rule;          /* name */
    const char *rule_location; /* "file:line" */
    enum pol_trace_result result;
    size_t cond;                /* index in the rule, for NO_MATCH and ERROR */
    const char *action;         /* the action as written, for MATCH; else "" */
    const char *table_location; /* the table line that matched, or "" */
    bool ignored;               /* MATCH, but the setting was already made by an
                                   earlier rule (first one wins) */
};

/* Evaluation environment; a zeroed struct is valid (no counters, time 0,
 * no trace). */
struct pol_env {
    struct pol_counters *counters; /* NULL: rate() and connections() are
                                      errors (fail closed) */
    uint64_t now_ms;               /* for token buckets */
    void (*trace)(void *arg, const struct pol_trace_event *ev);
    void *trace_arg;
    bool trace_hits_only; /* MATCH and ERROR events only (cheap: metrics) */
};

/*
 * Evaluates the rules of `stage`, in order, against f: the first rule
 * whose conditions all hold and whose action is terminal decides; the
 * non-terminal actions of the matching rules before it accumulate in v.
 * Conditions are evaluated left to right and stop at the first that does
 * not hold, so a rate() condition only counts events that passed the
 * conditions before it. A match error stops evaluation at once with
 * POL_VERDICT_ERROR naming the rule. v must have been through
 * pol_verdict_init (its buffer is reused from the start). Returns
 * v->action. No I/O except through env->counters; allocates nothing
 * itself (PCRE2's interpreter may grow the ruleset's match data, within
 * heap_limit_kib); one thread per ruleset at a time.
 */
enum pol_verdict_action pol_eval(struct pol_ruleset *rs, enum pol_stage stage,
                                 const struct pol_facts *f,
                                 const struct pol_env *env,
                                 struct pol_verdict *v);

#endif
