"""End to end: what happens to PySpark-backed sessions when things go wrong.

One server for the module: `--warm-pool 0 --max-live-sessions 3 --minute-seconds 1`
(a Timeout/IdleTimeout "minute" lasts one second). The `fleet` fixture creates three sessions
at once so their JVMs start together:

  * IDLE  - IdleTimeout=5: times out ~5 s after its last statement (a running statement holds
            it until the test, however long the other JVMs take to start);
  * EXIT  - its driver calls os._exit(3) in a statement;
  * KILL  - its JVM is killed with SIGKILL during a Spark job.

With those three live the server is full (ResourceNumberLimitExceeded), and once two have ended
a new session fits again (`LATE`). The module ends with a graceful restart (SIGTERM) and a crash
restart (SIGKILL of the server), checking that the live sessions' drivers outlive the server and
are re-attached, a statement running across the restart delivering its result (test_restart.py
has more). Tests run in file order.
"""

from __future__ import annotations

import signal
import time

import pytest

import runtime_support as R
from epoxy_harness import expect_client_error

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

IDLE, EXIT, KILL, LATE, CRASH = "f-idle", "f-exit", "f-kill", "f-late", "f-crash"
IDLE_MINUTES = 5


@pytest.fixture(scope="module")
def srv():
    server = R.spark_server(warm_pool=0, max_live_sessions=3, minute_seconds=1)
    with server:
        yield server


@pytest.fixture(scope="module")
def fleet(srv):
    glue = srv.glue()
    R.H.create_session(glue, IDLE, IdleTimeout=IDLE_MINUTES)
    R.H.create_session(glue, EXIT)
    R.H.create_session(glue, KILL)
    # The JVMs start together and may become READY seconds apart: IDLE is kept busy (a pending
    # statement stops the idle clock) from its READY until test_idle_timeout.
    R.wait_ready(glue, IDLE)
    R.submit(glue, IDLE, "import time\ntime.sleep(600)")
    for sid in (EXIT, KILL):
        R.wait_ready(glue, sid)
    return {sid: R.driver_pid(srv, glue, sid) for sid in (IDLE, EXIT, KILL)}


def glue_of(srv):
    # The port changes on restart: always a client for the current URL.
    return srv.glue()


def test_live_session_limit(srv, fleet):
    glue = glue_of(srv)
    assert R.health(srv)["live_drivers"] == 3
    _, msg, _ = expect_client_error(
        R.H.create_session, "ResourceNumberLimitExceededException", glue, "f-over"
    )
    assert msg
    # nothing was stored
    expect_client_error(glue.get_session, "EntityNotFoundException", Id="f-over")
    assert "f-over" not in glue.list_sessions()["Ids"]
    assert len(R.driver_groups(srv.proc.pid)) == 3


def test_idle_timeout(srv, fleet):
    glue = glue_of(srv)
    hold = 0
    assert glue.get_statement(SessionId=IDLE, Id=hold)["Statement"]["State"] == "RUNNING"
    assert glue.get_session(Id=IDLE)["Session"]["Status"] == "READY"
    glue.cancel_statement(SessionId=IDLE, Id=hold)
    assert R.wait_explained(srv, glue, IDLE, hold, timeout=30)[0]["State"] == "CANCELLED"
    assert R.run_ok(glue, IDLE, "'work'") == "'work'"
    done = time.monotonic()
    # still READY well before its IdleTimeout
    time.sleep(IDLE_MINUTES / 2)
    assert glue.get_session(Id=IDLE)["Session"]["Status"] == "READY"
    s = R.H.wait_for_status(glue, IDLE, ("TIMEOUT", "FAILED", "STOPPED"), timeout=30, interval=0.1)
    waited = time.monotonic() - done
    assert s["Status"] == "TIMEOUT", s
    assert IDLE_MINUTES - 0.5 <= waited <= IDLE_MINUTES + 5, f"TIMEOUT after {waited:.1f}s"
    assert s.get("IdleTimeout") == IDLE_MINUTES
    R.assert_group_gone(fleet[IDLE], "after IdleTimeout", timeout=20)
    code, msg, _ = expect_client_error(
        glue.run_statement, "InvalidInputException", SessionId=IDLE, Code="1"
    )
    assert "TIMEOUT" in msg or "timed out" in msg, msg
    # it stays TIMEOUT once the driver is gone, and its history is readable
    s = glue.get_session(Id=IDLE)["Session"]
    assert s["Status"] == "TIMEOUT", s
    assert s["CompletedOn"] >= s["CreatedOn"]
    st = glue.get_statement(SessionId=IDLE, Id=1)["Statement"]
    assert st["State"] == "AVAILABLE" and st["Output"]["Data"]["TextPlain"] == "'work'"


def test_driver_exit_fails_the_session(srv, fleet):
    glue = glue_of(srv)
    assert R.run_ok(glue, EXIT, "y = 1") == ""
    stmt = R.submit(glue, EXIT, "import os\nos._exit(3)")
    queued = R.submit(glue, EXIT, "'never runs'")
    st, seen = R.wait_explained(srv, glue, EXIT, stmt, timeout=30)
    assert st["State"] == "ERROR", (st, seen)
    R.assert_statement_shape(st)
    assert st["Output"]["Status"] == "error", st
    s = R.H.wait_for_status(glue, EXIT, ("FAILED",), timeout=15)
    assert s.get("ErrorMessage"), s
    # the statement queued behind it is not left WAITING
    behind = glue.get_statement(SessionId=EXIT, Id=queued)["Statement"]
    assert behind["State"] in ("ERROR", "CANCELLED"), behind
    R.assert_statement_shape(behind)
    R.assert_group_gone(fleet[EXIT], "after the driver exited", timeout=20)
    expect_client_error(
        glue.run_statement, "IllegalSessionStateException", SessionId=EXIT, Code="1"
    )
    # other sessions are unaffected
    assert R.run_ok(glue, KILL, "1+1") == "2"
    assert R.run_ok(glue, KILL, "spark.range(5).count()") == "5"


