"""Decide where shots change, from the features of a window of frames (pure).

Three rules, applied to frames with enough context on both sides:

1. **Hard cuts**: the change score between adjacent frames (colour histogram distance
   plus motion-compensated structure distance, averaged) is a local peak, above an
   absolute floor and well above the median score of the surrounding frames. Steady fast
   motion raises that median, so it does not cut; a shot only a few frames long still
   gives two clear peaks.
2. **Flashes**: a peak is dropped when the picture returns: a frame just before the peak
   matches a frame just after it (within ``flash_frames``). This removes camera flashes,
   lightning and brief occlusions without looking at brightness at all.
3. **Gradual transitions** (dissolves, fades): at several scales ``h`` the frames
   ``c - h`` and ``c + h`` are compared, and that distance is contrasted with the same
   comparison on either side (``c - 3h`` to ``c - h``, ``c + h`` to ``c + 3h``). A gradual
   transition is a change that happens across the window but not within either side of
   it; steady motion changes every window alike and scores nothing. Each run of centres
   above threshold is one transition, reported at the run's midpoint, i.e. the middle of
   the transition; ``fade`` when the pictures there are black, else ``dissolve``.
   Adjacent changes touching black frames are left to this rule, so a fade (or a cut to
   and from black) is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediaml.media.detect.features import (
    Features,
    hist_distance,
    motion_distance,
    struct_distance,
)
from mediaml.media.detect.params import DetectorParams


@dataclass(frozen=True)
class Event:
    """A detected shot change: ``frame`` is the first frame of the new shot."""

    frame: int
    kind: str
    score: float


def change_scores(a: Features, b: Features, max_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Change from frames ``a[i]`` to ``b[i]``: (combined score, structural part), 0..1.

    The combined score averages the colour histogram distance and the
    motion-compensated structure distance.
    """
    motion = motion_distance(a.z, b.z, max_shift)
    return np.asarray(0.5 * (hist_distance(a.hist, b.hist) + motion)), motion


def change_score(a: Features, b: Features, max_shift: int) -> np.ndarray:
    """The combined change score from frames ``a[i]`` to ``b[i]`` (0..1)."""
    return change_scores(a, b, max_shift)[0]


def is_dark(f: Features, p: DetectorParams) -> np.ndarray:
    """Frames that are (nearly) black: dark and without structure."""
    return np.asarray((f.mean < p.dark_luma) & (f.std < p.dark_spread))


def local_median(score: np.ndarray, window: int) -> np.ndarray:
    """Median of ``score`` over ``t - window .. t + window``, leaving out ``t - 1 .. t + 1``."""
    n = len(score)
    padded = np.concatenate([np.full(window, np.nan), score, np.full(window, np.nan)])
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1)[:n]
    keep = np.r_[0 : window - 1, window + 2 : 2 * window + 1]
    with np.errstate(all="ignore"):
        med = np.nanmedian(view[:, keep], axis=1) if n else np.zeros(0)
    return np.nan_to_num(med, nan=0.0)


def hard_cuts(f: Features, score: np.ndarray, motion: np.ndarray, p: DetectorParams) -> list[Event]:
    """Hard cuts among the frames of ``f`` (local indices).

    ``score[t]`` and ``motion[t]`` are the change from frame t-1 to t (combined, and its
    structural part). A cut needs some structural change unless both frames are flat:
    a change of colour or brightness alone (lighting, a fade starting) is not a cut.
    """
    n = len(score)
    if n < 2:
        return []
    base = local_median(score, p.window)
    prev = np.r_[-np.inf, score[:-1]]
    nxt = np.r_[score[1:], -np.inf]
    peak = (score >= prev) & (score > nxt)
    strong = (score >= p.cut_threshold) & (score >= p.cut_ratio * base + p.cut_margin)
    flat = f.std < p.flat_spread
    both_flat = flat & np.r_[False, flat[:-1]]
    strong &= (motion >= p.cut_min_structure) | both_flat
    dark = is_dark(f, p)
    touches_dark = dark | np.r_[False, dark[:-1]]
    events = []
    for t in np.flatnonzero(peak & strong & ~touches_dark):
        if t == 0 or _returns(f, int(t), float(score[t]), p):
            continue
        events.append(Event(int(t), "cut", float(score[t])))
    return events


