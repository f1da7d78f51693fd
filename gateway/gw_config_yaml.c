/*
 * Configuration, the document layer: errors with their positions, the node
 * tree that remembers where every key and value came from, libyaml's events
 * turned into that tree within fixed bounds, and the -o overrides applied to
 * the tree. Nothing here knows the schema; gw_config.c walks the result.
 */
#include "gateway/gw_config_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <yaml.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_str.h"

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

/* Static prototypes, in the order of their definitions. */
static bool gw_cfg_pos_before(const struct gw_cfg_pos *a,
                              const struct gw_cfg_pos *b);
static void gw_cfg_node_clear(struct gw_cfg_node *n);
static void gw_cfg_node_append(struct gw_cfg_node *parent,
                               struct gw_cfg_node *n);
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
static bool gw_cfg_override_path_ok(struct gw_cfg_ctx *ctx, const char *ov,
                                    const char *eq);
static struct gw_cfg_node *gw_cfg_override_step(struct gw_cfg_ctx *ctx,
                                                struct gw_cfg_node *n,
                                                const char *comp,
                                                const char *ov, size_t done,
                                                const char *next);
static bool gw_cfg_is_index(const char *s, size_t len, size_t *out);

/* ---- errors and small text helpers ----------------------------------- */

/* Writes "FILE:LINE:COL: <kind>message" (or "-o KEY: ..." for an override)
 * into slot, marking a cut with "...". kind is "" or "warning: ". */
static void GW_PRINTF(6, 0)
gw_cfg_place(const struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
             char *slot, size_t cap, const char *kind, const char *fmt,
             va_list ap)
{
    char msg[GW_CONFIG_MSG_MAX];
    int n;

    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0) {
        msg[0] = '\0';
    }
    if (pos->override != NULL) {
        n = snprintf(slot, cap, "-o %s: %s%s", pos->override, kind, msg);
    } else if (pos->line > 0) {
        n = snprintf(slot, cap, "%s:%zu:%zu: %s%s", ctx->source, pos->line,
                     pos->col, kind, msg);
    } else {
        n = snprintf(slot, cap, "%s: %s%s", ctx->source, kind, msg);
    }
    if (n < 0 || (size_t)n >= cap) {
        memcpy(slot + cap - 4, "...", 4);
    }
}

void
gw_cfg_error(struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
             const char *fmt, ...)
{
    va_list ap;

    ctx->nerrors++;
    if (ctx->errs == NULL || ctx->errs->count >= GW_CONFIG_MAX_ERRORS) {
        return;
    }
    ctx->epos[ctx->errs->count] = *pos;
    va_start(ap, fmt);
    gw_cfg_place(ctx, pos, ctx->errs->msg[ctx->errs->count++],
                 sizeof(ctx->errs->msg[0]), "", fmt, ap);
    va_end(ap);
}

void
gw_cfg_warn(struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
            const char *fmt, ...)
{
    va_list ap;

    if (ctx->errs == NULL || ctx->errs->nwarnings >= GW_CONFIG_MAX_WARNINGS) {
        return;
    }
    va_start(ap, fmt);
    gw_cfg_place(ctx, pos, ctx->errs->warning[ctx->errs->nwarnings++],
                 sizeof(ctx->errs->warning[0]), "warning: ", fmt, ap);
    va_end(ap);
}

/* Records an error already formatted by someone else (policy's). */
void
gw_cfg_error_raw(struct gw_cfg_ctx *ctx, const struct gw_cfg_pos *pos,
                 const char *text)
{
    ctx->nerrors++;
    if (ctx->errs == NULL || ctx->errs->count >= GW_CONFIG_MAX_ERRORS) {
        return;
    }
    ctx->epos[ctx->errs->count] = *pos;
    gw_strlcpy(ctx->errs->msg[ctx->errs->count++], text,
               sizeof(ctx->errs->msg[0]));
}

/* Puts the errors in file order, like a compiler's (stable: errors without
 * a file position keep their order, after the others), and makes the last
 * slot say how many errors did not fit. */
void
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
bool
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
void
gw_cfg_quote(char *dst, size_t cap, const char *s)
{
    gw_cfg_quote_mem(dst, cap, s, strlen(s));
}

void
gw_cfg_quote_mem(char *dst, size_t cap, const char *p, size_t len)
{
    char esc[GW_CFG_QUOTE_MAX];

    gw_str_escape(esc, sizeof(esc), (const uint8_t *)p, len);
    (void)gw_cfg_fmt(dst, cap, "'%s'", esc);
}

const char *
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

struct gw_cfg_node *
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
void
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

struct gw_cfg_node *
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

struct gw_cfg_node *
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
struct gw_cfg_node *
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

char *
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
bool
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
void
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
