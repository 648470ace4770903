"""Generation strategies: which keyframes a clip is embedded from and how their vectors
become the rows stored for it. Pure functions, no I/O.

* ``keyframe_multi_avg``: the mean of every keyframe's vector, re-normalised (1 row).
* ``keyframe_single``: the middle keyframe's vector (1 row).
* ``keyframe_multi``: one row per keyframe (``part`` = its index in frame order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from mediaml.config import EMBED_STRATEGIES, get_settings
from mediaml.errors import ConfigError

STRATEGIES: tuple[str, ...] = EMBED_STRATEGIES
MULTI_AVG, SINGLE, MULTI = "keyframe_multi_avg", "keyframe_single", "keyframe_multi"
assert (MULTI_AVG, SINGLE, MULTI) == STRATEGIES

T = TypeVar("T")


def resolve_strategy(strategy: str | None) -> str:
    """``strategy``, or ``MEDIAML_EMBED_STRATEGY`` when None.

    Raises:
        ConfigError: not one of :data:`STRATEGIES`.
    """
    value = strategy if strategy is not None else get_settings().embed_strategy
    if value not in STRATEGIES:
        raise ConfigError(
            f"unknown embedding strategy {value!r}; choose one of {', '.join(STRATEGIES)}"
        )
    return value


def middle_index(count: int) -> int:
    """The index of the middle item of ``count`` (the 50% keyframe of 25/50/75%)."""
    return count // 2


def keyframes_for_strategy(keyframes: Sequence[T], strategy: str) -> list[T]:
    """The keyframes (in frame order) a strategy embeds: the middle one, or all."""
    strategy = resolve_strategy(strategy)
    if not keyframes:
        return []
    if strategy == SINGLE:
        return [keyframes[middle_index(len(keyframes))]]
    return list(keyframes)


def vectors_for_strategy(keyframe_vectors: np.ndarray, strategy: str) -> np.ndarray:
    """The rows to store for one clip, from its keyframes' vectors in frame order.

    Args:
        keyframe_vectors: ``(n, dim)`` unit vectors, one per keyframe, ``n >= 1``.
        strategy: one of :data:`STRATEGIES`.

    Returns:
        ``float32 (1, dim)`` for the average (mean then re-normalised) and single
        (middle keyframe) strategies; ``(n, dim)`` for ``keyframe_multi``.

    Raises:
        ConfigError: unknown strategy.
        ValueError: no vectors, not a 2-D array, or vectors that average to zero.
    """
    strategy = resolve_strategy(strategy)
    vectors = np.asarray(keyframe_vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError(f"need an (n >= 1, dim) array of keyframe vectors, got {vectors.shape}")
    if strategy == MULTI:
        return vectors.copy()
    if strategy == SINGLE:
        return vectors[middle_index(len(vectors))][None].copy()
    mean = vectors.mean(axis=0, dtype=np.float64)
    norm = np.linalg.norm(mean)
    if norm < 1e-12:
        raise ValueError("the keyframe vectors cancel out; their average has no direction")
    return (mean / norm).astype(np.float32)[None]
