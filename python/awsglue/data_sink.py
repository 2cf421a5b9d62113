"""``glueContext.getSink(...)``: a configurable sink; with ``enableUpdateCatalog=True`` and
``setCatalogInfo`` it also creates or updates the catalog table and its partitions.

``updateBehavior`` ``UPDATE_IN_DATABASE`` (Glue's default) adds new columns to an existing
table; ``LOG`` leaves its schema alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame

from awsglue import _catalog, _formats
from awsglue._options import Options
from awsglue._unsupported import unsupported

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection

_FILE_SINKS = _formats.FILE_CONNECTIONS


class DataSink:
    def __init__(
        self,
        glue_context: GlueContext,
        connection_type: str,
        format: str | None,
        transformation_ctx: str,
        options: dict,
    ) -> None:
        self._glue_context = glue_context
        self._connection_type = connection_type
        self._format = format
        self._format_options: dict = {}
        self._transformation_ctx = transformation_ctx
        self._options = dict(options)
        self._catalog: tuple[str, str] | None = None
        self.name = transformation_ctx

    def setFormat(self, format: str, **options: Any) -> None:
        self._format = format
        self._format_options = options

    def setCatalogInfo(
        self, catalogDatabase: str, catalogTableName: str, catalogId: str = ""
    ) -> None:
        self._catalog = (catalogDatabase, catalogTableName)

    def setAccumulableSize(self, size: int) -> None:
        """Glue's error accumulator size; error records are kept whole here."""

    def writeFrame(self, dynamic_frame: DynamicFrame, info: str = "") -> DynamicFrame:
        """Write the frame; returns its error records as a frame named ``<name>_errors``."""
        self.writeDataFrame(dynamic_frame.toDF(), self._glue_context, info)
        errors = dynamic_frame.errorsAsDynamicFrame()
        errors.name = f"{self.name}_errors"
        return errors

    def write(
        self,
        dynamic_frame_or_dfc: DynamicFrame | DynamicFrameCollection,
        info: str = "",
    ) -> DynamicFrame:
        from awsglue.dynamicframe import DynamicFrameCollection

        if isinstance(dynamic_frame_or_dfc, DynamicFrameCollection):
            return self._glue_context.write_from_options(
                dynamic_frame_or_dfc,
                self._connection_type,
                self._options,
                self._format,
                self._format_options,
                self._transformation_ctx,
            )
        return self.writeFrame(dynamic_frame_or_dfc, info)

    def writeDataFrame(
        self, data_frame: DataFrame, glue_context: GlueContext, info: str = ""
    ) -> None:
        opts = Options(self._options)
        kind = (self._connection_type or "").lower()
        spark = glue_context.spark_session
        if self._catalog is not None and (opts.flag("enableUpdateCatalog") or not opts.get("path")):
            if not opts.flag("enableUpdateCatalog"):
                _catalog.insert_into(spark, data_frame, *self._catalog)
                return
            self._write_and_update_catalog(spark, data_frame, opts)
            return
        if kind not in _FILE_SINKS:
            if kind in (
                "jdbc",
                "mysql",
                "postgresql",
                "oracle",
                "sqlserver",
                "redshift",
            ):
                unsupported(f"JDBC sinks ({kind}) through getSink")
            unsupported(f"'{self._connection_type}' sinks")
        _formats.write_files(data_frame, self._options, self._format, self._format_options)

    def _write_and_update_catalog(self, spark, data_frame: DataFrame, opts: Options) -> None:
        database, table = self._catalog
        exists = _catalog.table_exists(spark, database, table)
        info = _catalog.describe(spark, database, table) if exists else None
        path = opts.get("path") or (info.location if info else None)
        if not path:
            raise ValueError("getSink needs a 'path' to create catalog table " + table)
        fmt = self._format or (info.provider if info else None)
        keys = opts.string_list("partitionKeys") or (info.partition_keys if info else [])
        options = {**self._options, "path": path, "partitionKeys": keys}
        _formats.write_files(data_frame, options, fmt, self._format_options)
        if info is None:
            fmt_opts = Options(self._format_options)
            csv = None
            if _formats.spark_format(fmt) == "csv":
                csv = {
                    "header": str(fmt_opts.flag("writeHeader", True)).lower(),
                    "sep": fmt_opts.get("separator", ","),
                }
            _catalog.create_table(
                spark,
                database,
                table,
                data_frame,
                _formats.spark_format(fmt),
                path,
                keys,
                csv,
            )
        elif str(opts.get("updateBehavior", "UPDATE_IN_DATABASE")).upper() == "UPDATE_IN_DATABASE":
            _catalog.add_missing_columns(spark, database, table, data_frame)
        if keys:
            _catalog.register_partitions(spark, database, table)
        spark.catalog.refreshTable(_catalog.qualified(database, table))
