"""The nearest-neighbour query behind every search, and the ranking of what it returns.

A search is three steps in one statement. First the variant's index (HNSW over the
vectors in half precision, see :mod:`mediaml.embed.store`) is walked for
:func:`candidate_count` candidates by cosine distance, under the literal predicate of one
(model, strategy) variant, so the planner matches the index. Then the candidates are
widened by every clip of a few videos (video expansion, below). Last, everything is
re-ranked by the exact cosine distance of the stored full-precision vectors and the
page is cut, so the order and the scores are the real vectors' own.

Video expansion: the shots of one video resemble each other far more than they resemble
the rest of a catalogue (same set, same people, same light), so the best matches of a
query cluster by video. HNSW keeps few links between such tight clusters (its neighbour
selection drops a link to a point that an already linked, nearer point covers), so a
walk often reaches only part of a video, or misses it: at 1M clips in 10,000 videos
the walk alone returned 0.85 of the true 24 nearest at ``ef_search`` 200, most queries
missing some of their own video's scenes. So the search also reads the videos of its
best :data:`SEED_HITS` candidates and one more: for a search from a clip, the clip's own
video (a lookup, no walk); for a vector or a text, the :data:`ROUTED_VIDEOS` videos
whose mean vector lies nearest the query (an HNSW walk over one row per video,
:mod:`mediaml.embed.video_vectors`); within one source video, that video. It reads
them through the ``clips (video_id)`` index and ranks their clips exactly. That costs a
few hundred row lookups, far less than the wider walk that would find as much
(bench/scale.py measures recall and latency at 10k..1M). A video contributes at most
:data:`EXPAND_PER_VIDEO` rows (its first clips), so a very long video costs no more.

Filters the index cannot see (archived clips, one source video) are applied while
walking it, and pgvector's iterative index scan keeps walking until the candidate list
is full instead of returning a short one. A search is one round trip, like the bare
SQL: it runs on a pooled connection in autocommit mode (no BEGIN/COMMIT around a single
read), whose session keeps mediaml's HNSW search settings once set (they only affect
HNSW index scans).

:func:`order_hits` and :func:`page_frame` are pure: they turn rows with cosine distances
into a ranking and a page of it into the result frame.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from psycopg import sql

from mediaml.db.database import Connection, Database
from mediaml.embed.store import index_expr, variant_filter, vector_expr

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
# Built once: pandas infers an Index's dtype from a list on every frame otherwise.
_COLUMN_INDEX = pd.Index(COLUMNS)
DETAILS = ["video_id", "title", "start_frame", "end_frame", "start_time", "end_time", "state"]
_DTYPES: dict[str, Any] = {
    "video_id": np.int64,
    "start_frame": np.int64,
    "end_frame": np.int64,
    "start_time": np.float64,
    "end_time": np.float64,
}

# Candidates the index hands to the exact re-ranking: RERANK_FACTOR per row of the page,
# at least MIN_CANDIDATES, plus the rows of the earlier pages. Half precision changes a
# cosine distance by ~1e-3, so only near-ties at the page's edge can swap: a small
# margin is enough.
RERANK_FACTOR = 2
MIN_CANDIDATES = 48
# pgvector's hnsw.ef_search: the graph walk's candidate list (and the walk over the
# videos' means). At least EF_SEARCH_FLOOR, at most 1000; past it the iterative scan
# keeps going, up to hnsw.max_scan_tuples visited rows. With whole videos read (video
# expansion), 100 gave the same recall at 10k..1M clips as 200 at a shorter walk; the
# walk alone found 0.98 of the true 24 nearest at 100k clips with 100 (0.99 with 200).
# bench/scale.py measures recall and latency at 10k..1M clips.
EF_SEARCH_FLOOR = 100
# Video expansion: the videos of the best SEED_HITS candidates (by exact distance) and
# the ROUTED_VIDEOS videos with the nearest mean vectors are read in full, at most
# EXPAND_PER_VIDEO rows each. At 1M clips, reading the best candidate's video and the
# nearest mean's gave the same recall as 3 and 2 at 0.7x the latency (p95 18.7 vs
# 28.3 ms): every extra video is ~100 more row lookups; the walk finds the rest. A
# search from a clip reads the clip's own video instead of walking the means: the
# means' walk touched ~3,000 index pages at 1M clips (as many as the main walk) to
# find, nearly always, that same video (recall@24 at 1M: 1.000 vs 0.993).
SEED_HITS = 1
ROUTED_VIDEOS = 1
EXPAND_PER_VIDEO = 400
MAX_EF_SEARCH = 1000
MIN_SCAN_TUPLES = 20_000  # pgvector's default
# relaxed_order lets the scan return slightly out-of-order rows, faster than strict
# ordering; the exact re-ranking orders them.
ITERATIVE_SCAN = "relaxed_order"


def candidate_count(limit: int, skip: int = 0) -> int:
    """Candidates to re-rank exactly for a query that wants ``limit`` rows, the first
    ``skip`` of them only to be passed over (earlier pages).

    A deep page costs what the first page costs plus one candidate per row passed over:
    the margin is the page's own (RERANK_FACTOR per row), not one per row of every
    earlier page as well. Page 10 of 24 rows re-ranks 264 candidates, not 480
    (bench/scale.py measures both pages' latency and recall).
    """
    skip = min(max(0, skip), limit)
    return skip + max(MIN_CANDIDATES, RERANK_FACTOR * (limit - skip))


def ef_search(candidates: int) -> int:
    """The HNSW candidate list size for a walk that wants ``candidates`` rows (for a deep
    page, the rows of its first page: see :func:`run_nearest`)."""
    return min(MAX_EF_SEARCH, max(EF_SEARCH_FLOOR, candidates))


def max_scan_tuples(candidates: int) -> int:
    """Rows the iterative scan may visit: room for every candidate, twice over."""
    return max(MIN_SCAN_TUPLES, 2 * candidates)


def nearest_query(
    model_name: str,
    strategy: str,
    dim: int,
    *,
    limit: int,
    skip: int = 0,
    source_video: bool = False,
    exclude: bool = False,
    from_clip: bool = False,
    ascending: bool = False,
) -> sql.Composed:
    """The nearest-neighbour SQL for one variant, returning at most ``limit`` rows of
    which the first ``skip`` belong to earlier pages (see :func:`candidate_count`).

    The limits are written into the statement: a prepared statement's generic plan
    would otherwise guess the number of rows wanted. Parameters: ``q`` (the query
    vector) and ``order`` (the vector to order by: ``q``, or ``-q`` for the least
    similar first, with ``ascending``), or with ``from_clip`` just ``clip``, whose
    stored vector is looked up inside the statement; ``video`` and ``exclude`` when
    asked for.

    Returns rows of ``clip_id``, ``distance`` (exact cosine distance to the query) and
    the clip's details, nearest first (farthest first with ``ascending``: the cosine
    distance to ``-q`` is exactly 2 minus the distance to ``q``, so one distance per row
    orders both ways).
    """
    where: list[sql.Composable] = [
        variant_filter(model_name, strategy, "e"),
        sql.SQL("c.state <> 'archived'"),
    ]
    if source_video:
        where.append(sql.SQL("c.video_id = %(video)s"))
    if exclude:
        where.append(sql.SQL("e.clip_id <> %(exclude)s"))
    if from_clip:
        # A scalar subquery runs once before the scan, so the index can order by it.
        query: sql.Composable = sql.SQL(
            "(SELECT {} FROM embeddings WHERE clip_id = %(clip)s AND {} LIMIT 1)"
        ).format(vector_expr(dim), variant_filter(model_name, strategy))
        order = query
    else:
        cast = sql.SQL("::vector({})").format(sql.SQL(str(int(dim))))
        query = sql.SQL("%(q)s{}").format(cast)
        order = sql.SQL("%(order)s{}").format(cast)
    exact = vector_expr(dim, "h")
    # The video read besides the best candidates' (see the module docstring).
    routing: sql.Composable
    if source_video:
        routing = sql.SQL("SELECT %(video)s::bigint")
    elif from_clip:
        routing = sql.SQL("SELECT c.video_id FROM clips c WHERE c.id = %(clip)s")
    else:
        routing = sql.SQL(
            "SELECT r.video_id FROM (SELECT v.video_id FROM video_vectors v"
            " WHERE {filter} ORDER BY {route} <=> ({order})::halfvec({dim}) LIMIT {routed}) r"
        ).format(
            filter=variant_filter(model_name, strategy, "v"),
            route=index_expr(dim, "v"),
            order=order,
            dim=sql.SQL(str(int(dim))),
            routed=sql.Literal(ROUTED_VIDEOS),
        )
    rows = sql.SQL(
        "e.id, e.clip_id, e.embedding, c.video_id, c.start_frame, c.end_frame,"
        " c.start_time, c.end_time, c.state"
    )
    return sql.SQL(
        "WITH candidates AS MATERIALIZED ("
        " SELECT {rows} FROM embeddings e JOIN clips c ON c.id = e.clip_id"
        " WHERE {where}"
        " ORDER BY {walk} <=> ({order})::halfvec({dim})"
        " LIMIT {candidates}),"
        # Video expansion (see the module docstring): the best candidates' videos and
        # the clip's own, the source video or the videos with the nearest means.
        " seeds AS MATERIALIZED ("
        " SELECT b.video_id FROM (SELECT h.video_id FROM candidates h"
        " ORDER BY {exact} <=> {order} LIMIT {seed_hits}) b"
        " UNION {routing}),"
        " expanded AS MATERIALIZED ("
        " SELECT x.* FROM seeds s CROSS JOIN LATERAL ("
        " SELECT {rows} FROM clips c JOIN embeddings e ON e.clip_id = c.id"
        " WHERE c.video_id = s.video_id AND {where}"
        " AND NOT EXISTS (SELECT 1 FROM candidates k WHERE k.id = e.id)"
        " LIMIT {per_video}) x),"
        " hits AS MATERIALIZED ("
        " SELECT h.clip_id, {exact} <=> {query} AS distance, h.video_id, h.start_frame,"
        " h.end_frame, h.start_time, h.end_time, h.state"
        " FROM (SELECT * FROM candidates UNION ALL SELECT * FROM expanded) h"
        " ORDER BY distance {direction} LIMIT {limit})"
        # A lookup per hit, never a scan of every video to join a page of titles.
        " SELECT h.clip_id, h.distance, h.video_id,"
        " (SELECT v.title FROM source_videos v WHERE v.id = h.video_id) AS title,"
        " h.start_frame, h.end_frame, h.start_time, h.end_time, h.state"
        " FROM hits h"
    ).format(
        rows=rows,
        walk=index_expr(dim, "e"),
        dim=sql.SQL(str(int(dim))),
        exact=exact,
        direction=sql.SQL("DESC" if ascending else "ASC"),
        query=query,
        order=order,
        where=sql.SQL(" AND ").join(where),
        candidates=sql.Literal(candidate_count(int(limit), int(skip))),
        seed_hits=sql.Literal(SEED_HITS),
        routing=routing,
        per_video=sql.Literal(EXPAND_PER_VIDEO),
        limit=sql.Literal(int(limit)),
    )


# The HNSW settings each pooled connection's session has been given.
_SESSION_EF: weakref.WeakKeyDictionary[Connection, tuple[int, int]] = weakref.WeakKeyDictionary()
_SESSION_LOCK = threading.Lock()


@contextmanager
def search_session(database: Database) -> Iterator[Connection]:
    """A pooled connection in autocommit mode, for read-only searching.

    A single SELECT needs no transaction around it; without one, each statement is one
    round trip instead of three (BEGIN, statement, COMMIT).
    """
    with database.pool.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:
                conn.autocommit = False


def run_nearest(
    conn: Connection,
    query: sql.Composed,
    params: Mapping[str, Any],
    limit: int,
    skip: int = 0,
) -> list[dict[str, Any]]:
    """Run a :func:`nearest_query` made with ``limit`` and ``skip`` with the right settings.

    On an autocommit connection (:func:`search_session`) the settings are set on the
    session once and kept, so a search costs one round trip. Inside a caller's
    transaction they are set transaction-locally instead.
    """
    candidates = candidate_count(limit, skip)
    # The graph walk keeps the first page's list size whatever the page: the iterative
    # scan hands over the candidates for the earlier pages' rows past it, which costs
    # far less than a wider walk (a page 10 of 24 rows walks like page 1).
    ef = ef_search(candidate_count(limit - skip))
    scan = max_scan_tuples(candidates)
    settings = (
        "SELECT set_config('hnsw.ef_search', %s, {local}),"
        " set_config('hnsw.max_scan_tuples', %s, {local}),"
        " set_config('hnsw.iterative_scan', %s, {local})"
    )
    values = (str(ef), str(scan), ITERATIVE_SCAN)
    if conn.autocommit:
        with _SESSION_LOCK:
            ready = _SESSION_EF.get(conn) == (ef, scan)
        if not ready:
            conn.execute(settings.format(local="false"), values)
            with _SESSION_LOCK:
                _SESSION_EF[conn] = (ef, scan)
    else:
        conn.execute(settings.format(local="true"), values)
    return conn.execute(query, params).fetchall()


def empty_frame() -> pd.DataFrame:
    """A result with the right columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})


