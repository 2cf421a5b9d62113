"""The Data Catalog as Spark sees it: every catalog-backed Glue call goes through Spark's own
catalog (a Hive metastore in epoxy drivers), so it works with any Hive-enabled session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue._paths import quote


class CatalogUnavailableError(RuntimeError):
    """The session's Spark has no persistent catalog to stand in for the Glue Data Catalog."""


def require_catalog(spark: SparkSession) -> None:
    impl = spark.conf.get("spark.sql.catalogImplementation", "in-memory")
    if impl != "hive":
        raise CatalogUnavailableError(
            "The Glue Data Catalog is not available in this Spark session "
            f"(spark.sql.catalogImplementation={impl}); catalog calls need a session built with "
            "Hive support"
        )


def _check_names(database: str | None, table_name: str | None) -> None:
    if not database:
        raise Exception("Parameter database is missing.")
    if not table_name:
        raise Exception("Parameter table_name is missing.")


def qualified(database: str, table_name: str) -> str:
    return f"{quote(database)}.{quote(table_name)}"


@dataclass(frozen=True)
class TableInfo:
    location: str
    provider: str
    columns: list[str]
    partition_keys: list[str]
    schema: T.StructType


def table_exists(spark: SparkSession, database: str, table_name: str) -> bool:
    require_catalog(spark)
    return spark.catalog.tableExists(qualified(database, table_name))


def describe(spark: SparkSession, database: str | None, table_name: str | None) -> TableInfo:
    """Location, format and columns of a catalog table (EntityNotFound-like error when absent)."""
    _check_names(database, table_name)
    require_catalog(spark)
    if not spark.catalog.tableExists(qualified(database, table_name)):
        raise Exception(f"Table {table_name} not found in database {database}")
    name = qualified(database, table_name)
    details = {
        r["col_name"]: r["data_type"]
        for r in spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()
        if r["col_name"]
    }
    columns = spark.catalog.listColumns(qualified(database, table_name))
    return TableInfo(
        location=details.get("Location", ""),
        provider=_file_format(details),
        columns=[c.name for c in columns],
        partition_keys=[c.name for c in columns if c.isPartition],
        schema=spark.table(name).schema,
    )


def _file_format(details: dict[str, str]) -> str:
    """A table's file format: its Spark provider, else Glue's ``classification`` property, else
    what its Hive input format / SerDe name says."""
    provider = (details.get("Provider") or "hive").lower()
    if provider != "hive":
        return provider
    found = re.search(r"classification=([A-Za-z]+)", details.get("Table Properties", ""))
    if found:
        return found.group(1).lower()
    hints = (details.get("InputFormat", "") + details.get("Serde Library", "")).lower()
    return next((f for f in ("parquet", "orc", "json") if f in hints), "csv")


def read_table(
    spark: SparkSession,
    database: str | None,
    table_name: str | None,
    push_down_predicate: str = "",
) -> DataFrame:
    """The table's rows; a push-down predicate on partition columns prunes partitions."""
    _check_names(database, table_name)
    require_catalog(spark)
    if not spark.catalog.tableExists(qualified(database, table_name)):
        raise Exception(f"Table {table_name} not found in database {database}")
    df = spark.table(qualified(database, table_name))
    return df.where(push_down_predicate) if push_down_predicate else df


def align(df: DataFrame, schema: T.StructType) -> DataFrame:
    """``df`` with the table's columns, order and types (names matched ignoring case)."""
    by_lower = {c.lower(): c for c in df.columns}
    cols = []
    for field in schema.fields:
        src = by_lower.get(field.name.lower())
        col = F.col(quote(src)) if src is not None else F.lit(None)
        cols.append(col.cast(field.dataType).alias(field.name))
    return df.select(*cols)


def insert_into(spark: SparkSession, df: DataFrame, database: str, table_name: str) -> None:
    """Append ``df`` to the table; new partitions are registered by Spark's insert."""
    info = describe(spark, database, table_name)
    spark.conf.set("hive.exec.dynamic.partition", "true")
    spark.conf.set("hive.exec.dynamic.partition.mode", "nonstrict")
    align(df, info.schema).write.insertInto(qualified(database, table_name))


def create_table(
    spark: SparkSession,
    database: str,
    table_name: str,
    df: DataFrame,
    fmt: str,
    location: str,
    partition_keys: list[str],
    csv_options: dict[str, str] | None = None,
) -> None:
    """A table over ``location`` with ``df``'s schema, Glue's ``classification`` property set."""
    require_catalog(spark)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
    ordered = [c for c in df.columns if c not in partition_keys] + list(partition_keys)
    ddl = df.select(*[quote(c) for c in ordered])._jdf.schema().toDDL()
    parts = (
        f" PARTITIONED BY ({', '.join(quote(k) for k in partition_keys)})" if partition_keys else ""
    )
    opts = ""
    if csv_options:
        opts = " OPTIONS (" + ", ".join(f"'{k}' '{v}'" for k, v in csv_options.items()) + ")"
    loc = location.replace("'", "\\'")
    spark.sql(
        f"CREATE TABLE {qualified(database, table_name)} ({ddl}) USING {fmt}{opts}{parts} "
        f"LOCATION '{loc}' TBLPROPERTIES ('classification'='{fmt}')"
    )


def add_missing_columns(spark: SparkSession, database: str, table_name: str, df: DataFrame) -> None:
    """Glue's ``UPDATE_IN_DATABASE``: columns the frame has and the table lacks are added."""
    info = describe(spark, database, table_name)
    known = {c.lower() for c in info.columns}
    new = [f for f in df.schema.fields if f.name.lower() not in known]
    if new:
        ddl = ", ".join(f"{quote(f.name)} {f.dataType.simpleString()}" for f in new)
        spark.sql(f"ALTER TABLE {qualified(database, table_name)} ADD COLUMNS ({ddl})")


def register_partitions(spark: SparkSession, database: str, table_name: str) -> None:
    """Make partition directories written under the table's location visible in the catalog."""
    spark.sql(f"ALTER TABLE {qualified(database, table_name)} RECOVER PARTITIONS")


def partition_locations(
    spark: SparkSession, database: str, table_name: str, predicate: str = ""
) -> list[str]:
    """Locations of the table's partitions matching ``predicate`` (all when empty)."""
    info = describe(spark, database, table_name)
    if not info.partition_keys:
        return [info.location]
    specs = [
        r[0] for r in spark.sql(f"SHOW PARTITIONS {qualified(database, table_name)}").collect()
    ]
    if not specs:
        return []
    keys = info.partition_keys
    types = {f.name: f.dataType for f in info.schema.fields}
    schema = T.StructType([T.StructField(k, T.StringType()) for k in ["__spec", *keys]])
    parsed = [dict(kv.split("=", 1) for kv in spec.split("/")) for spec in specs]
    frame = spark.createDataFrame(
        [(spec, *(p.get(k) for k in keys)) for spec, p in zip(specs, parsed, strict=True)], schema
    )
    typed = frame.select("__spec", *[F.col(quote(k)).cast(types[k]).alias(k) for k in keys])
    if predicate:
        typed = typed.where(predicate)
    return [f"{info.location.rstrip('/')}/{r['__spec']}" for r in typed.collect()]
