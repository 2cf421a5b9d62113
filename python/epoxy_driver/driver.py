"""One session: SparkSession startup, the command loop, cancel and progress.

Threads:
  * main thread   - starts Spark, then runs statements one at a time (it must
                    be the main thread: only it receives Python signals, and
                    SIGINT is how a running statement is interrupted);
  * channel       - (channel.py) the socket epoxy attaches to; its reader
                    parses commands, queues runs, handles cancel/shutdown at
                    once so they work while a statement is running;
  * progress      - polls Spark's status tracker while a statement runs;
  * orphan watch  - stops the driver when no controller was attached for the
                    orphan limit (epoxy is gone for good).

The process is detached from epoxy (its own session, stdout and stderr are the
session's log): it outlives a restart of epoxy, which re-attaches to it.
"""

import ipaddress
import json
import logging
import os
import platform
import queue
import re
import shutil
import signal
import stat
import sys
import threading
import time
import types

from epoxy_driver import session_aws
from epoxy_driver.channel import Channel
from epoxy_driver.repl import Repl

log = logging.getLogger("epoxy_driver")

PROGRESS_INTERVAL = 0.5  # seconds between progress polls
SHUTDOWN_GRACE = 5.0  # seconds spark.stop() gets before the process just exits
CANCEL_SETTLE = 5.0  # seconds to wait for a cancelled statement's jobs to end
MESSAGE_LIMIT = 2000  # characters of a `failed` message

EXIT_OK, EXIT_SPARK_FAILED, EXIT_BAD_CONFIG, EXIT_JVM_DIED = 0, 1, 2, 4
EXIT_CONTEXT_STOPPED = 5  # a cluster session's SparkContext stopped (e.g. the master removed it)
DELIVERY_WAIT = 30.0  # seconds a fatal `failed` event waits for a controller to take it
ORPHAN_DEFAULT = 600.0  # seconds without a controller before the driver stops itself
JVM_POLL = 1.0  # seconds between checks that the JVM is alive
SPARK_OOM_EXIT = 52  # SparkExitCode.OOM: the JVM died of an OutOfMemoryError


def job_group(stmt_id):
    return f"epoxy-statement-{stmt_id}"


def read_config():
    """Returns (app_name, master, conf) from $EPOXY_DRIVER_CONFIG or raises ValueError."""
    raw = os.environ.get("EPOXY_DRIVER_CONFIG")
    if raw is None:
        raise ValueError("EPOXY_DRIVER_CONFIG is not set")
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"EPOXY_DRIVER_CONFIG is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError("EPOXY_DRIVER_CONFIG must be a JSON object")
    app_name, master = config.get("app_name"), config.get("master")
    conf = config.get("conf", {})
    for key, value in (("app_name", app_name), ("master", master)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"EPOXY_DRIVER_CONFIG: {key} must be a non-empty string")
    if not isinstance(conf, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in conf.items()
    ):
        raise ValueError("EPOXY_DRIVER_CONFIG: conf must be an object of string values")
    return app_name, master, conf


class LogTail:
    """What was written to the log (fd 2) since creation, if fd 2 is a file.

    A JVM that dies before its gateway is up only makes PySpark say "Java
    gateway process exited"; the reason is in the JVM's own output.  fd 2
    is usually write-only, so the file is reopened through /proc (Linux).
    """

    PATH = "/proc/self/fd/2"

    def __init__(self):
        try:
            st = os.fstat(2)
            self._start = st.st_size if stat.S_ISREG(st.st_mode) else None
        except OSError:
            self._start = None

    def read(self, limit):
        if self._start is None:
            return ""
        try:
            with open(self.PATH, "rb") as log_file:
                log_file.seek(max(self._start, os.fstat(log_file.fileno()).st_size - 4 * limit))
                data = log_file.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return data


def failure_message(exc, jvm_output):
    """A few lines saying why Spark could not start."""
    # Py4JJavaError's text is the Java exception plus its whole stack trace.
    message = f"{type(exc).__name__}: " + "\n".join(_reason_lines(str(exc))[:12])
    if type(exc).__name__ != "Py4JJavaError":
        lines = _reason_lines(jvm_output)[-12:]
        if lines:
            message += "\nJVM output:\n" + "\n".join(lines)
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 3] + "..."
    return message


