/*
 * libFuzzer target for gateway/gw_sasl.c, the server side of SMTP AUTH
 * (PLAIN, LOGIN, OAUTHBEARER, XOAUTH2, SCRAM-SHA-256), and its base64
 * helpers.
 *
 * Input: byte 0 picks the exchange, the rest is what the client sends,
 * split into lines at LF.
 *   bits 0-2  the mechanism: 0 PLAIN, 1 LOGIN, 2 OAUTHBEARER, 3 XOAUTH2,
 *             4 SCRAM-SHA-256; 5, 6, 7 wrap round (PLAIN, LOGIN,
 *             OAUTHBEARER)
 *   bit 3     1: the first line is the AUTH command's initial response;
 *             0: there is none (NULL) and every line answers a challenge
 *   bit 4     0: lines are sent as they are (base64, "*", junk);
 *             1: lines are the decoded messages and the target sends
 *             their base64 ("*" alone still goes as it is), so that
 *             mutations reach the mechanisms' own syntax
 * Lines are fed to gw_sasl_step while the exchange goes on: after
 * GW_SASL_CHALLENGE; after GW_SASL_NEED_KEYS, once the target has given
 * gw_sasl_scram_keys() the keys of "pencil" (derived once at start-up)
 * and a fixed 18-octet server nonce; after a token mechanism's
 * GW_SASL_DONE, once the target has refused the token as the caller does
 * (gw_sasl_wipe_pass, then gw_sasl_token_error), for the client's answer.
 *
 * Every call sees an exact-size heap copy of its line and an exact-size
 * challenge buffer, poisoned first, so ASan catches a read or write past
 * either: cap 32 (the smallest the header allows) for PLAIN and LOGIN,
 * GW_SASL_CHAL_MAX for the others. Checked after every call: the
 * challenge is NUL-terminated within cap and of the base64 alphabet;
 * gw_sasl_wipe_pass clears the password and the token and nothing else,
 * gw_sasl_wipe every byte; gw_sasl_scram_keys is refused (and changes
 * nothing) unless the status was GW_SASL_NEED_KEYS. The status is
 * E_CANCEL exactly for "*", E_BASE64 exactly for a line that is not
 * base64 (or decodes to more than any message may hold), and one the
 * mechanism and its step can give:
 *   PLAIN/LOGIN  as before: at most 12 challenge characters, LOGIN's
 *                "Username:"/"Password:" or PLAIN's empty one; on DONE
 *                user and pass are 1..255 octets, their lengths match
 *                strlen, and they are what the decoded lines carried
 *                (PLAIN's authzid empty or the user).
 *   OAUTHBEARER, XOAUTH2  no challenge but the empty first one; on DONE
 *                the token is 1..GW_SASL_TOKEN_MAX octets and strlen, no
 *                password, the user 0..255 and strlen; the decoded
 *                message ends with ^A^A and holds ^A "auth=Bearer "
 *                (key and scheme case-insensitive) token ^A. The grammar
 *                in gw_sasl.c's comments, re-parsed here: E_SYNTAX for
 *                what it refuses, DONE for what it takes when the tokens
 *                are RFC 6750 b64tokens (other octets may be refused);
 *                on DONE the token is the last auth= value's and the
 *                user OAUTHBEARER's authzid ("=2C", "=3D" decoded; none:
 *                empty) or XOAUTH2's last "user=" value (none: empty).
 *                The error challenge is base64 of a JSON object with
 *                "status" and "invalid_token"; the next line gives
 *                ERROR_ACK (or E_CANCEL, E_BASE64).
 *   SCRAM-SHA-256  NEED_KEYS only for the client-first, with its user
 *                1..255 octets and strlen; the server-first is base64 of
 *                "r=" c-nonce (as the client-first's r=) our s-nonce
 *                ",s=" salt ",i=4096"; E_PROOF only for the client-final;
 *                a challenge after the server-first only as the
 *                server-final, base64 of "v=" and 44 base64 characters;
 *                after it VERIFIED exactly for an empty line. VERIFIED is
 *                never seen otherwise (the fuzzer cannot find the proof;
 *                the seed scram_verified carries the true one).
 *
 * Also a round trip: the first 300 bytes of the input, base64-encoded and
 * decoded again, must come back unchanged. Any violation calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_sasl.h"
#include "gateway/gw_scram.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_SMALL_CAP 32 /* PLAIN, LOGIN: the smallest cap the header allows */
#define FZ_CHAL_MAX 12  /* "VXNlcm5hbWU6" */
#define FZ_B64_MAX 300  /* bytes of input for the round trip */
/* Decoding buffer: larger than the module's own, so that a line it must
 * refuse as too long still decodes here. */
