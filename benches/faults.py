#!/usr/bin/env python3
"""Fault injection for epoxy's control plane: crashes, SIGTERM under load, a read-only and a full disk.

Each scenario is a function returning a plain dict of what was tried and what survived, so that
tests/python/test_reliability.py runs them a few times in CI (and asserts) while this script runs
them many times on demand and prints the figures RELIABILITY.md quotes.

  crash    kill -9 the server in the middle of a burst of CreateSession + TagResource (and a
           StopSession for every 4th session) from `--threads` threads, restart on the same
           data dir, check every acknowledged write.
  sigterm  SIGTERM in the middle of a burst (plus requests whose body is still being sent):
           requests already in the server complete, the process exits within the bound.
  disk     data dir on a read-only filesystem, and on a 2 MiB tmpfs filled to the last byte
           (needs root: mount(8)).

Everything runs on 127.0.0.1 with `--runtime none` (no JVM); every loop is bounded in count and
time. The PySpark-runtime faults (driver crashes, OOM, kill -9 with live drivers) are in
tests/python/test_reliability.py, because each costs a JVM.

Usage:
  /tmp/e2e-venv/bin/python benches/faults.py crash --reps 50
  /tmp/e2e-venv/bin/python benches/faults.py sigterm --reps 10
  /tmp/e2e-venv/bin/python benches/faults.py disk
  /tmp/e2e-venv/bin/python benches/faults.py all --json out.json
The binary is `--epoxy-bin`, else $EPOXY_BIN, else target/debug/epoxy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "tests" / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "python"))

import epoxy_harness as H  # noqa: E402

LIVE = ("PROVISIONING", "READY", "STOPPING")


# -- raw Glue calls ------------------------------------------------------------------------------


def call(conn: H.RawGlue, op: str, body: dict) -> tuple[int, dict]:
    """One signed request on a keep-alive connection: (HTTP status, decoded JSON body)."""
    resp = conn.send(op, body)
    try:
        data = resp.json() if resp.body else {}
    except ValueError:
        data = {"__raw": resp.body[:200].decode("utf-8", "replace")}
    return resp.status, data


def list_everything(
    url: str, tags: dict | None = None, page: int = 100, statuses: dict | None = None
) -> tuple[list[str], list[str]]:
    """Walks ListSessions; returns (ids in order, consistency problems found on the way), and
    fills `statuses` (id -> Status) if given."""
    conn = H.RawGlue(url)
    ids: list[str] = []
    problems: list[str] = []
    token = None
    try:
        for _ in range(10_000):
            body: dict = {"MaxResults": page}
            if tags:
                body["Tags"] = tags
            if token:
                body["NextToken"] = token
            status, data = call(conn, "ListSessions", body)
            if status != 200:
                problems.append(f"ListSessions {body} -> HTTP {status} {data}")
                break
            page_ids = data.get("Ids", [])
            if page_ids != [s.get("Id") for s in data.get("Sessions", [])]:
                problems.append(
                    f"ListSessions page: Ids and Sessions disagree ({len(page_ids)} ids)"
                )
            ids.extend(page_ids)
            if statuses is not None:
                statuses.update((x.get("Id"), x.get("Status")) for x in data.get("Sessions", []))
            token = data.get("NextToken")
            if not token:
                break
    finally:
        conn.close()
    if len(ids) != len(set(ids)):
        problems.append(f"ListSessions returned {len(ids) - len(set(ids))} duplicate ids")
    return ids, problems


def integrity_check(db: Path) -> str:
    """`PRAGMA integrity_check` through Python's sqlite3 (read-only; safe next to a live server)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
            fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as e:
        return f"error: {e}"
    result = "; ".join(r[0] for r in rows)
    if fk:
        result += f"; {len(fk)} foreign key violations"
    return result


