#!/usr/bin/python3
"""35-auth: SMTP AUTH on the client leg (issue 6).

Real clients (swaks, python smtplib) authenticate with PLAIN and LOGIN over
STARTTLS and implicit TLS against a users file made by `postern passwd`;
AUTH is neither offered nor accepted before TLS (538 5.7.11), and a
listener with auth.required refuses MAIL until AUTH (530 5.7.0); every
error reply of RFC 4954; wrong credentials get 535 5.7.8 after a delay
that grows per client address, then 421 (auth.max_failures) and a block
(auth.block_after); the auth policy stage; the authenticated user in the
Received header (ESMTPSA) and in the logs, never the password.
Pass-through (auth.mode: relay): the exchange goes to an aiosmtpd upstream
with AUTH, step by step (PLAIN and LOGIN), over TLS only; the message then
goes over the same, authenticated upstream session. Bearer tokens
(OAUTHBEARER, XOAUTH2) against a file of hashes and a local command,
with a 2,000-octet token (an AUTH line longer than a command line).
SCRAM-SHA-256 with a client written here from RFC 5802 (swaks has none):
the server's signature is checked too; a wrong password and an unknown
user fail the same way, at the proof.
"""

import base64
import hashlib
import hmac
import os
import smtplib
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (AiosmtpdUpstream, Postern, Suite,  # noqa: E402
                 TestFailure, Upstream, check, check_eq, free_port, test_certs)

suite = Suite("test_35_auth")
S = {}

USERS = {"alice@example.org": "correct horse", "bob": "pw-bob",
         "carol": "pw-carol"}


def passwd(ctx, user, password):
    r = subprocess.run([ctx.postern_bin, "passwd", user],
                       input=(password + "\n").encode(), capture_output=True)
    check_eq(r.returncode, 0, "postern passwd %s: %r" % (user, r.stderr))
    return r.stdout.decode()


CONFIG = """
listeners:
  - name: submission
    address: "{listen}"
    tls: starttls
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
    auth:
      users: "%(users)s"
      mechanisms: [PLAIN, LOGIN, SCRAM-SHA-256]
      required: true
      failure_delay: 100ms
      max_failures: 3
      block_after: 5
  - name: smtps
    address: "127.0.0.1:%(p465)d"
    tls: implicit
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
    auth:
      users: "%(users)s"
      mechanisms: [LOGIN]
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
policy:
  rules:
    - name: carol-suspended
      stage: auth
      if:
        - auth_user: carol
      then: 'reject 535 5.7.8 "Account suspended"'
    - name: own-domain-only
      stage: mail
      if:
        - authenticated: true
        - sender_owned: false
      then: 'reject 553 5.7.1 "Sender address not owned by ${auth_user}"'
"""


def start(ctx):
    if "pp" in S:
        return S["up"], S["pp"]
    users = ctx.path("users")
    with open(users, "w") as f:
        f.write("# made by postern passwd\n")
        for u, p in USERS.items():
            f.write(passwd(ctx, u, p))
    up = Upstream(ctx)
    S["p465"] = free_port()
    pp = Postern(ctx, opts=["smtp.received_header=on"],
                 config=CONFIG % {"c": test_certs(), "up": up.addr,
                                  "users": users, "p465": S["p465"]})
    S["up"], S["pp"] = up, pp
    return up, pp


def tls_ctx():
    c = ssl.create_default_context(cafile=os.path.join(test_certs(), "ca.crt"))
    c.check_hostname = False
    return c


def smtp_tls(pp):
    s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
    s.ehlo("client.example")
    s.starttls(context=tls_ctx())
    s.ehlo("client.example")
    return s


def b64(data):
    return base64.b64encode(data).decode()


