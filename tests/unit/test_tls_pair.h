/*
 * Shared by the TLS unit tests (test_tls_engine.c, test_tls_verify.c):
 * certificate paths, contexts, and two engines wired back to back through
 * their memory buffers with a pump that moves ciphertext in chunks of a
 * chosen size (down to one byte), optionally split at a given offset, by
 * feed or by in_reserve/in_commit. Included once per test program; every
 * function is static inline so a program may use only some.
 *
 * The certificates come from tests/certs/gen-certs.sh: the directory is
 * taken from $POSTERN_TEST_CERTS (ctest sets it); without it the group
 * set-up fails with a message saying so.
 */
#ifndef TEST_TLS_PAIR_H
#define TEST_TLS_PAIR_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "certs/tls_ctx.h"
#include "certs/tls_engine.h"
#include "certs/tls_internal.h"

#define T_MAX_STEPS 2000000

static const char *t_dir;

/* "<dir>/<name>", in one of a few rotating buffers. */
static inline const char *
t_path(const char *name)
{
    static char bufs[8][1024];
    static unsigned next;
    char *b = bufs[next++ % 8];

    snprintf(b, sizeof(bufs[0]), "%s/%s", t_dir, name);
    return b;
}

/* The contents of a small text file (a pin), without a newline. */
static inline const char *
t_read_pin(const char *name)
{
    static char bufs[4][128];
    static unsigned next;
    char *b = bufs[next++ % 4];
    FILE *f = fopen(t_path(name), "r");
    size_t n;

    assert_non_null(f);
    n = fread(b, 1, sizeof(bufs[0]) - 1, f);
    fclose(f);
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r')) {
        n--;
    }
    b[n] = '\0';
    return b;
}

static inline int
t_group_setup(void **state)
{
    (void)state;
    t_dir = getenv("POSTERN_TEST_CERTS");
    if (t_dir == NULL || t_dir[0] == '\0') {
        fprintf(stderr, "set POSTERN_TEST_CERTS to the output directory "
                        "of tests/certs/gen-certs.sh\n");
        return -1;
    }
    return 0;
}

/* --- contexts ------------------------------------------------------- */

struct t_srv_cfg {
    const char *const *suites;
    size_t nsuites;
    bool no_tickets;
    bool client_ca;
};

static inline struct tls_ctx *
t_server_ctx(const struct t_srv_cfg *cfg)
{
    static struct tls_cert_spec certs[3];
    struct tls_server_opts o;
    struct tls_err err;
    struct tls_ctx *ctx;

    certs[0].cert_file = t_path("server-rsa.crt");
    certs[0].key_file = t_path("server-rsa.key");
    certs[1].cert_file = t_path("server-ec.crt");
    certs[1].key_file = t_path("server-ec.key");
    certs[2].cert_file = t_path("server-rsa-mx2.crt");
    certs[2].key_file = t_path("server-rsa-mx2.key");
    memset(&o, 0, sizeof(o));
    o.certs = certs;
    o.ncerts = 3;
    if (cfg != NULL) {
        o.ciphersuites = cfg->suites;
        o.nciphersuites = cfg->nsuites;
        o.disable_tickets = cfg->no_tickets;
        o.client_ca_file = cfg->client_ca ? t_path("ca.crt") : NULL;
    }
    ctx = tls_server_ctx_new(&o, &err);
    if (ctx == NULL) {
        fail_msg("server ctx: %s", err.msg);
    }
    return ctx;
}

static inline struct tls_ctx *
t_client_ctx_opts(const struct tls_client_opts *o)
{
    struct tls_err err;
    struct tls_ctx *ctx = tls_client_ctx_new(o, &err);

    if (ctx == NULL) {
        fail_msg("client ctx: %s", err.msg);
    }
    return ctx;
}

static inline struct tls_ctx *
t_client_ctx(enum tls_client_mode mode, const char *ca, const char *name)
{
    struct tls_client_opts o;

    memset(&o, 0, sizeof(o));
    o.mode = mode;
    o.ca_file = ca != NULL ? t_path(ca) : NULL;
    o.server_name = name;
    return t_client_ctx_opts(&o);
}

/* --- the wire between two engines ---------------------------------- */

