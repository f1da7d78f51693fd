/*
 * Configuration, the ehlo section: which EHLO keywords a client may be
 * offered. Two lists of keywords with fixed vocabularies (advertise: what
 * Postern implements or bridges itself; pass: what it relays only when the
 * upstream offers it), a list of glob patterns to hide (drop), and the
 * eightbit policy. A keyword Postern could not honour end to end is an
 * error here, with the reason, rather than a keyword silently never sent.
 *
 * Each list is a YAML list or a single string; any string may hold several
 * words separated by spaces or commas ("SIZE, PIPELINING"), which is also
 * how -o sets a whole list: -o "ehlo.advertise=SIZE PIPELINING".
 */
#include "gateway/gw_config_internal.h"

#include <string.h>

#include "gateway/gw_caps.h"
#include "gateway/gw_str.h"

/* Keywords that belong to the listener's TLS (and later AUTH) settings. */
#define GW_CFG_EHLO_TLS_CAPS (GW_CAP_STARTTLS | GW_CAP_AUTH | GW_CAP_REQUIRETLS)

enum gw_cfg_ehlo_list {
    GW_CFG_EHLO_ADVERTISE,
    GW_CFG_EHLO_PASS,
    GW_CFG_EHLO_DROP,
};

/* One list being walked. */
struct gw_cfg_ehlo_walk {
    enum gw_cfg_ehlo_list which;
    struct gw_ehlo_cfg *e;
    uint32_t flags; /* advertise, pass: the keywords seen */
    size_t nextra;  /* drop: patterns beyond GW_EHLO_MAX_DROP */
};

/* Static prototypes, in the order of their definitions. */
static void gw_cfg_ehlo_list(struct gw_cfg_ctx *ctx, struct gw_ehlo_cfg *e,
                             enum gw_cfg_ehlo_list which,
                             const struct gw_cfg_node *n, const char *path);
static void gw_cfg_ehlo_words(struct gw_cfg_ctx *ctx,
                              struct gw_cfg_ehlo_walk *w,
                              const struct gw_cfg_node *n, const char *path);
static bool gw_cfg_ehlo_is_sep(char c);
static void gw_cfg_ehlo_keyword(struct gw_cfg_ctx *ctx,
                                struct gw_cfg_ehlo_walk *w,
                                const struct gw_cfg_node *n, const char *path,
                                const char *p, size_t len);
static bool gw_cfg_ehlo_is_keyword(const char *p, size_t len);
static void gw_cfg_ehlo_pattern(struct gw_cfg_ctx *ctx,
                                struct gw_cfg_ehlo_walk *w,
                                const struct gw_cfg_node *n, const char *path,
                                const char *p, size_t len);
static void gw_cfg_ehlo_join(char *dst, size_t cap, uint32_t mask);
static size_t gw_cfg_ehlo_append(char *dst, size_t cap, size_t o,
                                 uint32_t flag);

static const char *const gw_cfg_eightbit_words[] = {"pass", "reject", NULL};

/* The table keys of the section (the lists are walked by hand). */
static const struct gw_cfg_key gw_cfg_ehlo_keys[] = {
    {"eightbit", GW_CFG_V_WORD, GW_CFG_C_EIGHTBIT,
     offsetof(struct gw_ehlo_cfg, eightbit), GW_EIGHTBIT_PASS, GW_EIGHTBIT_PASS,
     GW_EIGHTBIT_REJECT, gw_cfg_eightbit_words},
};

/* The order keywords are printed and listed in (the documentation's);
 * a flag missing here is printed after these, in bit order. */
static const uint32_t gw_cfg_ehlo_order[] = {
    GW_CAP_PIPELINING, GW_CAP_SIZE,
    GW_CAP_8BITMIME,   GW_CAP_ENHANCEDSTATUSCODES,
    GW_CAP_CHUNKING,   GW_CAP_LIMITS,
    GW_CAP_DSN,        GW_CAP_SMTPUTF8,
    GW_CAP_BINARYMIME,
};

