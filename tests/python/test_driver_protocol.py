"""Protocol tests for the per-session PySpark driver (python/epoxy_driver).

The driver is spawned directly, without the server, with the interpreter
named by $EPOXY_TEST_RUNTIME_PYTHON (one that has pyspark installed):

    EPOXY_TEST_RUNTIME_PYTHON=/path/to/venv/bin/python \\
        /path/to/venv/bin/python -m pytest tests/python/test_driver_protocol.py -q

A JVM start costs ~10 s, so most tests share one module-scoped driver; only
startup failure and the controller's absence get processes of their own. The
test is the driver's controller: it speaks the channel protocol of
python/epoxy_driver/channel.py (handshake, sequence numbers, acks) itself.
"""

import hashlib
import hmac
import itertools
import json
import os
import queue
import random
import secrets
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

RUNTIME_PYTHON = os.environ.get("EPOXY_TEST_RUNTIME_PYTHON")
pytestmark = pytest.mark.skipif(not RUNTIME_PYTHON, reason="EPOXY_TEST_RUNTIME_PYTHON is not set")

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"
READY_TIMEOUT = 90  # seconds; a cold JVM start on 2 cores takes ~10 s
STATEMENT_TIMEOUT = 60

_ids = itertools.count(1)


def _mac(secret, role, *parts):
    message = ":".join([role, *map(str, parts)]).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class Handshake:
    """One controller's handshake: its connection, and the driver's answer (the welcome or
    refusal frame; None if the driver closed the connection instead)."""

    def __init__(self, conn, reader, answer, ours, theirs):
        self.conn, self.reader, self.answer = conn, reader, answer
        self.ours, self.theirs = ours, theirs


