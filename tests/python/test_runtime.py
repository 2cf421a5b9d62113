"""End to end: statements on real PySpark drivers (`epoxy serve --runtime spark`).

One server for the module (`--warm-pool 1`). Most tests share one session, `main`, taken from
the warm pool (so READY at once); `conf` (a non-default --conf, so a fresh driver JVM) serves the
startup, stop and accounting tests; `main` is deleted at the end, and the last test SIGTERMs the
server and checks that the pool's idle driver does not outlive it: three JVM starts in all.
Tests run in file order and share `main`'s REPL state (e.g. `x` is defined early and read later).
"""

from __future__ import annotations

import threading
import time

import pytest

import runtime_support as R
from epoxy_harness import expect_client_error

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

MAIN = "rt-main"
CONF = "rt-conf"


@pytest.fixture(scope="module")
def srv():
    server = R.spark_server(warm_pool=1, max_live_sessions=4)
    with server:
        # Sessions created before the pool driver is up would start their own JVM beside it.
        R.wait_pool_warm(server)
        yield server


@pytest.fixture(scope="module")
def glue(srv):
    return srv.glue()


@pytest.fixture(scope="module")
def main(srv, glue):
    """The shared session; (seconds from CreateSession to READY, the CreateSession reply)."""
    t0 = time.monotonic()
    created = glue.create_session(
        Id=MAIN, Role=R.H.DEFAULT_ROLE, Command={"Name": "glueetl", "PythonVersion": "3"}
    )["Session"]
    R.wait_ready(glue, MAIN)
    return {"ready_s": time.monotonic() - t0, "created": created}


# -- REPL semantics ------------------------------------------------------------------------------


def test_create_returns_provisioning_then_ready_from_the_pool(main, glue):
    assert main["created"]["Status"] == "PROVISIONING"
    assert main["ready_s"] < 2.0, f"warm-pool session took {main['ready_s']:.2f}s to be READY"
    assert glue.get_session(Id=MAIN)["Session"]["Status"] == "READY"


def test_expression_value_is_the_output(main, glue):
    st = R.run(glue, MAIN, "1+1")
    R.assert_statement_shape(st)
    assert st["State"] == "AVAILABLE"
    assert st["Code"] == "1+1"
    out = st["Output"]
    assert out["Status"] == "ok"
    assert out["Data"] == {"TextPlain": "2"}
    assert out["ExecutionCount"] == st["Id"]
    assert st["Progress"] == 1.0


def test_stdout_is_captured(main, glue):
    assert R.run_ok(glue, MAIN, 'print("hello")') == "hello\n"
    # stdout and stderr in order, then the trailing expression's repr
    text = R.run_ok(glue, MAIN, 'import sys\nprint("a")\nprint("b", file=sys.stderr)\n"c"')
    assert text == "a\nb\n'c'"
    # None as the last expression prints nothing
    assert R.run_ok(glue, MAIN, "None") == ""


def test_state_is_kept_between_statements(main, glue):
    assert R.run_ok(glue, MAIN, "x = 41\ndef inc(v):\n    return v + 1") == ""
    assert R.run_ok(glue, MAIN, "inc(x)") == "42"
    assert R.run_ok(glue, MAIN, "import math\nclass P:\n    pass") == ""
    assert R.run_ok(glue, MAIN, "math.floor(2.5), P.__name__") == "(2, 'P')"


def test_spark_is_there(main, glue):
    assert R.run_ok(glue, MAIN, "spark.range(100).count()") == "100"
    assert R.run_ok(glue, MAIN, "sc.parallelize(range(10), 3).sum()") == "45"
    assert R.run_ok(glue, MAIN, "spark.version") == "'3.5.8'"
    text = R.run_ok(
        glue,
        MAIN,
        "spark.createDataFrame([(1, 'a'), (2, 'b')], ['n', 's']).createOrReplaceTempView('t')\n"
        "spark.sql('select sum(n) as total from t').show()",
    )
    assert "total" in text and "3" in text, text


def test_user_exception_is_available_with_error_output(main, glue):
    st = R.run(glue, MAIN, "1/0")
    R.assert_statement_shape(st)
    assert st["State"] == "AVAILABLE", st
    out = st["Output"]
    assert out["Status"] == "error"
    assert out["ErrorName"] == "ZeroDivisionError"
    assert out["ErrorValue"] == "division by zero"
    tb = out["Traceback"]
    assert tb and tb[0].startswith("Traceback"), tb
    assert tb[-1].strip() == "ZeroDivisionError: division by zero", tb
    assert any('File "<stdin>", line 1' in line for line in tb), tb
    # nothing of the driver's own frames leaks into the user's traceback
    assert not any("epoxy_driver" in line for line in tb), tb


