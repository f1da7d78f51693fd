# shellcheck shell=bash
# Sourced by bench/run.sh, bench/tls.sh and bench/bdat.sh: the helpers they
# share (and, through scripts/listen.sh, ours, running, listening and
# wait_listen).
#
# Set before sourcing:
#   ROOT       the repository root (for scripts/listen.sh)
# Sourcing sets PIDS=(), WORK="", FG_PID="", CLK_TCK and installs the
# EXIT/INT/TERM traps: at exit, cleanup stops every PID in PIDS (and the
# job run_fg waits for) and removes WORK. The sourcing script then:
#   - appends the PID of each background job it starts to PIDS (stop_pid
#     stops one and takes it out again);
#   - sets OUT_DIR, LOGDIR and RESULTS (the file out appends to), then
#     calls make_dirs, which creates them and WORK (the scratch directory);
#   - sets PY (python3) before need_tools, POSTERN (the binary) before
#     copy_postern.
#
# Helpers:
#   cmdline VARS ARG0 ARGS...   the command as typed, with its settings
#   run_fg OUTFILE CMD...       CMD as an interruptible foreground job
#   progress, die, out          messages; out also goes to RESULTS
#   now_us, cpu_ticks, status_kb, wait_file, stop_pid
#   median, calc, fmt_mb, range_of, field, loadavg
#   need_tools, ports_free, raise_nofile, make_dirs, copy_postern,
#   postern_desc, host_desc, footer

# shellcheck source=scripts/listen.sh
. "$ROOT/scripts/listen.sh"

PIDS=()
WORK=""
FG_PID=""
# shellcheck disable=SC2034  # for the sourcing scripts (cpu_ticks units)
CLK_TCK=$(getconf CLK_TCK)

# cmdline "VAR..." ARG0 ARGS...: the command as typed (ARG0 ARGS...), each
# VAR that came from the environment in front as VAR=value. Call it before
# the script gives those variables their defaults.
cmdline() {
    local v vars=$1 s=""
    shift
    for v in $vars; do
        [ -n "${!v+x}" ] && s="$s$v=$(printf '%q' "${!v}") "
    done
    s="$s$(printf '%q' "$1")"
    shift
    [ $# -gt 0 ] && s="$s$(printf ' %q' "$@")"
    printf '%s\n' "$s"
}

cleanup() {
    local pid
    trap - EXIT INT TERM
    for pid in $FG_PID "${PIDS[@]}"; do
        ours "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    sleep 0.3
    for pid in $FG_PID "${PIDS[@]}"; do
        ours "$pid" && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# run_fg OUTFILE CMD...: runs CMD (output appended to OUTFILE) as a
# background job and waits for it, so that a Ctrl-C or SIGTERM interrupts the
# wait at once (bash defers traps while a foreground command runs, and
# ignores SIGINT when that command survives it). The redirection is on the
# job only: a trap that fires here must still print to the terminal.
run_fg() {
    local rc out=$1
    shift
    "$@" >>"$out" 2>&1 &
    FG_PID=$!
    wait "$FG_PID"
    rc=$?
    FG_PID=""
    return $rc
}

progress() { printf '  .. %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# out FORMAT ARGS...: to the terminal and to the results file.
out() {
    local s
    # shellcheck disable=SC2059
    printf -v s "$@"
    printf '%s\n' "$s"
    printf '%s\n' "$s" >>"$RESULTS"
}

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# utime+stime of a process, in clock ticks (all threads).
cpu_ticks() {
    local s
    { s=$(<"/proc/$1/stat"); } 2>/dev/null || { echo 0; return 1; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $((${12} + ${13}))
}

# status_kb PID VmRSS|VmHWM
status_kb() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null
}

# wait_file FILE PID: up to 120 s for FILE to appear while PID lives.
wait_file() {
    for _ in $(seq 1 1200); do
        [ -f "$1" ] && break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
}

# stop_pid PID: TERM, then KILL after 3 s; reap it and forget it.
stop_pid() {
    local pid=$1 p keep=()
    [ -n "$pid" ] || return 0
    if ours "$pid" && kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 30); do
            running "$pid" || break
            sleep 0.1
        done
        ours "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    for p in "${PIDS[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
    return 0
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
calc() { awk "BEGIN { $1 }"; }
# fmt_mb KB: "12.3 MB", or "-" when KB is empty
fmt_mb() { [ -n "$1" ] && calc "printf \"%.1f MB\", $1 / 1024" || echo "-"; }
# range_of VALUE...: "lowest-highest", two decimals
range_of() {
    printf '%s\n' "$@" | sort -n |
        awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'
}
# field NAME LINE: the value of NAME=... in a smtpload.py result line
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
# loadavg: the 1/5/15-minute load averages
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------- set-up

# need_tools TOOL...: each TOOL on PATH (adding /usr/sbin and /sbin when
# one is not), and PY executable; else die.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/deps.sh)"
    done
    [ -x "$PY" ] || die "$PY not found"
}

# ports_free PORT...: die when one of them is already listening.
ports_free() {
    local p
    for p in "$@"; do
        listening "$p" && die "port $p is already in use (set BENCH_PORT_BASE)"
    done
    return 0
}

# raise_nofile: the descriptor limit up to the hard limit (children inherit
# it), for the idle tests.
raise_nofile() {
    local hard
    hard=$(ulimit -Hn)
    [ "$hard" = unlimited ] && hard=1048576
    ulimit -n "$hard" 2>/dev/null
}

# make_dirs NAME: creates OUT_DIR and LOGDIR, WORK (/tmp/NAME.XXXXXX) and
# an empty RESULTS.
make_dirs() {
    mkdir -p "$OUT_DIR" "$LOGDIR" || die "cannot create $OUT_DIR"
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    : >"$RESULTS"
}

# copy_postern: run a private copy (POSTERN becomes $WORK/postern,
# POSTERN_SRC the binary given): others may rebuild the binary while we
# measure, and every scenario must see the same one.
copy_postern() {
    POSTERN_SRC=$POSTERN
    if [ -x "$POSTERN_SRC" ] && [ -f "$POSTERN_SRC" ]; then
        cp "$POSTERN_SRC" "$WORK/postern" || die "cannot copy $POSTERN_SRC"
        POSTERN=$WORK/postern
    fi
}

# postern_desc: the binary measured (version, sha256, source tree), for the
# results header.
postern_desc() {
    local rev d
    rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    if [ "$POSTERN" = "$WORK/postern" ]; then
        d="$POSTERN_SRC ($(timeout 5 "$POSTERN" --version 2>&1 | head -1 || true);"
        d="$d sha256 $(sha256sum "$POSTERN" | cut -c1-12); tree $rev)"
    else
        d="not available ($POSTERN_SRC missing)"
    fi
    printf '%s\n' "$d"
}

# host_desc: kernel, CPUs, CPU model and Debian version.
host_desc() {
    printf '%s, %s CPUs (%s), %s\n' "$(uname -sr)" "$(nproc)" \
        "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
        "Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
}

# footer: the last lines of every run.
footer() {
    out ''
    out 'load at end: %s' "$(loadavg)"
    out 'logs: %s' "$LOGDIR"
    printf 'results written to %s\n' "$RESULTS"
}
