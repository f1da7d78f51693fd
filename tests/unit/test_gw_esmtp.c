/*
 * MAIL/RCPT parameters against what was offered, and the lines rebuilt for
 * the upstream: tables of {label, arguments, offered, expected}.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_esmtp.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define ALL                                                                    \
    (GW_CAP_SIZE | GW_CAP_8BITMIME | GW_CAP_BINARYMIME | GW_CAP_SMTPUTF8 |     \
     GW_CAP_DSN | GW_CAP_CHUNKING)
#define BASIC (GW_CAP_SIZE | GW_CAP_8BITMIME)

static struct gw_caps
caps(uint32_t flags)
{
    struct gw_caps c;

    memset(&c, 0, sizeof(c));
    c.flags = flags;
    c.known = true;
    return c;
}

static void
test_mail_params_table(void **state)
{
    static const struct {
        const char *label;
        const char *args;
        uint32_t offered;
        uint64_t limit;
        int code;          /* 0: accepted */
        const char *enh;
        const char *line;  /* rebuilt for an upstream with ALL, if accepted */
    } rows[] = {
        {"plain", "FROM:<a@b.example>", BASIC, 0, 0, NULL,
         "MAIL FROM:<a@b.example>"},
        {"null path", "FROM:<>", BASIC, 0, 0, NULL, "MAIL FROM:<>"},
        {"size", "FROM:<a@b.example> SIZE=100", BASIC, 1000, 0, NULL,
         "MAIL FROM:<a@b.example> SIZE=100"},
        {"size over", "FROM:<a@b.example> SIZE=1001", BASIC, 1000, 552,
         "5.3.4", NULL},
        {"size junk", "FROM:<a@b.example> SIZE=1k", BASIC, 0, 501, "5.5.4",
         NULL},
        {"size without value", "FROM:<a@b.example> SIZE", BASIC, 0, 501,
         "5.5.4", NULL},
        {"size not offered (HELO)", "FROM:<a@b.example> SIZE=1", 0, 0, 555,
         "5.5.4", NULL},
        {"body 8bitmime any case", "FROM:<a@b.example> body=8bitMIME", BASIC,
         0, 0, NULL, "MAIL FROM:<a@b.example> BODY=8BITMIME"},
        {"body 7bit", "FROM:<a@b.example> BODY=7BIT", BASIC, 0, 0, NULL,
         "MAIL FROM:<a@b.example> BODY=7BIT"},
        {"body junk", "FROM:<a@b.example> BODY=9BIT", BASIC, 0, 501, "5.5.4",
         NULL},
        {"binarymime not offered", "FROM:<a@b.example> BODY=BINARYMIME",
         BASIC, 0, 501, "5.5.4", NULL},
        {"binarymime offered", "FROM:<a@b.example> BODY=BINARYMIME", ALL, 0,
         0, NULL, "MAIL FROM:<a@b.example> BODY=BINARYMIME"},
        {"duplicate", "FROM:<a@b.example> SIZE=1 size=2", BASIC, 0, 501,
         "5.5.4", NULL},
        {"unknown", "FROM:<a@b.example> FOO=bar", ALL, 0, 555, "5.5.4", NULL},
        {"auth not offered", "FROM:<a@b.example> AUTH=<>", ALL, 0, 555,
         "5.5.4", NULL},
        {"smtputf8 not offered", "FROM:<a@b.example> SMTPUTF8", BASIC, 0,
         555, "5.5.4", NULL},
        {"requiretls not offered", "FROM:<a@b.example> REQUIRETLS", ALL, 0,
         555, "5.5.4", NULL},
        {"requiretls", "FROM:<a@b.example> requiretls",
         ALL | GW_CAP_REQUIRETLS, 0, 0, NULL,
         "MAIL FROM:<a@b.example> REQUIRETLS"},
        {"requiretls with value", "FROM:<a@b.example> REQUIRETLS=yes",
         ALL | GW_CAP_REQUIRETLS, 0, 501, "5.5.4", NULL},
        {"smtputf8 with value", "FROM:<a@b.example> SMTPUTF8=1", ALL, 0, 501,
         "5.5.4", NULL},
        {"utf8 address without SMTPUTF8", "FROM:<j\xc3\xb6rg@b.example>", ALL,
         0, 553, "5.6.7", NULL},
        {"utf8 address with SMTPUTF8",
         "FROM:<j\xc3\xb6rg@b.example> SMTPUTF8", ALL, 0, 0, NULL,
         "MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8"},
        {"invalid utf8 with SMTPUTF8", "FROM:<j\xc3rg@b.example> SMTPUTF8",
         ALL, 0, 553, "5.6.7", NULL},
        {"overlong utf8", "FROM:<j\xc0\xafrg@b.example> SMTPUTF8", ALL, 0,
         553, "5.6.7", NULL},
        {"dsn ret envid", "FROM:<a@b.example> RET=hdrs ENVID=QQ+2B1", ALL, 0,
         0, NULL, "MAIL FROM:<a@b.example> RET=HDRS ENVID=QQ+2B1"},
        {"dsn not offered", "FROM:<a@b.example> RET=FULL", BASIC, 0, 555,
         "5.5.4", NULL},
        {"ret junk", "FROM:<a@b.example> RET=ALL", ALL, 0, 501, "5.5.4",
         NULL},
        {"envid bad xtext", "FROM:<a@b.example> ENVID=a+zz", ALL, 0, 501,
         "5.5.4", NULL},
        {"envid lower-case hex", "FROM:<a@b.example> ENVID=a+2b", ALL, 0, 501,
         "5.5.4", NULL},
        {"envid cut escape", "FROM:<a@b.example> ENVID=a+2", ALL, 0, 501,
         "5.5.4", NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(rows); i++) {
        struct gw_mail_args a;
        struct gw_parse_error perr;
        struct gw_mail_params p;
        struct gw_esmtp_error err;
        struct gw_caps off = caps(rows[i].offered);
        struct gw_caps up = caps(ALL);
        char line[1024];
        size_t n;
        bool ok;

        if (gw_mail_parse((const uint8_t *)rows[i].args,
                          strlen(rows[i].args), &a, &perr) != GW_PARSE_OK) {
            /* a syntax error before any parameter check: 501 */
            if (rows[i].code != 501) {
                fail_msg("%s: parse failed (%s)", rows[i].label, perr.why);
            }
            continue;
        }
        ok = gw_esmtp_mail_check(&a, &off, rows[i].limit, &p, &err);
        if (ok != (rows[i].code == 0) ||
            (!ok && (err.code != rows[i].code ||
                     strcmp(err.enh, rows[i].enh) != 0))) {
            fail_msg("%s: got %d %s, expected %d %s", rows[i].label,
                     ok ? 0 : err.code, ok ? "-" : err.enh, rows[i].code,
                     rows[i].enh != NULL ? rows[i].enh : "-");
        }
        if (!ok) {
            continue;
        }
        n = gw_esmtp_mail_line(line, sizeof(line), &a.path, &p, &up);
        if (n != strlen(rows[i].line) || memcmp(line, rows[i].line, n) != 0) {
            fail_msg("%s: line \"%.*s\", expected \"%s\"", rows[i].label,
                     (int)n, line, rows[i].line);
        }
    }
}

