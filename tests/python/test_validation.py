"""Server-side validation: bad input → 400 InvalidInput/Validation naming the field, no state change.

botocore is configured with `parameter_validation=False`, so every request here reaches
epoxy exactly as written. The protocol-level cases at the bottom use raw HTTP.
"""

from __future__ import annotations

import http.client
import json
import re
import socket

import pytest

from epoxy_harness import (
    VALIDATION_CODES,
    RawGlue,
    create_args,
    create_session,
    expect_client_error,
    glue_headers,
    list_all,
    session_arn,
    sigv4_headers,
)

ROLE_OK = "arn:aws:iam::123456789012:role/R"


def _names_field(msg: str, fields) -> bool:
    """Message mentions one of the field names as a word (any case; dotted paths allowed)."""
    return any(
        re.search(rf"(?<![A-Za-z]){re.escape(f)}(?![A-Za-z])", msg, re.IGNORECASE) for f in fields
    )


@pytest.fixture(scope="module")
def target_session(glue):
    """A session that the tag cases aim at, so they can show its tags did not change."""
    sid = "validation-target"
    create_session(glue, sid, Tags={"keep": "me"})
    return sid


# (case id, CreateSession overrides relative to a valid request, fields the message may name)
CREATE_CASES = [
    ("id-too-long", {"Id": "x" * 256}, ["Id"]),
    ("id-newline", {"Id": "bad\nid"}, ["Id"]),
    ("id-empty", {"Id": ""}, ["Id"]),
    ("id-missing", {"Id": None}, ["Id"]),
    ("role-not-a-role-arn", {"Role": "arn:aws:iam::123456789012:user/NotARole"}, ["Role"]),
    ("role-garbage", {"Role": "this-is-not-an-arn-at-all"}, ["Role"]),
    ("role-too-short", {"Role": "arn:aws:iam::1:role"}, ["Role"]),
    ("role-missing", {"Role": None}, ["Role"]),
    ("command-missing", {"Command": None}, ["Command"]),
    (
        "command-name-bad",
        {"Command": {"Name": "pythonshell", "PythonVersion": "3"}},
        ["Command", "Command.Name", "Name"],
    ),
    (
        "command-python-4",
        {"Command": {"Name": "glueetl", "PythonVersion": "4"}},
        ["PythonVersion", "Command", "Command.PythonVersion"],
    ),
    ("worker-type-bad", {"WorkerType": "G.3X", "NumberOfWorkers": 2}, ["WorkerType"]),
    ("worker-type-alone", {"WorkerType": "G.1X"}, ["NumberOfWorkers", "WorkerType"]),
    ("workers-alone", {"NumberOfWorkers": 4}, ["WorkerType", "NumberOfWorkers"]),
    (
        "max-capacity-with-workers",
        {"MaxCapacity": 5.0, "WorkerType": "G.1X", "NumberOfWorkers": 5},
        ["MaxCapacity", "WorkerType", "NumberOfWorkers"],
    ),
    ("workers-zero", {"WorkerType": "G.1X", "NumberOfWorkers": 0}, ["NumberOfWorkers"]),
    ("timeout-zero", {"Timeout": 0}, ["Timeout"]),
    ("idle-timeout-negative", {"IdleTimeout": -1}, ["IdleTimeout"]),
    (
        "args-76-pairs",
        {"DefaultArguments": {f"--k{i}": "v" for i in range(76)}},
        ["DefaultArguments"],
    ),
    ("args-key-space", {"DefaultArguments": {"--bad key": "v"}}, ["DefaultArguments"]),
    ("args-value-4097", {"DefaultArguments": {"--k": "v" * 4097}}, ["DefaultArguments"]),
    ("glue-version-1.0", {"GlueVersion": "1.0"}, ["GlueVersion"]),
    ("glue-version-pattern", {"GlueVersion": "four"}, ["GlueVersion"]),
    ("session-type-foo", {"SessionType": "FOO"}, ["SessionType"]),
    ("description-2049", {"Description": "d" * 2049}, ["Description"]),
    ("tags-51", {"Tags": {f"k{i}": "v" for i in range(51)}}, ["Tags"]),
    ("tag-key-129", {"Tags": {"k" * 129: "v"}}, ["Tags", "TagKey", "key"]),
    ("tag-value-257", {"Tags": {"k": "v" * 257}}, ["Tags", "TagValue", "value"]),
    ("request-origin-spaces", {"RequestOrigin": "my notebook"}, ["RequestOrigin"]),
    (
        "connections-1001",
        {"Connections": {"Connections": [f"c{i}" for i in range(1001)]}},
        ["Connections"],
    ),
    ("connection-name-256", {"Connections": {"Connections": ["c" * 256]}}, ["Connections"]),
    ("security-config-256", {"SecurityConfiguration": "s" * 256}, ["SecurityConfiguration"]),
    ("security-config-newline", {"SecurityConfiguration": "a\nb"}, ["SecurityConfiguration"]),
    ("description-control-char", {"Description": "bell\x07"}, ["Description"]),
    ("args-value-nul", {"DefaultArguments": {"--k": "x\x00y"}}, ["DefaultArguments"]),
    ("id-256-multibyte", {"Id": "é" * 256}, ["Id"]),
    ("id-control-char", {"Id": "a\x1fb"}, ["Id"]),
    ("max-capacity-below-2", {"MaxCapacity": 1.0}, ["MaxCapacity"]),
]


