#!/usr/bin/env python3
"""Load generator and soak test for epoxy's control plane (and, optionally, statements).

Clients: OS threads, one per simulated client, each with its own keep-alive HTTP/1.1
connection (`http.client`) sending raw AWS JSON 1.1 requests, each SigV4-signed afresh with the
harness's signer (tests/python/epoxy_harness.py). No boto3: its own cost (~1 ms a call) would
dominate. The client runs in one CPython process, so at high client counts the GIL, not the
server, can be the limit: every level reports the server's CPU use and the client's next to
the throughput, so a figure says which side was saturated.

Modes:
  levels (default)  for each client count in --levels (1, 8, 64, 256): --requests requests (or
                    --time-cap seconds, whichever comes first) of a mix of ListSessions,
                    GetSession, CreateSession and TagResource against one `--runtime none`
                    server; throughput, p50/p99/max, errors and 5xx per level; afterwards every
                    acknowledged create is looked up in ListSessions and every acknowledged tag
                    in GetTags (lost writes).
  --statements      then one `--runtime spark` server with one session: --statement-clients
                    clients run --statement-count statements in total (RunStatement, then
                    GetStatement every 20 ms until final, a ListSessions between polls), first
                    `i + 1` (the path's own cost), then `spark.range(1000).count()` (a Spark job);
                    statements run one at a time per session, so this measures queueing too.
  --soak SECONDS    steady load from --soak-clients clients, throttled to --rate requests/s in
                    total, with DeleteSession in the mix so the store stays the same size; every
                    --report-every seconds: requests, throughput, p50/p99, errors, and the
                    server's RSS (VmRSS from /proc/<pid>/status), open fds and threads.

Everything listens and connects on 127.0.0.1 only; every loop is bounded in count and time.

Usage:
  cargo build --release
  /tmp/e2e-venv/bin/python benches/load.py                          # levels 1,8,64,256
  /tmp/e2e-venv/bin/python benches/load.py --statements --python /tmp/probe-venv/bin/python
  /tmp/e2e-venv/bin/python benches/load.py --soak 600               # 10-minute soak
  EPOXY_BIN=target/debug/epoxy /tmp/e2e-venv/bin/python benches/load.py --levels 1,8 --requests 500
The binary is --epoxy-bin, else $EPOXY_BIN, else target/release/epoxy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "tests" / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "python"))

import epoxy_harness as H  # noqa: E402

PRELOAD = 1000  # sessions stored before the first level, so Get/List read real data
CONTROL_MIX = (("ListSessions", 25), ("GetSession", 35), ("CreateSession", 20), ("TagResource", 20))
# As many deletes as creates: once each client holds SOAK_WINDOW sessions the store stops
# growing, so a rising RSS would be a leak, not a bigger database.
SOAK_MIX = (
    ("ListSessions", 20),
    ("GetSession", 30),
    ("CreateSession", 15),
    ("TagResource", 20),
    ("DeleteSession", 15),
)
# Statement phase: pure overhead (server -> driver -> store and back), then a small Spark job.
STATEMENT_CODES = ("{i} + 1", "spark.range(1000).count()")
SOAK_WINDOW = 50  # sessions a soak client keeps before deleting its oldest


# -- measurement --------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


@dataclass
class Stats:
    """Outcomes of one level or one soak interval; updated under `lock` by all clients."""

    latencies: list = field(default_factory=list)
    by_op: dict = field(default_factory=dict)
    errors: int = 0  # non-200 replies and transport errors
    http_5xx: int = 0
    transport_errors: int = 0
    error_samples: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, seconds: float, status: int | None, detail: str = ""):
        with self.lock:
            self.latencies.append(seconds)
            self.by_op.setdefault(op, []).append(seconds)
            if status != 200:
                self.errors += 1
                if status is None:
                    self.transport_errors += 1
                elif status >= 500:
                    self.http_5xx += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(f"{op}: {status} {detail[:160]}")

    def summary(self, wall: float) -> dict:
        lat = sorted(self.latencies)
        return {
            "requests": len(lat),
            "seconds": round(wall, 2),
            "req_per_s": round(len(lat) / wall, 1) if wall else 0.0,
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "max_ms": round(lat[-1] * 1000, 2) if lat else float("nan"),
            "errors": self.errors,
            "http_5xx": self.http_5xx,
            "transport_errors": self.transport_errors,
            "error_samples": self.error_samples,
            "p99_ms_by_op": {
                op: round(percentile(sorted(v), 99) * 1000, 2)
                for op, v in sorted(self.by_op.items())
            },
        }


@dataclass
class WriteLedger:
    """Acknowledged writes, checked against the server at the end."""

    created: set = field(default_factory=set)
    deleted: set = field(default_factory=set)
    tags: dict = field(default_factory=dict)  # session -> {key: last acknowledged value}
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- one client ---------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; builds, signs and sends one request of the mix at a time."""

    def __init__(self, url: str, name: str, ledger: WriteLedger, known_ids: list[str]):
        self.url = url
        self.name = name
        self.ledger = ledger
        self.known = known_ids  # ids to read (shared, read-only)
        self.mine: list[str] = []  # ids this client created and has not deleted
        self.seq = 0
        self.conn = H.RawGlue(url, timeout=60)
        self.rng = random.Random(name)

    def close(self):
        self.conn.close()

    def request(self, op: str) -> tuple[str, int | None, float, str]:
        """Sends one `op` (or a stand-in when it has nothing to act on yet);
        (op sent, status or None, seconds, error detail)."""
        self.seq += 1
        if op == "CreateSession":
            sid = f"{self.name}-{self.seq}"
            body = H.create_args(sid, Tags={"load": "1", "client": self.name})
        elif op == "GetSession":
            body = {"Id": self.rng.choice(self.mine or self.known)}
        elif op == "ListSessions":
            body = {"MaxResults": 50}
            if self.rng.random() < 0.3:
                body["Tags"] = {"client": self.name}
        elif op == "TagResource":
            target = self.rng.choice(self.mine) if self.mine else None
            if target is None:
                return self.request("GetSession")
            body = {
                "ResourceArn": H.session_arn(target),
                "TagsToAdd": {f"k-{self.name}": str(self.seq)},
            }
        elif op == "DeleteSession":
            if len(self.mine) <= SOAK_WINDOW:
                return self.request("CreateSession")
            target = self.mine[0]
            body = {"Id": target}
        else:
            raise ValueError(op)
        started = time.perf_counter()
        try:
            resp = self.conn.send(op, body)
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = H.RawGlue(self.url, timeout=60)
            return op, None, time.perf_counter() - started, f"{type(e).__name__}: {e}"
        took = time.perf_counter() - started
        if resp.status == 200:
            with self.ledger.lock:
                if op == "CreateSession":
                    self.ledger.created.add(body["Id"])
                    self.mine.append(body["Id"])
                elif op == "TagResource":
                    ((k, v),) = body["TagsToAdd"].items()
                    self.ledger.tags.setdefault(target, {})[k] = v
                elif op == "DeleteSession":
                    self.ledger.deleted.add(target)
                    self.mine.pop(0)
                    self.ledger.tags.pop(target, None)
            return op, 200, took, ""
        return op, resp.status, took, resp.body[:200].decode("utf-8", "replace")


