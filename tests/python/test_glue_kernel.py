"""End to end: the official Glue Jupyter kernel (`aws-glue-sessions` on PyPI) against epoxy.

The kernel is installed with its own `install-glue-kernels` into a temporary JUPYTER_DATA_DIR and
driven headlessly with jupyter_client, like a notebook would: magics, cells, iopub output.
How it finds epoxy (read in aws_glue_interactive_sessions_kernel 1.0.9):

  * Glue Studio style: env `glue_endpoint_url` (SystemEnvConfigRetriever, GLUE_PREFIX + endpoint_url)
    and `request_origin=GlueStudioNotebook`; credentials from AWS_* env. With that origin the kernel
    takes the owner tag from env `userId` and skips its PyPI version check. Its STS client, however,
    has a hard-coded `https://sts.<region>.amazonaws.com` endpoint when no profile is set
    (KernelGateway.create_sts_client), so `%status` (which calls GetCallerIdentity for the ARN)
    cannot work in this mode against any local endpoint.
  * Profile style (default origin): `%profile epoxy` with an AWS config file whose profile has
    `endpoint_url` = epoxy. Glue and STS clients are then built from the profile
    (`boto3.Session(profile_name=...).client(...)` without an explicit endpoint), so botocore's
    `endpoint_url` setting sends both to epoxy; GetCallerIdentity gives the owner tag and the ARN
    account for `%status`. (Env `glue_profile` alone is not enough: the region is then not read
    from the profile, and a `[default]` profile is ignored for the endpoint because the kernel
    passes an explicit `https://glue.<region>.amazonaws.com` when it has no profile.)

The kernel is driven through glue_kernel_support.py (which test_pictures.py shares).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

import runtime_support as R

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)
pytest.importorskip("aws_glue_interactive_sessions_kernel")
pytest.importorskip("jupyter_client")
from glue_kernel_support import (
    ROLE,
    GlueKernel,
    glue_studio_env,
    install_kernelspecs,
    kernel_env,
    only_session,
)


@pytest.fixture(scope="module")
def srv():
    # No warm pool: each kernel's first cell starts a driver while the kernel polls GetSession
    # through PROVISIONING, as with real Glue (and one JVM fewer than a refilling pool).
    server = R.spark_server(warm_pool=0)
    with server:
        yield server


@pytest.fixture(scope="module")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="epoxy-kernel-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def kernel_dirs(workdir):
    return install_kernelspecs(workdir / "jupyter-data")


def test_glue_studio_origin(srv, kernel_dirs, workdir):
    glue = srv.glue()
    before = set(glue.list_sessions()["Ids"])
    env = glue_studio_env(workdir, srv.url)
    kernel = GlueKernel(kernel_dirs, env, workdir)
    try:
        kernel.ok(f"%iam_role {ROLE}")
        kernel.ok("%worker_type G.1X")
        kernel.ok("%number_of_workers 2")
        created = kernel.ok("x = 40")
        assert "has been created" in created.stdout, str(created)
        hello = kernel.ok('print("HELLO", x + 2)')
        assert "HELLO 42" in hello.stdout, str(hello)

        s = only_session(glue, before)
        assert s["Status"] == "READY", s
        assert created.stdout.count(s["Id"]) >= 1
        assert (s["Role"], s["WorkerType"], s["NumberOfWorkers"], s["MaxCapacity"]) == (
            ROLE,
            "G.1X",
            2,
            2.0,
        ), s
        assert s["Command"] == {"Name": "glueetl", "PythonVersion": "3"}, s
        assert s["GlueVersion"] == "4.0", s  # the kernel's default
        assert s["DefaultArguments"].get("--glue_kernel_version"), s
        tags = glue.get_tags(ResourceArn=R.H.session_arn(s["Id"]))["Tags"]
        assert tags.get("owner") == "studio-user", tags

        err = kernel.run("1/0")
        assert "ZeroDivisionError: division by zero" in err.stdout, str(err)
        assert err.reply.get("status") == "error", str(err)
        assert err.reply.get("ename") == "ZeroDivisionError", str(err)
        assert any("ZeroDivisionError" in line for line in err.reply.get("traceback", [])), str(err)

        spark = kernel.ok("spark.range(7).count()")
        assert "7" in spark.stdout, str(spark)

        stop = kernel.ok("%stop_session")
        assert "Stopped session" in stop.stdout, str(stop)
        assert R.H.wait_for_status(glue, s["Id"], ("STOPPED",), timeout=30)["Status"] == "STOPPED"
    finally:
        kernel.close()


def test_profile_with_endpoint_url(srv, kernel_dirs, workdir):
    glue = srv.glue()
    config = workdir / "aws-config"
    config.write_text(f"[profile epoxy]\nregion = us-east-1\nendpoint_url = {srv.url}\n")
    creds = workdir / "aws-credentials"
    creds.write_text("[epoxy]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = secret\n")
    before = set(glue.list_sessions()["Ids"])
    env = kernel_env(workdir, AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(creds))
    kernel = GlueKernel(kernel_dirs, env, workdir)
    session_id = None
    try:
        kernel.ok("%profile epoxy")
        kernel.ok(f"%iam_role {ROLE}")
        created = kernel.ok("x = 40")
        assert "has been created" in created.stdout, str(created)
        s = only_session(glue, before)
        session_id = s["Id"]
        hello = kernel.ok('print("HELLO", x + 2)')
        assert "HELLO 42" in hello.stdout, str(hello)
        # the owner tag comes from STS GetCallerIdentity, answered by epoxy
        tags = glue.get_tags(ResourceArn=R.H.session_arn(session_id))["Tags"]
        assert tags.get("owner"), tags

        # No %worker_type / %number_of_workers here: the session has Glue's default capacity.
        status = kernel.run("%status")
        err = kernel.run("1/0")
        assert "ZeroDivisionError: division by zero" in err.stdout, str(err)
        assert err.reply.get("status") == "error", str(err)

        sql = kernel.ok("%%sql\nselect 6 * 7 as answer")
        assert "answer" in sql.stdout and "42" in sql.stdout, str(sql)
    finally:
        kernel.close()
    # shutting the kernel down stops its session
    s = R.H.wait_for_status(glue, session_id, ("STOPPED", "FAILED"), timeout=30)
    assert s["Status"] == "STOPPED", s

    # `%status` of a session created without worker settings. The kernel reads
    # session['WorkerType'] and session['NumberOfWorkers'] unguarded unless it was given
    # max_capacity itself (KernelMagics.get_status), i.e. it expects GetSession to name the
    # default workers (Glue's default for sessions: 5 x G.1X = 5 DPU).
    assert not status.errors and "Status: READY" in status.stdout, (
        f"%status failed for a default-capacity session; GetSession returned "
        f"WorkerType={s.get('WorkerType')!r} NumberOfWorkers={s.get('NumberOfWorkers')!r} "
        f"MaxCapacity={s.get('MaxCapacity')!r}\n{status}"
    )
    assert f"Session ID: {session_id}" in status.stdout, str(status)
    assert "Tags: {'owner'" in status.stdout, str(status)
