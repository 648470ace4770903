"""2-D maps of the embeddings, kept up to date in the database.

A map is one stored projection per embedding variant (model, strategy) and method: PCA
always, UMAP when ``umap-learn`` is installed (``pip install 'mediaml[umap]'``). The
``update_maps`` job (on the ``background_jobs`` queue, every ``MEDIAML_MAP_INTERVAL``)
keeps it current:

* **fit** on a random sample of at most :data:`FIT_SAMPLE` clips (PCA: a float32
  randomized SVD; UMAP: cosine metric), stored in ``projection_fits``; refitted when the
  number of embedded clips has doubled since, so the map keeps describing the catalogue;
* **place** every clip whose vector changed after the fit's watermark and is not on the
  map in that version, through the stored fit: the clip ids first, then
  :data:`BATCH_ROWS` vectors at a time by index lookups (memory stays flat), into
  ``clip_projections``. A point keeps the ``updated_at`` of the vector it was made from.
  The watermark (``placed_through``) is the run's start minus :data:`OVERLAP`: a
  vector's ``updated_at`` is its transaction's start, so one stamped earlier may still
  have been uncommitted; the next run looks at those again. A run with nothing stamped
  after the watermark costs one index lookup.

Readers get a variant's points with :func:`read_map`: one query whose single value
(every point's fixed-width bytes) is parsed straight into numpy arrays, cached per
process until the map changes; one read of a map at a time.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import logging
import pickle
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg import sql

from mediaml.db import Database, get_db
from mediaml.errors import MediamlError

log = logging.getLogger(__name__)

FIT_SAMPLE = 20_000
UMAP_SAMPLE = 5_000
BATCH_ROWS = 10_000
# A transaction that writes vectors is assumed to commit within this long of its start
# (its vectors' updated_at): a map run sees every vector stamped this long before it began.
OVERLAP = dt.timedelta(minutes=5)
CACHE_SECONDS = 30.0


def umap_available() -> bool:
    """Whether the optional ``umap-learn`` package is installed (``pip install mediaml[umap]``)."""
    return importlib.util.find_spec("umap") is not None


def methods() -> list[str]:
    """The projection methods usable here."""
    return ["PCA", "UMAP"] if umap_available() else ["PCA"]


# -- fitting -------------------------------------------------------------------------


@dataclass
class PcaFit:
    """The mean and the two main axes of a sample: ``(x - mean) @ axes.T``."""

    mean: np.ndarray
    axes: np.ndarray  # 2 x d

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        return ((np.asarray(vectors, np.float32) - self.mean) @ self.axes.T).astype(np.float32)

    def dumps(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, axes=self.axes)
        return buf.getvalue()

    @classmethod
    def loads(cls, data: bytes) -> PcaFit:
        with np.load(io.BytesIO(data)) as z:
            return cls(z["mean"], z["axes"])


def fit_pca(vectors: np.ndarray, *, seed: int = 0) -> PcaFit:
    """The first two principal axes of ``n x d`` vectors by a float32 randomized SVD
    (Halko et al.: a Gaussian sketch, two power iterations); exact enough for a map and
    linear in ``n``. Axes get a fixed sign so refits do not mirror the map."""
    data = np.asarray(vectors, np.float32)
    n, d = data.shape
    mean = data.mean(axis=0) if n else np.zeros(d, np.float32)
    axes = np.zeros((2, d), np.float32)
    if n >= 2:
        centered = data - mean
        rng = np.random.default_rng(seed)
        sketch = centered @ rng.standard_normal((d, min(d, 12)), dtype=np.float32)
        for _ in range(2):
            sketch, _ = np.linalg.qr(sketch)
            sketch = centered @ (centered.T @ sketch)
        basis, _ = np.linalg.qr(sketch)
        _, _, vt = np.linalg.svd(basis.T @ centered, full_matrices=False)
        found = vt[:2].astype(np.float32)
        found *= np.sign(found[np.arange(len(found)), np.abs(found).argmax(axis=1)])[:, None]
        axes[: len(found)] = found
    return PcaFit(mean.astype(np.float32), axes)


def fit_umap(vectors: np.ndarray, *, seed: int = 0) -> Any:
    """A UMAP model (cosine metric) fitted on ``vectors``; it places new points with
    ``.transform``."""
    if not umap_available():
        raise MediamlError("UMAP needs the umap-learn package: pip install 'mediaml[umap]'")
    import umap

    n = len(vectors)
    return umap.UMAP(
        n_components=2, metric="cosine", n_neighbors=max(2, min(15, n - 1)), random_state=seed
    ).fit(np.asarray(vectors, np.float32))


def project(vectors: np.ndarray, method: str = "PCA", *, seed: int = 0) -> np.ndarray:
    """Project ``n x d`` vectors to ``n x 2`` points in one go (fit and transform).

    Raises:
        MediamlError: UMAP asked for without ``umap-learn``, or an unknown method.
    """
    data = np.asarray(vectors, np.float32)
    if method == "PCA":
        return fit_pca(data, seed=seed).transform(data)
    if method == "UMAP":
        if len(data) < 4:
            return project(data, "PCA")
        return np.asarray(fit_umap(data, seed=seed).embedding_, np.float32)
    raise MediamlError(f"unknown projection {method!r}; use one of {', '.join(methods())}")


def _loads(method: str, data: bytes) -> Any:
    if method == "PCA":
        return PcaFit.loads(data)
    return pickle.loads(data)  # written by this module into our own database


def _dumps(method: str, fit: Any) -> bytes:
    return fit.dumps() if method == "PCA" else pickle.dumps(fit)


def _transform(method: str, fit: Any, vectors: np.ndarray) -> np.ndarray:
    if method == "PCA":
        return fit.transform(vectors)
    return np.asarray(fit.transform(np.asarray(vectors, np.float32)), np.float32)


# -- the job ---------------------------------------------------------------------------


def _vector_query(strategy: str) -> sql.Composed:
    """One vector per clip of a batch of ids (``%(ids)s``), the mean of its parts for
    ``keyframe_multi``, with the time it was last changed: an index lookup per clip on
    ``embeddings_variant_idx``."""
    where = sql.SQL(
        " FROM embeddings e WHERE e.model_name = %(model)s"
        " AND e.generation_strategy = %(strategy)s AND e.clip_id = ANY(%(ids)s)"
    )
    if strategy == "keyframe_multi":
        return (
            sql.SQL("SELECT e.clip_id, avg(e.embedding) AS v, max(e.updated_at) AS t")
            + where
            + sql.SQL(" GROUP BY e.clip_id ORDER BY e.clip_id")
        )
    return (
        sql.SQL("SELECT e.clip_id, e.embedding AS v, e.updated_at AS t")
        + where
        + sql.SQL(" ORDER BY e.clip_id")
    )


def _vectors(conn: Any, key: dict[str, str], ids: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """``(rows, n x d float32 vectors)`` of the clips ``ids`` that have a vector; each row
    has ``clip_id`` and ``t`` (when the vector last changed)."""
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(_vector_query(key["strategy"]), {**key, "ids": ids.tolist()}).fetchall()
    return rows, _as_matrix([r["v"] for r in rows])


def _as_matrix(values: list[Any]) -> np.ndarray:
    if not values:
        return np.zeros((0, 0), np.float32)
    return np.stack(
        [np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, np.float32) for v in values]
    )


def _clip_ids(conn: Any, query: str, params: dict[str, Any]) -> np.ndarray:
    """The clip ids a query returns (column ``clip_id``), as an int64 array."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        return np.fromiter((r["clip_id"] for r in cur), np.int64)


