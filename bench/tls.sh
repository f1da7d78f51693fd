#!/usr/bin/env bash
# Postern TLS benchmark (issue 3; not part of the test suite). See
# docs/performance.md.
#
#   bench/tls.sh [POSTERN_BINARY]          full run (about 4 minutes)
#   QUICK=1 bench/tls.sh                   smaller counts, one repetition
#   SCENARIOS="h i" bench/tls.sh           run only some scenarios
#
# Scenarios:
#   h  TLS handshakes per second that postern sustains, for each key type:
#      implicit TLS (port 465 style), STARTTLS, and implicit TLS resuming a
#      session ticket; with postern's CPU time per handshake
#   m  messages per second over STARTTLS through postern, connections
#      reused, against smtp-source -> smtp-sink directly (the reference of
#      bench/run.sh), the same Python client directly, and the same client
#      in plaintext through postern
#   n  as m, but a new connection (so a full handshake) per message
#   i  RSS per idle session after the handshake and EHLO (postern's VmRSS
#      growth / sessions), TLS and plaintext
# smtp-source has no TLS: the TLS clients are bench/smtpload.py (Python's
# ssl module, i.e. OpenSSL; one process per session). The upstream is
# smtp-sink in plaintext, as in bench/run.sh: only the client leg is TLS.
# The certificates are made afresh in a temporary directory (openssl CLI):
# a self-signed ECDSA P-256 and a self-signed RSA 2048 one.
#
# Environment (all optional):
#   POSTERN            binary (default build/gateway/postern; arg 1 wins)
#   QUICK=1            small counts, REPEAT=1
#   REPEAT=N           runs per target (median kept; default 3)
#   SCENARIOS="h m n i"
#   KEYS="ec rsa"      key types for h (m, n and i use the first)
#   BENCH_PORT_BASE    first of six loopback ports (default 62540; keep them
#                      outside net.ipv4.ip_local_port_range)
#   HS_COUNT           handshakes per run in h (default 2000)
#   HS_SESSIONS        parallel client processes in h (default 4)
#   MSGS               messages per run in m (default 10000)
#   CONN_MSGS          messages per run in n (default 2000)
#   SESSIONS           parallel sessions in m and n (default 10)
#   MSG_BYTES          body size in m and n (default 10240)
#   IDLE_CONNS         sessions held in i (default 500)
#   POSTERN_EXTRA_OPTS extra arguments appended to postern's command line
#   RUN_TIMEOUT        seconds allowed for one client run (default 300)

set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