_OWN_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def _reason_lines(text):
    """Exception lines ("Caused by: ..." included) without stack frames or our own log."""
    return [
        line.rstrip()
        for line in text.strip().splitlines()
        if line.strip()
        and not line.lstrip().startswith(("at ", "..."))
        and not _OWN_LOG_LINE.match(line)
    ]


_HANDOVER_STRINGS = ("session_id", "glue_version", "temp_dir", "work_dir")
_HANDOVER_LISTS = ("argv", "extra_py_files", "extra_files")


def _string_map(value):
    return isinstance(value, dict) and all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    )


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def valid_session_spark(spark):
    """The handover's `spark`: conf for the SparkContext and the executors to wait for."""
    return (
        isinstance(spark, dict)
        and _string_map(spark.get("conf"))
        and _count(spark.get("executors"))
        and _count(spark.get("executor_wait_seconds"))
        and isinstance(spark.get("master_ui", ""), str)
    )


def valid_handover(msg):
    """True if a `session` command has every field with the right type."""
    strings = all(isinstance(msg.get(k), str) and msg[k] for k in _HANDOVER_STRINGS)
    lists = all(
        isinstance(msg.get(k), list) and all(isinstance(v, str) for v in msg[k])
        for k in _HANDOVER_LISTS
    )
    env = msg.get("env")
    env_ok = _string_map(env) and all("=" not in k for k in env)
    spark_ok = valid_session_spark(msg.get("spark"))
    return strings and lists and env_ok and spark_ok and bool(msg["argv"])


def is_cluster(master):
    """Cluster masters (spark://, k8s://) get their SparkContext at the handover."""
    return not master.startswith("local")


def _spark_settings(master, conf):
    """Every driver's Spark settings, then the server's `conf` (which may override them)."""
    # Executors' Python workers must run the same interpreter (and venv).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    # -- Spark UI (console proxy): on a random port, on loopback for local masters (the
    # UI has no auth of its own; the console's sign-in guards it); reported in `ready`.
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = {"spark.ui.port": "0", "spark.ui.killEnabled": "false"}
    # -- end Spark UI
    # Defaults the conf may override: no console progress bar
    # (it would only litter the log; progress goes out as events).
    settings["spark.ui.showConsoleProgress"] = "false"
    # dbt-glue (and Glue jobs re-run on a schedule) re-create a table at the same LOCATION with
    # CREATE TABLE ... AS SELECT after dropping it; Spark 3.5 refuses that for a non-empty
    # directory unless this is on.
    settings["spark.sql.legacy.allowNonEmptyLocationInCTAS"] = "true"
    settings.update(conf)
    return settings


def start_spark(app_name, master, conf):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(master)
    for key, value in _spark_settings(master, conf).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # Round trip through the JVM, so `ready` means statements can run.  A
    # tiny job also warms up the planner for the first statement.
    spark.range(1).count()
    connect_metastore(spark, conf)
    return spark


def launch_jvm(app_name, master, conf):
    """Starts the driver's JVM (the py4j gateway) without a SparkContext, so a driver
    waiting in the warm pool holds no cores on the cluster.  Returns the Spark UI port
    the SparkContext will use (reported in `ready`, before the context exists)."""
    from pyspark import SparkConf, SparkContext

    ui_port = _free_port()
    settings = _spark_settings(master, conf)
    settings.update({"spark.master": master, "spark.app.name": app_name})
    settings["spark.ui.port"] = str(ui_port)
    # spark-submit gets these as --conf: JVM options (heap, class path) take effect now.
    SparkContext._ensure_initialized(conf=SparkConf(loadDefaults=False).setAll(settings.items()))
    return ui_port


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ExecutorsMissing(Exception):
    """The cluster did not grant a session's executors in time."""


