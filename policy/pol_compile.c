/*
 * pol_compile: rule specs in, an immutable reference-counted ruleset out,
 * or every error found with its SOURCE:LINE:COLUMN. Regexes are compiled
 * here (with JIT), table files read here, and everything that can be
 * checked before the first message is checked here: stages, facts per
 * stage, match kinds per fact, values, actions and their stages, upstream
 * names, rule names, and rules that can never run.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

static const char *const pol_match_names[POL_M_COUNT] = {
    "regex", "eq", "ieq",     "domain", "cidr",        "table",
    "cmp",   "is", "present", "rate",   "connections",
};

struct pol_name_ix {
    const char *name;
    const struct pol_rule *rule;
};

static int pol_rule_compile(struct pol_cc *cc, const struct pol_rule_spec *rs,
                            size_t index, struct pol_rule *out);
static int pol_rule_name(struct pol_cc *cc, const struct pol_rule_spec *sp,
                         size_t index, struct pol_rule *out);
static int pol_rule_actions(struct pol_cc *cc, const struct pol_rule_spec *sp,
                            struct pol_rule *r);
static int pol_rule_table_action(struct pol_cc *cc,
                                 const struct pol_rule_spec *sp,
                                 struct pol_rule *r);
static int pol_cond_compile(struct pol_cc *cc, const struct pol_rule *r,
                            const struct pol_cond_spec *cs, size_t index,
                            struct pol_cond *out);
static int pol_cond_kind(struct pol_cc *cc, const struct pol_cond_spec *cs,
                         struct pol_cond *out);
static int pol_cond_values(struct pol_cc *cc, const struct pol_rule *r,
                           const struct pol_cond_spec *cs, size_t index,
                           struct pol_cond *out);
static int pol_cond_inline(struct pol_cc *cc, const struct pol_cond_spec *cs,
                           struct pol_cond *out);
static int pol_cond_tables(struct pol_cc *cc, const struct pol_cond_spec *cs,
                           struct pol_cond *out);
static int pol_rate_parse(const char *p, size_t len, struct pol_bucket *b,
                          size_t *at, const char **why);
static int pol_bool_parse(const char *p, bool *out);
static void pol_rules_order(struct pol_cc *cc, struct pol_rule *tmp, size_t n);
static void pol_rules_unreachable(struct pol_cc *cc);
static int pol_name_cmp(const void *a, const void *b);
static void pol_rules_names(struct pol_cc *cc);
static int pol_scratch_new(struct pol_cc *cc);
static void pol_ruleset_free(struct pol_ruleset *rs);

/* ---- the ruleset -------------------------------------------------------- */

int
pol_ruleset_own_table(struct pol_ruleset *rs, struct pol_table *t)
{
    if (rs->ntables == rs->captables) {
        size_t ncap = rs->captables == 0 ? 16 : rs->captables * 2;
        struct pol_table **n = realloc(rs->tables, ncap * sizeof(*n));

        if (n == NULL) {
            return -1;
        }
        rs->tables = n;
        rs->captables = ncap;
    }
    rs->tables[rs->ntables++] = t;
    return 0;
}

struct pol_ruleset *
pol_ruleset_ref(struct pol_ruleset *rs)
{
    atomic_fetch_add_explicit(&rs->refs, 1, memory_order_relaxed);
    return rs;
}

void
pol_ruleset_unref(struct pol_ruleset *rs)
{
    if (rs == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&rs->refs, 1, memory_order_acq_rel) == 1) {
        pol_ruleset_free(rs);
    }
}

static void
pol_ruleset_free(struct pol_ruleset *rs)
{
    size_t i;

    for (i = 0; i < rs->ntables; i++) {
        pol_table_free(rs->tables[i]);
    }
    free(rs->tables);
    pcre2_match_data_free(rs->md);
    pcre2_match_context_free(rs->mctx);
    pcre2_jit_stack_free(rs->jit);
    pol_arena_free(&rs->arena);
    free(rs);
}

size_t
pol_ruleset_rules_at(const struct pol_ruleset *rs, enum pol_stage s)
{
    if ((unsigned)s >= POL_STAGE_COUNT) {
        return 0;
    }
    return rs->stage_start[s + 1] - rs->stage_start[s];
}

