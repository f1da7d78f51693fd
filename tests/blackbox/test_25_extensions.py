#!/usr/bin/python3
"""25-extensions: what Postern offers in front of a legacy and a modern
upstream, and how it honours it end to end (issue 4).

BDAT bridged to DATA for a legacy upstream and re-chunked for a CHUNKING
one, BINARYMIME, BDAT sequence errors and refused chunks (their bytes are
still read), SIZE exceeded during BDAT, a large BDAT message in constant
memory, DSN and SMTPUTF8 passed through only when the upstream has them,
LIMITS, and the 8BITMIME policy towards a 7-bit upstream.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Postern, Suite, Upstream, check,  # noqa: E402
                 check_eq, expect)

# bdat_large_message_constant_memory pushes 200 MiB through postern and
# the upstream: 15 s on a loaded machine, more under ASan. The budget
# leaves room for it (ctest allows each file 600 s).
suite = Suite("test_25_extensions", budget=300)

MODERN = ["EHLO_KEYWORDS PIPELINING, SIZE 52428800, 8BITMIME, "
          "ENHANCEDSTATUSCODES, CHUNKING, BINARYMIME, DSN, SMTPUTF8"]


def wait_probe(pp):
    """Waits until the capability probe has learnt the upstream's list."""
    pp.wait(r"event=upstream_probe ", what="capability probe")


def start(ctx, script=(), opts=()):
    """An upstream with `script` and a postern in front of it, once the
    capability probe has learnt the upstream's EHLO list."""
    up = Upstream(ctx, script=script)
    pp = Postern(ctx, upstream=up.addr, opts=list(opts))
    wait_probe(pp)
    return up, pp


def keywords(reply):
    return [l.split(" ")[0].upper() for l in reply.lines[1:]]


def bdat(c, data, last=False):
    c.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)
    return c.reply()


def envelope(c):
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<b@example.net>", 250)


@suite.case
def ehlo_legacy_vs_modern(ctx):
    up, pp = start(ctx)
    kw = keywords(pp.client().ehlo())
    for k in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
              "CHUNKING", "LIMITS"):
        check(k in kw, "legacy: %s offered (%s)" % (k, kw))
    for k in ("BINARYMIME", "DSN", "SMTPUTF8", "ETRN", "STARTTLS"):
        check(k not in kw, "legacy: %s must not be offered (%s)" % (k, kw))
    up2, pp2 = start(ctx, MODERN)
    r = pp2.client().ehlo()
    kw2 = keywords(r)
    for k in ("BINARYMIME", "DSN", "SMTPUTF8", "CHUNKING"):
        check(k in kw2, "modern: %s offered (%s)" % (k, kw2))
    limits = [l for l in r.lines if l.upper().startswith("LIMITS")]
    check_eq(limits, ["LIMITS RCPTMAX=1000 MAILMAX=1000"], "LIMITS line")
    pp3 = Postern(ctx, upstream=up2.addr, opts=["ehlo.drop.0=CHUNK*"])
    wait_probe(pp3)
    kw3 = keywords(pp3.client().ehlo())
    check("CHUNKING" not in kw3 and "BINARYMIME" not in kw3,
          "dropped CHUNKING takes BINARYMIME with it (%s)" % kw3)


@suite.case
def bdat_bridged_to_data_for_legacy_upstream(ctx):
    up, pp = start(ctx)
    c = pp.client()
    envelope(c)
    part1 = b"Subject: bdat\r\n\r\n.leading dot\r\n"
    part2 = b"..two dots\r\nno final newline"
    r = bdat(c, part1)
    expect(r, 250, "2.0.0", text_has="%d octets" % len(part1))
    r = bdat(c, part2, last=True)
    expect(r, 250, text_has="queued as")
    m = up.wait_messages(1)[0]
    check_eq(m["content"], part1 + part2 + b"\r\n",
             "content (DATA needs a final CRLF)")
    check(b"DATA" in [x.encode() for x in up.mail_sessions()[-1]["commands"]],
          "the upstream got DATA")


