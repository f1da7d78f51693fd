#include "gateway/gw_tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_clock.h"
#include "gateway/gw_log.h"
#include "gateway/gw_str.h"

#define GW_TOKENS_USER_MAX 255
#define GW_TOKENS_MAX_ENTRIES 100000u
#define GW_TOKENS_MAX_BYTES (32u << 20)

static void gw_tokens_why(char *why, size_t cap, const char *fmt, ...)
    GW_PRINTF(3, 4);

static void
gw_tokens_why(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

static void
gw_tokens_sha256(const uint8_t *p, size_t len, uint8_t out[32])
{
    (void)mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), p, len,
                     out);
}

void
gw_tokens_hash_hex(const uint8_t *p, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t h[32];
    size_t i;

    gw_tokens_sha256(p, len, h);
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 0xf];
    }
    hex[64] = '\0';
}

enum gw_token_result
gw_tokens_check(const struct gw_tokens *t, const char *token, size_t len,
                char *user, size_t cap)
{
    if (len == 0 || len > GW_TOKEN_MAX || cap == 0) {
        return GW_TOKEN_INVALID;
    }
    user[0] = '\0';
    return t->ops->check(t, token, len, user, cap);
}

void
gw_tokens_free(struct gw_tokens *t)
{
    if (t != NULL) {
        t->ops->free(t);
    }
}

/* ---- the file backend ------------------------------------------------ */

struct gw_token_entry {
    uint8_t hash[32];
    char user[GW_TOKENS_USER_MAX + 1];
};

struct gw_tokens_file {
    struct gw_tokens base;
    struct gw_token_entry *entries; /* sorted by hash */
    size_t count;
};

static int
gw_tokens_entry_cmp(const void *a, const void *b)
{
    return memcmp(((const struct gw_token_entry *)a)->hash,
                  ((const struct gw_token_entry *)b)->hash, 32);
}

static enum gw_token_result
gw_tokens_file_check(const struct gw_tokens *t, const char *token, size_t len,
                     char *user, size_t cap)
{
    const struct gw_tokens_file *f = (const struct gw_tokens_file *)t;
    struct gw_token_entry key;
    const struct gw_token_entry *e;

    gw_tokens_sha256((const uint8_t *)token, len, key.hash);
    e = bsearch(&key, f->entries, f->count, sizeof(*f->entries),
                gw_tokens_entry_cmp);
    if (e == NULL) {
        return GW_TOKEN_INVALID;
    }
    gw_strlcpy(user, e->user, cap);
    return GW_TOKEN_OK;
}

static void
gw_tokens_file_free(struct gw_tokens *t)
{
    struct gw_tokens_file *f = (struct gw_tokens_file *)t;

    gw_free(f->entries);
    gw_free(f);
}

static const struct gw_token_ops gw_tokens_file_ops = {
    "file", gw_tokens_file_check, gw_tokens_file_free};

/* "user:64 hex digits" into e. */
static bool
gw_tokens_file_line(const char *line, struct gw_token_entry *e)
{
    const char *colon = strrchr(line, ':');
    size_t ulen;
    size_t i;

    if (colon == NULL || strlen(colon + 1) != 64) {
        return false;
    }
    ulen = (size_t)(colon - line);
    if (ulen == 0 || ulen > GW_TOKENS_USER_MAX) {
        return false;
    }
    for (i = 0; i < ulen; i++) {
        if ((unsigned char)line[i] <= 0x20 || line[i] == 0x7f) {
            return false;
        }
    }
    for (i = 0; i < 32; i++) {
        int hi = gw_hex_value((uint8_t)colon[1 + 2 * i]);
        int lo = gw_hex_value((uint8_t)colon[2 + 2 * i]);

        if (hi < 0 || lo < 0) {
            return false;
        }
        e->hash[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(e->user, line, ulen);
    e->user[ulen] = '\0';
    return true;
}

struct gw_tokens *
gw_tokens_file_load(const char *path, char *why, size_t why_cap)
{
    struct gw_tokens_file *f = gw_calloc(1, sizeof(*f));
    FILE *fp = fopen(path, "r");
    char line[GW_TOKENS_USER_MAX + 80];
    size_t lineno = 0;
    size_t cap = 0;
    size_t i;

    if (f == NULL || fp == NULL) {
        gw_tokens_why(why, why_cap, "cannot open: %s",
                      fp == NULL ? strerror(errno) : "out of memory");
        goto fail;
    }
    f->base.ops = &gw_tokens_file_ops;
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t n = strcspn(line, "\r\n");

        lineno++;
        if (line[n] == '\0' && !feof(fp)) {
            gw_tokens_why(why, why_cap, "%zu: line too long", lineno);
            goto fail;
        }
        line[n] = '\0';
        if (n == 0 || line[0] == '#') {
            continue;
        }
        if (f->count == cap) {
            struct gw_token_entry *grown;

            cap = cap == 0 ? 64 : cap * 2;
            if (cap > GW_TOKENS_MAX_ENTRIES ||
                (grown = gw_calloc(cap, sizeof(*grown))) == NULL) {
                gw_tokens_why(why, why_cap, "%zu: more than %u tokens",
                              lineno, GW_TOKENS_MAX_ENTRIES);
                goto fail;
            }
            if (f->count > 0) {
                memcpy(grown, f->entries, f->count * sizeof(*grown));
            }
            gw_free(f->entries);
            f->entries = grown;
        }
        if (!gw_tokens_file_line(line, &f->entries[f->count])) {
            gw_tokens_why(why, why_cap, "%zu: expected user:sha256-hex (64 "
                          "hex digits of the token's SHA-256)", lineno);
            goto fail;
        }
        f->count++;
    }
    fclose(fp);
    qsort(f->entries, f->count, sizeof(*f->entries), gw_tokens_entry_cmp);
    for (i = 1; i < f->count; i++) {
        if (gw_tokens_entry_cmp(&f->entries[i - 1], &f->entries[i]) == 0) {
            gw_tokens_why(why, why_cap, "the same token is listed twice "
                          "(users %s and %s)", f->entries[i - 1].user,
                          f->entries[i].user);
            gw_tokens_file_free(&f->base);
            return NULL;
        }
    }
    return &f->base;
fail:
    if (fp != NULL) {
        fclose(fp);
    }
    if (f != NULL) {
        gw_tokens_file_free(&f->base);
    }
    return NULL;
}

/* ---- the command backend --------------------------------------------- */

struct gw_tokens_command {
    struct gw_tokens base;
    char path[256];
    uint64_t timeout_ms;
};

/* Reads the child's output until EOF or the deadline; false on timeout. */
static bool
gw_tokens_read_all(int fd, char *buf, size_t cap, size_t *len,
                   uint64_t deadline)
{
    *len = 0;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = gw_clock_ms();
        ssize_t n;
        int rc;

        if (now >= deadline) {
            return false;
        }
        rc = poll(&pfd, 1, (int)(deadline - now));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            return false;
        }
        n = read(fd, buf + *len, cap - 1 - *len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            buf[*len] = '\0';
            return true; /* EOF (or an error: treated as the end) */
        }
        *len += (size_t)n;
        if (*len == cap - 1) {
            buf[*len] = '\0';
            return true; /* enough: the first line is all we use */
        }
    }
}

