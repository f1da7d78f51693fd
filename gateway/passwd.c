/*
 * `postern passwd USER`: prints "USER:HASH" for a listener's auth.users
 * file. The password is read from the terminal without echo (twice), or
 * as one line from standard input when that is not a terminal (scripts).
 */
#include "gateway/passwd.h"

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <crypt.h>
#include <mbedtls/platform_util.h>

#include "gateway/gw_sasl.h"
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

int
gw_passwd_main(int argc, char **argv)
{
    char pass[GW_SASL_PASS_MAX + 2];
    char again[GW_SASL_PASS_MAX + 2];
    char hash[CRYPT_OUTPUT_SIZE];
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
    } else if (!gw_users_hash_new(pass, hash, sizeof(hash))) {
        fprintf(stderr, "postern passwd: libcrypt could not hash\n");
        ok = false;
    } else {
        printf("%s:%s\n", argv[2], hash);
    }
    mbedtls_platform_zeroize(pass, sizeof(pass));
    mbedtls_platform_zeroize(again, sizeof(again));
    return ok ? 0 : 1;
}
