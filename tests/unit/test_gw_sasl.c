/* SASL PLAIN and LOGIN exchanges, strict base64, and the wipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_sasl.h"

#define B(s) (const uint8_t *)(s), strlen(s)

static void
test_base64_strict(void **state)
{
    uint8_t out[64];
    size_t n;

    (void)state;
    assert_true(gw_base64_decode(out, sizeof(out), &n, B("AGFAYgBj")));
    assert_int_equal(n, 6);
    assert_memory_equal(out, "\0a@b\0c", 6);
    assert_true(gw_base64_decode(out, sizeof(out), &n, B("")));
    assert_int_equal(n, 0);
    assert_true(gw_base64_decode(out, sizeof(out), &n, B("YQ==")));
    assert_int_equal(n, 1);
    /* no whitespace, no missing padding, no '=' inside, no junk */
    assert_false(gw_base64_decode(out, sizeof(out), &n, B("YQ")));
    assert_false(gw_base64_decode(out, sizeof(out), &n, B("Y Q==")));
    assert_false(gw_base64_decode(out, sizeof(out), &n, B("YQ==YQ==")));
    assert_false(gw_base64_decode(out, sizeof(out), &n, B("Y===")));
    assert_false(gw_base64_decode(out, sizeof(out), &n, B("YQ-_")));
    assert_false(gw_base64_decode(out, sizeof(out), &n, B("YWJj\r\n")));
    /* non-zero padding bits: not the canonical form of any octets */
    assert_false(gw_base64_decode(out, sizeof(out), &n, B("QR==")));
    assert_false(gw_base64_decode(out, sizeof(out), &n, B("QUJ=")));
    assert_true(gw_base64_decode(out, sizeof(out), &n, B("QUI=")));
    /* does not fit */
    assert_false(gw_base64_decode(out, 2, &n, B("YWJj")));
}

static void
test_base64_encode(void **state)
{
    char out[16];

    (void)state;
    assert_true(gw_base64_encode(out, sizeof(out), B("Password:")));
    assert_string_equal(out, "UGFzc3dvcmQ6");
    assert_true(gw_base64_encode(out, sizeof(out), B("")));
    assert_string_equal(out, "");
    assert_false(gw_base64_encode(out, 8, B("Password:")));
}

static void
test_mech_names(void **state)
{
    (void)state;
    assert_int_equal(gw_sasl_mech_parse(B("plain")), GW_SASL_PLAIN);
    assert_int_equal(gw_sasl_mech_parse(B("LoGiN")), GW_SASL_LOGIN);
    assert_int_equal(gw_sasl_mech_parse(B("CRAM-MD5")), GW_SASL_NONE);
    assert_int_equal(gw_sasl_mech_parse(B("PLAINX")), GW_SASL_NONE);
    assert_string_equal(gw_sasl_mech_name(GW_SASL_LOGIN), "LOGIN");
}

static void
test_plain_initial_response(void **state)
{
    struct gw_sasl x;
    char chal[64];

    (void)state;
    /* "\0alice\0sekret" */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B("AGFsaWNlAHNla3JldA=="),
                                   chal, sizeof(chal)),
                     GW_SASL_DONE);
    assert_string_equal(x.user, "alice");
    assert_int_equal(x.user_len, 5);
    assert_string_equal(x.pass, "sekret");
    /* authzid equal to authcid is allowed: "alice\0alice\0sekret" */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN,
                                   B("YWxpY2UAYWxpY2UAc2VrcmV0"), chal,
                                   sizeof(chal)),
                     GW_SASL_DONE);
    /* acting as bob is not: "bob\0alice\0sekret" */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN,
                                   B("Ym9iAGFsaWNlAHNla3JldA=="), chal,
                                   sizeof(chal)),
                     GW_SASL_E_AUTHZID);
    gw_sasl_wipe(&x);
}