def test_output_before_an_exception_is_kept(main, glue):
    st = R.run(glue, MAIN, 'print("before")\nraise ValueError("boom")')
    out = st["Output"]
    assert (st["State"], out["Status"], out["ErrorName"], out["ErrorValue"]) == (
        "AVAILABLE",
        "error",
        "ValueError",
        "boom",
    )
    assert out["Data"]["TextPlain"] == "before\n"
    assert any("line 2" in line for line in out["Traceback"]), out["Traceback"]


def test_syntax_error_is_a_user_error(main, glue):
    st = R.run(glue, MAIN, "def (")
    assert st["State"] == "AVAILABLE" and st["Output"]["Status"] == "error", st
    assert st["Output"]["ErrorName"] == "SyntaxError", st
    assert R.run_ok(glue, MAIN, "x") == "41"  # session unharmed


# -- cancel --------------------------------------------------------------------------------------


def test_cancel_running_python(srv, main, glue):
    stmt = R.submit(glue, MAIN, "import time\ntime.sleep(120)\nslept = True")
    R.wait_statement(glue, MAIN, stmt, "RUNNING", timeout=15)
    # As a user would: a moment after it started. (A cancel in the very first milliseconds is
    # test_cancel_right_after_running_is_not_lost; lost here, it would cost the session.)
    time.sleep(0.5)
    t0 = time.monotonic()
    glue.cancel_statement(SessionId=MAIN, Id=stmt)
    st, seen = R.wait_explained(srv, glue, MAIN, stmt, timeout=30)
    elapsed = time.monotonic() - t0
    assert st["State"] == "CANCELLED", (st, seen)
    assert elapsed < 5.0, f"CANCELLED took {elapsed:.1f}s (states {seen})"
    assert set(seen) <= {"RUNNING", "CANCELLING", "CANCELLED"}, seen
    R.assert_statement_shape(st)
    # the session goes on, and the interrupted code did not finish
    assert R.run_ok(glue, MAIN, "2+2") == "4"
    assert R.run_ok(glue, MAIN, "'slept' in globals()") == "False"


GIL_HOGS = """
import threading
hog_stop = threading.Event()
def _hog():
    while not hog_stop.is_set():
        sum(range(10000))
for _ in range(3):
    threading.Thread(target=_hog, daemon=True).start()
"""


def test_cancel_right_after_running_is_not_lost(srv, main, glue):
    """A cancel that reaches the driver before its main thread picked the statement up.

    GetStatement says RUNNING as soon as the server has sent the statement to the driver; a
    CancelStatement right then must still cancel it. Busy user threads holding the GIL (any
    pandas/numpy work does) widen the gap between the driver receiving `run` and starting it.
    """
    R.run_ok(glue, MAIN, GIL_HOGS)
    outcomes = []
    try:
        for _ in range(5):
            stmt = R.submit(glue, MAIN, "import time\ntime.sleep(4)\n'slept'")
            R.wait_statement(glue, MAIN, stmt, "RUNNING", timeout=15, interval=0.005)
            glue.cancel_statement(SessionId=MAIN, Id=stmt)
            st, seen = R.wait_statement(glue, MAIN, stmt, timeout=30)
            outcomes.append((stmt, st["State"], seen))
    finally:
        R.run_ok(glue, MAIN, "hog_stop.set()")
    lost = [o for o in outcomes if o[1] != "CANCELLED"]
    assert not lost, (
        f"{len(lost)} of {len(outcomes)} cancels were lost (statement ran to the end): {lost}\n"
        f"--- driver log ---\n{R.driver_log_tail(srv, glue, MAIN, 60)}"
    )


SLOW_JOB = "sc.parallelize(range(8), 8).map(lambda x: __import__('time').sleep(60) or x).count()"


