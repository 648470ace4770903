"""Loading images from paths, PIL images and arrays; every kind of bad input is refused
with a MediaError that names it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mediaml.embed.images import load_image
from mediaml.errors import MediaError


def _noise(height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_jpeg_png_and_modes_load_as_rgb(tmp_path):
    rgb = _noise()
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(
        tmp_path / "rgba.png"
    )
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    for name in ("a.jpg", "grey.png", "rgba.png", "cmyk.jpg"):
        image = load_image(tmp_path / name)
        assert image.mode == "RGB" and image.size == (80, 60), name
    # Fully opaque RGBA keeps its colours; grey repeats over the channels.
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "rgba.png")), rgb)
    grey = np.asarray(load_image(str(tmp_path / "grey.png")))
    np.testing.assert_array_equal(grey[:, :, 0], rgb[:, :, 0])
    np.testing.assert_array_equal(grey[:, :, 1], rgb[:, :, 0])


def test_transparent_pixels_become_white():
    pixels = np.zeros((4, 4, 4), np.uint8)  # black, fully transparent
    np.testing.assert_array_equal(np.asarray(load_image(pixels)), np.full((4, 4, 3), 255))


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    values = np.array([[0, 257 * 100], [257 * 200, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    loaded = np.asarray(load_image(tmp_path / "deep.png"))[:, :, 0]
    np.testing.assert_array_equal(loaded, [[0, 100], [200, 255]])
    np.testing.assert_array_equal(np.asarray(load_image(values))[:, :, 0], [[0, 100], [200, 255]])


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((5, 6), np.uint8),
        np.zeros((5, 6, 1), np.uint8),
        np.zeros((5, 6, 3), np.uint8),
        np.zeros((5, 6, 4), np.uint8),
        np.zeros((5, 6, 3), np.uint16),
        np.full((5, 6, 3), 0.5, np.float32),
    ],
    ids=["HxW", "HxWx1", "HxWx3", "HxWx4", "uint16", "float"],
)
def test_array_layouts(array):
    image = load_image(array)
    assert image.mode == "RGB" and image.size == (6, 5)


def test_float_arrays_map_zero_one_to_bytes():
    np.testing.assert_array_equal(
        np.asarray(load_image(np.array([[0.0, 0.5, 1.0]])))[0, :, 0], [0, 128, 255]
    )


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match=r"image file not found: .*nope\.jpg"):
        load_image(tmp_path / "nope.jpg")


def test_directory(tmp_path):
    with pytest.raises(MediaError, match="is a directory"):
        load_image(tmp_path)


def test_not_an_image(tmp_path):
    bad = tmp_path / "fake.jpg"
    bad.write_bytes(b"this is not a JPEG at all" * 10)
    with pytest.raises(MediaError, match=r"fake\.jpg is not an image file"):
        load_image(bad)


def test_truncated_jpeg(tmp_path):
    Image.fromarray(_noise(200, 200)).save(tmp_path / "whole.jpg", quality=90)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"cut\.jpg is corrupt or truncated"):
        load_image(tmp_path / "cut.jpg")


@pytest.mark.parametrize(
    "array,message",
    [
        (np.zeros((5, 6, 2), np.uint8), "must be shaped"),
        (np.zeros((3, 5, 6, 3), np.uint8), "must be shaped"),
        (np.zeros((0, 6, 3), np.uint8), "must not be empty"),
        (np.zeros((5, 6, 3), np.int32), "uint8, uint16 or float"),
        (np.full((5, 6), np.nan, np.float32), "NaN"),
    ],
    ids=["two channels", "4-D", "empty", "int32", "nan"],
)
def test_bad_arrays(array, message):
    with pytest.raises(MediaError, match=message):
        load_image(array)


def test_unsupported_type():
    with pytest.raises(MediaError, match="cannot embed a int"):
        load_image(42)  # type: ignore[arg-type]


def _keyframe(path, width: int = 1280, height: int = 720, seed: int = 0) -> None:
    """A keyframe-like JPEG: smooth colour waves plus sensor-like noise, quality 90."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    a, b = rng.uniform(0.002, 0.02, 2)
    base = np.stack(
        [
            127 + 120 * np.sin(x * a + y * b),
            127 + 120 * np.sin(y * a - x * b),
            127 + 100 * np.cos((x + y) * a),
        ],
        axis=-1,
    )
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def test_large_jpeg_decodes_at_reduced_size_never_below_min_edge(tmp_path):
    _keyframe(tmp_path / "720p.jpg")
    assert load_image(tmp_path / "720p.jpg").size == (1280, 720)
    assert load_image(tmp_path / "720p.jpg", 336).size == (640, 360)  # 1/4 would be 180
    assert load_image(tmp_path / "720p.jpg", 100).size == (320, 180)
    # Under twice the edge asked for, or not a JPEG: decoded in full.
    assert load_image(tmp_path / "720p.jpg", 400).size == (1280, 720)
    Image.open(tmp_path / "720p.jpg").save(tmp_path / "720p.png")
    assert load_image(tmp_path / "720p.png", 100).size == (1280, 720)


def test_reduced_size_decoding_keeps_clip_preprocessing_within_grey_levels(tmp_path):
    """The model input from a JPEG decoded at half size (then resized bicubic as usual)
    against the one from the full decode, which the golden test ties to transformers'
    CLIPImageProcessor: differences of a grey level or so, far below JPEG's own error."""
    from mediaml.embed.preprocess import CLIP_STD, ClipPreprocessor

    preprocess = ClipPreprocessor()
    levels = np.asarray(CLIP_STD, np.float32)[:, None, None] * 255  # normalised -> 0..255
    for seed, size in enumerate([(1280, 720), (1920, 1080), (720, 1280)]):
        path = tmp_path / f"frame{seed}.jpg"
        _keyframe(path, *size, seed=seed)
        full = preprocess(load_image(path))
        reduced = preprocess(load_image(path, 336))
        error = np.abs(full - reduced) * levels
        assert error.mean() < 1.5 and error.max() < 16, (size, error.mean(), error.max())
