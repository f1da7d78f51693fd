#include "gateway/gw_caps.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gw_config.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_str.h"
#include "gateway/gw_xclient.h"

struct gw_cap_name {
    const char *keyword;
    uint32_t flag;
};

static const struct gw_cap_name gw_cap_names[] = {
    {"PIPELINING", GW_CAP_PIPELINING},
    {"SIZE", GW_CAP_SIZE},
    {"8BITMIME", GW_CAP_8BITMIME},
    {"ENHANCEDSTATUSCODES", GW_CAP_ENHANCEDSTATUSCODES},
    {"CHUNKING", GW_CAP_CHUNKING},
    {"BINARYMIME", GW_CAP_BINARYMIME},
    {"SMTPUTF8", GW_CAP_SMTPUTF8},
    {"DSN", GW_CAP_DSN},
    {"STARTTLS", GW_CAP_STARTTLS},
    {"AUTH", GW_CAP_AUTH},
    {"XCLIENT", GW_CAP_XCLIENT},
    {"XFORWARD", GW_CAP_XFORWARD},
    {"REQUIRETLS", GW_CAP_REQUIRETLS},
    {"LIMITS", GW_CAP_LIMITS},
};

#define GW_CAP_NNAMES (sizeof(gw_cap_names) / sizeof(gw_cap_names[0]))

const char *
gw_caps_keyword(uint32_t flag)
{
    size_t i;

    for (i = 0; i < GW_CAP_NNAMES; i++) {
        if (gw_cap_names[i].flag == flag) {
            return gw_cap_names[i].keyword;
        }
    }
    return NULL;
}

uint32_t
gw_caps_flag(const char *keyword)
{
    size_t i;

    for (i = 0; i < GW_CAP_NNAMES; i++) {
        if (gw_str_ieq((const uint8_t *)keyword, strlen(keyword),
                       gw_cap_names[i].keyword)) {
            return gw_cap_names[i].flag;
        }
    }
    return 0;
}

/* The mechanisms Postern knows in "PLAIN LOGIN CRAM-MD5" (also the old
 * "AUTH=LOGIN PLAIN" form). */
static unsigned
gw_caps_auth_mechs(const uint8_t *p, size_t len)
{
    unsigned mechs = 0;
    size_t i = 0;

    while (i < len) {
        size_t start;
        enum gw_sasl_mech m;

        while (i < len && p[i] == ' ') {
            i++;
        }
        start = i;
        while (i < len && p[i] != ' ') {
            i++;
        }
        m = gw_sasl_mech_parse(p + start, i - start);
        if (m != GW_SASL_NONE) {
            mechs |= GW_SASL_MECH_BIT(m);
        }
    }
    return mechs;
}

void
gw_caps_parse_line(struct gw_caps *c, const uint8_t *p, size_t len)
{
    size_t klen = 0;
    size_t i;
    uint64_t v;

    while (klen < len && p[klen] != ' ' && p[klen] != '=') {
        klen++;
    }
    for (i = 0; i < GW_CAP_NNAMES; i++) {
        if (gw_str_ieq(p, klen, gw_cap_names[i].keyword)) {
            c->flags |= gw_cap_names[i].flag;
            break;
        }
    }
    if (gw_str_ieq(p, klen, "AUTH") && klen < len) {
        c->auth_mechs |= gw_caps_auth_mechs(p + klen + 1, len - klen - 1);
    }
    if (gw_str_ieq(p, klen, "XCLIENT") && klen < len) {
        c->xclient_attrs = gw_xattr_parse(p + klen, len - klen);
    }
    if (gw_str_ieq(p, klen, "XFORWARD") && klen < len) {
        c->xforward_attrs = gw_xattr_parse(p + klen, len - klen);
    }
    if (gw_str_ieq(p, klen, "SIZE") && klen + 1 < len &&
        gw_str_to_u64(p + klen + 1, len - klen - 1, &v)) {
        c->size_max = v;
    }
}

uint64_t
gw_caps_size_limit(const struct gw_caps *upstream, uint64_t message_size)
{
    if (upstream != NULL && upstream->known &&
        gw_caps_has(upstream, GW_CAP_SIZE) && upstream->size_max > 0 &&
        upstream->size_max < message_size) {
        return upstream->size_max;
    }
    return message_size;
}

static bool
gw_caps_dropped(const struct gw_ehlo_cfg *ehlo, const char *keyword)
{
    size_t i;

    for (i = 0; i < ehlo->ndrop; i++) {
        if (fnmatch(ehlo->drop[i], keyword, FNM_CASEFOLD) == 0) {
            return true;
        }
    }
    return false;
}

