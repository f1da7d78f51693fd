/*
 * libFuzzer target for gateway/gw_reply_parse.c (and the reply mapping in
 * gw_reply.c and the EHLO keyword parser in gw_caps.c that consume it).
 *
 * The input is what an upstream sends: it is split into lines at LF (a
 * trailing CR is dropped) and fed to the parser, once with the default
 * line bound and once with a bound of 3. After INVALID or TOOLONG the
 * parser is reset, as the caller drops the upstream. Each complete reply
 * is checked (code range, clean bounded text, enhanced code shape), mapped
 * for the client, and the mapped bytes must be clean CRLF lines that parse
 * back to the same code and line count. Any violation calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_caps.h"
#include "gateway/gw_reply.h"
#include "gateway/gw_reply_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_reply_parse: %s\n", why);
    abort();
}

static void
fz_check_reply(const struct gw_reply *r, size_t max_lines)
{
    size_t i;
    size_t elen = strlen(r->enhanced);
    size_t lines = 1;

    if (r->code < 200 || r->code > 599 || r->nlines == 0 ||
        r->nlines > max_lines) {
        fz_fail("code or line count");
    }
    if (r->text_len >= sizeof(r->text) || strlen(r->text) != r->text_len) {
        fz_fail("text length");
    }
    for (i = 0; i < r->text_len; i++) {
        if (r->text[i] == '\n') {
            lines++;
        } else if (r->text[i] < 32 || r->text[i] > 126) {
            fz_fail("unsanitised text");
        }
    }
    if (lines > r->nlines || (!r->truncated && lines != r->nlines)) {
        fz_fail("text lines do not match the reply");
    }
    if (elen > 0 && gw_enhanced_scan((const uint8_t *)r->enhanced, elen,
                                     r->code / 100) != elen) {
        fz_fail("enhanced code of the wrong shape or class");
    }
}

/* Maps the reply, checks the bytes, and parses them back. */
static void
fz_check_map(const struct gw_reply *r, enum gw_verb verb, bool eom)
{
    static uint8_t out[16384];
    struct gw_reply_parser back;
    const char *enh = r->enhanced[0] != '\0'
                          ? r->enhanced
                          : gw_enhanced_for(verb, eom, r->code);
    size_t n = gw_reply_map(out, sizeof(out), r, verb, eom);
    size_t pos = 0;
    size_t lines = 0;
    int rc = GW_PARSE_AGAIN;

    if (n == 0) {
        fz_fail("mapped reply did not fit");
    }
    gw_reply_parser_init(&back, r->nlines + 1);
    while (pos < n) {
        const uint8_t *cr = memchr(out + pos, '\r', n - pos);
        size_t i;

        if (cr == NULL || cr + 1 >= out + n || cr[1] != '\n') {
            fz_fail("mapped reply has a bare CR or no CRLF");
        }
        for (i = pos; out + i < cr; i++) {
            if (out[i] < 32 || out[i] > 126) {
                fz_fail("mapped reply has a control octet");
            }
        }
        if (rc != GW_PARSE_AGAIN) {
            fz_fail("mapped reply continues after its last line");
        }
        rc = gw_reply_parser_feed(&back, out + pos, (size_t)(cr - out - pos));
        lines++;
        pos = (size_t)(cr - out) + 2;
    }
    if (rc != GW_PARSE_OK || back.reply.code != r->code) {
        fz_fail("mapped reply does not parse back");
    }
    if (enh[0] != '\0' && strcmp(back.reply.enhanced, enh) != 0) {
        fz_fail("mapped reply lost its enhanced code");
    }
    if (back.reply.nlines != lines || (!r->truncated && lines != r->nlines)) {
        fz_fail("mapped reply has the wrong number of lines");
    }
}

static void
fz_run(const uint8_t *data, size_t size, size_t max_lines)
{
    struct gw_reply_parser rp;
    struct gw_caps caps;
    size_t pos = 0;

    gw_reply_parser_init(&rp, max_lines);
    memset(&caps, 0, sizeof(caps));
    while (pos < size) {
        const uint8_t *lf = memchr(data + pos, '\n', size - pos);
        size_t end = lf != NULL ? (size_t)(lf - data) : size;
        size_t len = end - pos;
        uint8_t *line;
        int rc;

        if (len > 0 && data[end - 1] == '\r') {
            len--;
        }
        line = malloc(len > 0 ? len : 1); /* exact size for ASan */
        if (line == NULL) {
            fz_fail("out of memory");
        }
        memcpy(line, data + pos, len);
        rc = gw_reply_parser_feed(&rp, line, len);
        switch (rc) {
        case GW_PARSE_OK:
        case GW_PARSE_AGAIN:
            if (rp.line_text == NULL || rp.line_text < line ||
                rp.line_text + rp.line_text_len > line + len) {
                fz_fail("line_text outside the line");
            }
            gw_caps_parse_line(&caps, rp.line_text, rp.line_text_len);
            if (rc == GW_PARSE_OK) {
                fz_check_reply(&rp.reply, max_lines);
                fz_check_map(&rp.reply, GW_VERB_RCPT, false);
                fz_check_map(&rp.reply, GW_VERB_DATA, true);
                fz_check_map(&rp.reply, GW_VERB_EHLO, false);
            }
            break;
        case GW_PARSE_INVALID:
        case GW_PARSE_TOOLONG:
            gw_reply_parser_init(&rp, max_lines);
            break;
        default:
            fz_fail("unknown result");
        }
        free(line);
        pos = end + 1;
    }
    if (caps.size_max > 0 && !gw_caps_has(&caps, GW_CAP_SIZE)) {
        fz_fail("SIZE value without the SIZE keyword");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size, GW_DEF_REPLY_LINES);
    fz_run(data, size, 3);
    return 0;
}
