"""Entry point: ``python -u -m epoxy_driver`` (see ``driver.py``)."""

import os
import sys

# Claim the protocol channel before anything else can touch fds 0 and 1:
# keep private copies (os.dup() fds are not inherited, so neither the JVM,
# the Python workers nor user subprocesses ever see the channel), then point
# fd 1 at the log (fd 2) so that the JVM, C extensions and stray prints
# cannot corrupt the events, and fd 0 at /dev/null so that user code reading
# stdin (input(), a subprocess) cannot swallow commands.
_COMMAND_FD = os.dup(0)
_EVENT_FD = os.dup(1)
os.dup2(2, 1)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)

from epoxy_driver.driver import main  # noqa: E402  (must come after the dups)

sys.exit(main(_COMMAND_FD, _EVENT_FD))
