#include "gateway/gw_users.h"

#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_log.h"
#include "gateway/gw_sasl.h"
#include "gateway/gw_scram.h"
#include "gateway/gw_str.h"

struct gw_user_entry {
    const char *name; /* into blob, NUL-terminated */
    size_t name_len;
    const char *hash; /* into blob */
    const char *scram; /* into blob (validated), or NULL */
};

struct gw_users {
    char *blob; /* the file, its separators turned into NULs */
    size_t blob_len;
    struct gw_user_entry *entries;
    size_t count;
    char dummy[CRYPT_OUTPUT_SIZE];
    uint8_t scram_secret[32]; /* for fake SCRAM keys */
};

static void gw_users_why(char *why, size_t cap, const char *fmt, ...)
    GW_PRINTF(3, 4);

static void
gw_users_why(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

static int
gw_users_cmp(const void *a, const void *b)
{
    const struct gw_user_entry *x = a;
    const struct gw_user_entry *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);

    if (c != 0) {
        return c;
    }
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static char *
gw_users_read(const char *path, size_t *len, char *why, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    char *buf;

    if (fp == NULL) {
        gw_users_why(why, cap, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) != 0 || st.st_size < 0 ||
        (uint64_t)st.st_size > GW_USERS_MAX_BYTES) {
        gw_users_why(why, cap, "larger than %u MiB, the limit for a users "
                     "file", GW_USERS_MAX_BYTES >> 20);
        fclose(fp);
        return NULL;
    }
    buf = gw_alloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        gw_users_why(why, cap, "out of memory");
        fclose(fp);
        return NULL;
    }
    *len = fread(buf, 1, (size_t)st.st_size, fp);
    if (ferror(fp) != 0) {
        gw_users_why(why, cap, "cannot read: %s", strerror(errno));
        fclose(fp);
        gw_free(buf);
        return NULL;
    }
    fclose(fp);
    buf[*len] = '\0';
    return buf;
}

static bool
gw_users_name_ok(const char *p, size_t len)
{
    size_t i;

    if (len == 0 || len > GW_SASL_USER_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c <= 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

static const char *
gw_users_hash_problem(const char *hash)
{
    switch (crypt_checksalt(hash)) {
    case CRYPT_SALT_OK:
        return NULL;
    case CRYPT_SALT_METHOD_LEGACY:
        return "a legacy hash method (DES or MD5): rehash it with "
               "'postern passwd'";
    case CRYPT_SALT_TOO_CHEAP:
        return "a hash with too low a cost: rehash it with 'postern passwd'";
    default:
        return "not a crypt(3) hash this system's libcrypt accepts";
    }
}

/* Parses one line (NUL-terminated, no newline) into e. */
static bool
gw_users_line(char *line, struct gw_user_entry *e, char *why, size_t cap,
              size_t lineno)
{
    char *colon = strchr(line, ':');
    char *scram;
    const char *problem;

    if (colon == NULL) {
        gw_users_why(why, cap, "%zu: expected user:hash", lineno);
        return false;
    }
    *colon = '\0';
    if (!gw_users_name_ok(line, (size_t)(colon - line))) {
        gw_users_why(why, cap, "%zu: the user name must be 1 to %d octets "
                     "without spaces or control characters", lineno,
                     GW_SASL_USER_MAX);
        return false;
    }
    /* crypt(3) hashes hold no ':'; SCRAM keys do, so they come last */
    scram = strchr(colon + 1, ':');
    if (scram != NULL) {
        struct gw_scram_keys k;

        *scram++ = '\0';
        if (!gw_scram_keys_parse(scram, strlen(scram), &k)) {
            gw_users_why(why, cap, "%zu: user %s: the third field is not "
                         "SCRAM-SHA-256 keys as postern passwd writes them",
                         lineno, line);
            return false;
        }
        mbedtls_platform_zeroize(&k, sizeof(k));
    }
    problem = gw_users_hash_problem(colon + 1);
    if (problem != NULL) {
        gw_users_why(why, cap, "%zu: user %s: %s", lineno, line, problem);
        return false;
    }
    e->name = line;
    e->name_len = (size_t)(colon - line);
    e->hash = colon + 1;
    e->scram = scram;
    return true;
}

/* Splits the blob into entries (count them first: one allocation). */
static bool
gw_users_parse(struct gw_users *u, size_t len, char *why, size_t cap)
{
    size_t lines = 1;
    size_t lineno = 0;
    char *p = u->blob;
    char *end = u->blob + len;
    size_t i;

    for (i = 0; i < len; i++) {
        lines += u->blob[i] == '\n';
    }
    u->entries = gw_calloc(lines, sizeof(*u->entries));
    if (u->entries == NULL) {
        gw_users_why(why, cap, "out of memory");
        return false;
    }
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line = p;
        size_t n;

        lineno++;
        if (nl == NULL) {
            nl = end;
        }
        *nl = '\0';
        p = nl + 1;
        n = strlen(line);
        if (n != (size_t)(nl - line)) {
            gw_users_why(why, cap, "%zu: NUL octet in the line", lineno);
            return false;
        }
        if (n > 0 && line[n - 1] == '\r') {
            line[--n] = '\0';
        }
        if (n > GW_USERS_LINE_MAX) {
            gw_users_why(why, cap, "%zu: line longer than %u octets", lineno,
                         GW_USERS_LINE_MAX);
            return false;
        }
        if (n == 0 || line[0] == '#') {
            continue;
        }
        if (u->count == GW_USERS_MAX_ENTRIES) {
            gw_users_why(why, cap, "%zu: more than %u users", lineno,
                         GW_USERS_MAX_ENTRIES);
            return false;
        }
        if (!gw_users_line(line, &u->entries[u->count], why, cap, lineno)) {
            return false;
        }
        u->count++;
    }
    return true;
}

struct gw_users *
gw_users_load(const char *path, char *why, size_t why_cap)
{
    struct gw_users *u = gw_calloc(1, sizeof(*u));
    size_t len = 0;
    size_t i;

    if (u == NULL) {
        gw_users_why(why, why_cap, "out of memory");
        return NULL;
    }
    u->blob = gw_users_read(path, &len, why, why_cap);
    u->blob_len = len;
    if (u->blob == NULL || !gw_users_parse(u, len, why, why_cap)) {
        gw_users_free(u);
        return NULL;
    }
    qsort(u->entries, u->count, sizeof(*u->entries), gw_users_cmp);
    for (i = 1; i < u->count; i++) {
        if (gw_users_cmp(&u->entries[i - 1], &u->entries[i]) == 0) {
            gw_users_why(why, why_cap, "user %s is listed twice",
                         u->entries[i].name);
            gw_users_free(u);
            return NULL;
        }
    }
    /* Fake SCRAM salts must look the same from every worker and across
     * reloads, or a changing salt would tell a user without keys from one
     * with: the secret is a hash of the file (its hashes and keys are
     * secret already), stable until the file changes. */
    (void)mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                     (const unsigned char *)u->blob, len, u->scram_secret);
    if (!gw_users_hash_new("postern-dummy", u->dummy, sizeof(u->dummy))) {
        gw_users_why(why, why_cap, "libcrypt cannot make a hash");
        gw_users_free(u);
        return NULL;
    }
    return u;
}

