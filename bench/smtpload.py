#!/usr/bin/python3
"""SMTP load clients for bench/tls.sh and bench/bdat.sh (standard library).

smtp-source sends neither STARTTLS nor BDAT, so these do. Each session is
one process with blocking sockets (os.fork; no threads, no GIL between
sessions); one command, one reply, as smtp-source does, unless
--pipelining.

  smtpload.py msgs [--tls none|starttls|implicit] [--bdat CHUNK]
                   [--sessions N] [--messages M] [--size BYTES] [--reuse]
                   [--pipelining] HOST PORT
      M messages (one recipient, BYTES of body in 80-octet lines after four
      headers, like smtp-source -l) over N parallel sessions. --reuse keeps
      one connection per session (smtp-source -d); without it every message
      has its own connection (connect, [TLS,] EHLO, message, QUIT). --bdat
      sends the message as BDAT chunks of CHUNK octets, the last one with
      LAST, instead of DATA (the server must offer CHUNKING). --pipelining
      sends MAIL, RCPT and DATA (or every BDAT chunk) without waiting, then
      reads the replies. The clock starts when every session process exists
      and stops when the last one is done.
      Prints "ok=M fail=F seconds=S client_cpu=C err=..." (C: the user+system
      CPU seconds of the session processes while they worked, from
      getrusage; process start and exit not included); exit 0 when nothing
      failed.

  smtpload.py handshakes [--tls implicit|starttls] [--sessions N]
                         [--count M] [--resume] HOST PORT
      M TLS handshakes from N parallel processes, each on a new connection:
      implicit: connect, handshake, read the 220 greeting;
      starttls: connect, 220, EHLO, STARTTLS, 220, handshake, EHLO over TLS;
      then QUIT, 221, close. --resume offers each process's previous
      session (ticket), so all but the first are abbreviated handshakes
      when the server resumes. The client does not verify the certificate
      (the server's cost is the same either way).
      Prints "ok=M fail=F resumed=R seconds=S client_cpu=C err=..."; exit 0
      when nothing failed.

  smtpload.py idle [--tls none|starttls|implicit] HOST PORT COUNT READYFILE
      Opens COUNT connections one after another; on each: [TLS,] EHLO and
      its reply (over TLS when there is TLS), then holds it idle. Writes
      "ok=N fail=M err=..." to READYFILE (atomically) and sleeps until
      SIGTERM/SIGINT.
"""

import argparse
import os
import resource
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtpclient import SmtpError, read_reply  # noqa: E402

