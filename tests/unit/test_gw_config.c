/*
 * Unit tests for gateway/gw_config.c: loading, validation (with positions),
 * overrides, quick mode, address parsing, printing (print -> load gives the
 * same config) and allocation failures. Most cases are table rows of
 * {label, YAML text, expected error or NULL}; the YAML goes to a temporary
 * file made with mkstemp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_caps.h"
#include "gateway/gw_config.h"
#include "policy/policy.h"

/* A valid listener and upstream (the demo layout of etc/postern.yaml),
 * appended after the lines under test so the positions in the expected
 * errors stay small. */
#define T_BASE                                                                 \
    "listeners:\n"                                                             \
    "  - address: 127.0.0.1:2525\n"                                            \
    "upstreams:\n"                                                             \
    "  - addresses: 127.0.0.1:2526\n"

#define T_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct test_case {
    const char *label;
    const char *yaml;
    const char *expect; /* NULL: loads; ":L:C: ..." follows the file name */
};

/* Every key set to something other than its default. */
static const char test_full_yaml[] = "hostname: mx.example.org\n"
                                     "smtp:\n"
                                     "  disable_vrfy: on\n"
                                     "  received_header: off\n"
                                     "body:\n"
                                     "  bare_newlines: reject\n"
                                     "log:\n"
                                     "  level: debug\n"
                                     "listeners:\n"
                                     "  - name: inbound\n"
                                     "    address: \"127.0.0.1:2525\"\n"
                                     "    upstream: backup\n"
                                     "  - address: \"[::1]:2587\"\n"
                                     "upstreams:\n"
                                     "  - name: primary\n"
                                     "    addresses:\n"
                                     "      - 127.0.0.1:2526\n"
                                     "      - \"[::1]:2527\"\n"
                                     "    helo_name: gw.example.org\n"
                                     "    connect: on_connect\n"
                                     "    connect_timeout: 10s\n"
                                     "    probe_interval: 0\n"
                                     "  - name: backup\n"
                                     "    addresses: 127.0.0.2\n"
                                     "    helo_name: \"[IPv6:::1]\"\n"
                                     "    connect_timeout: 1500ms\n"
                                     "    probe_interval: 90s\n"
                                     "limits:\n"
                                     "  command_line: 1024\n"
                                     "  reply_line: 2048\n"
                                     "  reply_lines: 200\n"
                                     "  recipients: 500\n"
                                     "  messages_per_session: 10\n"
                                     "  errors_per_session: 5\n"
                                     "  connections: 100\n"
                                     "  connections_per_client: 7\n"
                                     "  pipeline_depth: 32\n"
                                     "  buffer_size: 128K\n"
                                     "  message_size: 100000\n"
                                     "timeouts:\n"
                                     "  command: 60s\n"
                                     "  data_block: 2m\n"
                                     "  upstream_greeting: 45s\n"
                                     "  upstream_mail: 1h\n"
                                     "  upstream_rcpt: 1d\n"
                                     "  upstream_data: 3000ms\n"
                                     "  upstream_data_block: 1001ms\n"
                                     "  upstream_data_end: 7m\n"
                                     "  upstream_idle: 15s\n"
                                     "ehlo:\n"
                                     "  advertise: [size, PIPELINING]\n"
                                     "  pass:\n"
                                     "    - smtputf8\n"
                                     "  drop: \"X-*, it's\"\n"
                                     "  eightbit: reject\n";

/* ---- helpers --------------------------------------------------------- */

static void
test_write_file(const char *text, size_t len, char *path, size_t cap)
{
    int fd;
    FILE *fp;

    assert_true(snprintf(path, cap, "/tmp/test_gw_config_XXXXXX") < (int)cap);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    fp = fdopen(fd, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Loads yaml from a temporary file; the file's path goes to path. */
static struct gw_config *
test_load(const char *yaml, const char *const *ov, size_t nov,
          struct gw_config_errors *errs, char *path, size_t cap)
{
    struct gw_config *cfg;

    test_write_file(yaml, strlen(yaml), path, cap);
    cfg = gw_config_load(path, ov, nov, errs);
    unlink(path);
    return cfg;
}

static void
test_dump_errors(const struct gw_config_errors *errs)
{
    size_t i;

    for (i = 0; i < errs->count; i++) {
        print_error("    %s\n", errs->msg[i]);
    }
}

/* Does some error match? An expectation starting with ':' must follow the
 * file name exactly ("FILE:L:C: ..."), anything else is a substring. */
static bool
test_has_error(const struct gw_config_errors *errs, const char *path,
               const char *expect)
{
    size_t plen = strlen(path);
    size_t i;

    for (i = 0; i < errs->count; i++) {
        if (expect[0] == ':') {
            if (strncmp(errs->msg[i], path, plen) == 0 &&
                strncmp(errs->msg[i] + plen, expect, strlen(expect)) == 0) {
                return true;
            }
        } else if (strstr(errs->msg[i], expect) != NULL) {
            return true;
        }
    }
    return false;
}

static void
test_run_cases(const struct test_case *cases, size_t n)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];
    size_t i;
    bool ok = true;

    for (i = 0; i < n; i++) {
        cfg = test_load(cases[i].yaml, NULL, 0, &errs, path, sizeof(path));
        if (cases[i].expect == NULL && cfg == NULL) {
            print_error("[%s] expected to load, got:\n", cases[i].label);
            test_dump_errors(&errs);
            ok = false;
        } else if (cases[i].expect != NULL && cfg != NULL) {
            print_error("[%s] loaded, expected error \"%s\"\n", cases[i].label,
                        cases[i].expect);
            ok = false;
        } else if (cases[i].expect != NULL &&
                   !test_has_error(&errs, path, cases[i].expect)) {
            print_error("[%s] expected \"%s\", got:\n", cases[i].label,
                        cases[i].expect);
            test_dump_errors(&errs);
            ok = false;
        }
        gw_config_unref(cfg);
    }
    assert_true(ok);
}

