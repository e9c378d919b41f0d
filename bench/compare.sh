#!/usr/bin/env bash
# compare.sh - volley next to wrk on loopback: requests/s, client CPU per request, syscalls per
# request. Closed loop, 50 keep-alive connections, GET http://127.0.0.1:8080/small against the
# shared private nginx (/work/shared/bench, server pinned to CPU 0), client pinned to CPU 1.
# Loopback only: the target address is fixed below and is not configurable.
#
# usage: bench/compare.sh
# environment (defaults):
#   DURATION=10          seconds of each measured run
#   REPS=3               measured runs per tool (the order of the tools alternates each rep)
#   SYSCALL_DURATION=3   seconds of each syscall-count run (strace, and perf when it works)
#   SYSCALL_REPS=$REPS   syscall-count runs per tool and method
#   VOLLEY_WORKERS=1     volley -w (one client CPU, so one worker)
#   CONNS=50             connections (volley -c, wrk -c)
#   VOLLEY=<repo>/target/release/volley   (built with cargo build --release if missing; BUILD=1 always builds)
#   OUT=/tmp/volley-bench/<timestamp>     raw outputs, results.tsv, syscalls.tsv, summary.md
#   SERVER_CPU=0 CLIENT_CPU=1  NGINX_BENCH=/work/shared/bench (nginx-start.sh / nginx-stop.sh)
#   PERF=auto|0          perf stat -e raw_syscalls:sys_enter at full speed (auto: if it works here)
#   SETTLE=2             seconds of pause between runs
#   WAIT_IDLE=30         before each run wait up to this many seconds for both CPUs to be < IDLE_PCT busy
#   IDLE_PCT=15          (measured over 1 s from /proc/stat; 0 disables the wait)
#   WARMUP=1             seconds of an unmeasured warm-up run of each tool (0: none)
#
# Measured per run, from outside the tool where possible:
#   req/s        the tool's own figure (wrk "Requests/sec:", volley JSON throughput.requests_per_s)
#   CPU us/req   (user+sys of the client's whole process tree, /usr/bin/time, reaped children
#                included) * 1e6 / the tool's own completed-request count (wrk "N requests in",
#                volley replies.total); falls back to req/s x duration, then nginx's count
#   syscalls/req strace -f -c total / requests on a separate short run (strace slows the client
#                several-fold, so this is a count per request at a lower rate, not at full speed);
#                perf stat raw_syscalls:sys_enter / requests on a full-speed short run
#   checks       errors, nginx's own request count (stub_status), CPU0/CPU1 busy %, exit codes
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

D="${DURATION:-10}"
REPS="${REPS:-3}"
SD="${SYSCALL_DURATION:-3}"
SREPS="${SYSCALL_REPS:-$REPS}"
VW="${VOLLEY_WORKERS:-1}"
C="${CONNS:-50}"
SCPU="${SERVER_CPU:-0}"
CCPU="${CLIENT_CPU:-1}"
SETTLE="${SETTLE:-2}"
WAIT_IDLE="${WAIT_IDLE:-30}"
IDLE_PCT="${IDLE_PCT:-15}"
WARMUP="${WARMUP:-1}"
PERF="${PERF:-auto}"
NGINX_BENCH="${NGINX_BENCH:-/work/shared/bench}"
VOLLEY="${VOLLEY:-$repo/target/release/volley}"
OUT="${OUT:-/tmp/volley-bench/$(date +%Y%m%d-%H%M%S)}"

HOST=127.0.0.1                 # fixed on purpose: never point this at another address
PORT=8080
URL="http://$HOST:$PORT/small"
STATUS_PATH=/nginx_status      # stub_status in the shared nginx.conf

die() { echo "compare.sh: $*" >&2; exit 1; }
for v in D REPS SD SREPS VW C SCPU CCPU SETTLE WAIT_IDLE IDLE_PCT WARMUP; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
[ "$D" -ge 1 ] && [ "$REPS" -ge 1 ] && [ "$SD" -ge 1 ] || die "DURATION, REPS and SYSCALL_DURATION must be >= 1"
for t in wrk strace taskset timeout python3 awk sort; do
    command -v "$t" >/dev/null || die "missing $t (see bench/README.md)"
done
[ -x /usr/bin/time ] || die "missing /usr/bin/time (apt-get install time)"
[ -x "$NGINX_BENCH/nginx-start.sh" ] || die "no $NGINX_BENCH/nginx-start.sh"

