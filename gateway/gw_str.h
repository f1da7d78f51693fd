/*
 * Small locale-independent string helpers over (p, len) network bytes, and
 * the unit parsers the config uses (sizes such as 50M, durations such as 5m).
 */
#ifndef GW_STR_H
#define GW_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool
gw_is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
gw_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline uint8_t
gw_to_upper(uint8_t c)
{
    return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

/* Printable US-ASCII excluding space: %d33-126. */
static inline bool
gw_is_graph(uint8_t c)
{
    return c > 32 && c < 127;
}

/* Case-insensitive compare of (p, len) against a NUL-terminated ASCII word. */
bool gw_str_ieq(const uint8_t *p, size_t len, const char *word);
/* Case-insensitive: does (p, len) start with prefix? */
bool gw_str_iprefix(const uint8_t *p, size_t len, const char *prefix);

/* Copies at most size-1 bytes and NUL-terminates (size > 0). Returns the
 * length of src, so `>= size` means truncation (BSD strlcpy contract). */
size_t gw_strlcpy(char *dst, const char *src, size_t size);

/* Writes a printable, escaped copy of (p, len) for logs: control bytes,
 * backslash, '"' and non-ASCII become \xHH; stops at cap-1 bytes of output
 * and ends with "..." when truncated. Always NUL-terminates. */
void gw_str_escape(char *dst, size_t cap, const uint8_t *p, size_t len);

/* Is (p, len) well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF)? */
bool gw_utf8_valid(const uint8_t *p, size_t len);

/* The value of a hex digit (either case), or -1. */
int gw_hex_value(uint8_t c);

/* FNV-1a (64-bit) over len octets, continued from h: start with
 * GW_FNV1A_INIT. Fast and unkeyed: for tables whose keys a peer cannot
 * choose, or that mix in a seed of their own first. */
#define GW_FNV1A_INIT 0xcbf29ce484222325ULL
uint64_t gw_fnv1a(uint64_t h, const void *p, size_t len);

/* Equal n octets, in time that depends on n only (secrets: proofs,
 * password hashes). */
bool gw_ct_equal(const void *a, const void *b, size_t n);

/* Parses a decimal uint64 from all of (p, len); false on junk or overflow. */
bool gw_str_to_u64(const uint8_t *p, size_t len, uint64_t *out);

/* "50M", "512k", "1G", "1000" (bytes; K/M/G/T are powers of 1024, case
 * insensitive, optional trailing B). false on junk or overflow. */
bool gw_parse_size(const char *s, uint64_t *out);

/* "500ms", "30s", "5m", "2h", "1d"; a bare number is seconds. Result in
 * milliseconds. false on junk or overflow. */
bool gw_parse_duration(const char *s, uint64_t *out_ms);

#endif
