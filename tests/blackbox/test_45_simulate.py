#!/usr/bin/python3
"""postern --simulate: a dialogue on stdin runs through the real session
code and policy against the built-in mock upstream; the transcript names
the rule behind each reply."""

import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Suite, check, check_eq  # noqa: E402

suite = Suite("test_45_simulate")

CONFIG = """\
listeners:
  - name: mx
    address: "127.0.0.1:1"
  - name: submission
    address: "127.0.0.1:2"
upstreams:
  - name: main
    addresses: ["192.0.2.1:25"]
  - name: legacy
    addresses: ["192.0.2.2:25"]
policy:
  rules:
    - name: submission-needs-tls
      stage: connect
      if:
        - listener: submission
      then: require_tls
    - name: blocklist
      stage: connect
      if:
        - client_address: {cidr: [198.51.100.0/24]}
      then: 'reject 554 5.7.1 "Blocked"'
    - name: no-localhost-helo
      stage: helo
      if:
        - helo: [localhost]
      then: 'reject 550 5.7.1 "HELO ${helo} refused"'
    - name: legacy-senders
      stage: mail
      if:
        - sender: {domain: legacy.example}
      then: upstream legacy
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
"""

DIALOGUE = """\
EHLO localhost
EHLO client.example
MAIL FROM:<u@legacy.example>
RCPT TO:<trap@example.net>
RCPT TO:<bob@example.net>
DATA
Subject: cheap viagra

hello
.
MAIL FROM:<a@example.org>
RCPT TO:<bob@example.net>
DATA
Subject: fine

..a line that starts with a dot
.
QUIT
"""


