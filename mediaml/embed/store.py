"""Storing vectors in the ``embeddings`` table and keeping its search indexes.

The ``embedding`` column has no fixed dimension so models of any size share the table.
pgvector indexes need one, so each (model, strategy) variant gets its own partial
expression index, created on the variant's first write: an HNSW graph over the vectors
in half precision (``halfvec``, 2 bytes a dimension), by cosine distance::

    CREATE INDEX embeddings_hv_<model>_<strategy>_<hash> ON embeddings
        USING hnsw ((embedding::halfvec(512)) halfvec_cosine_ops)
        WHERE model_name = '<model>' AND generation_strategy = '<strategy>'

The search (:mod:`mediaml.embed.nearest`) walks it for a few candidates more than the
page wants and re-ranks them by the exact cosine distance of the stored full-precision
vectors. Half precision orders vectors almost exactly as single precision does, and
halves the graph: at a million 512-dim clips it is 1.3 GB, which the embedded
server's shared buffers hold. An earlier design walked a graph over binary-quantised
vectors (one bit a dimension, Hamming distance; migration 0007): small and quick to
build, but Hamming distances tie so often that the walk lost a fifth of the true
neighbours at a million clips; migration 0010 replaced it (bench/scale.py has the
recall, latency and build time at each size).

The planner only uses such an index for a query with the identical expression and a
WHERE clause that implies the predicate, with both written as literals; so
:func:`index_expr` and :func:`variant_filter` build them for the index and for every
search query alike. Once the index exists it also makes PostgreSQL refuse a vector of
another dimension for that model, behind the clear check in :func:`upsert_many`.

One index per variant rather than per model: a search always asks for one strategy,
and an index holding only that strategy's rows never wastes visits on the others.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from psycopg import sql

from mediaml.db.database import Connection
from mediaml.embed.strategies import MULTI, resolve_strategy
from mediaml.embed.video_vectors import refresh_video_vectors
from mediaml.errors import ModelError, NotFoundError

# pgvector's defaults, written out so the index definition says what it is.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
# Memory for building an index in one pass: an HNSW build that outgrows it writes the
# graph out and goes several times slower. 1M 512-dim half vectors need about 2 GB.
# Set for the building transaction only (the server's own setting applies when higher).
BUILD_MEMORY = "2GB"
# pgvector indexes halfvec up to 4,000 dimensions.
MAX_INDEXED_DIM = 4000
# The tables a variant's vectors are searched in: the clips' own, and the mean of each
# video's clips (mediaml.embed.video_vectors).
INDEXED_TABLES = ("embeddings", "video_vectors")
_SHORT = {"keyframe_multi_avg": "avg", "keyframe_single": "single", "keyframe_multi": "multi"}


class ModelIdentity(Protocol):
    """What the store needs to know about the model that made some vectors."""

    name: str
    version: str
    dim: int


def index_name(model_name: str, strategy: str, dim: int, table: str = "embeddings") -> str:
    """The deterministic name of a variant's search index on ``table`` (``embeddings``, or
    ``video_vectors``: see :mod:`mediaml.embed.video_vectors`), at most 63 characters.

    Migrations 0010 and 0011 compute the same names in SQL for the variants they index.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", model_name.lower()).strip("_")[:24] or "model"
    digest = hashlib.md5(
        f"{model_name}/{strategy}/{dim}".encode(), usedforsecurity=False
    ).hexdigest()[:8]
    return f"{table}_hv_{slug}_{_SHORT[strategy]}_{digest}"


def _cast(kind: str, dim: int, alias: str) -> sql.Composable:
    column = sql.Identifier(alias, "embedding") if alias else sql.Identifier("embedding")
    return sql.SQL("({}::{}({}))").format(column, sql.SQL(kind), sql.SQL(str(int(dim))))


def vector_expr(dim: int, alias: str = "") -> sql.Composable:
    """``embedding::vector(dim)``: the full-precision vector the search re-ranks by."""
    return _cast("vector", dim, alias)


