"""Clips per state at any catalogue size: the counts the triggers keep (migration 0013)
match a count of every clip after every kind of write, and the review queue is claimed
through its index instead of a sort of every pending clip (migration 0012)."""

import psycopg
import pytest

from mediaml import catalog, review
from mediaml.db import counts, leases
from mediaml.db.videos import delete_video
from mediaml.review import claims
from tests.support.review import add_video_with_clips


def counted(db):
    """Clips per state, counted the slow way (every clip)."""
    with db.transaction() as conn:
        rows = conn.execute("SELECT state, count(*) AS n FROM clips GROUP BY state").fetchall()
    return {r["state"]: r["n"] for r in rows}


def kept(db):
    with db.transaction() as conn:
        return counts.clip_counts(conn)


def test_kept_counts_follow_every_kind_of_write(db):
    video, rows = add_video_with_clips(db, [50, 100, 150, 200])  # insert: 5 pending
    other, _ = add_video_with_clips(db, [10], frame_count=20, title="Other")
    ids = [r["id"] for r in rows]
    assert kept(db) == counted(db) == {"pending_review": 7}
    review.act(ids[0], "approve", "ana")  # a state change, and a claim (no change)
    review.act(ids[1], "archive", "ana")
    review.act(ids[3], "split", "ana", offset_seconds=1.0)  # archives one, inserts two
    review.act(ids[2], "merge", "ana")
    assert kept(db) == counted(db)
    assert {"pending_review", "review_approved", "archived"} <= set(kept(db))
    review.undo("ana")
    assert kept(db) == counted(db)
    with db.transaction() as conn:  # an update of many rows, some unchanged in state
        conn.execute("UPDATE clips SET state = 'review_approved' WHERE state <> 'archived'")
        conn.execute("UPDATE clips SET retry_count = retry_count")
    assert kept(db) == counted(db)
    with db.transaction() as conn:
        delete_video(conn, video["id"])  # the clips go by ON DELETE CASCADE
    assert kept(db) == counted(db) == {"review_approved": 2}
    assert catalog.status(db=db)["clips"]["review_approved"] == 2
    assert review.pending_count(db=db) == 0
    with db.transaction() as conn:
        delete_video(conn, other["id"])
    assert kept(db) == counted(db) == {}


def test_a_writers_changes_count_when_it_commits(db, db_url):
    add_video_with_clips(db, [50, 100])
    with psycopg.connect(db_url) as writer:
        writer.execute("UPDATE clips SET state = 'review_skipped' WHERE start_frame = 0")
        assert review.pending_count(db=db) == 3  # not committed: not counted yet
        writer.commit()
    assert review.pending_count(db=db) == 2
    assert kept(db) == counted(db)


def test_readers_fold_the_rows_into_one_per_state(db, monkeypatch):
    _video, rows = add_video_with_clips(db, [10 * i for i in range(1, 20)], frame_count=200)
    for row in rows[:12]:
        review.act(row["id"], "approve", "ana")
    with db.transaction() as conn:
        parts = conn.execute("SELECT count(*) AS n FROM clip_state_counts").fetchone()["n"]
    assert parts > 3
    monkeypatch.setattr(counts, "FOLD_ABOVE", 3)
    assert kept(db) == counted(db) == {"pending_review": 8, "review_approved": 12}
    with db.transaction() as conn:
        folded = conn.execute("SELECT state, n FROM clip_state_counts ORDER BY state").fetchall()
    assert [(r["state"], r["n"]) for r in folded] == [
        ("pending_review", 8),
        ("review_approved", 12),
    ]


def test_status_and_the_review_page_read_the_kept_counts(db):
    """Neither counts the clips: a row added to the kept counts shows in both."""
    add_video_with_clips(db, [50])
    with db.transaction() as conn:
        conn.execute("INSERT INTO clip_state_counts VALUES ('pending_review', 1000)")
    assert catalog.status(db=db)["clips"]["pending_review"] == 1002
    assert review.pending_count(db=db) == 1002
    assert review.next_clip("ana", db=db).pending_count == 1002


@pytest.mark.parametrize("query", [claims._OWN, claims._QUEUE])
def test_the_review_queue_is_claimed_through_an_index(db, query):
    """With thousands of clips waiting, choosing the next one walks an index from the
    front: no sort of every pending clip, whatever the queue's length."""
    for n in range(4):
        add_video_with_clips(
            db, [10 * i for i in range(1, 1000)], frame_count=10_000, title=f"Long {n}"
        )
    review.next_clip("ana", db=db)
    with db.transaction() as conn:
        conn.execute("ANALYZE clips")
        plan = "\n".join(
            r["QUERY PLAN"]
            for r in conn.execute(
                f"EXPLAIN {query} LIMIT 1 FOR UPDATE SKIP LOCKED", {"owner": "review:bo"}
            )
        )
    assert "Seq Scan" not in plan and "Bitmap" not in plan, plan
    if query is claims._QUEUE:
        assert "clips_review_queue_idx" in plan and "Sort" not in plan, plan
    assert review.next_clip("bo", db=db).clip_id != review.next_clip("ana", db=db).clip_id