def pick(rng: random.Random, mix) -> str:
    total = sum(w for _, w in mix)
    x = rng.uniform(0, total)
    for op, w in mix:
        x -= w
        if x <= 0:
            return op
    return mix[-1][0]


# -- levels -------------------------------------------------------------------------------------


def run_level(
    url: str | list[str],
    server_pid: int | list[int],
    clients: int,
    requests: int,
    time_cap: float,
    ledger: WriteLedger,
    known: list[str],
    level_name: str,
) -> dict:
    # Several servers (benches/nodes.py: nodes of one database): client i talks to urls[i % n];
    # CPU, RSS and threads are their sums.
    urls = [url] if isinstance(url, str) else url
    pids = [server_pid] if isinstance(server_pid, int) else server_pid
    stats = Stats()
    tickets = iter(range(requests))
    tickets_lock = threading.Lock()
    deadline = time.monotonic() + time_cap
    ready = threading.Barrier(clients + 1)

    def worker(i: int):
        client = Client(urls[i % len(urls)], f"{level_name}c{i}", ledger, known)
        try:
            client.conn.conn.connect()
        except OSError:
            pass
        ready.wait()
        rng = random.Random(i)
        try:
            while time.monotonic() < deadline:
                with tickets_lock:
                    if next(tickets, None) is None:
                        return
                op, status, took, detail = client.request(pick(rng, CONTROL_MIX))
                stats.record(op, took, status, detail)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    cpu0, t0 = sum(map(cpu_seconds, pids)), time.monotonic()
    own0 = time.process_time()
    for t in threads:
        t.join(timeout=time_cap + 120)
    wall = time.monotonic() - t0
    out = stats.summary(wall)
    out["clients"] = clients
    out["server_cpu_pct"] = round(100 * (sum(map(cpu_seconds, pids)) - cpu0) / wall, 1)
    out["client_cpu_pct"] = round(100 * (time.process_time() - own0) / wall, 1)
    out["server_rss_kb"] = sum(proc_status(pid, "VmRSS") or 0 for pid in pids)
    out["server_threads"] = sum(proc_status(pid, "Threads") or 0 for pid in pids)
    out["capped_by_time"] = out["requests"] < requests
    return out


