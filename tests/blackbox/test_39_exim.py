#!/usr/bin/python3
"""39-exim: Postern in front of a real Exim 4 (issue 4).

A private, unprivileged Exim (Debian's exim4-daemon-light binary, unpacked
by scripts/deps.sh into $POSTERN_TEST_CACHE/exim4/root, never installed:
Debian's exim4 packages conflict with postfix) runs as the system user
Debian-exim that the binary is built for, in the foreground (-bdf), with
its own configuration (-C), spool, logs and maildirs in the temp dir.
Each instance listens on a free loopback port and delivers every accepted
recipient of the domain exim.test to a maildir (appendfile, use_crlf, so
a delivered file is Exim's trace headers, then the message as sent). Its
ACLs log each MAIL, RCPT and the command that opened the message data
(`CMD ...` lines in its mainlog), which is how the suite sees what Postern
sent upstream. Three instances:

  main     CHUNKING, PIPELINING, SMTPUTF8, message_size_limit = 200K
  nochunk  chunking_advertise_hosts empty: no CHUNKING
  nopipe   pipelining_advertise_hosts empty: no PIPELINING (Exim then
           enforces strict command synchronisation)

What Exim (4.96, Debian 12) does that the scripted upstreams do not:
- its EHLO lists PIPECONNECT and HELP, which Postern does not pass on;
- its replies carry no enhanced status codes (250 OK, 250 Accepted,
  550 Unrouteable address), so Postern synthesizes them, except where an
  ACL message starts with one (`550 5.7.1 ...`), which is kept as is;
- it enforces SMTP synchronisation: message data sent after DATA before
  its 354, or a command pipelined to it when it did not offer PIPELINING,
  gets `554 SMTP synchronization error` and the connection is dropped (the
  nopipe case shows it to a direct client first);
- it answers the last BDAT with two lines (`250- N byte chunk, total T`,
  `250 OK id=...`); Postern re-chunks a relayed BDAT message, so the
  client reads the size of Postern's last piece there;
- acl_smtp_predata does not run for BDAT (no `CMD BDAT` line);
- a message with SMTPUTF8 has the protocol `utf8esmtp`;
- it logs whether the client pipelined (` L` without `-` on the `<=`
  line), whether BDAT was used (` K`) and the BODY type (`M8S=`);
- messages past smtp_accept_queue_per_connection (default 10) in one
  SMTP session are only queued; Postern reuses upstream sessions, so the
  configuration sets it to 0 (no queue runner runs here);
- -C with a file not in its TRUSTED_CONFIG_LIST makes it log "exim user
  lost privilege for using -C option", in the paniclog too, at each start.
"""

import os
import pwd
import re
import signal
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import (Postern, Suite, TestFailure, check, check_eq,  # noqa: E402
                 expect, free_port, is_listening)

CACHE = os.environ.get("POSTERN_TEST_CACHE", "/var/cache/postern-test")
EXIM = os.environ.get("POSTERN_EXIM",
                      os.path.join(CACHE, "exim4", "root", "usr", "sbin",
                                   "exim4"))
EXIM_USER = "Debian-exim"   # the binary's compiled-in EXIM_USER (ref:)
DOMAIN = "exim.test"
PN_HELO = "postern.test.example"
USERS = ("bob", "carol", "dave", "d\xf6rte")   # the router's local parts
LIMIT = 200 * 1024                               # main's message_size_limit


def skip_reason():
    """Why a private Exim cannot run here, or None."""
    if not os.access(EXIM, os.X_OK):
        return ("no private Exim at %s (scripts/deps.sh fetches Debian's "
                "exim4-daemon-light and unpacks it there)" % EXIM)
    try:
        pw = pwd.getpwnam(EXIM_USER)
    except KeyError:
        return ("no system user %s (the Debian binary refuses to start "
                "without it; scripts/deps.sh makes it)" % EXIM_USER)
    if os.geteuid() not in (0, pw.pw_uid):
        return "neither root nor %s: only an Exim admin may run -bd" % \
            EXIM_USER
    try:
        r = subprocess.run([EXIM, "-C", "/dev/null", "-bV"],
                           capture_output=True, timeout=10,
                           preexec_fn=_drop_to(pw))
    except (OSError, subprocess.SubprocessError) as e:
        return "%s -bV failed: %s" % (EXIM, e)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    if "Exim version 4." not in out:
        return "%s -bV: %s" % (EXIM, out.strip()[-300:])
    return None


def _drop_to(pw):
    """preexec_fn: become the Exim user (when root), then die with the
    test (PR_SET_PDEATHSIG after the uid change, which would clear it)."""
    def fn():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        lib._child_setup()
    return fn


_reason = skip_reason()
if _reason:
    # before the Suite exists, which would count 0 passed as a failure
    print("test_39_exim: SKIPPED: %s" % _reason)
    sys.exit(0)
PW = pwd.getpwnam(EXIM_USER)

suite = Suite("test_39_exim", budget=110)
S = {}


# --------------------------------------------------------------- private Exim

CONFIGURE = r"""
# written by test_39_exim.py
exim_path = %(exim)s
keep_environment =
spool_directory = %(d)s/spool
log_file_path = %(d)s/log/%%slog
pid_file_path = %(d)s/exim.pid
primary_hostname = exim.test.example
qualify_domain = exim.test
local_interfaces = 127.0.0.1
daemon_smtp_ports = %(port)d
domainlist local_domains = exim.test
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
smtp_accept_queue_per_connection = 0
log_selector = +all
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt
acl_smtp_predata = acl_predata
acl_smtp_data = acl_data
%(extra)s

begin acl

acl_mail:
  accept  logwrite = CMD $smtp_command

acl_rcpt:
  warn    logwrite = CMD $smtp_command
  deny    local_parts = refused
          message = No such user here
  deny    local_parts = policy
          message = 5.7.1 Refused by local policy
  deny    local_parts = multi
          message = First line of the refusal\nsecond line of it
  defer   local_parts = later
          message = Try this one later
  deny    ! domains = +local_domains
          message = Relaying denied
  require verify = recipient
  accept

acl_predata:
  accept  logwrite = CMD $smtp_command

acl_data:
  deny    condition = ${if def:h_X-Exim-Test-Reject:}
          message = Content refused here
  defer   condition = ${if def:h_X-Exim-Test-Defer:}
          message = Content deferred here
  accept

begin routers

local:
  driver = accept
  domains = +local_domains
  local_parts = %(users)s
  transport = maildir

begin transports

maildir:
  driver = appendfile
  directory = %(d)s/maildir/${local_part_data}
  maildir_format
  use_crlf
  delivery_date_add
  envelope_to_add
  return_path_add
  user = %(user)s
"""

