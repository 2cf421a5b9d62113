"""Helpers for the end-to-end tests of the PySpark runtime (`epoxy serve --runtime spark`).

Used by test_runtime.py, test_runtime_faults.py, test_glue_kernel.py and benches/runtime.py:

  * `spark_server(...)`  - an `EpoxyServer` whose sessions run real drivers, with the
                           interpreter named by $EPOXY_TEST_RUNTIME_PYTHON;
  * statements           - run code and wait for a final state, recording what was seen;
  * processes            - find a session's driver (python + JVM, one process group) by
                           scanning /proc, so tests can prove that nothing outlives a session;
  * the warm pool        - wait until the server has a started default driver idle.

A driver JVM costs ~300 MB and 10-20 s of CPU to start on a small machine, so the modules
share module-scoped servers and sessions and call these helpers instead of starting more.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import epoxy_harness as H

RUNTIME_PYTHON = os.environ.get("EPOXY_TEST_RUNTIME_PYTHON")
SKIP_REASON = "EPOXY_TEST_RUNTIME_PYTHON is not set (an interpreter with pyspark 3.5)"

FINAL_STATES = ("AVAILABLE", "CANCELLED", "ERROR")
# How long a cold driver may take to become READY on a loaded 2-core machine.
COLD_START_S = 180.0
STATEMENT_TIMEOUT_S = 90.0


def spark_server(
    *extra_args: str,
    warm_pool: int = 1,
    max_live_sessions: int | None = None,
    minute_seconds: float | None = None,
    data_dir=None,
) -> H.EpoxyServer:
    """An unstarted server with the spark runtime (use it as a context manager)."""
    assert RUNTIME_PYTHON, SKIP_REASON
    args = ["--python", RUNTIME_PYTHON, "--warm-pool", str(warm_pool)]
    if max_live_sessions is not None:
        args += ["--max-live-sessions", str(max_live_sessions)]
    if minute_seconds is not None:
        args += ["--minute-seconds", str(minute_seconds)]
    return H.EpoxyServer(runtime="spark", extra_args=[*args, *extra_args], data_dir=data_dir)


# -- statements ---------------------------------------------------------------------------------


class StatementTimeout(AssertionError):
    pass


def wait_statement(
    glue, session_id, stmt_id, states=FINAL_STATES, timeout=STATEMENT_TIMEOUT_S, interval=0.05
):
    """Polls GetStatement until State is in `states`; returns (statement, states seen in order)."""
    if isinstance(states, str):
        states = (states,)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        st = glue.get_statement(SessionId=session_id, Id=stmt_id)["Statement"]
        if not seen or seen[-1] != st["State"]:
            seen.append(st["State"])
        if st["State"] in states:
            return st, seen
        if time.monotonic() > deadline:
            raise StatementTimeout(
                f"statement {stmt_id} of {session_id} never reached {states} in {timeout:.0f}s; "
                f"states seen: {seen}; last: {st}"
            )
        time.sleep(interval)


def submit(glue, session_id, code) -> int:
    return glue.run_statement(SessionId=session_id, Code=code)["Id"]


def run(glue, session_id, code, timeout=STATEMENT_TIMEOUT_S) -> dict:
    """Runs `code` and returns the final Statement."""
    stmt_id = submit(glue, session_id, code)
    return wait_statement(glue, session_id, stmt_id, timeout=timeout)[0]


def run_ok(glue, session_id, code, timeout=STATEMENT_TIMEOUT_S) -> str:
    """Runs `code`, asserts it succeeded, returns Output.Data.TextPlain."""
    st = run(glue, session_id, code, timeout)
    out = st.get("Output", {})
    assert st["State"] == "AVAILABLE" and out.get("Status") == "ok", (
        f"{code!r} did not succeed: {st}"
    )
    return out["Data"]["TextPlain"]


def assert_statement_shape(st: dict):
    """The numeric members smithy SDKs need, and Output in every final state."""
    for key in ("Id", "StartedOn", "CompletedOn"):
        assert type(st.get(key)) is int, f"{key} must be an integer: {st}"
    assert isinstance(st.get("Progress"), (int, float)) and not isinstance(st["Progress"], bool), st
    assert 0.0 <= st["Progress"] <= 1.0, st
    if st["State"] in FINAL_STATES:
        out = st.get("Output")
        assert out is not None, f"final statement without Output: {st}"
        assert out.get("Status") in ("ok", "error"), st
        assert isinstance(out.get("Data", {}).get("TextPlain"), str), st
        assert type(out.get("ExecutionCount")) is int, st
        if out["Status"] == "error":
            assert isinstance(out.get("ErrorName"), str) and out["ErrorName"], st
            assert isinstance(out.get("ErrorValue"), str), st
            assert isinstance(out.get("Traceback"), list), st
            assert all(isinstance(line, str) for line in out["Traceback"]), st
        # epoch milliseconds: after 2020-01-01 and ordered
        assert st["StartedOn"] == 0 or st["StartedOn"] > 1_577_836_800_000, st
        assert st["CompletedOn"] > 1_577_836_800_000, st
        assert st["StartedOn"] <= st["CompletedOn"], st


# -- sessions -----------------------------------------------------------------------------------


def wait_ready(glue, session_id, timeout=COLD_START_S) -> dict:
    s = H.wait_for_status(
        glue, session_id, ("READY", "FAILED", "STOPPED", "TIMEOUT"), timeout=timeout, interval=0.1
    )
    assert s["Status"] == "READY", f"session {session_id} did not become READY: {s}"
    return s


def system_logs_url(server: H.EpoxyServer, glue, session_id) -> str:
    """GetSystemLogsForSession (botocore >= 1.44; a raw signed request on older botocore)."""
    if hasattr(glue, "get_system_logs_for_session"):
        return glue.get_system_logs_for_session(Id=session_id)["SystemLogsUrl"]
    raw = H.RawGlue(server.url)
    try:
        resp = raw.send("GetSystemLogsForSession", {"Id": session_id})
    finally:
        raw.close()
    assert resp.status == 200, resp
    return resp.json()["SystemLogsUrl"]


def http_get(url, timeout=10) -> tuple[int, str, bytes]:
    """GET without any proxy from the environment: (status, content type, body)."""
    return http_get_with(url, {}, timeout)


def http_get_with(url, headers: dict[str, str], timeout=10) -> tuple[int, str, bytes]:
    """`http_get` with these request headers."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", u.path + (f"?{u.query}" if u.query else ""), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def driver_log(server, glue, session_id) -> str:
    status, _, body = http_get(system_logs_url(server, glue, session_id))
    assert status == 200, f"driver log of {session_id}: HTTP {status} {body[:200]!r}"
    return body.decode("utf-8", "replace")