@pytest.mark.parametrize(
    "overrides,fields", [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES]
)
def test_create_session_rejects(glue, uid, overrides, fields):
    before = set(list_all(glue)[0])
    args = create_args(f"val-{uid}")
    for k, v in overrides.items():
        if v is None:
            args.pop(k, None)
        else:
            args[k] = v
    code, msg, status = expect_client_error(glue.create_session, VALIDATION_CODES, **args)
    assert status == 400
    assert _names_field(msg, fields), f"message should name {fields}: {msg!r}"
    after = set(list_all(glue)[0])
    assert after == before, f"rejected CreateSession changed ListSessions: {after ^ before}"
    if "Id" not in fields:  # the Id itself is valid: the session must not exist
        expect_client_error(glue.get_session, "EntityNotFoundException", Id=args["Id"])


# Boundaries and newer values that must be accepted (the server must not over-reject).
ACCEPT_CASES = [
    ("id-255", {"Id": lambda uid: ("i" * (254 - len(uid))) + "-" + uid}),
    ("id-unicode", {"Id": lambda uid: f"sésame-☃-😀-{uid}"}),
    # Lengths count characters, not UTF-8 bytes: 255 two- and four-byte characters are fine.
    ("id-255-two-byte", {"Id": lambda uid: ("é" * (254 - len(uid))) + "-" + uid}),
    ("id-255-four-byte", {"Id": lambda uid: ("😀" * (254 - len(uid))) + "-" + uid}),
    ("id-with-tab", {"Id": lambda uid: f"tab\there-{uid}"}),
    ("tag-key-128-four-byte", {"Tags": {"😀" * 128: "é" * 256}}),
    ("glue-2.0", {"GlueVersion": "2.0"}),
    ("glue-3.0", {"GlueVersion": "3.0"}),
    ("glue-5.0", {"GlueVersion": "5.0"}),
    ("glue-auto", {"GlueVersion": "auto"}),
    ("args-75-pairs", {"DefaultArguments": {f"--k{i}": "v" for i in range(75)}}),
    ("args-value-4096-multiline", {"DefaultArguments": {"--k": ("v" * 4094) + "\r\n"}}),
    ("tags-50", {"Tags": {f"k{i}": "v" for i in range(50)}}),
    ("tag-key-128-value-256", {"Tags": {"k" * 128: "v" * 256}}),
    ("description-2048-multiline", {"Description": ("d" * 2046) + "\r\n"}),
    ("python-3.9", {"Command": {"Name": "glueetl", "PythonVersion": "3.9"}}),
    ("streaming", {"Command": {"Name": "gluestreaming", "PythonVersion": "3"}}),
    ("request-origin", {"RequestOrigin": "GlueStudio_Notebook-1.0"}),
    ("connections-1000", {"Connections": {"Connections": [f"c{i}" for i in range(1000)]}}),
    ("session-type-livy", {"SessionType": "LIVY"}),
    ("g16x", {"WorkerType": "G.16X", "NumberOfWorkers": 2, "GlueVersion": "5.0"}),
    ("max-capacity-only", {"MaxCapacity": 2.0}),
]


