/*
 * The TLS engine: mbedTLS over two bounded rings. The BIO callbacks only
 * move bytes (WANT_READ when cipher_in is empty, WANT_WRITE when
 * cipher_out is full); everything else is the contract in tls_engine.h.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "certs/tls_internal.h"

static bool tls_engine_attach(struct tls_engine *e);
static size_t tls_ring_put(struct tls_ring *r, const uint8_t *p, size_t len);
static size_t tls_ring_get(struct tls_ring *r, uint8_t *p, size_t len);
static int tls_engine_on_send(void *p, const unsigned char *buf, size_t len);
static int tls_engine_on_recv(void *p, unsigned char *buf, size_t len);
static bool tls_engine_is_again(int ret);
static int tls_engine_misuse(struct tls_engine *e, const char *what);
static int tls_engine_setup(struct tls_engine *e,
                            const struct tls_engine_opts *opts,
                            struct tls_err *err);

/* Copies in as much as fits after the data (wrapping); returns how much. */
static size_t
tls_ring_put(struct tls_ring *r, const uint8_t *p, size_t len)
{
    size_t room = r->cap - r->len;
    size_t tail = (r->head + r->len) % r->cap;
    size_t first;

    if (len > room) {
        len = room;
    }
    if (len == 0) {
        return 0; /* and r->buf may be NULL (trimmed) */
    }
    first = r->cap - tail < len ? r->cap - tail : len;
    memcpy(r->buf + tail, p, first);
    memcpy(r->buf, p + first, len - first);
    r->len += len;
    return len;
}

/* Takes up to len bytes from the front (wrapping); returns how many.
 * Never moves the tail (head + len), so a region reserved for the socket
 * by tls_engine_in_reserve stays where it is. */
static size_t
tls_ring_get(struct tls_ring *r, uint8_t *p, size_t len)
{
    size_t first;

    if (len > r->len) {
        len = r->len;
    }
    first = r->cap - r->head < len ? r->cap - r->head : len;
    memcpy(p, r->buf + r->head, first);
    memcpy(p + first, r->buf, len - first);
    r->head = (r->head + len) % r->cap;
    r->len -= len;
    return len;
}

struct tls_engine *
tls_engine_new(struct tls_ctx *ctx, const struct tls_engine_opts *opts,
               struct tls_err *err)
{
    struct tls_engine *e;
    size_t cap = opts != NULL && opts->cipher_cap != 0 ? opts->cipher_cap
                                                       : TLS_ENGINE_CIPHER_CAP;

    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
    if (cap > TLS_ENGINE_CIPHER_CAP_MAX) {
        tls_err_set(err, TLS_E_INVAL, "cipher buffer of %zu bytes is over %d",
                    cap, TLS_ENGINE_CIPHER_CAP_MAX);
        return NULL;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        tls_err_set(err, TLS_E_NOMEM, "out of memory (TLS engine)");
        return NULL;
    }
    mbedtls_ssl_init(&e->ssl);
    e->ctx = tls_ctx_ref(ctx);
    e->in.cap = cap;
    e->out.cap = cap;
    if (!tls_engine_attach(e)) {
        tls_err_set(err, TLS_E_NOMEM, "out of memory (TLS buffers)");
        tls_engine_free(e);
        return NULL;
    }
    if (tls_engine_setup(e, opts, err) != 0) {
        tls_engine_free(e);
        return NULL;
    }
    return e;
}

/* The two rings, one allocation, present only while they hold bytes (or
 * from the first byte in or out until tls_engine_trim): an idle session
 * keeps only mbedTLS's own buffers. */
static bool
tls_engine_attach(struct tls_engine *e)
{
    if (e->in.buf != NULL) {
        return true;
    }
    e->in.buf = malloc(e->in.cap + e->out.cap);
    if (e->in.buf == NULL) {
        return false;
    }
    e->out.buf = e->in.buf + e->in.cap;
    e->in.head = 0;
    e->out.head = 0;
    return true;
}

void
tls_engine_trim(struct tls_engine *e)
{
    if (e->in.buf == NULL || e->in.len > 0 || e->out.len > 0) {
        return;
    }
    free(e->in.buf); /* ciphertext only, all consumed: nothing to wipe */
    e->in.buf = NULL;
    e->out.buf = NULL;
}

