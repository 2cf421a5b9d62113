#!/usr/bin/env python3
"""Several epoxy nodes on one PostgreSQL (issue 12): load across nodes, and adoption time.

Every node is a real `epoxy serve` on a fresh database of one throw-away PostgreSQL
(tests/python/nodes_cluster.py: Debian's package, Unix socket, fsync off; lease 3 s).

  load      (a) the control-plane mix of benches/load.py (ListSessions, GetSession,
            CreateSession, TagResource; raw SigV4-signed HTTP, keep-alive, one thread per client)
            at each of --levels, first against one node, then with the clients spread over two
            nodes of the same kind of database: throughput, p50/p99, errors, 5xx, and every
            acknowledged write looked up afterwards. (b) a --burst-seconds burst over both nodes
            with a kill -9 of node B after --kill-after seconds; B's clients then go to A, as a
            load balancer would send them. Every write acknowledged before or after the kill
            must be in the database afterwards: counted, and the lost ones listed.
  adoption  N live PySpark sessions (--sessions, e.g. 8,4,1, largest first) on one node, kill -9
            of it, and each session's `1+1` sent at once to the survivor (queued there while the
            owner is dead): seconds from the kill until each one's answer, per session, next to
            the single-node figure of benches/reattach.py for the same N — kill -9, a start on
            the same data dir and store, every session answered. Both on PostgreSQL, so only the
            way back differs. Each round kills the node that owns the sessions (the adopter of
            the round before); the sessions are reused, stopping the surplus between rounds.

Not a test: prints tables (and --json). Usage:

  EPOXY_BIN=target/debug/epoxy target/test-venv/bin/python benches/nodes.py load
  EPOXY_BIN=target/debug/epoxy EPOXY_TEST_RUNTIME_PYTHON=… EPOXY_TEST_JARS_DIR=… \\
      target/test-venv/bin/python benches/nodes.py adoption --sessions 8,4,1

The binary is `$EPOXY_BIN`, else target/debug/epoxy. Every driver is a JVM: 8 need ~4 GiB.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import epoxy_harness as H  # noqa: E402
import load  # noqa: E402
import nodes_cluster  # noqa: E402
import postgres_cluster  # noqa: E402
import reattach  # noqa: E402
import runtime_support as R  # noqa: E402

log = lambda msg: print(msg, flush=True)  # noqa: E731


# -- (a) load -----------------------------------------------------------------------------------


def levels_on(urls: list[str], pids: list[int], levels, requests, time_cap):
    """load.py's levels with client i on urls[i % n]; then every node's view of the writes."""
    known = load.preload(urls[0], load.PRELOAD)
    ledger = load.WriteLedger()
    rows = [
        load.run_level(urls, pids, n, requests, time_cap, ledger, known, f"L{n}") for n in levels
    ]
    return rows, [load.check_writes(url, ledger) for url in urls]


def burst_with_kill(cluster, clients: int, seconds: float, kill_after: float) -> dict:
    """Clients spread over A and B; kill -9 of B after `kill_after` s; B's clients fail over."""
    a, b = cluster["A"], cluster["B"]
    known = load.preload(a.url, 200)
    ledger, stats = load.WriteLedger(), load.Stats()
    deadline = time.monotonic() + seconds
    ready = threading.Barrier(clients + 1)

    def worker(i: int):
        client = load.Client((a.url, b.url)[i % 2], f"K{i}", ledger, known)
        rng = random.Random(i)
        ready.wait()
        try:
            while time.monotonic() < deadline:
                op, status, took, detail = client.request(load.pick(rng, load.CONTROL_MIX))
                stats.record(op, took, status, detail)
                if status is None and client.url == b.url:  # B is gone: the balancer's move
                    client.conn.close()
                    client.url = a.url
                    client.conn = H.RawGlue(a.url, timeout=60)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    t0 = time.monotonic()
    time.sleep(kill_after)
    with ledger.lock:
        cluster.kill9(b)
        acked_before = len(ledger.created) + sum(map(len, ledger.tags.values()))
    for t in threads:
        t.join(timeout=seconds + 120)
    wall = time.monotonic() - t0
    out = stats.summary(wall)
    out["acknowledged_writes_before_kill"] = acked_before
    out["writes"] = load.check_writes(a.url, ledger)
    return out


def run_load(args) -> dict:
    levels = [int(x) for x in args.levels.split(",") if x]
    out: dict = {}
    for n_nodes in (1, 2):
        with nodes_cluster.NodesCluster(n_nodes, runtime="none") as cluster:
            urls = [n.url for n in cluster.nodes]
            pids = [n.proc.pid for n in cluster.nodes]
            rows, writes = levels_on(urls, pids, levels, args.requests, args.time_cap)
        out[n_nodes] = {"levels": rows, "writes": writes}
        for row in rows:
            log(
                f"{n_nodes} node(s), {row['clients']:>3} clients: {row['req_per_s']} req/s, "
                f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, errors {row['errors']}, "
                f"5xx {row['http_5xx']}, server CPU {row['server_cpu_pct']}%"
            )
        for w in writes:
            log(
                f"  one node's view: {w['acknowledged_creates']} creates, "
                f"{w['acknowledged_tag_values']} tag values acknowledged; lost "
                f"{w['lost_creates_count']} creates, {w['lost_tags_count']} tags"
            )
    with nodes_cluster.NodesCluster(2, runtime="none") as cluster:
        out["burst"] = burst = burst_with_kill(
            cluster, args.burst_clients, args.burst_seconds, args.kill_after
        )
    w = burst["writes"]
    log(
        f"burst over 2 nodes, {args.burst_clients} clients, kill -9 of B at {args.kill_after} s: "
        f"{burst['requests']} requests, errors {burst['errors']} (transport "
        f"{burst['transport_errors']}, 5xx {burst['http_5xx']}); acknowledged "
        f"{w['acknowledged_creates']} creates + {w['acknowledged_tag_values']} tag values "
        f"({burst['acknowledged_writes_before_kill']} before the kill); lost "
        f"{w['lost_creates_count']} creates, {w['lost_tags_count']} tags"
    )
    return out


