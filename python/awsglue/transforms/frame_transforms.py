"""Transforms that combine, split or re-partition frames."""

from __future__ import annotations

from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection
from awsglue.transforms.transform import GlueTransform


class Join(GlueTransform):
    """Inner equi-join of ``frame1.keys1`` with ``frame2.keys2``."""

    def __call__(
        self,
        frame1: DynamicFrame,
        frame2: DynamicFrame,
        keys1: list,
        keys2: list,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        return frame1.join(keys1, keys2, frame2, transformation_ctx)


class Union(GlueTransform):
    """The records of both frames (fields matched by name)."""

    def __call__(
        self,
        frame1: DynamicFrame,
        frame2: DynamicFrame,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return frame1.union(frame2, transformation_ctx, info, stageThreshold, totalThreshold)


class SplitFields(GlueTransform):
    """Split the fields at ``paths`` off into ``name1``; the rest stay in ``name2``."""

    def __call__(
        self,
        frame: DynamicFrame,
        paths: list,
        name1: str | None = None,
        name2: str | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        base = frame.name or "frame"
        return frame.split_fields(
            paths,
            name1 or f"{base}1",
            name2 or f"{base}2",
            transformation_ctx,
            info,
            stageThreshold,
            totalThreshold,
        )


class SplitRows(GlueTransform):
    """Split the records meeting ``comparison_dict`` off into ``name1``."""

    def __call__(
        self,
        frame: DynamicFrame,
        comparison_dict: dict,
        name1: str = "frame1",
        name2: str = "frame2",
        transformation_ctx: str = "",
        info: str | None = None,
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        return frame.split_rows(
            comparison_dict,
            name1,
            name2,
            transformation_ctx,
            info or "",
            stageThreshold,
            totalThreshold,
        )


class Relationalize(GlueTransform):
    """Flatten the frame and pivot its arrays into child frames (staged under
    ``staging_path``, default ``--TempDir``)."""

    def __call__(
        self,
        frame: DynamicFrame,
        staging_path: str | None = None,
        name: str = "roottable",
        options: dict | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        return frame.relationalize(
            name,
            staging_path,
            options or {},
            transformation_ctx,
            info,
            stageThreshold,
            totalThreshold,
        )


class Spigot(GlueTransform):
    """Write a sample of the frame to ``path``; the frame passes through."""

    def __call__(
        self,
        frame: DynamicFrame,
        path: str,
        options: dict | None = None,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        return frame.spigot(path, options or {}, transformation_ctx)


class Repartition(GlueTransform):
    """The frame in ``num_partitions`` partitions (shuffled)."""

    def __call__(
        self,
        frame: DynamicFrame,
        num_partitions: int,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return frame.repartition(
            num_partitions, transformation_ctx, info, stageThreshold, totalThreshold
        )


class Coalesce(GlueTransform):
    """The frame in at most ``num_partitions`` partitions."""

    def __call__(
        self,
        frame: DynamicFrame,
        num_partitions: int,
        shuffle: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return frame.coalesce(
            num_partitions,
            shuffle,
            transformation_ctx,
            info,
            stageThreshold,
            totalThreshold,
        )


class ErrorsAsDynamicFrame(GlueTransform):
    """The error records of the stages that built ``frame``."""

    def __call__(self, frame: DynamicFrame) -> DynamicFrame:
        return frame.errorsAsDynamicFrame()
