"""2D projections of embedding vectors."""

import numpy as np
import pytest

from dashboards.projection import methods, project
from mediaml.errors import MediamlError


def test_pca_keeps_the_main_direction_of_variation():
    rng = np.random.default_rng(0)
    line = np.outer(np.linspace(-5, 5, 40), rng.normal(size=16))
    xy = project(line + rng.normal(scale=0.01, size=line.shape))
    assert xy.shape == (40, 2)
    assert np.ptp(xy[:, 0]) > 50 * np.ptp(xy[:, 1])
    order = np.argsort(xy[:, 0])
    assert list(order) in (list(range(40)), list(range(39, -1, -1)))


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_inputs(n):
    assert project(np.ones((n, 8))).shape == (n, 2)


def test_unknown_method_is_refused():
    with pytest.raises(MediamlError, match="unknown projection"):
        project(np.ones((3, 4)), "tsne")
    assert "PCA" in methods()