def start_cluster_session(session_id, master, conf, session_spark):
    """The session's SparkContext on the JVM `launch_jvm` started, with its executors'
    sizing; returns once `executors` of them have registered.  The application is
    named for the session (on the master's UI), not for the warm pool."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(session_id)
    for key, value in session_spark["conf"].items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        wait_for_executors(spark.sparkContext, master, session_spark)
        spark.range(1).count()
        connect_metastore(spark, conf)
    except BaseException:
        spark.stop()  # gives back whatever the cluster granted
        raise
    return spark


EXECUTOR_POLL = 0.25  # seconds between executor counts
ROOM_NOTE_INTERVAL = 5.0  # seconds between "no room" log lines


def wait_for_executors(sc, master, session_spark):
    """Waits until the cluster has started `executors` executors for this application.

    SparkContext returns once the application is registered with the master, not
    when it has executors; a cluster without free cores leaves it with none."""
    wanted, limit = session_spark["executors"], session_spark["executor_wait_seconds"]
    conf = session_spark["conf"]
    each = (
        f"{conf.get('spark.executor.cores', '?')} core(s), "
        f"{conf.get('spark.executor.memory', '?')} each"
    )
    jsc = sc._jsc.sc()
    started = time.monotonic()
    next_note = started + ROOM_NOTE_INTERVAL
    while True:
        have = jsc.getExecutorMemoryStatus().size() - 1  # the driver's block manager too
        now = time.monotonic()
        waited = now - started
        if have >= wanted:
            log.info("%d of %d executors registered after %.1fs", have, wanted, waited)
            return
        if waited >= limit:
            raise ExecutorsMissing(
                f"the Spark cluster {master} started {have} of the session's {wanted} executors "
                f"({each}) within {limit} s: its workers have too few free cores or too little "
                "free memory; use a smaller NumberOfWorkers or WorkerType, or add workers"
            )
        if now >= next_note:
            next_note += ROOM_NOTE_INTERVAL
            log.warning(
                "cluster has no room: %d of %d executors (%s) after %.0fs; the master %s has not"
                " granted application %s the rest (too few free cores or memory on its workers)%s",
                have,
                wanted,
                each,
                waited,
                master,
                sc.applicationId,
                master_says(session_spark.get("master_ui"), sc.applicationId),
            )
        time.sleep(EXECUTOR_POLL)


def master_says(master_ui, app_id):
    """The standalone master's own view (its web UI's JSON), for the "no room" log line."""
    if not master_ui:
        return ""
    import urllib.request

    try:
        with urllib.request.urlopen(master_ui + "/json/", timeout=2) as resp:
            state = json.loads(resp.read())
        app = next((a for a in state.get("activeapps", []) if a.get("id") == app_id), {})
        return (
            f"; master says: {state['aliveworkers']} workers alive, {state['coresused']} of"
            f" {state['cores']} cores and {state['memoryused']} of {state['memory']} MiB in use,"
            f" this application {app.get('state', 'unknown')} with {app.get('cores', 0)} cores"
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"; the master's UI {master_ui} did not answer ({exc})"


def connect_metastore(spark, conf):
    """Opens the Hive metastore connection now (warm-pool drivers start before any session
    takes them), so a session's first catalog statement does not pay for it."""
    if conf.get("spark.sql.catalogImplementation") == "hive":
        spark.sql("SHOW DATABASES").collect()


