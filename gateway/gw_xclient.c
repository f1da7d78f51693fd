#include "gateway/gw_xclient.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gw_smtp_parse.h"
#include "gateway/gw_str.h"

struct gw_xattr_name {
    const char *name;
    unsigned flag;
};

static const struct gw_xattr_name gw_xattr_names[] = {
    {"NAME", GW_XATTR_NAME},         {"ADDR", GW_XATTR_ADDR},
    {"PORT", GW_XATTR_PORT},         {"PROTO", GW_XATTR_PROTO},
    {"HELO", GW_XATTR_HELO},         {"LOGIN", GW_XATTR_LOGIN},
    {"DESTADDR", GW_XATTR_DESTADDR}, {"DESTPORT", GW_XATTR_DESTPORT},
    {"SOURCE", GW_XATTR_SOURCE},
};

#define GW_XATTR_NNAMES (sizeof(gw_xattr_names) / sizeof(gw_xattr_names[0]))

/* What each command can carry. */
#define GW_XCLIENT_ATTRS                                                       \
    (GW_XATTR_NAME | GW_XATTR_ADDR | GW_XATTR_PORT | GW_XATTR_PROTO |          \
     GW_XATTR_HELO | GW_XATTR_LOGIN | GW_XATTR_DESTADDR | GW_XATTR_DESTPORT)
#define GW_XFORWARD_ATTRS                                                      \
    (GW_XATTR_NAME | GW_XATTR_ADDR | GW_XATTR_PORT | GW_XATTR_PROTO |          \
     GW_XATTR_HELO | GW_XATTR_SOURCE)

#define GW_UNAVAILABLE "[UNAVAILABLE]"

unsigned
gw_xattr_parse(const uint8_t *p, size_t len)
{
    unsigned flags = 0;
    size_t i = 0;

    while (i < len) {
        size_t start;
        size_t k;

        while (i < len && p[i] == ' ') {
            i++;
        }
        start = i;
        while (i < len && p[i] != ' ') {
            i++;
        }
        for (k = 0; k < GW_XATTR_NNAMES; k++) {
            if (gw_str_ieq(p + start, i - start, gw_xattr_names[k].name)) {
                flags |= gw_xattr_names[k].flag;
            }
        }
    }
    return flags;
}

bool
gw_xtext_decode(char *dst, size_t cap, const uint8_t *p, size_t len)
{
    size_t o = 0;
    size_t i;

    /* the syntax is gw_xtext_valid's (upper-case "+HH"); "" is a value */
    if (len > 0 && !gw_xtext_valid(p, len)) {
        return false;
    }
    for (i = 0; i < len; i++) {
        uint8_t c = p[i];

        if (c == '+') {
            c = (uint8_t)(gw_hex_value(p[i + 1]) << 4 |
                          gw_hex_value(p[i + 2]));
            i += 2;
        }
        if (c == 0 || o + 1 >= cap) {
            return false;
        }
        dst[o++] = (char)c;
    }
    if (cap == 0) {
        return false;
    }
    dst[o] = '\0';
    return true;
}

bool
gw_xtext_encode(char *dst, size_t cap, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] >= 33 && p[i] <= 126 && p[i] != '+' && p[i] != '=') {
            if (o + 1 >= cap) {
                return false;
            }
            dst[o++] = (char)p[i];
        } else {
            if (o + 3 >= cap) {
                return false;
            }
            dst[o++] = '+';
            dst[o++] = hex[p[i] >> 4];
            dst[o++] = hex[p[i] & 0xf];
        }
    }
    if (o >= cap) {
        return false;
    }
    dst[o] = '\0';
    return true;
}

/* "192.0.2.1" / "IPV6:2001:db8::1" (Postfix's form) and the port. */
static bool
gw_ident_addr(const struct sockaddr *sa, char *addr, size_t cap,
              unsigned *port)
{
    if (sa == NULL) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        *port = ntohs(in->sin_port);
        return inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)cap) !=
               NULL;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        *port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            return inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, addr,
                             (socklen_t)cap) != NULL;
        }
        memcpy(addr, "IPV6:", 5);
        return inet_ntop(AF_INET6, &in6->sin6_addr, addr + 5,
                         (socklen_t)(cap - 5)) != NULL;
    }
    return false;
}