class Driver:
    """A driver process with this test as its controller, as epoxy does it: started with a
    socket path and a secret, its stdout and stderr on a file; events are acknowledged."""

    def __init__(self, master="local[2]", conf=None, config=None, orphan_seconds=None, tcp=None):
        self.app_name = f"epoxy-test-{uuid.uuid4().hex[:12]}"
        if config is None:
            config = {
                "app_name": self.app_name,
                "master": master,
                "conf": {"spark.driver.memory": "512m", **(conf or {})},
            }
        self.secret = secrets.token_hex(32)
        self.socket_path = os.path.join(tempfile.mkdtemp(prefix="epx-"), "d.sock")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(PYTHON_DIR)
        env["EPOXY_DRIVER_CONFIG"] = config if isinstance(config, str) else json.dumps(config)
        env["EPOXY_DRIVER_SOCKET"] = self.socket_path
        env["EPOXY_DRIVER_SECRET"] = self.secret
        if orphan_seconds is not None:
            env["EPOXY_DRIVER_ORPHAN_SECONDS"] = str(orphan_seconds)
        env["EPOXY_DRIVER_TCP"] = tcp or ""
        self.tcp_host = tcp
        self.log = tempfile.NamedTemporaryFile(prefix="epoxy-driver-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [RUNTIME_PYTHON, "-u", "-m", "epoxy_driver"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            env=env,
        )
        self.started_at = time.monotonic()
        self.events = queue.Queue()
        self.last_seq = 0
        self.gaps_allowed, self.gaps = False, 0  # sequence numbers skipped in replays
        self.conn = None
        self.epoch = 0
        self.eof = None
        self.attach()

    def connect(self, tcp=False):
        """A connection to the driver's Unix socket (or, with `tcp`, its TCP port)."""
        if tcp:
            return socket.create_connection((self.tcp_host, self.welcome["tcp"]), timeout=30)
        deadline = time.monotonic() + 30
        while True:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(self.socket_path)
                return conn
            except OSError:
                conn.close()
                assert self.proc.poll() is None or time.monotonic() < deadline, "no socket"
                assert time.monotonic() < deadline, "the driver never listened"
                time.sleep(0.05)

    def handshake(self, secret=None, ack=None, epoch=None, auth=None, tcp=False):
        """Connects (by TCP with `tcp`) and authenticates as a controller of `epoch` (this
        one's by default); `auth` replaces the auth frame. Returns a Handshake."""
        conn = self.connect(tcp)
        reader = conn.makefile("rb")
        line = reader.readline()
        if not line:
            return Handshake(conn, reader, None, None, None)  # closed before the hello
        hello = json.loads(line)
        assert hello["hello"] == 2 and len(hello["nonce"]) == 64, hello
        nonce = secrets.token_hex(32)
        epoch = self.epoch if epoch is None else epoch
        if auth is None:
            auth = {
                "auth": _mac(secret or self.secret, "controller", hello["nonce"], nonce, epoch),
                "nonce": nonce,
                "ack": self.last_seq if ack is None else ack,
                "epoch": epoch,
            }
        conn.sendall(json.dumps(auth).encode() + b"\n")
        line = reader.readline()
        answer = json.loads(line) if line else None
        if answer is not None and "welcome" in answer:
            expected = _mac(self.secret, "driver", nonce, hello["nonce"], epoch)
            assert answer["welcome"] == expected and answer["epoch"] == epoch, answer
        return Handshake(conn, reader, answer, nonce, hello["nonce"])

    def attach(self, epoch=None, tcp=False):
        """Becomes the driver's controller (of `epoch`, if given, from now on)."""
        self.conn = None  # the replaced connection's EOF is no driver's EOF
        shake = self.handshake(epoch=epoch, tcp=tcp)
        assert shake.answer is not None and "welcome" in shake.answer, shake.answer
        self.epoch = shake.answer["epoch"]
        self.welcome, self.conn, self.eof = shake.answer, shake.conn, threading.Event()
        args = (shake.conn, shake.reader, self.eof)
        threading.Thread(target=self._read_events, args=args, daemon=True).start()

    def detach(self):
        conn, self.conn = self.conn, None
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    def _read_events(self, conn, reader, eof):
        try:
            self._read_lines(conn, reader)
        finally:
            eof.set()

    def _read_lines(self, conn, reader):
        try:
            for line in reader:
                # Every frame on the channel must be one JSON object with the next sequence
                # number; in a replay, superseded progress events leave gaps (where allowed).
                event = json.loads(line)
                seq = event.pop("seq")
                if seq <= self.last_seq:
                    continue  # replayed, seen before
                gap = seq - self.last_seq - 1
                assert gap == 0 or self.gaps_allowed, (seq, self.last_seq)
                self.gaps += gap
                self.last_seq = seq
                self.events.put(event)
                conn.sendall(json.dumps({"op": "ack", "seq": seq}).encode() + b"\n")
        except OSError:
            return  # detached by the test
        if self.conn is conn:
            self.events.put(None)  # EOF (not a detach)

    def send_raw(self, data: bytes):
        self.conn.sendall(data)

    def send(self, **msg):
        self.send_raw(json.dumps(msg).encode() + b"\n")

    def next_event(self, timeout):
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout}s; log:\n{self.log_text()[-3000:]}")
        assert event is not None, f"driver closed its channel; log:\n{self.log_text()[-3000:]}"
        return event

    def wait_for(self, predicate, timeout):
        """Returns the first event matching predicate (others are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(max(0.01, deadline - time.monotonic()))
            if predicate(event):
                return event

    def start(self, code):
        stmt_id = next(_ids)
        self.send(op="run", id=stmt_id, code=code)
        self.wait_for(
            lambda e: e.get("id") == stmt_id and e["event"] == "started", STATEMENT_TIMEOUT
        )
        return stmt_id

    def result(self, stmt_id, timeout=STATEMENT_TIMEOUT):
        """Returns (result event, progress events of the statement)."""
        progress = []
        while True:
            event = self.wait_for(lambda e: e.get("id") == stmt_id, timeout)
            if event["event"] == "result":
                return event, progress
            assert event["event"] == "progress", event
            progress.append(event)

    def run(self, code, timeout=STATEMENT_TIMEOUT):
        return self.result(self.start(code), timeout)[0]

    def log_text(self):
        return Path(self.log.name).read_text(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def java_processes_of(app_name):
    """PIDs of live java processes whose command line names the app."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (proc / "status").read_text()
        except OSError:
            continue
        if "java" in cmdline and app_name in cmdline and "State:\tZ" not in status:
            pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="module")
def driver():
    drv = Driver(conf={"spark.sql.shuffle.partitions": "4"}, tcp="127.0.0.1")
    try:
        ready = drv.next_event(READY_TIMEOUT)
        assert ready["event"] == "ready", ready
        drv.ready = ready
        drv.ready_seconds = time.monotonic() - drv.started_at
        yield drv
        drv.send(op="shutdown")
        assert drv.proc.wait(timeout=15) == 0
    finally:
        drv.kill()