class Driver:
    def __init__(self, channel, jvm_output):
        self.channel = channel
        # From the start-up config (main); on a cluster master the SparkContext is made at
        # the handover (see launch_jvm).
        self.master = self.conf = None
        self._jvm_output = jvm_output
        self.spark = self.sc = self.repl = None
        self.session_id = None  # set by the handover
        self._commands = queue.Queue()  # runs and shutdown, for the main thread
        self._lock = threading.Lock()  # guards the three fields below
        self._running = None  # id of the statement being executed
        self._cancel_requested = False
        self._queued = set()  # ids received but not started yet
        self._last_run = None  # newest statement id received
        self._cancelled_early = set()  # queued ids whose cancel came before they started
        self._shutting_down = False
        self._busy = threading.Event()  # wakes the progress thread

    def attach(self, spark):
        from pyspark.sql import SQLContext

        self.spark = spark
        self.sc = spark.sparkContext
        # Passing the session avoids SQLContext's deprecation warning.
        sql_context = SQLContext(self.sc, spark)
        # The user namespace is a real __main__ module, so plain pickle (and
        # anything else looking up sys.modules["__main__"]) finds user classes.
        main = types.ModuleType("__main__")
        main.__dict__.update(spark=spark, sc=self.sc, sqlContext=sql_context)
        sys.modules["__main__"] = main
        self.repl = Repl(main.__dict__)

    # --- main thread -----------------------------------------------------

    def serve(self):
        signal.signal(signal.SIGINT, self._on_sigint)  # replaces PySpark's handler
        threading.Thread(target=self._report_progress, name="progress", daemon=True).start()
        threading.Thread(target=self._watch_jvm, name="jvm-watch", daemon=True).start()
        while True:
            command = self._commands.get()
            if command[0] == "shutdown" or self._shutting_down:
                break  # statements still queued behind a shutdown are dropped
            if command[0] == "session":
                self._take_session(command[1])
                continue
            _, stmt_id, code = command
            self._run_statement(stmt_id, code)
        try:
            if self.spark is not None:  # a cluster driver has none before its handover
                log.info("stopping Spark")
                self.spark.stop()
        except Exception:
            log.exception("spark.stop() failed")
        log.info("exiting")
        return EXIT_OK

    def _take_session(self, handover):
        """Makes this (possibly warm) driver the session's: environment, files, argv."""
        if self.session_id is not None:
            message = f"this driver already serves session {self.session_id}"
            log.warning("refusing a second handover: %s", message)
            self.channel.send("session", status="failed", message=message)
            return
        try:
            if self.spark is None:
                self.attach(
                    start_cluster_session(
                        handover["session_id"], self.master, self.conf, handover["spark"]
                    )
                )
            self._apply_handover(handover)
        except ExecutorsMissing as exc:
            log.error("%s", exc)
            self.channel.send("session", status="failed", message=str(exc)[:MESSAGE_LIMIT])
            return
        except Exception as exc:
            log.exception("could not apply the session's settings")
            message = f"{type(exc).__name__}: {exc}"[:MESSAGE_LIMIT]
            self.channel.send("session", status="failed", message=message)
            return
        self.session_id = handover["session_id"]
        self.channel.send("session", status="ok")

    def _apply_handover(self, handover):
        os.environ.update(handover["env"])
        session_aws.apply(self.spark, handover["env"])
        work_dir = handover["work_dir"]
        os.makedirs(work_dir, exist_ok=True)
        os.makedirs(handover["temp_dir"], exist_ok=True)
        for path in handover["extra_files"]:
            shutil.copy2(path, os.path.join(work_dir, os.path.basename(path)))
        os.chdir(work_dir)
        # Beside the working dir (not in it), so the user's files stay the user's.
        py_dir = os.path.join(os.path.dirname(work_dir), "py-files")
        for path in handover["extra_py_files"]:
            name = os.path.basename(path)
            if name.lower().endswith(".whl"):
                # PySpark puts only .zip/.egg/.jar files on the executors' sys.path.
                name += ".zip"
            os.makedirs(py_dir, exist_ok=True)
            copy = os.path.join(py_dir, name)
            shutil.copy2(path, copy)
            self.sc.addPyFile(copy)  # executors
            entry = py_dir if name.lower().endswith(".py") else copy
            if entry not in sys.path:
                sys.path.insert(1, entry)  # this driver
        sys.argv = list(handover["argv"])
        log.info(
            "session %s: GlueVersion %s requested; running Spark %s on Python %s"
            " (epoxy runs every GlueVersion on its one runtime)",
            handover["session_id"],
            handover["glue_version"],
            self.spark.version,
            platform.python_version(),
        )
        log.info(
            "session %s: argv %s, %d environment variables, %d extra files, %d extra py files",
            handover["session_id"],
            sys.argv,
            len(handover["env"]),
            len(handover["extra_files"]),
            len(handover["extra_py_files"]),
        )

    def _on_sigint(self, signum, frame):
        # Only user code is interrupted; in the driver's own code an exception
        # could tear a protocol message in half.
        if self.repl is not None and self.repl.executing:
            raise KeyboardInterrupt

    def _watch_jvm(self):
        """Ends the driver when its JVM dies: without it no statement can run, and the
        server only learns that a session is lost when the driver process exits."""
        from pyspark import SparkContext

        proc = getattr(SparkContext._gateway, "proc", None)
        if proc is None:
            log.warning("no handle on the JVM process; its death will not be noticed")
            return
        while proc.poll() is None:
            time.sleep(JVM_POLL)
            if is_cluster(self.master) and self._context_stopped():
                self._exit_context_stopped()
        hint = ""
        if proc.returncode == SPARK_OOM_EXIT:
            hint = (
                " (java.lang.OutOfMemoryError: the driver ran out of heap; use a larger"
                " WorkerType or DefaultArguments --conf spark.driver.memory=...)"
            )
        log.error(
            "the Spark JVM exited with code %s%s; the driver cannot continue", proc.returncode, hint
        )
        os._exit(EXIT_JVM_DIED)

    def _context_stopped(self):
        """True if the session's SparkContext stopped without our shutdown."""
        if self.sc is None or self._shutting_down:
            return False
        try:
            return self.sc._jsc.sc().isStopped()
        except Exception:
            return False  # the JVM is going away: the process watch sees that

    def _exit_context_stopped(self):
        """A cluster session's SparkContext stops when the master removes its application
        (killed, or its executors failed again and again): nothing can run any more."""
        reasons = [
            line.strip()
            for line in self._jvm_output.read(4 * MESSAGE_LIMIT).splitlines()
            if "Application has been killed" in line or "Master removed our application" in line
        ]
        why = reasons[-1] if reasons else "stopped by a statement or the cluster manager"
        log.error("the SparkContext stopped (%s); the session cannot continue", why[:500])
        logging.shutdown()
        os._exit(EXIT_CONTEXT_STOPPED)

    def _run_statement(self, stmt_id, code):
        group = job_group(stmt_id)
        with self._lock:
            self._queued.discard(stmt_id)
            cancelled_early = stmt_id in self._cancelled_early
            self._cancelled_early.discard(stmt_id)
            if not cancelled_early:
                self._running, self._cancel_requested = stmt_id, False
        if cancelled_early:
            log.info("statement %s: cancelled before it started", stmt_id)
            self.channel.send("result", id=stmt_id, status="cancelled", text="")
            return
        log.info("statement %s: running %d chars of code", stmt_id, len(code))
        self.channel.send("started", id=stmt_id)
        try:
            self.sc.setJobGroup(group, f"epoxy statement {stmt_id}", interruptOnCancel=True)
        except Exception:
            log.exception("setJobGroup failed")  # the statement will tell the user
        self._busy.set()
        result = self.repl.run(code, should_abort=lambda: self._cancel_requested)
        with self._lock:  # from here on, cancel() and progress ignore the statement
            self._running = None
            cancelled = self._cancel_requested
        self._busy.clear()
        if cancelled and result["status"] == "error":
            # Whatever the interruption raised (KeyboardInterrupt, a
            # Py4JJavaError from the killed job, ...), the user asked for it.
            log.info("statement %s cancelled (%s)", stmt_id, result["ename"])
            self._settle_cancelled_jobs(group)
            result = {"status": "cancelled", "text": result["text"]}
        self.channel.send("result", id=stmt_id, **result)

    def _settle_cancelled_jobs(self, group):
        """Waits until the group's jobs are gone, so `cancelled` means stopped.

        Cancelling again on every poll also catches a job the interrupted
        JVM call submitted after the first cancelJobGroup.
        """
        deadline = time.monotonic() + CANCEL_SETTLE
        try:
            tracker = self.sc.statusTracker()
            while True:
                running = [
                    job
                    for job in tracker.getJobIdsForGroup(group)
                    if getattr(tracker.getJobInfo(job), "status", None) == "RUNNING"
                ]
                if not running:
                    return
                if time.monotonic() > deadline:
                    log.warning("jobs %s of %s still running after cancel", running, group)
                    return
                self.sc.cancelJobGroup(group)
                time.sleep(0.1)
        except Exception:
            log.exception("could not check the cancelled jobs")

    # --- channel reader thread -------------------------------------------

    def last_run(self):
        with self._lock:
            return self._last_run

    def handle_command(self, msg):
        op = msg.get("op") if isinstance(msg, dict) else None
        stmt_id = msg.get("id") if isinstance(msg, dict) else None
        valid_id = isinstance(stmt_id, int) and not isinstance(stmt_id, bool)
        if op == "session" and valid_handover(msg):
            self._commands.put(("session", msg))
        elif op == "run" and valid_id and isinstance(msg.get("code"), str):
            with self._lock:
                self._queued.add(stmt_id)
                self._last_run = max(stmt_id, self._last_run or stmt_id)
            self._commands.put(("run", stmt_id, msg["code"]))
        elif op == "cancel" and valid_id:
            self.cancel(stmt_id)
        elif op == "shutdown":
            log.info("shutdown requested")
            self.request_shutdown()
        else:
            log.warning("ignoring invalid command %r", json.dumps(msg)[:200])

    def cancel(self, stmt_id):
        with self._lock:
            if stmt_id in self._queued:
                # The run is on its way to the main thread: cancel it there.
                self._cancelled_early.add(stmt_id)
                log.info("statement %s: cancel requested before it started", stmt_id)
                return
            if self._running != stmt_id or self._cancel_requested:
                log.info("ignoring cancel of %s: not running", stmt_id)
                return
            self._cancel_requested = True
        log.info("statement %s: cancel requested", stmt_id)
        # In local mode SIGINT alone does not stop a job that a py4j call
        # waits for; cancelling the job group does (and kills its tasks).
        try:
            self.sc.cancelJobGroup(job_group(stmt_id))
        except Exception:
            log.exception("cancelJobGroup failed")
        with self._lock:
            # Under the lock: the statement cannot finish and the next one
            # start between this check and the signal.
            if self._running == stmt_id:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def request_shutdown(self):
        with self._lock:
            if self._shutting_down:
                return
            self._shutting_down = True
            running = self._running
        self._commands.put(("shutdown",))
        # A statement that ignores the interrupt or a hanging spark.stop()
        # must not keep the session alive.
        timer = threading.Timer(SHUTDOWN_GRACE, _force_exit)
        timer.daemon = True
        timer.start()
        if running is not None:
            self.cancel(running)

    # --- orphan watch thread ---------------------------------------------

    def watch_orphaned(self, limit):
        while True:
            time.sleep(min(1.0, limit / 4))
            idle = time.monotonic() - self.channel.detached_since
            if not self.channel.attached() and idle > limit:
                log.warning("no controller for %.0f s; stopping (epoxy is gone)", idle)
                self.request_shutdown()
                return

    # --- progress thread -------------------------------------------------

    def _report_progress(self):
        last_id = last_value = None
        while True:
            self._busy.wait()
            time.sleep(PROGRESS_INTERVAL)
            stmt_id = self._running
            if stmt_id is None:
                continue
            if stmt_id != last_id:
                last_id, last_value = stmt_id, None
            try:
                value = self._progress(job_group(stmt_id))
            except Exception as exc:  # e.g. the user stopped the SparkContext
                log.debug("progress poll failed: %s", exc)
                continue
            if value is None or value == last_value:
                continue
            with self._lock:
                if self._running == stmt_id:  # never after the statement's result
                    self.channel.send("progress", id=stmt_id, progress=value)
                    last_value = value

    def _progress(self, group):
        """Completed / total tasks over the stages of the group's jobs."""
        tracker = self.sc.statusTracker()
        done = total = 0
        seen = set()
        for job_id in tracker.getJobIdsForGroup(group):
            job = tracker.getJobInfo(job_id)
            if job is None:
                continue
            for stage_id in job.stageIds:
                if stage_id in seen:
                    continue
                seen.add(stage_id)
                stage = tracker.getStageInfo(stage_id)
                if stage is None:
                    continue
                total += stage.numTasks
                # A finished job counts fully: its skipped stages never run.
                done += stage.numCompletedTasks if job.status == "RUNNING" else stage.numTasks
        if total == 0:
            return None
        return round(min(done / total, 1.0), 4)


