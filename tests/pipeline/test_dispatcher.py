"""The dispatcher and the runner on a real PostgreSQL."""

import threading
from dataclasses import replace

import pytest

from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import create_video, update_video
from mediaml.errors import MediaError
from mediaml.pipeline import runner
from mediaml.pipeline.dispatcher import DispatchStats, dispatch, select_ready
from mediaml.pipeline.retry import retry
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
            (clips[0], settings.embed_model, settings.embed_strategy),
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
    assert sent == [] and stats.statements == len(STAGES_BY_NAME) + len(release_states())


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
            "SELECT state, last_error, retry_count FROM source_videos WHERE id = %s", (v,)
        ).fetchone()
    assert row == {
        "state": "encoding_failed",
        "last_error": "cannot decode /x.mp4: moov atom not found",
        "retry_count": 1,
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


def test_transient_errors_retry_with_backoff_then_fail(db, ctx):
    with db.transaction() as conn:
        v = add_video(conn, 1)

    def step(c, row):
        raise TransientError("S3 said SlowDown")

    stage = STAGES_BY_NAME["download"]
    results = [run_item(ctx, stage, v, step) for _ in range(runner.MAX_TRANSIENT_ATTEMPTS)]
    assert [r.result for r in results] == ["retry"] * (runner.MAX_TRANSIENT_ATTEMPTS - 1) + [
        "failed"
    ]
    assert [r.retry_in for r in results[:3]] == [10.0, 40.0, 160.0]
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT state, retry_count FROM source_videos WHERE id = %s", (v,)
        ).fetchone()
    assert row == {"state": "download_failed", "retry_count": runner.MAX_TRANSIENT_ATTEMPTS}


def test_retry_window_keeps_dispatcher_away(db, ctx, settings):
    with db.transaction() as conn:
        v = add_video(conn, 1)
    run_item(
        ctx,
        STAGES_BY_NAME["download"],
        v,
        lambda c, r: (_ for _ in ()).throw(TransientError("blip")),
    )
    sent, enqueue = collect()
    dispatch(db, settings, enqueue)
    assert sent == []  # the delayed retry message is the one that will run it


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
