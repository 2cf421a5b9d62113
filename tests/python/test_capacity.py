"""The capacity queue on the real runtime (issue 11, item 2): `--max-live-sessions` is the quota
(PROVISIONING and READY sessions), `--capacity` the drivers that may run at once; sessions beyond
the capacity wait in PROVISIONING, in creation order, and none is refused for it."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import epoxy_harness as H

RUNTIME_PYTHON = os.environ.get("EPOXY_TEST_RUNTIME_PYTHON")
pytestmark = pytest.mark.skipif(not RUNTIME_PYTHON, reason="EPOXY_TEST_RUNTIME_PYTHON not set")

READY_TIMEOUT = 180


def test_twenty_five_create_and_stop_in_a_row_with_the_defaults():
    # The case of the issue: from the 9th on these were refused on a 2-core machine, because
    # sessions still stopping counted against the limit.
    with H.EpoxyServer(runtime="spark", extra_args=["--python", RUNTIME_PYTHON]) as srv:
        glue = srv.glue()
        for i in range(25):
            glue.create_session(**H.create_args(f"row-{i:02d}"))
            glue.stop_session(Id=f"row-{i:02d}")
        for i in range(25):
            H.wait_for_status(glue, f"row-{i:02d}", "STOPPED", timeout=60)


@pytest.mark.timeout(900)  # six cold driver starts one after another
def test_sessions_beyond_the_capacity_queue_in_order():
    capacity, extra = 1, 5
    ids = [f"queued-{i}" for i in range(capacity + extra)]
    args = ["--python", RUNTIME_PYTHON, "--capacity", str(capacity), "--warm-pool", "0"]
    args += ["--max-live-sessions", str(len(ids))]
    with H.EpoxyServer(runtime="spark", extra_args=args) as srv:
        glue = srv.glue()
        # All at once, from several threads: none is refused.
        with ThreadPoolExecutor(len(ids)) as pool:
            list(pool.map(lambda i: glue.create_session(**H.create_args(i)), ids))
        order = sorted(ids, key=lambda i: glue.get_session(Id=i)["Session"]["CreatedOn"])
        # Over the quota, though, CreateSession is refused and stores nothing.
        H.expect_client_error(
            glue.create_session, "ResourceNumberLimitExceededException", **H.create_args("over")
        )
        H.expect_client_error(glue.get_session, "EntityNotFoundException", Id="over")
        for n, session_id in enumerate(order):
            H.wait_for_status(glue, session_id, "READY", timeout=READY_TIMEOUT)
            later = [glue.get_session(Id=i)["Session"]["Status"] for i in order[n + 1 :]]
            assert later == ["PROVISIONING"] * len(later), (session_id, later)
            # A statement runs on it, then stopping it frees its slot for the next in line.
            statement = glue.run_statement(SessionId=session_id, Code="1 + 1")["Id"]
            deadline = time.monotonic() + 60
            while True:
                got = glue.get_statement(SessionId=session_id, Id=statement)["Statement"]
                if got["State"] == "AVAILABLE" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert got["Output"]["Data"]["TextPlain"] == "2", got
            glue.stop_session(Id=session_id)


def test_stopping_a_queued_session_is_immediate_and_frees_its_turn():
    args = ["--python", RUNTIME_PYTHON, "--capacity", "1", "--warm-pool", "0"]
    with H.EpoxyServer(runtime="spark", extra_args=args) as srv:
        glue = srv.glue()
        for i in ("first", "second", "third"):
            glue.create_session(**H.create_args(i))
        started = time.monotonic()
        glue.stop_session(Id="second")  # queued
        H.wait_for_status(glue, "second", "STOPPED", timeout=5)
        glue.delete_session(Id="first")  # starting its JVM: killed, not waited for
        assert time.monotonic() - started < 5
        H.wait_for_status(glue, "third", "READY", timeout=READY_TIMEOUT)