INSTANCES = {
    "main": "message_size_limit = %d" % LIMIT,
    "nochunk": "chunking_advertise_hosts =",
    "nopipe": "pipelining_advertise_hosts =",
}


class Exim(lib.LogWatch):
    """One private Exim daemon; registered as an upstream of the ctx, so
    a failing case prints the tail of its mainlog."""

    def __init__(self, ctx, name):
        self.ctx = ctx
        self.name = name
        # the daemon runs as Debian-exim and opens files by absolute path
        os.chmod(ctx.tmp, 0o711)
        self.dir = ctx.mkdir("exim-" + name)
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.dir, "configure")
        self.mainlog = os.path.join(self.dir, "log", "mainlog")
        self.log_path = self.mainlog
        self.out = os.path.join(self.dir, "daemon.out")
        for sub in ("spool", "log", "maildir"):
            os.mkdir(os.path.join(self.dir, sub))
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(CONFIGURE % {
                "exim": EXIM, "d": self.dir, "port": self.port,
                "extra": INSTANCES[name], "users": " : ".join(USERS),
                "user": EXIM_USER})
        for root, dirs, files in os.walk(self.dir):
            for p in [root] + [os.path.join(root, x) for x in files]:
                os.chown(p, PW.pw_uid, PW.pw_gid)
        self.proc = None

    def start(self, timeout=10.0):
        t0 = time.time()
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(
                [EXIM, "-C", self.conf, "-bdf"], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir,
                preexec_fn=_drop_to(PW))
        lib._registry.append(self.proc)
        self.ctx.upstreams.append(self)
        while not (is_listening(self.port) and
                   "daemon started" in self.log()):
            if self.proc.poll() is not None:
                raise TestFailure("Exim %s exited at start (status %s):\n%s"
                                  % (self.name, self.proc.returncode,
                                     self.summary()))
            if time.time() > t0 + timeout:
                raise TestFailure("Exim %s did not start within %.0fs:\n%s"
                                  % (self.name, timeout, self.summary()))
            time.sleep(0.02)
        self.started_in = time.time() - t0
        return self

    def wait_failed(self, pattern, what, timeout):
        return TestFailure("Exim %s log: no %s within %.0fs (/%s/)"
                           % (self.name, what, timeout, pattern))

    def cmds(self, since=0):
        """The MAIL, RCPT and DATA/BDAT commands Exim received, in order,
        as its ACLs logged them (`[PID] CMD ...`): [(pid, command)]."""
        out = []
        for l in self.lines()[since:]:
            m = re.match(r"^\S+ \S+ \[(\d+)\] CMD (.*)$", l)
            if m:
                out.append((m.group(1), m.group(2)))
        return out

    def received(self, qid, since=0):
        """Exim's `<=` line of message qid, once it is there."""
        return self.wait(r"^.* %s <= .*$" % re.escape(qid), since=since,
                         what="the <= line of %s" % qid).group(0)

    def delivered(self, qid, user):
        """Waits for the delivery of qid to user's maildir; returns the
        file's bytes (the one whose Received header names qid)."""
        self.wait(r"^.* %s => %s <%s@%s> .* R=local T=maildir "
                  % (re.escape(qid), re.escape(user), re.escape(user),
                     DOMAIN), what="delivery of %s to %s" % (qid, user))
        new = os.path.join(self.dir, "maildir", user, "new")
        # Received: ... id QID;  (or "id QID\r\n\tfor ADDR;")
        mark = re.compile(rb"\r\n\tid %s[;\r]" % re.escape(qid.encode()))
        deadline = time.time() + 5
        while True:
            for name in sorted(os.listdir(new)):
                with open(os.path.join(new, name), "rb") as f:
                    data = f.read()
                if mark.search(data):
                    return data
            if time.time() > deadline:
                raise TestFailure("%s: no file of %s in %s" % (self.name, qid,
                                                               new))
            time.sleep(0.02)

    def maildir_count(self, user):
        new = os.path.join(self.dir, "maildir", user, "new")
        return len(os.listdir(new)) if os.path.isdir(new) else 0

    def processes(self):
        """Live processes running with this instance's configuration."""
        left = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%s/stat" % pid) as f:
                    st = f.read()
            except OSError:
                continue
            if self.conf.encode() in argv and \
                    st[st.rindex(")") + 2:].split()[0] != "Z":
                left.append(int(pid))
        return left

    def summary(self, last=25):
        text = self.log()
        try:
            with open(self.out, "rb") as f:
                text += f.read().decode("utf-8", "replace")
        except OSError:
            pass
        lines = text.splitlines()[-last:]
        return "    --- Exim %s (%s) mainlog ---\n%s" % (
            self.name, self.addr, "\n".join("    | " + l for l in lines))

    def stop(self):
        if self.proc is None:
            return None
        rc = lib.stop_process(self.proc)
        self.proc = None
        if self in self.ctx.upstreams:
            self.ctx.upstreams.remove(self)
        # its children (SMTP sessions, deliveries) end on their own once
        # their connections close
        deadline = time.time() + 5
        while self.processes() and time.time() < deadline:
            time.sleep(0.05)
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return rc


def exim(ctx, name="main"):
    """The shared instance `name`, with a Postern in front of it (quick
    mode, one worker) that has read its EHLO; started by the first case
    that needs it. If it cannot start, every later case fails at once."""
    key = "exim-" + name
    if key + "-error" in S:
        raise TestFailure(S[key + "-error"])
    if key not in S:
        try:
            ex = Exim(ctx, name).start()
        except TestFailure as e:
            S[key + "-error"] = "Exim %s did not start: %s" % (name, e)
            raise
        ctx.note("private Exim %s up in %.2fs on %s" % (name, ex.started_in,
                                                        ex.addr))
        pp = Postern(ctx, upstream=ex.addr, name="postern-" + name,
                     opts=["upstreams.0.helo_name=" + PN_HELO,
                           "process.workers=1"])
        eventually(lambda: "event=upstream_probe " in pp.log(),
                   "Postern's capability probe:\n" + pp.log_tail())
        S[key] = (ex, pp)
    return S[key]


