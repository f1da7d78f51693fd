/*
 * Configuration, the `policy` section: YAML nodes -> policy's rule specs
 * (policy/pol_spec.h) -> a compiled ruleset. Policy owns the vocabulary
 * (stages, facts, match kinds, actions) and checks it; this file only
 * copies scalars with their positions, and reports unknown keys and wrong
 * shapes. The YAML shape is the one docs/policy.md describes.
 */
#include "gateway/gw_config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_str.h"
#include "policy/policy.h"

/* All the arrays one compile needs, freed together afterwards. */
struct gw_cfg_pol {
    struct gw_cfg_ctx *ctx;
    struct pol_rule_spec *rules;
    size_t nrules;
    void **allocs;
    size_t nallocs;
    size_t allocs_cap;
    bool failed;
};

static void *
gw_cfg_pol_alloc(struct gw_cfg_pol *p, size_t n, size_t size)
{
    void *mem;
    void **grown;

    if (n == 0) {
        n = 1;
    }
    if (p->nallocs == p->allocs_cap) {
        size_t cap = p->allocs_cap == 0 ? 16 : p->allocs_cap * 2;

        grown = gw_calloc(cap, sizeof(*grown));
        if (grown == NULL) {
            p->failed = true;
            return NULL;
        }
        if (p->allocs != NULL) {
            memcpy(grown, p->allocs, p->nallocs * sizeof(*grown));
            gw_free(p->allocs);
        }
        p->allocs = grown;
        p->allocs_cap = cap;
    }
    mem = gw_calloc(n, size);
    if (mem == NULL) {
        p->failed = true;
        return NULL;
    }
    p->allocs[p->nallocs++] = mem;
    return mem;
}

static struct pol_loc
gw_cfg_pol_loc(const struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos)
{
    struct pol_loc loc;

    loc.source = pos->override != NULL ? "<-o>" : ctx->source;
    loc.line = (unsigned)pos->line;
    loc.column = (unsigned)pos->col;
    return loc;
}

/* A scalar or a list of scalars -> values. */
static bool
gw_cfg_pol_values(struct gw_cfg_pol *p, const struct gw_cfg_node *n,
                  const char *path, const struct pol_value_spec **out,
                  size_t *count)
{
    struct pol_value_spec *v;
    const struct gw_cfg_node *el;
    size_t i = 0;

    if (n->kind == GW_CFG_MAP) {
        gw_cfg_error(p->ctx, &n->pos, "%s: expected a value or a list, got "
                     "a map", path);
        return false;
    }
    v = gw_cfg_pol_alloc(p, n->kind == GW_CFG_SEQ ? n->nchild : 1,
                         sizeof(*v));
    if (v == NULL) {
        return false;
    }
    if (n->kind == GW_CFG_SCALAR) {
        v[0].text = n->text != NULL ? n->text : "";
        v[0].loc = gw_cfg_pol_loc(p->ctx, &n->pos);
        *out = v;
        *count = 1;
        return true;
    }
    for (el = n->child; el != NULL; el = el->next, i++) {
        if (el->kind != GW_CFG_SCALAR) {
            gw_cfg_error(p->ctx, &el->pos, "%s: expected a value, got %s",
                         path, gw_cfg_kind_name(el));
            return false;
        }
        v[i].text = el->text != NULL ? el->text : "";
        v[i].loc = gw_cfg_pol_loc(p->ctx, &el->pos);
    }
    *out = v;
    *count = i;
    return true;
}

/* One item of `if:`, a map of one fact: FACT: VALUE(S), or
 * FACT: {KIND: VALUE(S), not: BOOL, flags: LETTERS}. */
static void
gw_cfg_pol_cond(struct gw_cfg_pol *p, const struct gw_cfg_node *item,
                struct pol_cond_spec *c, const char *path)
{
    const struct gw_cfg_node *f;
    const struct gw_cfg_node *m;

