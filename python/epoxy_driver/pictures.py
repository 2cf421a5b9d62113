"""Pictures for the Glue kernel's ``%matplot`` and ``%plotly`` magics.

The kernel sends those magics inside a statement's code, as its last non-blank line, and shows
the answer as an image.  This module finds such a line and turns the value it names into PNG
bytes; the REPL runs the code and evaluates the expression.  It never imports matplotlib or
plotly itself: a value can only be their figure if the user's code imported them already.

>>> trailing_magic("import matplotlib.pyplot as plt\\nplt.plot([1, 2])\\n%matplot plt\\n\\n")
Magic(kind='matplot', expr='plt', line=3)
>>> trailing_magic("%matplotlib inline") is None  # IPython's magic, not one of the kernel's
True
>>> magic_at("x = 1\\n%plotly fig\\nx", 2)
Magic(kind='plotly', expr='fig', line=2)
"""

import importlib.util
import io
import re
import sys
from typing import NamedTuple

PNG_LIMIT = 4 << 20  # bytes of PNG one picture may have (its base64 goes into one result event)
PIXEL_LIMIT = 40_000_000  # width x height checked before drawing, so memory stays bounded
MIME_TYPE = "image/png;base64"  # what the kernel's display_result decodes into image/png

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MAGIC = re.compile(r"[ \t]*%(matplot|plotly)(?![^ \t])(.*)")
_EXPECTED = {
    "matplot": "matplotlib.pyplot or a matplotlib Figure, e.g. `%matplot plt`",
    "plotly": "a Plotly figure (plotly.graph_objects.Figure, e.g. from plotly.express), "
    "e.g. `%plotly fig`",
}


class Magic(NamedTuple):
    """A ``%matplot <expr>`` / ``%plotly <expr>`` line: which magic, its expression, its line."""

    kind: str
    expr: str
    line: int

    @property
    def usage(self):
        return f"%{self.kind} expects {_EXPECTED[self.kind]}"


def lines_of(code):
    """``code`` split where Python's compiler counts lines (not at form feeds etc.)."""
    return _LINE_BREAK.split(code)


def trailing_magic(code):
    """The magic on the last non-blank line of ``code``, or None."""
    lines = lines_of(code)
    for number in range(len(lines), 0, -1):
        if lines[number - 1].strip():
            return magic_at(code, number)
    return None


def magic_at(code, line):
    """The magic on line ``line`` (1-based) of ``code``, or None."""
    lines = lines_of(code)
    if not 1 <= line <= len(lines):
        return None
    match = _MAGIC.fullmatch(lines[line - 1])
    if match is None:
        return None
    return Magic(match.group(1), match.group(2).strip(), line)


def render(magic, value):
    """PNG bytes of ``value`` for ``magic``; TypeError/ValueError saying what was expected."""
    if magic.kind == "matplot":
        try:
            return _matplotlib_png(magic, value)
        finally:
            # Like Jupyter's inline backend: a shown figure is done with, and pyplot would
            # otherwise keep every figure of every cell alive.
            pyplot = sys.modules.get("matplotlib.pyplot")
            if pyplot is not None:
                pyplot.close("all")
    return _plotly_png(magic, value)


def _matplotlib_png(magic, value):
    pyplot = sys.modules.get("matplotlib.pyplot")
    figure_type = getattr(sys.modules.get("matplotlib.figure"), "Figure", None)
    if pyplot is not None and value is pyplot:
        if not pyplot.get_fignums():
            raise ValueError(
                f"%matplot {magic.expr}: there is no figure to show; draw one first "
                "(e.g. plt.bar(x, y))"
            )
        figure = pyplot.gcf()
    elif figure_type is not None and isinstance(value, figure_type):
        figure = value
    else:
        raise TypeError(f"{magic.usage}; got {_type_name(value)}")
    width, height = figure.get_size_inches() * figure.dpi
    _check_pixels(magic, width, height)
    buffer = io.BytesIO()
    # The figure's own dpi: the picture is figsize x dpi pixels, whatever savefig.dpi says.
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    return _checked_size(magic, buffer.getvalue())


def _plotly_png(magic, value):
    base_figure = getattr(sys.modules.get("plotly.basedatatypes"), "BaseFigure", None)
    if base_figure is None or not isinstance(value, base_figure):
        raise TypeError(f"{magic.usage}; got {_type_name(value)}")
    if importlib.util.find_spec("kaleido") is None:
        raise ModuleNotFoundError(
            "%plotly draws PNG pictures with the kaleido package, which this session's Python "
            "does not have (pip install kaleido==0.2.1)"
        )
    import plotly.io as pio

    scope = pio.kaleido.scope
    width = value.layout.width or scope.default_width
    height = value.layout.height or scope.default_height
    scale = scope.default_scale
    _check_pixels(magic, width * scale, height * scale)
    try:
        png = pio.to_image(value, format="png", engine="kaleido")
    except KeyboardInterrupt:
        # A cancel between kaleido's request and its reply leaves the reply in the pipe, where
        # the next picture would read it: start a fresh kaleido process next time.
        scope._shutdown_kaleido()  # kaleido 0.2.1 (pinned) has no public way to do this
        raise
    return _checked_size(magic, png)


def _check_pixels(magic, width, height):
    if width * height > PIXEL_LIMIT:
        raise ValueError(
            f"%{magic.kind} {magic.expr}: the picture would be {width:.0f} x {height:.0f} pixels, "
            f"over the limit of {PIXEL_LIMIT:,} pixels; make the figure smaller"
        )


def _checked_size(magic, png):
    if len(png) > PNG_LIMIT:
        raise ValueError(
            f"%{magic.kind} {magic.expr}: the picture is {len(png):,} bytes as PNG, over the "
            f"limit of {PNG_LIMIT:,} bytes; make the figure smaller or simpler"
        )
    return png


def _type_name(value):
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
