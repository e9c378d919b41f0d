#!/usr/bin/env bash
# compare.sh - volley next to wrk on loopback, one scenario per symptom of the performance issue,
# against a private nginx (bench/nginx-start.sh: 127.0.0.1:8080, server pinned to CPU 0), clients
# pinned to CPU 1. Loopback only: the target address is fixed below and is not configurable.
#
# usage: bench/compare.sh [keepalive] [rss] [scale] [startup] [rate] [peers] [close]  (default: all of them)
#   The scenarios always run in the order above whatever the order of the arguments: close runs
#   last because it leaves tens of thousands of sockets in TIME_WAIT.
#   keepalive  50 keep-alive connections, GET /small: req/s, client CPU us/request (volley -w 1,
#              wrk -t 1), and syscalls/request (strace -f -c on slowed runs, perf stat
#              raw_syscalls:sys_enter on full-speed runs)
#   rss        peak RSS of the client's whole process tree (sum of VmRSS over the client process and
#              its descendants, sampled every 50 ms): volley -w 2 -c 50, wrk -t 1 -c 50, wrk -t 2 -c 50
#   scale      10,000 concurrent keep-alive connections (volley -w 1, wrk -t 1): req/s, peak RSS,
#              errors. The open-file limit is raised to the hard limit in a subshell for these runs.
#   startup    volley URL -w 8 -c 8 -n 8 -q --json, 10 times: wall time of the whole command
#              (monotonic clock), the JSON timing.startup_ms, and the first request's arrival at
#              nginx (/small-logged) for volley and for wrk -t 8 -c 8 -d 1s
#   rate       open loop at 2000 and 20000 requests/s next to httperf (bench/rate.py): achieved rate
#              and evenness as nginx logged the arrivals, client CPU % of a core and us/request,
#              and the gaps between request writes (perf syscall tracepoints, GAP_SECONDS=2 runs)
#   peers      volley next to wrk, h2load --h1, ab -k, httperf and oha (each when installed), 50 keep-alive
#              connections from one client thread, order rotated per round (bench/peers.py): req/s and
#              client CPU us/request, and volley's per-round ratio to the best peer and to wrk
#   close      a new connection per request ("Connection: close"), 50 connections: client CPU us/req
# It prints one detail table per scenario and, last, one table over every scenario that ran, with
# the reference's figure from the same run (wrk; httperf in rate; in peers the peer the row names),
# volley's, the ratio, the target and met / not met.
#
# environment (defaults):
#   DURATION=5 REPS=3      keepalive: seconds per measured run, runs per tool (order alternates)
#   SYSCALL_DURATION=3     keepalive: seconds of each syscall-count run (strace, and perf when it works)
#   SYSCALL_REPS=$REPS     keepalive: syscall-count runs per tool and method
#   VOLLEY_WORKERS=1       volley -w in keepalive and close (one client CPU, so one worker)
#   CONNS=50               connections in keepalive, rss and close
#   RSS_DURATION=5 RSS_REPS=3 RSS_WORKERS=2 RSS_INTERVAL_MS=50
#   SCALE_DURATION=5 SCALE_REPS=3 SCALE_CONNS=10000 SCALE_WORKERS=1 SCALE_SETTLE=3 (extra s between runs)
#   CLOSE_DURATION=5 CLOSE_REPS=5
#   RATE_REPS=3 RATE_SECONDS=5   rate: runs per tool, rate and mode; seconds per run
#   PEERS_ROUNDS=5 PEERS_SECONDS=5  peers: rounds (each runs every tool once); seconds per run
#   STARTUP_RUNS=10 STARTUP_WORKERS=8 STARTUP_ARRIVALS=1 (0: skip the nginx-arrival runs)
#   STARTUP_WRK_RUNS=5     runs of wrk -t 8 -c 8 -d 1s for the reference arrival time
#   VOLLEY=<repo>/target/release/volley   (built with cargo build --release if missing; BUILD=1 always builds)
#   OUT=/tmp/volley-bench/<timestamp>     raw outputs, *.tsv, summary.md
#   SERVER_CPU=0 CLIENT_CPU=1
#   PERF=auto|0          perf stat -e raw_syscalls:sys_enter at full speed (auto: if it works here)
#   PERF_BREAKDOWN=0     1: perf runs also count syscalls:sys_enter_<name> of the usual suspects (top-5
#                        per request in the summary; the extra tracepoints slow the client a little)
#   SETTLE=2             seconds of pause between runs
#   WAIT_IDLE=30         before each run wait up to this many seconds for both CPUs to be < IDLE_PCT busy
#   IDLE_PCT=15          (measured over 1 s from /proc/stat; 0 disables the wait)
#   IDLE_BUDGET=120      seconds of such waiting in the whole script; once spent, runs start at once
#   WARMUP=1             seconds of an unmeasured warm-up run of each tool before keepalive (0: none)
#
# Measured per run, from outside the tool where possible:
#   req/s        the tool's own figure (wrk "Requests/sec:", volley JSON throughput.requests_per_s)
#   CPU us/req   (user+sys of the client's whole process tree, /usr/bin/time, reaped children
#                included) * 1e6 / the tool's own completed-request count (wrk "N requests in",
#                volley replies.total); falls back to req/s x duration, then nginx's count
#   peak RSS     (rss, scale) bench/rss_sample.py: every RSS_INTERVAL_MS the sum of VmRSS over the
#                client process and its descendants (the time/timeout/taskset wrappers excluded)
#   syscalls/req strace -f -c total / requests on a separate short run (strace slows the client
#                several-fold, so this is a count per request at a lower rate, not at full speed);
#                perf stat raw_syscalls:sys_enter / requests on a full-speed short run
#   startup      bench/startup.py: time.monotonic() around the whole command; timing.startup_ms
#   checks       errors, nginx's own request count (stub_status), CPU0/CPU1 busy %, exit codes,
#                sockets in TIME_WAIT before each run
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

