#!/usr/bin/python3
"""36-identity: the client's identity towards the upstream (issue 6).

XCLIENT (Postfix's XCLIENT_README): sent before MAIL when the upstream
block sets xclient and the upstream offers it, with only the attributes
the upstream listed, xtext-encoded; the upstream's new 220 greeting is
followed by EHLO again; a refusal (550) is logged and mail still flows;
an upstream session that carried XCLIENT is never handed to another
client. XFORWARD likewise, before each MAIL, answered 250. The PROXY
protocol towards the upstream (v1 and v2): the client's header opens each
client's upstream connection, a capability probe sends LOCAL/UNKNOWN, and
such a connection is never handed to another client. AUTH towards the
upstream with fixed credentials (PLAIN and LOGIN, over STARTTLS, against
aiosmtpd): accepted, refused (451 and logged, the password never), and
refused by `postern -t` without TLS.
"""

import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (AiosmtpdUpstream, Client, Postern, Suite,  # noqa: E402
                 Upstream, check, check_eq, free_port, test_certs)

suite = Suite("test_36_identity")

XCLIENT_KW = "XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT"


def commands(up, with_mail=True):
    ss = up.mail_sessions() if with_mail else up.sessions()
    return [c for s in ss for c in s["commands"]]


def send(pp, helo="client.example", n=1):
    s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
    s.command_encoding = "utf-8"  # a HELO with 8-bit octets
    s.ehlo(helo)
    for i in range(n):
        s.sendmail("a@example.org", ["b@example.net"],
                   b"Subject: id %d\r\n\r\nx\r\n" % i)
    s.quit()


@suite.case
def xclient_sent_with_offered_attributes(ctx):
    up = Upstream(ctx, ["EHLO_KEYWORDS PIPELINING, XCLIENT ADDR HELO PROTO "
                        "LOGIN NAME PORT",
                        "REPLY UNKNOWN 220 mx.upstream ESMTP (XCLIENT ok)"])
    pp = Postern(ctx, upstream=up.addr, opts=["upstreams.0.xclient=true",
                                               "process.workers=1"])
    send(pp, helo="h\u00e9llo+x.example")
    up.wait_messages(1)
    cmds = commands(up)
    x = [c for c in cmds if c.startswith("XCLIENT")]
    check_eq(len(x), 1, "one XCLIENT: %r" % cmds)
    line = x[0]
    check("ADDR=127.0.0.1 " in line, "ADDR: %r" % line)
    check(" PORT=" in line and " PROTO=ESMTP" in line, "PORT, PROTO: %r" % line)
    check(" NAME=[UNAVAILABLE]" in line, "no reverse name: %r" % line)
    check(" LOGIN=[UNAVAILABLE]" in line, "not authenticated: %r" % line)
    check("DESTADDR" not in line, "only offered attributes: %r" % line)
    # '+' and the octets of "é" are xtext-encoded (RFC 3461 4)
    check(" HELO=h+C3+A9llo+2Bx.example" in line, "HELO as xtext: %r" % line)
    i = cmds.index(line)
    check(cmds[i + 1].startswith("EHLO") and cmds[i + 2].startswith("MAIL"),
          "EHLO again, then MAIL: %r" % cmds)


@suite.case
def xclient_once_per_identity_and_never_pooled(ctx):
    up = Upstream(ctx, ["EHLO_KEYWORDS PIPELINING, " + XCLIENT_KW,
                        "REPLY UNKNOWN 220 mx.upstream ESMTP"])
    pp = Postern(ctx, upstream=up.addr,
                 opts=["upstreams.0.xclient=true", "upstreams.0.keep_idle=4",
                       "process.workers=1"])
    send(pp, n=3)  # three transactions, one identity: one XCLIENT
    send(pp)       # another client: a new upstream session
    up.wait_messages(4)
    ss = up.mail_sessions()
    check_eq([sum(c.startswith("XCLIENT") for c in s["commands"])
              for s in ss], [1, 1], "XCLIENT per upstream session")
    check_eq([sum(c.startswith("MAIL") for c in s["commands"]) for s in ss],
             [3, 1], "the second client did not reuse the first's session")
    for s in ss:
        c = s["commands"]
        i = [k for k, x in enumerate(c) if x.startswith("XCLIENT")][0]
        check_eq(c[i + 1], "EHLO client.example",
                 "the EHLO after XCLIENT repeats the client's HELO (else the "
                 "upstream takes ours in its place)")