if [ "${BUILD:-0}" = 1 ] || [ ! -x "$VOLLEY" ]; then
    [ "$VOLLEY" = "$repo/target/release/volley" ] || die "VOLLEY=$VOLLEY is not executable"
    echo "building volley (cargo build --release)"
    (cd "$repo" && cargo build --release) || die "cargo build --release failed"
fi
[ -x "$VOLLEY" ] || die "no volley binary at $VOLLEY"

PERF_OK=0
if [ "$PERF" != 0 ] && command -v perf >/dev/null &&
   perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true >/dev/null 2>&1; then
    PERF_OK=1
fi

mkdir -p "$OUT/raw"
RES="$OUT/results.tsv"
SYS="$OUT/syscalls.tsv"
printf 'tool\trep\trequests\trps\terrors\tuser_s\tsys_s\tcpu_us_per_req\twall_s\tmaxrss_kb\tnginx_requests\tcpu%s_busy_pct\tcpu%s_busy_pct\tpre_busy_pct\tload1\ttool_cpu_s\tcount_from\trc\n' "$SCPU" "$CCPU" > "$RES"
printf 'tool\trep\tmethod\trequests\tsyscalls\tsyscalls_per_req\tcount_from\trc\ttop_syscalls\n' > "$SYS"

# ---------------------------------------------------------------- server
started_server=0
cleanup() {
    if [ "$started_server" = 1 ]; then "$NGINX_BENCH/nginx-stop.sh" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -s /tmp/volley-nginx/nginx.pid ] && kill -0 "$(cat /tmp/volley-nginx/nginx.pid)" 2>/dev/null; then
    echo "using the running nginx (master $(cat /tmp/volley-nginx/nginx.pid))"
else
    SERVER_CPU="$SCPU" "$NGINX_BENCH/nginx-start.sh" || die "nginx did not start"
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

# busy and total jiffies of the server and client CPUs
cpu_snap() {
    awk -v a="cpu$SCPU" -v b="cpu$CCPU" '$1==a||$1==b { t=0; for (i=2;i<=NF;i++) t+=$i; idle=$5+$6; printf "%d %d ", t-idle, t } END { print "" }' /proc/stat
}
busy_pct() {  # "snap0" "snap1" index(1=server,2=client)
    awk -v s0="$1" -v s1="$2" -v k="$3" 'BEGIN { split(s0,a," "); split(s1,b," ");
        i = 2*k-1; dt = b[i+1]-a[i+1]; printf "%.1f", (dt > 0 ? 100*(b[i]-a[i])/dt : 0) }'
}
# both CPUs over 1 s; wait (up to WAIT_IDLE s) until the busier one is below IDLE_PCT
PRE_BUSY=NA
wait_idle() {
    local s0 s1 b waited=0
    while :; do
        s0=$(cpu_snap); sleep 1; s1=$(cpu_snap)
        b=$(awk -v x="$(busy_pct "$s0" "$s1" 1)" -v y="$(busy_pct "$s0" "$s1" 2)" 'BEGIN { printf "%.1f", (x > y ? x : y) }')
        PRE_BUSY=$b
        [ "$IDLE_PCT" = 0 ] && return 0
        awk -v b="$b" -v t="$IDLE_PCT" 'BEGIN { exit !(b < t) }' && return 0
        waited=$((waited + 1))
        if [ "$waited" -ge "$WAIT_IDLE" ]; then
            echo "  (machine still busy: ${b}% on CPU $SCPU/$CCPU before the run; load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
            return 0
        fi
    done
}

TMO=$(( D * 3 + 30 ))          # hard stop for any one measured client run
STMO=$(( SD * 10 + 30 ))       # hard stop for a run under strace/perf

# mkcmd TOOL SECONDS: sets CMD to the client's command line
mkcmd() {
    case "$1" in
        volley) CMD=("$VOLLEY" "$URL" -w "$VW" -c "$C" -d "${2}s" -q --json) ;;
        wrk)    CMD=(wrk -t 1 -c "$C" -d "${2}s" "$URL") ;;
        *)      die "unknown tool $1" ;;
    esac
}

