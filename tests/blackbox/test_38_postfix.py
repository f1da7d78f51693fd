#!/usr/bin/python3
"""38-postfix: the client's identity as a real Postfix smtpd sees it.

A private Postfix (its own config, queue and data directories in the temp
dir; master(8) in the foreground; its log in a file through postlogd;
every message discarded at once) stands behind Postern, and each case
reads Postfix's own log to see who Postfix thinks the client is. Its
smtpd services, one per port:

  xc      XCLIENT authorised (smtpd_authorized_xclient_hosts = 127.0.0.0/8),
          with the SMTP dialogue of Postern's connections logged
          (debug_peer_list = 127.0.0.1)
  xc6     the same with inet_protocols = all (only when ::1 works)
  sasl    XCLIENT authorised, smtpd_sasl_auth_enable = yes, and relaying
          only for permit_sasl_authenticated
  noxc    XCLIENT not authorised (smtpd_authorized_xclient_hosts empty)
  hap     smtpd_upstream_proxy_protocol = haproxy

What Postfix (3.7) does, as found here:
- XCLIENT LOGIN is logged as `sasl_method=XCLIENT, sasl_username=USER` on
  the `QUEUEID: client=` line even with smtpd_sasl_auth_enable = no, but
  permit_sasl_authenticated counts it only with SASL enabled, and smtpd
  with SASL enabled needs a SASL backend to start: the `sasl` service
  uses a stub Dovecot auth service (below) that offers PLAIN and
  authenticates nobody, so any SASL identity Postfix has came by XCLIENT.
- Postfix offers XCLIENT only to authorised clients, and Postern sends it
  only when offered: behind `noxc` mail flows as Postern's own, no
  XCLIENT is sent and so none is refused.
- Postfix refuses `XCLIENT ADDR=IPV6:...` with `501 5.5.4 Bad ADDR
  syntax` when its inet_protocols has no IPv6: that is the refusal the
  IPv6 case provokes, and mail still flows.
- The EHLO that follows XCLIENT replaces the HELO name XCLIENT carried:
  Postern's EHLO there must repeat the client's HELO (it does), or
  Postfix logs and checks Postern's own name for the client's mail.
- Postfix counts an accepted XCLIENT as `xclient=0/1` on its disconnect
  line (the same for a client that talks to it directly).
- Postern's capability probe with a v2 LOCAL header is accepted without
  a word and logged as a connection from Postern's address. Postfix 3.7
  refuses a v1 "PROXY UNKNOWN" header ("warning: haproxy read: bad or
  missing protocol type"), which this suite found: Postern's v1 probe now
  names its own connection's two ends instead, and must be accepted too.

The clients connect from 127.0.0.2 (::1 for IPv6) so that the real client
is never confused with Postern (127.0.0.1). smtpd_client_port_logging
puts the client's port on the lines, so the port that XCLIENT or the
PROXY header carried is checked too. A header_checks INFO rule on the
Subject makes cleanup log the client, proto and HELO of each message.
"""

import atexit
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (LogWatch, Postern, Suite, TestFailure, check,  # noqa: E402
                 check_eq, free_port, is_listening, test_certs)

CLIENT = "127.0.0.2"
HELO = "helo.client.example"      # what the clients say
PN_HELO = "postern.test.example"  # what Postern says to Postfix
SENDER, RCPT = "a@example.org", "b@example.net"


POSTCONF = shutil.which("postconf", path="/usr/sbin:/usr/bin:/sbin:/bin")


