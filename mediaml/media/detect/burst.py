"""Is a candidate cut inside a burst of motion the motion itself? (dense optical flow)

A step that does not tower over its neighbours (a burst of big steps: something crossing
close to the lens, a camera swinging, a fast zoom, a whip) may be a cut into or out of
the motion, or one more step of it. The block search the other rules use only tries
whole-block translations of a few pixels; it cannot explain a zoom, a swing with
parallax or a cyclist's non-rigid motion close to the lens.

Here the motion of the steps just before and just after the candidate is measured as a
dense optical flow field (OpenCV's DIS flow on the analysis pictures) and used to
*predict* the candidate's step: the picture before the step is warped along the
neighbours' motion (before, after, or their mean) and compared with the picture after
it. Real motion continues through the step, so the prediction explains much of it;
across a cut the motion of either shot says nothing about the other shot's picture.

That residual, relative to the change across the step, is one piece of evidence.
Another is how well the step's small blocks are found again nearby (`block_match`),
compared with the steps either side: motion moves small blocks, a cut replaces them. A
small logistic scorer (`params.DetectorParams.burst_weights`, fitted by
``bench/fit_burst.py`` on labelled cut-only edits of real camera footage) weighs them
with the evidence the detector already has for the candidate: how much it towers, its
score, colour and structure change, blocks left unchanged across it or nearby, and
whether a picture near it on one side is close to one on the other side (by structure
or by colour).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mediaml.media.detect.blocks import most_unchanged_blocks
from mediaml.media.detect.features import Features, hist_distance, motion_distance
from mediaml.media.detect.params import DetectorParams

if TYPE_CHECKING:
    import cv2

FEATURES = (
    "dominance",
    "score",
    "colour",
    "structure",
    "still",
    "still_near",
    "return_near",
    "colour_near",
    "flow_residual",
    "block_match",
)
"""The evidence `burst_evidence` returns, in order (`DetectorParams.burst_weights`)."""

_LEVELS = 40.0
"""Grey levels per unit of normalised luma when the flow sees it as 8-bit (+-3.2 sd)."""


def _grey(z: np.ndarray) -> np.ndarray:
    return np.clip(z * _LEVELS + 128, 0, 255).astype(np.uint8)


def _flow(dis: cv2.DISOpticalFlow, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel of picture ``b``, where it was in picture ``a`` (dx, dy)."""
    # no initial flow: DIS would start from one passed in
    return np.asarray(dis.calc(_grey(b), _grey(a), None))  # type: ignore[call-overload]


