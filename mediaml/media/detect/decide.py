"""Decide where shots change, from the features of a window of frames (pure).

Four rules, applied to frames with enough context on both sides:

1. **Hard cuts**: the change score between adjacent frames (colour histogram distance
   plus motion-compensated structure distance, averaged) is a local peak, above an
   absolute floor, with some structural change, and well above the local level (the
   median score on the busier side). Steady fast motion, grain or animation raise that
   level, so they do not cut; a shot only a few frames long still gives two clear peaks.
2. **Flashes**: a peak is dropped when the picture returns: a frame just before the peak
   matches a frame just after it (within ``flash_frames``), by structure, or by the full
   score relative to the shot's usual change. This removes camera flashes, lightning
   and brief occlusions without looking at brightness as such. Nor is a peak where
   one picture is the other blurred (motion blur starting or stopping), or the other
   shifted as a whole with the next or previous step shifting alike (a steady move);
   nor a step inside a burst of motion that leaves much of the picture unchanged
   (something sweeping past part of the lens: a cut changes the whole picture).
3. **Fades through black**: each run of black frames, widened by the darkening and
   brightening ramps around it, is one span; it is a ``fade`` (reported at the middle of
   the black run) when the pictures on either side differ, and nothing when they match
   (a dip to black within a shot). Hard cuts and dissolves inside a span are dropped,
   so a fade, or a cut to black and back, is reported once; but a hard cut between two
   visible frames of the brightening ramp ends the span (a fade-in shows one picture).
4. **Dissolves**: at several scales ``h`` the frames ``c - h`` and ``c + h`` are compared
   and that distance is contrasted with the same comparison on either side
   (``c - 3h`` to ``c - h``, ``c + h`` to ``c + 3h``), by structure and by colour. A
   gradual transition is a change across the window that happens in neither side;
   steady motion changes every window alike and scores nothing. A side stops at a hard
   cut (it measures its own shot only; too short a side is not trusted), and a run
   whose window contains a hard cut is that cut. Overlapping runs (scales) are one
   transition, reported at its middle: the frames around it are fitted as mixes of the
   pictures before and after, and the middle is where the mix tips from the outgoing
   shot to the incoming one (a cross-dissolve is a linear mix). A blurred whip pan is
   such a mix too, but its ends are one view shifted, or its motion blur starts or
   stops from one frame to the next: that is a camera move.

Before any of this, the video's first frames cannot end a shot that has no calm step:
a video opening on something passing the lens is not a cut at frame 1; nor can its
last two frames open one (no shot is that short). A step whose picture is the one
before at another scale is a cut even when it changes little (`framing`: two
framings of one set; no camera rescales its picture between two frames).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from mediaml.media.detect.blocks import unchanged_blocks
from mediaml.media.detect.burst import is_motion
from mediaml.media.detect.features import (
    NORM_FLOOR,
    Features,
    hist_distance,
    motion_distance,
    struct_distance,
)
from mediaml.media.detect.framing import framing_jumps
from mediaml.media.detect.params import DetectorParams

REPEAT_SCORE = 0.01
"""A change score below this is a frame repeated (a frame-rate conversion's duplicate,
re-encoded), not a calm step of its own."""


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
    motion = motion_distance(a.zs, b.zs, max_shift)
    return np.asarray(0.5 * (hist_distance(a.hist, b.hist) + motion)), motion


def change_score(a: Features, b: Features, max_shift: int) -> np.ndarray:
    """The combined change score from frames ``a[i]`` to ``b[i]`` (0..1)."""
    return change_scores(a, b, max_shift)[0]


def is_dark(f: Features, p: DetectorParams) -> np.ndarray:
    """Frames that are dark and show little structure (luma mean and spread low)."""
    return np.asarray((f.mean < p.dark_luma) & (f.std < p.dark_spread))


def is_black(f: Features, p: DetectorParams) -> np.ndarray:
    """Frames of the dark runs (see `is_dark`) that go black: the run holds a flat frame.

    A fade through black reaches a picture without structure (luma spread under
    ``flat_spread``); a dim shot, or something dark passing the lens, stays dark but
    keeps some structure, and is no fade.
    """
    dark = is_dark(f, p)
    for first, last in _runs(dark):
        if f.std[first : last + 1].min() >= p.flat_spread:
            dark[first : last + 1] = False
    return dark


def local_level(score: np.ndarray, window: int) -> np.ndarray:
    """The busier side's typical change around each frame.

    The median of ``score`` over the ``window`` frames before ``t - 1`` and over those
    after ``t + 1``, whichever is larger. Leaving out the neighbours keeps a second cut
    (a shot a few frames long) or a flash from raising the level; taking the busier side
    makes a cut between a calm and a busy shot stand out from the busy one.
    """
    return np.nan_to_num(np.fmax(*side_levels(score, window)), nan=0.0)


def side_levels(score: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The typical change before and after each frame: (before, after), NaN where unknown.

    The median of ``score`` over the ``window`` frames before ``t - 1``, and over those
    after ``t + 1`` (see `local_level`).
    """
    n = len(score)
    pad = np.full(window + 2, np.nan)
    padded = np.concatenate([pad, score, pad])
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 5)[:n]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        left = np.nanmedian(view[:, :window], axis=1)
        right = np.nanmedian(view[:, -window:], axis=1)
    return left, right