def preload(url: str, n: int, threads: int = 8) -> list[str]:
    ids = [f"pre-{i}" for i in range(n)]

    def load(chunk):
        conn = H.RawGlue(url)
        try:
            for sid in chunk:
                r = conn.send("CreateSession", H.create_args(sid, Tags={"load": "pre"}))
                assert r.status == 200, r
        finally:
            conn.close()

    ts = [threading.Thread(target=load, args=(ids[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return ids


def check_writes(url: str, ledger: WriteLedger) -> dict:
    """Every acknowledged create is listed (and every acknowledged delete is not); every
    acknowledged tag holds its last acknowledged value."""
    conn = H.RawGlue(url)
    listed: set[str] = set()
    token = None
    try:
        for _ in range(100_000):
            body = {"MaxResults": 1000}
            if token:
                body["NextToken"] = token
            r = conn.send("ListSessions", body)
            assert r.status == 200, r
            page = r.json()
            listed.update(page["Ids"])
            token = page.get("NextToken")
            if not token:
                break
        lost_creates = sorted(ledger.created - ledger.deleted - listed)
        resurrected = sorted(ledger.deleted & listed)
        lost_tags = []
        for sid, want in ledger.tags.items():
            r = conn.send("GetTags", {"ResourceArn": H.session_arn(sid)})
            got = r.json().get("Tags", {}) if r.status == 200 else {}
            lost_tags += [f"{sid}:{k}" for k, v in want.items() if got.get(k) != v]
    finally:
        conn.close()
    return {
        "acknowledged_creates": len(ledger.created),
        "acknowledged_deletes": len(ledger.deleted),
        "acknowledged_tag_values": sum(map(len, ledger.tags.values())),
        "listed": len(listed),
        "lost_creates": lost_creates[:20],
        "lost_creates_count": len(lost_creates),
        "deleted_but_listed": resurrected[:20],
        "lost_tags": lost_tags[:20],
        "lost_tags_count": len(lost_tags),
    }


def run_levels(binary, levels, requests, time_cap, log) -> dict:
    server = H.EpoxyServer(binary=binary, runtime="none")
    try:
        server.start()
        pid = server.proc.pid
        known = preload(server.url, PRELOAD)
        ledger = WriteLedger()
        results = []
        for n in levels:
            row = run_level(server.url, pid, n, requests, time_cap, ledger, known, f"L{n}")
            results.append(row)
            log(
                f"{n:>4} clients: {row['requests']} requests in {row['seconds']}s = {row['req_per_s']} req/s, "
                f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, max {row['max_ms']} ms, "
                f"errors {row['errors']}, 5xx {row['http_5xx']}, server CPU {row['server_cpu_pct']}%, "
                f"client CPU {row['client_cpu_pct']}%, server RSS {row['server_rss_kb']} kB"
                + (" [time cap hit]" if row["capped_by_time"] else "")
                + (f" {row['error_samples']}" if row["error_samples"] else "")
            )
        writes = check_writes(server.url, ledger)
        log(
            f"writes: {writes['acknowledged_creates']} creates and {writes['acknowledged_tag_values']} tag "
            f"values acknowledged; lost creates {writes['lost_creates_count']}, lost tags "
            f"{writes['lost_tags_count']}"
        )
        alive = server.proc.poll() is None
        server.stop()
        return {
            "levels": results,
            "writes": writes,
            "server_alive": alive,
            "binary": str(server.binary),
        }
    finally:
        server.close()


# -- statements ---------------------------------------------------------------------------------


def run_statements(binary, python: str, clients_list, count: int, time_cap: float, log) -> dict:
    """One spark server, one session; `count` statements per level from N clients."""
    server = H.EpoxyServer(
        binary=binary,
        runtime="spark",
        extra_args=["--python", python, "--warm-pool", "0"],
        ready_timeout=60,
    )
    out: dict = {"levels": []}
    try:
        server.start()
        conn = H.RawGlue(server.url)
        r = conn.send("CreateSession", H.create_args("stmt-load"))
        assert r.status == 200, r
        t0 = time.monotonic()
        while True:
            s = conn.send("GetSession", {"Id": "stmt-load"}).json()["Session"]["Status"]
            if s == "READY":
                break
            assert s == "PROVISIONING" and time.monotonic() - t0 < 300, s
            time.sleep(0.5)
        out["cold_start_s"] = round(time.monotonic() - t0, 1)
        conn.close()
        for n, code in [(n, code) for code in STATEMENT_CODES for n in clients_list]:
            stats, done = Stats(), Stats()
            tickets = iter(range(count))
            lock = threading.Lock()
            deadline = time.monotonic() + time_cap

            def worker(i):
                c = H.RawGlue(server.url, timeout=120)
                try:
                    while time.monotonic() < deadline:
                        with lock:
                            if next(tickets, None) is None:
                                return
                        started = time.perf_counter()
                        try:
                            r = c.send(
                                "RunStatement", {"SessionId": "stmt-load", "Code": code.format(i=i)}
                            )
                        except (OSError, http.client.HTTPException) as e:
                            stats.record(
                                "RunStatement", time.perf_counter() - started, None, str(e)
                            )
                            return
                        stats.record(
                            "RunStatement",
                            time.perf_counter() - started,
                            r.status,
                            r.body[:160].decode(errors="replace"),
                        )
                        if r.status != 200:
                            continue
                        sid = r.json()["Id"]
                        while time.monotonic() < deadline:
                            # Control-plane reads alongside, as a notebook UI would do.
                            t1 = time.perf_counter()
                            g = c.send("GetStatement", {"SessionId": "stmt-load", "Id": sid})
                            stats.record(
                                "GetStatement",
                                time.perf_counter() - t1,
                                g.status,
                                g.body[:160].decode(errors="replace"),
                            )
                            if g.status == 200 and g.json()["Statement"]["State"] in (
                                "AVAILABLE",
                                "ERROR",
                                "CANCELLED",
                            ):
                                ok = g.json()["Statement"]["Output"]["Status"] == "ok"
                                done.record(
                                    "statement", time.perf_counter() - started, 200 if ok else 599
                                )
                                break
                            t1 = time.perf_counter()
                            lr = c.send("ListSessions", {"MaxResults": 10})
                            stats.record("ListSessions", time.perf_counter() - t1, lr.status)
                            time.sleep(0.02)
                finally:
                    c.close()

            threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=time_cap + 60)
            wall = time.monotonic() - t0
            row = {
                "clients": n,
                "code": code,
                "statements": done.summary(wall),
                "api": stats.summary(wall),
            }
            out["levels"].append(row)
            d = row["statements"]
            log(
                f"statements `{code}`, {n} clients: {d['requests']} done in {d['seconds']}s = {d['req_per_s']}/s, "
                f"completion p50 {d['p50_ms']} ms p99 {d['p99_ms']} ms, failed {d['errors']}; API calls "
                f"{row['api']['requests']}, p99 {row['api']['p99_ms']} ms, errors {row['api']['errors']}, "
                f"5xx {row['api']['http_5xx']}"
            )
        server.stop()
    finally:
        server.close()
    return out


# -- soak ---------------------------------------------------------------------------------------


def run_soak(binary, seconds: float, clients: int, rate: float, report_every: float, log) -> dict:
    server = H.EpoxyServer(binary=binary, runtime="none")
    rows = []
    try:
        server.start()
        pid = server.proc.pid
        known = preload(server.url, PRELOAD)
        ledger = WriteLedger()
        stop = threading.Event()
        current = [Stats()]
        swap = threading.Lock()
        per_client_interval = clients / rate if rate > 0 else 0.0

        def worker(i):
            client = Client(server.url, f"s{i}", ledger, known)
            rng = random.Random(1000 + i)
            next_at = time.monotonic() + rng.uniform(0, per_client_interval)
            try:
                while not stop.is_set():
                    if per_client_interval:
                        delay = next_at - time.monotonic()
                        if delay > 0:
                            stop.wait(delay)
                        next_at = max(next_at + per_client_interval, time.monotonic() - 1)
                    op, status, took, detail = client.request(pick(rng, SOAK_MIX))
                    with swap:
                        stats = current[0]
                    stats.record(op, took, status, detail)
            finally:
                client.close()

        rss0 = proc_status(pid, "VmRSS")
        sessions0 = len(ledger.created) + len(known)
        log(
            f"soak: {clients} clients at {rate} req/s for {seconds:.0f}s; server pid {pid}, "
            f"RSS at start {rss0} kB"
        )
        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        end = t_start + seconds
        cpu_prev, t_prev = cpu_seconds(pid), t_start
        while time.monotonic() < end:
            time.sleep(max(0.0, min(report_every, end - time.monotonic())))
            with swap:
                stats, current[0] = current[0], Stats()
            now = time.monotonic()
            cpu = cpu_seconds(pid)
            row = stats.summary(now - t_prev)
            row.update(
                t_s=round(now - t_start),
                rss_kb=proc_status(pid, "VmRSS"),
                hwm_kb=proc_status(pid, "VmHWM"),
                fds=open_fds(pid),
                threads=proc_status(pid, "Threads"),
                server_cpu_pct=round(100 * (cpu - cpu_prev) / (now - t_prev), 1),
                alive=server.proc.poll() is None,
            )
            cpu_prev, t_prev = cpu, now
            rows.append(row)
            log(
                f"  t={row['t_s']:>4}s  {row['requests']} req ({row['req_per_s']}/s)  p50 {row['p50_ms']} ms  "
                f"p99 {row['p99_ms']} ms  errors {row['errors']}  5xx {row['http_5xx']}  RSS {row['rss_kb']} kB  "
                f"fds {row['fds']}  threads {row['threads']}  CPU {row['server_cpu_pct']}%"
            )
            if not row["alive"]:
                break
        stop.set()
        for t in threads:
            t.join(timeout=30)
        rss1 = proc_status(pid, "VmRSS")
        writes = check_writes(server.url, ledger)
        log(
            f"soak done: RSS {rss0} kB -> {rss1} kB; sessions {sessions0} -> {writes['listed']}; writes {writes['acknowledged_creates']} creates, "
            f"{writes['acknowledged_deletes']} deletes; lost {writes['lost_creates_count']} creates, "
            f"{writes['lost_tags_count']} tags, {len(writes['deleted_but_listed'])} deleted-but-listed"
        )
        server.stop()
        return {
            "rss_start_kb": rss0,
            "rss_end_kb": rss1,
            "sessions_start": sessions0,
            "sessions_end": writes["listed"],
            "intervals": rows,
            "writes": writes,
            "clients": clients,
            "rate": rate,
            "binary": str(server.binary),
        }
    finally:
        server.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--epoxy-bin", default=None)
    ap.add_argument("--levels", default="1,8,64,256", help="client counts, comma-separated")
    ap.add_argument("--requests", type=int, default=4000, help="requests per level")
    ap.add_argument("--time-cap", type=float, default=60.0, help="seconds per level at most")
    ap.add_argument("--statements", action="store_true", help="also the statement phase (PySpark)")
    ap.add_argument(
        "--python",
        default=os.environ.get("EPOXY_TEST_RUNTIME_PYTHON"),
        help="interpreter with pyspark, for --statements",
    )
    ap.add_argument("--statement-clients", default="1,8")
    ap.add_argument(
        "--statement-count", type=int, default=100, help="statements per level and code"
    )
    ap.add_argument(
        "--soak", type=float, default=0, metavar="SECONDS", help="soak instead of levels"
    )
    ap.add_argument("--soak-clients", type=int, default=8)
    ap.add_argument(
        "--rate", type=float, default=300.0, help="soak: total requests/s (0 = unthrottled)"
    )
    ap.add_argument("--report-every", type=float, default=60.0)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    binary = Path(args.epoxy_bin) if args.epoxy_bin else H.default_binary("release")
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    results: dict = {"binary": str(binary)}
    failed = False
    if args.soak:
        soak = run_soak(binary, args.soak, args.soak_clients, args.rate, args.report_every, log)
        results["soak"] = soak
        failed |= any(r["http_5xx"] or not r["alive"] for r in soak["intervals"])
        failed |= bool(soak["writes"]["lost_creates_count"] or soak["writes"]["lost_tags_count"])
    else:
        levels = [int(x) for x in args.levels.split(",") if x]
        res = run_levels(binary, levels, args.requests, args.time_cap, log)
        results["control"] = res
        failed |= any(r["http_5xx"] for r in res["levels"]) or not res["server_alive"]
        failed |= bool(res["writes"]["lost_creates_count"] or res["writes"]["lost_tags_count"])
        if args.statements:
            if not args.python:
                ap.error("--statements needs --python (or $EPOXY_TEST_RUNTIME_PYTHON)")
            st = run_statements(
                binary,
                args.python,
                [int(x) for x in args.statement_clients.split(",") if x],
                args.statement_count,
                args.time_cap,
                log,
            )
            results["statements"] = st
            failed |= any(r["api"]["http_5xx"] or r["statements"]["errors"] for r in st["levels"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
