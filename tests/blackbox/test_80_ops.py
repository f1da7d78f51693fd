#!/usr/bin/python3
"""80-ops: the process model and running it for years (issue 7).

Workers under a master, a worker killed mid-load (restarted, never a
false 250), reload with a good and a bad config (live sessions keep
theirs), reload and graceful stop under a sending loop (no transaction
gets a 250 the upstream did not give, none in flight is cut), the metrics
endpoint (values move, hostile HTTP input), privilege drop, -s via the pid
file, JSON logs.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (Postern, Suite, TestFailure, Upstream, check,  # noqa: E402
                 check_eq, expect, is_listening, test_certs)

suite = Suite("test_80_ops")

CONFIG = """
listeners:
  - address: "{listen}"
upstreams:
  - addresses: ["%s"]
process:
  workers: 2
  pid_file: "%s"
  shutdown_grace: %s
limits:
  message_size: %s
metrics:
  listen: "%s"
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def workers_of(pid):
    """The worker pids of a master."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def pid_alive(pid):
    """True while pid exists and is not a zombie (an exited child that
    its parent has not reaped yet stays in /proc and in `children`)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def live_workers_of(pid):
    return [k for k in workers_of(pid) if pid_alive(k)]


def wait_workers(pp, n, timeout=10, started=None, gone=()):
    """Waits for n live workers, `started` (default n) worker_started
    lines in the log, and none of the pids in `gone` alive."""
    started = n if started is None else started
    deadline = time.time() + timeout
    while time.time() < deadline:
        kids = live_workers_of(pp.proc.pid)
        if (len(kids) == n and
                pp.log().count("event=worker_started") >= started and
                not any(pid_alive(g) for g in gone)):
            return kids
        time.sleep(0.05)
    raise TestFailure("expected %d workers (%d started, %s gone), have %s "
                      "(%d started)\n%s" %
                      (n, started, list(gone), workers_of(pp.proc.pid),
                       pp.log().count("event=worker_started"),
                       pp.log_tail()))


def start(ctx, size="50M", grace="30s", script=()):
    up = Upstream(ctx, script=script)
    mport = free_port()
    pid_file = ctx.path("postern-%d.pid" % mport)
    cfg = CONFIG % (up.addr, pid_file, grace, size, "127.0.0.1:%d" % mport)
    pp = Postern(ctx, config=cfg)
    wait_workers(pp, 2)
    return up, pp, mport, pid_file