def load_failed(res: dict) -> bool:
    """Any error before the kill, any 5xx, any acknowledged write missing."""
    runs = [res[1], res[2]]
    bad = any(r["errors"] for run in runs for r in run["levels"])
    writes = [w for run in runs for w in run["writes"]] + [res["burst"]["writes"]]
    bad |= any(w["lost_creates_count"] or w["lost_tags_count"] for w in writes)
    return bad or bool(res["burst"]["http_5xx"])


# -- (b) adoption -------------------------------------------------------------------------------

CONF = {"--conf": "spark.driver.memory=512m"}


def answers_after(glue, ids: list[str], t0: float) -> list[float]:
    """Sends `1+1` to every session at once; seconds from t0 until each one's answer."""

    def one(sid):
        assert R.run_ok(glue, sid, "1+1", timeout=300) == "2"
        return time.monotonic() - t0

    with ThreadPoolExecutor(len(ids)) as pool:
        return list(pool.map(one, ids))


def stop_all(glue, ids: list[str]) -> None:
    """Stops the sessions a round does not use (and waits, so no stop is in flight)."""
    for sid in ids:
        if glue.get_session(Id=sid)["Session"]["Status"] != "STOPPED":
            glue.stop_session(Id=sid)
    for sid in ids:
        H.wait_for_status(glue, sid, ("STOPPED",), timeout=60)


def single_node_rounds(counts: list[int]) -> dict[int, dict]:
    """benches/reattach.py's kill -9 round for each count, on the PostgreSQL store."""
    srv = reattach.server(max(counts))
    srv.args += ["--store", postgres_cluster.fresh_database_url()]
    srv.args += ["--node-lease-seconds", str(nodes_cluster.LEASE_S)]
    out = {}
    with srv:
        glue = srv.glue()
        ids = [f"single-{i}" for i in range(max(counts))]
        for sid in ids:
            glue.create_session(**H.create_args(sid, DefaultArguments=CONF))
        for sid in ids:
            R.wait_ready(glue, sid, timeout=900)
        reattach.all_answer(srv, ids)
        for n in counts:
            stop_all(srv.glue(), ids[n:])
            ids = ids[:n]
            out[n] = reattach.round_trip(srv, ids, "kill -9")
            log(f"single node, {n} sessions: {out[n]}")
    return out


def adoption_rounds(counts: list[int]) -> dict[int, list[float]]:
    top = max(counts)
    out = {}
    with nodes_cluster.NodesCluster(2, capacities=[2 * top, top]) as cluster:
        owner, survivor = cluster["A"], cluster["B"]
        glue = owner.glue()
        ids = [f"adopt-{i}" for i in range(top)]
        for sid in ids:
            glue.create_session(**H.create_args(sid, DefaultArguments=CONF))
        for sid in ids:
            R.wait_ready(glue, sid, timeout=900)
        pids = {sid: nodes_cluster.driver_pid(glue, sid) for sid in ids}
        homes = {cluster.home_of(p).name for p in pids.values()}
        assert homes == {"A"}, f"drivers started on {homes}, want all on A"
        for n in counts:
            stop_all(survivor.glue(), ids[n:])
            ids = ids[:n]
            t0 = cluster.kill9(owner)
            out[n] = times = answers_after(survivor.glue(), ids, t0)
            after = {sid: nodes_cluster.driver_pid(survivor.glue(), sid) for sid in ids}
            assert after == {sid: pids[sid] for sid in ids}, "a session got a new driver"
            log(
                f"2 nodes, {n} sessions: kill -9 of {owner.name} → answers at {survivor.name}: {times}"
            )
            cluster.start_again(owner)
            owner, survivor = survivor, owner
    return out


def run_adoption(args) -> dict:
    counts = sorted({int(x) for x in args.sessions.split(",") if x}, reverse=True)
    adopted = adoption_rounds(counts)
    single = single_node_rounds(counts)
    lease = nodes_cluster.LEASE_S
    print(
        f"\n| live sessions | single node: kill -9, restart, all answered | 2 nodes (lease {lease} s): "
        "kill -9, all answered at the survivor | … median session | … slowest − fastest |"
    )
    print("|---|---|---|---|---|")
    for n in counts:
        t = adopted[n]
        print(
            f"| {n} | {single[n]['answered_s']:.2f} s (re-attach {single[n]['reattach_ms']} ms) "
            f"| {max(t):.2f} s | {statistics.median(t):.2f} s | {max(t) - min(t):.2f} s |"
        )
    return {"adoption_s": adopted, "single_node": single, "lease_s": lease}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="what", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--levels", default="8,64")
    lp.add_argument("--requests", type=int, default=4000)
    lp.add_argument("--time-cap", type=float, default=60.0)
    lp.add_argument("--burst-clients", type=int, default=16)
    lp.add_argument("--burst-seconds", type=float, default=10.0)
    lp.add_argument("--kill-after", type=float, default=4.0)
    ap_ = sub.add_parser("adoption")
    ap_.add_argument("--sessions", default="8,4,1")
    for p in (lp, ap_):
        p.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    if not nodes_cluster.binary_has_nodes():
        ap.error(f"{H.default_binary()} has no multi-node flags (--node-lease-seconds)")
    if args.what == "load":
        res = run_load(args)
        failed = load_failed(res)
    else:
        if not R.RUNTIME_PYTHON:
            ap.error(R.SKIP_REASON)
        res, failed = run_adoption(args), False
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
