"""The built-in S3 on epoxy's port, driven by real clients: boto3, the AWS CLI (v1, `python -m
awscli`), s3cmd and rclone (skipped when not installed; tests/s3-clients.sh installs them).

Open mode (any key, account 000000000000) unless a test says strict: then ACCOUNT_A and ACCOUNT_B
from the harness, SigV4-verified by s3s against the accounts file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

import epoxy_harness as H
from epoxy_harness import ACCOUNT_A, ACCOUNT_B, DEV_KEY, REGION

MIB = 1024 * 1024


def s3_client(server, access_key=DEV_KEY[0], secret=DEV_KEY[1], **cfg):
    session = boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret, region_name=REGION
    )
    config = H.client_config(s3={"addressing_style": "path"}, parameter_validation=True, **cfg)
    return session.client("s3", endpoint_url=server.url, config=config)


def code_of(fn, *args, **kwargs) -> tuple[str, int]:
    with pytest.raises(ClientError) as exc:
        fn(*args, **kwargs)
    code, _, status = H.error_of(exc)
    return code, status


def bucket_name() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


def blob_files(server) -> list[Path]:
    return sorted((server.data_dir / "objects" / "blobs").iterdir())


def multipart_etag(data: bytes, part: int) -> str:
    md5s = b"".join(hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part))
    return f'"{hashlib.md5(md5s).hexdigest()}-{-(-len(data) // part)}"'


def fake_s3_auth(host: str) -> dict[str, str]:
    """Headers of a request signed for s3 (open mode checks no signature, only the scope)."""
    date = H.amz_now()
    return {
        "Host": host,
        "X-Amz-Date": date,
        "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={DEV_KEY[0]}/{date[:8]}/{REGION}/s3/"
        "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
    }


def send_partial_put(server, path: str, declared: int, sent: bytes) -> socket.socket:
    """Starts a PUT of `declared` bytes and sends only `sent`; the caller closes or kills."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    headers = fake_s3_auth(server.host)
    headers["Content-Length"] = str(declared)
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(head.encode() + b"\r\n" + sent)
    return sock


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server)


@pytest.fixture
def bucket(s3):
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    return name


# -- buckets -----------------------------------------------------------------------------------


def test_bucket_lifecycle_and_errors(s3, server):
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.head_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") in (None, "")
    assert code_of(s3.create_bucket, Bucket=name) == ("BucketAlreadyOwnedByYou", 409)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert code_of(s3.delete_bucket, Bucket=name) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    assert code_of(s3.head_bucket, Bucket=name)[1] == 404
    assert code_of(s3.list_objects_v2, Bucket=name) == ("NoSuchBucket", 404)
    assert code_of(s3.put_object, Bucket=name, Key="k", Body=b"x") == ("NoSuchBucket", 404)
    # the Glue door on the same port is untouched
    assert server.glue().list_sessions()["Ids"] is not None


def test_invalid_bucket_names_are_refused(s3):
    for bad in ("Upper-Case", "a_b", "ab", "-leading", "x" * 64):
        assert code_of(s3.create_bucket, Bucket=bad) == ("InvalidBucketName", 400), bad
    assert all(not b["Name"].startswith("-") for b in s3.list_buckets()["Buckets"])


def test_virtual_host_style_for_localhost(server, bucket, s3):
    s3.put_object(Bucket=bucket, Key="vh.txt", Body=b"virtual")
    # *.localhost need not resolve here: connect to the port, name the bucket in Host.
    headers = fake_s3_auth(f"{bucket}.localhost:{server.port}")
    r = requests.get(f"{server.url}/vh.txt", headers=headers, timeout=10)
    assert r.status_code == 200 and r.content == b"virtual"


# -- objects -----------------------------------------------------------------------------------


