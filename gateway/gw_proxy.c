#include "gateway/gw_proxy.h"

#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "gateway/gw_str.h"

/* v1: "PROXY " and the protocol words; the address text limits are
 * INET_ADDRSTRLEN - 1 and INET6_ADDRSTRLEN - 1. */
#define GW_PROXY_V1_SIG "PROXY "
#define GW_PROXY_V1_SIG_LEN 6
#define GW_PROXY_V1_ADDR4_MAX 15
#define GW_PROXY_V1_ADDR6_MAX 45

/* v2: the 16-byte header is the signature, ver_cmd, fam and a big-endian
 * length; the address blocks of section 2.2 follow it. */
#define GW_PROXY_V2_SIG_LEN 12
#define GW_PROXY_V2_HDR_LEN 16
#define GW_PROXY_V2_ADDR_INET 12
#define GW_PROXY_V2_ADDR_INET6 36
#define GW_PROXY_V2_ADDR_UNIX 216
#define GW_PROXY_V2_TLV_HDR 3 /* type, 2-byte length */

#define GW_PROXY_V2_CMD_LOCAL 0x0
#define GW_PROXY_V2_CMD_PROXY 0x1
#define GW_PROXY_V2_FAM_UNSPEC 0x00
#define GW_PROXY_V2_FAM_TCP4 0x11
#define GW_PROXY_V2_FAM_TCP6 0x21
#define GW_PROXY_V2_FAM_UNIX 0x31

static const uint8_t gw_proxy_v2_sig[GW_PROXY_V2_SIG_LEN] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* How a v2 PROXY header's family byte is handled. */
enum gw_proxy_v2_fam {
    GW_PROXY_FAM_BAD = 0, /* UDP, or not in the spec: invalid */
    GW_PROXY_FAM_SKIP,    /* UNSPEC: address block of unknown shape */
    GW_PROXY_FAM_LOCAL,   /* AF_UNIX stream: checked, then local */
    GW_PROXY_FAM_INET,
    GW_PROXY_FAM_INET6,
};

static enum gw_proxy_rc gw_proxy_prefix(const uint8_t *p, size_t n,
                                        const void *lit, size_t lit_len);
static enum gw_proxy_rc gw_proxy_v1(const uint8_t *p, size_t len,
                                    struct gw_proxy_header *out);
static enum gw_proxy_rc gw_proxy_v1_tcp(const uint8_t *p, size_t n, size_t pos,
                                        int family,
                                        struct gw_proxy_header *out);
static enum gw_proxy_rc gw_proxy_v1_unknown(const uint8_t *p, size_t n,
                                            size_t pos,
                                            struct gw_proxy_header *out);
static bool gw_proxy_v1_addr_char(uint8_t c, int family);
static enum gw_proxy_rc gw_proxy_v1_addr(const uint8_t *p, size_t n,
                                         size_t *pos, int family,
                                         struct sockaddr_storage *ss);
static enum gw_proxy_rc gw_proxy_v1_port(const uint8_t *p, size_t n,
                                         size_t *pos, uint8_t term,
                                         uint16_t *port);
static void gw_proxy_set_port(struct sockaddr_storage *ss, uint16_t port);
static enum gw_proxy_rc gw_proxy_v2(const uint8_t *p, size_t len,
                                    struct gw_proxy_header *out);
static enum gw_proxy_v2_fam gw_proxy_v2_family(uint8_t fam, size_t *addr_len);
static bool gw_proxy_v2_tlvs_ok(const uint8_t *p, size_t len, size_t off,
                                size_t total);
static void gw_proxy_v2_addrs(const uint8_t *p, enum gw_proxy_v2_fam fam,
                              struct gw_proxy_header *out);

