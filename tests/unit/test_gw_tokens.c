/* Bearer token backends: the hashed file and the local command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/gw_tokens.h"

static char g_dir[64];

static int
setup(void **state)
{
    (void)state;
    strcpy(g_dir, "/tmp/postern-tokens-XXXXXX");
    return mkdtemp(g_dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd);
}

static const char *
write_file(const char *name, const char *text, mode_t mode)
{
    static char path[128];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    chmod(path, mode);
    return path;
}

#define TOK(s) (s), strlen(s)

static void
test_hash_hex(void **state)
{
    char hex[65];

    (void)state;
    gw_tokens_hash_hex((const uint8_t *)"abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
}

static void
test_file_backend(void **state)
{
    char text[512];
    char h1[65];
    char h2[65];
    char user[256];
    char why[256];
    struct gw_tokens *t;

    (void)state;
    gw_tokens_hash_hex((const uint8_t *)"tok-alice", 9, h1);
    gw_tokens_hash_hex((const uint8_t *)"tok-bob", 7, h2);
    snprintf(text, sizeof(text), "# tokens\n\nalice@example.org:%s\r\nbob:%s",
             h1, h2);
    t = gw_tokens_file_load(write_file("tokens", text, 0600), why,
                            sizeof(why));
    assert_non_null(t);
    assert_int_equal(gw_tokens_check(t, TOK("tok-alice"), user, sizeof(user)),
                     GW_TOKEN_OK);
    assert_string_equal(user, "alice@example.org");
    assert_int_equal(gw_tokens_check(t, TOK("tok-bob"), user, sizeof(user)),
                     GW_TOKEN_OK);
    assert_string_equal(user, "bob");
    assert_int_equal(gw_tokens_check(t, TOK("tok-eve"), user, sizeof(user)),
                     GW_TOKEN_INVALID);
    assert_int_equal(gw_tokens_check(t, "", 0, user, sizeof(user)),
                     GW_TOKEN_INVALID);
    gw_tokens_free(t);
}

static void
test_file_refusals(void **state)
{
    char text[512];
    char h[65];
    char why[256];

    (void)state;
    gw_tokens_hash_hex((const uint8_t *)"x", 1, h);
    assert_null(gw_tokens_file_load(write_file("t1", "alice:abc\n", 0600), why,
                                    sizeof(why)));
    assert_non_null(strstr(why, "1: expected user:sha256-hex"));
    snprintf(text, sizeof(text), "# c\n:%s\n", h);
    assert_null(gw_tokens_file_load(write_file("t2", text, 0600), why,
                                    sizeof(why)));
    assert_non_null(strstr(why, "2: expected"));
    snprintf(text, sizeof(text), "a:%s\nb:%s\n", h, h);
    assert_null(gw_tokens_file_load(write_file("t3", text, 0600), why,
                                    sizeof(why)));
    assert_non_null(strstr(why, "listed twice"));
    h[10] = 'g';
    snprintf(text, sizeof(text), "a:%s\n", h);
    assert_null(gw_tokens_file_load(write_file("t4", text, 0600), why,
                                    sizeof(why)));
    assert_null(gw_tokens_file_load("/nonexistent/tokens", why, sizeof(why)));
    assert_non_null(strstr(why, "cannot open"));
}

static void
test_command_backend(void **state)
{
    const char *script =
        "#!/bin/sh\n"
        "read -r tok\n"
        "case \"$tok\" in\n"
        "  good) echo alice@example.org; exit 0 ;;\n"
        "  slow) sleep 5; echo late; exit 0 ;;\n"
        "  crash) kill -9 $$ ;;\n"
        "  env) [ -z \"$POSTERN_TEST_MARK\" ] && echo clean-env || echo dirty; "
        "exit 0 ;;\n"
        "  *) exit 1 ;;\n"
        "esac\n";
    char user[256];
    char why[256];
    struct gw_tokens *t;
    struct timespec a;
    struct timespec b;
    long ms;

    (void)state;
    setenv("POSTERN_TEST_MARK", "leaked", 1);
    t = gw_tokens_command_new(write_file("check", script, 0700), 300, why,
                              sizeof(why));
    assert_non_null(t);
    assert_int_equal(gw_tokens_check(t, TOK("good"), user, sizeof(user)),
                     GW_TOKEN_OK);
    assert_string_equal(user, "alice@example.org");
    assert_int_equal(gw_tokens_check(t, TOK("bad"), user, sizeof(user)),
                     GW_TOKEN_INVALID);
    assert_int_equal(gw_tokens_check(t, TOK("crash"), user, sizeof(user)),
                     GW_TOKEN_TEMPFAIL);
    /* an empty environment: nothing of ours leaks into the command */
    assert_int_equal(gw_tokens_check(t, TOK("env"), user, sizeof(user)),
                     GW_TOKEN_OK);
    assert_string_equal(user, "clean-env");
    /* a command that does not answer in time is killed: tempfail */
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(gw_tokens_check(t, TOK("slow"), user, sizeof(user)),
                     GW_TOKEN_TEMPFAIL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms < 3000);
    gw_tokens_free(t);
    assert_null(gw_tokens_command_new("relative/path", 300, why, sizeof(why)));
    assert_null(gw_tokens_command_new(write_file("noexec", "x", 0600), 300,
                                      why, sizeof(why)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_hex),
        cmocka_unit_test(test_file_backend),
        cmocka_unit_test(test_file_refusals),
        cmocka_unit_test(test_command_backend),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
