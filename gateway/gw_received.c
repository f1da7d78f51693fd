#include "gateway/gw_received.h"

#include <stdio.h>
#include <string.h>

/* Keeps letters, digits and the few marks a host name, an address
 * literal or a cipher name uses; anything else becomes '?'. Bounded. */
static void
gw_received_clean(char *dst, size_t cap, const char *s)
{
    size_t i;
    size_t o = 0;

    for (i = 0; s != NULL && s[i] != '\0' && o + 1 < cap && i < 255; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr(".-_:[]@+=/", c) != NULL) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '?';
        }
    }
    dst[o] = '\0';
}

size_t
gw_received_format(char *dst, size_t cap, const struct gw_received *r)
{
    char helo[128];
    char ip[64];
    char host[128];
    char id[40];
    char tls[160] = "";
    char rcpt[300] = "";
    char date[64];
    struct tm tm;
    int n;

    gw_received_clean(helo, sizeof(helo), r->helo != NULL ? r->helo : "");
    gw_received_clean(ip, sizeof(ip), r->client_ip);
    gw_received_clean(host, sizeof(host), r->hostname);
    gw_received_clean(id, sizeof(id), r->id);
    if (r->tls_version != NULL && r->tls_version[0] != '\0') {
        char v[32];
        char c[96];

        gw_received_clean(v, sizeof(v), r->tls_version);
        gw_received_clean(c, sizeof(c), r->tls_cipher);
        snprintf(tls, sizeof(tls), "\r\n\t(version=%s cipher=%s)", v, c);
    }
    if (r->for_rcpt != NULL) {
        char a[260];

        gw_received_clean(a, sizeof(a), r->for_rcpt);
        snprintf(rcpt, sizeof(rcpt), "\r\n\tfor <%s>", a);
    }
    gmtime_r(&r->when, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    n = snprintf(dst, cap,
                 "Received: from %s ([%s%s])\r\n"
                 "\tby %s (Postern) with %s id %s%s%s;\r\n"
                 "\t%s\r\n",
                 helo[0] != '\0' ? helo : "unknown",
                 strchr(ip, ':') != NULL ? "IPv6:" : "", ip, host, r->with,
                 id, tls, rcpt, date);
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    return (size_t)n;
}

const char *
gw_received_with(bool esmtp, bool tls, bool auth)
{
    if (!esmtp) {
        return tls ? "SMTPS" : "SMTP";
    }
    if (auth) {
        return tls ? "ESMTPSA" : "ESMTPA";
    }
    return tls ? "ESMTPS" : "ESMTP";
}

size_t
gw_trace_format(char *dst, size_t cap, const char *name,
                const struct gw_received *r, unsigned port,
                const char *auth_user)
{
    char helo[128];
    char ip[64];
    char v[32] = "none";
    char c[96] = "none";
    char user[128] = "none";
    int n;

    gw_received_clean(helo, sizeof(helo), r->helo != NULL ? r->helo : "");
    gw_received_clean(ip, sizeof(ip), r->client_ip);
    if (r->tls_version != NULL && r->tls_version[0] != '\0') {
        gw_received_clean(v, sizeof(v), r->tls_version);
        gw_received_clean(c, sizeof(c), r->tls_cipher);
    }
    if (auth_user != NULL) {
        gw_received_clean(user, sizeof(user), auth_user);
    }
    n = snprintf(dst, cap,
                 "%s: addr=%s; port=%u; helo=%s;\r\n"
                 "\ttls=%s; cipher=%s; auth=%s\r\n",
                 name, ip, port, helo[0] != '\0' ? helo : "none", v, c, user);
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    return (size_t)n;
}
