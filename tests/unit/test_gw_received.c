/* The Received: header: exact form, and hostile values cannot break it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_received.h"

static void
test_received_exact(void **state)
{
    struct gw_received r;
    char out[1024];
    size_t n;
    static const char want[] =
        "Received: from client.example ([192.0.2.1])\r\n"
        "\tby mx.example.org (Postern) with ESMTPS id 0-0000002a\r\n"
        "\t(version=TLSv1.2 cipher=TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256);\r\n"
        "\tThu, 01 Jan 1970 00:00:00 +0000\r\n";

    (void)state;
    memset(&r, 0, sizeof(r));
    r.helo = "client.example";
    r.client_ip = "192.0.2.1";
    r.hostname = "mx.example.org";
    r.with = "ESMTPS";
    r.id = "0-0000002a";
    r.tls_version = "TLSv1.2";
    r.tls_cipher = "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256";
    r.when = 0;
    n = gw_received_format(out, sizeof(out), &r);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(gw_received_format(out, n, &r), 0);
}

static void
test_received_ipv6_and_hostile_helo(void **state)
{
    struct gw_received r;
    char out[1024];
    size_t n;
    size_t i;
    size_t lines = 0;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.helo = "x) by evil (\r\nX-Injected: yes";
    r.client_ip = "2001:db8::1";
    r.hostname = "mx";
    r.with = "ESMTP";
    r.id = "1-1";
    n = gw_received_format(out, sizeof(out), &r);
    assert_true(n > 0);
    assert_non_null(strstr(out, "([IPv6:2001:db8::1])"));
    assert_null(strstr(out, "X-Injected: yes"));
    assert_null(strstr(out, "x) by")); /* ')' cannot close the comment */
    assert_non_null(strstr(out, "from x??by?evil????X-Injected:?yes (["));
    for (i = 0; i < n; i++) {
        if (out[i] == '\n') {
            lines++;
            assert_true(i > 0 && out[i - 1] == '\r');
            /* every line after the first is a continuation */
            assert_true(i + 1 == n || out[i + 1] == '\t');
        }
    }
    assert_int_equal(lines, 3);
}

/* RFC 3848's "with" names. */
static void
test_received_with(void **state)
{
    (void)state;
    assert_string_equal(gw_received_with(false, false, false), "SMTP");
    assert_string_equal(gw_received_with(false, true, false), "SMTPS");
    assert_string_equal(gw_received_with(true, false, false), "ESMTP");
    assert_string_equal(gw_received_with(true, true, false), "ESMTPS");
    assert_string_equal(gw_received_with(true, false, true), "ESMTPA");
    assert_string_equal(gw_received_with(true, true, true), "ESMTPSA");
}

/* The trace header for upstreams without XCLIENT. */
static void
test_trace_header(void **state)
{
    struct gw_received r;
    char out[512];
    size_t n;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.helo = "client.example";
    r.client_ip = "192.0.2.1";
    r.tls_version = "TLSv1.2";
    r.tls_cipher = "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256";
    n = gw_trace_format(out, sizeof(out), "X-Postern-Client", &r, 40000,
                        "alice@example.org");
    assert_string_equal(out, "X-Postern-Client: addr=192.0.2.1; port=40000; "
                             "helo=client.example;\r\n"
                             "\ttls=TLSv1.2; "
                             "cipher=TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256; "
                             "auth=alice@example.org\r\n");
    assert_int_equal(n, strlen(out));
    /* nothing known; a hostile HELO cannot add a line or a field */
    r.helo = "x;\r\nX-Evil: 1";
    r.tls_version = NULL;
    n = gw_trace_format(out, sizeof(out), "X-Client", &r, 25, NULL);
    assert_true(n > 0);
    assert_null(strstr(out, "\r\nX-Evil"));
    assert_non_null(strstr(out, "helo=x???X-Evil:?1;"));
    assert_non_null(strstr(out, "tls=none; cipher=none; auth=none\r\n"));
    assert_int_equal(gw_trace_format(out, 20, "X-Client", &r, 25, NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_received_with),
        cmocka_unit_test(test_trace_header),
        cmocka_unit_test(test_received_exact),
        cmocka_unit_test(test_received_ipv6_and_hostile_helo),
    };

    return cmocka_run_group_tests_name("gw_received", tests, NULL, NULL);
}