@suite.case
def xclient_refused_mail_still_flows(ctx):
    up = Upstream(ctx, ["EHLO_KEYWORDS " + XCLIENT_KW,
                        "REPLY UNKNOWN 550 5.7.0 Error: insufficient "
                        "authorization"])
    pp = Postern(ctx, upstream=up.addr, opts=["upstreams.0.xclient=true",
                                               "process.workers=1"])
    send(pp)
    up.wait_messages(1)
    check("event=upstream_xclient_refused" in pp.log() and "code=550" in
          pp.log(), "refusal logged:\n" + pp.log_tail())


@suite.case
def xclient_not_offered_or_not_enabled(ctx):
    up = Upstream(ctx, ["EHLO_KEYWORDS PIPELINING",
                        "REPLY UNKNOWN 220 x"])
    pp = Postern(ctx, upstream=up.addr, opts=["upstreams.0.xclient=true",
                                               "process.workers=1"])
    send(pp)
    up.set_script(["EHLO_KEYWORDS " + XCLIENT_KW, "REPLY UNKNOWN 220 x"])
    pp2 = Postern(ctx, name="postern-off", upstream=up.addr,
                  opts=["process.workers=1"])
    send(pp2)
    up.wait_messages(2)
    check(not any(c.startswith("XCLIENT") for c in commands(up)),
          "no XCLIENT: %r" % commands(up))


@suite.case
def xforward_before_each_mail(ctx):
    up = Upstream(ctx, ["EHLO_KEYWORDS PIPELINING, XFORWARD NAME ADDR PROTO "
                        "HELO SOURCE PORT IDENT",
                        "REPLY UNKNOWN 250 Ok"])
    pp = Postern(ctx, upstream=up.addr, opts=["upstreams.0.xforward=true",
                                               "process.workers=1"])
    send(pp, n=2)
    up.wait_messages(2)
    cmds = commands(up)
    xf = [i for i, c in enumerate(cmds) if c.startswith("XFORWARD")]
    check_eq(len(xf), 2, "one XFORWARD per transaction: %r" % cmds)
    for i in xf:
        check(cmds[i + 1].startswith("MAIL"), "then MAIL: %r" % cmds)
        check("ADDR=127.0.0.1" in cmds[i] and "SOURCE=REMOTE" in cmds[i] and
              "HELO=client.example" in cmds[i], "attributes: %r" % cmds[i])
        check("LOGIN" not in cmds[i] and "IDENT" not in cmds[i],
              "only XFORWARD's own attributes: %r" % cmds[i])


@suite.case
def xforward_refused_is_logged(ctx):
    up = Upstream(ctx, ["EHLO_KEYWORDS XFORWARD NAME ADDR",
                        "REPLY UNKNOWN 550 5.7.0 not authorized"])
    pp = Postern(ctx, upstream=up.addr, opts=["upstreams.0.xforward=true",
                                               "process.workers=1"])
    send(pp)
    up.wait_messages(1)
    check("event=upstream_xforward_refused" in pp.log(),
          "logged:\n" + pp.log_tail())