def test_a_reviewers_other_claims_are_given_back_through_an_index(db):
    """Every claim, approval and undo first gives back the other clips the reviewer
    holds: that reads only held rows, not every clip waiting for review."""
    for n in range(4):
        add_video_with_clips(
            db, [10 * i for i in range(1, 1000)], frame_count=10_000, title=f"Long {n}"
        )
    held = review.next_clip("ana", db=db).clip_id
    with db.transaction() as conn:
        conn.execute("ANALYZE clips")
        query = leases.give_back_statement("clips").as_bytes(conn)
        plan = "\n".join(
            r["QUERY PLAN"]
            for r in conn.execute(b"EXPLAIN " + query, ("review:ana", "pending_review", None))
        )
    assert "clips_held_idx" in plan and "Seq Scan" not in plan, plan
    assert review.next_clip("bo", db=db).clip_id != held
    assert review.next_clip("ana", db=db).clip_id == held  # ana's claim survived bo's


# Session 13's videos(): each video's live clips counted from the index, a dict per row
# and the frame rate divided in Python. The kept counts must give the same frame.
_COUNTING = (
    "SELECT v.*, (SELECT count(*) FROM clips c WHERE c.video_id = v.id"
    "  AND c.state <> 'archived') AS clips"
    " FROM source_videos v WHERE %(state)s::text IS NULL OR v.state = %(state)s"
    " ORDER BY v.id"
)


def counted_videos(db, state=None):
    """``videos()`` as it was: every live clip counted."""
    from fractions import Fraction

    import pandas as pd

    with db.transaction() as conn:
        rows = conn.execute(_COUNTING, {"state": state}).fetchall()
    for r in rows:
        r["video_id"] = r["id"]
        r["fps"] = float(Fraction(r["fps_num"], r["fps_den"])) if r["fps_num"] else None
    return pd.DataFrame(rows, columns=catalog.VIDEO_COLUMNS)


def same_videos(db, state=None):
    import pandas.testing

    pandas.testing.assert_frame_equal(catalog.videos(state=state, db=db), counted_videos(db, state))
    return catalog.videos(state=state, db=db)


def test_videos_live_clip_counts_follow_every_kind_of_write(db):
    """``videos()`` reads each video's live clips from the kept counts (migration 0016)
    and gives the frame counting every clip gave, after every kind of write."""
    from mediaml.db.videos import create_video

    video, rows = add_video_with_clips(db, [50, 100, 150, 200])
    other, _ = add_video_with_clips(db, [10], frame_count=20, title="Other", fps=(30000, 1001))
    with db.transaction() as conn:  # no clips, no frame rate yet
        create_video(conn, "New", "file:///new.mp4")
    ids = [r["id"] for r in rows]
    assert same_videos(db)["clips"].tolist() == [5, 2, 0]
    review.act(ids[0], "approve", "ana")  # live to live: no count changes
    review.act(ids[1], "archive", "ana")  # review_archived is live
    review.act(ids[3], "split", "ana", offset_seconds=1.0)  # archives one, inserts two
    review.act(ids[2], "merge", "ana")  # archives two, inserts one
    assert same_videos(db)["clips"].tolist() == [5, 2, 0]
    review.undo("ana")
    same_videos(db)
    with db.transaction() as conn:  # many rows in one statement, some made archived
        conn.execute("UPDATE clips SET state = 'archived' WHERE start_frame = 0")
        conn.execute("UPDATE clips SET retry_count = retry_count")
    assert same_videos(db)["clips"].tolist()[1:] == [1, 0]
    with db.transaction() as conn:
        conn.execute("UPDATE clips SET state = 'pending_review' WHERE start_frame = 0")
    same_videos(db)
    same_videos(db, "done")
    same_videos(db, "new")
    with db.transaction() as conn:
        delete_video(conn, video["id"])  # the clips go by ON DELETE CASCADE
    assert same_videos(db)["clips"].tolist() == [2, 0]
    with db.transaction() as conn:
        delete_video(conn, other["id"])
    same_videos(db)


def test_videos_read_the_kept_counts_not_the_clips(db):
    """A row added to the kept counts shows in ``videos()``: the clips are not counted."""
    video, _ = add_video_with_clips(db, [50])
    with db.transaction() as conn:
        conn.execute("INSERT INTO video_clip_counts VALUES (%s, 1000)", (video["id"],))
    assert catalog.videos(db=db)["clips"].tolist() == [1002]


def test_readers_fold_the_video_counts_into_one_row_per_video(db, monkeypatch):
    video, rows = add_video_with_clips(db, [10 * i for i in range(1, 20)], frame_count=200)
    gone, _ = add_video_with_clips(db, [10], frame_count=20, title="Gone")
    for row in rows[1:13:2]:  # each merge archives two clips and makes one
        review.act(row["id"], "merge", "ana")
    with db.transaction() as conn:
        delete_video(conn, gone["id"])
        parts = conn.execute("SELECT count(*) AS n FROM video_clip_counts").fetchone()["n"]
    assert parts > 4
    monkeypatch.setattr(counts, "FOLD_ABOVE", 1)
    assert same_videos(db)["clips"].tolist() == [14]
    with db.transaction() as conn:
        folded = conn.execute("SELECT video_id, n FROM video_clip_counts").fetchall()
    assert [(r["video_id"], r["n"]) for r in folded] == [(video["id"], 14)]  # gone's dropped
