/*
 * libFuzzer target for certs/tls_engine.c: engines fed hostile ciphertext
 * in random splits. Whatever arrives, an engine must only ever answer
 * TLS_OK, TLS_AGAIN, TLS_EOF or TLS_ERR (with a reason), keep its buffers
 * within their capacity, stay failed once failed, take no input after
 * failing, and never hand out plaintext before its handshake completed.
 *
 * Input: byte 0 picks the scenario and the buffer sizes, byte 1 seeds the
 * split sizes, the rest is the payload.
 *   mode 0  a server engine reads the payload as a client's ciphertext
 *   mode 1  a client engine (after sending its ClientHello) reads the
 *           payload as the upstream's ciphertext
 *   mode 2  a real client and server complete a handshake; then the
 *           payload is a script of operations on the client→server wire:
 *           raw bytes, genuine records, genuine records with a byte
 *           flipped, plaintext writes, close_notify
 *   mode 3  the same towards the client (a hostile upstream after its
 *           handshake)
 *
 * The server certificate is an ECDSA P-256 self-signed certificate made
 * at start-up (no files needed), written to a temporary directory only
 * for tls_server_ctx_new and removed at once. Any broken invariant calls
 * abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "certs/tls_ctx.h"
#include "certs/tls_engine.h"
#include "certs/tls_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tls_ctx *fz_sctx;
static struct tls_ctx *fz_cctx;

static void
fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_tls_engine: %s\n", why);
    abort();
}

/* --- set-up: a throw-away key and certificate -------------------- */

static void
fz_write(const char *path, const unsigned char *pem)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs((const char *)pem, f) < 0 || fclose(f) != 0) {
        fz_fail("cannot write the temporary certificate");
    }
}

static void
fz_make_cert(const char *crt_path, const char *key_path)
{
    static unsigned char pem[4096];
    struct tls_rng *rng = tls_rng_new(NULL);
    mbedtls_x509write_cert w;
    mbedtls_pk_context key;
    mbedtls_mpi serial;

    if (rng == NULL) {
        fz_fail("rng");
    }
    mbedtls_pk_init(&key);
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) !=
            0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
                            tls_rng_random, rng) != 0 ||
        mbedtls_pk_write_key_pem(&key, pem, sizeof(pem)) != 0) {
        fz_fail("key");
    }
    fz_write(key_path, pem);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &key);
    mbedtls_x509write_crt_set_issuer_key(&w, &key);
    if (mbedtls_mpi_lset(&serial, 1) != 0 ||
        mbedtls_x509write_crt_set_serial(&w, &serial) != 0 ||
        mbedtls_x509write_crt_set_subject_name(&w, "CN=fuzz.example.test") !=
            0 ||
        mbedtls_x509write_crt_set_issuer_name(&w, "CN=fuzz.example.test") !=
            0 ||
        mbedtls_x509write_crt_set_validity(&w, "20200101000000",
                                           "20991231235959") != 0 ||
        mbedtls_x509write_crt_pem(&w, pem, sizeof(pem), tls_rng_random, rng) !=
            0) {
        fz_fail("certificate");
    }
    fz_write(crt_path, pem);
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&w);
    mbedtls_pk_free(&key);
    tls_rng_free(rng);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/fuzz_tls_XXXXXX";
    char crt[64];
    char key[64];
    struct tls_cert_spec spec;
    struct tls_server_opts so;
    struct tls_client_opts co;
    struct tls_err err;

    (void)argc;
    (void)argv;
    if (mkdtemp(dir) == NULL) {
        fz_fail("mkdtemp");
    }
    snprintf(crt, sizeof(crt), "%s/c.pem", dir);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    fz_make_cert(crt, key);
    memset(&spec, 0, sizeof(spec));
    spec.cert_file = crt;
    spec.key_file = key;
    memset(&so, 0, sizeof(so));
    so.certs = &spec;
    so.ncerts = 1;
    fz_sctx = tls_server_ctx_new(&so, &err);
    unlink(crt);
    unlink(key);
    rmdir(dir);
    if (fz_sctx == NULL) {
        fprintf(stderr, "fuzz_tls_engine: %s\n", err.msg);
        fz_fail("server context");
    }
    memset(&co, 0, sizeof(co));
    co.mode = TLS_CLIENT_ENCRYPT;
    co.ca_file = NULL; /* default bundle, tolerated when missing */
    fz_cctx = tls_client_ctx_new(&co, &err);
    if (fz_cctx == NULL) {
        fprintf(stderr, "fuzz_tls_engine: %s\n", err.msg);
        fz_fail("client context");
    }
    return 0;
}

/* --- the checked engine -------------------------------------------- */

struct fz_eng {
    struct tls_engine *e;
    size_t cap;
    bool failed;
    bool eof;
};