#define FZ_MSG_MAX GW_SASL_LINE_MAX
/* RFC 4616 2: the longest PLAIN message, authzid NUL authcid NUL passwd */
#define FZ_DECODED_MAX (GW_SASL_USER_MAX * 2 + 2 + GW_SASL_PASS_MAX)
/* Up to this many decoded octets every mechanism must take a message
 * (a bearer token alone may be that long). */
#define FZ_BIG_DECODED_MAX GW_SASL_TOKEN_MAX

/* SCRAM: the keys of "pencil" with RFC 7677's salt, and the s-nonce. */
#define FZ_SALT_B64 "W22ZaJ0SNY7soEsUEjb6gQ=="
#define FZ_ITERATIONS 4096
static const uint8_t fz_snonce[18] = {0, 1,  2,  3,  4,  5,  6,  7,  8,
                                      9, 10, 11, 12, 13, 14, 15, 16, 17};
/* what the server-first must end with, after "r=" and the c-nonce */
#define FZ_SFIRST_TAIL "AAECAwQFBgcICQoLDA0ODxAR,s=" FZ_SALT_B64 ",i=4096"

/* bits 0-2 of byte 0; 5, 6 and 7 wrap round */
static const enum gw_sasl_mech fz_mechs[8] = {
    GW_SASL_PLAIN,   GW_SASL_LOGIN,        GW_SASL_OAUTHBEARER,
    GW_SASL_XOAUTH2, GW_SASL_SCRAM_SHA256, GW_SASL_PLAIN,
    GW_SASL_LOGIN,   GW_SASL_OAUTHBEARER,
};

static struct gw_scram_keys fz_keys;
static bool fz_keys_ready;

/* One exchange's state, as the target follows it. */
struct fz_run {
    enum gw_sasl_mech mech;
    size_t cap;
    char *chal;  /* cap octets */
    char *spare; /* cap octets, for calls that must be refused */
    struct gw_sasl *x;
    uint8_t *msg; /* the current line, decoded */
    size_t n;
    bool decodes;
    bool cancel;
    unsigned step_before;
    uint8_t *prev; /* LOGIN: the user line; SCRAM: the client-first */
    size_t prev_len;
    bool have_prev;
    bool error_sent; /* token refused: the next line is the ack */
    bool keys_given; /* SCRAM: the server-first went out */
    bool final_sent; /* SCRAM: the server-final went out */
};

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_sasl: %s\n", why);
    abort();
}

static void *
fz_alloc(size_t len)
{
    void *q = malloc(len > 0 ? len : 1);

    if (q == NULL) {
        fz_fail("out of memory");
    }
    return q;
}

static void *
fz_dup(const void *p, size_t len)
{
    void *q = fz_alloc(len);

    if (len > 0) {
        memcpy(q, p, len);
    }
    return q;
}

static void
fz_init(void)
{
    uint8_t salt[GW_SCRAM_SALT_MAX];
    size_t salt_len = 0;

    if (fz_keys_ready) {
        return;
    }
    if (!gw_base64_decode(salt, sizeof(salt), &salt_len,
                          (const uint8_t *)FZ_SALT_B64, strlen(FZ_SALT_B64)) ||
        !gw_scram_keys_derive("pencil", 6, salt, salt_len, FZ_ITERATIONS,
                              &fz_keys)) {
        fz_fail("cannot derive the fixed SCRAM keys");
    }
    fz_keys_ready = true;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static bool
fz_is_plain_login(enum gw_sasl_mech m)
{
    return m == GW_SASL_PLAIN || m == GW_SASL_LOGIN;
}

static uint8_t
fz_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* (p, n) equals the lowercase word s, ASCII case-insensitively. */
static bool
fz_ieq(const uint8_t *p, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (fz_lower(p[i]) != (uint8_t)s[i]) {
            return false;
        }
    }
    return true;
}

static bool
fz_b64_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

/* Any challenge: NUL-terminated within cap, of the base64 alphabet. */
static size_t
fz_check_chal_text(const char *chal, size_t cap)
{
    const char *nul = memchr(chal, '\0', cap);
    size_t n;
    size_t i;

    if (nul == NULL) {
        fz_fail("challenge not NUL-terminated");
    }
    n = (size_t)(nul - chal);
    for (i = 0; i < n; i++) {
        if (!fz_b64_alpha(chal[i])) {
            fz_fail("challenge outside the base64 alphabet");
        }
    }
    return n;
}