@suite.case
def proxy_protocol_v1_and_v2_to_the_upstream(ctx):
    for version in ("v1", "v2"):
        up = Upstream(ctx, ["PROXY_PROTOCOL", "EHLO_KEYWORDS PIPELINING"],
                      name="upstream-proxy-" + version)
        pp = Postern(ctx, name="postern-proxy-" + version, upstream=up.addr,
                     opts=["upstreams.0.proxy_protocol=" + version,
                           "upstreams.0.keep_idle=4", "process.workers=1"])
        send(pp)
        send(pp)
        up.wait_messages(2)
        ss = up.sessions()
        probes = [s for s in ss if not any(c.startswith("MAIL")
                                            for c in s["commands"])]
        mails = up.mail_sessions()
        check_eq(len(mails), 2, "%s: one upstream connection per client "
                 "(never pooled)" % version)
        check(probes, "%s: the capability probe connected" % version)
        if version == "v1":
            # its own two ends (Postfix 3.7 refuses "PROXY UNKNOWN")
            check(probes[0]["proxy"].startswith("PROXY TCP4 127.0.0.1 "
                                                "127.0.0.1 ") and
                  probes[0]["proxy"].endswith(" %d\r\n" % up.port),
                  "probe header: %r" % probes[0]["proxy"])
            for s in mails:
                check(s["proxy"].startswith("PROXY TCP4 127.0.0.1 127.0.0.1 ")
                      and s["proxy"].endswith(" %d\r\n" % pp.port),
                      "client header: %r" % s["proxy"])
        else:
            sig = "0d0a0d0a000d0a515549540a"
            check_eq(probes[0]["proxy"], sig + "20000000", "probe: LOCAL")
            for s in mails:
                h = s["proxy"]
                check(h.startswith(sig + "2111000c" + "7f000001" + "7f000001")
                      and h.endswith("%04x" % pp.port),
                      "client header: %r" % h)


@suite.case
def trace_header_for_upstreams_without_xclient(ctx):
    up = Upstream(ctx, name="upstream-trace")
    pp = Postern(ctx, name="postern-trace", upstream=up.addr,
                 opts=["upstreams.0.trace_header=X-Postern-Client",
                       "smtp.received_header=on", "process.workers=1"])
    send(pp, helo="client.example")
    m = up.wait_messages(1)[0]
    lines = m["content"].split(b"\r\n")
    check(lines[0].startswith(b"Received: from client.example"),
          "Received first: %r" % lines[:6])
    i = [k for k, l in enumerate(lines) if l.startswith(b"X-Postern-Client:")]
    check(len(i) == 1, "one trace header: %r" % lines[:8])
    field = lines[i[0]] + lines[i[0] + 1]
    check(field.startswith(b"X-Postern-Client: addr=127.0.0.1; port=") and
          b"helo=client.example;\ttls=none; cipher=none; auth=none" in field,
          "trace field: %r" % field)
    check(b"Subject: id 0" in m["content"], "the message follows")


def auth_upstream(ctx, name):
    c = test_certs()
    return AiosmtpdUpstream(ctx, name=name,
                            tls_args=["--cert", os.path.join(c, "server-rsa.crt"),
                                      "--key", os.path.join(c, "server-rsa.key")],
                            args=["--auth", "relay@example.org:s3cret pw"])


def auth_opts(ctx, mech, password="s3cret pw"):
    pwfile = ctx.path("upstream-password-%s" % mech)
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    return ["upstreams.0.tls=encrypt", "upstreams.0.auth.user=relay@example.org",
            "upstreams.0.auth.password_file=" + pwfile,
            "upstreams.0.auth.mechanism=" + mech, "process.workers=1",
            "log.level=trace"]


@suite.case
def upstream_auth_plain_and_login(ctx):
    for mech in ("PLAIN", "LOGIN"):
        up = auth_upstream(ctx, "aiosmtpd-auth-" + mech)
        pp = Postern(ctx, name="postern-auth-" + mech, upstream=up.addr,
                     opts=auth_opts(ctx, mech))
        send(pp)
        m = up.wait_messages(1)[0]
        check_eq(m["auth"], "relay@example.org", "%s: logged in" % mech)
        check(m["tls"], "%s: over TLS" % mech)
        log = pp.log()
        check("s3cret" not in log and "czNjcmV0" not in log,
              "%s: the password is not in the trace log" % mech)
        check("AUTH credentials, not logged" in log, "redacted trace line")


