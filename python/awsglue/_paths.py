"""Glue field paths: ``a.b.c`` walks into structs, backticks quote a name that holds dots.

>>> split_path("a.b.c")
['a', 'b', 'c']
>>> split_path("`sum(x.y)`.z")
['sum(x.y)', 'z']
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T


def split_path(path: str) -> list[str]:
    """The path's segments; a backtick-quoted segment keeps its dots."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in path:
        if ch == "`":
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise ValueError(f"Unbalanced backtick in field path '{path}'")
    parts.append("".join(current))
    return parts


def quote(name: str) -> str:
    """A name as Spark's column resolver reads it literally."""
    return "`" + name.replace("`", "``") + "`"


def find_field(
    schema: T.StructType, parts: list[str], case_sensitive: bool = True
) -> tuple[list[str], T.DataType] | None:
    """The real (cased) segments and type of a nested path, or None when it is absent."""
    real: list[str] = []
    current: T.DataType = schema
    for part in parts:
        if not isinstance(current, T.StructType):
            return None
        match = next((f for f in current.fields if f.name == part), None)
        if match is None and not case_sensitive:
            match = next((f for f in current.fields if f.name.lower() == part.lower()), None)
        if match is None:
            return None
        real.append(match.name)
        current = match.dataType
    return real, current


def column_at(parts: list[str]) -> Column:
    """The column expression reading a nested path."""
    col = F.col(quote(parts[0]))
    for part in parts[1:]:
        col = col.getField(part)
    return col


class FieldTree:
    """Columns placed at nested paths, built into top-level (struct) columns in insertion order."""

    def __init__(self) -> None:
        self.children: dict[str, FieldTree | Column] = {}

    def put(self, parts: list[str], col: Column) -> None:
        node = self
        for part in parts[:-1]:
            child = node.children.get(part)
            if not isinstance(child, FieldTree):
                child = FieldTree()
                node.children[part] = child
            node = child
        node.children[parts[-1]] = col

    def columns(self) -> list[Column]:
        return [self._build(v).alias(k) for k, v in self.children.items()]

    def _build(self, node: FieldTree | Column) -> Column:
        if isinstance(node, FieldTree):
            return F.struct(*node.columns())
        return node


def prune(dt: T.DataType, prefix: list[str], keep: list[list[str]]) -> Column | None:
    """Rebuild the column at ``prefix`` keeping only the sub-paths in ``keep`` (None: nothing)."""
    if any(len(k) == 0 for k in keep) or not isinstance(dt, T.StructType):
        return column_at(prefix)
    parts = []
    for f in dt.fields:
        sub = [k[1:] for k in keep if k[0] == f.name]
        if sub:
            col = prune(f.dataType, prefix + [f.name], sub)
            if col is not None:
                parts.append(col.alias(f.name))
    return F.struct(*parts) if parts else None