static uint16_t
test_port(const struct gw_sockaddr *a)
{
    if (a->ss.ss_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    }
    return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

static void
test_addr_equal(const struct gw_sockaddr *a, const struct gw_sockaddr *b)
{
    assert_string_equal(a->text, b->text);
    assert_int_equal(a->len, b->len);
    assert_memory_equal(&a->ss, &b->ss, a->len);
}

static void
test_ehlo_equal(const struct gw_ehlo_cfg *a, const struct gw_ehlo_cfg *b)
{
    size_t i;

    assert_int_equal(a->advertise, b->advertise);
    assert_int_equal(a->pass, b->pass);
    assert_int_equal(a->eightbit, b->eightbit);
    assert_int_equal(a->ndrop, b->ndrop);
    for (i = 0; i < a->ndrop; i++) {
        assert_string_equal(a->drop[i], b->drop[i]);
    }
}

/* Everything but refs and source, and the TLS context pointers (only
 * whether each was built). */
static void
test_config_equal(const struct gw_config *a, const struct gw_config *b)
{
    size_t i;
    size_t j;

    assert_string_equal(a->hostname, b->hostname);
    assert_int_equal(a->disable_vrfy, b->disable_vrfy);
    assert_int_equal(a->received_header, b->received_header);
    assert_int_equal(a->bare_newlines, b->bare_newlines);
    assert_int_equal(a->log_level, b->log_level);
    assert_memory_equal(&a->limits, &b->limits, sizeof(a->limits));
    assert_memory_equal(&a->timeouts, &b->timeouts, sizeof(a->timeouts));
    test_ehlo_equal(&a->ehlo, &b->ehlo);
    assert_int_equal(a->nlisteners, b->nlisteners);
    for (i = 0; i < a->nlisteners; i++) {
        assert_string_equal(a->listeners[i].name, b->listeners[i].name);
        test_addr_equal(&a->listeners[i].addr, &b->listeners[i].addr);
        assert_int_equal(a->listeners[i].upstream, b->listeners[i].upstream);
        assert_int_equal(a->listeners[i].tls, b->listeners[i].tls);
        assert_int_equal(a->listeners[i].require_tls,
                         b->listeners[i].require_tls);
        assert_int_equal(a->listeners[i].ncerts, b->listeners[i].ncerts);
        for (j = 0; j < a->listeners[i].ncerts; j++) {
            assert_string_equal(a->listeners[i].cert_file[j],
                                b->listeners[i].cert_file[j]);
            assert_string_equal(a->listeners[i].key_file[j],
                                b->listeners[i].key_file[j]);
        }
        assert_int_equal(a->listeners[i].tls_ctx == NULL,
                         b->listeners[i].tls_ctx == NULL);
    }
    assert_int_equal(a->nupstreams, b->nupstreams);
    for (i = 0; i < a->nupstreams; i++) {
        const struct gw_upstream_cfg *u = &a->upstreams[i];
        const struct gw_upstream_cfg *v = &b->upstreams[i];

        assert_string_equal(u->name, v->name);
        assert_int_equal(u->naddrs, v->naddrs);
        for (j = 0; j < u->naddrs; j++) {
            test_addr_equal(&u->addrs[j], &v->addrs[j]);
        }
        assert_string_equal(u->helo_name, v->helo_name);
        assert_int_equal(u->connect, v->connect);
        assert_int_equal(u->connect_timeout_ms, v->connect_timeout_ms);
        assert_int_equal(u->probe_interval_ms, v->probe_interval_ms);
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
    char path[64];
    FILE *mem;

    mem = open_memstream(&text, &len);
    assert_non_null(mem);
    gw_config_print(cfg, mem);
    assert_int_equal(fclose(mem), 0);
    again = test_load(text, NULL, 0, &errs, path, sizeof(path));
    if (again == NULL) {
        print_error("printed config does not load:\n%s\n", text);
        test_dump_errors(&errs);
    }
    assert_non_null(again);
    test_config_equal(cfg, again);
    gw_config_unref(again);
    return text;
}

/* ---- tables ---------------------------------------------------------- */

static const struct test_case test_type_cases[] = {
    {"minimal", T_BASE, NULL},
    {"flow style",
     "{listeners: [{address: '127.0.0.1:25'}],"
     " upstreams: [{addresses: ['127.0.0.1:26']}]}\n",
     NULL},
    {"bool yes", "smtp:\n  disable_vrfy: yes\n" T_BASE, NULL},
    {"bool off", "smtp:\n  disable_vrfy: off\n" T_BASE, NULL},
    {"bool TRUE", "smtp:\n  disable_vrfy: TRUE\n" T_BASE, NULL},
    {"bool quoted", "smtp:\n  disable_vrfy: \"no\"\n" T_BASE, NULL},
    {"bool bad", "smtp:\n  disable_vrfy: maybe\n" T_BASE,
     ":2:17: smtp.disable_vrfy: expected true or false (or yes/no, on/off), "
     "got 'maybe'"},
    {"bool number", "smtp:\n  disable_vrfy: 1\n" T_BASE,
     ":2:17: smtp.disable_vrfy:"},
    {"bool list", "smtp:\n  disable_vrfy: [yes]\n" T_BASE,
     ":2:17: smtp.disable_vrfy: expected true or false (or yes/no, on/off), "
     "got a list"},
    {"enum ok", "body:\n  bare_newlines: reject\n" T_BASE, NULL},
    {"enum bad", "body:\n  bare_newlines: fix\n" T_BASE,
     ":2:18: body.bare_newlines: expected one of normalize, reject, "
     "got 'fix'"},
    {"log level", "log:\n  level: trace\n" T_BASE, NULL},
    {"log level bad", "log:\n  level: loud\n" T_BASE,
     ":2:10: log.level: expected one of error, warn, info, debug, trace"},
    {"int ok", "limits:\n  recipients: 100\n" T_BASE, NULL},
    {"int hex", "limits:\n  recipients: 0x100\n" T_BASE,
     ":2:15: limits.recipients: expected a plain decimal integer, "
     "got '0x100'"},
    {"int sign", "limits:\n  recipients: +500\n" T_BASE,
     "expected a plain decimal integer, got '+500'"},
    {"int negative", "limits:\n  recipients: -5\n" T_BASE,
     "expected a plain decimal integer, got '-5'"},
    {"int float", "limits:\n  recipients: 1.5e3\n" T_BASE,
     "expected a plain decimal integer"},
    {"int overflow", "limits:\n  recipients: 99999999999999999999999\n" T_BASE,
     "expected a plain decimal integer"},
    {"int below", "limits:\n  recipients: 99\n" T_BASE,
     ":2:15: limits.recipients: '99' is out of range "
     "(allowed 100 to 100000)"},
    {"int above", "limits:\n  command_line: 4097\n" T_BASE,
     ":2:17: limits.command_line: '4097' is out of range "
     "(allowed 512 to 4096)"},
    {"int zero", "limits:\n  pipeline_depth: 0\n" T_BASE,
     "(allowed 1 to 1024)"},
    {"int no value", "limits:\n  connections:\n" T_BASE,
     ":2:15: limits.connections: expected a plain decimal integer, "
     "got no value"},
    {"size units", "limits:\n  buffer_size: 4k\n  message_size: 1GB\n" T_BASE,
     NULL},
    {"size bytes", "limits:\n  message_size: 65536\n" T_BASE, NULL},
    {"size bad unit", "limits:\n  message_size: 50X\n" T_BASE,
     ":2:17: limits.message_size: expected a size such as 65536, 64K or "
     "50M, got '50X'"},
    {"size below", "limits:\n  buffer_size: 1K\n" T_BASE,
     ":2:16: limits.buffer_size: '1K' is out of range (allowed 4K to 1M)"},
    {"size above", "limits:\n  buffer_size: 1025K\n" T_BASE,
     "(allowed 4K to 1M)"},
    {"size rfc minimum", "limits:\n  message_size: 1000\n" T_BASE,
     "limits.message_size: '1000' is out of range (allowed 64K to"},
    {"size overflow", "limits:\n  message_size: 99999999T\n" T_BASE,
     "expected a size"},
    {"duration units",
     "timeouts:\n  command: 30s\n  data_block: 500ms\n  upstream_idle: 2h\n"
     "  upstream_data_end: 1d\n  upstream_mail: 300\n" T_BASE,
     NULL},
    {"duration bad", "timeouts:\n  command: 5x\n" T_BASE,
     ":2:12: timeouts.command: expected a duration such as 500ms, 30s, 5m, "
     "2h or 1d, got '5x'"},
    {"duration zero", "timeouts:\n  command: 0\n" T_BASE,
     ":2:12: timeouts.command: '0' is out of range (allowed 1ms to 1d)"},
    {"duration above", "timeouts:\n  upstream_idle: 25h\n" T_BASE,
     "timeouts.upstream_idle: '25h' is out of range (allowed 1ms to 1d)"},
    {"duration negative", "timeouts:\n  command: -1s\n" T_BASE,
     "expected a duration"},
    {"probe disabled",
     T_BASE "    probe_interval: 0\n    connect_timeout: 1ms\n", NULL},
    {"connect timeout zero", T_BASE "    connect_timeout: 0s\n",
     ":5:22: upstreams.0.connect_timeout: '0s' is out of range "
     "(allowed 1ms to 1d)"},
    {"connect mode", T_BASE "    connect: on_connect\n", NULL},
    {"connect mode bad", T_BASE "    connect: eager\n",
     ":5:14: upstreams.0.connect: expected one of on_mail, on_connect"},
    {"section empty", "smtp:\nlimits: ~\n" T_BASE, NULL},
    {"section scalar", "limits: 5\n" T_BASE,
     ":1:9: limits: expected a map of settings, got a single value"},
    {"section list", "timeouts: [1]\n" T_BASE,
     ":1:11: timeouts: expected a map of settings, got a list"},
    {"hostname ok", "hostname: mx-1.example.org\n" T_BASE, NULL},
    {"hostname underscore", "hostname: mx_1.example.org\n" T_BASE,
     ":1:11: hostname: expected a domain name"},
    {"hostname dash", "hostname: -mx.example.org\n" T_BASE,
     "hostname: expected a domain name"},
    {"hostname empty label", "hostname: mx..example.org\n" T_BASE,
     "hostname: expected a domain name"},
    {"hostname trailing dot", "hostname: example.org.\n" T_BASE,
     "hostname: expected a domain name"},
    {"hostname no value", "hostname:\n" T_BASE,
     ":1:10: hostname: expected a domain name, got no value"},
    {"helo literal v4", T_BASE "    helo_name: \"[192.0.2.1]\"\n", NULL},
    {"helo literal v6", T_BASE "    helo_name: \"[IPv6:2001:db8::1]\"\n", NULL},
    {"helo bad literal", T_BASE "    helo_name: \"[300.1.1.1]\"\n",
     ":5:16: upstreams.0.helo_name: expected a domain name or an address "
     "literal"},
    {"helo v6 untagged", T_BASE "    helo_name: \"[::1]\"\n",
     "upstreams.0.helo_name: expected a domain name"},
};

static const struct test_case test_structure_cases[] = {
    {"unknown top-level key", "foo: 1\n" T_BASE,
     ":1:1: unknown key 'foo' at the top level"},
    {"unknown nested key", "limits:\n  command_line: 512\n  foo: 1\n" T_BASE,
     ":3:3: unknown key 'foo' in limits"},
    {"unknown listener key", T_BASE "    port: 25\n",
     "unknown key 'port' in upstreams.0"},
    {"unknown key in listener",
     "listeners:\n  - address: 127.0.0.1:25\n    port: 25\n"
     "upstreams:\n  - addresses: 127.0.0.1:26\n",
     ":3:5: unknown key 'port' in listeners.0"},
    {"unknown key escaped", "\"fo\\to\": 1\n" T_BASE,
     ":1:1: unknown key 'fo\\x09o' at the top level"},
    {"duplicate key", "smtp:\n  disable_vrfy: yes\n  disable_vrfy: no\n" T_BASE,
     ":3:3: duplicate key 'disable_vrfy' (first at 2:3)"},
    {"top level list", "- a\n- b\n",
     ":1:1: the top level must be a map of settings, got a list"},
    {"top level scalar", "hello\n",
     ":1:1: the top level must be a map of settings, got a single value"},
    {"empty file", "", ": missing required key 'listeners'"},
    {"comments only", "# nothing\n", ": missing required key 'upstreams'"},
    {"missing listeners", "upstreams:\n  - addresses: 127.0.0.1:26\n",
     ": missing required key 'listeners'"},
    {"missing upstreams", "listeners:\n  - address: 127.0.0.1:25\n",
     ": missing required key 'upstreams'"},
    {"empty listeners",
     "listeners: []\nupstreams:\n  - addresses: 127.0.0.1:26\n",
     ":1:12: listeners: expected a list of at least one map, "
     "got an empty list"},
    {"listeners as map",
     "listeners:\n  address: 127.0.0.1:25\n"
     "upstreams:\n  - addresses: 127.0.0.1:26\n",
     ":2:3: listeners: expected a list of at least one map, got a map"},
    {"listener not a map",
     "listeners:\n  - 127.0.0.1:25\nupstreams:\n  - addresses: 127.0.0.1:26\n",
     ":2:5: listeners.0: expected a map, got a single value"},
    {"listener without address",
     "listeners:\n  - name: in\nupstreams:\n  - addresses: 127.0.0.1:26\n",
     ":2:5: listeners.0: missing required key 'address'"},
    {"upstream without addresses",
     "listeners:\n  - address: 127.0.0.1:25\nupstreams:\n  - name: up\n",
     ":4:5: upstreams.0: missing required key 'addresses'"},
    {"duplicate listener names",
     "listeners:\n  - name: in\n    address: 127.0.0.1:25\n"
     "  - name: in\n    address: 127.0.0.1:26\n"
     "upstreams:\n  - addresses: 127.0.0.1:27\n",
     ":4:11: listeners.1: duplicate listener name 'in' "
     "(also used by listeners.0)"},
    {"name clashes with a default",
     "listeners:\n  - address: 127.0.0.1:25\n"
     "upstreams:\n  - addresses: 127.0.0.1:26\n"
     "  - name: upstream0\n    addresses: 127.0.0.1:27\n",
     ":5:11: upstreams.1: duplicate upstream name 'upstream0'"},
    {"unknown upstream",
     "listeners:\n  - address: 127.0.0.1:25\n    upstream: nope\n"
     "upstreams:\n  - addresses: 127.0.0.1:26\n",
     ":3:15: listeners.0.upstream: no upstream is named 'nope'"},
    {"named upstream",
     "listeners:\n  - address: 127.0.0.1:25\n    upstream: b\n"
     "upstreams:\n  - name: a\n    addresses: 127.0.0.1:26\n"
     "  - name: b\n    addresses: 127.0.0.1:27\n",
     NULL},
    {"name with space",
     "listeners:\n  - name: my in\n    address: 127.0.0.1:25\n"
     "upstreams:\n  - addresses: 127.0.0.1:26\n",
     ":2:11: listeners.0.name: a name is 1 to 63 characters of "
     "A-Z a-z 0-9 . _ -, got 'my in'"},
    {"name too long",
     "listeners:\n  - name: "
     "a234567890123456789012345678901234567890123456789012345678901234\n"
     "    address: 127.0.0.1:25\n"
     "upstreams:\n  - addresses: 127.0.0.1:26\n",
     "listeners.0.name: a name is 1 to 63 characters"},
    {"eight addresses",
     "listeners:\n  - address: 127.0.0.1:25\nupstreams:\n  - addresses: ["
     "127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, 127.0.0.1:4, 127.0.0.1:5, "
     "127.0.0.1:6, 127.0.0.1:7, 127.0.0.1:8]\n",
     NULL},
    {"nine addresses",
     "listeners:\n  - address: 127.0.0.1:25\nupstreams:\n  - addresses: ["
     "127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, 127.0.0.1:4, 127.0.0.1:5, "
     "127.0.0.1:6, 127.0.0.1:7, 127.0.0.1:8, 127.0.0.1:9]\n",
     ":4:16: upstreams.0.addresses: expected 1 to 8 addresses, got 9"},
    {"no addresses",
     "listeners:\n  - address: 127.0.0.1:25\n"
     "upstreams:\n  - addresses: []\n",
     ":4:16: upstreams.0.addresses: expected 1 to 8 addresses, got 0"},
    {"addresses as map",
     "listeners:\n  - address: 127.0.0.1:25\n"
     "upstreams:\n  - addresses: {a: 1}\n",
     ":4:16: upstreams.0.addresses: expected an address or a list of "
     "addresses, got a map"},
    {"bad address in list",
     "listeners:\n  - address: 127.0.0.1:25\n"
     "upstreams:\n  - addresses:\n      - 127.0.0.1:26\n      - 127.0.0.1:0\n",
     ":6:9: upstreams.0.addresses.1: bad address '127.0.0.1:0': the port "
     "must be a number from 1 to 65535"},
    {"bad listener port",
     "listeners:\n  - address: 127.0.0.1:http\n"
     "upstreams:\n  - addresses: 127.0.0.1:26\n",
     ":2:14: listeners.0.address: bad address '127.0.0.1:http': the port "
     "must be a number from 1 to 65535"},
    {"ipv6 without brackets",
     "listeners:\n  - address: \"::1:25\"\n"
     "upstreams:\n  - addresses: 127.0.0.1:26\n",
     "an IPv6 address needs brackets"},
    {"YAML syntax error", "limits: [1, 2\nfoo: 1\n",
     ":2:4: YAML syntax error: did not find expected ',' or ']' "
     "(while parsing a flow sequence at 1:9)"},
    {"YAML tab", "smtp:\n\tvrfy: yes\n",
     ":2:1: YAML syntax error: found character that cannot start any token"},
    {"YAML bad indent", "smtp:\n  disable_vrfy: yes\n disable_vrfy: no\n",
     ":3:2: YAML syntax error:"},
    {"YAML bad UTF-8", "hostname: \xff\xfe\xfd\n",
     ": invalid input at byte 10: invalid leading UTF-8 octet"},
    {"YAML alias", "a: &x 1\nb: *x\n",
     ":2:4: YAML aliases (*name) are not supported"},
    {"YAML two documents", "a: 1\n---\nb: 2\n",
     ":2:1: only one YAML document is allowed"},
    {"YAML complex key", "? [a]\n: 1\n" T_BASE,
     ":1:3: a map key must be a plain name"},
    {"YAML NUL in value", "hostname: \"a\\0b\"\n" T_BASE,
     ":1:11: a value contains a NUL byte"},
    {"YAML document markers", "---\n" T_BASE "...\n", NULL},
};

/* The ehlo section: loads, or the first error and its position. */
#define T_X16 "[a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p"
#define T_P63 "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX*"
static const struct test_case test_ehlo_cases[] = {
    {"section empty", "ehlo:\n" T_BASE, NULL},
    {"section null", "ehlo: ~\n" T_BASE, NULL},
    {"section scalar", "ehlo: SIZE\n" T_BASE,
     ":1:7: ehlo: expected a map of settings, got a single value"},
    {"unknown key", "ehlo:\n  offer: [SIZE]\n" T_BASE,
     ":2:3: unknown key 'offer' in ehlo"},
    {"duplicate key", "ehlo:\n  pass: []\n  pass: [DSN]\n" T_BASE,
     ":3:3: duplicate key 'pass' (first at 2:3)"},
    /* advertise */
    {"advertise any case",
     "ehlo:\n  advertise: [Pipelining, size, 8bitmime, EnhancedStatusCodes,"
     " chunking, LIMITS]\n" T_BASE,
     NULL},
    {"advertise one", "ehlo:\n  advertise: SIZE\n" T_BASE, NULL},
    {"advertise words", "ehlo:\n  advertise: SIZE, CHUNKING LIMITS\n" T_BASE,
     NULL},
    {"advertise empty", "ehlo:\n  advertise: []\n" T_BASE, NULL},
    {"advertise empty string", "ehlo:\n  advertise: ''\n" T_BASE, NULL},
    {"advertise duplicates", "ehlo:\n  advertise: [SIZE, size, SIZE]\n" T_BASE,
     NULL},
    {"advertise DSN", "ehlo:\n  advertise: DSN\n" T_BASE,
     ":2:14: ehlo.advertise: 'DSN' goes in ehlo.pass: it is offered only "
     "when the upstream offers it"},
    {"advertise SMTPUTF8", "ehlo:\n  advertise: [SIZE, smtputf8]\n" T_BASE,
     ":2:21: ehlo.advertise.1: 'smtputf8' goes in ehlo.pass: it is offered "
     "only when the upstream offers it"},
    {"advertise BINARYMIME",
     "ehlo:\n  advertise:\n    - SIZE\n    - BINARYMIME\n" T_BASE,
     ":4:7: ehlo.advertise.1: 'BINARYMIME' goes in ehlo.pass: it is offered "
     "only when the upstream offers it"},
    {"advertise STARTTLS", "ehlo:\n  advertise: [STARTTLS]\n" T_BASE,
     ":2:15: ehlo.advertise.0: 'STARTTLS' is offered by the listener's TLS "
     "settings, not by ehlo.advertise"},
    {"advertise AUTH", "ehlo:\n  advertise: [auth]\n" T_BASE,
     ":2:15: ehlo.advertise.0: 'auth' is offered by the listener's TLS "
     "settings, not by ehlo.advertise"},
    {"advertise REQUIRETLS", "ehlo:\n  advertise: [SIZE, REQUIRETLS]\n" T_BASE,
     ":2:21: ehlo.advertise.1: 'REQUIRETLS' is offered by the listener's TLS "
     "settings, not by ehlo.advertise"},
    {"advertise XCLIENT", "ehlo:\n  advertise: [XCLIENT]\n" T_BASE,
     ":2:15: ehlo.advertise.0: Postern cannot honour 'XCLIENT' end to end, "
     "so it never offers it"},
    {"advertise XFORWARD", "ehlo:\n  advertise: [XFORWARD]\n" T_BASE,
     ":2:15: ehlo.advertise.0: Postern cannot honour 'XFORWARD' end to end, "
     "so it never offers it"},
    {"advertise X-FOO", "ehlo:\n  advertise: X-FOO\n" T_BASE,
     ":2:14: ehlo.advertise: Postern cannot honour 'X-FOO' end to end, so it "
     "never offers it"},
    {"advertise ETRN in words", "ehlo:\n  advertise: SIZE ETRN\n" T_BASE,
     ":2:14: ehlo.advertise: Postern cannot honour 'ETRN' end to end, so it "
     "never offers it"},
    {"advertise parameter", "ehlo:\n  advertise: [SIZE=1000]\n" T_BASE,
     ":2:15: ehlo.advertise.0: expected EHLO keywords (a letter or digit, "
     "then letters, digits and '-', at most 63 characters), got 'SIZE=1000'"},
    {"advertise leading dash", "ehlo:\n  advertise: [-SIZE]\n" T_BASE,
     ":2:15: ehlo.advertise.0: expected EHLO keywords"},
    {"advertise non-ASCII", "ehlo:\n  advertise: [\"SIZ\\u00c9\"]\n" T_BASE,
     ":2:15: ehlo.advertise.0: expected EHLO keywords (a letter or digit, "
     "then letters, digits and '-', at most 63 characters), "
     "got 'SIZ\\xc3\\x89'"},
    {"advertise no value", "ehlo:\n  advertise:\n  pass: []\n" T_BASE,
     ":2:13: ehlo.advertise: expected a list of EHLO keywords, got no value"},
    {"advertise map", "ehlo:\n  advertise: {SIZE: 1}\n" T_BASE,
     ":2:14: ehlo.advertise: expected a list of EHLO keywords, got a map"},
    {"advertise element null", "ehlo:\n  advertise: [SIZE, ~]\n" T_BASE,
     ":2:21: ehlo.advertise.1: expected an EHLO keyword, got no value"},
    {"advertise element list", "ehlo:\n  advertise: [[SIZE]]\n" T_BASE,
     ":2:15: ehlo.advertise.0: expected an EHLO keyword, got a list"},
    /* pass */
    {"pass any case", "ehlo:\n  pass: [dsn, SmtpUtf8, BINARYMIME]\n" T_BASE,
     NULL},
    {"pass empty", "ehlo:\n  pass: []\n" T_BASE, NULL},
    {"pass SIZE", "ehlo:\n  pass: SIZE\n" T_BASE,
     ":2:9: ehlo.pass: 'SIZE' goes in ehlo.advertise: Postern offers it "
     "itself, whatever the upstream offers"},
    {"pass CHUNKING", "ehlo:\n  pass: [DSN, CHUNKING]\n" T_BASE,
     ":2:15: ehlo.pass.1: 'CHUNKING' goes in ehlo.advertise: Postern offers "
     "it itself, whatever the upstream offers"},
    {"pass XCLIENT", "ehlo:\n  pass: [XCLIENT]\n" T_BASE,
     ":2:10: ehlo.pass.0: cannot pass 'XCLIENT' through: Postern rebuilds "
     "every command it relays and passes only extensions whose parameters "
     "it validates: DSN, SMTPUTF8, BINARYMIME"},
    {"pass STARTTLS", "ehlo:\n  pass:\n    - STARTTLS\n" T_BASE,
     ":3:7: ehlo.pass.0: cannot pass 'STARTTLS' through: Postern rebuilds "
     "every command it relays"},
    {"pass X-FOO", "ehlo:\n  pass: DSN X-FOO\n" T_BASE,
     ":2:9: ehlo.pass: cannot pass 'X-FOO' through:"},
    {"pass bad syntax", "ehlo:\n  pass: [DSN=1]\n" T_BASE,
     ":2:10: ehlo.pass.0: expected EHLO keywords"},
    {"pass map", "ehlo:\n  pass: {a: b}\n" T_BASE,
     ":2:9: ehlo.pass: expected a list of EHLO keywords, got a map"},
    /* drop */
    {"drop patterns",
     "ehlo:\n  drop: ['X-*', '[A-C]*', CHUNK?NG, 8bitmime, \"it's\"]\n" T_BASE,
     NULL},
    {"drop empty", "ehlo:\n  drop: []\n" T_BASE, NULL},
    {"drop sixteen", "ehlo:\n  drop: " T_X16 "]\n" T_BASE, NULL},
    {"drop seventeen", "ehlo:\n  drop: " T_X16 ", q]\n" T_BASE,
     ":2:9: ehlo.drop: expected at most 16 patterns, got 17"},
    {"drop seventeen words",
     "ehlo:\n  drop: [a b c d e f g h, 'i,j,k,l,m,n,o,p', q]\n" T_BASE,
     ":2:9: ehlo.drop: expected at most 16 patterns, got 17"},
    {"drop 63 characters", "ehlo:\n  drop: " T_P63 "\n" T_BASE, NULL},
    {"drop 64 characters", "ehlo:\n  drop: [" T_P63 "X]\n" T_BASE,
     ":2:10: ehlo.drop.0: a pattern is 1 to 63 printable ASCII characters "
     "without spaces, got 'XXXX"},
    {"drop control byte", "ehlo:\n  drop: [\"X\\x01\"]\n" T_BASE,
     ":2:10: ehlo.drop.0: a pattern is 1 to 63 printable ASCII characters "
     "without spaces, got 'X\\x01'"},
    {"drop non-ASCII", "ehlo:\n  drop: \"\\u00e9*\"\n" T_BASE,
     ":2:9: ehlo.drop: a pattern is 1 to 63 printable ASCII characters "
     "without spaces, got '\\xc3\\xa9*'"},
    {"drop no value", "ehlo:\n  drop: ~\n" T_BASE,
     ":2:9: ehlo.drop: expected a list of patterns, got no value"},
    {"drop element map", "ehlo:\n  drop:\n    - a: 1\n" T_BASE,
     ":3:7: ehlo.drop.0: expected a pattern, got a map"},
    /* eightbit */
    {"eightbit reject", "ehlo:\n  eightbit: reject\n" T_BASE, NULL},
    {"eightbit PASS", "ehlo:\n  eightbit: PASS\n" T_BASE, NULL},
    {"eightbit bad", "ehlo:\n  eightbit: strip\n" T_BASE,
     ":2:13: ehlo.eightbit: expected one of pass, reject, got 'strip'"},
    {"eightbit list", "ehlo:\n  eightbit: [pass]\n" T_BASE,
     ":2:13: ehlo.eightbit: expected one of pass, reject, got a list"},
};

/* ---- tests ----------------------------------------------------------- */

static void
test_types(void **state)
{
    (void)state;
    test_run_cases(test_type_cases, T_NELEMS(test_type_cases));
}

static void
test_structure(void **state)
{
    (void)state;
    test_run_cases(test_structure_cases, T_NELEMS(test_structure_cases));
}

static void
test_ehlo_is_default(const struct gw_ehlo_cfg *e)
{
    assert_int_equal(e->advertise, GW_CAPS_ADVERTISABLE);
    assert_int_equal(e->pass, GW_CAPS_PASSABLE);
    assert_int_equal(e->ndrop, 0);
    assert_int_equal(e->eightbit, GW_EIGHTBIT_PASS);
}

static void
test_minimal_gets_defaults(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];

    (void)state;
    cfg = test_load(T_BASE, NULL, 0, &errs, path, sizeof(path));
    assert_non_null(cfg);
    assert_int_equal(cfg->refs, 1);
    assert_string_equal(cfg->source, path);
    assert_true(strlen(cfg->hostname) > 0);
    assert_false(cfg->disable_vrfy);
    assert_true(cfg->received_header);
    assert_int_equal(cfg->bare_newlines, GW_BARE_NL_NORMALIZE);
    assert_int_equal(cfg->log_level, GW_LOG_INFO);
    assert_int_equal(cfg->nlisteners, 1);
    assert_int_equal(cfg->listeners[0].tls, GW_TLS_NONE);
    assert_false(cfg->listeners[0].require_tls);
    assert_int_equal(cfg->listeners[0].ncerts, 0);
    assert_null(cfg->listeners[0].tls_ctx);
    assert_string_equal(cfg->listeners[0].name, "listener0");
    assert_string_equal(cfg->listeners[0].addr.text, "127.0.0.1:2525");
    assert_int_equal(cfg->listeners[0].addr.ss.ss_family, AF_INET);
    assert_int_equal(cfg->listeners[0].addr.len, sizeof(struct sockaddr_in));
    assert_int_equal(test_port(&cfg->listeners[0].addr), 2525);
    assert_int_equal(cfg->listeners[0].upstream, 0);
    assert_int_equal(cfg->nupstreams, 1);
    assert_string_equal(cfg->upstreams[0].name, "upstream0");
    assert_int_equal(cfg->upstreams[0].naddrs, 1);
    assert_string_equal(cfg->upstreams[0].addrs[0].text, "127.0.0.1:2526");
    assert_string_equal(cfg->upstreams[0].helo_name, cfg->hostname);
    assert_int_equal(cfg->upstreams[0].connect, GW_UP_CONNECT_ON_MAIL);
    assert_int_equal(cfg->upstreams[0].connect_timeout_ms,
                     GW_DEF_TIMEOUT_UP_CONNECT);
    assert_int_equal(cfg->upstreams[0].probe_interval_ms,
                     GW_DEF_PROBE_INTERVAL);
    assert_int_equal(cfg->upstreams[0].tls, GW_UP_TLS_NONE);
    assert_string_equal(cfg->upstreams[0].ca_file, "");
    assert_string_equal(cfg->upstreams[0].server_name, "");
    assert_int_equal(cfg->upstreams[0].npins, 0);
    assert_null(cfg->upstreams[0].tls_ctx);
    assert_int_equal(cfg->limits.command_line, GW_DEF_COMMAND_LINE);
    assert_int_equal(cfg->limits.reply_line, GW_DEF_REPLY_LINE);
    assert_int_equal(cfg->limits.reply_lines, GW_DEF_REPLY_LINES);
    assert_int_equal(cfg->limits.recipients, GW_DEF_RECIPIENTS);
    assert_int_equal(cfg->limits.messages_per_session,
                     GW_DEF_MESSAGES_PER_SESSION);
    assert_int_equal(cfg->limits.errors_per_session, GW_DEF_ERRORS_PER_SESSION);
    assert_int_equal(cfg->limits.connections, GW_DEF_CONNECTIONS);
    assert_int_equal(cfg->limits.connections_per_client,
                     GW_DEF_CONNECTIONS_PER_CLIENT);
    assert_int_equal(cfg->limits.pipeline_depth, GW_DEF_PIPELINE_DEPTH);
    assert_int_equal(cfg->limits.buffer_size, GW_DEF_BUFFER_SIZE);
    assert_int_equal(cfg->limits.message_size, GW_DEF_MESSAGE_SIZE);
    assert_int_equal(cfg->timeouts.command, GW_DEF_TIMEOUT_COMMAND);
    assert_int_equal(cfg->timeouts.data_block, GW_DEF_TIMEOUT_DATA_BLOCK);
    assert_int_equal(cfg->timeouts.upstream_greeting,
                     GW_DEF_TIMEOUT_UP_GREETING);
    assert_int_equal(cfg->timeouts.upstream_mail, GW_DEF_TIMEOUT_UP_MAIL);
    assert_int_equal(cfg->timeouts.upstream_rcpt, GW_DEF_TIMEOUT_UP_RCPT);
    assert_int_equal(cfg->timeouts.upstream_data, GW_DEF_TIMEOUT_UP_DATA);
    assert_int_equal(cfg->timeouts.upstream_data_block,
                     GW_DEF_TIMEOUT_UP_DATA_BLOCK);
    assert_int_equal(cfg->timeouts.upstream_data_end,
                     GW_DEF_TIMEOUT_UP_DATA_END);
    assert_int_equal(cfg->timeouts.upstream_idle, GW_DEF_TIMEOUT_UP_IDLE);
    test_ehlo_is_default(&cfg->ehlo);
    gw_config_unref(cfg);
}

static void
test_every_key_applied(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    const struct gw_upstream_cfg *u;
    char path[64];

    (void)state;
    cfg = test_load(test_full_yaml, NULL, 0, &errs, path, sizeof(path));
    if (cfg == NULL) {
        test_dump_errors(&errs);
    }
    assert_non_null(cfg);
    assert_string_equal(cfg->hostname, "mx.example.org");
    assert_true(cfg->disable_vrfy);
    assert_false(cfg->received_header);
    assert_int_equal(cfg->bare_newlines, GW_BARE_NL_REJECT);
    assert_int_equal(cfg->log_level, GW_LOG_DEBUG);
    assert_int_equal(cfg->nlisteners, 2);
    assert_string_equal(cfg->listeners[0].name, "inbound");
    assert_int_equal(cfg->listeners[0].upstream, 1);
    assert_string_equal(cfg->listeners[1].name, "listener1");
    assert_string_equal(cfg->listeners[1].addr.text, "[::1]:2587");
    assert_int_equal(cfg->listeners[1].addr.ss.ss_family, AF_INET6);
    assert_int_equal(test_port(&cfg->listeners[1].addr), 2587);
    assert_int_equal(cfg->listeners[1].upstream, 0);
    assert_int_equal(cfg->nupstreams, 2);
    u = &cfg->upstreams[0];
    assert_string_equal(u->name, "primary");
    assert_int_equal(u->naddrs, 2);
    assert_string_equal(u->addrs[0].text, "127.0.0.1:2526");
    assert_string_equal(u->addrs[1].text, "[::1]:2527");
    assert_string_equal(u->helo_name, "gw.example.org");
    assert_int_equal(u->connect, GW_UP_CONNECT_ON_CONNECT);
    assert_int_equal(u->connect_timeout_ms, 10000);
    assert_int_equal(u->probe_interval_ms, 0);
    u = &cfg->upstreams[1];
    assert_string_equal(u->name, "backup");
    assert_int_equal(u->naddrs, 1);
    assert_string_equal(u->addrs[0].text, "127.0.0.2:25");
    assert_string_equal(u->helo_name, "[IPv6:::1]");
    assert_int_equal(u->connect, GW_UP_CONNECT_ON_MAIL);
    assert_int_equal(u->connect_timeout_ms, 1500);
    assert_int_equal(u->probe_interval_ms, 90000);
    assert_int_equal(cfg->limits.command_line, 1024);
    assert_int_equal(cfg->limits.reply_line, 2048);
    assert_int_equal(cfg->limits.reply_lines, 200);
    assert_int_equal(cfg->limits.recipients, 500);
    assert_int_equal(cfg->limits.messages_per_session, 10);
    assert_int_equal(cfg->limits.errors_per_session, 5);
    assert_int_equal(cfg->limits.connections, 100);
    assert_int_equal(cfg->limits.connections_per_client, 7);
    assert_int_equal(cfg->limits.pipeline_depth, 32);
    assert_int_equal(cfg->limits.buffer_size, 128 * 1024);
    assert_int_equal(cfg->limits.message_size, 100000);
    assert_int_equal(cfg->timeouts.command, 60000);
    assert_int_equal(cfg->timeouts.data_block, 120000);
    assert_int_equal(cfg->timeouts.upstream_greeting, 45000);
    assert_int_equal(cfg->timeouts.upstream_mail, 3600000);
    assert_int_equal(cfg->timeouts.upstream_rcpt, 86400000);
    assert_int_equal(cfg->timeouts.upstream_data, 3000);
    assert_int_equal(cfg->timeouts.upstream_data_block, 1001);
    assert_int_equal(cfg->timeouts.upstream_data_end, 420000);
    assert_int_equal(cfg->timeouts.upstream_idle, 15000);
    assert_int_equal(cfg->ehlo.advertise, GW_CAP_SIZE | GW_CAP_PIPELINING);
    assert_int_equal(cfg->ehlo.pass, GW_CAP_SMTPUTF8);
    assert_int_equal(cfg->ehlo.ndrop, 2);
    assert_string_equal(cfg->ehlo.drop[0], "X-*");
    assert_string_equal(cfg->ehlo.drop[1], "it's");
    assert_int_equal(cfg->ehlo.eightbit, GW_EIGHTBIT_REJECT);
    gw_config_unref(cfg);
}

/* Three independent mistakes: all three are reported, in file order. */
static void
test_errors_are_collected(void **state)
{
    static const char yaml[] = "limits:\n"
                               "  recipients: 5\n"
                               "  buffer_size: lots\n"
                               "timeouts:\n"
                               "  command: 0\n" T_BASE;
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];
    size_t plen;

    (void)state;
    cfg = test_load(yaml, NULL, 0, &errs, path, sizeof(path));
    assert_null(cfg);
    assert_int_equal(errs.count, 3);
    plen = strlen(path);
    assert_string_equal(errs.msg[0] + plen,
                        ":2:15: limits.recipients: '5' is out of range "
                        "(allowed 100 to 100000)");
    assert_string_equal(errs.msg[1] + plen,
                        ":3:16: limits.buffer_size: expected a size such as "
                        "65536, 64K or 50M, got 'lots'");
    assert_string_equal(errs.msg[2] + plen,
                        ":5:12: timeouts.command: '0' is out of range "
                        "(allowed 1ms to 1d)");
}

