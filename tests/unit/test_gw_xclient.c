/* XCLIENT / XFORWARD lines: attributes offered, xtext, IPv6, splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "gateway/gw_xclient.h"

#define B(s) (const uint8_t *)(s), strlen(s)

static void
test_xattr_parse(void **state)
{
    (void)state;
    assert_int_equal(gw_xattr_parse(B(" NAME addr  Port")),
                     GW_XATTR_NAME | GW_XATTR_ADDR | GW_XATTR_PORT);
    assert_int_equal(gw_xattr_parse(B(" DESTADDR DESTPORT LOGIN X-NEW")),
                     GW_XATTR_DESTADDR | GW_XATTR_DESTPORT | GW_XATTR_LOGIN);
    assert_int_equal(gw_xattr_parse(B("")), 0);
    assert_int_equal(gw_xattr_parse(B(" NAMES ADD")), 0);
}

static void
test_xtext_encode(void **state)
{
    char out[32];

    (void)state;
    assert_true(gw_xtext_encode(out, sizeof(out), B("a+b=c d")));
    assert_string_equal(out, "a+2Bb+3Dc+20d");
    assert_true(gw_xtext_encode(out, sizeof(out), B("\xc3\xa9\x7f")));
    assert_string_equal(out, "+C3+A9+7F");
    assert_false(gw_xtext_encode(out, 4, B("a+b")));
    assert_true(gw_xtext_encode(out, 4, B("abc")));
    assert_false(gw_xtext_encode(out, 3, B("abc")));
}

static void
test_xclient_v4(void **state)
{
    struct sockaddr_in c;
    struct sockaddr_in l;
    struct gw_client_identity id;
    struct gw_ident_lines out;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.sin_family = AF_INET;
    c.sin_port = htons(40000);
    inet_pton(AF_INET, "192.0.2.1", &c.sin_addr);
    l = c;
    l.sin_port = htons(587);
    inet_pton(AF_INET, "198.51.100.7", &l.sin_addr);
    memset(&id, 0, sizeof(id));
    id.client = (struct sockaddr *)&c;
    id.local = (struct sockaddr *)&l;
    id.helo = "client.example";
    id.esmtp = true;
    id.login = "alice@example.org";
    assert_true(gw_ident_build(GW_IDENT_XCLIENT, 0x1ffu, &id, &out));
    assert_int_equal(out.n, 1);
    assert_string_equal(out.line[0],
                        "XCLIENT NAME=[UNAVAILABLE] ADDR=192.0.2.1 PORT=40000 "
                        "PROTO=ESMTP HELO=client.example "
                        "LOGIN=alice@example.org DESTADDR=198.51.100.7 "
                        "DESTPORT=587");
    /* only what the upstream offers, and only the command's own */
    assert_true(gw_ident_build(GW_IDENT_XFORWARD, 0x1ffu, &id, &out));
    assert_string_equal(out.line[0],
                        "XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.1 "
                        "PORT=40000 PROTO=ESMTP HELO=client.example "
                        "SOURCE=REMOTE");
    assert_true(gw_ident_build(GW_IDENT_XCLIENT, GW_XATTR_ADDR, &id, &out));
    assert_string_equal(out.line[0], "XCLIENT ADDR=192.0.2.1");
    assert_false(gw_ident_build(GW_IDENT_XCLIENT, GW_XATTR_SOURCE, &id, &out));
    assert_false(gw_ident_build(GW_IDENT_XFORWARD, GW_XATTR_LOGIN, &id, &out));
    /* nothing known: [UNAVAILABLE], SMTP for HELO sessions */
    id.helo = NULL;
    id.login = NULL;
    id.local = NULL;
    id.esmtp = false;
    assert_true(gw_ident_build(GW_IDENT_XCLIENT,
                               GW_XATTR_HELO | GW_XATTR_LOGIN |
                                   GW_XATTR_PROTO | GW_XATTR_DESTPORT,
                               &id, &out));
    assert_string_equal(out.line[0],
                        "XCLIENT PROTO=SMTP HELO=[UNAVAILABLE] "
                        "LOGIN=[UNAVAILABLE] DESTPORT=[UNAVAILABLE]");
}

static void
test_xclient_v6_and_split(void **state)
{
    struct sockaddr_in6 c;
    struct gw_client_identity id;
    struct gw_ident_lines out;
    char helo[256];
    size_t i;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.sin6_family = AF_INET6;
    c.sin6_port = htons(25);
    inet_pton(AF_INET6, "2001:db8::1", &c.sin6_addr);
    memset(&id, 0, sizeof(id));
    id.client = (struct sockaddr *)&c;
    assert_true(gw_ident_build(GW_IDENT_XCLIENT, GW_XATTR_ADDR, &id, &out));
    assert_string_equal(out.line[0], "XCLIENT ADDR=IPV6:2001:db8::1");
    /* a v4-mapped address is written as IPv4 */
    inet_pton(AF_INET6, "::ffff:192.0.2.9", &c.sin6_addr);
    assert_true(gw_ident_build(GW_IDENT_XCLIENT, GW_XATTR_ADDR, &id, &out));
    assert_string_equal(out.line[0], "XCLIENT ADDR=192.0.2.9");
    /* a 255-octet HELO of '+' is 765 octets of xtext: it cannot fit a
     * 512-octet line, so it goes as [UNAVAILABLE], never cut */
    memset(helo, '+', 255);
    helo[255] = '\0';
    id.helo = helo;
    assert_true(gw_ident_build(GW_IDENT_XCLIENT, GW_XATTR_HELO, &id, &out));
    assert_string_equal(out.line[0], "XCLIENT HELO=[UNAVAILABLE]");
    /* 255-octet HELO and login that do fit alone: split over lines of at
     * most 512 octets, nothing lost */
    memset(helo, 'h', 255);
    id.login = helo;
    assert_true(gw_ident_build(GW_IDENT_XCLIENT, 0x0ffu, &id, &out));
    assert_int_equal(out.n, 2);
    assert_non_null(strstr(out.line[0], " HELO=hhh"));
    assert_non_null(strstr(out.line[1], "XCLIENT LOGIN=hhh"));
    for (i = 0; i < out.n; i++) {
        assert_true(strlen(out.line[i]) <= GW_XCLIENT_LINE_MAX);
        assert_int_equal(strncmp(out.line[i], "XCLIENT ", 8), 0);
    }
}

static void
test_xtext_decode(void **state)
{
    char out[32];

    (void)state;
    assert_true(gw_xtext_decode(out, sizeof(out), B("a+2Bb+3Dc")));
    assert_string_equal(out, "a+b=c");
    assert_true(gw_xtext_decode(out, sizeof(out), B("+C3+A9")));
    assert_string_equal(out, "\xc3\xa9");
    assert_false(gw_xtext_decode(out, sizeof(out), B("a+2")));   /* cut */
    assert_false(gw_xtext_decode(out, sizeof(out), B("a+2b")));  /* case */
    assert_false(gw_xtext_decode(out, sizeof(out), B("a=b")));   /* '=' */
    assert_false(gw_xtext_decode(out, sizeof(out), B("a b")));   /* space */
    assert_false(gw_xtext_decode(out, sizeof(out), B("+00")));   /* NUL */
    assert_false(gw_xtext_decode(out, 3, B("abc")));             /* room */
    assert_true(gw_xtext_decode(out, sizeof(out), B("")));
    assert_string_equal(out, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xattr_parse),
        cmocka_unit_test(test_xtext_encode),
        cmocka_unit_test(test_xtext_decode),
        cmocka_unit_test(test_xclient_v4),
        cmocka_unit_test(test_xclient_v6_and_split),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