# ------------------------------------------------------------------- helpers

def eventually(pred, what, timeout=5.0):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise TestFailure("timed out: " + what)
        time.sleep(0.02)


def rcpt(user):
    return "%s@%s" % (user, DOMAIN)


def qid_of(reply):
    """Exim's queue id in its end-of-data reply (`250 OK id=...`), as
    Postern relayed it."""
    if isinstance(reply, bytes):
        reply = reply.decode("latin-1")
    m = re.search(r"\bid=([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})\b",
                  reply)
    check(m is not None, "Exim's queue id in the reply: %r" % reply)
    return m.group(1)


def split_delivered(data, content):
    """A delivered file is Exim's headers, then the content as sent: checks
    that, and that Exim added only its trace headers; returns them as a
    dict (name -> value, continuation lines joined)."""
    check(data.endswith(content),
          "the delivered file ends with the message as sent:\n  sent %r\n"
          "  file %r" % (content[:300], data[:600]))
    added = data[:len(data) - len(content)]
    check(added.endswith(b"\r\n") and b"\r\n\r\n" not in added,
          "Exim's added lines: %r" % added)
    headers, names = {}, []
    for line in added[:-2].split(b"\r\n"):
        line = line.decode("utf-8")
        if line[:1] in (" ", "\t"):
            headers[names[-1]] += " " + line.strip()
        else:
            name, value = line.split(":", 1)
            names.append(name)
            headers[name] = value.strip()
    check_eq(names, ["Return-path", "Envelope-to", "Delivery-date",
                     "Received"], "the headers Exim added")
    return headers


def check_delivery(ex, qid, user, content, sender, proto="esmtp"):
    """user's copy of qid is content, byte for byte, with the envelope;
    returns Exim's headers."""
    h = split_delivered(ex.delivered(qid, user), content)
    check_eq(h["Return-path"], "<%s>" % sender, "Return-path (%s)" % user)
    check_eq(h["Envelope-to"], rcpt(user), "Envelope-to (%s)" % user)
    m = re.match(r"from \[127\.0\.0\.1\] \(port=\d+ helo=(\S+)\) by "
                 r"exim\.test\.example with (\S+) \(Exim 4\.\d+\) "
                 r"(?:\(envelope-from <([^>]*)>\) )?id (\S+)"
                 r"(?: for (\S+))?; ", h["Received"])
    check(m is not None, "Exim's Received header: %r" % h["Received"])
    helo, got_proto, env_from, got_qid, rcpt_for = m.groups()
    check_eq((helo, got_proto, got_qid), (PN_HELO, proto, qid),
             "Received: HELO, protocol, queue id")
    check(env_from in (None, sender), "Received: envelope-from %r" % env_from)
    check(rcpt_for in (None, rcpt(user)), "Received: for %r" % rcpt_for)
    return h


def accept_line_fields(line):
    """The flags of a `<=` line that this suite checks: P=, L?, K, M8S=."""
    f = {}
    m = re.search(r" P=(\S+)", line)
    f["P"] = m.group(1) if m else None
    m = re.search(r" (L[.*]?-?)(?= )", line)
    f["L"] = m.group(1) if m else None
    f["K"] = " K " in line
    m = re.search(r" M8S=(\d)", line)
    f["M8S"] = m.group(1) if m else None
    m = re.search(r" for (.*)$", line)
    f["for"] = m.group(1).split() if m else None
    return f


def bdat(c, data, last=False):
    c.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)
    return c.reply()


def keywords(reply):
    return [l.split(" ")[0].upper() for l in reply.lines[1:]]


MSG = (b"From: Alice <alice@example.org>\r\n"
       b"To: bob@exim.test, carol@exim.test\r\n"
       b"Subject: exim39 relay\r\n"
       b"Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n"
       b"Message-ID: <relay.39@example.org>\r\n"
       b"\r\n"
       b".\r\n"
       b"..\r\n"
       b".leading dot\r\n"
       b" .space then dot\r\n"
       b"tab\there\r\n"
       + b"L" * 998 + b"\r\n"
       + b"." + b"x" * 997 + b"\r\n"
       b"\r\n"
       b"last line\r\n")


def smtplib_send(pp, sender, rcpts, content, **kw):
    """One message through Postern with smtplib (it dot-stuffs); returns
    smtplib's refused recipients."""
    with smtplib.SMTP("127.0.0.1", pp.port, "client.example", 10) as s:
        return s.sendmail(sender, rcpts, content, **kw)


# ---------------------------------------------------------------------- cases

@suite.case
def ehlo_in_front_of_exim(ctx):
    ex, pp = exim(ctx)
    probe = re.search(r"event=upstream_probe .*", pp.log()).group(0)
    for kv in ("pipelining=yes", "size=%d" % LIMIT, "8bitmime=yes",
               "chunking=yes"):
        check(" %s" % kv in probe, "probe of main has %s: %r" % (kv, probe))
    c = pp.client()
    kw = keywords(c.ehlo())
    # what Exim offers and Postern passes or implements
    for k in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
              "CHUNKING", "SMTPUTF8"):
        check(k in kw, "%s offered in front of Exim: %s" % (k, kw))
    # Exim's own that Postern neither implements nor passes
    for k in ("PIPECONNECT", "HELP"):
        check(k not in kw, "%s must not be offered: %s" % (k, kw))
    c.cmd("QUIT", 221)
    ex2, pp2 = exim(ctx, "nochunk")
    probe2 = re.search(r"event=upstream_probe .*", pp2.log()).group(0)
    check(" chunking=no" in probe2 and " pipelining=yes" in probe2,
          "nochunk's probe: %r" % probe2)
    # CHUNKING is Postern's own: still offered, bridged to DATA
    check("CHUNKING" in keywords(pp2.client().ehlo()), "CHUNKING offered")
    ex3, pp3 = exim(ctx, "nopipe")
    probe3 = re.search(r"event=upstream_probe .*", pp3.log()).group(0)
    check(" pipelining=no" in probe3 and " chunking=yes" in probe3,
          "nopipe's probe: %r" % probe3)
    check("PIPELINING" in keywords(pp3.client().ehlo()), "PIPELINING offered")
    # the probe itself: EHLO and QUIT, nothing else
    ex.wait(r"no MAIL in SMTP connection from \(%s\) \[127\.0\.0\.1\]:\d+ "
            r"I=\[127\.0\.0\.1\]:%d D=\S+ C=EHLO,QUIT$"
            % (re.escape(PN_HELO), ex.port), what="the probe's session")