/* Appends " NAME=value" to the current line, or starts a new line. */
static bool
gw_ident_add(struct gw_ident_lines *out, const char *cmd, const char *name,
             const char *value)
{
    char item[GW_XCLIENT_LINE_MAX + 1];
    size_t ilen;
    size_t cur;
    int n = snprintf(item, sizeof(item), " %s=%s", name, value);

    if (n < 0 || (size_t)n + strlen(cmd) > GW_XCLIENT_LINE_MAX) {
        return false; /* cannot happen with bounded values */
    }
    ilen = (size_t)n;
    cur = out->n > 0 ? strlen(out->line[out->n - 1]) : 0;
    if (out->n == 0 || cur + ilen > GW_XCLIENT_LINE_MAX) {
        if (out->n == GW_XCLIENT_MAX_LINES) {
            return false;
        }
        snprintf(out->line[out->n++], GW_XCLIENT_LINE_MAX + 1, "%s", cmd);
        cur = strlen(cmd);
    }
    memcpy(out->line[out->n - 1] + cur, item, ilen + 1);
    return true;
}

/* A client-supplied attribute, xtext-encoded; [UNAVAILABLE] when unknown
 * or when its encoding cannot fit one command line (a 255-octet HELO of
 * 8-bit octets is 765 octets of xtext). */
static bool
gw_ident_add_value(struct gw_ident_lines *out, const char *cmd,
                   const char *name, const char *raw)
{
    char val[3 * 255 + 1];

    if (raw == NULL || raw[0] == '\0' ||
        !gw_xtext_encode(val, sizeof(val), (const uint8_t *)raw,
                         strlen(raw)) ||
        strlen(cmd) + strlen(name) + strlen(val) + 2 > GW_XCLIENT_LINE_MAX) {
        return gw_ident_add(out, cmd, name, GW_UNAVAILABLE);
    }
    return gw_ident_add(out, cmd, name, val);
}

bool
gw_ident_build(enum gw_ident_cmd cmd, unsigned offered,
               const struct gw_client_identity *id, struct gw_ident_lines *out)
{
    const char *verb = cmd == GW_IDENT_XCLIENT ? "XCLIENT" : "XFORWARD";
    unsigned want = offered & (cmd == GW_IDENT_XCLIENT ? GW_XCLIENT_ATTRS
                                                       : GW_XFORWARD_ATTRS);
    char addr[64 + 6];
    char dest[64 + 6];
    char num[8];
    unsigned port = 0;
    unsigned dport = 0;
    bool have_addr = gw_ident_addr(id->client, addr, sizeof(addr), &port);
    bool have_dest = gw_ident_addr(id->local, dest, sizeof(dest), &dport);
    bool ok = true;

    memset(out, 0, sizeof(*out));
    if (want == 0) {
        return false;
    }
    /* NAME: Postern does no reverse lookups, so the name is unknown */
    if ((want & GW_XATTR_NAME) != 0) {
        ok = ok && gw_ident_add(out, verb, "NAME", GW_UNAVAILABLE);
    }
    if ((want & GW_XATTR_ADDR) != 0) {
        ok = ok && gw_ident_add(out, verb, "ADDR",
                                have_addr ? addr : GW_UNAVAILABLE);
    }
    if ((want & GW_XATTR_PORT) != 0) {
        snprintf(num, sizeof(num), "%u", port);
        ok = ok && gw_ident_add(out, verb, "PORT",
                                have_addr ? num : GW_UNAVAILABLE);
    }
    if ((want & GW_XATTR_PROTO) != 0) {
        ok = ok && gw_ident_add(out, verb, "PROTO",
                                id->esmtp ? "ESMTP" : "SMTP");
    }
    if ((want & GW_XATTR_HELO) != 0) {
        ok = ok && gw_ident_add_value(out, verb, "HELO", id->helo);
    }
    if ((want & GW_XATTR_LOGIN) != 0) {
        ok = ok && gw_ident_add_value(out, verb, "LOGIN", id->login);
    }
    if ((want & GW_XATTR_DESTADDR) != 0) {
        ok = ok && gw_ident_add(out, verb, "DESTADDR",
                                have_dest ? dest : GW_UNAVAILABLE);
    }
    if ((want & GW_XATTR_DESTPORT) != 0) {
        snprintf(num, sizeof(num), "%u", dport);
        ok = ok && gw_ident_add(out, verb, "DESTPORT",
                                have_dest ? num : GW_UNAVAILABLE);
    }
    if ((want & GW_XATTR_SOURCE) != 0) {
        ok = ok && gw_ident_add(out, verb, "SOURCE", "REMOTE");
    }
    return ok && out->n > 0;
}