def test_ready_event(driver):
    ready = driver.ready
    assert ready["spark_version"] == "3.5.8"
    assert ready["python_version"].count(".") == 2
    assert ready["pid"] == driver.proc.pid
    print(f"driver start -> ready: {driver.ready_seconds:.1f}s")


def test_trailing_expression_value(driver):
    stmt_id = driver.start("1+1")
    result, _ = driver.result(stmt_id)
    assert result == {"event": "result", "id": stmt_id, "status": "ok", "text": "2"}
    assert driver.run('"a"')["text"] == "'a'"
    assert driver.run("None")["text"] == ""


def test_print_output(driver):
    result = driver.run('print("hello")')
    assert (result["status"], result["text"]) == ("ok", "hello\n")


def test_output_then_expression_and_stderr(driver):
    result = driver.run('import sys\nprint("out")\nprint("err", file=sys.stderr)\n6 * 7')
    assert result["text"] == "out\nerr\n42"


def test_unicode_output(driver):
    assert driver.run('print("h\\u00e9llo \\u2713")')["text"] == "h\u00e9llo \u2713\n"
    # A lone surrogate must not make the channel line invalid UTF-8.
    assert driver.run('print("a\\udcff")')["text"] == "a?\n"


def test_state_across_statements(driver):
    assert driver.run("x = 40")["text"] == ""
    assert driver.run("x + 2")["text"] == "42"
    assert driver.run("def f(n):\n    return n * 2")["status"] == "ok"
    assert driver.run("f(x)")["text"] == "80"


def test_namespace(driver):
    result = driver.run(
        "(__name__, type(spark).__name__, type(sc).__name__, type(sqlContext).__name__)"
    )
    assert result["text"] == "('__main__', 'SparkSession', 'SparkContext', 'SQLContext')"


def test_spark_count(driver):
    assert driver.run("spark.range(100).count()")["text"] == "100"


def test_python_udf(driver):
    result = driver.run("sc.parallelize(range(8), 4).map(lambda v: v * 2).collect()")
    assert result["text"] == "[0, 2, 4, 6, 8, 10, 12, 14]"


def test_error_traceback(driver):
    result = driver.run("1/0")
    assert result["status"] == "error"
    assert result["ename"] == "ZeroDivisionError"
    assert result["evalue"] == "division by zero"
    assert result["traceback"] == [
        "Traceback (most recent call last):\n",
        '  File "<stdin>", line 1, in <module>\n',
        "ZeroDivisionError: division by zero\n",
    ]


def test_error_keeps_output_and_user_frames_only(driver):
    result = driver.run('print("before")\ndef g():\n    raise ValueError("bad")\ng()')
    assert result["status"] == "error"
    assert result["text"] == "before\n"
    assert result["traceback"][-1] == "ValueError: bad\n"
    assert all("epoxy_driver" not in line for line in result["traceback"])
    assert '  File "<stdin>", line 3, in g\n' in result["traceback"]


def test_syntax_error(driver):
    result = driver.run("1 +")
    assert result["status"] == "error"
    assert result["ename"] == "SyntaxError"
    assert result["traceback"][-1].startswith("SyntaxError")


def test_system_exit_is_an_error(driver):
    result = driver.run("import sys\nsys.exit(3)")
    assert (result["status"], result["ename"], result["evalue"]) == ("error", "SystemExit", "3")
    assert driver.run("1+1")["text"] == "2"


def test_progress_events(driver):
    # Two stages of 16 slow tasks on 2 cores: a few seconds of progress.
    stmt_id = driver.start(
        "sc.parallelize(range(16), 16)"
        ".map(lambda v: (__import__('time').sleep(0.3), (v % 2, v))[1])"
        ".reduceByKey(lambda a, b: a + b).collect()"
    )
    result, progress = driver.result(stmt_id)
    assert result["status"] == "ok"
    assert progress, "no progress events"
    values = [p["progress"] for p in progress]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a != b for a, b in zip(values, values[1:]))  # only on change
    assert any(0 < v < 1 for v in values)


def cancel_and_wait(driver, stmt_id, limit):
    t0 = time.monotonic()
    driver.send(op="cancel", id=stmt_id)
    result, _ = driver.result(stmt_id, timeout=limit + 5)
    elapsed = time.monotonic() - t0
    assert result["status"] == "cancelled", result
    assert elapsed < limit, f"cancel took {elapsed:.1f}s"
    return result


