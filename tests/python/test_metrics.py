"""`/metrics`: Prometheus text parsed by prometheus_client's real parsers, with values that move
as sessions are created and stopped, requests fail, catalog calls are made, S3 objects are put
and got, and statements run.

The control-plane part runs on a `--runtime none` server; one real PySpark session shows the
statement, start-latency, warm-pool, metastore-RPC and driver-memory metrics.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import boto3
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

import epoxy_harness as H
import runtime_support as R


def scrape(server) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}; the text must parse with both parsers."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        text = resp.read().decode()
    # The strict OpenMetrics parser rejects malformed exposition; the classic one must cope too.
    list(openmetrics_families(text))
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_session_counts_and_requests_move(server, glue, uid):
    before = scrape(server)
    for i in range(3):
        H.create_session(glue, f"m-{uid}-{i}")
    glue.stop_session(Id=f"m-{uid}-0")
    H.expect_client_error(glue.get_session, "EntityNotFoundException", Id=f"missing-{uid}")
    after = scrape(server)

    assert (
        value(after, "epoxy_sessions", status="READY")
        == value(before, "epoxy_sessions", status="READY") + 2
    )
    assert (
        value(after, "epoxy_sessions", status="STOPPED")
        == value(before, "epoxy_sessions", status="STOPPED") + 1
    )
    ok = dict(operation="CreateSession", code="ok")
    assert (
        value(after, "epoxy_requests_total", **ok)
        == value(before, "epoxy_requests_total", **ok) + 3
    )
    missing = dict(operation="GetSession", code="EntityNotFoundException")
    assert value(after, "epoxy_requests_total", **missing) == (
        value(before, "epoxy_requests_total", **missing) + 1
    )
    count = "epoxy_request_seconds_count"
    assert (
        value(after, count, operation="CreateSession")
        >= value(before, count, operation="CreateSession") + 3
    )
    assert value(after, "epoxy_store_seconds_count") > value(before, "epoxy_store_seconds_count")
    # A stopped control-plane session was READY for a moment: it is billed Glue's minute.
    assert value(after, "epoxy_dpu_seconds", account=H.OPEN_ACCOUNT) >= 60 * 5


def test_glue_catalog_calls_count_by_operation_and_error(server, glue, uid):
    calls = "epoxy_catalog_calls_total"
    before = scrape(server)
    glue.create_database(DatabaseInput={"Name": f"mdb_{uid}"})
    glue.get_database(Name=f"mdb_{uid}")
    H.expect_client_error(
        glue.get_table, "EntityNotFoundException", DatabaseName=f"mdb_{uid}", Name="nope"
    )
    after = scrape(server)

    def moved(operation, code, series=calls):
        labels = dict(door="glue", operation=operation)
        if code is not None:
            labels["code"] = code
        return value(after, series, **labels) - value(before, series, **labels)

    assert moved("CreateDatabase", "ok") == 1
    assert moved("GetDatabase", "ok") == 1
    assert moved("GetTable", "EntityNotFoundException") == 1
    assert moved("GetTable", None, "epoxy_catalog_call_seconds_count") == 1
    assert moved("GetTable", None, "epoxy_catalog_call_seconds_sum") > 0


def test_s3_bytes_in_and_out_move_with_object_bodies(server, uid):
    s3 = boto3.session.Session(
        aws_access_key_id=H.DEV_KEY[0], aws_secret_access_key=H.DEV_KEY[1], region_name=H.REGION
    ).client(
        "s3",
        endpoint_url=server.url,
        config=H.client_config(s3={"addressing_style": "path"}),
    )
    bucket = f"metrics-{uid}"
    s3.create_bucket(Bucket=bucket)
    body = b"x" * 300_000
    before = scrape(server)
    s3.put_object(Bucket=bucket, Key="a.bin", Body=body)
    middle = scrape(server)
    assert s3.get_object(Bucket=bucket, Key="a.bin")["Body"].read() == body
    part = s3.get_object(Bucket=bucket, Key="a.bin", Range="bytes=0-999")["Body"].read()
    assert len(part) == 1000
    after = scrape(server)

    def moved(a, b, direction):
        return value(b, "epoxy_s3_bytes_total", direction=direction) - value(
            a, "epoxy_s3_bytes_total", direction=direction
        )

    assert moved(before, middle, "in") == len(body)
    assert moved(before, middle, "out") == 0
    assert moved(middle, after, "out") == len(body) + 1000
    assert moved(middle, after, "in") == 0


def test_labels_stay_bounded_and_carry_no_secrets(server, uid):
    raw = H.RawGlue(server.url)
    secret_op = f"Evil{uid}<script>"
    resp = raw.send(f"AWSGlue.{secret_op}", b"{}")
    assert resp.status == 400
    samples = scrape(server)
    names = {labels for (_, labels) in samples}
    flat = " ".join(f"{k}={v}" for labels in names for k, v in labels)
    assert secret_op not in flat and uid not in flat
    assert (
        value(
            samples, "epoxy_requests_total", operation="unknown", code="UnknownOperationException"
        )
        >= 1
    )


def test_metrics_refused_on_a_public_bind_with_accounts():
    srv = H.EpoxyServer(accounts=[H.ACCOUNT_A])
    srv.args[srv.args.index("127.0.0.1:0")] = "0.0.0.0:0"
    try:
        srv.start()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=10)
        assert e.value.code == 403
    finally:
        srv.close()


@pytest.fixture(scope="module")
def spark():
    if not R.RUNTIME_PYTHON:
        pytest.skip(R.SKIP_REASON)
    with R.spark_server(warm_pool=1) as srv:
        yield srv


@pytest.mark.timeout(400)
def test_statements_start_latency_and_warm_pool(spark, uid):
    glue = spark.glue()
    sid = f"ms-{uid}"
    H.create_session(glue, sid)
    H.wait_for_status(glue, sid, "READY", timeout=R.COLD_START_S)
    before = scrape(spark)
    ok = glue.run_statement(SessionId=sid, Code="spark.range(1000).count()")["Id"]
    R.wait_statement(glue, sid, ok)
    bad = glue.run_statement(SessionId=sid, Code="1/0")["Id"]
    R.wait_statement(glue, sid, bad)
    sql = glue.run_statement(
        SessionId=sid,
        Code=f"spark.sql('CREATE DATABASE IF NOT EXISTS msql_{uid}'); "
        f"spark.sql('SHOW TABLES IN msql_{uid}').count()",
    )["Id"]
    result, _ = R.wait_statement(glue, sid, sql)
    assert result["State"] == "AVAILABLE" and result["Output"]["Status"] == "ok", result
    after = scrape(spark)
    glue.stop_session(Id=sid)

    # The session's SQL reached the catalog through the Hive metastore door.
    def rpcs(samples):
        return sum(
            v
            for (name, labels), v in samples.items()
            if name == "epoxy_catalog_calls_total" and ("door", "metastore") in labels
        )

    assert rpcs(after) > rpcs(before)
    created = dict(door="metastore", operation="create_database", code="ok")
    assert value(after, "epoxy_catalog_calls_total", **created) >= 1
    # Its driver (Python and JVM, one or two drivers with the warm pool's) holds real memory.
    rss = [v for (name, _), v in after.items() if name == "epoxy_driver_rss_bytes"]
    assert value(after, "epoxy_drivers_running") == len(rss) >= 1
    assert max(rss) > 100 * 1024 * 1024, rss

    # A Python error is still an AVAILABLE statement with an error output, as in Glue.
    assert value(after, "epoxy_statements_total", state="AVAILABLE") == (
        value(before, "epoxy_statements_total", state="AVAILABLE") + 3
    )
    assert value(after, "epoxy_statement_seconds_count", state="AVAILABLE") == (
        value(before, "epoxy_statement_seconds_count", state="AVAILABLE") + 3
    )
    assert value(after, "epoxy_statement_seconds_sum", state="AVAILABLE") > value(
        before, "epoxy_statement_seconds_sum", state="AVAILABLE"
    )
    starts = sum(
        value(after, "epoxy_session_start_seconds_count", warm=w) for w in ("true", "false")
    )
    assert starts >= 1
    assert value(after, "epoxy_live_drivers") >= 1
    assert value(after, "epoxy_sessions", status="READY") == 1
    # The pool refills after the session took (or bypassed) a warm driver.
    deadline = time.monotonic() + R.COLD_START_S
    while value(scrape(spark), "epoxy_warm_pool_drivers") != 1:
        assert time.monotonic() < deadline, "the warm pool never showed one idle driver"
        time.sleep(0.5)
