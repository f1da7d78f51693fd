/*
 * Configuration, typed values: the scalars of the table-driven keys
 * (booleans, words, integers, sizes, durations: parsed, range-checked,
 * stored, formatted back), names, domains, address literals and socket
 * addresses. Each turns one node of the tree into a field of the struct, or
 * reports why it cannot at the node's position.
 */
#include "gateway/gw_config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

#include "gateway/gw_str.h"

/* Static prototypes, in the order of their definitions. */
static void gw_cfg_expect(const struct gw_cfg_key *k, char *dst, size_t cap);
static bool gw_cfg_parse_value(const struct gw_cfg_key *k, const char *s,
                               uint64_t *v);
static void gw_cfg_format_value(const struct gw_cfg_key *k, uint64_t v,
                                char *dst, size_t cap);
static void gw_cfg_store(void *base, const struct gw_cfg_key *k, uint64_t v);
static uint64_t gw_cfg_fetch(const void *base, const struct gw_cfg_key *k);
static bool gw_cfg_is_addr_literal(const char *s);
static bool gw_cfg_split_addr(const char *text, char *host, size_t hcap,
                              unsigned *port, bool *numeric, char *why,
                              size_t why_cap);

/* ---- scalars, names and addresses ------------------------------------ */

const char *
gw_cfg_scalar(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
              const char *path, const char *expect)
{
    if (n->kind != GW_CFG_SCALAR || n->is_null) {
        gw_cfg_error(ctx, &n->pos, "%s: expected %s, got %s", path, expect,
                     gw_cfg_kind_name(n));
        return NULL;
    }
    return n->text;
}

/* Names appear in logs and in listeners' upstream keys: keep them short
 * and free of anything that needs quoting. */
void
gw_cfg_get_name(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                const char *path, char *dst)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "a name");
    char q[GW_CFG_QUOTE_MAX];
    size_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; s[i] != '\0'; i++) {
        uint8_t c = (uint8_t)s[i];

        if (!gw_is_alpha(c) && !gw_is_digit(c) && c != '-' && c != '_' &&
            c != '.') {
            break;
        }
    }
    if (i == 0 || s[i] != '\0' || i >= GW_NAME_MAX) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos,
                     "%s: a name is 1 to %d characters of "
                     "A-Z a-z 0-9 . _ -, got %s",
                     path, GW_NAME_MAX - 1, q);
        return;
    }
    gw_strlcpy(dst, s, GW_NAME_MAX);
}

void
gw_cfg_get_helo(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                const char *path, char *dst, size_t cap)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "a domain name");
    char q[GW_CFG_QUOTE_MAX];

    if (s == NULL) {
        return;
    }
    if (!gw_cfg_is_domain(s) && !gw_cfg_is_addr_literal(s)) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos,
                     "%s: expected a domain name or an "
                     "address literal such as [192.0.2.1] (RFC 5321 4.1.3), "
                     "got %s",
                     path, q);
        return;
    }
    gw_strlcpy(dst, s, cap);
}

void
gw_cfg_get_addr(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                const char *path, struct gw_sockaddr *addr)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "an address (host:port)");
    char why[128];
    char q[GW_CFG_QUOTE_MAX];

    if (s == NULL) {
        return;
    }
    if (!gw_config_parse_addr(s, addr, why, sizeof(why))) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &n->pos, "%s: bad address %s: %s", path, q, why);
    }
}

/* A relative path is relative to where it was written: the configuration
 * file's directory for a value from the file, the current directory for
 * one from -o or quick mode. The result is made absolute. */
