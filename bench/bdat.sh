#!/usr/bin/env bash
# Postern BDAT (CHUNKING) benchmark (issue 4; not part of the test suite).
# See docs/performance.md.
#
#   bench/bdat.sh [POSTERN_BINARY]         full run (about 2 minutes)
#   QUICK=1 bench/bdat.sh                  smaller counts, one repetition
#   SCENARIOS="s" bench/bdat.sh            run only some scenarios
#
# A client sends the same messages with DATA and with BDAT (RFC 3030),
# through postern to two upstreams:
#   - smtp-sink, which has no CHUNKING (nor PIPELINING, as in bench/run.sh):
#     postern bridges BDAT to DATA (dot-stuffing, waiting for the 354);
#   - bench/bdatsink.py, which offers CHUNKING: postern passes BDAT through,
#     re-chunked (each piece framed as its own BDAT n after the filters).
# Each BDAT row is given as a throughput ratio to DATA through postern to
# the same upstream, in the same invocation, with postern's CPU time per
# message (/proc/PID/stat utime+stime). The direct rows (no postern) show
# what each upstream and the client manage alone.
#
# Scenarios (connections reused, one recipient, 80-octet lines):
#   s  10 sessions x 10 KB messages; BDAT sends each in one chunk
#   l  4 sessions x 1 MB messages; BDAT in chunks of BDAT_CHUNK octets
# smtp-source cannot send BDAT, so every row uses the same client,
# bench/smtpload.py (one process per session; one command, one reply,
# unless PIPELINING=1). bdatsink.py is Python, slower than smtp-sink: compare
# rows of one upstream with each other, not across upstreams.
#
# Environment (all optional):
#   POSTERN            binary (default build/gateway/postern; arg 1 wins)
#   QUICK=1            small counts, REPEAT=1
#   REPEAT=N           runs per target (median kept; default 5)
#   SCENARIOS="s l"
#   S_MSGS, L_MSGS     messages per run (default 5000, 200)
#   BDAT_CHUNK         client chunk size in l (default 65536)
#   PIPELINING=1       the client pipelines MAIL, RCPT, DATA/BDAT
#   CHUNK_SINK_OPTS    bdatsink.py options (default --pipelining: it offers
#                      PIPELINING and CHUNKING, like a modern MTA; empty:
#                      CHUNKING only)
#   BENCH_PORT_BASE    first of four loopback ports (default 62560; keep them
#                      outside net.ipv4.ip_local_port_range)
#   POSTERN_EXTRA_OPTS extra arguments appended to postern's command line
#   RUN_TIMEOUT        seconds allowed for one client run (default 300)

set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

CMDLINE=$(cmdline "POSTERN QUICK REPEAT SCENARIOS S_MSGS L_MSGS BDAT_CHUNK PIPELINING
    CHUNK_SINK_OPTS BENCH_PORT_BASE POSTERN_EXTRA_OPTS RUN_TIMEOUT" "$0" "$@")
POSTERN=${1:-${POSTERN:-$ROOT/build/gateway/postern}}
PY=/usr/bin/python3
LOAD=$BENCH/smtpload.py

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    REPEAT=${REPEAT:-1}
    S_MSGS=${S_MSGS:-1000}
    L_MSGS=${L_MSGS:-40}
else
    REPEAT=${REPEAT:-5}
    S_MSGS=${S_MSGS:-5000}
    L_MSGS=${L_MSGS:-200}
fi
SCENARIOS=${SCENARIOS:-"s l"}
BDAT_CHUNK=${BDAT_CHUNK:-65536}
PIPELINING=${PIPELINING:-0}
CHUNK_SINK_OPTS=${CHUNK_SINK_OPTS---pipelining}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
POSTERN_EXTRA_OPTS=${POSTERN_EXTRA_OPTS:-}
PORT_BASE=${BENCH_PORT_BASE:-62560}
SINK_PORT=$PORT_BASE                 # smtp-sink, no CHUNKING
CSINK_PORT=$((PORT_BASE + 1))        # bdatsink.py, CHUNKING
declare -A PORT=([sink]=$((PORT_BASE + 2)) [csink]=$((PORT_BASE + 3)))
declare -A UP_PORT=([sink]=$SINK_PORT [csink]=$CSINK_PORT)
declare -A UP_NAME=([sink]=smtp-sink [csink]=bdatsink)

SINK_CMD=(smtp-sink -u nobody -p -8 -E -a -C -F -N -t 600 -m 5000
          "127.0.0.1:$SINK_PORT" 4096)
# shellcheck disable=SC2206
CSINK_CMD=("$PY" "$BENCH/bdatsink.py" $CHUNK_SINK_OPTS 127.0.0.1 "$CSINK_PORT")
# One worker in the foreground process, as in bench/run.sh.
POSTERN_OPTS=(-o limits.connections=5000 -o limits.connections_per_client=5000
              -o log.level=warn -o limits.messages_per_session=1000000
              -o process.master=off -o process.run_as_root=yes)
PIPE_OPT=()
[ "$PIPELINING" = 1 ] && PIPE_OPT=(--pipelining)

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$BENCH/out
RESULTS=$OUT_DIR/bdat-$STAMP.txt
LOGDIR=$OUT_DIR/bdat-logs-$STAMP

# ---------------------------------------------------------------- postern

declare -A PPID_OF=() WHY=()

# start_postern sink|csink: postern quick mode in front of that upstream,
# smoke-tested with one DATA and one BDAT message.
start_postern() {
    local up=$1
    PPID_OF[$up]="" WHY[$up]=""
    if [ ! -x "$POSTERN" ]; then
        WHY[$up]="no executable at $POSTERN_SRC"
        return 1
    fi
    # shellcheck disable=SC2086
    "$POSTERN" --listen "127.0.0.1:${PORT[$up]}" \
        --upstream "127.0.0.1:${UP_PORT[$up]}" \
        "${POSTERN_OPTS[@]}" $POSTERN_EXTRA_OPTS \
        >>"$LOGDIR/postern-$up.log" 2>&1 &
    PPID_OF[$up]=$!
    PIDS+=("${PPID_OF[$up]}")
    if ! wait_listen "${PORT[$up]}" "${PPID_OF[$up]}"; then
        WHY[$up]="failed to start, see $LOGDIR/postern-$up.log"
    elif ! run_fg "$LOGDIR/client.log" timeout 20 "$PY" "$LOAD" msgs \
            --sessions 1 --messages 1 127.0.0.1 "${PORT[$up]}" ||
         ! run_fg "$LOGDIR/client.log" timeout 20 "$PY" "$LOAD" msgs \
            --bdat 4096 --sessions 1 --messages 1 127.0.0.1 "${PORT[$up]}"; then
        WHY[$up]="one-message smoke test (DATA, BDAT) failed, see $LOGDIR"
    else
        return 0
    fi
    stop_pid "${PPID_OF[$up]}"
    PPID_OF[$up]=""
    return 1
}

# ------------------------------------------------------------ scenarios

# Rows: <how>-<upstream>; how = direct (no postern), data, bdat.
ROWS="direct-sink data-sink bdat-sink direct-csink data-csink bdat-csink"

row_label() {
    case $1 in
    direct-sink) echo "DATA direct" ;;
    data-sink) echo "DATA via postern" ;;
    bdat-sink) echo "BDAT via postern (to DATA)" ;;
    direct-csink) echo "BDAT direct" ;;
    data-csink) echo "DATA via postern" ;;
    bdat-csink) echo "BDAT via postern (BDAT)" ;;
    esac
}