@pytest.mark.parametrize(
    "overrides", [c[1] for c in ACCEPT_CASES], ids=[c[0] for c in ACCEPT_CASES]
)
def test_create_session_accepts(glue, uid, overrides):
    overrides = dict(overrides)
    sid = f"ok-{uid}"
    if "Id" in overrides:
        sid = overrides.pop("Id")(uid)
    s = create_session(glue, sid, **overrides)
    assert s["Id"] == sid
    got = glue.get_session(Id=sid)["Session"]
    assert got["Id"] == sid
    if "GlueVersion" in overrides:
        assert got["GlueVersion"] == overrides["GlueVersion"]
    if "DefaultArguments" in overrides:
        assert got["DefaultArguments"] == overrides["DefaultArguments"]
    if "Description" in overrides:
        assert got["Description"] == overrides["Description"]
    if "Tags" in overrides:
        assert glue.get_tags(ResourceArn=session_arn(sid))["Tags"] == overrides["Tags"]


# Other operations: (case id, method, kwargs, fields)
def _other_cases(target):
    arn = session_arn(target)
    return [
        ("list-max-0", "list_sessions", {"MaxResults": 0}, ["MaxResults"]),
        ("list-max-1001", "list_sessions", {"MaxResults": 1001}, ["MaxResults"]),
        ("list-tags-51", "list_sessions", {"Tags": {f"k{i}": "v" for i in range(51)}}, ["Tags"]),
        ("list-origin-spaces", "list_sessions", {"RequestOrigin": "a b"}, ["RequestOrigin"]),
        ("get-no-id", "get_session", {}, ["Id"]),
        ("get-id-too-long", "get_session", {"Id": "x" * 256}, ["Id"]),
        (
            "get-origin-spaces",
            "get_session",
            {"Id": target, "RequestOrigin": "a b"},
            ["RequestOrigin"],
        ),
        ("stop-no-id", "stop_session", {}, ["Id"]),
        ("delete-no-id", "delete_session", {}, ["Id"]),
        ("delete-id-newline", "delete_session", {"Id": "a\nb"}, ["Id"]),
        (
            "tag-non-glue-arn",
            "tag_resource",
            {"ResourceArn": f"arn:aws:s3:::bucket/{target}", "TagsToAdd": {"x": "y"}},
            ["ResourceArn"],
        ),
        ("tag-no-arn", "tag_resource", {"TagsToAdd": {"x": "y"}}, ["ResourceArn"]),
        ("tag-no-tags", "tag_resource", {"ResourceArn": arn}, ["TagsToAdd"]),
        (
            "tag-51",
            "tag_resource",
            {"ResourceArn": arn, "TagsToAdd": {f"k{i}": "v" for i in range(51)}},
            ["TagsToAdd", "Tags"],
        ),
        (
            "tag-key-129",
            "tag_resource",
            {"ResourceArn": arn, "TagsToAdd": {"k" * 129: "v"}},
            ["TagsToAdd", "Tags", "TagKey", "key"],
        ),
        (
            "tag-value-257",
            "tag_resource",
            {"ResourceArn": arn, "TagsToAdd": {"k": "v" * 257}},
            ["TagsToAdd", "Tags", "TagValue", "value"],
        ),
        ("untag-no-keys", "untag_resource", {"ResourceArn": arn}, ["TagsToRemove"]),
        (
            "untag-non-glue-arn",
            "untag_resource",
            {"ResourceArn": "arn:aws:iam::123456789012:role/R", "TagsToRemove": ["keep"]},
            ["ResourceArn"],
        ),
        (
            "untag-51-keys",
            "untag_resource",
            {"ResourceArn": arn, "TagsToRemove": [f"k{i}" for i in range(51)]},
            ["TagsToRemove"],
        ),
        ("get-tags-no-arn", "get_tags", {}, ["ResourceArn"]),
        ("get-tags-non-glue-arn", "get_tags", {"ResourceArn": "not-an-arn"}, ["ResourceArn"]),
        ("run-no-code", "run_statement", {"SessionId": target}, ["Code"]),
        ("run-no-session", "run_statement", {"Code": "1"}, ["SessionId"]),
    ]


