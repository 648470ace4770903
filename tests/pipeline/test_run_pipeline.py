"""The pipeline run in-process on real media, real PostgreSQL and the local store."""

import os
import shutil
import subprocess
import sys
import time

import pytest

import mediaml
from mediaml.catalog import clips, cuts, videos
from mediaml.errors import IngestWarning, MediaError
from tests.pipeline.conftest import wait_for


def live_segments(video_id):
    frame = clips(video=video_id)
    return list(zip(frame["start_frame"], frame["end_frame"], strict=True))


def test_until_review_creates_clips_at_the_cuts(db, store, three_shot_video):
    path, expected_cuts = three_shot_video
    steps = mediaml.run_pipeline(path, until="review", progress=False)
    assert set(steps["result"]) == {"done"}, steps
    assert list(steps["stage"]) == ["download", "encode", "detect"]
    video = videos().iloc[0]
    assert video["state"] == "done" and video["frame_count"] == 85 and video["fps"] == 25
    assert list(cuts(int(video["video_id"]))["frame"]) == expected_cuts == [30, 55]
    assert live_segments(int(video["video_id"])) == [(0, 30), (30, 55), (55, 85)]
    assert set(clips()["state"]) == {"pending_review"}
    assert len(store.list("originals/")) == 1
    assert len(store.list("masters/")) == 1 and len(store.list("proxies/")) == 1

    # Running again is a no-op: nothing is duplicated.
    again = mediaml.run_pipeline(path, until="review", progress=False)
    assert again.empty
    assert len(clips()) == 3 and len(store.list("proxies/")) == 1


def test_approved_clips_are_exported_and_keyframed(db, store, three_shot_video):
    path, _ = three_shot_video
    mediaml.run_pipeline(path, until="keyframed", auto_approve=True, progress=False)
    frame = clips()
    assert set(frame["state"]) == {"keyframed"}
    assert len(store.list("clips/")) == 3
    assert len(store.list("artifacts/keyframes/")) == 9  # multi: 25/50/75 % of each clip
    html = frame._repr_html_()  # notebooks show each clip with its middle keyframe
    assert html.count('<img src="data:image/jpeg;base64,') == 3
    with db.transaction() as conn:
        audit = conn.execute("SELECT actor, action FROM review_actions").fetchall()
    assert audit == [{"actor": "auto-approve", "action": "approve"}] * 3


def test_in_process_run_leaves_no_queued_messages_behind(db, store, three_shot_video):
    """`mediaml ingest` queues work for the workers; `mediaml run` then does it here. The
    queues (and `mediaml status`) must show real work only, not the messages for done items."""
    from mediaml.catalog import status
    from mediaml.jobs.tasks import enqueue, queue_downloads
    from mediaml.pipeline.stages import STAGES_BY_NAME

    path, _ = three_shot_video
    ids = [int(v) for v in mediaml.ingest(path)["video_id"]]
    assert queue_downloads(ids) == ids
    enqueue(STAGES_BY_NAME["export"], [424242])  # someone else's work: it must stay
    assert status()["queues"]["media_processing"] == 2
    steps = mediaml.run_pipeline(until="review", progress=False)
    assert set(steps["result"]) == {"done"}
    assert status()["queues"]["media_processing"] == 1
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM huey_task").fetchone()["n"] == 1


def test_in_process_approval_is_audited_like_a_reviewer(db, store, three_shot_video):
    path, _ = three_shot_video
    mediaml.run_pipeline(path, until="review", progress=False)
    approved = mediaml.pipeline.run.approve_pending(db, None, "auto-approve")
    history = mediaml.review.history(reviewer="auto-approve")
    assert sorted(history["clip_id"]) == sorted(approved) and len(approved) == 3
    # Same shape as a reviewer's approval (mediaml.review.act): {"clip": snapshot}.
    clip_id = int(clips()["clip_id"].iloc[0])
    row = history[history["clip_id"] == clip_id].iloc[0]
    clip_before, clip_after = row["before"], row["after"]
    assert clip_before["clip"]["state"] == "pending_review"
    assert clip_after["clip"]["state"] == "review_approved"
    assert clip_after["clip"]["reviewed_by"] == "auto-approve"
    assert set(clip_after["clip"]) == set(clip_before["clip"]) >= {"id", "start_frame"}


def test_a_corrupt_video_fails_alone(db, store, three_shot_video, tmp_path):
    good, _ = three_shot_video
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(good.read_bytes()[:3000])
    mediaml.ingest([bad, good], check=False)
    steps = mediaml.run_pipeline(until="review", progress=False)  # everything waiting
    failed = steps[steps["result"] == "failed"]
    assert list(failed["stage"]) == ["encode"]
    frame = videos()
    broken = frame[frame["title"] == "broken"].iloc[0]
    assert broken["state"] == "encoding_failed"
    assert broken["last_error"] and "Traceback" not in broken["last_error"]
    assert (frame[frame["title"] == "three shots"]["state"] == "done").all()
    assert store.list("masters/") == [k for k in store.list("masters/") if "three-shots" in k]


