/* The users file: parsing, refusals with line numbers, lookup, crypt(3)
 * checks; and the AUTH failure table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "gateway/gw_authfail.h"
#include "gateway/gw_scram.h"
#include "gateway/gw_users.h"

static char g_path[64];

static void
write_file(const char *text)
{
    FILE *fp;

    strcpy(g_path, "/tmp/postern-users-XXXXXX");
    {
        int fd = mkstemp(g_path);

        assert_true(fd >= 0);
        close(fd);
    }
    fp = fopen(g_path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static struct gw_users *
load_text(const char *text, char *why, size_t cap)
{
    struct gw_users *u;

    write_file(text);
    why[0] = '\0';
    u = gw_users_load(g_path, why, cap);
    unlink(g_path);
    return u;
}

static void
test_hash_and_check(void **state)
{
    char hash[256];

    (void)state;
    assert_true(gw_users_hash_new("sekret", hash, sizeof(hash)));
    assert_true(hash[0] == '$');
    assert_true(gw_users_check(hash, "sekret"));
    assert_false(gw_users_check(hash, "sekreT"));
    assert_false(gw_users_check(hash, ""));
    /* a hash with nothing after the salt never matches */
    assert_false(gw_users_check("$6$saltsalt$", "x"));
    assert_false(gw_users_check("*", "x"));
    assert_false(gw_users_hash_new("sekret", hash, 8)); /* does not fit */
}

static void
test_load_and_lookup(void **state)
{
    char h1[256];
    char h2[256];
    char text[1024];
    char why[256];
    struct gw_users *u;

    (void)state;
    assert_true(gw_users_hash_new("pw-a", h1, sizeof(h1)));
    assert_true(gw_users_hash_new("pw-b", h2, sizeof(h2)));
    snprintf(text, sizeof(text),
             "# users of the submission port\r\n"
             "\n"
             "zed@example.org:%s\r\n"
             "alice@example.org:%s", /* no newline at the end */
             h1, h2);
    u = load_text(text, why, sizeof(why));
    assert_non_null(u);
    assert_int_equal(gw_users_count(u), 2);
    assert_string_equal(gw_users_hash(u, "zed@example.org", 15), h1);
    assert_string_equal(gw_users_hash(u, "alice@example.org", 17), h2);
    assert_null(gw_users_hash(u, "alice@example.or", 16));
    assert_null(gw_users_hash(u, "ALICE@example.org", 17)); /* exact */
    assert_true(gw_users_check(gw_users_hash(u, "alice@example.org", 17),
                               "pw-b"));
    /* the dummy hash exists and matches no ordinary password */
    assert_non_null(gw_users_dummy_hash(u));
    assert_false(gw_users_check(gw_users_dummy_hash(u), "pw-a"));
    gw_users_free(u);
}

static void
test_load_refusals(void **state)
{
    char h[256];
    char text[1024];
    char why[256];

    (void)state;
    assert_true(gw_users_hash_new("pw", h, sizeof(h)));
    assert_null(load_text("alice\n", why, sizeof(why)));
    assert_string_equal(why, "1: expected user:hash");
    snprintf(text, sizeof(text), "# c\n:%s\n", h);
    assert_null(load_text(text, why, sizeof(why)));
    assert_non_null(strstr(why, "2: the user name"));
    snprintf(text, sizeof(text), "al ice:%s\n", h);
    assert_null(load_text(text, why, sizeof(why)));
    assert_non_null(strstr(why, "1: the user name"));
    assert_null(load_text("bob:$1$abcdefgh$abcdefghijklmnopqrstuv\n", why,
                          sizeof(why)));
    assert_non_null(strstr(why, "1: user bob: a legacy hash method"));
    assert_null(load_text("bob:plaintext-password\n", why, sizeof(why)));
    assert_non_null(strstr(why, "legacy"));
    assert_null(load_text("bob:\n", why, sizeof(why)));
    assert_non_null(strstr(why, "not a crypt(3) hash"));
    snprintf(text, sizeof(text), "bob:%s\nann:%s\nbob:%s\n", h, h, h);
    assert_null(load_text(text, why, sizeof(why)));
    assert_string_equal(why, "user bob is listed twice");
    assert_null(gw_users_load("/nonexistent/users", why, sizeof(why)));
    assert_non_null(strstr(why, "cannot open"));
}

static void
test_load_long_line(void **state)
{
    char *text = malloc(GW_USERS_LINE_MAX + 16);
    char why[256];

    (void)state;
    assert_non_null(text);
    memset(text, 'a', GW_USERS_LINE_MAX + 8);
    text[GW_USERS_LINE_MAX + 8] = '\0';
    assert_null(load_text(text, why, sizeof(why)));
    assert_non_null(strstr(why, "1: line longer than"));
    free(text);
}

