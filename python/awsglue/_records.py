"""Rows ⇄ DynamicRecords for ``map``/``filter``, and the error records Glue keeps for failed ones.

A function's output records are read back with Spark's JSON inference (records may change shape),
then fields the input already had are given their input types again when the values still fit.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
from typing import Any

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue._paths import quote
from awsglue.gluetypes import DynamicRecord

ERROR_SCHEMA = T.StructType(
    [
        T.StructField("transformation", T.StringType()),
        T.StructField("errorMessage", T.StringType()),
        T.StructField("record", T.StringType()),
    ]
)


def to_record(value: Any) -> Any:
    """A Row (or nested value) as DynamicRecords, lists and plain values."""
    if isinstance(value, Row):
        value = value.asDict(recursive=False)
    if isinstance(value, dict):
        return DynamicRecord({k: to_record(v) for k, v in value.items()})
    if isinstance(value, list):
        return [to_record(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Row):
        return value.asDict(recursive=True)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(record: Any) -> str:
    return json.dumps(record, default=_json_default, ensure_ascii=False)


def error_row(transformation: str, message: str, record: Any) -> tuple[str, str, str]:
    try:
        text = to_json(record)
    except (TypeError, ValueError):
        text = repr(record)
    return (transformation, message, text)


def _widened(dt: T.DataType) -> T.DataType:
    """The type Spark's JSON inference gives a value that had type ``dt``."""
    if isinstance(dt, (T.IntegerType, T.LongType, T.ShortType, T.ByteType)):
        return T.LongType()
    if isinstance(dt, (T.FloatType, T.DoubleType, T.DecimalType)):
        return T.DoubleType()
    if isinstance(dt, (T.DateType, T.TimestampType, T.TimestampNTZType, T.BinaryType)):
        return T.StringType()
    return dt


def _restore(col: Column, inferred: T.DataType, original: T.DataType | None) -> Column:
    if original is None:
        return col
    if isinstance(inferred, T.StructType) and isinstance(original, T.StructType):
        rebuilt = F.struct(*_restore_fields(col.getField, inferred, original))
        return F.when(col.isNull(), F.lit(None)).otherwise(rebuilt)
    if isinstance(inferred, T.ArrayType) and isinstance(original, T.ArrayType):
        return F.transform(col, lambda x: _restore(x, inferred.elementType, original.elementType))
    if not isinstance(original, (T.BinaryType, T.StructType, T.ArrayType, T.MapType)) and (
        _widened(original) == inferred
    ):
        return col.cast(original)
    return col


def _restore_fields(get, inferred: T.StructType, original: T.StructType) -> list[Column]:
    by_name = {f.name: f for f in inferred.fields}
    names = [f.name for f in original.fields if f.name in by_name]
    names += [f.name for f in inferred.fields if f.name not in names]
    originals = {f.name: f.dataType for f in original.fields}
    return [_restore(get(n), by_name[n].dataType, originals.get(n)).alias(n) for n in names]


def records_to_frame(spark: SparkSession, json_rdd, original: T.StructType) -> DataFrame:
    """A DataFrame of JSON records, typed like ``original`` where the values still fit."""
    if json_rdd.isEmpty():
        return spark.createDataFrame([], original)
    inferred = spark.read.json(json_rdd)
    return inferred.select(*_restore_fields(lambda n: F.col(quote(n)), inferred.schema, original))
