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
    size_t space;
    size_t max_in;
    size_t i;
    size_t span = 0; /* start of the pending content span */
    static const uint8_t cr = '\r';

    if (b->done) {
        return 0;
    }
    if (out == NULL) {
        gw_body_discard(b);
    }
    if (b->error == GW_BODY_OK) {
        /* every input byte yields at most two output bytes */
        space = gw_buf_space(out);
        max_in = space > GW_BODY_SLACK ? (space - GW_BODY_SLACK) / 2 : 0;
        if (len > max_in) {
            len = max_in;
        }
    }
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
                if (b->error == GW_BODY_OK) {
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
 * len == 0 at end of data to flush a held CR.
 */
static void
gw_body_crlf(struct gw_body *b, const uint8_t *p, size_t len)
{
    static const uint8_t crlf[2] = {'\r', '\n'};
    size_t i;
    size_t span = 0;

    if (len == 0 && b->pending_cr) {
        b->pending_cr = false;
        gw_body_bare_nl(b);
        gw_body_count(b, crlf, 2);
        return;
    }
    for (i = 0; i < len; i++) {
        if (b->pending_cr) {
            b->pending_cr = false;
            if (p[i] == '\n') {
                gw_body_count(b, crlf, 2);
                span = i + 1;
                continue;
            }
            gw_body_bare_nl(b);
            gw_body_count(b, crlf, 2);
            span = i;
        }
        if (p[i] == '\r') {
            gw_body_count(b, p + span, i - span);
            b->pending_cr = true;
            span = i + 1;
        } else if (p[i] == '\n') {
            gw_body_count(b, p + span, i - span);
            gw_body_bare_nl(b);
            gw_body_count(b, crlf, 2);
            span = i + 1;
        }
    }
    gw_body_count(b, p + span, len - span);
}

/* Size filter: counts canonical bytes; past the limit the error sticks. */
static void
gw_body_count(struct gw_body *b, const uint8_t *p, size_t len)
{
    if (len == 0) {
        return;
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

    if (b->error != GW_BODY_OK) {
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
