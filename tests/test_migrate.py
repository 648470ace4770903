import threading
from dataclasses import replace

import psycopg
import pytest

from mediaml.db.migrate import SUPERSEDED, check_unchanged, load_migrations, schema_version, upgrade
from mediaml.errors import DatabaseError, SchemaTooNewError


@pytest.fixture
def empty_db(pg_server):
    name = pg_server.create_database(template=None)
    yield pg_server.url(name)
    pg_server.drop_database(name)


def test_fresh_upgrade_then_noop(empty_db):
    newest = load_migrations()[-1].version
    assert upgrade(empty_db) == list(range(1, newest + 1))
    assert schema_version(empty_db) == newest
    assert upgrade(empty_db) == []
    with psycopg.connect(empty_db) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        ext = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    assert {
        "source_videos",
        "cuts",
        "clips",
        "clip_artifacts",
        "embeddings",
        "review_actions",
        "schema_migrations",
    } <= tables
    assert "vector" in ext


def test_concurrent_upgrades_apply_each_migration_once(empty_db):
    results, errors = [], []

    def run():
        try:
            results.append(upgrade(empty_db))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in load_migrations()]
    with psycopg.connect(empty_db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert count == len(load_migrations())


def test_newer_database_is_refused(empty_db):
    upgrade(empty_db)
    with psycopg.connect(empty_db) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')"
        )
    with pytest.raises(SchemaTooNewError, match="999"):
        upgrade(empty_db)


def test_unreachable_database_is_one_line_error(pg_server):
    bad = pg_server.url("no_such_database_here")
    with pytest.raises(DatabaseError) as err:
        upgrade(bad)
    assert "\n" not in str(err.value)


def test_edited_applied_migration_is_refused(empty_db):
    upgrade(empty_db)
    first = load_migrations()[0]
    # What the database remembers differs from the shipped file, as after an edit.
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(
            "UPDATE schema_migrations SET checksum = %s WHERE version = %s",
            ("0" * 64, first.version),
        )
    with pytest.raises(DatabaseError, match=f"{first.version:04d}_{first.name} changed after"):
        upgrade(empty_db)


def test_edited_file_is_named_with_what_to_do():
    migrations = load_migrations()
    applied = {m.version: m.checksum for m in migrations}
    check_unchanged(migrations, applied)  # all as shipped: fine
    edited = replace(migrations[-1], sql=migrations[-1].sql + "\n-- tweak\n")
    with pytest.raises(DatabaseError, match="put the change in a new migration"):
        check_unchanged([*migrations[:-1], edited], applied)


def test_superseded_text_of_a_migration_is_still_accepted():
    migrations = load_migrations()
    old = next(iter(SUPERSEDED[1]))
    check_unchanged(migrations, {1: old})  # a database made with the earlier 0001


def test_overlapping_live_clips_are_refused_per_video(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        ids = [
            conn.execute(
                "INSERT INTO source_videos (source_uri, title) VALUES (%s, 'v') RETURNING id",
                (f"file:///v{i}.mp4",),
            ).fetchone()[0]
            for i in range(2)
        ]

        def clip(video: int, start: int, end: int, state: str = "pending_review") -> None:
            conn.execute(
                "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time,"
                " state) VALUES (%s, %s, %s, %s, %s, %s)",
                (video, start, end, start / 25, end / 25, state),
            )

        clip(ids[0], 0, 50)
        clip(ids[1], 0, 50)  # same frames, other video: fine
        clip(ids[0], 50, 80)  # touching: fine
        clip(ids[0], 10, 20, "archived")  # archived clips may overlap
        with pytest.raises(psycopg.errors.ExclusionViolation):
            clip(ids[0], 49, 60)


def test_clip_vectors_are_stored_in_their_rows_not_in_toast(db_url):
    # Re-ranking a search reads hundreds of vectors: out-of-line storage doubled its cost.
    import numpy as np
    from pgvector.psycopg import register_vector

    with psycopg.connect(db_url, autocommit=True) as conn:
        register_vector(conn)
        video = conn.execute(
            "INSERT INTO source_videos (source_uri, title) VALUES ('file:///v.mp4', 'v')"
            " RETURNING id"
        ).fetchone()[0]
        clips = [
            conn.execute(
                "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time)"
                " VALUES (%s, %s, %s, 0, 1) RETURNING id",
                (video, 10 * i, 10 * i + 10),
            ).fetchone()[0]
            for i in range(3)
        ]
        rng = np.random.default_rng(0)
        for clip, dim in zip(clips, (512, 768, 1024), strict=True):
            conn.execute(
                "INSERT INTO embeddings (clip_id, model_name, model_version,"
                " generation_strategy, dim, embedding) VALUES (%s, 'm', 'v', 'keyframe_multi_avg',"
                " %s, %s)",
                (clip, dim, rng.standard_normal(dim).astype(np.float32)),
            )
        toast = conn.execute(
            "SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = 'embeddings'"
        ).fetchone()[0]
        (chunks,) = conn.execute(f"SELECT count(*) FROM {toast}").fetchone()
        (stored,) = conn.execute("SELECT count(*) FROM embeddings").fetchone()
    assert stored == 3
    assert chunks == 0


def test_session_14_migrations_apply_to_a_catalogue_with_clips(empty_db):
    """0015 (clips by state) and 0016 (kept live clips per video) apply to a database
    that already holds videos and clips, and the kept counts start from its clips."""
    from mediaml import catalog
    from mediaml.db import Database

    with psycopg.connect(empty_db, autocommit=True) as conn:  # as session 13 left it
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for m in load_migrations()[:14]:
            with conn.transaction():  # each in its own, as upgrade() applies them
                conn.execute(m.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (m.version, m.name, m.checksum),
                )
        conn.execute(
            "INSERT INTO source_videos (title, source_uri) SELECT 'v' || i, 'file:///' || i"
            " FROM generate_series(1, 3) i"
        )
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time, state)"
            " SELECT v, f * 10, f * 10 + 10, f, f + 1,"
            " CASE WHEN f % 4 = 1 THEN 'archived' ELSE 'pending_review' END"
            " FROM generate_series(1, 3) v, generate_series(0, v * 4 - 1) f"
        )
    assert upgrade(empty_db) == [15, 16, 17]
    with psycopg.connect(empty_db) as conn:
        index = conn.execute("SELECT to_regclass('clips_state_order_idx')").fetchone()
    assert index[0] is not None
    db = Database(empty_db, max_size=1)
    try:
        assert catalog.videos(db=db)["clips"].tolist() == [3, 6, 9]
        archived = catalog.clips(state="archived", db=db)["start_frame"].tolist()
        assert archived == [10, 10, 50, 10, 50, 90]
    finally:
        db.close()
