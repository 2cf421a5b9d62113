"""``DynamicFrame``: Glue's frame of self-describing records, here a thin layer over a PySpark
DataFrame (plus a name and the error records of the ``map``/``filter`` stages that built it).

A DataFrame column has one type, so Glue's ``choice`` types never arise from reads: a column
whose values disagree is read with Spark's widened type, and ``resolveChoice`` casts it.

Example (in a session)::

    dyf = DynamicFrame.fromDF(spark.createDataFrame([(1, "a")], "id long, v string"), ctx, "t")
    dyf.printSchema()   # root / |-- id: long / |-- v: string
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from functools import reduce
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import _catalog, _records
from awsglue._paths import FieldTree, column_at, find_field, prune, quote, split_path
from awsglue.gluetypes import StructType, from_spark, parse_type_name, schema_tree

if TYPE_CHECKING:
    from awsglue.context import GlueContext

__all__ = [
    "DynamicFrame",
    "DynamicFrameCollection",
    "DynamicFrameReader",
    "DynamicFrameWriter",
    "ResolveOption",
]


class ResolveOption:
    """How ``toDF`` resolves a choice at ``path``: ``Project``/``Cast`` to ``target``, or
    ``KeepAsStruct``."""

    def __init__(self, path: str, action: str, target: Any = None) -> None:
        self.path = path
        self.action = action
        self.target = target


def _as_list(paths: str | Iterable[str]) -> list[str]:
    return [paths] if isinstance(paths, str) else list(paths)


def _with_column_at(df: DataFrame, parts: list[str], value: Column) -> DataFrame:
    """``df`` with the (possibly nested) field at ``parts`` set to ``value``."""
    if len(parts) == 1:
        return df.withColumn(parts[0], value)
    return df.withColumn(
        parts[0],
        F.col(quote(parts[0])).withField(".".join(quote(p) for p in parts[1:]), value),
    )


def _drop_at(df: DataFrame, parts: list[str]) -> DataFrame:
    if len(parts) == 1:
        return df.drop(parts[0])
    parent = find_field(df.schema, parts[:-1])
    if parent is not None and isinstance(parent[1], T.StructType) and len(parent[1].fields) == 1:
        return _drop_at(df, parts[:-1])
    return df.withColumn(
        parts[0],
        F.col(quote(parts[0])).dropFields(".".join(quote(p) for p in parts[1:])),
    )


def _resolve(df: DataFrame, path: str, case_sensitive: bool = True) -> list[str] | None:
    """Real segments of ``path`` in ``df``; a top-level column literally named ``path`` counts."""
    found = find_field(df.schema, split_path(path), case_sensitive)
    if found is None:
        found = find_field(df.schema, [path], case_sensitive)
    return found[0] if found else None


_COMPARATORS: dict[str, Callable[[Column, Any], Column]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
}


class DynamicFrame:
    """A named frame of records over a PySpark DataFrame."""

    def __init__(self, jdf: Any, glue_ctx: GlueContext, name: str = "") -> None:
        if not isinstance(jdf, DataFrame):
            jdf = DataFrame(jdf, glue_ctx.spark_session)
        self._df = jdf
        self.glue_ctx = glue_ctx
        self.name = name
        self._prior_errors: list[DataFrame] = []
        self._stage_errors: DataFrame | None = None
        self._thresholds = (0, 0)

    # -- conversion -------------------------------------------------------------------------
    @property
    def _jdf(self) -> Any:
        return self._df._jdf

    @classmethod
    def fromDF(cls, dataframe: DataFrame, glue_ctx: GlueContext, name: str) -> DynamicFrame:
        """Wrap a DataFrame."""
        return cls(dataframe, glue_ctx, name)

    def toDF(self, options: list[ResolveOption] | None = None) -> DataFrame:
        """The DataFrame; ``Project``/``Cast`` options cast their path to ``target``."""
        df = self._df
        for option in options or []:
            if option.action != "KeepAsStruct" and option.target is None:
                raise Exception(f"Missing target type for resolve action {option.action}.")
            if option.action in ("Project", "Cast"):
                real = _resolve(df, option.path)
                if real is not None:
                    df = _with_column_at(df, real, column_at(real).cast(option.target))
        return df

    def _derive(self, df: DataFrame, name: str | None = None) -> DynamicFrame:
        """A new frame over ``df`` that carries this frame's error records forward."""
        out = DynamicFrame(df, self.glue_ctx, self.name if name is None else name)
        out._prior_errors = self._all_errors()
        return out

    # -- inspection -------------------------------------------------------------------------
    def schema(self) -> StructType:
        """The Glue schema (``awsglue.gluetypes.StructType``)."""
        return from_spark(self._df.schema)

    def printSchema(self) -> None:
        print(schema_tree(self.schema()), end="")

    def show(self, num_rows: int = 20) -> None:
        """Print up to ``num_rows`` records as JSON objects, one per line (as Glue does)."""
        for line in self._df.limit(num_rows).toJSON().collect():
            print(line)

    def count(self) -> int:
        return self._df.count()

    def getNumPartitions(self) -> int:
        return self._df.rdd.getNumPartitions()

    def repartition(
        self,
        num_partitions: int,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return self._derive(self._df.repartition(num_partitions))

    def coalesce(
        self,
        num_partitions: int,
        shuffle: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        df = self._df.repartition(num_partitions) if shuffle else self._df.coalesce(num_partitions)
        return self._derive(df)

    # -- errors -----------------------------------------------------------------------------
    def _all_errors(self) -> list[DataFrame]:
        return self._prior_errors + ([self._stage_errors] if self._stage_errors is not None else [])

    def errorsCount(self) -> int:
        """Error records of every map/filter stage that led to this frame."""
        return sum(e.count() for e in self._all_errors())

    def stageErrorsCount(self) -> int:
        """Error records of the stage that produced this frame."""
        return 0 if self._stage_errors is None else self._stage_errors.count()

    def errorsAsDynamicFrame(self) -> DynamicFrame:
        """The error records: ``transformation``, ``errorMessage`` and the ``record`` as JSON."""
        spark = self.glue_ctx.spark_session
        frames = self._all_errors() or [spark.createDataFrame([], _records.ERROR_SCHEMA)]
        return DynamicFrame(
            reduce(DataFrame.unionByName, frames), self.glue_ctx, self.name + "_errors"
        )

    def assertErrorThreshold(self) -> None:
        """Fail when the stage or total error count is over the thresholds it was built with."""
        stage_limit, total_limit = self._thresholds
        if stage_limit > 0 and self.stageErrorsCount() > stage_limit:
            raise Exception(
                f"Exceeded stageThreshold {stage_limit}: {self.stageErrorsCount()} error records"
            )
        if total_limit > 0 and self.errorsCount() > total_limit:
            raise Exception(
                f"Exceeded totalThreshold {total_limit}: {self.errorsCount()} error records"
            )

    def _with_stage(self, df: DataFrame, errors: DataFrame, stage: int, total: int) -> DynamicFrame:
        out = self._derive(df)
        out._stage_errors = errors
        out._thresholds = (stage, total)
        if stage > 0 or total > 0:
            out.assertErrorThreshold()
        return out

    # -- record functions -------------------------------------------------------------------
    def filter(
        self,
        f: Callable[[Any], bool],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Keep records for which ``f`` is true. A KeyError/ValueError/TypeError in ``f`` drops
        the record; any other exception makes it an error record."""
        stage = transformation_ctx or "Filter"

        def judge(row):
            try:
                return (bool(f(_records.to_record(row))), None)
            except (KeyError, ValueError, TypeError):
                return (False, None)
            except Exception as e:  # user code: anything else is an error record
                return (
                    False,
                    _records.error_row(stage, str(e), row.asDict(recursive=True)),
                )

        judged = self._df.rdd.map(lambda row: (row, *judge(row)))
        spark = self.glue_ctx.spark_session
        kept = spark.createDataFrame(
            judged.filter(lambda t: t[1]).map(lambda t: t[0]), self._df.schema
        )
        errors = spark.createDataFrame(
            judged.filter(lambda t: t[2] is not None).map(lambda t: t[2]),
            _records.ERROR_SCHEMA,
        )
        return self._with_stage(kept, errors, stageThreshold, totalThreshold)

    def map(
        self,
        f: Callable[[Any], Any],
        preservesPartitioning: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Replace each record by ``f(record)``; an exception or a falsy result makes an error
        record."""
        stage = transformation_ctx or "Map"

        def apply(row):
            record = _records.to_record(row)
            try:
                out = f(record)
            except Exception as e:  # user code: every failure is an error record
                return (
                    None,
                    _records.error_row(stage, str(e), row.asDict(recursive=True)),
                )
            if not out:
                message = "User-specified function returned None instead of DynamicRecord"
                return (
                    None,
                    _records.error_row(stage, message, row.asDict(recursive=True)),
                )
            try:
                return (_records.to_json(out), None)
            except (TypeError, ValueError) as e:
                return (
                    None,
                    _records.error_row(stage, str(e), row.asDict(recursive=True)),
                )

        applied = self._df.rdd.map(apply, preservesPartitioning)
        spark = self.glue_ctx.spark_session
        ok = applied.filter(lambda t: t[0] is not None).map(lambda t: t[0])
        df = _records.records_to_frame(spark, ok, self._df.schema)
        errors = spark.createDataFrame(
            applied.filter(lambda t: t[1] is not None).map(lambda t: t[1]),
            _records.ERROR_SCHEMA,
        )
        return self._with_stage(df, errors, stageThreshold, totalThreshold)

    # -- field transforms -------------------------------------------------------------------
    def applyMapping(self, *args: Any, **kwargs: Any) -> DynamicFrame:
        return self.apply_mapping(*args, **kwargs)

    def apply_mapping(
        self,
        mappings: list[tuple],
        case_sensitive: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Only the mapped fields, in mapping order, cast to their target types. Each mapping is
        ``(source path, source type, target path, target type)``; dotted targets build structs."""
        if isinstance(mappings, tuple):
            mappings = [mappings]
        tree = FieldTree()
        for mapping in mappings:
            if not isinstance(mapping, (tuple, list)) or len(mapping) != 4:
                raise ValueError(
                    "Mapping must be a tuple of (source path, source type, target path, target "
                    f"type). Got {mapping!r}"
                )
            src, _src_type, dst, dst_type = mapping
            real = _resolve(self._df, src, case_sensitive)
            if real is None:
                continue
            tree.put(split_path(dst), column_at(real).cast(parse_type_name(dst_type)))
        return self._derive(self._df.select(*tree.columns()))

    def select_fields(
        self,
        paths: str | list[str],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Keep only ``paths`` (nested paths keep part of a struct), in the frame's field order."""
        keep = [r for r in (_resolve(self._df, p) for p in _as_list(paths)) if r is not None]
        cols = []
        for field in self._df.schema.fields:
            sub = [k[1:] for k in keep if k[0] == field.name]
            if sub:
                col = prune(field.dataType, [field.name], sub)
                if col is not None:
                    cols.append(col.alias(field.name))
        return self._derive(self._df.select(*cols))

    def drop_fields(
        self,
        paths: str | list[str],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        df = self._df
        for path in _as_list(paths):
            real = _resolve(df, path)
            if real is not None:
                df = _drop_at(df, real)
        return self._derive(df)

    def rename_field(
        self,
        oldName: str,
        newName: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Rename the field at ``oldName`` (a full path) to the full path ``newName``."""
        real = _resolve(self._df, oldName)
        if real is None:
            return self._derive(self._df)
        new = split_path(newName)
        if len(new) == 1 and len(real) > 1:
            new = real[:-1] + new
        if len(real) == 1 and len(new) == 1:
            return self._derive(self._df.withColumnRenamed(real[0], new[0]))
        if new[:-1] == real[:-1]:
            renamed = _rename_in(self._df.schema[real[0]].dataType, real[1:], new[-1])
            return self._derive(self._df.withColumn(real[0], F.col(quote(real[0])).cast(renamed)))
        value = column_at(real)
        return self._derive(_drop_at(_with_column_at(self._df, new, value), real))

    def resolveChoice(
        self,
        specs: list[tuple[str, str]] | None = None,
        choice: str = "",
        database: str | None = None,
        table_name: str | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        catalog_id: str | None = None,
    ) -> DynamicFrame:
        """Resolve choice types: ``specs`` per path or one ``choice`` for all.

        Actions ``cast:<type>`` and ``project:<type>`` cast the field; ``make_cols`` and
        ``make_struct`` change only choice fields (none arise here); ``match_catalog`` casts to
        the types of ``database.table_name``."""
        if specs is None and not choice:
            raise Exception("Parameter specs and option are both missing, add one.")
        if specs is not None and choice:
            raise Exception("Parameter specs and option are both specified, choose one.")
        df = self._df
        if choice:
            if choice.lower() == "match_catalog":
                df = self._match_catalog(df, None, database, table_name)
            else:
                _action_type(choice)
            return self._derive(df)
        for path, action in [specs] if isinstance(specs, tuple) else specs:
            real = _resolve(df, path)
            if action.lower() == "match_catalog":
                df = self._match_catalog(df, real, database, table_name)
                continue
            target = _action_type(action)
            if real is not None and target is not None:
                df = _with_column_at(df, real, column_at(real).cast(target))
        return self._derive(df)

    def _match_catalog(
        self,
        df: DataFrame,
        real: list[str] | None,
        database: str | None,
        table_name: str | None,
    ) -> DataFrame:
        if not database or not table_name:
            raise Exception("database and table_name are required for match_catalog")
        info = _catalog.describe(self.glue_ctx.spark_session, database, table_name)
        types = {f.name.lower(): f.dataType for f in info.schema.fields}
        names = [real[0]] if real else df.columns
        for name in names:
            if name.lower() in types:
                df = df.withColumn(name, F.col(quote(name)).cast(types[name.lower()]))
        return df

    # -- frames from frames -----------------------------------------------------------------
    def join(
        self,
        paths1: str | list[str],
        paths2: str | list[str],
        frame2: DynamicFrame,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Inner equi-join; both key columns are kept (one when they share a name)."""
        keys1, keys2 = _as_list(paths1), _as_list(paths2)
        if len(keys1) != len(keys2):
            raise ValueError("paths1 and paths2 must name the same number of keys")
        left, right = self._df, frame2._df
        shared = [k1 for k1, k2 in zip(keys1, keys2, strict=True) if k1 == k2]
        clash = (set(left.columns) & set(right.columns)) - set(shared)
        if clash:
            raise ValueError(
                f"Both frames have the fields {sorted(clash)}; rename them before the join"
            )
        r = right.alias("__right")
        cond = reduce(
            operator.and_,
            [left[quote(k1)] == r[quote(k2)] for k1, k2 in zip(keys1, keys2, strict=True)],
        )
        joined = left.alias("__left").join(r, cond, "inner")
        cols = [F.col(f"__left.{quote(c)}") for c in left.columns]
        cols += [F.col(f"__right.{quote(c)}") for c in right.columns if c not in shared]
        return self._derive(joined.select(*cols), self.name + frame2.name)

    def union(
        self,
        other_frame: DynamicFrame,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Records of both frames; fields missing on one side are null."""
        return self._derive(self._df.unionByName(other_frame._df, allowMissingColumns=True))

    def mergeDynamicFrame(
        self,
        stage_dynamic_frame: DynamicFrame,
        primary_keys: list[str],
        transformation_ctx: str = "",
        options: dict | None = None,
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Records of this frame, replaced by the staged record with the same primary keys."""
        keys = _as_list(primary_keys)
        stage = stage_dynamic_frame._df
        kept = self._df.join(stage.select(*keys), on=keys, how="left_anti")
        return self._derive(kept.unionByName(stage, allowMissingColumns=True))

    def split_fields(
        self,
        paths: str | list[str],
        name1: str,
        name2: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        """``name1``: the fields at ``paths``; ``name2``: all the others."""
        first = self.select_fields(paths)
        first.name = name1
        second = self.drop_fields(paths)
        second.name = name2
        return DynamicFrameCollection({name1: first, name2: second}, self.glue_ctx)

    def split_rows(
        self,
        comparison_dict: dict[str, dict[str, Any]],
        name1: str,
        name2: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        """``name1``: records meeting every comparison (``{"age": {">": 10}}``); ``name2``: the
        rest."""
        conds = []
        for path, comparisons in comparison_dict.items():
            real = _resolve(self._df, path)
            if real is None:
                raise ValueError(f"split_rows: no field '{path}'")
            for op, value in comparisons.items():
                if op not in _COMPARATORS:
                    raise ValueError(f"split_rows: unknown comparison '{op}'")
                conds.append(_COMPARATORS[op](column_at(real), F.lit(value)))
        cond = F.coalesce(reduce(operator.and_, conds), F.lit(False)) if conds else F.lit(True)
        first = self._derive(self._df.where(cond), name1)
        second = self._derive(self._df.where(~cond), name2)
        return DynamicFrameCollection({name1: first, name2: second}, self.glue_ctx)

    def unnest(
        self,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Flatten structs into top-level fields named by their paths (``a.b``)."""
        return self._derive(_flatten(self._df))

    def unbox(
        self,
        path: str,
        format: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        **options: Any,
    ) -> DynamicFrame:
        """Parse the JSON string at ``path`` into a struct (its schema inferred from the data)."""
        if format.lower() != "json":
            raise NotImplementedError(f"unbox format '{format}' is not supported (only json)")
        real = _resolve(self._df, path)
        if real is None:
            raise ValueError(f"unbox: no field '{path}'")
        spark = self.glue_ctx.spark_session
        strings = self._df.select(column_at(real).alias("v")).where(F.col("v").isNotNull())
        schema = spark.read.json(strings.rdd.map(lambda r: r.v)).schema
        return self._derive(_with_column_at(self._df, real, F.from_json(column_at(real), schema)))

    def relationalize(
        self,
        root_table_name: str,
        staging_path: str,
        options: dict | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        """Flatten structs and pivot each array into its own frame ``<root>_<path>`` with
        ``id`` (the value left in the parent's column), ``index`` and ``<path>.val`` fields."""
        from awsglue._relationalize import relationalize

        frames = relationalize(self._df, root_table_name, staging_path)
        return DynamicFrameCollection(
            {name: self._derive(df, name) for name, df in frames.items()}, self.glue_ctx
        )

    def spigot(
        self,
        path: str,
        options: dict | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Write a sample (``topk`` records, default 100, or fraction ``prob``) as JSON to
        ``path`` and pass the frame through."""
        opts = options or {}
        sample = self._df
        if "prob" in opts:
            sample = sample.sample(fraction=float(opts["prob"]))
        sample = sample.limit(int(opts.get("topk", 100)))
        sample.write.mode("append").json(path)
        return self._derive(self._df)

    def write(
        self,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        accumulator_size: int = 0,
    ) -> DynamicFrame:
        return self.glue_ctx.write_from_options(
            self,
            connection_type,
            connection_options or {},
            format,
            format_options or {},
        )

    def __repr__(self) -> str:
        return f"DynamicFrame(name={self.name!r}, columns={self._df.columns})"


def _rename_in(dt: T.StructType, parts: list[str], new_leaf: str) -> T.StructType:
    """``dt`` with the field at ``parts`` renamed (positions kept, so a cast applies it)."""
    fields = []
    for f in dt.fields:
        if f.name == parts[0]:
            if len(parts) == 1:
                f = T.StructField(new_leaf, f.dataType, f.nullable)
            else:
                f = T.StructField(f.name, _rename_in(f.dataType, parts[1:], new_leaf), f.nullable)
        fields.append(f)
    return T.StructType(fields)


def _action_type(action: str) -> T.DataType | None:
    """The target type of a resolve action (None for actions that touch only choice fields)."""
    kind, _, type_name = action.partition(":")
    kind = kind.strip().lower()
    if kind in ("cast", "project"):
        if not type_name:
            raise Exception(f"Missing type for resolve action '{action}'")
        return parse_type_name(type_name)
    if kind in ("make_cols", "make_struct"):
        return None
    raise Exception(f"Unknown resolve action '{action}'")


def _flatten(df: DataFrame) -> DataFrame:
    cols: list[Column] = []

    def walk(dt: T.DataType, parts: list[str]) -> None:
        if isinstance(dt, T.StructType) and dt.fields:
            for f in dt.fields:
                walk(f.dataType, parts + [f.name])
        else:
            cols.append(column_at(parts).alias(".".join(parts)))

    for field in df.schema.fields:
        walk(field.dataType, [field.name])
    return df.select(*cols)


class DynamicFrameCollection:
    """Named DynamicFrames, as multi-output transforms return them."""

    def __init__(
        self,
        dynamic_frames: dict[str, DynamicFrame] | list[DynamicFrame],
        glue_ctx: GlueContext,
    ) -> None:
        if isinstance(dynamic_frames, list):
            dynamic_frames = {frame.name: frame for frame in dynamic_frames}
        elif not isinstance(dynamic_frames, dict):
            raise TypeError("dynamic_frames must be a dict or a list of DynamicFrames")
        self._frames = dict(dynamic_frames)
        self.glue_ctx = glue_ctx

    def __getitem__(self, key: str) -> DynamicFrame:
        return self._frames[key]

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self):
        return iter(self._frames)

    def keys(self):
        return self._frames.keys()

    def values(self):
        return self._frames.values()

    def select(self, key: str, transformation_ctx: str = "") -> DynamicFrame:
        """The frame named ``key``; an empty frame when there is none (as Glue)."""
        if key in self._frames:
            return self._frames[key]
        spark = self.glue_ctx.spark_session
        return DynamicFrame(spark.createDataFrame([], T.StructType([])), self.glue_ctx, key)

    def map(
        self,
        callable: Callable[[DynamicFrame, str], DynamicFrame],
        transformation_ctx: str = "",
    ) -> DynamicFrameCollection:
        """Apply ``callable(frame, ctx)`` to every frame."""
        out = {}
        for key, frame in self._frames.items():
            result = callable(frame, f"{transformation_ctx}:{key}")
            if not isinstance(result, DynamicFrame):
                raise TypeError("callable must return a DynamicFrame. Got " + type(result).__name__)
            out[key] = result
        return DynamicFrameCollection(out, self.glue_ctx)

    def flatmap(
        self, f: Callable[[DynamicFrame, str], Any], transformation_ctx: str = ""
    ) -> DynamicFrameCollection:
        """Apply ``f`` to every frame; collections it returns are merged in."""
        out: dict[str, DynamicFrame] = {}
        for key, frame in self._frames.items():
            result = f(frame, f"{transformation_ctx}:{key}")
            if isinstance(result, DynamicFrameCollection):
                out.update(result._frames)
            elif isinstance(result, DynamicFrame):
                out[key] = result
            else:
                raise TypeError(
                    "Function must return a DynamicFrame or DynamicFrameCollection. Got "
                    + type(result).__name__
                )
        return DynamicFrameCollection(out, self.glue_ctx)

    def __repr__(self) -> str:
        return f"DynamicFrameCollection({list(self._frames)})"


class DynamicFrameReader:
    """``glueContext.create_dynamic_frame``."""

    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context

    def from_rdd(
        self, data: Any, name: str, schema: Any = None, sampleRatio: float | None = None
    ) -> DynamicFrame:
        return self._glue_context.create_dynamic_frame_from_rdd(data, name, schema, sampleRatio)

    def from_options(
        self,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        **kwargs: Any,
    ) -> DynamicFrame:
        return self._glue_context.create_dynamic_frame_from_options(
            connection_type,
            connection_options or {},
            format,
            format_options or {},
            transformation_ctx,
            push_down_predicate,
            **kwargs,
        )

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
    ) -> DynamicFrame:
        return self._glue_context.create_dynamic_frame_from_catalog(
            database,
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            push_down_predicate,
            additional_options or {},
            catalog_id,
            **kwargs,
        )


class DynamicFrameWriter:
    """``glueContext.write_dynamic_frame``."""

    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context

    def from_options(
        self,
        frame: DynamicFrame,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        return self._glue_context.write_dynamic_frame_from_options(
            frame,
            connection_type,
            connection_options or {},
            format,
            format_options or {},
            transformation_ctx,
        )

    def from_catalog(
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
        return self._glue_context.write_dynamic_frame_from_catalog(
            frame,
            database,
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            additional_options or {},
            catalog_id,
            **kwargs,
        )

    def from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: dict | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        return self._glue_context.write_dynamic_frame_from_jdbc_conf(
            frame,
            catalog_connection,
            connection_options or {},
            redshift_tmp_dir,
            transformation_ctx,
        )
