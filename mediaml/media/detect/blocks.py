"""Which blocks of a picture another picture holds unchanged, only moved a little.

A cut changes the whole picture; something sweeping past the lens (or a flash, a whip)
changes only the part it covers or uncovers. These counts are the evidence
`decide.hard_cuts` (a candidate with ``still_blocks`` unchanged blocks is no cut) and
`burst.burst_evidence` use for that.
"""

from __future__ import annotations

import numpy as np

from mediaml.media.detect.features import BLOCK_GRID, Features
from mediaml.media.detect.params import DetectorParams


def unchanged_blocks(a: np.ndarray, b: np.ndarray, p: DetectorParams) -> int:
    """How many blocks of picture ``b`` are picture ``a``'s, unchanged (but moved a little).

    Each block of a 3 x 4 grid over normalised luma ``b`` is correlated with ``a``
    shifted by up to ``2 * max_shift`` pixels (the motion search's reach, at full size);
    a block with some texture in both pictures that correlates at ``still_match`` or
    more for some shift is unchanged. A cut changes the whole picture; something
    sweeping past the lens changes only the part it covers or uncovers.
    """
    return _unchanged(_shifted_blocks(a, p), _blocks_of(b, p), p)


def most_unchanged_blocks(f: Features, before: range, after: range, p: DetectorParams) -> int:
    """The most `unchanged_blocks` of any picture in ``after`` from one in ``before``
    (each picture's blocks and shifts are cut out once)."""
    targets = [_blocks_of(f.z[b], p) for b in after]
    return max(
        _unchanged(moved, target, p)
        for moved in (_shifted_blocks(f.z[a], p) for a in before)
        for target in targets
    )


def _block_geometry(shape: tuple[int, ...], p: DetectorParams) -> tuple[int, int, int, int, int]:
    h, w = shape
    s = 2 * p.max_shift
    rows, cols = BLOCK_GRID
    bh, bw = (h - 2 * s) // rows, (w - 2 * s) // cols
    return s, bh, bw, (h - bh * rows) // 2, (w - bw * cols) // 2


def _zero_mean_blocks(x: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """(..., rows * cols, bh * bw) blocks of the last two axes, zero-mean."""
    rows, cols = BLOCK_GRID
    lead = x.shape[:-2]
    q = x.reshape(*lead, rows, bh, cols, bw)
    q = np.moveaxis(q, -3, -2).reshape(*lead, rows * cols, bh * bw)
    return np.asarray(q - q.mean(axis=-1, keepdims=True))


def _blocks_of(b: np.ndarray, p: DetectorParams) -> tuple[np.ndarray, np.ndarray]:
    """Picture ``b``'s blocks (zero-mean) and their norms."""
    _, bh, bw, y0, x0 = _block_geometry(b.shape, p)
    rows, cols = BLOCK_GRID
    target = _zero_mean_blocks(b[y0 : y0 + bh * rows, x0 : x0 + bw * cols], bh, bw)
    return target, np.sqrt((target**2).sum(axis=-1))


def _shifted_blocks(a: np.ndarray, p: DetectorParams) -> tuple[np.ndarray, ...]:
    """Picture ``a``'s blocks at every shift (shifts, blocks, pixels), their norms and
    standard deviations."""
    s, bh, bw, y0, x0 = _block_geometry(a.shape, p)
    rows, cols = BLOCK_GRID
    windows = np.lib.stride_tricks.sliding_window_view(
        a[y0 - s : y0 + bh * rows + s, x0 - s : x0 + bw * cols + s], (bh * rows, bw * cols)
    ).reshape(-1, bh * rows, bw * cols)
    moved = _zero_mean_blocks(windows, bh, bw)
    return moved, np.sqrt((moved**2).sum(axis=-1)), moved.std(axis=-1)


def _unchanged(
    shifted: tuple[np.ndarray, ...], blocks: tuple[np.ndarray, np.ndarray], p: DetectorParams
) -> int:
    (moved, moved_norm, moved_spread), (target, target_norm) = shifted, blocks
    norms = moved_norm * target_norm
    corr = (moved * target).sum(axis=-1) / np.maximum(norms, 1e-6)
    best = corr.argmax(axis=0)
    spread = np.take_along_axis(moved_spread, best[None], axis=0)[0]
    textured = np.minimum(target.std(axis=-1), spread) >= p.still_texture
    return int(((corr.max(axis=0) >= p.still_match) & textured).sum())
