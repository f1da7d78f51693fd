/*
 * libFuzzer target for gateway/gw_sasl.c, the server side of SMTP AUTH
 * PLAIN and LOGIN, and its base64 helpers.
 *
 * Input: byte 0 picks the exchange, the rest is what the client sends,
 * split into lines at LF.
 *   bit 0  the mechanism: 0 PLAIN, 1 LOGIN
 *   bit 1  1: the first line is the AUTH command's initial response;
 *          0: there is none (NULL) and every line answers a challenge
 * Lines are fed to gw_sasl_step while the status is GW_SASL_CHALLENGE.
 * Every call sees an exact-size heap copy of its line and an exact-size
 * challenge buffer (cap 32, poisoned first), so ASan catches a read or
 * write past either. Checked after every call: the challenge is
 * NUL-terminated, at most 12 characters of the base64 alphabet, and is
 * LOGIN's "Username:"/"Password:" or PLAIN's empty one when a challenge
 * is asked for. On GW_SASL_DONE: user and pass are 1..255 octets, their
 * lengths match strlen, and they are what the decoded lines carried.
 * gw_sasl_wipe_pass must clear the password only and gw_sasl_wipe every
 * byte of the struct.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHAL_CAP 32 /* the smallest cap the header allows */
#define FZ_CHAL_MAX 12 /* "VXNlcm5hbWU6" */
#define FZ_B64_MAX 300 /* bytes of input for the round trip */
#define FZ_MSG_MAX 1024
/* RFC 4616 2: the longest PLAIN message, authzid NUL authcid NUL passwd */
#define FZ_DECODED_MAX (GW_SASL_USER_MAX * 2 + 2 + GW_SASL_PASS_MAX)

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_sasl: %s\n", why);
    abort();
}

static void *
fz_dup(const void *p, size_t len)
{
    void *q = malloc(len > 0 ? len : 1);

    if (q == NULL) {
        fz_fail("out of memory");
    }
    if (len > 0) {
        memcpy(q, p, len);
    }
    return q;
}

static bool
fz_b64_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

static void
fz_check_chal(const char *chal, enum gw_sasl_mech mech, unsigned step,
              enum gw_sasl_status st)
{
    const char *nul = memchr(chal, '\0', FZ_CHAL_CAP);
    const char *expect;
    size_t n;
    size_t i;

