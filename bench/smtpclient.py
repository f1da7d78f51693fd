#!/usr/bin/python3
"""Small SMTP clients for bench/run.sh (standard library only).

  smtpclient.py idle HOST PORT COUNT READYFILE
      Opens COUNT connections one after another; on each reads the greeting,
      sends EHLO and reads the reply, then keeps the connection open and
      idle. When done, writes "ok=N fail=M err=..." to READYFILE (atomically)
      and sleeps until it is killed (SIGTERM/SIGINT).

  smtpclient.py big HOST PORT BYTES
      Sends one message of BYTES body bytes (80-octet lines) in a single
      transaction, streaming it in 1 MiB chunks so the client itself stays
      small. Prints "code=250 bytes=N seconds=S" and exits 0 when the final
      reply is 250, 1 otherwise.
"""

import os
import signal
import socket
import sys
import time


class SmtpError(Exception):
    pass


def read_reply(sock, buf):
    """Reads one (possibly multi-line) reply. Returns (code, lines, buf)."""
    lines = []
    while True:
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise SmtpError("connection closed by server")
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        line = line.rstrip(b"\r")
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            try:
                code = int(line[:3])
            except ValueError:
                raise SmtpError("bad reply line %r" % line)
            return code, lines, buf


def expect(sock, buf, want):
    code, lines, buf = read_reply(sock, buf)
    if code != want:
        raise SmtpError("expected %d, got %r" % (want, b" / ".join(lines)))
    return buf


def cmd_idle(host, port, count, readyfile):
    socks = []
    fails = 0
    first_err = ""
    for _ in range(count):
        s = None
        try:
            s = socket.create_connection((host, port), timeout=10)
            buf = expect(s, b"", 220)
            s.sendall(b"EHLO idle.bench.invalid\r\n")
            expect(s, buf, 250)
            socks.append(s)
        except (OSError, SmtpError) as e:
            fails += 1
            if not first_err:
                first_err = repr(e)
            if s is not None:
                s.close()
            if fails >= 20:  # the proxy is refusing: stop early
                break
    tmp = readyfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("ok=%d fail=%d err=%s\n"
                % (len(socks), fails, first_err.replace(" ", "_") or "-"))
    os.rename(tmp, readyfile)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def cmd_big(host, port, nbytes):
    line = b"X" * 78 + b"\r\n"
    chunk = line * (1048576 // len(line))
    s = socket.create_connection((host, port), timeout=600)
    t0 = time.monotonic()
    buf = expect(s, b"", 220)
    s.sendall(b"EHLO big.bench.invalid\r\n")
    buf = expect(s, buf, 250)
    s.sendall(b"MAIL FROM:<bench@bench.invalid>\r\n")
    buf = expect(s, buf, 250)
    s.sendall(b"RCPT TO:<sink@bench.invalid>\r\n")
    buf = expect(s, buf, 250)
    s.sendall(b"DATA\r\n")
    buf = expect(s, buf, 354)
    s.sendall(b"From: <bench@bench.invalid>\r\nTo: <sink@bench.invalid>\r\n"
              b"Subject: big message\r\n\r\n")
    sent = 0
    while sent < nbytes:
        n = min(len(chunk), nbytes - sent)
        n -= n % len(line)
        if n == 0:
            break
        s.sendall(chunk[:n] if n < len(chunk) else chunk)
        sent += n
    s.sendall(b".\r\n")
    code, lines, buf = read_reply(s, buf)
    secs = time.monotonic() - t0
    try:
        s.sendall(b"QUIT\r\n")
        read_reply(s, buf)
    except (OSError, SmtpError):
        pass
    s.close()
    print("code=%d bytes=%d seconds=%.3f reply=%s"
          % (code, sent, secs, lines[-1].decode("ascii", "replace")
             .replace(" ", "_")))
    return 0 if code == 250 else 1


def main(argv):
    if len(argv) == 6 and argv[1] == "idle":
        return cmd_idle(argv[2], int(argv[3]), int(argv[4]), argv[5])
    if len(argv) == 5 and argv[1] == "big":
        try:
            return cmd_big(argv[2], int(argv[3]), int(argv[4]))
        except (OSError, SmtpError) as e:
            print("error=%s" % repr(e).replace(" ", "_"))
            return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
