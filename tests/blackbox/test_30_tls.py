#!/usr/bin/python3
"""30-tls: TLS on both legs (issue 3).

Client leg: STARTTLS offered only before TLS and the session reset after
it, implicit TLS (port 465 style), require_tls (530 5.7.0 until TLS),
STARTTLS command injection (bytes pipelined behind STARTTLS are dropped,
never executed), STARTTLS errors, SNI choosing the certificate, real
clients (python smtplib, swaks, openssl s_client).
Upstream leg: may / encrypt / verify against an aiosmtpd upstream with
STARTTLS; an upstream without STARTTLS (what a stripping man in the middle
leaves) never gets a byte of the message in the clear: 451 4.7.5; a
verification failure likewise.
"""

import os
import smtplib
import socket
import ssl
import subprocess
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (AiosmtpdUpstream, Client, Postern, Suite, TestFailure,  # noqa: E402,E501
                 Upstream, check, check_eq, expect, free_port, test_certs)

suite = Suite("test_30_tls")
S = {}


CONFIG = """
listeners:
  - name: mx
    address: "{listen}"
    tls: starttls
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
      - {cert: "%(c)s/server-ec.crt", key: "%(c)s/server-ec.key"}
  - name: smtps
    address: "127.0.0.1:%(p465)d"
    tls: implicit
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
  - name: submission
    address: "127.0.0.1:%(p587)d"
    tls: starttls
    require_tls: true
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
"""


def start(ctx):
    if "pp" in S:
        return S["up"], S["pp"]
    c = test_certs()
    up = Upstream(ctx)
    S["p465"], S["p587"] = free_port(), free_port()
    pp = Postern(ctx, config=CONFIG % {"c": c, "up": up.addr,
                                       "p465": S["p465"], "p587": S["p587"]})
    S["up"], S["pp"] = up, pp
    return up, pp


def client_ctx(name=None):
    ctx = ssl.create_default_context(cafile=os.path.join(test_certs(), "ca.crt"))
    if name is None:
        ctx.check_hostname = False
    return ctx


@suite.case
def starttls_with_smtplib(ctx):
    up, pp = start(ctx)
    s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
    code, msg = s.ehlo("client.example")
    check(b"STARTTLS" in msg.upper(), "STARTTLS offered: %r" % msg)
    s.starttls(context=client_ctx())
    code, msg = s.ehlo("client.example")
    check(b"STARTTLS" not in msg.upper(), "not offered again: %r" % msg)
    s.sendmail("a@example.org", ["b@example.net"],
               b"Subject: over TLS\r\n\r\nhello\r\n")
    s.quit()
    m = up.wait_messages(1)[-1]
    check(b"hello" in m["content"], "delivered")
    check("event=tls_ready" in pp.log(), "logged:\n" + pp.log_tail())


@suite.case
def implicit_tls_with_smtplib(ctx):
    up, pp = start(ctx)
    before = len(up.messages())
    s = smtplib.SMTP_SSL("127.0.0.1", S["p465"], timeout=10,
                         context=client_ctx())
    code, msg = s.ehlo("client.example")
    check(b"STARTTLS" not in msg.upper(), "no STARTTLS on 465: %r" % msg)
    s.sendmail("a@example.org", ["b@example.net"], b"Subject: 465\r\n\r\nx\r\n")
    s.quit()
    up.wait_messages(before + 1)


