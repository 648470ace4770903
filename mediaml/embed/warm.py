"""Loading the search indexes, and the vectors they lead to, into the server's memory.

A search from a clip touches about 1,800 database pages at 100k clips: its walk of the
variant's HNSW index, the vectors it re-ranks, the clips' rows. On a server whose shared
buffers hold those pages it reads none of them from outside. On a server that has just
started (the embedded one starts with the first process that uses it; a managed one after
maintenance) every first touch is a read, and the slowest searches wait on them: at 100k
clips the first 50 searches after a start read ~300 pages each (p50 / p95 18 / 39 ms),
against 3 pages each once warm (12 / 17 ms), on a loaded 2-core machine.

:func:`warm_search` walks each variant's whole index once: an index scan ordered by
distance, whose filter rejects every row, so pgvector's iterative scan goes on through
every vector, reading each index page and each vector's table page into shared buffers
on the way. A sequential scan would not do it: PostgreSQL reads a table larger than a
quarter of its buffers through a small ring of buffers that it then reuses. The
dashboard server runs it in a thread when it starts (``runners/web.py``); a notebook
can call it before a session of searches. A variant is warmed only while the indexes
and tables warmed so far fit in three quarters of the shared buffers: beyond that the
walk would evict the pages it had just read, and the quarter left holds the rest of what
the server reads (the clips' rows, reviews, the map). At a million 512-dim clips the
index and the vectors are 3.9 GB, which fits the embedded server's buffers on a 24 GB
machine (6 GB, see ``mediaml/db/embedded.py``) at three quarters and did not at half.

The walk is CPU work in the database server (pgvector computes a distance to every
neighbour of every vector: at a million clips ~15 CPU-seconds, and ~45 s of wall time on
a busy 2-core machine). With ``background=True``, as ``mediaml serve`` calls it, the walks
run on a connection of their own whose server process is given the lowest CPU priority
when the database runs on this machine (the embedded server): pages loaded meanwhile
then take the CPU first, instead of sharing it with the walk. A database on another
machine is left alone; its walk does not compete with this machine's pages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import psutil
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mediaml.db.database import Connection, Database, get_db
from mediaml.embed.export import variants
from mediaml.embed.store import (
    INDEXED_TABLES,
    MAX_INDEXED_DIM,
    index_expr,
    index_name,
    stored_dim,
    variant_filter,
)
from mediaml.embed.strategies import resolve_strategy

log = logging.getLogger(__name__)

COLUMNS = [
    "model_name",
    "generation_strategy",
    "table",
    "index_mib",
    "table_mib",
    "warmed",
    "seconds",
    "note",
]
# The share of shared_buffers the warmed indexes and tables may fill.
BUFFER_SHARE = 0.75
MiB = 2**20
# For the walk's transaction only: pgvector's iterative scan stops after
# hnsw.max_scan_tuples rows, or when its memory passes work_mem x scan_mem_multiplier
# (here 1 GB: about 10M visited vectors); the walk must not be cut short by the first.
_WALK_SETTINGS = {
    "hnsw.iterative_scan": "relaxed_order",
    "hnsw.max_scan_tuples": "2147483647",
    "hnsw.ef_search": "100",
    "work_mem": "64MB",
    "hnsw.scan_mem_multiplier": "16",
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "statement_timeout": "0",
    # The walk has no time limit, so the server checks every second that the client is
    # still there: a dashboard stopped mid-walk (its warm-up thread is a daemon) ends it.
    "client_connection_check_interval": "1s",
}


def walk_query(table: str, model_name: str, strategy: str, dim: int) -> sql.Composed:
    """One walk of a variant's whole index on ``table`` (see the module docstring).

    The filter ``-t.dim > 0`` holds for no row and no index can answer it, so the index
    scan hands every vector it reaches to the filter, and, finding none that passes,
    keeps walking until the graph is exhausted.
    """
    return sql.SQL(
        "SELECT count(*) AS found FROM (SELECT 1 FROM {table} t WHERE {variant}"
        " AND -t.dim > 0 ORDER BY {walk} <=> (SELECT {walk} FROM {table} t WHERE {variant}"
        " LIMIT 1) LIMIT 1) w"
    ).format(
        table=sql.Identifier(table),
        variant=variant_filter(model_name, strategy, "t"),
        walk=index_expr(dim, "t"),
    )


def _sizes(conn: Connection, index: str, table: str) -> tuple[int, int] | None:
    row = conn.execute(
        "SELECT pg_relation_size(to_regclass(%s)) AS index, pg_relation_size(%s) AS tab",
        (index, table),
    ).fetchone()
    if row is None or row["index"] is None:
        return None
    return int(row["index"]), int(row["tab"])


def _walk(conn: Connection, table: str, model_name: str, strategy: str, dim: int) -> float:
    settings = sql.SQL(", ").join(
        sql.SQL("set_config({}, {}, true)").format(sql.Literal(k), sql.Literal(v))
        for k, v in _WALK_SETTINGS.items()
    )
    conn.execute(sql.SQL("SELECT {}").format(settings))
    start = time.perf_counter()
    conn.execute(walk_query(table, model_name, strategy, dim))
    return time.perf_counter() - start


def lower_backend_priority(conn: Connection) -> bool:
    """Give the server process behind ``conn`` the lowest CPU priority (nice 19), when
    that process runs on this machine.

    The process is the one PostgreSQL names (``pg_backend_pid()``), checked to be a
    ``postgres`` process started when PostgreSQL says this connection's backend started:
    a database on another machine has no such process here, and is left alone.

    Returns:
        Whether the priority was lowered.
    """
    row = conn.execute(
        "SELECT pid, extract(epoch FROM backend_start) AS started FROM pg_stat_activity"
        " WHERE pid = pg_backend_pid()"
    ).fetchone()
    if row is None:
        return False
    try:
        backend = psutil.Process(int(row["pid"]))
        if backend.name() != "postgres" or abs(backend.create_time() - float(row["started"])) > 2:
            return False
        backend.nice(19)
    except (psutil.Error, OSError):
        return False
    return True


@contextmanager
def _walking(database: Database, background: bool) -> Iterator[Connection]:
    """Where the walks run: a pooled connection, or in the background a connection of
    their own at the lowest CPU priority (closed after, so no pooled connection keeps
    that priority for the pages' queries)."""
    if not background:
        with database.transaction() as conn:
            yield conn
        return
    with psycopg.connect(database.url, row_factory=dict_row) as own:
        if not lower_backend_priority(own):
            log.debug("the search warm-up runs at normal priority (database not on this machine)")
        own.commit()
        yield own


def warm_search(
    model: str | None = None,
    strategy: str | None = None,
    *,
    db: Database | None = None,
    background: bool = False,
) -> pd.DataFrame:
    """Read the search indexes and the vectors they lead to into the database server's
    shared buffers, so the first searches after a server start are as quick as later
    ones (see the module docstring).

    Args:
        model: warm this model's variants only (default: every stored variant).
        strategy: warm this generation strategy only.
        db: the database (default: the process's).
        background: walk at the lowest CPU priority, on a connection of its own, when
            the database runs on this machine (see the module docstring).

    Returns:
        One row per (variant, table): ``model_name``, ``generation_strategy``,
        ``table`` (``embeddings``, or ``video_vectors`` for the videos' means),
        ``index_mib``, ``table_mib``, ``warmed`` (bool), ``seconds`` and a ``note``
        saying why a variant was left cold.
    """
    database = db or get_db()
    wanted = resolve_strategy(strategy) if strategy is not None else None
    stored = [
        (m, s)
        for m, strategies in variants(db=database).items()
        for s in strategies
        if (model is None or m == model) and (wanted is None or s == wanted)
    ]
    rows: list[dict[str, Any]] = []
    with database.transaction() as conn:
        found = conn.execute(
            "SELECT pg_size_bytes(current_setting('shared_buffers')) AS b"
        ).fetchone()
        budget = int(BUFFER_SHARE * int(found["b"])) if found else 0
    counted: set[str] = set()  # tables already charged to the budget
    for model_name, strat in stored:
        with database.transaction() as conn:
            dim = stored_dim(conn, model_name)
        for table in INDEXED_TABLES:
            row: dict[str, Any] = {
                "model_name": model_name,
                "generation_strategy": strat,
                "table": table,
                "index_mib": 0.0,
                "table_mib": 0.0,
                "warmed": False,
                "seconds": 0.0,
                "note": "",
            }
            rows.append(row)
            if dim is None or dim > MAX_INDEXED_DIM:
                row["note"] = "no search index for this model's vectors"
                continue
            with database.transaction() as conn:
                sizes = _sizes(conn, index_name(model_name, strat, dim, table), table)
            if sizes is None:
                row["note"] = "no search index yet"
                continue
            index_bytes, table_bytes = sizes
            row["index_mib"] = round(index_bytes / MiB, 1)
            row["table_mib"] = round(table_bytes / MiB, 1)
            need = index_bytes + (0 if table in counted else table_bytes)
            if need > budget:
                row["note"] = (
                    f"needs {need / MiB:,.0f} MiB of shared buffers, "
                    f"{budget / MiB:,.0f} MiB left of three quarters of the server's"
                )
                continue
            budget -= need
            counted.add(table)
            with _walking(database, background) as conn:
                row["seconds"] = round(_walk(conn, table, model_name, strat, dim), 3)
            row["warmed"] = True
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(report: pd.DataFrame) -> str:
    """One line for a :func:`warm_search` report: ``"2 of 2 indexes warmed (395 MiB)"``,
    then why each index left cold was (a table shared by variants counted once)."""
    warmed = report[report["warmed"].astype(bool)]  # an empty report's column is object
    mib = warmed["index_mib"].sum() + warmed.drop_duplicates("table")["table_mib"].sum()
    notes = "".join(
        f"; {r.table} of {r.model_name}: {r.note}" for r in report.itertuples() if r.note
    )
    return f"{len(warmed)} of {len(report)} indexes warmed ({float(mib):,.0f} MiB){notes}"
