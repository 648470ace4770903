"""The nearest-clip lookup behind hovering over the explore map's raster (pure numpy)."""

from __future__ import annotations

import numpy as np

from dashboards.explore_map import nearest
from mediaml.projections import MapPoints


def _points(xy: list[tuple[float, float]]) -> MapPoints:
    ids = np.arange(10, 10 + len(xy), dtype=np.int64)
    x, y = (np.array(v, np.float32) for v in zip(*xy, strict=True))
    return MapPoints(clip_id=ids, video_id=ids, x=x, y=y)


def test_nearest_point_within_reach_in_view_fractions():
    points = _points([(0.0, 0.0), (10.0, 0.5), (5.0, 5.0)])
    view = ((0.0, 10.0), (0.0, 1.0))  # wide: distances count in fractions of each axis
    assert nearest(points, 9.9, 0.49, *view) == 1
    # 0.3 along x is 3% of the view's width: within a reach of 5%, not of 2%.
    assert nearest(points, 0.3, 0.0, *view, reach=0.05) == 0
    assert nearest(points, 0.3, 0.0, *view) is None
    assert nearest(points, 2.5, 0.5, *view) is None  # nothing within 2% of the view
    assert nearest(_points([(1.0, 1.0)]), 1.0, 1.0, (1.0, 1.0), (1.0, 1.0)) == 0  # empty span
    assert nearest(MapPoints(*(np.zeros(0),) * 4), 0.0, 0.0, *view) is None


def test_a_million_points():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(1_000_000, 2)).astype(np.float32)
    points = MapPoints(np.arange(len(xy)), np.zeros(len(xy), np.int64), xy[:, 0], xy[:, 1])
    target = 123_456
    found = nearest(points, float(xy[target, 0]), float(xy[target, 1]), (-5, 5), (-5, 5))
    assert found == target or np.array_equal(xy[found], xy[target])
