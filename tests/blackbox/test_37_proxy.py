#!/usr/bin/python3
"""37-proxy: the PROXY protocol on inbound listeners (issue 6).

HAProxy in front of Postern with `send-proxy-v2`: the client's address
(127.0.0.2 here) survives into Postern's logs and, through XCLIENT, into
the upstream. Raw v1 and v2 headers, v2 LOCAL (a health check), a header
followed at once by a TLS ClientHello on an implicit-TLS listener; and the
refusals, each closed without an SMTP greeting: a peer outside
proxy_trusted, a client that speaks SMTP first, a malformed or over-long
header, a header that does not come in time.
"""

import os
import smtplib
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Postern, Suite, TestFailure, Upstream, check,  # noqa: E402
                 check_eq, free_port, is_listening, spawn, stop_process,
                 test_certs)

suite = Suite("test_37_proxy")
S = {}

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


CONFIG = """
listeners:
  - name: mx
    address: "{listen}"
    proxy_protocol: true
    proxy_trusted: ["127.0.0.1", "::1"]
    xclient_trusted: 127.0.0.1
  - name: smtps
    address: "127.0.0.1:%(p465)d"
    tls: implicit
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
    proxy_protocol: true
    proxy_trusted: 127.0.0.0/8
  - name: elsewhere
    address: "127.0.0.1:%(pother)d"
    proxy_protocol: true
    proxy_trusted: [10.0.0.0/8]
upstreams:
  - addresses: ["%(up)s"]
    xclient: true
process:
  workers: 1
"""


def start(ctx):
    if "pp" in S:
        return S["up"], S["pp"]
    up = Upstream(ctx, ["EHLO_KEYWORDS PIPELINING, XCLIENT ADDR PORT HELO "
                        "PROTO DESTADDR DESTPORT",
                        "REPLY UNKNOWN 220 upstream ESMTP"])
    S["p465"], S["pother"] = free_port(), free_port()
    pp = Postern(ctx, config=CONFIG % {"up": up.addr, "c": test_certs(),
                                       "p465": S["p465"],
                                       "pother": S["pother"]})
    S["up"], S["pp"] = up, pp
    return up, pp


def talk(port, data, timeout=30.0):
    """Sends data, returns everything read until postern closes the
    connection. Every caller's data ends the session (QUIT, or something
    postern refuses and closes on), so read to the end of the stream: a
    slow step only takes longer (a pause no longer cuts the transcript
    short). Fails if the connection is still open after `timeout`."""
    deadline = time.monotonic() + timeout
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.sendall(data)
    out = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("connection still open after %.0fs; read "
                                  "%r" % (timeout, out))
            s.settimeout(left)
            try:
                d = s.recv(4096)
            except socket.timeout:
                continue  # the deadline check above reports it
            except ConnectionResetError:
                break  # closed with our bytes unread: the kernel resets
            if not d:
                break
            out += d
    finally:
        s.close()
    return out


def v2(src, sport, dst, dport, cmd=0x21, tlv=b""):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!HH", sport, dport) + tlv
    return V2_SIG + bytes([cmd, 0x11]) + struct.pack("!H", len(body)) + body


def xclients(up):
    return [c for s in up.sessions() for c in s["commands"]
            if c.startswith("XCLIENT")]


@suite.case
def v1_header_names_the_client(ctx):
    up, pp = start(ctx)
    out = talk(pp.port, b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n"
               b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\n"
               b"RCPT TO:<b@example.net>\r\nDATA\r\n"
               b"Subject: v1\r\n\r\nx\r\n.\r\nQUIT\r\n")
    check(out.startswith(b"220 ") and b"221 " in out, "session: %r" % out)
    up.wait_messages(1)
    check("event=proxy version=1 client=192.0.2.7:40000 via=127.0.0.1:"
          in pp.log(), "logged:\n" + pp.log_tail())
    x = xclients(up)[-1]
    check("ADDR=192.0.2.7 PORT=40000" in x, "XCLIENT ADDR: %r" % x)
    check("DESTADDR=198.51.100.1 DESTPORT=25" in x, "DESTADDR: %r" % x)


@suite.case
def xclient_trust_is_the_real_clients(ctx):
    """The proxy (127.0.0.1) is in xclient_trusted, the client it names
    is not: behind the proxy, XCLIENT is neither offered nor accepted."""
    up, pp = start(ctx)
    out = talk(pp.port, b"PROXY TCP4 192.0.2.8 198.51.100.1 40001 25\r\n"
               b"EHLO c.example\r\nXCLIENT ADDR=10.9.9.9\r\nQUIT\r\n")
    check(b"250-XCLIENT" not in out and b"250 XCLIENT" not in out,
          "not offered: %r" % out)
    check(b"550 5.7.0" in out, "refused: %r" % out)
    # LOCAL keeps the proxy as the client, so the proxy may use XCLIENT
    local = V2_SIG + bytes([0x20, 0x00]) + b"\x00\x00"
    out = talk(pp.port, local + b"EHLO c.example\r\nXCLIENT ADDR=10.9.9.9"
               b"\r\nQUIT\r\n")
    check(b"250-XCLIENT" in out and out.count(b"220 ") == 2,
          "the proxy itself may: %r" % out)


