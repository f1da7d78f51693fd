/*
 * Unit tests for certs/tls_engine.c: two engines (client and server) wired
 * back to back through their memory buffers, with no sockets
 * (test_tls_pair.h). The pump moves ciphertext between them in chunks of
 * a chosen size, down to one byte, and the cipher buffers go down to one
 * byte, so every WANT_READ and WANT_WRITE path runs; the handshake is
 * also split at every byte boundary of both streams. Then: the write
 * contract, stable pending_out, close_notify, corrupt records, plaintext
 * injection, pending plaintext, renegotiation, misuse.
 *
 * Needs $POSTERN_TEST_CERTS (tests/certs/gen-certs.sh output; ctest sets
 * it). $POSTERN_TEST_SPLIT_STRIDE (default 1) thins the split-at-every-
 * byte case for slow runs (valgrind).
 */
#include "tests/unit/test_tls_pair.h"

/* --- handshake and data ------------------------------------------- */

/* Handshake and data both ways, for pump chunk sizes from one byte up and
 * cipher buffers from one byte up: every WANT_* path runs. */
static void
test_engine_data_both_ways(void **state)
{
    static const size_t chunks[] = {0, 1, 7, 100, 5000};
    static const size_t caps[] = {0, 1, 64, 4096};
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx =
        t_client_ctx(TLS_CLIENT_VERIFY, "ca.crt", "mx1.example.test");
    uint8_t *data = t_pattern(70000, 1);
    size_t i;
    size_t j;

    (void)state;
    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        for (j = 0; j < sizeof(caps) / sizeof(caps[0]); j++) {
            struct t_pair tp;
            size_t len = chunks[i] == 1 || caps[j] == 1 ? 20000 : 70000;

            t_pair_new(&tp, cctx, sctx, NULL, caps[j]);
            tp.chunk = chunks[i];
            tp.c2s.zero_copy = j % 2 == 1;
            tp.s2c.zero_copy = (i + j) % 2 == 1;
            t_expect_handshake_ok(&tp);
            assert_int_equal(tls_engine_peer_verify_result(tp.c),
                             TLS_PEER_VERIFIED);
            assert_int_equal(tls_engine_peer_verify_result(tp.s),
                             TLS_PEER_NONE);
            t_transfer(&tp, true, data, len, 1000, false);
            t_transfer(&tp, false, data + 3, len - 3, 16384, (i + j) % 2);
            t_transfer(&tp, true, data, 1, 1, false);
            t_pair_free(&tp);
        }
    }
    free(data);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* The handshake split at every byte boundary: for each k, the first move
 * in each direction carries exactly k bytes, the rest goes whole. */