bool
gw_cfg_get_path(struct gw_cfg_ctx *ctx, const struct gw_cfg_node *n,
                const char *path, bool allow_empty, char *dst, size_t cap)
{
    const char *s = gw_cfg_scalar(ctx, n, path, "a file path");
    const char *slash;
    char cwd[GW_CFG_CWD_MAX];
    char q[GW_CFG_QUOTE_MAX];
    size_t dirlen = 0;
    size_t i;
    bool fits;

    if (s == NULL) {
        return false;
    }
    gw_cfg_quote(q, sizeof(q), s);
    for (i = 0; s[i] != '\0'; i++) {
        uint8_t c = (uint8_t)s[i];

        if (c < 32 || c >= 127 || c == '"' || c == '\\') {
            break;
        }
    }
    if (s[i] != '\0' || (i == 0 && !allow_empty)) {
        gw_cfg_error(ctx, &n->pos,
                     "%s: expected a file path (printable ASCII, no '\"' or "
                     "'\\'), got %s",
                     path, q);
        return false;
    }
    if (s[0] == '\0' || s[0] == '/') {
        fits = gw_cfg_fmt(dst, cap, "%s", s);
    } else {
        slash = strrchr(ctx->source, '/');
        if (n->pos.line > 0 && n->pos.override == NULL && slash != NULL) {
            dirlen = (size_t)(slash - ctx->source) + 1;
        }
        if (dirlen > 0 && ctx->source[0] == '/') {
            cwd[0] = '\0';
        } else if (getcwd(cwd, sizeof(cwd)) == NULL) {
            gw_cfg_error(ctx, &n->pos,
                         "%s: cannot resolve the relative path %s: "
                         "getcwd: %s",
                         path, q, strerror(errno));
            return false;
        }
        fits = gw_cfg_fmt(dst, cap, "%s%s%.*s%s", cwd,
                          cwd[0] != '\0' && strcmp(cwd, "/") != 0 ? "/" : "",
                          (int)dirlen, ctx->source, s);
    }
    if (!fits) {
        dst[0] = '\0';
        gw_cfg_error(ctx, &n->pos,
                     "%s: the path %s is too long: at most %zu characters "
                     "once made absolute",
                     path, q, cap - 1);
        return false;
    }
    return true;
}

/* ---- table-driven keys ----------------------------------------------- */

/* Printable ASCII without spaces or quotes: safe in paths, names and the
 * YAML that gw_config_print writes back. */
static bool
gw_cfg_is_plain_string(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        uint8_t c = (uint8_t)s[i];

        if (c <= 32 || c >= 127 || c == '"' || c == '\\' || c == '\'') {
            return false;
        }
    }
    return true;
}

void
gw_cfg_set_key(struct gw_cfg_ctx *ctx, void *base, const struct gw_cfg_key *k,
               const struct gw_cfg_node *n, const char *path)
{
    char expect[96];
    char q[GW_CFG_QUOTE_MAX];
    char lo[32];
    char hi[32];
    const char *s;
    uint64_t v;

    gw_cfg_expect(k, expect, sizeof(expect));
    s = gw_cfg_scalar(ctx, n, path, expect);
    if (s == NULL) {
        return;
    }
    gw_cfg_quote(q, sizeof(q), s);
    if (k->vtype == GW_CFG_V_STRING) {
        if (!gw_cfg_is_plain_string(s) || strlen(s) >= k->max) {
            gw_cfg_error(ctx, &n->pos, "%s: expected %s, got %s", path,
                         expect, q);
            return;
        }
        gw_strlcpy((char *)base + k->off, s, k->max);
        return;
    }
    if (!gw_cfg_parse_value(k, s, &v)) {
        gw_cfg_error(ctx, &n->pos, "%s: expected %s, got %s", path, expect, q);
        return;
    }
    if (v < k->min || v > k->max) {
        gw_cfg_format_value(k, k->min, lo, sizeof(lo));
        gw_cfg_format_value(k, k->max, hi, sizeof(hi));
        gw_cfg_error(ctx, &n->pos, "%s: %s is out of range (allowed %s to %s)",
                     path, q, lo, hi);
        return;
    }
    gw_cfg_store(base, k, v);
}

