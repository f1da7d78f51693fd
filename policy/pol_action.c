/*
 * Actions: the one grammar shared by rule actions and table lines, their
 * checks (pol_verdict_validate holds the reply rules), and the templates
 * of reply texts and header values with their safe expansion.
 *
 *   accept | ok                      terminal
 *   continue | dunno                 no-op
 *   reject [5XX [5.X.X]] [TEXT]      terminal, default 550 5.7.1
 *   tempfail | defer [4XX [4.X.X]] [TEXT]   terminal, default 450 4.7.1
 *   disconnect [421 [4.X.X]] [TEXT]  terminal, default 421 4.7.0
 *   NNN [X.X.X] [TEXT]               4xx tempfail, 421 disconnect, 5xx reject
 *   require_tls                      accumulates
 *   upstream NAME                    accumulates (first wins)
 *   tls_policy may|encrypt|verify    accumulates (first wins)
 *   add_header NAME: VALUE | prepend accumulates
 *   set_limit message_size SIZE | set_limit recipients N   (first wins)
 *
 * TEXT is the rest of the line, or one "quoted string" with \" and \\.
 * It may hold ${fact} variables and $$ for a '$'.
 */
#include <stdio.h>
#include <string.h>

#include "policy/pol_internal.h"

struct pol_ap {
    struct pol_cc *cc;
    struct pol_arena *ar;
    const char *text;
    size_t len;
    size_t pos;
    const char *source;
    unsigned line;
    unsigned column;
};

static void pol_ap_error(struct pol_ap *ap, size_t at, const char *fmt, ...)
    POL_PRINTF(3, 4);
static void pol_ap_skip(struct pol_ap *ap);
static size_t pol_ap_word(struct pol_ap *ap, const char **w);
static bool pol_ap_at_end(struct pol_ap *ap);
static int pol_ap_reply(struct pol_ap *ap, struct pol_action *out);
static int pol_ap_text(struct pol_ap *ap, const char **txt, size_t *tlen,
                       size_t *at);
static int pol_ap_header(struct pol_ap *ap, struct pol_action *out);
static int pol_ap_limit(struct pol_ap *ap, struct pol_action *out);
static long pol_tmpl_scan(struct pol_ap *ap, const char *raw, size_t len,
                          size_t at, struct pol_tseg *segs);
static void pol_tmpl_seg(struct pol_tseg *segs, size_t *n, uint16_t var,
                         size_t off, size_t len);
static int pol_tmpl_parse(struct pol_ap *ap, const char *raw, size_t len,
                          size_t at, struct pol_tmpl *t);
static bool pol_enh_valid(const char *p, size_t len);
static int pol_reply_check(enum pol_verdict_action act, unsigned code,
                           const char *enh, const char **why);
static bool pol_text_clean(const char *p, size_t len);
static bool pol_name_valid(const char *p, size_t len);
static void pol_tmpl_put(char *dst, size_t lim, size_t *n, uint8_t c,
                         bool *cut);

/* ---- parsing ------------------------------------------------------------ */

static void
pol_ap_error(struct pol_ap *ap, size_t at, const char *fmt, ...)
{
    va_list va;

    va_start(va, fmt);
    pol_cc_verror(ap->cc, ap->source, ap->line,
                  ap->column > 0 ? ap->column + (unsigned)at : 0, fmt, va);
    va_end(va);
}

static void
pol_ap_skip(struct pol_ap *ap)
{
    while (ap->pos < ap->len && pol_is_space((uint8_t)ap->text[ap->pos])) {
        ap->pos++;
    }
}

static size_t
pol_ap_word(struct pol_ap *ap, const char **w)
{
    size_t start;

    pol_ap_skip(ap);
    start = ap->pos;
    while (ap->pos < ap->len && !pol_is_space((uint8_t)ap->text[ap->pos])) {
        ap->pos++;
    }
    *w = ap->text + start;
    return ap->pos - start;
}

static bool
pol_ap_at_end(struct pol_ap *ap)
{
    pol_ap_skip(ap);
    return ap->pos == ap->len;
}

