/*
 * libFuzzer target for policy evaluation (policy/pol_eval.c and the
 * lookups and expansions it drives).
 *
 * A fixed policy with rules of every match kind at every stage (inline
 * values and table files, regexes that can blow their match limit,
 * templates that expand every kind of fact) is compiled once. Each input
 * becomes a set of facts: a flag byte, a client address, a buffer size,
 * numbers, and strings separated by 0xff (HELO, sender, recipient, header
 * name and value, SNI, AUTH user, reverse name, listener, BODY, ENVID),
 * each in an exact-size heap copy. Every stage is evaluated, twice where
 * no counter changes in between.
 * What aborts it: a crash or sanitizer report; a verdict that
 * pol_verdict_validate refuses; text or headers over their limits or
 * outside the caller's buffer; a decision without a rule (or a rule
 * without a decision); two evaluations of the same facts that differ.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NSTR 11

struct fz_rule {
    const char *stage;
    const char *fact;
    const char *match;
    const char *flags;
    const char *values[4];
    const char *fact2; /* a second condition, or NULL */
    const char *match2;
    const char *value2;
    const char *actions[3];
};

static char fz_cidr_ref[128];
static char fz_pcre_ref[128];
static char fz_domain_ref[128];

/* clang-format off: one case per line or two */
static const struct fz_rule fz_rules[] = {
    {"connect",
     "client_address",
     "cidr",
     NULL,
     {"192.0.2.0/24", "2001:db8::/32", "0.0.0.0/32"},
     NULL,
     NULL,
     NULL,
     {"reject 554 5.7.1 \"${client_address} is listed\""}},
    {"connect",
     "client_address",
     "table",
     NULL,
     {fz_cidr_ref},
     NULL,
     NULL,
     NULL,
     {NULL}},
    {"connect",
     "reverse_name",
     "present",
     NULL,
     {NULL},
     NULL,
     NULL,
     NULL,
     {"add_header X-Reverse: ${reverse_name} [${client_address}]:"
      "${client_port}"}},
    {"connect",
     "client_address",
     "connections",
     NULL,
     {"> 5"},
     NULL,
     NULL,
     NULL,
     {"disconnect 421 4.7.0 \"Too many from ${client_address}\""}},
    {"connect",
     "listener",
     "eq",
     NULL,
     {"submission"},
     NULL,
     NULL,
     NULL,
     {"require_tls", "set_limit recipients 10"}},
    {"helo",
     "helo",
     "ieq",
     NULL,
     {"localhost", "localhost.localdomain"},
     NULL,
     NULL,
     NULL,
     {"reject 550 5.7.1 \"HELO ${helo} refused\""}},
    {"helo",
     "helo",
     "regex",
     NULL,
     {"^\\[?[0-9.]+\\]?$"},
     NULL,
     NULL,
     NULL,
     {"reject 550 5.7.1 \"bare IP ${helo} in HELO\""}},
    {"helo",
     "helo",
     "domain",
     NULL,
     {"example.com", ".example.net"},
     NULL,
     NULL,
     NULL,
     {"add_header X-Helo: ${helo}", "accept"}},
    {"helo",
     "helo",
     "regex",
     "i",
     {"(a+)+$"},
     NULL,
     NULL,
     NULL,
     {"tempfail 451 4.7.1 \"odd HELO ${helo}\""}},
    {"starttls",
     "sni",
     "domain",
     NULL,
     {"secure.example"},
     NULL,
     NULL,
     NULL,
     {"tls_policy verify"}},
    {"starttls",
     "tls",
     "is",
     NULL,
     {"false"},
     "sni",
     "present",
     NULL,
     {"reject 550 5.7.0 \"${sni} without TLS?\""}},
    {"auth",
     "auth_user",
     "domain",
     NULL,
     {"example.org"},
     NULL,
     NULL,
     NULL,
     {"add_header X-Auth: ${auth_user} via ${auth_mech}"}},
    {"auth",
     "auth_user",
     "rate",
     NULL,
     {"5/1m burst 7"},
     NULL,
     NULL,
     NULL,
     {"tempfail 454 4.7.0 \"slow down ${auth_user}\""}},
    {"mail",
     "sender",
     "table",
     NULL,
     {fz_domain_ref},
     NULL,
     NULL,
     NULL,
     {NULL}},
    {"mail",
     "size",
     "cmp",
     NULL,
     {"> 10M"},
     NULL,
     NULL,
     NULL,
     {"reject 552 5.3.4 \"${size} bytes is too big for ${sender}\""}},
    {"mail",
     "sender",
     "regex",
     "u",
     {"^[^@]{65,}@"},
     NULL,
     NULL,
     NULL,
     {"reject 553 5.1.7 \"local part too long\""}},
    {"mail",
     "smtputf8",
     "is",
     NULL,
     {"true"},
     "body",
     "ieq",
     "8bitmime",
     {"add_header X-UTF8: ${sender} ${body} ${envid} ${requiretls}"}},
    {"mail",
     "sender_domain",
     "ieq",
     NULL,
     {"small.example"},
     NULL,
     NULL,
     NULL,
     {"set_limit message_size 1M", "upstream legacy"}},
    {"rcpt",
     "rcpt_count",
     "cmp",
     NULL,
     {"> 50"},
     NULL,
     NULL,
     NULL,
     {"tempfail 452 4.5.3 \"too many recipients (${rcpt_count})\""}},
    {"rcpt",
     "rcpt_domain",
     "domain",
     NULL,
     {"legacy.example"},
     NULL,
     NULL,
     NULL,
     {"upstream legacy", "tls_policy encrypt"}},
    {"rcpt",
     "rcpt",
     "regex",
     "x",
     {"^ postmaster @ "},
     NULL,
     NULL,
     NULL,
     {"accept"}},
    {"header",
     "header_name",
     "ieq",
     NULL,
     {"subject"},
     "header_value",
     "table",
     fz_pcre_ref,
     {NULL}},
    {"header",
     "header_value",
     "regex",
     NULL,
     {"(*NO_JIT)^(\\w+\\s?)*$"},
     NULL,
     NULL,
     NULL,
     {"reject 550 5.7.1 \"${header_name} looks odd\""}},
    {"header",
     "header_name",
     "eq",
     NULL,
     {"X-Tag"},
     NULL,
     NULL,
     NULL,
     {"add_header X-Seen: ${header_value}"}},
    {"eom",
     "message_size",
     "cmp",
     NULL,
     {"> 1M"},
     "saw_8bit",
     "is",
     "true",
     {"reject 554 5.6.0 \"8-bit message of ${message_size}\""}},
    {"eom",
     "header_count",
     "cmp",
     NULL,
     {">= 100"},
     NULL,
     NULL,
     NULL,
     {"reject 552 5.3.4 \"${header_count} headers, rule ${rule}\""}},
};
/* clang-format on */

