"""Similarity and text search over stored vectors, returned as DataFrames.

Similarity is the cosine similarity of the vectors: ``cosine`` in ``[-1, 1]`` and
``similarity`` = ``100 * max(cosine, 0)``, a percentage. Archived clips never appear.

``ascending=True`` lists the least similar clips first: the index is searched for the
nearest neighbours of the negated query, which are exactly the farthest from the query.

With ``keyframe_multi`` a clip has one vector per keyframe; a clip's similarity is its
best (query keyframe, clip keyframe) pair, computed exactly for the candidates the index
returns.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from mediaml.db.database import Connection, Database, get_db
from mediaml.embed.embedder import Embedder, get_embedder
from mediaml.embed.nearest import (
    Hit,
    empty_frame,
    nearest_query,
    order_hits,
    run_nearest,
    search_session,
)
from mediaml.embed.paging import Search, search_page
from mediaml.embed.policy import default_model
from mediaml.embed.store import stored_dim, variant_filter
from mediaml.embed.strategies import MULTI, resolve_strategy
from mediaml.errors import ModelError, NotFoundError, QueryError

# The most results one query may page through (k * page), and the most rows a search
# ranks (one more shows whether the last page is the last).
MAX_RESULTS = 10_000
MAX_ROWS = MAX_RESULTS + 1
# keyframe_multi stores 3 keyframes per clip; fetching this many rows per wanted clip
# covers the usual case in one query (the search widens when it does not).
MULTI_ROWS_PER_CLIP = 4

# A model's vector length never changes once stored (the store refuses another), so it
# is looked up once per database and model: the query text depends on it.
_DIMS: dict[tuple[str, str], int] = {}
_DIMS_LOCK = threading.Lock()


def model_name_of(model: str | Embedder | None) -> str:
    """The model name of a name, an embedder, or None (the configured default)."""
    if isinstance(model, Embedder):
        return model.name
    return model if model is not None else default_model()


def _check_clip_id(clip_id: Any) -> None:
    if isinstance(clip_id, bool) or not isinstance(clip_id, (int, np.integer)):
        raise QueryError(
            f"clip_id must be a clip's id (an integer, e.g. from mediaml.clips()), not {clip_id!r}"
        )


def _check_page(k: int, page: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise QueryError(f"k must be a positive number of results, not {k!r}")
    if isinstance(page, bool) or not isinstance(page, (int, np.integer)) or page < 1:
        raise QueryError(f"page must be 1 or more, not {page!r}")
    if k * page > MAX_RESULTS:
        raise QueryError(
            f"page {page} of {k} results goes past the first {MAX_RESULTS}; narrow the "
            "search with source_video instead"
        )


def as_array(value: Any) -> np.ndarray:
    """A stored vector as ``float32`` numpy (``register_vector`` gives ``pgvector.Vector``)."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, np.float32)


def _dim(database: Database, conn: Connection, model_name: str) -> int | None:
    key = (database.url, model_name)
    with _DIMS_LOCK:
        if key in _DIMS:
            return _DIMS[key]
    dim = stored_dim(conn, model_name)
    if dim is not None:
        with _DIMS_LOCK:
            _DIMS[key] = dim
    return dim


def _forget_dim(database: Database, model_name: str) -> None:
    with _DIMS_LOCK:
        _DIMS.pop((database.url, model_name), None)


