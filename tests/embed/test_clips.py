"""Embedding clips from keyframe files: one clip, or many through the pipelined batch path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mediaml.embed import embed_clip, embed_clips, embed_images, vectors_for_strategy
from mediaml.errors import MediaError, ModelError, NotFoundError

from .conftest import DIM


def _keyframes(tmp_path, clip: int, count: int = 3) -> list:
    paths = []
    for i in range(count):
        path = tmp_path / f"clip{clip}_{i}.jpg"
        rng = np.random.default_rng(clip * 10 + i)
        Image.fromarray(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _stored(db, clip: int, strategy: str, model: str = "clip-vit-base-patch32") -> np.ndarray:
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT embedding FROM embeddings WHERE clip_id = %s AND model_name = %s"
            " AND generation_strategy = %s ORDER BY part",
            (clip, model, strategy),
        ).fetchall()
    return np.array([r["embedding"].to_numpy() for r in rows])


@pytest.mark.parametrize(
    "strategy,rows", [("keyframe_multi_avg", 1), ("keyframe_single", 1), ("keyframe_multi", 3)]
)
def test_embed_clip_per_strategy(db, make_clips, clip_model, tmp_path, strategy, rows):
    [[clip]] = make_clips(1, 1)
    frames = _keyframes(tmp_path, clip)
    with db.transaction() as conn:
        assert embed_clip(conn, clip, frames, strategy=strategy) == rows
        assert embed_clip(conn, clip, frames, strategy=strategy) == rows  # replaces
    expected = vectors_for_strategy(embed_images(frames), strategy)
    np.testing.assert_allclose(_stored(db, clip, strategy), expected, atol=1e-6)
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT count(*) AS n, min(model_version) AS version, min(dim) AS dim"
            " FROM embeddings WHERE clip_id = %s",
            (clip,),
        ).fetchone()
    assert (row["n"], row["version"], row["dim"]) == (rows, clip_model.version, DIM)


def test_embed_clip_bad_input(db, make_clips, clip_model, tmp_path):
    [[clip]] = make_clips(1, 1)
    with db.transaction() as conn, pytest.raises(MediaError, match="no keyframes to embed"):
        embed_clip(conn, clip, [])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    with db.transaction() as conn, pytest.raises(MediaError, match=r"broken\.jpg"):
        embed_clip(conn, clip, [*_keyframes(tmp_path, clip), broken])
    with db.transaction() as conn, pytest.raises(NotFoundError, match="do not exist"):
        embed_clip(conn, 987654, _keyframes(tmp_path, clip))
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM embeddings").fetchone()["n"] == 0


def test_a_model_of_another_dimension_under_a_stored_name_is_refused(
    db, make_clips, clip_model, tmp_path
):
    """Another CLIP export (16-dim) cannot write under the name that holds 32-dim vectors."""
    from mediaml.embed.backends.clip_onnx import ClipOnnxEmbedder
    from tests.support.embed import write_tiny_clip_model

    [[a, b]] = make_clips(1, 2)
    other = ClipOnnxEmbedder(
        "clip-vit-base-patch32", write_tiny_clip_model(tmp_path / "other", dim=16)
    )
    with db.transaction() as conn:
        embed_clip(conn, a, _keyframes(tmp_path, a))
    with db.transaction() as conn, pytest.raises(ModelError, match="holds 32-dim vectors"):
        embed_clip(conn, b, _keyframes(tmp_path, b), model=other)


def test_embed_clips_batch_path(db, make_clips, clip_model, tmp_path):
    clips = make_clips(2, 6)[0] + make_clips(1, 6)[0]
    items = [(clip, _keyframes(tmp_path, clip)) for clip in clips]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really")
    bad_clip, empty_clip = clips[4], clips[7]
    items[4] = (bad_clip, [items[4][1][0], broken, items[4][1][2]])
    items[7] = (empty_clip, [])
    done: list[int] = []
    report = embed_clips(db, items, strategy="keyframe_multi", progress=done.append, batch_size=5)
    assert sum(done) == len(clips)
    assert set(report.failed) == {bad_clip, empty_clip}
    assert "broken.jpg" in report.failed[bad_clip]
    assert "no keyframes" in report.failed[empty_clip]
    assert set(report.rows) == set(clips) - {bad_clip, empty_clip}
    assert report.rows_written == 3 * (len(clips) - 2)
    assert (report.model, report.strategy) == ("clip-vit-base-patch32", "keyframe_multi")
    # The batch path stores exactly what one clip at a time would.
    for clip, frames in items:
        if clip in report.rows:
            np.testing.assert_allclose(
                _stored(db, clip, "keyframe_multi"), embed_images(frames), atol=1e-6
            )
    assert _stored(db, bad_clip, "keyframe_multi").size == 0


def test_embed_clips_average_and_default_db(db, make_clips, clip_model, tmp_path):
    [clips] = make_clips(1, 4)
    items = [(clip, _keyframes(tmp_path, clip, 2)) for clip in clips]
    report = embed_clips(None, items)  # defaults: process db, model and strategy
    assert report.rows == dict.fromkeys(clips, 1) and not report.failed
    for clip, frames in items:
        expected = vectors_for_strategy(embed_images(frames), "keyframe_multi_avg")
        np.testing.assert_allclose(_stored(db, clip, "keyframe_multi_avg"), expected, atol=1e-6)
    assert embed_clips(db, []).rows_written == 0


def test_descriptor_backend_runs_the_same_path(db, make_clips, settings, tmp_path):
    [clips] = make_clips(1, 3)
    items = [(clip, _keyframes(tmp_path, clip)) for clip in clips]
    report = embed_clips(db, items, model="mediaml-descriptor-v1", strategy="keyframe_single")
    assert report.rows_written == 3 and report.model == "mediaml-descriptor-v1"
    stored = _stored(db, clips[0], "keyframe_single", model="mediaml-descriptor-v1")
    np.testing.assert_allclose(
        stored, embed_images([items[0][1][1]], model="mediaml-descriptor-v1"), atol=1e-6
    )