int
pol_action_parse(struct pol_cc *cc, struct pol_arena *ar, const char *text,
                 size_t len, const char *source, unsigned line, unsigned column,
                 struct pol_action *out)
{
    struct pol_ap ap = {cc, ar, text, len, 0, source, line, column};
    const char *w;
    size_t wlen;
    size_t at;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->first = POL_STAGE_CONNECT;
    out->last = POL_STAGE_EOM;
    out->written = pol_arena_strndup(ar, text, len);
    if (out->written == NULL) {
        pol_ap_error(&ap, 0, "out of memory");
        return -1;
    }
    wlen = pol_ap_word(&ap, &w);
    at = (size_t)(w - text);
    if (wlen == 0) {
        pol_ap_error(&ap, at, "missing action");
        return -1;
    }
    if (pol_ieq(w, wlen, "accept") || pol_ieq(w, wlen, "ok")) {
        out->kind = POL_ACT_ACCEPT;
    } else if (pol_ieq(w, wlen, "continue") || pol_ieq(w, wlen, "dunno")) {
        out->kind = POL_ACT_CONTINUE;
    } else if (pol_ieq(w, wlen, "reject")) {
        out->kind = POL_ACT_REJECT;
        return pol_ap_reply(&ap, out);
    } else if (pol_ieq(w, wlen, "tempfail") || pol_ieq(w, wlen, "defer")) {
        out->kind = POL_ACT_TEMPFAIL;
        return pol_ap_reply(&ap, out);
    } else if (pol_ieq(w, wlen, "disconnect")) {
        out->kind = POL_ACT_DISCONNECT;
        return pol_ap_reply(&ap, out);
    } else if (wlen == 3 && pol_is_digit((uint8_t)w[0]) &&
               pol_is_digit((uint8_t)w[1]) && pol_is_digit((uint8_t)w[2])) {
        if (w[0] == '5') {
            out->kind = POL_ACT_REJECT;
        } else if (w[0] == '4' && w[1] == '2' && w[2] == '1') {
            out->kind = POL_ACT_DISCONNECT;
        } else if (w[0] == '4') {
            out->kind = POL_ACT_TEMPFAIL;
        } else {
            pol_ap_error(&ap, at, "a reply code action must be 4xx or 5xx");
            return -1;
        }
        ap.pos = at; /* the code is read again as the reply's code */
        return pol_ap_reply(&ap, out);
    } else if (pol_ieq(w, wlen, "require_tls")) {
        out->kind = POL_ACT_REQUIRE_TLS;
        out->last = POL_STAGE_MAIL;
    } else if (pol_ieq(w, wlen, "upstream")) {
        out->kind = POL_ACT_UPSTREAM;
        out->last = POL_STAGE_RCPT;
        wlen = pol_ap_word(&ap, &w);
        if (!pol_name_valid(w, wlen)) {
            pol_ap_error(&ap, (size_t)(w - text),
                         "upstream needs a name (1-63 of A-Z a-z 0-9 . _ -)");
            return -1;
        }
        out->upstream = pol_arena_strndup(ar, w, wlen);
        rc = out->upstream == NULL ? -1 : 0;
    } else if (pol_ieq(w, wlen, "tls_policy")) {
        out->kind = POL_ACT_TLS_POLICY;
        out->last = POL_STAGE_RCPT;
        wlen = pol_ap_word(&ap, &w);
        if (pol_ieq(w, wlen, "may")) {
            out->tls = POL_TLS_MAY;
        } else if (pol_ieq(w, wlen, "encrypt")) {
            out->tls = POL_TLS_ENCRYPT;
        } else if (pol_ieq(w, wlen, "verify")) {
            out->tls = POL_TLS_VERIFY;
        } else {
            pol_ap_error(&ap, (size_t)(w - text),
                         "tls_policy must be may, encrypt or verify");
            return -1;
        }
    } else if (pol_ieq(w, wlen, "add_header") || pol_ieq(w, wlen, "prepend")) {
        out->kind = POL_ACT_ADD_HEADER;
        out->last = POL_STAGE_HEADER;
        return pol_ap_header(&ap, out);
    } else if (pol_ieq(w, wlen, "set_limit")) {
        out->kind = POL_ACT_SET_LIMIT;
        out->last = POL_STAGE_RCPT;
        return pol_ap_limit(&ap, out);
    } else {
        pol_ap_error(&ap, at,
                     "unknown action '%.*s' (accept, continue, reject, "
                     "tempfail, disconnect, require_tls, upstream, "
                     "tls_policy, add_header, set_limit)",
                     (int)(wlen > 40 ? 40 : wlen), w);
        return -1;
    }
    if (rc != 0) {
        pol_ap_error(&ap, 0, "out of memory");
        return -1;
    }
    if (!pol_ap_at_end(&ap)) {
        pol_ap_error(&ap, ap.pos, "unexpected text after the action");
        return -1;
    }
    return 0;
}