    if (item->kind != GW_CFG_MAP || item->nchild != 1) {
        gw_cfg_error(p->ctx, &item->pos, "%s: expected one 'fact: value' "
                     "pair", path);
        return;
    }
    f = item->child;
    c->loc = gw_cfg_pol_loc(p->ctx, &f->kpos);
    c->fact = f->key;
    if (f->kind != GW_CFG_MAP) {
        gw_cfg_pol_values(p, f, path, &c->values, &c->nvalues);
        return;
    }
    for (m = f->child; m != NULL; m = m->next) {
        if (strcmp(m->key, "not") == 0) {
            const char *s = gw_cfg_scalar(p->ctx, m, path, "true or false");

            c->negate = s != NULL && (strcmp(s, "true") == 0 ||
                                      strcmp(s, "yes") == 0);
        } else if (strcmp(m->key, "flags") == 0) {
            c->flags = gw_cfg_scalar(p->ctx, m, path, "regex flags");
        } else if (c->match == NULL) {
            c->match = m->key;
            if (strcmp(m->key, "present") == 0) {
                const char *s = gw_cfg_scalar(p->ctx, m, path,
                                              "true or false");

                c->negate = s != NULL && (strcmp(s, "false") == 0 ||
                                          strcmp(s, "no") == 0);
            } else {
                gw_cfg_pol_values(p, m, path, &c->values, &c->nvalues);
            }
        } else {
            gw_cfg_error(p->ctx, &m->kpos, "%s: one match kind per "
                         "condition ('%s' after '%s')", path, m->key,
                         c->match);
        }
    }
}

static void
gw_cfg_pol_rule(struct gw_cfg_pol *p, const struct gw_cfg_node *r,
                struct pol_rule_spec *rule, size_t idx)
{
    char path[GW_CFG_PATH_MAX];
    const struct gw_cfg_node *m;
    const struct gw_cfg_node *el;
    struct pol_cond_spec *conds;
    size_t i;

    snprintf(path, sizeof(path), "policy.rules.%zu", idx);
    rule->loc = gw_cfg_pol_loc(p->ctx, &r->pos);
    if (r->kind != GW_CFG_MAP) {
        gw_cfg_error(p->ctx, &r->pos, "%s: expected a map (stage, if, "
                     "then), got %s", path, gw_cfg_kind_name(r));
        return;
    }
    for (m = r->child; m != NULL; m = m->next) {
        if (strcmp(m->key, "name") == 0) {
            rule->name = gw_cfg_scalar(p->ctx, m, path, "a rule name");
        } else if (strcmp(m->key, "stage") == 0) {
            rule->stage = gw_cfg_scalar(p->ctx, m, path, "a stage");
            rule->stage_loc = gw_cfg_pol_loc(p->ctx, &m->pos);
        } else if (strcmp(m->key, "if") == 0) {
            if (m->kind != GW_CFG_SEQ) {
                gw_cfg_error(p->ctx, &m->pos, "%s.if: expected a list of "
                             "conditions", path);
                continue;
            }
            conds = gw_cfg_pol_alloc(p, m->nchild, sizeof(*conds));
            if (conds == NULL) {
                return;
            }
            for (el = m->child, i = 0; el != NULL; el = el->next, i++) {
                gw_cfg_pol_cond(p, el, &conds[i], path);
            }
            rule->conds = conds;
            rule->nconds = i;
        } else if (strcmp(m->key, "then") == 0) {
            gw_cfg_pol_values(p, m, path, &rule->actions, &rule->nactions);
        } else {
            gw_cfg_unknown_key(p->ctx, m, "in a policy rule");
        }
    }
    if (rule->stage == NULL) {
        gw_cfg_error(p->ctx, &r->pos, "%s: no stage", path);
    }
}

static void
gw_cfg_pol_free(struct gw_cfg_pol *p)
{
    size_t i;

    for (i = 0; i < p->nallocs; i++) {
        gw_free(p->allocs[i]);
    }
    gw_free(p->allocs);
}

/* ---- the effective policy, as YAML (postern -n) ------------------------ */

/* A double-quoted YAML scalar: backslash, quote and control bytes
 * escaped, so any regex or reply text loads back the same. */
static void
gw_cfg_pol_quote(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            fprintf(fp, "\\%c", ch);
        } else if (ch < 0x20 || ch == 0x7f) {
            fprintf(fp, "\\x%02x", ch);
        } else {
            fputc(ch, fp);
        }
    }
    fputc('"', fp);
}

/* A rule name the parser takes back (docs/policy.md): a default
 * "file:line" name under a path with blanks is left to default again. */
static bool
gw_cfg_pol_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 128 && strpbrk(s, " \t\"'\\") == NULL;
}