# parsers print: requests rps errors tool_cpu_s   ("NA" where the output does not say)
parse_wrk() {
    awk '/ requests in /   { req=$1 }
         /^Requests\/sec:/ { rps=$2 }
         /Socket errors:/  { gsub(/,/,""); err += $4 + $6 + $8 + $10 }
         /Non-2xx or 3xx/  { err += $NF }
         END { printf "%s %s %d NA\n", (req=="" ? "NA" : req), (rps=="" ? "NA" : rps), err }' "$1"
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
req = rps = err = cpu = dur = None
try:
    j = json.loads(txt)
    rps = get(j, "throughput", "requests_per_s")
    req = get(j, "replies", "total")
    err = get(j, "errors", "total")
    u, s = get(j, "cpu_s", "user"), get(j, "cpu_s", "system")
    cpu = u + s if u is not None and s is not None else None
    for path in (("duration_s",), ("test_duration_s",), ("duration", "test_s"), ("duration", "seconds"), ("duration",)):
        dur = get(j, *path)
        if dur is not None: break
except ValueError:
    m = re.search(r"^Total: connections (\d+) requests (\d+) replies (\d+) test-duration ([\d.]+) s", txt, re.M)
    if m:
        req, dur = int(m.group(3)), float(m.group(4))
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
print(f(req, "%d"), f(rps, "%.1f"), f(err, "%d"), f(cpu, "%.3f"))
PY
}

# run_case TOOL REP  - one measured run at full speed, client pinned to CLIENT_CPU
run_case() {
    local tool=$1 rep=$2 base="$OUT/raw/run.$1.$2" rc=0
    mkcmd "$tool" "$D"
    echo "${CMD[*]}" > "$base.cmd"
    wait_idle
    local n0 n1 s0 s1 load
    load=$(cut -d' ' -f1 /proc/loadavg)
    n0=$(nginx_requests); s0=$(cpu_snap)
    taskset -c "$CCPU" /usr/bin/time -f '%U %S %e %M' -o "$base.time" \
        timeout -s INT -k 10 "$TMO" "${CMD[@]}" > "$base.out" 2> "$base.err" || rc=$?
    s1=$(cpu_snap); n1=$(nginx_requests)
    local parsed; parsed=$("parse_$tool" "$base.out" 2>>"$base.err" || echo "NA NA NA NA")
    # /usr/bin/time writes "Command exited with non-zero status N" first when rc != 0: take the last line
    local times; times=$(tail -n 1 "$base.time" 2>/dev/null || true); [ -n "$times" ] || times="0 0 0 0"
    awk -v tool="$tool" -v rep="$rep" -v p="$parsed" -v t="$times" -v n0="$n0" -v n1="$n1" -v D="$D" \
        -v c0="$(busy_pct "$s0" "$s1" 1)" -v c1="$(busy_pct "$s0" "$s1" 2)" -v pre="$PRE_BUSY" \
        -v load="$load" -v rc="$rc" 'BEGIN {
            split(p, a, " "); split(t, b, " ")
            req = a[1]; rps = a[2]; err = a[3]; tcpu = a[4]
            srv = (n0 ~ /^[0-9]+$/ && n1 ~ /^[0-9]+$/) ? n1 - n0 - 1 : "NA"
            from = "tool"
            if (req == "NA" && rps != "NA") { req = int(rps * D + 0.5); from = "rps*dur" }
            if (req == "NA" && srv != "NA") { req = srv; from = "nginx" }
            if (rps == "NA" && req != "NA") rps = req / D
            cpu = b[1] + b[2]
            us = (req != "NA" && req > 0) ? sprintf("%.3f", cpu * 1e6 / req) : "NA"
            printf "%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%.2f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n",
                tool, rep, req, (rps == "NA" ? "NA" : sprintf("%.1f", rps)), err, b[1], b[2], us, b[3], b[4],
                srv, c0, c1, pre, load, tcpu, from, rc
        }' >> "$RES"
    tail -n 1 "$RES" | awk -F'\t' '{ printf "  %-7s rep %s: %10s req/s  %8s requests  cpu %.2f+%.2f s  %s us/req  errors %s  nginx saw %s  cpu%s/cpu%s busy %s/%s %%  rc %s\n",
        $1, $2, $4, $3, $6, $7, $8, $5, $11, S, K, $12, $13, $18 }' S="$SCPU" K="$CCPU"
    sleep "$SETTLE"
}