static void
test_too_many_errors(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char yaml[4096];
    char path[64];
    size_t len = 0;
    int i;

    (void)state;
    for (i = 0; i < 100; i++) {
        len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "k%d: 1\n", i);
    }
    assert_true(len < sizeof(yaml));
    cfg = test_load(yaml, NULL, 0, &errs, path, sizeof(path));
    assert_null(cfg);
    assert_int_equal(errs.count, GW_CONFIG_MAX_ERRORS);
    assert_non_null(strstr(errs.msg[0], ":1:1: unknown key 'k0'"));
    /* 100 unknown keys + 2 missing lists; 63 shown, 39 summarized */
    assert_non_null(strstr(errs.msg[GW_CONFIG_MAX_ERRORS - 1],
                           ": too many errors; 39 more not shown"));
}

static void
test_document_bounds(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];
    char *big;
    size_t i;
    size_t n;

    (void)state;
    /* 16 nested lists are fine (the schema then objects to the key) ... */
    big = calloc(1, 2 * 1024 * 1024 + 64);
    assert_non_null(big);
    memcpy(big, "x: [[[[[[[[[[[[[[[]]]]]]]]]]]]]]]\n", 35);
    cfg = test_load(big, NULL, 0, &errs, path, sizeof(path));
    assert_null(cfg);
    assert_true(test_has_error(&errs, path, ":1:1: unknown key 'x'"));
    /* ... 17 are not */
    memcpy(big, "x: [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]\n", 37);
    cfg = test_load(big, NULL, 0, &errs, path, sizeof(path));
    assert_null(cfg);
    assert_int_equal(errs.count, 1);
    assert_true(
        test_has_error(&errs, path, ":1:19: nesting deeper than 16 levels"));
    /* more than 10000 nodes */
    n = (size_t)snprintf(big, 16, "x: [");
    for (i = 0; i < 10001; i++) {
        memcpy(big + n, "1,", 2);
        n += 2;
    }
    memcpy(big + n, "1]\n", 4);
    cfg = test_load(big, NULL, 0, &errs, path, sizeof(path));
    assert_null(cfg);
    assert_int_equal(errs.count, 1);
    assert_true(test_has_error(&errs, path, "more than 10000 YAML nodes"));
    /* larger than 1 MiB, even if it is only a comment */
    memset(big, ' ', 1024 * 1024 + 1);
    big[0] = '#';
    big[1024 * 1024 + 1] = '\0';
    test_write_file(big, strlen(big), path, sizeof(path));
    cfg = gw_config_load(path, NULL, 0, &errs);
    unlink(path);
    assert_null(cfg);
    assert_int_equal(errs.count, 1);
    assert_true(test_has_error(&errs, path, ": file is larger than 1 MiB"));
    free(big);
}