def test_put_get_head_range_etag_metadata(s3, bucket):
    data = os.urandom(100_000)
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/obj.bin",
        Body=data,
        ContentType="application/x-test",
        Metadata={"color": "blue"},
    )
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == data
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"color": "blue"}
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]

    part = s3.get_object(Bucket=bucket, Key="dir/obj.bin", Range="bytes=10-19")
    assert part["Body"].read() == data[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    tail = s3.get_object(Bucket=bucket, Key="dir/obj.bin", Range="bytes=-7")
    assert tail["Body"].read() == data[-7:]
    open_end = s3.get_object(Bucket=bucket, Key="dir/obj.bin", Range="bytes=99990-")
    assert open_end["Body"].read() == data[99990:]
    assert (
        code_of(s3.get_object, Bucket=bucket, Key="dir/obj.bin", Range="bytes=200000-")[0]
        == "InvalidRange"
    )

    etag = put["ETag"]
    assert s3.get_object(Bucket=bucket, Key="dir/obj.bin", IfMatch=etag)["ETag"] == etag
    assert code_of(s3.get_object, Bucket=bucket, Key="dir/obj.bin", IfMatch='"0"') == (
        "PreconditionFailed",
        412,
    )
    assert code_of(s3.head_object, Bucket=bucket, Key="dir/obj.bin", IfNoneMatch=etag)[1] == 304
    assert code_of(s3.get_object, Bucket=bucket, Key="missing") == ("NoSuchKey", 404)
    assert code_of(s3.head_object, Bucket=bucket, Key="missing")[1] == 404

    # overwrite replaces bytes and ETag, and leaves one file behind
    s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=b"short")
    assert s3.get_object(Bucket=bucket, Key="dir/obj.bin")["Body"].read() == b"short"
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_copy_and_delete_objects(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", Metadata={"a": "1"})
    other = bucket_name()
    s3.create_bucket(Bucket=other)
    s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=other, Key="dst")
    assert got["Body"].read() == b"copy me" and got["Metadata"] == {"a": "1"}
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/x",
    )
    head = s3.head_object(Bucket=bucket, Key="replaced")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "text/x"
    assert (
        code_of(
            s3.copy_object, Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "nope"}
        )[0]
        == "NoSuchKey"
    )

    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"del/{i}", Body=b"x")
    out = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": f"del/{i}"} for i in range(3)] + [{"Key": "never"}]},
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == ["del/0", "del/1", "del/2", "never"]
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="del/")["Contents"]]
    assert left == ["del/3", "del/4"]
    s3.delete_object(Bucket=bucket, Key="del/3")
    s3.delete_object(Bucket=bucket, Key="del/3")  # deleting a missing key succeeds, as in S3


def test_list_objects_v2_paging_prefix_delimiter(s3, bucket):
    keys = sorted(
        [f"logs/2024/{m:02d}/f{i}" for m in (1, 2, 3) for i in range(3)]
        + [f"logs/top{i}" for i in range(4)]
        + ["logs", "logs/", "other/x", "z", "a b/ü"]
    )
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())

    def walk(**kwargs):
        objects, prefixes, pages, token = [], [], 0, None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, **kwargs, **extra)
            pages += 1
            assert page["KeyCount"] <= 2
            objects += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            if not page["IsTruncated"]:
                return objects, prefixes, pages
            token = page["NextContinuationToken"]

    everything, none, _ = walk()
    assert everything == sorted(keys, key=lambda k: k.encode()) and none == []
    objs, prefixes, _ = walk(Prefix="logs/", Delimiter="/")
    assert objs == ["logs/", "logs/top0", "logs/top1", "logs/top2", "logs/top3"]
    assert prefixes == ["logs/2024/"]
    objs, prefixes, pages = walk(Prefix="logs/2024/", Delimiter="/")
    assert objs == [] and prefixes == ["logs/2024/01/", "logs/2024/02/", "logs/2024/03/"]
    assert pages == 2
    objs, prefixes, _ = walk(Delimiter="/")
    assert objs == ["logs", "z"] and prefixes == ["a b/", "logs/", "other/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="logs/top2")
    assert [o["Key"] for o in after["Contents"]][:2] == ["logs/top3", "other/x"]
    # ListObjects v1 with a marker
    v1 = s3.list_objects(Bucket=bucket, Prefix="logs/2024/", MaxKeys=4)
    assert v1["IsTruncated"] and len(v1["Contents"]) == 4
    rest = s3.list_objects(Bucket=bucket, Prefix="logs/2024/", Marker=v1["Contents"][-1]["Key"])
    assert len(rest["Contents"]) == 5
    assert (
        code_of(s3.list_objects_v2, Bucket=bucket, ContinuationToken="!!not a token!!")[0]
        == "InvalidArgument"
    )
    paginator = s3.get_paginator("list_objects_v2")
    seen = [
        o["Key"]
        for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 3})
        for o in p.get("Contents", [])
    ]
    assert seen == everything


# -- integrity: nothing changes on bad input ---------------------------------------------------


