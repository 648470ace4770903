"""Stored vectors as a table for analysis: a pandas DataFrame or an Arrow table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from psycopg import sql
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.rows import tuple_row
from psycopg.types import TypeInfo

from mediaml.db.database import Database, get_db
from mediaml.embed.embedder import Embedder
from mediaml.embed.search import as_array, model_name_of
from mediaml.embed.store import variant_filter
from mediaml.embed.strategies import resolve_strategy

COLUMNS = [
    "clip_id",
    "video_id",
    "state",
    "part",
    "model_name",
    "model_version",
    "generation_strategy",
    "dim",
    "vector",
]
BATCH_ROWS = 5_000


def embeddings(
    model: str | Embedder | None = None,
    strategy: str | None = None,
    *,
    as_arrow: bool = False,
    include_archived: bool = False,
    db: Database | None = None,
) -> Any:
    """Every stored vector of a variant, for analysis in a notebook.

    Returns:
        A DataFrame with ``clip_id``, ``video_id``, ``state``, ``part``,
        ``model_name``, ``model_version``, ``generation_strategy``, ``dim`` and
        ``vector`` (a ``float32`` array per row), ordered by clip and part; or with
        ``as_arrow`` a :class:`pyarrow.Table` whose ``vector`` column is a
        fixed-size list of ``float32`` (a plain list column when there are no rows).
    """
    model_name = model_name_of(model)
    strategy = resolve_strategy(strategy)
    database = db if db is not None else get_db()
    where = [variant_filter(model_name, strategy, "e")]
    if not include_archived:
        where.append(sql.SQL("c.state <> 'archived'"))
    condition = sql.SQL(" AND ").join(where)
    query = sql.SQL(
        "SELECT e.clip_id, c.video_id, c.state, e.part, e.model_name, e.model_version,"
        " e.generation_strategy, e.dim, e.embedding AS vector"
        " FROM embeddings e JOIN clips c ON c.id = e.clip_id WHERE {}"
        " ORDER BY e.clip_id, e.part"
    ).format(condition)
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS[:-1]}
    with database.transaction() as conn:
        # One snapshot for the count and the rows, so the matrix is sized exactly.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        counted = conn.execute(
            sql.SQL(
                "SELECT count(*) AS n, max(e.dim) AS dim FROM embeddings e"
                " JOIN clips c ON c.id = e.clip_id WHERE {}"
            ).format(condition)
        ).fetchone()
        rows, dim = (int(counted["n"]), int(counted["dim"] or 0)) if counted else (0, 0)
        # Every vector goes straight into one float32 matrix, a batch of rows at a time
        # from a server-side cursor: memory is the vectors themselves plus one batch
        # (fetching every row first held each vector twice more, as a pgvector object
        # and as its own array: 3.6x the vectors' size).
        matrix = np.empty((rows, dim), np.float32)
        filled = 0
        vector_type = TypeInfo.fetch(conn, "vector")
        with conn.cursor(name="mediaml_embeddings", binary=True, row_factory=tuple_row) as cur:
            if vector_type is not None:  # vectors as their raw bytes: one numpy step a batch
                cur.adapters.register_loader(vector_type.oid, _RawVector)
            cur.itersize = BATCH_ROWS
            cur.execute(query)
            while batch := cur.fetchmany(BATCH_ROWS):
                *values, vectors = zip(*batch, strict=True)
                for column, part in zip(columns.values(), values, strict=True):
                    column.extend(part)
                matrix[filled : filled + len(batch)] = _decode(vectors, dim)
                filled += len(batch)
    frame = pd.DataFrame(columns, columns=COLUMNS[:-1])
    if not as_arrow:
        frame["vector"] = list(matrix)  # each row a float32 array (a view of the matrix)
        return frame
    import pyarrow as pa

    if rows:
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dim)
    else:
        # No rows, so no dimension to fix: an empty list column.
        vectors = pa.array([], pa.list_(pa.float32()))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.append_column("vector", vectors)


class _RawVector(Loader):
    """A vector in pgvector's binary form, left as bytes for :func:`_decode`."""

    format = Format.BINARY

    def load(self, data: Any) -> bytes:
        return bytes(data)


def _decode(vectors: tuple[Any, ...], dim: int) -> np.ndarray:
    """Vectors in pgvector's binary form (a 2-byte dimension, 2 unused bytes, then
    big-endian float32s; or already decoded, without the raw loader) as one array."""
    if vectors and not isinstance(vectors[0], bytes):
        return np.stack([as_array(v) for v in vectors])
    raw = np.frombuffer(b"".join(vectors), dtype=">f4").reshape(len(vectors), dim + 1)
    return raw[:, 1:]


def variants(*, db: Database | None = None) -> dict[str, list[str]]:
    """Which embedding variants are stored: model name -> its generation strategies."""
    with (db or get_db()).transaction() as conn:
        # A skip scan of the variant index: one probe per variant, not a pass over
        # every vector (a million rows take a millisecond, not a second).
        rows = conn.execute(
            "WITH RECURSIVE v AS ("
            " (SELECT model_name, generation_strategy FROM embeddings"
            "  ORDER BY model_name, generation_strategy LIMIT 1)"
            " UNION ALL SELECT n.model_name, n.generation_strategy FROM v, LATERAL"
            " (SELECT model_name, generation_strategy FROM embeddings e"
            "  WHERE (e.model_name, e.generation_strategy) > (v.model_name, v.generation_strategy)"
            "  ORDER BY model_name, generation_strategy LIMIT 1) n)"
            " SELECT model_name, generation_strategy FROM v"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for r in rows:
        found.setdefault(r["model_name"], []).append(r["generation_strategy"])
    return found