_READY_PID = re.compile(r'sent ready \{.*"pid": (\d+)')


def driver_pid(server, glue, session_id) -> int:
    """The pid of the session's driver, as its log's `ready` event names it.

    The driver leads its own process group, so this is also the group of its JVM.
    """
    text = driver_log(server, glue, session_id)
    pids = _READY_PID.findall(text)
    assert pids, f"no 'sent ready ... pid' line in the driver log of {session_id}:\n{text[-2000:]}"
    return int(pids[-1])


# -- processes (Linux /proc) --------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    state: str
    rss_kb: int
    cmdline: str

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")

    @property
    def is_driver(self) -> bool:
        return "epoxy_driver" in self.cmdline

    @property
    def is_jvm(self) -> bool:
        return "java" in self.cmdline.split(" ", 1)[0]


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", "replace")
            .strip()
        )
    except (OSError, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        state=fields[0],
        rss_kb=int(fields[21]) * _PAGE_KB,
        cmdline=cmdline,
    )


def processes() -> list[Proc]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            p = read_proc(int(name))
            if p is not None:
                out.append(p)
    return out


def group(pgid: int) -> list[Proc]:
    """Live (non-zombie) members of a process group."""
    return [p for p in processes() if p.pgid == pgid and p.alive]


def driver_groups(server_pid: int) -> set[int]:
    """Process groups of the live drivers a server started (its `epoxy_driver` children)."""
    return {p.pgid for p in processes() if p.ppid == server_pid and p.is_driver and p.alive}