def http_get(port, raw=None, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.sendall(raw if raw is not None else
              b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (socket.timeout, ConnectionResetError):
        pass  # a reset after the reply: the request was not all read
    s.close()
    return data


def metric(text, name):
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise TestFailure("no metric %s in:\n%s" % (name, text[:2000]))


def send_one(port, i, results, hold=0.0):
    """One message on its own connection; records the final reply code
    (or the exception) in results[i]."""
    try:
        s = socket.create_connection(("127.0.0.1", port), 10)
        f = s.makefile("rb")

        def reply():
            lines = []
            while True:
                line = f.readline()
                if not line:
                    raise EOFError("closed")
                lines.append(line)
                if line[3:4] != b"-":
                    return int(line[:3])
        reply()
        s.sendall(b"EHLO loop.example\r\n")
        reply()
        s.sendall(b"MAIL FROM:<a@example.org>\r\n")
        if reply() != 250:
            results[i] = "mail-refused"
            return
        s.sendall(b"RCPT TO:<b@example.net>\r\n")
        reply()
        s.sendall(b"DATA\r\n")
        if reply() != 354:
            results[i] = "data-refused"
            return
        s.sendall(b"Subject: loop %d\r\n\r\nbody\r\n" % i)
        if hold:
            time.sleep(hold)
        s.sendall(b".\r\n")
        results[i] = reply()
        s.sendall(b"QUIT\r\n")
        s.close()
    except Exception as e:  # a dropped connection is allowed, never a lie
        results[i] = "error:%s" % type(e).__name__


def accepted_subjects(up):
    out = set()
    for m in up.messages():
        c = m.get("content") or b""
        for line in c.split(b"\r\n"):
            if line.startswith(b"Subject: loop "):
                out.add(int(line.split()[-1]))
    return out


def check_no_false_250(up, results):
    """Every 250 the client got is a message the upstream has."""
    got = accepted_subjects(up)
    for i, r in enumerate(results):
        if r == 250 and i not in got:
            raise TestFailure("message %d got 250 but never reached the "
                              "upstream" % i)


@suite.case
def workers_and_metrics(ctx):
    up, pp, mport, pid_file = start(ctx)
    before = http_get(mport)
    check(before.startswith(b"HTTP/1.1 200 OK"), "metrics status: %r"
          % before[:60])
    check_eq(metric(before, "postern_workers"), 2.0, "workers gauge")
    t0 = metric(before, "postern_transactions_accepted_total")
    c = pp.client()
    c.ehlo()
    expect(c.send_message(b"Subject: m\r\n\r\nx\r\n"), 250)
    c.cmd("QUIT", 221)
    time.sleep(0.2)
    after = http_get(mport)
    check_eq(metric(after, "postern_transactions_accepted_total"), t0 + 1,
             "accepted counter moved")
    check(metric(after, "postern_connections_total") >= 1, "connections")
    check(metric(after, "postern_upstream_connect_seconds_count") >= 1,
          "latency histogram")


@suite.case
def metrics_endpoint_survives_hostile_input(ctx):
    up, pp, mport, pid_file = start(ctx)
    check(http_get(mport, b"GET /nope HTTP/1.1\r\n\r\n").startswith(
        b"HTTP/1.1 404"), "404 for another path")
    check(http_get(mport, b"POST /metrics HTTP/1.1\r\n\r\n").startswith(
        b"HTTP/1.1 405"), "405 for POST")
    check(http_get(mport, b"\x00\x01garbage\r\n\r\n").startswith(
        b"HTTP/1.1 400"), "400 for junk")
    r = http_get(mport, b"GET /" + b"a" * 20000)
    check(r.startswith(b"HTTP/1.1 431") or r == b"", "long line: %r" % r[:40])
    # a slow client is cut after the deadline, and does not block others
    slow = socket.create_connection(("127.0.0.1", mport), 10)
    slow.sendall(b"GET /met")
    check(http_get(mport).startswith(b"HTTP/1.1 200"), "served meanwhile")
    slow.settimeout(8)
    check_eq(slow.recv(100), b"", "slow client closed")
    pp.check_alive()


@suite.case
def worker_killed_under_load_is_restarted(ctx):
    up, pp, mport, pid_file = start(ctx)
    kids = wait_workers(pp, 2)
    results = [None] * 60
    threads = []
    for i in range(len(results)):
        t = threading.Thread(target=send_one, args=(pp.port, i, results, 0.05))
        t.start()
        threads.append(t)
        if i == 20:
            os.kill(kids[0], signal.SIGKILL)
        time.sleep(0.01)
    for t in threads:
        t.join(30)
    check_no_false_250(up, results)
    # the killed one reaped (a zombie is still listed as a child) and its
    # replacement started: a third worker_started line
    new = wait_workers(pp, 2, timeout=15, started=3, gone=[kids[0]])
    check(kids[0] not in new and kids[1] in new,
          "worker restarted: %s -> %s" % (kids, new))
    check("event=worker_killed" in pp.log(), "the death is logged")
    r = [None]
    send_one(pp.port, 0, r)
    check_eq(r[0], 250, "a message after the restart")


@suite.case
def workers_stop_when_the_master_is_killed(ctx):
    """A master killed outright (SIGKILL, the OOM killer) must not leave
    workers serving on their own (PR_SET_PDEATHSIG: a graceful stop)."""
    up, pp, mport, pid_file = start(ctx)
    kids = wait_workers(pp, 2)
    os.kill(pp.proc.pid, signal.SIGKILL)
    pp.proc.wait(5)
    deadline = time.time() + 10
    alive = kids
    while time.time() < deadline:
        alive = [k for k in kids if os.path.exists("/proc/%d" % k) and
                 not open("/proc/%d/stat" % k).read().split(")")[1]
                 .split()[0] == "Z"]
        if not alive:
            break
        time.sleep(0.05)
    check_eq(alive, [], "workers left after the master was killed")
    check(pp.log().count("event=stop mode=graceful") >= 2,
          "they stopped gracefully:\n" + pp.log_tail())
    ctx.posterns.remove(pp)  # killed on purpose: nothing to stop or check


@suite.case
def reload_keeps_sessions_and_rejects_bad_config(ctx):
    up, pp, mport, pid_file = start(ctx, size="1M")
    c = pp.client()
    r = c.ehlo()
    check("SIZE 1048576" in r.lines, "SIZE before reload: %s" % r.lines)
    cfg = open(pp.config_path).read()
    with open(pp.config_path, "w") as f:
        f.write(cfg.replace("message_size: 1M", "message_size: 2M"))
    os.kill(pp.proc.pid, signal.SIGHUP)
    deadline = time.time() + 5
    while pp.log().count("event=reload result=ok") < 2:
        check(time.time() < deadline, "reload not logged by both workers:\n"
              + pp.log_tail())
        time.sleep(0.05)
    # the old session keeps its generation; a new one gets the new one
    r = c.ehlo()
    check("SIZE 1048576" in r.lines, "old session, old SIZE: %s" % r.lines)
    r2 = pp.client().ehlo()
    check("SIZE 2097152" in r2.lines, "new session, new SIZE: %s" % r2.lines)
    # a broken config changes nothing
    with open(pp.config_path, "w") as f:
        f.write(cfg.replace("message_size: 1M", "message_size: lots"))
    os.kill(pp.proc.pid, signal.SIGHUP)
    deadline = time.time() + 5
    while "event=reload_failed action=kept_old" not in pp.log():
        check(time.time() < deadline, "bad reload not logged")
        time.sleep(0.05)
    r3 = pp.client().ehlo()
    check("SIZE 2097152" in r3.lines, "kept the good config: %s" % r3.lines)
    expect(c.send_message(b"Subject: old\r\n\r\nx\r\n"), 250)


@suite.case
def reload_and_signal_via_pid_file_under_load(ctx):
    up, pp, mport, pid_file = start(ctx)
    check_eq(int(open(pid_file).read()), pp.proc.pid, "pid file")
    results = [None] * 80
    stop = threading.Event()

    def loop():
        i = 0
        while not stop.is_set() and i < len(results):
            send_one(pp.port, i, results)
            i += 1
    ts = [threading.Thread(target=loop) for _ in range(1)]
    for t in ts:
        t.start()
    for _ in range(3):
        time.sleep(0.3)
        rc = os.spawnv(os.P_WAIT, ctx.postern_bin,
                       [ctx.postern_bin, "-c", pp.config_path, "-s",
                        "reload"])
        check_eq(rc, 0, "postern -s reload")
    time.sleep(0.3)
    stop.set()
    for t in ts:
        t.join(60)
    done = [r for r in results if r is not None]
    check(len(done) >= 5, "the loop sent messages: %s" % done)
    bad = [r for r in done if r != 250]
    check_eq(bad, [], "no transaction failed during reloads")
    check_no_false_250(up, results)
    rc = os.spawnv(os.P_WAIT, ctx.postern_bin,
                   [ctx.postern_bin, "-c", pp.config_path, "-s", "stop"])
    check_eq(rc, 0, "postern -s stop")
    pp.proc.wait(20)
    check_eq(pp.stop(exited_ok=True), 0, "exit status after -s stop")
    check(not os.path.exists(pid_file), "pid file removed")


@suite.case
def graceful_stop_lets_transactions_finish(ctx):
    up, pp, mport, pid_file = start(ctx, grace="10s")
    kids = wait_workers(pp, 2)
    idle = pp.client()
    idle.ehlo()
    busy = pp.client()
    busy.ehlo()
    busy.cmd("MAIL FROM:<a@example.org>", 250)
    busy.cmd("RCPT TO:<b@example.net>", 250)
    busy.cmd("DATA", 354)
    busy.send(b"Subject: in flight\r\n\r\npart one\r\n")
    os.kill(pp.proc.pid, signal.SIGTERM)
    expect(idle.reply(), 421, "4.3.2", what="idle session at stop")
    idle.expect_closed()
    # new connections are refused, once each worker has stopped (the
    # master forwards TERM to both; each closes its listener as it logs
    # event=stop) and no listener is left on the port
    deadline = time.time() + 10
    while True:
        stopped = set(int(m) for m in re.findall(
            r"postern\[(\d+)\]: \S+ event=stop mode=graceful ", pp.log()))
        if stopped >= set(kids) and not is_listening(pp.port):
            break
        check(time.time() < deadline, "both workers (%s) stopped (%s) and "
              "closed their listeners (listening: %s):\n%s"
              % (kids, sorted(stopped), is_listening(pp.port),
                 pp.log_tail()))
        time.sleep(0.02)
    try:
        s = socket.create_connection(("127.0.0.1", pp.port), 2)
        got = s.recv(100)
        s.close()
        check(got == b"", "a new connection after stop got %r" % got)
    except OSError:
        pass
    # the transaction in flight finishes with the upstream's 250
    busy.send(b"part two\r\n.\r\n")
    expect(busy.reply(), 250, what="end of data after TERM")
    check(any(b"part two" in (m.get("content") or b"")
              for m in up.messages()), "message delivered")
    busy.line("NOOP")
    expect(busy.reply(), 421, "4.3.2", what="command after the transaction")
    pp.proc.wait(15)
    check_eq(pp.stop(exited_ok=True), 0, "exit status")


@suite.case
def privileges_dropped(ctx):
    if os.geteuid() != 0:
        ctx.note("not root: skipped the privilege check")
        return
    up = Upstream(ctx)
    pp = Postern(ctx, upstream=up.addr, opts=["process.user=nobody",
                                               "process.workers=1"])
    kids = wait_workers(pp, 1)
    with open("/proc/%d/status" % kids[0]) as f:
        st = f.read()
    uid = [l for l in st.splitlines() if l.startswith("Uid:")][0].split()
    check(all(x == "65534" for x in uid[1:]), "worker uids: %s" % uid)
    nnp = [l for l in st.splitlines() if l.startswith("NoNewPrivs:")]
    check(nnp and nnp[0].split()[1] == "1", "no_new_privs: %s" % nnp)
    c = pp.client()
    c.ehlo()
    expect(c.send_message(b"Subject: p\r\n\r\nx\r\n"), 250)
    # started as root with no user and no run_as_root: refuses
    env_argv = [ctx.postern_bin, "--listen", "127.0.0.1:%d" % free_port(),
                "--upstream", up.addr, "-o", "process.master=off"]
    rc = os.spawnv(os.P_WAIT, ctx.postern_bin, env_argv)
    check(rc != 0, "refused to run as root")


@suite.case
def json_logs(ctx):
    import json
    up = Upstream(ctx)
    pp = Postern(ctx, upstream=up.addr, opts=["log.format=json"])
    c = pp.client()
    c.ehlo()
    expect(c.send_message(b"Subject: j\r\n\r\nx\r\n"), 250)
    c.cmd("QUIT", 221)
    time.sleep(0.3)
    lines = [l for l in pp.log().splitlines() if l.startswith("{")]
    check(len(lines) >= 3, "JSON lines: %s" % lines[:3])
    objs = [json.loads(l) for l in lines]
    tx = [o for o in objs if o.get("event") == "tx"]
    check(tx and tx[0]["outcome"] == "accepted" and "sid" in tx[0],
          "tx line: %s" % tx)


RULES_CONFIG = CONFIG + """
policy:
  rules:
    - name: no-localhost
      stage: helo
      if:
        - helo: localhost
      then: 'reject 550 5.7.1 "Use your own name"'
    - name: tag/example.org
      stage: mail
      if:
        - sender: {domain: example.org}
      then: 'add_header X-Tag: yes'
"""


@suite.case
def policy_rules_in_metrics(ctx):
    """Each rule's matches and decisions, summed over both workers; a
    reload keeps a rule's counts (issues 5, 7)."""
    up = Upstream(ctx)
    mport = free_port()
    cfg = RULES_CONFIG % (up.addr, ctx.path("rules.pid"), "30s", "50M",
                          "127.0.0.1:%d" % mport)
    pp = Postern(ctx, config=cfg)
    wait_workers(pp, 2)
    for _ in range(3):
        c = pp.client()
        c.cmd("HELO localhost", 550, "5.7.1")
        c.cmd("QUIT", 221)
        c.close()
    c = pp.client()
    c.ehlo()
    expect(c.send_message(b"Subject: m\r\n\r\nx\r\n",
                          mail="<a@example.org>"), 250)
    c.cmd("QUIT", 221)
    time.sleep(0.2)
    m = http_get(mport)
    lo = 'postern_policy_rule_matches_total{stage="helo",rule="no-localhost"}'
    tag = ('postern_policy_rule_matches_total{stage="mail",'
           'rule="tag/example.org"}')
    rej = ('postern_policy_decisions_total{stage="helo",rule="no-localhost",'
           'verdict="reject"}')
    check_eq(metric(m, lo), 3.0, "helo rule matched three times")
    check_eq(metric(m, rej), 3.0, "and rejected three times")
    check_eq(metric(m, tag), 1.0, "a non-deciding rule's matches")
    check(b'rule="tag' not in m.split(b"postern_policy_decisions_total")[-1],
          "a rule that only adds a header decides nothing")
    os.kill(pp.proc.pid, signal.SIGHUP)
    deadline = time.time() + 10
    while pp.log().count("event=reload result=ok") < 2:
        check(time.time() < deadline, "reloaded:\n" + pp.log_tail())
        time.sleep(0.05)
    c = pp.client()
    c.cmd("HELO localhost", 550, "5.7.1")
    c.close()
    time.sleep(0.2)
    check_eq(metric(http_get(mport), lo), 4.0, "counts kept over a reload")


KEYS_CONFIG = """
listeners:
  - address: "{listen}"
    tls: starttls
    certificates:
      - cert: "%(dir)s/server.crt"
        key: "%(dir)s/server.key"
upstreams:
  - addresses: ["%(up)s"]
process:
  workers: 1
  user: nobody
"""


@suite.case
def unreadable_key_warned_at_start_and_by_t(ctx):
    """Workers re-read keys at a reload as process.user: a key only root
    can read works at start and would fail at the first reload (a
    certificate renewal). Both the start and `postern -t` say so."""
    if os.geteuid() != 0:
        ctx.note("not root: skipped the key readability check")
        return
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="postern-keys-")
    try:
        os.chmod(d, 0o755)
        certs = test_certs()
        shutil.copy(os.path.join(certs, "server-rsa.crt"), d + "/server.crt")
        shutil.copy(os.path.join(certs, "server-rsa.key"), d + "/server.key")
        os.chmod(d + "/server.crt", 0o644)
        os.chmod(d + "/server.key", 0o600)
        up = Upstream(ctx)
        cfg_text = KEYS_CONFIG % {"dir": d, "up": up.addr}
        cfg = d + "/postern.yaml"
        with open(cfg, "w") as f:
            f.write(cfg_text.replace("{listen}", "127.0.0.1:%d" % free_port()))
        os.chmod(cfg, 0o644)
        warn = ("key %s/server.key is not readable by user nobody: a reload "
                "will fail until it is" % d)
        p = subprocess.run([ctx.postern_bin, "-c", cfg, "-t"],
                           capture_output=True, text=True, timeout=20)
        check_eq(p.returncode, 0, "-t status (stderr: %s)" % p.stderr)
        check(warn in p.stderr, "-t warns:\n" + p.stderr)
        check("the configuration" not in p.stderr, "the config is readable")
        pp = Postern(ctx, config=cfg_text)
        wait_workers(pp, 1)
        deadline = time.time() + 5
        while warn not in pp.log() and time.time() < deadline:
            time.sleep(0.05)
        check(warn in pp.log(), "the worker warns:\n" + pp.log_tail())
        os.chmod(d + "/server.key", 0o644)
        p = subprocess.run([ctx.postern_bin, "-c", cfg, "-t"],
                           capture_output=True, text=True, timeout=20)
        check("not readable" not in p.stderr, "no warning now: " + p.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    suite.run()