def test_content_md5_and_checksum_mismatch_store_nothing(s3, bucket, server):
    before = blob_files(server)
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert code_of(
        s3.put_object, Bucket=bucket, Key="bad", Body=b"payload", ContentMD5=wrong_md5
    ) == ("BadDigest", 400)
    assert code_of(
        s3.put_object, Bucket=bucket, Key="bad", Body=b"payload", ChecksumCRC32="AAAAAA=="
    ) == ("BadDigest", 400)
    assert code_of(
        s3.put_object,
        Bucket=bucket,
        Key="bad",
        Body=b"payload",
        ChecksumSHA256=base64.b64encode(hashlib.sha256(b"nope").digest()).decode(),
    ) == ("BadDigest", 400)
    assert code_of(s3.head_object, Bucket=bucket, Key="bad")[1] == 404
    assert blob_files(server) == before
    good = base64.b64encode(hashlib.md5(b"payload").digest()).decode()
    s3.put_object(
        Bucket=bucket, Key="good", Body=b"payload", ContentMD5=good, ChecksumAlgorithm="SHA256"
    )
    assert s3.get_object(Bucket=bucket, Key="good")["Body"].read() == b"payload"


def test_truncated_upload_stores_nothing(server, s3, bucket):
    before = blob_files(server)
    sock = send_partial_put(server, f"/{bucket}/cut", 1_000_000, b"x" * 400_000)
    time.sleep(0.3)
    sock.close()
    tmp = server.data_dir / "objects" / "tmp"
    deadline = time.time() + 10
    while list(tmp.iterdir()) and time.time() < deadline:  # the server notices the hang-up
        time.sleep(0.05)
    assert list(tmp.iterdir()) == []
    assert code_of(s3.head_object, Bucket=bucket, Key="cut")[1] == 404
    assert blob_files(server) == before


def test_presigned_urls(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"})
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"presigned"
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "q"})
    assert requests.put(put, data=b"uploaded", timeout=10).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="q")["Body"].read() == b"uploaded"


# -- multipart ---------------------------------------------------------------------------------


def test_multipart_upload_file_and_checks(s3, bucket, tmp_path):
    data = os.urandom(21 * MIB)
    src = tmp_path / "big"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_file(str(src), bucket, "big", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == multipart_etag(data, 5 * MIB)
    dst = tmp_path / "back"
    s3.download_file(bucket, "big", str(dst), Config=cfg)
    assert dst.read_bytes() == data

    up = s3.create_multipart_upload(Bucket=bucket, Key="manual")["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="manual", UploadId=up, PartNumber=1, Body=b"a" * 10)
    p2 = s3.upload_part(Bucket=bucket, Key="manual", UploadId=up, PartNumber=2, Body=b"b" * 10)
    listed = s3.list_parts(Bucket=bucket, Key="manual", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 10), (2, 10)]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [up]
    parts = [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]
    complete = s3.complete_multipart_upload
    for wrong, expected in [
        (parts, "EntityTooSmall"),
        (parts[::-1], "InvalidPartOrder"),
        ([{"PartNumber": 1, "ETag": '"00"'}], "InvalidPart"),
        ([{"PartNumber": 3, "ETag": p1["ETag"]}], "InvalidPart"),
    ]:
        got, _ = code_of(
            complete, Bucket=bucket, Key="manual", UploadId=up, MultipartUpload={"Parts": wrong}
        )
        assert got == expected, wrong
    assert code_of(s3.head_object, Bucket=bucket, Key="manual")[1] == 404
    # a single (last) part may be small
    done = complete(Bucket=bucket, Key="manual", UploadId=up, MultipartUpload={"Parts": parts[:1]})
    assert done["ETag"] == multipart_etag(b"a" * 10, 10)
    assert s3.get_object(Bucket=bucket, Key="manual")["Body"].read() == b"a" * 10
    assert code_of(s3.list_parts, Bucket=bucket, Key="manual", UploadId=up)[0] == "NoSuchUpload"

    up = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=up, PartNumber=1, Body=b"zz")
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=up)
    assert (
        code_of(s3.upload_part, Bucket=bucket, Key="aborted", UploadId=up, PartNumber=2, Body=b"x")[
            0
        ]
        == "NoSuchUpload"
    )
    assert (
        code_of(
            s3.upload_part, Bucket=bucket, Key="aborted", UploadId="forged", PartNumber=1, Body=b"x"
        )[0]
        == "NoSuchUpload"
    )
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# -- the AWS CLI -------------------------------------------------------------------------------