def test_cancel_running_spark_job(srv, main, glue):
    stmt = R.submit(glue, MAIN, SLOW_JOB)
    R.wait_statement(glue, MAIN, stmt, "RUNNING", timeout=15)
    time.sleep(3)  # the job's tasks are now sleeping in Python workers
    t0 = time.monotonic()
    glue.cancel_statement(SessionId=MAIN, Id=stmt)
    st, seen = R.wait_explained(srv, glue, MAIN, stmt, timeout=40)
    elapsed = time.monotonic() - t0
    assert st["State"] == "CANCELLED", (st, seen)
    assert elapsed < 10.0, f"CANCELLED took {elapsed:.1f}s (states {seen})"
    R.assert_statement_shape(st)
    assert R.run_ok(glue, MAIN, "sc.statusTracker().getActiveJobsIds()") == "[]"
    assert R.run_ok(glue, MAIN, "sc.statusTracker().getActiveStageIds()") == "[]"
    assert R.run_ok(glue, MAIN, "sc.parallelize(range(4), 2).count()") == "4"


def test_cancel_finished_statement_is_refused(main, glue):
    stmt = R.submit(glue, MAIN, "'done'")
    before, _ = R.wait_statement(glue, MAIN, stmt)
    expect_client_error(
        glue.cancel_statement, "IllegalSessionStateException", SessionId=MAIN, Id=stmt
    )
    after = glue.get_statement(SessionId=MAIN, Id=stmt)["Statement"]
    assert after == before


def test_cancel_unknown_statement(main, glue):
    expect_client_error(glue.cancel_statement, "EntityNotFoundException", SessionId=MAIN, Id=99999)
    expect_client_error(glue.get_statement, "EntityNotFoundException", SessionId=MAIN, Id=99999)


# -- one at a time -------------------------------------------------------------------------------


def test_statements_queue_one_at_a_time(main, glue):
    first = R.submit(glue, MAIN, "import time\ntime.sleep(3)\n'first'")
    second = R.submit(glue, MAIN, "'second'")
    assert second == first + 1
    s1 = glue.get_statement(SessionId=MAIN, Id=first)["Statement"]
    s2 = glue.get_statement(SessionId=MAIN, Id=second)["Statement"]
    assert s1["State"] in ("WAITING", "RUNNING"), s1
    assert s2["State"] == "WAITING", s2
    R.wait_statement(glue, MAIN, first, "RUNNING", timeout=10)
    s2 = glue.get_statement(SessionId=MAIN, Id=second)["Statement"]
    assert s2["State"] == "WAITING", f"second statement ran while the first was RUNNING: {s2}"
    assert "Output" not in s2
    assert (s2["StartedOn"], s2["CompletedOn"]) == (0, 0), s2
    for stmt, text in ((first, "'first'"), (second, "'second'")):
        st, _ = R.wait_statement(glue, MAIN, stmt, timeout=30)
        R.assert_statement_shape(st)
        assert st["State"] == "AVAILABLE" and st["Output"]["Data"]["TextPlain"] == text, st
    s1 = glue.get_statement(SessionId=MAIN, Id=first)["Statement"]
    s2 = glue.get_statement(SessionId=MAIN, Id=second)["Statement"]
    assert s1["CompletedOn"] - s1["StartedOn"] >= 2900, s1
    assert s2["StartedOn"] >= s1["CompletedOn"], (s1, s2)


def test_cancel_waiting_statement(main, glue):
    first = R.submit(glue, MAIN, "import time\ntime.sleep(3)\n'first'")
    second = R.submit(glue, MAIN, "never_ran = True")
    assert glue.get_statement(SessionId=MAIN, Id=second)["Statement"]["State"] == "WAITING"
    glue.cancel_statement(SessionId=MAIN, Id=second)
    st = glue.get_statement(SessionId=MAIN, Id=second)["Statement"]
    assert st["State"] == "CANCELLED", st
    R.assert_statement_shape(st)
    s1, _ = R.wait_statement(glue, MAIN, first, timeout=30)
    assert s1["State"] == "AVAILABLE" and s1["Output"]["Data"]["TextPlain"] == "'first'", s1
    assert R.run_ok(glue, MAIN, "'never_ran' in globals()") == "False"
    assert glue.get_statement(SessionId=MAIN, Id=second)["Statement"]["State"] == "CANCELLED"


def test_concurrent_run_statement_calls_get_distinct_ids(main, glue, srv):
    ids, errors = [], []

    def go(i):
        try:
            ids.append(R.submit(srv.glue(), MAIN, f"{i} * 10"))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(ids)) == 8 and max(ids) - min(ids) == 7, ids
    for stmt in ids:
        st, _ = R.wait_statement(glue, MAIN, stmt, timeout=30)
        assert st["State"] == "AVAILABLE" and st["Output"]["Status"] == "ok", st
        code = st["Code"]
        assert st["Output"]["Data"]["TextPlain"] == str(eval(code)), st