/* PLAIN and LOGIN's challenges, as before. */
static void
fz_check_chal(const char *chal, size_t cap, enum gw_sasl_mech mech,
              unsigned step, enum gw_sasl_status st)
{
    const char *expect;

    if (fz_check_chal_text(chal, cap) > FZ_CHAL_MAX) {
        fz_fail("challenge longer than 12 characters");
    }
    if (st != GW_SASL_CHALLENGE) {
        return;
    }
    if (mech == GW_SASL_PLAIN) {
        expect = ""; /* RFC 4954 4: an empty challenge, "334 " */
    } else {
        expect = step == 0 ? "VXNlcm5hbWU6" : "UGFzc3dvcmQ6";
    }
    if (strcmp(chal, expect) != 0) {
        fz_fail("wrong challenge for the mechanism and step");
    }
}

/* The challenge decoded into out (cap octets); its length. */
static size_t
fz_decode_chal(uint8_t *out, size_t cap, const char *chal)
{
    size_t n = 0;

    if (!gw_base64_decode(out, cap, &n, (const uint8_t *)chal, strlen(chal))) {
        fz_fail("challenge is not canonical base64");
    }
    return n;
}

/* What a line decodes to, as the module must see it: "=" is the empty
 * message only as an initial response. false when it is not base64. */
static bool
fz_decode(uint8_t *msg, size_t *n, const uint8_t *line, size_t len,
          bool initial)
{
    if (initial && len == 1 && line[0] == '=') {
        *n = 0;
        return true;
    }
    return gw_base64_decode(msg, FZ_MSG_MAX, n, line, len);
}

/* PLAIN/LOGIN on DONE: the bounds, and that user/pass came from the
 * decoded lines. */
static void
fz_check_done(const struct gw_sasl *x, enum gw_sasl_mech mech,
              const uint8_t *msg, size_t n, const uint8_t *login_user,
              size_t login_user_len)
{
    if (x->user_len < 1 || x->user_len > GW_SASL_USER_MAX || x->pass_len < 1 ||
        x->pass_len > GW_SASL_PASS_MAX) {
        fz_fail("credential length out of range");
    }
    if (strlen(x->user) != x->user_len || strlen(x->pass) != x->pass_len) {
        fz_fail("credential length does not match its string");
    }
    if (mech == GW_SASL_PLAIN) {
        /* [authzid] NUL user NUL pass, with authzid empty or == user */
        const uint8_t *nul1 = memchr(msg, 0, n);
        size_t zlen = nul1 != NULL ? (size_t)(nul1 - msg) : 0;

        if (nul1 == NULL || n != zlen + 1 + x->user_len + 1 + x->pass_len ||
            memcmp(nul1 + 1, x->user, x->user_len) != 0 ||
            nul1[1 + x->user_len] != 0 ||
            memcmp(nul1 + 2 + x->user_len, x->pass, x->pass_len) != 0) {
            fz_fail("PLAIN credentials are not the decoded message");
        }
        if (zlen != 0 &&
            (zlen != x->user_len || memcmp(msg, x->user, zlen) != 0)) {
            fz_fail("PLAIN accepted a foreign authzid");
        }
    } else if (login_user == NULL || login_user_len != x->user_len ||
               memcmp(login_user, x->user, x->user_len) != 0 ||
               n != x->pass_len || memcmp(msg, x->pass, n) != 0) {
        fz_fail("LOGIN credentials are not the decoded lines");
    }
}

/* What the grammar in gw_sasl.c's comments makes of a token message. */
struct fz_token_ref {
    uint8_t user[GW_SASL_USER_MAX];
    size_t user_len;
    const uint8_t *token;
    size_t token_len;
    bool strict; /* every auth= token is an RFC 6750 2.1 b64token */
};

/* RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
 * "+" / "/" ) *"=" */
