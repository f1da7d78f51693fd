#!/usr/bin/python3
"""50-abuse: hostile clients. Postern must answer, survive and keep
relaying; SMTP smuggling sequences must reach the upstream as one message.

The smuggling cases use an upstream that ends DATA at any
<CR|LF|CRLF>.<CR|LF|CRLF> (LENIENT_EOD, like a vulnerable server), so a
proxy that let a bare "\\n.\\n" through would show up as a second
transaction at the upstream.
"""

import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Client, ConnClosed, Postern, Suite, TestFailure, Upstream,  # noqa: E402
                 check, check_eq, crlf_normalize, expect, has_bare_cr_or_lf)

suite = Suite("test_50_abuse")
S = {}


def shared(ctx):
    if "pp" not in S:
        S["up"] = Upstream(ctx, name="up-lenient")
        S["pp"] = Postern(ctx, upstream=S["up"].addr,
                          opts=["limits.errors_per_session=1000"])
    S["up"].set_script(["LENIENT_EOD"])
    return S["up"], S["pp"]


def reject_pair(ctx):
    if "pr" not in S:
        S["upr"] = Upstream(ctx, name="up-reject")
        S["pr"] = Postern(ctx, upstream=S["upr"].addr,
                          opts=["body.bare_newlines=reject"],
                          name="postern-reject")
    S["upr"].set_script(["LENIENT_EOD"])
    return S["upr"], S["pr"]


def relay_still_works(ctx, up, pp, tag):
    """A fresh session still relays a message intact."""
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    body = b"Subject: after %s\r\n\r\nstill relaying\r\n" % tag.encode()
    r = c.send_message(body)
    expect(r, 250, what="end of data after " + tag)
    msgs = up.wait_messages(before + 1)
    check_eq(msgs[-1]["content"], body, "content relayed after " + tag)
    c.cmd("QUIT", 221)


