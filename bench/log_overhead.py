#!/usr/bin/env python3
"""log_overhead.py - does writing the per-request log (--log) change what volley does?

Against the private benchmark nginx (127.0.0.1:8080, bench/nginx-start.sh, pinned to CPU 0;
started when nothing answers there and stopped at the end if it was started here), volley pinned to CPU 1, runs alternate without a log,
with a CSV log and with a JSONL log (A B C A B C ...), in two workloads:

  flat     50 keep-alive connections, one worker, GET /small as fast as it goes: req/s and
           client CPU us per request (user+sys of volley's whole process tree) - the log's
           cost per record
  paced    a run file of 50 slots, one worker, predelay 20ms +- 10ms before every request:
           req/s, and the mean gap between a slot's consecutive requests (from the run's own
           log, or from the requests count when there is no log) - the schedule the log must
           not move by more than noise

Prints medians per mode and the ratios to "no log". Installs nothing; needs nginx.
usage: bench/log_overhead.py [REPS] [SECONDS]   (default 3 runs of 5 s per mode and workload)
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

import nginxctl

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VOLLEY = os.environ.get("VOLLEY", os.path.join(REPO, "target", "release", "volley"))
URL = "http://127.0.0.1:8080/small"
CPU = os.environ.get("CLIENT_CPU", "1")
REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SECS = int(sys.argv[2]) if len(sys.argv) > 2 else 5

PACED = """
workers = 1
ramp_up = {{ max = 50 }}
[[request]]
url = "{url}"
predelay = "20ms"
prejitter = "10ms"
"""


def run(cmd):
    """Runs cmd pinned to the client CPU; returns (report json, cpu seconds of the tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["taskset", "-c", CPU] + cmd, capture_output=True, text=True, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {out.returncode}: {out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(out.stdout), cpu


def mean_gap_ms(log_path, fmt):
    """Mean gap between consecutive starts of the same slot, from a log."""
    starts = {}
    with open(log_path) as f:
        if fmt == "csv":
            header = f.readline().rstrip("\n").split(",")
            si, ti = header.index("slot"), header.index("start_ms")
            for line in f:
                cols = line.rstrip("\n").split(",")
                starts.setdefault(cols[si], []).append(float(cols[ti]))
        else:
            for line in f:
                r = json.loads(line)
                starts.setdefault(r["slot"], []).append(r["start_ms"])
    gaps = []
    for s in starts.values():
        s.sort()
        gaps += [b - a for a, b in zip(s, s[1:])]
    return statistics.mean(gaps) if gaps else float("nan")


def main():
    if not os.path.exists(VOLLEY):
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=REPO, check=True)
    nginxctl.ensure()
    tmp = tempfile.mkdtemp(prefix="volley-logbench-")
    paced = os.path.join(tmp, "paced.toml")
    with open(paced, "w") as f:
        f.write(PACED.format(url=URL))
    modes = ["none", "csv", "jsonl"]
    res = {(w, m): [] for w in ("flat", "paced") for m in modes}
    for rep in range(REPS):
        for w in ("flat", "paced"):
            order = modes if rep % 2 == 0 else list(reversed(modes))
            for m in order:
                log = os.path.join(tmp, f"{w}-{m}.log")
                if w == "flat":
                    cmd = [VOLLEY, URL, "-w", "1", "-c", "50", "-d", f"{SECS}s", "-q", "--json"]
                else:
                    cmd = [VOLLEY, "run", paced, "-d", f"{SECS}s", "-q", "--json"]
                if m != "none":
                    cmd += ["--log", log, "--log-format", m]
                r, cpu = run(cmd)
                replies = r["replies"]["total"]
                if r["errors"]["total"]:
                    sys.exit(f"errors in {w}/{m}: {r['errors']}")
                if m != "none" and r["log"]["records"] != r["requests"]["started"]:
                    sys.exit(f"log records {r['log']} != started {r['requests']['started']}")
                if w == "paced" and m != "none":
                    gap = mean_gap_ms(log, m)
                else:
                    # Without a log: slots x duration / requests each slot made.
                    gap = 50 * r["duration_s"] * 1000 / max(r["requests"]["started"], 1)
                res[(w, m)].append(
                    {
                        "rps": r["throughput"]["requests_per_s"],
                        "cpu_us": cpu * 1e6 / max(replies, 1),
                        "gap_ms": gap,
                    }
                )
                if os.path.exists(log):
                    os.remove(log)
    med = lambda w, m, k: statistics.median(x[k] for x in res[(w, m)])
    print(f"volley per-request log overhead: {REPS} alternating runs of {SECS} s, medians")
    print(f"{'workload':8} {'log':6} {'req/s':>10} {'CPU us/req':>11} {'gap ms':>8}   ratios to no log")
    for w in ("flat", "paced"):
        for m in modes:
            rps, cpu, gap = med(w, m, "rps"), med(w, m, "cpu_us"), med(w, m, "gap_ms")
            ratio = ""
            if m != "none":
                ratio = "req/s %.3f  CPU/req %.3f  gap %.3f" % (
                    rps / med(w, "none", "rps"),
                    cpu / med(w, "none", "cpu_us"),
                    gap / med(w, "none", "gap_ms"),
                )
            print(f"{w:8} {m:6} {rps:10.1f} {cpu:11.2f} {gap:8.2f}   {ratio}")
    os.rmdir(tmp) if not os.listdir(tmp) else None


if __name__ == "__main__":
    main()