Hit = tuple[int, float, Mapping[str, Any]]
"""One ranked clip: its id, its score (cosine) and its row of details."""


def order_hits(
    rows: Sequence[Mapping[str, Any]],
    *,
    ascending: bool = False,
    cosines: Mapping[int, float] | None = None,
) -> list[Hit]:
    """Raw hits as one ranked list of distinct clips, best first (or worst first).

    Args:
        rows: hits with ``clip_id``, ``distance`` and the clip's details; a clip may
            appear more than once (several query vectors or keyframes).
        ascending: least similar first.
        cosines: exact scores per clip that replace ``1 - distance`` (keyframe_multi).

    Returns:
        ``(clip_id, score, row)`` per clip, ordered by score, ties by clip id.
    """
    best: dict[int, tuple[float, Mapping[str, Any]]] = {}
    for row in rows:
        if row["distance"] is None:
            continue
        clip = int(row["clip_id"])
        score = cosines[clip] if cosines is not None else 1.0 - float(row["distance"])
        # A clip is as similar as its best match, whichever order the page is in.
        if clip not in best or score > best[clip][0]:
            best[clip] = (score, row)
    sign = 1.0 if ascending else -1.0
    ordered = sorted(best.items(), key=lambda item: (sign * item[1][0], item[0]))
    return [(clip, score, row) for clip, (score, row) in ordered]