static int
tls_engine_setup(struct tls_engine *e, const struct tls_engine_opts *opts,
                 struct tls_err *err)
{
    struct tls_ctx *ctx = e->ctx;
    const char *name = NULL;
    char why[200];
    int ret;

    ret = mbedtls_ssl_setup(&e->ssl, &ctx->conf);
    if (ret != 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err,
                    ret == MBEDTLS_ERR_SSL_ALLOC_FAILED ? TLS_E_NOMEM
                                                        : TLS_E_CRYPTO,
                    "TLS session setup: %s", why);
        return TLS_E_CRYPTO;
    }
    mbedtls_ssl_set_bio(&e->ssl, e, tls_engine_on_send, tls_engine_on_recv,
                        NULL);
    mbedtls_ssl_set_verify(&e->ssl, tls_verify_on_cert, e);
    if (ctx->role == TLS_ROLE_SERVER) {
        return 0;
    }
    name = opts != NULL && opts->server_name != NULL ? opts->server_name
                                                     : ctx->server_name;
    if (name == NULL && ctx->mode == TLS_CLIENT_VERIFY) {
        tls_err_set(err, TLS_E_INVAL,
                    "tls mode verify needs a server_name to check");
        return TLS_E_INVAL;
    }
    /* Always called, NULL included: "no name to check" is then explicit
     * (mbedTLS 3.6 refuses to verify without this call). */
    ret = mbedtls_ssl_set_hostname(&e->ssl, name);
    if (ret != 0) {
        tls_strerror(ret, why, sizeof(why));
        tls_err_set(err, TLS_E_INVAL, "server name \"%.100s\": %s",
                    name != NULL ? name : "", why);
        return TLS_E_INVAL;
    }
    e->name_checked = name != NULL;
    if (opts != NULL && opts->session != NULL) {
        if (opts->session->ctx != ctx) {
            tls_err_set(err, TLS_E_INVAL,
                        "saved TLS session belongs to another context");
            return TLS_E_INVAL;
        }
        ret = mbedtls_ssl_set_session(&e->ssl, &opts->session->session);
        if (ret != 0) {
            tls_strerror(ret, why, sizeof(why));
            tls_err_set(err, TLS_E_CRYPTO, "resuming a session: %s", why);
            return TLS_E_CRYPTO;
        }
    }
    return 0;
}

void
tls_engine_free(struct tls_engine *e)
{
    if (e == NULL) {
        return;
    }
    mbedtls_ssl_free(&e->ssl);
    if (e->in.buf != NULL) {
        mbedtls_platform_zeroize(e->in.buf, e->in.cap + e->out.cap);
        free(e->in.buf);
    }
    tls_ctx_unref(e->ctx);
    mbedtls_platform_zeroize(e, sizeof(*e));
    free(e);
}

