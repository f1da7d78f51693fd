/*
 * Unit tests for gateway/gw_proxy.c, the PROXY protocol v1/v2 header
 * parser. Tables of {label, input, decided at, expected}: every prefix of
 * every input is parsed from an exact-size heap copy (so a read past the
 * end shows under valgrind and ASan), and must give AGAIN before the
 * "decided at" length and the expected result from there on. That checks
 * both the split-point feeding and how early bad input is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "gateway/gw_proxy.h"

#define T(s) s, sizeof(s) - 1
/* The prefix length at which the result is known: up to the deciding byte. */
#define AT(s) (sizeof(s) - 1)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The v2 signature, and one whole TCP over IPv4 header:
 * 192.0.2.1:56324 -> 198.51.100.2:25. */
#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define V2_ADDR4 "\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19"
#define V2_TCP4 SIG "\x21\x11\x00\x0c" V2_ADDR4
/* 2001:db8::1 port 1 -> 2001:db8::25 port 587 */
#define V2_ADDR6                                                               \
    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"         \
    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x25"         \
    "\x00\x01\x02\x4b"

struct test_case {
    const char *label;
    const char *in;
    size_t in_len;
    size_t at; /* the shortest prefix that gives rc */
    enum gw_proxy_rc rc;
};

static uint8_t *
test_copy(const void *p, size_t len)
{
    uint8_t *c = malloc(len > 0 ? len : 1);

    assert_non_null(c);
    if (len > 0) {
        memcpy(c, p, len);
    }
    return c;
}

/* Parses p[0..k) from an exact-size copy. */
static enum gw_proxy_rc
test_parse(const void *p, size_t k, struct gw_proxy_header *h)
{
    uint8_t *c = test_copy(p, k);
    enum gw_proxy_rc rc = gw_proxy_parse(c, k, h);

    free(c);
    return rc;
}

/*
 * Every prefix of in[0..len) shorter than `at` gives AGAIN, and every
 * longer one gives rc with the same header; h gets the full input's.
 */
static void
test_prefixes(const char *label, const void *in, size_t len, size_t at,
              enum gw_proxy_rc rc, struct gw_proxy_header *h)
{
    struct gw_proxy_header first;
    size_t k;

    memset(&first, 0, sizeof(first));
    assert_true(at <= len);
    for (k = 0; k <= len; k++) {
        enum gw_proxy_rc want = k < at ? GW_PROXY_AGAIN : rc;
        enum gw_proxy_rc got = test_parse(in, k, h);

        if (got != want) {
            fail_msg("%s: prefix %zu of %zu gave %d, expected %d", label, k,
                     len, (int)got, (int)want);
        }
        if (got != GW_PROXY_OK) {
            continue;
        }
        if (k == at) {
            memcpy(&first, h, sizeof(first)); /* padding included */
        } else if (memcmp(&first, h, sizeof(first)) != 0) {
            fail_msg("%s: prefix %zu gave another header", label, k);
        }
    }
    if (rc == GW_PROXY_OK && h->consumed != at) {
        fail_msg("%s: consumed %zu, expected %zu", label, h->consumed, at);
    }
}

static void
test_cases(const struct test_case *t, size_t n)
{
    struct gw_proxy_header h;
    size_t i;

    for (i = 0; i < n; i++) {
        test_prefixes(t[i].label, t[i].in, t[i].in_len, t[i].at, t[i].rc, &h);
        if (t[i].rc != GW_PROXY_OK) {
            /* out is zeroed on every result but OK */
            assert_int_equal(h.version, 0);
            assert_int_equal(h.consumed, 0);
            assert_false(h.local);
        }
    }
}

static void
assert_in4(const struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
    struct sockaddr_in a;
    char text[INET_ADDRSTRLEN];

    assert_int_equal(ss->ss_family, AF_INET);
    memcpy(&a, ss, sizeof(a));
    assert_non_null(inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text)));
    assert_string_equal(text, addr);
    assert_int_equal(ntohs(a.sin_port), port);
}

