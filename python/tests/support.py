"""Helpers the tests share: rows and schemas of frames as plain values."""

from __future__ import annotations


def rows(frame) -> list[tuple]:
    """A DynamicFrame's or DataFrame's rows as plain tuples, in a stable order."""
    df = frame.toDF() if hasattr(frame, "toDF") and not hasattr(frame, "rdd") else frame
    return sorted((tuple(r) for r in df.collect()), key=repr)


def schema_text(frame) -> str:
    """``printSchema`` text of a DynamicFrame."""
    from awsglue.gluetypes import schema_tree

    return schema_tree(frame.schema())
