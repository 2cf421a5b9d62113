"""DynamicFrame methods and the transform classes over them."""

from __future__ import annotations

import pytest
from pyspark.sql import Row
from support import rows, schema_text

from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection, ResolveOption
from awsglue.transforms import (
    Coalesce,
    DropFields,
    DropNullFields,
    FlatMap,
    Join,
    MapToCollection,
    Relationalize,
    RenameField,
    Repartition,
    SelectFields,
    SelectFromCollection,
    Spigot,
    SplitFields,
    SplitRows,
    Unbox,
    Union,
    UnnestFrame,
)


@pytest.fixture(scope="module")
def people(spark, glue_context):
    df = spark.createDataFrame(
        [(1, "ann", (30, "paris"), "x"), (2, "bob", (40, "rome"), None)],
        "id long, name string, info struct<age:int,city:string>, `a.b` string",
    )
    return DynamicFrame.fromDF(df, glue_context, "people")


def test_schema_print_and_show(people, capsys):
    people.printSchema()
    people.show(1)
    out = capsys.readouterr().out
    assert out == (
        "root\n|-- id: long\n|-- name: string\n|-- info: struct\n|    |-- age: int\n"
        "|    |-- city: string\n|-- a.b: string\n"
        '{"id":1,"name":"ann","info":{"age":30,"city":"paris"},"a.b":"x"}\n'
    )
    assert people.count() == 2
    assert people.schema().getField("info").dataType.typeName() == "struct"


def test_apply_mapping_nested_backticks_and_order(people):
    mapped = people.apply_mapping(
        [
            ("info.city", "string", "city", "string"),
            ("ID", "long", "key.id", "string"),
            ("`a.b`", "string", "ab", "string"),
            ("info.age", "int", "key.age", "bigint"),
            ("missing", "string", "gone", "string"),
        ]
    )
    assert schema_text(mapped) == (
        "root\n|-- city: string\n|-- key: struct\n|    |-- id: string\n|    |-- age: long\n"
        "|-- ab: string\n"
    )
    assert rows(mapped) == [
        ("paris", Row(id="1", age=30), "x"),
        ("rome", Row(id="2", age=40), None),
    ]
    with pytest.raises(ValueError, match="Mapping must be a tuple"):
        people.apply_mapping([("id", "long")])
    sensitive = people.apply_mapping([("ID", "long", "id", "long")], case_sensitive=True)
    assert sensitive.toDF().columns == []


def test_select_drop_rename(people):
    assert schema_text(SelectFields.apply(people, ["info.city", "id"])) == (
        "root\n|-- id: long\n|-- info: struct\n|    |-- city: string\n"
    )
    dropped = DropFields.apply(frame=people, paths=["info.age", "`a.b`", "name"])
    assert schema_text(dropped) == "root\n|-- id: long\n|-- info: struct\n|    |-- city: string\n"
    renamed = RenameField.apply(people, "info.city", "info.town")
    assert [f.name for f in renamed.toDF().schema["info"].dataType.fields] == ["age", "town"]
    assert RenameField.apply(people, "`a.b`", "ab").toDF().columns == ["id", "name", "info", "ab"]
    moved = people.rename_field("info.city", "city")
    assert rows(moved.select_fields(["id", "info.city"])) == [
        (1, Row(city="paris")),
        (2, Row(city="rome")),
    ]
    moved = people.rename_field("name", "info.who")
    assert rows(moved.select_fields(["info.who"])) == [(Row(who="ann"),), (Row(who="bob"),)]