die() { echo "compare.sh: $*" >&2; exit 1; }

ALL_SCENARIOS=(keepalive rss scale startup rate peers close)
for a in "$@"; do
    case " ${ALL_SCENARIOS[*]} " in *" $a "*) ;; *) die "unknown scenario '$a' (known: ${ALL_SCENARIOS[*]})" ;; esac
done
SCENARIOS=()
for s in "${ALL_SCENARIOS[@]}"; do
    if [ $# -eq 0 ]; then SCENARIOS+=("$s"); continue; fi
    for a in "$@"; do [ "$a" = "$s" ] && { SCENARIOS+=("$s"); break; }; done
done
want() { case " ${SCENARIOS[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

D="${DURATION:-5}"
REPS="${REPS:-3}"
SD="${SYSCALL_DURATION:-3}"
SREPS="${SYSCALL_REPS:-$REPS}"
VW="${VOLLEY_WORKERS:-1}"
C="${CONNS:-50}"
RSS_D="${RSS_DURATION:-5}"
RSS_REPS="${RSS_REPS:-3}"
RSS_W="${RSS_WORKERS:-2}"
RSS_MS="${RSS_INTERVAL_MS:-50}"
SCALE_D="${SCALE_DURATION:-5}"
SCALE_REPS="${SCALE_REPS:-3}"
SCALE_N="${SCALE_CONNS:-10000}"
SCALE_W="${SCALE_WORKERS:-1}"
SCALE_SETTLE="${SCALE_SETTLE:-3}"
CLOSE_D="${CLOSE_DURATION:-5}"
CLOSE_REPS="${CLOSE_REPS:-5}"
RATE_REPS="${RATE_REPS:-3}"
RATE_SECONDS="${RATE_SECONDS:-5}"
PEERS_ROUNDS="${PEERS_ROUNDS:-5}"
PEERS_SECONDS="${PEERS_SECONDS:-5}"
ST_RUNS="${STARTUP_RUNS:-10}"
ST_W="${STARTUP_WORKERS:-8}"
ST_ARR="${STARTUP_ARRIVALS:-1}"
ST_WRK_RUNS="${STARTUP_WRK_RUNS:-5}"
SCPU="${SERVER_CPU:-0}"
CCPU="${CLIENT_CPU:-1}"
SETTLE="${SETTLE:-2}"
WAIT_IDLE="${WAIT_IDLE:-30}"
IDLE_PCT="${IDLE_PCT:-15}"
IDLE_BUDGET="${IDLE_BUDGET:-120}"
WARMUP="${WARMUP:-1}"
PERF="${PERF:-auto}"
VOLLEY="${VOLLEY:-$repo/target/release/volley}"
OUT="${OUT:-/tmp/volley-bench/$(date +%Y%m%d-%H%M%S)}"

HOST=127.0.0.1                 # fixed on purpose: never point this at another address
PORT=8080
URL="http://$HOST:$PORT/small"
LOGGED_URL="http://$HOST:$PORT/small-logged"   # same body; nginx logs each arrival's $msec
ARRIVALS=/tmp/volley-nginx/logs/arrivals.log
STATUS_PATH=/nginx_status      # stub_status in bench/nginx/nginx.conf

for v in D REPS SD SREPS VW C RSS_D RSS_REPS RSS_W RSS_MS SCALE_D SCALE_REPS SCALE_N SCALE_W SCALE_SETTLE \
         CLOSE_D CLOSE_REPS PEERS_ROUNDS PEERS_SECONDS ST_RUNS ST_W ST_ARR ST_WRK_RUNS SCPU CCPU SETTLE WAIT_IDLE \
         IDLE_PCT IDLE_BUDGET WARMUP; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
for v in D REPS SD RSS_D RSS_REPS RSS_W RSS_MS SCALE_D SCALE_REPS SCALE_N SCALE_W CLOSE_D CLOSE_REPS PEERS_ROUNDS PEERS_SECONDS \
         ST_RUNS ST_W VW C; do
    [ "${!v}" -ge 1 ] || die "$v must be >= 1"
done
for t in wrk taskset timeout python3 awk sort; do
    command -v "$t" >/dev/null || die "missing $t (see bench/README.md)"
done
want keepalive && { command -v strace >/dev/null || die "missing strace (see bench/README.md)"; }
[ -x /usr/bin/time ] || die "missing /usr/bin/time (apt-get install time)"
[ -x "$here/nginx-start.sh" ] || die "no $here/nginx-start.sh"
[ -r "$here/rss_sample.py" ] && [ -r "$here/startup.py" ] && [ -r "$here/summary.py" ] ||
    die "missing bench/rss_sample.py, bench/startup.py or bench/summary.py"
want peers && { [ -r "$here/peers.py" ] || die "missing bench/peers.py"; }

if [ "${BUILD:-0}" = 1 ] || [ ! -x "$VOLLEY" ]; then
    [ "$VOLLEY" = "$repo/target/release/volley" ] || die "VOLLEY=$VOLLEY is not executable"
    echo "building volley (cargo build --release)"
    (cd "$repo" && cargo build --release) || die "cargo build --release failed"
fi
[ -x "$VOLLEY" ] || die "no volley binary at $VOLLEY"

PERF_OK=0
PERF_EVENTS=raw_syscalls:sys_enter
if want keepalive && [ "$PERF" != 0 ] && command -v perf >/dev/null &&
   perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true >/dev/null 2>&1; then
    PERF_OK=1
    # PERF_BREAKDOWN=1: plus the syscalls these clients make per request, for a top-5 breakdown (when all
    # exist here). Off by default: ~30 extra tracepoints slow the client a little, and fewer events
    # per epoll_wait at a lower rate change the very count the target is about.
    ev="$PERF_EVENTS$(for c in read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait \
        epoll_ctl poll ppoll select connect socket close shutdown setsockopt getsockopt fcntl ioctl futex \
        mmap munmap brk sched_yield nanosleep clock_nanosleep; do printf ',syscalls:sys_enter_%s' "$c"; done)"
    [ "${PERF_BREAKDOWN:-0}" = 1 ] && perf stat -e "$ev" -x, -o /dev/null -- true >/dev/null 2>&1 && PERF_EVENTS=$ev
fi

mkdir -p "$OUT/raw"
RES="$OUT/results.tsv"
SYS="$OUT/syscalls.tsv"
STT="$OUT/startup.tsv"
IDLE_USED_F="$OUT/.idle_waited"
echo 0 > "$IDLE_USED_F"
printf 'scenario\ttool\trep\trequests\trps\terrors\tuser_s\tsys_s\tcpu_us_per_req\twall_s\tmaxrss_kb\tpeak_rss_kb\tpeak_hwm_kb\tpeak_pss_kb\tprocs\tnginx_requests\tsrv_busy_pct\tcli_busy_pct\tpre_busy_pct\tload1\ttool_cpu_s\tconns_opened\ttw_before\tcount_from\trc\terror_detail\tnofile\n' > "$RES"
printf 'tool\trep\tmethod\trequests\tsyscalls\tsyscalls_per_req\tcount_from\trc\ttop_syscalls\n' > "$SYS"
printf 'label\trun\twall_ms\tstartup_ms\tfirst_arrival_ms\treplies\terrors\trc\n' > "$STT"

# ---------------------------------------------------------------- server
started_server=0
cleanup() {
    if [ "$started_server" = 1 ]; then "$here/nginx-stop.sh" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -s /tmp/volley-nginx/nginx.pid ] && kill -0 "$(cat /tmp/volley-nginx/nginx.pid)" 2>/dev/null; then
    echo "using the running nginx (master $(cat /tmp/volley-nginx/nginx.pid))"
else
    SERVER_CPU="$SCPU" "$here/nginx-start.sh" || die "nginx did not start"
    started_server=1
fi
NGX_MASTER="$(cat /tmp/volley-nginx/nginx.pid)"
NGX_WORKER="$(pgrep -P "$NGX_MASTER" | head -1 || true)"

# nginx's own request counter (stub_status "requests"); each status request counts itself once
nginx_requests() {
    { timeout 5 bash -c '
        exec 3<>/dev/tcp/'"$HOST"'/'"$PORT"' || exit 1
        printf "GET '"$STATUS_PATH"' HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3
        cat <&3' 2>/dev/null || true; } | awk '/^server accepts handled requests/ { getline; print $3; f=1 } END { if (!f) print "NA" }'
}
[ "$(nginx_requests)" != NA ] || die "nginx on $HOST:$PORT does not answer $STATUS_PATH"

# sockets in TIME_WAIT (all of them, from /proc/net/sockstat)
tw_count() { awk '$1=="TCP:" { for (i=2;i<NF;i++) if ($i=="tw") print $(i+1) }' /proc/net/sockstat 2>/dev/null || echo NA; }

# busy and total jiffies of the server and client CPUs
cpu_snap() {
    awk -v a="cpu$SCPU" -v b="cpu$CCPU" '$1==a||$1==b { t=0; for (i=2;i<=NF;i++) t+=$i; idle=$5+$6; printf "%d %d ", t-idle, t } END { print "" }' /proc/stat
}
busy_pct() {  # "snap0" "snap1" index(1=server,2=client)
    awk -v s0="$1" -v s1="$2" -v k="$3" 'BEGIN { split(s0,a," "); split(s1,b," ");
        i = 2*k-1; dt = b[i+1]-a[i+1]; printf "%.1f", (dt > 0 ? 100*(b[i]-a[i])/dt : 0) }'
}
# both CPUs over 1 s; wait (up to WAIT_IDLE s, and IDLE_BUDGET s over the whole script) until the
# busier one is below IDLE_PCT. The budget is kept in a file: scale runs in a subshell.
PRE_BUSY=NA
wait_idle() {
    local s0 s1 b waited=0 used
    while :; do
        s0=$(cpu_snap); sleep 1; s1=$(cpu_snap)
        b=$(awk -v x="$(busy_pct "$s0" "$s1" 1)" -v y="$(busy_pct "$s0" "$s1" 2)" 'BEGIN { printf "%.1f", (x > y ? x : y) }')
        PRE_BUSY=$b
        [ "$IDLE_PCT" = 0 ] && return 0
        awk -v b="$b" -v t="$IDLE_PCT" 'BEGIN { exit !(b < t) }' && return 0
        waited=$((waited + 1))
        used=$(( $(cat "$IDLE_USED_F" 2>/dev/null || echo 0) + 1 )); echo "$used" > "$IDLE_USED_F"
        if [ "$waited" -ge "$WAIT_IDLE" ] || [ "$used" -ge "$IDLE_BUDGET" ]; then
            echo "  (machine still busy: ${b}% on CPU $SCPU/$CCPU before the run; load $(cut -d' ' -f1-3 /proc/loadavg); idle wait used ${used}/${IDLE_BUDGET} s)" >&2
            return 0
        fi
    done
}

# mkcmd SCENARIO TOOL SECONDS: sets CMD to the client's command line
mkcmd() {
    local s=$1 t=$2 secs=$3
    case "$s:$t" in
        keepalive:volley) CMD=("$VOLLEY" "$URL" -w "$VW" -c "$C" -d "${secs}s" -q --json) ;;
        keepalive:wrk)    CMD=(wrk -t 1 -c "$C" -d "${secs}s" "$URL") ;;
        rss:volley)       CMD=("$VOLLEY" "$URL" -w "$RSS_W" -c "$C" -d "${secs}s" -q --json) ;;
        rss:wrk)          CMD=(wrk -t 1 -c "$C" -d "${secs}s" "$URL") ;;
        rss:wrk-t2)       CMD=(wrk -t 2 -c "$C" -d "${secs}s" "$URL") ;;
        scale:volley)     CMD=("$VOLLEY" "$URL" -w "$SCALE_W" -c "$SCALE_N" -d "${secs}s" -q --json) ;;
        scale:wrk)        CMD=(wrk -t 1 -c "$SCALE_N" -d "${secs}s" --timeout 10s "$URL") ;;
        close:volley)     CMD=("$VOLLEY" "$URL" -w "$VW" -c "$C" -d "${secs}s" -H "Connection: close" -q --json) ;;
        close:wrk)        CMD=(wrk -t 1 -c "$C" -d "${secs}s" -H "Connection: close" "$URL") ;;
        *)                die "unknown scenario/tool $s:$t" ;;
    esac
}

