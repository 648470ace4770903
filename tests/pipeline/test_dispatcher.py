"""The dispatcher and the runner on a real PostgreSQL."""

import threading
import time
from dataclasses import replace

import pytest

from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import create_video, update_video
from mediaml.embed.policy import default_model
from mediaml.errors import MediaError
from mediaml.pipeline import runner
from mediaml.pipeline.dispatcher import DispatchStats, dispatch, select_ready
from mediaml.pipeline.retry import MAX_ATTEMPTS, MAX_DELAY, retry
from mediaml.pipeline.runner import StageContext, TransientError, run_item
from mediaml.pipeline.stages import STAGES_BY_NAME, release_states


def add_video(conn, n, state="new"):
    video, _ = create_video(conn, f"v{n}", f"file:///tmp/v{n}.mp4")
    if state != "new":
        conn.execute("UPDATE source_videos SET state = %s WHERE id = %s", (state, video["id"]))
    return video["id"]


def add_clips(conn, video_id, states):
    update_video(
        conn,
        video_id,
        fps_num=25,
        fps_den=1,
        frame_count=10 * len(states),
        duration_s=len(states) * 0.4,
    )
    clips = create_initial_clips(
        conn, video_id, [DetectedCut(10 * i) for i in range(1, len(states))]
    )
    for clip, state in zip(clips, states, strict=True):
        conn.execute("UPDATE clips SET state = %s WHERE id = %s", (state, clip["id"]))
    return [c["id"] for c in clips]


@pytest.fixture
def ctx(db, store, settings):
    return StageContext(db, store, settings)


def collect():
    sent = []

    def enqueue(stage, ids):
        sent.extend((stage.name, i) for i in ids)

    return sent, enqueue


def test_dispatch_queues_each_ready_item_once(db, settings):
    with db.transaction() as conn:
        v_new = add_video(conn, 1)
        v_dl = add_video(conn, 2, "downloaded")
        add_video(conn, 3, "done")
        v4 = add_video(conn, 4, "done")
        clips = add_clips(
            conn, v4, ["pending_review", "review_approved", "exported", "keyframed", "embedded"]
        )
    sent, enqueue = collect()
    stats = dispatch(db, settings, enqueue)
    assert sorted(sent) == sorted(
        [
            ("download", v_new),
            ("encode", v_dl),
            ("export", clips[1]),
            ("keyframes", clips[2]),
            ("embed", clips[3]),
            ("backfill", clips[4]),
        ]
    )
    assert stats.total_queued == 6
    # A second pass within the requeue window queues nothing again.
    sent2, enqueue2 = collect()
    assert dispatch(db, settings, enqueue2).total_queued == 0 and sent2 == []
    assert "dispatcher: queued" in stats.line()


def test_backfill_only_queues_clips_missing_the_default_variant(db, settings):
    with db.transaction() as conn:
        v = add_video(conn, 1, "done")
        clips = add_clips(conn, v, ["embedded", "embedded"])
        conn.execute(
            "INSERT INTO embeddings (clip_id, model_name, model_version, generation_strategy, dim, embedding)"
            " VALUES (%s, %s, '1', %s, 3, '[1,0,0]')",
            (clips[0], default_model(settings), settings.embed_strategy),
        )
    stats = DispatchStats()
    assert select_ready(db, STAGES_BY_NAME["backfill"], settings, stats) == [clips[1]]


