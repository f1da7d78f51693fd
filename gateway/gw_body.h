/*
 * The body pipeline for DATA: decoder (dot-unstuffing, end of data on
 * CRLF.CRLF only) -> filters over canonical message bytes (bare CR/LF
 * policy, size count) -> encoder (dot-stuffing for the upstream). Streaming
 * with bounded state: nothing here holds more than a few bytes of the
 * message, and the output never exceeds twice the input consumed plus
 * GW_BODY_SLACK, so the caller can size each step from the output space.
 *
 * Smuggling defence: only <CRLF>.<CRLF> ends the message; bare LF and bare
 * CR never reach the upstream (normalised to CRLF or rejected) and every
 * line that starts with '.' after normalisation is stuffed again, so no
 * byte sequence in the content can end the message early at the upstream.
 */
#ifndef GW_BODY_H
#define GW_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gw_body_header.h"
#include "gateway/gw_buf.h"
#include "gateway/gw_config.h"

/* Output bytes a step may need beyond 2 * input (terminator ".\r\n"). */
#define GW_BODY_SLACK 8

/* Sticky errors: once set, content is dropped until end of data. */
enum gw_body_error {
    GW_BODY_OK = 0,
    GW_BODY_E_BARE_NL,   /* bare CR or LF under `reject`: 550 5.6.0 */
    GW_BODY_E_TOO_BIG,   /* over the size limit: 552 5.3.4 */
    GW_BODY_E_DISCARD,   /* caller aborted (upstream lost); drop the rest */
    GW_BODY_E_8BIT,      /* 8-bit octet for a 7-bit upstream: 554 5.6.3 */
    GW_BODY_E_POLICY,    /* a header rule refused the message */
    GW_BODY_E_REFUSED,   /* the upstream refused a re-chunked piece */
};

/* What the upstream gets: DATA (dot-stuffed, ".\r\n" terminator) or the
 * canonical bytes as they are (the caller frames them as BDAT chunks). */
enum gw_body_encoding {
    GW_BODY_ENC_DATA = 0,
    GW_BODY_ENC_RAW,
};

struct gw_body {
    enum gw_body_encoding encoding;
    bool binary;         /* BODY=BINARYMIME: no line-ending filter */
    /* decoder */
    uint8_t dec_state;
    /* bare CR/LF filter */
    enum gw_bare_newlines bare_nl;
    bool pending_cr;
    bool saw_bare_nl;    /* normalised at least one (for the log) */
    bool saw_8bit;       /* an octet above 127 went by */
    bool reject_8bit;    /* ...and that is an error (ehlo.eightbit) */
    /* size filter */
    uint64_t size;       /* canonical message bytes so far */
    uint64_t size_limit; /* 0: no limit */
    /* encoder */
    bool enc_bol;        /* output is at the start of a line */
    bool done;           /* end of data seen */
    bool defer_end;      /* DATA: leave the terminator to gw_body_terminate
                            (end-of-data policy runs in between) */
    enum gw_body_error error;
    struct gw_buf *out;  /* set for the duration of one gw_body_feed */
    struct gw_hdr_parser *hdr; /* the caller's, when header rules exist */
};

void gw_body_init(struct gw_body *b, enum gw_bare_newlines bare_nl,
                  uint64_t size_limit);

/*
 * Feeds client DATA bytes. `out` may be NULL to discard (the sticky
 * GW_BODY_E_DISCARD is then set); after any error all input up to the end
 * of data is consumed and nothing is written. Otherwise consumes as much of [p, p + len) as fits the
 * output rule (at most (space(out) - GW_BODY_SLACK) / 2 bytes), writes the
 * encoded bytes for the upstream to `out` (nothing after an error), and
 * returns the number of input bytes consumed. When the end of data is
 * found, b->done is set, the bytes after it are left unconsumed, and (when
 * there is no error) the terminator ".\r\n" has been written to `out`.
 * Bytes after the end of data are never consumed.
 */
size_t gw_body_feed(struct gw_body *b, const uint8_t *p, size_t len,
                    struct gw_buf *out);

/* Writes the ".\r\n" a DATA body held back (defer_end); needs 3 bytes of
 * space. Nothing after an error. */
void gw_body_terminate(struct gw_body *b, struct gw_buf *out);

/* Stops writing content (the upstream transaction is being aborted). */
void gw_body_discard(struct gw_body *b);

/*
 * BDAT input: the chunk's bytes are message content as they are (RFC 3030:
 * no dot-unstuffing, no end marker; the caller counts the chunk length).
 * They go through the same filters and the encoder chosen by `encoding`
 * (DATA when bridging BDAT to a DATA-only upstream). Same output rule and
 * return value as gw_body_feed; `out` may be NULL to discard.
 */
void gw_body_init_chunked(struct gw_body *b, enum gw_body_encoding encoding,
                          bool binary, enum gw_bare_newlines bare_nl,
                          uint64_t size_limit);
size_t gw_body_feed_chunk(struct gw_body *b, const uint8_t *p, size_t len,
                          struct gw_buf *out);

/*
 * End of a chunked message (BDAT LAST): flushes a held CR and, for the DATA
 * encoding, ends the last line with CRLF if it had none and writes the
 * ".\r\n" terminator. Needs GW_BODY_SLACK bytes of space in `out` (NULL
 * when discarding). Sets b->done.
 */
void gw_body_finish(struct gw_body *b, struct gw_buf *out);

#endif
