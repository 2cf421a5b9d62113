"""Catalog-backed calls against Spark's Hive catalog (a Derby metastore in a temp dir)."""

from __future__ import annotations

import os

import pytest
from pyspark.sql import SparkSession
from support import rows

from awsglue.dynamicframe import DynamicFrame
from awsglue.transforms import ResolveChoice


@pytest.fixture(scope="module")
def sales(spark, glue_context, tmp_path_factory):
    """A partitioned parquet table made through getSink + enableUpdateCatalog."""
    location = str(tmp_path_factory.mktemp("sales"))
    df = spark.createDataFrame(
        [(1, 9.5, "eu"), (2, 3.0, "us")], "id long, amount double, region string"
    )
    sink = glue_context.getSink(
        path=location,
        connection_type="s3",
        updateBehavior="UPDATE_IN_DATABASE",
        partitionKeys=["region"],
        compression="snappy",
        enableUpdateCatalog=True,
        transformation_ctx="s3output",
    )
    sink.setCatalogInfo(catalogDatabase="shop", catalogTableName="sales")
    sink.setFormat("glueparquet")
    sink.writeFrame(DynamicFrame.fromDF(df, glue_context, "sales"))
    return location


def test_get_sink_creates_table_with_partitions(spark, sales):
    table = spark.catalog.getTable("shop.sales")
    assert table.tableType == "EXTERNAL"
    props = {r.key: r.value for r in spark.sql("SHOW TBLPROPERTIES shop.sales").collect()}
    assert props["classification"] == "parquet"
    parts = sorted(r[0] for r in spark.sql("SHOW PARTITIONS shop.sales").collect())
    assert parts == ["region=eu", "region=us"]
    assert sorted(os.listdir(sales))[-2:] == ["region=eu", "region=us"]


def test_from_catalog_with_push_down_predicate(glue_context, sales):
    dyf = glue_context.create_dynamic_frame.from_catalog(
        database="shop", table_name="sales", push_down_predicate="region = 'eu'"
    )
    assert dyf.toDF().columns == ["id", "amount", "region"]
    assert rows(dyf) == [(1, 9.5, "eu")]
    df = glue_context.create_data_frame.from_catalog(database="shop", table_name="sales")
    assert df.count() == 2
    with pytest.raises(Exception, match="Parameter table_name is missing."):
        glue_context.create_dynamic_frame.from_catalog(database="shop")
    with pytest.raises(Exception, match="both specified"):
        glue_context.create_dynamic_frame_from_catalog("shop", "sales", name_space="shop")


def test_sink_adds_partitions_and_columns(spark, glue_context, sales):
    df = spark.createDataFrame(
        [(3, 1.0, "apac", "new")], "id long, amount double, region string, note string"
    )
    sink = glue_context.getSink(
        connection_type="s3", path=sales, enableUpdateCatalog=True, partitionKeys=["region"]
    )
    sink.setCatalogInfo("shop", "sales")
    sink.setFormat("glueparquet")
    sink.writeFrame(DynamicFrame.fromDF(df, glue_context, "more"))
    parts = sorted(r[0] for r in spark.sql("SHOW PARTITIONS shop.sales").collect())
    assert parts == ["region=apac", "region=eu", "region=us"]
    assert "note" in [c.name for c in spark.catalog.listColumns("shop.sales")]
    got = glue_context.create_dynamic_frame.from_catalog(
        database="shop", table_name="sales", push_down_predicate="region = 'apac'"
    )
    assert rows(got.select_fields(["id", "note"])) == [(3, "new")]


def test_write_from_catalog_appends_and_registers(spark, glue_context, sales):
    df = spark.createDataFrame([("latam", 4, "7")], "region string, id int, amount string")
    glue_context.write_dynamic_frame.from_catalog(
        frame=DynamicFrame.fromDF(df, glue_context, "x"), database="shop", table_name="sales"
    )
    got = spark.table("shop.sales").where("region = 'latam'").select("id", "amount")
    assert rows(got) == [(4, 7.0)]


def test_match_catalog(spark, glue_context, sales):
    df = spark.createDataFrame([("5", "2.5", "eu")], "id string, amount string, region string")
    frame = DynamicFrame.fromDF(df, glue_context, "m")
    matched = ResolveChoice.apply(
        frame=frame, choice="match_catalog", database="shop", table_name="sales"
    )
    assert [f.dataType.simpleString() for f in matched.toDF().schema.fields] == [
        "bigint",
        "double",
        "string",
    ]


def test_purge_table_by_partition(glue_context, sales):
    import time

    past = time.time() - 400 * 3600
    for root, _, files in os.walk(os.path.join(sales, "region=us")):
        for f in files:
            os.utime(os.path.join(root, f), (past, past))
    glue_context.purge_table("shop", "sales", {"partitionPredicate": "region = 'us'"})
    assert not [f for f in os.listdir(os.path.join(sales, "region=us")) if f.endswith(".parquet")]
    assert [f for f in os.listdir(os.path.join(sales, "region=eu")) if f.endswith(".parquet")]


def test_csv_table_through_sink(spark, glue_context, tmp_path):
    df = spark.createDataFrame([(1, "a")], "id long, v string")
    sink = glue_context.getSink(connection_type="s3", path=str(tmp_path), enableUpdateCatalog=True)
    sink.setCatalogInfo("shop", "letters")
    sink.setFormat("csv")
    sink.writeFrame(DynamicFrame.fromDF(df, glue_context, "l"))
    assert rows(
        glue_context.create_data_frame.from_catalog(database="shop", table_name="letters")
    ) == [(1, "a")]


def test_session_without_catalog_is_a_clear_error(monkeypatch, glue_context):
    from awsglue import _catalog

    class NoHive:
        class conf:  # noqa: N801 - mimics SparkSession.conf
            @staticmethod
            def get(key, default=None):
                return "in-memory"

    with pytest.raises(_catalog.CatalogUnavailableError, match="Hive support"):
        _catalog.read_table(NoHive(), "shop", "sales")
    assert isinstance(glue_context.spark_session, SparkSession)


def test_hive_format_table_takes_sink_format_from_catalog(spark, glue_context):
    spark.sql(
        "CREATE TABLE shop.hv (id bigint) PARTITIONED BY (p string) STORED AS PARQUET "
        "TBLPROPERTIES ('classification'='parquet')"
    )
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, p string")
    sink = glue_context.getSink(
        connection_type="s3", enableUpdateCatalog=True, updateBehavior="LOG"
    )
    sink.setCatalogInfo("shop", "hv")
    sink.writeFrame(DynamicFrame.fromDF(df, glue_context, "h"))
    got = glue_context.create_dynamic_frame.from_catalog(
        database="shop", table_name="hv", push_down_predicate="p = 'b'"
    )
    assert rows(got) == [(2, "b")]