def page_frame(chosen: Sequence[Hit], first: int) -> pd.DataFrame:
    """A page of ranked clips as the result frame, ranks counted from ``first``."""
    if not chosen:
        return empty_frame()
    count = len(chosen)
    picked = [row for _, _, row in chosen]
    scores = np.fromiter((score for _, score, _ in chosen), np.float64, count)
    # Typed arrays up front: pandas then builds the frame without inferring each column.
    columns: dict[str, Any] = {
        "rank": np.arange(first, first + count),
        "clip_id": np.fromiter((clip for clip, _, _ in chosen), np.int64, count),
    }
    for name in DETAILS:
        dtype = _DTYPES.get(name, object)
        values = [row[name] for row in picked]
        columns[name] = (
            np.array(values, dtype=dtype) if dtype is object else np.fromiter(values, dtype, count)
        )
    columns["similarity"] = np.clip(scores, 0.0, 1.0) * 100.0
    columns["cosine"] = scores
    return pd.DataFrame(columns, columns=_COLUMN_INDEX, index=pd.RangeIndex(count), copy=False)


def rank_hits(
    rows: Sequence[Mapping[str, Any]],
    *,
    k: int,
    page: int,
    ascending: bool = False,
    cosines: Mapping[int, float] | None = None,
) -> pd.DataFrame:
    """One page of results from raw hits (see :func:`order_hits`), best first (or worst
    first), as a DataFrame with :data:`COLUMNS`; ``rank`` counts from the first page."""
    ordered = order_hits(rows, ascending=ascending, cosines=cosines)
    return page_frame(ordered[(page - 1) * k : page * k], (page - 1) * k + 1)