/* A list of every keyword of one mask: 9 keywords under 20 characters. */
#define GW_CFG_EHLO_JOIN_MAX 256

void
gw_cfg_ehlo_defaults(struct gw_ehlo_cfg *e)
{
    memset(e, 0, sizeof(*e));
    e->advertise = GW_CAPS_ADVERTISABLE;
    e->pass = GW_CAPS_PASSABLE;
    gw_cfg_defaults(e, gw_cfg_ehlo_keys, GW_CFG_NKEYS(gw_cfg_ehlo_keys));
}

void
gw_cfg_walk_ehlo(struct gw_cfg_ctx *ctx, struct gw_ehlo_cfg *e,
                 const struct gw_cfg_node *n)
{
    char path[GW_CFG_PATH_MAX];
    const struct gw_cfg_key *k;
    const struct gw_cfg_node *m;

    if (!gw_cfg_check_map(ctx, n, "ehlo")) {
        return;
    }
    for (m = n->child; m != NULL; m = m->next) {
        (void)gw_cfg_fmt(path, sizeof(path), "ehlo.%s", m->key);
        k = gw_cfg_find_key(gw_cfg_ehlo_keys, GW_CFG_NKEYS(gw_cfg_ehlo_keys),
                            m->key);
        if (k != NULL) {
            gw_cfg_set_key(ctx, e, k, m, path);
        } else if (strcmp(m->key, "advertise") == 0) {
            gw_cfg_ehlo_list(ctx, e, GW_CFG_EHLO_ADVERTISE, m, path);
        } else if (strcmp(m->key, "pass") == 0) {
            gw_cfg_ehlo_list(ctx, e, GW_CFG_EHLO_PASS, m, path);
        } else if (strcmp(m->key, "drop") == 0) {
            gw_cfg_ehlo_list(ctx, e, GW_CFG_EHLO_DROP, m, path);
        } else {
            gw_cfg_unknown_key(ctx, m, "in ehlo");
        }
    }
}

void
gw_cfg_ehlo_print(FILE *fp, const struct gw_ehlo_cfg *e)
{
    char list[GW_CFG_EHLO_JOIN_MAX];
    size_t i;
    size_t j;

    fprintf(fp, "ehlo:\n");
    gw_cfg_ehlo_join(list, sizeof(list), e->advertise);
    fprintf(fp, "  advertise: [%s]\n", list);
    gw_cfg_ehlo_join(list, sizeof(list), e->pass);
    fprintf(fp, "  pass: [%s]\n", list);
    /* Patterns are printable ASCII: single quotes need only '' for '. */
    fprintf(fp, "  drop: [");
    for (i = 0; i < e->ndrop; i++) {
        fprintf(fp, "%s'", i == 0 ? "" : ", ");
        for (j = 0; e->drop[i][j] != '\0'; j++) {
            if (e->drop[i][j] == '\'') {
                fputc('\'', fp);
            }
            fputc(e->drop[i][j], fp);
        }
        fputc('\'', fp);
    }
    fprintf(fp, "]\n");
    gw_cfg_print_keys(fp, "  ", e, gw_cfg_ehlo_keys,
                      GW_CFG_NKEYS(gw_cfg_ehlo_keys));
}

/* The value of advertise, pass or drop: a list of strings, or one string.
 * It replaces the default; "[]" (or "") makes the list empty. */
