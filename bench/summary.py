#!/usr/bin/env python3
"""summary.py OUT - the tables of bench/compare.sh from its results directory.

Reads OUT/settings.env, OUT/results.tsv, OUT/syscalls.tsv and OUT/startup.tsv (written by
compare.sh), and OUT/rate.tsv (bench/rate.py) and OUT/peers.tsv (bench/peers.py) when present, and
prints markdown: one detail table per scenario that ran, notes (errors, non-zero exits, short
runs), and last the combined table with the reference's figure (wrk; httperf for rate; the named
peer for peers), volley's, the ratio, the target and met / not met. Figures are medians over the
runs; detail tables add (min-max).
"""
import csv
import os
import statistics
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)


def read_tsv(name):
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


settings = {}
if os.path.exists(os.path.join(OUT, "settings.env")):
    for line in open(os.path.join(OUT, "settings.env")):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            settings[k] = v
SCEN = settings.get("scenarios", "").split()
PERF = settings.get("perf_ok") == "1"
res = read_tsv("results.tsv")
sysc = read_tsv("syscalls.tsv")
st = read_tsv("startup.tsv")


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def vals(rows, col, f=None):
    out = []
    for r in rows:
        v = num(r.get(col))
        if v is not None:
            out.append(f(v, r) if f else v)
    return out


def med(v):
    return statistics.median(v) if v else None


def cell(v, d=1):
    if not v:
        return "n/a"
    m = med(v)
    if len(v) == 1:
        return f"{m:.{d}f}"
    return f"{m:.{d}f} ({min(v):.{d}f}-{max(v):.{d}f})"


def fmt(x, d=1):
    return "n/a" if x is None else f"{x:.{d}f}"


def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.3f}"


def runs(scen, tool):
    return [r for r in res if r["scenario"] == scen and r["tool"] == tool]


def rep_pairs(scen, col, a="volley", b="wrk"):
    """Median over reps of a's figure / b's in the same rep (the two ran next to each other, so the
    VM's drift between fast and slow minutes, up to ±25% here, divides out), and the ratios."""
    by = {r["rep"]: num(r.get(col)) for r in runs(scen, b)}
    rs = []
    for r in runs(scen, a):
        x, y = num(r.get(col)), by.get(r["rep"])
        if x is not None and y:
            rs.append(x / y)
    return (med(rs), rs)


def ratios_txt(rs):
    return ", ".join(f"{x:.3f}" for x in rs)


MIB = lambda v, r: v / 1024
notes = []


def check_runs(scen, tools):
    for t in tools:
        rr = runs(scen, t)
        reqs = vals(rr, "requests")
        m = med(reqs)
        for r in rr:
            if r["rc"] not in ("0", ""):
                notes.append(f"{scen}: {t} rep {r['rep']} exited with status {r['rc']}"
                             + (" (124: stopped by timeout)" if r["rc"] == "124" else ""))
            e = num(r["errors"])
            if e:
                notes.append(f"{scen}: {t} rep {r['rep']}: {int(e)} errors ({r['error_detail']}) "
                             f"out of {r['requests']} replies")
            q = num(r["requests"])
            if m and q is not None and q < 0.5 * m:
                notes.append(f"{scen}: {t} rep {r['rep']} completed only {int(q)} requests (median {int(m)})")
            if r["count_from"] != "tool":
                notes.append(f"{scen}: {t} rep {r['rep']}: request count taken from {r['count_from']}")


final = []   # (scenario, metric, ref, volley, ratio, target, status)


def status(ok):
    return "n/a" if ok is None else ("met" if ok else "not met")


out = []
p = out.append

