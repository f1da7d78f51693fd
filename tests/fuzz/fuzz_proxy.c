/*
 * libFuzzer target for gateway/gw_proxy.c, the PROXY protocol v1/v2
 * header parser.
 *
 * The input is the first bytes of a connection. It is parsed whole, and
 * then every prefix up to the most the parser may look at (16 + 512
 * bytes), each placed at the end of a heap buffer so ASan catches a read
 * past len. Checked:
 *   - the result is one of the four; anything but OK leaves out zeroed;
 *     a first byte other than 'P' or CR is INVALID at once;
 *   - OK: consumed <= len; v1: consumed <= 107, the header starts with
 *     "PROXY " and its only CR and LF are the final CRLF, and a TCP line
 *     read again independently (five fields at single spaces, inet_pton,
 *     ports printed back with %u) gives the same addresses; v2: the
 *     signature, consumed = 16 + the length field <= 16 + 512; when !local
 *     both addresses are AF_INET or both AF_INET6 (and for v2 are the
 *     input's bytes), when local both are AF_UNSPEC;
 *   - the prefixes: AGAIN until the result is decided, then the same
 *     result and header for every longer prefix and the whole input; so
 *     no prefix shorter than the whole input's consumed is OK, and the
 *     prefix of length consumed is OK with the same consumed;
 *   - the bound: 107 bytes of v1 or 528 of v2 are always decided;
 *   - a round trip: an OK header with addresses, written out again as v1
 *     and as v2, parses back to the same addresses.
 * Any violation calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "gateway/gw_proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_V2_HDR 16
#define FZ_V2_MAX (FZ_V2_HDR + GW_PROXY_V2_TLV_MAX)

static const uint8_t fz_v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_proxy: %s\n", why);
    abort();
}

/* Parses p[0..len) from an exact-size heap copy. */
static enum gw_proxy_rc
fz_parse(const uint8_t *p, size_t len, struct gw_proxy_header *h)
{
    uint8_t *c = malloc(len > 0 ? len : 1);
    enum gw_proxy_rc rc;

    if (c == NULL) {
        fz_fail("out of memory");
    }
    if (len > 0) {
        memcpy(c, p, len);
    }
    rc = gw_proxy_parse(c, len, h);
    free(c);
    return rc;
}

/* Parses the prefix p[0..k) placed at the end of buf[0..cap), so that
 * the heap allocation ends where the prefix ends. */
static enum gw_proxy_rc
fz_parse_prefix(uint8_t *buf, size_t cap, const uint8_t *p, size_t k,
                struct gw_proxy_header *h)
{
    if (k > 0) {
        memcpy(buf + cap - k, p, k);
    }
    return gw_proxy_parse(buf + cap - k, k, h);
}

static bool
fz_is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

/* The address bytes and port of an AF_INET/AF_INET6 sockaddr. */
static size_t
fz_addr(const struct sockaddr_storage *ss, uint8_t *addr, uint8_t port[2])
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;

    if (ss->ss_family == AF_INET) {
        memcpy(&a4, ss, sizeof(a4));
        memcpy(addr, &a4.sin_addr, 4);
        memcpy(port, &a4.sin_port, 2);
        return 4;
    }
    memcpy(&a6, ss, sizeof(a6));
    memcpy(addr, &a6.sin6_addr, 16);
    memcpy(port, &a6.sin6_port, 2);
    return 16;
}

/* Are the addresses and ports of a and b the same? */
static bool
fz_same_addrs(const struct gw_proxy_header *a, const struct gw_proxy_header *b)
{
    const struct sockaddr_storage *as[2] = {&a->src, &a->dst};
    const struct sockaddr_storage *bs[2] = {&b->src, &b->dst};
    uint8_t aa[16];
    uint8_t ba[16];
    uint8_t ap[2];
    uint8_t bp[2];
    size_t i;
    size_t n;

    for (i = 0; i < 2; i++) {
        if (as[i]->ss_family != bs[i]->ss_family) {
            return false;
        }
        n = fz_addr(as[i], aa, ap);
        fz_addr(bs[i], ba, bp);
        if (memcmp(aa, ba, n) != 0 || memcmp(ap, bp, 2) != 0) {
            return false;
        }
    }
    return true;
}

/* A v1 field as a C string; false when it does not fit. */
static bool
fz_field(char *dst, size_t cap, const uint8_t *p, size_t len)
{
    if (len >= cap) {
        return false;
    }
    memcpy(dst, p, len);
    dst[len] = '\0';
    return true;
}

/*
 * An independent reading of a v1 line: after "PROXY ", "UNKNOWN..." for a
 * local header; otherwise exactly five fields split at single spaces, the
 * addresses are what inet_pton makes of the text, and each port printed
 * with %u is exactly its text (no sign, no leading zero, <= 65535).
 */
