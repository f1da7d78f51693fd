#include "gateway/gw_buf.h"

#include <string.h>

#include "gateway/gw_alloc.h"
#include "gateway/gw_error.h"

int
gw_buf_alloc(struct gw_buf *b, size_t cap)
{
    uint8_t *p = gw_alloc(cap);

    if (p == NULL) {
        return GW_E_NOMEM;
    }
    b->start = p;
    b->pos = p;
    b->last = p;
    b->end = p + cap;
    return 0;
}

void
gw_buf_release(struct gw_buf *b)
{
    gw_free(b->start);
    b->start = NULL;
    b->pos = NULL;
    b->last = NULL;
    b->end = NULL;
}

void
gw_buf_consume(struct gw_buf *b, size_t n)
{
    if (n >= gw_buf_len(b)) {
        b->pos = b->start;
        b->last = b->start;
        return;
    }
    b->pos += n;
}

void
gw_buf_compact(struct gw_buf *b)
{
    size_t len = gw_buf_len(b);

    if (b->pos == b->start) {
        return;
    }
    if (len > 0) {
        memmove(b->start, b->pos, len);
    }
    b->pos = b->start;
    b->last = b->start + len;
}

size_t
gw_buf_append(struct gw_buf *b, const void *p, size_t len)
{
    size_t n = gw_buf_space(b);

    if (len < n) {
        n = len;
    }
    if (n > 0) {
        memcpy(b->last, p, n);
        b->last += n;
    }
    return n;
}

void
gw_bufpool_init(struct gw_bufpool *p, size_t size, size_t max)
{
    p->size = size;
    p->count = 0;
    p->max = max < GW_BUFPOOL_MAX ? max : GW_BUFPOOL_MAX;
}

void
gw_bufpool_drain(struct gw_bufpool *p)
{
    while (p->count > 0) {
        gw_free(p->free[--p->count]);
    }
}

int
gw_buf_alloc_pooled(struct gw_buf *b, size_t cap, struct gw_bufpool *p)
{
    uint8_t *mem;

    if (p == NULL || cap != p->size || p->count == 0) {
        return gw_buf_alloc(b, cap);
    }
    mem = p->free[--p->count];
    b->start = mem;
    b->pos = mem;
    b->last = mem;
    b->end = mem + cap;
    return 0;
}

void
gw_buf_release_pooled(struct gw_buf *b, struct gw_bufpool *p)
{
    if (p == NULL || gw_buf_cap(b) != p->size || p->count >= p->max) {
        gw_buf_release(b);
        return;
    }
    p->free[p->count++] = b->start;
    b->start = NULL;
    b->pos = NULL;
    b->last = NULL;
    b->end = NULL;
}
