#!/usr/bin/env python3
"""The two stores side by side: the same epoxy on SQLite (the default) and on PostgreSQL.

For each store, one after the other on the same machine:
  1. CreateSession rate: `--sessions` (default 1,000) sessions, 1% tagged team=x, created with raw
     signed HTTP from `--threads` threads (`--runtime none`);
  2. ListSessions: `--requests` sequential `MaxResults=100` first pages over one keep-alive
     connection (a request signed once and re-sent), unfiltered and `Tags={"team": "x"}`;
  3. GetTables: `--tables` (default 5,000) tables in one database, `--requests`/4 first pages of
     `MaxResults=100`, plain and with an Expression 1% of the names match;
  4. RunStatement round trip (only with a PySpark runtime: $EPOXY_TEST_RUNTIME_PYTHON): one
     session on `--runtime spark`, `--statements` times RunStatement `1+1` then GetStatement
     polled until AVAILABLE, through boto3 (as benches/runtime.py does).

PostgreSQL is a throw-away cluster from Debian's package on a Unix socket
(tests/python/postgres_cluster.py; fsync off, as in the tests), each server on a fresh database.

Usage (see benches/README.md):
  EPOXY_TEST_RUNTIME_PYTHON=… EPOXY_TEST_JARS_DIR=… target/test-venv/bin/python benches/store.py \\
      [--sessions 1000] [--requests 1000] [--statements 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, str(REPO / "benches"))

import epoxy_harness as H  # noqa: E402
import list_sessions as L  # noqa: E402
import postgres_cluster  # noqa: E402
import runtime as RT  # noqa: E402
import runtime_support as R  # noqa: E402


def store_args(store: str) -> list[str]:
    return ["--store", postgres_cluster.fresh_database_url()] if store == "postgres" else []


def control_plane(store: str, args) -> dict:
    ids = [f"s-{i:06d}" for i in range(args.sessions)]
    with H.EpoxyServer(runtime="none", extra_args=store_args(store)) as server:
        created = L.bulk_create(
            server.url, ids, lambda sid: {"team": "x"} if sid.endswith("00") else {}, args.threads
        )
        out = {"create_per_s": len(ids) / created}
        unfiltered = L.make_caller("raw", server.url, {"MaxResults": 100})
        out["list"] = L.measure(unfiltered, args.requests, args.warmup, min(100, len(ids)))
        tagged = L.make_caller("raw", server.url, {"MaxResults": 100, "Tags": {"team": "x"}})
        out["list_tagged"] = L.measure(tagged, args.requests, args.warmup, len(ids) // 100)
    return out


def catalog_pages(store: str, args) -> dict:
    """`--tables` tables in one database, then GetTables first pages: plain, and with an
    Expression that 1% of the names match (the page is read on past many non-matches)."""
    with H.EpoxyServer(runtime="none", extra_args=store_args(store)) as server:
        raw = H.RawGlue(server.url)
        assert raw.send("CreateDatabase", {"DatabaseInput": {"Name": "bench"}}).status == 200
        local = threading.local()

        def create(i):
            if not hasattr(local, "raw"):
                local.raw = H.RawGlue(server.url)
            body = {"DatabaseName": "bench", "TableInput": {"Name": f"t_{i:06d}"}}
            r = local.raw.send("CreateTable", body)
            assert r.status == 200, r

        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            list(pool.map(create, range(args.tables)))
        out = {}
        for key, extra in (("tables", {}), ("tables_expr", {"Expression": "t_.*00"})):
            params = {"DatabaseName": "bench", "MaxResults": 100, **extra}
            caller = L.make_caller("raw", server.url, params, op="GetTables")
            out[key] = L.measure(caller, args.requests // 4, args.warmup, None)
    return out


def round_trips(store: str, args) -> dict:
    with R.spark_server(*store_args(store), warm_pool=0) as server:
        glue = server.glue(read_timeout=120)
        RT.time_to_ready(glue, "bench")
        for _ in range(5):
            RT.round_trip(glue, "bench", "1+1")  # warm code paths
        lat = [RT.round_trip(glue, "bench", "1+1") for _ in range(args.statements)]
        RT.stop(glue, "bench")
    return {"p50": statistics.median(lat) * 1000, "p99": RT.pct(lat, 99) * 1000}


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--statements", type=int, default=100)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--tables", type=int, default=5000)
    args = ap.parse_args()
    spark = bool(os.environ.get("EPOXY_TEST_RUNTIME_PYTHON"))

    results = {}
    for store in ("sqlite", "postgres"):
        print(f"… {store}", file=sys.stderr, flush=True)
        results[store] = control_plane(store, args)
        results[store].update(catalog_pages(store, args))
        if spark:
            results[store]["stmt"] = round_trips(store, args)

    s, p = results["sqlite"], results["postgres"]
    print(f"\n{args.sessions:,} sessions, {args.requests:,} sequential requests per row\n")
    print(f"  {'':<40} {'SQLite':>12} {'PostgreSQL':>12} {'PG/SQLite':>10}")
    print(
        f"  {'CreateSession /s (' + str(args.threads) + ' threads)':<40}"
        f" {s['create_per_s']:>12,.0f} {p['create_per_s']:>12,.0f}"
        f" {p['create_per_s'] / s['create_per_s']:>9.2f}×"
    )
    for key, name in (("list", "ListSessions"), ("list_tagged", "ListSessions team=x")):
        for stat, unit in (("rps", "req/s"), ("p50", "p50 ms"), ("p99", "p99 ms")):
            a, b = s[key][stat], p[key][stat]
            print(f"  {name + ' ' + unit:<40} {a:>12,.2f} {b:>12,.2f} {b / a:>9.2f}×")
    for key, name in (("tables", "GetTables"), ("tables_expr", "GetTables Expression=1%")):
        for stat, unit in (("rps", "req/s"), ("p50", "p50 ms"), ("p99", "p99 ms")):
            a, b = s[key][stat], p[key][stat]
            print(f"  {name + ' ' + unit:<40} {a:>12,.2f} {b:>12,.2f} {b / a:>9.2f}×")
    if spark:
        for stat in ("p50", "p99"):
            a, b = s["stmt"][stat], p["stmt"][stat]
            label = f"RunStatement 1+1 round trip {stat} ms"
            print(f"  {label:<40} {a:>12,.2f} {b:>12,.2f} {b / a:>9.2f}×")
    else:
        print("  (RunStatement round trip skipped: set EPOXY_TEST_RUNTIME_PYTHON)")


if __name__ == "__main__":
    main()
