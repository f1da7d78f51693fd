#!/usr/bin/env bash
# 1 worker against 2 workers on the 10 KB scenario (issue 7): in one
# invocation, smtp-source -> smtp-sink directly, then through postern with
# process.workers=1 and =2 (master on), each as a ratio to the direct run,
# with the CPU of all postern processes per message.
#
# Usage: bench/workers.sh [POSTERN]   (default build/gateway/postern)
# Environment: MSGS (20000), SESSIONS (20), REPEAT (3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POSTERN=${1:-$ROOT/build/gateway/postern}
MSGS=${MSGS:-20000}
SESSIONS=${SESSIONS:-20}
REPEAT=${REPEAT:-3}
SINK=127.0.0.1:62625
LISTEN=127.0.0.1:62626
CLK=$(getconf CLK_TCK)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

smtp-sink -u nobody -p -8 -E -a -C -F -N -t 600 -m 5000 "$SINK" 4096 &
PIDS+=($!)
sleep 0.3

# cpu ticks of a process and its children (the workers)
ticks() {
    local t=0 p s
    for p in "$1" $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
        s=$(<"/proc/$p/stat") || continue
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}

# best of REPEAT runs, in seconds (printf %.3f)
run() {
    local best="" s e d i
    for i in $(seq 1 "$REPEAT"); do
        s=$EPOCHREALTIME
        smtp-source -s "$SESSIONS" -l 10240 -M bench.example -m "$MSGS" "$1"
        e=$EPOCHREALTIME
        d=$(echo "$e - $s" | bc)
        if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then
            best=$d
        fi
    done
    echo "$best"
}

direct=$(run "$SINK")
printf '%-10s %8s s  ratio 1.00\n' direct "$direct"
for w in 1 2; do
    "$POSTERN" --listen "$LISTEN" --upstream "$SINK" -o process.workers=$w \
        -o process.run_as_root=yes -o log.level=warn \
        -o limits.messages_per_session=1000000 \
        -o limits.connections_per_client=5000 >/dev/null 2>&1 &
    pid=$!
    PIDS+=("$pid")
    sleep 0.5
    c0=$(ticks "$pid")
    t=$(run "$LISTEN")
    c1=$(ticks "$pid")
    cpu=$(echo "($c1 - $c0) * 1000000 / $CLK / ($MSGS * $REPEAT)" | bc)
    printf '%-10s %8s s  ratio %.2f  cpu %s us/msg (all processes)\n' \
        "workers=$w" "$t" "$(echo "$direct / $t" | bc -l)" "$cpu"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
