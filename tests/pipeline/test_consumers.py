"""The pipeline through real worker processes: chaining, kill -9, SIGTERM."""

import signal
import time

import mediaml
from mediaml.catalog import clips, videos
from mediaml.config import load_settings
from tests.pipeline.conftest import wait_for


def state_of(db, video_id):
    with db.transaction() as conn:
        row = conn.execute("SELECT state FROM source_videos WHERE id = %s", (video_id,)).fetchone()
    return row["state"]


def encode_progress(db, video_id) -> float:
    """How far the video's encode has got (0 unless it is encoding and has reported)."""
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, progress FROM source_videos WHERE id = %s", (video_id,)
        ).fetchone()
    return float(row["progress"] or 0) if row["state"] == "encoding" else 0.0


def count(db, query, *params):
    with db.transaction() as conn:
        return next(iter(conn.execute(query, params).fetchone().values()))


def test_video_goes_to_embedded_through_real_consumers(
    db, store, start_worker, three_shot_video, tmp_path
):
    from tests.support.embed import write_tiny_clip_model

    write_tiny_clip_model(tmp_path / "models")
    path, _ = three_shot_video
    worker = start_worker(MEDIAML_MODEL_DIR=str(tmp_path / "models"))
    video_id = int(mediaml.ingest(path)["video_id"].iloc[0])
    wait_for(lambda: state_of(db, video_id) == "done", what="video done", worker=worker)
    assert list(clips(video=video_id)["state"]) == ["pending_review"] * 3
    mediaml.pipeline.run.approve_pending(db, [video_id], "tester")
    wait_for(
        lambda: (
            set(clips(video=video_id)["state"]) == {"keyframed", "embedded"}
            or set(clips(video=video_id)["state"]) <= {"embedded", "embedding_failed"}
        ),
        what="clips past keyframes",
        worker=worker,
    )
    log = worker.output()
    assert "dispatcher: queued" in log and "worker up" in log
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0


def lease_owner_of(db, video_id):
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT lease_owner FROM source_videos WHERE id = %s", (video_id,)
        ).fetchone()
    return row["lease_owner"]


def test_kill_9_mid_encode_completes_exactly_once_within_two_minutes(
    db, store, start_worker, long_video, record_property
):
    """With the default lease, a kill -9'd worker's item is taken up again in time.

    The survivor's dispatcher runs every second here (to keep the test short), so the
    measured time is how long the lease outlived the worker; the default dispatcher
    interval is added to it for the default recovery time.
    """
    defaults = load_settings({})
    worker = start_worker()  # default MEDIAML_LEASE_SECONDS
    video_id = int(mediaml.ingest(long_video)["video_id"].iloc[0])
    wait_for(
        lambda: state_of(db, video_id) == "encoding", interval=0.02, what="encoding", worker=worker
    )
    dead_owner = lease_owner_of(db, video_id)
    worker.signal(signal.SIGKILL)
    killed = time.monotonic()
    worker.wait(10)
    assert state_of(db, video_id) == "encoding"
    survivor = start_worker()
    wait_for(
        lambda: lease_owner_of(db, video_id) != dead_owner,
        timeout=defaults.lease_seconds + 30,
        interval=0.05,
        what="the dead worker's lease to be recovered",
        worker=survivor,
    )
    recovered = time.monotonic() - killed
    default_recovery = recovered + defaults.dispatch_interval
    record_property("recovery_seconds", round(recovered, 1))
    record_property("default_recovery_seconds", round(default_recovery, 1))
    print(f"recovered after {recovered:.1f}s; with the default dispatcher: {default_recovery:.1f}s")
    assert recovered <= defaults.lease_seconds + 10
    assert default_recovery < 120, "a crashed worker's item must come back within 2 minutes"
    wait_for(
        lambda: state_of(db, video_id) == "done", what="video done after kill", worker=survivor
    )
    assert count(db, "SELECT retry_count FROM source_videos WHERE id = %s", video_id) >= 1
    assert count(db, "SELECT count(*) FROM clips WHERE video_id = %s", video_id) == 3
    assert count(db, "SELECT count(*) FROM cuts WHERE video_id = %s", video_id) == 2
    assert len(store.list("masters/")) == 1 and len(store.list("proxies/")) == 1
    assert len(store.list("originals/")) == 1


