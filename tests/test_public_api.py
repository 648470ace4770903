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


def test_an_unknown_state_lists_the_states(db):
    import pytest

    from mediaml.errors import QueryError
    from mediaml.states import CLIP_STATES, VIDEO_STATES

    with pytest.raises(QueryError, match="unknown clip state 'bogus'") as raised:
        mediaml.clips(state="bogus")
    assert all(s in str(raised.value) for s in CLIP_STATES)
    with pytest.raises(QueryError, match="'pending'"):
        mediaml.clips(state=["pending_review", "pending"])
    with pytest.raises(QueryError) as raised:
        mediaml.videos(state="finished")
    assert all(s in str(raised.value) for s in VIDEO_STATES)
    assert mediaml.clips(state="pending_review").empty  # a real state still works


def test_similar_with_a_non_id_is_a_clear_error(db):
    import psycopg
    import pytest

    from mediaml.errors import QueryError

    for bad in ("abc", 1.5, None, True):
        with pytest.raises(QueryError, match="clip_id must be") as raised:
            mediaml.similar(bad)
        assert not isinstance(raised.value.__cause__, psycopg.Error)


def test_ingest_of_a_missing_path_raises_and_a_partial_one_warns(db, store, tmp_path):
    import pytest

    from mediaml.errors import IngestWarning, MediaError
    from tests.support.media import Shot, make_multishot_video

    missing = tmp_path / "no-such-footage"
    with pytest.raises(MediaError, match=f"could not ingest {missing}.*does not exist"):
        mediaml.ingest(missing)
    good = tmp_path / "good.mp4"
    make_multishot_video(good, [Shot("testsrc2", 10)])
    with pytest.warns(IngestWarning, match="1 of 2 sources.*does not exist"):
        frame = mediaml.ingest([good, missing])
    assert frame["video_id"].notna().sum() == 1


def test_review_of_an_unknown_clip_speaks_notebook(db):
    import pytest

    from mediaml.errors import NotFoundError

    with pytest.raises(NotFoundError) as raised:
        mediaml.review(999, "approve", reviewer="ana")
    message = str(raised.value)
    assert "clip 999 does not exist" in message and "mediaml.clips(" in message
    assert "load the next clip" not in message


def test_review_of_a_clip_someone_else_has_speaks_notebook(db):
    """The README's `mediaml.review(clip_id, "approve", reviewer="ana")` on a clip that
    the dashboard shows someone else, or that they merged away meanwhile: what happened
    and what to do in a notebook, not the dashboard's "here is the next clip"."""
    import pytest

    from mediaml.errors import ReviewConflictError
    from tests.support.review import add_video_with_clips

    _video, rows = add_video_with_clips(db, [50, 100, 150])
    first, second = rows[0]["id"], rows[1]["id"]
    assert mediaml.review.next_clip("root").clip_id == first  # on the dashboard's screen
    with pytest.raises(ReviewConflictError) as held:
        mediaml.review(first, "approve", reviewer="ana")
    mediaml.review.release("root")
    mediaml.review.act(second, "merge", "bo")
    with pytest.raises(ReviewConflictError) as merged:
        mediaml.review(second, "approve", reviewer="ana")
    for raised, reason in (
        (held, f"clip {first} is being reviewed by root"),
        (merged, f"clip {second} was already reviewed or changed by bo (it is now 'archived')"),
    ):
        message = str(raised.value)
        assert message.startswith(reason + "; nothing was changed. mediaml.clips(state=")
        assert "next clip" not in message and "another clip" not in message


def test_help_of_review_shows_how_to_call_it():
    import pydoc

    text = pydoc.render_doc(mediaml.review, renderer=pydoc.plaintext)
    assert "mediaml.review(clip_id, action, reviewer=None" in text
    assert "approve" in text and "ReviewConflictError" in text
