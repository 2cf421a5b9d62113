"""End to end: `--datalake-formats` with the `--conf` settings AWS's Glue documentation gives,
in real PySpark drivers, on epoxy's S3 and Glue catalog, in strict mode (each session acts with
its own minted key: S3A, and the AWS SDK for Java 2 inside Iceberg).

One server, one session per format (their Spark extensions and catalogs differ), all of A.
"""

from __future__ import annotations

import uuid

import pytest

import runtime_support as R
from epoxy_harness import ACCOUNT_A, ACCOUNT_B, EpoxyServer, create_args
from test_s3a import account_s3

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

BUCKET = f"lake-{uuid.uuid4().hex[:10]}"

ICEBERG_CONF = (
    "spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
    " --conf spark.sql.catalog.glue_catalog=org.apache.iceberg.spark.SparkCatalog"
    f" --conf spark.sql.catalog.glue_catalog.warehouse=s3://{BUCKET}/warehouse/"
    " --conf spark.sql.catalog.glue_catalog.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog"
    " --conf spark.sql.catalog.glue_catalog.io-impl=org.apache.iceberg.aws.s3.S3FileIO"
)
DELTA_CONF = (
    "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension"
    " --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog"
)
HUDI_CONF = (
    "spark.serializer=org.apache.spark.serializer.KryoSerializer"
    " --conf spark.sql.extensions=org.apache.spark.sql.hudi.HoodieSparkSessionExtension"
    " --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.hudi.catalog.HoodieCatalog"
    " --conf spark.sql.hive.convertMetastoreParquet=false"
)
SESSIONS = {
    "lake-iceberg": ("iceberg", ICEBERG_CONF),
    "lake-delta": ("delta", DELTA_CONF),
    "lake-hudi": ("HUDI", HUDI_CONF),
}


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def server():
    srv = EpoxyServer(
        runtime="spark",
        accounts=[ACCOUNT_A, ACCOUNT_B],
        extra_args=["--python", R.RUNTIME_PYTHON, "--warm-pool", "0", "--max-live-sessions", "4"],
    )
    with srv:
        account_s3(srv, ACCOUNT_A).create_bucket(Bucket=BUCKET)
        yield srv


