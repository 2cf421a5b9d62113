"""Drivers outlive the server (issue 11, item 3): kill -9 or SIGTERM of epoxy leaves the
sessions' drivers running, and the next start on the same data dir re-attaches to them. A
statement running across the restart finishes and is reported, new statements run, no driver is
lost or duplicated; a driver that died while epoxy was down fails only its own session.
Drivers also listen on TCP (--driver-listen): a controller holding only the stored record (as
an epoxy node on another host would) attaches over TCP with a higher epoch and is served.

One server (a fixed --listen port, as a deployment has it, so the drivers' AWS endpoint stays
valid; the metastore on its default port 0, which a restart binds again from the data dir) and
two sessions for the module; the tests run in file order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import sqlite3
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
    server = R.spark_server("--driver-listen", "127.0.0.1", warm_pool=0)
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


def _mac(secret: str, role: str, *parts) -> str:
    message = ":".join([role, *map(str, parts)]).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@pytest.mark.timeout(300)
def test_a_driver_is_adopted_over_tcp_from_its_stored_record(srv):
    """What a node on another host does at adoption, with only the store: epoxy is gone, the
    record names the driver's TCP endpoint and secret; a controller of a higher epoch attaches
    there, finds the session's state, runs a statement and stops the driver by command."""
    glue = srv.glue()
    pid = pid_of(glue, A)
    srv.crash()
    with sqlite3.connect(srv.data_dir / "epoxy.db") as db:
        tcp, secret, host, recorded_pid, owner_epoch = db.execute(
            "SELECT d.tcp, d.secret, d.host, d.pid, s.owner_epoch FROM driver_records d "
            "JOIN sessions s ON s.rowid = d.session WHERE s.id = ?",
            (A,),
        ).fetchone()
    assert recorded_pid == pid
    assert host.endswith("/" + Path("/proc/sys/kernel/hostname").read_text().strip()), host
    address, port = tcp.rsplit(":", 1)
    assert address == "127.0.0.1", tcp

    conn = socket.create_connection((address, int(port)), timeout=30)
    reader = conn.makefile("rb")
    hello = json.loads(reader.readline())
    assert hello["hello"] == 2, hello
    # As a node that took the session over would: its claim raised the owner epoch by one.
    nonce, epoch = secrets.token_hex(32), owner_epoch + 1
    auth = _mac(secret, "controller", hello["nonce"], nonce, epoch)
    frame = {"auth": auth, "nonce": nonce, "ack": 0, "epoch": epoch}
    conn.sendall(json.dumps(frame).encode() + b"\n")
    welcome = json.loads(reader.readline())
    assert welcome["welcome"] == _mac(secret, "driver", nonce, hello["nonce"], epoch), welcome
    assert (welcome["pid"], welcome["tcp"]) == (pid, int(port)), welcome

    conn.sendall(json.dumps({"op": "run", "id": 10_000, "code": "x + 100"}).encode() + b"\n")
    while True:
        event = json.loads(reader.readline())
        conn.sendall(json.dumps({"op": "ack", "seq": event["seq"]}).encode() + b"\n")
        if event["event"] == "result" and event["id"] == 10_000:
            break
    assert (event["status"], event["text"]) == ("ok", "141"), event

    conn.sendall(b'{"op": "shutdown"}\n')
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists(), "the driver did not stop on the TCP shutdown"
    conn.close()