def cut_evidence(
    f: Features, score: np.ndarray, motion: np.ndarray, p: DetectorParams
) -> dict[str, np.ndarray]:
    """Per frame, the evidence for a hard cut between frames t-1 and t.

    Returns arrays ``colour`` (histogram distance to the previous frame), ``level``
    (`local_level`), ``neighbours`` (the larger change of the two adjacent steps),
    ``dominance`` (how many times larger this step is than its neighbours, by the combined
    score or, for a cut into fast motion, by colour alone) and ``candidate`` (peaks that
    pass every test before the flash check).

    A cut is one dominant step: its change stands out from the steps right before and
    after it (a dissolve or a fast camera move spreads its change over several steps),
    and from the local level. A step that towers over its neighbours needs less margin
    over a busy local level, so a cut into a shot opening with fast motion is kept.
    """
    n = len(score)
    before, after = side_levels(score, p.window)
    base = np.nan_to_num(np.fmax(before, after), nan=0.0)
    calm = np.nan_to_num(np.fmin(before, after), nan=0.0)
    prev = np.r_[0.0, score[:-1]]
    nxt = np.r_[score[1:], 0.0]
    colour = hist_distance(f.hist, np.concatenate([f.hist[:1], f.hist[:-1]]))
    cprev = np.r_[0.0, colour[:-1]]
    cnext = np.r_[colour[1:], 0.0]
    neighbours = np.fmax(prev, nxt)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_score = score / np.maximum(neighbours, 1e-3)
        by_colour = np.where(
            colour >= p.cut_threshold, colour / np.maximum(np.fmax(cprev, cnext), 1e-3), 0.0
        )
    dominance = np.fmax(by_score, by_colour)
    peak = (score >= prev) & (score > nxt) | (by_colour >= p.cut_dominance)
    usual = score >= p.cut_ratio * base + p.cut_margin
    sharp = (dominance >= p.sharp_dominance) & (score >= p.sharp_ratio * base + p.sharp_margin)
    strong = (score >= p.cut_threshold) & (dominance >= p.cut_dominance) & (usual | sharp)
    # A one-frame step towering over both neighbours is a cut even when it is small (two
    # framings of one set, nearly the same colours and layout): only a cut, a flash or a
    # change of motion blur or a steady move's step (all checked below) is so lone. Its
    # neighbours are calm, so it is no step of steady motion: it is judged against the
    # calmer side's level (a burst of motion on the other side does not hide it).
    strong |= (
        (score >= p.tower_threshold)
        & (dominance >= p.tower_dominance)
        & (score >= p.cut_ratio * calm + p.cut_margin)
    )
    # Two framings of one set share their colours: such a cut is carried by structure
    # alone, so it is judged on structure alone too (its own level and neighbours).
    with np.errstate(divide="ignore", invalid="ignore"):
        by_structure = motion / np.maximum(
            np.fmax(np.r_[0.0, motion[:-1]], np.r_[motion[1:], 0.0]), 1e-3
        )
    structural = (
        (motion >= p.structure_cut)
        & (by_structure >= p.cut_dominance)
        & (motion >= p.cut_ratio * local_level(motion, p.window) + p.cut_margin)
    )
    by_structure_only = structural & ~(peak & strong)
    peak |= structural
    strong |= structural
    dominance = np.fmax(dominance, np.where(structural, by_structure, 0.0))
    # The first or last big step of a burst of motion (a cut into a shot that opens on
    # a sweep or a whip already under way, or out of one that closes on it): the step
    # towers over the calm side only, so it is no peak, but it is a cut when it clears
    # the level as a usual cut does (the rules in `hard_cuts` still apply).
    burst_edge = burst_edges(score, base, p) & usual
    edge = burst_edge & ~(peak & strong)
    # such a step is judged as one, even when its structure alone also made it a
    # candidate: the wider search guards only cuts found by structure alone
    by_structure_only &= ~burst_edge
    peak |= edge
    strong |= edge
    flat = f.std < p.flat_spread
    both_flat = flat & np.r_[False, flat[:-1]]
    # Between two featureless frames only a change to clearly different colours counts.
    strong &= (motion >= p.cut_min_structure) | (both_flat & (colour >= p.flat_cut_colour))
    dark = is_black(f, p)
    touches_dark = dark | np.r_[False, dark[:-1]]
    candidate = peak & strong & ~touches_dark
    # A cut between two framings of one set (close-up <-> wider) can change less than
    # the usual rules ask; but no camera rescales its picture at once (`framing`).
    structured = np.minimum(f.std, np.r_[0.0, f.std[:-1]]) >= NORM_FLOOR
    maybe = (score >= p.reframe_floor) & (dominance >= p.reframe_dominance) & structured
    for t in np.flatnonzero(maybe & ~candidate & ~touches_dark):
        candidate[t] = framing_jumps(f, int(t), p)
    if n:
        candidate[0] = False
    return {
        "colour": colour,
        "level": base,
        "neighbours": neighbours,
        "dominance": np.minimum(dominance, 99.0),
        "candidate": candidate,
        "by_structure_only": by_structure_only,
        "edge": edge,
    }


def burst_edges(score: np.ndarray, level: np.ndarray, p: DetectorParams) -> np.ndarray:
    """Steps that open or close a burst of big changes, towering over the calm side.

    A cut into a shot that opens on fast motion (a sweep past the lens, a whip already
    under way) is followed by more big steps, and a cut out of a shot that closes on
    one is preceded by them: the cut is no peak among its neighbours, but it is
    ``edge_dominance`` times the step on its calm side, while the other side's step is
    big (above the local level plus ``cut_margin``). A near-zero step (a frame repeated
    by a frame-rate conversion) is no calm step: the one beyond it counts instead.
    The first and last two steps of the window have no second step to judge by.
    """
    n = len(score)
    edge = np.zeros(n, dtype=bool)
    if n < 5 or p.edge_dominance <= 0:
        return edge
    big = score >= level + p.cut_margin
    prev, prev2, nxt, nxt2 = score[1:-3], score[:-4], score[3:-1], score[4:]
    calm_before = np.where(prev >= REPEAT_SCORE, prev, prev2)
    calm_after = np.where(nxt >= REPEAT_SCORE, nxt, nxt2)
    t = score[2:-2]
    edge[2:-2] = (t >= p.cut_threshold) & (
        ((t >= p.edge_dominance * calm_before) & big[3:-1])
        | ((t >= p.edge_dominance * calm_after) & big[1:-3])
    )
    return edge


