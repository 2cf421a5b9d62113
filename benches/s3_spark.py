#!/usr/bin/env python3
"""Spark parquet write + read of 1M rows on `s3://` (epoxy's built-in S3, through S3A) vs
`file://` (the local disk), side by side in one session.

One run starts `epoxy serve --runtime spark` (open mode, fresh temp data dir, warm pool of one),
creates a bucket with boto3 and one session. Each round, inside the driver, writes
`spark.range(N)` with three columns (bigint, double, string) as parquet to a fresh path on each
target, then reads it back (`count` and a `sum`); the two targets alternate which goes first.
Times are measured in the driver (`time.perf_counter` around each Spark action), so the API
round trip is not in them. Prints the median per step and the s3/file ratio.

Not a test. Usage:

  EPOXY_BIN=target/release/epoxy EPOXY_TEST_RUNTIME_PYTHON=target/test-runtime/runtime/venv/bin/python \\
      target/test-venv/bin/python benches/s3_spark.py [--rows 1000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, str(REPO / "benches"))

import runtime  # noqa: E402
import runtime_support as R  # noqa: E402

BUCKET = "bench-spark"

ROUND = """
import json, time
def _timed(base):
    df = spark.range({rows}).selectExpr("id", "id * 0.5 AS half", "CAST(id AS STRING) AS s")
    t0 = time.perf_counter()
    df.write.mode("overwrite").parquet(base)
    t1 = time.perf_counter()
    back = spark.read.parquet(base)
    got = back.selectExpr("count(*)", "sum(id)").first()
    t2 = time.perf_counter()
    assert got[0] == {rows} and got[1] == {rows} * ({rows} - 1) // 2, got
    return {{"write": t1 - t0, "read": t2 - t1}}
_out = {{}}
for _name, _base in {targets}:
    _out[_name] = _timed(_base)
print(json.dumps(_out))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=os.environ.get("EPOXY_TEST_RUNTIME_PYTHON"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not args.python:
        ap.error("give --python or set EPOXY_TEST_RUNTIME_PYTHON")
    R.RUNTIME_PYTHON = args.python
    times = {t: {"write": [], "read": []} for t in ("s3", "file")}
    with tempfile.TemporaryDirectory() as local, R.spark_server(warm_pool=1) as server:
        R.wait_pool_warm(server)
        s3 = R.H._client(
            "s3", server.url, *R.H.DEV_KEY, R.H.REGION, s3={"addressing_style": "path"}
        )
        s3.create_bucket(Bucket=BUCKET)
        glue = server.glue(read_timeout=300)
        glue.create_session(Id="bench", Role=R.H.DEFAULT_ROLE, Command={"Name": "glueetl"})
        R.wait_ready(glue, "bench")
        warm = ROUND.format(
            rows=1000, targets=[("s3", f"s3://{BUCKET}/warm"), ("file", f"file://{local}/warm")]
        )
        R.run_ok(glue, "bench", warm, timeout=300)
        for r in range(args.rounds):
            targets = [("s3", f"s3://{BUCKET}/r{r}"), ("file", f"file://{local}/r{r}")]
            if r % 2:
                targets.reverse()
            out = R.run_ok(glue, "bench", ROUND.format(rows=args.rows, targets=targets), 600)
            for name, steps in json.loads(out.strip().splitlines()[-1]).items():
                for step, t in steps.items():
                    times[name][step].append(t)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    rows = [(f"{args.rows:,} rows, parquet (median)", "s3:// (epoxy S3)", "file://", "ratio")]
    for step in ("write", "read"):
        s3, disk = (statistics.median(times[t][step]) for t in ("s3", "file"))
        rows.append((step, runtime.ms(s3), runtime.ms(disk), f"{s3 / disk:.2f}x"))
    print(runtime.table(rows))
    print(f"rounds: {args.rounds}; raw: {json.dumps(times)}")


if __name__ == "__main__":
    main()
