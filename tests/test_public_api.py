"""The names a notebook uses are all there and behave."""

import mediaml
from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import create_video, update_video


def test_every_public_name_resolves():
    for name in mediaml.__all__:
        assert getattr(mediaml, name) is not None, name


def test_review_is_callable_and_audited(db, store, monkeypatch):
    monkeypatch.setenv("USER", "nb-user")
    with db.transaction() as conn:
        video, _ = create_video(conn, "v", "file:///v.mp4")
        update_video(conn, video["id"], fps_num=25, fps_den=1, frame_count=50, duration_s=2.0)
        first, second = create_initial_clips(conn, video["id"], [DetectedCut(20)])
    result = mediaml.review(first["id"], "approve")
    assert result.next_clip is not None and result.next_clip.clip_id == second["id"]
    assert mediaml.clips()["state"].tolist() == ["review_approved", "pending_review"]
    mediaml.review.undo("nb-user")
    assert mediaml.clips()["state"].tolist() == ["pending_review", "pending_review"]
    with db.transaction() as conn:
        actors = {r["actor"] for r in conn.execute("SELECT actor FROM review_actions")}
    assert actors == {"nb-user"}
