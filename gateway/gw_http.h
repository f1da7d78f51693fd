/*
 * The metrics endpoint: a tiny HTTP/1.1 responder on its own address (off
 * unless metrics.listen is set), served by worker 0 with the sum of every
 * worker's counters. It answers GET /metrics in the Prometheus text format
 * and closes; anything else gets 404/405/400. It is as hostile-proof as the
 * SMTP listeners: a bounded request (8 KiB), a 5 s deadline, one request
 * per connection, a bounded number of connections.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_worker;
struct gw_config;

/* Opens, moves or closes the endpoint to match cfg->metrics. */
void gw_http_metrics_apply(struct gw_worker *w, const struct gw_config *cfg);
/* Closes the endpoint and its connections. */
void gw_http_close(struct gw_worker *w);

/*
 * Parses a request head in (p, len). Returns GW_PARSE_AGAIN until the
 * blank line, GW_PARSE_OK with *is_metrics set for "GET /metrics",
 * GW_PARSE_INVALID for anything malformed. Pure, for tests and fuzzing.
 */
int gw_http_parse_request(const uint8_t *p, size_t len, bool *is_get,
                          bool *is_metrics);

#endif