static struct pol_ruleset *fz_rs;
static struct pol_counters *fz_ct;

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_pol_eval: %s\n", why);
    abort();
}

static void
fz_write(char *ref, size_t cap, const char *dir, const char *type,
         const char *name, const char *content)
{
    char path[100];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "wb");
    if (fp == NULL || fputs(content, fp) < 0 || fclose(fp) != 0) {
        fz_fail("cannot write a table");
    }
    snprintf(ref, cap, "%s:%s", type, path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const upstreams[] = {"main", "legacy"};
    static const uint8_t seed[16] = {7, 7, 7};
    static struct pol_rule_spec rules[sizeof(fz_rules) / sizeof(fz_rules[0])];
    static struct pol_cond_spec conds[sizeof(fz_rules) / sizeof(fz_rules[0])]
                                     [2];
    static struct pol_value_spec vals[sizeof(fz_rules) / sizeof(fz_rules[0])]
                                     [5];
    static struct pol_value_spec acts[sizeof(fz_rules) / sizeof(fz_rules[0])]
                                     [3];
    char dir[] = "/tmp/fuzz_pol_eval.XXXXXX";
    struct pol_errors errs;
    struct pol_spec spec;
    size_t i;
    size_t k;

    (void)argc;
    (void)argv;
    if (mkdtemp(dir) == NULL) {
        fz_fail("mkdtemp");
    }
    fz_write(fz_cidr_ref, sizeof(fz_cidr_ref), dir, "cidr", "c.cidr",
             "198.51.100.1 OK\n198.51.100.2/31 DUNNO\n"
             "198.51.100.0/24 REJECT 550 5.7.1 \"net ${client_address}\"\n"
             "::ffff:203.0.113.0/120 421 4.7.0 bye\n"
             "10.0.0.0/8 add_header X-Internal: ${client_address}\n");
    fz_write(fz_pcre_ref, sizeof(fz_pcre_ref), dir, "pcre", "h.pcre",
             "/viagra/i REJECT 550 5.7.1 \"${header_value}\"\n"
             "!/^[[:print:]]*$/ DEFER 451 4.7.1 unprintable\n"
             "/^(a|aa)+$/ DUNNO\n");
    fz_write(fz_domain_ref, sizeof(fz_domain_ref), dir, "domain", "s.dom",
             "spam.example REJECT 550 5.7.1 \"${sender_domain}\"\n"
             "ok.spam.example OK\n.sub.example DISCONNECT\n");
    memset(&spec, 0, sizeof(spec));
    for (i = 0; i < sizeof(fz_rules) / sizeof(fz_rules[0]); i++) {
        const struct fz_rule *r = &fz_rules[i];
        struct pol_rule_spec *rs = &rules[i];

        rs->loc = (struct pol_loc){"fuzz.yaml", (unsigned)i + 1, 1};
        rs->stage = r->stage;
        rs->conds = conds[i];
        rs->nconds = 1;
        conds[i][0].fact = r->fact;
        conds[i][0].match = r->match;
        conds[i][0].flags = r->flags;
        conds[i][0].values = vals[i];
        for (k = 0; k < 4 && r->values[k] != NULL; k++) {
            vals[i][k].text = r->values[k];
        }
        conds[i][0].nvalues = k;
        if (r->fact2 != NULL) {
            conds[i][1].fact = r->fact2;
            conds[i][1].match = r->match2;
            conds[i][1].values = &vals[i][4];
            vals[i][4].text = r->value2;
            conds[i][1].nvalues = r->value2 != NULL ? 1 : 0;
            rs->nconds = 2;
        }
        rs->actions = acts[i];
        for (k = 0; k < 3 && r->actions[k] != NULL; k++) {
            acts[i][k].text = r->actions[k];
        }
        rs->nactions = k;
    }
    spec.rules = rules;
    spec.nrules = sizeof(fz_rules) / sizeof(fz_rules[0]);
    spec.upstreams = upstreams;
    spec.nupstreams = 2;
    fz_rs = pol_compile(&spec, &errs);
    if (fz_rs == NULL) {
        char line[600];

        pol_error_format(&errs.e[0], line, sizeof(line));
        fprintf(stderr, "%s\n", line);
        fz_fail("the policy does not compile");
    }
    fz_ct = pol_counters_mem_new(256, seed);
    if (fz_ct == NULL) {
        fz_fail("out of memory");
    }
    return 0;
}

