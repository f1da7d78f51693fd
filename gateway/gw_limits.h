/*
 * Every limit Postern enforces, with its default (GW_DEF_*) and hard cap
 * (GW_MAX_*). The config key that sets it is named beside each one; see
 * docs/configuration.md. RFC references are to RFC 5321 unless stated.
 */
#ifndef GW_LIMITS_H
#define GW_LIMITS_H

/* limits.command_line: 4.5.3.1.4, 512 octets including CRLF. */
#define GW_DEF_COMMAND_LINE 512
#define GW_MIN_COMMAND_LINE 512
#define GW_MAX_COMMAND_LINE 4096

/* limits.reply_line: 4.5.3.1.5, 512 octets including CRLF. */
#define GW_DEF_REPLY_LINE 512
#define GW_MIN_REPLY_LINE 512
#define GW_MAX_REPLY_LINE 4096

/* limits.reply_lines: lines in one upstream multi-line reply. */
#define GW_DEF_REPLY_LINES 100
#define GW_MAX_REPLY_LINES 1000

/* limits.recipients: 4.5.3.1.8 asks for at least 100. */
#define GW_DEF_RECIPIENTS 1000
#define GW_MIN_RECIPIENTS 100
#define GW_MAX_RECIPIENTS 100000

/* limits.messages_per_session */
#define GW_DEF_MESSAGES_PER_SESSION 1000
#define GW_MAX_MESSAGES_PER_SESSION 1000000

/* limits.errors_per_session (Postfix smtpd_hard_error_limit) */
#define GW_DEF_ERRORS_PER_SESSION 20
#define GW_MAX_ERRORS_PER_SESSION 1000

/* limits.connections, limits.connections_per_client */
#define GW_DEF_CONNECTIONS 4096
#define GW_MAX_CONNECTIONS 1000000
#define GW_DEF_CONNECTIONS_PER_CLIENT 50
/* policy.counters.capacity: token-bucket slots shared by the workers */
#define GW_DEF_POLICY_COUNTERS 65536
#define GW_MAX_CONNECTIONS_PER_CLIENT 1000000

/* limits.pipeline_depth: commands in flight to a PIPELINING upstream. */
#define GW_DEF_PIPELINE_DEPTH 64
#define GW_MAX_PIPELINE_DEPTH 1024

/* limits.buffer_size: each leg's input and output buffer. */
#define GW_DEF_BUFFER_SIZE (64 * 1024)
#define GW_MIN_BUFFER_SIZE (4 * 1024)
#define GW_MAX_BUFFER_SIZE (1024 * 1024)

/* limits.message_size: advertised with SIZE and enforced on real bytes. */
#define GW_DEF_MESSAGE_SIZE (50ULL * 1024 * 1024)
#define GW_MAX_MESSAGE_SIZE (1ULL << 62)

/* Paths (4.5.3.1.3: 256 octets) and domains (4.5.3.1.2: 255 octets). */
#define GW_MAX_PATH 256
#define GW_MAX_DOMAIN 255
#define GW_MAX_LOCAL_PART 64

/* ESMTP parameters on one MAIL or RCPT command. */
#define GW_MAX_PARAMS 16

/* Upstream addresses tried in order within one upstream block. */
#define GW_MAX_UPSTREAM_ADDRS 8
/* Routes a transaction may try for its first accepted recipient (routing
 * by recipient): each costs an upstream session. */
#define GW_MAX_REROUTES 3

/* Text of one upstream reply kept for relaying to the client. */
#define GW_MAX_REPLY_TEXT 512

/* Timeouts in milliseconds (4.5.3.2). */
#define GW_DEF_TIMEOUT_COMMAND (5 * 60 * 1000)       /* 4.5.3.2.7 server */
#define GW_DEF_TIMEOUT_DATA_BLOCK (5 * 60 * 1000)    /* 4.5.3.2.7 server */
#define GW_DEF_TIMEOUT_UP_CONNECT (30 * 1000)
#define GW_DEF_TIMEOUT_UP_GREETING (5 * 60 * 1000)   /* 4.5.3.2.1 */
#define GW_DEF_TIMEOUT_UP_MAIL (5 * 60 * 1000)       /* 4.5.3.2.2 */
#define GW_DEF_TIMEOUT_UP_RCPT (5 * 60 * 1000)       /* 4.5.3.2.3 */
#define GW_DEF_TIMEOUT_UP_DATA (2 * 60 * 1000)       /* 4.5.3.2.4 */
#define GW_DEF_TIMEOUT_UP_DATA_BLOCK (3 * 60 * 1000) /* 4.5.3.2.5 */
#define GW_DEF_TIMEOUT_UP_DATA_END (10 * 60 * 1000)  /* 4.5.3.2.6 */
#define GW_DEF_TIMEOUT_UP_IDLE (60 * 1000)
#define GW_DEF_PROBE_INTERVAL (5 * 60 * 1000)
#define GW_MAX_TIMEOUT (24ULL * 3600 * 1000)

/* process.shutdown_grace: how long transactions in flight may take to
 * finish after SIGTERM. */
#define GW_DEF_SHUTDOWN_GRACE (30 * 1000)

/* upstreams[].keep_idle: idle upstream sessions kept per worker. */
#define GW_MAX_KEEP_IDLE 32

/* listeners[].auth: failed AUTH attempts. The delay before a 535 doubles
 * with each recent failure of the client address, up to the cap; an
 * address with block_after failures within block_time gets 421 to AUTH.
 * The table of addresses is per worker and fixed in size. */
#define GW_DEF_AUTH_MAX_FAILURES 3
#define GW_MAX_AUTH_MAX_FAILURES 100
#define GW_DEF_AUTH_FAILURE_DELAY 1000
#define GW_MAX_AUTH_FAILURE_DELAY (60 * 1000)
#define GW_AUTH_DELAY_CAP (30 * 1000)
#define GW_DEF_AUTH_BLOCK_AFTER 10
#define GW_MAX_AUTH_BLOCK_AFTER 100000
#define GW_DEF_AUTH_BLOCK_TIME (15 * 60 * 1000)
#define GW_AUTH_FAILURE_SLOTS 4096
#define GW_DEF_AUTH_TOKEN_TIMEOUT (5 * 1000)
#define GW_MAX_AUTH_TOKEN_TIMEOUT (60 * 1000)

/* listeners[].proxy_protocol: the header must arrive this soon after
 * accept, or the connection is closed (no greeting). */
#define GW_PROXY_TIMEOUT (5 * 1000)

/* process.workers */
#define GW_MAX_WORKERS 64

#endif
