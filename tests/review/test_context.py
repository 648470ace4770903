"""A clip's context (neighbours, timeline), moving a cut from review, and deep-link claims,
on a real PostgreSQL."""

import pytest

from mediaml import review
from mediaml.db.clips import get_clip, list_clips, list_cuts
from mediaml.errors import InvalidCutError, ReviewConflictError, ReviewError
from tests.support.review import add_video_with_clips

CUTS = [50, 100, 150, 200]  # five clips of 50 frames at 25 fps


@pytest.fixture
def made(db):
    video, rows = add_video_with_clips(db, CUTS)
    return int(video["id"]), [int(r["id"]) for r in rows]


def cuts(db, video_id):
    with db.transaction() as conn:
        return [c["frame"] for c in list_cuts(conn, video_id)]


def live(db, video_id):
    with db.transaction() as conn:
        return [(c["start_frame"], c["end_frame"]) for c in list_clips(conn, video_id=video_id)]


def test_context_has_neighbours_and_every_cut(db, made):
    video_id, ids = made
    ctx = review.clip_context(ids[2])
    assert (ctx.video_id, ctx.frame_count, ctx.fps) == (video_id, 250, 25)
    assert ctx.previous is not None and ctx.previous.clip_id == ids[1]
    assert ctx.next is not None and ctx.next.clip_id == ids[3]
    assert [s.start_frame for s in ctx.segments[1:]] == CUTS
    assert [s.clip_id for s in ctx.segments] == ids and not ctx.truncated
    first, last = review.clip_context(ids[0]), review.clip_context(ids[-1])
    assert first.previous is None and first.next.clip_id == ids[1]
    assert last.next is None and last.previous.clip_id == ids[3]
    as_dict = ctx.to_dict()
    assert as_dict["fps"] == 25.0 and as_dict["previous"]["clip_id"] == ids[1]


def test_context_after_a_merge_shows_the_merged_clip(db, made):
    _video_id, ids = made
    review.next_clip("ann", prefer=ids[2])
    result = review.act(ids[2], "merge", "ann")
    (merged,) = result.created_clips
    ctx = review.clip_context(merged)
    assert ctx.previous.clip_id == ids[0] and ctx.next.clip_id == ids[3]
    assert [s.start_frame for s in ctx.segments[1:]] == [50, 150, 200]


def test_move_the_start_cut_and_undo_it(db, made):
    video_id, ids = made
    assert review.next_clip("bo", prefer=ids[2]).clip_id == ids[2]
    result = review.move_cut(ids[2], 100, 97, "bo")
    assert cuts(db, video_id) == [50, 97, 150, 200]
    assert live(db, video_id) == [(0, 50), (50, 97), (97, 150), (150, 200), (200, 250)]
    _left, right = result.created_clips
    # The reviewer stays on the clip with (most of) the frames they were looking at.
    assert result.next_clip.clip_id == right
    with db.transaction() as conn:
        assert get_clip(conn, ids[1])["state"] == get_clip(conn, ids[2])["state"] == "archived"
    record = review.history(reviewer="bo").iloc[0]
    assert record["action"] == "move" and record["after"]["from"] == 100
    undone = review.undo("bo")
    assert cuts(db, video_id) == CUTS
    assert undone.next_clip is not None and undone.next_clip.start_frame == 100


def test_move_the_end_cut(db, made):
    video_id, ids = made
    review.next_clip("cy", prefer=ids[1])
    result = review.move_cut(ids[1], 100, 104, "cy")
    assert cuts(db, video_id) == [50, 104, 150, 200]
    assert result.next_clip.clip_id == result.created_clips[0]
    assert (result.next_clip.start_frame, result.next_clip.end_frame) == (50, 104)


def test_move_is_refused_when_it_would_change_a_reviewed_clip(db, made):
    video_id, ids = made
    review.next_clip("di", prefer=ids[1])
    review.act(ids[1], "approve", "di")
    review.next_clip("di", prefer=ids[2])
    with pytest.raises(ReviewConflictError, match="review_approved"):
        review.move_cut(ids[2], 100, 98, "di")
    with pytest.raises(ReviewError, match="not a cut of clip"):
        review.move_cut(ids[2], 120, 98, "di")
    with pytest.raises(InvalidCutError):
        review.move_cut(ids[2], 150, 200, "di")  # would empty the next clip
    assert cuts(db, video_id) == CUTS


def test_move_is_refused_when_the_other_clip_is_held(db, made):
    _video_id, ids = made
    review.next_clip("ed", prefer=ids[3])
    review.next_clip("fi", prefer=ids[2])
    with pytest.raises(ReviewConflictError, match="being reviewed by ed"):
        review.move_cut(ids[2], 150, 152, "fi")


def test_deep_link_prefers_a_free_pending_clip_only(db, made):
    _video_id, ids = made
    assert review.next_clip("gu", prefer=ids[3]).clip_id == ids[3]
    # Held by gu: another reviewer following the same link gets the usual next clip.
    assert review.next_clip("hy", prefer=ids[3]).clip_id == ids[0]
    review.act(ids[3], "approve", "gu")
    assert review.next_clip("iv", prefer=ids[3]).clip_id != ids[3]
