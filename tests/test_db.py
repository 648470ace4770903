"""Data layer on a real PostgreSQL: constraints, transitions, cut operations."""

import psycopg
import pytest

from mediaml import states
from mediaml.config import load_settings
from mediaml.cutmath import clips_from_cuts
from mediaml.db import Database, connect
from mediaml.db.clips import (
    DetectedCut,
    add_cut,
    create_initial_clips,
    get_clip,
    list_clips,
    list_cuts,
    move_cut,
    remove_cut,
)
from mediaml.db.transitions import transition
from mediaml.db.videos import create_video, get_video, update_video
from mediaml.errors import DatabaseError, IllegalTransitionError, InvalidCutError, NotFoundError


def make_video(conn, frames=100, uri="file:///v.mp4"):
    video, _created = create_video(conn, "Test video", uri)
    return update_video(
        conn, video["id"], fps_num=25, fps_den=1, frame_count=frames, duration_s=frames / 25
    )


def test_create_video_is_idempotent_by_source(db):
    with db.transaction() as conn:
        a, created_a = create_video(conn, "A", "file:///same.mp4")
        b, created_b = create_video(conn, "A again", "file:///same.mp4")
    assert created_a and not created_b and a["id"] == b["id"]


def test_state_names_match_database_constraints(db):
    with db.transaction() as conn:
        for table, allowed in (
            ("source_videos", states.VIDEO_STATES),
            ("clips", states.CLIP_STATES),
        ):
            (definition,) = (
                conn.execute(
                    "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND pg_get_constraintdef(oid) LIKE '%%state%%ANY%%'",
                    (table,),
                )
                .fetchone()
                .values()
            )
            for state in allowed:
                assert f"'{state}'" in definition
            assert definition.count("::text") == len(allowed)


def test_database_refuses_unknown_state(db):
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction() as conn:
        video = make_video(conn)
        conn.execute("UPDATE source_videos SET state = 'bogus' WHERE id = %s", (video["id"],))


def test_overlapping_live_clips_are_refused(db):
    with db.transaction() as conn:
        video = make_video(conn)
        create_initial_clips(conn, video["id"], [DetectedCut(40)])
    with pytest.raises(psycopg.errors.ExclusionViolation), db.transaction() as conn:
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time)"
            " VALUES (%s, 30, 60, 1.2, 2.4)",
            (video["id"],),
        )


def test_archived_clips_may_overlap_live_ones(db):
    with db.transaction() as conn:
        video = make_video(conn)
        create_initial_clips(conn, video["id"], [DetectedCut(40)])
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time, state)"
            " VALUES (%s, 30, 60, 1.2, 2.4, 'archived')",
            (video["id"],),
        )


def test_transitions_follow_the_state_machine(db):
    with db.transaction() as conn:
        video = make_video(conn)
        transition(conn, "source_videos", video["id"], states.DOWNLOADING)
        with pytest.raises(IllegalTransitionError, match="downloading"):
            transition(conn, "source_videos", video["id"], states.DONE)
        row = transition(conn, "source_videos", video["id"], states.DOWNLOADED, size_bytes=10)
        assert row["state"] == "downloaded" and row["size_bytes"] == 10
        with pytest.raises(NotFoundError):
            transition(conn, "source_videos", 999999, states.DOWNLOADING)


def test_transition_with_expectation_loses_race_cleanly(db):
    with db.transaction() as conn:
        video = make_video(conn)
        clip = create_initial_clips(conn, video["id"], [])[0]
        transition(conn, "clips", clip["id"], states.REVIEW_APPROVED, expect=states.PENDING_REVIEW)
        with pytest.raises(IllegalTransitionError):
            transition(
                conn, "clips", clip["id"], states.REVIEW_SKIPPED, expect=states.PENDING_REVIEW
            )


def test_initial_clips_tile_and_are_idempotent(db):
    with db.transaction() as conn:
        video = make_video(conn, frames=100)
        cuts = [
            DetectedCut(10, "cut", 0.9),
            DetectedCut(55, "dissolve", 0.5),
            DetectedCut(55),
            DetectedCut(0),
        ]
        first = create_initial_clips(conn, video["id"], cuts)
        again = create_initial_clips(conn, video["id"], [DetectedCut(70)])
        assert [(c["start_frame"], c["end_frame"]) for c in first] == [(0, 10), (10, 55), (55, 100)]
        assert [c["id"] for c in again] == [c["id"] for c in first]
        assert [c["frame"] for c in list_cuts(conn, video["id"])] == [10, 55]
        assert first[1]["start_time"] == pytest.approx(0.4)
        assert first[2]["end_time"] == pytest.approx(4.0)