@suite.case
def relay_byte_identical_with_envelope(ctx):
    ex, pp = exim(ctx)
    since = len(ex.lines())
    with smtplib.SMTP("127.0.0.1", pp.port, "client.example", 10) as s:
        refused = s.sendmail("alice@example.org", [rcpt("bob"), rcpt("carol")],
                             MSG)
        check_eq(refused, {}, "refused recipients")
        # the reply to the end of data is not exposed by sendmail; a second
        # message on the same session shows reuse of Exim's session
        code, _ = s.mail("")
        check_eq(code, 250, "MAIL FROM:<>")
        check_eq(s.rcpt(rcpt("dave"))[0], 250, "RCPT dave")
        code, eom = s.data(MSG.replace(b"exim39 relay", b"exim39 bounce"))
        check_eq(code, 250, "end of data: %r" % eom)
    # both messages, in order, as Exim logged them
    got = re.findall(r"^\S+ \S+ \[(\d+)\] (\S+) <= (\S+) H=\((\S+)\) "
                     r"\[127\.0\.0\.1\]:\d+ .*$",
                     "\n".join(ex.lines()[since:]), re.M)
    check_eq(len(got), 2, "two messages received by Exim")
    (pid1, qid1, from1, helo1), (pid2, qid2, from2, helo2) = got
    check_eq((from1, from2), ("alice@example.org", "<>"), "envelope senders")
    check_eq((helo1, helo2), (PN_HELO, PN_HELO), "Postern's HELO at Exim")
    check_eq(pid1, pid2, "one Exim SMTP session for both messages")
    check_eq(qid2, qid_of(eom), "the queue id in the reply is Exim's")
    f1 = accept_line_fields(ex.received(qid1))
    check_eq(f1["for"], [rcpt("bob"), rcpt("carol")], "recipients of 1")
    check_eq(f1["P"], "esmtp", "protocol")
    check_eq(accept_line_fields(ex.received(qid2))["for"], [rcpt("dave")],
             "recipients of 2")
    check_eq([c for _, c in ex.cmds(since)],
             ["MAIL FROM:<alice@example.org> SIZE=%d" % len(MSG),
              "RCPT TO:<bob@exim.test>", "RCPT TO:<carol@exim.test>",
              "DATA", "MAIL FROM:<>", "RCPT TO:<dave@exim.test>", "DATA"],
             "commands Exim received")
    for user in ("bob", "carol"):
        check_delivery(ex, qid1, user, MSG, "alice@example.org")
    check_delivery(ex, qid2, "dave",
                   MSG.replace(b"exim39 relay", b"exim39 bounce"), "")
    eventually(lambda: ('reply="250 OK id=%s"' % qid2) in pp.log(),
               "Postern's tx line has Exim's reply:\n" + pp.log_tail())


@suite.case
def swaks_pipelined_one_recipient_refused(ctx):
    ex, pp = exim(ctx)
    since = len(ex.lines())
    body = "swaks body line\r\n.dot line\r\n..two dots"
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % pp.port,
                        "--pipeline", "--from", "swaks@example.org",
                        "--to", "%s,%s,%s" % (rcpt("bob"), rcpt("refused"),
                                              rcpt("carol")),
                        "--helo", "swaks.example", "--header",
                        "Subject: exim39 swaks", "--body", body,
                        "--timeout", "10"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    # swaks reports the refused recipient (exit 0: the message went)
    check("<** 550 5.1.1 No such user here" in out,
          "swaks saw Exim's 550 with an enhanced code:\n" + out[-2500:])
    m = re.search(r"<-  250 2\.0\.0 OK id=(\S+)", out)
    check(m is not None, "swaks got Exim's 250 through Postern:\n" +
          out[-2500:])
    qid = m.group(1)
    f = accept_line_fields(ex.received(qid))
    check_eq(f["for"], [rcpt("bob"), rcpt("carol")], "Exim's recipients")
    ex.wait(r"F=<swaks@example\.org> rejected RCPT <refused@exim\.test>: "
            r"No such user here$", since=since, what="the rejection")
    for user in ("bob", "carol"):
        data = ex.delivered(qid, user)
        # swaks stuffs the dots (Exim removes them) and ends the body
        # with blank lines of its own
        check(b"\r\n\r\nswaks body line\r\n.dot line\r\n..two dots\r\n"
              in data, "swaks' body intact: %r" % data[-120:])


@suite.case
def pipelined_group_one_recipient_refused(ctx):
    ex, pp = exim(ctx)
    since = len(ex.lines())
    c = pp.client()
    c.ehlo()
    content = b"Subject: exim39 pipelined\r\n\r\n.\r\nbody\r\n"
    c.send(b"MAIL FROM:<pipe@example.org>\r\n"
           b"RCPT TO:<bob@exim.test>\r\n"
           b"RCPT TO:<nobody@exim.test>\r\n"
           b"RCPT TO:<carol@exim.test>\r\n"
           b"DATA\r\n")
    rs = c.replies(5)
    check_eq([r.code for r in rs], [250, 250, 550, 250, 354], "reply codes")
    expect(rs[2], 550, "5.1.1", "Unrouteable address", "RCPT nobody")
    c.send(b"Subject: exim39 pipelined\r\n\r\n..\r\nbody\r\n.\r\n")
    eom = expect(c.reply(), 250, "2.0.0", "OK id=", "end of data")
    c.cmd("QUIT", 221)
    qid = qid_of(eom.raw)
    f = accept_line_fields(ex.received(qid))
    check_eq(f["for"], [rcpt("bob"), rcpt("carol")], "Exim's recipients")
    # Postern pipelined the RCPTs behind MAIL (Exim offers PIPELINING);
    # Exim's "L." : PIPECONNECT offered, not used; no "-": pipelining used
    check_eq(f["L"], "L.", "Exim saw a pipelining client")
    cmds = [c_ for _, c_ in ex.cmds(since)]
    check_eq(cmds, ["MAIL FROM:<pipe@example.org>", "RCPT TO:<bob@exim.test>",
                    "RCPT TO:<nobody@exim.test>", "RCPT TO:<carol@exim.test>",
                    "DATA"], "commands at Exim")
    ex.wait(r"F=<pipe@example\.org> rejected RCPT <nobody@exim\.test>: "
            r"Unrouteable address$", since=since, what="the rejection")
    for user in ("bob", "carol"):
        check_delivery(ex, qid, user, content, "pipe@example.org")