# parsers print: requests rps errors tool_cpu_s conns_opened error_detail   ("NA" / "-" where unknown)
parse_wrk() {
    awk '/ requests in /   { req=$1 }
         /^Requests\/sec:/ { rps=$2 }
         /Socket errors:/  { gsub(/,/,""); err += $4 + $6 + $8 + $10
                             if ($4) d = d "connect:" $4 ","; if ($6) d = d "read:" $6 ","
                             if ($8) d = d "write:" $8 ","; if ($10) d = d "timeout:" $10 "," }
         /Non-2xx or 3xx/  { err += $NF; d = d "non2xx:" $NF "," }
         END { sub(/,$/, "", d); printf "%s %s %d NA NA %s\n", (req=="" ? "NA" : req), (rps=="" ? "NA" : rps), err, (d=="" ? "-" : d) }' "$1"
}
# volley: the JSON report; else the httperf-style text ("Total: connections N requests N replies N
# test-duration X s", "Errors: total N"); else an interim one-line form "started N replies N errors N ... dur X"
parse_volley() {
    python3 - "$1" <<'PY'
import json, re, sys
txt = open(sys.argv[1], errors="replace").read()
def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d: return None
        d = d[p]
    return d if isinstance(d, (int, float)) and not isinstance(d, bool) else None
req = rps = err = cpu = dur = opened = None
detail = []
try:
    j = json.loads(txt)
    rps = get(j, "throughput", "requests_per_s")
    req = get(j, "replies", "total")
    err = get(j, "errors", "total")
    opened = get(j, "connections", "opened")
    u, s = get(j, "cpu_s", "user"), get(j, "cpu_s", "system")
    cpu = u + s if u is not None and s is not None else None
    for path in (("duration_s",), ("test_duration_s",), ("duration", "test_s"), ("duration", "seconds"), ("duration",)):
        dur = get(j, *path)
        if dur is not None: break
    errs = j.get("errors") if isinstance(j, dict) else None
    if isinstance(errs, dict):
        detail = ["%s:%s" % (k, v) for k, v in errs.items() if k != "total" and isinstance(v, (int, float)) and v]
    r = j.get("replies") if isinstance(j, dict) else None
    if isinstance(r, dict):
        detail += ["%s:%s" % (k, v) for k, v in r.items() if k[:1] in "345" and k.endswith("xx") and isinstance(v, (int, float)) and v]
except ValueError:
    m = re.search(r"^Total: connections (\d+) requests (\d+) replies (\d+) test-duration ([\d.]+) s", txt, re.M)
    if m:
        opened, req, dur = int(m.group(1)), int(m.group(3)), float(m.group(4))
        e = re.search(r"^Errors: total (\d+)", txt, re.M)
        err = int(e.group(1)) if e else None
    else:
        m = re.search(r"\breplies (\d+) errors (\d+)\b.*?\bdur ([\d.]+)", txt)
        if m: req, err, dur = int(m.group(1)), int(m.group(2)), float(m.group(3))
if rps is None and req is not None and dur:
    rps = req / dur
if req is None and rps is not None and dur:
    req = round(rps * dur)
f = lambda v, fmt: "NA" if v is None else fmt % v
print(f(req, "%d"), f(rps, "%.1f"), f(err, "%d"), f(cpu, "%.3f"), f(opened, "%d"), ",".join(detail) or "-")
PY
}
parse_tool() {  # TOOL FILE
    case "$1" in volley) parse_volley "$2" ;; *) parse_wrk "$2" ;; esac
}

