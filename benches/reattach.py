#!/usr/bin/env python3
"""Re-attach time after a restart of epoxy (issue 11): N live sessions (default 8) on real
drivers, then kill -9 (and, in a second round, SIGTERM) of the server and a start on the same
data dir. Measures, per round:

  1. the re-attach itself, as the server logs it (all sessions' handshakes run at once);
  2. restart → listening (the recovery runs before the listener answers), against the same
     server started on an empty data dir (the baseline);
  3. restart → every session answered a `1+1` statement on its old driver.

Not a test: prints a table. Usage:

  EPOXY_TEST_RUNTIME_PYTHON=/path/to/venv-with-pyspark/bin/python \\
      /tmp/e2e-venv/bin/python benches/reattach.py [--sessions 8]

The binary is `$EPOXY_BIN`, else target/debug/epoxy. Every driver is a JVM: 8 need ~4 GiB.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import epoxy_harness as H  # noqa: E402
import runtime_support as R  # noqa: E402

REATTACHED = re.compile(r"reattached=(\d+) millis=(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server(sessions: int, data_dir=None) -> H.EpoxyServer:
    srv = R.spark_server("--capacity", str(sessions), warm_pool=0, data_dir=data_dir)
    srv.args[srv.args.index("--listen") + 1] = f"127.0.0.1:{free_port()}"
    srv.args += ["--metastore-listen", f"127.0.0.1:{free_port()}"]
    return srv


def timed_start(srv: H.EpoxyServer) -> float:
    t0 = time.perf_counter()
    srv.start()
    return time.perf_counter() - t0


def all_answer(srv: H.EpoxyServer, ids: list[str]) -> None:
    glue = srv.glue()
    with ThreadPoolExecutor(len(ids)) as pool:
        texts = list(pool.map(lambda i: R.run_ok(glue, i, "1+1", timeout=120), ids))
    assert texts == ["2"] * len(ids), texts


def round_trip(srv: H.EpoxyServer, ids: list[str], how: str) -> dict:
    if how == "kill -9":
        srv.crash()
    else:
        srv.stop()
    t0 = time.perf_counter()
    listening = timed_start(srv)
    glue = srv.glue()
    statuses = {glue.get_session(Id=i)["Session"]["Status"] for i in ids}
    assert statuses == {"READY"}, statuses
    all_answer(srv, ids)
    answered = time.perf_counter() - t0
    logged = REATTACHED.findall(srv.stderr_path.read_text(errors="replace"))
    assert logged and int(logged[-1][0]) == len(ids), logged
    return {"reattach_ms": int(logged[-1][1]), "listening_s": listening, "answered_s": answered}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    n = args.sessions
    with server(n) as empty:
        empty.stop()
        baseline = timed_start(empty)
    with server(n) as srv:
        glue = srv.glue()
        ids = [f"bench-{i}" for i in range(n)]
        conf = {"--conf": "spark.driver.memory=512m"}
        for i in ids:
            glue.create_session(**H.create_args(i, DefaultArguments=conf))
        for i in ids:
            R.wait_ready(glue, i, timeout=900)
        all_answer(srv, ids)
        rounds = {how: round_trip(srv, ids, how) for how in ("kill -9", "SIGTERM")}
        for i in ids:
            glue = srv.glue()
            glue.stop_session(Id=i)
    print(f"| measure ({n} live sessions) | kill -9 | SIGTERM |")
    print("|---|---|---|")
    k, t = rounds["kill -9"], rounds["SIGTERM"]
    print(
        f"| re-attach, all sessions (server log) | {k['reattach_ms']} ms | {t['reattach_ms']} ms |"
    )
    print(f"| … per session | {k['reattach_ms'] / n:.1f} ms | {t['reattach_ms'] / n:.1f} ms |")
    print(
        f"| start → listening (empty data dir: {baseline:.2f} s) "
        f"| {k['listening_s']:.2f} s | {t['listening_s']:.2f} s |"
    )
    print(
        f"| start → every session answered `1+1` | {k['answered_s']:.2f} s | {t['answered_s']:.2f} s |"
    )


if __name__ == "__main__":
    main()