def index_expr(dim: int, alias: str = "") -> sql.Composable:
    """``embedding::halfvec(dim)``: what the index holds and the search walks it by."""
    return _cast("halfvec", dim, alias)


def variant_filter(model_name: str, strategy: str, alias: str = "") -> sql.Composable:
    """The index predicate, with literals, for one (model, strategy) variant."""

    def col(name: str) -> sql.Composable:
        return sql.Identifier(alias, name) if alias else sql.Identifier(name)

    return sql.SQL("{} = {} AND {} = {}").format(
        col("model_name"),
        sql.Literal(model_name),
        col("generation_strategy"),
        sql.Literal(strategy),
    )


def stored_dim(conn: Connection, model_name: str) -> int | None:
    """The dimension of the vectors already stored for a model, or None if it has none."""
    row = conn.execute(
        "SELECT dim FROM embeddings WHERE model_name = %s LIMIT 1", (model_name,)
    ).fetchone()
    return None if row is None else int(row["dim"])


def ensure_index(conn: Connection, model_name: str, strategy: str, dim: int) -> str:
    """Create the variant's search indexes unless they exist; returns the name of the one
    over the clips (the other is over the videos' mean vectors, same definition).

    Runs in the caller's transaction. An advisory lock on the name makes concurrent
    first writers wait for one another instead of racing to create it.
    """
    if dim > MAX_INDEXED_DIM:
        raise ModelError(
            f"{model_name} makes {dim}-dim vectors; search indexes hold at most "
            f"{MAX_INDEXED_DIM} dimensions: use a model with smaller vectors"
        )
    for table in INDEXED_TABLES:
        name = index_name(model_name, strategy, dim, table)
        if conn.execute("SELECT to_regclass(%s) AS oid", (name,)).fetchone()["oid"] is not None:  # type: ignore[index]
            continue
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
        conn.execute(
            "SELECT set_config('maintenance_work_mem', %s, true) WHERE"
            " pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes(%s)",
            (BUILD_MEMORY, BUILD_MEMORY),
        )
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw ({} halfvec_cosine_ops)"
                " WITH (m = {}, ef_construction = {}) WHERE {}"
            ).format(
                sql.Identifier(name),
                sql.Identifier(table),
                index_expr(dim),
                sql.Literal(HNSW_M),
                sql.Literal(HNSW_EF_CONSTRUCTION),
                variant_filter(model_name, strategy),
            )
        )
    return index_name(model_name, strategy, dim)


