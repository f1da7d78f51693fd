/*
 * Upstream reply parsing (RFC 5321 4.2): multi-line replies fed one line at
 * a time. The upstream is hostile too: every line must carry the same
 * three-digit code, the count is bounded, control octets are replaced, and
 * the text kept is capped. Pure: no I/O, no allocation.
 */
#ifndef GW_REPLY_PARSE_H
#define GW_REPLY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gw_limits.h"
#include "gateway/gw_line.h"

struct gw_reply {
    int code;              /* 200..599 */
    char enhanced[16];     /* "5.1.1" when every line had it, else "" */
    size_t nlines;
    /* Text of the lines, enhanced code removed, joined with '\n',
     * sanitised (control octets and non-ASCII become '?'), capped. */
    char text[GW_MAX_REPLY_TEXT];
    size_t text_len;
    bool truncated;        /* text was cut at GW_MAX_REPLY_TEXT */
};

struct gw_reply_parser {
    size_t max_lines;
    bool in_progress;      /* a continuation line was seen */
    struct gw_reply reply; /* the reply being assembled */
    /* The text of the line just fed (after "ddd-" and any enhanced code),
     * raw, pointing into the caller's line; valid until the next call. Used
     * to read EHLO keywords. */
    const uint8_t *line_text;
    size_t line_text_len;
};

void gw_reply_parser_init(struct gw_reply_parser *rp, size_t max_lines);

/*
 * Feeds one reply line (without CRLF).
 *  GW_PARSE_OK:      the reply is complete in rp->reply; the next call starts
 *                    a new reply.
 *  GW_PARSE_AGAIN:   a continuation line ("ddd-"); feed the next line.
 *  GW_PARSE_INVALID: not "ddd[ -]text", a code outside 200..599, a code that
 *                    differs from the first line's, or a NUL.
 *  GW_PARSE_TOOLONG: more than max_lines lines.
 * After INVALID or TOOLONG the upstream is faulty; the caller drops it.
 */
int gw_reply_parser_feed(struct gw_reply_parser *rp, const uint8_t *line,
                         size_t len);

/* Recognises an RFC 3463 enhanced code "c.sss.ddd" at the start of p whose
 * class digit c equals `cls`; returns its length (5..11) or 0. */
size_t gw_enhanced_scan(const uint8_t *p, size_t len, int cls);

#endif
