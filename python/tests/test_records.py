"""Map and Filter over DynamicRecords, and the error records Glue counts."""

from __future__ import annotations

import datetime

import pytest
from pyspark.sql import Row
from support import rows, schema_text

from awsglue.dynamicframe import DynamicFrame
from awsglue.transforms import ErrorsAsDynamicFrame, Filter, Map


@pytest.fixture(scope="module")
def frame(spark, glue_context):
    df = spark.createDataFrame(
        [(1, "a", datetime.date(2024, 1, 2), (5,)), (2, None, None, (6,)), (3, "c", None, None)],
        "id int, v string, d date, s struct<n:int>",
    )
    return DynamicFrame.fromDF(df, glue_context, "f")


def test_map_keeps_types_and_adds_fields(frame):
    def add(r):
        r["twice"] = r.id * 2
        r.v = (r.v or "").upper()
        return r

    out = Map.apply(frame=frame, f=add)
    assert schema_text(out) == (
        "root\n|-- id: int\n|-- v: string\n|-- d: date\n|-- s: struct\n|    |-- n: int\n"
        "|-- twice: long\n"
    )
    assert rows(out) == [
        (1, "A", datetime.date(2024, 1, 2), Row(n=5), 2),
        (2, "", None, Row(n=6), 4),
        (3, "C", None, None, 6),
    ]
    assert out.errorsCount() == 0


def test_map_errors_are_counted_and_kept(frame):
    def pick(r):
        if r.id == 2:
            raise RuntimeError("boom")
        if r.id == 3:
            return None
        return r

    out = frame.map(pick, transformation_ctx="pick")
    assert out.count() == 1
    assert (out.stageErrorsCount(), out.errorsCount()) == (2, 2)
    errors = ErrorsAsDynamicFrame.apply(out).toDF()
    assert errors.columns == ["transformation", "errorMessage", "record"]
    assert sorted(r.errorMessage for r in errors.collect()) == [
        "User-specified function returned None instead of DynamicRecord",
        "boom",
    ]
    later = out.select_fields(["id"])
    assert (later.stageErrorsCount(), later.errorsCount()) == (0, 2)
    with pytest.raises(Exception, match="stageThreshold 1"):
        frame.map(pick, stageThreshold=1)


def test_filter_drops_lookup_errors_and_counts_others(frame):
    def keep(r):
        if r.id == 3:
            raise ZeroDivisionError("div")
        return r.s.n > 5  # r.s is None for id 3 only; id 1 → False

    out = Filter.apply(frame=frame, f=keep)
    assert rows(out.select_fields("id")) == [(2,)]
    assert out.stageErrorsCount() == 1
    by_key = frame.filter(lambda r: r["missing"] == 1)
    assert (by_key.count(), by_key.stageErrorsCount()) == (0, 0)
    assert schema_text(out) == schema_text(frame)
