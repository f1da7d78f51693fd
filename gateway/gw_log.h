/*
 * Logging: one line per event, key=value fields, session id first
 * ("sid=<worker>-<counter>"). Peer data must go through gw_str_escape before
 * it reaches a format string argument. Message content and AUTH payloads are
 * never logged.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>

#include "gateway/gw_config.h"

#if defined(__GNUC__)
#define GW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GW_PRINTF(f, a)
#endif

/* Sets the threshold; lines above it are not written. */
void gw_log_set_level(enum gw_log_level level);

/* key=value text or JSON lines; stderr or syslog (facility mail). */
void gw_log_set_format(enum gw_log_format format, enum gw_log_sink sink);

/*
 * Turns a key=value message into the members of a JSON object (without the
 * braces): `a=1 b="x y"` gives `"a":"1","b":"x y"`. Values are JSON-escaped;
 * a token without '=' goes into "msg". Returns the length written (always
 * NUL-terminated, truncated to fit). Pure, for tests.
 */
size_t gw_log_kv_to_json(const char *msg, char *dst, size_t cap);
bool gw_log_enabled(enum gw_log_level level);

/* Writes "<time> postern[pid]: <level> [sid=<sid> ]<message>\n" to stderr.
 * sid may be NULL for process-level events. */
void gw_log(enum gw_log_level level, const char *sid, const char *fmt, ...)
    GW_PRINTF(3, 4);

#endif
