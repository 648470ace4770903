"""Stored vectors as a table for analysis: a pandas DataFrame or an Arrow table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from psycopg import sql

from mediaml.db.database import Database, get_db
from mediaml.embed.embedder import Embedder
from mediaml.embed.search import as_array, model_name_of
from mediaml.embed.store import variant_filter
from mediaml.embed.strategies import resolve_strategy


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
    query = sql.SQL(
        "SELECT e.clip_id, c.video_id, c.state, e.part, e.model_name, e.model_version,"
        " e.generation_strategy, e.dim, e.embedding AS vector"
        " FROM embeddings e JOIN clips c ON c.id = e.clip_id WHERE {}"
        " ORDER BY e.clip_id, e.part"
    ).format(sql.SQL(" AND ").join(where))
    with database.transaction() as conn, conn.cursor(binary=True) as cur:
        rows = cur.execute(query).fetchall()
    frame = pd.DataFrame(
        rows,
        columns=[
            "clip_id",
            "video_id",
            "state",
            "part",
            "model_name",
            "model_version",
            "generation_strategy",
            "dim",
            "vector",
        ],
    )
    frame["vector"] = [as_array(v) for v in frame["vector"]]
    if not as_arrow:
        return frame
    import pyarrow as pa

    if len(frame):
        flat = np.concatenate(frame["vector"].tolist())
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat), int(frame["dim"].iloc[0]))
    else:
        # No rows, so no dimension to fix: an empty list column.
        vectors = pa.array([], pa.list_(pa.float32()))
    table = pa.Table.from_pandas(frame.drop(columns="vector"), preserve_index=False)
    return table.append_column("vector", vectors)


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
