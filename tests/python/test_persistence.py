"""State lives in the data dir: a SIGTERM + restart with the same dir keeps every session and tag."""

from __future__ import annotations

import threading
import time

import pytest

from epoxy_harness import (
    create_session,
    expect_client_error,
    list_all,
    session_arn,
    wait_for_status,
)

COMPARED = (
    "Id",
    "Status",
    "CreatedOn",
    "CompletedOn",
    "Role",
    "Command",
    "GlueVersion",
    "IdleTimeout",
    "MaxCapacity",
    "WorkerType",
    "NumberOfWorkers",
    "Description",
    "DefaultArguments",
    "Connections",
    "SecurityConfiguration",
    "SessionType",
)
# Running sessions may report a growing ExecutionTime; only finished ones have fixed accounting.
FINAL_ONLY = ("ExecutionTime", "DPUSeconds")


@pytest.fixture(scope="module")
def restartable(server):
    """This module's own open-mode server (conftest `server` is per module)."""
    return server


def _snapshot(glue, ids):
    out = {}
    for sid in ids:
        s = glue.get_session(Id=sid)["Session"]
        fields = COMPARED + (FINAL_ONLY if s["Status"] in ("STOPPED", "FAILED", "TIMEOUT") else ())
        out[sid] = (
            {k: s.get(k) for k in fields},
            glue.get_tags(ResourceArn=session_arn(sid))["Tags"],
        )
    return out


def test_everything_survives_restart(restartable):
    glue = restartable.glue()
    create_session(
        glue,
        "p-ready",
        Tags={"team": "x", "env": "prod"},
        Description="ready one",
        DefaultArguments={"--conf": "a=b"},
        Connections={"Connections": ["c1"]},
    )
    create_session(
        glue,
        "p-workers",
        Tags={"team": "x"},
        WorkerType="G.2X",
        NumberOfWorkers=3,
        GlueVersion="5.0",
        IdleTimeout=30,
    )
    create_session(glue, "p-stopped", Tags={"team": "y"})
    create_session(glue, "p-deleted", Tags={"team": "x"})
    create_session(glue, "p-retagged", Tags={"old": "1"})
    for sid in ("p-ready", "p-workers", "p-stopped", "p-deleted", "p-retagged"):
        wait_for_status(glue, sid, "READY", timeout=10)
    glue.stop_session(Id="p-stopped")
    wait_for_status(glue, "p-stopped", "STOPPED", timeout=15)
    glue.delete_session(Id="p-deleted")
    glue.tag_resource(ResourceArn=session_arn("p-retagged"), TagsToAdd={"new": "2"})
    glue.untag_resource(ResourceArn=session_arn("p-retagged"), TagsToRemove=["old"])

    kept = ["p-ready", "p-workers", "p-stopped", "p-retagged"]
    before = _snapshot(glue, kept)
    before_list = list_all(glue, max_results=2)[0]
    before_team_x = sorted(list_all(glue, tags={"team": "x"})[0])
    old_url = restartable.url

    restartable.restart()

    glue = restartable.glue()
    after = _snapshot(glue, kept)
    for sid in kept:
        assert after[sid] == before[sid], (
            f"{sid} changed across restart:\n before={before[sid]}\n after={after[sid]}"
        )
    assert list_all(glue, max_results=2)[0] == before_list, (
        "ListSessions order/content changed across restart"
    )
    assert (
        sorted(list_all(glue, tags={"team": "x"})[0]) == before_team_x == ["p-ready", "p-workers"]
    )
    assert after["p-retagged"][1] == {"new": "2"}
    expect_client_error(glue.get_session, "EntityNotFoundException", Id="p-deleted")
    expect_client_error(
        glue.create_session,
        "AlreadyExistsException",
        Id="p-ready",
        Role="arn:aws:iam::123456789012:role/R",
        Command={"Name": "glueetl"},
    )
    expect_client_error(glue.stop_session, "IllegalSessionStateException", Id="p-stopped")
    # Still fully usable.
    create_session(glue, "p-after", Tags={"team": "x"})
    assert sorted(list_all(glue, tags={"team": "x"})[0]) == ["p-after", "p-ready", "p-workers"]
    assert restartable.url.startswith("http://127.0.0.1:"), old_url


def test_survives_second_restart_and_stop_after_restart(restartable):
    glue = restartable.glue()
    ids_before = list_all(glue)[0]
    restartable.restart()
    glue = restartable.glue()
    assert list_all(glue)[0] == ids_before
    glue.stop_session(Id="p-ready")
    s = wait_for_status(glue, "p-ready", "STOPPED", timeout=15)
    assert "CompletedOn" in s and "DPUSeconds" in s


def test_graceful_sigterm_exit_code(restartable):
    rc = restartable.stop()
    assert rc == 0, f"epoxy exited with {rc} on SIGTERM\n{restartable.describe()}"
    restartable.start()
    assert restartable.glue().get_session(Id="p-workers")["Session"]["WorkerType"] == "G.2X"


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_acknowledged_creates_survive_stop_under_load(restartable, how):
    """Every CreateSession that got a 200 before the process ended is there after restart."""
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n):
        g = restartable.glue()
        i = 0
        while not stop.is_set():
            sid = f"load-{how}-{n}-{i}"
            i += 1
            try:
                create_session(g, sid, Tags={"load": how})
            except Exception:  # noqa: BLE001 — the server going away mid-request is expected here
                return
            with lock:
                acked.append(sid)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    # Let a good number of writes be acknowledged first (slow when the machine is busy).
    deadline = time.monotonic() + 20
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    if how == "sigterm":
        rc = restartable.stop()
        assert rc == 0, f"exit code {rc} on SIGTERM under load\n{restartable.describe()}"
    else:
        restartable.crash()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) > 20, f"only {len(acked)} creates were acknowledged before the stop"
    restartable.start()
    glue = restartable.glue()
    present = set(list_all(glue, max_results=1000, tags={"load": how})[0])
    missing = set(acked) - present
    assert not missing, (
        f"{len(missing)} acknowledged sessions lost after {how}, e.g. {sorted(missing)[:5]}"
    )
    sid = sorted(acked)[0]
    assert glue.get_tags(ResourceArn=session_arn(sid))["Tags"] == {"load": how}
