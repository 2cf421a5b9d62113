"""Every session operation through boto3 against `epoxy serve --runtime none` (open mode)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from epoxy_harness import (
    DEFAULT_ROLE,
    RawGlue,
    create_args,
    create_session,
    expect_client_error,
    list_all,
    session_arn,
    wait_for_status,
)

NOW_SLACK = dt.timedelta(minutes=5)


def _now():
    return dt.datetime.now(dt.UTC)


def _assert_recent(ts, what):
    assert isinstance(ts, dt.datetime), f"{what} should parse as a timestamp, got {ts!r}"
    assert ts.tzinfo is not None
    assert abs(_now() - ts) < NOW_SLACK, f"{what}={ts} is not close to now ({_now()})"


class TestCreateSession:
    def test_returns_full_session(self, glue, uid):
        sid = f"create-{uid}"
        before = _now() - dt.timedelta(seconds=2)
        resp = glue.create_session(
            **create_args(sid, GlueVersion="4.0", Description="made by test_sessions")
        )
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert resp["ResponseMetadata"].get("RequestId"), "x-amzn-RequestId header missing"
        s = resp["Session"]
        assert s["Id"] == sid
        assert s["Status"] in ("PROVISIONING", "READY")
        _assert_recent(s["CreatedOn"], "CreatedOn")
        assert s["CreatedOn"] >= before
        assert s["Role"] == DEFAULT_ROLE
        assert s["Command"] == {"Name": "glueetl", "PythonVersion": "3"}
        assert s["GlueVersion"] == "4.0"
        assert s["Description"] == "made by test_sessions"
        assert s["IdleTimeout"] == 2880, "IdleTimeout defaults to 2880 minutes"
        assert "Timeout" not in s, "the Session shape has no Timeout member"
        assert "Tags" not in s, "the Session shape has no Tags member"
        assert set(s) <= SESSION_MEMBERS, f"members not in the model: {set(s) - SESSION_MEMBERS}"

    def test_default_capacity_is_5_dpu(self, glue, uid):
        s = create_session(glue, f"dflt-{uid}")
        assert s.get("MaxCapacity") == pytest.approx(5.0), s

    @pytest.mark.parametrize(
        "worker_type,workers,dpu,command",
        [
            ("G.1X", 5, 5.0, "glueetl"),
            ("G.2X", 3, 6.0, "glueetl"),
            ("G.025X", 2, 0.5, "gluestreaming"),
            ("R.2X", 2, 4.0, "glueetl"),
        ],
    )
    def test_max_capacity_derived_from_workers(self, glue, uid, worker_type, workers, dpu, command):
        sid = f"wk-{worker_type.replace('.', '')}-{uid}"
        s = create_session(
            glue,
            sid,
            WorkerType=worker_type,
            NumberOfWorkers=workers,
            GlueVersion="5.0",
            Command={"Name": command, "PythonVersion": "3"},
        )
        assert s["WorkerType"] == worker_type
        assert s["NumberOfWorkers"] == workers
        assert s["MaxCapacity"] == pytest.approx(dpu)
        got = glue.get_session(Id=sid)["Session"]
        assert got["MaxCapacity"] == pytest.approx(dpu)
        assert got["WorkerType"] == worker_type and got["NumberOfWorkers"] == workers

    def test_explicit_timeouts_and_arguments_round_trip(self, glue, uid):
        sid = f"rt-{uid}"
        args = {"--enable-glue-datacatalog": "true", "--conf": "spark.sql.shuffle.partitions=4"}
        create_session(
            glue,
            sid,
            Timeout=60,
            IdleTimeout=15,
            DefaultArguments=args,
            Connections={"Connections": ["conn-a", "conn-b"]},
            SecurityConfiguration="sec-cfg",
            MaxCapacity=3.0,
            SessionType="LIVY",
        )
        s = glue.get_session(Id=sid)["Session"]
        assert s["IdleTimeout"] == 15
        assert "Timeout" not in s
        assert s["DefaultArguments"] == args
        assert s["Connections"] == {"Connections": ["conn-a", "conn-b"]}
        assert s["SecurityConfiguration"] == "sec-cfg"
        assert s["MaxCapacity"] == pytest.approx(3.0)
        assert s.get("SessionType", "LIVY") == "LIVY"

    def test_duplicate_id_is_already_exists_and_keeps_original(self, glue, uid):
        sid = f"dup-{uid}"
        create_session(glue, sid, Description="first")
        expect_client_error(
            glue.create_session,
            "AlreadyExistsException",
            **create_args(sid, Description="second", GlueVersion="5.0"),
        )
        s = glue.get_session(Id=sid)["Session"]
        assert s["Description"] == "first"
        assert list_all(glue)[0].count(sid) == 1


# The `Session` members of the model (botocore 1.44.8).
SESSION_MEMBERS = {
    "Id",
    "CreatedOn",
    "Status",
    "ErrorMessage",
    "Description",
    "Role",
    "Command",
    "DefaultArguments",
    "Connections",
    "Progress",
    "MaxCapacity",
    "SecurityConfiguration",
    "GlueVersion",
    "NumberOfWorkers",
    "WorkerType",
    "CompletedOn",
    "ExecutionTime",
    "DPUSeconds",
    "IdleTimeout",
    "ProfileName",
    "SessionType",
}


class TestGetSession:
    def test_get_matches_create_and_becomes_ready(self, glue, uid):
        sid = f"get-{uid}"
        created = create_session(glue, sid, GlueVersion="5.0")
        s = wait_for_status(glue, sid, "READY", timeout=10)
        for k in ("Id", "Role", "Command", "GlueVersion", "IdleTimeout", "MaxCapacity"):
            assert s[k] == created[k], k
        assert s["CreatedOn"] == created["CreatedOn"]
        assert "Timeout" not in s and "Tags" not in s
        assert "CompletedOn" not in s, "a READY session has not completed"

    def test_unknown_is_entity_not_found(self, glue, uid):
        _, msg, status = expect_client_error(
            glue.get_session, "EntityNotFoundException", Id=f"nope-{uid}"
        )
        assert status == 400

    def test_wire_format(self, server, glue, uid):
        """CreatedOn is epoch seconds as a JSON number; content type and request id are set."""
        sid = f"wire-{uid}"
        create_session(glue, sid)
        raw = RawGlue(server.url)
        try:
            r = raw.send("GetSession", {"Id": sid})
        finally:
            raw.close()
        assert r.status == 200, r
        assert r.headers.get("content-type", "").startswith("application/x-amz-json-1.1"), r.headers
        assert r.headers.get("x-amzn-requestid"), r.headers
        s = r.json()["Session"]
        assert isinstance(s["CreatedOn"], (int, float)) and not isinstance(s["CreatedOn"], bool), s
        assert abs(s["CreatedOn"] - time.time()) < 300, "CreatedOn must be epoch *seconds*"
        assert isinstance(s.get("Progress", 0), (int, float))
        assert not any(v is None for v in s.values()), "unset members are omitted, not null"


class TestStopAndDelete:
    def test_stop_reaches_stopped_with_accounting(self, glue, uid):
        sid = f"stop-{uid}"
        create_session(glue, sid, WorkerType="G.2X", NumberOfWorkers=2)
        wait_for_status(glue, sid, "READY", timeout=10)
        resp = glue.stop_session(Id=sid)
        assert resp["Id"] == sid
        s = glue.get_session(Id=sid)["Session"]
        assert s["Status"] in ("STOPPING", "STOPPED")
        s = wait_for_status(glue, sid, "STOPPED", timeout=15)
        _assert_recent(s["CompletedOn"], "CompletedOn")
        assert s["CompletedOn"] >= s["CreatedOn"]
        assert "ExecutionTime" in s and "DPUSeconds" in s, s
        assert s["ExecutionTime"] >= 0
        assert s["MaxCapacity"] == pytest.approx(4.0)
        # DPUSeconds = ExecutionTime × MaxCapacity, billed for at least one minute.
        assert s["DPUSeconds"] == pytest.approx(max(s["ExecutionTime"], 60.0) * 4.0, rel=0.02), s

    def test_stop_stopped_is_illegal_state(self, glue, uid):
        sid = f"stop2-{uid}"
        create_session(glue, sid)
        wait_for_status(glue, sid, "READY", timeout=10)
        glue.stop_session(Id=sid)
        before = wait_for_status(glue, sid, "STOPPED", timeout=15)
        expect_client_error(glue.stop_session, "IllegalSessionStateException", Id=sid)
        after = glue.get_session(Id=sid)["Session"]
        assert after["Status"] == "STOPPED"
        assert after["CompletedOn"] == before["CompletedOn"]

    def test_stop_unknown(self, glue, uid):
        expect_client_error(
            glue.stop_session,
            ("EntityNotFoundException", "IllegalSessionStateException"),
            Id=f"nope-{uid}",
        )

    def test_delete_stopped_then_gone(self, glue, uid):
        sid = f"del-{uid}"
        create_session(glue, sid, Tags={"k": "v"})
        wait_for_status(glue, sid, "READY", timeout=10)
        glue.stop_session(Id=sid)
        wait_for_status(glue, sid, "STOPPED", timeout=15)
        assert glue.delete_session(Id=sid)["Id"] == sid
        expect_client_error(glue.get_session, "EntityNotFoundException", Id=sid)
        expect_client_error(glue.get_tags, "EntityNotFoundException", ResourceArn=session_arn(sid))
        assert sid not in list_all(glue)[0]
        # The Id is free again.
        assert create_session(glue, sid)["Id"] == sid
        assert glue.get_tags(ResourceArn=session_arn(sid)).get("Tags", {}) == {}, (
            "tags must not survive delete"
        )

    def test_delete_ready_session(self, glue, uid):
        """Glue lets a live session be deleted (stopping it); refusing with IllegalSessionState is tolerated."""
        sid = f"delr-{uid}"
        create_session(glue, sid)
        wait_for_status(glue, sid, "READY", timeout=10)
        try:
            assert glue.delete_session(Id=sid)["Id"] == sid
        except glue.exceptions.IllegalSessionStateException:
            assert glue.get_session(Id=sid)["Session"]["Status"] == "READY"
            return
        expect_client_error(glue.get_session, "EntityNotFoundException", Id=sid)

    def test_delete_unknown_is_client_error(self, glue, uid):
        expect_client_error(
            glue.delete_session,
            ("EntityNotFoundException", "InvalidInputException", "IllegalSessionStateException"),
            Id=f"nope-{uid}",
        )


class TestTags:
    def test_create_tags_visible_via_get_tags(self, glue, uid):
        sid = f"tags-{uid}"
        tags = {"team": "data", "owner": "alice", "empty": ""}
        create_session(glue, sid, Tags=tags)
        got = glue.get_tags(ResourceArn=f"arn:aws:glue:us-east-1:000000000000:session/{sid}")
        assert got["Tags"] == tags
        assert "Tags" not in glue.get_session(Id=sid)["Session"]

    def test_tag_untag_cycle(self, glue, uid):
        sid = f"tagc-{uid}"
        arn = session_arn(sid)
        create_session(glue, sid, Tags={"a": "1", "b": "2"})
        assert (
            glue.tag_resource(ResourceArn=arn, TagsToAdd={"b": "22", "c": "3"})["ResponseMetadata"][
                "HTTPStatusCode"
            ]
            == 200
        )
        assert glue.get_tags(ResourceArn=arn)["Tags"] == {"a": "1", "b": "22", "c": "3"}
        glue.untag_resource(ResourceArn=arn, TagsToRemove=["a", "not-there"])
        assert glue.get_tags(ResourceArn=arn)["Tags"] == {"b": "22", "c": "3"}
        glue.untag_resource(ResourceArn=arn, TagsToRemove=["b", "c"])
        assert glue.get_tags(ResourceArn=arn).get("Tags", {}) == {}

    def test_session_without_tags_has_empty_tags(self, glue, uid):
        sid = f"notag-{uid}"
        create_session(glue, sid)
        assert glue.get_tags(ResourceArn=session_arn(sid)).get("Tags", {}) == {}

    def test_get_tags_unknown_session(self, glue, uid):
        expect_client_error(
            glue.get_tags, "EntityNotFoundException", ResourceArn=session_arn(f"nope-{uid}")
        )

    def test_tag_resource_unknown_session(self, glue, uid):
        sid = f"nope-{uid}"
        expect_client_error(
            glue.tag_resource,
            "EntityNotFoundException",
            ResourceArn=session_arn(sid),
            TagsToAdd={"a": "b"},
        )
        expect_client_error(
            glue.untag_resource,
            "EntityNotFoundException",
            ResourceArn=session_arn(sid),
            TagsToRemove=["a"],
        )
        # Tagging a missing session must not create it.
        expect_client_error(glue.get_session, "EntityNotFoundException", Id=sid)

    def test_tags_of_other_region_arn_not_found(self, glue, uid):
        """The ARN's region/account must match the caller's; us-west-2 has no such session."""
        sid = f"tagreg-{uid}"
        create_session(glue, sid, Tags={"a": "1"})
        expect_client_error(
            glue.get_tags,
            ("EntityNotFoundException", "AccessDeniedException", "InvalidInputException"),
            ResourceArn=session_arn(sid, region="us-west-2"),
        )

    def test_tag_limit_is_on_the_total(self, glue, uid):
        """A session holds at most 50 tags; TagResource past that fails and changes nothing."""
        sid = f"tag50-{uid}"
        arn = session_arn(sid)
        create_session(glue, sid, Tags={f"k{i}": "v" for i in range(45)})
        expect_client_error(
            glue.tag_resource,
            (
                "InvalidInputException",
                "ValidationException",
                "ResourceNumberLimitExceededException",
            ),
            ResourceArn=arn,
            TagsToAdd={f"n{i}": "v" for i in range(10)},
        )
        assert len(glue.get_tags(ResourceArn=arn)["Tags"]) == 45


def test_run_statement_not_supported_without_runtime(glue, uid):
    sid = f"run-{uid}"
    create_session(glue, sid)
    wait_for_status(glue, sid, "READY", timeout=10)
    expect_client_error(
        glue.run_statement, "OperationNotSupportedException", SessionId=sid, Code="1 + 1"
    )
    assert glue.get_session(Id=sid)["Session"]["Status"] == "READY"


def test_list_returns_created_sessions(glue, uid):
    sids = [f"lst-{uid}-{i}" for i in range(3)]
    for sid in sids:
        create_session(glue, sid)
    ids, pages = list_all(glue)
    for sid in sids:
        assert ids.count(sid) == 1
    for page in pages:
        for s in page["Sessions"]:
            assert "Timeout" not in s and "Tags" not in s


class TestConcurrency:
    """Races between clients must resolve like Glue: one winner, typed errors, no lost updates."""

    @staticmethod
    def _codes(server, fn, n):
        from concurrent.futures import ThreadPoolExecutor

        from botocore.exceptions import ClientError

        clients = [server.glue() for _ in range(min(n, 16))]

        def one(i):
            try:
                fn(clients[i % len(clients)], i)
                return "ok"
            except ClientError as e:
                return e.response["Error"]["Code"]

        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            return sorted(pool.map(one, range(n)))

    def test_same_id_created_once(self, server, glue, uid):
        sid = f"race-{uid}"
        codes = self._codes(server, lambda g, i: create_session(g, sid, Description=f"c{i}"), 24)
        assert codes.count("ok") == 1, codes
        assert set(codes) == {"ok", "AlreadyExistsException"}, codes
        assert list_all(glue)[0].count(sid) == 1

    def test_concurrent_tagging_loses_nothing(self, server, glue, uid):
        sid = f"race-tag-{uid}"
        create_session(glue, sid)
        arn = session_arn(sid)
        codes = self._codes(
            server, lambda g, i: g.tag_resource(ResourceArn=arn, TagsToAdd={f"k{i}": str(i)}), 40
        )
        assert codes == ["ok"] * 40, codes
        assert glue.get_tags(ResourceArn=arn)["Tags"] == {f"k{i}": str(i) for i in range(40)}

    def test_concurrent_tagging_respects_50_limit(self, server, glue, uid):
        sid = f"race-tag50-{uid}"
        create_session(glue, sid, Tags={f"base{i}": "v" for i in range(40)})
        arn = session_arn(sid)
        codes = self._codes(
            server, lambda g, i: g.tag_resource(ResourceArn=arn, TagsToAdd={f"n{i}": "v"}), 20
        )
        assert codes.count("ok") == 10, codes
        assert len(glue.get_tags(ResourceArn=arn)["Tags"]) == 50

    def test_concurrent_stop_has_one_winner(self, server, glue, uid):
        sid = f"race-stop-{uid}"
        create_session(glue, sid)
        wait_for_status(glue, sid, "READY", timeout=10)
        codes = self._codes(server, lambda g, i: g.stop_session(Id=sid), 12)
        assert codes.count("ok") >= 1 and set(codes) <= {"ok", "IllegalSessionStateException"}, (
            codes
        )
        wait_for_status(glue, sid, "STOPPED", timeout=15)


def test_many_concurrent_connections(server, glue, uid):
    """64 clients at once, each on its own keep-alive connection: all answered, none dropped."""
    from concurrent.futures import ThreadPoolExecutor

    sid = f"conc-{uid}"
    create_session(glue, sid)
    clients = [server.glue() for _ in range(64)]

    def hammer(i):
        c = clients[i]
        for _ in range(10):
            assert c.get_session(Id=sid)["Session"]["Id"] == sid
            c.list_sessions(MaxResults=5)
        return True

    with ThreadPoolExecutor(max_workers=64) as pool:
        assert all(pool.map(hammer, range(64)))


def test_timeout_alone_sets_idle_timeout(glue, uid):
    """Model doc: IdleTimeout defaults to the Timeout value for Spark ETL sessions."""
    s = create_session(glue, f"to-{uid}", Timeout=60)
    assert s["IdleTimeout"] == 60
    assert "Timeout" not in s
