"""End to end: every session's Spark uses epoxy's Hive Metastore, one catalog with the Glue API.

One server with two accounts (SigV4, ACCOUNT_A and ACCOUNT_B) and a warm pool of one. Session
`ms-a1` (account A) builds a catalog in Spark SQL; the Glue API must return the same objects;
the server restarts; session `ms-a2` (account A again, a new driver) sees all of it, drops and
re-creates; session `ms-b1` (account B) sees a catalog of its own. No driver may ever fall back
to a local Derby metastore. Three driver JVMs in all; tests run in file order.
"""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import pytest

import epoxy_harness as H
import runtime_support as R

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

A, B = H.ACCOUNT_A, H.ACCOUNT_B
SLOW = 300  # seconds a DDL/DML statement may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def srv():
    server = H.EpoxyServer(
        runtime="spark",
        accounts=[A, B],
        extra_args=["--python", R.RUNTIME_PYTHON, "--warm-pool", "1", "--max-live-sessions", "2"],
    )
    with server:
        R.wait_pool_warm(server)
        yield server


def glue_of(srv, account):
    return srv.glue(account["access_key_id"], account["secret_access_key"])


def warehouse(srv, account) -> Path:
    return srv.data_dir / "warehouse" / account["account_id"]


def start_session(srv, account, session_id):
    """A READY session taken from the warm pool (waits for the pool first)."""
    R.wait_pool_warm(srv)
    glue = glue_of(srv, account)
    H.create_session(glue, session_id)
    R.wait_ready(glue, session_id)
    return glue


def sql_rows(glue, session_id, query):
    """The rows of a query as a list of tuples (evaluated in the driver, printed as repr)."""
    text = R.run_ok(glue, session_id, f"[tuple(r) for r in spark.sql({query!r}).collect()]", SLOW)
    return ast.literal_eval(text)


def run_error(glue, session_id, code) -> str:
    st = R.run(glue, session_id, code, SLOW)
    out = st["Output"]
    assert out["Status"] == "error", f"{code!r} should have failed: {st}"
    return f"{out.get('ErrorName')}: {out.get('ErrorValue')}"


def test_session_a_builds_a_catalog_in_spark_sql(srv):
    glue = glue_of(srv, A)
    # A database made through the Glue API, without a location, is usable from Spark.
    glue.create_database(DatabaseInput={"Name": "from_glue"})
    glue = start_session(srv, A, "ms-a1")
    # The pool's driver connected to the metastore at start: the first catalog statement
    # of a warm session pays no client start-up.
    t0 = time.monotonic()
    dbs = sql_rows(glue, "ms-a1", "SHOW DATABASES")
    first_sql_s = time.monotonic() - t0
    assert sorted(dbs) == [("default",), ("from_glue",)]
    assert first_sql_s < 3.0, f"first SHOW DATABASES of a warm session took {first_sql_s:.1f}s"

    orders = warehouse(srv, A) / "shop.db" / "orders"
    code = f"""
spark.sql("CREATE DATABASE shop")
spark.sql("CREATE TABLE shop.orders (id BIGINT, amount DOUBLE, day STRING) USING parquet PARTITIONED BY (day)")
spark.sql("INSERT INTO shop.orders VALUES (1, 10.0, '2024-01-01'), (2, 20.0, '2024-01-02'), (3, 30.0, '2024-01-02')")
spark.sql("CREATE TABLE shop.big USING parquet AS SELECT id, amount FROM shop.orders WHERE amount > 15")
spark.range(5).write.saveAsTable("shop.nums")
spark.sql("CREATE VIEW shop.v AS SELECT id FROM shop.orders WHERE day = '2024-01-02'")
spark.sql("ALTER TABLE shop.orders ADD PARTITION (day='2024-01-03')")
spark.sql("ALTER TABLE shop.orders DROP PARTITION (day='2024-01-03')")
# Files written behind the catalog's back, found by MSCK REPAIR.
spark.createDataFrame([(4, 40.0)], "id BIGINT, amount DOUBLE").write.parquet("file:{orders}/day=2024-01-04")
spark.sql("MSCK REPAIR TABLE shop.orders")
spark.sql("CREATE TABLE from_glue.t USING parquet AS SELECT 1 AS x")
sorted(r.partition for r in spark.sql("SHOW PARTITIONS shop.orders").collect())
"""
    out = R.run_ok(glue, "ms-a1", code, SLOW)
    assert ast.literal_eval(out) == ["day=2024-01-01", "day=2024-01-02", "day=2024-01-04"]
    assert (orders / "day=2024-01-02").is_dir()


