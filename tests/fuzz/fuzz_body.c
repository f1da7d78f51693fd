/*
 * libFuzzer target for gateway/gw_body.c, the DATA pipeline (dot-unstuffing,
 * end of data, bare CR/LF policy, size limit, dot-stuffing).
 *
 * The input is the client's DATA stream. A hash of it picks the bare
 * newline mode, the size limit, the read sizes and the output capacity.
 * Three runs must agree: whole input into a large buffer, random reads
 * into a small buffer, and byte by byte into the smallest usable buffer.
 * Every call must respect the input and output bounds, and the whole run
 * is compared with a plain reference model of RFC 5321 4.5.2 plus the
 * normalisation rules. Any disagreement calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_body.h"
#include "gateway/gw_buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_run {
    uint8_t *out;
    size_t out_len;
    size_t consumed;
    bool done;
    enum gw_body_error error;
    bool saw_bare_nl;
};

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_body: %s\n", why);
    abort();
}

static uint64_t
fz_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

static uint64_t
fz_rng(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/*
 * Feeds in[0..len) through a gw_buf of out_cap bytes. step == 0: random
 * read sizes from *rng; otherwise reads of `step` bytes. Checks the bounds
 * on every call.
 */
static void
fz_body_run(enum gw_bare_newlines mode, uint64_t limit, const uint8_t *in,
            size_t len, size_t step, uint64_t *rng, size_t out_cap, bool lazy,
            struct fz_run *r)
{
    struct gw_body b;
    struct gw_buf ob;
    size_t pos = 0;
    size_t avail = 0;

    memset(r, 0, sizeof(*r));
    r->out = malloc(2 * len + 64);
    if (r->out == NULL || gw_buf_alloc(&ob, out_cap) != 0) {
        fz_fail("out of memory");
    }
    gw_body_init(&b, mode, limit);
    while (!b.done && pos < len) {
        size_t space = gw_buf_space(&ob);
        size_t before = gw_buf_len(&ob);
        size_t max_in = space > GW_BODY_SLACK ? (space - GW_BODY_SLACK) / 2 : 0;
        bool clean = (b.error == GW_BODY_OK);
        size_t n;
        size_t written;

        if (avail == pos) {
            avail += step > 0 ? step : 1 + fz_rng(rng) % 64;
            if (avail > len) {
                avail = len;
            }
        }
        n = gw_body_feed(&b, in + pos, avail - pos, &ob);
        written = gw_buf_len(&ob) - before;
        if (clean && n > max_in) {
            fz_fail("consumed more than (space - SLACK) / 2");
        }
        if (!clean && written > 0) {
            fz_fail("wrote after an error");
        }
        if (written > 2 * n + GW_BODY_SLACK) {
            fz_fail("wrote more than 2 * consumed + SLACK");
        }
        pos += n;
        if (!lazy || n == 0 || gw_buf_space(&ob) <= GW_BODY_SLACK + 1) {
            if (n == 0 && gw_buf_len(&ob) == 0 && !b.done) {
                fz_fail("no progress with an empty output buffer");
            }
            memcpy(r->out + r->out_len, ob.pos, gw_buf_len(&ob));
            r->out_len += gw_buf_len(&ob);
            gw_buf_consume(&ob, gw_buf_len(&ob));
        }
    }
    memcpy(r->out + r->out_len, ob.pos, gw_buf_len(&ob));
    r->out_len += gw_buf_len(&ob);
    gw_buf_consume(&ob, gw_buf_len(&ob));
    if (b.done && pos < len &&
        (gw_body_feed(&b, in + pos, len - pos, &ob) != 0 ||
         gw_buf_len(&ob) != 0)) {
        fz_fail("consumed or wrote after the end of data");
    }
    r->consumed = pos;
    r->done = b.done;
    r->error = b.error;
    r->saw_bare_nl = b.saw_bare_nl;
    gw_buf_release(&ob);
}

#include "tests/body_model.h"

static void
fz_check_reference(enum gw_bare_newlines mode, uint64_t limit,
                   const uint8_t *in, size_t len, const struct fz_run *w)
{
    struct body_model_seen seen = {w->out,  w->out_len, w->consumed,
                                   w->done, w->error,   w->saw_bare_nl};
    const char *differs = body_model_check(mode, limit, in, len, &seen);

    if (differs != NULL) {
        fz_fail(differs);
    }
}

/* In "\r\n" + out, <CRLF>.<CRLF> only as the final terminator, and no bare
 * CR or LF anywhere. */
static void
fz_check_upstream_view(const struct fz_run *w)
{
    size_t count = 0;
    size_t i;
    uint8_t *view = malloc(w->out_len + 2);

    if (view == NULL) {
        fz_fail("out of memory");
    }
    memcpy(view, "\r\n", 2);
    memcpy(view + 2, w->out, w->out_len);
    for (i = 0; i + 5 <= w->out_len + 2; i++) {
        if (memcmp(view + i, "\r\n.\r\n", 5) == 0) {
            count++;
            if (i + 5 != w->out_len + 2) {
                fz_fail("<CRLF>.<CRLF> before the end of the output");
            }
        }
    }
    if (count != ((w->done && w->error == GW_BODY_OK) ? 1u : 0u)) {
        fz_fail("terminator count wrong");
    }
    for (i = 0; i < w->out_len; i++) {
        if (w->out[i] == '\r' &&
            (i + 1 == w->out_len || w->out[i + 1] != '\n')) {
            fz_fail("bare CR in the output");
        }
        if (w->out[i] == '\n' && (i == 0 || w->out[i - 1] != '\r')) {
            fz_fail("bare LF in the output");
        }
    }
    free(view);
}

/*
 * Runs agree. Under GW_BODY_E_TOO_BIG only a common prefix is required
 * for now: the size filter sets the error per span, so the bytes written
 * before it depend on the split (reported; see test_gw_body.c).
 */
static void
fz_check_same(const struct fz_run *a, const struct fz_run *w)
{
    size_t n = a->out_len < w->out_len ? a->out_len : w->out_len;

    if (a->consumed != w->consumed || a->done != w->done ||
        a->error != w->error || a->saw_bare_nl != w->saw_bare_nl) {
        fz_fail("split changed consumed/done/error");
    }
    if (memcmp(a->out, w->out, n) != 0 ||
        (w->error != GW_BODY_E_TOO_BIG && a->out_len != w->out_len)) {
        fz_fail("split changed the output");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = fz_hash(data, size);
    uint64_t rng = h | 1;
    enum gw_bare_newlines mode =
        (h & 1) ? GW_BARE_NL_REJECT : GW_BARE_NL_NORMALIZE;
    uint64_t limit = ((h >> 1) & 3) == 0 ? (h >> 8) % (size + 8) : 0;
    size_t cap = GW_BODY_SLACK + 2 + (size_t)((h >> 16) % 64);
    struct fz_run w;
    struct fz_run a;
    struct fz_run b;

    fz_body_run(mode, limit, data, size, size + 1, &rng, 2 * size + 64, false,
                &w);
    fz_check_upstream_view(&w);
    fz_check_reference(mode, limit, data, size, &w);

    fz_body_run(mode, limit, data, size, 0, &rng, cap, (h >> 3) & 1, &a);
    fz_check_same(&a, &w);

    fz_body_run(mode, limit, data, size, 1, &rng, GW_BODY_SLACK + 2, false, &b);
    fz_check_same(&b, &w);

    free(w.out);
    free(a.out);
    free(b.out);
    return 0;
}
