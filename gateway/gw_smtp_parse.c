#include "gateway/gw_smtp_parse.h"

#include <string.h>

#include "gateway/gw_str.h"

static int gw_path_parse(const uint8_t **pp, const uint8_t *end,
                         struct gw_path *path, bool allow_null,
                         bool allow_postmaster, struct gw_parse_error *err);
static bool gw_path_skip_route(const uint8_t **pp, const uint8_t *end);
static bool gw_domain_check(const uint8_t *p, size_t len, bool *has_8bit);
static bool gw_local_check(const uint8_t *p, size_t len, bool *has_8bit);
static int gw_params_parse(const uint8_t *p, const uint8_t *end,
                           struct gw_mail_args *out,
                           struct gw_parse_error *err);
static int gw_envelope_parse(const uint8_t *args, size_t len,
                             const char *prefix, bool is_mail,
                             struct gw_mail_args *out,
                             struct gw_parse_error *err);

#define GW_VERB_STR(name) #name,
static const char *const gw_verb_names[] = {GW_VERBS(GW_VERB_STR)};
#undef GW_VERB_STR

const char *
gw_verb_name(enum gw_verb verb)
{
    if ((unsigned)verb >= GW_VERB_COUNT) {
        return "UNKNOWN";
    }
    return gw_verb_names[verb];
}