def test_ingest_reports_bad_files_and_keeps_good_ones(db, three_shot_video, tmp_path):
    good, _ = three_shot_video
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(good, folder / "good.mp4")
    (folder / "text.mp4").write_text("this is not a video")
    (folder / "empty.mov").write_bytes(b"")
    with pytest.warns(IngestWarning, match="could not ingest 2 of 3 sources"):
        frame = mediaml.ingest(folder)
    ok = frame[frame["error"].isna()]
    assert list(ok["title"]) == ["good"]
    errors = dict(
        zip(frame["source"].map(lambda s: s.rsplit("/", 1)[-1]), frame["error"], strict=True)
    )
    assert errors["text.mp4"] and errors["empty.mov"]


def test_a_run_killed_mid_step_is_finished_by_the_next_run(
    db, db_url, settings, store, long_video, tmp_path
):
    """`mediaml run` killed while it encodes (a closed terminal, the OOM killer, a
    reboot) leaves its video in `encoding`; with no worker running, the next run takes it
    up again once its lease has run out instead of leaving it there for ever."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIAML_", "DATABASE_"))}
    env.update(
        DATABASE_URL=db_url, MEDIAML_DATA_DIR=str(settings.data_dir), MEDIAML_LEASE_SECONDS="2"
    )
    command = [sys.executable, "-m", "mediaml", "run", str(long_video), "--until", "encoded"]
    with (tmp_path / "run.log").open("wb") as log:
        killed = subprocess.Popen([*command, "--quiet"], env=env, stdout=log, stderr=log)
        try:
            wait_for(lambda: set(videos()["state"]) == {"encoding"}, 180, "the encode to start")
        finally:
            killed.kill()
            killed.wait(30)
    time.sleep(2.5)  # the killed run's lease runs out
    steps = mediaml.run_pipeline(until="encoded", progress=False)
    assert list(steps["stage"]) == ["encode"] and set(steps["result"]) == {"done"}, steps
    video = videos().iloc[0]
    assert video["state"] == "encoded" and video["retry_count"] == 1
    assert len(store.list("masters/")) == 1 and len(store.list("proxies/")) == 1


def test_ingesting_a_folder_leaves_out_mediamls_own_files_and_hidden_ones(
    db, store, settings, three_shot_video, tmp_path
):
    """`mediaml ingest ~` (or '', which is the current folder): the data dir under it holds
    the masters, proxies and temp clips of what is already ingested, and a reel being
    written is a hidden .partial file; none of them are new footage."""
    path, _ = three_shot_video
    home = tmp_path
    assert settings.data_dir.is_relative_to(home)
    (home / "footage").mkdir()
    shutil.copy(path, home / "footage" / "day one.mp4")
    shutil.copy(path, home / "footage" / ".day two.partial-1a2b.mp4")
    mediaml.run_pipeline(home / "footage", until="review", progress=False)
    assert store.list("masters/") and store.list("proxies/")
    for walked in (home, f"{home}/**/*.mp4"):
        frame = mediaml.ingest(walked)
        assert list(frame["source"]) == [str(home / "footage" / "day one.mp4")], frame
        assert not frame["created"].any()
    # Pointing into the data dir itself is deliberate: its files are taken.
    assert len(mediaml.ingest(settings.media_dir / "masters")) == 1
    with pytest.raises(MediaError) as raised:
        mediaml.ingest(["", "s3://", "s3://bucket", "https://", "ytdl+https:///watch"])
    message = str(raised.value)
    assert "an empty source" in message
    assert "s3:// names no object" in message and "s3://bucket names no object" in message
    assert "https:// has no host" in message and "ytdl+https:///watch has no host" in message


@pytest.mark.parametrize("until", ["nonsense"])
def test_bad_until_is_refused(db, until):
    with pytest.raises(ValueError, match="until"):
        mediaml.run_pipeline(until=until)


def test_whole_pipeline_to_embedded_and_search(db, store, settings, three_shot_video):
    import dataclasses

    from mediaml.config import set_settings

    set_settings(dataclasses.replace(settings, embed_model="mediaml-descriptor-v1"))
    path, _ = three_shot_video
    steps = mediaml.run_pipeline(path, auto_approve=True, progress=False)
    assert set(steps["result"]) == {"done"}
    frame = clips()
    assert set(frame["state"]) == {"embedded"}
    emb = mediaml.embeddings(model="mediaml-descriptor-v1")
    assert sorted(emb["clip_id"]) == sorted(frame["clip_id"])
    similar = mediaml.similar(int(frame["clip_id"].iloc[0]), k=2, model="mediaml-descriptor-v1")
    assert len(similar) == 2 and int(frame["clip_id"].iloc[0]) not in set(similar["clip_id"])

    # Backfill: a new default strategy is added to embedded clips, and only once.
    set_settings(
        dataclasses.replace(
            settings, embed_model="mediaml-descriptor-v1", embed_strategy="keyframe_single"
        )
    )
    steps = mediaml.run_pipeline(progress=False)
    assert list(steps["stage"]) == ["backfill"] * 3 and set(steps["result"]) == {"done"}
    assert len(mediaml.embeddings(model="mediaml-descriptor-v1", strategy="keyframe_single")) == 3
    assert mediaml.run_pipeline(progress=False).empty