    if (nul == NULL) {
        fz_fail("challenge not NUL-terminated");
    }
    n = (size_t)(nul - chal);
    if (n > FZ_CHAL_MAX) {
        fz_fail("challenge longer than 12 characters");
    }
    for (i = 0; i < n; i++) {
        if (!fz_b64_alpha(chal[i])) {
            fz_fail("challenge outside the base64 alphabet");
        }
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

/* On DONE: the bounds, and that user/pass came from the decoded lines. */
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

/* "*" cancels; E_BASE64 exactly when the line is not base64, except
 * that a message too long for any credentials may be refused as either
 * E_BASE64 or E_SYNTAX. */
static void
fz_check_status(enum gw_sasl_status st, bool cancel, bool decodes, size_t n)
{
    bool ok;

    if (cancel) {
        ok = st == GW_SASL_E_CANCEL;
    } else if (!decodes) {
        ok = st == GW_SASL_E_BASE64;
    } else if (n <= FZ_DECODED_MAX) {
        ok = st != GW_SASL_E_BASE64 && st != GW_SASL_E_CANCEL;
    } else {
        ok = st == GW_SASL_E_BASE64 || st == GW_SASL_E_SYNTAX;
    }
    if (!ok) {
        fz_fail("status does not match the line");
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

static void
fz_check_wipes(const struct gw_sasl *done)
{
    struct gw_sasl x;
    size_t i;

    memcpy(&x, done, sizeof(x));
    gw_sasl_wipe_pass(&x);
    if (x.pass_len != 0 || x.user_len != done->user_len ||
        memcmp(x.user, done->user, sizeof(x.user)) != 0) {
        fz_fail("wipe_pass touched more or less than the password");
    }
    for (i = 0; i < sizeof(x.pass); i++) {
        if (x.pass[i] != 0) {
            fz_fail("wipe_pass left password bytes");
        }
    }
    gw_sasl_wipe(&x);
    fz_check_zero(&x);
}

static void
fz_exchange(const uint8_t *data, size_t size)
{
    enum gw_sasl_mech mech = (data[0] & 1) ? GW_SASL_LOGIN : GW_SASL_PLAIN;
    bool has_initial = (data[0] & 2) != 0;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t pos = 0;
    bool first = true;
    char *chal = malloc(FZ_CHAL_CAP);
    struct gw_sasl *x = malloc(sizeof(*x));
    uint8_t *msg = malloc(FZ_MSG_MAX);
    uint8_t login_user[FZ_MSG_MAX];
    size_t login_user_len = 0;
    bool have_login_user = false;
    enum gw_sasl_status st;

    if (chal == NULL || x == NULL || msg == NULL) {
        fz_fail("out of memory");
    }
    memset(chal, 0xAA, FZ_CHAL_CAP);
    memset(x, 0x5A, sizeof(*x)); /* start must not rely on a clean struct */
    if (!has_initial) {
        st = gw_sasl_start(x, mech, NULL, 0, chal, FZ_CHAL_CAP);
        fz_check_chal(chal, mech, x->step, st);
        if (st != GW_SASL_CHALLENGE) {
            fz_fail("start without an initial response must challenge");
        }
        first = false;
    } else {
        st = GW_SASL_CHALLENGE;
    }
    while (st == GW_SASL_CHALLENGE && (pos < len || first)) {
        const uint8_t *lf = memchr(in + pos, '\n', len - pos);
        size_t end = lf != NULL ? (size_t)(lf - in) : len;
        uint8_t *line = fz_dup(in + pos, end - pos);
        size_t llen = end - pos;
        unsigned step_before = first ? 0 : x->step;
        size_t n = 0;
        bool decodes = fz_decode(msg, &n, line, llen, first);
        bool cancel = !first && llen == 1 && line[0] == '*';

        memset(chal, 0xAA, FZ_CHAL_CAP);
        if (first) {
            st = gw_sasl_start(x, mech, line, llen, chal, FZ_CHAL_CAP);
        } else {
            st = gw_sasl_step(x, line, llen, chal, FZ_CHAL_CAP);
        }
        fz_check_chal(chal, mech, x->step, st);
        fz_check_status(st, cancel, decodes, n);
        if (st == GW_SASL_CHALLENGE) {
            if (mech != GW_SASL_LOGIN || step_before != 0 || x->step != 1) {
                fz_fail("unexpected challenge");
            }
            memcpy(login_user, msg, n);
            login_user_len = n;
            have_login_user = true;
        } else if (st == GW_SASL_DONE) {
            fz_check_done(x, mech, msg, n, have_login_user ? login_user : NULL,
                          login_user_len);
            fz_check_wipes(x);
        }
        free(line);
        first = false;
        pos = end + 1;
    }
    gw_sasl_wipe(x); /* after any outcome, as the caller must */
    fz_check_zero(x);
    free(msg);
    free(x);
    free(chal);
}

/* Encode, decode: the same bytes, with exact-size buffers both ways. */
static void
fz_round_trip(const uint8_t *data, size_t size)
{
    size_t n = size < FZ_B64_MAX ? size : FZ_B64_MAX;
    size_t elen = (n + 2) / 3 * 4;
    uint8_t *src = fz_dup(data, n);
    char *enc = malloc(elen + 1);
    uint8_t *dec = malloc(n > 0 ? n : 1);
    size_t out = 0;

    if (enc == NULL || dec == NULL) {
        fz_fail("out of memory");
    }
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
    fz_round_trip(data, size);
    if (size > 0) {
        fz_exchange(data, size);
    }
    return 0;
}
