/*
 * Unit tests for certificates and contexts in a handshake (certs/
 * tls_server.c, tls_client.c, tls_verify.c): SNI selection with RSA and
 * ECDSA, the upstream verify modes and pins, protocol versions and cipher
 * suites, resumption by session ticket, generations outliving a reload,
 * client certificates. Two engines back to back (test_tls_pair.h).
 *
 * Needs $POSTERN_TEST_CERTS (tests/certs/gen-certs.sh output; ctest sets
 * it).
 */
#include <strings.h>

#include "tests/unit/test_tls_pair.h"

struct t_sni_case {
    const char *label;
    const char *name;       /* SNI sent (client server_name) */
    bool rsa_only;          /* client offers RSA suites only */
    const char *subject_cn; /* expected CN of the certificate served */
    enum tls_peer_trust trust;
};

static void
test_verify_sni_selects_certificate(void **state)
{
    static const char *const rsa_only[] = {
        "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256"};
    static const struct t_sni_case cases[] = {
        {"no SNI: default", NULL, false, "mx1.example.test", TLS_PEER_TRUSTED},
        {"exact RSA", "mx1.example.test", false, "mx1.example.test",
         TLS_PEER_VERIFIED},
        {"exact, any case", "MX1.Example.TEST", false, "mx1.example.test",
         TLS_PEER_VERIFIED},
        {"exact ECDSA", "mx2.example.test", false, "mx2.example.test",
         TLS_PEER_VERIFIED},
        {"ECDSA name, RSA-only client", "mx2.example.test", true,
         "mx2.example.test", TLS_PEER_VERIFIED},
        {"wildcard ECDSA", "a.ec.example.test", false, "mx2.example.test",
         TLS_PEER_VERIFIED},
        {"wildcard RSA", "b.rsa.example.test", false, "mx1.example.test",
         TLS_PEER_VERIFIED},
        {"wildcard is one label", "a.b.ec.example.test", false,
         "mx1.example.test", TLS_PEER_TRUSTED},
        {"unknown name: default", "other.example.test", false,
         "mx1.example.test", TLS_PEER_TRUSTED},
    };
    struct tls_ctx *sctx = t_server_ctx(NULL);
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct t_sni_case *c = &cases[i];
        struct tls_client_opts o;
        struct tls_ctx *cctx;
        struct t_pair tp;
        char want[128];

        memset(&o, 0, sizeof(o));
        o.mode = TLS_CLIENT_ENCRYPT;
        o.ca_file = t_path("ca.crt");
        o.server_name = c->name;
        if (c->rsa_only) {
            o.ciphersuites = rsa_only;
            o.nciphersuites = 1;
        }
        cctx = t_client_ctx_opts(&o);
        t_pair_new(&tp, cctx, sctx, NULL, 0);
        t_expect_handshake_ok(&tp);
        snprintf(want, sizeof(want), "CN=%s,", c->subject_cn);
        if (strstr(tls_engine_peer_subject(tp.c), want) == NULL ||
            tls_engine_peer_verify_result(tp.c) != c->trust) {
            fail_msg("%s: served \"%s\" trust %s, want %s / %s", c->label,
                     tls_engine_peer_subject(tp.c),
                     tls_peer_trust_name(tls_engine_peer_verify_result(tp.c)),
                     want, tls_peer_trust_name(c->trust));
        }
        if (strcmp(c->subject_cn, "mx2.example.test") == 0) {
            assert_non_null(strstr(tls_engine_cipher(tp.c),
                                   c->rsa_only ? "-RSA-" : "-ECDSA-"));
        }
        if (c->name == NULL) {
            assert_null(tls_engine_sni(tp.s));
        } else {
            assert_non_null(tls_engine_sni(tp.s));
            assert_true(strcasecmp(tls_engine_sni(tp.s), c->name) == 0);
        }
        t_pair_free(&tp);
        tls_ctx_unref(cctx);
    }
    tls_ctx_unref(sctx);
}