/* [CODE [ENHANCED]] [TEXT] after reject, tempfail, disconnect or a code. */
static int
pol_ap_reply(struct pol_ap *ap, struct pol_action *out)
{
    static const char *const deftext[] = {
        "Rejected by policy",
        "Temporarily rejected by policy, try again later",
        "Closing connection by policy",
    };
    enum pol_verdict_action va;
    const char *w;
    const char *why;
    const char *txt;
    size_t tlen;
    size_t wlen;
    size_t save;
    size_t at;
    size_t code_at;

    switch (out->kind) {
    case POL_ACT_REJECT:
        va = POL_VERDICT_REJECT;
        out->code = 550;
        memcpy(out->enh, "5.7.1", 6);
        txt = deftext[0];
        break;
    case POL_ACT_TEMPFAIL:
        va = POL_VERDICT_TEMPFAIL;
        out->code = 450;
        memcpy(out->enh, "4.7.1", 6);
        txt = deftext[1];
        break;
    default:
        va = POL_VERDICT_DISCONNECT;
        out->code = 421;
        memcpy(out->enh, "4.7.0", 6);
        txt = deftext[2];
        break;
    }
    save = ap->pos;
    wlen = pol_ap_word(ap, &w);
    code_at = (size_t)(w - ap->text);
    if (wlen == 3 && pol_is_digit((uint8_t)w[0]) &&
        pol_is_digit((uint8_t)w[1]) && pol_is_digit((uint8_t)w[2])) {
        out->code =
            (unsigned)((w[0] - '0') * 100 + (w[1] - '0') * 10 + (w[2] - '0'));
        /* a given code with no enhanced code: x.0.0 of its class is
         * wrong for policy reasons, so keep the default's subject */
        out->enh[0] = w[0];
        save = ap->pos;
        wlen = pol_ap_word(ap, &w);
        /* "5.", "4." or "2." starts an enhanced code, which must then be
         * right; anything else ("192.0.2.1 is listed") is the text */
        if (wlen >= 2 && (w[0] == '2' || w[0] == '4' || w[0] == '5') &&
            w[1] == '.') {
            if (!pol_enh_valid(w, wlen)) {
                pol_ap_error(ap, (size_t)(w - ap->text),
                             "bad enhanced status code (RFC 3463: "
                             "class.subject.detail, like 5.7.1)");
                return -1;
            }
            memcpy(out->enh, w, wlen);
            out->enh[wlen] = '\0';
        } else {
            ap->pos = save;
        }
    } else {
        ap->pos = save;
    }
    if (pol_reply_check(va, out->code, out->enh, &why) != 0) {
        pol_ap_error(ap, code_at, "%s", why);
        return -1;
    }
    if (pol_ap_at_end(ap)) {
        return pol_tmpl_parse(ap, txt, strlen(txt), 0, &out->text);
    }
    if (pol_ap_text(ap, &txt, &tlen, &at) != 0) {
        return -1;
    }
    if (tlen > POL_MAX_TEXT) {
        pol_ap_error(ap, at, "reply text longer than %u characters",
                     POL_MAX_TEXT);
        return -1;
    }
    return pol_tmpl_parse(ap, txt, tlen, at, &out->text);
}

/* The rest of the line, or one quoted string (\" and \\ escapes). *at is
 * where it starts. The result is in the arena. */