/* Parameters the upstream lacks are dropped where that is harmless. */
static void
test_mail_line_legacy_upstream(void **state)
{
    struct gw_mail_args a;
    struct gw_parse_error perr;
    struct gw_mail_params p;
    struct gw_esmtp_error err;
    struct gw_caps off = caps(ALL);
    struct gw_caps legacy = caps(0);
    static const char args[] =
        "FROM:<a@b.example> SIZE=5 BODY=8BITMIME RET=HDRS ENVID=x1";
    char line[256];
    size_t n;

    (void)state;
    assert_int_equal(gw_mail_parse((const uint8_t *)args, strlen(args), &a,
                                   &perr),
                     GW_PARSE_OK);
    assert_true(gw_esmtp_mail_check(&a, &off, 0, &p, &err));
    n = gw_esmtp_mail_line(line, sizeof(line), &a.path, &p, &legacy);
    assert_int_equal(n, strlen("MAIL FROM:<a@b.example>"));
    assert_memory_equal(line, "MAIL FROM:<a@b.example>", n);
    assert_int_equal(gw_esmtp_mail_line(line, 10, &a.path, &p, &legacy), 0);
}

/* DSN parameters go only to an upstream with DSN (a rule may route a
 * transaction away from the session's route, which had it). */
static void
test_rcpt_line_without_dsn(void **state)
{
    struct gw_mail_args a;
    struct gw_parse_error perr;
    struct gw_rcpt_params p;
    struct gw_esmtp_error err;
    struct gw_caps off = caps(ALL);
    struct gw_caps legacy = caps(0);
    static const char args[] =
        "TO:<c@d.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;c@d.example";
    char line[256];
    size_t n;

    (void)state;
    assert_int_equal(gw_rcpt_parse((const uint8_t *)args, strlen(args), &a,
                                   &perr),
                     GW_PARSE_OK);
    assert_true(gw_esmtp_rcpt_check(&a, &off, false, &p, &err));
    n = gw_esmtp_rcpt_line(line, sizeof(line), &a.path, &p, &legacy);
    assert_int_equal(n, strlen("RCPT TO:<c@d.example>"));
    assert_memory_equal(line, "RCPT TO:<c@d.example>", n);
    n = gw_esmtp_rcpt_line(line, sizeof(line), &a.path, &p, &off);
    assert_int_equal(n, strlen("RCPT TO:<c@d.example> NOTIFY=SUCCESS,DELAY "
                               "ORCPT=rfc822;c@d.example"));
}