static uint64_t
fz_next(uint64_t *rng)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return *rng;
}

static void
fz_check_buffers(const struct fz_eng *f)
{
    const uint8_t *p;
    size_t n;

    tls_engine_pending_out(f->e, &p, &n);
    if (n > tls_engine_out_len(f->e) || tls_engine_out_len(f->e) > f->cap ||
        tls_engine_in_space(f->e) > f->cap) {
        fz_fail("a buffer exceeds its capacity");
    }
}

/* Checks one result against the engine's recorded state. */
static void
fz_check_rc(struct fz_eng *f, int rc, bool eof_ok)
{
    if (rc != TLS_OK && rc != TLS_AGAIN && rc != TLS_ERR &&
        !(eof_ok && rc == TLS_EOF)) {
        fz_fail("result outside OK/AGAIN/EOF/ERR");
    }
    if (f->failed && rc != TLS_ERR) {
        fz_fail("a failed engine answered something other than TLS_ERR");
    }
    if (rc == TLS_ERR) {
        if (tls_engine_reason(f->e)[0] == '\0') {
            fz_fail("TLS_ERR without a reason");
        }
        f->failed = true;
    }
    if (rc == TLS_EOF) {
        f->eof = true;
    }
    fz_check_buffers(f);
}

/* One pump round: handshake until done, then read everything there is. */
static void
fz_pump(struct fz_eng *f, size_t rcap)
{
    uint8_t buf[512];
    size_t n;
    int rc;
    int rounds;

    if (!tls_engine_is_handshake_done(f->e)) {
        rc = tls_engine_handshake(f->e);
        fz_check_rc(f, rc, false);
        if (rc != TLS_OK) {
            return;
        }
    }
    for (rounds = 0; rounds < 64; rounds++) {
        n = 12345;
        rc = tls_engine_read(f->e, buf, rcap, &n);
        fz_check_rc(f, rc, true);
        if ((rc == TLS_OK) != (n > 0) || n > rcap) {
            fz_fail("read: *n does not match the result");
        }
        if (rc != TLS_OK) {
            return;
        }
    }
}

/* Feeds bytes in random splits, pumping after each; discards output. */
static void
fz_feed(struct fz_eng *f, const uint8_t *p, size_t len, uint64_t *rng,
        size_t rcap)
{
    const uint8_t *q;
    size_t n;
    size_t took;
    int stalls = 0;

    while (len > 0 && stalls < 4) {
        n = 1 + fz_next(rng) % (len < 64 ? len : (fz_next(rng) % 2 ? 64 : len));
        if (n > len) {
            n = len;
        }
        took = tls_engine_feed(f->e, p, n);
        if (took > n || ((f->failed || f->eof) && took != 0)) {
            fz_fail("feed took too much, or took input after the end");
        }
        p += took;
        len -= took;
        stalls = took == 0 ? stalls + 1 : 0;
        fz_pump(f, rcap);
        tls_engine_pending_out(f->e, &q, &n);
        tls_engine_consume_out(f->e, n);
        if (f->failed || f->eof) {
            return;
        }
    }
}

static struct fz_eng
fz_new(struct tls_ctx *ctx, size_t cap)
{
    struct tls_engine_opts o;
    struct fz_eng f;

    memset(&o, 0, sizeof(o));
    o.cipher_cap = cap;
    memset(&f, 0, sizeof(f));
    f.e = tls_engine_new(ctx, &o, NULL);
    f.cap = cap != 0 ? cap : TLS_ENGINE_CIPHER_CAP;
    if (f.e == NULL) {
        fz_fail("engine");
    }
    return f;
}

/* --- modes 2 and 3: after a genuine handshake ---------------------- */

static size_t
fz_move(struct tls_engine *from, struct tls_engine *to)
{
    const uint8_t *p;
    size_t n;
    size_t took;

    tls_engine_pending_out(from, &p, &n);
    took = tls_engine_feed(to, p, n);
    tls_engine_consume_out(from, took);
    tls_engine_trim(from); /* free while empty, as an idle gateway does */
    tls_engine_trim(to);
    return took;
}

static bool
fz_handshake(struct tls_engine *c, struct tls_engine *s)
{
    int rc_c = TLS_AGAIN;
    int rc_s = TLS_AGAIN;
    int i;

    for (i = 0; i < 200; i++) {
        if (rc_c == TLS_AGAIN) {
            rc_c = tls_engine_handshake(c);
        }
        if (rc_s == TLS_AGAIN) {
            rc_s = tls_engine_handshake(s);
        }
        if (fz_move(c, s) + fz_move(s, c) == 0 && rc_c != TLS_AGAIN &&
            rc_s != TLS_AGAIN) {
            break;
        }
    }
    return rc_c == TLS_OK && rc_s == TLS_OK;
}

