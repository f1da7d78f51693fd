/*
 * Unit tests for the TLS keys of the configuration (gateway/gw_config_tls.c
 * and the walk around it): a listener's tls, require_tls and certificates,
 * an upstream's tls, ca_file, server_name and pin_sha256, the certificate
 * checks of postern -t (errors with positions; expired and not yet valid
 * are warnings), the contexts built at load, print -> load, quick mode's
 * --tls-cert, --tls-key and --upstream-tls, and allocation failures.
 *
 * Certificates come from $POSTERN_TEST_CERTS when it is set (ctest's
 * build-time set), else tests/certs/gen-certs.sh makes a throw-away set
 * (about a second). They are copied into a temporary directory, and the
 * configuration files are written there too, so that relative paths in
 * them resolve to the copies. In the tables, '@' stands for that
 * directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/tls_ctx.h"
#include "gateway/gw_alloc.h"
#include "gateway/gw_config.h"

#define T_NELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define T_TEXT_MAX 8192

#define T_LISTEN                                                               \
    "listeners:\n"                                                             \
    "  - address: 127.0.0.1:2525\n"
#define T_UP                                                                   \
    "upstreams:\n"                                                             \
    "  - addresses: 127.0.0.1:2526\n"
/* line 3 onwards: a pair for a starttls listener */
#define T_EC_PAIR                                                              \
    "    certificates:\n"                                                      \
    "      - cert: server-ec.crt\n"                                            \
    "        key: server-ec.key\n"
/* A well-formed pin that belongs to no key (pins are checked in the
 * handshake, not at load). */
#define T_PIN "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

/* The certificates the tests copy (gen-certs.sh's names). */
static const char *const test_cert_files[] = {
    "server-rsa.crt", "server-rsa.key", "server-ec.crt", "server-ec.key",
    "expired.crt",    "expired.key",    "notyet.crt",    "notyet.key",
    "mismatch.key",   "ca.crt",         "upstream.pin",
};

struct test_env {
    char dir[PATH_MAX]; /* temporary, holds the copies and the configs */
    char config[PATH_MAX + 16];
};

static struct test_env test_env;

struct test_case {
    const char *label;
    const char *yaml;
    const char *error;   /* NULL: loads; ":L:C: ..." follows the file name */
    const char *warning; /* NULL: no warning; the same form */
};

/* ---- helpers --------------------------------------------------------- */

/* dst = src with every '@' replaced by the temporary directory. */
static void
test_expand(char *dst, size_t cap, const char *src)
{
    size_t dlen = strlen(test_env.dir);
    size_t o = 0;

    for (; *src != '\0'; src++) {
        if (*src == '@') {
            assert_true(o + dlen < cap);
            memcpy(dst + o, test_env.dir, dlen);
            o += dlen;
        } else {
            assert_true(o + 1 < cap);
            dst[o++] = *src;
        }
    }
    dst[o] = '\0';
}

static void
test_write(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

static void
test_copy(const char *from_dir, const char *name)
{
    char from[PATH_MAX + 64];
    char to[PATH_MAX + 64];
    char buf[4096];
    FILE *in;
    FILE *out;
    size_t n;

    assert_true(snprintf(from, sizeof(from), "%s/%s", from_dir, name) <
                (int)sizeof(from));
    assert_true(snprintf(to, sizeof(to), "%s/%s", test_env.dir, name) <
                (int)sizeof(to));
    in = fopen(from, "rb");
    if (in == NULL) {
        print_error("cannot open %s\n", from);
    }
    assert_non_null(in);
    out = fopen(to, "wb");
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        assert_int_equal(fwrite(buf, 1, n, out), n);
    }
    assert_int_equal(fclose(in), 0);
    assert_int_equal(fclose(out), 0);
}

/* Writes yaml (expanded) to the temporary directory and loads it. */
static struct gw_config *
test_load(const char *yaml, const char *const *ov, size_t nov,
          struct gw_config_errors *errs)
{
    char text[T_TEXT_MAX];

    test_expand(text, sizeof(text), yaml);
    test_write(test_env.config, text);
    return gw_config_load(test_env.config, ov, nov, errs);
}

static void
test_dump(const struct gw_config_errors *errs)
{
    size_t i;

    for (i = 0; i < errs->count; i++) {
        print_error("    %s\n", errs->msg[i]);
    }
    for (i = 0; i < errs->nwarnings; i++) {
        print_error("    %s\n", errs->warning[i]);
    }
}

/* Does one of msgs match? An expectation starting with ':' must follow
 * `path` exactly ("FILE:L:C: ..."), anything else is a substring; '@'
 * stands for the temporary directory. */
static bool
test_match(const char (*msgs)[320], size_t n, const char *path,
           const char *expect)
{
    char want[1024];
    size_t plen = strlen(path);
    size_t i;

    test_expand(want, sizeof(want), expect);
    for (i = 0; i < n; i++) {
        if (want[0] == ':') {
            if (strncmp(msgs[i], path, plen) == 0 &&
                strncmp(msgs[i] + plen, want, strlen(want)) == 0) {
                return true;
            }
        } else if (strstr(msgs[i], want) != NULL) {
            return true;
        }
    }
    return false;
}

static bool
test_has_error(const struct gw_config_errors *errs, const char *path,
               const char *expect)
{
    return test_match((const char(*)[320])errs->msg, errs->count, path, expect);
}

static bool
test_has_warning(const struct gw_config_errors *errs, const char *path,
                 const char *expect)
{
    return test_match((const char(*)[320])errs->warning, errs->nwarnings, path,
                      expect);
}

