"""``mediaml-descriptor-v1``: a weight-free, deterministic image descriptor.

It needs no model files, so embedding and similarity search work on a machine that has
no CLIP weights. It is not CLIP and does not pretend to be: its vectors carry their own
model name, it has no text tower, and what it measures is plain image statistics, so
"similar" means "similar colours, layout and texture", not "similar meaning".

The 208 numbers, computed on the image resized to 128 x 128 (RGB, bilinear):

* 128: joint HSV colour histogram, 8 hue x 4 saturation x 4 value bins, soft-binned
  (each pixel is shared between its two nearest bins per axis, hue wrapping round) and
  square-rooted (the Hellinger mapping, so cosine compares distributions).
* 48: spatial colour layout, the mean Y, Cb, Cr of each cell of a 4 x 4 grid, centred
  on mid-grey.
* 32: edge orientations, a magnitude-weighted histogram of 8 gradient directions
  (0-180 degrees) in each cell of a 2 x 2 grid, square-rooted.

Each block is scaled to unit length, the blocks are concatenated and the result is
scaled to unit length. Changing any of this makes a new model name
(``mediaml-descriptor-v2``), never a silent change of ``v1``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mediaml.embed.embedder import Backend, Embedder, l2_normalize, register

NAME = "mediaml-descriptor-v1"
SIDE = 128
HUE_BINS, SAT_BINS, VAL_BINS = 8, 4, 4
LAYOUT_GRID = 4
EDGE_GRID = 2
EDGE_BINS = 8
DIM = HUE_BINS * SAT_BINS * VAL_BINS + LAYOUT_GRID**2 * 3 + EDGE_GRID**2 * EDGE_BINS


def _unit(block: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(block))
    return block / norm if norm > 1e-12 else block


def _soft_bins(channel: np.ndarray, bins: int, circular: bool) -> tuple[np.ndarray, ...]:
    """Each value's two nearest bins and their linear weights, so a small change of
    colour moves weight between neighbouring bins instead of jumping to another one."""
    position = channel.astype(np.float64) * bins / 256.0 - 0.5
    low = np.floor(position)
    high_weight = position - low
    low_index, high_index = low.astype(np.int64), low.astype(np.int64) + 1
    if circular:
        low_index, high_index = low_index % bins, high_index % bins
    else:
        low_index, high_index = np.clip(low_index, 0, bins - 1), np.clip(high_index, 0, bins - 1)
    return low_index, high_index, 1.0 - high_weight, high_weight


def colour_histogram(hsv: np.ndarray) -> np.ndarray:
    """Square-rooted joint HSV histogram (soft-binned) of a ``uint8 (H, W, 3)`` HSV image."""
    hue = _soft_bins(hsv[..., 0].ravel(), HUE_BINS, circular=True)
    sat = _soft_bins(hsv[..., 1].ravel(), SAT_BINS, circular=False)
    val = _soft_bins(hsv[..., 2].ravel(), VAL_BINS, circular=False)
    counts = np.zeros(HUE_BINS * SAT_BINS * VAL_BINS)
    for h_index, h_weight in ((hue[0], hue[2]), (hue[1], hue[3])):
        for s_index, s_weight in ((sat[0], sat[2]), (sat[1], sat[3])):
            for v_index, v_weight in ((val[0], val[2]), (val[1], val[3])):
                index = (h_index * SAT_BINS + s_index) * VAL_BINS + v_index
                counts += np.bincount(
                    index, weights=h_weight * s_weight * v_weight, minlength=counts.size
                )
    return np.sqrt(counts / counts.sum())


def colour_layout(ycbcr: np.ndarray) -> np.ndarray:
    """Mean Y, Cb, Cr per cell of a 4 x 4 grid, centred on mid-grey."""
    cells = ycbcr.astype(np.float64).reshape(
        LAYOUT_GRID, SIDE // LAYOUT_GRID, LAYOUT_GRID, SIDE // LAYOUT_GRID, 3
    )
    return (cells.mean(axis=(1, 3)) / 255.0 - 0.5).ravel()


def edge_orientations(grey: np.ndarray) -> np.ndarray:
    """Square-rooted, magnitude-weighted gradient orientation histograms on a 2 x 2 grid."""
    g = grey.astype(np.float64) / 255.0
    # Sobel gradients on the interior; the one-pixel border is left at zero.
    gx = np.zeros_like(g)
    gy = np.zeros_like(g)
    gx[1:-1, 1:-1] = (
        g[:-2, 2:] + 2 * g[1:-1, 2:] + g[2:, 2:] - g[:-2, :-2] - 2 * g[1:-1, :-2] - g[2:, :-2]
    )
    gy[1:-1, 1:-1] = (
        g[2:, :-2] + 2 * g[2:, 1:-1] + g[2:, 2:] - g[:-2, :-2] - 2 * g[:-2, 1:-1] - g[:-2, 2:]
    )
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned: an edge and its reverse agree
    bins = np.minimum((angle / np.pi * EDGE_BINS).astype(np.int64), EDGE_BINS - 1)
    cell = SIDE // EDGE_GRID
    rows = np.arange(SIDE)[:, None] // cell
    cols = np.arange(SIDE)[None, :] // cell
    index = (rows * EDGE_GRID + cols) * EDGE_BINS + bins
    hist = np.bincount(index.ravel(), weights=magnitude.ravel(), minlength=EDGE_GRID**2 * EDGE_BINS)
    total = magnitude.sum()
    return np.sqrt(hist / total) if total > 1e-12 else hist


def describe(image: Image.Image) -> np.ndarray:
    """The ``float32 (208,)`` unit-length descriptor of an RGB image."""
    small = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    blocks = [
        colour_histogram(np.asarray(small.convert("HSV"))),
        colour_layout(np.asarray(small.convert("YCbCr"))),
        edge_orientations(np.asarray(small.convert("L"))),
    ]
    vector = np.concatenate([_unit(b) for b in blocks])
    return (vector / np.linalg.norm(vector)).astype(np.float32)


class DescriptorEmbedder(Embedder):
    """The weight-free descriptor as an :class:`Embedder` (no text tower)."""

    name = NAME
    version = "1"
    dim = DIM
    has_text = False
    batch_size = 64

    def prepare(self, image: Image.Image) -> np.ndarray:
        return describe(image)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return l2_normalize(batch)


register(
    Backend(
        name=NAME,
        summary="weight-free colour histogram + colour layout + edge orientation descriptor "
        "(208-dim, no text search)",
        load=DescriptorEmbedder,
        check=lambda: (True, "built in: needs no model files"),
    )
)
