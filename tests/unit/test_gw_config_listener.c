/*
 * A listener's auth block (gateway/gw_config_auth.c): defaults, the keys,
 * the errors of postern -t with their positions, the TLS rule and its
 * warning, the users file loaded at load time, and postern -n; and its
 * PROXY protocol keys (gateway/gw_config_proxy.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/gw_config.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_users.h"

static char g_dir[64];
static char g_cfg[128];

static int
setup(void **state)
{
    char hash[256];
    char path[128];
    FILE *fp;

    (void)state;
    strcpy(g_dir, "/tmp/postern-cfgauth-XXXXXX");
    if (mkdtemp(g_dir) == NULL || !gw_users_hash_new("pw", hash, sizeof(hash))) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/users", g_dir);
    fp = fopen(path, "w");
    if (fp == NULL) {
        return -1;
    }
    fprintf(fp, "alice:%s\n", hash);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/bad-users", g_dir);
    fp = fopen(path, "w");
    if (fp == NULL) {
        return -1;
    }
    fprintf(fp, "alice\n");
    fclose(fp);
    snprintf(g_cfg, sizeof(g_cfg), "%s/postern.yaml", g_dir);
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd);
}

static struct gw_config *
load(const char *auth_block, struct gw_config_errors *errs)
{
    FILE *fp = fopen(g_cfg, "w");

    assert_non_null(fp);
    fprintf(fp, "listeners:\n"
                "  - address: 127.0.0.1:2587\n"
                "%s"
                "upstreams:\n"
                "  - addresses: 127.0.0.1:2526\n",
            auth_block);
    fclose(fp);
    return gw_config_load(g_cfg, NULL, 0, errs);
}

/* The first error ends with `want` (after "FILE"). */
static void
expect_error(const char *auth_block, const char *want)
{
    struct gw_config_errors errs;
    struct gw_config *cfg = load(auth_block, &errs);
    const char *got;

    assert_null(cfg);
    assert_true(errs.count >= 1);
    got = errs.msg[0] + strlen(g_cfg);
    if (strstr(got, want) == NULL) {
        fail_msg("want '%s' in '%s'", want, errs.msg[0]);
    }
}

static void
test_auth_absent(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg = load("", &errs);

    (void)state;
    assert_non_null(cfg);
    assert_false(cfg->listeners[0].auth.enabled);
    assert_null(cfg->listeners[0].auth.users);
    gw_config_unref(cfg);
}

static void
test_auth_plaintext_with_defaults(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg = load("    auth:\n"
                                 "      users: users\n"
                                 "      allow_plaintext: true\n",
                                 &errs);
    const struct gw_auth_cfg *a;

    (void)state;
    assert_non_null(cfg);
    a = &cfg->listeners[0].auth;
    assert_true(a->enabled);
    assert_true(a->allow_plaintext);
    assert_false(a->required);
    assert_int_equal(a->mechanisms, GW_SASL_MECHS_DEFAULT);
    assert_int_equal(a->max_failures, 3);
    assert_int_equal(a->failure_delay_ms, 1000);
    assert_int_equal(a->block_after, 10);
    assert_int_equal(a->block_time_ms, 15 * 60 * 1000);
    assert_non_null(a->users);
    assert_int_equal(gw_users_count(a->users), 1);
    assert_non_null(gw_users_hash(a->users, "alice", 5));
    /* relative to the config file's directory, stored absolute */
    assert_int_equal(strncmp(a->users_file, g_dir, strlen(g_dir)), 0);
    assert_int_equal(errs.nwarnings, 1);
    assert_non_null(strstr(errs.warning[0], ":3:5: warning: listeners.0.auth"
                                            ".allow_plaintext: AUTH is offered "
                                            "before TLS"));
    gw_config_unref(cfg);
}

/* A policy that can answer require_tls over a listener without TLS locks
 * those clients out: -t says so (a warning: the config stays valid). */
static void
test_require_tls_without_tls_warned(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg = load("policy:\n"
                                 "  rules:\n"
                                 "    - name: t\n"
                                 "      stage: connect\n"
                                 "      then: require_tls\n",
                                 &errs);

    (void)state;
    assert_non_null(cfg);
    assert_int_equal(errs.nwarnings, 1);
    assert_non_null(strstr(errs.warning[0], "listener listener0 offers no "
                                            "TLS"));
    gw_config_unref(cfg);
    /* without such a rule, nothing to say */
    cfg = load("policy:\n"
               "  rules:\n"
               "    - name: t\n"
               "      stage: connect\n"
               "      then: reject\n",
               &errs);
    assert_non_null(cfg);
    assert_int_equal(errs.nwarnings, 0);
    gw_config_unref(cfg);
}

static void
test_auth_keys(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg = load("    auth:\n"
                                 "      users: users\n"
                                 "      allow_plaintext: true\n"
                                 "      mechanisms: [login]\n"
                                 "      required: true\n"
                                 "      max_failures: 5\n"
                                 "      failure_delay: 0s\n"
                                 "      block_after: 0\n"
                                 "      block_time: 1h\n",
                                 &errs);
    const struct gw_auth_cfg *a;
    char *text = NULL;
    size_t len = 0;
    FILE *fp;

    (void)state;
    assert_non_null(cfg);
    a = &cfg->listeners[0].auth;
    assert_int_equal(a->mechanisms, GW_SASL_MECH_BIT(GW_SASL_LOGIN));
    assert_true(a->required);
    assert_int_equal(a->max_failures, 5);
    assert_int_equal(a->failure_delay_ms, 0);
    assert_int_equal(a->block_after, 0);
    assert_int_equal(a->block_time_ms, 3600 * 1000);
    fp = open_memstream(&text, &len);
    assert_non_null(fp);
    gw_config_print(cfg, fp);
    fclose(fp);
    assert_non_null(strstr(text, "    auth:\n      mode: local\n"
                                 "      users: \""));
    assert_non_null(strstr(text, "      mechanisms: [LOGIN]\n"
                                 "      required: true\n"));
    assert_non_null(strstr(text, "      max_failures: 5\n"));
    free(text);
    gw_config_unref(cfg);
}