@suite.case
def passwd_prints_a_crypt_line(ctx):
    line = passwd(ctx, "dave@example.org", "s3cret")
    user, h, scram = line.strip().split(":", 2)
    check_eq(user, "dave@example.org", "user")
    check(h.startswith("$") and len(h) > 20, "a crypt hash: %r" % h)
    check(scram.startswith("SCRAM-SHA-256$4096:"), "SCRAM keys: %r" % scram)
    r = subprocess.run([ctx.postern_bin, "passwd", "bad:user"],
                       input=b"x\n", capture_output=True)
    check_eq(r.returncode, 2, "a ':' in the name is refused")
    r = subprocess.run([ctx.postern_bin, "passwd", "eve"], input=b"",
                       capture_output=True)
    check_eq(r.returncode, 1, "no password read: %r" % r.stderr)


@suite.case
def swaks_plain_and_login_over_starttls(ctx):
    up, pp = start(ctx)
    before = len(up.messages())
    for mech in ("PLAIN", "LOGIN"):
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % pp.port, "--tls",
             "--auth", mech, "--auth-user", "alice@example.org",
             "--auth-password", "correct horse",
             "--from", "alice@example.org", "--to", "x@example.net",
             "--header", "Subject: auth " + mech, "--body", "hi " + mech],
            capture_output=True, timeout=30)
        out = r.stdout.decode(errors="replace")
        check_eq(r.returncode, 0, "swaks --auth %s:\n%s" % (mech, out))
        check("235 2.7.0" in out, "235 for %s:\n%s" % (mech, out))
    msgs = up.wait_messages(before + 2)
    check(b"with ESMTPSA" in msgs[-1]["content"],
          "Received says ESMTPSA:\n%r" % msgs[-1]["content"][:400])
    log = pp.log()
    check('event=auth result=ok mech=LOGIN user="alice@example.org"' in log,
          "auth logged:\n" + pp.log_tail())
    check('auth="alice@example.org"' in log, "user on the tx line")
    check("correct horse" not in log and b64(b"correct horse") not in log,
          "the password is never logged")


@suite.case
def smtplib_login_over_implicit_tls(ctx):
    up, pp = start(ctx)
    before = len(up.messages())
    s = smtplib.SMTP_SSL("127.0.0.1", S["p465"], timeout=10,
                         context=tls_ctx())
    code, msg = s.ehlo("client.example")
    check(b"AUTH LOGIN" in msg and b"PLAIN" not in msg,
          "only the configured mechanism: %r" % msg)
    s.login("bob", "pw-bob")  # smtplib picks LOGIN
    s.sendmail("bob@example.org", ["x@example.net"], b"Subject: 465\r\n\r\nx\r\n")
    s.quit()
    up.wait_messages(before + 1)


@suite.case
def no_auth_before_tls(ctx):
    up, pp = start(ctx)
    c = pp.client()
    r = c.cmd("EHLO client.example", 250)
    check(b"AUTH" not in r.raw, "AUTH not offered in the clear: %r" % r.raw)
    c.cmd("AUTH PLAIN " + b64(b"\0bob\0pw-bob"), 538, "5.7.11")
    c.cmd("MAIL FROM:<bob@example.org>", 530, "5.7.0",
          text_has="Authentication required")
    c.cmd("QUIT", 221)


@suite.case
def auth_required_before_mail(ctx):
    up, pp = start(ctx)
    s = smtp_tls(pp)
    check(s.has_extn("auth"), "AUTH offered after TLS")
    code, msg = s.docmd("MAIL", "FROM:<bob@example.org>")
    check_eq((code, msg[:5]), (530, b"5.7.0"), "MAIL before AUTH")
    s.quit()


