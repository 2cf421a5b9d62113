"""File sources and sinks with Glue's option names and defaults."""

from __future__ import annotations

import json
import os
import time

import pytest
from support import rows, schema_text

from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_csv_without_header_is_col0_and_ints_are_long(glue_context, tmp_path):
    _write(tmp_path / "in" / "a.csv", "1,x,2.5\n2,y,3.5\n")
    dyf = glue_context.create_dynamic_frame.from_options(
        "s3", {"paths": [str(tmp_path / "in")]}, "csv"
    )
    assert schema_text(dyf) == "root\n|-- col0: long\n|-- col1: string\n|-- col2: double\n"
    assert rows(dyf) == [(1, "x", 2.5), (2, "y", 3.5)]


def test_csv_options_are_case_insensitive(glue_context, tmp_path):
    _write(tmp_path / "a.csv", "id|name\n1|'a|b'\n")
    dyf = glue_context.create_dynamic_frame_from_options(
        connection_type="file",
        connection_options={"paths": [f"file://{tmp_path / 'a.csv'}"]},
        format="csv",
        format_options={"withheader": True, "SEPARATOR": "|", "quoteChar": "'"},
    )
    assert dyf.toDF().columns == ["id", "name"]
    assert rows(dyf) == [(1, "a|b")]


def test_csv_skip_first(glue_context, tmp_path):
    _write(tmp_path / "a.csv", "junk line\n1,2\n")
    dyf = glue_context.create_dynamic_frame_from_options(
        "s3", {"paths": [str(tmp_path / "a.csv")]}, "csv", {"skipFirst": True}
    )
    assert rows(dyf) == [(1, 2)]
    assert dyf.toDF().columns == ["col0", "col1"]


def test_recurse_and_exclusions(glue_context, tmp_path):
    _write(tmp_path / "d" / "top.json", '{"a": 1}\n')
    _write(tmp_path / "d" / "sub" / "deep.json", '{"a": 2}\n')
    _write(tmp_path / "d" / "sub" / "skip.json", '{"a": 3}\n')
    flat = glue_context.create_dynamic_frame_from_options(
        "s3", {"paths": [str(tmp_path / "d")]}, "json"
    )
    assert rows(flat) == [(1,)]
    deep = glue_context.create_dynamic_frame_from_options(
        "s3", {"paths": [str(tmp_path / "d")], "recurse": True}, "json"
    )
    assert rows(deep) == [(1,), (2,), (3,)]
    excluded = glue_context.create_dynamic_frame_from_options(
        "s3",
        {
            "paths": [str(tmp_path / "d")],
            "recurse": True,
            "exclusions": json.dumps([f"{tmp_path}/d/**skip.json"]),
        },
        "json",
    )
    assert rows(excluded) == [(1,), (2,)]


def test_json_multiline_and_array_root(glue_context, tmp_path):
    _write(tmp_path / "a.json", '[{"a": 1, "b": {"c": "x"}},\n {"a": 2, "b": {"c": "y"}}]')
    dyf = glue_context.create_dynamic_frame_from_options(
        "s3", {"paths": [str(tmp_path / "a.json")]}, "json", {"jsonPath": "$[*]"}
    )
    assert schema_text(dyf) == "root\n|-- a: long\n|-- b: struct\n|    |-- c: string\n"
    with pytest.raises(NotImplementedError, match="jsonPath"):
        glue_context.create_dynamic_frame_from_options(
            "s3", {"paths": [str(tmp_path / "a.json")]}, "json", {"jsonPath": "$.x[*]"}
        )


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "glueparquet", "orc"])
def test_write_formats_append_and_read_back(glue_context, spark, tmp_path, fmt):
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string")
    dyf = DynamicFrame.fromDF(df, glue_context, "t")
    out = str(tmp_path / "out")
    for _ in range(2):
        glue_context.write_dynamic_frame.from_options(
            frame=dyf, connection_type="s3", connection_options={"path": out}, format=fmt
        )
    read_fmt = "parquet" if fmt == "glueparquet" else fmt
    back = glue_context.create_dynamic_frame.from_options(
        "s3", {"paths": [out]}, read_fmt, {"withHeader": True}
    )
    assert rows(back) == [(1, "a"), (1, "a"), (2, "b"), (2, "b")]