enum gw_proxy_rc
gw_proxy_parse(const uint8_t *p, size_t len, struct gw_proxy_header *out)
{
    enum gw_proxy_rc rc;

    memset(out, 0, sizeof(*out));
    if (len == 0) {
        return GW_PROXY_AGAIN;
    }
    /* The two signatures differ in their first byte. */
    if (p[0] == GW_PROXY_V1_SIG[0]) {
        rc = gw_proxy_v1(p, len, out);
    } else if (p[0] == gw_proxy_v2_sig[0]) {
        rc = gw_proxy_v2(p, len, out);
    } else {
        rc = GW_PROXY_E_INVALID;
    }
    if (rc != GW_PROXY_OK) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* Is p[0..n) lit, or (AGAIN) the start of it while n is short? */
static enum gw_proxy_rc
gw_proxy_prefix(const uint8_t *p, size_t n, const void *lit, size_t lit_len)
{
    size_t cmp = n < lit_len ? n : lit_len;

    if (memcmp(p, lit, cmp) != 0) {
        return GW_PROXY_E_INVALID;
    }
    return cmp == lit_len ? GW_PROXY_OK : GW_PROXY_AGAIN;
}

/*
 * v1 (spec 2.1). Only the first GW_PROXY_V1_MAX bytes are looked at: a line
 * that is still a valid prefix there has no CRLF in time.
 */
static enum gw_proxy_rc
gw_proxy_v1(const uint8_t *p, size_t len, struct gw_proxy_header *out)
{
    size_t n = len < GW_PROXY_V1_MAX ? len : GW_PROXY_V1_MAX;
    size_t pos = GW_PROXY_V1_SIG_LEN;
    enum gw_proxy_rc rc;
    enum gw_proxy_rc tcp4;
    enum gw_proxy_rc tcp6;

    rc = gw_proxy_prefix(p, n, GW_PROXY_V1_SIG, GW_PROXY_V1_SIG_LEN);
    if (rc != GW_PROXY_OK) {
        return rc; /* n < 107 here, so AGAIN stays AGAIN */
    }
    tcp4 = gw_proxy_prefix(p + pos, n - pos, "TCP4 ", 5);
    tcp6 = gw_proxy_prefix(p + pos, n - pos, "TCP6 ", 5);
    rc = gw_proxy_prefix(p + pos, n - pos, "UNKNOWN", 7);
    if (rc == GW_PROXY_OK) {
        rc = gw_proxy_v1_unknown(p, n, pos + 7, out);
    } else if (tcp4 == GW_PROXY_OK || tcp6 == GW_PROXY_OK) {
        rc = gw_proxy_v1_tcp(p, n, pos + 5,
                             tcp4 == GW_PROXY_OK ? AF_INET : AF_INET6, out);
    } else if (tcp4 == GW_PROXY_AGAIN || tcp6 == GW_PROXY_AGAIN) {
        rc = GW_PROXY_AGAIN;
    }
    if (rc == GW_PROXY_AGAIN && len >= GW_PROXY_V1_MAX) {
        return GW_PROXY_E_TOOLONG;
    }
    return rc;
}

/* "<src> <dst> <sport> <dport>\r\n" at p[pos..n), addresses of `family`. */
static enum gw_proxy_rc
gw_proxy_v1_tcp(const uint8_t *p, size_t n, size_t pos, int family,
                struct gw_proxy_header *out)
{
    enum gw_proxy_rc rc;
    uint16_t sport = 0;
    uint16_t dport = 0;

    rc = gw_proxy_v1_addr(p, n, &pos, family, &out->src);
    if (rc == GW_PROXY_OK) {
        rc = gw_proxy_v1_addr(p, n, &pos, family, &out->dst);
    }
    if (rc == GW_PROXY_OK) {
        rc = gw_proxy_v1_port(p, n, &pos, ' ', &sport);
    }
    if (rc == GW_PROXY_OK) {
        rc = gw_proxy_v1_port(p, n, &pos, '\r', &dport);
    }
    if (rc != GW_PROXY_OK) {
        return rc;
    }
    if (pos == n) {
        return GW_PROXY_AGAIN;
    }
    if (p[pos] != '\n') {
        return GW_PROXY_E_INVALID; /* a CR without LF */
    }
    gw_proxy_set_port(&out->src, sport);
    gw_proxy_set_port(&out->dst, dport);
    out->version = 1;
    out->consumed = pos + 1;
    return GW_PROXY_OK;
}

/* "PROXY UNKNOWN" and anything up to CRLF, which is the only CR or LF. */
static enum gw_proxy_rc
gw_proxy_v1_unknown(const uint8_t *p, size_t n, size_t pos,
                    struct gw_proxy_header *out)
{
    for (; pos < n; pos++) {
        if (p[pos] == '\n') {
            return GW_PROXY_E_INVALID; /* bare LF */
        }
        if (p[pos] != '\r') {
            continue;
        }
        if (pos + 1 == n) {
            return GW_PROXY_AGAIN;
        }
        if (p[pos + 1] != '\n') {
            return GW_PROXY_E_INVALID; /* bare CR */
        }
        out->version = 1;
        out->local = true;
        out->consumed = pos + 2;
        return GW_PROXY_OK;
    }
    return GW_PROXY_AGAIN;
}

/* The bytes inet_pton can accept for the family; anything else is refused
 * as it arrives. */
static bool
gw_proxy_v1_addr_char(uint8_t c, int family)
{
    if (gw_is_digit(c) || c == '.') {
        return true;
    }
    return family == AF_INET6 &&
           (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
}

/* An address of `family` at p[*pos..) ended by a single space; on OK *pos
 * is past the space and *ss holds the address (port 0). */
static enum gw_proxy_rc
gw_proxy_v1_addr(const uint8_t *p, size_t n, size_t *pos, int family,
                 struct sockaddr_storage *ss)
{
    char text[GW_PROXY_V1_ADDR6_MAX + 1];
    size_t max =
        family == AF_INET ? GW_PROXY_V1_ADDR4_MAX : GW_PROXY_V1_ADDR6_MAX;
    size_t i;
    size_t tlen;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;

    for (i = *pos; i < n && p[i] != ' '; i++) {
        if (i - *pos >= max || !gw_proxy_v1_addr_char(p[i], family)) {
            return GW_PROXY_E_INVALID;
        }
    }
    if (i == n) {
        return GW_PROXY_AGAIN;
    }
    tlen = i - *pos;
    if (tlen == 0) {
        return GW_PROXY_E_INVALID; /* two spaces */
    }
    memcpy(text, p + *pos, tlen);
    text[tlen] = '\0';
    if (family == AF_INET) {
        memset(&a4, 0, sizeof(a4));
        a4.sin_family = AF_INET;
        if (inet_pton(AF_INET, text, &a4.sin_addr) != 1) {
            return GW_PROXY_E_INVALID;
        }
        memcpy(ss, &a4, sizeof(a4));
    } else {
        memset(&a6, 0, sizeof(a6));
        a6.sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, text, &a6.sin6_addr) != 1) {
            return GW_PROXY_E_INVALID;
        }
        memcpy(ss, &a6, sizeof(a6));
    }
    *pos = i + 1;
    return GW_PROXY_OK;
}