def hard_cuts(
    f: Features, score: np.ndarray, motion: np.ndarray, p: DetectorParams
) -> tuple[list[Event], dict[str, np.ndarray]]:
    """Hard cuts among the frames of ``f`` (local indices), and the evidence behind them.

    ``score[t]`` and ``motion[t]`` are the change from frame t-1 to t (combined, and its
    structural part). A cut needs some structural change unless both frames are flat:
    a change of colour or brightness alone (lighting, a fade starting) is not a cut.
    Candidates whose picture returns within ``flash_frames`` are flashes (evidence
    ``flash``).
    """
    ev = cut_evidence(f, score, motion, p)
    flash = np.zeros(len(score), dtype=bool)
    moving = np.zeros(len(score), dtype=bool)
    still = np.zeros(len(score), dtype=np.int64)
    ev["still"] = still  # filled below; `burst.burst_evidence` reads the candidate's count
    events = []
    for t in np.flatnonzero(ev["candidate"]):
        if (
            ev["by_structure_only"][t]
            and not _towers_over_wider_search(f, int(t), p)
            # a pan rescales nothing: a change of framing is no pan just past the search
            and not framing_jumps(f, int(t), p)
        ):
            ev["candidate"][t] = False
            continue
        step = _step_unchanged(f, int(t), p)
        if (
            _opens_the_video(int(t), score, float(ev["level"][t]), p)
            or _ends_the_video(int(t), len(score), p)
            or _returns(f, int(t), float(score[t]), float(ev["level"][t]), p, step)
            or _passes_by(f, int(t), score, float(ev["level"][t]), p, step)
            or _blurred(f, int(t), float(motion[t]), p)
        ):
            flash[t] = True
            continue
        if _steady_move(f, int(t), p):
            flash[t] = moving[t] = True
            continue
        if ev["dominance"][t] < p.tower_dominance:
            still[t] = step()
            if still[t] >= p.still_blocks:
                flash[t] = True
                continue
            if is_motion(f, int(t), score, motion, ev, p):
                flash[t] = moving[t] = True
                continue
        events.append(Event(int(t), "cut", float(score[t])))
    events = [e for e in events if not _in_a_move(e.frame, moving, score, ev, p)]
    events = _one_per_disturbance(f, events, score, ev, p)
    ev["flash"] = flash
    return events, ev


def _in_a_move(
    t: int, moving: np.ndarray, score: np.ndarray, ev: dict[str, np.ndarray], p: DetectorParams
) -> bool:
    """True when a steadier-looking step of a steady move is ``t``'s neighbour in one burst.

    The steps of one fast move (no calm step between them, at most ``sweep_frames``
    apart) are one disturbance: when its most dominant step is a steady move (see
    `_steady_move`), a weaker big step of the same burst is part of that move.
    """
    lo, hi = max(1, t - p.sweep_frames), min(len(score), t + p.sweep_frames + 1)
    for m in np.flatnonzero(moving[lo:hi]) + lo:
        a, b = sorted((int(m), t))
        calm = score[a + 1 : b] < ev["level"][a + 1 : b] + p.cut_margin
        if not calm.any() and ev["dominance"][m] > ev["dominance"][t]:
            return True
    return False


def _one_per_disturbance(
    f: Features,
    events: list[Event],
    score: np.ndarray,
    ev: dict[str, np.ndarray],
    p: DetectorParams,
) -> list[Event]:
    """Of cuts a few frames apart with no calm step between them, keep the dominant one.

    Cuts ``flash_frames`` or fewer apart are always one: no shot is that short.

    A cut into (or out of) fast motion, such as something sweeping past the lens, is
    followed (or preceded) by several big changes, one of which may also look like a
    cut; but a shot needs at least one calm step to be a shot. Two cuts around a short
    shot are kept: inside the shot the picture settles, or both steps tower over their
    neighbours (``sharp_dominance``) and the frames between show neither the picture
    before nor the one after (see `_continues`: a cut into something already sweeping
    past the lens towers, and so does the sweep's leaving, but the frames between are
    the new shot partly covered). The same holds when only the later cut towers and
    the two are ``short_shot`` frames apart or more (see `_short_shot`).
    """
    kept: list[Event] = []
    for e in events:
        if kept and e.frame - kept[-1].frame <= p.flash_frames:
            # a "shot" of flash_frames frames or fewer is a flash or a jolt, not a shot
            if ev["dominance"][e.frame] > ev["dominance"][kept[-1].frame]:
                kept[-1] = e
            continue
        if kept and e.frame - kept[-1].frame <= p.sweep_frames:
            c = kept[-1].frame
            calm = score[c + 1 : e.frame] < ev["level"][c + 1 : e.frame] + p.cut_margin
            weaker = min(ev["dominance"][e.frame], ev["dominance"][c])
            if not calm.any() and weaker < p.sharp_dominance and not _short_shot(c, e.frame, ev, p):
                if ev["dominance"][e.frame] > ev["dominance"][c]:
                    kept[-1] = e
                continue
            if not calm.any():
                same = _continues(f, c, e.frame, p)
                if same == "after":
                    continue  # the frames between are the next shot, partly covered
                if same == "before":
                    kept[-1] = e
                    continue
        kept.append(e)
    return kept


def _short_shot(c: int, e: int, ev: dict[str, np.ndarray], p: DetectorParams) -> bool:
    """True when cuts ``c`` and ``e`` may be the two ends of a short shot full of motion.

    A shot a few frames long full of motion (fast action, something sweeping past the
    lens all through it) has no calm step, so its opening cut and its closing one look like one disturbance,
    and the opening cut, which does not tower over the sweep's first steps, was
    dropped for the closing one. Two candidates of one disturbance lie closer: a sweep
    or a whip takes a few frames, so a step at its start and a towering cut as it ends
    are under ``short_shot`` frames apart. When the later cut towers
    (``sharp_dominance``), the earlier one does not, and they are ``short_shot`` frames
    apart or more, the pair is judged as two towering cuts are (`_continues`).
    """
    later, earlier = ev["dominance"][e], ev["dominance"][c]
    return bool(e - c >= p.short_shot and later >= p.sharp_dominance > earlier)


def _continues(f: Features, c: int, e: int, p: DetectorParams) -> str:
    """Which picture the frames between cuts ``c`` and ``e`` show, if one of them.

    "after" when some frame between is the picture at ``e`` in most blocks (median
    block distance under ``flash_ratio`` of the change across ``e``): something passing
    the lens covered part of it, and its leaving at ``e`` is no cut. "before" likewise
    with the picture before ``c``. "" when neither (a shot of its own).
    """
    middle = np.arange(c, e)
    for name, end, cut in (("after", e, e), ("before", c - 1, c)):
        across = float(motion_distance(f.zs[[cut - 1]], f.zs[[cut]], p.max_shift)[0])
        blocks = motion_distance(
            f.zs[np.full(len(middle), end)], f.zs[middle], p.max_shift, per_block=True
        )
        if float(np.median(blocks, axis=1).min()) < p.flash_ratio * across:
            return name
    return ""


