"""Start and talk to a real `epoxy` binary from Python.

Shared by conftest.py (fixtures), the test modules and benches/list_sessions.py,
so that every end-to-end check drives the same process the way a user would:
spawn `epoxy serve --listen 127.0.0.1:0`, read the one "listening" line from
stdout, then speak AWS JSON 1.1 through boto3, the AWS CLI or raw signed HTTP.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import deque
from pathlib import Path

import boto3
from botocore.config import Config

import postgres_cluster

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTENING_RE = re.compile(r"^epoxy: listening on (http://\S+)\s*$")
READY_TIMEOUT_S = 30.0
REGION = "us-east-1"
OPEN_ACCOUNT = "000000000000"
DEFAULT_ROLE = "arn:aws:iam::123456789012:role/GlueInteractiveSessionRole"
DEV_KEY = ("AKIDEXAMPLEOPENMODE01", "open-mode-secret")

# Two accounts used by the auth fixtures (`auth_server`).
ACCOUNT_A = {
    "access_key_id": "AKIAAAAAAAAAAAAAAAAA",
    "secret_access_key": "secretA",
    "account_id": "111111111111",
    "user_arn": "arn:aws:iam::111111111111:user/alice",
}
ACCOUNT_B = {
    "access_key_id": "AKIABBBBBBBBBBBBBBBB",
    "secret_access_key": "secretB",
    "account_id": "222222222222",
}

# Every server this process started and has not stopped on purpose; the
# conftest hooks use it to attach stderr tails to failures and to notice crashes.
LIVE_SERVERS: list[EpoxyServer] = []


def default_binary(profile: str = "debug") -> Path:
    """`EPOXY_BIN` if set, else `<repo>/target/<profile>/epoxy`."""
    env = os.environ.get("EPOXY_BIN")
    return Path(env) if env else REPO_ROOT / "target" / profile / "epoxy"


def write_accounts_file(path: Path, accounts: list[dict]) -> Path:
    """Write the `--accounts` TOML file for the given account dicts."""
    lines = []
    for acct in accounts:
        lines.append("[[account]]")
        for key in ("access_key_id", "secret_access_key", "account_id", "user_arn"):
            if key in acct:
                lines.append(f"{key} = {json.dumps(acct[key])}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def kill_processes_of(data_dir: Path) -> None:
    """SIGKILLs every process whose environment points into `data_dir` (drivers, their JVMs)."""
    marker = str(data_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            continue


def free_port() -> int:
    """A loopback port free now, for a server that must know its URL before it starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerDied(RuntimeError):
    """The server exited (or never printed its listening line)."""


