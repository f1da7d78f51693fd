/*
 * Unit tests for certs/tls_store.c, tls_server.c, tls_client.c and
 * tls_verify.c without handshakes: the checks `postern -t` runs
 * (unreadable, unparsable, mismatched, expired, not yet valid), context
 * option errors and their messages, DNS names and wildcards, pins, and
 * mode names.
 *
 * The certificates come from tests/certs/gen-certs.sh, in the directory
 * named by $POSTERN_TEST_CERTS (ctest sets it).
 */
#include <unistd.h>

#include "tests/unit/test_tls_pair.h"

static char t_tmp[1024];

static void
t_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
t_store_setup(void **state)
{
    int fd;

    if (t_group_setup(state) != 0) {
        return -1;
    }
    snprintf(t_tmp, sizeof(t_tmp), "/tmp/postern-tls-XXXXXX.pem");
    fd = mkstemps(t_tmp, 4);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    t_write_file(t_tmp, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                        "-----END CERTIFICATE-----\n");
    return 0;
}

static int
t_store_teardown(void **state)
{
    (void)state;
    unlink(t_tmp);
    return 0;
}

struct t_check_case {
    const char *label;
    const char *crt;
    const char *key;
    int code;
    const char *msg_file; /* the file the message must name */
    const char *msg_part; /* and a phrase it must contain */
};