/* One direction of the wire: bytes moved so far and an optional split
 * point (the first move delivers exactly `split` bytes). */
struct t_dir {
    size_t moved;
    size_t split;   /* 0: none */
    bool zero_copy; /* in_reserve/in_commit instead of feed */
};

struct t_pair {
    struct tls_engine *c;
    struct tls_engine *s;
    struct t_dir c2s;
    struct t_dir s2c;
    size_t chunk; /* max bytes per move; 0: all */
    int rc_c;
    int rc_s;
};

/* Moves ciphertext from one engine's cipher_out into the other's
 * cipher_in, honouring the chunk size, the split point and the
 * receiver's free space. Returns how many bytes moved. */
static inline size_t
t_move(struct tls_engine *from, struct tls_engine *to, struct t_dir *d,
       size_t chunk)
{
    const uint8_t *p;
    size_t n;
    size_t took;

    tls_engine_pending_out(from, &p, &n);
    if (n == 0) {
        return 0;
    }
    if (chunk != 0 && n > chunk) {
        n = chunk;
    }
    if (d->split != 0 && d->moved < d->split && n > d->split - d->moved) {
        n = d->split - d->moved;
    }
    if (d->zero_copy) {
        uint8_t *dst;
        size_t room;

        /* as a libuv alloc_cb + read_cb would: read into the engine */
        tls_engine_in_reserve(to, &dst, &room);
        assert_true(room <= tls_engine_in_space(to));
        took = n < room ? n : room;
        if (took > 0) {
            memcpy(dst, p, took); /* dst is NULL when the engine failed */
        }
        tls_engine_in_commit(to, took);
    } else {
        took = tls_engine_feed(to, p, n);
    }
    assert_true(took <= n);
    tls_engine_consume_out(from, took);
    d->moved += took;
    /* as the gateway does when a connection goes idle: every exchange
     * runs with the cipher buffers freed whenever they are empty */
    tls_engine_trim(from);
    tls_engine_trim(to);
    return took;
}

static inline size_t
t_move_both(struct t_pair *tp)
{
    return t_move(tp->c, tp->s, &tp->c2s, tp->chunk) +
           t_move(tp->s, tp->c, &tp->s2c, tp->chunk);
}

static inline void
t_pair_new(struct t_pair *tp, struct tls_ctx *cctx, struct tls_ctx *sctx,
           const struct tls_engine_opts *copts, size_t cap)
{
    struct tls_engine_opts so;
    struct tls_engine_opts co;
    struct tls_err err;

    memset(tp, 0, sizeof(*tp));
    memset(&so, 0, sizeof(so));
    so.cipher_cap = cap;
    if (copts != NULL) {
        co = *copts;
    } else {
        memset(&co, 0, sizeof(co));
    }
    if (co.cipher_cap == 0) {
        co.cipher_cap = cap;
    }
    tp->s = tls_engine_new(sctx, &so, &err);
    if (tp->s == NULL) {
        fail_msg("server engine: %s", err.msg);
    }
    tp->c = tls_engine_new(cctx, &co, &err);
    if (tp->c == NULL) {
        fail_msg("client engine: %s", err.msg);
    }
    tp->rc_c = TLS_AGAIN;
    tp->rc_s = TLS_AGAIN;
}

static inline void
t_pair_free(struct t_pair *tp)
{
    tls_engine_free(tp->c);
    tls_engine_free(tp->s);
    tp->c = NULL;
    tp->s = NULL;
}

/* Runs both handshakes until both are done or one failed (and its alert,
 * if any, reached the other side). Asserts progress: never spins. */
static inline void
t_handshake(struct t_pair *tp)
{
    long steps;
    size_t moved;

    for (steps = 0; steps < T_MAX_STEPS; steps++) {
        if (tp->rc_c == TLS_AGAIN) {
            tp->rc_c = tls_engine_handshake(tp->c);
        }
        if (tp->rc_s == TLS_AGAIN) {
            tp->rc_s = tls_engine_handshake(tp->s);
        }
        moved = t_move_both(tp);
        if (tp->rc_c != TLS_AGAIN && tp->rc_s != TLS_AGAIN && moved == 0) {
            return;
        }
        if ((tp->rc_c == TLS_ERR || tp->rc_s == TLS_ERR) && moved == 0) {
            /* one side failed: let the other see its alert, then stop */
            if (tp->rc_c == TLS_AGAIN) {
                tp->rc_c = tls_engine_handshake(tp->c);
            }
            if (tp->rc_s == TLS_AGAIN) {
                tp->rc_s = tls_engine_handshake(tp->s);
            }
            return;
        }
        if (moved == 0 && tp->rc_c == TLS_AGAIN && tp->rc_s == TLS_AGAIN) {
            fail_msg("handshake stalled: nothing to move, both waiting");
        }
    }
    fail_msg("handshake did not finish in %d steps", T_MAX_STEPS);
}