static void
assert_in6(const struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
    struct sockaddr_in6 a;
    char text[INET6_ADDRSTRLEN];

    assert_int_equal(ss->ss_family, AF_INET6);
    memcpy(&a, ss, sizeof(a));
    assert_non_null(inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text)));
    assert_string_equal(text, addr);
    assert_int_equal(ntohs(a.sin6_port), port);
}

static void
assert_local(const struct gw_proxy_header *h, int version, size_t consumed)
{
    assert_int_equal(h->version, version);
    assert_true(h->local);
    assert_int_equal(h->consumed, consumed);
    assert_int_equal(h->src.ss_family, AF_UNSPEC);
    assert_int_equal(h->dst.ss_family, AF_UNSPEC);
}

/*
 * A v2 header with the given ver_cmd, family and length field, followed by
 * body_len bytes of body (zeros when body is NULL). Returns the size.
 */
static size_t
test_v2(uint8_t *buf, size_t cap, uint8_t ver_cmd, uint8_t fam,
        uint16_t len_field, const void *body, size_t body_len)
{
    assert_true(16 + body_len <= cap);
    memcpy(buf, SIG, 12);
    buf[12] = ver_cmd;
    buf[13] = fam;
    buf[14] = (uint8_t)(len_field >> 8);
    buf[15] = (uint8_t)(len_field & 0xff);
    if (body != NULL) {
        memcpy(buf + 16, body, body_len);
    } else {
        memset(buf + 16, 0, body_len);
    }
    return 16 + body_len;
}

/* ---- v1 ------------------------------------------------------------------ */