def skip_reason():
    """Why a private Postfix cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root (Postfix's master must start as root)"
    if POSTCONF is None:
        return "postconf not found (Debian package postfix)"
    try:
        out = subprocess.run([POSTCONF, "-dh", "daemon_directory"],
                             capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return "postconf failed: %s" % e
    daemon_dir = out.decode().strip()
    for prog in ("master", "smtpd", "cleanup", "qmgr", "postlogd",
                 "trivial-rewrite", "discard"):
        if not os.access(os.path.join(daemon_dir, prog), os.X_OK):
            return "no %s in %r" % (prog, daemon_dir)
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError as e:
        return "no system user or group %s (made by the postfix package)" % e
    return None


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6)
        try:
            s.bind(("::1", 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


_reason = skip_reason()
if _reason:
    # before the Suite exists, which would count 0 passed as a failure
    print("test_38_postfix: SKIPPED: %s" % _reason)
    sys.exit(0)
DAEMON_DIR = subprocess.run([POSTCONF, "-dh", "daemon_directory"],
                            capture_output=True).stdout.decode().strip()
IPV6 = have_ipv6_loopback()

suite = Suite("test_38_postfix")
S = {}


# ------------------------------------------------------- a stub Dovecot auth

class DovecotAuthStub:
    """The server side of Dovecot's auth protocol, just enough for Postfix's
    smtpd_sasl_type = dovecot (xsasl_dovecot_server.c): the handshake
    offers PLAIN, and every AUTH request FAILs. smtpd reaches it with the
    (test-only) smtpd_sasl_path = inet:127.0.0.1:PORT."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.auth_requests = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        try:
            conn.sendall(b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\n"
                         b"SPID\t1\nCUID\t1\nCOOKIE\t00\nDONE\n")
            buf = b""
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    f = line.split(b"\t")
                    if f[0] == b"AUTH" and len(f) > 1:
                        self.auth_requests += 1
                        conn.sendall(b"FAIL\t" + f[1] + b"\treason=stub\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------ private Postfix

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = %(d)s/queue
data_directory = %(d)s/data
maillog_file = %(d)s/maillog
maillog_file_prefixes = %(d)s
myhostname = postfix.test.example
mydomain = test.example
myorigin = $myhostname
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_client_port_logging = yes
smtpd_peername_lookup = no
default_transport = discard
relay_transport = discard
alias_maps =
alias_database =
local_recipient_maps =
biff = no
header_checks = regexp:%(d)s/conf/header_checks
"""

SMTPD = {
    "xc": ["debug_peer_list=127.0.0.1", "debug_peer_level=1"],
    "xc6": ["inet_protocols=all", "mynetworks=127.0.0.0/8,[::1]/128",
            "debug_peer_list=127.0.0.1", "debug_peer_level=1"],
    "sasl": ["smtpd_sasl_auth_enable=yes", "smtpd_sasl_type=dovecot",
             "smtpd_sasl_path=inet:127.0.0.1:%(auth)d",
             "smtpd_relay_restrictions=permit_sasl_authenticated,"
             "reject_unauth_destination"],
    "noxc": ["smtpd_authorized_xclient_hosts="],
    "hap": ["smtpd_upstream_proxy_protocol=haproxy"],
}
SERVICES = [s for s in ("xc", "xc6", "sasl", "noxc", "hap")
            if IPV6 or s != "xc6"]

MASTER_CF_REST = """\
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

# cleanup logs "QID: info: header Subject: pf38 ... from unknown[ADDR]:PORT;
# from=<...> to=<...> proto=ESMTP helo=<...>"
HEADER_CHECKS = "/^Subject: pf38 / INFO\n"

# as postfix-files makes them: name, owned by postfix, group postdrop, mode
QUEUE_DIRS = [("active", 1, 0, 0o700), ("bounce", 1, 0, 0o700),
              ("corrupt", 1, 0, 0o700), ("defer", 1, 0, 0o700),
              ("deferred", 1, 0, 0o700), ("flush", 1, 0, 0o700),
              ("hold", 1, 0, 0o700), ("incoming", 1, 0, 0o700),
              ("private", 1, 0, 0o700), ("saved", 1, 0, 0o700),
              ("trace", 1, 0, 0o700), ("maildrop", 1, 1, 0o730),
              ("public", 1, 1, 0o710), ("pid", 0, 0, 0o755)]


# master(8) runs under this sh, which holds the read end of a pipe from
# the test: when the test closes it (stop) or dies, even by SIGKILL, the
# reader sends master SIGTERM, and master stops its process group (one of
# its own: master calls setsid). PR_SET_PDEATHSIG did not reach master
# here (it changes its effective uid at times, which clears the setting).
MASTER_SH = """
exec 3<&0 </dev/null
"$0" -c "$1" -s 3<&- &
m=$!
{ read _ <&3; kill -TERM $m; } &
r=$!
exec 3<&-
wait $m
st=$?
kill $r 2>/dev/null
exit $st
"""


class Postfix(LogWatch):
    def __init__(self, ctx):
        self.ctx = ctx
        # the daemons run as "postfix" and open files by absolute path
        os.chmod(ctx.tmp, 0o711)
        self.dir = ctx.mkdir("postfix")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "conf")
        self.queue = os.path.join(self.dir, "queue")
        self.maillog = os.path.join(self.dir, "maillog")
        self.log_path = self.maillog
        self.out = os.path.join(self.dir, "master.out")
        self.ports = {s: free_port() for s in SERVICES}
        self.auth = DovecotAuthStub()
        self.proc = None
        uid = pwd.getpwnam("postfix").pw_uid
        postdrop = grp.getgrnam("postdrop").gr_gid
        os.mkdir(self.conf, 0o755)
        os.mkdir(self.queue, 0o755)
        for name, by_postfix, by_postdrop, mode in QUEUE_DIRS:
            p = os.path.join(self.queue, name)
            os.mkdir(p)
            os.chown(p, uid if by_postfix else 0, postdrop if by_postdrop
                     else 0)
            os.chmod(p, mode)
        data = os.path.join(self.dir, "data")
        os.mkdir(data, 0o700)
        os.chown(data, uid, 0)
        v = {"d": self.dir, "auth": self.auth.port}
        master_cf = ""
        for svc in SERVICES:
            master_cf += "127.0.0.1:%d inet n - n - - smtpd\n" % \
                self.ports[svc]
            for o in ["syslog_name=postfix-" + svc] + SMTPD[svc]:
                master_cf += "  -o %s\n" % (o % v)
        for name, text in (("main.cf", MAIN_CF % v),
                           ("master.cf", master_cf + MASTER_CF_REST),
                           ("header_checks", HEADER_CHECKS)):
            path = os.path.join(self.conf, name)
            with open(path, "w") as f:
                f.write(text)
            # master waits (polling every 0.3 s) until main.cf is older
            # than a second or two; an old mtime spares that
            os.utime(path, (time.time() - 60, time.time() - 60))
        atexit.register(self.stop)

    def addr(self, service):
        return "127.0.0.1:%d" % self.ports[service]

    def start(self, timeout=20.0):
        t0 = time.time()
        with open(self.out, "ab") as out:
            # -s: master stays in the foreground, as "postfix start-fg"
            # runs it
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", MASTER_SH,
                 os.path.join(DAEMON_DIR, "master"), self.conf],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
        while True:
            if self.proc.poll() is not None:
                raise TestFailure("Postfix master exited at start (status "
                                  "%s):\n%s" % (self.proc.returncode,
                                                self.tail()))
            if (all(is_listening(p) for p in self.ports.values()) and
                    "daemon started" in self.log()):
                break
            if time.time() > t0 + timeout:
                raise TestFailure("Postfix did not start within %.0fs:\n%s"
                                  % (timeout, self.tail()))
            time.sleep(0.02)
        with open(os.path.join(self.queue, "pid", "master.pid")) as f:
            self.master_pid = int(f.read().split()[0])
        self.started_in = time.time() - t0
        return self

    def stop(self):
        """Closes the pipe: master gets SIGTERM and stops its process
        group; what is left of it after 10 s gets SIGKILL. Returns the
        status of master's sh (128 + 15: master's own SIGTERM)."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        pgid = getattr(self, "master_pid", None)
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        # the children exit on their own SIGTERM: orphaned, they become
        # zombies of init, which kill(-pgid, 0) would still count
        deadline = time.time() + 5
        while pgid and self.group_alive(pgid):
            if time.time() > deadline:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                time.sleep(0.2)
                break
            time.sleep(0.02)
        self.auth.close()
        self.group_left = self.group_alive(pgid) if pgid else []
        return p.returncode

    @staticmethod
    def group_alive(pgid):
        """Live (not zombie) processes of the group, from /proc."""
        left = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                left.append(st[:st.rindex(")") + 1])
        return left

    def tail(self, n=40):
        text = self.log()
        try:
            with open(self.out, "rb") as f:
                text += f.read().decode("utf-8", "replace")
        except OSError:
            pass
        return "\n".join("    | " + l for l in text.splitlines()[-n:])

    def wait_failed(self, pattern, what, timeout):
        return TestFailure("Postfix log: no %s within %.0fs (/%s/):\n%s"
                           % (what, timeout, pattern, self.tail()))

    def session(self, service, pid, who):
        """The lines of one smtpd session, the text after "smtpd[PID]: ":
        from the disconnect of who ("unknown[ADDR]:PORT") in process pid
        of service back to the connect before it; waits for the
        disconnect."""
        self.wait(r"^.* postfix-%s/smtpd\[%s\]: disconnect from %s "
                  % (service, pid, re.escape(who)),
                  what="disconnect of %s" % who)
        tag = " postfix-%s/smtpd[%s]: " % (service, pid)
        lines = [l.split(tag, 1)[1] for l in self.lines() if tag in l]
        end = max(i for i, l in enumerate(lines)
                  if l.startswith("disconnect from %s " % who))
        start = max(i for i in range(end + 1)
                    if lines[i].startswith("connect from "))
        return lines[start:end + 1]


def postfix(ctx):
    """The shared Postfix, started by the first case that needs it; if it
    cannot start, every case fails at once with the same reason."""
    if "pf_error" in S:
        raise TestFailure(S["pf_error"])
    if "pf" not in S:
        try:
            S["pf"] = Postfix(ctx)
            S["pf"].start()
        except TestFailure as e:
            S["pf_error"] = "Postfix did not start: %s" % e
            raise
        ctx.note("private Postfix up in %.2fs (%s)" % (
            S["pf"].started_in, ", ".join(
                "%s=%d" % kv for kv in sorted(S["pf"].ports.items()))))
    return S["pf"]


def stop_postfix():
    pf = S.get("pf")
    if pf is not None:
        pf.stop()


# ------------------------------------------------------------------- helpers

def tls_ctx():
    c = ssl.create_default_context(cafile=os.path.join(test_certs(),
                                                       "ca.crt"))
    c.check_hostname = False
    return c


def quick(ctx, pf, service, *opts, **kw):
    """Postern in quick mode in front of one Postfix service."""
    return Postern(ctx, upstream=pf.addr(service), opts=[
        "upstreams.0.helo_name=" + PN_HELO, "process.workers=1"] +
        list(opts), **kw)


def connect(port, tls=False, src=CLIENT, host="127.0.0.1"):
    """An smtplib session from src, after EHLO; and its source port."""
    kw = {"timeout": 10, "source_address": (src, 0)}
    if tls:
        s = smtplib.SMTP_SSL(host, port, context=tls_ctx(), **kw)
    else:
        s = smtplib.SMTP(host, port, **kw)
    code, msg = s.ehlo(HELO)
    check_eq(code, 250, "EHLO: %r" % msg)
    return s, s.sock.getsockname()[1]


def transaction(s, subject):
    """MAIL, RCPT, DATA on an open smtplib session; returns the queue id
    of Postfix's 250, as relayed by Postern."""
    code, msg = s.mail(SENDER)
    check_eq(code, 250, "MAIL: %r" % msg)
    code, msg = s.rcpt(RCPT)
    check_eq(code, 250, "RCPT: %r" % msg)
    code, msg = s.data(("Subject: pf38 %s\r\n\r\nbody\r\n" % subject)
                       .encode())
    check_eq(code, 250, "end of data: %r" % msg)
    m = re.search(rb"queued as ([0-9A-Za-z]+)", msg)
    check(m is not None, "Postfix's queue id in the reply: %r" % msg)
    return m.group(1).decode()