@suite.case
def rfc4954_error_replies(ctx):
    up, pp = start(ctx)
    s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
    code, msg = s.docmd("AUTH", "PLAIN")
    check_eq((code, msg[:5]), (503, b"5.5.1"), "AUTH before EHLO")
    s.quit()
    s = smtp_tls(pp)
    for args, want in [("", (501, b"5.5.4")),
                       ("CRAM-MD5", (504, b"5.5.4")),
                       ("PLAIN !!!!", (501, b"5.5.2")),
                       ("PLAIN " + b64(b"no-nuls"), (501, b"5.5.2"))]:
        code, msg = s.docmd("AUTH", args)
        check_eq((code, msg[:5]), want, "AUTH %s" % args)
    # the empty-challenge form, then a cancel
    code, msg = s.docmd("AUTH", "PLAIN")
    check_eq((code, msg), (334, b""), "empty challenge")
    code, msg = s.docmd("*")
    check_eq((code, msg[:5]), (501, b"5.0.0"), "cancel")
    # LOGIN's challenges; the answer to the second is the password
    code, msg = s.docmd("AUTH", "LOGIN")
    check_eq((code, msg), (334, b"VXNlcm5hbWU6"), "Username:")
    code, msg = s.docmd(b64(b"bob"))
    check_eq((code, msg), (334, b"UGFzc3dvcmQ6"), "Password:")
    code, msg = s.docmd(b64(b"pw-bob"))
    check_eq((code, msg[:5]), (235, b"2.7.0"), "LOGIN")
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0bob\0pw-bob"))
    check_eq((code, msg[:5]), (503, b"5.5.1"), "AUTH twice")
    code, msg = s.docmd("MAIL", "FROM:<bob@example.org> AUTH=<>")
    check_eq(code, 250, "MAIL with AUTH=<> (RFC 4954 5): %r" % msg)
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0bob\0pw-bob"))
    check_eq((code, msg[:5]), (503, b"5.5.1"), "AUTH in a transaction")
    code, msg = s.docmd("MAIL", "FROM:<bob@example.org> AUTH=bad+zz")
    check_eq(code, 503, "nested MAIL still 503: %r" % msg)
    s.docmd("RSET")
    code, msg = s.docmd("MAIL", "FROM:<bob@example.org> AUTH=bad+zz")
    check_eq((code, msg[:5]), (501, b"5.5.4"), "AUTH= not xtext")
    s.quit()


@suite.case
def policy_keeps_users_to_their_domain(ctx):
    up, pp = start(ctx)
    s = smtp_tls(pp)
    code, _ = s.docmd("AUTH", "PLAIN " + b64(b"\0alice@example.org\0correct horse"))
    check_eq(code, 235, "login")
    code, msg = s.docmd("MAIL", "FROM:<boss@other.example>")
    check_eq((code, msg), (553, b"5.7.1 Sender address not owned by "
                                b"alice@example.org"), "someone else's domain")
    code, msg = s.docmd("MAIL", "FROM:<Alice@EXAMPLE.org>")
    check_eq(code, 250, "her own domain, any case: %r" % msg)
    s.docmd("RSET")
    s.quit()


@suite.case
def authzid_for_someone_else_is_refused(ctx):
    up, pp = start(ctx)
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"alice@example.org\0bob\0pw-bob"))
    check_eq((code, msg[:5]), (535, b"5.7.8"), "acting as alice")
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"bob\0bob\0pw-bob"))
    check_eq((code, msg[:5]), (235, b"2.7.0"), "authzid = authcid")
    s.quit()


@suite.case
def policy_auth_stage(ctx):
    up, pp = start(ctx)
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0carol\0pw-carol"))
    check_eq((code, msg), (535, b"5.7.8 Account suspended"), "auth rule")
    code, msg = s.docmd("MAIL", "FROM:<carol@example.org>")
    check_eq(code, 530, "still not authenticated")
    s.quit()
    check('rule="carol-suspended"' in pp.log(), "rule logged:\n" +
          pp.log_tail())


