"""A real Spark standalone cluster on loopback for the cluster tests and benches.

The master and workers are the classes pyspark's pip package ships, run in the foreground
with its own `bin/spark-class` (the package has no `sbin/start-*.sh`). Each daemon leads its
own process group, so `stop()` also ends the executors a worker started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spark_home(python: str) -> Path:
    out = subprocess.check_output(
        [python, "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"], text=True
    )
    return Path(out.strip())


class StandaloneCluster:
    """One master and `workers` workers offering `cores` cores and `memory` each."""

    def __init__(self, python: str, workers: int = 2, cores: int = 1, memory: str = "1g"):
        self.home = spark_home(python)
        self.dir = Path(tempfile.mkdtemp(prefix="epoxy-cluster-"))
        self.port, self.ui_port = free_port(), free_port()
        self.cores, self.memory = cores, memory
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.ui_url = f"http://127.0.0.1:{self.ui_port}"
        self.env = {
            **os.environ,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_DAEMON_MEMORY": "256m",
            "SPARK_LOG_DIR": str(self.dir),
            # Executors run the runtime's Python (the driver sets PYSPARK_PYTHON for them).
            "PYSPARK_PYTHON": python,
        }
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * workers

    def _daemon(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        try:
            return subprocess.Popen(
                [str(self.home / "bin" / "spark-class"), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

    def start(self) -> StandaloneCluster:
        self.master = self._daemon(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(self.ui_port),
        )  # fmt: skip
        for i in range(len(self.workers)):
            self.start_worker(i)
        self.wait_workers(len(self.workers))
        return self

    def start_worker(self, i: int):
        self.workers[i] = self._daemon(
            f"worker{i}",
            "org.apache.spark.deploy.worker.Worker", self.master_url,
            "--host", "127.0.0.1", "--cores", str(self.cores), "--memory", self.memory,
            "--webui-port", "0", "--work-dir", str(self.dir / f"work{i}"),
        )  # fmt: skip

    def state(self) -> dict:
        """The master's JSON status page (workers, apps, cores in use)."""
        with urllib.request.urlopen(self.ui_url + "/json/", timeout=5) as resp:
            return json.loads(resp.read())

    def alive_workers(self) -> int:
        return sum(1 for w in self.state()["workers"] if w["state"] == "ALIVE")

    def wait_workers(self, n: int, timeout: float = START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.alive_workers() >= n:
                    return
            except OSError:
                pass  # the master's UI is not up yet
            assert self.master.poll() is None, f"master exited: {self.log('master')}"
            assert time.monotonic() < deadline, f"{n} workers not alive: {self.log('master')}"
            time.sleep(0.3)

    def active_apps(self) -> list[dict]:
        return self.state()["activeapps"]

    def kill_worker(self, i: int):
        """SIGKILL of the worker's JVM alone (its executors notice and exit)."""
        self.workers[i].send_signal(signal.SIGKILL)
        self.workers[i].wait()

    def log(self, name: str) -> str:
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self):
        for proc in [*self.workers, self.master]:
            if proc is None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
