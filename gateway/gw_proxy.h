/*
 * The HAProxy PROXY protocol header, versions 1 and 2 (haproxy.org
 * doc/proxy-protocol.txt, 2.8), sent by a load balancer before the first
 * SMTP byte to name the original client. Pure: bytes in, addresses out; no
 * I/O, no allocation, no logging. The caller keeps reading until the result
 * is not GW_PROXY_AGAIN, then drops out->consumed bytes on GW_PROXY_OK and
 * closes the connection on anything else.
 *
 * The parser decides as early as the bytes allow: input that cannot be the
 * start of a header (an SMTP client speaking first, "EHLO ...") is refused
 * at its first byte, and each later byte is checked as it arrives. The
 * result on a prefix is therefore AGAIN until it is final, and a final
 * result never changes when more bytes follow.
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#define GW_PROXY_V1_MAX 107 /* v1 line, CRLF included (spec) */
/* v2: most bytes after the 16-byte header we accept */
#define GW_PROXY_V2_TLV_MAX 512

enum gw_proxy_rc {
    /* a whole header: out is filled, out->consumed bytes are the header */
    GW_PROXY_OK = 0,
    GW_PROXY_AGAIN = 1,      /* a valid prefix; more bytes needed */
    GW_PROXY_E_INVALID = -1, /* not a PROXY header, or malformed */
    /* v1 without CRLF within 107 bytes, or v2 length over the bound */
    GW_PROXY_E_TOOLONG = -2,
};

struct gw_proxy_header {
    int version; /* 1 or 2 */
    /* v1 UNKNOWN, v2 LOCAL command, or v2 UNSPEC/AF_UNIX family: keep the
     * connection's own addresses */
    bool local;
    /* the original client (AF_INET/AF_INET6, port set), when !local */
    struct sockaddr_storage src;
    /* the address the client connected to, when !local */
    struct sockaddr_storage dst;
    size_t consumed;
};

/*
 * Parses the header at the start of p[0..len). Pure; never reads past len,
 * and reads at most GW_PROXY_V1_MAX bytes of a v1 header or
 * 16 + GW_PROXY_V2_TLV_MAX of a v2 one. out is always zeroed first and is
 * filled only on GW_PROXY_OK; when out->local, src and dst stay zeroed
 * (ss_family AF_UNSPEC).
 *
 * v1: "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" with single spaces,
 * addresses of the named family (inet_pton), ports 0..65535 in decimal
 * without sign or leading zeros; or "PROXY UNKNOWN" and anything up to the
 * CRLF (local). CR and LF appear only as the final CRLF.
 * v2: version 2; command LOCAL (local, the whole length is skipped) or
 * PROXY; for PROXY the family is TCP over IPv4 or IPv6 (address block of 12
 * or 36 bytes), UNSPEC (local, the whole length is skipped) or AF_UNIX
 * stream (local, 216-byte address block); UDP and anything else is invalid.
 * The TLVs after an address block must exactly fill the length; their
 * contents are ignored. consumed = 16 + length.
 */
enum gw_proxy_rc gw_proxy_parse(const uint8_t *p, size_t len,
                                struct gw_proxy_header *out);

/*
 * Writes a header for an upstream (the other direction): version 1 or 2,
 * the client `src` and the address it connected to `dst`. With src or
 * dst NULL (or not AF_INET/AF_INET6), "PROXY UNKNOWN" (v1) or LOCAL (v2):
 * a connection of Postern's own, such as a capability probe. When the
 * families differ, the IPv4 one is written IPv4-mapped. Returns the
 * length, or 0 when cap is too small (GW_PROXY_OUT_MAX always fits).
 */
#define GW_PROXY_OUT_MAX 108
size_t gw_proxy_format(uint8_t *out, size_t cap, int version,
                       const struct sockaddr *src, const struct sockaddr *dst);

#endif
