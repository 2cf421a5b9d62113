"""Per-session PySpark driver of epoxy.

The epoxy server starts one ``python -u -m epoxy_driver`` process per Glue
interactive session.  The process owns a SparkSession, runs statements in a
shared REPL namespace and talks to the server with single-line JSON messages
(commands on stdin, events on the original stdout).  See ``__main__.py``.
"""