@suite.case
def starttls_injection_is_discarded(ctx):
    up, pp = start(ctx)
    sock = socket.create_connection(("127.0.0.1", pp.port), 10)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"EHLO client.example\r\n")
    while True:
        line = f.readline()
        if line[3:4] == b" ":
            break
    # one segment: STARTTLS and a command that must never run
    sock.sendall(b"STARTTLS\r\nRSET\r\n")
    line = f.readline()
    check(line.startswith(b"220"), "220 to STARTTLS: %r" % line)
    tls = client_ctx().wrap_socket(sock, server_hostname="mx1.example.test")
    tls.settimeout(1.5)
    try:
        data = tls.recv(1000)
    except socket.timeout:
        data = b""
    check_eq(data, b"", "nothing answers the injected RSET")
    tls.settimeout(5)
    tls.sendall(b"EHLO again.example\r\n")
    r = tls.recv(1000)
    check(r.startswith(b"250"), "EHLO after TLS: %r" % r)
    tls.close()
    check("event=starttls_injection bytes=6" in pp.log(),
          "injection logged:\n" + pp.log_tail())


@suite.case
def starttls_errors(ctx):
    up, pp = start(ctx)
    c = pp.client()
    c.cmd("STARTTLS", 503, "5.5.1")  # before EHLO
    c.ehlo()
    c.cmd("STARTTLS now", 501, "5.5.4")
    c.cmd("NOOP", 250)


@suite.case
def require_tls_listener(ctx):
    up, pp = start(ctx)
    c = Client(ctx, S["p587"])
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org>", 530, "5.7.0")
    c.cmd("NOOP", 250)
    s = smtplib.SMTP("127.0.0.1", S["p587"], timeout=10)
    s.starttls(context=client_ctx())
    s.sendmail("a@example.org", ["b@example.net"], b"Subject: 587\r\n\r\ny\r\n")
    s.quit()


@suite.case
def sni_selects_the_certificate(ctx):
    up, pp = start(ctx)
    for name in ("mx1.example.test", "mx2.example.test"):
        s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
        s.ehlo("client.example")
        code, _ = s.docmd("STARTTLS")
        check_eq(code, 220, "STARTTLS")
        # check_hostname: only the certificate for `name` verifies
        tctx = client_ctx(name)
        s.sock = tctx.wrap_socket(s.sock, server_hostname=name)
        s.file = None
        s.helo_resp = s.ehlo_resp = None
        s.esmtp_features = {}
        s.does_esmtp = False
        s.ehlo("client.example")
        s.quit()


@suite.case
def real_clients_swaks_and_openssl(ctx):
    up, pp = start(ctx)
    before = len(up.messages())
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % pp.port,
                        "--tls", "--to", "b@example.net", "--from",
                        "a@example.org"], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0, "swaks --tls:\n" + p.stdout[-1500:])
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % S["p465"],
                        "--tlsc", "--to", "b@example.net", "--from",
                        "a@example.org"], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0, "swaks --tlsc:\n" + p.stdout[-1500:])
    up.wait_messages(before + 2)
    p = subprocess.run(["openssl", "s_client", "-starttls", "smtp",
                        "-connect", "127.0.0.1:%d" % pp.port, "-tls1_1"],
                       input="QUIT\n", capture_output=True, text=True,
                       timeout=30)
    check(p.returncode != 0 or "Cipher is (NONE)" in p.stdout,
          "TLS 1.1 refused:\n" + p.stdout[-800:])
    p = subprocess.run(["openssl", "s_client", "-starttls", "smtp",
                        "-connect", "127.0.0.1:%d" % pp.port, "-tls1_2"],
                       input="QUIT\n", capture_output=True, text=True,
                       timeout=30)
    check("TLSv1.2" in p.stdout and "ECDHE" in p.stdout,
          "TLS 1.2 with forward secrecy:\n" + p.stdout[-800:])


UPSTREAM = """
listeners:
  - address: "{listen}"
upstreams:
  - addresses: ["%(up)s"]
    tls: %(mode)s
    ca_file: "%(c)s/ca.crt"
    server_name: "%(name)s"
process:
  workers: 1
"""


def relay(ctx, pp):
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org>")
    return c


