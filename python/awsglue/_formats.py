"""File sources and sinks for ``connection_type`` ``s3``/``file``: Glue format options → Spark.

Glue's defaults differ from Spark's in ways scripts notice: CSV has no header unless
``withHeader`` and its columns are then ``col0, col1, …``; inferred integers are ``long``;
every write appends.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import _fs
from awsglue._options import Options
from awsglue._paths import quote

FILE_CONNECTIONS = ("s3", "file", "local")
READ_FORMATS = ("csv", "json", "parquet", "orc")
WRITE_FORMATS = ("csv", "json", "parquet", "glueparquet", "orc")
# Formats Glue reads/writes with jars pip's pyspark does not ship.
JAR_FORMATS = ("avro", "xml", "ion", "grokLog", "hudi", "delta", "iceberg")


def _check_format(fmt: str | None, allowed: tuple[str, ...]) -> str:
    if fmt is None:
        raise ValueError("format is required for file connections (csv, json, parquet, orc)")
    name = fmt.lower()
    if name in allowed:
        return name
    if name in (f.lower() for f in JAR_FORMATS):
        raise NotImplementedError(
            f"format '{fmt}' is not supported by epoxy's awsglue (it needs jars pip's pyspark "
            "does not ship)"
        )
    raise ValueError(f"Unsupported format '{fmt}'; expected one of {', '.join(allowed)}")


def _glob_regex(pattern: str) -> re.Pattern:
    """Java-style glob: ``**`` crosses directories, ``*`` and ``?`` stay within one."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _path_part(path: str) -> str:
    parsed = urlparse(path)
    if parsed.scheme in ("", "file"):
        return parsed.path
    return parsed.netloc + parsed.path


def _input_paths(spark: SparkSession, conn: Options) -> list[str]:
    paths = conn.string_list("paths") or conn.string_list("path")
    if not paths:
        raise ValueError("connection_options must name 'paths' for a file source")
    exclusions = [_glob_regex(_path_part(p)) for p in conn.string_list("exclusions")]
    if not exclusions:
        return paths
    recurse = conn.flag("recurse")
    kept = []
    for path in paths:
        for entry in _fs.list_files(spark, path, recursive=recurse):
            name = entry.path.rsplit("/", 1)[-1]
            if name.startswith((".", "_")):
                continue
            if not any(rx.match(_path_part(entry.path)) for rx in exclusions):
                kept.append(entry.path)
    return kept


def _widen_ints(df: DataFrame) -> DataFrame:
    """Glue's inference reads whole numbers as ``long``; Spark's CSV says ``int``."""
    cols = [
        F.col(quote(f.name)).cast("long").alias(f.name)
        if isinstance(f.dataType, (T.IntegerType, T.ShortType, T.ByteType))
        else F.col(quote(f.name))
        for f in df.schema.fields
    ]
    return df.select(*cols)


def read_files(
    spark: SparkSession,
    connection_options: dict | None,
    fmt: str | None,
    format_options: dict | None,
) -> DataFrame:
    """A DataFrame over files, as Glue's s3 source reads them."""
    name = _check_format(fmt, READ_FORMATS)
    conn = Options(connection_options)
    opts = Options(format_options)
    paths = _input_paths(spark, conn)
    reader = spark.read
    if conn.flag("recurse"):
        reader = reader.option("recursiveFileLookup", "true")
    if not paths:
        return spark.createDataFrame([], T.StructType([]))
    if name == "csv":
        return _read_csv(reader, paths, opts)
    if name == "json":
        json_path = opts.get("jsonPath")
        if json_path not in (None, "", "$", "$[*]"):
            raise NotImplementedError(
                f"jsonPath '{json_path}' is not supported by epoxy's awsglue (only '$[*]')"
            )
        multi = opts.flag("multiLine") or json_path == "$[*]"
        return reader.option("multiLine", str(multi).lower()).json(paths)
    if "mergeSchema" in conn:
        reader = reader.option("mergeSchema", str(conn.flag("mergeSchema")).lower())
    return reader.format(name).load(paths)


def _read_csv(reader, paths: list[str], opts: Options) -> DataFrame:
    quote_char = opts.get("quoteChar", '"')
    with_header = opts.flag("withHeader")
    skip_first = opts.flag("skipFirst")
    reader = (
        reader.option("sep", opts.get("separator", ","))
        .option("quote", "" if str(quote_char) == "-1" else quote_char)
        .option("multiLine", str(opts.flag("multiLine")).lower())
        .option("header", str(with_header).lower())
        .option("inferSchema", "true")
    )
    if opts.get("escaper"):
        reader = reader.option("escape", opts.get("escaper"))
    source = _without_first_lines(reader, paths) if skip_first and not with_header else paths
    df = _widen_ints(reader.csv(source))
    if not with_header:
        df = df.toDF(*[f"col{i}" for i in range(len(df.columns))])
    return df


def _without_first_lines(reader, paths: list[str]):
    """The files' lines minus each file's first one (Glue's ``skipFirst``), as an RDD."""
    spark = reader._spark
    lines = (
        spark.read.text(paths)
        .withColumn("__file", F.input_file_name())
        .withColumn("__n", F.monotonically_increasing_id())
    )
    firsts = lines.groupBy("__file").agg(F.min("__n").alias("__n"))
    rest = lines.join(firsts, ["__file", "__n"], "left_anti")
    return rest.orderBy("__n").rdd.map(lambda r: r.value)


def write_files(
    df: DataFrame,
    connection_options: dict | None,
    fmt: str | None,
    format_options: dict | None,
) -> None:
    """Append ``df`` under ``path`` in Glue's way (partitionKeys → directories)."""
    name = _check_format(fmt, WRITE_FORMATS)
    conn = Options(connection_options)
    opts = Options(format_options)
    path = conn.get("path")
    if not path:
        raise ValueError("connection_options must name 'path' for a file sink")
    writer = df.write.mode("append")
    keys = conn.string_list("partitionKeys")
    if keys:
        writer = writer.partitionBy(*keys)
    compression = opts.get("compression", conn.get("compression"))
    if name in ("parquet", "glueparquet"):
        writer = writer.option("compression", compression or "snappy")
        if opts.get("blockSize"):
            writer = writer.option("parquet.block.size", str(opts.get("blockSize")))
        if opts.get("pageSize"):
            writer = writer.option("parquet.page.size", str(opts.get("pageSize")))
        writer.parquet(path)
        return
    if compression:
        writer = writer.option("compression", compression)
    if name == "csv":
        quote_char = opts.get("quoteChar", '"')
        writer = (
            writer.option("sep", opts.get("separator", ","))
            .option("quote", "" if str(quote_char) == "-1" else quote_char)
            .option("header", str(opts.flag("writeHeader", True)).lower())
        )
        if opts.get("escaper"):
            writer = writer.option("escape", opts.get("escaper"))
        writer.csv(path)
    elif name == "json":
        writer.json(path)
    else:
        writer.orc(path)


def spark_format(fmt: str) -> str:
    """The Spark data source name of a Glue write format."""
    name = _check_format(fmt, WRITE_FORMATS)
    return "parquet" if name == "glueparquet" else name
