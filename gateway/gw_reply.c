#include "gateway/gw_reply.h"

#include <stdio.h>
#include <string.h>

struct gw_enh_row {
    enum gw_verb verb; /* GW_VERB_UNKNOWN: any command */
    bool eom;
    int code;          /* exact code, or 2/4/5 for the whole class */
    const char *enh;
};

/*
 * First match wins: exact (verb, code), then (any, code) -- a 503 means a
 * bad sequence whatever the command -- then (verb, class), then
 * (any, class). RFC 3463 codes as Postfix and Exim use them.
 */
static const struct gw_enh_row gw_enh_table[] = {
    {GW_VERB_MAIL, false, 250, "2.1.0"},
    {GW_VERB_MAIL, false, 552, "5.3.4"},
    {GW_VERB_MAIL, false, 553, "5.1.7"},
    {GW_VERB_MAIL, false, 550, "5.1.0"},
    {GW_VERB_MAIL, false, 4, "4.1.0"},
    {GW_VERB_MAIL, false, 5, "5.1.0"},
    {GW_VERB_RCPT, false, 250, "2.1.5"},
    {GW_VERB_RCPT, false, 251, "2.1.5"},
    {GW_VERB_RCPT, false, 252, "2.1.5"},
    {GW_VERB_RCPT, false, 450, "4.2.0"},
    {GW_VERB_RCPT, false, 451, "4.3.0"},
    {GW_VERB_RCPT, false, 452, "4.5.3"},
    {GW_VERB_RCPT, false, 550, "5.1.1"},
    {GW_VERB_RCPT, false, 551, "5.1.6"},
    {GW_VERB_RCPT, false, 552, "5.2.2"},
    {GW_VERB_RCPT, false, 553, "5.1.3"},
    {GW_VERB_RCPT, false, 4, "4.1.0"},
    {GW_VERB_RCPT, false, 5, "5.1.0"},
    {GW_VERB_DATA, true, 250, "2.0.0"},
    {GW_VERB_DATA, true, 552, "5.3.4"},
    {GW_VERB_DATA, true, 554, "5.6.0"},
    {GW_VERB_DATA, false, 554, "5.5.1"},
    {GW_VERB_UNKNOWN, false, 421, "4.3.0"},
    {GW_VERB_UNKNOWN, false, 451, "4.3.0"},
    {GW_VERB_UNKNOWN, false, 452, "4.3.1"},
    {GW_VERB_UNKNOWN, false, 500, "5.5.2"},
    {GW_VERB_UNKNOWN, false, 501, "5.5.4"},
    {GW_VERB_UNKNOWN, false, 502, "5.5.1"},
    {GW_VERB_UNKNOWN, false, 503, "5.5.1"},
    {GW_VERB_UNKNOWN, false, 504, "5.5.4"},
    {GW_VERB_UNKNOWN, false, 530, "5.7.0"},
    {GW_VERB_UNKNOWN, false, 552, "5.3.4"},
    {GW_VERB_UNKNOWN, false, 554, "5.0.0"},
    {GW_VERB_UNKNOWN, false, 2, "2.0.0"},
    {GW_VERB_UNKNOWN, false, 4, "4.0.0"},
    {GW_VERB_UNKNOWN, false, 5, "5.0.0"},
};

static const char *
gw_enh_lookup(enum gw_verb verb, bool eom, int key)
{
    size_t i;

    for (i = 0; i < sizeof(gw_enh_table) / sizeof(gw_enh_table[0]); i++) {
        const struct gw_enh_row *row = &gw_enh_table[i];

        if (row->verb == verb && row->eom == eom && row->code == key) {
            return row->enh;
        }
    }
    return NULL;
}

const char *
gw_enhanced_for(enum gw_verb verb, bool eom, int code)
{
    const char *e;

    if (code / 100 == 3 || code < 200 || code > 599) {
        return "";
    }
    if ((e = gw_enh_lookup(verb, eom, code)) != NULL ||
        (e = gw_enh_lookup(GW_VERB_UNKNOWN, false, code)) != NULL ||
        (e = gw_enh_lookup(verb, eom, code / 100)) != NULL ||
        (e = gw_enh_lookup(GW_VERB_UNKNOWN, false, code / 100)) != NULL) {
        return e;
    }
    return "";
}

size_t
gw_reply_format(uint8_t *dst, size_t cap, int code, const char *enh,
                const char *text, size_t text_len)
{
    size_t o = 0;
    size_t start = 0;
    int n;

    if (enh == NULL) {
        enh = "";
    }
    for (;;) {
        const char *nl = memchr(text + start, '\n', text_len - start);
        size_t line_len = nl != NULL ? (size_t)(nl - text - start)
                                     : text_len - start;
        bool last = (nl == NULL);

        n = snprintf((char *)dst + o, cap - o, "%03d%c%s%s%.*s\r\n", code,
                     last ? ' ' : '-', enh, enh[0] != '\0' ? " " : "",
                     (int)line_len, text + start);
        if (n < 0 || (size_t)n >= cap - o) {
            return 0;
        }
        o += (size_t)n;
        if (last) {
            return o;
        }
        start += line_len + 1;
    }
}

size_t
gw_reply_map(uint8_t *dst, size_t cap, const struct gw_reply *r,
             enum gw_verb verb, bool eom)
{
    const char *enh = r->enhanced[0] != '\0'
                          ? r->enhanced
                          : gw_enhanced_for(verb, eom, r->code);

    return gw_reply_format(dst, cap, r->code, enh, r->text, r->text_len);
}