@suite.case
def upstream_tls_modes(ctx):
    c = test_certs()
    tls_args = ["--cert", os.path.join(c, "upstream-chain.pem"), "--key",
                os.path.join(c, "upstream.key"), "--require-tls"]
    for mode, name, ok in (("may", "upstream.example.test", True),
                           ("encrypt", "whatever.example", True),
                           ("verify", "upstream.example.test", True),
                           ("verify", "wrong.example.test", False)):
        up = AiosmtpdUpstream(ctx, name="aio-" + mode, tls_args=tls_args)
        pp = Postern(ctx, config=UPSTREAM % {"up": up.addr, "mode": mode,
                                             "c": c, "name": name})
        cl = pp.client()
        cl.ehlo()
        if ok:
            expect(cl.send_message(b"Subject: up %s\r\n\r\nz\r\n" % mode.encode()),
                   250, what="tls: %s" % mode)
            m = up.wait_messages(1)[-1]
            check(m["tls"], "%s: the upstream got it over TLS" % mode)
        else:
            cl.cmd("MAIL FROM:<a@example.org>", 451, "4.7.5")
            check_eq(len(up.messages()), 0, "nothing delivered")


@suite.case
def upstream_stripped_starttls_never_plaintext(ctx):
    c = test_certs()
    # an upstream whose EHLO lacks STARTTLS: what a stripping man in the
    # middle leaves; it records every byte it gets
    up = Upstream(ctx, script=["EHLO_KEYWORDS SIZE 1000000, 8BITMIME"])
    pp = Postern(ctx, config=UPSTREAM % {"up": up.addr, "mode": "encrypt",
                                         "c": c, "name": "x.example"})
    cl = pp.client()
    cl.ehlo()
    cl.cmd("MAIL FROM:<secret-sender@example.org>", 451, "4.7.5")
    cl.cmd("QUIT", 221)
    time.sleep(0.3)
    for s in up.sessions():
        for cmd in s["commands"]:
            check(not cmd.upper().startswith("MAIL"),
                  "a MAIL reached the upstream in the clear: %s" % cmd)
    check("event=upstream_unusable" in pp.log(), "logged")


# One STARTTLS listener in front of one upstream, one worker: the start of
# the configs below.
STARTTLS_ONE = """
listeners:
  - address: "{listen}"
    tls: starttls
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
"""

STARTTLS_POLICY = STARTTLS_ONE + """policy:
  rules:
    - name: not-for-mx2
      stage: starttls
      if:
        - sni: mx2.example.test
      then: 'reject 554 5.7.1 "No mail for ${sni} here"'
"""


@suite.case
def starttls_policy_stage(ctx):
    up = Upstream(ctx, name="upstream-stls")
    pp = Postern(ctx, name="postern-stls",
                 config=STARTTLS_POLICY % {"c": test_certs(), "up": up.addr})
    for name, refused in (("mx1.example.test", False),
                          ("mx2.example.test", True)):
        s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
        s.ehlo("client.example")
        code, _ = s.docmd("STARTTLS")
        check_eq(code, 220, "STARTTLS")
        tls = client_ctx().wrap_socket(s.sock, server_hostname=name)
        tls.settimeout(5)
        if refused:
            data = tls.recv(1000)
            check(data.startswith(b"554 5.7.1 No mail for mx2.example.test"),
                  "refused after the handshake: %r" % data)
            check_eq(tls.recv(1000), b"", "then closed")
        else:
            tls.sendall(b"EHLO client.example\r\n")
            check(tls.recv(1000).startswith(b"250"), "served")
        tls.close()
    check('rule="not-for-mx2"' in pp.log(), "logged:\n" + pp.log_tail())


TLS_METRICS = STARTTLS_ONE + """metrics:
  listen: "127.0.0.1:%(m)d"
"""


def metrics_text(port):
    sock = socket.create_connection(("127.0.0.1", port), 5)
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        d = sock.recv(65536)
        if not d:
            break
        data += d
    sock.close()
    return data.decode()