static bool
fz_b64token(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n &&
           ((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
            (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '.' ||
            p[i] == '_' || p[i] == '~' || p[i] == '+' || p[i] == '/')) {
        i++;
    }
    if (i == 0) {
        return false;
    }
    while (i < n && p[i] == '=') {
        i++;
    }
    return i == n;
}

/* key=value^A ... ^A: "auth" (and for XOAUTH2 "user", the last one of
 * each), keys case-insensitive, others ignored; nothing after the final
 * ^A. */
static bool
fz_ref_kvpairs(struct fz_token_ref *t, const uint8_t *p, size_t len,
               bool xoauth2)
{
    bool have_auth = false;
    size_t i = 0;

    while (i < len && p[i] != 0x01) {
        const uint8_t *end = memchr(p + i, 0x01, len - i);
        const uint8_t *eq;
        const uint8_t *v;
        size_t vlen;

        if (end == NULL) {
            return false;
        }
        eq = memchr(p + i, '=', (size_t)(end - (p + i)));
        if (eq == NULL) {
            return false;
        }
        v = eq + 1;
        vlen = (size_t)(end - v);
        if (eq - (p + i) == 4 && fz_ieq(p + i, "auth", 4)) {
            /* "Bearer " and 1..GW_SASL_TOKEN_MAX octets without NUL */
            if (vlen < 8 || vlen - 7 > GW_SASL_TOKEN_MAX ||
                !fz_ieq(v, "bearer ", 7) || memchr(v + 7, 0, vlen - 7)) {
                return false;
            }
            t->token = v + 7;
            t->token_len = vlen - 7;
            t->strict = t->strict && fz_b64token(t->token, t->token_len);
            have_auth = true;
        } else if (xoauth2 && eq - (p + i) == 4 && fz_ieq(p + i, "user", 4)) {
            if (vlen < 1 || vlen > GW_SASL_USER_MAX || memchr(v, 0, vlen)) {
                return false;
            }
            memcpy(t->user, v, vlen);
            t->user_len = vlen;
        }
        i = (size_t)(end - p) + 1;
    }
    return have_auth && i + 1 == len;
}

/* OAUTHBEARER: ("n" / "y") "," ["a=" saslname] "," ^A kvpairs ^A, the
 * saslname 1..255 octets without NUL once "=2C" and "=3D" are decoded;
 * XOAUTH2: kvpairs ^A. */
static bool
fz_ref_token(struct fz_token_ref *t, enum gw_sasl_mech mech, const uint8_t *msg,
             size_t n)
{
    const uint8_t *comma;
    size_t hlen;
    size_t i;

    memset(t, 0, sizeof(*t));
    t->strict = true;
    if (mech == GW_SASL_XOAUTH2) {
        return fz_ref_kvpairs(t, msg, n, true);
    }
    if (n < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
        return false;
    }
    comma = memchr(msg + 2, ',', n - 2);
    if (comma == NULL || (size_t)(comma - msg) + 1 >= n || comma[1] != 0x01) {
        return false;
    }
    hlen = (size_t)(comma - msg);
    if (hlen > 2) {
        if (hlen < 5 || msg[2] != 'a' || msg[3] != '=') {
            return false;
        }
        for (i = 4; i < hlen; i++) {
            uint8_t c = msg[i];

            if (c == '=') {
                if (i + 2 >= hlen) {
                    return false;
                }
                if (msg[i + 1] == '2' && msg[i + 2] == 'C') {
                    c = ',';
                } else if (msg[i + 1] == '3' && msg[i + 2] == 'D') {
                    c = '=';
                } else {
                    return false;
                }
                i += 2;
            }
            if (t->user_len == GW_SASL_USER_MAX || c == 0) {
                return false;
            }
            t->user[t->user_len++] = c;
        }
    }
    return fz_ref_kvpairs(t, comma + 2, n - hlen - 2, false);
}

/* OAUTHBEARER/XOAUTH2 on DONE. */
static void
fz_check_token_done(const struct gw_sasl *x, enum gw_sasl_mech mech,
                    const uint8_t *msg, size_t n)
{
    uint8_t *needle;
    const uint8_t *p = msg;
    bool found = false;

    if (x->token_len < 1 || x->token_len > GW_SASL_TOKEN_MAX ||
        strlen(x->token) != x->token_len) {
        fz_fail("token length out of range or not its string's");
    }
    if (x->user_len > GW_SASL_USER_MAX || strlen(x->user) != x->user_len) {
        fz_fail("token user length out of range or not its string's");
    }
    if (x->pass_len != 0 || x->pass[0] != '\0') {
        fz_fail("a token mechanism set a password");
    }
    if (n < 2 || msg[n - 1] != 0x01 || msg[n - 2] != 0x01) {
        fz_fail("token message accepted without the final ^A^A");
    }
    /* ^A (or the start, XOAUTH2) "auth=Bearer " token ^A, somewhere */
    needle = fz_alloc(x->token_len + 1);
    memcpy(needle, x->token, x->token_len);
    needle[x->token_len] = 0x01;
    while (!found && p < msg + n) {
        const uint8_t *hit =
            memmem(p, (size_t)(msg + n - p), needle, x->token_len + 1);
        size_t off;

        if (hit == NULL) {
            break;
        }
        off = (size_t)(hit - msg);
        found = off >= 12 && fz_ieq(msg + off - 12, "auth=", 5) &&
                fz_ieq(msg + off - 7, "bearer ", 7) &&
                (off == 12 ? mech == GW_SASL_XOAUTH2 : msg[off - 13] == 0x01);
        p = hit + 1;
    }
    free(needle);
    if (!found) {
        fz_fail("token is not an auth=Bearer value of the message");
    }
}

/* OAUTHBEARER/XOAUTH2: E_SYNTAX for what the grammar refuses; DONE for
 * what it takes when the tokens are RFC 6750 b64tokens (other octets but
 * NUL may be refused or not); on DONE its user and token. */
static void
fz_check_token_ref(const struct fz_run *r, enum gw_sasl_status st)
{
    struct fz_token_ref t;
    bool ok;

    if (!GW_SASL_IS_TOKEN(r->mech) || r->cancel || !r->decodes ||
        r->n > FZ_BIG_DECODED_MAX) {
        return;
    }
    ok = fz_ref_token(&t, r->mech, r->msg, r->n);
    if (!ok && st != GW_SASL_E_SYNTAX) {
        fz_fail("a malformed token message was not E_SYNTAX");
    }
    if (ok && t.strict && st != GW_SASL_DONE) {
        fz_fail("a well-formed token message was refused");
    }
    if (ok && st != GW_SASL_DONE && st != GW_SASL_E_SYNTAX) {
        fz_fail("a token message was neither DONE nor E_SYNTAX");
    }
    if (st == GW_SASL_DONE &&
        (t.user_len != r->x->user_len ||
         memcmp(t.user, r->x->user, t.user_len) != 0 ||
         t.token_len != r->x->token_len ||
         memcmp(t.token, r->x->token, t.token_len) != 0)) {
        fz_fail("token or user is not the message's (authzid, user=)");
    }
}

/* The token was refused, as gw_auth does it: wipe_pass, then the error
 * challenge. */
static void
fz_refuse_token(struct fz_run *r)
{
    uint8_t json[GW_SASL_CHAL_MAX];
    size_t n;
    size_t i;

    gw_sasl_wipe_pass(r->x);
    if (r->x->token_len != 0) {
        fz_fail("wipe_pass left the token length");
    }
    for (i = 0; i < sizeof(r->x->token); i++) {
        if (r->x->token[i] != 0) {
            fz_fail("wipe_pass left token bytes");
        }
    }
    memset(r->chal, 0xAA, r->cap);
    gw_sasl_token_error(r->x, r->chal, r->cap);
    fz_check_chal_text(r->chal, r->cap);
    n = fz_decode_chal(json, sizeof(json), r->chal);
    if (n < 2 || json[0] != '{' || json[n - 1] != '}' ||
        memmem(json, n, "\"invalid_token\"", 15) == NULL ||
        memmem(json, n, "\"status\"", 8) == NULL) {
        fz_fail("the error challenge is not the invalid_token status");
    }
    r->error_sent = true;
}

/* The server-first, decoded: "r=" c-nonce s-nonce ",s=" salt ",i=" iter,
 * the c-nonce the client-first's r=. */
static void
fz_check_server_first(const struct fz_run *r)
{
    static const char tail[] = FZ_SFIRST_TAIL;
    const size_t tail_len = sizeof(tail) - 1;
    uint8_t sf[GW_SASL_CHAL_MAX];
    uint8_t *needle;
    size_t n = fz_decode_chal(sf, sizeof(sf), r->chal);
    size_t clen;
    size_t i;
    const uint8_t *p = r->prev;
    bool found = false;

    if (n < 2 + 1 + tail_len || memcmp(sf, "r=", 2) != 0) {
        fz_fail("server-first does not begin with r= and a c-nonce");
    }
    if (memcmp(sf + n - tail_len, tail, tail_len) != 0) {
        fz_fail("server-first does not end with our s-nonce, salt, "
                "iterations");
    }
    clen = n - 2 - tail_len;
    if (clen > GW_SCRAM_CNONCE_MAX) {
        fz_fail("c-nonce too long");
    }
    for (i = 0; i < clen; i++) {
        if (sf[2 + i] < 0x21 || sf[2 + i] > 0x7e || sf[2 + i] == ',') {
            fz_fail("c-nonce not printable");
        }
    }
    /* ",r=" c-nonce, then ',' or the end, in the client-first */
    needle = fz_alloc(clen + 3);
    memcpy(needle, ",r=", 3);
    memcpy(needle + 3, sf + 2, clen);
    while (!found && p < r->prev + r->prev_len) {
        const uint8_t *hit =
            memmem(p, (size_t)(r->prev + r->prev_len - p), needle, clen + 3);

        if (hit == NULL) {
            break;
        }
        found = hit + clen + 3 == r->prev + r->prev_len || hit[clen + 3] == ',';
        p = hit + 1;
    }
    free(needle);
    if (!found) {
        fz_fail("server-first's c-nonce is not the client's r=");
    }
}

/* The server-final, decoded: "v=" and base64 of 32 octets. */
static void
fz_check_server_final(const struct fz_run *r)
{
    uint8_t sf[GW_SASL_CHAL_MAX];
    uint8_t sig[GW_SCRAM_KEY_LEN];
    size_t n = fz_decode_chal(sf, sizeof(sf), r->chal);
    size_t sig_len = 0;

    if (n != GW_SCRAM_SERVER_FINAL_LEN || memcmp(sf, "v=", 2) != 0 ||
        !gw_base64_decode(sig, sizeof(sig), &sig_len, sf + 2, n - 2) ||
        sig_len != GW_SCRAM_KEY_LEN) {
        fz_fail("SCRAM challenge after the server-first is not v=");
    }
}

/* SCRAM after NEED_KEYS: the caller's keys and nonce, the server-first. */
static void
fz_give_keys(struct fz_run *r)
{
    struct gw_sasl before;
    enum gw_sasl_status st;

    memset(r->chal, 0xAA, r->cap);
    st = gw_sasl_scram_keys(r->x, &fz_keys, fz_snonce, sizeof(fz_snonce),
                            r->chal, r->cap);
    fz_check_chal_text(r->chal, r->cap);
    if (st != GW_SASL_CHALLENGE) {
        fz_fail("scram_keys refused valid keys after NEED_KEYS");
    }
    fz_check_server_first(r);
    /* once only */
    memcpy(&before, r->x, sizeof(before));
    if (gw_sasl_scram_keys(r->x, &fz_keys, fz_snonce, sizeof(fz_snonce),
                           r->spare, r->cap) != GW_SASL_E_SYNTAX ||
        memcmp(&before, r->x, sizeof(before)) != 0) {
        fz_fail("scram_keys accepted a second time");
    }
    r->keys_given = true;
}

/* "*" cancels; E_BASE64 exactly when the line is not base64, except
 * that a message too long for any credentials may be refused as E_BASE64
 * too (PLAIN, LOGIN: E_BASE64 or E_SYNTAX). */
static void
fz_check_status(const struct fz_run *r, enum gw_sasl_status st)
{
    size_t max =
        fz_is_plain_login(r->mech) ? FZ_DECODED_MAX : FZ_BIG_DECODED_MAX;
    bool ok;

    if (r->cancel) {
        ok = st == GW_SASL_E_CANCEL;
    } else if (!r->decodes) {
        ok = st == GW_SASL_E_BASE64;
    } else if (r->n <= max) {
        ok = st != GW_SASL_E_BASE64 && st != GW_SASL_E_CANCEL;
    } else if (fz_is_plain_login(r->mech)) {
        ok = st == GW_SASL_E_BASE64 || st == GW_SASL_E_SYNTAX;
    } else {
        ok = st != GW_SASL_E_CANCEL;
    }
    if (!ok) {
        fz_fail("status does not match the line");
    }
}

/* The line after the error challenge: whatever it is, the ack. */
static void
fz_check_ack(const struct fz_run *r, enum gw_sasl_status st)
{
    bool ok;

    if (r->cancel) {
        ok = st == GW_SASL_E_CANCEL;
    } else if (!r->decodes) {
        ok = st == GW_SASL_E_BASE64;
    } else if (r->n <= FZ_BIG_DECODED_MAX) {
        ok = st == GW_SASL_ERROR_ACK;
    } else {
        ok = st == GW_SASL_ERROR_ACK || st == GW_SASL_E_BASE64;
    }
    if (!ok) {
        fz_fail("the answer to the error challenge is not ERROR_ACK");
    }
}

static void
fz_check_zero(const struct gw_sasl *x)
{
    static const struct gw_sasl zero; /* all bytes zero, padding too */

    if (memcmp(x, &zero, sizeof(*x)) != 0) {
        fz_fail("wipe left a non-zero byte");
    }
}

/* On copies: wipe_pass clears exactly the password and the token, wipe
 * everything; scram_keys is refused without a change unless keys are
 * due. */
static void
fz_check_wipes(const struct gw_sasl *now, bool keys_due, char *spare,
               size_t cap)
{
    static struct gw_sasl x;
    static struct gw_sasl want;

    memcpy(&x, now, sizeof(x));
    memcpy(&want, now, sizeof(want));
    memset(want.pass, 0, sizeof(want.pass));
    want.pass_len = 0;
    memset(want.token, 0, sizeof(want.token));
    want.token_len = 0;
    gw_sasl_wipe_pass(&x);
    if (memcmp(&x, &want, sizeof(x)) != 0) {
        fz_fail("wipe_pass touched more or less than password and token");
    }
    gw_sasl_wipe(&x);
    fz_check_zero(&x);
    if (!keys_due) {
        memcpy(&x, now, sizeof(x));
        if (gw_sasl_scram_keys(&x, &fz_keys, fz_snonce, sizeof(fz_snonce),
                               spare, cap) != GW_SASL_E_SYNTAX ||
            memcmp(&x, now, sizeof(x)) != 0) {
            fz_fail("scram_keys accepted out of turn");
        }
    }
}

static void
fz_check_user(const struct gw_sasl *x)
{
    if (x->user_len < 1 || x->user_len > GW_SASL_USER_MAX ||
        strlen(x->user) != x->user_len) {
        fz_fail("SCRAM user length out of range or not its string's");
    }
}

/* What the status means for the exchange; true when it goes on. */
static bool
fz_after(struct fz_run *r, enum gw_sasl_status st)
{
    const struct gw_sasl *x = r->x;

    if (r->mech == GW_SASL_SCRAM_SHA256 && r->final_sent && r->decodes &&
        !r->cancel && r->n <= FZ_BIG_DECODED_MAX &&
        st != (r->n == 0 ? GW_SASL_VERIFIED : GW_SASL_E_SYNTAX)) {
        fz_fail("the answer to the server-final: not VERIFIED/E_SYNTAX");
    }
    switch (st) {
    case GW_SASL_CHALLENGE:
        if (r->mech == GW_SASL_LOGIN && r->step_before == 0 && x->step == 1) {
            memcpy(r->prev, r->msg, r->n);
            r->prev_len = r->n;
            r->have_prev = true;
            return true;
        }
        if (r->mech == GW_SASL_SCRAM_SHA256 && r->keys_given &&
            !r->final_sent) {
            fz_check_server_final(r);
            r->final_sent = true;
            return true;
        }
        fz_fail("unexpected challenge");
        break;
    case GW_SASL_NEED_KEYS:
        if (r->mech != GW_SASL_SCRAM_SHA256 || r->keys_given || r->have_prev) {
            fz_fail("unexpected NEED_KEYS");
        }
        fz_check_user(x);
        memcpy(r->prev, r->msg, r->n);
        r->prev_len = r->n;
        r->have_prev = true;
        fz_give_keys(r);
        return true;
    case GW_SASL_DONE:
        if (fz_is_plain_login(r->mech)) {
            fz_check_done(x, r->mech, r->msg, r->n,
                          r->have_prev ? r->prev : NULL, r->prev_len);
            return false;
        }
        if (!GW_SASL_IS_TOKEN(r->mech)) {
            fz_fail("DONE from SCRAM");
        }
        fz_check_token_done(x, r->mech, r->msg, r->n);
        fz_refuse_token(r);
        return true;
    case GW_SASL_VERIFIED:
        if (r->mech != GW_SASL_SCRAM_SHA256 || !r->final_sent || !r->decodes ||
            r->n != 0) {
            fz_fail("VERIFIED without the server-final and an empty line");
        }
        fz_check_user(x);
        return false;
    case GW_SASL_E_PROOF:
        if (r->mech != GW_SASL_SCRAM_SHA256 || !r->keys_given ||
            r->final_sent) {
            fz_fail("E_PROOF but for SCRAM's client-final");
        }
        return false;
    case GW_SASL_E_AUTHZID:
        if (r->mech != GW_SASL_PLAIN &&
            (r->mech != GW_SASL_SCRAM_SHA256 || r->keys_given)) {
            fz_fail("E_AUTHZID but for PLAIN or SCRAM's client-first");
        }
        return false;
    case GW_SASL_ERROR_ACK:
        fz_fail("ERROR_ACK without an error challenge");
        break;
    default:
        break;
    }
    return false;
}

static void
fz_exchange(const uint8_t *data, size_t size)
{
    struct fz_run r;
    bool has_initial = (data[0] & 8) != 0;
    bool raw = (data[0] & 16) != 0;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t pos = 0;
    bool first = true;
    bool more = true;
    enum gw_sasl_status st;

    memset(&r, 0, sizeof(r));
    r.mech = fz_mechs[data[0] & 7];
    r.cap = fz_is_plain_login(r.mech) ? FZ_SMALL_CAP : GW_SASL_CHAL_MAX;
    r.chal = fz_alloc(r.cap);
    r.spare = fz_alloc(r.cap);
    r.x = fz_alloc(sizeof(*r.x));
    r.msg = fz_alloc(FZ_MSG_MAX);
    r.prev = fz_alloc(FZ_MSG_MAX);
    memset(r.chal, 0xAA, r.cap);
    memset(r.x, 0x5A, sizeof(*r.x)); /* start must not rely on a clean struct */
    if (!has_initial) {
        st = gw_sasl_start(r.x, r.mech, NULL, 0, r.chal, r.cap);
        if (fz_is_plain_login(r.mech)) {
            fz_check_chal(r.chal, r.cap, r.mech, r.x->step, st);
        } else if (fz_check_chal_text(r.chal, r.cap) != 0) {
            fz_fail("the first challenge is not empty");
        }
        if (st != GW_SASL_CHALLENGE) {
            fz_fail("start without an initial response must challenge");
        }
        fz_check_wipes(r.x, false, r.spare, r.cap);
        first = false;
    }
    while (more && (pos < len || first)) {
        const uint8_t *lf = memchr(in + pos, '\n', len - pos);
        size_t end = lf != NULL ? (size_t)(lf - in) : len;
        size_t llen = end - pos;
        uint8_t *line;

        if (raw && !(llen == 1 && in[pos] == '*')) {
            /* the message itself: send its base64 */
            char *enc = fz_alloc((llen + 2) / 3 * 4 + 1);

            if (!gw_base64_encode(enc, (llen + 2) / 3 * 4 + 1, in + pos,
                                  llen)) {
                fz_fail("cannot encode a line");
            }
            llen = strlen(enc);
            line = fz_dup(enc, llen);
            free(enc);
        } else {
            line = fz_dup(in + pos, llen);
        }

        r.step_before = first ? 0 : r.x->step;
        r.n = 0;
        r.decodes = fz_decode(r.msg, &r.n, line, llen, first);
        r.cancel = !first && llen == 1 && line[0] == '*';
        memset(r.chal, 0xAA, r.cap);
        if (first) {
            st = gw_sasl_start(r.x, r.mech, line, llen, r.chal, r.cap);
        } else {
            st = gw_sasl_step(r.x, line, llen, r.chal, r.cap);
        }
        if (fz_is_plain_login(r.mech)) {
            fz_check_chal(r.chal, r.cap, r.mech, r.x->step, st);
        } else {
            fz_check_chal_text(r.chal, r.cap);
        }
        fz_check_wipes(r.x, st == GW_SASL_NEED_KEYS, r.spare, r.cap);
        if (r.error_sent) {
            fz_check_ack(&r, st);
            more = false;
        } else {
            fz_check_status(&r, st);
            fz_check_token_ref(&r, st);
            more = fz_after(&r, st);
        }
        free(line);
        first = false;
        pos = end + 1;
    }
    gw_sasl_wipe(r.x); /* after any outcome, as the caller must */
    fz_check_zero(r.x);
    free(r.prev);
    free(r.msg);
    free(r.x);
    free(r.spare);
    free(r.chal);
}

/* Encode, decode: the same bytes, with exact-size buffers both ways. */
static void
fz_round_trip(const uint8_t *data, size_t size)
{
    size_t n = size < FZ_B64_MAX ? size : FZ_B64_MAX;
    size_t elen = (n + 2) / 3 * 4;
    uint8_t *src = fz_dup(data, n);
    char *enc = fz_alloc(elen + 1);
    uint8_t *dec = fz_alloc(n);
    size_t out = 0;

    if (!gw_base64_encode(enc, elen + 1, src, n)) {
        fz_fail("encode into an exact-size buffer failed");
    }
    if (strlen(enc) != elen) {
        fz_fail("encoded length");
    }
    if (n > 0 && gw_base64_encode(enc, elen, src, n)) {
        fz_fail("encode without room for the NUL succeeded");
    }
    /* the failed call may have written; encode again */
    if (!gw_base64_encode(enc, elen + 1, src, n)) {
        fz_fail("encode failed the second time");
    }
    if (!gw_base64_decode(dec, n, &out, (const uint8_t *)enc, elen) ||
        out != n || (n > 0 && memcmp(dec, src, n) != 0)) {
        fz_fail("base64 round trip changed the bytes");
    }
    if (n > 0 &&
        gw_base64_decode(dec, n - 1, &out, (const uint8_t *)enc, elen)) {
        fz_fail("decode into a buffer one byte short succeeded");
    }
    free(dec);
    free(enc);
    free(src);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    fz_round_trip(data, size);
    if (size > 0) {
        fz_exchange(data, size);
    }
    return 0;
}
