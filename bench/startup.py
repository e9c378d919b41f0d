#!/usr/bin/env python3
"""startup.py - how long a client takes from exec to its first request.

usage: startup.py --label NAME --runs N --out TSV [--cpu N] [--pause S] [--arrivals LOG] -- CMD...

Runs CMD N times, one after another (CMD should include its own `timeout ...` wrapper), with
this process and so CMD pinned to --cpu. For each run it appends a line to TSV:

  label run wall_ms startup_ms first_arrival_ms replies errors rc

  wall_ms           time.monotonic() just before the spawn to just after the exit of CMD (the whole
                    command: exec, start-up, the requests, the report, the exit). An upper bound of
                    the time from exec to the first request.
  startup_ms        CMD's JSON report timing.startup_ms, when CMD prints JSON with that key, else NA
  first_arrival_ms  with --arrivals LOG (nginx access log whose lines start with $msec, e.g. the
                    bench nginx's /small-logged): the first arrival logged at or after the spawn,
                    minus time.time() just before the spawn. nginx's $msec has 1 ms resolution and is
                    nginx's cached clock, so this is +-1 ms. NA without --arrivals or when nothing new
                    was logged.
  replies/errors    from the JSON report (replies.total, errors.total) when present, else NA
  rc                CMD's exit status

Prints the median of each column to stdout at the end.
"""
import json
import os
import statistics
import subprocess
import sys
import time


def getnum(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d if isinstance(d, (int, float)) and not isinstance(d, bool) else None


def fmt(v, f="%.3f"):
    return "NA" if v is None else f % v


def main(argv):
    label, runs, out, cpu, pause, arrivals = "cmd", 10, None, None, 0.2, None
    i = 0
    while i < len(argv) and argv[i] != "--":
        a, v = argv[i], (argv[i + 1] if i + 1 < len(argv) else None)
        if a == "--label": label = v
        elif a == "--runs": runs = int(v)
        elif a == "--out": out = v
        elif a == "--cpu": cpu = int(v)
        elif a == "--pause": pause = float(v)
        elif a == "--arrivals": arrivals = v
        else: sys.exit(f"startup.py: unknown option {a}")
        i += 2
    cmd = argv[i + 1:]
    if not cmd or out is None:
        sys.exit(__doc__)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    rows = []
    for run in range(1, runs + 1):
        off = None
        if arrivals:
            try:
                off = os.path.getsize(arrivals)
            except OSError:
                off = None
        t_real = time.time()
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t1 = time.monotonic()
        wall_ms = (t1 - t0) * 1000
        startup_ms = replies = errors = None
        try:
            j = json.loads(p.stdout.decode("utf-8", "replace"))
            startup_ms = getnum(j, "timing", "startup_ms")
            replies = getnum(j, "replies", "total")
            errors = getnum(j, "errors", "total")
        except ValueError:
            pass
        first = None
        if off is not None:
            time.sleep(0.05)   # nginx writes the log line when the request ends
            try:
                with open(arrivals, "rb") as f:
                    f.seek(off)
                    ts = []
                    for line in f.read().split(b"\n"):
                        try:
                            ts.append(float(line.split()[0]))
                        except (ValueError, IndexError):
                            pass
                # 1 ms resolution on both sides: keep arrivals from the spawn's millisecond on
                ts = [t for t in ts if t >= int(t_real * 1000) / 1000]
                if ts:
                    first = max(0.0, (min(ts) - t_real) * 1000)
            except OSError:
                pass
        rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
        if rc != 0 and p.stderr:
            sys.stderr.write(f"{label} run {run}: rc {rc}: {p.stderr.decode('utf-8', 'replace')[:300]}\n")
        rows.append((wall_ms, startup_ms, first))
        with open(out, "a") as f:
            f.write(f"{label}\t{run}\t{wall_ms:.3f}\t{fmt(startup_ms)}\t{fmt(first, '%.1f')}\t"
                    f"{fmt(replies, '%d')}\t{fmt(errors, '%d')}\t{rc}\n")
        time.sleep(pause)

    def med(k):
        v = [r[k] for r in rows if r[k] is not None]
        return statistics.median(v) if v else None
    print(f"  {label:<18} {runs} runs: wall median {fmt(med(0), '%.1f')} ms, "
          f"timing.startup_ms median {fmt(med(1), '%.2f')}, first request at nginx median {fmt(med(2), '%.1f')} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