def _variant_clips(conn: Any, key: dict[str, str]) -> np.ndarray:
    """Every clip of the variant, in id order (an index-only scan of ``embeddings_variant_idx``)."""
    return _clip_ids(
        conn,
        "SELECT DISTINCT clip_id FROM embeddings WHERE model_name = %(model)s"
        " AND generation_strategy = %(strategy)s ORDER BY clip_id",
        key,
    )


def _changed_clips(conn: Any, key: dict[str, Any]) -> np.ndarray:
    """Clips with a vector stamped after the watermark ``%(since)s`` that is not on the
    map ``%(fit)s`` in its current version, in id order. An index range scan on ``embeddings_variant_updated_idx`` and a
    primary-key probe of ``clip_projections`` per changed vector: its cost follows the
    changes, not the catalogue."""
    return _clip_ids(
        conn,
        "SELECT DISTINCT n.clip_id FROM embeddings n WHERE n.model_name = %(model)s"
        " AND n.generation_strategy = %(strategy)s"
        " AND n.updated_at > COALESCE(%(since)s::timestamptz, '-infinity')"
        " AND NOT EXISTS (SELECT 1 FROM clip_projections p WHERE p.fit_id = %(fit)s"
        " AND p.clip_id = n.clip_id AND p.placed_at >= n.updated_at)"
        " ORDER BY n.clip_id",
        key,
    )


def _fit(
    conn: Any, key: dict[str, str], method: str, seed: int, ids: np.ndarray
) -> tuple[Any, int, int]:
    """Fit ``method`` on a random sample of the variant's clips ``ids``: (fit, sample, dim)."""
    size = FIT_SAMPLE if method == "PCA" else UMAP_SAMPLE
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(ids, size, replace=False)) if len(ids) > size else ids
    # The sample in id order: the same sample, the same fit.
    _, vectors = _vectors(conn, key, sample)
    fit = fit_pca(vectors, seed=seed) if method == "PCA" else fit_umap(vectors, seed=seed)
    return fit, len(vectors), int(vectors.shape[1])


