/* The header parser on hostile bytes: no crash, bounded, and the same
 * fields whatever the split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_body_header.h"

struct fz_acc {
    uint64_t hash;
    unsigned n;
};

static bool
fz_cb(void *arg, const uint8_t *name, size_t nlen, const uint8_t *value,
      size_t vlen)
{
    struct fz_acc *a = arg;
    size_t i;

    if (nlen > GW_HEADER_FIELD_MAX || vlen > GW_HEADER_FIELD_MAX) {
        abort();
    }
    for (i = 0; i < nlen; i++) {
        a->hash = a->hash * 1099511628211ULL ^ name[i];
    }
    a->hash = a->hash * 1099511628211ULL ^ 0xff;
    for (i = 0; i < vlen; i++) {
        a->hash = a->hash * 1099511628211ULL ^ value[i];
    }
    a->n++;
    return true;
}

static struct fz_acc
fz_run(const uint8_t *p, size_t len, size_t step)
{
    struct fz_acc a = {1469598103934665603ULL, 0};
    struct gw_hdr_parser *h = gw_hdr_new(fz_cb, &a);
    size_t i;

    if (h == NULL) {
        abort();
    }
    for (i = 0; i < len; i += step) {
        gw_hdr_feed(h, p + i, len - i < step ? len - i : step);
    }
    gw_hdr_finish(h);
    gw_hdr_free(h);
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_acc whole;
    struct fz_acc split;
    size_t step;

    if (size == 0) {
        return 0;
    }
    step = 1 + data[0] % 17;
    whole = fz_run(data + 1, size - 1, size);
    split = fz_run(data + 1, size - 1, step);
    if (whole.n != split.n || whole.hash != split.hash) {
        abort();
    }
    return 0;
}