const struct gw_cfg_key *
gw_cfg_find_key(const struct gw_cfg_key *keys, size_t nkeys, const char *name)
{
    size_t i;

    for (i = 0; i < nkeys; i++) {
        if (strcmp(keys[i].name, name) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

static void
gw_cfg_expect(const struct gw_cfg_key *k, char *dst, size_t cap)
{
    size_t i;
    size_t o;

    switch (k->vtype) {
    case GW_CFG_V_BOOL:
        gw_strlcpy(dst, "true or false (or yes/no, on/off)", cap);
        return;
    case GW_CFG_V_INT:
        gw_strlcpy(dst, "a plain decimal integer", cap);
        return;
    case GW_CFG_V_SIZE:
        gw_strlcpy(dst, "a size such as 65536, 64K or 50M", cap);
        return;
    case GW_CFG_V_DURATION:
        gw_strlcpy(dst, "a duration such as 500ms, 30s, 5m, 2h or 1d", cap);
        return;
    case GW_CFG_V_STRING:
        gw_strlcpy(dst, "a path or a name (no spaces or quotes)", cap);
        return;
    case GW_CFG_V_WORD:
        break;
    }
    o = gw_strlcpy(dst, "one of", cap);
    for (i = 0; k->words[i] != NULL && o < cap; i++) {
        o += gw_strlcpy(dst + o, i == 0 ? " " : ", ", cap - o);
        if (o < cap) {
            o += gw_strlcpy(dst + o, k->words[i], cap - o);
        }
    }
}

static bool
gw_cfg_parse_value(const struct gw_cfg_key *k, const char *s, uint64_t *v)
{
    static const char *const bools[] = {"false", "true", "no",
                                        "yes",   "off",  "on"};
    size_t len = strlen(s);
    size_t i;

    switch (k->vtype) {
    case GW_CFG_V_BOOL:
        for (i = 0; i < GW_CFG_NKEYS(bools); i++) {
            if (gw_str_ieq((const uint8_t *)s, len, bools[i])) {
                *v = i % 2;
                return true;
            }
        }
        return false;
    case GW_CFG_V_WORD:
        for (i = 0; k->words[i] != NULL; i++) {
            if (gw_str_ieq((const uint8_t *)s, len, k->words[i])) {
                *v = i;
                return true;
            }
        }
        return false;
    case GW_CFG_V_INT:
        return gw_str_to_u64((const uint8_t *)s, len, v);
    case GW_CFG_V_SIZE:
        return gw_parse_size(s, v);
    case GW_CFG_V_DURATION:
        return gw_parse_duration(s, v);
    case GW_CFG_V_STRING:
        break; /* handled by gw_cfg_set_key */
    }
    return false;
}

/* The shortest exact form: sizes in K/M/G/T, durations in d/h/m/s/ms. */
static void
gw_cfg_format_value(const struct gw_cfg_key *k, uint64_t v, char *dst,
                    size_t cap)
{
    static const char size_units[] = "TGMK";
    static const uint64_t ms_mult[] = {86400000, 3600000, 60000, 1000, 1};
    static const char *const ms_units[] = {"d", "h", "m", "s", "ms"};
    uint64_t mult;
    size_t i;

    switch (k->vtype) {
    case GW_CFG_V_BOOL:
        gw_strlcpy(dst, v != 0 ? "true" : "false", cap);
        return;
    case GW_CFG_V_WORD:
        gw_strlcpy(dst, k->words[v], cap);
        return;
    case GW_CFG_V_INT:
    case GW_CFG_V_STRING:
        break;
    case GW_CFG_V_SIZE:
        for (i = 0; i < 4 && v != 0; i++) {
            mult = 1ULL << (10 * (4 - i));
            if (v % mult == 0) {
                (void)gw_cfg_fmt(dst, cap, "%" PRIu64 "%c", v / mult,
                                 size_units[i]);
                return;
            }
        }
        break;
    case GW_CFG_V_DURATION:
        for (i = 0; i < GW_CFG_NKEYS(ms_mult) && v != 0; i++) {
            if (v % ms_mult[i] == 0) {
                (void)gw_cfg_fmt(dst, cap, "%" PRIu64 "%s", v / ms_mult[i],
                                 ms_units[i]);
                return;
            }
        }
        break;
    }
    (void)gw_cfg_fmt(dst, cap, "%" PRIu64, v);
}

void
gw_cfg_defaults(void *base, const struct gw_cfg_key *keys, size_t nkeys)
{
    size_t i;

    for (i = 0; i < nkeys; i++) {
        if (keys[i].vtype == GW_CFG_V_STRING) {
            gw_strlcpy((char *)base + keys[i].off, keys[i].words[0],
                       keys[i].max);
            continue;
        }
        gw_cfg_store(base, &keys[i], keys[i].def);
    }
}

static void
gw_cfg_store(void *base, const struct gw_cfg_key *k, uint64_t v)
{
    void *p = (char *)base + k->off;

    switch (k->ctype) {
    case GW_CFG_C_BOOL:
        *(bool *)p = v != 0;
        break;
    case GW_CFG_C_SIZE:
        *(size_t *)p = (size_t)v;
        break;
    case GW_CFG_C_U64:
        *(uint64_t *)p = v;
        break;
    case GW_CFG_C_BARE_NL:
        *(enum gw_bare_newlines *)p = (enum gw_bare_newlines)v;
        break;
    case GW_CFG_C_LOG_LEVEL:
        *(enum gw_log_level *)p = (enum gw_log_level)v;
        break;
    case GW_CFG_C_UP_CONNECT:
        *(enum gw_up_connect *)p = (enum gw_up_connect)v;
        break;
    case GW_CFG_C_EIGHTBIT:
        *(enum gw_eightbit *)p = (enum gw_eightbit)v;
        break;
    case GW_CFG_C_LOG_FORMAT:
        *(enum gw_log_format *)p = (enum gw_log_format)v;
        break;
    case GW_CFG_C_LOG_SINK:
        *(enum gw_log_sink *)p = (enum gw_log_sink)v;
        break;
    case GW_CFG_C_TLS_MODE:
        *(enum gw_tls_mode *)p = (enum gw_tls_mode)v;
        break;
    case GW_CFG_C_UP_TLS:
        *(enum gw_up_tls *)p = (enum gw_up_tls)v;
        break;
    case GW_CFG_C_UP_PROXY:
        *(enum gw_up_proxy *)p = (enum gw_up_proxy)v;
        break;
    case GW_CFG_C_STRING:
        break; /* strings are copied by gw_cfg_set_key */
    }
}

static uint64_t
gw_cfg_fetch(const void *base, const struct gw_cfg_key *k)
{
    const void *p = (const char *)base + k->off;

    switch (k->ctype) {
    case GW_CFG_C_BOOL:
        return *(const bool *)p ? 1 : 0;
    case GW_CFG_C_SIZE:
        return *(const size_t *)p;
    case GW_CFG_C_U64:
        return *(const uint64_t *)p;
    case GW_CFG_C_BARE_NL:
        return (uint64_t) * (const enum gw_bare_newlines *)p;
    case GW_CFG_C_LOG_LEVEL:
        return (uint64_t) * (const enum gw_log_level *)p;
    case GW_CFG_C_UP_CONNECT:
        return (uint64_t) * (const enum gw_up_connect *)p;
    case GW_CFG_C_EIGHTBIT:
        return (uint64_t) * (const enum gw_eightbit *)p;
    case GW_CFG_C_LOG_FORMAT:
        return (uint64_t) * (const enum gw_log_format *)p;
    case GW_CFG_C_LOG_SINK:
        return (uint64_t) * (const enum gw_log_sink *)p;
    case GW_CFG_C_TLS_MODE:
        return (uint64_t) * (const enum gw_tls_mode *)p;
    case GW_CFG_C_UP_TLS:
        return (uint64_t) * (const enum gw_up_tls *)p;
    case GW_CFG_C_UP_PROXY:
        return (uint64_t) * (const enum gw_up_proxy *)p;
    case GW_CFG_C_STRING:
        break;
    }
    return 0;
}

void
gw_cfg_print_keys(FILE *fp, const char *indent, const void *base,
                  const struct gw_cfg_key *keys, size_t nkeys)
{
    char val[32];
    size_t i;

    for (i = 0; i < nkeys; i++) {
        if (keys[i].vtype == GW_CFG_V_STRING) {
            /* validated: no quote or backslash inside */
            fprintf(fp, "%s%s: \"%s\"\n", indent, keys[i].name,
                    (const char *)base + keys[i].off);
            continue;
        }
        gw_cfg_format_value(&keys[i], gw_cfg_fetch(base, &keys[i]), val,
                            sizeof(val));
        fprintf(fp, "%s%s: %s\n", indent, keys[i].name, val);
    }
}

/* ---- domains and addresses ------------------------------------------- */

/* RFC 1035 preferred name syntax (letters, digits, hyphens; labels of 1..63
 * octets, no leading or trailing hyphen), at most 255 octets. */
bool
gw_cfg_is_domain(const char *s)
{
    size_t label = 0;
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        uint8_t c = (uint8_t)s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') {
                return false;
            }
            label = 0;
        } else if (gw_is_alpha(c) || gw_is_digit(c) ||
                   (c == '-' && label > 0)) {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return i > 0 && i <= GW_MAX_DOMAIN && label > 0 && s[i - 1] != '-';
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3). */
static bool
gw_cfg_is_addr_literal(const char *s)
{
    char inner[INET6_ADDRSTRLEN + 8];
    unsigned char bin[sizeof(struct in6_addr)];
    size_t len = strlen(s);

    if (len < 3 || s[0] != '[' || s[len - 1] != ']' ||
        len - 2 >= sizeof(inner)) {
        return false;
    }
    memcpy(inner, s + 1, len - 2);
    inner[len - 2] = '\0';
    if (gw_str_iprefix((const uint8_t *)inner, len - 2, "IPv6:")) {
        return inet_pton(AF_INET6, inner + 5, bin) == 1;
    }
    return inet_pton(AF_INET, inner, bin) == 1;
}

void
gw_cfg_default_hostname(char *dst, size_t cap)
{
    char buf[GW_MAX_DOMAIN + 2];

    if (gethostname(buf, sizeof(buf)) != 0) {
        buf[0] = '\0';
    }
    buf[sizeof(buf) - 1] = '\0';
    gw_strlcpy(dst, gw_cfg_is_domain(buf) ? buf : "localhost", cap);
}

bool
gw_config_parse_ip(const char *text, struct sockaddr_storage *ss)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

bool
gw_config_parse_addr(const char *text, struct gw_sockaddr *addr, char *why,
                     size_t why_cap)
{
    char host[GW_MAX_DOMAIN + 1];
    char port[8];
    char ip[INET6_ADDRSTRLEN + 32];
    char q[GW_CFG_QUOTE_MAX];
    char dummy[8];
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    unsigned portnum = 0;
    bool numeric = false;
    int family;
    int rc;

    if (why == NULL || why_cap == 0) {
        why = dummy;
        why_cap = sizeof(dummy);
    }
    why[0] = '\0';
    if (text == NULL || !gw_cfg_split_addr(text, host, sizeof(host), &portnum,
                                           &numeric, why, why_cap)) {
        if (text == NULL) {
            gw_cfg_fmt(why, why_cap, "no address");
        }
        return false;
    }
    (void)gw_cfg_fmt(port, sizeof(port), "%u", portnum);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        gw_cfg_quote(q, sizeof(q), host);
        gw_cfg_fmt(why, why_cap, "cannot resolve %s: %s", q,
                   rc != 0 ? gai_strerror(rc) : "no address");
        return false;
    }
    memset(addr, 0, sizeof(*addr));
    if (res->ai_addrlen > sizeof(addr->ss) ||
        getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), NULL, 0,
                    NI_NUMERICHOST) != 0) {
        freeaddrinfo(res);
        gw_cfg_quote(q, sizeof(q), host);
        gw_cfg_fmt(why, why_cap, "cannot use the address of %s", q);
        return false;
    }
    memcpy(&addr->ss, res->ai_addr, res->ai_addrlen);
    addr->len = (socklen_t)res->ai_addrlen;
    family = res->ai_family;
    freeaddrinfo(res);
    if (!gw_cfg_fmt(addr->text, sizeof(addr->text),
                    family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, portnum)) {
        gw_cfg_fmt(why, why_cap, "address '%s' is too long", ip);
        return false;
    }
    return true;
}