def smtpd_client(pf, service, qid):
    """'postfix-SERVICE/smtpd[PID]: QID: client=...' -> (pid, 'client=...')"""
    m = pf.wait(r"^.* postfix-%s/smtpd\[(\d+)\]: %s: (client=.*)$"
                % (service, qid), what="smtpd's client line of %s" % qid)
    return m.group(1), m.group(2)


def cleanup_saw(pf, qid):
    """(client, proto, helo) as cleanup logged them for the message."""
    m = pf.wait(r"^.* postfix/cleanup\[\d+\]: %s: info: header Subject: "
                r"pf38 .* from (\S+); from=<%s> to=<%s> proto=(\S+) "
                r"helo=<([^>]*)>" % (qid, re.escape(SENDER), re.escape(RCPT)),
                what="cleanup's line of %s" % qid)
    return m.groups()


def delivered(pf, qid):
    """discard(8) took the message off the queue: status=sent."""
    pf.wait(r"^.* postfix/discard\[\d+\]: %s: to=<%s>, relay=none, .*"
            r"status=sent" % (qid, re.escape(RCPT)),
            what="delivery of %s" % qid)


def eventually(pred, what, timeout=5.0):
    """Polls pred() until it is true; fails with what after timeout."""
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise TestFailure("timed out: " + what)
        time.sleep(0.02)