# ---------------------------------------------------------------- keepalive
if "keepalive" in SCEN:
    C, VW = settings.get("conns", "50"), settings.get("volley_workers", "1")
    p(f"### keepalive: {C} keep-alive connections, volley -w {VW} vs wrk -t 1\n")
    p("| tool | req/s | CPU µs/req | syscalls/req, strace (slowed) | syscalls/req, perf (full speed) |")
    p("|---|---|---|---|---|")
    sc = lambda t, m: vals([r for r in sysc if r["tool"] == t and r["method"] == m], "syscalls_per_req")
    for t, label in (("volley", f"volley -w {VW}"), ("wrk", "wrk -t 1")):
        rr = runs("keepalive", t)
        p(f"| {label} | {cell(vals(rr, 'rps'), 0)} | {cell(vals(rr, 'cpu_us_per_req'), 2)} | "
          f"{cell(sc(t, 'strace'), 2)} | {cell(sc(t, 'perf'), 2) if PERF else 'skipped (perf unusable)'} |")
    mv = lambda t, c: med(vals(runs("keepalive", t), c))
    p(f"| volley/wrk (ratio of medians) | {ratio(mv('volley', 'rps'), mv('wrk', 'rps'))} | "
      f"{ratio(mv('volley', 'cpu_us_per_req'), mv('wrk', 'cpu_us_per_req'))} | "
      f"{ratio(med(sc('volley', 'strace')), med(sc('wrk', 'strace')))} | "
      f"{ratio(med(sc('volley', 'perf')), med(sc('wrk', 'perf'))) if PERF else 'n/a'} |")
    p("")
    p("| tool | requests | client CPU s | errors | nginx counted | CPU busy %: server / client | busy % before run |")
    p("|---|---|---|---|---|---|---|")
    for t in ("volley", "wrk"):
        rr = runs("keepalive", t)
        p(f"| {t} | {cell(vals(rr, 'requests'), 0)} | {cell(vals(rr, 'user_s', lambda v, r: v + float(r['sys_s'])), 2)} | "
          f"{cell(vals(rr, 'errors'), 0)} | {cell(vals(rr, 'nginx_requests'), 0)} | "
          f"{cell(vals(rr, 'srv_busy_pct'), 0)} / {cell(vals(rr, 'cli_busy_pct'), 0)} | {cell(vals(rr, 'pre_busy_pct'), 0)} |")
    p("")
    tops = []
    for t in ("volley", "wrk"):
        for m in ("strace", "perf"):
            for r in sysc:
                q = num(r["requests"])
                if r["tool"] == t and r["method"] == m and r.get("top_syscalls") and q:
                    per = []
                    for kv in r["top_syscalls"].split(","):
                        k, _, v = kv.rpartition(":")
                        if num(v) is not None:
                            per.append(f"{k} {float(v) / q:.3f}")
                    tops.append(f"- {t}, {m} rep {r['rep']}: " + ", ".join(per))
                    break
    if tops:
        p("top syscalls per request (first rep of each tool and method):\n")
        out.extend(tops)
        p("")
    check_runs("keepalive", ("volley", "wrk"))
    for t in ("volley", "wrk"):
        for r in sysc:
            if r["tool"] == t and r["rc"] not in ("0", ""):
                notes.append(f"keepalive syscalls: {t} {r['method']} rep {r['rep']} exited with status {r['rc']}")
    cu_v, cu_w = mv("volley", "cpu_us_per_req"), mv("wrk", "cpu_us_per_req")
    pr, prs = rep_pairs("keepalive", "cpu_us_per_req")
    p(f"client CPU µs/request, volley/wrk rep by rep: {ratios_txt(prs) or 'n/a'} (median {fmt(pr, 3)}; "
      f"ratio of the medians {ratio(cu_v, cu_w)})\n")
    final.append(("keepalive", "client CPU µs/request (user+sys); median of per-rep ratios", fmt(cu_w, 2), fmt(cu_v, 2),
                  fmt(pr, 3), "≤ 0.8 × wrk", status(None if pr is None else pr <= 0.8)))
    if PERF:
        sv, sw = med(sc("volley", "perf")), med(sc("wrk", "perf"))
        final.append(("keepalive", "syscalls/request (perf raw_syscalls:sys_enter, full speed)", fmt(sw, 2), fmt(sv, 2),
                      ratio(sv, sw), "≤ 2.4", status(None if sv is None else sv <= 2.4)))
    else:
        sv, sw = med(sc("volley", "strace")), med(sc("wrk", "strace"))
        final.append(("keepalive", "syscalls/request (strace, slowed: perf unusable here)", fmt(sw, 2), fmt(sv, 2),
                      ratio(sv, sw), "≤ 2.4 (perf)", "n/a (no perf)"))