static void
test_missing_file(void **state)
{
    struct gw_config_errors errs;

    (void)state;
    assert_null(gw_config_load("/nonexistent/postern.yaml", NULL, 0, &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.msg[0], "/nonexistent/postern.yaml: cannot open: "
                                     "No such file or directory");
    /* errs is optional */
    assert_null(gw_config_load("/nonexistent/postern.yaml", NULL, 0, NULL));
    assert_null(gw_config_load(NULL, NULL, 0, &errs));
    assert_int_equal(errs.count, 1);
}

static void
test_overrides_apply(void **state)
{
    static const char *const ov[] = {
        "limits.recipients=200",              /* existing key */
        "smtp.disable_vrfy=on",               /* absent section */
        "listeners.0.address=127.0.0.1:2600", /* list element */
        "listeners.1.address=[::1]:2601",     /* append */
        "listeners.1.name=second",
        "upstreams.0.addresses.1=127.0.0.3:2602", /* scalar form, append */
        "upstreams.1.addresses.0=127.0.0.4",      /* new block, new list */
        "upstreams.1.name=other",
        "listeners.1.upstream=other",
        "hostname=mx.example.net",
        "limits.command_line=600",
        "limits.command_line=700", /* the last one wins */
    };
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];

    (void)state;
    cfg = test_load("limits:\n  recipients: 300\n" T_BASE, ov, T_NELEMS(ov),
                    &errs, path, sizeof(path));
    if (cfg == NULL) {
        test_dump_errors(&errs);
    }
    assert_non_null(cfg);
    assert_int_equal(cfg->limits.recipients, 200);
    assert_int_equal(cfg->limits.command_line, 700);
    assert_true(cfg->disable_vrfy);
    assert_string_equal(cfg->hostname, "mx.example.net");
    assert_int_equal(cfg->nlisteners, 2);
    assert_string_equal(cfg->listeners[0].addr.text, "127.0.0.1:2600");
    assert_string_equal(cfg->listeners[1].addr.text, "[::1]:2601");
    assert_string_equal(cfg->listeners[1].name, "second");
    assert_int_equal(cfg->listeners[1].upstream, 1);
    assert_int_equal(cfg->nupstreams, 2);
    assert_int_equal(cfg->upstreams[0].naddrs, 2);
    assert_string_equal(cfg->upstreams[0].addrs[0].text, "127.0.0.1:2526");
    assert_string_equal(cfg->upstreams[0].addrs[1].text, "127.0.0.3:2602");
    assert_string_equal(cfg->upstreams[1].name, "other");
    assert_string_equal(cfg->upstreams[1].addrs[0].text, "127.0.0.4:25");
    assert_string_equal(cfg->upstreams[1].helo_name, "mx.example.net");
    gw_config_unref(cfg);

    /* an override can replace a whole list with the scalar form */
    cfg = test_load(T_BASE,
                    (const char *const[]){"upstreams.0.addresses="
                                          "127.0.0.9:99"},
                    1, &errs, path, sizeof(path));
    assert_non_null(cfg);
    assert_int_equal(cfg->upstreams[0].naddrs, 1);
    assert_string_equal(cfg->upstreams[0].addrs[0].text, "127.0.0.9:99");
    gw_config_unref(cfg);
}