@suite.case
def bdat_rechunked_for_chunking_upstream(ctx):
    up, pp = start(ctx, MODERN)
    c = pp.client()
    envelope(c)
    body = b"Subject: pass\r\n\r\n" + b"x" * 100000 + b"\r\n.\r\nbare\nlf\r\n"
    expect(bdat(c, body[:70000]), 250, "2.0.0")
    expect(bdat(c, body[70000:], last=True), 250, text_has="queued as")
    m = up.wait_messages(1)[0]
    check_eq(m["content"], body.replace(b"bare\nlf", b"bare\r\nlf"),
             "content (bare LF normalised)")
    check(m.get("bdat"), "went as BDAT to the CHUNKING upstream")
    cmds = up.mail_sessions()[-1]["commands"]
    check("DATA" not in cmds, "no DATA to a CHUNKING upstream: %s" % cmds)
    # the last piece itself carries LAST (no extra "BDAT 0 LAST" round)
    check(re.match(r"BDAT [1-9]\d* LAST$", cmds[-1]) is not None and
          "BDAT 0 LAST" not in cmds, "last piece marked LAST: %s" % cmds[-3:])


@suite.case
def binarymime_passes_bytes_untouched(ctx):
    up, pp = start(ctx, MODERN)
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org> BODY=BINARYMIME", 250)
    c.cmd("RCPT TO:<b@example.net>", 250)
    c.cmd("DATA", 503, "5.5.1")
    body = b"Content-Type: application/octet-stream\r\n\r\n" + \
        bytes(range(256)) * 10 + b"\n.\n\r.\r"
    expect(bdat(c, body, last=True), 250)
    m = up.wait_messages(1)[0]
    check_eq(m["content"], body, "binary content untouched")
    check("BODY=BINARYMIME" in " ".join(up.mail_sessions()[-1]["commands"]),
          "BODY=BINARYMIME relayed")
    # in front of a legacy upstream BINARYMIME is not offered at all
    up2, pp2 = start(ctx)
    c2 = pp2.client()
    c2.ehlo()
    c2.cmd("MAIL FROM:<a@example.org> BODY=BINARYMIME", 501, "5.5.4")


@suite.case
def bdat_after_a_refused_data_is_a_first_chunk(ctx):
    """An upstream may refuse DATA after accepting recipients (Postfix's
    smtpd_data_restrictions). A BDAT after that is the message's first
    chunk: set up as such (bridged or passed through), never its bytes
    sent to the upstream as commands. Found by fuzz_session: the chunk
    went raw into the command stream, and a RSET/MAIL/RCPT/DATA in it
    made a message that no policy or Received header saw."""
    smuggle = (b"RSET\r\nMAIL FROM:<spoof@attacker.example>\r\n"
               b"RCPT TO:<victim@elsewhere.example>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nhello\r\n.\r\n")
    for name, keywords in (("legacy", "SIZE 52428800"),
                           ("modern", "PIPELINING, SIZE 52428800, CHUNKING")):
        up, pp = start(ctx, ["EHLO_KEYWORDS " + keywords,
                             "REPLY DATA 554 5.7.1 No DATA for you"])
        c = pp.client()
        envelope(c)
        expect(c.cmd("DATA"), 554, "5.7.1", what=name + ": DATA refused")
        r = bdat(c, smuggle, last=True)
        c.cmd("QUIT", 221)
        cmds = [x for sess in up.wait_sessions_ended()
                for x in sess["commands"]]
        check(not any("spoof@" in x or "victim@" in x for x in cmds),
              "%s: chunk bytes reached the upstream as commands: %s"
              % (name, cmds))
        msgs = up.messages()
        if name == "legacy":
            # bridged: the BDAT became a DATA, which is refused again
            expect(r, 554, "5.7.1", what="legacy: the BDAT's reply")
            check_eq(msgs, [], "legacy: nothing delivered")
        else:
            # passed through as BDAT: the message is the chunk, as content
            expect(r, 250, what="modern: the BDAT's reply")
            check_eq([m["content"] for m in msgs], [smuggle],
                     "modern: the chunk is one message's content")


