/*
 * Allocation wrappers. Every allocation in gateway/ goes through these so
 * unit tests can make the n-th allocation fail (curl's torture idea).
 */
#ifndef GW_ALLOC_H
#define GW_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/free; gw_alloc returns NULL on failure, never aborts. */
void *gw_alloc(size_t size);
void *gw_calloc(size_t n, size_t size);
void gw_free(void *p);
char *gw_strndup(const char *s, size_t len);

/* Tests only: fail the allocation after `after` more successes (-1: never). */
void gw_alloc_fail_after(long after);

#endif
