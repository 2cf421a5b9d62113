"""Several epoxy nodes on one real PostgreSQL, for the multi-node tests and benches (issue 12).

`NodesCluster(n)` makes a fresh database on the throw-away cluster of postgres_cluster.py (which
starts it on first use, whatever EPOXY_TEST_STORE says) and n `epoxy serve` nodes on it, named
A, B, C…: each with its own data dir, a fixed loopback port (kept across restarts, so the AWS
endpoint a driver was given stays valid and `--advertise-url` stays true), a short node lease
(`--node-lease-seconds`, 3 s) and, with the spark runtime, drivers that also listen on TCP
(`--driver-listen 127.0.0.1`) so that another node can adopt them.

Faults, per node: `kill9` (SIGKILL, its drivers live on), `pause` / `resume` (SIGSTOP / SIGCONT:
a node frozen past its lease that wakes up), `restart` (SIGTERM, then a start on the same data dir
and port), `start` (again, after a kill9).
"""

from __future__ import annotations

import os
import signal
import string
import subprocess
import time
from functools import cache
from pathlib import Path

import epoxy_harness as H
import postgres_cluster
import runtime_support as R

LEASE_S = 3


@cache
def serve_help(binary: str | None = None) -> str:
    exe = str(binary or H.default_binary())
    try:
        return subprocess.run(
            [exe, "serve", "--help"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return ""


def binary_has_nodes(binary: str | None = None) -> bool:
    """Whether this epoxy binary knows the multi-node flags (`--node-lease-seconds`)."""
    return "--node-lease-seconds" in serve_help(binary)


class Node(H.EpoxyServer):
    """One epoxy node: an `EpoxyServer` on a fixed port that can also be frozen."""

    def __init__(self, name: str, store_url: str, *, runtime: str, extra_args, lease_s, **kw):
        port = H.free_port()
        url = f"http://127.0.0.1:{port}"
        args = ["--store", store_url, "--advertise-url", url, "--node-lease-seconds", str(lease_s)]
        if runtime == "spark":
            assert R.RUNTIME_PYTHON, R.SKIP_REASON
            args += ["--python", R.RUNTIME_PYTHON, "--warm-pool", "0"]
            # Drivers on TCP too, for adoption from another host; on this one the Unix socket
            # serves, so a binary without the flag is still tested.
            if "--driver-listen" in serve_help(kw.get("binary")):
                args += ["--driver-listen", "127.0.0.1"]
        super().__init__(runtime=runtime, extra_args=[*args, *extra_args], **kw)
        self.args[self.args.index("--listen") + 1] = f"127.0.0.1:{port}"
        self.name = name
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets and state but runs nothing."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def close(self):
        if self.paused and self.proc and self.proc.poll() is None:
            self.resume()
        super().close()

    def __repr__(self):
        return f"<node {self.name} {self.url}>"


class NodesCluster:
    """n nodes on one fresh database; use as a context manager (stops all, kills every driver)."""

    def __init__(
        self,
        n: int = 2,
        *,
        runtime: str = "spark",
        capacities: list[int] | None = None,
        lease_s: int = LEASE_S,
        extra_args: list[str] | tuple[str, ...] = (),
        binary=None,
    ):
        self.lease_s = lease_s
        self.store_url = postgres_cluster.fresh_database_url()
        self.nodes: list[Node] = []
        for i, name in enumerate(string.ascii_uppercase[:n]):
            args = list(extra_args)
            if capacities:
                args += ["--capacity", str(capacities[i])]
            self.nodes.append(
                Node(
                    name,
                    self.store_url,
                    runtime=runtime,
                    extra_args=args,
                    lease_s=lease_s,
                    binary=binary,
                )
            )

    def __getitem__(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def start(self) -> NodesCluster:
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- faults ------------------------------------------------------------------------------
    def kill9(self, node: Node) -> float:
        """SIGKILL the node (not its drivers); returns the monotonic time of the kill."""
        node.crash()
        return time.monotonic()

    def pause(self, node: Node) -> float:
        node.pause()
        return time.monotonic()

    def resume(self, node: Node) -> None:
        node.resume()

    def restart(self, node: Node) -> None:
        node.restart()

    def start_again(self, node: Node) -> None:
        node.start()

    # -- who has what ------------------------------------------------------------------------
    def live(self) -> list[Node]:
        """Nodes that are running and not frozen."""
        return [n for n in self.nodes if n.proc and n.proc.poll() is None and not n.paused]

    def home_of(self, pid: int) -> Node | None:
        """The node whose data dir started process `pid` (a driver keeps it in its environment)."""
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return None
        for node in self.nodes:
            if str(node.data_dir).encode() + b"/" in env:
                return node
        return None

    def drivers(self) -> dict[str, list[int]]:
        """Live driver python processes per node name (by the data dir in their environment)."""
        out: dict[str, list[int]] = {n.name: [] for n in self.nodes}
        for p in R.processes():
            if p.is_driver and p.alive:
                home = self.home_of(p.pid)
                if home is not None:
                    out[home.name].append(p.pid)
        return out


def driver_pid(glue, session_id: str) -> int:
    """The session's driver pid, as the driver itself reports it (a statement)."""
    return int(R.run_ok(glue, session_id, "import os\nos.getpid()"))
