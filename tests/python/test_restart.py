"""Drivers outlive the server (issue 11, item 3): kill -9 or SIGTERM of epoxy leaves the
sessions' drivers running, and the next start on the same data dir re-attaches to them. A
statement running across the restart finishes and is reported, new statements run, no driver is
lost or duplicated; a driver that died while epoxy was down fails only its own session.

One server (a fixed --listen port, as a deployment has it, so the drivers' AWS endpoint stays
valid; the metastore on its default port 0, which a restart binds again from the data dir) and
two sessions for the module; the tests run in file order.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

import runtime_support as R

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

A, B = "rs-a", "rs-b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def driver_tokens(data_dir: Path) -> dict[str, int]:
    """Driver python processes of this data dir: their token → pid (JVMs carry it too)."""
    marker, found = str(data_dir).encode(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"epoxy_driver" not in cmdline or not any(marker in v for v in env):
            continue
        for var in env:
            if var.startswith(b"EPOXY_DRIVER_TOKEN="):
                found[var.split(b"=", 1)[1].decode()] = int(entry.name)
    return found


@pytest.fixture(scope="module")
def srv():
    server = R.spark_server(warm_pool=0)
    server.args[server.args.index("--listen") + 1] = f"127.0.0.1:{free_port()}"
    with server:
        glue = server.glue()
        for session_id in (A, B):
            glue.create_session(**R.H.create_args(session_id))
        for session_id in (A, B):
            R.wait_ready(glue, session_id)
        yield server


def pid_of(glue, session_id) -> int:
    return int(R.run_ok(glue, session_id, "import os\nos.getpid()"))


@pytest.mark.timeout(600)
def test_kill_9_restart_reattaches_and_delivers_the_running_statement(srv):
    glue = srv.glue()
    R.run_ok(glue, A, "x = 41")
    pids = {s: pid_of(glue, s) for s in (A, B)}
    before = driver_tokens(srv.data_dir)
    assert sorted(before.values()) == sorted(pids.values()), (before, pids)
    running = R.submit(glue, A, "import time\ntime.sleep(20)\nx + 1")
    R.wait_statement(glue, A, running, states="RUNNING")
    waiting = R.submit(glue, A, "x * 2")
    srv.crash()
    time.sleep(2)
    assert driver_tokens(srv.data_dir) == before, "a driver died with the server"
    restarted = time.monotonic()
    srv.start()
    glue = srv.glue()
    for session_id in (A, B):
        assert glue.get_session(Id=session_id)["Session"]["Status"] == "READY"
    print(f"READY again {time.monotonic() - restarted:.2f} s after the restart began")
    st, _ = R.wait_statement(glue, A, running, timeout=120)
    assert (st["State"], st["Output"]["Data"]["TextPlain"]) == ("AVAILABLE", "42"), st
    st, _ = R.wait_statement(glue, A, waiting, timeout=60)
    assert (st["State"], st["Output"]["Data"]["TextPlain"]) == ("AVAILABLE", "82"), st
    assert {s: pid_of(glue, s) for s in (A, B)} == pids
    assert R.run_ok(glue, B, "spark.range(10).count()") == "10"
    assert driver_tokens(srv.data_dir) == before, "a driver was lost or duplicated"


@pytest.mark.timeout(600)
def test_sigterm_restart_likewise(srv):
    glue = srv.glue()
    pids = {s: pid_of(glue, s) for s in (A, B)}
    running = R.submit(glue, B, "import time\ntime.sleep(8)\n'slept'")
    R.wait_statement(glue, B, running, states="RUNNING")
    srv.restart()  # SIGTERM, then start on the same data dir
    glue = srv.glue()
    st, _ = R.wait_statement(glue, B, running, timeout=120)
    assert st["Output"]["Data"]["TextPlain"] == "'slept'", st
    assert {s: pid_of(glue, s) for s in (A, B)} == pids
    # The session's catalog (metastore credential) and its own AWS key still work.
    assert "default" in R.run_ok(glue, A, "[d.name for d in spark.catalog.listDatabases()]")
    code = f"import boto3\nboto3.client('glue').get_session(Id='{A}')['Session']['Status']"
    assert R.run_ok(glue, A, code) == "'READY'"


@pytest.mark.timeout(600)
def test_a_driver_killed_while_epoxy_was_down_fails_only_its_session(srv):
    glue = srv.glue()
    victim = pid_of(glue, B)
    srv.crash()
    os.killpg(victim, signal.SIGKILL)  # the driver leads its own process group
    time.sleep(1)
    srv.start()
    glue = srv.glue()
    failed = glue.get_session(Id=B)["Session"]
    assert failed["Status"] == "FAILED", failed
    assert "driver is gone" in failed["ErrorMessage"], failed
    assert glue.get_session(Id=A)["Session"]["Status"] == "READY"
    assert R.run_ok(glue, A, "x") == "41"
    assert list(driver_tokens(srv.data_dir).values()) == [pid_of(glue, A)]