def test_sigterm_keeps_an_encode_that_finishes_inside_the_grace_period(
    db, store, start_worker, long_video
):
    worker = start_worker(MEDIAML_SHUTDOWN_GRACE="300")
    video_id = int(mediaml.ingest(long_video)["video_id"].iloc[0])
    # FFmpeg is running (it has reported progress): claimed alone is not enough, since a
    # claimed item whose encode has not started yet is released at shutdown, by design.
    wait_for(
        lambda: encode_progress(db, video_id) > 0,
        interval=0.02,
        what="encode under way",
        worker=worker,
    )
    worker.signal(signal.SIGTERM)
    assert worker.wait(300) == 0
    log = worker.output()
    assert state_of(db, video_id) == "encoded", log[-3000:]  # stored, not released
    assert "released" not in log
    assert len(store.list("masters/")) == 1 and len(store.list("proxies/")) == 1


def test_sigterm_mid_encode_releases_the_item(db, store, start_worker, long_video):
    worker = start_worker(MEDIAML_SHUTDOWN_GRACE="0.2")
    video_id = int(mediaml.ingest(long_video)["video_id"].iloc[0])
    wait_for(
        lambda: state_of(db, video_id) == "encoding", interval=0.02, what="encoding", worker=worker
    )
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    assert state_of(db, video_id) == "downloaded"  # released, not failed, not stranded
    assert "released" in worker.output()
    # Either its message is back on the queue, or the next dispatcher pass will send one.
    queued = count(db, "SELECT count(*) FROM huey_task WHERE queue = 'media_processing'")
    unqueued = count(db, "SELECT enqueued_at IS NULL FROM source_videos WHERE id = %s", video_id)
    assert queued or unqueued
    survivor = start_worker()
    wait_for(
        lambda: state_of(db, video_id) == "done", what="video done after SIGTERM", worker=survivor
    )
    assert len(videos()) == 1 and len(clips(video=video_id)) == 3


def test_kill_9_mid_embedding_completes_exactly_once(
    db, store, start_worker, three_shot_video, tmp_path
):
    from tests.pipeline.conftest import write_slow_clip_model

    write_slow_clip_model(tmp_path / "models")
    env = {
        "MEDIAML_MODEL_DIR": str(tmp_path / "models"),
        "MEDIAML_LEASE_SECONDS": "2",
    }
    path, _ = three_shot_video
    worker = start_worker(**env)
    video_id = int(mediaml.ingest(path)["video_id"].iloc[0])
    wait_for(lambda: state_of(db, video_id) == "done", what="video done", worker=worker)
    mediaml.pipeline.run.approve_pending(db, [video_id], "tester")
    wait_for(
        lambda: "embedding" in set(clips(video=video_id)["state"]),
        interval=0.02,
        what="a clip embedding",
        worker=worker,
    )
    worker.signal(signal.SIGKILL)
    worker.wait(10)
    survivor = start_worker(**env)
    wait_for(
        lambda: set(clips(video=video_id)["state"]) == {"embedded"},
        timeout=120,
        what="clips embedded after kill",
        worker=survivor,
    )
    assert count(db, "SELECT count(*) FROM embeddings") == 3
    assert count(db, "SELECT count(DISTINCT clip_id) FROM embeddings") == 3
    assert count(db, "SELECT count(*) FROM clip_artifacts") == 9
    keyframe_objects = store.list("artifacts/keyframes/")
    assert len(store.list("clips/")) == 3 and len(keyframe_objects) == 18
    assert sum(key.endswith(".png") for key in keyframe_objects) == 9  # one rendition each
    assert count(db, "SELECT count(*) FROM clips WHERE video_id = %s", video_id) == 3
