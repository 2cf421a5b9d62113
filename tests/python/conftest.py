"""Fixtures for the end-to-end suite: real `epoxy` processes and real AWS clients.

Servers:
  * `server`       — open mode, `--runtime none`, one per test module.
  * `auth_server`  — `--accounts` with ACCOUNT_A and ACCOUNT_B, `--runtime none`, one per module.
  * `server_factory(*extra_args, runtime="none", accounts=None, ...)` — a fresh server
    that lives for the calling test only.
  * Module- or session-scoped servers with other flags: use `EpoxyServer` as a context
    manager in your own fixture, e.g. for the PySpark runtime::

        @pytest.fixture(scope="module")
        def spark_server():
            py = os.environ["EPOXY_TEST_RUNTIME_PYTHON"]
            with EpoxyServer(runtime="spark", extra_args=["--python", py]) as s:
                yield s

Any server that dies unexpectedly fails the running test with its stderr tail, and
every failing test gets the stderr tail of the live servers attached to its report.
"""

from __future__ import annotations

import uuid

import pytest

import epoxy_harness as H
from epoxy_harness import ACCOUNT_A, ACCOUNT_B, EpoxyServer, ServerDied


def _start(**kwargs) -> EpoxyServer:
    srv = EpoxyServer(**kwargs)
    try:
        srv.start()
    except ServerDied as e:
        srv.close()
        pytest.fail(str(e), pytrace=False)
    return srv


def _teardown(srv: EpoxyServer):
    died = srv.died_unexpectedly()
    description = srv.describe() if died else ""
    srv.close()
    if died:
        pytest.fail(f"epoxy died during the tests\n{description}", pytrace=False)


@pytest.fixture(scope="module")
def server():
    """Open dev mode (any key, account 000000000000), control plane only."""
    srv = _start(runtime="none")
    yield srv
    _teardown(srv)


@pytest.fixture(scope="module")
def auth_server():
    """SigV4-verified; knows ACCOUNT_A (alice, 111111111111) and ACCOUNT_B (222222222222)."""
    srv = _start(runtime="none", accounts=[ACCOUNT_A, ACCOUNT_B])
    yield srv
    _teardown(srv)


@pytest.fixture
def server_factory():
    """Start extra servers that live until the end of the calling test."""
    started: list[EpoxyServer] = []

    def make(*extra_args, runtime="none", accounts=None, **kwargs) -> EpoxyServer:
        srv = _start(runtime=runtime, accounts=accounts, extra_args=list(extra_args), **kwargs)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        _teardown(srv)


@pytest.fixture(scope="module")
def glue(server):
    """boto3 Glue client for `server` (us-east-1, no client validation, no retries)."""
    return server.glue()


@pytest.fixture(scope="module")
def sts(server):
    return server.sts()


@pytest.fixture
def glue_client_factory():
    """`make(url, access_key=None, secret=None, region="us-east-1")` → boto3 Glue client."""
    return H.glue_client


@pytest.fixture
def sts_client_factory():
    return H.sts_client


@pytest.fixture
def uid():
    """A short unique token for session Ids and tag values, so tests sharing a server don't collide."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(autouse=True)
def _servers_stay_alive():
    yield
    dead = [s for s in H.LIVE_SERVERS if s.died_unexpectedly()]
    if dead:
        msgs = "\n\n".join(s.describe() for s in dead)
        for s in dead:
            H.LIVE_SERVERS.remove(s)
        pytest.fail(f"epoxy died during this test\n{msgs}", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when in ("call", "setup"):
        for i, srv in enumerate(H.LIVE_SERVERS):
            report.sections.append((f"epoxy #{i} stderr tail ({srv.url})", srv.stderr_tail(30)))
