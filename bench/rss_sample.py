#!/usr/bin/env python3
"""rss_sample.py - run a command and sample the resident memory of its process tree.

usage: rss_sample.py [--interval-ms 50] [--skip time,timeout,taskset,strace] --out FILE -- CMD...

Starts CMD (stdin/stdout/stderr inherited) and, every --interval-ms until it exits, walks its
process tree (the child and every descendant, found from the PPid field of /proc/*/stat) and sums
VmRSS (and VmHWM, and Pss from smaps_rollup) from /proc/PID/status over the processes whose comm
is not one of the --skip wrappers (so `taskset -c 1 /usr/bin/time timeout ... wrk` counts wrk
only, not the wrappers above it; their descendants are still walked). Writes one line of
key=value pairs to FILE:

  peak_rss_kb   largest sum of VmRSS seen in one sample  (the figure compare.sh reports)
  peak_hwm_kb   largest sum of VmHWM (each process's own peak) seen in one sample: an upper bound
                that also catches per-process peaks between samples
  peak_pss_kb   largest sum of Pss (shared pages split between the processes that map them)
  max_procs     most client processes seen at once
  samples       number of samples
  rc            CMD's exit status (128+N if killed by signal N)

and exits with CMD's exit status. Reads /proc only; sends no signals of its own (wrap CMD in
timeout(1) for a time limit). SIGINT/SIGTERM to this script are passed on to the child.
"""
import os
import signal
import subprocess
import sys
import time


def read_status(pid):
    """(comm, rss_kb, hwm_kb) of pid, or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    comm, rss, hwm = "", None, 0
    for line in data.splitlines():
        if line.startswith("Name:"):
            comm = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    if rss is None:
        return None
    return comm, rss, hwm


def read_pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children_map():
    """ppid -> [pid] for every process (threads are not listed in /proc's top level)."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: the fields after the last ')'
        rest = s[s.rfind(b")") + 2:].split()
        if len(rest) < 2:
            continue
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def tree(root):
    kids = children_map()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def main(argv):
    interval, skip, out = 0.05, {"time", "timeout", "taskset", "strace", "perf"}, None
    i = 0
    while i < len(argv) and argv[i] != "--":
        a = argv[i]
        if a == "--interval-ms":
            interval = float(argv[i + 1]) / 1000; i += 2
        elif a == "--skip":
            skip = set(x for x in argv[i + 1].split(",") if x); i += 2
        elif a == "--out":
            out = argv[i + 1]; i += 2
        else:
            sys.exit(f"rss_sample.py: unknown option {a}")
    cmd = argv[i + 1:]
    if not cmd or out is None:
        sys.exit(__doc__)

    child = subprocess.Popen(cmd)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: child.send_signal(s))

    peak_rss = peak_hwm = peak_pss = max_procs = samples = 0
    while True:
        rss = hwm = pss = n = 0
        for pid in tree(child.pid):
            st = read_status(pid)
            if st is None or st[0] in skip:
                continue
            rss += st[1]; hwm += st[2]; pss += read_pss(pid); n += 1
        if n:
            samples += 1
            peak_rss, peak_hwm = max(peak_rss, rss), max(peak_hwm, hwm)
            peak_pss, max_procs = max(peak_pss, pss), max(max_procs, n)
        if child.poll() is not None:
            break
        time.sleep(interval)
        if child.poll() is not None:
            break
    rc = child.returncode
    if rc < 0:
        rc = 128 - rc
    with open(out, "w") as f:
        f.write(f"peak_rss_kb={peak_rss} peak_hwm_kb={peak_hwm} peak_pss_kb={peak_pss} "
                f"max_procs={max_procs} samples={samples} rc={rc}\n")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
