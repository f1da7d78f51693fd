#include "gateway/gw_body.h"

#include <string.h>

/* Decoder states: where we are relative to <CRLF>.<CRLF>. */
enum {
    GW_DEC_BOL = 0, /* at the start of a line */
    GW_DEC_TEXT,    /* inside a line */
    GW_DEC_CR,      /* inside a line, just after CR */
    GW_DEC_DOT,     /* a '.' at the start of a line, withheld */
    GW_DEC_DOT_CR,  /* ".\r" at the start of a line, withheld */
};

static void gw_body_crlf(struct gw_body *b, const uint8_t *p, size_t len);
static void gw_body_count(struct gw_body *b, const uint8_t *p, size_t len);
static void gw_body_encode(struct gw_body *b, const uint8_t *p, size_t len);
static size_t gw_body_input_bound(struct gw_body *b, size_t len,
                                  struct gw_buf *out);

void
gw_body_init(struct gw_body *b, enum gw_bare_newlines bare_nl,
             uint64_t size_limit)
{
    memset(b, 0, sizeof(*b));
    b->dec_state = GW_DEC_BOL;
    b->bare_nl = bare_nl;
    b->size_limit = size_limit;
    b->enc_bol = true;
}

void
gw_body_init_chunked(struct gw_body *b, enum gw_body_encoding encoding,
                     bool binary, enum gw_bare_newlines bare_nl,
                     uint64_t size_limit)
{
    gw_body_init(b, bare_nl, size_limit);
    b->encoding = encoding;
    b->binary = binary;
}

/* How many input bytes may go in with `out`'s space (each may become 2). */
static size_t
gw_body_input_bound(struct gw_body *b, size_t len, struct gw_buf *out)
{
    size_t space;
    size_t max_in;

    if (out == NULL) {
        gw_body_discard(b);
    }
    if (b->error != GW_BODY_OK) {
        return len;
    }
    space = gw_buf_space(out);
    max_in = space > GW_BODY_SLACK ? (space - GW_BODY_SLACK) / 2 : 0;
    return len < max_in ? len : max_in;
}

size_t
gw_body_feed_chunk(struct gw_body *b, const uint8_t *p, size_t len,
                   struct gw_buf *out)
{
    len = gw_body_input_bound(b, len, out);
    b->out = out;
    if (b->binary) {
        gw_body_count(b, p, len);
    } else {
        gw_body_crlf(b, p, len);
    }
    b->out = NULL;
    return len;
}

void
gw_body_finish(struct gw_body *b, struct gw_buf *out)
{
    static const uint8_t crlf[2] = {'\r', '\n'};

    if (out == NULL) {
        gw_body_discard(b);
    }
    b->out = out;
    if (b->pending_cr) {
        gw_body_crlf(b, NULL, 0);
    }
    if (b->encoding == GW_BODY_ENC_DATA && b->error == GW_BODY_OK) {
        if (!b->enc_bol) {
            /* DATA needs the content to end with CRLF; BDAT does not */
            gw_body_encode(b, crlf, 2);
        }
        gw_buf_append(out, ".\r\n", 3);
    }
    b->out = NULL;
    b->done = true;
}

void
gw_body_terminate(struct gw_body *b, struct gw_buf *out)
{
    if (b->error == GW_BODY_OK && out != NULL) {
        gw_buf_append(out, ".\r\n", 3);
    }
}

void
gw_body_discard(struct gw_body *b)
{
    if (b->error == GW_BODY_OK) {
        b->error = GW_BODY_E_DISCARD;
    }
}

/*
 * Decoder. Emits content spans (pointing into the input) to the filter
 * chain; a leading '.' is dropped (RFC 5321 4.5.2), "<CRLF>.<CRLF>" ends the
 * data. Lines are delimited by CRLF only: a bare LF does not start a line
 * here, so "\n.\n" can never end the message.
 */
size_t
gw_body_feed(struct gw_body *b, const uint8_t *p, size_t len,
             struct gw_buf *out)
{
    size_t i;
    size_t span = 0; /* start of the pending content span */
    static const uint8_t cr = '\r';

    if (b->done) {
        return 0;
    }
    len = gw_body_input_bound(b, len, out);
    b->out = out;
    for (i = 0; i < len; i++) {
        uint8_t c = p[i];

        switch (b->dec_state) {
        case GW_DEC_BOL:
            if (c == '.') {
                gw_body_crlf(b, p + span, i - span);
                span = i + 1;
                b->dec_state = GW_DEC_DOT;
            } else {
                b->dec_state = (c == '\r') ? GW_DEC_CR : GW_DEC_TEXT;
            }
            break;
        case GW_DEC_TEXT:
            if (c == '\r') {
                b->dec_state = GW_DEC_CR;
            } else {
                /* inside a line only a CR matters: skip to the next one */
                const uint8_t *next = memchr(p + i, '\r', len - i);

                if (next == NULL) {
                    i = len - 1;
                } else {
                    i = (size_t)(next - p);
                    b->dec_state = GW_DEC_CR;
                }
            }
            break;
        case GW_DEC_CR:
            if (c == '\n') {
                b->dec_state = GW_DEC_BOL;
            } else if (c != '\r') {
                b->dec_state = GW_DEC_TEXT;
            }
            break;
        case GW_DEC_DOT:
            if (c == '\r') {
                span = i + 1;
                b->dec_state = GW_DEC_DOT_CR;
            } else {
                /* the dot was stuffing: keep what follows it */
                b->dec_state = GW_DEC_TEXT;
            }
            break;
        case GW_DEC_DOT_CR:
            if (c == '\n') {
                /* <CRLF>.<CRLF>: end of data */
                b->done = true;
                if (b->pending_cr) {
                    gw_body_crlf(b, NULL, 0);
                }
                if (b->error == GW_BODY_OK && !b->defer_end) {
                    gw_buf_append(out, ".\r\n", 3);
                }
                b->out = NULL;
                return i + 1;
            }
            /* ".\rX": the dot was stuffing; the withheld CR is content */
            gw_body_crlf(b, &cr, 1);
            span = i;
            b->dec_state = (c == '\r') ? GW_DEC_CR : GW_DEC_TEXT;
            break;
        }
    }
    if (b->dec_state != GW_DEC_DOT && b->dec_state != GW_DEC_DOT_CR) {
        gw_body_crlf(b, p + span, len - span);
    }
    b->out = NULL;
    return len;
}