def test_two_dispatchers_at_once_never_queue_twice(db, settings):
    with db.transaction() as conn:
        for n in range(200):
            add_video(conn, n)
    sent, enqueue = collect()
    lock = threading.Lock()

    def safe_enqueue(stage, ids):
        with lock:
            enqueue(stage, ids)

    threads = [
        threading.Thread(target=dispatch, args=(db, settings, safe_enqueue)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 200 and len(set(sent)) == 200


def test_idle_dispatch_is_cheap(db, settings):
    sent, enqueue = collect()
    stats = dispatch(db, settings, enqueue)
    assert sent == [] and stats.statements == (
        len(STAGES_BY_NAME) + len(release_states()) + 1  # one query for due retries
    )


def test_expired_lease_is_recovered(db, settings):
    with db.transaction() as conn:
        v = add_video(conn, 1, "encoding")
        conn.execute(
            "UPDATE source_videos SET lease_owner = 'dead-node', lease_expires_at = now() - interval '1 second'"
            " WHERE id = %s",
            (v,),
        )
        live = add_video(conn, 2, "encoding")
        conn.execute(
            "UPDATE source_videos SET lease_owner = 'live-node', lease_expires_at = now() + interval '1 hour'"
            " WHERE id = %s",
            (live,),
        )
    sent, enqueue = collect()
    stats = dispatch(db, settings, enqueue)
    assert ("encode", v) in sent and ("encode", live) not in sent
    assert stats.recovered == {"source_videos:encoding": 1}
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, retry_count, lease_owner FROM source_videos WHERE id = %s", (v,)
        ).fetchone()
    assert row == {"state": "downloaded", "retry_count": 1, "lease_owner": None}


def test_runner_claims_once_and_finishes(db, ctx):
    with db.transaction() as conn:
        v = add_video(conn, 1)
    calls = []

    def step(c, row):
        calls.append(row["id"])
        assert row["state"] == "downloading" and row["lease_owner"] == c.node
        return {"size_bytes": 123}

    stage = STAGES_BY_NAME["download"]
    assert run_item(ctx, stage, v, step).result == "done"
    assert run_item(ctx, stage, v, step).result == "skipped"
    assert calls == [v]
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, size_bytes, lease_owner FROM source_videos WHERE id = %s", (v,)
        ).fetchone()
    assert row == {"state": "downloaded", "size_bytes": 123, "lease_owner": None}


def test_permanent_error_fails_with_readable_last_error(db, ctx):
    with db.transaction() as conn:
        v = add_video(conn, 1, "downloaded")

    def step(c, row):
        raise MediaError("cannot decode /x.mp4: moov atom not found")

    out = run_item(ctx, STAGES_BY_NAME["encode"], v, step)
    assert out.result == "failed"
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, last_error, retry_count, error_kind, next_retry_at"
            " FROM source_videos WHERE id = %s",
            (v,),
        ).fetchone()
    assert row == {
        "state": "encoding_failed",
        "last_error": "cannot decode /x.mp4: moov atom not found",
        "retry_count": 1,
        "error_kind": "permanent",
        "next_retry_at": None,
    }
    frame = retry("videos", db=db)
    assert frame.to_dict("records") == [
        {
            "kind": "video",
            "id": v,
            "from_state": "encoding_failed",
            "to_state": "downloaded",
            "last_error": row["last_error"],
        }
    ]


def test_bug_in_a_step_fails_the_item_not_the_worker(db, ctx):
    with db.transaction() as conn:
        v = add_video(conn, 1)
    out = run_item(ctx, STAGES_BY_NAME["download"], v, lambda c, r: 1 / 0)
    assert out.result == "failed" and "ZeroDivisionError" in out.error


def _video(db, v):
    with db.transaction() as conn:
        return conn.execute(
            "SELECT state, retry_count, error_kind, last_error,"
            " extract(epoch FROM next_retry_at - now())::float8 AS wait"
            " FROM source_videos WHERE id = %s",
            (v,),
        ).fetchone()


def test_transient_errors_are_retried_by_the_dispatcher_with_growing_delays(db, ctx, settings):
    with db.transaction() as conn:
        v = add_video(conn, 1)

    def step(c, row):
        raise TransientError("S3 said SlowDown")

    stage = STAGES_BY_NAME["download"]
    delays = []
    for attempt in range(1, MAX_ATTEMPTS):
        out = run_item(ctx, stage, v, step)
        assert out.result == "retry"
        row = _video(db, v)
        assert (row["state"], row["error_kind"], row["retry_count"]) == (
            "download_failed",
            "transient",
            attempt,
        )
        assert abs(row["wait"] - out.retry_in) < 5
        delays.append(out.retry_in)
        sent, enqueue = collect()
        dispatch(db, settings, enqueue)
        assert sent == []  # not due yet
        with db.transaction() as conn:  # time passes
            conn.execute(
                "UPDATE source_videos SET next_retry_at = now() - interval '1 second'"
                " WHERE id = %s",
                (v,),
            )
        stats = dispatch(db, settings, enqueue)
        assert sent == [("download", v)], "the dispatcher retries a due item without a person"
        assert stats.retried == {"source_videos:download_failed": 1}
    assert delays == [10.0, 40.0, 160.0, 640.0, 2560.0, MAX_DELAY, MAX_DELAY]

    out = run_item(ctx, stage, v, step)
    assert out.result == "failed"
    row = _video(db, v)
    assert (row["state"], row["error_kind"], row["wait"]) == ("download_failed", "permanent", None)
    assert (
        row["last_error"] == f"gave up after {MAX_ATTEMPTS} tries: TransientError: S3 said SlowDown"
    )
    sent, enqueue = collect()
    dispatch(db, settings, enqueue)
    assert sent == []  # permanent: waits for a person


