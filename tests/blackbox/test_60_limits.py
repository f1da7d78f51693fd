#!/usr/bin/python3
"""60-limits: many idle connections, connection limits, sizes, recipient
count, command-line limit, idle timeout."""

import asyncio
import os
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Postern, Suite, TestFailure, Upstream,  # noqa: E402
                 check, check_eq, expect, raise_fd_limit)

suite = Suite("test_60_limits", budget=115)
S = {}

IDLE = 2000


def upstream(ctx):
    if "up" not in S:
        S["up"] = Upstream(ctx)
    S["up"].set_script([])
    return S["up"]


async def open_idle(port, n, batch=200):
    """Opens n connections and reads each greeting; returns (writers,
    greetings) where greetings are the first lines received."""
    conns = []
    greetings = []

    async def one():
        r, w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), 20)
        line = await asyncio.wait_for(r.readline(), 20)
        return r, w, line

    for i in range(0, n, batch):
        res = await asyncio.gather(*[one() for _ in range(min(batch, n - i))],
                                   return_exceptions=True)
        for x in res:
            if isinstance(x, BaseException):
                greetings.append(repr(x).encode())
            else:
                conns.append(x)
                greetings.append(x[2])
    return conns, greetings


@suite.case
def idle_connections_2000_all_greeted(ctx):
    raise_fd_limit(IDLE * 2 + 1000)
    up = upstream(ctx)
    pp = Postern(ctx, upstream=up.addr,
                 opts=["limits.connections=3000",
                       "limits.connections_per_client=3000"],
                 name="postern-idle")
    loop = asyncio.new_event_loop()
    try:
        t0 = time.time()
        conns, greetings = loop.run_until_complete(open_idle(pp.port, IDLE))
        dt = time.time() - t0
        bad = [g for g in greetings if not g.startswith(b"220 ")]
        check(not bad, "%d of %d connections not greeted with 220; first: %r"
              % (len(bad), IDLE, bad[:3]))
        check_eq(len(conns), IDLE, "connections open")
        ctx.note("%d connections greeted in %.2fs" % (IDLE, dt))
        # While they are all open, mail still goes through.
        before = len(up.messages())
        with smtplib.SMTP("127.0.0.1", pp.port, "client.example", 10) as s:
            s.sendmail("busy@example.org", ["r@example.net"],
                       b"Subject: busy\r\n\r\nwith 2000 idle\r\n")
        m = up.wait_messages(before + 1)[-1]
        check_eq(m["content"], b"Subject: busy\r\n\r\nwith 2000 idle\r\n",
                 "content")
        # And the idle ones are still alive: a few of them say NOOP.
        async def noop(r, w):
            w.write(b"NOOP\r\n")
            await w.drain()
            return await asyncio.wait_for(r.readline(), 10)
        async def noop_all(sample):
            return await asyncio.gather(*[noop(r, w) for r, w, _ in sample])
        rs = loop.run_until_complete(noop_all(conns[::400]))
        bad = [x for x in rs if not x.startswith(b"250")]
        check(not bad, "idle connections answering NOOP: %r" % bad)
        for r, w, _ in conns:
            w.close()
        loop.run_until_complete(asyncio.sleep(0.3))
        pp.check_alive()
    finally:
        loop.close()
        pp.stop()


