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
            must be in the database afterwards: counted, and the lost ones listed. (c) with
            $EPOXY_TEST_RUNTIME_PYTHON: the same for RunStatement on two PySpark sessions, one
            on each node: every acknowledged statement must be stored and answer `2` (B's
            session's after A adopted it).
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
import http.client
import json
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import epoxy_harness as H  # noqa: E402
import load  # noqa: E402
import nodes_cluster  # noqa: E402
import postgres_cluster  # noqa: E402
import reattach  # noqa: E402
import runtime_support as R  # noqa: E402

log = lambda msg: print(msg, flush=True)  # noqa: E731
CONF = {"--conf": "spark.driver.memory=512m"}  # DefaultArguments of the benches' sessions


# -- (a) load -----------------------------------------------------------------------------------


def levels_on(urls: list[str], pids: list[int], levels, requests, time_cap):
    """load.py's levels with client i on urls[i % n]; then every node's view of the writes."""
    known = load.preload(urls[0], load.PRELOAD)
    ledger = load.WriteLedger()
    rows = [
        load.run_level(urls, pids, n, requests, time_cap, ledger, known, f"L{n}") for n in levels
    ]
    return rows, [load.check_writes(url, ledger) for url in urls]


def kill_mid_burst(cluster, clients: int, seconds: float, kill_after: float, worker, lock, acked):
    """Runs worker(i, deadline) on `clients` threads and kill -9 of node B after `kill_after` s;
    returns (wall seconds, `acked()` read under `lock` at the kill)."""
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=worker, args=(i, deadline), daemon=True) for i in range(clients)
    ]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(kill_after)
    with lock:
        cluster.kill9(cluster["B"])
        before = acked()
    for t in threads:
        t.join(timeout=seconds + 120)
    return time.monotonic() - t0, before


def control_burst(cluster, clients: int, seconds: float, kill_after: float) -> dict:
    """load.py's control-plane mix from clients spread over A and B; B is killed mid-burst and
    its clients move to A (a load balancer's move); then every acknowledged write is looked up."""
    a, b = cluster["A"], cluster["B"]
    known = load.preload(a.url, 200)
    ledger, stats = load.WriteLedger(), load.Stats()

    def worker(i: int, deadline: float):
        client = load.Client((a.url, b.url)[i % 2], f"K{i}", ledger, known)
        rng = random.Random(i)
        try:
            while time.monotonic() < deadline:
                op, status, took, detail = client.request(load.pick(rng, load.CONTROL_MIX))
                stats.record(op, took, status, detail)
                if status is None and client.url == b.url:
                    client.conn.close()
                    client.url = a.url
                    client.conn = H.RawGlue(a.url, timeout=60)
        finally:
            client.close()

    def acked():
        return len(ledger.created) + sum(map(len, ledger.tags.values()))

    wall, before = kill_mid_burst(cluster, clients, seconds, kill_after, worker, ledger.lock, acked)
    out = stats.summary(wall)
    out["acknowledged_writes_before_kill"] = before
    out["writes"] = load.check_writes(a.url, ledger)
    return out