size_t
pol_ruleset_nrules(const struct pol_ruleset *rs)
{
    return rs->nrules;
}

const char *
pol_ruleset_rule(const struct pol_ruleset *rs, size_t i, enum pol_stage *stage)
{
    if (i >= rs->nrules) {
        return NULL;
    }
    if (stage != NULL) {
        *stage = rs->rules[i].stage;
    }
    return rs->rules[i].name;
}

bool
pol_ruleset_can_require_tls(const struct pol_ruleset *rs)
{
    size_t i;
    size_t k;

    for (i = 0; i < rs->nrules; i++) {
        for (k = 0; k < rs->rules[i].nactions; k++) {
            if (rs->rules[i].actions[k].kind == POL_ACT_REQUIRE_TLS) {
                return true;
            }
        }
    }
    for (i = 0; i < rs->ntables; i++) {
        for (k = 0; k < rs->tables[i]->nentries; k++) {
            const struct pol_action *a = rs->tables[i]->entries[k].action;

            if (a != NULL && a->kind == POL_ACT_REQUIRE_TLS) {
                return true;
            }
        }
    }
    return false;
}

size_t
pol_ruleset_ntables(const struct pol_ruleset *rs)
{
    return rs->ntables;
}

const char *
pol_ruleset_table_source(const struct pol_ruleset *rs, size_t i)
{
    return i < rs->ntables && rs->tables[i]->from_file ? rs->tables[i]->source
                                                       : NULL;
}

bool
pol_ruleset_uses_counters(const struct pol_ruleset *rs)
{
    return rs->uses_counters;
}

/* ---- compile ------------------------------------------------------------ */

struct pol_ruleset *
pol_compile(const struct pol_spec *spec, struct pol_errors *errs)
{
    struct pol_cc cc;
    struct pol_rule *tmp = NULL;
    size_t i;

    memset(&cc, 0, sizeof(cc));
    cc.errs = errs;
    cc.spec = spec;
    if (errs != NULL) {
        errs->count = 0;
        errs->dropped = 0;
    }
    if (spec == NULL || (spec->nrules > 0 && spec->rules == NULL)) {
        pol_cc_error(&cc, NULL, 0, 0, "no policy given");
        return NULL;
    }
    if (spec->nrules > POL_MAX_RULES) {
        pol_cc_error(&cc, NULL, 0, 0, "more than %u rules", POL_MAX_RULES);
        return NULL;
    }
    cc.rs = calloc(1, sizeof(*cc.rs));
    if (cc.rs == NULL) {
        pol_cc_error(&cc, NULL, 0, 0, "out of memory");
        return NULL;
    }
    atomic_init(&cc.rs->refs, 1);
    if (spec->nrules > 0) {
        tmp = pol_arena_alloc(&cc.rs->arena, spec->nrules * sizeof(*tmp));
        if (tmp == NULL) {
            pol_cc_error(&cc, NULL, 0, 0, "out of memory");
        }
    }
    for (i = 0; tmp != NULL && i < spec->nrules; i++) {
        (void)pol_rule_compile(&cc, &spec->rules[i], i, &tmp[i]);
    }
    if (cc.nerrors == 0) {
        pol_rules_order(&cc, tmp, spec->nrules);
        pol_rules_names(&cc);
        pol_rules_unreachable(&cc);
    }
    if (cc.nerrors == 0) {
        (void)pol_scratch_new(&cc);
    }
    for (i = 0; i < cc.nrefs; i++) {
        free(cc.refs[i].path);
    }
    free(cc.refs);
    if (cc.nerrors > 0) {
        pol_ruleset_free(cc.rs);
        return NULL;
    }
    return cc.rs;
}

