#!/usr/bin/python3
"""10-relay: mail goes client -> postern -> recording upstream intact.

Content byte-identical (dot lines, 8-bit bytes, 1000-octet lines, a large
message), the upstream's replies relayed (550 to one recipient of three,
its queue id at end of data, 250 only after the upstream's 250), a
pipelined client, upstream session reuse, HELO fallback, when the
upstream connection opens.
"""

import os
import random
import re
import smtplib
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (AiosmtpdUpstream, Postern, Suite, TestFailure, Upstream,  # noqa: E402
                 check, check_eq, dot_stuff, expect, expect_class)

suite = Suite("test_10_relay")
S = {}

ENH_UPSTREAM = ["EHLO_KEYWORDS SIZE 52428800, ENHANCEDSTATUSCODES"]


def shared(ctx):
    if "pp" not in S:
        S["up"] = Upstream(ctx)
        S["pp"] = Postern(ctx, upstream=S["up"].addr)
    S["up"].set_script([])
    return S["up"], S["pp"]


def new_messages(up, before, n, timeout=5.0):
    msgs = up.wait_messages(before + n, timeout)
    return msgs[before:]


MSG = (b"From: Alice <alice@example.org>\r\n"
       b"To: bob@example.net\r\n"
       b"Subject: relay test\r\n"
       b"MIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=iso-8859-1\r\n"
       b"Content-Transfer-Encoding: 8bit\r\n"
       b"\r\n"
       b".\r\n"
       b"..\r\n"
       b".leading dot\r\n"
       b"...three dots\r\n"
       b" .space then dot\r\n"
       b"8-bit: " + bytes(range(0x80, 0x100)) + b"\r\n"
       b"tab\there\r\n"
       + b"L" * 998 + b"\r\n"
       + b"." + b"x" * 997 + b"\r\n"
       b"\r\n"
       b"last line\r\n")


@suite.case
def relay_smtplib_byte_identical(ctx):
    up, pp = shared(ctx)
    before = len(up.messages())
    with smtplib.SMTP("127.0.0.1", pp.port, "client.example", 10) as s:
        refused = s.sendmail("alice@example.org", ["bob@example.net"], MSG)
        check_eq(refused, {}, "smtplib refused recipients")
    m, = new_messages(up, before, 1)
    check_eq(m["mail_from"], "alice@example.org", "upstream MAIL FROM")
    check_eq(m["rcpts"], ["bob@example.net"], "upstream recipients")
    if m["content"] != MSG:
        raise TestFailure("content differs at the upstream:\nsent %r\ngot  %r"
                          % (MSG[:400], m["content"][:400]))
    # On the wire the upstream got exactly the stuffed content + ".\r\n".
    check_eq(m["raw"], dot_stuff(MSG) + b".\r\n", "upstream DATA wire bytes")


@suite.case
def relay_to_aiosmtpd_byte_identical(ctx):
    # The same message through postern to an independent SMTP server.
    aio = AiosmtpdUpstream(ctx)
    pp = Postern(ctx, upstream=aio.addr, name="postern-aio")
    try:
        with smtplib.SMTP("127.0.0.1", pp.port, "client.example", 10) as s:
            refused = s.sendmail("alice@example.org",
                                 ["bob@example.net", "carol@example.net"], MSG)
            check_eq(refused, {}, "smtplib refused recipients")
            code, text = s.noop()
            check_eq(code, 250, "NOOP after the message")
        m, = aio.wait_messages(1)
        check_eq((m["mail_from"], m["rcpts"]),
                 ("alice@example.org", ["bob@example.net", "carol@example.net"]),
                 "envelope at aiosmtpd")
        if m["content"] != MSG:
            raise TestFailure("content differs at aiosmtpd:\nsent %r\ngot  %r"
                              % (MSG[:400], m["content"][:400]))
    finally:
        pp.stop()
        aio.stop()