static bool
fz_clean(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if ((uint8_t)p[i] < 0x20 || (uint8_t)p[i] > 0x7e) {
            return false;
        }
    }
    return p[len] == '\0';
}

static bool
fz_inside(const struct pol_verdict *v, const char *p, size_t len)
{
    return v->buf != NULL && p >= v->buf && p + len < v->buf + v->cap;
}

static void
fz_check(const struct pol_verdict *v)
{
    char why[128];
    size_t i;

    if (pol_verdict_validate(v, why, sizeof(why)) != POL_OK) {
        fprintf(stderr, "verdict: %s\n", why);
        fz_fail("invalid verdict");
    }
    if (v->text_len > POL_MAX_TEXT || !fz_clean(v->text, v->text_len)) {
        fz_fail("bad text");
    }
    if (v->text_len > 0 && v->action != POL_VERDICT_ERROR &&
        !fz_inside(v, v->text, v->text_len)) {
        fz_fail("text outside the buffer");
    }
    for (i = 0; i < v->nheaders; i++) {
        const struct pol_header *h = &v->headers[i];

        if (h->len > POL_MAX_HEADER_LINE || !fz_clean(h->line, h->len) ||
            !fz_inside(v, h->line, h->len) ||
            h->line < v->buf + (v->cap < POL_MAX_TEXT + 1 ? v->cap
                                                          : POL_MAX_TEXT + 1)) {
            fz_fail("bad header");
        }
    }
    if ((v->action == POL_VERDICT_CONTINUE) != (v->rule[0] == '\0')) {
        fz_fail("a decision without a rule, or the reverse");
    }
}