def aws(server, *args, check=True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=DEV_KEY[0],
        AWS_SECRET_ACCESS_KEY=DEV_KEY[1],
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    return subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", server.url, *args],
        capture_output=True,
        text=True,
        env=env,
        check=check,
        timeout=300,
    )


def test_aws_cli_mb_cp_ls_rm_with_multipart(server, tmp_path):
    name = bucket_name()
    aws(server, "s3", "mb", f"s3://{name}")
    data = os.urandom(21 * MIB)
    (tmp_path / "big.bin").write_bytes(data)
    aws(server, "s3", "cp", str(tmp_path / "big.bin"), f"s3://{name}/dir/big.bin")
    listing = aws(server, "s3", "ls", f"s3://{name}/dir/").stdout
    assert "big.bin" in listing and str(len(data)) in listing
    head = aws(server, "s3api", "head-object", "--bucket", name, "--key", "dir/big.bin").stdout
    assert multipart_etag(data, 8 * MIB).strip('"') in head  # the CLI's default 8 MiB parts
    aws(server, "s3", "cp", f"s3://{name}/dir/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data
    aws(server, "s3", "rm", f"s3://{name}/dir/big.bin")
    assert aws(server, "s3", "ls", f"s3://{name}/dir/", check=False).stdout == ""
    aws(server, "s3", "rb", f"s3://{name}")
    failed = aws(server, "s3api", "head-bucket", "--bucket", name, check=False)
    assert failed.returncode != 0 and "404" in failed.stderr


# -- strict mode: signatures and accounts ------------------------------------------------------


def test_strict_signatures_and_account_isolation(auth_server):
    a = s3_client(auth_server, ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    b = s3_client(auth_server, ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])
    forged = s3_client(auth_server, ACCOUNT_A["access_key_id"], "not-the-secret")
    unknown = s3_client(auth_server, "AKIAUNKNOWNUNKNOWN00", "x")
    name = bucket_name()
    a.create_bucket(Bucket=name)
    a.put_object(Bucket=name, Key="secret.txt", Body=b"alice only")
    assert code_of(forged.list_buckets)[0] == "SignatureDoesNotMatch"
    assert code_of(forged.put_object, Bucket=name, Key="x", Body=b"y")[0] == (
        "SignatureDoesNotMatch"
    )
    assert code_of(unknown.list_buckets)[0] == "InvalidAccessKeyId"
    assert code_of(b.get_object, Bucket=name, Key="secret.txt") == ("AccessDenied", 403)
    assert code_of(b.put_object, Bucket=name, Key="x", Body=b"y") == ("AccessDenied", 403)
    assert code_of(b.delete_object, Bucket=name, Key="secret.txt") == ("AccessDenied", 403)
    assert code_of(b.list_objects_v2, Bucket=name) == ("AccessDenied", 403)
    assert code_of(b.head_bucket, Bucket=name)[1] == 403
    assert code_of(b.create_bucket, Bucket=name) == ("BucketAlreadyExists", 409)
    assert name not in [x["Name"] for x in b.list_buckets()["Buckets"]]
    mine = bucket_name()
    b.create_bucket(Bucket=mine)
    source = {"Bucket": name, "Key": "secret.txt"}
    for target in (name, mine):  # A's object is no copy source for B, into any bucket
        code, _ = code_of(b.copy_object, Bucket=target, Key="stolen", CopySource=source)
        assert code == "AccessDenied", target
    assert a.get_object(Bucket=name, Key="secret.txt")["Body"].read() == b"alice only"
    assert [o["Key"] for o in a.list_objects_v2(Bucket=name)["Contents"]] == ["secret.txt"]
    anonymous = requests.get(f"{auth_server.url}/{name}/secret.txt", timeout=10)
    assert anonymous.status_code >= 400 and b"alice only" not in anonymous.content
    # presigned URLs are verified too
    url = a.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "secret.txt"})
    assert requests.get(url, timeout=10).content == b"alice only"
    assert requests.get(url.replace("Signature=", "Signature=0"), timeout=10).status_code == 403
    # multipart through the verified path
    data = os.urandom(11 * MIB)
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    import io

    a.upload_fileobj(io.BytesIO(data), name, "mp", Config=cfg)
    assert a.get_object(Bucket=name, Key="mp")["Body"].read() == data


