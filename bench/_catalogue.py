"""Synthetic clip catalogues of a given size in a cached embedded PostgreSQL, for benchmarks.

A catalogue of ``n`` clips is ``n / 100`` source videos of 100 clips each, every clip
embedded with one synthetic 512-dim vector, clustered the way clip embeddings are: each
video has a centre, each of its 10 scenes a direction near it, each clip a vector near
its scene. 1% of clips are archived. The vectors are seeded, so the numpy copy the
benchmarks compute ground truth from is the one in the database.

The server is mediaml's own embedded one (:func:`mediaml.db.embedded.embedded_url`,
with its settings) in ``$MEDIAML_BENCH_CACHE/catalogues`` (default
``~/.cache/mediaml-bench``; created when missing), one database per size. Loading 1M
vectors and building their index takes long, so a complete catalogue is reused by later
runs; the load and index build times measured when it was built are kept in the
database (table ``bench_meta``) and reported with the date they were taken.

Sizes come from ``--sizes`` or ``MEDIAML_BENCH_SIZES`` (see :func:`sizes`).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from mediaml.db.embedded import embedded_url  # noqa: E402
from mediaml.db.migrate import upgrade  # noqa: E402
from mediaml.embed.store import ensure_index, index_name  # noqa: E402
from mediaml.embed.video_vectors import refresh_video_vectors  # noqa: E402

CACHE = Path(
    os.environ.get("MEDIAML_BENCH_CACHE", Path.home() / ".cache" / "mediaml-bench")
).expanduser()
MODEL = "bench-synthetic-512"
STRATEGY = "keyframe_multi_avg"
DIM = 512
PER_VIDEO, SCENES = 100, 10
DEFAULT_SIZES = (10_000, 100_000)


def sizes(arg: str | None = None, default: tuple[int, ...] = DEFAULT_SIZES) -> list[int]:
    """Catalogue sizes from a ``"10000,100000"`` string, ``MEDIAML_BENCH_SIZES``, or default.

    ``k`` and ``M`` suffixes are understood (``10k,100k,1M``).
    """
    text = arg or os.environ.get("MEDIAML_BENCH_SIZES", "")
    if not text.strip():
        return list(default)
    out = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        scale = {"k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}.get(part[-1], 1)
        number = int(float(part[:-1] if scale > 1 else part) * scale)
        if number < PER_VIDEO or number % PER_VIDEO:
            sys.exit(f"catalogue sizes are multiples of {PER_VIDEO} clips, not {part!r}")
        out.append(number)
    return out


def progress(message: str) -> None:
    """Progress goes to stderr; stdout carries only the tables (see bench/_report.py)."""
    print(message, file=sys.stderr, flush=True)


def clustered(n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors: video centre -> scene direction -> clip, 100 clips per video."""
    rng = np.random.default_rng(seed)
    videos = n // PER_VIDEO

    def unit(v: np.ndarray) -> np.ndarray:
        return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)

    centres = unit(rng.standard_normal((videos, DIM), dtype=np.float32))
    scenes = unit(
        np.repeat(centres, SCENES, axis=0)
        + rng.standard_normal((videos * SCENES, DIM), dtype=np.float32) / np.sqrt(DIM)
    )
    out = np.empty((n, DIM), np.float32)
    step = 100_000
    for start in range(0, n, step):  # in slices, to keep memory flat at 1M
        owner = np.arange(start, min(n, start + step)) // (PER_VIDEO // SCENES)
        noise = rng.standard_normal((len(owner), DIM), dtype=np.float32) * 0.6 / np.sqrt(DIM)
        out[start : start + step] = unit(scenes[owner] + noise)
    return out


@dataclass
class Catalogue:
    """One loaded catalogue: its database and the numpy truth behind it.

    Row ``i`` of ``vectors`` is the vector of clip ``clip_ids[i]``.
    """

    size: int
    url: str
    clip_ids: np.ndarray
    video_ids: np.ndarray
    vectors: np.ndarray
    live: np.ndarray  # bool per clip: not archived
    meta: dict[str, float]  # load_s, index_build_s, built_at (epoch s) as measured when built

    def built_note(self, key: str) -> str:
        """``"972 s"`` or ``"972 s (built 2026-12-01)"`` when measured by an earlier run."""
        value = self.meta.get(key)
        if value is None:
            return "not measured"
        when = self.meta.get(f"{key}_at")
        fresh = when is not None and time.time() - when < 3600 * 6
        date = "" if fresh or when is None else f" (built {dt.date.fromtimestamp(when)})"
        return f"{value:,.0f} s{date}"


def server_url(database: str = "postgres") -> str:
    """The benchmarks' embedded server (started on first use), and a database's URL on it."""
    return embedded_url(CACHE / "catalogues", database)


