#!/usr/bin/python3
"""40-policy: rules at the connect, helo, mail, rcpt and eom stages, run
by the real binary (issue 5).

The sample policy of docs/policy.md in miniature: HELO localhost or a bare
IP refused, TLS required on one listener, a sender domain routed to a
second upstream, a size cap for one sender domain, a CIDR table, an
end-of-data rule; match errors fail closed (451 4.3.0); every refusal is
logged with its rule; `postern -t` reports policy errors with positions.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Postern, Suite, Upstream, check, check_eq, expect,  # noqa: E402
                 free_port)

suite = Suite("test_40_policy")
S = {}

POLICY = """
listeners:
  - name: mx
    address: "{listen}"
  - name: submission
    address: "127.0.0.1:%(sub)d"
upstreams:
  - name: main
    addresses: ["%(main)s"]
  - name: legacy
    addresses: ["%(legacy)s"]
process:
  workers: 1
policy:
  rules:
    - name: blocklist
      stage: connect
      if:
        - client_address: {table: "cidr:%(table)s"}
    - name: submission-needs-tls
      stage: connect
      if:
        - listener: submission
      then: require_tls
    - name: no-localhost-helo
      stage: helo
      if:
        - helo: [localhost, localhost.localdomain]
      then: 'reject 550 5.7.1 "HELO ${helo} refused: use your own name"'
    - name: no-bare-ip-helo
      stage: helo
      if:
        - helo: {regex: '^\\[?[0-9.]+\\]?$'}
      then: 'reject 550 5.7.1 "HELO with a bare IP address refused"'
    - name: legacy-senders
      stage: mail
      if:
        - sender: {domain: legacy.example}
      then: upstream legacy
    - name: small-sender-cap
      stage: mail
      if:
        - sender: {domain: small.example}
      then: set_limit message_size 100K
    - name: catastrophic
      stage: mail
      if:
        - sender: {regex: '^(a+)+$'}
      then: 'reject 550 5.7.1 "never"'
    - name: no-spamtrap
      stage: rcpt
      if:
        - rcpt: {eq: trap@example.net}
      then: 'reject 550 5.1.1 "No such user"'
    - name: spam-subject
      stage: header
      if:
        - header_name: subject
        - header_value: {regex: 'v[i1]agra', flags: i}
      then: 'reject 550 5.7.1 "Message content rejected"'
    - name: too-big-8bit
      stage: eom
      if:
        - saw_8bit: true
      then: 'reject 554 5.6.0 "No 8-bit content here"'
