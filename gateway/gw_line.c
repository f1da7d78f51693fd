#include "gateway/gw_line.h"

#include <string.h>

static unsigned gw_line_scan_flags(const uint8_t *p, size_t len);

void
gw_line_reader_init(struct gw_line_reader *r, size_t max)
{
    r->max = max;
    r->skipping = false;
}

static unsigned
gw_line_scan_flags(const uint8_t *p, size_t len)
{
    unsigned flags = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] == '\0') {
            flags |= GW_LINE_NUL;
        } else if (p[i] == '\r') {
            flags |= GW_LINE_BARE_CR;
        }
    }
    return flags;
}

int
gw_line_next(struct gw_line_reader *r, const uint8_t *p, size_t len,
             struct gw_line *out)
{
    const uint8_t *lf;
    size_t window;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (r->skipping) {
        lf = memchr(p, '\n', len);
        if (lf == NULL) {
            out->consumed = len;
            return GW_PARSE_AGAIN;
        }
        r->skipping = false;
        out->consumed = (size_t)(lf - p) + 1;
        return GW_PARSE_AGAIN;
    }

    window = len < r->max ? len : r->max;
    lf = memchr(p, '\n', window);
    if (lf == NULL) {
        if (len < r->max) {
            return GW_PARSE_AGAIN;
        }
        r->skipping = true;
        out->consumed = window;
        return GW_PARSE_TOOLONG;
    }

    n = (size_t)(lf - p);
    out->consumed = n + 1;
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    } else {
        out->flags |= GW_LINE_BARE_LF;
    }
    out->p = p;
    out->len = n;
    out->flags |= gw_line_scan_flags(p, n);
    return GW_PARSE_OK;
}
