"""Glue's relationalize: structs flattened, each array pivoted into a child table joined by id.

Row ids are fixed by staging each level to ``staging_path`` as Parquet (that is what Glue's
staging path is for), so parents and children agree even when the source is re-read.
"""

from __future__ import annotations

import sys
import uuid

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue._paths import column_at, quote


def default_staging_path() -> str | None:
    """``--TempDir`` from getResolvedOptions, else from ``sys.argv``."""
    from awsglue import utils

    temp = utils._global_args.get("TempDir")
    if temp:
        return temp
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == "--TempDir" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--TempDir="):
            return arg.split("=", 1)[1]
    return None


def _flatten_structs(df: DataFrame) -> DataFrame:
    cols = []

    def walk(dt: T.DataType, parts: list[str], name: str) -> None:
        if isinstance(dt, T.StructType) and dt.fields:
            for f in dt.fields:
                walk(f.dataType, parts + [f.name], f"{name}.{f.name}")
        else:
            cols.append(column_at(parts).alias(name))

    for field in df.schema.fields:
        walk(field.dataType, [field.name], field.name)
    return df.select(*cols)


def _stage(df: DataFrame, staging_path: str) -> DataFrame:
    path = f"{staging_path.rstrip('/')}/relationalize-{uuid.uuid4().hex}"
    df.write.parquet(path)
    return df.sparkSession.read.parquet(path)


def _with_row_ids(df: DataFrame, column: str) -> DataFrame:
    """``df`` plus a 1-based row number column, stable across partitions."""
    spark = df.sparkSession
    schema = T.StructType([*df.schema.fields, T.StructField(column, T.LongType(), False)])
    rows = df.rdd.zipWithIndex().map(lambda t: (*t[0], t[1] + 1))
    return spark.createDataFrame(rows, schema)


def relationalize(df: DataFrame, root: str, staging_path: str | None) -> dict[str, DataFrame]:
    staging = staging_path or default_staging_path()
    if not staging:
        raise ValueError("relationalize needs a staging_path (or --TempDir in the job arguments)")
    out: dict[str, DataFrame] = {}
    _pivot(_flatten_structs(df), root, staging, out)
    return out


def _pivot(flat: DataFrame, name: str, staging: str, out: dict[str, DataFrame]) -> None:
    arrays = [f.name for f in flat.schema.fields if isinstance(f.dataType, T.ArrayType)]
    if not arrays:
        out[name] = flat
        return
    row_id = "__relationalize_id"
    staged = _stage(_with_row_ids(flat, row_id), staging)
    parent_cols = [F.col(row_id).alias(c) if c in arrays else F.col(quote(c)) for c in flat.columns]
    out[name] = staged.select(*parent_cols)
    for array in arrays:
        exploded = staged.select(
            F.col(row_id).alias("id"),
            F.posexplode(F.col(quote(array))).alias("index", "__val"),
        )
        child = exploded.select("id", "index", F.col("__val").alias(f"{array}.val"))
        _pivot(_flatten_structs(child), f"{name}_{array}", staging, out)
