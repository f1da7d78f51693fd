# Sourced by scripts/demo.sh and bench/run.sh: waiting for a port.

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
