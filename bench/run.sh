#!/usr/bin/env bash
# Postern benchmark (not part of the test suite). See docs/performance.md.
#
#   bench/run.sh [POSTERN_BINARY]          full run (about 3 minutes)
#   QUICK=1 bench/run.sh                   smaller counts, one repetition
#   SCENARIOS="a e" bench/run.sh           run only some scenarios
#
# Measures smtp-source -> smtp-sink directly, through HAProxy in TCP mode (an
# L4 relay doing no SMTP work: the floor any proxy can reach) and through
# postern, and prints each as a throughput ratio to the direct run, with the
# proxy's CPU time per message (/proc/PID/stat utime+stime) and its peak RSS
# (VmHWM). Also: RSS per idle connection, and RSS growth while one 1 GiB
# message streams through. When postern is missing or does not start, the
# direct and HAProxy parts still run and postern is reported "not available".
#
# Environment (all optional):
#   POSTERN            binary (default build/gateway/postern; arg 1 wins)
#   QUICK=1            small counts, REPEAT=1
#   REPEAT=N           runs per target per throughput scenario (median kept)
#   SCENARIOS="a b c d e f"
#   BENCH_PORT_BASE    first of three loopback ports (default 62525; keep it
#                      outside net.ipv4.ip_local_port_range)
#   HAPROXY_NBTHREAD   HAProxy threads (default 1, like postern's one loop)
#   IDLE_CONNS         connections for scenario e (default 2000)
#   BIG_BYTES          message size for scenario f (default 1073741824)
#   POSTERN_EXTRA_OPTS extra arguments appended to postern's command line
#   RUN_TIMEOUT        seconds allowed for one smtp-source run (default 300)

set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

