/* Error codes shared by gateway/: 0 is success, failures are negative. */
#ifndef GW_ERROR_H
#define GW_ERROR_H

enum gw_error {
    GW_OK = 0,
    GW_E_NOMEM = -1,
    GW_E_INVAL = -2,
    GW_E_IO = -3,
    GW_E_TIMEOUT = -4,
    GW_E_EOF = -5,
    GW_E_PROTO = -6,
    GW_E_LIMIT = -7,
};

/*
 * Invariant check, always compiled in: a failure is our bug, never the
 * peer's, so it aborts for a core (Postfix's panic). Never use it on input.
 */
#include <stdio.h>
#include <stdlib.h>
#define GW_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "postern: panic: %s:%d: %s\n", __FILE__,           \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