def _checked(vectors: np.ndarray, dim: int, strategy: str, clip_id: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"clip {clip_id}: need an (n >= 1, dim) array, got shape {array.shape}")
    if array.shape[1] != dim:
        raise ModelError(
            f"clip {clip_id}: got {array.shape[1]}-dim vectors for a model that makes "
            f"{dim}-dim ones"
        )
    if strategy != MULTI and array.shape[0] != 1:
        raise ValueError(f"strategy {strategy} stores one vector per clip, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise ValueError(f"clip {clip_id}: vectors contain NaN or infinite values")
    return array


# Writes of vectors by this process so far: a search's kept ranking (mediaml.embed.paging)
# made before the latest write is not used again.
_WRITES = itertools.count(1)
_LAST_WRITE = [0]


def write_generation() -> int:
    """A number that grows whenever this process writes or deletes vectors."""
    return _LAST_WRITE[0]


def _wrote() -> None:
    _LAST_WRITE[0] = next(_WRITES)


def upsert_many(
    conn: Connection,
    items: Sequence[tuple[int, np.ndarray]],
    model: ModelIdentity,
    strategy: str | None = None,
) -> int:
    """Store the vectors of many clips for one model and strategy, replacing old ones.

    A clip's rows are unique per (clip, model, strategy, part): re-embedding updates
    them in place (new vector, ``model_version``, ``dim``) and removes parts left over
    from an earlier run with more keyframes, so nothing is ever duplicated.

    Args:
        conn: a connection inside the caller's transaction.
        items: ``(clip_id, vectors)`` pairs; ``vectors`` is ``(1, dim)`` or, for
            ``keyframe_multi``, ``(n, dim)`` (row i is part i).
        model: the model that made the vectors (an :class:`~mediaml.embed.Embedder`).
        strategy: the generation strategy (default ``MEDIAML_EMBED_STRATEGY``).

    Returns:
        The number of rows written.

    Raises:
        ModelError: a vector's dimension differs from the model's, or from the
            dimension already stored under this model name.
        NotFoundError: a clip does not exist.
    """
    strategy = resolve_strategy(strategy)
    if not items:
        return 0
    # A clip given twice keeps its last vectors, as two upserts in a row would.
    latest = {int(cid): v for cid, v in items}
    checked = [(cid, _checked(v, model.dim, strategy, cid)) for cid, v in latest.items()]
    have = stored_dim(conn, model.name)
    if have is not None and have != model.dim:
        raise ModelError(
            f"the database holds {have}-dim vectors for model {model.name!r}, these are "
            f"{model.dim}-dim; a different model needs a different name (or delete the "
            f"old vectors of {model.name!r} first)"
        )
    clip_ids = sorted({cid for cid, _ in checked})
    found = {
        r["id"]: r["video_id"]
        for r in conn.execute("SELECT id, video_id FROM clips WHERE id = ANY(%s)", (clip_ids,))
    }
    missing = [c for c in clip_ids if c not in found]
    if missing:
        raise NotFoundError(f"cannot store embeddings: clip(s) {missing} do not exist")
    ensure_index(conn, model.name, strategy, model.dim)
    _wrote()
    rows = [
        (cid, model.name, model.version, strategy, part, model.dim, vector)
        for cid, vectors in checked
        for part, vector in enumerate(vectors)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO embeddings (clip_id, model_name, model_version, generation_strategy,"
            " part, dim, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (clip_id, model_name, generation_strategy, part) DO UPDATE SET"
            " model_version = EXCLUDED.model_version, dim = EXCLUDED.dim,"
            " embedding = EXCLUDED.embedding",
            rows,
        )
        cur.execute(
            "DELETE FROM embeddings e USING unnest(%s::bigint[], %s::int[]) AS k(clip_id, parts)"
            " WHERE e.clip_id = k.clip_id AND e.model_name = %s"
            " AND e.generation_strategy = %s AND e.part >= k.parts",
            ([c for c, _ in checked], [len(v) for _, v in checked], model.name, strategy),
        )
    # Every clip written keeps at least one vector, so no video's mean can disappear here.
    videos = sorted(set(found.values()))
    refresh_video_vectors(conn, videos, model.name, strategy, removed=False)
    return len(rows)


def upsert_embeddings(
    conn: Connection,
    clip_id: int,
    model: ModelIdentity,
    strategy: str | None,
    vectors: np.ndarray,
) -> int:
    """Store one clip's vectors (see :func:`upsert_many`); returns the rows written."""
    return upsert_many(conn, [(clip_id, vectors)], model, strategy)


def delete_embeddings(
    conn: Connection, clip_id: int, model_name: str | None = None, strategy: str | None = None
) -> int:
    """Remove a clip's vectors (all of them, or one model's, or one variant's)."""
    query = "DELETE FROM embeddings WHERE clip_id = %s"
    video = conn.execute("SELECT video_id FROM clips WHERE id = %s", (clip_id,)).fetchone()
    params: list[object] = [clip_id]
    if model_name is not None:
        query += " AND model_name = %s"
        params.append(model_name)
    if strategy is not None:
        query += " AND generation_strategy = %s"
        params.append(resolve_strategy(strategy))
    deleted = conn.execute(query, params).rowcount
    _wrote()
    if deleted and video is not None:
        refresh_video_vectors(conn, [video["video_id"]])
    return deleted