void
gw_caps_offer(struct gw_caps *offered, const struct gw_offer_input *in)
{
    static const struct gw_caps none;
    const struct gw_caps *up =
        (in->upstream != NULL && in->upstream->known) ? in->upstream : &none;
    uint32_t flags;
    size_t i;

    memset(offered, 0, sizeof(*offered));
    flags = in->ehlo->advertise & GW_CAPS_ADVERTISABLE;
    flags |= in->ehlo->pass & GW_CAPS_PASSABLE & up->flags;
    if (!gw_caps_has(up, GW_CAP_CHUNKING)) {
        flags &= ~GW_CAP_BINARYMIME;
    }
    for (i = 0; i < GW_CAP_NNAMES; i++) {
        if ((flags & gw_cap_names[i].flag) != 0 &&
            gw_caps_dropped(in->ehlo, gw_cap_names[i].keyword)) {
            flags &= ~gw_cap_names[i].flag;
        }
    }
    if ((flags & GW_CAP_CHUNKING) == 0) {
        flags &= ~GW_CAP_BINARYMIME;
    }
    if (in->starttls) {
        flags |= GW_CAP_STARTTLS;
    }
    if (in->requiretls && gw_caps_has(up, GW_CAP_REQUIRETLS) &&
        !gw_caps_dropped(in->ehlo, "REQUIRETLS")) {
        flags |= GW_CAP_REQUIRETLS;
    }
    if (in->xclient && !gw_caps_dropped(in->ehlo, "XCLIENT")) {
        flags |= GW_CAP_XCLIENT;
    }
    if (in->auth_mechs != 0 && !gw_caps_dropped(in->ehlo, "AUTH")) {
        flags |= GW_CAP_AUTH;
        offered->auth_mechs = in->auth_mechs;
    }
    offered->flags = flags;
    offered->size_max = gw_caps_size_limit(up, in->message_size);
    offered->rcptmax = in->rcptmax;
    offered->mailmax = in->mailmax;
    offered->known = true;
}

void
gw_caps_bridge(struct gw_bridge *b, const struct gw_caps *offered,
               const struct gw_caps *upstream)
{
    memset(b, 0, sizeof(*b));
    b->bdat_to_data = gw_caps_has(offered, GW_CAP_CHUNKING) &&
                      !gw_caps_has(upstream, GW_CAP_CHUNKING);
    b->serial = !gw_caps_has(upstream, GW_CAP_PIPELINING);
    b->enhanced_synth = !gw_caps_has(upstream, GW_CAP_ENHANCEDSTATUSCODES);
    b->eightbit_downgrade = gw_caps_has(offered, GW_CAP_8BITMIME) &&
                            !gw_caps_has(upstream, GW_CAP_8BITMIME);
}

/* "250-AUTH PLAIN LOGIN": the mechanisms in gw_sasl's order. */
static int
gw_caps_format_auth(char *dst, size_t cap, char sep, unsigned mechs)
{
    size_t o;
    unsigned m;
    int n = snprintf(dst, cap, "250%cAUTH", sep);

    if (n < 0 || (size_t)n >= cap) {
        return -1;
    }
    o = (size_t)n;
    for (m = GW_SASL_PLAIN; m < GW_SASL_MECH_COUNT; m++) {
        if ((mechs & GW_SASL_MECH_BIT(m)) == 0) {
            continue;
        }
        n = snprintf(dst + o, cap - o, " %s",
                     gw_sasl_mech_name((enum gw_sasl_mech)m));
        if (n < 0 || (size_t)n >= cap - o) {
            return -1;
        }
        o += (size_t)n;
    }
    n = snprintf(dst + o, cap - o, "\r\n");
    return (n < 0 || (size_t)n >= cap - o) ? -1 : (int)(o + (size_t)n);
}

size_t
gw_caps_format_ehlo(const struct gw_caps *offered, const char *hostname,
                    uint8_t *dst, size_t cap)
{
    size_t o = 0;
    size_t i;
    size_t nlines = 0;
    size_t line;
    int n;

    for (i = 0; i < GW_CAP_NNAMES; i++) {
        if (gw_caps_has(offered, gw_cap_names[i].flag)) {
            nlines++;
        }
    }
    n = snprintf((char *)dst, cap, "250%c%s\r\n", nlines > 0 ? '-' : ' ',
                 hostname);
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    o = (size_t)n;
    line = 0;
    for (i = 0; i < GW_CAP_NNAMES; i++) {
        const struct gw_cap_name *cn = &gw_cap_names[i];

        if (!gw_caps_has(offered, cn->flag)) {
            continue;
        }
        line++;
        if (cn->flag == GW_CAP_SIZE) {
            n = snprintf((char *)dst + o, cap - o, "250%cSIZE %llu\r\n",
                         line == nlines ? ' ' : '-',
                         (unsigned long long)offered->size_max);
        } else if (cn->flag == GW_CAP_LIMITS) {
            n = snprintf((char *)dst + o, cap - o,
                         "250%cLIMITS RCPTMAX=%zu MAILMAX=%zu\r\n",
                         line == nlines ? ' ' : '-', offered->rcptmax,
                         offered->mailmax);
        } else if (cn->flag == GW_CAP_XCLIENT) {
            n = snprintf((char *)dst + o, cap - o,
                         "250%cXCLIENT NAME ADDR PORT PROTO HELO LOGIN "
                         "DESTADDR DESTPORT\r\n",
                         line == nlines ? ' ' : '-');
        } else if (cn->flag == GW_CAP_AUTH) {
            n = gw_caps_format_auth((char *)dst + o, cap - o,
                                    line == nlines ? ' ' : '-',
                                    offered->auth_mechs);
        } else {
            n = snprintf((char *)dst + o, cap - o, "250%c%s\r\n",
                         line == nlines ? ' ' : '-', cn->keyword);
        }
        if (n < 0 || (size_t)n >= cap - o) {
            return 0;
        }
        o += (size_t)n;
    }
    return o;
}
