"""CLIP preprocessing agrees with the reference implementation (transformers' PIL
CLIP image processor) to 1e-5, on varied sizes and modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mediaml.embed.preprocess import ClipPreprocessor
from mediaml.errors import ModelError
from tests.support.embed import DATA

CONFIG = json.loads((DATA / "preprocessor_config.json").read_text())


@pytest.fixture(scope="module")
def reference():
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return CLIPImageProcessorPil(**CONFIG)


@pytest.fixture(scope="module")
def ours() -> ClipPreprocessor:
    return ClipPreprocessor.from_file(DATA / "preprocessor_config.json")


def _picture(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth gradients plus noise: content where resampling differences would show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width * 255, y / height * 255, (x + y) % 256], axis=-1)
    return np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)


CASES = [
    ("landscape 640x360", lambda: Image.fromarray(_picture(640, 360, 1))),
    ("portrait 300x500", lambda: Image.fromarray(_picture(300, 500, 2))),
    ("square 224", lambda: Image.fromarray(_picture(224, 224, 3))),
    ("panorama 1000x150", lambda: Image.fromarray(_picture(1000, 150, 4))),
    ("tiny 50x80 (upscaled)", lambda: Image.fromarray(_picture(50, 80, 5))),
    ("odd 333x251", lambda: Image.fromarray(_picture(333, 251, 6))),
    ("grey L", lambda: Image.fromarray(_picture(320, 240, 7)[:, :, 0])),
    ("RGBA with transparency", lambda: _rgba()),
    ("palette P", lambda: Image.fromarray(_picture(256, 300, 9)).convert("P")),
]


def _rgba() -> Image.Image:
    pixels = np.dstack([_picture(400, 300, 8), np.tile(np.arange(400) % 256, (300, 1))])
    return Image.fromarray(pixels.astype(np.uint8))


@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_matches_reference(name, make, reference, ours):
    image = make()
    expected = reference(image.copy(), return_tensors="np")["pixel_values"][0]
    got = ours(image)
    assert got.dtype == np.float32
    assert got.shape == expected.shape == (3, 224, 224)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_sixteen_bit_grey_is_scaled_not_clipped(ours):
    eight = _picture(300, 200, 10)[:, :, 0]
    sixteen = Image.fromarray(eight.astype(np.uint16) * 257)  # 0..255 -> 0..65535
    assert sixteen.mode.startswith("I")
    np.testing.assert_allclose(ours(sixteen), ours(Image.fromarray(eight)), atol=1e-6)


def test_resized_size_truncates_long_edge_like_reference(ours):
    assert ours.resized_size(640, 360) == (398, 224)
    assert ours.resized_size(360, 640) == (224, 398)
    assert ours.resized_size(333, 251) == (297, 224)


def test_config_values_are_read(ours):
    assert ours.shortest_edge == 224 and (ours.crop_height, ours.crop_width) == (224, 224)
    assert ours.mean == tuple(CONFIG["image_mean"]) and ours.std == tuple(CONFIG["image_std"])
    assert ours.resample == Image.Resampling.BICUBIC


def test_bad_configs_are_refused(tmp_path):
    with pytest.raises(ModelError, match="missing preprocessing config"):
        ClipPreprocessor.from_file(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ModelError, match="not a valid preprocessor config"):
        ClipPreprocessor.from_file(broken)
    with pytest.raises(ModelError, match="shortest_edge"):
        ClipPreprocessor.from_config({"size": {"height": 224, "width": 224}})
