"""Generation strategies: pure aggregation of keyframe vectors."""

from __future__ import annotations

import numpy as np
import pytest

from mediaml.config import EMBED_STRATEGIES
from mediaml.embed import STRATEGIES, vectors_for_strategy
from mediaml.embed.strategies import keyframes_for_strategy
from mediaml.errors import ConfigError


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


VECTORS = _unit(np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]))


def test_strategy_names_are_the_config_ones():
    assert STRATEGIES is EMBED_STRATEGIES


def test_average_is_renormalised_mean():
    out = vectors_for_strategy(VECTORS, "keyframe_multi_avg")
    mean = VECTORS.mean(axis=0)
    assert out.shape == (1, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], mean / np.linalg.norm(mean), rtol=1e-6)
    assert np.linalg.norm(out[0]) == pytest.approx(1.0, abs=1e-6)


def test_single_takes_the_middle_keyframe():
    np.testing.assert_array_equal(vectors_for_strategy(VECTORS, "keyframe_single"), VECTORS[1:2])
    np.testing.assert_array_equal(vectors_for_strategy(VECTORS[:1], "keyframe_single"), VECTORS[:1])
    assert keyframes_for_strategy(["25%", "50%", "75%"], "keyframe_single") == ["50%"]
    assert keyframes_for_strategy(["only"], "keyframe_single") == ["only"]


def test_multi_keeps_every_keyframe_in_order():
    np.testing.assert_array_equal(vectors_for_strategy(VECTORS, "keyframe_multi"), VECTORS)
    assert keyframes_for_strategy(["a", "b", "c"], "keyframe_multi") == ["a", "b", "c"]
    assert keyframes_for_strategy([], "keyframe_multi_avg") == []


def test_bad_input():
    with pytest.raises(ConfigError, match="unknown embedding strategy 'keyframe_best'"):
        vectors_for_strategy(VECTORS, "keyframe_best")
    with pytest.raises(ValueError, match="n >= 1"):
        vectors_for_strategy(np.empty((0, 3), np.float32), "keyframe_multi_avg")
    with pytest.raises(ValueError, match="cancel out"):
        vectors_for_strategy(np.array([[1.0, 0.0], [-1.0, 0.0]]), "keyframe_multi_avg")


def test_default_strategy_comes_from_settings(settings):
    assert keyframes_for_strategy(["a", "b", "c"], None) == ["a", "b", "c"]  # multi_avg default
