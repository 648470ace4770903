"""A connection pool on the configured PostgreSQL, embedded or external."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from mediaml.config import Settings, get_settings
from mediaml.errors import DatabaseError

log = logging.getLogger(__name__)

Connection = psycopg.Connection[dict[str, Any]]


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _configure(conn: psycopg.Connection[Any]) -> None:
    from pgvector.psycopg import register_vector

    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        # The vector extension does not exist yet (database not migrated).
        conn.rollback()
    conn.commit()


class Database:
    """A pool of connections to one database.

    Use :meth:`transaction` for work that must commit or roll back together.
    """

    def __init__(self, url: str, *, max_size: int = 8, source: str = "DATABASE_URL") -> None:
        self.url = url
        self.source = source
        check_reachable(url, source)
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": False},
            configure=_configure,
            # A connection the server dropped (a restart, a failover) is replaced when
            # taken, not handed to a step that then fails (one empty query per checkout).
            check=ConnectionPool.check_connection,
            open=False,
            name="mediaml",
        )
        try:
            self.pool.open(wait=True, timeout=15)
        except PoolTimeout as exc:
            raise DatabaseError(
                f"could not open connections to {redact(url)} within 15 s; check {source}"
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()

    def __repr__(self) -> str:
        return f"Database({redact(self.url)!r})"


def check_reachable(url: str, source: str = "DATABASE_URL") -> None:
    """Open and close one connection, turning failures into a one-line DatabaseError."""
    try:
        with psycopg.connect(url, connect_timeout=10):
            pass
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to the database {redact(url)}: {_reason(exc)}; check {source}"
        ) from None
    except psycopg.ProgrammingError as exc:
        raise DatabaseError(f"{source} is not a valid connection URL: {exc}") from None


def _reason(exc: Exception) -> str:
    """The first line of a psycopg error, which is the one that says what happened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def lost_database(exc: Exception) -> str:
    """What to tell someone whose database stopped answering in the middle of a command."""
    where = _default.source if _default is not None else "DATABASE_URL"
    return (
        f"lost the database ({_reason(exc)}); check that it is running ({where}) and run "
        "the command again: finished work is kept and an interrupted step is taken up again"
    )


def resolve_url(settings: Settings) -> tuple[str, str]:
    """The database URL to use and where it came from (a variable name or 'embedded')."""
    if settings.database_url:
        return settings.database_url, "DATABASE_URL"
    from mediaml.db.embedded import embedded_url

    return embedded_url(settings.data_dir), f"the embedded server in {settings.data_dir}/pg"


_default: Database | None = None


def connect(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    migrate: bool = True,
    source: str = "url argument",
) -> Database:
    """Connect to mediaml's database and make it the process default.

    With no ``url``, uses ``DATABASE_URL`` (or ``PROD_DATABASE_URL``); when neither is
    set, starts or attaches to the embedded PostgreSQL in ``MEDIAML_DATA_DIR``.
    Migrations are applied unless ``migrate`` is false. ``source`` names where ``url``
    came from in error messages (what the user should check).

    Example:
        >>> import mediaml
        >>> db = mediaml.connect()          # embedded server, nothing to run first
    """
    global _default
    from mediaml.db.migrate import upgrade

    if url is None:
        url, source = resolve_url(settings or get_settings())
    if migrate:
        upgrade(url, source)
    db = Database(url, source=source)
    if _default is not None and _default is not db:
        _default.close()
    _default = db
    return db


def get_db() -> Database:
    """The process default database, connecting on first use."""
    return _default if _default is not None else connect()


def set_db(db: Database | None) -> None:
    """Make ``db`` the process default (``None`` forgets it without closing it)."""
    global _default
    _default = db
