/*
 * Rule specs: the plain structs the gateway fills from its configuration
 * (YAML) and hands to pol_compile(). Every word in them is text, exactly as
 * the administrator wrote it, with its position, so that policy owns the
 * whole vocabulary (stages, facts, match kinds, actions, sizes, durations)
 * and reports every mistake itself as SOURCE:LINE:COLUMN. The gateway only
 * walks its YAML and copies scalars and positions.
 *
 * Ownership: pol_compile() copies everything it keeps. The spec and all the
 * strings it points to may be freed as soon as pol_compile() returns.
 *
 * Columns: a pol_loc should give the column of the value's first character
 * (after an opening quote). Errors inside a value (a regex offset, a bad
 * character in an action) add their offset to it, so they are exact for
 * plain and single-quoted scalars on one line.
 *
 * The full reference, with the YAML shape proposed for the gateway, is
 * docs/policy.md.
 */
#ifndef POL_SPEC_H
#define POL_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where something was written. source: a file name or "<command line>";
 * may be NULL (then "<policy>"). line and column are 1-based; 0: unknown. */
struct pol_loc {
    const char *source;
    unsigned line;
    unsigned column;
};

/* One scalar with its position. */
struct pol_value_spec {
    const char *text; /* NUL-terminated */
    struct pol_loc loc;
};

/*
 * One condition: FACT MATCH VALUES. The rule holds when all its conditions
 * hold (AND); a condition holds when any of its values matches (OR), or,
 * with negate, when none does.
 *
 *   fact    "helo", "client_address", "sender_domain", "size", "tls", ...
 *   match   NULL or "" for the fact's default kind (ieq for strings, cidr
 *           for client_address, cmp for numbers, is for booleans), or one
 *           of: regex eq ieq domain cidr table cmp is present rate
 *           connections
 *   values  regex: patterns; eq/ieq: strings; domain: domain names
 *           (".example.com" = subdomains only); cidr: "10.0.0.0/8",
 *           "2001:db8::/32", "192.0.2.1"; table: "cidr:PATH", "pcre:PATH",
 *           "list:PATH", "domain:PATH"; cmp and connections: "> 10M",
 *           "<= 5", "== 0"; is: "true"/"false"; rate: "100/1h",
 *           "30/1m burst 60"; present: no value.
 *   flags   regex only: letters i m s x U u (docs/policy.md); NULL: none.
 */
struct pol_cond_spec {
    struct pol_loc loc; /* of the fact name */
    const char *fact;
    const char *match;
    bool negate;
    const struct pol_value_spec *values;
    size_t nvalues;
    const char *flags;
};

/*
 * One rule. Rules are evaluated in the order given, per stage.
 *
 *   name     unique; NULL or "": "SOURCE:LINE" of loc
 *   stage    "connect" "helo" "starttls" "auth" "mail" "rcpt" "header" "eom"
 *   conds    none: the rule always holds
 *   actions  one action per string, e.g. "reject 550 5.7.1 \"No\"",
 *            "add_header X-Tag: yes", "upstream legacy". None: the action
 *            comes from the line of the (single) table that matched.
 */
struct pol_rule_spec {
    struct pol_loc loc;
    const char *name;
    const char *stage;
    struct pol_loc stage_loc;
    const struct pol_cond_spec *conds;
    size_t nconds;
    const struct pol_value_spec *actions;
    size_t nactions;
};

/* A whole policy. Zero limits take the POL_DEF_* defaults (policy.h). */
struct pol_spec {
    const struct pol_rule_spec *rules;
    size_t nrules;
    /* Known upstream names; when nupstreams > 0, "upstream NAME" must name
     * one of them. */
    const char *const *upstreams;
    size_t nupstreams;
    /* Relative table paths are taken from this directory (usually the
     * configuration file's); NULL: as given (relative to the cwd). */
    const char *base_dir;
    uint32_t match_limit;    /* pcre2_set_match_limit */
    uint32_t depth_limit;    /* pcre2_set_depth_limit */
    uint32_t heap_limit_kib; /* pcre2_set_heap_limit */
};

#endif
