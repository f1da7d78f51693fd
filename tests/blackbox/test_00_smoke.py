#!/usr/bin/python3
"""00-smoke: the binary's command line: --version, --help, config checks
(-t -c FILE with FILE:LINE:COL errors, unknown keys), a start and a clean
stop on SIGTERM."""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Postern, Suite, Upstream, check, check_eq, expect,  # noqa: E402
                 free_port)

suite = Suite("test_00_smoke", budget=60)


def run(ctx, args, timeout=10):
    p = subprocess.run([ctx.postern_bin] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace")


@suite.case
def version_and_help(ctx):
    rc, out = run(ctx, ["--version"])
    check_eq(rc, 0, "--version exit status")
    check(re.search(r"\d+\.\d+", out), "--version prints no version: %r" % out)
    rc, out = run(ctx, ["--help"])
    check_eq(rc, 0, "--help exit status")
    for opt in ("-c", "-t", "-o", "--listen", "--upstream"):
        check(opt in out, "--help does not mention %s: %r" % (opt, out[:500]))


GOOD = """\
# a good config
listeners:
  - address: "127.0.0.1:%d"
upstreams:
  - name: main
    addresses: ["127.0.0.1:1", "127.0.0.1:2"]
limits:
  message_size: 10M
timeouts:
  command: 5m
"""


@suite.case
def config_check_good(ctx):
    path = ctx.path("good.yaml")
    with open(path, "w") as f:
        f.write(GOOD % free_port())
    rc, out = run(ctx, ["-t", "-c", path])
    check_eq(rc, 0, "-t -c good.yaml exit status (output %r)" % out)


@suite.case
def config_check_errors_with_positions(ctx):
    path = ctx.path("bad.yaml")
    with open(path, "w") as f:
        f.write("listeners:\n"
                "  - address: \"127.0.0.1:2525\"\n"
                "upstreams:\n"
                "  - name: main\n"
                "    addresses: [\"127.0.0.1:25\"]\n"
                "limits:\n"
                "  recipients: 100\n"
                "  no_such_key: 1\n"              # line 8, col 3
                "timeouts:\n"
                "  command: forever\n")           # line 10, bad duration
    rc, out = run(ctx, ["-t", "-c", path])
    check(rc != 0, "-t -c bad.yaml exited 0: %r" % out)
    check(re.search(re.escape(path) + r":8:3: .*no_such_key", out),
          "no '%s:8:3: ... no_such_key' error in: %r" % (path, out))
    check(re.search(re.escape(path) + r":10:\d+: ", out),
          "no '%s:10:COL:' error for the bad duration in: %r" % (path, out))


@suite.case
def unknown_override_key_is_an_error(ctx):
    path = ctx.path("good2.yaml")
    with open(path, "w") as f:
        f.write(GOOD % free_port())
    rc, out = run(ctx, ["-t", "-c", path, "-o", "limits.no_such_limit=3"])
    check(rc != 0, "an unknown -o key was accepted: %r" % out)
    check("no_such_limit" in out, "the error does not name the key: %r" % out)


@suite.case
def starts_greets_and_stops_on_sigterm(ctx):
    up = Upstream(ctx)
    pp = Postern(ctx, upstream=up.addr, opts=["log.level=debug"])
    c = pp.client()
    expect(c.greeting, 220, what="greeting")
    c.cmd("EHLO smoke.example", 250)
    c.cmd("QUIT", 221)
    c.expect_closed()
    pp.proc.send_signal(signal.SIGTERM)
    try:
        rc = pp.proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc is not None, "postern did not exit within 10s of SIGTERM")
    check_eq(rc, 0, "exit status after SIGTERM")
    log = pp.log()
    check(re.search(r"\w+=\S", log), "no key=value log line on stderr: %r"
          % log[:500])
    pp.stop(exited_ok=True)
    up.stop()


if __name__ == "__main__":
    suite.run()
