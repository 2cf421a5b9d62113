"""Transforms that reshape a frame's fields."""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from awsglue._paths import quote
from awsglue.dynamicframe import DynamicFrame
from awsglue.transforms.transform import GlueTransform


class ApplyMapping(GlueTransform):
    """Keep and cast the mapped fields: ``(source, source type, target, target type)``."""

    def __call__(
        self,
        frame: DynamicFrame,
        mappings: list,
        case_sensitive: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return frame.apply_mapping(
            mappings,
            case_sensitive,
            transformation_ctx,
            info,
            stageThreshold,
            totalThreshold,
        )


class SelectFields(GlueTransform):
    """Keep only the fields at ``paths``."""

    def __call__(
        self,
        frame: DynamicFrame,
        paths: list,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return frame.select_fields(paths, transformation_ctx, info, stageThreshold, totalThreshold)


class DropFields(GlueTransform):
    """Drop the fields at ``paths``."""

    def __call__(
        self,
        frame: DynamicFrame,
        paths: list,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return frame.drop_fields(paths, transformation_ctx, info, stageThreshold, totalThreshold)


class RenameField(GlueTransform):
    """Rename the field at the full path ``old_name`` to ``new_name``."""

    def __call__(
        self,
        frame: DynamicFrame,
        old_name: str,
        new_name: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return frame.rename_field(
            old_name, new_name, transformation_ctx, info, stageThreshold, totalThreshold
        )


class ResolveChoice(GlueTransform):
    """Resolve choice types by ``specs`` or one ``choice`` (``match_catalog`` uses a table)."""

    def __call__(
        self,
        frame: DynamicFrame,
        specs: list | None = None,
        choice: str = "",
        database: str | None = None,
        table_name: str | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        catalog_id: str | None = None,
    ) -> DynamicFrame:
        return frame.resolveChoice(
            specs,
            choice,
            database,
            table_name,
            transformation_ctx,
            info,
            stageThreshold,
            totalThreshold,
            catalog_id,
        )


class DropNullFields(GlueTransform):
    """Drop the top-level fields whose every value is null."""

    def __call__(
        self,
        frame: DynamicFrame,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        df = frame.toDF()
        if not df.columns:
            return frame._derive(df)
        counts = df.select(
            *[F.count(F.col(quote(c))).alias(str(i)) for i, c in enumerate(df.columns)]
        ).first()
        null_fields = [c for i, c in enumerate(df.columns) if counts[str(i)] == 0]
        print("null_fields", null_fields)
        return frame._derive(df.drop(*null_fields))


class Unbox(GlueTransform):
    """Parse the string field at ``path`` (format ``json``) into a struct."""

    def __call__(
        self,
        frame: DynamicFrame,
        path: str,
        format: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        **options: Any,
    ) -> DynamicFrame:
        return frame.unbox(
            path,
            format,
            transformation_ctx,
            info,
            stageThreshold,
            totalThreshold,
            **options,
        )


class UnnestFrame(GlueTransform):
    """Flatten nested structs into top-level ``a.b`` fields."""

    def __call__(
        self,
        frame: DynamicFrame,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return frame.unnest(transformation_ctx, info, stageThreshold, totalThreshold)
