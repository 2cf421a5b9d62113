"""Glue type names, defaults and the Spark mapping."""

from __future__ import annotations

from pyspark.sql import types as T

from awsglue import gluetypes as G


def test_type_names():
    names = [
        c.typeName()
        for c in (
            G.IntegerType,
            G.LongType,
            G.StringType,
            G.DecimalType,
            G.ArrayType,
            G.MapType,
            G.StructType,
            G.ChoiceType,
            G.TimestampType,
            G.NullType,
            G.SetType,
        )
    ]
    assert names == [
        "int",
        "long",
        "string",
        "decimal",
        "array",
        "map",
        "struct",
        "choice",
        "timestamp",
        "null",
        "set",
    ]


def test_decimal_default_and_spark_round_trip():
    assert (G.DecimalType().precision, G.DecimalType().scale) == (10, 2)
    spark_schema = T.StructType(
        [
            T.StructField("a", T.IntegerType()),
            T.StructField("m", T.MapType(T.StringType(), T.DoubleType())),
            T.StructField("l", T.ArrayType(T.DecimalType(12, 3))),
        ]
    )
    glue = G.from_spark(spark_schema)
    assert glue == G.StructType(
        [
            G.Field("a", G.IntegerType()),
            G.Field("m", G.MapType(G.DoubleType())),
            G.Field("l", G.ArrayType(G.DecimalType(12, 3))),
        ]
    )
    assert G.to_spark(glue) == spark_schema


def test_dynamic_record_attribute_access():
    r = G.DynamicRecord({"a": 1})
    r.b = 2
    assert (r.a, r["b"]) == (1, 2)


def test_type_name_parsing_accepts_glue_and_spark_names(spark):
    assert G.parse_type_name("long") == G.parse_type_name("bigint") == T.LongType()
    assert G.parse_type_name("decimal") == T.DecimalType(10, 2)
    assert G.parse_type_name("decimal(12,4)") == T.DecimalType(12, 4)
    assert G.parse_type_name("array<string>") == T.ArrayType(T.StringType())