static int
pol_ap_text(struct pol_ap *ap, const char **txt, size_t *tlen, size_t *at)
{
    const char *p;
    size_t len;
    char *buf;
    size_t n = 0;
    size_t i;

    pol_ap_skip(ap);
    *at = ap->pos;
    p = ap->text + ap->pos;
    len = ap->len - ap->pos;
    while (len > 0 && pol_is_space((uint8_t)p[len - 1])) {
        len--;
    }
    if (len == 0 || p[0] != '"') {
        *txt = pol_arena_strndup(ap->ar, p, len);
        *tlen = len;
        ap->pos = ap->len;
        if (*txt == NULL) {
            pol_ap_error(ap, 0, "out of memory");
            return -1;
        }
        return 0;
    }
    buf = pol_arena_alloc(ap->ar, len);
    if (buf == NULL) {
        pol_ap_error(ap, 0, "out of memory");
        return -1;
    }
    for (i = 1; i < len; i++) {
        if (p[i] == '\\' && i + 1 < len &&
            (p[i + 1] == '"' || p[i + 1] == '\\')) {
            buf[n++] = p[++i];
        } else if (p[i] == '"') {
            break;
        } else {
            buf[n++] = p[i];
        }
    }
    if (i >= len) {
        pol_ap_error(ap, *at, "unterminated quoted text");
        return -1;
    }
    if (i + 1 != len) {
        pol_ap_error(ap, *at + i + 1, "unexpected text after the quoted text");
        return -1;
    }
    buf[n] = '\0';
    *txt = buf;
    *tlen = n;
    *at += 1;
    ap->pos = ap->len;
    return 0;
}

/* add_header NAME: VALUE, or add_header "NAME: VALUE" */
static int
pol_ap_header(struct pol_ap *ap, struct pol_action *out)
{
    const char *txt;
    const char *colon;
    size_t tlen;
    size_t at;
    size_t v;

    if (pol_ap_at_end(ap)) {
        pol_ap_error(ap, ap->pos, "add_header needs \"Name: value\"");
        return -1;
    }
    if (pol_ap_text(ap, &txt, &tlen, &at) != 0) {
        return -1;
    }
    colon = memchr(txt, ':', tlen);
    if (colon == NULL || colon == txt) {
        pol_ap_error(ap, at, "add_header needs \"Name: value\"");
        return -1;
    }
    out->hname = txt;
    out->hname_len = (size_t)(colon - txt);
    for (v = 0; v < out->hname_len; v++) {
        uint8_t c = (uint8_t)txt[v];

        if (c < 33 || c > 126) {
            pol_ap_error(ap, at + v,
                         "a header name is printable ASCII without spaces");
            return -1;
        }
    }
    v = out->hname_len + 1;
    while (v < tlen && pol_is_space((uint8_t)txt[v])) {
        v++;
    }
    if (tlen > POL_MAX_HEADER_LINE) {
        pol_ap_error(ap, at, "header longer than %u characters",
                     POL_MAX_HEADER_LINE);
        return -1;
    }
    return pol_tmpl_parse(ap, txt + v, tlen - v, at + v, &out->text);
}

/* set_limit message_size SIZE | set_limit recipients N */
static int
pol_ap_limit(struct pol_ap *ap, struct pol_action *out)
{
    const char *w;
    const char *why = "";
    size_t wlen;
    size_t at;

    wlen = pol_ap_word(ap, &w);
    at = (size_t)(w - ap->text);
    if (pol_ieq(w, wlen, "message_size")) {
        out->limit = POL_LIMIT_SIZE;
    } else if (pol_ieq(w, wlen, "recipients")) {
        out->limit = POL_LIMIT_RCPTS;
    } else {
        pol_ap_error(ap, at, "set_limit needs message_size or recipients");
        return -1;
    }
    wlen = pol_ap_word(ap, &w);
    at = (size_t)(w - ap->text);
    if (out->limit == POL_LIMIT_SIZE
            ? pol_parse_size(w, wlen, &out->limit_value, &why) != 0
            : pol_parse_u64(w, wlen, &out->limit_value, &why) != 0) {
        pol_ap_error(ap, at, "set_limit: %s", why);
        return -1;
    }
    if (out->limit_value == 0 ||
        (out->limit == POL_LIMIT_RCPTS && out->limit_value > UINT32_MAX)) {
        pol_ap_error(ap, at, "set_limit: the value is out of range");
        return -1;
    }
    if (!pol_ap_at_end(ap)) {
        pol_ap_error(ap, ap->pos, "unexpected text after the action");
        return -1;
    }
    return 0;
}

/* Splits raw into literals and ${var}s; literals must be printable ASCII.
 * With segs NULL, only counts (and reports errors); returns the count or
 * -1. Variables are checked against the stage in pol_action_check. */
