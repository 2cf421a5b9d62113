"""The AWS CLI (v1, installed in this venv) against epoxy: `python -m awscli glue ...`."""

from __future__ import annotations

import pytest

import epoxy_harness as H

ROLE = "arn:aws:iam::123456789012:role/GlueInteractiveSessionRole"


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    return H.awscli(server.url, tmp_path_factory.mktemp("awscli-home"))


def test_create_get_list(aws, uid):
    sid = f"cli-{uid}"
    out = aws(
        "glue",
        "create-session",
        "--id",
        sid,
        "--role",
        ROLE,
        "--command",
        "Name=glueetl,PythonVersion=3",
        "--glue-version",
        "4.0",
        "--worker-type",
        "G.1X",
        "--number-of-workers",
        "2",
        "--tags",
        "team=cli,owner=me",
    )
    s = out["Session"]
    assert s["Id"] == sid
    assert s["Status"] in ("PROVISIONING", "READY")
    assert s["Command"] == {"Name": "glueetl", "PythonVersion": "3"}
    assert s["MaxCapacity"] == 2.0
    assert "CreatedOn" in s and "Timeout" not in s

    got = aws("glue", "get-session", "--id", sid)["Session"]
    assert got["Id"] == sid and got["Role"] == ROLE and got["GlueVersion"] == "4.0"

    listed = aws("glue", "list-sessions")
    assert sid in listed["Ids"]
    assert [x["Id"] for x in listed["Sessions"]] == listed["Ids"]

    filtered = aws("glue", "list-sessions", "--tags", "team=cli,owner=me")
    assert filtered["Ids"] == [sid] or sid in filtered["Ids"]

    tags = aws(
        "glue", "get-tags", "--resource-arn", f"arn:aws:glue:us-east-1:000000000000:session/{sid}"
    )
    assert tags["Tags"] == {"team": "cli", "owner": "me"}


def test_stop_and_delete(aws, uid):
    sid = f"cli-stop-{uid}"
    aws(
        "glue",
        "create-session",
        "--id",
        sid,
        "--role",
        ROLE,
        "--command",
        "Name=glueetl,PythonVersion=3",
    )
    assert aws("glue", "stop-session", "--id", sid)["Id"] == sid
    assert aws("glue", "get-session", "--id", sid)["Session"]["Status"] in ("STOPPING", "STOPPED")


def test_errors_are_reported_by_code(aws, uid):
    p = aws("glue", "get-session", "--id", f"missing-{uid}", check=False)
    assert p.returncode != 0
    assert "EntityNotFoundException" in p.stderr, p.stderr
    p = aws(
        "glue",
        "create-session",
        "--id",
        f"bad-{uid}",
        "--role",
        "arn:aws:iam::123456789012:user/NotARole",
        "--command",
        "Name=glueetl",
        check=False,
    )
    assert p.returncode != 0
    assert "InvalidInputException" in p.stderr or "ValidationException" in p.stderr, p.stderr


def test_sts_get_caller_identity(aws):
    ident = aws("sts", "get-caller-identity")
    assert ident["Account"] == "000000000000"