static bool
test_run_case(const struct test_case *c)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    bool ok = true;

    memset(&errs, 0, sizeof(errs));
    cfg = test_load(c->yaml, NULL, 0, &errs);
    if (c->error == NULL && cfg == NULL) {
        print_error("[%s] expected to load, got:\n", c->label);
        ok = false;
    } else if (c->error != NULL && cfg != NULL) {
        print_error("[%s] loaded, expected \"%s\"\n", c->label, c->error);
        ok = false;
    } else if (c->error != NULL &&
               !test_has_error(&errs, test_env.config, c->error)) {
        print_error("[%s] expected \"%s\", got:\n", c->label, c->error);
        ok = false;
    } else if (c->warning == NULL && errs.nwarnings > 0) {
        print_error("[%s] expected no warning, got:\n", c->label);
        ok = false;
    } else if (c->warning != NULL &&
               !test_has_warning(&errs, test_env.config, c->warning)) {
        print_error("[%s] expected warning \"%s\", got:\n", c->label,
                    c->warning);
        ok = false;
    }
    if (!ok) {
        test_dump(&errs);
    }
    gw_config_unref(cfg);
    return ok;
}

static void
test_run_cases(const struct test_case *cases, size_t n)
{
    size_t i;
    bool ok = true;

    for (i = 0; i < n; i++) {
        ok = test_run_case(&cases[i]) && ok;
    }
    assert_true(ok);
}

/* The struct, field by field, with the TLS contexts compared only by
 * whether they were built (pointers differ between loads). */
static void
test_config_equal(const struct gw_config *a, const struct gw_config *b)
{
    const struct gw_listener_cfg *l;
    const struct gw_listener_cfg *m;
    const struct gw_upstream_cfg *u;
    const struct gw_upstream_cfg *v;
    size_t i;
    size_t j;

    assert_string_equal(a->hostname, b->hostname);
    assert_int_equal(a->received_header, b->received_header);
    assert_int_equal(a->disable_vrfy, b->disable_vrfy);
    assert_memory_equal(&a->limits, &b->limits, sizeof(a->limits));
    assert_memory_equal(&a->timeouts, &b->timeouts, sizeof(a->timeouts));
    assert_int_equal(a->nlisteners, b->nlisteners);
    for (i = 0; i < a->nlisteners; i++) {
        l = &a->listeners[i];
        m = &b->listeners[i];
        assert_string_equal(l->name, m->name);
        assert_string_equal(l->addr.text, m->addr.text);
        assert_int_equal(l->upstream, m->upstream);
        assert_int_equal(l->tls, m->tls);
        assert_int_equal(l->require_tls, m->require_tls);
        assert_int_equal(l->ncerts, m->ncerts);
        for (j = 0; j < l->ncerts; j++) {
            assert_string_equal(l->cert_file[j], m->cert_file[j]);
            assert_string_equal(l->key_file[j], m->key_file[j]);
        }
        assert_int_equal(l->tls_ctx == NULL, m->tls_ctx == NULL);
    }
    assert_int_equal(a->nupstreams, b->nupstreams);
    for (i = 0; i < a->nupstreams; i++) {
        u = &a->upstreams[i];
        v = &b->upstreams[i];
        assert_string_equal(u->name, v->name);
        assert_int_equal(u->naddrs, v->naddrs);
        for (j = 0; j < u->naddrs; j++) {
            assert_string_equal(u->addrs[j].text, v->addrs[j].text);
        }
        assert_string_equal(u->helo_name, v->helo_name);
        assert_int_equal(u->connect, v->connect);
        assert_int_equal(u->tls, v->tls);
        assert_string_equal(u->ca_file, v->ca_file);
        assert_string_equal(u->server_name, v->server_name);
        assert_int_equal(u->npins, v->npins);
        for (j = 0; j < u->npins; j++) {
            assert_string_equal(u->pins[j], v->pins[j]);
        }
        assert_int_equal(u->tls_ctx == NULL, v->tls_ctx == NULL);
    }
}

/* print(cfg) -> load -> the same struct; returns the printed text. */
static char *
test_round_trip(const struct gw_config *cfg)
{
    struct gw_config_errors errs;
    struct gw_config *again;
    char *text = NULL;
    size_t len = 0;
    FILE *mem;

    mem = open_memstream(&text, &len);
    assert_non_null(mem);
    gw_config_print(cfg, mem);
    assert_int_equal(fclose(mem), 0);
    test_write(test_env.config, text);
    again = gw_config_load(test_env.config, NULL, 0, &errs);
    if (again == NULL) {
        print_error("printed config does not load:\n%s\n", text);
        test_dump(&errs);
    }
    assert_non_null(again);
    test_config_equal(cfg, again);
    gw_config_unref(again);
    return text;
}

static void
test_path(char *dst, size_t cap, const char *name)
{
    assert_true(snprintf(dst, cap, "%s/%s", test_env.dir, name) < (int)cap);
}

/* ---- set-up ---------------------------------------------------------- */