def _towers_over_wider_search(f: Features, t: int, p: DetectorParams) -> bool:
    """True when step ``t``'s structure change towers over its neighbours' searched wider.

    A cut found by structure alone must not be a pan just faster than the motion
    search: with the search range doubled, a pan's steps all drop alike, while a cut's
    neighbours (calm, or ordinary motion) drop to nothing and the cut stands out.
    """
    idx = np.array([i for i in (t - 1, t, t + 1) if 1 <= i < len(f)])
    wide = motion_distance(f.zs[idx - 1], f.zs[idx], 2 * p.max_shift)
    m = dict(zip(idx.tolist(), wide.tolist(), strict=True))
    neighbours = max(m.get(t - 1, 0.0), m.get(t + 1, 0.0))
    return bool(m[t] >= p.sharp_dominance * neighbours)


def _opens_the_video(t: int, score: np.ndarray, level: float, p: DetectorParams) -> bool:
    """True when ``t`` is within the first frames and no calm step comes before it.

    Frames 0 .. t-1 would be the video's first shot, but a shot needs at least one calm
    step; a video that opens on something passing the lens (or a leader frame) settles
    at ``t`` instead, and there are no earlier frames to tell that apart by `_returns`
    or `_passes_by`. Only applies where the window is the start of the video (in a
    later window these frames are context, decided earlier).
    """
    if t > p.sweep_frames:
        return False
    return not bool((score[1:t] < level + p.cut_margin).any())


def _ends_the_video(t: int, n: int, p: DetectorParams) -> bool:
    """True when the shot ``t`` would open lasts ``flash_frames`` frames or fewer.

    No shot is that short (two cuts that close are one, see `_one_per_disturbance`):
    a change in the video's last frames is something starting (a sweep past the lens,
    a whip, a flash) with no frames after it to show that the picture comes back or
    settles. Only applies where the window ends with the video (in an earlier window
    these frames are context, decided later).
    """
    return n - t <= p.flash_frames


def _step_unchanged(f: Features, t: int, p: DetectorParams) -> Callable[[], int]:
    """`unchanged_blocks` across step ``t``, counted on the first call and remembered:
    `_returns`, `_passes_by` and `hard_cuts` each may ask for it."""
    return cache(lambda: unchanged_blocks(f.z[t - 1], f.z[t], p))


def _passes_by(
    f: Features,
    t: int,
    score: np.ndarray,
    level: float,
    p: DetectorParams,
    step: Callable[[], int],
) -> bool:
    """True when ``t`` lies in a brief disturbance after which the earlier picture is back.

    Something passing right in front of the lens (an arm, a car, a passer-by), or a
    whip away and back, changes the picture a lot for a few frames in a row; any step
    inside that run may look like a cut. The run is the big steps around ``t`` (each
    over the level plus ``cut_margin``); when a frame from just before the run matches
    one from its end (searched widely: the scene moved meanwhile) within
    ``sweep_frames``, the picture came back, so nothing inside the run is a cut. A
    short shot between two cuts is calm inside, so it is not one run.

    As in `_returns`, shapes lining up under the wide search is not enough: the step
    must leave part of the picture unchanged (the passer-by covers only part of it),
    or the matching frame must hold some block of the earlier picture unchanged (one
    is enough: over the run the camera moves on, beyond the block search). A cut to
    another shot in the middle of a sweep past the lens (the sweep starts in one shot
    and ends in the next) does neither.
    """
    n = len(score)
    big = score >= level + p.cut_margin
    s = t
    while s - 1 >= 1 and big[s - 1] and t - s < p.sweep_frames:
        s -= 1
    e = t
    while e + 1 < n and big[e + 1] and e - t < p.sweep_frames:
        e += 1
    pairs = [
        (a, b)
        for a in range(s - 1, t)
        for b in range(e, t - 1, -1)
        if p.flash_frames + 1 < b - a <= p.sweep_frames + 1
    ]
    if not pairs:
        return False
    # one motion search for every pair, and the change across the step once
    first, last = (np.array([x[k] for x in pairs] + [t - 1 + k]) for k in (0, 1))
    found = motion_distance(f.zs[first], f.zs[last], p.wide_shift)
    back, across = found[:-1], float(found[-1])
    colour = hist_distance(f.hist[first[:-1]], f.hist[last[:-1]])
    close = np.flatnonzero((back < p.flash_ratio * across) & (colour < 0.5))
    if not close.size:
        return False
    # over a run of up to sweep_frames the camera moves on, so only part of the
    # earlier picture may be back within the block search: one block is enough
    return step() >= 1 or any(_back(f, int(first[i]), int(last[i]), 1, p) for i in close)


def _back(f: Features, a: int, b: int, blocks: int, p: DetectorParams) -> bool:
    """True when picture ``b`` shows picture ``a`` again: ``blocks`` or more of its
    blocks unchanged. A widened motion search lines up the shapes of two framings of
    one set too; their blocks do not match."""
    return unchanged_blocks(f.z[a], f.z[b], p) >= blocks


_BLUR_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)


@cache
def _blur_matrices(n: int) -> np.ndarray:
    """(len(_BLUR_SIGMAS), n, n) Gaussian blurs along one axis: ``x @ m`` blurs x's rows."""
    i = np.arange(n)
    sigma = np.asarray(_BLUR_SIGMAS)[:, None, None]
    m = np.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * sigma**2))
    m /= m.sum(axis=1, keepdims=True)
    # Weights too small for a normal float32 are 0 (they add nothing a float32 sum can
    # hold); as subnormals they made the blur ~20x slower.
    m[m < np.finfo(np.float32).tiny] = 0.0
    return np.asarray(m, dtype=np.float32)