static inline void
t_expect_handshake_ok(struct t_pair *tp)
{
    t_handshake(tp);
    if (tp->rc_c != TLS_OK || tp->rc_s != TLS_OK) {
        fail_msg("handshake: client %d (%s), server %d (%s)", tp->rc_c,
                 tls_engine_reason(tp->c), tp->rc_s, tls_engine_reason(tp->s));
    }
    assert_true(tls_engine_is_handshake_done(tp->c));
    assert_true(tls_engine_is_handshake_done(tp->s));
    assert_string_equal(tls_engine_version(tp->c), "TLSv1.2");
    assert_string_equal(tls_engine_cipher(tp->c), tls_engine_cipher(tp->s));
}

/* Sends len bytes from a to b through the pump: the writer keeps its
 * unsent bytes and always passes them from the same head (the contract),
 * copying them to a fresh buffer on every call when `move_head` is set
 * (only the length and order may matter, not the address). With `step`,
 * the writer's data arrives `step` bytes per round (a streaming upper
 * layer: after a blocked write it has more bytes than before). The reader
 * takes at most rcap bytes per read and must get all len bytes. */
static inline void
t_transfer_ex(struct t_pair *tp, bool c_to_s, const uint8_t *data, size_t len,
              size_t sent0, size_t rcap, bool move_head, size_t step)
{
    struct tls_engine *a = c_to_s ? tp->c : tp->s;
    struct tls_engine *b = c_to_s ? tp->s : tp->c;
    struct t_dir *d = c_to_s ? &tp->c2s : &tp->s2c;
    uint8_t *got = malloc(len + 1);
    size_t sent = sent0;
    size_t avail = step != 0 ? sent0 : len;
    size_t recvd = 0;
    long steps;
    size_t n;
    int rc;

    assert_non_null(got);
    for (steps = 0; recvd < len && steps < T_MAX_STEPS; steps++) {
        if (step != 0) {
            avail = avail + step < len ? avail + step : len;
        }
        if (sent < avail || tls_engine_write_blocked(a)) {
            uint8_t *copy = NULL;
            const uint8_t *head = data + sent;

            if (move_head) {
                copy = malloc(avail - sent);
                assert_non_null(copy);
                memcpy(copy, data + sent, avail - sent);
                head = copy;
            }
            rc = tls_engine_write(a, head, avail - sent, &n);
            free(copy);
            if (rc != TLS_OK && rc != TLS_AGAIN) {
                fail_msg("write: %d %s", rc, tls_engine_reason(a));
            }
            assert_true(rc == TLS_OK ? n > 0 : n == 0);
            sent += n;
        }
        t_move(a, b, d, tp->chunk);
        n = 0;
        rc = tls_engine_read(b, got + recvd,
                             rcap < len - recvd ? rcap : len - recvd, &n);
        if (rc != TLS_OK && rc != TLS_AGAIN) {
            fail_msg("read: %d %s", rc, tls_engine_reason(b));
        }
        recvd += n;
    }
    assert_int_equal(recvd, len);
    assert_int_equal(sent, len);
    assert_memory_equal(got, data, len);
    free(got);
}

static inline void
t_transfer(struct t_pair *tp, bool c_to_s, const uint8_t *data, size_t len,
           size_t rcap, bool move_head)
{
    t_transfer_ex(tp, c_to_s, data, len, 0, rcap, move_head, 0);
}

static inline uint8_t *
t_pattern(size_t len, uint32_t seed)
{
    uint8_t *p = malloc(len);
    size_t i;

    assert_non_null(p);
    for (i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
    return p;
}

#endif