# -- durability --------------------------------------------------------------------------------


def test_objects_survive_restart_and_kill_9_leaves_no_partial_object(server_factory):
    srv = server_factory()
    s3 = s3_client(srv)
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="kept", Body=b"durable")
    srv.restart()
    s3 = s3_client(srv)
    assert s3.get_object(Bucket=name, Key="kept")["Body"].read() == b"durable"

    sock = send_partial_put(srv, f"/{name}/partial", 64 * MIB, os.urandom(24 * MIB))
    time.sleep(0.5)
    assert list((srv.data_dir / "objects" / "tmp").iterdir()), "the PUT should be in progress"
    srv.crash()
    sock.close()
    srv.start()
    s3 = s3_client(srv)
    assert code_of(s3.head_object, Bucket=name, Key="partial")[1] == 404
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["kept"]
    assert list((srv.data_dir / "objects" / "tmp").iterdir()) == []
    assert len(blob_files(srv)) == 1


def test_s3_endpoint_flag_turns_the_built_in_s3_off(server_factory):
    srv = server_factory("--s3-endpoint", "http://127.0.0.1:9")
    code, message, status = H.expect_client_error(s3_client(srv).list_buckets, "InvalidRequest")
    assert "disabled" in message and "http://127.0.0.1:9" in message
    assert srv.glue().list_sessions()["Ids"] == []