# The command as typed, with the settings that came from the environment.
CMDLINE=$(cmdline "POSTERN QUICK REPEAT SCENARIOS BENCH_PORT_BASE HAPROXY_NBTHREAD
    IDLE_CONNS BIG_BYTES POSTERN_EXTRA_OPTS RUN_TIMEOUT" "$0" "$@")
POSTERN=${1:-${POSTERN:-$ROOT/build/gateway/postern}}
PY=/usr/bin/python3
CLIENT=$BENCH/smtpclient.py

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    REPEAT=${REPEAT:-1}
    A_MSGS=2000 B_MSGS=2000 C_MSGS=200 D_MSGS=500
    IDLE_CONNS=${IDLE_CONNS:-500}
    BIG_BYTES=${BIG_BYTES:-67108864}
else
    REPEAT=${REPEAT:-5}
    A_MSGS=20000 B_MSGS=20000 C_MSGS=1000 D_MSGS=5000
    IDLE_CONNS=${IDLE_CONNS:-2000}
    BIG_BYTES=${BIG_BYTES:-1073741824}
fi
SCENARIOS=${SCENARIOS:-"a b c d e f"}
PORT_BASE=${BENCH_PORT_BASE:-62525}
SINK_PORT=$PORT_BASE
HAP_PORT=$((PORT_BASE + 1))
PST_PORT=$((PORT_BASE + 2))
HAPROXY_NBTHREAD=${HAPROXY_NBTHREAD:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
POSTERN_EXTRA_OPTS=${POSTERN_EXTRA_OPTS:-}

# smtp-sink as a "legacy" upstream: ESMTP, but no PIPELINING (-p), 8BITMIME
# (-8), ENHANCEDSTATUSCODES (-E), AUTH (-a), XCLIENT (-C), XFORWARD (-F), DSN
# (-N). smtp-sink never offers SIZE, CHUNKING, STARTTLS or SMTPUTF8. -m is
# the number of sessions it serves at once (the idle test through HAProxy
# needs one upstream session per client); -t the per-command timeout.
SINK_FLAGS=(-p -8 -E -a -C -F -N)
SINK_CMD=(smtp-sink -u nobody "${SINK_FLAGS[@]}" -t 600 -m 5000
          "127.0.0.1:$SINK_PORT" 4096)
# One worker in the foreground process (process.master=off), like the
# single-threaded HAProxy beside it, so its CPU and memory are the figures;
# POSTERN_EXTRA_OPTS can change that (e.g. "-o process.master=on
# -o process.workers=2").
POSTERN_OPTS=(-o limits.connections=5000 -o limits.connections_per_client=5000
              -o log.level=warn -o limits.message_size=2G
              -o limits.messages_per_session=1000000
              -o process.master=off -o process.run_as_root=yes)
SOURCE_HELO=bench.example   # smtp-source -M: HELO name and address domain

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$BENCH/out
RESULTS=$OUT_DIR/results-$STAMP.txt
LOGDIR=$OUT_DIR/logs-$STAMP

# ---------------------------------------------------------------- helpers

# smoke PORT: one small message must get through.
smoke() {
    run_fg "$LOGDIR/smtp-source.log" \
        timeout 20 smtp-source -M "$SOURCE_HELO" -m 1 -l 100 "127.0.0.1:$1"
}

# ---------------------------------------------------------------- proxies

HAP_PID="" HAP_WHY=""
PST_PID="" PST_WHY=""
TAG=""   # scenario tag for log file names

start_haproxy() {
    HAP_PID="" HAP_WHY=""
    cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 5000
    nbthread $HAPROXY_NBTHREAD
defaults
    mode tcp
    timeout connect 5s
    timeout client 15m
    timeout server 15m
listen smtp
    bind 127.0.0.1:$HAP_PORT
    server sink 127.0.0.1:$SINK_PORT
EOF
    haproxy -db -f "$WORK/haproxy.cfg" >"$LOGDIR/haproxy-$TAG.log" 2>&1 &
    HAP_PID=$!
    PIDS+=("$HAP_PID")
    if ! wait_listen "$HAP_PORT" "$HAP_PID"; then
        HAP_WHY="did not start, see $LOGDIR/haproxy-$TAG.log"
    elif ! smoke "$HAP_PORT"; then
        HAP_WHY="one-message smoke test failed, see $LOGDIR/haproxy-$TAG.log"
    else
        return 0
    fi
    stop_pid "$HAP_PID"
    HAP_PID=""
    return 1
}

start_postern() {
    PST_PID="" PST_WHY=""
    if [ ! -x "$POSTERN" ]; then
        PST_WHY="no executable at $POSTERN"
        return 1
    fi
    # shellcheck disable=SC2086
    "$POSTERN" --listen "127.0.0.1:$PST_PORT" --upstream "127.0.0.1:$SINK_PORT" \
        "${POSTERN_OPTS[@]}" $POSTERN_EXTRA_OPTS \
        >"$LOGDIR/postern-$TAG.log" 2>&1 &
    PST_PID=$!
    PIDS+=("$PST_PID")
    if ! wait_listen "$PST_PORT" "$PST_PID"; then
        PST_WHY="failed to start, see $LOGDIR/postern-$TAG.log"
    elif ! smoke "$PST_PORT"; then
        PST_WHY="one-message smoke test failed, see $LOGDIR/postern-$TAG.log"
    else
        return 0
    fi
    stop_pid "$PST_PID"
    PST_PID=""
    return 1
}

# start_target haproxy|postern; TPID/TPORT/TWHY describe the result.
start_target() {
    TPID="" TWHY=""
    case $1 in
    direct) TPORT=$SINK_PORT; return 0 ;;
    haproxy) TPORT=$HAP_PORT; start_haproxy; TPID=$HAP_PID; TWHY=$HAP_WHY ;;
    postern) TPORT=$PST_PORT; start_postern; TPID=$PST_PID; TWHY=$PST_WHY ;;
    esac
    [ -n "$TPID" ]
}