/* "host:port", "[v6]:port", "host" or "[v6]" (port 25). */
static bool
gw_cfg_split_addr(const char *text, char *host, size_t hcap, unsigned *port,
                  bool *numeric, char *why, size_t why_cap)
{
    const char *h = text;
    const char *end;
    const char *p = NULL;
    size_t hlen;
    uint64_t v = GW_CFG_PORT_SMTP;

    if (text[0] == '[') {
        h = text + 1;
        end = strchr(h, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            gw_cfg_fmt(why, why_cap, "expected [address] or [address]:port");
            return false;
        }
        p = end[1] == ':' ? end + 2 : NULL;
        *numeric = true;
    } else {
        end = strchr(text, ':');
        if (end != NULL && strchr(end + 1, ':') != NULL) {
            gw_cfg_fmt(why, why_cap,
                       "an IPv6 address needs brackets, as in [::1]:25");
            return false;
        }
        if (end == NULL) {
            end = text + strlen(text);
        } else {
            p = end + 1;
        }
    }
    hlen = (size_t)(end - h);
    if (hlen == 0 || hlen >= hcap) {
        gw_cfg_fmt(why, why_cap,
                   hlen == 0 ? "missing host" : "host name is too long");
        return false;
    }
    if (p != NULL && (!gw_str_to_u64((const uint8_t *)p, strlen(p), &v) ||
                      v == 0 || v > 65535)) {
        gw_cfg_fmt(why, why_cap, "the port must be a number from 1 to 65535");
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)v;
    return true;
}
