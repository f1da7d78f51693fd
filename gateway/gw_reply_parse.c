#include "gateway/gw_reply_parse.h"

#include <string.h>

#include "gateway/gw_str.h"

static void gw_reply_append_text(struct gw_reply *r, const uint8_t *p,
                                 size_t len);

void
gw_reply_parser_init(struct gw_reply_parser *rp, size_t max_lines)
{
    memset(rp, 0, sizeof(*rp));
    rp->max_lines = max_lines;
}

/* Counts 1..max digits at p; 0 when there are none or too many. */
static size_t
gw_reply_digits(const uint8_t *p, size_t len, size_t max)
{
    size_t n = 0;

    while (n < len && gw_is_digit(p[n])) {
        n++;
    }
    return (n >= 1 && n <= max) ? n : 0;
}

size_t
gw_enhanced_scan(const uint8_t *p, size_t len, int cls)
{
    size_t i = 0;
    size_t n;

    /* class "." subject "." detail; class is 2, 4 or 5 */
    if (len < 5 || p[0] != (uint8_t)('0' + cls) || p[1] != '.') {
        return 0;
    }
    i = 2;
    n = gw_reply_digits(p + i, len - i, 3);
    if (n == 0 || i + n >= len || p[i + n] != '.') {
        return 0;
    }
    i += n + 1;
    n = gw_reply_digits(p + i, len - i, 3);
    if (n == 0) {
        return 0;
    }
    i += n;
    if (i < len && p[i] != ' ') {
        return 0;
    }
    return i;
}

static void
gw_reply_append_text(struct gw_reply *r, const uint8_t *p, size_t len)
{
    size_t i;

    if (r->nlines > 1) {
        if (r->text_len + 1 >= sizeof(r->text)) {
            r->truncated = true;
            return;
        }
        r->text[r->text_len++] = '\n';
    }
    for (i = 0; i < len; i++) {
        if (r->text_len + 1 >= sizeof(r->text)) {
            r->truncated = true;
            break;
        }
        r->text[r->text_len++] = (p[i] >= 32 && p[i] < 127) ? (char)p[i]
                                                            : '?';
    }
    r->text[r->text_len] = '\0';
}

int
gw_reply_parser_feed(struct gw_reply_parser *rp, const uint8_t *line,
                     size_t len)
{
    struct gw_reply *r = &rp->reply;
    const uint8_t *text;
    size_t text_len;
    size_t elen;
    int code;
    bool last;

    if (!rp->in_progress) {
        memset(r, 0, sizeof(*r));
    }
    rp->line_text = NULL;
    rp->line_text_len = 0;
    if (len < 3 || !gw_is_digit(line[0]) || !gw_is_digit(line[1]) ||
        !gw_is_digit(line[2]) || memchr(line, '\0', len) != NULL) {
        return GW_PARSE_INVALID;
    }
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 200 || code > 599) {
        return GW_PARSE_INVALID;
    }
    if (len > 3 && line[3] != ' ' && line[3] != '-') {
        return GW_PARSE_INVALID;
    }
    if (rp->in_progress && code != r->code) {
        return GW_PARSE_INVALID;
    }
    if (r->nlines >= rp->max_lines) {
        return GW_PARSE_TOOLONG;
    }
    last = (len == 3 || line[3] == ' ');
    text = line + (len > 3 ? 4 : 3);
    text_len = len > 3 ? len - 4 : 0;

    elen = gw_enhanced_scan(text, text_len, code / 100);
    if (r->nlines == 0 && elen > 0) {
        memcpy(r->enhanced, text, elen);
        r->enhanced[elen] = '\0';
    } else if (r->nlines > 0 && r->enhanced[0] != '\0' &&
               (elen == 0 || elen != strlen(r->enhanced) ||
                memcmp(text, r->enhanced, elen) != 0)) {
        /* Inconsistent enhanced codes: keep the basic code only. */
        r->enhanced[0] = '\0';
    }
    if (elen > 0) {
        text += elen;
        text_len -= elen;
        while (text_len > 0 && text[0] == ' ') {
            text++;
            text_len--;
        }
    }
    r->code = code;
    r->nlines++;
    gw_reply_append_text(r, text, text_len);
    rp->line_text = text;
    rp->line_text_len = text_len;
    rp->in_progress = !last;
    return last ? GW_PARSE_OK : GW_PARSE_AGAIN;
}