def check_helo(helo, what):
    """After XCLIENT Postfix must hold the client's HELO: XCLIENT's HELO
    attribute, kept by the EHLO after it only if that EHLO names the
    client's HELO too (a Postern that says its own name there loses it)."""
    check_eq(helo, HELO, "%s: the HELO Postfix holds" % what)


# ---------------------------------------------------------------------- cases

@suite.case
def xclient_gives_postfix_the_client(ctx):
    pf = postfix(ctx)
    pp = quick(ctx, pf, "xc", "upstreams.0.xclient=true")
    s, cport = connect(pp.port)
    qids = [transaction(s, "xclient %d" % i) for i in range(2)]
    s.quit()
    who = "unknown[%s]:%d" % (CLIENT, cport)
    pids = set()
    for qid in qids:
        pid, line = smtpd_client(pf, "xc", qid)
        pids.add(pid)
        check_eq(line, "client=" + who, "Postfix's client of %s" % qid)
        client, proto, helo = cleanup_saw(pf, qid)
        check_eq((client, proto), (who, "ESMTP"), "cleanup's client, proto")
        check_helo(helo, "cleanup")
        delivered(pf, qid)
    check_eq(len(pids), 1, "both messages in one upstream session")
    sess = pf.session("xc", pids.pop(), who)
    m = re.match(r"connect from (unknown\[127\.0\.0\.1\]:\d+)$", sess[0])
    check(m, "the session came from Postern's address: %r" % sess[0])
    pn = m.group(1)
    # the dialogue as Postfix logged it (debug_peer_list): "< peer: cmd",
    # "> peer: reply"
    talk = [l for l in sess if l[:2] in ("< ", "> ")]
    xcl = [i for i, l in enumerate(talk) if l.startswith("< %s: XCLIENT "
                                                         % pn)]
    check_eq(len(xcl), 1, "one XCLIENT for two transactions:\n%s"
             % "\n".join(talk))
    i = xcl[0]
    # every attribute Postfix offered and Postern knows; NAME unknown
    check_eq(talk[i], "< %s: XCLIENT NAME=[UNAVAILABLE] ADDR=%s PORT=%d "
             "PROTO=ESMTP HELO=%s LOGIN=[UNAVAILABLE] DESTADDR=127.0.0.1 "
             "DESTPORT=%d" % (pn, CLIENT, cport, HELO, pp.port),
             "the XCLIENT Postfix received")
    # answered already on the client's account
    check_eq(talk[i + 1], "> %s: 220 postfix.test.example ESMTP Postfix"
             % who, "XCLIENT accepted")
    check_eq(talk[i + 2], "< %s: EHLO %s" % (who, HELO),
             "then EHLO again, with the client's HELO")
    check(talk[i + 3].startswith("> %s: 250-postfix.test.example" % who),
          "EHLO answered: %r" % talk[i + 3])
    # Postfix counts an accepted XCLIENT as 0/1
    check_eq(sess[-1], "disconnect from %s ehlo=2 xclient=0/1 mail=2 rcpt=2 "
             "data=2 quit=1 commands=9/10" % who, "Postfix's disconnect line")
    check("upstream_xclient_refused" not in pp.log(),
          "no refusal:\n" + pp.log_tail())