# ---------------------------------------------------------------- rss
if "rss" in SCEN:
    C, W = settings.get("conns", "50"), settings.get("rss_workers", "2")
    p(f"### rss: peak RSS of the client process tree, {C} keep-alive connections "
      f"(sum of VmRSS sampled every {settings.get('rss_interval_ms', '50')} ms)\n")
    p("| tool | peak Σ VmRSS MiB | peak Σ VmHWM MiB | peak Σ Pss MiB | processes | largest single process MiB (/usr/bin/time) | req/s | CPU µs/req | errors |")
    p("|---|---|---|---|---|---|---|---|---|")
    tools = (("volley", f"volley -w {W}"), ("wrk", "wrk -t 1"), ("wrk-t2", "wrk -t 2"))
    for t, label in tools:
        rr = runs("rss", t)
        p(f"| {label} | {cell(vals(rr, 'peak_rss_kb', MIB), 2)} | {cell(vals(rr, 'peak_hwm_kb', MIB), 2)} | "
          f"{cell(vals(rr, 'peak_pss_kb', MIB), 2)} | {cell(vals(rr, 'procs'), 0)} | {cell(vals(rr, 'maxrss_kb', MIB), 2)} | "
          f"{cell(vals(rr, 'rps'), 0)} | {cell(vals(rr, 'cpu_us_per_req'), 2)} | {cell(vals(rr, 'errors'), 0)} |")
    p("")
    check_runs("rss", [t for t, _ in tools])
    rv = med(vals(runs("rss", "volley"), "peak_rss_kb", MIB))
    rw = med(vals(runs("rss", "wrk"), "peak_rss_kb", MIB))
    rw2 = med(vals(runs("rss", "wrk-t2"), "peak_rss_kb", MIB))
    final.append(("rss", f"peak RSS MiB, Σ over the process tree (volley -w {W} vs wrk -t 1; wrk -t 2 in brackets)",
                  f"{fmt(rw, 2)} ({fmt(rw2, 2)})", fmt(rv, 2), ratio(rv, rw), "≤ 8 MiB",
                  status(None if rv is None else rv <= 8.0)))

