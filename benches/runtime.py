#!/usr/bin/env python3
"""PySpark runtime benchmark: what a Glue session on epoxy costs over plain local PySpark.

Measures, against `epoxy serve --runtime spark` (fresh temp data dir, `--warm-pool 1`):

  1. CreateSession -> READY latency, warm (default profile, a pool driver is waiting) and cold
     (a non-default `--conf`, so a new driver JVM starts), polling GetSession every 10 ms;
  2. RunStatement -> AVAILABLE round trip (RunStatement, then GetStatement in a tight loop)
     for `1+1` (`--statements` runs, default 100) and `spark.range(1000).count()`;
  3. for scale, one boto3 GetSession round trip (what every poll costs the client);
  4. RSS of an idle session's driver: its python + JVM (+ Python workers), from /proc.

and, for comparison, with the same interpreter in one process: SparkSession.builder
.master("local[*]").getOrCreate() (same driver memory, UI off), then `eval` of the same code
in-process, and that process's RSS (python + JVM) when idle.

Not a test: prints a table. Usage:

  EPOXY_TEST_RUNTIME_PYTHON=/path/to/venv-with-pyspark/bin/python \\
      /tmp/e2e-venv/bin/python benches/runtime.py [--statements 100] [--warm-runs 3] [--cold-runs 2]

The binary is `$EPOXY_BIN`, else target/debug/epoxy (`--epoxy-bin`). The interpreter with pyspark
is `--python`, else $EPOXY_TEST_RUNTIME_PYTHON. Run on a quiet machine: every JVM start and
every poll competes for the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import epoxy_harness as H  # noqa: E402
import runtime_support as R  # noqa: E402

DRIVER_MEMORY = "1g"  # what epoxy gives a default session's driver

BASELINE = r"""
import json, os, sys, time
t0 = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[*]").appName("epoxy-bench-baseline")
         .config("spark.driver.memory", sys.argv[1])
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .getOrCreate())
spark.range(1).count()
start_s = time.perf_counter() - t0
ns = {"spark": spark, "sc": spark.sparkContext}

def timed(code, n):
    compiled = compile(code, "<stdin>", "eval")
    out = []
    for _ in range(n):
        t = time.perf_counter()
        eval(compiled, ns)
        out.append(time.perf_counter() - t)
    return out

print(json.dumps({"start_s": start_s,
                  "one_plus_one": timed("1+1", int(sys.argv[2])),
                  "count": timed("spark.range(1000).count()", int(sys.argv[3]))}), flush=True)