static long
pol_tmpl_scan(struct pol_ap *ap, const char *raw, size_t len, size_t at,
              struct pol_tseg *segs)
{
    size_t n = 0;
    size_t lit = 0;
    size_t i = 0;

    while (i < len) {
        size_t end;
        size_t v;
        uint16_t var;

        if (raw[i] != '$') {
            if (segs == NULL &&
                ((uint8_t)raw[i] < 0x20 || (uint8_t)raw[i] > 0x7e)) {
                pol_ap_error(ap, at + i,
                             "text holds a control or non-ASCII byte "
                             "(0x%02x)",
                             (uint8_t)raw[i]);
                return -1;
            }
            i++;
            continue;
        }
        if (i + 1 < len && raw[i + 1] == '$') {
            /* "$$": the literal so far and one '$' */
            pol_tmpl_seg(segs, &n, POL_TSEG_LIT, lit, i + 1 - lit);
            i += 2;
            lit = i;
            continue;
        }
        if (i + 1 >= len || raw[i + 1] != '{') {
            if (segs == NULL) {
                pol_ap_error(ap, at + i,
                             "'$' starts ${variable}; write $$ for a '$'");
            }
            return -1;
        }
        end = i + 2;
        while (end < len && raw[end] != '}') {
            end++;
        }
        if (end >= len) {
            if (segs == NULL) {
                pol_ap_error(ap, at + i, "unterminated ${variable}");
            }
            return -1;
        }
        v = end - (i + 2);
        if (v == 4 && memcmp(raw + i + 2, "rule", 4) == 0) {
            var = POL_VAR_RULE;
        } else {
            var = (uint16_t)pol_fact_from_name(raw + i + 2, v);
            if (var == POL_FACT_COUNT) {
                if (segs == NULL) {
                    pol_ap_error(ap, at + i + 2, "unknown variable ${%.*s}",
                                 (int)(v > 40 ? 40 : v), raw + i + 2);
                }
                return -1;
            }
        }
        if (i > lit) {
            pol_tmpl_seg(segs, &n, POL_TSEG_LIT, lit, i - lit);
        }
        pol_tmpl_seg(segs, &n, var, i + 2, v);
        i = end + 1;
        lit = i;
    }
    if (len > lit) {
        pol_tmpl_seg(segs, &n, POL_TSEG_LIT, lit, len - lit);
    }
    return (long)n;
}

static void
pol_tmpl_seg(struct pol_tseg *segs, size_t *n, uint16_t var, size_t off,
             size_t len)
{
    if (segs != NULL) {
        segs[*n].var = var;
        segs[*n].off = (uint32_t)off;
        segs[*n].len = (uint32_t)len;
    }
    (*n)++;
}

static int
pol_tmpl_parse(struct pol_ap *ap, const char *raw, size_t len, size_t at,
               struct pol_tmpl *t)
{
    long n = pol_tmpl_scan(ap, raw, len, at, NULL);

    if (n < 0) {
        return -1;
    }
    t->raw = raw;
    t->nsegs = (size_t)n;
    t->segs = pol_arena_alloc(ap->ar, ((size_t)n + 1) * sizeof(*t->segs));
    if (t->segs == NULL) {
        pol_ap_error(ap, 0, "out of memory");
        return -1;
    }
    (void)pol_tmpl_scan(ap, raw, len, at, t->segs);
    return 0;
}

/* ---- checks ------------------------------------------------------------- */

int
pol_action_check(struct pol_cc *cc, const struct pol_action *a,
                 enum pol_stage s, const char *source, unsigned line,
                 unsigned column)
{
    const struct pol_spec *spec = cc->spec;
    size_t i;

    if (s < a->first || s > a->last) {
        pol_cc_error(cc, source, line, column,
                     "'%s' cannot be used at stage %s (only from %s to %s)",
                     a->written, pol_stage_name(s), pol_stage_name(a->first),
                     pol_stage_name(a->last));
        return -1;
    }
    for (i = 0; i < a->text.nsegs; i++) {
        uint16_t var = a->text.segs[i].var;

        if (var < POL_FACT_COUNT && !pol_fact_at_stage(var, s)) {
            pol_cc_error(cc, source, line, column,
                         "${%s} is not known at stage %s (only from %s to "
                         "%s)",
                         pol_fact_defs[var].name, pol_stage_name(s),
                         pol_stage_name(pol_fact_defs[var].first),
                         pol_stage_name(pol_fact_defs[var].last));
            return -1;
        }
    }
    if (a->kind == POL_ACT_UPSTREAM && spec != NULL && spec->nupstreams > 0) {
        for (i = 0; i < spec->nupstreams; i++) {
            if (spec->upstreams[i] != NULL &&
                strcmp(spec->upstreams[i], a->upstream) == 0) {
                return 0;
            }
        }
        pol_cc_error(cc, source, line, column, "unknown upstream '%s'",
                     a->upstream);
        return -1;
    }
    return 0;
}

