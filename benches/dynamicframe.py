#!/usr/bin/env python3
"""What epoxy's DynamicFrame costs over the same DataFrame code, on 1M rows in one local Spark.

Each pair runs the DataFrame way and the awsglue way over the same cached input and forces the
result with Spark's `noop` sink (every row computed, nothing written), `--runs` times each, and prints the median of each and the ratio:

  * apply_mapping (rename + cast three columns) vs `select(col.cast().alias())`;
  * filter over DynamicRecords (a Python function per record: RDD-bound) vs `where(col > 3)`;
  * map over DynamicRecords vs `withColumn`.

Not a test. Run with the runtime interpreter and the library on the path:

  PYTHONPATH=python target/test-runtime/runtime/venv/bin/python benches/dynamicframe.py [--rows N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame

MAPPINGS = [
    ("id", "long", "order_id", "long"),
    ("s", "string", "label", "string"),
    ("v", "double", "amount", "decimal"),
]


def force(df) -> None:
    df.write.format("noop").mode("overwrite").save()


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def add_one(record):
    record["k"] = record["k"] + 1
    return record


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    spark = (
        SparkSession.builder.master("local[*]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    glue = GlueContext(spark.sparkContext)
    df = spark.range(args.rows).selectExpr(
        "id", "cast(id as string) as s", "id % 7 as k", "rand(1) as v"
    )
    df = df.cache()
    df.count()
    dyf = DynamicFrame.fromDF(df, glue, "bench")

    pairs = {
        "apply_mapping": (
            lambda: force(
                df.select(
                    F.col("id").cast("long").alias("order_id"),
                    F.col("s").cast("string").alias("label"),
                    F.col("v").cast("decimal(10,2)").alias("amount"),
                )
            ),
            lambda: force(dyf.apply_mapping(MAPPINGS).toDF()),
        ),
        "filter": (
            lambda: force(df.where(F.col("k") > 3)),
            lambda: force(dyf.filter(lambda r: r["k"] > 3).toDF()),
        ),
        "map": (
            lambda: force(df.withColumn("k", F.col("k") + 1)),
            lambda: force(dyf.map(add_one).toDF()),
        ),
    }
    print(
        f"{args.rows:,} rows, {args.runs} runs each, local[*] on {spark.sparkContext.defaultParallelism} cores"
    )
    print(f"{'transform':<14} {'DataFrame':>12} {'DynamicFrame':>14} {'overhead':>10}")
    for name, (plain, glue_way) in pairs.items():
        plain(), glue_way()  # warm both code paths
        p = statistics.median(timed(plain, args.runs))
        g = statistics.median(timed(glue_way, args.runs))
        print(f"{name:<14} {p:>10.3f} s {g:>12.3f} s {100 * (g / p - 1):>+9.1f}%")
    spark.stop()


if __name__ == "__main__":
    main()