def not_greeted(port, timeout=3.0):
    """Connects once more; returns what came instead of a 220 (a 421
    reply, or b"" for a close), failing if a 220 came."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(timeout)
    data = b""
    try:
        while b"\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        raise TestFailure("connection over the limit: neither a reply nor a "
                          "close within %.0fs (got %r)" % (timeout, data))
    finally:
        s.close()
    check(not data.startswith(b"220"),
          "connection over the limit was greeted: %r" % data)
    check(data == b"" or data.startswith(b"421"),
          "connection over the limit: wanted 421 or a close, got %r" % data)
    return data


@suite.case
def connection_limits(ctx):
    up = upstream(ctx)
    pp = Postern(ctx, upstream=up.addr,
                 opts=["limits.connections=5",
                       "limits.connections_per_client=5"],
                 name="postern-connlimit")
    try:
        cs = [pp.client() for _ in range(5)]
        for c in cs:
            expect(c.greeting, 220, what="greeting within the limit")
        got = not_greeted(pp.port)
        ctx.note("6th connection got %r" % got)
        cs[0].cmd("QUIT", 221)
        cs[0].expect_closed()
        time.sleep(0.3)
        c = pp.client()  # a slot is free again
        expect(c.greeting, 220, what="greeting after a slot freed")
        c.cmd("QUIT", 221)
    finally:
        pp.stop()
    pp = Postern(ctx, upstream=up.addr,
                 opts=["limits.connections_per_client=3"],
                 name="postern-perclient")
    try:
        cs = [pp.client() for _ in range(3)]
        got = not_greeted(pp.port)
        ctx.note("4th connection from one address got %r" % got)
    finally:
        pp.stop()


def sized(ctx):
    if "ps" not in S:
        up = upstream(ctx)
        S["ps"] = Postern(ctx, upstream=up.addr,
                          opts=["limits.message_size=1M",
                                "limits.recipients=100",
                                "limits.command_line=1024"],
                          name="postern-sized")
    upstream(ctx)
    return S["up"], S["ps"]


def body_of(n):
    line = b"x" * 98 + b"\r\n"
    head = b"Subject: size\r\n\r\n"
    return head + line * ((n - len(head)) // len(line))


@suite.case
def size_advertised_and_mail_size_param(ctx):
    up, pp = sized(ctx)
    c = pp.client()
    r = c.ehlo()
    check("SIZE 1048576" in r.lines, "EHLO should offer SIZE 1048576: %r"
          % r.raw)
    c.cmd("MAIL FROM:<s@example.org> SIZE=1048577", 552, "5.3.4")
    c.cmd("MAIL FROM:<s@example.org> SIZE=99999999999", 552, "5.3.4")
    c.cmd("MAIL FROM:<s@example.org> SIZE=1048576", 250)
    c.cmd("RSET", 250)
    c.cmd("QUIT", 221)


@suite.case
def message_over_size_552_and_not_delivered(ctx):
    up, pp = sized(ctx)
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    big = body_of(1200 * 1024)
    r = c.send_message(big)
    expect(r, 552, "5.3.4", what="end of data of a 1.2 MB message")
    time.sleep(0.3)
    check_eq(len(up.messages()), before, "messages delivered upstream")
    # The session goes on; a message under the limit passes.
    ok = body_of(900 * 1024)
    r = c.send_message(ok)
    expect(r, 250, what="end of data of a 900 KB message")
    m = up.wait_messages(before + 1)[-1]
    check(m["content"] == ok, "900 KB message differs at the upstream")
    c.cmd("QUIT", 221)


@suite.case
def too_many_recipients_452(ctx):
    up, pp = sized(ctx)
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<many@example.org>", 250)
    c.send(b"".join(b"RCPT TO:<r%d@example.net>\r\n" % i for i in range(101)))
    rs = c.replies(101, timeout=20)
    check_eq([r.code for r in rs[:100]], [250] * 100, "first 100 RCPTs")
    expect(rs[100], 452, "4.5.3", what="101st RCPT")
    c.cmd("DATA", 354)
    c.send(b"Subject: many\r\n\r\nhundred\r\n.\r\n")
    expect(c.reply(), 250, what="end of data")
    m = up.wait_messages(before + 1)[-1]
    check_eq(len(m["rcpts"]), 100, "recipients at the upstream")
    check("r100@example.net" not in m["rcpts"],
          "the refused 101st recipient reached the upstream")
    c.cmd("QUIT", 221)


@suite.case
def command_line_limit_configurable(ctx):
    up, pp = sized(ctx)
    c = pp.client()
    c.ehlo()
    c.cmd("NOOP " + "x" * 1017, 250)  # 1024 octets with CRLF
    c.cmd("NOOP " + "x" * 1018, 500, "5.5.2")  # 1025
    c.cmd("NOOP", 250)
    c.cmd("QUIT", 221)


@suite.case
def idle_timeout_421(ctx):
    up = upstream(ctx)
    pp = Postern(ctx, upstream=up.addr, opts=["timeouts.command=2s"],
                 name="postern-timeout")
    try:
        c = pp.client(timeout=10)
        # t0 before EHLO: postern's idle timer starts when it has read the
        # EHLO, never earlier, so dt can only be longer than the idle time
        # (a stall before we read the EHLO reply no longer shortens it)
        t0 = time.time()
        c.ehlo()
        r = c.reply(15)
        dt = time.time() - t0
        expect(r, 421, "4.4.2", what="idle client")
        check(1.5 <= dt <= 10, "421 came after %.2fs idle (timeout 2s)" % dt)
        c.expect_closed(5)
        # The timer restarts with each command: a client that talks every
        # half second for 4 s (twice the timeout) is not cut off after 2s.
        c = pp.client(timeout=10)
        c.ehlo()
        for i in range(8):
            time.sleep(0.5)
            c.cmd("NOOP", 250)
        c.cmd("QUIT", 221)
    finally:
        pp.stop()


if __name__ == "__main__":
    suite.run()