def wait_groups_gone(pgids, timeout=20.0) -> list[Proc]:
    """Waits until no live process is left in any of `pgids`; returns the leftovers (if any)."""
    pgids = set(pgids)
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in processes() if p.pgid in pgids and p.alive]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def describe(procs) -> str:
    return "\n".join(
        f"  pid {p.pid} ppid {p.ppid} pgid {p.pgid} {p.state} {p.cmdline[:160]}" for p in procs
    )


def assert_group_gone(pgid: int, what: str, timeout=20.0):
    left = wait_groups_gone([pgid], timeout)
    assert not left, f"{what}: driver process group {pgid} still has processes:\n{describe(left)}"


def jvm_of(pgid: int) -> Proc:
    jvms = [p for p in group(pgid) if p.is_jvm]
    assert len(jvms) == 1, f"expected one JVM in group {pgid}, got:\n{describe(group(pgid))}"
    return jvms[0]


def kill9(pid: int):
    os.kill(pid, signal.SIGKILL)


def group_rss_kb(pgid: int) -> int:
    """RSS of a whole driver: its python, its JVM and any Python workers."""
    return sum(p.rss_kb for p in group(pgid))


# -- the warm pool ------------------------------------------------------------------------------


def idle_warm_drivers(server: H.EpoxyServer) -> int:
    """Warm drivers that are started and not yet taken.

    A pool driver logs to `logs/warm-<uuid>.log` until a session takes it (its log is then
    renamed to the session's), so a warm log with the `ready` event is an idle started driver.
    """
    n = 0
    for log in (server.data_dir / "logs").glob("warm-*.log"):
        try:
            if "sent ready" in log.read_text(errors="replace"):
                n += 1
        except OSError:
            pass
    return n


def wait_pool_warm(server: H.EpoxyServer, n=1, timeout=COLD_START_S):
    deadline = time.monotonic() + timeout
    # EPOXY_TEST_NODES=2: the sessions get their drivers on the other node, from its pool.
    for srv in filter(None, (server, server.peer)):
        while idle_warm_drivers(srv) < n:
            assert srv.proc.poll() is None, f"server died while warming\n{srv.describe()}"
            assert time.monotonic() < deadline, (
                f"the warm pool did not get {n} ready driver(s) in {timeout:.0f}s\n{srv.describe()}"
            )
            time.sleep(0.2)


def health(server: H.EpoxyServer) -> dict:
    status, _, body = http_get(server.url + "/health")
    assert status == 200, (status, body)
    return json.loads(body)


def driver_log_tail(server, glue, session_id, lines=40) -> str:
    """The driver's own log lines (not Spark's), for failure messages."""
    try:
        text = driver_log(server, glue, session_id)
    except Exception as e:  # noqa: BLE001 - diagnostics only
        return f"<driver log unavailable: {e}>"
    own = [line for line in text.splitlines() if "[epoxy_driver]" in line]
    return "\n".join(own[-lines:])


def wait_explained(
    server, glue, session_id, stmt_id, states=FINAL_STATES, timeout=STATEMENT_TIMEOUT_S
):
    """`wait_statement`, with the driver's log in the failure message."""
    try:
        return wait_statement(glue, session_id, stmt_id, states, timeout)
    except StatementTimeout as e:
        raise StatementTimeout(
            f"{e}\n--- driver log of {session_id} ---\n{driver_log_tail(server, glue, session_id)}"
        ) from None