static int
test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static int
test_setup(void **state)
{
    static const char self[] = "tests/unit/test_gw_config_tls.c";
    const char *file = __FILE__;
    const char *certs = getenv("POSTERN_TEST_CERTS");
    char stamp[PATH_MAX + 32];
    char cmd[2 * PATH_MAX];
    size_t root_len;
    size_t i;

    (void)state;
    memset(&test_env, 0, sizeof(test_env));
    (void)snprintf(test_env.dir, sizeof(test_env.dir), "%s",
                   "/tmp/test_gw_config_tls_XXXXXX");
    if (mkdtemp(test_env.dir) == NULL) {
        return -1;
    }
    (void)snprintf(test_env.config, sizeof(test_env.config), "%s/case.yaml",
                   test_env.dir);
    if (certs != NULL) {
        (void)snprintf(stamp, sizeof(stamp), "%s/generated.stamp", certs);
    }
    if (certs != NULL && access(stamp, R_OK) == 0) {
        for (i = 0; i < T_NELEMS(test_cert_files); i++) {
            test_copy(certs, test_cert_files[i]);
        }
    } else {
        /* the script beside the sources: __FILE__ is absolute in CMake */
        root_len = strlen(file) - (sizeof(self) - 1);
        if (strlen(file) < sizeof(self) || strcmp(file + root_len, self) != 0 ||
            snprintf(cmd, sizeof(cmd), "sh '%.*stests/certs/gen-certs.sh' '%s'",
                     (int)root_len, file, test_env.dir) >= (int)sizeof(cmd) ||
            system(cmd) != 0) {
            fprintf(stderr, "cannot make test certificates (%s)\n", cmd);
            return -1;
        }
    }
    (void)snprintf(stamp, sizeof(stamp), "%s/garbage.crt", test_env.dir);
    test_write(stamp, "this is not a certificate\n");
    return 0;
}