/* tls_check_cert_key: one problem each, named with its file. */
static void
test_store_check_cert_key(void **state)
{
    const struct t_check_case cases[] = {
        {"good RSA", "server-rsa.crt", "server-rsa.key", 0, NULL, NULL},
        {"good ECDSA", "server-ec.crt", "server-ec.key", 0, NULL, NULL},
        {"good chain", "upstream-chain.pem", "upstream.key", 0, NULL, NULL},
        {"missing certificate", "nonexistent.crt", "server-rsa.key", TLS_E_FILE,
         "nonexistent.crt", "No such file"},
        {"missing key", "server-rsa.crt", "nonexistent.key", TLS_E_FILE,
         "nonexistent.key", "No such file"},
        {"key given as certificate", "server-rsa.key", "server-rsa.key",
         TLS_E_FILE, "server-rsa.key", "not a certificate file"},
        {"certificate given as key", "server-rsa.crt", "server-rsa.crt",
         TLS_E_FILE, "server-rsa.crt", "not a private key file"},
        {"garbage PEM", NULL, "server-rsa.key", TLS_E_FILE, "postern-tls-",
         "not a certificate file"},
        {"mismatched key", "server-rsa.crt", "mismatch.key", TLS_E_MISMATCH,
         "mismatch.key", "does not belong"},
        {"other type's key", "server-ec.crt", "server-rsa.key", TLS_E_MISMATCH,
         "server-rsa.key", "server-ec.crt"},
        {"expired", "expired.crt", "expired.key", TLS_E_EXPIRED, "expired.crt",
         "expired on 2021-01-01"},
        {"not yet valid", "notyet.crt", "notyet.key", TLS_E_NOTYET,
         "notyet.crt", "not valid before 2099-01-01"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct t_check_case *c = &cases[i];
        struct tls_cert_info info;
        struct tls_err err;
        int rc;

        memset(&err, 0x55, sizeof(err));
        rc = tls_check_cert_key(c->crt != NULL ? t_path(c->crt) : t_tmp,
                                t_path(c->key), 0, &info, &err);
        if (rc != c->code || err.code != c->code) {
            fail_msg("%s: rc %d code %d (%s), want %d", c->label, rc, err.code,
                     err.msg, c->code);
        }
        if (c->code == 0) {
            assert_string_equal(err.msg, "");
            assert_true(info.not_after > info.not_before);
            assert_non_null(strstr(info.subject, "CN="));
            assert_string_not_equal(info.first_name, "");
            continue;
        }
        if (strstr(err.msg, c->msg_file) == NULL ||
            strstr(err.msg, c->msg_part) == NULL) {
            fail_msg("%s: \"%s\" lacks \"%s\" or \"%s\"", c->label, err.msg,
                     c->msg_file, c->msg_part);
        }
    }
}

/* The dates in the info, and `now` taken from the caller. */
static void
test_store_check_dates(void **state)
{
    struct tls_cert_info info;
    struct tls_err err;

    (void)state;
    /* expired.crt: 2020-01-01 .. 2021-01-01 */
    assert_int_equal(tls_check_cert_key(t_path("expired.crt"),
                                        t_path("expired.key"), 0, &info, &err),
                     TLS_E_EXPIRED);
    assert_int_equal(info.not_before, 1577836800);
    assert_int_equal(info.not_after, 1609459200);
    assert_string_equal(info.first_name, "expired.example.test");
    assert_int_equal(tls_check_cert_key(t_path("expired.crt"),
                                        t_path("expired.key"), 1600000000,
                                        &info, &err),
                     0);
    assert_int_equal(tls_check_cert_key(t_path("expired.crt"),
                                        t_path("expired.key"), 1500000000, NULL,
                                        &err),
                     TLS_E_NOTYET);
    /* 2099-01-01 .. 2100-01-01 */
    assert_int_equal(tls_check_cert_key(t_path("notyet.crt"),
                                        t_path("notyet.key"), 4090000000, &info,
                                        NULL),
                     0);
    assert_int_equal(info.not_before, 4070908800);
    assert_int_equal(info.not_after, 4102444800);
}

static void
test_store_check_ca_file(void **state)
{
    struct tls_err err;

    (void)state;
    assert_int_equal(tls_check_ca_file(t_path("ca.crt"), &err), 0);
    assert_int_equal(tls_check_ca_file(t_path("nope.crt"), &err), TLS_E_FILE);
    assert_non_null(strstr(err.msg, "nope.crt"));
    assert_int_equal(tls_check_ca_file(t_path("ca.key"), &err), TLS_E_FILE);
    assert_non_null(strstr(err.msg, "ca.key"));
    assert_int_equal(tls_check_ca_file(NULL, &err), TLS_E_INVAL);
}

/* Server contexts refuse bad files and options, naming what is wrong. */
static void
test_store_server_ctx_errors(void **state)
{
    static const char *const bad_suite[] = {
        "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256", "TLS-NO-SUCH-SUITE"};
    struct tls_cert_spec good = {NULL, NULL};
    struct tls_cert_spec bad = {NULL, NULL};
    struct tls_cert_spec two[2];
    struct tls_server_opts o;
    struct tls_ctx *ctx;
    struct tls_err err;

    (void)state;
    good.cert_file = t_path("server-rsa.crt");
    good.key_file = t_path("server-rsa.key");
    memset(&o, 0, sizeof(o));
    assert_null(tls_server_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_INVAL);
    assert_null(tls_server_ctx_new(NULL, NULL));

    bad.cert_file = t_path("server-ec.crt");
    bad.key_file = t_path("mismatch.key");
    two[0] = good;
    two[1] = bad;
    o.certs = two;
    o.ncerts = 2;
    assert_null(tls_server_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_MISMATCH);
    assert_non_null(strstr(err.msg, "mismatch.key"));
    assert_non_null(strstr(err.msg, "server-ec.crt"));

    o.certs = &good;
    o.ncerts = 1;
    o.ciphersuites = bad_suite;
    o.nciphersuites = 2;
    assert_null(tls_server_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_INVAL);
    assert_non_null(strstr(err.msg, "TLS-NO-SUCH-SUITE"));
    o.nciphersuites = 0;
    o.ciphersuites = NULL;

    o.ticket_lifetime = TLS_MAX_TICKET_LIFETIME + 1;
    assert_null(tls_server_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_INVAL);
    o.ticket_lifetime = 0;

    o.client_ca_file = t_path("missing-ca.crt");
    assert_null(tls_server_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_FILE);
    assert_non_null(strstr(err.msg, "missing-ca.crt"));
    o.client_ca_file = NULL;

    /* expired certificates load (postern -t warns about them) */
    bad.cert_file = t_path("expired.crt");
    bad.key_file = t_path("expired.key");
    o.certs = &bad;
    ctx = tls_server_ctx_new(&o, &err);
    assert_non_null(ctx);
    assert_int_equal(err.code, 0);
    assert_int_equal(tls_ctx_role(ctx), TLS_ROLE_SERVER);
    assert_int_equal(tls_ctx_client_mode(ctx), TLS_CLIENT_NONE);
    tls_ctx_unref(ctx);
}

/* The SNI map: names from SAN (CN only without SAN), lower case; the
 * default set is certs[0] plus what covers its first name. */
static void
test_store_server_names(void **state)
{
    struct tls_cert_spec certs[3];
    struct tls_server_opts o;
    struct tls_ctx *ctx;
    struct tls_err err;

    (void)state;
    certs[0].cert_file = t_path("server-ec.crt");
    certs[0].key_file = t_path("server-ec.key");
    certs[1].cert_file = t_path("server-rsa.crt");
    certs[1].key_file = t_path("server-rsa.key");
    certs[2].cert_file = t_path("server-rsa-mx2.crt");
    certs[2].key_file = t_path("server-rsa-mx2.key");
    memset(&o, 0, sizeof(o));
    o.certs = certs;
    o.ncerts = 3;
    ctx = tls_server_ctx_new(&o, &err);
    assert_non_null(ctx);
    assert_int_equal(ctx->certs[0].nnames, 2);
    assert_string_equal(ctx->certs[0].names[0], "mx2.example.test");
    assert_string_equal(ctx->certs[0].names[1], "*.ec.example.test");
    assert_true(ctx->certs[0].in_default);
    assert_false(ctx->certs[1].in_default);
    assert_true(ctx->certs[2].in_default); /* covers mx2.example.test */
    tls_ctx_unref(ctx);
}

/* Client contexts: modes, names, pins, client certificates. */
static void
test_store_client_ctx_errors(void **state)
{
    const char *pins[2];
    struct tls_client_opts o;
    struct tls_ctx *ctx;
    struct tls_err err;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.mode = TLS_CLIENT_NONE;
    assert_null(tls_client_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_INVAL);
    assert_non_null(strstr(err.msg, "none"));
    o.mode = (enum tls_client_mode)42;
    assert_null(tls_client_ctx_new(&o, &err));
    assert_null(tls_client_ctx_new(NULL, &err));

    o.mode = TLS_CLIENT_VERIFY;
    o.ca_file = t_path("no-such-ca.crt");
    assert_null(tls_client_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_FILE);
    assert_non_null(strstr(err.msg, "no-such-ca.crt"));

    o.mode = TLS_CLIENT_MAY; /* an explicit ca_file must load in any mode */
    assert_null(tls_client_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_FILE);

    o.ca_file = t_path("ca.crt");
    o.server_name = "bad name with spaces";
    assert_null(tls_client_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_INVAL);
    o.server_name = "upstream.example.test";

    pins[0] = "L9lwd6m1b3B5uSjjLsAmbVeeCqjjiSDWfv5t54rThxs=";
    pins[1] = "dG9vIHNob3J0";
    o.pins = pins;
    o.npins = 2;
    assert_null(tls_client_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_INVAL);
    assert_non_null(strstr(err.msg, "dG9vIHNob3J0"));
    o.npins = 1;

    o.cert_file = t_path("client.crt");
    assert_null(tls_client_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_INVAL);
    o.key_file = t_path("server-ec.key");
    assert_null(tls_client_ctx_new(&o, &err));
    assert_int_equal(err.code, TLS_E_MISMATCH);
    o.key_file = t_path("client.key");

    o.min_version = TLS_VERSION_1_3;
    assert_null(tls_client_ctx_new(&o, &err)); /* not in a 2.28 build */
    assert_int_equal(err.code, TLS_E_INVAL);
    o.min_version = TLS_VERSION_DEFAULT;

    ctx = tls_client_ctx_new(&o, &err);
    assert_non_null(ctx);
    assert_int_equal(tls_ctx_role(ctx), TLS_ROLE_CLIENT);
    assert_int_equal(tls_ctx_client_mode(ctx), TLS_CLIENT_MAY);
    assert_int_equal(ctx->npins, 1);
    assert_true(ctx->has_own);
    tls_ctx_unref(ctx);

    /* may/encrypt without a CA file of their own: the default bundle */
    memset(&o, 0, sizeof(o));
    o.mode = TLS_CLIENT_ENCRYPT;
    ctx = tls_client_ctx_new(&o, &err);
    assert_non_null(ctx);
    assert_int_equal(err.code, 0);
    tls_ctx_unref(ctx);
}

struct t_name_case {
    const char *in;
    bool wild;
    const char *out; /* NULL: refused */
};

static void
test_store_name_normalize(void **state)
{
    static const struct t_name_case cases[] = {
        {"mx.example.com", false, "mx.example.com"},
        {"MX.Example.COM", false, "mx.example.com"},
        {"mx.example.com.", false, "mx.example.com"},
        {"*.example.com", true, "*.example.com"},
        {"*.example.com", false, NULL},
        {"a*.example.com", true, NULL},
        {"*", true, NULL},
        {"", false, NULL},
        {".", false, NULL},
        {"a..b", false, NULL},
        {".a", false, NULL},
        {"a b", false, NULL},
        {"a\tb", false, NULL},
        {"xn--bcher-kva.example", false, "xn--bcher-kva.example"},
        {"_dmarc.example", false, "_dmarc.example"},
        {"192.0.2.1", false, "192.0.2.1"},
    };
    char out[TLS_NAME_MAX + 1];
    char big[300];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct t_name_case *c = &cases[i];
        bool ok = tls_name_normalize((const uint8_t *)c->in, strlen(c->in),
                                     c->wild, out);

        if (ok != (c->out != NULL) || (ok && strcmp(out, c->out) != 0)) {
            fail_msg("\"%s\": %s \"%s\"", c->in, ok ? "gave" : "refused",
                     ok ? out : "");
        }
    }
    /* NUL inside, and the length limit */
    assert_false(tls_name_normalize((const uint8_t *)"a\0b", 3, false, out));
    memset(big, 'a', sizeof(big));
    assert_true(
        tls_name_normalize((const uint8_t *)big, TLS_NAME_MAX, false, out));
    assert_false(
        tls_name_normalize((const uint8_t *)big, TLS_NAME_MAX + 1, false, out));
}