def scram_login(s, user, password):
    """RFC 5802 client side; returns the final (code, text)."""
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"),
                                cnonce)
    code, msg = s.docmd("AUTH", "SCRAM-SHA-256 " +
                        b64(("n,," + first_bare).encode()))
    if code != 334:
        return code, msg
    server_first = base64.b64decode(msg).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    check(attrs["r"].startswith(cnonce), "the nonce extends ours")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                 base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    final_wo = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join([first_bare, server_first, final_wo]).encode()
    sig = hmac.new(stored, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    code, msg = s.docmd(b64((final_wo + ",p=" +
                             base64.b64encode(proof).decode()).encode()))
    if code != 334:
        return code, msg
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    want = b"v=" + base64.b64encode(hmac.new(server_key, auth_msg,
                                             "sha256").digest())
    check_eq(base64.b64decode(msg), want, "the server proves it knows the key")
    return s.docmd("")


@suite.case
def scram_sha_256(ctx):
    up, pp = start(ctx)
    before = len(up.messages())
    s = smtp_tls(pp)
    check("SCRAM-SHA-256" in s.esmtp_features.get("auth", ""), "offered")
    code, msg = scram_login(s, "bob", "wrong")
    check_eq((code, msg[:5]), (535, b"5.7.8"), "wrong password")
    code, msg = scram_login(s, "nobody", "x")
    check_eq((code, msg[:5]), (535, b"5.7.8"), "unknown user: same answer")
    s.quit()
    # last, a success: it also clears this address's failures for the
    # cases that count them
    s = smtp_tls(pp)
    code, msg = scram_login(s, "alice@example.org", "correct horse")
    check_eq((code, msg[:5]), (235, b"2.7.0"), "SCRAM login")
    s.sendmail("alice@example.org", ["x@example.net"], b"Subject: s\r\n\r\nx\r\n")
    s.quit()
    up.wait_messages(before + 1)
    check('event=auth result=ok mech=SCRAM-SHA-256 user="alice@example.org"'
          in pp.log(), "logged:\n" + pp.log_tail())


@suite.case
def wrong_passwords_delay_then_421_then_block(ctx):
    # its own instance: failures of the other cases stay counted (a
    # success does not clear them), and this one counts from zero
    up = Upstream(ctx, name="upstream-block")
    users = ctx.path("users-block")
    with open(users, "w") as f:
        f.write(passwd(ctx, "bob", "pw-bob"))
    pp = Postern(ctx, name="postern-block",
                 config=CONFIG % {"c": test_certs(), "up": up.addr,
                                  "users": users, "p465": free_port()})
    # a fresh client address: the failure table is per address
    times = []
    s = smtp_tls(pp)
    for i, creds in enumerate([b"\0bob\0nope", b"\0nobody\0x"]):
        t0 = time.monotonic()
        code, msg = s.docmd("AUTH", "PLAIN " + b64(creds))
        times.append(time.monotonic() - t0)
        check_eq((code, msg[:5]), (535, b"5.7.8"), "attempt %d" % (i + 1))
    # the delay doubles per recent failure of the address (100, 200 ms)
    check(times[0] >= 0.09 and times[1] >= 0.19,
          "delays grow: %r" % times)
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0bob\0nope"))
    check_eq((code, msg[:5]), (421, b"4.7.0"), "max_failures=3 per session")
    try:
        s.docmd("NOOP")
        raise TestFailure("the session should be closed after 421")
    except smtplib.SMTPServerDisconnected:
        pass
    # two more failures reach block_after=5 for 127.0.0.1 ...
    s = smtp_tls(pp)
    for _ in range(2):
        code, _ = s.docmd("AUTH", "PLAIN " + b64(b"\0bob\0nope"))
        check_eq(code, 535, "failure")
    s.quit()
    # ... and then even the right password is not tried
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0bob\0pw-bob"))
    check_eq((code, msg[:5]), (421, b"4.7.0"), "blocked address")
    log = pp.log()
    check("event=auth result=blocked" in log, "block logged")
    check("nope" not in log, "no password in the log")
    S["blocked"] = True


@suite.case
def client_leaves_during_the_check(ctx):
    """The check runs in a thread; a client that goes away meanwhile
    must not crash or leak anything (the ASan run checks the leak)."""
    up = Upstream(ctx, name="upstream-leave")
    users = ctx.path("users-leave")
    with open(users, "w") as f:
        f.write(passwd(ctx, "bob", "pw-bob"))
    # its own block_after (CONFIG's 5 is what the block case counts to):
    # the five wrong passwords below are counted when their checks end,
    # and with 5 the last login got 421 instead of 235 whenever those
    # checks finished before it came (a pause of ~0.6 s)
    cfg = CONFIG.replace("      required: true\n",
                         "      required: true\n      allow_plaintext: true\n",
                         1)
    check("      block_after: 5\n" in cfg, "CONFIG has block_after: 5")
    cfg = cfg.replace("      block_after: 5\n", "      block_after: 1000\n", 1)
    p465 = free_port()
    pp = Postern(ctx, name="postern-leave",
                 config=cfg % {"c": test_certs(), "up": up.addr, "users": users,
                               "p465": p465})
    for creds in (b"\0bob\0pw-bob", b"\0bob\0wrong"):
        for _ in range(5):
            c = pp.client()
            c.ehlo()
            c.send(("AUTH PLAIN %s\r\n" % b64(creds)).encode())
            c.close()
    c = pp.client()
    c.ehlo()
    c.cmd("AUTH PLAIN " + b64(b"\0bob\0pw-bob"), 235, "2.7.0")
    c.cmd("QUIT", 221)
    pp.check_alive()


RELAY = """
listeners:
  - name: submission
    address: "{listen}"
    tls: starttls
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
    auth:
      mode: relay
      required: true
      failure_delay: 50ms
upstreams:
  - addresses: ["%(up)s"]
    tls: %(tls)s
process:
  workers: 1
"""


def relay_pair(ctx, name, tls="encrypt", opts=()):
    c = test_certs()
    targs = ["--cert", os.path.join(c, "server-rsa.crt"),
             "--key", os.path.join(c, "server-rsa.key")] if tls != "none" else []
    up = AiosmtpdUpstream(ctx, name="aiosmtpd-" + name, tls_args=targs,
                          args=["--auth", "legacy-user:legacy pw"])
    pp = Postern(ctx, name="postern-" + name, opts=list(opts),
                 config=RELAY % {"c": c, "up": up.addr, "tls": tls})
    return up, pp


@suite.case
def relay_mode_plain_and_login(ctx):
    up, pp = relay_pair(ctx, "relay")
    for i, mech in enumerate(("PLAIN", "LOGIN")):
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % pp.port, "--tls",
             "--auth", mech, "--auth-user", "legacy-user",
             "--auth-password", "legacy pw", "--from", "a@example.org",
             "--to", "x@example.net", "--body", "relayed " + mech],
            capture_output=True, timeout=30)
        out = r.stdout.decode(errors="replace")
        check_eq(r.returncode, 0, "swaks %s:\n%s" % (mech, out))
        m = up.wait_messages(i + 1)[-1]
        check_eq(m["auth"], "legacy-user", "%s: the upstream's login" % mech)
    log = pp.log()
    check('event=auth result=ok mech=LOGIN user="legacy-user"' in log,
          "logged with the user:\n" + pp.log_tail())
    check("legacy pw" not in log, "no password in the log")


