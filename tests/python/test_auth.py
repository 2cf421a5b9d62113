"""SigV4 accounts: isolation between two accounts, rejected credentials, STS GetCallerIdentity."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from epoxy_harness import (
    ACCOUNT_A,
    ACCOUNT_B,
    OPEN_ACCOUNT,
    RawGlue,
    amz_now,
    create_session,
    error_of,
    expect_client_error,
    glue_headers,
    list_all,
    session_arn,
    sigv4_headers,
    wait_for_status,
)

NOT_VISIBLE = ("EntityNotFoundException", "AccessDeniedException")
A_ACCT = ACCOUNT_A["account_id"]
B_ACCT = ACCOUNT_B["account_id"]
ROLE = "arn:aws:iam::111111111111:role/GlueRole"


@pytest.fixture(scope="module")
def glue_a(auth_server):
    return auth_server.glue(ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])


@pytest.fixture(scope="module")
def glue_b(auth_server):
    return auth_server.glue(ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])


@pytest.fixture(scope="module")
def a_session(glue_a):
    sid = "alice-private"
    create_session(glue_a, sid, Tags={"owner": "alice", "team": "secret"})
    wait_for_status(glue_a, sid, "READY", timeout=10)
    return sid


def _a_state(glue_a, sid):
    s = glue_a.get_session(Id=sid)["Session"]
    tags = glue_a.get_tags(ResourceArn=session_arn(sid, A_ACCT))["Tags"]
    return s["Status"], s.get("Description"), tags


class TestIsolation:
    def test_b_cannot_get(self, glue_b, a_session):
        expect_client_error(glue_b.get_session, NOT_VISIBLE, Id=a_session)

    def test_b_cannot_list(self, glue_b, a_session):
        ids, pages = list_all(glue_b)
        assert a_session not in ids
        assert list_all(glue_b, tags={"owner": "alice"})[0] == []
        for p in pages:
            assert all(s["Id"] != a_session for s in p.get("Sessions", []))

    @pytest.mark.parametrize("arn_account", [A_ACCT, B_ACCT], ids=["a-arn", "b-arn"])
    def test_b_cannot_read_or_change_tags(self, glue_a, glue_b, a_session, arn_account):
        before = _a_state(glue_a, a_session)
        arn = session_arn(a_session, arn_account)
        expect_client_error(glue_b.get_tags, NOT_VISIBLE, ResourceArn=arn)
        expect_client_error(
            glue_b.tag_resource, NOT_VISIBLE, ResourceArn=arn, TagsToAdd={"owner": "mallory"}
        )
        expect_client_error(
            glue_b.untag_resource, NOT_VISIBLE, ResourceArn=arn, TagsToRemove=["owner", "team"]
        )
        assert _a_state(glue_a, a_session) == before

    def test_b_cannot_stop_or_delete(self, glue_a, glue_b, a_session):
        before = _a_state(glue_a, a_session)
        expect_client_error(
            glue_b.stop_session, NOT_VISIBLE + ("IllegalSessionStateException",), Id=a_session
        )
        expect_client_error(
            glue_b.delete_session, NOT_VISIBLE + ("IllegalSessionStateException",), Id=a_session
        )
        assert _a_state(glue_a, a_session) == before
        assert a_session in list_all(glue_a)[0]

    def test_b_cannot_run_statements(self, glue_b, a_session):
        expect_client_error(
            glue_b.run_statement,
            NOT_VISIBLE + ("OperationNotSupportedException",),
            SessionId=a_session,
            Code="1",
        )

    def test_same_id_in_two_accounts_are_different_sessions(self, glue_a, glue_b, uid):
        sid = f"shared-name-{uid}"
        create_session(glue_a, sid, Description="alice's", Tags={"who": "a"})
        create_session(glue_b, sid, Description="bob's", Tags={"who": "b"})
        assert glue_a.get_session(Id=sid)["Session"]["Description"] == "alice's"
        assert glue_b.get_session(Id=sid)["Session"]["Description"] == "bob's"
        assert glue_a.get_tags(ResourceArn=session_arn(sid, A_ACCT))["Tags"] == {"who": "a"}
        assert glue_b.get_tags(ResourceArn=session_arn(sid, B_ACCT))["Tags"] == {"who": "b"}
        glue_b.delete_session(Id=sid)
        assert glue_a.get_session(Id=sid)["Session"]["Description"] == "alice's"

    def test_b_cannot_use_a_token(self, glue_a, glue_b, uid):
        for i in range(3):
            create_session(glue_a, f"tok-{uid}-{i}")
        token = glue_a.list_sessions(MaxResults=1)["NextToken"]
        try:
            page = glue_b.list_sessions(NextToken=token, MaxResults=1)
        except ClientError as exc:
            code, _, _ = error_of(exc)
            assert code in ("InvalidInputException", "AccessDeniedException"), code
        else:
            pytest.fail(f"B accepted A's NextToken: {page.get('Ids')}")

    def test_regions_are_separate(self, auth_server, glue_a, a_session):
        west = auth_server.glue(
            ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"], region="eu-west-1"
        )
        expect_client_error(west.get_session, NOT_VISIBLE, Id=a_session)
        assert a_session not in list_all(west)[0]
        sid = "alice-in-ireland"
        create_session(west, sid, Tags={"r": "eu"})
        assert west.get_tags(ResourceArn=session_arn(sid, A_ACCT, "eu-west-1"))["Tags"] == {
            "r": "eu"
        }
        assert sid not in list_all(glue_a)[0]


class TestRejectedCredentials:
    def test_unknown_key(self, auth_server, glue_a, uid):
        bad = auth_server.glue("AKIAUNKNOWNUNKNOWN00", "whatever")
        code, _, status = expect_client_error(bad.list_sessions, "InvalidClientTokenId")
        assert status == 403
        sid = f"ghost-{uid}"
        expect_client_error(
            bad.create_session,
            "InvalidClientTokenId",
            Id=sid,
            Role=ROLE,
            Command={"Name": "glueetl"},
        )
        self._nothing_stored(auth_server, sid)

    def test_wrong_secret(self, auth_server, uid):
        bad = auth_server.glue(ACCOUNT_A["access_key_id"], "not-secretA")
        code, _, status = expect_client_error(bad.list_sessions, "SignatureDoesNotMatch")
        assert status == 403
        sid = f"forged-{uid}"
        expect_client_error(
            bad.create_session,
            "SignatureDoesNotMatch",
            Id=sid,
            Role=ROLE,
            Command={"Name": "glueetl"},
        )
        self._nothing_stored(auth_server, sid)

    def test_tampered_body(self, auth_server, uid):
        """A signature over one body doesn't authorize another."""
        raw = RawGlue(auth_server.url, ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
        try:
            sid = f"tamper-{uid}"
            signed_body = b'{"Id":"x","Role":"%s","Command":{"Name":"glueetl"}}' % ROLE.encode()
            sent_body = signed_body.replace(b'"x"', f'"{sid}"'.encode())
            headers = sigv4_headers(
                raw.host,
                signed_body,
                glue_headers("CreateSession"),
                ACCOUNT_A["access_key_id"],
                ACCOUNT_A["secret_access_key"],
            )
            raw.conn.request("POST", "/", body=sent_body, headers=headers)
            resp = raw.conn.getresponse()
            data = resp.read()
            assert resp.status == 403, (resp.status, data)
            assert b"SignatureDoesNotMatch" in data, data
        finally:
            raw.close()
        self._nothing_stored(auth_server, sid)

    def test_missing_authorization(self, auth_server):
        raw = RawGlue(auth_server.url)
        try:
            r = raw.send("ListSessions", {}, sign=False)
        finally:
            raw.close()
        assert r.status == 403, r
        assert r.json()["__type"] == "MissingAuthenticationToken", r

    @pytest.mark.parametrize("minutes", [-20, 20])
    def test_request_expired(self, auth_server, minutes):
        when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
        raw = RawGlue(auth_server.url, ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
        try:
            r = raw.send("ListSessions", {}, amz_date=when.strftime("%Y%m%dT%H%M%SZ"))
        finally:
            raw.close()
        assert r.status == 400, r
        assert r.json()["__type"] == "RequestExpired", r

    def test_signature_scoped_to_another_service(self, auth_server):
        raw = RawGlue(auth_server.url, ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
        try:
            r = raw.send("ListSessions", {}, service="sts")
        finally:
            raw.close()
        assert r.status in (400, 403), r
        assert r.json()["__type"] in (
            "SignatureDoesNotMatch",
            "IncompleteSignature",
            "InvalidSignatureException",
        ), r

    def test_credential_date_must_match_x_amz_date(self, auth_server):
        raw = RawGlue(auth_server.url, ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
        try:
            headers = sigv4_headers(
                raw.host,
                b"{}",
                glue_headers("ListSessions"),
                ACCOUNT_A["access_key_id"],
                ACCOUNT_A["secret_access_key"],
            )
            headers["Authorization"] = headers["Authorization"].replace(
                f"/{headers['X-Amz-Date'][:8]}/", "/20200101/"
            )
            raw.conn.request("POST", "/", body=b"{}", headers=headers)
            resp = raw.conn.getresponse()
            body = resp.read()
        finally:
            raw.close()
        assert resp.status in (400, 403), (resp.status, body)

    @pytest.mark.parametrize(
        "header", ["AWS4-HMAC-SHA256 garbage", "Bearer abc", "AWS4-HMAC-SHA256"]
    )
    def test_malformed_authorization_header(self, auth_server, header):
        raw = RawGlue(auth_server.url)
        try:
            r = raw.send(
                "ListSessions",
                {},
                sign=False,
                extra_headers={"Authorization": header, "X-Amz-Date": amz_now()},
            )
        finally:
            raw.close()
        assert r.status in (400, 403), r
        assert r.json()["__type"] in (
            "IncompleteSignature",
            "InvalidSignatureException",
            "MissingAuthenticationToken",
            "SignatureDoesNotMatch",
        ), r

    def test_signed_content_sha256_is_verified(self, auth_server):
        """Other SDKs sign X-Amz-Content-Sha256; such signatures verify too."""
        import hashlib

        raw = RawGlue(auth_server.url, ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
        try:
            r = raw.send(
                "ListSessions",
                {},
                extra_headers={"X-Amz-Content-Sha256": hashlib.sha256(b"{}").hexdigest()},
            )
            assert r.status == 200, r
        finally:
            raw.close()

    def test_slightly_skewed_date_is_fine(self, auth_server):
        when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        raw = RawGlue(auth_server.url, ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
        try:
            r = raw.send("ListSessions", {}, amz_date=when.strftime("%Y%m%dT%H%M%SZ"))
        finally:
            raw.close()
        assert r.status == 200, r

    def test_raw_signed_request_accepted(self, auth_server):
        """Our own signer agrees with the server (guards the raw-HTTP tests above)."""
        raw = RawGlue(auth_server.url, ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])
        try:
            r = raw.send("ListSessions", {"MaxResults": 1}, amz_date=amz_now())
        finally:
            raw.close()
        assert r.status == 200, r

    @staticmethod
    def _nothing_stored(auth_server, sid):
        for acct in (ACCOUNT_A, ACCOUNT_B):
            g = auth_server.glue(acct["access_key_id"], acct["secret_access_key"])
            assert sid not in list_all(g)[0]
            expect_client_error(g.get_session, "EntityNotFoundException", Id=sid)


class TestCallerIdentity:
    def test_account_a(self, auth_server):
        sts = auth_server.sts(ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
        ident = sts.get_caller_identity()
        assert ident["Account"] == A_ACCT
        assert ident["Arn"] == ACCOUNT_A["user_arn"]
        assert ident["UserId"]
        assert ident["ResponseMetadata"]["HTTPStatusCode"] == 200

    def test_account_b_default_arn(self, auth_server):
        sts = auth_server.sts(ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])
        ident = sts.get_caller_identity()
        assert ident["Account"] == B_ACCT
        assert ident["Arn"].startswith(f"arn:aws:iam::{B_ACCT}:"), ident["Arn"]
        assert ident["UserId"]

    def test_sts_in_another_region(self, auth_server):
        sts = auth_server.sts(
            ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"], region="eu-central-1"
        )
        assert sts.get_caller_identity()["Account"] == A_ACCT

    def test_unknown_key(self, auth_server):
        sts = auth_server.sts("AKIAUNKNOWNUNKNOWN00", "x")
        code, _, status = expect_client_error(sts.get_caller_identity, "InvalidClientTokenId")
        assert status == 403

    def test_wrong_secret(self, auth_server):
        sts = auth_server.sts(ACCOUNT_A["access_key_id"], "wrong")
        expect_client_error(sts.get_caller_identity, "SignatureDoesNotMatch")

    def test_open_mode(self, server):
        ident = server.sts("AKIAANYTHINGGOES0000", "anything").get_caller_identity()
        assert ident["Account"] == OPEN_ACCOUNT
        assert ident["Arn"].startswith(f"arn:aws:iam::{OPEN_ACCOUNT}:"), ident["Arn"]

    def test_open_mode_sessions_belong_to_000000000000(self, server, uid):
        g = server.glue("AKIAANYTHINGGOES0001", "x")
        sid = f"open-{uid}"
        create_session(g, sid, Tags={"k": "v"})
        other_key = server.glue("AKIADIFFERENTKEY0002", "y")
        assert other_key.get_tags(ResourceArn=session_arn(sid, OPEN_ACCOUNT))["Tags"] == {"k": "v"}
