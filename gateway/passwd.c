/*
 * `postern passwd USER`: prints "USER:HASH:SCRAM" for a listener's
 * auth.users file: a crypt(3) hash for PLAIN and LOGIN, SCRAM-SHA-256 keys
 * for that mechanism. The password is read from the terminal without echo (twice), or
 * as one line from standard input when that is not a terminal (scripts).
 */
#include "gateway/passwd.h"

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <sys/random.h>
#include <unistd.h>

#include <crypt.h>
#include <mbedtls/platform_util.h>

#include "gateway/gw_sasl.h"
#include "gateway/gw_scram.h"
#include "gateway/gw_users.h"

/* One line from fp into buf, without its newline; false on EOF, on a line
 * too long for a password, or on an empty one. */
static bool
gw_passwd_line(FILE *fp, char *buf, size_t cap)
{
    size_t n;

    if (fgets(buf, (int)cap, fp) == NULL) {
        return false;
    }
    n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n == cap - 1) {
        return false; /* no newline within the limit */
    }
    buf[n] = '\0';
    return n > 0;
}

static bool
gw_passwd_prompt(const char *prompt, char *buf, size_t cap)
{
    struct termios old;
    struct termios quiet;
    bool ok;

    fputs(prompt, stderr);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) != 0) {
        return false;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    ok = gw_passwd_line(stdin, buf, cap);
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    return ok;
}

static bool
gw_passwd_user_ok(const char *user)
{
    size_t n = strlen(user);
    size_t i;

    if (n == 0 || n > GW_SASL_USER_MAX) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)user[i];

        if (c <= 0x20 || c == 0x7f || c == ':') {
            return false;
        }
    }
    return true;
}

/* SCRAM-SHA-256 keys (fresh salt) in the users-file form. */
static bool
gw_passwd_scram(const char *pass, char *dst, size_t cap)
{
    uint8_t salt[GW_SCRAM_SALT_LEN];
    struct gw_scram_keys k;
    bool ok;

    ok = getrandom(salt, sizeof(salt), 0) == (ssize_t)sizeof(salt) &&
         gw_scram_keys_derive(pass, strlen(pass), salt, sizeof(salt),
                              GW_USERS_SCRAM_ITER, &k) &&
         gw_scram_keys_format(dst, cap, &k) > 0;
    mbedtls_platform_zeroize(&k, sizeof(k));
    return ok;
}

int
gw_passwd_main(int argc, char **argv)
{
    char pass[GW_SASL_PASS_MAX + 2];
    char again[GW_SASL_PASS_MAX + 2];
    char hash[CRYPT_OUTPUT_SIZE];
    char scram[GW_SCRAM_KEYS_STR_MAX + 1];
    bool ok;

    if (argc != 3 || !gw_passwd_user_ok(argv[2])) {
        fprintf(stderr, "usage: postern passwd USER\n"
                "USER: 1 to %d octets, no spaces, control characters or "
                "':'\n", GW_SASL_USER_MAX);
        return 2;
    }
    if (isatty(STDIN_FILENO)) {
        ok = gw_passwd_prompt("Password: ", pass, sizeof(pass)) &&
             gw_passwd_prompt("Again: ", again, sizeof(again));
        if (ok && strcmp(pass, again) != 0) {
            fprintf(stderr, "postern passwd: the passwords differ\n");
            ok = false;
        }
    } else {
        ok = gw_passwd_line(stdin, pass, sizeof(pass));
    }
    if (!ok) {
        fprintf(stderr, "postern passwd: no password (1 to %d octets) read\n",
                GW_SASL_PASS_MAX);
    } else if (!gw_users_hash_new(pass, hash, sizeof(hash)) ||
               !gw_passwd_scram(pass, scram, sizeof(scram))) {
        fprintf(stderr, "postern passwd: could not hash the password\n");
        ok = false;
    } else {
        printf("%s:%s:%s\n", argv[2], hash, scram);
    }
    mbedtls_platform_zeroize(pass, sizeof(pass));
    mbedtls_platform_zeroize(again, sizeof(again));
    return ok ? 0 : 1;
}