port_of() {
    case $1 in
    direct) echo "$SINK_PORT" ;; haproxy) echo "$HAP_PORT" ;; postern) echo "$PST_PORT" ;;
    esac
}
pid_of() {
    case $1 in
    direct) echo "" ;; haproxy) echo "$HAP_PID" ;; postern) echo "$PST_PID" ;;
    esac
}
why_of() {
    case $1 in
    haproxy) echo "$HAP_WHY" ;; postern) echo "$PST_WHY" ;; *) echo "" ;;
    esac
}

# Results kept for the targets section: R[<scenario>.<target>.<metric>].
declare -A R

unavailable_row() {
    if [ "$1" = postern ]; then
        out '  %-8s not available: %s' "$1" "$2"
    else
        out '  %-8s FAILED: %s' "$1" "$2"
    fi
}

# ------------------------------------------------------ throughput (a-d)

# throughput ID MSGS DESCRIPTION SMTP-SOURCE-ARGS...
throughput() {
    local id=$1 msgs=$2 desc=$3
    shift 3
    local args=("$@") t rep pid port c0 c1 s e rc
    declare -A times=() ticks=() nok=() fail=()
    TAG=$id
    out ''
    out '[%s] %s' "$id" "$desc"
    out '    smtp-source %s -M %s -m %s 127.0.0.1:PORT   (x%s, median)' \
        "${args[*]}" "$SOURCE_HELO" "$msgs" "$REPEAT"
    start_haproxy
    start_postern
    for rep in $(seq 1 "$REPEAT"); do
        for t in direct haproxy postern; do
            if [ "$t" != direct ] && [ -z "$(pid_of $t)" ]; then continue; fi
            [ -n "${fail[$t]:-}" ] && continue
            progress "[$id] run $rep/$REPEAT $t"
            pid=$(pid_of $t)
            port=$(port_of $t)
            c0=0 c1=0
            [ -n "$pid" ] && c0=$(cpu_ticks "$pid")
            s=$(now_us)
            run_fg "$LOGDIR/smtp-source.log" \
                timeout "$RUN_TIMEOUT" smtp-source "${args[@]}" \
                -M "$SOURCE_HELO" -m "$msgs" "127.0.0.1:$port"
            rc=$?
            e=$(now_us)
            [ -n "$pid" ] && c1=$(cpu_ticks "$pid")
            if [ $rc -ne 0 ]; then
                fail[$t]="smtp-source exit $rc"
                [ $rc -eq 124 ] && fail[$t]="timed out after ${RUN_TIMEOUT}s"
                if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
                    fail[$t]="${fail[$t]}; $t died"
                fi
                fail[$t]="${fail[$t]}; see $LOGDIR"
                continue
            fi
            times[$t]="${times[$t]:-} $((e - s))"
            ticks[$t]=$(( ${ticks[$t]:-0} + c1 - c0 ))
            nok[$t]=$(( ${nok[$t]:-0} + 1 ))
        done
    done
    local hwm_h="" hwm_p=""
    [ -n "$HAP_PID" ] && hwm_h=$(status_kb "$HAP_PID" VmHWM)
    [ -n "$PST_PID" ] && hwm_p=$(status_kb "$PST_PID" VmHWM)
    stop_pid "$HAP_PID"; HAP_PID=""
    stop_pid "$PST_PID"; PST_PID=""

    out '  %-8s %7s %8s %11s %9s %7s %12s %10s' \
        target msgs "time s" "range s" "msg/s" ratio "cpu us/msg" "peak RSS"
    local med_direct="" med cpu hwm ratio range
    # shellcheck disable=SC2086
    [ -n "${times[direct]:-}" ] && med_direct=$(median ${times[direct]})
    for t in direct haproxy postern; do
        if [ -n "${fail[$t]:-}" ]; then
            out '  %-8s FAILED: %s' "$t" "${fail[$t]}"
            R[$id.$t.failed]=1
            continue
        fi
        if [ -z "${times[$t]:-}" ]; then
            unavailable_row "$t" "$(why_of $t)"
            continue
        fi
        # shellcheck disable=SC2086
        med=$(median ${times[$t]})
        # shellcheck disable=SC2086
        range=$(printf '%s\n' ${times[$t]} | sort -n |
            awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo / 1e6, hi / 1e6 }')
        ratio="-"
        [ -n "$med_direct" ] && ratio=$(calc "printf \"%.2f\", $med_direct / $med")
        cpu="-" hwm="-"
        if [ "$t" != direct ]; then
            cpu=$(calc "printf \"%.0f\", ${ticks[$t]} * 1000000 / $CLK_TCK / (${nok[$t]} * $msgs)")
            [ "$t" = haproxy ] && hwm=$(fmt_mb "$hwm_h")
            [ "$t" = postern ] && hwm=$(fmt_mb "$hwm_p")
            R[$id.$t.ratio]=$ratio
            R[$id.$t.cpu]=$cpu
        fi
        out '  %-8s %7s %8s %11s %9s %7s %12s %10s' "$t" "$msgs" \
            "$(calc "printf \"%.2f\", $med / 1e6")" "$range" \
            "$(calc "printf \"%.0f\", $msgs * 1e6 / $med")" \
            "$ratio" "$cpu" "$hwm"
    done
}