def _missing(conn: Connection, clip_id: int, model_name: str, strategy: str) -> NotFoundError:
    clip = conn.execute("SELECT state FROM clips WHERE id = %s", (clip_id,)).fetchone()
    if clip is None:
        return NotFoundError(f"clip {clip_id} does not exist")
    others = conn.execute(
        "SELECT DISTINCT model_name, generation_strategy FROM embeddings WHERE clip_id = %s"
        " ORDER BY 1, 2",
        (clip_id,),
    ).fetchall()
    wanted = f"clip {clip_id} has no {model_name} / {strategy} embedding"
    if others:
        # Vectors of different models are never compared, so name the ones it has.
        has = ", ".join(f"{r['model_name']} / {r['generation_strategy']}" for r in others)
        first = others[0]
        return NotFoundError(
            f"{wanted}; it has {has}: search with model={first['model_name']!r}, "
            f"strategy={first['generation_strategy']!r} (CLI: --model "
            f"{first['model_name']} --strategy {first['generation_strategy']})"
        )
    return NotFoundError(
        f"{wanted} yet (it is {clip['state']!r}); approve it and run the pipeline "
        "(mediaml.run_pipeline() or a worker) to embed it"
    )


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
        ``state``, ``similarity`` (percent) and ``cosine``.

    Raises:
        NotFoundError: the clip does not exist or has no vector of this variant.
        QueryError: ``k`` or ``page`` is out of range.
    """
    _check_page(k, page)
    _check_clip_id(clip_id)
    model_name = model_name_of(model)
    strategy = resolve_strategy(strategy)
    database = db if db is not None else get_db()
    clip_id = int(clip_id)
    with search_session(database) as conn:
        dim = _dim(database, conn, model_name)
        if dim is None:
            raise _missing(conn, clip_id, model_name, strategy)
        search = (
            _from_clip_vectors(clip_id, model_name, strategy, source_video, ascending)
            if strategy == MULTI or ascending
            else _from_clip(clip_id, model_name, strategy, dim, source_video)
        )
        key = (database, model_name, strategy, "clip", clip_id, source_video, ascending)
        try:
            found = search_page(
                conn, database, key, search, k=k, page=page, ascending=ascending, limit=MAX_ROWS
            )
        except psycopg.errors.DataException as exc:
            # The model's vectors were replaced by ones of another length since the
            # length was cached: forget it, so the next search looks it up again.
            _forget_dim(database, model_name)
            raise ModelError(
                f"the stored vectors of model {model_name} changed length during the search "
                f"({str(exc).splitlines()[0]}); search again"
            ) from None
        if found is None:
            raise _missing(conn, clip_id, model_name, strategy)
        return found


def _ties_cut_off(rows: list[dict[str, Any]], needed: int) -> bool:
    """Whether every fetched row ties the last one the page needs, so more clips at that
    same distance may exist beyond the limit (duplicate shots)."""
    distances = sorted(r["distance"] for r in rows if r["distance"] is not None)
    if len(distances) < needed or needed == 0:
        return False
    return distances[-1] - distances[needed - 1] <= 1e-9


def _from_clip(
    clip_id: int, model_name: str, strategy: str, dim: int, source_video: int | None
) -> Search:
    """One vector per clip, nearest first: the clip's vector is looked up inside the
    search statement, so a search is one round trip."""
    params = {"clip": clip_id, "exclude": clip_id, "video": source_video}

    def search(conn: Connection, limit: int, skip: int) -> tuple[list[Hit], bool] | None:
        wanted = limit
        while True:
            query = nearest_query(
                model_name,
                strategy,
                dim,
                limit=limit,
                skip=skip,
                source_video=source_video is not None,
                exclude=True,
                from_clip=True,
            )
            rows = run_nearest(conn, query, params, limit, skip)
            if len(rows) < limit or limit >= MAX_ROWS or not _ties_cut_off(rows, wanted - 1):
                break
            limit *= 2
        if not rows or rows[0]["distance"] is None:
            # No rows: either nothing else matches, or the clip has no vector to search with.
            has_vector = conn.execute(
                sql.SQL("SELECT 1 FROM embeddings WHERE clip_id = %s AND {}").format(
                    variant_filter(model_name, strategy)
                ),
                (clip_id,),
            ).fetchone()
            return ([], True) if has_vector else None
        return order_hits(rows), len(rows) < limit

    return search


def _from_clip_vectors(
    clip_id: int, model_name: str, strategy: str, source_video: int | None, ascending: bool
) -> Search:
    """Several vectors per clip, or the farthest first: the clip's vectors are fetched
    first."""

    def search(conn: Connection, limit: int, skip: int) -> tuple[list[Hit], bool] | None:
        rows = conn.execute(
            sql.SQL(
                "SELECT embedding FROM embeddings WHERE clip_id = %s AND {} ORDER BY part"
            ).format(variant_filter(model_name, strategy)),
            (clip_id,),
        ).fetchall()
        if not rows:
            return None
        queries = np.stack([as_array(r["embedding"]) for r in rows])
        return _search_vectors(
            conn, queries, model_name, strategy, limit, skip, source_video, clip_id, ascending
        )

    return search


def _search_vectors(
    conn: Connection,
    queries: np.ndarray,
    model_name: str,
    strategy: str,
    wanted: int,
    skip: int,
    source_video: int | None,
    exclude: int | None,
    ascending: bool,
) -> tuple[list[Hit], bool]:
    """The ``wanted`` clips nearest any of ``queries`` (farthest with ``ascending``),
    the first ``skip`` of them only needed roughly, and whether none lie beyond."""
    per_clip = MULTI_ROWS_PER_CLIP if strategy == MULTI else 1
    limit, skip = wanted * per_clip, skip * per_clip
    while True:
        query = nearest_query(
            model_name,
            strategy,
            int(queries.shape[1]),
            limit=limit,
            skip=skip,
            source_video=source_video is not None,
            exclude=exclude is not None,
            ascending=ascending,
        )
        hits: list[dict[str, Any]] = []
        full = False
        for vector in queries:
            params = {
                "q": vector,
                "order": -vector if ascending else vector,
                "video": source_video,
                "exclude": exclude,
            }
            found = run_nearest(conn, query, params, limit, skip)
            full = full or len(found) == limit
            hits.extend(found)
        distinct = len({h["clip_id"] for h in hits})
        # Only keyframe_multi can come back with fewer distinct clips than rows; any
        # strategy can have clips tied at the page boundary.
        short = distinct < wanted and per_clip > 1
        tied = len(queries) == 1 and not ascending and _ties_cut_off(hits, wanted - 1)
        if not full or limit >= MAX_ROWS * per_clip or not (short or tied):
            break
        limit *= 2
    cosines = None
    if strategy == MULTI and hits:
        cosines = _best_pairs(conn, queries, [h["clip_id"] for h in hits], model_name, strategy)
    return order_hits(hits, ascending=ascending, cosines=cosines), not full


def _best_pairs(
    conn: Connection, queries: np.ndarray, clip_ids: list[int], model_name: str, strategy: str
) -> dict[int, float]:
    """Exact best cosine over every (query part, clip part) pair, per candidate clip."""
    rows = conn.execute(
        sql.SQL("SELECT clip_id, embedding FROM embeddings WHERE {} AND clip_id = ANY(%s)").format(
            variant_filter(model_name, strategy)
        ),
        (sorted(set(clip_ids)),),
    ).fetchall()
    best: dict[int, float] = {}
    for row in rows:
        score = float((queries @ as_array(row["embedding"])).max())
        best[row["clip_id"]] = max(score, best.get(row["clip_id"], -2.0))
    return best


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
    text = query.strip()
    database = db if db is not None else get_db()
    key = (database, embedder.name, strategy, "text", text, source_video, False)
    vectors: list[np.ndarray] = []

    def search(conn: Connection, limit: int, skip: int) -> tuple[list[Hit], bool]:
        if not vectors:  # the text tower runs only when the ranking has to be made
            vectors.append(embedder.embed_texts([text]))
        return _search_vectors(
            conn, vectors[0], embedder.name, strategy, limit, skip, source_video, None, False
        )

    with search_session(database) as conn:
        found = search_page(
            conn, database, key, search, k=k, page=page, ascending=False, limit=MAX_ROWS
        )
    return found if found is not None else empty_frame()


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
    model_name = model_name_of(model)
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
        # The bound is given on both tables: with it on one only, the planner merge-joins
        # from the first clip (0.2 s at 100k clips, 1 s at 1M) instead of from the pivot.
        for clause in (
            " AND e.clip_id >= %(p)s AND c.id >= %(p)s ORDER BY e.clip_id LIMIT 1",
            " AND e.clip_id < %(p)s AND c.id < %(p)s ORDER BY e.clip_id LIMIT 1",
        ):
            row = conn.execute(base + sql.SQL(clause), {"p": pivot}).fetchone()
            if row is not None:
                return int(row["clip_id"])
        return None