def _lock_key(model: str, strategy: str, method: str) -> int:
    return zlib.crc32(f"mediaml-map/{model}/{strategy}/{method}".encode())


def update_map(
    conn: Any, model: str, strategy: str, method: str = "PCA", *, seed: int = 0
) -> dict[str, Any]:
    """Bring one variant's map up to date inside ``conn``'s transaction; see the module doc.

    Returns:
        ``{"placed": clips placed, "refit": bool, "skipped": bool}`` (skipped when another
        process is updating the same map right now).
    """
    if method not in ("PCA", "UMAP"):
        raise MediamlError(f"unknown projection {method!r}; use one of {', '.join(methods())}")
    locked = conn.execute(
        "SELECT pg_try_advisory_xact_lock(%s) AS ok", (_lock_key(model, strategy, method),)
    ).fetchone()
    if not locked["ok"]:
        return {"placed": 0, "refit": False, "skipped": True}
    key = {"model": model, "strategy": strategy, "method": method}
    idle = {"placed": 0, "refit": False, "skipped": False}
    newest = conn.execute(  # an index lookup
        "SELECT max(updated_at) AS t FROM embeddings"
        " WHERE model_name = %(model)s AND generation_strategy = %(strategy)s",
        key,
    ).fetchone()["t"]
    row = conn.execute(
        "SELECT id, clips_at_fit, placed_through, fit FROM projection_fits"
        " WHERE model_name = %(model)s AND generation_strategy = %(strategy)s"
        " AND method = %(method)s",
        key,
    ).fetchone()
    placed_through = row["placed_through"] if row is not None else None
    if newest is None or (placed_through is not None and newest <= placed_through):
        return idle
    clips_now = conn.execute(  # an index-only scan
        "SELECT count(DISTINCT clip_id) AS n FROM embeddings"
        " WHERE model_name = %(model)s AND generation_strategy = %(strategy)s",
        key,
    ).fetchone()["n"]
    refit = row is None or clips_now >= 2 * max(1, row["clips_at_fit"])
    if refit:
        todo = _variant_clips(conn, key)
        fit, sample, dim = _fit(conn, key, method, seed, todo)
        row = conn.execute(
            "INSERT INTO projection_fits (model_name, generation_strategy, method, dim,"
            " sample_size, clips_at_fit, fit)"
            " VALUES (%(model)s, %(strategy)s, %(method)s, %(dim)s, %(sample)s, %(clips)s, %(fit)s)"
            " ON CONFLICT (model_name, generation_strategy, method) DO UPDATE SET"
            " dim = EXCLUDED.dim, sample_size = EXCLUDED.sample_size,"
            " clips_at_fit = EXCLUDED.clips_at_fit, fit = EXCLUDED.fit, fitted_at = now(),"
            " placed_through = NULL"
            " RETURNING id, clips_at_fit, placed_through",
            {**key, "dim": dim, "sample": sample, "clips": len(todo), "fit": _dumps(method, fit)},
        ).fetchone()
        conn.execute("DELETE FROM clip_projections WHERE fit_id = %s", (row["id"],))
    else:
        fit = _loads(method, row["fit"])
        todo = _changed_clips(conn, {**key, "fit": row["id"], "since": placed_through})
    # The clips to place are known before the first point is written, so no query reads
    # clip_projections while this transaction fills it; each batch is one index lookup
    # per clip and one INSERT. placed_at is the placed vector's own updated_at: a vector
    # committed later with an older timestamp still counts as not placed.
    placed = 0
    for start in range(0, len(todo), BATCH_ROWS):
        rows, vectors = _vectors(conn, key, todo[start : start + BATCH_ROWS])
        if not rows:
            continue
        xy = _transform(method, fit, vectors)
        conn.execute(
            "INSERT INTO clip_projections (fit_id, clip_id, x, y, placed_at)"
            " SELECT %s, unnest(%s::bigint[]), unnest(%s::real[]), unnest(%s::real[]),"
            " unnest(%s::timestamptz[])"
            " ON CONFLICT (fit_id, clip_id) DO UPDATE"
            " SET x = EXCLUDED.x, y = EXCLUDED.y, placed_at = EXCLUDED.placed_at",
            (
                row["id"],
                [r["clip_id"] for r in rows],
                xy[:, 0].tolist(),
                xy[:, 1].tolist(),
                [r["t"] for r in rows],
            ),
        )
        placed += len(rows)
    conn.execute(
        "UPDATE projection_fits SET placed_through = now() - %s,"
        " updated_at = CASE WHEN %s THEN now() ELSE updated_at END WHERE id = %s",
        (OVERLAP, placed > 0 or refit, row["id"]),
    )
    return {"placed": placed, "refit": refit, "skipped": False}