static int
pol_scratch_new(struct pol_cc *cc)
{
    const struct pol_spec *sp = cc->spec;
    struct pol_ruleset *rs = cc->rs;
    uint32_t jit = 0;

    rs->mctx = pcre2_match_context_create(NULL);
    rs->md = pcre2_match_data_create(1, NULL);
    if (rs->mctx == NULL || rs->md == NULL) {
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return -1;
    }
    pcre2_set_match_limit(rs->mctx, sp->match_limit != 0 ? sp->match_limit
                                                         : POL_DEF_MATCH_LIMIT);
    pcre2_set_depth_limit(rs->mctx, sp->depth_limit != 0 ? sp->depth_limit
                                                         : POL_DEF_DEPTH_LIMIT);
    pcre2_set_heap_limit(rs->mctx, sp->heap_limit_kib != 0
                                       ? sp->heap_limit_kib
                                       : POL_DEF_HEAP_LIMIT_KIB);
    if (pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit == 1) {
        /* the default JIT stack (32K, on the machine stack) is small for
         * some patterns; a private one grows to 1M, then errors */
        rs->jit = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
        if (rs->jit == NULL) {
            pol_cc_error(cc, NULL, 0, 0, "out of memory");
            return -1;
        }
        pcre2_jit_stack_assign(rs->mctx, NULL, rs->jit);
    }
    return 0;
}

/* ---- rules -------------------------------------------------------------- */

static int
pol_rule_compile(struct pol_cc *cc, const struct pol_rule_spec *sp,
                 size_t index, struct pol_rule *out)
{
    const struct pol_loc *sl = &sp->stage_loc;
    size_t before = cc->nerrors;
    size_t i;

    memset(out, 0, sizeof(*out));
    out->action_cond = -1;
    out->src = sp->loc.source;
    out->line = sp->loc.line;
    out->column = sp->loc.column;
    if (pol_rule_name(cc, sp, index, out) != 0) {
        return -1;
    }
    if (sl->line == 0) {
        sl = &sp->loc;
    }
    if (sp->stage == NULL || sp->stage[0] == '\0') {
        pol_cc_error(cc, sl->source, sl->line, sl->column,
                     "rule %s has no stage", out->name);
        return -1;
    }
    out->stage = pol_stage_from_name(sp->stage, strlen(sp->stage));
    if (out->stage == POL_STAGE_COUNT) {
        pol_cc_error(cc, sl->source, sl->line, sl->column,
                     "unknown stage '%.40s' (connect, helo, starttls, auth, "
                     "mail, rcpt, header, eom)",
                     sp->stage);
        return -1;
    }
    if (sp->nconds > POL_MAX_CONDS || (sp->nconds > 0 && sp->conds == NULL)) {
        pol_cc_error(cc, sp->loc.source, sp->loc.line, sp->loc.column,
                     "a rule has at most %u conditions", POL_MAX_CONDS);
        return -1;
    }
    if (sp->nconds > 0) {
        out->conds =
            pol_arena_alloc(&cc->rs->arena, sp->nconds * sizeof(*out->conds));
        if (out->conds == NULL) {
            pol_cc_error(cc, NULL, 0, 0, "out of memory");
            return -1;
        }
    }
    out->nconds = sp->nconds;
    for (i = 0; i < sp->nconds; i++) {
        (void)pol_cond_compile(cc, out, &sp->conds[i], i, &out->conds[i]);
    }
    if (cc->nerrors > before) {
        return -1;
    }
    return pol_rule_actions(cc, sp, out);
}

/* Names are printable ASCII without blanks, quotes or backslashes; the
 * default is "SOURCE:LINE". */
static int
pol_rule_name(struct pol_cc *cc, const struct pol_rule_spec *sp, size_t index,
              struct pol_rule *out)
{
    const char *src = sp->loc.source != NULL ? sp->loc.source : "<policy>";
    size_t len;
    size_t i;

    out->location =
        sp->loc.line > 0
            ? pol_arena_printf(&cc->rs->arena, "%s:%u", src, sp->loc.line)
            : pol_arena_printf(&cc->rs->arena, "%s:rule%zu", src, index + 1);
    if (out->location == NULL) {
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return -1;
    }
    if (sp->name == NULL || sp->name[0] == '\0') {
        out->name = out->location;
        return 0;
    }
    len = strlen(sp->name);
    for (i = 0; i < len; i++) {
        uint8_t c = (uint8_t)sp->name[i];

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            break;
        }
    }
    if (i < len || len > POL_MAX_NAME) {
        pol_cc_error(cc, sp->loc.source, sp->loc.line, sp->loc.column,
                     "a rule name is 1 to %u printable characters without "
                     "blanks, quotes or backslashes",
                     POL_MAX_NAME);
        return -1;
    }
    out->name = pol_arena_strndup(&cc->rs->arena, sp->name, len);
    if (out->name == NULL) {
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return -1;
    }
    return 0;
}