/* The facts: flags, address, cap, numbers, then strings split at 0xff. */
static size_t
fz_facts(const uint8_t *data, size_t size, struct pol_facts *f,
         uint8_t **copies)
{
    size_t cap = 4096;
    struct pol_str *strs[FZ_NSTR] = {
        &f->helo,         &f->sender, &f->rcpt,      &f->header_name,
        &f->header_value, &f->sni,    &f->auth_user, &f->reverse_name,
        &f->listener,     &f->body,   &f->envid,
    };
    size_t pos = 0;
    size_t k = 0;
    uint8_t flags = 0;

    memset(f, 0, sizeof(*f));
    if (size >= 1) {
        flags = data[0];
        f->tls = (flags & 1) != 0;
        f->authenticated = (flags & 2) != 0;
        f->smtputf8 = (flags & 4) != 0;
        f->requiretls = (flags & 8) != 0;
        f->saw_8bit = (flags & 16) != 0;
        f->has_size = (flags & 32) != 0;
        pos = 1;
    }
    if (size >= pos + 17) {
        f->client_address.family = data[pos] % 3 == 0   ? 0
                                   : data[pos] % 3 == 1 ? POL_AF_INET
                                                        : POL_AF_INET6;
        memcpy(f->client_address.bytes, data + pos + 1, 16);
        pos += 17;
    }
    if (size >= pos + 8) {
        cap = ((size_t)data[pos] << 8 | data[pos + 1]) % 5000;
        f->client_port = (uint16_t)(data[pos + 2] << 8 | data[pos + 3]);
        f->size = (uint64_t)data[pos + 4] << 20;
        f->message_size = (uint64_t)data[pos + 5] << 14;
        f->rcpt_count = data[pos + 6];
        f->header_count = data[pos + 7];
        f->messages = 1;
        pos += 8;
    }
    while (pos <= size && k < FZ_NSTR) {
        const uint8_t *end = memchr(data + pos, 0xff, size - pos);
        size_t len = end != NULL ? (size_t)(end - (data + pos)) : size - pos;

        copies[k] = malloc(len > 0 ? len : 1);
        if (copies[k] == NULL) {
            fz_fail("out of memory");
        }
        memcpy(copies[k], data + pos, len);
        strs[k]->p = copies[k];
        strs[k]->len = len;
        k++;
        pos += len + 1;
    }
    return cap;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t now;
    uint8_t *copies[FZ_NSTR] = {NULL};
    struct pol_facts f;
    struct pol_env env;
    struct pol_verdict v1;
    struct pol_verdict v2;
    char *buf1;
    char *buf2;
    size_t cap;
    unsigned s;
    size_t i;

    cap = fz_facts(data, size, &f, copies);
    buf1 = malloc(cap > 0 ? cap : 1);
    buf2 = malloc(cap > 0 ? cap : 1);
    if (buf1 == NULL || buf2 == NULL) {
        fz_fail("out of memory");
    }
    memset(&env, 0, sizeof(env));
    env.counters = fz_ct;
    env.now_ms = now;
    now += 1000;
    if (size > 0 && f.client_address.family != 0 && (data[0] & 64) != 0) {
        (void)pol_counters_conn_open(fz_ct, &f.client_address, now);
    }
    for (s = 0; s < POL_STAGE_COUNT; s++) {
        pol_verdict_init(&v1, cap > 0 ? buf1 : NULL, cap);
        (void)pol_eval(fz_rs, (enum pol_stage)s, &f, &env, &v1);
        fz_check(&v1);
        if (s == POL_STAGE_AUTH) {
            continue; /* rate(): the second call counts again */
        }
        pol_verdict_init(&v2, cap > 0 ? buf2 : NULL, cap);
        (void)pol_eval(fz_rs, (enum pol_stage)s, &f, &env, &v2);
        if (v1.action != v2.action || v1.code != v2.code ||
            strcmp(v1.text, v2.text) != 0 || v1.flags != v2.flags ||
            v1.nheaders != v2.nheaders || strcmp(v1.rule, v2.rule) != 0) {
            fz_fail("two evaluations of the same facts differ");
        }
        for (i = 0; i < v1.nheaders; i++) {
            if (strcmp(v1.headers[i].line, v2.headers[i].line) != 0) {
                fz_fail("two evaluations gave different headers");
            }
        }
    }
    if (size > 0 && f.client_address.family != 0 && (data[0] & 64) != 0) {
        (void)pol_counters_conn_close(fz_ct, &f.client_address, now);
    }
    for (i = 0; i < FZ_NSTR; i++) {
        free(copies[i]);
    }
    free(buf1);
    free(buf2);
    return 0;
}