def simulate(ctx, dialogue, *extra, config=CONFIG):
    cfg = ctx.path("simulate.yaml")
    with open(cfg, "w") as f:
        f.write(config)
    p = subprocess.run([ctx.postern_bin, "-c", cfg, "--simulate"] +
                       list(extra), input=dialogue.encode(),
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def without_trace(out):
    return [x for x in out.splitlines() if not x.startswith("   rule: ")]


def at(name):
    """The line of rule `name` in CONFIG."""
    return CONFIG.splitlines().index("    - name: " + name) + 1


def lines_after(out, marker, trace=False):
    """The transcript lines that follow the first line equal to marker;
    without trace, the per-rule lines are left out."""
    lines = out.splitlines()
    check(marker in lines, "transcript has %r:\n%s" % (marker, out))
    return [x for x in lines[lines.index(marker) + 1:]
            if trace or not x.startswith("   rule: ")]


@suite.case
def simulate_traces_every_rule(ctx):
    """Each rule the policy looked at, before the stage's verdict: which
    condition did not hold, which action applied (issue 5)."""
    rc, out, err = simulate(ctx, DIALOGUE)
    check_eq(rc, 0, "exit status (stderr: %s)" % err)
    cfg = ctx.path("simulate.yaml")
    lines = out.splitlines()
    check_eq(lines[:3], [
        "   rule: submission-needs-tls at=%s:%d no-match condition=1"
        % (cfg, at("submission-needs-tls")),
        "   rule: blocklist at=%s:%d no-match condition=1"
        % (cfg, at("blocklist")),
        '   policy: stage=connect rule="(none)" verdict=continue'],
        "connect stage")
    after = lines_after(out, "C: MAIL FROM:<u@legacy.example>", trace=True)
    check_eq(after[0], "   rule: legacy-senders at=%s:%d match: upstream "
             "legacy" % (cfg, at("legacy-senders")), "the routing rule")
    after = lines_after(out, "C: RCPT TO:<trap@example.net>", trace=True)
    check_eq(after[0], '   rule: no-spamtrap at=%s:%d match: reject 550 '
             '5.1.1 "No such user"' % (cfg, at("no-spamtrap")),
             "the deciding rule")
    # the header rule at a field it does not match: its first condition
    check("   rule: spam-subject at=%s:%d no-match condition=2"
          % (cfg, at("spam-subject")) in lines, "header trace:\n" + out)


@suite.case
def simulate_names_the_deciding_rule(ctx):
    rc, out, err = simulate(ctx, DIALOGUE)
    check_eq(rc, 0, "exit status (stderr: %s)" % err)
    after = lines_after(out, "C: EHLO localhost")
    check(after[0].startswith('   policy: stage=helo rule="no-localhost-helo"')
          and after[0].endswith("verdict=reject"), "helo note: %r" % after[0])
    check_eq(after[1], "S: 550 5.7.1 HELO localhost refused", "helo reply")
    after = lines_after(out, "C: MAIL FROM:<u@legacy.example>")
    check(after[0].endswith("verdict=continue upstream=legacy"),
          "routing shown: %r" % after[0])
    check_eq(after[1], "S: 250 2.0.0 Ok", "MAIL reply")
    after = lines_after(out, "C: RCPT TO:<trap@example.net>")
    check('rule="no-spamtrap"' in after[0], "rcpt note: %r" % after[0])
    check_eq(after[1], "S: 550 5.1.1 No such user", "rcpt reply")
    check("S: 550 5.7.1 Message content rejected" in out.splitlines(),
          "header rule rejected the first message:\n" + out)
    # the second message goes through to the mock and is accepted
    check("S: 250 2.0.0 Ok: queued as MOCK" in out.splitlines(),
          "second message accepted:\n" + out)
    check_eq(out.splitlines()[-1], "S: 221 2.0.0 Bye", "last line")


@suite.case
def simulate_client_address(ctx):
    rc, out, _ = simulate(ctx, "EHLO a.example\nQUIT\n",
                          "--client", "198.51.100.7")
    check_eq(rc, 0, "exit status")
    lines = without_trace(out)
    check('rule="blocklist"' in lines[0], "connect note: %r" % lines[0])
    check_eq(lines[1], "S: 554 5.7.1 Blocked", "connect reply")
    rc, out, _ = simulate(ctx, "EHLO a.example\nQUIT\n",
                          "--client", "2001:db8::1")
    check_eq(rc, 0, "exit status")
    check(without_trace(out)[1].startswith("S: 220 "), "greeting:\n" + out)


@suite.case
def simulate_large_message_and_input_limit(ctx):
    # 770 KB of message queued at once must reach the mock whole
    body = ("x" * 70 + "\n") * 11000
    dialogue = ("EHLO a.example\nMAIL FROM:<a@example.org>\n"
                "RCPT TO:<b@example.net>\nDATA\nSubject: big\n\n" +
                body + ".\nQUIT\n")
    rc, out, err = simulate(ctx, dialogue)
    check_eq(rc, 0, "exit status (stderr: %s)" % err)
    lines = out.splitlines()
    check("C: (11002 message lines and the final dot)" in lines,
          "message sent:\n" + "\n".join(lines[-6:]))
    check("S: 250 2.0.0 Ok: queued as MOCK" in lines, "accepted")
    rc, out, err = simulate(ctx, "x" * (1024 * 1024 + 1))
    check_eq(rc, 1, "exit status for an oversized dialogue")
    check("over 1048576 bytes" in err, "stderr: %r" % err)


@suite.case
def simulate_listener(ctx):
    dialogue = "EHLO a.example\nMAIL FROM:<a@example.org>\nQUIT\n"
    rc, out, _ = simulate(ctx, dialogue)
    check_eq(rc, 0, "exit status")
    check_eq(lines_after(out, "C: MAIL FROM:<a@example.org>")[1],
             "S: 250 2.0.0 Ok", "MAIL on the first listener")
    rc, out, _ = simulate(ctx, dialogue, "--listener", "submission")
    check_eq(rc, 0, "exit status")
    check(without_trace(out)[0].endswith("verdict=continue require_tls"),
          "connect note: %r" % without_trace(out)[0])
    check_eq(lines_after(out, "C: MAIL FROM:<a@example.org>")[0],
             "S: 530 5.7.0 Must issue a STARTTLS command first",
             "MAIL on the submission listener")
    rc, _, err = simulate(ctx, "", "--listener", "nope")
    check_eq(rc, 2, "exit status for an unknown listener")
    check("no such listener" in err, "stderr: %r" % err)


@suite.case
def simulate_beside_a_running_instance(ctx):
    """An administrator simulates on the machine where postern runs: the
    configured listener's address is taken, and the simulation must not
    need it (it listens on a free loopback port of its own)."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        config = CONFIG.replace('"127.0.0.1:1"', '"127.0.0.1:%d"' % port, 1)
        check(config != CONFIG, "the listener address replaced")
        rc, out, err = simulate(ctx, "EHLO a.example\nMAIL FROM:<a@example.org>"
                                "\nQUIT\n", config=config)
        check_eq(rc, 0, "exit status (stderr %r)" % err)
        check_eq(lines_after(out, "C: MAIL FROM:<a@example.org>")[1],
                 "S: 250 2.0.0 Ok", "MAIL simulated")
    finally:
        busy.close()


@suite.case
def simulate_rejects_a_bad_client(ctx):
    rc, out, err = simulate(ctx, "", "--client", "not-an-address")
    check_eq(rc, 2, "exit status")
    check("not an IPv4 or IPv6 address" in err, "stderr: %r" % err)


if __name__ == "__main__":
    suite.run()
