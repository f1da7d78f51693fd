/*
 * Declarations shared between the files of policy/. Nothing here is API:
 * the gateway includes policy/policy.h only. Unit tests and fuzz targets
 * may include this header to reach the table parsers directly.
 */
#ifndef POL_INTERNAL_H
#define POL_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "policy/policy.h"

#if defined(__GNUC__) || defined(__clang__)
#define POL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define POL_PRINTF(f, a)
#endif

#define POL_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- ASCII, locale-free ------------------------------------------------- */

static inline uint8_t
pol_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static inline bool
pol_is_space(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static inline bool
pol_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline bool
pol_is_alnum(uint8_t c)
{
    return pol_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* True when p[0..len) equals the NUL-terminated word, ignoring ASCII case. */
bool pol_ieq(const void *p, size_t len, const char *word);

/* ---- facts -------------------------------------------------------------- */

enum pol_ftype {
    POL_FT_STR,
    POL_FT_ADDR,
    POL_FT_NUM,
    POL_FT_BOOL,
};

/* How `domain` matching reads a string fact: not at all, the whole value
 * (a host name), or the part after the last '@' (a mailbox). */
enum pol_fdom {
    POL_FD_NONE,
    POL_FD_HOST,
    POL_FD_MAILBOX,
};

/* id, name, type, first stage, last stage, domain reading */
#define POL_FACTS(X)                                                           \
    X(CLIENT_ADDRESS, "client_address", ADDR, CONNECT, EOM, NONE)              \
    X(CLIENT_PORT, "client_port", NUM, CONNECT, EOM, NONE)                     \
    X(LISTENER, "listener", STR, CONNECT, EOM, NONE)                           \
    X(REVERSE_NAME, "reverse_name", STR, CONNECT, EOM, HOST)                   \
    X(TLS, "tls", BOOL, CONNECT, EOM, NONE)                                    \
    X(TLS_VERSION, "tls_version", STR, CONNECT, EOM, NONE)                     \
    X(TLS_CIPHER, "tls_cipher", STR, CONNECT, EOM, NONE)                       \
    X(SNI, "sni", STR, CONNECT, EOM, HOST)                                     \
    X(TLS_CLIENT_SUBJECT, "tls_client_subject", STR, CONNECT, EOM, NONE)       \
    X(TLS_CLIENT_FINGERPRINT, "tls_client_fingerprint", STR, CONNECT, EOM,     \
      NONE)                                                                    \
    X(HELO, "helo", STR, HELO, EOM, HOST)                                      \
    X(AUTHENTICATED, "authenticated", BOOL, AUTH, EOM, NONE)                   \
    X(AUTH_USER, "auth_user", STR, AUTH, EOM, MAILBOX)                         \
    X(AUTH_MECH, "auth_mech", STR, AUTH, EOM, NONE)                            \
    X(AUTH_FAILURES, "auth_failures", NUM, CONNECT, EOM, NONE)                 \
    X(MESSAGES, "messages", NUM, MAIL, EOM, NONE)                              \
    X(SENDER, "sender", STR, MAIL, EOM, MAILBOX)                               \
    X(SENDER_DOMAIN, "sender_domain", STR, MAIL, EOM, HOST)                    \
    X(SENDER_OWNED, "sender_owned", BOOL, MAIL, EOM, NONE)                     \
    X(SIZE, "size", NUM, MAIL, EOM, NONE)                                      \
    X(BODY, "body", STR, MAIL, EOM, NONE)                                      \
    X(SMTPUTF8, "smtputf8", BOOL, MAIL, EOM, NONE)                             \
    X(REQUIRETLS, "requiretls", BOOL, MAIL, EOM, NONE)                         \
    X(ENVID, "envid", STR, MAIL, EOM, NONE)                                    \
    X(RCPT, "rcpt", STR, RCPT, RCPT, MAILBOX)                                  \
    X(RCPT_DOMAIN, "rcpt_domain", STR, RCPT, RCPT, HOST)                       \
    X(RCPT_COUNT, "rcpt_count", NUM, RCPT, EOM, NONE)                          \
    X(HEADER_NAME, "header_name", STR, HEADER, HEADER, NONE)                   \
    X(HEADER_VALUE, "header_value", STR, HEADER, HEADER, NONE)                 \
    X(MESSAGE_SIZE, "message_size", NUM, EOM, EOM, NONE)                       \
    X(HEADER_COUNT, "header_count", NUM, EOM, EOM, NONE)                       \
    X(SAW_8BIT, "saw_8bit", BOOL, EOM, EOM, NONE)

enum pol_fact {
#define POL_FACT_ENUM(id, name, t, a, b, d) POL_FACT_##id,
    POL_FACTS(POL_FACT_ENUM)
#undef POL_FACT_ENUM
        POL_FACT_COUNT
};

/* ${rule} in a template: the deciding rule's name. */
#define POL_VAR_RULE POL_FACT_COUNT

struct pol_fact_def {
    const char *name;
    enum pol_ftype type;
    enum pol_stage first;
    enum pol_stage last;
    enum pol_fdom dom;
};

extern const struct pol_fact_def pol_fact_defs[POL_FACT_COUNT];

/* Returns POL_FACT_COUNT when unknown. Exact (lower-case) names. */
enum pol_fact pol_fact_from_name(const char *p, size_t len);
bool pol_fact_at_stage(enum pol_fact f, enum pol_stage s);

/* A fact's value as one evaluation sees it. */
struct pol_val {
    bool present;
    const uint8_t *p; /* STR, and ADDR as text */
    size_t len;
    uint64_t num;                /* NUM; BOOL as 0/1 */
    const struct pol_addr *addr; /* ADDR, normalised (mapped -> IPv4) */
};

/* ---- match kinds, comparisons ------------------------------------------- */

enum pol_match {
    POL_M_REGEX,
    POL_M_EQ,
    POL_M_IEQ,
    POL_M_DOMAIN,
    POL_M_CIDR,
    POL_M_TABLE,
    POL_M_CMP,
    POL_M_IS,
    POL_M_PRESENT,
    POL_M_RATE,
    POL_M_CONNECTIONS,
    POL_M_COUNT
};

enum pol_cmp {
    POL_CMP_LT,
    POL_CMP_LE,
    POL_CMP_EQ,
    POL_CMP_NE,
    POL_CMP_GE,
    POL_CMP_GT,
};

bool pol_cmp_holds(enum pol_cmp op, uint64_t a, uint64_t b);

/* ---- errors and the compile context ------------------------------------- */

struct pol_table;

struct pol_table_ref {
    int kind; /* enum pol_table_kind */
    char *path;
    struct pol_table *table; /* NULL: failed to load */
};

struct pol_cc {
    struct pol_errors *errs;
    size_t nerrors; /* counted even when errs is NULL */
    struct pol_ruleset *rs;
    const struct pol_spec *spec;
    struct pol_table_ref *refs; /* table cache: one load per file */
    size_t nrefs;
    size_t caprefs;
};

void pol_cc_error(struct pol_cc *cc, const char *source, unsigned line,
                  unsigned column, const char *fmt, ...) POL_PRINTF(5, 6);
void pol_cc_verror(struct pol_cc *cc, const char *source, unsigned line,
                   unsigned column, const char *fmt, va_list ap)
    POL_PRINTF(5, 0);

/* ---- memory: one arena per ruleset -------------------------------------- */

struct pol_arena_block;

struct pol_arena {
    struct pol_arena_block *head;
};

void *pol_arena_alloc(struct pol_arena *a, size_t size);
char *pol_arena_strndup(struct pol_arena *a, const char *p, size_t len);
char *pol_arena_printf(struct pol_arena *a, const char *fmt, ...)
    POL_PRINTF(2, 3);
void pol_arena_free(struct pol_arena *a);

/* ---- values: numbers, sizes, durations ---------------------------------- */

/* Parse the whole of p[0..len): digits with an optional unit. Return 0 or
 * -1 with a reason. Sizes: K M G T (1024), optional trailing B. Durations:
 * ms s m h d (plain digits are seconds). */
int pol_parse_u64(const char *p, size_t len, uint64_t *out, const char **why);
int pol_parse_size(const char *p, size_t len, uint64_t *out, const char **why);
int pol_parse_duration(const char *p, size_t len, uint64_t *out_ms,
                       const char **why);
/* "> 10M": returns the offset of the error on failure (>= 0), -1 on
 * success. */
long pol_parse_cmp(const char *p, size_t len, enum pol_cmp *op, uint64_t *num,
                   const char **why);

/* ---- actions and templates ---------------------------------------------- */

enum pol_act {
    POL_ACT_CONTINUE,
    POL_ACT_ACCEPT,
    POL_ACT_REJECT,
    POL_ACT_TEMPFAIL,
    POL_ACT_DISCONNECT,
    POL_ACT_REQUIRE_TLS,
    POL_ACT_UPSTREAM,
    POL_ACT_TLS_POLICY,
    POL_ACT_ADD_HEADER,
    POL_ACT_SET_LIMIT,
};

enum pol_limit {
    POL_LIMIT_SIZE,
    POL_LIMIT_RCPTS,
};

/* A template: literal text with ${var} segments, parsed at compile. */
struct pol_tseg {
    uint16_t var; /* a fact, POL_VAR_RULE, or POL_TSEG_LIT */
    uint32_t off; /* literal: in raw */
    uint32_t len;
};

#define POL_TSEG_LIT 0xffffu

struct pol_tmpl {
    const char *raw;
    struct pol_tseg *segs;
    size_t nsegs;
};

struct pol_action {
    enum pol_act kind;
    unsigned code;
    char enh[12];
    struct pol_tmpl text; /* reply text, or the header value */
    const char *hname;    /* ADD_HEADER */
    size_t hname_len;
    const char *upstream; /* UPSTREAM */
    enum pol_tls_policy tls;
    enum pol_limit limit;
    uint64_t limit_value;
    const char *written; /* the action as written, for traces */
    /* the earliest and latest stage at which the action means something */
    enum pol_stage first;
    enum pol_stage last;
};

/* Parses one action from text[0..len) (a table line's tail, or a rule's
 * action string). Errors are reported at loc + offset. Stage rules and
 * upstream names are checked later (pol_action_check). 0 or -1. */
int pol_action_parse(struct pol_cc *cc, struct pol_arena *ar, const char *text,
                     size_t len, const char *source, unsigned line,
                     unsigned column, struct pol_action *out);
/* Whether the action is legal at stage s, and its upstream known; reports
 * at (source, line, column). 0 or -1. */
int pol_action_check(struct pol_cc *cc, const struct pol_action *a,
                     enum pol_stage s, const char *source, unsigned line,
                     unsigned column);
bool pol_action_is_terminal(const struct pol_action *a);
bool pol_action_equal(const struct pol_action *a, const struct pol_action *b);

/* Expansion of t into dst (cap bytes incl. the NUL, at most max bytes of
 * text): literals as they are, values with control bytes removed and
 * non-ASCII bytes as '?'. Returns the length written; *cut set when
 * something did not fit. */
struct pol_evalctx;
size_t pol_tmpl_expand(const struct pol_tmpl *t, struct pol_evalctx *ec,
                       char *dst, size_t cap, size_t max, bool *cut);

/* ---- tables ------------------------------------------------------------- */

enum pol_table_kind {
    POL_TK_CIDR,
    POL_TK_REGEX,
    POL_TK_EQ,     /* exact bytes */
    POL_TK_IEQ,    /* ASCII case-insensitive */
    POL_TK_DOMAIN, /* domain suffix */
};

struct pol_entry {
    const struct pol_action *action; /* NULL: a plain key */
    unsigned line;                   /* in the table's source; 0: inline */
    const char *location;            /* "file:line", or "" */
};

/* CIDR: two binary tries (IPv4 32 bits, IPv6 128 bits) in flat arrays.
 * Node 0 is the root; child 0 means none; entry 0 means none, else the
 * entry index + 1. */
struct pol_cidr_node {
    uint32_t child[2];
    uint32_t entry;
};

struct pol_trie {
    struct pol_cidr_node *n;
    size_t len;
    size_t cap;
};

struct pol_rx {
    pcre2_code *code;
    bool negate; /* "!/re/" in a pcre table */
    bool jit;    /* JIT-compiled: pcre2_jit_match, the fast path */
};

struct pol_slot {
    const char *key; /* NULL: empty */
    uint32_t klen;
    uint32_t self; /* entry + 1 for the key itself */
    uint32_t sub;  /* entry + 1 for its subdomains (domain tables) */
    uint64_t hash;
};

struct pol_table {
    enum pol_table_kind kind;
    const char *source;     /* the file, or the rule's source for inline */
    bool from_file;         /* loaded from the file `source` names */
    struct pol_arena arena; /* keys, locations, line actions */
    struct pol_entry *entries;
    size_t nentries;
    size_t capentries;
    size_t with_action;         /* entries that carry an action */
    unsigned first_action_line; /* to point at in errors */
    unsigned first_plain_line;
    struct pol_trie v4;
    struct pol_trie v6;
    struct pol_rx *rx;
    size_t nrx;
    size_t caprx;
    struct pol_slot *slots;
    size_t mask; /* slots - 1 */
    size_t used;
};

struct pol_table *pol_table_new(enum pol_table_kind kind, const char *source);
void pol_table_free(struct pol_table *t);

/* Adds one entry from a table line or an inline value: key text and an
 * optional action already parsed. Reports errors at (line, column).
 * 0, -1 (reported), or POL_E_NOMEM. */
int pol_table_add(struct pol_cc *cc, struct pol_table *t, const char *key,
                  size_t klen, uint32_t rxflags, bool negate,
                  const struct pol_action *action, unsigned line,
                  unsigned column);

/* Parses a whole table file's text (kind, source name for errors) into t.
 * Every bad line is reported; returns the number of errors (0: good). */
size_t pol_table_parse(struct pol_cc *cc, struct pol_table *t, const char *text,
                       size_t len);

/* Reads and parses "TYPE:PATH" (cached per compile). NULL on failure
 * (reported at loc). */
struct pol_table *pol_table_load(struct pol_cc *cc, const char *ref,
                                 const struct pol_loc *loc);

/* 1: found (*hit set), 0: not found, < 0: a PCRE2 match error. */
int pol_table_lookup(const struct pol_table *t, struct pol_evalctx *ec,
                     const struct pol_val *v, enum pol_fdom dom,
                     const struct pol_entry **hit);

/* CIDR pieces (pol_cidr.c). */
int pol_cidr_insert(struct pol_cc *cc, struct pol_table *t,
                    const struct pol_addr *a, unsigned bits, uint32_t entry,
                    unsigned line, unsigned column);
uint32_t pol_cidr_lookup(const struct pol_table *t, const struct pol_addr *a);
/* Maps ::ffff:a.b.c.d to IPv4 in place. */
void pol_addr_normalise(struct pol_addr *a);

/* Lists (pol_list.c). */
int pol_list_insert(struct pol_cc *cc, struct pol_table *t, const char *key,
                    size_t klen, uint32_t entry, unsigned line,
                    unsigned column);
uint32_t pol_list_lookup(const struct pol_table *t, const uint8_t *p,
                         size_t len);

/* Regexes (pol_regex.c). Flags from "imsxUu"; returns -1 with *bad set to
 * the offending letter's offset. */
#define POL_RX_UTF 0x80000000u
int pol_regex_flags(const char *p, size_t len, uint32_t *opts, size_t *bad);
pcre2_code *pol_regex_compile(struct pol_cc *cc, const char *pat, size_t len,
                              uint32_t opts, const char *source, unsigned line,
                              unsigned column);
/* 1 match, 0 no match, < 0 PCRE2 error. */
int pol_regex_match(const struct pol_rx *rx, struct pol_evalctx *ec,
                    const uint8_t *p, size_t len);
bool pol_regex_is_jit(const pcre2_code *code);

/* ---- rules and the ruleset ---------------------------------------------- */

struct pol_cond {
    enum pol_fact fact;
    enum pol_match match;
    bool negate;
    struct pol_table **tables; /* any-of */
    size_t ntables;
    enum pol_cmp cmp; /* CMP, CONNECTIONS */
    uint64_t num;
    bool truth;               /* IS */
    struct pol_bucket bucket; /* RATE */
    const char *ns;           /* RATE, CONNECTIONS */
    size_t ns_len;
};

struct pol_rule {
    const char *name;
    const char *location; /* "file:line" */
    enum pol_stage stage;
    struct pol_cond *conds;
    size_t nconds;
    struct pol_action *actions;
    size_t nactions;
    long action_cond; /* the condition whose table line gives the action */
    bool terminal;    /* an own action is terminal */
    const char *src;  /* the spec's; valid during pol_compile only */
    unsigned line;
    unsigned column;
};

struct pol_ruleset {
    atomic_uint refs;
    struct pol_arena arena;
    struct pol_rule *rules; /* by stage, in spec order within a stage */
    size_t nrules;
    size_t stage_start[POL_STAGE_COUNT + 1];
    struct pol_table **tables; /* owned */
    size_t ntables;
    size_t captables;
    bool uses_counters;
    /* evaluation scratch: one thread at a time */
    pcre2_match_context *mctx;
    pcre2_match_data *md;
    pcre2_jit_stack *jit;
};

int pol_ruleset_own_table(struct pol_ruleset *rs, struct pol_table *t);

/* One evaluation's view of the facts. */
struct pol_evalctx {
    struct pol_ruleset *rs;
    const struct pol_facts *f;
    enum pol_stage stage;
    const struct pol_rule *rule; /* being evaluated */
    struct pol_addr client;      /* normalised */
    bool client_text_done;
    char client_text[48];
    size_t client_text_len;
};

void pol_fact_value(struct pol_evalctx *ec, enum pol_fact fact,
                    struct pol_val *out);
/* The domain part a `domain` match reads; false when there is none. */
bool pol_val_domain(const struct pol_val *v, enum pol_fdom dom,
                    const uint8_t **p, size_t *len);

/* SipHash-2-4 (pol_counters.c). */
uint64_t pol_siphash(const uint8_t key[16], const uint8_t *p, size_t len);

#endif