struct test_ov_case {
    const char *label;
    const char *ov;
    const char *expect; /* the whole message */
};

static void
test_override_errors(void **state)
{
    static const struct test_ov_case cases[] = {
        {"unknown key", "limits.foo=1",
         "-o limits.foo=1: unknown key 'foo' in limits"},
        {"unknown section", "nosuch.key=1",
         "-o nosuch.key=1: unknown key 'nosuch' at the top level"},
        {"unknown key in element", "listeners.0.port=25",
         "-o listeners.0.port=25: unknown key 'port' in listeners.0"},
        {"bad value", "limits.recipients=5",
         "-o limits.recipients=5: limits.recipients: '5' is out of range "
         "(allowed 100 to 100000)"},
        {"bad type", "timeouts.command=soon",
         "-o timeouts.command=soon: timeouts.command: expected a duration "
         "such as 500ms, 30s, 5m, 2h or 1d, got 'soon'"},
        {"no equals sign", "limits.recipients",
         "-o limits.recipients: expected key.path=value"},
        {"empty path", "=1", "-o =1: expected key.path=value"},
        {"empty component", "limits..recipients=1",
         "-o limits..recipients=1: empty or over-long key in the path"},
        {"index past the end", "listeners.2.address=127.0.0.1:1",
         "-o listeners.2.address=127.0.0.1:1: 'listeners' is a list of 1: "
         "use an index from 0 to 1 (1 appends)"},
        {"name on a list", "listeners.first.address=127.0.0.1:1",
         "-o listeners.first.address=127.0.0.1:1: 'listeners' is a list of "
         "1: use an index from 0 to 1 (1 appends)"},
        {"path through a value", "hostname.x=1",
         "-o hostname.x=1: 'hostname' is a single value, not a map or list"},
        {"replace a section by a value", "limits=5",
         "-o limits=5: limits: expected a map of settings, got a single "
         "value"},
        {"append without address", "listeners.1.name=x",
         "-o listeners.1.name=x: listeners.1: missing required key "
         "'address'"},
        {"too deep", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q=1",
         "-o a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q=1: the key path is deeper "
         "than 16 levels"},
        {"ehlo keyword in the wrong list", "ehlo.advertise=DSN",
         "-o ehlo.advertise=DSN: ehlo.advertise: 'DSN' goes in ehlo.pass: it "
         "is offered only when the upstream offers it"},
        {"ehlo keyword never offered", "ehlo.advertise.0=XCLIENT",
         "-o ehlo.advertise.0=XCLIENT: ehlo.advertise.0: Postern cannot "
         "honour 'XCLIENT' end to end, so it never offers it"},
        {"ehlo keyword in a word list", "ehlo.pass=DSN SIZE",
         "-o ehlo.pass=DSN SIZE: ehlo.pass: 'SIZE' goes in ehlo.advertise: "
         "Postern offers it itself, whatever the upstream offers"},
        {"ehlo index on a new list", "ehlo.advertise.1=SIZE",
         "-o ehlo.advertise.1=SIZE: 'ehlo.advertise' is a list of 0: use an "
         "index from 0 to 0 (0 appends)"},
        {"ehlo eightbit", "ehlo.eightbit=strip",
         "-o ehlo.eightbit=strip: ehlo.eightbit: expected one of pass, "
         "reject, got 'strip'"},
        {"ehlo too many patterns",
         "ehlo.drop=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
         "-o ehlo.drop=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q: ehlo.drop: "
         "expected at most 16 patterns, got 17"},
        {"ehlo unknown key", "ehlo.offer=SIZE",
         "-o ehlo.offer=SIZE: unknown key 'offer' in ehlo"},
    };
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];
    size_t i;

    (void)state;
    for (i = 0; i < T_NELEMS(cases); i++) {
        cfg = test_load("hostname: mx.example.org\n" T_BASE, &cases[i].ov, 1,
                        &errs, path, sizeof(path));
        if (cfg != NULL || errs.count != 1 ||
            strcmp(errs.msg[0], cases[i].expect) != 0) {
            print_error("[%s] expected \"%s\", got:\n", cases[i].label,
                        cases[i].expect);
            test_dump_errors(&errs);
        }
        assert_null(cfg);
        assert_int_equal(errs.count, 1);
        assert_string_equal(errs.msg[0], cases[i].expect);
    }
}