/* BIO send: append to cipher_out; WANT_WRITE when it is full. */
static int
tls_engine_on_send(void *p, const unsigned char *buf, size_t len)
{
    struct tls_engine *e = p;

    if (len > INT_MAX) {
        len = INT_MAX;
    }
    if (e->out.len == e->out.cap) {
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    }
    if (!tls_engine_attach(e)) {
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    return (int)tls_ring_put(&e->out, buf, len);
}

/* BIO recv: take from cipher_in; WANT_READ when it is empty. */
static int
tls_engine_on_recv(void *p, unsigned char *buf, size_t len)
{
    struct tls_engine *e = p;

    if (len > INT_MAX) {
        len = INT_MAX;
    }
    if (e->in.len == 0) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    return (int)tls_ring_get(&e->in, buf, len);
}

size_t
tls_engine_feed(struct tls_engine *e, const uint8_t *p, size_t len)
{
    if (len == 0 || e->failed || e->eof || !tls_engine_attach(e)) {
        return 0;
    }
    return tls_ring_put(&e->in, p, len);
}

size_t
tls_engine_in_space(const struct tls_engine *e)
{
    if (e->failed || e->eof) {
        return 0;
    }
    return e->in.cap - e->in.len;
}

void
tls_engine_in_reserve(struct tls_engine *e, uint8_t **p, size_t *n)
{
    struct tls_ring *r = &e->in;
    size_t tail;

    if (e->failed || e->eof || !tls_engine_attach(e)) {
        *p = r->buf;
        *n = 0;
        return;
    }
    if (r->len == 0) {
        r->head = 0; /* empty: offer the whole buffer in one piece */
    }
    tail = (r->head + r->len) % r->cap;
    *p = r->buf + tail;
    if (r->len == r->cap) {
        *n = 0;
    } else if (tail >= r->head) {
        *n = r->cap - tail;
    } else {
        *n = r->head - tail;
    }
}

void
tls_engine_in_commit(struct tls_engine *e, size_t n)
{
    struct tls_ring *r = &e->in;

    if (e->failed || e->eof) {
        return; /* dropped, as feed would have */
    }
    if (n > r->cap - r->len) {
        n = r->cap - r->len; /* a caller bug; never run past the space */
    }
    r->len += n;
}

void
tls_engine_pending_out(const struct tls_engine *e, const uint8_t **p, size_t *n)
{
    size_t first = e->out.cap - e->out.head;

    if (e->out.len == 0) {
        *p = NULL; /* the rings may be trimmed: no pointer to give */
        *n = 0;
        return;
    }
    *p = e->out.buf + e->out.head;
    *n = e->out.len < first ? e->out.len : first;
}

size_t
tls_engine_out_len(const struct tls_engine *e)
{
    return e->out.len;
}

void
tls_engine_consume_out(struct tls_engine *e, size_t n)
{
    if (n > e->out.len) {
        n = e->out.len; /* a caller bug; never run past the data */
    }
    e->out.head = (e->out.head + n) % e->out.cap;
    e->out.len -= n;
    if (e->out.len == 0) {
        e->out.head = 0;
    }
}

static bool
tls_engine_is_again(int ret)
{
    return ret == MBEDTLS_ERR_SSL_WANT_READ ||
           ret == MBEDTLS_ERR_SSL_WANT_WRITE || tls_compat_is_retry(ret);
}

/* A broken pump order or write contract: the caller's bug, reported as a
 * failure (the stream can no longer be trusted), never an abort. */
static int
tls_engine_misuse(struct tls_engine *e, const char *what)
{
    e->failed = true;
    snprintf(e->reason, sizeof(e->reason), "engine misuse: %s", what);
    return TLS_ERR;
}

int
tls_engine_handshake(struct tls_engine *e)
{
    int ret;

    if (e->failed) {
        return TLS_ERR;
    }
    if (e->hs_done) {
        return TLS_OK;
    }
    ret = tls_compat_handshake(&e->ssl, &e->resumed);
    if (ret == 0) {
        e->hs_done = true;
        tls_verify_done(e);
        return TLS_OK;
    }
    if (tls_engine_is_again(ret)) {
        return TLS_AGAIN;
    }
    return tls_engine_fail(e, "handshake", ret);
}

bool
tls_engine_is_handshake_done(const struct tls_engine *e)
{
    return e->hs_done;
}

int
tls_engine_read(struct tls_engine *e, uint8_t *buf, size_t cap, size_t *n)
{
    size_t got = 0;
    int ret;

    *n = 0;
    if (e->failed) {
        return TLS_ERR;
    }
    if (!e->hs_done) {
        return tls_engine_misuse(e, "read before the handshake completed");
    }
    while (got < cap && !e->eof) {
        ret = mbedtls_ssl_read(&e->ssl, buf + got,
                               cap - got > INT_MAX ? INT_MAX : cap - got);
        if (ret > 0) {
            got += (size_t)ret;
        } else if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            e->eof = true;
        } else if (tls_compat_is_retry(ret)) {
            continue;
        } else if (tls_engine_is_again(ret)) {
            break;
        } else {
            tls_engine_fail(e, "read", ret);
            break;
        }
    }
    *n = got;
    if (got > 0) {
        return TLS_OK; /* an EOF or error after data is reported next */
    }
    if (e->failed) {
        return TLS_ERR;
    }
    return e->eof ? TLS_EOF : TLS_AGAIN;
}

/*
 * mbedtls_ssl_write encrypts up to one record per call. When it returns
 * WANT_*, the record is already encrypted and partly queued; the next call
 * must pass the same length (curl's send_blocked), and returns that
 * length once the record is out. blocked_len is what we passed.
 */