def _force_exit():
    log.warning("shutdown took longer than %.0fs; exiting now", SHUTDOWN_GRACE)
    logging.shutdown()
    os._exit(EXIT_OK)


def _setup_logging():
    handler = logging.StreamHandler(sys.stderr)  # fd 2 is the session's log file
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("py4j").setLevel(logging.WARNING)  # chatty at INFO


def _channel_settings():
    """(socket path, secret, orphan limit, TCP host or None) from the environment epoxy starts
    the driver with. The secret leaves os.environ at once, so neither the JVM nor user code
    inherits it."""
    path = os.environ.get("EPOXY_DRIVER_SOCKET")
    secret = os.environ.pop("EPOXY_DRIVER_SECRET", None)
    if not path or not secret:
        raise ValueError("EPOXY_DRIVER_SOCKET and EPOXY_DRIVER_SECRET must be set")
    raw = os.environ.get("EPOXY_DRIVER_ORPHAN_SECONDS", str(ORPHAN_DEFAULT))
    try:
        orphan = float(raw)
    except ValueError:
        raise ValueError(f"EPOXY_DRIVER_ORPHAN_SECONDS is not a number: {raw!r}") from None
    if not orphan > 0:
        raise ValueError("EPOXY_DRIVER_ORPHAN_SECONDS must be positive")
    tcp = os.environ.get("EPOXY_DRIVER_TCP") or None
    if tcp is not None:
        try:
            ipaddress.ip_address(tcp)
        except ValueError:
            raise ValueError(f"EPOXY_DRIVER_TCP is not an IP address: {tcp!r}") from None
    return path, secret, orphan, tcp