def test_the_glue_api_returns_the_same_objects(srv):
    glue = glue_of(srv, A)
    base = f"file:{warehouse(srv, A)}"
    t = glue.get_table(DatabaseName="shop", Name="orders")["Table"]
    assert t["TableType"] == "MANAGED_TABLE"
    sd = t["StorageDescriptor"]
    assert sd["Location"] == f"{base}/shop.db/orders"
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [
        ("id", "bigint"),
        ("amount", "double"),
    ]
    assert [(c["Name"], c["Type"]) for c in t["PartitionKeys"]] == [("day", "string")]
    assert t["Parameters"]["spark.sql.sources.provider"] == "parquet"
    assert "ParquetHiveSerDe" in sd["SerdeInfo"]["SerializationLibrary"]

    parts = glue.get_partitions(DatabaseName="shop", TableName="orders")["Partitions"]
    by_day = {p["Values"][0]: p["StorageDescriptor"]["Location"] for p in parts}
    assert sorted(by_day) == ["2024-01-01", "2024-01-02", "2024-01-04"]
    assert by_day["2024-01-02"] == f"{base}/shop.db/orders/day=2024-01-02"
    pushed = glue.get_partitions(
        DatabaseName="shop", TableName="orders", Expression="day > '2024-01-01'"
    )["Partitions"]
    assert sorted(p["Values"][0] for p in pushed) == ["2024-01-02", "2024-01-04"]

    v = glue.get_table(DatabaseName="shop", Name="v")["Table"]
    assert v["TableType"] == "VIRTUAL_VIEW"
    assert "FROM shop.orders" in v["ViewOriginalText"]
    assert v["ViewExpandedText"]
    for name in ("big", "nums"):
        t = glue.get_table(DatabaseName="shop", Name=name)["Table"]
        assert t["StorageDescriptor"]["Location"] == f"{base}/shop.db/{name}"
        # Spark wrote no statistics, and epoxy invents none.
        assert not {"numFiles", "totalSize"} & set(t["Parameters"]), t["Parameters"]
    names = sorted(t["Name"] for t in glue.get_tables(DatabaseName="shop")["TableList"])
    assert names == ["big", "nums", "orders", "v"]
    # Created through Glue without a location: Glue shows none (as AWS), Spark got the
    # warehouse's default place for its table.
    assert "LocationUri" not in glue.get_database(Name="from_glue")["Database"]
    t = glue.get_table(DatabaseName="from_glue", Name="t")["Table"]
    assert t["StorageDescriptor"]["Location"] == f"{base}/from_glue.db/t"


def test_after_a_restart_a_new_session_sees_everything(srv):
    # ms-a1 would survive the restart (drivers outlive the server): stopped, so that what
    # ms-a2 sees comes from the metastore's store, through a new driver.
    glue_of(srv, A).stop_session(Id="ms-a1")
    H.wait_for_status(glue_of(srv, A), "ms-a1", "STOPPED", timeout=30)
    srv.restart()
    glue = start_session(srv, A, "ms-a2")
    assert sql_rows(glue, "ms-a2", "SHOW TABLES IN shop") == [
        ("shop", "big", False),
        ("shop", "nums", False),
        ("shop", "orders", False),
        ("shop", "v", False),
    ]
    described = sql_rows(glue, "ms-a2", "DESCRIBE shop.orders")
    assert ("id", "bigint", None) in described and ("day", "string", None) in described
    assert sql_rows(glue, "ms-a2", "SELECT count(*) FROM shop.orders WHERE day = '2024-01-02'") == [
        (2,)
    ]
    assert sql_rows(glue, "ms-a2", "SELECT sum(id) FROM shop.orders") == [(10,)]
    assert sorted(sql_rows(glue, "ms-a2", "SELECT id FROM shop.v")) == [(2,), (3,)]
    assert sorted(sql_rows(glue, "ms-a2", "SELECT id FROM shop.big")) == [(2,), (3,)]
    assert sql_rows(glue, "ms-a2", "SELECT x FROM from_glue.t") == [(1,)]