static void
test_quick_mode(void **state)
{
    static const char *const ov[] = {"limits.message_size=10M",
                                     "upstreams.0.connect=on_connect",
                                     "upstreams.0.addresses.1=[::1]:2527"};
    static const char *const bad_ov[] = {"limits.foo=1"};
    struct gw_config_errors errs;
    struct gw_config *cfg;
    struct gw_config *file_cfg;
    char path[64];
    char *text;

    (void)state;
    cfg = gw_config_quick("127.0.0.1:2525", "127.0.0.1:2526", NULL, 0, &errs);
    assert_non_null(cfg);
    assert_string_equal(cfg->source, "<command line>");
    test_ehlo_is_default(&cfg->ehlo);
    /* the same as the equivalent file */
    file_cfg = test_load(T_BASE, NULL, 0, &errs, path, sizeof(path));
    assert_non_null(file_cfg);
    test_config_equal(cfg, file_cfg);
    gw_config_unref(file_cfg);
    text = test_round_trip(cfg);
    free(text);
    gw_config_unref(cfg);

    cfg = gw_config_quick("127.0.0.1:2525", "127.0.0.1:2526", ov, T_NELEMS(ov),
                          &errs);
    assert_non_null(cfg);
    assert_int_equal(cfg->limits.message_size, 10 * 1024 * 1024);
    assert_int_equal(cfg->upstreams[0].connect, GW_UP_CONNECT_ON_CONNECT);
    assert_int_equal(cfg->upstreams[0].naddrs, 2);
    assert_string_equal(cfg->upstreams[0].addrs[1].text, "[::1]:2527");
    gw_config_unref(cfg);

    assert_null(
        gw_config_quick("127.0.0.1:2525", "127.0.0.1:2526", bad_ov, 1, &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.msg[0],
                        "-o limits.foo=1: unknown key 'foo' in limits");

    assert_null(gw_config_quick("127.0.0.1:0", "[::1", NULL, 0, &errs));
    assert_int_equal(errs.count, 2);
    assert_string_equal(errs.msg[0],
                        "<command line>: upstreams.0.addresses.0: bad "
                        "address '[::1': expected [address] or "
                        "[address]:port");
    assert_string_equal(errs.msg[1],
                        "<command line>: listeners.0.address: bad address "
                        "'127.0.0.1:0': the port must be a number from 1 "
                        "to 65535");

    assert_null(gw_config_quick(NULL, "127.0.0.1:25", NULL, 0, &errs));
    assert_int_equal(errs.count, 1);
}

struct test_addr_case {
    const char *in;
    const char *out; /* text when it parses, else part of the reason */
    bool ok;
    int family;
    unsigned port;
};

static void
test_parse_addr(void **state)
{
    static const struct test_addr_case cases[] = {
        {"1.2.3.4:25", "1.2.3.4:25", true, AF_INET, 25},
        {"127.0.0.1:2525", "127.0.0.1:2525", true, AF_INET, 2525},
        {"127.0.0.1", "127.0.0.1:25", true, AF_INET, 25},
        {"[::1]:2525", "[::1]:2525", true, AF_INET6, 2525},
        {"[::1]", "[::1]:25", true, AF_INET6, 25},
        {"[2001:DB8::1]:65535", "[2001:db8::1]:65535", true, AF_INET6, 65535},
        {"[127.0.0.1]:1", "127.0.0.1:1", true, AF_INET, 1},
        {"", "missing host", false, 0, 0},
        {":25", "missing host", false, 0, 0},
        {"[]:25", "missing host", false, 0, 0},
        {"1.2.3.4:0", "port must be a number from 1 to 65535", false, 0, 0},
        {"1.2.3.4:65536", "from 1 to 65535", false, 0, 0},
        {"1.2.3.4:", "from 1 to 65535", false, 0, 0},
        {"1.2.3.4:smtp", "from 1 to 65535", false, 0, 0},
        {"1.2.3.4:+25", "from 1 to 65535", false, 0, 0},
        {"1.2.3.4: 25", "from 1 to 65535", false, 0, 0},
        {"::1", "needs brackets", false, 0, 0},
        {"::1:25", "needs brackets", false, 0, 0},
        {"[::1", "expected [address] or [address]:port", false, 0, 0},
        {"[::1]25", "expected [address] or [address]:port", false, 0, 0},
        {"[example.org]:25", "cannot resolve 'example.org'", false, 0, 0},
        {"[1.2.3.4.5]:25", "cannot resolve", false, 0, 0},
    };
    struct gw_sockaddr a;
    char why[128];
    size_t i;
    bool ok;

    (void)state;
    for (i = 0; i < T_NELEMS(cases); i++) {
        memset(&a, 0, sizeof(a));
        ok = gw_config_parse_addr(cases[i].in, &a, why, sizeof(why));
        if (ok != cases[i].ok) {
            print_error("[%s] ok=%d why=%s\n", cases[i].in, ok, why);
        }
        assert_int_equal(ok, cases[i].ok);
        if (ok) {
            assert_string_equal(a.text, cases[i].out);
            assert_int_equal(a.ss.ss_family, cases[i].family);
            assert_int_equal(test_port(&a), cases[i].port);
            assert_int_equal(a.len, cases[i].family == AF_INET
                                        ? sizeof(struct sockaddr_in)
                                        : sizeof(struct sockaddr_in6));
        } else if (strstr(why, cases[i].out) == NULL) {
            print_error("[%s] why=%s\n", cases[i].in, why);
            fail();
        }
    }
    /* a name, resolved with getaddrinfo (from /etc/hosts) */
    assert_true(gw_config_parse_addr("localhost:2525", &a, why, sizeof(why)));
    assert_int_equal(test_port(&a), 2525);
    assert_true(a.ss.ss_family == AF_INET || a.ss.ss_family == AF_INET6);
    assert_true(gw_config_parse_addr("localhost", &a, NULL, 0));
    assert_int_equal(test_port(&a), 25);
    assert_false(gw_config_parse_addr(NULL, &a, why, sizeof(why)));
}

/* The policy section of -n: every setting filled in, every rule named
 * (an unnamed one by its default "file:line", so its counters keep their
 * key), regexes and texts quoted so that they load back the same, and
 * printing the printed config gives the same section again. */
static void
test_print_policy(void **state)
{
    static const char yaml[] =
        "listeners:\n"
        "  - address: 127.0.0.1:2525\n"
        "upstreams:\n"
        "  - addresses: 127.0.0.1:2526\n"
        "  - name: backup\n"
        "    addresses: 127.0.0.1:2527\n"
        "policy:\n"
        "  match_limit: 5000\n"
        "  rules:\n"
        "    - name: no-localhost\n"
        "      stage: helo\n"
        "      if:\n"
        "        - helo: [localhost, \"a\\\"b\"]\n"
        "      then: 'reject 550 5.7.1 \"HELO ${helo} refused\"'\n"
        "    - stage: mail\n"
        "      if:\n"
        "        - sender: {regex: '^x\\d+\"@', flags: i, not: true}\n"
        "        - auth_user: {present: false}\n"
        "      then: [upstream backup, 'add_header X-T: \"q\"']\n";
    struct gw_config_errors errs;
    struct gw_config *cfg;
    struct gw_config *again;
    char path[64];
    char path2[64];
    const char *sec;
    const char *sec2;
    char *text = NULL;
    char *text2 = NULL;
    size_t len = 0;
    FILE *mem;
    char want[128];

    (void)state;
    cfg = test_load(yaml, NULL, 0, &errs, path, sizeof(path));
    if (cfg == NULL) {
        test_dump_errors(&errs);
    }
    assert_non_null(cfg);
    mem = open_memstream(&text, &len);
    assert_non_null(mem);
    gw_config_print(cfg, mem);
    assert_int_equal(fclose(mem), 0);
    sec = strstr(text, "\npolicy:\n");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "  match_limit: 5000\n  depth_limit: 10000\n"
                                "  heap_limit: 8192K\n  counters:\n"
                                "    capacity: 65536\n"));
    assert_non_null(strstr(sec, "- helo: [\"localhost\", \"a\\\"b\"]\n"));
    assert_non_null(strstr(sec, "{regex: [\"^x\\\\d+\\\"@\"], not: true, "
                                "flags: \"i\"}"));
    assert_non_null(strstr(sec, "- auth_user: {present: false}"));
    snprintf(want, sizeof(want), "- name: \"%s:15\"\n", path);
    if (strstr(sec, want) == NULL) {
        print_error("want %s in:\n%s\n", want, sec);
    }
    assert_non_null(strstr(sec, want));
    again = test_load(text, NULL, 0, &errs, path2, sizeof(path2));
    if (again == NULL) {
        print_error("printed config does not load:\n%s\n", text);
        test_dump_errors(&errs);
    }
    assert_non_null(again);
    assert_int_equal(pol_ruleset_nrules(again->policy),
                     pol_ruleset_nrules(cfg->policy));
    assert_string_equal(pol_ruleset_rule(again->policy, 1, NULL),
                        pol_ruleset_rule(cfg->policy, 1, NULL));
    mem = open_memstream(&text2, &len);
    assert_non_null(mem);
    gw_config_print(again, mem);
    assert_int_equal(fclose(mem), 0);
    sec2 = strstr(text2, "\npolicy:\n");
    assert_non_null(sec2);
    assert_string_equal(sec2, sec);
    free(text);
    free(text2);
    gw_config_unref(again);
    gw_config_unref(cfg);
}