def statement_burst(cluster, clients: int, seconds: float, kill_after: float) -> dict:
    """RunStatement `1+1` every 0.2 s per client, clients spread over A and B, on two sessions:
    one whose driver A runs, one B's. B is killed mid-burst; then every acknowledged statement
    must be stored and run (B's session's after A adopted it, the ones queued meanwhile too)."""
    a, b = cluster["A"], cluster["B"]
    sessions = ["burst-a", "burst-b"]
    for sid, node in zip(sessions, (a, b)):
        node.glue().create_session(**H.create_args(sid, DefaultArguments=CONF))
    for sid in sessions:
        R.wait_ready(a.glue(), sid, timeout=900)
    homes = [cluster.home_of(nodes_cluster.driver_pid(a.glue(), sid)).name for sid in sessions]
    assert homes == ["A", "B"], f"drivers on {homes}, want one on each node"
    stats, acked, lock = load.Stats(), [], threading.Lock()

    def worker(i: int, deadline: float):
        url = (a.url, b.url)[i % 2]
        conn, rng = H.RawGlue(url, timeout=60), random.Random(i)
        try:
            while time.monotonic() < deadline:
                sid = rng.choice(sessions)
                started = time.perf_counter()
                try:
                    r = conn.send("RunStatement", {"SessionId": sid, "Code": "1+1"})
                except (OSError, http.client.HTTPException) as e:
                    stats.record("RunStatement", time.perf_counter() - started, None, str(e))
                    conn.close()
                    url = a.url  # only B dies
                    conn = H.RawGlue(url, timeout=60)
                    continue
                took = time.perf_counter() - started
                stats.record("RunStatement", took, r.status, r.body[:160].decode(errors="replace"))
                if r.status == 200:
                    with lock:
                        acked.append((sid, r.json()["Id"]))
                time.sleep(0.2)
        finally:
            conn.close()

    wall, before = kill_mid_burst(
        cluster, clients, seconds, kill_after, worker, lock, acked.__len__
    )
    out = stats.summary(wall)
    out["acknowledged_before_kill"] = before
    glue, lost, not_ok = a.glue(), [], []
    drain = time.monotonic() + 300
    for sid, stmt in acked:
        try:
            st, _ = R.wait_statement(glue, sid, stmt, timeout=max(1.0, drain - time.monotonic()))
        except ClientError as e:
            lost.append(f"{sid}/{stmt}: {H.error_of(e)[0]}")
            continue
        except R.StatementTimeout:
            not_ok.append(f"{sid}/{stmt}: never ran")
            continue
        if (st["State"], st["Output"]["Data"]["TextPlain"]) != ("AVAILABLE", "2"):
            not_ok.append(f"{sid}/{stmt}: {st['State']} {st['Output']}")
    out.update(acknowledged=len(acked), lost=lost, not_run_ok=not_ok)
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
        out["burst"] = burst = control_burst(
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
    if not R.RUNTIME_PYTHON:
        log(f"no statement burst: {R.SKIP_REASON}")
        return out
    with nodes_cluster.NodesCluster(2, capacities=[2, 2]) as cluster:
        out["statements"] = st = statement_burst(cluster, 4, args.burst_seconds, args.kill_after)
    log(
        f"RunStatement burst over 2 nodes, 4 clients, kill -9 of B at {args.kill_after} s: "
        f"{st['requests']} requests, errors {st['errors']} (transport {st['transport_errors']}, "
        f"5xx {st['http_5xx']}); {st['acknowledged']} statements acknowledged "
        f"({st['acknowledged_before_kill']} before the kill); lost {len(st['lost'])}, "
        f"not run or not `2`: {len(st['not_run_ok'])} {(st['lost'] + st['not_run_ok'])[:5]}"
    )
    return out


def load_failed(res: dict) -> bool:
    """Any error before the kill, any 5xx, any acknowledged write missing."""
    runs = [res[1], res[2]]
    bad = any(r["errors"] for run in runs for r in run["levels"])
    writes = [w for run in runs for w in run["writes"]] + [res["burst"]["writes"]]
    bad |= any(w["lost_creates_count"] or w["lost_tags_count"] for w in writes)
    bad |= bool(res["burst"]["http_5xx"])
    st = res.get("statements")
    return bad or bool(st and (st["http_5xx"] or st["lost"] or st["not_run_ok"]))


# -- (b) adoption -------------------------------------------------------------------------------


def answers_after(glue, ids: list[str], t0: float) -> list[float]:
    """Sends `1+1` to every session at once; seconds from t0 until each one's answer."""

    def one(sid):
        assert R.run_ok(glue, sid, "1+1", timeout=300) == "2"
        return time.monotonic() - t0

    with ThreadPoolExecutor(len(ids)) as pool:
        return list(pool.map(one, ids))


def catalog_after(glue, ids: list[str]) -> list[float]:
    """A Spark catalog call in every session at once (its Hive client moves to a live node's
    metastore if its own died); seconds each took."""

    def one(sid):
        t0 = time.monotonic()
        assert int(R.run_ok(glue, sid, "spark.sql('SHOW DATABASES').count()", timeout=300)) >= 1
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
            out[n]["catalog_s"] = catalog_after(srv.glue(), ids)
            log(f"single node, {n} sessions: {out[n]}")
    return out


def adoption_rounds(counts: list[int]) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    top = max(counts)
    out, catalog = {}, {}
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
            catalog[n] = catalog_after(survivor.glue(), ids)
            after = {sid: nodes_cluster.driver_pid(survivor.glue(), sid) for sid in ids}
            assert after == {sid: pids[sid] for sid in ids}, "a session got a new driver"
            log(
                f"2 nodes, {n} sessions: kill -9 of {owner.name} → answers at {survivor.name}: {times}"
                f"; then a catalog call: {catalog[n]}"
            )
            cluster.start_again(owner)
            owner, survivor = survivor, owner
    return out, catalog


def run_adoption(args) -> dict:
    counts = sorted({int(x) for x in args.sessions.split(",") if x}, reverse=True)
    adopted, catalog = adoption_rounds(counts)
    single = single_node_rounds(counts)
    lease = nodes_cluster.LEASE_S
    print(
        f"\n| live sessions | single node: kill -9, restart, all answered | 2 nodes (lease {lease} s): "
        "kill -9, all answered at the survivor | … median session | … slowest − fastest "
        "| then `SHOW DATABASES`, median / slowest: single node · 2 nodes |"
    )
    print("|---|---|---|---|---|---|")
    for n in counts:
        t, c, c1 = adopted[n], catalog[n], single[n]["catalog_s"]
        print(
            f"| {n} | {single[n]['answered_s']:.2f} s (re-attach {single[n]['reattach_ms']} ms) "
            f"| {max(t):.2f} s | {statistics.median(t):.2f} s | {max(t) - min(t):.2f} s "
            f"| {statistics.median(c1):.2f} / {max(c1):.2f} s · "
            f"{statistics.median(c):.2f} / {max(c):.2f} s |"
        )
    return {"adoption_s": adopted, "catalog_s": catalog, "single_node": single, "lease_s": lease}


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