# sys_case METHOD TOOL REP  - syscall count of one short run (strace -f -c, or perf stat)
sys_case() {
    local method=$1 tool=$2 rep=$3 base="$OUT/raw/sys.$1.$2.$3" rc=0 n0 n1
    mkcmd "$tool" "$SD"
    wait_idle
    n0=$(nginx_requests)
    if [ "$method" = strace ]; then
        echo "strace -f -c -o $base.count ${CMD[*]}" > "$base.cmd"
        taskset -c "$CCPU" timeout -s INT -k 10 "$STMO" strace -f -c -o "$base.count" "${CMD[@]}" \
            > "$base.out" 2> "$base.err" || rc=$?
    else
        echo "perf stat -e raw_syscalls:sys_enter -x, -o $base.count -- ${CMD[*]}" > "$base.cmd"
        taskset -c "$CCPU" timeout -s INT -k 10 "$STMO" perf stat -e raw_syscalls:sys_enter -x, -o "$base.count" -- "${CMD[@]}" \
            > "$base.out" 2> "$base.err" || rc=$?
    fi
    n1=$(nginx_requests)
    local parsed calls top=""
    parsed=$("parse_$tool" "$base.out" 2>>"$base.err" || echo "NA NA NA NA")
    if [ "$method" = strace ]; then
        # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall; last row "total"
        calls=$(awk '$NF=="total" { print $4 }' "$base.count" 2>/dev/null || true)
        top=$(awk '/^------/ { f++; next } f==1 { print $4, $NF }' "$base.count" 2>/dev/null |
              sort -rn | head -5 | awk '{ printf "%s%s:%s", (NR>1?",":""), $2, $1 }' || true)
    else
        calls=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$base.count" 2>/dev/null || true)
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
    echo "date: $(date -u +%FT%TZ)"
    echo "kernel: $(uname -r)  cpus: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "url: $URL  conns: $C  duration: ${D}s x $REPS reps  syscall runs: ${SD}s x $SREPS reps"
    echo "server: nginx master $NGX_MASTER worker ${NGX_WORKER:-?} affinity $( [ -n "$NGX_WORKER" ] && taskset -pc "$NGX_WORKER" | awk '{print $NF}')  client cpu: $CCPU"
    echo "volley: $VOLLEY ($("$VOLLEY" --version 2>/dev/null | head -1), built $(date -u -r "$VOLLEY" +%FT%TZ), sha256 $(sha256sum "$VOLLEY" | cut -c1-12))  -w $VW"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "perf raw_syscalls:sys_enter usable: $PERF_OK"
} | tee "$OUT/env.txt"

if [ "$WARMUP" -gt 0 ]; then
    echo "== warm-up: ${WARMUP}s each (not counted)"
    for tool in volley wrk; do
        mkcmd "$tool" "$WARMUP"
        taskset -c "$CCPU" timeout -s INT -k 5 $(( WARMUP * 3 + 20 )) "${CMD[@]}" > "$OUT/raw/warmup.$tool.out" 2>&1 || true
        sleep 1
    done
fi

echo "== throughput and CPU: $C keep-alive connections, ${D}s per run, client on CPU $CCPU"
for rep in $(seq "$REPS"); do
    if [ $((rep % 2)) = 1 ]; then order=(volley wrk); else order=(wrk volley); fi
    for tool in "${order[@]}"; do run_case "$tool" "$rep"; done
done

methods=(strace)
[ "$PERF_OK" = 1 ] && methods+=(perf)
echo "== syscalls per request: ${SD}s runs (${methods[*]})"
[ "$PERF_OK" = 1 ] || echo "  perf stat -e raw_syscalls:sys_enter does not work here: perf column skipped"
for rep in $(seq "$SREPS"); do
    if [ $((rep % 2)) = 1 ]; then order=(volley wrk); else order=(wrk volley); fi
    for m in "${methods[@]}"; do
        for tool in "${order[@]}"; do sys_case "$m" "$tool" "$rep"; done
    done
done