int
tls_engine_write(struct tls_engine *e, const uint8_t *buf, size_t len,
                 size_t *n)
{
    size_t done = 0;
    size_t chunk;
    int ret;

    *n = 0;
    if (e->failed) {
        return TLS_ERR;
    }
    if (!e->hs_done) {
        return tls_engine_misuse(e, "write before the handshake completed");
    }
    if (e->closed) {
        return tls_engine_misuse(e, "write after close_notify");
    }
    if (len < e->blocked_len) {
        return tls_engine_misuse(e, "write repeated with fewer bytes than "
                                    "the blocked record");
    }
    if (len == 0) {
        return TLS_OK;
    }
    while (done < len) {
        chunk = e->blocked_len != 0 ? e->blocked_len : len - done;
        if (chunk > INT_MAX) {
            chunk = INT_MAX;
        }
        ret = mbedtls_ssl_write(&e->ssl, buf + done, chunk);
        if (ret > 0) {
            e->blocked_len = 0;
            done += (size_t)ret;
        } else if (ret == 0) {
            break; /* cannot happen for chunk > 0; never spin */
        } else if (tls_engine_is_again(ret)) {
            e->blocked_len = chunk;
            break;
        } else {
            tls_engine_fail(e, "write", ret);
            break;
        }
    }
    *n = done;
    if (done > 0) {
        return TLS_OK;
    }
    return e->failed ? TLS_ERR : TLS_AGAIN;
}

bool
tls_engine_write_blocked(const struct tls_engine *e)
{
    return e->blocked_len != 0;
}

bool
tls_engine_has_pending_plaintext(const struct tls_engine *e)
{
    if (e->failed || e->eof || !e->hs_done) {
        return false;
    }
    return e->in.len > 0 || mbedtls_ssl_get_bytes_avail(&e->ssl) > 0 ||
           mbedtls_ssl_check_pending(&e->ssl) != 0;
}

int
tls_engine_close_notify(struct tls_engine *e)
{
    int ret;

    if (e->failed) {
        return TLS_ERR;
    }
    e->closed = true;
    ret = mbedtls_ssl_close_notify(&e->ssl);
    if (ret == 0) {
        return TLS_OK;
    }
    if (tls_engine_is_again(ret)) {
        return TLS_AGAIN;
    }
    return tls_engine_fail(e, "close_notify", ret);
}

const char *
tls_engine_reason(const struct tls_engine *e)
{
    return e->reason;
}

const char *
tls_engine_version(const struct tls_engine *e)
{
    return e->hs_done ? mbedtls_ssl_get_version(&e->ssl) : "";
}

const char *
tls_engine_cipher(const struct tls_engine *e)
{
    const char *s;

    if (!e->hs_done) {
        return "";
    }
    s = mbedtls_ssl_get_ciphersuite(&e->ssl);
    return s != NULL ? s : "";
}

bool
tls_engine_is_resumed(const struct tls_engine *e)
{
    return e->hs_done && e->resumed;
}

const char *
tls_engine_sni(const struct tls_engine *e)
{
    return e->has_sni ? e->sni : NULL;
}

enum tls_peer_trust
tls_engine_peer_verify_result(const struct tls_engine *e)
{
    return e->hs_done ? e->trust : TLS_PEER_NONE;
}

const char *
tls_peer_trust_name(enum tls_peer_trust t)
{
    switch (t) {
    case TLS_PEER_NONE:
        return "none";
    case TLS_PEER_UNTRUSTED:
        return "untrusted";
    case TLS_PEER_TRUSTED:
        return "trusted";
    case TLS_PEER_VERIFIED:
        return "verified";
    }
    return "unknown";
}

const char *
tls_engine_peer_verify_info(const struct tls_engine *e)
{
    return e->hs_done ? e->verify_info : "";
}

const char *
tls_engine_peer_subject(const struct tls_engine *e)
{
    return e->hs_done ? e->subject : "";
}

struct tls_session *
tls_engine_session_save(const struct tls_engine *e)
{
    struct tls_session *s;

    if (e->ctx->role != TLS_ROLE_CLIENT || !e->hs_done || e->failed) {
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    mbedtls_ssl_session_init(&s->session);
    if (mbedtls_ssl_get_session(&e->ssl, &s->session) != 0) {
        mbedtls_ssl_session_free(&s->session);
        free(s);
        return NULL;
    }
    s->ctx = tls_ctx_ref(e->ctx);
    return s;
}

void
tls_session_free(struct tls_session *s)
{
    if (s == NULL) {
        return;
    }
    mbedtls_ssl_session_free(&s->session); /* wipes the master secret */
    tls_ctx_unref(s->ctx);
    mbedtls_platform_zeroize(s, sizeof(*s));
    free(s);
}