static void
gw_body_bare_nl(struct gw_body *b)
{
    b->saw_bare_nl = true;
    if (b->bare_nl == GW_BARE_NL_REJECT && b->error == GW_BODY_OK) {
        b->error = GW_BODY_E_BARE_NL;
    }
}

/*
 * Bare CR / bare LF filter: every line ending that is not CRLF becomes CRLF
 * (normalize) or sets the sticky error (reject). A CR at the end of a span
 * is held until the next byte shows whether an LF follows. Called with
 * len == 0 at end of data to flush a held CR. Lines that end in a proper
 * CRLF stay in one span (two memchr per line, no per-byte work).
 */
static void
gw_body_crlf(struct gw_body *b, const uint8_t *p, size_t len)
{
    static const uint8_t crlf[2] = {'\r', '\n'};
    const uint8_t *lf;
    const uint8_t *cr;
    size_t i = 0;
    size_t span = 0;
    size_t end;
    size_t c;

    if (len == 0 && b->pending_cr) {
        b->pending_cr = false;
        gw_body_bare_nl(b);
        gw_body_count(b, crlf, 2);
        return;
    }
    while (i < len) {
        if (b->pending_cr) {
            /* the CR held from the previous span */
            b->pending_cr = false;
            if (p[i] != '\n') {
                gw_body_bare_nl(b);
            }
            gw_body_count(b, crlf, 2);
            i += (p[i] == '\n') ? 1 : 0;
            span = i;
            continue;
        }
        lf = memchr(p + i, '\n', len - i);
        end = lf != NULL ? (size_t)(lf - p) : len;
        cr = memchr(p + i, '\r', end - i);
        if (cr == NULL) {
            if (lf == NULL) {
                break; /* no line ending in the rest */
            }
            gw_body_count(b, p + span, end - span); /* bare LF */
            gw_body_bare_nl(b);
            gw_body_count(b, crlf, 2);
            i = span = end + 1;
            continue;
        }
        c = (size_t)(cr - p);
        if (lf != NULL && c + 1 == end) {
            i = end + 1; /* CRLF: stays in the span */
            continue;
        }
        gw_body_count(b, p + span, c - span);
        if (c + 1 == len) {
            b->pending_cr = true; /* decided by the next byte */
            return;
        }
        gw_body_bare_nl(b); /* a CR followed by something else */
        gw_body_count(b, crlf, 2);
        i = span = c + 1;
    }
    gw_body_count(b, p + span, len - span);
}

static bool
gw_body_has_8bit(const uint8_t *p, size_t len)
{
    uint64_t acc = 0;
    uint64_t w;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < len; i++) {
        acc |= p[i];
    }
    return (acc & 0x8080808080808080ULL) != 0;
}

/*
 * Size filter: counts canonical bytes; past the limit the error sticks. A
 * span that crosses the limit is not written at all, so no partial line
 * ending (a lone CR) is ever produced; what was written before an error is
 * never terminated, so it is never delivered either.
 */
static void
gw_body_count(struct gw_body *b, const uint8_t *p, size_t len)
{
    if (len == 0) {
        return;
    }
    if (b->hdr != NULL && b->error == GW_BODY_OK &&
        !gw_hdr_feed(b->hdr, p, len)) {
        b->error = GW_BODY_E_POLICY; /* nothing of it goes upstream */
    }
    if (!b->saw_8bit && gw_body_has_8bit(p, len)) {
        b->saw_8bit = true;
        if (b->reject_8bit && b->error == GW_BODY_OK) {
            b->error = GW_BODY_E_8BIT;
        }
    }
    b->size += len;
    if (b->size_limit > 0 && b->size > b->size_limit &&
        b->error == GW_BODY_OK) {
        b->error = GW_BODY_E_TOO_BIG;
    }
    gw_body_encode(b, p, len);
}

/* Encoder: dot-stuffing on canonical CRLF lines, into the output buffer. */
static void
gw_body_encode(struct gw_body *b, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    const uint8_t *lf;

    if (b->error != GW_BODY_OK || len == 0) {
        return;
    }
    if (b->encoding == GW_BODY_ENC_RAW) {
        gw_buf_append(b->out, p, len);
        b->enc_bol = (p[len - 1] == '\n');
        return;
    }
    while (p < end) {
        if (b->enc_bol && *p == '.') {
            gw_buf_append(b->out, ".", 1);
        }
        lf = memchr(p, '\n', (size_t)(end - p));
        if (lf == NULL) {
            gw_buf_append(b->out, p, (size_t)(end - p));
            b->enc_bol = false;
            return;
        }
        gw_buf_append(b->out, p, (size_t)(lf - p) + 1);
        b->enc_bol = true;
        p = lf + 1;
    }
}