def test_csv_write_header_option_and_compression(glue_context, spark, tmp_path):
    dyf = DynamicFrame.fromDF(
        spark.createDataFrame([(1, "a")], "id long, v string"), glue_context, "t"
    )
    out = tmp_path / "out"
    glue_context.write_dynamic_frame_from_options(
        dyf,
        "s3",
        {"path": str(out), "compression": "gzip"},
        "csv",
        {"writeHeader": False, "separator": ";"},
    )
    files = [f for f in os.listdir(out) if f.endswith(".csv.gz")]
    assert files
    import gzip

    assert "".join(gzip.open(out / f).read().decode() for f in files) == "1;a\n"


def test_partition_keys_and_parquet_compression(glue_context, spark, tmp_path):
    df = spark.createDataFrame([(1, "x"), (2, "y")], "id long, p string")
    out = tmp_path / "out"
    glue_context.write_dynamic_frame.from_options(
        DynamicFrame.fromDF(df, glue_context, "t"),
        "s3",
        {"path": str(out), "partitionKeys": ["p"]},
        "glueparquet",
        {"compression": "gzip"},
    )
    assert sorted(d for d in os.listdir(out) if not d.startswith(("_", "."))) == ["p=x", "p=y"]
    assert any(f.endswith(".gz.parquet") for f in os.listdir(out / "p=x"))


def test_collection_writes_one_path_per_frame(glue_context, spark, tmp_path):
    a = DynamicFrame.fromDF(spark.createDataFrame([(1,)], "a long"), glue_context, "a")
    b = DynamicFrame.fromDF(spark.createDataFrame([(2,)], "b long"), glue_context, "b")
    dfc = DynamicFrameCollection({"a": a, "b": b}, glue_context)
    glue_context.write_from_options(dfc, "s3", {"path": str(tmp_path)}, "json")
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_unknown_format_and_jar_formats(glue_context, tmp_path):
    with pytest.raises(NotImplementedError, match="avro"):
        glue_context.create_dynamic_frame_from_options("s3", {"paths": [str(tmp_path)]}, "avro")
    with pytest.raises(ValueError, match="Unsupported format"):
        glue_context.create_dynamic_frame_from_options("s3", {"paths": [str(tmp_path)]}, "yaml")


def test_get_source_and_get_sink(glue_context, spark, tmp_path):
    _write(tmp_path / "in.csv", "a,b\n1,2\n")
    source = glue_context.getSource("s3", paths=[str(tmp_path / "in.csv")])
    source.setFormat("csv", withHeader=True)
    frame = source.getFrame()
    assert rows(frame) == [(1, 2)]
    sink = glue_context.getSink(connection_type="s3", path=str(tmp_path / "out"))
    sink.setFormat("json")
    errors = sink.writeFrame(frame)
    assert errors.count() == 0
    assert rows(spark.read.json(str(tmp_path / "out"))) == [(1, 2)]


def test_purge_s3_path_keeps_recent_files(glue_context, tmp_path):
    old = _write(tmp_path / "p" / "old.txt", "o")
    new = _write(tmp_path / "p" / "sub" / "new.txt", "n")
    past = time.time() - 200 * 3600
    os.utime(old, (past, past))
    glue_context.purge_s3_path(str(tmp_path / "p"), {"manifestFilePath": str(tmp_path / "m")})
    assert not old.exists() and new.exists()
    assert (tmp_path / "m" / "Success.csv").read_text().strip().endswith("old.txt")
    glue_context.purge_s3_path(f"file://{tmp_path / 'p'}", options={"retentionPeriod": 0})
    assert not new.exists()


def test_data_frame_readers_rdd_and_samples(glue_context, spark, tmp_path):
    _write(tmp_path / "a.csv", "x,y\n1,2\n3,4\n")
    opts = {"paths": [str(tmp_path / "a.csv")]}
    df = glue_context.create_data_frame.from_options("s3", opts, "csv", {"withHeader": True})
    assert (df.columns, rows(df)) == (["x", "y"], [(1, 2), (3, 4)])
    sample = glue_context.create_sample_dynamic_frame_from_options(
        "s3", opts, num=1, format="csv", format_options={"withHeader": True}
    )
    assert sample.count() == 1
    rdd = spark.sparkContext.parallelize([(1, "a")])
    frame = glue_context.create_dynamic_frame.from_rdd(rdd, "r", schema="n long, s string")
    assert (frame.name, rows(frame)) == ("r", [(1, "a")])
