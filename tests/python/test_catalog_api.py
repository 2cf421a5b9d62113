"""The Glue Data Catalog API and Lake Formation grants, with boto3 against `--runtime none`.

Databases, tables (versions, optimistic concurrency), partitions (Expression filters, paging),
user-defined functions; typed errors that change nothing; tenancy; state after a restart.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import epoxy_harness as H
from epoxy_harness import ACCOUNT_A, ACCOUNT_B, OPEN_ACCOUNT


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def local(uri: str) -> Path:
    assert uri.startswith("file:"), uri
    return Path("/" + uri[len("file:") :].lstrip("/"))


def parquet_sd(location: str | None = None, columns=(("id", "bigint"), ("name", "string"))):
    sd = {
        "Columns": [{"Name": n, "Type": t} for n, t in columns],
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            "Parameters": {"serialization.format": "1"},
        },
    }
    if location:
        sd["Location"] = location
    return sd


@pytest.fixture
def db(glue, uid):
    name = f"db_{uid}"
    glue.create_database(DatabaseInput={"Name": name, "Description": "tests"})
    yield name
    try:
        glue.delete_database(Name=name)
    except ClientError:
        pass


# -- databases -------------------------------------------------------------------------------


def test_database_lifecycle_and_default_location(server, glue, uid):
    name = f"Sales_{uid}"
    glue.create_database(DatabaseInput={"Name": name, "Parameters": {"k": "v"}})
    got = glue.get_database(Name=name.upper())["Database"]
    assert got["Name"] == name.lower()
    assert got["Parameters"] == {"k": "v"}
    assert got["CatalogId"] == OPEN_ACCOUNT
    assert got["CreateTime"].year >= 2024
    assert got["CreateTableDefaultPermissions"][0]["Permissions"] == ["ALL"]
    # AWS keeps no LocationUri for a database created without one; its managed data still
    # goes to the warehouse's default place, made ready at once.
    assert "LocationUri" not in got, got
    location = server.data_dir / "warehouse" / OPEN_ACCOUNT / f"{name.lower()}.db"
    assert location.is_dir()

    glue.update_database(
        Name=name,
        DatabaseInput={"Name": name, "Description": "d2", "Parameters": {"a": "b"}},
    )
    got2 = glue.get_database(Name=name)["Database"]
    assert (got2["Description"], got2["Parameters"]) == ("d2", {"a": "b"})
    assert "LocationUri" not in got2, got2
    assert got2["CreateTime"] == got["CreateTime"]

    with pytest.raises(ClientError) as e:
        glue.create_database(DatabaseInput={"Name": name})
    assert error_code(e) == "AlreadyExistsException"

    glue.delete_database(Name=name)
    assert not location.exists()
    with pytest.raises(ClientError) as e:
        glue.get_database(Name=name)
    assert error_code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.delete_database(Name=name)
    assert error_code(e) == "EntityNotFoundException"


def test_get_databases_pages_through_everything(glue, uid):
    names = {f"page_{uid}_{i}" for i in range(7)}
    for n in names:
        glue.create_database(DatabaseInput={"Name": n, "LocationUri": f"file:///tmp/{n}"})
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 3, **({"NextToken": token} if token else {})}
        reply = glue.get_databases(**kwargs)
        assert len(reply["DatabaseList"]) <= 3
        seen += [d["Name"] for d in reply["DatabaseList"]]
        pages += 1
        token = reply.get("NextToken")
        if not token:
            break
    assert names <= set(seen)
    assert len(seen) == len(set(seen)), "no database twice"
    assert pages >= 3
    paginated = [
        d["Name"]
        for page in glue.get_paginator("get_databases").paginate()
        for d in page["DatabaseList"]
    ]
    assert names <= set(paginated)
    with pytest.raises(ClientError) as e:
        glue.get_databases(NextToken="forged.token")
    assert error_code(e) == "InvalidInputException"
    for n in names:
        glue.delete_database(Name=n)


# -- tables ----------------------------------------------------------------------------------


def test_tables_keep_their_shapes_parameters_and_view_text(server, glue, db):
    spark_params = {
        "spark.sql.sources.provider": "parquet",
        "spark.sql.sources.schema": '{"type":"struct","fields":[]}',
        "spark.sql.create.version": "3.5.8",
        "EXTERNAL": "TRUE",
    }
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "Events",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": spark_params,
            "StorageDescriptor": parquet_sd("file:///tmp/epoxy-external-events"),
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        },
    )
    table = glue.get_table(DatabaseName=db, Name="EVENTS")["Table"]
    assert table["Name"] == "events"
    assert table["DatabaseName"] == db
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"] == spark_params
    assert table["StorageDescriptor"]["Location"] == "file:///tmp/epoxy-external-events"
    assert table["StorageDescriptor"]["Columns"][1] == {
        "Name": "name",
        "Type": "string",
    }
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert table["VersionId"] == "1"
    assert table["CatalogId"] == OPEN_ACCOUNT
    assert table["IsRegisteredWithLakeFormation"] is False

    view_sql = "SELECT id FROM events WHERE dt = '2024-01-01'"
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "recent",
            "TableType": "VIRTUAL_VIEW",
            "ViewOriginalText": view_sql,
            "ViewExpandedText": view_sql,
            "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}]},
        },
    )
    view = glue.get_table(DatabaseName=db, Name="recent")["Table"]
    assert (view["TableType"], view["ViewOriginalText"]) == ("VIRTUAL_VIEW", view_sql)
    assert "Location" not in view["StorageDescriptor"]

    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName=db, TableInput={"Name": "events"})
    assert error_code(e) == "AlreadyExistsException"
    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName=f"{db}_missing", TableInput={"Name": "t"})
    assert error_code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.get_table(DatabaseName=db, Name="nope")
    assert error_code(e) == "EntityNotFoundException"


def test_managed_tables_get_a_location_and_lose_their_directory(server, glue, db):
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "m",
            "TableType": "MANAGED_TABLE",
            "StorageDescriptor": parquet_sd(),
        },
    )
    db_location = f"file:{server.data_dir.resolve() / 'warehouse' / OPEN_ACCOUNT / db}.db"
    table = glue.get_table(DatabaseName=db, Name="m")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"{db_location}/m"
    directory = local(table["StorageDescriptor"]["Location"])
    assert directory.is_dir()
    (directory / "part-0.parquet").write_bytes(b"x")
    glue.delete_table(DatabaseName=db, Name="m")
    assert not directory.exists(), "a re-created managed table must not find old files"
    glue.create_table(DatabaseName=db, TableInput={"Name": "m", "TableType": "MANAGED_TABLE"})
    assert glue.get_table(DatabaseName=db, Name="m")["Table"]["VersionId"] == "1"


def test_external_table_directories_survive_a_drop(glue, db, tmp_path):
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "ext",
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": parquet_sd(f"file:{tmp_path}"),
        },
    )
    glue.delete_table(DatabaseName=db, Name="ext")
    assert tmp_path.is_dir()


def test_get_tables_filters_by_expression_and_pages(glue, db):
    for name in ["sales_2023", "sales_2024", "orders", "sales_eu", "Sales_US"]:
        glue.create_table(DatabaseName=db, TableInput={"Name": name, "TableType": "EXTERNAL_TABLE"})
    everything = [t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]]
    assert everything == sorted(["sales_2023", "sales_2024", "orders", "sales_eu", "sales_us"])
    matched = [
        t["Name"] for t in glue.get_tables(DatabaseName=db, Expression="sales_20.*")["TableList"]
    ]
    assert matched == ["sales_2023", "sales_2024"]
    alternatives = glue.get_tables(DatabaseName=db, Expression="orders|sales_eu")["TableList"]
    assert [t["Name"] for t in alternatives] == ["orders", "sales_eu"]
    assert (
        glue.get_tables(DatabaseName=db, Expression="SALES_US")["TableList"][0]["Name"]
        == "sales_us"
    )

    first = glue.get_tables(DatabaseName=db, Expression="sales.*", MaxResults=2)
    assert [t["Name"] for t in first["TableList"]] == ["sales_2023", "sales_2024"]
    second = glue.get_tables(
        DatabaseName=db,
        Expression="sales.*",
        MaxResults=2,
        NextToken=first["NextToken"],
    )
    assert [t["Name"] for t in second["TableList"]] == ["sales_eu", "sales_us"]
    assert "NextToken" not in second
    with pytest.raises(ClientError) as e:  # the token is bound to its filter
        glue.get_tables(DatabaseName=db, Expression="orders", NextToken=first["NextToken"])
    assert error_code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        glue.get_tables(DatabaseName=db, Expression="(unclosed")
    assert error_code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        glue.get_tables(DatabaseName=f"{db}_missing")
    assert error_code(e) == "EntityNotFoundException"

    errors = glue.batch_delete_table(DatabaseName=db, TablesToDelete=["orders", "ghost"])["Errors"]
    assert [(x["TableName"], x["ErrorDetail"]["ErrorCode"]) for x in errors] == [
        ("ghost", "EntityNotFoundException")
    ]
    assert "orders" not in [t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]]


def test_update_table_keeps_versions_and_honours_version_id(glue, db):
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "ice",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"metadata_location": "v1"},
        },
    )
    created = glue.get_table(DatabaseName=db, Name="ice")["Table"]
    for n in (2, 3):
        glue.update_table(
            DatabaseName=db,
            VersionId=str(n - 1),
            TableInput={
                "Name": "ice",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"metadata_location": f"v{n}"},
            },
        )
    table = glue.get_table(DatabaseName=db, Name="ice")["Table"]
    assert table["VersionId"] == "3"
    assert table["Parameters"] == {"metadata_location": "v3"}
    assert table["CreateTime"] == created["CreateTime"]
    assert table["UpdateTime"] >= created["UpdateTime"]

    with pytest.raises(ClientError) as e:  # a commit based on a stale read
        glue.update_table(
            DatabaseName=db,
            VersionId="2",
            TableInput={"Name": "ice", "Parameters": {"metadata_location": "stale"}},
        )
    assert error_code(e) == "ConcurrentModificationException"
    assert glue.get_table(DatabaseName=db, Name="ice")["Table"]["Parameters"] == {
        "metadata_location": "v3"
    }

    versions = glue.get_table_versions(DatabaseName=db, TableName="ice")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["3", "2", "1"]
    assert [v["Table"]["Parameters"]["metadata_location"] for v in versions] == [
        "v3",
        "v2",
        "v1",
    ]
    page = glue.get_table_versions(DatabaseName=db, TableName="ice", MaxResults=2)
    rest = glue.get_table_versions(
        DatabaseName=db, TableName="ice", MaxResults=2, NextToken=page["NextToken"]
    )
    assert [v["VersionId"] for v in page["TableVersions"] + rest["TableVersions"]] == [
        "3",
        "2",
        "1",
    ]

    glue.update_table(
        DatabaseName=db,
        SkipArchive=True,
        TableInput={"Name": "ice", "Parameters": {"x": "4"}},
    )
    versions = glue.get_table_versions(DatabaseName=db, TableName="ice")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["4", "2", "1"]

    with pytest.raises(ClientError) as e:
        glue.update_table(DatabaseName=db, Name="ice", TableInput={"Name": "renamed"})
    assert error_code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        glue.update_table(DatabaseName=db, TableInput={"Name": "ghost"})
    assert error_code(e) == "EntityNotFoundException"


# -- partitions ------------------------------------------------------------------------------


@pytest.fixture
def partitioned(glue, db):
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "logs",
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": parquet_sd("file:///tmp/epoxy-logs"),
            "PartitionKeys": [
                {"Name": "year", "Type": "int"},
                {"Name": "region", "Type": "string"},
            ],
        },
    )
    values = [(str(y), r) for y in (2022, 2023, 2024, 999) for r in ("eu", "us")]
    errors = glue.batch_create_partition(
        DatabaseName=db,
        TableName="logs",
        PartitionInputList=[
            {
                "Values": list(v),
                "StorageDescriptor": parquet_sd(
                    f"file:///tmp/epoxy-logs/year={v[0]}/region={v[1]}"
                ),
                "Parameters": {"n": v[0]},
            }
            for v in values
        ],
    )["Errors"]
    assert errors == []
    return db, "logs"


def values_of(partitions):
    return sorted(tuple(p["Values"]) for p in partitions)


def test_partitions_crud(glue, partitioned):
    db, table = partitioned
    got = glue.get_partition(DatabaseName=db, TableName=table, PartitionValues=["2023", "eu"])
    part = got["Partition"]
    assert part["Values"] == ["2023", "eu"]
    assert (part["DatabaseName"], part["TableName"]) == (db, table)
    assert part["StorageDescriptor"]["Location"].endswith("year=2023/region=eu")
    assert part["Parameters"] == {"n": "2023"}

    with pytest.raises(ClientError) as e:
        glue.create_partition(
            DatabaseName=db, TableName=table, PartitionInput={"Values": ["2023", "eu"]}
        )
    assert error_code(e) == "AlreadyExistsException"
    with pytest.raises(ClientError) as e:
        glue.create_partition(DatabaseName=db, TableName=table, PartitionInput={"Values": ["1"]})
    assert error_code(e) == "InvalidInputException"
    glue.create_partition(
        DatabaseName=db, TableName=table, PartitionInput={"Values": ["2025", "eu"]}
    )

    dup = glue.batch_create_partition(
        DatabaseName=db,
        TableName=table,
        PartitionInputList=[{"Values": ["2025", "eu"]}, {"Values": ["2025", "us"]}],
    )["Errors"]
    assert [(x["PartitionValues"], x["ErrorDetail"]["ErrorCode"]) for x in dup] == [
        (["2025", "eu"], "AlreadyExistsException")
    ]

    glue.update_partition(
        DatabaseName=db,
        TableName=table,
        PartitionValueList=["2025", "us"],
        PartitionInput={"Values": ["2025", "us"], "Parameters": {"updated": "yes"}},
    )
    updated = glue.get_partition(DatabaseName=db, TableName=table, PartitionValues=["2025", "us"])
    assert updated["Partition"]["Parameters"] == {"updated": "yes"}

    batch = glue.batch_get_partition(
        DatabaseName=db,
        TableName=table,
        PartitionsToGet=[
            {"Values": ["2022", "us"]},
            {"Values": ["1", "x"]},
            {"Values": ["2024", "eu"]},
        ],
    )
    assert values_of(batch["Partitions"]) == [("2022", "us"), ("2024", "eu")]

    glue.delete_partition(DatabaseName=db, TableName=table, PartitionValues=["2025", "eu"])
    with pytest.raises(ClientError) as e:
        glue.get_partition(DatabaseName=db, TableName=table, PartitionValues=["2025", "eu"])
    assert error_code(e) == "EntityNotFoundException"
    errors = glue.batch_delete_partition(
        DatabaseName=db,
        TableName=table,
        PartitionsToDelete=[{"Values": ["2025", "us"]}, {"Values": ["2030", "eu"]}],
    )["Errors"]
    assert [x["PartitionValues"] for x in errors] == [["2030", "eu"]]


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("year = 2023", {("2023", "eu"), ("2023", "us")}),
        ("year > 2022 AND region = 'eu'", {("2023", "eu"), ("2024", "eu")}),
        ("year < 2000", {("999", "eu"), ("999", "us")}),  # numeric, not string, order
        (
            "year >= 2024 OR region <> 'us'",
            {
                ("2024", "us"),
                ("2022", "eu"),
                ("2023", "eu"),
                ("2024", "eu"),
                ("999", "eu"),
            },
        ),
        (
            "year BETWEEN 2022 AND 2023 AND NOT region = 'us'",
            {("2022", "eu"), ("2023", "eu")},
        ),
        ("year IN (2022, 2024) AND region IN ('us')", {("2022", "us"), ("2024", "us")}),
        (
            "region LIKE 'e%' AND (year = 999 OR year = 2024)",
            {("999", "eu"), ("2024", "eu")},
        ),
        (
            'year != 2022 and region != "eu" and year <= 2023',
            {("2023", "us"), ("999", "us")},
        ),
    ],
)
def test_get_partitions_expression(glue, partitioned, expression, expected):
    db, table = partitioned
    got = glue.get_partitions(DatabaseName=db, TableName=table, Expression=expression)
    assert set(values_of(got["Partitions"])) == expected


def test_get_partitions_pages_and_refuses_bad_expressions(glue, partitioned):
    db, table = partitioned
    seen, token = [], None
    while True:
        kwargs = {"NextToken": token} if token else {}
        reply = glue.get_partitions(
            DatabaseName=db,
            TableName=table,
            Expression="year > 0",
            MaxResults=3,
            **kwargs,
        )
        assert len(reply["Partitions"]) <= 3
        seen += [tuple(p["Values"]) for p in reply["Partitions"]]
        token = reply.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 8
    segments = [
        values_of(
            glue.get_partitions(
                DatabaseName=db,
                TableName=table,
                Segment={"SegmentNumber": i, "TotalSegments": 3},
            )["Partitions"]
        )
        for i in range(3)
    ]
    assert sorted(v for s in segments for v in s) == sorted(seen)
    no_schema = glue.get_partitions(DatabaseName=db, TableName=table, ExcludeColumnSchema=True)
    assert all("Columns" not in p["StorageDescriptor"] for p in no_schema["Partitions"])
    for bad in ["year = 'x'", "nokey = 1", "year =", "(year = 1", "year = 1 ) AND"]:
        with pytest.raises(ClientError) as e:
            glue.get_partitions(DatabaseName=db, TableName=table, Expression=bad)
        assert error_code(e) == "InvalidInputException", bad


# -- functions -------------------------------------------------------------------------------


def test_user_defined_functions(glue, db):
    fn = {
        "FunctionName": "Upper2",
        "ClassName": "com.example.Upper",
        "OwnerName": "alice",
        "OwnerType": "USER",
        "ResourceUris": [{"ResourceType": "JAR", "Uri": "file:///tmp/u.jar"}],
    }
    glue.create_user_defined_function(DatabaseName=db, FunctionInput=fn)
    got = glue.get_user_defined_function(DatabaseName=db, FunctionName="upper2")[
        "UserDefinedFunction"
    ]
    assert got["FunctionName"] == "upper2"
    assert got["ClassName"] == "com.example.Upper"
    assert got["ResourceUris"] == fn["ResourceUris"]
    with pytest.raises(ClientError) as e:
        glue.create_user_defined_function(DatabaseName=db, FunctionInput=fn)
    assert error_code(e) == "AlreadyExistsException"
    glue.create_user_defined_function(
        DatabaseName=db,
        FunctionInput={"FunctionName": "lower2", "ClassName": "com.example.Lower"},
    )
    listed = glue.get_user_defined_functions(DatabaseName=db, Pattern="upp.*")[
        "UserDefinedFunctions"
    ]
    assert [f["FunctionName"] for f in listed] == ["upper2"]
    everywhere = glue.get_user_defined_functions(Pattern="*")["UserDefinedFunctions"]
    assert {"upper2", "lower2"} <= {f["FunctionName"] for f in everywhere}
    glue.update_user_defined_function(
        DatabaseName=db,
        FunctionName="upper2",
        FunctionInput={**fn, "ClassName": "com.example.Upper2"},
    )
    got = glue.get_user_defined_function(DatabaseName=db, FunctionName="upper2")[
        "UserDefinedFunction"
    ]
    assert got["ClassName"] == "com.example.Upper2"
    glue.delete_user_defined_function(DatabaseName=db, FunctionName="upper2")
    with pytest.raises(ClientError) as e:
        glue.get_user_defined_function(DatabaseName=db, FunctionName="upper2")
    assert error_code(e) == "EntityNotFoundException"
    assert "does not exist" in e.value.response["Error"]["Message"]


# -- errors change nothing -------------------------------------------------------------------


def test_invalid_input_names_the_field_and_changes_nothing(glue, db):
    before = glue.get_tables(DatabaseName=db)["TableList"]
    cases = [
        (
            glue.create_database,
            {"DatabaseInput": {"Name": "x" * 256}},
            "DatabaseInput.Name",
        ),
        (glue.create_database, {"DatabaseInput": {}}, "Name"),
        (
            glue.create_table,
            {"DatabaseName": db, "TableInput": {"Name": "bad\nname"}},
            "TableInput.Name",
        ),
        (
            glue.create_table,
            {
                "DatabaseName": db,
                "TableInput": {
                    "Name": "t",
                    "StorageDescriptor": {"Columns": [{"Name": "c", "Type": "x" * 131073}]},
                },
            },
            "TableInput.StorageDescriptor.Columns.0.Type",
        ),
        (glue.get_tables, {"DatabaseName": db, "MaxResults": 0}, "MaxResults"),
        (
            glue.create_user_defined_function,
            {
                "DatabaseName": db,
                "FunctionInput": {"FunctionName": "f", "OwnerType": "NOBODY"},
            },
            "FunctionInput.OwnerType",
        ),
    ]
    for call, kwargs, field in cases:
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        assert error_code(e) == "InvalidInputException", (field, e.value.response)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert field in e.value.response["Error"]["Message"], e.value.response["Error"]["Message"]
    assert glue.get_tables(DatabaseName=db)["TableList"] == before


def test_a_foreign_catalog_id_is_refused(glue, db):
    with pytest.raises(ClientError) as e:
        glue.get_tables(CatalogId="999999999999", DatabaseName=db)
    assert error_code(e) == "AccessDeniedException"
    assert glue.get_tables(CatalogId=OPEN_ACCOUNT, DatabaseName=db)["TableList"] == []


# -- tenancy and durability ------------------------------------------------------------------


def test_accounts_have_separate_catalogs(auth_server, uid):
    a = auth_server.glue(ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    b = auth_server.glue(ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])
    name = f"shared_name_{uid}"
    a.create_database(DatabaseInput={"Name": name, "Description": "A"})
    b.create_database(DatabaseInput={"Name": name, "Description": "B"})
    a.create_table(DatabaseName=name, TableInput={"Name": "only_a", "TableType": "MANAGED_TABLE"})
    assert b.get_tables(DatabaseName=name)["TableList"] == []
    with pytest.raises(ClientError) as e:
        b.get_table(DatabaseName=name, Name="only_a")
    assert error_code(e) == "EntityNotFoundException"
    assert a.get_database(Name=name)["Database"]["Description"] == "A"
    assert b.get_database(Name=name)["Database"]["Description"] == "B"
    a_location = local(
        a.get_table(DatabaseName=name, Name="only_a")["Table"]["StorageDescriptor"]["Location"]
    )
    assert ACCOUNT_A["account_id"] in a_location.parts
    b.delete_database(Name=name)
    assert a.get_table(DatabaseName=name, Name="only_a")["Table"]["Name"] == "only_a"
    assert a_location.is_dir()


def test_everything_survives_a_restart(server_factory):
    srv = server_factory()
    glue = srv.glue()
    glue.create_database(DatabaseInput={"Name": "durable"})
    glue.create_table(
        DatabaseName="durable",
        TableInput={
            "Name": "t",
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": "p", "Type": "string"}],
            "Parameters": {"v": "1"},
        },
    )
    glue.update_table(
        DatabaseName="durable",
        TableInput={
            "Name": "t",
            "Parameters": {"v": "2"},
            "PartitionKeys": [{"Name": "p", "Type": "string"}],
        },
    )
    glue.create_partition(DatabaseName="durable", TableName="t", PartitionInput={"Values": ["a"]})
    glue.create_user_defined_function(
        DatabaseName="durable", FunctionInput={"FunctionName": "f", "ClassName": "C"}
    )
    token = glue.get_databases(MaxResults=1).get("NextToken")
    srv.crash()  # kill -9: acknowledged writes must be on disk
    srv.start()
    glue = srv.glue()
    assert glue.get_table(DatabaseName="durable", Name="t")["Table"]["VersionId"] == "2"
    versions = glue.get_table_versions(DatabaseName="durable", TableName="t")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["2", "1"]
    assert values_of(glue.get_partitions(DatabaseName="durable", TableName="t")["Partitions"]) == [
        ("a",)
    ]
    assert glue.get_user_defined_function(DatabaseName="durable", FunctionName="f")
    if token:
        glue.get_databases(MaxResults=1, NextToken=token)  # tokens outlive the process
    srv.restart()
    assert srv.glue().get_database(Name="durable")["Database"]["Name"] == "durable"


def test_warehouse_flag(server_factory, tmp_path):
    srv = server_factory("--warehouse", str(tmp_path / "wh"))
    glue = srv.glue()
    glue.create_database(DatabaseInput={"Name": "w"})
    glue.create_table(DatabaseName="w", TableInput={"Name": "t", "TableType": "MANAGED_TABLE"})
    location = local(
        glue.get_table(DatabaseName="w", Name="t")["Table"]["StorageDescriptor"]["Location"]
    )
    assert location == tmp_path / "wh" / OPEN_ACCOUNT / "w.db" / "t"
    assert location.is_dir()


@pytest.mark.parametrize(
    "value, message",
    [
        ("s3://", "needs a bucket"),
        ("s3:///lake", "needs a bucket"),
        ("s3://No_Such/x", "not an S3 bucket name"),
        ("s3://lake/a/../b", "'..'"),
        ("ftp://x", 'unsupported warehouse scheme "ftp"'),
        ("file://host/wh", "not a local file: URI"),
    ],
)
def test_bad_warehouse_values_are_cli_errors(tmp_path, value, message):
    done = subprocess.run(
        [
            str(H.default_binary()),
            "serve",
            "--runtime",
            "none",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path),
            "--warehouse",
            value,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done
    assert "--warehouse" in done.stderr and message in done.stderr, done.stderr


def s3_of(server, account=None):
    key = (account["access_key_id"], account["secret_access_key"]) if account else H.DEV_KEY
    return H._client("s3", server.url, *key, H.REGION, s3={"addressing_style": "path"})


def keys_in(s3, bucket, prefix=""):
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_s3_warehouse_locations_bucket_and_drops(server_factory, uid):
    bucket = f"wh-{uid}"
    srv = server_factory("--warehouse", f"s3://{bucket}/lake/")
    glue, s3 = srv.glue(), s3_of(srv)
    glue.create_database(DatabaseInput={"Name": "sales"})
    assert "LocationUri" not in glue.get_database(Name="sales")["Database"]
    # The bucket was made, in the creating account's name, for the database's default place.
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    glue.create_table(
        DatabaseName="sales",
        TableInput={"Name": "m", "TableType": "MANAGED_TABLE", "StorageDescriptor": parquet_sd()},
    )
    base = f"lake/{OPEN_ACCOUNT}/sales.db"
    table = glue.get_table(DatabaseName="sales", Name="m")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/{base}/m"
    for key in (
        f"{base}/m/part-0.parquet",
        f"{base}/m/p=1/part-1.parquet",
        f"{base}/m_x/keep",
        f"{base}/m2/keep",
        "elsewhere/keep",
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    glue.create_table(
        DatabaseName="sales",
        TableInput={
            "Name": "ext",
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": parquet_sd(f"s3://{bucket}/{base}/m2"),
        },
    )
    glue.delete_table(DatabaseName="sales", Name="m")
    glue.delete_table(DatabaseName="sales", Name="ext")
    assert keys_in(s3, bucket) == sorted([f"{base}/m2/keep", f"{base}/m_x/keep", "elsewhere/keep"])
    # A managed table whose location names a place outside the account's part is not emptied.
    glue.create_table(
        DatabaseName="sales",
        TableInput={
            "Name": "out",
            "TableType": "MANAGED_TABLE",
            "StorageDescriptor": parquet_sd(f"s3://{bucket}/elsewhere"),
        },
    )
    glue.delete_table(DatabaseName="sales", Name="out")
    assert "elsewhere/keep" in keys_in(s3, bucket)


def test_s3_warehouse_bucket_of_another_account_is_refused(server_factory, uid):
    bucket = f"wh-{uid}"
    srv = server_factory("--warehouse", f"s3://{bucket}", accounts=[ACCOUNT_A, ACCOUNT_B])
    a = srv.glue(ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    b = srv.glue(ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])
    s3_of(srv, ACCOUNT_B).create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        a.create_database(DatabaseInput={"Name": "d"})
    assert error_code(e) == "AccessDeniedException"
    assert bucket in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        a.get_database(Name="d")
    assert error_code(e) == "EntityNotFoundException", "the refused call changed nothing"
    # A database with a location of its own needs no warehouse bucket.
    a.create_database(DatabaseInput={"Name": "own", "LocationUri": "s3://elsewhere/own.db"})
    b.create_database(DatabaseInput={"Name": "d"})
    assert keys_in(s3_of(srv, ACCOUNT_B), bucket) == []


def test_s3_warehouse_on_an_external_s3_is_only_a_location(server_factory):
    srv = server_factory("--warehouse", "s3://ext-wh/p", "--s3-endpoint", "http://127.0.0.1:9")
    glue = srv.glue()
    glue.create_database(DatabaseInput={"Name": "d"})
    glue.create_table(DatabaseName="d", TableInput={"Name": "t", "TableType": "MANAGED_TABLE"})
    table = glue.get_table(DatabaseName="d", Name="t")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://ext-wh/p/{OPEN_ACCOUNT}/d.db/t"
    glue.delete_table(DatabaseName="d", Name="t")
    glue.delete_database(Name="d")


# -- Lake Formation --------------------------------------------------------------------------


def test_lake_formation_grants_and_revokes_succeed(server, auth_server):
    entry = {
        "Id": "1",
        "Principal": {"DataLakePrincipalIdentifier": "arn:aws:iam::111111111111:role/dbt"},
        "Resource": {"Database": {"Name": "analytics"}},
        "Permissions": ["ALTER", "CREATE_TABLE", "DROP"],
    }
    lf = H._client("lakeformation", server.url, None, None, H.REGION)
    assert lf.batch_grant_permissions(Entries=[entry])["Failures"] == []
    assert lf.batch_revoke_permissions(Entries=[entry])["Failures"] == []
    with pytest.raises(ClientError) as e:
        lf.batch_grant_permissions()
    assert error_code(e) == "InvalidInputException"
    signed = H._client(
        "lakeformation",
        auth_server.url,
        ACCOUNT_A["access_key_id"],
        ACCOUNT_A["secret_access_key"],
        H.REGION,
    )
    assert (
        signed.batch_grant_permissions(CatalogId="111111111111", Entries=[entry])["Failures"] == []
    )
    forged = H._client(
        "lakeformation", auth_server.url, ACCOUNT_A["access_key_id"], "wrong", H.REGION
    )
    with pytest.raises(ClientError) as e:
        forged.batch_grant_permissions(Entries=[entry])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


if os.environ.get("EPOXY_CATALOG_BENCH"):

    def test_get_table_latency_on_10000_tables(server_factory):
        """Opt-in figure: GetTable p50/p99 through boto3 with 10,000 tables in one database."""
        import time

        srv = server_factory()
        glue = srv.glue()
        glue.create_database(DatabaseInput={"Name": "bench"})
        for i in range(10_000):
            glue.create_table(DatabaseName="bench", TableInput={"Name": f"t{i:05d}"})
        samples = []
        for i in range(0, 10_000, 10):
            start = time.perf_counter()
            glue.get_table(DatabaseName="bench", Name=f"t{i:05d}")
            samples.append(time.perf_counter() - start)
        samples.sort()
        print(
            f"GetTable p50 {samples[len(samples) // 2] * 1e3:.2f} ms, "
            f"p99 {samples[int(len(samples) * 0.99)] * 1e3:.2f} ms"
        )
