/*
 * The header section of a message as it streams: fields assembled and
 * unfolded (RFC 5322 2.2.3: CRLF before WSP removed) within a bounded
 * buffer, handed to a callback one by one, until the empty line that ends
 * the headers. Used by the policy's header stage. Pure, bounded state.
 */
#ifndef GW_BODY_HEADER_H
#define GW_BODY_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A field longer than this is cut (the rest of it is not seen). */
#define GW_HEADER_FIELD_MAX (16 * 1024)

struct gw_hdr_parser;

/* name without ':' and trailing WSP; value unfolded, leading WSP dropped.
 * Returns false to stop (the caller refused the message). */
typedef bool (*gw_hdr_cb)(void *arg, const uint8_t *name, size_t name_len,
                          const uint8_t *value, size_t value_len);

/* NULL on allocation failure. */
struct gw_hdr_parser *gw_hdr_new(gw_hdr_cb cb, void *arg);
void gw_hdr_free(struct gw_hdr_parser *h);

/* Feeds canonical (CRLF) message bytes; after the end of the headers the
 * bytes are ignored. Returns false when the callback said stop. */
bool gw_hdr_feed(struct gw_hdr_parser *h, const uint8_t *p, size_t len);

/* End of the message: a last field not yet handed over goes now (a
 * message may end inside its headers). */
void gw_hdr_finish(struct gw_hdr_parser *h);

/* Fields seen so far. */
unsigned gw_hdr_count(const struct gw_hdr_parser *h);

#endif