def update_maps(
    *,
    model: str | None = None,
    strategy: str | None = None,
    method: str | None = None,
    db: Database | None = None,
) -> dict[str, dict[str, Any]]:
    """Bring the maps of every stored variant (or the one named) up to date, each in its
    own transaction. The body of the ``update_maps`` job; safe to run concurrently.

    Returns:
        ``"model/strategy/method"`` -> what :func:`update_map` did.
    """
    database = db or get_db()
    from mediaml.embed import variants as stored_variants

    variants = [
        (m, s)
        for m, strategies in stored_variants(db=database).items()
        for s in strategies
        if model in (None, m) and strategy in (None, s)
    ]
    out = {}
    for m, s in variants:
        for how in [method] if method else methods():
            started = time.perf_counter()
            with database.transaction() as conn:
                result = update_map(conn, m, s, how)
            result["seconds"] = round(time.perf_counter() - started, 3)
            out[f"{m}/{s}/{how}"] = result
            if result["placed"]:
                log.info("map %s/%s/%s: %s", m, s, how, result)
    return out


# -- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class MapPoints:
    """A variant's map: parallel arrays, one entry per live (not archived) clip."""

    clip_id: np.ndarray  # int64
    video_id: np.ndarray  # int64
    x: np.ndarray  # float32
    y: np.ndarray  # float32
    version: str = ""

    def __len__(self) -> int:
        return len(self.clip_id)


# A map's points as one value: each live clip's (clip_id, video_id, x, y) in network byte
# order, 24 bytes, concatenated in clip order (the merge join's order: no sort). At a
# million clips this costs the database ~0.9 CPU-seconds and this process ~0.05, where a
# binary COPY of the same rows took ~1.5 and ~1.9: libpq hands a COPY over one row at a
# time, and each row was a step of a Python loop holding the GIL (measured at nice 19,
# load ~5). A bytea value is limited to 1 GB: ~44 million clips.
_READ = (
    "SELECT string_agg(int8send(p.clip_id) || int8send(c.video_id) || float4send(p.x)"
    " || float4send(p.y), ''::bytea ORDER BY p.clip_id) AS points"
    " FROM clip_projections p JOIN clips c ON c.id = p.clip_id"
    " WHERE p.fit_id = %s AND c.state <> 'archived'"
)
_ROW = np.dtype([("clip_id", ">i8"), ("video_id", ">i8"), ("x", ">f4"), ("y", ">f4")])
_cache: dict[tuple[str, str, str, str], tuple[float, MapPoints]] = {}
_cache_lock = threading.Lock()
# One read of each map at a time: a reader that comes while a read of the same map is
# under way (the one ``mediaml serve`` starts after a start, or another session's) waits
# for it and takes its result, instead of copying the same million rows a second time.
_reading: dict[tuple[str, str, str, str], threading.Lock] = {}


def clear_cache() -> None:
    """Forget the maps read so far (the next :func:`read_map` asks the database)."""
    with _cache_lock:
        _cache.clear()


def read_map(
    model: str, strategy: str, method: str = "PCA", *, db: Database | None = None
) -> MapPoints | None:
    """The stored map of a variant, or ``None`` when the job has not made it yet.

    One query (see :data:`_READ`) parsed straight into numpy; the result is shared by
    every caller in this process until the map changes (checked at most every
    :data:`CACHE_SECONDS`). A caller that comes while the same map is being read waits
    for that read.
    """
    database = db or get_db()
    key = (database.url, model, strategy, method)
    with _cache_lock:
        cached = _cache.get(key)
        reading = _reading.setdefault(key, threading.Lock())
    if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    with reading:
        with _cache_lock:
            cached = _cache.get(key)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]  # read by the reader this one waited for
        return _read_map(database, key, cached[1] if cached else None)


def _read_map(
    database: Database, key: tuple[str, str, str, str], cached: MapPoints | None
) -> MapPoints | None:
    with database.transaction() as conn:
        fit = conn.execute(
            "SELECT id, updated_at FROM projection_fits WHERE model_name = %s"
            " AND generation_strategy = %s AND method = %s",
            key[1:],
        ).fetchone()
        if fit is None:
            return None
        version = f"{fit['id']}@{fit['updated_at'].isoformat()}"
        if cached and cached.version == version:
            points = cached
        else:
            # Binary format: the bytea arrives as it is, not as hex text.
            row = conn.cursor(binary=True).execute(_READ, (fit["id"],)).fetchone()
            rows = np.frombuffer((row and row["points"]) or b"", _ROW)  # no live clip: NULL
            points = MapPoints(
                rows["clip_id"].astype(np.int64),
                rows["video_id"].astype(np.int64),
                rows["x"].astype(np.float32),
                rows["y"].astype(np.float32),
                version,
            )
    with _cache_lock:
        _cache[key] = (time.monotonic(), points)
    return points
