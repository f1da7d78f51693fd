#!/usr/bin/python3
"""15-source-sink: Postfix's smtp-source -> postern -> smtp-sink.

1,000 messages in 10 parallel sessions, a new connection per message
(smtp-source's default), to a legacy smtp-sink (PIPELINING, 8BITMIME,
ENHANCEDSTATUSCODES, DSN, SASL, XCLIENT, XFORWARD off); then 1,000
messages with connections reused (-d) and 3 recipients each, to a sink
that offers PIPELINING and 8BITMIME. smtp-sink dumps every transaction
to a file; the test counts them (all must arrive, none twice) and checks
each one's envelope and payload.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Postern, Suite, TestFailure, check, check_eq, free_port,  # noqa: E402
                 is_listening, spawn, stop_process)

suite = Suite("test_15_source_sink", budget=115)

SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"


class Sink:
    def __init__(self, ctx, name, flags):
        self.dir = ctx.mkdir(name)
        # smtp-sink drops to nobody as root: let it reach its dump dir.
        os.chmod(ctx.tmp, 0o711)
        os.chmod(self.dir, 0o777)
        self.dump = os.path.join(self.dir, "dump")
        self.port = free_port()
        argv = [SINK] + flags + ["-D", self.dump, "-m", "512", "-t", "30"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += ["127.0.0.1:%d" % self.port, "512"]
        self.proc = spawn(argv, os.path.join(ctx.tmp, name + ".log"))
        deadline = time.time() + 5
        while not is_listening(self.port):
            if self.proc.poll() is not None or time.time() > deadline:
                raise TestFailure("smtp-sink did not start: %s\n%s" % (
                    " ".join(argv),
                    open(os.path.join(ctx.tmp, name + ".log")).read()))
            time.sleep(0.02)

    def messages(self):
        """The dumped transactions, each a dict of its smtp-sink headers
        and the message text (lines joined with "\\n")."""
        if not os.path.exists(self.dump):
            return []
        with open(self.dump, "rb") as f:
            text = f.read().decode("latin-1")
        out = []
        for chunk in re.split(r"(?m)^(?=X-Client-Addr: )", text):
            if not chunk.startswith("X-Client-Addr: "):
                continue
            m = {"mail": None, "rcpts": [], "text": chunk}
            for line in chunk.split("\n"):
                if line.startswith("X-Mail-Args: "):
                    m["mail"] = line[len("X-Mail-Args: "):]
                elif line.startswith("X-Rcpt-Args: "):
                    m["rcpts"].append(line[len("X-Rcpt-Args: "):])
            out.append(m)
        return out

    def stop(self):
        stop_process(self.proc)


def run_source(args, port, timeout=90):
    argv = [SOURCE] + args + ["127.0.0.1:%d" % port]
    t0 = time.time()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    out = p.stdout.decode("latin-1")
    check(p.returncode == 0, "smtp-source exited %d (%s):\n%s" %
          (p.returncode, " ".join(argv), out[-3000:]))
    return time.time() - t0


def wait_count(sink, n, timeout=15):
    deadline = time.time() + timeout
    while True:
        msgs = sink.messages()
        if len(msgs) >= n or time.time() > deadline:
            return msgs
        time.sleep(0.1)


def check_dump(msgs, n, mail, rcpts_per_msg, payload_len, subject):
    check_eq(len(msgs), n, "messages smtp-sink received")
    bad = [m for m in msgs if not (m["mail"] or "").startswith(mail)]
    check(not bad, "%d message(s) with a wrong MAIL FROM, first: %r"
          % (len(bad), bad[:1]))
    bad = [m for m in msgs if len(m["rcpts"]) != rcpts_per_msg]
    check(not bad, "%d message(s) without %d recipient(s), first: %r"
          % (len(bad), rcpts_per_msg, bad[:1]))
    bad = [m for m in msgs if ("\nSubject: %s\n" % subject) not in m["text"]]
    check(not bad, "%d message(s) without the Subject, first: %r"
          % (len(bad), bad[:1]))
    # smtp-source -l N sends the same N payload bytes (lines of "X" and
    # a digit) in every message; the dump keeps them newline-terminated.
    payloads = set()
    for m in msgs:
        body = m["text"].split("\n\n", 1)
        check(len(body) == 2, "no header/body separator in %r" % m["text"][:300])
        payloads.add(body[1])
    check_eq(len(payloads), 1, "distinct payloads among the messages")
    payload = payloads.pop().replace("\n", "")
    check(payload_len - 2 * (payload_len // 70 + 2) <= len(payload)
          <= payload_len, "payload of %d bytes for -l %d: %r" %
          (len(payload), payload_len, payload[-200:]))


@suite.case
def source_sink_1000_messages_new_connections(ctx):
    sink = Sink(ctx, "sink-legacy", ["-p", "-8", "-E", "-N", "-a", "-C", "-F",
                                     "-h", "legacy-sink.test"])
    pp = Postern(ctx, upstream="127.0.0.1:%d" % sink.port,
                 opts=["limits.connections_per_client=200"], name="postern-a")
    try:
        dt = run_source(["-s", "10", "-m", "1000", "-l", "1000", "-c",
                         "-f", "source@example.org", "-t", "sink@example.net",
                         "-S", "postern-bb-a", "-M", "source.example"],
                        pp.port)
        msgs = wait_count(sink, 1000)
        check_dump(msgs, 1000, "<source@example.org>", 1, 1000,
                   "postern-bb-a")
        ctx.note("1000 messages, new connection each, in %.2fs" % dt)
    finally:
        pp.stop()
        sink.stop()


@suite.case
def source_sink_1000_messages_reused_connections(ctx):
    sink = Sink(ctx, "sink-modern", ["-h", "modern-sink.test"])
    pp = Postern(ctx, upstream="127.0.0.1:%d" % sink.port, name="postern-b")
    try:
        dt = run_source(["-s", "10", "-m", "1000", "-d", "-r", "3", "-l",
                         "5000", "-c", "-f", "reuse@example.org", "-t",
                         "sink@example.net", "-S", "postern-bb-b", "-M",
                         "source.example"], pp.port)
        msgs = wait_count(sink, 1000)
        check_dump(msgs, 1000, "<reuse@example.org>", 3, 5000,
                   "postern-bb-b")
        ctx.note("1000 messages x 3 recipients, reused connections, in %.2fs"
                 % dt)
    finally:
        pp.stop()
        sink.stop()


if __name__ == "__main__":
    suite.run()
