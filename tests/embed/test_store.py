"""Storing vectors: upserts replace and never duplicate; dimensions are guarded; each
(model, strategy) variant gets an HNSW index that the search query really uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mediaml.embed import upsert_embeddings
from mediaml.embed.nearest import nearest_query
from mediaml.embed.store import index_name, upsert_many
from mediaml.errors import ModelError, NotFoundError


@dataclass
class Model:
    name: str = "test-model"
    version: str = "1"
    dim: int = 8


def _unit(rows: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _rows(conn, clip_id: int) -> list[dict]:
    return conn.execute(
        "SELECT model_name, model_version, generation_strategy, part, dim, embedding"
        " FROM embeddings WHERE clip_id = %s ORDER BY generation_strategy, part",
        (clip_id,),
    ).fetchall()


def test_upsert_is_idempotent_and_replaces(db, make_clips):
    [[clip, _]] = make_clips(1, 2)
    first, second = _unit(1, seed=1), _unit(1, seed=2)
    with db.transaction() as conn:
        assert upsert_embeddings(conn, clip, Model(), "keyframe_multi_avg", first) == 1
        assert upsert_embeddings(conn, clip, Model(), "keyframe_multi_avg", first) == 1
    with db.transaction() as conn:
        rows = _rows(conn, clip)
        assert len(rows) == 1
        np.testing.assert_allclose(rows[0]["embedding"].to_numpy(), first[0], rtol=1e-6)
        upsert_embeddings(conn, clip, Model(version="2"), "keyframe_multi_avg", second)
    with db.transaction() as conn:
        [row] = _rows(conn, clip)
        assert (row["model_version"], row["dim"]) == ("2", 8)
        np.testing.assert_allclose(row["embedding"].to_numpy(), second[0], rtol=1e-6)


def test_strategies_are_stored_side_by_side(db, make_clips):
    [[clip]] = make_clips(1, 1)
    with db.transaction() as conn:
        upsert_embeddings(conn, clip, Model(), "keyframe_multi_avg", _unit(1))
        upsert_embeddings(conn, clip, Model(), "keyframe_single", _unit(1, seed=3))
        assert upsert_embeddings(conn, clip, Model(), "keyframe_multi", _unit(3)) == 3
    with db.transaction() as conn:
        rows = _rows(conn, clip)
    assert [(r["generation_strategy"], r["part"]) for r in rows] == [
        ("keyframe_multi", 0),
        ("keyframe_multi", 1),
        ("keyframe_multi", 2),
        ("keyframe_multi_avg", 0),
        ("keyframe_single", 0),
    ]


def test_re_embedding_with_fewer_keyframes_drops_old_parts(db, make_clips):
    [[clip]] = make_clips(1, 1)
    with db.transaction() as conn:
        upsert_embeddings(conn, clip, Model(), "keyframe_multi", _unit(3))
        upsert_embeddings(conn, clip, Model(), "keyframe_multi", _unit(2, seed=5))
    with db.transaction() as conn:
        rows = _rows(conn, clip)
    assert [r["part"] for r in rows] == [0, 1]
    np.testing.assert_allclose(rows[1]["embedding"].to_numpy(), _unit(2, seed=5)[1], rtol=1e-6)


def test_bulk_upsert(db, make_clips):
    clips = make_clips(2, 5)[0] + make_clips(1, 5)[0]
    vectors = _unit(len(clips))
    with db.transaction() as conn:
        written = upsert_many(conn, list(zip(clips, vectors, strict=True)), Model(), None)
        assert written == len(clips)
        # Again, with one clip twice: its last vectors win, nothing is duplicated.
        items = [*zip(clips, vectors, strict=True), (clips[0], vectors[1])]
        upsert_many(conn, items, Model(), "keyframe_multi_avg")
        count = conn.execute("SELECT count(*) AS n FROM embeddings").fetchone()["n"]
        [row] = _rows(conn, clips[0])
    assert count == len(clips)
    np.testing.assert_allclose(row["embedding"].to_numpy(), vectors[1], rtol=1e-6)


def test_dimension_mismatch_with_stored_model_is_refused(db, make_clips):
    [[a, b]] = make_clips(1, 2)
    with db.transaction() as conn:
        upsert_embeddings(conn, a, Model(), "keyframe_multi_avg", _unit(1))
    with db.transaction() as conn, pytest.raises(ModelError, match="holds 8-dim vectors"):
        upsert_embeddings(conn, b, Model(dim=16), "keyframe_single", _unit(1, dim=16))


def test_vectors_must_match_the_model(db, make_clips):
    [[clip]] = make_clips(1, 1)
    with db.transaction() as conn:
        with pytest.raises(ModelError, match="got 4-dim vectors for a model that makes 8-dim"):
            upsert_embeddings(conn, clip, Model(), "keyframe_multi_avg", _unit(1, dim=4))
        with pytest.raises(ValueError, match="stores one vector per clip"):
            upsert_embeddings(conn, clip, Model(), "keyframe_single", _unit(3))
        with pytest.raises(ValueError, match="NaN"):
            upsert_embeddings(conn, clip, Model(), "keyframe_single", np.full((1, 8), np.nan))
        with pytest.raises(ValueError, match="n >= 1"):
            upsert_embeddings(conn, clip, Model(), "keyframe_multi", np.empty((0, 8)))


def test_vectors_too_long_to_index_are_refused_and_nothing_is_stored(db, make_clips):
    [[clip]] = make_clips(1, 1)
    wide = Model(name="wide-model", dim=4001)
    with db.transaction() as conn, pytest.raises(ModelError, match="at most 4000 dimensions"):
        upsert_embeddings(conn, clip, wide, "keyframe_multi_avg", _unit(1, dim=4001))
    with db.transaction() as conn:
        assert _rows(conn, clip) == []


def test_unknown_clip(db):
    with db.transaction() as conn, pytest.raises(NotFoundError, match=r"clip\(s\) \[999\]"):
        upsert_embeddings(conn, 999, Model(), "keyframe_multi_avg", _unit(1))


def test_index_per_variant_is_created_once_and_used(db, make_clips):
    clips = [c for video in make_clips(4, 50) for c in video]
    with db.transaction() as conn:
        upsert_many(conn, list(zip(clips, _unit(len(clips)), strict=True)), Model(), None)
        upsert_many(conn, list(zip(clips, _unit(len(clips), seed=9), strict=True)), Model(), None)
        conn.execute("ANALYZE embeddings")
    name = index_name("test-model", "keyframe_multi_avg", 8)
    assert name == index_name("test-model", "keyframe_multi_avg", 8) and len(name) <= 63
    with db.transaction() as conn:
        [index] = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'embeddings_hv%%'"
        ).fetchall()
        assert name in index["indexdef"] and "(embedding)::halfvec(8)" in index["indexdef"]
        assert "halfvec_cosine_ops" in index["indexdef"]
        # Rule out every other plan: if the expression or predicate did not match the
        # index, this would still be a sequential scan.
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        conn.execute("SET LOCAL enable_sort = off")  # the re-ranking still sorts
        cases = [
            (False, {"q": _unit(1)[0], "order": _unit(1)[0]}),
            (True, {"q": _unit(1)[0], "order": _unit(1)[0], "exclude": clips[0]}),
            # The vector looked up inside the statement orders the index scan too.
            (True, {"clip": clips[0], "exclude": clips[0]}),
        ]
        for exclude, params in cases:
            query = nearest_query(
                "test-model",
                "keyframe_multi_avg",
                8,
                limit=5,
                exclude=exclude,
                from_clip="clip" in params,
            )
            plan = "\n".join(
                r["QUERY PLAN"] for r in conn.execute(b"EXPLAIN " + query.as_bytes(conn), params)
            )
            assert f"Index Scan using {name}" in plan, plan


def test_index_name_is_safe_for_any_model_name():
    name = index_name("Weird Model/名前 with 'quotes'" * 3, "keyframe_multi", 512)
    assert len(name) <= 63 and name.replace("_", "").isalnum() and name.isascii()
    assert index_name("a-b", "keyframe_multi", 8) != index_name("a_b", "keyframe_multi", 8)