# ---------------------------------------------------------------- scale
if "scale" in SCEN:
    N, W = settings.get("scale_conns", "10000"), settings.get("scale_workers", "1")
    nof = sorted(set(r["nofile"] for r in res if r["scenario"] == "scale"))
    p(f"### scale: {N} keep-alive connections, volley -w {W} vs wrk -t 1 (open-file limit {', '.join(nof) or '?'})\n")
    p("| tool | req/s | peak Σ VmRSS MiB | peak Σ Pss MiB | CPU µs/req | errors | connections opened | nginx counted | CPU busy %: server / client | TIME_WAIT before |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for t, label in (("volley", f"volley -w {W}"), ("wrk", "wrk -t 1")):
        rr = runs("scale", t)
        p(f"| {label} | {cell(vals(rr, 'rps'), 0)} | {cell(vals(rr, 'peak_rss_kb', MIB), 1)} | {cell(vals(rr, 'peak_pss_kb', MIB), 1)} | "
          f"{cell(vals(rr, 'cpu_us_per_req'), 2)} | {cell(vals(rr, 'errors'), 0)} | {cell(vals(rr, 'conns_opened'), 0)} | "
          f"{cell(vals(rr, 'nginx_requests'), 0)} | {cell(vals(rr, 'srv_busy_pct'), 0)} / {cell(vals(rr, 'cli_busy_pct'), 0)} | "
          f"{cell(vals(rr, 'tw_before'), 0)} |")
    p("")
    check_runs("scale", ("volley", "wrk"))
    for t in ("volley",):
        for r in runs("scale", t):
            o = num(r["conns_opened"])
            if o is not None and o < float(N):
                notes.append(f"scale: {t} rep {r['rep']} opened only {int(o)} of {N} connections")
    qv, qw = med(vals(runs("scale", "volley"), "rps")), med(vals(runs("scale", "wrk"), "rps"))
    mv_, mw = med(vals(runs("scale", "volley"), "peak_rss_kb", MIB)), med(vals(runs("scale", "wrk"), "peak_rss_kb", MIB))
    final.append(("scale", f"req/s at {N} connections", fmt(qw, 0), fmt(qv, 0), ratio(qv, qw), "≥ wrk",
                  status(None if qv is None or qw is None else qv >= qw)))
    final.append(("scale", f"peak RSS MiB at {N} connections (Σ over the process tree)", fmt(mw, 1), fmt(mv_, 1),
                  ratio(mv_, mw), "≤ wrk", status(None if mv_ is None or mw is None else mv_ <= mw)))

# ---------------------------------------------------------------- startup
if "startup" in SCEN:
    W = settings.get("startup_workers", "8")
    p(f"### startup: volley URL -w {W} -c {W} -n {W} -q --json (pinned to CPU {settings.get('client_cpu', '1')})\n")
    p("| run set | runs | wall time of the whole command, ms | JSON timing.startup_ms | exec → first request logged by nginx, ms | errors | non-zero exits |")
    p("|---|---|---|---|---|---|---|")
    labels = {"volley": "volley (/small)", "baseline-true": "baseline: timeout /bin/true",
              "volley-arrival": "volley (/small-logged)", "wrk-arrival": f"wrk -t {W} -c {W} -d 1s (/small-logged)"}
    for lab in ("volley", "baseline-true", "volley-arrival", "wrk-arrival"):
        rr = [r for r in st if r["label"] == lab]
        if not rr:
            continue
        bad = [r["rc"] for r in rr if r["rc"] != "0"]
        p(f"| {labels[lab]} | {len(rr)} | {cell(vals(rr, 'wall_ms'), 1)} | {cell(vals(rr, 'startup_ms'), 2)} | "
          f"{cell(vals(rr, 'first_arrival_ms'), 1)} | {cell(vals(rr, 'errors'), 0)} | {','.join(bad) or '-'} |")
        if bad:
            notes.append(f"startup: {labels[lab]} exited non-zero in {len(bad)} runs ({','.join(bad)}); see raw/startup.err")
        e = sum(vals(rr, "errors"))
        if e:
            notes.append(f"startup: {labels[lab]}: {int(e)} errors over the runs")
    p("")
    sv = [r for r in st if r["label"] == "volley"]
    wall = med(vals(sv, "wall_ms"))
    sms = med(vals(sv, "startup_ms"))
    base = med(vals([r for r in st if r["label"] == "baseline-true"], "wall_ms"))
    final.append(("startup", "wall time of the whole command, ms (median of %d; bounds exec → first request)" % len(sv),
                  "n/a (harness: timeout /bin/true %s)" % fmt(base, 1), fmt(wall, 1), "n/a", "< 50 ms", status(None if wall is None else wall < 50)))
    if vals(sv, "startup_ms"):
        final.append(("startup", "JSON timing.startup_ms (supervisor start → workers released)", "n/a", fmt(sms, 2),
                      "n/a", "< 50 ms", status(sms < 50)))
    else:
        final.append(("startup", "JSON timing.startup_ms", "n/a", "absent", "n/a", "< 50 ms", "n/a"))
    av = med(vals([r for r in st if r["label"] == "volley-arrival"], "first_arrival_ms"))
    aw = med(vals([r for r in st if r["label"] == "wrk-arrival"], "first_arrival_ms"))
    if av is not None or aw is not None:
        final.append(("startup", "exec → first request logged by nginx, ms (±1 ms)", fmt(aw, 1), fmt(av, 1), ratio(av, aw),
                      "< 50 ms", status(None if av is None else av < 50)))

# ---------------------------------------------------------------- rate
rate = read_tsv("rate.tsv")
if rate:
    def rv(r, mode, tool, key):
        for row in rate:
            if (row["rate"], row["mode"], row["tool"]) == (str(r), mode, tool):
                return num(row[key])
        return None
    out.append("### rate (open loop, volley next to httperf; from bench/rate.py)\n")
    out.append("| rate | mode | tool | achieved/s | CPU % of a core | µs/req | sd per 10 ms | max per 10 ms | max gap ms "
               "| send gap p1 / p50 / p99 / max µs |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for row in rate:
        gap = " / ".join(fmt(num(row.get(k, "")), 0) for k in ("gap_p1", "gap_p50", "gap_p99", "gap_max"))
        out.append(f"| {row['rate']} | {row['mode']} | {row['tool']} | {fmt(num(row['achieved']), 1)} | "
                   f"{fmt(num(row['cpu_pct']), 1)} | {fmt(num(row['us_req']), 1)} | {fmt(num(row['sd10']), 2)} | "
                   f"{fmt(num(row['max10']), 0)} | {fmt(num(row['maxgap']), 1)} | {gap} |")
    out.append("")
    out.append("Send gaps: between the client's request writes (syscall tracepoints, one extra run per cell). "
               "With keep-alive httperf sends its 10 calls per connection back to back, so only the "
               "close rows compare two schedules.\n")
    for mode in ("keepalive", "close"):
        cv, ch = rv(2000, mode, "volley", "cpu_pct"), rv(2000, mode, "httperf", "cpu_pct")
        final.append(("rate", f"client CPU % of a core at 2000/s ({mode}; reference: httperf)", fmt(ch, 1), fmt(cv, 1),
                      ratio(cv, ch), "≤ 15%", status(None if cv is None else cv <= 15.0)))
    def sd_runs(r, tool):
        for row in rate:
            if (row["rate"], row["mode"], row["tool"]) == (str(r), "keepalive", tool):
                return [float(x) for x in (row.get("sd10_runs") or "").split(",") if x]
        return []
    def flag_runs(r, tool):
        for row in rate:
            if (row["rate"], row["mode"], row["tool"]) == (str(r), "keepalive", tool):
                return [x == "1" for x in (row.get("vm_stall_runs") or "").split(",") if x]
        return []
    for r in (2000, 20000):
        sv, sh = rv(r, "keepalive", "volley", "sd10"), rv(r, "keepalive", "httperf", "sd10")
        final.append(("rate", f"arrival evenness at {r}/s, keep-alive: sd per 10 ms (reference: httperf)",
                      fmt(sh, 2), fmt(sv, 2), ratio(sv, sh), "≤ httperf's",
                      status(None if sv is None or sh is None else sv <= sh)))
        # Run by run (the 20000/s target): rep i of each tool ran back to back.
        pairs = list(zip(sd_runs(r, "volley"), sd_runs(r, "httperf"))) if r == 20000 else []
        if pairs:
            worst = max(pairs, key=lambda vh: vh[0] - vh[1])
            vm = flag_runs(r, "volley")
            shown = " ".join(f"{v:.2f}/{h:.2f}" + ("*" if i < len(vm) and vm[i] else "")
                             for i, (v, h) in enumerate(pairs))
            if any(vm):
                shown += "; * a stall outside volley in that rep: steal time, or a hole at nginx beyond volley's lag"
            final.append(("rate", f"arrival evenness at {r}/s, keep-alive, run by run: sd per 10 ms volley/httperf ({shown})",
                          fmt(worst[1], 2), fmt(worst[0], 2), ratio(worst[0], worst[1]), "≤ httperf's in every run",
                          status(all(v <= h for v, h in pairs))))
    for r in (2000, 20000):
        def spread(tool):
            lo, hi = rv(r, "close", tool, "gap_p1"), rv(r, "close", tool, "gap_p99")
            return None if lo is None or hi is None else hi - lo
        gv, gh = spread("volley"), spread("httperf")
        final.append(("rate", f"send-gap spread p99 − p1 at {r}/s, µs (close: both on a schedule; reference: httperf)",
                      fmt(gh, 0), fmt(gv, 0), ratio(gv, gh), "≤ httperf's",
                      status(None if gv is None or gh is None else gv <= gh)))
    uv, uh = rv(20000, "keepalive", "volley", "us_req"), rv(20000, "keepalive", "httperf", "us_req")
    av = rv(20000, "keepalive", "volley", "achieved")
    final.append(("rate", "client CPU µs/request at 20000/s, keep-alive (reference: httperf)", fmt(uh, 1), fmt(uv, 1),
                  ratio(uv, uh), "—", "—"))
    final.append(("rate", "achieved/s at 20000/s, keep-alive", fmt(rv(20000, "keepalive", "httperf", "achieved"), 0),
                  fmt(av, 0), "n/a", "≥ 19800", status(None if av is None else av >= 19800)))


# ---------------------------------------------------------------- peers
peers = read_tsv("peers.tsv")
if peers:
    PEERS = ("wrk", "h2load", "ab", "httperf", "oha")
    LABEL = {"volley": "volley -w 1 -c 50 -d S", "wrk": "wrk -t 1 -c 50 -d S", "h2load": "h2load --h1 -t 1 -c 50 -D S",
             "ab": "ab -k -c 50 -t S", "httperf": "httperf --rate 1000 --num-conns 50 --num-calls K --hog",
             "oha": "oha -z S -c 50 --no-tui"}
    tools = [t for t in ("volley",) + PEERS if any(r["tool"] == t for r in peers)]
    present = [t for t in tools if t != "volley"]
    rounds = sorted({int(r["round"]) for r in peers})
    by = {(int(r["round"]), r["tool"]): r for r in peers}
    good = lambda r: r is not None and num(r["req_s"]) is not None and num(r["cpu_us_per_req"]) is not None
    prun = lambda t: [r for r in peers if r["tool"] == t and good(r)]
    pm = lambda t, c: med(vals(prun(t), c))
    p(f"### peers: volley next to {', '.join(present) or 'no peer'}; 50 keep-alive connections from one client thread, "
      f"GET /small, {settings.get('peers_rounds', len(rounds))} rounds × {settings.get('peers_seconds', '?')} s, "
      f"order rotated per round (bench/peers.py)\n")
    p("| tool | command | version | runs | req/s | CPU µs/req | errors | non-zero exits |")
    p("|---|---|---|---|---|---|---|---|")
    for t in tools:
        rr = [r for r in peers if r["tool"] == t]
        label = f"`{LABEL.get(t, t)}`"
        if t == "httperf":
            ks = sorted({int(num(r["httperf_calls"])) for r in rr if num(r["httperf_calls"]) is not None})
            if ks:
                label += f" (K = {ks[0]}" + (f"-{ks[-1]})" if len(ks) > 1 else ")")
        bad = [r["rc"] for r in rr if r["rc"] not in ("0", "")]
        p(f"| {t} | {label} | {rr[-1].get('version', '?')} | {len(prun(t))}/{len(rr)} | {cell(vals(prun(t), 'req_s'), 0)} | "
          f"{cell(vals(prun(t), 'cpu_us_per_req'), 2)} | {fmt(sum(vals(rr, 'errors')), 0) if vals(rr, 'errors') else 'n/a'} | "
          f"{','.join(bad) or '-'} |")
    p("")
    rps_r, cpu_low_r, cpu_wrk_r = [], [], []
    p("| round | order | best peer, req/s | volley req/s | volley / best peer | lowest-CPU peer, µs/req | volley µs/req "
      "| volley / lowest peer | volley / wrk, CPU |")
    p("|---|---|---|---|---|---|---|---|---|")
    for rnd in rounds:
        here = {t: by.get((rnd, t)) for t in tools}
        order = " → ".join(r["tool"] for r in sorted((r for r in here.values() if r), key=lambda r: int(num(r["position"]) or 0)))
        ok = {t: r for t, r in here.items() if t != "volley" and good(r)}
        v = here.get("volley")
        if not good(v) or not ok:
            p(f"| {rnd} | {order} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
            continue
        vr, vc = num(v["req_s"]), num(v["cpu_us_per_req"])
        best = max(ok, key=lambda t: num(ok[t]["req_s"]))
        low = min(ok, key=lambda t: num(ok[t]["cpu_us_per_req"]))
        br, lc = num(ok[best]["req_s"]), num(ok[low]["cpu_us_per_req"])
        rps_r.append(vr / br)
        cpu_low_r.append(vc / lc)
        wr = f"{vc / num(ok['wrk']['cpu_us_per_req']):.3f}" if "wrk" in ok else "n/a"
        if "wrk" in ok:
            cpu_wrk_r.append(vc / num(ok["wrk"]["cpu_us_per_req"]))
        p(f"| {rnd} | {order} | {best} {br:.0f} | {vr:.0f} | {vr / br:.3f} | {low} {lc:.2f} | {vc:.2f} | {vc / lc:.3f} | {wr} |")
    p(f"| median | | | | {fmt(med(rps_r), 3)} | | | {fmt(med(cpu_low_r), 3)} | {fmt(med(cpu_wrk_r), 3)} |")
    p("")
    p("Per-round ratios compare runs made in the same minute (this VM drifts between a fast and a slow regime); "
      "the best peer of a round is the one with the highest req/s, or the lowest CPU µs/req, in that round.\n")
    for r in peers:
        if r["rc"] not in ("0", ""):
            notes.append(f"peers: {r['tool']} round {r['round']} exited with status {r['rc']}"
                         + (" (124: stopped by timeout)" if r["rc"] == "124" else ""))
        if not good(r):
            notes.append(f"peers: {r['tool']} round {r['round']}: no figures (see raw/peers.{r['round']}.{r['tool']}.*)")
        e = num(r["errors"])
        if e:
            notes.append(f"peers: {r['tool']} round {r['round']}: {int(e)} errors out of {r['requests']} replies")
    for t in tools:
        m = med(vals(prun(t), "requests"))
        for r in prun(t):
            q = num(r["requests"])
            if m and q is not None and q < 0.5 * m:
                notes.append(f"peers: {t} round {r['round']} completed only {int(q)} requests (median {int(m)})")
    vr, vc = pm("volley", "req_s"), pm("volley", "cpu_us_per_req")
    meds = {t: (pm(t, "req_s"), pm(t, "cpu_us_per_req")) for t in present if prun(t)}
    low = min(meds, key=lambda t: meds[t][1]) if meds else None
    # Paired, peer by peer: volley / the peer in each round (same minute), the median over
    # the rounds. The best peer is the one volley does worst against.
    def paired(t, col):
        rs = [num(by[(k, "volley")][col]) / num(by[(k, t)][col]) for k in rounds
              if good(by.get((k, "volley"))) and good(by.get((k, t)))]
        return med(rs) if rs else None
    pairs = {t: (paired(t, "req_s"), paired(t, "cpu_us_per_req")) for t in present}
    pairs = {t: v for t, v in pairs.items() if v[0] is not None}
    p("| peer | volley / peer, req/s (median of per-round ratios) | volley / peer, CPU µs/request |")
    p("|---|---|---|")
    for t, (rq, cq) in pairs.items():
        p(f"| {t} | {fmt(rq, 3)} | {fmt(cq, 3)} |")
    p("")
    top = min(pairs, key=lambda t: pairs[t][0]) if pairs else None
    final.append(("peers", f"keep-alive req/s: volley / the best peer ({', '.join(present)}; for each peer the median "
                  f"of {len(rounds)} per-round ratios; the best is the one volley does worst against)",
                  f"{top} {fmt(meds[top][0], 0)}" if top else "n/a", fmt(vr, 0), fmt(pairs[top][0], 3) if top else "n/a",
                  "≥ 1.0 × best peer", status(None if not top else pairs[top][0] >= 1.0)))
    final.append(("peers", f"keep-alive req/s: volley / the fastest peer of each round (median of {len(rps_r)}; "
                  "the maximum of five noisy peers each round leans against volley)",
                  "-", fmt(vr, 0), fmt(med(rps_r), 3), "—", "—"))
    final.append(("peers", f"keep-alive client CPU µs/request vs wrk (median of {len(cpu_wrk_r)} per-round ratios)",
                  fmt(pm("wrk", "cpu_us_per_req"), 2), fmt(vc, 2), fmt(med(cpu_wrk_r), 3), "≤ 0.85 × wrk",
                  status(None if not cpu_wrk_r else med(cpu_wrk_r) <= 0.85)))
    final.append(("peers", "keep-alive client CPU µs/request: volley's median vs the lowest peer median",
                  f"{low} {fmt(meds[low][1], 2)}" if low else "n/a", fmt(vc, 2),
                  ratio(vc, meds[low][1] if low else None), "lowest of all peers",
                  status(None if vc is None or low is None else vc < meds[low][1])))
    worst = max(pairs, key=lambda t: pairs[t][1]) if pairs else None
    final.append(("peers", "keep-alive client CPU µs/request, paired: volley / each peer, median of per-round ratios, "
                  "the highest (the peer closest to volley)",
                  f"{worst}" if worst else "n/a", fmt(vc, 2), fmt(pairs[worst][1], 3) if worst else "n/a",
                  "< 1.0 (lowest of all)", status(None if not worst else pairs[worst][1] < 1.0)))

# ---------------------------------------------------------------- close
if "close" in SCEN:
    C, VW = settings.get("conns", "50"), settings.get("volley_workers", "1")
    p(f"### close: new connection per request (Connection: close), {C} connections, volley -w {VW} vs wrk -t 1\n")
    p("| tool | req/s | CPU µs/req | connections opened per reply | errors | nginx counted | CPU busy %: server / client | TIME_WAIT before |")
    p("|---|---|---|---|---|---|---|---|")
    for t, label in (("volley", f"volley -w {VW}"), ("wrk", "wrk -t 1")):
        rr = runs("close", t)
        per = [float(r["conns_opened"]) / float(r["requests"]) for r in rr
               if num(r["conns_opened"]) is not None and num(r["requests"])]
        p(f"| {label} | {cell(vals(rr, 'rps'), 0)} | {cell(vals(rr, 'cpu_us_per_req'), 2)} | {cell(per, 3)} | "
          f"{cell(vals(rr, 'errors'), 0)} | {cell(vals(rr, 'nginx_requests'), 0)} | "
          f"{cell(vals(rr, 'srv_busy_pct'), 0)} / {cell(vals(rr, 'cli_busy_pct'), 0)} | {cell(vals(rr, 'tw_before'), 0)} |")
    p("")
    check_runs("close", ("volley", "wrk"))
    cv, cw = med(vals(runs("close", "volley"), "cpu_us_per_req")), med(vals(runs("close", "wrk"), "cpu_us_per_req"))
    pr, prs = rep_pairs("close", "cpu_us_per_req")
    p(f"client CPU µs/request, volley/wrk rep by rep: {ratios_txt(prs) or 'n/a'} (median {fmt(pr, 3)}; "
      f"ratio of the medians {ratio(cv, cw)})\n")
    final.append(("close", "client CPU µs/request (new connection per request); median of per-rep ratios",
                  fmt(cw, 2), fmt(cv, 2), fmt(pr, 3), "≤ 0.8 × wrk", status(None if pr is None else pr <= 0.8)))

print("\n".join(out))
if notes:
    print("notes:\n")
    for n in notes:
        print(f"- {n}")
    print()
print("req/s: each tool's own figure. CPU µs/req: user+sys of the client process tree (/usr/bin/time) / completed requests.")
print("Peak RSS: largest sum of VmRSS over the client process and its descendants in one sample (shared pages count once per process).")
print("Figures are medians over the runs; the ratio is volley / the reference (wrk unless the row names another tool),"
      " or, where the metric says so, the median of per-round ratios.\n")
print("### all scenarios\n")
print("| scenario | metric | reference (same run) | volley | volley/reference | target | status |")
print("|---|---|---|---|---|---|---|")
for row in final:
    print("| " + " | ".join(row) + " |")
