"""End to end: `s3://`, `s3a://` and `s3n://` in real PySpark drivers, through Hadoop's S3A and
epoxy's built-in S3, with each session's own minted key.

One strict server (`--accounts` A and B, a warm pool of one, so the first session takes a driver
whose JVM started before it had any key, `--warehouse s3://…`) and three sessions shared by the
module: two of A, one of B. A's buckets are created by A through boto3; the sessions read and
write them as A's assumed role, and B's session is refused.
"""

from __future__ import annotations

import json
import re
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

import runtime_support as R
from epoxy_harness import ACCOUNT_A, ACCOUNT_B, REGION, EpoxyServer, client_config, create_args

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

BUCKET = f"s3a-{uuid.uuid4().hex[:10]}"
DATABASE = "s3a_db"
WAREHOUSE = f"wh-{uuid.uuid4().hex[:10]}"

# Runs inside a session: the key it was handed.
SESSION_KEY = """
import json, os
print(json.dumps({k: os.environ[k] for k in
                  ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}))
"""


def s3_client(server, key, secret, token=None, **config):
    return boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
    ).client(
        "s3",
        endpoint_url=server.url,
        config=client_config(s3={"addressing_style": "path"}, **config),
    )


def account_s3(server, account):
    return s3_client(server, account["access_key_id"], account["secret_access_key"])


def session_s3(server, env):
    return s3_client(
        server, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]
    )


def error_code(fn) -> str:
    with pytest.raises(ClientError) as e:
        fn()
    return e.value.response["Error"]["Code"]


def keys(s3, prefix) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture(scope="module")
def server():
    srv = EpoxyServer(
        runtime="spark",
        accounts=[ACCOUNT_A, ACCOUNT_B],
        extra_args=[
            *("--python", R.RUNTIME_PYTHON, "--warm-pool", "1", "--max-live-sessions", "4"),
            *("--warehouse", f"s3://{WAREHOUSE}/lake"),
        ],
    )
    with srv:
        R.wait_pool_warm(srv)
        account_s3(srv, ACCOUNT_A).create_bucket(Bucket=BUCKET)
        yield srv


@pytest.fixture(scope="module")
def glue(server):
    """Glue clients of A and B, with sessions a1 (the warm driver), a2 and b1 created."""
    a = server.glue(ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    b = server.glue(ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])
    a.create_session(**create_args("s3a-a1"))
    R.wait_ready(a, "s3a-a1")
    a.create_session(**create_args("s3a-a2"))
    b.create_session(**create_args("s3a-b1"))
    R.wait_ready(a, "s3a-a2")
    R.wait_ready(b, "s3a-b1")
    return {"a": a, "b": b}


def test_parquet_on_s3_written_by_one_session_is_read_by_another(server, glue):
    a = glue["a"]
    R.run_ok(
        a,
        "s3a-a1",
        f"spark.range(100).selectExpr('id', 'id * 2 AS twice')"
        f".write.mode('overwrite').parquet('s3://{BUCKET}/t/')",
    )
    out = R.run_ok(
        a,
        "s3a-a2",
        f"print(spark.read.parquet('s3://{BUCKET}/t/').selectExpr('count(*)', 'sum(twice)')"
        ".collect()[0][:])",
    )
    assert out.strip().splitlines()[-1] == "(100, 9900)", out
    listed = keys(account_s3(server, ACCOUNT_A), "t/")
    assert "t/_SUCCESS" in listed, listed
    assert any(k.endswith(".parquet") for k in listed), listed


def test_s3a_and_s3n_schemes_reach_the_same_bucket(server, glue):
    a = glue["a"]
    R.run_ok(a, "s3a-a1", f"spark.range(7).write.mode('overwrite').json('s3a://{BUCKET}/j/')")
    out = R.run_ok(
        a,
        "s3a-a2",
        f"print(spark.read.json('s3n://{BUCKET}/j/').count(),"
        f" spark.read.json('s3://{BUCKET}/j/').count())",
    )
    assert out.strip().splitlines()[-1] == "7 7", out
    assert any(k.endswith(".json") for k in keys(account_s3(server, ACCOUNT_A), "j/"))


def test_dynamic_frames_write_and_read_s3_paths(server, glue):
    a = glue["a"]
    code = f"""
from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
gc = GlueContext(sc)
df = spark.createDataFrame([(1, "x"), (2, "y"), (3, "z")], ["id", "v"])
gc.write_dynamic_frame.from_options(
    frame=DynamicFrame.fromDF(df, gc, "df"), connection_type="s3",
    connection_options={{"path": "s3://{BUCKET}/dyf/"}}, format="parquet")
back = gc.create_dynamic_frame.from_options(
    connection_type="s3", connection_options={{"paths": ["s3://{BUCKET}/dyf/"]}},
    format="parquet")
print(sorted(r["v"] for r in back.toDF().collect()))
"""
    out = R.run_ok(a, "s3a-a1", code)
    assert out.strip().splitlines()[-1] == "['x', 'y', 'z']", out
    assert any(k.endswith(".parquet") for k in keys(account_s3(server, ACCOUNT_A), "dyf/"))


