"""Per-frame features and the distances between frames (pure numpy, batched).

Frames arrive as tiny full-range YUV 4:4:4 pictures (see `params.ANALYSIS_SIZE`). From
each we keep:

- a joint colour histogram (8 luma x 4 x 4 chroma bins): robust to motion, blind to
  structure;
- the luma plane normalised to zero mean and unit variance: structure, independent of
  brightness and contrast (so flashes and fades barely move it);
- a half-size YUV thumbnail in raw units, for fitting linear mixes (dissolves);
- luma mean and spread, for black frames (fades).

The structural distance searches small shifts per block (motion compensation), so a fast
pan or zoom, where every block moves, scores low, while a cut, where no shift explains
the new picture, scores high.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LUMA_BINS, CHROMA_BINS = 8, 4
HIST_BINS = LUMA_BINS * CHROMA_BINS * CHROMA_BINS
BLOCK_GRID = (3, 4)  # rows x columns of motion-compensated blocks
_UNRELATED = 2 / np.sqrt(np.pi)  # E|a - b| for independent unit normals: scales to ~1


@dataclass
class Features:
    """Features of a batch of frames (first axis: frame)."""

    hist: np.ndarray  # (n, HIST_BINS) float32, sums to 1
    z: np.ndarray  # (n, H, W) float32 normalised luma (zeros for flat frames)
    thumb: np.ndarray  # (n, 3 * H/2 * W/2) float32 raw YUV
    mean: np.ndarray  # (n,) luma mean, 0..255
    std: np.ndarray  # (n,) luma standard deviation

    def __len__(self) -> int:
        return len(self.mean)

    def take(self, index: np.ndarray | slice) -> Features:
        """The features of a subset of frames."""
        return Features(
            self.hist[index], self.z[index], self.thumb[index], self.mean[index], self.std[index]
        )

    @staticmethod
    def concat(parts: list[Features]) -> Features:
        """Join batches in order."""
        return Features(*(np.concatenate([getattr(p, f) for p in parts]) for f in Features.FIELDS))

    FIELDS = ("hist", "z", "thumb", "mean", "std")


def extract(frames: np.ndarray, flat_spread: float) -> Features:
    """Features of ``frames``: uint8 array (n, 3, H, W) of planar full-range YUV.

    Args:
        frames: the analysis pictures.
        flat_spread: luma standard deviation below which a frame has no structure.
    """
    n, _, h, w = frames.shape
    f = frames.astype(np.float32)
    y = f[:, 0]
    ybin = np.minimum(frames[:, 0] // (256 // LUMA_BINS), LUMA_BINS - 1).astype(np.int64)
    ubin = np.minimum(frames[:, 1] // (256 // CHROMA_BINS), CHROMA_BINS - 1).astype(np.int64)
    vbin = np.minimum(frames[:, 2] // (256 // CHROMA_BINS), CHROMA_BINS - 1).astype(np.int64)
    bins = (ybin * CHROMA_BINS + ubin) * CHROMA_BINS + vbin
    offsets = (np.arange(n, dtype=np.int64) * HIST_BINS)[:, None, None]
    hist = np.bincount((bins + offsets).ravel(), minlength=n * HIST_BINS)
    hist = hist.reshape(n, HIST_BINS).astype(np.float32) / float(h * w)

    mean = y.mean(axis=(1, 2))
    std = y.std(axis=(1, 2))
    safe = np.where(std < flat_spread, np.inf, std)
    z = (y - mean[:, None, None]) / safe[:, None, None]
    thumb = f.reshape(n, 3, h // 2, 2, w // 2, 2).mean(axis=(3, 5)).reshape(n, -1)
    return Features(hist, z.astype(np.float32), thumb, mean, std)


def hist_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Half the L1 distance between histograms: 0 same colours .. 1 disjoint colours."""
    return np.asarray(0.5 * np.abs(a - b).sum(axis=-1))


def struct_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference of normalised luma, ~1 for unrelated pictures."""
    return np.asarray(np.minimum(1.0, np.abs(a - b).mean(axis=(-2, -1)) / _UNRELATED))


def motion_distance(a: np.ndarray, b: np.ndarray, max_shift: int) -> np.ndarray:
    """Structural distance from ``a`` to ``b`` after the best shift of each block.

    Args:
        a, b: normalised luma, shape (n, H, W).
        max_shift: search range in pixels; each block of ``b`` is compared with ``a``
            shifted by up to that much in x and y.

    Returns:
        (n,) distances, ~1 for unrelated pictures, ~0 for a shifted copy.
    """
    n, h, w = a.shape
    s = max_shift
    rows, cols = BLOCK_GRID
    bh, bw = (h - 2 * s) // rows, (w - 2 * s) // cols
    y0, x0 = s + ((h - 2 * s) - bh * rows) // 2, s + ((w - 2 * s) - bw * cols) // 2
    target = b[:, y0 : y0 + bh * rows, x0 : x0 + bw * cols]
    best = np.full((n, rows, cols), np.inf, dtype=np.float32)
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            moved = a[:, y0 + dy : y0 + dy + bh * rows, x0 + dx : x0 + dx + bw * cols]
            cost = np.abs(moved - target).reshape(n, rows, bh, cols, bw).mean(axis=(2, 4))
            np.minimum(best, cost, out=best)
    return np.asarray(np.minimum(1.0, best.mean(axis=(1, 2)) / _UNRELATED))


def mix_fit(a: np.ndarray, m: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``m`` as ``(1 - alpha) * a + alpha * b`` (rows are frames' raw thumbnails).

    Returns:
        ``alpha`` clipped to 0..1 and the relative residual ``|m - fit| / |b - a|``
        (inf when ``a`` and ``b`` are the same picture).
    """
    diff = b - a
    norm2 = (diff * diff).sum(axis=-1)
    alpha = np.clip(((m - a) * diff).sum(axis=-1) / np.maximum(norm2, 1e-6), 0.0, 1.0)
    resid = m - a - alpha[:, None] * diff
    rel = np.sqrt((resid * resid).sum(axis=-1) / np.maximum(norm2, 1e-6))
    rel = np.where(norm2 < 1e-6, np.inf, rel)
    return alpha, rel