def health_status(url: str) -> int | None:
    """GET /health on a fresh connection: its HTTP status, None if the server does not answer."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# -- kill -9 in the middle of a write burst -----------------------------------------------------


def create_tags(rep: int, thread: int, seq: int) -> dict:
    """The tags a burst session is created with: derivable from its id, so a session missing
    them after a crash is a half-written record."""
    return {"burst": str(rep), "thread": str(thread), "seq": str(seq), "kind": "crash"}


def burst_id(rep: int, thread: int, seq: int) -> str:
    return f"crash-{rep}-{thread}-{seq}"


@dataclass
class Ledger:
    """What the clients were told, across all rounds (the data dir accumulates)."""

    acked: dict = field(default_factory=dict)  # session id -> tags it must have (at least)
    # session id -> {tag key: set of values the server may legitimately hold}
    maybe: dict = field(default_factory=dict)
    unacked_creates: set = field(default_factory=set)  # sent, no reply (may or may not exist)
    stopped: set = field(default_factory=set)  # acknowledged StopSession
    stop_sent: set = field(default_factory=set)  # StopSession sent (acknowledged or not)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class CrashRound:
    rep: int
    kill_after_s: float
    acked_creates: int = 0
    acked_tag_writes: int = 0
    acked_stops: int = 0
    unacknowledged: int = 0
    http_5xx: int = 0
    other_errors: list = field(default_factory=list)
    restart_s: float = 0.0
    sessions_after: int = 0
    lost_creates: list = field(default_factory=list)
    lost_tags: list = field(default_factory=list)
    lost_stops: list = field(default_factory=list)
    half_written: list = field(default_factory=list)
    stuck_live: list = field(default_factory=list)
    list_problems: list = field(default_factory=list)
    integrity: str = ""

    @property
    def ok(self) -> bool:
        return not (
            self.http_5xx
            or self.other_errors
            or self.lost_creates
            or self.lost_tags
            or self.lost_stops
            or self.half_written
            or self.list_problems
            or self.integrity != "ok"
            or self.stuck_live
        )


def _burst_worker(
    url: str,
    rep: int,
    thread: int,
    ledger: Ledger,
    rnd: CrashRound,
    stop: threading.Event,
    deadline: float,
):
    conn = H.RawGlue(url, timeout=10)
    mine: list[str] = []
    seq = 0

    def acknowledged(op: str, body: dict, what: str) -> bool:
        """Sends one write; True if it got a 200, else counts why not (the worker then stops)."""
        try:
            status, data = call(conn, op, body)
        except (OSError, http.client.HTTPException):
            with ledger.lock:
                if op == "CreateSession":
                    ledger.unacked_creates.add(what)
                rnd.unacknowledged += 1
            return False
        if status != 200:
            with ledger.lock:
                if status >= 500:
                    rnd.http_5xx += 1
                rnd.other_errors.append(f"{op} {what}: {status} {data}")
            return False
        return True

    try:
        while not stop.is_set() and time.monotonic() < deadline:
            sid = burst_id(rep, thread, seq)
            tags = create_tags(rep, thread, seq)
            # CreateSession with its tags
            if not acknowledged("CreateSession", H.create_args(sid, Tags=tags), sid):
                return
            with ledger.lock:
                ledger.acked[sid] = dict(tags)
                rnd.acked_creates += 1
            mine.append(sid)
            # TagResource on an earlier session of this thread (only this thread writes it, so
            # the last acknowledged value must win), or on the new one.
            target = random.choice(mine)
            value = str(seq)
            with ledger.lock:
                ledger.maybe.setdefault(target, {}).setdefault("touched", set()).add(value)
            tag = {"ResourceArn": H.session_arn(target), "TagsToAdd": {"touched": value}}
            if not acknowledged("TagResource", tag, target):
                return
            with ledger.lock:
                ledger.acked[target]["touched"] = value
                # Only this value (or a later, unacknowledged one) may be stored now.
                ledger.maybe[target]["touched"] = {value}
                rnd.acked_tag_writes += 1
            seq += 1
            if seq % 4:
                continue
            # Every 4th session is stopped right away: STOPPING -> STOPPED is a write too.
            with ledger.lock:
                ledger.stop_sent.add(sid)
            if not acknowledged("StopSession", {"Id": sid}, sid):
                return
            with ledger.lock:
                ledger.stopped.add(sid)
                rnd.acked_stops += 1
    finally:
        conn.close()


def verify_after_restart(url: str, ledger: Ledger, rnd: CrashRound, runtime_none: bool = True):
    """Every acknowledged write is there; nothing half-written; ListSessions consistent."""
    statuses: dict = {}
    ids, problems = list_everything(url, page=1000, statuses=statuses)
    rnd.list_problems += problems
    rnd.sessions_after = len(ids)
    present = set(ids)
    conn = H.RawGlue(url)
    try:
        for sid in sorted(ledger.acked):
            if sid not in present:
                rnd.lost_creates.append(sid)
        # Every stored burst session: create-time tags complete, acknowledged tags present,
        # not stuck in a live state (control plane: a committed session is READY).
        # This round's sessions all; earlier rounds' (no longer written to) a sample.
        by_rep: dict[str, set] = {}
        older = [
            sid for sid in ids if sid.startswith("crash-") and sid.split("-")[1] != str(rnd.rep)
        ]
        sample = set(random.sample(older, min(len(older), 50)))
        for sid in ids:
            if not sid.startswith("crash-"):
                continue
            _, rep, thread, seq = sid.split("-")
            if rep != str(rnd.rep) and sid not in sample:
                continue
            status, got = call(conn, "GetTags", {"ResourceArn": H.session_arn(sid)})
            if status != 200:
                rnd.list_problems.append(f"GetTags {sid} -> {status} {got}")
                continue
            tags = got.get("Tags", {})
            want = create_tags(int(rep), int(thread), int(seq))
            if any(tags.get(k) != v for k, v in want.items()) and (
                rep == str(rnd.rep) or sid in ledger.acked
            ):
                rnd.half_written.append(f"{sid}: tags {tags}")
            if tags.get("burst") is not None:
                by_rep.setdefault(tags["burst"], set()).add(sid)
            if sid in ledger.acked:
                acked_touch = ledger.acked[sid].get("touched")
                allowed = ledger.maybe.get(sid, {}).get("touched", set())
                if acked_touch is not None and tags.get("touched") not in allowed:
                    rnd.lost_tags.append(
                        f"{sid}: touched={tags.get('touched')!r}, acknowledged "
                        f"{acked_touch!r}, allowed {sorted(allowed)}"
                    )
            st = statuses.get(sid)
            if sid in ledger.stopped and st != "STOPPED":
                rnd.lost_stops.append(f"{sid}: {st} after an acknowledged StopSession")
            stuck = st not in ("READY", "STOPPED") if runtime_none else st in LIVE
            if stuck and rep == str(rnd.rep):  # earlier rounds reported theirs
                what = (
                    "create unacknowledged"
                    if sid not in ledger.acked
                    else "StopSession unacknowledged"
                    if sid in ledger.stop_sent - ledger.stopped
                    else "every request acknowledged"
                )
                rnd.stuck_live.append(f"{sid}: {st} ({what})")
        # A tag filter finds exactly the sessions carrying the tag (this round's, all read above).
        for rep, expected in sorted(by_rep.items()):
            if rep != str(rnd.rep):
                continue
            filtered, problems = list_everything(url, tags={"burst": rep}, page=1000)
            rnd.list_problems += problems
            if set(filtered) != expected:
                rnd.list_problems.append(
                    f"ListSessions Tags={{burst: {rep}}}: {len(filtered)} ids, expected {len(expected)}"
                )
    finally:
        conn.close()


def crash_round(
    server: H.EpoxyServer,
    ledger: Ledger,
    rep: int,
    threads: int = 8,
    kill_after: float | None = None,
) -> CrashRound:
    """One burst from `threads` threads, kill -9 after `kill_after` s, restart, verify."""
    kill_after = kill_after if kill_after is not None else random.uniform(0.3, 1.5)
    rnd = CrashRound(rep=rep, kill_after_s=round(kill_after, 2))
    stop = threading.Event()
    deadline = time.monotonic() + kill_after + 10
    workers = [
        threading.Thread(
            target=_burst_worker,
            args=(server.url, rep, t, ledger, rnd, stop, deadline),
            daemon=True,
        )
        for t in range(threads)
    ]
    for w in workers:
        w.start()
    time.sleep(kill_after)
    server.crash()
    stop.set()
    for w in workers:
        w.join(timeout=20)
    started = time.monotonic()
    server.start()
    rnd.restart_s = round(time.monotonic() - started, 2)
    verify_after_restart(server.url, ledger, rnd)
    rnd.integrity = integrity_check(server.data_dir / "epoxy.db")
    return rnd


def crash_burst(binary=None, reps: int = 5, threads: int = 8, log=print) -> list[CrashRound]:
    """`reps` rounds of burst + kill -9 + restart on one data dir."""
    server = H.EpoxyServer(binary=binary, runtime="none")
    ledger = Ledger()
    rounds = []
    try:
        server.start()
        for rep in range(reps):
            rnd = crash_round(server, ledger, rep, threads)
            rounds.append(rnd)
            log(
                f"crash round {rep}: killed after {rnd.kill_after_s}s, {rnd.acked_creates} creates + "
                f"{rnd.acked_tag_writes} tag writes + {rnd.acked_stops} stops acknowledged, {rnd.unacknowledged} in flight, "
                f"{rnd.sessions_after} sessions after restart ({rnd.restart_s}s), "
                f"{'OK' if rnd.ok else 'PROBLEMS: ' + json.dumps(_problems(rnd))[:800]}"
            )
    finally:
        server.close()
    return rounds


def _problems(rnd: CrashRound) -> dict:
    d = asdict(rnd)
    return {
        k: v
        for k, v in d.items()
        if k
        in (
            "other_errors",
            "lost_creates",
            "lost_tags",
            "lost_stops",
            "half_written",
            "stuck_live",
            "list_problems",
            "http_5xx",
        )
        and v
    } | ({"integrity": rnd.integrity} if rnd.integrity != "ok" else {})


# -- SIGTERM in the middle of a burst -----------------------------------------------------------


class SlowRequest:
    """A CreateSession whose headers and half its body are sent, the rest held back: a request
    that is unmistakably in flight inside the server when the signal arrives."""

    def __init__(self, url: str, sid: str):
        u = urllib.parse.urlparse(url)
        self.sid = sid
        body = json.dumps(H.create_args(sid, Tags={"kind": "slow"})).encode()
        headers = H.sigv4_headers(u.netloc, body, H.glue_headers("CreateSession"), *H.DEV_KEY)
        headers["Content-Length"] = str(len(body))
        head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock = socket.create_connection((u.hostname, u.port), timeout=20)
        self.rest = body[len(body) // 2 :]
        self.sock.sendall(head.encode() + body[: len(body) // 2])

    def finish(self) -> tuple[int | None, str]:
        """Sends the rest; (HTTP status or None, what happened)."""
        try:
            self.sock.sendall(self.rest)
            resp = http.client.HTTPResponse(self.sock)
            resp.begin()
            data = resp.read()
            return resp.status, data[:200].decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as e:
            return None, f"{type(e).__name__}: {e}"
        finally:
            self.sock.close()


@dataclass
class SigtermRound:
    rep: int
    signal_after_s: float
    responses: int = 0
    http_5xx: int = 0
    # The request was written on an open keep-alive connection and no reply came.
    no_reply: int = 0
    no_reply_kinds: dict = field(default_factory=dict)  # exception class -> count
    no_reply_but_committed: list = field(default_factory=list)
    refused_after_close: int = 0  # new connections after the listener closed (expected)
    slow_sent: int = 0
    slow_completed: int = 0
    slow_failures: list = field(default_factory=list)
    exit_code: int | None = None
    exit_s: float = 0.0
    lost_creates: list = field(default_factory=list)
    integrity: str = ""

    @property
    def ok(self) -> bool:
        return (
            not self.http_5xx
            and not self.no_reply_but_committed
            and not self.slow_failures
            and self.exit_code == 0
            and self.exit_s <= 15
            and not self.lost_creates
            and self.integrity == "ok"
        )


def _sigterm_worker(url, rep, thread, acked, no_reply, rnd, lock, stop, deadline):
    conn = None
    seq = 0
    while not stop.is_set() and time.monotonic() < deadline:
        if conn is None:
            try:
                conn = H.RawGlue(url, timeout=20)
                conn.conn.connect()
            except OSError:
                with lock:
                    rnd.refused_after_close += 1
                return
        sid = f"term-{rep}-{thread}-{seq}"
        seq += 1
        op, body = (
            ("CreateSession", H.create_args(sid, Tags={"kind": "term"}))
            if seq % 2
            else ("ListSessions", {"MaxResults": 50})
        )
        try:
            status, _ = call(conn, op, body)
        except ConnectionRefusedError:
            # http.client reconnects by itself after a `Connection: close` reply: the listener
            # is closed by now, so this request never left the client.
            with lock:
                rnd.refused_after_close += 1
            return
        except (OSError, http.client.HTTPException) as e:
            # Written on a connection the server is closing: it never saw it, or it did and
            # the reply was lost. The second is a bug; the check after restart tells them apart.
            with lock:
                rnd.no_reply += 1
                kind = type(e).__name__
                rnd.no_reply_kinds[kind] = rnd.no_reply_kinds.get(kind, 0) + 1
                if op == "CreateSession":
                    no_reply.append(sid)
            conn.close()
            conn = None
            continue
        with lock:
            rnd.responses += 1
            if status >= 500:
                rnd.http_5xx += 1
            if status == 200 and op == "CreateSession":
                acked.append(sid)
    if conn is not None:
        conn.close()


def sigterm_round(
    binary=None, rep: int = 0, threads: int = 8, slow: int = 4, signal_after: float | None = None
) -> SigtermRound:
    """A burst from `threads` keep-alive clients plus `slow` half-sent requests, then SIGTERM."""
    signal_after = signal_after if signal_after is not None else random.uniform(0.3, 1.0)
    rnd = SigtermRound(rep=rep, signal_after_s=round(signal_after, 2))
    server = H.EpoxyServer(binary=binary, runtime="none")
    try:
        server.start()
        acked: list[str] = []
        no_reply: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()
        deadline = time.monotonic() + signal_after + 20
        workers = [
            threading.Thread(
                target=_sigterm_worker,
                daemon=True,
                args=(server.url, rep, t, acked, no_reply, rnd, lock, stop, deadline),
            )
            for t in range(threads)
        ]
        for w in workers:
            w.start()
        time.sleep(signal_after)
        slows = [SlowRequest(server.url, f"slow-{rep}-{i}") for i in range(slow)]
        rnd.slow_sent = len(slows)
        time.sleep(0.3)  # let the server read the heads: the handlers are now waiting for bodies
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        for s in slows:
            status, what = s.finish()
            if status == 200:
                rnd.slow_completed += 1
                acked.append(s.sid)
            else:
                rnd.slow_failures.append(f"{s.sid}: {status} {what}")
        try:
            rnd.exit_code = server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rnd.exit_code = None
        rnd.exit_s = round(time.monotonic() - t0, 2)
        stop.set()
        for w in workers:
            w.join(timeout=30)
        server.crash()  # bookkeeping only: the process is gone (or is killed now)
        server.start()
        present = set(list_everything(server.url, page=1000)[0])
        rnd.lost_creates = sorted(set(acked) - present)
        rnd.no_reply_but_committed = sorted(set(no_reply) & present)
        rnd.integrity = integrity_check(server.data_dir / "epoxy.db")
    finally:
        server.close()
    return rnd


def sigterm_stuck_client(binary=None) -> dict:
    """SIGTERM while one client never finishes its request body and another holds an idle
    connection: the grace period must still bound the exit."""
    server = H.EpoxyServer(binary=binary, runtime="none")
    try:
        server.start()
        stuck = SlowRequest(server.url, "stuck-1")
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        time.sleep(0.3)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            rc = server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = None
        took = round(time.monotonic() - t0, 2)
        stuck.sock.close()
        idle.close()
        server.crash()
        server.start()
        ids, problems = list_everything(server.url)
        return {
            "exit_code": rc,
            "exit_s": took,
            "stuck_create_stored": "stuck-1" in ids,
            "list_problems": problems,
            "integrity": integrity_check(server.data_dir / "epoxy.db"),
        }
    finally:
        server.close()


def sigterm_burst(binary=None, reps: int = 3, threads: int = 8, log=print) -> list[SigtermRound]:
    rounds = []
    for rep in range(reps):
        rnd = sigterm_round(binary, rep, threads)
        rounds.append(rnd)
        log(
            f"sigterm round {rep}: after {rnd.signal_after_s}s; {rnd.responses} replies, "
            f"{rnd.no_reply} unanswered on closing keep-alive connections "
            f"({len(rnd.no_reply_but_committed)} of them committed; {rnd.no_reply_kinds}), {rnd.refused_after_close} refused "
            f"after close, slow {rnd.slow_completed}/{rnd.slow_sent}, exit {rnd.exit_code} in "
            f"{rnd.exit_s}s, lost {len(rnd.lost_creates)}, integrity {rnd.integrity} -> "
            f"{'OK' if rnd.ok else 'PROBLEM ' + json.dumps(rnd.slow_failures)}"
        )
    return rounds


# -- disk faults --------------------------------------------------------------------------------


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def _remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False)


def can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    probe = Path(tempfile.mkdtemp(prefix="epoxy-mnt-probe-"))
    try:
        _mount_tmpfs(probe, "64k")
        _umount(probe)
        return True
    except (subprocess.CalledProcessError, OSError):
        return False
    finally:
        probe.rmdir()


def run_server_once(
    binary, data_dir: Path, *extra: str, timeout=20, user: int | None = None
) -> dict:
    """`epoxy serve --runtime none` on `data_dir` (as uid `user` if given): did it start (then one
    read and one write, and SIGTERM), and if not, its exit code, error message and stderr."""
    binary = str(binary or H.default_binary())
    cmd = [
        binary,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        str(data_dir),
        "--runtime",
        "none",
        *extra,
    ]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPOXY_")}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL
    )
    try:
        first = proc.stdout.readline().decode()
        if first.startswith("epoxy: listening on"):
            # It serves: what do a read and a write get?
            conn = H.RawGlue(first.split()[-1])
            try:
                r = conn.send("ListSessions", {})
                w = conn.send("CreateSession", H.create_args("after-ro-start"))
                wj = w.json() if w.body else {}
                got = {
                    "read": r.status,
                    "write": [w.status, wj.get("__type"), (wj.get("Message") or "")[:160]],
                }
            finally:
                conn.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
            return {"started": True, **got}
        rc = proc.wait(timeout=timeout)
        stderr = proc.stderr.read().decode(errors="replace")
        err = stderr.strip().splitlines()
        # anyhow prints "Error: <context>" then "Caused by:" lines (and a backtrace if
        # RUST_BACKTRACE is set): keep the error and its causes.
        keep, on = [], False
        for line in err:
            if line.startswith("Error:"):
                on = True
            elif on and line.startswith("Stack backtrace"):
                break
            if on and line.strip():
                keep.append(line.strip())
        return {
            "started": False,
            "exit_code": rc,
            "message": " | ".join(keep) or (err[-1] if err else ""),
            "stderr": stderr,
        }
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _brief(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "stderr"}


def _chattr(flag: str, paths) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=False, stderr=subprocess.DEVNULL)


def readonly_data_dir(binary=None) -> dict:
    """A data dir that cannot be written, in four ways:
    (a) a fresh (empty) dir on a read-only mount, (b) an existing data dir on a read-only mount,
    (c) epoxy run as `nobody` with a root-owned 0555 data dir, all at startup; and
    (d) `chattr +i` on the data dir, epoxy.db and epoxy.db-wal under a running server (remount
    read-only is refused while the server has the database open for writing), then `chattr -i`.
    chmod 555 alone does nothing to a root process, hence (c) and (d)."""
    root = Path(tempfile.mkdtemp(prefix="epoxy-ro-"))
    mnt = root / "mnt"
    out: dict = {}
    try:
        _mount_tmpfs(mnt, "16m")
        _remount(mnt, "ro")
        out["fresh_dir_on_ro_mount"] = _brief(run_server_once(binary, mnt))
        _remount(mnt, "rw")
        server = H.EpoxyServer(binary=binary, runtime="none", data_dir=mnt / "data")
        try:
            server.start()
            conn = H.RawGlue(server.url)
            for i in range(5):
                call(conn, "CreateSession", H.create_args(f"ro-{i}"))
            conn.close()
            server.stop()
            _remount(mnt, "ro")
            out["existing_dir_on_ro_mount"] = _brief(run_server_once(binary, mnt / "data"))
            _remount(mnt, "rw")
        finally:
            server.close()
    finally:
        _umount(mnt)

    fresh = root / "nobody-555"
    fresh.mkdir(mode=0o555)
    fresh.chmod(0o555)
    root.chmod(0o755)
    out["nobody_with_0555_dir"] = _brief(run_server_once(binary, fresh, user=65534))

    data = root / "immutable"
    server = H.EpoxyServer(binary=binary, runtime="none", data_dir=data)
    locked = [data, data / "epoxy.db", data / "epoxy.db-wal", data / "logs"]
    try:
        server.start()
        conn = H.RawGlue(server.url)
        for i in range(20):
            status, _ = call(conn, "CreateSession", H.create_args(f"ro-{i}", Tags={"n": str(i)}))
            assert status == 200, status
        _chattr("+i", locked)
        writes = {}
        for op, body in (
            ("CreateSession", H.create_args("ro-new", Tags={"n": "new"})),
            ("TagResource", {"ResourceArn": H.session_arn("ro-1"), "TagsToAdd": {"x": "y"}}),
            ("StopSession", {"Id": "ro-2"}),
            ("DeleteSession", {"Id": "ro-3"}),
        ):
            status, body_ = call(conn, op, body)
            writes[op] = [status, body_.get("__type"), (body_.get("Message") or "")[:200]]
        reads = {
            op: call(conn, op, body)[0]
            for op, body in (
                ("GetSession", {"Id": "ro-1"}),
                ("ListSessions", {}),
                ("GetTags", {"ResourceArn": H.session_arn("ro-1")}),
            )
        }
        health = health_status(server.url)
        out["immutable_while_running"] = {
            "writes": writes,
            "reads": reads,
            "health": health,
            "alive": server.proc.poll() is None,
        }
        _chattr("-i", locked)
        status, b1 = call(conn, "CreateSession", H.create_args("ro-after", Tags={"n": "after"}))
        status2, b2 = call(
            conn, "TagResource", {"ResourceArn": H.session_arn("ro-1"), "TagsToAdd": {"x": "after"}}
        )
        conn.close()
        ids, problems = list_everything(server.url)
        tags = H.RawGlue(server.url).send("GetTags", {"ResourceArn": H.session_arn("ro-1")}).json()
        out["writable_again"] = {
            "create": [status, b1.get("__type")],
            "tag": [status2, b2.get("__type")],
            "sessions": len(ids),
            "list_problems": problems,
            "failed_create_absent": "ro-new" not in ids,
            "failed_delete_kept": "ro-3" in ids,
            "ro-1 tags": tags.get("Tags"),
        }
        server.stop()
        out["integrity"] = integrity_check(data / "epoxy.db")
    finally:
        _chattr("-i", locked)
        server.close()
        shutil.rmtree(root, ignore_errors=True)
    return out


def full_disk(binary=None, size="2m") -> dict:
    """Data dir on a `size` tmpfs; fill it with sessions (big DefaultArguments) and a filler file,
    check the errors and that the server stays up; free the space; check nothing is corrupt."""
    root = Path(tempfile.mkdtemp(prefix="epoxy-full-"))
    mnt = root / "mnt"
    out: dict = {}
    _mount_tmpfs(mnt, size)
    server = H.EpoxyServer(binary=binary, runtime="none", data_dir=mnt / "data")
    try:
        server.start()
        glue = H.RawGlue(server.url)
        big = {f"--k{i}": "v" * 4000 for i in range(20)}  # ~80 kB per session
        acked, refused, first_error, errors = [], [], None, {}
        for i in range(200):  # bounded: 2 MiB is full long before
            sid = f"full-{i}"
            status, data = call(
                glue, "CreateSession", H.create_args(sid, DefaultArguments=big, Tags={"n": str(i)})
            )
            if status == 200:
                acked.append(sid)
                continue
            refused.append(sid)
            key = (status, data.get("__type"))
            errors[str(key)] = errors.get(str(key), 0) + 1
            first_error = first_error or (
                status,
                data.get("__type"),
                (data.get("Message") or "")[:200],
            )
            if sum(errors.values()) >= 5:
                break
        # Fill what is left, in case the store got below the last page.
        filler = mnt / "filler"
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 65536)
        except OSError:
            pass
        more = {}
        for op, body in (
            ("CreateSession", H.create_args("full-x", Tags={"n": "x"})),
            ("TagResource", {"ResourceArn": H.session_arn(acked[0]), "TagsToAdd": {"y": "1"}}),
            ("StopSession", {"Id": acked[0]}),
        ):
            status, data = call(glue, op, body)
            more[op] = (status, data.get("__type"), (data.get("Message") or "")[:160])
        reads = {
            op: call(glue, op, body)[0]
            for op, body in (
                ("GetSession", {"Id": acked[-1]}),
                ("ListSessions", {"MaxResults": 10}),
            )
        }
        out["while_full"] = {
            "acked_before_full": len(acked),
            "first_error": first_error,
            "error_counts": errors,
            "writes_when_full": more,
            "reads": reads,
            "alive": server.proc.poll() is None,
        }
        filler.unlink()
        time.sleep(0.2)
        status, data = call(glue, "CreateSession", H.create_args("full-after", Tags={"n": "after"}))
        ids, problems = list_everything(server.url)
        missing = sorted(set(acked) - set(ids))
        out["after_freeing"] = {
            "create": (status, data.get("__type")),
            "sessions": len(ids),
            "lost_acked": missing,
            "list_problems": problems,
            "refused_but_stored": sorted(set(refused) & set(ids)),
        }
        glue.close()
        server.stop()
        out["integrity"] = integrity_check(mnt / "data" / "epoxy.db")
        server.start()
        out["restart_sessions"] = len(list_everything(server.url)[0])
        server.stop()
    finally:
        server.close()
        _umount(mnt)
        shutil.rmtree(root, ignore_errors=True)
    return out


# -- command line -------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("scenario", choices=["crash", "sigterm", "disk", "all"])
    ap.add_argument("--reps", type=int, default=None, help="rounds (crash: 20, sigterm: 5)")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--epoxy-bin", default=None)
    ap.add_argument("--json", default=None, help="write the raw results here")
    args = ap.parse_args(argv)
    binary = args.epoxy_bin or H.default_binary()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    results: dict = {"binary": str(binary)}
    bad = 0
    if args.scenario in ("crash", "all"):
        t0 = time.monotonic()
        rounds = crash_burst(binary, args.reps or 20, args.threads, log)
        bad += sum(not r.ok for r in rounds)
        results["crash"] = [asdict(r) for r in rounds]
        log(
            f"crash: {len(rounds)} rounds, {sum(r.ok for r in rounds)} clean, "
            f"{sum(r.acked_creates for r in rounds)} creates and {sum(r.acked_tag_writes for r in rounds)} "
            f"tag writes acknowledged, {sum(r.unacknowledged for r in rounds)} in flight at the kill, "
            f"{sum(r.acked_stops for r in rounds)} stops acknowledged, "
            f"{sum(len(r.lost_creates) + len(r.lost_tags) + len(r.lost_stops) for r in rounds)} lost, "
            f"{sum(len(r.half_written) for r in rounds)} half-written, "
            f"{sum(len(r.stuck_live) for r in rounds)} stuck; {time.monotonic() - t0:.0f}s"
        )
    if args.scenario in ("sigterm", "all"):
        rounds = sigterm_burst(binary, args.reps or 5, args.threads, log)
        bad += sum(not r.ok for r in rounds)
        results["sigterm"] = [asdict(r) for r in rounds]
        results["sigterm_stuck_client"] = sigterm_stuck_client(binary)
        log(
            f"sigterm with a client that never finishes its body: {results['sigterm_stuck_client']}"
        )
    if args.scenario in ("disk", "all"):
        if not can_mount():
            log("disk: skipped (needs root and mount(8))")
        else:
            results["readonly"] = readonly_data_dir(binary)
            log("read-only data dir: " + json.dumps(results["readonly"], indent=1))
            results["full"] = full_disk(binary)
            log("full disk: " + json.dumps(results["full"], indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=list))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
