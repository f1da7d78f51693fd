/*
 * Line reader: finds the next line in a byte range under a length limit.
 * Pure: no I/O, no allocation. The state carries only "skipping the rest of
 * an over-long line" across calls.
 */
#ifndef GW_LINE_H
#define GW_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gw_parse_result {
    GW_PARSE_OK = 0,  /* a complete item was found */
    GW_PARSE_AGAIN,   /* need more bytes */
    GW_PARSE_INVALID, /* syntax error */
    GW_PARSE_TOOLONG, /* over the limit */
};

/* Flags on a line returned by gw_line_next. */
#define GW_LINE_BARE_LF 0x01 /* ended with LF not preceded by CR */
#define GW_LINE_BARE_CR 0x02 /* a CR not followed by LF inside the line */
#define GW_LINE_NUL 0x04     /* a NUL octet inside the line */

struct gw_line_reader {
    size_t max;    /* longest line accepted, terminator included */
    bool skipping; /* discarding the tail of an over-long line */
};

struct gw_line {
    const uint8_t *p; /* the line without its CRLF / LF */
    size_t len;
    size_t consumed;  /* bytes the caller must drop (terminator included) */
    unsigned flags;   /* GW_LINE_* */
};

void gw_line_reader_init(struct gw_line_reader *r, size_t max);

/*
 * Looks for the next line in [p, p + len).
 *  GW_PARSE_OK:      out describes the line; drop out->consumed bytes.
 *  GW_PARSE_AGAIN:   no complete line yet; drop out->consumed bytes (non-zero
 *                    only while skipping an over-long line) and call again
 *                    when more bytes arrive.
 *  GW_PARSE_TOOLONG: reported once per over-long line, as soon as `max`
 *                    bytes have no LF; drop out->consumed bytes. The reader
 *                    then skips up to and including the next LF (nginx
 *                    `invalid:`), so the caller answers once and goes on.
 * Never reads past p + len.
 */
int gw_line_next(struct gw_line_reader *r, const uint8_t *p, size_t len,
                 struct gw_line *out);

#endif