def test_drops_remove_directories_and_tables_come_back(srv):
    glue = glue_of(srv, A)
    nums = warehouse(srv, A) / "shop.db" / "nums"
    assert nums.is_dir()
    R.run_ok(glue, "ms-a2", 'spark.sql("DROP TABLE shop.nums")', SLOW)
    assert not nums.exists(), "a managed table's directory goes with it"
    R.run_ok(glue, "ms-a2", 'spark.range(7).write.saveAsTable("shop.nums")', SLOW)
    assert sql_rows(glue, "ms-a2", "SELECT count(*) FROM shop.nums") == [(7,)]

    R.run_ok(
        glue,
        "ms-a2",
        "spark.sql(\"ALTER TABLE shop.orders DROP PARTITION (day='2024-01-04')\")",
        SLOW,
    )
    assert not (warehouse(srv, A) / "shop.db" / "orders" / "day=2024-01-04").exists()
    assert sql_rows(glue, "ms-a2", "SELECT count(*) FROM shop.orders") == [(3,)]

    err = run_error(glue, "ms-a2", 'spark.sql("ALTER TABLE shop.big RENAME TO big2")')
    assert "Table rename is not supported" in err, err
    err = run_error(glue, "ms-a2", 'spark.sql("DROP DATABASE shop")')
    # Spark turns Hive's "Database shop is not empty" (InvalidOperationException) into this.
    assert "SCHEMA_NOT_EMPTY" in err, err

    R.run_ok(glue, "ms-a2", 'spark.sql("DROP VIEW shop.v")', SLOW)
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName="shop", Name="v")
    R.run_ok(glue, "ms-a2", 'spark.sql("DROP TABLE shop.big")', SLOW)
    R.run_ok(
        glue, "ms-a2", 'spark.sql("CREATE TABLE shop.big USING parquet AS SELECT 9 AS id")', SLOW
    )
    assert sql_rows(glue, "ms-a2", "SELECT id FROM shop.big") == [(9,)]


def test_hive_serde_tables_and_functions(srv):
    """`CREATE TABLE` without USING makes a Hive table (Spark 3.5's default), whose inserts go
    through Hive's own load path (alter_table, partition look-ups and adds)."""
    glue = glue_of(srv, A)
    code = """
spark.sql("CREATE TABLE shop.h (x INT) PARTITIONED BY (p STRING)")
spark.sql("INSERT INTO shop.h PARTITION (p='q') VALUES (5)")
spark.sql("INSERT OVERWRITE TABLE shop.h PARTITION (p='q') VALUES (6)")
spark.sql("ALTER TABLE shop.h SET TBLPROPERTIES ('team'='data')")
spark.sql("CREATE FUNCTION shop.up AS 'org.apache.hadoop.hive.ql.udf.generic.GenericUDFUpper'")
"""
    R.run_ok(glue, "ms-a2", code, SLOW)
    assert sql_rows(glue, "ms-a2", "SELECT x, p, shop.up(p) FROM shop.h") == [(6, "q", "Q")]
    t = glue.get_table(DatabaseName="shop", Name="h")["Table"]
    assert t["Parameters"]["team"] == "data"
    assert "LazySimpleSerDe" in t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    f = glue.get_user_defined_function(DatabaseName="shop", FunctionName="up")
    assert f["UserDefinedFunction"]["ClassName"].endswith("GenericUDFUpper")
    glue.stop_session(Id="ms-a2")


def test_another_account_has_a_catalog_of_its_own(srv):
    glue = start_session(srv, B, "ms-b1")
    assert sql_rows(glue, "ms-b1", "SHOW DATABASES") == [("default",)]
    err = run_error(glue, "ms-b1", 'spark.sql("SELECT * FROM shop.orders").collect()')
    assert "shop" in err, err
    R.run_ok(glue, "ms-b1", 'spark.sql("CREATE DATABASE shop")', SLOW)
    assert sql_rows(glue, "ms-b1", "SHOW TABLES IN shop") == []
    assert [d["Name"] for d in glue.get_databases()["DatabaseList"]] == ["default", "shop"]
    assert (
        glue.get_database(Name="shop")["Database"]["LocationUri"]
        == f"file:{warehouse(srv, B)}/shop.db"
    )
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName="shop", Name="orders")
    # Account A's catalog is untouched.
    assert (
        glue_of(srv, A).get_table(DatabaseName="shop", Name="orders")["Table"]["Name"] == "orders"
    )
    glue.stop_session(Id="ms-b1")


def test_no_driver_fell_back_to_a_local_derby_metastore(srv):
    roots = [srv.data_dir, Path(srv.data_dir).parent]
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            found += [Path(dirpath, d) for d in dirnames if d == "metastore_db"]
            found += [Path(dirpath, f) for f in filenames if f == "derby.log"]
    for cwd in {Path.cwd(), H.REPO_ROOT, H.REPO_ROOT / "tests" / "python"}:
        found += [p for p in (cwd / "metastore_db", cwd / "derby.log") if p.exists()]
    assert not found, f"a driver used a local Derby metastore: {found}"
    # Every RPC the drivers made is one the metastore serves.
    logs = "".join(
        p.read_text(errors="replace") for p in Path(srv.stderr_path).parent.glob("stderr-*.log")
    )
    assert "metastore: unknown method" not in logs, [
        line for line in logs.splitlines() if "unknown method" in line
    ]