bool
pol_action_is_terminal(const struct pol_action *a)
{
    return a->kind == POL_ACT_ACCEPT || a->kind == POL_ACT_REJECT ||
           a->kind == POL_ACT_TEMPFAIL || a->kind == POL_ACT_DISCONNECT;
}

bool
pol_action_equal(const struct pol_action *a, const struct pol_action *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (a->kind != b->kind || a->code != b->code ||
        strcmp(a->enh, b->enh) != 0 || a->tls != b->tls ||
        a->limit != b->limit || a->limit_value != b->limit_value ||
        a->hname_len != b->hname_len) {
        return false;
    }
    if ((a->text.raw == NULL) != (b->text.raw == NULL) ||
        (a->text.raw != NULL && strcmp(a->text.raw, b->text.raw) != 0)) {
        return false;
    }
    if (a->hname_len > 0 && memcmp(a->hname, b->hname, a->hname_len) != 0) {
        return false;
    }
    if ((a->upstream == NULL) != (b->upstream == NULL) ||
        (a->upstream != NULL && strcmp(a->upstream, b->upstream) != 0)) {
        return false;
    }
    return true;
}

/* RFC 3463: class "." subject "." detail; class 2, 4 or 5; subject and
 * detail 1 to 3 digits. */
static bool
pol_enh_valid(const char *p, size_t len)
{
    size_t i = 0;
    int part;

    if (len < 5 || len > 9 || (p[0] != '2' && p[0] != '4' && p[0] != '5') ||
        p[1] != '.') {
        return false;
    }
    i = 2;
    for (part = 0; part < 2; part++) {
        size_t start = i;

        while (i < len && pol_is_digit((uint8_t)p[i])) {
            i++;
        }
        if (i == start || i - start > 3) {
            return false;
        }
        if (part == 0) {
            if (i >= len || p[i] != '.') {
                return false;
            }
            i++;
        }
    }
    return i == len;
}

static int
pol_reply_check(enum pol_verdict_action act, unsigned code, const char *enh,
                const char **why)
{
    switch (act) {
    case POL_VERDICT_REJECT:
        if (code < 500 || code > 559) {
            *why = "reject needs a 5xx code (500-559)";
            return -1;
        }
        break;
    case POL_VERDICT_TEMPFAIL:
        if (code < 400 || code > 459 || code == 421) {
            *why = code == 421 ? "421 closes the connection: use disconnect"
                               : "tempfail needs a 4xx code (400-459)";
            return -1;
        }
        break;
    case POL_VERDICT_DISCONNECT:
        if (code != 421) {
            *why = "disconnect needs the code 421";
            return -1;
        }
        break;
    case POL_VERDICT_ERROR:
        if (code < 400 || code > 459) {
            *why = "an error verdict needs a 4xx code";
            return -1;
        }
        break;
    default:
        if (code != 0 || enh[0] != '\0') {
            *why = "continue and accept carry no reply code";
            return -1;
        }
        return 0;
    }
    if (!pol_enh_valid(enh, strlen(enh))) {
        *why = "bad enhanced status code (RFC 3463: class.subject.detail)";
        return -1;
    }
    if ((unsigned)(enh[0] - '0') != code / 100) {
        *why = "the enhanced status code's class differs from the reply "
               "code's";
        return -1;
    }
    return 0;
}