static int
pol_rule_actions(struct pol_cc *cc, const struct pol_rule_spec *sp,
                 struct pol_rule *r)
{
    unsigned seen = 0; /* bit per pol_act kind */
    size_t i;

    if (sp->nactions > POL_MAX_ACTIONS ||
        (sp->nactions > 0 && sp->actions == NULL)) {
        pol_cc_error(cc, sp->loc.source, sp->loc.line, sp->loc.column,
                     "a rule has at most %u actions", POL_MAX_ACTIONS);
        return -1;
    }
    if (sp->nactions == 0) {
        return pol_rule_table_action(cc, sp, r);
    }
    r->actions =
        pol_arena_alloc(&cc->rs->arena, sp->nactions * sizeof(*r->actions));
    if (r->actions == NULL) {
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return -1;
    }
    for (i = 0; i < sp->nactions; i++) {
        const struct pol_value_spec *v = &sp->actions[i];
        const struct pol_loc *l = v->loc.line > 0 ? &v->loc : &sp->loc;
        struct pol_action *a = &r->actions[i];
        const char *text = v->text != NULL ? v->text : "";
        unsigned bit;

        if (pol_action_parse(cc, &cc->rs->arena, text, strlen(text), l->source,
                             l->line, l->column, a) != 0 ||
            pol_action_check(cc, a, r->stage, l->source, l->line, l->column) !=
                0) {
            return -1;
        }
        bit = pol_action_is_terminal(a) ? 1u << 31 : 1u << a->kind;
        if ((seen & bit) != 0 && a->kind != POL_ACT_ADD_HEADER &&
            a->kind != POL_ACT_SET_LIMIT && a->kind != POL_ACT_CONTINUE) {
            pol_cc_error(cc, l->source, l->line, l->column,
                         pol_action_is_terminal(a)
                             ? "a rule has at most one terminal action"
                             : "this action is already given in this rule");
            return -1;
        }
        seen |= bit;
        r->terminal = r->terminal || pol_action_is_terminal(a);
    }
    r->nactions = sp->nactions;
    for (i = 0; i < r->nconds; i++) {
        const struct pol_cond *c = &r->conds[i];
        size_t j;

        for (j = 0; j < c->ntables; j++) {
            if (c->tables[j]->with_action > 0) {
                pol_cc_error(cc, c->tables[j]->source,
                             c->tables[j]->first_action_line, 0,
                             "this table's lines carry actions, but rule %s "
                             "(%s) gives its own: remove one or the other",
                             r->name, r->location);
                return -1;
            }
        }
    }
    return 0;
}

/* No action of its own: the first non-negated table condition whose table
 * lines carry actions gives the action, and every line must carry one. */
static int
pol_rule_table_action(struct pol_cc *cc, const struct pol_rule_spec *sp,
                      struct pol_rule *r)
{
    size_t i;
    size_t j;
    size_t k;