/* A port, 0..65535 in decimal without sign or leading zero, ended by
 * `term`; on OK *pos is past the terminator. */
static enum gw_proxy_rc
gw_proxy_v1_port(const uint8_t *p, size_t n, size_t *pos, uint8_t term,
                 uint16_t *port)
{
    size_t i;
    uint32_t v = 0;

    for (i = *pos; i < n && p[i] != term; i++) {
        if (!gw_is_digit(p[i]) || (i > *pos && p[*pos] == '0')) {
            return GW_PROXY_E_INVALID;
        }
        v = v * 10 + (uint32_t)(p[i] - '0');
        if (v > 65535) {
            return GW_PROXY_E_INVALID;
        }
    }
    if (i == n) {
        return GW_PROXY_AGAIN;
    }
    if (i == *pos) {
        return GW_PROXY_E_INVALID; /* empty */
    }
    *port = (uint16_t)v;
    *pos = i + 1;
    return GW_PROXY_OK;
}

static void
gw_proxy_set_port(struct sockaddr_storage *ss, uint16_t port)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;

    if (ss->ss_family == AF_INET) {
        memcpy(&a4, ss, sizeof(a4));
        a4.sin_port = htons(port);
        memcpy(ss, &a4, sizeof(a4));
    } else {
        memcpy(&a6, ss, sizeof(a6));
        a6.sin6_port = htons(port);
        memcpy(ss, &a6, sizeof(a6));
    }
}

/*
 * v2 (spec 2.2). Each field is judged as soon as its bytes are here: the
 * version and command at byte 13, the family at 14, the length at 16, and
 * each TLV header as it arrives.
 */