"""


def start(ctx):
    if "pp" in S:
        return S["main"], S["legacy"], S["pp"]
    main = Upstream(ctx, name="main")
    legacy = Upstream(ctx, name="legacy")
    table = ctx.path("block.cidr")
    with open(table, "w") as f:
        f.write("# blocked networks\n192.0.2.0/24 REJECT 554 5.7.1 Blocked\n"
                "\n127.0.0.2/32 REJECT 554 5.7.1 You are blocked\n")
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    sub = s.getsockname()[1]
    s.close()
    cfg = POLICY % {"main": main.addr, "legacy": legacy.addr, "sub": sub,
                    "table": table}
    pp = Postern(ctx, config=cfg)
    S.update(main=main, legacy=legacy, pp=pp, sub=sub)
    return main, legacy, pp


@suite.case
def helo_rules(ctx):
    main, legacy, pp = start(ctx)
    c = pp.client()
    c.cmd("EHLO localhost", 550, "5.7.1", text_has="HELO localhost refused")
    c.cmd("EHLO [192.0.2.7]", 550, "5.7.1", text_has="bare IP")
    c.cmd("MAIL FROM:<a@example.org>", 503, "5.5.1")  # still not greeted
    c.cmd("EHLO client.example", 250)
    c.cmd("MAIL FROM:<a@example.org>", 250)
    log = pp.log()
    check('rule="no-localhost-helo"' in log and "verdict=reject" in log,
          "refusal logged with its rule:\n" + pp.log_tail())


@suite.case
def connect_table_and_require_tls(ctx):
    main, legacy, pp = start(ctx)
    import socket
    # 127.0.0.2 is in the CIDR table: refused at connect
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", pp.port))
    s.settimeout(5)
    data = s.recv(200)
    s.close()
    check(data.startswith(b"554 5.7.1 You are blocked"), "greeting %r" % data)
    # the submission listener requires TLS (not offered yet): MAIL is 530
    from lib import Client
    c = Client(ctx, S["sub"])
    c.cmd("EHLO client.example", 250)
    c.cmd("MAIL FROM:<a@example.org>", 530, "5.7.0")
    c.cmd("NOOP", 250)


@suite.case
def mail_routes_and_caps(ctx):
    main, legacy, pp = start(ctx)
    c = pp.client()
    c.ehlo()
    expect(c.send_message(b"Subject: old\r\n\r\nx\r\n",
                          mail="<u@legacy.example>"), 250)
    msgs = legacy.wait_messages(1)
    check_eq(msgs[-1]["mail_from"], "u@legacy.example", "routed to legacy")
    expect(c.send_message(b"Subject: new\r\n\r\nx\r\n",
                          mail="<u@main.example>"), 250)
    check(any(m["mail_from"] == "u@main.example"
              for m in main.wait_messages(1)), "the next one to main")
    c.cmd("MAIL FROM:<u@small.example> SIZE=200000", 552, "5.3.4")
    c.cmd("MAIL FROM:<u@small.example> SIZE=2000", 250)
    c.cmd("RSET", 250)


@suite.case
def rcpt_rule_and_match_limit(ctx):
    main, legacy, pp = start(ctx)
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<trap@example.net>", 550, "5.1.1")
    c.cmd("RCPT TO:<real@example.net>", 250)
    c.cmd("RSET", 250)
    # a catastrophic regex on a long input hits the match limit: 451, fast
    t0 = time.time()
    c.cmd("MAIL FROM:<" + "a" * 60 + "!@example.org>", 451, "4.3.0")
    check(time.time() - t0 < 2, "answered within the limit")
    check("verdict=error" in pp.log(), "match error logged")


@suite.case
def eom_rule_aborts_upstream(ctx):
    main, legacy, pp = start(ctx)
    before = len(main.messages())
    c = pp.client()
    c.ehlo()
    r = c.send_message(b"Subject: 8bit\r\n\r\ncaf\xc3\xa9\r\n")
    expect(r, 554, "5.6.0")
    expect(c.send_message(b"Subject: ascii\r\n\r\nplain\r\n"), 250)
    msgs = main.wait_messages(before + 1)
    check_eq(len(msgs), before + 1, "only the 7-bit message delivered")


@suite.case
def header_rule_refuses_before_delivery(ctx):
    main, legacy, pp = start(ctx)
    before = len(main.messages())
    c = pp.client()
    c.ehlo()
    expect(c.send_message(b"From: x@example.org\r\nSubject: cheap VIAGRA\r\n"
                          b"\r\n" + b"body\r\n" * 5000), 550, "5.7.1")
    # unfolded before matching: a folded Subject is caught too
    expect(c.send_message(b"Subject: hello\r\n v1agra\r\n\r\nx\r\n"),
           550, "5.7.1")
    # BDAT as well
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<b@example.net>", 250)
    msg = b"Subject: Viagra\r\n\r\nx\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
    expect(c.reply(), 550, "5.7.1")
    # the session goes on, and a clean message passes
    expect(c.send_message(b"Subject: fine\r\n\r\nx\r\n"), 250)
    msgs = main.wait_messages(before + 1)
    check_eq(len(msgs), before + 1, "only the clean message delivered")
    check('rule="spam-subject"' in pp.log(), "rule logged")


def own_policy_postern(ctx, name, main_script, legacy_script):
    """POLICY in a Postern of its own, in front of two new upstreams with
    these scripts: (main, legacy, pp)."""
    main = Upstream(ctx, name="main-" + name, script=main_script)
    legacy = Upstream(ctx, name="legacy-" + name, script=legacy_script)
    table = ctx.path(name + ".cidr")
    with open(table, "w") as f:
        f.write("192.0.2.0/24 REJECT 554 5.7.1 Blocked\n")
    cfg = POLICY % {"main": main.addr, "legacy": legacy.addr,
                    "sub": free_port(), "table": table}
    return main, legacy, Postern(ctx, config=cfg, name="postern-" + name)


@suite.case
def end_of_data_rules_before_bdat_last(ctx):
    """Towards a CHUNKING upstream the client's BDAT is relayed as BDAT,
    and the last piece carries LAST: only after the header rules (also on
    a last field the message ends in) and the eom rules have passed; a
    refused message never gets its LAST upstream."""
    main, legacy, pp = own_policy_postern(
        ctx, "chunking", ["EHLO_KEYWORDS PIPELINING, SIZE 52428800, "
                          "8BITMIME, CHUNKING"], [])
    pp.wait(r"event=upstream_probe ", what="capability probe")
    c = pp.client()
    c.ehlo()
    cases = (
        # ends inside its header section: the field is judged at the end
        (b"From: x@example.org\r\nSubject: Viagra", 550, "5.7.1"),
        # 8-bit content, refused by the eom rule
        (b"Subject: 8bit\r\n\r\ncaf\xc3\xa9\r\n", 554, "5.6.0"),
        (b"Subject: fine\r\n\r\nplain\r\n", 250, None))
    for msg, code, enh in cases:
        c.cmd("MAIL FROM:<a@example.org>", 250)
        c.cmd("RCPT TO:<b@example.net>", 250)
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        expect(c.reply(), code, enh, what="BDAT LAST of %r" % msg)
    c.cmd("QUIT", 221)
    msgs = main.wait_messages(1)
    time.sleep(0.3)
    msgs = main.messages()
    check_eq([m["content"] for m in msgs],
             [b"Subject: fine\r\n\r\nplain\r\n"], "delivered upstream")
    cmds = [x for sess in main.sessions() for x in sess["commands"]]
    lasts = [x for x in cmds if x.endswith(" LAST")]
    check_eq(lasts, ["BDAT %d LAST" % len(cases[2][0])],
             "the only LAST upstream: the clean message in one piece")


@suite.case
def config_errors_with_positions(ctx):
    bad = ctx.path("bad.yaml")
    with open(bad, "w") as f:
        f.write("listeners:\n  - address: 127.0.0.1:1\n"
                "upstreams:\n  - addresses: [127.0.0.1:2]\n"
                "policy:\n  rules:\n"
                "    - stage: helo\n      if:\n"
                "        - helo: {regex: '(open'}\n"
                "      then: reject 550 5.7.1 \"x\"\n"
                "    - stage: mail\n      then: upstream nowhere\n"
                "    - stage: teatime\n      then: accept\n")
    p = subprocess.run([ctx.postern_bin, "-t", "-c", bad],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode != 0, "postern -t fails")
    err = p.stderr
    check(bad + ":9:" in err and "regex" in err, "regex error: " + err)
    check(bad + ":12:" in err and "nowhere" in err, "upstream error: " + err)
    check(bad + ":13:" in err and "teatime" in err, "stage error: " + err)


TLS_POLICY = """
listeners:
  - address: "{listen}"
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
policy:
  rules:
    - name: secure-senders
      stage: mail
      if:
        - sender: {domain: secure.example}
      then: tls_policy encrypt
