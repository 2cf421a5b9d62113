"""``GlueContext``: Glue's entry point, a ``pyspark.sql.SQLContext`` over the session's Spark.

Readers and writers for files (``connection_type`` ``s3``/``file``) and the Data Catalog (Spark's
own catalog: a Hive metastore in epoxy drivers). Services only AWS has (Redshift, DynamoDB,
Kinesis/Kafka, catalog JDBC connections, Lake Formation transactions, ML transforms) raise
``NotImplementedError`` naming the feature.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pyspark import SparkContext
from pyspark.sql import DataFrame, SparkSession, SQLContext

from awsglue import _catalog, _formats, _fs, _records
from awsglue._options import Options
from awsglue._unsupported import unsupported
from awsglue.data_sink import DataSink
from awsglue.data_source import DataSource
from awsglue.dynamicframe import (
    DynamicFrame,
    DynamicFrameCollection,
    DynamicFrameReader,
    DynamicFrameWriter,
)

__all__ = ["GlueContext", "GlueLogger"]

_JDBC_TYPES = (
    "jdbc",
    "mysql",
    "postgresql",
    "oracle",
    "sqlserver",
    "redshift",
    "saphana",
)
_AWS_ONLY = {
    "dynamodb": "DynamoDB connections",
    "kinesis": "Kinesis streaming sources",
    "kafka": "Kafka streaming sources",
    "mongodb": "MongoDB connections",
    "documentdb": "DocumentDB connections",
    "opensearch": "OpenSearch connections",
    "azurecosmos": "Azure Cosmos DB connections",
    "bigquery": "BigQuery connections",
    "snowflake": "Snowflake connections",
}


class GlueLogger:
    """``glueContext.get_logger()``: messages go to Python logging (the driver log)."""

    def __init__(self, name: str = "awsglue") -> None:
        self._log = logging.getLogger(name)

    def info(self, msg: Any) -> None:
        self._log.info(msg)

    def warn(self, msg: Any) -> None:
        self._log.warning(msg)

    warning = warn

    def error(self, msg: Any) -> None:
        self._log.error(msg)


class _DataFrameReader:
    """``glueContext.create_data_frame``: the same sources, returning DataFrames."""

    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context

    def from_catalog(
        self,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DataFrame:
        return self._glue_context.create_data_frame_from_catalog(
            database,
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            push_down_predicate,
            additional_options or {},
            catalog_id,
            **kwargs,
        )

    def from_options(
        self,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        **kwargs: Any,
    ) -> DataFrame:
        return self._glue_context.create_data_frame_from_options(
            connection_type,
            connection_options or {},
            format,
            format_options or {},
            transformation_ctx,
            push_down_predicate,
            **kwargs,
        )


class _DataFrameWriter:
    """``glueContext.write_data_frame``."""

    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context

    def from_catalog(
        self,
        frame: DataFrame,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._glue_context.write_data_frame_from_catalog(
            frame,
            database,
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            additional_options or {},
            catalog_id,
            **kwargs,
        )


def _session_of(spark_context: Any) -> SparkSession:
    if isinstance(spark_context, SparkSession):
        return spark_context
    if spark_context is None or isinstance(spark_context, SparkContext):
        return SparkSession.builder.getOrCreate()
    raise TypeError(
        "GlueContext needs a SparkContext, a SparkSession or nothing. Got "
        + type(spark_context).__name__
    )


class GlueContext(SQLContext):
    """Glue's context. ``GlueContext(sc)``, ``GlueContext(spark)`` and ``GlueContext()`` all use
    the session's active SparkSession (the driver's, with its catalog)."""

    def __init__(self, sparkContext: Any = None, **options: Any) -> None:
        session = _session_of(sparkContext)
        super().__init__(session.sparkContext, session)
        self._glue_options = options
        self._logger = GlueLogger()
        self.create_dynamic_frame = DynamicFrameReader(self)
        self.write_dynamic_frame = DynamicFrameWriter(self)
        self.create_data_frame = _DataFrameReader(self)
        self.write_data_frame = _DataFrameWriter(self)

    @property
    def spark_session(self) -> SparkSession:
        return self.sparkSession

    def get_logger(self) -> GlueLogger:
        return self._logger

    # -- sources ----------------------------------------------------------------------------
    def getSource(
        self,
        connection_type: str,
        format: str | None = None,
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        **options: Any,
    ) -> DataSource:
        return DataSource(
            self,
            connection_type,
            format,
            transformation_ctx,
            push_down_predicate,
            options,
        )

    def _read_options(
        self,
        connection_type: str,
        connection_options: dict,
        format: str | None,
        format_options: dict,
        push_down_predicate: str,
    ) -> DataFrame:
        kind = (connection_type or "").lower()
        if kind in _formats.FILE_CONNECTIONS:
            df = _formats.read_files(self.sparkSession, connection_options, format, format_options)
        elif kind in ("parquet", "orc"):
            df = _formats.read_files(self.sparkSession, connection_options, kind, format_options)
        elif kind in _JDBC_TYPES:
            df = self._read_jdbc(kind, connection_options)
        elif kind in _AWS_ONLY:
            unsupported(_AWS_ONLY[kind])
        else:
            raise ValueError(f"Unsupported connection_type '{connection_type}'")
        return df.where(push_down_predicate) if push_down_predicate else df

    def _read_jdbc(self, kind: str, connection_options: dict) -> DataFrame:
        conn = Options(connection_options)
        if kind == "redshift":
            unsupported("Redshift connections")
        if conn.get("connectionName") or conn.flag("useConnectionProperties"):
            unsupported("JDBC through Glue catalog connections")
        if not conn.get("url"):
            raise ValueError("connection_options must give 'url' for a JDBC source")
        reader = self.sparkSession.read.format("jdbc")
        for key in ("url", "dbtable", "query", "user", "password", "driver"):
            if conn.get(key) is not None:
                reader = reader.option(key, conn.get(key))
        return reader.load()

    def create_dynamic_frame_from_options(
        self,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        **kwargs: Any,
    ) -> DynamicFrame:
        df = self._read_options(
            connection_type,
            connection_options or {},
            format,
            format_options or {},
            push_down_predicate,
        )
        return DynamicFrame(df, self, transformation_ctx)

    def create_data_frame_from_options(
        self,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        **kwargs: Any,
    ) -> DataFrame:
        return self._read_options(
            connection_type,
            connection_options or {},
            format,
            format_options or {},
            push_down_predicate,
        )

    def create_dynamic_frame_from_catalog(
        self,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DynamicFrame:
        df = self.create_data_frame_from_catalog(
            database,
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            push_down_predicate,
            additional_options,
            catalog_id,
            **kwargs,
        )
        return DynamicFrame(df, self, table_name or "")

    def create_data_frame_from_catalog(
        self,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DataFrame:
        database = _database_arg(database, kwargs)
        if not table_name:
            raise Exception("Parameter table_name is missing.")
        predicate = push_down_predicate or Options(additional_options).get(
            "catalogPartitionPredicate", ""
        )
        return _catalog.read_table(self.sparkSession, database, table_name, predicate)

    def create_dynamic_frame_from_rdd(
        self,
        data: Any,
        name: str,
        schema: Any = None,
        sample_ratio: float | None = None,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        df = self.sparkSession.createDataFrame(data, schema, sample_ratio)
        return DynamicFrame(df, self, name)

    def create_sample_dynamic_frame_from_options(
        self,
        connection_type: str,
        connection_options: dict | None = None,
        num: int | None = None,
        sample_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        frame = self.create_dynamic_frame_from_options(
            connection_type,
            connection_options,
            format,
            format_options,
            transformation_ctx,
        )
        return frame if num is None else DynamicFrame(frame.toDF().limit(num), self, frame.name)

    def create_sample_dynamic_frame_from_catalog(
        self,
        database: str | None = None,
        table_name: str | None = None,
        num: int | None = None,
        sample_options: dict | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DynamicFrame:
        frame = self.create_dynamic_frame_from_catalog(
            database,
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            push_down_predicate,
            additional_options,
            catalog_id,
            **kwargs,
        )
        return frame if num is None else DynamicFrame(frame.toDF().limit(num), self, frame.name)

    # -- sinks ------------------------------------------------------------------------------
    def getSink(
        self,
        connection_type: str,
        format: str | None = None,
        transformation_ctx: str = "",
        **options: Any,
    ) -> DataSink:
        return DataSink(self, connection_type, format, transformation_ctx, options)

    def write_dynamic_frame_from_options(
        self,
        frame: DynamicFrame,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        return self.write_from_options(
            frame,
            connection_type,
            connection_options or {},
            format,
            format_options or {},
            transformation_ctx,
        )

    def write_from_options(
        self,
        frame_or_dfc: DynamicFrame | DynamicFrameCollection,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
        **kwargs: Any,
    ) -> DynamicFrame:
        """Append a frame (or each frame of a collection, under ``<path>/<name>``)."""
        connection_options = connection_options or {}
        if isinstance(frame_or_dfc, DynamicFrameCollection):
            for name, frame in frame_or_dfc._frames.items():
                sub = dict(connection_options)
                if sub.get("path") and kwargs.get("useFrameName", True):
                    sub["path"] = f"{sub['path'].rstrip('/')}/{name}"
                self.write_from_options(
                    frame,
                    connection_type,
                    sub,
                    format,
                    format_options,
                    transformation_ctx,
                )
            empty = self.sparkSession.createDataFrame([], _records.ERROR_SCHEMA)
            return DynamicFrame(empty, self, "errors")
        sink = self.getSink(connection_type, format, transformation_ctx, **connection_options)
        if format_options:
            sink.setFormat(format, **format_options)
        return sink.writeFrame(frame_or_dfc)

    def write_dynamic_frame_from_catalog(
        self,
        frame: DynamicFrame,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DynamicFrame:
        self.write_data_frame_from_catalog(
            frame.toDF(),
            database,
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            additional_options,
            catalog_id,
            **kwargs,
        )
        return frame.errorsAsDynamicFrame()

    def write_data_frame_from_catalog(
        self,
        frame: DataFrame,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Append to a catalog table in its own location and format; new partitions are
        registered."""
        database = _database_arg(database, kwargs)
        if not table_name:
            raise Exception("Parameter table_name is missing.")
        _catalog.insert_into(self.sparkSession, frame, database, table_name)

    def write_dynamic_frame_from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: dict | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> DynamicFrame:
        unsupported("JDBC through Glue catalog connections (write_dynamic_frame.from_jdbc_conf)")

    def extract_jdbc_conf(self, connection_name: str, catalog_id: str | None = None) -> dict:
        unsupported("Glue catalog connections (extract_jdbc_conf)")

    # -- housekeeping -----------------------------------------------------------------------
    def purge_s3_path(
        self, s3_path: str, options: dict | None = None, transformation_ctx: str = ""
    ) -> None:
        """Delete files under ``s3_path`` older than ``retentionPeriod`` hours (default 168)."""
        opts = Options(options)
        retention_hours = float(opts.get("retentionPeriod", 168))
        cutoff_ms = (time.time() - retention_hours * 3600) * 1000
        deleted, failed = [], []
        for entry in _fs.list_files(self.sparkSession, s3_path, recursive=True):
            if entry.modified_ms < cutoff_ms:
                (deleted if _fs.delete(self.sparkSession, entry.path) else failed).append(
                    entry.path
                )
        manifest = opts.get("manifestFilePath")
        if manifest:
            base = manifest.rstrip("/")
            _fs.write_text(
                self.sparkSession,
                f"{base}/Success.csv",
                "".join(p + "\n" for p in deleted),
            )
            _fs.write_text(
                self.sparkSession,
                f"{base}/Failed.csv",
                "".join(p + "\n" for p in failed),
            )

    def purge_table(
        self,
        database: str,
        table_name: str,
        options: dict | None = None,
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> None:
        """``purge_s3_path`` over the table's (matching) partition locations."""
        predicate = Options(options).get("partitionPredicate", "")
        for location in _catalog.partition_locations(
            self.sparkSession, database, table_name, predicate
        ):
            self.purge_s3_path(location, options, transformation_ctx)

    def transition_s3_path(
        self,
        s3_path: str,
        transition_to: str,
        options: dict | None = None,
        transformation_ctx: str = "",
    ) -> None:
        unsupported("S3 storage class transitions (transition_s3_path)")

    def transition_table(
        self,
        database: str,
        table_name: str,
        transition_to: str,
        options: dict | None = None,
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> None:
        unsupported("S3 storage class transitions (transition_table)")

    def start_transaction(self, read_only: bool, catalog_id: str | None = None) -> str:
        unsupported("Lake Formation transactions")

    def commit_transaction(self, transaction_id: str, wait_for_commit: bool = True) -> bool:
        unsupported("Lake Formation transactions")

    def cancel_transaction(self, transaction_id: str) -> None:
        unsupported("Lake Formation transactions")

    def forEachBatch(self, frame: DataFrame, batch_function: Any, options: dict | None = None):
        unsupported("Glue streaming (forEachBatch over Kinesis/Kafka)")

    def get_catalog_schema_as_spark_schema(
        self, database: str, table_name: str, catalog_id: str | None = None
    ):
        return _catalog.describe(self.sparkSession, database, table_name).schema

    def currentTimeMillis(self) -> int:
        return int(time.time() * 1000)


def _database_arg(database: str | None, kwargs: dict) -> str:
    """Glue accepts ``name_space=`` as an older spelling of ``database``."""
    name_space = kwargs.pop("name_space", None)
    if database and name_space:
        raise Exception("Parameter name_space and database are both specified, choose one.")
    if not database and not name_space:
        raise Exception("Parameter name_space or database is missing.")
    return database or name_space