@suite.case
def refused_bdat_piece_ends_the_transaction(ctx):
    """A CHUNKING upstream that refuses one of the pieces Postern re-chunks
    a client's BDAT into has failed the transaction (RFC 3030 2): no more
    pieces and no LAST may follow. Postern drops that upstream session and
    gives the client the upstream's refusal for its chunk, or for its next
    one if the first was already answered; nothing is delivered."""
    up, pp = start(ctx, MODERN + ["REPLY CHUNK 552 5.3.4 Chunk refused here"])
    c = pp.client()
    envelope(c)
    r1 = bdat(c, b"Subject: big\r\n\r\n" + b"x" * 70000)
    # the chunk is answered once it is in the stream; the upstream's
    # refusal of its first piece comes meanwhile (a LAST sent before it
    # arrived would get the upstream's own reply instead)
    time.sleep(0.5)
    r2 = bdat(c, b"the end\r\n", last=True)
    codes = (r1.code, r2.code)
    check(codes in ((552, 503), (250, 552)),
          "the replies to the two chunks: %r %r" % (r1.raw, r2.raw))
    refusal = r1 if r1.code == 552 else r2
    expect(refusal, 552, "5.3.4", "Chunk refused here", "the refusal")
    c.cmd("QUIT", 221)
    sessions = up.wait_sessions_ended()
    check_eq(up.messages(), [], "nothing delivered")
    # pieces already on their way when the refusal came are fine; the
    # client's second chunk, sent after it, never reaches the upstream
    cmds = [x for sess in sessions for x in sess["commands"]]
    check(not any(x.upper().endswith(" LAST") for x in cmds),
          "a LAST after the refusal: %s" % cmds)


@suite.case
def bdat_ending_in_a_bare_cr_is_refused_at_once(ctx):
    """body.bare_newlines: reject, and the last chunk ends in a CR: only
    the end of the message shows that CR bare. The client gets 550 5.6.0
    at once and the upstream no message, passed through or bridged.
    Found by fuzz_session: the session waited for a reply to an end of
    data it never sent (minutes, then 451)."""
    for script in (MODERN, ()):
        up, pp = start(ctx, script, opts=["body.bare_newlines=reject"])
        c = pp.client()
        envelope(c)
        t0 = time.time()
        r = bdat(c, b"Subject: cr\r\n\r\nends in a bare CR\r", last=True)
        expect(r, 550, "5.6.0", what="the BDAT LAST (%s)" % (
            "modern" if script else "legacy"))
        check(time.time() - t0 < 3, "answered at once")
        c.cmd("QUIT", 221)
        time.sleep(0.2)
        check_eq(up.messages(), [], "nothing delivered")


@suite.case
def rset_between_bridged_chunks_aborts_the_data(ctx):
    """Bridged to DATA, the upstream is inside the message between the
    client's chunks: a RSET there cannot be relayed (it would be content)
    and the upstream session is dropped instead, at once. Found by
    fuzz_session: it went out as content and the session waited minutes
    for its reply."""
    up, pp = start(ctx)
    c = pp.client()
    envelope(c)
    expect(bdat(c, b"Subject: x\r\n\r\nabc"), 250, "2.0.0")
    t0 = time.time()
    c.cmd("RSET", 250)
    check(time.time() - t0 < 3, "RSET answered at once")
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<b@example.net>", 250)
    expect(bdat(c, b"Subject: y\r\n\r\nafter\r\n", last=True), 250)
    c.cmd("QUIT", 221)
    msgs = up.wait_messages(1)
    check_eq([m["content"] for m in msgs],
             [b"Subject: y\r\n\r\nafter\r\n"], "only the second message")
    raw = "".join(r for sess in up.sessions() for r in sess["reads"])
    check("abcRSET" not in raw and "abc\r\nRSET" not in raw,
          "RSET never sent as content")


