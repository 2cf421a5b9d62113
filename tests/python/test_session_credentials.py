"""End to end: boto3 inside a session reaches this epoxy as the session's own role.

Two servers with real PySpark drivers, one session each (a driver JVM is the expensive part):

  * open mode, `--warm-pool 1`: the session (Timeout 1 of a shortened minute) takes the pool's
    driver, so its key arrives at handover; `boto3.client("glue")` inside lists the session
    itself and STS names the assumed role; once the session times out its key is refused as
    expired;
  * strict mode (`--accounts` A and B), no pool, the server's own environment leaking A's
    long-term key and a profile: a session of A sees A's sessions only, the driver holds no
    long-term secret, and its key is refused once the session stops.

The keys are read from inside the sessions (printed by a statement) and then used from this
process, signed by botocore like any client's.
"""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest
from botocore.exceptions import ClientError

import runtime_support as R
from epoxy_harness import (
    ACCOUNT_A,
    ACCOUNT_B,
    DEFAULT_ROLE,
    OPEN_ACCOUNT,
    EpoxyServer,
    client_config,
    create_args,
)

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

ROLE_NAME = DEFAULT_ROLE.rsplit("/", 1)[-1]

# Runs inside a session: what boto3 sees with no configuration at all.
WHO_AM_I = """
import json, boto3
_ids = boto3.client("glue").list_sessions()["Ids"]
_me = boto3.client("sts").get_caller_identity()
print(json.dumps({"ids": _ids, "arn": _me["Arn"], "account": _me["Account"],
                  "user_id": _me["UserId"]}))
"""

# Runs inside a session: its key, and every value of its environment (now and at exec).
CREDENTIALS = """
import json, os
with open("/proc/self/environ", "rb") as _f:
    _initial = [e.decode("utf-8", "replace") for e in _f.read().split(b"\\0") if e]
print(json.dumps({"env": dict(os.environ), "initial": _initial}))
"""


def run_json(glue, session_id: str, code: str) -> dict:
    return json.loads(R.run_ok(glue, session_id, code).strip().splitlines()[-1])


def session_client(server: EpoxyServer, service: str, env: dict):
    """A client signing with the key a session's driver was given."""
    return boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=env["AWS_REGION"],
    ).client(service, endpoint_url=server.url, config=client_config())


def refusal(fn) -> tuple[str, int]:
    with pytest.raises(ClientError) as e:
        fn()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def assert_assumed_role(who: dict, account: str, session_id: str):
    assert who["arn"] == f"arn:aws:sts::{account}:assumed-role/{ROLE_NAME}/{session_id}", who
    assert who["account"] == account, who
    role_id, _, name = who["user_id"].partition(":")
    assert role_id.startswith("AROA") and len(role_id) == 21, who
    assert name == session_id, who


# -- open mode -------------------------------------------------------------------------------

# One Timeout minute of the open server, in seconds: its session times out after one.
MINUTE_S = 45.0
OPEN = {}


@pytest.fixture(scope="module")
def open_server():
    with R.spark_server(warm_pool=1, max_live_sessions=3, minute_seconds=MINUTE_S) as server:
        R.wait_pool_warm(server)
        yield server


def test_open_mode_session_sees_itself_and_its_role(open_server):
    glue = open_server.glue()
    glue.create_session(**create_args("cred-open", Timeout=1))
    R.wait_ready(glue, "cred-open")
    OPEN["ready"] = time.monotonic()
    who = run_json(glue, "cred-open", WHO_AM_I)
    assert "cred-open" in who["ids"], who
    assert_assumed_role(who, OPEN_ACCOUNT, "cred-open")
    env = OPEN["env"] = run_json(glue, "cred-open", CREDENTIALS)["env"]
    assert env["AWS_ENDPOINT_URL"] == open_server.url, env
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA"), env
    me = session_client(open_server, "sts", env).get_caller_identity()
    assert me["Arn"] == who["arn"], me