    for (i = 0; i < r->nconds; i++) {
        const struct pol_cond *c = &r->conds[i];
        const struct pol_table *t = NULL;

        for (j = 0; j < c->ntables && t == NULL; j++) {
            if (c->tables[j]->with_action > 0) {
                t = c->tables[j];
            }
        }
        if (t == NULL) {
            continue;
        }
        if (c->match != POL_M_TABLE || c->negate || r->action_cond >= 0) {
            pol_cc_error(cc, t->source, t->first_action_line, 0,
                         "this table's actions cannot give rule %s (%s) "
                         "its action: only one non-negated table "
                         "condition may",
                         r->name, r->location);
            return -1;
        }
        r->action_cond = (long)i;
    }
    if (r->action_cond < 0) {
        pol_cc_error(cc, sp->loc.source, sp->loc.line, sp->loc.column,
                     "rule %s has no action: give one, or use a table whose "
                     "lines carry actions",
                     r->name);
        return -1;
    }
    for (j = 0; j < r->conds[r->action_cond].ntables; j++) {
        const struct pol_table *t = r->conds[r->action_cond].tables[j];

        if (t->with_action != t->nentries) {
            pol_cc_error(cc, t->source, t->first_plain_line, 0,
                         "no action on this line, but this table gives rule "
                         "%s (%s) its action",
                         r->name, r->location);
            return -1;
        }
        for (k = 0; k < t->nentries; k++) {
            if (pol_action_check(cc, t->entries[k].action, r->stage, t->source,
                                 t->entries[k].line, 0) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* ---- conditions --------------------------------------------------------- */

static int
pol_cond_compile(struct pol_cc *cc, const struct pol_rule *r,
                 const struct pol_cond_spec *cs, size_t index,
                 struct pol_cond *out)
{
    const struct pol_loc *l = &cs->loc;
    const char *fact = cs->fact != NULL ? cs->fact : "";
    const struct pol_fact_def *fd;

    memset(out, 0, sizeof(*out));
    out->negate = cs->negate;
    out->fact = pol_fact_from_name(fact, strlen(fact));
    if (out->fact == POL_FACT_COUNT) {
        pol_cc_error(cc, l->source, l->line, l->column, "unknown fact '%.40s'",
                     fact);
        return -1;
    }
    fd = &pol_fact_defs[out->fact];
    if (!pol_fact_at_stage(out->fact, r->stage)) {
        pol_cc_error(cc, l->source, l->line, l->column,
                     "fact '%s' is not known at stage %s (only from %s to "
                     "%s)",
                     fd->name, pol_stage_name(r->stage),
                     pol_stage_name(fd->first), pol_stage_name(fd->last));
        return -1;
    }
    if (pol_cond_kind(cc, cs, out) != 0) {
        return -1;
    }
    return pol_cond_values(cc, r, cs, index, out);
}

/* The match kind, and whether it applies to the fact's type. */
static int
pol_cond_kind(struct pol_cc *cc, const struct pol_cond_spec *cs,
              struct pol_cond *out)
{
    const struct pol_loc *l = &cs->loc;
    const struct pol_fact_def *fd = &pol_fact_defs[out->fact];
    const char *m = cs->match;
    enum pol_ftype t = fd->type;
    bool ok;
    unsigned i;

    if (m == NULL || m[0] == '\0') {
        static const enum pol_match def[] = {POL_M_IEQ, POL_M_CIDR, POL_M_CMP,
                                             POL_M_IS};

        out->match = def[t];
    } else {
        for (i = 0; i < POL_M_COUNT; i++) {
            if (strcmp(m, pol_match_names[i]) == 0) {
                break;
            }
        }
        if (i == POL_M_COUNT) {
            pol_cc_error(cc, l->source, l->line, l->column,
                         "unknown match '%.40s' (regex, eq, ieq, domain, "
                         "cidr, table, cmp, is, present, rate, "
                         "connections)",
                         m);
            return -1;
        }
        out->match = (enum pol_match)i;
    }
    switch (out->match) {
    case POL_M_REGEX:
    case POL_M_EQ:
    case POL_M_IEQ:
    case POL_M_TABLE:
    case POL_M_RATE:
        ok = t == POL_FT_STR || t == POL_FT_ADDR;
        break;
    case POL_M_DOMAIN:
        ok = t == POL_FT_STR && fd->dom != POL_FD_NONE;
        break;
    case POL_M_CIDR:
        ok = t == POL_FT_ADDR;
        break;
    case POL_M_CMP:
        ok = t == POL_FT_NUM;
        break;
    case POL_M_IS:
        ok = t == POL_FT_BOOL;
        break;
    case POL_M_PRESENT:
        ok = t != POL_FT_BOOL;
        break;
    case POL_M_CONNECTIONS:
        ok = out->fact == POL_FACT_CLIENT_ADDRESS;
        break;
    default:
        ok = false;
        break;
    }
    if (!ok) {
        pol_cc_error(cc, l->source, l->line, l->column,
                     "'%s' cannot match fact '%s'", pol_match_names[out->match],
                     fd->name);
        return -1;
    }
    if (cs->flags != NULL && cs->flags[0] != '\0' &&
        out->match != POL_M_REGEX) {
        pol_cc_error(cc, l->source, l->line, l->column,
                     "flags are for regex matches only");
        return -1;
    }
    return 0;
}

static int
pol_cond_values(struct pol_cc *cc, const struct pol_rule *r,
                const struct pol_cond_spec *cs, size_t index,
                struct pol_cond *out)
{
    const struct pol_loc *l = &cs->loc;
    const struct pol_value_spec *v = cs->values;
    const char *why = "";
    size_t at = 0;
    long bad;

    if (out->match == POL_M_PRESENT) {
        if (cs->nvalues > 0) {
            pol_cc_error(cc, l->source, l->line, l->column,
                         "'present' takes no value");
            return -1;
        }
        return 0;
    }
    if (cs->nvalues == 0 || v == NULL) {
        pol_cc_error(cc, l->source, l->line, l->column, "'%s' needs a value",
                     pol_match_names[out->match]);
        return -1;
    }
    for (at = 0; at < cs->nvalues; at++) {
        if (v[at].text == NULL) {
            pol_cc_error(cc, l->source, l->line, l->column, "empty value");
            return -1;
        }
    }
    at = 0;
    switch (out->match) {
    case POL_M_TABLE:
        return pol_cond_tables(cc, cs, out);
    case POL_M_CMP:
    case POL_M_IS:
    case POL_M_RATE:
    case POL_M_CONNECTIONS:
        break;
    default:
        return pol_cond_inline(cc, cs, out);
    }
    if (cs->nvalues != 1) {
        pol_cc_error(cc, v[1].loc.source, v[1].loc.line, v[1].loc.column,
                     "'%s' takes one value", pol_match_names[out->match]);
        return -1;
    }
    l = v[0].loc.line > 0 ? &v[0].loc : &cs->loc;
    switch (out->match) {
    case POL_M_IS:
        if (pol_bool_parse(v[0].text, &out->truth) != 0) {
            pol_cc_error(cc, l->source, l->line, l->column,
                         "expected true or false");
            return -1;
        }
        return 0;
    case POL_M_RATE:
        if (pol_rate_parse(v[0].text, strlen(v[0].text), &out->bucket, &at,
                           &why) != 0) {
            pol_cc_error(cc, l->source, l->line,
                         l->column > 0 ? l->column + (unsigned)at : 0,
                         "bad rate: %s (like 100/1h or 30/1m burst 60)", why);
            return -1;
        }
        out->ns =
            pol_arena_printf(&cc->rs->arena, "rate:%s:%zu", r->name, index);
        cc->rs->uses_counters = true;
        break;
    default: /* CMP, CONNECTIONS */
        bad = pol_parse_cmp(v[0].text, strlen(v[0].text), &out->cmp, &out->num,
                            &why);
        if (bad >= 0) {
            pol_cc_error(cc, l->source, l->line,
                         l->column > 0 ? l->column + (unsigned)bad : 0, "%s",
                         why);
            return -1;
        }
        if (out->match == POL_M_CONNECTIONS) {
            out->ns = "conn";
            cc->rs->uses_counters = true;
        } else {
            return 0;
        }
        break;
    }
    if (out->ns == NULL) {
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return -1;
    }
    out->ns_len = strlen(out->ns);
    return 0;
}

/* Inline values become one anonymous table. */
static int
pol_cond_inline(struct pol_cc *cc, const struct pol_cond_spec *cs,
                struct pol_cond *out)
{
    static const enum pol_table_kind kinds[] = {
        [POL_M_REGEX] = POL_TK_REGEX, [POL_M_EQ] = POL_TK_EQ,
        [POL_M_IEQ] = POL_TK_IEQ,     [POL_M_DOMAIN] = POL_TK_DOMAIN,
        [POL_M_CIDR] = POL_TK_CIDR,
    };
    const struct pol_loc *l = &cs->loc;
    struct pol_table *t;
    uint32_t flags = 0;
    size_t before = cc->nerrors;
    size_t bad = 0;
    size_t i;

    if (cs->flags != NULL &&
        pol_regex_flags(cs->flags, strlen(cs->flags), &flags, &bad) != 0) {
        pol_cc_error(cc, l->source, l->line, l->column,
                     "unknown regex flag '%c' (i m s x U u)", cs->flags[bad]);
        return -1;
    }
    t = pol_table_new(kinds[out->match], cs->values[0].loc.source != NULL
                                             ? cs->values[0].loc.source
                                             : l->source);
    out->tables = pol_arena_alloc(&cc->rs->arena, sizeof(*out->tables));
    if (t == NULL || out->tables == NULL ||
        pol_ruleset_own_table(cc->rs, t) != 0) {
        pol_table_free(t);
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return -1;
    }
    out->tables[0] = t;
    out->ntables = 1;
    for (i = 0; i < cs->nvalues; i++) {
        const struct pol_value_spec *v = &cs->values[i];
        const struct pol_loc *vl = v->loc.line > 0 ? &v->loc : l;

        (void)pol_table_add(cc, t, v->text, strlen(v->text), flags, false, NULL,
                            vl->line, vl->column);
    }
    return cc->nerrors > before ? -1 : 0;
}

static int
pol_cond_tables(struct pol_cc *cc, const struct pol_cond_spec *cs,
                struct pol_cond *out)
{
    const struct pol_fact_def *fd = &pol_fact_defs[out->fact];
    size_t i;

    out->tables =
        pol_arena_alloc(&cc->rs->arena, cs->nvalues * sizeof(*out->tables));
    if (out->tables == NULL) {
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return -1;
    }
    for (i = 0; i < cs->nvalues; i++) {
        const struct pol_value_spec *v = &cs->values[i];
        const struct pol_loc *vl = v->loc.line > 0 ? &v->loc : &cs->loc;
        struct pol_table *t = pol_table_load(cc, v->text, vl);

        if (t == NULL) {
            return -1;
        }
        if ((t->kind == POL_TK_CIDR && fd->type != POL_FT_ADDR) ||
            (t->kind == POL_TK_DOMAIN && fd->dom == POL_FD_NONE)) {
            pol_cc_error(cc, vl->source, vl->line, vl->column,
                         "a %s table cannot match fact '%s'",
                         t->kind == POL_TK_CIDR ? "cidr" : "domain", fd->name);
            return -1;
        }
        out->tables[out->ntables++] = t;
    }
    return 0;
}

/* "100/1h", "100 per 1h", "30/1m burst 60" */
static int
pol_rate_parse(const char *p, size_t len, struct pol_bucket *b, size_t *at,
               const char **why)
{
    size_t i = 0;
    size_t s;
    uint64_t n;
    uint64_t ms;

    memset(b, 0, sizeof(*b));
    while (i < len && pol_is_digit((uint8_t)p[i])) {
        i++;
    }
    if (pol_parse_u64(p, i, &n, why) != 0 || n == 0 || n > 1000000000) {
        *why = "the count must be from 1 to 1000000000";
        *at = 0;
        return -1;
    }
    while (i < len && pol_is_space((uint8_t)p[i])) {
        i++;
    }
    if (i < len && p[i] == '/') {
        i++;
    } else if (i + 3 <= len && memcmp(p + i, "per", 3) == 0) {
        i += 3;
    } else {
        *why = "expected '/' or 'per' after the count";
        *at = i;
        return -1;
    }
    while (i < len && pol_is_space((uint8_t)p[i])) {
        i++;
    }
    s = i;
    while (i < len && !pol_is_space((uint8_t)p[i])) {
        i++;
    }
    if (pol_parse_duration(p + s, i - s, &ms, why) != 0) {
        *at = s;
        return -1;
    }
    if (ms == 0 || ms > 30ull * 86400000) {
        *why = "the period must be from 1ms to 30d";
        *at = s;
        return -1;
    }
    b->count = (uint32_t)n;
    b->burst = (uint32_t)n;
    b->per_ms = ms;
    while (i < len && pol_is_space((uint8_t)p[i])) {
        i++;
    }
    if (i == len) {
        return 0;
    }
    if (i + 5 > len || memcmp(p + i, "burst", 5) != 0) {
        *why = "expected 'burst N' or the end";
        *at = i;
        return -1;
    }
    i += 5;
    while (i < len && pol_is_space((uint8_t)p[i])) {
        i++;
    }
    s = i;
    if (pol_parse_u64(p + s, len - s, &n, why) != 0 || n == 0 ||
        n > 1000000000) {
        *why = "the burst must be from 1 to 1000000000";
        *at = s;
        return -1;
    }
    b->burst = (uint32_t)n;
    return 0;
}

static int
pol_bool_parse(const char *p, bool *out)
{
    size_t len = strlen(p);

    if (pol_ieq(p, len, "true") || pol_ieq(p, len, "yes") ||
        pol_ieq(p, len, "on")) {
        *out = true;
        return 0;
    }
    if (pol_ieq(p, len, "false") || pol_ieq(p, len, "no") ||
        pol_ieq(p, len, "off")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* ---- whole-policy checks ------------------------------------------------ */

/* Stable counting sort by stage: spec order is kept within a stage. */
static void
pol_rules_order(struct pol_cc *cc, struct pol_rule *tmp, size_t n)
{
    struct pol_ruleset *rs = cc->rs;
    size_t fill[POL_STAGE_COUNT];
    size_t i;

    memset(rs->stage_start, 0, sizeof(rs->stage_start));
    for (i = 0; i < n; i++) {
        rs->stage_start[tmp[i].stage + 1]++;
    }
    for (i = 0; i < POL_STAGE_COUNT; i++) {
        rs->stage_start[i + 1] += rs->stage_start[i];
        fill[i] = rs->stage_start[i];
    }
    if (n == 0) {
        return;
    }
    rs->rules = pol_arena_alloc(&rs->arena, n * sizeof(*rs->rules));
    if (rs->rules == NULL) {
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return;
    }
    for (i = 0; i < n; i++) {
        rs->rules[fill[tmp[i].stage]++] = tmp[i];
    }
    rs->nrules = n;
}

/* A rule after an unconditional terminal rule of its stage never runs. */
static void
pol_rules_unreachable(struct pol_cc *cc)
{
    const struct pol_ruleset *rs = cc->rs;
    unsigned s;
    size_t i;

    for (s = 0; s < POL_STAGE_COUNT; s++) {
        for (i = rs->stage_start[s]; i + 1 < rs->stage_start[s + 1]; i++) {
            const struct pol_rule *r = &rs->rules[i];
            const struct pol_rule *next = &rs->rules[i + 1];

            if (r->nconds == 0 && r->terminal) {
                pol_cc_error(cc, next->src, next->line, next->column,
                             "rule %s can never run: rule %s (%s) before it "
                             "at stage %s has no condition and always "
                             "decides",
                             next->name, r->name, r->location,
                             pol_stage_name(r->stage));
                break;
            }
        }
    }
}

static int
pol_name_cmp(const void *a, const void *b)
{
    const struct pol_name_ix *x = a;
    const struct pol_name_ix *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0) {
        return c;
    }
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static void
pol_rules_names(struct pol_cc *cc)
{
    const struct pol_ruleset *rs = cc->rs;
    struct pol_name_ix *ix;
    size_t i;

    if (rs->nrules < 2) {
        return;
    }
    ix = malloc(rs->nrules * sizeof(*ix));
    if (ix == NULL) {
        pol_cc_error(cc, NULL, 0, 0, "out of memory");
        return;
    }
    for (i = 0; i < rs->nrules; i++) {
        ix[i].name = rs->rules[i].name;
        ix[i].rule = &rs->rules[i];
    }
    qsort(ix, rs->nrules, sizeof(*ix), pol_name_cmp);
    for (i = 1; i < rs->nrules; i++) {
        if (strcmp(ix[i].name, ix[i - 1].name) == 0) {
            const struct pol_rule *r = ix[i].rule;

            pol_cc_error(cc, r->src, r->line, r->column,
                         "another rule is named %s (%s): names must be "
                         "unique",
                         r->name, ix[i - 1].rule->location);
        }
    }
    free(ix);
}