@suite.case
def bdat_passed_to_exim_as_bdat(ctx):
    ex, pp = exim(ctx)
    since = len(ex.lines())
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<chunk@example.org>", 250)
    c.cmd("RCPT TO:<bob@exim.test>", 250)
    part1 = b"Subject: exim39 bdat\r\n\r\n.\r\n.leading dot\r\n"
    part2 = b"..two dots\r\n" + b"y" * 5000 + b"\r\nend\r\n"
    expect(bdat(c, part1), 250, "2.0.0")
    r = expect(bdat(c, part2, last=True), 250, "2.0.0")
    # Exim answers the last chunk with two lines ("250- N byte chunk,
    # total T", "250 OK id=..."): relayed whole, each line given 2.0.0
    check(len(r.lines) == 2 and all(l.startswith("2.0.0 ") for l in r.lines)
          and re.search(r" byte chunk, total %d$" % (len(part1) + len(part2)),
                        r.lines[0]) and r.lines[1].startswith("2.0.0 OK id="),
          "the reply to BDAT LAST: %r" % r.raw)
    qid = qid_of(r.raw)
    f = accept_line_fields(ex.received(qid))
    check(f["K"], "Exim logged CHUNKING use (K)")
    # Exim runs no acl_smtp_predata for BDAT: no CMD line for it, none
    # for a DATA either
    check_eq([c_ for _, c_ in ex.cmds(since)],
             ["MAIL FROM:<chunk@example.org>", "RCPT TO:<bob@exim.test>"],
             "commands at Exim (no DATA)")
    check_delivery(ex, qid, "bob", part1 + part2, "chunk@example.org")
    # a last chunk without a final CRLF: Exim ends the message with one
    c.cmd("MAIL FROM:<chunk@example.org>", 250)
    c.cmd("RCPT TO:<carol@exim.test>", 250)
    tail = b"Subject: exim39 bdat 2\r\n\r\nno final newline"
    r = expect(bdat(c, tail, last=True), 250, "2.0.0")
    h = split_delivered(ex.delivered(qid_of(r.raw), "carol"),
                        tail + b"\r\n")
    check_eq(h["Return-path"], "<chunk@example.org>", "Return-path")


@suite.case
def bdat_bridged_to_data_for_exim_without_chunking(ctx):
    ex, pp = exim(ctx, "nochunk")
    since = len(ex.lines())
    c = pp.client()
    check("CHUNKING" in keywords(c.ehlo()), "Postern offers CHUNKING")
    c.cmd("MAIL FROM:<bridge@example.org>", 250)
    c.cmd("RCPT TO:<bob@exim.test>", 250)
    c.cmd("RCPT TO:<dave@exim.test>", 250)
    # dot lines everywhere, one a lone "." that DATA would end at, and a
    # chunk boundary right before a dot
    part1 = b"Subject: exim39 bridge\r\n\r\n.\r\n"
    part2 = b".leading dot\r\n..two dots\r\n.\r\n"
    part3 = b"...three\r\nlast line"
    expect(bdat(c, part1), 250, "2.0.0")
    expect(bdat(c, part2), 250, "2.0.0")
    r = expect(bdat(c, part3, last=True), 250, "2.0.0", "OK id=")
    qid = qid_of(r.raw)
    f = accept_line_fields(ex.received(qid))
    check(not f["K"], "no CHUNKING at Exim")
    check_eq(f["for"], [rcpt("bob"), rcpt("dave")], "recipients")
    check_eq([c_ for _, c_ in ex.cmds(since)],
             ["MAIL FROM:<bridge@example.org>", "RCPT TO:<bob@exim.test>",
              "RCPT TO:<dave@exim.test>", "DATA"], "BDAT became DATA")
    # DATA needs a final CRLF
    content = part1 + part2 + part3 + b"\r\n"
    for user in ("bob", "dave"):
        check_delivery(ex, qid, user, content, "bridge@example.org")
    # BINARYMIME cannot become DATA, and Exim does not offer it anyway
    c.cmd("MAIL FROM:<bridge@example.org> BODY=BINARYMIME", 501, "5.5.4")


@suite.case
def smuggling_sequences_end_nothing_early_at_exim(ctx):
    # bare CR and LF around a dot (SMTP smuggling): Postern turns them into
    # CRLF (body.bare_newlines: normalize) and dot-stuffs the lone dots, so
    # Exim receives one message with the "commands" as its text, over DATA
    # and over the BDAT-to-DATA bridge. In DATA a line starts only after a
    # CRLF: a dot there is transparency and goes, a dot after a bare CR or
    # LF is content and stays (tests/body_model.h)
    smuggled = (b"MAIL FROM:<smuggled@example.org>\r\n"
                b"RCPT TO:<dave@exim.test>\r\nDATA\r\nsmuggled\r\n")
    for name, use_bdat in (("main", False), ("nochunk", True)):
        ex, pp = exim(ctx, name)
        since = len(ex.lines())
        for i, seq in enumerate((b"\n.\n", b"\n.\r\n", b"\r\n.\n",
                                 b"\r.\r", b"\r.\r\n")):
            content = (b"Subject: exim39 smuggle %d\r\n\r\nbefore" % i +
                       seq + smuggled + b"after\r\n")
            c = pp.client()
            c.ehlo()
            c.cmd("MAIL FROM:<smuggle@example.org>", 250)
            c.cmd("RCPT TO:<bob@exim.test>", 250)
            if use_bdat:
                r = bdat(c, content, last=True)
            else:
                c.cmd("DATA", 354)
                c.send(content + b".\r\n")
                r = c.reply()
            qid = qid_of(expect(r, 250, "2.0.0").raw)
            c.cmd("QUIT", 221)
            want = content if use_bdat else b"\r\n".join(
                l[1:] if l.startswith(b".") else l
                for l in content.split(b"\r\n"))
            check_delivery(ex, qid, "bob", lib.crlf_normalize(want),
                           "smuggle@example.org")
        log = "\n".join(ex.lines()[since:])
        check_eq(len(re.findall(r" <= smuggle@example\.org ", log)), 5,
                 "%s: five messages at Exim" % name)
        check(" <= smuggled@" not in log and "CMD MAIL FROM:<smuggled@" not
              in log, "%s: a smuggled transaction reached Exim:\n%s"
              % (name, log[-2000:]))


