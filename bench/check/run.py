#!/usr/bin/env python3
"""Measures `steady check` (objects/s, peak memory) on generated corpora of 10k, 50k and 100k
objects, and Checkov on 1k and 10k-object slices of the same corpus, in one run. By hand only.

usage: run.py [--out DIR] [--steady PATH] [--checkov PATH] [--skip-checkov] [--runs N]

steady is measured N times (default 5) after one warm-up run; the median wall and CPU time and
the largest peak RSS are recorded, with the load average before the runs (the machine may be
shared).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def measure(cmd):
    """Wall time, peak RSS (MiB) and CPU seconds (user + sys) of one command, from GNU time."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    err = p.stderr.decode(errors="replace").strip().splitlines()
    try:
        kib, user, system = err[-1].split()
        kib, cpu = int(kib), float(user) + float(system)
    except (IndexError, ValueError):
        kib, cpu = 0, 0.0
    return dt, kib / 1024.0, cpu, p.returncode, "\n".join(err[-5:])


def gen(n, out):
    if not os.path.isdir(out):
        subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), "--objects", str(n), "--out", out], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/steady-bench")
    ap.add_argument("--steady", default=os.path.join(ROOT, "target", "release", "steady"))
    ap.add_argument("--checkov", default=shutil.which("checkov") or "checkov")
    ap.add_argument("--skip-checkov", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    results = {"steady": [], "checkov": []}
    for n in (10_000, 50_000, 100_000):
        d = os.path.join(a.out, f"corpus-{n}")
        gen(n, d)
        # One untimed run to warm the page cache, then the measured ones.
        cmd = [a.steady, "check", "--no-config", "-o", "json", "--fail-on", "never", d]
        subprocess.run(cmd, stdout=subprocess.DEVNULL)
        load_before = os.getloadavg()[0]
        runs = []
        for _ in range(max(a.runs, 1)):
            dt, mib, cpu, rc, err = measure(cmd)
            if rc != 0:
                print(f"steady failed on {d}: rc={rc} {err}", file=sys.stderr)
                sys.exit(1)
            runs.append((dt, mib, cpu))
        dt = statistics.median(x[0] for x in runs)
        cpu = statistics.median(x[2] for x in runs)
        mib = max(x[1] for x in runs)
        r = {"objects": n, "runs": len(runs), "seconds": round(dt, 3), "objects_per_s": round(n / dt),
             "cpu_seconds": round(cpu, 2), "objects_per_cpu_s": round(n / max(cpu, 0.01)), "peak_mib": round(mib, 1),
             "min_seconds": round(min(x[0] for x in runs), 3), "load_average_before": round(load_before, 2)}
        results["steady"].append(r)
        print("steady ", r, flush=True)
    if not a.skip_checkov:
        for n in (1_000, 10_000):
            d = os.path.join(a.out, f"corpus-{n}")
            gen(n, d)
            dt, mib, cpu, rc, err = measure([a.checkov, "-d", d, "--framework", "kubernetes", "--quiet", "--compact", "-o", "json"])
            r = {"objects": n, "seconds": round(dt, 1), "objects_per_s": round(n / dt, 1), "cpu_seconds": round(cpu, 1),
                 "peak_mib": round(mib, 1), "rc": rc}
            results["checkov"].append(r)
            print("checkov", r, flush=True)
        s10 = next(r for r in results["steady"] if r["objects"] == 10_000)
        c10 = next(r for r in results["checkov"] if r["objects"] == 10_000)
        results["speedup_10k_wall"] = round(c10["seconds"] / s10["seconds"])
        results["speedup_10k_cpu"] = round(c10["cpu_seconds"] / max(s10["cpu_seconds"], 0.01))
        print("speed-up on the same 10,000 objects: wall", results["speedup_10k_wall"], "x, cpu",
              results["speedup_10k_cpu"], "x")
    results["load_average_after"] = os.getloadavg()
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