@suite.case
def tls_metrics_by_version_and_reason(ctx):
    up = Upstream(ctx, name="upstream-tlsm")
    mport = free_port()
    pp = Postern(ctx, name="postern-tlsm",
                 config=TLS_METRICS % {"c": test_certs(), "up": up.addr,
                                       "m": mport})
    s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
    s.starttls(context=client_ctx())
    s.quit()
    # a handshake that fails: garbage where the ClientHello should be
    raw = socket.create_connection(("127.0.0.1", pp.port), 5)
    f = raw.makefile("rb")
    f.readline()
    raw.sendall(b"EHLO x\r\n")
    while f.readline()[3:4] != b" ":
        pass
    raw.sendall(b"STARTTLS\r\n")
    f.readline()
    raw.sendall(b"this is not a TLS record at all\r\n" * 4)
    raw.settimeout(5)
    try:
        while raw.recv(1000):
            pass
    except (socket.timeout, ConnectionResetError):
        pass
    raw.close()
    deadline = time.time() + 5
    while True:
        text = metrics_text(mport)
        if 'reason="handshake"} 1' in text or time.time() > deadline:
            break
        time.sleep(0.1)
    check('postern_tls_handshakes_total{leg="client",version="TLSv1.2"} 1'
          in text, "one TLS 1.2 handshake:\n" + text)
    check('postern_tls_failures_total{leg="client",reason="handshake"} 1'
          in text, "one failed handshake:\n" + text)
    check_eq(text.count("# TYPE postern_tls_handshakes_total counter"), 1,
             "one TYPE line per family")


RELOAD_CERTS = """
listeners:
  - address: "{listen}"
    tls: starttls
    certificates:
      - {cert: "%(d)s/cert.pem", key: "%(d)s/key.pem"}
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
"""


def peer_key_type(port):
    """The public key type of the certificate a STARTTLS handshake gets."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.starttls(context=client_ctx())
    der = s.sock.getpeercert(binary_form=True)
    s.quit()
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                          "-text"], input=der, capture_output=True).stdout
    return "EC" if b"id-ecPublicKey" in out else "RSA"


@suite.case
def certificate_swap_on_reload_under_load(ctx):
    """certbot's deploy hook: new files, SIGHUP. Sessions keep flowing
    during the reload, none fails, and new handshakes get the new key."""
    c = test_certs()
    d = ctx.mkdir("swap")
    shutil.copy(os.path.join(c, "server-rsa.crt"), os.path.join(d, "cert.pem"))
    shutil.copy(os.path.join(c, "server-rsa.key"), os.path.join(d, "key.pem"))
    up = Upstream(ctx, name="upstream-swap")
    pp = Postern(ctx, name="postern-swap",
                 config=RELOAD_CERTS % {"d": d, "up": up.addr})
    check_eq(peer_key_type(pp.port), "RSA", "before")
    failures = []
    done = threading.Event()

    def loop():
        i = 0
        while not done.is_set():
            try:
                s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
                s.starttls(context=client_ctx())
                s.sendmail("a@example.org", ["b@example.net"],
                           b"Subject: swap %d\r\n\r\nx\r\n" % i)
                s.quit()
            except Exception as e:  # every failure counts
                failures.append(repr(e))
            i += 1

    t = threading.Thread(target=loop)
    t.start()
    time.sleep(0.5)
    shutil.copy(os.path.join(c, "server-ec.crt"), os.path.join(d, "cert.pem"))
    shutil.copy(os.path.join(c, "server-ec.key"), os.path.join(d, "key.pem"))
    pp.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "event=reload" not in pp.log() or peer_key_type(pp.port) != "EC":
        check(time.time() < deadline, "the new key after HUP:\n" +
              pp.log_tail())
        time.sleep(0.1)
    time.sleep(0.5)
    done.set()
    t.join(30)
    check_eq(failures, [], "no session failed across the reload")
    check(len(up.messages()) >= 3, "mail flowed: %d" % len(up.messages()))


REQUIRETLS = """
listeners:
  - address: "{listen}"
    tls: starttls
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
upstreams:
  - addresses: ["%(up)s"]
    tls: verify
    ca_file: "%(c)s/ca.crt"
    server_name: upstream.example.test
