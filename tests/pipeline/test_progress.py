"""Stage progress: a log line per 10 % step, throttled writes, only by the lease holder."""

from __future__ import annotations

import logging
import time

from mediaml.db.videos import create_video
from mediaml.pipeline.progress import DB_MIN_INTERVAL, StageProgress


def _stored(db, video_id):
    with db.transaction() as conn:
        return conn.execute(
            "SELECT progress FROM source_videos WHERE id = %s", (video_id,)
        ).fetchone()["progress"]


def test_progress_logs_tens_and_writes_every_few_percent(db, caplog):
    with db.transaction() as conn:
        video, _ = create_video(conn, "v", "file:///v.mp4", lease_owner="node-a")
    progress = StageProgress(db, video["id"], "encode", "node-a")
    with caplog.at_level(logging.INFO, logger="mediaml.progress"):
        progress.start()
        assert _stored(db, video["id"]) == 0.0
        for i in range(1, 40):  # a burst of reports: too soon to store any of them
            progress(i / 100)
        assert _stored(db, video["id"]) == 0.0
        time.sleep(DB_MIN_INTERVAL + 0.05)
        progress(0.41)
        assert abs(_stored(db, video["id"]) - 0.41) < 1e-6
        progress(0.43)  # less than a step on: not stored
        assert abs(_stored(db, video["id"]) - 0.41) < 1e-6
        progress(1.0)  # the end is always stored
        assert _stored(db, video["id"]) == 1.0
    lines = [r.getMessage() for r in caplog.records if r.name == "mediaml.progress"]
    assert lines == [f"encode video {video['id']}: {p} %" for p in (10, 20, 30, 40, 100)]


def test_progress_of_a_lost_lease_is_not_written(db):
    with db.transaction() as conn:
        video, _ = create_video(conn, "v", "file:///w.mp4", lease_owner="node-b")
    StageProgress(db, video["id"], "download", "node-a")(1.0)
    assert _stored(db, video["id"]) is None
