#!/usr/bin/env python3
"""Cluster benchmark: a session on a real 2-worker Spark standalone cluster vs on local[*].

Runs the same measurements against two `epoxy serve` processes, one after the other (never at
once: they share the machine's cores), each with `--warm-pool 1` and sessions of G.1X × 3:

  * local:   `--spark-master local[*]` (the default);
  * cluster: `--spark-master spark://…` on a master + 2 workers (1 core, 1 GiB each) started
             from the runtime's pyspark `bin/spark-class` (tests/python/spark_cluster.py), with
             `--driver-host 127.0.0.1`; a session gets 2 executors on the workers.

Measured (same helpers as benches/runtime.py):

  1. CreateSession -> READY, warm (a pool driver waits: on the cluster it has only its JVM, so
     READY still pays for the SparkContext and the executors) and cold (a non-default `--conf`,
     so a new driver JVM starts);
  2. RunStatement -> AVAILABLE round trip for `1+1` and `spark.range(1000).count()`.

Usage:

  EPOXY_TEST_RUNTIME_PYTHON=/path/to/venv-with-pyspark/bin/python \\
      target/test-venv/bin/python benches/cluster.py [--statements 50] [--warm-runs 3] [--cold-runs 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
sys.path.insert(0, str(HERE))

import runtime as RB  # noqa: E402  (benches/runtime.py: timing helpers)
import runtime_support as R  # noqa: E402
import spark_cluster  # noqa: E402

SIZED = {"WorkerType": "G.1X", "NumberOfWorkers": 3}


def bench(args, extra_args, cluster=None) -> dict:
    """`cluster`: wait before each CreateSession until the previous session's application has
    left the master (the 2 workers fit one G.1X × 3 session at a time)."""

    def room():
        while cluster is not None and cluster.active_apps():
            time.sleep(0.2)

    out: dict = {"warm": [], "cold": []}
    with R.spark_server(*extra_args, warm_pool=1) as server:
        glue = server.glue(read_timeout=180)
        for i in range(args.warm_runs):
            R.wait_pool_warm(server)
            room()
            out["warm"].append(RB.time_to_ready(glue, f"warm-{i}", **SIZED))
            print(f"  warm start {i + 1}: {RB.seconds(out['warm'][-1])}", file=sys.stderr)
            if i < args.warm_runs - 1:
                RB.stop(glue, f"warm-{i}")
        measured = f"warm-{args.warm_runs - 1}"
        R.wait_pool_warm(server)  # no JVM starting in the background while we time statements
        for code in ("1+1", "spark.range(1000).count()"):
            RB.round_trip(glue, measured, code)
        out["one_plus_one"] = [RB.round_trip(glue, measured, "1+1") for _ in range(args.statements)]
        out["count"] = [
            RB.round_trip(glue, measured, "spark.range(1000).count()")
            for _ in range(args.statements)
        ]
        RB.stop(glue, measured)
        for i in range(args.cold_runs):
            sid = f"cold-{i}"
            conf = {"--conf": f"spark.sql.shuffle.partitions={10 + i}"}
            room()
            out["cold"].append(RB.time_to_ready(glue, sid, DefaultArguments=conf, **SIZED))
            print(f"  cold start {i + 1}: {RB.seconds(out['cold'][-1])}", file=sys.stderr)
            RB.stop(glue, sid)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--statements", type=int, default=50)
    ap.add_argument("--warm-runs", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=2)
    ap.add_argument("--python", default=os.environ.get("EPOXY_TEST_RUNTIME_PYTHON"))
    args = ap.parse_args()
    if not args.python:
        ap.error("give --python or set EPOXY_TEST_RUNTIME_PYTHON")
    R.RUNTIME_PYTHON = args.python

    print("local[*] ...", file=sys.stderr)
    local = bench(args, [])
    print(f"  local: {local}", file=sys.stderr)
    print("standalone cluster, 2 workers ...", file=sys.stderr)
    with spark_cluster.StandaloneCluster(args.python, workers=2) as cluster:
        flags = ["--spark-master", cluster.master_url, "--driver-host", "127.0.0.1"]
        remote = bench(args, flags, cluster)

    def p(values, q):
        return RB.pct(values, q)

    rows = [("measure", "local[*]", "2-worker cluster", "ratio")]
    for name, key, fmt, stat in (
        ("CreateSession->READY warm, p50", "warm", RB.seconds, statistics.median),
        ("CreateSession->READY cold, p50", "cold", RB.seconds, statistics.median),
        ("`1+1` p50", "one_plus_one", RB.ms, lambda v: p(v, 50)),
        ("`1+1` p99", "one_plus_one", RB.ms, lambda v: p(v, 99)),
        ("`spark.range(1000).count()` p50", "count", RB.ms, lambda v: p(v, 50)),
        ("`spark.range(1000).count()` p99", "count", RB.ms, lambda v: p(v, 99)),
    ):
        a, b = stat(local[key]), stat(remote[key])
        rows.append((f"{name} (n={len(local[key])})", fmt(a), fmt(b), f"{b / a:.2f}x"))
    print()
    print(RB.table(rows))
    print()
    for label, out in (("local", local), ("cluster", remote)):
        print(
            f"{label}: warm {', '.join(RB.seconds(s) for s in out['warm'])}; "
            f"cold {', '.join(RB.seconds(s) for s in out['cold'])}"
        )


if __name__ == "__main__":
    main()
