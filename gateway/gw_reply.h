/*
 * Replies Postern sends to clients: formatting (multi-line, enhanced status
 * codes per RFC 2034) and mapping an upstream reply to the client's reply,
 * synthesising the enhanced code when the upstream gave none (RFC 3463).
 */
#ifndef GW_REPLY_H
#define GW_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/gw_reply_parse.h"
#include "gateway/gw_smtp_parse.h"

/*
 * The enhanced code that fits `code` as a reply to `verb` (GW_VERB_UNKNOWN
 * for end of data is not used: pass GW_VERB_DATA with eom set). Returns a
 * static string, "" for codes that carry none (354, and 3xx in general).
 */
const char *gw_enhanced_for(enum gw_verb verb, bool eom, int code);

/*
 * Formats a reply into dst: each '\n'-separated line of text becomes
 * "ddd-x.y.z text\r\n", the last "ddd x.y.z text\r\n" (no enhanced part when
 * enh is "" or NULL). Returns the length written, or 0 when it does not fit
 * (nothing useful is left in dst then).
 */
size_t gw_reply_format(uint8_t *dst, size_t cap, int code, const char *enh,
                       const char *text, size_t text_len);

/*
 * Maps an upstream reply for the client: same code; the upstream's enhanced
 * code when it had one, else a synthesised one; the upstream's text
 * (already sanitised by the parser). Writes like gw_reply_format.
 */
size_t gw_reply_map(uint8_t *dst, size_t cap, const struct gw_reply *r,
                    enum gw_verb verb, bool eom);

#endif