static void
fz_check_v1_fields(const uint8_t *p, const struct gw_proxy_header *h)
{
    const uint8_t *f[5];
    size_t flen[5];
    size_t nf = 0;
    size_t i;
    size_t start = 6;
    size_t end = h->consumed - 2;
    char text[64];
    uint8_t want[16];
    uint8_t got[16];
    uint8_t port[2];
    int af;

    if (h->local) {
        if (end - start < 7 || memcmp(p + start, "UNKNOWN", 7) != 0) {
            fz_fail("v1 local header is not UNKNOWN");
        }
        return;
    }
    for (i = start; i <= end; i++) {
        if (i == end || p[i] == ' ') {
            if (nf == 5) {
                fz_fail("v1 header with more than five fields");
            }
            f[nf] = p + start;
            flen[nf++] = i - start;
            start = i + 1;
        }
    }
    if (nf != 5 || flen[0] != 4 || memcmp(f[0], "TCP", 3) != 0 ||
        (f[0][3] != '4' && f[0][3] != '6')) {
        fz_fail("v1 header is not TCP4/TCP6 with five fields");
    }
    af = f[0][3] == '4' ? AF_INET : AF_INET6;
    if (h->src.ss_family != af) {
        fz_fail("v1 address family is not the protocol's");
    }
    for (i = 0; i < 2; i++) {
        size_t n = fz_addr(i == 0 ? &h->src : &h->dst, got, port);
        unsigned v = (unsigned)(port[0] << 8 | port[1]);
        char num[8];

        if (!fz_field(text, sizeof(text), f[1 + i], flen[1 + i]) ||
            inet_pton(af, text, want) != 1 || memcmp(want, got, n) != 0) {
            fz_fail("v1 address is not what the text says");
        }
        snprintf(num, sizeof(num), "%u", v);
        if (strlen(num) != flen[3 + i] ||
            memcmp(num, f[3 + i], flen[3 + i]) != 0) {
            fz_fail("v1 port is not what the text says");
        }
    }
}

static void
fz_check_v1(const uint8_t *p, const struct gw_proxy_header *h)
{
    size_t i;

    if (h->consumed > GW_PROXY_V1_MAX || h->consumed < 8 ||
        memcmp(p, "PROXY ", 6) != 0) {
        fz_fail("v1 header of the wrong size or signature");
    }
    if (p[h->consumed - 2] != '\r' || p[h->consumed - 1] != '\n') {
        fz_fail("v1 header does not end with CRLF");
    }
    for (i = 0; i + 2 < h->consumed; i++) {
        if (p[i] == '\r' || p[i] == '\n') {
            fz_fail("v1 header has a CR or LF before its end");
        }
    }
    fz_check_v1_fields(p, h);
}

static void
fz_check_v2(const uint8_t *p, const struct gw_proxy_header *h)
{
    uint8_t a[16];
    uint8_t port[2];
    size_t n;

    if (h->consumed < FZ_V2_HDR || memcmp(p, fz_v2_sig, 12) != 0 ||
        h->consumed != FZ_V2_HDR + ((size_t)p[14] << 8 | p[15]) ||
        h->consumed > FZ_V2_MAX) {
        fz_fail("v2 header of the wrong size or signature");
    }
    if (h->local) {
        return;
    }
    /* src address, dst address, src port, dst port */
    n = fz_addr(&h->src, a, port);
    if (memcmp(a, p + FZ_V2_HDR, n) != 0 ||
        memcmp(port, p + FZ_V2_HDR + 2 * n, 2) != 0) {
        fz_fail("v2 source is not the input's");
    }
    fz_addr(&h->dst, a, port);
    if (memcmp(a, p + FZ_V2_HDR + n, n) != 0 ||
        memcmp(port, p + FZ_V2_HDR + 2 * n + 2, 2) != 0) {
        fz_fail("v2 destination is not the input's");
    }
}

