/*
 * libFuzzer target for gateway/gw_smtp_parse.c: command lines, MAIL/RCPT
 * paths and ESMTP parameters, and the EHLO/HELO argument.
 *
 * The input is one command line without its CRLF (seeds look like
 * "MAIL FROM:<a@b> SIZE=10"). It goes through gw_cmd_parse, then the
 * argument parser for its verb; the arguments are also parsed as MAIL and
 * as RCPT whatever the verb. Results are checked against the contracts,
 * and an accepted path is printed back as "FROM:<addr> params" and parsed
 * again, which must give the same address and parameters. Any violation
 * calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_smtp_parse: %s\n", why);
    abort();
}

static bool
fz_inside(const uint8_t *p, size_t n, const uint8_t *base, size_t len)
{
    return p >= base && p <= base + len && n <= (size_t)(base + len - p);
}

static void
fz_check_cmd(const uint8_t *line, size_t len, int rc, const struct gw_cmd *c)
{
    size_t i;

    if (rc == GW_PARSE_INVALID) {
        for (i = 0; i < len; i++) {
            if ((line[i] < 32 && line[i] != '\t') || line[i] == 127) {
                return;
            }
        }
        fz_fail("INVALID without a control octet");
    }
    if (rc != GW_PARSE_OK || (unsigned)c->verb >= GW_VERB_COUNT) {
        fz_fail("bad result");
    }
    for (i = 0; i < len; i++) {
        if ((line[i] < 32 && line[i] != '\t') || line[i] == 127) {
            fz_fail("control octet accepted");
        }
    }
    if (c->verb == GW_VERB_UNKNOWN) {
        return;
    }
    if (!fz_inside(c->args, c->args_len, line, len)) {
        fz_fail("arguments outside the line");
    }
    if (c->args_len > 0 &&
        (c->args[0] == ' ' || c->args[c->args_len - 1] == ' ' ||
         c->args[c->args_len - 1] == '\t')) {
        fz_fail("arguments not trimmed");
    }
}

static void
fz_check_args(const uint8_t *args, size_t len, bool is_mail, int rc,
              const struct gw_mail_args *a, const struct gw_parse_error *err)
{
    size_t i;
    size_t j;

    if (rc != GW_PARSE_OK) {
        if ((rc != GW_PARSE_INVALID && rc != GW_PARSE_TOOLONG) ||
            err->why == NULL) {
            fz_fail("failure without a reason");
        }
        return;
    }
    if (a->path.len > GW_MAX_PATH - 2 || strlen(a->path.addr) != a->path.len) {
        fz_fail("path length");
    }
    if (a->path.is_null &&
        (!is_mail || a->path.len != 0 || a->path.is_postmaster)) {
        fz_fail("null path");
    }
    if (a->path.is_postmaster && is_mail) {
        fz_fail("postmaster without a domain in MAIL");
    }
    if (!a->path.is_null && !a->path.is_postmaster &&
        memchr(a->path.addr, '@', a->path.len) == NULL) {
        fz_fail("address without a domain");
    }
    if (a->nparams > GW_MAX_PARAMS) {
        fz_fail("too many parameters");
    }
    for (i = 0; i < a->nparams; i++) {
        const struct gw_param *p = &a->params[i];

        if (p->key_len == 0 || !fz_inside(p->key, p->key_len, args, len) ||
            (p->value != NULL &&
             (p->value_len == 0 ||
              !fz_inside(p->value, p->value_len, args, len)))) {
            fz_fail("parameter bounds");
        }
        for (j = 0; j < p->key_len; j++) {
            if (p->key[j] == '=' || p->key[j] == ' ') {
                fz_fail("parameter keyword");
            }
        }
        for (j = 0; p->value != NULL && j < p->value_len; j++) {
            if (p->value[j] == '=' || p->value[j] <= ' ' ||
                p->value[j] == 127) {
                fz_fail("parameter value");
            }
        }
        if (gw_param_find(a, "") != NULL) {
            fz_fail("found an empty keyword");
        }
    }
}

/* Prints an accepted MAIL/RCPT back and parses it again. */
static void
fz_round_trip(bool is_mail, const struct gw_mail_args *a)
{
    struct gw_mail_args b;
    struct gw_parse_error err;
    uint8_t *line;
    size_t need = 16 + GW_MAX_PATH;
    size_t o = 0;
    size_t i;
    int rc;

    for (i = 0; i < a->nparams; i++) {
        need += 2 + a->params[i].key_len + a->params[i].value_len;
    }
    line = malloc(need);
    if (line == NULL) {
        fz_fail("out of memory");
    }
    memcpy(line, is_mail ? "FROM:<" : "TO:<", is_mail ? 6 : 4);
    o = is_mail ? 6 : 4;
    memcpy(line + o, a->path.addr, a->path.len);
    o += a->path.len;
    line[o++] = '>';
    for (i = 0; i < a->nparams; i++) {
        line[o++] = ' ';
        memcpy(line + o, a->params[i].key, a->params[i].key_len);
        o += a->params[i].key_len;
        if (a->params[i].value != NULL) {
            line[o++] = '=';
            memcpy(line + o, a->params[i].value, a->params[i].value_len);
            o += a->params[i].value_len;
        }
    }
    rc = is_mail ? gw_mail_parse(line, o, &b, &err)
                 : gw_rcpt_parse(line, o, &b, &err);
    if (rc != GW_PARSE_OK || b.path.len != a->path.len ||
        memcmp(b.path.addr, a->path.addr, a->path.len) != 0 ||
        b.path.is_null != a->path.is_null ||
        b.path.is_postmaster != a->path.is_postmaster ||
        b.path.has_8bit != a->path.has_8bit || b.nparams != a->nparams) {
        fz_fail("printed path does not parse back the same");
    }
    for (i = 0; i < a->nparams; i++) {
        if (b.params[i].key_len != a->params[i].key_len ||
            (b.params[i].value == NULL) != (a->params[i].value == NULL) ||
            b.params[i].value_len != a->params[i].value_len ||
            memcmp(b.params[i].key, a->params[i].key, a->params[i].key_len) !=
                0 ||
            (a->params[i].value != NULL &&
             memcmp(b.params[i].value, a->params[i].value,
                    a->params[i].value_len) != 0)) {
            fz_fail("printed parameters do not parse back the same");
        }
    }
    free(line);
}