AUTH_CONFIG = """
listeners:
  - name: smtps-xc
    address: "{listen}"
    upstream: xc
    tls: implicit
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
    auth: {users: "%(users)s"}
  - name: smtps-sasl
    address: "127.0.0.1:%(p2)d"
    upstream: sasl
    tls: implicit
    certificates:
      - {cert: "%(c)s/server-rsa.crt", key: "%(c)s/server-rsa.key"}
    auth: {users: "%(users)s"}
upstreams:
  - {name: xc, addresses: ["%(xc)s"], xclient: true, helo_name: %(helo)s}
  - {name: sasl, addresses: ["%(sasl)s"], xclient: true, helo_name: %(helo)s}
process:
  workers: 1
"""


def auth_postern(ctx, pf):
    """Postern authenticating alice itself on two implicit-TLS listeners,
    one in front of `xc`, the other in front of `sasl`."""
    if "auth_pp" in S:
        return S["auth_pp"], S["auth_p2"]
    r = subprocess.run([ctx.postern_bin, "passwd", "alice"],
                       input=b"alice-pw\n", capture_output=True)
    check_eq(r.returncode, 0, "postern passwd alice: %r" % r.stderr)
    users = ctx.path("users")
    with open(users, "wb") as f:
        f.write(r.stdout)
    p2 = free_port()
    pp = Postern(ctx, name="postern-auth", config=AUTH_CONFIG % {
        "c": test_certs(), "users": users, "p2": p2, "xc": pf.addr("xc"),
        "sasl": pf.addr("sasl"), "helo": PN_HELO})
    S["auth_pp"], S["auth_p2"] = pp, p2
    return pp, p2