static int
test_teardown(void **state)
{
    (void)state;
    return nftw(test_env.dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- tables ---------------------------------------------------------- */

static const struct test_case test_listener_cases[] = {
    {"starttls, one pair", T_LISTEN "    tls: starttls\n" T_EC_PAIR T_UP, NULL,
     NULL},
    {"implicit, rsa + ec, require_tls",
     T_LISTEN "    tls: implicit\n"
              "    require_tls: yes\n"
              "    certificates:\n"
              "      - {cert: server-rsa.crt, key: server-rsa.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n" T_UP,
     NULL, NULL},
    {"absolute paths",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: \"@/server-ec.crt\"\n"
              "        key: '@/server-ec.key'\n" T_UP,
     NULL, NULL},
    {"tls none, explicitly", T_LISTEN "    tls: none\n" T_UP, NULL, NULL},
    {"require_tls false without tls", T_LISTEN "    require_tls: false\n" T_UP,
     NULL, NULL},
    {"require_tls without tls", T_LISTEN "    require_tls: true\n" T_UP,
     ":3:18: listeners.0.require_tls: require_tls needs tls: starttls or "
     "implicit",
     NULL},
    {"certificates without tls", T_LISTEN T_EC_PAIR T_UP,
     ":3:5: listeners.0.certificates: certificates without tls (set tls: "
     "starttls or implicit)",
     NULL},
    {"tls without certificates", T_LISTEN "    tls: implicit\n" T_UP,
     ":3:10: listeners.0: tls: implicit needs certificates: a list of "
     "{cert: FILE, key: FILE}",
     NULL},
    {"bad tls word", T_LISTEN "    tls: yes\n" T_UP,
     ":3:10: listeners.0.tls: expected one of none, starttls, implicit, got "
     "'yes'",
     NULL},
    {"bad require_tls",
     T_LISTEN "    tls: starttls\n"
              "    require_tls: always\n" T_EC_PAIR T_UP,
     ":4:18: listeners.0.require_tls: expected true or false", NULL},
    {"unreadable certificate",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: nope.crt\n"
              "        key: server-ec.key\n" T_UP,
     ":5:9: listeners.0.certificates.0: @/nope.crt: cannot open certificate "
     "file: No such file or directory",
     NULL},
    {"unreadable key, second pair",
     T_LISTEN "    tls: starttls\n" T_EC_PAIR "      - cert: server-rsa.crt\n"
              "        key: nope.key\n" T_UP,
     ":7:9: listeners.0.certificates.1: @/nope.key: cannot open", NULL},
    {"not a certificate",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: garbage.crt\n"
              "        key: server-ec.key\n" T_UP,
     ":5:9: listeners.0.certificates.0: @/garbage.crt: not a certificate "
     "file",
     NULL},
    {"key file is a certificate",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: server-ec.crt\n"
              "        key: server-ec.crt\n" T_UP,
     ":5:9: listeners.0.certificates.0: @/server-ec.crt: not a private key "
     "file",
     NULL},
    {"mismatched key",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: server-rsa.crt\n"
              "        key: server-ec.key\n" T_UP,
     ":5:9: listeners.0.certificates.0: @/server-ec.key: the key does not "
     "belong to the certificate in @/server-rsa.crt",
     NULL},
    {"mismatch.key",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: server-ec.crt\n"
              "        key: mismatch.key\n" T_UP,
     ":5:9: listeners.0.certificates.0: @/mismatch.key: the key does not "
     "belong to the certificate in @/server-ec.crt",
     NULL},
    {"expired: a warning, not an error",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: expired.crt\n"
              "        key: expired.key\n" T_UP,
     NULL,
     ":5:9: warning: listeners.0.certificates.0: @/expired.crt: certificate "
     "0 (CN=expired.example.test, O=Postern tests) expired on 2021-01-01 "
     "00:00:00 UTC; it is offered anyway, and clients that verify will "
     "refuse it"},
    {"not yet valid: a warning",
     T_LISTEN "    tls: starttls\n" T_EC_PAIR "      - cert: notyet.crt\n"
              "        key: notyet.key\n" T_UP,
     NULL,
     ":7:9: warning: listeners.0.certificates.1: @/notyet.crt: certificate "
     "0 (CN=notyet.example.test, O=Postern tests) is not valid before "
     "2099-01-01 00:00:00 UTC"},
    {"expired and mismatched: the error wins",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: expired.crt\n"
              "        key: server-ec.key\n" T_UP,
     ":5:9: listeners.0.certificates.0: @/server-ec.key: the key does not "
     "belong",
     NULL},
    {"missing key",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: server-ec.crt\n" T_UP,
     ":5:9: listeners.0.certificates.0: missing required key 'key'", NULL},
    {"missing cert",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - key: server-ec.key\n" T_UP,
     ":5:9: listeners.0.certificates.0: missing required key 'cert'", NULL},
    {"unknown key in a pair",
     T_LISTEN "    tls: starttls\n" T_EC_PAIR "        chain: x.pem\n" T_UP,
     ":7:9: unknown key 'chain' in listeners.0.certificates.0", NULL},
    {"pair is not a map",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - server-ec.crt\n" T_UP,
     ":5:9: listeners.0.certificates.0: expected a map {cert: FILE, key: "
     "FILE}, got a single value",
     NULL},
    {"certificates is a map",
     T_LISTEN
     "    tls: starttls\n"
     "    certificates: {cert: server-ec.crt, key: server-ec.key}\n" T_UP,
     ":4:19: listeners.0.certificates: expected a list of 1 to 8 maps "
     "{cert: FILE, key: FILE}, got a map",
     NULL},
    {"empty certificates",
     T_LISTEN "    tls: starttls\n"
              "    certificates: []\n" T_UP,
     ":4:19: listeners.0.certificates: expected a list of 1 to 8 maps "
     "{cert: FILE, key: FILE}, got 0",
     NULL},
    {"nine certificates",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n"
              "      - {cert: server-ec.crt, key: server-ec.key}\n" T_UP,
     ":5:7: listeners.0.certificates: expected a list of 1 to 8 maps "
     "{cert: FILE, key: FILE}, got 9",
     NULL},
    {"path with a quote",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: 'a\"b.crt'\n"
              "        key: server-ec.key\n" T_UP,
     ":5:15: listeners.0.certificates.0.cert: expected a file path "
     "(printable ASCII, no '\"' or '\\'), got 'a\\x22b.crt'",
     NULL},
    {"empty path",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert: \"\"\n"
              "        key: server-ec.key\n" T_UP,
     ":5:15: listeners.0.certificates.0.cert: expected a file path", NULL},
    {"no value for cert",
     T_LISTEN "    tls: starttls\n"
              "    certificates:\n"
              "      - cert:\n"
              "        key: server-ec.key\n" T_UP,
     "listeners.0.certificates.0.cert: expected a file path, got no value",
     NULL},
    {"second listener's errors are its own",
     T_LISTEN "    tls: starttls\n" T_EC_PAIR "  - address: 127.0.0.1:2527\n"
              "    require_tls: on\n" T_UP,
     ":8:18: listeners.1.require_tls: require_tls needs tls", NULL},
};

static const struct test_case test_upstream_cases[] = {
    {"may with ca_file",
     T_LISTEN T_UP "    tls: may\n"
                   "    ca_file: ca.crt\n",
     NULL, NULL},
    {"encrypt with ca_file and a pin",
     T_LISTEN T_UP "    tls: encrypt\n"
                   "    ca_file: ca.crt\n"
                   "    pin_sha256: " T_PIN "\n",
     NULL, NULL},
    {"verify with server_name",
     T_LISTEN T_UP "    tls: verify\n"
                   "    ca_file: ca.crt\n"
                   "    server_name: upstream.example.test\n",
     NULL, NULL},
    {"verify: server_name from the first address",
     T_LISTEN "upstreams:\n"
              "  - addresses: [localhost:2526, 127.0.0.1:2527]\n"
              "    tls: verify\n"
              "    ca_file: ca.crt\n",
     NULL, NULL},
    {"verify without server_name",
     T_LISTEN T_UP "    tls: verify\n"
                   "    ca_file: ca.crt\n",
     ":5:10: upstreams.0: tls: verify needs server_name, the name the "
     "upstream's certificate must carry (or give the first address as a "
     "host name)",
     NULL},
    {"verify: an IP address is no name",
     T_LISTEN "upstreams:\n"
              "  - addresses: [127.0.0.1:2526, localhost:2527]\n"
              "    tls: verify\n"
              "    ca_file: ca.crt\n",
     ":5:10: upstreams.0: tls: verify needs server_name", NULL},
    {"bad tls word", T_LISTEN T_UP "    tls: starttls\n",
     ":5:10: upstreams.0.tls: expected one of none, may, encrypt, verify, "
     "got 'starttls'",
     NULL},
    {"ca_file without tls", T_LISTEN T_UP "    ca_file: ca.crt\n",
     ":5:5: upstreams.0.ca_file: ca_file without tls (set tls: may, "
     "encrypt or verify)",
     NULL},
    {"server_name without tls",
     T_LISTEN T_UP "    tls: none\n"
                   "    server_name: mx.example.org\n",
     ":6:5: upstreams.0.server_name: server_name without tls", NULL},
    {"pin_sha256 without tls", T_LISTEN T_UP "    pin_sha256: " T_PIN "\n",
     ":5:5: upstreams.0.pin_sha256: pin_sha256 without tls", NULL},
    {"unreadable ca_file",
     T_LISTEN T_UP "    tls: encrypt\n"
                   "    ca_file: nope.crt\n",
     ":6:14: upstreams.0.ca_file: @/nope.crt: cannot open", NULL},
    {"ca_file that is no certificate",
     T_LISTEN T_UP "    tls: verify\n"
                   "    server_name: upstream.example.test\n"
                   "    ca_file: garbage.crt\n",
     ":7:14: upstreams.0.ca_file: @/garbage.crt:", NULL},
    {"bad server_name",
     T_LISTEN T_UP "    tls: verify\n"
                   "    ca_file: ca.crt\n"
                   "    server_name: mx_1.example.org\n",
     ":7:18: upstreams.0.server_name: expected a domain name (letters, "
     "digits, '-' and '.', at most 255 characters), got 'mx_1.example.org'",
     NULL},
    {"pins: a list, curl's prefix",
     T_LISTEN T_UP "    tls: encrypt\n"
                   "    ca_file: ca.crt\n"
                   "    pin_sha256:\n"
                   "      - " T_PIN "\n"
                   "      - sha256//" T_PIN "\n",
     NULL, NULL},
    {"bad pin in a list",
     T_LISTEN T_UP "    tls: encrypt\n"
                   "    ca_file: ca.crt\n"
                   "    pin_sha256: [" T_PIN ", abc=]\n",
     ":7:64: upstreams.0.pin_sha256.1: expected the base64 SHA-256 of a "
     "public key (44 characters ending in '='), got 'abc='",
     NULL},
    {"pin with a bad character",
     T_LISTEN T_UP "    tls: encrypt\n"
                   "    ca_file: ca.crt\n"
                   "    pin_sha256: AAAAAAAAAAAAAAAAAAAAA-"
                   "AAAAAAAAAAAAAAAAAAAAA=\n",
     ":7:17: upstreams.0.pin_sha256: expected the base64", NULL},
    {"five pins",
     T_LISTEN T_UP "    tls: encrypt\n"
                   "    ca_file: ca.crt\n"
                   "    pin_sha256: [" T_PIN ", " T_PIN ", " T_PIN ", " T_PIN
                   ", " T_PIN "]\n",
     ":7:17: upstreams.0.pin_sha256: expected a pin or a list of 1 to 4 "
     "pins, got 5",
     NULL},
    {"pins as a map",
     T_LISTEN T_UP "    tls: encrypt\n"
                   "    ca_file: ca.crt\n"
                   "    pin_sha256: {a: b}\n",
     ":7:17: upstreams.0.pin_sha256: expected a pin or a list of 1 to 4 "
     "pins, got a map",
     NULL},
    {"no context from a block with errors",
     T_LISTEN T_UP "    tls: verify\n"
                   "    ca_file: nope.crt\n"
                   "    connect: never\n",
     ":7:14: upstreams.0.connect: expected one of", NULL},
};

static const struct test_case test_smtp_cases[] = {
    {"received_header off", "smtp:\n  received_header: off\n" T_LISTEN T_UP,
     NULL, NULL},
    {"received_header bad",
     "smtp:\n  received_header: sometimes\n" T_LISTEN T_UP,
     ":2:20: smtp.received_header: expected true or false", NULL},
};

/* ---- tests ----------------------------------------------------------- */

static void
test_listeners(void **state)
{
    (void)state;
    test_run_cases(test_listener_cases, T_NELEMS(test_listener_cases));
}

/* A misspelt tls word is one error, not also "certificates without tls"
 * or "ca_file without tls" about a mode nobody wrote. */
static void
test_tls_typo_is_one_error(void **state)
{
    struct gw_config_errors errs;

    (void)state;
    assert_null(test_load(T_LISTEN "    tls: startls\n" T_EC_PAIR T_UP
                                   "    tls: verfy\n"
                                   "    ca_file: ca.crt\n",
                          NULL, 0, &errs));
    if (errs.count != 2) {
        test_dump(&errs);
    }
    assert_int_equal(errs.count, 2);
    assert_true(test_has_error(&errs, test_env.config,
                               ":3:10: listeners.0.tls: expected one of"));
    assert_true(test_has_error(&errs, test_env.config,
                               ":9:10: upstreams.0.tls: expected one of"));
}

static void
test_upstreams(void **state)
{
    (void)state;
    test_run_cases(test_upstream_cases, T_NELEMS(test_upstream_cases));
}

static void
test_received_header(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;

    (void)state;
    test_run_cases(test_smtp_cases, T_NELEMS(test_smtp_cases));
    cfg = test_load(T_LISTEN T_UP, NULL, 0, &errs);
    assert_non_null(cfg);
    assert_true(cfg->received_header);
    gw_config_unref(cfg);
    cfg = test_load("smtp:\n  received_header: no\n" T_LISTEN T_UP, NULL, 0,
                    &errs);
    assert_non_null(cfg);
    assert_false(cfg->received_header);
    gw_config_unref(cfg);
}

static const char test_full_tls_yaml[] =
    "listeners:\n"
    "  - name: mx\n"
    "    address: 127.0.0.1:2525\n"
    "    tls: starttls\n"
    "    certificates:\n"
    "      - cert: server-rsa.crt\n"
    "        key: server-rsa.key\n"
    "      - cert: server-ec.crt\n"
    "        key: server-ec.key\n"
    "  - name: submissions\n"
    "    address: 127.0.0.1:2465\n"
    "    upstream: backup\n"
    "    tls: implicit\n"
    "    require_tls: true\n"
    "    certificates:\n"
    "      - {cert: server-ec.crt, key: server-ec.key}\n"
    "  - name: plain\n"
    "    address: 127.0.0.1:2526\n"
    "upstreams:\n"
    "  - name: primary\n"
    "    addresses: localhost:2527\n"
    "    tls: verify\n"
    "    ca_file: ca.crt\n"
    "    pin_sha256: [" T_PIN ", sha256//" T_PIN "]\n"
    "  - name: backup\n"
    "    addresses: 127.0.0.1:2528\n"
    "    tls: encrypt\n"
    "    ca_file: ca.crt\n"
    "    server_name: backup.example.test\n"
    "  - name: lan\n"
    "    addresses: 127.0.0.1:2529\n"
    "smtp:\n"
    "  received_header: false\n";

/* Every value lands in the struct, relative paths resolved against the
 * configuration's directory, and the contexts are built. */
static void
test_values_and_contexts(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    const struct gw_listener_cfg *l;
    const struct gw_upstream_cfg *u;
    char want[PATH_MAX + 64];

    (void)state;
    cfg = test_load(test_full_tls_yaml, NULL, 0, &errs);
    if (cfg == NULL) {
        test_dump(&errs);
    }
    assert_non_null(cfg);
    assert_int_equal(errs.nwarnings, 0);
    assert_false(cfg->received_header);
    l = &cfg->listeners[0];
    assert_int_equal(l->tls, GW_TLS_STARTTLS);
    assert_false(l->require_tls);
    assert_int_equal(l->ncerts, 2);
    test_path(want, sizeof(want), "server-rsa.crt");
    assert_string_equal(l->cert_file[0], want);
    test_path(want, sizeof(want), "server-rsa.key");
    assert_string_equal(l->key_file[0], want);
    test_path(want, sizeof(want), "server-ec.crt");
    assert_string_equal(l->cert_file[1], want);
    assert_non_null(l->tls_ctx);
    assert_int_equal(tls_ctx_role(l->tls_ctx), TLS_ROLE_SERVER);
    l = &cfg->listeners[1];
    assert_int_equal(l->tls, GW_TLS_IMPLICIT);
    assert_true(l->require_tls);
    assert_int_equal(l->ncerts, 1);
    assert_int_equal(l->upstream, 1);
    assert_non_null(l->tls_ctx);
    l = &cfg->listeners[2];
    assert_int_equal(l->tls, GW_TLS_NONE);
    assert_int_equal(l->ncerts, 0);
    assert_null(l->tls_ctx);

    u = &cfg->upstreams[0];
    assert_int_equal(u->tls, GW_UP_TLS_VERIFY);
    test_path(want, sizeof(want), "ca.crt");
    assert_string_equal(u->ca_file, want);
    assert_string_equal(u->server_name, "localhost"); /* from the address */
    assert_int_equal(u->npins, 2);
    assert_string_equal(u->pins[0], T_PIN);
    assert_string_equal(u->pins[1], "sha256//" T_PIN);
    assert_non_null(u->tls_ctx);
    assert_int_equal(tls_ctx_role(u->tls_ctx), TLS_ROLE_CLIENT);
    assert_int_equal(tls_ctx_client_mode(u->tls_ctx), TLS_CLIENT_VERIFY);
    u = &cfg->upstreams[1];
    assert_int_equal(u->tls, GW_UP_TLS_ENCRYPT);
    assert_string_equal(u->server_name, "backup.example.test");
    assert_int_equal(tls_ctx_client_mode(u->tls_ctx), TLS_CLIENT_ENCRYPT);
    u = &cfg->upstreams[2];
    assert_int_equal(u->tls, GW_UP_TLS_NONE);
    assert_string_equal(u->server_name, "");
    assert_null(u->tls_ctx);
    gw_config_unref(cfg);
}

/* A pin as openssl prints it (gen-certs.sh's upstream.pin) is accepted. */
static void
test_real_pin(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[PATH_MAX + 64];
    char pin[128];
    char yaml[1024];
    FILE *fp;

    (void)state;
    test_path(path, sizeof(path), "upstream.pin");
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(pin, sizeof(pin), fp));
    assert_int_equal(fclose(fp), 0);
    pin[strcspn(pin, "\r\n")] = '\0';
    assert_int_equal(strlen(pin), 44);
    assert_true(snprintf(yaml, sizeof(yaml),
                         T_LISTEN T_UP "    tls: encrypt\n"
                                       "    ca_file: ca.crt\n"
                                       "    pin_sha256: \"%s\"\n",
                         pin) < (int)sizeof(yaml));
    cfg = test_load(yaml, NULL, 0, &errs);
    assert_non_null(cfg);
    assert_string_equal(cfg->upstreams[0].pins[0], pin);
    gw_config_unref(cfg);
}

/* may/encrypt without ca_file use the system bundle, and warn when it
 * cannot be read (every upstream would then be logged as untrusted). */
static void
test_default_ca_file(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;

    (void)state;
    cfg = test_load(T_LISTEN T_UP "    tls: may\n", NULL, 0, &errs);
    assert_non_null(cfg);
    assert_string_equal(cfg->upstreams[0].ca_file, "");
    assert_non_null(cfg->upstreams[0].tls_ctx);
    if (access(TLS_DEF_CA_FILE, R_OK) == 0) {
        assert_int_equal(errs.nwarnings, 0);
    } else {
        assert_true(test_has_warning(&errs, test_env.config,
                                     ":5:10: warning: upstreams.0: "));
    }
    gw_config_unref(cfg);
}

/* Relative paths: from the file's directory when written in the file
 * (even when the file was named by a relative path), from the current
 * directory when they come from -o. */
static void
test_relative_paths(void **state)
{
    static const char yaml[] =
        T_LISTEN "    tls: starttls\n"
                 "    certificates:\n"
                 "      - cert: ../server-ec.crt\n"
                 "        key: nope.key\n" T_UP "    tls: may\n"
                 "    ca_file: ../ca.crt\n";
    static const char *const ov[] = {
        "listeners.0.certificates.0.key=server-ec.key"};
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char sub[PATH_MAX + 16];
    char rel[PATH_MAX + 32];
    char want[PATH_MAX + 64];
    char cwd[PATH_MAX];

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    test_path(sub, sizeof(sub), "sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_true(snprintf(rel, sizeof(rel), "%s/case.yaml", sub) <
                (int)sizeof(rel));
    test_write(rel, yaml);
    /* run from the temporary directory, naming the file relatively */
    assert_int_equal(chdir(test_env.dir), 0);
    cfg = gw_config_load("sub/case.yaml", ov, T_NELEMS(ov), &errs);
    if (cfg == NULL) {
        test_dump(&errs);
    }
    assert_non_null(cfg);
    assert_int_equal(chdir(cwd), 0);
    test_path(want, sizeof(want), "sub/../server-ec.crt");
    assert_string_equal(cfg->listeners[0].cert_file[0], want);
    test_path(want, sizeof(want), "server-ec.key");
    assert_string_equal(cfg->listeners[0].key_file[0], want);
    test_path(want, sizeof(want), "sub/../ca.crt");
    assert_string_equal(cfg->upstreams[0].ca_file, want);
    free(test_round_trip(cfg)); /* printed absolute: loads from anywhere */
    gw_config_unref(cfg);
    unlink(rel);
    assert_int_equal(rmdir(sub), 0);
}

static void
test_print_round_trip(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char want[PATH_MAX * 2 + 128];
    char *text;

    (void)state;
    cfg = test_load(test_full_tls_yaml, NULL, 0, &errs);
    assert_non_null(cfg);
    text = test_round_trip(cfg);
    test_expand(want, sizeof(want),
                "\n    upstream: \"primary\"\n"
                "    tls: starttls\n"
                "    require_tls: false\n"
                "    proxy_protocol: false\n"
                "    certificates:\n"
                "      - cert: \"@/server-rsa.crt\"\n"
                "        key: \"@/server-rsa.key\"\n"
                "      - cert: \"@/server-ec.crt\"\n"
                "        key: \"@/server-ec.key\"\n"
                "  - name: \"submissions\"\n");
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "\n    upstream: \"primary\"\n"
                                 "    tls: none\n"
                                 "    require_tls: false\n"
                                 "    proxy_protocol: false\n"
                                 "upstreams:\n"));
    test_expand(want, sizeof(want),
                "\n    tls: verify\n"
                "    ca_file: \"@/ca.crt\"\n"
                "    server_name: \"localhost\"\n"
                "    pin_sha256: [\"" T_PIN "\", \"sha256//" T_PIN "\"]\n");
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "\n    probe_interval: 5m\n"
                                 "    keep_idle: 0\n"
                                 "    xclient: false\n"
                                 "    xforward: false\n"
                                 "    proxy_protocol: none\n"
                                 "    trace_header: \"\"\n"
                                 "    tls: none\n"
                                 "smtp:\n"
                                 "  disable_vrfy: false\n"
                                 "  received_header: false\n"));
    free(text);
    gw_config_unref(cfg);
}