# ---------------------------------------------------------------- summary
summarize() {
    awk -F'\t' -v perf="$PERF_OK" -v D="$D" -v SD="$SD" -v VW="$VW" -v C="$C" '
    function stats(s,   a, n, i, j, t) {   # sets MED, LO, HI, N over the numbers in s (NA skipped)
        n = 0
        split(s, raw, " ")
        for (i in raw) if (raw[i] != "NA" && raw[i] != "") a[++n] = raw[i] + 0
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
        N = n
        if (n == 0) { MED = "NA"; LO = HI = "NA"; return }
        MED = (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2; LO = a[1]; HI = a[n]
    }
    function cell(s, d) { stats(s); if (N == 0) return "n/a"; if (N == 1) return sprintf("%." d "f", MED);
        return sprintf("%." d "f (%." d "f-%." d "f)", MED, LO, HI) }
    function med(s) { stats(s); return MED }
    function ratio(a, b) { return (a == "NA" || b == "NA" || b == 0) ? "n/a" : sprintf("%.2f", a / b) }
    FNR == 1 { file++; next }
    file == 1 { rps[$1] = rps[$1] " " $4; us[$1] = us[$1] " " $8; err[$1] = err[$1] " " $5
                srv[$1] = srv[$1] " " $11; c0[$1] = c0[$1] " " $12; c1[$1] = c1[$1] " " $13
                pre[$1] = pre[$1] " " $14; tcpu[$1] = tcpu[$1] " " $16
                if ($17 != "tool") from[$1] = from[$1] " " $17; if ($18 != 0) rcs[$1] = rcs[$1] " " $18
                req[$1] = req[$1] " " $3; cpu[$1] = cpu[$1] " " ($6 + $7); rr[$1, ++nr[$1]] = $3 " " $2 }
    file == 2 { k = $1 SUBSEP $3; sc[k] = sc[k] " " $6; if ($7 != "tool") sfrom[$1] = sfrom[$1] " " $3 ":" $7
                if ($8 != 0) srcs[$1] = srcs[$1] " " $3 ":" $8
                sreq[k] = sreq[k] " " $4; sr[k, ++ns[k]] = $4 " " $2 }
    END {
        printf "| tool | req/s median (min-max) | CPU us/req median (min-max) | syscalls/req, strace (slowed) | syscalls/req, perf (full speed) |\n"
        printf "|---|---|---|---|---|\n"
        n = split("volley wrk", tools, " ")
        for (i = 1; i <= n; i++) {
            t = tools[i]
            printf "| %s | %s | %s | %s | %s |\n", (t == "volley" ? "volley -w " VW : "wrk -t 1"),
                cell(rps[t], 0), cell(us[t], 2), cell(sc[t, "strace"], 2),
                (perf ? cell(sc[t, "perf"], 2) : "skipped (perf unusable)")
        }
        printf "| volley/wrk (ratio of medians) | %s | %s | %s | %s |\n",
            ratio(med(rps["volley"]), med(rps["wrk"])), ratio(med(us["volley"]), med(us["wrk"])),
            ratio(med(sc["volley", "strace"]), med(sc["wrk", "strace"])),
            (perf ? ratio(med(sc["volley", "perf"]), med(sc["wrk", "perf"])) : "n/a")
        printf "\nchecks (medians over the %ss runs):\n\n", D
        printf "| tool | requests | client CPU s | errors | nginx counted | CPU busy %%: server / client | busy %% before run | tool-reported CPU s |\n"
        printf "|---|---|---|---|---|---|---|---|\n"
        for (i = 1; i <= n; i++) {
            t = tools[i]
            printf "| %s | %s | %s | %s | %s | %s / %s | %s | %s |\n", t, cell(req[t], 0), cell(cpu[t], 2),
                cell(err[t], 0), cell(srv[t], 0), cell(c0[t], 0), cell(c1[t], 0), cell(pre[t], 0), cell(tcpu[t], 2)
        }
        for (i = 1; i <= n; i++) {
            t = tools[i]
            if (from[t] != "")  printf "\nnote: %s request count not in its own output, taken from:%s\n", t, from[t]
            if (sfrom[t] != "") printf "\nnote: %s syscall-run request count not in its own output, taken from:%s\n", t, sfrom[t]
            if (rcs[t] != "")   printf "\nnote: %s exited non-zero in measured runs:%s\n", t, rcs[t]
            if (srcs[t] != "")  printf "\nnote: %s exited non-zero in syscall runs:%s\n", t, srcs[t]
            # runs with far fewer requests than the median of their kind: stalls, interference
            m = med(req[t])
            for (j = 1; j <= nr[t]; j++) { split(rr[t, j], x, " ")
                if (m != "NA" && x[1] != "NA" && x[1] < 0.5 * m) printf "\nnote: %s measured rep %s completed only %s requests (median %s)\n", t, x[2], x[1], m }
            for (mi = 1; mi <= 2; mi++) { mm = (mi == 1 ? "strace" : "perf"); k = t SUBSEP mm; m = med(sreq[k])
                for (j = 1; j <= ns[k]; j++) { split(sr[k, j], x, " ")
                    if (m != "NA" && x[1] != "NA" && x[1] < 0.5 * m) printf "\nnote: %s %s rep %s completed only %s requests (median %s)\n", t, mm, x[2], x[1], m } }
        }
        printf "\nreq/s: each tool'"'"'s own figure. CPU us/req: user+sys of the client process tree (/usr/bin/time) / completed requests.\n"
        printf "strace column: strace -f -c on %ss runs; strace slows the client several-fold, so it counts syscalls per request at a lower rate.\n", SD
        if (perf) printf "perf column: perf stat -e raw_syscalls:sys_enter on %ss full-speed runs.\n", SD
    }' "$RES" "$SYS"
}

echo
echo "== summary ($C keep-alive connections, GET $URL, server CPU $SCPU, client CPU $CCPU)"
summarize | tee "$OUT/summary.md"
echo
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $OUT"
