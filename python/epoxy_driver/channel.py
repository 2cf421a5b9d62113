"""The driver's side of its channel to epoxy: a Unix socket the driver listens on, and
optionally a TCP port (`EPOXY_DRIVER_TCP`: an IP to listen on, port 0) for an epoxy node on
another host that adopts the session.  The same handshake and limits apply on both; a TCP peer
is anyone on the network, so its handshakes are also capped in number, and TCP connections
use keepalive so that a dead controller host counts as detached (for the orphan timer).
Frames are authenticated, not encrypted: TCP is for a private network.

The driver listens (rather than dialling epoxy) so that it owns its address: an epoxy that
restarts finds every driver at the socket its store recorded, and a driver needs to know
nothing about where epoxy now runs.  One controller is attached at a time; a newer one that
authenticates replaces the older.

Controllers are fenced by epoch: the epoxy node that owns the session says its ownership
epoch in the handshake, the driver keeps the highest it ever accepted and refuses a lower one.
An adopting node (higher epoch) thus takes the driver over, and the node it replaced, if it was
only paused, cannot attach again when it wakes up.

Frames are JSON lines.  Handshake (the secret itself never crosses the socket):
  driver     -> {"hello": 2, "nonce": Nd}
  controller -> {"auth": HMAC(secret, "controller:" Nd ":" Nc ":" E), "nonce": Nc, "ack": n,
                 "epoch": E}
  driver     -> {"welcome": HMAC(secret, "driver:" Nc ":" Nd ":" E), "last_run": id|null,
                 "pid": p, "epoch": E, "tcp": port|null}
             or {"refused": "superseded", "epoch": H, "proof": HMAC(secret, "refused:" Nc ":" Nd
                 ":" H)} when E < H, the highest epoch accepted so far; the connection is closed.
A controller that fails to authenticate gets no answer at all: the connection is closed.
then events {"seq": k, "event": ...} one way, commands {"op": ...} and acks {"op": "ack",
"seq": k} the other.  Events are kept until acknowledged and replayed, in order, to the next
controller: a result produced while epoxy was down is delivered when it comes back.
"""

import errno
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import socket
import threading
import time

log = logging.getLogger("epoxy_driver.channel")

PROTOCOL = 2
HANDSHAKE_TIMEOUT = 10.0  # seconds a connecting controller gets to authenticate
HANDSHAKE_LIMIT = 4096  # bytes of the controller's auth frame
COMMAND_LIMIT = 16 * 1024 * 1024  # bytes of one command line (a statement's code)
TCP_HANDSHAKES = 16  # TCP connections that may be authenticating at once; more are closed
KEEPALIVE = (10, 5, 3)  # TCP: idle seconds before probing, seconds between probes, probes
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_TRANSIENT = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED}


def mac(secret, role, *parts):
    """HMAC-SHA256 (hex) over "role:part:part..."; both sides compute it, neither sends the key."""
    message = ":".join([role, *map(str, parts)]).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def valid_auth(frame):
    """True if a controller's auth frame has every field with the right type and form."""
    if not isinstance(frame, dict):
        return False
    auth, nonce, ack = frame.get("auth"), frame.get("nonce"), frame.get("ack")
    return (
        _count(ack)
        and _count(frame.get("epoch"))
        and isinstance(auth, str)
        and bool(_HEX64.match(auth))
        and isinstance(nonce, str)
        and bool(_HEX64.match(nonce))
    )