# -- progress and listing ------------------------------------------------------------------------


def test_progress_between_zero_and_one_during_a_job(main, glue):
    stmt = R.submit(
        glue,
        MAIN,
        "sc.parallelize(range(8), 8).map(lambda x: __import__('time').sleep(1) or x).count()",
    )
    values = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st = glue.get_statement(SessionId=MAIN, Id=stmt)["Statement"]
        values.append((st["State"], st["Progress"]))
        if st["State"] in R.FINAL_STATES:
            break
        time.sleep(0.1)
    assert st["State"] == "AVAILABLE" and st["Output"]["Data"]["TextPlain"] == "8", st
    assert st["Progress"] == 1.0, st
    partial = [p for s, p in values if s == "RUNNING" and 0.0 < p < 1.0]
    assert partial, f"no Progress strictly between 0 and 1 seen: {values}"
    progress = [p for _, p in values]
    assert progress == sorted(progress), f"Progress went backwards: {values}"


def test_list_statements(main, glue):
    listed = glue.list_statements(SessionId=MAIN)
    statements = listed["Statements"]
    assert "NextToken" not in listed or not listed["NextToken"]
    ids = [s["Id"] for s in statements]
    assert ids == list(range(len(ids))), ids
    assert len(ids) >= 20
    for st in statements:
        R.assert_statement_shape(st)
        assert st["State"] in R.FINAL_STATES, st
    for st in (statements[0], statements[-1]):
        assert st == glue.get_statement(SessionId=MAIN, Id=st["Id"])["Statement"]


# -- input checks --------------------------------------------------------------------------------


def _statement_count(glue, sid):
    return len(glue.list_statements(SessionId=sid)["Statements"])


def test_empty_code_is_invalid_input(main, glue):
    before = _statement_count(glue, MAIN)
    expect_client_error(glue.run_statement, "InvalidInputException", SessionId=MAIN, Code="")
    assert _statement_count(glue, MAIN) == before


def test_code_length_limit(main, glue):
    before = _statement_count(glue, MAIN)
    expect_client_error(
        glue.run_statement,
        ("InvalidInputException", "ValidationException"),
        SessionId=MAIN,
        Code="#" * 68001,
    )
    assert _statement_count(glue, MAIN) == before
    # exactly 68000 characters is allowed, and runs
    code = "s = '" + "a" * (68000 - 13) + "'\nlen(s)"
    assert len(code) == 68000
    assert R.run_ok(glue, MAIN, code) == str(68000 - 13)


def test_run_statement_on_unknown_session(srv, glue):
    expect_client_error(
        glue.run_statement, "EntityNotFoundException", SessionId="rt-nope", Code="1"
    )


def test_system_logs_url_serves_the_driver_log(srv, main, glue):
    url = R.system_logs_url(srv, glue, MAIN)
    assert url.startswith(srv.url + "/"), url
    status, ctype, body = R.http_get(url)
    assert status == 200 and ctype.startswith("text/plain"), (status, ctype)
    text = body.decode("utf-8", "replace")
    assert "sent ready" in text and "statement" in text, text[-2000:]
    # a forged token is refused
    status, _, _ = R.http_get(url[: url.rindex("/") + 1] + "x" + url[url.rindex("/") + 2 :])
    assert status == 404


# -- startup, stop, delete, accounting ----------------------------------------------------------


def test_non_default_conf_starts_its_own_driver(srv, main, glue):
    R.wait_pool_warm(srv)  # refilled after `main` took the first one
    t0 = time.monotonic()
    created = R.H.create_session(
        glue,
        CONF,
        WorkerType="G.1X",
        NumberOfWorkers=2,
        DefaultArguments={"--conf": "spark.sql.shuffle.partitions=3"},
    )
    assert created["Status"] == "PROVISIONING"
    # it must not take the default-profile driver from the pool
    time.sleep(1.0)
    assert glue.get_session(Id=CONF)["Session"]["Status"] == "PROVISIONING"
    assert R.idle_warm_drivers(srv) == 1
    R.wait_ready(glue, CONF)
    cold = time.monotonic() - t0
    assert cold > main["ready_s"]
    assert R.run_ok(glue, CONF, 'spark.conf.get("spark.sql.shuffle.partitions")') == "'3'"
    assert R.run_ok(glue, MAIN, 'spark.conf.get("spark.sql.shuffle.partitions")') == "'200'"
    # separate drivers: state is not shared
    assert R.run_ok(glue, CONF, "'x' in globals()") == "False"
    main_pid, conf_pid = R.driver_pid(srv, glue, MAIN), R.driver_pid(srv, glue, CONF)
    assert main_pid != conf_pid
    # EPOXY_TEST_NODES=2: the drivers run on the harness's other node (srv.peer).
    assert R.driver_groups((srv.peer or srv).proc.pid) >= {main_pid, conf_pid}