OTHER_CASE_IDS = [c[0] for c in _other_cases("t")]


@pytest.mark.parametrize("case_id", OTHER_CASE_IDS)
def test_other_operations_reject(glue, target_session, case_id):
    ((_, method, kwargs, fields),) = [c for c in _other_cases(target_session) if c[0] == case_id]
    before_ids = set(list_all(glue)[0])
    before_tags = glue.get_tags(ResourceArn=session_arn(target_session))["Tags"]
    before_status = glue.get_session(Id=target_session)["Session"]["Status"]
    code, msg, status = expect_client_error(getattr(glue, method), VALIDATION_CODES, **kwargs)
    assert status == 400
    assert _names_field(msg, fields), f"message should name {fields}: {msg!r}"
    assert set(list_all(glue)[0]) == before_ids
    assert glue.get_tags(ResourceArn=session_arn(target_session))["Tags"] == before_tags
    assert glue.get_session(Id=target_session)["Session"]["Status"] == before_status


# -- wrong JSON types: botocore can't build these, so send them raw ---------------------------

TYPE_CASES = [
    ("id-number", "CreateSession", {"Id": 42, "Role": ROLE_OK, "Command": {"Name": "glueetl"}}),
    ("id-null", "CreateSession", {"Id": None, "Role": ROLE_OK, "Command": {"Name": "glueetl"}}),
    ("command-string", "CreateSession", {"Id": "typ-1", "Role": ROLE_OK, "Command": "glueetl"}),
    (
        "timeout-string",
        "CreateSession",
        {"Id": "typ-2", "Role": ROLE_OK, "Command": {"Name": "glueetl"}, "Timeout": "60"},
    ),
    (
        "workers-float",
        "CreateSession",
        {
            "Id": "typ-3",
            "Role": ROLE_OK,
            "Command": {"Name": "glueetl"},
            "WorkerType": "G.1X",
            "NumberOfWorkers": 2.5,
        },
    ),
    (
        "timeout-huge",
        "CreateSession",
        {"Id": "typ-4", "Role": ROLE_OK, "Command": {"Name": "glueetl"}, "Timeout": 10**30},
    ),
    (
        "tags-list",
        "CreateSession",
        {"Id": "typ-5", "Role": ROLE_OK, "Command": {"Name": "glueetl"}, "Tags": ["a"]},
    ),
    (
        "tag-value-number",
        "CreateSession",
        {"Id": "typ-6", "Role": ROLE_OK, "Command": {"Name": "glueetl"}, "Tags": {"a": 1}},
    ),
    ("max-results-string", "ListSessions", {"MaxResults": "10"}),
    ("next-token-number", "ListSessions", {"NextToken": 5}),
    ("untag-keys-string", "UntagResource", {"ResourceArn": session_arn("x"), "TagsToRemove": "a"}),
    (
        "lone-surrogate",
        "CreateSession",
        '{"Id": "\\ud800", "Role": "%s", "Command": {"Name": "glueetl"}}' % ROLE_OK,
    ),
]


@pytest.mark.parametrize("target,body", [c[1:] for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES])
def test_wrong_json_types_are_client_errors(server, glue, target, body):
    before = set(list_all(glue)[0])
    raw = RawGlue(server.url)
    try:
        r = raw.send(target, body)
    finally:
        raw.close()
    assert 400 <= r.status < 500, r
    err = r.json()
    assert err.get("__type") and "Message" in err, r
    assert set(list_all(glue)[0]) == before


# -- protocol errors over raw HTTP ---------------------------------------------------------------


