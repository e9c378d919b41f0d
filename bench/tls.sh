#!/usr/bin/env bash
# tls.sh - volley next to wrk and h2load over HTTPS on loopback: nginx with TLS on
# 127.0.0.1:8443 pinned to CPU 0 (bench/nginx-tls.sh), clients pinned to CPU 1, GET /small.
# Loopback only: the target is fixed below.
#
# usage: bench/tls.sh            (installs nothing: needs nginx, openssl, wrk, time; h2load
#                                 from nghttp2-client is used when present)
# Scenarios, tools alternating run by run (A B C A B C ...):
#   keepalive  CONNS keep-alive connections: req/s and client CPU us/request
#              volley -w 1, wrk -t 1, h2load --h1 -t 1
#   close      a new TLS connection per request ("Connection: close"), CONNS connections:
#              req/s, client CPU us/request, and volley's full/resumed handshake counts
#              volley (resumption on), volley --no-tls-resume, wrk -t 1
# Prints one table per scenario with the medians and volley's ratio to wrk.
#
# environment (defaults): DURATION=5 REPS=3 CONNS=50 SERVER_CPU=0 CLIENT_CPU=1 SETTLE=1
#   VOLLEY=<repo>/target/release/volley (built when missing)  OUT=/tmp/volley-bench-tls/<time>
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
DURATION="${DURATION:-5}"
REPS="${REPS:-3}"
CONNS="${CONNS:-50}"
CCPU="${CLIENT_CPU:-1}"
SETTLE="${SETTLE:-1}"
OUT="${OUT:-/tmp/volley-bench-tls/$(date +%Y%m%d-%H%M%S)}"
VOLLEY="${VOLLEY:-$repo/target/release/volley}"
URL="https://localhost:8443/small"
CA=/tmp/volley-nginx-tls/ca.pem

die() { echo "tls.sh: $*" >&2; exit 1; }
for t in wrk taskset timeout python3; do command -v "$t" >/dev/null || die "missing $t"; done
[ -x /usr/bin/time ] || die "missing /usr/bin/time (apt-get install time)"
H2LOAD="$(command -v h2load || true)"
if [ ! -x "$VOLLEY" ]; then (cd "$repo" && cargo build --release -q); fi
mkdir -p "$OUT"
SERVER_CPU="${SERVER_CPU:-0}" "$here/nginx-tls.sh" >/dev/null
trap '"$here/nginx-tls.sh" stop' EXIT
grep -q '^127.0.0.1[[:space:]].*localhost' /etc/hosts || die "localhost must map to 127.0.0.1 in /etc/hosts"

# run NAME CMD... : one measured run; appends "name reqs cpu_s wall_s" to $OUT/runs.tsv
run() {
    local name="$1"; shift
    local base="$OUT/$name.$RANDOM"
    taskset -c "$CCPU" /usr/bin/time -f '%U %S %e' -o "$base.time" \
        timeout -s INT -k 10 $((DURATION + 20)) "$@" >"$base.out" 2>"$base.err" || true
    local reqs
    case "$name" in
        volley*) reqs="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["replies"]["total"])' "$base.out")" ;;
        wrk*) reqs="$(awk '/requests in/ {print $1}' "$base.out")" ;;
        h2load*) reqs="$(awk '/^requests:/ {print $8}' "$base.out")" ;;
    esac
    read -r u s e < <(tail -1 "$base.time")
    echo -e "$name\t${reqs:-0}\t$(python3 -c "print($u+$s)")\t$e\t$base" >>"$OUT/runs.tsv"
    sleep "$SETTLE"
}

VCMD=("$VOLLEY" "$URL" -w 1 -c "$CONNS" -d "${DURATION}s" --cacert "$CA" --json -q)

echo "results in $OUT"
for _ in $(seq "$REPS"); do
    run volley-keepalive "${VCMD[@]}"
    run wrk-keepalive wrk -t 1 -c "$CONNS" -d "${DURATION}s" "$URL"
    if [ -n "$H2LOAD" ]; then
        run h2load-keepalive "$H2LOAD" --h1 -t 1 -c "$CONNS" -D "$DURATION" "$URL"
    fi
done
for _ in $(seq "$REPS"); do
    run volley-close "${VCMD[@]}" -H "Connection: close"
    run volley-close-noresume "${VCMD[@]}" -H "Connection: close" --no-tls-resume
    run wrk-close wrk -t 1 -c "$CONNS" -d "${DURATION}s" -H "Connection: close" "$URL"
done

python3 - "$OUT/runs.tsv" <<'EOF'
import json, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
by = {}
for name, reqs, cpu, wall, base in rows:
    reqs, cpu, wall = int(reqs or 0), float(cpu), float(wall)
    if reqs == 0:
        continue
    by.setdefault(name, []).append((reqs / wall, cpu * 1e6 / reqs, base))
def med(name, i):
    v = [r[i] for r in by.get(name, [])]
    return statistics.median(v) if v else float("nan")
for scen, tools in (("keepalive", ["volley", "wrk", "h2load"]),
                    ("close", ["volley", "volley-noresume", "wrk"])):
    print(f"\n{scen}: medians of {max(len(v) for v in by.values())} runs")
    print(f"{'tool':<18}{'req/s':>10}{'CPU us/req':>12}{'vs wrk':>8}")
    ref = med(f"wrk-{scen}", 1)
    for t in tools:
        name = f"{t.split('-')[0]}-{scen}" + ("-noresume" if t.endswith("noresume") else "")
        if name not in by:
            continue
        cpu = med(name, 1)
        print(f"{t:<18}{med(name, 0):>10.0f}{cpu:>12.2f}{cpu / ref:>8.2f}")
    if scen == "close":
        for name in ("volley-close", "volley-close-noresume"):
            if name in by:
                t = json.load(open(by[name][-1][2] + ".out"))["tls"]
                print(f"  {name}: handshakes full {t['handshakes_full']} resumed {t['handshakes_resumed']}")
EOF