# -- other real clients ------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("s3cmd") is None, reason="s3cmd not installed (tests/s3-clients.sh)"
)
def test_s3cmd(server, tmp_path):
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {DEV_KEY[0]}\nsecret_key = {DEV_KEY[1]}\n"
        f"host_base = {server.host}\nhost_bucket = {server.host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
    )

    def s3cmd(*args):
        return subprocess.run(
            ["s3cmd", "-c", str(cfg), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout

    name = bucket_name()
    s3cmd("mb", f"s3://{name}")
    data = os.urandom(12 * MIB)
    (tmp_path / "f.bin").write_bytes(data)
    s3cmd("put", "--multipart-chunk-size-mb=5", str(tmp_path / "f.bin"), f"s3://{name}/f.bin")
    (tmp_path / "small.txt").write_text("small")
    s3cmd("put", str(tmp_path / "small.txt"), f"s3://{name}/small.txt")
    listing = s3cmd("ls", f"s3://{name}/")
    assert "f.bin" in listing and "small.txt" in listing
    s3cmd("get", f"s3://{name}/f.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data
    etag = s3_client(server).head_object(Bucket=name, Key="f.bin")["ETag"]
    assert etag == multipart_etag(data, 5 * MIB)
    s3cmd("del", f"s3://{name}/f.bin", f"s3://{name}/small.txt")
    assert s3cmd("ls", f"s3://{name}/").strip() == ""
    s3cmd("rb", f"s3://{name}")


@pytest.mark.skipif(
    shutil.which("rclone") is None, reason="rclone not installed (tests/s3-clients.sh)"
)
def test_rclone_sync_and_check(server, tmp_path):
    tree = tmp_path / "tree"
    for i in range(12):
        f = tree / f"d{i % 3}" / f"sub{i % 2}" / f"f{i}.dat"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(1000 * i + 1))
    (tree / "big.dat").write_bytes(os.urandom(7 * MIB))
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)  # rclone's SDK refuses a CA bundle on a plain-HTTP transport
    env.update(
        RCLONE_CONFIG_EPOXY_TYPE="s3",
        RCLONE_CONFIG_EPOXY_PROVIDER="Other",
        RCLONE_CONFIG_EPOXY_ACCESS_KEY_ID=DEV_KEY[0],
        RCLONE_CONFIG_EPOXY_SECRET_ACCESS_KEY=DEV_KEY[1],
        RCLONE_CONFIG_EPOXY_ENDPOINT=server.url,
        RCLONE_CONFIG_EPOXY_FORCE_PATH_STYLE="true",
        RCLONE_CONFIG_EPOXY_REGION=REGION,
        RCLONE_CONFIG="/dev/null",
    )

    def rclone(*args):
        return subprocess.run(
            ["rclone", *args], capture_output=True, text=True, env=env, check=True, timeout=300
        )

    name = bucket_name()
    rclone("mkdir", f"epoxy:{name}")
    rclone(
        "sync", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(tree), f"epoxy:{name}/tree"
    )
    rclone("check", str(tree), f"epoxy:{name}/tree")
    back = tmp_path / "back"
    rclone("sync", f"epoxy:{name}/tree", str(back))
    rclone("check", str(tree), str(back))
    assert sorted(p.relative_to(back) for p in back.rglob("*")) == sorted(
        p.relative_to(tree) for p in tree.rglob("*")
    )
    keys = [o["Key"] for o in s3_client(server).list_objects_v2(Bucket=name)["Contents"]]
    assert len(keys) == 13


def test_urls_quote_odd_keys(s3, bucket):
    for key in ("sp ace", "plus+sign", "uni/ü/✓", "q?x=1&y", "pct%20"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode(), key
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"sp ace", "plus+sign", "uni/ü/✓", "q?x=1&y", "pct%20"} <= listed


# -- aws-chunked streaming payloads (what the Java SDK and newer boto3/CLI over TLS send) -------


def _signing_key(secret: str, date: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date[:8], REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def streaming_put(
    server, path, data, key_id, secret, mode, chunk=64 * 1024, tamper=False, crc=None
):
    """PUT `data` aws-chunked, signed per chunk (mode "signed") or with an unsigned payload
    and a CRC32 trailer (mode "trailer"). Returns (status, body)."""
    date = H.amz_now()
    scope = f"{date[:8]}/{REGION}/s3/aws4_request"
    skey = _signing_key(secret, date)
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]
    payload = (
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        if mode == "signed"
        else "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    )
    crc = crc or base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()

    def encode(seed):
        out, prev = [], seed
        for piece in pieces:
            if mode == "signed":
                to_sign = "\n".join(
                    [
                        "AWS4-HMAC-SHA256-PAYLOAD",
                        date,
                        scope,
                        prev,
                        hashlib.sha256(b"").hexdigest(),
                        hashlib.sha256(piece).hexdigest(),
                    ]
                )
                prev = hmac.new(skey, to_sign.encode(), hashlib.sha256).hexdigest()
                sig = ("0" * 64) if tamper and piece else prev
                out.append(f"{len(piece):x};chunk-signature={sig}\r\n".encode() + piece + b"\r\n")
            elif piece:
                out.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                out.append(f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode())
        return b"".join(out)

    body_len = len(encode("0" * 64))  # signatures have a fixed length
    headers = {
        "host": server.host,
        "x-amz-date": date,
        "x-amz-content-sha256": payload,
        "x-amz-decoded-content-length": str(len(data)),
        "content-encoding": "aws-chunked",
        "content-length": str(body_len),
    }
    if mode == "trailer":
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    names = sorted(headers)
    canonical = "\n".join(
        ["PUT", path, "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), payload]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    seed = hmac.new(skey, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={seed}"
    )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("PUT", path, body=encode(seed), headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


@pytest.mark.parametrize("mode", ["signed", "trailer"])
def test_aws_chunked_uploads_open_mode(server, s3, bucket, mode):
    data = os.urandom(200_000)
    status, body = streaming_put(server, f"/{bucket}/{mode}", data, *DEV_KEY, mode)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key=mode)["Body"].read() == data
    if mode == "trailer":  # the trailer checksum is checked in open mode too
        status, body = streaming_put(server, f"/{bucket}/bad", data, *DEV_KEY, mode, crc="AAAAAA==")
        assert status == 400 and b"BadDigest" in body
        assert code_of(s3.head_object, Bucket=bucket, Key="bad")[1] == 404


@pytest.mark.parametrize("mode", ["signed", "trailer"])
def test_aws_chunked_uploads_strict_mode(auth_server, mode):
    a = s3_client(auth_server, ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    name = bucket_name()
    a.create_bucket(Bucket=name)
    creds = (ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    data = os.urandom(150_000)
    status, body = streaming_put(auth_server, f"/{name}/ok", data, *creds, mode)
    assert status == 200, body
    assert a.get_object(Bucket=name, Key="ok")["Body"].read() == data
    if mode == "signed":
        status, body = streaming_put(auth_server, f"/{name}/bad", data, *creds, mode, tamper=True)
    else:
        status, body = streaming_put(
            auth_server, f"/{name}/bad", data, *creds, mode, crc="AAAAAA=="
        )
        assert b"BadDigest" in body
    assert 400 <= status < 500, body
    assert code_of(a.head_object, Bucket=name, Key="bad")[1] == 404
