"""`/metrics`: Prometheus text parsed by prometheus_client's real parsers, with values that move
as sessions are created and stopped, requests fail and statements run.

The control-plane part runs on a `--runtime none` server; one real PySpark session shows the
statement, start-latency and warm-pool metrics.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

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
    after = scrape(spark)
    glue.stop_session(Id=sid)

    # A Python error is still an AVAILABLE statement with an error output, as in Glue.
    assert value(after, "epoxy_statements_total", state="AVAILABLE") == (
        value(before, "epoxy_statements_total", state="AVAILABLE") + 2
    )
    assert value(after, "epoxy_statement_seconds_count", state="AVAILABLE") == (
        value(before, "epoxy_statement_seconds_count", state="AVAILABLE") + 2
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
