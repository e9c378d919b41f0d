#!/usr/bin/env python3
"""volley next to the closed-loop load generators a user would switch from, on loopback.

usage: bench/peers.py [ROUNDS] [SECONDS]     (defaults: 5 rounds, 5 s)

Every tool drives GET http://127.0.0.1:8080/small on the bench nginx (pinned to CPU 0) with
50 kept-alive connections from one thread, pinned to the client CPU (CLIENT_CPU, default 1):

  volley   -w 1 -c 50 -d S                wrk     -t 1 -c 50 -d S
  h2load   --h1 -t 1 -c 50 -D S           ab      -k -c 50 -t S -n 100000000
  oha      -z S -c 50 --no-tui            httperf --rate 1000 --num-conns 50 --num-calls K --hog
  (each when installed; volley from VOLLEY or target/release/volley; oha also from ~/.cargo/bin)

httperf has no fixed-duration closed loop, but with --num-conns 50 at --rate 1000 it opens its
50 connections within 50 ms and each sends its K calls one after another, the next after the
reply: a closed loop per connection. K is chosen so the run lasts about S seconds at the best
rate the tools before it reached in the same round (K = max(1000, best req/s x S / 50); from
the previous round when httperf runs first; 2000 x S, i.e. 100k req/s, when nothing is known
yet). Its req/s is its "Request rate:" (requests over its test duration, which includes the
50 ms of connection opening), its completed count "Reply status: ... 2xx=N", its errors
"Errors: total N".

Each round runs every tool once, in an order rotated by one per round, so no tool always
follows the same one. Per run: req/s (the tool's own figure), client CPU µs per request
(user+sys of the tool's process tree from /usr/bin/time, over the requests it completed),
errors as the tool reports them, and its exit code. Each run is under `timeout` (3 x S + 30 s).

Printed: per tool, medians (min-max) over the rounds; then, per round, volley's ratio to the
best peer of that round (highest req/s; lowest CPU µs/request) and to wrk's CPU µs/request,
and the median of those per-round ratios. This VM drifts between a fast and a slow regime that
moves every tool's figures by ~25%; the per-round ratios compare runs made in the same minute,
which the ratio of medians over rounds does not.

Environment: CLIENT_CPU (1); VOLLEY; SETTLE (1: seconds of pause between runs); PEERS_TSV=FILE
also writes one line per run there (round, tool, req_s, cpu_us_per_req, requests, errors, rc,
...; bench/compare.sh's peers scenario reads it); PEERS_RAW=DIR keeps each run's command line,
stdout and stderr there (peers.ROUND.TOOL.{cmd,out,err}).

Install the peers on Debian: `apt-get install wrk nghttp2-client apache2-utils httperf`
(h2load is in nghttp2-client, ab in apache2-utils); oha: `cargo install oha --locked`.
"""

import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

import nginxctl