def test_cancel_python_sleep(driver):
    stmt_id = driver.start('import time\nprint("sleeping")\ntime.sleep(120)')
    time.sleep(1)
    result = cancel_and_wait(driver, stmt_id, limit=5)
    assert result["text"] == "sleeping\n"
    assert driver.run("1+1")["text"] == "2"


@pytest.mark.parametrize(
    "code",
    [
        # Blocked in the JVM (py4j call) on a job that would run for ages.
        "spark.range(10**12).selectExpr('sum(id)').collect()",
        # Python worker tasks sleeping.
        "sc.parallelize(range(100), 4).map(lambda v: __import__('time').sleep(30)).count()",
    ],
    ids=["jvm-job", "python-tasks"],
)
def test_cancel_spark_job(driver, code):
    stmt_id = driver.start(code)
    # Wait until the job really runs (its first progress event).
    driver.wait_for(lambda e: e.get("id") == stmt_id and e["event"] == "progress", 30)
    cancel_and_wait(driver, stmt_id, limit=10)
    assert driver.run("sc.statusTracker().getActiveJobsIds()")["text"] == "[]"
    assert driver.run("spark.range(10).count()")["text"] == "10"


def test_cancel_of_unknown_statement_is_ignored(driver):
    driver.send(op="cancel", id=999999)
    assert driver.run("1+1")["text"] == "2"


