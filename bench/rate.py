#!/usr/bin/env python3
"""rate.py - open-loop rate accuracy, volley next to httperf, against the benchmark nginx.

For each requested rate (default 2000 and 20000 requests/s) and each connection mode:

  close      a new connection per request: httperf --rate R --num-calls 1,
             volley --rate R -H "Connection: close" -c 4096
  keepalive  keep-alive connections: httperf --rate R/10 --num-calls 10 (10 calls back to
             back on each connection: httperf has no per-request schedule on a kept
             connection), volley --rate R -c 200 (each request on its own schedule)

the tools run alternately (A B A B ...), pinned to CPU 1 (nginx on CPU 0), and the script
prints medians of:

  achieved   requests per second as nginx logged them ($msec of every arrival, /small-logged)
  CPU %      user+sys of the client's process tree / wall time (100 = one core)
  us/req     client CPU per request
  sd/10ms    standard deviation of the arrivals per 10 ms bucket (an even stream: small)
  max/10ms   most arrivals in one 10 ms bucket (bursts), and empty 10 ms buckets in %
  max gap    largest gap between consecutive arrivals, ms (nginx's $msec has 1 ms resolution)
  steal      (run by run) the hypervisor's steal time during each run, ms (/proc/stat, 10 ms
             ticks); a volley run is marked VM when the hypervisor stole time or nginx's
             largest hole exceeds volley's own worst schedule lag by 2 ms or more: a stall
             outside volley, which shows in the evenness of whichever tool is running
  send gaps  p1, p50, p99 and max of the gaps between the client's request writes, µs: one more
             run per tool and cell (GAP_SECONDS, default 2) under `perf record` of the
             sendto/writev/write syscall entries on sockets (kernel timestamps; perf pinned
             to the server's CPU). The ideal gap is 1e6/R µs. Skipped without perf.

Installs nothing; needs nginx and httperf. nginx is started with bench/nginx-start.sh when
nothing answers on 127.0.0.1:8080 (and stopped at the end if it was started here). With
RATE_TSV=FILE it also writes the medians there (bench/compare.sh's rate scenario does).
usage: bench/rate.py [REPS] [SECONDS] [RATES...]   (default 3 5 2000 20000)
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import nginxctl

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VOLLEY = os.environ.get("VOLLEY", os.path.join(REPO, "target", "release", "volley"))
HOST, PORT, URI = "127.0.0.1", "8080", "/small-logged"
ARRIVALS = "/tmp/volley-nginx/logs/arrivals.log"
CPU = os.environ.get("CLIENT_CPU", "1")
REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SECS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
RATES = [int(r) for r in sys.argv[3:]] or [2000, 20000]
GAP_SECONDS = int(os.environ.get("GAP_SECONDS", "2"))
PERF_CPU = os.environ.get("PERF_CPU", "0")
GAP_DATA = "/tmp/volley-rate-gaps.data"


def cmd(tool, mode, rate, secs=None):
    n = rate * (secs or SECS)
    url = f"http://{HOST}:{PORT}{URI}"
    if tool == "httperf":
        base = ["httperf", "--server", HOST, "--port", PORT, "--uri", URI, "--timeout", "5"]
        if mode == "close":
            return base + ["--rate", str(rate), "--num-conns", str(n), "--num-calls", "1"]
        return base + ["--rate", str(rate // 10), "--num-conns", str(n // 10), "--num-calls", "10"]
    base = [VOLLEY, url, "--rate", str(rate), "-n", str(n), "-w", "1", "-q", "--timeout", "5s", "--json"]
    if mode == "close":
        return base + ["-c", "4096", "-H", "Connection: close"]
    return base + ["-c", "200"]


def profile(path):
    """Arrival statistics from nginx's $msec log."""
    try:
        with open(path) as f:
            t = sorted(float(x) * 1000 for x in f if x.strip())
    except FileNotFoundError:
        t = []
    if len(t) < 2:
        return None
    span = (t[-1] - t[0]) / 1000
    lo, hi = t[0] + 500, t[-1] - 500
    nb = max(int((hi - lo) // 10), 1)
    buckets = [0] * nb
    for x in t:
        if lo <= x < lo + nb * 10:
            buckets[int((x - lo) // 10)] += 1
    gaps = [b - a for a, b in zip(t, t[1:])]
    return {
        "arrivals": len(t),
        "achieved": (len(t) - 1) / span if span > 0 else 0,
        "sd10": statistics.pstdev(buckets),
        "max10": max(buckets),
        "empty10": 100 * buckets.count(0) / nb,
        "maxgap": max(gaps),
    }


def steal_ms():
    """Time the hypervisor ran something else while this VM's vCPUs wanted to run (the
    steal column of /proc/stat, summed over the CPUs, in USER_HZ ticks of 10 ms)."""
    total = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                p = line.split()
                if p[0].startswith("cpu") and p[0] != "cpu" and len(p) > 8:
                    total += int(p[8])
    except (OSError, ValueError):
        return 0
    return total * 1000 // os.sysconf("SC_CLK_TCK")


def run(tool, mode, rate):
    open(ARRIVALS, "w").close()
    steal0 = steal_ms()
    c = ["taskset", "-c", CPU] + cmd(tool, mode, rate)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run(c, capture_output=True, text=True, timeout=SECS * 6 + 30)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    time.sleep(0.3)  # nginx writes its log lines
    p = profile(ARRIVALS)
    if p is None:
        sys.exit(f"no arrivals logged for {' '.join(c)}: {out.stderr[-500:]}")
    p["steal_ms"] = steal_ms() - steal0
    p["cpu_pct"] = 100 * cpu / wall
    p["us_req"] = cpu * 1e6 / p["arrivals"]
    p["rc"] = out.returncode
    if tool == "volley":
        # How late volley's own starts were against its schedule: a stall of the client
        # shows here, one of the server or the network does not.
        try:
            lag = json.loads(out.stdout)["latency_ms"]["schedule_lag"]
            p["lag_p99"], p["lag_max"] = lag["p99"], lag["max"]
        except (ValueError, KeyError, TypeError):
            pass
    return p


def outside_stall(v):
    """Whether volley's run `v` was hit by a stall outside volley:
    the hypervisor stole time during it, or nginx logged a hole in the arrivals (1 ms
    resolution) at least 2 ms longer than volley's own worst lag behind its schedule."""
    hole = v["maxgap"] - v.get("lag_max", 0.0)
    return v["steal_ms"] > 0 or hole >= 2.0


def quantile(v, q):
    return v[min(len(v) - 1, int(round((len(v) - 1) * q)))]


def send_gaps(tool, mode, rate):
    """p1, p50, p99 and max of the gaps between request writes (µs), from syscall tracepoints."""
    events = ["syscalls:sys_enter_sendto", "syscalls:sys_enter_writev", "syscalls:sys_enter_write"]
    rec = ["taskset", "-c", PERF_CPU, "perf", "record", "-q", "-o", GAP_DATA]
    for e in events:
        rec += ["-e", e]
    c = rec + ["--", "taskset", "-c", CPU] + cmd(tool, mode, rate, GAP_SECONDS)
    try:
        subprocess.run(c, capture_output=True, text=True, timeout=GAP_SECONDS * 6 + 30)
        out = subprocess.run(["perf", "script", "--ns", "-i", GAP_DATA, "-F", "time,trace"],
                             capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    times = []
    for line in out.splitlines():
        # "  15372.784825123: fd: 0x00000003, ..."
        head, _, rest = line.partition(":")
        if "fd: 0x" not in rest:
            continue
        fd = int(rest.split("fd: ")[1].split(",")[0], 16)
        if fd <= 2:
            continue
        times.append(float(head.strip()) * 1e6)
    if len(times) < 3:
        return None
    times.sort()
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    return {"gap_p1": quantile(gaps, 0.01), "gap_p50": quantile(gaps, 0.5),
            "gap_p99": quantile(gaps, 0.99), "gap_max": gaps[-1]}


def main():
    if not os.path.exists(VOLLEY):
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=REPO, check=True)
    nginxctl.ensure()
    tools = ["volley", "httperf"]
    res = {}
    gaps = {}
    for rate in RATES:
        for mode in ("close", "keepalive"):
            for rep in range(REPS):
                order = tools if rep % 2 == 0 else tools[::-1]
                for tool in order:
                    res.setdefault((rate, mode, tool), []).append(run(tool, mode, rate))
                    time.sleep(1)
            if GAP_SECONDS > 0:
                for tool in tools:
                    gaps[(rate, mode, tool)] = send_gaps(tool, mode, rate)
                    time.sleep(1)
    print(f"open-loop rate accuracy: {REPS} alternating runs of {SECS} s, medians; "
          "arrivals as nginx logged them")
    head = f"{'rate':>6} {'mode':9} {'tool':8} {'achieved':>9} {'CPU %':>6} {'us/req':>7} " \
           f"{'sd/10ms':>8} {'max/10ms':>8} {'empty%':>6} {'max gap':>8} " \
           f"{'send gap p1/p50/p99/max us':>27}"
    print(head)
    keys = ("achieved", "cpu_pct", "us_req", "sd10", "max10", "empty10", "maxgap")
    gap_keys = ("gap_p1", "gap_p50", "gap_p99", "gap_max")
    tsv = os.environ.get("RATE_TSV")
    rows = []
    for rate in RATES:
        for mode in ("close", "keepalive"):
            for tool in tools:
                rs = res[(rate, mode, tool)]
                m = lambda k: statistics.median(r[k] for r in rs)
                g = gaps.get((rate, mode, tool))
                gtxt = "/".join(f"{g[k]:.0f}" for k in gap_keys) if g else "-"
                print(f"{rate:>6} {mode:9} {tool:8} {m('achieved'):9.1f} {m('cpu_pct'):6.1f} "
                      f"{m('us_req'):7.1f} {m('sd10'):8.2f} {m('max10'):8.0f} {m('empty10'):6.1f} "
                      f"{m('maxgap'):8.1f} {gtxt:>27}")
                rows.append([str(rate), mode, tool] + [f"{m(k):.3f}" for k in keys]
                            + [f"{g[k]:.1f}" if g else "" for k in gap_keys]
                            + [",".join(f"{r['sd10']:.3f}" for r in rs)]
                            + [",".join(f"{r['steal_ms']}" for r in rs)]
                            + [",".join("1" if tool == "volley" and outside_stall(r) else "0"
                                        for r in rs)])
    # Evenness run by run: rep i of volley ran next to rep i of httperf.
    print("sd/10ms run by run (volley / httperf of the same rep; in brackets volley's schedule lag "
          "p99 and max, ms: a stall of the client itself; then what marks a stall of the VM: the "
          "largest hole in nginx's arrivals beyond volley's own lag, and the hypervisor's steal "
          "time during each tool's run, ms):")
    for rate in RATES:
        for mode in ("close", "keepalive"):
            v, h = res[(rate, mode, "volley")], res[(rate, mode, "httperf")]
            lag = lambda a: f" (lag {a['lag_p99']:.3f}/{a['lag_max']:.1f}," if "lag_max" in a else " ("
            vm = lambda a, b: (f" hole {a['maxgap']:.0f}, steal {a['steal_ms']}/{b['steal_ms']})"
                               + (" VM" if outside_stall(a) else ""))
            pairs = "  ".join(f"{a['sd10']:.2f}/{b['sd10']:.2f}{lag(a)}{vm(a, b)}" for a, b in zip(v, h))
            print(f"{rate:>6} {mode:9} {pairs}")
    if tsv:
        # Medians for bench/compare.sh's summary, and each run's sd per 10 ms.
        with open(tsv, "w") as f:
            f.write("\t".join(("rate", "mode", "tool") + keys + gap_keys
                               + ("sd10_runs", "steal_ms_runs", "vm_stall_runs")) + "\n")
            for r in rows:
                f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