def test_resolve_choice_specs_and_errors(people):
    cast = people.resolveChoice(specs=[("id", "cast:string"), ("info.age", "project:double")])
    assert schema_text(cast).splitlines()[1:4] == [
        "|-- id: string",
        "|-- name: string",
        "|-- info: struct",
    ]
    assert cast.toDF().schema["info"].dataType["age"].dataType.simpleString() == "double"
    same = people.resolveChoice(specs=[("id", "make_cols"), ("name", "make_struct")])
    assert schema_text(same) == schema_text(people)
    assert schema_text(people.resolveChoice(choice="make_cols")) == schema_text(people)
    with pytest.raises(Exception, match="Parameter specs and option are both missing, add one."):
        people.resolveChoice()
    with pytest.raises(Exception, match="both specified, choose one."):
        people.resolveChoice(specs=[("id", "cast:int")], choice="make_cols")
    with pytest.raises(Exception, match="Unknown resolve action"):
        people.resolveChoice(specs=[("id", "explode")])


def test_to_df_options(people):
    df = people.toDF([ResolveOption("id", "Cast", "string"), ResolveOption("name", "KeepAsStruct")])
    assert df.schema["id"].dataType.simpleString() == "string"
    with pytest.raises(Exception, match="Missing target type for resolve action Project."):
        people.toDF([ResolveOption("id", "Project")])


def test_join_union_and_names(spark, glue_context, people):
    orders = DynamicFrame.fromDF(
        spark.createDataFrame([(10, 1), (11, 1), (12, 3)], "order long, person long"),
        glue_context,
        "orders",
    )
    joined = Join.apply(people.select_fields(["id", "name"]), orders, "id", "person")
    assert joined.name == "peopleorders"
    assert joined.toDF().columns == ["id", "name", "order", "person"]
    assert rows(joined) == [(1, "ann", 10, 1), (1, "ann", 11, 1)]
    same_key = people.select_fields(["id"]).join(
        ["id"], ["id"], people.select_fields(["id", "name"])
    )
    assert same_key.toDF().columns == ["id", "name"]
    with pytest.raises(ValueError, match="rename them"):
        people.join(["id"], ["id"], people)
    more = DynamicFrame.fromDF(
        spark.createDataFrame([(3, "cy")], "id long, extra string"), glue_context, "more"
    )
    unioned = Union.apply(people.select_fields(["id", "name"]), more)
    assert rows(unioned.select_fields(["id", "name", "extra"])) == [
        (1, "ann", None),
        (2, "bob", None),
        (3, None, "cy"),
    ]


def test_split_fields_and_rows(people):
    dfc = SplitFields.apply(people, ["id", "info.age"], "left", "right")
    assert sorted(dfc.keys()) == ["left", "right"]
    assert dfc["left"].toDF().columns == ["id", "info"]
    assert dfc["right"].toDF().columns == ["name", "info", "a.b"]
    assert list(SplitFields.apply(people, ["id"]).keys()) == ["people1", "people2"]
    split = SplitRows.apply(people, {"id": {">": 1}, "info.age": {"<=": 40}})
    assert (split["frame1"].count(), split["frame2"].count()) == (1, 1)
    assert rows(split["frame1"].select_fields("id")) == [(2,)]
    assert people.split_rows({"a.b": {"=": "x"}}, "x", "rest")["rest"].count() == 1


def test_unnest_unbox_drop_null_fields(spark, glue_context, people, capsys):
    flat = UnnestFrame.apply(people)
    assert flat.toDF().columns == ["id", "name", "info.age", "info.city", "a.b"]
    boxed = DynamicFrame.fromDF(
        spark.createDataFrame([(1, '{"k": 5, "t": ["a"]}'), (2, None)], "id long, j string"),
        glue_context,
        "b",
    )
    unboxed = Unbox.apply(boxed, "j", "json")
    assert schema_text(unboxed) == (
        "root\n|-- id: long\n|-- j: struct\n|    |-- k: long\n|    |-- t: array\n"
        "|    |    |-- element: string\n"
    )
    assert rows(unboxed) == [(1, Row(k=5, t=["a"])), (2, None)]
    nulls = DynamicFrame.fromDF(
        spark.createDataFrame([(1, None), (2, None)], "a long, b string"), glue_context, "n"
    )
    assert DropNullFields.apply(nulls).toDF().columns == ["a"]
    assert "null_fields ['b']" in capsys.readouterr().out


