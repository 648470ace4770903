"""Per-frame features and the distances between frames (pure numpy, batched).

Frames arrive as tiny full-range YUV 4:4:4 pictures (see `params.ANALYSIS_SIZE`). From
each we keep:

- a joint colour histogram (8 luma x 4 x 4 chroma bins): robust to motion, blind to
  structure;
- the luma plane normalised to zero mean and unit variance: structure, independent of
  brightness and contrast (so flashes and fades barely move it);
- the same at half size, for the motion search (cheaper, and less sensitive to grain);
- luma mean and spread, for black frames (fades).

Black bars (a letterboxed or pillarboxed picture) are cut off first and the picture
inside them is stretched back to the analysis size (`unbar`): bars never change, so
left in they would dilute every distance by the share of the frame they cover (a
2.39:1 film in a 16:9 frame: a quarter), and cuts would score below their threshold.

The structural distance searches small shifts per block (motion compensation), so a fast
pan or zoom, where every block moves, scores low, while a cut, where no shift explains
the new picture, scores high.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

LUMA_BINS, CHROMA_BINS = 8, 4
HIST_BINS = LUMA_BINS * CHROMA_BINS * CHROMA_BINS
_CHROMA_BITS = CHROMA_BINS.bit_length() - 1
_LUMA_SHIFT = 8 - (LUMA_BINS.bit_length() - 1)  # value >> shift: its bin (0..bins-1)
_CHROMA_SHIFT = 8 - _CHROMA_BITS
NORM_FLOOR = 8.0  # luma spread (0..255) at and above which structure is fully normalised
BLOCK_GRID = (3, 4)  # rows x columns of motion-compensated blocks
_UNRELATED = 2 / np.sqrt(np.pi)  # E|a - b| for independent unit normals: scales to ~1
BAR_LUMA = 32  # a row (column) of black bar has no luma value at or above this (0..255)
BAR_SHARE = 0.3  # bars cover at most this share of the height (width) on each side


@dataclass
class Features:
    """Features of a batch of frames (first axis: frame)."""

    hist: np.ndarray  # (n, HIST_BINS) float32, sums to 1
    z: np.ndarray  # (n, H, W) float32 normalised luma (scaled down when nearly flat)
    zs: np.ndarray  # (n, H/2, W/2) the same at half size, for the motion search
    mean: np.ndarray  # (n,) luma mean, 0..255
    std: np.ndarray  # (n,) luma standard deviation

    def __len__(self) -> int:
        return len(self.mean)

    def take(self, index: np.ndarray | slice) -> Features:
        """The features of a subset of frames."""
        return Features(*(getattr(self, f)[index] for f in Features.FIELDS))

    @staticmethod
    def concat(parts: list[Features]) -> Features:
        """Join batches in order."""
        return Features(*(np.concatenate([getattr(p, f) for p in parts]) for f in Features.FIELDS))

    FIELDS = ("hist", "z", "zs", "mean", "std")


def _bars(luma: np.ndarray, axis: int) -> np.ndarray:
    """Per frame, how many rows (axis -2) or columns (-1) of black bar each side has.

    A bar is a run of wholly dark lines at both edges (the fewer of the two sides counts:
    letterboxing is symmetric, a dark sky alone is no bar), plus the line after it,
    which blends bar and picture. A frame dark all over (a fade's black) has none.
    """
    dark = luma.max(axis=axis) < BAR_LUMA  # (n, lines)
    lines = dark.shape[1]
    top = np.cumprod(dark, axis=1).sum(axis=1)
    bottom = np.cumprod(dark[:, ::-1], axis=1).sum(axis=1)
    k = np.minimum(top, bottom)
    return np.where((k > 0) & (k <= BAR_SHARE * lines), k + 1, 0)


@cache
def _stretch(n: int, k: int) -> np.ndarray:
    """(n, n - 2k) linear interpolation: ``m @ x`` stretches x's middle n - 2k lines to n."""
    inner = n - 2 * k
    pos = (np.arange(n) + 0.5) * inner / n - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, inner - 1)
    hi = np.minimum(lo + 1, inner - 1)
    frac = np.clip(pos - lo, 0.0, 1.0)
    m = np.zeros((n, inner), dtype=np.float32)
    m[np.arange(n), lo] += 1.0 - frac
    m[np.arange(n), hi] += frac
    return m


