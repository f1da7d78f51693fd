/*
 * Fixed-capacity byte buffer in nginx's shape: [start, pos) is consumed,
 * [pos, last) holds data, [last, end) is free. Never grows: the capacity is
 * chosen when the storage is attached, and callers apply backpressure when
 * it is full.
 */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_buf {
    uint8_t *start;
    uint8_t *pos;
    uint8_t *last;
    uint8_t *end;
};

/* Allocates `cap` bytes of storage. Returns 0 or GW_E_NOMEM. */
int gw_buf_alloc(struct gw_buf *b, size_t cap);
/* Frees the storage; the buffer is then detached (start == NULL). */
void gw_buf_release(struct gw_buf *b);

static inline bool
gw_buf_is_attached(const struct gw_buf *b)
{
    return b->start != NULL;
}

static inline size_t
gw_buf_len(const struct gw_buf *b)
{
    return (size_t)(b->last - b->pos);
}

static inline size_t
gw_buf_space(const struct gw_buf *b)
{
    return (size_t)(b->end - b->last);
}

static inline size_t
gw_buf_cap(const struct gw_buf *b)
{
    return (size_t)(b->end - b->start);
}

/*
 * A free list of buffers of one size, so a busy session does not malloc and
 * free 64 KiB at every read (and freed memory is reused at once instead of
 * piling up in an allocator's caches). Bounded: beyond `max` buffers the
 * surplus is freed. One per worker, reached through the loop's data.
 */
#define GW_BUFPOOL_MAX 64
struct gw_bufpool {
    size_t size;
    size_t count;
    size_t max;
    uint8_t *free[GW_BUFPOOL_MAX];
};

void gw_bufpool_init(struct gw_bufpool *p, size_t size, size_t max);
/* Frees every pooled buffer. */
void gw_bufpool_drain(struct gw_bufpool *p);

/* Like gw_buf_alloc / gw_buf_release, through the pool when it serves
 * this size (p may be NULL). */
int gw_buf_alloc_pooled(struct gw_buf *b, size_t cap, struct gw_bufpool *p);
void gw_buf_release_pooled(struct gw_buf *b, struct gw_bufpool *p);

/* Drops n bytes from the front; resets to empty when all are consumed. */
void gw_buf_consume(struct gw_buf *b, size_t n);
/* Moves the data to the front so the free tail is as large as possible. */
void gw_buf_compact(struct gw_buf *b);
/* Appends up to len bytes; returns how many fit. */
size_t gw_buf_append(struct gw_buf *b, const void *p, size_t len);

#endif