@suite.case
def upstream_auth_refused(ctx):
    up = auth_upstream(ctx, "aiosmtpd-auth-bad")
    pp = Postern(ctx, name="postern-auth-bad", upstream=up.addr,
                 opts=auth_opts(ctx, "PLAIN", password="wrong"))
    s = smtplib.SMTP("127.0.0.1", pp.port, timeout=10)
    s.ehlo("client.example")
    try:
        s.sendmail("a@example.org", ["b@example.net"], b"Subject: x\r\n\r\nx\r\n")
        raise AssertionError("the message should be refused")
    except smtplib.SMTPSenderRefused as e:
        check_eq(e.smtp_code // 100, 4, "a temporary failure: %r" % (e,))
    s.quit()
    check('error="AUTH refused (535)"' in pp.log(), "logged:\n" + pp.log_tail())
    check_eq(len(up.messages()), 0, "nothing delivered")


@suite.case
def upstream_auth_needs_tls(ctx):
    pwfile = ctx.path("pw")
    with open(pwfile, "w") as f:
        f.write("x\n")
    r = subprocess.run([ctx.postern_bin, "--listen", "127.0.0.1:2525",
                        "--upstream", "127.0.0.1:2526", "-t",
                        "-o", "upstreams.0.auth.user=u",
                        "-o", "upstreams.0.auth.password_file=" + pwfile],
                       capture_output=True)
    out = r.stdout.decode() + r.stderr.decode()
    check(r.returncode != 0 and "upstreams.0.auth: needs tls: encrypt or "
          "verify" in out, "refused without TLS: %r" % out)


XCLIENT_IN = """
listeners:
  - name: behind-filter
    address: "{listen}"
    xclient_trusted: [127.0.0.0/8]
  - name: public
    address: "127.0.0.1:%(pub)d"
    xclient_trusted: 10.0.0.0/8
upstreams:
  - addresses: ["%(up)s"]
    xclient: true
process:
  workers: 1
policy:
  rules:
    - name: no-test-net-3
      stage: connect
      if:
        - client_address: 203.0.113.0/24
      then: 'reject 554 5.7.1 "Not from ${client_address}"'
"""


@suite.case
def xclient_from_a_trusted_client(ctx):
    up = Upstream(ctx, ["EHLO_KEYWORDS PIPELINING, " + XCLIENT_KW,
                        "REPLY UNKNOWN 220 mx.upstream ESMTP"],
                  name="upstream-xcin")
    pub = free_port()
    pp = Postern(ctx, name="postern-xcin",
                 config=XCLIENT_IN % {"up": up.addr, "pub": pub})
    c = pp.client()
    r = c.cmd("EHLO filter.example", 250)
    check(b"XCLIENT NAME ADDR PORT" in r.raw, "offered when trusted: %r"
          % r.raw)
    c.cmd("XCLIENT ADDR=192.0.2.9 PORT=4242 HELO=real+2Dclient.example "
          "LOGIN=alice PROTO=ESMTP DESTADDR=198.51.100.25 DESTPORT=587", 220)
    c.cmd("MAIL FROM:<a@example.org>", 503, "5.5.1")  # EHLO again first
    c.cmd("EHLO real-client.example", 250)
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("XCLIENT ADDR=192.0.2.10", 503, "5.5.1")  # not in a transaction
    c.cmd("RCPT TO:<b@example.net>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: via filter\r\n\r\nx\r\n.\r\n")
    expect_ok = c.reply()
    check_eq(expect_ok.code, 250, "delivered: %r" % expect_ok.raw)
    c.cmd("XCLIENT ADDR=bogus", 501, "5.5.4")
    c.cmd("XCLIENT COLOUR=blue", 501, "5.5.4")
    # the connect stage runs again with the new address
    c.cmd("XCLIENT ADDR=203.0.113.5", 554, "5.7.1")
    c.close()
    up.wait_messages(1)
    x = [cmd for s in up.mail_sessions() for cmd in s["commands"]
         if cmd.startswith("XCLIENT")]
    check(x and "ADDR=192.0.2.9 PORT=4242" in x[0] and "LOGIN=alice" in x[0]
          and "HELO=real-client.example" in x[0]
          and "DESTADDR=198.51.100.25 DESTPORT=587" in x[0],
          "the identity reaches the upstream: %r" % x)
    check("event=xclient client=192.0.2.9:4242 helo=real-client.example "
          "login=yes" in pp.log(), "logged:\n" + pp.log_tail())
    # an untrusted client: not offered, refused
    c = Client(ctx, pub)
    r = c.cmd("EHLO somebody.example", 250)
    check(b"XCLIENT" not in r.raw, "not offered: %r" % r.raw)
    c.cmd("XCLIENT ADDR=192.0.2.9", 550, "5.7.0")
    c.cmd("QUIT", 221)


if __name__ == "__main__":
    suite.run()
