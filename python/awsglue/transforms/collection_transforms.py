"""Transforms over DynamicFrameCollections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection
from awsglue.transforms.transform import GlueTransform


class SelectFromCollection(GlueTransform):
    """The frame named ``key``."""

    def __call__(
        self, dfc: DynamicFrameCollection, key: str, transformation_ctx: str = ""
    ) -> DynamicFrame:
        return dfc.select(key, transformation_ctx)


class MapToCollection(GlueTransform):
    """``callable(frame, ctx)`` applied to every frame."""

    def __call__(
        self,
        dfc: DynamicFrameCollection,
        callable: Callable,
        transformation_ctx: str = "",
    ) -> DynamicFrameCollection:
        return dfc.map(callable, transformation_ctx)


class FlatMap(GlueTransform):
    """``BaseTransform`` applied to every frame, passed as argument ``frame_name``."""

    def __call__(
        self,
        dfc: DynamicFrameCollection,
        BaseTransform: type[GlueTransform],
        frame_name: str,
        transformation_ctx: str = "",
        **base_kwargs: Any,
    ) -> DynamicFrameCollection:
        def apply_one(frame: DynamicFrame, ctx: str) -> Any:
            return BaseTransform.apply(
                **{**base_kwargs, frame_name: frame, "transformation_ctx": ctx}
            )

        return dfc.flatmap(apply_one, transformation_ctx)
