"""Shared harness for Postern's black-box tests.

Each tests/blackbox/test_*.py is a script run by ctest as
    /usr/bin/python3 tests/blackbox/test_X.py --postern /path/to/postern
(or with POSTERN_BIN in the environment). It builds a Suite, registers its
cases and calls suite.run(), which prints "case NAME ... PASS|FAIL" for
each, the transcripts of a failing case, and a closing line
"N passed, N failed"; the exit code is 0 only if every case passed.

What lives here:
  Suite / Ctx      case runner, temp dir, process registry and cleanup
  Postern          the binary under test (quick mode or a config file)
  Upstream         peers/upstream.py, the scripted recording upstream
  Client           a raw SMTP client: bytes out, parsed replies in
  check / expect   assertions that say what was wanted and what came

Every process started here gets PR_SET_PDEATHSIG, is registered, and is
stopped at exit (also on SIGTERM/SIGINT and the per-file alarm), so a
failing or killed test leaves nothing running.
"""

import argparse
import atexit
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
PYTHON = "/usr/bin/python3"  # Debian's, the one python3-aiosmtpd is for
LOCAL = "127.0.0.1"

# Replies are "ddd-text" / "ddd text"; enhanced codes per RFC 3463.
ENH_RE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS,
                 signal.SIGFPE, signal.SIGILL)
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "ERROR: ThreadSanitizer",
                   "ERROR: UndefinedBehaviorSanitizer")


class TestFailure(Exception):
    pass


class FileTimeout(BaseException):
    """Raised by SIGALRM when the whole file overruns its budget."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: wanted %r, got %r" % (what, want, got))


# ----------------------------------------------------------------- processes

_registry = []


def _child_setup():
    # Die with the test: PR_SET_PDEATHSIG(SIGKILL), kept across execve.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except OSError:
        pass


def spawn(argv, log_path, env=None, cwd=None):
    """Starts argv with stdout+stderr appended to log_path; registered."""
    logf = open(log_path, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                         stderr=subprocess.STDOUT, env=env, cwd=cwd,
                         preexec_fn=_child_setup)
    logf.close()
    _registry.append(p)
    return p


def stop_process(p, timeout=5.0, sig=signal.SIGTERM):
    """Stops p (SIGTERM, then SIGKILL); returns its exit status."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    if p in _registry:
        _registry.remove(p)
    return p.returncode


def _cleanup_all():
    for p in list(_registry):
        try:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        except Exception:
            pass
    _registry.clear()


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    _cleanup_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def _on_alarm(signum, frame):
    raise FileTimeout("test file time budget exceeded")


signal.signal(signal.SIGALRM, _on_alarm)


def free_port():
    """A free loopback TCP port (bind port 0, then release it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOCAL, 0))
    port = s.getsockname()[1]
    s.close()
    return port


_CERTS = []


def test_certs():
    """The directory of the TLS test certificates: the build-time set
    ($POSTERN_TEST_CERTS, made by ctest), or a fresh one made once per
    process by tests/certs/gen-certs.sh."""
    if _CERTS:
        return _CERTS[0]
    d = os.environ.get("POSTERN_TEST_CERTS")
    if not d or not os.path.exists(os.path.join(d, "ca.crt")):
        d = tempfile.mkdtemp(prefix="postern-certs-")
        subprocess.run(["sh", os.path.join(HERE, "..", "certs",
                                           "gen-certs.sh"), d],
                       check=True, capture_output=True)
    _CERTS.append(d)
    return d


def dead_port():
    """A loopback port with nothing listening (connections are refused)."""
    return free_port()


def is_listening(port):
    """True when something LISTENs on 127.0.0.1:port or 0.0.0.0:port,
    read from /proc/net/tcp so that no connection is made."""
    want = {"0100007F:%04X" % port, "00000000:%04X" % port}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] in want and parts[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


# ------------------------------------------------------------------- postern

class LogWatch:
    """For a peer whose log the tests read (Postfix, Exim): the peer sets
    log_path and defines wait_failed(pattern, what, timeout) (the
    TestFailure to raise)."""

    def log(self):
        """The whole log so far ("" before it exists)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def lines(self):
        return self.log().splitlines()

    def wait(self, pattern, timeout=10.0, what=None, since=0):
        """The first match of the regex pattern (multiline) in the log
        from line number since on, waiting for it to appear."""
        rx = re.compile(pattern, re.M)
        deadline = time.time() + timeout
        while True:
            m = rx.search("\n".join(self.lines()[since:]))
            if m:
                return m
            if time.time() > deadline:
                raise self.wait_failed(pattern, what or "match", timeout)
            time.sleep(0.02)