@suite.case
def bdat_sequence_errors_skip_chunk_bytes(ctx):
    up, pp = start(ctx)
    c = pp.client()
    c.ehlo()
    # chunk bytes that look like commands must not run as commands
    evil = b"RSET\r\nQUIT\r\n"
    r = bdat(c, evil)
    expect(r, 503, "5.5.1")
    c.cmd("NOOP", 250)
    c.cmd("BDAT x", 501, "5.5.4")
    c.cmd("MAIL FROM:<a@example.org>", 250)
    expect(bdat(c, evil), 503, "5.5.1")
    c.cmd("RCPT TO:<b@example.net>", 250)
    expect(bdat(c, b"hello\r\n"), 250, "2.0.0")
    c.cmd("DATA", 503, "5.5.1")
    c.cmd("RCPT TO:<c@example.net>", 503, "5.5.1")
    expect(bdat(c, b"", last=True), 250)
    m = up.wait_messages(1)[0]
    check_eq(m["content"], b"hello\r\n", "content")
    # every recipient refused: 554, and the chunk is still read (a new
    # session: the upstream reads its script at each connection)
    up.set_script(["REPLY RCPT 550 5.1.1 no such user"])
    c2 = pp.client()
    c2.ehlo()
    c2.cmd("MAIL FROM:<a@example.org>", 250)
    c2.cmd("RCPT TO:<x@example.net>", 550)
    expect(bdat(c2, evil, last=True), 554, "5.5.1")
    c2.cmd("NOOP", 250)


@suite.case
def bdat_pipelined_chunks_in_one_write(ctx):
    up, pp = start(ctx, MODERN)
    c = pp.client()
    c.ehlo()
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
           b"BDAT 7\r\nhello\r\nBDAT 8 LAST\r\nworld!\r\n")
    rs = c.replies(4)
    check_eq([r.code for r in rs], [250, 250, 250, 250], "reply codes")
    check("queued as" in rs[3].text, "LAST gets the upstream's reply")
    m = up.wait_messages(1)[0]
    check_eq(m["content"], b"hello\r\nworld!\r\n", "content")


@suite.case
def bdat_size_exceeded(ctx):
    for script in ([], MODERN):
        up, pp = start(ctx, script, opts=["limits.message_size=64K"])
        c = pp.client()
        envelope(c)
        expect(bdat(c, b"a" * 40000 + b"\r\n"), 250)
        expect(bdat(c, b"b" * 40000 + b"\r\n"), 552, "5.3.4")
        # the transaction is over: further chunks are refused and skipped
        expect(bdat(c, b"c" * 10, last=True), 503, "5.5.1")
        c.cmd("NOOP", 250)
        time.sleep(0.3)
        check_eq(len(up.messages()), 0, "nothing delivered")


@suite.case
def bdat_client_closes_mid_chunk(ctx):
    for script in ([], MODERN):
        up, pp = start(ctx, script)
        c = pp.client()
        envelope(c)
        c.send(b"BDAT 100000 LAST\r\n" + b"z" * 50000)
        time.sleep(0.3)
        c.close()
        time.sleep(0.5)
        check_eq(len(up.messages()), 0, "nothing delivered")
        pp.check_alive()


@suite.case
def bdat_large_message_constant_memory(ctx):
    # no SIZE from the upstream: its limit would otherwise apply
    # one process (no master), so its memory is the one measured
    up, pp = start(ctx, ["RECORD_BODY off", "EHLO_KEYWORDS ETRN"],
                   opts=["limits.message_size=1G", "process.master=off"])
    c = pp.client(timeout=60)
    envelope(c)

    def hwm():
        with open("/proc/%d/status" % pp.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    before = hwm()
    chunk = (b"y" * 1022 + b"\r\n") * 1024  # 1 MiB
    total = 200
    for i in range(total):
        last = i == total - 1
        c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b""))
        c.send(chunk)
    # one deadline for all the replies, well inside the file's budget
    deadline = time.time() + 150
    rs = []
    for i in range(total):
        left = deadline - time.time()
        check(left > 0, "replies to %d BDAT chunks within 150 s: %d came"
              % (total, i))
        rs.append(c.reply(timeout=left))
    check(all(r.code == 250 for r in rs), "every chunk accepted")
    m = up.wait_messages(1, timeout=30)[0]
    check_eq(m["size"], total * len(chunk), "size at the upstream")
    grown = hwm() - before
    ctx.note("200 MiB via BDAT->DATA: VmHWM grew %d KiB" % grown)
    check(grown < 8 * 1024, "memory grew by %d KiB" % grown)