CMDLINE=$(cmdline "POSTERN QUICK REPEAT SCENARIOS KEYS BENCH_PORT_BASE HS_COUNT
    HS_SESSIONS MSGS CONN_MSGS SESSIONS MSG_BYTES IDLE_CONNS POSTERN_EXTRA_OPTS
    RUN_TIMEOUT" "$0" "$@")
POSTERN=${1:-${POSTERN:-$ROOT/build/gateway/postern}}
PY=/usr/bin/python3
LOAD=$BENCH/smtpload.py

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    REPEAT=${REPEAT:-1}
    HS_COUNT=${HS_COUNT:-300}
    MSGS=${MSGS:-2000}
    CONN_MSGS=${CONN_MSGS:-300}
    IDLE_CONNS=${IDLE_CONNS:-200}
else
    REPEAT=${REPEAT:-3}
    HS_COUNT=${HS_COUNT:-2000}
    MSGS=${MSGS:-10000}
    CONN_MSGS=${CONN_MSGS:-2000}
    IDLE_CONNS=${IDLE_CONNS:-500}
fi
SCENARIOS=${SCENARIOS:-"h m n i"}
KEYS=${KEYS:-"ec rsa"}
HS_SESSIONS=${HS_SESSIONS:-4}
SESSIONS=${SESSIONS:-10}
MSG_BYTES=${MSG_BYTES:-10240}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
POSTERN_EXTRA_OPTS=${POSTERN_EXTRA_OPTS:-}
PORT_BASE=${BENCH_PORT_BASE:-62540}
SINK_PORT=$PORT_BASE
# postern instances: name -> port (name: plain, or <mode>-<key>)
declare -A PORT=([plain]=$((PORT_BASE + 1))
                 [starttls-ec]=$((PORT_BASE + 2)) [implicit-ec]=$((PORT_BASE + 3))
                 [starttls-rsa]=$((PORT_BASE + 4)) [implicit-rsa]=$((PORT_BASE + 5)))

# The upstream of bench/run.sh: smtp-sink without PIPELINING, 8BITMIME,
# ENHANCEDSTATUSCODES, AUTH, XCLIENT, XFORWARD, DSN (it never offers
# STARTTLS): only the client leg is encrypted.
SINK_CMD=(smtp-sink -u nobody -p -8 -E -a -C -F -N -t 600 -m 5000
          "127.0.0.1:$SINK_PORT" 4096)
# One worker in the foreground process, as in bench/run.sh.
POSTERN_OPTS=(-o limits.connections=5000 -o limits.connections_per_client=5000
              -o log.level=warn -o limits.messages_per_session=1000000
              -o process.master=off -o process.run_as_root=yes)
SOURCE_HELO=bench.example

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$BENCH/out
RESULTS=$OUT_DIR/tls-$STAMP.txt
LOGDIR=$OUT_DIR/tls-logs-$STAMP

# ---------------------------------------------------------------- postern

declare -A PPID_OF=() WHY=()

# start_postern NAME: postern quick mode on PORT[NAME], smoke-tested.
start_postern() {
    local name=$1 mode key args=() tls=none
    PPID_OF[$name]="" WHY[$name]=""
    if [ ! -x "$POSTERN" ]; then
        WHY[$name]="no executable at $POSTERN_SRC"
        return 1
    fi
    if [ "$name" != plain ]; then
        mode=${name%-*} key=${name#*-} tls=$mode
        args=(--tls-cert "$WORK/$key.crt" --tls-key "$WORK/$key.key")
        [ "$mode" = implicit ] && args+=(-o listeners.0.tls=implicit)
    fi
    # shellcheck disable=SC2086
    "$POSTERN" --listen "127.0.0.1:${PORT[$name]}" \
        --upstream "127.0.0.1:$SINK_PORT" "${args[@]}" \
        "${POSTERN_OPTS[@]}" $POSTERN_EXTRA_OPTS \
        >>"$LOGDIR/postern-$name.log" 2>&1 &
    PPID_OF[$name]=$!
    PIDS+=("${PPID_OF[$name]}")
    if ! wait_listen "${PORT[$name]}" "${PPID_OF[$name]}"; then
        WHY[$name]="failed to start, see $LOGDIR/postern-$name.log"
    elif ! run_fg "$LOGDIR/client.log" timeout 20 "$PY" "$LOAD" msgs \
            --tls "$tls" --sessions 1 --messages 1 127.0.0.1 "${PORT[$name]}"; then
        WHY[$name]="one-message smoke test failed, see $LOGDIR"
    else
        return 0
    fi
    stop_pid "${PPID_OF[$name]}"
    PPID_OF[$name]=""
    return 1
}

stop_postern() {
    stop_pid "${PPID_OF[$1]:-}"
    PPID_OF[$1]=""
}

# ------------------------------------------------------ handshakes (h)

handshakes() {
    local key mode name rep res rc s c0 c1 t lines=() row
    declare -A secs=() ticks=() nok=() fail=() ccpu=() resumed=()
    out ''
    out '[h] TLS handshakes: %s per run from %s client processes, each on a new' \
        "$HS_COUNT" "$HS_SESSIONS"
    out '    connection, then QUIT (x%s, median); postern = 1 worker, 1 CPU at most' "$REPEAT"
    out '    implicit: connect, handshake, 220; starttls: 220, EHLO, STARTTLS, 220,'
    out '    handshake, EHLO; resumed: implicit, offering the previous session ticket'
    for key in $KEYS; do
        for mode in implicit starttls; do
            start_postern "$mode-$key"
        done
        for rep in $(seq 1 "$REPEAT"); do
            for t in implicit starttls resumed; do
                row=$t-$key
                mode=$t
                [ "$t" = resumed ] && mode=implicit
                name=$mode-$key
                [ -n "${PPID_OF[$name]}" ] || continue
                [ -n "${fail[$row]:-}" ] && continue
                progress "[h] run $rep/$REPEAT $row"
                c0=$(cpu_ticks "${PPID_OF[$name]}")
                : >"$WORK/hs.out"
                # shellcheck disable=SC2046
                run_fg "$WORK/hs.out" timeout "$RUN_TIMEOUT" "$PY" "$LOAD" \
                    handshakes --tls "$mode" --sessions "$HS_SESSIONS" \
                    --count "$HS_COUNT" $([ "$t" = resumed ] && echo --resume) \
                    127.0.0.1 "${PORT[$name]}"
                rc=$?
                c1=$(cpu_ticks "${PPID_OF[$name]}")
                res=$(tail -1 "$WORK/hs.out")
                printf '%s %s\n' "$row" "$res" >>"$LOGDIR/client.log"
                if [ $rc -ne 0 ]; then
                    fail[$row]="${res:-exit $rc}"
                    continue
                fi
                s=$(field seconds "$res")
                secs[$row]="${secs[$row]:-} $s"
                ticks[$row]=$(( ${ticks[$row]:-0} + c1 - c0 ))
                ccpu[$row]=$(calc "print ${ccpu[$row]:-0} + $(field client_cpu "$res")")
                resumed[$row]=$(( ${resumed[$row]:-0} + $(field resumed "$res") ))
                nok[$row]=$(( ${nok[$row]:-0} + 1 ))
            done
        done
        for mode in implicit starttls; do
            name=$mode-$key
            [ -n "${PPID_OF[$name]}" ] &&
                HWM[$name]=$(status_kb "${PPID_OF[$name]}" VmHWM)
            stop_postern "$name"
        done
    done
    out '  %-14s %6s %7s %11s %7s %9s %11s %10s %9s' target hs "time s" "range s" \
        "hs/s" "resumed" "postern us" "hs/CPU-s" "client us"
    for key in $KEYS; do
        for t in implicit starttls resumed; do
            row=$t-$key
            mode=$t
            [ "$t" = resumed ] && mode=implicit
            if [ -n "${fail[$row]:-}" ]; then
                out '  %-14s FAILED: %s' "$row" "${fail[$row]}"
                continue
            fi
            if [ -z "${secs[$row]:-}" ]; then
                out '  %-14s not available: %s' "$row" "${WHY[$mode-$key]:-}"
                continue
            fi
            # shellcheck disable=SC2086
            s=$(median ${secs[$row]})
            local n=$(( ${nok[$row]} * HS_COUNT )) us
            us=$(calc "printf \"%.0f\", ${ticks[$row]} * 1e6 / $CLK_TCK / $n")
            R[h.$row.rate]=$(calc "printf \"%.0f\", $HS_COUNT / $s")
            R[h.$row.us]=$us
            # shellcheck disable=SC2086
            out '  %-14s %6s %7s %11s %7s %9s %11s %10s %9s' "$row" "$HS_COUNT" \
                "$s" "$(range_of ${secs[$row]})" "${R[h.$row.rate]}" \
                "$(calc "printf \"%.0f%%\", ${resumed[$row]} * 100 / $n")" "$us" \
                "$(calc "printf \"%.0f\", ($us > 0 ? 1e6 / $us : 0)")" \
                "$(calc "printf \"%.0f\", ${ccpu[$row]} * 1e6 / $n")"
        done
    done
    for key in $KEYS; do
        lines+=("implicit-$key $(fmt_mb "${HWM[implicit-$key]:-}")")
        lines+=("starttls-$key $(fmt_mb "${HWM[starttls-$key]:-}")")
    done
    local joined
    joined=$(IFS=,; echo "${lines[*]}")
    out '  peak RSS (VmHWM) of each postern: %s' "${joined//,/, }"
    out '  postern us = postern CPU (utime+stime) per handshake; hs/CPU-s = 1e6 / that:'
    out '  the rate one CPU would sustain for postern alone. client us = the same'
    out '  for the Python client processes. resumed = abbreviated handshakes.'
}

# ---------------------------------------------- messages over TLS (m, n)

# messages ID MSGS REUSE DESCRIPTION
messages() {
    local id=$1 msgs=$2 reuse=$3 desc=$4 key=${KEYS%% *}
    local targets="source-direct py-direct plain starttls-$key implicit-$key"
    local t rep res rc s e c0 c1 pid port name sargs=() largs=()
    declare -A secs=() ticks=() nok=() fail=() ccpu=()
    out ''
    out '[%s] %s' "$id" "$desc"
    [ "$reuse" = 1 ] && sargs=(-d) largs=(--reuse)
    out '    source-direct: smtp-source %s-s %s -l %s -M %s -m %s 127.0.0.1:SINK' \
        "$([ "$reuse" = 1 ] && echo '-d ')" "$SESSIONS" "$MSG_BYTES" "$SOURCE_HELO" "$msgs"
    out '    others:        smtpload.py msgs %s--sessions %s --size %s --messages %s --tls MODE' \
        "$([ "$reuse" = 1 ] && echo '--reuse ')" "$SESSIONS" "$MSG_BYTES" "$msgs"
    out '    (x%s, median; %s key for TLS)' "$REPEAT" "$key"
    for name in plain "starttls-$key" "implicit-$key"; do
        start_postern "$name"
    done
    for rep in $(seq 1 "$REPEAT"); do
        for t in $targets; do
            [ -n "${fail[$t]:-}" ] && continue
            pid="" port=$SINK_PORT name=$t
            case $t in
            source-direct|py-direct) ;;
            *) pid=${PPID_OF[$t]}; port=${PORT[$t]}; [ -n "$pid" ] || continue ;;
            esac
            progress "[$id] run $rep/$REPEAT $t"
            c0=0 c1=0
            [ -n "$pid" ] && c0=$(cpu_ticks "$pid")
            if [ "$t" = source-direct ]; then
                s=$(now_us)
                run_fg "$LOGDIR/smtp-source.log" timeout "$RUN_TIMEOUT" \
                    smtp-source "${sargs[@]}" -s "$SESSIONS" -l "$MSG_BYTES" \
                    -M "$SOURCE_HELO" -m "$msgs" "127.0.0.1:$port"
                rc=$?
                e=$(now_us)
                res="seconds=$(calc "printf \"%.3f\", ($e - $s) / 1e6") client_cpu=0"
            else
                local tls=none
                case $t in starttls-*) tls=starttls ;; implicit-*) tls=implicit ;; esac
                : >"$WORK/m.out"
                run_fg "$WORK/m.out" timeout "$RUN_TIMEOUT" "$PY" "$LOAD" msgs \
                    "${largs[@]}" --tls "$tls" --sessions "$SESSIONS" \
                    --size "$MSG_BYTES" --messages "$msgs" 127.0.0.1 "$port"
                rc=$?
                res=$(tail -1 "$WORK/m.out")
                printf '[%s] %s %s\n' "$id" "$t" "$res" >>"$LOGDIR/client.log"
            fi
            [ -n "$pid" ] && c1=$(cpu_ticks "$pid")
            if [ $rc -ne 0 ]; then
                fail[$t]="${res:-exit $rc}"
                [ "$t" = source-direct ] && fail[$t]="smtp-source exit $rc"
                continue
            fi
            secs[$t]="${secs[$t]:-} $(field seconds "$res")"
            ticks[$t]=$(( ${ticks[$t]:-0} + c1 - c0 ))
            ccpu[$t]=$(calc "print ${ccpu[$t]:-0} + $(field client_cpu "$res")")
            nok[$t]=$(( ${nok[$t]:-0} + 1 ))
        done
    done
    for name in plain "starttls-$key" "implicit-$key"; do
        stop_postern "$name"
    done

    local ref_src="" ref_py="" ref_pl="" med n cpu r1 r2 r3 ccli
    # shellcheck disable=SC2086
    [ -n "${secs[source-direct]:-}" ] && ref_src=$(median ${secs[source-direct]})
    # shellcheck disable=SC2086
    [ -n "${secs[py-direct]:-}" ] && ref_py=$(median ${secs[py-direct]})
    # shellcheck disable=SC2086
    [ -n "${secs[plain]:-}" ] && ref_pl=$(median ${secs[plain]})
    out '  %-14s %7s %11s %7s %8s %8s %8s %11s %10s' target "time s" "range s" \
        "msg/s" "/source" "/py" "/plain" "postern us" "client us"
    for t in $targets; do
        if [ -n "${fail[$t]:-}" ]; then
            out '  %-14s FAILED: %s' "$t" "${fail[$t]}"
            continue
        fi
        if [ -z "${secs[$t]:-}" ]; then
            out '  %-14s not available: %s' "$t" "${WHY[$t]:-}"
            continue
        fi
        # shellcheck disable=SC2086
        med=$(median ${secs[$t]})
        n=$(( ${nok[$t]} * msgs ))
        r1=- r2=- r3=- cpu=-
        [ -n "$ref_src" ] && r1=$(calc "printf \"%.2f\", $ref_src / $med")
        [ -n "$ref_py" ] && [ "$t" != source-direct ] &&
            r2=$(calc "printf \"%.2f\", $ref_py / $med")
        [ -n "$ref_pl" ] && case $t in plain|starttls-*|implicit-*)
            r3=$(calc "printf \"%.2f\", $ref_pl / $med") ;; esac
        case $t in plain|starttls-*|implicit-*)
            cpu=$(calc "printf \"%.0f\", ${ticks[$t]} * 1e6 / $CLK_TCK / $n") ;; esac
        R[$id.$t.rate]=$(calc "printf \"%.0f\", $msgs / $med")
        ccli=-
        [ "$t" != source-direct ] &&
            ccli=$(calc "printf \"%.0f\", ${ccpu[$t]} * 1e6 / $n")
        # shellcheck disable=SC2086
        out '  %-14s %7s %11s %7s %8s %8s %8s %11s %10s' "$t" "$med" \
            "$(range_of ${secs[$t]})" "${R[$id.$t.rate]}" "$r1" "$r2" "$r3" "$cpu" "$ccli"
    done
    out '  /source, /py, /plain: throughput as a fraction of smtp-source -> smtp-sink,'
    out '  of smtpload.py -> smtp-sink, and of smtpload.py -> postern in plaintext.'
    out '  postern us, client us: CPU per message (utime+stime).'
}