def test_timed_out_session_key_is_refused_as_expired(open_server):
    env = OPEN["env"]
    glue = open_server.glue()
    R.H.wait_for_status(glue, "cred-open", ("TIMEOUT",), timeout=MINUTE_S * 3)
    assert time.monotonic() - OPEN["ready"] < MINUTE_S * 3
    glue_refusal = refusal(lambda: session_client(open_server, "glue", env).list_sessions())
    sts_refusal = refusal(lambda: session_client(open_server, "sts", env).get_caller_identity())
    assert glue_refusal == ("ExpiredTokenException", 400)
    assert sts_refusal == ("ExpiredToken", 403)
    # Open mode takes any other key as before.
    assert "cred-open" in glue.list_sessions()["Ids"]
    open_server.stop()  # its JVMs make room for the strict server's


# -- strict mode -----------------------------------------------------------------------------

# What a careless operator's shell might hold: A's long-term key, a profile and files.
LEAKY_ENV = {
    "AWS_ACCESS_KEY_ID": ACCOUNT_A["access_key_id"],
    "AWS_SECRET_ACCESS_KEY": ACCOUNT_A["secret_access_key"],
    "AWS_PROFILE": "operator",
    "AWS_CONFIG_FILE": "/etc/epoxy-test-operator-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/etc/epoxy-test-operator-credentials",
}
SECRETS = (ACCOUNT_A["secret_access_key"], ACCOUNT_B["secret_access_key"])


@pytest.fixture(scope="module")
def strict_server():
    server = EpoxyServer(
        runtime="spark",
        accounts=[ACCOUNT_A, ACCOUNT_B],
        extra_args=[
            "--python",
            R.RUNTIME_PYTHON,
            "--warm-pool",
            "0",
            "--max-live-sessions",
            "3",
        ],
        env=LEAKY_ENV,
    )
    with server:
        yield server


@pytest.fixture(scope="module")
def strict_sessions(strict_server):
    """A's session; B's session (stopped at once, so it needs no driver)."""
    a = strict_server.glue(ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    b = strict_server.glue(ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])
    a.create_session(**create_args("cred-a"))
    b.create_session(**create_args("cred-b"))
    b.stop_session(Id="cred-b")
    return {"a": a, "b": b}


def test_strict_session_lists_its_own_account_only(strict_sessions):
    a, b = strict_sessions["a"], strict_sessions["b"]
    R.wait_ready(a, "cred-a")
    who = run_json(a, "cred-a", WHO_AM_I)
    assert "cred-a" in who["ids"], who
    assert "cred-b" not in who["ids"], who
    assert "cred-b" in b.list_sessions()["Ids"]
    assert_assumed_role(who, ACCOUNT_A["account_id"], "cred-a")


def test_driver_holds_no_long_term_secret(strict_server, strict_sessions):
    a = strict_sessions["a"]
    R.wait_ready(a, "cred-a")
    seen = run_json(a, "cred-a", CREDENTIALS)
    env, initial = seen["env"], seen["initial"]
    for secret in SECRETS:
        assert secret not in env.values(), "a long-term secret is in the driver's environment"
        assert not any(secret in entry for entry in initial), "a long-term secret was inherited"
    assert "AWS_PROFILE" not in env
    assert not any(e.startswith("AWS_PROFILE=") for e in initial)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_ACCESS_KEY_ID"] not in (ACCOUNT_A["access_key_id"], ACCOUNT_B["access_key_id"])
    assert env["AWS_SESSION_TOKEN"]
    assert env["AWS_ENDPOINT_URL"] == strict_server.url
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == R.H.REGION
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull


def test_stopped_session_key_is_refused(strict_server, strict_sessions):
    a = strict_sessions["a"]
    R.wait_ready(a, "cred-a")
    env = run_json(a, "cred-a", CREDENTIALS)["env"]
    glue = session_client(strict_server, "glue", env)
    assert "cred-a" in glue.list_sessions()["Ids"]
    a.stop_session(Id="cred-a")
    R.H.wait_for_status(a, "cred-a", ("STOPPED",), timeout=60)
    assert refusal(glue.list_sessions) == ("InvalidClientTokenId", 403)
    sts = session_client(strict_server, "sts", env)
    assert refusal(sts.get_caller_identity) == ("InvalidClientTokenId", 403)
    # The long-term key of the account still works.
    assert "cred-a" in a.list_sessions()["Ids"]
