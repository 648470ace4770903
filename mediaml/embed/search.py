"""Similarity and text search over stored vectors with pgvector, returned as DataFrames.

Every query orders by ``embedding::vector(dim) <=> query`` under the literal predicate
of one (model, strategy) variant, the exact shape of that variant's HNSW index (see
:mod:`mediaml.embed.store`), so the index answers it. Filters the index cannot see
(archived clips, one source video) are applied while walking it: pgvector's iterative
index scan keeps going until the page is full instead of returning a short page.

Similarity is the cosine similarity of the vectors: ``cosine`` in ``[-1, 1]`` and
``similarity`` = ``100 * max(cosine, 0)``, a percentage. ``ascending=True`` lists the
least similar clips first; it searches the index for the nearest neighbours of the
negated query, which are exactly the farthest ones from the query.

With ``keyframe_multi`` a clip has one vector per keyframe; a clip's similarity is the
best over every (query keyframe, clip keyframe) pair, computed exactly for the
candidates the index returns.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
from psycopg import sql

from mediaml.config import get_settings
from mediaml.db.database import Connection, Database, get_db
from mediaml.embed.embedder import Embedder, get_embedder
from mediaml.embed.store import variant_filter, vector_expr
from mediaml.embed.strategies import MULTI, resolve_strategy
from mediaml.errors import ModelError, NotFoundError, QueryError

COLUMNS = [
    "rank",
    "clip_id",
    "video_id",
    "title",
    "start_frame",
    "end_frame",
    "start_time",
    "end_time",
    "state",
    "similarity",
    "cosine",
]
# The most results one query may page through (k * page); pgvector's own limit on the
# candidate list (hnsw.ef_search) is 1000, iterative scans go further.
MAX_RESULTS = 10_000
MIN_EF_SEARCH = 40
MAX_EF_SEARCH = 1000
# keyframe_multi stores 3 keyframes per clip; fetching this many rows per wanted clip
# covers the usual case in one query (a loop widens the search when it does not).
MULTI_ROWS_PER_CLIP = 4
ITERATIVE_SCAN = "relaxed_order"


def _model_name(model: str | Embedder | None) -> str:
    if isinstance(model, Embedder):
        return model.name
    return model if model is not None else get_settings().embed_model


def _check_page(k: int, page: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise QueryError(f"k must be a positive number of results, not {k!r}")
    if not isinstance(page, (int, np.integer)) or page < 1:
        raise QueryError(f"page must be 1 or more, not {page!r}")
    if k * page > MAX_RESULTS:
        raise QueryError(
            f"page {page} of {k} results goes past the first {MAX_RESULTS}; narrow the "
            "search with source_video instead"
        )


def _as_array(value: Any) -> np.ndarray:
    # register_vector returns pgvector.Vector objects for the untyped column.
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, np.float32)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})


def _tune(conn: Connection, limit: int) -> None:
    """Per-transaction search settings: enough candidates for the page, iterative scan."""
    ef = min(MAX_EF_SEARCH, max(MIN_EF_SEARCH, limit))
    conn.execute(
        "SELECT set_config('hnsw.ef_search', %s, true),"
        " set_config('hnsw.iterative_scan', %s, true)",
        (str(ef), ITERATIVE_SCAN),
    )


def nearest_query(
    model_name: str, strategy: str, dim: int, *, source_video: bool, exclude: bool
) -> sql.Composed:
    """The nearest-neighbour SQL for one variant (parameters ``q``, ``order``, ``limit``,
    and ``video`` / ``exclude`` when asked for). Exposed so tests can EXPLAIN it."""
    where: list[sql.Composable] = [
        variant_filter(model_name, strategy, "e"),
        sql.SQL("c.state <> 'archived'"),
    ]
    if source_video:
        where.append(sql.SQL("c.video_id = %(video)s"))
    if exclude:
        where.append(sql.SQL("e.clip_id <> %(exclude)s"))
    expr = vector_expr(dim, "e")
    cast = sql.SQL("::vector({})").format(sql.SQL(str(int(dim))))
    return sql.SQL(
        "WITH hits AS MATERIALIZED ("
        " SELECT e.clip_id, {expr} <=> %(q)s{cast} AS distance, c.video_id, c.start_frame,"
        " c.end_frame, c.start_time, c.end_time, c.state"
        " FROM embeddings e JOIN clips c ON c.id = e.clip_id"
        " WHERE {where}"
        " ORDER BY {expr} <=> %(order)s{cast}"
        " LIMIT %(limit)s)"
        " SELECT h.clip_id, h.distance, h.video_id, v.title, h.start_frame, h.end_frame,"
        " h.start_time, h.end_time, h.state"
        " FROM hits h JOIN source_videos v ON v.id = h.video_id"
    ).format(expr=expr, cast=cast, where=sql.SQL(" AND ").join(where))


def _nearest(
    conn: Connection,
    queries: np.ndarray,
    *,
    model_name: str,
    strategy: str,
    k: int,
    page: int,
    source_video: int | None,
    exclude: int | None,
    ascending: bool,
) -> pd.DataFrame:
    dim = int(queries.shape[1])
    wanted = k * page
    per_clip = MULTI_ROWS_PER_CLIP if strategy == MULTI else 1
    query = nearest_query(
        model_name,
        strategy,
        dim,
        source_video=source_video is not None,
        exclude=exclude is not None,
    )
    limit = wanted * per_clip
    while True:
        _tune(conn, limit)
        rows: list[dict[str, Any]] = []
        full = False
        for vector in queries:
            params = {
                "q": vector,
                "order": -vector if ascending else vector,
                "limit": limit,
                "video": source_video,
                "exclude": exclude,
            }
            found = conn.execute(query, params).fetchall()
            full = full or len(found) == limit
            rows.extend(found)
        hits = pd.DataFrame(rows)
        distinct = hits["clip_id"].nunique() if len(hits) else 0
        # Only keyframe_multi can come back with fewer distinct clips than rows.
        if distinct >= wanted or not full or per_clip == 1 or limit >= MAX_RESULTS * per_clip:
            break
        limit *= 2
    if hits.empty:
        return _empty()
    hits["cosine"] = 1.0 - hits["distance"].astype(float)
    hits = hits.drop(columns="distance").drop_duplicates("clip_id", keep="first")
    if strategy == MULTI:
        best = _best_pairs(conn, queries, hits["clip_id"].tolist(), model_name, strategy)
        hits["cosine"] = hits["clip_id"].map(best)
    hits = hits.sort_values(["cosine", "clip_id"], ascending=[ascending, True], kind="stable")
    hits = hits.iloc[(page - 1) * k : page * k].reset_index(drop=True)
    hits["similarity"] = hits["cosine"].clip(lower=0.0) * 100.0
    hits["rank"] = np.arange((page - 1) * k + 1, (page - 1) * k + 1 + len(hits))
    return hits[COLUMNS]


def _best_pairs(
    conn: Connection, queries: np.ndarray, clip_ids: list[int], model_name: str, strategy: str
) -> dict[int, float]:
    """Exact best cosine over every (query part, clip part) pair, per candidate clip."""
    rows = conn.execute(
        sql.SQL("SELECT clip_id, embedding FROM embeddings WHERE {} AND clip_id = ANY(%s)").format(
            variant_filter(model_name, strategy)
        ),
        (clip_ids,),
    ).fetchall()
    best: dict[int, float] = {}
    for row in rows:
        score = float((queries @ _as_array(row["embedding"])).max())
        best[row["clip_id"]] = max(score, best.get(row["clip_id"], -2.0))
    return best


def similar(
    clip_id: int,
    k: int = 24,
    *,
    model: str | Embedder | None = None,
    strategy: str | None = None,
    source_video: int | None = None,
    ascending: bool = False,
    page: int = 1,
    db: Database | None = None,
) -> pd.DataFrame:
    """The clips most (or least) similar to a clip, one page at a time.

    Args:
        clip_id: the clip to compare with (itself is left out).
        k: results per page.
        model: model name (default ``MEDIAML_EMBED_MODEL``); no model is loaded.
        strategy: generation strategy (default ``MEDIAML_EMBED_STRATEGY``).
        source_video: only clips of this source video.
        ascending: least similar first.
        page: 1-based page number.
        db: the database (default: the process default).

    Returns:
        One row per clip: ``rank`` (1-based across pages), ``clip_id``, ``video_id``,
        ``title``, ``start_frame``, ``end_frame``, ``start_time``, ``end_time``,
        ``state``, ``similarity`` (percent) and ``cosine``. Archived clips never appear.

    Raises:
        NotFoundError: the clip does not exist or has no vector of this variant.
        QueryError: ``k`` or ``page`` is out of range.
    """
    _check_page(k, page)
    model_name = _model_name(model)
    strategy = resolve_strategy(strategy)
    database = db if db is not None else get_db()
    with database.transaction() as conn:
        rows = conn.execute(
            "SELECT embedding FROM embeddings WHERE clip_id = %s AND model_name = %s"
            " AND generation_strategy = %s ORDER BY part",
            (clip_id, model_name, strategy),
        ).fetchall()
        if not rows:
            if conn.execute("SELECT 1 FROM clips WHERE id = %s", (clip_id,)).fetchone() is None:
                raise NotFoundError(f"clip {clip_id} does not exist")
            raise NotFoundError(
                f"clip {clip_id} has no {model_name} / {strategy} embedding yet; embed it first"
            )
        queries = np.stack([_as_array(r["embedding"]) for r in rows])
        return _nearest(
            conn,
            queries,
            model_name=model_name,
            strategy=strategy,
            k=k,
            page=page,
            source_video=source_video,
            exclude=clip_id,
            ascending=ascending,
        )


def search_text(
    query: str,
    k: int = 24,
    *,
    model: str | Embedder | None = None,
    strategy: str | None = None,
    source_video: int | None = None,
    page: int = 1,
    db: Database | None = None,
) -> pd.DataFrame:
    """The clips that best match a text, with the model's text tower.

    Text longer than the model's context (77 tokens for CLIP) is truncated.

    Returns:
        The same columns as :func:`similar`.

    Raises:
        QueryError: the text is empty, or ``k`` / ``page`` is out of range.
        ModelError: the model has no text tower (e.g. the descriptor) or cannot be loaded.
    """
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the search text is empty; type a few words describing the clips")
    _check_page(k, page)
    embedder = get_embedder(model)
    if not embedder.has_text:
        raise ModelError(
            f"model {embedder.name} has no text tower, so it cannot search by text; "
            "search with a CLIP model or use similar() from a clip"
        )
    strategy = resolve_strategy(strategy)
    vector = embedder.embed_texts([query.strip()])
    database = db if db is not None else get_db()
    with database.transaction() as conn:
        return _nearest(
            conn,
            vector,
            model_name=embedder.name,
            strategy=strategy,
            k=k,
            page=page,
            source_video=source_video,
            exclude=None,
            ascending=False,
        )


def random_clip(
    *,
    model: str | Embedder | None = None,
    strategy: str | None = None,
    source_video: int | None = None,
    db: Database | None = None,
) -> int | None:
    """A random embedded, non-archived clip of a variant (e.g. to start exploring).

    Picks a random point in the clip id range and takes the next embedded clip, so it
    costs an index lookup at any table size (clips after id gaps are a little likelier).

    Returns:
        A clip id, or None when no clip matches.
    """
    model_name = _model_name(model)
    strategy = resolve_strategy(strategy)
    database = db if db is not None else get_db()
    variant = variant_filter(model_name, strategy, "e")
    base = sql.SQL(
        "SELECT e.clip_id FROM embeddings e JOIN clips c ON c.id = e.clip_id"
        " WHERE {} AND c.state <> 'archived'"
    ).format(variant)
    with database.transaction() as conn:
        if source_video is not None:
            # One video has few clips: choosing among them all is cheap and uniform.
            row = conn.execute(
                base + sql.SQL(" AND c.video_id = %s ORDER BY random() LIMIT 1"), (source_video,)
            ).fetchone()
            return None if row is None else int(row["clip_id"])
        bounds = conn.execute(
            sql.SQL(
                "SELECT min(clip_id) AS lo, max(clip_id) AS hi FROM embeddings WHERE {}"
            ).format(variant_filter(model_name, strategy))
        ).fetchone()
        if bounds is None or bounds["lo"] is None:
            return None
        pivot = random.randint(int(bounds["lo"]), int(bounds["hi"]))
        for clause in (
            " AND e.clip_id >= %s ORDER BY e.clip_id",
            " AND e.clip_id < %s ORDER BY e.clip_id",
        ):
            row = conn.execute(base + sql.SQL(clause + " LIMIT 1"), (pivot,)).fetchone()
            if row is not None:
                return int(row["clip_id"])
        return None


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
    model_name = _model_name(model)
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
    frame["vector"] = [_as_array(v) for v in frame["vector"]]
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