# ------------------------------------------------------- idle RSS (e)

idle_test() {
    local t before after hwm ready ipid status ok nfail err kb
    TAG=e
    out ''
    out '[e] RSS per idle connection: %s clients connect, read the greeting,' "$IDLE_CONNS"
    out '    send EHLO, read the reply, then hold (VmRSS after - before) / clients'
    out '  %-8s %7s %7s %11s %11s %11s %9s' \
        target clients failed "RSS before" "RSS after" "peak RSS" "KB/conn"
    for t in haproxy postern; do
        if ! start_target "$t"; then
            unavailable_row "$t" "$TWHY"
            continue
        fi
        progress "[e] $IDLE_CONNS idle connections to $t"
        sleep 0.5
        before=$(status_kb "$TPID" VmRSS)
        ready=$WORK/idle-$t.ready
        rm -f "$ready"
        "$PY" "$CLIENT" idle 127.0.0.1 "$TPORT" "$IDLE_CONNS" "$ready" \
            >>"$LOGDIR/idle-client.log" 2>&1 &
        ipid=$!
        PIDS+=("$ipid")
        wait_file "$ready" "$ipid"
        status=$(cat "$ready" 2>/dev/null)
        sleep 1
        after=$(status_kb "$TPID" VmRSS)
        hwm=$(status_kb "$TPID" VmHWM)
        stop_pid "$ipid"
        stop_pid "$TPID"
        ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$status")
        nfail=$(sed -n 's/.*fail=\([0-9]*\).*/\1/p' <<<"$status")
        err=$(sed -n 's/.*err=\(.*\)/\1/p' <<<"$status")
        if [ -z "$after" ]; then
            out '  %-8s FAILED: %s exited during the test (client: %s)' "$t" "$t" "${status:-no status}"
            R[e.$t.failed]=1
            continue
        fi
        if [ -z "$ok" ] || [ "$ok" -eq 0 ]; then
            out '  %-8s FAILED: no idle connection held (%s)' "$t" "${status:-client gave no status}"
            R[e.$t.failed]=1
            continue
        fi
        kb=$(calc "printf \"%.2f\", ($after - $before) / $ok")
        R[e.$t.kb]=$kb
        [ "$nfail" -gt 0 ] && R[e.$t.fail]=$nfail
        out '  %-8s %7s %7s %11s %11s %11s %9s' "$t" "$ok" "$nfail" \
            "$before KB" "$after KB" "$hwm KB" "$kb"
        [ "$nfail" -gt 0 ] && out '           first failure: %s' "$err"
    done
}

# ------------------------------------------------ big message RSS (f)