@suite.case
def xclient_login_is_postfix_sasl_username(ctx):
    pf = postfix(ctx)
    pp, _ = auth_postern(ctx, pf)
    s, cport = connect(pp.port, tls=True)
    s.login("alice", "alice-pw")
    qid = transaction(s, "auth")
    s.quit()
    pid, line = smtpd_client(pf, "xc", qid)
    check_eq(line, "client=unknown[%s]:%d, sasl_method=XCLIENT, "
             "sasl_username=alice" % (CLIENT, cport), "Postfix's client line")
    delivered(pf, qid)
    sess = pf.session("xc", pid, "unknown[%s]:%d" % (CLIENT, cport))
    check(any(re.match(r"< unknown\[127\.0\.0\.1\]:\d+: XCLIENT .* "
                       r"LOGIN=alice ", l) for l in sess),
          "LOGIN=alice in the XCLIENT:\n%s" % "\n".join(sess))
    eventually(lambda: 'auth="alice"' in pp.log(),
               "Postern's tx line names alice:\n" + pp.log_tail())


@suite.case
def xclient_login_counts_for_permit_sasl_authenticated(ctx):
    # `sasl` relays only for SASL-authenticated clients, and its own SASL
    # backend authenticates nobody
    pf = postfix(ctx)
    pp, p2 = auth_postern(ctx, pf)
    s, cport = connect(p2, tls=True)
    who = "unknown[%s]:%d" % (CLIENT, cport)
    code, msg = s.mail(SENDER)
    check_eq(code, 250, "MAIL: %r" % msg)
    code, msg = s.rcpt(RCPT)
    check_eq((code, msg), (554, b"5.7.1 <b@example.net>: Relay access denied"),
             "before AUTH: Postfix's refusal, through Postern")
    s.rset()
    m = pf.wait(r"^.* postfix-sasl/smtpd\[\d+\]: NOQUEUE: reject: RCPT from "
                r"%s: 554 5\.7\.1 <b@example\.net>: Relay access denied; "
                r"from=<a@example\.org> to=<b@example\.net> proto=ESMTP "
                r"helo=<([^>]*)>$" % re.escape(who), what="the reject line")
    check_helo(m.group(1), "the reject line")
    # AUTH after a transaction: a new identity for the same upstream
    # session, so a second XCLIENT, now with LOGIN
    s.login("alice", "alice-pw")
    qid = transaction(s, "auth after a transaction")
    s.quit()
    pid, line = smtpd_client(pf, "sasl", qid)
    check_eq(line, "client=%s, sasl_method=XCLIENT, sasl_username=alice"
             % who, "Postfix's client line")
    delivered(pf, qid)
    sess = pf.session("sasl", pid, who)
    check(re.match(r"disconnect from %s ehlo=3 xclient=0/2 mail=2 rcpt=1/2 "
                   r"data=1 rset=1 quit=1 commands=\d+/\d+$" % re.escape(who),
                   sess[-1]),
          "two XCLIENTs (anonymous, then alice), one upstream session: %r"
          % sess[-1])
    check_eq(pf.auth.auth_requests, 0,
             "AUTH requests to Postfix's own SASL backend")
    check(pf.auth.connections >= 1, "smtpd did use its SASL backend")


