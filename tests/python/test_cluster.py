"""Sessions on a real Spark standalone cluster (issue 11, item 1).

One master and two workers (1 core, 1 GiB each) from the runtime's pyspark, and one epoxy
with `--spark-master spark://…`: Glue sizing becomes executors on the workers, READY waits
for them, a warm-pool driver holds no cores, a lost worker's tasks are retried, a session the
cluster has no room for fails with the reason, and an application the master removes fails
its session. The tests run in order on one cluster and share session A (G.1X × 3).
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request

import pytest

import epoxy_harness as H
import runtime_support as R
import spark_cluster

pytestmark = pytest.mark.skipif(not R.RUNTIME_PYTHON, reason=R.SKIP_REASON)

EXECUTOR_WAIT_S = 20
SIZED = {"WorkerType": "G.1X", "NumberOfWorkers": 3}


@pytest.fixture(scope="module")
def cluster():
    with spark_cluster.StandaloneCluster(R.RUNTIME_PYTHON, workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def server(cluster):
    with R.spark_server(
        "--spark-master", cluster.master_url,
        "--driver-host", "127.0.0.1",
        "--spark-master-ui", cluster.ui_url,
        "--executor-wait", str(EXECUTOR_WAIT_S),
        warm_pool=1,
    ) as srv:  # fmt: skip
        yield srv


@pytest.fixture(scope="module")
def glue(server):
    return server.glue()


@pytest.fixture(scope="module")
def session_a(server, glue):
    R.wait_pool_warm(server)
    glue.create_session(Id="cluster-a", Role=H.DEFAULT_ROLE, Command={"Name": "glueetl"}, **SIZED)
    R.wait_ready(glue, "cluster-a")
    return "cluster-a"


def executors(server, glue, sid) -> int:
    out = R.run_ok(glue, sid, "print(sc._jsc.sc().getExecutorMemoryStatus().size() - 1)")
    return int(out.strip())


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what()
        time.sleep(0.5)


def test_three_workers_give_two_executors_on_the_cluster(server, glue, cluster, session_a):
    assert executors(server, glue, session_a) == 2
    apps = cluster.active_apps()
    assert [a["name"] for a in apps] == [session_a], apps
    assert apps[0]["cores"] == 2, apps
    assert apps[0]["memoryperslave"] == 1024, apps
    out = R.run_ok(
        glue,
        session_a,
        "from pyspark.sql import functions as F\n"
        "df = spark.range(0, 200000, numPartitions=8).groupBy((F.col('id') % 7).alias('k')).count()\n"
        "print(sorted((r.k, r['count']) for r in df.collect()))",
    )
    expected = sorted((k, len(range(k, 200000, 7))) for k in range(7))
    assert out.strip() == str(expected)


def test_a_warm_driver_holds_no_cores(server, glue, cluster, session_a):
    # The pool refilled after session A took (or skipped) its driver; it registers no app.
    R.wait_pool_warm(server)
    state = cluster.state()
    assert [a["name"] for a in state["activeapps"]] == [session_a], state["activeapps"]
    assert state["coresused"] == 2, state


def test_a_session_larger_than_the_cluster_waits_then_fails(server, glue, cluster, session_a):
    glue.create_session(
        Id="cluster-big", Role=H.DEFAULT_ROLE, Command={"Name": "glueetl"}, WorkerType="G.1X",
        NumberOfWorkers=5,
    )  # fmt: skip
    log = lambda: R.driver_log(server, glue, "cluster-big")  # noqa: E731
    wait_until(
        lambda: "cluster has no room: 0 of 4 executors" in log(),
        60,
        lambda: f"no 'no room' line in the driver log:\n{log()[-3000:]}",
    )
    assert glue.get_session(Id="cluster-big")["Session"]["Status"] == "PROVISIONING"
    assert "master says: 2 workers alive, 2 of 2 cores" in log(), log()[-3000:]
    s = H.wait_for_status(glue, "cluster-big", ("READY", "FAILED"), timeout=EXECUTOR_WAIT_S + 60)
    assert s["Status"] == "FAILED", s
    message = s["ErrorMessage"]
    assert "started 0 of the session's 4 executors" in message, message
    assert f"within {EXECUTOR_WAIT_S} s" in message, message
    # Its application is gone: session A still holds the only cores in use.
    wait_until(
        lambda: [a["name"] for a in cluster.active_apps()] == [session_a],
        30,
        lambda: f"apps: {cluster.active_apps()}",
    )


def test_a_worker_lost_mid_job_and_the_statement_completes(server, glue, cluster, session_a):
    code = (
        "import time\n"
        "print(sc.parallelize(range(12), 12).map(lambda x: (time.sleep(2), x)[1]).sum())"
    )
    stmt = R.submit(glue, session_a, code)
    # Both executors busy with tasks, then one worker dies (kill -9).
    wait_until(
        lambda: glue.get_statement(SessionId=session_a, Id=stmt)["Statement"]["Progress"] > 0,
        60,
        lambda: "the job made no progress",
    )
    cluster.kill_worker(0)
    st, _ = R.wait_explained(server, glue, session_a, stmt, timeout=120)
    assert st["State"] == "AVAILABLE", st
    assert st["Output"]["Data"]["TextPlain"].strip() == str(sum(range(12)))
    log = R.driver_log(server, glue, session_a)
    assert "Lost executor" in log, log[-3000:]  # Spark saw the loss and retried the tasks
    # The session goes on with the executor it has left.
    assert executors(server, glue, session_a) == 1


def test_an_application_the_master_removes_fails_its_session(server, glue, cluster, session_a):
    (app,) = cluster.active_apps()
    body = urllib.parse.urlencode({"id": app["id"], "terminate": "true"}).encode()
    urllib.request.urlopen(cluster.ui_url + "/app/kill/", data=body, timeout=10).close()
    s = H.wait_for_status(glue, session_a, ("FAILED",), timeout=60)
    assert "Master removed our application: KILLED" in s["ErrorMessage"], s
    # Billing followed the sizing: 3 workers × 1 DPU.
    assert s["MaxCapacity"] == 3.0
    assert s["DPUSeconds"] == pytest.approx(max(s["ExecutionTime"], 60.0) * 3.0), s