def test_catalog_table_at_an_s3_location(server, glue):
    a = glue["a"]
    code = f"""
spark.sql("CREATE DATABASE IF NOT EXISTS {DATABASE}")
spark.sql("CREATE TABLE {DATABASE}.located (id INT, name STRING) USING parquet "
          "LOCATION 's3://{BUCKET}/located/'")
spark.sql("INSERT INTO {DATABASE}.located VALUES (1, 'one'), (2, 'two')")
"""
    R.run_ok(a, "s3a-a1", code)
    out = R.run_ok(
        a, "s3a-a2", f"print(spark.sql('SELECT sum(id) FROM {DATABASE}.located').first()[0])"
    )
    assert out.strip().splitlines()[-1] == "3", out
    table = a.get_table(DatabaseName=DATABASE, Name="located")["Table"]
    assert table["StorageDescriptor"]["Location"].rstrip("/") == f"s3://{BUCKET}/located"
    assert any(k.endswith(".parquet") for k in keys(account_s3(server, ACCOUNT_A), "located/"))


def test_managed_tables_in_an_s3_warehouse(server, glue):
    """CTAS and saveAsTable through the metastore land in the warehouse bucket (made in A's
    name for A's first database), read back in another session; DROP empties only its table."""
    a = glue["a"]
    code = """
spark.sql("CREATE DATABASE wh_db")
spark.range(10).selectExpr("id", "id * 2 AS twice").write.saveAsTable("wh_db.saved")
spark.sql("CREATE TABLE wh_db.ctas USING parquet AS SELECT id, id * 3 AS x FROM range(5)")
spark.range(3).write.saveAsTable("in_default")
"""
    R.run_ok(a, "s3a-a1", code, timeout=180)
    out = R.run_ok(
        a,
        "s3a-a2",
        "print(spark.sql('SELECT sum(twice) FROM wh_db.saved').first()[0],"
        " spark.sql('SELECT sum(x) FROM wh_db.ctas').first()[0],"
        " spark.table('in_default').count())",
    )
    assert out.strip().splitlines()[-1] == "90 30 3", out
    base = f"lake/{ACCOUNT_A['account_id']}"
    assert a.get_database(Name="wh_db")["Database"]["LocationUri"] == (
        f"s3://{WAREHOUSE}/{base}/wh_db.db"
    )
    for db, table in (("wh_db", "saved"), ("wh_db", "ctas"), ("default", "in_default")):
        location = a.get_table(DatabaseName=db, Name=table)["Table"]["StorageDescriptor"]
        assert location["Location"] == f"s3://{WAREHOUSE}/{base}/{db}.db/{table}", location
    s3 = account_s3(server, ACCOUNT_A)
    listed = s3.list_objects_v2(Bucket=WAREHOUSE, Prefix=f"{base}/")
    stored = [o["Key"] for o in listed.get("Contents", [])]
    for table in ("wh_db.db/saved", "wh_db.db/ctas", "default.db/in_default"):
        assert any(k.startswith(f"{base}/{table}/") and k.endswith(".parquet") for k in stored)
    R.run_ok(a, "s3a-a1", "spark.sql('DROP TABLE wh_db.ctas')")
    listed = s3.list_objects_v2(Bucket=WAREHOUSE, Prefix=f"{base}/wh_db.db/")
    left = {k["Key"].split("/")[3] for k in listed.get("Contents", [])}
    assert left == {"saved"}, left


def test_another_accounts_session_cannot_read_the_bucket(glue):
    st = R.run(glue["b"], "s3a-b1", f"spark.read.parquet('s3://{BUCKET}/t/').count()")
    out = st["Output"]
    assert out["Status"] == "error", st
    text = out["ErrorValue"] + "".join(out["Traceback"])
    assert "AccessDenied" in text or "403" in text, text


def test_session_key_works_on_s3_only_while_the_session_lives(server, glue):
    a = glue["a"]
    env = json.loads(R.run_ok(a, "s3a-a2", SESSION_KEY).strip().splitlines()[-1])
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    live = session_s3(server, env)
    assert BUCKET in [b["Name"] for b in live.list_buckets()["Buckets"]]
    assert "t/_SUCCESS" in keys(live, "t/")
    # URLs presigned with the session's key: SigV2 (boto3's default for presigning; the token
    # rides as `x-amz-security-token`) and SigV4 (`X-Amz-Security-Token`). A changed token fails.
    for version in ("s3", "s3v4"):
        signer = s3_client(
            server,
            env["AWS_ACCESS_KEY_ID"],
            env["AWS_SECRET_ACCESS_KEY"],
            env["AWS_SESSION_TOKEN"],
            signature_version=version,
        )
        params = {"Bucket": BUCKET, "Key": "t/_SUCCESS"}
        url = signer.generate_presigned_url("get_object", Params=params)
        status, _, body = R.http_get(url)
        assert status == 200, (version, url, body[:300])
        forged = re.sub(r"(?i)(x-amz-security-token=)", r"\1x", url)
        status, _, body = R.http_get(forged)
        assert (status, b"InvalidToken" in body) == (400, True), (version, body[:300])
    wrong_token = s3_client(
        server, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "not-the-token"
    )
    assert error_code(lambda: wrong_token.list_buckets()) == "InvalidToken"
    no_token = s3_client(server, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    assert error_code(lambda: no_token.list_buckets()) == "InvalidToken"
    a.stop_session(Id="s3a-a2")
    R.H.wait_for_status(a, "s3a-a2", ("STOPPED",), timeout=30)
    # The key's life was the session's: S3 answers as for temporary credentials whose time is
    # over; a wrong token is still InvalidToken.
    assert error_code(lambda: live.list_buckets()) == "ExpiredToken"
    assert error_code(lambda: live.get_object(Bucket=BUCKET, Key="t/_SUCCESS")) == "ExpiredToken"
    assert error_code(lambda: wrong_token.list_buckets()) == "InvalidToken"
