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

#endif