def _count(value):
    """An integer in [0, 2**63) (JSON true/false are not): what both stores can hold."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _line(obj):
    # ensure_ascii=False then "replace": a lone surrogate in user output becomes "?" instead
    # of an escape that strict JSON parsers reject.
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8", "replace")


class Channel:
    """Events to whichever controller is attached (kept until acknowledged), commands from it.

    `on_command(msg)` gets every command (a dict) but acks; `last_run()` names the newest
    statement the driver received, so that a controller that re-attaches can resend one it
    recorded as sent but the driver never got.
    """

    def __init__(self, path, secret, on_command, last_run, tcp_host=None):
        self._secret = secret.encode()
        self._on_command = on_command
        self._last_run = last_run
        self._lock = threading.Lock()  # events come from several threads
        self._changed = threading.Condition(self._lock)
        self._pending = []  # [(seq, bytes)] sent or not, not acknowledged yet
        self._progress_seq = {}  # statement id → seq of its latest progress event
        self._seq = 0
        self._conn = None
        self._epoch = 0  # the highest epoch a controller attached with
        self.detached_since = time.monotonic()
        try:
            os.unlink(path)  # a stale socket of a dead driver at our address
        except FileNotFoundError:
            pass
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is the owner's only
        try:
            self._listener.bind(path)
        finally:
            os.umask(old_umask)
        self._listener.listen(4)
        self.tcp_port = None
        self._handshakes = threading.BoundedSemaphore(TCP_HANDSHAKES)
        if tcp_host is not None:
            self._tcp = _tcp_listener(tcp_host)
            self.tcp_port = self._tcp.getsockname()[1]
            log.info("channel listening on TCP %s port %d", tcp_host, self.tcp_port)
            threading.Thread(
                target=self._accept, args=(self._tcp, True), name="channel-tcp", daemon=True
            ).start()
        threading.Thread(
            target=self._accept, args=(self._listener, False), name="channel-accept", daemon=True
        ).start()

    # --- events ----------------------------------------------------------

    def send(self, event, **fields):
        with self._lock:
            self._seq += 1
            data = _line({"seq": self._seq, "event": event, **fields})
            if event == "progress":
                # A statement's newer progress supersedes its older: what waits unacknowledged
                # (while epoxy is away, say) stays one progress event per statement. Acks are
                # cumulative, so the gap in sequence numbers is nothing to epoxy.
                older = self._progress_seq.pop(fields.get("id"), None)
                if older is not None:
                    self._pending = [(s, d) for s, d in self._pending if s != older]
                self._progress_seq[fields.get("id")] = self._seq
            self._pending.append((self._seq, data))
            if self._conn is not None:
                try:
                    self._conn.sendall(data)
                except OSError as exc:
                    log.warning("controller connection broken (%s); events kept for the next", exc)
                    self._drop_locked(self._conn)
        if event != "progress":
            log.info("sent %s", _summary(fields, event))

    def attached(self):
        with self._lock:
            return self._conn is not None

    def wait_delivered(self, timeout):
        """Waits until every event is acknowledged (before exiting after a failure)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def _ack(self, seq):
        with self._lock:
            self._acked_locked(seq)
            self._changed.notify_all()

    def _acked_locked(self, seq):
        """Forgets the events up to `seq` (acks are cumulative); the lock is held."""
        self._pending = [(s, d) for s, d in self._pending if s > seq]
        self._progress_seq = {i: s for i, s in self._progress_seq.items() if s > seq}

    # --- controllers -----------------------------------------------------

    def _accept(self, listener, tcp):
        while True:
            try:
                conn, peer = listener.accept()
            except OSError as exc:
                if exc.errno in _TRANSIENT:  # out of fds (a flood) or a peer gone: go on
                    log.warning("channel accept failed (%s); retrying", exc)
                    time.sleep(0.1)
                    continue
                log.error("channel listener failed (%s)", exc)
                return
            # Unix peers are the owner's (the socket is 0600); TCP ones are capped.
            if tcp and not self._handshakes.acquire(blocking=False):
                log.warning("refusing a TCP connection from %s: too many handshakes", peer)
                _close(conn)
                continue
            if tcp:
                _keepalive(conn)
            threading.Thread(
                target=self._serve, args=(conn, tcp), name="channel-controller", daemon=True
            ).start()

    def _serve(self, conn, tcp):
        try:
            reader = conn.makefile("rb")
            welcomed = self._handshake(conn, reader)
        except (OSError, ValueError) as exc:
            log.warning("controller handshake failed (%s)", exc)
            welcomed = False
        finally:
            if tcp:
                self._handshakes.release()
        if not welcomed:
            _close(conn)
            return
        try:
            while True:
                line = reader.readline(COMMAND_LIMIT + 1)
                if not line:
                    break
                if len(line) > COMMAND_LIMIT:
                    log.warning("controller sent an oversized command; dropping the connection")
                    break
                self._handle(line)
        except OSError as exc:
            log.warning("controller connection failed (%s)", exc)
        with self._lock:
            self._drop_locked(conn)

    def _handshake(self, conn, reader):
        conn.settimeout(HANDSHAKE_TIMEOUT)
        nonce = secrets.token_hex(32)
        conn.sendall(_line({"hello": PROTOCOL, "nonce": nonce}))
        raw = reader.readline(HANDSHAKE_LIMIT + 1)
        try:
            frame = json.loads(raw.decode("utf-8")) if len(raw) <= HANDSHAKE_LIMIT else None
        except ValueError:
            frame = None
        if not valid_auth(frame):
            log.warning("refusing a controller: malformed handshake")
            return False
        epoch = frame["epoch"]
        expected = mac(self._secret, "controller", nonce, frame["nonce"], epoch)
        if not hmac.compare_digest(expected, frame["auth"]):
            log.warning("refusing a controller: wrong key")
            return False
        welcome = {
            "welcome": mac(self._secret, "driver", frame["nonce"], nonce, epoch),
            "last_run": self._last_run(),
            "pid": os.getpid(),
            "epoch": epoch,
            "tcp": self.tcp_port,
        }
        with self._lock:
            if epoch < self._epoch:
                highest = self._epoch
                proof = mac(self._secret, "refused", frame["nonce"], nonce, highest)
                refusal = {"refused": "superseded", "epoch": highest, "proof": proof}
                conn.sendall(_line(refusal))
                log.warning("refusing a controller of epoch %d: superseded by %d", epoch, highest)
                return False
            conn.settimeout(None)
            self._epoch = epoch
            old, self._conn = self._conn, conn
            self._acked_locked(frame["ack"])
            conn.sendall(_line(welcome))
            for _, data in self._pending:
                conn.sendall(data)
            log.info(
                "controller of epoch %d attached; replayed %d events", epoch, len(self._pending)
            )
        if old is not None:
            _close(old)
        return True

    def _handle(self, line):
        if not line.strip():
            return
        try:
            msg = json.loads(line.decode("utf-8"))
        except ValueError:
            log.warning("ignoring unparseable command %r", line[:200])
            return
        if isinstance(msg, dict) and msg.get("op") == "ack":
            seq = msg.get("seq")
            if isinstance(seq, int) and not isinstance(seq, bool):
                self._ack(seq)
            return
        try:
            self._on_command(msg)
        except Exception:  # never let a bad command kill the reader
            log.exception("error handling command %r", line[:200])

    def _drop_locked(self, conn):
        if self._conn is conn:
            self._conn = None
            self.detached_since = time.monotonic()
            log.info("controller detached")
        _close(conn)


def _tcp_listener(host):
    """A TCP socket listening on `host` (an IP address), on a port the kernel picks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(16)
    return listener


def _keepalive(conn):
    idle, interval, probes = KEEPALIVE
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, probes)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _close(conn):
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def _summary(fields, event):
    brief = {k: v for k, v in fields.items() if k not in ("text", "traceback", "picture")}
    if "text" in fields:
        brief["text_chars"] = len(fields["text"])
    return f"{event} {json.dumps(brief, ensure_ascii=False)[:300]}"