def test_a_person_retries_a_permanent_failure_from_scratch(db, ctx):
    with db.transaction() as conn:
        v = add_video(conn, 1)
    run_item(ctx, STAGES_BY_NAME["download"], v, lambda c, r: 1 / 0)
    assert _video(db, v)["error_kind"] == "permanent"
    assert len(retry("videos", [v], db=db)) == 1
    row = _video(db, v)
    assert (row["state"], row["retry_count"], row["error_kind"], row["wait"]) == (
        "new",
        0,
        None,
        None,
    )


def test_lost_lease_stops_the_step_before_it_stores_anything(db, ctx):
    ctx.settings = replace(ctx.settings, lease_seconds=0.6)
    with db.transaction() as conn:
        v = add_video(conn, 1, "downloaded")
    stored = []

    def step(c, row):
        with db.transaction() as conn:  # another worker took the item meanwhile
            conn.execute("UPDATE source_videos SET lease_owner = 'other-node' WHERE id = %s", (v,))
        for _ in range(100):  # long work that checks in, as encode and fetch do
            time.sleep(0.05)
            c.check_shutdown()
        stored.append("master")
        return {}

    started = time.monotonic()
    out = run_item(ctx, STAGES_BY_NAME["encode"], v, step)
    assert out.result == "skipped" and "lease lost" in out.error
    assert stored == [] and time.monotonic() - started < 4
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, lease_owner FROM source_videos WHERE id = %s", (v,)
        ).fetchone()
    assert row == {"state": "encoding", "lease_owner": "other-node"}


def test_work_finished_during_shutdown_is_stored(db, ctx):
    with db.transaction() as conn:
        v = add_video(conn, 1, "downloaded")

    def step(c, row):
        runner.shutting_down.set()  # SIGTERM arrives while the encode runs
        c.check_lease()  # the encode finished: only a lost lease would discard it
        return {"master_key": "masters/1.mp4"}

    try:
        out = run_item(ctx, STAGES_BY_NAME["encode"], v, step)
    finally:
        runner.shutting_down.clear()
    assert out.result == "done"
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, master_key FROM source_videos WHERE id = %s", (v,)
        ).fetchone()
    assert row == {"state": "encoded", "master_key": "masters/1.mp4"}


def test_shutdown_releases_instead_of_failing(db, ctx):
    with db.transaction() as conn:
        v = add_video(conn, 1, "downloaded")

    def step(c, row):
        runner.shutting_down.set()
        raise MediaError("ffmpeg was killed")

    try:
        out = run_item(ctx, STAGES_BY_NAME["encode"], v, step)
    finally:
        runner.shutting_down.clear()
    assert out.result == "released"
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, lease_owner FROM source_videos WHERE id = %s", (v,)
        ).fetchone()
    assert row == {"state": "downloaded", "lease_owner": None}


def test_lost_lease_does_not_overwrite_the_new_owner(db, ctx):
    with db.transaction() as conn:
        v = add_video(conn, 1, "downloaded")

    def step(c, row):
        with db.transaction() as conn:  # the dispatcher gave the item to another node meanwhile
            conn.execute("UPDATE source_videos SET lease_owner = 'other-node' WHERE id = %s", (v,))
        return {}

    assert run_item(ctx, STAGES_BY_NAME["encode"], v, step).result == "skipped"
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, lease_owner FROM source_videos WHERE id = %s", (v,)
        ).fetchone()
    assert row == {"state": "encoding", "lease_owner": "other-node"}


def test_heartbeat_extends_the_lease(db, ctx):
    ctx.settings = replace(ctx.settings, lease_seconds=1.5)
    with db.transaction() as conn:
        v = add_video(conn, 1, "downloaded")
    seen = []

    def step(c, row):
        import time

        for _ in range(4):
            time.sleep(0.8)  # four sleeps outlast two leases
            with db.transaction() as conn:
                seen.append(
                    conn.execute(
                        "SELECT lease_expires_at > now() AS alive FROM source_videos WHERE id = %s",
                        (v,),
                    ).fetchone()["alive"]
                )
        return {}

    assert run_item(ctx, STAGES_BY_NAME["encode"], v, step).result == "done"
    assert all(seen)