class EpoxyServer:
    """One `epoxy serve` child process with its own data directory.

    `restart()` keeps the data dir and the arguments (the port may change),
    which is how the persistence tests prove that state lives on disk.
    """

    def __init__(
        self,
        binary: Path | str | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
        data_dir: Path | str | None = None,
        runtime: str | None = "none",
        accounts: list[dict] | None = None,
        ready_timeout: float = READY_TIMEOUT_S,
        env: dict | None = None,
    ):
        self.binary = Path(binary) if binary else default_binary()
        self._own_tmp = tempfile.mkdtemp(prefix="epoxy-e2e-")
        self.data_dir = Path(data_dir) if data_dir else Path(self._own_tmp) / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.accounts = accounts
        self.accounts_file = None
        if accounts is not None:
            self.accounts_file = write_accounts_file(
                Path(self._own_tmp) / "accounts.toml", accounts
            )
        self.args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        if self.accounts_file:
            self.args += ["--accounts", str(self.accounts_file)]
        if runtime:
            self.args += ["--runtime", runtime]
        self.args += list(extra_args)
        # EPOXY_TEST_STORE=postgres: the same tests on a PostgreSQL database of this server's own
        # (kept across restart(), like the data dir); EPOXY_TEST_NODES=2: and a second node on it.
        nodes = os.environ.get("EPOXY_TEST_NODES", "1")
        if nodes not in ("1", "2") or (nodes == "2" and not postgres_cluster.enabled()):
            raise ValueError("EPOXY_TEST_NODES is 1 or 2; 2 needs EPOXY_TEST_STORE=postgres")
        self.peer: EpoxyServer | None = None
        if postgres_cluster.enabled() and "--store" not in self.args:
            self.args += ["--store", postgres_cluster.fresh_database_url()]
            if nodes == "2":
                self.peer = self._second_node(binary, runtime, extra_args, ready_timeout, env)
        self.ready_timeout = ready_timeout
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.stderr_path = Path(self._own_tmp) / "stderr-0.log"
        self._starts = 0
        self._stdout_tail: deque[str] = deque(maxlen=50)
        self._stopped_on_purpose = True

    def _second_node(self, binary, runtime, extra_args, ready_timeout, env) -> EpoxyServer:
        """EPOXY_TEST_NODES=2: make this server node B of two on its database and return node A,
        started before it with 4 more capacity slots, so that B's sessions get their drivers on
        A and every statement, stop and log read at B crosses to A. Both get fixed ports (a
        node advertises its URL to the other)."""
        store = self.args[self.args.index("--store") + 1]

        def as_node(srv: EpoxyServer) -> None:
            port = free_port()
            srv.args[srv.args.index("--listen") + 1] = f"127.0.0.1:{port}"
            srv.args += ["--advertise-url", f"http://127.0.0.1:{port}"]

        as_node(self)
        args, capacity, it = [], 4, iter(extra_args)
        for arg in it:
            if arg == "--capacity":
                capacity = int(next(it))
            elif arg in ("--listen", "--metastore-listen"):
                next(it)
            else:
                args.append(arg)
        peer = EpoxyServer(
            binary,
            [*args, "--capacity", str(capacity + 4), "--store", store],
            runtime=runtime,
            accounts=self.accounts,
            ready_timeout=ready_timeout,
            env=env,
        )
        as_node(peer)
        return peer

    # -- process lifecycle -------------------------------------------------
    @property
    def port(self) -> int:
        return urllib.parse.urlparse(self.url).port

    @property
    def host(self) -> str:
        return urllib.parse.urlparse(self.url).netloc

    def start(self) -> EpoxyServer:
        if not self.binary.exists():
            raise ServerDied(
                f"epoxy binary not found at {self.binary} (build it, or set EPOXY_BIN)"
            )
        if self.peer is not None and (self.peer.proc is None or self.peer.proc.poll() is not None):
            self.peer.start()
        self._starts += 1
        self.stderr_path = Path(self._own_tmp) / f"stderr-{self._starts}.log"
        stderr_f = open(self.stderr_path, "wb")
        # The server reads EPOXY_* variables as defaults for its flags (EPOXY_ACCOUNTS would turn
        # on SigV4 in an "open" fixture): only what this harness passes may configure it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("EPOXY_")}
        # One jars dir for every test server, so the pinned jars are fetched once per checkout.
        env["EPOXY_JARS_DIR"] = os.environ.get(
            "EPOXY_TEST_JARS_DIR", str(REPO_ROOT / "target" / "test-runtime" / "runtime" / "jars")
        )
        env.setdefault("RUST_BACKTRACE", "1")
        env.setdefault("NO_COLOR", "1")
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(
            [str(self.binary), *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_f,
            env=env,
        )
        stderr_f.close()
        found: dict[str, str] = {}
        got_line = threading.Event()

        def pump(stream, proc=self.proc):
            # Keep draining stdout for the life of the process so it never blocks on a full pipe.
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self._stdout_tail.append(line)
                if "url" not in found:
                    m = LISTENING_RE.match(line)
                    if m:
                        found["url"] = m.group(1).rstrip("/")
                        got_line.set()
            got_line.set()

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + self.ready_timeout
        while not got_line.wait(0.05):
            if time.monotonic() > deadline:
                self._kill()
                raise ServerDied(
                    f"epoxy did not print 'epoxy: listening on http://...' within "
                    f"{self.ready_timeout:.0f}s\n{self.describe()}"
                )
        if "url" not in found:
            self.proc.wait(timeout=5)
            raise ServerDied(
                f"epoxy exited before listening (rc={self.proc.returncode})\n{self.describe()}"
            )
        self.url = found["url"]
        self._stopped_on_purpose = False
        if self not in LIVE_SERVERS:
            LIVE_SERVERS.append(self)
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait for a graceful exit (SIGKILL after `timeout`); returns the exit code."""
        self._stopped_on_purpose = True
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise ServerDied(f"epoxy ignored SIGTERM for {timeout}s\n{self.describe()}")

    def restart(self) -> EpoxyServer:
        rc = self.stop()
        if rc not in (0, None):
            raise ServerDied(f"epoxy exited with {rc} on SIGTERM\n{self.describe()}")
        return self.start()

    def crash(self) -> None:
        """SIGKILL (no chance to flush or clean up), as a power cut of the process would be."""
        self._stopped_on_purpose = True
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        self._kill()

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def close(self):
        """Teardown: stop, kill if needed, kill the sessions' drivers (they outlive the server
        on purpose, to be re-attached by its next start), remove the temp dir."""
        try:
            self.stop()
        finally:
            self._kill()
            kill_processes_of(self.data_dir)
            shutil.rmtree(self._own_tmp, ignore_errors=True)
            if self.peer is not None:
                self.peer.close()

    def died_unexpectedly(self) -> bool:
        return (
            (not self._stopped_on_purpose)
            and self.proc is not None
            and self.proc.poll() is not None
        )

    def stderr_tail(self, lines: int = 40) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "<no stderr>"
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        rc = None if self.proc is None else self.proc.poll()
        return (
            f"epoxy {' '.join(self.args)} (url={self.url}, rc={rc})\n"
            f"--- stdout tail ---\n" + "\n".join(self._stdout_tail) + "\n"
            f"--- stderr tail ({self.stderr_path}) ---\n{self.stderr_tail()}"
        )

    # -- clients -----------------------------------------------------------
    def glue(self, access_key=None, secret=None, region=REGION, **cfg):
        return glue_client(self.url, access_key, secret, region, **cfg)

    def sts(self, access_key=None, secret=None, region=REGION, **cfg):
        return sts_client(self.url, access_key, secret, region, **cfg)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def client_config(**overrides) -> Config:
    """No client-side validation (the server's is under test) and no retries (a 5xx shows)."""
    kwargs = dict(
        parameter_validation=False,
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=16,
    )
    kwargs.update(overrides)
    return Config(**kwargs)


_SESSIONS: dict[tuple, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def _client(service, url, access_key, secret, region, **cfg):
    access_key = access_key or DEV_KEY[0]
    secret = secret or DEV_KEY[1]
    # Creating clients is not thread-safe, using them is. Reusing one boto3 Session per
    # credential set keeps the (large) Glue model loaded once, so a client costs milliseconds.
    key = (access_key, secret, region)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = boto3.session.Session(
                aws_access_key_id=access_key, aws_secret_access_key=secret, region_name=region
            )
        return session.client(service, endpoint_url=url, config=client_config(**cfg))


def glue_client(url, access_key=None, secret=None, region=REGION, **cfg):
    return _client("glue", url, access_key, secret, region, **cfg)


def sts_client(url, access_key=None, secret=None, region=REGION, **cfg):
    return _client("sts", url, access_key, secret, region, **cfg)


def awscli(url: str, home: Path):
    """`run(*args, check=True)`: the AWS CLI (`python -m awscli`) against `url`, with a private
    empty config in `home`; returns the parsed JSON output (or, unchecked, the process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="AKIACLITESTKEY000000",
        AWS_SECRET_ACCESS_KEY="cli-secret",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_PAGER="",
        HOME=str(home),
    )

    def run(*args, check=True):
        cmd = [
            sys.executable,
            "-m",
            "awscli",
            *args,
            "--endpoint-url",
            url,
            "--region",
            REGION,
            "--output",
            "json",
        ]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
        if check:
            assert p.returncode == 0, (
                f"{' '.join(args)} → rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}"
            )
            return json.loads(p.stdout) if p.stdout.strip() else {}
        return p

    return run


# -- raw signed HTTP -----------------------------------------------------------


def amz_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def sigv4_headers(
    host: str,
    body: bytes,
    headers: dict[str, str],
    access_key: str,
    secret: str,
    region: str = REGION,
    service: str = "glue",
    amz_date: str | None = None,
    method: str = "POST",
    path: str = "/",
) -> dict[str, str]:
    """Return `headers` plus Host, X-Amz-Date and a SigV4 Authorization over all of them.

    Written out (rather than botocore.auth) so tests can choose the date and sign
    requests botocore would never build (wrong content type, no target, ...).
    """
    amz_date = amz_date or amz_now()
    out = dict(headers)
    out["Host"] = host
    out["X-Amz-Date"] = amz_date
    signed = sorted((k.lower(), " ".join(str(v).strip().split())) for k, v in out.items())
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in signed)
    signed_names = ";".join(k for k, _ in signed)
    canonical = "\n".join(
        [method, path, "", canonical_headers, signed_names, hashlib.sha256(body).hexdigest()]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_names}, Signature={sig}"
    )
    return out


def glue_headers(target: str | None, content_type="application/x-amz-json-1.1") -> dict[str, str]:
    h = {}
    if content_type is not None:
        h["Content-Type"] = content_type
    if target is not None:
        h["X-Amz-Target"] = target if "." in target else f"AWSGlue.{target}"
    return h


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers.get('content-type')} {self.body[:300]!r}>"


class RawGlue:
    """A keep-alive HTTP/1.1 connection that sends signed (or unsigned) raw requests."""

    def __init__(self, url: str, access_key=None, secret=None, region=REGION, timeout=30):
        u = urllib.parse.urlparse(url)
        self.host = u.netloc
        self.access_key = access_key or DEV_KEY[0]
        self.secret = secret or DEV_KEY[1]
        self.region = region
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)

    def send(
        self,
        target: str | None,
        body: bytes | str | dict | list = b"{}",
        content_type="application/x-amz-json-1.1",
        sign=True,
        service="glue",
        amz_date=None,
        extra_headers: dict | None = None,
        method="POST",
        path="/",
    ) -> RawResponse:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = glue_headers(target, content_type)
        headers.update(extra_headers or {})
        if sign:
            headers = sigv4_headers(
                self.host,
                body,
                headers,
                self.access_key,
                self.secret,
                self.region,
                service=service,
                amz_date=amz_date,
                method=method,
                path=path,
            )
        else:
            headers["Host"] = self.host
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, dict(resp.getheaders()), data)

    @property
    def sock(self):
        return self.conn.sock

    def close(self):
        self.conn.close()


# -- Glue helpers shared by the test modules ----------------------------------

VALIDATION_CODES = ("InvalidInputException", "ValidationException")


def session_arn(session_id: str, account: str = OPEN_ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:glue:{region}:{account}:session/{session_id}"


def create_args(session_id: str, **overrides) -> dict:
    """A minimal valid CreateSession request; `overrides` replace or add members (None removes)."""
    args = {
        "Id": session_id,
        "Role": DEFAULT_ROLE,
        "Command": {"Name": "glueetl", "PythonVersion": "3"},
    }
    for k, v in overrides.items():
        if v is None:
            args.pop(k, None)
        else:
            args[k] = v
    return args


def create_session(glue, session_id: str, **overrides) -> dict:
    return glue.create_session(**create_args(session_id, **overrides))["Session"]


def error_of(excinfo_or_exc) -> tuple[str, str, int]:
    """(code, message, http status) of a botocore ClientError."""
    exc = getattr(excinfo_or_exc, "value", excinfo_or_exc)
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return err.get("Code"), err.get("Message", ""), status


def expect_client_error(fn, codes, *args, **kwargs):
    """Call fn; assert it raises a ClientError whose code is in `codes`. Returns (code, message, status)."""
    from botocore.exceptions import ClientError

    if isinstance(codes, str):
        codes = (codes,)
    try:
        result = fn(*args, **kwargs)
    except ClientError as exc:
        code, msg, status = error_of(exc)
        assert code in codes, f"expected one of {codes}, got {code} (HTTP {status}): {msg!r}"
        assert status is not None and 400 <= status < 500, (
            f"{code} came with HTTP {status}, want 4xx"
        )
        return code, msg, status
    raise AssertionError(f"expected {codes}, but the call succeeded: {_short(result)}")


def _short(obj, n=400):
    s = repr(obj)
    return s if len(s) <= n else s[:n] + "…"


def list_all(glue, max_results=None, tags=None, **extra) -> tuple[list[str], list[list[dict]]]:
    """Walk ListSessions to the end; returns (all Ids in order, the raw pages)."""
    ids, pages = [], []
    token = None
    for _ in range(100000):
        kw = dict(extra)
        if max_results is not None:
            kw["MaxResults"] = max_results
        if tags is not None:
            kw["Tags"] = tags
        if token:
            kw["NextToken"] = token
        page = glue.list_sessions(**kw)
        pages.append(page)
        ids.extend(page.get("Ids", []))
        token = page.get("NextToken")
        if not token:
            return ids, pages
    raise AssertionError("ListSessions never stopped returning NextToken")


def wait_for_status(glue, session_id, wanted, timeout=15.0, interval=0.1) -> dict:
    """Poll GetSession until Status is in `wanted`; returns the Session."""
    if isinstance(wanted, str):
        wanted = (wanted,)
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        s = glue.get_session(Id=session_id)["Session"]
        if not seen or seen[-1] != s.get("Status"):
            seen.append(s.get("Status"))
        if s.get("Status") in wanted:
            return s
        if time.monotonic() > deadline:
            raise AssertionError(
                f"session {session_id} never reached {wanted}; statuses seen: {seen}"
            )
        time.sleep(interval)
