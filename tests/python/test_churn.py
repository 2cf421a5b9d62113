"""Create-and-stop churn on the real runtime: 1,000 sessions created and at once stopped leave
1,000 STOPPED records and no driver process behind (issue: admission / warm pool)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import epoxy_harness as H

RUNTIME_PYTHON = os.environ.get("EPOXY_TEST_RUNTIME_PYTHON")
pytestmark = pytest.mark.skipif(not RUNTIME_PYTHON, reason="EPOXY_TEST_RUNTIME_PYTHON not set")

SESSIONS = 1000


def processes_of(data_dir: Path) -> list[int]:
    """Pids whose environment points into `data_dir` (drivers and their JVMs inherit it)."""
    marker = str(data_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_create_and_stop_a_thousand_sessions():
    with H.EpoxyServer(
        runtime="spark", extra_args=["--python", RUNTIME_PYTHON, "--warm-pool", "1"]
    ) as srv:
        glue = srv.glue()
        started = time.monotonic()
        for i in range(SESSIONS):
            glue.create_session(**H.create_args(f"churn-{i:04d}"))
            glue.stop_session(Id=f"churn-{i:04d}")
        churn_seconds = time.monotonic() - started

        deadline = time.monotonic() + 60
        while True:
            ids, pages = H.list_all(glue, max_results=1000)
            statuses = [s["Status"] for page in pages for s in page["Sessions"]]
            if statuses.count("STOPPED") == SESSIONS or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(ids) == SESSIONS
        assert statuses.count("STOPPED") == SESSIONS, {s: statuses.count(s) for s in set(statuses)}

        # Only the warm pool's driver (python + JVM) may remain while the server runs.
        deadline = time.monotonic() + 30
        while len(processes_of(srv.data_dir)) > 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(processes_of(srv.data_dir)) <= 2
        print(f"{SESSIONS} create+stop in {churn_seconds:.1f} s")
        srv.stop()
    deadline = time.monotonic() + 30
    while processes_of(srv.data_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_of(srv.data_dir) == []
