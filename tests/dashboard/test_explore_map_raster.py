"""The explore map's raster: counts per pixel, shading, and the PNG the browser gets."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from dashboards.explore_map import counts_per_pixel, png_url, rasterise, shade
from mediaml.projections import MapPoints


def _points(xy: list[tuple[float, float]]) -> MapPoints:
    ids = np.arange(len(xy), dtype=np.int64)
    x, y = (np.array(v, np.float32) for v in zip(*xy, strict=True))
    return MapPoints(clip_id=ids, video_id=ids, x=x, y=y)


def _decode(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    with Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))) as img:
        assert img.mode == "RGBA"
        return np.asarray(img)


def test_counts_land_in_their_pixels_row_zero_at_the_bottom():
    points = _points([(0.05, 0.05), (0.06, 0.07), (0.95, 0.95), (2.0, 2.0)])  # last: outside
    counts = counts_per_pixel(points, (0.0, 1.0), (0.0, 1.0), size=(10, 10))
    assert counts.sum() == 3 and counts[0, 0] == 2 and counts[9, 9] == 1


def test_the_png_is_the_raster_the_right_way_up_and_transparent_where_empty():
    points = _points([(0.05, 0.95)] * 5 + [(0.95, 0.05)])  # dense top left, one bottom right
    size = (20, 10)
    raster = rasterise(points, (0.0, 1.0), (0.0, 1.0), size)
    pixels = _decode(png_url(raster))
    assert pixels.shape == (10, 20, 4)
    # PNG rows run top to bottom: the dense point is in the first row, the single one in
    # the last; both are opaque-ish, the middle of the picture is transparent.
    assert pixels[0, 1, 3] > 0 and pixels[9, 19, 3] > 0 and pixels[5, 10, 3] == 0
    raw = shade(counts_per_pixel(points, (0.0, 1.0), (0.0, 1.0), size))
    assert np.array_equal(pixels[::-1].reshape(-1, 4).view(np.uint32).ravel(), raw.ravel())
    # The densest pixel is the darkest.
    assert pixels[0, 1, :3].sum() < pixels[9, 19, :3].sum()


def test_a_million_points_make_a_small_png():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(1_000_000, 2)).astype(np.float32)
    points = MapPoints(
        clip_id=np.arange(len(xy)), video_id=np.zeros(len(xy), np.int64), x=xy[:, 0], y=xy[:, 1]
    )
    url = png_url(rasterise(points, (-4.0, 4.0), (-4.0, 4.0)))
    assert len(url) < 400_000  # the raw pixels are 1.2 MB
