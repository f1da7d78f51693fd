#include "gateway/gw_str.h"

#include <stdio.h>
#include <string.h>

bool
gw_str_ieq(const uint8_t *p, size_t len, const char *word)
{
    size_t wlen = strlen(word);

    return wlen == len && gw_str_iprefix(p, len, word);
}

bool
gw_str_iprefix(const uint8_t *p, size_t len, const char *prefix)
{
    size_t i;

    for (i = 0; prefix[i] != '\0'; i++) {
        if (i >= len) {
            return false;
        }
        if (gw_to_upper(p[i]) != gw_to_upper((uint8_t)prefix[i])) {
            return false;
        }
    }
    return true;
}

size_t
gw_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    size_t n = len;

    if (size == 0) {
        return len;
    }
    if (n >= size) {
        n = size - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return len;
}

static size_t
gw_str_escaped_len(uint8_t c)
{
    return (c < 32 || c > 126 || c == '\\' || c == '"') ? 4 : 1;
}

void
gw_str_escape(char *dst, size_t cap, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t total = 0;
    size_t limit;
    size_t o = 0;
    size_t i;

    if (cap == 0) {
        return;
    }
    for (i = 0; i < len; i++) {
        total += gw_str_escaped_len(p[i]);
    }
    /* everything fits, or keep room for "..." after what does */
    limit = total < cap ? cap - 1 : (cap > 4 ? cap - 4 : 0);
    for (i = 0; i < len; i++) {
        uint8_t c = p[i];

        if (o + gw_str_escaped_len(c) > limit) {
            break;
        }
        if (gw_str_escaped_len(c) == 4) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    if (i < len && o + 3 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

bool
gw_utf8_valid(const uint8_t *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = p[i];
        size_t n;
        uint32_t cp;
        uint32_t min;
        size_t k;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n) {
            return false;
        }
        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

bool
gw_str_to_u64(const uint8_t *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (!gw_is_digit(p[i])) {
            return false;
        }
        if (v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

static bool
gw_str_mul(uint64_t v, uint64_t m, uint64_t *out)
{
    if (m != 0 && v > UINT64_MAX / m) {
        return false;
    }
    *out = v * m;
    return true;
}

static size_t
gw_str_digits(const char *s)
{
    size_t n = 0;

    while (gw_is_digit((uint8_t)s[n])) {
        n++;
    }
    return n;
}

bool
gw_parse_size(const char *s, uint64_t *out)
{
    size_t n = gw_str_digits(s);
    uint64_t v;
    uint64_t mult = 1;
    const char *u = s + n;

    if (!gw_str_to_u64((const uint8_t *)s, n, &v)) {
        return false;
    }
    switch (gw_to_upper((uint8_t)*u)) {
    case '\0':
        break;
    case 'B':
        u++;
        break;
    case 'K':
        mult = 1024ULL;
        u++;
        break;
    case 'M':
        mult = 1024ULL * 1024;
        u++;
        break;
    case 'G':
        mult = 1024ULL * 1024 * 1024;
        u++;
        break;
    case 'T':
        mult = 1024ULL * 1024 * 1024 * 1024;
        u++;
        break;
    default:
        return false;
    }
    if (mult > 1 && gw_to_upper((uint8_t)*u) == 'B') {
        u++;
    }
    if (*u != '\0') {
        return false;
    }
    return gw_str_mul(v, mult, out);
}

bool
gw_parse_duration(const char *s, uint64_t *out_ms)
{
    size_t n = gw_str_digits(s);
    uint64_t v;
    uint64_t mult;
    const char *u = s + n;

    if (!gw_str_to_u64((const uint8_t *)s, n, &v)) {
        return false;
    }
    if (strcmp(u, "ms") == 0) {
        mult = 1;
    } else if (*u == '\0' || strcmp(u, "s") == 0) {
        mult = 1000;
    } else if (strcmp(u, "m") == 0) {
        mult = 60ULL * 1000;
    } else if (strcmp(u, "h") == 0) {
        mult = 3600ULL * 1000;
    } else if (strcmp(u, "d") == 0) {
        mult = 86400ULL * 1000;
    } else {
        return false;
    }
    return gw_str_mul(v, mult, out_ms);
}

int
gw_hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

uint64_t
gw_fnv1a(uint64_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return h;
}

bool
gw_ct_equal(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a;
    const uint8_t *y = b;
    /* volatile: the compiler must not turn the loop into an early exit */
    volatile uint8_t diff = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        diff |= (uint8_t)(x[i] ^ y[i]);
    }
    return diff == 0;
}
