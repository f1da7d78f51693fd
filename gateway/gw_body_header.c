#include "gateway/gw_body_header.h"

#include <string.h>

#include "gateway/gw_alloc.h"

enum {
    GW_HDR_LINE,   /* inside a line */
    GW_HDR_CR,     /* after CR inside a line */
    GW_HDR_EOL,    /* at the start of a line */
    GW_HDR_EOL_CR, /* CR at the start of a line: maybe the empty line */
    GW_HDR_DONE,   /* the headers are over */
};

struct gw_hdr_parser {
    gw_hdr_cb cb;
    void *arg;
    int state;
    unsigned count;
    size_t len;    /* bytes of the current field in buf */
    bool stopped;
    uint8_t buf[GW_HEADER_FIELD_MAX];
};

struct gw_hdr_parser *
gw_hdr_new(gw_hdr_cb cb, void *arg)
{
    struct gw_hdr_parser *h = gw_alloc(sizeof(*h));

    if (h == NULL) {
        return NULL;
    }
    h->cb = cb;
    h->arg = arg;
    h->state = GW_HDR_EOL;
    h->count = 0;
    h->len = 0;
    h->stopped = false;
    return h;
}

void
gw_hdr_free(struct gw_hdr_parser *h)
{
    gw_free(h);
}

unsigned
gw_hdr_count(const struct gw_hdr_parser *h)
{
    return h->count;
}

static void
gw_hdr_put(struct gw_hdr_parser *h, uint8_t c)
{
    if (h->len < sizeof(h->buf)) {
        h->buf[h->len++] = c;
    }
}

static bool
gw_hdr_is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Hands the assembled field to the callback. */
static void
gw_hdr_flush(struct gw_hdr_parser *h)
{
    const uint8_t *colon;
    size_t nlen;
    size_t v;

    if (h->len == 0 || h->stopped) {
        h->len = 0;
        return;
    }
    h->count++;
    colon = memchr(h->buf, ':', h->len);
    nlen = colon != NULL ? (size_t)(colon - h->buf) : h->len;
    v = colon != NULL ? nlen + 1 : h->len;
    while (nlen > 0 && gw_hdr_is_wsp(h->buf[nlen - 1])) {
        nlen--;
    }
    while (v < h->len && gw_hdr_is_wsp(h->buf[v])) {
        v++;
    }
    if (!h->cb(h->arg, h->buf, nlen, h->buf + v, h->len - v)) {
        h->stopped = true;
    }
    h->len = 0;
}

bool
gw_hdr_feed(struct gw_hdr_parser *h, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i < len && h->state != GW_HDR_DONE && !h->stopped; i++) {
        uint8_t c = p[i];

        switch (h->state) {
        case GW_HDR_LINE:
            if (c == '\r') {
                h->state = GW_HDR_CR;
            } else {
                gw_hdr_put(h, c);
            }
            break;
        case GW_HDR_CR:
            if (c == '\n') {
                h->state = GW_HDR_EOL;
            } else {
                gw_hdr_put(h, '\r');
                gw_hdr_put(h, c);
                h->state = GW_HDR_LINE;
            }
            break;
        case GW_HDR_EOL:
            if (gw_hdr_is_wsp(c) && h->len > 0) {
                gw_hdr_put(h, c); /* a folded line: unfold */
                h->state = GW_HDR_LINE;
            } else if (c == '\r') {
                h->state = GW_HDR_EOL_CR;
            } else {
                gw_hdr_flush(h);
                gw_hdr_put(h, c);
                h->state = GW_HDR_LINE;
            }
            break;
        case GW_HDR_EOL_CR:
            gw_hdr_flush(h);
            if (c == '\n') {
                h->state = GW_HDR_DONE; /* the empty line */
            } else {
                gw_hdr_put(h, '\r');
                gw_hdr_put(h, c);
                h->state = GW_HDR_LINE;
            }
            break;
        }
    }
    return !h->stopped;
}

void
gw_hdr_finish(struct gw_hdr_parser *h)
{
    if (h->state != GW_HDR_DONE) {
        gw_hdr_flush(h);
        h->state = GW_HDR_DONE;
    }
}