sys.stdin.readline()  # idle until the bench has read our RSS
spark.stop()
"""


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def ms(s):
    if abs(s) < 0.001:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1000:.2f} ms" if abs(s) < 10 else f"{s:.1f} s"


def seconds(s):
    return f"{s:.2f} s"


def mib(kb):
    return f"{kb / 1024:.0f} MiB"


def time_to_ready(glue, session_id, **create) -> float:
    t0 = time.perf_counter()
    R.H.create_session(glue, session_id, **create)
    while True:
        session = glue.get_session(Id=session_id)["Session"]
        status = session["Status"]
        if status == "READY":
            return time.perf_counter() - t0
        if status not in ("PROVISIONING",):
            raise RuntimeError(f"{session_id} became {status}: {session.get('ErrorMessage')}")
        time.sleep(0.01)


RECORDED: dict[str, list[float]] = {}  # code -> CompletedOn - StartedOn (s), as epoxy stored it


def round_trip(glue, session_id, code) -> float:
    t0 = time.perf_counter()
    stmt = glue.run_statement(SessionId=session_id, Code=code)["Id"]
    while True:
        st = glue.get_statement(SessionId=session_id, Id=stmt)["Statement"]
        if st["State"] in R.FINAL_STATES:
            elapsed = time.perf_counter() - t0
            assert st["State"] == "AVAILABLE" and st["Output"]["Status"] == "ok", st
            RECORDED.setdefault(code, []).append((st["CompletedOn"] - st["StartedOn"]) / 1000)
            return elapsed


def stop(glue, session_id):
    glue.stop_session(Id=session_id)
    R.H.wait_for_status(glue, session_id, ("STOPPED",), timeout=60)


def bench_epoxy(args) -> dict:
    out: dict = {"warm": [], "cold": []}
    server = R.spark_server(warm_pool=1)
    with server:
        glue = server.glue(read_timeout=120)
        for i in range(args.warm_runs):
            R.wait_pool_warm(server)
            sid = f"bench-warm-{i}"
            out["warm"].append(time_to_ready(glue, sid))
            print(
                f"  warm start {i + 1}/{args.warm_runs}: {seconds(out['warm'][-1])}",
                file=sys.stderr,
            )
            if i < args.warm_runs - 1:
                stop(glue, sid)
        measured = f"bench-warm-{args.warm_runs - 1}"
        R.wait_pool_warm(server)  # no JVM starting in the background while we time statements
        for code in ("1+1", "spark.range(1000).count()"):
            round_trip(glue, measured, code)  # first run warms code paths
        RECORDED.clear()
        out["one_plus_one"] = [round_trip(glue, measured, "1+1") for _ in range(args.statements)]
        out["count"] = [
            round_trip(glue, measured, "spark.range(1000).count()")
            for _ in range(args.spark_statements)
        ]
        out["get_session"] = []
        for _ in range(args.statements):
            t0 = time.perf_counter()
            glue.get_session(Id=measured)
            out["get_session"].append(time.perf_counter() - t0)
        time.sleep(2)  # idle
        pgid = R.driver_pid(server, glue, measured)
        out["session_rss_kb"] = R.group_rss_kb(pgid)
        out["session_procs"] = [
            (p.cmdline.split(" ")[0].rsplit("/", 1)[-1], p.rss_kb) for p in R.group(pgid)
        ]
        pool = [g for g in R.driver_groups(server.proc.pid) if g != pgid]
        out["pool_rss_kb"] = [R.group_rss_kb(g) for g in pool]
        server_proc = R.read_proc(server.proc.pid)
        out["server_rss_kb"] = server_proc.rss_kb if server_proc else 0
        stop(glue, measured)
        for i in range(args.cold_runs):
            sid = f"bench-cold-{i}"
            out["cold"].append(
                time_to_ready(
                    glue, sid, DefaultArguments={"--conf": f"spark.sql.shuffle.partitions={10 + i}"}
                )
            )
            print(
                f"  cold start {i + 1}/{args.cold_runs}: {seconds(out['cold'][-1])}",
                file=sys.stderr,
            )
            stop(glue, sid)
    return out


def bench_local(args) -> dict:
    proc = subprocess.Popen(
        [
            args.python,
            "-c",
            BASELINE,
            DRIVER_MEMORY,
            str(args.statements),
            str(args.spark_statements),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"baseline PySpark exited with {proc.wait()}")
        out = json.loads(line)
        time.sleep(2)  # idle, like the session
        out["rss_kb"] = R.group_rss_kb(proc.pid)
        out["procs"] = [
            (p.cmdline.split(" ")[0].rsplit("/", 1)[-1], p.rss_kb) for p in R.group(proc.pid)
        ]
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
        return out
    finally:
        if proc.poll() is None:
            proc.kill()


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--statements", type=int, default=100, help="runs of `1+1`")
    ap.add_argument(
        "--spark-statements", type=int, default=20, help="runs of spark.range(1000).count()"
    )
    ap.add_argument("--warm-runs", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=2)
    ap.add_argument(
        "--python",
        default=os.environ.get("EPOXY_TEST_RUNTIME_PYTHON"),
        help="interpreter with pyspark 3.5 (default $EPOXY_TEST_RUNTIME_PYTHON)",
    )
    ap.add_argument(
        "--epoxy-bin", help="epoxy binary (default $EPOXY_BIN, else target/debug/epoxy)"
    )
    args = ap.parse_args()
    if not args.python:
        ap.error("give --python or set EPOXY_TEST_RUNTIME_PYTHON")
    R.RUNTIME_PYTHON = args.python
    if args.epoxy_bin:
        os.environ["EPOXY_BIN"] = args.epoxy_bin
    print(
        f"epoxy {H.default_binary()}, python {args.python}, {os.cpu_count()} cores", file=sys.stderr
    )

    print("local PySpark baseline ...", file=sys.stderr)
    local = bench_local(args)
    print("epoxy ...", file=sys.stderr)
    ep = bench_epoxy(args)

    e1, l1 = ep["one_plus_one"], local["one_plus_one"]
    ec, lc = ep["count"], local["count"]
    rows = [
        ("measure", "epoxy", "local PySpark in-process", "epoxy overhead"),
        (
            f"CreateSession->READY warm, p50 of {len(ep['warm'])}",
            seconds(statistics.median(ep["warm"])),
            "-",
            "",
        ),
        (
            f"CreateSession->READY cold, p50 of {len(ep['cold'])}",
            seconds(statistics.median(ep["cold"])),
            f"{seconds(local['start_s'])} (getOrCreate + first job)",
            f"{seconds(statistics.median(ep['cold']) - local['start_s'])}",
        ),
        (
            f"`1+1` p50 (n={len(e1)})",
            ms(pct(e1, 50)),
            ms(pct(l1, 50)),
            ms(pct(e1, 50) - pct(l1, 50)),
        ),
        (
            f"`1+1` p99 (n={len(e1)})",
            ms(pct(e1, 99)),
            ms(pct(l1, 99)),
            ms(pct(e1, 99) - pct(l1, 99)),
        ),
        (
            f"`spark.range(1000).count()` p50 (n={len(ec)})",
            ms(pct(ec, 50)),
            ms(pct(lc, 50)),
            ms(pct(ec, 50) - pct(lc, 50)),
        ),
        (
            f"`spark.range(1000).count()` p99 (n={len(ec)})",
            ms(pct(ec, 99)),
            ms(pct(lc, 99)),
            ms(pct(ec, 99) - pct(lc, 99)),
        ),
        ("`1+1` StartedOn->CompletedOn as stored, p50", ms(pct(RECORDED["1+1"], 50)), "-", ""),
        (
            f"(client floor) one boto3 GetSession p50 (n={len(ep['get_session'])})",
            ms(pct(ep["get_session"], 50)),
            "-",
            "",
        ),
        (
            "RSS of an idle session (python + JVM)",
            mib(ep["session_rss_kb"]),
            mib(local["rss_kb"]),
            mib(ep["session_rss_kb"] - local["rss_kb"]),
        ),
    ]
    print()
    print(table(rows))
    print()
    print(
        f"warm starts: {', '.join(seconds(s) for s in ep['warm'])}; "
        f"cold starts: {', '.join(seconds(s) for s in ep['cold'])}"
    )
    print(
        "session driver processes (RSS): "
        + ", ".join(f"{name} {mib(kb)}" for name, kb in ep["session_procs"])
    )
    print(
        "baseline processes (RSS): " + ", ".join(f"{name} {mib(kb)}" for name, kb in local["procs"])
    )
    print(
        f"idle warm-pool driver(s): {', '.join(mib(kb) for kb in ep['pool_rss_kb']) or 'none'}; "
        f"epoxy server itself: {mib(ep['server_rss_kb'])}"
    )
    print(
        "round trip = RunStatement + GetStatement polled in a tight loop until AVAILABLE (boto3, "
        "keep-alive); local = eval() of the same code in the process holding the SparkSession."
    )


if __name__ == "__main__":
    main()
