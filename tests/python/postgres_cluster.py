"""A real PostgreSQL for the end-to-end suite, used when EPOXY_TEST_STORE=postgres.

One throw-away cluster per pytest process from Debian's `postgresql` package (initdb + pg_ctl,
as the `postgres` user when run as root, on a Unix socket in a temp dir: no port is taken),
stopped at exit; every epoxy server gets a database of its own (`--store postgresql://…`).
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_cluster: Path | None = None
_names = itertools.count()


def enabled() -> bool:
    return os.environ.get("EPOXY_TEST_STORE", "sqlite") == "postgres"


def _server_bin() -> Path:
    found = sorted(
        (int(p.name), p / "bin")
        for p in Path("/usr/lib/postgresql").glob("*")
        if p.name.isdigit() and (p / "bin" / "initdb").exists()
    )
    if not found:
        raise RuntimeError(
            "EPOXY_TEST_STORE=postgres needs Debian's postgresql package (scripts/test installs it)"
        )
    return found[-1][1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str]) -> None:
    subprocess.run(_as_postgres(cmd), check=True, capture_output=True, text=True)


def _start() -> Path:
    bin_dir = _server_bin()
    sock = Path(tempfile.mkdtemp(prefix="epoxy-e2e-pg-"))
    if os.geteuid() == 0:
        shutil.chown(sock, "postgres")
    data = sock / "data"
    _run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "epoxy", "-A", "trust"]
        + ["-E", "UTF8", "--locale=C", "--no-sync"]
    )
    options = (
        f"-k {sock} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
        " -c full_page_writes=off -c max_connections=300"
    )
    _run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(sock / "log"), "-w"]
        + ["-o", options, "start"]
    )

    def stop():
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(sock, ignore_errors=True)

    atexit.register(stop)
    return sock


def url(database: str) -> str:
    global _cluster
    if _cluster is None:
        _cluster = _start()
    return f"postgresql://epoxy@/{database}?host={_cluster}"


def fresh_database_url() -> str:
    """A new, empty database's URL. Its default collation (ICU en-US) orders ids unlike bytes,
    so a column without `COLLATE "C"` would show in the pages."""
    name = f"e2e_{os.getpid()}_{next(_names)}"
    subprocess.run(
        [
            "psql",
            url("postgres"),
            "-q",
            "-c",
            f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return url(name)