/* The peer (a genuine engine) writes len bytes; returns what it queued. */
static void
fz_peer_write(struct tls_engine *peer, size_t len)
{
    static uint8_t msg[4096];
    size_t n;

    if (len > sizeof(msg)) {
        len = sizeof(msg);
    }
    memset(msg, 'A' + (int)(len % 26), len);
    (void)tls_engine_write(peer, msg, len, &n);
}

/* Takes the peer's pending ciphertext (up to 4 KiB), optionally flips
 * one byte, and feeds it to the target in random splits. */
static void
fz_peer_deliver(struct tls_engine *peer, struct fz_eng *f, int flip,
                uint64_t *rng, size_t rcap)
{
    static uint8_t wire[4096];
    const uint8_t *p;
    size_t n;

    tls_engine_pending_out(peer, &p, &n);
    if (n > sizeof(wire)) {
        n = sizeof(wire);
    }
    if (n == 0) {
        return; /* nothing pending (and p is NULL) */
    }
    memcpy(wire, p, n);
    tls_engine_consume_out(peer, n);
    if (flip >= 0 && n > 0) {
        wire[(size_t)flip % n] ^= (uint8_t)(1u << (fz_next(rng) % 8));
    }
    fz_feed(f, wire, n, rng, rcap);
}

static void
fz_after_handshake(bool to_server, const uint8_t *p, size_t len, uint64_t *rng,
                   size_t rcap)
{
    struct tls_engine *c = tls_engine_new(fz_cctx, NULL, NULL);
    struct tls_engine *s = tls_engine_new(fz_sctx, NULL, NULL);
    struct tls_engine *peer;
    struct fz_eng f;
    size_t i = 0;
    size_t n;
    size_t w;

    if (c == NULL || s == NULL || !fz_handshake(c, s)) {
        fz_fail("the genuine handshake failed");
    }
    memset(&f, 0, sizeof(f));
    f.e = to_server ? s : c;
    f.cap = TLS_ENGINE_CIPHER_CAP;
    peer = to_server ? c : s;
    while (i < len && !f.failed && !f.eof) {
        uint8_t op = p[i++];
        size_t arg = op & 0x3f;

        switch (op >> 6) {
        case 0: /* raw bytes from the payload */
            n = arg + 1 < len - i ? arg + 1 : len - i;
            fz_feed(&f, p + i, n, rng, rcap);
            i += n;
            break;
        case 1: /* a genuine record */
            fz_peer_write(peer, 1 + arg * 61);
            fz_peer_deliver(peer, &f, -1, rng, rcap);
            break;
        case 2: /* a genuine record with one bit flipped */
            fz_peer_write(peer, 1 + arg * 7);
            fz_peer_deliver(peer, &f, i < len ? p[i++] : 0, rng, rcap);
            break;
        default: /* the target writes, or the peer says goodbye */
            if (arg == 0x3f) {
                (void)tls_engine_close_notify(peer);
                fz_peer_deliver(peer, &f, -1, rng, rcap);
                break;
            }
            w = 0;
            fz_check_rc(
                &f, tls_engine_write(f.e, (const uint8_t *)"250 ok\r\n", 8, &w),
                false);
            fz_move(f.e, peer);
            break;
        }
    }
    tls_engine_free(c);
    tls_engine_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {0, 1, 16, 300};
    static const size_t rcaps[] = {1, 2, 7, 64, 100, 512, 512, 512};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    struct fz_eng f;
    const uint8_t *q;
    size_t n;
    size_t i;
    int mode;

    if (size < 2) {
        return 0;
    }
    mode = data[0] & 3;
    for (i = 0; i < size; i++) {
        rng = (rng ^ data[i]) * 0x100000001b3ULL;
    }
    rng ^= (uint64_t)data[1] << 32;
    rng |= 1;
    if (mode >= 2) {
        fz_after_handshake(mode == 2, data + 2, size - 2, &rng,
                           rcaps[(data[0] >> 4) & 7]);
        return 0;
    }
    f = fz_new(mode == 0 ? fz_sctx : fz_cctx, caps[(data[0] >> 2) & 3]);
    if (mode == 1) {
        /* the client speaks first: its ClientHello goes nowhere */
        fz_check_rc(&f, tls_engine_handshake(f.e), false);
        while (tls_engine_out_len(f.e) > 0) {
            tls_engine_pending_out(f.e, &q, &n);
            tls_engine_consume_out(f.e, n);
            fz_check_rc(&f, tls_engine_handshake(f.e), false);
        }
    }
    fz_feed(&f, data + 2, size - 2, &rng, rcaps[(data[0] >> 4) & 7]);
    if (f.failed && tls_engine_feed(f.e, data, size) != 0) {
        fz_fail("a failed engine took input");
    }
    tls_engine_free(f.e);
    return 0;
}
