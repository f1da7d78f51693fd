#!/usr/bin/env bash
# The demo behind `make demo`:
#
#   1. starts a small "legacy" SMTP server on 127.0.0.1:2526 (Python
#      aiosmtpd offering only SIZE and HELP: no PIPELINING, 8BITMIME,
#      ENHANCEDSTATUSCODES, CHUNKING or STARTTLS), which prints every
#      command and message it receives;
#   2. starts postern in front of it on 127.0.0.1:2525 (with
#      etc/postern.yaml when it exists, else in quick mode);
#   3. shows the upstream's EHLO beside the one postern offers;
#   4. sends a real message through postern with swaks and shows that the
#      upstream received it;
#   5. tells you how to point your own client at it and waits for Enter or
#      Ctrl-C (when stdin is not a terminal it does not wait), then stops
#      everything it started.
#
# Usage: scripts/demo.sh [POSTERN_BINARY]      (default build/gateway/postern)
# Environment: POSTERN (binary, if no argument), DEMO_PORT (2525),
# DEMO_UPSTREAM_PORT (2526), DEMO_CONFIG (a YAML file, or "none" for quick
# mode; default etc/postern.yaml when it exists).

set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
POSTERN=${1:-${POSTERN:-$ROOT/build/gateway/postern}}
LISTEN=127.0.0.1:${DEMO_PORT:-2525}
UPSTREAM=127.0.0.1:${DEMO_UPSTREAM_PORT:-2526}
CONFIG=${DEMO_CONFIG:-$ROOT/etc/postern.yaml}
PY=/usr/bin/python3   # Debian's python3, where python3-aiosmtpd lives

if [ -t 1 ]; then
    B=$(printf '\033[1m') N=$(printf '\033[0m')
else
    B="" N=""
fi

WORK=""
PIDS=()
TAIL_PID=""

# ours, running (child processes), listening, wait_listen (ports).
# shellcheck source=scripts/listen.sh
. "$ROOT/scripts/listen.sh"