struct t_match_case {
    const char *pattern;
    const char *name;
    int want;
};

static void
test_store_name_match(void **state)
{
    static const struct t_match_case cases[] = {
        {"mx.example.com", "mx.example.com", 2},
        {"mx.example.com", "mx.example.org", 0},
        {"*.example.com", "mx.example.com", 1},
        {"*.example.com", "example.com", 0},
        {"*.example.com", "a.b.example.com", 0},
        {"*.example.com", ".example.com", 0},
        {"*.example.com", "*.example.com", 2},
        {"*.example.com", "mxexample.com", 0},
        {"example.com", "mx.example.com", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (tls_name_match(cases[i].pattern, cases[i].name) != cases[i].want) {
            fail_msg("%s vs %s: want %d", cases[i].pattern, cases[i].name,
                     cases[i].want);
        }
    }
}

static void
test_store_pins(void **state)
{
    uint8_t pin[TLS_PIN_LEN];
    uint8_t pin2[TLS_PIN_LEN];
    mbedtls_x509_crt crt;
    FILE *f;
    char text[128];
    size_t n;

    (void)state;
    /* the pin gen-certs.sh computed with openssl equals ours */
    f = fopen(t_path("upstream.pin"), "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_int_equal(tls_pin_parse(text, pin), 0);
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse_file(&crt, t_path("upstream.crt")),
                     0);
    assert_int_equal(tls_pin_of_crt(&crt, pin2), 0);
    assert_memory_equal(pin, pin2, TLS_PIN_LEN);
    mbedtls_x509_crt_free(&crt);

    assert_int_equal(tls_pin_parse("sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NM"
                                   "pJWZG3hSuFU=",
                                   pin),
                     0);
    assert_int_equal(pin[0], 0xe3); /* SHA-256 of "" */
    assert_int_equal(tls_pin_parse("", pin), TLS_E_INVAL);
    assert_int_equal(tls_pin_parse("not base64!", pin), TLS_E_INVAL);
    assert_int_equal(tls_pin_parse("YWJj", pin), TLS_E_INVAL);
    assert_int_equal(tls_pin_parse("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hS"
                                   "uFU=AAAA",
                                   pin),
                     TLS_E_INVAL);
}

static void
test_store_mode_names(void **state)
{
    static const char *const names[] = {"none", "may", "encrypt", "verify"};
    enum tls_client_mode m;
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        assert_int_equal(tls_client_mode_parse(names[i], &m), 0);
        assert_int_equal(m, (enum tls_client_mode)i);
        assert_string_equal(tls_client_mode_name(m), names[i]);
    }
    assert_int_equal(tls_client_mode_parse("Verify", &m), TLS_E_INVAL);
    assert_int_equal(tls_client_mode_parse("", &m), TLS_E_INVAL);
    assert_string_equal(tls_client_mode_name((enum tls_client_mode)9),
                        "unknown");
}

/* The defaults: AEAD with ECDHE only, each known to this mbedTLS. */
static void
test_store_default_suites(void **state)
{
    const char *const *s = tls_default_ciphersuites();
    size_t n = 0;

    (void)state;
    for (; s[n] != NULL; n++) {
        assert_true(mbedtls_ssl_get_ciphersuite_id(s[n]) != 0);
        assert_non_null(strstr(s[n], "TLS-ECDHE-"));
        assert_true(strstr(s[n], "-GCM-") != NULL ||
                    strstr(s[n], "CHACHA20-POLY1305") != NULL);
    }
    assert_int_equal(n, 6);
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_check_cert_key),
        cmocka_unit_test(test_store_check_dates),
        cmocka_unit_test(test_store_check_ca_file),
        cmocka_unit_test(test_store_server_ctx_errors),
        cmocka_unit_test(test_store_server_names),
        cmocka_unit_test(test_store_client_ctx_errors),
        cmocka_unit_test(test_store_name_normalize),
        cmocka_unit_test(test_store_name_match),
        cmocka_unit_test(test_store_pins),
        cmocka_unit_test(test_store_mode_names),
        cmocka_unit_test(test_store_default_suites),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, t_store_setup, t_store_teardown);
}