static void
gw_cfg_pol_print_values(FILE *fp, const struct pol_value_spec *v, size_t n,
                        bool is_table, const char *base_dir)
{
    size_t i;

    fputc('[', fp);
    for (i = 0; i < n; i++) {
        const char *colon = is_table ? strchr(v[i].text, ':') : NULL;

        fputs(i > 0 ? ", " : "", fp);
        if (colon != NULL && colon[1] != '/' && base_dir != NULL) {
            /* a relative table path, made absolute as the loader does */
            char full[GW_PATH_MAX * 2];

            snprintf(full, sizeof(full), "%.*s:%s/%s",
                     (int)(colon - v[i].text), v[i].text, base_dir,
                     colon + 1);
            gw_cfg_pol_quote(fp, full);
        } else {
            gw_cfg_pol_quote(fp, v[i].text);
        }
    }
    fputc(']', fp);
}

/* The policy section with every setting filled in and every rule named,
 * so that -n prints a configuration that loads back into the same one. */
static char *
gw_cfg_pol_render(const struct pol_spec *spec, size_t counters)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    size_t i;
    size_t k;

    if (fp == NULL) {
        return NULL;
    }
    fprintf(fp, "policy:\n  match_limit: %u\n  depth_limit: %u\n"
            "  heap_limit: %uK\n  counters:\n    capacity: %zu\n",
            spec->match_limit != 0 ? spec->match_limit : POL_DEF_MATCH_LIMIT,
            spec->depth_limit != 0 ? spec->depth_limit : POL_DEF_DEPTH_LIMIT,
            spec->heap_limit_kib != 0 ? spec->heap_limit_kib
                                      : POL_DEF_HEAP_LIMIT_KIB,
            counters != 0 ? counters : (size_t)GW_DEF_POLICY_COUNTERS);
    fprintf(fp, "  rules:\n");
    for (i = 0; i < spec->nrules; i++) {
        const struct pol_rule_spec *r = &spec->rules[i];
        char deflt[GW_PATH_MAX + 16];
        const char *name = r->name;

        if (name == NULL || name[0] == '\0') {
            snprintf(deflt, sizeof(deflt), "%s:%u",
                     r->loc.source != NULL ? r->loc.source : "<policy>",
                     r->loc.line);
            name = deflt;
        }
        fprintf(fp, "    - ");
        if (gw_cfg_pol_name_ok(name)) {
            fprintf(fp, "name: ");
            gw_cfg_pol_quote(fp, name);
            fprintf(fp, "\n      ");
        }
        fprintf(fp, "stage: %s\n", r->stage);
        if (r->nconds > 0) {
            fprintf(fp, "      if:\n");
        }
        for (k = 0; k < r->nconds; k++) {
            const struct pol_cond_spec *c = &r->conds[k];
            bool present = c->match != NULL && strcmp(c->match, "present") == 0;

            if (c->match == NULL || c->match[0] == '\0') {
                /* the fact's default kind: no map, so no not: or flags: */
                fprintf(fp, "        - %s: ", c->fact);
                gw_cfg_pol_print_values(fp, c->values, c->nvalues, false,
                                        NULL);
                fputc('\n', fp);
                continue;
            }
            fprintf(fp, "        - %s: {", c->fact);
            if (present) {
                fprintf(fp, "present: %s", c->negate ? "false" : "true");
            } else {
                fprintf(fp, "%s: ", c->match);
                gw_cfg_pol_print_values(fp, c->values, c->nvalues,
                                        c->match != NULL &&
                                            strcmp(c->match, "table") == 0,
                                        spec->base_dir);
                if (c->negate) {
                    fprintf(fp, ", not: true");
                }
            }
            if (c->flags != NULL) {
                fprintf(fp, ", flags: ");
                gw_cfg_pol_quote(fp, c->flags);
            }
            fprintf(fp, "}\n");
        }
        if (r->nactions > 0) {
            fprintf(fp, "      then: ");
            gw_cfg_pol_print_values(fp, r->actions, r->nactions, false, NULL);
            fputc('\n', fp);
        }
    }
    if (fclose(fp) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static uint32_t
gw_cfg_pol_u32(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
               const char *path, bool size)
{
    const char *s = gw_cfg_scalar(ctx, n, path, size ? "a size" : "a number");
    uint64_t v = 0;

    if (s == NULL) {
        return 0;
    }
    if ((size ? !gw_parse_size(s, &v)
              : !gw_str_to_u64((const uint8_t *)s, strlen(s), &v)) ||
        v > (size ? 0xffffffffULL * 1024 : 0xffffffffULL)) {
        gw_cfg_error(ctx, &n->pos, "%s: bad value", path);
        return 0;
    }
    return (uint32_t)(size ? v / 1024 : v);
}

void
gw_cfg_walk_policy(struct gw_cfg_ctx *ctx, struct gw_config *cfg,
                   const struct gw_cfg_node *n)
{
    struct gw_cfg_pol p;
    struct pol_spec spec;
    struct pol_errors *perrs;
    const struct gw_cfg_node *rules = NULL;
    const struct gw_cfg_node *m;
    const struct gw_cfg_node *el;
    const char **names;
    char dir[GW_PATH_MAX];
    char msg[sizeof(ctx->errs->msg[0])];
    const char *slash;
    size_t i;

    if (n == NULL || !gw_cfg_check_map(ctx, n, "policy")) {
        return;
    }
    memset(&p, 0, sizeof(p));
    memset(&spec, 0, sizeof(spec));
    p.ctx = ctx;
    for (m = n->child; m != NULL; m = m->next) {
        if (strcmp(m->key, "rules") == 0) {
            rules = m;
        } else if (strcmp(m->key, "match_limit") == 0) {
            spec.match_limit = gw_cfg_pol_u32(ctx, m, "policy.match_limit",
                                              false);
        } else if (strcmp(m->key, "depth_limit") == 0) {
            spec.depth_limit = gw_cfg_pol_u32(ctx, m, "policy.depth_limit",
                                              false);
        } else if (strcmp(m->key, "heap_limit") == 0) {
            spec.heap_limit_kib = gw_cfg_pol_u32(ctx, m, "policy.heap_limit",
                                                 true);
        } else if (strcmp(m->key, "counters") == 0) {
            const struct gw_cfg_node *c = gw_cfg_find(m, "capacity");

            if (c != NULL) {
                cfg->policy_counters =
                    gw_cfg_pol_u32(ctx, c, "policy.counters.capacity", false);
            }
        } else {
            gw_cfg_unknown_key(ctx, m, "in policy");
        }
    }
    if (rules == NULL || rules->kind != GW_CFG_SEQ || rules->nchild == 0) {
        if (rules != NULL && !(rules->kind == GW_CFG_SEQ)) {
            gw_cfg_error(ctx, &rules->pos, "policy.rules: expected a list");
        }
        return;
    }
    p.rules = gw_cfg_pol_alloc(&p, rules->nchild, sizeof(*p.rules));
    names = gw_cfg_pol_alloc(&p, cfg->nupstreams, sizeof(*names));
    if (p.rules == NULL || names == NULL) {
        gw_cfg_pol_free(&p);
        return;
    }
    for (el = rules->child, i = 0; el != NULL; el = el->next, i++) {
        gw_cfg_pol_rule(&p, el, &p.rules[i], i);
    }
    p.nrules = i;
    for (i = 0; i < cfg->nupstreams; i++) {
        names[i] = cfg->upstreams[i].name;
    }
    /* table paths are relative to the configuration file's directory */
    slash = strrchr(ctx->source, '/');
    if (slash != NULL && (size_t)(slash - ctx->source) < sizeof(dir)) {
        memcpy(dir, ctx->source, (size_t)(slash - ctx->source));
        dir[slash - ctx->source] = '\0';
        spec.base_dir = dir;
    }
    spec.rules = p.rules;
    spec.nrules = p.nrules;
    spec.upstreams = names;
    spec.nupstreams = cfg->nupstreams;
    if (ctx->nerrors == 0 && !p.failed) {
        perrs = gw_calloc(1, sizeof(*perrs));
        if (perrs != NULL) {
            cfg->policy = pol_compile(&spec, perrs);
            for (i = 0; cfg->policy == NULL && i < perrs->count; i++) {
                struct gw_cfg_pos pos = {perrs->e[i].line,
                                         perrs->e[i].column, NULL};

                pol_error_format(&perrs->e[i], msg, sizeof(msg));
                gw_cfg_error_raw(ctx, &pos, msg);
            }
            if (cfg->policy == NULL && perrs->count == 0) {
                gw_cfg_error(ctx, &n->pos, "policy: compile failed");
            }
            gw_free(perrs);
        }
    }
    if (cfg->policy != NULL) {
        cfg->policy_text = gw_cfg_pol_render(&spec, cfg->policy_counters);
    }
    if (cfg->policy != NULL && pol_ruleset_can_require_tls(cfg->policy)) {
        for (i = 0; i < cfg->nlisteners; i++) {
            if (cfg->listeners[i].tls == GW_TLS_NONE) {
                gw_cfg_warn(ctx, &n->kpos, "policy: a rule can answer "
                            "require_tls, but listener %s offers no TLS: "
                            "its clients that rule applies to can never "
                            "send mail", cfg->listeners[i].name);
            }
        }
    }
    gw_cfg_pol_free(&p);
}