def _warp_residual(a: np.ndarray, flow: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (normalised luma) between ``b`` and ``a`` moved by ``flow``."""
    h, w = a.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    import cv2  # loaded on first use: see `flow_residual`

    moved = cv2.remap(
        _grey(a),
        gx + flow[..., 0],
        gy + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return float(np.abs(moved.astype(np.float32) - _grey(b)).mean() / _LEVELS)


def flow_residual(f: Features, t: int) -> float:
    """How little of step ``t`` (frame t-1 to t) the neighbouring steps' motion explains.

    Frame t-1 is warped along the dense flow of the step before (t-2 to t-1), of the
    step after (t to t+1) and of their mean; the best of the three is compared with
    frame t. Returns that residual over the unexplained change (frame t-1 unmoved):
    well under 1 when the motion carries on through the step, about 1 or more across
    a cut. ``nan`` without a frame on each side.
    """
    if t < 2 or t + 1 >= len(f):
        return float("nan")
    # OpenCV is imported here, not with the module: every process that imports mediaml
    # (the web server, workers, notebooks) would otherwise carry its ~25 MB and import
    # time, while only candidates inside bursts of motion ever reach this function.
    import cv2

    z = f.z
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    before = _flow(dis, z[t - 2], z[t - 1])
    after = _flow(dis, z[t], z[t + 1])
    best = min(_warp_residual(z[t - 1], fl, z[t]) for fl in (before, after, (before + after) / 2))
    unmoved = float(np.abs(z[t - 1] - z[t]).mean())
    return best / max(unmoved, 1e-3)


def _matched(a: np.ndarray, b: np.ndarray, p: DetectorParams) -> float:
    """How well the blocks of picture ``b`` are found in ``a`` nearby: the median, over
    ``b``'s textured blocks, of the best normalised correlation within the search."""
    import cv2  # loaded on first use: see `flow_residual`

    size, reach = p.match_block, p.match_reach
    h, w = b.shape
    padded = cv2.copyMakeBorder(a, reach, reach, reach, reach, cv2.BORDER_REPLICATE)
    best = [
        float(
            cv2.matchTemplate(
                padded[y : y + size + 2 * reach, x : x + size + 2 * reach],
                b[y : y + size, x : x + size],
                cv2.TM_CCOEFF_NORMED,
            ).max()
        )
        for y in range(0, h - size + 1, size)
        for x in range(0, w - size + 1, size)
        if b[y : y + size, x : x + size].std() >= p.match_texture
    ]
    return float(np.median(best)) if best else 1.0


def block_match(f: Features, t: int, p: DetectorParams) -> float:
    """How much worse step ``t``'s blocks are found again than its neighbours' are.

    Each small block (``match_block`` pixels) of frame t is searched for in frame t-1
    within ``match_reach`` pixels by normalised correlation (brightness and contrast do
    not count); the median best match of step t minus the better of steps t-1 and t+1.
    Motion, even non-rigid or a zoom, leaves each small block findable nearby, step
    after step, about as well as its neighbours; across a cut most blocks match only
    by chance (-0.12 to -0.62 at 96% of true cuts in bursts). ``nan`` without a frame
    on each side.
    """
    if t < 2 or t + 1 >= len(f):
        return float("nan")
    z = f.z
    here = _matched(z[t - 1], z[t], p)
    return here - max(_matched(z[t - 2], z[t - 1], p), _matched(z[t], z[t + 1], p))


def burst_evidence(
    f: Features,
    t: int,
    score: np.ndarray,
    motion: np.ndarray,
    ev: dict[str, np.ndarray],
    p: DetectorParams,
) -> np.ndarray:
    """The evidence (`FEATURES`) about candidate cut ``t`` inside a burst of motion.

    ``ev`` is `decide.hard_cuts`'s evidence, with ``still`` already counted for ``t``.
    """
    n = len(f)
    near = most_unchanged_blocks(f, range(max(0, t - 3), t), range(t, min(n, t + 3)), p)
    pairs = [(a, b) for a in range(max(0, t - 4), t) for b in range(t, min(n, t + 4))]
    a_, b_ = (np.array([x[k] for x in pairs]) for k in (0, 1))
    found = motion_distance(f.zs[np.r_[a_, t - 1]], f.zs[np.r_[b_, t]], p.wide_shift)
    across = float(found[-1])
    return np.array(
        [
            float(ev["dominance"][t]),
            float(score[t]),
            float(ev["colour"][t]),
            float(motion[t]),
            float(ev["still"][t]),  # `blocks.unchanged_blocks`, counted by `decide.hard_cuts`
            float(near),
            float(found[:-1].min()) / max(across, 1e-6),
            float(hist_distance(f.hist[a_], f.hist[b_]).min()),
            flow_residual(f, t),
            block_match(f, t, p),
        ]
    )


def is_motion(
    f: Features,
    t: int,
    score: np.ndarray,
    motion: np.ndarray,
    ev: dict[str, np.ndarray],
    p: DetectorParams,
) -> bool:
    """True when the scorer takes candidate ``t`` (in a burst) for the motion, not a cut."""
    if not p.burst_weights:
        return False
    x = burst_evidence(f, t, score, motion, ev, p)
    if np.isnan(x).any():
        return False
    return bool(p.burst_bias + float(np.dot(p.burst_weights, x)) > 0)