/* The config owns one reference to each context; a session keeps its own
 * with tls_ctx_ref and the context outlives the config. */
static void
test_context_references(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    struct tls_ctx *server;
    struct tls_ctx *client;

    (void)state;
    cfg = test_load(test_full_tls_yaml, NULL, 0, &errs);
    assert_non_null(cfg);
    server = tls_ctx_ref(cfg->listeners[0].tls_ctx);
    client = tls_ctx_ref(cfg->upstreams[0].tls_ctx);
    gw_config_unref(cfg);
    assert_int_equal(tls_ctx_role(server), TLS_ROLE_SERVER);
    assert_int_equal(tls_ctx_client_mode(client), TLS_CLIENT_VERIFY);
    tls_ctx_unref(server); /* the last references: ASan/valgrind check */
    tls_ctx_unref(client);
}

/* Warnings from -o and quick mode carry their origin; a failing config
 * still reports its warnings. */
static void
test_warning_origins(void **state)
{
    static const char *const ov[] = {
        "listeners.0.tls=starttls",
        "listeners.0.certificates.0.cert=@/expired.crt",
        "listeners.0.certificates.0.key=@/expired.key",
    };
    char ovx[T_NELEMS(ov)][PATH_MAX + 64];
    const char *ovp[T_NELEMS(ov)];
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char want[PATH_MAX * 2 + 256];
    size_t i;

    (void)state;
    for (i = 0; i < T_NELEMS(ov); i++) {
        test_expand(ovx[i], sizeof(ovx[i]), ov[i]);
        ovp[i] = ovx[i];
    }
    cfg = test_load(T_LISTEN T_UP, ovp, T_NELEMS(ovp), &errs);
    assert_non_null(cfg);
    assert_int_equal(errs.count, 0);
    assert_int_equal(errs.nwarnings, 1);
    test_expand(want, sizeof(want),
                "-o listeners.0.certificates.0.cert=@/expired.crt: warning: "
                "listeners.0.certificates.0: @/expired.crt: certificate 0 ");
    assert_memory_equal(errs.warning[0], want, strlen(want));
    gw_config_unref(cfg);

    /* an error elsewhere: NULL, with the warning still there */
    cfg = test_load("smtp:\n  disable_vrfy: maybe\n" T_LISTEN T_UP, ovp,
                    T_NELEMS(ovp), &errs);
    assert_null(cfg);
    assert_int_equal(errs.count, 1);
    assert_int_equal(errs.nwarnings, 1);
}