@suite.case
def proxy_protocol_gives_postfix_the_client(ctx):
    pf = postfix(ctx)
    for version in ("v2", "v1"):
        before = len(pf.lines())
        pp = quick(ctx, pf, "hap", "upstreams.0.proxy_protocol=" + version,
                   name="postern-proxy-" + version)
        s, cport = connect(pp.port)
        qid = transaction(s, "proxy " + version)
        s.quit()
        who = "unknown[%s]:%d" % (CLIENT, cport)
        pid, line = smtpd_client(pf, "hap", qid)
        check_eq(line, "client=" + who, "%s: Postfix's client" % version)
        # the header carries no HELO: Postfix has Postern's EHLO name
        check_eq(cleanup_saw(pf, qid), (who, "ESMTP", PN_HELO),
                 "%s: cleanup's client, proto, HELO" % version)
        delivered(pf, qid)
        sess = pf.session("hap", pid, who)
        check_eq(sess[0], "connect from " + who,
                 "%s: the client's from the first line" % version)
        check_eq(sess[-1], "disconnect from %s ehlo=1 mail=1 rcpt=1 data=1 "
                 "quit=1 commands=5" % who, "%s: disconnect" % version)
        # the capability probe, Postern's own connection with a v2 LOCAL
        # header or a v1 one naming its own ends, runs beside the client's
        pf.wait(r"^.* postfix-hap/smtpd\[\d+\]: disconnect from "
                r"unknown\[127\.0\.0\.1\]:", since=before,
                what="%s: the probe's disconnect" % version)
        new = pf.lines()[before:]
        hap = [l.split("]: ", 1)[1] for l in new
               if " postfix-hap/smtpd[" in l]
        probe = [l for l in hap
                 if l.startswith("disconnect from unknown[127.0.0.1]:")]
        check_eq(len(probe), 1, "%s: one probe:\n%s" % (version,
                                                      "\n".join(hap)))
        complaints = [l for l in hap if re.match(r"(warning|error|fatal)", l)]
        # accepted: Postern's address, EHLO, QUIT, no complaint
        check(probe[0].endswith(" ehlo=1 quit=1 commands=2"),
              "%s: the probe was served: %r" % (version, probe[0]))
        check_eq(complaints, [], "%s: Postfix's complaints" % version)
        eventually(lambda: "event=upstream_probe " in pp.log(),
                   "%s: Postern's probe line:\n%s" % (version, pp.log_tail()))
        pp.stop()


@suite.case
def xclient_not_authorised_mail_flows_as_posterns(ctx):
    pf = postfix(ctx)
    pp = quick(ctx, pf, "noxc", "upstreams.0.xclient=true")
    s, cport = connect(pp.port)
    qid = transaction(s, "noxc")
    s.quit()
    pid, line = smtpd_client(pf, "noxc", qid)
    m = re.match(r"client=unknown\[127\.0\.0\.1\]:(\d+)$", line)
    check(m is not None, "Postfix has Postern (127.0.0.1): %r" % line)
    check(int(m.group(1)) != cport, "Postern's port, not the client's")
    check_eq(cleanup_saw(pf, qid)[2], PN_HELO, "Postern's HELO")
    delivered(pf, qid)
    sess = pf.session("noxc", pid, line[len("client="):])
    check_eq(sess[-1], "disconnect from unknown[127.0.0.1]:%s ehlo=1 mail=1 "
             "rcpt=1 data=1 quit=1 commands=5" % m.group(1),
             "XCLIENT not offered, so never sent")
    check("event=upstream_xclient_refused" not in pp.log(),
          "nothing refused:\n" + pp.log_tail())


