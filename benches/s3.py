#!/usr/bin/env python3
"""PUT/GET throughput of epoxy's built-in S3 vs moto's S3 server vs the local disk (`dd`).

One run starts `epoxy serve --runtime none` (open mode, fresh temp data dir) and `moto_server`
on free loopback ports, then for each object size (1 MiB and 64 MiB by default) sends
--reps sequential PUTs of random bytes and as many GETs of them to each, over one keep-alive
`http.client` connection per server. Requests are raw HTTP with an `s3`-scoped SigV4 header
and `UNSIGNED-PAYLOAD` (open-mode epoxy and moto check no signature), so no client-side hashing
is timed: the figures are the server plus loopback. `dd` copies the same sizes from a
cached random file with `conv=fsync` (epoxy fsyncs every object too) and reads them back (from
the page cache, as the servers' GETs do). dd pays a process start per object, which shows at
1 MiB.

Usage:
  cargo build --release
  target/test-venv/bin/python benches/s3.py                    # 1 MiB x 50, 64 MiB x 5
  target/test-venv/bin/python benches/s3.py --sizes 1,16 --reps 10
The binary is --epoxy-bin, else $EPOXY_BIN, else target/release/epoxy; moto_server is looked for
next to this Python.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import epoxy_harness as H  # noqa: E402

MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def headers(host: str, extra: dict | None = None) -> dict:
    date = H.amz_now()
    out = {
        "Host": host,
        "X-Amz-Date": date,
        "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={H.DEV_KEY[0]}/{date[:8]}/{H.REGION}"
        "/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
    }
    out.update(extra or {})
    return out


class Target:
    def __init__(self, name: str, host: str, port: int):
        self.name, self.host, self.port = name, host, port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: bytes | None = None) -> int:
        extra = {"Content-Length": str(len(body))} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers(self.host, extra))
        resp = self.conn.getresponse()
        size = 0
        while chunk := resp.read(MIB):
            size += len(chunk)
        if resp.status >= 300:
            raise RuntimeError(f"{self.name}: {method} {path} -> {resp.status}")
        return size


def wait_port(port: int, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def bench_server(t: Target, size: int, reps: int) -> tuple[float, float]:
    data = os.urandom(size)
    bucket = f"bench-{size // MIB}m"
    t.call("PUT", f"/{bucket}", b"")
    start = time.perf_counter()
    for i in range(reps):
        t.call("PUT", f"/{bucket}/o{i}", data)
    put = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(reps):
        assert t.call("GET", f"/{bucket}/o{i}") == size
    get = time.perf_counter() - start
    return size * reps / MIB / put, size * reps / MIB / get


def bench_dd(size: int, reps: int, tmp: Path) -> tuple[float, float]:
    """`dd` from a random file already in the page cache, so the source costs nothing."""
    source = tmp / "source"
    source.write_bytes(os.urandom(size))
    start = time.perf_counter()
    for i in range(reps):
        subprocess.run(
            ["dd", f"if={source}", f"of={tmp / f'dd{i}'}", "bs=1M", "conv=fsync", "status=none"],
            check=True,
        )
    put = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(reps):
        subprocess.run(
            ["dd", f"if={tmp / f'dd{i}'}", "of=/dev/null", "bs=1M", "status=none"], check=True
        )
    get = time.perf_counter() - start
    return size * reps / MIB / put, size * reps / MIB / get


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--epoxy-bin", default=os.environ.get("EPOXY_BIN", REPO / "target/release/epoxy")
    )
    ap.add_argument("--sizes", default="1,64", help="object sizes in MiB")
    ap.add_argument("--reps", type=int, default=0, help="objects per size [50 for 1 MiB, 5 above]")
    args = ap.parse_args()
    moto = Path(sys.executable).parent / "moto_server"
    if not moto.exists() and shutil.which("moto_server"):
        moto = Path(shutil.which("moto_server"))

    tmp = Path(tempfile.mkdtemp(prefix="s3-bench-"))
    procs = []
    try:
        ep, mp = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                [
                    str(args.epoxy_bin),
                    "serve",
                    "--runtime",
                    "none",
                    "--listen",
                    f"127.0.0.1:{ep}",
                    "--data-dir",
                    str(tmp / "epoxy"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        procs.append(
            subprocess.Popen(
                [str(moto), "-H", "127.0.0.1", "-p", str(mp)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_port(ep)
        wait_port(mp)
        targets = [Target("epoxy", f"127.0.0.1:{ep}", ep), Target("moto", f"127.0.0.1:{mp}", mp)]
        print(f"{'size':>7} {'reps':>4}  {'target':<6} {'PUT MiB/s':>10} {'GET MiB/s':>10}")
        for mib in (int(s) for s in args.sizes.split(",")):
            size = mib * MIB
            reps = args.reps or (50 if mib <= 1 else 5)
            rows = [(t.name, *bench_server(t, size, reps)) for t in targets]
            (tmp / "dd").mkdir(exist_ok=True)
            rows.append(("dd", *bench_dd(size, reps, tmp / "dd")))
            for name, put, get in rows:
                print(f"{mib:>4} MiB {reps:>4}  {name:<6} {put:>10.1f} {get:>10.1f}")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