@suite.case
def oversized_command_lines(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<" + "a" * 10000 + "@example.org>", 500, "5.5.2")
    c.cmd("NOOP", 250)
    c.cmd("X" * 100000, 500, "5.5.2")  # one reply for one long line
    c.cmd("NOOP", 250)
    c.cmd("QUIT", 221)
    relay_still_works(ctx, up, pp, "long lines")


@suite.case
def megabyte_line_without_newline(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    c.ehlo()
    c.send(b"A" * (1024 * 1024))
    c.send(b"\r\nNOOP\r\n")
    # Either one 500 5.5.2 for the long line and the session goes on, or
    # postern gives up on the session with a 421; never silence, never a
    # crash.
    try:
        r = c.reply(10)
    except ConnClosed:
        raise TestFailure("postern closed without a reply")
    if r.code == 421:
        c.expect_closed()
    else:
        expect(r, 500, "5.5.2", what="1 MB line")
        expect(c.reply(), 250, what="NOOP after the long line")
        c.cmd("QUIT", 221)
    pp.check_alive()
    relay_still_works(ctx, up, pp, "1 MB line")


@suite.case
def nul_bytes_in_commands(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    c.ehlo()
    for line in (b"\x00\x00\x00", b"NOOP\x00", b"\x00NOOP", b"EH\x00LO x",
                 b"MAIL FROM:<a\x00b@example.org>"):
        c.line(line)
        r = c.reply()
        check(r.code // 100 == 5, "reply to %r: wanted 5xx, got %r"
              % (line, r.raw))
    c.cmd("NOOP", 250)
    c.cmd("MAIL FROM:<clean@example.org>", 250)
    c.line(b"RCPT TO:<r\x00@example.net>")
    r = c.reply()
    check(r.code // 100 == 5, "RCPT with NUL: wanted 5xx, got %r" % r.raw)
    c.cmd("QUIT", 221)
    relay_still_works(ctx, up, pp, "NUL bytes")


@suite.case
def random_garbage_lines(ctx):
    up, pp = shared(ctx)
    rng = random.Random(50)
    c = pp.client()
    c.ehlo()
    n = 0
    for i in range(200):
        line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        line = line.replace(b"\r", b"").replace(b"\n", b"")
        # Skip lines that happen to be a real verb (a QUIT would end it).
        if line[:4].upper() in (b"QUIT", b"DATA", b"MAIL", b"RCPT", b"EHLO",
                                b"HELO", b"RSET", b"NOOP", b"VRFY", b"HELP"):
            continue
        c.line(line)
        n += 1
    rs = c.replies(n, timeout=10)
    bad = [r.raw for r in rs if r.code not in (500, 501, 502)]
    check(not bad, "replies to garbage that are not 500/501/502: %r" % bad[:5])
    c.cmd("NOOP", 250)
    c.cmd("QUIT", 221)
    relay_still_works(ctx, up, pp, "garbage lines")


@suite.case
def random_binary_blast_then_close(ctx):
    up, pp = shared(ctx)
    rng = random.Random(51)
    for i in range(5):
        s = socket.create_connection(("127.0.0.1", pp.port), 5)
        blob = bytes(rng.randrange(256) for _ in range(64 * 1024))
        try:
            s.sendall(blob)
        except OSError:
            pass  # postern may close on us: allowed
        s.close()
    time.sleep(0.2)
    pp.check_alive()
    relay_still_works(ctx, up, pp, "binary blasts")


@suite.case
def input_before_greeting_tolerated(ctx):
    up, pp = shared(ctx)
    c = Client(ctx, pp.port, greeting=False)
    c.send(b"EHLO early.example\r\n")
    g = c.reply()
    expect(g, 220, what="greeting")
    r = c.reply()
    expect(r, 250, what="EHLO sent before the greeting")
    c.cmd("NOOP", 250)
    c.cmd("QUIT", 221)


@suite.case
def client_flood_of_pipelined_noops(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    c.ehlo()
    n = 5000
    c.send(b"NOOP\r\n" * n)
    rs = c.replies(n, timeout=20)
    check_eq({r.code for r in rs}, {250}, "codes of the NOOP replies")
    c.cmd("QUIT", 221)


def proc_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


@suite.case
def client_that_never_reads(ctx):
    # EHLO is 8 bytes in and ~150 bytes out: a proxy that kept reading a
    # client that never reads its replies would have to buffer them all.
    up, _ = shared(ctx)
    # one process (no master), so its memory is the one measured
    pp = Postern(ctx, upstream=up.addr, name="postern-noread",
                 opts=["process.master=off"])
    try:
        rss0 = proc_kb(pp.proc.pid, "VmRSS")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", pp.port))
        s.settimeout(3)
        chunk = b"EHLO x\r\n" * 4096
        sent = 0
        limit = 32 * 1024 * 1024
        try:
            while sent < limit:
                s.sendall(chunk)
                sent += len(chunk)
        except (socket.timeout, OSError):
            pass  # postern stopped reading (or closed): backpressure
        time.sleep(0.5)
        hwm = proc_kb(pp.proc.pid, "VmHWM")
        growth_mb = (hwm - rss0) / 1024.0
        ctx.note("client wrote %.1f MB of EHLO without reading; postern's "
                 "peak RSS grew %.1f MB" % (sent / 1048576.0, growth_mb))
        pp.check_alive()
        check(growth_mb < 24, "postern's RSS grew %.1f MB for a client that "
              "never reads (replies buffered without bound)" % growth_mb)
        s.close()
        time.sleep(0.2)
        pp.check_alive()
        relay_still_works(ctx, up, pp, "a client that never reads")
    finally:
        pp.stop()


SMUGGLE_SEQS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r",
                b"\r.\r\n"]
EVIL = (b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n"
        b"Subject: smuggled\r\n\r\nevil body\r\n")


def smuggle_body(seq):
    return b"Subject: innocent\r\n\r\nhello" + seq + EVIL


def smuggle_variants(seq):
    """What may legitimately reach the upstream for this body: bare CR/LF
    normalised to CRLF, and the lone dot line kept (as content) or taken
    as a dot-stuffed empty line (if postern splits lines on the bare
    ending first); both are one message with the commands as content."""
    body = smuggle_body(seq)
    keep = crlf_normalize(body)
    norm_seq = crlf_normalize(seq)
    strip = crlf_normalize(b"Subject: innocent\r\n\r\nhello") + \
        norm_seq.replace(b".", b"", 1) + EVIL
    return {keep, strip}


def smuggle_one(ctx, up, pp, seq):
    s0 = len(up.sessions())
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<innocent@example.org>", 250)
    c.cmd("RCPT TO:<victim@example.net>", 250)
    c.cmd("DATA", 354)
    c.send(smuggle_body(seq) + b".\r\n")
    return c, s0, before


@suite.case
def smuggling_sequences_one_message(ctx):
    up, pp = shared(ctx)
    for seq in SMUGGLE_SEQS:
        c, s0, before = smuggle_one(ctx, up, pp, seq)
        r = c.reply()
        expect(r, 250, what="end of data for %r" % seq)
        c.cmd("QUIT", 221)
        c.expect_closed()
        msgs = up.wait_messages(before + 1)
        time.sleep(0.2)  # a smuggled second message would land now
        msgs = up.messages()[before:]
        check_eq(len(msgs), 1, "messages at the upstream for %r" % seq)
        m = msgs[0]
        check_eq((m["mail_from"], m["rcpts"]),
                 ("innocent@example.org", ["victim@example.net"]),
                 "envelope for %r" % seq)
        check(not has_bare_cr_or_lf(m["raw"]),
              "bare CR or LF reached the upstream for %r: %r" % (seq, m["raw"]))
        check(m["content"] in smuggle_variants(seq),
              "content for %r: got %r, wanted one of %r" %
              (seq, m["content"], smuggle_variants(seq)))
        for s in up.sessions()[s0:]:
            mails = [x for x in s["commands"] if x.upper().startswith("MAIL")]
            check(len(mails) <= 1 and not any("evil@x" in x for x in mails),
                  "smuggled MAIL at the upstream for %r: %r" % (seq, mails))


@suite.case
def smuggling_sequences_rejected_in_reject_mode(ctx):
    up, pp = reject_pair(ctx)
    for seq in SMUGGLE_SEQS:
        c, s0, before = smuggle_one(ctx, up, pp, seq)
        r = c.reply()
        expect(r, 550, "5.6.0", what="end of data for %r (reject)" % seq)
        c.cmd("QUIT", 221)
        time.sleep(0.2)
        check_eq(len(up.messages()), before,
                 "messages delivered for %r in reject mode" % seq)
        for s in up.sessions()[s0:]:
            check(not any("evil@x" in x for x in s["commands"]),
                  "smuggled command at the upstream: %r" % s["commands"])


BARE_BODY = (b"Subject: bare\n\nline one\nline two\r\nline three\rline four"
             b"\r\n\n\rend\r\n")


@suite.case
def bare_newlines_normalized(ctx):
    up, pp = shared(ctx)
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    r = c.send_message(BARE_BODY)
    expect(r, 250, what="end of data")
    m = up.wait_messages(before + 1)[-1]
    check_eq(m["content"], b"Subject: bare\r\n\r\nline one\r\nline two\r\n"
             b"line three\r\nline four\r\n\r\n\r\nend\r\n",
             "normalised content at the upstream")
    c.cmd("QUIT", 221)


@suite.case
def bare_newlines_rejected(ctx):
    up, pp = reject_pair(ctx)
    before = len(up.messages())
    c = pp.client()
    c.ehlo()
    for body in (BARE_BODY, b"Subject: lf only\r\n\r\nx\ny\r\n",
                 b"Subject: cr only\r\n\r\nx\ry\r\n"):
        c.cmd("MAIL FROM:<bare@example.org>", 250)
        c.cmd("RCPT TO:<r@example.net>", 250)
        c.cmd("DATA", 354)
        c.send(body + b".\r\n")
        expect(c.reply(), 550, "5.6.0", what="end of data with %r" % body)
        time.sleep(0.1)
        check_eq(len(up.messages()), before, "messages delivered")
    # The session goes on and a clean message passes.
    r = c.send_message(b"Subject: clean\r\n\r\nclean\r\n")
    expect(r, 250, what="clean message after the rejects")
    m = up.wait_messages(before + 1)[-1]
    check_eq(m["content"], b"Subject: clean\r\n\r\nclean\r\n", "clean content")
    c.cmd("QUIT", 221)


@suite.case
def too_many_errors_421(ctx):
    up, _ = shared(ctx)
    pp = Postern(ctx, upstream=up.addr,
                 opts=["limits.errors_per_session=3"], name="postern-errors")
    try:
        c = pp.client()
        c.ehlo()
        got = []
        for i in range(4):
            c.line("BOGUS%d" % i)
            try:
                r = c.reply()
            except ConnClosed:
                break
            got.append(r)
            if r.code == 421:
                break
        codes = [r.code for r in got]
        # The 3rd error (or, counting "more than", the 4th) ends the session.
        check(codes in ([500, 500, 421], [500, 500, 500, 421]),
              "replies to 4 bad commands with errors_per_session=3: %r"
              % [r.raw for r in got])
        expect(got[-1], 421, "4.7.0", what="too many errors")
        c.expect_closed()
        ctx.note("421 came on error #%d" % len(codes))
    finally:
        pp.stop()


@suite.case
def process_survived_everything(ctx):
    up, pp = shared(ctx)
    pp.check_alive()
    relay_still_works(ctx, up, pp, "the whole abuse suite")


if __name__ == "__main__":
    suite.run()
