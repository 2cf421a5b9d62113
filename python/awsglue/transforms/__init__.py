"""Glue's transform classes; ``from awsglue.transforms import *`` exports exactly Glue's names."""

from __future__ import annotations

from awsglue.transforms.collection_transforms import (
    FlatMap,
    MapToCollection,
    SelectFromCollection,
)
from awsglue.transforms.field_transforms import (
    ApplyMapping,
    DropFields,
    DropNullFields,
    RenameField,
    ResolveChoice,
    SelectFields,
    Unbox,
    UnnestFrame,
)
from awsglue.transforms.frame_transforms import (
    Coalesce,
    ErrorsAsDynamicFrame,
    Join,
    Relationalize,
    Repartition,
    Spigot,
    SplitFields,
    SplitRows,
    Union,
)
from awsglue.transforms.record_transforms import Filter, Map
from awsglue.transforms.transform import GlueTransform

__all__ = [
    "ApplyMapping",
    "Coalesce",
    "DropFields",
    "DropNullFields",
    "ErrorsAsDynamicFrame",
    "Filter",
    "FlatMap",
    "Join",
    "Map",
    "MapToCollection",
    "Relationalize",
    "RenameField",
    "Repartition",
    "ResolveChoice",
    "SelectFields",
    "SelectFromCollection",
    "Spigot",
    "SplitFields",
    "SplitRows",
    "Unbox",
    "Union",
    "UnnestFrame",
]


def get_transforms() -> set[type[GlueTransform]]:
    return {globals()[name] for name in __all__}


def get_transform(name: str) -> type[GlueTransform] | None:
    found = [t for t in get_transforms() if t.name().lower() == name.lower()]
    return found[0] if found else None


def describe_transform(name: str) -> dict:
    transform = get_transform(name)
    if transform is None:
        raise ValueError(f"Unknown transform '{name}'")
    return transform.describe()