@suite.case
def pipelined_client_to_exim_without_pipelining(ctx):
    # Exim enforces synchronisation when it did not offer PIPELINING: a
    # command sent before the reply to the previous one ends the session
    # with "554 SMTP synchronization error"; Postern must go one by one
    ex, pp = exim(ctx, "nopipe")
    since = len(ex.lines())
    # the control: a client that pipelines to this Exim directly
    d = lib.Client(ctx, ex.port, name="direct-to-exim")
    d.cmd("EHLO client.example", 250)
    d.send(b"MAIL FROM:<direct@example.org>\r\nRCPT TO:<bob@exim.test>\r\n")
    expect(d.reply(), 554, None, "SMTP synchronization error", "direct")
    d.expect_closed()
    ex.wait(r"SMTP protocol synchronization error \(next input sent too "
            r"soon: pipelining was not advertised\)", since=since,
            what="the control's synchronisation error")
    since = len(ex.lines())
    c = pp.client()
    c.ehlo()
    c.send(b"MAIL FROM:<serial@example.org>\r\n"
           b"RCPT TO:<bob@exim.test>\r\n"
           b"RCPT TO:<refused@exim.test>\r\n"
           b"RCPT TO:<carol@exim.test>\r\n"
           b"DATA\r\n")
    rs = c.replies(5)
    check_eq([r.code for r in rs], [250, 250, 550, 250, 354], "reply codes")
    c.send(b"Subject: exim39 serial\r\n\r\n..\r\n.\r\n")
    qid1 = qid_of(expect(c.reply(), 250, "2.0.0").raw)
    # and chunks pipelined by the client, to a CHUNKING Exim without
    # PIPELINING
    chunks = [b"Subject: ", b"exim39 serial 2\r\n\r\n", b"body\r\n"]
    c.send(b"MAIL FROM:<serial@example.org>\r\nRCPT TO:<dave@exim.test>\r\n"
           + b"".join(b"BDAT %d%s\r\n%s" % (len(x), b" LAST" if i == 2
                                             else b"", x)
                      for i, x in enumerate(chunks)))
    rs = c.replies(5)
    check_eq([r.code for r in rs], [250] * 5, "reply codes (chunks)")
    qid2 = qid_of(rs[4].raw)
    c.cmd("QUIT", 221)
    f1 = accept_line_fields(ex.received(qid1))
    check_eq(f1["for"], [rcpt("bob"), rcpt("carol")], "recipients")
    check_eq(f1["L"], None, "no PIPELINING offered, none logged")
    check(accept_line_fields(ex.received(qid2))["K"], "BDAT to Exim")
    log = "\n".join(ex.lines()[since:])
    check("synchronization error" not in log,
          "Exim saw a synchronisation error:\n" + log[-2000:])
    check_delivery(ex, qid1, "bob", b"Subject: exim39 serial\r\n\r\n.\r\n",
                   "serial@example.org")
    check_delivery(ex, qid2, "dave",
                   b"Subject: exim39 serial 2\r\n\r\nbody\r\n",
                   "serial@example.org")