# run_case SCENARIO TOOL REP SECONDS [rss]  - one measured run, client pinned to CLIENT_CPU;
# with "rss" the run goes under bench/rss_sample.py (peak RSS of the client's process tree)
run_case() {
    local scen=$1 tool=$2 rep=$3 secs=$4 sample=${5:-} base="$OUT/raw/$1.$2.$3" rc=0
    local tmo=$(( secs * 3 + 30 ))           # hard stop for any one client run
    mkcmd "$scen" "$tool" "$secs"
    printf '%q ' "${CMD[@]}" > "$base.cmd"; echo >> "$base.cmd"
    wait_idle
    local n0 n1 s0 s1 load tw
    load=$(cut -d' ' -f1 /proc/loadavg); tw=$(tw_count)
    n0=$(nginx_requests); s0=$(cpu_snap)
    local run=(taskset -c "$CCPU" /usr/bin/time -f '%U %S %e %M' -o "$base.time" timeout -s INT -k 10 "$tmo" "${CMD[@]}")
    if [ "$sample" = rss ]; then
        python3 "$here/rss_sample.py" --interval-ms "$RSS_MS" --out "$base.rss" -- "${run[@]}" \
            > "$base.out" 2> "$base.err" || rc=$?
    else
        "${run[@]}" > "$base.out" 2> "$base.err" || rc=$?
    fi
    s1=$(cpu_snap); n1=$(nginx_requests)
    local parsed; parsed=$(parse_tool "$tool" "$base.out" 2>>"$base.err" || echo "NA NA NA NA NA -")
    # /usr/bin/time writes "Command exited with non-zero status N" first when rc != 0: take the last line
    local times; times=$(tail -n 1 "$base.time" 2>/dev/null || true); [ -n "$times" ] || times="0 0 0 0"
    local rss="NA NA NA NA"
    if [ -s "$base.rss" ]; then
        rss=$(awk '{ for (i=1;i<=NF;i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
                   END { print v["peak_rss_kb"], v["peak_hwm_kb"], v["peak_pss_kb"], v["max_procs"] }' "$base.rss")
    fi
    awk -v scen="$scen" -v tool="$tool" -v rep="$rep" -v p="$parsed" -v t="$times" -v n0="$n0" -v n1="$n1" -v D="$secs" \
        -v c0="$(busy_pct "$s0" "$s1" 1)" -v c1="$(busy_pct "$s0" "$s1" 2)" -v pre="$PRE_BUSY" -v rss="$rss" \
        -v load="$load" -v rc="$rc" -v tw="$tw" -v nofile="$(ulimit -n)" 'BEGIN {
            split(p, a, " "); split(t, b, " "); split(rss, r, " ")
            req = a[1]; rps = a[2]; err = a[3]; tcpu = a[4]; opened = a[5]; detail = a[6]
            srv = (n0 ~ /^[0-9]+$/ && n1 ~ /^[0-9]+$/) ? n1 - n0 - 1 : "NA"
            from = "tool"
            if (req == "NA" && rps != "NA") { req = int(rps * D + 0.5); from = "rps*dur" }
            if (req == "NA" && srv != "NA") { req = srv; from = "nginx" }
            if (rps == "NA" && req != "NA") rps = req / D
            cpu = b[1] + b[2]
            us = (req != "NA" && req > 0) ? sprintf("%.3f", cpu * 1e6 / req) : "NA"
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%.2f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
                scen, tool, rep, req, (rps == "NA" ? "NA" : sprintf("%.1f", rps)), err, b[1], b[2], us, b[3], b[4],
                r[1], r[2], r[3], r[4], srv, c0, c1, pre, load, tcpu, opened, tw, from, rc, detail, nofile
        }' >> "$RES"
    tail -n 1 "$RES" | awk -F'\t' '{
        printf "  %-9s %-7s rep %s: %10s req/s %9s requests  cpu %.2f+%.2f s  %s us/req  errors %s%s  nginx saw %s  busy %s/%s %%",
            $1, $2, $3, $5, $4, $7, $8, $9, $6, ($26 != "-" ? " (" $26 ")" : ""), $16, $17, $18
        if ($12 != "NA") printf "  peak RSS %.1f MiB (%s procs)", $12 / 1024, $15
        if ($22 != "NA") printf "  conns %s", $22
        printf "  rc %s\n", $25 }'
    sleep "$SETTLE"
}