def _returns(f: Features, t: int, score: float, p: DetectorParams) -> bool:
    """True when the picture before ``t`` comes back within ``flash_frames``."""
    n = len(f)
    pairs = [(t - 1, t + j) for j in range(1, p.flash_frames + 1) if t + j < n]
    pairs += [(t - 1 - j, t) for j in range(1, p.flash_frames + 1) if t - 1 - j >= 0]
    if not pairs:
        return False
    a = f.take(np.array([i for i, _ in pairs]))
    b = f.take(np.array([j for _, j in pairs]))
    back = change_score(a, b, p.max_shift)
    return bool(back.min() < min(p.flash_ratio * score, p.cut_threshold))


def _pair_distance(f: Features, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (
        struct_distance(f.z[i], f.z[j]),
        hist_distance(f.hist[i], f.hist[j]),
    )


def gradual_contrast(f: Features, h: int) -> np.ndarray:
    """Contrast of the change across ``c - h .. c + h`` with the changes either side.

    Centres whose side windows (``c - 3h`` .. ``c + 3h``) reach past the buffered frames
    get NaN: a gradual transition is only judged with full context.
    """
    n = len(f)
    c = np.arange(n)
    valid = (c - 3 * h >= 0) & (c + 3 * h <= n - 1)
    a, b, d, e = (np.clip(x, 0, n - 1) for x in (c - 3 * h, c - h, c + h, c + 3 * h))
    cross_s, cross_h = _pair_distance(f, b, d)
    left_s, left_h = _pair_distance(f, a, b)
    right_s, right_h = _pair_distance(f, d, e)
    g = np.maximum(
        cross_s - np.maximum(left_s, right_s),
        cross_h - np.maximum(left_h, right_h),
    )
    return np.where(valid, g, np.nan)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) of each run of True."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def fades(f: Features, p: DetectorParams) -> list[tuple[Event, int, int]]:
    """Fades through black: one per run of black frames between two different pictures.

    Returns (event, start, end): the inclusive span of the fade, from the start of the
    darkening before the black run to the end of the brightening after it. A run at either
    end of the window, or with the same picture on both sides (a dip to black within a
    shot), is not a fade.
    """
    n = len(f)
    found = []
    for first, last in _runs(is_dark(f, p)):
        if first == 0 or last >= n - 1:
            continue
        before = np.arange(max(0, first - 1 - p.flash_frames), first)
        after = np.arange(last + 1, min(n, last + 2 + p.flash_frames))
        i, j = np.meshgrid(before, after)
        struct, hist = _pair_distance(f, i.ravel(), j.ravel())
        change = float(np.min(0.5 * (struct + hist)))
        if change < p.gradual_threshold:
            continue
        start, end = first, last
        while start > 0 and f.mean[start - 1] > f.mean[start] + 0.5:
            start -= 1  # the fade-out ramp
        while end < n - 1 and f.mean[end + 1] > f.mean[end] + 0.5:
            end += 1  # the fade-in ramp
        found.append((Event((first + last + 1) // 2, "fade", change), start, end))
    return found


def gradual(f: Features, cuts: list[Event], p: DetectorParams) -> list[Event]:
    """Dissolves and fades among the frames of ``f`` (local indices)."""
    cut_frames = np.array([e.frame for e in cuts], dtype=np.int64)
    fade_found = fades(f, p)
    events = [e for e, _, _ in fade_found]
    dark_spans = [(first, last) for _, first, last in fade_found]
    found: list[tuple[int, float, int]] = []
    for h in p.gradual_scales:
        g = gradual_contrast(f, h)
        for first, last in _runs(np.nan_to_num(g, nan=-1.0) >= p.gradual_threshold):
            lo, hi = first - h, last + h
            if cut_frames.size and ((cut_frames > lo) & (cut_frames <= hi)).any():
                continue  # a hard cut explains this change
            if any(a <= hi and b >= lo for a, b in dark_spans):
                continue  # part of a fade
            found.append(((first + last + 1) // 2, float(np.nanmax(g[first : last + 1])), h))
    for frame, score, h in sorted(found, key=lambda x: -x[1]):
        if any(abs(frame - e.frame) <= max(h, 2) for e in events):
            continue
        events.append(Event(frame, "dissolve", score))
    return sorted(events, key=lambda e: e.frame)


def decide(f: Features, score: np.ndarray, motion: np.ndarray, p: DetectorParams) -> list[Event]:
    """All shot changes among the frames of ``f`` (local indices), in frame order.

    ``score``/``motion``: per frame, the change from the previous frame (see `change_scores`).
    """
    cuts = hard_cuts(f, score, motion, p)
    return sorted(cuts + gradual(f, cuts, p), key=lambda e: e.frame)
