#include "gateway/gw_xclient_in.h"

#include <arpa/inet.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_log.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_session.h"
#include "gateway/gw_str.h"
#include "gateway/gw_worker.h"
#include "gateway/gw_xclient.h"

/* What one XCLIENT command says; unset fields leave the session as is. */
struct gw_xclient_in {
    bool has_addr;
    bool addr_unknown;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } addr;
    long port;       /* -1: not given */
    bool has_dest;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } dest;
    long dest_port;
    bool has_helo;
    char helo[GW_MAX_DOMAIN + 1]; /* "" for [UNAVAILABLE] */
    bool has_login;
    char login[GW_SASL_USER_MAX + 1];
    int proto;       /* -1, 0 SMTP, 1 ESMTP */
};

bool
gw_xclient_in_allowed(const struct gw_session *s)
{
    return s->xclient_ok;
}

static bool
gw_xclient_in_unavailable(const char *v)
{
    return strcasecmp(v, "[UNAVAILABLE]") == 0 ||
           strcasecmp(v, "[TEMPUNAVAIL]") == 0;
}

/* "192.0.2.1" or "IPV6:2001:db8::1" into sa (port 0). */
static bool
gw_xclient_in_addr(const char *v, struct sockaddr_in6 *sa6,
                   struct sockaddr_in *sa4, bool *v6)
{
    if (strncasecmp(v, "IPV6:", 5) == 0) {
        memset(sa6, 0, sizeof(*sa6));
        sa6->sin6_family = AF_INET6;
        *v6 = true;
        return inet_pton(AF_INET6, v + 5, &sa6->sin6_addr) == 1;
    }
    memset(sa4, 0, sizeof(*sa4));
    sa4->sin_family = AF_INET;
    *v6 = false;
    return inet_pton(AF_INET, v, &sa4->sin_addr) == 1;
}

static long
gw_xclient_in_port(const char *v)
{
    uint64_t n;

    if (!gw_str_to_u64((const uint8_t *)v, strlen(v), &n) || n > 65535) {
        return -2;
    }
    return (long)n;
}

/* One NAME=value; false with a reply text on a bad one. */
static bool
gw_xclient_in_attr(struct gw_xclient_in *x, const uint8_t *p, size_t len,
                   const char **why)
{
    const uint8_t *eq = memchr(p, '=', len);
    char v[GW_MAX_DOMAIN * 3 + 1];
    size_t nlen;
    bool v6;

    *why = "Bad XCLIENT attribute";
    if (eq == NULL ||
        !gw_xtext_decode(v, sizeof(v), eq + 1, len - (size_t)(eq - p) - 1)) {
        return false;
    }
    nlen = (size_t)(eq - p);
    if (gw_str_ieq(p, nlen, "NAME")) {
        return true; /* Postern does no reverse lookups: not used */
    }
    if (gw_str_ieq(p, nlen, "ADDR") || gw_str_ieq(p, nlen, "DESTADDR")) {
        bool dest = nlen == 8;
        bool ok;

        if (gw_xclient_in_unavailable(v)) {
            x->addr_unknown = x->addr_unknown || !dest;
            return true;
        }
        ok = dest ? gw_xclient_in_addr(v, &x->dest.in6, &x->dest.in, &v6)
                  : gw_xclient_in_addr(v, &x->addr.in6, &x->addr.in, &v6);
        *why = "Bad XCLIENT address";
        if (dest) {
            x->has_dest = ok;
        } else {
            x->has_addr = ok;
        }
        return ok;
    }
    if (gw_str_ieq(p, nlen, "PORT") || gw_str_ieq(p, nlen, "DESTPORT")) {
        long port = gw_xclient_in_unavailable(v) ? -1 : gw_xclient_in_port(v);

        *why = "Bad XCLIENT port";
        if (nlen == 4) {
            x->port = port;
        } else {
            x->dest_port = port;
        }
        return port >= -1;
    }
    if (gw_str_ieq(p, nlen, "HELO")) {
        x->has_helo = true;
        x->helo[0] = '\0';
        if (!gw_xclient_in_unavailable(v)) {
            *why = "Bad XCLIENT HELO";
            if (strlen(v) > GW_MAX_DOMAIN ||
                gw_helo_parse((const uint8_t *)v, strlen(v)) != GW_PARSE_OK) {
                return false;
            }
            memcpy(x->helo, v, strlen(v) + 1);
        }
        return true;
    }
    if (gw_str_ieq(p, nlen, "LOGIN")) {
        x->has_login = true;
        x->login[0] = '\0';
        if (!gw_xclient_in_unavailable(v)) {
            *why = "Bad XCLIENT LOGIN";
            if (strlen(v) > GW_SASL_USER_MAX) {
                return false;
            }
            memcpy(x->login, v, strlen(v) + 1);
        }
        return true;
    }
    if (gw_str_ieq(p, nlen, "PROTO")) {
        *why = "Bad XCLIENT PROTO";
        x->proto = strcasecmp(v, "ESMTP") == 0  ? 1
                   : strcasecmp(v, "SMTP") == 0 ? 0
                                                : -2;
        return x->proto != -2;
    }
    *why = "Bad XCLIENT attribute name";
    return false;
}

