/*
 * A reference model of the DATA body pipeline (gateway/gw_body.c), written
 * the slow, obvious way, shared by tests/unit/test_gw_body.c and
 * tests/fuzz/fuzz_body.c: both feed the real module and compare what it
 * wrote with the model's bytes.
 *
 * Function definitions in a header: each includes it once.
 */
#ifndef POSTERN_TESTS_BODY_MODEL_H
#define POSTERN_TESTS_BODY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_body.h"

struct body_model {
    enum gw_bare_newlines mode;
    uint64_t limit;
    uint8_t *out; /* stuffed canonical bytes, as the module should write */
    size_t out_len;
    size_t out_at_error; /* out_len when the error was set */
    uint64_t size;
    bool bol;
    bool bare;
    enum gw_body_error error;
};

static void
body_model_emit(struct body_model *m, const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        m->size++;
        if (m->limit > 0 && m->size > m->limit && m->error == GW_BODY_OK) {
            m->error = GW_BODY_E_TOO_BIG;
            m->out_at_error = m->out_len;
        }
        if (m->bol && p[i] == '.') {
            m->out[m->out_len++] = '.';
        }
        m->out[m->out_len++] = p[i];
        m->bol = (p[i] == '\n');
    }
}

static void
body_model_bare(struct body_model *m)
{
    m->bare = true;
    if (m->mode == GW_BARE_NL_REJECT && m->error == GW_BODY_OK) {
        m->error = GW_BODY_E_BARE_NL;
        m->out_at_error = m->out_len;
    }
    body_model_emit(m, (const uint8_t *)"\r\n", 2);
}

/*
 * The content is in[0..clen). Lines end at CRLF only; a leading '.' is
 * removed; every other CR or LF is bare and becomes CRLF. Returns the end
 * of data offset (consumed bytes) or 0 when there is none.
 */
static size_t
body_model_run(struct body_model *m, const uint8_t *in, size_t len)
{
    size_t end = 0;
    size_t clen = len;
    size_t s = 0;
    size_t i;

    if (len >= 3 && memcmp(in, ".\r\n", 3) == 0) {
        end = 3;
        clen = 0;
    }
    for (i = 0; end == 0 && i + 5 <= len; i++) {
        if (memcmp(in + i, "\r\n.\r\n", 5) == 0) {
            end = i + 5;
            clen = i + 2;
        }
    }
    m->bol = true;
    while (s < clen) {
        size_t e = s;
        bool full;

        while (e + 1 < clen && !(in[e] == '\r' && in[e + 1] == '\n')) {
            e++;
        }
        full = (e + 1 < clen);
        if (!full) {
            e = clen;
        }
        if (e > s && in[s] == '.') {
            s++;
        }
        for (i = s; i < e; i++) {
            if (in[i] == '\r' || in[i] == '\n') {
                body_model_bare(m);
            } else {
                body_model_emit(m, in + i, 1);
            }
        }
        if (full) {
            body_model_emit(m, (const uint8_t *)"\r\n", 2);
        }
        s = e + 2;
    }
    if (m->error == GW_BODY_OK) {
        m->out_at_error = m->out_len;
    }
    return end;
}

/* What the module under test did with one input. */
struct body_model_seen {
    const uint8_t *out; /* every byte written for the upstream */
    size_t out_len;
    size_t consumed;
    bool done;
    enum gw_body_error error;
    bool saw_bare_nl;
};

/* Compares w with the model for (mode, limit, in): NULL when they agree,
 * else what differs. */
static const char *
body_model_check(enum gw_bare_newlines mode, uint64_t limit,
                 const uint8_t *in, size_t len,
                 const struct body_model_seen *w)
{
    struct body_model m;
    const char *differs = NULL;
    size_t end;

    memset(&m, 0, sizeof(m));
    m.mode = mode;
    m.limit = limit;
    m.out = malloc(2 * len + 16);
    if (m.out == NULL) {
        return "out of memory";
    }
    end = body_model_run(&m, in, len);
    if (w->done != (end > 0) || w->consumed != (end > 0 ? end : len)) {
        differs = "end of data not where <CRLF>.<CRLF> first occurs";
    } else if (end > 0 &&
               (w->error != m.error || w->saw_bare_nl != m.bare)) {
        differs = "error or bare newline flag differs from the model";
    } else if (end > 0 && m.error == GW_BODY_OK) {
        memcpy(m.out + m.out_len, ".\r\n", 3);
        m.out_len += 3;
        if (w->out_len != m.out_len ||
            memcmp(w->out, m.out, m.out_len) != 0) {
            differs = "output differs from the model";
        }
    } else {
        /* before the end, or after an error: a prefix of the model's */
        size_t cap = m.error != GW_BODY_OK ? m.out_at_error : m.out_len;

        if (w->out_len > cap || memcmp(w->out, m.out, w->out_len) != 0) {
            differs = "output is not a prefix of the model's";
        } else if (end > 0 && m.error == GW_BODY_E_BARE_NL &&
                   w->out_len != m.out_at_error) {
            differs = "output before a bare newline differs from the model";
        }
    }
    free(m.out);
    return differs;
}

#endif