HOST, PORT, URI = "127.0.0.1", "8080", "/small"   # loopback only, on purpose
URL = f"http://{HOST}:{PORT}{URI}"
CPU = os.environ.get("CLIENT_CPU", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
VOLLEY = os.environ.get("VOLLEY", os.path.join(HERE, "..", "target", "release", "volley"))
SETTLE = float(os.environ.get("SETTLE", "1"))
TOOLS = ("volley", "wrk", "h2load", "ab", "httperf", "oha")
CONNS = 50
COLUMNS = ("round", "tool", "req_s", "cpu_us_per_req", "requests", "errors", "rc",
           "user_s", "sys_s", "wall_s", "position", "httperf_calls", "version")


def find(name):
    """The executable of a tool: VOLLEY for volley, else on PATH, else in ~/.cargo/bin."""
    if name == "volley":
        return VOLLEY if os.access(VOLLEY, os.X_OK) else None
    found = shutil.which(name)
    if found:
        return found
    cargo = os.path.join(os.path.expanduser("~"), ".cargo", "bin", name)
    return cargo if os.access(cargo, os.X_OK) else None


def command(tool, exe, secs, calls=None):
    """The command line of one run."""
    s = str(secs)
    if tool == "volley":
        return [exe, URL, "-w", "1", "-c", str(CONNS), "-d", f"{s}s", "-q", "--json"]
    if tool == "wrk":
        return [exe, "-t", "1", "-c", str(CONNS), "-d", f"{s}s", URL]
    if tool == "h2load":
        return [exe, "--h1", "-t", "1", "-c", str(CONNS), "-D", s, URL]
    if tool == "ab":
        return [exe, "-k", "-c", str(CONNS), "-t", s, "-n", "100000000", URL]
    if tool == "oha":
        return [exe, "-z", f"{s}s", "-c", str(CONNS), "--no-tui", URL]
    if tool == "httperf":
        return [exe, "--server", HOST, "--port", PORT, "--uri", URI, "--rate", "1000",
                "--num-conns", str(CONNS), "--num-calls", str(calls), "--timeout", "5", "--hog"]
    raise ValueError(tool)


def version(tool, exe):
    """The tool's version, as its own --version (or equivalent) says it."""
    flag = {"ab": "-V", "wrk": "-v"}.get(tool, "--version")
    try:
        p = subprocess.run([exe, flag], capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    txt = p.stdout + p.stderr
    pat = {"volley": r"volley ([\w.+-]+)", "wrk": r"wrk (\S+)", "h2load": r"nghttp2/([\w.]+)",
           "ab": r"Version ([\d.]+)", "httperf": r"httperf-([\d.]+)", "oha": r"oha ([\w.+-]+)"}[tool]
    m = re.search(pat, txt)
    return m.group(1) if m else "?"


def grab(pat, out, conv=float):
    m = re.search(pat, out, re.M)
    return conv(m.group(1)) if m else None


def figures(tool, out, secs):
    """(requests completed, req/s, errors) from a tool's own output; None where it says nothing."""
    if tool == "volley":
        r = json.loads(out)
        return r["replies"]["total"], r["throughput"]["requests_per_s"], r.get("errors", {}).get("total")
    if tool == "wrk":
        n = grab(r"(\d+) requests in", out, int)
        err = 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            err += sum(map(int, m.groups()))
        err += grab(r"Non-2xx or 3xx responses: (\d+)", out, int) or 0
        return n, grab(r"^Requests/sec:\s+([\d.]+)", out), err
    if tool == "h2load":
        m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", out)
        n = int(m.group(1)) if m else None
        err = sum(map(int, m.groups()[1:])) if m else None
        return n, grab(r"finished in [\d.]+\w+, ([\d.]+) req/s", out), err
    if tool == "ab":
        err = grab(r"^Failed requests:\s+(\d+)", out, int)
        if err is not None:
            err += grab(r"^Non-2xx responses:\s+(\d+)", out, int) or 0
        return (grab(r"^Complete requests:\s+(\d+)", out, int),
                grab(r"^Requests per second:\s+([\d.]+)", out), err)
    if tool == "oha":
        # "Status code distribution:" lines "[200] N responses"; "Error distribution:" lines
        # "[N] reason", of which "aborted due to deadline" are the requests in flight at -z's end
        codes = [(int(c), int(n)) for c, n in re.findall(r"^\s+\[(\d{3})\] (\d+) responses", out, re.M)]
        errs = [(int(n), why) for n, why in re.findall(r"^\s+\[(\d+)\] (.+)$", out, re.M)
                if not why.endswith("responses")]
        n = sum(k for _, k in codes) if codes else None
        err = sum(k for c, k in codes if c >= 400) + sum(k for k, why in errs if "deadline" not in why)
        return n, grab(r"Requests/sec:\s+([\d.]+)", out), err
    if tool == "httperf":
        return (grab(r"^Reply status: 1xx=\d+ 2xx=(\d+)", out, int),
                grab(r"^Request rate: ([\d.]+) req/s", out),
                grab(r"^Errors: total (\d+)", out, int))
    raise ValueError(tool)


def run(tool, cmd, secs, raw=None):
    """One run: a dict of its figures (None where unknown)."""
    tmo = secs * 3 + 30
    wrapped = ["/usr/bin/time", "-f", "TIME %U %S %e", "taskset", "-c", CPU,
               "timeout", "-s", "INT", "-k", "10", str(tmo), *cmd]
    res = dict.fromkeys(("req_s", "cpu_us_per_req", "requests", "errors", "rc", "user_s", "sys_s", "wall_s"))
    out = err = ""
    try:
        p = subprocess.run(wrapped, capture_output=True, text=True, timeout=tmo + 30)
        out, err = p.stdout, p.stderr
        res["rc"] = p.returncode
        times = [l for l in p.stderr.splitlines() if l.startswith("TIME ")]
        res["user_s"], res["sys_s"], res["wall_s"] = map(float, times[-1].split()[1:])
        n, rps, errors = figures(tool, p.stdout, secs)
        res.update(requests=n, req_s=rps, errors=errors)
        if n:
            res["cpu_us_per_req"] = (res["user_s"] + res["sys_s"]) * 1e6 / n
    except (OSError, ValueError, IndexError, KeyError, AttributeError, TypeError,
            subprocess.TimeoutExpired) as e:
        print(f"{tool}: run failed ({type(e).__name__}: {e})", file=sys.stderr)
    if raw:
        with open(f"{raw}.cmd", "w") as f:
            f.write(shlex.join(wrapped) + "\n")
        with open(f"{raw}.out", "w") as f:
            f.write(out)
        with open(f"{raw}.err", "w") as f:
            f.write(err)
    return res


def fmt(xs, prec):
    if not xs:
        return "-"
    return f"{statistics.median(xs):.{prec}f} ({min(xs):.{prec}f}-{max(xs):.{prec}f})"


def cell(v, prec):
    return "NA" if v is None else f"{v:.{prec}f}" if isinstance(v, float) else str(v)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    if rounds < 1 or secs < 1:
        sys.exit("peers.py: ROUNDS and SECONDS must be >= 1")
    if shutil.which("taskset") is None or shutil.which("timeout") is None or not os.access("/usr/bin/time", os.X_OK):
        sys.exit("peers.py needs taskset (util-linux), timeout (coreutils) and /usr/bin/time (Debian package time)")
    exes = {t: find(t) for t in TOOLS}
    if not exes["volley"]:
        sys.exit(f"no volley at {VOLLEY}: cargo build --release, or set VOLLEY")
    missing = [t for t in TOOLS if not exes[t]]
    if missing:
        print(f"not installed, left out: {', '.join(missing)} (see bench/README.md, Packages)", file=sys.stderr)
    names = [t for t in TOOLS if exes[t]]
    versions = {t: version(t, exes[t]) for t in names}
    print("versions: " + ", ".join(f"{t} {versions[t]}" for t in names))
    nginxctl.ensure()  # stopped at exit if started here
    tsv_path, raw_dir = os.environ.get("PEERS_TSV"), os.environ.get("PEERS_RAW")
    tsv = open(tsv_path, "w") if tsv_path else None
    if tsv:
        tsv.write("\t".join(COLUMNS) + "\n")
    per_round, prev_best = [], None
    for r in range(rounds):
        k = r % len(names)
        order = names[k:] + names[:k]
        got = {}
        for pos, t in enumerate(order, 1):
            calls = None
            if t == "httperf":
                known = [v["req_s"] for v in got.values() if v["req_s"]]
                rate = max(known) if known else prev_best
                calls = max(1000, int(rate * secs / CONNS)) if rate else 2000 * secs
            raw = os.path.join(raw_dir, f"peers.{r + 1}.{t}") if raw_dir else None
            got[t] = run(t, command(t, exes[t], secs, calls), secs, raw)
            x = got[t]
            print(f"  round {r + 1} {t:8} {cell(x['req_s'], 0):>8} req/s  {cell(x['cpu_us_per_req'], 2):>6} µs/req  "
                  f"{cell(x['requests'], 0):>8} requests  errors {cell(x['errors'], 0)}  rc {cell(x['rc'], 0)}"
                  + (f"  ({calls} calls per connection)" if calls else ""), flush=True)
            if tsv:
                row = dict(x, round=r + 1, tool=t, position=pos, httperf_calls=calls, version=versions[t])
                tsv.write("\t".join(cell(row[c], 3) for c in COLUMNS) + "\n")
                tsv.flush()
            time.sleep(SETTLE)
        rates = [v["req_s"] for v in got.values() if v["req_s"]]
        prev_best = max(rates) if rates else prev_best
        per_round.append(got)
    if tsv:
        tsv.close()
    print(f"\n{rounds} rounds x {secs} s, client on CPU {CPU}, {CONNS} connections, keep-alive\n")
    print("| tool | version | req/s | CPU µs/request | errors |")
    print("|---|---|---|---|---|")
    ok = lambda x: x and x["req_s"] and x["cpu_us_per_req"]
    for t in names:
        rr = [x[t] for x in per_round if ok(x.get(t))]
        errs = [x[t]["errors"] for x in per_round if x.get(t) and x[t]["errors"] is not None]
        print(f"| {t} | {versions[t]} | {fmt([o['req_s'] for o in rr], 0)} | "
              f"{fmt([o['cpu_us_per_req'] for o in rr], 2)} | {sum(errs) if errs else '-'} |")
    rps_ratios, cpu_ratios, wrk_ratios = [], [], []
    for x in per_round:
        peers = {t: v for t, v in x.items() if t != "volley" and ok(v)}
        if not ok(x.get("volley")) or not peers:
            continue
        v = x["volley"]
        rps_ratios.append(v["req_s"] / max(p["req_s"] for p in peers.values()))
        cpu_ratios.append(v["cpu_us_per_req"] / min(p["cpu_us_per_req"] for p in peers.values()))
        if "wrk" in peers:
            wrk_ratios.append(v["cpu_us_per_req"] / peers["wrk"]["cpu_us_per_req"])
    if rps_ratios:
        print("\n| volley / peer of the same round | per round | median |")
        print("|---|---|---|")
        for label, rs in (("req/s / best peer's (higher is better)", rps_ratios),
                          ("CPU µs/request / lowest peer's (lower is better)", cpu_ratios),
                          ("CPU µs/request / wrk's (lower is better)", wrk_ratios)):
            if rs:
                print(f"| {label} | {' '.join(f'{v:.3f}' for v in rs)} | {statistics.median(rs):.3f} |")


if __name__ == "__main__":
    main()