static void
test_auth_relay(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg = load("    auth:\n"
                                 "      mode: relay\n"
                                 "      allow_plaintext: true\n",
                                 &errs);

    (void)state;
    assert_non_null(cfg);
    assert_true(cfg->listeners[0].auth.relay);
    assert_null(cfg->listeners[0].auth.users);
    gw_config_unref(cfg);
    expect_error("    auth:\n      mode: relay\n      users: users\n"
                 "      allow_plaintext: true\n",
                 ":5:7: listeners.0.auth.users: not with mode: relay");
    expect_error("    auth:\n      mode: remote\n      users: users\n"
                 "      allow_plaintext: true\n",
                 ":4:13: listeners.0.auth.mode: expected local or relay");
}

static void
test_auth_errors(void **state)
{
    (void)state;
    expect_error("    auth:\n      users: users\n",
                 ":3:5: listeners.0.auth: AUTH needs tls: starttls or "
                 "implicit");
    expect_error("    auth:\n      allow_plaintext: true\n",
                 ":4:7: listeners.0.auth: missing required key 'users'");
    expect_error("    auth: yes\n",
                 ":3:11: listeners.0.auth: expected a map");
    expect_error("    auth:\n      users: users\n      allow_plaintext: true\n"
                 "      mechanisms: [PLAIN, CRAM-MD5]\n",
                 ":6:27: listeners.0.auth.mechanisms.1: unknown mechanism "
                 "'CRAM-MD5'");
    expect_error("    auth:\n      users: users\n      allow_plaintext: true\n"
                 "      mechanisms: []\n",
                 "listeners.0.auth.mechanisms: expected a list of mechanisms");
    expect_error("    auth:\n      users: users\n      allow_plaintext: true\n"
                 "      max_failures: 0\n",
                 "listeners.0.auth.max_failures");
    expect_error("    auth:\n      users: users\n      allow_plaintext: true\n"
                 "      colour: blue\n",
                 ":6:7: unknown key 'colour' in listeners.0.auth");
    expect_error("    auth:\n      users: nope\n      allow_plaintext: true\n",
                 ":4:14: listeners.0.auth.users: ");
    expect_error("    auth:\n      users: bad-users\n"
                 "      allow_plaintext: true\n",
                 "bad-users: 1: expected user:hash");
}

static void
test_proxy_keys(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg = load("    proxy_protocol: true\n"
                                 "    proxy_trusted: [10.0.0.0/8, \"::1\", "
                                 "192.0.2.7]\n",
                                 &errs);
    const struct gw_listener_cfg *l;
    char *text = NULL;
    size_t len = 0;
    FILE *fp;

    (void)state;
    assert_non_null(cfg);
    l = &cfg->listeners[0];
    assert_true(l->proxy_protocol);
    assert_int_equal(l->proxy_trusted.n, 3);
    assert_int_equal(l->proxy_trusted.net[0].bits, 8);
    assert_int_equal(l->proxy_trusted.net[1].bits, 128);
    assert_int_equal(l->proxy_trusted.net[2].bits, 32);
    fp = open_memstream(&text, &len);
    assert_non_null(fp);
    gw_config_print(cfg, fp);
    fclose(fp);
    assert_non_null(strstr(text, "    proxy_protocol: true\n"
                                 "    proxy_trusted: [\"10.0.0.0/8\", "
                                 "\"::1\", \"192.0.2.7\"]\n"));
    free(text);
    gw_config_unref(cfg);
    /* a single network is a list of one */
    cfg = load("    proxy_protocol: true\n    proxy_trusted: 10.1.2.0/24\n",
               &errs);
    assert_non_null(cfg);
    assert_int_equal(cfg->listeners[0].proxy_trusted.n, 1);
    gw_config_unref(cfg);
}

static void
test_proxy_errors(void **state)
{
    (void)state;
    expect_error("    proxy_protocol: true\n",
                 ":3:21: listeners.0.proxy_protocol: needs proxy_trusted");
    expect_error("    proxy_trusted: [10.0.0.0/8]\n",
                 ":3:5: listeners.0.proxy_trusted: without proxy_protocol");
    expect_error("    proxy_protocol: true\n    proxy_trusted: [10.0.0.1/8]\n",
                 ":4:21: listeners.0.proxy_trusted.0: '10.0.0.1/8': the "
                 "address has bits set after the prefix length");
    expect_error("    proxy_protocol: true\n    proxy_trusted: [nope]\n",
                 "listeners.0.proxy_trusted.0: 'nope': not an IPv4 or IPv6 "
                 "address");
    expect_error("    proxy_protocol: true\n    proxy_trusted: []\n",
                 "listeners.0.proxy_trusted: expected 1 to 16 networks");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_absent),
        cmocka_unit_test(test_auth_plaintext_with_defaults),
        cmocka_unit_test(test_require_tls_without_tls_warned),
        cmocka_unit_test(test_auth_keys),
        cmocka_unit_test(test_auth_errors),
        cmocka_unit_test(test_auth_relay),
        cmocka_unit_test(test_proxy_keys),
        cmocka_unit_test(test_proxy_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
