#include "gateway/gw_alloc.h"

#include <stdlib.h>
#include <string.h>

static long gw_alloc_countdown = -1;

static int
gw_alloc_should_fail(void)
{
    if (gw_alloc_countdown < 0) {
        return 0;
    }
    if (gw_alloc_countdown == 0) {
        return 1;
    }
    gw_alloc_countdown--;
    return 0;
}

void
gw_alloc_fail_after(long after)
{
    gw_alloc_countdown = after;
}

void *
gw_alloc(size_t size)
{
    if (gw_alloc_should_fail()) {
        return NULL;
    }
    return malloc(size);
}

void *
gw_calloc(size_t n, size_t size)
{
    if (gw_alloc_should_fail()) {
        return NULL;
    }
    return calloc(n, size);
}

void
gw_free(void *p)
{
    free(p);
}

char *
gw_strndup(const char *s, size_t len)
{
    char *d = gw_alloc(len + 1);

    if (d == NULL) {
        return NULL;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}
