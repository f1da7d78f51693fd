#!/usr/bin/python3
"""20-commands: the inbound RFC 5321 command table, with a raw client.

Each case opens its own client session and checks the exact codes (and
enhanced codes) postern answers; where a command reaches the upstream,
the upstream's side of the transcript is checked too.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Postern, Suite, Upstream, check,  # noqa: E402
                 check_eq, expect, expect_class)

suite = Suite("test_20_commands")
S = {}


def wait_probe(pp, timeout=20):
    """Waits until the capability probe has learnt the upstream's EHLO
    list (worker 0 logs it at info level)."""
    pp.wait(r"event=upstream_probe ", timeout=timeout,
            what="capability probe")


def shared(ctx):
    # One worker, and its probe done before the first case: no probe can
    # come later and read a script a case has set on the shared upstream.
    if "pp" not in S:
        S["up"] = Upstream(ctx)
        S["pp"] = Postern(ctx, upstream=S["up"].addr,
                          opts=["limits.message_size=10M",
                                "limits.errors_per_session=1000",
                                "process.workers=1"])
        wait_probe(S["pp"])
    S["up"].set_script([])
    return S["up"], S["pp"]


def greeted(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    c.ehlo()
    return up, c


def last_mail_session(up):
    return up.mail_sessions()[-1]


@suite.case
def greeting_220(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    expect(c.greeting, 220, what="greeting")
    check(not c.greeting.multiline, "greeting is multi-line: %r" % c.greeting.raw)
    c.cmd("QUIT", 221)
    c.expect_closed()


@suite.case
def ehlo_offers_the_right_keywords(ctx):
    # An upstream offering what postern must not pass through, with a
    # SIZE below postern's own limit. Its own upstream and postern (one
    # worker), and EHLO only once the probe has read this list: the
    # offered list is then the one learnt from this script, never from
    # another case's.
    up = Upstream(ctx, name="upstream-keywords",
                  script=["EHLO_KEYWORDS SIZE 1000, PIPELINING, CHUNKING, "
                          "STARTTLS, 8BITMIME, XFOO bar, ETRN"])
    pp = Postern(ctx, upstream=up.addr, name="postern-keywords",
                 opts=["limits.message_size=10M", "process.workers=1"])
    wait_probe(pp)
    check("size=1000 " in pp.log(), "the probe read SIZE 1000:\n" +
          pp.log_tail())
    c = pp.client()
    r = c.cmd("EHLO client.example", 250)
    check(r.multiline, "EHLO reply is not multi-line: %r" % r.raw)
    check(r.lines[0] != "" and " " not in r.lines[0].split(" ")[0],
          "first EHLO line should be the server's name: %r" % r.lines[0])
    kws = [l.upper() for l in r.lines[1:]]
    # SIZE is the smaller of limits.message_size (10485760) and the
    # upstream's 1000 (RFC 1870). CHUNKING is Postern's own (bridged to
    # DATA when the upstream lacks it); STARTTLS (not configured on this
    # listener), vendor keywords and ETRN are never passed through.
    for want in ("PIPELINING", "SIZE 1000", "8BITMIME",
                 "ENHANCEDSTATUSCODES", "CHUNKING"):
        check(want in kws, "EHLO lacks %r: %r" % (want, r.raw))
    sizes = [k for k in kws if k.split(" ")[0] == "SIZE"]
    check_eq(sizes, ["SIZE 1000"], "SIZE lines offered")
    for bad in ("STARTTLS", "XFOO", "ETRN"):
        check(not any(k.split(" ")[0] == bad for k in kws),
              "EHLO offers %r: %r" % (bad, r.raw))
    c.cmd("QUIT", 221)
    pp.stop()
    up.stop()


@suite.case
def helo_single_line(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    r = c.cmd("HELO client.example", 250)
    check(not r.multiline, "HELO reply is multi-line: %r" % r.raw)
    # After HELO a transaction works.
    c.cmd("MAIL FROM:<helo@example.org>", 250)
    c.cmd("RCPT TO:<r@example.net>", 250)
    c.cmd("QUIT", 221)


@suite.case
def verbs_case_insensitive(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    r = c.cmd("ehlo client.example", 250)
    check(r.multiline, "lower-case ehlo: not the EHLO reply: %r" % r.raw)
    c.cmd("nOoP", 250)
    c.cmd("Rset", 250)
    c.cmd("mail from:<lower@example.org>", 250)
    c.cmd("rcpt to:<lower@example.net>", 250)
    c.cmd("data", 354)
    c.send(b"Subject: lc\r\n\r\nx\r\n.\r\n")
    expect(c.reply(), 250, what="end of data")
    c.cmd("quit", 221)
    c.expect_closed()
    m = up.wait_messages(1)[-1]
    check_eq((m["mail_from"], m["rcpts"]),
             ("lower@example.org", ["lower@example.net"]), "upstream envelope")


@suite.case
def noop_rset_vrfy_help(ctx):
    up, c = greeted(ctx)
    expect_class(c.cmd("NOOP", 250), 2, "NOOP")
    expect_class(c.cmd("NOOP with an argument", 250), 2, "NOOP arg")
    expect_class(c.cmd("RSET", 250), 2, "RSET")
    r = c.cmd("VRFY postmaster", 252)
    expect_class(r, 2, "VRFY")
    r = c.cmd("HELP")
    check(r.code in (211, 214), "HELP: wanted 211 or 214, got %r" % r.raw)
    c.cmd("QUIT", 221)


@suite.case
def quit_221_and_close(ctx):
    up, c = greeted(ctx)
    r = c.cmd("QUIT", 221)
    expect_class(r, 2, "QUIT")
    c.expect_closed(3)


@suite.case
def unknown_command_500_551(ctx):
    up, c = greeted(ctx)
    c.cmd("FOO bar", 500, "5.5.1")
    c.cmd("XYZZY", 500, "5.5.1")
    # BDAT outside a transaction is a bad sequence, and its chunk is read
    # and dropped, never run as commands (RFC 3030 4.2).
    c.send(b"BDAT 10 LAST\r\nQUIT\r\nXX\r\n")
    r = c.reply()
    expect(r, 503, "5.5.1", what="BDAT without MAIL")
    c.cmd("NOOP", 250)  # the session goes on
    c.cmd("QUIT", 221)


@suite.case
def syntax_errors_501(ctx):
    up, c = greeted(ctx)
    c.cmd("EHLO", 501, "5.5.4")
    c.cmd("HELO", 501, "5.5.4")
    c.cmd("EHLO client.example", 250)
    c.cmd("MAIL FROM:<alice@@example.org>", 501, "5.1.7")
    c.cmd("MAIL FROM:<alice@example..org>", 501, "5.1.7")
    c.cmd("MAIL FROM:<alice@example.org> SIZE=abc", 501, "5.5.4")
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<bob@@example.net>", 501, "5.1.3")
    c.cmd("RCPT TO:<bob@example..net>", 501, "5.1.3")
    c.cmd("RCPT TO:<bob@example.net>", 250)
    c.cmd("QUIT", 221)


@suite.case
def mailbox_forms_accepted(ctx):
    up, c = greeted(ctx)
    before = len(up.messages())
    c.cmd("MAIL FROM:<>", 250)
    c.cmd('RCPT TO:<"john doe"@example.net>', 250)
    c.cmd("RCPT TO:<@relay.example:bob@example.net>", 250)  # source route
    c.cmd("RCPT TO:<Postmaster>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: forms\r\n\r\nx\r\n.\r\n")
    expect(c.reply(), 250, what="end of data")
    msgs = up.wait_messages(before + 1)
    m = msgs[-1]
    check_eq(m["mail_from"], "", "null reverse-path at the upstream")
    check_eq(m["rcpts"], ['"john doe"@example.net', "bob@example.net",
                          "Postmaster"],
             "recipients at the upstream (source route dropped)")
    c.cmd("QUIT", 221)


@suite.case
def bad_sequence_503(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    c.cmd("MAIL FROM:<early@example.org>", 503, "5.5.1")  # before EHLO
    c.cmd("EHLO client.example", 250)
    c.cmd("RCPT TO:<r@example.net>", 503, "5.5.1")  # before MAIL
    c.cmd("DATA", 503, "5.5.1")  # before MAIL
    c.cmd("MAIL FROM:<s@example.org>", 250)
    c.cmd("DATA", 503, "5.5.1")  # before RCPT
    c.cmd("MAIL FROM:<again@example.org>", 503, "5.5.1")  # nested MAIL
    c.cmd("RCPT TO:<r@example.net>", 250)
    c.cmd("RSET", 250)
    c.cmd("RCPT TO:<r@example.net>", 503, "5.5.1")  # RSET ended it
    c.cmd("MAIL FROM:<s@example.org>", 250)
    c.cmd("EHLO client.example", 250)
    c.cmd("RCPT TO:<r@example.net>", 503, "5.5.1")  # EHLO ended it
    c.cmd("QUIT", 221)


@suite.case
def rset_mid_transaction_then_session_goes_on(ctx):
    # RSET once the upstream is open (MAIL accepted) is relayed; the
    # client session must go on: NOOP, then a whole new transaction.
    up, c = greeted(ctx)
    before = len(up.messages())
    c.cmd("MAIL FROM:<first@example.org>", 250)
    c.cmd("RCPT TO:<r@example.net>", 250)
    c.cmd("RSET", 250)
    c.cmd("NOOP", 250)
    r = c.send_message(b"Subject: after rset\r\n\r\nx\r\n",
                       mail="<second@example.org>")
    expect(r, 250, what="end of data after RSET")
    m = up.wait_messages(before + 1)[-1]
    check_eq(m["mail_from"], "second@example.org", "upstream MAIL FROM")
    c.cmd("QUIT", 221)


@suite.case
def data_when_every_rcpt_refused_554(ctx):
    up, pp = shared(ctx)
    up.set_script(["REPLY RCPT 550 No such user"])
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<s@example.org>", 250)
    check_eq(c.cmd("RCPT TO:<x@example.net>").raw,
             b"550 5.1.1 No such user\r\n", "RCPT x")
    check_eq(c.cmd("RCPT TO:<y@example.net>").raw,
             b"550 5.1.1 No such user\r\n", "RCPT y")
    c.cmd("DATA", 554, "5.5.1")
    c.cmd("RSET", 250)
    c.cmd("QUIT", 221)
    c.expect_closed()
    sess = last_mail_session(up)
    check("DATA" not in [x.upper() for x in sess["commands"]],
          "DATA reached the upstream: %r" % sess["commands"])


@suite.case
def command_line_512_limit(ctx):
    up, c = greeted(ctx)
    c.cmd("NOOP " + "x" * 505, 250)  # 512 octets with CRLF
    c.cmd("NOOP " + "x" * 506, 500, "5.5.2")  # 513 octets
    c.cmd("NOOP " + "y" * 2000, 500, "5.5.2")
    c.cmd("NOOP", 250)  # the session goes on
    c.cmd("QUIT", 221)


@suite.case
def unknown_parameters_555(ctx):
    up, c = greeted(ctx)
    c.cmd("MAIL FROM:<s@example.org> FOO=bar", 555, "5.5.4")
    c.cmd("MAIL FROM:<s@example.org> XYZ", 555, "5.5.4")
    c.cmd("MAIL FROM:<s@example.org>", 250)
    c.cmd("RCPT TO:<r@example.net> FOO=bar", 555, "5.5.4")
    c.cmd("RCPT TO:<r@example.net>", 250)
    c.cmd("QUIT", 221)


@suite.case
def mail_size_param(ctx):
    up, c = greeted(ctx)
    c.cmd("MAIL FROM:<s@example.org> SIZE=10485761", 552, "5.3.4")
    c.cmd("MAIL FROM:<s@example.org> SIZE=1000", 250)
    c.cmd("QUIT", 221)


@suite.case
def upstream_transcript_and_quit(ctx):
    up, pp = shared(ctx)
    c = pp.client()
    c.ehlo()
    r = c.send_message(b"Subject: t\r\n\r\nhi\r\n", mail="<a@example.org>",
                       rcpts=("<b@example.net>",))
    expect(r, 250, what="end of data")
    c.cmd("QUIT", 221)
    c.expect_closed()
    sid = up.messages()[-1]["session"]
    sess = up.wait_for(lambda: [s for s in up.sessions()
                                if s["id"] == sid and s["ended"]],
                       5, "upstream session end")[0]
    verbs = [x.split(" ")[0].upper() for x in sess["commands"]]
    check_eq(verbs, ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"],
             "upstream command sequence")
    check(sess["commands"][1].startswith("MAIL FROM:<a@example.org>"),
          "upstream MAIL: %r" % sess["commands"][1])
    check_eq(sess["commands"][2], "RCPT TO:<b@example.net>", "upstream RCPT")


@suite.case
def mail_reply_is_the_upstreams(ctx):
    up, pp = shared(ctx)
    up.set_script(["EHLO_KEYWORDS ENHANCEDSTATUSCODES",
                   "REPLY MAIL 550 5.7.1 Sender blocked by upstream"])
    c = pp.client()
    c.ehlo()
    r = c.cmd("MAIL FROM:<blocked@example.org>")
    check_eq(r.raw, b"550 5.7.1 Sender blocked by upstream\r\n", "MAIL reply")
    c.cmd("RCPT TO:<r@example.net>", 503, "5.5.1")  # no transaction
    c.cmd("QUIT", 221)
    # A new client session gets a new upstream session (new script).
    up.set_script(["REPLY MAIL 451 Try again later"])
    c = pp.client()
    c.ehlo()
    r = c.cmd("MAIL FROM:<later@example.org>")
    check_eq(r.code, 451, "MAIL reply code")
    check(r.enh is not None and r.enh.startswith("4."),
          "no 4.x.x enhanced code synthesised: %r" % r.raw)
    check_eq(r.text, "Try again later", "MAIL reply text")
    c.cmd("QUIT", 221)


if __name__ == "__main__":
    suite.run()