@pytest.fixture(scope="module")
def glue(server):
    """A's Glue client, with one session per format created (they start in parallel)."""
    a = server.glue(ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    for session_id, (formats, conf) in SESSIONS.items():
        arguments = {"--datalake-formats": formats, "--conf": conf}
        a.create_session(**create_args(session_id, DefaultArguments=arguments))
    return a


def test_unknown_format_fails_the_session_naming_it(glue):
    args = {"--datalake_formats": "iceberg,paimon"}
    glue.create_session(**create_args("lake-unknown", DefaultArguments=args))
    s = R.H.wait_for_status(glue, "lake-unknown", ("FAILED", "READY"), timeout=60)
    assert s["Status"] == "FAILED", s
    assert "paimon" in s.get("ErrorMessage", ""), s


def test_iceberg_in_the_glue_catalog(server, glue):
    sid = "lake-iceberg"
    R.wait_ready(glue, sid)
    table = "glue_catalog.icedb.events"
    # A database with a location of its own (one without: the next test).
    R.run_ok(
        glue,
        sid,
        f"""
spark.sql("CREATE DATABASE IF NOT EXISTS glue_catalog.icedb LOCATION 's3://{BUCKET}/warehouse/icedb.db'")
spark.sql(\"\"\"CREATE TABLE {table} (id BIGINT, v STRING) USING iceberg TBLPROPERTIES (
  'format-version'='2', 'write.delete.mode'='merge-on-read',
  'write.update.mode'='merge-on-read', 'write.merge.mode'='merge-on-read')\"\"\")
spark.sql("INSERT INTO {table} VALUES (1, 'a'), (2, 'b'), (3, 'c')")
""",
        timeout=180,
    )
    first = last_line(
        R.run_ok(
            glue,
            sid,
            f"print(spark.sql('SELECT snapshot_id FROM {table}.snapshots').first()[0])",
        )
    )
    R.run_ok(
        glue,
        sid,
        f"""
spark.sql("UPDATE {table} SET v = 'B' WHERE id = 2")
spark.sql("DELETE FROM {table} WHERE id = 3")
""",
        timeout=180,
    )
    now = R.run_ok(
        glue,
        sid,
        f"print([tuple(r) for r in spark.sql('SELECT * FROM {table} ORDER BY id').collect()])",
    )
    assert last_line(now) == "[(1, 'a'), (2, 'B')]", now
    then = R.run_ok(
        glue,
        sid,
        f"print(spark.sql('SELECT count(*) FROM {table} VERSION AS OF {first}').first()[0])",
    )
    assert last_line(then) == "3", then
    deletes = R.run_ok(
        glue, sid, f"print(spark.sql('SELECT count(*) FROM {table}.delete_files').first()[0])"
    )
    assert int(last_line(deletes)) > 0, "merge-on-read wrote no delete files"
    got = glue.get_table(DatabaseName="icedb", Name="events")["Table"]
    params = got["Parameters"]
    assert params["table_type"].upper() == "ICEBERG", params
    assert params["metadata_location"].startswith(f"s3://{BUCKET}/warehouse/"), params
    metadata_key = params["metadata_location"].split(f"s3://{BUCKET}/", 1)[1]
    account_s3(server, ACCOUNT_A).head_object(Bucket=BUCKET, Key=metadata_key)


def test_iceberg_in_a_database_created_by_boto3_without_a_location(server, glue):
    """AWS's GetDatabase shows no LocationUri for such a database, so GlueCatalog puts the
    table under its own `warehouse`, on S3 (a `file:` default would defeat S3FileIO)."""
    sid = "lake-iceberg"
    R.wait_ready(glue, sid)
    glue.create_database(DatabaseInput={"Name": "ice_noloc"})
    assert "LocationUri" not in glue.get_database(Name="ice_noloc")["Database"]
    table = "glue_catalog.ice_noloc.t"
    R.run_ok(
        glue,
        sid,
        f"""
spark.sql("CREATE TABLE {table} (id BIGINT) USING iceberg")
spark.sql("INSERT INTO {table} VALUES (1), (2)")
""",
        timeout=180,
    )
    out = R.run_ok(glue, sid, f"print(spark.sql('SELECT sum(id) FROM {table}').first()[0])")
    assert last_line(out) == "3", out
    params = glue.get_table(DatabaseName="ice_noloc", Name="t")["Table"]["Parameters"]
    base = "warehouse/ice_noloc.db/t"
    assert params["metadata_location"].startswith(f"s3://{BUCKET}/{base}/metadata/"), params
    listed = account_s3(server, ACCOUNT_A).list_objects_v2(Bucket=BUCKET, Prefix=f"{base}/data/")
    assert any(o["Key"].endswith(".parquet") for o in listed.get("Contents", [])), listed


def test_delta_create_insert_update_history(server, glue):
    sid = "lake-delta"
    R.wait_ready(glue, sid)
    R.run_ok(
        glue,
        sid,
        f"""
spark.sql("CREATE DATABASE IF NOT EXISTS deltadb")
spark.sql("CREATE TABLE deltadb.items (id INT, v STRING) USING delta "
          "LOCATION 's3://{BUCKET}/delta/items'")
spark.sql("INSERT INTO deltadb.items VALUES (1, 'a'), (2, 'b')")
spark.sql("UPDATE deltadb.items SET v = 'B' WHERE id = 2")
""",
        timeout=180,
    )
    rows = R.run_ok(
        glue,
        sid,
        "print([tuple(r) for r in spark.sql('SELECT * FROM deltadb.items ORDER BY id').collect()])",
    )
    assert last_line(rows) == "[(1, 'a'), (2, 'B')]", rows
    history = R.run_ok(
        glue,
        sid,
        "print(sorted(r[0] for r in spark.sql('DESCRIBE HISTORY deltadb.items')"
        ".select('operation').collect()))",
    )
    assert last_line(history) == "['CREATE TABLE', 'UPDATE', 'WRITE']", history
    listed = account_s3(server, ACCOUNT_A).list_objects_v2(
        Bucket=BUCKET, Prefix="delta/items/_delta_log/"
    )
    assert any(o["Key"].endswith(".json") for o in listed.get("Contents", [])), listed
    assert glue.get_table(DatabaseName="deltadb", Name="items")["Table"]["Name"] == "items"


def test_hudi_upsert_and_read_back(glue):
    sid = "lake-hudi"
    R.wait_ready(glue, sid)
    out = R.run_ok(
        glue,
        sid,
        f"""
path = "s3://{BUCKET}/hudi/people"
options = {{
    "hoodie.table.name": "people",
    "hoodie.datasource.write.recordkey.field": "id",
    "hoodie.datasource.write.precombine.field": "ts",
    "hoodie.datasource.write.table.type": "COPY_ON_WRITE",
    "hoodie.datasource.write.operation": "upsert",
}}
first = spark.createDataFrame([(1, "ann", 1), (2, "bob", 1)], ["id", "name", "ts"])
first.write.format("hudi").options(**options).mode("overwrite").save(path)
change = spark.createDataFrame([(2, "bobby", 2), (3, "cy", 2)], ["id", "name", "ts"])
change.write.format("hudi").options(**options).mode("append").save(path)
back = spark.read.format("hudi").load(path).select("id", "name").orderBy("id")
print([tuple(r) for r in back.collect()])
""",
        timeout=300,
    )
    assert last_line(out) == "[(1, 'ann'), (2, 'bobby'), (3, 'cy')]", out