static void
test_print_round_trip(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];
    char *text;

    (void)state;
    cfg = test_load(test_full_yaml, NULL, 0, &errs, path, sizeof(path));
    assert_non_null(cfg);
    text = test_round_trip(cfg);
    /* exact units where they are exact, plain numbers otherwise */
    assert_non_null(strstr(text, "\n  buffer_size: 128K\n"));
    assert_non_null(strstr(text, "\n  message_size: 100000\n"));
    assert_non_null(strstr(text, "\n  upstream_data: 3s\n"));
    assert_non_null(strstr(text, "\n  upstream_data_block: 1001ms\n"));
    assert_non_null(strstr(text, "\n  upstream_rcpt: 1d\n"));
    assert_non_null(strstr(text, "\n    probe_interval: 0\n"));
    assert_non_null(strstr(text, "\n    probe_interval: 90s\n"));
    assert_non_null(strstr(text, "\n    connect_timeout: 1500ms\n"));
    assert_non_null(strstr(text, "\n  disable_vrfy: true\n"));
    assert_non_null(strstr(text, "\n  received_header: false\n"));
    assert_non_null(strstr(text, "\n    upstream: \"backup\"\n"));
    assert_non_null(strstr(text, "\nehlo:\n  advertise: [PIPELINING, SIZE]\n"
                                 "  pass: [SMTPUTF8]\n"
                                 "  drop: ['X-*', 'it''s']\n"
                                 "  eightbit: reject\n"));
    free(text);
    gw_config_unref(cfg);

    cfg = test_load(T_BASE, NULL, 0, &errs, path, sizeof(path));
    assert_non_null(cfg);
    text = test_round_trip(cfg);
    assert_non_null(strstr(text, "\n  message_size: 50M\n"));
    assert_non_null(strstr(text, "\n  command: 5m\n"));
    assert_non_null(strstr(text, "\nehlo:\n  advertise: [PIPELINING, SIZE, "
                                 "8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, "
                                 "LIMITS]\n"
                                 "  pass: [DSN, SMTPUTF8, BINARYMIME]\n"
                                 "  drop: []\n"
                                 "  eightbit: pass\n"));
    free(text);
    gw_config_unref(cfg);

    gw_config_print(NULL, stdout); /* no-op */
}

/* etc/postern.yaml must load, and since it shows every key at its default
 * it must equal the minimal config with the same two addresses. */
static void
test_sample_config(void **state)
{
    static const char self[] = "tests/unit/test_gw_config.c";
    const char *file = __FILE__;
    struct gw_config_errors errs;
    struct gw_config *sample;
    struct gw_config *minimal;
    char path[4096];
    char tmp[64];
    size_t root_len = strlen(file) - (sizeof(self) - 1);
    size_t i;

    (void)state;
    assert_string_equal(file + root_len, self);
    assert_true(snprintf(path, sizeof(path), "%.*setc/postern.yaml",
                         (int)root_len, file) < (int)sizeof(path));
    if (access(path, R_OK) != 0) {
        print_error("%s not found from this directory\n", path);
        skip();
    }
    sample = gw_config_load(path, NULL, 0, &errs);
    for (i = 0; sample == NULL && i < errs.count; i++) {
        print_error("    %s\n", errs.msg[i]);
    }
    assert_non_null(sample);
    minimal = test_load(T_BASE, NULL, 0, &errs, tmp, sizeof(tmp));
    assert_non_null(minimal);
    test_config_equal(sample, minimal);
    gw_config_unref(minimal);
    gw_config_unref(sample);
}

/* What an ehlo section (or -o overrides) gives. drop: the patterns joined
 * by single spaces. */
struct test_ehlo_value {
    const char *label;
    const char *yaml;      /* before T_BASE */
    const char *const *ov; /* NULL-terminated, or NULL */
    uint32_t advertise;
    uint32_t pass;
    const char *drop;
    enum gw_eightbit eightbit;
};

#define T_ADV GW_CAPS_ADVERTISABLE
#define T_PASS GW_CAPS_PASSABLE
#define T_OV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define T_EHLO_BASE "ehlo:\n  advertise: [SIZE, CHUNKING]\n  drop: X-*\n"

static const struct test_ehlo_value test_ehlo_values[] = {
    {"absent", "", NULL, T_ADV, T_PASS, "", GW_EIGHTBIT_PASS},
    {"empty section", "ehlo:\n", NULL, T_ADV, T_PASS, "", GW_EIGHTBIT_PASS},
    {"advertise one", "ehlo:\n  advertise: size\n", NULL, GW_CAP_SIZE, T_PASS,
     "", GW_EIGHTBIT_PASS},
    {"advertise words", "ehlo:\n  advertise: 'SIZE,CHUNKING\tlimits'\n", NULL,
     GW_CAP_SIZE | GW_CAP_CHUNKING | GW_CAP_LIMITS, T_PASS, "",
     GW_EIGHTBIT_PASS},
    {"advertise all",
     "ehlo:\n  advertise: [LIMITS, CHUNKING, "
     "ENHANCEDSTATUSCODES, 8BITMIME, SIZE, PIPELINING]\n",
     NULL, T_ADV, T_PASS, "", GW_EIGHTBIT_PASS},
    {"advertise nothing", "ehlo:\n  advertise: []\n", NULL, 0, T_PASS, "",
     GW_EIGHTBIT_PASS},
    {"advertise duplicates", "ehlo:\n  advertise: [8BITMIME, 8bitmime]\n", NULL,
     GW_CAP_8BITMIME, T_PASS, "", GW_EIGHTBIT_PASS},
    {"pass block", "ehlo:\n  pass:\n    - DSN\n    - binarymime\n", NULL, T_ADV,
     GW_CAP_DSN | GW_CAP_BINARYMIME, "", GW_EIGHTBIT_PASS},
    {"pass nothing", "ehlo:\n  pass: ''\n", NULL, T_ADV, 0, "",
     GW_EIGHTBIT_PASS},
    {"drop", "ehlo:\n  drop: [X-*, 'chunk*', \"it's\", '[a-c]*']\n", NULL,
     T_ADV, T_PASS, "X-* chunk* it's [a-c]*", GW_EIGHTBIT_PASS},
    {"drop one", "ehlo:\n  drop: 8BITMIME\n", NULL, T_ADV, T_PASS, "8BITMIME",
     GW_EIGHTBIT_PASS},
    {"drop sixteen", "ehlo:\n  drop: " T_X16 "]\n", NULL, T_ADV, T_PASS,
     "a b c d e f g h i j k l m n o p", GW_EIGHTBIT_PASS},
    {"eightbit", "ehlo:\n  eightbit: Reject\n", NULL, T_ADV, T_PASS, "",
     GW_EIGHTBIT_REJECT},
    {"everything",
     "ehlo:\n  eightbit: reject\n  drop: ['*']\n  pass: []\n"
     "  advertise: [PIPELINING]\n",
     NULL, GW_CAP_PIPELINING, 0, "*", GW_EIGHTBIT_REJECT},
    /* -o over T_EHLO_BASE (or over nothing) */
    {"-o base", T_EHLO_BASE, NULL, GW_CAP_SIZE | GW_CAP_CHUNKING, T_PASS, "X-*",
     GW_EIGHTBIT_PASS},
    {"-o eightbit", T_EHLO_BASE, T_OV("ehlo.eightbit=reject"),
     GW_CAP_SIZE | GW_CAP_CHUNKING, T_PASS, "X-*", GW_EIGHTBIT_REJECT},
    {"-o replace element", T_EHLO_BASE, T_OV("ehlo.advertise.0=PIPELINING"),
     GW_CAP_PIPELINING | GW_CAP_CHUNKING, T_PASS, "X-*", GW_EIGHTBIT_PASS},
    {"-o append element", T_EHLO_BASE, T_OV("ehlo.advertise.2=limits"),
     GW_CAP_SIZE | GW_CAP_CHUNKING | GW_CAP_LIMITS, T_PASS, "X-*",
     GW_EIGHTBIT_PASS},
    {"-o whole list", T_EHLO_BASE, T_OV("ehlo.advertise=SIZE PIPELINING"),
     GW_CAP_SIZE | GW_CAP_PIPELINING, T_PASS, "X-*", GW_EIGHTBIT_PASS},
    {"-o empty list", T_EHLO_BASE, T_OV("ehlo.advertise=", "ehlo.drop="), 0,
     T_PASS, "", GW_EIGHTBIT_PASS},
    {"-o commas", T_EHLO_BASE, T_OV("ehlo.pass=DSN,SMTPUTF8"),
     GW_CAP_SIZE | GW_CAP_CHUNKING, GW_CAP_DSN | GW_CAP_SMTPUTF8, "X-*",
     GW_EIGHTBIT_PASS},
    {"-o new list", T_EHLO_BASE, T_OV("ehlo.pass.0=dsn"),
     GW_CAP_SIZE | GW_CAP_CHUNKING, GW_CAP_DSN, "X-*", GW_EIGHTBIT_PASS},
    {"-o scalar becomes list", T_EHLO_BASE, T_OV("ehlo.drop.1=AUTH"),
     GW_CAP_SIZE | GW_CAP_CHUNKING, T_PASS, "X-* AUTH", GW_EIGHTBIT_PASS},
    {"-o no section", "",
     T_OV("ehlo.advertise.0=SIZE", "ehlo.drop.0=DSN", "ehlo.eightbit=REJECT"),
     GW_CAP_SIZE, T_PASS, "DSN", GW_EIGHTBIT_REJECT},
};