def _fail(channel, code, message):
    """Reports a fatal `failed` event, waits for a controller to take it, and exits."""
    channel.send("failed", message=message)
    channel.wait_delivered(DELIVERY_WAIT)
    logging.shutdown()
    os._exit(code)  # skip atexit/joins; the JVM follows us


def main():
    _setup_logging()
    try:
        path, secret, orphan_limit, tcp = _channel_settings()
    except ValueError as exc:
        log.error("%s", exc)  # nobody to tell but the log
        return EXIT_BAD_CONFIG
    # Listening from the start, so that a shutdown (or epoxy's going away) during a slow
    # startup still ends the process (through the shutdown timer or the orphan watch).
    jvm_output = LogTail()
    driver = Driver(None, jvm_output)
    try:
        channel = Channel(path, secret, driver.handle_command, driver.last_run, tcp)
    except OSError as exc:
        log.error("cannot open the channel: %s", exc)  # nobody to tell but the log
        return EXIT_BAD_CONFIG
    driver.channel = channel
    threading.Thread(
        target=driver.watch_orphaned, args=(orphan_limit,), name="orphan-watch", daemon=True
    ).start()
    try:
        app_name, master, conf = read_config()
    except ValueError as exc:
        log.error("%s", exc)
        _fail(channel, EXIT_BAD_CONFIG, str(exc))
    log.info("starting Spark: app %r, master %r, conf %s", app_name, master, conf)

    driver.master, driver.conf = master, conf
    started = time.monotonic()
    try:
        if is_cluster(master):
            import pyspark

            ui_port = launch_jvm(app_name, master, conf)
            version, spark_ui = pyspark.__version__, f"http://127.0.0.1:{ui_port}"
        else:
            spark = start_spark(app_name, master, conf)
            driver.attach(spark)
            version, spark_ui = spark.version, spark.sparkContext.uiWebUrl
    except Exception as exc:
        message = failure_message(exc, jvm_output.read(MESSAGE_LIMIT))
        log.exception("could not start Spark")
        _fail(channel, EXIT_SPARK_FAILED, message)
    log.info("Spark %s ready after %.1fs", version, time.monotonic() - started)
    channel.send(
        "ready",
        spark_version=version,
        spark_ui=spark_ui,  # Spark UI (console proxy)
        python_version=platform.python_version(),
        pid=os.getpid(),
    )
    code = driver.serve()
    logging.shutdown()
    os._exit(code)  # non-daemon threads left by user code must not block the exit