struct t_verify_case {
    const char *label;
    enum tls_client_mode mode;
    const char *ca;
    const char *name;
    const char *server_crt; /* the upstream's chain and key (basename) */
    const char *server_key;
    const char *pin; /* a *.pin file, "bad" for a wrong pin, NULL */
    bool ok;
    enum tls_peer_trust trust;
    const char *reason; /* substring of the client's reason */
};

/* The upstream leg: verify modes and pins against an upstream server. */
static void
test_verify_client_modes_and_pins(void **state)
{
    static const struct t_verify_case cases[] = {
        {"verify: right CA and name", TLS_CLIENT_VERIFY, "ca.crt",
         "upstream.example.test", "upstream-chain.pem", "upstream.key", NULL,
         true, TLS_PEER_VERIFIED, NULL},
        {"verify: name in any case", TLS_CLIENT_VERIFY, "ca.crt",
         "UPSTREAM.example.test", "upstream-chain.pem", "upstream.key", NULL,
         true, TLS_PEER_VERIFIED, NULL},
        {"verify: wrong name", TLS_CLIENT_VERIFY, "ca.crt",
         "wrong.example.test", "upstream-chain.pem", "upstream.key", NULL,
         false, TLS_PEER_NONE, "Common Name"},
        {"verify: unknown CA", TLS_CLIENT_VERIFY, "rogue-ca.crt",
         "upstream.example.test", "upstream-chain.pem", "upstream.key", NULL,
         false, TLS_PEER_NONE, "not correctly signed"},
        {"verify: rogue certificate", TLS_CLIENT_VERIFY, "ca.crt",
         "upstream.example.test", "rogue.crt", "rogue.key", NULL, false,
         TLS_PEER_NONE, "certificate verify failed"},
        {"verify: chain without intermediate", TLS_CLIENT_VERIFY, "ca.crt",
         "upstream.example.test", "upstream.crt", "upstream.key", NULL, false,
         TLS_PEER_NONE, "not correctly signed"},
        {"encrypt: unknown CA accepted, untrusted", TLS_CLIENT_ENCRYPT,
         "rogue-ca.crt", "upstream.example.test", "upstream-chain.pem",
         "upstream.key", NULL, true, TLS_PEER_UNTRUSTED, NULL},
        {"encrypt: wrong name accepted, trusted", TLS_CLIENT_ENCRYPT, "ca.crt",
         "wrong.example.test", "upstream-chain.pem", "upstream.key", NULL, true,
         TLS_PEER_TRUSTED, NULL},
        {"may: rogue accepted, untrusted", TLS_CLIENT_MAY, "ca.crt",
         "upstream.example.test", "rogue.crt", "rogue.key", NULL, true,
         TLS_PEER_UNTRUSTED, NULL},
        {"encrypt + leaf pin", TLS_CLIENT_ENCRYPT, "rogue-ca.crt", NULL,
         "upstream-chain.pem", "upstream.key", "upstream.pin", true,
         TLS_PEER_UNTRUSTED, NULL},
        {"encrypt + wrong pin", TLS_CLIENT_ENCRYPT, "ca.crt", NULL,
         "upstream-chain.pem", "upstream.key", "bad", false, TLS_PEER_NONE,
         "matches no pin_sha256"},
        {"encrypt + pin, rogue key", TLS_CLIENT_ENCRYPT, "ca.crt", NULL,
         "rogue.crt", "rogue.key", "upstream.pin", false, TLS_PEER_NONE,
         "matches no pin_sha256"},
        {"encrypt + CA pin does not count", TLS_CLIENT_ENCRYPT, "ca.crt", NULL,
         "upstream-chain.pem", "upstream.key", "inter.pin", false,
         TLS_PEER_NONE, "matches no pin_sha256"},
        {"verify + intermediate pin", TLS_CLIENT_VERIFY, "ca.crt",
         "upstream.example.test", "upstream-chain.pem", "upstream.key",
         "inter.pin", true, TLS_PEER_VERIFIED, NULL},
        {"verify + leaf pin", TLS_CLIENT_VERIFY, "ca.crt",
         "upstream.example.test", "upstream-chain.pem", "upstream.key",
         "upstream.pin", true, TLS_PEER_VERIFIED, NULL},
        {"verify + wrong pin", TLS_CLIENT_VERIFY, "ca.crt",
         "upstream.example.test", "upstream-chain.pem", "upstream.key", "bad",
         false, TLS_PEER_NONE, "matches no pin_sha256"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct t_verify_case *c = &cases[i];
        struct tls_cert_spec spec = {t_path(c->server_crt),
                                     t_path(c->server_key)};
        struct tls_server_opts so;
        struct tls_client_opts co;
        const char *pins[1];
        struct tls_ctx *sctx;
        struct tls_ctx *cctx;
        struct tls_err err;
        struct t_pair tp;

        memset(&so, 0, sizeof(so));
        so.certs = &spec;
        so.ncerts = 1;
        sctx = tls_server_ctx_new(&so, &err);
        if (sctx == NULL) {
            fail_msg("%s: server: %s", c->label, err.msg);
        }
        memset(&co, 0, sizeof(co));
        co.mode = c->mode;
        co.ca_file = t_path(c->ca);
        co.server_name = c->name;
        if (c->pin != NULL) {
            pins[0] = strcmp(c->pin, "bad") == 0 ? t_read_pin("server-ec.pin")
                                                 : t_read_pin(c->pin);
            co.pins = pins;
            co.npins = 1;
        }
        cctx = t_client_ctx_opts(&co);
        t_pair_new(&tp, cctx, sctx, NULL, 0);
        t_handshake(&tp);
        if ((tp.rc_c == TLS_OK) != c->ok) {
            fail_msg("%s: client %d (%s)", c->label, tp.rc_c,
                     tls_engine_reason(tp.c));
        }
        if (c->ok) {
            assert_int_equal(tp.rc_s, TLS_OK);
            if (tls_engine_peer_verify_result(tp.c) != c->trust) {
                fail_msg(
                    "%s: trust %s (%s)", c->label,
                    tls_peer_trust_name(tls_engine_peer_verify_result(tp.c)),
                    tls_engine_peer_verify_info(tp.c));
            }
        } else {
            assert_int_equal(tp.rc_c, TLS_ERR);
            /* the server hears about it: an alert, never success */
            assert_int_equal(tp.rc_s, TLS_ERR);
            if (strstr(tls_engine_reason(tp.c), c->reason) == NULL) {
                fail_msg("%s: reason \"%s\" lacks \"%s\"", c->label,
                         tls_engine_reason(tp.c), c->reason);
            }
        }
        t_pair_free(&tp);
        tls_ctx_unref(cctx);
        tls_ctx_unref(sctx);
    }
}

/* verify mode needs a name; the engine's name overrides the context's. */
static void
test_verify_client_name_per_engine(void **state)
{
    struct tls_cert_spec spec;
    struct tls_server_opts so;
    struct tls_engine_opts eo;
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct tls_err err;
    struct t_pair tp;

    (void)state;
    spec.cert_file = t_path("upstream-chain.pem");
    spec.key_file = t_path("upstream.key");
    memset(&so, 0, sizeof(so));
    so.certs = &spec;
    so.ncerts = 1;
    sctx = tls_server_ctx_new(&so, &err);
    assert_non_null(sctx);
    cctx = t_client_ctx(TLS_CLIENT_VERIFY, "ca.crt", NULL);
    assert_null(tls_engine_new(cctx, NULL, &err));
    assert_int_equal(err.code, TLS_E_INVAL);
    assert_non_null(strstr(err.msg, "server_name"));
    memset(&eo, 0, sizeof(eo));
    eo.server_name = "upstream.example.test";
    t_pair_new(&tp, cctx, sctx, &eo, 0);
    t_expect_handshake_ok(&tp);
    assert_int_equal(tls_engine_peer_verify_result(tp.c), TLS_PEER_VERIFIED);
    assert_string_equal(tls_engine_sni(tp.s), "upstream.example.test");
    t_pair_free(&tp);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* TLS 1.0 and 1.1 clients are refused by the server (min TLS 1.2); the
 * client side of the same refusal reads as a protocol_version alert. */
static void
test_verify_old_protocols_refused(void **state)
{
    static const char *const cbc[] = {"TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA",
                                      "TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA"};
    struct tls_ctx *sctx = t_server_ctx(NULL);
    int minor;

    (void)state;
    for (minor = TLS_VERSION_1_0; minor <= TLS_VERSION_1_1; minor++) {
        struct tls_client_opts o;
        struct tls_ctx *cctx;
        struct t_pair tp;

        memset(&o, 0, sizeof(o));
        o.mode = TLS_CLIENT_ENCRYPT;
        o.ca_file = t_path("ca.crt");
        o.min_version = (enum tls_version)minor;
        o.ciphersuites = cbc;
        o.nciphersuites = 2;
        cctx = t_client_ctx_opts(&o);
        /* test-only: cap the client at the old version (the context is not
         * used by any engine yet, so it may still change) */
        mbedtls_ssl_conf_max_version(&cctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                     minor);
        t_pair_new(&tp, cctx, sctx, NULL, 0);
        t_handshake(&tp);
        assert_int_equal(tp.rc_s, TLS_ERR);
        assert_int_equal(tp.rc_c, TLS_ERR);
        assert_non_null(strstr(tls_engine_reason(tp.c), "protocol_version"));
        t_pair_free(&tp);
        tls_ctx_unref(cctx);
    }
    tls_ctx_unref(sctx);
}

/* Only the configured suites are negotiated; with none in common the
 * handshake fails on both sides. */
static void
test_verify_suites(void **state)
{
    static const char *const chacha[] = {
        "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256"};
    static const char *const aes256[] = {
        "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384"};
    static const char *const cbc[] = {"TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA256"};
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_client_opts o;
    struct tls_ctx *cctx;
    struct t_pair tp;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.mode = TLS_CLIENT_ENCRYPT;
    o.ca_file = t_path("ca.crt");
    o.ciphersuites = chacha;
    o.nciphersuites = 1;
    cctx = t_client_ctx_opts(&o);
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    assert_string_equal(tls_engine_cipher(tp.s), chacha[0]);
    t_pair_free(&tp);
    tls_ctx_unref(cctx);

    o.ciphersuites = aes256;
    cctx = t_client_ctx_opts(&o);
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    assert_string_equal(tls_engine_cipher(tp.s), aes256[0]);
    t_pair_free(&tp);
    tls_ctx_unref(cctx);

    /* a CBC suite is not among the server's defaults */
    o.ciphersuites = cbc;
    cctx = t_client_ctx_opts(&o);
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_handshake(&tp);
    assert_int_equal(tp.rc_s, TLS_ERR);
    assert_int_equal(tp.rc_c, TLS_ERR);
    assert_non_null(strstr(tls_engine_reason(tp.s), "handshake: "));
    t_pair_free(&tp);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* Session tickets: a saved session resumes (abbreviated handshake, no
 * certificate), keeps its verify result, works only with its own context;
 * a server without tickets does a full handshake. */
static void
test_verify_resumption(void **state)
{
    struct t_srv_cfg no_tickets = {NULL, 0, true, false};
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *sctx2 = t_server_ctx(&no_tickets);
    struct tls_ctx *cctx =
        t_client_ctx(TLS_CLIENT_VERIFY, "ca.crt", "mx2.example.test");
    struct tls_ctx *other =
        t_client_ctx(TLS_CLIENT_VERIFY, "ca.crt", "mx2.example.test");
    struct tls_engine_opts eo;
    struct tls_session *sess;
    struct tls_err err;
    struct t_pair tp;
    size_t full;

    (void)state;
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    assert_false(tls_engine_is_resumed(tp.c));
    assert_false(tls_engine_is_resumed(tp.s));
    full = tp.s2c.moved;
    assert_null(tls_engine_session_save(tp.s));
    sess = tls_engine_session_save(tp.c);
    assert_non_null(sess);
    t_pair_free(&tp);

    memset(&eo, 0, sizeof(eo));
    eo.session = sess;
    t_pair_new(&tp, cctx, sctx, &eo, 0);
    t_expect_handshake_ok(&tp);
    assert_true(tls_engine_is_resumed(tp.c));
    assert_true(tls_engine_is_resumed(tp.s));
    assert_true(tp.s2c.moved < full / 2); /* no certificate sent */
    assert_int_equal(tls_engine_peer_verify_result(tp.c), TLS_PEER_VERIFIED);
    t_transfer(&tp, true, (const uint8_t *)"EHLO x\r\n", 8, 64, false);
    t_pair_free(&tp);

    /* a server generation without tickets: full handshake */
    t_pair_new(&tp, cctx, sctx2, &eo, 0);
    t_expect_handshake_ok(&tp);
    assert_false(tls_engine_is_resumed(tp.c));
    assert_false(tls_engine_is_resumed(tp.s));
    t_pair_free(&tp);

    /* another client context may not use it */
    assert_null(tls_engine_new(other, &eo, &err));
    assert_int_equal(err.code, TLS_E_INVAL);

    tls_session_free(sess);
    tls_session_free(NULL);
    tls_ctx_unref(other);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx2);
    tls_ctx_unref(sctx);
}

/* A generation outlives its last external reference while engines use
 * it (reload), and goes when the last engine does (ASan/valgrind check
 * the rest). */
static void
test_verify_generation_lifetime(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    struct tls_ctx *sctx2;
    struct t_pair tp;

    (void)state;
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    assert_ptr_equal(tls_ctx_ref(sctx), sctx);
    tls_ctx_unref(sctx);
    /* "reload": the listener drops the old generation mid-handshake */
    tls_ctx_unref(sctx);
    tls_ctx_unref(cctx);
    sctx2 = t_server_ctx(NULL);
    t_expect_handshake_ok(&tp);
    t_transfer(&tp, false, (const uint8_t *)"220 ok\r\n", 8, 64, false);
    t_pair_free(&tp);
    tls_ctx_unref(sctx2);
    tls_ctx_unref(NULL);
    tls_engine_free(NULL);
}

/* Client certificates: requested only with client_ca_file, verified,
 * never required. */
static void
test_verify_client_certificate(void **state)
{
    struct t_srv_cfg with_ca = {NULL, 0, false, true};
    struct tls_ctx *sctx = t_server_ctx(&with_ca);
    struct tls_client_opts o;
    struct tls_ctx *cctx;
    struct t_pair tp;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.mode = TLS_CLIENT_ENCRYPT;
    o.ca_file = t_path("ca.crt");
    o.cert_file = t_path("client.crt");
    o.key_file = t_path("client.key");
    cctx = t_client_ctx_opts(&o);
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    assert_int_equal(tls_engine_peer_verify_result(tp.s), TLS_PEER_VERIFIED);
    assert_non_null(strstr(tls_engine_peer_subject(tp.s),
                           "CN=postern-client.example.test"));
    t_pair_free(&tp);
    tls_ctx_unref(cctx);

    /* no client certificate: still fine, and recorded as none */
    cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, "ca.crt", NULL);
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    assert_int_equal(tls_engine_peer_verify_result(tp.s), TLS_PEER_NONE);
    assert_string_equal(tls_engine_peer_subject(tp.s), "");
    t_pair_free(&tp);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_sni_selects_certificate),
        cmocka_unit_test(test_verify_client_modes_and_pins),
        cmocka_unit_test(test_verify_client_name_per_engine),
        cmocka_unit_test(test_verify_old_protocols_refused),
        cmocka_unit_test(test_verify_suites),
        cmocka_unit_test(test_verify_resumption),
        cmocka_unit_test(test_verify_generation_lifetime),
        cmocka_unit_test(test_verify_client_certificate),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, t_group_setup, NULL);
}
