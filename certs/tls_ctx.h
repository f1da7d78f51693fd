/*
 * TLS contexts: what a listener (server role) or an upstream profile
 * (client role) needs before any connection exists: certificates and keys,
 * the SNI map, CA certificates, verify mode and pins, protocol and cipher
 * choices, session tickets, and the random generator.
 *
 * A context is one immutable *generation*. It is built whole by
 * tls_server_ctx_new or tls_client_ctx_new, and never changes afterwards:
 * every engine made from it holds a reference, and a reload builds a new
 * generation while the old one lives on until its last engine is freed
 * (mbedTLS forbids changing an mbedtls_ssl_config a session uses).
 * Reference counts are plain integers: a context belongs to one process
 * and is used from one thread (one libuv loop per worker).
 *
 * certs/ does no logging and no network I/O. Constructors and checks fill
 * a struct tls_err whose message names the file and says why, ready for
 * the gateway to log or print (`postern -t`).
 */
#ifndef TLS_CTX_H
#define TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Results of the engine (tls_engine.h). 0 is success. */
enum tls_result {
    TLS_OK = 0,
    TLS_AGAIN = -1, /* WANT_READ / WANT_WRITE: a normal state */
    TLS_EOF = -2,   /* the peer's close_notify: orderly end */
    TLS_ERR = -3,   /* fatal; tls_engine_reason() says why */
};

/* Errors of constructors and checks, in struct tls_err.code. */
enum tls_error {
    TLS_E_NOMEM = -10,
    TLS_E_INVAL = -11,    /* bad option: empty list, unknown suite, bad pin */
    TLS_E_FILE = -12,     /* unreadable file, or not a PEM/DER we can parse */
    TLS_E_MISMATCH = -13, /* the key does not belong to the certificate */
    TLS_E_EXPIRED = -14,  /* a certificate's notAfter is in the past */
    TLS_E_NOTYET = -15,   /* a certificate's notBefore is in the future */
    TLS_E_CRYPTO = -16,   /* RNG, ticket key or mbedTLS setup failed */
};

#define TLS_ERR_MSG_MAX 512

struct tls_err {
    int code;                  /* enum tls_error, 0 when fine */
    char msg[TLS_ERR_MSG_MAX]; /* "FILE: what is wrong (mbedTLS reason)" */
};

enum tls_role {
    TLS_ROLE_SERVER,
    TLS_ROLE_CLIENT,
};

/* Protocol versions, as TLS minor numbers (0 in options means default). */
enum tls_version {
    TLS_VERSION_DEFAULT = 0,
    TLS_VERSION_1_0 = 1,
    TLS_VERSION_1_1 = 2,
    TLS_VERSION_1_2 = 3,
    TLS_VERSION_1_3 = 4, /* mbedTLS 3.x builds only */
};

/* Upstream TLS modes (issue 3), as the config spells them. */
enum tls_client_mode {
    TLS_CLIENT_NONE,    /* no TLS: no context is built for it */
    TLS_CLIENT_MAY,     /* TLS when offered; certificate not required */
    TLS_CLIENT_ENCRYPT, /* TLS required; certificate not checked */
    TLS_CLIENT_VERIFY,  /* TLS required; chain and name verified */
};

#define TLS_DEF_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define TLS_DEF_TICKET_LIFETIME 3600 /* seconds; keys rotate as often */
#define TLS_MAX_TICKET_LIFETIME 86400
#define TLS_MAX_CERTS 64  /* certificates per server context */
#define TLS_MAX_PINS 16   /* pin_sha256 entries per client context */
#define TLS_MAX_SUITES 64 /* configured cipher suites per context */

/* One certificate of a server context: a PEM chain (leaf first, then the
 * intermediates) and the leaf's private key (PEM or DER, unencrypted). */
struct tls_cert_spec {
    const char *cert_file;
    const char *key_file;
};

/*
 * Server context options. A zeroed struct plus one certificate is a
 * complete, safe configuration.
 *
 * certs[0] is the default: it answers clients without SNI, or whose name
 * matches no certificate. Any later certificate that covers certs[0]'s
 * first name (an ECDSA + RSA pair for one host) joins the default set.
 * With SNI, every certificate whose subjectAltName DNS entries (or, when
 * it has none, subject CN) match the name is offered, exact names before
 * wildcards ("*.example.com" matches one label); mbedTLS then picks the
 * one whose key type suits the negotiated cipher suite.
 */
