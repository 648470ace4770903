"""Search latency and recall: ``mediaml.embed.similar`` vs the same nearest-neighbour query
sent raw to pgvector, on clustered 512-dim vectors, in one run.

The vectors are synthetic (no model is involved), clustered the way clip embeddings
are (see ``bench/_catalogue.py``): 100 clips per video, 1% of clips archived. Ground
truth is exact brute force in numpy over the same vectors.

For each size, on the catalogue with the index mediaml creates
(``mediaml.embed.store.ensure_index``), for random query clips, alternating the two
paths query by query:

* raw: pgvector's half-precision index recipe in one SQL statement with the query
  vector already in hand (the client has it): candidates ordered by
  ``embedding::halfvec(512) <=> q`` from the index, re-ranked by
  ``embedding::vector(512) <=> q``, excluding archived clips and the query clip, with the
  same HNSW settings as mediaml; what the graph walk alone finds;
* similar: ``similar(clip_id, 24, ...)`` end to end from Python: looks up the clip's
  vector, walks the same index, reads whole videos (the best candidates' and those with
  the nearest mean vectors, see ``mediaml.embed.nearest``), re-ranks, returns a
  DataFrame with clip and video details;

both unfiltered and filtered to the query clip's source video.

Targets: ``similar`` recall@24 >= 0.95 at p95 < 20 ms at 1M; the raw rows show what
reading whole videos buys over the walk alone, and what it costs.

Run: ``python bench/search.py [--sizes 100k,1M] [--queries 300]`` (sizes default to
``MEDIAML_BENCH_SIZES`` or 100k). The catalogues are the cached ones of
``bench/_catalogue.py`` (shared with ``bench/scale.py``); ``--rebuild`` reloads them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _catalogue import DIM, MODEL, STRATEGY, Catalogue, catalogue, index_mib, progress, sizes

from mediaml.db import Database
from mediaml.embed import similar
from mediaml.embed.nearest import candidate_count, ef_search, max_scan_tuples
from mediaml.embed.store import HNSW_EF_CONSTRUCTION, HNSW_M

K = 24
WARMUP = 100

# pgvector's half-precision recipe written by hand: candidates by halfvec cosine distance
# from the variant's index, re-ranked by exact cosine distance.
RAW = (
    "SELECT t.clip_id FROM (SELECT e.clip_id, e.embedding FROM embeddings e"
    " JOIN clips c ON c.id = e.clip_id"
    f" WHERE e.model_name = '{MODEL}' AND e.generation_strategy = '{STRATEGY}'"
    " AND c.state <> 'archived' AND e.clip_id <> %(exclude)s{video}"
    f" ORDER BY e.embedding::halfvec({DIM}) <=> %(q)s::vector({DIM})::halfvec({DIM})"
    f" LIMIT {candidate_count(K)}) t"
    f" ORDER BY t.embedding::vector({DIM}) <=> %(q)s::vector({DIM}) LIMIT {K}"
)
INDEX_KIND = (
    f"HNSW over half-precision vectors (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}),"
    f" {candidate_count(K)} candidates re-ranked exactly"
)


def measure(cat: Catalogue, queries: int, seed: int) -> dict[str, dict[str, list[float]]]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(np.flatnonzero(cat.live), queries + WARMUP, replace=False)
    results: dict[str, dict[str, list[float]]] = {}
    db = Database(cat.url, max_size=2)
    raw_conn = psycopg.connect(cat.url, autocommit=True)
    from pgvector.psycopg import register_vector

    register_vector(raw_conn)
    raw_conn.execute(f"SET hnsw.ef_search = {ef_search(candidate_count(K))}")
    raw_conn.execute(f"SET hnsw.max_scan_tuples = {max_scan_tuples(candidate_count(K))}")
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
            clip, video, query = cat.clip_ids[index], cat.video_ids[index], cat.vectors[index]
            if mode == "one video":
                candidates = np.flatnonzero((cat.video_ids == video) & cat.live)
                scores = cat.vectors[candidates] @ query
            else:
                # All scores at once (no copy of the matrix), then drop the excluded.
                candidates = np.arange(len(cat.clip_ids))
                scores = cat.vectors @ query
                scores[~cat.live] = -np.inf
            scores[candidates == index] = -np.inf
            top = np.argpartition(-scores, K)[:K]
            truth = set(cat.clip_ids[candidates[top]].tolist())
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
                        db=db,
                        source_video=video_filter,
                    )
                    found = set(frame["clip_id"].tolist())
                elapsed = (time.perf_counter() - start) * 1000
                if i >= WARMUP:  # the first queries warm caches and connections
                    stats[f"{name} ms"].append(elapsed)
                    stats[f"{name} recall"].append(len(found & truth) / K)
        results[mode] = stats
    raw_conn.close()
    db.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=None, help="e.g. 100k,1M")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    lines = []
    for n in sizes(args.sizes, default=(100_000,)):
        cat = catalogue(n, rebuild=args.rebuild)
        progress(f"{n:,}: measuring ...")
        results = measure(cat, args.queries, seed=7)
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
            f"| {n:,} | index: {index_mib(cat):,.0f} MiB, {INDEX_KIND}; build "
            f"{cat.built_note('index_build_s')}, load {cat.built_note('load_s')} | | | | | |"
        )
    print(
        f"Search latency: {args.queries} random query clips per row, k={K}, "
        f"hnsw.ef_search={ef_search(candidate_count(K))}, iterative scan relaxed_order, {os.cpu_count()} CPUs, "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; synthetic "
        "clustered vectors, 100 clips per video, 1% archived; recall vs exact brute force"
    )
    print()
    print("| vectors | filter | path | p50 ms | p95 ms | p95 vs raw | recall@24 |")
    print("|---:|---|---|---:|---:|---:|---:|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
