/* The metrics endpoint's request parser on hostile bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "gateway/gw_http.h"
#include "gateway/gw_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool is_get;
    bool is_metrics;
    int rc = gw_http_parse_request(data, size, &is_get, &is_metrics);

    if (rc != GW_PARSE_OK && rc != GW_PARSE_AGAIN && rc != GW_PARSE_INVALID) {
        abort();
    }
    if (rc != GW_PARSE_OK && (is_get || is_metrics)) {
        abort();
    }
    return 0;
}
