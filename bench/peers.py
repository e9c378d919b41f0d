#!/usr/bin/env python3
"""volley next to the closed-loop load generators a user would switch from, on loopback.

usage: bench/peers.py [ROUNDS] [SECONDS]     (defaults: 5 rounds, 5 s)

Every tool drives GET http://127.0.0.1:8080/small on the bench nginx (pinned to CPU 0) with
50 kept-alive connections from one thread, pinned to the client CPU (CLIENT_CPU, default 1):

  volley   -w 1 -c 50 -d S                wrk     -t 1 -c 50 -d S
  h2load   --h1 -t 1 -c 50 -D S           ab      -k -c 50 -t S
  oha      -z S -c 50 --no-tui            (each when installed; volley from VOLLEY or
                                           target/release/volley)

httperf is not here: it has no closed loop of N concurrent connections (without --rate it
makes one connection after another); `bench/compare.sh rate` and `bench/rate.py` compare it
in the open loop, its own mode.

Each round runs every tool once, in an order rotated by one per round, so no tool always
follows the same one. Per run: req/s (the tool's own figure) and client CPU µs per request
(user+sys of the tool's process tree from /usr/bin/time, over the requests it completed).

Printed: per tool, medians (min-max) over the rounds; then, per round, volley's ratio to the
best peer of that round (highest req/s; lowest CPU µs/request), and the median of those
per-round ratios. This VM drifts between a fast and a slow regime that moves every tool's
figures by ~25%; the per-round ratios compare runs made in the same minute, which the ratio
of medians over rounds does not.

Install the peers on Debian: `apt-get install wrk nghttp2-client apache2-utils`;
oha: `cargo install oha --locked`.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys

import nginxctl

URL = "http://127.0.0.1:8080/small"
CPU = os.environ.get("CLIENT_CPU", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
VOLLEY = os.environ.get("VOLLEY", os.path.join(HERE, "..", "target", "release", "volley"))


def commands(secs):
    """The tools found here and their command lines."""
    s = str(secs)
    cmds = {
        "volley": [VOLLEY, URL, "-w", "1", "-c", "50", "-d", f"{s}s", "-q", "--json"],
        "wrk": ["wrk", "-t", "1", "-c", "50", "-d", f"{s}s", URL],
        "h2load": ["h2load", "--h1", "-t", "1", "-c", "50", "-D", s, URL],
        "ab": ["ab", "-k", "-c", "50", "-t", s, "-n", "100000000", URL],
        "oha": ["oha", "-z", f"{s}s", "-c", "50", "--no-tui", URL],
    }
    return {k: v for k, v in cmds.items() if shutil.which(v[0]) or os.access(v[0], os.X_OK)}


def figures(tool, out, secs):
    """(requests completed, req/s) from a tool's own output."""
    if tool == "volley":
        r = json.loads(out)
        return r["replies"]["total"], r["throughput"]["requests_per_s"]
    if tool == "wrk":
        n = int(re.search(r"(\d+) requests in", out).group(1))
        return n, float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    if tool == "h2load":
        n = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
        return n, float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    if tool == "ab":
        n = int(re.search(r"Complete requests:\s+(\d+)", out).group(1))
        return n, float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    if tool == "oha":
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return int(rps * secs), rps
    raise ValueError(tool)


def run(tool, cmd, secs):
    """One run: (CPU µs per request, req/s), or None when the tool failed."""
    wrapped = ["/usr/bin/time", "-f", "TIME %U %S", "taskset", "-c", CPU, *cmd]
    try:
        p = subprocess.run(wrapped, capture_output=True, text=True, timeout=secs * 3 + 30)
        times = [l for l in p.stderr.splitlines() if l.startswith("TIME ")]
        user, system = map(float, times[-1].split()[1:])
        n, rps = figures(tool, p.stdout, secs)
    except (OSError, ValueError, IndexError, AttributeError, subprocess.TimeoutExpired) as e:
        print(f"{tool}: run failed ({e})", file=sys.stderr)
        return None
    return (user + system) * 1e6 / max(n, 1), rps


def fmt(xs, prec):
    if not xs:
        return "-"
    return f"{statistics.median(xs):.{prec}f} ({min(xs):.{prec}f}-{max(xs):.{prec}f})"


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    if shutil.which("taskset") is None or not os.access("/usr/bin/time", os.X_OK):
        sys.exit("peers.py needs taskset (util-linux) and /usr/bin/time (Debian package time)")
    cmds = commands(secs)
    if "volley" not in cmds:
        sys.exit(f"no volley at {VOLLEY}: cargo build --release, or set VOLLEY")
    missing = sorted({"wrk", "h2load", "ab", "oha"} - set(cmds))
    if missing:
        print(f"not installed, left out: {', '.join(missing)}", file=sys.stderr)
    nginxctl.ensure()  # stopped at exit if started here
    names = list(cmds)
    per_round = []
    for r in range(rounds):
        k = r % len(names)
        order = names[k:] + names[:k]
        per_round.append({t: run(t, cmds[t], secs) for t in order})
    print(f"\n{rounds} rounds x {secs} s, client on CPU {CPU}, 50 connections, keep-alive\n")
    print("| tool | req/s | CPU µs/request |")
    print("|---|---|---|")
    for t in names:
        ok = [x[t] for x in per_round if x.get(t)]
        print(f"| {t} | {fmt([o[1] for o in ok], 0)} | {fmt([o[0] for o in ok], 2)} |")
    rps_ratios, cpu_ratios = [], []
    for x in per_round:
        peers = {t: v for t, v in x.items() if t != "volley" and v}
        if not x.get("volley") or not peers:
            continue
        rps_ratios.append(x["volley"][1] / max(v[1] for v in peers.values()))
        cpu_ratios.append(x["volley"][0] / min(v[0] for v in peers.values()))
    if rps_ratios:
        print("\n| volley / best peer of the same round | per round | median |")
        print("|---|---|---|")
        print(f"| req/s (higher is better) | {' '.join(f'{v:.3f}' for v in rps_ratios)} "
              f"| {statistics.median(rps_ratios):.3f} |")
        print(f"| CPU µs/request (lower is better) | {' '.join(f'{v:.3f}' for v in cpu_ratios)} "
              f"| {statistics.median(cpu_ratios):.3f} |")


if __name__ == "__main__":
    main()