def test_stop_frees_the_driver(srv, glue):
    pgid = R.driver_pid(srv, glue, CONF)
    assert any(p.is_jvm for p in R.group(pgid)), R.describe(R.group(pgid))
    running = R.submit(glue, CONF, "import time\ntime.sleep(60)")
    waiting = R.submit(glue, CONF, "'never runs'")
    R.wait_statement(glue, CONF, running, "RUNNING", timeout=15)
    assert glue.stop_session(Id=CONF)["Id"] == CONF
    right_after = glue.get_session(Id=CONF)["Session"]["Status"]
    assert right_after in ("STOPPING", "STOPPED"), right_after
    s = R.H.wait_for_status(glue, CONF, ("STOPPED", "FAILED"), timeout=30)
    assert s["Status"] == "STOPPED", s
    R.assert_group_gone(pgid, "after StopSession", timeout=15)
    # the statements it was running or holding end too, with an Output
    for stmt in (running, waiting):
        st = glue.get_statement(SessionId=CONF, Id=stmt)["Statement"]
        assert st["State"] in ("CANCELLED", "ERROR"), st
        R.assert_statement_shape(st)
    expect_client_error(
        glue.run_statement, "IllegalSessionStateException", SessionId=CONF, Code="1"
    )
    expect_client_error(glue.stop_session, "IllegalSessionStateException", Id=CONF)
    # history stays readable
    assert (
        glue.get_statement(SessionId=CONF, Id=0)["Statement"]["Output"]["Data"]["TextPlain"]
        == "'3'"
    )


def test_accounting_of_a_stopped_session(srv, glue):
    s = glue.get_session(Id=CONF)["Session"]
    assert s["Status"] == "STOPPED"
    assert (s["WorkerType"], s["NumberOfWorkers"], s["MaxCapacity"]) == ("G.1X", 2, 2.0), s
    assert isinstance(s["ExecutionTime"], (int, float)) and s["ExecutionTime"] > 0, s
    assert s["ExecutionTime"] < 600, s
    assert s["DPUSeconds"] == pytest.approx(max(s["ExecutionTime"], 60.0) * s["MaxCapacity"]), s
    assert s["CompletedOn"] >= s["CreatedOn"], s
    time.sleep(1.1)
    again = glue.get_session(Id=CONF)["Session"]
    assert (again["ExecutionTime"], again["DPUSeconds"]) == (s["ExecutionTime"], s["DPUSeconds"])
    # a live session's accounting grows
    live1 = glue.get_session(Id=MAIN)["Session"]["ExecutionTime"]
    time.sleep(1.1)
    live2 = glue.get_session(Id=MAIN)["Session"]
    assert live2["ExecutionTime"] > live1
    # while it runs, no billing minimum yet: DPUSeconds = ExecutionTime × MaxCapacity
    assert live2["DPUSeconds"] == pytest.approx(live2["ExecutionTime"] * 5.0, rel=1e-3)


def test_delete_frees_the_driver(srv, main, glue):
    pgid = R.driver_pid(srv, glue, MAIN)
    glue.delete_session(Id=MAIN)
    R.assert_group_gone(pgid, "after DeleteSession", timeout=15)
    expect_client_error(glue.get_session, "EntityNotFoundException", Id=MAIN)
    expect_client_error(glue.get_statement, "EntityNotFoundException", SessionId=MAIN, Id=0)
    expect_client_error(glue.run_statement, "EntityNotFoundException", SessionId=MAIN, Code="1")
    assert MAIN not in glue.list_sessions()["Ids"]


def test_server_sigterm_stops_every_driver(srv):
    """Last: the warm pool's idle driver ends with the server (live sessions' drivers:
    test_runtime_faults.py)."""
    groups = R.driver_groups(srv.proc.pid)
    assert len(groups) == 1 and R.idle_warm_drivers(srv) == 1, groups
    rc = srv.stop(timeout=30)
    assert rc == 0, f"epoxy exited with {rc} on SIGTERM"
    left = R.wait_groups_gone(groups, timeout=10)
    assert not left, f"drivers left after the server exited:\n{R.describe(left)}"