/* Writes h out again as v1 and as v2 and parses both back. */
static void
fz_round_trip(const struct gw_proxy_header *h)
{
    char src[INET6_ADDRSTRLEN];
    char dst[INET6_ADDRSTRLEN];
    uint8_t sa[16];
    uint8_t da[16];
    uint8_t sp[2];
    uint8_t dp[2];
    uint8_t v2[FZ_V2_HDR + 36];
    char v1[GW_PROXY_V1_MAX + 16];
    struct gw_proxy_header back;
    size_t n = fz_addr(&h->src, sa, sp);
    int af = n == 4 ? AF_INET : AF_INET6;
    int len;

    fz_addr(&h->dst, da, dp);
    if (inet_ntop(af, sa, src, sizeof(src)) == NULL ||
        inet_ntop(af, da, dst, sizeof(dst)) == NULL) {
        fz_fail("inet_ntop");
    }
    len = snprintf(v1, sizeof(v1), "PROXY TCP%c %s %s %u %u\r\n",
                   af == AF_INET ? '4' : '6', src, dst,
                   (unsigned)(sp[0] << 8 | sp[1]),
                   (unsigned)(dp[0] << 8 | dp[1]));
    if (len < 0 || (size_t)len >= sizeof(v1)) {
        fz_fail("snprintf");
    }
    if ((size_t)len <= GW_PROXY_V1_MAX) {
        if (fz_parse((const uint8_t *)v1, (size_t)len, &back) != GW_PROXY_OK ||
            back.consumed != (size_t)len || back.local ||
            !fz_same_addrs(h, &back)) {
            fz_fail("v1 round trip");
        }
    } else if (fz_parse((const uint8_t *)v1, (size_t)len, &back) !=
               GW_PROXY_E_TOOLONG) {
        fz_fail("v1 round trip over 107 bytes is not TOOLONG");
    }
    memcpy(v2, fz_v2_sig, 12);
    v2[12] = 0x21;
    v2[13] = af == AF_INET ? 0x11 : 0x21;
    v2[14] = 0;
    v2[15] = (uint8_t)(n * 2 + 4);
    memcpy(v2 + FZ_V2_HDR, sa, n);
    memcpy(v2 + FZ_V2_HDR + n, da, n);
    memcpy(v2 + FZ_V2_HDR + 2 * n, sp, 2);
    memcpy(v2 + FZ_V2_HDR + 2 * n + 2, dp, 2);
    if (fz_parse(v2, FZ_V2_HDR + 2 * n + 4, &back) != GW_PROXY_OK ||
        back.consumed != FZ_V2_HDR + 2 * n + 4 || back.local ||
        !fz_same_addrs(h, &back)) {
        fz_fail("v2 round trip");
    }
}

/* One result on p[0..len), checked on its own. */
static void
fz_check(const uint8_t *p, size_t len, enum gw_proxy_rc rc,
         const struct gw_proxy_header *h)
{
    if (rc != GW_PROXY_OK) {
        if (rc != GW_PROXY_AGAIN && rc != GW_PROXY_E_INVALID &&
            rc != GW_PROXY_E_TOOLONG) {
            fz_fail("unknown result");
        }
        if (!fz_is_zero(h, sizeof(*h))) {
            fz_fail("out not zeroed on a result other than OK");
        }
        if (len > 0 && p[0] != 'P' && p[0] != '\r' &&
            rc != GW_PROXY_E_INVALID) {
            fz_fail("not a header by its first byte, yet not INVALID");
        }
        if (rc == GW_PROXY_AGAIN && len > 0 &&
            len >= (p[0] == 'P' ? GW_PROXY_V1_MAX : FZ_V2_MAX)) {
            fz_fail("still AGAIN past the most a header can be");
        }
        return;
    }
    if (h->consumed == 0 || h->consumed > len) {
        fz_fail("consumed out of range");
    }
    if (h->version == 1) {
        fz_check_v1(p, h);
    } else if (h->version == 2) {
        fz_check_v2(p, h);
    } else {
        fz_fail("version neither 1 nor 2");
    }
    if (h->local) {
        if (h->src.ss_family != AF_UNSPEC || h->dst.ss_family != AF_UNSPEC) {
            fz_fail("local header with addresses");
        }
    } else if ((h->src.ss_family != AF_INET && h->src.ss_family != AF_INET6) ||
               h->dst.ss_family != h->src.ss_family) {
        fz_fail("addresses of the wrong family");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_proxy_header whole;
    struct gw_proxy_header h;
    struct gw_proxy_header decided;
    enum gw_proxy_rc whole_rc = fz_parse(data, size, &whole);
    enum gw_proxy_rc rc;
    size_t limit = size < FZ_V2_MAX + 1 ? size : FZ_V2_MAX + 1;
    size_t at = SIZE_MAX; /* the first prefix that is not AGAIN */
    size_t k;
    size_t cap;
    uint8_t *buf;

    fz_check(data, size, whole_rc, &whole);
    memset(&decided, 0, sizeof(decided));
    cap = limit > 0 ? limit : 1;
    buf = malloc(cap);
    if (buf == NULL) {
        fz_fail("out of memory");
    }
    for (k = 0; k <= limit; k++) {
        rc = fz_parse_prefix(buf, cap, data, k, &h);
        fz_check(data, k, rc, &h);
        if (at == SIZE_MAX && rc != GW_PROXY_AGAIN) {
            at = k;
            memcpy(&decided, &h, sizeof(h)); /* padding included */
            if (rc != whole_rc || memcmp(&h, &whole, sizeof(h)) != 0) {
                fz_fail("a prefix decided other than the whole input");
            }
        } else if (at != SIZE_MAX &&
                   (rc != whole_rc || memcmp(&h, &decided, sizeof(h)) != 0)) {
            fz_fail("a decided result changed with more bytes");
        }
    }
    free(buf);
    if (at == SIZE_MAX && whole_rc != GW_PROXY_AGAIN) {
        fz_fail("the whole input is decided but no prefix is");
    }
    if (whole_rc == GW_PROXY_OK) {
        /* consumed is the first prefix that is a whole header */
        if (at != whole.consumed) {
            fz_fail("OK on a prefix other than consumed");
        }
        if (!whole.local) {
            fz_round_trip(&whole);
        }
    }
    return 0;
}