static void
test_v1_tcp4(void **state)
{
    static const char in[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n";
    struct gw_proxy_header h;

    (void)state;
    test_prefixes("tcp4", T(in), AT(in), GW_PROXY_OK, &h);
    assert_int_equal(h.version, 1);
    assert_false(h.local);
    assert_in4(&h.src, "192.0.2.1", 56324);
    assert_in4(&h.dst, "198.51.100.2", 25);
}

static void
test_v1_tcp6(void **state)
{
    static const char in[] = "PROXY TCP6 2001:db8::1 2001:DB8::25 65535 0\r\n";
    /* the spec's longest TCP6 line, 104 bytes */
    static const char longest[] =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    static const char mapped[] = "PROXY TCP6 ::ffff:192.0.2.1 :: 1 2\r\n";
    struct gw_proxy_header h;

    (void)state;
    test_prefixes("tcp6", T(in), AT(in), GW_PROXY_OK, &h);
    assert_int_equal(h.version, 1);
    assert_false(h.local);
    assert_in6(&h.src, "2001:db8::1", 65535);
    assert_in6(&h.dst, "2001:db8::25", 0);

    assert_int_equal(AT(longest), 104);
    test_prefixes("tcp6 longest", T(longest), AT(longest), GW_PROXY_OK, &h);
    assert_in6(&h.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);

    test_prefixes("tcp6 v4-mapped", T(mapped), AT(mapped), GW_PROXY_OK, &h);
    assert_in6(&h.src, "::ffff:192.0.2.1", 1);
    assert_in6(&h.dst, "::", 2);
}

static void
test_v1_unknown(void **state)
{
    static const char bare[] = "PROXY UNKNOWN\r\n";
    static const char args[] =
        "PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535\r\n";
    static const char junk[] = "PROXY UNKNOWN\x01\x7f\xff\0 x\r\n";
    struct gw_proxy_header h;

    (void)state;
    test_prefixes("unknown", T(bare), AT(bare), GW_PROXY_OK, &h);
    assert_local(&h, 1, AT(bare));
    test_prefixes("unknown with addresses", T(args), AT(args), GW_PROXY_OK, &h);
    assert_local(&h, 1, AT(args));
    /* "the receiver must ignore anything presented before the CRLF" */
    test_prefixes("unknown with junk", T(junk), AT(junk), GW_PROXY_OK, &h);
    assert_local(&h, 1, AT(junk));
}

/* The header ends at its CRLF; what follows is SMTP and is left alone. */
static void
test_v1_followed_by_smtp(void **state)
{
    static const char hdr[] = "PROXY TCP4 192.0.2.1 192.0.2.2 1 25\r\n";
    static const char in[] = "PROXY TCP4 192.0.2.1 192.0.2.2 1 25\r\n"
                             "EHLO client.example\r\nMAIL FROM:<a@b>\r\n";
    static const char unk[] = "PROXY UNKNOWN\r\nEHLO x\r\n";
    struct gw_proxy_header h;

    (void)state;
    test_prefixes("tcp4 + smtp", T(in), AT(hdr), GW_PROXY_OK, &h);
    assert_in4(&h.src, "192.0.2.1", 1);
    test_prefixes("unknown + smtp", T(unk), AT("PROXY UNKNOWN\r\n"),
                  GW_PROXY_OK, &h);
    assert_local(&h, 1, 15);
}

static const struct test_case test_v1_invalid_cases[] = {
    /* not a PROXY header: refused at the first byte that cannot fit */
    {"ehlo", T("EHLO x\r\n"), AT("E"), GW_PROXY_E_INVALID},
    {"helo", T("HELO x\r\n"), AT("H"), GW_PROXY_E_INVALID},
    {"empty line", T("\n"), AT("\n"), GW_PROXY_E_INVALID},
    {"PRXY", T("PRXY"), AT("PRX"), GW_PROXY_E_INVALID},
    {"lower case", T("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), AT("p"),
     GW_PROXY_E_INVALID},
    {"no space", T("PROXYTCP4"), AT("PROXYT"), GW_PROXY_E_INVALID},
    {"double space after PROXY", T("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
     AT("PROXY  "), GW_PROXY_E_INVALID},
    {"tcp5", T("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), AT("PROXY TCP5"),
     GW_PROXY_E_INVALID},
    {"udp4", T("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), AT("PROXY UD"),
     GW_PROXY_E_INVALID},
    {"lower tcp4", T("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), AT("PROXY t"),
     GW_PROXY_E_INVALID},
    {"tcp4 without space", T("PROXY TCP4\r\n"), AT("PROXY TCP4\r"),
     GW_PROXY_E_INVALID},
    /* single spaces only */
    {"double space before src", T("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4  "), GW_PROXY_E_INVALID},
    {"double space before dst", T("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4 1.2.3.4  "), GW_PROXY_E_INVALID},
    {"double space before sport", T("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8  "), GW_PROXY_E_INVALID},
    {"double space before dport", T("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 1  "), GW_PROXY_E_INVALID},
    {"tab", T("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4 1.2.3.4\t"), GW_PROXY_E_INVALID},
    {"space before CRLF", T("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 "), GW_PROXY_E_INVALID},
    {"fifth field", T("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 "), GW_PROXY_E_INVALID},
    {"no dport", T("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 1\r"), GW_PROXY_E_INVALID},
    /* addresses */
    {"tcp4 with ipv6", T("PROXY TCP4 ::1 ::1 1 2\r\n"), AT("PROXY TCP4 :"),
     GW_PROXY_E_INVALID},
    {"tcp6 with ipv4", T("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"),
     AT("PROXY TCP6 1.2.3.4 "), GW_PROXY_E_INVALID},
    {"ipv4 octet 256", T("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4 256.2.3.4 "), GW_PROXY_E_INVALID},
    {"ipv4 leading zero", T("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4 01.2.3.4 "), GW_PROXY_E_INVALID},
    {"ipv4 three parts", T("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4 1.2.3 "), GW_PROXY_E_INVALID},
    {"ipv4 too long", T("PROXY TCP4 0000000000000001 5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4 0000000000000000"), GW_PROXY_E_INVALID},
    {"ipv4 host name", T("PROXY TCP4 localhost 5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4 l"), GW_PROXY_E_INVALID},
    {"ipv6 zone", T("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"),
     AT("PROXY TCP6 fe80::1%"), GW_PROXY_E_INVALID},
    {"ipv6 bad", T("PROXY TCP6 1:::2 ::1 1 2\r\n"), AT("PROXY TCP6 1:::2 "),
     GW_PROXY_E_INVALID},
    {"ipv6 nine groups",
     T("PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000 ::1 1 2\r\n"),
     AT("PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000 "),
     GW_PROXY_E_INVALID},
    {"ipv6 46 characters",
     T("PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000:0 ::1 1 2\r\n"),
     AT("PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000:0"),
     GW_PROXY_E_INVALID},
    {"nul in address", T("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"),
     AT("PROXY TCP4 1.2.3.4\0"), GW_PROXY_E_INVALID},
    /* ports */
    {"port 65536", T("PROXY TCP4 1.2.3.4 5.6.7.8 65536 25\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 65536"), GW_PROXY_E_INVALID},
    {"dport 65536", T("PROXY TCP4 1.2.3.4 5.6.7.8 25 65536\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 25 65536"), GW_PROXY_E_INVALID},
    {"port 6 digits", T("PROXY TCP4 1.2.3.4 5.6.7.8 100000 25\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 100000"), GW_PROXY_E_INVALID},
    {"port leading zero", T("PROXY TCP4 1.2.3.4 5.6.7.8 025 25\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 02"), GW_PROXY_E_INVALID},
    {"port 00", T("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 1 00"), GW_PROXY_E_INVALID},
    {"port with sign", T("PROXY TCP4 1.2.3.4 5.6.7.8 +25 25\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 +"), GW_PROXY_E_INVALID},
    {"port negative", T("PROXY TCP4 1.2.3.4 5.6.7.8 -1 25\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 -"), GW_PROXY_E_INVALID},
    {"port hex", T("PROXY TCP4 1.2.3.4 5.6.7.8 0x19 25\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 0x"), GW_PROXY_E_INVALID},
    /* line ends: CRLF only */
    {"bare LF", T("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), GW_PROXY_E_INVALID},
    {"bare CR", T("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rEHLO"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rE"), GW_PROXY_E_INVALID},
    {"CR CR LF", T("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n"),
     AT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r"), GW_PROXY_E_INVALID},
    {"unknown bare LF", T("PROXY UNKNOWN\n"), AT("PROXY UNKNOWN\n"),
     GW_PROXY_E_INVALID},
    {"unknown bare CR", T("PROXY UNKNOWN x\ry\r\n"), AT("PROXY UNKNOWN x\ry"),
     GW_PROXY_E_INVALID},
    {"unknown lower", T("PROXY unknown\r\n"), AT("PROXY u"),
     GW_PROXY_E_INVALID},
};

static void
test_v1_invalid(void **state)
{
    (void)state;
    test_cases(test_v1_invalid_cases, NELEM(test_v1_invalid_cases));
}

/* The CRLF must end within 107 bytes. */
static void
test_v1_toolong(void **state)
{
    char line[160];
    struct gw_proxy_header h;
    size_t n;

    (void)state;
    /* 107 bytes with CRLF: the longest accepted */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + 105, "\r\n", 2);
    test_prefixes("107 bytes", line, 107, 107, GW_PROXY_OK, &h);
    assert_local(&h, 1, GW_PROXY_V1_MAX);

    /* 108 bytes: TOOLONG as soon as 107 bytes hold no CRLF */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + 106, "\r\n", 2);
    test_prefixes("108 bytes", line, 108, GW_PROXY_V1_MAX, GW_PROXY_E_TOOLONG,
                  &h);
    /* and whatever follows the 107th byte is never looked at */
    test_prefixes("108 bytes and more", line, sizeof(line), GW_PROXY_V1_MAX,
                  GW_PROXY_E_TOOLONG, &h);

    /* TCP6 with two 45-character addresses is 116 bytes */
    n = (size_t)snprintf(line, sizeof(line), "PROXY TCP6 %s %s 65535 65535\r\n",
                         "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
                         "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    assert_int_equal(n, 116);
    test_prefixes("116-byte tcp6", line, n, GW_PROXY_V1_MAX, GW_PROXY_E_TOOLONG,
                  &h);

    /* an error inside the first 107 bytes is INVALID, not TOOLONG */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN", 13);
    line[50] = '\n';
    test_prefixes("bare LF then long", line, sizeof(line), 51,
                  GW_PROXY_E_INVALID, &h);
}

/* ---- v2 ------------------------------------------------------------------ */

static void
test_v2_tcp4(void **state)
{
    static const char in[] = V2_TCP4;
    static const char tlvs[] =
        SIG "\x21\x11\x00\x16" V2_ADDR4 "\x01\x00\x04smtp" /* ALPN */
            "\x04\x00\x00";                                /* NOOP, empty */
    struct gw_proxy_header h;

    (void)state;
    assert_int_equal(AT(in), 28);
    test_prefixes("v2 tcp4", T(in), 28, GW_PROXY_OK, &h);
    assert_int_equal(h.version, 2);
    assert_false(h.local);
    assert_in4(&h.src, "192.0.2.1", 56324);
    assert_in4(&h.dst, "198.51.100.2", 25);

    test_prefixes("v2 tcp4 tlvs", T(tlvs), AT(tlvs), GW_PROXY_OK, &h);
    assert_int_equal(h.consumed, 16 + 22);
    assert_in4(&h.src, "192.0.2.1", 56324);
}

static void
test_v2_tcp6(void **state)
{
    static const char in[] = SIG "\x21\x21\x00\x24" V2_ADDR6;
    static const char tlvs[] =
        SIG "\x21\x21\x00\x2a" V2_ADDR6 "\xe0\x00\x03xyz"; /* a custom type */
    struct gw_proxy_header h;

    (void)state;
    assert_int_equal(AT(in), 52);
    test_prefixes("v2 tcp6", T(in), 52, GW_PROXY_OK, &h);
    assert_int_equal(h.version, 2);
    assert_false(h.local);
    assert_in6(&h.src, "2001:db8::1", 1);
    assert_in6(&h.dst, "2001:db8::25", 587);

    test_prefixes("v2 tcp6 tlvs", T(tlvs), AT(tlvs), GW_PROXY_OK, &h);
    assert_int_equal(h.consumed, 58);
}

/* LOCAL, UNSPEC and AF_UNIX keep the connection's own addresses. */
static void
test_v2_local(void **state)
{
    static const char local[] = SIG "\x20\x00\x00\x00";
    /* LOCAL ignores the family and skips the block unchecked: an address
     * block too short for TCP4, and bytes that are no TLVs */
    static const char local_short[] = SIG "\x20\x11\x00\x05zzzzz";
    static const char local_udp[] = SIG "\x20\x12\x00\x01z";
    static const char unspec[] = SIG "\x21\x00\x00\x02zz";
    struct gw_proxy_header h;
    uint8_t buf[16 + GW_PROXY_V2_TLV_MAX];
    uint8_t body[216 + 7];
    size_t n;

    (void)state;
    test_prefixes("v2 local", T(local), 16, GW_PROXY_OK, &h);
    assert_local(&h, 2, 16);
    test_prefixes("v2 local short", T(local_short), 21, GW_PROXY_OK, &h);
    assert_local(&h, 2, 21);
    test_prefixes("v2 local udp", T(local_udp), 17, GW_PROXY_OK, &h);
    assert_local(&h, 2, 17);
    test_prefixes("v2 unspec", T(unspec), 18, GW_PROXY_OK, &h);
    assert_local(&h, 2, 18);

    /* AF_UNIX stream: a 216-byte address block, then TLVs */
    n = test_v2(buf, sizeof(buf), 0x21, 0x31, 216, NULL, 216);
    test_prefixes("v2 unix", buf, n, n, GW_PROXY_OK, &h);
    assert_local(&h, 2, 232);
    memset(body, 'u', sizeof(body));
    memcpy(body + 216, "\x02\x00\x04host", 7);
    n = test_v2(buf, sizeof(buf), 0x21, 0x31, 223, body, sizeof(body));
    test_prefixes("v2 unix tlv", buf, n, n, GW_PROXY_OK, &h);
    assert_local(&h, 2, 239);
    n = test_v2(buf, sizeof(buf), 0x21, 0x31, 215, NULL, 215);
    test_prefixes("v2 unix short", buf, n, 16, GW_PROXY_E_INVALID, &h);
}

static void
test_v2_followed_by_smtp(void **state)
{
    static const char in[] = V2_TCP4 "EHLO x\r\n";
    static const char local[] = SIG "\x20\x00\x00\x00"
                                    "EHLO x\r\n";
    struct gw_proxy_header h;

    (void)state;
    test_prefixes("v2 + smtp", T(in), 28, GW_PROXY_OK, &h);
    assert_in4(&h.dst, "198.51.100.2", 25);
    test_prefixes("v2 local + smtp", T(local), 16, GW_PROXY_OK, &h);
    assert_local(&h, 2, 16);
}

static const struct test_case test_v2_invalid_cases[] = {
    {"v2 signature", T("\r\n\r\n\0\r\nQUIX\n\x21\x11"),
     AT("\r\n\r\n\0\r\nQUIX"), GW_PROXY_E_INVALID},
    {"v2 crlf then smtp", T("\r\nEHLO"), AT("\r\nE"), GW_PROXY_E_INVALID},
    {"v2 no nul", T("\r\n\r\n\r\nQUIT\n"), AT("\r\n\r\n\r"),
     GW_PROXY_E_INVALID},
    /* version nibble 2 only; commands LOCAL and PROXY only */
    {"version 1", T(SIG "\x11\x11\x00\x0c" V2_ADDR4), AT(SIG "\x11"),
     GW_PROXY_E_INVALID},
    {"version 3", T(SIG "\x31\x11\x00\x0c" V2_ADDR4), AT(SIG "\x31"),
     GW_PROXY_E_INVALID},
    {"version 0 local", T(SIG "\x00\x00\x00\x00"), AT(SIG "\x00"),
     GW_PROXY_E_INVALID},
    {"command 2", T(SIG "\x22\x11\x00\x0c" V2_ADDR4), AT(SIG "\x22"),
     GW_PROXY_E_INVALID},
    {"command 15", T(SIG "\x2f\x11\x00\x0c" V2_ADDR4), AT(SIG "\x2f"),
     GW_PROXY_E_INVALID},
    /* families: UDP and unlisted values */
    {"udp4", T(SIG "\x21\x12\x00\x0c" V2_ADDR4), AT(SIG "\x21\x12"),
     GW_PROXY_E_INVALID},
    {"udp6", T(SIG "\x21\x22\x00\x24" V2_ADDR6), AT(SIG "\x21\x22"),
     GW_PROXY_E_INVALID},
    {"unix dgram", T(SIG "\x21\x32\x00\x00"), AT(SIG "\x21\x32"),
     GW_PROXY_E_INVALID},
    {"inet unspec proto", T(SIG "\x21\x10\x00\x0c" V2_ADDR4),
     AT(SIG "\x21\x10"), GW_PROXY_E_INVALID},
    {"unspec stream", T(SIG "\x21\x01\x00\x00"), AT(SIG "\x21\x01"),
     GW_PROXY_E_INVALID},
    {"family 4", T(SIG "\x21\x41\x00\x00"), AT(SIG "\x21\x41"),
     GW_PROXY_E_INVALID},
    /* address blocks too short for the family */
    {"tcp4 length 11", T(SIG "\x21\x11\x00\x0b" V2_ADDR4),
     AT(SIG "\x21\x11\x00\x0b"), GW_PROXY_E_INVALID},
    {"tcp4 length 0", T(SIG "\x21\x11\x00\x00"), AT(SIG "\x21\x11\x00\x00"),
     GW_PROXY_E_INVALID},
    {"tcp6 length 35", T(SIG "\x21\x21\x00\x23" V2_ADDR6),
     AT(SIG "\x21\x21\x00\x23"), GW_PROXY_E_INVALID},
    {"tcp6 length 12", T(SIG "\x21\x21\x00\x0c" V2_ADDR4),
     AT(SIG "\x21\x21\x00\x0c"), GW_PROXY_E_INVALID},
    /* TLVs must tile the rest exactly */
    {"tlv 1 byte", T(SIG "\x21\x11\x00\x0d" V2_ADDR4 "\x01"),
     AT(SIG "\x21\x11\x00\x0d"), GW_PROXY_E_INVALID},
    {"tlv 2 bytes", T(SIG "\x21\x11\x00\x0e" V2_ADDR4 "\x01\x00"),
     AT(SIG "\x21\x11\x00\x0e"), GW_PROXY_E_INVALID},
    {"tlv value overruns",
     T(SIG "\x21\x11\x00\x13" V2_ADDR4 "\x01\x00\x05wxyz"),
     AT(SIG "\x21\x11\x00\x13" V2_ADDR4 "\x01\x00\x05"), GW_PROXY_E_INVALID},
    {"tlv value 65535", T(SIG "\x21\x11\x00\x13" V2_ADDR4 "\x01\xff\xffwxyz"),
     AT(SIG "\x21\x11\x00\x13" V2_ADDR4 "\x01\xff\xff"), GW_PROXY_E_INVALID},
    {"tlv short by one", T(SIG "\x21\x11\x00\x11" V2_ADDR4 "\x01\x00\x03wx"),
     AT(SIG "\x21\x11\x00\x11" V2_ADDR4 "\x01\x00\x03"), GW_PROXY_E_INVALID},
    {"tlv then 1 byte", T(SIG "\x21\x11\x00\x10" V2_ADDR4 "\x04\x00\x00z"),
     AT(SIG "\x21\x11\x00\x10" V2_ADDR4 "\x04\x00\x00"), GW_PROXY_E_INVALID},
    {"second tlv overruns",
     T(SIG "\x21\x11\x00\x14" V2_ADDR4 "\x04\x00\x00\x04\x00\x03zz"),
     AT(SIG "\x21\x11\x00\x14" V2_ADDR4 "\x04\x00\x00\x04\x00\x03"),
     GW_PROXY_E_INVALID},
    {"tcp6 tlv 1 byte", T(SIG "\x21\x21\x00\x25" V2_ADDR6 "\x01"),
     AT(SIG "\x21\x21\x00\x25"), GW_PROXY_E_INVALID},
    /* length bound: 512 after the header */
    {"length 513", T(SIG "\x21\x11\x02\x01" V2_ADDR4),
     AT(SIG "\x21\x11\x02\x01"), GW_PROXY_E_TOOLONG},
    {"length 65535", T(SIG "\x21\x11\xff\xff" V2_ADDR4),
     AT(SIG "\x21\x11\xff\xff"), GW_PROXY_E_TOOLONG},
    {"local length 513", T(SIG "\x20\x00\x02\x01"), AT(SIG "\x20\x00\x02\x01"),
     GW_PROXY_E_TOOLONG},
};

static void
test_v2_invalid(void **state)
{
    (void)state;
    test_cases(test_v2_invalid_cases, NELEM(test_v2_invalid_cases));
}

/* 16 + 512 is the longest v2 header; one more byte of length is refused
 * before any of the body arrives. */
static void
test_v2_length_bound(void **state)
{
    uint8_t buf[16 + GW_PROXY_V2_TLV_MAX + 8];
    uint8_t body[GW_PROXY_V2_TLV_MAX + 1];
    struct gw_proxy_header h;
    size_t n;

    (void)state;
    memset(body, 0, sizeof(body));
    memcpy(body, V2_ADDR4, 12);
    /* one TLV filling the remaining 500 bytes: 3 + 497 */
    body[12] = 0x04;
    body[13] = 497 >> 8;
    body[14] = 497 & 0xff;
    n = test_v2(buf, sizeof(buf), 0x21, 0x11, 512, body, 512);
    test_prefixes("length 512", buf, n, n, GW_PROXY_OK, &h);
    assert_int_equal(h.consumed, 16 + 512);
    assert_in4(&h.src, "192.0.2.1", 56324);

    body[14] = 498 & 0xff;
    n = test_v2(buf, sizeof(buf), 0x21, 0x11, 513, body, 513);
    test_prefixes("length 513", buf, n, 16, GW_PROXY_E_TOOLONG, &h);

    n = test_v2(buf, sizeof(buf), 0x20, 0x00, 512, NULL, 512);
    test_prefixes("local length 512", buf, n, n, GW_PROXY_OK, &h);
    assert_local(&h, 2, 528);
}

/* An SMTP client that speaks first is refused at its first byte, whatever
 * it sends; only 'P' and CR can start a header. */
static void
test_first_byte(void **state)
{
    struct gw_proxy_header h;
    uint8_t c[1];
    unsigned b;

    (void)state;
    assert_int_equal(gw_proxy_parse((const uint8_t *)"", 0, &h),
                     GW_PROXY_AGAIN);
    for (b = 0; b < 256; b++) {
        enum gw_proxy_rc want =
            (b == 'P' || b == '\r') ? GW_PROXY_AGAIN : GW_PROXY_E_INVALID;

        c[0] = (uint8_t)b;
        assert_int_equal(test_parse(c, 1, &h), want);
    }
    assert_int_equal(test_parse("EHLO x", 1, &h), GW_PROXY_E_INVALID);
    assert_int_equal(test_parse("EHLO x", 6, &h), GW_PROXY_E_INVALID);
}

/* Writing a header for an upstream: exact v1 text, and every header
 * written reads back with the same addresses. */
static void
test_format_round_trip(void **state)
{
    struct sockaddr_in c4;
    struct sockaddr_in l4;
    struct sockaddr_in6 c6;
    struct gw_proxy_header h;
    uint8_t out[GW_PROXY_OUT_MAX];
    size_t n;
    int v;

    (void)state;
    memset(&c4, 0, sizeof(c4));
    c4.sin_family = AF_INET;
    c4.sin_port = htons(40000);
    inet_pton(AF_INET, "192.0.2.7", &c4.sin_addr);
    l4 = c4;
    l4.sin_port = htons(25);
    inet_pton(AF_INET, "198.51.100.1", &l4.sin_addr);
    n = gw_proxy_format(out, sizeof(out), 1, (struct sockaddr *)&c4,
                        (struct sockaddr *)&l4);
    assert_int_equal(n, 44);
    assert_memory_equal(out, "PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n",
                        n);
    for (v = 1; v <= 2; v++) {
        n = gw_proxy_format(out, sizeof(out), v, (struct sockaddr *)&c4,
                            (struct sockaddr *)&l4);
        assert_int_equal(gw_proxy_parse(out, n, &h), GW_PROXY_OK);
        assert_int_equal(h.consumed, n);
        assert_int_equal(h.version, v);
        assert_false(h.local);
        assert_memory_equal(&h.src, &c4, sizeof(c4));
        assert_memory_equal(&h.dst, &l4, sizeof(l4));
        /* unknown: UNKNOWN / LOCAL */
        n = gw_proxy_format(out, sizeof(out), v, NULL, NULL);
        assert_int_equal(gw_proxy_parse(out, n, &h), GW_PROXY_OK);
        assert_true(h.local);
        /* mixed families: both as IPv6, the IPv4 one mapped */
        memset(&c6, 0, sizeof(c6));
        c6.sin6_family = AF_INET6;
        c6.sin6_port = htons(1234);
        inet_pton(AF_INET6, "2001:db8::5", &c6.sin6_addr);
        n = gw_proxy_format(out, sizeof(out), v, (struct sockaddr *)&c6,
                            (struct sockaddr *)&l4);
        assert_int_equal(gw_proxy_parse(out, n, &h), GW_PROXY_OK);
        assert_int_equal(h.src.ss_family, AF_INET6);
        assert_int_equal(h.dst.ss_family, AF_INET6);
        assert_int_equal(ntohs(((struct sockaddr_in6 *)&h.dst)->sin6_port), 25);
        assert_int_equal(
            ((struct sockaddr_in6 *)&h.dst)->sin6_addr.s6_addr[11], 0xff);
    }
    assert_int_equal(gw_proxy_format(out, 10, 1, (struct sockaddr *)&c4,
                                     (struct sockaddr *)&l4),
                     0);
    assert_int_equal(gw_proxy_format(out, 20, 2, (struct sockaddr *)&c4,
                                     (struct sockaddr *)&l4),
                     0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_tcp4),
        cmocka_unit_test(test_v1_tcp6),
        cmocka_unit_test(test_v1_unknown),
        cmocka_unit_test(test_v1_followed_by_smtp),
        cmocka_unit_test(test_v1_invalid),
        cmocka_unit_test(test_v1_toolong),
        cmocka_unit_test(test_v2_tcp4),
        cmocka_unit_test(test_v2_tcp6),
        cmocka_unit_test(test_v2_local),
        cmocka_unit_test(test_v2_followed_by_smtp),
        cmocka_unit_test(test_v2_invalid),
        cmocka_unit_test(test_v2_length_bound),
        cmocka_unit_test(test_first_byte),
        cmocka_unit_test(test_format_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
