#!/usr/bin/python3
"""70-upstream-fail: the upstream is down, dies, stalls or lies.

The rule under test: the client gets 2xx for its end of data only after
the upstream's 2xx; any upstream failure is a 4xx (451 4.4.x, or 421 and
close), never a 250, and the client session goes on where it can.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (ConnClosed, Postern, Suite, TestFailure, Upstream, check,  # noqa: E402
                 check_eq, dead_port, expect)

suite = Suite("test_70_upstream_fail", budget=115)
S = {}

BODY = b"Subject: fail test\r\n\r\n" + (b"y" * 70 + b"\r\n") * 800  # ~57 KB


def shared(ctx):
    if "pp" not in S:
        S["up"] = Upstream(ctx)
        S["pp"] = Postern(ctx, upstream=S["up"].addr,
                          opts=["timeouts.upstream_data_end=2s"])
    S["up"].set_script([])
    return S["up"], S["pp"]


def tempfail_transaction(c, body=BODY, mail="<s@example.org>",
                         rcpt="<r@example.net>", enh_ok=("4.4.2",)):
    """Runs MAIL/RCPT/DATA/body expecting the upstream failure to show as
    a 4xx somewhere from MAIL on (451 with one of enh_ok, or 421 and a
    close), and never as a 250 for the end of data. Returns the failing
    reply and whether the session is still open."""
    steps = [("MAIL FROM:" + mail, 250), ("RCPT TO:" + rcpt, 250),
             ("DATA", 354)]
    for cmd, ok in steps:
        try:
            r = c.cmd(cmd, timeout=15)
        except ConnClosed:
            raise TestFailure("postern closed the session at %s without a "
                              "reply" % cmd)
        if r.code == ok:
            continue
        return judge(c, r, cmd, enh_ok)
    c.send(body + b".\r\n")
    try:
        r = c.reply(15)
    except ConnClosed:
        raise TestFailure("postern closed without replying to end of data")
    check(r.code != 250 and r.code // 100 != 2,
          "end of data got %r though the upstream failed" % r.raw)
    return judge(c, r, "end of data", enh_ok)


def judge(c, r, what, enh_ok):
    if r.code == 421:
        c.expect_closed()
        return r, False
    check(r.code == 451 and r.enh in enh_ok,
          "%s: wanted 451 %s (or 421 and close), got %r" %
          (what, "/".join(enh_ok), r.raw))
    return r, True


def retry_succeeds(c, up, before):
    """After a failure the session goes on: RSET and a new transaction
    through a now well-behaved upstream delivers the message."""
    up.set_script([])
    c.cmd("RSET", 250)
    r = c.send_message(b"Subject: retry\r\n\r\nsecond try\r\n")
    expect(r, 250, what="end of data on retry")
    msgs = up.wait_messages(before + 1)
    check_eq(msgs[-1]["content"], b"Subject: retry\r\n\r\nsecond try\r\n",
             "retried content")
    c.cmd("QUIT", 221)


@suite.case
def upstream_down_451_441_session_goes_on(ctx):
    pp = Postern(ctx, upstream="127.0.0.1:%d" % dead_port(), name="postern-down")
    try:
        c = pp.client()
        c.ehlo()
        t0 = time.time()
        c.cmd("MAIL FROM:<s@example.org>", 451, "4.4.1", timeout=15)
        ctx.note("451 after %.2fs" % (time.time() - t0))
        c.cmd("RCPT TO:<r@example.net>", 503, "5.5.1")
        c.cmd("RSET", 250)
        c.cmd("NOOP", 250)
        c.cmd("MAIL FROM:<s@example.org>", 451, "4.4.1", timeout=15)
        c.cmd("QUIT", 221)
        c.expect_closed()
    finally:
        pp.stop()


@suite.case
def failover_to_second_address(ctx):
    up = Upstream(ctx, name="up-second")
    dead = dead_port()
    cfg = ("listeners:\n"
           "  - address: \"{listen}\"\n"
           "upstreams:\n"
           "  - name: main\n"
           "    addresses: [\"127.0.0.1:%d\", \"%s\"]\n" % (dead, up.addr))
    pp = Postern(ctx, config=cfg, name="postern-failover")
    try:
        c = pp.client()
        c.ehlo()
        r = c.send_message(b"Subject: failover\r\n\r\nvia the second\r\n")
        expect(r, 250, what="end of data")
        m = up.wait_messages(1)[-1]
        check_eq(m["content"], b"Subject: failover\r\n\r\nvia the second\r\n",
                 "content at the second address")
        c.cmd("QUIT", 221)
    finally:
        pp.stop()
        up.stop()


@suite.case
def upstream_closes_during_data(ctx):
    up, pp = shared(ctx)
    for n in (0, 100, 20000):
        up.set_script(["CLOSE_DURING_DATA after %d bytes" % n])
        before = len(up.messages())
        c = pp.client()
        c.ehlo()
        r, open_ = tempfail_transaction(c)
        ctx.note("close after %d bytes -> %r" % (n, r.raw))
        check_eq(len(up.messages()), before, "messages completed upstream")
        if open_:
            retry_succeeds(c, up, before)


@suite.case
def upstream_closes_at_data_command(ctx):
    up, pp = shared(ctx)
    up.set_script(["CLOSE DATA"])
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    r, open_ = tempfail_transaction(c)
    ctx.note("-> %r" % r.raw)
    if open_:
        retry_succeeds(c, up, before)


@suite.case
def upstream_closes_without_eom_reply(ctx):
    up, pp = shared(ctx)
    up.set_script(["CLOSE EOM"])
    c = pp.client()
    c.ehlo()
    r, open_ = tempfail_transaction(c)
    ctx.note("-> %r" % r.raw)
    if open_:
        retry_succeeds(c, up, len(up.messages()))


@suite.case
def upstream_stalls_at_end_of_data(ctx):
    up, pp = shared(ctx)
    up.set_script(["STALL EOM"])
    c = pp.client(timeout=15)
    c.ehlo()
    t0 = time.time()
    r, open_ = tempfail_transaction(c)
    dt = time.time() - t0
    ctx.note("-> %r after %.2fs" % (r.raw, dt))
    check(dt < 10, "the stall was noticed only after %.2fs "
          "(timeouts.upstream_data_end=2s)" % dt)
    if open_:
        retry_succeeds(c, up, len(up.messages()))


MALFORMED = [
    ("MAIL", "REPLY MAIL hello"),
    ("MAIL", "MULTILINE_MIXED MAIL"),
    ("MAIL", "REPLY MAIL 354 go ahead"),   # a 3xx where it makes no sense
    ("RCPT", "MULTILINE_MIXED RCPT"),
    ("RCPT", "REPLY RCPT 25"),
    ("RCPT", "REPLY RCPT " + "250-" + "x" * 2000 + "\\r\\n250 long line"),
    ("RCPT", "REPLY RCPT " + "250-more\\r\\n" * 200 + "250 end"),
    ("EOM", "REPLY EOM hello"),
    ("EOM", "REPLY EOM 250-queued\\r\\n451 mixed"),
]


@suite.case
def malformed_upstream_replies_451_440(ctx):
    up, pp = shared(ctx)
    errors = []
    for stage, directive in MALFORMED:
        up.set_script([directive])
        before = len(up.messages())
        s0 = len(up.sessions())
        label = directive if len(directive) < 60 else directive[:57] + "..."
        c = None
        try:
            c = pp.client()
            c.ehlo()
            r, open_ = tempfail_transaction(c, enh_ok=("4.4.0",))
            ctx.note("%s -> %r" % (label, r.raw[:80]))
            if stage != "EOM":
                check_eq(len(up.messages()), before,
                         "messages delivered upstream")
            # The faulty upstream connection is closed by postern.
            up.wait_for(lambda: [s for s in up.sessions()[s0:] if s["ended"]],
                        5, "postern to close the faulty upstream")
            if open_:
                retry_succeeds(c, up, len(up.messages()))
        except TestFailure as e:
            ctx.note("%s -> FAILED" % label)
            errors.append("[%s] %s" % (label, e))
            if c is not None:
                c.close()
    check(not errors, "%d of %d malformed replies mishandled:\n    %s" %
          (len(errors), len(MALFORMED), "\n    ".join(errors)))


@suite.case
def injected_reply_after_greeting(ctx):
    up, pp = shared(ctx)
    up.set_script(["REPLY GREETING 220 upstream ESMTP\\r\\n"
                   "250 2.0.0 injected before any command"])
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    r = c.cmd("MAIL FROM:<s@example.org>", timeout=15)
    check(r.code == 421 or (r.code == 451 and r.enh in ("4.4.0", "4.4.1")),
          "MAIL over an upstream that injected a reply: wanted 451 4.4.0/4.4.1"
          " or 421, got %r" % r.raw)
    check_eq(len(up.messages()), before, "messages delivered")


@suite.case
def control_characters_stripped_from_upstream_text(ctx):
    up, pp = shared(ctx)
    up.set_script(["REPLY RCPT <bob@example.net> 550 bad\\x07\\x1b[31m user"
                   " here\\x7f"])
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<s@example.org>", 250)
    r = c.cmd("RCPT TO:<bob@example.net>")
    check_eq(r.code, 550, "RCPT code")
    check(r.enh == "5.1.1", "enhanced code: %r" % r.raw)
    body = r.raw[:-2]
    check(not any(b < 0x20 or b == 0x7f for b in body),
          "control characters relayed to the client: %r" % r.raw)
    check(b"bad" in body and b"user" in body and b"here" in body,
          "the upstream's text was not relayed: %r" % r.raw)
    c.cmd("QUIT", 221)


@suite.case
def nul_in_upstream_reply_never_relayed(ctx):
    up, pp = shared(ctx)
    up.set_script(["REPLY RCPT <bob@example.net> 550 no\\x00 such user"])
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<s@example.org>", 250)
    r = c.cmd("RCPT TO:<bob@example.net>")
    # Stripped and relayed, or taken as a malformed reply: both are fine;
    # a NUL reaching the client is not.
    check(b"\x00" not in r.raw, "NUL relayed to the client: %r" % r.raw)
    check((r.code == 550 and r.enh == "5.1.1") or
          (r.code == 451 and r.enh == "4.4.0"),
          "RCPT: wanted 550 5.1.1 (stripped) or 451 4.4.0, got %r" % r.raw)
    ctx.note("-> %r" % r.raw)
    c.cmd("QUIT", 221)


if __name__ == "__main__":
    suite.run()
