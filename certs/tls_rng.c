/*
 * The random generator: the only file that touches entropy and the DRBG.
 *
 * Each context generation owns one CTR_DRBG (AES-256) seeded from the
 * platform entropy source (getrandom/urandom via mbedtls_entropy). A DRBG
 * state copied by fork() would hand two workers the same "random" bytes
 * (the same ECDHE keys and nonces), so every call checks the process id
 * and reseeds from fresh entropy first when it changed. On mbedTLS 3.x
 * the PSA core is initialised here too (tls_compat.h).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/platform_util.h>

#include "certs/tls_internal.h"

struct tls_rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    pid_t pid;
};

static const unsigned char tls_rng_pers[] = "postern certs/ DRBG";
static const unsigned char tls_rng_fork[] = "postern fork reseed";

struct tls_rng *
tls_rng_new(struct tls_err *err)
{
    struct tls_rng *r;
    char why[160];
    int ret;

    if (tls_compat_psa_init() != 0) {
        tls_err_set(err, TLS_E_CRYPTO, "psa_crypto_init failed");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        tls_err_set(err, TLS_E_NOMEM, "out of memory (random generator)");
        return NULL;
    }
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    ret = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                                tls_rng_pers, sizeof(tls_rng_pers) - 1);
    if (ret != 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_CRYPTO, "seeding the random generator: %s", why);
        tls_rng_free(r);
        return NULL;
    }
    r->pid = getpid();
    return r;
}

void
tls_rng_free(struct tls_rng *r)
{
    if (r == NULL) {
        return;
    }
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
    mbedtls_platform_zeroize(r, sizeof(*r));
    free(r);
}

int
tls_rng_random(void *p_rng, unsigned char *out, size_t len)
{
    struct tls_rng *r = p_rng;
    pid_t pid = getpid();
    size_t n;
    int ret;

    if (pid != r->pid) {
        ret = mbedtls_ctr_drbg_reseed(&r->drbg, tls_rng_fork,
                                      sizeof(tls_rng_fork) - 1);
        if (ret != 0) {
            return ret;
        }
        r->pid = pid;
    }
    /* The DRBG serves at most MBEDTLS_CTR_DRBG_MAX_REQUEST per call. */
    while (len > 0) {
        n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len
                                               : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        ret = mbedtls_ctr_drbg_random(&r->drbg, out, n);
        if (ret != 0) {
            return ret;
        }
        out += n;
        len -= n;
    }
    return 0;
}