big_test() {
    local t before after c0 c1 res rc secs mb direct_secs="" ratio cpu growth
    TAG=f
    mb=$(calc "printf \"%.0f\", $BIG_BYTES / 1048576")
    out ''
    out '[f] one %s MiB message (80-octet lines) streamed in one transaction;' "$mb"
    out '    RSS growth = VmHWM after - VmHWM before (after start-up + 1 small message)'
    out '  %-8s %8s %8s %7s %8s %11s %11s %9s' \
        target "time s" "MB/s" ratio "cpu ms" "HWM before" "HWM after" growth
    for t in direct haproxy postern; do
        if ! start_target "$t"; then
            unavailable_row "$t" "$TWHY"
            continue
        fi
        progress "[f] $mb MiB message via $t"
        before="" after="" c0=0 c1=0
        if [ -n "$TPID" ]; then
            before=$(status_kb "$TPID" VmHWM)
            c0=$(cpu_ticks "$TPID")
        fi
        : >"$WORK/big.out"
        run_fg "$WORK/big.out" timeout "$RUN_TIMEOUT" \
            "$PY" "$CLIENT" big 127.0.0.1 "$TPORT" "$BIG_BYTES"
        rc=$?
        res=$(cat "$WORK/big.out")
        if [ -n "$TPID" ]; then
            after=$(status_kb "$TPID" VmHWM)
            c1=$(cpu_ticks "$TPID")
            stop_pid "$TPID"
        fi
        printf '%s %s\n' "$t" "$res" >>"$LOGDIR/big-client.log"
        if [ $rc -ne 0 ]; then
            out '  %-8s FAILED: %s' "$t" "${res:-exit $rc}"
            R[f.$t.failed]=1
            continue
        fi
        if [ -n "$TPID" ] && [ -z "$after" ]; then
            out '  %-8s FAILED: %s exited during the test' "$t" "$t"
            R[f.$t.failed]=1
            continue
        fi
        secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$res")
        [ "$t" = direct ] && direct_secs=$secs
        ratio="-"
        [ -n "$direct_secs" ] && ratio=$(calc "printf \"%.2f\", $direct_secs / $secs")
        if [ "$t" = direct ]; then
            out '  %-8s %8s %8s %7s %8s %11s %11s %9s' "$t" "$secs" \
                "$(calc "printf \"%.0f\", $BIG_BYTES / 1048576 / $secs")" \
                "$ratio" - - - -
            continue
        fi
        cpu=$(calc "printf \"%.0f\", ($c1 - $c0) * 1000 / $CLK_TCK")
        growth=$(calc "printf \"%.2f\", ($after - $before) / 1024")
        R[f.$t.growth]=$growth
        out '  %-8s %8s %8s %7s %8s %11s %11s %9s' "$t" "$secs" \
            "$(calc "printf \"%.0f\", $BIG_BYTES / 1048576 / $secs")" \
            "$ratio" "$cpu" "$before KB" "$after KB" "$growth MB"
    done
}

# ------------------------------------------------------------ targets

verdict() { calc "print ($1) ? \"PASS\" : \"FAIL\""; }