static enum gw_proxy_rc
gw_proxy_v2(const uint8_t *p, size_t len, struct gw_proxy_header *out)
{
    enum gw_proxy_rc rc;
    enum gw_proxy_v2_fam fam = GW_PROXY_FAM_SKIP;
    size_t addr_len = 0;
    size_t body;
    size_t total;
    bool local_cmd;

    rc = gw_proxy_prefix(p, len, gw_proxy_v2_sig, GW_PROXY_V2_SIG_LEN);
    if (rc != GW_PROXY_OK) {
        return rc;
    }
    if (len == GW_PROXY_V2_SIG_LEN) {
        return GW_PROXY_AGAIN;
    }
    if ((p[12] >> 4) != 2 || ((p[12] & 0x0f) != GW_PROXY_V2_CMD_LOCAL &&
                              (p[12] & 0x0f) != GW_PROXY_V2_CMD_PROXY)) {
        return GW_PROXY_E_INVALID;
    }
    local_cmd = (p[12] & 0x0f) == GW_PROXY_V2_CMD_LOCAL;
    if (len == GW_PROXY_V2_SIG_LEN + 1) {
        return GW_PROXY_AGAIN;
    }
    /* LOCAL: "discard the protocol block including the family" (spec) */
    if (!local_cmd) {
        fam = gw_proxy_v2_family(p[13], &addr_len);
        if (fam == GW_PROXY_FAM_BAD) {
            return GW_PROXY_E_INVALID;
        }
    }
    if (len < GW_PROXY_V2_HDR_LEN) {
        return GW_PROXY_AGAIN;
    }
    body = (size_t)p[14] << 8 | (size_t)p[15];
    if (body > GW_PROXY_V2_TLV_MAX) {
        return GW_PROXY_E_TOOLONG;
    }
    if (body < addr_len) {
        return GW_PROXY_E_INVALID;
    }
    total = GW_PROXY_V2_HDR_LEN + body;
    if (fam != GW_PROXY_FAM_SKIP &&
        !gw_proxy_v2_tlvs_ok(p, len, GW_PROXY_V2_HDR_LEN + addr_len, total)) {
        return GW_PROXY_E_INVALID;
    }
    if (len < total) {
        return GW_PROXY_AGAIN;
    }
    out->version = 2;
    out->consumed = total;
    gw_proxy_v2_addrs(p, fam, out);
    return GW_PROXY_OK;
}

/* Spec 2.2, the 14th byte: only TCP over IPv4/IPv6, UNSPEC and AF_UNIX
 * stream are accepted; *addr_len is the size of the address block. */
static enum gw_proxy_v2_fam
gw_proxy_v2_family(uint8_t fam, size_t *addr_len)
{
    switch (fam) {
    case GW_PROXY_V2_FAM_UNSPEC:
        *addr_len = 0;
        return GW_PROXY_FAM_SKIP;
    case GW_PROXY_V2_FAM_TCP4:
        *addr_len = GW_PROXY_V2_ADDR_INET;
        return GW_PROXY_FAM_INET;
    case GW_PROXY_V2_FAM_TCP6:
        *addr_len = GW_PROXY_V2_ADDR_INET6;
        return GW_PROXY_FAM_INET6;
    case GW_PROXY_V2_FAM_UNIX:
        *addr_len = GW_PROXY_V2_ADDR_UNIX;
        return GW_PROXY_FAM_LOCAL;
    default:
        return GW_PROXY_FAM_BAD;
    }
}

/*
 * The TLVs in p[off..total) must tile it exactly. Only the TLV headers
 * within p[0..len) are read, so a short len gives true unless what is
 * already here cannot end well.
 */
static bool
gw_proxy_v2_tlvs_ok(const uint8_t *p, size_t len, size_t off, size_t total)
{
    while (off < total) {
        if (total - off < GW_PROXY_V2_TLV_HDR) {
            return false; /* a truncated TLV header */
        }
        if (off + GW_PROXY_V2_TLV_HDR > len) {
            return true; /* not here yet */
        }
        /* off, total <= 16 + 512 + 65535: no overflow */
        off += GW_PROXY_V2_TLV_HDR +
               ((size_t)p[off + 1] << 8 | (size_t)p[off + 2]);
    }
    return off == total;
}

/* Fills src and dst from a whole header; other families stay local. */
static void
gw_proxy_v2_addrs(const uint8_t *p, enum gw_proxy_v2_fam fam,
                  struct gw_proxy_header *out)
{
    const uint8_t *a = p + GW_PROXY_V2_HDR_LEN;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;