IPV6_CONFIG = """
listeners:
  - {address: "{listen}"}
  - {address: "[::1]:%(p6)d"}
upstreams:
  - {addresses: ["%(up)s"], xclient: true, helo_name: %(helo)s}
process:
  workers: 1
"""


def ipv6_client(ctx, pf, service, n=1):
    """Sends n messages from ::1 through a Postern whose upstream is
    service; returns (postern, client port, queue ids)."""
    p6 = free_port()
    pp = Postern(ctx, name="postern-v6-" + service, config=IPV6_CONFIG % {
        "p6": p6, "up": pf.addr(service), "helo": PN_HELO})
    deadline = time.time() + 10
    while True:  # is_listening() sees IPv4 only
        try:
            s, cport = connect(p6, src="::1", host="::1")
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    qids = [transaction(s, "ipv6 %d" % i) for i in range(n)]
    s.quit()
    return pp, cport, qids


@suite.case
def xclient_ipv6_client(ctx):
    pf = postfix(ctx)
    if not IPV6:
        ctx.note("SKIPPED: no IPv6 loopback")
        return
    pp, cport, (qid,) = ipv6_client(ctx, pf, "xc6")
    pid, line = smtpd_client(pf, "xc6", qid)
    # XCLIENT ADDR=IPV6:::1 (Postfix's form) becomes the client [::1]
    check_eq(line, "client=unknown[::1]:%d" % cport, "Postfix's client")
    check_eq(cleanup_saw(pf, qid), ("unknown[::1]:%d" % cport, "ESMTP", HELO),
             "cleanup's client, proto, HELO")
    delivered(pf, qid)
    check("upstream_xclient_refused" not in pp.log(), pp.log_tail())
    pp.stop()


@suite.case
def xclient_refused_by_postfix_mail_still_flows(ctx):
    # Postfix without IPv6 (inet_protocols = ipv4) refuses an IPv6 ADDR
    pf = postfix(ctx)
    if not IPV6:
        ctx.note("SKIPPED: no IPv6 loopback")
        return
    pp, cport, qids = ipv6_client(ctx, pf, "xc", n=2)
    pids = set()
    for qid in qids:
        pid, line = smtpd_client(pf, "xc", qid)
        pids.add(pid)
        check(re.match(r"client=unknown\[127\.0\.0\.1\]:\d+$", line),
              "refused: the message is Postern's own: %r" % line)
        check_eq(cleanup_saw(pf, qid), (line[len("client="):], "ESMTP",
                                         PN_HELO), "cleanup: Postern's own")
        delivered(pf, qid)
    check_eq(len(pids), 1, "one upstream session")
    sess = pf.session("xc", pids.pop(), line[len("client="):])
    refusals = [l for l in sess if re.match(
        r"> unknown\[127\.0\.0\.1\]:\d+: 501 5\.5\.4 Bad ADDR syntax: "
        r"IPV6:::1$", l)]
    check(refusals, "Postfix's 501:\n%s" % "\n".join(sess))
    log = pp.log()
    n = log.count("event=upstream_xclient_refused")
    check(n >= 1 and re.search(r"event=upstream_xclient_refused "
                               r"addr=127\.0\.0\.1:\d+ code=501", log),
          "Postern logged the refusal:\n" + pp.log_tail())
    check_eq(n, len(refusals), "one log line per refusal")
    # asked once per upstream session, not again before each transaction
    check_eq(len(refusals), 1, "XCLIENT refused once, then not sent again")
    pp.stop()


@suite.case
def postfix_log_clean_and_stopped(ctx):
    pf = postfix(ctx)
    bad = [l for l in pf.lines()
           if re.search(r"\]: (warning|error|fatal|panic)[: ]", l)]
    check_eq(bad, [], "warnings or errors in Postfix's log")
    t0 = time.time()
    rc = pf.stop()
    check(rc in (0, 128 + signal.SIGTERM), "master's exit status: %r" % rc)
    check_eq(pf.group_left, [], "Postfix processes left after stop")
    ctx.note("Postfix stopped in %.2fs" % (time.time() - t0))


if __name__ == "__main__":
    try:
        suite.run()
    finally:
        stop_postfix()
