"""Dispatcher pass over 100k clips spread over every state: time and SQL statements.

Baseline, in the same run: a naive dispatcher that lists ready ids per stage and then
updates and queues them one by one (the N+1 pattern). Usage: python bench/dispatcher.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._db import bench_database
from mediaml.config import load_settings
from mediaml.db import Database
from mediaml.pipeline.dispatcher import dispatch
from mediaml.pipeline.stages import STAGES
from mediaml.states import CLIP_STATES

CLIPS = 100_000
PER_VIDEO = 100


def populate(db: Database) -> None:
    videos = CLIPS // PER_VIDEO
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO source_videos (title, source_uri, state, fps_num, fps_den, frame_count,"
            " duration_s) SELECT 'v' || g, 'file:///v' || g, 'done', 25, 1, %s, %s"
            " FROM generate_series(1, %s) g",
            (PER_VIDEO * 10, PER_VIDEO * 10 / 25, videos),
        )
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time, state)"
            " SELECT v.id, c * 10, c * 10 + 10, c * 0.4, c * 0.4 + 0.4,"
            " (%s::text[])[1 + (v.id * %s + c) %% %s]"
            " FROM source_videos v, generate_series(0, %s) c",
            (list(CLIP_STATES), PER_VIDEO, len(CLIP_STATES), PER_VIDEO - 1),
        )
        conn.execute("ANALYZE")


def naive_dispatch(db: Database) -> tuple[int, int]:
    statements = queued = 0
    with db.transaction() as conn:
        for stage in STAGES:
            ids = [
                r["id"]
                for r in conn.execute(
                    f"SELECT id FROM {stage.table} WHERE state = %s", (stage.ready,)
                )
            ]
            statements += 1
            for item in ids:
                conn.execute(f"UPDATE {stage.table} SET enqueued_at = now() WHERE id = %s", (item,))
                statements += 1
                queued += 1
        conn.rollback()
    return statements, queued


def main() -> None:
    url = bench_database()
    db = Database(url)
    settings = load_settings({"DATABASE_URL": url})
    populate(db)
    sent: list[int] = []

    def enqueue(stage, ids):  # message sending is not what is measured here
        sent.extend(ids)

    runs = []
    first = None
    while True:
        t = time.perf_counter()
        stats = dispatch(db, settings, enqueue)
        runs.append(time.perf_counter() - t)
        first = first or stats
        if stats.total_queued == 0:
            break
    idle = []
    for _ in range(20):
        t = time.perf_counter()
        idle_stats = dispatch(db, settings, enqueue)
        idle.append(time.perf_counter() - t)
    t = time.perf_counter()
    naive_statements, naive_queued = naive_dispatch(db)
    naive_s = time.perf_counter() - t

    busy_s = sum(runs[:-1])
    print(
        f"dispatcher benchmark: {CLIPS} clips over {CLIPS // PER_VIDEO} videos, "
        f"{len(CLIP_STATES)} states"
    )
    print("| pass | items queued | SQL statements | time |")
    print("|---|---|---|---|")
    print(
        f"| mediaml, all ready items ({len(runs) - 1} passes of <= 1000/stage) | {len(sent)} "
        f"| {first.statements * (len(runs) - 1)} | {busy_s * 1000:.0f} ms |"
    )
    print(
        f"| mediaml, idle pass (median of 20) | 0 | {idle_stats.statements} "
        f"| {statistics.median(idle) * 1000:.1f} ms |"
    )
    print(
        f"| naive N+1 baseline (same items) | {naive_queued} | {naive_statements} "
        f"| {naive_s * 1000:.0f} ms |"
    )
    print(
        f"ratio naive/mediaml time: {naive_s / busy_s:.1f}x; "
        f"statements: {naive_statements / (first.statements * (len(runs) - 1)):.0f}x fewer"
    )
    db.close()


if __name__ == "__main__":
    main()
