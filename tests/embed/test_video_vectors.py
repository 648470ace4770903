"""Each video's mean vector per variant (mediaml.embed.video_vectors): kept up to date by
every write of clip vectors, backfilled by migration 0011, indexed like the clips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg

from mediaml.db.migrate import upgrade
from mediaml.embed.store import delete_embeddings, index_name, upsert_many
from mediaml.embed.video_vectors import refresh_video_vectors

from .conftest import DIM

AVG, MULTI = "keyframe_multi_avg", "keyframe_multi"


@dataclass
class Model:
    name: str = "means-model"
    version: str = "1"
    dim: int = DIM


def _means(db, strategy: str) -> dict[int, tuple[np.ndarray, int]]:
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT video_id, embedding, clips FROM video_vectors"
            " WHERE model_name = %s AND generation_strategy = %s",
            (Model.name, strategy),
        ).fetchall()
    return {r["video_id"]: (np.asarray(r["embedding"].to_numpy()), r["clips"]) for r in rows}


def _video_ids(db, clips: list[list[int]]) -> list[int]:
    with db.transaction() as conn:
        return [
            conn.execute("SELECT video_id FROM clips WHERE id = %s", (v[0],)).fetchone()["video_id"]
            for v in clips
        ]


def test_means_follow_every_write_of_clip_vectors(db, make_clips):
    clips = make_clips(2, 4)
    first, second = _video_ids(db, clips)
    rng = np.random.default_rng(1)
    vectors = {c: rng.standard_normal(DIM).astype(np.float32) for v in clips for c in v}
    parts = {c: rng.standard_normal((3, DIM)).astype(np.float32) for c in clips[0]}
    with db.transaction() as conn:
        upsert_many(conn, [(c, vectors[c]) for v in clips for c in v], Model(), AVG)
        upsert_many(conn, list(parts.items()), Model(), MULTI)
    means = _means(db, AVG)
    for video, ids in ((first, clips[0]), (second, clips[1])):
        np.testing.assert_allclose(
            means[video][0], np.mean([vectors[c] for c in ids], 0), atol=1e-5
        )
        assert means[video][1] == 4
    multi = _means(db, MULTI)  # every part of every clip, and only the video that has some
    assert set(multi) == {first}
    np.testing.assert_allclose(
        multi[first][0], np.concatenate(list(parts.values())).mean(0), atol=1e-5
    )

    # Re-embedding a clip moves its video's mean, and only that one.
    changed = clips[1][0]
    vectors[changed] = rng.standard_normal(DIM).astype(np.float32)
    with db.transaction() as conn:
        upsert_many(conn, [(changed, vectors[changed])], Model(), AVG)
    after = _means(db, AVG)
    np.testing.assert_allclose(
        after[second][0], np.mean([vectors[c] for c in clips[1]], 0), atol=1e-5
    )
    np.testing.assert_array_equal(after[first][0], means[first][0])

    # Removing vectors: the mean loses them; a video with none left has no mean.
    with db.transaction() as conn:
        delete_embeddings(conn, clips[1][0], Model.name, AVG)
        for clip in clips[0]:
            delete_embeddings(conn, clip)
    after = _means(db, AVG)
    assert set(after) == {second} and after[second][1] == 3
    np.testing.assert_allclose(
        after[second][0], np.mean([vectors[c] for c in clips[1][1:]], 0), atol=1e-5
    )
    assert _means(db, MULTI) == {}

    with db.transaction() as conn:  # both tables are indexed for the variant
        for table in ("embeddings", "video_vectors"):
            name = index_name(Model.name, AVG, DIM, table)
            assert conn.execute("SELECT to_regclass(%s) AS oid", (name,)).fetchone()["oid"]


def test_refresh_rebuilds_means_of_vectors_written_behind_its_back(db, make_clips):
    [clips] = make_clips(1, 3)
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((3, DIM)).astype(np.float32)
    with db.transaction() as conn:  # a bulk load, as import_parquet's COPY does
        for clip, vector in zip(clips, vectors, strict=True):
            conn.execute(
                "INSERT INTO embeddings (clip_id, model_name, model_version, generation_strategy,"
                " dim, embedding) VALUES (%s, %s, '1', %s, %s, %s)",
                (clip, Model.name, AVG, DIM, vector),
            )
    assert _means(db, AVG) == {}
    with db.transaction() as conn:
        assert refresh_video_vectors(conn) == 1
    [(mean, count)] = _means(db, AVG).values()
    np.testing.assert_allclose(mean, vectors.mean(0), atol=1e-5)
    assert count == 3


def test_migration_backfills_the_means_and_indexes_them(db_url, db, make_clips):
    clips = make_clips(2, 3)
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((6, DIM)).astype(np.float32)
    with psycopg.connect(db_url, autocommit=True) as conn:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        for clip, vector in zip([c for v in clips for c in v], vectors, strict=True):
            conn.execute(
                "INSERT INTO embeddings (clip_id, model_name, model_version, generation_strategy,"
                " dim, embedding) VALUES (%s, %s, '1', %s, %s, %s)",
                (clip, Model.name, AVG, DIM, vector),
            )
        conn.execute("DROP TABLE video_vectors")  # as a database before 0011 was
        conn.execute("DELETE FROM schema_migrations WHERE version = 11")
    assert upgrade(db_url) == [11]
    means = _means(db, AVG)
    first, second = _video_ids(db, clips)
    np.testing.assert_allclose(means[first][0], vectors[:3].mean(0), atol=1e-5)
    np.testing.assert_allclose(means[second][0], vectors[3:].mean(0), atol=1e-5)
    with db.transaction() as conn:
        name = index_name(Model.name, AVG, DIM, "video_vectors")
        definition = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (name,)
        ).fetchone()["indexdef"]
    assert "hnsw" in definition and f"::halfvec({DIM})" in definition