struct tls_server_opts {
    const struct tls_cert_spec *certs;
    size_t ncerts;                   /* 1..TLS_MAX_CERTS */
    const char *const *ciphersuites; /* mbedTLS names; NULL: defaults */
    size_t nciphersuites;
    const char *client_ca_file; /* request client certificates and
                                   verify them against this file
                                   (never required); NULL: don't ask */
    uint32_t ticket_lifetime;   /* 0: TLS_DEF_TICKET_LIFETIME */
    bool disable_tickets;       /* no session tickets (no resumption) */
};

/*
 * Client context options (the upstream leg).
 *
 * `verify`: chain to ca_file and the name (server_name, or the name given
 * to tls_engine_new) must match the certificate; a failure fails the
 * handshake. `encrypt` and `may`: the certificate is checked the same way
 * but a failure is only recorded (tls_engine_peer_verify_result); the
 * difference between them is the gateway's (what it does when the
 * upstream offers no STARTTLS). pins: when given, the handshake fails
 * unless the SHA-256 of the upstream's leaf SubjectPublicKeyInfo equals
 * one of them, in every mode; under `verify` a pin may also name a CA or
 * intermediate key of the verified chain. Pins are checked inside the
 * certificate verify callback, before the handshake completes.
 */
struct tls_client_opts {
    enum tls_client_mode mode;
    const char *ca_file;     /* NULL: TLS_DEF_CA_FILE */
    const char *server_name; /* SNI and name checked; may be NULL */
    const char *const *pins; /* base64 SHA-256 of SPKI (HPKP form) */
    size_t npins;
    const char *cert_file;           /* optional client certificate chain */
    const char *key_file;            /* and its key (both or neither) */
    const char *const *ciphersuites; /* mbedTLS names; NULL: defaults */
    size_t nciphersuites;
    enum tls_version min_version; /* 0: TLS 1.2; lower for legacy MTAs */
};

struct tls_ctx;

/* Builds a server generation. Loads and checks every file (key matches
 * certificate), builds the SNI map, seeds the RNG, sets up ticket keys.
 * Expired certificates are accepted here (tls_check_cert_key reports
 * them); an unreadable, unparsable or mismatched file is an error.
 * Returns a context holding one reference, or NULL with *err filled
 * (err may be NULL). Blocking file reads: call at startup or reload,
 * never on the data path. */
struct tls_ctx *tls_server_ctx_new(const struct tls_server_opts *o,
                                   struct tls_err *err);

/* Builds a client generation. mode TLS_CLIENT_NONE is refused (it needs
 * no context). `verify` needs a name (server_name here or per engine) and
 * a readable CA file. With mode may/encrypt an unreadable *default* CA
 * file is tolerated (results are then "untrusted"); an explicit ca_file
 * must load. Returns a context holding one reference, or NULL. */
struct tls_ctx *tls_client_ctx_new(const struct tls_client_opts *o,
                                   struct tls_err *err);

/* Takes another reference; returns ctx. */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);

/* Drops a reference; the last one frees the generation, wiping keys. */
void tls_ctx_unref(struct tls_ctx *ctx);

enum tls_role tls_ctx_role(const struct tls_ctx *ctx);

/* The client mode (TLS_CLIENT_NONE for a server context). */
enum tls_client_mode tls_ctx_client_mode(const struct tls_ctx *ctx);

/* "none", "may", "encrypt", "verify"; and the reverse (0, or TLS_E_INVAL). */
const char *tls_client_mode_name(enum tls_client_mode mode);
int tls_client_mode_parse(const char *s, enum tls_client_mode *mode);

/* The default cipher suites (mbedTLS names), NULL-terminated. */
const char *const *tls_default_ciphersuites(void);

/* What tls_check_cert_key learns about the leaf certificate. */
struct tls_cert_info {
    time_t not_before;
    time_t not_after;
    char subject[256];    /* "CN=mx.example.com, O=..." */
    char first_name[256]; /* first SAN DNS name, or the CN */
};

/*
 * Checks for `postern -t` and reload: the certificate file parses (every
 * certificate in the chain), the key file parses, the key belongs to the
 * leaf, and every certificate of the chain is valid at `now` (0: the
 * current time). Returns 0, or TLS_E_FILE, TLS_E_MISMATCH, TLS_E_EXPIRED
 * or TLS_E_NOTYET with a message naming the file (the first problem
 * found, in that order). info (may be NULL) is filled whenever the leaf
 * parsed, so a caller can warn about a certificate that expires soon.
 */
int tls_check_cert_key(const char *cert_file, const char *key_file, time_t now,
                       struct tls_cert_info *info, struct tls_err *err);

/* Checks that a CA file holds at least one certificate we can parse.
 * Returns 0, or TLS_E_FILE. */
int tls_check_ca_file(const char *ca_file, struct tls_err *err);

#endif