def _meta(conn: psycopg.Connection) -> dict[str, float]:  # type: ignore[type-arg]
    conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value float8)")
    return {k: v for k, v in conn.execute("SELECT key, value FROM bench_meta")}


def _record(conn: psycopg.Connection, key: str, value: float) -> None:
    for name, number in ((key, value), (f"{key}_at", time.time())):
        conn.execute(
            "INSERT INTO bench_meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = %s",
            (name, number, number),
        )


def _loaded(url: str, n: int) -> bool:
    with psycopg.connect(url) as conn:
        try:
            count = conn.execute("SELECT count(*) FROM embeddings").fetchone()
            return count is not None and count[0] == n and "load_s" in _meta(conn)
        except psycopg.Error:
            return False


def _load(url: str, n: int, vectors: np.ndarray) -> float:
    """Videos and clips with SQL, vectors with binary COPY; returns seconds taken."""
    upgrade(url)
    progress(f"loading {n:,} vectors ...")
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute(
            "INSERT INTO source_videos (title, source_uri, fps_num, fps_den, frame_count,"
            " duration_s, state) SELECT 'bench video ' || i, 'bench://' || i, 25, 1, %s,"
            " %s, 'done' FROM generate_series(1, %s) i",
            (PER_VIDEO * 10, PER_VIDEO * 10 / 25, n // PER_VIDEO),
        )
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time,"
            " state) SELECT v.id, j * 10, j * 10 + 10, j * 0.4, j * 0.4 + 0.4, 'embedded'"
            " FROM source_videos v CROSS JOIN generate_series(0, %s) j ORDER BY v.id, j",
            (PER_VIDEO - 1,),
        )
        ids = [r[0] for r in conn.execute("SELECT id FROM clips ORDER BY id")]
        with conn.cursor().copy(
            "COPY embeddings (clip_id, model_name, model_version, generation_strategy,"
            " part, dim, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "text", "text", "text", "int2", "int4", "vector"])
            for clip_id, vector in zip(ids, vectors, strict=True):
                copy.write_row((clip_id, MODEL, "synthetic", STRATEGY, 0, DIM, vector))
        refresh_video_vectors(conn)  # what mediaml's own writes keep up to date
        conn.execute("UPDATE clips SET state = 'archived' WHERE id % 100 = 37")
        seconds = time.perf_counter() - start
        _meta(conn)
        _record(conn, "load_s", seconds)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    progress(f"loaded in {seconds:.0f} s")
    return seconds


def build_index(url: str) -> float | None:
    """Build the variant's search index the way mediaml does, unless it exists.

    Returns:
        Seconds the build took, or None when the index was already there.
    """
    name = index_name(MODEL, STRATEGY, DIM)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        if conn.execute("SELECT to_regclass(%s) AS oid", (name,)).fetchone()["oid"]:  # type: ignore[index]
            ensure_index(conn, MODEL, STRATEGY, DIM)  # type: ignore[arg-type]  # the videos' one
            conn.commit()
            return None
        progress("building the search index ...")
        start = time.perf_counter()
        ensure_index(conn, MODEL, STRATEGY, DIM)  # type: ignore[arg-type]
        conn.commit()
        seconds = time.perf_counter() - start
        _record(conn, "index_build_s", seconds)
    progress(f"index built in {seconds:.0f} s")
    return seconds


def catalogue(n: int, rebuild: bool = False) -> Catalogue:
    """The catalogue of ``n`` clips, loaded and indexed (reused from the cache when complete)."""
    name = f"catalogue_{n}"
    with psycopg.connect(server_url(), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and (rebuild or not _loaded(server_url(name), n)):
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
            exists = None
        if not exists:
            admin.execute(f"CREATE DATABASE {name}")
    url = server_url(name)
    vectors = clustered(n, seed=n)
    if not exists:
        _load(url, n, vectors)
    upgrade(url)  # a cached catalogue gets the migrations added since it was built
    build_index(url)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, video_id, state FROM clips ORDER BY id").fetchall()
        meta = _meta(conn)
    return Catalogue(
        size=n,
        url=url,
        clip_ids=np.array([r[0] for r in rows]),
        video_ids=np.array([r[1] for r in rows]),
        vectors=vectors,
        live=np.array([r[2] != "archived" for r in rows]),
        meta=meta,
    )


def index_mib(cat: Catalogue, table: str = "embeddings") -> float:
    """Size on disk of the catalogue's search index over ``table`` (the clips' vectors,
    or ``video_vectors``: the videos' means)."""
    with psycopg.connect(cat.url) as conn:
        row = conn.execute(
            "SELECT pg_relation_size(%s)", (index_name(MODEL, STRATEGY, DIM, table),)
        ).fetchone()
    return float(row[0]) / 2**20 if row else 0.0
