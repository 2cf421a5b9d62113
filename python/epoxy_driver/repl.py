"""Statement execution with REPL semantics (like Livy / Jupyter).

Knows nothing about Spark or the protocol: ``Repl.run`` takes source code and
returns the result fields (status, text, for errors ename/evalue/traceback, and
for a statement ending in ``%matplot``/``%plotly`` its picture).
"""

import __future__

import ast
import base64
import io
import sys
import traceback

from epoxy_driver import pictures

OUTPUT_LIMIT = 1 << 20  # bytes of captured output kept per statement
FILENAME = "<stdin>"  # what user frames are called in tracebacks (as in Livy)

_FUTURE_FLAGS = 0
for _name in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _name).compiler_flag


class Capture:
    """What a statement writes to sys.stdout and sys.stderr, in order, each chunk tagged with
    its stream: plain statements show both together, pictures show them apart.

    Only the first ``limit`` bytes (both streams together) are kept; the rest is just counted,
    so a statement printing gigabytes cannot exhaust memory.
    """

    def __init__(self, limit=OUTPUT_LIMIT):
        self._chunks = []  # (stream name, bytes)
        self._size = 0
        self._dropped = 0
        self._limit = limit
        self._forward = None
        self.stdout = CapturedStream(self, "stdout")
        self.stderr = CapturedStream(self, "stderr")

    def write(self, s, stream):
        forward = self._forward
        if forward is not None:
            # The statement is over but something kept a reference to this
            # stream (a thread, a logging handler): send it to the log.
            return forward.write(s)
        # Encode now: the limit is in bytes, and "replace" turns lone
        # surrogates into "?" so the result is always valid UTF-8.
        data = s.encode("utf-8", "replace")
        room = self._limit - self._size
        if len(data) > room:
            self._dropped += len(data) - room
            data = data[:room]
        if data:
            self._chunks.append((stream, data))
            self._size += len(data)
        return len(s)

    def forward_to(self, stream):
        self._forward = stream

    def getvalue(self, stream=None):
        """The text of one stream, or of both in the order written."""
        data = b"".join(d for name, d in self._chunks if stream in (None, name))
        # "ignore" only drops a character cut in half at the limit.
        text = data.decode("utf-8", "ignore")
        if self._dropped:
            text += f"\n[epoxy: output truncated, {self._dropped} more bytes]"
        return text


class CapturedStream(io.TextIOBase):
    """sys.stdout or sys.stderr during a statement: writes go to a shared Capture."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, capture, name):
        super().__init__()
        self._capture = capture
        self.name = name

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        return self._capture.write(s, self.name)


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

        A statement whose last non-blank line is a picture magic answers with
        ``picture`` (mime_type, base64 data, stderr) and only its stdout as text.
        ``should_abort`` is checked right before the code starts, so that a
        cancel that arrived before the interruptible window still counts.
        """
        out = Capture()
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out.stdout, out.stderr
        error = png = None
        try:
            try:
                self.executing = True
                if should_abort():
                    raise KeyboardInterrupt
                png = self._execute(code, out)
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
        elif png is not None:
            result["text"] = out.getvalue("stdout")
            result["picture"] = {
                "mime_type": pictures.MIME_TYPE,
                "data": base64.b64encode(png).decode("ascii"),
                "stderr": out.getvalue("stderr"),
            }
        return result

    def _execute(self, code, out):
        """Runs ``code``; returns the PNG its trailing picture magic asks for, if any."""
        magic = pictures.trailing_magic(code)
        if magic is not None:
            # Everything after the magic is blank: the code is the lines above it.
            code = "\n".join(pictures.lines_of(code)[: magic.line - 1])
        try:
            tree = self._compile(code, "exec", ast.PyCF_ONLY_AST)
        except SyntaxError as exc:
            misplaced = pictures.magic_at(code, exc.lineno or 0)
            if misplaced is None:
                raise
            raise SyntaxError(
                f"%{misplaced.kind} must be on the last line of the statement, where the Glue "
                f"kernel puts it; found on line {misplaced.line}",
                (FILENAME, misplaced.line, 1, pictures.lines_of(code)[misplaced.line - 1]),
            ) from None
        # Like Jupyter: a trailing expression is evaluated and its repr shown.
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        if tree.body:
            exec(self._compile(tree, "exec"), self.namespace)
        if last is not None:
            value = eval(self._compile(last, "eval"), self.namespace)
            if value is not None:
                out.write(repr(value), "stdout")
        if magic is None:
            return None
        return pictures.render(magic, self._magic_value(magic))

    def _magic_value(self, magic):
        """The value of the magic's expression, compiled so that errors name the magic's line."""
        if not magic.expr:
            raise SyntaxError(
                f"{magic.usage}; the line has no expression",
                (FILENAME, magic.line, 1, f"%{magic.kind}"),
            )
        # Blank lines in front: tracebacks and syntax errors give the magic's own line number.
        source = "\n" * (magic.line - 1) + magic.expr
        try:
            return eval(self._compile(source, "eval"), self.namespace)
        except NameError as exc:
            if exc.__traceback__.tb_next.tb_next is not None:
                raise  # raised by code the expression called, not by the expression itself
            raise NameError(f"{exc}; {magic.usage}", name=exc.name) from None

    def _compile(self, source, mode, extra_flags=0):
        code = compile(source, FILENAME, mode, self._future_flags | extra_flags, dont_inherit=True)
        if not extra_flags & ast.PyCF_ONLY_AST:
            self._future_flags |= code.co_flags & _FUTURE_FLAGS
        return code


# Code objects carry the file name as imported; user code is "<stdin>".
_THIS_FILE = Repl.run.__code__.co_filename


def describe_exception(exc):
    """ename/evalue/traceback of ``exc`` without the driver's own frames.

    The driver frames (Repl.run, Repl._execute, pictures.render) are the
    outermost ones, so dropping them from the front leaves exactly the user's
    call chain (and nothing but the message for the driver's own errors).
    """
    tb = exc.__traceback__
    while tb is not None and _is_driver_frame(tb):
        tb = tb.tb_next
    try:
        lines = traceback.format_exception(type(exc), exc, tb)
    except Exception:  # a broken __str__ etc. must not break the driver
        lines = [f"{type(exc).__name__}: <unprintable exception>\n"]
    return {"ename": type(exc).__name__, "evalue": _safe_str(exc), "traceback": lines}


_DRIVER_FILES = (_THIS_FILE, pictures.render.__code__.co_filename)


def _is_driver_frame(tb):
    return tb.tb_frame.f_code.co_filename in _DRIVER_FILES


def _safe_str(obj):
    try:
        return str(obj)
    except Exception:
        return "<unprintable>"
