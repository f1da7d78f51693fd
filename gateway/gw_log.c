#include "gateway/gw_log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum gw_log_level gw_log_threshold = GW_LOG_INFO;

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
gw_log(enum gw_log_level level, const char *sid, const char *fmt, ...)
{
    char line[2048];
    char stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;
    int m;

    if (!gw_log_enabled(level)) {
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s.%03ldZ postern[%ld]: %s %s%s%s",
                 stamp, (long)(tv.tv_usec / 1000), (long)getpid(),
                 gw_log_names[level], sid != NULL ? "sid=" : "",
                 sid != NULL ? sid : "", sid != NULL ? " " : "");
    if (n < 0 || (size_t)n >= sizeof(line)) {
        return;
    }
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        return;
    }
    n += m;
    if ((size_t)n >= sizeof(line) - 1) {
        n = (int)sizeof(line) - 2; /* truncated: still one line */
    }
    line[n++] = '\n';
    /* one write(2) per line so concurrent workers never interleave */
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        return;
    }
}
