"""Driving the official Glue Jupyter kernel (`aws-glue-sessions` on PyPI) headlessly.

Used by test_glue_kernel.py and test_pictures.py (which skip themselves, with
`pytest.importorskip`, where the kernel or jupyter_client is not installed): the kernelspecs are installed with the
package's own `install-glue-kernels` into a private JUPYTER_DATA_DIR, and `GlueKernel` speaks to
one kernel process with jupyter_client like a notebook front end: cells in, replies and iopub
output (stdout, stderr, errors, display_data) out.

The kernel process gets an unreachable HTTP(S) proxy with NO_PROXY for loopback, so anything it
would fetch from the internet (PyPI version check, real STS) fails at once instead of hanging.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aws_glue_interactive_sessions_kernel as glue_kernel_pkg
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

ROLE = "arn:aws:iam::123456789012:role/Glue"
CELL_TIMEOUT = 240  # a cell that creates a session waits for a driver


def install_kernelspecs(data_dir: Path) -> list[str]:
    """Installs the kernelspecs the way the package's README says; returns the kernel dirs."""
    env = dict(os.environ, JUPYTER_DATA_DIR=str(data_dir), JUPYTER_PATH=str(data_dir))
    installer = Path(sys.executable).parent / "install-glue-kernels"
    if installer.exists():
        done = subprocess.run(
            [str(installer)], check=False, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done
    else:  # what the installer does
        src = Path(glue_kernel_pkg.__file__).parent / "glue_pyspark"
        KernelSpecManager(data_dir=str(data_dir)).install_kernel_spec(
            str(src), user=True, replace=True
        )
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
    displays: list = field(default_factory=list)  # iopub `display_data` contents

    def __str__(self):
        errs = "; ".join(f"{e.get('ename')}: {e.get('evalue')}" for e in self.errors)
        shown = [sorted(d.get("data", {})) for d in self.displays]
        return (
            f"cell {self.code!r}: reply {self.reply.get('status')} "
            f"{self.reply.get('ename', '')} {self.reply.get('evalue', '')}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}\n--- errors ---\n{errs}"
            f"\n--- display_data ---\n{shown}"
        )


class GlueKernel:
    """One `glue_pyspark` kernel process, spoken to like a notebook front end."""

    def __init__(self, kernel_dirs, env, cwd):
        self.km = KernelManager(
            kernel_name="glue_pyspark",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs),
        )
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
            elif kind == "display_data":
                cell.displays.append(content)
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
        assert cell.reply.get("status") == "ok" and not cell.errors and not cell.stderr.strip(), (
            str(cell)
        )
        return cell

    def close(self):
        """Shuts the kernel down the way Jupyter does (the kernel stops its session then)."""
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=False)


def kernel_env(workdir: Path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(
            (
                "AWS_",
                "GLUE_",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "NO_PROXY",
                "ALL_PROXY",
                "REQUEST_ORIGIN",
                "USERID",
            )
        )
    }
    dead = "http://127.0.0.1:9"  # discard port: nothing listens, connections fail at once
    env.update(
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        http_proxy=dead,
        https_proxy=dead,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        AWS_CONFIG_FILE=str(workdir / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(workdir / "no-aws-credentials"),
        IPYTHONDIR=str(workdir / "ipython"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def glue_studio_env(workdir: Path, endpoint_url: str, user="studio-user") -> dict:
    """The Glue Studio way of pointing the kernel at epoxy (see test_glue_kernel.py)."""
    return kernel_env(
        workdir,
        glue_endpoint_url=endpoint_url,
        request_origin="GlueStudioNotebook",
        userId=user,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="AKIDSTUDIO",
        AWS_SECRET_ACCESS_KEY="secret",
    )


def only_session(glue, before: set) -> dict:
    new = [i for i in glue.list_sessions()["Ids"] if i not in before]
    assert len(new) == 1, f"expected the kernel to create one session, got {new}"
    return glue.get_session(Id=new[0])["Session"]