# bdat_scenario ID MSGS SESSIONS SIZE CHUNK DESCRIPTION
bdat_scenario() {
    local id=$1 msgs=$2 sessions=$3 size=$4 chunk=$5 desc=$6
    local row how up rep res rc c0 c1 pid port args
    declare -A secs=() ticks=() nok=() fail=() ccpu=()
    out ''
    out '[%s] %s' "$id" "$desc"
    out '    smtpload.py msgs --reuse --sessions %s --size %s --messages %s%s [--bdat %s]' \
        "$sessions" "$size" "$msgs" "${PIPE_OPT[*]:+ ${PIPE_OPT[*]}}" "$chunk"
    out '    (x%s, median)' "$REPEAT"
    start_postern sink
    start_postern csink
    for rep in $(seq 1 "$REPEAT"); do
        for row in $ROWS; do
            how=${row%-*} up=${row#*-}
            [ -n "${fail[$row]:-}" ] && continue
            pid="" port=${UP_PORT[$up]}
            if [ "$how" != direct ]; then
                pid=${PPID_OF[$up]} port=${PORT[$up]}
                [ -n "$pid" ] || continue
            fi
            args=()
            if [ "$how" = bdat ] || [ "$row" = direct-csink ]; then
                args=(--bdat "$chunk")
            fi
            progress "[$id] run $rep/$REPEAT $row"
            c0=0 c1=0
            [ -n "$pid" ] && c0=$(cpu_ticks "$pid")
            : >"$WORK/run.out"
            run_fg "$WORK/run.out" timeout "$RUN_TIMEOUT" "$PY" "$LOAD" msgs \
                --reuse "${PIPE_OPT[@]}" "${args[@]}" --sessions "$sessions" \
                --size "$size" --messages "$msgs" 127.0.0.1 "$port"
            rc=$?
            [ -n "$pid" ] && c1=$(cpu_ticks "$pid")
            res=$(tail -1 "$WORK/run.out")
            printf '[%s] %s %s\n' "$id" "$row" "$res" >>"$LOGDIR/client.log"
            if [ $rc -ne 0 ]; then
                fail[$row]="${res:-exit $rc}"
                if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
                    fail[$row]="${fail[$row]}; postern died"
                fi
                continue
            fi
            secs[$row]="${secs[$row]:-} $(field seconds "$res")"
            ticks[$row]=$(( ${ticks[$row]:-0} + c1 - c0 ))
            ccpu[$row]=$(calc "print ${ccpu[$row]:-0} + $(field client_cpu "$res")")
            nok[$row]=$(( ${nok[$row]:-0} + 1 ))
        done
    done
    local hwm_sink="" hwm_csink=""
    [ -n "${PPID_OF[sink]}" ] && hwm_sink=$(status_kb "${PPID_OF[sink]}" VmHWM)
    [ -n "${PPID_OF[csink]}" ] && hwm_csink=$(status_kb "${PPID_OF[csink]}" VmHWM)
    stop_pid "${PPID_OF[sink]}"
    stop_pid "${PPID_OF[csink]}"

    local med ref n cpu ratio
    out '  %-28s %-9s %7s %11s %7s %6s %11s %10s' target upstream "time s" \
        "range s" "msg/s" ratio "postern us" "client us"
    for row in $ROWS; do
        how=${row%-*} up=${row#*-}
        if [ -n "${fail[$row]:-}" ]; then
            out '  %-28s %-9s FAILED: %s' "$(row_label "$row")" "${UP_NAME[$up]}" "${fail[$row]}"
            continue
        fi
        if [ -z "${secs[$row]:-}" ]; then
            out '  %-28s %-9s not available: %s' "$(row_label "$row")" "${UP_NAME[$up]}" \
                "${WHY[$up]:-}"
            continue
        fi
        # shellcheck disable=SC2086
        med=$(median ${secs[$row]})
        n=$(( ${nok[$row]} * msgs ))
        ratio=- cpu=-
        if [ -n "${secs[data-$up]:-}" ]; then
            # shellcheck disable=SC2086
            ref=$(median ${secs[data-$up]})
            ratio=$(calc "printf \"%.2f\", $ref / $med")
        fi
        [ "$how" != direct ] &&
            cpu=$(calc "printf \"%.0f\", ${ticks[$row]} * 1e6 / $CLK_TCK / $n")
        # shellcheck disable=SC2086
        out '  %-28s %-9s %7s %11s %7s %6s %11s %10s' "$(row_label "$row")" \
            "${UP_NAME[$up]}" "$med" "$(range_of ${secs[$row]})" \
            "$(calc "printf \"%.0f\", $msgs / $med")" "$ratio" "$cpu" \
            "$(calc "printf \"%.0f\", ${ccpu[$row]} * 1e6 / $n")"
    done
    out '  ratio: throughput as a fraction of DATA via postern to the same upstream.'
    out '  postern us, client us: CPU per message (utime+stime). peak RSS of postern:'
    out '  %s KB (smtp-sink), %s KB (bdatsink)' "${hwm_sink:--}" "${hwm_csink:--}"
}

# --------------------------------------------------------------- main

need_tools smtp-sink ss timeout awk
for sc in $SCENARIOS; do
    case $sc in s|l) ;; *) die "unknown scenario '$sc' (use s l)" ;; esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (smtp-sink -u nobody needs it)"