    if (fam == GW_PROXY_FAM_INET) {
        memset(&a4, 0, sizeof(a4));
        a4.sin_family = AF_INET;
        memcpy(&a4.sin_addr, a, 4);
        memcpy(&a4.sin_port, a + 8, 2);
        memcpy(&out->src, &a4, sizeof(a4));
        memcpy(&a4.sin_addr, a + 4, 4);
        memcpy(&a4.sin_port, a + 10, 2);
        memcpy(&out->dst, &a4, sizeof(a4));
    } else if (fam == GW_PROXY_FAM_INET6) {
        memset(&a6, 0, sizeof(a6));
        a6.sin6_family = AF_INET6;
        memcpy(&a6.sin6_addr, a, 16);
        memcpy(&a6.sin6_port, a + 32, 2);
        memcpy(&out->src, &a6, sizeof(a6));
        memcpy(&a6.sin6_addr, a + 16, 16);
        memcpy(&a6.sin6_port, a + 34, 2);
        memcpy(&out->dst, &a6, sizeof(a6));
    } else {
        out->local = true;
    }
}

/* ---- writing a header (towards an upstream) ------------------------- */

/* An address as 16 IPv6 bytes (IPv4 mapped) or 4 IPv4 bytes, and its
 * port; false for another family. */
struct gw_proxy_end {
    int family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
    uint16_t port; /* host order */
};

static bool
gw_proxy_end_from(const struct sockaddr *sa, struct gw_proxy_end *e)
{
    memset(e, 0, sizeof(*e));
    if (sa == NULL) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        e->family = AF_INET;
        memcpy(e->bytes, &in->sin_addr, 4);
        e->port = ntohs(in->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        e->family = AF_INET6;
        memcpy(e->bytes, &in6->sin6_addr, 16);
        e->port = ntohs(in6->sin6_port);
        return true;
    }
    return false;
}

static void
gw_proxy_end_map6(struct gw_proxy_end *e)
{
    uint8_t v4[4];

    if (e->family != AF_INET) {
        return;
    }
    memcpy(v4, e->bytes, 4);
    memset(e->bytes, 0, 16);
    e->bytes[10] = 0xff;
    e->bytes[11] = 0xff;
    memcpy(e->bytes + 12, v4, 4);
    e->family = AF_INET6;
}

static size_t
gw_proxy_format_v1(char *out, size_t cap, bool known,
                   const struct gw_proxy_end *s, const struct gw_proxy_end *d)
{
    char sa[INET6_ADDRSTRLEN];
    char da[INET6_ADDRSTRLEN];
    int n;

    if (!known) {
        n = snprintf(out, cap, "PROXY UNKNOWN\r\n");
    } else {
        inet_ntop(s->family, s->bytes, sa, sizeof(sa));
        inet_ntop(d->family, d->bytes, da, sizeof(da));
        n = snprintf(out, cap, "PROXY %s %s %s %u %u\r\n",
                     s->family == AF_INET ? "TCP4" : "TCP6", sa, da,
                     (unsigned)s->port, (unsigned)d->port);
    }
    return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}

static size_t
gw_proxy_format_v2(uint8_t *out, size_t cap, bool known,
                   const struct gw_proxy_end *s, const struct gw_proxy_end *d)
{
    size_t alen = !known ? 0 : s->family == AF_INET ? 12 : 36;
    size_t a = s->family == AF_INET ? 4 : 16;

    if (cap < 16 + alen) {
        return 0;
    }
    memcpy(out, gw_proxy_v2_sig, sizeof(gw_proxy_v2_sig));
    out[12] = known ? 0x21 : 0x20; /* version 2, PROXY or LOCAL */
    out[13] = !known ? 0x00 : s->family == AF_INET ? 0x11 : 0x21;
    out[14] = (uint8_t)(alen >> 8);
    out[15] = (uint8_t)alen;
    if (known) {
        memcpy(out + 16, s->bytes, a);
        memcpy(out + 16 + a, d->bytes, a);
        out[16 + 2 * a] = (uint8_t)(s->port >> 8);
        out[17 + 2 * a] = (uint8_t)s->port;
        out[18 + 2 * a] = (uint8_t)(d->port >> 8);
        out[19 + 2 * a] = (uint8_t)d->port;
    }
    return 16 + alen;
}

size_t
gw_proxy_format(uint8_t *out, size_t cap, int version,
                const struct sockaddr *src, const struct sockaddr *dst)
{
    struct gw_proxy_end s;
    struct gw_proxy_end d;
    bool known = gw_proxy_end_from(src, &s) && gw_proxy_end_from(dst, &d);

    if (known && s.family != d.family) {
        gw_proxy_end_map6(&s);
        gw_proxy_end_map6(&d);
    }
    if (version == 1) {
        return gw_proxy_format_v1((char *)out, cap, known, &s, &d);
    }
    return gw_proxy_format_v2(out, cap, known, &s, &d);
}