static void
test_ehlo_check(const struct test_ehlo_value *t, const struct gw_config *cfg)
{
    char drop[GW_EHLO_MAX_DROP * GW_NAME_MAX];
    size_t len = 0;
    size_t i;

    drop[0] = '\0';
    for (i = 0; i < cfg->ehlo.ndrop; i++) {
        len += (size_t)snprintf(drop + len, sizeof(drop) - len, "%s%s",
                                i == 0 ? "" : " ", cfg->ehlo.drop[i]);
        assert_true(len < sizeof(drop));
    }
    if (cfg->ehlo.advertise != t->advertise || cfg->ehlo.pass != t->pass ||
        strcmp(drop, t->drop) != 0 || cfg->ehlo.eightbit != t->eightbit) {
        print_error("[%s] advertise=%#x pass=%#x drop=\"%s\" eightbit=%d\n",
                    t->label, (unsigned)cfg->ehlo.advertise,
                    (unsigned)cfg->ehlo.pass, drop, (int)cfg->ehlo.eightbit);
    }
    assert_int_equal(cfg->ehlo.advertise, t->advertise);
    assert_int_equal(cfg->ehlo.pass, t->pass);
    assert_string_equal(drop, t->drop);
    assert_int_equal(cfg->ehlo.eightbit, t->eightbit);
}

static void
test_ehlo(void **state)
{
    (void)state;
    test_run_cases(test_ehlo_cases, T_NELEMS(test_ehlo_cases));
}

/* Each row loads to the expected values, and print -> load round-trips. */
static void
test_ehlo_values_apply(void **state)
{
    const struct test_ehlo_value *t;
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char yaml[1024];
    char path[64];
    char *text;
    size_t nov;
    size_t i;

    (void)state;
    for (i = 0; i < T_NELEMS(test_ehlo_values); i++) {
        t = &test_ehlo_values[i];
        assert_true(snprintf(yaml, sizeof(yaml), "%s" T_BASE, t->yaml) <
                    (int)sizeof(yaml));
        for (nov = 0; t->ov != NULL && t->ov[nov] != NULL; nov++) {
        }
        cfg = test_load(yaml, t->ov, nov, &errs, path, sizeof(path));
        if (cfg == NULL) {
            print_error("[%s] does not load:\n", t->label);
            test_dump_errors(&errs);
        }
        assert_non_null(cfg);
        test_ehlo_check(t, cfg);
        text = test_round_trip(cfg);
        free(text);
        gw_config_unref(cfg);
    }
}

/* Every bad keyword of a list is reported, in file order. */
static void
test_ehlo_errors_collected(void **state)
{
    static const char yaml[] = "ehlo:\n"
                               "  advertise: [DSN, SIZE, XCLIENT]\n"
                               "  pass:\n"
                               "    - DSN\n"
                               "    - CHUNKING\n"
                               "  drop: \"a b\"\n"
                               "  eightbit: no\n" T_BASE;
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];
    size_t plen;

    (void)state;
    cfg = test_load(yaml, NULL, 0, &errs, path, sizeof(path));
    assert_null(cfg);
    if (errs.count != 4) {
        test_dump_errors(&errs);
    }
    assert_int_equal(errs.count, 4);
    plen = strlen(path);
    assert_string_equal(errs.msg[0] + plen,
                        ":2:15: ehlo.advertise.0: 'DSN' goes in ehlo.pass: "
                        "it is offered only when the upstream offers it");
    assert_string_equal(errs.msg[1] + plen,
                        ":2:26: ehlo.advertise.2: Postern cannot honour "
                        "'XCLIENT' end to end, so it never offers it");
    assert_string_equal(errs.msg[2] + plen,
                        ":5:7: ehlo.pass.1: 'CHUNKING' goes in "
                        "ehlo.advertise: Postern offers it itself, whatever "
                        "the upstream offers");
    assert_string_equal(errs.msg[3] + plen,
                        ":7:13: ehlo.eightbit: expected one of pass, reject, "
                        "got 'no'");
}

/* Quick mode starts from the same defaults, and -o works on it. */
static void
test_ehlo_quick_mode(void **state)
{
    static const char *const ov[] = {"ehlo.advertise=pipelining,size",
                                     "ehlo.pass.0=SMTPUTF8",
                                     "ehlo.drop.0=8BIT*"};
    struct gw_config_errors errs;
    struct gw_config *cfg;

    (void)state;
    cfg = gw_config_quick("127.0.0.1:2525", "127.0.0.1:2526", NULL, 0, &errs);
    assert_non_null(cfg);
    test_ehlo_is_default(&cfg->ehlo);
    gw_config_unref(cfg);

    cfg = gw_config_quick("127.0.0.1:2525", "127.0.0.1:2526", ov, T_NELEMS(ov),
                          &errs);
    assert_non_null(cfg);
    assert_int_equal(cfg->ehlo.advertise, GW_CAP_PIPELINING | GW_CAP_SIZE);
    assert_int_equal(cfg->ehlo.pass, GW_CAP_SMTPUTF8);
    assert_int_equal(cfg->ehlo.ndrop, 1);
    assert_string_equal(cfg->ehlo.drop[0], "8BIT*");
    assert_int_equal(cfg->ehlo.eightbit, GW_EIGHTBIT_PASS);
    gw_config_unref(cfg);
}

static void
test_refcount(void **state)
{
    struct gw_config_errors errs;
    struct gw_config *cfg;
    char path[64];

    (void)state;
    cfg = test_load(T_BASE, NULL, 0, &errs, path, sizeof(path));
    assert_non_null(cfg);
    gw_config_ref(cfg);
    assert_int_equal(cfg->refs, 2);
    gw_config_unref(cfg);
    assert_int_equal(cfg->refs, 1);
    gw_config_unref(cfg); /* frees; ASan and valgrind check */
    gw_config_unref(NULL);
    gw_config_ref(NULL);
}

/* Every allocation in turn fails: the result is a config or NULL with an
 * "out of memory" error, never a crash or a leak. */
static void
test_allocation_failures(void **state)
{
    static const char *const ov[] = {"listeners.1.address=127.0.0.1:2600",
                                     "limits.recipients=200"};
    struct gw_config_errors errs;
    struct gw_config *cfg = NULL;
    char path[64];
    long n;

    (void)state;
    test_write_file(test_full_yaml, strlen(test_full_yaml), path, sizeof(path));
    for (n = 0; n < 100000 && cfg == NULL; n++) {
        gw_alloc_fail_after(n);
        cfg = gw_config_load(path, ov, T_NELEMS(ov), &errs);
        gw_alloc_fail_after(-1);
        if (cfg == NULL) {
            assert_true(test_has_error(&errs, path, "out of memory"));
        }
    }
    unlink(path);
    assert_non_null(cfg);
    assert_true(n > 10);
    gw_config_unref(cfg);

    cfg = NULL;
    for (n = 0; n < 100000 && cfg == NULL; n++) {
        gw_alloc_fail_after(n);
        cfg = gw_config_quick("127.0.0.1:25", "127.0.0.1:26", ov, T_NELEMS(ov),
                              &errs);
        gw_alloc_fail_after(-1);
        if (cfg == NULL) {
            assert_true(test_has_error(&errs, "", "out of memory"));
        }
    }
    assert_non_null(cfg);
    gw_config_unref(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_minimal_gets_defaults),
        cmocka_unit_test(test_every_key_applied),
        cmocka_unit_test(test_errors_are_collected),
        cmocka_unit_test(test_too_many_errors),
        cmocka_unit_test(test_document_bounds),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_overrides_apply),
        cmocka_unit_test(test_override_errors),
        cmocka_unit_test(test_quick_mode),
        cmocka_unit_test(test_parse_addr),
        cmocka_unit_test(test_print_round_trip),
        cmocka_unit_test(test_print_policy),
        cmocka_unit_test(test_sample_config),
        cmocka_unit_test(test_ehlo),
        cmocka_unit_test(test_ehlo_values_apply),
        cmocka_unit_test(test_ehlo_errors_collected),
        cmocka_unit_test(test_ehlo_quick_mode),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_allocation_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