def test_huge_output_truncated(driver):
    result = driver.run('for i in range(300000):\n    print("y" * 10)')
    assert result["status"] == "ok"
    kept, marker = result["text"][: 1 << 20], result["text"][1 << 20 :]
    assert kept == ("y" * 10 + "\n") * (len(kept) // 11) + "y" * (len(kept) % 11)
    assert marker == f"\n[epoxy: output truncated, {300000 * 11 - (1 << 20)} more bytes]"


def test_fd1_writes_do_not_reach_the_channel(driver):
    # Native code and the JVM write to fd 1 directly; that must land in the log.
    marker = f"fd1-{uuid.uuid4().hex}"
    result = driver.run(
        f'import os\nos.write(1, b"{marker}\\n")\nos.write(2, b"{marker}-2\\n")\n"done"'
    )
    assert result["text"] == "'done'"
    log = driver.log_text()
    assert marker + "\n" in log and marker + "-2\n" in log


def test_user_code_cannot_read_commands(driver):
    # fd 0 is /dev/null for user code; the commands come in on the channel socket.
    result = driver.run("input()")
    assert (result["status"], result["ename"]) == ("error", "EOFError")
    result = driver.run(
        'import subprocess\nsubprocess.run(["cat"], capture_output=True, timeout=10).stdout'
    )
    assert result["text"] == "b''"


def test_garbage_is_ignored(driver):
    driver.send_raw(b"this is not json\n")
    driver.send_raw(b"[1, 2, 3]\n")
    driver.send_raw(b'{"op": "bogus", "id": 1}\n')
    driver.send_raw(b'{"op": "run", "id": "no-code"}\n')
    driver.send_raw(b"\xff\xfe\n\n")
    assert driver.run("1+1")["text"] == "2"
    assert driver.proc.poll() is None


def handover(tmp, **overrides):
    msg = {
        "op": "session",
        "session_id": "s-1",
        "glue_version": "4.0",
        "argv": ["epoxy-session", "--k", "v", "--TempDir", str(tmp / "temp")],
        "env": {"EPOXY_TEST_VAR": "set"},
        "temp_dir": str(tmp / "temp"),
        "work_dir": str(tmp / "work"),
        "extra_py_files": [],
        "extra_files": [],
        "spark": {"conf": {}, "executors": 0, "executor_wait_seconds": 0},
    }
    msg.update(overrides)
    return msg


def test_invalid_handovers_are_dropped(driver, tmp_path):
    for bad in (
        {"argv": []},
        {"argv": "epoxy-session"},
        {"env": {"A": 1}},
        {"env": {"A=B": "x"}},
        {"work_dir": 7},
        {"extra_files": [None]},
        {"session_id": ""},
        {"spark": None},
        {"spark": {"conf": {"spark.x": 1}, "executors": 0, "executor_wait_seconds": 0}},
        {"spark": {"conf": {}, "executors": -1, "executor_wait_seconds": 0}},
        {"spark": {"conf": {}, "executors": True, "executor_wait_seconds": 0}},
        {"spark": {"conf": {}, "executors": 0, "executor_wait_seconds": 0, "master_ui": 5}},
    ):
        driver.send(**handover(tmp_path, **bad))
    assert driver.run("import sys\nsys.argv[0] != 'epoxy-session'")["text"] == "True"
    assert driver.proc.poll() is None


def test_failed_handover_names_the_problem(driver, tmp_path):
    driver.send(**handover(tmp_path, extra_files=[str(tmp_path / "missing.csv")]))
    event = driver.wait_for(lambda e: e["event"] == "session", STATEMENT_TIMEOUT)
    assert event["status"] == "failed" and "missing.csv" in event["message"], event


def test_handover_makes_the_driver_the_sessions(driver, tmp_path):
    (tmp_path / "data.txt").write_text("payload")
    (tmp_path / "mod_a.py").write_text("VALUE = 41\n")
    msg = handover(
        tmp_path,
        extra_files=[str(tmp_path / "data.txt")],
        extra_py_files=[str(tmp_path / "mod_a.py")],
    )
    driver.send(**msg)
    assert driver.wait_for(lambda e: e["event"] == "session", STATEMENT_TIMEOUT) == {
        "event": "session",
        "status": "ok",
    }
    code = (
        "import os, sys, mod_a\n"
        "(sys.argv, os.environ['EPOXY_TEST_VAR'], os.getcwd(), open('data.txt').read(),"
        " mod_a.VALUE + 1)"
    )
    expected = (msg["argv"], "set", msg["work_dir"], "payload", 42)
    assert driver.run(code)["text"] == repr(expected)
    executors = "sc.parallelize([1], 1).map(lambda _: __import__('mod_a').VALUE).collect()"
    assert driver.run(executors)["text"] == "[41]"
    assert "GlueVersion 4.0 requested; running Spark 3.5" in driver.log_text()


def test_second_handover_is_refused(driver, tmp_path):
    driver.send(**handover(tmp_path, session_id="s-2"))
    event = driver.wait_for(lambda e: e["event"] == "session", STATEMENT_TIMEOUT)
    assert event["status"] == "failed" and "already serves session s-1" in event["message"]


def test_startup_failure():
    # An invalid heap size makes the JVM die at once; the reason is only in
    # the JVM's output, which the driver must relay.
    drv = Driver(conf={"spark.driver.memory": "notanumber"})
    try:
        event = drv.next_event(60)
        assert event["event"] == "failed", event
        assert "notanumber" in event["message"], event["message"]
        assert len(event["message"]) <= 2000
        assert drv.proc.wait(timeout=15) == 1
        assert drv.events.get(timeout=5) is None  # nothing after `failed`
    finally:
        drv.kill()


@pytest.mark.parametrize(
    "config",
    ['{"app_name": "x"}', "not json", {"app_name": "x", "master": "local", "conf": {"a": 1}}],
    ids=["missing-master", "not-json", "non-string-conf"],
)
def test_invalid_config(config):
    drv = Driver(config=config)
    try:
        event = drv.next_event(30)
        assert event["event"] == "failed" and event["message"], event
        assert drv.proc.wait(timeout=15) == 2
    finally:
        drv.kill()


def test_wrong_key_is_refused_and_changes_nothing(driver):
    shake = driver.handshake(secret=secrets.token_hex(32))
    assert shake.answer is None, "a controller without the secret was welcomed"
    shake.conn.close()
    for frame in (b"not json\n", b'{"auth": "00", "nonce": "x", "ack": 0}\n', b"\xff" * 5000):
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(driver.socket_path)
        raw.makefile("rb").readline()  # hello
        raw.sendall(frame)
        assert raw.makefile("rb").readline() == b""  # closed, no welcome
        raw.close()
    assert driver.run("1+1")["text"] == "2"  # the attached controller is still the one


def test_a_result_produced_while_detached_is_replayed():
    drv = Driver(master="local[1]")
    try:
        assert drv.next_event(READY_TIMEOUT)["event"] == "ready"
        stmt_id = drv.start("import time\ntime.sleep(3)\n'finished while nobody listened'")
        drv.detach()  # epoxy went away mid-statement
        time.sleep(5)
        assert drv.proc.poll() is None, "the driver must outlive its controller"
        drv.attach()
        assert drv.welcome["last_run"] == stmt_id
        result, _ = drv.result(stmt_id)
        assert result["text"] == "'finished while nobody listened'", result
        assert drv.run("1 + 2")["text"] == "3"  # and it goes on serving
    finally:
        drv.kill()


def test_progress_made_while_detached_waits_as_its_latest_value_only():
    """While epoxy is away a statement's progress events do not pile up: the replay holds its
    latest progress (at most one) and then its result."""
    drv = Driver(master="local[1]")
    try:
        assert drv.next_event(READY_TIMEOUT)["event"] == "ready"
        # A job of 16 tasks of 0.25 s on one core, then a quiet wait (no progress changes).
        stmt_id = drv.start(
            "n = sc.parallelize(range(16), 16)"
            ".map(lambda v: (__import__('time').sleep(0.25), v)[1]).count()\n"
            "__import__('time').sleep(20)\n"
            "n"
        )
        drv.wait_for(lambda e: e.get("id") == stmt_id and e["event"] == "progress", 60)
        drv.detach()
        time.sleep(12)  # the job ends meanwhile, the statement is still sleeping
        drv.gaps_allowed = True
        drv.attach()
        result, progress = drv.result(stmt_id)
        assert result["text"] == "16", result
        assert len(progress) <= 1, progress
        assert drv.gaps > 0, "no progress event was superseded"
        assert drv.run("1 + 2")["text"] == "3"
    finally:
        drv.kill()


def test_driver_without_controller_stops_itself_and_its_jvm():
    drv = Driver(master="local[1]", orphan_seconds=3)
    try:
        assert drv.next_event(READY_TIMEOUT)["event"] == "ready"
        assert java_processes_of(drv.app_name), "JVM of the driver not found"
        # Detached while a statement runs, and nobody comes back.
        drv.start("import time\ntime.sleep(120)")
        t0 = time.monotonic()
        drv.detach()
        assert drv.proc.wait(timeout=30) == 0
        exit_seconds = time.monotonic() - t0
        deadline = time.monotonic() + 15
        while java_processes_of(drv.app_name) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not java_processes_of(drv.app_name), "JVM outlived the driver"
        assert 3 <= exit_seconds < 15, exit_seconds
    finally:
        drv.kill()


def _auth(driver, shake_nonce, **fields):
    """An auth frame proven with the right secret for `epoch`, its fields overridable."""
    nonce = secrets.token_hex(32)
    epoch = fields.get("epoch", driver.epoch)
    proof = _mac(driver.secret, "controller", shake_nonce, nonce, epoch)
    return {"auth": proof, "nonce": nonce, "ack": driver.last_seq, "epoch": epoch, **fields}


@pytest.mark.parametrize(
    "bad",
    [{"epoch": -1}, {"epoch": "1"}, {"epoch": True}, {"epoch": 1.0}, {"epoch": 2**63}],
    ids=["negative", "string", "bool", "float", "too-big"],
)
def test_invalid_epochs_are_refused(driver, bad):
    # Whatever the MAC says, an epoch that is not an integer in [0, 2**63) is no handshake.
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(driver.socket_path)
    reader = raw.makefile("rb")
    hello = json.loads(reader.readline())
    frame = _auth(driver, hello["nonce"])
    frame.update(bad)
    raw.sendall(json.dumps(frame).encode() + b"\n")
    assert reader.readline() == b""  # closed, no welcome
    raw.close()
    assert driver.run("1+1")["text"] == "2"


def test_an_auth_frame_without_an_epoch_is_refused(driver):
    shake = driver.handshake(auth={"auth": "0" * 64, "nonce": "1" * 64, "ack": 0})
    assert shake.answer is None
    assert driver.run("1+1")["text"] == "2"


def test_an_equal_or_higher_epoch_replaces_the_controller(driver):
    start = driver.epoch
    for epoch in (start, start + 1, start + 8):
        replaced = driver.eof
        driver.attach(epoch=epoch)
        assert replaced.wait(10), f"the controller replaced at epoch {epoch} was not closed"
        assert driver.run("6*7")["text"] == "42"
    assert driver.epoch == start + 8


def test_a_lower_epoch_is_refused_as_superseded(driver):
    driver.attach(epoch=max(driver.epoch, 3))
    highest = driver.epoch
    for epoch in (0, highest - 1):
        shake = driver.handshake(epoch=epoch)
        proof = _mac(driver.secret, "refused", shake.ours, shake.theirs, highest)
        assert shake.answer == {"refused": "superseded", "epoch": highest, "proof": proof}
        assert shake.reader.readline() == b"", "a refused controller's connection stays open"
        shake.conn.close()
    # Before authentication nothing is told, not even the epoch.
    shake = driver.handshake(secret=secrets.token_hex(32), epoch=0)
    assert shake.answer is None
    # The attached controller is still the driver's.
    assert not driver.eof.is_set()
    assert driver.run("'still mine'")["text"] == "'still mine'"


def test_a_controller_attaches_over_tcp_with_the_secret(driver):
    port = driver.welcome["tcp"]
    assert isinstance(port, int) and port > 0, driver.welcome
    replaced = driver.eof
    driver.attach(tcp=True)
    assert replaced.wait(10)
    assert driver.welcome["tcp"] == port
    assert driver.run("'over tcp'")["text"] == "'over tcp'"
    shake = driver.handshake(secret=secrets.token_hex(32), tcp=True)
    assert shake.answer is None, "a TCP controller without the secret was welcomed"
    shake.conn.close()
    assert driver.run("1+1")["text"] == "2"  # still the attached controller
    driver.attach()  # back on the Unix socket


def test_garbage_on_the_tcp_port_is_refused_and_the_driver_keeps_serving(driver, tmp_path):
    marker = tmp_path / "ran"
    frames = [
        b"not json\n",
        b'{"auth": "00", "nonce": "x", "ack": 0, "epoch": 0}\n',
        b"\xff" * 5000,
        b"x" * 100_000,  # no newline, far over the handshake limit
        json.dumps({"op": "run", "id": 999, "code": f"open({str(marker)!r}, 'w')"}).encode()
        + b"\n",
        b"",  # nothing at all, then close
    ]
    # And random frames, raw or JSON-shaped (fixed seed: a failure replays).
    rng = random.Random(12)
    for _ in range(30):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        fields = {"auth": raw.hex()[:64], "nonce": raw.hex()[-64:], "ack": rng.randrange(9)}
        fields["epoch"] = rng.choice([0, -1, "0", None, 2**64, [], {}])
        frames.append(rng.choice([raw + b"\n", json.dumps(fields).encode() + b"\n"]))
    for frame in frames:
        raw = driver.connect(tcp=True)
        reader = raw.makefile("rb")
        assert json.loads(reader.readline())["hello"] == 2
        try:
            raw.sendall(frame)
            if not frame:
                raw.shutdown(socket.SHUT_WR)
            assert reader.readline() == b"", frame[:40]  # closed, no welcome
        except ConnectionResetError:
            pass  # closed while we still wrote: refused just the same
        raw.close()
    assert not marker.exists(), "a command ran before authentication"
    assert driver.run("'still serving'")["text"] == "'still serving'"


def test_tcp_handshakes_are_capped_and_do_not_block_the_socket(driver):
    # Silent TCP peers hold handshake slots; beyond the cap they are closed at once, and the
    # Unix socket (the owner's) is never blocked by them.
    # Those let in are closed after the handshake timeout (10 s) of silence.
    opened = time.monotonic()
    silent = [driver.connect(tcp=True) for _ in range(40)]
    try:
        held = []
        for conn in silent:
            conn.settimeout(5)
            reader = conn.makefile("rb")
            if reader.readline() != b"":
                held.append((conn, reader))
        assert len(held) <= 16, f"{len(held)} of 40 silent connections were let in"
        replaced = driver.eof
        driver.attach()
        assert replaced.wait(10)
        assert driver.run("3*3")["text"] == "9"
        for conn, reader in held:
            conn.settimeout(20)
            assert reader.readline() == b"", "a silent connection was kept past the timeout"
        waited = time.monotonic() - opened
        assert 9 < waited < 20, f"silent connections were closed after {waited:.1f} s"
    finally:
        for conn in silent:
            conn.close()
    # Their slots free again once they go: a TCP handshake completes (at a lower epoch, so
    # that it is refused as superseded and the attached controller stays).
    if driver.epoch == 0:
        driver.attach(epoch=1)
    deadline = time.monotonic() + 10
    while True:
        shake = driver.handshake(tcp=True, epoch=driver.epoch - 1)
        if shake.answer is not None or time.monotonic() > deadline:
            break
        shake.conn.close()
        time.sleep(0.2)
    assert shake.answer is not None and shake.answer["refused"] == "superseded", shake.answer
    shake.conn.close()
    assert driver.run("4*4")["text"] == "16"