static void
test_engine_handshake_split_every_byte(void **state)
{
    static const char *const ec_only[] = {
        "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"};
    struct t_srv_cfg scfg = {ec_only, 1, false, false};
    struct tls_ctx *sctx = t_server_ctx(&scfg);
    struct tls_ctx *cctx =
        t_client_ctx(TLS_CLIENT_VERIFY, "ca.crt", "mx2.example.test");
    const char *stride_env = getenv("POSTERN_TEST_SPLIT_STRIDE");
    size_t stride = stride_env != NULL ? strtoul(stride_env, NULL, 10) : 1;
    size_t longest;
    size_t k;
    struct t_pair tp;

    (void)state;
    if (stride == 0) {
        stride = 1;
    }
    /* one unsplit run to learn the stream lengths */
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    longest = tp.c2s.moved > tp.s2c.moved ? tp.c2s.moved : tp.s2c.moved;
    assert_true(longest > 500);
    t_pair_free(&tp);
    for (k = 1; k <= longest; k += stride) {
        t_pair_new(&tp, cctx, sctx, NULL, 0);
        tp.c2s.split = k;
        tp.s2c.split = k;
        tp.c2s.zero_copy = k % 2 == 0;
        t_expect_handshake_ok(&tp);
        t_transfer(&tp, true, (const uint8_t *)"QUIT\r\n", 6, 64, false);
        t_pair_free(&tp);
    }
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* Writes larger than cipher_out: the same-arguments rule holds while the
 * writer's bytes move in memory between calls, and a repeat with fewer
 * bytes than the blocked record is refused. */
static void
test_engine_large_write_same_arguments(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    uint8_t *data = t_pattern(300000, 7);
    struct t_pair tp;
    size_t n;
    size_t total = 0;
    int rc;

    (void)state;
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    t_transfer(&tp, true, data, 300000, 100000, true);
    t_transfer(&tp, false, data, 300000, 777, true);
    /* a streaming writer: blocked on a short record, it has more bytes at
     * the next call; slow pumps make it block often */
    tp.chunk = 50;
    t_transfer_ex(&tp, true, data, 100000, 0, 4096, true, 700);
    tp.chunk = 1;
    t_transfer_ex(&tp, false, data, 20000, 0, 4096, false, 333);
    tp.chunk = 0;

    /* fill cipher_out without draining: the first write takes at least a
     * record, then one blocks half-queued */
    do {
        rc = tls_engine_write(tp.c, data + total, 100000 - total, &n);
        total += n;
    } while (rc == TLS_OK);
    assert_int_equal(rc, TLS_AGAIN);
    assert_true(tls_engine_write_blocked(tp.c));
    assert_true(total > 0 && total < 100000);
    assert_true(tls_engine_out_len(tp.c) <= TLS_ENGINE_CIPHER_CAP);
    /* nothing was drained: a repeat still blocks and takes nothing */
    rc = tls_engine_write(tp.c, data + total, 100000 - total, &n);
    assert_int_equal(rc, TLS_AGAIN);
    assert_int_equal(n, 0);
    /* fewer bytes than the blocked record: contract broken */
    rc = tls_engine_write(tp.c, data + total, 10, &n);
    assert_int_equal(rc, TLS_ERR);
    assert_non_null(strstr(tls_engine_reason(tp.c), "fewer bytes"));
    t_pair_free(&tp);
    free(data);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* pending_out hands out bytes that stay in place while more are queued
 * (a socket write may be in flight on them), and wraps around the ring. */
static void
test_engine_pending_out_stable(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    uint8_t *data = t_pattern(50000, 3);
    uint8_t snapshot[1000];
    const uint8_t *p;
    const uint8_t *p2;
    struct t_pair tp;
    size_t n;
    size_t n2;
    int rc;

    (void)state;
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    rc = tls_engine_write(tp.c, data, 1000, &n);
    assert_int_equal(rc, TLS_OK);
    tls_engine_pending_out(tp.c, &p, &n);
    assert_true(n > 1000 && n < 1100);
    memcpy(snapshot, p, 1000);
    /* "in flight": queue more while those bytes are not consumed */
    rc = tls_engine_write(tp.c, data + 1000, 20000, &n);
    assert_int_equal(rc, TLS_OK);
    tls_engine_pending_out(tp.c, &p2, &n2);
    assert_ptr_equal(p2, p);
    assert_memory_equal(p, snapshot, 1000);
    n2 = n;
    assert_int_equal(n2, 16384);
    assert_true(tls_engine_write_blocked(tp.c));
    /* drain through the server, going on from the blocked record; the
     * ring wraps meanwhile */
    tp.chunk = 3000;
    t_transfer_ex(&tp, true, data, 50000, 1000 + 16384, 50000, false, 0);
    assert_int_equal(tls_engine_out_len(tp.c), 0);
    t_pair_free(&tp);
    free(data);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* --- orderly and disorderly ends ---------------------------------- */

static void
test_engine_close_notify_eof(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    uint8_t buf[64];
    struct t_pair tp;
    size_t n;

    (void)state;
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    t_transfer(&tp, true, (const uint8_t *)"QUIT\r\n", 6, 64, false);
    /* data then close_notify in one go: data first, then EOF (sticky) */
    assert_int_equal(
        tls_engine_write(tp.s, (const uint8_t *)"221 bye\r\n", 9, &n), TLS_OK);
    assert_int_equal(tls_engine_close_notify(tp.s), TLS_OK);
    assert_int_equal(tls_engine_write(tp.s, (const uint8_t *)"x", 1, &n),
                     TLS_ERR);
    t_move_both(&tp);
    assert_int_equal(tls_engine_read(tp.c, buf, sizeof(buf), &n), TLS_OK);
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "221 bye\r\n", 9);
    assert_int_equal(tls_engine_read(tp.c, buf, sizeof(buf), &n), TLS_EOF);
    assert_int_equal(n, 0);
    assert_int_equal(tls_engine_read(tp.c, buf, sizeof(buf), &n), TLS_EOF);
    assert_int_equal(tls_engine_feed(tp.c, buf, 5), 0);
    t_pair_free(&tp);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* close_notify with a full cipher_out: AGAIN until drained, data first. */
static void
test_engine_close_notify_again(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    struct tls_engine_opts co = {NULL, 64, NULL};
    uint8_t buf[256];
    struct t_pair tp;
    size_t n;
    size_t got = 0;
    int rc = TLS_AGAIN;
    int steps;

    (void)state;
    t_pair_new(&tp, cctx, sctx, &co, 0);
    t_expect_handshake_ok(&tp);
    assert_int_equal(tls_engine_write(tp.c, (const uint8_t *)"hello", 5, &n),
                     TLS_OK);
    for (steps = 0; steps < 1000 && rc == TLS_AGAIN; steps++) {
        rc = tls_engine_write(tp.c, (const uint8_t *)"world", 5, &n);
        if (rc == TLS_OK) {
            break;
        }
        t_move(tp.c, tp.s, &tp.c2s, 1);
    }
    assert_int_equal(rc, TLS_OK);
    rc = tls_engine_close_notify(tp.c);
    for (steps = 0; steps < 1000 && rc == TLS_AGAIN; steps++) {
        t_move(tp.c, tp.s, &tp.c2s, 1);
        rc = tls_engine_close_notify(tp.c);
    }
    assert_int_equal(rc, TLS_OK);
    for (steps = 0; steps < 1000; steps++) {
        t_move(tp.c, tp.s, &tp.c2s, 0);
        rc = tls_engine_read(tp.s, buf + got, sizeof(buf) - got, &n);
        got += n;
        if (rc == TLS_EOF) {
            break;
        }
        assert_true(rc == TLS_OK || rc == TLS_AGAIN);
    }
    assert_int_equal(rc, TLS_EOF);
    assert_int_equal(got, 10);
    assert_memory_equal(buf, "helloworld", 10);
    t_pair_free(&tp);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* A flipped bit in a record: TLS_ERR with a reason, no plaintext. */
static void
test_engine_corrupt_record(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    uint8_t rec[256];
    uint8_t buf[64];
    const uint8_t *p;
    struct t_pair tp;
    size_t n;
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        t_pair_new(&tp, cctx, sctx, NULL, 0);
        t_expect_handshake_ok(&tp);
        assert_int_equal(
            tls_engine_write(tp.c, (const uint8_t *)"MAIL FROM:<a@b>\r\n", 17,
                             &n),
            TLS_OK);
        tls_engine_pending_out(tp.c, &p, &n);
        assert_true(n <= sizeof(rec) && n > 5 + 17);
        memcpy(rec, p, n);
        tls_engine_consume_out(tp.c, n);
        /* the header's length (one more), the explicit nonce, the tag */
        if (i == 0) {
            rec[4]++;
        } else {
            rec[i == 1 ? 6 : n - 1] ^= 0x01;
        }
        assert_int_equal(tls_engine_feed(tp.s, rec, n), n);
        assert_int_equal(tls_engine_read(tp.s, buf, sizeof(buf), &n),
                         i == 0 ? TLS_AGAIN : TLS_ERR);
        if (i == 0) {
            /* a length one byte longer: the record is incomplete until
             * one more byte comes, then the MAC fails */
            assert_int_equal(tls_engine_feed(tp.s, (const uint8_t *)"x", 1), 1);
            assert_int_equal(tls_engine_read(tp.s, buf, sizeof(buf), &n),
                             TLS_ERR);
        }
        assert_int_equal(n, 0);
        assert_non_null(strstr(tls_engine_reason(tp.s), "read: "));
        assert_non_null(strstr(tls_engine_reason(tp.s), "MAC"));
        /* sticky, and the engine takes no more input */
        assert_int_equal(tls_engine_read(tp.s, buf, sizeof(buf), &n), TLS_ERR);
        assert_int_equal(tls_engine_in_space(tp.s), 0);
        assert_int_equal(tls_engine_handshake(tp.s), TLS_ERR);
        t_pair_free(&tp);
    }
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* STARTTLS injection: plaintext is never taken for TLS, before the
 * handshake or after it, and no plaintext comes out of it. */
static void
test_engine_plaintext_injection(void **state)
{
    static const uint8_t inject[] = "RSET\r\nMAIL FROM:<x@y>\r\n";
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    struct tls_engine *s;
    uint8_t buf[64];
    struct t_pair tp;
    size_t n;

    (void)state;
    /* before the ClientHello */
    s = tls_engine_new(sctx, NULL, NULL);
    assert_non_null(s);
    assert_int_equal(tls_engine_feed(s, inject, sizeof(inject) - 1),
                     sizeof(inject) - 1);
    assert_int_equal(tls_engine_handshake(s), TLS_ERR);
    assert_string_not_equal(tls_engine_reason(s), "");
    assert_int_equal(tls_engine_read(s, buf, sizeof(buf), &n), TLS_ERR);
    assert_int_equal(n, 0);
    tls_engine_free(s);

    /* read before the handshake: refused, never data */
    s = tls_engine_new(sctx, NULL, NULL);
    assert_non_null(s);
    assert_int_equal(tls_engine_read(s, buf, sizeof(buf), &n), TLS_ERR);
    assert_non_null(strstr(tls_engine_reason(s), "before the handshake"));
    tls_engine_free(s);

    /* after a handshake, glued behind the client's last flight */
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    assert_int_equal(tls_engine_feed(tp.s, inject, sizeof(inject) - 1),
                     sizeof(inject) - 1);
    assert_int_equal(tls_engine_read(tp.s, buf, sizeof(buf), &n), TLS_ERR);
    assert_int_equal(n, 0);
    t_pair_free(&tp);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* Fed records beyond what the reader takes: has_pending_plaintext stays
 * true (no socket event would come) until everything is read. */
static void
test_engine_pending_plaintext(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    uint8_t *data = t_pattern(3000, 5);
    uint8_t got[3000];
    struct t_pair tp;
    size_t n;
    size_t total = 0;
    int i;
    int rc;

    (void)state;
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    assert_false(tls_engine_has_pending_plaintext(tp.s));
    for (i = 0; i < 3; i++) { /* three records */
        assert_int_equal(tls_engine_write(tp.c, data + i * 1000, 1000, &n),
                         TLS_OK);
        assert_int_equal(n, 1000);
    }
    t_move(tp.c, tp.s, &tp.c2s, 0);
    assert_true(tls_engine_has_pending_plaintext(tp.s));
    while (total < 3000) {
        assert_true(tls_engine_has_pending_plaintext(tp.s));
        rc = tls_engine_read(tp.s, got + total, 10, &n);
        assert_int_equal(rc, TLS_OK);
        assert_int_equal(n, 10);
        total += n;
    }
    assert_false(tls_engine_has_pending_plaintext(tp.s));
    assert_int_equal(tls_engine_read(tp.s, got, 10, &n), TLS_AGAIN);
    assert_memory_equal(got, data, 3000);
    t_pair_free(&tp);
    free(data);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* A client's renegotiation is refused (no_renegotiation warning): no new
 * handshake runs on the server, and the session goes on. */
static void
test_engine_renegotiation_refused(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_ctx *cctx = t_client_ctx(TLS_CLIENT_ENCRYPT, NULL, NULL);
    uint8_t buf[64];
    struct t_pair tp;
    size_t n;

    (void)state;
    /* test-only: a client that wants to renegotiate (the context is not
     * used by any engine yet) */
    mbedtls_ssl_conf_renegotiation(&cctx->conf,
                                   MBEDTLS_SSL_RENEGOTIATION_ENABLED);
    t_pair_new(&tp, cctx, sctx, NULL, 0);
    t_expect_handshake_ok(&tp);
    assert_true(mbedtls_ssl_renegotiate(&tp.c->ssl) ==
                MBEDTLS_ERR_SSL_WANT_READ);
    t_move_both(&tp);
    assert_int_equal(tls_engine_read(tp.s, buf, sizeof(buf), &n), TLS_AGAIN);
    /* a 31-byte encrypted warning alert, not a new server flight */
    assert_true(tls_engine_out_len(tp.s) > 0);
    assert_true(tls_engine_out_len(tp.s) < 64);
    t_move_both(&tp);
    t_transfer(&tp, false, (const uint8_t *)"250 ok\r\n", 8, 64, false);
    t_pair_free(&tp);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}
/* Engine options and misuse that must fail cleanly. */
static void
test_engine_options_and_misuse(void **state)
{
    struct tls_ctx *sctx = t_server_ctx(NULL);
    struct tls_engine_opts eo;
    struct tls_engine *e;
    struct tls_err err;
    const uint8_t *p;
    size_t n;

    (void)state;
    memset(&eo, 0, sizeof(eo));
    eo.cipher_cap = TLS_ENGINE_CIPHER_CAP_MAX + 1;
    assert_null(tls_engine_new(sctx, &eo, &err));
    assert_int_equal(err.code, TLS_E_INVAL);

    e = tls_engine_new(sctx, NULL, &err);
    assert_non_null(e);
    assert_int_equal(tls_engine_in_space(e), TLS_ENGINE_CIPHER_CAP);
    tls_engine_pending_out(e, &p, &n);
    assert_int_equal(n, 0);
    assert_string_equal(tls_engine_version(e), "");
    assert_string_equal(tls_engine_cipher(e), "");
    assert_string_equal(tls_engine_reason(e), "");
    assert_false(tls_engine_has_pending_plaintext(e));
    assert_int_equal(tls_engine_handshake(e), TLS_AGAIN);
    assert_int_equal(tls_engine_handshake(e), TLS_AGAIN);
    tls_engine_consume_out(e, 100); /* more than there is: clamped */
    assert_int_equal(tls_engine_write(e, (const uint8_t *)"x", 1, &n), TLS_ERR);
    assert_non_null(strstr(tls_engine_reason(e), "before the handshake"));
    tls_engine_free(e);
    assert_string_equal(tls_peer_trust_name(TLS_PEER_VERIFIED), "verified");
    assert_string_equal(tls_peer_trust_name(TLS_PEER_NONE), "none");
    tls_ctx_unref(sctx);
}

/* An optional argument runs only the matching cases ('*' and '?'). */
int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_data_both_ways),
        cmocka_unit_test(test_engine_handshake_split_every_byte),
        cmocka_unit_test(test_engine_large_write_same_arguments),
        cmocka_unit_test(test_engine_pending_out_stable),
        cmocka_unit_test(test_engine_close_notify_eof),
        cmocka_unit_test(test_engine_close_notify_again),
        cmocka_unit_test(test_engine_corrupt_record),
        cmocka_unit_test(test_engine_plaintext_injection),
        cmocka_unit_test(test_engine_pending_plaintext),
        cmocka_unit_test(test_engine_renegotiation_refused),
        cmocka_unit_test(test_engine_options_and_misuse),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, t_group_setup, NULL);
}