class Postern(LogWatch):
    """The binary under test, listening on a free loopback port.

    Quick mode:  Postern(ctx, upstream="127.0.0.1:U", opts=["k=v", ...])
    Config file: Postern(ctx, config="yaml text with {listen} ...")
    ({listen} is replaced by "127.0.0.1:P", {port} by P).
    """

    def __init__(self, ctx, upstream=None, opts=(), config=None,
                 name="postern", start=True, port=None):
        self.ctx = ctx
        self.name = name
        self.port = port or free_port()
        self.listen = "%s:%d" % (LOCAL, self.port)
        self.log_path = ctx.path("%s-%d.log" % (name, self.port))
        self.argv = [ctx.postern_bin]
        if config is not None:
            cfg = ctx.path("%s-%d.yaml" % (name, self.port))
            with open(cfg, "w") as f:
                f.write(config.replace("{listen}", self.listen)
                        .replace("{port}", str(self.port)))
            self.config_path = cfg
            self.argv += ["-c", cfg]
        else:
            self.argv += ["--listen", self.listen, "--upstream", upstream]
        # The suite runs as root in CI; postern refuses to stay root unless
        # told to (a production config sets process.user instead).
        if os.geteuid() == 0:
            self.argv += ["-o", "process.run_as_root=yes"]
        # Byte-for-byte content checks want the message as sent: the
        # Received header has its own test (test_10_relay), which turns it
        # back on.
        if not any(o.startswith("smtp.received_header") for o in opts):
            self.argv += ["-o", "smtp.received_header=off"]
        for o in opts:
            self.argv += ["-o", o]
        self.proc = None
        ctx.posterns.append(self)
        if start:
            self.start()

    def start(self, timeout=10.0):
        self.proc = spawn(self.argv, self.log_path)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("postern exited at start with status %s:\n"
                                  "argv: %s\n%s" % (self.proc.returncode,
                                                   " ".join(self.argv),
                                                   self.log_tail()))
            if is_listening(self.port):
                return self
            time.sleep(0.02)
        raise TestFailure("postern did not listen on %s within %.0fs:\n%s" %
                          (self.listen, timeout, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            raise TestFailure("postern is not running (exit status %s):\n%s"
                              % (self.proc.returncode if self.proc else None,
                                 self.log_tail()))

    def wait_failed(self, pattern, what, timeout):
        return TestFailure("postern log: no %s within %.0fs (/%s/):\n%s"
                           % (what, timeout, pattern, self.log_tail()))

    def log_tail(self, n=40):
        lines = self.log().splitlines()
        return "\n".join("    | " + l for l in lines[-n:])

    def sanitizer_report(self):
        text = self.log()
        for mark in SANITIZER_MARKS:
            if mark in text:
                i = text.index(mark)
                return text[max(0, i - 200):i + 3000]
        return None

    def stop(self, exited_ok=False):
        """Stops postern; raises if it had crashed or a sanitizer spoke
        (or had exited on its own, unless exited_ok)."""
        if self.proc is None:
            return None
        was_alive = self.proc.poll() is None
        rc = stop_process(self.proc)
        if self in self.ctx.posterns:
            self.ctx.posterns.remove(self)
        rep = self.sanitizer_report()
        if rep:
            raise TestFailure("sanitizer report in postern's log:\n" + rep)
        if rc is not None and rc < 0 and -rc in [int(s) for s in CRASH_SIGNALS]:
            raise TestFailure("postern crashed (signal %d)%s:\n%s" %
                              (-rc, "" if was_alive else " before stop",
                               self.log_tail()))
        if not was_alive and not exited_ok:
            raise TestFailure("postern had exited (status %s) before stop:\n%s"
                              % (rc, self.log_tail()))
        return rc

    def client(self, **kw):
        return Client(self.ctx, self.port, **kw)


# ------------------------------------------------------------------ upstream

class Upstream:
    """peers/upstream.py: a scripted upstream that records every session."""

    def __init__(self, ctx, script=(), name="upstream"):
        self.ctx = ctx
        self.dir = ctx.mkdir(name)
        self.script_path = os.path.join(self.dir, "script.txt")
        self.set_script(script)
        self.log_path = os.path.join(self.dir, "upstream.log")
        self.proc = spawn([PYTHON, os.path.join(PEERS, "upstream.py"),
                           "--dir", self.dir, "--script", self.script_path],
                          self.log_path)
        ctx.upstreams.append(self)
        port_file = os.path.join(self.dir, "port")
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise TestFailure("upstream.py did not start:\n" +
                                  open(self.log_path).read())
            time.sleep(0.02)
        self.port = int(open(port_file).read())
        self.addr = "%s:%d" % (LOCAL, self.port)

    def set_script(self, lines):
        tmp = self.script_path + ".tmp"
        with open(tmp, "w", encoding="latin-1") as f:
            for l in lines:
                f.write(l + "\n")
        os.replace(tmp, self.script_path)

    def sessions(self):
        out = []
        for name in os.listdir(self.dir):
            m = re.match(r"session-(\d+)\.json$", name)
            if m:
                for _ in range(20):
                    try:
                        with open(os.path.join(self.dir, name)) as f:
                            out.append(json.load(f))
                        break
                    except (ValueError, OSError):
                        time.sleep(0.01)
        out.sort(key=lambda s: s["id"])
        return out

    def mail_sessions(self):
        """Sessions in which a MAIL command arrived (leaves out probes)."""
        return [s for s in self.sessions()
                if any(c.upper().startswith("MAIL") for c in s["commands"])]

    def messages(self):
        """Every completed message: the record plus its content bytes."""
        out = []
        for s in self.sessions():
            for m in s["messages"]:
                m = dict(m)
                m["session"] = s["id"]
                if m.get("file"):
                    with open(os.path.join(self.dir, m["file"]), "rb") as f:
                        m["content"] = f.read()
                if m.get("raw_file"):
                    with open(os.path.join(self.dir, m["raw_file"]), "rb") as f:
                        m["raw"] = f.read()
                out.append(m)
        return out

    def wait_for(self, pred, timeout=5.0, what="condition"):
        deadline = time.time() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.time() > deadline:
                raise TestFailure("upstream: timed out waiting for %s;\n%s"
                                  % (what, self.summary()))
            time.sleep(0.02)

    def wait_messages(self, n, timeout=5.0):
        return self.wait_for(lambda: (lambda m: m if len(m) >= n else None)(
            self.messages()), timeout, "%d message(s)" % n)

    def wait_sessions_ended(self, timeout=5.0):
        """Every session so far, once all have ended (their records are
        complete then)."""
        def ended():
            ss = self.sessions()
            return [ss] if all(x["closed_by"] is not None for x in ss) \
                else None
        return self.wait_for(ended, timeout, "every session to end")[0]

    def summary(self, last=4):
        lines = []
        for s in self.sessions()[-last:]:
            lines.append("    upstream session %d (closed_by=%s, %d message(s)):"
                         % (s["id"], s["closed_by"], len(s["messages"])))
            for who, data in s["transcript"][-30:]:
                lines.append("      %s: %r" % (who, data[:200]))
        return "\n".join(lines) if lines else "    (no upstream session)"

    def stop(self):
        stop_process(self.proc)
        if self in self.ctx.upstreams:
            self.ctx.upstreams.remove(self)


class AiosmtpdUpstream:
    """peers/aiosmtpd_upstream.py: a recording upstream on aiosmtpd."""

    def __init__(self, ctx, name="aiosmtpd", tls_args=(), args=()):
        self.ctx = ctx
        self.dir = ctx.mkdir(name)
        self.log_path = os.path.join(self.dir, "aiosmtpd.log")
        self.proc = spawn([PYTHON, os.path.join(PEERS, "aiosmtpd_upstream.py"),
                           "--dir", self.dir] + list(tls_args) + list(args),
                          self.log_path)
        ctx.upstreams.append(self)
        port_file = os.path.join(self.dir, "port")
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise TestFailure("aiosmtpd_upstream.py did not start:\n" +
                                  open(self.log_path).read())
            time.sleep(0.02)
        self.port = int(open(port_file).read())
        self.addr = "%s:%d" % (LOCAL, self.port)

    def messages(self):
        out = []
        n = 1
        while os.path.exists(os.path.join(self.dir, "msg-%d.json" % n)):
            with open(os.path.join(self.dir, "msg-%d.json" % n)) as f:
                m = json.load(f)
            with open(os.path.join(self.dir, "msg-%d.eml" % n), "rb") as f:
                m["content"] = f.read()
            out.append(m)
            n += 1
        return out

    def wait_messages(self, n, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= n:
                return msgs
            if time.time() > deadline:
                raise TestFailure("aiosmtpd upstream: %d message(s), wanted %d"
                                  % (len(msgs), n))
            time.sleep(0.02)

    def summary(self, last=4):
        return "    aiosmtpd upstream: %d message(s); log:\n%s" % (
            len(self.messages()), open(self.log_path).read()[-2000:])

    def stop(self):
        stop_process(self.proc)
        if self in self.ctx.upstreams:
            self.ctx.upstreams.remove(self)


# -------------------------------------------------------------------- client

class Reply:
    def __init__(self, raw):
        self.raw = raw
        lines = raw.split(b"\r\n")[:-1]
        self.code = int(lines[0][:3])
        self.lines = [l[4:].decode("latin-1") for l in lines]
        first = self.lines[0].split(" ", 1)
        if ENH_RE.match(first[0]):
            self.enh = first[0]
            self.text = first[1] if len(first) > 1 else ""
        else:
            self.enh = None
            self.text = self.lines[0]
        self.multiline = len(lines) > 1

    def __repr__(self):
        return "Reply(%r)" % self.raw


class ConnClosed(TestFailure):
    pass


class ReplyTimeout(TestFailure):
    pass


class Client:
    """A raw SMTP client over a blocking socket with timeouts; it keeps
    the transcript of both directions for failure reports."""

    def __init__(self, ctx, port, timeout=5.0, greeting=True, name=None):
        self.ctx = ctx
        self.timeout = timeout
        self.name = name or "client%d" % (len(ctx.clients) + 1)
        self.transcript = []
        self.buf = b""
        self.eof = False
        self.sock = socket.create_connection((LOCAL, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx.clients.append(self)
        self.greeting = self.reply() if greeting else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.transcript.append(("C", data))
        self.sock.sendall(data)

    def line(self, text):
        if isinstance(text, str):
            text = text.encode("latin-1")
        self.send(text + b"\r\n")

    def _fill(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            raise ReplyTimeout("%s: no complete reply within %.1fs (have %r)"
                               % (self.name, self.timeout, self.buf[:300]))
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise ReplyTimeout("%s: no complete reply within the timeout "
                               "(have %r)" % (self.name, self.buf[:300]))
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            self.transcript.append(("S", b"<EOF>"))
            raise ConnClosed("%s: connection closed by postern (pending %r)"
                             % (self.name, self.buf[:300]))
        self.buf += data

    def reply(self, timeout=None):
        """Reads one whole reply; fails on a malformed one."""
        deadline = time.time() + (timeout or self.timeout)
        raw = b""
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > 100000:
                    raise TestFailure("%s: reply line without end: %r"
                                      % (self.name, self.buf[:300]))
                self._fill(deadline)
                continue
            line = self.buf[:i + 1]
            self.buf = self.buf[i + 1:]
            raw += line
            if not re.match(rb"^[2-5]\d\d([ -][^\r\n]*)?\r\n$", line):
                self.transcript.append(("S", raw))
                raise TestFailure("%s: malformed reply line from postern: %r"
                                  % (self.name, line))
            if raw[:3] != line[:3]:
                self.transcript.append(("S", raw))
                raise TestFailure("%s: mixed codes in one reply: %r"
                                  % (self.name, raw))
            if line[3:4] != b"-":
                self.transcript.append(("S", raw))
                return Reply(raw)

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, text, code=None, enh=None, text_has=None, timeout=None):
        self.line(text)
        r = self.reply(timeout)
        if code is not None:
            expect(r, code, enh, text_has, what=text if isinstance(text, str)
                   else repr(text))
        return r

    def ehlo(self, name="client.example"):
        return self.cmd("EHLO " + name, 250)

    def expect_closed(self, timeout=None):
        """Reads until EOF; fails if more replies come or it stays open."""
        deadline = time.time() + (timeout or self.timeout)
        while not self.eof:
            try:
                self._fill(deadline)
            except ConnClosed:
                break
            except ReplyTimeout:
                raise TestFailure("%s: postern did not close the connection "
                                  "(extra bytes: %r)" % (self.name, self.buf))
        check(self.buf == b"", "%s: bytes after the last reply: %r"
              % (self.name, self.buf))

    def no_reply_within(self, secs):
        """Asserts that nothing arrives for secs (postern stays silent)."""
        self.sock.settimeout(secs)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        self.transcript.append(("S", data))
        raise TestFailure("%s: unexpected bytes from postern: %r"
                          % (self.name, data))

    def send_message(self, body, mail="<sender@example.org>",
                     rcpts=("<rcpt@example.net>",), eom=b".\r\n"):
        """MAIL, RCPT..., DATA, body, end; returns the end-of-data reply.
        body is sent exactly as given (the caller dot-stuffs)."""
        self.cmd("MAIL FROM:" + mail, 250)
        for r in rcpts:
            self.cmd("RCPT TO:" + r, 250)
        self.cmd("DATA", 354)
        self.send(body + eom)
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def dump(self):
        out = ["    --- %s transcript ---" % self.name]
        for who, data in self.transcript[-60:]:
            if len(data) > 400:
                data = data[:300] + b"...<%d bytes>..." % len(data) + data[-60:]
            out.append("    %s: %r" % (who, data))
        return "\n".join(out)


def expect(r, code, enh=None, text_has=None, what="reply"):
    """Asserts a reply's code, enhanced code and (part of) its text."""
    if r.code != code:
        raise TestFailure("%s: wanted %d%s, got %r" %
                          (what, code, " " + enh if enh else "", r.raw))
    if enh is not None and r.enh != enh:
        raise TestFailure("%s: wanted enhanced code %s, got %r" %
                          (what, enh, r.raw))
    if text_has is not None and text_has not in r.raw.decode("latin-1"):
        raise TestFailure("%s: wanted text containing %r, got %r" %
                          (what, text_has, r.raw))
    return r


def expect_class(r, cls, what="reply"):
    if r.code // 100 != cls:
        raise TestFailure("%s: wanted a %dxx reply, got %r" % (what, cls, r.raw))
    if r.code not in (220, 221, 354) and cls in (2, 4, 5):
        check(r.enh is not None and r.enh[0] == str(cls),
              "%s: reply without a matching enhanced code: %r" % (what, r.raw))
    return r


# --------------------------------------------------------------- suite/ctx

class Ctx:
    def __init__(self, postern_bin, tmp):
        self.postern_bin = postern_bin
        self.tmp = tmp
        self.posterns = []
        self.upstreams = []
        self.clients = []
        self.notes = []

    def path(self, name):
        return os.path.join(self.tmp, name)

    def mkdir(self, name):
        i = 0
        while True:
            d = os.path.join(self.tmp, name if i == 0 else "%s-%d" % (name, i))
            if not os.path.exists(d):
                os.makedirs(d)
                return d
            i += 1

    def note(self, text):
        """Informational line printed under the case (e.g. a measurement)."""
        self.notes.append(text)


def find_postern(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--postern", default=os.environ.get("POSTERN_BIN"))
    ap.add_argument("--keep", action="store_true",
                    help="keep the temp dir (logs, upstream records)")
    ap.add_argument("cases", nargs="*", help="run only these cases")
    args = ap.parse_args(argv)
    if not args.postern:
        root = os.path.dirname(os.path.dirname(HERE))
        for cand in ("build/gateway/postern", "build-bb/gateway/postern"):
            p = os.path.join(root, cand)
            if os.path.exists(p):
                args.postern = p
                break
    if not args.postern or not os.access(args.postern, os.X_OK):
        print("postern binary not found (give --postern or POSTERN_BIN)")
        sys.exit(2)
    args.postern = os.path.abspath(args.postern)
    return args


class Suite:
    """Registers cases and runs them; a case is fn(ctx)."""

    def __init__(self, name, budget=110):
        self.name = name
        self.budget = budget
        self.cases = []
        self.args = find_postern(sys.argv[1:])
        self.keep = self.args.keep or os.environ.get("POSTERN_BB_KEEP")
        self.tmp = tempfile.mkdtemp(prefix="postern-bb-%s-" % name)
        self.ctx = Ctx(self.args.postern, self.tmp)

    def case(self, fn):
        self.cases.append(fn)
        return fn

    def _report(self, ctx, err):
        print("    FAILURE: %s" % err)
        for c in ctx.clients:
            print(c.dump())
        for u in ctx.upstreams:
            print(u.summary())
        for p in ctx.posterns:
            print("    --- postern log (%s) ---\n%s" % (p.listen, p.log_tail(25)))

    def run(self):
        start = time.time()
        signal.alarm(self.budget)
        passed = failed = 0
        ctx = self.ctx
        try:
            for fn in self.cases:
                name = fn.__name__
                if self.args.cases and name not in self.args.cases:
                    continue
                ctx.clients = []
                ctx.notes = []
                t0 = time.time()
                try:
                    fn(ctx)
                    for p in list(ctx.posterns):
                        p.check_alive()
                    ok, err = True, None
                except FileTimeout:
                    raise
                except TestFailure as e:
                    ok, err = False, str(e)
                except Exception:
                    ok, err = False, traceback.format_exc()
                dt = time.time() - t0
                print("case %s ... %s (%.2fs)" % (name, "PASS" if ok else "FAIL",
                                                  dt))
                for n in ctx.notes:
                    print("    note: %s" % n)
                if ok:
                    passed += 1
                else:
                    failed += 1
                    self._report(ctx, err)
                for c in ctx.clients:
                    c.close()
                sys.stdout.flush()
        except FileTimeout:
            failed += 1
            print("case %s ... FAIL (file budget of %ds exceeded)"
                  % (fn.__name__, self.budget))
            self._report(ctx, "time budget exceeded")
        finally:
            signal.alarm(0)
            # Stop what the cases left running; a crash found here fails.
            for p in list(ctx.posterns):
                try:
                    p.stop()
                except TestFailure as e:
                    failed += 1
                    print("case teardown(%s) ... FAIL\n    %s" % (p.listen, e))
            for u in list(ctx.upstreams):
                u.stop()
            _cleanup_all()
            if self.keep or failed:
                print("temp dir kept: %s" % self.tmp)
            if not self.keep and not failed:
                shutil.rmtree(self.tmp, ignore_errors=True)
        print("elapsed %.1fs" % (time.time() - start))
        print("%s: %d passed, %d failed" % (self.name, passed, failed))
        sys.stdout.flush()
        sys.exit(0 if failed == 0 and passed > 0 else 1)


# ------------------------------------------------------------------- helpers

def crlf_normalize(data):
    """What body.bare_newlines=normalize promises: every bare CR and bare LF
    becomes CRLF, CRLF stays."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def dot_stuff(data):
    """RFC 5321 4.5.2 transparency for a CRLF-lined body."""
    out = re.sub(rb"(?m)^\.", b"..", data)
    return out


def has_bare_cr_or_lf(data):
    return re.search(rb"\r(?!\n)|(?<!\r)\n", data) is not None