"""


@suite.case
def tls_policy_is_never_downgraded(ctx):
    """tls_policy encrypt for one sender domain: over a plaintext upstream
    leg that transaction tempfails, nothing of it is sent; others go."""
    up = Upstream(ctx, name="upstream-tlspol")
    pp = Postern(ctx, name="postern-tlspol",
                 config=TLS_POLICY % {"up": up.addr})
    c = pp.client()
    c.ehlo()
    r = c.cmd("MAIL FROM:<a@secure.example>")
    expect(r, 451, "4.7.5")
    r = c.send_message(b"Subject: plain ok\r\n\r\nx\r\n",
                       mail="<b@other.example>")
    expect(r, 250)
    c.cmd("QUIT", 221)
    up.wait_messages(1)
    mails = [cmd for s in up.sessions() for cmd in s["commands"]
             if cmd.startswith("MAIL")]
    check_eq(mails, ["MAIL FROM:<b@other.example>"], "only the other one")
    check("event=upstream_tls_policy required=encrypt" in pp.log(),
          "logged:\n" + pp.log_tail())


SHARED_COUNTERS = """
listeners:
  - address: "{listen}"
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 2
policy:
  rules:
    - name: too-many-connections
      stage: connect
      if:
        - client_address: {connections: "> 3"}
      then: 'disconnect 421 4.7.0 "Too many connections from ${client_address}"'
    - name: per-client-rate
      stage: mail
      if:
        - client_address: {rate: 4/1h}
      then: 'tempfail 450 4.7.1 "Slow down"'
