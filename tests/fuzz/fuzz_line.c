/*
 * libFuzzer target for gateway/gw_line.c, the line reader.
 *
 * The input is a byte stream from a client. For a few line limits it is
 * read whole, in random-sized reads (sizes from a hash of the input) and
 * byte by byte, by a caller that appends each read to its buffer and
 * takes lines while progress is made. The three transcripts must be equal,
 * and every call is checked against a model of the contract (which result,
 * how many bytes dropped) and its details: lines never contain LF, never
 * exceed the limit, flags match the bytes, TOOLONG drops exactly `max`
 * bytes. Each call sees an exact-size heap copy, so ASan catches a
 * read past p + len. Any violation calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_tx {
    uint64_t hash; /* of every event, in order */
    size_t events;
    size_t rest;
    bool skipping;
};

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_line: %s\n", why);
    abort();
}

static void
fz_mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        *h = (*h ^ b[i]) * 0x100000001b3ULL;
    }
}

/* The whole contract as a reference: what rc and consumed must be. */
static void
fz_check_model(bool was_skipping, const struct gw_line_reader *r,
               const uint8_t *p, size_t len, int rc, const struct gw_line *l)
{
    const uint8_t *lf = memchr(p, '\n', len);
    size_t at = lf != NULL ? (size_t)(lf - p) : len;

    if (was_skipping) {
        if (rc != GW_PARSE_AGAIN || l->consumed != (lf ? at + 1 : len) ||
            r->skipping != (lf == NULL)) {
            fz_fail("skipping: must drop through the first LF");
        }
    } else if (lf != NULL && at < r->max) {
        if (rc != GW_PARSE_OK || l->consumed != at + 1) {
            fz_fail("a line within the limit was not returned");
        }
    } else if (len >= r->max) {
        if (rc != GW_PARSE_TOOLONG) {
            fz_fail("max bytes without LF is not TOOLONG");
        }
    } else if (rc != GW_PARSE_AGAIN || l->consumed != 0) {
        fz_fail("incomplete line must wait");
    }
}

static void
fz_check_line(const struct gw_line_reader *r, const uint8_t *p, size_t len,
              int rc, const struct gw_line *l)
{
    unsigned flags = 0;
    size_t i;

    if (l->consumed > len) {
        fz_fail("consumed more than given");
    }
    if (rc == GW_PARSE_TOOLONG &&
        (l->consumed != r->max || len < r->max || !r->skipping)) {
        fz_fail("TOOLONG must drop exactly max bytes and start skipping");
    }
    if (rc == GW_PARSE_AGAIN && l->consumed > 0 &&
        memchr(p, '\n', l->consumed) != NULL && p[l->consumed - 1] != '\n') {
        fz_fail("skip ended somewhere other than after an LF");
    }
    if (rc != GW_PARSE_OK) {
        return;
    }
    if (l->p != p || l->consumed > r->max || l->consumed < l->len + 1 ||
        p[l->consumed - 1] != '\n' || memchr(l->p, '\n', l->len) != NULL) {
        fz_fail("bad line bounds");
    }
    if (l->consumed == l->len + 1) {
        flags |= GW_LINE_BARE_LF;
    } else if (l->consumed != l->len + 2 || p[l->len] != '\r') {
        fz_fail("bad terminator");
    }
    for (i = 0; i < l->len; i++) {
        if (p[i] == '\0') {
            flags |= GW_LINE_NUL;
        } else if (p[i] == '\r') {
            flags |= GW_LINE_BARE_CR;
        }
    }
    if (flags != l->flags) {
        fz_fail("flags do not match the bytes");
    }
}

/* step == 0: random read sizes from *rng; otherwise reads of `step`. */
static void
fz_line_run(size_t max, const uint8_t *in, size_t len, size_t step,
            uint64_t *rng, struct fz_tx *tx)
{
    uint8_t *buf = malloc(len + 1);
    struct gw_line_reader r;
    uint8_t *copy;
    size_t blen = 0;
    size_t pos = 0;
    size_t off;

    if (buf == NULL) {
        fz_fail("out of memory");
    }
    memset(tx, 0, sizeof(*tx));
    tx->hash = 0xcbf29ce484222325ULL;
    gw_line_reader_init(&r, max);
    while (pos < len) {
        size_t n = step;

        if (n == 0) {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            n = 1 + *rng % 700;
        }
        if (n > len - pos) {
            n = len - pos;
        }
        memcpy(buf + blen, in + pos, n);
        blen += n;
        pos += n;
        /* one exact-size copy per read: every call's range ends where the
         * allocation ends */
        copy = malloc(blen > 0 ? blen : 1);
        if (copy == NULL) {
            fz_fail("out of memory");
        }
        memcpy(copy, buf, blen);
        off = 0;
        for (;;) {
            struct gw_line l;
            bool was_skipping = r.skipping;
            int rc = gw_line_next(&r, copy + off, blen - off, &l);

            fz_check_line(&r, copy + off, blen - off, rc, &l);
            fz_check_model(was_skipping, &r, copy + off, blen - off, rc, &l);
            if (rc != GW_PARSE_AGAIN) {
                fz_mix(&tx->hash, &rc, sizeof(rc));
                if (rc == GW_PARSE_OK) {
                    fz_mix(&tx->hash, &l.flags, sizeof(l.flags));
                    fz_mix(&tx->hash, &l.len, sizeof(l.len));
                    fz_mix(&tx->hash, l.p, l.len);
                }
                tx->events++;
            }
            off += l.consumed;
            if (rc == GW_PARSE_AGAIN && l.consumed == 0) {
                break;
            }
        }
        memcpy(buf, copy + off, blen - off);
        blen -= off;
        free(copy);
    }
    tx->rest = blen;
    tx->skipping = r.skipping;
    fz_mix(&tx->hash, buf, blen);
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[] = {1, 2, 8, 64, 512};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    size_t i;

    for (i = 0; i < size; i++) {
        rng = (rng ^ data[i]) * 0x100000001b3ULL;
    }
    rng |= 1;
    for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        struct fz_tx whole;
        struct fz_tx split;
        struct fz_tx bytes;

        fz_line_run(maxes[i], data, size, size + 1, &rng, &whole);
        fz_line_run(maxes[i], data, size, 0, &rng, &split);
        fz_line_run(maxes[i], data, size, 1, &rng, &bytes);
        if (whole.hash != split.hash || whole.events != split.events ||
            whole.rest != split.rest || whole.skipping != split.skipping ||
            whole.hash != bytes.hash || whole.events != bytes.events ||
            whole.rest != bytes.rest || whole.skipping != bytes.skipping) {
            fz_fail("the transcript depends on how the input was split");
        }
    }
    return 0;
}
