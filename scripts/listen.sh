# shellcheck shell=bash
# Sourced by scripts/demo.sh and bench/lib.sh: the script's own child
# processes, and waiting for a port.

# ours PID: PID is still a child of this script (running, or exited and not
# yet reaped). Bash reaps exited jobs on its own, so a recorded PID may
# since have been given to someone else's process: never signal it without
# this check. Sets CHILD_STATE to its state letter (R, S, Z, ...).
ours() {
    local s
    CHILD_STATE=""
    [ -n "$1" ] || return 1
    { s=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    CHILD_STATE=$1
    [ "$2" = "$$" ]
}

# running PID: ours, and not a zombie (it has not exited yet).
running() { ours "$1" && [ "$CHILD_STATE" != Z ]; }

# listening PORT: is something listening on TCP PORT?
listening() { ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; }

# wait_listen PORT PID: up to 10 s for PORT to listen while PID lives.
wait_listen() {
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || return 1
        listening "$1" && return 0
        sleep 0.1
    done
    return 1
}
