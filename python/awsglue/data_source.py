"""``glueContext.getSource(...)``: a configurable source that yields frames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame


class DataSource:
    def __init__(
        self,
        glue_context: GlueContext,
        connection_type: str,
        format: str | None,
        transformation_ctx: str,
        push_down_predicate: str,
        options: dict,
    ) -> None:
        self._glue_context = glue_context
        self._connection_type = connection_type
        self._format = format
        self._format_options: dict = {}
        self._transformation_ctx = transformation_ctx
        self._push_down_predicate = push_down_predicate
        self._options = dict(options)
        self.name = transformation_ctx

    def setFormat(self, format: str, **options: Any) -> None:
        self._format = format
        self._format_options = options

    def getDataFrame(self, **options: Any) -> DataFrame:
        return self._glue_context.create_data_frame_from_options(
            self._connection_type,
            {**self._options, **options},
            self._format,
            self._format_options,
            self._transformation_ctx,
            self._push_down_predicate,
        )

    def getFrame(self, **options: Any) -> DynamicFrame:
        from awsglue.dynamicframe import DynamicFrame

        return DynamicFrame(self.getDataFrame(**options), self._glue_context, self.name)

    def getSampleFrame(self, num: int, **options: Any) -> DynamicFrame:
        from awsglue.dynamicframe import DynamicFrame

        df = self.getDataFrame(**options).limit(num)
        return DynamicFrame(df, self._glue_context, self.name)
