"""The detector's fast paths give, bit for bit, the numbers of the plain code they replace:
the motion search (`features.motion_distance`) what the search over one shift at a time
gives, and the blur check (`decide._blurred`) the same pictures without its subnormal
weights. The detector's thresholds were set on those numbers, and a last-bit difference
can tip a decision."""

from __future__ import annotations

import numpy as np
import pytest

from mediaml.media.detect.decide import _BLUR_SIGMAS, _blur_matrices
from mediaml.media.detect.features import BLOCK_GRID, extract, motion_distance, search_blocks
from mediaml.media.detect.params import ANALYSIS_SIZE
from mediaml.media.detect.stream import analysis_filter
from mediaml.media.ffmpeg import run_ffmpeg
from tests.support.footage import original_bikes


def one_shift_at_a_time(
    a: np.ndarray, b: np.ndarray, max_shift: int, step: int = 1, *, per_block: bool = False
) -> np.ndarray:
    """The motion search as first written: one shift at a time, numpy's sum per block."""
    n = len(a)
    s = max_shift
    rows, cols = BLOCK_GRID
    margin, bh, bw, y0, x0 = search_blocks(a.shape, s)
    th, tw = bh * rows, bw * cols
    target = b[:, y0 : y0 + th, x0 : x0 + tw]
    best = np.full((n, rows, cols), np.inf, dtype=np.float32)
    diff = np.empty((n, th, tw), dtype=np.float32)
    shifts = [d for d in range(-s, s + 1, step) if abs(d) <= margin]
    for dy in shifts:
        for dx in shifts:
            np.subtract(a[:, y0 + dy : y0 + dy + th, x0 + dx : x0 + dx + tw], target, out=diff)
            np.abs(diff, out=diff)
            np.minimum(best, diff.reshape(n, rows, bh, cols, bw).sum(axis=(2, 4)), out=best)
    unrelated = 2 / np.sqrt(np.pi)
    if per_block:
        return np.minimum(1.0, best.reshape(n, rows * cols) / float(bh * bw) / unrelated)
    return np.minimum(1.0, best.mean(axis=(1, 2)) / float(bh * bw) / unrelated)


@pytest.fixture(scope="module")
def features(media_dir):
    """Features of real footage with cuts, pans and motion blur (bikes.mp4 as edited)."""
    path = media_dir / "bikes-search.mp4"
    original_bikes(path, size=(320, 180))
    raw = media_dir / "bikes-search.yuv"
    run_ffmpeg(["-i", str(path), "-vf", analysis_filter(), "-f", "rawvideo", str(raw)])
    w, h = ANALYSIS_SIZE
    return extract(np.fromfile(raw, np.uint8).reshape(-1, 3, h, w))


@pytest.mark.parametrize("max_shift", [0, 1, 2, 4, 6, 12])
def test_motion_search_is_bit_for_bit_the_one_shift_at_a_time_search(features, max_shift):
    n = len(features)
    rng = np.random.default_rng(max_shift)
    far = rng.integers(0, n, size=(2, 7))
    cases = {
        "every step": (np.arange(n - 1), np.arange(1, n)),
        "one pair": (far[0, :1], far[1, :1]),
        "a candidate's few pairs": (far[0], far[1]),
    }
    for picture in ("zs", "z"):  # the half-size search, and the full-size picture
        x = getattr(features, picture)
        for name, (i, j) in cases.items():
            for step in (1, 2):
                for per_block in (False, True):
                    got = motion_distance(x[i], x[j], max_shift, step, per_block=per_block)
                    want = one_shift_at_a_time(x[i], x[j], max_shift, step, per_block=per_block)
                    assert got.dtype == want.dtype and got.shape == want.shape
                    assert np.array_equal(got, want), (picture, name, step, per_block)


def test_blurs_have_no_subnormal_weights_and_blur_real_pictures_to_the_same_bits(features):
    for n in (18, 32, 36, 64):  # both axes of both picture sizes
        m = _blur_matrices(n)
        assert not ((m != 0) & (np.abs(m) < np.finfo(np.float32).tiny)).any()
        # the weights as first written, subnormals and all
        i = np.arange(n)
        sigma = np.asarray(_BLUR_SIGMAS)[:, None, None]
        full = np.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * sigma**2))
        full = np.asarray(full / full.sum(axis=1, keepdims=True), dtype=np.float32)
        pictures = features.z if n in (36, 64) else features.zs
        for x in pictures[::5]:
            if n == x.shape[-1]:
                assert np.array_equal(x @ m, x @ full)
            else:
                assert np.array_equal(np.swapaxes(m, 1, 2) @ x, np.swapaxes(full, 1, 2) @ x)