def test_relationalize(spark, glue_context, tmp_path):
    df = spark.createDataFrame(
        [(1, (["a", "b"],), [(1, "x")]), (2, ([],), [(2, "y"), (3, "z")])],
        "id long, s struct<tags:array<string>>, links array<struct<n:int,u:string>>",
    )
    dfc = Relationalize.apply(DynamicFrame.fromDF(df, glue_context, "src"), str(tmp_path), "root")
    assert sorted(dfc.keys()) == ["root", "root_links", "root_s.tags"]
    root = dfc["root"].toDF()
    assert root.columns == ["id", "s.tags", "links"]
    by_id = {r["id"]: r for r in root.collect()}
    tags = dfc["root_s.tags"].toDF()
    assert tags.columns == ["id", "index", "s.tags.val"]
    assert sorted(tuple(r)[1:] for r in tags.where(tags.id == by_id[1]["s.tags"]).collect()) == [
        (0, "a"),
        (1, "b"),
    ]
    links = dfc["root_links"].toDF()
    assert links.columns == ["id", "index", "links.val.n", "links.val.u"]
    assert sorted(tuple(r)[1:] for r in links.where(links.id == by_id[2]["links"]).collect()) == [
        (0, 2, "y"),
        (1, 3, "z"),
    ]


def test_relationalize_staging_defaults_to_tempdir(spark, glue_context, tmp_path):
    from awsglue.utils import getResolvedOptions

    getResolvedOptions(["s", "--TempDir", str(tmp_path / "tmp")], [])
    df = spark.createDataFrame([(1, ["a"])], "id long, t array<string>")
    dfc = DynamicFrame.fromDF(df, glue_context, "x").relationalize("r", None)
    assert sorted(dfc.keys()) == ["r", "r_t"]
    assert any(p.name.startswith("relationalize-") for p in (tmp_path / "tmp").iterdir())


def test_partitions_spigot_and_collections(people, glue_context, tmp_path):
    assert Repartition.apply(people, 3).getNumPartitions() == 3
    assert Coalesce.apply(people, 1).getNumPartitions() == 1
    passed = Spigot.apply(people, str(tmp_path / "spigot"), {"topk": 1})
    assert passed.count() == 2
    written = glue_context.spark_session.read.json(str(tmp_path / "spigot"))
    assert written.count() == 1
    dfc = DynamicFrameCollection([people.select_fields("id")], glue_context)
    assert list(dfc.keys()) == ["people"] and len(dfc) == 1
    assert SelectFromCollection.apply(dfc, "people").count() == 2
    assert SelectFromCollection.apply(dfc, "nope").toDF().columns == []
    mapped = MapToCollection.apply(dfc, lambda f, ctx: f.rename_field("id", "key"))
    assert mapped["people"].toDF().columns == ["key"]
    flat = FlatMap.apply(dfc, SplitFields, "frame", paths=["id"], name1="a", name2="b")
    assert sorted(flat.keys()) == ["a", "b"]
    with pytest.raises(TypeError, match="must return a DynamicFrame"):
        dfc.map(lambda f, ctx: 1)


def test_merge_dynamic_frame(spark, glue_context):
    base = DynamicFrame.fromDF(
        spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string"), glue_context, "base"
    )
    stage = DynamicFrame.fromDF(
        spark.createDataFrame([(2, "B"), (3, "C")], "id long, v string"), glue_context, "stage"
    )
    assert rows(base.mergeDynamicFrame(stage, ["id"])) == [(1, "a"), (2, "B"), (3, "C")]


def test_transform_describe():
    from awsglue.transforms import ApplyMapping, get_transform

    described = ApplyMapping.describe()
    assert described["transform"]["name"] == "ApplyMapping"
    assert [a["name"] for a in described["args"]][:3] == ["frame", "mappings", "case_sensitive"]
    assert get_transform("applymapping") is ApplyMapping