@suite.case
def size_the_smaller_limit_offered_and_enforced(ctx):
    ex, pp = exim(ctx)
    since = len(ex.lines())
    c = pp.client()
    r = c.ehlo()
    sizes = [l for l in r.lines if l.upper().startswith("SIZE")]
    check_eq(sizes, ["SIZE %d" % LIMIT], "Exim's limit, smaller than "
             "Postern's 50M, is the one offered")
    c.cmd("MAIL FROM:<big@example.org> SIZE=%d" % (LIMIT + 1), 552, "5.3.4")
    c.cmd("MAIL FROM:<big@example.org> SIZE=%d" % LIMIT, 250)
    c.cmd("RCPT TO:<bob@exim.test>", 250)
    c.cmd("DATA", 354)
    # exactly the limit, counted as Postern counts (the content after
    # unstuffing, CRLFs included)
    head = b"Subject: exim39 size exact\r\n\r\n"
    line = b"z" * 1022 + b"\r\n"
    exact = head + line * ((LIMIT - len(head)) // len(line))
    exact += b"w" * (LIMIT - len(exact) - 2) + b"\r\n"
    check_eq(len(exact), LIMIT, "test message size")
    c.send(exact + b".\r\n")
    qid = qid_of(expect(c.reply(), 250, "2.0.0").raw)
    check_delivery(ex, qid, "bob", exact, "big@example.org")
    # one byte more, without SIZE=: Postern stops it; Exim never gets
    # the final dot and so never the message
    c.cmd("MAIL FROM:<big@example.org>", 250)
    c.cmd("RCPT TO:<carol@exim.test>", 250)
    c.cmd("DATA", 354)
    c.send(exact.replace(b"size exact", b"size over") + b"w\r\n.\r\n")
    expect(c.reply(), 552, "5.3.4")
    # BDAT past the limit, same
    c.cmd("MAIL FROM:<big@example.org>", 250)
    c.cmd("RCPT TO:<carol@exim.test>", 250)
    expect(bdat(c, exact), 250)
    expect(bdat(c, b"x\r\n", last=True), 552, "5.3.4")
    c.cmd("QUIT", 221)
    cmds = [c_ for _, c_ in ex.cmds(since)]
    check("MAIL FROM:<big@example.org> SIZE=%d" % (LIMIT + 1) not in cmds,
          "the oversized MAIL never reached Exim: %s" % cmds)
    check_eq(cmds[0], "MAIL FROM:<big@example.org> SIZE=%d" % LIMIT,
             "SIZE relayed")
    log = "\n".join(ex.lines()[since:])
    check_eq(len(re.findall(r" <= big@example\.org ", log)), 1,
             "only the message at the limit reached Exim:\n" + log[-2000:])
    check_eq(ex.maildir_count("carol") and
             sum(b"size over" in open(os.path.join(
                 ex.dir, "maildir", "carol", "new", n), "rb").read()
                 for n in os.listdir(os.path.join(ex.dir, "maildir", "carol",
                                                  "new"))), 0,
             "the oversized message delivered")
    # the two aborted transactions: Exim saw the connection go mid-data
    # the two aborted transfers: Exim saw the connection go mid-data
    ex.wait(r"^.* lost while reading message data$(?:.|\n)*^.* lost while "
            r"reading message data$", since=since,
            what="two connections lost while reading message data")
    check_eq(len(re.findall(r"SMTP connection from \(%s\) "
                            r"\[127\.0\.0\.1\]:\d+ I=\[127\.0\.0\.1\]:%d lost "
                            r"while reading message data$"
                            % (re.escape(PN_HELO), ex.port),
                            "\n".join(ex.lines()[since:]), re.M)), 2,
             "aborted transfers, as Exim logged them")


@suite.case
def eightbit_and_smtputf8_relayed(ctx):
    ex, pp = exim(ctx)
    since = len(ex.lines())
    content = (b"Subject: exim39 8bit\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n"
               b"Content-Transfer-Encoding: 8bit\r\n\r\n"
               b"caf\xc3\xa9 \xe2\x82\xac " + bytes(range(0x80, 0x100)) +
               b"\r\n")
    refused = smtplib_send(pp, "eight@example.org", [rcpt("bob")], content,
                           mail_options=["BODY=8BITMIME"])
    check_eq(refused, {}, "refused")
    m = ex.wait(r"^.* (\S+) <= eight@example\.org .*$", since=since,
                what="the 8-bit message")
    qid = m.group(1)
    check_eq(accept_line_fields(m.group(0))["M8S"], "8", "BODY=8BITMIME "
             "reached Exim")
    check_delivery(ex, qid, "bob", content, "eight@example.org")
    # SMTPUTF8 (Exim built with I18N offers it): UTF-8 envelope
    sender = "j\xf6rg@example.org"
    c = pp.client()
    c.ehlo()
    c.cmd("MAIL FROM:<%s>" % sender.encode().decode("latin-1"), 553, "5.6.7")
    c.cmd(b"MAIL FROM:<" + sender.encode() + b"> SMTPUTF8", 250)
    c.cmd(b"RCPT TO:<d\xc3\xb6rte@exim.test>", 250)
    c.cmd("DATA", 354)
    body = "Subject: exim39 utf8 \u00fcber\r\n\r\ngr\u00fc\u00dfe\r\n".encode()
    c.send(body + b".\r\n")
    qid = qid_of(expect(c.reply(), 250, "2.0.0").raw)
    c.cmd("QUIT", 221)
    # Exim's protocol name for a message with SMTPUTF8: utf8esmtp
    check_eq(accept_line_fields(ex.received(qid))["P"], "utf8esmtp",
             "the protocol Exim logged")
    check_delivery(ex, qid, "d\xf6rte", body, sender, proto="utf8esmtp")
    # logwrite shows bytes past ASCII as octal escapes
    cmds = [c_ for _, c_ in ex.cmds(since)]
    esc = "".join(ch if ord(ch) < 0x80 else "\\%03o" % ord(ch)
                  for ch in sender.encode().decode("latin-1"))
    check_eq(cmds[3:5], ["MAIL FROM:<%s> SMTPUTF8" % esc,
                         "RCPT TO:<d\\303\\266rte@exim.test>"],
             "SMTPUTF8 relayed")
    check(not any(x.startswith("MAIL FROM:<j") and "SMTPUTF8" not in x
                  for x in cmds), "the 553 stayed local: %s" % cmds)


@suite.case
def exim_replies_get_enhanced_codes(ctx):
    ex, pp = exim(ctx)
    since = len(ex.lines())
    c = pp.client()
    c.ehlo()
    expect(c.cmd("MAIL FROM:<codes@example.org>"), 250, "2.1.0", "OK")
    expect(c.cmd("RCPT TO:<bob@exim.test>"), 250, "2.1.5", "Accepted")
    expect(c.cmd("RCPT TO:<nobody@exim.test>"), 550, "5.1.1",
           "Unrouteable address")
    # an ACL message with its own enhanced code is not given a second one
    r = expect(c.cmd("RCPT TO:<policy@exim.test>"), 550, "5.7.1")
    check_eq(r.raw, b"550 5.7.1 Refused by local policy\r\n", "policy reply")
    # a multi-line refusal: every line with the code
    r = expect(c.cmd("RCPT TO:<multi@exim.test>"), 550)
    check(r.multiline and len(r.lines) == 2, "two lines: %r" % r.raw)
    check(r.lines[0].endswith("First line of the refusal") and
          r.lines[1].endswith("second line of it"), "text: %r" % r.raw)
    check(all(re.match(r"5\.\d+\.\d+ ", l) for l in r.lines),
          "enhanced code on every line: %r" % r.raw)
    r = c.cmd("RCPT TO:<later@exim.test>")
    check(r.code // 100 == 4 and r.enh is not None and r.enh[0] == "4" and
          "Try this one later" in r.text, "deferred RCPT: %r" % r.raw)
    expect(c.cmd("RCPT TO:<someone@elsewhere.example>"), 550, None,
           "Relaying denied")
    # refused at the end of data (acl_smtp_data), then deferred there
    c.cmd("DATA", 354)
    c.send(b"Subject: exim39 reject\r\nX-Exim-Test-Reject: yes\r\n\r\nx\r\n"
           b".\r\n")
    r = expect(c.reply(), 550, None, "Content refused here")
    check(r.enh is not None and r.enh.startswith("5."), "enh: %r" % r.raw)
    c.cmd("MAIL FROM:<codes@example.org>", 250)
    c.cmd("RCPT TO:<bob@exim.test>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: exim39 defer\r\nX-Exim-Test-Defer: yes\r\n\r\nx\r\n"
           b".\r\n")
    r = c.reply()
    check(r.code // 100 == 4 and r.enh is not None and
          r.enh.startswith("4.") and "Content deferred here" in r.text,
          "deferred at end of data: %r" % r.raw)
    c.cmd("QUIT", 221)
    log = "\n".join(ex.lines()[since:])
    check(" <= codes@example.org " not in log, "nothing accepted by Exim")
    check(re.search(r"F=<codes@example\.org> rejected after DATA: "
                    r"Content refused here", log), "Exim's rejection:\n" +
          log[-2000:])
    check(re.search(r"F=<codes@example\.org> temporarily rejected after "
                    r"DATA: Content deferred here", log),
          "Exim's deferral:\n" + log[-2000:])
    eventually(lambda: re.search(r"event=tx from=<codes@example\.org> .* "
                                 r"outcome=rejected", pp.log()),
               "Postern's tx line, rejected:\n" + pp.log_tail())


# An Exim that sends: its smtp transport uses BDAT wherever CHUNKING is
# offered (hosts_try_chunking defaults to *), so it is the real BDAT client
# issue 4 asks for. One message, submitted with -odi (delivered in the
# foreground) and -i (a lone dot is content), goes to Postern's port.
CLIENT_CONFIGURE = r"""
# written by test_39_exim.py (the sending Exim)
exim_path = %(exim)s
keep_environment =
spool_directory = %(d)s/spool
log_file_path = %(d)s/log/%%slog
primary_hostname = sender.test.example
qualify_domain = sender.test
host_lookup =
rfc1413_hosts =
log_selector = +all

begin routers

via_postern:
  driver = manualroute
  domains = exim.test
  route_list = * 127.0.0.1
  self = send
  transport = to_postern

begin transports

to_postern:
  driver = smtp
  port = %(port)d
  allow_localhost
  hosts_avoid_tls = *
  hosts_try_chunking = *
  helo_data = exim-client.example
"""


def exim_send(ctx, name, port, sender, rcpts, message):
    """Submits message to a sending Exim whose transport goes to port;
    returns that Exim's mainlog lines."""
    d = ctx.mkdir("exim-client-" + name)
    for sub in ("spool", "log"):
        os.mkdir(os.path.join(d, sub))
    conf = os.path.join(d, "configure")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(CLIENT_CONFIGURE % {"exim": EXIM, "d": d, "port": port})
    for root, dirs, files in os.walk(d):
        for p in [root] + [os.path.join(root, x) for x in files]:
            os.chown(p, PW.pw_uid, PW.pw_gid)
    r = subprocess.run([EXIM, "-C", conf, "-odi", "-i", "-f", sender] +
                       list(rcpts), input=message, capture_output=True,
                       timeout=30, cwd=d, preexec_fn=_drop_to(PW))
    try:
        with open(os.path.join(d, "log", "mainlog"), encoding="utf-8",
                  errors="replace") as f:
            log = f.read().splitlines()
    except OSError:
        log = []
    check(r.returncode == 0, "the sending Exim (%s) exited %d: %s\n%s" % (
        name, r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace"),
        "\n".join(log[-15:])))
    return log


@suite.case
def exim_client_sends_bdat_through_postern(ctx):
    # a body of dot lines, a lone dot, bare 8-bit-free long lines: ~150 KB
    # (under main's 200K limit), so BDAT carries it in more than a segment
    body = (b".\r\n..\r\n.leading dot\r\n" +
            b"".join(b"line %06d " % i + b"x" * 60 + b"\r\n"
                     for i in range(2000)) + b"last line\r\n")
    for name, passthrough in (("main", True), ("nochunk", False)):
        ex, pp = exim(ctx, name)
        since = len(ex.lines())
        sender = "client-%s@sender.test" % name
        message = (b"Subject: exim39 from an Exim client (%s)\r\n"
                   b"Message-ID: <client.%s.39@sender.test>\r\n\r\n"
                   % (name.encode(), name.encode())) + body
        log = exim_send(ctx, name, pp.port, sender,
                        [rcpt("bob"), rcpt("carol")], message)
        sent = [l for l in log if " => bob@exim.test " in l or
                " => carol@exim.test " in l or " -> carol@exim.test " in l]
        check(len(sent) == 2 and all(" K C=" in l for l in sent),
              "the sending Exim delivered with CHUNKING (K):\n" +
              "\n".join(log[-10:]))
        m = ex.wait(r"^.* (\S+) <= %s .*$" % re.escape(sender),
                    since=since, what="the message from the Exim client")
        qid = m.group(1)
        f = accept_line_fields(m.group(0))
        check_eq(f["for"], [rcpt("bob"), rcpt("carol")], "recipients")
        check_eq(f["K"], passthrough, "%s: BDAT at the upstream Exim" % name)
        cmds = [c_ for _, c_ in ex.cmds(since)]
        check_eq(cmds[-1] == "DATA", not passthrough,
                 "%s: BDAT bridged to DATA: %s" % (name, cmds))
        for user in ("bob", "carol"):
            data = ex.delivered(qid, user)
            check(data.endswith(b"\r\n\r\n" + body),
                  "%s: the body arrived intact at %s: ...%r" % (
                      name, user, data[-200:]))
            check(b"\r\nMessage-ID: <client.%s.39@sender.test>\r\n"
                  % name.encode() in data, "the header arrived")


@suite.case
def exim_logs_clean_and_stopped(ctx):
    t0 = time.time()
    for name in INSTANCES:
        if "exim-" + name not in S:
            continue
        ex, pp = S.pop("exim-" + name)
        pp.stop()
        log = ex.log()
        # (the control of the nopipe case, direct@, provokes one)
        bad = [l for l in log.splitlines()
               if re.search(r"synchronization error|protocol error|"
                            r"SMTP syntax error|panic|Tainted|"
                            r"\*\* |== ", l) and
               "<direct@example.org>" not in l]
        check_eq(bad, [], "Exim %s: problems in its log" % name)
        # Exim logs its use of -C (not in TRUSTED_CONFIG_LIST) to the
        # paniclog too; nothing else may be there
        try:
            with open(os.path.join(ex.dir, "log", "paniclog"), "rb") as f:
                panic = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            panic = []
        check_eq([l for l in panic if not l.endswith(
            "] exim user lost privilege for using -C option")], [],
            "Exim %s: its paniclog" % name)
        ex.stop()
        check_eq(ex.processes(), [], "Exim %s processes left" % name)
        queue = os.path.join(ex.dir, "spool", "input")
        left = [n for n in os.listdir(queue) if n.endswith("-H")] \
            if os.path.isdir(queue) else []
        check_eq(left, [], "Exim %s: messages left in its queue" % name)
    ctx.note("Exim and Postern stopped in %.2fs" % (time.time() - t0))


if __name__ == "__main__":
    suite.run()