static void
gw_cfg_ehlo_list(struct gw_cfg_ctx *ctx, struct gw_ehlo_cfg *e,
                 enum gw_cfg_ehlo_list which, const struct gw_cfg_node *n,
                 const char *path)
{
    struct gw_cfg_ehlo_walk w = {which, e, 0, 0};
    bool drop = which == GW_CFG_EHLO_DROP;
    const char *one = drop ? "a pattern" : "an EHLO keyword";
    char epath[GW_CFG_PATH_MAX];
    const struct gw_cfg_node *el;
    size_t i = 0;

    if (n->kind == GW_CFG_MAP || (n->kind == GW_CFG_SCALAR && n->is_null)) {
        gw_cfg_error(ctx, &n->pos, "%s: expected a list of %s, got %s", path,
                     drop ? "patterns" : "EHLO keywords", gw_cfg_kind_name(n));
        return;
    }
    if (drop) {
        memset(e->drop, 0, sizeof(e->drop));
        e->ndrop = 0;
    }
    if (n->kind == GW_CFG_SCALAR) {
        gw_cfg_ehlo_words(ctx, &w, n, path);
    } else {
        for (el = n->child; el != NULL; el = el->next, i++) {
            (void)gw_cfg_fmt(epath, sizeof(epath), "%s.%zu", path, i);
            if (gw_cfg_scalar(ctx, el, epath, one) != NULL) {
                gw_cfg_ehlo_words(ctx, &w, el, epath);
            }
        }
    }
    if (which == GW_CFG_EHLO_ADVERTISE) {
        e->advertise = w.flags;
    } else if (which == GW_CFG_EHLO_PASS) {
        e->pass = w.flags;
    } else if (w.nextra > 0) {
        gw_cfg_error(ctx, &n->pos, "%s: expected at most %d patterns, got %zu",
                     path, GW_EHLO_MAX_DROP, e->ndrop + w.nextra);
    }
}

/* Each word of one string, separated by spaces or commas. Errors are at
 * the string's position, quoting the word. */
static void
gw_cfg_ehlo_words(struct gw_cfg_ctx *ctx, struct gw_cfg_ehlo_walk *w,
                  const struct gw_cfg_node *n, const char *path)
{
    const char *s = n->text;
    size_t start;
    size_t i = 0;

    while (s[i] != '\0') {
        if (gw_cfg_ehlo_is_sep(s[i])) {
            i++;
            continue;
        }
        start = i;
        while (s[i] != '\0' && !gw_cfg_ehlo_is_sep(s[i])) {
            i++;
        }
        if (w->which == GW_CFG_EHLO_DROP) {
            gw_cfg_ehlo_pattern(ctx, w, n, path, s + start, i - start);
        } else {
            gw_cfg_ehlo_keyword(ctx, w, n, path, s + start, i - start);
        }
    }
}

static bool
gw_cfg_ehlo_is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',';
}

static void
gw_cfg_ehlo_keyword(struct gw_cfg_ctx *ctx, struct gw_cfg_ehlo_walk *w,
                    const struct gw_cfg_node *n, const char *path,
                    const char *p, size_t len)
{
    char word[GW_NAME_MAX];
    char q[GW_CFG_QUOTE_MAX];
    char list[GW_CFG_EHLO_JOIN_MAX];
    uint32_t flag;

    gw_cfg_quote_mem(q, sizeof(q), p, len);
    if (!gw_cfg_ehlo_is_keyword(p, len)) {
        gw_cfg_error(ctx, &n->pos,
                     "%s: expected EHLO keywords (a letter or digit, then "
                     "letters, digits and '-', at most %d characters), "
                     "got %s",
                     path, GW_NAME_MAX - 1, q);
        return;
    }
    memcpy(word, p, len);
    word[len] = '\0';
    flag = gw_caps_flag(word);
    if (w->which == GW_CFG_EHLO_ADVERTISE) {
        if ((flag & GW_CAPS_ADVERTISABLE) != 0) {
            w->flags |= flag;
        } else if ((flag & GW_CAPS_PASSABLE) != 0) {
            gw_cfg_error(ctx, &n->pos,
                         "%s: %s goes in ehlo.pass: it is offered only when "
                         "the upstream offers it",
                         path, q);
        } else if ((flag & GW_CFG_EHLO_TLS_CAPS) != 0) {
            gw_cfg_error(ctx, &n->pos,
                         "%s: %s is offered by the listener's TLS settings, "
                         "not by ehlo.advertise",
                         path, q);
        } else {
            gw_cfg_error(ctx, &n->pos,
                         "%s: Postern cannot honour %s end to end, so it "
                         "never offers it",
                         path, q);
        }
        return;
    }
    if ((flag & GW_CAPS_PASSABLE) != 0) {
        w->flags |= flag;
    } else if ((flag & GW_CAPS_ADVERTISABLE) != 0) {
        gw_cfg_error(ctx, &n->pos,
                     "%s: %s goes in ehlo.advertise: Postern offers it "
                     "itself, whatever the upstream offers",
                     path, q);
    } else {
        gw_cfg_ehlo_join(list, sizeof(list), GW_CAPS_PASSABLE);
        gw_cfg_error(ctx, &n->pos,
                     "%s: cannot pass %s through: Postern rebuilds every "
                     "command it relays and passes only extensions whose "
                     "parameters it validates: %s",
                     path, q, list);
    }
}