static void
test_rcpt_params_table(void **state)
{
    static const struct {
        const char *label;
        const char *args;
        uint32_t offered;
        bool smtputf8;
        int code;
        const char *line;
    } rows[] = {
        {"plain", "TO:<c@d.example>", BASIC, false, 0,
         "RCPT TO:<c@d.example>"},
        {"postmaster", "TO:<Postmaster>", BASIC, false, 0,
         "RCPT TO:<Postmaster>"},
        {"param without dsn", "TO:<c@d.example> NOTIFY=NEVER", BASIC, false,
         555, NULL},
        {"notify never", "TO:<c@d.example> notify=never", ALL, false, 0,
         "RCPT TO:<c@d.example> NOTIFY=NEVER"},
        {"notify list, canonical order",
         "TO:<c@d.example> NOTIFY=DELAY,SUCCESS", ALL, false, 0,
         "RCPT TO:<c@d.example> NOTIFY=SUCCESS,DELAY"},
        {"notify never mixed", "TO:<c@d.example> NOTIFY=NEVER,DELAY", ALL,
         false, 501, NULL},
        {"notify repeated word", "TO:<c@d.example> NOTIFY=DELAY,DELAY", ALL,
         false, 501, NULL},
        {"notify empty item", "TO:<c@d.example> NOTIFY=DELAY,", ALL, false,
         501, NULL},
        {"orcpt", "TO:<c@d.example> ORCPT=rfc822;c+40d.example", ALL, false,
         0, "RCPT TO:<c@d.example> ORCPT=rfc822;c+40d.example"},
        {"orcpt without type", "TO:<c@d.example> ORCPT=;x", ALL, false, 501,
         NULL},
        {"orcpt bad xtext", "TO:<c@d.example> ORCPT=rfc822;a=b", ALL, false,
         501, NULL},
        {"repeated notify", "TO:<c@d.example> NOTIFY=NEVER NOTIFY=NEVER", ALL,
         false, 555, NULL},
        {"utf8 without SMTPUTF8 on MAIL", "TO:<\xc3\xb6@d.example>", ALL,
         false, 553, NULL},
        {"utf8 with SMTPUTF8 on MAIL", "TO:<\xc3\xb6@d.example>", ALL, true,
         0, "RCPT TO:<\xc3\xb6@d.example>"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(rows); i++) {
        struct gw_mail_args a;
        struct gw_parse_error perr;
        struct gw_rcpt_params p;
        struct gw_esmtp_error err;
        struct gw_caps off = caps(rows[i].offered);
        struct gw_caps up = caps(ALL);
        char line[1024];
        size_t n;
        bool ok;

        if (gw_rcpt_parse((const uint8_t *)rows[i].args,
                          strlen(rows[i].args), &a, &perr) != GW_PARSE_OK) {
            if (rows[i].code != 501) {
                fail_msg("%s: parse failed (%s)", rows[i].label, perr.why);
            }
            continue;
        }
        ok = gw_esmtp_rcpt_check(&a, &off, rows[i].smtputf8, &p, &err);
        if (ok != (rows[i].code == 0) || (!ok && err.code != rows[i].code)) {
            fail_msg("%s: got %d, expected %d", rows[i].label,
                     ok ? 0 : err.code, rows[i].code);
        }
        if (!ok) {
            continue;
        }
        n = gw_esmtp_rcpt_line(line, sizeof(line), &a.path, &p, &up);
        if (n != strlen(rows[i].line) || memcmp(line, rows[i].line, n) != 0) {
            fail_msg("%s: line \"%.*s\", expected \"%s\"", rows[i].label,
                     (int)n, line, rows[i].line);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mail_params_table),
        cmocka_unit_test(test_mail_line_legacy_upstream),
        cmocka_unit_test(test_rcpt_line_without_dsn),
        cmocka_unit_test(test_rcpt_params_table),
    };

    return cmocka_run_group_tests_name("gw_esmtp", tests, NULL, NULL);
}