static void
gw_xclient_in_set_port(struct sockaddr *sa, long port)
{
    if (port < 0) {
        return;
    }
    if (sa->sa_family == AF_INET) {
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    } else if (sa->sa_family == AF_INET6) {
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
    }
}

static void
gw_xclient_in_apply(struct gw_session *s, struct gw_xclient_in *x)
{
    if (x->has_addr) {
        gw_xclient_in_set_port(&x->addr.sa, x->port);
        gw_session_set_client(s, &x->addr.sa);
    } else if (!x->addr_unknown && x->port >= 0) {
        gw_xclient_in_set_port(&s->client_sa.sa, x->port);
    }
    if (x->has_dest) {
        gw_xclient_in_set_port(&x->dest.sa, x->dest_port);
        gw_session_set_local(s, &x->dest.sa);
    }
    if (x->has_helo) {
        gw_free(s->helo);
        s->helo = x->helo[0] != '\0' ? gw_strndup(x->helo, strlen(x->helo))
                                     : NULL;
    }
    if (x->has_login) {
        if (s->auth_user != NULL) {
            mbedtls_platform_zeroize(s->auth_user, strlen(s->auth_user));
            gw_free(s->auth_user);
        }
        s->auth_user = x->login[0] != '\0'
                           ? gw_strndup(x->login, strlen(x->login))
                           : NULL;
        s->auth_mech = GW_SASL_NONE;
    }
    if (x->proto >= 0) {
        s->esmtp = x->proto == 1;
    }
}

void
gw_xclient_in_command(struct gw_session *s, const struct gw_cmd *cmd)
{
    struct gw_xclient_in x;
    const uint8_t *p = cmd->args;
    const uint8_t *end = cmd->args + cmd->args_len;
    const char *why = "Syntax: XCLIENT attribute=value ...";
    char addr[80];
    char helo[GW_MAX_DOMAIN * 4 + 1];

    if (!s->xclient_ok) {
        gw_session_reply(s, 550, "5.7.0", "XCLIENT not authorized");
        gw_session_count_error(s);
        return;
    }
    memset(&x, 0, sizeof(x));
    x.port = x.dest_port = -1;
    x.proto = -1;
    if (cmd->args_len == 0) {
        gw_session_reply(s, 501, "5.5.4", why);
        gw_session_count_error(s);
        return;
    }
    while (p < end) {
        const uint8_t *sp = memchr(p, ' ', (size_t)(end - p));
        size_t n = sp != NULL ? (size_t)(sp - p) : (size_t)(end - p);

        if (n > 0 && !gw_xclient_in_attr(&x, p, n, &why)) {
            gw_session_reply(s, 501, "5.5.4", why);
            gw_session_count_error(s);
            return;
        }
        p += n + (sp != NULL ? 1 : 0);
    }
    gw_xclient_in_apply(s, &x);
    gw_session_client_text(s, addr, sizeof(addr));
    gw_str_escape(helo, sizeof(helo),
                  (const uint8_t *)(s->helo != NULL ? s->helo : "-"),
                  s->helo != NULL ? strlen(s->helo) : 1);
    gw_log(GW_LOG_INFO, s->sid, "event=xclient client=%s helo=%s login=%s",
           addr, helo, s->auth_user != NULL ? "yes" : "no");
    gw_session_restart(s);
}