def _sharpness(z: np.ndarray, axis: int) -> np.ndarray:
    """Mean absolute gradient of pictures ``z`` (..., H, W) along ``axis`` (-1: x, -2: y)."""
    return np.asarray(np.abs(np.diff(z, axis=axis)).mean(axis=(-2, -1)))


def _blurred(f: Features, t: int, across: float, p: DetectorParams) -> bool:
    """True when one of the pictures either side of step ``t`` is the other blurred.

    The motion blur of a whip pan (or of anything moving fast) can start or stop from
    one frame to the next: the picture changes a lot, but it is the same view. When one
    picture is at most ``blur_sharpness`` as sharp as the other along x or y, the
    sharper is blurred along that axis until it is as soft and compared again (motion
    search, as for ``across``, the structure change of the step); much closer than
    across (``flash_ratio``) means a change of blur, not a cut.
    """
    pair = f.z[[t - 1, t]]
    for axis in (-1, -2):
        sa, sb = _sharpness(pair, axis).tolist()
        if min(sa, sb) > p.blur_sharpness * max(sa, sb):
            continue
        sharp, soft = (0, 1) if sa > sb else (1, 0)
        m = _blur_matrices(pair.shape[axis])
        blurred = pair[sharp] @ m if axis == -1 else np.swapaxes(m, 1, 2) @ pair[sharp]
        # at the structure's scale: zero mean, unit spread (as `features.extract` does)
        blurred = blurred - blurred.mean(axis=(-2, -1), keepdims=True)
        blurred /= np.maximum(blurred.std(axis=(-2, -1), keepdims=True), 1e-3)
        enough = np.flatnonzero(_sharpness(blurred, axis) <= _sharpness(pair[soft], axis))
        pick = blurred[enough[0] if enough.size else -1]
        h, w = pick.shape
        small = pick.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        near = float(motion_distance(small[None], f.zs[t - 1 + soft][None], p.max_shift)[0])
        if near < p.flash_ratio * across:
            return True
    return False


def _returns(
    f: Features, t: int, score: float, level: float, p: DetectorParams, step: Callable[[], int]
) -> bool:
    """True when the picture before ``t`` comes back within ``flash_frames``.

    "Comes back" means: the structure (brightness-independent, so a flash or a fade-in
    does not matter) is much closer than across the candidate cut, or the full change
    score is no more than this shot's usual frame-to-frame change (grain, animation).
    The motion search is widened by the frame gap so a fast pan still lines up, and the
    change across the candidate is measured with the same search: a wider search finds
    some match between any two pictures, so only like is compared with like. For the
    same reason the usual change (the local level, searched ``max_shift`` wide) is
    compared with the structure searched ``max_shift`` wide too, unless the step is a
    flash (colours changing by ``flash_colour`` or more): a flash in a moving shot lines
    up only with the wider search. (The narrower search is made only for a pair the
    wider one found back, as it is never closer.) Otherwise a cut to another framing
    of the same footage as the camera moves, whose palette is soon nearly back, was
    taken for a brief disturbance.

    Shapes lining up is not enough for the structure test: the picture itself must be
    back. Something passing the lens covers part of the picture and leaves the rest
    unchanged across the step (some block of `unchanged_blocks`); a flash, or anything
    covering the whole frame, leaves nothing unchanged across the step, but then the
    earlier picture is back in ``still_blocks`` or more blocks. A cut to another
    framing of the same set next to something dark sweeping past the lens does
    neither: the widened search lines the set's shapes up, and the sweep inflates the
    change across the step, but no part of the picture is the same.
    """
    n = len(f)
    colour_across = float(hist_distance(f.hist[t - 1], f.hist[t]))
    # A repeated frame (a frame-rate conversion's duplicate) adds no time to a flash:
    # for each repeat next to the step, the picture from before the flash is also
    # compared with the frames one further on, across the whole flash.
    extra = _repeats(f, t, 1, p) + _repeats(f, t - 1, -1, p)
    for j in range(1, p.flash_frames + extra + 1):
        pairs = [(a, b) for a, b in ((t - 1, t + j), (t - 1 - j, t)) if a >= 0 and b < n]
        if extra:  # every other pair j + 1 apart across the step
            pairs += [
                (t - 1 - i, t + j - i) for i in range(1, j) if t - 1 - i >= 0 and t + j - i < n
            ]
        if not pairs:
            continue
        # both pairs are j + 1 frames apart: one search, the change across measured once
        a_, b_ = (np.array([x[k] for x in pairs]) for k in (0, 1))
        found = motion_distance(
            f.zs[np.r_[a_, t - 1]], f.zs[np.r_[b_, t]], p.max_shift * (j + 1)
        ).tolist()
        across = found[-1]
        change = min(score, 0.5 * (across + colour_across))
        usual = min(level + p.cut_margin, p.flash_ratio * change)
        for (a, b), struct in zip(pairs, found, strict=False):
            colour = float(hist_distance(f.hist[a], f.hist[b]))
            structured = min(f.std[a], f.std[b]) >= p.flat_spread
            lined_up = structured and struct < p.flash_ratio * across and colour < 0.5
            # and the step leaves part of the picture unchanged (something passing the
            # lens covers only part of it), or the earlier picture is back
            if lined_up and (step() >= 1 or _back(f, a, b, p.still_blocks, p)):
                return True
            if 0.5 * (struct + colour) <= usual:
                if colour_across >= p.flash_colour:
                    return True
                # searched only as wide as the level (never closer than the wide search)
                near = float(motion_distance(f.zs[[a]], f.zs[[b]], p.max_shift)[0])
                if 0.5 * (near + colour) <= usual:
                    return True
    return False


def _repeats(f: Features, t: int, way: int, p: DetectorParams) -> int:
    """How many of the ``flash_frames`` frames after (``way`` 1) or before (-1) frame
    ``t`` repeat their neighbour towards ``t`` exactly (a structured picture, the same
    luma level, spread and normalised luma)."""
    count, i = 0, t
    while count < p.flash_frames and 0 <= i + way < len(f):
        a, b = sorted((i, i + way))
        same = f.mean[a] == f.mean[b] and f.std[a] == f.std[b] and f.std[a] >= p.flat_spread
        if not (same and np.array_equal(f.z[a], f.z[b])):
            break
        count, i = count + 1, i + way
    return count