static void
fz_envelope(const uint8_t *args, size_t len, bool is_mail)
{
    struct gw_mail_args a;
    struct gw_mail_args again;
    struct gw_parse_error err;
    int rc;

    rc = is_mail ? gw_mail_parse(args, len, &a, &err)
                 : gw_rcpt_parse(args, len, &a, &err);
    fz_check_args(args, len, is_mail, rc, &a, &err);
    if (rc != (is_mail ? gw_mail_parse(args, len, &again, &err)
                       : gw_rcpt_parse(args, len, &again, &err))) {
        fz_fail("not deterministic");
    }
    if (rc == GW_PARSE_OK) {
        fz_round_trip(is_mail, &a);
        (void)gw_param_find(&a, "SIZE");
        (void)gw_param_find(&a, "body");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_cmd cmd;
    int rc;
    int h;

    rc = gw_cmd_parse(data, size, &cmd);
    fz_check_cmd(data, size, rc, &cmd);
    if (rc == GW_PARSE_OK && cmd.verb != GW_VERB_UNKNOWN) {
        if (gw_verb_name(cmd.verb) == NULL) {
            fz_fail("no verb name");
        }
        fz_envelope(cmd.args, cmd.args_len, true);
        fz_envelope(cmd.args, cmd.args_len, false);
        h = gw_helo_parse(cmd.args, cmd.args_len);
        if (h != GW_PARSE_OK && h != GW_PARSE_INVALID &&
            h != GW_PARSE_TOOLONG) {
            fz_fail("helo result");
        }
        if (h == GW_PARSE_OK &&
            (cmd.args_len == 0 || cmd.args_len > GW_MAX_DOMAIN ||
             memchr(cmd.args, ' ', cmd.args_len) != NULL)) {
            fz_fail("helo argument accepted");
        }
    }
    /* the raw input as MAIL/RCPT arguments too (no CR/LF filter first) */
    fz_envelope(data, size, true);
    fz_envelope(data, size, false);
    return 0;
}