targets() {
    local id v h p
    out ''
    out 'Targets (informational only)'
    for id in a b c d; do
        case " $SCENARIOS " in *" $id "*) ;; *) continue ;; esac
        h=${R[$id.haproxy.ratio]:-} p=${R[$id.postern.ratio]:-}
        if [ -n "${R[$id.postern.failed]:-}" ]; then
            out '  [%s] postern: FAILED (see above)' "$id"
            continue
        fi
        if [ -z "$p" ]; then
            out '  [%s] postern: not available' "$id"
            continue
        fi
        if [ -z "$h" ]; then
            out '  [%s] haproxy figures missing: cannot compare' "$id"
            continue
        fi
        out '  [%s] throughput ratio  postern %-6s >= haproxy %-6s      %s' \
            "$id" "$p" "$h" "$(verdict "$p >= $h")"
        h=${R[$id.haproxy.cpu]} p=${R[$id.postern.cpu]}
        out '  [%s] CPU us/msg        postern %-6s <= haproxy %-6s      %s' \
            "$id" "$p" "$h" "$(verdict "$p <= $h")"
    done
    case " $SCENARIOS " in *" e "*)
        v=${R[e.postern.kb]:-}
        if [ -n "${R[e.postern.failed]:-}" ]; then
            out '  [e] postern: FAILED (see above)'
        elif [ -z "$v" ]; then
            out '  [e] postern: not available'
        else
            out '  [e] RSS per idle connection   postern %s KB <= 1 KB           %s' \
                "$v" "$(verdict "$v <= 1 && ${R[e.postern.fail]:-0} == 0")"
        fi ;;
    esac
    case " $SCENARIOS " in *" f "*)
        v=${R[f.postern.growth]:-}
        if [ -n "${R[f.postern.failed]:-}" ]; then
            out '  [f] postern: FAILED (see above)'
        elif [ -z "$v" ]; then
            out '  [f] postern: not available'
        else
            out '  [f] RSS growth, %s MiB message  postern %s MB < 4 MB      %s' \
                "$(calc "printf \"%.0f\", $BIG_BYTES / 1048576")" "$v" \
                "$(verdict "$v < 4")"
        fi ;;
    esac
}

# --------------------------------------------------------------- main

need_tools smtp-sink smtp-source haproxy ss timeout awk
for sc in $SCENARIOS; do
    case $sc in a|b|c|d|e|f) ;; *) die "unknown scenario '$sc' (use a b c d e f)" ;; esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (smtp-sink -u nobody needs it)"
ports_free "$SINK_PORT" "$HAP_PORT" "$PST_PORT"
raise_nofile   # for the idle test
make_dirs postern-bench
copy_postern   # a private copy: others may rebuild the binary meanwhile

"${SINK_CMD[@]}" >"$LOGDIR/smtp-sink.log" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_listen "$SINK_PORT" "$SINK_PID" || die "smtp-sink did not start (see $LOGDIR/smtp-sink.log)"
smoke "$SINK_PORT" || die "smtp-source -> smtp-sink smoke test failed"

pst_desc=$(postern_desc)
out 'Postern benchmark  %s' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
out 'host:     %s' "$(host_desc)"
out 'tools:    %s; postfix %s smtp-source/smtp-sink; haproxy nbthread %s' \
    "$(haproxy -v 2>/dev/null | head -1 | awk '{print $1, $2, $3}')" \
    "$(dpkg-query -W -f='${Version}' postfix 2>/dev/null || echo '?')" "$HAPROXY_NBTHREAD"
out 'postern:  %s' "$pst_desc"
out 'upstream: %s' "${SINK_CMD[*]}"
out 'mode:     %s, REPEAT=%s; ratio = direct time / proxied time (1.00 = as fast as direct)' \
    "$([ "$QUICK" = 1 ] && echo QUICK || echo full)" "$REPEAT"
out 'load:     %s (1/5/15-min load average at start; other work skews the figures)' \
    "$(loadavg)"
out 'command:  %s' "$CMDLINE"

for sc in $SCENARIOS; do
    case $sc in
    a) throughput a "$A_MSGS" "20 sessions x 10 KB, new connection per message" \
           -s 20 -l 10240 ;;
    b) throughput b "$B_MSGS" "20 sessions x 10 KB, connections reused (-d)" \
           -d -s 20 -l 10240 ;;
    c) throughput c "$C_MSGS" "10 sessions x 1 MB, new connection per message" \
           -s 10 -l 1048576 ;;
    d) throughput d "$D_MSGS" "1 session x 100 B, new connection per message (latency-bound)" \
           -s 1 -l 100 ;;
    e) idle_test ;;
    f) big_test ;;
    *) die "unknown scenario '$sc'" ;;
    esac
done
targets
footer
