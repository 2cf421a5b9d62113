#!/usr/bin/env python3
"""Catalog-backed SQL in an epoxy session vs the same statements on a local SparkSession with
Spark's own Derby metastore, side by side in one run.

Each round runs, in a fresh database: `CREATE TABLE … USING parquet PARTITIONED BY`, an `INSERT`
of 1,000 rows into 10 partitions, a partition-filtered `SELECT count(*)`, `SHOW TABLES` and a
`DROP TABLE`. epoxy: RunStatement → AVAILABLE through boto3 on a warm-pool session whose metastore
is epoxy's Thrift door; baseline: the same `spark.sql` calls timed in-process with
`enableHiveSupport()` and Derby in a temp dir. Prints the median per statement and the ratio.

Not a test. Usage:

  EPOXY_TEST_RUNTIME_PYTHON=target/test-runtime/runtime/venv/bin/python \\
      target/test-venv/bin/python benches/catalog_sql.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, str(REPO / "benches"))

import runtime  # noqa: E402
import runtime_support as R  # noqa: E402

STEPS = [
    ("create", "CREATE TABLE {db}.t (id BIGINT, v STRING, p INT) USING parquet PARTITIONED BY (p)"),
    (
        "insert",
        "INSERT INTO {db}.t SELECT id, CAST(id AS STRING), CAST(id % 10 AS INT) FROM range(1000)",
    ),
    ("select", "SELECT count(*) FROM {db}.t WHERE p = 3"),
    ("show", "SHOW TABLES IN {db}"),
    ("drop", "DROP TABLE {db}.t"),
]

BASELINE = r"""
import json, sys, time
from pyspark.sql import SparkSession
tmp, rounds, steps = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
spark = (SparkSession.builder.master("local[*]").config("spark.ui.enabled", "false")
         .config("spark.sql.warehouse.dir", tmp + "/wh")
         .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                 "jdbc:derby:;databaseName=" + tmp + "/metastore_db;create=true")
         .enableHiveSupport().getOrCreate())
out = {name: [] for name, _ in steps}
for r in range(rounds):
    db = f"bench{r}"
    spark.sql(f"CREATE DATABASE {db}")
    for name, sql in steps:
        t0 = time.perf_counter()
        spark.sql(sql.format(db=db)).collect()
        out[name].append(time.perf_counter() - t0)
print(json.dumps(out), flush=True)
"""


def epoxy_times(rounds: int) -> dict:
    out = {name: [] for name, _ in STEPS}
    with R.spark_server(warm_pool=1) as server:
        R.wait_pool_warm(server)
        glue = server.glue(read_timeout=120)
        glue.create_session(Id="bench", Role=R.H.DEFAULT_ROLE, Command={"Name": "glueetl"})
        R.wait_ready(glue, "bench")
        runtime.round_trip(glue, "bench", "spark.sql('SHOW DATABASES').collect()")  # warm up
        for r in range(rounds):
            db = f"bench{r}"
            runtime.round_trip(glue, "bench", f"spark.sql('CREATE DATABASE {db}').collect()")
            for name, sql in STEPS:
                code = f"spark.sql({sql.format(db=db)!r}).collect()"
                out[name].append(runtime.round_trip(glue, "bench", code))
    return out


def baseline_times(python: str, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [python, "-c", BASELINE, tmp, str(rounds), json.dumps(STEPS)],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=os.environ.get("EPOXY_TEST_RUNTIME_PYTHON"))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not args.python:
        ap.error("give --python or set EPOXY_TEST_RUNTIME_PYTHON")
    R.RUNTIME_PYTHON = args.python
    print("local SparkSession + Derby ...", file=sys.stderr)
    local = baseline_times(args.python, args.rounds)
    print("epoxy session + epoxy metastore ...", file=sys.stderr)
    ep = epoxy_times(args.rounds)
    rows = [("statement (median)", "epoxy session", "local Spark + Derby", "ratio")]
    for name, _ in STEPS:
        e, b = statistics.median(ep[name]), statistics.median(local[name])
        rows.append((name, runtime.ms(e), runtime.ms(b), f"{e / b:.2f}x"))
    print(runtime.table(rows))
    print(
        "epoxy = RunStatement -> AVAILABLE via boto3 (includes the API round trip); "
        "local = spark.sql(...).collect() in-process."
    )


if __name__ == "__main__":
    main()