/* atext (RFC 5322 3.2.3) plus 8-bit octets for SMTPUTF8 (RFC 6531 3.3). */
static bool
gw_is_atext(uint8_t c)
{
    if (gw_is_alpha(c) || gw_is_digit(c) || c >= 0x80) {
        return true;
    }
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

int
gw_cmd_parse(const uint8_t *line, size_t len, struct gw_cmd *cmd)
{
    size_t i;
    size_t vlen = 0;
    int v;

    memset(cmd, 0, sizeof(*cmd));
    for (i = 0; i < len; i++) {
        if ((line[i] < 32 && line[i] != '\t') || line[i] == 127) {
            return GW_PARSE_INVALID;
        }
    }
    while (vlen < len && gw_is_alpha(line[vlen])) {
        vlen++;
    }
    cmd->verb = GW_VERB_UNKNOWN;
    for (v = 1; v < GW_VERB_COUNT; v++) {
        if (gw_str_ieq(line, vlen, gw_verb_names[v])) {
            cmd->verb = (enum gw_verb)v;
            break;
        }
    }
    if (cmd->verb == GW_VERB_UNKNOWN) {
        return GW_PARSE_OK;
    }
    if (vlen < len && line[vlen] != ' ') {
        /* "MAILX" or "MAIL:" is not MAIL */
        cmd->verb = GW_VERB_UNKNOWN;
        return GW_PARSE_OK;
    }
    i = vlen;
    while (i < len && line[i] == ' ') {
        i++;
    }
    while (len > i && (line[len - 1] == ' ' || line[len - 1] == '\t')) {
        len--;
    }
    cmd->args = line + i;
    cmd->args_len = len - i;
    return GW_PARSE_OK;
}

int
gw_helo_parse(const uint8_t *args, size_t len)
{
    size_t i;

    if (len == 0) {
        return GW_PARSE_INVALID;
    }
    if (len > GW_MAX_DOMAIN) {
        return GW_PARSE_TOOLONG;
    }
    for (i = 0; i < len; i++) {
        if (!gw_is_graph(args[i]) && args[i] < 0x80) {
            return GW_PARSE_INVALID;
        }
    }
    return GW_PARSE_OK;
}

int
gw_mail_parse(const uint8_t *args, size_t len, struct gw_mail_args *out,
              struct gw_parse_error *err)
{
    return gw_envelope_parse(args, len, "FROM:", true, out, err);
}

int
gw_rcpt_parse(const uint8_t *args, size_t len, struct gw_mail_args *out,
              struct gw_parse_error *err)
{
    return gw_envelope_parse(args, len, "TO:", false, out, err);
}

static int
gw_envelope_parse(const uint8_t *args, size_t len, const char *prefix,
                  bool is_mail, struct gw_mail_args *out,
                  struct gw_parse_error *err)
{
    const uint8_t *p = args;
    const uint8_t *end = args + len;
    size_t plen = strlen(prefix);
    int rc;

    memset(out, 0, sizeof(*out));
    err->why = NULL;
    err->in_path = false;
    if (!gw_str_iprefix(args, len, prefix)) {
        err->why = is_mail ? "Syntax: MAIL FROM:<address>"
                           : "Syntax: RCPT TO:<address>";
        return GW_PARSE_INVALID;
    }
    p += plen;
    while (p < end && p[0] == ' ') {
        p++;
    }
    rc = gw_path_parse(&p, end, &out->path, is_mail, !is_mail, err);
    if (rc != GW_PARSE_OK) {
        err->in_path = true;
        return rc;
    }
    if (p < end && *p != ' ') {
        err->why = "Garbage after the address";
        err->in_path = true;
        return GW_PARSE_INVALID;
    }
    return gw_params_parse(p, end, out, err);
}

static int
gw_path_parse(const uint8_t **pp, const uint8_t *end, struct gw_path *path,
              bool allow_null, bool allow_postmaster,
              struct gw_parse_error *err)
{
    const uint8_t *p = *pp;
    const uint8_t *start;
    const uint8_t *at = NULL;
    bool quoted = false;
    size_t len;

    if (p >= end || *p != '<') {
        err->why = "Address must be enclosed in <>";
        return GW_PARSE_INVALID;
    }
    p++;
    if (p < end && *p == '>') {
        if (!allow_null) {
            err->why = "Null address not allowed here";
            return GW_PARSE_INVALID;
        }
        path->is_null = true;
        *pp = p + 1;
        return GW_PARSE_OK;
    }
    if (p < end && *p == '@' && !gw_path_skip_route(&p, end)) {
        err->why = "Bad source route";
        return GW_PARSE_INVALID;
    }
    start = p;
    /* Find the closing '>' outside a quoted local part and the last '@'. */
    while (p < end && (quoted || *p != '>')) {
        if (*p == '\\' && quoted) {
            p++;
        } else if (*p == '"') {
            quoted = !quoted;
        } else if (*p == '@' && !quoted) {
            at = p;
        }
        if (p < end) {
            p++;
        }
    }
    if (p >= end) {
        err->why = "Missing '>'";
        return GW_PARSE_INVALID;
    }
    len = (size_t)(p - start);
    if (len + 2 > GW_MAX_PATH) {
        err->why = "Address too long";
        return GW_PARSE_TOOLONG;
    }
    if (at == NULL) {
        if (allow_postmaster && gw_str_ieq(start, len, "postmaster")) {
            memcpy(path->addr, start, len);
            path->addr[len] = '\0';
            path->len = len;
            path->is_postmaster = true;
            *pp = p + 1;
            return GW_PARSE_OK;
        }
        err->why = "Address must have a domain";
        return GW_PARSE_INVALID;
    }
    if ((size_t)(at - start) > GW_MAX_LOCAL_PART) {
        err->why = "Local part too long";
        return GW_PARSE_TOOLONG;
    }
    if (!gw_local_check(start, (size_t)(at - start), &path->has_8bit)) {
        err->why = "Bad local part syntax";
        return GW_PARSE_INVALID;
    }
    if (!gw_domain_check(at + 1, (size_t)(p - at - 1), &path->has_8bit)) {
        err->why = "Bad domain syntax";
        return GW_PARSE_INVALID;
    }
    memcpy(path->addr, start, len);
    path->addr[len] = '\0';
    path->len = len;
    *pp = p + 1;
    return GW_PARSE_OK;
}

/* A-d-l ":" -- "@one,@two:" -- accepted and ignored (RFC 5321 C). */
static bool
gw_path_skip_route(const uint8_t **pp, const uint8_t *end)
{
    const uint8_t *p = *pp;
    const uint8_t *dom;
    bool has_8bit = false;

    for (;;) {
        if (p >= end || *p != '@') {
            return false;
        }
        p++;
        dom = p;
        while (p < end && *p != ',' && *p != ':' && *p != '>') {
            p++;
        }
        if (p >= end || !gw_domain_check(dom, (size_t)(p - dom), &has_8bit)) {
            return false;
        }
        if (*p == ':') {
            *pp = p + 1;
            return true;
        }
        if (*p != ',') {
            return false;
        }
        p++;
    }
}

static bool
gw_local_check(const uint8_t *p, size_t len, bool *has_8bit)
{
    size_t i;

    if (len == 0) {
        return false;
    }
    if (p[0] == '"') {
        /* Quoted-string: qtextSMTP / quoted-pairSMTP, 8-bit allowed. */
        if (len < 2 || p[len - 1] != '"') {
            return false;
        }
        for (i = 1; i + 1 < len; i++) {
            if (p[i] >= 0x80) {
                *has_8bit = true;
            } else if (p[i] == '\\') {
                i++;
                if (i + 1 >= len || p[i] < 32 || p[i] > 126) {
                    return false;
                }
            } else if (p[i] < 32 || p[i] == 127 || p[i] == '"') {
                return false;
            }
        }
        return true;
    }
    /* Dot-string: atoms separated by single dots. */
    if (p[0] == '.' || p[len - 1] == '.') {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (p[i] == '.') {
            if (p[i + 1] == '.') {
                return false;
            }
        } else if (!gw_is_atext(p[i])) {
            return false;
        }
        if (p[i] >= 0x80) {
            *has_8bit = true;
        }
    }
    return true;
}

static bool
gw_domain_check(const uint8_t *p, size_t len, bool *has_8bit)
{
    size_t i;
    size_t label = 0;

    if (len == 0 || len > GW_MAX_DOMAIN) {
        return false;
    }
    if (p[0] == '[') {
        /* address-literal: dcontent is %d33-90 / %d94-126 */
        if (len < 3 || p[len - 1] != ']') {
            return false;
        }
        for (i = 1; i + 1 < len; i++) {
            if (p[i] < 33 || p[i] > 126 || p[i] == '[' || p[i] == '\\' ||
                p[i] == ']') {
                return false;
            }
        }
        return true;
    }
    for (i = 0; i <= len; i++) {
        if (i == len || p[i] == '.') {
            /* a label: not empty, no leading or trailing hyphen */
            if (label == 0 || p[i - 1] == '-' || p[i - label] == '-' ||
                label > 63) {
                return false;
            }
            label = 0;
            continue;
        }
        if (p[i] >= 0x80) {
            *has_8bit = true;
        } else if (!gw_is_alpha(p[i]) && !gw_is_digit(p[i]) && p[i] != '-') {
            return false;
        }
        label++;
    }
    return true;
}

static int
gw_params_parse(const uint8_t *p, const uint8_t *end,
                struct gw_mail_args *out, struct gw_parse_error *err)
{
    struct gw_param *prm;
    const uint8_t *tok;
    const uint8_t *eq;
    size_t i;

    for (;;) {
        while (p < end && *p == ' ') {
            p++;
        }
        if (p >= end) {
            return GW_PARSE_OK;
        }
        if (out->nparams == GW_MAX_PARAMS) {
            err->why = "Too many parameters";
            return GW_PARSE_INVALID;
        }
        tok = p;
        while (p < end && *p != ' ') {
            p++;
        }
        prm = &out->params[out->nparams];
        eq = memchr(tok, '=', (size_t)(p - tok));
        prm->key = tok;
        prm->key_len = (size_t)((eq != NULL ? eq : p) - tok);
        /* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
        if (prm->key_len == 0 || prm->key[0] == '-') {
            err->why = "Bad parameter keyword";
            return GW_PARSE_INVALID;
        }
        for (i = 0; i < prm->key_len; i++) {
            if (!gw_is_alpha(tok[i]) && !gw_is_digit(tok[i]) &&
                tok[i] != '-') {
                err->why = "Bad parameter keyword";
                return GW_PARSE_INVALID;
            }
        }
        if (eq != NULL) {
            prm->value = eq + 1;
            prm->value_len = (size_t)(p - eq - 1);
            /* esmtp-value = 1*(%d33-60 / %d62-126), UTF-8 for SMTPUTF8 */
            if (prm->value_len == 0) {
                err->why = "Empty parameter value";
                return GW_PARSE_INVALID;
            }
            for (i = 0; i < prm->value_len; i++) {
                uint8_t c = prm->value[i];

                if ((c < 33 || c == '=' || c == 127) && c < 0x80) {
                    err->why = "Bad parameter value";
                    return GW_PARSE_INVALID;
                }
            }
        }
        out->nparams++;
    }
}

static bool
gw_is_upper_hex(uint8_t c)
{
    return gw_is_digit(c) || (c >= 'A' && c <= 'F');
}

bool
gw_xtext_valid(const uint8_t *p, size_t len)
{
    size_t i;

    if (len == 0) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (p[i] == '+') {
            if (i + 2 >= len) {
                return false; /* "+H" cut short */
            }
            if (!gw_is_upper_hex(p[i + 1]) || !gw_is_upper_hex(p[i + 2])) {
                return false;
            }
            i += 2;
        } else if (p[i] < 33 || p[i] > 126 || p[i] == '=') {
            return false;
        }
    }
    return true;
}

const struct gw_param *
gw_param_find(const struct gw_mail_args *a, const char *key)
{
    size_t i;

    for (i = 0; i < a->nparams; i++) {
        if (gw_str_ieq(a->params[i].key, a->params[i].key_len, key)) {
            return &a->params[i];
        }
    }
    return NULL;
}