def test_jvm_killed_during_a_job(srv, fleet):
    glue = glue_of(srv)
    stmt = R.submit(
        glue,
        KILL,
        "sc.parallelize(range(2), 2).map(lambda x: __import__('time').sleep(60) or x).count()",
    )
    R.wait_statement(glue, KILL, stmt, "RUNNING", timeout=15)
    time.sleep(2)
    jvm = R.jvm_of(fleet[KILL])
    R.kill9(jvm.pid)
    st, seen = R.wait_explained(srv, glue, KILL, stmt, timeout=60)
    R.assert_statement_shape(st)
    assert st["State"] in ("ERROR", "AVAILABLE"), (st, seen)
    assert st["Output"]["Status"] == "error", st
    # the server stays healthy
    assert R.health(srv)["status"] == "ok"
    assert glue.get_session(Id=KILL)["Session"]["Status"] in ("READY", "FAILED")


def test_session_whose_jvm_died_does_not_stay_ready(srv, fleet):
    """A driver without its JVM cannot run Spark any more: the session must end (FAILED, with
    an ErrorMessage, its driver freed) instead of staying READY and failing every statement."""
    glue = glue_of(srv)
    deadline = time.monotonic() + 10
    status = glue.get_session(Id=KILL)["Session"]
    while status["Status"] == "READY" and time.monotonic() < deadline:
        time.sleep(0.5)
        status = glue.get_session(Id=KILL)["Session"]
    if status["Status"] == "READY":
        probe = R.run(glue, KILL, "spark.range(3).count()", timeout=60)
        pytest.fail(
            "session stayed READY 10 s after its JVM was killed; a Spark statement on it gives "
            f"{probe['State']}/{probe['Output'].get('Status')}/{probe['Output'].get('ErrorName')}: "
            f"{probe['Output'].get('ErrorValue', '')[:200]}; its driver python (pid {fleet[KILL]}) "
            f"is still running: {[p.cmdline[:60] for p in R.group(fleet[KILL])]}"
        )
    assert status["Status"] == "FAILED" and status.get("ErrorMessage"), status
    R.assert_group_gone(fleet[KILL], "after the JVM was killed", timeout=20)


def test_ended_sessions_free_their_slots(srv, fleet):
    glue = glue_of(srv)
    # IDLE timed out and EXIT failed: two slots are free again.
    R.H.create_session(glue, LATE)
    R.wait_ready(glue, LATE)
    assert R.run_ok(glue, LATE, "late = 'still here'") == ""
    assert glue.get_session(Id=LATE)["Session"]["Status"] == "READY"


def test_graceful_restart_keeps_live_sessions_and_their_drivers(srv, fleet):
    glue = glue_of(srv)
    late_pid = R.driver_pid(srv, glue, LATE)
    stmt = R.submit(glue, LATE, "import time\ntime.sleep(10)\nlate")
    R.wait_statement(glue, LATE, stmt, "RUNNING", timeout=15)
    rc = srv.stop(timeout=40)
    assert rc == 0, f"epoxy exited with {rc} on SIGTERM"
    assert R.read_proc(late_pid).alive, "the session's driver did not outlive the SIGTERM"

    srv.start()
    glue = glue_of(srv)
    assert glue.get_session(Id=LATE)["Session"]["Status"] == "READY"
    st, _ = R.wait_statement(glue, LATE, stmt, timeout=60)
    assert st["Output"]["Data"]["TextPlain"] == "'still here'", st
    R.assert_statement_shape(st)
    # the sessions that had ended keep their state
    assert glue.get_session(Id=IDLE)["Session"]["Status"] == "TIMEOUT"
    assert glue.get_session(Id=EXIT)["Session"]["Status"] == "FAILED"
    assert R.driver_pid(srv, glue, LATE) == late_pid
    assert R.run_ok(glue, LATE, "late") == "'still here'"


def test_server_crash_keeps_the_driver_and_restart_reattaches(srv):
    glue = glue_of(srv)
    glue.stop_session(Id=LATE)  # room for CRASH under --max-live-sessions
    R.H.create_session(glue, CRASH)
    R.wait_ready(glue, CRASH)
    pgid = R.driver_pid(srv, glue, CRASH)
    assert R.run_ok(glue, CRASH, "z = 3") == ""
    stmt = R.submit(glue, CRASH, "import time\ntime.sleep(10)\nz")
    R.wait_statement(glue, CRASH, stmt, "RUNNING", timeout=15)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.stop()  # bookkeeping only: the process is gone
    assert R.read_proc(pgid).alive, "the driver died with the crashed server"

    srv.start()
    glue = glue_of(srv)
    assert glue.get_session(Id=CRASH)["Session"]["Status"] == "READY"
    assert glue.get_statement(SessionId=CRASH, Id=0)["Statement"]["State"] == "AVAILABLE"
    st, _ = R.wait_statement(glue, CRASH, stmt, timeout=60)
    assert (st["State"], st["Output"]["Data"]["TextPlain"]) == ("AVAILABLE", "3"), st
    R.assert_statement_shape(st)