static void
test_plain_empty_challenge(void **state)
{
    struct gw_sasl x;
    char chal[64];

    (void)state;
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, NULL, 0, chal,
                                   sizeof(chal)),
                     GW_SASL_CHALLENGE);
    assert_string_equal(chal, "");
    assert_int_equal(gw_sasl_step(&x, B("AGFsaWNlAHNla3JldA=="), chal,
                                  sizeof(chal)),
                     GW_SASL_DONE);
    assert_string_equal(x.pass, "sekret");
    gw_sasl_wipe(&x);
}

static void
test_plain_malformed(void **state)
{
    struct gw_sasl x;
    char chal[64];

    (void)state;
    /* "=" is the empty initial response: no NULs at all */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B("="), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    /* "alice" without NULs */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B("YWxpY2U="), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    /* "\0alice\0" (empty password) */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B("AGFsaWNlAA=="), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    /* "\0\0pw" (empty user) */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B("AABwdw=="), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    /* "\0a\0b\0c": a NUL inside the password */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B("AGEAYgBj"), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B("not base64!"), chal,
                                   sizeof(chal)),
                     GW_SASL_E_BASE64);
    gw_sasl_wipe(&x);
}

static void
test_plain_too_long(void **state)
{
    struct gw_sasl x;
    char chal[64];
    uint8_t msg[300];
    char b64[512];

    (void)state;
    /* a 256-octet user name */
    memset(msg, 'u', sizeof(msg));
    msg[0] = 0;
    msg[257] = 0;
    assert_true(gw_base64_encode(b64, sizeof(b64), msg, 260));
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B(b64), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    /* 255 is the limit */
    msg[256] = 0;
    msg[257] = 'p';
    assert_true(gw_base64_encode(b64, sizeof(b64), msg, 260));
    assert_int_equal(gw_sasl_start(&x, GW_SASL_PLAIN, B(b64), chal,
                                   sizeof(chal)),
                     GW_SASL_DONE);
    assert_int_equal(x.user_len, 255);
    gw_sasl_wipe(&x);
}

static void
test_login(void **state)
{
    struct gw_sasl x;
    char chal[64];

    (void)state;
    assert_int_equal(gw_sasl_start(&x, GW_SASL_LOGIN, NULL, 0, chal,
                                   sizeof(chal)),
                     GW_SASL_CHALLENGE);
    assert_string_equal(chal, "VXNlcm5hbWU6"); /* Username: */
    assert_int_equal(gw_sasl_step(&x, B("Ym9i"), chal, sizeof(chal)),
                     GW_SASL_CHALLENGE);
    assert_string_equal(chal, "UGFzc3dvcmQ6"); /* Password: */
    assert_int_equal(gw_sasl_step(&x, B("cHcy"), chal, sizeof(chal)),
                     GW_SASL_DONE);
    assert_string_equal(x.user, "bob");
    assert_string_equal(x.pass, "pw2");
    /* with the user name as initial response */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_LOGIN, B("Ym9i"), chal,
                                   sizeof(chal)),
                     GW_SASL_CHALLENGE);
    assert_string_equal(chal, "UGFzc3dvcmQ6");
    /* an empty password is malformed */
    assert_int_equal(gw_sasl_step(&x, B(""), chal, sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    gw_sasl_wipe(&x);
}

static void
test_cancel_and_wipe(void **state)
{
    struct gw_sasl x;
    char chal[64];
    size_t i;

    (void)state;
    assert_int_equal(gw_sasl_start(&x, GW_SASL_LOGIN, B("Ym9i"), chal,
                                   sizeof(chal)),
                     GW_SASL_CHALLENGE);
    assert_int_equal(gw_sasl_step(&x, B("*"), chal, sizeof(chal)),
                     GW_SASL_E_CANCEL);
    assert_int_equal(gw_sasl_step(&x, B("cHcy"), chal, sizeof(chal)),
                     GW_SASL_DONE);
    gw_sasl_wipe_pass(&x);
    assert_int_equal(x.pass_len, 0);
    for (i = 0; i < sizeof(x.pass); i++) {
        assert_int_equal(x.pass[i], 0);
    }
    assert_string_equal(x.user, "bob");
    gw_sasl_wipe(&x);
    assert_int_equal(x.user_len, 0);
    assert_int_equal(x.user[0], 0);
}

/* Base64 of raw bytes, for the bearer messages with ^A in them. */
static void
b64(char *out, size_t cap, const char *raw)
{
    assert_true(gw_base64_encode(out, cap, (const uint8_t *)raw, strlen(raw)));
}

static void
test_oauthbearer(void **state)
{
    struct gw_sasl x;
    char msg[512];
    char chal[128];

    (void)state;
    b64(msg, sizeof(msg),
        "n,a=al=2Cice=3D,\x01host=mx\x01port=587\x01" "auth=Bearer tok\x01\x01");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_OAUTHBEARER, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_DONE);
    assert_string_equal(x.user, "al,ice=");
    assert_string_equal(x.token, "tok");
    /* no authzid; "bearer" in any case */
    b64(msg, sizeof(msg), "n,,\x01" "auth=bearer t2\x01\x01");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_OAUTHBEARER, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_DONE);
    assert_int_equal(x.user_len, 0);
    assert_string_equal(x.token, "t2");
    /* malformed: channel binding, no auth, junk after the end, bad escape */
    b64(msg, sizeof(msg), "p=tls-unique,,\x01" "auth=Bearer t\x01\x01");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_OAUTHBEARER, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    b64(msg, sizeof(msg), "n,,\x01host=mx\x01\x01");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_OAUTHBEARER, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    b64(msg, sizeof(msg), "n,,\x01" "auth=Bearer t\x01\x01x");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_OAUTHBEARER, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    b64(msg, sizeof(msg), "n,a=a=2x,\x01" "auth=Bearer t\x01\x01");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_OAUTHBEARER, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    /* the error challenge, then any answer is the ack */
    b64(msg, sizeof(msg), "n,,\x01" "auth=Bearer t\x01\x01");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_OAUTHBEARER, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_DONE);
    gw_sasl_token_error(&x, chal, sizeof(chal));
    assert_string_equal(chal, "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6"
                              "ImJlYXJlciJ9");
    assert_int_equal(gw_sasl_step(&x, B("AQ=="), chal, sizeof(chal)),
                     GW_SASL_ERROR_ACK);
    gw_sasl_wipe_pass(&x);
    assert_int_equal(x.token_len, 0);
    assert_int_equal(x.token[0], 0);
    gw_sasl_wipe(&x);
}

