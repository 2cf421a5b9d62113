#!/usr/bin/env python3
"""What the Glue 5.0 environment costs a session: READY latency with it vs with PySpark alone.

Runs, side by side in one run on the same machine:

  1. CreateSession -> READY, warm (a pool driver waits) and cold (a non-default `--conf`, so a new
     driver JVM starts), against `epoxy serve --python <runtime>` for two runtimes: the Glue 5.0
     environment (python/requirements.lock, `--python`/$EPOXY_TEST_RUNTIME_PYTHON) and a bare
     venv with only pyspark + py4j at the same versions (`--bare-python`, created under
     target/bench-bare-runtime when absent): the environment before this project's Glue 5.0 pins;
  2. cold CreateSession -> READY with `--additional-python-modules` (a small PyPI package), first
     uncached (a fresh data dir: pip downloads and installs the layer) and then cached (a second
     session with the same spec).

Not a test: prints a table. Usage:

  EPOXY_TEST_RUNTIME_PYTHON=target/test-runtime/runtime/venv/bin/python \\
      target/test-venv/bin/python benches/glue_env.py [--warm-runs 3] [--cold-runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, str(REPO / "benches"))

import runtime  # noqa: E402
import runtime_support as R  # noqa: E402

MODULE_SPEC = "tabulate==0.9.0"


def bare_runtime(path: Path) -> Path:
    """A venv with pyspark and py4j only, pinned as in python/requirements.lock."""
    python = path / "bin" / "python"
    if python.exists():
        return python
    pins = [
        line.strip()
        for line in (REPO / "python" / "requirements.lock").read_text().splitlines()
        if line.startswith(("pyspark==", "py4j=="))
    ]
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True)
    return python


def ready_times(python: str, warm_runs: int, cold_runs: int) -> dict:
    R.RUNTIME_PYTHON = python
    out: dict = {"warm": [], "cold": []}
    with R.spark_server(warm_pool=1) as server:
        glue = server.glue(read_timeout=120)
        for i in range(warm_runs):
            R.wait_pool_warm(server)
            out["warm"].append(runtime.time_to_ready(glue, f"warm-{i}"))
            runtime.stop(glue, f"warm-{i}")
        for i in range(cold_runs):
            conf = {"--conf": f"spark.sql.shuffle.partitions={10 + i}"}
            out["cold"].append(runtime.time_to_ready(glue, f"cold-{i}", DefaultArguments=conf))
            runtime.stop(glue, f"cold-{i}")
    return out


def module_times(python: str) -> dict:
    R.RUNTIME_PYTHON = python
    out = {}
    with R.spark_server(warm_pool=0) as server:
        glue = server.glue(read_timeout=120)
        for label in ("uncached", "cached"):
            args = {"--additional-python-modules": MODULE_SPEC}
            out[label] = runtime.time_to_ready(glue, f"mods-{label}", DefaultArguments=args)
            runtime.stop(glue, f"mods-{label}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=os.environ.get("EPOXY_TEST_RUNTIME_PYTHON"))
    ap.add_argument("--bare-python", help="a venv with pyspark only (default: created)")
    ap.add_argument("--warm-runs", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=3)
    args = ap.parse_args()
    if not args.python:
        ap.error("give --python or set EPOXY_TEST_RUNTIME_PYTHON")
    bare = args.bare_python or str(bare_runtime(REPO / "target" / "bench-bare-runtime"))

    results = {}
    for label, python in (("pyspark only", bare), ("Glue 5.0 environment", args.python)):
        print(f"{label}: {python} ...", file=sys.stderr)
        results[label] = ready_times(python, args.warm_runs, args.cold_runs)
    print("--additional-python-modules ...", file=sys.stderr)
    mods = module_times(args.python)

    bare_r, glue_r = results["pyspark only"], results["Glue 5.0 environment"]
    rows = [("CreateSession -> READY", "pyspark only", "Glue 5.0 environment", "ratio")]
    for kind in ("warm", "cold"):
        b, g = statistics.median(bare_r[kind]), statistics.median(glue_r[kind])
        rows.append(
            (
                f"{kind}, p50 of {len(glue_r[kind])}",
                runtime.seconds(b),
                runtime.seconds(g),
                f"{g / b:.2f}x",
            )
        )
    rows.append(
        (
            f"cold with --additional-python-modules {MODULE_SPEC}",
            "-",
            f"uncached {runtime.seconds(mods['uncached'])}, "
            f"cached {runtime.seconds(mods['cached'])}",
            f"{mods['uncached'] / mods['cached']:.2f}x",
        )
    )
    print()
    print(runtime.table(rows))
    for label, r in results.items():
        print(
            f"{label}: warm {', '.join(runtime.seconds(s) for s in r['warm'])}; "
            f"cold {', '.join(runtime.seconds(s) for s in r['cold'])}"
        )


if __name__ == "__main__":
    main()