# ------------------------------------------------------ idle RSS (i)

idle_test() {
    local key=${KEYS%% *} name mode before after hwm ready ipid status ok nfail err kb
    out ''
    out '[i] RSS per idle session: %s clients connect, [handshake,] EHLO, then hold;' \
        "$IDLE_CONNS"
    out '    (VmRSS after - VmRSS before) / sessions, postern = 1 worker (%s key)' "$key"
    out '  %-14s %8s %7s %11s %11s %11s %9s' target sessions failed "RSS before" \
        "RSS after" "peak RSS" "KB/session"
    for name in plain "starttls-$key" "implicit-$key"; do
        mode=none
        case $name in starttls-*) mode=starttls ;; implicit-*) mode=implicit ;; esac
        if ! start_postern "$name"; then
            out '  %-14s not available: %s' "$name" "${WHY[$name]}"
            continue
        fi
        progress "[i] $IDLE_CONNS idle sessions to $name"
        sleep 0.5
        before=$(status_kb "${PPID_OF[$name]}" VmRSS)
        ready=$WORK/idle-$name.ready
        rm -f "$ready"
        "$PY" "$LOAD" idle --tls "$mode" 127.0.0.1 "${PORT[$name]}" \
            "$IDLE_CONNS" "$ready" >>"$LOGDIR/idle-client.log" 2>&1 &
        ipid=$!
        PIDS+=("$ipid")
        wait_file "$ready" "$ipid"
        status=$(cat "$ready" 2>/dev/null)
        sleep 1
        after=$(status_kb "${PPID_OF[$name]}" VmRSS)
        hwm=$(status_kb "${PPID_OF[$name]}" VmHWM)
        stop_pid "$ipid"
        stop_postern "$name"
        ok=$(field ok "$status")
        nfail=$(field fail "$status")
        err=$(field err "$status")
        if [ -z "$after" ]; then
            out '  %-14s FAILED: postern exited during the test (client: %s)' \
                "$name" "${status:-no status}"
            continue
        fi
        if [ -z "$ok" ] || [ "$ok" -eq 0 ]; then
            out '  %-14s FAILED: no idle session held (%s)' "$name" "${status:-client gave no status}"
            continue
        fi
        kb=$(calc "printf \"%.2f\", ($after - $before) / $ok")
        R[i.$name.kb]=$kb
        out '  %-14s %8s %7s %11s %11s %11s %9s' "$name" "$ok" "$nfail" \
            "$before KB" "$after KB" "$hwm KB" "$kb"
        [ "$nfail" -gt 0 ] && out '           first failure: %s' "$err"
    done
}

