"""Model-sized renditions through the pipeline, on real media, real PostgreSQL, real ONNX
Runtime (the tiny CLIP) and both stores: the keyframe stage stores each keyframe's
rendition, the embed stage reads only the renditions (another node never fetches the
keyframe JPEGs from S3), the stored vectors are the exact preprocessing's, and a
catalogue whose keyframes have no renditions still embeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

import mediaml
from mediaml.config import set_settings
from mediaml.db.artifacts import list_artifacts
from mediaml.embed import get_embedder
from mediaml.embed.images import load_image
from mediaml.embed.strategies import vectors_for_strategy
from mediaml.pipeline import steps
from mediaml.pipeline.runner import StageContext
from mediaml.storage import ObjectStore, make_store, set_store
from mediaml.storage.s3 import S3Store
from tests.pipeline.conftest import CLIP_MODEL

MODEL = CLIP_MODEL  # the tiny CLIP of the clip_settings fixture (conftest)


def _stored_vectors(db) -> dict[int, np.ndarray]:
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT clip_id, embedding FROM embeddings WHERE model_name = %s", (MODEL,)
        ).fetchall()
    return {int(r["clip_id"]): r["embedding"].to_numpy() for r in rows}


def _keyframe_files(db, store: ObjectStore) -> dict[int, list[Path]]:
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT clip_id, key FROM clip_artifacts WHERE kind = 'keyframe' ORDER BY frame"
        ).fetchall()
    out: dict[int, list[Path]] = {}
    for row in rows:
        out.setdefault(int(row["clip_id"]), []).append(store.local_path(row["key"]))
    return out


def _exact(model, files: list[Path]) -> np.ndarray:
    """The clip's vector from its keyframes decoded at full size (exact preprocessing)."""
    vectors = model.infer(np.stack([model.prepare(load_image(f)) for f in files]))
    return vectors_for_strategy(vectors, "keyframe_multi_avg")[0]


def test_renditions_are_stored_used_and_optional(db, store, clip_settings, three_shot_video):
    path, _ = three_shot_video
    steps_run = mediaml.run_pipeline(path, auto_approve=True, progress=False)
    assert set(steps_run["result"]) == {"done"}, steps_run
    model = get_embedder(MODEL)
    objects = store.list("artifacts/keyframes/")
    renditions = [k for k in objects if k.endswith(f"-{model.rendition}.png")]
    assert len(renditions) == 9 and len(objects) == 18  # 3 clips x 3 keyframes, each + rendition

    stored = _stored_vectors(db)
    keyframes = _keyframe_files(db, store)
    assert sorted(stored) == sorted(keyframes) and len(stored) == 3
    for clip_id, files in keyframes.items():
        np.testing.assert_allclose(stored[clip_id], _exact(model, files), rtol=0, atol=1e-6)

    # A catalogue from before renditions: the same clips embed from the keyframes alone.
    for key in renditions:
        store.delete(key)
    ctx = StageContext(db, store, clip_settings)
    clips = mediaml.clips()
    for clip_id in keyframes:
        row = {"id": clip_id, "video_id": int(clips.set_index("clip_id").loc[clip_id, "video_id"])}
        with db.transaction() as conn:
            artifacts = list_artifacts(conn, clip_id, "keyframe")
        inputs = steps.keyframe_inputs(store, row, artifacts, model)
        assert inputs == keyframes[clip_id]  # the keyframe files themselves
        steps.embed(ctx, row)
    again = _stored_vectors(db)
    for clip_id, files in keyframes.items():
        cosine = float(again[clip_id] @ _exact(model, files))
        assert cosine > 1 - 1e-5, (clip_id, cosine)


def test_another_node_reads_only_renditions_from_s3(
    db, clip_settings, three_shot_video, s3_endpoint, s3_bucket, tmp_path
):
    s3 = dataclasses.replace(
        clip_settings,
        s3_bucket=s3_bucket,
        s3_endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_region="us-east-1",
    )
    set_settings(s3)
    set_store(make_store(s3))
    path, _ = three_shot_video
    first = mediaml.run_pipeline(path, until="keyframed", auto_approve=True, progress=False)
    assert set(first["result"]) == {"done"}, first

    # Node B shares only the database and the bucket: its own data dir, an empty cache.
    node_b = dataclasses.replace(s3, data_dir=tmp_path / "node-b")
    set_settings(node_b)
    store_b = make_store(node_b)
    assert isinstance(store_b, S3Store)
    set_store(store_b)
    embedded = mediaml.run_pipeline(progress=False)
    assert list(embedded["stage"]) == ["embed"] * 3 and set(embedded["result"]) == {"done"}
    fetched = sorted(p.name for p in (node_b.cache_dir / "objects").rglob("*") if p.is_file())
    model = get_embedder(MODEL)
    assert len(fetched) == 9 and all(n.endswith(f"-{model.rendition}.png") for n in fetched)

    stored = _stored_vectors(db)
    for clip_id, files in _keyframe_files(db, store_b).items():
        np.testing.assert_allclose(stored[clip_id], _exact(model, files), rtol=0, atol=1e-6)
