"""One Huey instance per queue, all stored in mediaml's PostgreSQL.

Connections are made lazily from the current settings (``DATABASE_URL`` or the embedded
server), so importing this module has no side effects. The job tables are created by
mediaml's migrations, not by Huey.
"""

from __future__ import annotations

import psycopg
from huey import PostgresHuey

from mediaml.config import QUEUE_NAMES, get_settings


def _connect() -> psycopg.Connection:
    from mediaml.db.database import resolve_url

    url, _ = resolve_url(get_settings())
    return psycopg.connect(url, autocommit=True)


def make_huey(queue: str) -> PostgresHuey:
    """The Huey instance for ``queue`` (results are not stored: state lives in our tables)."""
    return PostgresHuey(
        queue,
        connection=_connect,
        create_tables=False,
        results=False,
        utc=True,
        read_timeout=1,
    )


HUEYS: dict[str, PostgresHuey] = {name: make_huey(name) for name in QUEUE_NAMES}


def reset_connections() -> None:
    """Close every queue's connections (after the settings or database changed)."""
    for huey in HUEYS.values():
        huey.storage.close()


def queue_depths() -> dict[str, int]:
    """Messages waiting per queue (scheduled retries not included)."""
    from mediaml.db import get_db

    with get_db().transaction() as conn:
        rows = conn.execute("SELECT queue, count(*) AS n FROM huey_task GROUP BY queue").fetchall()
    depths = dict.fromkeys(QUEUE_NAMES, 0)
    depths.update({r["queue"]: r["n"] for r in rows if r["queue"] in depths})
    return depths