@suite.case
def relay_mode_wrong_password(ctx):
    up, pp = relay_pair(ctx, "relay-bad")
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0legacy-user\0nope"))
    check_eq((code, msg[:5]), (535, b"5.7.8"), "the upstream said no")
    code, msg = s.docmd("AUTH", "LOGIN")
    check_eq(code, 334, "LOGIN's first challenge, from the upstream")
    code, msg = s.docmd("*")
    check_eq(code // 100, 5, "a cancel is relayed: %r" % msg)
    code, msg = s.docmd("MAIL", "FROM:<a@example.org>")
    check_eq(code, 530, "still not authenticated")
    s.quit()


@suite.case
def relay_mode_login_lost_with_its_upstream_session(ctx):
    """The login lives on the upstream session: when that session goes
    (here: timeouts.upstream_idle), the client is not authenticated any
    more, rather than sending as Postern's own."""
    up, pp = relay_pair(ctx, "relay-lost", opts=["timeouts.upstream_idle=500ms"])
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0legacy-user\0legacy pw"))
    check_eq(code, 235, "relayed login")
    pp.wait(r"event=auth result=lost", timeout=5, what="the loss logged")
    code, msg = s.docmd("MAIL", "FROM:<a@example.org>")
    check_eq((code, msg[:5]), (530, b"5.7.0"), "authentication required again")
    s.quit()
    check_eq(len(up.messages()), 0, "nothing sent unauthenticated")


@suite.case
def relay_mode_needs_tls_upstream(ctx):
    up, pp = relay_pair(ctx, "relay-plain", tls="none")
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0legacy-user\0legacy pw"))
    check_eq((code, msg[:5]), (454, b"4.7.0"), "never in the clear upstream")
    s.quit()
    check("reason=upstream_plaintext" in pp.log(), "logged")


TOKENS = """
listeners:
  - name: oauth
    address: "{listen}"
    tls: starttls
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
    auth:
      mechanisms: [PLAIN, OAUTHBEARER, XOAUTH2]
      users: "%(users)s"
      %(backend)s
      failure_delay: 50ms
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
"""

LONG_TOKEN = "eyJ" + "x" * 1997


def token_pair(ctx, name, backend):
    users = ctx.path("users-" + name)
    with open(users, "w") as f:
        f.write(passwd(ctx, "bob", "pw-bob"))
    up = Upstream(ctx, name="upstream-" + name)
    pp = Postern(ctx, name="postern-" + name,
                 config=TOKENS % {"c": test_certs(), "up": up.addr,
                                  "users": users, "backend": backend})
    return up, pp


def oauthbearer(user, token):
    gs2 = "n,a=%s," % user.replace("=", "=3D").replace(",", "=2C") \
        if user else "n,,"
    return b64(("%s\x01host=mx\x01port=587\x01auth=Bearer %s\x01\x01"
                % (gs2, token)).encode())


def xoauth2(user, token):
    return b64(("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode())


@suite.case
def bearer_tokens_from_a_file(ctx):
    tokens = ctx.path("tokens")
    with open(tokens, "w") as f:
        for user, tok in (("alice@example.org", "tok-alice"),
                          ("carol", LONG_TOKEN)):
            h = hashlib.sha256(tok.encode()).hexdigest()
            f.write("%s:%s\n" % (user, h))
    up, pp = token_pair(ctx, "tokens", 'tokens: "%s"' % tokens)
    s = smtp_tls(pp)
    check("OAUTHBEARER" in s.esmtp_features.get("auth", "") and
          "XOAUTH2" in s.esmtp_features.get("auth", ""), "offered")
    code, msg = s.docmd("AUTH", "OAUTHBEARER " +
                        oauthbearer("alice@example.org", "tok-alice"))
    check_eq((code, msg[:5]), (235, b"2.7.0"), "OAUTHBEARER with a= user")
    s.sendmail("alice@example.org", ["x@example.net"], b"Subject: t\r\n\r\nx\r\n")
    s.quit()
    up.wait_messages(1)
    # XOAUTH2 with a 2,000-octet token: the AUTH line is ~2,700 octets
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "XOAUTH2 " + xoauth2("carol", LONG_TOKEN))
    check_eq((code, msg[:5]), (235, b"2.7.0"), "XOAUTH2, long token")
    s.quit()
    # no authzid: the token names the user
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "OAUTHBEARER " + oauthbearer("", "tok-alice"))
    check_eq(code, 235, "OAUTHBEARER without a=")
    s.quit()
    check('event=auth result=ok mech=OAUTHBEARER user="alice@example.org"'
          in pp.log(), "the token's user is logged:\n" + pp.log_tail())
    check("tok-alice" not in pp.log(), "never the token")
    # a bad token: the RFC 7628 error challenge, then 535 after the ack
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "OAUTHBEARER " +
                        oauthbearer("alice@example.org", "stolen"))
    check_eq(code, 334, "error challenge")
    check(b"invalid_token" in base64.b64decode(msg), "JSON status: %r" % msg)
    code, msg = s.docmd(b64(b"\x01"))
    check_eq((code, msg[:5]), (535, b"5.7.8"), "then 535")
    # a good token for someone else than the claimed user
    code, msg = s.docmd("AUTH", "XOAUTH2 " + xoauth2("bob", "tok-alice"))
    check_eq(code, 334, "token of alice, claimed bob")
    code, msg = s.docmd("")
    check_eq((code, msg[:5]), (535, b"5.7.8"), "refused")
    # a long line is fine for AUTH, not for other commands
    code, msg = s.docmd("NOOP", "x" * 1000)
    check_eq((code, msg[:5]), (500, b"5.5.2"), "a long NOOP")
    s.quit()
    # guessing tokens and cancelling each error challenge still counts:
    # the third failure of a session is 421 (auth.max_failures)
    s = smtp_tls(pp)
    for i in range(2):
        code, msg = s.docmd("AUTH", "XOAUTH2 " + xoauth2("x", "guess%d" % i))
        check_eq(code, 334, "error challenge %d" % i)
        code, msg = s.docmd("*")
        check_eq(code, 501, "cancelled %d" % i)
    code, msg = s.docmd("AUTH", "XOAUTH2 " + xoauth2("x", "guess2"))
    check_eq((code, msg[:5]), (421, b"4.7.0"), "third failure: closed")
    check(pp.log().count("event=auth result=fail mech=XOAUTH2") >= 3,
          "each failure logged:\n" + pp.log_tail())