static bool
pol_text_clean(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if ((uint8_t)p[i] < 0x20 || (uint8_t)p[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* The config's name type: 1-63 of A-Z a-z 0-9 . _ - */
static bool
pol_name_valid(const char *p, size_t len)
{
    size_t i;

    if (len == 0 || len > 63) {
        return false;
    }
    for (i = 0; i < len; i++) {
        uint8_t c = (uint8_t)p[i];

        if (!pol_is_alnum(c) && c != '.' && c != '_' && c != '-') {
            return false;
        }
    }
    return true;
}

int
pol_verdict_validate(const struct pol_verdict *v, char *why, size_t cap)
{
    const char *w = NULL;
    size_t i;

    if ((unsigned)v->action > POL_VERDICT_ERROR) {
        w = "unknown action";
    } else if (pol_reply_check(v->action, v->code, v->enhanced, &w) != 0) {
        /* w set */
    } else if (v->text == NULL || strlen(v->text) != v->text_len ||
               !pol_text_clean(v->text, v->text_len)) {
        w = "the text holds a control byte (CR, LF, NUL...) or is not "
            "ASCII";
    } else if ((v->flags & POL_VF_UPSTREAM) != 0 &&
               (v->upstream == NULL ||
                !pol_name_valid(v->upstream, strlen(v->upstream)))) {
        w = "bad upstream name";
    } else if (v->nheaders > POL_MAX_HEADERS) {
        w = "too many headers";
    }
    for (i = 0; w == NULL && i < v->nheaders; i++) {
        const struct pol_header *h = &v->headers[i];
        size_t j;

        if (h->line == NULL || strlen(h->line) != h->len || h->name_len == 0 ||
            h->name_len >= h->len || h->line[h->name_len] != ':' ||
            !pol_text_clean(h->line, h->len)) {
            w = "bad header line";
            break;
        }
        for (j = 0; j < h->name_len; j++) {
            if (h->line[j] == ' ') {
                w = "bad header name";
                break;
            }
        }
    }
    if (w == NULL) {
        return POL_OK;
    }
    if (why != NULL && cap > 0) {
        snprintf(why, cap, "%s", w);
    }
    return POL_E_INVAL;
}

void
pol_verdict_init(struct pol_verdict *v, char *buf, size_t cap)
{
    memset(v, 0, sizeof(*v));
    v->buf = cap > 0 ? buf : NULL;
    v->cap = buf != NULL ? cap : 0;
    v->text = "";
    v->upstream = "";
    v->rule = "";
    v->rule_location = "";
    v->table_location = "";
}

/* ---- expansion ---------------------------------------------------------- */

static void
pol_tmpl_put(char *dst, size_t lim, size_t *n, uint8_t c, bool *cut)
{
    if (*n >= lim) {
        *cut = true;
        return;
    }
    dst[(*n)++] = (char)c;
}

size_t
pol_tmpl_expand(const struct pol_tmpl *t, struct pol_evalctx *ec, char *dst,
                size_t cap, size_t max, bool *cut)
{
    size_t lim;
    size_t n = 0;
    size_t i;

    if (cap == 0) {
        *cut = true;
        return 0;
    }
    lim = cap - 1 < max ? cap - 1 : max;
    for (i = 0; i < t->nsegs; i++) {
        const struct pol_tseg *s = &t->segs[i];
        struct pol_val v;
        char num[24];
        const uint8_t *p;
        size_t len;
        size_t j;

        if (s->var == POL_TSEG_LIT) {
            p = (const uint8_t *)t->raw + s->off;
            len = s->len;
        } else if (s->var == POL_VAR_RULE) {
            p = (const uint8_t *)ec->rule->name;
            len = strlen(ec->rule->name);
        } else {
            pol_fact_value(ec, (enum pol_fact)s->var, &v);
            p = v.p;
            len = v.len;
            if (!v.present) {
                len = 0;
            } else if (pol_fact_defs[s->var].type == POL_FT_NUM) {
                len = (size_t)snprintf(num, sizeof(num), "%llu",
                                       (unsigned long long)v.num);
                p = (const uint8_t *)num;
            } else if (pol_fact_defs[s->var].type == POL_FT_BOOL) {
                p = (const uint8_t *)(v.num != 0 ? "true" : "false");
                len = v.num != 0 ? 4 : 5;
            }
        }
        for (j = 0; j < len && !*cut; j++) {
            uint8_t c = p[j];

            if (c < 0x20 || c == 0x7f) {
                continue; /* CR, LF, NUL...: never into a reply */
            }
            pol_tmpl_put(dst, lim, &n, c > 0x7f ? '?' : c, cut);
        }
    }
    dst[n] = '\0';
    return n;
}