cleanup() {
    local pid
    trap - EXIT INT TERM
    ours "$TAIL_PID" && kill "$TAIL_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do
        ours "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            running "$pid" || break
            sleep 0.1
        done
        ours "$pid" && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ -n "$TAIL_PID" ] && wait "$TAIL_PID" 2>/dev/null
    [ -n "$WORK" ] && rm -rf "$WORK"
    [ ${#PIDS[@]} -gt 0 ] && echo "demo: stopped postern and the upstream."
}
trap cleanup EXIT
trap 'echo; exit 130' INT TERM

die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
title() { printf '\n%s== %s%s\n\n' "$B" "$*" "$N"; }
indent() { sed 's/^/    /'; }

port_of() { echo "${1##*:}"; }

# ehlo_of HOST:PORT: the EHLO reply lines, as swaks shows them.
ehlo_of() {
    swaks --server "$1" --quit-after EHLO --ehlo demo-client.example \
        --timeout 10 2>&1 | sed -n 's/^<-  *\(250[- ].*\)$/\1/p'
}

# ------------------------------------------------------------- checks

[ -x "$POSTERN" ] || die "no postern binary at $POSTERN (build it first: make build)"
command -v swaks >/dev/null 2>&1 || die "swaks not found (run scripts/deps.sh)"
command -v ss >/dev/null 2>&1 || die "ss not found (package iproute2)"
[ -x "$PY" ] || die "$PY not found (run scripts/deps.sh)"
"$PY" -c 'import aiosmtpd' 2>/dev/null ||
    die "python3-aiosmtpd is not installed (run scripts/deps.sh)"
for addr in "$LISTEN" "$UPSTREAM"; do
    if listening "$(port_of "$addr")"; then
        echo "demo: $addr is already in use:" >&2
        ss -Hltnp "( sport = :$(port_of "$addr") )" 2>/dev/null | indent >&2
        die "stop that process, or set DEMO_PORT / DEMO_UPSTREAM_PORT"
    fi
done

WORK=$(mktemp -d /tmp/postern-demo.XXXXXX)
UPLOG=$WORK/upstream.log
PSTLOG=$WORK/postern.log
: >"$UPLOG"

# ------------------------------------------------------- the upstream

cat >"$WORK/upstream.py" <<'EOF'
"""A legacy SMTP server for the demo: offers only SIZE and HELP, and writes
every command and message it receives to the log file."""
import asyncio
import signal
import sys
import time

from aiosmtpd.smtp import SMTP

host, port, logpath = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SIZE = 10 * 1024 * 1024
log = open(logpath, "a", buffering=1)


def say(session, text):
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    peer = "%s:%s" % session.peer[:2] if session.peer else "?"
    log.write("%s.%03d  %-16s %s\n"
              % (stamp, int(now * 1000) % 1000, peer, text))


class Legacy:
    count = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        say(session, "EHLO %s" % hostname)
        return ["250-%s" % server.hostname, "250-SIZE %d" % SIZE, "250 HELP"]

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        say(session, "HELO %s" % hostname)
        return "250 %s" % server.hostname

    async def handle_MAIL(self, server, session, envelope, address, options):
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        say(session, " ".join(["MAIL FROM:<%s>" % address] + options))
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        envelope.rcpt_tos.append(address)
        say(session, "RCPT TO:<%s>" % address)
        return "250 OK"

    async def handle_RSET(self, server, session, envelope):
        say(session, "RSET")
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        say(session, "QUIT")
        return "221 Bye"

    async def handle_DATA(self, server, session, envelope):
        Legacy.count += 1
        data = envelope.original_content or b""
        say(session, "DATA: message %d, %d bytes, from <%s> to %s"
            % (Legacy.count, len(data), envelope.mail_from,
               ", ".join("<%s>" % r for r in envelope.rcpt_tos)))
        lines = data.decode("utf-8", "replace").splitlines()
        for line in lines[:40]:
            log.write("      | %s\n" % line)
        if len(lines) > 40:
            log.write("      | ... (%d more lines)\n" % (len(lines) - 40))
        return "250 OK: message %d accepted" % Legacy.count


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
handler = Legacy()
server = loop.run_until_complete(loop.create_server(
    lambda: SMTP(handler, hostname="legacy-upstream.example",
                 ident="legacy SMTP (aiosmtpd)", data_size_limit=SIZE,
                 loop=loop),
    host, port))
loop.add_signal_handler(signal.SIGTERM, loop.stop)
loop.add_signal_handler(signal.SIGINT, loop.stop)
loop.run_forever()
server.close()
EOF

"$PY" "$WORK/upstream.py" "${UPSTREAM%:*}" "$(port_of "$UPSTREAM")" "$UPLOG" \
    >"$WORK/upstream.err" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
if ! wait_listen "$(port_of "$UPSTREAM")" "$UP_PID"; then
    indent <"$WORK/upstream.err" >&2
    die "the demo upstream did not start"
fi

# ------------------------------------------------------------ postern

if [ "$CONFIG" != none ] && [ -f "$CONFIG" ]; then
    # The sample config already has this layout; pin it anyway so a local
    # edit of the file (or DEMO_PORT) cannot point the demo elsewhere.
    PST_CMD=("$POSTERN" -c "$CONFIG" -o "listeners.0.address=$LISTEN"
             -o "upstreams.0.addresses=$UPSTREAM")
else
    PST_CMD=("$POSTERN" --listen "$LISTEN" --upstream "$UPSTREAM")
fi
# Started as root (the README's set-up), postern drops to an unprivileged
# user once its listener is bound; it refuses to stay root.
if [ "$(id -u)" -eq 0 ]; then
    PST_CMD+=(-o process.user=nobody)
fi
"${PST_CMD[@]}" >"$PSTLOG" 2>&1 &
PST_PID=$!
PIDS+=("$PST_PID")
if ! wait_listen "$(port_of "$LISTEN")" "$PST_PID"; then
    echo "demo: postern did not start; its log:" >&2
    indent <"$PSTLOG" >&2
    die "command was: ${PST_CMD[*]}"
fi
sleep 0.3   # let the start-up capability probe finish

printf '%sPostern demo%s\n\n' "$B" "$N"
printf '  upstream  %s  a legacy server (Python aiosmtpd): no PIPELINING, 8BITMIME,\n' "$UPSTREAM"
printf '                             ENHANCEDSTATUSCODES, CHUNKING or STARTTLS\n'
printf '  postern   %s  %s\n' "$LISTEN" "${PST_CMD[*]#"$ROOT/"}"

# --------------------------------------------------------------- EHLO

title "1. EHLO: what the upstream offers, and what postern offers its clients"
ehlo_of "$UPSTREAM" >"$WORK/ehlo-up"
ehlo_of "$LISTEN" >"$WORK/ehlo-pst"
awk -v l="upstream ($UPSTREAM)" -v r="postern ($LISTEN)" '
    NR == FNR { a[FNR] = $0; n = FNR; next }
    { b[FNR] = $0; m = FNR }
    END {
        fmt = "    %-36s %s\n"
        printf fmt, l, r
        printf fmt, "------------------------------", "------------------------------"
        max = n > m ? n : m
        for (i = 1; i <= max; i++) printf fmt, a[i], b[i]
    }' "$WORK/ehlo-up" "$WORK/ehlo-pst"
if [ -s "$WORK/ehlo-pst" ]; then
    echo
    echo "    Postern builds its own list: what it implements itself on the client leg,"
    echo "    plus what it can honour end to end with this upstream. Nothing unknown is"
    echo "    passed through."
else
    echo "    (postern gave no EHLO reply: see its log below)"
fi

# ------------------------------------------------------------ message

title "2. A message through postern (swaks, commands pipelined)"
swaks --server "$LISTEN" --pipeline --timeout 30 \
    --ehlo demo-client.example \
    --from demo@example.org --to you@example.com \
    --header "Subject: Hello through Postern" \
    --body "This message went client -> postern ($LISTEN) -> legacy upstream ($UPSTREAM)." \
    >"$WORK/swaks.out" 2>&1
swaks_rc=$?
indent <"$WORK/swaks.out"
if [ $swaks_rc -ne 0 ]; then
    printf '\n    swaks exited with status %s\n' "$swaks_rc"
fi

title "3. What the upstream saw"
echo "    postern's start-up capability probe (EHLO, QUIT), the EHLO check of step 1,"
echo "    then the message: postern opens its upstream session at MAIL and, as this"
echo "    upstream has no PIPELINING, sends the commands one at a time."
echo
for _ in $(seq 1 50); do
    grep -q 'DATA: message' "$UPLOG" && break
    sleep 0.1
done
indent <"$UPLOG"
if grep -q 'DATA: message' "$UPLOG"; then
    printf '\n    The message arrived at the upstream.\n'
else
    printf '\n    No message reached the upstream.\n'
fi

title "4. Postern's log"
indent <"$PSTLOG"

# ------------------------------------------------------------ your turn

title "Your turn"
cat <<EOF
    Postern is listening on $LISTEN, relaying to the legacy upstream on
    $UPSTREAM. Point any SMTP client at it, for example:

        swaks --server $LISTEN --to you@example.com
        swaks --server $LISTEN --to you@example.com --pipeline --body 'hi'

EOF
if [ -t 0 ]; then
    echo "    What the upstream receives is printed below as it arrives."
    echo "    Press Enter (or Ctrl-C) to stop."
    echo
    tail -n 0 --pid=$$ -f "$UPLOG" &
    TAIL_PID=$!
    read -r _ || true
else
    echo "    (stdin is not a terminal: not waiting; stopping now.)"
fi
[ $swaks_rc -eq 0 ] && grep -q 'DATA: message' "$UPLOG"
