"""Entry point: ``python -u -m epoxy_driver`` (see ``driver.py``).

epoxy starts the driver detached, with stdin on /dev/null and stdout and stderr on the
session's log; the protocol runs over the socket of ``channel.py``.  fd 1 is pointed at the
log (fd 2) anyway, and fd 0 at /dev/null, so that whoever else starts a driver gets the same.
"""

import os
import sys

os.dup2(2, 1)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)

from epoxy_driver.driver import main  # noqa: E402  (must come after the dups)

sys.exit(main())