# --------------------------------------------------------------- main

declare -A R=() HWM=()

need_tools smtp-sink smtp-source openssl ss timeout awk
for sc in $SCENARIOS; do
    case $sc in h|m|n|i) ;; *) die "unknown scenario '$sc' (use h m n i)" ;; esac
done
for key in $KEYS; do
    case $key in ec|rsa) ;; *) die "unknown key type '$key' (use ec rsa)" ;; esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (smtp-sink -u nobody needs it)"
ports_free "$SINK_PORT" "${PORT[@]}"
raise_nofile   # for the idle test
make_dirs postern-bench-tls

# Throw-away self-signed certificates (as tests/certs/gen-certs.sh makes
# the test set, with the openssl CLI).
for key in $KEYS; do
    case $key in
    ec) kopt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    rsa) kopt=(-newkey rsa:2048) ;;
    esac
    openssl req -x509 "${kopt[@]}" -nodes -days 30 -sha256 \
        -subj /CN=mx.bench.test -addext subjectAltName=DNS:mx.bench.test \
        -keyout "$WORK/$key.key" -out "$WORK/$key.crt" \
        >>"$LOGDIR/openssl.log" 2>&1 || die "openssl req failed, see $LOGDIR/openssl.log"
done
copy_postern   # a private copy: others may rebuild the binary meanwhile