void
gw_users_free(struct gw_users *u)
{
    if (u == NULL) {
        return;
    }
    if (u->blob != NULL) { /* hashes and SCRAM keys */
        mbedtls_platform_zeroize(u->blob, u->blob_len);
    }
    mbedtls_platform_zeroize(u->scram_secret, sizeof(u->scram_secret));
    gw_free(u->entries);
    gw_free(u->blob);
    gw_free(u);
}

size_t
gw_users_count(const struct gw_users *u)
{
    return u->count;
}

const char *
gw_users_hash(const struct gw_users *u, const char *user, size_t user_len)
{
    struct gw_user_entry key = {user, user_len, NULL, NULL};
    const struct gw_user_entry *e;

    e = bsearch(&key, u->entries, u->count, sizeof(*u->entries),
                gw_users_cmp);
    return e != NULL ? e->hash : NULL;
}

bool
gw_users_scram_keys(const struct gw_users *u, const char *user,
                    size_t user_len, struct gw_scram_keys *k)
{
    struct gw_user_entry key = {user, user_len, NULL, NULL};
    const struct gw_user_entry *e;

    e = bsearch(&key, u->entries, u->count, sizeof(*u->entries),
                gw_users_cmp);
    if (e != NULL && e->scram != NULL &&
        gw_scram_keys_parse(e->scram, strlen(e->scram), k)) {
        return true;
    }
    gw_scram_keys_fake(u->scram_secret, user, user_len, GW_USERS_SCRAM_ITER,
                       k);
    return false;
}

const char *
gw_users_dummy_hash(const struct gw_users *u)
{
    return u->dummy;
}

bool
gw_users_check(const char *hash, const char *pass)
{
    struct crypt_data *cd = gw_calloc(1, sizeof(*cd));
    bool ok = false;

    if (cd == NULL) {
        return false;
    }
    if (crypt_rn(pass, hash, cd, (int)sizeof(*cd)) != NULL &&
        cd->output[0] != '*') {
        /* the lengths are the method's, not secret; the bytes are */
        ok = strlen(cd->output) == strlen(hash) &&
             gw_ct_equal(cd->output, hash, strlen(hash));
    }
    mbedtls_platform_zeroize(cd, sizeof(*cd));
    gw_free(cd);
    return ok;
}

bool
gw_users_hash_new(const char *pass, char *dst, size_t cap)
{
    struct crypt_data *cd;
    char *salt = crypt_gensalt_ra(NULL, 0, NULL, 0);
    bool ok = false;

    if (salt == NULL) {
        return false;
    }
    cd = gw_calloc(1, sizeof(*cd));
    if (cd != NULL && crypt_rn(pass, salt, cd, (int)sizeof(*cd)) != NULL &&
        cd->output[0] != '*' && strlen(cd->output) < cap) {
        memcpy(dst, cd->output, strlen(cd->output) + 1);
        ok = true;
    }
    if (cd != NULL) {
        mbedtls_platform_zeroize(cd, sizeof(*cd));
    }
    gw_free(cd);
    free(salt); /* from libcrypt's malloc */
    return ok;
}