HELO = b"EHLO load.bench.invalid\r\n"
TIMEOUT = 60


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Session:
    """One SMTP connection: plaintext, STARTTLS or implicit TLS."""

    def __init__(self, host, port, tls, ctx, session=None):
        self.buf = b""
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.resumed = False
        if tls == "implicit":
            self.wrap(ctx, session)
            self.expect(220)
            self.ehlo = self.cmd(HELO, 250)
        else:
            self.expect(220)
            self.ehlo = self.cmd(HELO, 250)
            if tls == "starttls":
                if b"STARTTLS" not in b" ".join(self.ehlo).upper():
                    raise SmtpError("STARTTLS not offered")
                self.cmd(b"STARTTLS\r\n", 220)
                if self.buf:
                    raise SmtpError("bytes after the 220 to STARTTLS")
                self.wrap(ctx, session)
                self.ehlo = self.cmd(HELO, 250)

    def wrap(self, ctx, session):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="mx.bench.test",
                                    session=session)
        self.resumed = self.sock.session_reused

    def expect(self, code):
        got, lines, self.buf = read_reply(self.sock, self.buf)
        if got != code:
            raise SmtpError("expected %d, got %r" % (code, b" / ".join(lines)))
        return lines

    def cmd(self, line, code):
        self.sock.sendall(line)
        return self.expect(code)

    def quit(self):
        try:
            self.cmd(b"QUIT\r\n", 221)
        except (OSError, SmtpError):
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def make_message(size):
    """Four headers and `size` octets of body in lines of 80 octets."""
    head = (b"From: <load@bench.invalid>\r\nTo: <sink@bench.invalid>\r\n"
            b"Date: Tue, 1 Dec 2026 00:00:00 +0000\r\n"
            b"Message-Id: <load@bench.invalid>\r\n\r\n")
    line = b"Y" * 78 + b"\r\n"
    body = line * (size // len(line))
    rest = size - len(body)
    if rest >= 2:
        body += b"Z" * (rest - 2) + b"\r\n"
    return head + body


def send_message(s, msg, chunks, pipelining):
    mail = b"MAIL FROM:<load@bench.invalid>\r\n"
    rcpt = b"RCPT TO:<sink@bench.invalid>\r\n"
    if chunks is None:
        if pipelining:
            s.sock.sendall(mail + rcpt + b"DATA\r\n")
            s.expect(250)
            s.expect(250)
            s.expect(354)
        else:
            s.cmd(mail, 250)
            s.cmd(rcpt, 250)
            s.cmd(b"DATA\r\n", 354)
        s.sock.sendall(msg)  # no line starts with a dot: nothing to stuff
        s.cmd(b".\r\n", 250)
        return
    if pipelining:
        s.sock.sendall(mail + rcpt + chunks[0])
        for c in chunks[1:]:
            s.sock.sendall(c)
        for _ in range(len(chunks) + 2):
            s.expect(250)
        return
    s.cmd(mail, 250)
    s.cmd(rcpt, 250)
    for c in chunks:
        s.cmd(c, 250)


def bdat_chunks(msg, size):
    out = []
    for off in range(0, len(msg), size):
        part = msg[off:off + size]
        last = b" LAST" if off + size >= len(msg) else b""
        out.append(b"BDAT %d%s\r\n" % (len(part), last) + part)
    return out


def run_msgs(a, n):
    """One session process: n messages. Returns (ok, error or "")."""
    ctx = tls_context() if a.tls != "none" else None
    msg = make_message(a.size)
    chunks = bdat_chunks(msg, a.bdat) if a.bdat else None
    ok = 0
    s = None
    try:
        for _ in range(n):
            if s is None:
                s = Session(a.host, a.port, a.tls, ctx)
                if chunks is not None and \
                        b"CHUNKING" not in b" ".join(s.ehlo).upper():
                    raise SmtpError("CHUNKING not offered")
            send_message(s, msg, chunks, a.pipelining)
            ok += 1
            if not a.reuse:
                s.quit()
                s = None
        if s is not None:
            s.quit()
        return ok, ""
    except (OSError, SmtpError, ssl.SSLError) as e:
        return ok, repr(e)


def run_handshakes(a, n):
    ctx = tls_context()
    ok = resumed = 0
    sess = None
    try:
        for _ in range(n):
            s = Session(a.host, a.port, a.tls, ctx,
                        sess if a.resume else None)
            if a.resume:
                sess = s.sock.session
            resumed += s.resumed
            s.quit()
            ok += 1
        return ok, "", resumed
    except (OSError, SmtpError, ssl.SSLError) as e:
        return ok, repr(e), resumed


def cpu_self():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def fan_out(a, total, work):
    """Runs work(a, n) in a.sessions processes, n summing to total; the
    clock runs from the start signal to the last exit. Returns
    (ok, fail, seconds, first error, extra sum, CPU seconds the processes
    spent from the start signal to the end of their work)."""
    k = max(1, min(a.sessions, total))
    start_r, start_w = os.pipe()
    res_r, res_w = os.pipe()
    pids = []
    for i in range(k):
        n = total // k + (1 if i < total % k else 0)
        pid = os.fork()
        if pid == 0:
            os.close(start_w)
            os.close(res_r)
            os.read(start_r, 1)
            c0 = cpu_self()
            r = work(a, n)
            extra = r[2] if len(r) > 2 else 0
            line = "%d %d %d %.6f %s\n" % (r[0], n - r[0], extra,
                                           cpu_self() - c0,
                                           (r[1] or "-").replace("\n", " "))
            os.write(res_w, line.encode()[:4000])
            os._exit(0)
        pids.append(pid)
    os.close(start_r)
    os.close(res_w)

    def stop(signum, _frame):  # take the sessions along
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        os._exit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    time.sleep(0.2)  # let the children reach their read
    t0 = time.monotonic()
    os.write(start_w, b"x" * k)
    data = b""
    while data.count(b"\n") < k:  # the last result, or EOF if one died
        chunk = os.read(res_r, 65536)
        if not chunk:
            break
        data += chunk
    secs = time.monotonic() - t0
    for pid in pids:
        os.waitpid(pid, 0)
    ok = fail = extra = 0
    cpu = 0.0
    err = ""
    for line in data.decode().splitlines():
        f = line.split(" ", 4)
        ok += int(f[0])
        fail += int(f[1])
        extra += int(f[2])
        cpu += float(f[3])
        if f[4] != "-" and not err:
            err = f[4]
    fail += total - ok - fail if ok + fail < total else 0
    return ok, fail, secs, err, extra, cpu


def cmd_idle(a):
    ctx = tls_context() if a.tls != "none" else None
    held = []
    fails = 0
    first_err = ""
    for _ in range(a.count):
        try:
            held.append(Session(a.host, a.port, a.tls, ctx))
        except (OSError, SmtpError, ssl.SSLError) as e:
            fails += 1
            first_err = first_err or repr(e)
            if fails >= 20:
                break
    tmp = a.readyfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("ok=%d fail=%d err=%s\n"
                % (len(held), fails, first_err.replace(" ", "_") or "-"))
    os.rename(tmp, a.readyfile)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def main(argv):
    p = argparse.ArgumentParser(prog="smtpload.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("msgs")
    m.add_argument("--tls", choices=("none", "starttls", "implicit"),
                   default="none")
    m.add_argument("--bdat", type=int, default=0, metavar="CHUNK")
    m.add_argument("--sessions", type=int, default=10)
    m.add_argument("--messages", type=int, default=1000)
    m.add_argument("--size", type=int, default=10240)
    m.add_argument("--reuse", action="store_true")
    m.add_argument("--pipelining", action="store_true")
    h = sub.add_parser("handshakes")
    h.add_argument("--tls", choices=("starttls", "implicit"),
                   default="implicit")
    h.add_argument("--sessions", type=int, default=4)
    h.add_argument("--count", type=int, default=1000)
    h.add_argument("--resume", action="store_true")
    i = sub.add_parser("idle")
    i.add_argument("--tls", choices=("none", "starttls", "implicit"),
                   default="none")
    for q in (m, h, i):
        q.add_argument("host")
        q.add_argument("port", type=int)
    i.add_argument("count", type=int)
    i.add_argument("readyfile")
    a = p.parse_args(argv[1:])

    if a.cmd == "idle":
        return cmd_idle(a)
    if a.cmd == "msgs":
        ok, fail, secs, err, _, cpu = fan_out(a, a.messages, run_msgs)
        print("ok=%d fail=%d seconds=%.3f client_cpu=%.2f err=%s"
              % (ok, fail, secs, cpu, err.replace(" ", "_") or "-"))
    else:
        ok, fail, secs, err, resumed, cpu = fan_out(a, a.count,
                                                    run_handshakes)
        print("ok=%d fail=%d resumed=%d seconds=%.3f client_cpu=%.2f err=%s"
              % (ok, fail, resumed, secs, cpu, err.replace(" ", "_") or "-"))
    return 0 if fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