"${SINK_CMD[@]}" >"$LOGDIR/smtp-sink.log" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_listen "$SINK_PORT" "$SINK_PID" || die "smtp-sink did not start (see $LOGDIR/smtp-sink.log)"

pst_desc=$(postern_desc)
out 'Postern TLS benchmark  %s' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
out 'host:     %s' "$(host_desc)"
out 'tools:    postfix %s smtp-source/smtp-sink; %s; client %s with %s' \
    "$(dpkg-query -W -f='${Version}' postfix 2>/dev/null || echo '?')" \
    "mbedTLS $(dpkg-query -W -f='${Version}' libmbedtls-dev 2>/dev/null || echo '?')" \
    "$("$PY" -c 'import platform; print("Python", platform.python_version())')" \
    "$("$PY" -c 'import ssl; print(ssl.OPENSSL_VERSION)')"
out 'postern:  %s' "$pst_desc"
out 'upstream: %s' "${SINK_CMD[*]}"
certs=""
for key in $KEYS; do
    case $key in ec) certs="$certs, ec = ECDSA P-256" ;; rsa) certs="$certs, rsa = RSA 2048" ;; esac
done
out 'certs:    self-signed%s' "$certs"
out 'mode:     %s, REPEAT=%s' "$([ "$QUICK" = 1 ] && echo QUICK || echo full)" "$REPEAT"
out 'load:     %s (1/5/15-min load average at start; other work skews the figures)' \
    "$(loadavg)"
out 'command:  %s' "$CMDLINE"

for sc in $SCENARIOS; do
    case $sc in
    h) handshakes ;;
    m) messages m "$MSGS" 1 \
           "$SESSIONS sessions x $MSG_BYTES B, connections reused: one handshake per session" ;;
    n) messages n "$CONN_MSGS" 0 \
           "$SESSIONS sessions x $MSG_BYTES B, a new connection (and handshake) per message" ;;
    i) idle_test ;;
    esac
done
footer