/* Waits for the child until the deadline, then kills it. Its exit status,
 * or -1 when it had to be killed. */
static int
gw_tokens_reap(pid_t pid, uint64_t deadline)
{
    int status = 0;

    while (gw_clock_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        usleep(2000);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return -1;
}

static enum gw_token_result
gw_tokens_command_check(const struct gw_tokens *t, const char *token,
                        size_t len, char *user, size_t cap)
{
    const struct gw_tokens_command *c = (const struct gw_tokens_command *)t;
    uint64_t deadline = gw_clock_ms() + c->timeout_ms;
    char *const argv[] = {(char *)c->path, NULL};
    char *const envp[] = {NULL};
    posix_spawn_file_actions_t fa;
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    char buf[GW_TOKENS_USER_MAX + 64];
    size_t n = 0;
    size_t ulen;
    bool read_ok;
    pid_t pid;
    int status;

    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        goto tempfail;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (posix_spawn(&pid, c->path, &fa, NULL, argv, envp) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        goto tempfail;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    in[0] = out[1] = -1;
    /* the token fits a pipe's buffer: this write does not block */
    if (write(in[1], token, len) != (ssize_t)len || write(in[1], "\n", 1) != 1) {
        /* the command may exit without reading: its status decides */
    }
    close(in[1]);
    in[1] = -1;
    buf[0] = '\0';
    read_ok = gw_tokens_read_all(out[0], buf, sizeof(buf), &n, deadline);
    buf[n] = '\0'; /* also after a timeout, which leaves it open */
    close(out[0]);
    out[0] = -1;
    status = gw_tokens_reap(pid, read_ok ? deadline : gw_clock_ms());
    if (status == 1) {
        return GW_TOKEN_INVALID;
    }
    ulen = strcspn(buf, "\r\n");
    if (status != 0 || !read_ok || ulen == 0 || ulen > GW_TOKENS_USER_MAX ||
        ulen >= cap) {
        return GW_TOKEN_TEMPFAIL;
    }
    buf[ulen] = '\0';
    for (n = 0; n < ulen; n++) {
        if ((unsigned char)buf[n] < 0x21 || buf[n] == 0x7f) {
            return GW_TOKEN_TEMPFAIL;
        }
    }
    memcpy(user, buf, ulen + 1);
    return GW_TOKEN_OK;
tempfail:
    for (n = 0; n < 2; n++) {
        if (in[n] >= 0) {
            close(in[n]);
        }
        if (out[n] >= 0) {
            close(out[n]);
        }
    }
    return GW_TOKEN_TEMPFAIL;
}

static void
gw_tokens_command_free(struct gw_tokens *t)
{
    gw_free(t);
}

static const struct gw_token_ops gw_tokens_command_ops = {
    "command", gw_tokens_command_check, gw_tokens_command_free};

struct gw_tokens *
gw_tokens_command_new(const char *path, uint64_t timeout_ms, char *why,
                      size_t why_cap)
{
    struct gw_tokens_command *c;

    if (strlen(path) >= sizeof(c->path) || path[0] != '/' ||
        access(path, X_OK) != 0) {
        gw_tokens_why(why, why_cap, "not an executable absolute path: %s",
                      access(path, X_OK) != 0 ? strerror(errno) : "too long");
        return NULL;
    }
    c = gw_calloc(1, sizeof(*c));
    if (c == NULL) {
        gw_tokens_why(why, why_cap, "out of memory");
        return NULL;
    }
    c->base.ops = &gw_tokens_command_ops;
    memcpy(c->path, path, strlen(path) + 1);
    c->timeout_ms = timeout_ms;
    return &c->base;
}
