#include "gateway/gw_log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static enum gw_log_level gw_log_threshold = GW_LOG_INFO;
static enum gw_log_format gw_log_fmt = GW_LOG_FORMAT_TEXT;
static enum gw_log_sink gw_log_out = GW_LOG_SINK_STDERR;

static const char *const gw_log_names[] = {"error", "warn", "info", "debug",
                                           "trace"};

void
gw_log_set_level(enum gw_log_level level)
{
    gw_log_threshold = level;
}

bool
gw_log_enabled(enum gw_log_level level)
{
    return level <= gw_log_threshold;
}

void
gw_log_set_format(enum gw_log_format format, enum gw_log_sink sink)
{
    if (sink == GW_LOG_SINK_SYSLOG && gw_log_out != GW_LOG_SINK_SYSLOG) {
        openlog("postern", LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
    gw_log_fmt = format;
    gw_log_out = sink;
}

/* Appends s (n bytes) JSON-escaped; stops before cap-1. */
static size_t
gw_log_json_str(char *dst, size_t cap, size_t o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n && o + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 32 || c > 126) {
            memcpy(dst + o, "\\u00", 4);
            o += 4;
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    return o;
}

size_t
gw_log_kv_to_json(const char *msg, char *dst, size_t cap)
{
    const char *p = msg;
    size_t o = 0;
    bool first = true;

    if (cap == 0) {
        return 0;
    }
    while (*p != '\0' && o + 8 < cap) {
        const char *tok;
        const char *eq;
        const char *val;
        size_t vlen;
        bool quoted = false;

        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        tok = p;
        eq = NULL;
        while (*p != '\0' && (*p != ' ' || quoted)) {
            if (*p == '=' && eq == NULL && !quoted) {
                eq = p;
            } else if (*p == '"' && eq != NULL) {
                quoted = !quoted;
            }
            p++;
        }
        if (!first) {
            dst[o++] = ',';
        }
        first = false;
        dst[o++] = '"';
        if (eq == NULL) {
            o = gw_log_json_str(dst, cap, o, "msg", 3);
            val = tok;
            vlen = (size_t)(p - tok);
        } else {
            o = gw_log_json_str(dst, cap, o, tok, (size_t)(eq - tok));
            val = eq + 1;
            vlen = (size_t)(p - val);
            if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
                val++;
                vlen -= 2;
            }
        }
        if (o + 4 >= cap) {
            break;
        }
        dst[o++] = '"';
        dst[o++] = ':';
        dst[o++] = '"';
        o = gw_log_json_str(dst, cap, o, val, vlen);
        if (o + 2 >= cap) {
            break;
        }
        dst[o++] = '"';
    }
    dst[o < cap ? o : cap - 1] = '\0';
    return o < cap ? o : cap - 1;
}

static const int gw_log_syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO,
                                         LOG_DEBUG, LOG_DEBUG};

void
gw_log(enum gw_log_level level, const char *sid, const char *fmt, ...)
{
    char msg[1800];
    char line[4096];
    char json[3200];
    char stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;

    if (!gw_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (gw_log_out == GW_LOG_SINK_SYSLOG) {
        if (gw_log_fmt == GW_LOG_FORMAT_JSON) {
            gw_log_kv_to_json(msg, json, sizeof(json));
            syslog(gw_log_syslog_prio[level], "{\"level\":\"%s\"%s%s%s,%s}",
                   gw_log_names[level], sid != NULL ? ",\"sid\":\"" : "",
                   sid != NULL ? sid : "", sid != NULL ? "\"" : "", json);
        } else {
            syslog(gw_log_syslog_prio[level], "%s%s%s%s", sid != NULL ? "sid=" : "",
                   sid != NULL ? sid : "", sid != NULL ? " " : "", msg);
        }
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    if (gw_log_fmt == GW_LOG_FORMAT_JSON) {
        gw_log_kv_to_json(msg, json, sizeof(json));
        n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%s.%03ldZ\",\"pid\":%ld,\"level\":\"%s\"%s%s%s,%s}",
                     stamp, (long)(tv.tv_usec / 1000), (long)getpid(),
                     gw_log_names[level], sid != NULL ? ",\"sid\":\"" : "",
                     sid != NULL ? sid : "", sid != NULL ? "\"" : "", json);
    } else {
        n = snprintf(line, sizeof(line), "%s.%03ldZ postern[%ld]: %s %s%s%s%s",
                     stamp, (long)(tv.tv_usec / 1000), (long)getpid(),
                     gw_log_names[level], sid != NULL ? "sid=" : "",
                     sid != NULL ? sid : "", sid != NULL ? " " : "", msg);
    }
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(line) - 1) {
        n = (int)sizeof(line) - 2; /* truncated: still one line */
    }
    line[n++] = '\n';
    /* one write(2) per line so concurrent workers never interleave */
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        return;
    }
}