/* The optional third field: SCRAM-SHA-256 keys; fake keys otherwise. */
static void
test_scram_field(void **state)
{
    struct gw_scram_keys k;
    struct gw_scram_keys f1;
    struct gw_scram_keys f2;
    uint8_t salt[16] = {1, 2, 3};
    char keys[GW_SCRAM_KEYS_STR_MAX + 1];
    char hash[256];
    char text[1024];
    char why[256];
    struct gw_users *u;

    (void)state;
    assert_true(gw_users_hash_new("pw", hash, sizeof(hash)));
    assert_true(gw_scram_keys_derive("pw", 2, salt, sizeof(salt), 4096, &k));
    assert_true(gw_scram_keys_format(keys, sizeof(keys), &k) > 0);
    snprintf(text, sizeof(text), "alice:%s:%s\nbob:%s\n", hash, keys, hash);
    u = load_text(text, why, sizeof(why));
    assert_non_null(u);
    /* the crypt hash stays usable with keys after it */
    assert_true(gw_users_check(gw_users_hash(u, "alice", 5), "pw"));
    memset(&f1, 0, sizeof(f1));
    assert_true(gw_users_scram_keys(u, "alice", 5, &f1));
    assert_memory_equal(f1.stored_key, k.stored_key, 32);
    /* no keys, or no user: stable fake keys, and false */
    assert_false(gw_users_scram_keys(u, "bob", 3, &f1));
    assert_false(gw_users_scram_keys(u, "bob", 3, &f2));
    assert_memory_equal(&f1, &f2, sizeof(f1));
    assert_false(gw_users_scram_keys(u, "carol", 5, &f2));
    assert_memory_not_equal(f1.salt, f2.salt, f1.salt_len);
    gw_users_free(u);
    snprintf(text, sizeof(text), "alice:%s:SCRAM-SHA-256$1:xx\n", hash);
    assert_null(load_text(text, why, sizeof(why)));
    assert_non_null(strstr(why, "1: user alice: the third field"));
}

static struct sockaddr_in
v4(const char *ip)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static void
test_authfail_table(void **state)
{
    static struct gw_authfail t;
    struct sockaddr_in a = v4("192.0.2.1");
    struct sockaddr_in b = v4("192.0.2.2");
    struct sockaddr_in6 m;

    (void)state;
    gw_authfail_init(&t, 42);
    assert_int_equal(gw_authfail_count(&t, (struct sockaddr *)&a, 1000, 500),
                     0);
    assert_int_equal(gw_authfail_note(&t, (struct sockaddr *)&a, 1000, 500),
                     1);
    assert_int_equal(gw_authfail_note(&t, (struct sockaddr *)&a, 1100, 500),
                     2);
    assert_int_equal(gw_authfail_count(&t, (struct sockaddr *)&a, 1200, 500),
                     2);
    assert_int_equal(gw_authfail_count(&t, (struct sockaddr *)&b, 1200, 500),
                     0);
    /* the port does not matter; a v4-mapped v6 address is the same client */
    a.sin_port = htons(4242);
    memset(&m, 0, sizeof(m));
    m.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &m.sin6_addr), 1);
    assert_int_equal(gw_authfail_count(&t, (struct sockaddr *)&m, 1200, 500),
                     2);
    /* the window passes: forgotten, and a new failure starts at 1 */
    assert_int_equal(gw_authfail_count(&t, (struct sockaddr *)&a, 1601, 500),
                     0);
    assert_int_equal(gw_authfail_note(&t, (struct sockaddr *)&a, 1700, 500),
                     1);
}

static void
test_authfail_delay(void **state)
{
    (void)state;
    assert_int_equal(gw_authfail_delay(1000, 1), 1000);
    assert_int_equal(gw_authfail_delay(1000, 2), 2000);
    assert_int_equal(gw_authfail_delay(1000, 3), 4000);
    assert_int_equal(gw_authfail_delay(1000, 6), GW_AUTH_DELAY_CAP);
    assert_int_equal(gw_authfail_delay(1000, 4000000000u), GW_AUTH_DELAY_CAP);
    assert_int_equal(gw_authfail_delay(0, 9), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_check),
        cmocka_unit_test(test_load_and_lookup),
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test(test_load_long_line),
        cmocka_unit_test(test_scram_field),
        cmocka_unit_test(test_authfail_table),
        cmocka_unit_test(test_authfail_delay),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