# sys_case METHOD TOOL REP  - syscall count of one short keep-alive run (strace -f -c, or perf stat)
sys_case() {
    local method=$1 tool=$2 rep=$3 base="$OUT/raw/sys.$1.$2.$3" rc=0 n0 n1
    local stmo=$(( SD * 10 + 30 ))    # hard stop for a run under strace/perf
    mkcmd keepalive "$tool" "$SD"
    wait_idle
    n0=$(nginx_requests)
    if [ "$method" = strace ]; then
        echo "strace -f -c -o $base.count ${CMD[*]}" > "$base.cmd"
        taskset -c "$CCPU" timeout -s INT -k 10 "$stmo" strace -f -c -o "$base.count" "${CMD[@]}" \
            > "$base.out" 2> "$base.err" || rc=$?
    else
        echo "perf stat -e $PERF_EVENTS -x, -o $base.count -- ${CMD[*]}" > "$base.cmd"
        taskset -c "$CCPU" timeout -s INT -k 10 "$stmo" perf stat -e "$PERF_EVENTS" -x, -o "$base.count" -- "${CMD[@]}" \
            > "$base.out" 2> "$base.err" || rc=$?
    fi
    n1=$(nginx_requests)
    local parsed calls top=""
    parsed=$(parse_tool "$tool" "$base.out" 2>>"$base.err" || echo "NA NA NA NA NA -")
    if [ "$method" = strace ]; then
        # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall; last row "total"
        calls=$(awk '$NF=="total" { print $4 }' "$base.count" 2>/dev/null || true)
        top=$(awk '/^------/ { f++; next } f==1 { print $4, $NF }' "$base.count" 2>/dev/null |
              sort -rn | head -5 | awk '{ printf "%s%s:%s", (NR>1?",":""), $2, $1 }' || true)
    else
        calls=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$base.count" 2>/dev/null || true)
        top=$(awk -F, '$3 ~ /^syscalls:sys_enter_/ && $1+0 > 0 { n=$3; sub(/^syscalls:sys_enter_/,"",n); print $1, n }' "$base.count" 2>/dev/null |
              sort -rn | head -5 | awk '{ printf "%s%s:%s", (NR>1?",":""), $2, $1 }' || true)
    fi
    awk -v tool="$tool" -v rep="$rep" -v m="$method" -v p="$parsed" -v calls="${calls:-NA}" -v n0="$n0" -v n1="$n1" \
        -v D="$SD" -v rc="$rc" -v top="$top" 'BEGIN {
            split(p, a, " "); req = a[1]; from = "tool"
            srv = (n0 ~ /^[0-9]+$/ && n1 ~ /^[0-9]+$/) ? n1 - n0 - 1 : "NA"
            if (req == "NA" && a[2] != "NA") { req = int(a[2] * D + 0.5); from = "rps*dur" }
            if (req == "NA" && srv != "NA") { req = srv; from = "nginx" }
            if (calls !~ /^[0-9]+$/) calls = "NA"
            per = (req != "NA" && req > 0 && calls != "NA") ? sprintf("%.3f", calls / req) : "NA"
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", tool, rep, m, req, calls, per, from, rc, top
        }' >> "$SYS"
    tail -n 1 "$SYS" | awk -F'\t' '{ printf "  %-7s rep %s %-6s: %8s requests  %9s syscalls  %s/req  rc %s  top %s\n", $1, $2, $3, $4, $5, $6, $8, $9 }'
    sleep 1
}