process:
  workers: 1
"""


@suite.case
def requiretls_end_to_end(ctx):
    """RFC 8689 over TLS on both legs to a next hop that offers it: offered
    after STARTTLS, relayed, the message delivered over verified TLS."""
    c = test_certs()
    up = AiosmtpdUpstream(ctx, name="aio-requiretls",
                          tls_args=["--cert", os.path.join(c, "upstream-chain.pem"),
                                    "--key", os.path.join(c, "upstream.key")],
                          args=["--requiretls"])
    pp = Postern(ctx, name="postern-requiretls",
                 config=REQUIRETLS % {"c": c, "up": up.addr})
    pp.wait(r"event=upstream_probe", what="probe")  # learn its EHLO first
    s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
    code, msg = s.ehlo("client.example")
    check(b"REQUIRETLS" not in msg, "not before TLS: %r" % msg)
    s.starttls(context=client_ctx())
    code, msg = s.ehlo("client.example")
    check(b"REQUIRETLS" in msg, "offered over TLS: %r" % msg)
    s.sendmail("a@example.org", ["b@example.net"],
               b"Subject: requiretls\r\n\r\nx\r\n", mail_options=["REQUIRETLS"])
    s.quit()
    m = up.wait_messages(1)[-1]
    check("REQUIRETLS" in m["mail_options"] and m["tls"],
          "relayed with the parameter over TLS: %r" % m)


SMALL_BUF = STARTTLS_ONE + """limits:
  buffer_size: 4K
"""


def tls_session(port):
    """A raw STARTTLS session after EHLO: (ssl socket, reader)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")

    def reply(fp):
        while True:
            line = fp.readline()
            check(line != b"", "connection closed")
            if line[3:4] != b"-":
                return line
    reply(f)
    s.sendall(b"EHLO x\r\n")
    reply(f)
    s.sendall(b"STARTTLS\r\n")
    check(reply(f).startswith(b"220"), "STARTTLS accepted")
    t = client_ctx().wrap_socket(s)
    f = t.makefile("rb")
    t.sendall(b"EHLO x\r\n")
    reply(f)
    return t, f, reply


@suite.case
def plaintext_held_in_the_engine_is_never_stranded(ctx):
    """Bytes already decrypted (or read) wait in the TLS engine while the
    session's input buffer is full; when the session makes room the pump
    must come back for them, since no socket event will. A message bigger
    than the buffer, and 3000 pipelined RCPTs to an upstream that answers
    one at a time: both used to hang until the client timed out."""
    c = test_certs()
    up = Upstream(ctx, name="upstream-smallbuf")
    pp = Postern(ctx, name="postern-smallbuf",
                 config=SMALL_BUF % {"c": c, "up": up.addr})
    t, f, reply = tls_session(pp.port)
    t.sendall(b"MAIL FROM:<a@example.org>\r\n")
    check(reply(f).startswith(b"250"), "MAIL")
    t.sendall(b"RCPT TO:<b@example.net>\r\n")
    check(reply(f).startswith(b"250"), "RCPT")
    t.sendall(b"DATA\r\n")
    check(reply(f).startswith(b"354"), "DATA")
    t.sendall(b"Subject: t\r\n\r\n" + (b"x" * 70 + b"\r\n") * 300 +
              b".\r\n")
    check(reply(f).startswith(b"250"), "a 21 KB message through 4K buffers")
    t.sendall(b"QUIT\r\n")
    reply(f)
    t.close()
    deadline = time.time() + 5
    while "event=disconnect" not in pp.log() and time.time() < deadline:
        time.sleep(0.05)
    line = [x for x in pp.log().splitlines() if "event=disconnect" in x]
    check(line and "tls=TLSv1.2" in line[0], "TLS in the last line: %r" % line)
    out = int(line[0].split("bytes_out=")[1].split()[0])
    check(out > 1000, "ciphertext counted out: %d" % out)
    _, pp2 = start(ctx)
    t, f, reply = tls_session(pp2.port)
    n = 3000
    t.sendall(b"MAIL FROM:<a@example.org>\r\n" +
              b"".join(b"RCPT TO:<r%05d@example.net>\r\n" % i
                       for i in range(n)) + b"RSET\r\n")
    codes = [reply(f)[:3] for _ in range(n + 2)]
    # limits.recipients (1000): the rest get 452, all of them in order
    check_eq((codes.count(b"250"), codes.count(b"452")), (1002, n - 1000),
             "every pipelined reply came")
    check_eq(codes[-1], b"250", "RSET last")
    t.close()