@suite.case
def dsn_passed_only_when_the_upstream_has_it(ctx):
    up, pp = start(ctx, MODERN)
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=ID+2B1", 250)
    c.cmd("RCPT TO:<b@example.net> NOTIFY=FAILURE,DELAY "
          "ORCPT=rfc822;b@example.net", 250)
    c.cmd("RCPT TO:<c@example.net> NOTIFY=bogus", 501, "5.5.4")
    c.cmd("RSET", 250)
    cmds = up.mail_sessions()[-1]["commands"]
    check("MAIL FROM:<a@example.org> RET=HDRS ENVID=ID+2B1" in cmds, cmds)
    check("RCPT TO:<b@example.net> NOTIFY=FAILURE,DELAY "
          "ORCPT=rfc822;b@example.net" in cmds, cmds)
    up2, pp2 = start(ctx)
    c2 = pp2.client()
    c2.ehlo()
    c2.cmd("MAIL FROM:<a@example.org> RET=HDRS", 555, "5.5.4")


@suite.case
def smtputf8_only_when_the_upstream_has_it(ctx):
    up, pp = start(ctx, MODERN)
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<j\xf6rg@example.org>", 553, "5.6.7")
    c.cmd(b"MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8", 250)
    c.cmd(b"RCPT TO:<\xc3\xa9@example.net>", 250)
    c.cmd("RSET", 250)
    cmds = [x.encode("latin-1") for x in up.mail_sessions()[-1]["commands"]]
    check(b"MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8" in cmds, cmds)
    up2, pp2 = start(ctx)
    c2 = pp2.client()
    c2.ehlo()
    c2.cmd(b"MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8", 555, "5.5.4")
    c2.cmd(b"MAIL FROM:<j\xc3\xb6rg@example.org>", 553, "5.6.7")


@suite.case
def eightbit_towards_a_7bit_upstream(ctx):
    up, pp = start(ctx)  # pass (default): sent as is, BODY dropped
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME", 250)
    c.cmd("RCPT TO:<b@example.net>", 250)
    c.cmd("DATA", 354)
    c.send(b"caf\xc3\xa9\r\n.\r\n")
    expect(c.reply(), 250)
    check("MAIL FROM:<a@example.org>" in up.mail_sessions()[-1]["commands"],
          "BODY=8BITMIME not sent to a 7-bit upstream")
    up2, pp2 = start(ctx, opts=["ehlo.eightbit=reject"])
    c2 = pp2.client()
    c2.ehlo()
    c2.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME", 554, "5.6.3")
    c2.cmd("MAIL FROM:<a@example.org>", 250)
    c2.cmd("RCPT TO:<b@example.net>", 250)
    c2.cmd("DATA", 354)
    c2.send(b"caf\xc3\xa9\r\n.\r\n")
    expect(c2.reply(), 554, "5.6.3")
    c2.cmd("MAIL FROM:<a@example.org>", 250)
    c2.cmd("RCPT TO:<b@example.net>", 250)
    c2.cmd("DATA", 354)
    c2.send(b"plain ascii\r\n.\r\n")
    expect(c2.reply(), 250)
    check_eq(len(up2.messages()), 1, "only the 7-bit message delivered")


@suite.case
def requiretls_needs_tls_on_both_legs(ctx):
    """RFC 8689: REQUIRETLS is offered only over TLS and only when the
    upstream block is tls: verify (and the upstream offers it): over a
    plaintext client leg it is not offered, and the parameter is 555."""
    up, pp = start(ctx, ["EHLO_KEYWORDS PIPELINING, REQUIRETLS"])
    c = pp.client()
    r = c.cmd("EHLO client.example", 250)
    check("REQUIRETLS" not in keywords(r), "not offered: %r" % r.raw)
    c.cmd("MAIL FROM:<a@example.org> REQUIRETLS", 555, "5.5.4")
    c.cmd("QUIT", 221)


if __name__ == "__main__":
    suite.run()
