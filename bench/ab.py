#!/usr/bin/env python3
"""A/B of two volley binaries against the bench nginx on loopback: is B as cheap as A?

usage: bench/ab.py A_BIN B_BIN [REPS] [SECONDS]     (defaults: 5 reps, 5 s)
       AB_SCENARIOS=keepalive,close bench/ab.py ...  (only these scenarios)

For each scenario the two binaries run alternately (A B, then B A, ...), pinned to the
client CPU (CLIENT_CPU, default 1) while nginx runs on CPU 0, against
GET http://127.0.0.1:8080/small:

  keepalive  -w 1 -c 50                       (closed loop, kept-alive connections)
  close      -w 1 -c 50 -H 'Connection: close' (a new connection per request)
  rate       -w 1 -c 50 --rate 2000           (open loop, kept-alive)

Figures per run, from volley's --json: client CPU µs per reply (the workers' user+system
time over replies.total) and req/s. Then one short run per binary and scenario under
`perf stat -e raw_syscalls:sys_enter` gives syscalls per reply (skipped when perf cannot
count here). Printed: medians (min-max) for A and B, the ratio of medians B/A, and the
median of the per-rep ratios (paired B/A: each rep's A and B ran back to back).

nginx is started with bench/nginx-start.sh when nothing answers on 127.0.0.1:8080 (and
stopped at the end if it was started here). Every run has a timeout, so the script always
ends.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

import nginxctl

URL = "http://127.0.0.1:8080/small"
SCENARIOS = {
    "keepalive": ["-w", "1", "-c", "50"],
    "close": ["-w", "1", "-c", "50", "-H", "Connection: close"],
    "rate": ["-w", "1", "-c", "50", "--rate", "2000"],
}
CPU = os.environ.get("CLIENT_CPU", "1")


def run(binary, args, secs):
    """One run: (cpu µs per reply, req/s) from volley's JSON report."""
    cmd = ["taskset", "-c", CPU, binary, URL, *args, "-d", f"{secs}s", "-q", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs * 3 + 30)
    r = json.loads(out.stdout)
    replies = r["replies"]["total"]
    cpu = r["cpu_s"]["user"] + r["cpu_s"]["system"]
    return cpu * 1e6 / max(replies, 1), r["throughput"]["requests_per_s"]


def syscalls(binary, args, secs):
    """Syscalls per reply of the whole volley process tree under perf, or None."""
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as f:
        cmd = ["perf", "stat", "-x,", "-o", f.name, "-e", "raw_syscalls:sys_enter",
               "taskset", "-c", CPU, binary, URL, *args, "-d", f"{secs}s", "-q", "--json"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs * 3 + 30)
            replies = json.loads(out.stdout)["replies"]["total"]
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
        for line in f.read().splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[2] == "raw_syscalls:sys_enter" and parts[0].isdigit():
                return int(parts[0]) / max(replies, 1)
    return None


def fmt(xs, prec=2):
    if not xs:
        return "-"
    return f"{statistics.median(xs):.{prec}f} ({min(xs):.{prec}f}-{max(xs):.{prec}f})"


def ratio(a, b):
    if not a or not b:
        return "-"
    return f"{statistics.median(b) / statistics.median(a):.3f}"


def paired(a, b):
    """Median of the per-rep ratios B/A: each rep runs A and B back to back, so a ratio
    compares runs in the same state of the machine (this VM drifts between a fast and a
    slow regime, which makes the ratio of medians jump with how many runs each drew)."""
    if not a or not b:
        return "-"
    return f"{statistics.median([y / x for x, y in zip(a, b) if x > 0]):.3f}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    a_bin, b_bin = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    secs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    nginxctl.ensure()
    print(f"A: {a_bin}\nB: {b_bin}\n{reps} reps x {secs} s, client on CPU {CPU}\n")
    print("| scenario | figure | A | B | B/A | paired B/A |")
    print("|---|---|---|---|---|---|")
    only = os.environ.get("AB_SCENARIOS")
    for name, args in SCENARIOS.items():
        if only and name not in only.split(","):
            continue
        cpu = {"A": [], "B": []}
        rps = {"A": [], "B": []}
        for rep in range(reps):
            order = [("A", a_bin), ("B", b_bin)]
            if rep % 2:
                order.reverse()
            for label, binary in order:
                c, r = run(binary, args, secs)
                cpu[label].append(c)
                rps[label].append(r)
        sys_a = [x for x in [syscalls(a_bin, args, 3)] if x is not None]
        sys_b = [x for x in [syscalls(b_bin, args, 3)] if x is not None]
        print(f"| {name} | CPU µs/reply | {fmt(cpu['A'])} | {fmt(cpu['B'])} "
              f"| {ratio(cpu['A'], cpu['B'])} | {paired(cpu['A'], cpu['B'])} |")
        print(f"| {name} | req/s | {fmt(rps['A'], 0)} | {fmt(rps['B'], 0)} "
              f"| {ratio(rps['A'], rps['B'])} | {paired(rps['A'], rps['B'])} |")
        print(f"| {name} | syscalls/reply (perf) | {fmt(sys_a, 3)} | {fmt(sys_b, 3)} "
              f"| {ratio(sys_a, sys_b)} | - |", flush=True)


if __name__ == "__main__":
    main()