# ---------------------------------------------------------------- environment
{
    echo "date: $(date -u +%FT%TZ)  scenarios: ${SCENARIOS[*]}"
    echo "kernel: $(uname -r)  cpus: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)  open files: soft $(ulimit -n) hard $(ulimit -Hn)"
    echo "url: $URL  conns: $C  keepalive: ${D}s x $REPS reps, syscall runs ${SD}s x $SREPS reps  rss: ${RSS_D}s x $RSS_REPS (every ${RSS_MS} ms)"
    echo "scale: $SCALE_N conns, ${SCALE_D}s x $SCALE_REPS  close: ${CLOSE_D}s x $CLOSE_REPS  startup: $ST_RUNS runs, -w $ST_W -c $ST_W -n $ST_W  peers: $PEERS_ROUNDS rounds x ${PEERS_SECONDS}s"
    echo "server: nginx master $NGX_MASTER worker ${NGX_WORKER:-?} affinity $( [ -n "$NGX_WORKER" ] && taskset -pc "$NGX_WORKER" | awk '{print $NF}')  client cpu: $CCPU"
    echo "volley: $VOLLEY ($("$VOLLEY" --version 2>/dev/null | head -1), built $(date -u -r "$VOLLEY" +%FT%TZ), sha256 $(sha256sum "$VOLLEY" | cut -c1-12))"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "perf raw_syscalls:sys_enter usable: $PERF_OK  TIME_WAIT sockets now: $(tw_count)"
} | tee "$OUT/env.txt"
{
    echo "scenarios=${SCENARIOS[*]}"
    echo "perf_ok=$PERF_OK"
    echo "conns=$C"; echo "volley_workers=$VW"; echo "duration=$D"; echo "reps=$REPS"; echo "syscall_duration=$SD"
    echo "rss_workers=$RSS_W"; echo "rss_duration=$RSS_D"; echo "rss_interval_ms=$RSS_MS"
    echo "scale_conns=$SCALE_N"; echo "scale_workers=$SCALE_W"; echo "scale_duration=$SCALE_D"
    echo "close_duration=$CLOSE_D"; echo "startup_workers=$ST_W"; echo "startup_runs=$ST_RUNS"
    echo "peers_rounds=$PEERS_ROUNDS"; echo "peers_seconds=$PEERS_SECONDS"
    echo "server_cpu=$SCPU"; echo "client_cpu=$CCPU"
} > "$OUT/settings.env"