def _pair_distance(f: Features, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (
        struct_distance(f.z[i], f.z[j]),
        hist_distance(f.hist[i], f.hist[j]),
    )


def gradual_contrast(f: Features, h: int, cuts: np.ndarray | None = None) -> np.ndarray:
    """Contrast of the change across ``c - h .. c + h`` with the changes either side.

    The sides are ``c - 3h .. c - h`` and ``c + h .. c + 3h``, each cut short at a hard
    cut in ``cuts`` (frame numbers: first frames of new shots), so a side only measures
    how fast its own shot changes, and a dissolve between two cuts a couple of seconds
    apart is still contrasted with its shots. A side cut shorter than ``h`` frames says
    too little: the centre gets NaN, as do centres whose sides reach past the buffered
    frames (a gradual transition is only judged with full context).
    """
    n = len(f)
    c = np.arange(n)
    valid = (c - 3 * h >= 0) & (c + 3 * h <= n - 1)
    a, b, d, e = (np.clip(x, 0, n - 1) for x in (c - 3 * h, c - h, c + h, c + 3 * h))
    if cuts is not None and len(cuts):
        cuts = np.sort(np.asarray(cuts, dtype=np.int64))
        # the last cut at or before b starts b's shot; the first cut after d ends d's
        last = np.searchsorted(cuts, b, side="right") - 1
        a = np.where(last >= 0, np.maximum(a, cuts[np.maximum(last, 0)]), a)
        nxt = np.searchsorted(cuts, d, side="right")
        e = np.where(nxt < len(cuts), np.minimum(e, cuts[np.minimum(nxt, len(cuts) - 1)] - 1), e)
    judged = np.flatnonzero(valid & (b - a >= h) & (e - d >= h))
    a, b, d, e = a[judged], b[judged], d[judged], e[judged]
    # All three pairs of a judged centre are 2h frames apart unless a cut shortened a
    # side: the distance from each frame to the one 2h later, computed once, serves
    # them all; only the shortened sides are paired one by one.
    span = 2 * h
    step_s = struct_distance(f.z[: max(0, n - span)], f.z[span:])
    step_h = hist_distance(f.hist[: max(0, n - span)], f.hist[span:])
    cross_s, cross_h = step_s[b], step_h[b]
    left_s, left_h = _side_distance(f, step_s, step_h, a, b, span)
    right_s, right_h = _side_distance(f, step_s, step_h, d, e, span)
    g = np.maximum(
        cross_s - np.maximum(left_s, right_s),
        cross_h - np.maximum(left_h, right_h),
    )
    out = np.full(n, np.nan, dtype=g.dtype)
    out[judged] = g
    return out


def _side_distance(
    f: Features, step_s: np.ndarray, step_h: np.ndarray, i: np.ndarray, j: np.ndarray, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """`_pair_distance` of frames ``i`` and ``j``, read from the ``span``-apart steps where
    ``j - i == span`` (bit for bit the same numbers)."""
    s, hh = step_s[i], step_h[i]
    short = np.flatnonzero(j - i != span)
    if short.size:
        s[short], hh[short] = _pair_distance(f, i[short], j[short])
    return s, hh


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) of each run of True."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def fades(
    f: Features, p: DetectorParams, cuts: np.ndarray | None = None
) -> list[tuple[Event | None, int, int]]:
    """Runs of black frames, with their fade ramps, and whether each is a fade.

    Returns (event, start, end) per run: the inclusive span from the start of the
    darkening before the black run to the end of the brightening after it, and a
    ``fade`` event at the middle of the black run, or None when the same picture is on
    both sides (a dip to black within a shot) or the run touches the window's edge.
    Hard cuts and dissolves inside a span are not reported: the span is one transition.

    A hard cut in ``cuts`` (first frames of new shots) inside a ramp ends the span
    when the ramp before the cut shows the picture from before the darkening (or
    starts it when the ramp after the cut shows the picture from after the
    brightening): the dip was within one shot (something dark passing the lens), and
    the cut is the transition.
    """
    n = len(f)
    found: list[tuple[Event | None, int, int]] = []
    for first, last in _runs(is_black(f, p)):
        start, end = _ramps(f, first, last)
        dip = _dip_before_cut(f, start, last, end, cuts, p)
        if dip is not None:
            found.append((None, dip[0], dip[1]))
            continue
        event = None
        if first > 0 and last < n - 1:
            before = np.arange(max(0, start - 1 - p.flash_frames), start)
            after = np.arange(end + 1, min(n, end + 2 + p.flash_frames))
            if before.size and after.size:
                i, j = np.meshgrid(before, after)
                struct, hist = _pair_distance(f, i.ravel(), j.ravel())
                change = float(np.min(0.5 * (struct + hist)))
                if change >= p.gradual_threshold:
                    event = Event((first + last + 1) // 2, "fade", change)
        found.append((event, start, end))
    return found


def _ramps(f: Features, first: int, last: int) -> tuple[int, int]:
    """The dark run ``first..last`` widened by the darkening and brightening around it.

    A fade scales the picture: its luma's mean and spread fall (or rise) together.
    """
    level = np.hypot(f.mean, f.std)
    start, end = first, last
    while start > 0 and level[start - 1] > level[start] + 0.5:
        start -= 1  # the fade-out ramp
    while end < len(f) - 1 and level[end + 1] > level[end] + 0.5:
        end += 1  # the fade-in ramp
    return start, end


def _dim_spans(f: Features, p: DetectorParams) -> list[tuple[int, int]]:
    """The dark runs that never go black (see `is_black`), with their ramps."""
    black = is_black(f, p)
    return [_ramps(f, a, b) for a, b in _runs(is_dark(f, p)) if not black[a]]


def _dip_before_cut(
    f: Features, start: int, last: int, end: int, cuts: np.ndarray | None, p: DetectorParams
) -> tuple[int, int] | None:
    """The span of a dark dip that a hard cut in its brightening ramp ends, if any.

    A fade-in shows the new shot growing brighter, the same picture frame after frame,
    so a hard cut between two frames of the ramp bright enough to show their structure
    (spread ``NORM_FLOOR`` or more) is no step of a fade-in: the dark run was a dip
    (something dark passing the lens) and the cut is the transition. Returns the span
    up to the frame before the cut; None when no cut qualifies.
    """
    if cuts is None:
        return None
    for c in cuts[(cuts > last + 1) & (cuts <= end + 1) & (cuts < len(f))]:
        if min(f.std[c - 1], f.std[c]) >= NORM_FLOOR:
            return start, int(c) - 1
    return None


def _raw_luma(f: Features, frames: np.ndarray) -> np.ndarray:
    """The half-size luma pictures of ``frames``, brightness and contrast put back, flat."""
    std = np.maximum(f.std[frames], 1e-3)[:, None, None]
    return np.asarray(f.zs[frames] * std + f.mean[frames][:, None, None]).reshape(len(frames), -1)


def _mix_fit(
    f: Features, before: int, after: int, frames: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Each of ``frames`` fitted as ``a * before + (1 - a) * after`` (raw luma, least
    squares): its ``a`` (unclipped) and its residual with ``a`` held to 0..1, relative
    to the difference between the end pictures. None when the ends are the same picture.
    """
    a, b = _raw_luma(f, np.array([before, after]))
    d = a - b
    dd = float(d @ d)
    if dd < 1e-6:
        return None
    x = _raw_luma(f, frames) - b
    alpha = x @ d / dd
    mixed = np.clip(alpha, 0.0, 1.0)[:, None] * d
    residual = np.sqrt(np.mean((x - mixed) ** 2, axis=1) / np.mean(d**2))
    return alpha, residual


def _mix_middle(f: Features, before: int, after: int) -> int:
    """The frame between ``before`` and ``after`` that is half one, half the other.

    A dissolve's mix weight of ``before`` (see :func:`_mix_fit`) falls from 1 to 0, and
    its middle is the first frame where it is below one half.
    """
    frames = np.arange(before + 1, after)
    fit = _mix_fit(f, before, after, frames) if len(frames) else None
    if fit is None:
        return (before + after + 1) // 2
    low = fit[0] < 0.5
    # the step from "mostly before" to "mostly after" that the fewest frames contradict
    # (motion inside either shot makes single frames' fits noisy)
    wrong = np.r_[0, np.cumsum(low)] + np.r_[np.cumsum((~low)[::-1])[::-1], 0]
    best = np.flatnonzero(wrong == wrong.min())
    return int(frames[0] + best[len(best) // 2])


def blend_residual(f: Features, before: int, after: int, middle: np.ndarray) -> float:
    """How badly the ``middle`` frames are explained as mixes of ``before`` and ``after``.

    Each middle frame's raw luma (half-size thumbnail) is fitted, by least squares, as
    ``a * before + (1 - a) * after`` with ``0 <= a <= 1``; the residual is measured
    relative to the difference between the two end pictures. A cross-dissolve is such a
    mix frame by frame (residual near 0, only the two shots' own motion adds to it);
    a camera whip, a push-in or something sweeping past the lens produces pictures that
    are no mix of the ends (residual ~0.5 and up). Returns the median over the middle.
    """
    fit = _mix_fit(f, before, after, np.asarray(middle)) if len(middle) else None
    return 1.0 if fit is None else float(np.median(fit[1]))


def shift_match(a: np.ndarray, b: np.ndarray, p: DetectorParams) -> tuple[np.ndarray, np.ndarray]:
    """How well pictures ``b`` match pictures ``a`` moved by a whole-frame shift.

    ``a``, ``b``: (n, H, W) normalised luma. Every shift of at least two pixels and at
    most ``whip_shift`` (in y at most a quarter of the height; the overlap keeps at
    least 40% of the width) is tried, and the overlapping parts are compared by
    correlation. Returns, per pair, the best correlation and its shift ``(dy, dx)``
    (``b[r - dy, c - dx]`` shows ``a[r, c]``).
    """
    n, h, w = a.shape
    mx, my = min(p.whip_shift, int(0.6 * w)), min(p.whip_shift, h // 4)
    dy, dx = (g.ravel() for g in np.mgrid[-my : my + 1, -mx : mx + 1])
    keep = np.maximum(np.abs(dy), np.abs(dx)) >= 2  # unmoved: the same view, no move
    r0, r1 = np.maximum(0, dy), h + np.minimum(0, dy)
    c0, c1 = np.maximum(0, dx), w + np.minimum(0, dx)
    keep &= c1 - c0 >= 0.4 * w
    dy, dx, r0, r1, c0, c1 = (x[keep] for x in (dy, dx, r0, r1, c0, c1))
    # sum over the overlap of a[r, c] * b[r - dy, c - dx], for every shift at once
    size = (2 * h, 2 * w)
    spectrum = np.fft.rfft2(a, size) * np.conj(np.fft.rfft2(b, size))
    sab = np.fft.irfft2(spectrum, size)[:, dy % (2 * h), dx % (2 * w)]

    def box(x: np.ndarray, top: np.ndarray, left: np.ndarray) -> np.ndarray:
        # sums of x over the overlap (its top-left corner per shift), via summed areas
        s = np.pad(x.astype(np.float64).cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
        bottom, right = top + (r1 - r0), left + (c1 - c0)
        return np.asarray(
            s[:, bottom, right] - s[:, top, right] - s[:, bottom, left] + s[:, top, left]
        )

    count = (r1 - r0) * (c1 - c0)
    sa, sb = box(a, r0, c0), box(b, r0 - dy, c0 - dx)
    saa, sbb = box(a * a, r0, c0), box(b * b, r0 - dy, c0 - dx)
    cov = sab - sa * sb / count
    var = np.maximum(saa - sa * sa / count, 0.0) * np.maximum(sbb - sb * sb / count, 0.0)
    corr = np.where(var > 1e-6, cov / np.sqrt(np.maximum(var, 1e-12)), -1.0)
    best = np.argmax(corr, axis=1)
    return corr[np.arange(n), best], np.stack([dy[best], dx[best]], axis=1)


def one_view_shifted(a: np.ndarray, b: np.ndarray, p: DetectorParams) -> bool:
    """True when picture ``b`` is picture ``a`` moved by a whole-frame shift.

    A motion-blurred whip pan is a temporal average of the view sweeping past, so its
    middle frames *are* mixes of its ends, like a dissolve's; what gives it away is that
    its end pictures show one scene, shifted by the pan: they correlate at
    ``whip_match`` or more for some shift (see `shift_match`). Two unrelated pictures
    (the ends of a dissolve) rarely correlate that well anywhere.
    """
    return bool(shift_match(a[None], b[None], p)[0][0] >= p.whip_match)


def _steady_move(f: Features, t: int, p: DetectorParams) -> bool:
    """True when step ``t`` is a whole-frame shift that the step before or after repeats.

    A fast pan or whip, or something large crossing right in front of the lens (a car
    at 3x zoom), shifts the picture by much more than the motion search reaches, so
    the step looks like a cut; but the picture at ``t`` is the one at ``t - 1`` moved
    (`shift_match` at ``whip_match``), and the move goes on: an adjacent step shows
    the same shift (within ``max_shift`` pixels each way), as a steady motion does.
    A cut is a one-off: even when the new picture happens to match a shifted old one,
    the steps around it do not move that way.
    """
    corr, shift = shift_match(f.z[t - 1 : t], f.z[t : t + 1], p)
    if corr[0] < p.whip_match:
        return False
    around = np.array([i for i in (t - 1, t + 1) if 1 <= i < len(f)])
    corr, shifts = shift_match(f.z[around - 1], f.z[around], p)
    same = np.abs(shifts - shift[0]).max(axis=1) <= p.max_shift
    return bool((same & (corr >= p.whip_match)).any())


def gradual(
    f: Features,
    cuts: list[Event],
    fade_found: list[tuple[Event | None, int, int]],
    motion: np.ndarray,
    p: DetectorParams,
) -> tuple[list[Event], np.ndarray]:
    """Dissolves and fades among the frames of ``f`` (local indices).

    ``fade_found`` is what `fades` found (fade events and the spans of black runs);
    ``motion``, per frame, the structure change from the previous frame.

    Also returns, per frame, the largest gradual contrast over the scales (0 where none
    was judged).
    """
    cut_frames = np.array([e.frame for e in cuts], dtype=np.int64)
    events = [e for e, _, _ in fade_found if e is not None]
    # a dark run that never goes black is no fade, but its change is no dissolve either
    dark_spans = [(start, end) for _, start, end in fade_found] + _dim_spans(f, p)
    found: list[tuple[int, int, int, float]] = []  # first, last centre, scale, score
    best = np.zeros(len(f))
    for h in p.gradual_scales:
        # A side that spans a hard cut stops at it (see `gradual_contrast`).
        g = gradual_contrast(f, h, cut_frames)
        best = np.fmax(best, np.nan_to_num(g, nan=0.0))
        for first, last in _runs(np.nan_to_num(g, nan=-1.0) >= p.gradual_threshold):
            lo, hi = first - h, last + h
            if cut_frames.size and ((cut_frames > lo) & (cut_frames <= hi)).any():
                continue  # a hard cut explains this change
            if any(a <= hi and b >= lo for a, b in dark_spans):
                continue  # part of a fade
            found.append((int(first), int(last), h, float(np.nanmax(g[first : last + 1]))))
    # Candidates whose spans overlap (other scales, or a run that dipped below the
    # threshold midway) are one transition; the widest scale that saw it gives the
    # pictures before and after it (its comparison frames lie outside the transition).
    groups: list[list[tuple[int, int, int, float]]] = []
    for cand in sorted(found, key=lambda x: x[0] - x[2]):
        if groups and cand[0] - cand[2] <= max(x[1] + x[2] for x in groups[-1]):
            groups[-1].append(cand)
        else:
            groups.append([cand])
    for group in groups:
        h = max(x[2] for x in group)
        first = min(x[0] for x in group if x[2] == h)
        last = max(x[1] for x in group if x[2] == h)
        peak = max(x[3] for x in group)
        if peak < p.gradual_confirm:
            continue  # a weak run: camera or subject motion more likely than a dissolve
        lo, hi = max(0, first - h), min(len(f) - 1, last + h)
        frame = _mix_middle(f, lo, hi)
        middle = np.arange(max(lo + 1, frame - 2), min(hi, frame + 3))
        if blend_residual(f, lo, hi, middle) > p.blend_max:
            continue  # the middle is no mix of the ends: motion, not a dissolve
        if one_view_shifted(f.z[lo], f.z[hi], p):
            continue  # the ends are one view, shifted: the camera moved (a whip pan)
        if any(
            motion[t] >= p.cut_min_structure and _blurred(f, t, float(motion[t]), p)
            for t in range(lo + 1, hi + 1)
        ):
            continue  # motion blur starts or stops inside: a whip, not a mix
        events.append(Event(frame, "dissolve", peak))
    return sorted(events, key=lambda e: e.frame), best


def decide(f: Features, score: np.ndarray, motion: np.ndarray, p: DetectorParams) -> list[Event]:
    """All shot changes among the frames of ``f`` (local indices), in frame order.

    ``score``/``motion``: per frame, the change from the previous frame (see `change_scores`).
    """
    return decide_traced(f, score, motion, p)[0]


def decide_traced(
    f: Features, score: np.ndarray, motion: np.ndarray, p: DetectorParams
) -> tuple[list[Event], dict[str, np.ndarray]]:
    """`decide`, plus the per-frame evidence behind each decision (see `cut_evidence`).

    The evidence adds ``gradual`` (the largest gradual-transition contrast over the
    scales, 0 where not judged) and ``dark`` (black frames).
    """
    found, evidence = hard_cuts(f, score, motion, p)
    fade_found = fades(f, p, np.array([c.frame for c in found], dtype=np.int64))
    # a fade's span also takes a cut right after its ramp (a fade-out, then a cut in)
    spans = [(start, end + (e is not None)) for e, start, end in fade_found]
    cuts = [c for c in found if not any(start <= c.frame <= end for start, end in spans)]
    events, contrast = gradual(f, cuts, fade_found, motion, p)
    evidence["gradual"] = contrast
    evidence["dark"] = is_black(f, p)
    return sorted(cuts + events, key=lambda e: e.frame), evidence
