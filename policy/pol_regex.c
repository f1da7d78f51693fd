/*
 * PCRE2 behind the policy: compile once at load time (JIT when the library
 * has it), match with explicit limits in the ruleset's match context.
 *
 * Mail is arbitrary bytes, so patterns are compiled without UTF and with
 * PCRE2_NEVER_UTF (a pattern cannot switch UTF on with "(*UTF)" and then
 * fail on invalid input at match time); the `u` flag asks for UTF with
 * PCRE2_MATCH_INVALID_UTF, under which invalid sequences simply do not
 * match. A match error (match, depth or heap limit, JIT stack, memory) is
 * neither a match nor a non-match: it is returned as such, and pol_eval
 * turns it into POL_VERDICT_ERROR.
 */
#include <string.h>

#include "policy/pol_internal.h"

int
pol_regex_flags(const char *p, size_t len, uint32_t *opts, size_t *bad)
{
    size_t i;

    *opts = 0;
    for (i = 0; i < len; i++) {
        switch (p[i]) {
        case 'i':
            *opts |= PCRE2_CASELESS;
            break;
        case 'm':
            *opts |= PCRE2_MULTILINE;
            break;
        case 's':
            *opts |= PCRE2_DOTALL;
            break;
        case 'x':
            *opts |= PCRE2_EXTENDED;
            break;
        case 'U':
            *opts |= PCRE2_UNGREEDY;
            break;
        case 'u':
            *opts |= POL_RX_UTF;
            break;
        default:
            *bad = i;
            return -1;
        }
    }
    return 0;
}

pcre2_code *
pol_regex_compile(struct pol_cc *cc, const char *pat, size_t len, uint32_t opts,
                  const char *source, unsigned line, unsigned column)
{
    uint32_t o = opts & ~POL_RX_UTF;
    PCRE2_SIZE off = 0;
    pcre2_code *code;
    int err = 0;

    if ((opts & POL_RX_UTF) != 0) {
        o |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
    } else {
        o |= PCRE2_NEVER_UTF;
    }
    code = pcre2_compile((PCRE2_SPTR)pat, len, o, &err, &off, NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[160];

        if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0) {
            memcpy(msg, "unknown error", 14);
        }
        pol_cc_error(cc, source, line, column > 0 ? column + (unsigned)off : 0,
                     "bad regex at offset %lu: %s", (unsigned long)off,
                     (const char *)msg);
        return NULL;
    }
    /* Without JIT (or when it fails) the interpreter runs: same results. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    return code;
}

bool
pol_regex_is_jit(const pcre2_code *code)
{
    size_t size = 0;

    return pcre2_pattern_info(code, PCRE2_INFO_JITSIZE, &size) == 0 && size > 0;
}

int
pol_regex_match(const struct pol_rx *rx, struct pol_evalctx *ec,
                const uint8_t *p, size_t len)
{
    static const uint8_t empty[1] = {0};
    int rc;

    if (p == NULL) {
        p = empty;
    }
    /* pcre2_jit_match skips pcre2_match's checks of the arguments, which
     * are ours and right; limits and the JIT stack still apply */
    if (rx->jit) {
        rc = pcre2_jit_match(rx->code, p, len, 0, 0, ec->rs->md, ec->rs->mctx);
    } else {
        rc = pcre2_match(rx->code, p, len, 0, 0, ec->rs->md, ec->rs->mctx);
    }
    if (rc >= 0) {
        /* 0: the one-pair ovector was too small for the captures, which
         * policy never reads: still a match */
        return 1;
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }
    return rc;
}