static void
test_xoauth2(void **state)
{
    struct gw_sasl x;
    char msg[512];
    char chal[128];

    (void)state;
    b64(msg, sizeof(msg), "user=bob@example.org\x01" "auth=Bearer ya29.x\x01\x01");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_XOAUTH2, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_DONE);
    assert_string_equal(x.user, "bob@example.org");
    assert_string_equal(x.token, "ya29.x");
    /* the empty-challenge form */
    assert_int_equal(gw_sasl_start(&x, GW_SASL_XOAUTH2, NULL, 0, chal,
                                   sizeof(chal)),
                     GW_SASL_CHALLENGE);
    assert_string_equal(chal, "");
    assert_int_equal(gw_sasl_step(&x, B(msg), chal, sizeof(chal)),
                     GW_SASL_DONE);
    b64(msg, sizeof(msg), "user=bob\x01" "auth=Basic abc\x01\x01");
    assert_int_equal(gw_sasl_start(&x, GW_SASL_XOAUTH2, B(msg), chal,
                                   sizeof(chal)),
                     GW_SASL_E_SYNTAX);
    assert_int_equal(gw_sasl_mech_parse(B("xoauth2")), GW_SASL_XOAUTH2);
    assert_string_equal(gw_sasl_mech_name(GW_SASL_OAUTHBEARER), "OAUTHBEARER");
    gw_sasl_wipe(&x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_strict),
        cmocka_unit_test(test_base64_encode),
        cmocka_unit_test(test_mech_names),
        cmocka_unit_test(test_plain_initial_response),
        cmocka_unit_test(test_plain_empty_challenge),
        cmocka_unit_test(test_plain_malformed),
        cmocka_unit_test(test_plain_too_long),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_cancel_and_wipe),
        cmocka_unit_test(test_oauthbearer),
        cmocka_unit_test(test_xoauth2),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