def test_cut_operations_archive_and_create_in_one_transaction(db):
    with db.transaction() as conn:
        video = make_video(conn, frames=100)
        create_initial_clips(conn, video["id"], [DetectedCut(50)])
        split = add_cut(conn, video["id"], 20)
        assert [c["start_frame"] for c in split.archived] == [0]
        assert [(c["start_frame"], c["end_frame"]) for c in split.created] == [(0, 20), (20, 50)]
        moved = move_cut(conn, video["id"], 20, 30)
        merged = remove_cut(conn, video["id"], 50)
        assert [(c["start_frame"], c["end_frame"]) for c in merged.created] == [(30, 100)]
        live = [(c["start_frame"], c["end_frame"]) for c in list_clips(conn, video_id=video["id"])]
        cuts = [c["frame"] for c in list_cuts(conn, video["id"])]
        assert live == clips_from_cuts(cuts, 100) == [(0, 30), (30, 100)]
        for c in (*split.archived, *moved.archived, *merged.archived):
            assert get_clip(conn, c["id"])["state"] == "archived"


def test_failed_cut_operation_changes_nothing(db):
    with db.transaction() as conn:
        video = make_video(conn, frames=100)
        create_initial_clips(conn, video["id"], [DetectedCut(50)])
    with pytest.raises(InvalidCutError), db.transaction() as conn:
        add_cut(conn, video["id"], 50)
    with db.transaction() as conn:
        assert len(list_clips(conn, video_id=video["id"])) == 2


def test_cut_operation_refuses_clip_held_by_a_worker(db):
    with db.transaction() as conn:
        video = make_video(conn, frames=100)
        clip = create_initial_clips(conn, video["id"], [])[0]
        transition(conn, "clips", clip["id"], states.REVIEW_APPROVED)
        transition(conn, "clips", clip["id"], states.EXPORTING)
        with pytest.raises(IllegalTransitionError, match="being processed"):
            add_cut(conn, video["id"], 10)


def test_review_actions_are_append_only(db):
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO review_actions (clip_id, video_id, action, actor, before, after)"
            " VALUES (1, 1, 'approve', 'ann', '{}', '{}')"
        )
    with pytest.raises(psycopg.errors.RaiseException), db.transaction() as conn:
        conn.execute("UPDATE review_actions SET actor = 'bob'")
    with pytest.raises(psycopg.errors.RaiseException), db.transaction() as conn:
        conn.execute("DELETE FROM review_actions")


def test_missing_video_raises_not_found(db):
    with db.transaction() as conn, pytest.raises(NotFoundError, match="video 424242"):
        get_video(conn, 424242)


def test_connect_reports_unreachable_database_in_one_line(tmp_path):
    with pytest.raises(DatabaseError) as err:
        connect("postgresql://nobody:pw@127.0.0.1:1/nothing")
    msg = str(err.value)
    assert "\n" not in msg and ":pw@" not in msg and "127.0.0.1" in msg


def test_connect_with_settings_names_the_variable(tmp_path):
    settings = load_settings(
        {"DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:1/x", "MEDIAML_DATA_DIR": str(tmp_path)}
    )
    with pytest.raises(DatabaseError) as err:
        connect(settings=settings)
    assert "DATABASE_URL" in str(err.value) and "secretpw" not in str(err.value)


def test_unwritable_data_dir_is_clear(tmp_path):
    # Root may write anywhere, so block the data dir with a file instead of permissions.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings = load_settings({"MEDIAML_DATA_DIR": str(blocker / "data")})
    with pytest.raises(DatabaseError, match="MEDIAML_DATA_DIR") as err:
        connect(settings=settings)
    assert str(blocker) in str(err.value)


def test_pool_registers_vectors(db):
    import numpy as np

    with db.transaction() as conn:
        (v,) = conn.execute("SELECT '[1,2,3]'::vector AS v").fetchone().values()
    assert np.asarray(v.to_numpy()).tolist() == [1, 2, 3]


def test_connections_cut_by_a_database_restart_are_replaced(db, db_url):
    """After the server drops every connection (a restart of PostgreSQL, a failover), the
    next transaction gets a working connection: a worker's idle pool used to hand out the
    dead ones one by one, failing a claim or a dispatcher run each time for minutes."""
    for _ in range(3):
        with db.transaction() as conn:
            conn.execute("SELECT 1")
    with psycopg.connect(db_url, autocommit=True) as admin:
        cut = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert cut is not None and cut[0] >= 1
    for _ in range(3):
        with db.transaction() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}


def test_database_repr_hides_password(db_url):
    db = Database(db_url.replace("postgres:@", "postgres:topsecret@"))
    try:
        assert "topsecret" not in repr(db) and "***" in repr(db)
    finally:
        db.close()
