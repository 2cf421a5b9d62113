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

The kernel process gets an unreachable HTTP(S) proxy with NO_PROXY for loopback, so anything it
would fetch from the internet (PyPI version check, real STS) fails at once instead of hanging.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import runtime_support as R

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)
glue_kernel_pkg = pytest.importorskip("aws_glue_interactive_sessions_kernel")
jupyter_client = pytest.importorskip("jupyter_client")
from jupyter_client import KernelManager  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/Glue"
CELL_TIMEOUT = 240  # a cell that creates a session waits for a driver


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
    """Installs the kernelspecs the way the package's README says, into a private data dir."""
    data_dir = workdir / "jupyter-data"
    env = dict(os.environ, JUPYTER_DATA_DIR=str(data_dir), JUPYTER_PATH=str(data_dir))
    installer = Path(sys.executable).parent / "install-glue-kernels"
    if installer.exists():
        done = subprocess.run([str(installer)], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done
    else:  # what the installer does
        src = Path(glue_kernel_pkg.__file__).parent / "glue_pyspark"
        KernelSpecManager(data_dir=str(data_dir)).install_kernel_spec(str(src), user=True, replace=True)
    kernels = data_dir / "kernels"
    assert (kernels / "glue_pyspark" / "kernel.json").exists(), list(kernels.glob("*"))
    return [str(kernels)]


@dataclass
class Cell:
    code: str
    reply: dict
    stdout: str = ""
    stderr: str = ""
    errors: list = field(default_factory=list)  # iopub `error` contents

    def __str__(self):
        errs = "; ".join(f"{e.get('ename')}: {e.get('evalue')}" for e in self.errors)
        return (f"cell {self.code!r}: reply {self.reply.get('status')} "
                f"{self.reply.get('ename', '')} {self.reply.get('evalue', '')}\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}\n--- errors ---\n{errs}")


class GlueKernel:
    """One `glue_pyspark` kernel process, spoken to like a notebook front end."""

    def __init__(self, kernel_dirs, env, cwd):
        self.km = KernelManager(kernel_name="glue_pyspark",
                                kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs))
        self.km.start_kernel(env=env, cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=90)

    def run(self, code, timeout=CELL_TIMEOUT) -> Cell:
        msg_id = self.kc.execute(code)
        cell = Cell(code=code, reply={})
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"cell did not finish in {timeout}s\n{cell}")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 5))
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    cell.stdout += content["text"]
                else:
                    cell.stderr += content["text"]
            elif kind == "error":
                cell.errors.append(content)
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        while not cell.reply:
            msg = self.kc.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                cell.reply = msg["content"]
        return cell

    def ok(self, code, timeout=CELL_TIMEOUT) -> Cell:
        """Runs a cell that must succeed: reply ok, no error, nothing on stderr."""
        cell = self.run(code, timeout)
        assert cell.reply.get("status") == "ok" and not cell.errors and not cell.stderr.strip(), str(cell)
        return cell

    def close(self):
        """Shuts the kernel down the way Jupyter does (the kernel stops its session then)."""
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=False)


def kernel_env(workdir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("AWS_", "GLUE_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                                        "ALL_PROXY", "REQUEST_ORIGIN", "USERID"))}
    dead = "http://127.0.0.1:9"  # discard port: nothing listens, connections fail at once
    env.update(HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               AWS_CONFIG_FILE=str(workdir / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(workdir / "no-aws-credentials"),
               IPYTHONDIR=str(workdir / "ipython"), JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
               PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def only_session(glue, before: set) -> dict:
    new = [i for i in glue.list_sessions()["Ids"] if i not in before]
    assert len(new) == 1, f"expected the kernel to create one session, got {new}"
    return glue.get_session(Id=new[0])["Session"]


def test_glue_studio_origin(srv, kernel_dirs, workdir):
    glue = srv.glue()
    before = set(glue.list_sessions()["Ids"])
    env = kernel_env(workdir, glue_endpoint_url=srv.url, request_origin="GlueStudioNotebook",
                     userId="studio-user", AWS_REGION="us-east-1",
                     AWS_ACCESS_KEY_ID="AKIDSTUDIO", AWS_SECRET_ACCESS_KEY="secret")
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
            ROLE, "G.1X", 2, 2.0), s
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
        f"MaxCapacity={s.get('MaxCapacity')!r}\n{status}")
    assert f"Session ID: {session_id}" in status.stdout, str(status)
    assert "Tags: {'owner'" in status.stdout, str(status)
