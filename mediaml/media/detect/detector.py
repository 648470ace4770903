"""The streaming shot detector: push frames in, get shot changes out.

It keeps only a bounded window of per-frame features (a few hundred tiny frames), so its
memory does not grow with the video's length. Decisions for a frame are taken once
enough frames after it have arrived (`DetectorParams.context`), and each frame is decided
exactly once, so feeding a video in any batch sizes gives the same result.
"""

from __future__ import annotations

import numpy as np

from mediaml.media.detect.decide import Event, change_scores, decide_traced
from mediaml.media.detect.features import Features, extract
from mediaml.media.detect.params import DetectorParams

CHUNK = 512
"""Frames decided per pass once the window holds enough look-ahead.

Smaller passes overlap more of the deciding with FFmpeg's decoding (what is left when
the video ends is at most one pass) but redo the context around each pass more often;
512 leaves a short video's last pass at ~0.04 s for the same total work as 1024."""


class ShotDetector:
    """Incremental shot-boundary detector over tiny YUV frames.

    Example::

        detector = ShotDetector()
        for batch in batches:           # uint8 arrays (n, 3, 36, 64), planar YUV 4:4:4
            detector.push(batch)
        events = detector.finish()      # [Event(frame, kind, score), ...]
    """

    def __init__(self, params: DetectorParams | None = None, *, keep_scores: bool = False) -> None:
        """Create a detector.

        Args:
            params: thresholds and windows (the defaults need no tuning).
            keep_scores: also keep every frame's scores and decisions for `scores`
                (memory then grows with the video: about 100 bytes a frame).
        """
        self.params = params or DetectorParams()
        self.keep_scores = keep_scores
        self._trace: list[dict[str, np.ndarray]] = []
        self.context = self.params.context
        self.events: list[Event] = []
        self.frames_seen = 0
        self._parts: list[Features] = []  # the window, in batches (joined when deciding)
        self._scores: list[np.ndarray] = []
        self._motions: list[np.ndarray] = []
        self._size = 0
        self._base = 0  # global index of the window's first frame
        self._decided = 0  # frames before this are final
        self._finished = False

    def push(self, frames: np.ndarray) -> None:
        """Add the next frames: uint8 array (n, 3, H, W) of planar full-range YUV."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        if len(frames) == 0:
            return
        new = extract(frames)
        # Each frame is compared with the one before it; the very first with itself.
        before = new.take(slice(0, 1)) if not self._parts else self._parts[-1].take(slice(-1, None))
        prev = Features.concat([before, new.take(slice(0, -1))])
        score, motion = change_scores(prev, new, self.params.max_shift)
        self._parts.append(new)
        self._scores.append(score.astype(np.float32))
        self._motions.append(motion.astype(np.float32))
        self._size += len(new)
        self.frames_seen += len(frames)
        if self._size >= CHUNK + 2 * self.context:
            self._decide(at_end=False)

    def finish(self) -> list[Event]:
        """Decide the remaining frames; return every shot change, in frame order."""
        if not self._finished:
            self._finished = True
            if self._parts:
                self._decide(at_end=True)
        return list(self.events)

    def scores(self) -> dict[str, np.ndarray]:
        """Every decided frame's scores and decisions (needs ``keep_scores=True``).

        Keys (arrays, one entry per frame): ``frame``; ``score`` (change from the
        previous frame, 0..1), ``colour`` and ``structure`` (its two parts: colour
        histogram distance, motion-compensated structure distance); ``level`` (the busier
        side's usual change), ``neighbours`` (the larger adjacent step) and ``dominance``
        (score over that); ``candidate`` (passed the cut tests), ``by_structure_only``
        (a candidate on structure alone: a same-palette cut), ``edge`` (a burst of
        motion's first or last big step, see `decide.burst_edges`), ``flash`` (a candidate
        whose picture came back, or that ended a sweep past the lens: not a cut),
        ``still`` (unchanged blocks across a candidate step in a burst of motion, see
        `blocks.unchanged_blocks`); ``gradual`` (largest dissolve contrast over the
        scales); ``dark`` (black frame); ``luma`` and ``spread`` (mean and standard
        deviation of luma, 0..255); ``kind`` (``cut``/``dissolve``/``fade`` where a shot
        change is reported, else empty).
        """
        if not self.keep_scores:
            raise RuntimeError("ShotDetector(keep_scores=True) is needed for scores()")
        if not self._trace:
            return {}
        return {k: np.concatenate([t[k] for t in self._trace]) for k in self._trace[0]}

    def _decide(self, *, at_end: bool) -> None:
        window = Features.concat(self._parts)
        score, motion = np.concatenate(self._scores), np.concatenate(self._motions)
        total = self._base + len(window)
        hi = total if at_end else total - self.context
        events, evidence = decide_traced(window, score, motion, self.params)
        kinds = np.full(len(window), "", dtype=object)
        for event in events:
            frame = event.frame + self._base
            if self._decided <= frame < hi and (not self.events or frame > self.events[-1].frame):
                self.events.append(Event(frame, event.kind, event.score))
                kinds[event.frame] = event.kind
        if self.keep_scores:
            part = slice(self._decided - self._base, hi - self._base)
            trace = {"frame": np.arange(self._decided, hi), "score": score[part]}
            trace["structure"] = motion[part]
            trace |= {k: v[part] for k, v in evidence.items()}
            trace |= {"luma": window.mean[part], "spread": window.std[part]}
            trace["kind"] = kinds[part]
            self._trace.append(trace)
        self._decided = hi
        drop = max(0, hi - self.context - self._base)
        self._parts = [window.take(slice(drop, None))]
        self._scores, self._motions = [score[drop:]], [motion[drop:]]
        self._size = len(window) - drop
        self._base += drop