ports_free "$SINK_PORT" "$CSINK_PORT" "${PORT[@]}"
make_dirs postern-bench-bdat
copy_postern   # a private copy: others may rebuild the binary meanwhile

"${SINK_CMD[@]}" >"$LOGDIR/smtp-sink.log" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
"${CSINK_CMD[@]}" >"$LOGDIR/bdatsink.log" 2>&1 &
CSINK_PID=$!
PIDS+=("$CSINK_PID")
wait_listen "$SINK_PORT" "$SINK_PID" || die "smtp-sink did not start (see $LOGDIR/smtp-sink.log)"
wait_listen "$CSINK_PORT" "$CSINK_PID" || die "bdatsink.py did not start (see $LOGDIR/bdatsink.log)"

pst_desc=$(postern_desc)
out 'Postern BDAT benchmark  %s' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
out 'host:      %s' "$(host_desc)"
out 'tools:     postfix %s smtp-sink; %s' \
    "$(dpkg-query -W -f='${Version}' postfix 2>/dev/null || echo '?')" \
    "$("$PY" -c 'import platform; print("Python", platform.python_version())')"
out 'postern:   %s' "$pst_desc"
out 'upstreams: %s' "${SINK_CMD[*]}"
out '           bdatsink.py %s127.0.0.1:%s (%s)' "${CHUNK_SINK_OPTS:+$CHUNK_SINK_OPTS }" \
    "$CSINK_PORT" "$([ -n "$CHUNK_SINK_OPTS" ] && echo 'EHLO: PIPELINING CHUNKING' ||
                     echo 'EHLO: CHUNKING')"
out 'mode:      %s, REPEAT=%s, client pipelining %s' \
    "$([ "$QUICK" = 1 ] && echo QUICK || echo full)" "$REPEAT" \
    "$([ "$PIPELINING" = 1 ] && echo on || echo off)"
out 'load:      %s (1/5/15-min load average at start; other work skews the figures)' \
    "$(loadavg)"
out 'command:   %s' "$CMDLINE"

for sc in $SCENARIOS; do
    case $sc in
    s) bdat_scenario s "$S_MSGS" 10 10240 65536 \
           "10 sessions x 10 KB, connections reused; BDAT: the message in one chunk" ;;
    l) bdat_scenario l "$L_MSGS" 4 1048576 "$BDAT_CHUNK" \
           "4 sessions x 1 MB, connections reused; BDAT: chunks of $BDAT_CHUNK octets" ;;
    esac
done
footer