"""


@suite.case
def counters_are_shared_by_workers(ctx):
    """Two workers: rate() and connections() count the client across both
    (issue 5), not per worker. Connections with one MAIL each until both
    workers have served some (at least ten): exactly four pass the 4/1h
    bucket, whichever worker took them. Three held connections make the
    fourth one refused at connect."""
    up = Upstream(ctx, name="upstream-shared")
    pp = Postern(ctx, name="postern-shared",
                 config=SHARED_COUNTERS % {"up": up.addr})
    # Postern.start() returns once one worker listens: wait for both.
    deadline = time.time() + 20
    while pp.log().count("event=worker_started") < 2:
        check(time.time() < deadline, "two workers started:\n" +
              pp.log_tail())
        time.sleep(0.05)

    def worker_of(port):
        """The worker (the sid's part before the dash) that logged the
        connect of our client port (the last one: ports are reused)."""
        mark = "event=connect client=127.0.0.1:%d " % port
        lines = [l for l in pp.log().splitlines()
                 if mark in l and "sid=" in l]
        check(lines, "no connect line for client port %d:\n%s"
              % (port, pp.log_tail()))
        return lines[-1].split("sid=")[1].split("-")[0]

    # The kernel's SO_REUSEPORT hash picks the worker: go on until both
    # have served a MAIL (bounded: all on one worker after many is a bug).
    codes = []
    served = {}
    deadline = time.time() + 60
    while len(codes) < 10 or len(served) < 2:
        check(len(codes) < 200 and time.time() < deadline,
              "both workers took connections within %d: %r"
              % (len(codes), served))
        c = pp.client()
        port = c.sock.getsockname()[1]
        c.ehlo()
        codes.append(c.cmd("MAIL FROM:<a@example.org>").code)
        w = worker_of(port)
        served[w] = served.get(w, 0) + 1
        c.cmd("QUIT", 221)
        c.expect_closed()
        c.close()
    n = len(codes)
    check_eq(sorted(codes), [250] * 4 + [450] * (n - 4),
             "one bucket for all (%d connections, per worker %r)"
             % (n, served))
    check_eq(sorted(served), ["0", "1"], "the workers that served")
    ctx.note("%d connections, per worker %r" % (n, served))
    # every session has ended (the connection count is released when it
    # closes) before the three held ones are counted
    deadline = time.time() + 10
    while pp.log().count("event=disconnect ") < n:
        check(time.time() < deadline, "%d sessions ended:\n%s"
              % (n, pp.log_tail()))
        time.sleep(0.02)
    held = []
    for _ in range(3):
        c = pp.client()
        c.ehlo()
        held.append(c)
    time.sleep(0.2)
    fourth = pp.client(greeting=False)
    expect(fourth.reply(), 421, "4.7.0")
    for c in held:
        c.cmd("QUIT", 221)
        c.close()
    check("rule=\"too-many-connections\"" in pp.log(),
          "refusal logged with the rule:\n" + pp.log_tail())
    # the held ones have gone: a new connection is greeted again
    deadline = time.time() + 5
    while True:
        c = pp.client(greeting=False)
        r = c.reply()
        c.close()
        if r.code == 220 or time.time() > deadline:
            break
        time.sleep(0.1)
    expect(r, 220)


ROUTING = """
listeners:
  - address: "{listen}"
upstreams:
  - name: main
    addresses: ["%(main)s"]
  - name: legacy
    addresses: ["%(legacy)s"]
  - name: picky
    addresses: ["%(picky)s"]
  - name: down
    addresses: ["127.0.0.1:%(down)d"]
process:
  workers: 1
policy:
  rules:
    - name: legacy-domain
      stage: rcpt
      if:
        - rcpt: {domain: legacy.example}
      then: upstream legacy
    - name: picky-domain
      stage: rcpt
      if:
        - rcpt: {domain: picky.example}
      then: upstream picky
    - name: down-domain
      stage: rcpt
      if:
        - rcpt: {domain: down.example}
      then: upstream down
    - name: secret-domain
      stage: rcpt
      if:
        - rcpt: {domain: secret.example}
      then: tls_policy encrypt
    - name: secret-legacy
      stage: rcpt
      if:
        - rcpt: {domain: secret.legacy.example}
      then: [upstream legacy, tls_policy encrypt]
"""


def start_routing(ctx):
    if "routing" in S:
        return S["routing"]
    main = Upstream(ctx, name="r-main")
    legacy = Upstream(ctx, name="r-legacy")
    picky = Upstream(ctx, name="r-picky",
                     script=["REPLY MAIL 550 5.7.1 Sender not welcome here"])
    cfg = ROUTING % {"main": main.addr, "legacy": legacy.addr,
                     "picky": picky.addr, "down": free_port()}
    pp = Postern(ctx, name="postern-routing", config=cfg)
    S["routing"] = (main, legacy, picky, pp)
    return S["routing"]


def send_data(c, body):
    c.cmd("DATA", 354)
    c.send(body + b".\r\n")
    return c.reply()


def rcpt_cmds(up):
    return [c for s in up.sessions() for c in s["commands"]
            if c.startswith("RCPT")]


@suite.case
def rcpt_routes_the_transaction(ctx):
    """The first recipient's rule moves the transaction to another
    upstream (its MAIL is sent there again); a recipient for another route
    after that gets 452 4.5.3, pipelined or not (issue 5)."""
    main, legacy, picky, pp = start_routing(ctx)
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<x@legacy.example>", 250)
    c.cmd("RCPT TO:<y@legacy.example>", 250)
    c.cmd("RCPT TO:<z@example.net>", 452, "4.5.3")
    expect(send_data(c, b"Subject: routed\r\n\r\nx\r\n"), 250)
    msgs = legacy.wait_messages(1)
    check_eq(msgs[-1]["mail_from"], "a@example.org", "sender on legacy")
    check_eq(msgs[-1]["rcpts"], ["x@legacy.example", "y@legacy.example"],
             "recipients on legacy")
    check_eq(rcpt_cmds(main), [], "no recipient went to main")
    # pipelined: the reroute holds the group in order
    c.send("MAIL FROM:<b@example.org>\r\nRCPT TO:<p@example.net>\r\n"
           "RCPT TO:<q@legacy.example>\r\nRCPT TO:<r@example.net>\r\n"
           "DATA\r\n")
    codes = [r.code for r in c.replies(5)]
    check_eq(codes, [250, 250, 452, 250, 354], "pipelined group")
    c.send(b"Subject: main\r\n\r\ny\r\n.\r\n")
    expect(c.reply(), 250)
    msgs = main.wait_messages(1)
    check_eq(msgs[-1]["rcpts"], ["p@example.net", "r@example.net"],
             "the second transaction stayed on main")
    c.cmd("QUIT", 221)
    check("event=reroute rcpt=<x@legacy.example> upstream=legacy"
          in pp.log(), "reroute logged:\n" + pp.log_tail())


@suite.case
def rcpt_route_refused_or_down(ctx):
    """The new route refuses the sender, or is down: that recipient gets
    the refusal (or 451 4.4.1) and the transaction goes on, so the next
    recipient still finds its own route."""
    main, legacy, picky, pp = start_routing(ctx)
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<x@picky.example>", 550, "5.7.1")
    c.cmd("RCPT TO:<y@down.example>", 451, "4.4.1")
    c.cmd("RCPT TO:<z@example.net>", 250)
    expect(send_data(c, b"Subject: after\r\n\r\nz\r\n"), 250)
    msgs = main.wait_messages(1)
    check(any(m["rcpts"] == ["z@example.net"] and
              m["mail_from"] == "a@example.org" for m in msgs),
          "delivered to main: %r" % [m["rcpts"] for m in msgs])
    check_eq(rcpt_cmds(picky), [], "nothing past MAIL on picky")
    # TLS demanded for a recipient, on the route or on a new one: the
    # plaintext upstreams never see it
    c.cmd("MAIL FROM:<b@example.org>", 250)
    c.cmd("RCPT TO:<s@secret.example>", 451, "4.7.5")
    c.cmd("RCPT TO:<s@secret.legacy.example>", 451, "4.7.5")
    c.cmd("RCPT TO:<z@example.net>", 250)
    c.cmd("RSET", 250)
    check(not any("secret" in r for r in rcpt_cmds(main) + rcpt_cmds(legacy)),
          "no secret recipient in the clear")
    # a few routes per transaction, then the client sends the rest again
    # (each route costs an upstream session)
    c.cmd("MAIL FROM:<c@example.org>", 250)
    for _ in range(3):
        c.cmd("RCPT TO:<x@picky.example>", 550, "5.7.1")
    c.cmd("RCPT TO:<x@picky.example>", 452, "4.5.3")
    c.cmd("RCPT TO:<z@example.net>", 452, "4.5.3")
    tried = [m for x in picky.sessions() for m in x["commands"]
             if m == "MAIL FROM:<c@example.org>"]
    check_eq(len(tried), 3, "three routes tried")
    # every recipient refused: DATA is refused (503 or 554, RFC 5321 3.3)
    c.cmd("RSET", 250)
    c.cmd("MAIL FROM:<b@example.org>", 250)
    c.cmd("RCPT TO:<x@picky.example>", 550, "5.7.1")
    r = c.cmd("DATA")
    check(r.code in (503, 554) and r.enh == "5.5.1", "DATA: %r" % r.raw)
    c.cmd("QUIT", 221)
    pp.check_alive()



PIPE_TLS = """
listeners:
  - address: "{listen}"
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
policy:
  rules:
    - name: tls-senders
      stage: mail
      if:
        - sender: {domain: secure.example}
      then: require_tls
"""


@suite.case
def local_refusal_never_overtakes_pending_replies(ctx):
    """A pipelined RCPT that Postern would refuse itself (here require_tls
    set by the MAIL's own rule) waits for the MAIL's upstream reply: the
    client gets 250 then 530, in order, never the 530 first."""
    up = Upstream(ctx, name="upstream-pipetls",
                  script=["EHLO_KEYWORDS PIPELINING, SIZE 52428800",
                          "DELAY MAIL 0.3"])
    pp = Postern(ctx, name="postern-pipetls", config=PIPE_TLS % {"up": up.addr})
    c = pp.client()
    c.ehlo()
    c.send("MAIL FROM:<a@secure.example>\r\nRCPT TO:<b@example.net>\r\n")
    check_eq([r.code for r in c.replies(2)], [250, 530], "in order")
    c.cmd("QUIT", 221)

@suite.case
def ehlo_follows_the_session_route(ctx):
    """EHLO offers what the session's own route supports (its SIZE here),
    also after a transaction that a mail rule sent to another block."""
    main, legacy, pp = own_policy_postern(
        ctx, "ehlo", ["EHLO_KEYWORDS PIPELINING, SIZE 52428800"],
        ["EHLO_KEYWORDS SIZE 20000"])
    c = pp.client()

    def offered_size():
        sizes = [int(l.split()[1]) for l in c.ehlo().lines[1:]
                 if l.upper().startswith("SIZE ")]
        check_eq(len(sizes), 1, "one SIZE keyword")
        return sizes[0]

    # both blocks probed before the first EHLO counts
    deadline = time.time() + 10
    while not (main.sessions() and legacy.sessions()):
        check(time.time() < deadline, "both upstreams probed:\n" +
              pp.log_tail())
        time.sleep(0.02)
    time.sleep(0.3)
    first = offered_size()
    check(first > 20000, "the main route's SIZE offered: %d" % first)
    c.cmd("MAIL FROM:<old@legacy.example>", 250)
    c.cmd("RCPT TO:<b@example.net>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: legacy\r\n\r\nx\r\n.\r\n")
    expect(c.reply(), 250, what="the legacy-routed message")
    check_eq(len(legacy.wait_messages(1)), 1, "delivered to legacy")
    check_eq(offered_size(), first, "SIZE offered after the legacy "
             "transaction")
    c.cmd("QUIT", 221)



@suite.case
def routed_elsewhere_the_route_decides_the_parameters(ctx):
    """EHLO offers what the session's route has (here DSN, SMTPUTF8,
    BINARYMIME); a transaction that a mail rule moves to an upstream
    without them is refused where they cannot be dropped (a binary body,
    a UTF-8 envelope) and relayed without them where they can (DSN).
    Found by fuzz_session: they went to the legacy upstream as sent."""
    main, legacy, pp = own_policy_postern(
        ctx, "params", ["EHLO_KEYWORDS PIPELINING, SIZE 52428800, 8BITMIME, "
                        "CHUNKING, BINARYMIME, DSN, SMTPUTF8"],
        ["EHLO_KEYWORDS SIZE 52428800"])
    deadline = time.time() + 10
    while not (main.sessions() and legacy.sessions()):
        check(time.time() < deadline, "both probed:\n" + pp.log_tail())
        time.sleep(0.02)
    time.sleep(0.3)
    c = pp.client()
    offered = [l.split(" ")[0].upper() for l in c.ehlo().lines[1:]]
    for kw in ("DSN", "SMTPUTF8", "BINARYMIME"):
        check(kw in offered, "%s offered: %s" % (kw, offered))
    c.cmd("MAIL FROM:<u@legacy.example> SMTPUTF8", 553, "5.6.7")
    c.cmd("MAIL FROM:<u@legacy.example> BODY=BINARYMIME", 554, "5.6.1")
    c.cmd("MAIL FROM:<u@legacy.example> RET=HDRS ENVID=e1", 250)
    c.cmd("RCPT TO:<b@example.net> NOTIFY=SUCCESS "
          "ORCPT=rfc822;b@example.net", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: dsn dropped\r\n\r\nx\r\n.\r\n")
    expect(c.reply(), 250, what="the message to legacy")
    c.cmd("QUIT", 221)
    legacy.wait_messages(1)
    cmds = [x for sess in legacy.mail_sessions() for x in sess["commands"]]
    check_eq([x for x in cmds if x.startswith(("MAIL", "RCPT"))],
             ["MAIL FROM:<u@legacy.example>", "RCPT TO:<b@example.net>"],
             "what the legacy upstream got")
    check("event=dsn_dropped" in pp.log(), "the dropped DSN logged")


@suite.case
def set_limit_message_size_applies_to_the_body(ctx):
    """A mail rule's set_limit message_size bounds the message itself, not
    only a declared SIZE: a client that declares none is cut off at the
    limit (552 5.3.4) and nothing is delivered."""
    main, legacy, pp = start(ctx)
    before = len(main.messages())
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<u@small.example>", 250)
    c.cmd("RCPT TO:<b@example.net>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: big\r\n\r\n" + (b"y" * 78 + b"\r\n") * 2000 +
           b".\r\n")
    expect(c.reply(), 552, "5.3.4", what="150 KB against a 100K limit")
    expect(c.send_message(b"Subject: small\r\n\r\nx\r\n",
                          mail="<u@small.example>"), 250)
    c.cmd("QUIT", 221)
    msgs = main.wait_messages(before + 1)
    time.sleep(0.2)
    check_eq([m["content"] for m in main.messages()[before:]],
             [b"Subject: small\r\n\r\nx\r\n"], "only the small one")

if __name__ == "__main__":
    suite.run()