def tls_bio_session(port):
    """A STARTTLS session driven through memory BIOs, so the test decides
    when the close_notify and the TCP FIN go: (socket, SSLObject, pump)
    where pump() sends what the engine wrote and returns the plaintext
    that has arrived so far ("" once the server closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    for line in (b"EHLO x\r\n", b"STARTTLS\r\n"):
        while True:
            r = f.readline()
            if r[3:4] != b"-":
                break
        s.sendall(line)
    while f.readline()[3:4] == b"-":
        pass
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname="mx1.example.test")

    def flush():
        data = out.read()
        if data:
            s.sendall(data)

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            data = s.recv(65536)
            check(data != b"", "closed during the handshake")
            inc.write(data)
    flush()
    return s, obj, inc, flush


def tls_read_all(s, obj, inc, deadline=10.0):
    """Plaintext until the server's close_notify or EOF."""
    got = b""
    end = time.time() + deadline
    s.settimeout(1.0)
    while time.time() < end:
        try:
            data = obj.read(65536)
            if data:
                got += data
                continue
            # b"": nothing decrypted yet (or the close_notify came)
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return got
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if not data:
            inc.write_eof()
            try:
                got += obj.read(65536)
            except (ssl.SSLError, ssl.SSLZeroReturnError):
                pass
            return got
        inc.write(data)
    raise TestFailure("the server neither answered nor closed: %r" % got)


@suite.case
def tls_half_close_is_answered(ctx):
    """Over TLS too a client may stop sending once it has sent all (Exim
    sends its close_notify, then a TCP FIN, right after a pipelined QUIT):
    the message still goes and every reply comes back, encrypted."""
    up, pp = start(ctx)
    before = len(up.messages())
    for how in ("fin", "close_notify"):
        s, obj, inc, flush = tls_bio_session(pp.port)
        body = b"Subject: tls half-close %s\r\n\r\nx\r\n" % how.encode()
        obj.write(b"EHLO x\r\nMAIL FROM:<h@example.org>\r\n"
                  b"RCPT TO:<r@example.net>\r\nBDAT %d LAST\r\n" % len(body)
                  + body + b"QUIT\r\n")
        flush()
        if how == "close_notify":
            try:
                obj.unwrap()
            except ssl.SSLWantReadError:
                pass  # sent; the server's close_notify is not awaited
            flush()
        s.shutdown(socket.SHUT_WR)
        got = tls_read_all(s, obj, inc)
        s.close()
        codes = [l[:3] for l in got.split(b"\r\n")
                 if l[:3].isdigit() and l[3:4] == b" "]
        check_eq(codes, [b"250", b"250", b"250", b"250", b"221"],
                 "%s: the replies (EHLO, MAIL, RCPT, BDAT, QUIT): %r"
                 % (how, got))
    msgs = up.wait_messages(before + 2)
    check_eq([m["content"] for m in msgs[before:]],
             [b"Subject: tls half-close fin\r\n\r\nx\r\n",
              b"Subject: tls half-close close_notify\r\n\r\nx\r\n"],
             "both messages relayed")

if __name__ == "__main__":
    suite.run()