@suite.case
def relay_large_message_byte_identical(ctx):
    up, pp = shared(ctx)
    rng = random.Random(10)
    lines = []
    size = 0
    alphabet = bytes(range(0x20, 0x7f)) + bytes(range(0x80, 0x100))
    while size < 3 * 1024 * 1024:
        n = rng.choice((0, 1, 2, 76, 500, 998))
        line = bytes(rng.choice(alphabet) for _ in range(min(n, 40)))
        line = (line * (n // max(len(line), 1) + 1))[:n]
        if rng.random() < 0.05:
            line = b"." + line[1:]
        lines.append(line)
        size += len(line) + 2
    body = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    before = len(up.messages())
    with smtplib.SMTP("127.0.0.1", pp.port, "client.example", 30) as s:
        s.sendmail("big@example.org", ["r@example.net"], body)
    m, = new_messages(up, before, 1, 20)
    check_eq(len(m["content"]), len(body), "content length at the upstream")
    check(m["content"] == body, "large message content differs at upstream")
    ctx.note("%d bytes relayed byte-identical" % len(body))


@suite.case
def rcpt_550_one_of_three(ctx):
    up, pp = shared(ctx)
    up.set_script(["REPLY RCPT <bob@example.net> 550 No such user"])
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    r = c.cmd("MAIL FROM:<alice@example.org>", 250)
    expect_class(r, 2, "MAIL")
    check_eq(r.text, "Ok", "MAIL reply text (the upstream's)")
    c.cmd("RCPT TO:<alice@example.net>", 250)
    r = c.cmd("RCPT TO:<bob@example.net>")
    check_eq(r.raw, b"550 5.1.1 No such user\r\n", "RCPT bob reply")
    c.cmd("RCPT TO:<carol@example.net>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: three\r\n\r\nhello\r\n.\r\n")
    r = c.reply()
    expect(r, 250, what="end of data")
    m, = new_messages(up, before, 1)
    check_eq(m["rcpts"], ["alice@example.net", "carol@example.net"],
             "recipients the upstream accepted")
    check_eq(m["content"], b"Subject: three\r\n\r\nhello\r\n", "content")
    check(m["qid"] in r.text, "queue id %s not relayed in %r" % (m["qid"], r.raw))
    sess = [s for s in up.sessions() if s["id"] == m["session"]][0]
    check("RCPT TO:<bob@example.net>" in sess["commands"],
          "the refused RCPT was not asked of the upstream: %r" % sess["commands"])
    c.cmd("QUIT", 221)


@suite.case
def queue_id_relayed_exactly(ctx):
    up, pp = shared(ctx)
    up.set_script(ENH_UPSTREAM + ["REPLY EOM 250 2.0.0 Ok: queued as ABC123"])
    c = pp.client()
    c.ehlo()
    r = c.send_message(b"Subject: qid\r\n\r\nbody\r\n")
    check_eq(r.raw, b"250 2.0.0 Ok: queued as ABC123\r\n", "end-of-data reply")
    c.cmd("QUIT", 221)


@suite.case
def queue_id_relayed_with_synthesised_code(ctx):
    up, pp = shared(ctx)
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    r = c.send_message(b"Subject: qid2\r\n\r\nbody\r\n")
    m, = new_messages(up, before, 1)
    expect_class(r, 2, "end of data")
    check_eq(r.text, "Ok: queued as " + m["qid"], "end-of-data reply text")
    check(r.enh is not None and r.enh.startswith("2."),
          "no enhanced code synthesised: %r" % r.raw)
    c.cmd("QUIT", 221)


@suite.case
def eom_250_only_after_upstream_250(ctx):
    up, pp = shared(ctx)
    up.set_script(["DELAY EOM 1.5"])
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<slow@example.org>", 250)
    c.cmd("RCPT TO:<r@example.net>", 250)
    c.cmd("DATA", 354)
    t0 = time.time()
    c.send(b"Subject: slow\r\n\r\nwait for it\r\n.\r\n")
    c.no_reply_within(1.2)  # the upstream has not answered yet
    r = c.reply()
    dt = time.time() - t0
    expect(r, 250, what="end of data")
    check(dt >= 1.4, "250 came %.2fs after the dot, before the upstream's "
          "reply (delayed 1.5s)" % dt)
    c.cmd("QUIT", 221)


@suite.case
def half_closed_client_gets_its_replies(ctx):
    """A client may shut down its sending side once it has sent all (Exim
    does, right after a pipelined QUIT): what it sent is still carried
    out and answered. Only bytes that can never complete (a message cut
    short) end the transaction unanswered, and nothing reaches the
    upstream as a message then."""
    up, pp = shared(ctx)
    up.set_script(["DELAY EOM 0.5"])
    before = len(up.messages())
    # 1: the whole message by BDAT, QUIT pipelined, then EOF
    c = pp.client()
    c.ehlo()
    body = b"Subject: half-close 1\r\n\r\nsent, then shut down\r\n"
    c.send(b"MAIL FROM:<half@example.org>\r\nRCPT TO:<r@example.net>\r\n"
           b"BDAT %d LAST\r\n" % len(body) + body + b"QUIT\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    rs = c.replies(4)
    check_eq([r.code for r in rs], [250, 250, 250, 221], "the replies")
    check(b"queued as" in rs[2].raw, "the upstream's reply: %r" % rs[2].raw)
    c.expect_closed()
    # 2: DATA's dot, then EOF without QUIT: the reply, then the close
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<half@example.org>", 250)
    c.cmd("RCPT TO:<r@example.net>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: half-close 2\r\n\r\nno quit\r\n.\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    expect(c.reply(), 250, what="end of data after the half-close")
    c.expect_closed()
    m1, m2 = new_messages(up, before, 2)
    check_eq((m1["content"], m2["content"]),
             (body, b"Subject: half-close 2\r\n\r\nno quit\r\n"),
             "both messages relayed")
    # 3: EOF in the middle of the message: closed, nothing delivered, and
    # the upstream session saw no end of data
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<cut@example.org>", 250)
    c.cmd("RCPT TO:<r@example.net>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: half-close 3\r\n\r\ncut short")
    c.sock.shutdown(socket.SHUT_WR)
    c.expect_closed()
    pp.wait(r"event=tx from=<cut@example\.org> .* outcome=aborted",
            timeout=5, what="the aborted transaction")
    time.sleep(0.3)
    check_eq(len(up.messages()), before + 2, "messages at the upstream")
    up.set_script([])


@suite.case
def pipelined_client_replies_in_order(ctx):
    up, pp = shared(ctx)
    up.set_script(["REPLY RCPT <b2@example.net> 550 No such user"])
    before = len(up.messages())
    c = pp.client()
    r = c.ehlo()
    check("PIPELINING" in r.lines, "postern does not offer PIPELINING: %r"
          % r.raw)
    c.send(b"MAIL FROM:<pipe@example.org>\r\n"
           b"RCPT TO:<b1@example.net>\r\n"
           b"RCPT TO:<b2@example.net>\r\n"
           b"RCPT TO:<b3@example.net>\r\n"
           b"DATA\r\n")
    rs = c.replies(5)
    check_eq([r.code for r in rs], [250, 250, 550, 250, 354],
             "codes of the pipelined replies")
    check_eq(rs[2].raw, b"550 5.1.1 No such user\r\n", "RCPT b2 reply")
    c.send(b"Subject: pipelined\r\n\r\none\r\n.\r\nQUIT\r\n")
    r1, r2 = c.replies(2)
    expect(r1, 250, what="end of data")
    expect(r2, 221, what="QUIT")
    c.expect_closed()
    m, = new_messages(up, before, 1)
    check_eq(m["rcpts"], ["b1@example.net", "b3@example.net"], "recipients")
    check_eq(m["content"], b"Subject: pipelined\r\n\r\none\r\n", "content")


@suite.case
def pipelined_two_transactions_one_upstream_session(ctx):
    up, pp = shared(ctx)
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    c.send(b"MAIL FROM:<t1@example.org>\r\nRCPT TO:<r1@example.net>\r\n"
           b"DATA\r\n")
    check_eq([r.code for r in c.replies(3)], [250, 250, 354], "first batch")
    c.send(b"Subject: one\r\n\r\nfirst\r\n.\r\n"
           b"MAIL FROM:<t2@example.org>\r\nRCPT TO:<r2@example.net>\r\n"
           b"DATA\r\n")
    check_eq([r.code for r in c.replies(4)], [250, 250, 250, 354],
             "second batch (end of data, MAIL, RCPT, DATA)")
    c.send(b"Subject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
    check_eq([r.code for r in c.replies(2)], [250, 221], "third batch")
    m1, m2 = new_messages(up, before, 2)
    check_eq((m1["mail_from"], m1["rcpts"], m1["content"]),
             ("t1@example.org", ["r1@example.net"],
              b"Subject: one\r\n\r\nfirst\r\n"), "first message")
    check_eq((m2["mail_from"], m2["rcpts"], m2["content"]),
             ("t2@example.org", ["r2@example.net"],
              b"Subject: two\r\n\r\nsecond\r\n"), "second message")
    check_eq(m1["session"], m2["session"],
             "upstream session reused for the second transaction")


@suite.case
def nothing_relayed_behind_a_pending_data(ctx):
    """A client that sends a command line right behind DATA, before the
    354: after the 354 the line is message content (as Postfix reads it),
    never a command relayed upstream behind DATA, which would pair the
    upstream's replies with the wrong commands."""
    up, pp = shared(ctx)
    up.set_script(["EHLO_KEYWORDS PIPELINING, SIZE 52428800"])
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    c.send(b"MAIL FROM:<early@example.org>\r\nRCPT TO:<r@example.net>\r\n"
           b"DATA\r\nRCPT TO:<evil@example.net>\r\n")
    check_eq([r.code for r in c.replies(3)], [250, 250, 354], "the group")
    c.send(b"Subject: early\r\n\r\nx\r\n.\r\n")
    r = c.reply()
    expect(r, 250, what="end of data")
    check(b"queued as" in r.raw, "the end-of-data reply: %r" % r.raw)
    c.cmd("QUIT", 221)
    m, = new_messages(up, before, 1)
    check_eq(m["rcpts"], ["r@example.net"], "recipients")
    check_eq(m["content"], b"RCPT TO:<evil@example.net>\r\n"
             b"Subject: early\r\n\r\nx\r\n", "the early line is content")
    cmds = [cmd for s in up.sessions() for cmd in s["commands"]]
    check("RCPT TO:<evil@example.net>" not in cmds, "never a command")
    up.set_script([])


@suite.case
def data_pipelined_to_a_pipelining_upstream(ctx):
    """Towards an upstream with PIPELINING, MAIL, RCPT and DATA go in the
    same write (RFC 2920: one round trip saved per message); if every
    RCPT is refused there, the upstream's own refusal of DATA reaches the
    client, never a 354."""
    up = Upstream(ctx, name="upstream-pipe",
                  script=["EHLO_KEYWORDS PIPELINING, SIZE 52428800",
                          "REPLY RCPT <no@example.net> 550 5.1.1 No such user",
                          "REPLY DATA 554 5.5.1 Error: no valid recipients"])
    pp = Postern(ctx, name="postern-pipe", upstream=up.addr)
    c = pp.client()
    c.ehlo()
    c.send(b"MAIL FROM:<p@example.org>\r\nRCPT TO:<no@example.net>\r\n"
           b"DATA\r\n")
    rs = c.replies(3)
    check_eq([r.code for r in rs], [250, 550, 554], "all refused upstream")
    c.cmd("QUIT", 221)
    up.set_script(["EHLO_KEYWORDS PIPELINING, SIZE 52428800"])
    c = pp.client()
    c.ehlo()
    expect(c.send_message(b"Subject: p\r\n\r\nx\r\n",
                          rcpts=("<a@example.net>", "<b@example.net>")), 250)
    c.cmd("QUIT", 221)
    reads = [r for s in up.sessions() for r in s["reads"]]
    # the whole group leaves Postern in one write (corked), so the
    # upstream reads it at once
    check(any(r.startswith("MAIL FROM:<p@example.org>\r\n"
                           "RCPT TO:<no@example.net>\r\nDATA\r\n")
              for r in reads),
          "MAIL, RCPT and DATA went in one write: %r" % reads)
    check(len(up.wait_messages(1)[-1]["rcpts"]) == 2, "delivered to both")
    # an upstream that says 354 with no recipient: the client gets 554
    up.set_script(["EHLO_KEYWORDS PIPELINING, SIZE 52428800", "LAX_DATA",
                   "REPLY RCPT <no@example.net> 550 5.1.1 No such user"])
    c = pp.client()
    c.ehlo()
    c.send(b"MAIL FROM:<p@example.org>\r\nRCPT TO:<no@example.net>\r\n"
           b"DATA\r\n")
    rs = c.replies(3)
    check_eq([r.code for r in rs], [250, 550, 554], "no 354 to nobody")
    expect(rs[2], 554, "5.5.1")
    # and after refusing the MAIL: the transaction is over, so what the
    # client sends next must not be read as commands
    up.set_script(["EHLO_KEYWORDS PIPELINING, SIZE 52428800", "LAX_DATA",
                   "REPLY MAIL 550 5.7.1 Sender refused"])
    c.cmd("QUIT", 221)
    c = pp.client()
    c.ehlo()
    c.send(b"MAIL FROM:<p@example.org>\r\nRCPT TO:<a@example.net>\r\n"
           b"DATA\r\n")
    rs = c.replies(3)
    check_eq([r.code for r in rs][0::2], [550, 554], "no 354 after MAIL")
    c.cmd("QUIT", 221)
    check("354 with no valid recipient" in pp.log(), "logged")


@suite.case
def upstream_session_reused_smtplib(ctx):
    up, pp = shared(ctx)
    before = len(up.messages())
    with smtplib.SMTP("127.0.0.1", pp.port, "client.example", 10) as s:
        for i in range(3):
            s.sendmail("s%d@example.org" % i, ["r%d@example.net" % i],
                       b"Subject: %d\r\n\r\nmessage %d\r\n" % (i, i))
    msgs = new_messages(up, before, 3)
    check_eq([m["content"] for m in msgs],
             [b"Subject: %d\r\n\r\nmessage %d\r\n" % (i, i) for i in range(3)],
             "contents")
    check_eq(len({m["session"] for m in msgs}), 1,
             "number of upstream sessions used by one client session")
    sess = [s for s in up.sessions() if s["id"] == msgs[0]["session"]][0]
    up.wait_for(lambda: [s for s in up.sessions()
                         if s["id"] == msgs[0]["session"] and s["ended"]],
                5, "the upstream session to end after the client's QUIT")
    sess = [s for s in up.sessions() if s["id"] == msgs[0]["session"]][0]
    check_eq(sess["commands"][-1], "QUIT",
             "last command on the upstream (RFC 5321 4.1.1.10)")


@suite.case
def helo_fallback_when_upstream_rejects_ehlo(ctx):
    up, pp = shared(ctx)
    up.set_script(["REJECT_EHLO"])
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    r = c.send_message(b"Subject: helo\r\n\r\nlegacy\r\n")
    expect(r, 250, what="end of data")
    m, = new_messages(up, before, 1)
    sess = [s for s in up.sessions() if s["id"] == m["session"]][0]
    cmds = [x.split(" ")[0].upper() for x in sess["commands"]]
    check_eq(cmds[:3], ["EHLO", "HELO", "MAIL"], "upstream commands")
    check_eq(m["content"], b"Subject: helo\r\n\r\nlegacy\r\n", "content")
    c.cmd("QUIT", 221)


@suite.case
def upstream_opens_at_first_mail(ctx):
    up, pp = shared(ctx)
    time.sleep(0.3)
    n0 = len(up.sessions())
    c = pp.client()
    c.ehlo()
    c.cmd("NOOP", 250)
    c.cmd("RSET", 250)
    time.sleep(0.5)
    check_eq(len(up.sessions()), n0,
             "upstream sessions before the client's first MAIL")
    c.cmd("MAIL FROM:<first@example.org>", 250)
    sessions = up.sessions()
    check_eq(len(sessions), n0 + 1, "upstream sessions after MAIL")
    cmds = sessions[-1]["commands"]
    check(len(cmds) >= 2 and cmds[0].upper().startswith("EHLO ") and
          cmds[1].startswith("MAIL FROM:<first@example.org>"),
          "new upstream session commands: %r" % cmds)
    c.cmd("QUIT", 221)


@suite.case
def upstream_opens_on_connect_when_configured(ctx):
    up = Upstream(ctx, name="up-onconnect")
    pp = Postern(ctx, upstream=up.addr, opts=["upstreams.0.connect=on_connect"],
                 name="postern-onconnect")
    try:
        time.sleep(0.3)
        n0 = len(up.sessions())
        c = pp.client()
        up.wait_for(lambda: len(up.sessions()) > n0, 3,
                    "an upstream session opened for the client's connection")
        c.ehlo()
        r = c.send_message(b"Subject: oc\r\n\r\non connect\r\n")
        expect(r, 250, what="end of data")
        m, = up.wait_messages(1)
        check_eq(m["content"], b"Subject: oc\r\n\r\non connect\r\n", "content")
        c.cmd("QUIT", 221)
    finally:
        pp.stop()
        up.stop()


@suite.case
def eight_bit_mime_body_param(ctx):
    up, pp = shared(ctx)
    up.set_script(["EHLO_KEYWORDS SIZE 52428800, 8BITMIME"])
    before = len(up.messages())
    body = b"Subject: 8bit\r\n\r\n" + "Grüße, naïve café".encode("utf-8") + \
        b"\r\n" + bytes(range(0x80, 0x100)) + b"\r\n"
    with smtplib.SMTP("127.0.0.1", pp.port, "client.example", 10) as s:
        s.ehlo()
        check(s.has_extn("8bitmime"), "postern does not offer 8BITMIME")
        s.sendmail("a@example.org", ["b@example.net"], body,
                   mail_options=["BODY=8BITMIME"])
    m, = new_messages(up, before, 1)
    check_eq(m["content"], body, "8-bit content")


@suite.case
def swaks_through_postern(ctx):
    up, pp = shared(ctx)
    before = len(up.messages())
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % pp.port,
                        "--from", "swaks@example.org", "--to",
                        "one@example.net,two@example.net",
                        "--helo", "swaks.example", "--body",
                        "swaks body line", "--header", "Subject: via swaks",
                        "--timeout", "10"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    out = p.stdout.decode("latin-1")
    check(p.returncode == 0, "swaks exited %d:\n%s" % (p.returncode, out[-2000:]))
    m, = new_messages(up, before, 1)
    check_eq(m["rcpts"], ["one@example.net", "two@example.net"], "recipients")
    check(b"Subject: via swaks\r\n" in m["content"] and
          b"\r\n\r\nswaks body line\r\n" in m["content"],
          "swaks message content: %r" % m["content"])


@suite.case
def idle_upstream_sessions_are_reused(ctx):
    """upstreams[].keep_idle: the next client's transaction goes over the
    upstream session the last one left idle (no connect, banner, EHLO)."""
    up = Upstream(ctx, name="keep-idle",
                  script=["EHLO_KEYWORDS PIPELINING, SIZE 52428800"])
    pp = Postern(ctx, upstream=up.addr, name="postern-keep",
                 opts=["upstreams.0.keep_idle=2", "process.workers=1"])
    for i in range(3):
        c = pp.client()
        c.ehlo()
        expect(c.send_message(b"Subject: reuse %d\r\n\r\nx\r\n" % i), 250)
        c.cmd("QUIT", 221)
        c.close()
    # a pipelined group over a reused session leaves in one write too
    c = pp.client()
    c.ehlo()
    c.send(b"MAIL FROM:<reuse@example.org>\r\nRCPT TO:<r@example.net>\r\n"
           b"DATA\r\n")
    check_eq([r.code for r in c.replies(3)], [250, 250, 354], "the group")
    c.send(b"Subject: reuse 3\r\n\r\nx\r\n.\r\n")
    expect(c.reply(), 250, what="end of data")
    c.cmd("QUIT", 221)
    up.wait_messages(4)
    sessions = up.mail_sessions()
    check_eq(len(sessions), 1, "upstream sessions that carried mail")
    check_eq(len(sessions[0]["messages"]), 4, "messages on that session")
    check(any(r.startswith("MAIL FROM:<reuse@example.org>\r\n"
                           "RCPT TO:<r@example.net>\r\nDATA\r\n")
              for r in sessions[0]["reads"]),
          "the group in one write: %r" % sessions[0]["reads"][-6:])


@suite.case
def received_header_added(ctx):
    """smtp.received_header: one Received: line block at the very top, the
    rest of the message untouched, for DATA and for BDAT both ways."""
    import re
    up = Upstream(ctx, name="received")
    pp = Postern(ctx, upstream=up.addr, name="postern-received",
                 opts=["smtp.received_header=on"])
    body = b"Subject: rcvd\r\n\r\nbody\r\n"
    c = pp.client()
    c.ehlo()
    expect(c.send_message(body), 250)
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<b@example.net>", 250)
    c.send(b"BDAT %d LAST\r\n" % len(body) + body)
    expect(c.reply(), 250)
    msgs = up.wait_messages(2)
    for m in msgs[-2:]:
        got = m["content"]
        hdr = re.match(rb"Received: from client\.example \(\[127\.0\.0\.1\]\)"
                       rb"\r\n\tby \S+ \(Postern\) with ESMTP id [0-9a-f-]+;"
                       rb"\r\n\t\w{3}, \d\d \w{3} \d{4} [0-9:]{8} \+0000\r\n",
                       got)
        check(hdr is not None, "Received header: %r" % got[:300])
        check_eq(got[hdr.end():], body, "the message after it")


if __name__ == "__main__":
    suite.run()
