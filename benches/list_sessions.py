#!/usr/bin/env python3
"""ListSessions benchmark: epoxy vs moto_server, then epoxy with a large store.

Phase 1 stores the same number of sessions (default 1,000) in epoxy (`--runtime none`) and in
moto_server, then sends N sequential `ListSessions MaxResults=100` requests to each over the
same kind of client and prints requests/s, p50 and p99, and the ratio epoxy/moto.

Phase 2 grows epoxy's store to `--large` sessions (default 100,000; 0 skips), 1% of them tagged
team=x, and measures a filtered first page (`Tags={"team": "x"}, MaxResults=100`), an unfiltered
first page, and a full filtered walk.

Clients (`--client`):
  boto3 (default) — one reused boto3 client per server, keep-alive; includes boto3's own
                    serialisation/parsing/signing cost (~1 ms), which is what real users pay.
  raw             — one keep-alive http.client connection per server, a request signed once and
                    re-sent; isolates the server's cost.
Bulk loading always uses raw signed HTTP from `--threads` threads (much faster than boto3).

Usage (see benches/README.md):
  /tmp/e2e-venv/bin/python benches/list_sessions.py [--requests 500] [--large 100000] [--client boto3|raw]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import epoxy_harness as H  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/GlueInteractiveSessionRole"


# -- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto_server (moto[server]) on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("moto_server")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
        self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [*cmd, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/moto-api/")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"moto_server did not start; log: {self.log.name}")
                time.sleep(0.2)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        os.unlink(self.log.name)


# -- load and measure ----------------------------------------------------------------------------


def bulk_create(url: str, ids: list[str], tags_for, threads: int) -> float:
    """Create sessions with raw signed keep-alive HTTP from `threads` threads; returns seconds."""
    local = threading.local()
    failures: list[str] = []

    def one(sid):
        if not hasattr(local, "raw"):
            local.raw = H.RawGlue(url)
        body = {"Id": sid, "Role": ROLE, "Command": {"Name": "glueetl", "PythonVersion": "3"}}
        tags = tags_for(sid)
        if tags:
            body["Tags"] = tags
        r = local.raw.send("CreateSession", body)
        if r.status != 200 and len(failures) < 5:
            failures.append(f"{sid}: {r}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i, _ in enumerate(pool.map(one, ids), 1):
            if i % 10000 == 0:
                rate = i / (time.perf_counter() - started)
                print(
                    f"  … {i:,}/{len(ids):,} created ({rate:,.0f}/s)", file=sys.stderr, flush=True
                )
    if failures:
        raise SystemExit("CreateSession failed:\n" + "\n".join(failures))
    return time.perf_counter() - started


def make_caller(kind: str, url: str, params: dict, op: str = "ListSessions"):
    """A zero-argument function that sends one `op` (ListSessions) and returns the response."""
    if kind == "boto3":
        glue = H.glue_client(url)
        method = "".join(f"_{c.lower()}" if c.isupper() else c for c in op).lstrip("_")
        return lambda: getattr(glue, method)(**params)
    u = urllib.parse.urlparse(url)
    body = json.dumps(params).encode()
    headers = H.sigv4_headers(u.netloc, body, H.glue_headers(op), *H.DEV_KEY)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def call():
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{op} → {resp.status}: {data[:300]!r}")
        return json.loads(data)

    return call


def measure(call, n: int, warmup: int, expect_ids: int | None) -> dict:
    for _ in range(warmup):
        call()
    lat = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        page = call()
        lat.append(time.perf_counter() - t0)
        if expect_ids is not None and len(page.get("Ids", [])) != expect_ids:
            raise SystemExit(f"expected {expect_ids} Ids per page, got {len(page.get('Ids', []))}")
    total = time.perf_counter() - started
    lat.sort()
    return {
        "n": n,
        "rps": n / total,
        "p50": statistics.median(lat) * 1000,
        "p99": lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))] * 1000,
        "mean": statistics.fmean(lat) * 1000,
    }


def row(name: str, m: dict) -> str:
    return f"  {name:<44} {m['rps']:>9,.0f} {m['p50']:>9.2f} {m['p99']:>9.2f} {m['mean']:>9.2f}"


HEADER = f"  {'':<44} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}"


# -- main ----------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--epoxy-bin",
        default=os.environ.get("EPOXY_BIN") or str(REPO / "target" / "release" / "epoxy"),
    )
    ap.add_argument(
        "--requests", type=int, default=500, help="measured ListSessions per server (default 500)"
    )
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument(
        "--sessions", type=int, default=1000, help="sessions stored in each server for phase 1"
    )
    ap.add_argument(
        "--large", type=int, default=100_000, help="epoxy store size for phase 2; 0 skips it"
    )
    ap.add_argument(
        "--filtered-requests", type=int, default=200, help="measured requests per phase-2 query"
    )
    ap.add_argument("--client", choices=("boto3", "raw"), default="boto3")
    ap.add_argument("--threads", type=int, default=8, help="loader threads")
    ap.add_argument(
        "--no-moto", action="store_true", help="skip moto (phase 1 measures epoxy only)"
    )
    args = ap.parse_args()

    binary = Path(args.epoxy_bin)
    if not binary.exists():
        raise SystemExit(
            f"no epoxy binary at {binary}: cargo build --release, or pass --epoxy-bin / EPOXY_BIN"
        )
    data_root = tempfile.mkdtemp(prefix="epoxy-bench-")
    epoxy = H.EpoxyServer(binary=binary, runtime="none", data_dir=Path(data_root) / "data")
    moto = None
    try:
        epoxy.start()
        print(f"epoxy   {binary} at {epoxy.url} (--runtime none, data in {epoxy.data_dir})")
        if not args.no_moto:
            moto = MotoServer()
            import moto as moto_pkg

            print(f"moto    moto_server {moto_pkg.__version__} at {moto.url}")
        print(f"client  {args.client}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}\n")

        # Phase 1 -------------------------------------------------------------------------------
        ids = [f"bench-{i:07d}" for i in range(args.sessions)]
        no_tags = lambda sid: None  # noqa: E731
        servers = [("epoxy", epoxy.url)] + ([("moto", moto.url)] if moto else [])
        for name, url in servers:
            secs = bulk_create(url, ids, no_tags, args.threads)
            print(
                f"stored {args.sessions:,} sessions in {name} in {secs:.1f}s ({args.sessions / secs:,.0f}/s)"
            )
        params = {"MaxResults": 100}
        expect = min(100, args.sessions)
        results = {}
        for name, url in servers:
            results[name] = measure(
                make_caller(args.client, url, params), args.requests, args.warmup, expect
            )

        print(
            f"\nPhase 1: ListSessions MaxResults=100 over {args.sessions:,} sessions, "
            f"{args.requests} sequential requests, {args.client} client"
        )
        print(HEADER)
        for name, m in results.items():
            print(row(name, m))
        if moto:
            e, m = results["epoxy"], results["moto"]
            print(
                f"  ratio epoxy/moto: throughput {e['rps'] / m['rps']:.2f}×, "
                f"p50 {e['p50'] / m['p50']:.2f}× , p99 {e['p99'] / m['p99']:.2f}×  "
                f"(throughput > 1 and latency < 1 favour epoxy)"
            )
        if moto:
            moto.close()
            moto = None

        # Phase 2 -------------------------------------------------------------------------------
        if args.large > args.sessions:
            extra = [f"large-{i:07d}" for i in range(args.large - args.sessions)]

            # Every 100th session (1%) is team=x, the rest spread over 20 other teams.
            def team(sid):
                return {"team": "x" if int(sid[-7:]) % 100 == 0 else f"t{int(sid[-7:]) % 20}"}

            print(
                f"\nloading {len(extra):,} more sessions into epoxy ({args.threads} threads, raw HTTP) …",
                file=sys.stderr,
            )
            secs = bulk_create(epoxy.url, extra, team, args.threads)
            matching = sum(1 for sid in extra if int(sid[-7:]) % 100 == 0)
            total = args.sessions + len(extra)
            print(
                f"\nstored {len(extra):,} more sessions in epoxy in {secs:.1f}s "
                f"({len(extra) / secs:,.0f}/s); {total:,} in all, {matching:,} tagged team=x"
            )
            filtered = {"Tags": {"team": "x"}, "MaxResults": 100}
            rows = [
                (
                    "filtered first page Tags={team:x} ×100",
                    measure(
                        make_caller(args.client, epoxy.url, filtered),
                        args.filtered_requests,
                        args.warmup,
                        min(100, matching),
                    ),
                ),
                (
                    "unfiltered first page ×100",
                    measure(
                        make_caller(args.client, epoxy.url, {"MaxResults": 100}),
                        args.filtered_requests,
                        args.warmup,
                        100,
                    ),
                ),
                (
                    "filtered 2-key miss Tags={team:x,env:none}",
                    measure(
                        make_caller(
                            args.client,
                            epoxy.url,
                            {"Tags": {"team": "x", "env": "none"}, "MaxResults": 100},
                        ),
                        max(10, args.filtered_requests // 10),
                        2,
                        0,
                    ),
                ),
            ]
            glue = H.glue_client(epoxy.url)
            t0 = time.perf_counter()
            walked, pages = H.list_all(glue, max_results=100, tags={"team": "x"})
            walk_ms = (time.perf_counter() - t0) * 1000
            assert len(walked) == matching, (len(walked), matching)
            print(f"\nPhase 2: epoxy with {total:,} sessions, {args.client} client")
            print(HEADER)
            for name, m in rows:
                print(row(name, m))
            print(
                f"  full filtered walk: {len(walked):,} sessions in {len(pages)} pages, {walk_ms:.0f} ms "
                f"({walk_ms / len(pages):.1f} ms/page, boto3)"
            )
    finally:
        if moto:
            moto.close()
        epoxy.close()
        shutil.rmtree(data_root, ignore_errors=True)


if __name__ == "__main__":
    main()