/* RFC 5321 4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"),
 * and short enough to be a name. */
static bool
gw_cfg_ehlo_is_keyword(const char *p, size_t len)
{
    size_t i;

    if (len == 0 || len >= GW_NAME_MAX || p[0] == '-') {
        return false;
    }
    for (i = 0; i < len; i++) {
        uint8_t c = (uint8_t)p[i];

        if (!gw_is_alpha(c) && !gw_is_digit(c) && c != '-') {
            return false;
        }
    }
    return true;
}

/* A glob pattern (fnmatch syntax, matched without regard to case by the
 * EHLO model): printable ASCII without spaces, as EHLO keywords are. */
static void
gw_cfg_ehlo_pattern(struct gw_cfg_ctx *ctx, struct gw_cfg_ehlo_walk *w,
                    const struct gw_cfg_node *n, const char *path,
                    const char *p, size_t len)
{
    struct gw_ehlo_cfg *e = w->e;
    char q[GW_CFG_QUOTE_MAX];
    bool ok = len < GW_NAME_MAX;
    size_t i;

    for (i = 0; ok && i < len; i++) {
        ok = gw_is_graph((uint8_t)p[i]);
    }
    if (!ok) {
        gw_cfg_quote_mem(q, sizeof(q), p, len);
        gw_cfg_error(ctx, &n->pos,
                     "%s: a pattern is 1 to %d printable ASCII characters "
                     "without spaces, got %s",
                     path, GW_NAME_MAX - 1, q);
        return;
    }
    if (e->ndrop >= GW_EHLO_MAX_DROP) {
        w->nextra++;
        return;
    }
    memcpy(e->drop[e->ndrop], p, len);
    e->drop[e->ndrop][len] = '\0';
    e->ndrop++;
}

/* The keywords of mask, upper case, separated by ", ": first in
 * gw_cfg_ehlo_order, then any other flag in bit order. */
static void
gw_cfg_ehlo_join(char *dst, size_t cap, uint32_t mask)
{
    uint32_t rest = mask;
    size_t o = 0;
    size_t i;

    dst[0] = '\0';
    for (i = 0; i < GW_CFG_NKEYS(gw_cfg_ehlo_order); i++) {
        if ((rest & gw_cfg_ehlo_order[i]) != 0) {
            o = gw_cfg_ehlo_append(dst, cap, o, gw_cfg_ehlo_order[i]);
            rest &= ~gw_cfg_ehlo_order[i];
        }
    }
    for (i = 0; i < 32; i++) {
        if ((rest & ((uint32_t)1 << i)) != 0) {
            o = gw_cfg_ehlo_append(dst, cap, o, (uint32_t)1 << i);
        }
    }
}

/* Appends one keyword at offset o; returns the new offset (>= cap once
 * the buffer is full, which GW_CFG_EHLO_JOIN_MAX rules out). */
static size_t
gw_cfg_ehlo_append(char *dst, size_t cap, size_t o, uint32_t flag)
{
    const char *kw = gw_caps_keyword(flag);

    if (kw == NULL || o >= cap) {
        return o;
    }
    if (o > 0) {
        o += gw_strlcpy(dst + o, ", ", cap - o);
    }
    if (o < cap) {
        o += gw_strlcpy(dst + o, kw, cap - o);
    }
    return o;
}
