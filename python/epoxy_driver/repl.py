"""Statement execution with REPL semantics (like Livy / Jupyter).

Knows nothing about Spark or the protocol: ``Repl.run`` takes source code and
returns the result fields (status, text and for errors ename/evalue/traceback).
"""

import __future__
import ast
import io
import sys
import traceback

OUTPUT_LIMIT = 1 << 20  # bytes of captured output kept per statement
FILENAME = "<stdin>"  # what user frames are called in tracebacks (as in Livy)

_FUTURE_FLAGS = 0
for _name in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _name).compiler_flag


class Capture(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr during a statement.

    Both streams share one buffer so the output keeps its order.  Only the
    first ``limit`` bytes are kept; the rest is just counted, so a statement
    printing gigabytes cannot exhaust memory.
    """

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, limit=OUTPUT_LIMIT):
        super().__init__()
        self._chunks = []
        self._size = 0
        self._dropped = 0
        self._limit = limit
        self._forward = None

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        forward = self._forward
        if forward is not None:
            # The statement is over but something kept a reference to this
            # stream (a thread, a logging handler): send it to the log.
            return forward.write(s)
        # Encode now: the limit is in bytes, and "replace" turns lone
        # surrogates into "?" so the result is always valid UTF-8.
        data = s.encode("utf-8", "replace")
        room = self._limit - self._size
        if len(data) <= room:
            self._chunks.append(data)
            self._size += len(data)
        else:
            if room > 0:
                self._chunks.append(data[:room])
                self._size += room
            self._dropped += len(data) - room
        return len(s)

    def forward_to(self, stream):
        self._forward = stream

    def getvalue(self):
        # "ignore" only drops a character cut in half at the limit.
        text = b"".join(self._chunks).decode("utf-8", "ignore")
        if self._dropped:
            text += f"\n[epoxy: output truncated, {self._dropped} more bytes]"
        return text


class Repl:
    """One namespace shared by all statements of a session."""

    def __init__(self, namespace):
        self.namespace = namespace
        # True only while user code runs: the SIGINT handler raises
        # KeyboardInterrupt only then, never inside the driver's own code.
        self.executing = False
        self._future_flags = 0  # `from __future__ import ...` sticks, as in a REPL

    def run(self, code, should_abort=lambda: False):
        """Runs ``code``; returns a dict with status, text and error fields.

        ``should_abort`` is checked right before the code starts, so that a
        cancel that arrived before the interruptible window still counts.
        """
        out = Capture()
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        error = None
        try:
            try:
                self.executing = True
                if should_abort():
                    raise KeyboardInterrupt
                self._execute(code, out)
            finally:
                self.executing = False
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too
            error = exc
        self.executing = False
        sys.stdout, sys.stderr = saved
        out.forward_to(saved[1])
        result = {"status": "ok", "text": out.getvalue()}
        if error is not None:
            result["status"] = "error"
            result.update(describe_exception(error))
        return result

    def _execute(self, code, out):
        tree = self._compile(code, "exec", ast.PyCF_ONLY_AST)
        # Like Jupyter: a trailing expression is evaluated and its repr shown.
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        if tree.body:
            exec(self._compile(tree, "exec"), self.namespace)
        if last is not None:
            value = eval(self._compile(last, "eval"), self.namespace)
            if value is not None:
                out.write(repr(value))

    def _compile(self, source, mode, extra_flags=0):
        code = compile(source, FILENAME, mode, self._future_flags | extra_flags, dont_inherit=True)
        if not extra_flags & ast.PyCF_ONLY_AST:
            self._future_flags |= code.co_flags & _FUTURE_FLAGS
        return code


# Code objects carry the file name as imported; user code is "<stdin>".
_THIS_FILE = Repl.run.__code__.co_filename


def describe_exception(exc):
    """ename/evalue/traceback of ``exc`` without the driver's own frames.

    The driver frames (Repl.run, Repl._execute) are the outermost ones, so
    dropping them from the front leaves exactly the user's call chain.
    """
    tb = exc.__traceback__
    while tb is not None and _is_driver_frame(tb):
        tb = tb.tb_next
    try:
        lines = traceback.format_exception(type(exc), exc, tb)
    except Exception:  # a broken __str__ etc. must not break the driver
        lines = [f"{type(exc).__name__}: <unprintable exception>\n"]
    return {"ename": type(exc).__name__, "evalue": _safe_str(exc), "traceback": lines}


def _is_driver_frame(tb):
    return tb.tb_frame.f_code.co_filename == _THIS_FILE


def _safe_str(obj):
    try:
        return str(obj)
    except Exception:
        return "<unprintable>"