def _assert_protocol_error(r):
    assert 400 <= r.status < 500, f"want 4xx, got {r}"
    try:
        body = r.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {r}")
    assert isinstance(body, dict) and isinstance(body.get("__type"), str) and body["__type"], r
    assert "Message" in body or "message" in body, r
    assert r.headers.get("x-amzn-errortype", "").split(":")[0] == body["__type"], (
        f"x-amzn-ErrorType header should carry the code too (smithy SDKs read it first): {r.headers}"
    )


PROTOCOL_CASES = [
    ("unknown-target", dict(target="AWSGlue.Nope", body="{}")),
    ("other-service-target", dict(target="AmazonS3.ListBuckets", body="{}")),
    ("missing-target", dict(target=None, body="{}")),
    ("malformed-json", dict(target="AWSGlue.ListSessions", body='{"MaxResults": ')),
    ("json-array", dict(target="AWSGlue.ListSessions", body="[]")),
    ("json-string", dict(target="AWSGlue.ListSessions", body='"hello"')),
    ("not-utf8", dict(target="AWSGlue.ListSessions", body=b'{"Tags": {"\xff\xfe": "x"}}')),
    (
        "wrong-content-type",
        dict(target="AWSGlue.ListSessions", body="{}", content_type="text/plain"),
    ),
]


@pytest.mark.parametrize("kw", [c[1] for c in PROTOCOL_CASES], ids=[c[0] for c in PROTOCOL_CASES])
def test_protocol_errors_are_json_4xx_and_keep_connection(server, kw):
    raw = RawGlue(server.url)
    try:
        r = raw.send(**kw)
        _assert_protocol_error(r)
        sock = raw.sock
        assert sock is not None, f"server closed the connection after {r}"
        ok = raw.send("ListSessions", {"MaxResults": 1})
        assert ok.status == 200, ok
        assert raw.sock is sock, "the keep-alive connection was dropped after a protocol error"
    finally:
        raw.close()


def test_empty_body_is_handled(server):
    """An empty body is not valid JSON 1.1 input; either treat it as {} (200) or answer a JSON 4xx."""
    raw = RawGlue(server.url)
    try:
        r = raw.send("ListSessions", b"")
        if r.status != 200:
            _assert_protocol_error(r)
    finally:
        raw.close()


def test_body_over_10_mib_is_4xx_not_dropped(server):
    """A body just over 10 MiB gets a JSON 4xx (e.g. 413) and the server keeps serving."""
    filler = "x" * (10 * 1024 * 1024)
    body = json.dumps(
        {"Id": "big", "Role": ROLE_OK, "Command": {"Name": "glueetl"}, "Description": filler}
    ).encode()
    assert len(body) > 10 * 1024 * 1024
    host = server.host
    headers = sigv4_headers(host, body, glue_headers("AWSGlue.CreateSession"), "AKIDBIG", "secret")
    headers["Content-Length"] = str(len(body))
    head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    send_error = None
    try:
        sock.sendall(head.encode())
        try:
            view = memoryview(body)
            for i in range(0, len(body), 256 * 1024):
                sock.sendall(view[i : i + 256 * 1024])
        except (
            OSError
        ) as e:  # the server may answer early and stop reading; the answer must still arrive
            send_error = e
        resp = http.client.HTTPResponse(sock)
        try:
            resp.begin()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as e:
            pytest.fail(
                f"connection dropped without a complete response (send error: {send_error!r}, read: {e!r})"
            )
    finally:
        sock.close()
    assert 400 <= resp.status < 500, (resp.status, payload[:500])
    try:
        body_json = json.loads(payload)
    except ValueError:
        pytest.fail(f"{resp.status} body is not JSON: {payload[:500]!r}")
    assert body_json.get("__type") and "Message" in body_json, payload[:500]
    # Still serving, and nothing was stored.
    raw = RawGlue(server.url)
    try:
        assert raw.send("ListSessions", {"MaxResults": 1}).status == 200
        r = raw.send("GetSession", {"Id": "big"})
        assert r.status == 400 and r.json()["__type"] == "EntityNotFoundException", r
    finally:
        raw.close()


def test_health(server):
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/health", timeout=5) as r:
        assert r.status == 200


def test_server_survives_validation_storm(server, glue):
    """After all of the above the server still answers normally."""
    assert glue.list_sessions(MaxResults=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
