"""Review actions on a real PostgreSQL: transitions, cut operations, audit, undo, claims."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from mediaml import review
from mediaml.db.clips import get_clip, list_clips, list_cuts
from mediaml.db.transitions import transition
from mediaml.db.videos import delete_video
from mediaml.errors import (
    IllegalTransitionError,
    InvalidCutError,
    NotFoundError,
    ReviewConflictError,
    ReviewError,
)
from tests.support.review import add_video_with_clips

CUTS = [50, 100, 150, 200]  # five clips of 50 frames at 25 fps


@pytest.fixture
def clips(db):
    _video, rows = add_video_with_clips(db, CUTS)
    return [r["id"] for r in rows]


def audit(db):
    with db.transaction() as conn:
        return conn.execute("SELECT * FROM review_actions ORDER BY id").fetchall()


def clip(db, clip_id):
    with db.transaction() as conn:
        return get_clip(conn, clip_id)


def cuts(db, video_id):
    with db.transaction() as conn:
        return [c["frame"] for c in list_cuts(conn, video_id)]


def live(db, video_id):
    with db.transaction() as conn:
        return [
            (c["start_frame"], c["end_frame"], c["state"])
            for c in list_clips(conn, video_id=video_id)
        ]


def test_next_clip_is_claimed_and_stable_for_its_reviewer(db, clips):
    first = review.next_clip("alice")
    assert first is not None and first.clip_id == clips[0]
    assert first.previous_clip_id is None and first.pending_count == 5
    assert first.fps == 25 and first.frame_count == 50 and first.duration == 2.0
    assert review.next_clip("alice").clip_id == clips[0]  # a reload shows the same clip
    assert review.next_clip("bob").clip_id == clips[1]
    assert review.next_clip("carol").previous_clip_id == clips[1]


def test_concurrent_reviewers_never_get_the_same_clip(db, clips):
    names = [f"r{i}" for i in range(5)]
    with ThreadPoolExecutor(5) as pool:
        got = list(pool.map(lambda n: review.next_clip(n).clip_id, names))
    assert sorted(got) == sorted(clips)
    assert review.next_clip("late") is None


def test_expired_or_released_claims_are_offered_again(db, clips):
    review.next_clip("alice")
    with db.transaction() as conn:
        conn.execute("UPDATE clips SET lease_expires_at = now() - interval '1 s'")
    assert review.next_clip("bob").clip_id == clips[0]
    assert review.release("bob") == 1
    assert review.next_clip("carol").clip_id == clips[0]


@pytest.mark.parametrize(
    ("action", "state"),
    [("approve", "review_approved"), ("skip", "review_skipped"), ("archive", "review_archived")],
)
def test_verdict_moves_clip_records_audit_and_returns_next(db, clips, action, state):
    shown = review.next_clip("alice")
    result = review.act(shown.clip_id, action, "alice")
    row = clip(db, clips[0])
    assert row["state"] == state and row["reviewed_by"] == "alice" and row["lease_owner"] is None
    assert result.next_clip.clip_id == clips[1] and result.changed_clips == (clips[0],)
    (record,) = audit(db)
    assert (record["actor"], record["action"], record["clip_id"]) == ("alice", action, clips[0])
    assert record["before"]["clip"]["state"] == "pending_review"
    assert record["after"]["clip"]["state"] == state
    assert result.action_id == record["id"]


def test_merge_removes_the_cut_and_shows_the_merged_clip(db, clips):
    video_id = clip(db, clips[0])["video_id"]
    review.act(clips[0], "approve", "alice")
    result = review.act(clips[1], "merge", "alice")
    assert cuts(db, video_id) == [100, 150, 200]
    merged = result.next_clip
    assert (merged.start_frame, merged.end_frame) == (0, 100)
    assert clip(db, clips[0])["state"] == clip(db, clips[1])["state"] == "archived"
    record = audit(db)[-1]
    assert record["after"]["cut"] == 50 and record["after"]["created"] == [merged.clip_id]
    assert record["before"]["previous"]["state"] == "review_approved"


def test_merge_and_group_are_refused_on_the_first_clip_without_writing(db, clips):
    for action in ("merge", "group"):
        with pytest.raises(IllegalTransitionError, match="first clip"):
            review.act(clips[0], action, "alice")
    assert audit(db) == [] and clip(db, clips[0])["state"] == "pending_review"


def test_group_approves_both_and_links_them(db, clips):
    review.act(clips[0], "skip", "alice")
    result = review.act(clips[1], "group", "alice")
    a, b = clip(db, clips[0]), clip(db, clips[1])
    assert a["state"] == b["state"] == "review_approved"
    assert a["grouped_with"] == clips[1] and b["grouped_with"] == clips[0]
    assert set(result.changed_clips) == {clips[0], clips[1]}


def test_split_turns_the_offset_into_a_frame_with_the_stored_fps(db, clips):
    video_id = clip(db, clips[1])["video_id"]
    result = review.act(clips[1], "split", "alice", offset_seconds=0.4)  # 10 frames at 25 fps
    assert cuts(db, video_id) == [50, 60, 100, 150, 200]
    assert (result.next_clip.start_frame, result.next_clip.end_frame) == (50, 60)
    assert clip(db, clips[1])["state"] == "archived"
    record = audit(db)[-1]
    assert record["after"]["cut"] == 60 and record["after"]["offset_seconds"] == 0.4


@pytest.mark.parametrize("offset", [0.0, 2.0, 5.0, -1.0])
def test_split_outside_the_clip_is_refused_without_writing(db, clips, offset):
    video_id = clip(db, clips[1])["video_id"]
    with pytest.raises(InvalidCutError, match="strictly inside"):
        review.act(clips[1], "split", "alice", offset_seconds=offset)
    assert cuts(db, video_id) == CUTS and audit(db) == []


def test_undo_reverts_verdicts_one_at_a_time(db, clips):
    review.act(clips[0], "approve", "alice")
    review.act(clips[1], "archive", "alice")
    result = review.undo("alice")
    assert clip(db, clips[1])["state"] == "pending_review"
    assert clip(db, clips[1])["reviewed_by"] is None
    assert result.next_clip.clip_id == clips[1]
    review.undo("alice")
    assert clip(db, clips[0])["state"] == "pending_review"
    records = audit(db)
    assert [r["action"] for r in records] == ["approve", "archive", "undo", "undo"]
    assert records[2]["undoes"] == records[1]["id"] and records[3]["undoes"] == records[0]["id"]
    with pytest.raises(ReviewError, match="nothing left to undo"):
        review.undo("alice")


def test_undo_of_merge_and_split_applies_the_inverse_cut(db, clips):
    video_id = clip(db, clips[0])["video_id"]
    review.act(clips[1], "merge", "alice")
    result = review.undo("alice")
    assert cuts(db, video_id) == CUTS
    assert (result.next_clip.start_frame, result.next_clip.end_frame) == (50, 100)
    review.act(result.next_clip.clip_id, "split", "alice", offset_seconds=1.0)
    assert cuts(db, video_id) == [50, 75, 100, 150, 200]
    review.undo("alice")
    assert cuts(db, video_id) == CUTS
    assert [s for *_, s in live(db, video_id)] == ["pending_review"] * 5


def test_undo_of_group_restores_both_clips(db, clips):
    review.act(clips[1], "group", "alice")
    review.undo("alice")
    a, b = clip(db, clips[0]), clip(db, clips[1])
    assert a["state"] == b["state"] == "pending_review"
    assert a["grouped_with"] is None and b["grouped_with"] is None


def test_undo_is_refused_once_the_clip_moved_on(db, clips):
    review.act(clips[0], "approve", "alice")
    with db.transaction() as conn:
        transition(conn, "clips", clips[0], "exporting")
    with pytest.raises(ReviewConflictError, match="cannot undo"):
        review.undo("alice")
    assert clip(db, clips[0])["state"] == "exporting" and len(audit(db)) == 1


def test_double_click_acts_once(db, clips):
    first = review.act(clips[0], "approve", "alice")
    second = review.act(clips[0], "approve", "alice")
    assert second.repeated and second.action_id == first.action_id
    assert second.next_clip.clip_id == first.next_clip.clip_id
    assert len(audit(db)) == 1


def test_simultaneous_double_click_acts_once(db, clips):
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: review.act(clips[2], "skip", "alice"), range(2)))
    assert sorted(r.repeated for r in results) == [False, True]
    assert len(audit(db)) == 1


def test_stale_tab_on_a_clip_reviewed_by_someone_else_writes_nothing(db, clips):
    review.act(clips[0], "approve", "alice")
    with pytest.raises(ReviewConflictError, match="already reviewed or changed by alice"):
        review.act(clips[0], "archive", "bob")
    assert clip(db, clips[0])["state"] == "review_approved" and len(audit(db)) == 1


def test_a_clip_held_by_another_reviewer_cannot_be_acted_on(db, clips):
    review.next_clip("alice")
    with pytest.raises(ReviewConflictError, match="being reviewed by alice"):
        review.act(clips[0], "approve", "bob")
    review.next_clip("bob")  # bob holds clips[1]
    with pytest.raises(ReviewConflictError, match="previous clip is being reviewed by bob"):
        review.act(clips[2], "merge", "carol")
    assert audit(db) == []


def test_acting_on_a_clip_of_a_deleted_video(db, clips):
    with db.transaction() as conn:
        delete_video(conn, clip(db, clips[0])["video_id"])
    with pytest.raises(NotFoundError, match="no longer exists"):
        review.act(clips[0], "approve", "alice")
    assert review.next_clip("alice") is None


def test_bad_input_is_refused(db, clips):
    with pytest.raises(ReviewError, match="unknown review action"):
        review.act(clips[0], "delete", "alice")
    with pytest.raises(ReviewError, match="reviewer name"):
        review.act(clips[0], "approve", "")
    with pytest.raises(ReviewError, match="time offset"):
        review.act(clips[0], "split", "alice")
    assert audit(db) == []


def test_history_lists_actions_newest_first(db, clips):
    review.act(clips[0], "approve", "alice")
    review.act(clips[2], "skip", "bob")  # alice now holds clips[1], bob clips[3]
    frame = review.history()
    assert list(frame["actor"]) == ["bob", "alice"]
    assert list(review.history(reviewer="alice")["action"]) == ["approve"]
    assert review.pending_count() == 3
    assert review.upcoming("carol", 2) == [clips[4]]
    assert review.upcoming("alice", 2) == [clips[1], clips[4]]