/* --tls-cert/--tls-key/--upstream-tls build the tree a file would give. */
static void
test_quick_mode(void **state)
{
    struct gw_config_source src;
    struct gw_config_errors errs;
    struct gw_config *cfg;
    struct gw_config *file_cfg;
    char cert[PATH_MAX + 64];
    char key[PATH_MAX + 64];
    char cwd[PATH_MAX];
    char want[PATH_MAX + 64];
    char *text;

    (void)state;
    test_path(cert, sizeof(cert), "server-ec.crt");
    test_path(key, sizeof(key), "server-ec.key");
    memset(&src, 0, sizeof(src));
    src.listen = "127.0.0.1:2525";
    src.upstream = "127.0.0.1:2526";
    src.tls_cert = cert;
    src.tls_key = key;
    src.upstream_tls = "encrypt";
    cfg = gw_config_from(&src, &errs);
    if (cfg == NULL) {
        test_dump(&errs);
    }
    assert_non_null(cfg);
    assert_string_equal(cfg->source, "<command line>");
    assert_int_equal(cfg->listeners[0].tls, GW_TLS_STARTTLS);
    assert_false(cfg->listeners[0].require_tls);
    assert_int_equal(cfg->listeners[0].ncerts, 1);
    assert_string_equal(cfg->listeners[0].cert_file[0], cert);
    assert_string_equal(cfg->listeners[0].key_file[0], key);
    assert_non_null(cfg->listeners[0].tls_ctx);
    assert_int_equal(cfg->upstreams[0].tls, GW_UP_TLS_ENCRYPT);
    assert_non_null(cfg->upstreams[0].tls_ctx);
    /* the same as the equivalent file */
    file_cfg = test_load(T_LISTEN "    tls: starttls\n" T_EC_PAIR T_UP
                                  "    tls: encrypt\n",
                         NULL, 0, &errs);
    assert_non_null(file_cfg);
    test_config_equal(cfg, file_cfg);
    gw_config_unref(file_cfg);
    text = test_round_trip(cfg);
    free(text);
    gw_config_unref(cfg);

    /* relative to the current directory; -o applies on top */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(test_env.dir), 0);
    src.tls_cert = "expired.crt";
    src.tls_key = "expired.key";
    src.upstream_tls = NULL;
    src.overrides = (const char *const[]){"listeners.0.tls=implicit"};
    src.noverrides = 1;
    cfg = gw_config_from(&src, &errs);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(cfg);
    assert_int_equal(cfg->listeners[0].tls, GW_TLS_IMPLICIT);
    test_path(want, sizeof(want), "expired.crt");
    assert_string_equal(cfg->listeners[0].cert_file[0], want);
    assert_int_equal(cfg->upstreams[0].tls, GW_UP_TLS_NONE);
    assert_null(cfg->upstreams[0].tls_ctx);
    assert_int_equal(errs.nwarnings, 1);
    assert_true(test_has_warning(&errs, "",
                                 "<command line>: warning: listeners.0."
                                 "certificates.0: @/expired.crt: "
                                 "certificate 0 (CN=expired.example.test"));
    gw_config_unref(cfg);
    src.overrides = NULL;
    src.noverrides = 0;

    /* verify takes the name from --upstream, or needs server_name */
    src.tls_cert = NULL;
    src.tls_key = NULL;
    src.upstream_tls = "verify";
    assert_null(gw_config_from(&src, &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.msg[0],
                        "<command line>: upstreams.0: tls: verify needs "
                        "server_name, the name the upstream's certificate "
                        "must carry (or give the first address as a host "
                        "name)");
    src.upstream = "localhost:2526";
    cfg = gw_config_from(&src, &errs);
    assert_non_null(cfg);
    assert_string_equal(cfg->upstreams[0].server_name, "localhost");
    assert_int_equal(tls_ctx_client_mode(cfg->upstreams[0].tls_ctx),
                     TLS_CLIENT_VERIFY);
    gw_config_unref(cfg);

    src.upstream_tls = "sometimes";
    assert_null(gw_config_from(&src, &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.msg[0],
                        "<command line>: upstreams.0.tls: expected one of "
                        "none, may, encrypt, verify, got 'sometimes'");

    /* both or neither */
    src.upstream_tls = NULL;
    src.tls_cert = cert;
    assert_null(gw_config_from(&src, &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.msg[0], "<command line>: --tls-cert and "
                                     "--tls-key go together");

    /* a bad file: the error names it, without a position */
    src.tls_key = "/nonexistent/key.pem";
    assert_null(gw_config_from(&src, &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.msg[0],
                        "<command line>: listeners.0.certificates.0: "
                        "/nonexistent/key.pem: cannot open key file: "
                        "No such file or directory");
}

/* Every allocation in turn fails: a config or NULL with "out of memory",
 * never a crash, a leak or a context left behind (certs/ allocates with
 * malloc, so its own failures are not injected here). */
static void
test_allocation_failures(void **state)
{
    static const char yaml[] =
        T_LISTEN "    tls: starttls\n" T_EC_PAIR T_UP "    tls: encrypt\n"
                 "    ca_file: ca.crt\n"
                 "    pin_sha256: " T_PIN "\n";
    char text[T_TEXT_MAX];
    struct gw_config_errors errs;
    struct gw_config *cfg = NULL;
    long n;

    (void)state;
    test_expand(text, sizeof(text), yaml);
    test_write(test_env.config, text);
    for (n = 0; n < 100000 && cfg == NULL; n++) {
        gw_alloc_fail_after(n);
        cfg = gw_config_load(test_env.config, NULL, 0, &errs);
        gw_alloc_fail_after(-1);
        if (cfg == NULL) {
            assert_true(test_has_error(&errs, "", "out of memory"));
        }
    }
    assert_non_null(cfg);
    assert_true(n > 10);
    assert_non_null(cfg->listeners[0].tls_ctx);
    assert_non_null(cfg->upstreams[0].tls_ctx);
    gw_config_unref(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_tls_typo_is_one_error),
        cmocka_unit_test(test_upstreams),
        cmocka_unit_test(test_received_header),
        cmocka_unit_test(test_values_and_contexts),
        cmocka_unit_test(test_real_pin),
        cmocka_unit_test(test_default_ca_file),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_print_round_trip),
        cmocka_unit_test(test_context_references),
        cmocka_unit_test(test_warning_origins),
        cmocka_unit_test(test_quick_mode),
        cmocka_unit_test(test_allocation_failures),
    };

    return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