# rotate ARRAY by REP: rep 1 keeps the order, rep 2 starts with the second tool, ...
order_for() {  # REP TOOL... -> ORDER
    local rep=$1; shift
    local n=$# i; ORDER=()
    local tools=("$@")
    for ((i = 0; i < n; i++)); do ORDER+=("${tools[$(( (i + rep - 1) % n ))]}"); done
}

# ---------------------------------------------------------------- scenarios
scen_keepalive() {
    if [ "$WARMUP" -gt 0 ]; then
        echo "== warm-up: ${WARMUP}s each (not counted)"
        for tool in volley wrk; do
            mkcmd keepalive "$tool" "$WARMUP"
            taskset -c "$CCPU" timeout -s INT -k 5 $(( WARMUP * 3 + 20 )) "${CMD[@]}" > "$OUT/raw/warmup.$tool.out" 2>&1 || true
            sleep 1
        done
    fi
    echo "== keepalive: throughput and CPU, $C keep-alive connections, ${D}s per run, client on CPU $CCPU"
    for rep in $(seq "$REPS"); do
        order_for "$rep" volley wrk
        for tool in "${ORDER[@]}"; do run_case keepalive "$tool" "$rep" "$D"; done
    done
    local methods=(strace)
    [ "$PERF_OK" = 1 ] && methods+=(perf)
    echo "== keepalive: syscalls per request, ${SD}s runs (${methods[*]})"
    [ "$PERF_OK" = 1 ] || echo "  perf stat -e raw_syscalls:sys_enter does not work here: perf column skipped"
    for rep in $(seq "$SREPS"); do
        order_for "$rep" volley wrk
        for m in "${methods[@]}"; do
            for tool in "${ORDER[@]}"; do sys_case "$m" "$tool" "$rep"; done
        done
    done
}

scen_rss() {
    echo "== rss: peak RSS of the client process tree (sum of VmRSS every ${RSS_MS} ms), $C keep-alive connections, ${RSS_D}s per run"
    for rep in $(seq "$RSS_REPS"); do
        order_for "$rep" volley wrk wrk-t2
        for tool in "${ORDER[@]}"; do run_case rss "$tool" "$rep" "$RSS_D" rss; done
    done
}

scen_scale() {
    # the 10,000 connections need ~10k fds in the client: take the hard limit, in this subshell only
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    local nofile; nofile=$(ulimit -n)
    echo "== scale: $SCALE_N keep-alive connections, ${SCALE_D}s per run (open-file limit $nofile, hard $(ulimit -Hn))"
    [ "$nofile" = unlimited ] || [ "$nofile" -ge $(( SCALE_N + 100 )) ] ||
        echo "  warning: open-file limit $nofile is below $SCALE_N connections + 100: expect fd errors"
    for rep in $(seq "$SCALE_REPS"); do
        order_for "$rep" volley wrk
        for tool in "${ORDER[@]}"; do run_case scale "$tool" "$rep" "$SCALE_D" rss; sleep "$SCALE_SETTLE"; done
    done
}

