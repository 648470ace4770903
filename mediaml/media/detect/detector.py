"""The streaming shot detector: push frames in, get shot changes out.

It keeps only a bounded window of per-frame features (a few hundred tiny frames), so its
memory does not grow with the video's length. Decisions for a frame are taken once
enough frames after it have arrived (`DetectorParams.context`), and each frame is decided
exactly once, so feeding a video in any batch sizes gives the same result.
"""

from __future__ import annotations

import numpy as np

from mediaml.media.detect.decide import Event, change_scores, decide
from mediaml.media.detect.features import Features, extract
from mediaml.media.detect.params import DetectorParams

CHUNK = 1024
"""Frames decided per pass once the window holds enough look-ahead."""


class ShotDetector:
    """Incremental shot-boundary detector over tiny YUV frames.

    Example::

        detector = ShotDetector()
        for batch in batches:           # uint8 arrays (n, 3, 36, 64), planar YUV 4:4:4
            detector.push(batch)
        events = detector.finish()      # [Event(frame, kind, score), ...]
    """

    def __init__(self, params: DetectorParams | None = None) -> None:
        self.params = params or DetectorParams()
        self.context = self.params.context
        self.events: list[Event] = []
        self.frames_seen = 0
        self._window: Features | None = None
        self._score = np.zeros(0, dtype=np.float32)
        self._motion = np.zeros(0, dtype=np.float32)
        self._base = 0  # global index of the window's first frame
        self._decided = 0  # frames before this are final
        self._finished = False

    def push(self, frames: np.ndarray) -> None:
        """Add the next frames: uint8 array (n, 3, H, W) of planar full-range YUV."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        if len(frames) == 0:
            return
        new = extract(frames, self.params.flat_spread)
        # Each frame is compared with the one before it; the very first with itself.
        before = (
            new.take(slice(0, 1)) if self._window is None else self._window.take(slice(-1, None))
        )
        prev = Features.concat([before, new.take(slice(0, -1))])
        score, motion = change_scores(prev, new, self.params.max_shift)
        self._window = new if self._window is None else Features.concat([self._window, new])
        self._score = np.concatenate([self._score, score.astype(np.float32)])
        self._motion = np.concatenate([self._motion, motion.astype(np.float32)])
        self.frames_seen += len(frames)
        if len(self._window) >= CHUNK + 2 * self.context:
            self._decide(at_end=False)

    def finish(self) -> list[Event]:
        """Decide the remaining frames; return every shot change, in frame order."""
        if not self._finished:
            self._finished = True
            if self._window is not None:
                self._decide(at_end=True)
        return list(self.events)

    def _decide(self, *, at_end: bool) -> None:
        assert self._window is not None
        total = self._base + len(self._window)
        hi = total if at_end else total - self.context
        for event in decide(self._window, self._score, self._motion, self.params):
            frame = event.frame + self._base
            if self._decided <= frame < hi and (not self.events or frame > self.events[-1].frame):
                self.events.append(Event(frame, event.kind, event.score))
        self._decided = hi
        drop = max(0, hi - self.context - self._base)
        if drop:
            self._window = self._window.take(slice(drop, None))
            self._score = self._score[drop:]
            self._motion = self._motion[drop:]
            self._base += drop