def unbar(frames: np.ndarray) -> np.ndarray:
    """``frames`` (n, 3, H, W uint8) with black bars cut off, stretched back to H x W.

    Frames without bars come back as they are (the same array when none has any).
    """
    luma = frames[:, 0]
    rows, cols = _bars(luma, -1), _bars(luma, -2)
    if not (rows.any() or cols.any()):
        return frames
    out = frames.copy()
    _, _, h, w = frames.shape
    for kr, kc in {(int(r), int(c)) for r, c in zip(rows, cols, strict=True)} - {(0, 0)}:
        pick = np.flatnonzero((rows == kr) & (cols == kc))
        x = frames[pick, :, kr : h - kr, kc : w - kc].astype(np.float32)
        x = _stretch(h, kr) @ x @ _stretch(w, kc).T
        out[pick] = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return out


def extract(frames: np.ndarray) -> Features:
    """Features of ``frames``: uint8 array (n, 3, H, W) of planar full-range YUV."""
    frames = unbar(frames)
    n, _, h, w = frames.shape
    y = frames[:, 0].astype(np.float32)
    # Bin numbers stay below 256, so they are worked out in uint8 (bins are powers of 2).
    ybin = frames[:, 0] >> _LUMA_SHIFT
    ubin = frames[:, 1] >> _CHROMA_SHIFT
    vbin = frames[:, 2] >> _CHROMA_SHIFT
    bins = (ybin << 2 * _CHROMA_BITS) | (ubin << _CHROMA_BITS) | vbin
    offsets = (np.arange(n, dtype=np.int64) * HIST_BINS)[:, None, None]
    counts = np.bincount((bins + offsets).ravel(), minlength=n * HIST_BINS)
    hist = counts.reshape(n, HIST_BINS).astype(np.float32) / float(h * w)

    mean = y.mean(axis=(1, 2))
    std = y.std(axis=(1, 2))
    # Below NORM_FLOOR the structure is scaled down instead of blown up to unit spread,
    # so a picture fading to a flat colour loses its structure smoothly, not in one jump
    # (and a flat picture's compression noise stays near zero).
    z = np.subtract(y, mean[:, None, None], out=y)  # in place: y is not needed again
    np.divide(z, np.maximum(std, NORM_FLOOR)[:, None, None], out=z)
    # 2x2 means, added up in the order numpy's mean(axis=(2, 4)) does (the same bits)
    # without its slow strided reduction
    q = z.reshape(n, h // 2, 2, w // 2, 2)
    zs = (q[:, :, 0, :, 0] + q[:, :, 0, :, 1]) + (q[:, :, 1, :, 0] + q[:, :, 1, :, 1])
    zs /= np.float32(4)
    return Features(hist, z, zs, mean, std)


def hist_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Half the L1 distance between histograms: 0 same colours .. 1 disjoint colours."""
    return np.asarray(0.5 * np.abs(a - b).sum(axis=-1))


_STRUCT_FRAMES = 32
"""Frame pairs `struct_distance` works on at once (32 analysis pictures: 288 KB)."""


def struct_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference of normalised luma, ~1 for unrelated pictures."""
    if a.ndim != 3 or a.shape != b.shape or not a.dtype == b.dtype == np.float32:
        diff = np.subtract(a, b)
        np.abs(diff, out=diff)
        return np.asarray(np.minimum(1.0, diff.mean(axis=(-2, -1)) / _UNRELATED))
    # A few frames at a time, so the differences stay in the CPU's cache (same numbers).
    n = len(a)
    mean = np.empty(n, dtype=np.float32)
    diff = np.empty((min(n, _STRUCT_FRAMES), *a.shape[1:]), dtype=np.float32)
    for i in range(0, n, _STRUCT_FRAMES):
        j = min(n, i + _STRUCT_FRAMES)
        part = np.subtract(a[i:j], b[i:j], out=diff[: j - i])
        np.abs(part, out=part)
        mean[i:j] = part.mean(axis=(-2, -1))
    return np.asarray(np.minimum(1.0, mean / _UNRELATED))


_SEARCH_VALUES = 1 << 17
"""Differences the motion search holds at once (512 KB): frames are searched in groups
of about this many values over all shifts (one group for a candidate's few pairs)."""


def _block_sums(q: np.ndarray) -> np.ndarray:
    """``q.sum(axis=(-3, -1))`` of a C-contiguous (..., rows, bh, cols, bw) float32 array,
    added up in numpy's own order (each row of a block in turn, then the rows in turn), so
    the bits are the same, without numpy's slow strided reduction.

    Rows of 8 or more values numpy adds pairwise: those take its own sum.
    """
    bw = q.shape[-1]
    if bw >= 8 or bw < 2:
        return np.asarray(q.sum(axis=(-3, -1)))
    row = q[..., 0] + q[..., 1]
    for x in range(2, bw):
        row += q[..., x]
    total = row[..., 0, :].copy()
    for y in range(1, row.shape[-2]):
        total += row[..., y, :]
    return total


def search_blocks(shape: tuple[int, ...], max_shift: int) -> tuple[int, int, int, int, int]:
    """Where the motion search's blocks lie in pictures of ``shape`` (..., H, W):
    (margin, block height, block width, top, left). The margin is the search range, as
    far as the picture allows; the blocks tile the picture inside it, centred."""
    h, w = shape[-2:]
    rows, cols = BLOCK_GRID
    margin = min(max_shift, (h - rows) // 2 - 1, (w - cols) // 2 - 1)
    bh, bw = (h - 2 * margin) // rows, (w - 2 * margin) // cols
    return margin, bh, bw, (h - bh * rows) // 2, (w - bw * cols) // 2


def motion_distance(
    a: np.ndarray, b: np.ndarray, max_shift: int, step: int = 1, *, per_block: bool = False
) -> np.ndarray:
    """Structural distance from ``a`` to ``b`` after the best shift of each block.

    Args:
        a, b: normalised luma, shape (n, H, W).
        max_shift: search range in pixels; each block of ``b`` is compared with ``a``
            shifted by up to that much in x and y.
        step: shift spacing (a coarse search for wide ranges costs the same as a fine
            search of +-3).

        per_block: return each block's distance, (n, rows * columns), not their mean.

    Returns:
        (n,) distances, ~1 for unrelated pictures, ~0 for a shifted copy.
    """
    n = len(a)
    s = max_shift
    rows, cols = BLOCK_GRID
    margin, bh, bw, y0, x0 = search_blocks(a.shape, s)
    th, tw = bh * rows, bw * cols
    target = b[:, None, None, y0 : y0 + th, x0 : x0 + tw]
    keep = np.array([d for d in range(-s, s + 1, step) if abs(d) <= margin]) + margin
    k = len(keep)
    # every shift of ``a`` around the target at once: (n, shifts y, shifts x, th, tw)
    moved = np.lib.stride_tricks.sliding_window_view(
        a[:, y0 - margin : y0 + margin + th, x0 - margin : x0 + margin + tw], (th, tw), (1, 2)
    )
    best = np.empty((n, rows, cols), dtype=np.float32)
    per = max(1, _SEARCH_VALUES // (k * k * th * tw))
    for i in range(0, n, per):
        j = min(n, i + per)
        part = moved[i:j] if k == 2 * margin + 1 else moved[i:j][:, keep][:, :, keep]
        diff = np.empty((j - i, k, k, th, tw), dtype=np.float32)
        np.subtract(part, target[i:j], out=diff)
        np.abs(diff, out=diff)
        cost = _block_sums(diff.reshape(j - i, k * k, rows, bh, cols, bw))
        best[i:j] = cost.min(axis=1)
    if per_block:
        blocks = best.reshape(n, rows * cols) / float(bh * bw)
        return np.asarray(np.minimum(1.0, blocks / _UNRELATED))
    mean = best.mean(axis=(1, 2)) / float(bh * bw)
    return np.asarray(np.minimum(1.0, mean / _UNRELATED))
