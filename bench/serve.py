#!/usr/bin/env python3
"""serve.py - the built-in target (`volley serve`) next to the bench nginx, under the same load.

usage: bench/serve.py [REPS] [SECONDS]     (defaults: 3 reps, 5 s)

Both servers are pinned to SERVER_CPU (default 0) and get the same volley command, pinned to
CLIENT_CPU (default 1), alternately (nginx, serve, then serve, nginx, ...):

  keepalive  volley URL/small -w 1 -c 50                          kept-alive connections
  close      volley URL/small -w 1 -c 50 -H 'Connection: close'   a connection per request
  16k        volley URL/16k -w 1 -c 50                            larger bodies

Figures per run: req/s and errors from volley's --json, and the server's CPU µs per reply
(user+system time of its worker processes, from /proc/PID/stat, over the run). Printed:
medians (min-max) and the ratio serve/nginx.

nginx is started with bench/nginx-start.sh when nothing answers on 127.0.0.1:8080, and stopped
at the end if it was started here. `volley serve --listen 127.0.0.1:0 -w SERVE_WORKERS`
(default 1, as nginx's one worker) is started here. VOLLEY (default target/release/volley) is
both the client and the server. Every run has a timeout, so the script always ends.
"""

import json
import os
import statistics
import subprocess
import sys

import nginxctl

HERE = os.path.dirname(os.path.abspath(__file__))
VOLLEY = os.environ.get("VOLLEY", os.path.join(HERE, "..", "target", "release", "volley"))
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "1")
SERVE_WORKERS = os.environ.get("SERVE_WORKERS", "1")
NGINX = "127.0.0.1:8080"
NGINX_PID = "/tmp/volley-nginx/nginx.pid"
SCENARIOS = {
    "keepalive": ("/small", ["-w", "1", "-c", "50"]),
    "close": ("/small", ["-w", "1", "-c", "50", "-H", "Connection: close"]),
    "16k": ("/16k", ["-w", "1", "-c", "50"]),
}
TICK = os.sysconf("SC_CLK_TCK")


def children(pid):
    """Pids whose parent is `pid` (nginx's workers, volley serve's processes)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def cpu_s(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def run(addr, path, args, secs, server_pids):
    """One run: (req/s, server CPU µs per reply, errors)."""
    before = cpu_s(server_pids)
    cmd = ["taskset", "-c", CLIENT_CPU, VOLLEY, f"http://{addr}{path}", *args,
           "-d", f"{secs}s", "-q", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs * 3 + 30)
    used = cpu_s(server_pids) - before
    r = json.loads(out.stdout)
    replies = r["replies"]["total"]
    return r["throughput"]["requests_per_s"], used * 1e6 / max(replies, 1), r["errors"]["total"]


def fmt(xs, prec=0):
    return f"{statistics.median(xs):.{prec}f} ({min(xs):.{prec}f}-{max(xs):.{prec}f})"


def start_serve():
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, VOLLEY, "serve", "--listen", "127.0.0.1:0",
         "-w", SERVE_WORKERS], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    addr = proc.stdout.readline().strip()
    if not addr:
        sys.exit("volley serve did not start")
    # taskset execs volley in place, so proc.pid is volley serve itself.
    return proc, addr, children(proc.pid)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    nginxctl.ensure()
    serve, serve_addr, serve_pids = start_serve()
    try:
        with open(NGINX_PID) as f:
            nginx_pids = children(int(f.read().strip()))
        targets = {"nginx": (NGINX, nginx_pids), "serve": (serve_addr, serve_pids)}
        print(f"volley serve -w {SERVE_WORKERS} on {serve_addr} (pids {serve_pids}), "
              f"nginx on {NGINX} (workers {nginx_pids}); servers on CPU {SERVER_CPU}, "
              f"client on CPU {CLIENT_CPU}; {reps} reps x {secs} s\n")
        print("| scenario | figure | nginx | volley serve | serve/nginx |")
        print("|---|---|---|---|---|")
        for name, (path, args) in SCENARIOS.items():
            got = {"nginx": [], "serve": []}
            for rep in range(reps):
                order = ["nginx", "serve"] if rep % 2 == 0 else ["serve", "nginx"]
                for label in order:
                    addr, pids = targets[label]
                    got[label].append(run(addr, path, args, secs, pids))
            for i, figure, prec in [(0, "req/s", 0), (1, "server CPU µs/reply", 2),
                                    (2, "errors", 0)]:
                a = [g[i] for g in got["nginx"]]
                b = [g[i] for g in got["serve"]]
                ratio = statistics.median(b) / statistics.median(a) if statistics.median(a) else 0
                print(f"| {name} | {figure} | {fmt(a, prec)} | {fmt(b, prec)} | {ratio:.2f} |",
                      flush=True)
    finally:
        serve.terminate()
        serve.wait(timeout=10)


if __name__ == "__main__":
    main()