@suite.case
def bearer_tokens_from_a_command(ctx):
    script = ctx.path("check-token")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nread -r tok\n"
                "case \"$tok\" in\n"
                "  ok-*) echo \"${tok#ok-}\"; exit 0 ;;\n"
                "  down) exit 3 ;;\n"
                "  *) exit 1 ;;\n"
                "esac\n")
    os.chmod(script, 0o755)
    up, pp = token_pair(ctx, "tokcmd", 'token_command: "%s"' % script)
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "XOAUTH2 " + xoauth2("dave", "ok-dave"))
    check_eq((code, msg[:5]), (235, b"2.7.0"), "the command said dave")
    s.quit()
    s = smtp_tls(pp)
    code, msg = s.docmd("AUTH", "OAUTHBEARER " + oauthbearer("", "down"))
    check_eq((code, msg[:5]), (454, b"4.7.0"), "backend down: tempfail")
    s.quit()


GUESSERS = """
listeners:
  - address: "{listen}"
    auth:
      users: "%(users)s"
      allow_plaintext: true
      failure_delay: 10ms
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
policy:
  rules:
    - name: auth-guessers
      stage: connect
      if:
        - auth_failures: ">= 2"
      then: disconnect 421 4.7.0 "Too many failed logins from your address"
"""


@suite.case
def policy_refuses_password_guessers(ctx):
    users = ctx.path("users-guess")
    with open(users, "w") as f:
        f.write(passwd(ctx, "bob", "pw-bob"))
    up = Upstream(ctx, name="upstream-guess")
    pp = Postern(ctx, name="postern-guess",
                 config=GUESSERS % {"users": users, "up": up.addr})
    c = pp.client()
    c.ehlo()
    c.cmd("AUTH PLAIN " + b64(b"\0bob\0guess1"), 535, "5.7.8")
    c.cmd("AUTH PLAIN " + b64(b"\0bob\0guess2"), 535, "5.7.8")
    c.cmd("QUIT", 221)
    c = pp.client(greeting=False)
    r = c.reply()
    check_eq((r.code, r.enh), (421, "4.7.0"), "refused at connect: %r" % r.raw)
    check('rule="auth-guessers"' in pp.log(), "the rule is logged")


if __name__ == "__main__":
    suite.run()