@suite.case
def v2_header_and_local_health_check(ctx):
    up, pp = start(ctx)
    out = talk(pp.port, v2("198.51.100.9", 4242, "203.0.113.1", 25,
                           tlv=b"\x04\x00\x02ok") + b"QUIT\r\n")
    check(out.startswith(b"220 ") and b"221 " in out, "v2: %r" % out)
    check("event=proxy version=2 client=198.51.100.9:4242" in pp.log(),
          "logged:\n" + pp.log_tail())
    # LOCAL: a health check by the proxy itself; its own address stays
    local = V2_SIG + bytes([0x20, 0x00]) + b"\x00\x00"
    out = talk(pp.port, local + b"QUIT\r\n")
    check(out.startswith(b"220 "), "LOCAL: %r" % out)
    check("local=yes" in pp.log(), "LOCAL logged")


@suite.case
def refusals_close_without_greeting(ctx):
    up, pp = start(ctx)
    cases = [
        ("SMTP first", pp.port, b"EHLO c.example\r\n"),
        ("malformed v1", pp.port, b"PROXY TCP4 192.0.2.7  198.51.100.1 1 2\r\n"),
        ("v1 too long", pp.port, b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n"),
        ("v2 UDP", pp.port, V2_SIG + b"\x21\x12\x00\x0c" + b"\x00" * 12),
        ("untrusted peer", S["pother"],
         b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n"),
    ]
    for what, port, data in cases:
        out = talk(port, data)
        check_eq(out, b"", "%s: no greeting, closed" % what)
    log = pp.log()
    for reason in ("malformed", "too_long", "untrusted"):
        check("event=proxy_refused reason=%s" % reason in log,
              "reason %s logged:\n%s" % (reason, pp.log_tail()))
    pp.check_alive()


@suite.case
def slow_header_times_out(ctx):
    up, pp = start(ctx)
    # t0 before connecting: postern's 5 s header timer starts at accept,
    # never earlier, so a stall here can only make `took` longer
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", pp.port), 5)
    s.sendall(b"PROXY TCP4 192.0.2.7")
    s.settimeout(12)
    data = s.recv(100)
    took = time.monotonic() - t0
    s.close()
    check_eq(data, b"", "closed without a greeting")
    check(4.0 <= took <= 9.5, "closed after the 5 s header timeout: %.1fs"
          % took)
    check("event=proxy_refused reason=timeout" in pp.log(), "logged")


@suite.case
def header_then_client_hello_in_one_segment(ctx):
    """Implicit TLS behind a proxy: the ClientHello may share the header's
    segment, and must reach the TLS engine, not be dropped."""
    up, pp = start(ctx)
    tctx = ssl.create_default_context(cafile=os.path.join(test_certs(), "ca.crt"))
    tctx.check_hostname = False
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tctx.wrap_bio(inc, outg)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s = socket.create_connection(("127.0.0.1", S["p465"]), 5)
    s.sendall(b"PROXY TCP4 192.0.2.44 198.51.100.1 5555 465\r\n" + outg.read())
    s.settimeout(5)
    greeting = b""
    while b"\r\n" not in greeting:
        data = s.recv(16384)
        if not data:
            raise TestFailure("closed during the handshake:\n" +
                              pp.log_tail())
        inc.write(data)
        try:
            tls.do_handshake()
            greeting += tls.read(1000)
        except ssl.SSLWantReadError:
            pass
        pending = outg.read()
        if pending:
            s.sendall(pending)
    s.close()
    check(greeting.startswith(b"220 "), "greeting over TLS: %r" % greeting)
    check("client=192.0.2.44:5555" in pp.log(), "client from the header")


@suite.case
def haproxy_send_proxy_v2(ctx):
    up, pp = start(ctx)
    hport = free_port()
    cfg = ctx.path("haproxy.cfg")
    with open(cfg, "w") as f:
        f.write("global\n    maxconn 100\n"
                "defaults\n    mode tcp\n    timeout connect 5s\n"
                "    timeout client 30s\n    timeout server 30s\n"
                "listen smtp\n    bind 127.0.0.1:%d\n"
                "    server postern 127.0.0.1:%d send-proxy-v2\n"
                % (hport, pp.port))
    hap = spawn(["haproxy", "-db", "-f", cfg], ctx.path("haproxy.log"))
    try:
        deadline = time.time() + 10
        while not is_listening(hport):
            if hap.poll() is not None or time.time() > deadline:
                raise TestFailure("haproxy did not start:\n" +
                                  open(ctx.path("haproxy.log")).read())
            time.sleep(0.05)
        before = len(up.messages())
        # the client comes from 127.0.0.2: that is what must survive
        s = smtplib.SMTP("127.0.0.1", hport, timeout=10,
                         source_address=("127.0.0.2", 0))
        s.sendmail("a@example.org", ["b@example.net"],
                   b"Subject: via haproxy\r\n\r\nx\r\n")
        s.quit()
        up.wait_messages(before + 1)
    finally:
        stop_process(hap)
    check("event=proxy version=2 client=127.0.0.2:" in pp.log(),
          "the client's address in Postern's log:\n" + pp.log_tail())
    x = xclients(up)[-1]
    check("ADDR=127.0.0.2 " in x, "and at the upstream (XCLIENT): %r" % x)


if __name__ == "__main__":
    suite.run()
