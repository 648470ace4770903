"""Clips per state at any catalogue size: the counts the triggers keep (migration 0013)
match a count of every clip after every kind of write, and the review queue is claimed
through its index instead of a sort of every pending clip (migration 0012)."""

import psycopg
import pytest

from mediaml import catalog, review
from mediaml.db import counts
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


def test_videos_count_live_clips_from_an_index(db):
    """``videos()``'s clip counts come from the index of live clips per video (no read
    of every clip's row), and still leave archived clips out."""
    for n in range(3):
        _video, rows = add_video_with_clips(
            db, [10 * i for i in range(1, 400)], frame_count=4000, title=f"Many {n}"
        )
    review.act(rows[5]["id"], "merge", "ana")  # archives two clips, makes one
    with db.transaction() as conn:
        conn.execute("ANALYZE clips")
        plan = "\n".join(
            r["QUERY PLAN"] for r in conn.execute("EXPLAIN " + catalog.VIDEOS_SQL, {"state": None})
        )
    assert "Index Only Scan using clips_live_video_idx" in plan, plan
    assert catalog.videos(db=db)["clips"].tolist() == [400, 400, 399]