scen_startup() {
    local tmo=30
    echo "== startup: $VOLLEY $URL -w $ST_W -c $ST_W -n $ST_W -q --json, $ST_RUNS runs, pinned to CPU $CCPU"
    wait_idle
    python3 "$here/startup.py" --label volley --runs "$ST_RUNS" --cpu "$CCPU" --out "$STT" -- \
        timeout -s INT -k 5 "$tmo" "$VOLLEY" "$URL" -w "$ST_W" -c "$ST_W" -n "$ST_W" -q --json 2>>"$OUT/raw/startup.err"
    # the harness's own cost: python's spawn + timeout + exec of a program that does nothing
    python3 "$here/startup.py" --label baseline-true --runs "$ST_RUNS" --cpu "$CCPU" --out "$STT" -- \
        timeout -s INT -k 5 "$tmo" /bin/true 2>>"$OUT/raw/startup.err"
    if [ "$ST_ARR" = 1 ]; then
        if [ -r "$ARRIVALS" ] && [ -w "$ARRIVALS" ]; then
            echo "   exec -> first request logged by nginx ($LOGGED_URL, \$msec: 1 ms resolution)"
            python3 "$here/startup.py" --label volley-arrival --runs "$ST_RUNS" --cpu "$CCPU" --out "$STT" \
                --arrivals "$ARRIVALS" -- \
                timeout -s INT -k 5 "$tmo" "$VOLLEY" "$LOGGED_URL" -w "$ST_W" -c "$ST_W" -n "$ST_W" -q --json 2>>"$OUT/raw/startup.err"
            python3 "$here/startup.py" --label wrk-arrival --runs "$ST_WRK_RUNS" --cpu "$CCPU" --out "$STT" \
                --arrivals "$ARRIVALS" -- \
                timeout -s INT -k 5 "$tmo" wrk -t "$ST_W" -c "$ST_W" -d 1s "$LOGGED_URL" 2>>"$OUT/raw/startup.err"
        else
            echo "   no writable $ARRIVALS: arrival runs skipped"
        fi
    fi
    sleep "$SETTLE"
}

scen_rate() {
    echo "== rate: open loop at 2000 and 20000 requests/s, volley next to httperf (bench/rate.py, ${RATE_REPS} x ${RATE_SECONDS}s)"
    command -v httperf >/dev/null || { echo "   skipped: httperf is not installed"; return 0; }
    RATE_TSV="$OUT/rate.tsv" VOLLEY="$VOLLEY" CLIENT_CPU="$CCPU" \
        python3 "$here/rate.py" "$RATE_REPS" "$RATE_SECONDS" 2000 20000 | tee "$OUT/rate.txt"
    sleep "$SETTLE"
}

scen_peers() {
    # bench/peers.py runs the tools itself (one TSV line per run into peers.tsv, raw output in raw/)
    echo "== peers: volley next to wrk, h2load --h1, ab -k, httperf, oha (when installed), 50 keep-alive connections," \
         "$PEERS_ROUNDS rounds x ${PEERS_SECONDS}s, client on CPU $CCPU (bench/peers.py)"
    wait_idle
    PEERS_TSV="$OUT/peers.tsv" PEERS_RAW="$OUT/raw" VOLLEY="$VOLLEY" CLIENT_CPU="$CCPU" SETTLE="$SETTLE" \
        python3 "$here/peers.py" "$PEERS_ROUNDS" "$PEERS_SECONDS" | tee "$OUT/peers.txt" ||
        echo "   peers.py exited with status $? (see above); its finished runs are in peers.tsv"
    sleep "$SETTLE"
}

scen_close() {
    echo "== close: new connection per request (Connection: close), $C connections, ${CLOSE_D}s per run (TIME_WAIT now: $(tw_count))"
    for rep in $(seq "$CLOSE_REPS"); do
        order_for "$rep" volley wrk
        for tool in "${ORDER[@]}"; do run_case close "$tool" "$rep" "$CLOSE_D"; done
    done
}

t_start=$(date +%s)
for s in "${SCENARIOS[@]}"; do
    case "$s" in
        scale) ( scen_scale ) ;;          # subshell: the raised open-file limit stays in there
        *)     "scen_$s" ;;
    esac
done

# ---------------------------------------------------------------- summary
echo
echo "== summary (GET $URL, server CPU $SCPU, client CPU $CCPU; $(( $(date +%s) - t_start )) s of measuring)"
python3 "$here/summary.py" "$OUT" | tee "$OUT/summary.md"
echo
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)  TIME_WAIT sockets: $(tw_count)  idle wait used: $(cat "$IDLE_USED_F") s"
echo "results in $OUT"
